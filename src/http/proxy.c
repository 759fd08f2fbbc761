/* The internal channel of a cluster (proxy.h): a request or WebSocket for
 * something another node holds, relayed to it on an lws client connection.
 * One pb_fwd per relayed request or socket, held by its two connections
 * (the client's, the owner's) and freed when both let go. I/O thread only. */
#include "http/proxy.h"

#include "http/errors.h"
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct chunk {
  struct chunk *next;
  size_t len, off;
  unsigned flags; /* CH_FIRST | CH_FINAL | CH_BINARY: a WebSocket fragment */
  unsigned char data[];
} chunk;
#define CH_FIRST 1u
#define CH_FINAL 2u
#define CH_BINARY 4u

typedef struct {
  chunk *head, *tail;
  size_t bytes;
} queue;

struct pb_fwd {
  pb_server *s;
  int refs;
  int ws;
  struct lws *cwsi, *owsi; /* the client's and the owner's connections */
  int owner_attached;
  pb_node_route to;
  char method[12];
  char uri[2048];  /* path and query, encoded again */
  char label[128]; /* the path for the log, no query */
  char hdrs[8192]; /* "name:\0value\0"... for the owner */
  size_t hdrs_len;
  pb_buf body;
  size_t body_sent;
  int body_too_big;
  int started;
  int64_t t0;
  queue to_client, to_owner;
  int owner_paused, client_paused;
  /* the answer (HTTP) */
  int status;
  char rhdrs[4096]; /* "name:\0value\0"... for the client */
  size_t rhdrs_len;
  long long clen; /* -1: none (ends with the connection) */
  int answer_ready, head_sent, owner_done, failed;
  long long body_out;
  /* the WebSocket */
  int o_established;
  /* A message is being relayed (its first piece went), per direction:
   * [0] client -> owner, [1] owner -> client; its type. */
  int in_msg[2];
  unsigned msg_bin[2];
  int close_client, close_owner; /* close codes to send (0: none yet) */
  char client_reason[124], owner_reason[124];
  lws_sorted_usec_list_t sul;
  int sul_armed;
};

struct proxy_state {
  struct {
    struct lws *wsi;
    pb_node_route to;
  } pending[64];
  int npending;
};

/* ---- small helpers ---- */

