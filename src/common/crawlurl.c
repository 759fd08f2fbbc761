#include "common/crawlurl.h"

#include "common/pb.h"
#include "common/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- normalisation ------------------------------------------------------ */

static int session_key(const char *k, size_t n) {
  static const char *const keys[] = {"jsessionid", "phpsessid", "sid", "sessionid", "session_id"};
  for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    if (strlen(keys[i]) == n && !strncasecmp(k, keys[i], n)) return 1;
  return n >= 12 && !strncasecmp(k, "aspsessionid", 12);
}

/* Appends s[0, n) to b with percent escapes' hex uppercased. */
static int put_escaped(pb_buf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
        isxdigit((unsigned char)s[i + 2])) {
      char e[3] = {'%', (char)toupper((unsigned char)s[i + 1]),
                   (char)toupper((unsigned char)s[i + 2])};
      if (pb_buf_append(b, e, 3)) return PB_ETOOBIG;
      i += 2;
      continue;
    }
    if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f) {
      if (pb_buf_printf(b, "%%%02X", (unsigned char)c)) return PB_ETOOBIG;
      continue;
    }
    if (pb_buf_append(b, &c, 1)) return PB_ETOOBIG;
  }
  return 0;
}

/* RFC 3986 5.2.4 on path[0, n) into b. */
static int put_path(pb_buf *b, const char *path, size_t n) {
  const char *seg[512];
  size_t len[512];
  int nseg = 0;
  size_t i = 0;
  if (n == 0 || path[0] != '/') return pb_buf_append(b, "/", 1) ? PB_ETOOBIG : 0;
  int trailing = 0;
  while (i < n) {
    i++; /* the '/' */
    size_t j = i;
    while (j < n && path[j] != '/') j++;
    const char *s = path + i;
    size_t l = j - i;
    /* ";jsessionid=..." path parameters go. */
    const char *semi = memchr(s, ';', l);
    if (semi && l - (size_t)(semi - s) - 1 >= 11 && !strncasecmp(semi + 1, "jsessionid=", 11))
      l = (size_t)(semi - s);
    trailing = j >= n;
    if (l == 1 && s[0] == '.') {
      trailing = 1;
    } else if (l == 2 && s[0] == '.' && s[1] == '.') {
      if (nseg) nseg--;
      trailing = 1;
    } else {
      if (nseg == 512) return PB_ETOOBIG;
      seg[nseg] = s;
      len[nseg++] = l;
      trailing = 0;
    }
    i = j;
  }
  if (nseg == 0) return pb_buf_append(b, "/", 1) ? PB_ETOOBIG : 0;
  for (int k = 0; k < nseg; k++) {
    if (pb_buf_append(b, "/", 1) || put_escaped(b, seg[k], len[k])) return PB_ETOOBIG;
  }
  if (trailing && pb_buf_append(b, "/", 1)) return PB_ETOOBIG;
  return 0;
}

typedef struct {
  const char *s;
  size_t n, key;
} qparam;

static int qcmp(const void *a, const void *b) {
  const qparam *x = a, *y = b;
  size_t n = x->key < y->key ? x->key : y->key;
  int c = memcmp(x->s, y->s, n);
  if (c) return c;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return x->s < y->s ? -1 : x->s > y->s; /* stable: original order */
}

static int put_query(pb_buf *b, const char *q, size_t n) {
  qparam p[256];
  int np = 0;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && q[j] != '&') j++;
    if (j > i) {
      if (np == 256) return PB_ETOOBIG;
      const char *eq = memchr(q + i, '=', j - i);
      size_t key = eq ? (size_t)(eq - (q + i)) : j - i;
      if (!session_key(q + i, key)) p[np++] = (qparam){q + i, j - i, key};
    }
    i = j + 1;
  }
  if (!np) return 0;
  qsort(p, (size_t)np, sizeof(p[0]), qcmp);
  for (int k = 0; k < np; k++)
    if (pb_buf_append(b, k ? "&" : "?", 1) || put_escaped(b, p[k].s, p[k].n)) return PB_ETOOBIG;
  return 0;
}

