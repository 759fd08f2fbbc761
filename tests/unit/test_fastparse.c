/* The fast parser against gumbo: whenever it accepts a document, html2md
 * must write byte for byte what it writes from gumbo's tree. Hand-written
 * snippets for each rule it follows, then many random token soups. */
#include <stdint.h>

#include "common/pb.h"
#include "render/fastparse.h"
#include "render/html2md.h"
#include "test.h"

static int accepted, declined;

/* Converts html with both parsers under o; fails on any difference. */
static void same(const char *html, size_t len, const pb_md_opts *o) {
  char *fast = NULL, *slow = NULL;
  size_t fl = 0, sl = 0;
  int rf = pb_html2md_ex(html, len, o, PB_MD_PARSE_FAST, &fast, &fl);
  if (rf == PB_EINVAL) {
    declined++;
    return;
  }
  accepted++;
  int rs = pb_html2md_ex(html, len, o, PB_MD_PARSE_GUMBO, &slow, &sl);
  if (rf != rs || fl != sl || (fast && memcmp(fast, slow, fl))) {
    fprintf(stderr, "fast and gumbo differ on:\n%.*s\n--- fast (%d):\n%s\n--- gumbo (%d):\n%s\n",
            (int)len, html, rf, fast ? fast : "", rs, slow ? slow : "");
    exit(1);
  }
  free(fast);
  free(slow);
}

static void same2(const char *html) {
  pb_md_opts o;
  pb_md_opts_default(&o);
  same(html, strlen(html), &o);
  o.heading_style = PB_MD_HEADING_ATX;
  o.code_block_style = PB_MD_CODE_FENCED;
  o.max_depth = 3;
  pb_strlcpy(o.base_url, "http://fakehost/test/page.html", sizeof(o.base_url));
  same(html, strlen(html), &o);
}

/* Must be taken by the fast parser (and agree with gumbo). */
static void fast(const char *html) {
  int before = accepted;
  same2(html);
  if (accepted != before + 2) {
    fprintf(stderr, "the fast parser declined: %s\n", html);
    exit(1);
  }
}

static void test_snippets(void) {
  fast("");
  fast("plain text");
  fast("  \n lead<p>a</p>trail  ");
  fast(
      "<!DOCTYPE html><html><head><title>t</title><meta charset=utf-8>"
      "<style>p{}</style><script>if (a<b) x()</script></head><body><p>x</p></body></html>");
  fast("<p>one<p>two<div>three</div>four");
  fast("<ul><li>a<li>b<ul><li>c</ul><li>d</ul>");
  fast("<dl><dt>t<dd>d<dt>u<dd>e</dl>");
  fast("<p>a <b>bold <i>both</i></b> and <a href='/x?a=1&b=2'>link</a>");
  fast("<a href=\"x\">one<span>two</a> three");
  fast("<a href=1>a<a href=2>b</a>");
  fast("<h1>t</h1><h2>u</h3><h4>v</h4>");
  fast("<pre>\nfirst line\n  indented</pre><listing>\nx</listing>");
  fast("<textarea>\nkept</textarea><xmp><b>raw</b></xmp>");
  fast("<table><tr><td>a<td>b<tr><th>c</table>");
  fast(
      "<table><caption>cap</caption><colgroup><col><col></colgroup><thead><tr><th>h</th></tr>"
      "</thead><tbody><tr><td>1</td></tr></tbody><tfoot><tr><td>f</td></tr></tfoot></table>");
  fast("<table>\n <col span=2>\n <tr>\n  <td><p>x<table><td>nested</table>\n</table>");
  fast("<p>in p<table><td>quirks: the table stays in the p</table>");
  fast("<!DOCTYPE html><p>in p<table><td>no quirks: the p closes</table>");
  fast("x &amp; &lt;y&gt; &copy; &#169; &#x263a; &notin; AT&T &zz; &");
  fast("<img src=a.png alt=\"&quot;q&quot;\" title='t&amp;t'><a href=\"?x=1&not=2\">n</a>");
  fast("a<!-- c -->b<!---->c<!-- - -- -->d");
  fast("a</span>b</div>c</li>d</p>e</br>f");
  fast("<div><span>x</div>y");
  fast("<svg viewBox='0 0 1 1'><path d='M0'/><title>icon</title><g><circle/></g></svg>after");
  fast("<select name=s><option>a<option selected>b</select>after");
  fast("<form action=/s><input name=q><button>go</button></form>");
  fast("<head><noscript><link rel=x></noscript></head><p>body");
  fast("<script><!-- document.write('<script>x</script>') --></script>text");
  fast("<base href=\"http://other/dir/\"><a href=\"rel\">r</a><img src=i.png>");
  fast("line\r\nwith\rcarriage returns");
  fast("<p/>self-closing p<br/>x<div/>y");
  fast("<object data=x><param name=a></object><iframe src=x>raw <b></iframe>t");
  fast("<ol start=3><li>a<li>b</ol><hr><h3>h</h3>");
  fast("<em>e</em><strong>s</strong><code>c</code><del>d</del><s>s</s>");
  fast("<blockquote><p>q<blockquote>qq</blockquote></blockquote>");
  fast("<ul><li><input type=checkbox checked> done<li><input type=checkbox> todo</ul>");
  fast("<foo>unknown<bar>tags</foo>close</bar>");
  fast("<video src=v.mp4 poster=p.jpg>text</video><audio><source src=a.mp3></audio>");
  fast("</body>after body</html>  <!-- end -->");
  fast("<body><p>x</p></body>\n<!-- after -->\n");
  fast("a < b > c <3 <- x <");
  same2("a <!-x bogus comment");
  fast("<td>stray cell</td><tr>row</tr>");
  /* these need gumbo; whatever the fast parser does, it must agree */
  same2("<b><p>misnested</b></p>");
  same2("<table>foster<td>x</table>");
  same2("<p><b>x</p>y");
  same2("<table><tr><td>a</td>b</tr></table>");
  same2("<math><mi>x</mi></math><template>t</template><frameset>");
  same2("&notit; &copy=1 <a href='?a&copy=1'>x</a>");
  same2("<svg><p>breakout</svg>");
  same2("<b><b><b><b>deep</b></b></b></b>");
  same2("<a><table><td><a>x</a></table></a>");
  same2("\xEF\xBB\xBF<p>bom</p>\x01\x7F\xC0\xAF");
  same2("<img src=a alt=x alt title=t>"); /* duplicates confuse gumbo (fuzz) */
  same2(
      "t\x7F"
      "est, ok\x7F"
      "  </p>"); /* DEL inside an ASCII word (fuzz) */
}