static void q_clear(queue *q) {
  for (chunk *c = q->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  memset(q, 0, sizeof(*q));
}

static int q_push(queue *q, const void *in, size_t len, unsigned flags) {
  chunk *c = malloc(sizeof(*c) + LWS_PRE + len);
  if (!c) return -1;
  c->next = NULL;
  c->len = len;
  c->off = 0;
  c->flags = flags;
  if (len) memcpy(c->data + LWS_PRE, in, len);
  if (q->tail)
    q->tail->next = c;
  else
    q->head = c;
  q->tail = c;
  q->bytes += len;
  return 0;
}

static void q_pop(queue *q) {
  chunk *c = q->head;
  q->head = c->next;
  if (!q->head) q->tail = NULL;
  q->bytes -= c->len;
  free(c);
}

static void fwd_unref(pb_fwd *f) {
  if (--f->refs > 0) return;
  if (f->sul_armed) lws_sul_cancel(&f->sul);
  q_clear(&f->to_client);
  q_clear(&f->to_owner);
  pb_buf_free(&f->body);
  free(f);
}

static void hdr_add(char *buf, size_t cap, size_t *len, const char *name, const char *value) {
  size_t a = strlen(name) + 1, b = strlen(value) + 1;
  if (*len + a + b > cap) return;
  memcpy(buf + *len, name, a);
  memcpy(buf + *len + a, value, b);
  *len += a + b;
}

static struct proxy_state *state(pb_server *s) {
  if (!s->proxy) s->proxy = calloc(1, sizeof(*s->proxy));
  return s->proxy;
}

/* A header the client sent, trusted or not; 1 when present and it fits. */
static int custom_header(struct lws *wsi, const char *name, char *out, int cap) {
  int n = lws_hdr_custom_length(wsi, name, (int)strlen(name));
  if (n <= 0 || n >= cap) {
    out[0] = '\0';
    return 0;
  }
  return lws_hdr_custom_copy(wsi, out, cap, name, (int)strlen(name)) >= 0;
}

int pb_fwd_trusted(pb_server *s, struct lws *wsi) {
  char key[512];
  return s->o.nodes && wsi && custom_header(wsi, "x-ppod-cluster-key:", key, sizeof(key)) &&
         pb_nodes_key_ok(s->o.nodes, key);
}

/* Printable, no separators that would break a log line or a header. */
static int addr_ok(const char *a) {
  if (!*a) return 0;
  for (; *a; a++)
    if (!strchr("0123456789abcdefABCDEF.:[]", *a)) return 0;
  return 1;
}

/* 1 when peer is one of list's comma-separated addresses (exact). */
static int listed(const char *list, const char *peer) {
  size_t n = strlen(peer);
  for (const char *p = list; p && *p;) {
    size_t len = strcspn(p, ",");
    if (len == n && n && !strncmp(p, peer, n)) return 1;
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

void pb_fwd_client_addr(pb_server *s, struct lws *wsi, char *out, size_t cap) {
  out[0] = '\0';
  if (!wsi) return;
  char xff[256];
  if (pb_fwd_trusted(s, wsi) && http_header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof(xff)) &&
      addr_ok(xff)) {
    pb_strlcpy(out, xff, cap);
    return;
  }
  lws_get_peer_simple(wsi, out, cap);
  /* From a load balancer the operator named, the entry it appended: the
   * last one (earlier entries are whatever the client sent). */
  if (s->o.trusted_proxies && listed(s->o.trusted_proxies, out) &&
      http_header(wsi, WSI_TOKEN_X_FORWARDED_FOR, xff, sizeof(xff))) {
    char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ') last++;
    size_t len = strcspn(last, " ");
    last[len] = '\0';
    if (addr_ok(last) && len < cap) pb_strlcpy(out, last, cap);
  }
}

int pb_fwd_client_host(pb_server *s, struct lws *wsi, char *out, size_t cap) {
  if (pb_fwd_trusted(s, wsi) && custom_header(wsi, "x-forwarded-host:", out, (int)cap)) return 1;
  return http_header(wsi, WSI_TOKEN_HOST, out, (int)cap);
}

/* ---- where a request goes ---- */

/* The node-minted id a path names: a session's, a trace's, a live view
 * capability, a crawl's (its scheduler runs on the node that started it:
 * a DELETE must reach it). 1 when there is one. */
static int path_id(const char *path, char *id, size_t cap) {
  static const char *const prefixes[] = {"/browser/sessions/", "/browser/traces/", "/live/",
                                         "/browser/crawl/"};
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    size_t n = strlen(prefixes[i]);
    if (strncmp(path, prefixes[i], n)) continue;
    const char *v = path + n;
    size_t len = strcspn(v, "/");
    if (!len || len >= cap) return 0;
    memcpy(id, v, len);
    id[len] = '\0';
    return 1;
  }
  return 0;
}

pb_fwd_verdict pb_fwd_decide(pb_server *s, struct lws *wsi, const char *path, int lws_method,
                             pb_node_route *to) {
  memset(to, 0, sizeof(*to));
  if (!s->o.nodes || !pb_nodes_clustered(s->o.nodes)) return PB_FWD_LOCAL;
  int via = lws_hdr_custom_length(wsi, "x-ppod-via:", 11) >= 0;
  int keyed = lws_hdr_custom_length(wsi, "x-ppod-cluster-key:", 19) >= 0;
  if (via || keyed) return pb_fwd_trusted(s, wsi) ? PB_FWD_LOCAL : PB_FWD_BAD_KEY;
  pb_route_match m;
  const pb_route *res = pb_route_resource(path, &m);
  if (!res) return PB_FWD_LOCAL; /* answered 404 here */
  if (res->op == pb_op_acquire ||
      (lws_method == LWSHUMETH_POST && pb_route_find(path, PB_METHOD_POST, &m) &&
       pb_route_find(path, PB_METHOD_POST, &m)->op == pb_op_acquire)) {
    pb_nodes_place(s->o.nodes, to);
    return to->kind == PB_ROUTE_REMOTE ? PB_FWD_REMOTE : PB_FWD_LOCAL;
  }
  char id[96];
  if (!path_id(path, id, sizeof(id))) return PB_FWD_LOCAL;
  pb_nodes_route_id(s->o.nodes, id, to);
  if (to->kind == PB_ROUTE_REMOTE) return PB_FWD_REMOTE;
  if (to->kind == PB_ROUTE_LOST) return PB_FWD_LOST;
  return PB_FWD_LOCAL; /* ours, or a tag no node has: 404 here */
}

/* ---- the request for the owner ---- */

static void encode(char *out, size_t cap, size_t *len, const char *in, const char *keep) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *in && *len + 4 < cap; in++) {
    unsigned char c = (unsigned char)*in;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
        strchr("-._~", c) || (c && strchr(keep, c))) {
      out[(*len)++] = (char)c;
    } else {
      out[(*len)++] = '%';
      out[(*len)++] = hex[c >> 4];
      out[(*len)++] = hex[c & 15];
    }
  }
  out[*len] = '\0';
}

