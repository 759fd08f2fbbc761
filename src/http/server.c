#include "http/server.h"

#include "common/jsontext.h"
#include "common/pb.h"
#include "core/ratelimit.h"
#include "http/errors.h"
#include "http/metrics.h"
#include "http/openapi.h"
#include "http/options.h"
#include "ops/nav.h"
#include "sessions/session.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>

#define CHUNK (64 * 1024)
/* Oversized bodies up to this are read and dropped before the 413. */
#define PB_BODY_DISCARD_MAX (256u * 1024 * 1024)
/* Longest X-Request-Id taken from a client. */
#define PB_REQUEST_ID_MAX 64
/* Free space below which billable work (a ledger row) or a trace (a zip of
 * up to tens of MiB) is refused with 507 rather than failing half-way. */
#define PB_DISK_RESERVE_BYTES (1ull << 20)
#define PB_TRACE_RESERVE_BYTES (8ull << 20)

typedef struct route route;
typedef struct req req;
typedef struct pss pss_t;

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
  unsigned long passes; /* lws_service() calls so far (I/O thread) */
  int inflight; /* jobs submitted and not yet handed back (I/O thread) */
  int unsent;   /* answers ready but not yet written (I/O thread) */
  req *live;    /* requests with a job, for cancelling at the drain deadline */
  lws_sorted_usec_list_t drain_sul;
  lws_sorted_usec_list_t heartbeat_sul;
  /* Ledger rows whose close failed (a full disk): retried on each heartbeat
   * so the work is billed once the store can write again (under done_mu). */
  struct unclosed {
    int64_t id, end_ms;
    int status;
  } unclosed[256];
  int nunclosed;
  /* Ledger writes (heartbeats, late closes) are fsyncs: they run on a thread
   * of their own, never on the I/O thread. Each tick hands it a snapshot of
   * the open rows (under ledger_mu; a newer snapshot replaces one not yet
   * taken). */
  pthread_t ledger;
  int ledger_started;
  pthread_mutex_t ledger_mu;
  pthread_cond_t ledger_cv;
  int64_t *beat_ids;
  size_t nbeat;
  int beat_ready, ledger_stop;
  /* Per-account rate state (I/O thread only). */
  struct acct {
    int64_t account_id;
    pb_bucket acquisitions, actions;
    int actions_running;
  } * accts;
  size_t naccts, aaccts;
  /* WebSocket upgrades accepted but not yet established (I/O thread). */
  struct pending_ws {
    struct lws *wsi;
    pb_session *session;
    pb_auth auth;
  } pending_ws[64];
  int npending_ws;
  /* Open CDP WebSockets (I/O thread): their tokens are re-checked. */
  pss_t *ws_conns;
  lws_sorted_usec_list_t authcheck_sul;
  /* The auth watcher: the I/O thread posts the token ids behind open
   * sockets and queued jobs, the watcher asks the store (an admin command
   * in another process may have revoked them) and posts verdicts back. */
  pthread_mutex_t watch_mu;
  pthread_cond_t watch_cv;
  pthread_t watch_thread;
  int watch_started, watch_stop, watch_posted;
  int64_t *watch_ids;
  size_t nwatch_ids, awatch_ids;
  struct dead_token {
    int64_t token_id;
    int rc;
  } dead[64];
  int ndead;
  unsigned char wbuf[LWS_PRE + CHUNK];
};

struct route {
  const char *path;
  int method;         /* LWSHUMETH_* */
  int auth;           /* requires a token */
  const char *schema; /* request body schema */
  const char *kind;   /* usage ledger kind */
  pb_op_fn op;        /* runs on a job thread */
  void (*get)(pb_server *s, req *r);
};

struct req {
  atomic_int refs;
  pb_server *srv;
  struct lws *wsi; /* NULL once the connection closed (I/O thread) */
  const route *route;
  const char *route_label;
  pb_buf body;
  int body_too_big;
  pb_auth auth;
  pb_limits limits;
  int counted_action; /* holds one of the account's concurrent actions */
  /* A body is still arriving: the answer waits for its end, so the bytes
   * after an early answer are never read as the next request. */
  int body_pending;
  int expect_continue; /* the client waits for 100 Continue before its body */
  size_t body_seen;    /* bytes of body received, kept or dropped */
  char ws_base[300];
  cJSON *json;
  pb_job job;
  atomic_int canceled;
  atomic_llong usage_id; /* the job's ledger row, once open */
  atomic_int auth_dead;  /* the token stopped being valid: its PB_E* */
  /* 0 queued, 1 taken by its job thread, 2 answered by the I/O thread
   * before it started (its token was taken back): whoever moves it from 0
   * owns the answer. */
  atomic_int stage;
  int64_t t0;
  int64_t t_submit;                /* when it entered the job queue */
  char rid[PB_REQUEST_ID_MAX + 1]; /* X-Request-Id */
  int method;                      /* LWSHUMETH_* */
  char path[128];                  /* for the request log */
  int logged;
  /* the answer */
  pb_op_result res;
  int ready;
  int close_after;
  int unsent; /* counted in the server's unsent answers */
  int retry_after;
  int headers_sent;
  size_t sent;
  req *next_done;
  req *next_live, **prev_live;
};

struct pss {
  req *r;
  pb_session *ws; /* the acquired session of a CDP WebSocket */
  /* The token that opened the WebSocket; once it stops being valid the
   * socket is closed with kill_code and kill_reason (I/O thread). */
  pb_auth ws_auth;
  struct lws *ws_wsi;
  pss_t *ws_next, **ws_prev;
  int kill_code;
  const char *kill_reason;
  pb_buf rx; /* a client message being reassembled */
  int rx_too_big;
  int rx_paused; /* the session has more than it has handled yet */
  /* A request body must be complete by a deadline, however slowly it
   * trickles in: lws's own timeout restarts with every chunk. */
  lws_sorted_usec_list_t body_sul;
  struct lws *body_wsi;
  int body_done;             /* this request's body completion was seen */
  unsigned long repeat_pass; /* the loop pass of the repeats below */
  int repeats;
};

static void get_healthz(pb_server *s, req *r);
static void get_metrics(pb_server *s, req *r);
static void get_openapi(pb_server *s, req *r);
static void get_sessions(pb_server *s, req *r);
static void action_done(pb_server *s, req *r);
static void submit_job(pb_server *s, req *r);
static void get_history(pb_server *s, req *r);
static void get_limits(pb_server *s, req *r);
static void get_usage(pb_server *s, req *r);

static const route routes[] = {
    {"/healthz", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_healthz},
    {"/metrics", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_metrics},
    {"/openapi.json", LWSHUMETH_GET, 0, NULL, NULL, NULL, get_openapi},
    {"/browser/screenshot", LWSHUMETH_POST, 1, "screenshot", "screenshot",
     pb_op_screenshot, NULL},
    {"/browser/pdf", LWSHUMETH_POST, 1, "pdf", "pdf", pb_op_pdf, NULL},
    {"/browser/content", LWSHUMETH_POST, 1, "content", "content", pb_op_content,
     NULL},
    {"/browser/scrape", LWSHUMETH_POST, 1, "scrape", "scrape", pb_op_scrape,
     NULL},
    {"/browser/links", LWSHUMETH_POST, 1, "links", "links", pb_op_links, NULL},
    {"/browser/snapshot", LWSHUMETH_POST, 1, "snapshot", "snapshot",
     pb_op_snapshot, NULL},
    {"/browser/markdown", LWSHUMETH_POST, 1, "markdown", "markdown",
     pb_op_markdown, NULL},
    {"/browser/test", LWSHUMETH_POST, 1, "test-script", "test", pb_op_test,
     NULL},
    {"/browser/acquire", LWSHUMETH_POST, 1, "acquire", NULL, pb_op_acquire,
     NULL},
    {"/browser/sessions", LWSHUMETH_GET, 1, NULL, NULL, NULL, get_sessions},
    {"/browser/history", LWSHUMETH_GET, 1, NULL, NULL, NULL, get_history},
    {"/browser/limits", LWSHUMETH_GET, 1, NULL, NULL, NULL, get_limits},
    {"/browser/usage", LWSHUMETH_GET, 1, NULL, NULL, NULL, get_usage},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* A client's X-Request-Id is kept if it is 1..64 of [A-Za-z0-9._-]. */
static int request_id_ok(const char *id) {
  size_t n = strlen(id);
  return n >= 1 && n <= PB_REQUEST_ID_MAX &&
         strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345"
                    "6789._-") == n;
}

static void request_id_new(char *out) {
  unsigned char b[12];
  if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
    static atomic_ullong seq;
    unsigned long long v =
        atomic_fetch_add(&seq, 1) ^ (unsigned long long)pb_wall_ms() << 16;
    memcpy(b, &v, sizeof(v));
    memset(b + sizeof(v), 0, sizeof(b) - sizeof(v));
  }
  for (size_t i = 0; i < sizeof(b); i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static req *req_new(pb_server *s, struct lws *wsi) {
  req *r = calloc(1, sizeof(*r));
  if (!r)
    return NULL;
  atomic_init(&r->refs, 1);
  atomic_init(&r->canceled, 0);
  atomic_init(&r->usage_id, 0);
  atomic_init(&r->auth_dead, 0);
  atomic_init(&r->stage, 0);
  r->srv = s;
  r->wsi = wsi;
  r->route_label = "other";
  r->t0 = pb_now_ms();
  pb_buf_init(&r->body, PB_BODY_MAX);
  char id[256];
  int n =
      wsi ? lws_hdr_custom_copy(wsi, id, sizeof(id), "x-request-id:", 13) : -1;
  if (n > 0 && request_id_ok(id))
    pb_strlcpy(r->rid, id, sizeof(r->rid));
  else
    request_id_new(r->rid);
  return r;
}

static void req_unref(req *r) {
  if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
    return;
  pb_session_unref(r->job.session);
  pb_buf_free(&r->body);
  cJSON_Delete(r->json);
  pb_op_result_free(&r->res);
  free(r);
}

/* Sets a JSON error answer and asks for the socket to be writable. */
static void answer_error(req *r, pb_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* An answer is "unsent" from when it is ready until written or its client
 * is gone; shutdown waits for these too, not only for running jobs. */
static void unsent_done(req *r) {
  if (!r->unsent)
    return;
  r->unsent = 0;
  r->srv->unsent--;
}

static void answer_ready(req *r) {
  r->ready = 1;
  if (r->wsi) {
    if (!r->unsent) {
      r->unsent = 1;
      r->srv->unsent++;
    }
    lws_callback_on_writable(r->wsi);
  }
}

/* Makes res, failed with res->err, an error answer: its status from the
 * table (http/errors.c) and the JSON envelope. */
static void set_error_body(pb_op_result *res, const char *rid) {
  res->status = pb_http_status(res->err);
  if (!res->message[0])
    pb_strlcpy(res->message, pb_http_message(res->err), sizeof(res->message));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "success", 0);
  cJSON *errs = cJSON_AddArrayToObject(o, "errors");
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "code", pb_code_text(res->err));
  cJSON_AddStringToObject(e, "message", res->message);
  cJSON_AddItemToArray(errs, e);
  if (rid && *rid)
    cJSON_AddStringToObject(o, "requestId", rid);
  free(res->body);
  res->body = cJSON_PrintUnformatted(o);
  res->body_len = res->body ? strlen(res->body) : 0;
  res->content_type = "application/json";
  cJSON_Delete(o);
}

