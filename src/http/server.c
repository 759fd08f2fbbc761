/* The libwebsockets adapter: the context and its callback, reading request
 * bodies, routing each request through the route table (routes.c), auth
 * and admission, handing work to the job queue and taking answers back,
 * writing answers, and the timers (heartbeats, drain). What is shared with
 * the other files of the layer is in internal.h. */
#include "http/server.h"

#include "common/jsontext.h"
#include "common/pb.h"
#include "core/fleet.h"
#include "http/compat.h"
#include "http/errors.h"
#include "http/proxy.h"
#include "http/internal.h"
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

/* Oversized bodies up to this are read and dropped before the 413. */
#define PB_BODY_DISCARD_MAX (256u * 1024 * 1024)

/* A client's X-Request-Id is kept if it is 1..64 of [A-Za-z0-9._-]. */
int request_id_ok(const char *id) {
  size_t n = strlen(id);
  return n >= 1 && n <= PB_REQUEST_ID_MAX &&
         strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz012345"
                    "6789._-") == n;
}

void request_id_new(char *out) {
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
  pb_buf_init(&r->stream_buf, 0);
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
  upload_free(r);
  pb_session_unref(r->job.session);
  pb_buf_free(&r->body);
  pb_buf_free(&r->stream_buf);
  cJSON_Delete(r->json);
  pb_op_result_free(&r->res);
  free(r);
}

void req_release(req *r) { req_unref(r); }

/* An answer is "unsent" from when it is ready until written or its client
 * is gone; shutdown waits for these too, not only for running jobs. */
static void unsent_done(req *r) {
  if (!r->unsent)
    return;
  r->unsent = 0;
  r->srv->unsent--;
}