/* Path and query as the client sent them, from lws's decoded copies. */
static int build_uri(pb_fwd *f, struct lws *wsi, const char *path) {
  size_t n = 0;
  encode(f->uri, sizeof(f->uri), &n, path, "/!$&'()*+,;=:@");
  char arg[1024];
  for (int i = 0;; i++) {
    int k = lws_hdr_copy_fragment(wsi, arg, sizeof(arg), WSI_TOKEN_HTTP_URI_ARGS, i);
    if (k < 0) break;
    if (n + 2 >= sizeof(f->uri)) return -1;
    f->uri[n++] = i ? '&' : '?';
    char *eq = strchr(arg, '=');
    if (eq) {
      *eq = '\0';
      encode(f->uri, sizeof(f->uri), &n, arg, "");
      if (n + 2 >= sizeof(f->uri)) return -1;
      f->uri[n++] = '=';
      f->uri[n] = '\0';
      encode(f->uri, sizeof(f->uri), &n, eq + 1, "");
    } else {
      encode(f->uri, sizeof(f->uri), &n, arg, "");
    }
    if (n + 8 >= sizeof(f->uri)) return -1;
  }
  return 0;
}

/* The client's end-to-end headers, and the channel's own. Never Host,
 * Connection, Upgrade, the WebSocket handshake's, Transfer-Encoding or
 * anything hop-by-hop; never a client's X-Ppod-* or X-Forwarded-*. */
static void build_headers(pb_fwd *f, pb_server *s, struct lws *wsi) {
  static const struct {
    enum lws_token_indexes tok;
    const char *name;
  } pass[] = {
      {WSI_TOKEN_HTTP_AUTHORIZATION, "authorization:"},
      {WSI_TOKEN_HTTP_CONTENT_TYPE, "content-type:"},
      {WSI_TOKEN_HTTP_ACCEPT, "accept:"},
      {WSI_TOKEN_HTTP_ACCEPT_LANGUAGE, "accept-language:"},
      {WSI_TOKEN_HTTP_RANGE, "range:"},
      {WSI_TOKEN_HTTP_USER_AGENT, "user-agent:"},
      {WSI_TOKEN_HTTP_IF_NONE_MATCH, "if-none-match:"},
      {WSI_TOKEN_HTTP_IF_MODIFIED_SINCE, "if-modified-since:"},
      {WSI_TOKEN_ORIGIN, "origin:"},
  };
  char v[4096];
  for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
    if (lws_hdr_total_length(wsi, pass[i].tok) > 0 &&
        lws_hdr_total_length(wsi, pass[i].tok) < (int)sizeof(v) &&
        lws_hdr_copy(wsi, v, sizeof(v), pass[i].tok) > 0)
      hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, pass[i].name, v);
  static const char *const custom[] = {
      "x-request-id:", "mcp-session-id:", "mcp-protocol-version:", "x-forwarded-proto:"};
  for (size_t i = 0; i < sizeof(custom) / sizeof(custom[0]); i++)
    if (custom_header(wsi, custom[i], v, 512))
      hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, custom[i], v);
  char addr[64] = "";
  pb_fwd_client_addr(s, wsi, addr, sizeof(addr));
  if (addr_ok(addr)) hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, "x-forwarded-for:", addr);
  if (http_header(wsi, WSI_TOKEN_HOST, v, 256) && !strpbrk(v, "/\"\\ <>"))
    hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, "x-forwarded-host:", v);
  hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, "x-ppod-via:", pb_nodes_self_tag(s->o.nodes));
  hdr_add(f->hdrs, sizeof(f->hdrs), &f->hdrs_len, "x-ppod-cluster-key:", pb_nodes_key(s->o.nodes));
}

static const char *method_name(int m) {
  switch (m) {
    case LWSHUMETH_GET:
      return "GET";
    case LWSHUMETH_POST:
      return "POST";
    case LWSHUMETH_DELETE:
      return "DELETE";
    case LWSHUMETH_PUT:
      return "PUT";
    case LWSHUMETH_PATCH:
      return "PATCH";
    case LWSHUMETH_OPTIONS:
      return "OPTIONS";
    case LWSHUMETH_HEAD:
      return "HEAD";
    default:
      return NULL;
  }
}

static pb_fwd *fwd_new(pb_server *s, struct lws *wsi, const pb_node_route *to) {
  pb_fwd *f = calloc(1, sizeof(*f));
  if (!f) return NULL;
  f->s = s;
  f->cwsi = wsi;
  f->refs = 1;
  f->to = *to;
  f->clen = -1;
  f->t0 = pb_now_ms();
  pb_buf_init(&f->body, PB_BODY_MAX);
  build_headers(f, s, wsi);
  return f;
}

/* A received piece's flags: lws hands a frame over in pieces, and a
 * message may be several frames; each piece is relayed as a fragment, the
 * first opening the message (its type), the last ending it. */
