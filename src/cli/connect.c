/* ppod browser:connect: the local CDP port (connect.h). libcurl carries the
 * service side: the /json/ requests through o->send, the WebSocket through
 * a CONNECT_ONLY handle (plain TCP or TLS, the user's proxy settings) on
 * which the upgrade request is written by hand. The local side is plain
 * sockets and poll(). */
#include "cli/connect.h"

#include "common/pb.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384            /* a request or response head */
#define HEAD_TIMEOUT_MS 10000     /* for a local client to send its request */
#define UPSTREAM_TIMEOUT_MS 30000 /* for the service to answer an upgrade or a /json/ */
#define JSON_MAX ((size_t)16 << 20)
#define REFUSAL_BODY_MAX 65536 /* the body of a refused upgrade, relayed */

/* Readable once a stop was asked for (never read, so every thread sees it). */
static int stop_pipe[2] = {-1, -1};
/* A relay thread writes a byte here as it ends, so main joins it. */
static int reap_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  (void)sig;
  int e = errno;
  ssize_t w = write(stop_pipe[1], "x", 1);
  (void)w;
  errno = e;
}

static int stopping(void) {
  struct pollfd p = {.fd = stop_pipe[0], .events = POLLIN};
  return poll(&p, 1, 0) > 0;
}

typedef struct conn {
  const pb_cli_connect *o;
  int fd;
  char self[80]; /* "127.0.0.1:9222": the port as a URL authority */
  pthread_t th;
  atomic_int done;
  struct conn *next;
} conn;

/* ---- one byte stream: a socket, or libcurl's connection --------------- */

typedef struct {
  int fd;  /* the socket to poll */
  CURL *c; /* NULL for a plain local socket */
} io;

/* >0 bytes read, 0 end of stream, -EAGAIN nothing yet, -EIO failed. */
static ssize_t io_recv(io *s, char *buf, size_t n) {
  if (!s->c) {
    ssize_t r = recv(s->fd, buf, n, MSG_DONTWAIT);
    if (r >= 0) return r;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -EIO;
  }
  size_t got = 0;
  CURLcode cc = curl_easy_recv(s->c, buf, n, &got);
  if (cc == CURLE_AGAIN) return -EAGAIN;
  return cc == CURLE_OK ? (ssize_t)got : -EIO;
}

/* >0 bytes written, -EAGAIN not now, -EIO failed. */
static ssize_t io_send(io *s, const char *buf, size_t n) {
  if (!s->c) {
    ssize_t r = send(s->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r > 0) return r;
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -EAGAIN : -EIO;
  }
  size_t sent = 0;
  CURLcode cc = curl_easy_send(s->c, buf, n, &sent);
  if (cc == CURLE_AGAIN || (cc == CURLE_OK && !sent)) return -EAGAIN;
  return cc == CURLE_OK ? (ssize_t)sent : -EIO;
}

/* Waits for events on fd, or a stop. 1 ready, 0 timed out, -1 stopping. */
static int io_wait(int fd, short events, int timeout_ms) {
  struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = stop_pipe[0], .events = POLLIN}};
  int n = poll(p, 2, timeout_ms);
  if (n > 0 && p[1].revents) return -1;
  return n > 0 ? 1 : 0;
}

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Writes all of buf before deadline. 0 or -1. */
static int io_send_all(io *s, const char *buf, size_t n, int64_t deadline) {
  while (n) {
    ssize_t w = io_send(s, buf, n);
    if (w > 0) {
      buf += w;
      n -= (size_t)w;
      continue;
    }
    if (w != -EAGAIN) return -1;
    int left = (int)(deadline - now_ms());
    if (left <= 0 || io_wait(s->fd, POLLOUT, left) <= 0) return -1;
  }
  return 0;
}

/* Reads into buf until an empty line ends the head. Returns the head's
 * length (its "\r\n\r\n" included); *len is all that was read, so
 * buf[head .. *len) is what followed it. -1: closed, too big, timed out or
 * stopping. */
