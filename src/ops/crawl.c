/* Crawls: the scheduler, one page's work, and the three routes. See
 * ops/crawl.h for the bounds and the durability rules. */
#include "ops/crawl.h"

#include "common/crawlurl.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/pattern.h"
#include "common/pb.h"
#include "core/store.h"
#include "ops/fetch.h"
#include "ops/nav.h"
#include "render/html2md.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_PATTERNS 32
#define MAX_ORIGINS 64 /* robots.txt kept per crawl */
#define MAX_LINKS_PER_PAGE 1000
#define SITEMAP_MAX_FILES 8 /* a sitemap index's children read */
#define ROBOTS_TIMEOUT_MS 10000
#define RESULTS_PAGE_DEFAULT 50
#define RESULTS_PAGE_MAX 500
#define NDJSON_MAX_BYTES ((size_t)64 << 20)
#define SWEEP_EVERY_MS (10 * 60 * 1000)
#define PAGE_TIMEOUT_DEFAULT_MS 30000
#define KEPT_MAX 16       /* pages a crawl keeps between its page jobs */
#define KEPT_IDLE_MS 1000 /* a kept page unused this long goes back */

enum { FMT_MARKDOWN = 1, FMT_HTML = 2, FMT_LINKS = 4 };

/* robots.txt of one origin, fetched once per crawl (NULL rules: none). */
typedef struct {
  char origin[300];
  pb_robots *robots;
  int fetching;
} robots_entry;

/* A leased page a crawl keeps for its next page (ops/nav.h pb_nav_reuse),
 * with the job it works for: the job lives as long as the page. */
typedef struct {
  pb_nav *nav;
  pb_job job;
} kept_page;

/* A crawl the scheduler runs. Freed by the scheduler once it ended and no
 * page job holds it. */
typedef struct crawl {
  char id[PB_CRAWL_ID_MAX];
  int64_t account_id;
  cJSON *req;      /* the request, parsed; owns what opts borrow */
  pb_request page; /* pageOptions, typed */
  int limit, depth, same_origin, subdomains, render, robots, sitemap, formats;
  char origin[300]; /* of the start URL */
  char host[256];   /* of the start URL: options.includeSubdomains */
  pb_pattern *include[MAX_PATTERNS], *exclude[MAX_PATTERNS];
  int ninclude, nexclude;
  robots_entry robots_of[MAX_ORIGINS];
  int nrobots;
  /* The URLs known (hashes), to keep the limit exact without asking the
   * store: open addressing, 2 * limit + slack slots. */
  uint64_t *seen;
  size_t nseen_slots;
  int known; /* rows, aliases aside: the limit counts these */
  int64_t next_seq, next_done;
  /* The account's stored result bytes when the crawl was loaded, and what
   * this run has stored since: past the cap the crawl ends. */
  int64_t bytes_base, bytes_added;
  int inflight;
  int seeded;          /* robots + sitemap read */
  int ended;           /* completed, cancelled or failed: no more pages */
  atomic_int canceled; /* page jobs stop (user cancel or shutdown) */
  atomic_int cancel_by_user;
  atomic_int no_credit; /* a page found the account's credits spent: the crawl fails */
  kept_page *kept[KEPT_MAX]; /* pages between page jobs, at most share */
  int nkept;
  int64_t kept_since; /* the last time one was put back */
  struct crawl *next;
} crawl;

typedef struct {
  char origin[300];
  int n;
} host_slot;

typedef struct {
  int64_t account;
  int n;
} acct_slot;

struct pb_crawler {
  pb_crawler_opts o;
  pb_crawl_store *store;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
  int started, stopping;
  crawl *crawls;
  host_slot *hosts;
  int nhosts, ahosts;
  acct_slot *accts;
  int naccts, aaccts;
  int64_t last_sweep;
};

/* A page job: the crawl (held: inflight), its URL. */
typedef struct {
  pb_crawler *cr;
  crawl *c;
  char url[PB_CRAWL_URL_MAX + 1];
  char origin[300];
  int depth;
  int seed; /* the seed job: robots.txt and sitemaps, no page */
  int slots_released;
} page_job;

/* ---- small tables (lock held) ------------------------------------------- */

static int *host_count(pb_crawler *cr, const char *origin, int add) {
  for (int i = 0; i < cr->nhosts; i++)
    if (!strcmp(cr->hosts[i].origin, origin)) return &cr->hosts[i].n;
  if (!add) return NULL;
  if (cr->nhosts == cr->ahosts) {
    int na = cr->ahosts ? cr->ahosts * 2 : 16;
    host_slot *nh = realloc(cr->hosts, sizeof(*nh) * (size_t)na);
    if (!nh) return NULL;
    cr->hosts = nh;
    cr->ahosts = na;
  }
  host_slot *h = &cr->hosts[cr->nhosts++];
  pb_strlcpy(h->origin, origin, sizeof(h->origin));
  h->n = 0;
  return &h->n;
}

static int *acct_count(pb_crawler *cr, int64_t account) {
  for (int i = 0; i < cr->naccts; i++)
    if (cr->accts[i].account == account) return &cr->accts[i].n;
  if (cr->naccts == cr->aaccts) {
    int na = cr->aaccts ? cr->aaccts * 2 : 8;
    acct_slot *nv = realloc(cr->accts, sizeof(*nv) * (size_t)na);
    if (!nv) return NULL;
    cr->accts = nv;
    cr->aaccts = na;
  }
  cr->accts[cr->naccts] = (acct_slot){account, 0};
  return &cr->accts[cr->naccts++].n;
}

static int origin_busy(void *data, const char *origin) {
  pb_crawler *cr = data;
  int *n = host_count(cr, origin, 0);
  return n && *n >= cr->o.per_host;
}

/* ---- the seen set -------------------------------------------------------- */

static uint64_t url_hash(const char *url) {
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    h = (h ^ *p) * 1099511628211ULL;
  return h ? h : 1;
}

/* 1 when url was new (and is now known), 0 when known already. */
static int seen_add(crawl *c, const char *url) {
  uint64_t h = url_hash(url);
  size_t i = h % c->nseen_slots;
  while (c->seen[i]) {
    if (c->seen[i] == h) return 0;
    i = (i + 1) % c->nseen_slots;
  }
  c->seen[i] = h;
  return 1;
}

static void seen_load(void *data, const char *url) {
  crawl *c = data;
  if (url) seen_add(c, url);
}

/* ---- reading a crawl's request ------------------------------------------ */

static void kept_close(kept_page *kp) {
  if (!kp) return;
  pb_nav_close(kp->nav, NULL);
  free(kp);
}

static void crawl_free(crawl *c) {
  if (!c) return;
  for (int i = 0; i < c->nkept; i++) kept_close(c->kept[i]);
  for (int i = 0; i < c->ninclude; i++) pb_pattern_free(c->include[i]);
  for (int i = 0; i < c->nexclude; i++) pb_pattern_free(c->exclude[i]);
  for (int i = 0; i < c->nrobots; i++) pb_robots_free(c->robots_of[i].robots);
  free(c->seen);
  cJSON_Delete(c->req);
  free(c);
}

static int compile_list(const cJSON *list, const char *name, pb_pattern **out, int *n, char *err,
                        size_t cap) {
  const cJSON *it;
  *n = 0;
  cJSON_ArrayForEach(it, list) {
    if (!cJSON_IsString(it) || *n == MAX_PATTERNS) continue;
    char e[256];
    if (pb_pattern_compile(it->valuestring, &out[*n], e, sizeof(e))) {
      snprintf(err, cap, "%s[%d]: %s", name, *n, e);
      return PB_EINVAL;
    }
    (*n)++;
  }
  return 0;
}

