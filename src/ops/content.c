/* POST /browser/content: the page's HTML after its scripts ran. */
#include "ops/nav.h"

int pb_op_content(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *html = NULL;
  int rc = pb_nav_content(nav, &html, res);
  pb_nav_close(nav, res);
  return rc ? -1 : pb_op_json(res, html);
}
