#ifndef PB_OPS_EGRESS_H
#define PB_OPS_EGRESS_H
/* Which navigation targets a job may reach: http(s) to public addresses,
 * about:blank, and the private host:ports the operator allow-listed. The URL
 * check before navigation; the full egress proxy comes later and reuses
 * pb_egress_addr_private(). */
#include <stddef.h>
#include <sys/socket.h>

typedef struct pb_egress pb_egress;

int pb_egress_new(pb_egress **out);
void pb_egress_free(pb_egress *e);

/* Allows "HOST" (any port) or "HOST:PORT" / "[V6]:PORT". PB_EINVAL if bad. */
int pb_egress_allow(pb_egress *e, const char *hostport);

typedef struct {
  char scheme[8];   /* "http", "https" or "about" */
  char host[256];   /* lowercased, percent-decoded, no brackets, no final dot */
  int port;         /* explicit or the scheme's default */
} pb_url;

/* Parses an absolute http(s) URL or about:blank the way Chromium would see
 * its host. PB_EFORBIDDEN for another scheme, PB_EINVAL if malformed; err
 * says why. */
int pb_url_parse(const char *url, pb_url *out, char *err, size_t errcap);

/* 1 if the address is loopback, private, link-local, CGNAT, multicast,
 * unspecified, reserved, or an IPv6 form embedding one of those. */
int pb_egress_addr_private(const struct sockaddr *sa);

/* Checks a navigation target: 0 if allowed; PB_EFORBIDDEN with a reason
 * (scheme, or the private address it resolves to); PB_EINVAL if malformed.
 * Resolves the host (blocking): call from a job thread. A name that does not
 * resolve is allowed: Chromium then reports the DNS failure. */
int pb_egress_check_url(const pb_egress *e, const char *url, char *err, size_t errcap);

/* Through the egress proxy, an upstream that cannot be reached shows in
 * Chromium as ERR_EMPTY_RESPONSE or ERR_TUNNEL_CONNECTION_FAILED. This finds
 * the error Chromium would have reported without a proxy, for an allowed URL:
 * "net::ERR_NAME_NOT_RESOLVED", "net::ERR_CONNECTION_REFUSED",
 * "net::ERR_CONNECTION_TIMED_OUT", "net::ERR_ADDRESS_UNREACHABLE". 0 when it
 * found one (written to out), PB_ENOTFOUND when the host answers after all.
 * Blocks up to timeout_ms (resolve + one connect attempt). */
int pb_egress_diagnose(const char *url, int timeout_ms, char *out, size_t cap);

#endif
