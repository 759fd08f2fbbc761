/* HTML -> Markdown: what a reader of the Markdown would notice. cmark-gfm is
 * the oracle for "parses into the intended structure, no raw HTML". */
#include <cjson/cJSON.h>
#include <cmark-gfm-core-extensions.h>
#include <cmark-gfm.h>
#include <libgen.h>
#include <pthread.h>

#include "common/pb.h"
#include "common/url.h"
#include "render/html2md.h"
#include "test.h"

static char *conv_opts(const char *html, const pb_md_opts *o) {
  char *md = NULL;
  size_t len = 0;
  int rc = pb_html2md(html, strlen(html), o, &md, &len);
  ASSERT_EQ(rc, 0);
  ASSERT(md != NULL);
  ASSERT_EQ(strlen(md), len);
  return md;
}

static char *conv(const char *html) {
  return conv_opts(html, NULL);
}

static char *conv_json(const char *html, const char *json) {
  pb_md_opts o;
  char err[128];
  pb_md_opts_default(&o);
  cJSON *j = cJSON_Parse(json);
  ASSERT(j != NULL);
  ASSERT_EQ(pb_md_opts_from_json(j, &o, err, sizeof(err)), 0);
  cJSON_Delete(j);
  return conv_opts(html, &o);
}

#define EXPECT(html, md)     \
  do {                       \
    char *got_ = conv(html); \
    ASSERT_STR_EQ(got_, md); \
    free(got_);              \
  } while (0)

/* Renders md with cmark-gfm (tables, strikethrough, tasklists) to HTML. */
static char *render(const char *md) {
  cmark_gfm_core_extensions_ensure_registered();
  cmark_parser *p = cmark_parser_new(CMARK_OPT_DEFAULT);
  const char *exts[] = {"table", "strikethrough", "tasklist", "autolink"};
  for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
    cmark_parser_attach_syntax_extension(p, cmark_find_syntax_extension(exts[i]));
  cmark_parser_feed(p, md, strlen(md));
  cmark_node *doc = cmark_parser_finish(p);
  /* no raw HTML may survive in what we write */
  cmark_iter *it = cmark_iter_new(doc);
  cmark_event_type ev;
  while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
    cmark_node *n = cmark_iter_get_node(it);
    ASSERT(cmark_node_get_type(n) != CMARK_NODE_HTML_BLOCK);
    ASSERT(cmark_node_get_type(n) != CMARK_NODE_HTML_INLINE);
  }
  cmark_iter_free(it);
  char *html = cmark_render_html(doc, CMARK_OPT_UNSAFE, cmark_parser_get_syntax_extensions(p));
  cmark_node_free(doc);
  cmark_parser_free(p);
  return html;
}

static void test_turndown_defaults(void) {
  EXPECT("<p>Lorem</p>\n<p>ipsum</p>", "Lorem\n\nipsum");
  EXPECT("<h1>Title</h1>", "Title\n=====");
  EXPECT("<h3>Three</h3>", "### Three");
  EXPECT("<em>a</em> <strong>b</strong>", "_a_ **b**");
  EXPECT("<hr>", "* * *");
  EXPECT("More<br>after", "More  \nafter");
  EXPECT("<ol start=\"3\"><li>a</li><li>b</li></ol>", "3.  a\n4.  b");
  EXPECT("<blockquote><p>q</p></blockquote>", "> q");
  EXPECT("1. not a list", "1\\. not a list");
  EXPECT("*stars* and _unders_", "\\*stars\\* and \\_unders\\_");
}

