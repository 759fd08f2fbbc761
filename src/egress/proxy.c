/* The egress proxy. One epoll thread owns every socket; a few resolver
 * threads run the blocking system resolver so a slow name never stalls the
 * other connections.
 *
 * A connection goes HEAD (read the request head) -> RESOLVE (a resolver
 * thread resolves the host once and checks every address) -> CONNECT (to the
 * checked addresses only, in order) -> TUNNEL (CONNECT: bytes both ways) or
 * HTTP (one request, one response) -> closed. A refusal or error goes to
 * RESPOND (write a short answer) -> LINGER (drain what the client still
 * sends, so the answer is not lost to a reset) -> closed.
 *
 * Plain HTTP is one request per connection: the request goes upstream in
 * origin form with "Connection: close" and the response head is rewritten to
 * say "Connection: close", so Chromium never sends a second request, for
 * another host, down a connection that was checked for the first. */
#include "egress/proxy.h"

#include "common/pb.h"
#include "egress/policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_CAP (64 * 1024) /* per direction per connection */
#define BUF_SLACK 512       /* room for a rewritten head */
#define REQ_HEAD_MAX (16 * 1024)
#define RESP_HEAD_MAX (32 * 1024)
#define ADDR_MAX 16
#define HOSTS_MAX 64
#define RESOLVERS_MAX 16
#define LINGER_MS 2000
#define SWEEP_MS 250
#define LISTENERS_MAX 1024
#define SEEN_MAX 1024 /* distinct host:ports logged once each */
#define WHY_MAX 256   /* recent refusals and failures kept for pb_egress_proxy_why */

enum { ST_HEAD, ST_RESOLVE, ST_CONNECT, ST_TUNNEL, ST_HTTP, ST_RESPOND, ST_LINGER };
enum { SIDE_CLIENT = 0, SIDE_UP = 1 };

#define TAG_LISTEN UINT64_MAX
#define TAG_WAKE (UINT64_MAX - 1)
/* Listener i of pb_egress_proxy_add_listener is TAG_LST0 - i. Connection
 * tags carry a generation below GEN_MAX in their top half, so never meet
 * these. */
#define TAG_LST0 (UINT64_MAX - 2)
#define GEN_MAX 0xffff0000u

typedef struct {
  char *d;
  size_t off, len; /* bytes d[off, off + len) */
} xbuf;

typedef struct {
  struct sockaddr_storage ss;
  socklen_t len;
} addr;

typedef struct {
  int used;
  uint32_t gen;
  int cfd, ufd;
  uint32_t cmask, umask; /* events registered now */
  int state;
  int is_connect;
  char host[256];
  int port;
  char method[16];
  addr addrs[ADDR_MAX];
  int naddr, next_addr;
  xbuf c2u, u2c;
  int c_eof, u_eof, u_shut;
  long long body_left; /* HTTP: request body bytes still to forward */
  int resp_head_done;  /* HTTP: response head rewritten, u2c may flow */
  int64_t deadline;    /* of the current phase; idle phases use last_io */
  int64_t last_io;
  int lslot; /* the listener it came in on, -1: the shared one */
  int aslot; /* its account's entry in acct[], -1: none */
  int why;   /* pb_egress_why of a failure about to be answered */
  int last_err; /* errno of the last upstream connect attempt */
} conn;

typedef struct job {
  struct job *next;
  int slot;
  int lslot;        /* the listener its connection came in on, -1: shared */
  int64_t deadline; /* its connection's; past it nobody waits for the answer */
  uint32_t gen;
  char host[256];
  int port;
  int status; /* 0: connect to addrs; else the HTTP status to answer */
  int why_code; /* pb_egress_why when status != 0 */
  char why[400];
  addr addrs[ADDR_MAX];
  int naddr;
} job;

/* A listener of one client (a browser), maybe in a namespace of its own. */
typedef struct {
  int used;    /* under mu */
  int closing; /* under mu: the loop closes it and its connections */
  int fd;
  int64_t account; /* under mu: the account whose session browser it serves; 0: none */
  int conns;  /* loop thread only */
  int warned; /* loop thread only: the cap was logged */
} listener;

/* Connections open now per account (loop thread only). */
typedef struct {
  int64_t account; /* 0: free entry */
  int conns;
  int warned;
} acct_entry;

/* One refusal or failure, for the navigation code to tell the user why. */
typedef struct {
  int64_t at; /* pb_now_ms() */
  int lslot;
  int port;
  int why;
  char host[256];
  char text[200];
} why_rec;

struct pb_egress_proxy {
  int lfd, port, epfd, wakefd;
  int max_conns, head_ms, connect_ms, idle_ms, per_listener;
  pb_egress *policy; /* the --allow-private entries; read-only once started */
  struct {
    char name[256];
    addr ip;
  } hosts[HOSTS_MAX];
  int nhosts;

  conn *conns;
  int *free_slots, nfree;
  uint32_t next_gen;
  char *scratch; /* loop thread only: head rewrites */

  pthread_t loop;
  int loop_started;
  pthread_t res[RESOLVERS_MAX];
  int nres;
  atomic_int stopping;

  pthread_mutex_t mu; /* the resolver queues */
  pthread_cond_t cv;
  job *pend_head, *pend_tail, *done_head;
  /* Names being resolved now per listener (index LISTENERS_MAX: the shared
   * one), under mu: one browser's names that never resolve hold at most
   * res_per_listener resolver threads, never all of them. */
  int resolving[LISTENERS_MAX + 1];
  int res_per_listener;
  int res_stop;

  listener lst[LISTENERS_MAX];
  atomic_int lst_closing; /* some listener waits for the loop to close it */
  int per_account;
  acct_entry acct[LISTENERS_MAX]; /* loop thread only */

  pthread_mutex_t why_mu; /* the ring below */
  why_rec why[WHY_MAX];
  unsigned nwhy; /* records made; the newest is why[(nwhy - 1) % WHY_MAX] */

  char (*seen)[264]; /* loop thread only: host:ports already logged */
  int nseen;

  atomic_uint_fast64_t n_allowed, n_refused, n_failed, n_capped;
  atomic_int n_conns;
};

/* ------------------------------------------------------------- addresses */

static void addr_set_port(addr *a, int port) {
  if (a->ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)&a->ss)->sin6_port = htons((uint16_t)port);
}

static void addr_str(const addr *a, char *out, size_t cap) {
  if (a->ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr, out, (socklen_t)cap);
  else
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&a->ss)->sin6_addr, out, (socklen_t)cap);
}

/* An IP literal in any spelling (egress/policy.h). */
static int parse_ip(const char *s, addr *out) {
  memset(out, 0, sizeof(*out));
  return pb_egress_parse_ip(s, &out->ss, &out->len);
}

static int same_addr(const addr *a, const addr *b) {
  return pb_egress_same_addr(&a->ss, &b->ss);
}

/* ---------------------------------------------------- the test resolver */

