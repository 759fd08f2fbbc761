/* POST /browser/snapshot: the rendered HTML and a screenshot from one page
 * load. */
#include "ops/nav.h"

#include <stdlib.h>

static const char serialize_js[] =
    "() => (document.doctype ? new XMLSerializer().serializeToString(document.doctype) : '') +"
    " (document.documentElement ? document.documentElement.outerHTML : '')";

int pb_op_snapshot(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *args = cJSON_CreateArray(), *html = NULL;
  char err[512];
  int rc = pb_nav_apply(nav, serialize_js, args, &html, err, sizeof(err));
  cJSON_Delete(args);
  if (rc) {
    pb_nav_close(nav, res);
    if (rc == PB_EINVAL) return pb_op_fail(res, 422, "PAGE_ERROR", "serializing the page: %s", err);
    return pb_op_fail_rc(res, rc, "serializing the page");
  }
  char *b64 = NULL;
  if (pb_op_capture(nav, job->req, res, &b64)) {
    cJSON_Delete(html);
    pb_nav_close(nav, res);
    return -1;
  }
  pb_nav_close(nav, res);
  cJSON *out = cJSON_CreateObject();
  cJSON_AddItemToObject(out, "content", html);
  cJSON_AddStringToObject(out, "screenshot", b64);
  free(b64);
  return pb_op_json(res, out);
}