static void test_options(void) {
  char *md = conv_json("<h1>T</h1><ul><li>x</li></ul><pre><code>c</code></pre><hr>",
                       "{\"headingStyle\":\"atx\",\"bulletListMarker\":\"-\","
                       "\"codeBlockStyle\":\"fenced\",\"fence\":\"~~~\",\"hr\":\"---\"}");
  ASSERT_STR_EQ(md, "# T\n\n-   x\n\n~~~\nc\n~~~\n\n---");
  free(md);
  md = conv_json("<a href=\"http://e.com\">e</a>", "{\"linkStyle\":\"referenced\"}");
  ASSERT_STR_EQ(md, "[e][1]\n\n[1]: http://e.com");
  free(md);
  md = conv_json("a<br>b <em>c</em> <b>d</b>",
                 "{\"br\":\"\\\\\",\"emDelimiter\":\"*\",\"strongDelimiter\":\"__\"}");
  ASSERT_STR_EQ(md, "a\\\nb *c* __d__");
  free(md);

  pb_md_opts o;
  char err[128];
  pb_md_opts_default(&o);
  cJSON *j = cJSON_Parse("{\"headingStyle\":\"fancy\"}");
  ASSERT_EQ(pb_md_opts_from_json(j, &o, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "headingStyle");
  ASSERT_EQ(o.heading_style, PB_MD_HEADING_SETEXT); /* unchanged on error */
  cJSON_Delete(j);
  j = cJSON_Parse("{\"preformattedCode\":\"yes\"}");
  ASSERT_EQ(pb_md_opts_from_json(j, &o, err, sizeof(err)), PB_EINVAL);
  cJSON_Delete(j);
  j = cJSON_Parse("{\"gfm\":false,\"unknownOption\":1}");
  ASSERT_EQ(pb_md_opts_from_json(j, &o, err, sizeof(err)), 0);
  ASSERT_EQ(o.gfm, 0);
  cJSON_Delete(j);
}

static void test_code(void) {
  const char *fenced = "{\"codeBlockStyle\":\"fenced\"}";
  /* language from the class, highlighter spans dropped, fence longer than any inside */
  char *md = conv_json(
      "<pre><code class=\"language-js\"><span class=\"k\">let</span> x = "
      "\"```\";\n```\n</code></pre>",
      fenced);
  ASSERT_STR_EQ(md, "````js\nlet x = \"```\";\n```\n````");
  free(md);
  /* <pre> without <code>, <br> inside code becomes a line break */
  md = conv_json("<pre>a<br>  b</pre>", fenced);
  ASSERT_STR_EQ(md, "```\na\n  b\n```");
  free(md);
  EXPECT("<pre>x &lt; y</pre>", "    x < y");
  /* backticks in inline code */
  EXPECT("<code>a`b</code>", "``a`b``");
  EXPECT("<code>`x</code>", "`` `x ``");
  EXPECT("<p>run <code>ls <b>-l</b></code></p>", "run `ls -l`");
  /* links inside preformatted text survive after the block */
  md = conv_json("<pre>see <a href=\"http://r.org/1\">RFC 1</a></pre>", fenced);
  ASSERT_STR_EQ(md, "```\nsee RFC 1\n```\n\n[RFC 1](http://r.org/1)");
  free(md);
}

static void test_whitespace(void) {
  EXPECT("<p>I <a href=\"/a\">need</a> <a href=\"/b\">more</a> spaces!</p>",
         "I [need](/a) [more](/b) spaces!");
  EXPECT("<p>no<b>space</b>here</p>", "no**space**here");
  EXPECT("<p>word<em>in</em>word</p>", "word*in*word"); /* '_' cannot do that */
  EXPECT("<p><b>bold<br></b>next</p>", "**bold**  \nnext");
  EXPECT("<p><span>a</span><span> </span><span>b</span></p>", "a b");
  EXPECT("<div>  <span><img src=\"x.png\"> </span> text</div>", "![](x.png) text");
}

static void test_blocks_in_inline(void) {
  EXPECT("<a href=\"/c\"><div><h2>Title</h2><p>Body</p></div></a>", "[Title Body](/c)");
  EXPECT("<h2>one<br>two</h2>", "one two\n-------");
  EXPECT("<p>a<br><br><br>b</p>", "a\n\nb");
  EXPECT("<p>a<br></p><p>b</p>", "a\n\nb");
  EXPECT("<a href=\"javascript:alert(1)\">x</a>", "x");
  EXPECT("<a href=\"/x\"></a>y", "y");
}

static void test_lists(void) {
  EXPECT("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "*   a\n    *   b\n*   c");
  /* a list directly in a list (invalid HTML seen in the wild) nests */
  EXPECT("<ol><li>a</li><ol><li>b</li></ol><li>c</li></ol>", "1.  a\n    1.  b\n2.  c");
  /* a stray <li> outside any list still reads as an item */
  EXPECT("<div><li>x</li></div>", "*   x");
  /* two adjacent lists stay two lists */
  char *md = conv("<ul><li>a</li></ul><ul><li>b</li></ul>");
  char *html = render(md);
  ASSERT_STR_EQ(html, "<ul>\n<li>a</li>\n</ul>\n<ul>\n<li>b</li>\n</ul>\n");
  free(md);
  free(html);
  /* one item with two paragraphs makes the whole list loose, consistently */
  md = conv("<ul><li>a</li><li><p>b</p><p>c</p></li><li>d</li></ul>");
  ASSERT_STR_EQ(md, "*   a\n\n*   b\n    \n    c\n    \n*   d");
  free(md);
  md = conv_json(
      "<ul><li><input type=checkbox checked>done</li><li><input "
      "type=checkbox>todo</li></ul>",
      "{}");
  ASSERT_STR_EQ(md, "*   [x] done\n*   [ ] todo");
  free(md);
}

static void test_urls_and_images(void) {
  pb_md_opts o;
  pb_md_opts_default(&o);
  pb_strlcpy(o.base_url, "http://fakehost/test/page.html", sizeof(o.base_url));
  char *md = conv_opts(
      "<a href=\"../x?q=1#f\">x</a> <a href=\"#top\">top</a> "
      "<img src=\"i.png\" alt=\"i\"> <a href=\"mailto:a@b\">m</a>",
      &o);
  ASSERT_STR_EQ(md,
                "[x](http://fakehost/x?q=1#f) [top](#top) ![i](http://fakehost/test/i.png) "
                "[m](mailto:a@b)");
  free(md);
  /* <base> applies on top of the page URL */
  md = conv_opts("<head><base href=\"/root/\"></head><a href=\"a b.html\">sp</a>", &o);
  ASSERT_STR_EQ(md, "[sp](<http://fakehost/root/a b.html>)");
  free(md);
  /* lazy images: a placeholder src loses to data-src; srcset when nothing else */
  EXPECT("<img src=\"data:image/gif;base64,R0l=\" data-src=\"real.jpg\" alt=\"r\">",
         "![r](real.jpg)");
  EXPECT("<img srcset=\"s.jpg 1x, l.jpg 2x\">", "![](s.jpg)");
  /* w descriptors: the widest, not the thumbnail that comes first; a URL
   * may hold commas */
  EXPECT("<img data-srcset=\"https://c/c_fill,w_80/a.jpg 80w, https://c/c_fit,w_800/a.jpg 800w, "
         "https://c/c_fit,w_320/a.jpg 320w\">",
         "![](https://c/c_fit,w_800/a.jpg)");
  EXPECT("<img srcset=\"a.jpg, b.jpg 2x\">", "![](a.jpg)");
  EXPECT("<img srcset=\"b.jpg 2x, c.jpg 3x\">", "![](b.jpg)");
  EXPECT("<img src=\"a(1).png\" alt=\"[x]\" title='say \"hi\"'>",
         "![\\[x\\]](a\\(1\\).png \"say \\\"hi\\\"\")");

  char *out = NULL;
  ASSERT_EQ(pb_url_resolve("http://h/a/b/c", "../../../d", 10, &out), 0);
  ASSERT_STR_EQ(out, "http://h/d");
  free(out);
  ASSERT_EQ(pb_url_resolve("http://h/a/b", "//cdn/x", 7, &out), 0);
  ASSERT_STR_EQ(out, "http://cdn/x");
  free(out);
  ASSERT_EQ(pb_url_resolve("http://h/a?x", "?y", 2, &out), 0);
  ASSERT_STR_EQ(out, "http://h/a?y");
  free(out);
  ASSERT_EQ(pb_url_resolve("relative/only", "x", 1, &out), PB_EINVAL);
  ASSERT(out == NULL);
}

static void test_tables(void) {
  EXPECT(
      "<table><tr><th>h1</th><th>h2</th></tr><tr><td>a|b</td><td><img src=\"i.png\" "
      "alt=\"i\"></td></tr></table>",
      "| h1 | h2 |\n| --- | --- |\n| a\\|b | ![i](i.png) |");
  /* no header row: an empty one, so the first row stays data */
  EXPECT("<table><tr><td>a</td><td>b</td></tr></table>", "|  |  |\n| --- | --- |\n| a | b |");
  /* colspan and rowspan keep the columns aligned */
  char *md = conv(
      "<table><tr><th colspan=2>wide</th><th>c</th></tr><tr><td rowspan=2>t</td>"
      "<td>1</td><td>2</td></tr><tr><td>3</td><td>4</td></tr></table>");
  ASSERT_STR_EQ(md, "| wide |  | c |\n| --- | --- | --- |\n| t | 1 | 2 |\n|  | 3 | 4 |");
  char *html = render(md);
  ASSERT_CONTAINS(html, "<td>3</td>");
  free(md);
  free(html);
  /* block content in a cell stays on the cell's line */
  EXPECT(
      "<table><tr><th>a</th><th>b</th></tr><tr><td><p>x</p><p>y</p></td><td><pre>p|q</pre>"
      "</td></tr></table>",
      "| a | b |\n| --- | --- |\n| x y | `p\\|q` |");
  /* a one-cell layout table is not a table */
  EXPECT("<table><tr><td><p>just</p><p>text</p></td></tr></table>", "just\n\ntext");
  EXPECT("<del>gone</del> <s>old</s>", "~~gone~~ ~~old~~");
}

static void test_dropped_and_text(void) {
  EXPECT(
      "<p>a<script>alert(1)</script><style>p{}</style><noscript>js</noscript>"
      "<template><b>t</b></template>b</p>",
      "ab");
  EXPECT("<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp;amp; &#128512; &#x1D11E; caf&eacute;</p>",
         "\\<script>alert(1)\\</script> \\&amp; \xF0\x9F\x98\x80 \xF0\x9D\x84\x9E caf\xC3\xA9");
  EXPECT("<svg><title>icon</title></svg>text", "text");
  /* render() also asserts that no raw HTML node appears */
  char *md = conv(
      "<p>&lt;b&gt;not bold&lt;/b&gt; &lt;!-- c --&gt; "
      "&lt;?php ?&gt;</p>");
  char *html = render(md);
  ASSERT_CONTAINS(html,
                  "&lt;b&gt;not bold&lt;/b&gt; &lt;!-- c --&gt; "
                  "&lt;?php ?&gt;");
  free(md);
  free(html);
}

static void test_caps(void) {
  /* 1 500 nested pairs (3 000 levels: far past max_depth): no crash, text
   * kept. */
  size_t n = 1500;
  pb_buf b;
  pb_buf_init(&b, 64 << 20);
  for (size_t i = 0; i < n; i++) ASSERT_EQ(pb_buf_append(&b, "<div><span>", 11), 0);
  ASSERT_EQ(pb_buf_append(&b, "deep", 4), 0);
  size_t len;
  char *html = pb_buf_steal(&b, &len);
  char *md = NULL;
  size_t ml;
  ASSERT_EQ(pb_html2md(html, len, NULL, &md, &ml), 0);
  ASSERT_STR_EQ(md, "deep");
  free(md);
  free(html);
  /* 100 000 levels: converted (capped as Chromium caps), text kept */
  pb_buf_init(&b, 64 << 20);
  for (size_t i = 0; i < 50000; i++) ASSERT_EQ(pb_buf_append(&b, "<div><span>", 11), 0);
  ASSERT_EQ(pb_buf_append(&b, "deep", 4), 0);
  html = pb_buf_steal(&b, &len);
  ASSERT_EQ(pb_html2md(html, len, NULL, &md, &ml), 0);
  ASSERT_STR_EQ(md, "deep");
  free(md);
  free(html);

  pb_md_opts o;
  pb_md_opts_default(&o);
  o.max_input = 10;
  md = (char *)1;
  ASSERT_EQ(pb_html2md("<p>0123456789</p>", 17, &o, &md, &ml), PB_ETOOBIG);
  ASSERT(md == NULL);
  pb_md_opts_default(&o);
  o.max_output = 8;
  ASSERT_EQ(pb_html2md("<p>0123456789</p>", 17, &o, &md, &ml), PB_ETOOBIG);
  ASSERT(md == NULL);
  ASSERT_EQ(pb_html2md("", 0, NULL, &md, &ml), 0);
  ASSERT_STR_EQ(md, "");
  ASSERT_EQ(ml, 0);
  free(md);
}

/* 50 000 nested <div>s with text at several depths (the deepest past the
 * depth Chromium's parser caps at, past gumbo's comfort and past
 * max_depth): every text is kept, in order, whichever parser builds the
 * tree, on a small stack, fast. */
struct deep_run {
  const char *html;
  size_t len;
  int parser, rc;
  char *md;
};

static void *deep_convert(void *arg) {
  struct deep_run *r = arg;
  size_t ml;
  r->rc = pb_html2md_ex(r->html, r->len, NULL, r->parser, &r->md, &ml);
  return NULL;
}

static void deep_case(const char *prefix, int parser) {
  static const size_t at[] = {0, 100, 511, 600, 4095, 5000, 20000, 49999};
  const size_t n = 50000;
  pb_buf b;
  pb_buf_init(&b, 64 << 20);
  ASSERT_EQ(pb_buf_printf(&b, "<html><body>%s", prefix), 0);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    ASSERT_EQ(pb_buf_append(&b, "<div>", 5), 0);
    if (k < sizeof(at) / sizeof(at[0]) && at[k] == i)
      ASSERT_EQ(pb_buf_printf(&b, "text%zu ", at[k++]), 0);
  }
  for (size_t i = 0; i < n; i++) ASSERT_EQ(pb_buf_append(&b, "</div>", 6), 0);
  ASSERT_EQ(pb_buf_append(&b, "<p>after</p></body></html>", 26), 0);
  struct deep_run r = {0};
  r.html = pb_buf_steal(&b, &r.len);
  r.parser = parser;
  /* the walk recurses at most max_depth levels: 256 KiB of stack do */
  pthread_attr_t attr;
  pthread_t th;
  ASSERT_EQ(pthread_attr_init(&attr), 0);
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 256 << 10), 0);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pthread_create(&th, &attr, deep_convert, &r), 0);
  ASSERT_EQ(pthread_join(th, NULL), 0);
  int64_t ms = pb_now_ms() - t0;
  pthread_attr_destroy(&attr);
  ASSERT_EQ(r.rc, 0);
  const char *p = r.md;
  for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
    char want[32];
    snprintf(want, sizeof(want), "text%zu", at[i]);
    const char *q = strstr(p, want);
    ASSERT(q != NULL);
    p = q + strlen(want);
  }
  ASSERT(strstr(p, "after") != NULL);
  /* linear work: well under a second even on a loaded 2-core machine */
  ASSERT(ms < 3000);
  free(r.md);
  free((char *)r.html);
}

