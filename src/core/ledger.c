#include "core/ledger.h"

#include "common/pb.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNCLOSED_MAX 256

struct pb_ledger {
  pb_store *store;
  pthread_t thread;
  /* The snapshot of open rows handed over by pb_ledger_beat. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int64_t *beat_ids;
  size_t nbeat;
  int beat_ready, stop;
  /* Rows whose close failed, with what the close was to write (under
   * unclosed_mu). */
  pthread_mutex_t unclosed_mu;
  struct unclosed {
    int64_t id, end_ms;
    int status;
  } unclosed[UNCLOSED_MAX];
  int nunclosed;
};

static void *ledger_main(void *arg) {
  pb_ledger *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->stop && !l->beat_ready) pthread_cond_wait(&l->cv, &l->mu);
    if (l->stop) break;
    int64_t *ids = l->beat_ids;
    size_t n = l->nbeat;
    l->beat_ids = NULL;
    l->nbeat = 0;
    l->beat_ready = 0;
    pthread_mutex_unlock(&l->mu);
    int64_t now = pb_wall_ms();
    for (size_t i = 0; i < n; i++) pb_usage_heartbeat(l->store, ids[i], now);
    free(ids);
    /* Rows that could not be closed (disk full): close them at their real
     * end once the store can write again. */
    pthread_mutex_lock(&l->unclosed_mu);
    for (int i = 0; i < l->nunclosed;) {
      int rc =
          pb_usage_end(l->store, l->unclosed[i].id, l->unclosed[i].end_ms, l->unclosed[i].status);
      if (rc == PB_ENOSPACE || rc == PB_ESTORE) break;
      PB_INFO("usage: closed ledger row %lld late", (long long)l->unclosed[i].id);
      l->unclosed[i] = l->unclosed[--l->nunclosed];
    }
    pthread_mutex_unlock(&l->unclosed_mu);
    pthread_mutex_lock(&l->mu);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

int pb_ledger_start(pb_store *store, pb_ledger **out) {
  *out = NULL;
  pb_ledger *l = calloc(1, sizeof(*l));
  if (!l) return PB_ENOMEM;
  l->store = store;
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->cv, NULL);
  pthread_mutex_init(&l->unclosed_mu, NULL);
  if (pthread_create(&l->thread, NULL, ledger_main, l)) {
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->unclosed_mu);
    free(l);
    return PB_EIO;
  }
  *out = l;
  return 0;
}

void pb_ledger_free(pb_ledger *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
  pthread_join(l->thread, NULL);
  free(l->beat_ids);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->cv);
  pthread_mutex_destroy(&l->unclosed_mu);
  free(l);
}

static pb_code ledger_open(pb_ledger *l, int64_t account_id, const char *kind,
                           int64_t start_wall_ms, int priced, int64_t *row_id,
                           pb_admit_verdict *v) {
  memset(v, 0, sizeof(*v));
  *row_id = 0;
  if (!kind) return PB_CODE_NONE;
  int64_t id = 0;
  int rc = priced ? pb_usage_begin(l->store, account_id, kind, start_wall_ms, &id)
                  : pb_usage_begin_unpriced(l->store, account_id, kind, start_wall_ms, &id);
  if (!rc) {
    *row_id = id;
    return PB_CODE_NONE;
  }
  /* A metered account below one billable second: refused, not a fault. */
  if (rc == PB_ENOCREDIT) {
    v->code = PB_CODE_INSUFFICIENT_CREDITS;
    v->metric = "credits";
    snprintf(v->message, sizeof(v->message),
             "the account's credits cannot pay for one second of browser time; add credits");
    return v->code;
  }
  PB_ERR("usage: could not open a ledger row: %s", pb_strerror(rc));
  /* Billable work is never done unmetered. */
  if (rc == PB_ENOSPACE) {
    v->code = PB_CODE_STORAGE_FULL;
    v->metric = "storage_full";
    snprintf(v->message, sizeof(v->message), "the service's disk is full; retry later");
  } else {
    v->code = PB_CODE_SERVICE_UNAVAILABLE;
    snprintf(v->message, sizeof(v->message), "the usage ledger cannot be written; retry later");
  }
  return v->code;
}

pb_code pb_ledger_open(pb_ledger *l, int64_t account_id, const char *kind, int64_t start_wall_ms,
                       int64_t *row_id, pb_admit_verdict *v) {
  return ledger_open(l, account_id, kind, start_wall_ms, 1, row_id, v);
}

pb_code pb_ledger_open_in_session(pb_ledger *l, int64_t account_id, const char *kind,
                                  int64_t start_wall_ms, int64_t *row_id, pb_admit_verdict *v) {
  return ledger_open(l, account_id, kind, start_wall_ms, 0, row_id, v);
}

void pb_ledger_close(pb_ledger *l, int64_t row_id, int64_t end_wall_ms, int status) {
  if (!row_id) return;
  int rc = pb_usage_end(l->store, row_id, end_wall_ms, status);
  if (!rc) return;
  PB_ERR("usage: could not close ledger row %lld: %s", (long long)row_id, pb_strerror(rc));
  if (rc == PB_EEXIST || rc == PB_ENOTFOUND) return;
  pthread_mutex_lock(&l->unclosed_mu);
  if (l->nunclosed < UNCLOSED_MAX)
    l->unclosed[l->nunclosed++] = (struct unclosed){row_id, end_wall_ms, status};
  pthread_mutex_unlock(&l->unclosed_mu);
}

void pb_ledger_beat(pb_ledger *l, int64_t *ids, size_t n) {
  pthread_mutex_lock(&l->mu);
  free(l->beat_ids);
  l->beat_ids = ids;
  l->nbeat = n;
  l->beat_ready = 1;
  pthread_cond_signal(&l->cv);
  pthread_mutex_unlock(&l->mu);
}
