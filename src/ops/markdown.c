/* POST /browser/markdown: the page as Markdown. Readable mode runs Mozilla's
 * Readability on a clone of the rendered document inside the page (like a
 * reader view) and converts what it returns; full mode converts the whole
 * rendered document. Conversion is render/html2md, in C. */
#include "common/json.h"
#include "ops/markdown.h"
#include "render/html2md.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char pb_readability_js[];
extern const unsigned long pb_readability_js_len;

/* Extraction with too little text falls back to the full page. */
#define READABLE_MIN_CHARS 140

/* Page facts for the front matter. */
static const char page_js[] =
    "() => { const meta = (...names) => { for (const n of names) {"
    "  const el = document.querySelector(`meta[name=\"${n}\"],meta[property=\"${n}\"]`);"
    "  if (el && el.content) return el.content; } return null; };"
    " return { url: location.href, title: document.title || null,"
    "  description: meta('description', 'og:description', 'twitter:description'),"
    "  byline: meta('author', 'article:author'),"
    "  published: meta('article:published_time', 'date', 'datePublished', 'og:published_time') }; }";

/* The extraction, in the page: (src, readable, minChars) with Readability.js
 * inside. It reads the rendered document and, when that looks emptied or
 * hidden by the page's own scripts, the document as it was before they ran:
 * src (the posted html; for a URL, the page fetched again from the page,
 * through the HTTP cache, only then, for 3 s at most) parsed by DOMParser, which runs no
 * script. Signals: the rendered text is under half the served text
 * (emptied or replaced), or most of it is hidden (innerText under half of
 * textContent), or readable mode found less than Readability's own 500
 * characters. The pre-script document wins when it gives clearly more. The
 * answer: the article (readable mode) or the full document's html, and
 * which document it came from (prescript). Readability is skipped on a DOM
 * whose depths add up past 4 million (script-built nesting: its walks would
 * take many seconds): heavy. */
static const char extract_tail[] =
    "\n;const clean = (root) => { const c = root.cloneNode(true);"
    "  for (const e of c.querySelectorAll('script,style,noscript,template')) e.remove(); return c; };"
    " const norm = (t) => t.replace(/\\s+/g, ' ').trim().length;"
    " const textLen = (doc) => doc && doc.body ? norm(clean(doc.body).textContent) : 0;"
    " const heavy = (doc) => { let sum = 0; const st = doc.documentElement ? [doc.documentElement, 0] : [];"
    "  while (st.length) { const k = st.pop(), e = st.pop(); sum += k; if (sum > 4e6) return true;"
    "   for (let c = e.firstElementChild; c; c = c.nextElementSibling) st.push(c, k + 1); } return false; };"
    " let heavyDom = false;"
    /* a wrapper of a formula only (MathJax's carry menu classes that
     * Readability takes for boilerplate) is content: its class and id are
     * not shown to Readability's unlikely-candidate test */
    " const keepMath = (d) => { for (const m of d.querySelectorAll('math')) { const n = norm(m.textContent);"
    "  for (let e = m.parentElement; e && e !== d.body && norm(e.textContent) <= n * 1.2 + 20; e = e.parentElement)"
    "   { e.removeAttribute('class'); e.removeAttribute('id'); } } return d; };"
    " const read = (doc) => { if (heavy(doc)) { heavyDom = true; return null; }"
    "  const a = new Readability(keepMath(doc.cloneNode(true)), {keepClasses: true}).parse();"
    "  return a && a.content ? {title: a.title, content: a.content, byline: a.byline, excerpt: a.excerpt,"
    "   publishedTime: a.publishedTime, length: a.length} : null; };"
    " const full = (doc) => doc.documentElement ? doc.documentElement.outerHTML : '';"
    " const ok = (a) => a && a.length >= minChars;"
    /* the served text, roughly, without parsing: tags and raw text out */
    " const approx = (h) => norm(h.replace(/<(script|style|noscript|template)\\b[\\s\\S]*?<\\/\\1\\s*>/gi, ' ')"
    "  .replace(/<!--[\\s\\S]*?-->/g, ' ').replace(/<[^>]*>/g, ' ').replace(/&#?\\w+;/g, 'x'));"
    " const liveLen = textLen(document);"
    " const hidden = readable && document.body && norm(document.body.innerText) < liveLen / 2;"
    " const live = readable ? read(document) : null;"
    " let doubt = hidden || (readable ? !live || live.length < 500 : liveLen < 500);"
    " if (typeof src !== 'string' && doubt && /^https?:/.test(location.href)) {"
    "  try { const r = await fetch(location.href, {cache: 'force-cache', credentials: 'include',"
    "    signal: AbortSignal.timeout(3000)});"
    "   if (r.ok && /html/i.test(r.headers.get('content-type') || '')) src = await r.text(); } catch (e) {} }"
    " const srcLen = typeof src === 'string' ? approx(src) : 0;"
    " const emptied = srcLen >= minChars && liveLen < srcLen / 2;"
    " let pre = null;"
    " if (emptied || (!heavyDom && srcLen >= minChars && doubt && (readable || liveLen < minChars)))"
    "  pre = new DOMParser().parseFromString(src, 'text/html');"
    " if (readable) {"
    "  const p = pre ? read(pre) : null;"
    "  if (ok(p) && (!ok(live) || p.length >= live.length * 1.5)) return {article: p, prescript: true, heavy: heavyDom};"
    "  if (ok(live)) return {article: live, prescript: false, heavy: heavyDom};"
    " }"
    " return pre && textLen(pre) > liveLen * 2 ? {html: full(pre), prescript: true, heavy: heavyDom}"
    "  : {html: full(document), prescript: false, heavy: heavyDom}; }";

