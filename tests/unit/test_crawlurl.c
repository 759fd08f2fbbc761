/* The pure parts of a crawl: one normalised spelling per page, robots.txt
 * as Google reads it (groups, longest match, Allow wins a tie, '*' and '$'),
 * sitemap <loc>s, and links of served HTML with its <base>. */
#include "common/crawlurl.h"

#include "common/pb.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static void norm_is(const char *in, const char *want) {
  char out[PB_CRAWL_URL_MAX + 1], origin[300];
  int rc = pb_crawl_url_norm(in, out, sizeof(out), origin, sizeof(origin));
  if (rc) fprintf(stderr, "norm(%s) = %d\n", in, rc);
  ASSERT_EQ(rc, 0);
  ASSERT_STR_EQ(out, want);
}

static void test_norm(void) {
  norm_is("HTTP://Example.COM", "http://example.com/");
  norm_is("http://example.com:80/a", "http://example.com/a");
  norm_is("https://example.com:443/a", "https://example.com/a");
  norm_is("https://example.com:8443/a", "https://example.com:8443/a");
  norm_is("http://example.com/a/./b/../c#frag", "http://example.com/a/c");
  norm_is("http://example.com/a/b/..", "http://example.com/a/");
  norm_is("http://example.com/../../x", "http://example.com/x");
  norm_is("http://example.com/?b=2&a=1", "http://example.com/?a=1&b=2");
  norm_is("http://example.com/?a=2&a=1", "http://example.com/?a=2&a=1"); /* stable */
  norm_is("http://example.com/p?PHPSESSID=abc&x=1&sid=9", "http://example.com/p?x=1");
  norm_is("http://example.com/p;jsessionid=ABC123", "http://example.com/p");
  norm_is("http://example.com/p?", "http://example.com/p");
  norm_is("http://example.com/%7euser", "http://example.com/%7Euser");
  norm_is("http://example.com./x", "http://example.com/x");
  norm_is("http://[::1]:8080/x", "http://[::1]:8080/x");
  char out[PB_CRAWL_URL_MAX + 1];
  ASSERT_EQ(pb_crawl_url_norm("ftp://example.com/", out, sizeof(out), NULL, 0), PB_EINVAL);
  ASSERT_EQ(pb_crawl_url_norm("http://user:pw@example.com/", out, sizeof(out), NULL, 0), PB_EINVAL);
  ASSERT_EQ(pb_crawl_url_norm("http:///x", out, sizeof(out), NULL, 0), PB_EINVAL);
  ASSERT_EQ(pb_crawl_url_norm("http://example.com:99999/", out, sizeof(out), NULL, 0), PB_EINVAL);
  ASSERT_EQ(pb_crawl_url_norm("javascript:alert(1)", out, sizeof(out), NULL, 0), PB_EINVAL);
  char *big = malloc(5000);
  memset(big, 'a', 4999);
  big[4999] = '\0';
  memcpy(big, "http://e.com/", 13);
  ASSERT_EQ(pb_crawl_url_norm(big, out, sizeof(out), NULL, 0), PB_ETOOBIG);
  free(big);
  char origin[300];
  ASSERT_EQ(
      pb_crawl_url_norm("https://A.example:444/x?y", out, sizeof(out), origin, sizeof(origin)), 0);
  ASSERT_STR_EQ(origin, "https://a.example:444");
}

