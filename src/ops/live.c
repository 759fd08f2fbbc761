/* POST /browser/sessions/{id}/live: a live view link to one of the
 * account's sessions (sessions/livelinks.h); acquire's "live" makes one
 * too. The capability is in the URL's path; it is shown here once and
 * never logged. */
#include "ops/nav.h"
#include "sessions/livelinks.h"
#include "sessions/screencast.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void iso(int64_t wall_ms, char *out, size_t cap) {
  time_t t = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

int pb_op_live_link(pb_job *job, const char *session_id, int interactive, int64_t ttl_ms,
                    cJSON **out) {
  *out = NULL;
  pb_live_mode mode = interactive ? PB_LIVE_INTERACTIVE : PB_LIVE_VIEW;
  char token[PB_LIVE_TOKEN_LEN + 1];
  pb_live_link l;
  int rc = pb_live_mint(session_id, job->account_id, mode, ttl_ms, token, &l);
  if (rc) return rc;
  /* job->ws_base is "ws://host" as the client reached us. */
  const char *host = strstr(job->ws_base, "://");
  char url[512], when[64];
  snprintf(url, sizeof(url), "http://%s/live/%s", host ? host + 3 : "127.0.0.1", token);
  iso(l.expires_wall_ms, when, sizeof(when));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", l.id);
  cJSON_AddStringToObject(o, "url", url);
  cJSON_AddStringToObject(o, "mode", mode == PB_LIVE_VIEW ? "view" : "interactive");
  cJSON_AddStringToObject(o, "expiresAt", when);
  *out = o;
  return 0;
}

int pb_op_live_session_check(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.session_id;
  pb_session *s = id ? pb_sessions_get(job->env->sessions, id, job->account_id) : NULL;
  if (!s)
    return pb_op_fail(res, PB_CODE_SESSION_NOT_FOUND, "no live session %s for this account",
                      id ? id : "");
  int has_view = pb_session_screencast(s) != NULL;
  pb_session_unref(s);
  if (!has_view)
    return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "this session has no live view");
  return 0;
}

int pb_op_live_create(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.session_id;
  if (pb_op_live_session_check(job, res)) return -1;
  int interactive = !job->opts.live_mode || strcmp(job->opts.live_mode, "view");
  cJSON *o = NULL;
  int rc = pb_op_live_link(job, id, interactive, job->opts.live_ttl_ms, &o);
  if (rc == PB_EBUSY) return pb_op_fail(res, PB_CODE_BUSY, "too many live view links; retry later");
  if (rc) return pb_op_fail_rc(res, rc, "making a live view link");
  return pb_op_json(res, o);
}