/* Cloudflare's wildcard pattern (options.includePatterns/excludePatterns)
 * as an anchored regular expression over the whole normalised URL: "**"
 * any characters, "*" any but '/', every other character itself. */
static int glob_compile(const char *glob, pb_pattern **out, char *err, size_t cap) {
  size_t n = strlen(glob), j = 0, rcap = n * 5 + 8;
  char *re = malloc(rcap);
  if (!re) return PB_ENOMEM;
  re[j++] = '^';
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)glob[i];
    if (ch == '*' && glob[i + 1] == '*') {
      memcpy(re + j, ".*", 2);
      j += 2;
      while (glob[i + 1] == '*') i++;
    } else if (ch == '*') {
      memcpy(re + j, "[^/]*", 5);
      j += 5;
    } else {
      if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
            ch >= 0x80))
        re[j++] = '\\';
      re[j++] = (char)ch;
    }
  }
  re[j++] = '$';
  re[j] = '\0';
  if (j > PB_PATTERN_MAX_LEN) {
    snprintf(err, cap, "over %d bytes as an expression (each * counts 5 bytes, ** 2)",
             PB_PATTERN_MAX_LEN);
    free(re);
    return PB_EINVAL;
  }
  int rc = pb_pattern_compile(re, out, err, cap);
  free(re);
  return rc;
}

/* Cloudflare's options.includePatterns / excludePatterns (wildcards) after
 * ours (regular expressions), in the same arrays. */
static int compile_globs(const cJSON *list, const char *name, pb_pattern **out, int *n, char *err,
                         size_t cap) {
  const cJSON *it;
  int i = 0;
  cJSON_ArrayForEach(it, list) {
    if (!cJSON_IsString(it) || *n == MAX_PATTERNS) continue;
    char e[256];
    int rc = glob_compile(it->valuestring, &out[*n], e, sizeof(e));
    if (rc == PB_ENOMEM) return rc;
    if (rc) {
      snprintf(err, cap, "options.%s[%d]: %s", name, i, e);
      return PB_EINVAL;
    }
    (*n)++;
    i++;
  }
  return 0;
}

/* The host of an origin "scheme://host[:port]" into out. */
static void origin_host(const char *origin, char *out, size_t cap) {
  const char *h = strstr(origin, "://");
  h = h ? h + 3 : origin;
  size_t n = strcspn(h, ":/");
  if (*h == '[') n = strcspn(h, "]") + 1;
  if (n >= cap) n = cap - 1;
  memcpy(out, h, n);
  out[n] = '\0';
}

/* A crawl from its stored request. PB_EINVAL with err for a bad pattern or
 * start URL. */
