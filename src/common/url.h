#ifndef PB_COMMON_URL_H
#define PB_COMMON_URL_H
/* URL parsing, the two readings the service needs:
 *
 * - pb_url_parse: the scheme, host and port of a navigation target as
 *   Chromium sees them (special-scheme leniency: any number of '/' or '\',
 *   percent-decoded host). The egress policy judges this reading.
 * - pb_url_has_scheme / pb_url_resolve: RFC 3986 reference resolution
 *   (section 5.2), enough for links in HTML.
 *
 * Pure functions: no I/O, no allocation except pb_url_resolve's result;
 * callable from any thread. */
#include <stddef.h>

typedef struct {
  char scheme[8]; /* "http", "https" or "about" */
  char host[256]; /* lowercased, percent-decoded, no brackets, no final dot */
  int port;       /* explicit or the scheme's default */
} pb_url;

/* Parses an absolute http(s) URL or about:blank the way Chromium would see
 * its host. PB_EFORBIDDEN for another scheme, PB_EINVAL if malformed; err
 * (errcap bytes, always written on error) says why. */
int pb_url_parse(const char *url, pb_url *out, char *err, size_t errcap);

/* Returns 1 when s starts with a URI scheme ("http:", "data:", ...). */
int pb_url_has_scheme(const char *s, size_t len);

/* Resolves ref (ref_len bytes, surrounding ASCII whitespace ignored) against
 * base, an absolute URL. On success *out is a NUL-terminated string the
 * caller frees with free(). Returns 0, PB_EINVAL (base not absolute) or
 * PB_ENOMEM; *out is NULL on error. */
int pb_url_resolve(const char *base, const char *ref, size_t ref_len, char **out);

#endif
