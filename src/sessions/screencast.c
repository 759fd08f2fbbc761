/* The live view's frame source and input path (screencast.h). The worker
 * owns the cast session (its id, its subscription); the reader thread's
 * hooks keep the tab table and fan frames out. Lock order: the CDP
 * connection's lock (held by hooks), then sc->mu, then sc->subs_mu; the
 * worker holds none of them across a CDP call. */
#include "sessions/screencast.h"

#include "common/json.h"
#include "common/pb.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABS_MAX 128
#define SUBS_MAX 64
#define QUEUE_MAX 256
#define CALL_MS 5000

typedef struct {
  char id[64];
  char url[2048];
  char title[256];
  char ctx[64];
  char opener[64];
  int64_t focused; /* focus_seq when last focused; 0 never */
} tab;

typedef struct in_item {
  pb_sc_input in;
  struct in_item *next;
} in_item;

struct pb_screencast_sub {
  pb_screencast *sc;
  pb_screencast_cb cb;
  void *data;
  struct pb_screencast_sub *next;
};

struct pb_screencast {
  pb_cdp *c;
  pb_proxy *proxy;
  pb_policy_url_check url_check;
  void *check_data;
  char root[64]; /* the service's root session (hidden) */
  pb_cdp_sub *root_sub;

  pthread_mutex_t mu; /* everything below to subs_mu */
  pthread_cond_t cv;
  tab tabs[TABS_MAX];
  int ntabs;
  unsigned tabs_version;
  int64_t focus_seq;
  char wanted[64];     /* the tab to show */
  char cur_target[64]; /* the tab shown (worker writes) */
  char cur_sid[64];    /* its cast session (worker writes) */
  int cur_dead;        /* the cast session detached */
  in_item *qhead, *qtail;
  int nq;
  int nsubs;
  int stop, stopped;
  pthread_t worker;
  double dsf;

  pthread_mutex_t subs_mu;
  pb_screencast_sub *subs;
  /* The last frame, for a newcomer to see at once (a still page sends no
   * more); under subs_mu. */
  pb_screencast_frame last;
  unsigned char *last_jpeg;
  char last_url[2048], last_target[64];

  pb_cdp_sub *cast_sub; /* worker only */
};

/* ---- the tab table (sc->mu held) ---- */

static tab *tab_find(pb_screencast *sc, const char *id) {
  for (int i = 0; i < sc->ntabs; i++)
    if (!strcmp(sc->tabs[i].id, id)) return &sc->tabs[i];
  return NULL;
}

static void focus_locked(pb_screencast *sc, const char *id) {
  if (!id || !*id || strlen(id) >= sizeof(sc->wanted)) return;
  pb_strlcpy(sc->wanted, id, sizeof(sc->wanted));
  tab *t = tab_find(sc, id);
  if (t) t->focused = ++sc->focus_seq;
  sc->tabs_version++;
  pthread_cond_broadcast(&sc->cv);
}

/* The page focused last that is still open, else any, else "". */
static void fallback_locked(pb_screencast *sc) {
  tab *best = NULL;
  for (int i = 0; i < sc->ntabs; i++)
    if (!best || sc->tabs[i].focused > best->focused) best = &sc->tabs[i];
  pb_strlcpy(sc->wanted, best ? best->id : "", sizeof(sc->wanted));
  pthread_cond_broadcast(&sc->cv);
}

static void tab_update(tab *t, const cJSON *info) {
  const char *v;
  if ((v = pb_json_str(info, "url"))) pb_strlcpy(t->url, v, sizeof(t->url));
  if ((v = pb_json_str(info, "title"))) pb_strlcpy(t->title, v, sizeof(t->title));
  if ((v = pb_json_str(info, "browserContextId"))) pb_strlcpy(t->ctx, v, sizeof(t->ctx));
  if ((v = pb_json_str(info, "openerId"))) pb_strlcpy(t->opener, v, sizeof(t->opener));
}

