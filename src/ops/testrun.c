/* POST /browser/test: runs a JSON test script (schemas/test-script.json) in
 * a leased page. Steps act like Playwright: actions wait for the element to
 * be actionable, assertions are retried until they pass or time out, and the
 * first failure skips the rest. A failed test is still a 200: the service
 * did its work, and the result says what broke. */
#include "ops/testrun.h"

#include "common/json.h"
#include "common/pb.h"
#include "ops/nav.h"
#include "ops/ops.h"
#include "ops/testrun_js.h"
#include "ops/testscript.h"
#include "render/pngdiff.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Time kept back from the job's deadline to answer with a report (and a
 * failure screenshot) instead of a bare 408. */
#define RESERVE_MS 1500
#define RETRY_MS 100
#define MAX_CONSOLE 200
#define MAX_CONSOLE_TEXT 2000

enum { LC_DCL = 1, LC_LOAD = 2, LC_NET_ALMOST_IDLE = 4, LC_NET_IDLE = 8 };

typedef struct {
  pb_job *job;
  pb_nav *nav;
  pb_page *page;
  int64_t end;        /* the script's deadline, before the reserve */
  cJSON *console;     /* [{type, text}] */
  cJSON *page_errors; /* [text] */
  cJSON *screenshots; /* {name: base64} */
  char loader[64];    /* main frame's current document */
  unsigned lifecycle; /* LC_* seen for it */
} run;

typedef struct {
  const cJSON *step;
  const char *action;
  int64_t deadline;
  int timeout_ms;
  cJSON *value; /* recorded on the step, owned */
  char error[1024];
} step_ctx;

