/* POST /browser/content: the page's HTML after its scripts ran. */
#include "ops/nav.h"

static const char serialize_js[] =
    "() => (document.doctype ? new XMLSerializer().serializeToString(document.doctype) : '') +"
    " (document.documentElement ? document.documentElement.outerHTML : '')";

int pb_op_content(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *args = cJSON_CreateArray(), *html = NULL;
  char err[512];
  int rc = pb_nav_apply(nav, serialize_js, args, &html, err, sizeof(err));
  cJSON_Delete(args);
  pb_nav_close(nav, res);
  if (rc == PB_EINVAL) return pb_op_fail(res, 422, "PAGE_ERROR", "serializing the page: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "serializing the page");
  return pb_op_json(res, html);
}