static void answer_error(req *r, pb_code code, const char *fmt, ...) {
  r->res.err = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->res.message, sizeof(r->res.message), fmt, ap);
  va_end(ap);
  set_error_body(&r->res, r->rid);
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
  cJSON_AddStringToObject(o, "status",
                          s->draining         ? "draining"
                          : st.browsers_alive ? "ok"
                                              : "degraded");
  cJSON_AddNumberToObject(o, "browsers", st.browsers_configured);
  cJSON_AddNumberToObject(o, "browsersAlive", st.browsers_alive);
  cJSON_AddNumberToObject(o, "pagesReady", st.pages_ready);
  cJSON *restarts = cJSON_AddObjectToObject(o, "browserRestarts");
  static const char *const causes[PB_POOL_NCAUSES] = {
      "crash", "recycleJobs", "recycleRss", "recycleAge"};
  for (int i = 0; i < PB_POOL_NCAUSES; i++)
    cJSON_AddNumberToObject(restarts, causes[i], (double)st.restarts[i]);
  /* Every Chromium reaches the network only through the egress proxy (and
   * the URL is checked before navigation); "netns+proxy": each one also
   * runs in a network namespace whose only way out is that proxy. */
  const pb_ops_env *env = s->o.ops;
  cJSON_AddStringToObject(o, "egress",
                          env->egress_mode ? env->egress_mode : "proxy");
  cJSON_AddStringToObject(o, "isolation",
                          env->isolation_mode ? env->isolation_mode : "none");
  cJSON *mem = cJSON_AddObjectToObject(o, "browserMemory");
  cJSON_AddStringToObject(mem, "mode",
                          env->memory_mode ? env->memory_mode : "off");
  cJSON_AddNumberToObject(mem, "limitMb", env->memory_limit_mb);
  answer_json(r, o);
}

static int header(struct lws *wsi, enum lws_token_indexes h, char *buf,
                  int len);

/* 1 when the two strings are equal, in time that depends only on b's
 * length (b: the secret). */
static int secret_equal(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  unsigned char d = na != nb;
  for (size_t i = 0; i < nb; i++)
    d |= (unsigned char)(b[i] ^ (i < na ? a[i] : 0));
  return d == 0;
}

/* The peer is on this host: 127.0.0.0/8, ::1 or ::ffff:127.x. */
static int peer_is_loopback(struct lws *wsi) {
  char ip[64];
  const char *p = lws_get_peer_simple(wsi, ip, sizeof(ip));
  if (!p)
    return 0;
  if (!strncmp(p, "::ffff:", 7))
    p += 7;
  return !strncmp(p, "127.", 4) || !strcmp(p, "::1");
}

static void get_metrics(pb_server *s, req *r) {
  /* The pool's pids and memory help an attacker aim: only the operator's
   * scraper (its own token), or a local one when none is set. */
  int authed = 0;
  if (s->o.metrics_token && *s->o.metrics_token) {
    char hdr[512];
    if (!header(r->wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr)) ||
        strncasecmp(hdr, "Bearer ", 7) ||
        !secret_equal(hdr + 7, s->o.metrics_token)) {
      answer_error(
          r, PB_CODE_UNAUTHORIZED,
          "/metrics needs 'Authorization: Bearer <the --metrics-token>'");
      return;
    }
    authed = 1;
  } else if (!peer_is_loopback(r->wsi)) {
    answer_error(
        r, PB_CODE_FORBIDDEN,
        "/metrics answers only local peers unless --metrics-token is set");
    return;
  }
  pb_metrics_gauges g;
  memset(&g, 0, sizeof(g));
  pb_jobs_counts(s->o.jobs, &g.jobs_running, &g.queue_depth);
  pb_pool_stats st;
  pb_pool_get_stats(s->o.ops->pool, &st);
  g.browsers_alive = st.browsers_alive;
  g.pages_ready = st.pages_ready;
  g.browsers_launched = st.browsers_launched;
  g.browsers_crashed = st.browsers_crashed;
  for (int i = 0; i < 4 && i < PB_POOL_NCAUSES; i++)
    g.restarts[i] = st.restarts[i];
  g.spares = st.spares;
  pb_pool_browser pbs[64];
  pb_metrics_browser mbs[64];
  g.nbrowsers = pb_pool_browsers(s->o.ops->pool, pbs, 64);
  for (int i = 0; i < g.nbrowsers; i++) {
    mbs[i].index = pbs[i].index;
    mbs[i].pid = authed ? pbs[i].pid : 0;
    mbs[i].spare = pbs[i].spare;
    mbs[i].rss_kb = pbs[i].rss_kb;
  }
  g.browsers = mbs;
  if (s->o.ops->sessions)
    pb_sessions_states(s->o.ops->sessions, &g.sessions_connected,
                       &g.sessions_idle, &g.sessions_ending);
  if (pb_usage_open_count(s->o.store, &g.usage_open))
    g.usage_open = -1;
  g.requests_live = s->inflight;
  if (s->o.ops->egress_counts) {
    s->o.ops->egress_counts(s->o.ops->egress_counts_data, g.egress,
                            &g.egress_conns);
    g.egress_known = 1;
  }
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

static pb_code auth_refusal(int rc, const char **message);

/* The answer of a job whose token was revoked, or its account disabled or
 * deleted, or that expired, while it waited or ran (job thread). */
static void auth_dead_fail(req *r) {
  const char *message;
  pb_code code = auth_refusal(atomic_load(&r->auth_dead), &message);
  free(r->res.body);
  r->res.body = NULL;
  r->res.body_len = 0;
  pb_op_fail(&r->res, code, "%s", message);
}

static void job_main(void *arg) {
  req *r = arg;
  pb_server *s = r->srv;
  int queued = 0;
  if (!atomic_compare_exchange_strong(&r->stage, &queued, 1))
    return;
  int64_t usage_id = 0;
  int64_t start_wall = pb_wall_ms();
  pb_metrics_queue_wait(s->metrics, pb_now_ms() - r->t_submit);
  int urc = r->route->kind
                ? pb_usage_begin(s->o.store, r->auth.account_id, r->route->kind,
                                 start_wall, &usage_id)
                : PB_ENOTFOUND;
  if (!urc)
    atomic_store(&r->usage_id, usage_id);
  if (urc && r->route->kind)
    PB_ERR("usage: could not open a ledger row: %s", pb_strerror(urc));
  if (urc && r->route->kind) {
    /* Billable work is never done unmetered. */
    if (urc == PB_ENOSPACE) {
      pb_metrics_reject(s->metrics, "storage_full");
      pb_op_fail(&r->res, PB_CODE_STORAGE_FULL,
                 "the service's disk is full; retry later");
    } else {
      pb_op_fail(&r->res, PB_CODE_SERVICE_UNAVAILABLE,
                 "the usage ledger cannot be written; retry later");
    }
  } else if (atomic_load(&r->auth_dead)) {
    auth_dead_fail(r); /* revoked, disabled or expired while queued */
  } else if (pb_now_ms() >= r->job.deadline_ms) {
    pb_op_fail(&r->res, PB_CODE_TIMEOUT,
               "the job waited in the queue past its timeout");
  } else if (r->route->op(&r->job, &r->res) && r->res.err == PB_CODE_NONE) {
    pb_op_fail(&r->res, PB_CODE_INTERNAL_ERROR, "the operation failed");
  }
  if (atomic_load(&r->auth_dead) &&
      !(r->res.err && pb_http_status(r->res.err) == 401))
    auth_dead_fail(r);
  if (r->res.err)
    set_error_body(&r->res, r->rid);
  if (!urc) {
    int64_t end = pb_wall_ms();
    urc = pb_usage_end(s->o.store, usage_id, end, r->res.status);
    if (urc)
      PB_ERR("usage: could not close ledger row %lld: %s", (long long)usage_id,
             pb_strerror(urc));
    if (urc && urc != PB_EEXIST && urc != PB_ENOTFOUND) {
      pthread_mutex_lock(&s->done_mu);
      if (s->nunclosed < (int)(sizeof(s->unclosed) / sizeof(s->unclosed[0])))
        s->unclosed[s->nunclosed++] =
            (struct unclosed){usage_id, end, r->res.status};
      pthread_mutex_unlock(&s->done_mu);
    }
  }
  pb_metrics_job(s->metrics, pb_now_ms() - r->t0);
}

/* After the job stopped counting as running: hand the answer over, then do
 * what the job left for after it. */
static void job_after(void *arg) {
  req *r = arg;
  pb_server *s = r->srv;
  /* Work left for after the answer keeps the request alive until done. */
  int deferred = r->job.deferred != NULL;
  if (deferred)
    atomic_fetch_add(&r->refs, 1);
  pthread_mutex_lock(&s->done_mu);
  r->next_done = s->done;
  s->done = r;
  pthread_mutex_unlock(&s->done_mu);
  lws_cancel_service(s->ctx);
  if (deferred) {
    pb_job_finish_deferred(&r->job);
    req_unref(r);
  }
}

static void live_unlink(req *r) {
  if (!r->prev_live)
    return;
  *r->prev_live = r->next_live;
  if (r->next_live)
    r->next_live->prev_live = r->prev_live;
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
    action_done(s, r);
    live_unlink(r);
    answer_ready(r);
    req_unref(r); /* the job's reference */
  }
}

