#include "ops/fetch.h"

#include "common/pb.h"
#include "common/url.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)

typedef struct {
  int fd;
  SSL *ssl;
  int64_t deadline;
} conn;

static int wait_fd(conn *c, int events) {
  int64_t left = c->deadline - pb_now_ms();
  if (left <= 0) return PB_ETIMEOUT;
  struct pollfd p = {.fd = c->fd, .events = (short)events};
  int r = poll(&p, 1, (int)left);
  if (r == 0) return PB_ETIMEOUT;
  return r < 0 ? PB_EIO : 0;
}

static int conn_write(conn *c, const char *b, size_t n) {
  while (n) {
    ssize_t w;
    if (c->ssl) {
      int r = SSL_write(c->ssl, b, (int)n);
      if (r <= 0) {
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
          int rc = wait_fd(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
          if (rc) return rc;
          continue;
        }
        return PB_EIO;
      }
      w = r;
    } else {
      w = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
        int rc = wait_fd(c, POLLOUT);
        if (rc) return rc;
        continue;
      }
      if (w < 0) return PB_EIO;
    }
    b += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Up to cap bytes; 0 at the end of the stream. */
static ssize_t conn_read(conn *c, char *b, size_t cap, int *rc) {
  for (;;) {
    if (c->ssl) {
      int r = SSL_read(c->ssl, b, (int)cap);
      if (r > 0) return r;
      int e = SSL_get_error(c->ssl, r);
      if (e == SSL_ERROR_ZERO_RETURN) return 0;
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if ((*rc = wait_fd(c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT))) return -1;
        continue;
      }
      /* A peer that closes without close_notify: the end, as browsers take it. */
      return 0;
    }
    ssize_t r = recv(c->fd, b, cap, MSG_DONTWAIT);
    if (r >= 0) return r;
    if (errno != EAGAIN && errno != EINTR) {
      *rc = PB_EIO;
      return -1;
    }
    if ((*rc = wait_fd(c, POLLIN))) return -1;
  }
}

/* Reads to the end of the stream into b. */
static int read_all(conn *c, pb_buf *b) {
  char chunk[16384];
  for (;;) {
    int rc = 0;
    ssize_t n = conn_read(c, chunk, sizeof(chunk), &rc);
    if (n < 0) return rc;
    if (n == 0) return 0;
    if (pb_buf_append(b, chunk, (size_t)n)) return PB_ETOOBIG;
  }
}

/* One TLS context for every fetch: the system's roots, TLS 1.2 or newer. */
static SSL_CTX *g_ctx;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void tls_init(void) {
  g_ctx = SSL_CTX_new(TLS_client_method());
  if (!g_ctx) return;
  SSL_CTX_set_default_verify_paths(g_ctx);
  SSL_CTX_set_verify(g_ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_min_proto_version(g_ctx, TLS1_2_VERSION);
}

static SSL_CTX *tls_ctx(void) {
  pthread_once(&g_once, tls_init);
  return g_ctx;
}

static void conn_close(conn *c) {
  if (c->ssl) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd);
}

static int proxy_connect(int port, conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (c->fd < 0) return PB_EIO;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) return PB_EIO;
  int rc = wait_fd(c, POLLOUT);
  if (rc) return rc;
  int err = 0;
  socklen_t l = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) return PB_EIO;
  return 0;
}

/* The head of an answer in b: its status, Content-Type, Location and the
 * body's start; chunked when Transfer-Encoding says so. */
typedef struct {
  int status, chunked;
  char location[2100], ctype[128];
  size_t body_at;
} head;