int pb_crawl_url_norm(const char *url, char *out, size_t cap, char *origin, size_t origincap) {
  if (cap) out[0] = '\0';
  if (origin && origincap) origin[0] = '\0';
  while (*url == ' ' || *url == '\t' || *url == '\n' || *url == '\r') url++;
  size_t ulen = strlen(url);
  while (ulen && (unsigned char)url[ulen - 1] <= ' ') ulen--;
  if (ulen > PB_CRAWL_URL_MAX * 2) return PB_ETOOBIG;
  int https;
  size_t i;
  if (ulen >= 7 && !strncasecmp(url, "http://", 7)) {
    https = 0;
    i = 7;
  } else if (ulen >= 8 && !strncasecmp(url, "https://", 8)) {
    https = 1;
    i = 8;
  } else {
    return PB_EINVAL;
  }
  size_t a0 = i;
  while (i < ulen && url[i] != '/' && url[i] != '?' && url[i] != '#') i++;
  const char *auth = url + a0;
  size_t alen = i - a0;
  if (!alen || memchr(auth, '@', alen) || memchr(auth, '\\', alen)) return PB_EINVAL;
  char host[256];
  size_t hlen;
  const char *port = NULL;
  size_t plen = 0;
  if (auth[0] == '[') {
    const char *close = memchr(auth, ']', alen);
    if (!close) return PB_EINVAL;
    hlen = (size_t)(close - auth) + 1;
    if (hlen < alen) {
      if (close[1] != ':') return PB_EINVAL;
      port = close + 2;
      plen = alen - hlen - 1;
    }
  } else {
    const char *colon = memchr(auth, ':', alen);
    hlen = colon ? (size_t)(colon - auth) : alen;
    if (colon) {
      port = colon + 1;
      plen = alen - hlen - 1;
    }
  }
  if (!hlen || hlen >= sizeof(host)) return PB_EINVAL;
  for (size_t k = 0; k < hlen; k++) host[k] = (char)tolower((unsigned char)auth[k]);
  host[hlen] = '\0';
  if (host[hlen - 1] == '.') host[--hlen] = '\0';
  if (!hlen) return PB_EINVAL;
  long portn = https ? 443 : 80;
  if (plen) {
    portn = 0;
    for (size_t k = 0; k < plen; k++) {
      if (!isdigit((unsigned char)port[k]) || portn > 65535) return PB_EINVAL;
      portn = portn * 10 + (port[k] - '0');
    }
    if (portn < 1 || portn > 65535) return PB_EINVAL;
  }
  pb_buf b;
  pb_buf_init(&b, PB_CRAWL_URL_MAX + 1);
  int rc = pb_buf_printf(&b, "%s://%s", https ? "https" : "http", host);
  if (!rc && portn != (https ? 443 : 80)) rc = pb_buf_printf(&b, ":%ld", portn);
  if (!rc && origin && origincap) {
    if (b.len >= origincap)
      rc = PB_ETOOBIG;
    else
      pb_strlcpy(origin, b.data, origincap);
  }
  size_t p0 = i;
  while (i < ulen && url[i] != '?' && url[i] != '#') i++;
  if (!rc) rc = put_path(&b, url + p0, i - p0);
  if (!rc && i < ulen && url[i] == '?') {
    size_t q0 = ++i;
    while (i < ulen && url[i] != '#') i++;
    rc = put_query(&b, url + q0, i - q0);
  }
  if (!rc && (b.len > PB_CRAWL_URL_MAX || b.len >= cap)) rc = PB_ETOOBIG;
  if (!rc) memcpy(out, b.data, b.len + 1);
  pb_buf_free(&b);
  return rc ? PB_ETOOBIG : 0;
}

/* ---- robots.txt ---------------------------------------------------------- */

typedef struct {
  char *pattern;
  int allow;
} rule;

struct pb_robots {
  rule *rules;
  int nrules;
  char *sitemaps[PB_ROBOTS_MAX_SITEMAPS];
  int nsitemaps;
};