static int header(struct lws *wsi, enum lws_token_indexes h, char *buf,
                  int len) {
  buf[0] = '\0';
  if (lws_hdr_total_length(wsi, h) <= 0)
    return 0;
  return lws_hdr_copy(wsi, buf, len, h) > 0;
}

/* ?token= from the raw request line, where lws has not split the query
 * (WebSocket upgrades). */
static int query_token(struct lws *wsi, char *out, size_t cap) {
  char uri[1024];
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
    return 0;
  const char *q = strchr(uri, '?');
  while (q) {
    q++;
    if (!strncmp(q, "token=", 6)) {
      size_t n = strcspn(q + 6, "&");
      if (n == 0 || n >= cap)
        return 0;
      memcpy(out, q + 6, n);
      out[n] = '\0';
      return 1;
    }
    q = strchr(q, '&');
  }
  return 0;
}

/* The answer for a token the store refused (rc from pb_token_check). */
static pb_code auth_refusal(int rc, const char **message) {
  switch (rc) {
  case PB_EEXPIRED:
    *message = "the token expired; create a new one";
    return PB_CODE_EXPIRED_TOKEN;
  case PB_EREVOKED:
    *message = "the token was revoked";
    return PB_CODE_TOKEN_REVOKED;
  case PB_EDISABLED:
    *message = "the account is disabled";
    return PB_CODE_ACCOUNT_DISABLED;
  case PB_EDELETED:
    *message = "the account was deleted";
    return PB_CODE_ACCOUNT_DELETED;
  case PB_ESTORE:
  case PB_ENOSPACE:
    *message = "the account store failed";
    return PB_CODE_INTERNAL_ERROR;
  default:
    *message = "the token is not valid";
    return PB_CODE_INVALID_TOKEN;
  }
}

/* Auth from `Authorization: Bearer T`, or `?token=T` where query_ok (the
 * session WebSocket and discovery URLs, for clients that cannot send a
 * header: anywhere else a token in a URL ends up in logs and histories).
 * 0 or an answer sent. */
static int authenticate(pb_server *s, req *r, struct lws *wsi, int query_ok) {
  char hdr[512], *tok = NULL;
  if (header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr))) {
    if (strncasecmp(hdr, "Bearer ", 7)) {
      answer_error(r, PB_CODE_UNAUTHORIZED,
                   "use 'Authorization: Bearer <token>'");
      return -1;
    }
    tok = hdr + 7;
    while (*tok == ' ')
      tok++;
  } else if (query_token(wsi, hdr, sizeof(hdr)) ||
             lws_get_urlarg_by_name(wsi, "token=", hdr, sizeof(hdr))) {
    if (!query_ok) {
      answer_error(r, PB_CODE_UNAUTHORIZED,
                   "?token= is accepted only on the session WebSocket and "
                   "discovery URLs; "
                   "send 'Authorization: Bearer <token>'");
      return -1;
    }
    tok = hdr;
    /* During a WebSocket upgrade lws hands back the whole "token=..." arg. */
    if (!strncmp(tok, "token=", 6))
      tok += 6;
  }
  if (!tok || !*tok) {
    answer_error(r, PB_CODE_UNAUTHORIZED,
                 "a token is required: 'Authorization: Bearer <token>'");
    return -1;
  }
  int rc = pb_token_check(s->o.store, tok, pb_wall_ms(), &r->auth);
  if (rc) {
    const char *message;
    pb_code code = auth_refusal(rc, &message);
    answer_error(r, code, "%s", message);
    return -1;
  }
  return 0;
}

#define SESSIONS_PREFIX "/browser/sessions/"
#define TRACES_PREFIX "/browser/traces/"

static struct acct *acct_of(pb_server *s, int64_t account_id) {
  for (size_t i = 0; i < s->naccts; i++)
    if (s->accts[i].account_id == account_id)
      return &s->accts[i];
  if (s->naccts == s->aaccts) {
    size_t na = s->aaccts ? s->aaccts * 2 : 16;
    struct acct *n = realloc(s->accts, na * sizeof(*n));
    if (!n)
      return NULL;
    s->accts = n;
    s->aaccts = na;
  }
  struct acct *a = &s->accts[s->naccts++];
  memset(a, 0, sizeof(*a));
  a->account_id = account_id;
  return a;
}

static int retry_secs(int64_t ms) { return (int)((ms + 999) / 1000); }

static int admit_action(pb_server *s, req *r, struct acct *a, int64_t now,
                        int concurrent);

/* Per-account admission, before the shared job queue: one account at its
 * limit is refused at once and never delays another. 0 to go on. */
static int admit(pb_server *s, req *r) {
  if (pb_limits_get(s->o.store, r->auth.account_id, &r->limits))
    pb_limits_default(&r->limits);
  struct acct *a = acct_of(s, r->auth.account_id);
  if (!a) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return -1;
  }
  int64_t now = pb_now_ms(), wait = 0;
  if (r->limits.browser_ms_per_day > 0) {
    /* The quota is per UTC day, over what the ledger has closed so far. */
    int64_t wall = pb_wall_ms(), day = wall - wall % 86400000LL, used = 0,
            count = 0;
    if (pb_usage_sum(s->o.store, r->auth.account_id, day, day + 86400000LL,
                     &used, &count) == 0 &&
        used >= r->limits.browser_ms_per_day) {
      r->retry_after = retry_secs(day + 86400000LL - wall);
      pb_metrics_reject(s->metrics, "quota");
      answer_error(r, PB_CODE_LIMIT_EXCEEDED,
                   "the account used its %lld browser ms for today",
                   (long long)r->limits.browser_ms_per_day);
      return -1;
    }
  }
  if (r->route->op == pb_op_acquire) {
    const pb_limits *l = &r->limits;
    const cJSON *ka = cJSON_GetObjectItemCaseSensitive(r->json, "keep_alive");
    if (cJSON_IsNumber(ka) && ka->valuedouble > (double)l->keep_alive_max_ms) {
      answer_error(r, PB_CODE_INVALID_REQUEST,
                   "keep_alive: at most %lld ms for this account",
                   (long long)l->keep_alive_max_ms);
      return -1;
    }
    if (pb_sessions_count(s->o.ops->sessions, r->auth.account_id) >=
        l->max_concurrent_sessions) {
      r->retry_after = 5;
      pb_metrics_reject(s->metrics, "sessions");
      answer_error(r, PB_CODE_LIMIT_EXCEEDED,
                   "the account already has %d live sessions (its maximum)",
                   l->max_concurrent_sessions);
      return -1;
    }
    if (!pb_bucket_take(&a->acquisitions, now,
                        l->acquisitions_per_minute / 60.0,
                        l->acquisitions_per_minute, &wait)) {
      r->retry_after = retry_secs(wait);
      pb_metrics_reject(s->metrics, "rate_limited");
      answer_error(r, PB_CODE_RATE_LIMITED,
                   "at most %d acquisitions per minute; next in %lld ms",
                   l->acquisitions_per_minute, (long long)wait);
      return -1;
    }
    return 0;
  }
  /* A quick action, maybe in one of the account's sessions. A full disk is
   * answered now, before any work that could not be metered or kept. */
  const char *dir = pb_trace_store_dir(s->o.ops->traces);
  struct statvfs vfs;
  if (dir && r->route->kind && statvfs(dir, &vfs) == 0) {
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    int traced =
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "trace"));
    if (avail < PB_DISK_RESERVE_BYTES ||
        (traced && avail < PB_TRACE_RESERVE_BYTES)) {
      r->retry_after = 30;
      pb_metrics_reject(s->metrics, "storage_full");
      answer_error(r, PB_CODE_STORAGE_FULL,
                   "the service's disk is full (%llu KiB free)%s; retry later",
                   avail / 1024, traced ? ": no room for a trace" : "");
      return -1;
    }
  }
  /* A quick action, maybe in one of the account's sessions. */
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(r->json, "sessionId");
  if (cJSON_IsString(sid)) {
    r->job.session = pb_sessions_get(s->o.ops->sessions, sid->valuestring,
                                     r->auth.account_id);
    if (!r->job.session) {
      answer_error(r, PB_CODE_SESSION_NOT_FOUND,
                   "no live session %s for this account", sid->valuestring);
      return -1;
    }
  }
  return admit_action(s, r, a, now, 1);
}

/* The account's quick-action rate (and, when concurrent, one of its
 * concurrent actions, given back by action_done). 0 to go on. */
static int admit_action(pb_server *s, req *r, struct acct *a, int64_t now,
                        int concurrent) {
  int64_t wait = 0;
  if (concurrent && a->actions_running >= r->limits.concurrent_quick_actions) {
    r->retry_after = 1;
    pb_metrics_reject(s->metrics, "concurrency");
    answer_error(r, PB_CODE_LIMIT_EXCEEDED,
                 "the account already runs %d quick actions (its maximum)",
                 r->limits.concurrent_quick_actions);
    return -1;
  }
  if (!pb_bucket_take(&a->actions, now, r->limits.quick_actions_per_second,
                      r->limits.quick_actions_per_second, &wait)) {
    r->retry_after = retry_secs(wait);
    pb_metrics_reject(s->metrics, "rate_limited");
    answer_error(r, PB_CODE_RATE_LIMITED,
                 "at most %d quick actions per second; next in %lld ms",
                 r->limits.quick_actions_per_second, (long long)wait);
    return -1;
  }
  if (concurrent) {
    a->actions_running++;
    r->counted_action = 1;
  }
  return 0;
}

/* Admission of the account's light routes that still run a job (reading a
 * trace, releasing a session): the same per-account rate as quick actions,
 * so one account's flood is refused at once and never queues ahead of
 * another's work. Releases skip the concurrency cap: an account at its cap
 * must still be able to let a session go. 0 to go on. */
static int admit_light(pb_server *s, req *r, int concurrent) {
  if (pb_limits_get(s->o.store, r->auth.account_id, &r->limits))
    pb_limits_default(&r->limits);
  struct acct *a = acct_of(s, r->auth.account_id);
  if (!a) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return -1;
  }
  return admit_action(s, r, a, pb_now_ms(), concurrent);
}

static void action_done(pb_server *s, req *r) {
  if (!r->counted_action)
    return;
  r->counted_action = 0;
  struct acct *a = acct_of(s, r->auth.account_id);
  if (a && a->actions_running > 0)
    a->actions_running--;
}

