#include "cdp/targets.h"

#include "common/json.h"
#include "common/pb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Few contexts and targets live at once in one browser (a handful of warm
 * and leased pages; a session's client is capped): arrays will do. When a
 * table is full the oldest entry gives way. */
#define MAX_CONTEXTS 64
#define MAX_TARGETS 512

typedef struct {
  char id[64];
  int created;
  int downloaded;
} ctx;

typedef struct {
  char id[64];
  char context[64];
  int page;
} tgt;

struct pb_targets {
  pthread_mutex_t mu;
  ctx ctxs[MAX_CONTEXTS];
  int nctxs;
  tgt tgts[MAX_TARGETS];
  int ntgts;
};

int pb_targets_new(pb_targets **out) {
  *out = calloc(1, sizeof(**out));
  if (!*out) return PB_ENOMEM;
  pthread_mutex_init(&(*out)->mu, NULL);
  return 0;
}

void pb_targets_free(pb_targets *t) {
  if (!t) return;
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static const char *field(const cJSON *o, const char *name) {
  const char *s = pb_json_str(o, name);
  return s ? s : "";
}

static ctx *ctx_get_locked(pb_targets *t, const char *id) {
  for (int i = 0; i < t->nctxs; i++)
    if (!strcmp(t->ctxs[i].id, id)) return &t->ctxs[i];
  if (t->nctxs == MAX_CONTEXTS) memmove(&t->ctxs[0], &t->ctxs[1], sizeof(ctx) * --t->nctxs);
  ctx *c = &t->ctxs[t->nctxs++];
  pb_strlcpy(c->id, id, sizeof(c->id));
  c->created = 0;
  c->downloaded = 0;
  return c;
}

int pb_targets_created(pb_targets *t, const cJSON *info) {
  const char *id = field(info, "targetId"), *context = field(info, "browserContextId");
  pthread_mutex_lock(&t->mu);
  int known = 0;
  for (int i = 0; i < t->ntgts; i++)
    if (!strcmp(t->tgts[i].id, id)) known = 1;
  ctx *c = ctx_get_locked(t, context);
  if (!known) {
    c->created++;
    if (t->ntgts == MAX_TARGETS) memmove(&t->tgts[0], &t->tgts[1], sizeof(tgt) * --t->ntgts);
    tgt *g = &t->tgts[t->ntgts++];
    pb_strlcpy(g->id, id, sizeof(g->id));
    pb_strlcpy(g->context, context, sizeof(g->context));
    g->page = !strcmp(field(info, "type"), "page");
  }
  int n = c->created;
  pthread_mutex_unlock(&t->mu);
  return n;
}

void pb_targets_destroyed(pb_targets *t, const char *target_id) {
  pthread_mutex_lock(&t->mu);
  for (int i = 0; i < t->ntgts; i++)
    if (!strcmp(t->tgts[i].id, target_id)) {
      t->tgts[i] = t->tgts[--t->ntgts];
      break;
    }
  pthread_mutex_unlock(&t->mu);
}

int pb_targets_live_pages(pb_targets *t) {
  pthread_mutex_lock(&t->mu);
  int n = 0;
  for (int i = 0; i < t->ntgts; i++) n += t->tgts[i].page;
  pthread_mutex_unlock(&t->mu);
  return n;
}

int pb_targets_context_of(pb_targets *t, const char *target_id, char *out, size_t cap) {
  int rc = PB_ENOTFOUND;
  if (cap) out[0] = '\0';
  pthread_mutex_lock(&t->mu);
  for (int i = 0; i < t->ntgts; i++)
    if (!strcmp(t->tgts[i].id, target_id)) {
      pb_strlcpy(out, t->tgts[i].context, cap);
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&t->mu);
  return rc;
}

int pb_targets_contexts(pb_targets *t, char (*out)[64], int max) {
  pthread_mutex_lock(&t->mu);
  int n = 0;
  for (int i = 0; i < t->nctxs && n < max; i++) pb_strlcpy(out[n++], t->ctxs[i].id, 64);
  pthread_mutex_unlock(&t->mu);
  return n;
}

void pb_targets_add_context(pb_targets *t, const char *context_id) {
  pthread_mutex_lock(&t->mu);
  ctx_get_locked(t, context_id);
  pthread_mutex_unlock(&t->mu);
}

void pb_targets_download_began(pb_targets *t, const char *frame_id) {
  pthread_mutex_lock(&t->mu);
  const char *context = NULL;
  for (int i = 0; i < t->ntgts; i++)
    if (!strcmp(t->tgts[i].id, frame_id)) context = t->tgts[i].context;
  for (int i = 0; i < t->nctxs; i++)
    if (!context || !strcmp(t->ctxs[i].id, context)) t->ctxs[i].downloaded = 1;
  pthread_mutex_unlock(&t->mu);
}

int pb_targets_downloaded(pb_targets *t, const char *context_id) {
  pthread_mutex_lock(&t->mu);
  int d = 0;
  for (int i = 0; i < t->nctxs; i++)
    if (!strcmp(t->ctxs[i].id, context_id)) d = t->ctxs[i].downloaded;
  pthread_mutex_unlock(&t->mu);
  return d;
}

void pb_targets_forget(pb_targets *t, const char *context_id) {
  pthread_mutex_lock(&t->mu);
  for (int i = 0; i < t->nctxs; i++)
    if (!strcmp(t->ctxs[i].id, context_id)) {
      t->ctxs[i] = t->ctxs[--t->nctxs];
      break;
    }
  for (int i = 0; i < t->ntgts;) {
    if (!strcmp(t->tgts[i].context, context_id))
      t->tgts[i] = t->tgts[--t->ntgts];
    else
      i++;
  }
  pthread_mutex_unlock(&t->mu);
}

static double num(const cJSON *o, const char *name) {
  return pb_json_num(o, name, 0);
}

int pb_targets_cap_download(pb_cdp *c, pb_targets *t, const cJSON *progress, int64_t cap) {
  const cJSON *guid = cJSON_GetObjectItemCaseSensitive(progress, "guid");
  const cJSON *state = cJSON_GetObjectItemCaseSensitive(progress, "state");
  if (!cJSON_IsString(guid) || !cJSON_IsString(state) || strcmp(state->valuestring, "inProgress"))
    return 0;
  if (num(progress, "receivedBytes") <= (double)cap && num(progress, "totalBytes") <= (double)cap)
    return 0;
  PB_INFO("downloads: %s is over %lld bytes: cancelled", guid->valuestring, (long long)cap);
  char ctxs[16][64];
  int n = t ? pb_targets_contexts(t, ctxs, 16) : 0;
  for (int i = -1; i < n; i++) {
    if (i >= 0 && !ctxs[i][0]) continue;
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "guid", guid->valuestring);
    if (i >= 0) cJSON_AddStringToObject(p, "browserContextId", ctxs[i]);
    pb_cdp_send(c, NULL, "Browser.cancelDownload", p);
  }
  return 1;
}