static int parse_head(const pb_buf *b, head *h) {
  memset(h, 0, sizeof(*h));
  const char *d = b->data;
  const char *end = b->len ? strstr(d, "\r\n\r\n") : NULL;
  if (!end || end - d > HEAD_MAX) return PB_EINVAL;
  h->body_at = (size_t)(end - d) + 4;
  if (strncmp(d, "HTTP/1.", 7) || end - d < 12) return PB_EINVAL;
  /* The status: exactly three digits after "HTTP/1.x ". */
  for (int i = 9; i < 12; i++) {
    if (d[i] < '0' || d[i] > '9') return PB_EINVAL;
    h->status = h->status * 10 + (d[i] - '0');
  }
  const char *line = strstr(d, "\r\n") + 2;
  while (line < end) {
    const char *eol = strstr(line, "\r\n");
    const char *colon = memchr(line, ':', (size_t)(eol - line));
    if (colon) {
      size_t kl = (size_t)(colon - line);
      const char *v = colon + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      size_t vl = (size_t)(eol - v);
      if (kl == 8 && !strncasecmp(line, "location", 8) && vl < sizeof(h->location)) {
        memcpy(h->location, v, vl);
        h->location[vl] = '\0';
      } else if (kl == 12 && !strncasecmp(line, "content-type", 12) && vl < sizeof(h->ctype)) {
        memcpy(h->ctype, v, vl);
        h->ctype[vl] = '\0';
      } else if (kl == 17 && !strncasecmp(line, "transfer-encoding", 17) && vl >= 7 &&
                 strcasestr(v, "chunked") && strcasestr(v, "chunked") < eol) {
        h->chunked = 1;
      }
    }
    line = eol + 2;
  }
  return 0;
}

/* Decodes a chunked body [s, s + n) in place; its new length. */
static size_t dechunk(char *s, size_t n) {
  size_t r = 0, w = 0;
  while (r < n) {
    char *eol = memmem(s + r, n - r, "\r\n", 2);
    if (!eol) break;
    unsigned long sz = strtoul(s + r, NULL, 16);
    r = (size_t)(eol - s) + 2;
    if (sz == 0 || sz > n - r) {
      if (sz && r < n) {
        memmove(s + w, s + r, n - r);
        w += n - r;
      }
      break;
    }
    memmove(s + w, s + r, sz);
    w += sz;
    r += sz + 2;
  }
  return w;
}

