/* The egress policy. One allow-list and one address classification for
 * both of its callers (the navigation check and the egress proxy), so that
 * what a navigation is told and what the proxy carries never disagree. */
#include "egress/policy.h"

#include "common/pb.h"
#include "common/url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALLOW_MAX 64

struct pb_egress {
  struct {
    char host[256]; /* as pb_url_parse reads it */
    int port;       /* 0: any */
    int is_ip;
    struct sockaddr_storage ip; /* when is_ip */
  } allow[ALLOW_MAX];
  int nallow;
};

int pb_egress_new(pb_egress **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : PB_ENOMEM;
}

void pb_egress_free(pb_egress *e) {
  free(e);
}

/* Addresses are copied in and out of sockaddr_storage with memcpy, never
 * through a cast pointer: at -O3 GCC's strict aliasing let a store through
 * sockaddr_in go unseen by a read through sockaddr_storage (a comparison
 * then read stale bytes). */

int pb_egress_parse_ip(const char *s, struct sockaddr_storage *out, socklen_t *len) {
  memset(out, 0, sizeof(*out));
  *len = 0;
  struct sockaddr_in6 s6;
  struct sockaddr_in s4;
  memset(&s6, 0, sizeof(s6));
  memset(&s4, 0, sizeof(s4));
  if (inet_pton(AF_INET6, s, &s6.sin6_addr) == 1) {
    s6.sin6_family = AF_INET6;
    memcpy(out, &s6, sizeof(s6));
    *len = sizeof(s6);
    return 1;
  }
  /* inet_aton takes every IPv4 spelling Chromium accepts. */
  if (inet_aton(s, &s4.sin_addr)) {
    s4.sin_family = AF_INET;
    memcpy(out, &s4, sizeof(s4));
    *len = sizeof(s4);
    return 1;
  }
  return 0;
}

/* The IPv4 address an address stands for (itself or v4-mapped), or -1. */
static int64_t as_v4(const struct sockaddr_storage *a) {
  if (a->ss_family == AF_INET) {
    struct sockaddr_in s4;
    memcpy(&s4, a, sizeof(s4));
    return ntohl(s4.sin_addr.s_addr);
  }
  struct sockaddr_in6 s6;
  memcpy(&s6, a, sizeof(s6));
  const uint8_t *b = s6.sin6_addr.s6_addr;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(b, mapped, 12)) return -1;
  return (int64_t)((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15]);
}

int pb_egress_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b) {
  int64_t x = as_v4(a), y = as_v4(b);
  if (x >= 0 || y >= 0) return x == y;
  struct sockaddr_in6 p, q;
  memcpy(&p, a, sizeof(p));
  memcpy(&q, b, sizeof(q));
  return !memcmp(&p.sin6_addr, &q.sin6_addr, 16);
}

/* An entry is read with the URL parser, so "HOST:PORT" means here what it
 * means in a URL. A port counts as given when the http and https readings
 * agree on it ("HOST" and "HOST:" take each scheme's default: any port). */
int pb_egress_allow(pb_egress *e, const char *hostport) {
  if (e->nallow >= ALLOW_MAX) return PB_ETOOBIG;
  char url[600], err[128];
  pb_url a, b;
  if (strlen(hostport) > 400 || strpbrk(hostport, "/?#@\\")) return PB_EINVAL;
  snprintf(url, sizeof(url), "http://%s/", hostport);
  if (pb_url_parse(url, &a, err, sizeof(err))) return PB_EINVAL;
  snprintf(url, sizeof(url), "https://%s/", hostport);
  if (pb_url_parse(url, &b, err, sizeof(err))) return PB_EINVAL;
  socklen_t len;
  pb_strlcpy(e->allow[e->nallow].host, a.host, sizeof(e->allow[0].host));
  e->allow[e->nallow].port = a.port == b.port ? a.port : 0;
  e->allow[e->nallow].is_ip = pb_egress_parse_ip(a.host, &e->allow[e->nallow].ip, &len);
  e->nallow++;
  return 0;
}

static int is_localhost(const char *h) {
  size_t n = strlen(h);
  return !strcmp(h, "localhost") || (n > 10 && !strcmp(h + n - 10, ".localhost"));
}

pb_egress_host pb_egress_check_host(const pb_egress *e, const char *host, int port) {
  for (int i = 0; i < e->nallow; i++)
    if ((!e->allow[i].port || e->allow[i].port == port) && !e->allow[i].is_ip &&
        !strcmp(e->allow[i].host, host))
      return PB_EGRESS_HOST_ALLOWED;
  return is_localhost(host) ? PB_EGRESS_HOST_LOOPBACK : PB_EGRESS_HOST_CHECK_ADDRS;
}

int pb_egress_check_addr(const pb_egress *e, const struct sockaddr *sa, int port) {
  if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return 0;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, sa,
         sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
  for (int i = 0; i < e->nallow; i++)
    if ((!e->allow[i].port || e->allow[i].port == port) && e->allow[i].is_ip &&
        pb_egress_same_addr(&e->allow[i].ip, &ss))
      return 1;
  return !pb_egress_addr_private(sa);
}