static unsigned piece_flags(pb_fwd *f, int dir, struct lws *wsi) {
  unsigned fl = 0;
  if (!f->in_msg[dir]) {
    fl |= CH_FIRST;
    f->msg_bin[dir] = lws_frame_is_binary(wsi) ? CH_BINARY : 0;
    f->in_msg[dir] = 1;
  }
  fl |= f->msg_bin[dir];
  if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
    fl |= CH_FINAL;
    f->in_msg[dir] = 0;
  }
  return fl;
}

/* ---- failures ---- */

/* The client gets a JSON error instead of the owner's answer. */
static void fail_http(pb_fwd *f, pb_code code, const char *msg) {
  if (f->answer_ready || f->failed) {
    /* Mid-answer: the client sees the connection end short. */
    f->failed = 1;
    if (f->cwsi) lws_callback_on_writable(f->cwsi);
    return;
  }
  f->failed = 1;
  f->answer_ready = 1;
  f->status = pb_http_status(code);
  char rid[PB_REQUEST_ID_MAX + 1], body[512];
  request_id_new(rid);
  int n = snprintf(body, sizeof(body),
                   "{\"success\":false,\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}],"
                   "\"requestId\":\"%s\"}",
                   pb_code_text(code), msg, rid);
  q_clear(&f->to_client);
  q_push(&f->to_client, body, (size_t)n, 0);
  f->clen = n;
  f->rhdrs_len = 0;
  hdr_add(f->rhdrs, sizeof(f->rhdrs), &f->rhdrs_len, "content-type:", "application/json");
  hdr_add(f->rhdrs, sizeof(f->rhdrs), &f->rhdrs_len, "x-request-id:", rid);
  f->owner_done = 1;
  if (f->cwsi) lws_callback_on_writable(f->cwsi);
}

/* The client's WebSocket is closed with code and reason once its queue is
 * written. */
static void close_client_ws(pb_fwd *f, int code, const char *reason) {
  if (!f->close_client) {
    f->close_client = code;
    pb_strlcpy(f->client_reason, reason, sizeof(f->client_reason));
  }
  if (f->cwsi) lws_callback_on_writable(f->cwsi);
}

static void owner_unreachable(pb_fwd *f, const char *why) {
  if (!f->cwsi) return; /* the client left first: nobody to tell */
  PB_WARN("proxy: node %s (%s) unreachable for %s: %s", f->to.tag, f->to.url, f->label,
          why ? why : "closed");
  if (f->ws)
    close_client_ws(f, 1011,
                    "NODE_UNREACHABLE: the node that holds this session cannot be reached");
  else
    fail_http(f, PB_CODE_NODE_UNREACHABLE, "the node that holds this could not be reached; retry");
}