void answer_ready(req *r) {
  r->ready = 1;
  if (r->on_answer) {
    /* An internal request (internal_request_run): told once (a job killed
     * while queued is answered again when its thread hands it back). */
    void (*told)(req *) = r->on_answer;
    r->on_answer = NULL;
    told(r);
    return;
  }
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
void set_error_body(pb_op_result *res, const char *rid) {
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

void answer_error(req *r, pb_code code, const char *fmt, ...) {
  r->res.err = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->res.message, sizeof(r->res.message), fmt, ap);
  va_end(ap);
  set_error_body(&r->res, r->rid);
  compat_answer(r); /* a peer's error shape (compat.c) */
  answer_ready(r);
}

/* {"success":true,"result":<result>}; takes result. */
void answer_json(req *r, cJSON *result) {
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

static void action_done(pb_server *s, req *r);
static void submit_job(pb_server *s, req *r);

/* ---- jobs ---- */

/* The answer of a job whose token was revoked, or its account disabled or
 * deleted, or that expired, while it waited or ran (job thread). */
void auth_dead_fail(req *r) {
  const char *message;
  int rc = atomic_load(&r->auth_dead);
  pb_code code = auth_refusal(rc, &message);
  if (rc == PB_EEXPIRED)
    message = login_expired_message(r->srv, &r->auth);
  free(r->res.body);
  r->res.body = NULL;
  r->res.body_len = 0;
  pb_op_fail(&r->res, code, "%s", message);
}

/* Cluster mode: the account's limits held across nodes (core/fleet.h),
 * checked here on the job thread (they are store round trips) before the
 * work and its ledger row; local admission ran first on the I/O thread.
 * Answers as the local checks do. *slot: the concurrent action held. */
static pb_code fleet_admit(pb_server *s, req *r, int64_t *slot, pb_admit_verdict *v) {
  struct pb_fleet *f = s->o.fleet;
  int64_t acct = r->auth.account_id;
  *slot = 0;
  memset(v, 0, sizeof(*v));
  if (!f)
    return PB_CODE_NONE;
  switch (r->route->admit) {
    case PB_ADMIT_QUICK:
      return pb_fleet_admit_action(f, acct, &r->limits, 1, 1, slot, v);
    case PB_ADMIT_LIGHT:
      return pb_fleet_admit_action(f, acct, &r->limits, 1, 0, slot, v);
    case PB_ADMIT_RELEASE:
      return pb_fleet_admit_action(f, acct, &r->limits, 0, 0, slot, v);
    case PB_ADMIT_ACQUIRE:
      return pb_fleet_admit_acquire(f, acct, &r->limits, v);
    case PB_ADMIT_NONE:
      break;
  }
  return PB_CODE_NONE;
}

static void job_main(void *arg) {
  req *r = arg;
  pb_server *s = r->srv;
  int queued = 0;
  if (!atomic_compare_exchange_strong(&r->stage, &queued, 1))
    return;
  int64_t usage_id = 0, fleet_slot = 0;
  pb_admit_verdict v;
  pb_metrics_queue_wait(s->metrics, pb_now_ms() - r->t_submit);
  /* Billable work is never done unmetered. Work in an acquired session's
   * browser is metered too, but its time is paid by the session's row. */
  pb_code opened = fleet_admit(s, r, &fleet_slot, &v);
  if (opened)
    r->retry_after = v.retry_after_s;
  else
    opened = r->job.session /* the account's live session (admit) */
                 ? pb_ledger_open_in_session(s->ledger, r->auth.account_id,
                                             r->route->kind, pb_wall_ms(), &usage_id, &v)
                 : pb_ledger_open(s->ledger, r->auth.account_id, r->route->kind,
                                  pb_wall_ms(), &usage_id, &v);
  if (opened) {
    if (v.metric)
      pb_metrics_reject(s->metrics, v.metric);
    pb_op_fail(&r->res, v.code, "%s", v.message);
  } else {
    atomic_store(&r->usage_id, usage_id);
    if (atomic_load(&r->auth_dead)) {
      auth_dead_fail(r); /* revoked, disabled or expired while queued */
    } else if (pb_now_ms() >= r->job.deadline_ms) {
      pb_op_fail(&r->res, PB_CODE_TIMEOUT,
                 "the job waited in the queue past its timeout");
    } else if (r->route->op(&r->job, &r->res) &&
               r->res.err == PB_CODE_NONE) {
      pb_op_fail(&r->res, PB_CODE_INTERNAL_ERROR, "the operation failed");
    }
  }
  if (atomic_load(&r->auth_dead) &&
      !(r->res.err && pb_http_status(r->res.err) == 401))
    auth_dead_fail(r);
  if (r->res.err)
    set_error_body(&r->res, r->rid);
  compat_answer(r); /* a peer's answer shape, off the I/O thread (compat.c) */
  pb_ledger_close(s->ledger, usage_id, pb_wall_ms(), r->res.status);
  pb_fleet_action_done(s->o.fleet, fleet_slot); /* failed or cancelled too */
  if (r->res.err && r->res.retry_after_s)
    r->retry_after = r->res.retry_after_s;
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

int http_header(struct lws *wsi, enum lws_token_indexes h, char *buf,
                int len) {
  buf[0] = '\0';
  if (lws_hdr_total_length(wsi, h) <= 0)
    return 0;
  return lws_hdr_copy(wsi, buf, len, h) > 0;
}

/* Per-account admission (core/admit.h), before the shared job queue: one
 * account at its limit is refused at once and never delays another. What
 * the verdict weighs is gathered here: the account's limits, what the
 * request asks, and the facts of the moment. 0 to go on. */
static int admit(pb_server *s, req *r) {
  pb_admit_class cls = r->route->admit;
  if (cls == PB_ADMIT_NONE)
    return 0;
  if (pb_limits_get(s->o.store, r->auth.account_id, &r->limits))
    pb_limits_default(&r->limits);
  pb_admit_account *a = pb_admit_account_of(&s->accts, r->auth.account_id);
  if (!a) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return -1;
  }
  int64_t now = pb_now_ms();
  pb_admit_req q;
  memset(&q, 0, sizeof(q));
  q.cls = cls;
  q.used_today_ms = -1;
  q.disk_free = -1;
  /* In cluster mode the quota is the fleet's (job thread, fleet_admit). */
  if ((cls == PB_ADMIT_QUICK || cls == PB_ADMIT_ACQUIRE) &&
      r->limits.browser_ms_per_day > 0 && !s->o.fleet) {
    /* The quota is per UTC day, over what the ledger has closed so far. */
    int64_t day, used = 0, count = 0;
    q.wall_ms = pb_wall_ms();
    day = pb_admit_day_start(q.wall_ms);
    if (pb_usage_sum(s->o.store, r->auth.account_id, day,
                     day + PB_ADMIT_DAY_MS, &used, &count) == 0)
      q.used_today_ms = used;
  }
  if (cls == PB_ADMIT_ACQUIRE) {
    const cJSON *ka = cJSON_GetObjectItemCaseSensitive(r->json, "keep_alive");
    q.has_keep_alive = cJSON_IsNumber(ka);
    q.keep_alive_ms = q.has_keep_alive ? ka->valuedouble : 0;
    q.sessions = pb_sessions_count(s->o.ops->sessions, r->auth.account_id);
  }
  if (cls == PB_ADMIT_QUICK) {
    /* A full disk is answered before any work that could not be metered
     * or kept. */
    const char *dir = pb_trace_store_dir(s->o.ops->traces);
    struct statvfs vfs;
    if (dir && r->route->kind && statvfs(dir, &vfs) == 0)
      q.disk_free = (long long)((unsigned long long)vfs.f_bavail * vfs.f_frsize);
    q.trace = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "trace"));
    /* Maybe in one of the account's sessions. */
    const cJSON *sid = cJSON_GetObjectItemCaseSensitive(r->json, "sessionId");
    if (cJSON_IsString(sid) && s->o.nodes &&
        cluster_route(s, r, r->route, NULL, sid->valuestring))
      return -1; /* another node's session: answered (cluster.c) */
    if (cJSON_IsString(sid)) {
      r->job.session = pb_sessions_get(s->o.ops->sessions, sid->valuestring,
                                       r->auth.account_id);
      q.session_id = sid->valuestring;
      q.session_found = r->job.session != NULL;
    }
  }
  if (r->route->kind || r->route->bills) {
    /* Credits: read on this thread like the limits (one indexed row). */
    q.credit_checked = 1;
    q.price_micro = pb_store_price(s->o.store);
    if (pb_store_account_balance(s->o.store, r->auth.account_id,
                                 &q.balance_micro, &q.metered))
      q.metered = 0; /* unknown: the ledger's row check still refuses */
  }
  pb_admit_verdict v;
  if (pb_admit_decide(a, &r->limits, &q, now, &v)) {
    pb_session_unref(r->job.session);
    r->job.session = NULL;
    r->retry_after = v.retry_after_s;
    if (v.metric)
      pb_metrics_reject(s->metrics, v.metric);
    answer_error(r, v.code, "%s", v.message);
    return -1;
  }
  r->counted_action = v.counted;
  return 0;
}

