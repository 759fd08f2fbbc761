#include "http/server.h"

#include "common/pb.h"
#include "http/metrics.h"
#include "http/openapi.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK (64 * 1024)
/* Oversized bodies up to this are read and dropped before the 413. */
#define PB_BODY_DISCARD_MAX (256u * 1024 * 1024)

typedef struct route route;
typedef struct req req;

struct pb_server {
  pb_server_opts o;
  struct lws_context *ctx;
  pb_schemas *schemas;
  pb_metrics *metrics;
  char *openapi;
  /* Finished jobs handed from job threads to the I/O thread. */
  pthread_mutex_t done_mu;
  req *done;
  volatile sig_atomic_t stop_asked;
  int draining;
  int exit;
  int64_t drain_deadline;
  int inflight; /* jobs submitted and not yet handed back (I/O thread) */
  req *live;    /* requests with a job, for cancelling at the drain deadline */
  lws_sorted_usec_list_t drain_sul;
  unsigned char wbuf[LWS_PRE + CHUNK];
};

struct route {
  const char *path;
  int method;          /* LWSHUMETH_* */
  int auth;            /* requires a token */
  const char *schema;  /* request body schema */
  const char *kind;    /* usage ledger kind */
  pb_op_fn op;         /* runs on a job thread */
  void (*get)(pb_server *s, req *r);
};

struct req {
  atomic_int refs;
  pb_server *srv;
  struct lws *wsi;         /* NULL once the connection closed (I/O thread) */
  const route *route;
  const char *route_label;
  pb_buf body;
  int body_too_big;
  pb_auth auth;
  cJSON *json;
  pb_job job;
  atomic_int canceled;
  int64_t t0;
  /* the answer */
  pb_op_result res;
  int ready;
  int close_after;
  int retry_after;
  int headers_sent;
  size_t sent;
  req *next_done;
  req *next_live, **prev_live;
};

typedef struct {
  req *r;
} pss_t;

static void get_healthz(pb_server *s, req *r);
static void get_metrics(pb_server *s, req *r);
static void get_openapi(pb_server *s, req *r);

static const route routes[] = {
    {"/healthz", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_healthz},
    {"/metrics", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_metrics},
    {"/openapi.json", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_openapi},
    {"/browser/screenshot", LWSHUMETH_POST, 1, "screenshot", "screenshot", pb_op_screenshot, NULL},
    {"/browser/pdf", LWSHUMETH_POST, 1, "pdf", "pdf", pb_op_pdf, NULL},
    {"/browser/content", LWSHUMETH_POST, 1, "content", "content", pb_op_content, NULL},
    {"/browser/scrape", LWSHUMETH_POST, 1, "scrape", "scrape", pb_op_scrape, NULL},
    {"/browser/links", LWSHUMETH_POST, 1, "links", "links", pb_op_links, NULL},
    {"/browser/snapshot", LWSHUMETH_POST, 1, "snapshot", "snapshot", pb_op_snapshot, NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static req *req_new(pb_server *s, struct lws *wsi) {
  req *r = calloc(1, sizeof(*r));
  if (!r) return NULL;
  atomic_init(&r->refs, 1);
  atomic_init(&r->canceled, 0);
  r->srv = s;
  r->wsi = wsi;
  r->route_label = "other";
  r->t0 = pb_now_ms();
  pb_buf_init(&r->body, PB_BODY_MAX);
  return r;
}

static void req_unref(req *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
  pb_buf_free(&r->body);
  cJSON_Delete(r->json);
  pb_op_result_free(&r->res);
  free(r);
}

/* Sets a JSON error answer and asks for the socket to be writable. */
static void answer_error(req *r, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void answer_ready(req *r) {
  r->ready = 1;
  if (r->wsi) lws_callback_on_writable(r->wsi);
}

static void set_error_body(pb_op_result *res) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 0);
  cJSON *errs = cJSON_AddArrayToObject(o, "errors");
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "code", res->code);
  cJSON_AddStringToObject(e, "message", res->message);
  cJSON_AddItemToArray(errs, e);
  free(res->body);
  res->body = cJSON_PrintUnformatted(o);
  res->body_len = res->body ? strlen(res->body) : 0;
  res->content_type = "application/json";
  cJSON_Delete(o);
}

