#ifndef PB_COMMON_CRAWLURL_H
#define PB_COMMON_CRAWLURL_H
/* The pure parts of a crawl: URL normalisation (the dedupe key), robots.txt
 * (groups, Allow/Disallow, longest match, '*' and '$'), sitemap.xml <loc>s
 * and the links of an HTML document fetched without rendering (<base>
 * honoured). No I/O; callable from any thread; every input is bounded by
 * its caller and every walk here by the caps below. */
#include <stddef.h>

#define PB_CRAWL_URL_MAX 2048      /* a normalised URL, bytes */
#define PB_ROBOTS_MAX_BYTES 512000 /* Google reads 500 KiB of a robots.txt */
#define PB_ROBOTS_MAX_RULES 2000
#define PB_ROBOTS_MAX_SITEMAPS 16

/* Normalises an absolute http(s) URL into out (cap bytes): scheme and host
 * lowercased, the scheme's default port dropped, the fragment dropped, dot
 * segments removed, an empty path made "/", percent escapes' hex
 * uppercased, session-id parameters (";jsessionid=" in the path; query
 * keys jsessionid, phpsessid, sid, sessionid, session_id, aspsessionid*)
 * dropped and the remaining query parameters sorted by key (stable), so
 * "?b=1&a=2" and "?a=2&b=1" are one page. origin (origincap bytes, may be
 * NULL) gets "scheme://host[:port]": the politeness key. 0, PB_EINVAL (not
 * an absolute http(s) URL, userinfo, malformed) or PB_ETOOBIG (over
 * PB_CRAWL_URL_MAX or cap). */
int pb_crawl_url_norm(const char *url, char *out, size_t cap, char *origin, size_t origincap);

typedef struct pb_robots pb_robots;

/* Parses a robots.txt body (len bytes; past PB_ROBOTS_MAX_BYTES is
 * ignored) for user agent token agent ("ppod"): the group whose
 * User-agent line names agent (case-insensitive prefix of the token),
 * else the '*' group, else everything is allowed. Sitemap: lines are kept.
 * 0 or PB_ENOMEM; free with pb_robots_free. */
int pb_robots_parse(const char *text, size_t len, const char *agent, pb_robots **out);

/* 1 when path (path and query of a URL, starting with '/') may be fetched:
 * the longest matching rule decides, Allow winning a tie; no rule: 1. */
int pb_robots_allowed(const pb_robots *r, const char *path);

/* The Sitemap: URLs the file lists (borrowed until pb_robots_free). */
int pb_robots_sitemaps(const pb_robots *r, const char *const **urls);

/* NULL is a no-op. */
void pb_robots_free(pb_robots *r);

/* Calls fn(data, loc) for each <loc> of a sitemap or sitemap index (XML
 * entities &amp; &lt; &gt; &quot; &apos; decoded), at most max times. *is_index
 * (may be NULL) says whether it was a <sitemapindex>. Returns the count. */
int pb_sitemap_locs(const char *xml, size_t len, int max, int *is_index,
                    void (*fn)(void *data, const char *loc), void *data);

/* The links of an HTML document at doc_url (<a href>, <area href>), resolved
 * against its first <base href> if any, else doc_url; comments, <script>
 * and <style> skipped. Calls fn(data, absolute_url) for each, at most max
 * times; *title (may be NULL) gets the <title>'s text (caller frees; NULL
 * when none). Returns the count or PB_ENOMEM. */
int pb_html_links(const char *html, size_t len, const char *doc_url, int max, char **title,
                  void (*fn)(void *data, const char *url), void *data);

#endif