/* Reader thread: the root session's discovery. Consumes every event. */
static int root_hook(pb_cdp *c, const char *sid, const char *method, const cJSON *params,
                     void *data) {
  (void)c;
  (void)sid;
  pb_screencast *sc = data;
  const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
  const char *tid = info ? pb_json_str(info, "targetId") : pb_json_str(params, "targetId");
  const char *type = pb_json_str(info, "type");
  pthread_mutex_lock(&sc->mu);
  if (!strcmp(method, "Target.targetCreated") || !strcmp(method, "Target.targetInfoChanged")) {
    if (tid && type && !strcmp(type, "page") && strlen(tid) < 64) {
      tab *t = tab_find(sc, tid);
      int created = !t;
      if (!t && sc->ntabs < TABS_MAX) {
        t = &sc->tabs[sc->ntabs++];
        memset(t, 0, sizeof(*t));
        pb_strlcpy(t->id, tid, sizeof(t->id));
      }
      if (t) {
        tab_update(t, info);
        sc->tabs_version++;
        /* A popup of the tab shown is followed, as a person would see it. */
        if (created && t->opener[0] && !strcmp(t->opener, sc->wanted)) focus_locked(sc, tid);
        if (!sc->wanted[0]) focus_locked(sc, tid);
      }
    }
  } else if (!strcmp(method, "Target.targetDestroyed")) {
    for (int i = 0; tid && i < sc->ntabs; i++)
      if (!strcmp(sc->tabs[i].id, tid)) {
        sc->tabs[i] = sc->tabs[--sc->ntabs];
        sc->tabs_version++;
        if (!strcmp(sc->wanted, tid)) fallback_locked(sc);
        break;
      }
  } else if (!strcmp(method, "Target.detachedFromTarget")) {
    const char *gone = pb_json_str(params, "sessionId");
    if (gone && !strcmp(gone, sc->cur_sid)) {
      sc->cur_dead = 1;
      pthread_cond_broadcast(&sc->cv);
    }
  }
  pthread_mutex_unlock(&sc->mu);
  return 1;
}

/* Reader thread: the cast session's events. Frames are acked at once and
 * fanned out; everything else is dropped. */
static int cast_hook(pb_cdp *c, const char *sid, const char *method, const cJSON *params,
                     void *data) {
  pb_screencast *sc = data;
  if (strcmp(method, "Page.screencastFrame")) return 1;
  const cJSON *fid = cJSON_GetObjectItemCaseSensitive(params, "sessionId");
  if (cJSON_IsNumber(fid)) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "sessionId", fid->valuedouble);
    pb_cdp_send(c, sid, "Page.screencastFrameAck", a);
  }
  const char *b64 = pb_json_str(params, "data");
  const cJSON *md = cJSON_GetObjectItemCaseSensitive(params, "metadata");
  if (!b64 || strlen(b64) > PB_SCREENCAST_FRAME_MAX / 3 * 4) return 1;
  unsigned char *jpeg = NULL;
  size_t len = 0;
  if (pb_base64_decode(b64, strlen(b64), &jpeg, &len)) return 1;
  char url[2048] = "", target[64] = "";
  pb_screencast_frame f = {.jpeg = jpeg, .len = len};
  double ts = pb_json_num(md, "timestamp", 0);
  f.wall_ms = ts > 0 ? (int64_t)(ts * 1000) : pb_wall_ms();
  f.width = (int)pb_json_num(md, "deviceWidth", 0);
  f.height = (int)pb_json_num(md, "deviceHeight", 0);
  pthread_mutex_lock(&sc->mu);
  f.device_scale = sc->dsf > 0 ? sc->dsf : 1;
  pb_strlcpy(target, sc->cur_target, sizeof(target));
  tab *t = tab_find(sc, target);
  if (t) pb_strlcpy(url, t->url, sizeof(url));
  f.tabs_version = sc->tabs_version;
  pthread_mutex_unlock(&sc->mu);
  f.url = url;
  f.target_id = target;
  pthread_mutex_lock(&sc->subs_mu);
  for (pb_screencast_sub *s = sc->subs; s; s = s->next) s->cb(&f, s->data);
  free(sc->last_jpeg);
  sc->last_jpeg = jpeg;
  sc->last = f;
  pb_strlcpy(sc->last_url, url, sizeof(sc->last_url));
  pb_strlcpy(sc->last_target, target, sizeof(sc->last_target));
  sc->last.url = sc->last_url;
  sc->last.target_id = sc->last_target;
  pthread_mutex_unlock(&sc->subs_mu);
  return 1;
}

