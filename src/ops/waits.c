/* waitForFunction and waitForEvent: waits run in the page after it loaded,
 * each bounded by its own timeout and the job's deadline. What runs in the
 * page is the tenant's own code in the tenant's own page; what bounds it is
 * here: pb_nav_eval stops script still running at the deadline
 * (Runtime.evaluate's timeout, then Runtime.terminateExecution), and only a
 * boolean ever comes back, whatever the function returns. */
#include "common/pb.h"
#include "ops/nav.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The page's hidden record of waitForEvent's event (not enumerable, not
 * writable: the page cannot lose it by accident). */
#define EVENT_KEY "__ppodWaitForEvent"

/* A JSON string literal of s (caller frees), or NULL. */
static char *js_string(const char *s) {
  cJSON *v = cJSON_CreateString(s);
  char *lit = v ? cJSON_PrintUnformatted(v) : NULL;
  cJSON_Delete(v);
  return lit;
}

/* Evaluates js until deadline; a navigation that destroys the context the
 * wait runs in starts it again in the new document. */
static int eval_wait(pb_nav *n, const char *js, int64_t deadline, cJSON **v, char *err,
                     size_t errcap) {
  for (;;) {
    int rc = pb_nav_eval(n, js, deadline, v, err, errcap);
    int gone = (rc == PB_ECDP || rc == PB_EINVAL) &&
               (strstr(err, "context") || strstr(err, "navigated") || strstr(err, "destroyed"));
    if (!gone || pb_now_ms() >= deadline) return rc;
    cJSON_Delete(*v);
    *v = NULL;
    /* A page that keeps navigating is not polled in a tight loop. */
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int pb_nav_event_listen(pb_nav *n, const char *event, pb_op_result *res) {
  char *name = js_string(event);
  if (!name) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  pb_buf js;
  pb_buf_init(&js, 1 << 16);
  /* A capturing listener on the window sees the event whether it is fired
   * at the window, the document or any node, bubbling or not. */
  int rc = pb_buf_printf(
      &js,
      "(() => { const name = %s; let fired = false; const wakes = [];"
      " window.addEventListener(name, () => { fired = true; wakes.splice(0).forEach(w => w()); },"
      " true);"
      " Object.defineProperty(window, '" EVENT_KEY
      "', {value: ms => fired ? Promise.resolve(true)"
      " : new Promise(r => { wakes.push(() => r(true)); if (ms > 0) setTimeout(() => r(false), ms);"
      " })}); })()",
      name);
  free(name);
  if (rc) {
    pb_buf_free(&js);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  }
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "source", js.data);
  pb_buf_free(&js);
  rc = pb_nav_call(n, "Page.addScriptToEvaluateOnNewDocument", p, NULL);
  if (rc) return pb_op_fail_rc(res, rc, "listening for waitForEvent");
  return 0;
}

int pb_nav_wait_event(pb_nav *n, pb_op_result *res) {
  const pb_wait_event_opts *o = &pb_nav_job(n)->opts.page.wait_event;
  char *name = js_string(o->event);
  if (!name) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  pb_buf js;
  pb_buf_init(&js, 1 << 16);
  /* Without the record (JavaScript was off when the document started, or
   * the page replaced window's property), listen from now. */
  int rc =
      pb_buf_printf(&js,
                    "(window['" EVENT_KEY "'] ? window['" EVENT_KEY
                    "'](%d) :"
                    " new Promise(r => { window.addEventListener(%s, () => r(true),"
                    " {capture: true, once: true}); if (%d > 0) setTimeout(() => r(false), %d);"
                    " }))",
                    o->timeout_ms, name, o->timeout_ms, o->timeout_ms);
  free(name);
  int64_t deadline = pb_deadline_wait(o->timeout_ms, pb_now_ms(), pb_nav_job(n)->deadline_ms);
  cJSON *v = NULL;
  char err[512] = "";
  int action = pb_nav_action_begin(n, "page.waitForEvent", NULL);
  if (!rc) rc = eval_wait(n, js.data, deadline, &v, err, sizeof(err));
  pb_nav_action_end(n, action, rc ? pb_strerror(rc) : NULL);
  pb_buf_free(&js);
  int fired = cJSON_IsTrue(v);
  cJSON_Delete(v);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_PAGE_ERROR, "waitForEvent: %s", err);
  if (rc && rc != PB_ETIMEOUT) return pb_op_fail_rc(res, rc, "waitForEvent");
  if (rc || !fired) {
    pb_op_fail(res, PB_CODE_TIMEOUT, "waitForEvent: '%.200s' was not fired within %d ms", o->event,
               o->timeout_ms > 0 ? o->timeout_ms : pb_nav_job(n)->opts.timeout_ms);
    return 1;
  }
  return 0;
}