/* One GET of url through the proxy (no redirect followed). */
static int get_once(int port, const pb_url *u, const char *url, const char *ua, int64_t deadline,
                    size_t max, pb_buf *b, head *h, char *err, size_t errcap) {
  conn c = {.fd = -1, .deadline = deadline};
  int https = !strcmp(u->scheme, "https");
  int rc = proxy_connect(port, &c);
  char req[4400];
  int n;
  if (rc) {
    snprintf(err, errcap, "the egress proxy did not answer");
    goto done;
  }
  char hostport[300];
  if (strchr(u->host, ':'))
    snprintf(hostport, sizeof(hostport), "[%s]:%d", u->host, u->port);
  else
    snprintf(hostport, sizeof(hostport), "%s:%d", u->host, u->port);
  if (https) {
    n = snprintf(req, sizeof(req), "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hostport, hostport);
    if ((rc = conn_write(&c, req, (size_t)n))) goto done;
    pb_buf t;
    pb_buf_init(&t, HEAD_MAX);
    char ch;
    /* Byte by byte to the end of the head: what follows is TLS. */
    while (!rc && !(t.len >= 4 && !memcmp(t.data + t.len - 4, "\r\n\r\n", 4))) {
      ssize_t r = conn_read(&c, &ch, 1, &rc);
      if (r <= 0)
        rc = rc ? rc : PB_EIO;
      else if (pb_buf_append(&t, &ch, 1))
        rc = PB_EINVAL;
    }
    head th;
    if (!rc && (parse_head(&t, &th) || th.status != 200)) {
      rc = th.status == 403 ? PB_EFORBIDDEN : PB_EIO;
      snprintf(err, errcap, "%s: the egress proxy %s (%d)", hostport,
               rc == PB_EFORBIDDEN ? "refused the address" : "could not connect", th.status);
    }
    pb_buf_free(&t);
    if (rc) goto done;
    SSL_CTX *ctx = tls_ctx();
    if (!ctx || !(c.ssl = SSL_new(ctx))) {
      rc = PB_EIO;
      goto done;
    }
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_tlsext_host_name(c.ssl, u->host);
    SSL_set1_host(c.ssl, u->host);
    for (;;) {
      int r = SSL_connect(c.ssl);
      if (r == 1) break;
      int e = SSL_get_error(c.ssl, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if ((rc = wait_fd(&c, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT))) goto done;
        continue;
      }
      snprintf(err, errcap, "%s: TLS handshake failed", hostport);
      rc = PB_EIO;
      goto done;
    }
    const char *path = strstr(url, "://") + 3;
    path += strcspn(path, "/?#");
    size_t pl = strcspn(path, "#");
    n = snprintf(req, sizeof(req),
                 "GET %s%.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                 "Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
                 pl ? "" : "/", (int)pl, path, hostport, ua);
  } else {
    size_t ul = strcspn(url, "#");
    n = snprintf(req, sizeof(req),
                 "GET %.*s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                 "Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
                 (int)ul, url, hostport, ua);
  }
  if (n < 0 || (size_t)n >= sizeof(req)) {
    rc = PB_EINVAL;
    goto done;
  }
  if ((rc = conn_write(&c, req, (size_t)n))) goto done;
  pb_buf_init(b, max + HEAD_MAX);
  rc = read_all(&c, b);
  if (rc == PB_ETOOBIG) snprintf(err, errcap, "%s: the answer is over %zu bytes", url, max);
  if (!rc && parse_head(b, h)) {
    rc = PB_EINVAL;
    snprintf(err, errcap, "%s: not an HTTP answer", url);
  }
  if (!rc && h->status == 403 && b->len - h->body_at >= 12 &&
      !memcmp(b->data + h->body_at, "ppod egress:", 12) && !https) {
    rc = PB_EFORBIDDEN;
    snprintf(err, errcap, "%s: the address is refused (%.*s)", url,
             (int)strcspn(b->data + h->body_at + 13, "\r\n"), b->data + h->body_at + 13);
  }
done:
  if (rc == PB_ETIMEOUT)
    snprintf(err, errcap, "%s: no answer before the page timeout", url);
  else if (rc == PB_EIO && !err[0])
    snprintf(err, errcap, "%s: the connection failed", url);
  conn_close(&c);
  return rc;
}

int pb_fetch(const pb_egress *eg, int proxy_port, const char *url, const char *user_agent,
             int64_t deadline_ms, size_t max, pb_fetch_result *out, char *err, size_t errcap) {
  memset(out, 0, sizeof(*out));
  err[0] = '\0';
  const char *ua = user_agent ? user_agent : "ppod-crawler/1 (+robots.txt honoured)";
  char cur[2100];
  if (pb_strlcpy(cur, url, sizeof(cur)) >= sizeof(cur)) return PB_EINVAL;
  for (int hop = 0;; hop++) {
    pb_url u;
    int rc = pb_egress_check_url(eg, cur, err, errcap);
    if (!rc) rc = pb_url_parse(cur, &u, err, errcap);
    if (rc) return rc == PB_EFORBIDDEN ? PB_EFORBIDDEN : PB_EINVAL;
    if (strcmp(u.scheme, "http") && strcmp(u.scheme, "https")) {
      snprintf(err, errcap, "%s: only http and https are fetched", cur);
      return PB_EINVAL;
    }
    pb_buf b;
    pb_buf_init(&b, 1);
    head h;
    rc = get_once(proxy_port, &u, cur, ua, deadline_ms, max, &b, &h, err, errcap);
    if (rc) {
      pb_buf_free(&b);
      return rc;
    }
    if (h.status >= 300 && h.status < 400 && h.location[0]) {
      pb_buf_free(&b);
      if (hop >= PB_FETCH_MAX_REDIRECTS) {
        snprintf(err, errcap, "%s: more than %d redirects", url, PB_FETCH_MAX_REDIRECTS);
        return PB_ETOOBIG;
      }
      char *next = NULL;
      if (pb_url_resolve(cur, h.location, strlen(h.location), &next) ||
          strlen(next) >= sizeof(cur)) {
        free(next);
        snprintf(err, errcap, "%s: a bad redirect", cur);
        return PB_EINVAL;
      }
      pb_strlcpy(cur, next, sizeof(cur));
      free(next);
      out->redirects++;
      continue;
    }
    size_t n = b.len - h.body_at;
    char *body = malloc(n + 1);
    if (!body) {
      pb_buf_free(&b);
      return PB_ENOMEM;
    }
    memcpy(body, b.data + h.body_at, n);
    if (h.chunked) n = dechunk(body, n);
    body[n] = '\0';
    pb_buf_free(&b);
    out->status = h.status;
    out->body = body;
    out->len = n;
    pb_strlcpy(out->content_type, h.ctype, sizeof(out->content_type));
    pb_strlcpy(out->final_url, cur, sizeof(out->final_url));
    return 0;
  }
}

void pb_fetch_result_free(pb_fetch_result *out) {
  free(out->body);
  out->body = NULL;
}