static char *trimmed(const char *s, size_t n) {
  while (n && (*s == ' ' || *s == '\t')) s++, n--;
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
  char *o = malloc(n + 1);
  if (!o) return NULL;
  memcpy(o, s, n);
  o[n] = '\0';
  return o;
}

/* Robots rules of one kind of group (ours or '*'), kept apart while reading. */
typedef struct {
  rule *r;
  int n;
} ruleset;

static int add_rule(ruleset *rs, char *pat, int allow) {
  if (rs->n >= PB_ROBOTS_MAX_RULES) {
    free(pat);
    return 0;
  }
  rule *nr = realloc(rs->r, sizeof(rule) * (size_t)(rs->n + 1));
  if (!nr) {
    free(pat);
    return PB_ENOMEM;
  }
  rs->r = nr;
  rs->r[rs->n++] = (rule){pat, allow};
  return 0;
}

static void ruleset_free(ruleset *rs) {
  for (int i = 0; i < rs->n; i++) free(rs->r[i].pattern);
  free(rs->r);
}

int pb_robots_parse(const char *text, size_t len, const char *agent, pb_robots **out) {
  *out = NULL;
  pb_robots *r = calloc(1, sizeof(*r));
  if (!r) return PB_ENOMEM;
  if (len > PB_ROBOTS_MAX_BYTES) len = PB_ROBOTS_MAX_BYTES;
  ruleset mine = {0}, star = {0};
  /* The group being read: which agents it names. Consecutive User-agent
   * lines make one group; a rule line ends the list of agents. */
  int g_mine = 0, g_star = 0, in_agents = 0, rc = 0;
  size_t alen = strlen(agent);
  size_t i = 0;
  while (i < len && !rc) {
    size_t j = i;
    while (j < len && text[j] != '\n') j++;
    const char *line = text + i;
    size_t n = j - i;
    i = j + 1;
    const char *hash = memchr(line, '#', n);
    if (hash) n = (size_t)(hash - line);
    const char *colon = memchr(line, ':', n);
    if (!colon) continue;
    char *key = trimmed(line, (size_t)(colon - line));
    char *val = trimmed(colon + 1, n - (size_t)(colon - line) - 1);
    if (!key || !val) {
      free(key);
      free(val);
      rc = PB_ENOMEM;
      break;
    }
    if (!strcasecmp(key, "user-agent")) {
      if (!in_agents) g_mine = g_star = 0;
      in_agents = 1;
      if (!strcmp(val, "*"))
        g_star = 1;
      else if (!strncasecmp(val, agent, alen) ||
               !strncasecmp(agent, val, strlen(val) ? strlen(val) : 1))
        g_mine = 1;
      free(val);
    } else if (!strcasecmp(key, "allow") || !strcasecmp(key, "disallow")) {
      in_agents = 0;
      int allow = !strcasecmp(key, "allow");
      /* "Disallow:" with nothing allows everything: no rule. */
      if (!*val) {
        free(val);
      } else {
        char *dup = g_mine && g_star ? strdup(val) : NULL;
        if (g_mine)
          rc = add_rule(&mine, val, allow);
        else if (g_star)
          rc = add_rule(&star, val, allow);
        else
          free(val);
        if (dup && !rc)
          rc = add_rule(&star, dup, allow);
        else
          free(dup);
      }
    } else if (!strcasecmp(key, "sitemap")) {
      if (r->nsitemaps < PB_ROBOTS_MAX_SITEMAPS && *val)
        r->sitemaps[r->nsitemaps++] = val;
      else
        free(val);
    } else {
      free(val);
    }
    free(key);
  }
  if (rc) {
    ruleset_free(&mine);
    ruleset_free(&star);
    pb_robots_free(r);
    return rc;
  }
  /* Ours when a group names us, else the '*' group's. */
  if (mine.n || g_mine) {
    r->rules = mine.r;
    r->nrules = mine.n;
    ruleset_free(&star);
  } else {
    r->rules = star.r;
    r->nrules = star.n;
    ruleset_free(&mine);
  }
  *out = r;
  return 0;
}