static int step_fail(step_ctx *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int step_fail(step_ctx *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->error, sizeof(s->error), fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- events: console, page errors, lifecycle ------------------------- */

static void add_console(run *t, const char *type, const char *text) {
  if (cJSON_GetArraySize(t->console) >= MAX_CONSOLE) return;
  char buf[MAX_CONSOLE_TEXT];
  pb_strlcpy(buf, text, sizeof(buf));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddStringToObject(o, "text", buf);
  cJSON_AddItemToArray(t->console, o);
}

static void on_event(run *t, pb_cdp_event *ev) {
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
    const char *f = pb_json_str(p, "frameId"), *l = pb_json_str(p, "loaderId"), *name = pb_json_str(p, "name");
    if (!f || !l || !name || strcmp(f, t->page->target_id)) return;
    if (!strcmp(name, "init")) {
      pb_strlcpy(t->loader, l, sizeof(t->loader));
      t->lifecycle = 0;
      return;
    }
    if (!t->loader[0]) pb_strlcpy(t->loader, l, sizeof(t->loader));
    if (strcmp(l, t->loader)) return;
    if (!strcmp(name, "DOMContentLoaded")) t->lifecycle |= LC_DCL;
    if (!strcmp(name, "load")) t->lifecycle |= LC_LOAD;
    if (!strcmp(name, "networkAlmostIdle")) t->lifecycle |= LC_NET_ALMOST_IDLE;
    if (!strcmp(name, "networkIdle")) t->lifecycle |= LC_NET_IDLE;
  }
}

/* Takes the page's events until `until` (or none are left when until is in
 * the past). Also the runner's sleep. */
static int pump(run *t, int64_t until) {
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

static int call(run *t, const char *method, cJSON *params, int64_t deadline, cJSON **result,
                char *err, size_t errcap) {
  return pb_cdp_call(t->page->cdp, t->page->session_id, method, params, deadline, result, err,
                     errcap);
}

/* Runs an expression (promises awaited) until deadline; a script still
 * running then is terminated so the page stays usable. *value is owned by
 * the caller. PB_EINVAL: the expression threw (message in err). */
static int js_eval(run *t, const char *expr, int64_t deadline, cJSON **value, char *err,
                   size_t errcap) {
  *value = NULL;
  err[0] = '\0';
  int64_t left = deadline - pb_now_ms();
  if (left <= 0) return PB_ETIMEOUT;
  cJSON *p = cJSON_CreateObject(), *res = NULL;
  cJSON_AddStringToObject(p, "expression", expr);
  cJSON_AddBoolToObject(p, "returnByValue", 1);
  cJSON_AddBoolToObject(p, "awaitPromise", 1);
  /* Chromium stops synchronous script itself after this long; the call's
   * own deadline is a little later so that answer arrives. */
  cJSON_AddNumberToObject(p, "timeout", (double)left);
  int rc = call(t, "Runtime.evaluate", p, deadline + 500, &res, err, errcap);
  /* Chromium answers a script it terminated with a bare error. */
  if (rc == PB_ECDP && pb_now_ms() >= deadline - 100) rc = PB_ETIMEOUT;
  if (rc == PB_ETIMEOUT) {
    pb_cdp_send(t->page->cdp, t->page->session_id, "Runtime.terminateExecution", NULL);
    return rc;
  }
  if (rc) return rc;
  const cJSON *exc = cJSON_GetObjectItemCaseSensitive(res, "exceptionDetails");
  if (exc) {
    const char *d = pb_json_str(cJSON_GetObjectItemCaseSensitive(exc, "exception"), "description");
    const char *text = pb_json_str(exc, "text");
    snprintf(err, errcap, "%s", d ? d : text ? text : "exception");
    cJSON_Delete(res);
    /* Terminated by the timeout above. */
    if (pb_now_ms() >= deadline || strstr(err, "terminated")) return PB_ETIMEOUT;
    return PB_EINVAL;
  }
  cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "result");
  cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
  if (v) *value = cJSON_DetachItemViaPointer(r, v);
  cJSON_Delete(res);
  return 0;
}

/* Calls the page-side helper: (sel, op, opts) => {ok, reason?, ...}. Takes
 * opts. */
static int helper(run *t, const pb_selector *sel, const char *op, cJSON *opts, int64_t deadline,
                  cJSON **out, char *err, size_t errcap) {
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
  if (!rc) rc = js_eval(t, js.data, deadline, out, err, errcap);
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
static int until_ok(run *t, step_ctx *s, const pb_selector *sel, const char *op, const cJSON *opts,
                    const char *what, cJSON **out) {
  if (out) *out = NULL;
  char reason[768] = "";
  for (;;) {
    cJSON *v = NULL;
    char err[768];
    int rc = helper(t, sel, op, opts ? cJSON_Duplicate(opts, 1) : NULL, s->deadline, &v, err,
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
      if (fatal) return step_fail(s, "%s: %s", what, reason);
    } else if (navigated(rc, err)) {
      if (!reason[0]) pb_strlcpy(reason, "the page was navigating", sizeof(reason));
    } else if (rc == PB_EINVAL) {
      return step_fail(s, "%s: %s", what, err);
    } else if (rc != PB_ETIMEOUT) {
      return step_fail(s, "%s: %s", what, rc == PB_ECDP ? err : pb_strerror(rc));
    }
    int64_t now = pb_now_ms();
    if (rc == PB_ETIMEOUT || now + RETRY_MS >= s->deadline) {
      if (!reason[0]) pb_strlcpy(reason, "the page did not answer", sizeof(reason));
      return step_fail(s, "%s: %s (timed out after %d ms)", what, reason, s->timeout_ms);
    }
    if ((rc = pump(t, now + RETRY_MS))) return step_fail(s, "%s: %s", what, pb_strerror(rc));
  }
}

/* ---- input ----------------------------------------------------------- */

static int mouse(run *t, step_ctx *s, const char *type, double x, double y, const char *button,
                 int count) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", type);
  cJSON_AddNumberToObject(p, "x", x);
  cJSON_AddNumberToObject(p, "y", y);
  if (button) {
    cJSON_AddStringToObject(p, "button", button);
    int bit = !strcmp(button, "right") ? 2 : !strcmp(button, "middle") ? 4 : 1;
    cJSON_AddNumberToObject(p, "buttons", !strcmp(type, "mousePressed") ? bit : 0);
    cJSON_AddNumberToObject(p, "clickCount", count);
  }
  char err[256];
  int rc = call(t, "Input.dispatchMouseEvent", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return step_fail(s, "%s: mouse input failed: %s", s->action,
                     rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

static int key_event(run *t, step_ctx *s, const char *type, const pb_key *k, int modifiers,
                     const char *text, const char *command) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", type);
  cJSON_AddStringToObject(p, "key", k->key);
  cJSON_AddStringToObject(p, "code", k->code);
  cJSON_AddNumberToObject(p, "windowsVirtualKeyCode", k->key_code);
  cJSON_AddNumberToObject(p, "modifiers", modifiers);
  if (text && *text) {
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddStringToObject(p, "unmodifiedText", text);
  }
  if (command) {
    cJSON *c = cJSON_AddArrayToObject(p, "commands");
    cJSON_AddItemToArray(c, cJSON_CreateString(command));
  }
  char err[256];
  int rc = call(t, "Input.dispatchKeyEvent", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return step_fail(s, "%s: key input failed: %s", s->action,
                     rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

/* Presses a chord: modifiers down in order, the last key down and up, the
 * modifiers up in reverse. */
static int press_keys(run *t, step_ctx *s, pb_key *keys, int n) {
  int mods = 0;
  for (int i = 0; i < n; i++) {
    pb_key *k = &keys[i];
    if (k->modifier && i + 1 < n) {
      mods |= k->modifier;
      if (key_event(t, s, "rawKeyDown", k, mods, NULL, NULL)) return -1;
      continue;
    }
    char text[8];
    pb_strlcpy(text, k->text, sizeof(text));
    if ((mods & 8) && text[0] >= 'a' && text[0] <= 'z' && !text[1]) {
      text[0] = (char)(text[0] - 'a' + 'A');
      k->key[0] = text[0];
    }
    /* With Control, Alt or Meta held a key types nothing; the editing
     * shortcuts are spelled out as commands, as Playwright does. */
    const char *command = NULL;
    if (mods & 7) {
      text[0] = '\0';
      if (mods == 2 || mods == 4) {
        char c = k->key[0] | 0x20;
        if (!k->key[1]) {
          command = c == 'a'   ? "selectAll"
                    : c == 'c' ? "copy"
                    : c == 'x' ? "cut"
                    : c == 'v' ? "paste"
                    : c == 'z' ? "undo"
                               : NULL;
        }
      }
    }
    if (key_event(t, s, text[0] ? "keyDown" : "rawKeyDown", k, mods, text, command)) return -1;
    if (key_event(t, s, "keyUp", k, mods, NULL, NULL)) return -1;
  }
  for (int i = n - 2; i >= 0; i--) {
    mods &= ~keys[i].modifier;
    if (key_event(t, s, "keyUp", &keys[i], mods, NULL, NULL)) return -1;
  }
  return 0;
}

static int insert_text(run *t, step_ctx *s, const char *text) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "text", text);
  char err[256];
  int rc = call(t, "Input.insertText", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return step_fail(s, "%s: text input failed: %s", s->action,
                     rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

/* ---- steps ----------------------------------------------------------- */

static int parse_sel(step_ctx *s, pb_selector *sel) {
  char why[256];
  if (pb_selector_parse(pb_json_str(s->step, "selector"), sel, why, sizeof(why)))
    return step_fail(s, "selector: %s", why);
  return 0;
}

/* Waits until the element can take input; *x, *y is the point to use. */
static int actionable(run *t, step_ctx *s, const pb_selector *sel, int hit, int editable, double *x,
                      double *y, int *checked) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "enabled", 1);
  cJSON_AddBoolToObject(o, "hit", hit);
  cJSON_AddBoolToObject(o, "editable", editable);
  const cJSON *pos = cJSON_GetObjectItemCaseSensitive(s->step, "position");
  if (pos) cJSON_AddItemToObject(o, "position", cJSON_Duplicate(pos, 1));
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s->step, "force")))
    cJSON_AddBoolToObject(o, "force", 1);
  char what[1100];
  snprintf(what, sizeof(what), "%s '%s'", s->action, pb_json_str(s->step, "selector"));
  cJSON *v = NULL;
  int rc = until_ok(t, s, sel, "actionable", o, what, &v);
  cJSON_Delete(o);
  if (rc) return rc;
  *x = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "x"));
  *y = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "y"));
  if (checked) *checked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "checked"));
  cJSON_Delete(v);
  return 0;
}