/* Gives back the concurrent action admit took, once the job is done. */
static void action_done(pb_server *s, req *r) {
  if (!r->counted_action)
    return;
  r->counted_action = 0;
  pb_admit_give_back(pb_admit_account_of(&s->accts, r->auth.account_id));
}

/* "ws://host" as the client reached us, for webSocketDebuggerUrl. */
static void set_ws_base(req *r, struct lws *wsi) {
  char host[256];
  if (!pb_fwd_client_host(r->srv, wsi, host, sizeof(host)) ||
      strpbrk(host, "/\"\\ <>"))
    pb_strlcpy(host, "127.0.0.1", sizeof(host));
  snprintf(r->ws_base, sizeof(r->ws_base), "ws://%s", host);
}

static void start_job(pb_server *s, req *r) {
  if (r->body_too_big) {
    r->close_after = 1;
    answer_error(r, PB_CODE_BODY_TOO_LARGE, "the request body is over %u bytes",
                 PB_BODY_MAX);
    return;
  }
  if (r->route->body == PB_BODY_WHOLE) {
    r->route->handler(s, r); /* the handler reads the body as it is */
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
  if (compat_request(s, r)) /* a peer's request shape (compat.c) */
    return;
  int rc = pb_schemas_validate(s->schemas, r->route->schema, r->json, err,
                               sizeof(err));
  if (rc) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "%s", err);
    return;
  }
  if (r->route->session) {
    /* A body for one of the account's sessions: the op reads the path's
     * session as sessionId (and checks it is the account's). */
    pb_route_match m;
    char id[80];
    if (pb_route_find(r->path, PB_METHOD_POST, &m) && pb_route_session_id(&m, id, sizeof(id)))
      cJSON_AddStringToObject(r->json, "sessionId", id);
  }
  if (r->route->handler) {
    r->route->handler(s, r); /* a validated body answered on the I/O thread */
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
  char accept[256];
  if (r->wsi && http_header(r->wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof(accept)))
    pb_request_accept(r->json, accept, &r->job.opts);
  compat_job(r); /* what a peer's request asks beyond the body (compat.c) */
  r->job.deadline_ms = pb_deadline_job(&r->job.opts, r->t0);
  r->job.canceled = &r->canceled;
  char fmt[32];
  const char *f =
      r->wsi ? lws_get_urlarg_by_name(r->wsi, "format=", fmt, sizeof(fmt))
             : NULL;
  /* The whole query, for routes that take more than ?format= (crawl
   * results: cursor, limit): its parts joined with '&'. */
  r->job.query[0] = '\0';
  for (int i = 0, used = 0; r->wsi && i < 16; i++) {
    char frag[256];
    int n = lws_hdr_copy_fragment(r->wsi, frag, sizeof(frag),
                                  WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n <= 0 || used + n + 2 > (int)sizeof(r->job.query))
      break;
    used += snprintf(r->job.query + used, sizeof(r->job.query) - (size_t)used,
                     "%s%s", used ? "&" : "", frag);
  }
  if (!r->wsi)
    pb_strlcpy(r->job.query, r->iquery, sizeof(r->job.query));
  r->job.format_junit = f && !strcmp(f, "junit");
  r->job.format_zip = f && !strcmp(f, "zip");
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

static pb_method route_method(int lws_method) {
  switch (lws_method) {
  case LWSHUMETH_GET:
    return PB_METHOD_GET;
  case LWSHUMETH_POST:
    return PB_METHOD_POST;
  case LWSHUMETH_DELETE:
    return PB_METHOD_DELETE;
  default:
    return PB_METHOD_OTHER;
  }
}

/* Routes the request through the table: 404, 405, auth (the path's), the
 * session the route names, then its work. 0 when it is a route that takes
 * a JSON body and nothing was answered yet: the caller reads the body. */
static int route_request(pb_server *s, req *r, struct lws *wsi,
                         const char *path, int method, int refuse_closes) {
  pb_route_match m;
  const pb_route *res = pb_route_resource(path, &m);
  if (!res) {
    answer_error(r, PB_CODE_NOT_FOUND, "no route %s", path);
    return 1;
  }
  r->route_label = pb_route_label(res);
  const pb_route *rt = pb_route_find(path, route_method(method), &m);
  if (!rt) {
    r->close_after = refuse_closes;
    answer_error(r, PB_CODE_METHOD_NOT_ALLOWED, "%s does not take that method",
                 path);
    return 1;
  }
  r->route = rt;
  if (rt->body != PB_BODY_NONE && s->draining) {
    r->close_after = 1;
    pb_metrics_reject(s->metrics, "draining");
    answer_error(r, PB_CODE_SHUTTING_DOWN, "the service is shutting down");
    return 1;
  }
  if (res->auth != PB_AUTH_NONE && !r->on_answer &&
      authenticate(s, r, wsi, res->auth == PB_AUTH_TOKEN_OR_QUERY)) {
    if (rt->body != PB_BODY_NONE)
      r->close_after = refuse_closes;
    return 1;
  }
  if (s->o.nodes) {
    /* Cluster mode: an id another node minted (http/cluster.c). */
    char cid[80] = "";
    if (rt->session)
      pb_route_session_id(&m, cid, sizeof(cid));
    if (cluster_route(s, r, rt, path, cid[0] ? cid : NULL))
      return 1;
  }
  if (rt->body == PB_BODY_JSON || rt->body == PB_BODY_WHOLE)
    return 0;
  if (rt->session) {
    char id[80];
    int named = pb_route_session_id(&m, id, sizeof(id));
    r->route_session =
        named ? pb_sessions_get(s->o.ops->sessions, id, r->auth.account_id)
              : NULL;
    if (!r->route_session) {
      answer_error(r, PB_CODE_SESSION_NOT_FOUND,
                   "no live session %s for this account", id);
      return 1;
    }
  }
  r->url = path;
  if (rt->handler) {
    rt->handler(s, r);
  } else {
    /* A job without a body: its request is the path's parameter. */
    r->json = cJSON_CreateObject();
    if (m.param) {
      char *v = strndup(m.param, rt->param_rest ? strlen(m.param) : m.param_len);
      if (v)
        cJSON_AddStringToObject(r->json, rt->param_key, v);
      free(v);
    }
    if (!admit(s, r))
      submit_job(s, r);
  }
  r->url = NULL;
  pb_session_unref(r->route_session);
  r->route_session = NULL;
  return 1;
}

/* ---- internal requests (mcp.c) ---- */

req *internal_request_new(pb_server *s, const req *parent, void (*on_answer)(req *r),
                          void *owner) {
  req *r = req_new(s, NULL);
  if (!r)
    return NULL;
  r->auth = parent->auth;
  pb_strlcpy(r->rid, parent->rid, sizeof(r->rid));
  pb_strlcpy(r->ws_base, parent->ws_base, sizeof(r->ws_base));
  r->on_answer = on_answer;
  r->owner = owner;
  return r;
}

void internal_request_run(pb_server *s, req *r, int lws_method, const char *path,
                          const char *body, size_t len) {
  atomic_fetch_add(&r->refs, 1); /* on_answer may drop the owner's reference */
  if (strlen(path) >= sizeof(r->path)) {
    answer_error(r, PB_CODE_NOT_FOUND, "no route");
  } else {
    pb_strlcpy(r->path, path, sizeof(r->path));
    r->method = lws_method;
    if (body && len && pb_buf_append(&r->body, body, len))
      r->body_too_big = 1;
    if (!route_request(s, r, NULL, r->path, lws_method, 0))
      start_job(s, r);
  }
  req_unref(r);
}

/* The body is wanted: a client waiting for 100 Continue (curl does for
 * bodies over 1 MiB) is told to send it now rather than after its own
 * timeout; libwebsockets does not send it. A request already answered
 * (refused) gets its answer instead (see write_answer). */
static void send_continue(req *r, struct lws *wsi) {
  if (!r->expect_continue || !r->body_pending || r->ready || r->body_too_big)
    return;
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  unsigned char buf[LWS_PRE + sizeof(cont)];
  memcpy(buf + LWS_PRE, cont, sizeof(cont) - 1);
  if (lws_write(wsi, buf + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_RAW) < 0)
    r->close_after = 1;
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
  int has_cl = http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, clen, sizeof(clen));
  int has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
  if (has_te) {
    /* libwebsockets 4.1 does not decode chunked request bodies: it neither
     * delivers nor skips them, and their bytes would be read as the next
     * request. Refuse at once and close (RFC 9112 6.3: no framing known). */
    r->close_after = 1;
    int chunked =
        http_header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, te, sizeof(te)) &&
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
    r->expect_continue = http_header(wsi, WSI_TOKEN_HTTP_EXPECT, ex, sizeof(ex)) &&
                         !strcasecmp(ex, "100-continue");
    body_deadline(s, wsi, pss);
  }
  /* Cluster: what another node holds is relayed to it (http/proxy.c),
   * before auth: the owner authenticates. */
  if (s->o.nodes) {
    pb_node_route to;
    switch (pb_fwd_decide(s, wsi, path, method, &to)) {
    case PB_FWD_REMOTE:
      if (declared >= 0 && declared <= PB_BODY_MAX && !pb_http_forward(wsi, &to)) {
        pss->r = NULL;
        req_unref(r);
        return;
      }
      break;
    case PB_FWD_BAD_KEY:
      r->close_after = 1;
      answer_error(r, PB_CODE_CLUSTER_KEY_INVALID,
                   "X-Ppod-Via or X-Ppod-Cluster-Key without the cluster key: refused");
      return;
    case PB_FWD_LOST: /* after auth: 410 to its account only (cluster.c) */
    case PB_FWD_LOCAL:
      break;
    }
  }
  /* A refusal made before a body that will not be read (too large to
   * drop) closes the connection instead. */
  int refuse_closes = declared < 0 || declared > PB_BODY_MAX;
  if (route_request(s, r, wsi, path, method, refuse_closes)) {
    send_continue(r, wsi); /* a raw body streamed by its handler */
    return;
  }
  char cl[32];
  long long len = 0;
  if (http_header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, cl, sizeof(cl)) &&
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
  send_continue(r, wsi);
}

