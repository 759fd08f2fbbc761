/* The live view over HTTP: the link's page (GET /live/{capability}), its
 * WebSocket (/live/{capability}/ws) and the revocation of a link.
 *
 * The capability is the URL's path: it is never logged (the request log
 * names the path /live/{capability}, refusals too), and the page asks the
 * browser to send no Referer.
 *
 * The WebSocket carries, server to viewer, binary frames (a 24-byte header,
 * then the JPEG) and small JSON texts (hello, tabs, page, refused, pong);
 * viewer to server, JSON texts: "ack" after painting a frame, "ping", and
 * input. One frame is in flight per viewer: until it is acked only the
 * newest frame is kept, so a viewer that stops reading costs one frame of
 * memory and nothing else. A view-only link's input is refused here, and
 * the viewer is told. I/O thread, except on_frame (the CDP reader thread). */
#include "common/json.h"
#include "common/jsontext.h"
#include "http/errors.h"
#include "http/internal.h"
#include "sessions/livelinks.h"
#include "sessions/screencast.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const char pb_live_html[];
extern const unsigned long pb_live_html_len;

/* Frame header: kind (1), 0, width, height (CSS px, u16 LE), device scale
 * x100 (u16 LE), the frame's wall ms and the send's wall ms (f64 LE). */
#define HDR 24
#define RX_MAX 65536
#define OUTQ_MAX 64
#define VIEWERS_PER_SESSION 16
#define WS_CLOSE_GONE 4410 /* the link expired, was revoked or its session ended */

typedef struct viewer viewer;
struct viewer {
  pb_server *srv;
  struct lws *wsi;
  pb_session *session; /* a reference */
  pb_screencast_sub *sub;
  pb_live_link link;
  /* The frame slot, shared with the reader thread. */
  pthread_mutex_t mu;
  unsigned char *frame; /* LWS_PRE + HDR + JPEG */
  size_t flen;
  int fresh;
  unsigned tabs_version;
  char url[2048], target[64];
  /* I/O thread only. */
  int inflight;
  int hello_sent;
  unsigned tabs_sent;
  int tabs_known;
  char url_sent[2048], target_sent[64];
  char *outq[OUTQ_MAX];
  int nout;
  pb_buf rx;
  int rx_too_big;
  int kill_code;
  char kill_reason[64];
  int64_t frames_sent, frames_dropped;
  unsigned handoff_sent; /* the version of the session's handoff told (0: none) */
  viewer *next, **prev;
};

struct live_state {
  viewer *viewers;
  struct {
    struct lws *wsi;
    viewer *v;
  } pending[32];
  int npending;
  lws_sorted_usec_list_t tick;
  int ticking;
};

static struct live_state *state(pb_server *s) {
  if (!s->live_view) s->live_view = calloc(1, sizeof(*s->live_view));
  return s->live_view;
}

/* ---- the capability in a path ---- */

/* The capability of /live/{cap}[rest]: copied to cap (33 bytes) and rest
 * pointed past it. 0, or -1 when the path has none. */
