/* Recording: raw CDP messages and actions are copied under a mutex and
 * nothing else, so recording is cheap on the reader thread; all the
 * interpretation happens at pb_trace_write_zip time (playwright.c), and a
 * trace that is never written costs only its copies. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "trace/internal.h"

int pb_trace_new(size_t cap_bytes, pb_trace **out) {
  if (!out || cap_bytes == 0) return PB_EINVAL;
  pb_trace *t = calloc(1, sizeof(*t));
  if (!t) return PB_ENOMEM;
  if (pthread_mutex_init(&t->mu, NULL)) {
    free(t);
    return PB_ENOMEM;
  }
  t->cap = cap_bytes;
  t->next_id = 1;
  *out = t;
  return 0;
}

void pb_trace_free(pb_trace *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nrecs; i++) {
    free(t->recs[i].s);
    free(t->recs[i].params);
  }
  free(t->recs);
  free(t->title);
  free(t->user_agent);
  free(t->browser_version);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* Appends r; takes ownership of r->s and r->params, freeing them when the cap
 * is reached (force: records regardless of the cap, for action ends). Called
 * with t->mu held. */
static void push_locked(pb_trace *t, pb__trace_rec *r, int force) {
  size_t cost = r->len + (r->params ? strlen(r->params) : 0) + sizeof(pb__trace_rec);
  if (!force && (t->cut || cost > t->cap - t->used)) {
    if (!t->cut) t->cut_ts = r->ts;
    t->cut = 1;
    goto drop;
  }
  if (t->nrecs == t->arecs) {
    size_t na = t->arecs ? t->arecs * 2 : 64;
    pb__trace_rec *nr = realloc(t->recs, na * sizeof(*nr));
    if (!nr) goto drop;
    t->recs = nr;
    t->arecs = na;
  }
  t->recs[t->nrecs++] = *r;
  t->used += cost < t->cap - t->used ? cost : t->cap - t->used;
  return;
drop:
  free(r->s);
  free(r->params);
}

void pb_trace_cdp(pb_trace *t, int direction, int64_t ts_ms, const char *json, size_t len) {
  if (!t || !json) return;
  pthread_mutex_lock(&t->mu);
  /* Refuse before copying: a cut trace must not keep paying for copies. */
  if (t->cut || len + sizeof(pb__trace_rec) > t->cap - t->used) {
    if (!t->cut) t->cut_ts = ts_ms;
    t->cut = 1;
    pthread_mutex_unlock(&t->mu);
    return;
  }
  pb__trace_rec r = {.kind = REC_CDP, .dir = direction, .ts = ts_ms, .len = len};
  r.s = pb__trace_memdup0(json, len);
  if (r.s) push_locked(t, &r, 0);
  pthread_mutex_unlock(&t->mu);
}

void pb_trace_frame(pb_trace *t, int64_t ts_ms, const unsigned char *jpeg, size_t len, int width,
                    int height, const char *page) {
  if (!t || !jpeg || !len) return;
  size_t cost = len + sizeof(pb__trace_rec) + 64;
  pthread_mutex_lock(&t->mu);
  /* A dropped frame is no cut: the actions and messages go on. */
  if (t->cut || cost > t->cap / 2 - (t->frames_used < t->cap / 2 ? t->frames_used : t->cap / 2) ||
      cost > t->cap - t->used) {
    pthread_mutex_unlock(&t->mu);
    return;
  }
  pb__trace_rec r = {.kind = REC_FRAME, .ts = ts_ms, .len = len, .w = width, .h = height};
  r.s = pb__trace_memdup0((const char *)jpeg, len);
  r.params = strdup(page ? page : "");
  if (!r.s || !r.params) {
    free(r.s);
    free(r.params);
  } else {
    size_t before = t->nrecs;
    push_locked(t, &r, 0);
    if (t->nrecs > before) t->frames_used += cost;
  }
  pthread_mutex_unlock(&t->mu);
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

void pb_trace_meta(pb_trace *t, const char *title, int viewport_w, int viewport_h,
                   const char *user_agent, const char *browser_version) {
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  if (title) free(t->title), t->title = dup_or_null(title);
  if (user_agent) free(t->user_agent), t->user_agent = dup_or_null(user_agent);
  if (browser_version) free(t->browser_version), t->browser_version = dup_or_null(browser_version);
  if (viewport_w > 0 && viewport_h > 0) t->vw = viewport_w, t->vh = viewport_h;
  pthread_mutex_unlock(&t->mu);
}

int pb_trace_action_begin(pb_trace *t, const char *api, const cJSON *params, int64_t ts_ms) {
  if (!t || !api) return 0;
  pb__trace_rec r = {.kind = REC_BEGIN, .ts = ts_ms};
  r.s = strdup(api);
  if (!r.s) return 0;
  r.len = strlen(r.s);
  if (params) r.params = cJSON_PrintUnformatted(params);
  pthread_mutex_lock(&t->mu);
  size_t before = t->nrecs;
  r.id = t->next_id;
  push_locked(t, &r, 0);
  int id = t->nrecs > before ? t->next_id++ : 0;
  pthread_mutex_unlock(&t->mu);
  return id;
}

void pb_trace_action_end(pb_trace *t, int id, int64_t ts_ms, const char *error) {
  if (!t || id <= 0) return;
  pb__trace_rec r = {.kind = REC_END, .id = id, .ts = ts_ms};
  if (error) {
    r.s = strdup(error);
    if (!r.s) return;
    r.len = strlen(r.s);
  }
  pthread_mutex_lock(&t->mu);
  /* Ends are recorded past the cap: their begin was, and an action without
   * an end would show as never finishing. */
  push_locked(t, &r, 1);
  pthread_mutex_unlock(&t->mu);
}

int pb_trace_truncated(pb_trace *t) {
  if (!t) return 0;
  pthread_mutex_lock(&t->mu);
  int cut = t->cut;
  pthread_mutex_unlock(&t->mu);
  return cut;
}