/* "2026-12-05T08:02:05.937Z" */
void iso_now(char *ts, size_t cap) {
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
  if (r && r->stream && !r->body_pending) {
    /* An event stream (mcp.c): written as its events come, then closed. */
    int rc = mcp_stream_write(s, wsi, r);
    if (rc <= 0)
      return rc;
    r->close_after = 1;
    pb_metrics_request(s->metrics, r->route_label, 200);
    log_request(r, 200);
    goto answered;
  }
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
    if (r->res.content_disposition[0] &&
        lws_add_http_header_by_name(
            wsi, (const unsigned char *)"content-disposition:",
            (unsigned char *)r->res.content_disposition,
            (int)strlen(r->res.content_disposition), &p, end))
      return -1;
    if (r->retry_after) {
      n = snprintf(v, sizeof(v), "%d", r->retry_after);
      if (lws_add_http_header_by_name(
              wsi, (const unsigned char *)"retry-after:", (unsigned char *)v, n,
              &p, end))
        return -1;
    }
    if (r->res.status == 401 &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"www-authenticate:",
                                    (const unsigned char *)"Bearer realm=\"ppod-browser\"", 27,
                                    &p, end))
      return -1;
    if (r->xh_name && r->xh_value[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)r->xh_name,
                                    (unsigned char *)r->xh_value, (int)strlen(r->xh_value), &p,
                                    end))
      return -1;
    for (const char *const *h = r->xh_static; h && h[0] && h[1]; h += 2)
      if (lws_add_http_header_by_name(wsi, (const unsigned char *)h[0],
                                      (const unsigned char *)h[1], (int)strlen(h[1]),
                                      &p, end))
        return -1;
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
    memcpy(s->wbuf + LWS_PRE,
           (r->res_static && !r->res.body ? r->res_static : r->res.body) + r->sent, n);
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
answered:;
  int close_after = r->close_after;
  unsent_done(r);
  pss->r = NULL;
  r->wsi = NULL; /* answered: its job may still hand it back later */
  req_unref(r);
  if (close_after)
    return -1;
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---- tokens taken back while in use (auth.c watches) ---- */