static int parse_cap(const char *path, char cap[PB_LIVE_TOKEN_LEN + 1], const char **rest) {
  if (strncmp(path, "/live/", 6)) return -1;
  const char *p = path + 6;
  size_t n = strcspn(p, "/?");
  if (n != PB_LIVE_TOKEN_LEN) return -1;
  for (size_t i = 0; i < n; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f'))) return -1;
  memcpy(cap, p, n);
  cap[n] = '\0';
  *rest = p + n;
  return 0;
}

/* The link's verdict, with the code and words to answer. 0 and a session
 * reference in *out when it is good. */
static int check_link(pb_server *s, const char *cap, pb_live_link *l, pb_session **out,
                      pb_code *code, const char **msg) {
  *out = NULL;
  int rc = pb_live_lookup(cap, l);
  if (rc == PB_EEXPIRED || rc == PB_EREVOKED) {
    *code = rc == PB_EEXPIRED ? PB_CODE_LIVE_LINK_EXPIRED : PB_CODE_LIVE_LINK_REVOKED;
    *msg = rc == PB_EEXPIRED ? "the live view link expired; ask for a new one"
                             : "the live view link was revoked";
    return -1;
  }
  if (rc) {
    *code = PB_CODE_LIVE_LINK_NOT_FOUND;
    *msg = "no such live view link";
    return -1;
  }
  pb_session *ss = pb_sessions_get(s->o.ops->sessions, l->session_id, l->account_id);
  if (!ss || !pb_session_screencast(ss)) {
    pb_session_unref(ss);
    *code = PB_CODE_LIVE_LINK_EXPIRED;
    *msg = "the session of this live view link ended";
    return -1;
  }
  *out = ss;
  return 0;
}

/* ---- GET /live/{capability}: the page ---- */

void get_live_page(pb_server *s, req *r) {
  char cap[PB_LIVE_TOKEN_LEN + 1];
  const char *rest = "";
  int parsed = parse_cap(r->url, cap, &rest);
  /* From here the log and the metrics name no capability. */
  pb_strlcpy(r->path, "/live/{capability}", sizeof(r->path));
  if (r->method != LWSHUMETH_GET) {
    answer_error(r, PB_CODE_METHOD_NOT_ALLOWED, "a live view page takes GET");
    return;
  }
  if (parsed) {
    answer_error(r, PB_CODE_LIVE_LINK_NOT_FOUND, "no such live view link");
    return;
  }
  if (*rest && strcmp(rest, "/")) {
    answer_error(
        r, *rest == '/' && !strcmp(rest, "/ws") ? PB_CODE_INVALID_REQUEST : PB_CODE_NOT_FOUND, "%s",
        !strcmp(rest, "/ws") ? "the live view socket takes a WebSocket upgrade"
                             : "no such page of the live view");
    return;
  }
  pb_live_link l;
  pb_session *ss = NULL;
  pb_code code;
  const char *msg;
  if (check_link(s, cap, &l, &ss, &code, &msg)) {
    answer_error(r, code, "%s", msg);
    return;
  }
  pb_session_unref(ss);
  char *body = malloc(pb_live_html_len + 1);
  if (!body) {
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "out of memory");
    return;
  }
  memcpy(body, pb_live_html, pb_live_html_len);
  r->res.status = 200;
  r->res.body = body;
  r->res.body_len = pb_live_html_len;
  r->res.content_type = "text/html; charset=utf-8";
  answer_ready(r);
}

/* ---- DELETE /browser/sessions/{id}/live/{linkId} ---- */

void delete_live_link(pb_server *s, req *r) {
  (void)s;
  const char *sid = pb_session_id(r->route_session);
  const char *p = strstr(r->url, "/live/");
  const char *id = p ? p + 6 : "";
  if (!*id || strchr(id, '/') || pb_live_revoke(sid, r->auth.account_id, id)) {
    answer_error(r, PB_CODE_LIVE_LINK_NOT_FOUND, "no live view link %.*s for this session",
                 (int)strnlen(id, 16), id);
    return;
  }
  /* Its viewers are closed by the next tick. */
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", id);
  cJSON_AddStringToObject(o, "status", "revoked");
  answer_json(r, o);
}

/* ---- the WebSocket ---- */

int live_is_upgrade(struct lws *wsi) {
  char uri[1024];
  return lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0 && !strncmp(uri, "/live/", 6);
}

/* A refused WebSocket upgrade's answer: the status of err and the JSON
 * error envelope (message must need no JSON escaping). 1: answered. */
