/* POST /browser/links: the page's links as absolute http(s) URLs, each once,
 * in document order. */
#include "ops/nav.h"

static const char links_js[] =
    "(visibleOnly, excludeExternal) => { const seen = new Set(), out = [];"
    " for (const a of document.querySelectorAll('a[href], area[href]')) { const h = a.href;"
    "  if (!/^https?:/i.test(h) || seen.has(h)) continue;"
    "  if (excludeExternal && new URL(h).hostname !== location.hostname) continue;"
    "  if (visibleOnly) { const r = a.getBoundingClientRect(), s = getComputedStyle(a);"
    "   if (!r.width || !r.height || s.visibility === 'hidden' || s.display === 'none') continue; }"
    "  seen.add(h); out.push(h); }"
    " return out; }";

int pb_op_links(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *args = cJSON_CreateArray(), *out = NULL;
  cJSON_AddItemToArray(args, cJSON_CreateBool(job->opts.links_visible_only));
  cJSON_AddItemToArray(args, cJSON_CreateBool(job->opts.links_exclude_external));
  char err[512];
  int rc = pb_nav_apply(nav, links_js, args, &out, err, sizeof(err));
  cJSON_Delete(args);
  pb_nav_close(nav, res);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_PAGE_ERROR, "collecting links: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "collecting links");
  return pb_op_json(res, out);
}