void req_kill(req *r, int rc) {
  int none = 0;
  if (!atomic_compare_exchange_strong(&r->auth_dead, &none, rc))
    return;
  atomic_store(&r->canceled, 1);
  /* Still waiting for a job thread: answered now, the job will skip. */
  int queued = 0;
  if (atomic_compare_exchange_strong(&r->stage, &queued, 2)) {
    auth_dead_fail(r);
    set_error_body(&r->res, r->rid);
    compat_answer(r);
    answer_ready(r);
  }
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
  pb_ledger_beat(s->ledger, ids, n);
  lws_sul_schedule(s->ctx, 0, &s->heartbeat_sul, heartbeat_tick,
                   HEARTBEAT_MS * LWS_US_PER_MS);
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
    if (pss->r->on_gone)
      pss->r->on_gone(pss->r);
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
    auth_watch_apply(s);
    cdpws_wake_all(s);
    live_wake_all(s);
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
    if (pss->fwd) {
      pb_fwd_body(pss->fwd, in, len);
      return 0;
    }
    if (!pss->r)
      return 0;
    pss->r->body_seen += len;
    /* A chunked body has no length to refuse up front. */
    if (pss->r->body_seen > PB_BODY_DISCARD_MAX)
      return -1;
    if (pss->r->upload && !pss->r->ready) {
      upload_body(pss->r, in, len); /* streamed to the file, not kept */
      return 0;
    }
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
    if (pss->fwd) {
      pb_fwd_body_end(pss->fwd);
      return 0;
    }
    if (!pss->r)
      return 0;
    pss->r->body_pending = 0;
    if (pss->r->ready)
      lws_callback_on_writable(wsi);
    else if (pss->r->upload)
      upload_end(pss->r);
    else if (!pss->r->prev_live)
      start_job(s, pss->r);
    return 0;
  case LWS_CALLBACK_HTTP_WRITEABLE:
    if (pss->fwd)
      return pb_fwd_http_writable(pss->fwd, wsi);
    return write_answer(s, wsi, pss);
  case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
    if (s->o.nodes) {
      int d = pb_fwd_ws_confirm(s, wsi);
      if (d != 2)
        return d;
    }
    if (live_is_upgrade(wsi))
      return live_confirm(s, wsi);
    return cdpws_confirm(s, wsi);
  case LWS_CALLBACK_ESTABLISHED:
    if (pb_fwd_ws_pending(s, wsi))
      return pb_fwd_ws_established(s, wsi, pss);
    if (live_is_pending(s, wsi))
      return live_established(s, wsi, pss);
    return cdpws_established(s, wsi, pss);
  case LWS_CALLBACK_RECEIVE:
    if (pss->fwd)
      return pb_fwd_ws_receive(pss->fwd, wsi, in, len);
    if (pss->live)
      return live_receive(pss, wsi, in, len);
    return cdpws_receive(pss, wsi, in, len);
  case LWS_CALLBACK_SERVER_WRITEABLE:
    if (pss->fwd)
      return pb_fwd_ws_writable(pss->fwd, wsi);
    if (pss->live)
      return live_writable(wsi, pss);
    return cdpws_writable(wsi, pss);
  case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
    if (pss && pss->fwd)
      pb_fwd_ws_peer_close(pss->fwd, in, len);
    break;
  case LWS_CALLBACK_CLOSED:
    if (pss && pss->fwd) {
      pb_fwd_client_gone(pss->fwd);
      pss->fwd = NULL;
      break;
    }
    if (pss && pss->live)
      live_closed(s, wsi, pss);
    else
      cdpws_closed(s, wsi, pss);
    break;
  case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    /* lws frees this pss and binds a fresh one at each new request on a
     * kept-alive connection: nothing of it may stay linked anywhere. */
    if (pss && pss->fwd) {
      pb_fwd_client_gone(pss->fwd);
      pss->fwd = NULL;
    }
    pss_release(pss);
    break;
  case LWS_CALLBACK_CLOSED_HTTP:
    if (s) {
      cdpws_pending_drop(s, wsi);
      live_pending_drop(s, wsi);
      pb_fwd_ws_pending_drop(s, wsi);
    }
    if (pss && pss->fwd) {
      pb_fwd_client_gone(pss->fwd);
      pss->fwd = NULL;
    }
    pss_release(pss);
    break;
  default:
    break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
    {"http", callback_http, sizeof(pss_t), 0, 0, NULL, 0},
    {"pb-proxy", pb_fwd_callback, 0, 0, 0, NULL, 0}, /* to other nodes (proxy.c) */
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
  pthread_mutex_init(&s->watch_mu, NULL);
  pthread_cond_init(&s->watch_cv, NULL);
  int rc = pb_schemas_load(&s->schemas);
  if (!rc)
    rc = pb_ledger_start(s->o.store, &s->ledger);
  if (!rc)
    rc = pb_metrics_new(&s->metrics);
  if (!rc)
    rc = pb_openapi_build(s->schemas, &s->openapi);
  if (!rc)
    rc = discovery_init(s);
  if (!rc)
    rc = mcp_init(s);
  if (!rc)
    rc = login_init(s);
  if (!rc)
    rc = docs_init(s);
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
  rc = auth_watch_start(s);
  if (rc) {
    pb_server_free(s);
    return rc;
  }
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
  auth_watch_stop(s); /* before the context goes: the watcher wakes it */
  login_free(s);      /* so do the login worker's answers */
  if (s->ctx)
    lws_context_destroy(s->ctx);
  live_free(s);
  handoff_free(s);
  pb_fwd_free(s);
  pb_ledger_free(s->ledger);
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
  docs_free(s);
  discovery_free(s);
  mcp_free(s);
  pb_admit_accounts_free(&s->accts);
  pb_metrics_free(s->metrics);
  pb_schemas_free(s->schemas);
  free(s);
}
