#include "cdp/proxy.h"

#include "cdp/targets.h"
#include "common/json.h"
#include "common/pb.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct out_msg {
  char *data;
  size_t len;
  struct out_msg *next;
} out_msg;

typedef struct {
  int64_t ours;
  double theirs; /* the client's id, as sent (a JSON number) */
  unsigned gen;
  int attach;      /* a Target.attachTo* command: its reply names a session */
  int create;      /* Target.createTarget: its reply names a new page */
  int create_ctx;  /* Target.createBrowserContext: its reply names a context */
  char closes[64]; /* Target.closeTarget: the page it closes */
  char sid[64];    /* the command's flat session ("" : the browser's) */
} id_map;

typedef struct in_msg {
  char *data;
  size_t len;
  unsigned gen;
  struct in_msg *next;
} in_msg;

#define MAX_CLIENT_SESSIONS 256

/* Refusals logged per second and session before the rest are only counted. */
#define REFUSAL_LOG_PER_SEC 10

struct pb_proxy {
  pb_cdp *cdp;
  pb_policy_env env;
  pb_proxy_wake wake;
  void *wake_data;
  pthread_mutex_t mu;
  pthread_cond_t drained;
  out_msg *head, *tail;
  size_t queued;
  int attached;
  unsigned gen; /* client connection number */
  int64_t next_id;
  id_map *ids;
  size_t nids, aids;
  atomic_llong last_activity;
  int closing;
  /* Flat sessions the client attached: detached when it leaves, so the
   * next client finds the browser as a fresh connection would. */
  char sids[MAX_CLIENT_SESSIONS][64];
  int nsids;
  /* Pages of the session, from createTarget replies and target events. */
  pb_targets *targets;
  int max_pages;
  char download_dir[4096]; /* "" : downloads denied */
  char upload_dir[4096];   /* "" : DOM.setFileInputFiles refused */
  int64_t download_max;
  /* The session's downloads, from the browser's events (under mu). */
  pb_download downloads[PB_PROXY_DOWNLOADS_MAX];
  int ndownloads;
  /* Who the refusal log lines name, and their rate limit (I/O thread). */
  char account[128];
  char session_id[64];
  pthread_mutex_t log_mu; /* the rate limit: the worker and the I/O thread */
  int64_t log_second;
  int log_count;
  int64_t log_suppressed;
  /* Every refusal, logged or not, for the session's history (log_mu). */
  int64_t refused;
  char last_refusal[256];
  unsigned answers_dropped; /* since the client attached */
  /* Client messages for the worker thread (under mu). */
  pthread_t worker;
  pthread_cond_t in_cv;
  in_msg *in_head, *in_tail;
  size_t in_bytes; /* queued, and the one being handled (IN_COST each) */
  int stop;
  int close_asked;
  /* The service's own flat sessions (the live view's): their events are
   * never the client's (under mu). */
  char hidden[PB_PROXY_HIDDEN_MAX][64];
  int nhidden;
  /* The page each of the client's sessions is attached to (parallel to
   * sids), and who hears which page the client brought forward. */
  char sid_tids[MAX_CLIENT_SESSIONS][64];
  pb_proxy_focus focus;
  void *focus_data;
};

/* Downloads of a context (NULL: the default one) go to the session's dir,
 * with events on so the size cap can be enforced, before any client asks. */
static void set_downloads(pb_proxy *p, const char *context_id) {
  cJSON *d = cJSON_CreateObject();
  cJSON_AddStringToObject(d, "behavior", p->download_dir[0] ? "allowAndName" : "deny");
  if (p->download_dir[0]) cJSON_AddStringToObject(d, "downloadPath", p->download_dir);
  if (context_id) cJSON_AddStringToObject(d, "browserContextId", context_id);
  cJSON_AddBoolToObject(d, "eventsEnabled", 1);
  pb_cdp_send(p->cdp, NULL, "Browser.setDownloadBehavior", d);
}

void pb_proxy_set_limits(pb_proxy *p, int max_pages, const char *download_dir,
                         int64_t download_max_bytes) {
  p->max_pages = max_pages > 0 ? max_pages : PB_PROXY_MAX_PAGES;
  pb_strlcpy(p->download_dir, download_dir ? download_dir : "", sizeof(p->download_dir));
  p->download_max = download_max_bytes > 0 ? download_max_bytes : ((int64_t)50 << 20);
  set_downloads(p, NULL);
}

const char *pb_download_state_text(pb_download_state st) {
  return st == PB_DOWNLOAD_COMPLETED  ? "completed"
         : st == PB_DOWNLOAD_CANCELED ? "canceled"
                                      : "inProgress";
}

static pb_download *download_find_locked(pb_proxy *p, const char *guid) {
  for (int i = 0; i < p->ndownloads; i++)
    if (!strcmp(p->downloads[i].guid, guid)) return &p->downloads[i];
  return NULL;
}

static void cancel_download(pb_proxy *p, const char *guid) {
  char ctxs[16][64];
  int n = pb_targets_contexts(p->targets, ctxs, 16);
  for (int i = -1; i < n; i++) {
    if (i >= 0 && !ctxs[i][0]) continue;
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "guid", guid);
    if (i >= 0) cJSON_AddStringToObject(c, "browserContextId", ctxs[i]);
    pb_cdp_send(p->cdp, NULL, "Browser.cancelDownload", c);
  }
}