static void lower(char *s) {
  for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

static int parse_hosts(pb_egress_proxy *p, const char *map) {
  const char *s = map;
  while (s && *s) {
    const char *end = strchr(s, ',');
    size_t n = end ? (size_t)(end - s) : strlen(s);
    char item[320];
    if (n >= sizeof(item)) return PB_EINVAL;
    memcpy(item, s, n);
    item[n] = '\0';
    s = end ? end + 1 : NULL;
    if (!n) continue;
    char *eq = strchr(item, '=');
    if (!eq || eq == item || p->nhosts >= HOSTS_MAX) return PB_EINVAL;
    *eq = '\0';
    char *ip = eq + 1;
    size_t il = strlen(ip);
    if (il >= 2 && ip[0] == '[' && ip[il - 1] == ']') {
      ip[il - 1] = '\0';
      ip++;
    }
    if (!parse_ip(ip, &p->hosts[p->nhosts].ip)) return PB_EINVAL;
    lower(item);
    size_t nl = strlen(item);
    while (nl && item[nl - 1] == '.') item[--nl] = '\0';
    if (!nl || nl >= sizeof(p->hosts[0].name)) return PB_EINVAL;
    pb_strlcpy(p->hosts[p->nhosts].name, item, sizeof(p->hosts[0].name));
    p->nhosts++;
  }
  return 0;
}

/* ------------------------------------------------------------- deciding */

/* Resolves j->host once and decides by egress/policy.h's rules. Runs on a
 * resolver thread; reads only what start() wrote. */
static void decide(const pb_egress_proxy *p, job *j) {
  pb_egress_host verdict = pb_egress_check_host(p->policy, j->host, j->port);
  if (verdict == PB_EGRESS_HOST_LOOPBACK) {
    j->status = 403;
    j->why_code = PB_EGRESS_WHY_REFUSED;
    snprintf(j->why, sizeof(j->why), "%s is a loopback host", j->host);
    return;
  }
  j->naddr = 0;
  for (int i = 0; i < p->nhosts; i++)
    if (!strcmp(p->hosts[i].name, j->host)) j->addrs[j->naddr++] = p->hosts[i].ip;
  if (!j->naddr && parse_ip(j->host, &j->addrs[0])) j->naddr = 1;
  if (!j->naddr) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(j->host, NULL, &hints, &res);
    if (rc) {
      j->status = 502;
      /* Only a definite "no such name" is NXDOMAIN; a timeout or SERVFAIL
       * is a failure, never a reason to think the name is harmless. */
      j->why_code =
          rc == EAI_NONAME || rc == EAI_NODATA ? PB_EGRESS_WHY_NXDOMAIN : PB_EGRESS_WHY_DNS_FAILED;
      snprintf(j->why, sizeof(j->why), "cannot resolve %s: %s", j->host, gai_strerror(rc));
      return;
    }
    for (struct addrinfo *ai = res; ai && j->naddr < ADDR_MAX; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) || ai->ai_addrlen > sizeof(addr))
        continue;
      addr a;
      memset(&a, 0, sizeof(a));
      memcpy(&a.ss, ai->ai_addr, ai->ai_addrlen);
      a.len = ai->ai_addrlen;
      int dup = 0;
      for (int k = 0; k < j->naddr; k++)
        dup |= a.ss.ss_family == j->addrs[k].ss.ss_family && same_addr(&a, &j->addrs[k]);
      if (!dup) j->addrs[j->naddr++] = a;
    }
    freeaddrinfo(res);
    if (!j->naddr) {
      j->status = 502;
      j->why_code = PB_EGRESS_WHY_NXDOMAIN;
      snprintf(j->why, sizeof(j->why), "%s has no IPv4 or IPv6 address", j->host);
      return;
    }
  }
  /* Every address, not just the first: one private answer refuses the name. */
  for (int i = 0; i < j->naddr; i++) {
    addr_set_port(&j->addrs[i], j->port);
    if (verdict == PB_EGRESS_HOST_ALLOWED) continue;
    if (!pb_egress_check_addr(p->policy, (const struct sockaddr *)&j->addrs[i].ss, j->port)) {
      char ip[INET6_ADDRSTRLEN] = "?";
      addr_str(&j->addrs[i], ip, sizeof(ip));
      j->status = 403;
      j->why_code = PB_EGRESS_WHY_REFUSED;
      if (!strcmp(ip, j->host))
        snprintf(j->why, sizeof(j->why), "%s is a private or reserved address, not allow-listed",
                 ip);
      else
        snprintf(j->why, sizeof(j->why),
                 "%s resolves to %s, a private or reserved address, not allow-listed", j->host, ip);
      return;
    }
  }
  j->status = 0;
}

/* Whether deciding about host can block: only a name for the system
 * resolver can. The rest is decided on the loop thread, saving two thread
 * hops per request (which is what a loaded machine charges for). */
static int needs_dns(const pb_egress_proxy *p, const char *host, int port) {
  addr a;
  if (parse_ip(host, &a)) return 0;
  for (int i = 0; i < p->nhosts; i++)
    if (!strcmp(p->hosts[i].name, host)) return 0;
  /* A loopback name not allow-listed is refused without resolving. */
  return pb_egress_check_host(p->policy, host, port) != PB_EGRESS_HOST_LOOPBACK;
}

static int res_bucket(const job *j) {
  return j->lslot >= 0 && j->lslot < LISTENERS_MAX ? j->lslot : LISTENERS_MAX;
}

/* The oldest pending job whose listener is under its share of resolver
 * threads, unlinked; NULL if none. Jobs nobody waits for any more (their
 * connection's deadline passed: it was answered 504) are dropped on the way,
 * so a queue of dead names never costs a resolver thread. Under mu. */
static job *pick_job(pb_egress_proxy *p) {
  int64_t now = pb_now_ms();
  job *prev = NULL;
  for (job *j = p->pend_head; j;) {
    job *next = j->next;
    int dead = now >= j->deadline;
    if (dead || p->resolving[res_bucket(j)] < p->res_per_listener) {
      if (prev)
        prev->next = next;
      else
        p->pend_head = next;
      if (p->pend_tail == j) p->pend_tail = prev;
      if (!dead) return j;
      free(j);
      j = next;
      continue;
    }
    prev = j;
    j = next;
  }
  return NULL;
}

static void *resolver_main(void *arg) {
  pb_egress_proxy *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    job *j = NULL;
    while (!p->res_stop && !(j = pick_job(p))) pthread_cond_wait(&p->cv, &p->mu);
    if (p->res_stop) break;
    p->resolving[res_bucket(j)]++;
    pthread_mutex_unlock(&p->mu);
    decide(p, j);
    pthread_mutex_lock(&p->mu);
    p->resolving[res_bucket(j)]--;
    /* A listener's turn may have come for a job another thread skipped. */
    pthread_cond_broadcast(&p->cv);
    j->next = p->done_head;
    p->done_head = j;
    uint64_t one = 1;
    if (write(p->wakefd, &one, sizeof(one)) < 0) {
      /* The counter is non-zero already: the loop will look. */
    }
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* ------------------------------------------------------------- buffers */

static size_t room(const xbuf *b) {
  size_t used = b->off + b->len;
  return used >= BUF_CAP ? 0 : BUF_CAP - used;
}

static void compact(xbuf *b) {
  if (b->off && b->len) memmove(b->d, b->d + b->off, b->len);
  b->off = 0;
}

/* Appends beyond BUF_CAP into the slack: only for our own short answers. */
static int put(xbuf *b, const void *data, size_t n) {
  compact(b);
  if (b->len + n > BUF_CAP + BUF_SLACK) return PB_ETOOBIG;
  memcpy(b->d + b->len, data, n);
  b->len += n;
  return 0;
}

/* ---------------------------------------------------------- connections */

static uint64_t tag(const pb_egress_proxy *p, const conn *c, int side) {
  return (uint64_t)c->gen << 32 | (uint64_t)((c - p->conns) << 1 | side);
}

static void set_mask(pb_egress_proxy *p, conn *c, int side, uint32_t want) {
  int fd = side == SIDE_CLIENT ? c->cfd : c->ufd;
  uint32_t *cur = side == SIDE_CLIENT ? &c->cmask : &c->umask;
  if (fd < 0 || *cur == want) return;
  struct epoll_event ev = {.events = want, .data.u64 = tag(p, c, side)};
  if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) == 0) *cur = want;
}