int pb_ws_refuse_answer(struct lws *wsi, pb_code err, const char *message) {
  int status = pb_http_status(err);
  char body[512], rid[PB_REQUEST_ID_MAX + 1];
  request_id_new(rid);
  int n = snprintf(body, sizeof(body),
                   "{\"success\":false,\"errors\":[{\"code\":\"%s\",\"message\":\"%s\"}],"
                   "\"requestId\":\"%s\"}",
                   pb_code_text(err), message, rid);
  if (n < 0 || (size_t)n >= sizeof(body)) return -1;
  unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                                     *end = buf + sizeof(buf) - 1;
  if (lws_add_http_common_headers(wsi, (unsigned int)status, "application/json", (lws_filepos_t)n,
                                  &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL);
  return 1;
}

/* A refused upgrade: the answer, and a log line that names no capability. */
static int refuse(struct lws *wsi, pb_code err, const char *message) {
  PB_INFO("live: websocket refused at /live/{capability}/ws: %d %s (%s)", pb_http_status(err),
          pb_code_text(err), message);
  return pb_ws_refuse_answer(wsi, err, message);
}

static int viewers_of(struct live_state *ls, pb_session *ss) {
  int n = 0;
  for (viewer *v = ls->viewers; v; v = v->next) n += v->session == ss;
  for (int i = 0; i < ls->npending; i++) n += ls->pending[i].v->session == ss;
  return n;
}

static void viewer_free(viewer *v) {
  if (!v) return;
  pb_screencast_unsubscribe(v->sub);
  pb_session_unref(v->session);
  free(v->frame);
  for (int i = 0; i < v->nout; i++) free(v->outq[i]);
  pb_buf_free(&v->rx);
  pthread_mutex_destroy(&v->mu);
  free(v);
}

int live_confirm(pb_server *s, struct lws *wsi) {
  struct live_state *ls = state(s);
  char uri[256], cap[PB_LIVE_TOKEN_LEN + 1];
  const char *rest = "";
  if (!ls) return refuse(wsi, PB_CODE_SERVICE_UNAVAILABLE, "out of memory");
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0 || parse_cap(uri, cap, &rest) ||
      strcmp(rest, "/ws"))
    return refuse(wsi, PB_CODE_LIVE_LINK_NOT_FOUND, "no such live view socket");
  if (s->draining) return refuse(wsi, PB_CODE_SHUTTING_DOWN, "the service is shutting down");
  pb_live_link l;
  pb_session *ss = NULL;
  pb_code code;
  const char *msg;
  if (check_link(s, cap, &l, &ss, &code, &msg)) return refuse(wsi, code, msg);
  if (ls->npending == (int)(sizeof(ls->pending) / sizeof(ls->pending[0])) ||
      viewers_of(ls, ss) >= VIEWERS_PER_SESSION) {
    pb_session_unref(ss);
    return refuse(wsi, PB_CODE_BUSY, "too many viewers of this session");
  }
  viewer *v = calloc(1, sizeof(*v));
  if (!v) {
    pb_session_unref(ss);
    return refuse(wsi, PB_CODE_SERVICE_UNAVAILABLE, "out of memory");
  }
  v->srv = s;
  v->session = ss;
  v->link = l;
  pthread_mutex_init(&v->mu, NULL);
  pb_buf_init(&v->rx, RX_MAX);
  ls->pending[ls->npending].wsi = wsi;
  ls->pending[ls->npending].v = v;
  ls->npending++;
  return 0;
}

static viewer *pending_take(struct live_state *ls, struct lws *wsi) {
  for (int i = 0; ls && i < ls->npending; i++)
    if (ls->pending[i].wsi == wsi) {
      viewer *v = ls->pending[i].v;
      ls->pending[i] = ls->pending[--ls->npending];
      return v;
    }
  return NULL;
}

int live_is_pending(pb_server *s, struct lws *wsi) {
  for (int i = 0; s->live_view && i < s->live_view->npending; i++)
    if (s->live_view->pending[i].wsi == wsi) return 1;
  return 0;
}

void live_pending_drop(pb_server *s, struct lws *wsi) {
  viewer_free(pending_take(s->live_view, wsi));
}

