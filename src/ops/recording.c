/* GET /browser/sessions/{id}/recording[/index|/frames/{n}]: a session's
 * recording, live or kept 24 h after it ended (sessions/recording.h): the
 * replay page (recording.html, embedded), the index it plays from, one
 * frame, or with ?format=zip the whole recording. Only the account's own:
 * another account's session is answered as one without a recording. */
#include "sessions/recording.h"
#include "common/pb.h"
#include "ops/ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char pb_recording_html[];
extern const unsigned long pb_recording_html_len;

typedef enum { PART_PAGE, PART_INDEX, PART_FRAME } part;

/* "SID/recording", "SID/recording/index" or "SID/recording/frames/N" into
 * its parts; -1 for anything else. */
static int parse(const char *param, char *sid, size_t scap, part *what, long *n) {
  static const char mid[] = "/recording";
  const char *slash = param ? strchr(param, '/') : NULL;
  if (!slash || (size_t)(slash - param) >= scap || strncmp(slash, mid, sizeof(mid) - 1)) return -1;
  memcpy(sid, param, (size_t)(slash - param));
  sid[slash - param] = '\0';
  const char *rest = slash + sizeof(mid) - 1;
  if (!*rest || !strcmp(rest, "/")) {
    *what = PART_PAGE;
    return 0;
  }
  if (!strcmp(rest, "/index")) {
    *what = PART_INDEX;
    return 0;
  }
  static const char fr[] = "/frames/";
  if (strncmp(rest, fr, sizeof(fr) - 1)) return -1;
  const char *num = rest + sizeof(fr) - 1;
  /* Digits only: no sign, no spaces, no path; at most 9 of them. */
  size_t len = strlen(num);
  if (!len || len > 9 || strspn(num, "0123456789") != len) return -1;
  *n = strtol(num, NULL, 10);
  *what = PART_FRAME;
  return 0;
}

static int not_found(pb_op_result *res, const char *sid) {
  return pb_op_fail(res, PB_CODE_RECORDING_NOT_FOUND,
                    "no recording of session %s for this account (acquire with \"record\": true; "
                    "recordings are kept 24 hours after the session ends)",
                    sid);
}

int pb_op_recording(pb_job *job, pb_op_result *res) {
  char sid[80];
  part what;
  long n = 0;
  if (parse(job->opts.id, sid, sizeof(sid), &what, &n))
    return pb_op_fail(res, PB_CODE_NOT_FOUND, "no such route");
  pb_rec_store *st = job->env->recordings;
  if (what == PART_FRAME) {
    char *jpeg = NULL;
    size_t len = 0;
    int rc = pb_rec_frame(st, job->account_id, sid, n, &jpeg, &len);
    if (rc == PB_EINVAL)
      return pb_op_fail(res, PB_CODE_RECORDING_NOT_FOUND,
                        "the recording of session %s has no frame %ld (see its index)", sid, n);
    if (rc == PB_ENOMEM)
      return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    if (rc) return not_found(res, sid);
    return pb_op_bytes(res, jpeg, len, "image/jpeg");
  }
  if (what == PART_PAGE && job->format_zip) {
    char *zip = NULL;
    size_t len = 0;
    int rc = pb_rec_zip(st, job->account_id, sid, &zip, &len);
    if (rc == PB_ENOMEM)
      return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    if (rc == PB_EIO)
      return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "the recording of %s could not be read", sid);
    if (rc) return not_found(res, sid);
    snprintf(res->content_disposition, sizeof(res->content_disposition),
             "attachment; filename=\"recording-%s.zip\"", sid);
    return pb_op_bytes(res, zip, len, "application/zip");
  }
  cJSON *idx = NULL;
  int rc = pb_rec_index(st, job->account_id, sid, &idx);
  if (rc == PB_ENOMEM)
    return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
  if (rc) return not_found(res, sid);
  if (what == PART_INDEX) return pb_op_json(res, idx);
  cJSON_Delete(idx);
  /* The page fetches its index and frames itself, relative to its URL. */
  char *body = malloc(pb_recording_html_len + 1);
  if (!body) return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
  memcpy(body, pb_recording_html, pb_recording_html_len + 1);
  return pb_op_bytes(res, body, pb_recording_html_len, "text/html; charset=utf-8");
}