static long read_head(io *s, char *buf, size_t cap, size_t *len, int64_t deadline) {
  *len = 0;
  for (;;) {
    ssize_t r = io_recv(s, buf + *len, cap - 1 - *len);
    if (r > 0) {
      size_t from = *len > 3 ? *len - 3 : 0;
      *len += (size_t)r;
      buf[*len] = '\0';
      char *end = memmem(buf + from, *len - from, "\r\n\r\n", 4);
      if (end) return (long)(end + 4 - buf);
      if (*len >= cap - 1) return -1;
      continue;
    }
    if (r != -EAGAIN) return -1;
    int left = (int)(deadline - now_ms());
    if (left <= 0 || io_wait(s->fd, POLLIN, left) <= 0) return -1;
  }
}

/* ---- HTTP heads --------------------------------------------------------- */

/* The value of header name in head (the lines after the first), surrounding
 * blanks removed, into out. Returns how many times it occurs. */
static int header(const char *head, const char *name, char *out, size_t cap) {
  size_t nl = strlen(name);
  int count = 0;
  if (cap) out[0] = '\0';
  for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
    const char *line = p + 2;
    if (strncasecmp(line, name, nl) || line[nl] != ':') continue;
    if (count++) continue;
    const char *v = line + nl + 1;
    v += strspn(v, " \t");
    size_t n = strcspn(v, "\r\n");
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
  }
  return count;
}

/* Chrome's rule against DNS rebinding: the Host a client names must be an
 * IP literal or localhost, with or without a port. */
static int host_ok(const char *host) {
  char name[256];
  const char *port;
  if (host[0] == '[') {
    const char *close = strchr(host, ']');
    if (!close || (size_t)(close - host - 1) >= sizeof(name)) return 0;
    memcpy(name, host + 1, (size_t)(close - host - 1));
    name[close - host - 1] = '\0';
    port = close + 1;
    struct in6_addr a6;
    if (inet_pton(AF_INET6, name, &a6) != 1) return 0;
  } else {
    size_t n = strcspn(host, ":");
    if (!n || n >= sizeof(name)) return 0;
    memcpy(name, host, n);
    name[n] = '\0';
    port = host + n;
    struct in_addr a4;
    if (strcasecmp(name, "localhost") && inet_pton(AF_INET, name, &a4) != 1) return 0;
  }
  if (!*port) return 1;
  return port[0] == ':' && port[1] && strspn(port + 1, "0123456789") == strlen(port + 1) &&
         strlen(port + 1) <= 5;
}

static const char *reason_of(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return status < 400 ? "OK" : "Error";
  }
}

static void answer(conn *c, int status, const char *ctype, const char *body, size_t len) {
  char head[512];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
                   status, reason_of(status), ctype, len);
  io s = {.fd = c->fd};
  int64_t deadline = now_ms() + UPSTREAM_TIMEOUT_MS;
  if (!io_send_all(&s, head, (size_t)n, deadline)) io_send_all(&s, body, len, deadline);
}

static void answer_text(conn *c, int status, const char *text) {
  answer(c, status, "text/plain; charset=UTF-8", text, strlen(text));
}

/* ---- /json/... ---------------------------------------------------------- */

/* Asks the service for the session's /json/<what> and answers with it; for
 * "version", webSocketDebuggerUrl is made to point at this port. authority
 * is what the client called us ("127.0.0.1:9222"). */
static void serve_json(conn *c, const char *what, const char *authority) {
  const pb_cli_connect *o = c->o;
  char route[256], err[1024];
  snprintf(route, sizeof(route), "/browser/sessions/%s/json/%s", o->session_id, what);
  pb_cli_request req = {.method = "GET",
                        .base_url = o->base_url,
                        .route = route,
                        .token = o->token,
                        .max_response = JSON_MAX,
                        .timeout_ms = UPSTREAM_TIMEOUT_MS};
  pb_cli_response resp;
  if (o->send(&req, &resp, err, sizeof(err))) {
    fprintf(o->err, "ppod: /json/%s: %s\n", what, err);
    char msg[1100];
    snprintf(msg, sizeof(msg), "ppod browser:connect: %s\n", err);
    answer_text(c, 502, msg);
    return;
  }
  const char *ctype = resp.content_type[0] ? resp.content_type : "application/json";
  if (resp.status != 200 || strcmp(what, "version")) {
    if (resp.status != 200)
      fprintf(o->err, "ppod: /json/%s: the service answered HTTP %ld\n", what, resp.status);
    answer(c, (int)resp.status, ctype, resp.body.data ? resp.body.data : "", resp.body.len);
    pb_buf_free(&resp.body);
    return;
  }
  cJSON *doc = cJSON_ParseWithLength(resp.body.data, resp.body.len);
  pb_buf_free(&resp.body);
  char ws[700];
  snprintf(ws, sizeof(ws), "ws://%s/devtools/browser/%s", authority, o->session_id);
  char *text = NULL;
  if (cJSON_IsObject(doc)) {
    cJSON_DeleteItemFromObjectCaseSensitive(doc, "webSocketDebuggerUrl");
    if (cJSON_AddStringToObject(doc, "webSocketDebuggerUrl", ws)) text = cJSON_Print(doc);
  }
  cJSON_Delete(doc);
  if (!text) {
    answer_text(c, 502, "ppod browser:connect: the service's json/version was not a JSON object\n");
    return;
  }
  answer(c, 200, "application/json; charset=UTF-8", text, strlen(text));
  cJSON_free(text);
}