static void put_u16(unsigned char *p, unsigned v) {
  p[0] = (unsigned char)(v & 0xff);
  p[1] = (unsigned char)(v >> 8);
}

/* The CDP reader thread: keep the newest frame, wake the I/O thread. */
static void on_frame(const pb_screencast_frame *f, void *data) {
  viewer *v = data;
  unsigned char *b = malloc(LWS_PRE + HDR + f->len);
  if (!b) return;
  unsigned char *h = b + LWS_PRE;
  memset(h, 0, HDR);
  h[0] = 1;
  put_u16(h + 2, f->width > 0 && f->width < 65536 ? (unsigned)f->width : 0);
  put_u16(h + 4, f->height > 0 && f->height < 65536 ? (unsigned)f->height : 0);
  put_u16(h + 6, (unsigned)(f->device_scale * 100 + 0.5) & 0xffff);
  double wall = (double)f->wall_ms;
  memcpy(h + 8, &wall, 8); /* the hosts we run on are little-endian */
  memcpy(h + HDR, f->jpeg, f->len);
  pthread_mutex_lock(&v->mu);
  if (v->fresh) v->frames_dropped++;
  free(v->frame);
  v->frame = b;
  v->flen = LWS_PRE + HDR + f->len;
  v->fresh = 1;
  v->tabs_version = f->tabs_version;
  pb_strlcpy(v->url, f->url ? f->url : "", sizeof(v->url));
  pb_strlcpy(v->target, f->target_id ? f->target_id : "", sizeof(v->target));
  pthread_mutex_unlock(&v->mu);
  lws_cancel_service(v->srv->ctx);
}

static void tick(lws_sorted_usec_list_t *sul);

static void tick_start(pb_server *s) {
  struct live_state *ls = s->live_view;
  if (ls->ticking) return;
  ls->ticking = 1;
  lws_sul_schedule(s->ctx, 0, &ls->tick, tick, 500 * LWS_US_PER_MS);
}

int live_established(pb_server *s, struct lws *wsi, pss_t *pss) {
  viewer *v = pending_take(s->live_view, wsi);
  memset(pss, 0, sizeof(*pss));
  if (!v) return -1;
  v->wsi = wsi;
  if (pb_screencast_subscribe(v->session, on_frame, v, &v->sub)) {
    viewer_free(v);
    return -1;
  }
  pss->live = v;
  struct live_state *ls = s->live_view;
  v->next = ls->viewers;
  if (ls->viewers) ls->viewers->prev = &v->next;
  v->prev = &ls->viewers;
  ls->viewers = v;
  PB_INFO("live: a %s viewer joined %s", v->link.mode == PB_LIVE_VIEW ? "view-only" : "interactive",
          v->link.session_id);
  tick_start(s);
  lws_callback_on_writable(wsi);
  return 0;
}

void live_closed(pb_server *s, struct lws *wsi, pss_t *pss) {
  (void)s;
  (void)wsi;
  viewer *v = pss ? pss->live : NULL;
  if (!v) return;
  pss->live = NULL;
  if (v->prev) {
    *v->prev = v->next;
    if (v->next) v->next->prev = v->prev;
  }
  PB_INFO("live: a viewer left %s (%lld frames sent, %lld dropped)", v->link.session_id,
          (long long)v->frames_sent, (long long)v->frames_dropped);
  viewer_free(v);
}

/* Queues a JSON text for the viewer (dropped when OUTQ_MAX wait). */
static void say(viewer *v, cJSON *o) {
  char *t = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!t) return;
  if (v->nout == OUTQ_MAX) {
    free(t);
    return;
  }
  v->outq[v->nout++] = t;
  lws_callback_on_writable(v->wsi);
}

static void refused(viewer *v, pb_code code, const char *why) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "t", "refused");
  cJSON_AddStringToObject(o, "code", pb_code_text(code));
  cJSON_AddStringToObject(o, "message", why);
  say(v, o);
}

