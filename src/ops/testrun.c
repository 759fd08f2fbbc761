/* POST /browser/test: runs a JSON test script (schemas/test-script.json) in
 * a leased page. Steps act like Playwright: actions wait for the element to
 * be actionable, assertions are retried until they pass or time out, and the
 * first failure skips the rest. A failed test is still a 200: the service
 * did its work, and the result says what broke. This file is the runner;
 * the actions are in teststeps.c, keyboard and mouse in testinput.c, the
 * JUnit report in testjunit.c. */
#include "ops/testrun.h"

#include "common/json.h"
#include "common/pb.h"
#include "ops/nav.h"
#include "ops/ops.h"
#include "ops/testrun_int.h"
#include "ops/testrun_js.h"
#include "ops/testscript.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Time kept back from the job's deadline to answer with a report (and a
 * failure screenshot) instead of a bare 408. */
#define RESERVE_MS 1500
#define MAX_CONSOLE 200
#define MAX_CONSOLE_TEXT 2000

int pb__tr_fail(pb__tr_step *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->error, sizeof(s->error), fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- events: console, page errors, lifecycle ------------------------- */

static void add_console(pb__tr_run *t, const char *type, const char *text) {
  if (cJSON_GetArraySize(t->console) >= MAX_CONSOLE) return;
  char buf[MAX_CONSOLE_TEXT];
  pb_strlcpy(buf, text, sizeof(buf));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddStringToObject(o, "text", buf);
  cJSON_AddItemToArray(t->console, o);
}

static void on_event(pb__tr_run *t, pb_cdp_event *ev) {
  const cJSON *p = ev->params;
  if (!strcmp(ev->method, "Runtime.consoleAPICalled")) {
    pb_buf b;
    pb_buf_init(&b, MAX_CONSOLE_TEXT);
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(p, "args")) {
      const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "value");
      const char *d = pb_json_str(a, "description");
      if (b.len) pb_buf_append(&b, " ", 1);
      if (cJSON_IsString(v)) {
        pb_buf_printf(&b, "%s", v->valuestring);
      } else if (v) {
        char *j = cJSON_PrintUnformatted(v);
        if (j) pb_buf_printf(&b, "%s", j);
        free(j);
      } else {
        pb_buf_printf(&b, "%s", d ? d : pb_json_str(a, "type") ? pb_json_str(a, "type") : "");
      }
    }
    const char *type = pb_json_str(p, "type");
    add_console(t, type ? type : "log", b.data ? b.data : "");
    pb_buf_free(&b);
  } else if (!strcmp(ev->method, "Runtime.exceptionThrown")) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "exceptionDetails");
    const char *text = pb_json_str(cJSON_GetObjectItemCaseSensitive(d, "exception"), "description");
    if (!text) text = pb_json_str(d, "text");
    if (cJSON_GetArraySize(t->page_errors) < MAX_CONSOLE) {
      char buf[MAX_CONSOLE_TEXT];
      pb_strlcpy(buf, text ? text : "exception", sizeof(buf));
      cJSON_AddItemToArray(t->page_errors, cJSON_CreateString(buf));
    }
  } else if (!strcmp(ev->method, "Page.lifecycleEvent")) {
    const char *f = pb_json_str(p, "frameId"), *l = pb_json_str(p, "loaderId"),
               *name = pb_json_str(p, "name");
    if (!f || !l || !name || strcmp(f, t->page->target_id)) return;
    if (!strcmp(name, "init")) {
      pb_strlcpy(t->loader, l, sizeof(t->loader));
      t->lifecycle = 0;
      return;
    }
    if (!t->loader[0]) pb_strlcpy(t->loader, l, sizeof(t->loader));
    if (strcmp(l, t->loader)) return;
    if (!strcmp(name, "DOMContentLoaded")) t->lifecycle |= PB__TR_LC_DCL;
    if (!strcmp(name, "load")) t->lifecycle |= PB__TR_LC_LOAD;
    if (!strcmp(name, "networkAlmostIdle")) t->lifecycle |= PB__TR_LC_NET_ALMOST_IDLE;
    if (!strcmp(name, "networkIdle")) t->lifecycle |= PB__TR_LC_NET_IDLE;
  }
}

/* Takes the page's events until `until` (or none are left when until is in
 * the past). Also the runner's sleep. */
int pb__tr_pump(pb__tr_run *t, int64_t until) {
  for (;;) {
    if (t->job->canceled && atomic_load(t->job->canceled)) return PB_ECANCELED;
    pb_cdp_event *ev = NULL;
    int64_t slice = pb_now_ms() + 250;
    int rc = pb_cdp_next_event(t->page->events, slice < until ? slice : until, &ev);
    if (rc == PB_ETIMEOUT) {
      if (pb_now_ms() < until) continue;
      return 0;
    }
    if (rc) return rc;
    on_event(t, ev);
    pb_cdp_event_free(ev);
  }
}

/* ---- page calls ------------------------------------------------------ */