/* ---- the WebSocket ------------------------------------------------------ */

/* Where a direction's byte stream stands in RFC 6455 framing: inside a
 * frame header (hlen bytes of it seen) or inside a payload (left bytes to
 * come). Nothing is changed; it only tells when a frame of ours (the close
 * of a stop) can go in between. */
typedef struct {
  unsigned char hdr[14];
  int hlen;
  uint64_t left;
} frames;

/* A direction of the splice: bytes read from one side, not yet written to
 * the other. */
typedef struct {
  char *data;
  size_t len;
  frames f;
} pipebuf;

static void frames_feed(frames *f, const unsigned char *p, size_t n) {
  while (n) {
    if (f->left) {
      size_t k = f->left < n ? (size_t)f->left : n;
      f->left -= k;
      p += k;
      n -= k;
      continue;
    }
    f->hdr[f->hlen++] = *p++;
    n--;
    if (f->hlen < 2) continue;
    int len7 = f->hdr[1] & 0x7f, masked = f->hdr[1] >> 7;
    int need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (f->hlen < need) continue;
    uint64_t len = (uint64_t)len7;
    if (len7 == 126) len = (uint64_t)f->hdr[2] << 8 | f->hdr[3];
    if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | f->hdr[2 + i];
    }
    f->left = len;
    f->hlen = 0;
  }
}

/* All that was read was delivered, and it ended with a whole frame. */
static int at_boundary(const pipebuf *b) {
  return !b->len && !b->f.hlen && !b->f.left;
}

/* A close frame (1001, going away) to one side, when it stands between
 * frames; masked toward the service, as a client's frames are. */
static void send_close(io *to, const pipebuf *b, int masked) {
  static const char reason[] = "\x03\xe9ppod browser:connect stopped";
  size_t n = sizeof(reason) - 1;
  unsigned char f[64] = {0x88, (unsigned char)((masked ? 0x80 : 0) | n)};
  size_t off = 2;
  unsigned char mask[4] = {0};
  if (masked) {
    if (getrandom(mask, sizeof(mask), 0) != (ssize_t)sizeof(mask)) memset(mask, 0x5a, 4);
    memcpy(f + off, mask, 4);
    off += 4;
  }
  for (size_t i = 0; i < n; i++) f[off + i] = (unsigned char)(reason[i] ^ mask[i % 4]);
  if (at_boundary(b)) io_send_all(to, (const char *)f, off + n, now_ms() + 1000);
}

/* Moves what can move now between from and b, and b and to, without
 * blocking. Sets *eof when from ended. 1 progress, 0 none, -1 failed. */
static int pump(io *from, pipebuf *b, io *to, int *eof, long long *budget) {
  int moved = 0;
  if (!*eof && b->len < PB_CLI_CONNECT_BUF) {
    size_t room = PB_CLI_CONNECT_BUF - b->len;
    if (budget && *budget >= 0 && (long long)room > *budget) room = (size_t)*budget;
    ssize_t r = room ? io_recv(from, b->data + b->len, room) : -EAGAIN;
    if (r > 0) {
      frames_feed(&b->f, (const unsigned char *)b->data + b->len, (size_t)r);
      b->len += (size_t)r;
      if (budget && *budget >= 0) *budget -= r;
      moved = 1;
    } else if (r == 0 || (budget && *budget == 0)) {
      *eof = 1;
    } else if (r != -EAGAIN) {
      return -1;
    }
  }
  if (b->len) {
    ssize_t w = io_send(to, b->data, b->len);
    if (w > 0) {
      memmove(b->data, b->data + w, b->len - (size_t)w);
      b->len -= (size_t)w;
      moved = 1;
    } else if (w != -EAGAIN) {
      return -1;
    }
  }
  return moved;
}