/* Browser.downloadWillBegin: listed, or cancelled when the list is full (a
 * page cannot fill the disk with many downloads under the size cap). */
static void download_began(pb_proxy *p, const cJSON *params) {
  const char *guid = pb_json_str(params, "guid");
  if (!guid || !*guid || strlen(guid) >= sizeof(p->downloads[0].guid)) return;
  int full = p->ndownloads >= PB_PROXY_DOWNLOADS_MAX;
  if (!full && !download_find_locked(p, guid)) {
    pb_download *d = &p->downloads[p->ndownloads++];
    memset(d, 0, sizeof(*d));
    pb_strlcpy(d->guid, guid, sizeof(d->guid));
    const char *name = pb_json_str(params, "suggestedFilename");
    const char *url = pb_json_str(params, "url");
    pb_strlcpy(d->name, name ? name : "", sizeof(d->name));
    pb_strlcpy(d->url, url ? url : "", sizeof(d->url));
    d->state = PB_DOWNLOAD_IN_PROGRESS;
    d->began_wall_ms = pb_wall_ms();
  }
  if (full) {
    PB_WARN("downloads: %s: more than %d downloads; %s cancelled", p->session_id,
            PB_PROXY_DOWNLOADS_MAX, guid);
    cancel_download(p, guid);
  }
}

static void download_progress(pb_proxy *p, const cJSON *params, int capped) {
  const char *guid = pb_json_str(params, "guid");
  const char *state = pb_json_str(params, "state");
  if (!guid || !state) return;
  pb_download *d = download_find_locked(p, guid);
  if (d) {
    d->total = (int64_t)pb_json_num(params, "totalBytes", 0);
    d->received = (int64_t)pb_json_num(params, "receivedBytes", 0);
    if (capped) d->over_cap = 1;
    /* A download cancelled for its size never counts as complete, even
     * if its last bytes raced the cancel. */
    if (!strcmp(state, "completed") && !d->over_cap)
      d->state = PB_DOWNLOAD_COMPLETED;
    else if (!strcmp(state, "canceled") || (d->over_cap && strcmp(state, "inProgress")))
      d->state = PB_DOWNLOAD_CANCELED;
  }
}

int pb_proxy_downloads(pb_proxy *p, pb_download **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pthread_mutex_lock(&p->mu);
  int rc = 0;
  if (p->ndownloads) {
    *out = malloc(sizeof(pb_download) * (size_t)p->ndownloads);
    if (*out) {
      memcpy(*out, p->downloads, sizeof(pb_download) * (size_t)p->ndownloads);
      *n = (size_t)p->ndownloads;
    } else {
      rc = PB_ENOMEM;
    }
  }
  pthread_mutex_unlock(&p->mu);
  return rc;
}

const char *pb_proxy_download_dir(pb_proxy *p) {
  return p->download_dir;
}

/* Target events and download progress (small messages: parsed), from any
 * client's doing or the pages': pages past the cap are closed, downloads
 * past theirs cancelled. */
static void watch_targets(pb_proxy *p, const char *json, size_t len) {
#define HAS(lit) (memmem(json, len, lit, sizeof(lit) - 1) != NULL)
  int created = HAS("\"Target.targetCreated\"");
  int destroyed = !created && HAS("\"Target.targetDestroyed\"");
  int progress = !created && !destroyed && HAS("\"Browser.downloadProgress\"");
  int began = !created && !destroyed && !progress && HAS("\"Browser.downloadWillBegin\"");
#undef HAS
  if (!created && !destroyed && !progress && !began) return;
  cJSON *m = cJSON_ParseWithLength(json, len);
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(m, "params");
  if (cJSON_GetObjectItemCaseSensitive(m, "sessionId")) {
    /* Only the browser's own events count. */
  } else if (created) {
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(info, "type");
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(info, "targetId");
    pb_targets_created(p->targets, info);
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "page") && cJSON_IsString(tid) &&
        pb_targets_live_pages(p->targets) > p->max_pages) {
      PB_WARN("sessions: a page opened more than %d pages; closing it", p->max_pages);
      cJSON *c = cJSON_CreateObject();
      cJSON_AddStringToObject(c, "targetId", tid->valuestring);
      pb_cdp_send(p->cdp, NULL, "Target.closeTarget", c);
    }
  } else if (destroyed) {
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "targetId");
    if (cJSON_IsString(tid)) pb_targets_destroyed(p->targets, tid->valuestring);
  } else if (began) {
    download_began(p, params);
  } else {
    int capped = pb_targets_cap_download(p->cdp, p->targets, params, p->download_max);
    download_progress(p, params, capped);
  }
  cJSON_Delete(m);
}