static void conn_close(pb_egress_proxy *p, conn *c) {
  if (!c->used) return;
  if (c->cfd >= 0) close(c->cfd);
  if (c->ufd >= 0) close(c->ufd);
  free(c->c2u.d);
  free(c->u2c.d);
  c->used = 0;
  c->cfd = c->ufd = -1;
  c->c2u.d = c->u2c.d = NULL;
  if (c->lslot >= 0) p->lst[c->lslot].conns--;
  c->lslot = -1;
  if (c->aslot >= 0 && --p->acct[c->aslot].conns == 0) p->acct[c->aslot].account = 0;
  c->aslot = -1;
  p->free_slots[p->nfree++] = (int)(c - p->conns);
  atomic_fetch_sub(&p->n_conns, 1);
}

static void close_up(pb_egress_proxy *p, conn *c) {
  (void)p;
  if (c->ufd >= 0) close(c->ufd); /* close() also drops it from epoll */
  c->ufd = -1;
  c->umask = 0;
}

/* Keeps why host:port was not reached, for pb_egress_proxy_why. Before the
 * client hears of it, so a navigation that failed finds the record. */
static void record_why(pb_egress_proxy *p, int lslot, const char *host, int port, int why,
                       const char *text) {
  pthread_mutex_lock(&p->why_mu);
  why_rec *r = &p->why[p->nwhy++ % WHY_MAX];
  r->at = pb_now_ms();
  r->lslot = lslot;
  r->port = port;
  r->why = why;
  pb_strlcpy(r->host, host, sizeof(r->host));
  pb_strlcpy(r->text, text, sizeof(r->text));
  pthread_mutex_unlock(&p->why_mu);
}

/* Answers the client with status and a short text, then closes. Only before
 * any upstream byte reached the client.
 *
 * A plain request whose upstream cannot be had (no address, no connection,
 * no HTTP answer) gets no answer at all: Chromium would show a 502 as the
 * page, while a closed connection is a network error (ERR_EMPTY_RESPONSE),
 * which is what the page would have seen without a proxy. A refusal is a 403
 * the page shows, marked "X-Ppod-Egress: refused" so that the navigation code
 * can tell it from the site's own 403. Through CONNECT, Chromium turns any
 * answer but 200 into ERR_TUNNEL_CONNECTION_FAILED. */
static void respond(pb_egress_proxy *p, conn *c, int status, const char *why) {
  const char *reason = status == 400   ? "Bad Request"
                       : status == 403 ? "Forbidden"
                       : status == 411 ? "Length Required"
                       : status == 431 ? "Request Header Fields Too Large"
                       : status == 502 ? "Bad Gateway"
                       : status == 503 ? "Service Unavailable"
                       : status == 504 ? "Gateway Timeout"
                                       : "Error";
  const char *lb = strchr(c->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
  if (c->host[0] && status != 400 && status != 411 && status != 431)
    record_why(p, c->lslot, c->host, c->port,
               status == 403 ? PB_EGRESS_WHY_REFUSED
               : c->why      ? c->why
                             : PB_EGRESS_WHY_FAILED,
               why);
  if (status == 403) {
    atomic_fetch_add(&p->n_refused, 1);
    PB_INFO("egress: refused %s %s%s%s:%d: %s", c->method, lb, c->host, rb, c->port, why);
  } else {
    atomic_fetch_add(&p->n_failed, 1);
    PB_DEBUG("egress: %d for %s %s%s%s:%d: %s", status, c->method[0] ? c->method : "?", lb,
             c->host[0] ? c->host : "?", rb, c->port, why);
  }
  close_up(p, c);
  if (status >= 502 && status <= 504 && c->host[0] && !c->is_connect) {
    conn_close(p, c);
    return;
  }
  char body[512], head[300];
  int bl = snprintf(body, sizeof(body), "ppod egress: %s\n", why);
  if (bl < 0) bl = 0;
  if ((size_t)bl >= sizeof(body)) bl = (int)sizeof(body) - 1;
  int hl = snprintf(head, sizeof(head),
                    "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Length: %d\r\nCache-Control: no-store\r\n%s"
                    "Connection: close\r\nProxy-Connection: close\r\n\r\n",
                    status, reason, bl, status == 403 ? "X-Ppod-Egress: refused\r\n" : "");
  c->u2c.off = c->u2c.len = 0;
  put(&c->u2c, head, (size_t)hl);
  put(&c->u2c, body, (size_t)bl);
  c->state = ST_RESPOND;
  c->deadline = pb_now_ms() + LINGER_MS;
}

/* ------------------------------------------------------- request parsing */

static int all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i])) return 0;
  return n > 0;
}

static int tchar(int ch) {
  return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* "host", "host:port", "[v6]", "[v6]:port" into a lowercased host with no
 * brackets and no final dot. dflt 0: the port is required. */
static int parse_authority(const char *s, size_t n, int dflt, char *host, size_t hcap, int *port) {
  const char *hs, *he, *rest, *end = s + n;
  if (n && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb) return PB_EINVAL;
    hs = s + 1;
    he = rb;
    for (const char *q = hs; q < he; q++)
      if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.') return PB_EINVAL;
    rest = rb + 1;
  } else {
    hs = s;
    he = memchr(s, ':', n);
    if (!he) he = end;
    for (const char *q = hs; q < he; q++)
      if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' && *q != '_') return PB_EINVAL;
    rest = he;
  }
  *port = dflt;
  if (rest < end) {
    if (*rest != ':' || end - rest - 1 > 5 || !all_digits(rest + 1, (size_t)(end - rest - 1)))
      return PB_EINVAL;
    char num[8];
    memcpy(num, rest + 1, (size_t)(end - rest - 1));
    num[end - rest - 1] = '\0';
    long long v;
    if (pb_parse_int(num, 1, 65535, &v)) return PB_EINVAL;
    *port = (int)v;
  }
  if (!*port) return PB_EINVAL;
  size_t hl = (size_t)(he - hs);
  while (hl && hs[hl - 1] == '.') hl--;
  if (!hl || hl >= hcap) return PB_EINVAL;
  memcpy(host, hs, hl);
  host[hl] = '\0';
  lower(host);
  return 0;
}

static int hdr_is(const char *name, size_t n, const char *want) {
  return strlen(want) == n && !strncasecmp(name, want, n);
}

/* The head is c->c2u's first hlen bytes. On success the buffer holds what
 * goes upstream (nothing for CONNECT, beyond the bytes the client sent after
 * its head). Returns 0 or the HTTP status to answer with; why says more. */
