/* The one reader of request bodies for the quick actions. The schema has
 * checked types, ranges and enums, so each member is read as the schema
 * says; the getters (common/json.h) still fall back to defaults rather than
 * trust a shape. */
#include "http/options.h"

#include "common/json.h"
#include "http/cfopts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void read_page(const cJSON *b, pb_page_opts *p) {
  p->url = pb_json_str(b, "url");
  p->html = pb_json_str(b, "html");
  p->base_url = pb_json_str(b, "baseUrl");

  const cJSON *go = pb_json_get(b, "gotoOptions");
  const cJSON *wu = pb_json_get(go, "waitUntil");
  if (cJSON_IsArray(wu)) {
    /* All of them (Puppeteer): the first names the wait in messages. */
    const cJSON *w;
    cJSON_ArrayForEach(w, wu) {
      if (!cJSON_IsString(w)) continue;
      pb_wait_until x = pb_wait_until_parse(w->valuestring);
      if (!p->go.wait_all) p->go.wait_until = x;
      p->go.wait_all |= 1u << x;
    }
  } else {
    p->go.wait_until = pb_wait_until_parse(pb_json_str(go, "waitUntil"));
  }
  p->go.referrer_policy = pb_referrer_policy_cdp(pb_json_str(go, "referrerPolicy"));
  p->go.timeout_ms = pb_json_int(go, "timeout", p->go.timeout_ms);
  p->go.referer = pb_json_str(go, "referer");

  const cJSON *wfs = pb_json_get(b, "waitForSelector");
  if (wfs) {
    /* Present means waited for, even with a selector the page rejects. */
    const char *sel = pb_json_str(wfs, "selector");
    p->wait_selector.selector = sel ? sel : "";
    p->wait_selector.timeout_ms = pb_json_int(wfs, "timeout", p->wait_selector.timeout_ms);
    p->wait_selector.visible = pb_json_true(wfs, "visible");
    p->wait_selector.hidden = pb_json_true(wfs, "hidden");
  }
  const cJSON *wff = pb_json_get(b, "waitForFunction");
  if (wff) {
    const char *fn = pb_json_str(wff, "fn");
    p->wait_function.fn = fn ? fn : "";
    p->wait_function.timeout_ms = pb_json_int(wff, "timeout", p->wait_function.timeout_ms);
    const cJSON *poll = pb_json_get(wff, "polling");
    if (cJSON_IsNumber(poll)) {
      p->wait_function.polling_raf = 0;
      p->wait_function.polling_ms = poll->valueint;
    } else if (cJSON_IsString(poll) && !strcmp(poll->valuestring, "mutation")) {
      p->wait_function.polling_raf = 0;
      p->wait_function.polling_mutation = 1;
    }
  }
  const cJSON *wfe = pb_json_get(b, "waitForEvent");
  if (wfe) {
    const char *ev = pb_json_str(wfe, "event");
    p->wait_event.event = ev ? ev : "";
    p->wait_event.timeout_ms = pb_json_int(wfe, "timeout", p->wait_event.timeout_ms);
  }
  p->wait_for_timeout_ms = pb_json_int(b, "waitForTimeout", 0);
  p->best_attempt = pb_json_true(b, "bestAttempt");
  p->scroll_page = pb_json_true(b, "scrollPage");
  p->action_timeout_ms = pb_json_int(b, "actionTimeout", -1);
  p->trace = pb_json_true(b, "trace");

  const cJSON *vp = pb_json_get(b, "viewport");
  p->viewport.width = pb_json_int(vp, "width", p->viewport.width);
  p->viewport.height = pb_json_int(vp, "height", p->viewport.height);
  p->viewport.dsf = pb_json_num(vp, "deviceScaleFactor", p->viewport.dsf);
  p->viewport.is_mobile = pb_json_true(vp, "isMobile");
  p->viewport.has_touch = pb_json_true(vp, "hasTouch");
  p->viewport.is_landscape = pb_json_true(vp, "isLandscape");

  p->user_agent = pb_json_str(b, "userAgent");
  p->extra_headers = pb_json_get(b, "setExtraHTTPHeaders");
  p->cookies = pb_json_get(b, "cookies");
  p->media = pb_json_str(b, "emulateMediaType");
  p->javascript_disabled = cJSON_IsFalse(pb_json_get(b, "setJavaScriptEnabled"));
  const cJSON *auth = pb_json_get(b, "authenticate");
  p->auth_user = pb_json_str(auth, "username");
  p->auth_pass = pb_json_str(auth, "password");

  static const char *const type_lists[2] = {"rejectResourceTypes", "allowResourceTypes"};
  unsigned *masks[2] = {&p->reject_types, &p->allow_types};
  for (int k = 0; k < 2; k++) {
    const cJSON *t;
    cJSON_ArrayForEach(t, pb_json_get(b, type_lists[k])) {
      int i = cJSON_IsString(t) ? pb_resource_type_index(t->valuestring) : -1;
      if (i >= 0) *masks[k] |= 1u << i;
    }
  }
  static const char *const pattern_lists[2] = {"rejectRequestPattern", "allowRequestPattern"};
  const char **patterns[2] = {p->reject_patterns, p->allow_patterns};
  int *npatterns[2] = {&p->nreject_patterns, &p->nallow_patterns};
  for (int k = 0; k < 2; k++) {
    const cJSON *t;
    cJSON_ArrayForEach(t, pb_json_get(b, pattern_lists[k])) {
      if (cJSON_IsString(t) && *npatterns[k] < PB_MAX_PATTERNS)
        patterns[k][(*npatterns[k])++] = t->valuestring;
    }
  }
  static const char *const tag_lists[2] = {"addScriptTag", "addStyleTag"};
  pb_tag_opts *tags[2] = {p->script_tags, p->style_tags};
  int *ntags[2] = {&p->nscript_tags, &p->nstyle_tags};
  for (int k = 0; k < 2; k++) {
    const cJSON *t;
    cJSON_ArrayForEach(t, pb_json_get(b, tag_lists[k])) {
      if (*ntags[k] >= PB_MAX_TAGS) break;
      pb_tag_opts *tag = &tags[k][(*ntags[k])++];
      tag->url = pb_json_str(t, "url");
      tag->content = pb_json_str(t, "content");
      tag->type = pb_json_str(t, "type");
      tag->id = pb_json_str(t, "id");
    }
  }
}

