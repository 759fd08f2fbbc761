#ifndef PB_RENDER_URL_H
#define PB_RENDER_URL_H
/* RFC 3986 reference resolution (section 5.2), enough for links in HTML. */
#include <stddef.h>

/* Returns 1 when s starts with a URI scheme ("http:", "data:", ...). */
int pb_url_has_scheme(const char *s, size_t len);

/* Resolves ref (ref_len bytes, surrounding ASCII whitespace ignored) against
 * base, an absolute URL. On success *out is a NUL-terminated string the
 * caller frees with free(). Returns 0, PB_EINVAL (base not absolute) or
 * PB_ENOMEM; *out is NULL on error. */
int pb_url_resolve(const char *base, const char *ref, size_t ref_len, char **out);

#endif
