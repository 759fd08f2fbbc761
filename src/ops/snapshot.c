/* POST /browser/snapshot: the rendered HTML and a screenshot from one page
 * load. */
#include "ops/nav.h"

#include <stdlib.h>

int pb_op_snapshot(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_op_viewport_check(&job->opts.page.viewport, res)) return -1;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *html = NULL;
  char *b64 = NULL;
  if (pb_nav_content(nav, &html, res) || pb_op_capture(nav, &job->opts.shot, res, &b64)) {
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