/* A reply to the client's createTarget or closeTarget keeps the page count. */
static void track_reply(pb_proxy *p, const id_map *m, const char *json, size_t len,
                        char created[64]) {
  cJSON *r = cJSON_ParseWithLength(json, len);
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(r, "result");
  if (result && m->create) {
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(result, "targetId");
    if (cJSON_IsString(tid)) {
      pb_strlcpy(created, tid->valuestring, 64);
      cJSON *info = cJSON_CreateObject();
      cJSON_AddStringToObject(info, "targetId", tid->valuestring);
      cJSON_AddStringToObject(info, "type", "page");
      pb_targets_created(p->targets, info);
      cJSON_Delete(info);
    }
  } else if (result && m->closes[0]) {
    pb_targets_destroyed(p->targets, m->closes);
  } else if (result && m->create_ctx) {
    /* A context the client made downloads into the session's dir too, even
     * if it never says how it wants them. */
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(result, "browserContextId");
    if (cJSON_IsString(cid)) {
      pb_targets_add_context(p->targets, cid->valuestring);
      set_downloads(p, cid->valuestring);
    }
  }
  cJSON_Delete(r);
}

static void sid_add_locked(pb_proxy *p, const char *sid, const char *tid) {
  for (int i = 0; i < p->nsids; i++)
    if (!strcmp(p->sids[i], sid)) {
      if (tid) pb_strlcpy(p->sid_tids[i], tid, sizeof(p->sid_tids[0]));
      return;
    }
  if (p->nsids < MAX_CLIENT_SESSIONS) {
    pb_strlcpy(p->sid_tids[p->nsids], tid ? tid : "", sizeof(p->sid_tids[0]));
    pb_strlcpy(p->sids[p->nsids++], sid, sizeof(p->sids[0]));
  }
}

/* The page of one of the client's sessions into out ("" when unknown). */
static void sid_target_locked(pb_proxy *p, const char *sid, char *out, size_t cap) {
  out[0] = '\0';
  for (int i = 0; sid && i < p->nsids; i++)
    if (!strcmp(p->sids[i], sid)) {
      pb_strlcpy(out, p->sid_tids[i], cap);
      return;
    }
}

static void sid_remove_locked(pb_proxy *p, const char *sid) {
  for (int i = 0; i < p->nsids; i++)
    if (!strcmp(p->sids[i], sid)) {
      --p->nsids;
      pb_strlcpy(p->sids[i], p->sids[p->nsids], sizeof(p->sids[0]));
      pb_strlcpy(p->sid_tids[i], p->sid_tids[p->nsids], sizeof(p->sid_tids[0]));
      return;
    }
}

/* Keeps track of the client's sessions from the attach/detach events and
 * the replies to attach commands (small messages: parsed). */
static void track_sessions_locked(pb_proxy *p, const char *json, size_t len, int is_attach_reply) {
  int attached = !is_attach_reply && memmem(json, len, "\"Target.attachedToTarget\"", 25);
  int detached = !is_attach_reply && memmem(json, len, "\"Target.detachedFromTarget\"", 27);
  if (!attached && !detached && !is_attach_reply) return;
  cJSON *m = cJSON_ParseWithLength(json, len);
  const cJSON *holder = cJSON_GetObjectItemCaseSensitive(m, is_attach_reply ? "result" : "params");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(holder, "sessionId");
  const char *tid = pb_json_str(cJSON_GetObjectItemCaseSensitive(holder, "targetInfo"), "targetId");
  if (cJSON_IsString(sid)) {
    if (detached)
      sid_remove_locked(p, sid->valuestring);
    else
      sid_add_locked(p, sid->valuestring, tid);
  }
  cJSON_Delete(m);
}

static void enqueue_locked(pb_proxy *p, char *data, size_t len) {
  out_msg *m = malloc(sizeof(*m));
  if (!m) {
    free(data);
    return;
  }
  m->data = data;
  m->len = len;
  m->next = NULL;
  if (p->tail)
    p->tail->next = m;
  else
    p->head = m;
  p->tail = m;
  p->queued += len;
}

static void drop_queue_locked(pb_proxy *p) {
  while (p->head) {
    out_msg *m = p->head;
    p->head = m->next;
    free(m->data);
    free(m);
  }
  p->tail = NULL;
  p->queued = 0;
  pthread_cond_broadcast(&p->drained);
}

/* Replaces the id of a reply that begins {"id":OURS, with the client's,
 * without parsing a possibly huge message. Returns a new string or NULL. */
static char *rewrite_id(const char *json, size_t len, double theirs, size_t *outlen) {
  static const char prefix[] = "{\"id\":";
  const size_t pl = sizeof(prefix) - 1;
  if (len < pl || memcmp(json, prefix, pl)) return NULL;
  size_t i = pl;
  while (i < len && json[i] >= '0' && json[i] <= '9') i++;
  char idtxt[64];
  int n = snprintf(idtxt, sizeof(idtxt), "%.17g", theirs);
  if (n <= 0 || (size_t)n >= sizeof(idtxt)) return NULL;
  size_t total = pl + (size_t)n + (len - i);
  char *out = malloc(total + 1);
  if (!out) return NULL;
  memcpy(out, prefix, pl);
  memcpy(out + pl, idtxt, (size_t)n);
  memcpy(out + pl + n, json + i, len - i);
  out[total] = '\0';
  *outlen = total;
  return out;
}