static void test_deep_nesting(void) {
  deep_case("", PB_MD_PARSE_AUTO);
  deep_case("", PB_MD_PARSE_FAST);
  /* misnested formatting first: the fast parser declines, gumbo parses the
   * input with the tags past 4096 levels dropped */
  deep_case("<b><p>misnested</b></p>", PB_MD_PARSE_AUTO);
  deep_case("", PB_MD_PARSE_GUMBO);
  /* a raw-text element past the cap goes with its content: no script text */
  pb_buf b;
  pb_buf_init(&b, 64 << 20);
  ASSERT_EQ(pb_buf_append(&b, "<b><p>x</b></p>", 15), 0);
  for (size_t i = 0; i < 6000; i++) ASSERT_EQ(pb_buf_append(&b, "<div>", 5), 0);
  ASSERT_EQ(pb_buf_append(&b, "<script>var a = '<div>';</script><style>p{}</style>kept", 55), 0);
  size_t len, ml;
  char *html = pb_buf_steal(&b, &len), *md = NULL;
  ASSERT_EQ(pb_html2md(html, len, NULL, &md, &ml), 0);
  ASSERT(strstr(md, "kept") != NULL);
  ASSERT(strstr(md, "var a") == NULL);
  ASSERT(strstr(md, "p{}") == NULL);
  free(md);
  free(html);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ASSERT(f != NULL);
  pb_buf b;
  char chunk[4096];
  size_t n;
  pb_buf_init(&b, 1 << 20);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) ASSERT_EQ(pb_buf_append(&b, chunk, n), 0);
  fclose(f);
  return pb_buf_steal(&b, NULL);
}