static void owner_kill(pb_fwd *f) {
  if (f->owsi) lws_set_timeout(f->owsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void deadline(lws_sorted_usec_list_t *sul) {
  pb_fwd *f = lws_container_of(sul, pb_fwd, sul);
  f->sul_armed = 0;
  owner_unreachable(f,
                    f->o_established || f->answer_ready ? "no answer in time" : "connect timeout");
  owner_kill(f);
}

static void arm(pb_fwd *f, int ms) {
  lws_sul_schedule(lws_get_context(f->cwsi ? f->cwsi : f->owsi), 0, &f->sul, deadline,
                   (lws_usec_t)ms * LWS_US_PER_MS);
  f->sul_armed = 1;
}

static void disarm(pb_fwd *f) {
  if (f->sul_armed) lws_sul_cancel(&f->sul);
  f->sul_armed = 0;
}

/* Lets go of the owner's connection (it closed or failed to open). */
static void owner_gone(pb_fwd *f) {
  if (!f->owner_attached) return;
  f->owner_attached = 0;
  f->owsi = NULL;
  disarm(f);
  fwd_unref(f);
}

/* ---- the owner's connection ---- */

static int owner_connect(pb_fwd *f) {
  char url[256];
  pb_strlcpy(url, f->to.url, sizeof(url));
  const char *proto = NULL, *addr = NULL, *path = NULL;
  int port = 0;
  if (lws_parse_uri(url, &proto, &addr, &port, &path) || strcmp(proto, "http")) {
    owner_unreachable(f, "node URL is not http://host:port");
    return -1;
  }
  struct lws_client_connect_info i;
  memset(&i, 0, sizeof(i));
  i.context = f->s->ctx;
  i.address = addr;
  i.port = port;
  i.path = f->uri;
  i.host = addr;
  i.origin = NULL;
  i.method = f->ws ? NULL : f->method;
  i.local_protocol_name = "pb-proxy";
  i.userdata = f;
  i.pwsi = &f->owsi;
  i.ietf_version_or_minus_one = -1;
  f->refs++;
  f->owner_attached = 1;
  f->started = 1;
  arm(f, PB_FWD_CONNECT_MS);
  if (!lws_client_connect_via_info(&i)) {
    if (f->owner_attached) {
      owner_gone(f);
      owner_unreachable(f, "cannot connect");
    }
    return -1;
  }
  return 0;
}

/* Back-pressure: a side with more than PB_FWD_PENDING_MAX queued for it
 * stops the other side being read until it drains below a quarter. */
static void flow(pb_fwd *f) {
  if (f->owsi) {
    int pause = f->to_client.bytes > PB_FWD_PENDING_MAX;
    int resume = f->to_client.bytes < PB_FWD_PENDING_MAX / 4;
    if (pause && !f->owner_paused) {
      f->owner_paused = 1;
      lws_rx_flow_control(f->owsi, 0);
    } else if (resume && f->owner_paused) {
      f->owner_paused = 0;
      lws_rx_flow_control(f->owsi, 1);
    }
  }
  if (f->cwsi && f->ws) {
    int pause = f->to_owner.bytes > PB_FWD_PENDING_MAX;
    int resume = f->to_owner.bytes < PB_FWD_PENDING_MAX / 4;
    if (pause && !f->client_paused) {
      f->client_paused = 1;
      lws_rx_flow_control(f->cwsi, 0);
    } else if (resume && f->client_paused) {
      f->client_paused = 0;
      lws_rx_flow_control(f->cwsi, 1);
    }
  }
}

/* The owner's answer headers the client gets: what describes the body and
 * the service's own; never its hop-by-hop ones. */
static void take_answer_headers(pb_fwd *f, struct lws *wsi) {
  static const struct {
    enum lws_token_indexes tok;
    const char *name;
  } keep[] = {
      {WSI_TOKEN_HTTP_CONTENT_DISPOSITION, "content-disposition:"},
      {WSI_TOKEN_HTTP_RETRY_AFTER, "retry-after:"},
      {WSI_TOKEN_HTTP_CACHE_CONTROL, "cache-control:"},
      {WSI_TOKEN_HTTP_LOCATION, "location:"},
      {WSI_TOKEN_HTTP_CONTENT_RANGE, "content-range:"},
      {WSI_TOKEN_HTTP_ACCEPT_RANGES, "accept-ranges:"},
      {WSI_TOKEN_HTTP_ETAG, "etag:"},
      {WSI_TOKEN_HTTP_LAST_MODIFIED, "last-modified:"},
      {WSI_TOKEN_HTTP_WWW_AUTHENTICATE, "www-authenticate:"},
  };
  char v[2048];
  for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
    if (lws_hdr_total_length(wsi, keep[i].tok) > 0 &&
        lws_hdr_total_length(wsi, keep[i].tok) < (int)sizeof(v) &&
        lws_hdr_copy(wsi, v, sizeof(v), keep[i].tok) > 0)
      hdr_add(f->rhdrs, sizeof(f->rhdrs), &f->rhdrs_len, keep[i].name, v);
  static const char *const custom[] = {
      "x-error-code:",           "x-request-id:",    "x-trace-id:",
      "x-browser-ms-used:",      "mcp-session-id:",  "content-security-policy:",
      "x-content-type-options:", "referrer-policy:", "x-frame-options:"};
  for (size_t i = 0; i < sizeof(custom) / sizeof(custom[0]); i++)
    if (custom_header(wsi, custom[i], v, sizeof(v)))
      hdr_add(f->rhdrs, sizeof(f->rhdrs), &f->rhdrs_len, custom[i], v);
  if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_TYPE) > 0)
    hdr_add(f->rhdrs, sizeof(f->rhdrs), &f->rhdrs_len, "content-type:", v);
  long long n = -1;
  if (lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0 &&
      pb_parse_int(v, 0, INT64_MAX, &n))
    n = -1;
  f->clen = n;
}

static int owner_append_headers(pb_fwd *f, struct lws *wsi, unsigned char **p, unsigned char *end) {
  for (size_t o = 0; o < f->hdrs_len;) {
    const char *name = f->hdrs + o;
    const char *value = name + strlen(name) + 1;
    o += strlen(name) + strlen(value) + 2;
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
                                    (int)strlen(value), p, end))
      return -1;
  }
  if (!f->ws && (f->body.len || strcmp(f->method, "GET"))) {
    char n[32];
    int k = snprintf(n, sizeof(n), "%zu", f->body.len);
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (unsigned char *)n, k, p,
                                     end))
      return -1;
    if (f->body.len) {
      lws_client_http_body_pending(wsi, 1);
      lws_callback_on_writable(wsi);
    }
  }
  return 0;
}

/* Writes the next queued WebSocket piece to wsi (text/binary and
 * fragmentation as received), or the close once the queue is empty. */