/* "ws://host" as the client reached us, for webSocketDebuggerUrl. */
static void set_ws_base(req *r, struct lws *wsi) {
  char host[256];
  if (!header(wsi, WSI_TOKEN_HOST, host, sizeof(host)) ||
      strpbrk(host, "/\"\\ <>"))
    pb_strlcpy(host, "127.0.0.1", sizeof(host));
  snprintf(r->ws_base, sizeof(r->ws_base), "ws://%s", host);
}

static cJSON *session_json(const pb_session_info *i) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "sessionId", i->id);
  cJSON_AddNumberToObject(o, "startTime", (double)i->start_wall_ms);
  if (i->connected) {
    cJSON_AddStringToObject(o, "connectionId", i->connection_id);
    cJSON_AddNumberToObject(o, "connectionStartTime",
                            (double)i->connection_start_wall_ms);
  }
  cJSON_AddNumberToObject(o, "lastActivity", (double)i->last_activity_wall_ms);
  cJSON_AddNumberToObject(o, "keepAliveMs", (double)i->keep_alive_ms);
  return o;
}

static void get_sessions(pb_server *s, req *r) {
  pb_session_info *v = NULL;
  size_t n = 0;
  if (pb_sessions_list(s->o.ops->sessions, r->auth.account_id, &v, &n)) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++)
    cJSON_AddItemToArray(arr, session_json(&v[i]));
  free(v);
  answer_json(r, arr);
}

static void get_history(pb_server *s, req *r) {
  pb_session_rec *v = NULL;
  size_t n = 0;
  if (pb_session_history(s->o.store, r->auth.account_id, 100, &v, &n)) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the account store failed");
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sessionId", v[i].id);
    cJSON_AddNumberToObject(o, "startTime", (double)v[i].start_ms);
    cJSON_AddNumberToObject(o, "endTime", (double)v[i].end_ms);
    cJSON_AddStringToObject(o, "closeReason", v[i].reason);
    cJSON_AddStringToObject(o, "closeReasonText", v[i].reason_text);
    cJSON_AddNumberToObject(o, "browserMs", (double)v[i].browser_ms);
    cJSON_AddItemToArray(arr, o);
  }
  free(v);
  answer_json(r, arr);
}

static void get_limits(pb_server *s, req *r) {
  pb_limits l;
  if (pb_limits_get(s->o.store, r->auth.account_id, &l))
    pb_limits_default(&l);
  pb_session_info *v = NULL;
  size_t n = 0;
  pb_sessions_list(s->o.ops->sessions, r->auth.account_id, &v, &n);
  struct acct *a = acct_of(s, r->auth.account_id);
  int64_t wait = 0, avail = l.acquisitions_per_minute;
  if (a)
    pb_bucket_peek(&a->acquisitions, pb_now_ms(),
                   l.acquisitions_per_minute / 60.0, l.acquisitions_per_minute,
                   &avail, &wait);
  int tokens = (int)avail;
  int free_slots = l.max_concurrent_sessions - (int)n;
  if (free_slots < 0)
    free_slots = 0;
  cJSON *o = cJSON_CreateObject();
  cJSON *act = cJSON_AddArrayToObject(o, "activeSessions");
  for (size_t i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", v[i].id);
    cJSON_AddItemToArray(act, e);
  }
  free(v);
  cJSON_AddNumberToObject(o, "maxConcurrentSessions",
                          l.max_concurrent_sessions);
  cJSON_AddNumberToObject(o, "allowedBrowserAcquisitions",
                          tokens < free_slots ? tokens : free_slots);
  cJSON_AddNumberToObject(o, "timeUntilNextAllowedBrowserAcquisition",
                          tokens > 0 ? 0 : (double)wait);
  cJSON_AddNumberToObject(o, "acquisitionsPerMinute",
                          l.acquisitions_per_minute);
  cJSON_AddNumberToObject(o, "keepAliveMaxMs", (double)l.keep_alive_max_ms);
  cJSON_AddNumberToObject(o, "quickActionsPerSecond",
                          l.quick_actions_per_second);
  cJSON_AddNumberToObject(o, "concurrentQuickActions",
                          l.concurrent_quick_actions);
  answer_json(r, o);
}

static int64_t urlarg_ms(struct lws *wsi, const char *name, int64_t def) {
  char v[64];
  long long x;
  if (!lws_get_urlarg_by_name(wsi, name, v, sizeof(v)) ||
      pb_parse_int(v, 0, INT64_MAX, &x))
    return def;
  return x;
}

static void get_usage(pb_server *s, req *r) {
  int64_t to = urlarg_ms(r->wsi, "to=", pb_wall_ms() + 1);
  int64_t from = urlarg_ms(r->wsi, "from=", to - 30LL * 24 * 3600 * 1000);
  int64_t ms = 0, count = 0;
  if (pb_usage_sum(s->o.store, r->auth.account_id, from, to, &ms, &count)) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the account store failed");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "from", (double)from);
  cJSON_AddNumberToObject(o, "to", (double)to);
  cJSON_AddNumberToObject(o, "browserMs", (double)ms);
  cJSON_AddNumberToObject(o, "count", (double)count);
  answer_json(r, o);
}

/* Copies the id part of "ID/rest" into id; returns the rest ("" or "/..."). */
static const char *split_session_path(const char *p, char *id, size_t cap) {
  size_t n = strcspn(p, "/");
  if (n == 0 || n >= cap)
    return NULL;
  memcpy(id, p, n);
  id[n] = '\0';
  return p + n;
}

/* CDP discovery for clients that start from an http URL (Playwright's
 * connectOverCDP, chrome-remote-interface). */
static void session_discovery(pb_server *s, req *r, pb_session *ss,
                              const char *what) {
  (void)s;
  char ws[512];
  snprintf(ws, sizeof(ws), "%s/browser/sessions/%s/devtools/browser",
           r->ws_base, pb_session_id(ss));
  if (!strcmp(what, "version")) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "Browser", "HeadlessChrome (ppod-browser)");
    cJSON_AddStringToObject(o, "Protocol-Version", "1.3");
    cJSON_AddStringToObject(o, "webSocketDebuggerUrl", ws);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(r->res.body);
    r->res.body = text;
  } else {
    /* Pages are listed by the browser itself over the WebSocket. */
    free(r->res.body);
    r->res.body = strdup("[]");
  }
  r->res.body_len = r->res.body ? strlen(r->res.body) : 0;
  r->res.content_type = "application/json";
  r->res.status = 200;
  answer_ready(r);
}

/* "{id}/json[/version|/list][/]" or "{id}/devtools/...": where a client that
 * cannot send a header (a browser's DevTools, some CDP libraries) starts. */
static int is_discovery(const char *rest_path) {
  char id[80];
  const char *rest = split_session_path(rest_path, id, sizeof(id));
  if (!rest)
    return 0;
  return !strcmp(rest, "/json") || !strcmp(rest, "/json/") ||
         !strcmp(rest, "/json/version") || !strcmp(rest, "/json/version/") ||
         !strcmp(rest, "/json/list") || !strcmp(rest, "/json/list/") ||
         !strncmp(rest, "/devtools/", 10);
}

static void session_route(pb_server *s, req *r, int method,
                          const char *rest_path) {
  char id[80];
  const char *rest = split_session_path(rest_path, id, sizeof(id));
  pb_session *ss =
      rest ? pb_sessions_get(s->o.ops->sessions, id, r->auth.account_id) : NULL;
  if (!ss) {
    answer_error(r, PB_CODE_SESSION_NOT_FOUND,
                 "no live session %s for this account", rest ? id : "");
    return;
  }
  if (!*rest && method == LWSHUMETH_DELETE) {
    /* Releasing waits for the browser to go: a job, not the I/O thread. */
    static const route release_route = {"/browser/sessions/{id}",
                                        LWSHUMETH_DELETE,
                                        1,
                                        NULL,
                                        NULL,
                                        pb_op_release,
                                        NULL};
    r->route = &release_route;
    r->json = cJSON_CreateObject();
    cJSON_AddStringToObject(r->json, "sessionId", id);
    if (!admit_light(s, r, 0))
      submit_job(s, r);
  } else if (method == LWSHUMETH_GET && (!strcmp(rest, "/json/version") ||
                                         !strcmp(rest, "/json/version/"))) {
    session_discovery(s, r, ss, "version");
  } else if (method == LWSHUMETH_GET &&
             (!strcmp(rest, "/json") || !strcmp(rest, "/json/") ||
              !strcmp(rest, "/json/list") || !strcmp(rest, "/json/list/"))) {
    session_discovery(s, r, ss, "list");
  } else if (!*rest && method == LWSHUMETH_GET) {
    pb_session_info *v = NULL;
    size_t n = 0;
    cJSON *found = NULL;
    pb_sessions_list(s->o.ops->sessions, r->auth.account_id, &v, &n);
    for (size_t i = 0; i < n; i++)
      if (!strcmp(v[i].id, id))
        found = session_json(&v[i]);
    free(v);
    if (found)
      answer_json(r, found);
    else
      answer_error(r, PB_CODE_SESSION_NOT_FOUND,
                   "no live session %s for this account", id);
  } else if (!strcmp(rest, "/devtools/browser")) {
    answer_error(r, PB_CODE_INVALID_REQUEST,
                 "connect to this URL with a WebSocket");
  } else {
    answer_error(r, PB_CODE_NOT_FOUND, "no route %s%s", SESSIONS_PREFIX,
                 rest_path);
  }
  pb_session_unref(ss);
}

static void start_job(pb_server *s, req *r) {
  if (r->body_too_big) {
    r->close_after = 1;
    answer_error(r, PB_CODE_BODY_TOO_LARGE, "the request body is over %u bytes",
                 PB_BODY_MAX);
    return;
  }
  char err[512];
  if (pb_json_text_check(r->body.data, r->body.len, err, sizeof(err))) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "%s", err);
    return;
  }
  const char *end = NULL;
  r->json = r->body.len
                ? cJSON_ParseWithLengthOpts(r->body.data, r->body.len, &end, 0)
                : NULL;
  if (!r->json) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "the body must be a JSON object");
    return;
  }
  if (pb_json_dup_keys(r->json, err, sizeof(err))) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "%s", err);
    return;
  }
  int rc = pb_schemas_validate(s->schemas, r->route->schema, r->json, err,
                               sizeof(err));
  if (rc) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "%s", err);
    return;
  }
  if (admit(s, r))
    return;
  submit_job(s, r);
}