/* A small reply to a command sent in a flat session, given the client's id
 * and, if it lacks one (the error pb_cdp puts in place of a reply past the
 * size cap), the session's id so the client routes it. */
static char *reply_in_session(const char *json, size_t len, const id_map *m, size_t *outlen) {
  if (memmem(json, len, "\"sessionId\"", 11)) return rewrite_id(json, len, m->theirs, outlen);
  cJSON *r = cJSON_ParseWithLength(json, len);
  char *out = NULL;
  if (r) {
    cJSON_DeleteItemFromObjectCaseSensitive(r, "id");
    cJSON_AddStringToObject(r, "sessionId", m->sid);
    char *rest = cJSON_PrintUnformatted(r);
    if (rest) {
      pb_buf b;
      pb_buf_init(&b, 8192);
      if (!pb_buf_printf(&b, "{\"id\":%.17g%s%s", m->theirs, rest[1] == '}' ? "" : ",", rest + 1))
        out = pb_buf_steal(&b, outlen);
      pb_buf_free(&b);
      free(rest);
    }
    cJSON_Delete(r);
  }
  return out;
}

/* 1 when an event belongs to one of the service's own sessions. Chromium
 * writes a flat session's id last: {"method":..,"params":..,"sessionId":"S"}. */
static int hidden_event_locked(pb_proxy *p, const char *json, size_t len) {
  if (!p->nhidden || len < 16) return 0;
  static const char key[] = "\"sessionId\":\"";
  size_t from = len > 128 ? len - 128 : 0;
  const char *k = NULL;
  for (const char *f = json + from; (f = memmem(f, len - (size_t)(f - json), key, sizeof(key) - 1));
       f++)
    k = f;
  if (!k) return 0;
  const char *v = k + sizeof(key) - 1;
  const char *end = memchr(v, '"', len - (size_t)(v - json));
  if (!end || end + 2 != json + len || end[1] != '}') return 0;
  size_t n = (size_t)(end - v);
  for (int i = 0; i < p->nhidden; i++)
    if (strlen(p->hidden[i]) == n && !memcmp(p->hidden[i], v, n)) return 1;
  return 0;
}

void pb_proxy_hide_session(pb_proxy *p, const char *sid) {
  pthread_mutex_lock(&p->mu);
  int i;
  for (i = 0; i < p->nhidden; i++)
    if (!strcmp(p->hidden[i], sid)) break;
  if (i == p->nhidden) {
    /* Full: the oldest goes (sessions are unhidden as they detach). */
    if (p->nhidden == PB_PROXY_HIDDEN_MAX) {
      memmove(p->hidden[0], p->hidden[1], sizeof(p->hidden[0]) * (PB_PROXY_HIDDEN_MAX - 1));
      p->nhidden--;
    }
    pb_strlcpy(p->hidden[p->nhidden++], sid, sizeof(p->hidden[0]));
  }
  pthread_mutex_unlock(&p->mu);
}

void pb_proxy_unhide_session(pb_proxy *p, const char *sid) {
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->nhidden; i++)
    if (!strcmp(p->hidden[i], sid)) {
      memmove(p->hidden[i], p->hidden[i + 1], sizeof(p->hidden[0]) * (size_t)(p->nhidden - i - 1));
      p->nhidden--;
      break;
    }
  pthread_mutex_unlock(&p->mu);
}

void pb_proxy_set_focus(pb_proxy *p, pb_proxy_focus fn, void *data) {
  pthread_mutex_lock(&p->mu);
  p->focus = fn;
  p->focus_data = data;
  pthread_mutex_unlock(&p->mu);
}

/* Reader thread: every message from the browser. */
static void tap(pb_cdp *c, const char *json, size_t len, void *data) {
  (void)c;
  pb_proxy *p = data;
  atomic_store(&p->last_activity, pb_now_ms());
  int64_t id = -1;
  static const char prefix[] = "{\"id\":";
  if (len > sizeof(prefix) && !memcmp(json, prefix, sizeof(prefix) - 1)) {
    char *end = NULL;
    long long v = strtoll(json + sizeof(prefix) - 1, &end, 10);
    if (end && *end == ',') id = v;
  }
  char focus[64] = "";
  pthread_mutex_lock(&p->mu);
  char *copy = NULL;
  size_t clen = 0;
  int hidden = id < 0 && hidden_event_locked(p, json, len);
  if (hidden) {
    /* The service's own session (the live view): none of the client's
     * business, and nothing to track. */
  } else if (id >= 0) {
    /* Replies to the service's own commands are not the client's. */
    size_t k;
    for (k = 0; k < p->nids; k++)
      if (p->ids[k].ours == id) break;
    if (k < p->nids) {
      id_map m = p->ids[k];
      p->ids[k] = p->ids[--p->nids];
      if ((m.create || m.create_ctx || m.closes[0]) && len < 4096)
        track_reply(p, &m, json, len, focus);
      if (p->attached && m.gen == p->gen) {
        if (m.attach) track_sessions_locked(p, json, len, 1);
        copy = m.sid[0] && len < 4096 ? reply_in_session(json, len, &m, &clen)
                                      : rewrite_id(json, len, m.theirs, &clen);
      }
    }
  } else {
    /* A download's URL may be long (a data: URL): its start is read up to
     * 256 KiB. */
    if (len < 4096 ||
        (len < 262144 && memmem(json, len < 128 ? len : 128, "\"Browser.downloadWillBegin\"", 27)))
      watch_targets(p, json, len);
  }
  if (id < 0 && p->attached && !hidden) {
    if (len < 4096) track_sessions_locked(p, json, len, 0);
    copy = malloc(len + 1);
    if (copy) {
      memcpy(copy, json, len);
      copy[len] = '\0';
      clen = len;
    }
  }
  if (copy) {
    /* Back-pressure: a slow client holds the browser's pipe, not our memory. */
    unsigned gen = p->gen;
    while (p->attached && p->gen == gen && !p->closing && p->queued + clen > PB_PROXY_QUEUE_MAX &&
           p->queued > 0)
      pthread_cond_wait(&p->drained, &p->mu);
    if (p->attached && p->gen == gen && !p->closing)
      enqueue_locked(p, copy, clen);
    else
      free(copy);
  }
  pb_proxy_focus fn = p->focus;
  void *fn_data = p->focus_data;
  pthread_mutex_unlock(&p->mu);
  if (focus[0] && fn) fn(fn_data, focus);
  if (copy && p->wake) p->wake(p->wake_data);
}

