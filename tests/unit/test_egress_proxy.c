/* The egress proxy against two loopback servers: one allow-listed, one
 * "secret" that must never see a byte. Includes proxy.c to reach its parser. */
#include "../../src/egress/proxy.c"

#include "test.h"

#include <poll.h>
#include <signal.h>
#include <sys/time.h>

/* ------------------------------------------------ a tiny HTTP server */

typedef struct {
  int lfd, port;
  atomic_int hits; /* connections accepted */
  atomic_int stop;
  pthread_t th;
  pthread_mutex_t mu;
  char log[8192]; /* every request head and body it read, appended */
  size_t loglen;
} server;

static void srv_log(server *s, const char *p, size_t n) {
  pthread_mutex_lock(&s->mu);
  if (s->loglen + n < sizeof(s->log)) {
    memcpy(s->log + s->loglen, p, n);
    s->loglen += n;
    s->log[s->loglen] = '\0';
  }
  pthread_mutex_unlock(&s->mu);
}

static int srv_log_has(server *s, const char *needle) {
  pthread_mutex_lock(&s->mu);
  int r = strstr(s->log, needle) != NULL;
  pthread_mutex_unlock(&s->mu);
  return r;
}

static void send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* Serves requests on one connection until "Connection: close" or EOF.
 * /big answers 1 MiB, /garbage answers no HTTP at all. */
static void serve_conn(server *s, int fd) {
  char buf[16384];
  size_t len = 0;
  for (;;) {
    char *end = NULL;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
      if (len == sizeof(buf)) return;
      ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
      if (n <= 0) return;
      len += (size_t)n;
    }
    size_t hlen = (size_t)(end - buf) + 4;
    srv_log(s, buf, hlen);
    long long cl = 0;
    char *clh = memmem(buf, hlen, "Content-Length: ", 16);
    if (clh) {
      char num[24];
      size_t k = 0;
      for (const char *q = clh + 16; *q >= '0' && *q <= '9' && k + 1 < sizeof(num); q++)
        num[k++] = *q;
      num[k] = '\0';
      if (k && pb_parse_int(num, 0, 1 << 20, &cl)) cl = 0;
    }
    while ((long long)(len - hlen) < cl) {
      ssize_t n = recv(fd, buf + len, sizeof(buf) - len, 0);
      if (n <= 0) return;
      len += (size_t)n;
    }
    srv_log(s, buf + hlen, (size_t)cl);
    int close_after = memmem(buf, hlen, "Connection: close", 17) != NULL;
    if (!strncmp(buf, "GET /garbage ", 13)) {
      send_all(fd, "NOT HTTP\r\n\r\n", 12);
      return;
    }
    if (!strncmp(buf, "GET /big ", 9)) {
      static char big[1 << 20];
      memset(big, 'x', sizeof(big));
      char head[128];
      int hl = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                        sizeof(big));
      send_all(fd, head, (size_t)hl);
      send_all(fd, big, sizeof(big));
    } else {
      static const char ok[] =
          "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
          "Keep-Alive: timeout=60\r\n\r\nhello";
      send_all(fd, ok, sizeof(ok) - 1);
    }
    memmove(buf, buf + hlen + cl, len - hlen - (size_t)cl);
    len -= hlen + (size_t)cl;
    if (close_after) return;
  }
}

static void *server_main(void *arg) {
  server *s = arg;
  while (!atomic_load(&s->stop)) {
    struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 50) <= 0) continue;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0) continue;
    atomic_fetch_add(&s->hits, 1);
    struct timeval tv = {.tv_sec = 3};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    serve_conn(s, fd);
    close(fd);
  }
  return NULL;
}