/* ---- the worker ---- */

static void cast_stop(pb_screencast *sc) {
  char sid[64];
  pthread_mutex_lock(&sc->mu);
  pb_strlcpy(sid, sc->cur_sid, sizeof(sid));
  int dead = sc->cur_dead;
  sc->cur_sid[0] = sc->cur_target[0] = '\0';
  sc->cur_dead = 0;
  sc->tabs_version++;
  pthread_mutex_unlock(&sc->mu);
  if (!sid[0]) return;
  if (!dead && pb_cdp_alive(sc->c)) {
    int64_t dl = pb_now_ms() + CALL_MS;
    pb_cdp_call(sc->c, sid, "Page.stopScreencast", NULL, dl, NULL, NULL, 0);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "sessionId", sid);
    pb_cdp_call(sc->c, sc->root, "Target.detachFromTarget", p, dl, NULL, NULL, 0);
  }
  pb_cdp_unsubscribe(sc->cast_sub);
  sc->cast_sub = NULL;
  /* Detached: nothing more comes on it. */
  pb_proxy_unhide_session(sc->proxy, sid);
}

static int cast_start(pb_screencast *sc, const char *target) {
  int64_t dl = pb_now_ms() + CALL_MS;
  cJSON *p = cJSON_CreateObject(), *res = NULL;
  cJSON_AddStringToObject(p, "targetId", target);
  cJSON_AddBoolToObject(p, "flatten", 1);
  int rc = pb_cdp_call(sc->c, sc->root, "Target.attachToTarget", p, dl, &res, NULL, 0);
  char sid[64] = "";
  const char *v = rc ? NULL : pb_json_str(res, "sessionId");
  if (v && strlen(v) < sizeof(sid)) pb_strlcpy(sid, v, sizeof(sid));
  cJSON_Delete(res);
  if (!sid[0]) return rc ? rc : PB_ECDP;
  /* Announced on the root (hidden); hidden itself before it says anything. */
  pb_proxy_hide_session(sc->proxy, sid);
  rc = pb_cdp_subscribe(sc->c, sid, &sc->cast_sub);
  if (!rc) pb_cdp_sub_set_hook(sc->cast_sub, cast_hook, sc);
  double w = 0, h = 0, dsf = 1;
  if (!rc && !pb_cdp_call(sc->c, sid, "Page.getLayoutMetrics", NULL, dl, &res, NULL, 0)) {
    const cJSON *css = cJSON_GetObjectItemCaseSensitive(res, "cssVisualViewport");
    const cJSON *dev = cJSON_GetObjectItemCaseSensitive(res, "visualViewport");
    w = pb_json_num(css, "clientWidth", 0);
    h = pb_json_num(css, "clientHeight", 0);
    double dw = pb_json_num(dev, "clientWidth", 0);
    if (w > 0 && dw > 0) dsf = dw / w;
    cJSON_Delete(res);
  }
  pthread_mutex_lock(&sc->mu);
  pb_strlcpy(sc->cur_sid, sid, sizeof(sc->cur_sid));
  pb_strlcpy(sc->cur_target, target, sizeof(sc->cur_target));
  sc->cur_dead = 0;
  sc->dsf = dsf;
  sc->tabs_version++;
  pthread_mutex_unlock(&sc->mu);
  if (rc) return rc;
  /* At the viewport's size in device pixels (at most 2x), every frame. */
  double scale = dsf > 2 ? 2 : dsf;
  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "format", "jpeg");
  cJSON_AddNumberToObject(p, "quality", 70);
  if (w > 0 && h > 0) {
    cJSON_AddNumberToObject(p, "maxWidth", (int)(w * scale));
    cJSON_AddNumberToObject(p, "maxHeight", (int)(h * scale));
  }
  cJSON_AddNumberToObject(p, "everyNthFrame", 1);
  return pb_cdp_call(sc->c, sid, "Page.startScreencast", p, dl, NULL, NULL, 0);
}