static void read_screenshot(const cJSON *b, pb_screenshot_opts *s) {
  const cJSON *o = pb_json_get(b, "screenshotOptions");
  /* Browserless calls it "options". */
  if (!o) o = pb_json_get(b, "options");
  const char *type = pb_json_str(o, "type");
  if (type) s->type = type;
  s->quality = pb_json_int(o, "quality", -1);
  s->optimize_for_speed = pb_json_true(o, "optimizeForSpeed");
  s->full_page = pb_json_true(o, "fullPage");
  s->omit_background = pb_json_true(o, "omitBackground");
  s->base64 = !strcmp(pb_json_str(o, "encoding") ? pb_json_str(o, "encoding") : "", "base64");
  int fs = pb_json_bool(o, "fromSurface", -1), bv = pb_json_bool(o, "captureBeyondViewport", -1);
  s->from_surface = fs < 0 ? 0 : fs ? 1 : -1;
  s->beyond_viewport = bv < 0 ? 0 : bv ? 1 : -1;
  const cJSON *clip = pb_json_get(o, "clip");
  if (clip) {
    s->clip_scale = pb_json_num(clip, "scale", 1);
    s->has_clip = 1;
    s->clip_x = pb_json_num(clip, "x", 0);
    s->clip_y = pb_json_num(clip, "y", 0);
    s->clip_w = pb_json_num(clip, "width", 0);
    s->clip_h = pb_json_num(clip, "height", 0);
  }
  s->selector = pb_json_str(b, "selector");
}

static const struct {
  const char *name;
  double w, h; /* inches */
} paper[] = {
    {"letter", 8.5, 11}, {"legal", 8.5, 14}, {"tabloid", 11, 17}, {"ledger", 17, 11},
    {"a0", 33.1, 46.8},  {"a1", 23.4, 33.1}, {"a2", 16.54, 23.4}, {"a3", 11.7, 16.54},
    {"a4", 8.27, 11.7},  {"a5", 5.83, 8.27}, {"a6", 4.13, 5.83},
};

/* A length as Puppeteer takes it: a number of CSS px, or a string with px,
 * in, cm or mm. Returns inches, or NAN when malformed. */
static double length_in(const cJSON *v) {
  if (cJSON_IsNumber(v)) return v->valuedouble / 96.0;
  if (!cJSON_IsString(v)) return NAN;
  char *end = NULL;
  double x = strtod(v->valuestring, &end);
  if (end == v->valuestring || x < 0) return NAN;
  while (*end == ' ') end++;
  if (!*end || !strcasecmp(end, "px")) return x / 96.0;
  if (!strcasecmp(end, "in")) return x;
  if (!strcasecmp(end, "cm")) return x / 2.54;
  if (!strcasecmp(end, "mm")) return x / 25.4;
  return NAN;
}