static int kill_viewer(viewer *v, int code, const char *reason) {
  if (v->kill_code) return 0;
  v->kill_code = code;
  pb_strlcpy(v->kill_reason, reason, sizeof(v->kill_reason));
  lws_callback_on_writable(v->wsi);
  return 1;
}

/* Every 500 ms while there are viewers: links that ended close their
 * sockets; tab lists that changed without a frame are sent. */
static void tick(lws_sorted_usec_list_t *sul) {
  struct live_state *ls = lws_container_of(sul, struct live_state, tick);
  ls->ticking = 0;
  pb_server *s = NULL;
  for (viewer *v = ls->viewers; v; v = v->next) {
    s = v->srv;
    pb_live_link l;
    int rc = pb_live_get(v->link.id, &l);
    if (rc || pb_session_ended(v->session, NULL))
      kill_viewer(v, WS_CLOSE_GONE,
                  rc == PB_EREVOKED   ? "the live view link was revoked"
                  : rc == PB_EEXPIRED ? "the live view link expired"
                                      : "the session ended");
    else
      lws_callback_on_writable(v->wsi);
  }
  if (s) tick_start(s);
}

static int write_text(struct lws *wsi, const char *t) {
  size_t n = strlen(t);
  unsigned char *b = malloc(LWS_PRE + n);
  if (!b) return -1;
  memcpy(b + LWS_PRE, t, n);
  int ok = lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_TEXT) >= (int)n;
  free(b);
  return ok ? 0 : -1;
}

/* Sends the session's handoff when it changed since last told: the page
 * shows its message and, while it waits, the "Done" button. 1 with *rc
 * when it wrote. */
static int send_handoff(viewer *v, struct lws *wsi, int *rc) {
  pb_handoff h;
  unsigned hv = pb_handoff_get(v->link.session_id, v->link.account_id, &h) ? 0 : h.version;
  if (hv == v->handoff_sent) return 0;
  v->handoff_sent = hv;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "t", "handoff");
  cJSON_AddBoolToObject(o, "waiting", hv && h.state == PB_HANDOFF_WAITING);
  cJSON_AddStringToObject(o, "state", hv ? pb_handoff_state_text(h.state) : "none");
  cJSON_AddStringToObject(o, "message", hv ? h.message : "");
  if (hv && pb_handoff_by_text(h.ended_by))
    cJSON_AddStringToObject(o, "endedBy", pb_handoff_by_text(h.ended_by));
  cJSON_AddBoolToObject(o, "canHandBack", v->link.mode == PB_LIVE_INTERACTIVE);
  char *txt = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  *rc = txt ? write_text(wsi, txt) : -1;
  free(txt);
  lws_callback_on_writable(wsi);
  return 1;
}