static cJSON *obj_str(const char *k, const char *v) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, k, v);
  return o;
}

/* Runs one input on the tab shown (worker). */
static void input_run(pb_screencast *sc, const pb_sc_input *in) {
  char sid[64], ctx[64] = "";
  pthread_mutex_lock(&sc->mu);
  pb_strlcpy(sid, sc->cur_sid, sizeof(sid));
  tab *t = tab_find(sc, sc->cur_target);
  if (t) pb_strlcpy(ctx, t->ctx, sizeof(ctx));
  pthread_mutex_unlock(&sc->mu);
  int64_t dl = pb_now_ms() + CALL_MS;
  cJSON *p = NULL, *res = NULL;
  switch (in->kind) {
    case PB_SC_MOUSE:
      if (!sid[0]) return;
      p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "type", in->type);
      cJSON_AddNumberToObject(p, "x", in->x);
      cJSON_AddNumberToObject(p, "y", in->y);
      cJSON_AddNumberToObject(p, "modifiers", in->modifiers);
      cJSON_AddStringToObject(p, "button", in->button[0] ? in->button : "none");
      cJSON_AddNumberToObject(p, "buttons", in->buttons);
      cJSON_AddNumberToObject(p, "clickCount", in->click_count);
      if (!strcmp(in->type, "mouseWheel")) {
        cJSON_AddNumberToObject(p, "deltaX", in->dx);
        cJSON_AddNumberToObject(p, "deltaY", in->dy);
      }
      pb_cdp_send(sc->c, sid, "Input.dispatchMouseEvent", p);
      return;
    case PB_SC_KEY:
      if (!sid[0]) return;
      p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "type", in->type);
      cJSON_AddNumberToObject(p, "modifiers", in->modifiers);
      if (in->key[0]) cJSON_AddStringToObject(p, "key", in->key);
      if (in->code[0]) cJSON_AddStringToObject(p, "code", in->code);
      if (in->key_text[0]) {
        cJSON_AddStringToObject(p, "text", in->key_text);
        cJSON_AddStringToObject(p, "unmodifiedText", in->key_text);
      }
      if (in->key_code) {
        cJSON_AddNumberToObject(p, "windowsVirtualKeyCode", in->key_code);
        cJSON_AddNumberToObject(p, "nativeVirtualKeyCode", in->key_code);
      }
      cJSON_AddNumberToObject(p, "location", in->location);
      if (in->auto_repeat) cJSON_AddBoolToObject(p, "autoRepeat", 1);
      pb_cdp_send(sc->c, sid, "Input.dispatchKeyEvent", p);
      return;
    case PB_SC_TEXT:
      if (sid[0]) pb_cdp_send(sc->c, sid, "Input.insertText", obj_str("text", in->str));
      return;
    case PB_SC_ACTIVATE:
      pb_cdp_call(sc->c, sc->root, "Target.activateTarget", obj_str("targetId", in->str), dl, NULL,
                  NULL, 0);
      pthread_mutex_lock(&sc->mu);
      focus_locked(sc, in->str);
      pthread_mutex_unlock(&sc->mu);
      return;
    case PB_SC_CLOSE:
      pb_cdp_call(sc->c, sc->root, "Target.closeTarget", obj_str("targetId", in->str), dl, NULL,
                  NULL, 0);
      return;
    case PB_SC_NEW:
      p = obj_str("url", in->str[0] ? in->str : "about:blank");
      if (ctx[0]) cJSON_AddStringToObject(p, "browserContextId", ctx);
      if (!pb_cdp_call(sc->c, sc->root, "Target.createTarget", p, dl, &res, NULL, 0)) {
        const char *tid = pb_json_str(res, "targetId");
        pthread_mutex_lock(&sc->mu);
        if (tid) focus_locked(sc, tid);
        pthread_mutex_unlock(&sc->mu);
      }
      cJSON_Delete(res);
      return;
    case PB_SC_NAVIGATE:
      if (sid[0]) pb_cdp_send(sc->c, sid, "Page.navigate", obj_str("url", in->str));
      return;
    case PB_SC_RELOAD:
      if (sid[0]) pb_cdp_send(sc->c, sid, "Page.reload", NULL);
      return;
    case PB_SC_BACK:
    case PB_SC_FORWARD:
      if (sid[0])
        pb_cdp_send(
            sc->c, sid, "Runtime.evaluate",
            obj_str("expression", in->kind == PB_SC_BACK ? "history.back()" : "history.forward()"));
      return;
  }
}