static void answer_error(req *r, int status, const char *code, const char *fmt, ...) {
  r->res.status = status;
  pb_strlcpy(r->res.code, code, sizeof(r->res.code));
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->res.message, sizeof(r->res.message), fmt, ap);
  va_end(ap);
  set_error_body(&r->res);
  answer_ready(r);
}

/* {"success":true,"result":<result>}; takes result. */
static void answer_json(req *r, cJSON *result) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 1);
  cJSON_AddItemToObject(o, "result", result);
  free(r->res.body);
  r->res.body = cJSON_PrintUnformatted(o);
  r->res.body_len = r->res.body ? strlen(r->res.body) : 0;
  r->res.content_type = "application/json";
  r->res.status = 200;
  cJSON_Delete(o);
  answer_ready(r);
}

static void get_healthz(pb_server *s, req *r) {
  pb_pool_stats st;
  pb_pool_get_stats(s->o.ops->pool, &st);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", s->draining ? "draining" : st.browsers_alive ? "ok" : "degraded");
  cJSON_AddNumberToObject(o, "browsers", st.browsers_configured);
  cJSON_AddNumberToObject(o, "browsersAlive", st.browsers_alive);
  cJSON_AddNumberToObject(o, "pagesReady", st.pages_ready);
  /* The full egress proxy comes later; today the URL is checked before navigation. */
  cJSON_AddStringToObject(o, "egress", "url-check");
  answer_json(r, o);
}

static void get_metrics(pb_server *s, req *r) {
  pb_metrics_gauges g;
  memset(&g, 0, sizeof(g));
  pb_jobs_counts(s->o.jobs, &g.jobs_running, &g.queue_depth);
  pb_pool_stats st;
  pb_pool_get_stats(s->o.ops->pool, &st);
  g.browsers_alive = st.browsers_alive;
  g.pages_ready = st.pages_ready;
  g.browsers_launched = st.browsers_launched;
  g.browsers_crashed = st.browsers_crashed;
  pb_buf out;
  pb_buf_init(&out, 1 << 20);
  pb_metrics_render(s->metrics, &g, &out);
  free(r->res.body);
  r->res.body = pb_buf_steal(&out, &r->res.body_len);
  r->res.content_type = "text/plain; version=0.0.4";
  r->res.status = 200;
  answer_ready(r);
}

static void get_openapi(pb_server *s, req *r) {
  free(r->res.body);
  r->res.body = strdup(s->openapi ? s->openapi : "{}");
  r->res.body_len = r->res.body ? strlen(r->res.body) : 0;
  r->res.content_type = "application/json";
  r->res.status = 200;
  answer_ready(r);
}

/* ---- jobs ---- */

static void job_main(void *arg) {
  req *r = arg;
  pb_server *s = r->srv;
  int64_t usage_id = 0;
  int64_t start_wall = pb_wall_ms();
  int urc = pb_usage_begin(s->o.store, r->auth.account_id, r->route->kind, start_wall, &usage_id);
  if (urc) PB_ERR("usage: could not open a ledger row: %s", pb_strerror(urc));
  if (pb_now_ms() >= r->job.deadline_ms) {
    pb_op_fail(&r->res, 408, "TIMEOUT", "the job waited in the queue past its timeout");
  } else if (r->route->op(&r->job, &r->res) && r->res.status == 0) {
    pb_op_fail(&r->res, 500, "INTERNAL_ERROR", "the operation failed");
  }
  if (r->res.status >= 400) set_error_body(&r->res);
  if (!urc) {
    urc = pb_usage_end(s->o.store, usage_id, pb_wall_ms(), r->res.status);
    if (urc) PB_ERR("usage: could not close ledger row %lld: %s", (long long)usage_id, pb_strerror(urc));
  }
  pb_metrics_job(s->metrics, pb_now_ms() - r->t0);
  pthread_mutex_lock(&s->done_mu);
  r->next_done = s->done;
  s->done = r;
  pthread_mutex_unlock(&s->done_mu);
  lws_cancel_service(s->ctx);
}