int live_writable(struct lws *wsi, pss_t *pss) {
  viewer *v = pss->live;
  if (v->kill_code) {
    /* A handoff that ended (and revoked its link) is told before the close. */
    int hrc;
    if (v->hello_sent && send_handoff(v, wsi, &hrc)) return hrc;
    lws_close_reason(wsi, (enum lws_close_status)v->kill_code, (unsigned char *)v->kill_reason,
                     strlen(v->kill_reason));
    return -1;
  }
  if (!v->hello_sent) {
    v->hello_sent = 1;
    char when[40];
    int64_t ms = v->link.expires_wall_ms;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "t", "hello");
    cJSON_AddStringToObject(o, "mode", v->link.mode == PB_LIVE_VIEW ? "view" : "interactive");
    cJSON_AddStringToObject(o, "sessionId", v->link.session_id);
    cJSON_AddStringToObject(o, "expiresAt", when);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = txt ? write_text(wsi, txt) : -1;
    free(txt);
    lws_callback_on_writable(wsi);
    return rc;
  }
  if (v->nout) {
    char *t = v->outq[0];
    memmove(v->outq, v->outq + 1, sizeof(v->outq[0]) * (size_t)(v->nout - 1));
    v->nout--;
    int rc = write_text(wsi, t);
    free(t);
    lws_callback_on_writable(wsi);
    return rc;
  }
  int hrc;
  if (send_handoff(v, wsi, &hrc)) return hrc;
  unsigned version = 0;
  char *tabs = NULL;
  pthread_mutex_lock(&v->mu);
  unsigned seen = v->tabs_version;
  int page_moved = strcmp(v->url, v->url_sent) || strcmp(v->target, v->target_sent);
  pthread_mutex_unlock(&v->mu);
  (void)seen;
  tabs = pb_screencast_tabs(v->session, &version);
  if (tabs && (!v->tabs_known || version != v->tabs_sent)) {
    v->tabs_known = 1;
    v->tabs_sent = version;
    size_t n = strlen(tabs);
    char *msg = malloc(n + 32);
    int rc = -1;
    if (msg) {
      snprintf(msg, n + 32, "{\"t\":\"tabs\",\"tabs\":%s}", tabs);
      rc = write_text(wsi, msg);
    }
    free(msg);
    free(tabs);
    lws_callback_on_writable(wsi);
    return rc;
  }
  free(tabs);
  if (page_moved) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "t", "page");
    pthread_mutex_lock(&v->mu);
    pb_strlcpy(v->url_sent, v->url, sizeof(v->url_sent));
    pb_strlcpy(v->target_sent, v->target, sizeof(v->target_sent));
    pthread_mutex_unlock(&v->mu);
    cJSON_AddStringToObject(o, "url", v->url_sent);
    cJSON_AddStringToObject(o, "targetId", v->target_sent);
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    int rc = txt ? write_text(wsi, txt) : -1;
    free(txt);
    lws_callback_on_writable(wsi);
    return rc;
  }
  if (v->inflight) return 0;
  pthread_mutex_lock(&v->mu);
  unsigned char *f = v->fresh ? v->frame : NULL;
  size_t flen = v->flen;
  if (f) {
    v->frame = NULL;
    v->fresh = 0;
  }
  pthread_mutex_unlock(&v->mu);
  if (!f) return 0;
  double now = (double)pb_wall_ms();
  memcpy(f + LWS_PRE + 16, &now, 8);
  size_t n = flen - LWS_PRE;
  int ok = lws_write(wsi, f + LWS_PRE, n, LWS_WRITE_BINARY) >= (int)n;
  free(f);
  v->inflight = 1;
  v->frames_sent++;
  return ok ? 0 : -1;
}

/* ---- input from the viewer ---- */

static int str_in(const char *v, const char *const *set) {
  for (; v && *set; set++)
    if (!strcmp(v, *set)) return 1;
  return 0;
}

/* A finite number of o's key within [lo, hi], or def when absent; -1 when
 * present and not such a number. */
static int num(const cJSON *o, const char *k, double lo, double hi, double def, double *out) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!j) {
    *out = def;
    return 0;
  }
  if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || j->valuedouble < lo || j->valuedouble > hi)
    return -1;
  *out = j->valuedouble;
  return 0;
}

/* A string of o's key of at most cap-1 bytes (def when absent); -1 when
 * present and not such a string. */
static int str(const cJSON *o, const char *k, char *out, size_t cap, const char *def) {
  const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, k);
  if (!j) {
    pb_strlcpy(out, def, cap);
    return 0;
  }
  if (!cJSON_IsString(j) || strlen(j->valuestring) >= cap) return -1;
  pb_strlcpy(out, j->valuestring, cap);
  return 0;
}