static void server_start(server *s) {
  memset(s, 0, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
  s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  ASSERT(s->lfd >= 0);
  ASSERT_EQ(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ(listen(s->lfd, 64), 0);
  ASSERT_EQ(getsockname(s->lfd, (struct sockaddr *)&sa, &sl), 0);
  s->port = ntohs(sa.sin_port);
  ASSERT_EQ(pthread_create(&s->th, NULL, server_main, s), 0);
}

static void server_stop(server *s) {
  atomic_store(&s->stop, 1);
  pthread_join(s->th, NULL);
  close(s->lfd);
  pthread_mutex_destroy(&s->mu);
}

/* ------------------------------------------------------------ client */

static server allowed, secret;
static int closed_port; /* allow-listed, nothing listens */
static pb_egress_proxy *px;

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ASSERT(fd >= 0);
  ASSERT_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

/* Reads until EOF (or the 5 s receive timeout); returns the byte count. */
static size_t read_all(int fd, char *out, size_t cap) {
  size_t n = 0;
  for (;;) {
    char tmp[65536];
    ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
    if (r <= 0) break;
    size_t take = (size_t)r < cap - 1 - n ? (size_t)r : cap - 1 - n;
    memcpy(out + n, tmp, take);
    n += take;
  }
  out[n] = '\0';
  return n;
}

static int status_of(const char *resp) {
  int st = 0;
  if (sscanf(resp, "HTTP/1.1 %d", &st) != 1) return -1;
  return st;
}

static char resp[1 << 16];

/* Sends raw bytes to the proxy, returns the status it answered. */
static int exchange_on(int port, const char *req, size_t len) {
  int fd = dial(port);
  send_all(fd, req, len);
  read_all(fd, resp, sizeof(resp));
  close(fd);
  return status_of(resp);
}

static int exchange(const char *req) {
  return exchange_on(pb_egress_proxy_port(px), req, strlen(req));
}

static int get(const char *hostport, const char *path) {
  char req[512];
  snprintf(req, sizeof(req),
           "GET http://%s%s HTTP/1.1\r\nHost: %s\r\nProxy-Connection: keep-alive\r\n\r\n", hostport,
           path, hostport);
  return exchange(req);
}

static int connect_status(const char *hostport) {
  char req[512];
  snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hostport, hostport);
  return exchange(req);
}

/* ------------------------------------------------------------- tests */

static void test_parse_authority(void) {
  char host[256];
  int port;
  ASSERT_EQ(parse_authority("Example.COM.:8080", 17, 80, host, sizeof(host), &port), 0);
  ASSERT_STR_EQ(host, "example.com");
  ASSERT_EQ(port, 8080);
  ASSERT_EQ(parse_authority("[::FFFF:127.0.0.1]", 18, 80, host, sizeof(host), &port), 0);
  ASSERT_STR_EQ(host, "::ffff:127.0.0.1");
  ASSERT_EQ(port, 80);
  ASSERT_EQ(parse_authority("example.com", 11, 0, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a:+80", 5, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a:0", 3, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a:65536", 7, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a b", 3, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a%2e", 4, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("[::1", 4, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("a:1:2", 5, 80, host, sizeof(host), &port), PB_EINVAL);
  ASSERT_EQ(parse_authority("", 0, 80, host, sizeof(host), &port), PB_EINVAL);
}

static void test_allowed_get(void) {
  char hp[64];
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  ASSERT_EQ(get(hp, "/hello"), 200);
  ASSERT_CONTAINS(resp, "\r\n\r\nhello");
  /* One request per connection, whatever the server said. */
  ASSERT_CONTAINS(resp, "Connection: close\r\n");
  ASSERT(!strstr(resp, "keep-alive"));
  ASSERT(!strstr(resp, "103 Early Hints"));
  ASSERT(srv_log_has(&allowed, "GET /hello HTTP/1.1\r\n"));
  ASSERT(srv_log_has(&allowed, "Connection: close\r\n"));
  ASSERT(!srv_log_has(&allowed, "Proxy-Connection"));
  /* A request body goes along, exactly Content-Length of it. */
  char req[256];
  snprintf(req, sizeof(req),
           "POST http://%s/post HTTP/1.1\r\nHost: %s\r\nContent-Length: 7\r\n\r\nbody-42", hp, hp);
  ASSERT_EQ(exchange(req), 200);
  ASSERT(srv_log_has(&allowed, "POST /post HTTP/1.1\r\n"));
  ASSERT(srv_log_has(&allowed, "body-42"));
  /* Other spellings of the allow-listed address, and a test-resolver name. */
  snprintf(hp, sizeof(hp), "127.1:%d", allowed.port);
  ASSERT_EQ(get(hp, "/spelled"), 200);
  snprintf(hp, sizeof(hp), "allowed.test:%d", allowed.port);
  ASSERT_EQ(get(hp, "/named"), 200);
  ASSERT(srv_log_has(&allowed, "GET /named HTTP/1.1\r\n"));
  /* A name allow-listed by name goes to the system resolver (a resolver
   * thread); it may answer ::1 first, where nothing listens: the next
   * checked address is tried. */
  snprintf(hp, sizeof(hp), "localhost:%d", allowed.port);
  ASSERT_EQ(get(hp, "/by-name"), 200);
  ASSERT(srv_log_has(&allowed, "GET /by-name HTTP/1.1\r\n"));
  /* A response larger than every buffer, through back-pressure. */
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  int fd = dial(pb_egress_proxy_port(px));
  snprintf(req, sizeof(req), "GET http://%s/big HTTP/1.1\r\nHost: %s\r\n\r\n", hp, hp);
  send_all(fd, req, strlen(req));
  static char big[(1 << 20) + 4096];
  size_t n = read_all(fd, big, sizeof(big));
  close(fd);
  char *body = strstr(big, "\r\n\r\n");
  ASSERT(body);
  ASSERT_EQ(n - (size_t)(body + 4 - big), (size_t)1 << 20);
}

static void test_allowed_connect(void) {
  char hp[64], req[256];
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  int fd = dial(pb_egress_proxy_port(px));
  snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hp, hp);
  send_all(fd, req, strlen(req));
  char head[64];
  ssize_t r = recv(fd, head, sizeof(head) - 1, 0);
  ASSERT(r > 0);
  head[r] = '\0';
  ASSERT_CONTAINS(head, "HTTP/1.1 200 ");
  /* Whatever flows through the tunnel is the server's business. */
  static const char inner[] = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  send_all(fd, inner, sizeof(inner) - 1);
  static char big[(1 << 20) + 4096];
  size_t n = read_all(fd, big, sizeof(big));
  close(fd);
  char *body = strstr(big, "\r\n\r\n");
  ASSERT(body);
  ASSERT_EQ(n - (size_t)(body + 4 - big), (size_t)1 << 20);
}

static void test_refused(void) {
  /* Every spelling of loopback at the secret's port, a test-resolver name
   * for it, and the other private ranges. */
  const char *hosts[] = {
      "127.0.0.1",       "127.1",
      "0x7f.1",          "2130706433",
      "0177.0.0.1",      "0x7f000001",
      "[::1]",           "[::ffff:127.0.0.1]",
      "[::ffff:7f00:1]", "localhost",
      "LOCALHOST.",      "a.localhost",
      "secret.test",     "SECRET.TEST.",
      "0.0.0.0",         "[::]",
      "[::127.0.0.1]",   "[64:ff9b::7f00:1]",
  };
  char hp[128];
  for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
    snprintf(hp, sizeof(hp), "%s:%d", hosts[i], secret.port);
    int g = get(hp, "/stolen"), c = connect_status(hp);
    if (g != 403 || c != 403) fprintf(stderr, "not refused: %s (GET %d, CONNECT %d)\n", hp, g, c);
    ASSERT_EQ(g, 403);
    ASSERT_EQ(c, 403);
    ASSERT_CONTAINS(resp, "X-Ppod-Egress: refused\r\n");
    ASSERT_CONTAINS(resp, "ppod egress: ");
  }
  /* Metadata and the rest of the private space: refused before any connect. */
  const char *priv[] = {"169.254.169.254:80", "10.0.0.1:80",  "172.16.0.1:443", "192.168.1.1:80",
                        "100.64.0.1:80",      "[fe80::1]:80", "[fd00::1]:443",  "224.0.0.1:80"};
  for (size_t i = 0; i < sizeof(priv) / sizeof(priv[0]); i++) {
    ASSERT_EQ(get(priv[i], "/latest/meta-data/"), 403);
    ASSERT_EQ(connect_status(priv[i]), 403);
  }
  /* Userinfo does not hide the host. */
  char req[256];
  snprintf(req, sizeof(req), "GET http://user:pw@127.0.0.1:%d/ HTTP/1.1\r\n\r\n", secret.port);
  ASSERT_EQ(exchange(req), 403);
  /* The allow-listed address at another port is still refused. */
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", secret.port);
  ASSERT_EQ(get(hp, "/"), 403);
  /* A second request down a connection that was checked for the first goes
   * nowhere: not to the secret, not to the first server. */
  snprintf(req, sizeof(req),
           "GET http://127.0.0.1:%d/first HTTP/1.1\r\n\r\nGET http://127.0.0.1:%d/second "
           "HTTP/1.1\r\n\r\n",
           allowed.port, secret.port);
  ASSERT_EQ(exchange(req), 200);
  ASSERT(srv_log_has(&allowed, "GET /first "));
  ASSERT(!srv_log_has(&allowed, "/second"));
  ASSERT_EQ(atomic_load(&secret.hits), 0);
}

static void test_malformed(void) {
  char req[512];
  const char *bad[] = {
      "garbage\r\n\r\n",
      "\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET https://example.com/ HTTP/1.1\r\n\r\n",
      "GET ftp://example.com/ HTTP/1.1\r\n\r\n",
      "GET http://example.com/ HTTP/2.0\r\n\r\n",
      "GET http://example.com/  HTTP/1.1\r\n\r\n",
      "GET http:// HTTP/1.1\r\n\r\n",
      "GET http://[::1/ HTTP/1.1\r\n\r\n",
      "GET http://ex%41mple.com/ HTTP/1.1\r\n\r\n",
      "GET http://example.com:99999/ HTTP/1.1\r\n\r\n",
      "GET http://example.com/ HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET http://example.com/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
      "GET http://example.com/ HTTP/1.1\r\n folded: x\r\n\r\n",
      "GET http://example.com/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
      "GET http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "CONNECT example.com HTTP/1.1\r\n\r\n",
      "CONNECT :443 HTTP/1.1\r\n\r\n",
      "CONNECT example.com:0 HTTP/1.1\r\n\r\n",
      "G\x01T http://example.com/ HTTP/1.1\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int st = exchange(bad[i]);
    if (st != 400) fprintf(stderr, "not 400: %s -> %d\n", bad[i], st);
    ASSERT_EQ(st, 400);
  }
  /* A NUL inside the head. */
  static const char nul[] = "GET http://exa\0mple.com/ HTTP/1.1\r\n\r\n";
  ASSERT_EQ(exchange_on(pb_egress_proxy_port(px), nul, sizeof(nul) - 1), 400);
  snprintf(req, sizeof(req),
           "POST http://127.0.0.1:%d/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
           allowed.port);
  ASSERT_EQ(exchange(req), 411);
  /* A head over the cap. */
  static char huge[REQ_HEAD_MAX + 4096];
  int n = snprintf(huge, sizeof(huge), "GET http://127.0.0.1:%d/ HTTP/1.1\r\nX: ", allowed.port);
  memset(huge + n, 'a', sizeof(huge) - (size_t)n - 5);
  memcpy(huge + sizeof(huge) - 5, "\r\n\r\n", 4);
  ASSERT_EQ(exchange_on(pb_egress_proxy_port(px), huge, sizeof(huge) - 1), 431);
  /* An upstream that does not speak HTTP, and an allow-listed port where
   * nothing listens: a plain request gets no answer (a network error for
   * Chromium, as without a proxy), a tunnel gets 502. */
  char hp[64];
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  ASSERT_EQ(get(hp, "/garbage"), -1);
  ASSERT_STR_EQ(resp, "");
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", closed_port);
  ASSERT_EQ(get(hp, "/"), -1);
  ASSERT_STR_EQ(resp, "");
  ASSERT_EQ(connect_status(hp), 502);
  ASSERT_CONTAINS(resp, "cannot connect");
  /* Half a head, then the client goes away; the proxy carries on. */
  int fd = dial(pb_egress_proxy_port(px));
  send_all(fd, "GET http://exam", 15);
  close(fd);
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  ASSERT_EQ(get(hp, "/still-alive"), 200);
  ASSERT_EQ(atomic_load(&secret.hits), 0);
}

static void test_caps_and_timeouts(void) {
  char hp[64], allow_entry[64];
  snprintf(allow_entry, sizeof(allow_entry), "127.0.0.1:%d", allowed.port);
  const char *allow[] = {allow_entry};
  pb_egress_proxy_opts o = {.allow = allow, .nallow = 1, .max_conns = 4, .head_timeout_ms = 400};
  pb_egress_proxy *small;
  ASSERT_EQ(pb_egress_proxy_start(&o, &small), 0);
  int port = pb_egress_proxy_port(small);
  int held[4];
  for (int i = 0; i < 4; i++) held[i] = dial(port);
  /* The fifth is turned away at once with 503. */
  int fd = dial(port);
  read_all(fd, resp, sizeof(resp));
  close(fd);
  ASSERT_EQ(status_of(resp), 503);
  pb_egress_proxy_stats st;
  pb_egress_proxy_get_stats(small, &st);
  ASSERT_EQ(st.conns, 4);
  /* Idle heads time out: silent ones are closed, partial ones get 400. */
  send_all(held[0], "GET http://x", 12);
  int64_t t0 = pb_now_ms();
  read_all(held[0], resp, sizeof(resp));
  ASSERT_EQ(status_of(resp), 400);
  ASSERT_CONTAINS(resp, "timed out");
  char c;
  ASSERT_EQ(recv(held[1], &c, 1, 0), 0);
  ASSERT(pb_now_ms() - t0 < 3000);
  for (int i = 0; i < 4; i++) close(held[i]);
  /* With the slots free again, requests go through. */
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  char req[256];
  snprintf(req, sizeof(req), "GET http://%s/after-cap HTTP/1.1\r\n\r\n", hp);
  ASSERT_EQ(exchange_on(port, req, strlen(req)), 200);
  pb_egress_proxy_get_stats(small, &st);
  ASSERT_EQ(st.allowed, 1);
  pb_egress_proxy_stop(small);
}

/* A listener of one browser: its own cap of connections at once, and
 * removing it closes it and what came in on it. */
static void test_listeners(void) {
  char allow_entry[64], hp[64], req[256];
  snprintf(allow_entry, sizeof(allow_entry), "127.0.0.1:%d", allowed.port);
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", allowed.port);
  snprintf(req, sizeof(req), "GET http://%s/via-listener HTTP/1.1\r\n\r\n", hp);
  const char *allow[] = {allow_entry};
  pb_egress_proxy_opts o = {.allow = allow, .nallow = 1, .max_conns_per_listener = 3};
  pb_egress_proxy *p;
  ASSERT_EQ(pb_egress_proxy_start(&o, &p), 0);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
  int lport = ntohs(sa.sin_port), id = -1;
  ASSERT_EQ(pb_egress_proxy_add_listener(p, lfd, &id), 0);
  ASSERT(id >= 0);
  ASSERT_EQ(exchange_on(lport, req, strlen(req)), 200);
  int held[3];
  for (int i = 0; i < 3; i++) held[i] = dial(lport);
  /* Wait until the proxy has taken all three, then the fourth is refused. */
  pb_egress_proxy_stats st;
  for (int i = 0; i < 200; i++) {
    pb_egress_proxy_get_stats(p, &st);
    if (st.conns == 3) break;
    usleep(10000);
  }
  ASSERT_EQ(st.conns, 3);
  ASSERT_EQ(exchange_on(lport, req, strlen(req)), 503);
  pb_egress_proxy_get_stats(p, &st);
  ASSERT_EQ(st.capped, 1);
  /* The cap is per listener: the shared one still serves. */
  ASSERT_EQ(exchange_on(pb_egress_proxy_port(p), req, strlen(req)), 200);
  close(held[0]);
  for (int i = 0; i < 200 && exchange_on(lport, req, strlen(req)) != 200; i++) usleep(10000);
  ASSERT_EQ(status_of(resp), 200);
  /* Removed: what it held is closed, and nobody is accepted any more. */
  pb_egress_proxy_remove_listener(p, id);
  char c;
  ASSERT_EQ(recv(held[1], &c, 1, 0), 0);
  ASSERT_EQ(recv(held[2], &c, 1, 0), 0);
  close(held[1]);
  close(held[2]);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  ASSERT(connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 && errno == ECONNREFUSED);
  close(fd);
  pb_egress_proxy_remove_listener(p, id);  /* twice: a no-op */
  pb_egress_proxy_remove_listener(NULL, 0);
  pb_egress_proxy_stop(p);
}

/* What the proxy records about each refusal and failure, for navigation to
 * tell the user without connecting anywhere itself. */
static void test_why(void) {
  char hp[64], text[200];
  int64_t since = pb_now_ms();
  ASSERT_EQ(pb_egress_proxy_why(px, -1, "127.0.0.1", closed_port, since, text, sizeof(text)),
            PB_EGRESS_WHY_NONE);
  snprintf(hp, sizeof(hp), "127.0.0.1:%d", closed_port);
  ASSERT_EQ(connect_status(hp), 502);
  ASSERT_EQ(pb_egress_proxy_why(px, -1, "127.0.0.1", closed_port, since, text, sizeof(text)),
            PB_EGRESS_WHY_CONN_REFUSED);
  ASSERT_CONTAINS(text, "refused");
  /* Another spelling of the same address finds it; another port does not. */
  ASSERT_EQ(pb_egress_proxy_why(px, -1, "2130706433", closed_port, since, text, sizeof(text)),
            PB_EGRESS_WHY_CONN_REFUSED);
  ASSERT_EQ(pb_egress_proxy_why(px, -1, "127.0.0.1", closed_port + 1, since, text, sizeof(text)),
            PB_EGRESS_WHY_NONE);
  /* Older than the navigation: not its reason. */
  ASSERT_EQ(
      pb_egress_proxy_why(px, -1, "127.0.0.1", closed_port, pb_now_ms() + 1, text, sizeof(text)),
      PB_EGRESS_WHY_NONE);
  snprintf(hp, sizeof(hp), "secret.test:%d", secret.port);
  ASSERT_EQ(connect_status(hp), 403);
  ASSERT_EQ(pb_egress_proxy_why(px, -1, "secret.test", secret.port, since, text, sizeof(text)),
            PB_EGRESS_WHY_REFUSED);
  ASSERT_CONTAINS(text, "resolves to 127.0.0.1");
  /* Only the listener it came in on (-1: the shared one) has it. */
  ASSERT_EQ(pb_egress_proxy_why(px, 5, "secret.test", secret.port, since, text, sizeof(text)),
            PB_EGRESS_WHY_NONE);
  ASSERT_EQ(pb_egress_proxy_why(NULL, -1, "x", 1, 0, text, sizeof(text)), PB_EGRESS_WHY_NONE);
  ASSERT_STR_EQ(pb_egress_why_net_error(PB_EGRESS_WHY_CONN_REFUSED), "net::ERR_CONNECTION_REFUSED");
  ASSERT(pb_egress_why_net_error(PB_EGRESS_WHY_REFUSED) == NULL);
}

static int add_loopback_listener(pb_egress_proxy *p, int *port) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  ASSERT_EQ(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ASSERT_EQ(listen(lfd, 16), 0);
  ASSERT_EQ(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
  *port = ntohs(sa.sin_port);
  int id = -1;
  ASSERT_EQ(pb_egress_proxy_add_listener(p, lfd, &id), 0);
  return id;
}

/* Two listeners of one account share its cap; a third of another account
 * and the account's listener once detached do not. */
static void test_account_cap(void) {
  char allow_entry[64], req[256];
  snprintf(allow_entry, sizeof(allow_entry), "127.0.0.1:%d", allowed.port);
  snprintf(req, sizeof(req), "GET http://127.0.0.1:%d/acct HTTP/1.1\r\n\r\n", allowed.port);
  const char *allow[] = {allow_entry};
  pb_egress_proxy_opts o = {
      .allow = allow, .nallow = 1, .max_conns_per_listener = 10, .max_conns_per_account = 3};
  pb_egress_proxy *p;
  ASSERT_EQ(pb_egress_proxy_start(&o, &p), 0);
  int pa, pb, pc;
  int a = add_loopback_listener(p, &pa), b = add_loopback_listener(p, &pb);
  int c = add_loopback_listener(p, &pc);
  pb_egress_proxy_set_listener_account(p, a, 7);
  pb_egress_proxy_set_listener_account(p, b, 7);
  pb_egress_proxy_set_listener_account(p, c, 8);
  int held[3] = {dial(pa), dial(pa), dial(pb)};
  pb_egress_proxy_stats st;
  for (int i = 0; i < 200; i++) {
    pb_egress_proxy_get_stats(p, &st);
    if (st.conns == 3) break;
    usleep(10000);
  }
  ASSERT_EQ(st.conns, 3);
  int64_t since = pb_now_ms();
  ASSERT_EQ(exchange_on(pb, req, strlen(req)), 503);
  ASSERT_EQ(exchange_on(pa, req, strlen(req)), 503);
  pb_egress_proxy_get_stats(p, &st);
  ASSERT_EQ(st.capped, 2);
  char text[200];
  ASSERT_EQ(pb_egress_proxy_why(p, b, "127.0.0.1", allowed.port, since, text, sizeof(text)),
            PB_EGRESS_WHY_CAPPED);
  ASSERT_CONTAINS(text, "account");
  /* Account 8 is not held back by account 7. */
  ASSERT_EQ(exchange_on(pc, req, strlen(req)), 200);
  /* One of account 7's connections ends: room again. */
  close(held[0]);
  for (int i = 0; i < 200 && exchange_on(pb, req, strlen(req)) != 200; i++) usleep(10000);
  ASSERT_EQ(status_of(resp), 200);
  /* Detached, a listener counts per browser only. */
  pb_egress_proxy_set_listener_account(p, a, 0);
  int more = dial(pb);
  for (int i = 0; i < 200; i++) {
    pb_egress_proxy_get_stats(p, &st);
    if (st.conns == 3) break;
    usleep(10000);
  }
  ASSERT_EQ(exchange_on(pa, req, strlen(req)), 200);
  close(more);
  close(held[1]);
  close(held[2]);
  pb_egress_proxy_set_listener_account(p, 99999, 1); /* unknown: ignored */
  pb_egress_proxy_set_listener_account(NULL, 0, 1);
  pb_egress_proxy_stop(p);
}

/* One listener's names take at most its share of the resolver threads;
 * jobs nobody waits for are dropped, never resolved. */
static void test_resolver_share(void) {
  pb_egress_proxy *p = calloc(1, sizeof(*p));
  p->res_per_listener = 2;
  int64_t later = pb_now_ms() + 60000;
  job *js[5];
  int lslots[5] = {3, 3, 3, 7, -1};
  for (int i = 0; i < 5; i++) {
    js[i] = calloc(1, sizeof(job));
    js[i]->lslot = lslots[i];
    js[i]->deadline = later;
    if (p->pend_tail)
      p->pend_tail->next = js[i];
    else
      p->pend_head = js[i];
    p->pend_tail = js[i];
  }
  /* A dead job at the head is dropped on the way. */
  job *dead = calloc(1, sizeof(job));
  dead->lslot = 3;
  dead->deadline = pb_now_ms() - 1;
  dead->next = p->pend_head;
  p->pend_head = dead;
  job *a = pick_job(p), *b;
  ASSERT(a == js[0]);
  p->resolving[res_bucket(a)]++;
  b = pick_job(p);
  ASSERT(b == js[1]);
  p->resolving[res_bucket(b)]++;
  /* Listener 3 holds its two threads: its third name waits, others go. */
  job *c = pick_job(p);
  ASSERT(c == js[3]);
  p->resolving[res_bucket(c)]++;
  job *d = pick_job(p);
  ASSERT(d == js[4]);
  p->resolving[res_bucket(d)]++;
  ASSERT(pick_job(p) == NULL);
  ASSERT(p->pend_head == js[2] && p->pend_tail == js[2]);
  p->resolving[res_bucket(a)]--;
  ASSERT(pick_job(p) == js[2]);
  ASSERT(p->pend_head == NULL && p->pend_tail == NULL);
  for (int i = 0; i < 5; i++) free(js[i]);
  free(p);
}

static void test_bad_options(void) {
  pb_egress_proxy *p = NULL;
  const char *bad_allow[] = {"127.0.0.1:99999"};
  pb_egress_proxy_opts o = {.allow = bad_allow, .nallow = 1};
  ASSERT_EQ(pb_egress_proxy_start(&o, &p), PB_EINVAL);
  ASSERT(p == NULL);
  pb_egress_proxy_opts h = {.hosts = "name-without-ip"};
  ASSERT_EQ(pb_egress_proxy_start(&h, &p), PB_EINVAL);
  pb_egress_proxy_opts h2 = {.hosts = "a=not-an-ip"};
  ASSERT_EQ(pb_egress_proxy_start(&h2, &p), PB_EINVAL);
  pb_egress_proxy_stop(NULL);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  server_start(&allowed);
  server_start(&secret);
  pb_log_level = PB_LOG_WARN;
  {
    server tmp;
    server_start(&tmp);
    closed_port = tmp.port;
    server_stop(&tmp);
  }
  char allow_entry[64], closed_entry[64], name_entry[64];
  snprintf(allow_entry, sizeof(allow_entry), "127.0.0.1:%d", allowed.port);
  snprintf(closed_entry, sizeof(closed_entry), "127.0.0.1:%d", closed_port);
  snprintf(name_entry, sizeof(name_entry), "localhost:%d", allowed.port);
  const char *allow[] = {allow_entry, closed_entry, name_entry};
  pb_egress_proxy_opts o = {
      .allow = allow, .nallow = 3, .hosts = "secret.test=127.0.0.1,allowed.test=127.0.0.1"};
  ASSERT_EQ(pb_egress_proxy_start(&o, &px), 0);
  ASSERT(pb_egress_proxy_port(px) > 0);
  RUN(test_parse_authority);
  RUN(test_allowed_get);
  RUN(test_allowed_connect);
  RUN(test_refused);
  RUN(test_malformed);
  RUN(test_caps_and_timeouts);
  RUN(test_listeners);
  RUN(test_why);
  RUN(test_resolver_share);
  RUN(test_account_cap);
  RUN(test_bad_options);
  pb_egress_proxy_stats st;
  pb_egress_proxy_get_stats(px, &st);
  ASSERT(st.refused >= 36);
  ASSERT(st.allowed >= 7);
  pb_egress_proxy_stop(px);
  server_stop(&allowed);
  server_stop(&secret);
  ASSERT_EQ(atomic_load(&secret.hits), 0);
  DONE();
}
