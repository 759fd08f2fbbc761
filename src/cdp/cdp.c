#include "cdp/cdp.h"

#include "common/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SID_MAX 64
#define DEAD_MAX 64

typedef struct pending {
  int64_t id;
  char sid[SID_MAX];
  int done;
  int rc;
  cJSON *result;
  char err[256];
  struct pending *next;
} pending;

struct pb_cdp_sub {
  pb_cdp *c;
  char sid[SID_MAX];
  pb_cdp_event *head, *tail;
  size_t queued;
  int dead;
  pb_cdp_hook hook;
  void *hook_data;
  struct pb_cdp_sub *next;
};

struct pb_cdp {
  int wfd, rfd;
  pthread_t reader;
  pthread_mutex_t mu;   /* guards everything below but wfd writes */
  pthread_mutex_t wmu;  /* serialises writes so messages never interleave */
  pthread_cond_t cv;    /* broadcast on any reply, event or death */
  atomic_int alive;
  atomic_llong next_id; /* atomic: hooks send while the lock is held */
  pending *pending;
  pb_cdp_sub *subs;
  char dead[DEAD_MAX][SID_MAX];
  int ndead;
  pb_cdp_hook hook;
  void *hook_data;
  pthread_mutex_t tap_mu; /* held while the tap runs */
  pthread_mutex_t rec_mu; /* held while a recorder runs (never while blocked) */
  struct {
    char sid[SID_MAX];
    pb_cdp_recorder fn;
    void *data;
  } rec[16];
  atomic_int nrec; /* read without the lock: tracing off costs one load */
  pb_cdp_tap tap;
  void *tap_data;
};

/* Events queued for a subscriber that never reads are dropped past this. */
#define SUB_QUEUE_MAX 10000

static void timespec_at(int64_t deadline_ms, struct timespec *ts) {
  /* Condition variables use CLOCK_MONOTONIC (set in pb_cdp_open). */
  ts->tv_sec = deadline_ms / 1000;
  ts->tv_nsec = (deadline_ms % 1000) * 1000000;
}

static int is_dead_locked(pb_cdp *c, const char *sid) {
  if (!sid || !*sid) return 0;
  for (int i = 0; i < c->ndead; i++)
    if (!strcmp(c->dead[i], sid)) return 1;
  return 0;
}

static void record(pb_cdp *c, int dir, const char *sid, const char *json, size_t len, int lock);

static int write_all(pb_cdp *c, const char *buf, size_t len) {
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(c->wfd, buf + off, len - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd p = {.fd = c->wfd, .events = POLLOUT};
        if (poll(&p, 1, 1000) < 0 && errno != EINTR) return PB_EIO;
        if (!atomic_load(&c->alive)) return PB_ECRASHED;
        continue;
      }
      return PB_ECRASHED;
    }
    off += (size_t)n;
  }
  return 0;
}

/* Writes {"id":id,"method":m,"params":p,"sessionId":s}\0. Takes params. */
static int send_msg(pb_cdp *c, int64_t id, const char *sid, const char *method, cJSON *params) {
  cJSON *msg = cJSON_CreateObject();
  if (!msg) {
    cJSON_Delete(params);
    return PB_ENOMEM;
  }
  cJSON_AddNumberToObject(msg, "id", (double)id);
  cJSON_AddStringToObject(msg, "method", method);
  cJSON_AddItemToObject(msg, "params", params ? params : cJSON_CreateObject());
  if (sid && *sid) cJSON_AddStringToObject(msg, "sessionId", sid);
  char *text = cJSON_PrintUnformatted(msg);
  cJSON_Delete(msg);
  if (!text) return PB_ENOMEM;
  record(c, 0, sid && *sid ? sid : "", text, strlen(text), 1);
  int rc;
  if (!atomic_load(&c->alive)) {
    rc = PB_ECRASHED;
  } else {
    pthread_mutex_lock(&c->wmu);
    rc = write_all(c, text, strlen(text) + 1);
    pthread_mutex_unlock(&c->wmu);
  }
  free(text);
  return rc;
}