static int crawl_new(pb_crawler *cr, const char *id, int64_t account, const char *request,
                     crawl **out, char *err, size_t cap) {
  *out = NULL;
  crawl *c = calloc(1, sizeof(*c));
  if (!c) return PB_ENOMEM;
  pb_strlcpy(c->id, id, sizeof(c->id));
  c->account_id = account;
  c->req = cJSON_Parse(request);
  if (!c->req) {
    free(c);
    return PB_EINVAL;
  }
  const cJSON *r = c->req;
  c->limit = (int)pb_json_int(r, "limit", PB_CRAWL_LIMIT_DEFAULT);
  c->depth = (int)pb_json_int(r, "depth", PB_CRAWL_DEPTH_DEFAULT);
  const cJSON *opts = cJSON_GetObjectItemCaseSensitive(r, "options");
  c->same_origin =
      pb_json_bool(r, "sameOrigin", 1) && !pb_json_bool(opts, "includeExternalLinks", 0);
  c->subdomains = pb_json_bool(opts, "includeSubdomains", 0);
  c->render = pb_json_bool(r, "render", 1);
  c->robots = pb_json_bool(r, "respectRobots", 1);
  c->sitemap = pb_json_bool(r, "sitemap", 1);
  /* Cloudflare's source: all (sitemaps and links), sitemaps (the start URL
   * and the sitemap's URLs: no link followed), links (no sitemap). */
  const char *source = pb_json_str(r, "source");
  if (source && !strcmp(source, "sitemaps")) {
    c->sitemap = 1;
    c->depth = 0;
  } else if (source && !strcmp(source, "links")) {
    c->sitemap = 0;
  } else if (source) {
    c->sitemap = 1;
  }
  const cJSON *fmts = cJSON_GetObjectItemCaseSensitive(r, "formats"), *f;
  if (!fmts) c->formats = FMT_MARKDOWN;
  cJSON_ArrayForEach(f, fmts) {
    if (!cJSON_IsString(f)) continue;
    if (!strcmp(f->valuestring, "markdown")) c->formats |= FMT_MARKDOWN;
    if (!strcmp(f->valuestring, "html")) c->formats |= FMT_HTML;
    if (!strcmp(f->valuestring, "links")) c->formats |= FMT_LINKS;
  }
  pb_request_default(&c->page);
  /* Each page's options: pageOptions when given, else the page options at
   * the top of the request, as Cloudflare takes them (the top's timeout is
   * the request's, not a page's). */
  const cJSON *po = cJSON_GetObjectItemCaseSensitive(r, "pageOptions");
  int top = !cJSON_IsObject(po);
  if (top) po = r;
  if (cr->o.read_request) cr->o.read_request(po, &c->page);
  c->page.page.url = NULL;
  c->page.page.html = NULL;
  c->page.page.trace = 0;
  if (top || !cJSON_GetObjectItemCaseSensitive(po, "timeout"))
    c->page.timeout_ms = PAGE_TIMEOUT_DEFAULT_MS;
  char norm[PB_CRAWL_URL_MAX + 1];
  int rc = pb_crawl_url_norm(pb_json_str(r, "url") ? pb_json_str(r, "url") : "", norm, sizeof(norm),
                             c->origin, sizeof(c->origin));
  if (rc) snprintf(err, cap, "url: not an absolute http(s) URL the crawler can take");
  if (!rc)
    rc = compile_list(cJSON_GetObjectItemCaseSensitive(r, "includePatterns"), "includePatterns",
                      c->include, &c->ninclude, err, cap);
  if (!rc)
    rc = compile_list(cJSON_GetObjectItemCaseSensitive(r, "excludePatterns"), "excludePatterns",
                      c->exclude, &c->nexclude, err, cap);
  if (!rc)
    rc = compile_globs(cJSON_GetObjectItemCaseSensitive(opts, "includePatterns"),
                       "includePatterns", c->include, &c->ninclude, err, cap);
  if (!rc)
    rc = compile_globs(cJSON_GetObjectItemCaseSensitive(opts, "excludePatterns"),
                       "excludePatterns", c->exclude, &c->nexclude, err, cap);
  origin_host(c->origin, c->host, sizeof(c->host));
  c->nseen_slots = (size_t)c->limit * 2 + 64;
  c->seen = rc ? NULL : calloc(c->nseen_slots, sizeof(uint64_t));
  if (!rc && !c->seen) rc = PB_ENOMEM;
  if (rc) {
    crawl_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

/* 1 when a link found on a page may join the frontier: same origin when
 * asked, includePatterns (any) and excludePatterns (none). */
static int wanted(const crawl *c, const char *url, const char *origin) {
  if (c->same_origin && strcmp(origin, c->origin)) {
    if (!c->subdomains) return 0;
    char h[256];
    origin_host(origin, h, sizeof(h));
    size_t hl = strlen(h), sl = strlen(c->host);
    if (!(hl > sl + 1 && h[hl - sl - 1] == '.' && !strcasecmp(h + hl - sl, c->host))) return 0;
  }
  size_t n = strlen(url);
  if (c->ninclude) {
    int any = 0;
    for (int i = 0; i < c->ninclude && !any; i++)
      any = pb_pattern_match(c->include[i], url, n) == 1;
    if (!any) return 0;
  }
  for (int i = 0; i < c->nexclude; i++)
    if (pb_pattern_match(c->exclude[i], url, n) == 1) return 0;
  return 1;
}

/* ---- robots.txt and sitemaps ---------------------------------------------- */

/* robots.txt of origin for crawl c (fetched once, outside the lock); NULL:
 * everything allowed. Borrowed while the crawl lives. */
static const pb_robots *robots_for(pb_crawler *cr, crawl *c, const char *origin) {
  pthread_mutex_lock(&cr->mu);
  for (int i = 0; i < c->nrobots; i++)
    if (!strcmp(c->robots_of[i].origin, origin)) {
      const pb_robots *r = c->robots_of[i].robots;
      pthread_mutex_unlock(&cr->mu);
      return r;
    }
  pthread_mutex_unlock(&cr->mu);
  char url[400], err[256];
  snprintf(url, sizeof(url), "%s/robots.txt", origin);
  pb_fetch_result f;
  pb_robots *r = NULL;
  int rc = pb_fetch(cr->o.env->egress, cr->o.proxy_port, url, NULL, pb_now_ms() + ROBOTS_TIMEOUT_MS,
                    PB_ROBOTS_MAX_BYTES, &f, err, sizeof(err));
  /* 4xx: no rules. 5xx or unreachable: no rules either (Google takes a
   * 5xx as "disallow all" for a while; a crawl here is short-lived). */
  if (!rc && f.status >= 200 && f.status < 300) pb_robots_parse(f.body, f.len, "ppod", &r);
  if (!rc) pb_fetch_result_free(&f);
  pthread_mutex_lock(&cr->mu);
  for (int i = 0; i < c->nrobots; i++)
    if (!strcmp(c->robots_of[i].origin, origin)) { /* another job was first */
      pb_robots_free(r);
      r = c->robots_of[i].robots;
      pthread_mutex_unlock(&cr->mu);
      return r;
    }
  if (c->nrobots < MAX_ORIGINS) {
    pb_strlcpy(c->robots_of[c->nrobots].origin, origin, sizeof(c->robots_of[0].origin));
    c->robots_of[c->nrobots++].robots = r;
  } else {
    pb_robots_free(r);
    r = NULL;
  }
  pthread_mutex_unlock(&cr->mu);
  return r;
}

typedef struct {
  pb_crawler *cr;
  crawl *c;
  pb_crawl_url *v;
  char (*urls)[PB_CRAWL_URL_MAX + 1];
  char (*origins)[300];
  int n, cap, depth;
  char children[SITEMAP_MAX_FILES][PB_CRAWL_URL_MAX + 1];
  int nchildren;
  int index; /* reading an index: locs are sitemaps */
} collect;

static int collect_init(collect *k, pb_crawler *cr, crawl *c, int cap, int depth) {
  memset(k, 0, sizeof(*k));
  k->cr = cr;
  k->c = c;
  k->cap = cap;
  k->depth = depth;
  k->v = calloc((size_t)cap, sizeof(*k->v));
  k->urls = calloc((size_t)cap, sizeof(*k->urls));
  k->origins = calloc((size_t)cap, sizeof(*k->origins));
  return k->v && k->urls && k->origins ? 0 : PB_ENOMEM;
}

static void collect_free(collect *k) {
  free(k->v);
  free(k->urls);
  free(k->origins);
}

/* A link (or a sitemap's loc) to add: normalised and filtered now; the
 * limit and the seen set are applied under the lock at the end. */
static void collect_url(void *data, const char *url) {
  collect *k = data;
  if (k->index) {
    if (k->nchildren < SITEMAP_MAX_FILES)
      pb_strlcpy(k->children[k->nchildren++], url, sizeof(k->children[0]));
    return;
  }
  if (k->n >= k->cap) return;
  if (pb_crawl_url_norm(url, k->urls[k->n], sizeof(k->urls[0]), k->origins[k->n],
                        sizeof(k->origins[0])))
    return;
  if (!wanted(k->c, k->urls[k->n], k->origins[k->n])) return;
  k->v[k->n] = (pb_crawl_url){.url = k->urls[k->n],
                              .origin = k->origins[k->n],
                              .depth = k->depth,
                              .state = PB_CRAWL_QUEUED};
  k->n++;
}

/* Keeps the collected URLs that are new and within the limit, with their
 * sequence numbers (lock held). Returns how many are kept (first in v). */
static int admit_urls(crawl *c, collect *k) {
  int kept = 0;
  for (int i = 0; i < k->n; i++) {
    if (c->known >= c->limit) break;
    if (!seen_add(c, k->v[i].url)) continue;
    c->known++;
    k->v[kept] = k->v[i];
    k->v[kept].seq = ++c->next_seq;
    kept++;
  }
  return kept;
}

/* The seed job: sitemap URLs (robots.txt's Sitemap: lines, else
 * /sitemap.xml; an index's children, bounded) join the frontier at depth 0. */
static void seed_crawl(pb_crawler *cr, crawl *c) {
  const pb_robots *rb = c->robots ? robots_for(cr, c, c->origin) : NULL;
  if (!c->sitemap) return;
  collect k;
  if (collect_init(&k, cr, c, c->limit, 0)) {
    collect_free(&k);
    return;
  }
  char queue[SITEMAP_MAX_FILES][PB_CRAWL_URL_MAX + 1];
  int nq = 0;
  const char *const *maps = NULL;
  int nmaps = rb ? pb_robots_sitemaps(rb, &maps) : 0;
  for (int i = 0; i < nmaps && nq < SITEMAP_MAX_FILES; i++)
    pb_strlcpy(queue[nq++], maps[i], sizeof(queue[0]));
  if (!nq) snprintf(queue[nq++], sizeof(queue[0]), "%s/sitemap.xml", c->origin);
  for (int i = 0, files = 0; i < nq && files < SITEMAP_MAX_FILES; i++, files++) {
    if (atomic_load(&c->canceled)) break;
    pb_fetch_result f;
    char err[256];
    if (pb_fetch(cr->o.env->egress, cr->o.proxy_port, queue[i], NULL,
                 pb_now_ms() + ROBOTS_TIMEOUT_MS, PB_CRAWL_PAGE_BYTES_MAX, &f, err, sizeof(err)))
      continue;
    if (f.status >= 200 && f.status < 300) {
      int is_index = 0;
      k.nchildren = 0;
      k.index = strstr(f.body, "<sitemapindex") != NULL;
      pb_sitemap_locs(f.body, f.len, k.index ? SITEMAP_MAX_FILES : c->limit, &is_index, collect_url,
                      &k);
      for (int j = 0; j < k.nchildren && nq < SITEMAP_MAX_FILES; j++)
        pb_strlcpy(queue[nq++], k.children[j], sizeof(queue[0]));
      k.index = 0;
    }
    pb_fetch_result_free(&f);
  }
  pthread_mutex_lock(&cr->mu);
  int kept = admit_urls(c, &k);
  pthread_mutex_unlock(&cr->mu);
  if (kept && pb_crawl_add_urls(cr->store, c->id, k.v, kept, NULL))
    PB_WARN("crawl %s: the sitemap's URLs could not be stored", c->id);
  collect_free(&k);
}

/* ---- one page ------------------------------------------------------------ */

static const char page_js[] =
    "(wantHtml) => { const e = performance.getEntriesByType('navigation')[0];"
    " const links = []; const seen = new Set();"
    " for (const a of document.querySelectorAll('a[href], area[href]')) { const h = a.href;"
    "  if (/^https?:/i.test(h) && !seen.has(h) && links.length < 1000) { seen.add(h); "
    "links.push(h); } }"
    " return { url: location.href, status: e && e.responseStatus ? e.responseStatus : 0,"
    "  title: document.title || '', links,"
    "  html: wantHtml && document.documentElement ? document.documentElement.outerHTML : '' }; }";

typedef struct {
  int state, http_status;
  char final_url[PB_CRAWL_URL_MAX + 1];
  char *title, *html;
  cJSON *links; /* array of strings */
  char error[512];
  int64_t browser_ms;
} page_out;

static void page_out_free(page_out *p) {
  free(p->title);
  free(p->html);
  cJSON_Delete(p->links);
}

static void links_cb(void *data, const char *url) {
  cJSON_AddItemToArray((cJSON *)data, cJSON_CreateString(url));
}

static void fetch_plain(pb_crawler *cr, crawl *c, const char *url, int64_t deadline, page_out *p) {
  pb_fetch_result f;
  char err[400];
  int rc = pb_fetch(cr->o.env->egress, cr->o.proxy_port, url, c->page.page.user_agent, deadline,
                    PB_CRAWL_PAGE_BYTES_MAX, &f, err, sizeof(err));
  if (rc) {
    /* Named like the rendered path's failures. */
    pb_code code = rc == PB_EFORBIDDEN ? PB_CODE_FORBIDDEN_URL
                   : rc == PB_ETIMEOUT ? PB_CODE_TIMEOUT
                   : rc == PB_ETOOBIG  ? PB_CODE_PAGE_TOO_LARGE
                                       : PB_CODE_NAVIGATION_FAILED;
    p->state = PB_CRAWL_FAILED;
    snprintf(p->error, sizeof(p->error), "%s: %s", pb_code_text(code), err);
    return;
  }
  p->http_status = f.status;
  pb_strlcpy(p->final_url, f.final_url, sizeof(p->final_url));
  p->links = cJSON_CreateArray();
  if (!strncasecmp(f.content_type, "text/html", 9) ||
      !strncasecmp(f.content_type, "application/xhtml", 17) || !f.content_type[0]) {
    pb_html_links(f.body, f.len, f.final_url, MAX_LINKS_PER_PAGE, &p->title, links_cb, p->links);
    p->html = f.body;
    f.body = NULL;
  }
  pb_fetch_result_free(&f);
  p->state = PB_CRAWL_DONE;
}

/* A failure that is the page's own (the URL did not load), not the kept
 * page's: no point in trying again on a fresh page. */
static int url_failure(pb_code code) {
  return code != PB_CODE_PAGE_CRASHED && code != PB_CODE_BROWSER_CRASHED &&
         code != PB_CODE_INTERNAL_ERROR && code != PB_CODE_NONE;
}

static void fetch_rendered(pb_crawler *cr, crawl *c, const char *url, int64_t deadline,
                           page_out *p) {
  pb_op_result res;
  memset(&res, 0, sizeof(res));
  int64_t t0 = pb_now_ms();
  /* The page the crawl's last page used, when one waits: no lease, no
   * fresh context, the options already applied. */
  pthread_mutex_lock(&cr->mu);
  kept_page *kp = c->nkept ? c->kept[--c->nkept] : NULL;
  pthread_mutex_unlock(&cr->mu);
  if (kp) {
    kp->job.opts.page.url = url;
    kp->job.deadline_ms = deadline;
    if (pb_nav_reuse(kp->nav, &kp->job, url, &res)) {
      kept_close(kp);
      kp = NULL;
      if (url_failure(res.err)) goto failed;
      pb_op_result_free(&res);
      memset(&res, 0, sizeof(res));
    }
  }
  if (!kp) {
    kp = calloc(1, sizeof(*kp));
    if (!kp) {
      pb_op_fail(&res, PB_CODE_INTERNAL_ERROR, "out of memory");
      goto failed;
    }
    kp->job.env = cr->o.env;
    kp->job.opts = c->page;
    kp->job.opts.page.url = url;
    kp->job.deadline_ms = deadline;
    kp->job.canceled = &c->canceled;
    kp->job.account_id = c->account_id;
    pb_limits_default(&kp->job.limits);
    if (pb_nav_open(&kp->job, &res, &kp->nav)) {
      free(kp);
      kp = NULL;
      goto failed;
    }
  }
  cJSON *args = cJSON_CreateArray(), *v = NULL;
  cJSON_AddItemToArray(args, cJSON_CreateBool((c->formats & (FMT_HTML | FMT_MARKDOWN)) != 0));
  char err[256];
  int rc = pb_nav_apply(kp->nav, page_js, args, &v, err, sizeof(err));
  cJSON_Delete(args);
  p->browser_ms = pb_now_ms() - t0;
  /* Kept for the next page unless the crawl is ending. */
  pthread_mutex_lock(&cr->mu);
  if (!rc && !atomic_load(&c->canceled) && !c->ended && c->nkept < KEPT_MAX &&
      c->nkept < cr->o.share) {
    c->kept[c->nkept++] = kp;
    c->kept_since = pb_now_ms();
    kp = NULL;
  }
  pthread_mutex_unlock(&cr->mu);
  kept_close(kp);
  if (rc) {
    p->state = PB_CRAWL_FAILED;
    snprintf(p->error, sizeof(p->error), "reading the page: %s",
             rc == PB_EINVAL ? err : pb_strerror(rc));
    cJSON_Delete(v);
    return;
  }
  p->state = PB_CRAWL_DONE;
  p->http_status = (int)pb_json_int(v, "status", 0);
  const char *fu = pb_json_str(v, "url"), *t = pb_json_str(v, "title"), *h = pb_json_str(v, "html");
  pb_strlcpy(p->final_url, fu ? fu : url, sizeof(p->final_url));
  p->title = t && *t ? strdup(t) : NULL;
  p->html = h && *h ? strdup(h) : NULL;
  p->links = cJSON_DetachItemFromObjectCaseSensitive(v, "links");
  cJSON_Delete(v);
  return;
failed:
  p->state = PB_CRAWL_FAILED;
  p->browser_ms = pb_now_ms() - t0;
  snprintf(p->error, sizeof(p->error), "%s: %.400s", pb_code_text(res.err), res.message);
  pb_op_result_free(&res);
}

/* The stored result of a page: {markdown, html, links} as formats ask. */
static char *page_result(const crawl *c, const page_out *p) {
  cJSON *o = cJSON_CreateObject();
  if ((c->formats & FMT_MARKDOWN) && p->html) {
    pb_md_opts mo = c->page.markdown.md;
    pb_strlcpy(mo.base_url, p->final_url, sizeof(mo.base_url));
    char *md = NULL;
    size_t n = 0;
    if (pb_html2md(p->html, strlen(p->html), &mo, &md, &n) == 0) {
      cJSON_AddStringToObject(o, "markdown", md ? md : "");
      free(md);
    } else {
      cJSON_AddStringToObject(o, "markdown", "");
    }
  }
  if ((c->formats & FMT_HTML) && p->html) cJSON_AddStringToObject(o, "html", p->html);
  if ((c->formats & FMT_LINKS) && p->links) cJSON_AddItemReferenceToObject(o, "links", p->links);
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return s;
}

/* Ends a page job: the crawl and its host are free for the next. */
/* The page no longer uses its host or a browser: the next page may start
 * while this one's result is converted and stored. Once per page job. */
static void page_slots_release(pb_crawler *cr, page_job *pj) {
  if (pj->slots_released) return;
  pj->slots_released = 1;
  pthread_mutex_lock(&cr->mu);
  int *h = host_count(cr, pj->origin, 0);
  if (h && *h > 0) (*h)--;
  int *a = acct_count(cr, pj->c->account_id);
  if (a && *a > 0) (*a)--;
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
}

/* Ends a page job: the crawl may end once none is left. */
static void page_release(pb_crawler *cr, page_job *pj) {
  page_slots_release(cr, pj);
  pthread_mutex_lock(&cr->mu);
  pj->c->inflight--;
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  free(pj);
}

static void page_main(void *arg) {
  page_job *pj = arg;
  pb_crawler *cr = pj->cr;
  crawl *c = pj->c;
  if (pj->seed) {
    if (!atomic_load(&c->canceled)) seed_crawl(cr, c);
    pthread_mutex_lock(&cr->mu);
    c->seeded = 1;
    pthread_mutex_unlock(&cr->mu);
    page_release(cr, pj);
    return;
  }
  page_out p;
  memset(&p, 0, sizeof(p));
  int64_t t0 = pb_now_ms();
  int64_t deadline = t0 + (c->page.timeout_ms > 0 ? c->page.timeout_ms : PAGE_TIMEOUT_DEFAULT_MS);
  const char *path = strstr(pj->url, "://");
  path = path ? path + 3 + strcspn(path + 3, "/") : "/";
  const pb_robots *rb =
      c->robots && !atomic_load(&c->canceled) ? robots_for(cr, c, pj->origin) : NULL;
  int64_t usage_id = 0;
  if (rb && !pb_robots_allowed(rb, path)) {
    p.state = PB_CRAWL_SKIPPED;
    snprintf(p.error, sizeof(p.error), "disallowed by robots.txt");
  } else if (!atomic_load(&c->canceled)) {
    /* Billable work is never done unmetered: a row that cannot be opened
     * leaves the page for later. */
    int urc = c->render ? pb_usage_begin(cr->o.env->store, c->account_id, "crawl", pb_wall_ms(),
                                         &usage_id)
                        : 0;
    if (urc) {
      p.state = PB_CRAWL_QUEUED;
      if (urc == PB_ENOCREDIT) atomic_store(&c->no_credit, 1);
    } else if (c->render) {
      fetch_rendered(cr, c, pj->url, deadline, &p);
    } else {
      fetch_plain(cr, c, pj->url, deadline, &p);
    }
  }
  page_slots_release(cr, pj);
  if (p.state == PB_CRAWL_DONE && p.http_status >= 400) {
    p.state = PB_CRAWL_FAILED;
    snprintf(p.error, sizeof(p.error), "HTTP %d", p.http_status);
  }
  if (usage_id)
    pb_usage_end(cr->o.env->store, usage_id, pb_wall_ms(), p.state == PB_CRAWL_DONE ? 200 : 422);

  /* Canceled: by the user, the page is dropped; at shutdown, it goes back
   * to the frontier for the next run. */
  int canceled = atomic_load(&c->canceled), by_user = atomic_load(&c->cancel_by_user);
  if (canceled && !by_user) p.state = PB_CRAWL_QUEUED;
  if (!canceled || !by_user) {
    collect k;
    int kept = 0;
    char *result = NULL;
    char final_norm[PB_CRAWL_URL_MAX + 1] = "", final_origin[300] = "";
    pb_crawl_url alias;
    memset(&k, 0, sizeof(k));
    if (p.state == PB_CRAWL_DONE) {
      int room = p.links ? cJSON_GetArraySize(p.links) + 1 : 1;
      if (!collect_init(&k, cr, c, room, pj->depth + 1) && pj->depth < c->depth) {
        const cJSON *l;
        cJSON_ArrayForEach(l, p.links) if (cJSON_IsString(l)) collect_url(&k, l->valuestring);
      }
      result = page_result(c, &p);
      /* A redirect's target is known by its own name too: an alias row, so
       * a link to it later is not fetched again. */
      if (!pb_crawl_url_norm(p.final_url, final_norm, sizeof(final_norm), final_origin,
                             sizeof(final_origin)) &&
          strcmp(final_norm, pj->url)) {
        alias = (pb_crawl_url){
            .url = final_norm, .origin = final_origin, .depth = pj->depth, .state = PB_CRAWL_ALIAS};
      } else {
        final_norm[0] = '\0';
      }
    }
    int64_t done_seq = 0;
    pthread_mutex_lock(&cr->mu);
    if (final_norm[0] && seen_add(c, final_norm))
      alias.seq = ++c->next_seq; /* added with the links, below */
    else
      final_norm[0] = '\0';
    if (k.v) kept = admit_urls(c, &k);
    if (final_norm[0] && k.v && kept < k.cap) k.v[kept++] = alias;
    if (p.state != PB_CRAWL_QUEUED) done_seq = ++c->next_done;
    pthread_mutex_unlock(&cr->mu);
    int added = 0;
    pthread_mutex_lock(&cr->mu);
    c->bytes_added += (result ? (int64_t)strlen(result) : 0) + (int64_t)strlen(pj->url) + 64;
    pthread_mutex_unlock(&cr->mu);
    if (pb_crawl_finish(cr->store, c->id, pj->url, p.state, done_seq, p.http_status,
                        p.final_url[0] ? p.final_url : NULL, p.title, p.error[0] ? p.error : NULL,
                        result, p.browser_ms, k.v, kept, &added))
      PB_WARN("crawl %s: a page's result could not be stored", c->id);
    free(result);
    collect_free(&k);
  }
  page_out_free(&p);
  page_release(cr, pj);
}

/* ---- the scheduler ------------------------------------------------------- */

/* Starts what crawl c may start now (lock held). 1 when it has ended. */
static int schedule(pb_crawler *cr, crawl *c) {
  /* Kept pages go back to the pool when the crawl has none running for a
   * while (it waits for a busy host, or the share is taken). */
  if (c->nkept && (c->ended || (c->inflight == 0 && pb_now_ms() - c->kept_since > KEPT_IDLE_MS)))
    while (c->nkept) kept_close(c->kept[--c->nkept]);
  if (c->ended) return c->inflight == 0;
  int *acct = acct_count(cr, c->account_id);
  if (!acct) return 0;
  if (!c->seeded) {
    if (c->inflight || *acct >= cr->o.share) return 0;
    page_job *pj = calloc(1, sizeof(*pj));
    if (!pj) return 0;
    pj->cr = cr;
    pj->c = c;
    pj->seed = 1;
    pb_strlcpy(pj->origin, "", sizeof(pj->origin));
    c->inflight++;
    (*acct)++;
    if (pb_jobs_submit_keyed(cr->o.jobs, c->account_id, page_main, NULL, pj)) {
      c->inflight--;
      (*acct)--;
      free(pj);
    }
    return 0;
  }
  if (atomic_load(&c->no_credit)) {
    c->ended = 1;
    pb_crawl_set_status(cr->store, c->id, "failed",
                        "INSUFFICIENT_CREDITS: the account's credits ran out", pb_wall_ms());
    return c->inflight == 0;
  }
  if (c->bytes_base + c->bytes_added >= cr->o.max_bytes) {
    char why[200];
    snprintf(why, sizeof(why),
             "CRAWL_QUOTA_EXCEEDED: the account's stored crawl results reached %lld bytes, its cap",
             (long long)cr->o.max_bytes);
    c->ended = 1;
    pb_crawl_set_status(cr->store, c->id, "failed", why, pb_wall_ms());
    return c->inflight == 0;
  }
  while (*acct < cr->o.share && !atomic_load(&c->canceled)) {
    page_job *pj = calloc(1, sizeof(*pj));
    if (!pj) return 0;
    int rc = pb_crawl_claim(cr->store, c->id, origin_busy, cr, pj->url, pj->origin, &pj->depth);
    if (rc) {
      free(pj);
      if (rc == PB_ENOTFOUND && c->inflight == 0) {
        c->ended = 1;
        pb_crawl_set_status(cr->store, c->id, "completed", NULL, pb_wall_ms());
        return 1;
      }
      return 0;
    }
    pj->cr = cr;
    pj->c = c;
    int *h = host_count(cr, pj->origin, 1);
    if (h) (*h)++;
    c->inflight++;
    (*acct)++;
    if (pb_jobs_submit_keyed(cr->o.jobs, c->account_id, page_main, NULL, pj)) {
      /* The queue is full: the page waits in the frontier. */
      pb_crawl_finish(cr->store, c->id, pj->url, PB_CRAWL_QUEUED, 0, 0, NULL, NULL, NULL, NULL, 0,
                      NULL, 0, NULL);
      if (h) (*h)--;
      c->inflight--;
      (*acct)--;
      free(pj);
      return 0;
    }
  }
  return 0;
}

static void *scheduler(void *arg) {
  pb_crawler *cr = arg;
  pthread_mutex_lock(&cr->mu);
  while (!cr->stopping) {
    /* Round robin: the crawl served first goes last next time, so two
     * crawls of one account share its slots instead of the newest taking
     * them all. */
    if (cr->crawls && cr->crawls->next) {
      crawl *head = cr->crawls, *tail = head;
      while (tail->next) tail = tail->next;
      cr->crawls = head->next;
      head->next = NULL;
      tail->next = head;
    }
    crawl **pp = &cr->crawls;
    while (*pp) {
      crawl *c = *pp;
      if (schedule(cr, c) && c->inflight == 0) {
        *pp = c->next;
        crawl_free(c);
        continue;
      }
      pp = &c->next;
    }
    int64_t now = pb_wall_ms();
    if (now - cr->last_sweep > SWEEP_EVERY_MS) {
      cr->last_sweep = now;
      int n = 0;
      if (!pb_crawl_sweep(cr->store, now - PB_CRAWL_KEEP_MS, &n) && n)
        PB_INFO("crawl: %d crawl(s) older than 24 h swept", n);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 250 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&cr->cv, &cr->mu, &ts);
  }
  pthread_mutex_unlock(&cr->mu);
  return NULL;
}

/* Makes crawl rec runnable (lock not held): parsed, its seen set and
 * sequences from the store. */
static int crawl_load(pb_crawler *cr, const pb_crawl_rec *rec) {
  crawl *c = NULL;
  char err[256];
  int rc = crawl_new(cr, rec->id, rec->account_id, rec->request ? rec->request : "", &c, err,
                     sizeof(err));
  if (rc) {
    pb_crawl_set_status(cr->store, rec->id, "failed", "the stored request could not be read",
                        pb_wall_ms());
    return rc;
  }
  pb_crawl_each_url(cr->store, c->id, seen_load, c);
  c->known =
      (int)(rec->counts[0] + rec->counts[1] + rec->counts[2] + rec->counts[3] + rec->counts[4]);
  c->next_seq = rec->max_seq;
  c->next_done = rec->max_done;
  c->seeded = rec->max_seq > 1; /* the sitemap was read in the earlier run */
  int active = 0;
  pb_crawl_account_usage(cr->store, c->account_id, &active, &c->bytes_base);
  pb_crawl_set_status(cr->store, c->id, "running", NULL, 0);
  pthread_mutex_lock(&cr->mu);
  c->next = cr->crawls;
  cr->crawls = c;
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  return 0;
}

int pb_crawler_start(const pb_crawler_opts *o, pb_crawler **out) {
  *out = NULL;
  pb_crawler *cr = calloc(1, sizeof(*cr));
  if (!cr) return PB_ENOMEM;
  cr->o = *o;
  if (cr->o.share < 1) cr->o.share = 1;
  if (cr->o.per_host < 1) cr->o.per_host = 1;
  if (cr->o.max_active < 1) cr->o.max_active = 4;
  if (cr->o.max_bytes <= 0) cr->o.max_bytes = (int64_t)256 << 20;
  pthread_mutex_init(&cr->mu, NULL);
  pthread_cond_init(&cr->cv, NULL);
  int rc = pb_crawl_store_open_spec(o->store_spec, o->data_dir, &cr->store);
  if (rc) {
    pb_crawler_stop(cr);
    return rc;
  }
  /* A crawl is its node's: in cluster mode this node resumes only crawls
   * whose id carries its tag (none, at a fresh tag), and ends those of
   * incarnations that left or were lost while no crawler could. */
  const char *tag = pb_node_tag();
  int n = 0;
  if (*tag && !pb_crawl_orphans_end(cr->store, tag, pb_wall_ms(), &n) && n)
    PB_WARN("crawl: %d crawl(s) of nodes gone ended (NodeLost)", n);
  n = 0;
  pb_crawl_requeue_running(cr->store, tag, &n);
  pb_crawl_rec *recs = NULL;
  size_t nrecs = 0;
  if (!pb_crawl_list_active(cr->store, tag, &recs, &nrecs)) {
    for (size_t i = 0; i < nrecs; i++) {
      crawl_load(cr, &recs[i]);
      free(recs[i].request);
    }
    free(recs);
    if (nrecs) PB_INFO("crawl: resumed %zu crawl(s) (%d page(s) back in the frontier)", nrecs, n);
  }
  if (pthread_create(&cr->thread, NULL, scheduler, cr)) {
    pb_crawler_stop(cr);
    return PB_EIO;
  }
  cr->started = 1;
  *out = cr;
  return 0;
}

int pb_crawler_node_lost(pb_crawler *cr, const char *tag, int *n) {
  *n = 0;
  if (!cr || !tag) return 0;
  int rc = pb_crawl_node_lost(cr->store, tag, pb_wall_ms(), n);
  if (rc || !*n) return rc;
  /* Drop what this node may hold of them (none, normally: another node's
   * crawls are not run here). */
  pthread_mutex_lock(&cr->mu);
  for (crawl *c = cr->crawls; c; c = c->next)
    if (!strncmp(c->id, tag, 4)) {
      atomic_store(&c->canceled, 1);
      c->ended = 1;
    }
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  return 0;
}

void pb_crawler_stop(pb_crawler *cr) {
  if (!cr) return;
  pthread_mutex_lock(&cr->mu);
  cr->stopping = 1;
  for (crawl *c = cr->crawls; c; c = c->next) atomic_store(&c->canceled, 1);
  pthread_cond_broadcast(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  if (cr->started) pthread_join(cr->thread, NULL);
  /* Page jobs still queued or running hold their crawls: wait for them
   * (they see the flag and put their pages back). */
  pthread_mutex_lock(&cr->mu);
  for (;;) {
    int busy = 0;
    for (crawl *c = cr->crawls; c; c = c->next) busy += c->inflight;
    if (!busy) break;
    pthread_cond_wait(&cr->cv, &cr->mu);
  }
  while (cr->crawls) {
    crawl *c = cr->crawls;
    cr->crawls = c->next;
    crawl_free(c);
  }
  pthread_mutex_unlock(&cr->mu);
  pb_crawl_store_close(cr->store);
  free(cr->hosts);
  free(cr->accts);
  pthread_cond_destroy(&cr->cv);
  pthread_mutex_destroy(&cr->mu);
  free(cr);
}

/* ---- the routes ---------------------------------------------------------- */

int pb_op_crawl_start(pb_job *job, pb_op_result *res) {
  pb_crawler *cr = job->env->crawler;
  if (!cr) return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "crawls are not available");
  const cJSON *body = job->opts.body;
  const char *url = pb_json_str(body, "url");
  char err[512];
  int rc = url ? pb_egress_check_url(job->env->egress, url, err, sizeof(err)) : PB_EINVAL;
  if (rc == PB_EFORBIDDEN) return pb_op_fail(res, PB_CODE_FORBIDDEN_URL, "url: %s", err);
  if (rc) return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "url: %s", url ? err : "missing");
  const cJSON *f;
  cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(body, "formats")) {
    if (cJSON_IsString(f) && !strcmp(f->valuestring, "json"))
      return pb_op_fail(res, PB_CODE_NO_MODEL,
                        "formats: json needs a language model (jsonOptions.prompt) and there is "
                        "none here; ask for markdown or html, and extract with POST /browser/json "
                        "and a schema whose properties carry selectors");
  }
  int active = 0;
  int64_t bytes = 0;
  if (pb_crawl_account_usage(cr->store, job->account_id, &active, &bytes))
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the account's crawls failed");
  if (active >= cr->o.max_active)
    return pb_op_fail(res, PB_CODE_CRAWL_LIMIT,
                      "the account has %d crawl(s) queued or running, the most it may; wait for "
                      "one to end or cancel one (DELETE /browser/crawl/{id})",
                      active);
  if (bytes >= cr->o.max_bytes)
    return pb_op_fail(res, PB_CODE_CRAWL_QUOTA_EXCEEDED,
                      "the account's crawl results hold %lld bytes, at the cap of %lld; they are "
                      "kept 24 hours",
                      (long long)bytes, (long long)cr->o.max_bytes);
  char *text = cJSON_PrintUnformatted(body);
  if (!text) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  char id[PB_CRAWL_ID_MAX]; /* 24 hex digits; the node's tag first in a cluster */
  if (pb_random_id_hex(id, 12)) {
    free(text);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "no randomness for the crawl's id");
  }
  crawl *c = NULL;
  rc = crawl_new(cr, id, job->account_id, text, &c, err, sizeof(err));
  if (rc) {
    free(text);
    if (rc == PB_EINVAL && err[0])
      return pb_op_fail(res,
                        strstr(err, "Patterns") ? PB_CODE_INVALID_PATTERN : PB_CODE_INVALID_REQUEST,
                        "%s", err);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  }
  char norm[PB_CRAWL_URL_MAX + 1], origin[300];
  pb_crawl_url_norm(url, norm, sizeof(norm), origin, sizeof(origin));
  seen_add(c, norm);
  c->known = 1;
  c->next_seq = 1;
  c->bytes_base = bytes;
  pb_crawl_url seed = {
      .url = norm, .origin = origin, .depth = 0, .state = PB_CRAWL_QUEUED, .seq = 1};
  rc = pb_crawl_create(cr->store, id, job->account_id, text, pb_wall_ms());
  if (!rc) rc = pb_crawl_add_urls(cr->store, id, &seed, 1, NULL);
  if (!rc) rc = pb_crawl_set_status(cr->store, id, "running", NULL, 0);
  free(text);
  if (rc) {
    crawl_free(c);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "storing the crawl failed");
  }
  pthread_mutex_lock(&cr->mu);
  c->next = cr->crawls;
  cr->crawls = c;
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  /* Cloudflare's answer: the job's id is the result. */
  return pb_op_json(res, cJSON_CreateString(id));
}

