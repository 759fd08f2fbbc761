#include "common/url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/pb.h"

/* ------------------------------------------------ navigation targets */

static void lower(char *s) {
  for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

/* Splits "host", "host:port", "[v6]", "[v6]:port". */
static int split_hostport(const char *in, size_t len, char *host, size_t hostcap, int *port) {
  *port = 0;
  const char *end = in + len, *hs = in, *he;
  if (len && in[0] == '[') {
    const char *rb = memchr(in, ']', len);
    if (!rb) return PB_EINVAL;
    hs = in + 1;
    he = rb;
    in = rb + 1;
  } else {
    const char *colon = NULL;
    for (const char *p = in; p < end; p++)
      if (*p == ':') colon = p;
    he = colon ? colon : end;
    in = he;
  }
  if (in < end) {
    if (*in != ':') return PB_EINVAL;
    char num[8];
    size_t n = (size_t)(end - in - 1);
    if (n == 0) {
      /* "host:" means the default port, as in Chromium. */
    } else {
      if (n >= sizeof(num)) return PB_EINVAL;
      memcpy(num, in + 1, n);
      num[n] = '\0';
      long long v;
      if (pb_parse_int(num, 0, 65535, &v)) return PB_EINVAL;
      *port = (int)v;
    }
  }
  size_t hl = (size_t)(he - hs);
  if (hl == 0 || hl >= hostcap) return PB_EINVAL;
  memcpy(host, hs, hl);
  host[hl] = '\0';
  lower(host);
  return 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int pb_url_parse(const char *url, pb_url *out, char *err, size_t errcap) {
  memset(out, 0, sizeof(*out));
  size_t len = strlen(url);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f) {
      snprintf(err, errcap, "URL contains whitespace or control characters");
      return PB_EINVAL;
    }
  if (!strcasecmp(url, "about:blank")) {
    pb_strlcpy(out->scheme, "about", sizeof(out->scheme));
    return 0;
  }
  const char *colon = strchr(url, ':');
  if (!colon || colon == url) {
    snprintf(err, errcap, "not an absolute URL");
    return PB_EINVAL;
  }
  size_t sl = (size_t)(colon - url);
  if (sl == 4 && !strncasecmp(url, "http", 4)) {
    pb_strlcpy(out->scheme, "http", sizeof(out->scheme));
    out->port = 80;
  } else if (sl == 5 && !strncasecmp(url, "https", 5)) {
    pb_strlcpy(out->scheme, "https", sizeof(out->scheme));
    out->port = 443;
  } else {
    snprintf(err, errcap, "scheme '%.*s:' is not allowed (only http, https and about:blank)",
             (int)(sl < 32 ? sl : 32), url);
    return PB_EFORBIDDEN;
  }
  /* Chromium treats '\' like '/' and tolerates any number of slashes after
   * a special scheme. */
  const char *p = colon + 1;
  while (*p == '/' || *p == '\\') p++;
  const char *auth_end = p;
  while (*auth_end && !strchr("/\\?#", *auth_end)) auth_end++;
  const char *at = NULL;
  for (const char *q = p; q < auth_end; q++)
    if (*q == '@') at = q;
  if (at) p = at + 1;
  /* Percent-decode the authority, as Chromium does for hosts. */
  char auth[512];
  size_t n = 0;
  for (const char *q = p; q < auth_end; q++) {
    if (n + 1 >= sizeof(auth)) {
      snprintf(err, errcap, "host too long");
      return PB_EINVAL;
    }
    if (*q == '%' && q + 2 < auth_end && hexval(q[1]) >= 0 && hexval(q[2]) >= 0) {
      auth[n++] = (char)(hexval(q[1]) * 16 + hexval(q[2]));
      q += 2;
    } else {
      auth[n++] = *q;
    }
  }
  auth[n] = '\0';
  int port = 0;
  if (split_hostport(auth, n, out->host, sizeof(out->host), &port)) {
    snprintf(err, errcap, "malformed host");
    return PB_EINVAL;
  }
  size_t hl = strlen(out->host);
  while (hl && out->host[hl - 1] == '.') out->host[--hl] = '\0';
  if (!hl) {
    snprintf(err, errcap, "empty host");
    return PB_EINVAL;
  }
  if (port) out->port = port;
  return 0;
}

/* ------------------------------------- RFC 3986 reference resolution */

typedef struct {
  const char *p;
  size_t n;
  int has;
} part;

typedef struct {
  part scheme, auth, path, query, frag;
} uri;

int pb_url_has_scheme(const char *s, size_t len) {
  size_t i;
  if (!len || !((s[0] | 32) >= 'a' && (s[0] | 32) <= 'z')) return 0;
  for (i = 1; i < len; i++) {
    char c = s[i];
    if (c == ':') return 1;
    if (!((c | 32) >= 'a' && (c | 32) <= 'z') && !(c >= '0' && c <= '9') && c != '+' && c != '-' &&
        c != '.')
      return 0;
  }
  return 0;
}

/* Splits per RFC 3986 appendix B. */
static void split(const char *s, size_t n, uri *u) {
  size_t i = 0, j;
  memset(u, 0, sizeof(*u));
  if (pb_url_has_scheme(s, n)) {
    j = (size_t)((const char *)memchr(s, ':', n) - s);
    u->scheme = (part){s, j, 1};
    i = j + 1;
  }
  if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
    j = i + 2;
    while (j < n && s[j] != '/' && s[j] != '?' && s[j] != '#') j++;
    u->auth = (part){s + i + 2, j - i - 2, 1};
    i = j;
  }
  j = i;
  while (j < n && s[j] != '?' && s[j] != '#') j++;
  u->path = (part){s + i, j - i, 1};
  i = j;
  if (i < n && s[i] == '?') {
    j = i + 1;
    while (j < n && s[j] != '#') j++;
    u->query = (part){s + i + 1, j - i - 1, 1};
    i = j;
  }
  if (i < n && s[i] == '#') u->frag = (part){s + i + 1, n - i - 1, 1};
}

