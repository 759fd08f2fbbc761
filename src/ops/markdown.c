/* POST /browser/markdown: the page as Markdown. Readable mode runs Mozilla's
 * Readability on a clone of the rendered document inside the page (like a
 * reader view) and converts what it returns; full mode converts the whole
 * rendered document. Conversion is render/html2md, in C. */
#include "common/json.h"
#include "ops/nav.h"
#include "render/html2md.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char pb_readability_js[];
extern const unsigned long pb_readability_js_len;

/* Extraction with too little text falls back to the full page. */
#define READABLE_MIN_CHARS 140

/* Page facts for the front matter, and the full document. */
static const char page_js[] =
    "() => { const meta = (...names) => { for (const n of names) {"
    "  const el = document.querySelector(`meta[name=\"${n}\"],meta[property=\"${n}\"]`);"
    "  if (el && el.content) return el.content; } return null; };"
    " return { url: location.href, title: document.title || null,"
    "  description: meta('description', 'og:description', 'twitter:description'),"
    "  byline: meta('author', 'article:author'),"
    "  published: meta('article:published_time', 'date', 'datePublished', 'og:published_time'),"
    "  html: document.documentElement ? document.documentElement.outerHTML : '' }; }";

static int readable(pb_nav *nav, cJSON **article, char *err, size_t cap) {
  pb_buf js;
  pb_buf_init(&js, (size_t)4 << 20);
  int rc = pb_buf_append(&js, "(() => {\n", 9);
  if (!rc) rc = pb_buf_append(&js, pb_readability_js, pb_readability_js_len);
  if (!rc)
    rc = pb_buf_printf(&js, "%s",
                       "\n;const a = new Readability(document.cloneNode(true), {keepClasses: true}).parse();"
                       " return a ? {title: a.title, content: a.content, byline: a.byline,"
                       " excerpt: a.excerpt, publishedTime: a.publishedTime,"
                       " length: a.length} : null; })()");
  if (!rc) rc = pb_nav_eval(nav, js.data, pb_nav_deadline(nav), article, err, cap);
  pb_buf_free(&js);
  return rc;
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

int pb_op_markdown(pb_job *job, pb_op_result *res) {
  const pb_markdown_opts *mo = &job->opts.markdown;
  int want_readable = mo->readable, frontmatter = mo->frontmatter;
  pb_md_opts opts = mo->md;
  char err[512];
  if (mo->md_invalid)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "markdownOptions: %s", mo->md_error);

  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *args = cJSON_CreateArray(), *page = NULL, *article = NULL;
  int rc = pb_nav_apply(nav, page_js, args, &page, err, sizeof(err));
  cJSON_Delete(args);
  if (rc) {
    pb_nav_close(nav, res);
    return rc == PB_EINVAL ? pb_op_fail(res, PB_CODE_PAGE_ERROR, "reading the page: %s", err)
                           : pb_op_fail_rc(res, rc, "reading the page");
  }
  const char *note = NULL;
  if (want_readable && pb_readability_js_len == 0) {
    note = "readable mode is not available in this build; converted the full page";
  } else if (want_readable) {
    rc = readable(nav, &article, err, sizeof(err));
    const cJSON *len = cJSON_GetObjectItemCaseSensitive(article, "length");
    if (rc && rc != PB_EINVAL) {
      cJSON_Delete(page);
      pb_nav_close(nav, res);
      return pb_op_fail_rc(res, rc, "extracting the main content");
    }
    if (rc || !cJSON_IsObject(article) || !pb_json_str(article, "content") || !cJSON_IsNumber(len) ||
        len->valuedouble < READABLE_MIN_CHARS) {
      note = "the page has too little main content for readable mode; converted the full page";
      cJSON_Delete(article);
      article = NULL;
    }
  }
  pb_nav_close(nav, res);

  const char *url = pb_json_str(page, "url");
  if (url && !opts.base_url[0]) pb_strlcpy(opts.base_url, url, sizeof(opts.base_url));
  const char *html = article ? pb_json_str(article, "content") : pb_json_str(page, "html");
  char *md = NULL;
  size_t md_len = 0;
  rc = pb_html2md(html ? html : "", html ? strlen(html) : 0, &opts, &md, &md_len);
  if (rc) {
    cJSON_Delete(page);
    cJSON_Delete(article);
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
  cJSON_Delete(page);
  cJSON_Delete(article);
  if (rc) {
    pb_buf_free(&out);
    return pb_op_fail(res, PB_CODE_PAGE_TOO_LARGE, "the Markdown is too large");
  }
  /* The envelope carries which mode produced the text. */
  cJSON *env = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddStringToObject(env, "result", out.data ? out.data : "");
  cJSON_AddStringToObject(env, "mode", article ? "readable" : "full");
  if (note) cJSON_AddStringToObject(env, "note", note);
  pb_buf_free(&out);
  return pb_op_json_object(res, env);
}