/* A query parameter's value from job->query ("a=1&b=2"), or NULL. */
static const char *query_arg(const char *q, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = q; p && *p;) {
    size_t seg = strcspn(p, "&");
    if (seg > nl && !strncmp(p, name, nl) && p[nl] == '=') {
      size_t vl = seg - nl - 1;
      if (vl >= cap) vl = cap - 1;
      memcpy(out, p + nl + 1, vl);
      out[vl] = '\0';
      return out;
    }
    p += seg;
    if (*p) p++;
  }
  return NULL;
}

/* A record's status in Cloudflare's words: completed, errored (did not
 * load, or the origin answered 4xx/5xx), disallowed (robots.txt). */
static const char *state_name(const pb_crawl_result *r) {
  if (r->state == PB_CRAWL_DONE) return r->http_status >= 400 ? "errored" : "completed";
  return r->state == PB_CRAWL_FAILED ? "errored" : "disallowed";
}

/* Cloudflare's ?status= filter of records: 1 when r is one; the names
 * Cloudflare has that no record of ours carries (queued, skipped,
 * cancelled) match none. */
static int status_wanted(const char *want, const pb_crawl_result *r) {
  return !want || !strcmp(want, state_name(r));
}

static int status_known(const char *v) {
  static const char *const names[] = {"queued",  "completed", "disallowed",
                                      "skipped", "errored",   "cancelled"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(v, names[i])) return 1;
  return 0;
}