int pb_cdp_send_raw(pb_cdp *c, const char *json, size_t len) {
  if (!atomic_load(&c->alive)) return PB_ECRASHED;
  record(c, 0, NULL, json, len, 1);
  pthread_mutex_lock(&c->wmu);
  int rc = write_all(c, json, len);
  if (!rc) rc = write_all(c, "", 1);
  pthread_mutex_unlock(&c->wmu);
  return rc;
}

static pb_cdp_sub *find_sub_locked(pb_cdp *c, const char *sid) {
  for (pb_cdp_sub *s = c->subs; s; s = s->next)
    if (!strcmp(s->sid, sid)) return s;
  return NULL;
}

static void mark_dead_locked(pb_cdp *c, const char *sid) {
  if (!sid || !*sid || is_dead_locked(c, sid)) return;
  /* A ring: the oldest dead session ids are forgotten first. */
  int slot = c->ndead < DEAD_MAX ? c->ndead++ : (int)(pb_now_ms() % DEAD_MAX);
  pb_strlcpy(c->dead[slot], sid, SID_MAX);
  for (pending *p = c->pending; p; p = p->next)
    if (!p->done && !strcmp(p->sid, sid)) {
      p->done = 1;
      p->rc = PB_ETARGET;
    }
  pb_cdp_sub *s = find_sub_locked(c, sid);
  if (s) s->dead = 1;
  pthread_cond_broadcast(&c->cv);
}

void pb_cdp_session_dead(pb_cdp *c, const char *session_id) {
  pthread_mutex_lock(&c->mu);
  mark_dead_locked(c, session_id);
  pthread_mutex_unlock(&c->mu);
}

/* Runs the recorders that want session sid (tap_mu held by the caller or
 * taken here when lock is set). */
static void record(pb_cdp *c, int dir, const char *sid, const char *json, size_t len, int lock) {
  if (!atomic_load(&c->nrec)) return;
  if (lock) pthread_mutex_lock(&c->rec_mu);
  int n = atomic_load(&c->nrec);
  for (int i = 0; i < n; i++)
    if (!strcmp(c->rec[i].sid, "*") || (sid && !strcmp(c->rec[i].sid, sid)))
      c->rec[i].fn(dir, json, len, c->rec[i].data);
  if (lock) pthread_mutex_unlock(&c->rec_mu);
}

int pb_cdp_record(pb_cdp *c, const char *session_id, pb_cdp_recorder fn, void *data) {
  pthread_mutex_lock(&c->rec_mu);
  int n = atomic_load(&c->nrec);
  if (n >= 16) {
    pthread_mutex_unlock(&c->rec_mu);
    return PB_EBUSY;
  }
  pb_strlcpy(c->rec[n].sid, session_id, SID_MAX);
  c->rec[n].fn = fn;
  c->rec[n].data = data;
  atomic_store(&c->nrec, n + 1);
  pthread_mutex_unlock(&c->rec_mu);
  return 0;
}

void pb_cdp_unrecord(pb_cdp *c, pb_cdp_recorder fn, void *data) {
  pthread_mutex_lock(&c->rec_mu);
  int n = atomic_load(&c->nrec);
  for (int i = 0; i < n; i++)
    if (c->rec[i].fn == fn && c->rec[i].data == data) {
      c->rec[i] = c->rec[n - 1];
      atomic_store(&c->nrec, --n);
      break;
    }
  pthread_mutex_unlock(&c->rec_mu);
}

static int64_t leading_id(const char *buf, size_t len);

/* Events with more JSON values than this go to the tap and the recorders
 * only: no hook or subscriber of the service waits for such an event (they
 * are a client's DOM trees and the like), and a cJSON tree costs many times
 * the text of small values. */
#define EVENT_PARSE_MAX_VALUES ((size_t)1 << 20)

/* Counts JSON values (every one but the first follows '[', ',' or ':'
 * outside a string), stopping past max. */