/* What a queued message holds: its text and its bookkeeping, so that a
 * flood of empty frames is bounded too. */
#define IN_COST(len) ((len) + 64)

static void drop_inbound_locked(pb_proxy *p) {
  while (p->in_head) {
    in_msg *m = p->in_head;
    p->in_head = m->next;
    p->in_bytes -= IN_COST(m->len);
    free(m->data);
    free(m);
  }
  p->in_tail = NULL;
}

/* Messages past PB_PROXY_INBOUND_MAX are read one at a time for the whole
 * daemon, as when the I/O thread read them all: their parse trees and
 * printed copies (some 320 MiB for 64 MiB) exist once, not once a session. */
static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;

/* The worker: the client's messages, one at a time, in order. */
static void *worker_main(void *arg) {
  pb_proxy *p = arg;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->stop && !p->in_head) pthread_cond_wait(&p->in_cv, &p->mu);
    if (p->stop) break;
    in_msg *m = p->in_head;
    p->in_head = m->next;
    if (!p->in_head) p->in_tail = NULL;
    int current = p->attached && m->gen == p->gen;
    pthread_mutex_unlock(&p->mu);
    int big = m->len > PB_PROXY_INBOUND_MAX;
    if (big) pthread_mutex_lock(&big_mu);
    int verdict = current ? pb_proxy_from_client(p, m->data, m->len) : PB_POLICY_DENY;
    if (big) pthread_mutex_unlock(&big_mu);
    pthread_mutex_lock(&p->mu);
    int was_full = p->in_bytes > PB_PROXY_INBOUND_MAX;
    p->in_bytes -= IN_COST(m->len);
    if (verdict == PB_POLICY_CLOSE) p->close_asked = 1;
    int wake = verdict == PB_POLICY_CLOSE || (was_full && p->in_bytes <= PB_PROXY_INBOUND_MAX);
    pthread_mutex_unlock(&p->mu);
    free(m->data);
    free(m);
    if (wake && p->wake) p->wake(p->wake_data);
    pthread_mutex_lock(&p->mu);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

size_t pb_proxy_submit(pb_proxy *p, char *data, size_t len) {
  in_msg *m = malloc(sizeof(*m));
  pthread_mutex_lock(&p->mu);
  if (!m || !p->attached || p->stop) {
    size_t n = p->in_bytes;
    pthread_mutex_unlock(&p->mu);
    free(m);
    free(data);
    return n;
  }
  m->data = data;
  m->len = len;
  m->gen = p->gen;
  m->next = NULL;
  if (p->in_tail)
    p->in_tail->next = m;
  else
    p->in_head = m;
  p->in_tail = m;
  p->in_bytes += IN_COST(len);
  size_t n = p->in_bytes;
  pthread_cond_signal(&p->in_cv);
  pthread_mutex_unlock(&p->mu);
  return n;
}

size_t pb_proxy_inbound(pb_proxy *p) {
  pthread_mutex_lock(&p->mu);
  size_t n = p->in_bytes;
  pthread_mutex_unlock(&p->mu);
  return n;
}

int pb_proxy_take_close(pb_proxy *p) {
  pthread_mutex_lock(&p->mu);
  int c = p->close_asked;
  p->close_asked = 0;
  pthread_mutex_unlock(&p->mu);
  return c;
}