static int parse_request(pb_egress_proxy *p, conn *c, size_t hlen, const char **why) {
  const char *h = c->c2u.d + c->c2u.off;
  for (size_t i = 0; i < hlen; i++) {
    unsigned char ch = (unsigned char)h[i];
    if ((ch < 0x20 && ch != '\r' && ch != '\n' && ch != '\t') || ch == 0x7f) {
      *why = "control characters in the request head";
      return 400;
    }
  }
  const char *eol = memmem(h, hlen, "\r\n", 2);
  const char *sp1 = memchr(h, ' ', (size_t)(eol - h));
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  *why = "malformed request line";
  if (!sp1 || !sp2 || sp1 == h || sp2 == sp1 + 1 || (size_t)(sp1 - h) >= sizeof(c->method))
    return 400;
  for (const char *q = h; q < sp1; q++)
    if (!tchar((unsigned char)*q)) return 400;
  size_t vl = (size_t)(eol - sp2 - 1);
  if (!((vl == 8 && !memcmp(sp2 + 1, "HTTP/1.1", 8)) ||
        (vl == 8 && !memcmp(sp2 + 1, "HTTP/1.0", 8))))
    return 400;
  memcpy(c->method, h, (size_t)(sp1 - h));
  c->method[sp1 - h] = '\0';
  const char *target = sp1 + 1;
  size_t tl = (size_t)(sp2 - target);

  if (!strcmp(c->method, "CONNECT")) {
    c->is_connect = 1;
    *why = "CONNECT needs host:port";
    if (parse_authority(target, tl, 0, c->host, sizeof(c->host), &c->port)) return 400;
    c->c2u.off += hlen;
    c->c2u.len -= hlen;
    return 0;
  }

  /* Absolute form only: origin form would mean "this proxy" as the host. */
  *why = "only absolute http:// URLs and CONNECT are served";
  if (tl < 8 || strncasecmp(target, "http://", 7)) return 400;
  const char *auth = target + 7, *tend = target + tl;
  const char *path = auth;
  while (path < tend && *path != '/' && *path != '?' && *path != '#') path++;
  const char *at = NULL;
  for (const char *q = auth; q < path; q++)
    if (*q == '@') at = q;
  if (at) auth = at + 1;
  *why = "malformed host in the request URL";
  if (parse_authority(auth, (size_t)(path - auth), 80, c->host, sizeof(c->host), &c->port))
    return 400;

  /* Rebuild the head: origin form, hop-by-hop headers dropped, one request. */
  char *o = p->scratch;
  size_t cap = REQ_HEAD_MAX + BUF_SLACK, n = 0;
  int w = snprintf(o, cap, "%s %s%.*s HTTP/1.1\r\n", c->method,
                   path < tend && *path == '/' ? "" : "/", (int)(tend - path), path);
  if (w < 0 || (size_t)w >= cap) return 400;
  n = (size_t)w;
  int has_host = 0, has_cl = 0;
  long long cl = 0;
  const char *line = eol + 2, *hend = h + hlen - 2; /* hend: the final CRLF */
  while (line < hend) {
    const char *le = memmem(line, (size_t)(hend - line) + 2, "\r\n", 2);
    const char *colon = memchr(line, ':', (size_t)(le - line));
    *why = "malformed header line";
    if (!colon || colon == line) return 400;
    for (const char *q = line; q < colon; q++)
      if (!tchar((unsigned char)*q)) return 400;
    size_t nl = (size_t)(colon - line);
    const char *v = colon + 1, *ve = le;
    while (v < ve && (*v == ' ' || *v == '\t')) v++;
    while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
    if (hdr_is(line, nl, "transfer-encoding")) {
      *why = "request bodies need a Content-Length";
      return 411;
    }
    if (hdr_is(line, nl, "content-length")) {
      char num[24];
      long long x;
      *why = "bad Content-Length";
      if (!all_digits(v, (size_t)(ve - v)) || (size_t)(ve - v) >= sizeof(num)) return 400;
      memcpy(num, v, (size_t)(ve - v));
      num[ve - v] = '\0';
      if (pb_parse_int(num, 0, (1LL << 53), &x) || (has_cl && x != cl)) return 400;
      cl = x;
      has_cl = 1;
    }
    if (hdr_is(line, nl, "host")) has_host = 1;
    int drop = hdr_is(line, nl, "connection") || hdr_is(line, nl, "proxy-connection") ||
               hdr_is(line, nl, "keep-alive") || hdr_is(line, nl, "proxy-authorization") ||
               hdr_is(line, nl, "te") || hdr_is(line, nl, "trailer") ||
               hdr_is(line, nl, "upgrade") || hdr_is(line, nl, "expect");
    if (!drop) {
      size_t ll = (size_t)(le - line) + 2;
      if (n + ll >= cap) return 431;
      memcpy(o + n, line, ll);
      n += ll;
    }
    line = le + 2;
  }
  if (!has_host) {
    w = snprintf(o + n, cap - n, "Host: %.*s\r\n", (int)(path - auth), auth);
    if (w < 0 || (size_t)w >= cap - n) return 431;
    n += (size_t)w;
  }
  static const char tail[] = "Connection: close\r\n\r\n";
  if (n + sizeof(tail) > cap) return 431;
  memcpy(o + n, tail, sizeof(tail) - 1);
  n += sizeof(tail) - 1;

  /* New head, then the body bytes already read (no more than the body). */
  size_t have = c->c2u.len - hlen;
  size_t body = (long long)have > cl ? (size_t)cl : have;
  memmove(c->c2u.d + n, c->c2u.d + c->c2u.off + hlen, body);
  memcpy(c->c2u.d, o, n);
  c->c2u.off = 0;
  c->c2u.len = n + body;
  c->body_left = cl - (long long)body;
  return 0;
}

/* --------------------------------------------------------------- phases */

static void start_connect(pb_egress_proxy *p, conn *c) {
  while (c->next_addr < c->naddr) {
    addr *a = &c->addrs[c->next_addr++];
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = connect(fd, (struct sockaddr *)&a->ss, a->len);
    if (rc < 0 && errno != EINPROGRESS) {
      c->last_err = errno;
      close(fd);
      continue;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.u64 = 0};
    c->ufd = fd;
    ev.data.u64 = tag(p, c, SIDE_UP);
    if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
      close(fd);
      c->ufd = -1;
      continue;
    }
    c->umask = EPOLLOUT;
    c->state = ST_CONNECT;
    return;
  }
  char why[300];
  int e = c->last_err;
  c->why = e == ECONNREFUSED                                      ? PB_EGRESS_WHY_CONN_REFUSED
           : e == ETIMEDOUT                                       ? PB_EGRESS_WHY_TIMED_OUT
           : e == EHOSTUNREACH || e == ENETUNREACH || e == EACCES ? PB_EGRESS_WHY_UNREACHABLE
                                                                  : PB_EGRESS_WHY_FAILED;
  snprintf(why, sizeof(why), "cannot connect to %s:%d: %s", c->host, c->port,
           e ? strerror(e) : "no address");
  respond(p, c, 502, why);
}

static void connected(pb_egress_proxy *p, conn *c) {
  atomic_fetch_add(&p->n_allowed, 1);
  PB_DEBUG("egress: %s %s:%d", c->method, c->host, c->port);
  c->last_io = pb_now_ms();
  if (c->is_connect) {
    static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
    put(&c->u2c, ok, sizeof(ok) - 1);
    c->state = ST_TUNNEL;
  } else {
    c->state = ST_HTTP;
  }
}