/* Hands a validated, admitted request to the job queue (429 when full). */
static void submit_job(pb_server *s, req *r) {
  int rc;
  r->job.account_id = r->auth.account_id;
  r->job.limits = r->limits;
  pb_strlcpy(r->job.ws_base, r->ws_base, sizeof(r->job.ws_base));
  r->job.env = s->o.ops;
  pb_request_from_json(r->json, &r->job.opts);
  r->job.deadline_ms = pb_deadline_job(&r->job.opts, r->t0);
  r->job.canceled = &r->canceled;
  char fmt[32];
  const char *f =
      r->wsi ? lws_get_urlarg_by_name(r->wsi, "format=", fmt, sizeof(fmt))
             : NULL;
  r->job.format_junit = f && !strcmp(f, "junit");
  atomic_fetch_add(&r->refs, 1);
  r->t_submit = pb_now_ms();
  /* Keyed by account: the queue serves accounts fairly. */
  rc = pb_jobs_submit_keyed(s->o.jobs, r->auth.account_id, job_main, job_after,
                            r);
  if (rc) {
    atomic_fetch_sub(&r->refs, 1);
    action_done(s, r);
    if (rc == PB_EBUSY) {
      r->retry_after = 1;
      pb_metrics_reject(s->metrics, "queue_full");
      answer_error(
          r, PB_CODE_TOO_MANY_REQUESTS,
          "all browsers are busy and the queue is full; retry shortly");
    } else if (rc == PB_ENOMEM) {
      answer_error(r, PB_CODE_SERVICE_UNAVAILABLE,
                   "out of memory; retry shortly");
    } else {
      pb_metrics_reject(s->metrics, "draining");
      answer_error(r, PB_CODE_SHUTTING_DOWN, "the service is shutting down");
    }
    return;
  }
  s->inflight++;
  r->next_live = s->live;
  if (s->live)
    s->live->prev_live = &r->next_live;
  r->prev_live = &s->live;
  s->live = r;
}

/* The body did not arrive by its deadline: the connection is dropped (the
 * client is still sending, so an answer would not be read). */
static void body_too_slow(lws_sorted_usec_list_t *sul) {
  pss_t *pss = lws_container_of(sul, pss_t, body_sul);
  PB_INFO(
      "http: a request body was not complete in time; closing the connection");
  if (pss->body_wsi)
    lws_set_timeout(pss->body_wsi, PENDING_TIMEOUT_HTTP_CONTENT,
                    LWS_TO_KILL_ASYNC);
  pss->body_wsi = NULL;
}

static void body_deadline(pb_server *s, struct lws *wsi, pss_t *pss) {
  int ms = s->o.body_timeout_ms > 0 ? s->o.body_timeout_ms : PB_BODY_TIMEOUT_MS;
  pss->body_wsi = wsi;
  lws_sul_schedule(s->ctx, 0, &pss->body_sul, body_too_slow,
                   (lws_usec_t)ms * LWS_US_PER_MS);
}

static void on_request(pb_server *s, struct lws *wsi, pss_t *pss,
                       const char *path) {
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
  r->method = method;
  pb_strlcpy(r->path, path, sizeof(r->path));
  set_ws_base(r, wsi);
  /* Whatever the answer, a body that follows must arrive in time, and is
   * read to its end before the answer goes out (a refused one is dropped):
   * answering first would leave its bytes, chunked ones above all, to be
   * parsed as the next request on a kept-alive connection. */
  char clen[32], te[64];
  long long declared = 0;
  int has_cl = header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen));
  int has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
  if (has_te) {
    /* libwebsockets 4.1 does not decode chunked request bodies: it neither
     * delivers nor skips them, and their bytes would be read as the next
     * request. Refuse at once and close (RFC 9112 6.3: no framing known). */
    r->close_after = 1;
    int chunked =
        header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof(te)) &&
        !strcasecmp(te, "chunked");
    answer_error(
        r, PB_CODE_LENGTH_REQUIRED, "%s",
        chunked && !has_cl
            ? "send the request body with a Content-Length, not chunked"
            : "Transfer-Encoding is not accepted; send the body with a "
              "Content-Length");
    return;
  }
  if (has_cl && pb_parse_int(clen, 0, INT64_MAX, &declared))
    declared = -1;
  if (declared != 0) {
    r->body_pending =
        declared > 0; /* a length lws refused ends the connection */
    char ex[32];
    r->expect_continue = header(wsi, WSI_TOKEN_HTTP_EXPECT, ex, sizeof(ex)) &&
                         !strcasecmp(ex, "100-continue");
    body_deadline(s, wsi, pss);
  }
  /* A refusal made before a body that will not be read (too large to
   * drop) closes the connection instead. */
  int refuse_closes = declared < 0 || declared > PB_BODY_MAX;
  if (!strncmp(path, TRACES_PREFIX, sizeof(TRACES_PREFIX) - 1)) {
    r->route_label = "/browser/traces/{id}";
    if (authenticate(s, r, wsi, 0))
      return;
    if (method != LWSHUMETH_GET) {
      answer_error(r, PB_CODE_METHOD_NOT_ALLOWED, "traces are read with GET");
      return;
    }
    /* A job: the trace may still be being written. */
    static const route trace_route = {"/browser/traces/{id}",
                                      LWSHUMETH_GET,
                                      1,
                                      NULL,
                                      NULL,
                                      pb_op_trace,
                                      NULL};
    r->route = &trace_route;
    r->json = cJSON_CreateObject();
    cJSON_AddStringToObject(r->json, "id", path + sizeof(TRACES_PREFIX) - 1);
    if (!admit_light(s, r, 1))
      submit_job(s, r);
    return;
  }
  if (!strncmp(path, SESSIONS_PREFIX, sizeof(SESSIONS_PREFIX) - 1)) {
    r->route_label = "/browser/sessions/{id}";
    if (authenticate(s, r, wsi,
                     is_discovery(path + sizeof(SESSIONS_PREFIX) - 1)))
      return;
    session_route(s, r, method, path + sizeof(SESSIONS_PREFIX) - 1);
    return;
  }
  const route *rt = NULL;
  int path_known = 0;
  for (size_t i = 0; i < NROUTES; i++) {
    if (strcmp(routes[i].path, path))
      continue;
    path_known = 1;
    r->route_label = routes[i].path;
    if (routes[i].method == method)
      rt = &routes[i];
  }
  if (!path_known) {
    answer_error(r, PB_CODE_NOT_FOUND, "no route %s", path);
    return;
  }
  if (!rt) {
    r->close_after = refuse_closes;
    answer_error(r, PB_CODE_METHOD_NOT_ALLOWED, "%s does not take that method",
                 path);
    return;
  }
  r->route = rt;
  if (rt->get) {
    if (rt->auth && authenticate(s, r, wsi, 0))
      return;
    rt->get(s, r);
    return;
  }
  if (s->draining) {
    r->close_after = 1;
    pb_metrics_reject(s->metrics, "draining");
    answer_error(r, PB_CODE_SHUTTING_DOWN, "the service is shutting down");
    return;
  }
  if (rt->auth && authenticate(s, r, wsi, 0)) {
    r->close_after = refuse_closes;
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
    r->body_pending = 0;
    r->close_after = 1;
    answer_error(r, PB_CODE_BODY_TOO_LARGE, "the request body is over %u bytes",
                 PB_BODY_MAX);
    return;
  }
  if (len == 0 &&
      lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) <= 0) {
    start_job(s, r); /* no body will come */
    return;
  }
}

/* "2026-12-05T08:02:05.937Z" */
static void iso_now(char *ts, size_t cap) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           now.tv_nsec / 1000000);
}

/* One JSON object per line on stderr for each answered (or abandoned)
 * request: what an operator greps or ships to a log store. */
static void log_request(req *r, int status) {
  if (r->logged || pb_log_level < PB_LOG_INFO)
    return;
  r->logged = 1;
  static const char *const methods[] = {
      [LWSHUMETH_GET] = "GET",         [LWSHUMETH_POST] = "POST",
      [LWSHUMETH_OPTIONS] = "OPTIONS", [LWSHUMETH_PUT] = "PUT",
      [LWSHUMETH_PATCH] = "PATCH",     [LWSHUMETH_DELETE] = "DELETE",
      [LWSHUMETH_CONNECT] = "CONNECT", [LWSHUMETH_HEAD] = "HEAD"};
  const char *m =
      r->method >= 0 &&
              r->method < (int)(sizeof(methods) / sizeof(methods[0])) &&
              methods[r->method]
          ? methods[r->method]
          : "OTHER";
  char ts[96];
  iso_now(ts, sizeof(ts));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "ts", ts);
  cJSON_AddStringToObject(o, "level",
                          status >= 500 && status != 507 ? "error"
                          : status >= 400                ? "warn"
                                                         : "info");
  cJSON_AddStringToObject(o, "msg", "request");
  cJSON_AddStringToObject(o, "requestId", r->rid);
  cJSON_AddStringToObject(o, "method", m);
  cJSON_AddStringToObject(o, "path", r->path);
  cJSON_AddStringToObject(o, "route", r->route_label);
  cJSON_AddNumberToObject(o, "status", status);
  cJSON_AddNumberToObject(o, "ms", (double)(pb_now_ms() - r->t0));
  if (r->auth.account[0])
    cJSON_AddStringToObject(o, "account", r->auth.account);
  if (status >= 400 && r->res.err)
    cJSON_AddStringToObject(o, "error", pb_code_text(r->res.err));
  if (status == 499)
    cJSON_AddStringToObject(o, "error", "CLIENT_CLOSED");
  if (r->res.browser_ms > 0)
    cJSON_AddNumberToObject(o, "browserMs", (double)r->res.browser_ms);
  if (r->res.trace_id[0])
    cJSON_AddStringToObject(o, "traceId", r->res.trace_id);
  if (r->res.body_len && status < 499)
    cJSON_AddNumberToObject(o, "bytes", (double)r->res.body_len);
  char *line = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (line)
    fprintf(stderr, "%s\n", line);
  free(line);
}

/* Writes the answer: headers first, then the body in chunks. Returns -1 to
 * close the connection, 0 to keep it. */