/* Splices local and up until either ends (its buffered bytes delivered) or
 * a stop (then 1). down_budget: bytes the service may still send, -1 for no
 * limit. */
static int splice_streams(io *local, io *up, pipebuf *upb, pipebuf *downb, long long down_budget) {
  int local_eof = 0, up_eof = 0;
  for (;;) {
    int a = pump(local, upb, up, &local_eof, NULL);
    int b = pump(up, downb, local, &up_eof, &down_budget);
    if (a < 0 || b < 0) return 0;
    /* One side ended: what it sent is delivered, then both close. */
    if ((local_eof && !upb->len) || (up_eof && !downb->len)) return 0;
    if (a || b) continue;
    struct pollfd p[3] = {
        {.fd = local->fd,
         .events = (short)((!local_eof && upb->len < PB_CLI_CONNECT_BUF ? POLLIN : 0) |
                           (downb->len ? POLLOUT : 0))},
        {.fd = up->fd,
         .events = (short)((!up_eof && downb->len < PB_CLI_CONNECT_BUF ? POLLIN : 0) |
                           (upb->len ? POLLOUT : 0))},
        {.fd = stop_pipe[0], .events = POLLIN},
    };
    if (poll(p, 3, -1) < 0 && errno != EINTR) return 0;
    if (p[2].revents) return 1;
  }
}

/* The upgrade: forwarded to the service as its own (same key, so the
 * service's Sec-WebSocket-Accept is right for the client), the answer
 * relayed as written, then the splice. */
