/* The routes answered on the I/O thread, at once: health, metrics, the
 * OpenAPI document, the account's sessions, history, limits and usage, and
 * the state of one session (its CDP discovery is in discovery.c). Each
 * fills r's answer; none blocks on Chromium. */
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void get_healthz(pb_server *s, req *r) {
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
  static const char *const causes[PB_POOL_NCAUSES] = {"crash", "recycleJobs", "recycleRss",
                                                      "recycleAge"};
  for (int i = 0; i < PB_POOL_NCAUSES; i++)
    cJSON_AddNumberToObject(restarts, causes[i], (double)st.restarts[i]);
  /* Every Chromium reaches the network only through the egress proxy (and
   * the URL is checked before navigation); "netns+proxy": each one also
   * runs in a network namespace whose only way out is that proxy. */
  const pb_ops_env *env = s->o.ops;
  cJSON_AddStringToObject(o, "egress", env->egress_mode ? env->egress_mode : "proxy");
  cJSON_AddStringToObject(o, "isolation", env->isolation_mode ? env->isolation_mode : "none");
  cJSON *mem = cJSON_AddObjectToObject(o, "browserMemory");
  cJSON_AddStringToObject(mem, "mode", env->memory_mode ? env->memory_mode : "off");
  cJSON_AddNumberToObject(mem, "limitMb", env->memory_limit_mb);
  answer_json(r, o);
}

/* 1 when the two strings are equal, in time that depends only on b's
 * length (b: the secret). */
static int secret_equal(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b);
  unsigned char d = na != nb;
  for (size_t i = 0; i < nb; i++) d |= (unsigned char)(b[i] ^ (i < na ? a[i] : 0));
  return d == 0;
}

/* The peer is on this host: 127.0.0.0/8, ::1 or ::ffff:127.x. */
static int peer_is_loopback(struct lws *wsi) {
  char ip[64];
  const char *p = lws_get_peer_simple(wsi, ip, sizeof(ip));
  if (!p) return 0;
  if (!strncmp(p, "::ffff:", 7)) p += 7;
  return !strncmp(p, "127.", 4) || !strcmp(p, "::1");
}

void get_metrics(pb_server *s, req *r) {
  /* The pool's pids and memory help an attacker aim: only the operator's
   * scraper (its own token), or a local one when none is set. */
  int authed = 0;
  if (s->o.metrics_token && *s->o.metrics_token) {
    char hdr[512];
    if (!http_header(r->wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr)) ||
        strncasecmp(hdr, "Bearer ", 7) || !secret_equal(hdr + 7, s->o.metrics_token)) {
      answer_error(r, PB_CODE_UNAUTHORIZED,
                   "/metrics needs 'Authorization: Bearer <the --metrics-token>'");
      return;
    }
    authed = 1;
  } else if (!peer_is_loopback(r->wsi)) {
    answer_error(r, PB_CODE_FORBIDDEN,
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
  for (int i = 0; i < 4 && i < PB_POOL_NCAUSES; i++) g.restarts[i] = st.restarts[i];
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
    pb_sessions_states(s->o.ops->sessions, &g.sessions_connected, &g.sessions_idle,
                       &g.sessions_ending);
  if (pb_usage_open_count(s->o.store, &g.usage_open)) g.usage_open = -1;
  g.requests_live = s->inflight;
  if (s->o.ops->egress_counts) {
    s->o.ops->egress_counts(s->o.ops->egress_counts_data, g.egress, &g.egress_conns);
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

void get_openapi(pb_server *s, req *r) {
  free(r->res.body);
  r->res.body = NULL; /* the server's copy, sent as it is (res_static) */
  r->res_static = s->openapi ? s->openapi : "{}";
  r->res.body_len = strlen(r->res_static);
  r->res.content_type = "application/json";
  r->res.status = 200;
  answer_ready(r);
}

static cJSON *session_json(const pb_session_info *i) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "sessionId", i->id);
  cJSON_AddNumberToObject(o, "startTime", (double)i->start_wall_ms);
  if (i->connected) {
    cJSON_AddStringToObject(o, "connectionId", i->connection_id);
    cJSON_AddNumberToObject(o, "connectionStartTime", (double)i->connection_start_wall_ms);
  }
  cJSON_AddNumberToObject(o, "lastActivity", (double)i->last_activity_wall_ms);
  cJSON_AddNumberToObject(o, "keepAliveMs", (double)i->keep_alive_ms);
  return o;
}

void get_sessions(pb_server *s, req *r) {
  pb_session_info *v = NULL;
  size_t n = 0;
  if (pb_sessions_list(s->o.ops->sessions, r->auth.account_id, &v, &n)) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return;
  }
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) {
    cJSON *o = session_json(&v[i]);
    handoff_add_json(o, v[i].id, r->auth.account_id);
    cJSON_AddItemToArray(arr, o);
  }
  free(v);
  cluster_sessions_add(s, r, arr); /* cluster mode: the other nodes' */
  answer_json(r, arr);
}