/* Runs the extraction with src (NULL: none); *out as extract_tail says. */
static int extract(pb_nav *nav, const char *src, int want_readable, cJSON **out, char *err, size_t cap) {
  pb_buf js;
  pb_buf_init(&js, (size_t)4 << 20);
  int rc = pb_buf_append(&js, "async (src, readable, minChars) => {\n", 37);
  if (!rc && pb_readability_js_len) rc = pb_buf_append(&js, pb_readability_js, pb_readability_js_len);
  if (!rc) rc = pb_buf_append(&js, extract_tail, sizeof(extract_tail) - 1);
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, src ? cJSON_CreateString(src) : cJSON_CreateNull());
  cJSON_AddItemToArray(args, cJSON_CreateBool(want_readable && pb_readability_js_len));
  cJSON_AddItemToArray(args, cJSON_CreateNumber(READABLE_MIN_CHARS));
  if (!rc) rc = pb_nav_apply(nav, js.data, args, out, err, cap);
  cJSON_Delete(args);
  pb_buf_free(&js);
  return rc;
}

/* Adds one sentence to the answer's note ("; " between them). */
static void add_note(char *note, size_t cap, const char *fmt, ...) {
  size_t n = strlen(note);
  if (n && n + 2 < cap) {
    memcpy(note + n, "; ", 3);
    n += 2;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(note + n, cap - n, fmt, ap);
  va_end(ap);
}

/* A YAML scalar in double quotes, escaped. */
static void yaml_field(pb_buf *b, const char *key, const char *value) {
  if (!value || !*value) return;
  pb_buf_printf(b, "%s: \"", key);
  for (const char *p = value; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\')
      pb_buf_printf(b, "\\%c", c);
    else if (c == '\n')
      pb_buf_append(b, "\\n", 2);
    else if (c < 0x20)
      pb_buf_printf(b, "\\x%02x", c);
    else
      pb_buf_append(b, p, 1);
  }
  pb_buf_append(b, "\"\n", 2);
}

/* 1 if md opens with a level-1 heading (ATX or setext) whose text is title. */
static int starts_with_title(const char *md, const char *title) {
  size_t tl = strlen(title);
  if (!strncmp(md, "# ", 2) && !strncmp(md + 2, title, tl) && (md[2 + tl] == '\n' || !md[2 + tl]))
    return 1;
  return !strncmp(md, title, tl) && md[tl] == '\n' && md[tl + 1] == '=';
}

int pb_markdown_page(pb_job *job, pb_nav *nav, char **md_out, int *readable, char *note,
                     size_t notecap, pb_op_result *res) {
  const pb_markdown_opts *mo = &job->opts.markdown;
  int want_readable = mo->readable, frontmatter = mo->frontmatter;
  pb_md_opts opts = mo->md;
  char err[512];
  *md_out = NULL;
  *readable = 0;
  if (notecap) note[0] = '\0';
  if (mo->md_invalid)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "markdownOptions: %s", mo->md_error);
  cJSON *args = cJSON_CreateArray(), *page = NULL, *article = NULL, *got = NULL;
  int rc = pb_nav_apply(nav, page_js, args, &page, err, sizeof(err));
  cJSON_Delete(args);
  if (rc)
    return rc == PB_EINVAL ? pb_op_fail(res, PB_CODE_PAGE_ERROR, "reading the page: %s", err)
                           : pb_op_fail_rc(res, rc, "reading the page");
  long long dom_only = pb_nav_dom_only(nav);
  if (dom_only)
    add_note(note, notecap,
             "the page's '%s' did not happen within %lld ms (its subresources were still loading); "
             "converted the page as it was after DOMContentLoaded",
             pb_wait_until_name(job->opts.page.go.wait_until), dom_only);
  if (want_readable && pb_readability_js_len == 0)
    add_note(note, notecap, "readable mode is not available in this build; converted the full page");
  /* the posted html is the pre-script document; a URL's is fetched again
   * by the page only when the rendered one is in doubt */
  const char *posted = job->opts.page.html;
  rc = extract(nav, posted, want_readable, &got, err, sizeof(err));
  if (rc) {
    cJSON_Delete(page);
    return rc == PB_EINVAL ? pb_op_fail(res, PB_CODE_PAGE_ERROR, "extracting the content: %s", err)
                           : pb_op_fail_rc(res, rc, "extracting the content");
  }
  article = cJSON_DetachItemFromObjectCaseSensitive(got, "article");
  if (!cJSON_IsObject(article) || !pb_json_str(article, "content")) {
    cJSON_Delete(article);
    article = NULL;
  }
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(got, "prescript")))
    add_note(note, notecap,
             "the page's own scripts emptied or hid its content; converted the page as it was before its "
             "scripts ran");
  if (want_readable && pb_readability_js_len && !article)
    add_note(note, notecap,
             cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(got, "heavy"))
                 ? "the page is nested too deeply for readable mode; converted the full page"
                 : "the page has too little main content for readable mode; converted the full page");

  const char *url = pb_json_str(page, "url");
  if (url && !opts.base_url[0]) pb_strlcpy(opts.base_url, url, sizeof(opts.base_url));
  const char *html = article ? pb_json_str(article, "content") : pb_json_str(got, "html");
  char *md = NULL;
  size_t md_len = 0;
  rc = pb_html2md(html ? html : "", html ? strlen(html) : 0, &opts, &md, &md_len);
  if (rc) {
    cJSON_Delete(page);
    cJSON_Delete(article);
    cJSON_Delete(got);
    if (rc == PB_ETOOBIG) /* size only: deep nesting is capped, never refused */
      return pb_op_fail(res, PB_CODE_PAGE_TOO_LARGE,
                        "the page is too large to convert: its HTML is over %zu MiB or its Markdown over %zu MiB",
                        opts.max_input >> 20, opts.max_output >> 20);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "converting to Markdown: %s", pb_strerror(rc));
  }
  pb_buf out;
  pb_buf_init(&out, (size_t)128 << 20);
  if (frontmatter) {
    const char *title = article && pb_json_str(article, "title") ? pb_json_str(article, "title") : pb_json_str(page, "title");
    const char *desc = pb_json_str(page, "description") ? pb_json_str(page, "description")
                                                   : article ? pb_json_str(article, "excerpt") : NULL;
    const char *by = article && pb_json_str(article, "byline") ? pb_json_str(article, "byline") : pb_json_str(page, "byline");
    const char *pub = article && pb_json_str(article, "publishedTime") ? pb_json_str(article, "publishedTime")
                                                                  : pb_json_str(page, "published");
    pb_buf_append(&out, "---\n", 4);
    yaml_field(&out, "title", title);
    yaml_field(&out, "url", url);
    yaml_field(&out, "description", desc);
    yaml_field(&out, "byline", by);
    yaml_field(&out, "published", pub);
    pb_buf_append(&out, "---\n\n", 5);
  }
  /* Readability lifts the title out of the content; a reader view shows it
   * on top, in the heading style asked for, unless the content opens with
   * that very heading. */
  const char *atitle = article ? pb_json_str(article, "title") : NULL;
  if (atitle && *atitle && !starts_with_title(md, atitle)) {
    int atx = opts.heading_style == PB_MD_HEADING_ATX;
    if (atx) pb_buf_append(&out, "# ", 2);
    for (const char *t = atitle; *t; t++) pb_buf_append(&out, *t == '\n' ? " " : t, 1);
    if (!atx) {
      pb_buf_append(&out, "\n", 1);
      for (size_t i = strlen(atitle); i > 0; i--) pb_buf_append(&out, "=", 1);
    }
    pb_buf_append(&out, "\n\n", 2);
  }
  rc = pb_buf_append(&out, md, md_len);
  free(md);
  *readable = article != NULL;
  cJSON_Delete(page);
  cJSON_Delete(article);
  cJSON_Delete(got);
  if (rc) {
    pb_buf_free(&out);
    return pb_op_fail(res, PB_CODE_PAGE_TOO_LARGE, "the Markdown is too large");
  }
  *md_out = out.data ? out.data : strdup("");
  if (!*md_out) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  return 0;
}

int pb_op_markdown(pb_job *job, pb_op_result *res) {
  if (job->opts.markdown.md_invalid)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "markdownOptions: %s", job->opts.markdown.md_error);
  /* the DOM is enough: a page whose 'load' never comes (subresources that
   * never answer) is converted as it is after DOMContentLoaded */
  job->opts.page.dom_fallback = 1;
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  char *md = NULL, note[640];
  int readable = 0;
  int rc = pb_markdown_page(job, nav, &md, &readable, note, sizeof(note), res);
  pb_nav_close(nav, res);
  if (rc) return -1;
  /* The envelope carries which mode produced the text. */
  cJSON *env = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddStringToObject(env, "result", md);
  cJSON_AddStringToObject(env, "mode", readable ? "readable" : "full");
  if (note[0]) cJSON_AddStringToObject(env, "note", note);
  free(md);
  return pb_op_json_object(res, env);
}