int pb_proxy_new(pb_cdp *c, pb_policy_url_check url_check, void *check_data, pb_proxy_wake wake,
                 void *wake_data, pb_proxy **out) {
  *out = NULL;
  pb_proxy *p = calloc(1, sizeof(*p));
  if (!p) return PB_ENOMEM;
  p->cdp = c;
  p->env.url_check = url_check;
  p->env.url_data = check_data;
  p->env.upload_dir = NULL; /* no upload area yet: DOM.setFileInputFiles is refused */
  p->wake = wake;
  p->wake_data = wake_data;
  p->next_id = PB_CDP_RAW_ID_BASE;
  if (pb_targets_new(&p->targets)) {
    free(p);
    return PB_ENOMEM;
  }
  p->max_pages = PB_PROXY_MAX_PAGES;
  p->download_max = (int64_t)50 << 20; /* downloads denied until set_limits names a dir */
  atomic_init(&p->last_activity, pb_now_ms());
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->drained, NULL);
  pthread_cond_init(&p->in_cv, NULL);
  pthread_mutex_init(&p->log_mu, NULL);
  if (pthread_create(&p->worker, NULL, worker_main, p)) {
    pthread_cond_destroy(&p->in_cv);
    pthread_mutex_destroy(&p->log_mu);
    pthread_cond_destroy(&p->drained);
    pthread_mutex_destroy(&p->mu);
    pb_targets_free(p->targets);
    free(p);
    return PB_ENOMEM;
  }
  pb_cdp_set_tap(c, tap, p);
  *out = p;
  return 0;
}

void pb_proxy_client_attach(pb_proxy *p) {
  pthread_mutex_lock(&p->mu);
  drop_queue_locked(p);
  p->attached = 1;
  p->gen++;
  p->answers_dropped = 0;
  pthread_mutex_unlock(&p->mu);
  atomic_store(&p->last_activity, pb_now_ms());
}

static void log_suppressed_locked(pb_proxy *p);

void pb_proxy_client_detach(pb_proxy *p) {
  pthread_mutex_lock(&p->log_mu);
  log_suppressed_locked(p);
  pthread_mutex_unlock(&p->log_mu);
  pthread_mutex_lock(&p->mu);
  p->attached = 0;
  p->nids = 0;
  drop_queue_locked(p);
  drop_inbound_locked(p);
  char(*sids)[64] = NULL;
  int n = p->nsids;
  if (n) {
    sids = malloc(sizeof(p->sids[0]) * (size_t)n);
    if (sids) memcpy(sids, p->sids, sizeof(p->sids[0]) * (size_t)n);
  }
  p->nsids = 0;
  pthread_mutex_unlock(&p->mu);
  /* Pages stay; the client's protocol state goes, so a reconnecting client
   * is told about every target again. */
  for (int i = 0; sids && i < n; i++) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "sessionId", sids[i]);
    pb_cdp_send(p->cdp, NULL, "Target.detachFromTarget", params);
  }
  free(sids);
  cJSON *params = cJSON_CreateObject();
  cJSON_AddBoolToObject(params, "discover", 0);
  pb_cdp_send(p->cdp, NULL, "Target.setDiscoverTargets", params);
  params = cJSON_CreateObject();
  cJSON_AddBoolToObject(params, "autoAttach", 0);
  cJSON_AddBoolToObject(params, "waitForDebuggerOnStart", 0);
  pb_cdp_send(p->cdp, NULL, "Target.setAutoAttach", params);
  atomic_store(&p->last_activity, pb_now_ms());
}

/* Queues {"id":ID,"error":{...}} or {"id":ID,"result":{}} for the client. */
static void answer(pb_proxy *p, const cJSON *id, const char *sid, const char *error) {
  cJSON *r = cJSON_CreateObject();
  cJSON_AddItemToObject(r, "id", id ? cJSON_Duplicate(id, 0) : cJSON_CreateNull());
  if (error) {
    cJSON *e = cJSON_AddObjectToObject(r, "error");
    cJSON_AddNumberToObject(e, "code", -32000);
    cJSON_AddStringToObject(e, "message", error);
  } else {
    cJSON_AddObjectToObject(r, "result");
  }
  if (sid) cJSON_AddStringToObject(r, "sessionId", sid);
  char *text = cJSON_PrintUnformatted(r);
  cJSON_Delete(r);
  if (!text) return;
  size_t len = strlen(text);
  pthread_mutex_lock(&p->mu);
  /* The I/O thread cannot wait for the client like the reader does: a
   * client that sends without reading loses these answers past the cap
   * instead of growing the queue. */
  int fits = p->queued + len <= PB_PROXY_QUEUE_MAX;
  if (p->attached && fits)
    enqueue_locked(p, text, len);
  else
    free(text);
  int first_drop = p->attached && !fits && !p->answers_dropped++;
  pthread_mutex_unlock(&p->mu);
  if (first_drop)
    PB_WARN("sessions: %s: the client does not read; answers past %zu MiB are dropped",
            p->session_id, PB_PROXY_QUEUE_MAX >> 20);
  if (p->wake) p->wake(p->wake_data);
}

void pb_proxy_set_upload_dir(pb_proxy *p, const char *dir, pb_policy_file_check check,
                             void *data) {
  pb_strlcpy(p->upload_dir, dir ? dir : "", sizeof(p->upload_dir));
  p->env.upload_dir = p->upload_dir[0] ? p->upload_dir : NULL;
  p->env.file_check = check;
  p->env.file_data = data;
}

