#ifndef PB_OPS_FETCH_H
#define PB_OPS_FETCH_H
/* A plain HTTP GET without a browser (robots.txt, sitemaps, render:false
 * pages), through the same egress guard a browser has: each URL, the
 * redirects' too, is checked by egress/policy.h, then sent to the egress
 * proxy on 127.0.0.1 (absolute-form for http, CONNECT + TLS with the
 * system's roots for https), which resolves the name and refuses private
 * addresses unless allow-listed. Blocking, bounded by a deadline, a byte
 * cap and a redirect cap; any thread. */
#include "egress/policy.h"

#include <stddef.h>
#include <stdint.h>

#define PB_FETCH_MAX_REDIRECTS 10

typedef struct {
  int status;           /* the last answer's HTTP status */
  char final_url[2100]; /* after redirects */
  char content_type[128];
  char *body; /* malloc'd, NUL-terminated; caller frees */
  size_t len;
  int redirects;
} pb_fetch_result;

/* GETs url. 0 with *out filled (any status); PB_EFORBIDDEN (the policy or
 * the proxy refused: err says), PB_ETIMEOUT, PB_ETOOBIG (body over max, or
 * too many redirects: err says), PB_EINVAL (malformed URL or answer),
 * PB_EIO (no connection). user_agent may be NULL. */
int pb_fetch(const pb_egress *eg, int proxy_port, const char *url, const char *user_agent,
             int64_t deadline_ms, size_t max, pb_fetch_result *out, char *err, size_t errcap);

/* Frees out's body. */
void pb_fetch_result_free(pb_fetch_result *out);

#endif