/* remove_dot_segments (5.2.4) over in[0..n), appending to out (pos *o). */
static void remove_dots(const char *in, size_t n, char *out, size_t *o) {
  size_t start = *o, i = 0;
  while (i < n) {
    if (n - i >= 3 && !memcmp(in + i, "../", 3)) {
      i += 3;
    } else if (n - i >= 2 && !memcmp(in + i, "./", 2)) {
      i += 2;
    } else if ((n - i >= 3 && !memcmp(in + i, "/./", 3)) ||
               (n - i == 2 && !memcmp(in + i, "/.", 2))) {
      i += 2;
      if (i >= n) {
        out[(*o)++] = '/';
      }
    } else if ((n - i >= 4 && !memcmp(in + i, "/../", 4)) ||
               (n - i == 3 && !memcmp(in + i, "/..", 3))) {
      i += 3;
      while (*o > start && out[*o - 1] != '/') (*o)--;
      if (*o > start) (*o)--;
      if (i >= n) out[(*o)++] = '/';
    } else if ((n - i == 1 && in[i] == '.') || (n - i == 2 && !memcmp(in + i, "..", 2))) {
      i = n;
    } else {
      size_t j = i + (in[i] == '/' ? 1 : 0);
      while (j < n && in[j] != '/') j++;
      memcpy(out + *o, in + i, j - i);
      *o += j - i;
      i = j;
    }
  }
}

static void put(char *out, size_t *o, const char *s, size_t n) {
  memcpy(out + *o, s, n);
  *o += n;
}

int pb_url_resolve(const char *base, const char *ref, size_t ref_len, char **out) {
  uri b, r;
  char *buf, *merged;
  size_t o = 0, cap, blen = strlen(base);
  *out = NULL;
  while (ref_len && (*ref == ' ' || *ref == '\t' || *ref == '\n' || *ref == '\r' || *ref == '\f')) {
    ref++;
    ref_len--;
  }
  while (ref_len && (ref[ref_len - 1] == ' ' || ref[ref_len - 1] == '\t' ||
                     ref[ref_len - 1] == '\n' || ref[ref_len - 1] == '\r'))
    ref_len--;
  split(base, blen, &b);
  if (!b.scheme.has) return PB_EINVAL;
  split(ref, ref_len, &r);
  cap = blen + ref_len + 8;
  buf = malloc(cap);
  merged = malloc(cap);
  if (!buf || !merged) {
    free(buf);
    free(merged);
    return PB_ENOMEM;
  }
  /* Special schemes treat a scheme-relative-looking "http:foo" as relative;
   * browsers do too, but only for the same scheme. Keep RFC strict parsing. */
  const part *scheme = r.scheme.has ? &r.scheme : &b.scheme;
  put(buf, &o, scheme->p, scheme->n);
  buf[o++] = ':';
  if (r.scheme.has) {
    if (r.auth.has) {
      put(buf, &o, "//", 2);
      put(buf, &o, r.auth.p, r.auth.n);
    }
    remove_dots(r.path.p, r.path.n, buf, &o);
    if (r.query.has) {
      buf[o++] = '?';
      put(buf, &o, r.query.p, r.query.n);
    }
  } else if (r.auth.has) {
    put(buf, &o, "//", 2);
    put(buf, &o, r.auth.p, r.auth.n);
    remove_dots(r.path.p, r.path.n, buf, &o);
    if (r.query.has) {
      buf[o++] = '?';
      put(buf, &o, r.query.p, r.query.n);
    }
  } else {
    if (b.auth.has) {
      put(buf, &o, "//", 2);
      put(buf, &o, b.auth.p, b.auth.n);
    }
    if (!r.path.n) {
      put(buf, &o, b.path.p, b.path.n);
      if (r.query.has) {
        buf[o++] = '?';
        put(buf, &o, r.query.p, r.query.n);
      } else if (b.query.has) {
        buf[o++] = '?';
        put(buf, &o, b.query.p, b.query.n);
      }
    } else {
      if (r.path.p[0] == '/') {
        remove_dots(r.path.p, r.path.n, buf, &o);
      } else {
        size_t m = 0;
        if (b.auth.has && !b.path.n) {
          merged[m++] = '/';
        } else {
          const char *slash = NULL;
          for (size_t k = b.path.n; k > 0; k--)
            if (b.path.p[k - 1] == '/') {
              slash = b.path.p + k - 1;
              break;
            }
          if (slash) {
            size_t keep = (size_t)(slash - b.path.p) + 1;
            memcpy(merged, b.path.p, keep);
            m = keep;
          }
        }
        memcpy(merged + m, r.path.p, r.path.n);
        m += r.path.n;
        remove_dots(merged, m, buf, &o);
      }
      if (r.query.has) {
        buf[o++] = '?';
        put(buf, &o, r.query.p, r.query.n);
      }
    }
  }
  if (r.frag.has) {
    buf[o++] = '#';
    put(buf, &o, r.frag.p, r.frag.n);
  }
  buf[o] = 0;
  free(merged);
  *out = buf;
  return 0;
}