static size_t count_values(const char *s, size_t len, size_t max) {
  size_t n = 1;
  int in_string = 0;
  for (size_t i = 0; i < len && n <= max; i++) {
    char ch = s[i];
    if (in_string) {
      if (ch == '\\')
        i++;
      else if (ch == '"')
        in_string = 0;
    } else if (ch == '"') {
      in_string = 1;
    } else if (ch == '[' || ch == ',' || ch == ':') {
      n++;
    }
  }
  return n;
}

static void dispatch(pb_cdp *c, char *text, size_t len) {
  pthread_mutex_lock(&c->tap_mu);
  if (c->tap) c->tap(c, text, len, c->tap_data);
  pthread_mutex_unlock(&c->tap_mu);
  if (leading_id(text, len) >= PB_CDP_RAW_ID_BASE) {
    /* A reply to a raw command is the tap's alone: not parsed here, so a
     * client's 64 MiB reply of small values never becomes a cJSON tree
     * many times its size. */
    record(c, 1, NULL, text, len, 1);
    return;
  }
  if (len > ((size_t)1 << 20) && leading_id(text, len) < 0 &&
      count_values(text, len, EVENT_PARSE_MAX_VALUES) > EVENT_PARSE_MAX_VALUES) {
    record(c, 1, NULL, text, len, 1);
    PB_DEBUG("cdp: an event of %zu bytes with over %zu values went to the tap only", len,
             EVENT_PARSE_MAX_VALUES);
    return;
  }
  cJSON *msg = cJSON_ParseWithLength(text, len);
  if (!msg) return;
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const cJSON *sidj = cJSON_GetObjectItemCaseSensitive(msg, "sessionId");
  const char *sid = cJSON_IsString(sidj) ? sidj->valuestring : "";
  record(c, 1, sid, text, len, 1);
  if (cJSON_IsNumber(id)) {
    int64_t idv = (int64_t)id->valuedouble;
    pthread_mutex_lock(&c->mu);
    for (pending *p = c->pending; p; p = p->next) {
      if (p->id != idv || p->done) continue;
      cJSON *error = cJSON_GetObjectItemCaseSensitive(msg, "error");
      if (error) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(error, "message");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(error, "data");
        snprintf(p->err, sizeof(p->err), "%s%s%s", cJSON_IsString(m) ? m->valuestring : "error",
                 cJSON_IsString(d) ? ": " : "", cJSON_IsString(d) ? d->valuestring : "");
        p->rc = PB_ECDP;
      } else {
        p->result = cJSON_DetachItemFromObjectCaseSensitive(msg, "result");
        p->rc = 0;
      }
      p->done = 1;
      pthread_cond_broadcast(&c->cv);
      break;
    }
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(msg);
    return;
  }
  const cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (!cJSON_IsString(method)) {
    cJSON_Delete(msg);
    return;
  }
  const char *m = method->valuestring;
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!strcmp(m, "Target.targetCrashed")) {
    /* Why a renderer went: "crashed", "killed" (a signal: errorCode), "oom"
     * ("Aw, Snap" has no other trace in our logs). */
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(params, "status");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(params, "errorCode");
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "targetId");
    PB_WARN("cdp: target %s crashed: %s, code %d", cJSON_IsString(tid) ? tid->valuestring : "?",
            cJSON_IsString(st) ? st->valuestring : "?", cJSON_IsNumber(code) ? code->valueint : -1);
  }
  if (!strcmp(m, "Inspector.targetCrashed") || !strcmp(m, "Inspector.detached")) {
    pb_cdp_session_dead(c, sid);
  } else if (!strcmp(m, "Target.detachedFromTarget")) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(params, "sessionId");
    if (cJSON_IsString(d)) pb_cdp_session_dead(c, d->valuestring);
  }
  if (c->hook && c->hook(c, sid, m, params, c->hook_data)) {
    cJSON_Delete(msg);
    return;
  }
  pthread_mutex_lock(&c->mu);
  pb_cdp_sub *s = find_sub_locked(c, sid);
  if (s && s->hook && s->hook(c, sid, m, params, s->hook_data)) s = NULL;
  if (s && s->queued < SUB_QUEUE_MAX) {
    pb_cdp_event *ev = calloc(1, sizeof(*ev));
    if (ev) {
      ev->method = strdup(m);
      ev->params = params ? cJSON_DetachItemViaPointer(msg, params) : cJSON_CreateObject();
      if (s->tail)
        s->tail->next = ev;
      else
        s->head = ev;
      s->tail = ev;
      s->queued++;
      pthread_cond_broadcast(&c->cv);
    }
  }
  pthread_mutex_unlock(&c->mu);
  cJSON_Delete(msg);
}