static void relay_ws(conn *c, const char *head, const char *extra, size_t extra_len) {
  const pb_cli_connect *o = c->o;
  char key[128], version[16], proto[512], exts[512], hostport[512], path[1024];
  if (header(head, "Sec-WebSocket-Key", key, sizeof(key)) != 1 || !key[0] ||
      strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") !=
          strlen(key)) {
    answer_text(c, 400, "ppod browser:connect: a WebSocket upgrade wants one Sec-WebSocket-Key\n");
    return;
  }
  header(head, "Sec-WebSocket-Version", version, sizeof(version));
  header(head, "Sec-WebSocket-Protocol", proto, sizeof(proto));
  header(head, "Sec-WebSocket-Extensions", exts, sizeof(exts));

  /* base_url is "scheme://authority[/prefix]". */
  const char *auth = strstr(o->base_url, "://");
  auth = auth ? auth + 3 : o->base_url;
  size_t an = strcspn(auth, "/");
  snprintf(hostport, sizeof(hostport), "%.*s", (int)an, auth);
  snprintf(path, sizeof(path), "%s/browser/sessions/%s/devtools/browser", auth + an, o->session_id);

  pb_buf url, rq;
  pb_buf_init(&url, 4096);
  pb_buf_init(&rq, HEAD_MAX);
  char *buf = malloc(HEAD_MAX);
  pipebuf upb = {.data = malloc(PB_CLI_CONNECT_BUF)}, downb = {.data = malloc(PB_CLI_CONNECT_BUF)};
  char curlmsg[CURL_ERROR_SIZE] = "";
  CURL *h = curl_easy_init();
  io local = {.fd = c->fd}, up = {.fd = -1, .c = h};
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (!h || !buf || !upb.data || !downb.data ||
      pb_buf_printf(&url, "%.*s%s", (int)(auth + an - o->base_url), o->base_url, path) ||
      pb_buf_printf(&rq,
                    "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n"
                    "User-Agent: ppod/0.1 (browser:connect)\r\n",
                    path, hostport, key, version[0] ? version : "13") ||
      (o->token && pb_buf_printf(&rq, "Authorization: Bearer %s\r\n", o->token)) ||
      (proto[0] && pb_buf_printf(&rq, "Sec-WebSocket-Protocol: %s\r\n", proto)) ||
      (exts[0] && pb_buf_printf(&rq, "Sec-WebSocket-Extensions: %s\r\n", exts)) ||
      pb_buf_printf(&rq, "\r\n")) {
    answer_text(c, 502, "ppod browser:connect: out of memory\n");
    goto out;
  }
  curl_easy_setopt(h, CURLOPT_URL, url.data);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  /* Through a proxy (the user's environment) only as a tunnel: the upgrade
   * is written raw and must reach the service itself. */
  curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlmsg);
  CURLcode cc = curl_easy_perform(h);
  if (cc == CURLE_OK) cc = curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock);
  if (cc != CURLE_OK || sock == CURL_SOCKET_BAD) {
    char msg[CURL_ERROR_SIZE + 256];
    snprintf(msg, sizeof(msg), "ppod browser:connect: cannot reach %s: %s\n", o->base_url,
             curlmsg[0] ? curlmsg : curl_easy_strerror(cc));
    fputs(msg, o->err);
    answer_text(c, 502, msg);
    goto out;
  }
  up.fd = (int)sock;
  int64_t deadline = now_ms() + UPSTREAM_TIMEOUT_MS;
  size_t len = 0;
  long hl = -1;
  if (!io_send_all(&up, rq.data, rq.len, deadline))
    hl = read_head(&up, buf, HEAD_MAX, &len, deadline);
  if (hl < 0) {
    if (!stopping()) {
      fprintf(o->err, "ppod: the service did not answer the WebSocket upgrade\n");
      answer_text(c, 502, "ppod browser:connect: the service did not answer the upgrade\n");
    }
    goto out;
  }
  /* Its answer goes to the client as it is, whatever it is. */
  memcpy(downb.data, buf, len);
  downb.len = len;
  memcpy(upb.data, extra, extra_len);
  upb.len = extra_len;
  /* Frames start after the heads. */
  frames_feed(&downb.f, (const unsigned char *)buf + hl, len - (size_t)hl);
  frames_feed(&upb.f, (const unsigned char *)extra, extra_len);
  int status = 0;
  sscanf(buf, "HTTP/1.%*d %d", &status);
  long long budget = -1;
  if (status != 101) {
    char cl[32], line[256];
    header(buf, "Content-Length", cl, sizeof(cl));
    long long body = strtoll(cl, NULL, 10);
    if (body < 0 || body > REFUSAL_BODY_MAX) body = REFUSAL_BODY_MAX;
    budget = body - (long long)(len - (size_t)hl);
    if (budget < 0) {
      downb.len = (size_t)hl + (size_t)body;
      budget = 0;
    }
    upb.len = 0;
    snprintf(line, sizeof(line), "%.*s", (int)strcspn(buf, "\r\n"), buf);
    fprintf(o->err, "ppod: the service refused a client's WebSocket: %s\n", line);
  } else {
    fprintf(o->err, "ppod: a client connected\n");
  }
  int stopped = splice_streams(&local, &up, &upb, &downb, budget);
  if (status == 101 && stopped) {
    /* Ctrl-C: both ends hear a close (1001) where the streams allow one. */
    if (downb.len && io_send(&local, downb.data, downb.len) == (ssize_t)downb.len) downb.len = 0;
    if (upb.len && io_send(&up, upb.data, upb.len) == (ssize_t)upb.len) upb.len = 0;
    send_close(&local, &downb, 0);
    send_close(&up, &upb, 1);
  } else if (status == 101) {
    fprintf(o->err, "ppod: a client disconnected\n");
  }
out:
  if (h) curl_easy_cleanup(h);
  free(buf);
  free(upb.data);
  free(downb.data);
  pb_buf_free(&url);
  pb_buf_free(&rq);
}

/* ---- one local connection ----------------------------------------------- */

