#include "ops/egress.h"

#include "common/pb.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ALLOW_MAX 64

struct pb_egress {
  struct {
    char host[256];
    int port; /* 0: any */
  } allow[ALLOW_MAX];
  int nallow;
};

int pb_egress_new(pb_egress **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : PB_ENOMEM;
}

void pb_egress_free(pb_egress *e) { free(e); }

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

int pb_egress_allow(pb_egress *e, const char *hostport) {
  if (e->nallow >= ALLOW_MAX) return PB_ETOOBIG;
  int port;
  int rc = split_hostport(hostport, strlen(hostport), e->allow[e->nallow].host,
                          sizeof(e->allow[0].host), &port);
  if (rc) return rc;
  e->allow[e->nallow].port = port;
  e->nallow++;
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

static int v4_private(uint32_t a) {
  uint8_t b0 = (uint8_t)(a >> 24), b1 = (uint8_t)(a >> 16), b2 = (uint8_t)(a >> 8);
  if (b0 == 0 || b0 == 10 || b0 == 127) return 1;
  if (b0 == 100 && (b1 & 0xc0) == 64) return 1;   /* CGNAT 100.64/10 */
  if (b0 == 169 && b1 == 254) return 1;           /* link-local, metadata */
  if (b0 == 172 && (b1 & 0xf0) == 16) return 1;   /* 172.16/12 */
  if (b0 == 192 && b1 == 168) return 1;
  if (b0 == 192 && b1 == 0 && b2 == 0) return 1;  /* IETF protocol assignments */
  if (b0 == 192 && b1 == 0 && b2 == 2) return 1;  /* documentation */
  if (b0 == 198 && b1 == 51 && b2 == 100) return 1;
  if (b0 == 203 && b1 == 0 && b2 == 113) return 1;
  if (b0 == 198 && (b1 & 0xfe) == 18) return 1;   /* benchmarking 198.18/15 */
  if (b0 >= 224) return 1;                        /* multicast, reserved, broadcast */
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
  if ((b[0] & 0xfe) == 0xfc) return 1;                    /* ULA fc00::/7 */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return 1;    /* link-local */
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return 1;    /* site-local */
  if (b[0] == 0xff) return 1;                             /* multicast */
  return 0;
}

static int same_ip(const char *a, const char *b) {
  unsigned char x[16], y[16];
  if (inet_pton(AF_INET6, a, x) == 1 && inet_pton(AF_INET6, b, y) == 1) return !memcmp(x, y, 16);
  struct in_addr p, q;
  return inet_aton(a, &p) && inet_aton(b, &q) && p.s_addr == q.s_addr;
}

static int allowed(const pb_egress *e, const pb_url *u) {
  for (int i = 0; i < e->nallow; i++) {
    if (e->allow[i].port && e->allow[i].port != u->port) continue;
    if (!strcmp(e->allow[i].host, u->host) || same_ip(e->allow[i].host, u->host)) return 1;
  }
  return 0;
}

int pb_egress_check_url(const pb_egress *e, const char *url, char *err, size_t errcap) {
  pb_url u;
  int rc = pb_url_parse(url, &u, err, errcap);
  if (rc) return rc;
  if (!strcmp(u.scheme, "about")) return 0;
  if (allowed(e, &u)) return 0;
  size_t hl = strlen(u.host);
  if (!strcmp(u.host, "localhost") || (hl > 10 && !strcmp(u.host + hl - 10, ".localhost"))) {
    snprintf(err, errcap, "%s is a loopback host", u.host);
    return PB_EFORBIDDEN;
  }
  /* inet_aton takes every IPv4 spelling Chromium accepts: 127.1, 0x7f.1,
   * 0177.0.0.1, 2130706433. */
  struct sockaddr_in6 s6;
  struct sockaddr_in s4;
  memset(&s6, 0, sizeof(s6));
  memset(&s4, 0, sizeof(s4));
  if (inet_pton(AF_INET6, u.host, &s6.sin6_addr) == 1) {
    s6.sin6_family = AF_INET6;
    if (pb_egress_addr_private((struct sockaddr *)&s6)) {
      snprintf(err, errcap, "[%s] is a private or reserved address", u.host);
      return PB_EFORBIDDEN;
    }
    return 0;
  }
  if (inet_aton(u.host, &s4.sin_addr)) {
    s4.sin_family = AF_INET;
    if (pb_egress_addr_private((struct sockaddr *)&s4)) {
      snprintf(err, errcap, "%s is a private or reserved address (%s)", u.host, inet_ntoa(s4.sin_addr));
      return PB_EFORBIDDEN;
    }
    return 0;
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