static int ws_write_next(pb_fwd *f, struct lws *wsi, queue *q, int close_code,
                         const char *reason) {
  chunk *c = q->head;
  if (c) {
    int wp = lws_write_ws_flags(c->flags & CH_BINARY ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
                                !!(c->flags & CH_FIRST), !!(c->flags & CH_FINAL));
    if (lws_write(wsi, c->data + LWS_PRE, c->len, (enum lws_write_protocol)wp) < (int)c->len)
      return -1;
    q_pop(q);
    flow(f);
    if (q->head || close_code) lws_callback_on_writable(wsi);
    return 0;
  }
  if (close_code) {
    lws_close_reason(wsi, (enum lws_close_status)close_code, (unsigned char *)reason,
                     strlen(reason));
    return -1;
  }
  return 0;
}

static int owner_write(pb_fwd *f, struct lws *wsi) {
  if (!f->ws) {
    /* The request body. */
    if (f->body_sent >= f->body.len) return 0;
    size_t n = f->body.len - f->body_sent;
    if (n > CHUNK) n = CHUNK;
    unsigned char *buf = f->s->wbuf + LWS_PRE;
    memcpy(buf, f->body.data + f->body_sent, n);
    if (lws_write(wsi, buf, n, LWS_WRITE_HTTP) != (int)n) return -1;
    f->body_sent += n;
    if (f->body_sent < f->body.len)
      lws_callback_on_writable(wsi);
    else
      lws_client_http_body_pending(wsi, 0);
    return 0;
  }
  return ws_write_next(f, wsi, &f->to_owner, f->close_owner, f->owner_reason);
}