/* The id of a reply, which Chromium always writes first, or -1. */
static int64_t leading_id(const char *buf, size_t len) {
  static const char prefix[] = "{\"id\":";
  size_t i = sizeof(prefix) - 1;
  if (len <= i || memcmp(buf, prefix, i)) return -1;
  int64_t v = 0;
  size_t start = i;
  while (i < len && i - start < 18 && buf[i] >= '0' && buf[i] <= '9') v = v * 10 + (buf[i++] - '0');
  return i > start && i < len && buf[i] == ',' ? v : -1;
}

/* A message past PB_CDP_MESSAGE_MAX was read past: its caller gets an error
 * in its place, so one huge reply costs one command, not the browser. */
static void dropped_oversized(pb_cdp *c, int64_t id) {
  if (id < 0) {
    PB_WARN("cdp: an event larger than %zu MiB from the browser was dropped",
            PB_CDP_MESSAGE_MAX >> 20);
    return;
  }
  PB_WARN("cdp: the reply to %lld was larger than %zu MiB and was dropped", (long long)id,
          PB_CDP_MESSAGE_MAX >> 20);
  char text[256];
  int n = snprintf(text, sizeof(text),
                   "{\"id\":%lld,\"error\":{\"code\":-32000,\"message\":\"ppod: the reply was "
                   "larger than %zu MiB and was dropped\"}}",
                   (long long)id, PB_CDP_MESSAGE_MAX >> 20);
  dispatch(c, text, (size_t)n);
}

static void *reader_main(void *arg) {
  pb_cdp *c = arg;
  size_t alloc = 1 << 16, len = 0;
  char *buf = malloc(alloc);
  int skipping = 0; /* inside a message past the cap: bytes are thrown away */
  int64_t skip_id = -1;
  while (buf) {
    if (!skipping && len == alloc) {
      if (alloc >= PB_CDP_MESSAGE_MAX) {
        /* One message fills the whole buffer: note its id and read past it. */
        skip_id = leading_id(buf, len);
        skipping = 1;
        len = 0;
      } else {
        char *nb = realloc(buf, alloc * 2);
        if (!nb) break;
        buf = nb;
        alloc *= 2;
      }
    }
    ssize_t n = read(c->rfd, buf + len, alloc - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t scan;
    if (skipping) {
      char *z = memchr(buf, '\0', (size_t)n);
      if (!z) continue;
      size_t rest = (size_t)n - (size_t)(z - buf) - 1;
      memmove(buf, z + 1, rest);
      len = rest;
      scan = 0;
      skipping = 0;
      dropped_oversized(c, skip_id);
    } else {
      scan = len;
      len += (size_t)n;
    }
    size_t start = 0;
    char *z;
    while ((z = memchr(buf + scan, '\0', len - scan))) {
      size_t end = (size_t)(z - buf);
      dispatch(c, buf + start, end - start);
      start = end + 1;
      scan = start;
    }
    if (start) {
      memmove(buf, buf + start, len - start);
      len -= start;
    }
    /* Keep a big buffer only while a big message is arriving. */
    if (len < (1 << 16) && alloc > (1 << 22)) {
      char *nb = realloc(buf, 1 << 16);
      if (nb) {
        buf = nb;
        alloc = 1 << 16;
      }
    }
  }
  free(buf);
  pthread_mutex_lock(&c->mu);
  atomic_store(&c->alive, 0);
  for (pending *p = c->pending; p; p = p->next)
    if (!p->done) {
      p->done = 1;
      p->rc = PB_ECRASHED;
    }
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

int pb_cdp_open(int write_fd, int read_fd, pb_cdp_hook hook, void *hook_data, pb_cdp **out) {
  *out = NULL;
  pb_cdp *c = calloc(1, sizeof(*c));
  if (!c) return PB_ENOMEM;
  c->wfd = write_fd;
  c->rfd = read_fd;
  c->hook = hook;
  c->hook_data = hook_data;
  atomic_init(&c->next_id, 1);
  atomic_init(&c->alive, 1);
  atomic_init(&c->nrec, 0);
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->wmu, NULL);
  pthread_mutex_init(&c->tap_mu, NULL);
  pthread_mutex_init(&c->rec_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&c->cv, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&c->reader, NULL, reader_main, c)) {
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->wmu);
    free(c);
    return PB_EIO;
  }
  *out = c;
  return 0;
}