static void read_pdf(const cJSON *b, pb_pdf_opts *p) {
  const cJSON *o = pb_json_get(b, "pdfOptions");
  if (!o) o = pb_json_get(b, "options");
  const char *fmt = pb_json_str(o, "format");
  for (size_t i = 0; fmt && i < sizeof(paper) / sizeof(paper[0]); i++) {
    if (!strcasecmp(paper[i].name, fmt)) {
      p->width_in = paper[i].w;
      p->height_in = paper[i].h;
    }
  }
  const cJSON *w = pb_json_get(o, "width"), *h = pb_json_get(o, "height");
  if (w) p->width_in = length_in(w);
  if (h) p->height_in = length_in(h);
  static const char *const sides[4] = {"top", "right", "bottom", "left"};
  const cJSON *margin = pb_json_get(o, "margin");
  for (int i = 0; i < 4; i++) {
    const cJSON *m = pb_json_get(margin, sides[i]);
    p->margin_in[i] = m ? length_in(m) : 0;
  }
  p->landscape = pb_json_bool(o, "landscape", -1);
  p->print_background = pb_json_bool(o, "printBackground", -1);
  p->display_header_footer = pb_json_bool(o, "displayHeaderFooter", -1);
  p->prefer_css_page_size = pb_json_bool(o, "preferCSSPageSize", -1);
  p->outline = pb_json_bool(o, "outline", -1);
  p->tagged = pb_json_bool(o, "tagged", -1);
  p->page_ranges = pb_json_str(o, "pageRanges");
  p->header_template = pb_json_str(o, "headerTemplate");
  p->footer_template = pb_json_str(o, "footerTemplate");
  const cJSON *scale = pb_json_get(o, "scale");
  p->has_scale = cJSON_IsNumber(scale);
  p->scale = p->has_scale ? scale->valuedouble : 1;
  p->timeout_ms = pb_json_int(o, "timeout", p->timeout_ms);
  p->omit_background = pb_json_true(o, "omitBackground");
}

static void read_markdown(const cJSON *b, pb_markdown_opts *m) {
  const char *mode = pb_json_str(b, "mode");
  m->readable = !mode || !strcmp(mode, "readable");
  m->frontmatter = pb_json_true(b, "frontmatter");
  char err[sizeof(m->md_error)];
  if (pb_md_opts_from_json(pb_json_get(b, "markdownOptions"), &m->md, err, sizeof(err))) {
    m->md_invalid = 1;
    snprintf(m->md_error, sizeof(m->md_error), "%s", err);
  }
}

void pb_request_from_json(const cJSON *body, pb_request *out) {
  pb_request_default(out);
  const cJSON *b = body;
  const cJSON *t = pb_json_get(b, "timeout");
  if (cJSON_IsNumber(t) && t->valueint > 0) out->timeout_ms = t->valueint;
  read_page(b, &out->page);
  read_screenshot(b, &out->shot);
  read_pdf(b, &out->pdf);
  const cJSON *el;
  cJSON_ArrayForEach(el, pb_json_get(b, "elements")) {
    const char *s = pb_json_str(el, "selector");
    if (s && out->nscrape_selectors < PB_MAX_SCRAPE_ELEMENTS) {
      out->scrape_timeouts[out->nscrape_selectors] = pb_json_int(el, "timeout", 0);
      out->scrape_selectors[out->nscrape_selectors++] = s;
    }
  }
  out->links_visible_only = pb_json_true(b, "visibleLinksOnly");
  out->links_exclude_external = pb_json_true(b, "excludeExternalLinks");
  read_markdown(b, &out->markdown);
  out->test.script = b;
  out->test.steps = pb_json_get(b, "steps");
  out->test.step_timeout_ms = pb_json_int(b, "stepTimeout", out->test.step_timeout_ms);
  const cJSON *ka = pb_json_get(b, "keep_alive");
  if (cJSON_IsNumber(ka)) out->keep_alive_ms = (int64_t)ka->valuedouble;
  out->session_id = pb_json_str(b, "sessionId");
  out->id = pb_json_str(b, "id");
  out->name = pb_json_str(b, "name");
  const cJSON *ctx = pb_json_get(b, "context");
  out->context_id = pb_json_str(ctx, "id");
  out->context_persist = pb_json_true(ctx, "persist");
  out->live = pb_json_true(b, "live");
  out->live_mode = pb_json_str(b, "mode");
  out->live_ttl_ms = (int64_t)pb_json_int(b, "ttl", 0) * 1000;
  out->record = pb_json_true(b, "record");
  out->record_max_mib = (int)pb_json_int(b, "recordMaxMiB", 0);
  out->handoff_message = pb_json_str(b, "message");
  out->handoff_timeout_ms = pb_json_int(b, "timeout", 0);
  out->body = b;
  pb_cf_opts_read(b, &out->cf);
}

void pb_request_accept(const cJSON *body, const char *accept, pb_request *out) {
  const cJSON *o = pb_json_get(body, "screenshotOptions");
  if (!o) o = pb_json_get(body, "options");
  if (!accept || pb_json_get(o, "type")) return;
  /* The first image type listed that we make; image/png, image/ and
   * star-slash-star keep the default. q-values are not weighed: clients
   * that send one image type send it alone. */
  static const char *const types[][2] = {
      {"image/png", "png"}, {"image/jpeg", "jpeg"}, {"image/webp", "webp"}};
  const char *best = NULL, *at = NULL;
  for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
    const char *p = strcasestr(accept, types[i][0]);
    if (p && (!at || p < at)) {
      at = p;
      best = types[i][1];
    }
  }
  if (best) out->shot.type = best;
}
