/* GET /browser/sessions/{id}/downloads[/{did}]: a session's downloads, from
 * its live browser or, once it ended, from the store where its teardown
 * kept them (24 h). Either way only the account's own: another account's
 * session id is answered as one that does not exist. */
#include "common/pb.h"
#include "ops/ops.h"
#include "sessions/dlstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "SID/downloads" or "SID/downloads/DID" into its parts. */
static int parse(const char *param, char *sid, size_t scap, char *did, size_t dcap) {
  static const char mid[] = "/downloads";
  const char *slash = strchr(param, '/');
  if (!slash || (size_t)(slash - param) >= scap || strncmp(slash, mid, sizeof(mid) - 1)) return -1;
  memcpy(sid, param, (size_t)(slash - param));
  sid[slash - param] = '\0';
  const char *rest = slash + sizeof(mid) - 1;
  did[0] = '\0';
  if (!*rest) return 0;
  if (*rest != '/' || !rest[1] || strchr(rest + 1, '/') || strlen(rest + 1) >= dcap) return -1;
  pb_strlcpy(did, rest + 1, dcap);
  return 0;
}

/* The session's list: live, else kept. 1 when it was the live one. */
static int list_of(pb_job *job, const char *sid, pb_download **list, size_t *n, char *dir,
                   size_t cap, int *live) {
  *live = 0;
  pb_session *s = pb_sessions_get(job->env->sessions, sid, job->account_id);
  if (s) {
    int rc = pb_session_downloads(s, list, n, dir, cap);
    pb_session_unref(s);
    if (!rc) {
      *live = 1;
      return 0;
    }
  }
  return pb_dl_store_list(job->env->downloads, job->account_id, sid, list, n);
}

static int not_found(pb_op_result *res, const char *sid) {
  return pb_op_fail(res, PB_CODE_SESSION_NOT_FOUND,
                    "no session %s for this account (downloads are kept 24 hours after it ends)",
                    sid);
}

int pb_op_downloads(pb_job *job, pb_op_result *res) {
  char sid[80], did[80], dir[4096];
  if (!job->opts.id || parse(job->opts.id, sid, sizeof(sid), did, sizeof(did)) || did[0])
    return pb_op_fail(res, PB_CODE_NOT_FOUND, "no such route");
  pb_download *list = NULL;
  size_t n = 0;
  int live;
  if (list_of(job, sid, &list, &n, dir, sizeof(dir), &live)) return not_found(res, sid);
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) {
    const pb_download *d = &list[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", d->guid);
    cJSON_AddStringToObject(o, "suggestedFilename", d->name);
    cJSON_AddStringToObject(o, "url", d->url);
    cJSON_AddNumberToObject(o, "bytes", (double)d->received);
    if (d->total > 0) cJSON_AddNumberToObject(o, "totalBytes", (double)d->total);
    cJSON_AddStringToObject(o, "state", pb_download_state_text(d->state));
    if (d->over_cap) cJSON_AddBoolToObject(o, "overCap", 1);
    cJSON_AddStringToObject(o, "mime", pb_download_mime(d->name));
    cJSON_AddItemToArray(arr, o);
  }
  free(list);
  return pb_op_json(res, arr);
}

/* `attachment; filename="<ASCII>"; filename*=UTF-8''<percent-encoded>`:
 * the name is the page's, so nothing of it reaches the header raw. */
static void disposition(const char *name, char *out, size_t cap) {
  char ascii[256], enc[768];
  size_t a = 0, e = 0;
  for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
    int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                *p == '.' || *p == '-' || *p == '_';
    if (a + 1 < sizeof(ascii)) ascii[a++] = plain || *p == ' ' ? (char)*p : '_';
    if (plain && e + 1 < sizeof(enc))
      enc[e++] = (char)*p;
    else if (!plain && e + 3 < sizeof(enc))
      e += (size_t)snprintf(enc + e, 4, "%%%02X", *p);
  }
  ascii[a] = enc[e] = '\0';
  if (!a) pb_strlcpy(ascii, "download", sizeof(ascii));
  if (!e) pb_strlcpy(enc, "download", sizeof(enc));
  snprintf(out, cap, "attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
}

int pb_op_download(pb_job *job, pb_op_result *res) {
  char sid[80], did[80], dir[4096] = "";
  if (!job->opts.id || parse(job->opts.id, sid, sizeof(sid), did, sizeof(did)) || !did[0])
    return pb_op_fail(res, PB_CODE_NOT_FOUND, "no such route");
  pb_download *list = NULL;
  size_t n = 0;
  int live;
  if (list_of(job, sid, &list, &n, dir, sizeof(dir), &live)) return not_found(res, sid);
  const pb_download *d = NULL;
  for (size_t i = 0; i < n && !d; i++)
    if (!strcmp(list[i].guid, did)) d = &list[i];
  int rc = 0;
  if (!d) {
    rc = pb_op_fail(res, PB_CODE_DOWNLOAD_NOT_FOUND, "session %s has no download %s", sid, did);
  } else if (d->state != PB_DOWNLOAD_COMPLETED) {
    rc = pb_op_fail(res, PB_CODE_DOWNLOAD_NOT_READY, "download %s is %s%s", did,
                    pb_download_state_text(d->state),
                    d->over_cap ? " (over the size cap or the session's count of downloads)" : "");
  } else {
    char *data = NULL;
    size_t len = 0;
    int64_t cap = pb_session_download_max(job->env->sessions);
    int r =
        live ? pb_dl_read_live(dir, did, cap, &data, &len)
             : pb_dl_store_read(job->env->downloads, job->account_id, sid, did, cap, &data, &len);
    if (r == PB_ENOMEM)
      rc = pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    else if (r)
      rc = pb_op_fail(res, PB_CODE_DOWNLOAD_NOT_FOUND, "the file of download %s is gone", did);
    else {
      disposition(d->name, res->content_disposition, sizeof(res->content_disposition));
      pb_op_bytes(res, data, len, pb_download_mime(d->name));
    }
  }
  free(list);
  return rc;
}
