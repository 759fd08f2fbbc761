/* The test runner's actions, one function each, reading like the
 * Playwright call they stand for. */
#include "common/json.h"
#include "common/pb.h"
#include "ops/testrun_int.h"
#include "render/pngdiff.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_sel(pb__tr_step *s, pb_selector *sel) {
  char why[256];
  if (pb_selector_parse(pb_json_str(s->step, "selector"), sel, why, sizeof(why)))
    return pb__tr_fail(s, "selector: %s", why);
  return 0;
}

/* Waits until the element can take input; *x, *y is the point to use. */
static int actionable(pb__tr_run *t, pb__tr_step *s, const pb_selector *sel, int hit, int editable,
                      double *x, double *y, int *checked) {
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
  int rc = pb__tr_until_ok(t, s, sel, "actionable", o, what, &v);
  cJSON_Delete(o);
  if (rc) return rc;
  *x = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "x"));
  *y = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(v, "y"));
  if (checked) *checked = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "checked"));
  cJSON_Delete(v);
  return 0;
}

static int do_click(pb__tr_run *t, pb__tr_step *s, int count, int move_only) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 1, 0, &x, &y, NULL)) return -1;
  if (pb__tr_mouse(t, s, "mouseMoved", x, y, NULL, 0)) return -1;
  if (move_only) return 0;
  const char *button = pb_json_str(s->step, "button");
  if (!button) button = "left";
  for (int i = 1; i <= count; i++)
    if (pb__tr_mouse(t, s, "mousePressed", x, y, button, i) ||
        pb__tr_mouse(t, s, "mouseReleased", x, y, button, i))
      return -1;
  return 0;
}

static int do_check(pb__tr_run *t, pb__tr_step *s, int want) {
  pb_selector sel;
  double x, y;
  int checked;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 1, 0, &x, &y, &checked)) return -1;
  if (checked == want) return 0;
  if (pb__tr_mouse(t, s, "mouseMoved", x, y, NULL, 0) ||
      pb__tr_mouse(t, s, "mousePressed", x, y, "left", 1) ||
      pb__tr_mouse(t, s, "mouseReleased", x, y, "left", 1))
    return -1;
  cJSON *v = NULL;
  char err[512];
  int rc = pb__tr_helper(t, &sel, "checked", NULL, s->deadline, &v, err, sizeof(err));
  int now = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "checked"));
  cJSON_Delete(v);
  if (!rc && now != want)
    return pb__tr_fail(s, "%s '%s': clicking did not %s the element", s->action, sel.value,
                       want ? "check" : "uncheck");
  return 0;
}

static int do_fill(pb__tr_run *t, pb__tr_step *s) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 1, &x, &y, NULL)) return -1;
  const char *value = pb_json_str(s->step, "value");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "value", value ? value : "");
  cJSON *v = NULL;
  int rc = pb__tr_until_ok(t, s, &sel, "fill", o, "fill", &v);
  cJSON_Delete(o);
  if (rc) return rc;
  int done = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "done"));
  cJSON_Delete(v);
  return done ? 0 : pb__tr_insert_text(t, s, value);
}

static int do_type(pb__tr_run *t, pb__tr_step *s) {
  pb_selector sel;
  double x, y;
  if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 1, &x, &y, NULL) ||
      pb__tr_until_ok(t, s, &sel, "focus", NULL, "type", NULL))
    return -1;
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(s->step, "delay");
  return pb__tr_type_text(t, s, pb_json_str(s->step, "text"), cJSON_IsNumber(d) ? d->valueint : 0);
}

static int do_press(pb__tr_run *t, pb__tr_step *s) {
  pb_key keys[PB_TEST_MAX_KEYS];
  int n;
  char why[256];
  if (pb_key_parse(pb_json_str(s->step, "key"), keys, &n, why, sizeof(why)))
    return pb__tr_fail(s, "key: %s", why);
  if (pb_json_str(s->step, "selector")) {
    pb_selector sel;
    double x, y;
    if (parse_sel(s, &sel) || actionable(t, s, &sel, 0, 0, &x, &y, NULL) ||
        pb__tr_until_ok(t, s, &sel, "focus", NULL, "press", NULL))
      return -1;
  }
  return pb__tr_press_keys(t, s, keys, n);
}

static int do_select(pb__tr_run *t, pb__tr_step *s) {
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
  int rc = pb__tr_until_ok(t, s, &sel, "select", o, what, &v);
  cJSON_Delete(o);
  if (rc) return rc;
  s->value = cJSON_DetachItemFromObjectCaseSensitive(v, "value");
  cJSON_Delete(v);
  return 0;
}