/* Matches pattern (with '*' and a final '$') against the start of path;
 * iterative, with one backtrack point per '*', so linear-ish and bounded. */
static int robots_match(const char *pat, const char *path) {
  const char *p = pat, *s = path, *star_p = NULL, *star_s = NULL;
  for (;;) {
    if (*p == '$' && !p[1]) {
      if (!*s) return 1;
    } else if (!*p) {
      return 1; /* a prefix match */
    } else if (*p == '*') {
      while (*p == '*') p++;
      star_p = p;
      star_s = s;
      continue;
    } else if (*s && *p == *s) {
      p++;
      s++;
      continue;
    }
    if (!star_p || !*star_s) return 0;
    p = star_p;
    s = ++star_s;
  }
}

int pb_robots_allowed(const pb_robots *r, const char *path) {
  if (!r) return 1;
  size_t best = 0;
  int verdict = 1, found = 0;
  for (int i = 0; i < r->nrules; i++) {
    const rule *ru = &r->rules[i];
    size_t l = strlen(ru->pattern);
    if (!robots_match(ru->pattern, path)) continue;
    if (!found || l > best || (l == best && ru->allow && !verdict)) {
      best = l;
      verdict = ru->allow;
      found = 1;
    }
  }
  return verdict;
}

int pb_robots_sitemaps(const pb_robots *r, const char *const **urls) {
  *urls = (const char *const *)r->sitemaps;
  return r->nsitemaps;
}

void pb_robots_free(pb_robots *r) {
  if (!r) return;
  for (int i = 0; i < r->nrules; i++) free(r->rules[i].pattern);
  free(r->rules);
  for (int i = 0; i < r->nsitemaps; i++) free(r->sitemaps[i]);
  free(r);
}

/* ---- sitemaps ------------------------------------------------------------ */

/* Decodes the XML/HTML entities a URL carries, in place. */
static void decode_entities(char *s) {
  static const struct {
    const char *e;
    char c;
  } ents[] = {{"&amp;", '&'},   {"&lt;", '<'},   {"&gt;", '>'},    {"&quot;", '"'},
              {"&apos;", '\''}, {"&#39;", '\''}, {"&#x27;", '\''}, {"&#38;", '&'}};
  char *w = s;
  for (const char *p = s; *p;) {
    int done = 0;
    if (*p == '&')
      for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
        size_t l = strlen(ents[i].e);
        if (!strncasecmp(p, ents[i].e, l)) {
          *w++ = ents[i].c;
          p += l;
          done = 1;
          break;
        }
      }
    if (!done) *w++ = *p++;
  }
  *w = '\0';
}

static const char *find_ci(const char *s, const char *end, const char *needle) {
  size_t n = strlen(needle);
  for (const char *p = s; p + n <= end; p++)
    if (!strncasecmp(p, needle, n)) return p;
  return NULL;
}

int pb_sitemap_locs(const char *xml, size_t len, int max, int *is_index,
                    void (*fn)(void *data, const char *loc), void *data) {
  const char *end = xml + len, *p = xml;
  if (is_index) *is_index = find_ci(xml, end, "<sitemapindex") != NULL;
  int count = 0;
  while (count < max && (p = find_ci(p, end, "<loc>"))) {
    p += 5;
    const char *close = find_ci(p, end, "</loc>");
    if (!close) break;
    size_t n = (size_t)(close - p);
    if (n && n < PB_CRAWL_URL_MAX) {
      char *loc = trimmed(p, n);
      if (!loc) break;
      if (!strncmp(loc, "<![CDATA[", 9) && n > 12) {
        size_t l = strlen(loc);
        if (l >= 12 && !strcmp(loc + l - 3, "]]>")) {
          memmove(loc, loc + 9, l - 12);
          loc[l - 12] = '\0';
        }
      } else {
        decode_entities(loc);
      }
      fn(data, loc);
      free(loc);
      count++;
    }
    p = close + 6;
  }
  return count;
}