int pb_nav_wait_function(pb_nav *n, pb_op_result *res) {
  const pb_wait_function_opts *o = &pb_nav_job(n)->opts.page.wait_function;
  const char *mode = o->polling_mutation ? "mutation" : o->polling_raf ? "raf" : "interval";
  pb_buf js;
  pb_buf_init(&js, (size_t)4 << 20);
  /* fn is a function (called) or an expression (evaluated) at each poll,
   * as Puppeteer's waitForFunction takes either. The line break keeps a
   * trailing // comment in fn from eating the parenthesis. Between polls:
   * a frame (or 100 ms when no frame comes), a DOM mutation (or 1 s), or
   * the interval. */
  int rc = pb_buf_printf(
      &js,
      "(async (timeout, mode, every) => {"
      " const pred = () => { const v = (%s\n); return typeof v === 'function' ? v() : v; };"
      " const end = timeout > 0 ? Date.now() + timeout : Infinity;"
      " const tick = () => new Promise(r => { let o = null, done = false;"
      "  const go = () => { if (done) return; done = true; if (o) o.disconnect(); r(); };"
      "  if (mode === 'raf') requestAnimationFrame(go);"
      "  if (mode === 'mutation') { o = new MutationObserver(go); o.observe(document,"
      "   {childList: true, subtree: true, attributes: true, characterData: true}); }"
      "  const cap = mode === 'interval' ? every : mode === 'raf' ? 100 : 1000;"
      "  setTimeout(go, Math.max(0, Math.min(cap, end - Date.now()))); });"
      " for (;;) { if (await pred()) return true; if (Date.now() >= end) return false;"
      "  await tick(); } })(%d, '%s', %d)",
      o->fn, o->timeout_ms, mode, o->polling_ms);
  int64_t deadline = pb_deadline_wait(o->timeout_ms, pb_now_ms(), pb_nav_job(n)->deadline_ms);
  cJSON *v = NULL;
  char err[512] = "";
  int action = pb_nav_action_begin(n, "page.waitForFunction", NULL);
  if (!rc) rc = eval_wait(n, js.data, deadline, &v, err, sizeof(err));
  pb_nav_action_end(n, action, rc ? (rc == PB_EINVAL ? err : pb_strerror(rc)) : NULL);
  pb_buf_free(&js);
  int truthy = cJSON_IsTrue(v);
  cJSON_Delete(v);
  if (rc == PB_ETOOBIG)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "waitForFunction.fn: too long");
  if (rc == PB_EINVAL)
    return pb_op_fail(res, PB_CODE_PAGE_ERROR, "waitForFunction.fn threw: %s", err);
  if (rc && rc != PB_ETIMEOUT) return pb_op_fail_rc(res, rc, "waitForFunction");
  if (rc || !truthy) {
    pb_op_fail(res, PB_CODE_TIMEOUT, "waitForFunction: fn was not truthy within %d ms",
               o->timeout_ms > 0 ? o->timeout_ms : pb_nav_job(n)->opts.timeout_ms);
    return 1;
  }
  return 0;
}
