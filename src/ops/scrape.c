/* POST /browser/scrape: for each selector, the matching elements' text, HTML,
 * attributes and boxes. */
#include "ops/nav.h"

#include <string.h>

/* Returns [{selector, results:[...]}], or {invalid: selector} for the first
 * selector the page cannot parse. */
static const char scrape_js[] =
    "(selectors) => { const out = [];"
    " for (const selector of selectors) { let els;"
    "  try { els = document.querySelectorAll(selector); } catch (e) { return {invalid: selector}; }"
    "  out.push({selector, results: Array.from(els, el => { const r = el.getBoundingClientRect();"
    "   return {text: el.innerText ?? el.textContent ?? '', html: el.innerHTML,"
    "     attributes: Array.from(el.attributes, a => ({name: a.name, value: a.value})),"
    "     top: r.top + scrollY, left: r.left + scrollX, width: r.width, height: r.height}; })}); }"
    " return out; }";

int pb_op_scrape(pb_job *job, pb_op_result *res) {
  cJSON *selectors = cJSON_CreateArray();
  for (int i = 0; i < job->opts.nscrape_selectors; i++)
    cJSON_AddItemToArray(selectors, cJSON_CreateString(job->opts.scrape_selectors[i]));
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) {
    cJSON_Delete(selectors);
    return -1;
  }
  cJSON *args = cJSON_CreateArray(), *out = NULL;
  cJSON_AddItemToArray(args, selectors);
  char err[512];
  int rc = pb_nav_apply(nav, scrape_js, args, &out, err, sizeof(err));
  cJSON_Delete(args);
  pb_nav_close(nav, res);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_PAGE_ERROR, "scraping: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "scraping");
  const cJSON *bad = cJSON_GetObjectItemCaseSensitive(out, "invalid");
  if (cJSON_IsString(bad)) {
    pb_op_fail(res, PB_CODE_INVALID_SELECTOR, "'%s' is not a valid CSS selector", bad->valuestring);
    cJSON_Delete(out);
    return -1;
  }
  return pb_op_json(res, out);
}