void pb_cdp_set_tap(pb_cdp *c, pb_cdp_tap tap, void *data) {
  pthread_mutex_lock(&c->tap_mu);
  c->tap = tap;
  c->tap_data = data;
  pthread_mutex_unlock(&c->tap_mu);
}

int pb_cdp_call_cancelable(pb_cdp *c, const char *session_id, const char *method, cJSON *params,
                           int64_t deadline_ms, const atomic_int *cancel, cJSON **result,
                           char *err, size_t errcap) {
  if (result) *result = NULL;
  if (err && errcap) err[0] = '\0';
  pending p;
  memset(&p, 0, sizeof(p));
  if (session_id) pb_strlcpy(p.sid, session_id, sizeof(p.sid));
  pthread_mutex_lock(&c->mu);
  if (!atomic_load(&c->alive)) {
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(params);
    return PB_ECRASHED;
  }
  if (is_dead_locked(c, p.sid)) {
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(params);
    return PB_ETARGET;
  }
  p.id = atomic_fetch_add(&c->next_id, 1);
  p.next = c->pending;
  c->pending = &p;
  pthread_mutex_unlock(&c->mu);

  int rc = send_msg(c, p.id, p.sid, method, params);

  pthread_mutex_lock(&c->mu);
  if (!rc) {
    while (!p.done) {
      /* With a cancel flag, wake up now and then to look at it. */
      int64_t until = deadline_ms;
      if (cancel && until > pb_now_ms() + 100) until = pb_now_ms() + 100;
      struct timespec ts;
      timespec_at(until, &ts);
      int r = pthread_cond_timedwait(&c->cv, &c->mu, &ts);
      if (p.done) break;
      if (cancel && atomic_load(cancel)) {
        p.rc = PB_ECANCELED;
        break;
      }
      if (r == ETIMEDOUT && pb_now_ms() >= deadline_ms) {
        p.rc = PB_ETIMEOUT;
        break;
      }
    }
    rc = p.rc;
  }
  for (pending **pp = &c->pending; *pp; pp = &(*pp)->next)
    if (*pp == &p) {
      *pp = p.next;
      break;
    }
  pthread_mutex_unlock(&c->mu);
  if (rc == PB_ECDP && err) pb_strlcpy(err, p.err, errcap);
  if (!rc && result)
    *result = p.result ? p.result : cJSON_CreateObject();
  else
    cJSON_Delete(p.result);
  return rc;
}

int pb_cdp_call(pb_cdp *c, const char *session_id, const char *method, cJSON *params,
                int64_t deadline_ms, cJSON **result, char *err, size_t errcap) {
  return pb_cdp_call_cancelable(c, session_id, method, params, deadline_ms, NULL, result, err,
                                errcap);
}

int pb_cdp_session_is_dead(pb_cdp *c, const char *session_id) {
  pthread_mutex_lock(&c->mu);
  int dead = is_dead_locked(c, session_id);
  pthread_mutex_unlock(&c->mu);
  return dead;
}