int pb_fwd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len) {
  pb_fwd *f = user;
  switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
      return -1; /* a client asking for this protocol by name */
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      if (!f) return -1;
      f->owsi = wsi;
      disarm(f); /* connected: now its answer */
      arm(f, PB_FWD_ANSWER_MS);
      return owner_append_headers(f, wsi, (unsigned char **)in,
                                  (unsigned char *)*(unsigned char **)in + len);
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
      if (!f || !f->cwsi) return -1;
      return owner_write(f, wsi);
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
      if (!f || !f->cwsi) return -1;
      disarm(f);
      f->status = (int)lws_http_client_http_response(wsi);
      take_answer_headers(f, wsi);
      f->answer_ready = 1;
      lws_callback_on_writable(f->cwsi);
      return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
      char buf[LWS_PRE + 16384], *px = buf + LWS_PRE;
      int lenx = (int)sizeof(buf) - LWS_PRE;
      if (!f || !f->cwsi) return -1;
      if (lws_http_client_read(wsi, &px, &lenx) < 0) return -1;
      return 0;
    }
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
      if (!f || !f->cwsi) return -1;
      if (q_push(&f->to_client, in, len, 0)) return -1;
      flow(f);
      lws_callback_on_writable(f->cwsi);
      return 0;
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
      if (f) {
        f->owner_done = 1;
        if (f->cwsi) lws_callback_on_writable(f->cwsi);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      if (f) {
        int st = (int)lws_http_client_http_response(wsi);
        if (f->ws && st >= 400 && st < 600) {
          /* The owner refused the upgrade (its token, its session): the
           * client's socket, already open, is closed with 4000 + status. */
          char why[124];
          snprintf(why, sizeof(why), "the session's node refused the connection: HTTP %d", st);
          close_client_ws(f, 4000 + st, why);
        } else {
          owner_unreachable(f, in ? (const char *)in : "connection error");
        }
        owner_gone(f);
      }
      return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
      if (f) {
        if (!f->owner_done)
          owner_unreachable(f, "the connection ended before the answer did");
        else if (f->cwsi)
          lws_callback_on_writable(f->cwsi);
        owner_gone(f);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      if (!f || !f->cwsi) return -1;
      disarm(f);
      f->o_established = 1;
      if (f->to_owner.head || f->close_owner) lws_callback_on_writable(wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (!f || !f->cwsi) return -1;
      if (q_push(&f->to_client, in, len, piece_flags(f, 1, wsi))) return -1;
      flow(f);
      lws_callback_on_writable(f->cwsi);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      if (!f) return -1;
      return owner_write(f, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (f && len >= 2) {
        int code = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
        char why[124];
        size_t n = len - 2 < sizeof(why) - 1 ? len - 2 : sizeof(why) - 1;
        memcpy(why, (const char *)in + 2, n);
        why[n] = '\0';
        close_client_ws(f, code, why);
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (f) {
        if (f->cwsi && !f->close_client)
          close_client_ws(f, 1011, "NODE_UNREACHABLE: the session's node closed the connection");
        owner_gone(f);
      }
      return 0;
    default:
      break;
  }
  return 0;
}

/* ---- HTTP: the client's side ---- */

int pb_http_forward(struct lws *wsi, const pb_node_route *to) {
  struct lws_context *ctx = lws_get_context(wsi);
  pb_server *s = ctx ? lws_context_user(ctx) : NULL;
  pss_t *pss = lws_wsi_user(wsi);
  if (!s || !pss || to->kind != PB_ROUTE_REMOTE) return PB_EINVAL;
  char *uri = NULL;
  int ulen = 0;
  int m = lws_http_get_uri_and_method(wsi, &uri, &ulen);
  const char *name = method_name(m);
  if (!name || !uri) return PB_EINVAL;
  pb_fwd *f = fwd_new(s, wsi, to);
  if (!f) return PB_ENOMEM;
  pb_strlcpy(f->method, name, sizeof(f->method));
  pb_strlcpy(f->label, uri, sizeof(f->label));
  if (build_uri(f, wsi, uri)) {
    fwd_unref(f);
    return PB_EINVAL;
  }
  pss->fwd = f;
  char cl[32];
  long long declared = 0;
  if (http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl)) &&
      pb_parse_int(cl, 0, INT64_MAX, &declared))
    declared = 0;
  req *lr = pss->r;
  if (lr && pss->body_done) {
    /* Called once the body was read (cluster.c: a quick action naming
     * another node's session in its JSON): it goes as it came. */
    if (lr->body.len && pb_buf_append(&f->body, lr->body.data, lr->body.len)) {
      pss->fwd = NULL;
      fwd_unref(f);
      return PB_ENOMEM;
    }
    lr->logged = 1; /* the relay logs it */
    owner_connect(f);
    return 0;
  }
  if (declared <= 0) owner_connect(f);
  return 0;
}

void pb_fwd_body(pb_fwd *f, const void *in, size_t len) {
  if (!f->body_too_big && pb_buf_append(&f->body, in, len)) f->body_too_big = 1;
}

void pb_fwd_body_end(pb_fwd *f) {
  if (f->started) return;
  if (f->body_too_big) {
    fail_http(f, PB_CODE_BODY_TOO_LARGE, "the request body is too large");
    return;
  }
  owner_connect(f);
}

static void log_forward(pb_fwd *f, int status) {
  PB_INFO("proxy: %s %s -> node %s: %d (%lld ms)", f->method, f->label, f->to.tag, status,
          (long long)(pb_now_ms() - f->t0));
}

int pb_fwd_http_writable(pb_fwd *f, struct lws *wsi) {
  if (!f->answer_ready) return 0;
  pb_server *s = f->s;
  if (!f->head_sent) {
    unsigned char *start = s->wbuf + LWS_PRE, *p = start, *end = s->wbuf + sizeof(s->wbuf) - 1;
    const char *ctype = NULL;
    for (size_t o = 0; o < f->rhdrs_len;) {
      const char *name = f->rhdrs + o, *value = name + strlen(name) + 1;
      o += strlen(name) + strlen(value) + 2;
      if (!strcmp(name, "content-type:")) ctype = value;
    }
    if (lws_add_http_header_status(wsi, (unsigned int)f->status, &p, end)) return -1;
    for (size_t o = 0; o < f->rhdrs_len;) {
      const char *name = f->rhdrs + o, *value = name + strlen(name) + 1;
      o += strlen(name) + strlen(value) + 2;
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                      (const unsigned char *)value, (int)strlen(value), &p, end))
        return -1;
    }
    (void)ctype;
    if (f->clen >= 0) {
      if (lws_add_http_header_content_length(wsi, (lws_filepos_t)f->clen, &p, end)) return -1;
    } else if (lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                            (const unsigned char *)"close", 5, &p, end)) {
      return -1;
    }
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    f->head_sent = 1;
    log_forward(f, f->status);
    lws_callback_on_writable(wsi);
    return 0;
  }
  chunk *c = f->to_client.head;
  if (c) {
    size_t n = c->len - c->off;
    if (n > CHUNK) n = CHUNK;
    memcpy(s->wbuf + LWS_PRE, c->data + LWS_PRE + c->off, n);
    if (lws_write(wsi, s->wbuf + LWS_PRE, n, LWS_WRITE_HTTP) != (int)n) return -1;
    f->body_out += (long long)n;
    c->off += n;
    if (c->off == c->len) q_pop(&f->to_client);
    flow(f);
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (f->failed && f->body_out < f->clen)
    return -1; /* the owner went mid-answer: the client sees it cut short */
  if (!f->owner_done) return 0;
  if (f->clen < 0 || f->failed) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- WebSockets: the client's side ---- */

static int ws_refuse(struct lws *wsi, pb_code code, const char *msg) {
  return pb_ws_refuse_answer(wsi, code, msg);
}

int pb_fwd_ws_confirm(pb_server *s, struct lws *wsi) {
  char uri[512];
  if (!s->o.nodes || lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) return 2;
  uri[strcspn(uri, "?")] = '\0';
  pb_node_route to;
  switch (pb_fwd_decide(s, wsi, uri, LWSHUMETH_GET, &to)) {
    case PB_FWD_LOCAL:
      return 2;
    case PB_FWD_BAD_KEY:
      return ws_refuse(wsi, PB_CODE_CLUSTER_KEY_INVALID,
                       "X-Ppod-Via without the cluster key: refused");
    case PB_FWD_LOST:
      return ws_refuse(wsi, PB_CODE_NODE_LOST,
                       "the node that held this session was lost; the session ended");
    case PB_FWD_REMOTE:
      break;
  }
  struct proxy_state *ps = state(s);
  if (!ps) return ws_refuse(wsi, PB_CODE_INTERNAL_ERROR, "out of memory");
  if (ps->npending == (int)(sizeof(ps->pending) / sizeof(ps->pending[0])))
    return ws_refuse(wsi, PB_CODE_BUSY, "too many connections being set up; retry");
  ps->pending[ps->npending].wsi = wsi;
  ps->pending[ps->npending].to = to;
  ps->npending++;
  return 0;
}

static int pending_take(pb_server *s, struct lws *wsi, pb_node_route *to) {
  struct proxy_state *ps = s->proxy;
  for (int i = 0; ps && i < ps->npending; i++)
    if (ps->pending[i].wsi == wsi) {
      if (to) *to = ps->pending[i].to;
      ps->pending[i] = ps->pending[--ps->npending];
      return 1;
    }
  return 0;
}

int pb_fwd_ws_pending(pb_server *s, struct lws *wsi) {
  struct proxy_state *ps = s->proxy;
  for (int i = 0; ps && i < ps->npending; i++)
    if (ps->pending[i].wsi == wsi) return 1;
  return 0;
}

void pb_fwd_ws_pending_drop(pb_server *s, struct lws *wsi) {
  pending_take(s, wsi, NULL);
}

int pb_fwd_ws_established(pb_server *s, struct lws *wsi, pss_t *pss) {
  pb_node_route to;
  if (!pending_take(s, wsi, &to)) return -1;
  memset(pss, 0, sizeof(*pss));
  char uri[512];
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) return -1;
  uri[strcspn(uri, "?")] = '\0';
  pb_fwd *f = fwd_new(s, wsi, &to);
  if (!f) return -1;
  f->ws = 1;
  pb_strlcpy(f->method, "GET", sizeof(f->method));
  pb_strlcpy(f->label, uri, sizeof(f->label));
  if (build_uri(f, wsi, uri)) {
    fwd_unref(f);
    return -1;
  }
  pss->fwd = f;
  owner_connect(f);
  PB_INFO("proxy: WebSocket %s -> node %s", f->label, f->to.tag);
  return 0;
}