static int do_scroll(pb__tr_run *t, pb__tr_step *s) {
  pb_selector sel;
  int has_sel = pb_json_str(s->step, "selector") != NULL;
  if (has_sel && parse_sel(s, &sel)) return -1;
  cJSON *o = cJSON_CreateObject();
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(s->step, "x");
  const cJSON *y = cJSON_GetObjectItemCaseSensitive(s->step, "y");
  cJSON_AddNumberToObject(o, "x", cJSON_IsNumber(x) ? x->valuedouble : 0);
  cJSON_AddNumberToObject(o, "y", cJSON_IsNumber(y) ? y->valuedouble : 0);
  int rc = pb__tr_until_ok(t, s, has_sel ? &sel : NULL, "scroll", o, "scroll", NULL);
  cJSON_Delete(o);
  return rc;
}

/* An expectation or wait that the page helper checks in one go. */
static int do_expect(pb__tr_run *t, pb__tr_step *s, const char *kind) {
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
  int rc = pb__tr_until_ok(t, s, has_sel ? &sel : NULL, "expect", o, what, NULL);
  cJSON_Delete(o);
  return rc;
}

static int do_goto(pb__tr_run *t, pb__tr_step *s) {
  const char *url = pb_json_str(s->step, "url");
  char err[512];
  int rc = pb_egress_check_url(t->job->env->egress, url, err, sizeof(err));
  if (rc) return pb__tr_fail(s, "goto %s: %s", url, err);
  const char *wu = pb_json_str(s->step, "waitUntil");
  unsigned want = !wu || !strcmp(wu, "load")        ? PB__TR_LC_LOAD
                  : !strcmp(wu, "domcontentloaded") ? PB__TR_LC_DCL
                  : !strcmp(wu, "networkidle0")     ? PB__TR_LC_NET_IDLE
                                                    : PB__TR_LC_NET_ALMOST_IDLE;
  if ((rc = pb__tr_pump(t, 0))) return pb__tr_fail(s, "goto: %s", pb_strerror(rc));
  cJSON *p = cJSON_CreateObject(), *nav = NULL;
  cJSON_AddStringToObject(p, "url", url);
  int64_t t_nav = pb_now_ms();
  rc = pb__tr_call(t, "Page.navigate", p, s->deadline, &nav, err, sizeof(err));
  if (rc == PB_ETIMEOUT)
    return pb__tr_fail(s, "goto %s: no response within %d ms", url, s->timeout_ms);
  if (rc) return pb__tr_fail(s, "goto %s: %s", url, rc == PB_ECDP ? err : pb_strerror(rc));
  const char *et = pb_json_str(nav, "errorText"), *loader = pb_json_str(nav, "loaderId");
  if (et && *et) {
    /* A failed tunnel or an empty response is what the egress proxy made of
     * a refusal or an upstream failure: say which, as it recorded it. */
    char said[200];
    int why = PB_EGRESS_WHY_NONE;
    if (!strcmp(et, "net::ERR_TUNNEL_CONNECTION_FAILED") || !strcmp(et, "net::ERR_EMPTY_RESPONSE"))
      why = pb_nav_egress_why(t->job->env, t->page, url, t_nav, said, sizeof(said));
    if (why == PB_EGRESS_WHY_REFUSED)
      pb__tr_fail(s, "goto %s: refused by the egress guard (%s)", url, said);
    else if (pb_egress_why_net_error(why))
      pb__tr_fail(s, "goto %s: %s (%s)", url, pb_egress_why_net_error(why), said);
    else
      pb__tr_fail(s, "goto %s: %s", url, et);
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
      return pb__tr_fail(s, "goto %s: '%s' did not happen within %d ms", url, wu ? wu : "load",
                         s->timeout_ms);
    int64_t until = pb_now_ms() + 50;
    if ((rc = pb__tr_pump(t, until < s->deadline ? until : s->deadline)))
      return pb__tr_fail(s, "goto: %s", pb_strerror(rc));
  }
  return 0;
}