/* ---- links of an HTML document ------------------------------------------- */

/* The value of attribute name in a tag's attributes [s, end), or NULL;
 * malloc'd, entities decoded. */
static char *tag_attr(const char *s, const char *end, const char *name) {
  size_t nl = strlen(name);
  const char *p = s;
  while (p < end) {
    while (p < end && (isspace((unsigned char)*p) || *p == '/')) p++;
    const char *k = p;
    while (p < end && !isspace((unsigned char)*p) && *p != '=' && *p != '>' && *p != '/') p++;
    size_t kl = (size_t)(p - k);
    if (!kl) {
      p++;
      continue;
    }
    while (p < end && isspace((unsigned char)*p)) p++;
    const char *v = NULL;
    size_t vl = 0;
    if (p < end && *p == '=') {
      p++;
      while (p < end && isspace((unsigned char)*p)) p++;
      if (p < end && (*p == '"' || *p == '\'')) {
        char q = *p++;
        v = p;
        while (p < end && *p != q) p++;
        vl = (size_t)(p - v);
        if (p < end) p++;
      } else {
        v = p;
        while (p < end && !isspace((unsigned char)*p) && *p != '>') p++;
        vl = (size_t)(p - v);
      }
    }
    if (kl == nl && !strncasecmp(k, name, nl) && v) {
      char *o = trimmed(v, vl);
      if (o) decode_entities(o);
      return o;
    }
  }
  return NULL;
}

int pb_html_links(const char *html, size_t len, const char *doc_url, int max, char **title,
                  void (*fn)(void *data, const char *url), void *data) {
  const char *end = html + len, *p = html;
  char *base = NULL;
  if (title) *title = NULL;
  /* The first <base href> with a value, before any link is resolved. */
  for (const char *b = html; (b = find_ci(b, end, "<base")) != NULL; b += 5) {
    if (b + 5 < end && !isspace((unsigned char)b[5])) continue;
    const char *close = memchr(b, '>', (size_t)(end - b));
    if (!close) break;
    char *href = tag_attr(b + 5, close, "href");
    if (href && *href) {
      if (pb_url_resolve(doc_url, href, strlen(href), &base)) base = NULL;
      free(href);
      break;
    }
    free(href);
  }
  const char *against = base ? base : doc_url;
  int count = 0;
  while (p < end && count < max) {
    const char *lt = memchr(p, '<', (size_t)(end - p));
    if (!lt) break;
    p = lt + 1;
    if (end - p >= 3 && !strncmp(p, "!--", 3)) {
      const char *c = find_ci(p + 3, end, "-->");
      p = c ? c + 3 : end;
      continue;
    }
    const char *n = p;
    while (p < end && isalnum((unsigned char)*p)) p++;
    size_t nl = (size_t)(p - n);
    const char *close = memchr(p, '>', (size_t)(end - p));
    if (!close) break;
    if ((nl == 6 && !strncasecmp(n, "script", 6)) || (nl == 5 && !strncasecmp(n, "style", 5))) {
      const char *c = find_ci(close, end, nl == 6 ? "</script" : "</style");
      p = c ? c : end;
      continue;
    }
    if (title && !*title && nl == 5 && !strncasecmp(n, "title", 5)) {
      const char *c = find_ci(close, end, "</title");
      if (c) {
        *title = trimmed(close + 1, (size_t)(c - close - 1));
        if (*title) decode_entities(*title);
      }
    }
    if ((nl == 1 && (*n == 'a' || *n == 'A')) || (nl == 4 && !strncasecmp(n, "area", 4))) {
      char *href = tag_attr(p, close, "href");
      char *abs = NULL;
      if (href && *href && pb_url_resolve(against, href, strlen(href), &abs) == 0) {
        if (!strncasecmp(abs, "http:", 5) || !strncasecmp(abs, "https:", 6)) {
          fn(data, abs);
          count++;
        }
      }
      free(abs);
      free(href);
    }
    p = close + 1;
  }
  free(base);
  return count;
}