/* The fixture page converts to the checked-in Markdown, and converting
 * cmark-gfm's rendering of that Markdown gives the same Markdown back. */
static void test_fixture_roundtrip(void) {
  char dir[4096], path[4200];
  pb_strlcpy(dir, __FILE__, sizeof(dir));
  snprintf(path, sizeof(path), "%s/../fixtures/markdown/article.html", dirname(dir));
  char *html = slurp(path);
  pb_strlcpy(dir, __FILE__, sizeof(dir));
  snprintf(path, sizeof(path), "%s/../fixtures/markdown/article.md", dirname(dir));
  char *want = slurp(path);
  pb_md_opts o;
  pb_md_opts_default(&o);
  o.heading_style = PB_MD_HEADING_ATX;
  o.code_block_style = PB_MD_CODE_FENCED;
  pb_strlcpy(o.base_url, "https://example.com/start/page.html", sizeof(o.base_url));
  char *md = conv_opts(html, &o);
  size_t wl = strlen(want);
  if (wl && want[wl - 1] == '\n') want[wl - 1] = 0;
  ASSERT_STR_EQ(md, want);
  char *html2 = render(md);
  char *md2 = conv_opts(html2, &o);
  ASSERT_STR_EQ(md2, md);
  free(html);
  free(want);
  free(md);
  free(html2);
  free(md2);
}

int main(void) {
  RUN(test_turndown_defaults);
  RUN(test_options);
  RUN(test_code);
  RUN(test_whitespace);
  RUN(test_blocks_in_inline);
  RUN(test_lists);
  RUN(test_urls_and_images);
  RUN(test_tables);
  RUN(test_dropped_and_text);
  RUN(test_caps);
  RUN(test_deep_nesting);
  RUN(test_fixture_roundtrip);
  DONE();
}