/* Random token soups from the constructs above. */
static const char *const k_tokens[] = {"<p>",
                                       "</p>",
                                       "<div>",
                                       "</div>",
                                       "<b>",
                                       "</b>",
                                       "<i>",
                                       "</i>",
                                       "<a href=\"u\">",
                                       "</a>",
                                       "<li>",
                                       "</li>",
                                       "<ul>",
                                       "</ul>",
                                       "<ol>",
                                       "</ol>",
                                       "<table>",
                                       "</table>",
                                       "<tr>",
                                       "</tr>",
                                       "<td>",
                                       "</td>",
                                       "<th>",
                                       "<tbody>",
                                       "</tbody>",
                                       "<thead>",
                                       "<caption>",
                                       "</caption>",
                                       "<colgroup>",
                                       "<col>",
                                       "<pre>",
                                       "</pre>",
                                       "\n",
                                       "<br>",
                                       "</br>",
                                       "<img src=y alt=\"a&amp;b\">",
                                       "<h1>",
                                       "</h1>",
                                       "<h2>",
                                       "</h2>",
                                       "<span>",
                                       "</span>",
                                       "<!-- c -->",
                                       "text",
                                       " ",
                                       "&amp;",
                                       "&copy",
                                       "&notit;",
                                       "&#169;",
                                       "<svg><path/></svg>",
                                       "<svg><title>x</title></svg>",
                                       "<select><option>a</select>",
                                       "<form>",
                                       "</form>",
                                       "<textarea>\nz</textarea>",
                                       "<script>a<b</script>",
                                       "<style>x</style>",
                                       "<dd>",
                                       "<dt>",
                                       "<dl>",
                                       "</dl>",
                                       "<button>",
                                       "</button>",
                                       "<html>",
                                       "<body>",
                                       "</body>",
                                       "<head>",
                                       "<meta charset=x>",
                                       "<base href=\"http://b/\">",
                                       "<title>t</title>",
                                       "<noscript>",
                                       "</noscript>",
                                       "<code>",
                                       "</code>",
                                       "<option>",
                                       "<xmp>x</xmp>",
                                       "<object>",
                                       "</object>",
                                       "<em>",
                                       "</em>",
                                       "<strong>",
                                       "</strong>",
                                       "<blockquote>",
                                       "</blockquote>",
                                       "<input type=checkbox checked>",
                                       "<foo>",
                                       "</foo>",
                                       "<bar>",
                                       "<!DOCTYPE html>",
                                       "<",
                                       ">",
                                       "1. ",
                                       "* ",
                                       "_",
                                       "\r\n",
                                       "<p/>",
                                       "<hr>",
                                       "<listing>",
                                       "<h3>",
                                       "</h3>",
                                       "</dd>",
                                       "<nobr>",
                                       "<math>",
                                       "<tt>",
                                       "</tt>",
                                       "<u>",
                                       "</u>",
                                       "<s>",
                                       "</s>",
                                       "<del>",
                                       "</del>",
                                       "<center>",
                                       "</center>",
                                       "<nav>",
                                       "</nav>",
                                       "<iframe>x</iframe>",
                                       "<label>",
                                       "</label>",
                                       "<figure>",
                                       "</figure>",
                                       "<figcaption>",
                                       "</figcaption>",
                                       "\t",
                                       "<small>",
                                       "</small>",
                                       "<font>",
                                       "</font>",
                                       "<tfoot>",
                                       "</tfoot>",
                                       "<th>",
                                       "</th>",
                                       "</html>",
                                       "<!DOCTYPE html PUBLIC \"-//W3C//DTD HTML 4.01//EN\">",
                                       "\xef\xbb\xbf",
                                       "&#10;",
                                       "<br/>",
                                       "<a href=x/>",
                                       "<img alt=x alt=y>",
                                       "<noscript><p>n</noscript>",
                                       "<svg><desc><b>x</b></desc></svg>",
                                       "<select><textarea>",
                                       "<h4>",
                                       "</h5>",
                                       "<table><tr><td>",
                                       "</td></tr></table>",
                                       "\xc3\xa9",
                                       "<p>&nbsp;</p>",
                                       "<a href=\"?a=1&b=2&lang=en\">",
                                       "<caption>",
                                       "</caption>",
                                       "<dd>x</dd>",
                                       "</option>",
                                       "<optgroup>",
                                       "<object><param></object>",
                                       "</applet>",
                                       "<marquee>",
                                       "</marquee>"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static unsigned next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng >> 16);
}