static int do_click(run *t, step_ctx *s, int count, int move_only) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 1, 0, &x, &y, NULL)) return -1;
  if (mouse(t, s, "mouseMoved", x, y, NULL, 0)) return -1;
  if (move_only) return 0;
  const char *button = pb_json_str(s->step, "button");
  if (!button) button = "left";
  for (int i = 1; i <= count; i++)
    if (mouse(t, s, "mousePressed", x, y, button, i) ||
        mouse(t, s, "mouseReleased", x, y, button, i))
      return -1;
  return 0;
}

static int do_check(run *t, step_ctx *s, int want) {
  pb_selector sel;
  double x, y;
  int checked;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 1, 0, &x, &y, &checked)) return -1;
  if (checked == want) return 0;
  if (mouse(t, s, "mouseMoved", x, y, NULL, 0) || mouse(t, s, "mousePressed", x, y, "left", 1) ||
      mouse(t, s, "mouseReleased", x, y, "left", 1))
    return -1;
  cJSON *v = NULL;
  char err[512];
  int rc = helper(t, &sel, "checked", NULL, s->deadline, &v, err, sizeof(err));
  int now = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "checked"));
  cJSON_Delete(v);
  if (!rc && now != want)
    return step_fail(s, "%s '%s': clicking did not %s the element", s->action, sel.value,
                     want ? "check" : "uncheck");
  return 0;
}

static int do_fill(run *t, step_ctx *s) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 1, &x, &y, NULL)) return -1;
  const char *value = pb_json_str(s->step, "value");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "value", value ? value : "");
  cJSON *v = NULL;
  int rc = until_ok(t, s, &sel, "fill", o, "fill", &v);
  cJSON_Delete(o);
  if (rc) return rc;
  int done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "done"));
  cJSON_Delete(v);
  return done ? 0 : insert_text(t, s, value);
}

/* Types text key by key: characters a US keyboard has are real key
 * presses; others are inserted as text. */