/* A crawl's status in Cloudflare's words. */
static const char *crawl_status_name(const char *s) {
  if (!strcmp(s, "failed")) return "errored";
  if (!strcmp(s, "cancelled")) return "cancelled_by_user";
  return s;
}

/* A record as Cloudflare's: {url, status, markdown, html, links, metadata:
 * {status, title, url}}, with our depth and error. */
static cJSON *result_json(const pb_crawl_result *r) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "url", r->url);
  cJSON_AddStringToObject(o, "status", state_name(r));
  cJSON_AddNumberToObject(o, "depth", r->depth);
  if (r->error) cJSON_AddStringToObject(o, "error", r->error);
  cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
  if (r->http_status) cJSON_AddNumberToObject(meta, "status", r->http_status);
  if (r->title) cJSON_AddStringToObject(meta, "title", r->title);
  cJSON_AddStringToObject(meta, "url", r->final_url ? r->final_url : r->url);
  cJSON *body = r->result ? cJSON_Parse(r->result) : NULL, *it;
  if (body) {
    while ((it = body->child)) {
      cJSON_DetachItemViaPointer(body, it);
      cJSON_AddItemToObject(o, it->string, it);
    }
    cJSON_Delete(body);
  }
  return o;
}

static cJSON *counts_json(const pb_crawl_rec *rec) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "queued", (double)rec->counts[PB_CRAWL_QUEUED]);
  cJSON_AddNumberToObject(o, "running", (double)rec->counts[PB_CRAWL_RUNNING]);
  cJSON_AddNumberToObject(o, "done", (double)rec->counts[PB_CRAWL_DONE]);
  cJSON_AddNumberToObject(o, "failed", (double)rec->counts[PB_CRAWL_FAILED]);
  cJSON_AddNumberToObject(o, "skipped", (double)rec->counts[PB_CRAWL_SKIPPED]);
  return o;
}