int pb_fwd_ws_receive(pb_fwd *f, struct lws *wsi, const void *in, size_t len) {
  if (f->close_client) return 0;
  if (q_push(&f->to_owner, in, len, piece_flags(f, 0, wsi))) return -1;
  flow(f);
  if (f->owsi && f->o_established) lws_callback_on_writable(f->owsi);
  return 0;
}

int pb_fwd_ws_writable(pb_fwd *f, struct lws *wsi) {
  return ws_write_next(f, wsi, &f->to_client, f->close_client, f->client_reason);
}

void pb_fwd_ws_peer_close(pb_fwd *f, const void *in, size_t len) {
  if (f->close_owner) return;
  f->close_owner = 1000;
  f->owner_reason[0] = '\0';
  if (len >= 2) {
    f->close_owner = ((const unsigned char *)in)[0] << 8 | ((const unsigned char *)in)[1];
    size_t n = len - 2 < sizeof(f->owner_reason) - 1 ? len - 2 : sizeof(f->owner_reason) - 1;
    memcpy(f->owner_reason, (const char *)in + 2, n);
    f->owner_reason[n] = '\0';
  }
}

void pb_fwd_client_gone(pb_fwd *f) {
  if (!f || !f->cwsi) return;
  f->cwsi = NULL;
  if (f->ws && f->owsi && f->o_established) {
    /* The client's close (or a going-away) is passed on once its queued
     * messages are. */
    if (!f->close_owner) pb_fwd_ws_peer_close(f, "\x03\xe9", 2); /* 1001 going away */
    lws_callback_on_writable(f->owsi);
  } else {
    owner_kill(f);
  }
  if (!f->ws && !f->owner_done) log_forward(f, 499);
  disarm(f);
  fwd_unref(f);
}

void pb_fwd_free(pb_server *s) {
  free(s->proxy);
  s->proxy = NULL;
}