int pb_cdp_send(pb_cdp *c, const char *session_id, const char *method, cJSON *params) {
  int64_t id = atomic_fetch_add(&c->next_id, 1);
  return send_msg(c, id, session_id, method, params);
}

void pb_cdp_event_free(pb_cdp_event *ev) {
  if (!ev) return;
  free(ev->method);
  cJSON_Delete(ev->params);
  free(ev);
}

int pb_cdp_subscribe(pb_cdp *c, const char *session_id, pb_cdp_sub **out) {
  *out = NULL;
  pb_cdp_sub *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->c = c;
  pb_strlcpy(s->sid, session_id ? session_id : "", sizeof(s->sid));
  pthread_mutex_lock(&c->mu);
  if (find_sub_locked(c, s->sid)) {
    pthread_mutex_unlock(&c->mu);
    free(s);
    return PB_EEXIST;
  }
  s->dead = is_dead_locked(c, s->sid);
  s->next = c->subs;
  c->subs = s;
  pthread_mutex_unlock(&c->mu);
  *out = s;
  return 0;
}

void pb_cdp_sub_set_hook(pb_cdp_sub *s, pb_cdp_hook hook, void *data) {
  pthread_mutex_lock(&s->c->mu);
  s->hook = hook;
  s->hook_data = data;
  pthread_mutex_unlock(&s->c->mu);
}

int pb_cdp_next_event(pb_cdp_sub *s, int64_t deadline_ms, pb_cdp_event **ev) {
  pb_cdp *c = s->c;
  *ev = NULL;
  struct timespec ts;
  timespec_at(deadline_ms, &ts);
  pthread_mutex_lock(&c->mu);
  int rc = 0;
  for (;;) {
    if (s->head) {
      *ev = s->head;
      s->head = s->head->next;
      if (!s->head) s->tail = NULL;
      s->queued--;
      (*ev)->next = NULL;
      break;
    }
    if (!atomic_load(&c->alive)) {
      rc = PB_ECRASHED;
      break;
    }
    if (s->dead) {
      rc = PB_ETARGET;
      break;
    }
    if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT && !s->head) {
      rc = PB_ETIMEOUT;
      break;
    }
  }
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void pb_cdp_unsubscribe(pb_cdp_sub *s) {
  if (!s) return;
  pb_cdp *c = s->c;
  pthread_mutex_lock(&c->mu);
  for (pb_cdp_sub **pp = &c->subs; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  pthread_mutex_unlock(&c->mu);
  while (s->head) {
    pb_cdp_event *n = s->head->next;
    pb_cdp_event_free(s->head);
    s->head = n;
  }
  free(s);
}

int pb_cdp_alive(pb_cdp *c) { return atomic_load(&c->alive); }

int pb_cdp_wait_closed(pb_cdp *c, int64_t deadline_ms) {
  struct timespec ts;
  timespec_at(deadline_ms, &ts);
  pthread_mutex_lock(&c->mu);
  while (atomic_load(&c->alive))
    if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT) break;
  int closed = !atomic_load(&c->alive);
  pthread_mutex_unlock(&c->mu);
  return closed;
}

void pb_cdp_close(pb_cdp *c) {
  if (!c) return;
  /* The caller has made sure the peer is gone or exits on EOF of its read
   * side, so the reader sees EOF and returns. */
  close(c->wfd);
  c->wfd = -1;
  pthread_join(c->reader, NULL);
  close(c->rfd);
  while (c->subs) {
    pb_cdp_sub *s = c->subs;
    c->subs = s->next;
    while (s->head) {
      pb_cdp_event *n = s->head->next;
      pb_cdp_event_free(s->head);
      s->head = n;
    }
    free(s);
  }
  pthread_cond_destroy(&c->cv);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->wmu);
  pthread_mutex_destroy(&c->tap_mu);
  pthread_mutex_destroy(&c->rec_mu);
  free(c);
}
