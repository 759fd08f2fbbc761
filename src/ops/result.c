/* The answer of an operation: a success body (JSON envelope or raw bytes)
 * or an error code with its message. The HTTP layer turns an error into a
 * status and an {"errors":[...]} body (http/errors.c). */
#include "common/pb.h"
#include "ops/ops.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pb_op_fail(pb_op_result *res, pb_code code, const char *fmt, ...) {
  res->err = code ? code : PB_CODE_INTERNAL_ERROR;
  res->status = 0; /* the HTTP layer's table says which */
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(res->message, sizeof(res->message), fmt, ap);
  va_end(ap);
  free(res->body);
  res->body = NULL;
  res->body_len = 0;
  return -1;
}

int pb_op_fail_rc(pb_op_result *res, int rc, const char *what) {
  switch (rc) {
    case PB_ETIMEOUT:
      return pb_op_fail(res, PB_CODE_TIMEOUT, "%s: timed out", what);
    case PB_ECRASHED:
      return pb_op_fail(res, PB_CODE_BROWSER_CRASHED, "%s: the browser crashed; try again", what);
    case PB_ETARGET:
      return pb_op_fail(res, PB_CODE_PAGE_CRASHED, "%s: the page crashed or was closed", what);
    case PB_ECANCELED:
      return pb_op_fail(res, PB_CODE_CLIENT_CLOSED, "%s: the client went away", what);
    case PB_ESHUTDOWN:
      return pb_op_fail(res, PB_CODE_SHUTTING_DOWN, "%s: the service is shutting down", what);
    default:
      return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "%s: %s", what, pb_strerror(rc));
  }
}

void pb_op_result_free(pb_op_result *res) {
  if (!res) return;
  free(res->body);
  res->body = NULL;
}

int pb_op_json(pb_op_result *res, cJSON *result) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 1);
  cJSON_AddItemToObject(o, "result", result ? result : cJSON_CreateNull());
  free(res->body);
  res->body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!res->body) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  res->body_len = strlen(res->body);
  res->content_type = "application/json";
  res->status = 200;
  return 0;
}

int pb_op_json_object(pb_op_result *res, cJSON *envelope) {
  free(res->body);
  res->body = envelope ? cJSON_PrintUnformatted(envelope) : NULL;
  cJSON_Delete(envelope);
  if (!res->body) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  res->body_len = strlen(res->body);
  res->content_type = "application/json";
  res->status = 200;
  return 0;
}

int pb_op_bytes(pb_op_result *res, char *body, size_t len, const char *content_type) {
  free(res->body);
  res->body = body;
  res->body_len = len;
  if (content_type) res->content_type = content_type;
  res->status = 200;
  return 0;
}