int pb__tr_call(pb__tr_run *t, const char *method, cJSON *params, int64_t deadline, cJSON **result,
                char *err, size_t errcap) {
  return pb_nav_call_until(t->nav, method, params, deadline, result, err, errcap);
}

/* Calls the page-side helper: (sel, op, opts) => {ok, reason?, ...}. Takes
 * opts. */
int pb__tr_helper(pb__tr_run *t, const pb_selector *sel, const char *op, cJSON *opts,
                  int64_t deadline, cJSON **out, char *err, size_t errcap) {
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, sel ? pb_selector_json(sel) : cJSON_CreateNull());
  cJSON_AddItemToArray(args, cJSON_CreateString(op));
  cJSON_AddItemToArray(args, opts ? opts : cJSON_CreateObject());
  char *a = cJSON_PrintUnformatted(args);
  cJSON_Delete(args);
  if (!a) return PB_ENOMEM;
  pb_buf js;
  pb_buf_init(&js, (size_t)16 << 20);
  int rc = pb_buf_printf(&js, "(%s)(...%s)", testrun_js, a);
  free(a);
  if (!rc) rc = pb_nav_eval(t->nav, js.data, deadline, out, err, errcap);
  pb_buf_free(&js);
  return rc;
}

/* The page went away under the call (a navigation): try again. */
static int navigated(int rc, const char *err) {
  return (rc == PB_ECDP || rc == PB_EINVAL) &&
         (strstr(err, "context") || strstr(err, "navigat") || strstr(err, "destroyed") ||
          strstr(err, "Inspected target"));
}

/* Retries the helper until it answers ok:true or the step's deadline. On
 * success *out (may be NULL) gets the answer. Failures leave the last
 * reason in s->error, prefixed with what. */
int pb__tr_until_ok(pb__tr_run *t, pb__tr_step *s, const pb_selector *sel, const char *op,
                    const cJSON *opts, const char *what, cJSON **out) {
  if (out) *out = NULL;
  char reason[768] = "";
  for (;;) {
    cJSON *v = NULL;
    char err[768];
    int rc = pb__tr_helper(t, sel, op, opts ? cJSON_Duplicate(opts, 1) : NULL, s->deadline, &v, err,
                           sizeof(err));
    if (!rc && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "ok"))) {
      if (out)
        *out = v;
      else
        cJSON_Delete(v);
      return 0;
    }
    if (!rc) {
      const char *r = pb_json_str(v, "reason");
      pb_strlcpy(reason, r ? r : "not satisfied", sizeof(reason));
      int fatal = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "fatal"));
      cJSON_Delete(v);
      if (fatal) return pb__tr_fail(s, "%s: %s", what, reason);
    } else if (navigated(rc, err)) {
      if (!reason[0]) pb_strlcpy(reason, "the page was navigating", sizeof(reason));
    } else if (rc == PB_EINVAL) {
      return pb__tr_fail(s, "%s: %s", what, err);
    } else if (rc != PB_ETIMEOUT) {
      return pb__tr_fail(s, "%s: %s", what, rc == PB_ECDP ? err : pb_strerror(rc));
    }
    int64_t now = pb_now_ms();
    if (rc == PB_ETIMEOUT || now + PB__TR_RETRY_MS >= s->deadline) {
      if (!reason[0]) pb_strlcpy(reason, "the page did not answer", sizeof(reason));
      return pb__tr_fail(s, "%s: %s (timed out after %d ms)", what, reason, s->timeout_ms);
    }
    if ((rc = pb__tr_pump(t, now + PB__TR_RETRY_MS)))
      return pb__tr_fail(s, "%s: %s", what, pb_strerror(rc));
  }
}

static void failure_screenshot(pb__tr_run *t, cJSON *result) {
  pb_screenshot_opts png = {.type = "png", .quality = -1};
  pb_op_result scratch;
  memset(&scratch, 0, sizeof(scratch));
  char *b64 = NULL;
  if (!pb_op_capture(t->nav, &png, &scratch, &b64) && b64)
    cJSON_AddStringToObject(result, "failureScreenshot", b64);
  free(b64);
  pb_op_result_free(&scratch);
}