static void live_unlink(req *r) {
  if (!r->prev_live) return;
  *r->prev_live = r->next_live;
  if (r->next_live) r->next_live->prev_live = r->prev_live;
  r->prev_live = NULL;
}

static void drain_done(pb_server *s) {
  pthread_mutex_lock(&s->done_mu);
  req *list = s->done;
  s->done = NULL;
  pthread_mutex_unlock(&s->done_mu);
  while (list) {
    req *r = list;
    list = r->next_done;
    s->inflight--;
    live_unlink(r);
    answer_ready(r);
    req_unref(r); /* the job's reference */
  }
}

static int header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len) {
  buf[0] = '\0';
  if (lws_hdr_total_length(wsi, h) <= 0) return 0;
  return lws_hdr_copy(wsi, buf, len, h) > 0;
}

/* Auth from `Authorization: Bearer T` or `?token=T`. 0 or an answer sent. */
static int authenticate(pb_server *s, req *r, struct lws *wsi) {
  char hdr[512], *tok = NULL;
  if (header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr))) {
    if (strncasecmp(hdr, "Bearer ", 7)) {
      answer_error(r, 401, "UNAUTHORIZED", "use 'Authorization: Bearer <token>'");
      return -1;
    }
    tok = hdr + 7;
    while (*tok == ' ') tok++;
  } else if (lws_get_urlarg_by_name(wsi, "token=", hdr, sizeof(hdr))) {
    tok = hdr;
  }
  if (!tok || !*tok) {
    answer_error(r, 401, "UNAUTHORIZED", "a token is required: 'Authorization: Bearer <token>'");
    return -1;
  }
  int rc = pb_token_check(s->o.store, tok, pb_wall_ms(), &r->auth);
  if (rc == PB_EEXPIRED) {
    answer_error(r, 401, "EXPIRED_TOKEN", "the token expired; create a new one");
    return -1;
  }
  if (rc == PB_ESTORE) {
    answer_error(r, 500, "INTERNAL_ERROR", "the account store failed");
    return -1;
  }
  if (rc) {
    answer_error(r, 401, "INVALID_TOKEN", "the token is not valid");
    return -1;
  }
  return 0;
}

static void start_job(pb_server *s, req *r) {
  if (r->body_too_big) {
    r->close_after = 1;
    answer_error(r, 413, "BODY_TOO_LARGE", "the request body is over %u bytes", PB_BODY_MAX);
    return;
  }
  const char *end = NULL;
  r->json = r->body.len ? cJSON_ParseWithLengthOpts(r->body.data, r->body.len, &end, 0) : NULL;
  if (!r->json) {
    answer_error(r, 400, "INVALID_REQUEST", "the body must be a JSON object");
    return;
  }
  char err[512];
  int rc = pb_schemas_validate(s->schemas, r->route->schema, r->json, err, sizeof(err));
  if (rc) {
    answer_error(r, 400, "INVALID_REQUEST", "%s", err);
    return;
  }
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->json, "timeout");
  int64_t timeout = cJSON_IsNumber(t) && t->valueint > 0 ? t->valueint : PB_JOB_TIMEOUT_DEFAULT_MS;
  r->job.env = s->o.ops;
  r->job.req = r->json;
  r->job.deadline_ms = r->t0 + timeout;
  r->job.canceled = &r->canceled;
  atomic_fetch_add(&r->refs, 1);
  rc = pb_jobs_submit(s->o.jobs, job_main, r);
  if (rc) {
    atomic_fetch_sub(&r->refs, 1);
    if (rc == PB_EBUSY) {
      r->retry_after = 1;
      answer_error(r, 429, "TOO_MANY_REQUESTS", "all browsers are busy and the queue is full; retry shortly");
    } else {
      answer_error(r, 503, "SHUTTING_DOWN", "the service is shutting down");
    }
    return;
  }
  s->inflight++;
  r->next_live = s->live;
  if (s->live) s->live->prev_live = &r->next_live;
  r->prev_live = &s->live;
  s->live = r;
}

