/* POST /browser/acquire: a dedicated browser for the account, driven over
 * CDP through the session proxy. Limits were checked by the HTTP layer. */
#include "ops/nav.h"
#include "sessions/recording.h"

#include <stdio.h>
#include <string.h>

int pb_op_acquire(pb_job *job, pb_op_result *res) {
  int64_t keep_alive =
      job->opts.keep_alive_ms >= 0 ? job->opts.keep_alive_ms : PB_KEEP_ALIVE_DEFAULT_MS;
  char id[PB_SESSION_ID_LEN + 1];
  int trace = job->opts.page.trace;
  const char *ctx = job->opts.context_id;
  int persist = ctx && job->opts.context_persist;
  if (ctx && pb_op_context_check(job, ctx, persist, res)) return -1;
  int64_t rec_quota = job->limits.recording_storage_mib << 20;
  if (job->opts.record &&
      pb_rec_store_used(job->env->recordings, job->account_id) + PB_RECORDING_MIN_ROOM > rec_quota)
    return pb_op_fail(res, PB_CODE_RECORDING_QUOTA_EXCEEDED,
                      "the account's recordings leave less than 1 MiB of their %lld MiB "
                      "(recordingStorageMiB); they are kept 24 hours",
                      (long long)job->limits.recording_storage_mib);
  int rc = pb_sessions_acquire_context(job->env->sessions, job->account_id, keep_alive,
                                       job->limits.max_concurrent_sessions, trace, ctx, persist,
                                       job->deadline_ms, id);
  if (ctx && rc == PB_ENOTFOUND)
    return pb_op_fail(res, PB_CODE_CONTEXT_NOT_FOUND, "no context %s for this account", ctx);
  if (ctx && rc == PB_EEXIST)
    return pb_op_fail(res, PB_CODE_CONTEXT_IN_USE,
                      "another session runs on context %s; release it first", ctx);
  if (rc == PB_ENOCREDIT)
    return pb_op_fail(res, PB_CODE_INSUFFICIENT_CREDITS,
                      "the account's credits cannot pay for one second of browser time; "
                      "add credits");
  if (rc == PB_EBUSY) {
    /* As the admission's refusal (core/admit.h): another acquisition, here
     * or on another node, took the last place since. */
    res->retry_after_s = 5;
    return pb_op_fail(res, PB_CODE_LIMIT_EXCEEDED,
                      "the account already has %d live sessions (its maximum)",
                      job->limits.max_concurrent_sessions);
  }
  if (rc == PB_ETIMEOUT)
    return pb_op_fail(res, PB_CODE_BROWSER_UNAVAILABLE, "no browser became free before the deadline");
  if (rc) return pb_op_fail_rc(res, rc, "acquiring a browser");
  if (job->opts.record) {
    /* From before any client connects to the session's end. */
    pb_session *s = pb_sessions_get(job->env->sessions, id, job->account_id);
    int rrc = s ? pb_session_record(s, (int64_t)job->opts.record_max_mib << 20, rec_quota)
                : PB_ENOTFOUND;
    pb_session_unref(s);
    if (rrc) {
      pb_sessions_release(job->env->sessions, id, job->account_id, "Released",
                          "its recording could not start");
      if (rrc == PB_ETOOBIG)
        return pb_op_fail(res, PB_CODE_RECORDING_QUOTA_EXCEEDED,
                          "the account's recordings leave less than 1 MiB of their %lld MiB "
                          "(recordingStorageMiB)",
                          (long long)job->limits.recording_storage_mib);
      return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE,
                        "the session's screen could not be recorded; retry");
    }
  }
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "sessionId", id);
  char ws[512];
  snprintf(ws, sizeof(ws), "%s/browser/sessions/%s/devtools/browser", job->ws_base, id);
  cJSON_AddStringToObject(out, "webSocketDebuggerUrl", ws);
  cJSON_AddNumberToObject(out, "keepAliveMs", (double)keep_alive);
  /* The trace is kept under the session's id once the session closes. */
  if (trace) cJSON_AddStringToObject(out, "traceId", id);
  if (job->opts.record) {
    /* ws_base is "ws://host": the page is at http://host. */
    char url[512];
    snprintf(url, sizeof(url), "http%s/browser/sessions/%s/recording",
             strncmp(job->ws_base, "ws", 2) ? job->ws_base : job->ws_base + 2, id);
    cJSON_AddStringToObject(out, "recordingUrl", url);
  }
  if (job->opts.live) {
    /* An interactive live view link for the default hour. */
    cJSON *link = NULL;
    if (pb_op_live_link(job, id, 1, 0, &link) == 0) {
      cJSON_AddStringToObject(out, "liveUrl", cJSON_GetObjectItemCaseSensitive(link, "url")->valuestring);
      cJSON_AddStringToObject(out, "liveId", cJSON_GetObjectItemCaseSensitive(link, "id")->valuestring);
    }
    cJSON_Delete(link);
  }
  if (ctx) {
    cJSON *c = cJSON_AddObjectToObject(out, "context");
    cJSON_AddStringToObject(c, "id", ctx);
    cJSON_AddBoolToObject(c, "persist", persist);
  }
  return pb_op_json(res, out);
}

/* DELETE /browser/sessions/{id}: answers once the session is gone. */
int pb_op_release(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.session_id;
  if (!id || pb_sessions_release(job->env->sessions, id, job->account_id, "Released",
                                 "released by the client"))
    return pb_op_fail(res, PB_CODE_SESSION_NOT_FOUND, "no live session with that id for this account");
  cJSON *out = cJSON_CreateObject();
  cJSON_AddStringToObject(out, "sessionId", id);
  cJSON_AddStringToObject(out, "status", "closed");
  return pb_op_json(res, out);
}