int pb_op_test(pb_job *job, pb_op_result *res) {
  char err[1024];
  const pb_test_opts *test = &job->opts.test;
  int rc = pb_testscript_check(test->script, err, sizeof(err));
  if (rc)
    return pb_op_fail(res, rc == PB_ETOOBIG ? PB_CODE_SCRIPT_TOO_LARGE : PB_CODE_INVALID_REQUEST,
                      "%s", err);
  if (pb_op_viewport_check(&job->opts.page.viewport, res)) return -1;
  /* A goto to what quick actions may not load is refused before a browser
   * is touched, as the start url would be. */
  const cJSON *gs;
  int gi = 0;
  cJSON_ArrayForEach(gs, test->steps) {
    const char *action = pb_json_str(gs, "action"), *gurl = pb_json_str(gs, "url");
    if (action && gurl && !strcmp(action, "goto")) {
      char why[512];
      rc = pb_egress_check_url(job->env->egress, gurl, why, sizeof(why));
      if (rc == PB_EFORBIDDEN)
        return pb_op_fail(res, PB_CODE_FORBIDDEN_URL, "steps[%d].url: %s", gi, why);
      if (rc) return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "steps[%d].url: %s", gi, why);
    }
    gi++;
  }
  /* Without a start page the script begins on about:blank. */
  const char *start_url = job->opts.page.url;
  if (!start_url && !job->opts.page.html) job->opts.page.url = "about:blank";
  int64_t t0 = pb_now_ms();
  pb__tr_run t;
  memset(&t, 0, sizeof(t));
  t.job = job;
  rc = pb_nav_open(job, res, &t.nav);
  job->opts.page.url = start_url;
  if (rc) return -1;
  t.page = pb_nav_page(t.nav);
  t.end = job->deadline_ms - RESERVE_MS;
  t.lifecycle = PB__TR_LC_DCL | PB__TR_LC_LOAD; /* pb_nav_open waited for the load */
  t.console = cJSON_CreateArray();
  t.page_errors = cJSON_CreateArray();
  t.screenshots = cJSON_CreateObject();
  /* Console messages logged before this are replayed by Runtime.enable. */
  pb__tr_call(&t, "Runtime.enable", NULL, t.end, NULL, NULL, 0);

  int def_timeout = test->step_timeout_ms;
  cJSON *result = cJSON_CreateObject();
  cJSON *steps_out = cJSON_CreateArray();
  int passed = 1, index = 0;
  const cJSON *step;
  cJSON_ArrayForEach(step, test->steps) {
    cJSON *o = cJSON_CreateObject();
    const char *action = pb_json_str(step, "action"), *name = pb_json_str(step, "name");
    cJSON_AddNumberToObject(o, "index", index++);
    /* For screenshots and expectAttribute "name" is not a label. */
    if (name && strcmp(action, "screenshot") && strcmp(action, "expectScreenshot") &&
        strcmp(action, "expectAttribute"))
      cJSON_AddStringToObject(o, "name", name);
    else
      cJSON_AddStringToObject(o, "name", action);
    cJSON_AddStringToObject(o, "action", action);
    cJSON_AddItemToArray(steps_out, o);
    if (!passed) {
      cJSON_AddStringToObject(o, "status", "skipped");
      cJSON_AddNumberToObject(o, "durationMs", 0);
      continue;
    }
    pb__tr_step s;
    memset(&s, 0, sizeof(s));
    s.step = step;
    s.action = action;
    s.timeout_ms = (int)pb_json_num(step, "timeout", def_timeout);
    int64_t ts = pb_now_ms();
    s.deadline = ts + s.timeout_ms;
    int short_of_time = 0;
    if (s.deadline > t.end) {
      s.deadline = t.end;
      s.timeout_ms = (int)(t.end - ts);
      short_of_time = 1;
    }
    int failed;
    if (job->canceled && atomic_load(job->canceled)) {
      failed = pb__tr_fail(&s, "canceled: the client went away");
    } else if (s.timeout_ms <= 0) {
      failed = pb__tr_fail(&s, "the script's timeout ran out before this step");
    } else {
      pb__tr_pump(&t, 0);
      /* In a trace each step is an action, named like Playwright's API. */
      char api[64];
      snprintf(api, sizeof(api), "test.%s", action);
      int traced = pb_nav_action_begin(t.nav, api, step);
      failed = pb__tr_run_step(&t, &s) != 0;
      pb_nav_action_end(t.nav, traced, failed ? s.error : NULL);
      pb__tr_pump(&t, 0);
      if (failed && short_of_time && pb_now_ms() >= t.end) {
        char e[sizeof(s.error)];
        pb_strlcpy(e, s.error, sizeof(e));
        pb__tr_fail(&s, "%s (the script's timeout ran out)", e);
      }
    }
    cJSON_AddStringToObject(o, "status", failed ? "failed" : "passed");
    cJSON_AddNumberToObject(o, "durationMs", (double)(pb_now_ms() - ts));
    if (failed) {
      cJSON_AddStringToObject(o, "error", s.error);
      passed = 0;
    }
    if (s.value) cJSON_AddItemToObject(o, "value", s.value);
  }
  cJSON_AddBoolToObject(result, "passed", passed);
  cJSON_AddNumberToObject(result, "durationMs", (double)(pb_now_ms() - t0));
  cJSON_AddItemToObject(result, "steps", steps_out);
  cJSON_AddItemToObject(result, "screenshots", t.screenshots);
  cJSON_AddItemToObject(result, "console", t.console);
  cJSON_AddItemToObject(result, "pageErrors", t.page_errors);
  if (!passed && !(job->canceled && atomic_load(job->canceled))) failure_screenshot(&t, result);
  pb_nav_close(t.nav, res);

  if (job->format_junit) {
    char *xml = NULL;
    size_t len = 0;
    const char *u = start_url;
    rc = pb_testrun_junit(result, u ? u : "ppod browser test", &xml, &len);
    cJSON_Delete(result);
    if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "the JUnit report is too large");
    return pb_op_bytes(res, xml, len, "application/xml");
  }
  return pb_op_json(res, result);
}