static void test_random(void) {
  size_t nt = sizeof(k_tokens) / sizeof(k_tokens[0]);
  char doc[4096];
  pb_md_opts o;
  pb_md_opts_default(&o);
  int before = accepted;
  for (int i = 0; i < 30000; i++) {
    size_t n = 0;
    int k = 1 + (int)(next_rand() % 30);
    for (int j = 0; j < k; j++) {
      const char *t = k_tokens[next_rand() % nt];
      size_t l = strlen(t);
      memcpy(doc + n, t, l);
      n += l;
    }
    o.heading_style = i & 1;
    o.code_block_style = (i >> 1) & 1;
    o.max_depth = (i & 4) ? 4 : 256;
    same(doc, n, &o);
  }
  /* the comparison must not be vacuous */
  ASSERT(accepted - before > 10000);
}

/* Past 512 open elements a node goes to the current node's parent, as in
 * Chromium: 20 000 nested <div>s make a tree 512 elements deep under
 * <html>, with every text node kept in document order. */
static void test_depth_cap(void) {
  pb_buf b;
  pb_buf_init(&b, 16 << 20);
  for (int i = 0; i < 20000; i++) ASSERT_EQ(pb_buf_printf(&b, "<div>t%d ", i), 0);
  size_t len;
  char *html = pb_buf_steal(&b, &len);
  pb_hdoc *d = NULL;
  ASSERT_EQ(pb_fastparse(html, len, &d), 0);
  const pb_hnode *body = pb_hdoc_body(d), *h = body;
  int depth = 0, maxd = 0, texts = 0;
  for (;;) {
    if (h->tag == PB_HNODE_TEXT) {
      char want[16];
      snprintf(want, sizeof(want), "t%d ", texts++);
      ASSERT(h->tlen == strlen(want) && !memcmp(h->text, want, h->tlen));
    }
    if (h->first) {
      h = h->first;
      if (++depth > maxd) maxd = depth;
      continue;
    }
    while (h != body && !h->next) {
      h = h->parent;
      depth--;
    }
    if (h == body) break;
    h = h->next;
  }
  ASSERT_EQ(texts, 20000);
  /* <html> and <body> are the first two of the 512 */
  ASSERT(maxd <= 511);
  ASSERT(maxd >= 509);
  pb_hdoc_free(d);
  free(html);
}

int main(void) {
  test_depth_cap();
  test_snippets();
  test_random();
  printf(
      "test_fastparse: %d documents taken by the fast parser and identical to gumbo's, %d "
      "declined\n",
      accepted, declined);
  return 0;
}
