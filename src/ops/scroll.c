#include "ops/scroll.h"

#include "common/pb.h"

#include <stdio.h>
#include <string.h>

/* The page side: steps of one viewport with a pause, a wait at the bottom
 * for an infinite list to grow, the images that started loading, then the
 * top again. Only timers, no requestAnimationFrame: frames may not be
 * produced for a page nobody looks at. */
static const char scroll_js[] =
    "(async (maxH, budget, step) => {"
    " const t0 = performance.now(), left = () => budget - (performance.now() - t0);"
    " const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, Math.min(ms, left()))));"
    " const se = document.scrollingElement || document.documentElement;"
    " const height = () => Math.max(se ? se.scrollHeight : 0,"
    "   document.body ? document.body.scrollHeight : 0);"
    " const vh = Math.max(1, innerHeight);"
    " let y = 0, steps = 0, why = 'bottom';"
    " for (;;) {"
    "  if (left() <= 0) { why = 'time'; break; }"
    "  if (y + vh >= maxH) { why = 'cap'; break; }"
    "  if (y + vh >= height()) {"
    "   const h = height(); await sleep(step * 3);"
    "   if (height() <= h) break;"
    "  }"
    "  y = Math.min(y + vh, maxH - vh); scrollTo(0, y); steps++;"
    "  await sleep(step);"
    " }"
    " const pending = Array.from(document.images).filter((i) => !i.complete);"
    " if (pending.length && left() > 0) await Promise.race([sleep(left()),"
    "  Promise.all(pending.map((i) => new Promise((r) => {"
    "   i.addEventListener('load', r, {once: true}); i.addEventListener('error', r, {once: true});"
    "  })))]);"
    " scrollTo(0, 0);"
    " return {steps, why, height: height()};"
    "})(%d, %lld, %d)";

int pb_op_scroll_page(pb_nav *n, int *capped, pb_op_result *res) {
  int64_t now = pb_now_ms(), deadline = pb_nav_deadline(n);
  int64_t budget = (deadline - now) / 2;
  if (budget > PB_SCROLL_MAX_MS) budget = PB_SCROLL_MAX_MS;
  if (capped) *capped = 0;
  if (budget <= 0) {
    if (capped) *capped = 1;
    return 0;
  }
  char js[sizeof(scroll_js) + 64], err[512];
  snprintf(js, sizeof(js), scroll_js, PB_FULLPAGE_MAX_HEIGHT, (long long)budget, PB_SCROLL_STEP_MS);
  cJSON *v = NULL;
  int action = pb_nav_action_begin(n, "page.scrollPage", NULL);
  /* The page's own timers may run late; a second of slack, never past the
   * job's deadline (pb_nav_eval terminates the script then). */
  int64_t until = now + budget + 1000 < deadline ? now + budget + 1000 : deadline;
  int rc = pb_nav_eval(n, js, until, &v, err, sizeof(err));
  pb_nav_action_end(n, action, rc ? pb_strerror(rc) : NULL);
  if (rc == PB_EINVAL) {
    cJSON_Delete(v);
    /* The page broke its own scrolling (an exception in a scroll
     * handler): what it has is what the action gets. */
    PB_DEBUG("scroll: the page threw: %s", err);
    return 0;
  }
  if (rc) return pb_op_fail_rc(res, rc, "scrolling through the page");
  const char *why = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(v, "why"));
  PB_DEBUG("scroll: %s after %.0f steps, height %.0f", why ? why : "?",
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "steps")),
           cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "height")));
  if (capped) *capped = why && strcmp(why, "bottom");
  cJSON_Delete(v);
  return 0;
}