static int type_text(run *t, step_ctx *s, const char *text, int delay) {
  for (const char *p = text; *p;) {
    size_t len = 1;
    unsigned char c = (unsigned char)*p;
    if (c >= 0xf0)
      len = 4;
    else if (c >= 0xe0)
      len = 3;
    else if (c >= 0xc0)
      len = 2;
    char ch[8] = {0};
    for (size_t i = 0; i < len && p[i]; i++) ch[i] = p[i];
    p += strlen(ch);
    pb_key k;
    int n;
    if (len == 1 && c == '\n') {
      if (pb_key_parse("Enter", &k, &n, NULL, 0) || press_keys(t, s, &k, 1)) return -1;
    } else if (len == 1 && c != '+' && !pb_key_parse(ch, &k, &n, NULL, 0)) {
      if (press_keys(t, s, &k, 1)) return -1;
    } else if (insert_text(t, s, ch)) {
      return -1;
    }
    if (delay > 0 && pump(t, pb_now_ms() + delay)) return step_fail(s, "type: canceled");
  }
  return 0;
}

static int do_type(run *t, step_ctx *s) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 1, &x, &y, NULL) ||
      until_ok(t, s, &sel, "focus", NULL, "type", NULL))
    return -1;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->step, "delay");
  return type_text(t, s, pb_json_str(s->step, "text"), cJSON_IsNumber(d) ? d->valueint : 0);
}

static int do_press(run *t, step_ctx *s) {
  pb_key keys[PB_TEST_MAX_KEYS];
  int n;
  char why[256];
  if (pb_key_parse(pb_json_str(s->step, "key"), keys, &n, why, sizeof(why)))
    return step_fail(s, "key: %s", why);
  if (pb_json_str(s->step, "selector")) {
    pb_selector sel;
    double x, y;
    if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 0, &x, &y, NULL) ||
        until_ok(t, s, &sel, "focus", NULL, "press", NULL))
      return -1;
  }
  return press_keys(t, s, keys, n);
}

static int do_select(run *t, step_ctx *s) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 0, &x, &y, NULL)) return -1;
  const cJSON *vals = cJSON_GetObjectItemCaseSensitive(s->step, "values");
  cJSON *o = cJSON_CreateObject();
  cJSON *list = cJSON_AddArrayToObject(o, "values");
  if (cJSON_IsString(vals)) {
    cJSON_AddItemToArray(list, cJSON_CreateString(vals->valuestring));
  } else {
    const cJSON *v;
    cJSON_ArrayForEach(v, vals) cJSON_AddItemToArray(list, cJSON_Duplicate(v, 0));
  }
  char what[1100];
  snprintf(what, sizeof(what), "select '%s'", sel.value);
  cJSON *v = NULL;
  int rc = until_ok(t, s, &sel, "select", o, what, &v);
  cJSON_Delete(o);
  if (rc) return rc;
  s->value = cJSON_DetachItemFromObjectCaseSensitive(v, "value");
  cJSON_Delete(v);
  return 0;
}

static int do_scroll(run *t, step_ctx *s) {
  pb_selector sel;
  int has_sel = pb_json_str(s->step, "selector") != NULL;
  if (has_sel && parse_sel(s, &sel)) return -1;
  cJSON *o = cJSON_CreateObject();
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(s->step, "x");
  const cJSON *y = cJSON_GetObjectItemCaseSensitive(s->step, "y");
  cJSON_AddNumberToObject(o, "x", cJSON_IsNumber(x) ? x->valuedouble : 0);
  cJSON_AddNumberToObject(o, "y", cJSON_IsNumber(y) ? y->valuedouble : 0);
  int rc = until_ok(t, s, has_sel ? &sel : NULL, "scroll", o, "scroll", NULL);
  cJSON_Delete(o);
  return rc;
}

/* An expectation or wait that the page helper checks in one go. */
static int do_expect(run *t, step_ctx *s, const char *kind) {
  pb_selector sel;
  int has_sel = pb_json_str(s->step, "selector") != NULL;
  if (has_sel && parse_sel(s, &sel)) return -1;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "kind", kind);
  static const char *const copy[] = {"equals", "contains", "matches", "value",   "name",
                                     "count",  "title",    "url",     "pattern", NULL};
  for (int i = 0; copy[i]; i++) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(s->step, copy[i]);
    if (f) cJSON_AddItemToObject(o, copy[i], cJSON_Duplicate(f, 1));
  }
  char what[1100];
  if (has_sel)
    snprintf(what, sizeof(what), "%s '%s'", s->action, pb_json_str(s->step, "selector"));
  else
    snprintf(what, sizeof(what), "%s", s->action);
  int rc = until_ok(t, s, has_sel ? &sel : NULL, "expect", o, what, NULL);
  cJSON_Delete(o);
  return rc;
}