static int write_answer(pb_server *s, struct lws *wsi, pss_t *pss) {
  req *r = pss->r;
  if (!r || !r->ready)
    return 0;
  if (r->body_pending) {
    /* A client waiting for 100 Continue (which lws does not send) gets a
     * refusal at once, and the connection ends rather than wait for a
     * body that may never come (RFC 9110 10.1.1). */
    if (!r->expect_continue || r->res.status < 400)
      return 0;
    r->close_after = 1;
  }
  if (!r->headers_sent) {
    unsigned char *start = s->wbuf + LWS_PRE, *p = start,
                  *end = s->wbuf + sizeof(s->wbuf) - 1;
    if (lws_add_http_common_headers(wsi, (unsigned int)r->res.status,
                                    r->res.content_type
                                        ? r->res.content_type
                                        : "application/octet-stream",
                                    r->res.body_len, &p, end))
      return -1;
    char v[32];
    int n;
    if (r->route && r->route->op && r->res.status == 200) {
      n = snprintf(v, sizeof(v), "%lld", (long long)r->res.browser_ms);
      if (lws_add_http_header_by_name(
              wsi, (const unsigned char *)"x-browser-ms-used:",
              (unsigned char *)v, n, &p, end))
        return -1;
    }
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-request-id:",
                                    (unsigned char *)r->rid,
                                    (int)strlen(r->rid), &p, end))
      return -1;
    if (r->res.trace_id[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-trace-id:",
                                    (unsigned char *)r->res.trace_id,
                                    (int)strlen(r->res.trace_id), &p, end))
      return -1;
    if (r->retry_after) {
      n = snprintf(v, sizeof(v), "%d", r->retry_after);
      if (lws_add_http_header_by_name(
              wsi, (const unsigned char *)"retry-after:", (unsigned char *)v, n,
              &p, end))
        return -1;
    }
    if (r->close_after && lws_add_http_header_by_token(
                              wsi, WSI_TOKEN_CONNECTION,
                              (const unsigned char *)"close", 5, &p, end))
      return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
      return -1;
    r->headers_sent = 1;
    pb_metrics_request(s->metrics, r->route_label, r->res.status);
    log_request(r, r->res.status);
    if (r->res.body_len) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  } else if (r->sent < r->res.body_len) {
    size_t n = r->res.body_len - r->sent;
    if (n > CHUNK)
      n = CHUNK;
    memcpy(s->wbuf + LWS_PRE, r->res.body + r->sent, n);
    int last = r->sent + n == r->res.body_len;
    if (lws_write(wsi, s->wbuf + LWS_PRE, n,
                  last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
      return -1;
    r->sent += n;
    if (!last) {
      lws_callback_on_writable(wsi);
      return 0;
    }
  }
  int close_after = r->close_after;
  unsent_done(r);
  pss->r = NULL;
  r->wsi = NULL; /* answered: its job may still hand it back later */
  req_unref(r);
  if (close_after)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- CDP over WebSocket for acquired sessions ---- */

static void pending_ws_drop(pb_server *s, struct lws *wsi, pb_session **taken,
                            pb_auth *auth) {
  for (int i = 0; i < s->npending_ws; i++)
    if (s->pending_ws[i].wsi == wsi) {
      pb_session *ss = s->pending_ws[i].session;
      if (auth)
        *auth = s->pending_ws[i].auth;
      s->pending_ws[i] = s->pending_ws[--s->npending_ws];
      if (taken) {
        *taken = ss;
      } else {
        pb_session_detach(ss, wsi);
        pb_session_unref(ss);
      }
      return;
    }
}

/* Answers a refused upgrade with the JSON error envelope, and logs it as one
 * JSON line like a request's (account and session when known, may be NULL). */
static int ws_refuse(struct lws *wsi, const char *account, const char *session,
                     pb_code err, const char *message) {
  int status = pb_http_status(err);
  const char *code = pb_code_text(err);
  char body[512], rid[PB_REQUEST_ID_MAX + 1];
  int k = lws_hdr_custom_copy(wsi, body, sizeof(body), "x-request-id:", 13);
  if (k > 0 && request_id_ok(body))
    pb_strlcpy(rid, body, sizeof(rid));
  else
    request_id_new(rid);
  if (pb_log_level >= PB_LOG_WARN) {
    char ts[96], path[128] = "";
    iso_now(ts, sizeof(ts));
    char uri[512];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0) {
      uri[strcspn(uri, "?")] = '\0'; /* never log a ?token= */
      pb_strlcpy(path, uri, sizeof(path));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "level", status >= 500 ? "error" : "warn");
    cJSON_AddStringToObject(o, "msg", "websocket refused");
    cJSON_AddStringToObject(o, "requestId", rid);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "reason", message);
    if (account && *account)
      cJSON_AddStringToObject(o, "account", account);
    if (session && *session)
      cJSON_AddStringToObject(o, "session", session);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line)
      fprintf(stderr, "%s\n", line);
    free(line);
  }
  int n = snprintf(body, sizeof(body),
                   "{\"success\":false,\"errors\":[{\"code\":\"%s\","
                   "\"message\":\"%s\"}],\"requestId\":\"%s\"}",
                   code, message, rid);
  unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                                     *end = buf + sizeof(buf) - 1;
  if (lws_add_http_common_headers(wsi, (unsigned int)status, "application/json",
                                  (lws_filepos_t)n, &p, end) ||
      lws_add_http_header_by_name(
          wsi, (const unsigned char *)"x-request-id:", (unsigned char *)rid,
          (int)strlen(rid), &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL);
  return 1;
}

/* An upgrade to /browser/sessions/{id}/devtools/browser: auth, ownership and
 * one client at a time are settled before the handshake is answered. */
static int ws_confirm(pb_server *s, struct lws *wsi) {
  char uri[512];
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 ||
      strncmp(uri, SESSIONS_PREFIX, sizeof(SESSIONS_PREFIX) - 1))
    return ws_refuse(
        wsi, NULL, NULL, PB_CODE_NOT_FOUND,
        "WebSockets are served at /browser/sessions/{id}/devtools/browser");
  char id[80];
  const char *rest =
      split_session_path(uri + sizeof(SESSIONS_PREFIX) - 1, id, sizeof(id));
  if (!rest || strncmp(rest, "/devtools/browser", 17))
    return ws_refuse(
        wsi, NULL, rest ? id : NULL, PB_CODE_NOT_FOUND,
        "WebSockets are served at /browser/sessions/{id}/devtools/browser");
  if (s->draining)
    return ws_refuse(wsi, NULL, id, PB_CODE_SHUTTING_DOWN,
                     "the service is shutting down");
  req tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.srv = s;
  if (authenticate(s, &tmp, wsi, 1)) {
    int rc = ws_refuse(wsi, tmp.auth.account[0] ? tmp.auth.account : NULL, id,
                       tmp.res.err, tmp.res.message);
    pb_op_result_free(&tmp.res);
    return rc;
  }
  pb_session *ss = pb_sessions_get(s->o.ops->sessions, id, tmp.auth.account_id);
  if (!ss)
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_NOT_FOUND,
                     "no live session with that id for this account");
  if (s->npending_ws ==
      (int)(sizeof(s->pending_ws) / sizeof(s->pending_ws[0]))) {
    pb_session_unref(ss);
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_BUSY,
                     "too many connections being set up; retry");
  }
  int rc = pb_session_attach(ss, wsi);
  if (rc) {
    pb_session_unref(ss);
    if (rc == PB_EBUSY)
      return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_IN_USE,
                       "another client is connected to this session");
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_NOT_FOUND,
                     "the session ended");
  }
  s->pending_ws[s->npending_ws].wsi = wsi;
  s->pending_ws[s->npending_ws].session = ss;
  s->pending_ws[s->npending_ws].auth = tmp.auth;
  s->npending_ws++;
  return 0;
}

static int ws_receive(pss_t *pss, struct lws *wsi, const void *in, size_t len) {
  if (!pss->ws)
    return -1;
  if (!pss->rx_too_big && pb_buf_append(&pss->rx, in, len))
    pss->rx_too_big = 1;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
    return 0;
  if (pss->rx_too_big) {
    static const char why[] = "message over the size cap";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
                     (unsigned char *)why, sizeof(why) - 1);
    return -1;
  }
  /* The session's own thread reads it: a 64 MiB message takes the best
   * part of a second to check, which no other tenant may wait for. Small
   * ones are copied so the buffer is not grown again for each. */
  size_t n = pss->rx.len;
  char *data;
  if (n < 65536) {
    data = malloc(n + 1);
    if (data) {
      memcpy(data, pss->rx.data ? pss->rx.data : "", n);
      data[n] = '\0';
    }
    pss->rx.len = 0;
  } else {
    data = pb_buf_steal(&pss->rx, &n);
  }
  if (!data)
    return -1;
  if (pb_session_submit(pss->ws, data, n) && !pss->rx_paused) {
    /* Until the session has caught up; ws_writable resumes. */
    pss->rx_paused = 1;
    lws_rx_flow_control(wsi, 0);
  }
  lws_callback_on_writable(wsi);
  return 0;
}

static int ws_writable(struct lws *wsi, pss_t *pss) {
  if (!pss->ws)
    return -1;
  if (pss->kill_reason) {
    lws_close_reason(wsi, (enum lws_close_status)pss->kill_code,
                     (unsigned char *)pss->kill_reason,
                     strlen(pss->kill_reason));
    return -1;
  }
  if (pss->rx_paused && !pb_session_inbound_full(pss->ws)) {
    pss->rx_paused = 0;
    lws_rx_flow_control(wsi, 1);
  }
  size_t len = 0;
  char *msg = pb_session_next_out(pss->ws, &len);
  if (msg) {
    unsigned char *buf = malloc(LWS_PRE + len);
    int ok = buf != NULL;
    if (ok) {
      memcpy(buf + LWS_PRE, msg, len);
      ok = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) >= (int)len;
    }
    free(buf);
    free(msg);
    if (!ok)
      return -1;
    lws_callback_on_writable(wsi);
    return 0;
  }
  const char *reason = NULL;
  int code = pb_session_ended(pss->ws, &reason);
  if (code) {
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason,
                     strlen(reason));
    return -1;
  }
  return 0;
}

static void wake_conn(void *conn, void *data) {
  (void)data;
  lws_callback_on_writable((struct lws *)conn);
}

/* ---- tokens taken back while in use ---- */

/* WebSocket close code for a token that stopped being valid: 4000-4999 are
 * the application's; 4001 reads as HTTP's 401. */
#define PB_WS_CLOSE_AUTH 4001
#define AUTHCHECK_MS 500