static void test_robots(void) {
  const char *txt =
      "# comment\n"
      "User-agent: Googlebot\n"
      "Disallow: /\n"
      "\n"
      "User-agent: *\n"
      "Disallow: /private/\n"
      "Allow: /private/open\n"
      "Disallow: /*.pdf$\n"
      "Disallow: /tmp\n"
      "Allow: /tmp/ok$\n"
      "Sitemap: http://example.com/sitemap.xml\n";
  pb_robots *r = NULL;
  ASSERT_EQ(pb_robots_parse(txt, strlen(txt), "ppod", &r), 0);
  ASSERT_EQ(pb_robots_allowed(r, "/"), 1);
  ASSERT_EQ(pb_robots_allowed(r, "/private/x"), 0);
  ASSERT_EQ(pb_robots_allowed(r, "/private/open/1"), 1); /* longer Allow wins */
  ASSERT_EQ(pb_robots_allowed(r, "/a/b.pdf"), 0);
  ASSERT_EQ(pb_robots_allowed(r, "/a/b.pdf?x=1"), 1); /* '$' anchors */
  ASSERT_EQ(pb_robots_allowed(r, "/tmpfile"), 0);
  ASSERT_EQ(pb_robots_allowed(r, "/tmp/ok"), 1);
  ASSERT_EQ(pb_robots_allowed(r, "/tmp/ok/more"), 0);
  const char *const *maps = NULL;
  ASSERT_EQ(pb_robots_sitemaps(r, &maps), 1);
  ASSERT_STR_EQ(maps[0], "http://example.com/sitemap.xml");
  pb_robots_free(r);

  /* Our own group wins over '*'; a tie between Allow and Disallow allows. */
  const char *ours =
      "User-agent: *\nDisallow: /\n\nUser-agent: ppod\nUser-agent: other\n"
      "Disallow: /x\nAllow: /x\n";
  ASSERT_EQ(pb_robots_parse(ours, strlen(ours), "ppod", &r), 0);
  ASSERT_EQ(pb_robots_allowed(r, "/"), 1);
  ASSERT_EQ(pb_robots_allowed(r, "/x"), 1);
  pb_robots_free(r);

  /* Pathological patterns stay cheap. */
  char pat[4000] = "User-agent: *\nDisallow: /";
  for (int i = 0; i < 1000; i++) strcat(pat, "*a");
  strcat(pat, "b\n");
  ASSERT_EQ(pb_robots_parse(pat, strlen(pat), "ppod", &r), 0);
  char path[3000] = "/";
  memset(path + 1, 'a', 2500);
  path[2501] = '\0';
  ASSERT_EQ(pb_robots_allowed(r, path), 1);
  pb_robots_free(r);
  ASSERT(pb_robots_allowed(NULL, "/anything"));
}

static int nlocs;
static char locs[8][200];
static void on_loc(void *data, const char *loc) {
  (void)data;
  if (nlocs < 8) snprintf(locs[nlocs], sizeof(locs[0]), "%s", loc);
  nlocs++;
}

static void test_sitemap(void) {
  const char *xml =
      "<?xml version=\"1.0\"?><urlset><url><loc> http://e.com/a?x=1&amp;y=2 </loc></url>"
      "<url><loc><![CDATA[http://e.com/b]]></loc></url><url><loc>http://e.com/c</loc>"
      "</url></urlset>";
  int idx = -1;
  nlocs = 0;
  ASSERT_EQ(pb_sitemap_locs(xml, strlen(xml), 10, &idx, on_loc, NULL), 3);
  ASSERT_EQ(idx, 0);
  ASSERT_STR_EQ(locs[0], "http://e.com/a?x=1&y=2");
  ASSERT_STR_EQ(locs[1], "http://e.com/b");
  nlocs = 0;
  ASSERT_EQ(pb_sitemap_locs(xml, strlen(xml), 2, NULL, on_loc, NULL), 2); /* bounded */
  const char *index =
      "<sitemapindex><sitemap><loc>http://e.com/s1.xml</loc></sitemap></sitemapindex>";
  nlocs = 0;
  ASSERT_EQ(pb_sitemap_locs(index, strlen(index), 10, &idx, on_loc, NULL), 1);
  ASSERT_EQ(idx, 1);
}

static void test_links(void) {
  const char *html =
      "<html><head><title>T &amp; U</title><base href=\"/docs/\"></head><body>"
      "<a href=\"a.html\">a</a><!-- <a href=\"/hidden\"> -->"
      "<script>var s = '<a href=\"/script\">';</script>"
      "<A HREF='../up'>up</A><a href=x?q=1&amp;r=2>x</a>"
      "<a href=\"mailto:me@e.com\">m</a><area href=\"https://o.com/\">"
      "<a name=\"nohref\">n</a></body></html>";
  char *title = NULL;
  nlocs = 0;
  int n = pb_html_links(html, strlen(html), "http://e.com/page/", 100, &title, on_loc, NULL);
  ASSERT_EQ(n, 4);
  ASSERT_STR_EQ(title, "T & U");
  ASSERT_STR_EQ(locs[0], "http://e.com/docs/a.html");
  ASSERT_STR_EQ(locs[1], "http://e.com/up");
  ASSERT_STR_EQ(locs[2], "http://e.com/docs/x?q=1&r=2");
  ASSERT_STR_EQ(locs[3], "https://o.com/");
  free(title);
}

int main(void) {
  RUN(test_norm);
  RUN(test_robots);
  RUN(test_sitemap);
  RUN(test_links);
  DONE();
}