void pb_proxy_set_identity(pb_proxy *p, const char *account, const char *session_id) {
  pb_strlcpy(p->account, account ? account : "", sizeof(p->account));
  pb_strlcpy(p->session_id, session_id ? session_id : "", sizeof(p->session_id));
}

/* "suppressed" refusals of the last second, in one line of their own. */
static void log_suppressed_locked(pb_proxy *p) {
  if (!p->log_suppressed) return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "level", "warn");
  cJSON_AddStringToObject(o, "msg", "cdp refused");
  if (p->account[0]) cJSON_AddStringToObject(o, "account", p->account);
  cJSON_AddStringToObject(o, "session", p->session_id);
  cJSON_AddNumberToObject(o, "suppressed", (double)p->log_suppressed);
  pb_log_json(o);
  p->log_suppressed = 0;
}

/* One JSON line per refused command, like the request log; past
 * REFUSAL_LOG_PER_SEC in a second only counted, then said in one line. */
static void log_refusal_locked(pb_proxy *p, const cJSON *msg, const char *why) {
  if (pb_log_level < PB_LOG_WARN) return;
  int64_t sec = pb_now_ms() / 1000;
  if (sec != p->log_second) {
    log_suppressed_locked(p);
    p->log_second = sec;
    p->log_count = 0;
  }
  if (++p->log_count > REFUSAL_LOG_PER_SEC) {
    p->log_suppressed++;
    return;
  }
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  const cJSON *sid = cJSON_GetObjectItemCaseSensitive(msg, "sessionId");
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "level", "warn");
  cJSON_AddStringToObject(o, "msg", "cdp refused");
  if (p->account[0]) cJSON_AddStringToObject(o, "account", p->account);
  cJSON_AddStringToObject(o, "session", p->session_id);
  if (cJSON_IsString(sid)) cJSON_AddStringToObject(o, "cdpSession", sid->valuestring);
  char method[128];
  pb_strlcpy(method, cJSON_IsString(m) ? m->valuestring : "", sizeof(method));
  cJSON_AddStringToObject(o, "method", method);
  cJSON_AddStringToObject(o, "reason", why);
  pb_log_json(o);
}

static void log_refusal(pb_proxy *p, const cJSON *msg, const char *why) {
  pthread_mutex_lock(&p->log_mu);
  p->refused++;
  pb_strlcpy(p->last_refusal, why, sizeof(p->last_refusal));
  log_refusal_locked(p, msg, why);
  pthread_mutex_unlock(&p->log_mu);
}

int64_t pb_proxy_refusals(pb_proxy *p, char *last, size_t cap) {
  if (cap) last[0] = '\0';
  if (!p) return 0;
  pthread_mutex_lock(&p->log_mu);
  int64_t n = p->refused;
  if (cap) pb_strlcpy(last, p->last_refusal, cap);
  pthread_mutex_unlock(&p->log_mu);
  return n;
}