static void *worker_main(void *arg) {
  pb_screencast *sc = arg;
  int64_t retry_at = 0;
  char failed[64] = "";
  pthread_mutex_lock(&sc->mu);
  while (!sc->stop) {
    if (sc->qhead) {
      in_item *it = sc->qhead;
      sc->qhead = it->next;
      if (!sc->qhead) sc->qtail = NULL;
      sc->nq--;
      pthread_mutex_unlock(&sc->mu);
      input_run(sc, &it->in);
      free(it);
      pthread_mutex_lock(&sc->mu);
      continue;
    }
    int want = sc->nsubs > 0 && sc->wanted[0];
    int moved = want && (strcmp(sc->cur_target, sc->wanted) || sc->cur_dead || !sc->cur_sid[0]);
    if (moved && !strcmp(failed, sc->wanted) && pb_now_ms() < retry_at) moved = 0;
    if (moved) {
      char target[64];
      pb_strlcpy(target, sc->wanted, sizeof(target));
      pthread_mutex_unlock(&sc->mu);
      cast_stop(sc);
      int rc = cast_start(sc, target);
      if (rc) {
        PB_WARN("screencast: no cast of %s: %s", target, pb_strerror(rc));
        cast_stop(sc);
        pb_strlcpy(failed, target, sizeof(failed));
        retry_at = pb_now_ms() + 1000;
      } else {
        failed[0] = '\0';
      }
      pthread_mutex_lock(&sc->mu);
      continue;
    }
    if ((!want && sc->cur_sid[0]) || (sc->cur_dead && sc->cur_sid[0])) {
      pthread_mutex_unlock(&sc->mu);
      cast_stop(sc);
      pthread_mutex_lock(&sc->mu);
      continue;
    }
    struct timespec ts;
    int64_t until = pb_now_ms() + 500;
    ts.tv_sec = until / 1000;
    ts.tv_nsec = (until % 1000) * 1000000;
    pthread_cond_timedwait(&sc->cv, &sc->mu, &ts);
  }
  while (sc->qhead) {
    in_item *it = sc->qhead;
    sc->qhead = it->next;
    free(it);
  }
  sc->qtail = NULL;
  sc->nq = 0;
  pthread_mutex_unlock(&sc->mu);
  /* The browser goes next: its sessions need no goodbye, but our
   * subscriptions must be gone before the connection is. */
  pthread_mutex_lock(&sc->mu);
  sc->cur_dead = 1;
  pthread_mutex_unlock(&sc->mu);
  cast_stop(sc);
  return NULL;
}

static void on_focus(void *data, const char *target_id) {
  pb_screencast *sc = data;
  pthread_mutex_lock(&sc->mu);
  focus_locked(sc, target_id);
  pthread_mutex_unlock(&sc->mu);
}