static int v4_private(uint32_t a) {
  uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16), b2 = (uint8_t)(a >> 8);
  if (b0 == 0 || b0 == 10 || b0 == 127) return 1;
  if (b0 == 100 && (b1 & 0xc0) == 64) return 1; /* CGNAT 100.64/10 */
  if (b0 == 169 && b1 == 254) return 1;         /* link-local, metadata */
  if (b0 == 172 && (b1 & 0xf0) == 16) return 1; /* 172.16/12 */
  if (b0 == 192 && b1 == 168) return 1;
  if (b0 == 192 && b1 == 0 && b2 == 0) return 1; /* IETF protocol assignments */
  if (b0 == 192 && b1 == 0 && b2 == 2) return 1; /* documentation */
  if (b0 == 198 && b1 == 51 && b2 == 100) return 1;
  if (b0 == 203 && b1 == 0 && b2 == 113) return 1;
  if (b0 == 198 && (b1 & 0xfe) == 18) return 1; /* benchmarking 198.18/15 */
  if (b0 >= 224) return 1;                      /* multicast, reserved, broadcast */
  return 0;
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* IPv6 forms that carry an IPv4 address are judged by that address, and
 * those whose route ends somewhere we cannot see (local-use NAT64, Teredo,
 * the IETF block it sits in) are refused whole. */
int pb_egress_addr_private(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
    return v4_private(ntohl(s4->sin_addr.s_addr));
  }
  if (sa->sa_family != AF_INET6) return 1;
  const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  static const uint8_t zero[16];
  if (!memcmp(b, zero, 12)) return 1;                         /* ::, ::1, ::a.b.c.d (compat) */
  if (!memcmp(b, zero, 10) && b[10] == 0xff && b[11] == 0xff) /* ::ffff:a.b.c.d */
    return v4_private(be32(b + 12));
  if (!memcmp(b, zero, 8) && b[8] == 0xff && b[9] == 0xff && !b[10] && !b[11])
    return 1; /* ::ffff:0:a.b.c.d (SIIT) */
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
    if (!memcmp(b + 4, zero, 8)) return v4_private(be32(b + 12)); /* NAT64 64:ff9b::/96 */
    return 1; /* 64:ff9b:1::/48 local-use NAT64, and the rest of the /32 */
  }
  if (b[0] == 0x01 && b[1] == 0x00 && !memcmp(b + 2, zero, 6)) return 1; /* discard 100::/64 */
  if (b[0] == 0x20 && b[1] == 0x02) return v4_private(be32(b + 2));      /* 6to4 2002::/16 */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02) return 1; /* 2001::/23 incl. Teredo 2001::/32 */
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return 1; /* documentation */
  if ((b[0] & 0xfe) == 0xfc) return 1;                                        /* ULA fc00::/7 */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return 1;                        /* link-local */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return 1;                        /* site-local */
  if (b[0] == 0xff) return 1;                                                 /* multicast */
  return 0;
}

int pb_egress_check_url(const pb_egress *e, const char *url, char *err, size_t errcap) {
  pb_url u;
  int rc = pb_url_parse(url, &u, err, errcap);
  if (rc) return rc;
  if (!strcmp(u.scheme, "about")) return 0;
  switch (pb_egress_check_host(e, u.host, u.port)) {
    case PB_EGRESS_HOST_ALLOWED:
      return 0;
    case PB_EGRESS_HOST_LOOPBACK:
      snprintf(err, errcap, "%s is a loopback host", u.host);
      return PB_EFORBIDDEN;
    case PB_EGRESS_HOST_CHECK_ADDRS:
      break;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  if (pb_egress_parse_ip(u.host, &ss, &len)) {
    if (pb_egress_check_addr(e, (const struct sockaddr *)&ss, u.port)) return 0;
    if (ss.ss_family == AF_INET6) {
      snprintf(err, errcap, "[%s] is a private or reserved address", u.host);
    } else {
      char ip[INET_ADDRSTRLEN] = "?";
      struct sockaddr_in s4;
      memcpy(&s4, &ss, sizeof(s4));
      inet_ntop(AF_INET, &s4.sin_addr, ip, sizeof(ip));
      snprintf(err, errcap, "%s is a private or reserved address (%s)", u.host, ip);
    }
    return PB_EFORBIDDEN;
  }
  /* A name is not resolved here: this runs on the I/O thread for sessions,
   * and a resolver that never answers would stall every tenant. The egress
   * proxy resolves it off any shared thread, checks every address and
   * connects only to those, so a rebinding name gains nothing either. */
  return 0;
}

const char *pb_egress_why_net_error(pb_egress_why why) {
  switch (why) {
    case PB_EGRESS_WHY_NXDOMAIN:
      return "net::ERR_NAME_NOT_RESOLVED";
    case PB_EGRESS_WHY_DNS_FAILED:
      return "net::ERR_NAME_RESOLUTION_FAILED";
    case PB_EGRESS_WHY_CONN_REFUSED:
      return "net::ERR_CONNECTION_REFUSED";
    case PB_EGRESS_WHY_TIMED_OUT:
      return "net::ERR_CONNECTION_TIMED_OUT";
    case PB_EGRESS_WHY_UNREACHABLE:
      return "net::ERR_ADDRESS_UNREACHABLE";
    case PB_EGRESS_WHY_CAPPED:
      return "net::ERR_INSUFFICIENT_RESOURCES";
    default:
      return NULL;
  }
}