static void on_connect_ready(pb_egress_proxy *p, conn *c) {
  int err = 0;
  socklen_t el = sizeof(err);
  if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
    c->last_err = err ? err : EIO;
    close_up(p, c);
    start_connect(p, c);
    return;
  }
  connected(p, c);
}

static void resolved(pb_egress_proxy *p, job *j);

static void enqueue(pb_egress_proxy *p, conn *c) {
  job *j = calloc(1, sizeof(*j));
  if (!j) {
    respond(p, c, 503, "out of memory");
    return;
  }
  j->slot = (int)(c - p->conns);
  j->lslot = c->lslot;
  j->gen = c->gen;
  pb_strlcpy(j->host, c->host, sizeof(j->host));
  j->port = c->port;
  c->state = ST_RESOLVE;
  c->deadline = pb_now_ms() + p->connect_ms;
  j->deadline = c->deadline;
  if (!needs_dns(p, j->host, j->port)) {
    decide(p, j);
    resolved(p, j);
    free(j);
    return;
  }
  pthread_mutex_lock(&p->mu);
  if (p->pend_tail)
    p->pend_tail->next = j;
  else
    p->pend_head = j;
  p->pend_tail = j;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->mu);
}

static void resolved(pb_egress_proxy *p, job *j) {
  if (j->slot < 0 || j->slot >= p->max_conns) return;
  conn *c = &p->conns[j->slot];
  if (!c->used || c->gen != j->gen || c->state != ST_RESOLVE) return;
  if (j->status) {
    c->why = j->why_code;
    respond(p, c, j->status, j->why);
    return;
  }
  memcpy(c->addrs, j->addrs, sizeof(j->addrs));
  c->naddr = j->naddr;
  c->next_addr = 0;
  start_connect(p, c);
}

/* Drops interim (1xx) heads and rewrites the final one so that Chromium
 * closes the connection after this response. 0, or an HTTP status. */
static int response_head(pb_egress_proxy *p, conn *c) {
  for (;;) {
    const char *h = c->u2c.d + c->u2c.off;
    const char *end = memmem(h, c->u2c.len, "\r\n\r\n", 4);
    if (!end) return c->u2c.len >= RESP_HEAD_MAX ? 502 : 0;
    size_t hlen = (size_t)(end - h) + 4;
    if (hlen > RESP_HEAD_MAX || c->u2c.len < 12 || memcmp(h, "HTTP/1.", 7) || h[8] != ' ' ||
        !isdigit((unsigned char)h[9]) || !isdigit((unsigned char)h[10]) ||
        !isdigit((unsigned char)h[11]))
      return 502;
    int status = (h[9] - '0') * 100 + (h[10] - '0') * 10 + (h[11] - '0');
    if (status >= 100 && status < 200 && status != 101) {
      c->u2c.off += hlen;
      c->u2c.len -= hlen;
      continue;
    }
    char *o = p->scratch;
    size_t n = 0, cap = RESP_HEAD_MAX + BUF_SLACK;
    const char *line = h, *hend = h + hlen - 2;
    int first = 1;
    while (line < hend) {
      const char *le = memmem(line, (size_t)(hend - line) + 2, "\r\n", 2);
      const char *colon = first ? NULL : memchr(line, ':', (size_t)(le - line));
      size_t nl = colon ? (size_t)(colon - line) : 0;
      int drop = colon && (hdr_is(line, nl, "connection") || hdr_is(line, nl, "proxy-connection") ||
                           hdr_is(line, nl, "keep-alive"));
      if (!drop) {
        size_t ll = (size_t)(le - line) + 2;
        if (n + ll >= cap) return 502;
        memcpy(o + n, line, ll);
        n += ll;
      }
      first = 0;
      line = le + 2;
    }
    static const char tail[] = "Connection: close\r\nProxy-Connection: close\r\n\r\n";
    if (n + sizeof(tail) > cap) return 502;
    memcpy(o + n, tail, sizeof(tail) - 1);
    n += sizeof(tail) - 1;
    size_t rest = c->u2c.len - hlen;
    /* n <= hlen + BUF_SLACK and rest + hlen <= BUF_CAP, so this fits. */
    memmove(c->u2c.d + n, c->u2c.d + c->u2c.off + hlen, rest);
    memcpy(c->u2c.d, o, n);
    c->u2c.off = 0;
    c->u2c.len = n + rest;
    c->resp_head_done = 1;
    return 0;
  }
}

/* ----------------------------------------------------------------- I/O */

/* One read; returns bytes read, 0 at EOF, -1 would block, -2 error. */
static ssize_t read_into(int fd, xbuf *b, size_t max) {
  if (b->off && room(b) < max) compact(b);
  size_t r = room(b);
  if (r > max) r = max;
  if (!r) return -1;
  ssize_t n;
  do n = recv(fd, b->d + b->off + b->len, r, 0);
  while (n < 0 && errno == EINTR);
  if (n > 0) b->len += (size_t)n;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
  return n;
}