int pb_screencast_new(pb_cdp *c, pb_proxy *proxy, pb_policy_url_check url_check, void *check_data,
                      int64_t deadline_ms, pb_screencast **out) {
  *out = NULL;
  pb_screencast *sc = calloc(1, sizeof(*sc));
  if (!sc) return PB_ENOMEM;
  sc->c = c;
  sc->proxy = proxy;
  sc->url_check = url_check;
  sc->check_data = check_data;
  pthread_mutex_init(&sc->mu, NULL);
  pthread_mutex_init(&sc->subs_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&sc->cv, &ca);
  pthread_condattr_destroy(&ca);
  /* The root: made before any client connects, so its own announcement
   * reaches no one; every later attach of ours is announced on it. */
  cJSON *res = NULL;
  int rc = pb_cdp_call(c, NULL, "Target.attachToBrowserTarget", NULL, deadline_ms, &res, NULL, 0);
  const char *sid = rc ? NULL : pb_json_str(res, "sessionId");
  if (sid && strlen(sid) < sizeof(sc->root)) pb_strlcpy(sc->root, sid, sizeof(sc->root));
  cJSON_Delete(res);
  if (!rc && !sc->root[0]) rc = PB_ECDP;
  if (!rc) {
    pb_proxy_hide_session(proxy, sc->root);
    rc = pb_cdp_subscribe(c, sc->root, &sc->root_sub);
  }
  if (!rc) {
    pb_cdp_sub_set_hook(sc->root_sub, root_hook, sc);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "discover", 1);
    rc = pb_cdp_call(c, sc->root, "Target.setDiscoverTargets", p, deadline_ms, NULL, NULL, 0);
  }
  if (!rc && pthread_create(&sc->worker, NULL, worker_main, sc)) rc = PB_EIO;
  if (rc) {
    pb_cdp_unsubscribe(sc->root_sub);
    pthread_cond_destroy(&sc->cv);
    pthread_mutex_destroy(&sc->mu);
    pthread_mutex_destroy(&sc->subs_mu);
    free(sc);
    return rc;
  }
  pb_proxy_set_focus(proxy, on_focus, sc);
  *out = sc;
  return 0;
}

void pb_screencast_stop(pb_screencast *sc) {
  if (!sc) return;
  pthread_mutex_lock(&sc->mu);
  int was = sc->stopped;
  sc->stop = sc->stopped = 1;
  pthread_cond_broadcast(&sc->cv);
  pthread_mutex_unlock(&sc->mu);
  if (was) return;
  pb_proxy_set_focus(sc->proxy, NULL, NULL);
  pthread_join(sc->worker, NULL);
  pb_cdp_unsubscribe(sc->root_sub);
  sc->root_sub = NULL;
}

void pb_screencast_free(pb_screencast *sc) {
  if (!sc) return;
  pb_screencast_stop(sc);
  pthread_cond_destroy(&sc->cv);
  pthread_mutex_destroy(&sc->mu);
  pthread_mutex_destroy(&sc->subs_mu);
  free(sc->last_jpeg);
  free(sc);
}

int pb_screencast_subscribe(pb_session *s, pb_screencast_cb cb, void *data,
                            pb_screencast_sub **out) {
  *out = NULL;
  pb_screencast *sc = pb_session_screencast(s);
  if (!sc) return PB_ENOTFOUND;
  pb_screencast_sub *h = calloc(1, sizeof(*h));
  if (!h) return PB_ENOMEM;
  h->sc = sc;
  h->cb = cb;
  h->data = data;
  pthread_mutex_lock(&sc->mu);
  int rc = sc->stopped ? PB_ENOTFOUND : sc->nsubs >= SUBS_MAX ? PB_EBUSY : 0;
  if (!rc) {
    sc->nsubs++;
    pthread_mutex_lock(&sc->subs_mu);
    h->next = sc->subs;
    sc->subs = h;
    /* A newcomer sees the page now, still or not. */
    if (sc->last_jpeg && sc->cur_sid[0] && !strcmp(sc->last_target, sc->cur_target))
      cb(&sc->last, data);
    pthread_mutex_unlock(&sc->subs_mu);
    pthread_cond_broadcast(&sc->cv);
  }
  pthread_mutex_unlock(&sc->mu);
  if (rc) {
    free(h);
    return rc;
  }
  *out = h;
  return 0;
}

