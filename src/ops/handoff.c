/* POST /browser/sessions/{id}/handoff: hands one of the account's sessions
 * to a person (sessions/handoff.h). It makes an interactive live view link
 * good for the handoff's timeout and marks the session as waiting; the
 * person's "Done" on the live page (http/live.c), the agent's DELETE or the
 * timeout end it (http/handoff.c). The capability is in the answer's url,
 * shown here once and never logged. */
#include "sessions/handoff.h"
#include "common/json.h"
#include "ops/nav.h"
#include "sessions/livelinks.h"
#include "sessions/screencast.h"

#include <string.h>

int pb_op_handoff_start(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.session_id;
  if (pb_op_live_session_check(job, res)) return -1;
  int64_t timeout = job->opts.handoff_timeout_ms;
  if (timeout <= 0) timeout = PB_HANDOFF_TIMEOUT_DEFAULT_MS;
  if (timeout > PB_HANDOFF_TIMEOUT_MAX_MS) timeout = PB_HANDOFF_TIMEOUT_MAX_MS;
  pb_handoff cur;
  if (!pb_handoff_get(id, job->account_id, &cur) && cur.state == PB_HANDOFF_WAITING)
    return pb_op_fail(res, PB_CODE_HANDOFF_PENDING,
                      "handoff %s of this session waits for a person; end it first (DELETE "
                      "/browser/sessions/%s/handoff)",
                      cur.id, id);
  cJSON *o = NULL;
  int rc = pb_op_live_link(job, id, 1, timeout, &o);
  if (rc == PB_EBUSY) return pb_op_fail(res, PB_CODE_BUSY, "too many live view links; retry later");
  if (rc) return pb_op_fail_rc(res, rc, "making a live view link");
  const char *link_id = pb_json_str(o, "id");
  pb_handoff h;
  rc = pb_handoff_start(id, job->account_id, job->opts.handoff_message, timeout,
                        link_id ? link_id : "", &h);
  if (rc) {
    pb_live_revoke(id, job->account_id, link_id ? link_id : "");
    cJSON_Delete(o);
    if (rc == PB_EEXIST)
      return pb_op_fail(res, PB_CODE_HANDOFF_PENDING,
                        "handoff %s of this session waits for a person; end it first", h.id);
    if (rc == PB_EBUSY) return pb_op_fail(res, PB_CODE_BUSY, "too many handoffs; retry later");
    return pb_op_fail_rc(res, rc, "starting a handoff");
  }
  cJSON_DeleteItemFromObjectCaseSensitive(o, "mode");
  cJSON *linkid = cJSON_DetachItemFromObjectCaseSensitive(o, "id");
  cJSON_AddItemToObject(o, "linkId", linkid);
  cJSON_AddStringToObject(o, "handoffId", h.id);
  cJSON_AddStringToObject(o, "state", "waiting");
  cJSON_AddStringToObject(o, "message", h.message);
  cJSON_AddNumberToObject(o, "timeout", (double)timeout);
  return pb_op_json(res, o);
}
