#include "render/url.h"

#include <stdlib.h>
#include <string.h>

#include "common/pb.h"

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