static void iso(int64_t ms, char *out, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
           (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
           tm.tm_sec % 100, (int)(ms % 1000));
}

static cJSON *crawl_json(const pb_crawl_rec *rec) {
  cJSON *o = cJSON_CreateObject();
  char ts[64];
  cJSON_AddStringToObject(o, "id", rec->id);
  cJSON_AddStringToObject(o, "status", crawl_status_name(rec->status));
  cJSON_AddNumberToObject(o, "browserSecondsUsed", (double)rec->browser_ms / 1000.0);
  int64_t total = 0;
  for (int i = PB_CRAWL_QUEUED; i <= PB_CRAWL_SKIPPED; i++) total += rec->counts[i];
  cJSON_AddNumberToObject(o, "total", (double)total);
  cJSON_AddNumberToObject(o, "finished",
                          (double)(rec->counts[PB_CRAWL_DONE] + rec->counts[PB_CRAWL_FAILED] +
                                   rec->counts[PB_CRAWL_SKIPPED]));
  cJSON_AddItemToObject(o, "counts", counts_json(rec));
  iso(rec->created_ms, ts, sizeof(ts));
  cJSON_AddStringToObject(o, "createdAt", ts);
  if (rec->ended_ms) {
    iso(rec->ended_ms, ts, sizeof(ts));
    cJSON_AddStringToObject(o, "endedAt", ts);
  }
  if (rec->error[0]) cJSON_AddStringToObject(o, "error", rec->error);
  cJSON_AddNumberToObject(o, "bytes", (double)rec->bytes);
  return o;
}