/* Writes what it can; -1 on a broken connection. */
static int flush(int fd, xbuf *b) {
  while (b->len) {
    ssize_t n = send(fd, b->d + b->off, b->len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    b->off += (size_t)n;
    b->len -= (size_t)n;
  }
  b->off = 0;
  return 0;
}

static void discard(int fd, int *eof) {
  char junk[4096];
  ssize_t n = recv(fd, junk, sizeof(junk), 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) *eof = 1;
}

/* Logs the first request for each host:port (up to SEEN_MAX of them): what
 * the browsers talk to, pages and Chromium itself, without a line per
 * request. */
static void note_host(pb_egress_proxy *p, conn *c) {
  char key[264];
  snprintf(key, sizeof(key), "%s:%d", c->host, c->port);
  for (int i = 0; i < p->nseen; i++)
    if (!strcmp(p->seen[i], key)) return;
  if (p->nseen >= SEEN_MAX) return;
  memcpy(p->seen[p->nseen++], key, sizeof(key));
  const char *lb = strchr(c->host, ':') ? "[" : "", *rb = *lb ? "]" : "";
  PB_INFO("egress: first request for %s%s%s:%d (%s)", lb, c->host, rb, c->port, c->method);
}

static void client_readable(pb_egress_proxy *p, conn *c) {
  switch (c->state) {
    case ST_HEAD: {
      size_t before = c->c2u.len;
      ssize_t n = read_into(c->cfd, &c->c2u, REQ_HEAD_MAX + 1 - c->c2u.len);
      if (n == 0 || n == -2) {
        if (before == 0 || n == -2) {
          conn_close(p, c);
        } else {
          c->c_eof = 1;
          respond(p, c, 400, "incomplete request head");
        }
        return;
      }
      if (n < 0) return;
      /* Look again from a little before the new bytes: CRLFCRLF may straddle. */
      size_t from = before > 3 ? before - 3 : 0;
      const char *h = c->c2u.d + c->c2u.off;
      const char *end = memmem(h + from, c->c2u.len - from, "\r\n\r\n", 4);
      if (!end) {
        if (c->c2u.len > REQ_HEAD_MAX) respond(p, c, 431, "request head too large");
        return;
      }
      const char *why = "";
      int st = parse_request(p, c, (size_t)(end - h) + 4, &why);
      if (st) {
        respond(p, c, st, why);
        return;
      }
      note_host(p, c);
      enqueue(p, c);
      return;
    }
    case ST_TUNNEL:
    case ST_HTTP: {
      if (c->c_eof) return;
      if (c->state == ST_HTTP && c->body_left == 0) {
        /* Nothing more belongs to this request: a second one would be for a
         * host nobody checked. */
        int eof = 0;
        discard(c->cfd, &eof);
        c->c_eof = eof;
        return;
      }
      size_t max =
          c->state == ST_HTTP ? (size_t)(c->body_left < BUF_CAP ? c->body_left : BUF_CAP) : BUF_CAP;
      ssize_t n = read_into(c->cfd, &c->c2u, max);
      if (n > 0) {
        c->last_io = pb_now_ms();
        if (c->state == ST_HTTP) c->body_left -= n;
      } else if (n == 0 || n == -2) {
        c->c_eof = 1;
      }
      return;
    }
    case ST_RESPOND:
    case ST_LINGER: {
      int eof = 0;
      discard(c->cfd, &eof);
      if (eof) c->c_eof = 1;
      return;
    }
    default:
      return;
  }
}

static void upstream_readable(pb_egress_proxy *p, conn *c) {
  if (c->state != ST_TUNNEL && c->state != ST_HTTP) return;
  ssize_t n = read_into(c->ufd, &c->u2c, BUF_CAP);
  if (n > 0) {
    c->last_io = pb_now_ms();
  } else if (n == 0 || n == -2) {
    c->u_eof = 1;
  }
  if (c->state == ST_HTTP && !c->resp_head_done) {
    int st = response_head(p, c);
    if (!st && !c->resp_head_done && c->u_eof) st = 502;
    if (st) respond(p, c, st, "the upstream server sent no valid HTTP response head");
  }
}

/* Moves the connection along after any event and sets what to wait for. */
static void update(pb_egress_proxy *p, conn *c) {
  if (!c->used) return;
  int st = c->state;
  if (st == ST_TUNNEL || st == ST_HTTP) {
    int flow = st == ST_TUNNEL || c->resp_head_done;
    if (c->ufd >= 0 && c->c2u.len && flush(c->ufd, &c->c2u)) {
      c->u_eof = 1;
      close_up(p, c);
    }
    if (c->ufd < 0 && st == ST_HTTP && !c->resp_head_done) {
      respond(p, c, 502, "the upstream server closed the connection");
      update(p, c);
      return;
    }
    if (flow && c->u2c.len && flush(c->cfd, &c->u2c)) {
      conn_close(p, c);
      return;
    }
    if (c->c_eof && !c->c2u.len && c->ufd >= 0 && !c->u_shut) {
      shutdown(c->ufd, SHUT_WR);
      c->u_shut = 1;
    }
    /* Upstream done and everything passed on: the connection is over (a
     * tunnel's client gets our FIN; it is done writing or soon will be). */
    if (c->u_eof && !c->u2c.len) {
      conn_close(p, c);
      return;
    }
    /* An HTTP client that closes has given up on the response (Chromium
     * never half-closes): let the upstream go at once, not at the timeout. */
    if (st == ST_HTTP && c->c_eof) {
      conn_close(p, c);
      return;
    }
    if (st == ST_TUNNEL && c->c_eof && c->u_eof) {
      conn_close(p, c);
      return;
    }
    uint32_t cm = 0, um = 0;
    if (!c->c_eof && room(&c->c2u)) cm |= EPOLLIN;
    if (flow && c->u2c.len) cm |= EPOLLOUT;
    if (c->ufd >= 0) {
      if (!c->u_eof && room(&c->u2c)) um |= EPOLLIN;
      if (c->c2u.len) um |= EPOLLOUT;
    }
    set_mask(p, c, SIDE_CLIENT, cm);
    set_mask(p, c, SIDE_UP, um);
    return;
  }
  if (st == ST_RESPOND) {
    if (c->u2c.len && flush(c->cfd, &c->u2c)) {
      conn_close(p, c);
      return;
    }
    if (!c->u2c.len) {
      shutdown(c->cfd, SHUT_WR);
      c->state = ST_LINGER;
      c->deadline = pb_now_ms() + LINGER_MS;
      st = ST_LINGER;
    } else {
      set_mask(p, c, SIDE_CLIENT, EPOLLIN | EPOLLOUT);
      return;
    }
  }
  if (st == ST_LINGER) {
    if (c->c_eof) {
      conn_close(p, c);
      return;
    }
    set_mask(p, c, SIDE_CLIENT, EPOLLIN);
    return;
  }
  if (st == ST_HEAD) set_mask(p, c, SIDE_CLIENT, EPOLLIN);
  if (st == ST_RESOLVE || st == ST_CONNECT) set_mask(p, c, SIDE_CLIENT, 0);
  if (st == ST_CONNECT) set_mask(p, c, SIDE_UP, EPOLLOUT);
}

static void on_event(pb_egress_proxy *p, uint64_t t, uint32_t ev) {
  uint32_t gen = (uint32_t)(t >> 32);
  int slot = (int)((t & 0xffffffffu) >> 1), side = (int)(t & 1);
  if (slot >= p->max_conns) return;
  conn *c = &p->conns[slot];
  if (!c->used || c->gen != gen) return;
  if (side == SIDE_CLIENT) {
    if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) client_readable(p, c);
    if (!c->used) return;
    if ((ev & EPOLLERR) || ((ev & EPOLLHUP) && c->state != ST_LINGER)) {
      /* The client can take nothing more. */
      conn_close(p, c);
      return;
    }
    if (ev & EPOLLHUP) c->c_eof = 1;
  } else {
    if (c->ufd < 0) return;
    if (c->state == ST_CONNECT) {
      if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connect_ready(p, c);
    } else {
      if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) upstream_readable(p, c);
      if (c->used && c->ufd >= 0 && (ev & (EPOLLHUP | EPOLLERR)) &&
          (c->state == ST_TUNNEL || c->state == ST_HTTP)) {
        c->u_eof = 1;
        close_up(p, c);
        if (c->state == ST_HTTP && !c->resp_head_done)
          respond(p, c, 502, "the upstream server closed the connection");
      }
    }
  }
  update(p, c);
}

static void refuse_busy(int fd) {
  static const char busy[] =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
      "Content-Length: 27\r\nConnection: close\r\n\r\n"
      "ppod egress: too many conns";
  /* The client's request is not read: a large one may get a reset instead
   * of this answer, which is a network error all the same. */
  ssize_t n = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  (void)n;
  shutdown(fd, SHUT_WR);
  close(fd);
}

/* The entry of account in acct[], made when missing; -1 if the table is
 * full (it cannot be: an entry lives while a listener's connection does). */
static int acct_slot(pb_egress_proxy *p, int64_t account) {
  int free_at = -1;
  for (int i = 0; i < LISTENERS_MAX; i++) {
    if (p->acct[i].account == account) return i;
    if (!p->acct[i].account && free_at < 0) free_at = i;
  }
  if (free_at >= 0) {
    p->acct[free_at].account = account;
    p->acct[free_at].conns = 0;
    p->acct[free_at].warned = 0;
  }
  return free_at;
}

