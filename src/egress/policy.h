#ifndef PB_EGRESS_POLICY_H
#define PB_EGRESS_POLICY_H
/* The egress policy: which hosts, addresses and schemes a page may reach.
 * http(s) to public addresses and about:blank; loopback, private,
 * link-local (cloud metadata), CGNAT, multicast, unspecified and reserved
 * addresses, in every spelling, only where the operator allow-listed the
 * host:port (--allow-private).
 *
 * Two callers apply the same rules: the navigation check before a job or a
 * session's CDP client navigates (pb_egress_check_url, no name resolution),
 * and the egress proxy (egress/proxy.h), which resolves each name once and
 * judges every address it got (pb_egress_check_host, then
 * pb_egress_check_addr for each address).
 *
 * Threads: build a pb_egress on one thread (pb_egress_new, pb_egress_allow);
 * after that it is read-only and every check may run on any thread at once.
 * No function here blocks. */
#include <stddef.h>
#include <sys/socket.h>

typedef struct pb_egress pb_egress;

/* 0 or PB_ENOMEM. The caller frees it with pb_egress_free. */
int pb_egress_new(pb_egress **out);
/* NULL is a no-op. */
void pb_egress_free(pb_egress *e);

/* Allow-lists "HOST" (any port) or "HOST:PORT" / "[V6]:PORT", read the way a
 * URL's host and port are read (common/url.h), so an entry means the same
 * to the navigation check and to the proxy. A name entry admits the name
 * and every address it resolves to; an IP entry (any spelling) admits that
 * address however a URL or a resolver spells it. PB_EINVAL if malformed,
 * PB_ETOOBIG past 64 entries. */
int pb_egress_allow(pb_egress *e, const char *hostport);

/* 1 if the address is loopback, private, link-local, CGNAT, multicast,
 * unspecified, reserved, or an IPv6 form embedding one of those. The port is
 * not looked at. */
int pb_egress_addr_private(const struct sockaddr *sa);

/* Checks a navigation target: 0 if allowed; PB_EFORBIDDEN with a reason
 * (scheme, a loopback name, or a private address literal in any spelling);
 * PB_EINVAL if malformed. Never resolves, never blocks: callable from the
 * I/O thread. A name is left to the egress proxy, which resolves it off the
 * shared threads with a deadline, refuses it if any address is private, and
 * connects only to the addresses it checked. err: errcap bytes, written on
 * error. */
int pb_egress_check_url(const pb_egress *e, const char *url, char *err, size_t errcap);

/* The verdict on a host (as pb_url_parse or a proxy request spells it:
 * lowercased, no brackets, no final dot) and port, before any resolution. */
typedef enum {
  PB_EGRESS_HOST_CHECK_ADDRS = 0, /* judge every address it stands for */
  PB_EGRESS_HOST_ALLOWED,         /* allow-listed by name: every address goes */
  PB_EGRESS_HOST_LOOPBACK,        /* "localhost" or "*.localhost", not listed */
} pb_egress_host;

pb_egress_host pb_egress_check_host(const pb_egress *e, const char *host, int port);

/* 1 if a connection to sa on port may be made: a public address, or one
 * allow-listed (an IPv4 address and its ::ffff: form are the same). */
int pb_egress_check_addr(const pb_egress *e, const struct sockaddr *sa, int port);

/* Reads an IP literal in any spelling Chromium takes (127.1, 0x7f.1,
 * 0177.0.0.1, 2130706433; IPv6 without brackets) into *out (port 0) and
 * *len. 1 if it is one, else 0 (*out zeroed). */
int pb_egress_parse_ip(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* 1 if a and b (AF_INET or AF_INET6) are the same address, an IPv4 address
 * and its ::ffff: form included; ports are not compared. */
int pb_egress_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

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
