/* POST /browser/scrape: for each selector, the matching elements' text, HTML,
 * attributes and boxes. */
#include "ops/nav.h"

#include <stdlib.h>
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

/* What job->opts.scrape_debug asks for, from the page as the scrape left
 * it, into debug: html (page.content()), cookies (page.cookies(): CDP's
 * cookies of the page's URL) and screenshot (Browserless' debug capture: a
 * full-page JPEG at quality 20, base64). On failure res holds the error. */
static int scrape_debug(pb_nav *nav, unsigned what, cJSON *debug, pb_op_result *res) {
  if (what & PB_SCRAPE_DEBUG_HTML) {
    cJSON *html = NULL;
    if (pb_nav_content(nav, &html, res)) return -1;
    cJSON_AddItemToObject(debug, "html", html);
  }
  if (what & PB_SCRAPE_DEBUG_COOKIES) {
    cJSON *got = NULL;
    int rc = pb_nav_call(nav, "Network.getCookies", NULL, &got);
    if (rc) return pb_op_fail_rc(res, rc, "reading the cookies");
    cJSON *cookies = cJSON_DetachItemFromObjectCaseSensitive(got, "cookies");
    cJSON_Delete(got);
    cJSON_AddItemToObject(debug, "cookies", cookies ? cookies : cJSON_CreateArray());
  }
  if (what & PB_SCRAPE_DEBUG_SCREENSHOT) {
    pb_screenshot_opts shot = {.type = "jpeg", .quality = 20, .full_page = 1, .cut_at_max = 1};
    char *b64 = NULL;
    if (pb_op_capture(nav, &shot, res, &b64)) return -1;
    cJSON_AddStringToObject(debug, "screenshot", b64 ? b64 : "");
    free(b64);
  }
  return 0;
}

/* elements[].timeout: up to that long for the selector to match something.
 * One that does not in time is scraped as it is (empty results, as a
 * selector that matches nothing); an invalid one is left for the scrape to
 * name. PB_ETIMEOUT only when the action's deadline ran out first. */
static int wait_elements(pb_nav *nav, pb_job *job, char *err, size_t errcap) {
  cJSON *waits = cJSON_CreateArray();
  for (int i = 0; i < job->opts.nscrape_selectors; i++) {
    if (job->opts.scrape_timeouts[i] <= 0) continue;
    cJSON *w = cJSON_CreateArray();
    cJSON_AddItemToArray(w, cJSON_CreateString(job->opts.scrape_selectors[i]));
    cJSON_AddItemToArray(w, cJSON_CreateNumber(job->opts.scrape_timeouts[i]));
    cJSON_AddItemToArray(waits, w);
  }
  if (cJSON_GetArraySize(waits) == 0) {
    cJSON_Delete(waits);
    return 0;
  }
  static const char wait_js[] =
      "async (waits) => { const t0 = Date.now();"
      " const has = s => { try { return !!document.querySelector(s); } catch (e) { return true; } "
      "};"
      " for (;;) { const left = waits.filter(([s, ms]) => !has(s) && Date.now() - t0 < ms);"
      "  if (!left.length) return true; await new Promise(r => setTimeout(r, 50)); } }";
  cJSON *args = cJSON_CreateArray(), *v = NULL;
  cJSON_AddItemToArray(args, waits);
  int rc = pb_nav_apply(nav, wait_js, args, &v, err, errcap);
  cJSON_Delete(args);
  cJSON_Delete(v);
  return rc == PB_EINVAL ? 0 : rc;
}

int pb_op_scrape(pb_job *job, pb_op_result *res) {
  cJSON *selectors = cJSON_CreateArray();
  for (int i = 0; i < job->opts.nscrape_selectors; i++)
    cJSON_AddItemToArray(selectors, cJSON_CreateString(job->opts.scrape_selectors[i]));
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) {
    cJSON_Delete(selectors);
    return -1;
  }
  char err[512];
  int rc = wait_elements(nav, job, err, sizeof(err));
  if (rc && rc != PB_ETIMEOUT) {
    cJSON_Delete(selectors);
    pb_nav_close(nav, res);
    return pb_op_fail_rc(res, rc, "waiting for elements");
  }
  cJSON *args = cJSON_CreateArray(), *out = NULL;
  cJSON_AddItemToArray(args, selectors);
  rc = pb_nav_apply(nav, scrape_js, args, &out, err, sizeof(err));
  cJSON_Delete(args);
  cJSON *debug = NULL;
  if (!rc && job->opts.scrape_debug && cJSON_IsArray(out)) {
    debug = cJSON_CreateObject();
    if (scrape_debug(nav, job->opts.scrape_debug, debug, res)) {
      cJSON_Delete(debug);
      cJSON_Delete(out);
      pb_nav_close(nav, res);
      return -1;
    }
  }
  pb_nav_close(nav, res);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_PAGE_ERROR, "scraping: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "scraping");
  const cJSON *bad = cJSON_GetObjectItemCaseSensitive(out, "invalid");
  if (cJSON_IsString(bad)) {
    pb_op_fail(res, PB_CODE_INVALID_SELECTOR, "'%s' is not a valid CSS selector", bad->valuestring);
    cJSON_Delete(out);
    cJSON_Delete(debug);
    return -1;
  }
  if (!debug) return pb_op_json(res, out);
  cJSON *env = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddItemToObject(env, "result", out);
  cJSON_AddItemToObject(env, "debug", debug);
  return pb_op_json_object(res, env);
}