static int do_load_state(pb__tr_run *t, pb__tr_step *s) {
  const char *st = pb_json_str(s->step, "state");
  unsigned want = !st || !strcmp(st, "load")        ? PB__TR_LC_LOAD
                  : !strcmp(st, "domcontentloaded") ? PB__TR_LC_DCL
                  : !strcmp(st, "networkidle")      ? PB__TR_LC_NET_IDLE
                                                    : 0;
  if (!want)
    return pb__tr_fail(s, "state: waitForLoadState takes load, domcontentloaded or networkidle");
  for (;;) {
    int rc = pb__tr_pump(t, 0);
    if (rc) return pb__tr_fail(s, "waitForLoadState: %s", pb_strerror(rc));
    if (t->lifecycle & want) return 0;
    if (pb_now_ms() >= s->deadline)
      return pb__tr_fail(s, "waitForLoadState: '%s' did not happen within %d ms", st ? st : "load",
                         s->timeout_ms);
    pb__tr_pump(t, pb_now_ms() + 50);
  }
}

static int do_evaluate(pb__tr_run *t, pb__tr_step *s) {
  cJSON *v = NULL;
  char err[1024];
  int rc =
      pb_nav_eval(t->nav, pb_json_str(s->step, "expression"), s->deadline, &v, err, sizeof(err));
  if (rc == PB_ETIMEOUT)
    return pb__tr_fail(s, "evaluate: still running after %d ms; the script was terminated",
                       s->timeout_ms);
  if (rc == PB_EINVAL) return pb__tr_fail(s, "evaluate: %s", err);
  if (rc) return pb__tr_fail(s, "evaluate: %s", rc == PB_ECDP ? err : pb_strerror(rc));
  char *j = v ? cJSON_PrintUnformatted(v) : NULL;
  size_t len = j ? strlen(j) : 0;
  free(j);
  if (len > PB_TEST_EVALUATE_MAX_RESULT) {
    cJSON_Delete(v);
    return pb__tr_fail(s, "evaluate: the result is %zu bytes of JSON, over the cap of %u", len,
                       PB_TEST_EVALUATE_MAX_RESULT);
  }
  s->value = v ? v : cJSON_CreateNull();
  return 0;
}

/* A PNG of the page, or of the element the step names. */
static int capture(pb__tr_run *t, pb__tr_step *s, char **b64) {
  *b64 = NULL;
  pb_screenshot_opts opts = {.type = "png", .quality = -1};
  if (pb_json_str(s->step, "selector")) {
    pb_selector sel;
    cJSON *box = NULL;
    char what[1100];
    snprintf(what, sizeof(what), "%s '%s'", s->action, pb_json_str(s->step, "selector"));
    if (parse_sel(s, &sel) || pb__tr_until_ok(t, s, &sel, "box", NULL, what, &box)) return -1;
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
  if (rc) pb__tr_fail(s, "%s: %s", s->action, scratch.message);
  pb_op_result_free(&scratch);
  return rc ? -1 : 0;
}

static int do_screenshot(pb__tr_run *t, pb__tr_step *s) {
  char *b64 = NULL;
  if (capture(t, s, &b64)) return -1;
  cJSON_DeleteItemFromObjectCaseSensitive(t->screenshots, pb_json_str(s->step, "name"));
  cJSON_AddItemToObject(t->screenshots, pb_json_str(s->step, "name"), cJSON_CreateString(b64));
  free(b64);
  return 0;
}

/* Compares captures with the baseline until they match or time runs out;
 * the last capture and its diff image are kept in the report. */
static int do_expect_screenshot(pb__tr_run *t, pb__tr_step *s) {
  const char *name = pb_json_str(s->step, "name"), *base_b64 = pb_json_str(s->step, "baseline");
  unsigned char *base = NULL;
  size_t base_len = 0;
  if (pb_base64_decode(base_b64, strlen(base_b64), &base, &base_len))
    return pb__tr_fail(s, "baseline: not base64");
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
      pb__tr_fail(s, "expectScreenshot '%s': %s", name,
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
          pb__tr_fail(
              s, "expectScreenshot '%s': the image is not the baseline's size (compared as %dx%d)",
              name, d.width, d.height);
        else
          pb__tr_fail(
              s, "expectScreenshot '%s': %lld pixels (%.2f%%) differ, more than allowed (%s %g)",
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
    if (ok || pb_now_ms() + PB__TR_RETRY_MS >= s->deadline) break;
    pb__tr_pump(t, pb_now_ms() + PB__TR_RETRY_MS);
  }
  free(base);
  return rc;
}

int pb__tr_run_step(pb__tr_run *t, pb__tr_step *s) {
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
    if (until > t->end) return pb__tr_fail(s, "wait: past the script's timeout");
    return pb__tr_pump(t, until) ? pb__tr_fail(s, "wait: canceled") : 0;
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
  return pb__tr_fail(s, "unknown action %s", a);
}