static const char *auth_dead_reason(int rc) {
  switch (rc) {
  case PB_EEXPIRED:
    return "token expired";
  case PB_EDISABLED:
    return "account disabled";
  case PB_EDELETED:
    return "account deleted";
  default:
    return "token revoked";
  }
}

static void ws_kill(pss_t *p, int rc) {
  if (p->kill_reason)
    return;
  p->kill_code = PB_WS_CLOSE_AUTH;
  p->kill_reason = auth_dead_reason(rc);
  PB_INFO("sessions: closing the client of %s (account %s): %s",
          p->ws ? pb_session_id(p->ws) : "?", p->ws_auth.account,
          p->kill_reason);
  lws_callback_on_writable(p->ws_wsi);
}

static void req_kill(req *r, int rc) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&r->auth_dead, &none, rc))
    return;
  atomic_store(&r->canceled, 1);
  /* Still waiting for a job thread: answered now, the job will skip. */
  int queued = 0;
  if (atomic_compare_exchange_strong(&r->stage, &queued, 2)) {
    auth_dead_fail(r);
    set_error_body(&r->res, r->rid);
    answer_ready(r);
  }
}

/* Applies the watcher's verdicts (I/O thread). */
static void apply_dead_tokens(pb_server *s) {
  struct dead_token d[64];
  pthread_mutex_lock(&s->watch_mu);
  int n = s->ndead;
  memcpy(d, s->dead, (size_t)n * sizeof(d[0]));
  s->ndead = 0;
  pthread_mutex_unlock(&s->watch_mu);
  for (int i = 0; i < n; i++) {
    for (pss_t *p = s->ws_conns; p; p = p->ws_next)
      if (p->ws_auth.token_id == d[i].token_id)
        ws_kill(p, d[i].rc);
    for (req *r = s->live; r; r = r->next_live)
      if (r->auth.token_id == d[i].token_id)
        req_kill(r, d[i].rc);
  }
}

static void watch_post(pb_server *s, int64_t id) {
  if (s->nwatch_ids == s->awatch_ids) {
    size_t na = s->awatch_ids ? s->awatch_ids * 2 : 64;
    int64_t *n = realloc(s->watch_ids, na * sizeof(*n));
    if (!n)
      return;
    s->watch_ids = n;
    s->awatch_ids = na;
  }
  s->watch_ids[s->nwatch_ids++] = id;
}

/* Every AUTHCHECK_MS: expiry is settled here, revocation and accounts by
 * the watcher, so a token taken back ends its sockets and jobs within 2 s. */
static void authcheck_tick(lws_sorted_usec_list_t *sul) {
  pb_server *s = lws_container_of(sul, pb_server, authcheck_sul);
  int64_t now = pb_wall_ms();
  apply_dead_tokens(s);
  pthread_mutex_lock(&s->watch_mu);
  s->nwatch_ids = 0;
  for (pss_t *p = s->ws_conns; p; p = p->ws_next) {
    if (p->kill_reason)
      continue;
    if (now >= p->ws_auth.expires_ms)
      ws_kill(p, PB_EEXPIRED);
    else
      watch_post(s, p->ws_auth.token_id);
  }
  for (req *r = s->live; r; r = r->next_live) {
    if (!r->auth.token_id || atomic_load(&r->auth_dead))
      continue;
    if (now >= r->auth.expires_ms)
      req_kill(r, PB_EEXPIRED);
    else
      watch_post(s, r->auth.token_id);
  }
  if (s->nwatch_ids) {
    s->watch_posted = 1;
    pthread_cond_signal(&s->watch_cv);
  }
  pthread_mutex_unlock(&s->watch_mu);
  lws_sul_schedule(s->ctx, 0, &s->authcheck_sul, authcheck_tick,
                   AUTHCHECK_MS * LWS_US_PER_MS);
}

/* The watcher thread: one indexed read per token posted, off the I/O
 * thread (the store may be busy with another process's write). */
static void *watch_main(void *arg) {
  pb_server *s = arg;
  int64_t *ids = NULL;
  size_t aids = 0;
  pthread_mutex_lock(&s->watch_mu);
  while (!s->watch_stop) {
    if (!s->watch_posted) {
      pthread_cond_wait(&s->watch_cv, &s->watch_mu);
      continue;
    }
    s->watch_posted = 0;
    size_t n = s->nwatch_ids;
    if (n > aids) {
      int64_t *ni = realloc(ids, n * sizeof(*ni));
      if (!ni)
        continue;
      ids = ni;
      aids = n;
    }
    memcpy(ids, s->watch_ids, n * sizeof(*ids));
    pthread_mutex_unlock(&s->watch_mu);
    struct dead_token d[64];
    int nd = 0;
    int64_t now = pb_wall_ms();
    for (size_t i = 0; i < n && nd < 64; i++) {
      int dup = 0;
      for (int j = 0; j < nd && !dup; j++)
        dup = d[j].token_id == ids[i];
      for (size_t j = 0; j < i && !dup; j++)
        dup = ids[j] == ids[i];
      if (dup)
        continue;
      int rc = pb_token_status(s->o.store, ids[i], now);
      if (rc == PB_ENOTFOUND)
        rc = PB_EDELETED;
      /* A store that fails says nothing about the token: keep it. */
      if (rc && rc != PB_ESTORE && rc != PB_ENOSPACE && rc != PB_EINVAL)
        d[nd++] = (struct dead_token){ids[i], rc};
    }
    pthread_mutex_lock(&s->watch_mu);
    for (int i = 0; i < nd && s->ndead < 64; i++)
      s->dead[s->ndead++] = d[i];
    if (nd)
      lws_cancel_service(s->ctx);
  }
  pthread_mutex_unlock(&s->watch_mu);
  free(ids);
  return NULL;
}

/* Running jobs' ledger rows get a heartbeat, so a crash of the service
 * bills them up to the last one instead of losing their time. */
#define HEARTBEAT_MS 2000
static void heartbeat_tick(lws_sorted_usec_list_t *sul) {
  pb_server *s = lws_container_of(sul, pb_server, heartbeat_sul);
  size_t n = 0, cap = 0;
  int64_t *ids = NULL;
  for (req *r = s->live; r; r = r->next_live) {
    int64_t id = atomic_load(&r->usage_id);
    if (!id)
      continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      int64_t *nv = realloc(ids, ncap * sizeof(*ids));
      if (!nv)
        break;
      ids = nv;
      cap = ncap;
    }
    ids[n++] = id;
  }
  pthread_mutex_lock(&s->ledger_mu);
  free(s->beat_ids);
  s->beat_ids = ids;
  s->nbeat = n;
  s->beat_ready = 1;
  pthread_cond_signal(&s->ledger_cv);
  pthread_mutex_unlock(&s->ledger_mu);
  lws_sul_schedule(s->ctx, 0, &s->heartbeat_sul, heartbeat_tick,
                   HEARTBEAT_MS * LWS_US_PER_MS);
}

static void *ledger_main(void *arg) {
  pb_server *s = arg;
  pthread_mutex_lock(&s->ledger_mu);
  for (;;) {
    while (!s->ledger_stop && !s->beat_ready)
      pthread_cond_wait(&s->ledger_cv, &s->ledger_mu);
    if (s->ledger_stop)
      break;
    int64_t *ids = s->beat_ids;
    size_t n = s->nbeat;
    s->beat_ids = NULL;
    s->nbeat = 0;
    s->beat_ready = 0;
    pthread_mutex_unlock(&s->ledger_mu);
    int64_t now = pb_wall_ms();
    for (size_t i = 0; i < n; i++)
      pb_usage_heartbeat(s->o.store, ids[i], now);
    free(ids);
    /* Rows that could not be closed (disk full): close them at their real
     * end once the store can write again. */
    pthread_mutex_lock(&s->done_mu);
    for (int i = 0; i < s->nunclosed;) {
      int rc = pb_usage_end(s->o.store, s->unclosed[i].id,
                            s->unclosed[i].end_ms, s->unclosed[i].status);
      if (rc == PB_ENOSPACE || rc == PB_ESTORE)
        break;
      PB_INFO("usage: closed ledger row %lld late",
              (long long)s->unclosed[i].id);
      s->unclosed[i] = s->unclosed[--s->nunclosed];
    }
    pthread_mutex_unlock(&s->done_mu);
    pthread_mutex_lock(&s->ledger_mu);
  }
  pthread_mutex_unlock(&s->ledger_mu);
  return NULL;
}

static void drain_tick(lws_sorted_usec_list_t *sul) {
  pb_server *s = lws_container_of(sul, pb_server, drain_sul);
  if (s->inflight == 0 &&
      (s->unsent == 0 || pb_now_ms() >= s->drain_deadline + 2000)) {
    s->exit = 1;
    lws_cancel_service(s->ctx); /* so lws_service() returns now */
    return;
  }
  if (pb_now_ms() >= s->drain_deadline) {
    /* Past the drain time: ask in-flight jobs to stop at their next step. */
    for (req *r = s->live; r; r = r->next_live)
      atomic_store(&r->canceled, 1);
  }
  lws_sul_schedule(s->ctx, 0, &s->drain_sul, drain_tick, 50 * LWS_US_PER_MS);
}

/* Lets go of what a connection's per-request state holds: the body timer
 * (an sul still linked in lws's timer list when its memory is freed is
 * corrupted by the next one scheduled at the same address) and the request,
 * whose job may still run. */
static void pss_release(pss_t *pss) {
  if (!pss)
    return;
  lws_sul_cancel(&pss->body_sul);
  pss->body_wsi = NULL;
  if (pss->r) {
    if (!pss->r->headers_sent)
      log_request(pss->r, 499); /* nginx's "client closed" */
    unsent_done(pss->r);
    pss->r->wsi = NULL;
    atomic_store(&pss->r->canceled, 1);
    req_unref(pss->r);
    pss->r = NULL;
  }
}