static int do_goto(run *t, step_ctx *s) {
  const char *url = pb_json_str(s->step, "url");
  char err[512];
  int rc = pb_egress_check_url(t->job->env->egress, url, err, sizeof(err));
  if (rc) return step_fail(s, "goto %s: %s", url, err);
  const char *wu = pb_json_str(s->step, "waitUntil");
  unsigned want = !wu || !strcmp(wu, "load")        ? LC_LOAD
                  : !strcmp(wu, "domcontentloaded") ? LC_DCL
                  : !strcmp(wu, "networkidle0")     ? LC_NET_IDLE
                                                    : LC_NET_ALMOST_IDLE;
  if ((rc = pump(t, 0))) return step_fail(s, "goto: %s", pb_strerror(rc));
  cJSON *p = cJSON_CreateObject(), *nav = NULL;
  cJSON_AddStringToObject(p, "url", url);
  int64_t t_nav = pb_now_ms();
  rc = call(t, "Page.navigate", p, s->deadline, &nav, err, sizeof(err));
  if (rc == PB_ETIMEOUT)
    return step_fail(s, "goto %s: no response within %d ms", url, s->timeout_ms);
  if (rc) return step_fail(s, "goto %s: %s", url, rc == PB_ECDP ? err : pb_strerror(rc));
  const char *et = pb_json_str(nav, "errorText"), *loader = pb_json_str(nav, "loaderId");
  if (et && *et) {
    /* A failed tunnel or an empty response is what the egress proxy made of
     * a refusal or an upstream failure: say which, as it recorded it. */
    char said[200];
    int why = PB_EGRESS_WHY_NONE;
    if (!strcmp(et, "net::ERR_TUNNEL_CONNECTION_FAILED") || !strcmp(et, "net::ERR_EMPTY_RESPONSE"))
      why = pb_nav_egress_why(t->job->env, t->page, url, t_nav, said, sizeof(said));
    if (why == PB_EGRESS_WHY_REFUSED)
      step_fail(s, "goto %s: refused by the egress guard (%s)", url, said);
    else if (pb_egress_why_net_error(why))
      step_fail(s, "goto %s: %s (%s)", url, pb_egress_why_net_error(why), said);
    else
      step_fail(s, "goto %s: %s", url, et);
    cJSON_Delete(nav);
    return -1;
  }
  if (loader) {
    if (strcmp(loader, t->loader)) t->lifecycle = 0;
    pb_strlcpy(t->loader, loader, sizeof(t->loader));
  }
  cJSON_Delete(nav);
  if (!loader) return 0; /* same document: nothing to load */
  while (!(t->lifecycle & want)) {
    if (pb_now_ms() >= s->deadline)
      return step_fail(s, "goto %s: '%s' did not happen within %d ms", url, wu ? wu : "load",
                       s->timeout_ms);
    int64_t until = pb_now_ms() + 50;
    if ((rc = pump(t, until < s->deadline ? until : s->deadline)))
      return step_fail(s, "goto: %s", pb_strerror(rc));
  }
  return 0;
}

static int do_load_state(run *t, step_ctx *s) {
  const char *st = pb_json_str(s->step, "state");
  unsigned want = !st || !strcmp(st, "load")        ? LC_LOAD
                  : !strcmp(st, "domcontentloaded") ? LC_DCL
                  : !strcmp(st, "networkidle")      ? LC_NET_IDLE
                                                    : 0;
  if (!want)
    return step_fail(s, "state: waitForLoadState takes load, domcontentloaded or networkidle");
  for (;;) {
    int rc = pump(t, 0);
    if (rc) return step_fail(s, "waitForLoadState: %s", pb_strerror(rc));
    if (t->lifecycle & want) return 0;
    if (pb_now_ms() >= s->deadline)
      return step_fail(s, "waitForLoadState: '%s' did not happen within %d ms", st ? st : "load",
                       s->timeout_ms);
    pump(t, pb_now_ms() + 50);
  }
}

static int do_evaluate(run *t, step_ctx *s) {
  cJSON *v = NULL;
  char err[1024];
  int rc = js_eval(t, pb_json_str(s->step, "expression"), s->deadline, &v, err, sizeof(err));
  if (rc == PB_ETIMEOUT)
    return step_fail(s, "evaluate: still running after %d ms; the script was terminated",
                     s->timeout_ms);
  if (rc == PB_EINVAL) return step_fail(s, "evaluate: %s", err);
  if (rc) return step_fail(s, "evaluate: %s", rc == PB_ECDP ? err : pb_strerror(rc));
  char *j = v ? cJSON_PrintUnformatted(v) : NULL;
  size_t len = j ? strlen(j) : 0;
  free(j);
  if (len > PB_TEST_EVALUATE_MAX_RESULT) {
    cJSON_Delete(v);
    return step_fail(s, "evaluate: the result is %zu bytes of JSON, over the cap of %u", len,
                     PB_TEST_EVALUATE_MAX_RESULT);
  }
  s->value = v ? v : cJSON_CreateNull();
  return 0;
}