/* Accepts on the shared listener (li < 0) or on listener li. */
static void on_accept(pb_egress_proxy *p, int li) {
  int lfd = p->lfd;
  listener *l = li >= 0 ? &p->lst[li] : NULL;
  int64_t account = 0;
  if (l) {
    pthread_mutex_lock(&p->mu);
    lfd = l->used && !l->closing ? l->fd : -1;
    account = l->account;
    pthread_mutex_unlock(&p->mu);
    if (lfd < 0) return;
  }
  for (int i = 0; i < 64; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (l && l->conns >= p->per_listener) {
      /* One browser (one page, say) may not take every fd the service has. */
      atomic_fetch_add(&p->n_capped, 1);
      if (!l->warned)
        PB_WARN("egress: a browser has %d connections open, its cap; refusing more", l->conns);
      l->warned = 1;
      record_why(p, li, "", 0, PB_EGRESS_WHY_CAPPED, "the browser is at its connection cap");
      refuse_busy(fd);
      continue;
    }
    int as = account ? acct_slot(p, account) : -1;
    if (as >= 0 && p->acct[as].conns >= p->per_account) {
      /* Sessions of one account, together, may not take the proxy's total. */
      atomic_fetch_add(&p->n_capped, 1);
      if (!p->acct[as].warned)
        PB_WARN("egress: account %lld has %d connections open, its cap; refusing more",
                (long long)account, p->acct[as].conns);
      p->acct[as].warned = 1;
      record_why(p, li, "", 0, PB_EGRESS_WHY_CAPPED, "the account is at its connection cap");
      if (!p->acct[as].conns) p->acct[as].account = 0;
      refuse_busy(fd);
      continue;
    }
    if (!p->nfree) {
      atomic_fetch_add(&p->n_failed, 1);
      refuse_busy(fd);
      continue;
    }
    conn *c = &p->conns[p->free_slots[--p->nfree]];
    memset(c, 0, sizeof(*c));
    c->lslot = li;
    if (l) l->conns++;
    c->aslot = as;
    if (as >= 0) p->acct[as].conns++;
    c->c2u.d = malloc(BUF_CAP + BUF_SLACK);
    c->u2c.d = malloc(BUF_CAP + BUF_SLACK);
    c->cfd = fd;
    c->ufd = -1;
    c->used = 1;
    if (++p->next_gen >= GEN_MAX) p->next_gen = 1;
    c->gen = p->next_gen;
    atomic_fetch_add(&p->n_conns, 1);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag(p, c, SIDE_CLIENT)};
    if (!c->c2u.d || !c->u2c.d || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
      conn_close(p, c);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->cmask = EPOLLIN;
    c->state = ST_HEAD;
    c->deadline = pb_now_ms() + p->head_ms;
  }
}

static void sweep(pb_egress_proxy *p, int64_t now) {
  for (int i = 0; i < p->max_conns; i++) {
    conn *c = &p->conns[i];
    if (!c->used) continue;
    switch (c->state) {
      case ST_HEAD:
        if (now >= c->deadline) {
          if (c->c2u.len)
            respond(p, c, 400, "request head timed out");
          else
            conn_close(p, c);
        }
        break;
      case ST_RESOLVE:
      case ST_CONNECT:
        if (now >= c->deadline) {
          /* A resolver that never answers is a failure, not "allowed". */
          c->why = c->state == ST_RESOLVE ? PB_EGRESS_WHY_DNS_FAILED : PB_EGRESS_WHY_TIMED_OUT;
          respond(p, c, 504,
                  c->state == ST_RESOLVE ? "resolving the name timed out"
                                         : "connecting upstream timed out");
        }
        break;
      case ST_TUNNEL:
      case ST_HTTP:
        if (now - c->last_io >= p->idle_ms) conn_close(p, c);
        break;
      default:
        if (now >= c->deadline) conn_close(p, c);
    }
    update(p, c);
  }
}

/* Closes the listeners that were removed, and their connections. */
static void close_listeners(pb_egress_proxy *p) {
  for (int i = 0; i < LISTENERS_MAX; i++) {
    listener *l = &p->lst[i];
    pthread_mutex_lock(&p->mu);
    int closing = l->used && l->closing;
    pthread_mutex_unlock(&p->mu);
    if (!closing) continue;
    close(l->fd); /* first, so nobody new comes in; also drops it from epoll */
    for (int k = 0; k < p->max_conns && l->conns > 0; k++)
      if (p->conns[k].used && p->conns[k].lslot == i) conn_close(p, &p->conns[k]);
    pthread_mutex_lock(&p->mu);
    l->fd = -1;
    l->conns = 0;
    l->warned = 0;
    l->account = 0;
    l->closing = 0;
    l->used = 0;
    pthread_mutex_unlock(&p->mu);
  }
}

static void *loop_main(void *arg) {
  pb_egress_proxy *p = arg;
  struct epoll_event evs[64];
  int64_t last_sweep = pb_now_ms();
  while (!atomic_load(&p->stopping)) {
    int n = epoll_wait(p->epfd, evs, 64, SWEEP_MS);
    for (int i = 0; i < n; i++) {
      uint64_t t = evs[i].data.u64;
      if (t == TAG_LISTEN) {
        on_accept(p, -1);
      } else if (t <= TAG_LST0 && t > TAG_LST0 - LISTENERS_MAX) {
        on_accept(p, (int)(TAG_LST0 - t));
      } else if (t == TAG_WAKE) {
        uint64_t v;
        if (read(p->wakefd, &v, sizeof(v)) < 0) {
          /* Spurious: nothing to take. */
        }
        pthread_mutex_lock(&p->mu);
        job *done = p->done_head;
        p->done_head = NULL;
        pthread_mutex_unlock(&p->mu);
        while (done) {
          job *next = done->next;
          resolved(p, done);
          if (done->slot >= 0 && done->slot < p->max_conns) update(p, &p->conns[done->slot]);
          free(done);
          done = next;
        }
        if (atomic_exchange(&p->lst_closing, 0)) close_listeners(p);
      } else {
        on_event(p, t, evs[i].events);
      }
    }
    int64_t now = pb_now_ms();
    if (now - last_sweep >= SWEEP_MS) {
      sweep(p, now);
      last_sweep = now;
    }
  }
  for (int i = 0; i < p->max_conns; i++) conn_close(p, &p->conns[i]);
  return NULL;
}

/* ------------------------------------------------------------ lifecycle */