void pb_screencast_unsubscribe(pb_screencast_sub *h) {
  if (!h) return;
  pb_screencast *sc = h->sc;
  pthread_mutex_lock(&sc->mu);
  pthread_mutex_lock(&sc->subs_mu);
  for (pb_screencast_sub **pp = &sc->subs; *pp; pp = &(*pp)->next)
    if (*pp == h) {
      *pp = h->next;
      sc->nsubs--;
      break;
    }
  pthread_mutex_unlock(&sc->subs_mu);
  pthread_cond_broadcast(&sc->cv);
  pthread_mutex_unlock(&sc->mu);
  free(h);
}

char *pb_screencast_tabs(pb_session *s, unsigned *version) {
  pb_screencast *sc = pb_session_screencast(s);
  if (!sc) return NULL;
  cJSON *a = cJSON_CreateArray();
  pthread_mutex_lock(&sc->mu);
  for (int i = 0; i < sc->ntabs; i++) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "targetId", sc->tabs[i].id);
    cJSON_AddStringToObject(o, "url", sc->tabs[i].url);
    cJSON_AddStringToObject(o, "title", sc->tabs[i].title);
    cJSON_AddBoolToObject(o, "active", !strcmp(sc->tabs[i].id, sc->wanted));
    cJSON_AddItemToArray(a, o);
  }
  if (version) *version = sc->tabs_version;
  pthread_mutex_unlock(&sc->mu);
  char *text = cJSON_PrintUnformatted(a);
  cJSON_Delete(a);
  return text;
}

/* Where a viewer may send a tab: http(s) the egress policy allows, or a
 * blank page. */
static int url_ok(pb_screencast *sc, const char *url, char *why, size_t cap) {
  if (!*url || !strcmp(url, "about:blank")) return 0;
  if (strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) {
    snprintf(why, cap, "only http and https URLs may be opened from the live view");
    return PB_EINVAL;
  }
  if (sc->url_check && sc->url_check(url, why, cap, sc->check_data)) return PB_EINVAL;
  return 0;
}

int pb_screencast_input(pb_session *s, const pb_sc_input *in, char *why, size_t cap) {
  if (cap) why[0] = '\0';
  pb_screencast *sc = pb_session_screencast(s);
  if (!sc) return PB_ENOTFOUND;
  if ((in->kind == PB_SC_NEW || in->kind == PB_SC_NAVIGATE) && url_ok(sc, in->str, why, cap))
    return PB_EINVAL;
  in_item *it = malloc(sizeof(*it));
  if (!it) return PB_ENOMEM;
  it->in = *in;
  it->next = NULL;
  pthread_mutex_lock(&sc->mu);
  int rc = 0;
  if (sc->stopped)
    rc = PB_ENOTFOUND;
  else if ((in->kind == PB_SC_ACTIVATE || in->kind == PB_SC_CLOSE) && !tab_find(sc, in->str)) {
    snprintf(why, cap, "no such tab in this session");
    rc = PB_EINVAL;
  } else if (in->kind == PB_SC_NEW && sc->ntabs >= TABS_MAX) {
    snprintf(why, cap, "the session has too many tabs");
    rc = PB_EINVAL;
  } else if (sc->nq >= QUEUE_MAX) {
    rc = PB_EBUSY;
  }
  if (!rc) {
    if (sc->qtail)
      sc->qtail->next = it;
    else
      sc->qhead = it;
    sc->qtail = it;
    sc->nq++;
    pthread_cond_broadcast(&sc->cv);
  }
  pthread_mutex_unlock(&sc->mu);
  if (rc) free(it);
  return rc;
}