/* A PNG of the page, or of the element the step names. */
static int capture(run *t, step_ctx *s, char **b64) {
  *b64 = NULL;
  pb_screenshot_opts opts = {.type = "png", .quality = -1};
  if (pb_json_str(s->step, "selector")) {
    pb_selector sel;
    cJSON *box = NULL;
    char what[1100];
    snprintf(what, sizeof(what), "%s '%s'", s->action, pb_json_str(s->step, "selector"));
    if (parse_sel(s, &sel) || until_ok(t, s, &sel, "box", NULL, what, &box)) return -1;
    opts.has_clip = 1;
    opts.clip_x = pb_json_num(box, "x", NAN);
    opts.clip_y = pb_json_num(box, "y", NAN);
    opts.clip_w = pb_json_num(box, "width", NAN);
    opts.clip_h = pb_json_num(box, "height", NAN);
    cJSON_Delete(box);
  } else {
    opts.full_page = pb_json_true(s->step, "fullPage");
  }
  pb_op_result scratch;
  memset(&scratch, 0, sizeof(scratch));
  int rc = pb_op_capture(t->nav, &opts, &scratch, b64);
  if (rc) step_fail(s, "%s: %s", s->action, scratch.message);
  pb_op_result_free(&scratch);
  return rc ? -1 : 0;
}

static int do_screenshot(run *t, step_ctx *s) {
  char *b64 = NULL;
  if (capture(t, s, &b64)) return -1;
  cJSON_DeleteItemFromObjectCaseSensitive(t->screenshots, pb_json_str(s->step, "name"));
  cJSON_AddItemToObject(t->screenshots, pb_json_str(s->step, "name"), cJSON_CreateString(b64));
  free(b64);
  return 0;
}

/* Compares captures with the baseline until they match or time runs out;
 * the last capture and its diff image are kept in the report. */
static int do_expect_screenshot(run *t, step_ctx *s) {
  const char *name = pb_json_str(s->step, "name"), *base_b64 = pb_json_str(s->step, "baseline");
  unsigned char *base = NULL;
  size_t base_len = 0;
  if (pb_base64_decode(base_b64, strlen(base_b64), &base, &base_len))
    return step_fail(s, "baseline: not base64");
  double threshold = pb_json_num(s->step, "threshold", 0.1);
  const cJSON *mp = cJSON_GetObjectItemCaseSensitive(s->step, "maxDiffPixels");
  const cJSON *mr = cJSON_GetObjectItemCaseSensitive(s->step, "maxDiffRatio");
  int64_t max_pixels = cJSON_IsNumber(mp)   ? (int64_t)mp->valuedouble
                       : cJSON_IsNumber(mr) ? INT64_MAX
                                            : 0;
  double max_ratio = cJSON_IsNumber(mr) ? mr->valuedouble : 1;
  int rc = -1, compared = 0;
  for (;;) {
    char *b64 = NULL;
    /* A capture that runs out of time after a comparison leaves that
     * comparison's verdict standing. */
    char last_error[sizeof(s->error)];
    pb_strlcpy(last_error, s->error, sizeof(last_error));
    if (capture(t, s, &b64)) {
      if (compared) pb_strlcpy(s->error, last_error, sizeof(s->error));
      break;
    }
    unsigned char *png = NULL, *diff = NULL;
    size_t len = 0, diff_len = 0;
    pb_pngdiff_result d;
    char err[256];
    int drc = pb_base64_decode(b64, strlen(b64), &png, &len);
    if (!drc)
      drc = pb_pngdiff(base, base_len, png, len, threshold, &d, &diff, &diff_len, err, sizeof(err));
    free(png);
    if (drc) {
      free(b64);
      free(diff);
      step_fail(s, "expectScreenshot '%s': %s", name,
                drc == PB_EINVAL ? "the baseline is not a PNG" : pb_strerror(drc));
      break;
    }
    int ok = !d.size_mismatch && d.diff_pixels <= max_pixels && d.diff_ratio <= max_ratio;
    compared = 1;
    {
      cJSON_Delete(s->value);
      s->value = cJSON_CreateObject();
      cJSON_AddNumberToObject(s->value, "diffPixels", (double)d.diff_pixels);
      cJSON_AddNumberToObject(s->value, "diffRatio", d.diff_ratio);
      cJSON_DeleteItemFromObjectCaseSensitive(t->screenshots, name);
      cJSON_AddItemToObject(t->screenshots, name, cJSON_CreateString(b64));
      if (!ok) {
        char *diff_b64 = NULL;
        char key[300];
        snprintf(key, sizeof(key), "%s-diff", name);
        if (diff && !pb_base64_encode(diff, diff_len, &diff_b64)) {
          cJSON_DeleteItemFromObjectCaseSensitive(t->screenshots, key);
          cJSON_AddItemToObject(t->screenshots, key, cJSON_CreateString(diff_b64));
          cJSON_AddStringToObject(s->value, "diff", key);
        }
        free(diff_b64);
        if (d.size_mismatch)
          step_fail(
              s, "expectScreenshot '%s': the image is not the baseline's size (compared as %dx%d)",
              name, d.width, d.height);
        else
          step_fail(s,
                    "expectScreenshot '%s': %lld pixels (%.2f%%) differ, more than allowed (%s %g)",
                    name, (long long)d.diff_pixels, d.diff_ratio * 100,
                    cJSON_IsNumber(mp) ? "maxDiffPixels" : "maxDiffRatio",
                    cJSON_IsNumber(mp)   ? (double)max_pixels
                    : cJSON_IsNumber(mr) ? max_ratio
                                         : 0.0);
      }
      rc = ok ? 0 : -1;
    }
    free(b64);
    free(diff);
    if (ok || pb_now_ms() + RETRY_MS >= s->deadline) break;
    pump(t, pb_now_ms() + RETRY_MS);
  }
  free(base);
  return rc;
}

