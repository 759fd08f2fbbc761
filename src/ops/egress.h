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
 * (scheme, a loopback name, or a private address literal in any spelling);
 * PB_EINVAL if malformed. Never resolves, never blocks: callable from the
 * I/O thread. A name is left to the egress proxy, which resolves it off the
 * shared threads with a deadline, refuses it if any address is private, and
 * connects only to the addresses it checked. */
int pb_egress_check_url(const pb_egress *e, const char *url, char *err, size_t errcap);

/* Why the egress proxy did not carry a request or tunnel upstream, as far as
 * the page's navigation needs to know: Chromium sees every one of these as
 * a failed tunnel or an empty response. */
typedef enum {
  PB_EGRESS_WHY_NONE = 0,   /* nothing recorded */
  PB_EGRESS_WHY_REFUSED,    /* policy: a private address, not allow-listed */
  PB_EGRESS_WHY_NXDOMAIN,   /* the name does not exist */
  PB_EGRESS_WHY_DNS_FAILED, /* the resolver failed or did not answer in time */
  PB_EGRESS_WHY_CONN_REFUSED,
  PB_EGRESS_WHY_TIMED_OUT, /* connecting upstream timed out */
  PB_EGRESS_WHY_UNREACHABLE,
  PB_EGRESS_WHY_CAPPED, /* a browser's or an account's connection cap */
  PB_EGRESS_WHY_FAILED, /* anything else (bad upstream answer, ...) */
} pb_egress_why;

/* The net::ERR_* name Chromium would have reported without a proxy, or NULL
 * (REFUSED and NONE have none). */
const char *pb_egress_why_net_error(pb_egress_why why);

#endif