static void on_request(pb_server *s, struct lws *wsi, pss_t *pss, const char *path) {
  req *r = req_new(s, wsi);
  if (!r) {
    lws_return_http_status(wsi, 500, NULL);
    return;
  }
  req_unref(pss->r);
  pss->r = r;
  char *uri = NULL;
  int ulen = 0;
  int method = lws_http_get_uri_and_method(wsi, &uri, &ulen);
  const route *rt = NULL;
  int path_known = 0;
  for (size_t i = 0; i < NROUTES; i++) {
    if (strcmp(routes[i].path, path)) continue;
    path_known = 1;
    r->route_label = routes[i].path;
    if (routes[i].method == method) rt = &routes[i];
  }
  if (!path_known) {
    answer_error(r, 404, "NOT_FOUND", "no route %s", path);
    return;
  }
  if (!rt) {
    r->close_after = method == LWSHUMETH_POST || method == LWSHUMETH_PUT;
    answer_error(r, 405, "METHOD_NOT_ALLOWED", "%s does not take that method", path);
    return;
  }
  r->route = rt;
  if (rt->get) {
    rt->get(s, r);
    return;
  }
  if (s->draining) {
    r->close_after = 1;
    answer_error(r, 503, "SHUTTING_DOWN", "the service is shutting down");
    return;
  }
  if (rt->auth && authenticate(s, r, wsi)) {
    r->close_after = 1;
    return;
  }
  char cl[32];
  long long len = 0;
  if (header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl)) &&
      (pb_parse_int(cl, 0, INT64_MAX, &len) || len > PB_BODY_MAX)) {
    /* A client that is still sending sees a reset, not our answer, if the
     * connection closes under it: a moderately oversized body is read and
     * dropped, and the 413 sent when it is complete. */
    if (len > 0 && len <= PB_BODY_DISCARD_MAX) {
      r->body_too_big = 1;
      return;
    }
    r->close_after = 1;
    answer_error(r, 413, "BODY_TOO_LARGE", "the request body is over %u bytes", PB_BODY_MAX);
    return;
  }
  if (len == 0 && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0)
    start_job(s, r); /* no body will come */
}

/* Writes the answer: headers first, then the body in chunks. Returns -1 to
 * close the connection, 0 to keep it. */