static int run_step(run *t, step_ctx *s) {
  const char *a = s->action;
  if (!strcmp(a, "goto")) return do_goto(t, s);
  if (!strcmp(a, "click")) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(s->step, "clickCount");
    return do_click(t, s, cJSON_IsNumber(c) ? c->valueint : 1, 0);
  }
  if (!strcmp(a, "dblclick")) return do_click(t, s, 2, 0);
  if (!strcmp(a, "hover")) return do_click(t, s, 0, 1);
  if (!strcmp(a, "fill")) return do_fill(t, s);
  if (!strcmp(a, "type")) return do_type(t, s);
  if (!strcmp(a, "press")) return do_press(t, s);
  if (!strcmp(a, "select")) return do_select(t, s);
  if (!strcmp(a, "check")) return do_check(t, s, 1);
  if (!strcmp(a, "uncheck")) return do_check(t, s, 0);
  if (!strcmp(a, "scroll")) return do_scroll(t, s);
  if (!strcmp(a, "wait")) {
    int64_t until = pb_now_ms() + (int64_t)pb_json_num(s->step, "ms", 0);
    if (until > t->end) return step_fail(s, "wait: past the script's timeout");
    return pump(t, until) ? step_fail(s, "wait: canceled") : 0;
  }
  if (!strcmp(a, "waitFor")) {
    const char *st = pb_json_str(s->step, "state");
    return do_expect(t, s, st ? st : "visible");
  }
  if (!strcmp(a, "waitForURL") || !strcmp(a, "expectURL")) return do_expect(t, s, "url");
  if (!strcmp(a, "waitForLoadState")) return do_load_state(t, s);
  if (!strcmp(a, "evaluate")) return do_evaluate(t, s);
  if (!strcmp(a, "screenshot")) return do_screenshot(t, s);
  if (!strcmp(a, "expectText")) return do_expect(t, s, "text");
  if (!strcmp(a, "expectVisible")) return do_expect(t, s, "visible");
  if (!strcmp(a, "expectHidden")) return do_expect(t, s, "hidden");
  if (!strcmp(a, "expectCount")) return do_expect(t, s, "count");
  if (!strcmp(a, "expectValue")) return do_expect(t, s, "value");
  if (!strcmp(a, "expectAttribute")) return do_expect(t, s, "attribute");
  if (!strcmp(a, "expectTitle")) return do_expect(t, s, "title");
  if (!strcmp(a, "expectScreenshot")) return do_expect_screenshot(t, s);
  return step_fail(s, "unknown action %s", a);
}

/* ---- the report ------------------------------------------------------ */

static void xml_escape(pb_buf *b, const char *s) {
  for (; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch (c) {
      case '&':
        pb_buf_printf(b, "&amp;");
        break;
      case '<':
        pb_buf_printf(b, "&lt;");
        break;
      case '>':
        pb_buf_printf(b, "&gt;");
        break;
      case '"':
        pb_buf_printf(b, "&quot;");
        break;
      case '\'':
        pb_buf_printf(b, "&apos;");
        break;
      default:
        /* XML 1.0 has no place for most control characters. */
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        pb_buf_append(b, s, 1);
    }
  }
}

