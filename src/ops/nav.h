#ifndef PB_OPS_NAV_H
#define PB_OPS_NAV_H
/* The shared navigation and wait path of every quick action: lease a warm
 * page, apply the request's options, navigate (url or html), wait as asked,
 * and give the page back. */
#include "common/pb.h"
#include "ops/ops.h"

typedef struct pb_nav pb_nav;

/* Leases a page and loads what job->opts.page names (url | html, viewport,
 * gotoOptions, waitForSelector, waitForTimeout, userAgent,
 * setExtraHTTPHeaders, cookies, rejectResourceTypes...), within the
 * deadlines of ops/options.h. On failure res holds the error and *out is
 * NULL. */
int pb_nav_open(pb_job *job, pb_op_result *res, pb_nav **out);

/* With job->opts.page.dom_fallback set: when waitUntil did not happen
 * before the navigation deadline but DOMContentLoaded did, the load goes
 * on with the DOM as it is, and this returns how long the wait was (ms);
 * 0 when the wait was met. */
long long pb_nav_dom_only(const pb_nav *n);

/* The job n serves, borrowed. */
pb_job *pb_nav_job(pb_nav *n);

/* ---- ops/waits.c: waits a request may ask for after the load ----------- */

/* Before the navigation: records whether the DOM event `event` is fired on
 * the window or any node of each new document (a capturing listener added
 * by Page.addScriptToEvaluateOnNewDocument). -1 with res failed. */
int pb_nav_event_listen(pb_nav *n, const char *event, pb_op_result *res);

/* waitForEvent: until the event was fired (since the document started), its
 * timeout or the job's deadline. 0 when it was, 1 with res failed as
 * TIMEOUT when it was not in time (the caller may carry on: bestAttempt),
 * -1 with res failed otherwise. */
int pb_nav_wait_event(pb_nav *n, pb_op_result *res);

/* waitForFunction: polls fn in the page ("raf", "mutation" or every N ms)
 * until it gives a truthy value; a function is called, an expression is
 * evaluated. Returns as pb_nav_wait_event; fn that throws is PAGE_ERROR;
 * fn that never yields (while(1){}) is terminated at the deadline. */
int pb_nav_wait_function(pb_nav *n, pb_op_result *res);

/* The leased page, borrowed until pb_nav_close(). */
pb_page *pb_nav_page(pb_nav *n);

/* What the egress proxy recorded about url's host:port for page pg's browser
 * since since_ms (pb_now_ms clock): a pb_egress_why, the proxy's words in
 * text. For a navigation Chromium reported as a failed tunnel or an empty
 * response. Never resolves or connects. */
int pb_nav_egress_why(const pb_ops_env *env, const pb_page *pg, const char *url, int64_t since_ms,
                      char *text, size_t cap);

/* Deadline for work after the page loaded. */
int64_t pb_nav_deadline(pb_nav *n);

/* Calls a CDP method on the page's session until the job's deadline; takes
 * params. See pb_cdp_call() for errors. */
int pb_nav_call(pb_nav *n, const char *method, cJSON *params, cJSON **result);

/* No white behind the page (omitBackground of page.screenshot and
 * page.pdf): a transparent default background. pb_nav_call's errors. */
int pb_nav_clear_background(pb_nav *n);

/* Like pb_nav_call until deadline_ms instead of the action deadline; for
 * PB_ECDP err gets Chromium's message (err may be NULL). */
int pb_nav_call_until(pb_nav *n, const char *method, cJSON *params, int64_t deadline_ms,
                      cJSON **result, char *err, size_t errcap);

/* Evaluates an expression in the page (returnByValue, awaitPromise) until
 * deadline_ms. On success *value is the result's value (owned by the
 * caller; may be NULL for undefined). A page exception is PB_EINVAL with
 * its text in err. Script still running at the deadline is terminated
 * (Runtime.evaluate's timeout, then Runtime.terminateExecution), so the
 * page stays usable, and the answer is PB_ETIMEOUT; Chromium's answer is
 * awaited up to PB_NAV_EVAL_GRACE_MS past the deadline, never past the
 * job's. */
int pb_nav_eval(pb_nav *n, const char *expression, int64_t deadline_ms, cJSON **value, char *err,
                size_t errcap);
#define PB_NAV_EVAL_GRACE_MS 500

/* The page's HTML after its scripts ran (doctype + documentElement), as
 * page.content() gives it. On failure res holds the error. */
int pb_nav_content(pb_nav *n, cJSON **html, pb_op_result *res);

/* Captures the loaded page as opts ask (screenshotOptions and selector);
 * *b64 is the image in base64 (caller frees) and res->content_type is set.
 * Shared by screenshot, snapshot and the test runner. */
int pb_op_capture(pb_nav *nav, const pb_screenshot_opts *opts, pb_op_result *res, char **b64);

/* Evaluates a JavaScript function expression applied to args (a JSON array,
 * borrowed) until the action deadline; see pb_nav_eval(). */
int pb_nav_apply(pb_nav *n, const char *function, const cJSON *args, cJSON **value, char *err,
                 size_t errcap);

/* Marks an action in the job's trace (no-op when not tracing): api as
 * Playwright names it ("page.screenshot"); params borrowed. Returns an id for
 * pb_nav_action_end. */
int pb_nav_action_begin(pb_nav *n, const char *api, const cJSON *params);
void pb_nav_action_end(pb_nav *n, int id, const char *error);

/* Loads url in the page n already holds, with the options of its first
 * request (applied then, kept), for job (its deadline and cancel flag from
 * now on; job->opts.page must be those options): a crawl's next page in the
 * page its last one used, without a lease and a fresh page each time. Not
 * for html, traced or session pages. 0, or -1 with res failed: the page
 * may be in any state, close it. */
int pb_nav_reuse(pb_nav *n, pb_job *job, const char *url, pb_op_result *res);

/* Releases the page and records the browser time in res. NULL is a no-op. */
void pb_nav_close(pb_nav *n, pb_op_result *res);

#endif