int pb_op_crawl_get(pb_job *job, pb_op_result *res) {
  pb_crawler *cr = job->env->crawler;
  if (!cr) return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "crawls are not available");
  const char *id = job->opts.id ? job->opts.id : "";
  pb_crawl_rec rec;
  int rc = pb_crawl_get(cr->store, id, job->account_id, 0, &rec);
  if (rc == PB_ENOTFOUND)
    return pb_op_fail(res, PB_CODE_CRAWL_NOT_FOUND,
                      "no crawl %s for this account (crawls are kept 24 hours after they end)", id);
  if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the crawl failed");
  char v[64];
  long long after = 0, limit = RESULTS_PAGE_DEFAULT;
  if (query_arg(job->query, "cursor", v, sizeof(v)) && *v && pb_parse_int(v, 0, INT64_MAX, &after))
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "cursor: not one this crawl gave");
  if (query_arg(job->query, "limit", v, sizeof(v)) && pb_parse_int(v, 0, RESULTS_PAGE_MAX, &limit))
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "limit: an integer 0..%d", RESULTS_PAGE_MAX);
  char want_buf[16];
  const char *want = query_arg(job->query, "status", want_buf, sizeof(want_buf));
  if (want && !status_known(want))
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST,
                      "status: one of queued, completed, disallowed, skipped, errored, cancelled");
  int ndjson = query_arg(job->query, "format", v, sizeof(v)) && !strcmp(v, "ndjson");
  if (ndjson) {
    /* Every result from the cursor on, one JSON object a line, then a line
     * with the crawl's status and counts. */
    pb_buf b;
    pb_buf_init(&b, NDJSON_MAX_BYTES);
    int full = 0;
    for (;;) {
      pb_crawl_result *r = NULL;
      size_t n = 0;
      if (pb_crawl_results(cr->store, id, after, RESULTS_PAGE_MAX, &r, &n)) {
        pb_buf_free(&b);
        return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the results failed");
      }
      for (size_t i = 0; i < n && !full; i++) {
        if (!status_wanted(want, &r[i])) {
          after = r[i].done_seq;
          continue;
        }
        cJSON *o = result_json(&r[i]);
        char *line = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!line || pb_buf_printf(&b, "%s\n", line))
          full = 1;
        else
          after = r[i].done_seq;
        free(line);
      }
      pb_crawl_results_free(r, n);
      if (n < RESULTS_PAGE_MAX || full) break;
    }
    cJSON *tail = crawl_json(&rec);
    cJSON_AddStringToObject(tail, "type", "status");
    if (full) cJSON_AddNumberToObject(tail, "cursor", (double)after);
    char *line = cJSON_PrintUnformatted(tail);
    cJSON_Delete(tail);
    if (line) {
      b.cap += strlen(line) + 2;
      pb_buf_printf(&b, "%s\n", line);
    }
    free(line);
    size_t len = 0;
    char *data = pb_buf_steal(&b, &len);
    return pb_op_bytes(res, data ? data : strdup(""), len, "application/x-ndjson");
  }
  cJSON *out = crawl_json(&rec), *arr = cJSON_AddArrayToObject(out, "records");
  /* limit records from the cursor on; with ?status= the rows scanned past
   * are passed by the cursor too. */
  long long got = 0;
  int batch = want ? RESULTS_PAGE_MAX : (int)limit;
  while (got < limit) {
    pb_crawl_result *r = NULL;
    size_t n = 0;
    if (pb_crawl_results(cr->store, id, after, batch, &r, &n)) {
      cJSON_Delete(out);
      return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the results failed");
    }
    for (size_t i = 0; i < n && got < limit; i++) {
      after = r[i].done_seq;
      if (!status_wanted(want, &r[i])) continue;
      cJSON_AddItemToArray(arr, result_json(&r[i]));
      got++;
    }
    pb_crawl_results_free(r, n);
    if (n < (size_t)batch) break;
  }
  /* The cursor to ask with next: null once everything finished was read
   * and the crawl has ended. */
  int ended = strcmp(rec.status, "running") && strcmp(rec.status, "queued");
  if (got == limit && limit > 0 ? 1 : !ended) {
    cJSON_AddNumberToObject(out, "cursor", (double)after); /* a number, as Cloudflare's */
  } else {
    cJSON_AddNullToObject(out, "cursor");
  }
  return pb_op_json(res, out);
}