static int callback_http(struct lws *wsi, enum lws_callback_reasons reason,
                         void *user, void *in, size_t len) {
  struct lws_context *ctx = lws_get_context(wsi);
  pb_server *s = ctx ? lws_context_user(ctx) : NULL;
  pss_t *pss = user;
  switch (reason) {
  case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
    if (!s)
      break;
    drain_done(s);
    apply_dead_tokens(s);
    if (s->o.ops->sessions)
      pb_sessions_each_conn(s->o.ops->sessions, wake_conn, NULL);
    if (s->stop_asked && !s->draining) {
      s->draining = 1;
      s->drain_deadline = pb_now_ms() + s->o.drain_ms;
      PB_INFO("stopping: finishing %d job(s), new requests get 503",
              s->inflight);
      lws_sul_schedule(s->ctx, 0, &s->drain_sul, drain_tick, 1);
    }
    break;
  case LWS_CALLBACK_HTTP:
    on_request(s, wsi, pss, (const char *)in);
    return 0;
  case LWS_CALLBACK_HTTP_BODY:
    if (!pss->r)
      return 0;
    pss->r->body_seen += len;
    /* A chunked body has no length to refuse up front. */
    if (pss->r->body_seen > PB_BODY_DISCARD_MAX)
      return -1;
    if (!pss->r->ready && !pss->r->body_too_big &&
        pb_buf_append(&pss->r->body, in, len))
      pss->r->body_too_big = 1;
    return 0;
  case LWS_CALLBACK_HTTP_BODY_COMPLETION:
    if (pss->body_done) {
      /* libwebsockets 4.1.6 calls this again on every pass of the loop
       * while a pipelined request waits behind this one (harmless), and,
       * for a request with a body that it had stashed behind an earlier one,
       * forever within one pass (fixed upstream after 4.1): failing it is
       * the only way out of that loop. */
      if (pss->repeat_pass != s->passes) {
        pss->repeat_pass = s->passes;
        pss->repeats = 0;
      }
      if (++pss->repeats > 1000) {
        PB_WARN(
            "http: a pipelined request with a body; closing the connection");
        return -1;
      }
      return 0;
    }
    pss->body_done = 1;
    lws_sul_cancel(&pss->body_sul);
    pss->body_wsi = NULL;
    if (!pss->r)
      return 0;
    pss->r->body_pending = 0;
    if (pss->r->ready)
      lws_callback_on_writable(wsi);
    else if (!pss->r->prev_live)
      start_job(s, pss->r);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    return write_answer(s, wsi, pss);
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    return ws_confirm(s, wsi);
  case LWS_CALLBACK_ESTABLISHED: {
    pb_session *ss = NULL;
    pb_auth auth;
    memset(&auth, 0, sizeof(auth));
    pending_ws_drop(s, wsi, &ss, &auth);
    memset(pss, 0, sizeof(*pss));
    if (!ss)
      return -1;
    pss->ws = ss;
    pss->ws_auth = auth;
    pss->ws_wsi = wsi;
    pss->ws_next = s->ws_conns;
    if (s->ws_conns)
      s->ws_conns->ws_prev = &pss->ws_next;
    pss->ws_prev = &s->ws_conns;
    s->ws_conns = pss;
    pb_buf_init(&pss->rx, PB_CDP_MESSAGE_MAX);
    PB_INFO("sessions: client connected to %s", pb_session_id(ss));
    lws_callback_on_writable(wsi);
    return 0;
  }
  case LWS_CALLBACK_RECEIVE:
    return ws_receive(pss, wsi, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    return ws_writable(wsi, pss);
  case LWS_CALLBACK_CLOSED:
    if (pss && pss->ws_prev) {
      *pss->ws_prev = pss->ws_next;
      if (pss->ws_next)
        pss->ws_next->ws_prev = pss->ws_prev;
      pss->ws_prev = NULL;
    }
    if (pss && pss->ws) {
      PB_INFO("sessions: client left %s", pb_session_id(pss->ws));
      pb_session_detach(pss->ws, wsi);
      pb_session_unref(pss->ws);
      pss->ws = NULL;
      pb_buf_free(&pss->rx);
    }
    break;
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    /* lws frees this pss and binds a fresh one at each new request on a
     * kept-alive connection: nothing of it may stay linked anywhere. */
    pss_release(pss);
    break;
  case LWS_CALLBACK_CLOSED_HTTP:
    if (s)
      pending_ws_drop(s, wsi, NULL, NULL);
    pss_release(pss);
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
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    n--;
  /* A line repeated in a loop (accept failing while out of descriptors)
   * is logged once a second with its count, not thousands of times. */
  static char last[256];
  static int64_t last_ms;
  static unsigned long repeats;
  int64_t now = pb_now_ms();
  if (n < sizeof(last) && !strncmp(last, line, n) && last[n] == '\0' &&
      now - last_ms < 1000) {
    repeats++;
    return;
  }
  if (repeats)
    pb_log(PB_LOG_WARN, "lws: (the line above %lu more time(s))", repeats);
  repeats = 0;
  last_ms = now;
  snprintf(last, sizeof(last), "%.*s", (int)n, line);
  pb_log(level == LLL_ERR    ? PB_LOG_ERROR
         : level == LLL_WARN ? PB_LOG_WARN
                             : PB_LOG_DEBUG,
         "lws: %.*s", (int)n, line);
}

/* libwebsockets stops polling the listen socket when its table of
 * connections is full, but it sizes that table to the whole descriptor
 * limit: the browsers' pipes, the store and the egress proxy would then run
 * the process out first, and accept() failing with EMFILE keeps the loop
 * spinning. Raise the soft limit to the hard one (capped) and leave
 * connections all but a reserve. Returns the connection cap. */
static unsigned int connection_cap(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl))
    return 0;
  rlim_t want =
      rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl))
      getrlimit(RLIMIT_NOFILE, &rl);
  }
  long cur = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536
                 ? 65536
                 : (long)rl.rlim_cur;
  long reserve = cur / 4 < 48 ? 48 : cur / 4 > 1024 ? 1024 : cur / 4;
  long cap = cur - reserve < 16 ? 16 : cur - reserve;
  return (unsigned int)cap;
}

int pb_server_create(const pb_server_opts *o, pb_server **out) {
  *out = NULL;
  pb_server *s = calloc(1, sizeof(*s));
  if (!s)
    return PB_ENOMEM;
  s->o = *o;
  pthread_mutex_init(&s->done_mu, NULL);
  pthread_mutex_init(&s->ledger_mu, NULL);
  pthread_cond_init(&s->ledger_cv, NULL);
  pthread_mutex_init(&s->watch_mu, NULL);
  pthread_cond_init(&s->watch_cv, NULL);
  int rc = pb_schemas_load(&s->schemas);
  if (!rc && pthread_create(&s->ledger, NULL, ledger_main, s))
    rc = PB_EIO;
  if (!rc)
    s->ledger_started = 1;
  if (!rc)
    rc = pb_metrics_new(&s->metrics);
  if (!rc)
    rc = pb_openapi_build(s->schemas, &s->openapi);
  if (rc) {
    pb_server_free(s);
    return rc;
  }
  lws_set_log_level(pb_log_level >= PB_LOG_DEBUG
                        ? (LLL_ERR | LLL_WARN | LLL_NOTICE)
                        : LLL_ERR,
                    lws_log_bridge);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof(info));
  info.port = o->port;
  info.iface = o->address;
  info.protocols = protocols;
  info.user = s;
  if (!strchr(o->address, ':'))
    info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  info.timeout_secs = 30;
  info.keepalive_timeout = 30;
  info.max_http_header_data = 8192;
  /* Headers must be complete this long after the connection (or the last
   * request on it) began: a client sending them byte by byte is cut off. */
  info.timeout_secs_ah_idle = 10;
  info.pt_serv_buf_size = 64 * 1024;
  info.fd_limit_per_thread = connection_cap();
  PB_DEBUG("http: at most %u descriptors for connections",
           info.fd_limit_per_thread);
  s->ctx = lws_create_context(&info);
  if (!s->ctx) {
    PB_ERR("http: cannot listen on %s:%d", o->address, o->port);
    pb_server_free(s);
    return PB_EIO;
  }
  lws_sul_schedule(s->ctx, 0, &s->heartbeat_sul, heartbeat_tick,
                   HEARTBEAT_MS * LWS_US_PER_MS);
  lws_sul_schedule(s->ctx, 0, &s->authcheck_sul, authcheck_tick,
                   AUTHCHECK_MS * LWS_US_PER_MS);
  if (pthread_create(&s->watch_thread, NULL, watch_main, s)) {
    pb_server_free(s);
    return PB_ENOMEM;
  }
  s->watch_started = 1;
  *out = s;
  return 0;
}

int pb_server_run(pb_server *s) {
  while (!s->exit) {
    s->passes++;
    if (lws_service(s->ctx, 0) < 0)
      break;
  }
  /* Jobs still running past the drain time were told to stop; wait for
   * them so their usage rows close. */
  for (req *r = s->live; r; r = r->next_live)
    atomic_store(&r->canceled, 1);
  return 0;
}

void pb_server_wake(pb_server *s) {
  if (s->ctx)
    lws_cancel_service(s->ctx);
}

void pb_server_stop(pb_server *s) {
  s->stop_asked = 1;
  if (s->ctx)
    lws_cancel_service(s->ctx);
}

void pb_server_free(pb_server *s) {
  if (!s)
    return;
  if (s->watch_started) {
    /* Before the context goes: the watcher wakes it. */
    pthread_mutex_lock(&s->watch_mu);
    s->watch_stop = 1;
    pthread_cond_signal(&s->watch_cv);
    pthread_mutex_unlock(&s->watch_mu);
    pthread_join(s->watch_thread, NULL);
  }
  if (s->ctx)
    lws_context_destroy(s->ctx);
  if (s->ledger_started) {
    pthread_mutex_lock(&s->ledger_mu);
    s->ledger_stop = 1;
    pthread_cond_signal(&s->ledger_cv);
    pthread_mutex_unlock(&s->ledger_mu);
    pthread_join(s->ledger, NULL);
  }
  free(s->beat_ids);
  pthread_mutex_destroy(&s->ledger_mu);
  pthread_cond_destroy(&s->ledger_cv);
  /* Answers of jobs that finished after the loop stopped. */
  pthread_mutex_lock(&s->done_mu);
  while (s->done) {
    req *r = s->done;
    s->done = r->next_done;
    req_unref(r);
  }
  pthread_mutex_unlock(&s->done_mu);
  pthread_mutex_destroy(&s->done_mu);
  pthread_mutex_destroy(&s->watch_mu);
  pthread_cond_destroy(&s->watch_cv);
  free(s->watch_ids);
  free(s->openapi);
  free(s->accts);
  pb_metrics_free(s->metrics);
  pb_schemas_free(s->schemas);
  free(s);
}