static void serve_conn(conn *c) {
  char *buf = malloc(HEAD_MAX);
  io local = {.fd = c->fd};
  size_t len = 0;
  long hl = buf ? read_head(&local, buf, HEAD_MAX, &len, now_ms() + HEAD_TIMEOUT_MS) : -1;
  if (hl < 0) {
    if (buf && len && !stopping()) answer_text(c, 400, "ppod browser:connect: bad request\n");
    free(buf);
    return;
  }
  char saved = buf[hl];
  buf[hl] = '\0';
  char method[16] = "", target[1024] = "", host[512], origin[512], upgrade[64];
  if (sscanf(buf, "%15s %1023s HTTP/1.%*d", method, target) != 2) {
    answer_text(c, 400, "ppod browser:connect: bad request line\n");
    goto out;
  }
  int nhost = header(buf, "Host", host, sizeof(host));
  int norigin = header(buf, "Origin", origin, sizeof(origin));
  header(buf, "Upgrade", upgrade, sizeof(upgrade));
  /* As Chrome: a page elsewhere must not reach the port, neither through a
   * name that resolves to 127.0.0.1 (rebinding) nor directly. */
  if (nhost > 1 || (nhost == 1 && !host_ok(host))) {
    fprintf(c->o->err, "ppod: refused a request for Host '%.100s'\n", host);
    answer_text(c, 403, "Host header is specified and is not an IP address or localhost.\n");
    goto out;
  }
  if (norigin) {
    fprintf(c->o->err, "ppod: refused a request from Origin '%.100s'\n", origin);
    answer_text(c, 403,
                "ppod browser:connect: requests from web pages (with an Origin header) are "
                "refused\n");
    goto out;
  }
  const char *authority = nhost ? host : c->self;
  char path[1024];
  snprintf(path, sizeof(path), "%.*s", (int)strcspn(target, "?#"), target);
  size_t pn = strlen(path);
  if (pn > 1 && path[pn - 1] == '/') path[--pn] = '\0';

  if (!strcmp(path, "/devtools/browser") || !strncmp(path, "/devtools/browser/", 18)) {
    if (strcmp(method, "GET") || strcasecmp(upgrade, "websocket")) {
      answer_text(c, 400, "ppod browser:connect: /devtools/browser is a WebSocket\n");
      goto out;
    }
    buf[hl] = saved;
    relay_ws(c, buf, buf + hl, len - (size_t)hl);
    goto out;
  }
  const char *what = !strcmp(path, "/json/version")                          ? "version"
                     : !strcmp(path, "/json/list") || !strcmp(path, "/json") ? "list"
                     : !strcmp(path, "/json/protocol")                       ? "protocol"
                                                                             : NULL;
  if (what && strcmp(method, "GET")) {
    answer_text(c, 405, "ppod browser:connect: only GET\n");
  } else if (what) {
    serve_json(c, what, authority);
  } else if (!strncmp(path, "/json/new", 9) || !strncmp(path, "/json/close", 11) ||
             !strncmp(path, "/json/activate", 14)) {
    answer_text(c, 405,
                "ppod browser:connect: a session has one browser WebSocket; open, switch and "
                "close pages over CDP (Target.createTarget, Target.activateTarget, "
                "Target.closeTarget)\n");
  } else {
    answer_text(c, 404,
                "ppod browser:connect: not found; this port serves /json/version, /json/list, "
                "/json/protocol and the WebSocket of /devtools/browser\n");
  }
out:
  free(buf);
}

static void *conn_main(void *arg) {
  conn *c = arg;
  serve_conn(c);
  shutdown(c->fd, SHUT_RDWR);
  close(c->fd);
  c->fd = -1;
  atomic_store(&c->done, 1);
  ssize_t w = write(reap_pipe[1], "x", 1);
  (void)w;
  return NULL;
}

/* ---- the listener ------------------------------------------------------- */

/* Joins the threads that ended (all: every thread, waiting two seconds in
 * all). Returns how many were left running. */
static int join_done(conn **list, int *n, int all) {
  int left = 0;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 2;
  for (conn **p = list; *p;) {
    conn *c = *p;
    if (!atomic_load(&c->done) && !all) {
      p = &c->next;
      continue;
    }
    if (atomic_load(&c->done)) {
      pthread_join(c->th, NULL);
    } else {
      /* Still inside a request to the service (bounded by its timeout):
       * given until `until`, then left to the process's exit. */
      if (pthread_timedjoin_np(c->th, NULL, &until)) {
        pthread_detach(c->th);
        *p = c->next;
        (*n)--;
        left++;
        continue; /* c stays allocated: the thread still uses it */
      }
    }
    *p = c->next;
    (*n)--;
    free(c);
  }
  return left;
}