/* The viewer's message as checked input; 0, or -1 with why. */
static int read_input(const cJSON *m, const char *t, pb_sc_input *in, const char **why) {
  static const char *const mouse_types[] = {"mousePressed", "mouseReleased", "mouseMoved",
                                            "mouseWheel", NULL};
  static const char *const buttons[] = {"none", "left", "middle", "right", "back", "forward", NULL};
  static const char *const key_types[] = {"keyDown", "keyUp", "rawKeyDown", "char", NULL};
  memset(in, 0, sizeof(*in));
  double d;
  *why = "a malformed input message";
  if (!strcmp(t, "mouse")) {
    in->kind = PB_SC_MOUSE;
    if (str(m, "type", in->type, sizeof(in->type), "") || !str_in(in->type, mouse_types) ||
        num(m, "x", -100000, 100000, 0, &in->x) || num(m, "y", -100000, 100000, 0, &in->y) ||
        num(m, "deltaX", -100000, 100000, 0, &in->dx) ||
        num(m, "deltaY", -100000, 100000, 0, &in->dy) ||
        str(m, "button", in->button, sizeof(in->button), "none") || !str_in(in->button, buttons))
      return -1;
    if (num(m, "buttons", 0, 31, 0, &d)) return -1;
    in->buttons = (int)d;
    if (num(m, "clickCount", 0, 3, 0, &d)) return -1;
    in->click_count = (int)d;
  } else if (!strcmp(t, "key")) {
    in->kind = PB_SC_KEY;
    if (str(m, "type", in->type, sizeof(in->type), "") || !str_in(in->type, key_types) ||
        str(m, "key", in->key, sizeof(in->key), "") ||
        str(m, "code", in->code, sizeof(in->code), "") ||
        str(m, "text", in->key_text, sizeof(in->key_text), ""))
      return -1;
    if (num(m, "keyCode", 0, 255, 0, &d)) return -1;
    in->key_code = (int)d;
    if (num(m, "location", 0, 3, 0, &d)) return -1;
    in->location = (int)d;
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(m, "repeat");
    in->auto_repeat = cJSON_IsTrue(rep);
  } else if (!strcmp(t, "text")) {
    in->kind = PB_SC_TEXT;
    if (str(m, "text", in->str, sizeof(in->str), "") || !in->str[0]) {
      *why = "text must be a string of 1 to 4095 bytes";
      return -1;
    }
  } else if (!strcmp(t, "tab")) {
    char op[16];
    if (str(m, "op", op, sizeof(op), "")) return -1;
    if (!strcmp(op, "new")) {
      in->kind = PB_SC_NEW;
      if (str(m, "url", in->str, 2048, "")) return -1;
    } else if (!strcmp(op, "activate") || !strcmp(op, "close")) {
      in->kind = !strcmp(op, "close") ? PB_SC_CLOSE : PB_SC_ACTIVATE;
      if (str(m, "targetId", in->str, 64, "") || !in->str[0]) return -1;
    } else {
      return -1;
    }
  } else if (!strcmp(t, "navigate")) {
    in->kind = PB_SC_NAVIGATE;
    if (str(m, "url", in->str, 2048, "") || !in->str[0]) return -1;
  } else if (!strcmp(t, "reload") || !strcmp(t, "back") || !strcmp(t, "forward")) {
    in->kind = !strcmp(t, "reload") ? PB_SC_RELOAD
               : !strcmp(t, "back") ? PB_SC_BACK
                                    : PB_SC_FORWARD;
  } else {
    *why = "unknown message type";
    return -1;
  }
  if (in->kind == PB_SC_MOUSE || in->kind == PB_SC_KEY) {
    if (num(m, "modifiers", 0, 15, 0, &d)) return -1;
    in->modifiers = (int)d;
  }
  return 0;
}