int pb_op_crawl_delete(pb_job *job, pb_op_result *res) {
  pb_crawler *cr = job->env->crawler;
  if (!cr) return pb_op_fail(res, PB_CODE_SERVICE_UNAVAILABLE, "crawls are not available");
  const char *id = job->opts.id ? job->opts.id : "";
  pb_crawl_rec rec;
  int rc = pb_crawl_get(cr->store, id, job->account_id, 0, &rec);
  if (rc == PB_ENOTFOUND)
    return pb_op_fail(res, PB_CODE_CRAWL_NOT_FOUND, "no crawl %s for this account", id);
  if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the crawl failed");
  pthread_mutex_lock(&cr->mu);
  for (crawl *c = cr->crawls; c; c = c->next)
    if (!strcmp(c->id, id) && c->account_id == job->account_id) {
      atomic_store(&c->cancel_by_user, 1);
      atomic_store(&c->canceled, 1);
      c->ended = 1;
    }
  pthread_cond_signal(&cr->cv);
  pthread_mutex_unlock(&cr->mu);
  if (!strcmp(rec.status, "running") || !strcmp(rec.status, "queued")) {
    pb_crawl_set_status(cr->store, id, "cancelled", NULL, pb_wall_ms());
    pb_strlcpy(rec.status, "cancelled", sizeof(rec.status));
  }
  pb_crawl_get(cr->store, id, job->account_id, 0, &rec);
  return pb_op_json(res, crawl_json(&rec));
}