int pb_testrun_junit(const cJSON *result, const char *suite, char **xml, size_t *len) {
  *xml = NULL;
  pb_buf b;
  pb_buf_init(&b, (size_t)64 << 20);
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(result, "steps");
  int tests = 0, failures = 0, skipped = 0;
  const cJSON *st;
  cJSON_ArrayForEach(st, steps) {
    const char *status = pb_json_str(st, "status");
    tests++;
    failures += status && !strcmp(status, "failed");
    skipped += status && !strcmp(status, "skipped");
  }
  double secs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(result, "durationMs")) / 1000;
  if (isnan(secs)) secs = 0;
  pb_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  pb_buf_printf(&b, "<testsuites tests=\"%d\" failures=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
                tests, failures, skipped, secs);
  pb_buf_printf(&b, "  <testsuite name=\"");
  xml_escape(&b, suite);
  pb_buf_printf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n",
                tests, failures, skipped, secs);
  cJSON_ArrayForEach(st, steps) {
    const char *status = pb_json_str(st, "status"), *name = pb_json_str(st, "name"), *action = pb_json_str(st, "action");
    /* valueint, not a cast: a missing or huge index must not be UB. */
    const cJSON *ij = cJSON_GetObjectItemCaseSensitive(st, "index");
    int index = cJSON_IsNumber(ij) ? ij->valueint : 0;
    double ms = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "durationMs"));
    pb_buf_printf(&b, "    <testcase classname=\"");
    xml_escape(&b, suite);
    pb_buf_printf(&b, "\" name=\"%d. ", index);
    xml_escape(&b, name ? name : action);
    pb_buf_printf(&b, "\" time=\"%.3f\"", isnan(ms) ? 0 : ms / 1000);
    if (status && !strcmp(status, "failed")) {
      const char *e = pb_json_str(st, "error");
      pb_buf_printf(&b, ">\n      <failure message=\"");
      xml_escape(&b, e);
      pb_buf_printf(&b, "\" type=\"");
      xml_escape(&b, action ? action : "step");
      pb_buf_printf(&b, "\">");
      xml_escape(&b, e);
      pb_buf_printf(&b, "</failure>\n    </testcase>\n");
    } else if (status && !strcmp(status, "skipped")) {
      pb_buf_printf(&b, ">\n      <skipped/>\n    </testcase>\n");
    } else {
      pb_buf_printf(&b, "/>\n");
    }
  }
  const cJSON *console = cJSON_GetObjectItemCaseSensitive(result, "console");
  const cJSON *errs = cJSON_GetObjectItemCaseSensitive(result, "pageErrors");
  if (cJSON_GetArraySize(console) || cJSON_GetArraySize(errs)) {
    pb_buf_printf(&b, "    <system-out>");
    const cJSON *c;
    cJSON_ArrayForEach(c, console) {
      pb_buf_printf(&b, "[%s] ", pb_json_str(c, "type") ? pb_json_str(c, "type") : "log");
      xml_escape(&b, pb_json_str(c, "text"));
      pb_buf_printf(&b, "\n");
    }
    pb_buf_printf(&b, "</system-out>\n");
  }
  if (cJSON_GetArraySize(errs)) {
    pb_buf_printf(&b, "    <system-err>");
    const cJSON *c;
    cJSON_ArrayForEach(c, errs) {
      xml_escape(&b, cJSON_IsString(c) ? c->valuestring : "");
      pb_buf_printf(&b, "\n");
    }
    pb_buf_printf(&b, "</system-err>\n");
  }
  int rc = pb_buf_printf(&b, "  </testsuite>\n</testsuites>\n");
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *xml = pb_buf_steal(&b, len);
  return 0;
}

static void failure_screenshot(run *t, cJSON *result) {
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
  run t;
  memset(&t, 0, sizeof(t));
  t.job = job;
  rc = pb_nav_open(job, res, &t.nav);
  job->opts.page.url = start_url;
  if (rc) return -1;
  t.page = pb_nav_page(t.nav);
  t.end = job->deadline_ms - RESERVE_MS;
  t.lifecycle = LC_DCL | LC_LOAD; /* pb_nav_open waited for the load */
  t.console = cJSON_CreateArray();
  t.page_errors = cJSON_CreateArray();
  t.screenshots = cJSON_CreateObject();
  /* Console messages logged before this are replayed by Runtime.enable. */
  call(&t, "Runtime.enable", NULL, t.end, NULL, NULL, 0);

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
    step_ctx s;
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
      failed = step_fail(&s, "canceled: the client went away");
    } else if (s.timeout_ms <= 0) {
      failed = step_fail(&s, "the script's timeout ran out before this step");
    } else {
      pump(&t, 0);
      /* In a trace each step is an action, named like Playwright's API. */
      char api[64];
      snprintf(api, sizeof(api), "test.%s", action);
      int traced = pb_nav_action_begin(t.nav, api, step);
      failed = run_step(&t, &s) != 0;
      pb_nav_action_end(t.nav, traced, failed ? s.error : NULL);
      pump(&t, 0);
      if (failed && short_of_time && pb_now_ms() >= t.end) {
        char e[sizeof(s.error)];
        pb_strlcpy(e, s.error, sizeof(e));
        step_fail(&s, "%s (the script's timeout ran out)", e);
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