static int pipe_cloexec(int p[2]) {
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK)) return -1;
  return 0;
}

int pb_cli_connect_serve(const pb_cli_connect *o) {
  const char *host = o->host ? o->host : "127.0.0.1";
  if (!strcasecmp(host, "localhost")) host = "127.0.0.1";
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
  socklen_t sl;
  int loopback;
  if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)o->port);
    sl = sizeof(*s4);
    loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
  } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)o->port);
    sl = sizeof(*s6);
    loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
  } else {
    fprintf(o->err, "ppod: --host '%.100s' is not an IP address (e.g. 127.0.0.1 or ::1)\n", host);
    return 2;
  }
  int lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one))) {
    fprintf(o->err, "ppod: cannot open a socket: %s\n", strerror(errno));
    if (lfd >= 0) close(lfd);
    return 1;
  }
  char shown[80];
  snprintf(shown, sizeof(shown), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, o->port);
  if (bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 64)) {
    int e = errno;
    if (e == EADDRINUSE)
      fprintf(o->err,
              "ppod: %s is already in use (a Chrome with --remote-debugging-port, or another "
              "ppod browser:connect?); choose another with --port\n",
              shown);
    else
      fprintf(o->err, "ppod: cannot listen on %s: %s\n", shown, strerror(e));
    close(lfd);
    return 1;
  }
  getsockname(lfd, (struct sockaddr *)&ss, &sl);
  int port = ntohs(ss.ss_family == AF_INET6 ? s6->sin6_port : s4->sin_port);
  char self[80];
  snprintf(self, sizeof(self), ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);

  if (pipe_cloexec(stop_pipe) || pipe_cloexec(reap_pipe)) {
    fprintf(o->err, "ppod: %s\n", strerror(errno));
    close(lfd);
    return 1;
  }
  struct sigaction sa, old_int, old_term, old_pipe;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, &old_pipe);

  if (!loopback)
    fprintf(o->err,
            "ppod: warning: listening on %s, not on loopback: anyone who can reach this port "
            "drives session %s with your token\n",
            self, o->session_id);
  fprintf(o->err,
          "ppod: session %s is on http://%s like a local Chrome's debugging port: "
          "puppeteer.connect({browserURL: 'http://%s'}), chromium.connectOverCDP('http://%s'), "
          "chrome-devtools-mcp --browserUrl http://%s. Ctrl-C stops; the session stays.\n",
          o->session_id, self, self, self, self);
  fflush(o->err);
  /* Last: a script that waits for this line finds the port ready. */
  fprintf(o->out, "http://%s\n", self);
  fflush(o->out);

  conn *list = NULL;
  int nconns = 0;
  for (;;) {
    struct pollfd p[3] = {{.fd = lfd, .events = POLLIN},
                          {.fd = stop_pipe[0], .events = POLLIN},
                          {.fd = reap_pipe[0], .events = POLLIN}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) break;
    if (p[1].revents) break;
    if (p[2].revents) {
      char drain[64];
      while (read(reap_pipe[0], drain, sizeof(drain)) > 0) {
      }
      join_done(&list, &nconns, 0);
    }
    if (!(p[0].revents & POLLIN)) continue;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) continue;
    conn *c = nconns < PB_CLI_CONNECT_MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
      conn tmp = {.o = o, .fd = fd};
      answer_text(&tmp, 503, "ppod browser:connect: too many connections; retry\n");
      close(fd);
      continue;
    }
    c->o = o;
    c->fd = fd;
    pb_strlcpy(c->self, self, sizeof(c->self));
    if (pthread_create(&c->th, NULL, conn_main, c)) {
      close(fd);
      free(c);
      continue;
    }
    c->next = list;
    list = c;
    nconns++;
  }
  close(lfd);
  fprintf(o->err, "ppod: stopped; session %s is still running (ppod browser:release %s ends it)\n",
          o->session_id, o->session_id);
  int left = join_done(&list, &nconns, 1);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  sigaction(SIGPIPE, &old_pipe, NULL);
  /* A thread left running still polls the stop pipe: it stays open until
   * the process exits. */
  for (int i = 0; i < 2 && !left; i++) {
    close(stop_pipe[i]);
    close(reap_pipe[i]);
    stop_pipe[i] = reap_pipe[i] = -1;
  }
  return 0;
}