static void handle(viewer *v, const char *text, size_t len) {
  char err[256];
  /* Strict JSON, as every request: no duplicate keys to read two ways. */
  cJSON *m =
      pb_json_text_check(text, len, err, sizeof(err)) ? NULL : cJSON_ParseWithLength(text, len);
  if (m && pb_json_dup_keys(m, err, sizeof(err))) {
    cJSON_Delete(m);
    m = NULL;
  }
  const char *t = cJSON_IsObject(m) ? pb_json_str(m, "t") : NULL;
  if (!t) {
    refused(v, PB_CODE_INVALID_REQUEST, "messages are JSON objects with a string \"t\"");
  } else if (!strcmp(t, "ack")) {
    v->inflight = 0;
    lws_callback_on_writable(v->wsi);
  } else if (!strcmp(t, "ping")) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "t", "pong");
    double ts = 0;
    if (!num(m, "ts", -1e15, 1e15, 0, &ts)) cJSON_AddNumberToObject(o, "ts", ts);
    cJSON_AddNumberToObject(o, "server", (double)pb_wall_ms());
    say(v, o);
  } else if (!strcmp(t, "handback")) {
    pb_handoff h;
    int rc = v->link.mode == PB_LIVE_VIEW
                 ? PB_EFORBIDDEN
                 : handoff_handback(v->srv, v->link.session_id, v->link.account_id, &h);
    if (rc == PB_EFORBIDDEN)
      refused(v, PB_CODE_LIVE_VIEW_ONLY, "this live view link is view-only: it cannot hand back");
    else if (rc)
      refused(v, PB_CODE_HANDOFF_NOT_FOUND, "no handoff of this session waits for a person");
    else
      lws_callback_on_writable(v->wsi); /* the page hears the handoff ended */
  } else if (v->link.mode == PB_LIVE_VIEW) {
    refused(v, PB_CODE_LIVE_VIEW_ONLY, "this live view link is view-only: input is refused");
  } else {
    pb_sc_input *in = malloc(sizeof(*in));
    const char *why = NULL;
    if (!in) {
      refused(v, PB_CODE_SERVICE_UNAVAILABLE, "out of memory");
    } else if (read_input(m, t, in, &why)) {
      refused(v, PB_CODE_INVALID_REQUEST, why);
    } else {
      int rc = pb_screencast_input(v->session, in, err, sizeof(err));
      if (rc == PB_EINVAL)
        refused(v,
                in->kind == PB_SC_NEW || in->kind == PB_SC_NAVIGATE ? PB_CODE_FORBIDDEN_URL
                                                                    : PB_CODE_INVALID_REQUEST,
                err);
      else if (rc == PB_EBUSY)
        refused(v, PB_CODE_BUSY, "input arrives faster than the browser takes it");
      else if (rc)
        refused(v, PB_CODE_LIVE_LINK_EXPIRED, "the session ended");
    }
    free(in);
  }
  cJSON_Delete(m);
}

int live_receive(pss_t *pss, struct lws *wsi, const void *in, size_t len) {
  viewer *v = pss->live;
  if (lws_frame_is_binary(wsi)) {
    static const char why[] = "the live view takes JSON text messages";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, (unsigned char *)why,
                     sizeof(why) - 1);
    return -1;
  }
  if (!v->rx_too_big && pb_buf_append(&v->rx, in, len)) v->rx_too_big = 1;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) return 0;
  if (v->rx_too_big) {
    static const char why[] = "message over 64 KiB";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                     sizeof(why) - 1);
    return -1;
  }
  handle(v, v->rx.data ? v->rx.data : "", v->rx.len);
  v->rx.len = 0;
  return 0;
}

void live_wake_all(pb_server *s) {
  if (!s->live_view) return;
  for (viewer *v = s->live_view->viewers; v; v = v->next) {
    pthread_mutex_lock(&v->mu);
    int want = v->fresh && !v->inflight;
    pthread_mutex_unlock(&v->mu);
    if (want) lws_callback_on_writable(v->wsi);
  }
}

void live_free(pb_server *s) {
  if (!s->live_view) return;
  while (s->live_view->npending)
    viewer_free(pending_take(s->live_view, s->live_view->pending[0].wsi));
  free(s->live_view);
  s->live_view = NULL;
}