int pb_egress_proxy_start(const pb_egress_proxy_opts *o, pb_egress_proxy **out) {
  *out = NULL;
  pb_egress_proxy *p = calloc(1, sizeof(*p));
  if (!p) return PB_ENOMEM;
  p->lfd = p->epfd = p->wakefd = -1;
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->why_mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  p->max_conns = o->max_conns > 0 ? o->max_conns : 1024;
  p->head_ms = o->head_timeout_ms > 0 ? o->head_timeout_ms : 30000;
  p->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : 15000;
  p->idle_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : 300000;
  p->per_listener = o->max_conns_per_listener > 0 ? o->max_conns_per_listener : 256;
  p->per_account = o->max_conns_per_account > 0 ? o->max_conns_per_account : 512;
  for (int i = 0; i < LISTENERS_MAX; i++) p->lst[i].fd = -1;
  int nres = o->resolvers > 0 ? o->resolvers : 8;
  if (nres > RESOLVERS_MAX) nres = RESOLVERS_MAX;
  p->res_per_listener = nres > 1 ? nres / 2 : 1;
  int rc = pb_egress_new(&p->policy);
  if (rc) goto fail;
  rc = PB_EINVAL;
  for (int i = 0; i < o->nallow; i++)
    if (pb_egress_allow(p->policy, o->allow[i])) {
      PB_ERR("egress: bad allow-list entry '%s'", o->allow[i]);
      goto fail;
    }
  if (o->hosts && parse_hosts(p, o->hosts)) {
    PB_ERR("egress: bad hosts map (expected name=ip,name=ip)");
    goto fail;
  }
  rc = PB_ENOMEM;
  p->conns = calloc((size_t)p->max_conns, sizeof(*p->conns));
  p->free_slots = calloc((size_t)p->max_conns, sizeof(int));
  p->scratch = malloc(RESP_HEAD_MAX + BUF_SLACK);
  p->seen = calloc(SEEN_MAX, sizeof(*p->seen));
  if (!p->conns || !p->free_slots || !p->scratch || !p->seen) goto fail;
  for (int i = 0; i < p->max_conns; i++) {
    p->conns[i].lslot = -1;
    p->conns[i].aslot = -1;
    p->conns[i].cfd = p->conns[i].ufd = -1;
    p->free_slots[p->nfree++] = p->max_conns - 1 - i;
  }

  rc = PB_EIO;
  p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(p->lfd, 512) ||
      getsockname(p->lfd, (struct sockaddr *)&sa, &sl))
    goto fail;
  p->port = ntohs(sa.sin_port);
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  p->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (p->epfd < 0 || p->wakefd < 0) goto fail;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LISTEN};
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->lfd, &ev)) goto fail;
  ev.data.u64 = TAG_WAKE;
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev)) goto fail;
  for (int i = 0; i < nres; i++) {
    if (pthread_create(&p->res[i], NULL, resolver_main, p)) goto fail;
    p->nres++;
  }
  if (pthread_create(&p->loop, NULL, loop_main, p)) goto fail;
  p->loop_started = 1;
  *out = p;
  return 0;

fail:
  pb_egress_proxy_stop(p);
  return rc;
}

int pb_egress_proxy_port(const pb_egress_proxy *p) {
  return p->port;
}

int pb_egress_proxy_add_listener(pb_egress_proxy *p, int lfd, int *id) {
  *id = -1;
  pthread_mutex_lock(&p->mu);
  int i = 0;
  while (i < LISTENERS_MAX && p->lst[i].used) i++;
  if (i == LISTENERS_MAX) {
    pthread_mutex_unlock(&p->mu);
    close(lfd);
    return PB_EBUSY;
  }
  p->lst[i].used = 1;
  p->lst[i].closing = 0;
  p->lst[i].account = 0;
  p->lst[i].fd = lfd;
  pthread_mutex_unlock(&p->mu);
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_LST0 - (uint64_t)i};
  if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, lfd, &ev)) {
    pthread_mutex_lock(&p->mu);
    p->lst[i].fd = -1;
    p->lst[i].used = 0;
    pthread_mutex_unlock(&p->mu);
    close(lfd);
    return PB_EIO;
  }
  *id = i;
  return 0;
}

void pb_egress_proxy_remove_listener(pb_egress_proxy *p, int id) {
  if (!p || id < 0 || id >= LISTENERS_MAX) return;
  pthread_mutex_lock(&p->mu);
  if (p->lst[id].used) p->lst[id].closing = 1;
  pthread_mutex_unlock(&p->mu);
  atomic_store(&p->lst_closing, 1);
  uint64_t one = 1;
  if (write(p->wakefd, &one, sizeof(one)) < 0) {
    /* The counter is non-zero already: the loop will look. */
  }
}

void pb_egress_proxy_set_listener_account(pb_egress_proxy *p, int id, int64_t account) {
  if (!p || id < 0 || id >= LISTENERS_MAX) return;
  pthread_mutex_lock(&p->mu);
  if (p->lst[id].used && !p->lst[id].closing) p->lst[id].account = account;
  pthread_mutex_unlock(&p->mu);
}

/* Names and addresses compare as the proxy saw them: an IP in any spelling
 * is the same IP. */
static int same_host(const char *a, const char *b) {
  if (!strcmp(a, b)) return 1;
  addr x, y;
  return parse_ip(a, &x) && parse_ip(b, &y) && same_addr(&x, &y);
}

int pb_egress_proxy_why(pb_egress_proxy *p, int listener, const char *host, int port,
                        int64_t since_ms, char *text, size_t cap) {
  if (cap) text[0] = '\0';
  if (!p) return PB_EGRESS_WHY_NONE;
  int why = PB_EGRESS_WHY_NONE;
  pthread_mutex_lock(&p->why_mu);
  unsigned n = p->nwhy < WHY_MAX ? p->nwhy : WHY_MAX;
  /* Newest first: the last word on host:port is the one that counts. */
  for (unsigned k = 0; k < n; k++) {
    const why_rec *r = &p->why[(p->nwhy - 1 - k) % WHY_MAX];
    if (r->at < since_ms) continue;
    if (listener >= 0 && r->lslot != listener) continue;
    int capped = !r->host[0] && r->why == PB_EGRESS_WHY_CAPPED;
    if (!capped && (r->port != port || !same_host(r->host, host))) continue;
    if (capped && why != PB_EGRESS_WHY_NONE) continue;
    why = r->why;
    if (cap) pb_strlcpy(text, r->text, cap);
    if (!capped) break;
  }
  pthread_mutex_unlock(&p->why_mu);
  return why;
}

void pb_egress_proxy_get_stats(pb_egress_proxy *p, pb_egress_proxy_stats *out) {
  out->allowed = atomic_load(&p->n_allowed);
  out->refused = atomic_load(&p->n_refused);
  out->failed = atomic_load(&p->n_failed);
  out->capped = atomic_load(&p->n_capped);
  out->conns = atomic_load(&p->n_conns);
}

void pb_egress_proxy_stop(pb_egress_proxy *p) {
  if (!p) return;
  atomic_store(&p->stopping, 1);
  if (p->loop_started) {
    uint64_t one = 1;
    if (write(p->wakefd, &one, sizeof(one)) < 0) {
      /* The loop wakes within SWEEP_MS anyway. */
    }
    pthread_join(p->loop, NULL);
  }
  pthread_mutex_lock(&p->mu);
  p->res_stop = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->nres; i++) pthread_join(p->res[i], NULL);
  for (job *j = p->pend_head, *n; j; j = n) {
    n = j->next;
    free(j);
  }
  for (job *j = p->done_head, *n; j; j = n) {
    n = j->next;
    free(j);
  }
  if (p->lfd >= 0) close(p->lfd);
  for (int i = 0; i < LISTENERS_MAX; i++)
    if (p->lst[i].fd >= 0) close(p->lst[i].fd);
  if (p->epfd >= 0) close(p->epfd);
  if (p->wakefd >= 0) close(p->wakefd);
  free(p->conns);
  free(p->free_slots);
  free(p->scratch);
  free(p->seen);
  pb_egress_free(p->policy);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->why_mu);
  pthread_cond_destroy(&p->cv);
  free(p);
}