void get_history(pb_server *s, req *r) {
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
    cJSON_AddNumberToObject(o, "refusedCalls", (double)v[i].stats.refused_calls);
    if (v[i].stats.last_refusal[0])
      cJSON_AddStringToObject(o, "lastRefusal", v[i].stats.last_refusal);
    else
      cJSON_AddNullToObject(o, "lastRefusal");
    cJSON_AddNumberToObject(o, "clientConnections", (double)v[i].stats.client_connections);
    cJSON_AddNumberToObject(o, "clientDisconnects", (double)v[i].stats.client_disconnects);
    cJSON *ho = cJSON_AddObjectToObject(o, "handoff"); /* the last one; null when none */
    if (v[i].handoff_state[0]) {
      cJSON_AddStringToObject(ho, "state", v[i].handoff_state);
      if (v[i].handoff_ended_by[0])
        cJSON_AddStringToObject(ho, "endedBy", v[i].handoff_ended_by);
      else
        cJSON_AddNullToObject(ho, "endedBy");
    } else {
      cJSON_DeleteItemFromObjectCaseSensitive(o, "handoff");
      cJSON_AddNullToObject(o, "handoff");
    }
    cJSON_AddItemToArray(arr, o);
  }
  free(v);
  answer_json(r, arr);
}

cJSON *limits_json(pb_server *s, int64_t account_id) {
  pb_limits l;
  if (pb_limits_get(s->o.store, account_id, &l)) pb_limits_default(&l);
  pb_session_info *v = NULL;
  size_t n = 0;
  pb_sessions_list(s->o.ops->sessions, account_id, &v, &n);
  pb_admit_account *a = pb_admit_account_of(&s->accts, account_id);
  int64_t wait = 0, avail = 0;
  pb_admit_acquisitions_left(a, &l, pb_now_ms(), &avail, &wait);
  int tokens = (int)avail;
  int free_slots = l.max_concurrent_sessions - (int)n;
  if (free_slots < 0) free_slots = 0;
  cJSON *o = cJSON_CreateObject();
  cJSON *act = cJSON_AddArrayToObject(o, "activeSessions");
  for (size_t i = 0; i < n; i++) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "id", v[i].id);
    cJSON_AddItemToArray(act, e);
  }
  free(v);
  cJSON_AddNumberToObject(o, "maxConcurrentSessions", l.max_concurrent_sessions);
  cJSON_AddNumberToObject(o, "allowedBrowserAcquisitions",
                          tokens < free_slots ? tokens : free_slots);
  cJSON_AddNumberToObject(o, "timeUntilNextAllowedBrowserAcquisition",
                          tokens > 0 ? 0 : (double)wait);
  cJSON_AddNumberToObject(o, "acquisitionsPerMinute", l.acquisitions_per_minute);
  cJSON_AddNumberToObject(o, "keepAliveMaxMs", (double)l.keep_alive_max_ms);
  cJSON_AddNumberToObject(o, "quickActionsPerSecond", l.quick_actions_per_second);
  cJSON_AddNumberToObject(o, "concurrentQuickActions", l.concurrent_quick_actions);
  /* Persistent contexts: how many may be kept, and their stored MiB. */
  cJSON_AddNumberToObject(o, "maxContexts", l.max_contexts);
  cJSON_AddNumberToObject(o, "contextStorageMiB", (double)l.context_storage_mib);
  /* Session recordings kept (24 h): their MiB together. */
  cJSON_AddNumberToObject(o, "recordingStorageMiB", (double)l.recording_storage_mib);
  return o;
}

void get_limits(pb_server *s, req *r) {
  answer_json(r, limits_json(s, r->auth.account_id));
}

static int64_t urlarg_ms(struct lws *wsi, const char *name, int64_t def) {
  char v[64];
  long long x;
  if (!lws_get_urlarg_by_name(wsi, name, v, sizeof(v)) || pb_parse_int(v, 0, INT64_MAX, &x))
    return def;
  return x;
}

void get_usage(pb_server *s, req *r) {
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

void get_session(pb_server *s, req *r) {
  const char *id = pb_session_id(r->route_session);
  pb_session_info *v = NULL;
  size_t n = 0;
  cJSON *found = NULL;
  pb_sessions_list(s->o.ops->sessions, r->auth.account_id, &v, &n);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(v[i].id, id)) {
      found = session_json(&v[i]);
      handoff_add_json(found, id, r->auth.account_id);
    }
  free(v);
  if (found)
    answer_json(r, found);
  else
    answer_error(r, PB_CODE_SESSION_NOT_FOUND, "no live session %s for this account", id);
}

void answer_websocket_only(pb_server *s, req *r) {
  (void)s;
  answer_error(r, PB_CODE_INVALID_REQUEST, "connect to this URL with a WebSocket");
}

void answer_no_route(pb_server *s, req *r) {
  (void)s;
  answer_error(r, PB_CODE_NOT_FOUND, "no route %s", r->url);
}

void answer_traces_get_only(pb_server *s, req *r) {
  (void)s;
  answer_error(r, PB_CODE_METHOD_NOT_ALLOWED, "traces are read with GET");
}