static int write_answer(pb_server *s, struct lws *wsi, pss_t *pss) {
  req *r = pss->r;
  if (!r || !r->ready) return 0;
  if (!r->headers_sent) {
    unsigned char *start = s->wbuf + LWS_PRE, *p = start, *end = s->wbuf + sizeof(s->wbuf) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)r->res.status,
                                    r->res.content_type ? r->res.content_type : "application/octet-stream",
                                    r->res.body_len, &p, end))
      return -1;
    char v[32];
    int n;
    if (r->route && r->route->op && r->res.status == 200) {
      n = snprintf(v, sizeof(v), "%lld", (long long)r->res.browser_ms);
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-browser-ms-used:",
                                      (unsigned char *)v, n, &p, end))
        return -1;
    }
    if (r->retry_after) {
      n = snprintf(v, sizeof(v), "%d", r->retry_after);
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:", (unsigned char *)v,
                                      n, &p, end))
        return -1;
    }
    if (r->close_after &&
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end))
      return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    r->headers_sent = 1;
    pb_metrics_request(s->metrics, r->route_label, r->res.status);
    if (r->res.body_len) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  } else if (r->sent < r->res.body_len) {
    size_t n = r->res.body_len - r->sent;
    if (n > CHUNK) n = CHUNK;
    memcpy(s->wbuf + LWS_PRE, r->res.body + r->sent, n);
    int last = r->sent + n == r->res.body_len;
    if (lws_write(wsi, s->wbuf + LWS_PRE, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
      return -1;
    r->sent += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  int close_after = r->close_after;
  pss->r = NULL;
  req_unref(r);
  if (close_after) return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void drain_tick(lws_sorted_usec_list_t *sul) {
  pb_server *s = lws_container_of(sul, pb_server, drain_sul);
  if (s->inflight == 0) {
    s->exit = 1;
    lws_cancel_service(s->ctx); /* so lws_service() returns now */
    return;
  }
  if (pb_now_ms() >= s->drain_deadline) {
    /* Past the drain time: ask in-flight jobs to stop at their next step. */
    for (req *r = s->live; r; r = r->next_live) atomic_store(&r->canceled, 1);
  }
  lws_sul_schedule(s->ctx, 0, &s->drain_sul, drain_tick, 50 * LWS_US_PER_MS);
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                         size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  pb_server *s = ctx ? lws_context_user(ctx) : NULL;
  pss_t *pss = user;
  switch (reason) {
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    if (!s) break;
    drain_done(s);
    if (s->stop_asked && !s->draining) {
      s->draining = 1;
      s->drain_deadline = pb_now_ms() + s->o.drain_ms;
      PB_INFO("stopping: finishing %d job(s), new requests get 503", s->inflight);
      lws_sul_schedule(s->ctx, 0, &s->drain_sul, drain_tick, 1);
    }
    break;
  case LWS_CALLBACK_HTTP:
    on_request(s, wsi, pss, (const char *)in);
    return 0;
  case LWS_CALLBACK_HTTP_BODY:
    if (pss->r && !pss->r->ready && !pss->r->body_too_big &&
        pb_buf_append(&pss->r->body, in, len))
      pss->r->body_too_big = 1;
    return 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    if (pss->r && !pss->r->ready && !pss->r->prev_live) start_job(s, pss->r);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return write_answer(s, wsi, pss);
  case LWS_CALLBACK_CLOSED_HTTP:
    if (pss && pss->r) {
      pss->r->wsi = NULL;
      atomic_store(&pss->r->canceled, 1);
      req_unref(pss->r);
      pss->r = NULL;
    }
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback_http, sizeof(pss_t), 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static void lws_log_bridge(int level, const char *line) {
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  pb_log(level == LLL_ERR ? PB_LOG_ERROR : level == LLL_WARN ? PB_LOG_WARN : PB_LOG_DEBUG,
         "lws: %.*s", (int)n, line);
}

int pb_server_create(const pb_server_opts *o, pb_server **out) {
  *out = NULL;
  pb_server *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->o = *o;
  pthread_mutex_init(&s->done_mu, NULL);
  int rc = pb_schemas_load(&s->schemas);
  if (!rc) rc = pb_metrics_new(&s->metrics);
  if (!rc) rc = pb_openapi_build(s->schemas, &s->openapi);
  if (rc) {
    pb_server_free(s);
    return rc;
  }
  lws_set_log_level(pb_log_level >= PB_LOG_DEBUG ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : LLL_ERR,
                    lws_log_bridge);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = o->port;
  info.iface = o->address;
  info.protocols = protocols;
  info.user = s;
  if (!strchr(o->address, ':')) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.timeout_secs = 30;
  info.keepalive_timeout = 30;
  info.max_http_header_data = 8192;
  info.pt_serv_buf_size = 64 * 1024;
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    PB_ERR("http: cannot listen on %s:%d", o->address, o->port);
    pb_server_free(s);
    return PB_EIO;
  }
  *out = s;
  return 0;
}

int pb_server_run(pb_server *s) {
  while (!s->exit) {
    if (lws_service(s->ctx, 0) < 0) break;
  }
  /* Jobs still running past the drain time were told to stop; wait for
   * them so their usage rows close. */
  for (req *r = s->live; r; r = r->next_live) atomic_store(&r->canceled, 1);
  return 0;
}

void pb_server_stop(pb_server *s) {
  s->stop_asked = 1;
  if (s->ctx) lws_cancel_service(s->ctx);
}

void pb_server_free(pb_server *s) {
  if (!s) return;
  if (s->ctx) lws_context_destroy(s->ctx);
  /* Answers of jobs that finished after the loop stopped. */
  pthread_mutex_lock(&s->done_mu);
  while (s->done) {
    req *r = s->done;
    s->done = r->next_done;
    req_unref(r);
  }
  pthread_mutex_unlock(&s->done_mu);
  pthread_mutex_destroy(&s->done_mu);
  free(s->openapi);
  pb_metrics_free(s->metrics);
  pb_schemas_free(s->schemas);
  free(s);
}