int pb_proxy_from_client(pb_proxy *p, const char *json, size_t len) {
  atomic_store(&p->last_activity, pb_now_ms());
  char why[512];
  cJSON *msg = NULL;
  int verdict = pb_cdp_policy_frame(json, len, &p->env, &msg, why, sizeof(why));
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const cJSON *sidj = cJSON_GetObjectItemCaseSensitive(msg, "sessionId");
  const char *sid = cJSON_IsString(sidj) ? sidj->valuestring : NULL;
  if (verdict != PB_POLICY_ALLOW) {
    if (verdict == PB_POLICY_DENY) log_refusal(p, msg, why);
    answer(p, id, sid, verdict == PB_POLICY_DENY ? why : NULL);
    cJSON_Delete(msg);
    return verdict;
  }
  const cJSON *mj = cJSON_GetObjectItemCaseSensitive(msg, "method");
  const char *method = cJSON_IsString(mj) ? mj->valuestring : "";
  PB_DEBUG("cdp: session %s: client sent %s", p->session_id, method);
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!strcmp(method, "Target.createTarget") && pb_targets_live_pages(p->targets) >= p->max_pages) {
    snprintf(why, sizeof(why),
             "refused by ppod: the session has %d pages open, the most it may have; "
             "close one first",
             p->max_pages);
    log_refusal(p, msg, why);
    answer(p, id, sid, why);
    cJSON_Delete(msg);
    return PB_POLICY_DENY;
  }
  if (!strcmp(method, "Browser.setDownloadBehavior") ||
      !strcmp(method, "Page.setDownloadBehavior")) {
    /* The policy left "allowAndName" without a path, or "deny". */
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(params, "behavior");
    if (cJSON_IsString(b) && !strcmp(b->valuestring, "allowAndName")) {
      if (p->download_dir[0]) {
        cJSON_AddStringToObject(params, "downloadPath", p->download_dir);
      } else {
        cJSON_DeleteItemFromObjectCaseSensitive(params, "behavior");
        cJSON_AddStringToObject(params, "behavior", "deny");
      }
    }
  }
  pthread_mutex_lock(&p->mu);
  if (p->nids == p->aids) {
    size_t na = p->aids ? p->aids * 2 : 64;
    id_map *ni = na <= 65536 ? realloc(p->ids, na * sizeof(*ni)) : NULL;
    if (!ni) {
      pthread_mutex_unlock(&p->mu);
      log_refusal(p, msg, "refused by ppod: too many commands waiting for an answer");
      answer(p, id, sid, "refused by ppod: too many commands waiting for an answer");
      cJSON_Delete(msg);
      return PB_POLICY_DENY;
    }
    p->ids = ni;
    p->aids = na;
  }
  int64_t ours = p->next_id++;
  p->ids[p->nids].ours = ours;
  p->ids[p->nids].theirs = id->valuedouble;
  p->ids[p->nids].gen = p->gen;
  p->ids[p->nids].attach = !strncmp(method, "Target.attachTo", 15);
  p->ids[p->nids].create = !strcmp(method, "Target.createTarget");
  p->ids[p->nids].create_ctx = !strcmp(method, "Target.createBrowserContext");
  p->ids[p->nids].closes[0] = '\0';
  pb_strlcpy(p->ids[p->nids].sid, sid ? sid : "", sizeof(p->ids[0].sid));
  if (!strcmp(method, "Target.closeTarget")) {
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "targetId");
    if (cJSON_IsString(tid))
      pb_strlcpy(p->ids[p->nids].closes, tid->valuestring, sizeof(p->ids[0].closes));
  }
  p->nids++;
  pthread_mutex_unlock(&p->mu);
  /* The id goes first so the reply can be rewritten without parsing it;
   * what Chromium reads is the canonical tree printed, never the frame. */
  cJSON *theirs = cJSON_DetachItemFromObjectCaseSensitive(msg, "id");
  char *rest = cJSON_PrintUnformatted(msg);
  pb_buf b;
  pb_buf_init(&b, PB_CDP_MESSAGE_MAX);
  int rc =
      rest ? pb_buf_printf(&b, "{\"id\":%" PRId64 "%s%s", ours, rest[1] == '}' ? "" : ",", rest + 1)
           : PB_ENOMEM;
  free(rest);
  if (!rc) rc = pb_cdp_send_raw(p->cdp, b.data, b.len);
  pb_buf_free(&b);
  if (rc == PB_ETOOBIG || rc == PB_ENOMEM) {
    /* Printing escapes can grow a frame past the cap. */
    pthread_mutex_lock(&p->mu);
    for (size_t k = 0; k < p->nids; k++)
      if (p->ids[k].ours == ours) {
        p->ids[k] = p->ids[--p->nids];
        break;
      }
    pthread_mutex_unlock(&p->mu);
    const char *e = "refused by ppod: the message is larger than 64 MiB";
    log_refusal(p, msg, e);
    answer(p, theirs, sid, e);
    cJSON_Delete(theirs);
    cJSON_Delete(msg);
    return PB_POLICY_DENY;
  }
  /* The page the client works on, for the live view to follow: the one it
   * brought to front, activated or navigated (createTarget's reply is seen
   * in the tap). */
  char focus[64] = "";
  if (!strcmp(method, "Target.activateTarget"))
    pb_strlcpy(focus, pb_json_str(params, "targetId") ? pb_json_str(params, "targetId") : "",
               sizeof(focus));
  pthread_mutex_lock(&p->mu);
  if (sid && (!strcmp(method, "Page.bringToFront") || !strcmp(method, "Page.navigate")))
    sid_target_locked(p, sid, focus, sizeof(focus));
  pb_proxy_focus fn = p->focus;
  void *fn_data = p->focus_data;
  pthread_mutex_unlock(&p->mu);
  if (focus[0] && fn) fn(fn_data, focus);
  cJSON_Delete(theirs);
  cJSON_Delete(msg);
  return PB_POLICY_ALLOW;
}

char *pb_proxy_next_out(pb_proxy *p, size_t *len) {
  pthread_mutex_lock(&p->mu);
  out_msg *m = p->head;
  char *data = NULL;
  if (m) {
    p->head = m->next;
    if (!p->head) p->tail = NULL;
    p->queued -= m->len;
    data = m->data;
    *len = m->len;
    free(m);
    pthread_cond_broadcast(&p->drained);
  }
  pthread_mutex_unlock(&p->mu);
  return data;
}

int pb_proxy_has_output(pb_proxy *p) {
  pthread_mutex_lock(&p->mu);
  /* Output queued, or commands whose answers are still to come. */
  int has = p->head != NULL || (p->attached && p->nids > 0);
  pthread_mutex_unlock(&p->mu);
  return has;
}

int64_t pb_proxy_last_activity(pb_proxy *p) {
  return atomic_load(&p->last_activity);
}

void pb_proxy_free(pb_proxy *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->closing = 1;
  p->attached = 0;
  p->stop = 1;
  drop_queue_locked(p);
  drop_inbound_locked(p);
  pthread_cond_broadcast(&p->in_cv);
  pthread_mutex_unlock(&p->mu);
  /* A message being handled ends soon: the browser is gone or answers. */
  pthread_join(p->worker, NULL);
  pb_cdp_set_tap(p->cdp, NULL, NULL);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->drained);
  pthread_cond_destroy(&p->in_cv);
  pthread_mutex_destroy(&p->log_mu);
  free(p->ids);
  pb_targets_free(p->targets);
  free(p);
}
