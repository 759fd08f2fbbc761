#include "ops/jobs.h"

#include "common/pb.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct item {
  int64_t key;
  pb_job_fn fn;
  pb_job_fn after;
  void *arg;
  struct item *next;
} item;

struct pb_jobs {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  item *head, *tail;
  int queued, running, idle;
  int nthreads, queue_max;
  int stopping;
  pthread_t *threads;
  int64_t *running_keys; /* keys of the jobs running, one slot per thread */
  unsigned char *slot_used;
};

static int running_with_key(pb_jobs *j, int64_t key) {
  int n = 0;
  for (int i = 0; i < j->nthreads; i++) n += j->slot_used[i] && j->running_keys[i] == key;
  return n;
}

/* Fair share: the next job is the oldest of the key (account) with the
 * fewest jobs running, so a key that floods the queue delays another by at
 * most one job, not by its whole backlog. Unlinks and returns it. */
static item *take_next(pb_jobs *j) {
  item *best = NULL, *best_prev = NULL, *prev = NULL;
  int best_running = 0;
  for (item *it = j->head; it; prev = it, it = it->next) {
    int r = running_with_key(j, it->key);
    if (!best || r < best_running) {
      best = it;
      best_prev = prev;
      best_running = r;
      if (r == 0) break;
    }
  }
  if (best_prev)
    best_prev->next = best->next;
  else
    j->head = best->next;
  if (j->tail == best) j->tail = best_prev;
  return best;
}

static void *worker(void *arg) {
  pb_jobs *j = arg;
  pthread_mutex_lock(&j->mu);
  for (;;) {
    while (!j->head && !j->stopping) {
      j->idle++;
      pthread_cond_wait(&j->cv, &j->mu);
      j->idle--;
    }
    if (!j->head) break;
    item *it = take_next(j);
    j->queued--;
    j->running++;
    int slot = 0;
    while (slot < j->nthreads - 1 && j->slot_used[slot]) slot++;
    j->slot_used[slot] = 1;
    j->running_keys[slot] = it->key;
    pthread_mutex_unlock(&j->mu);
    it->fn(it->arg);
    pthread_mutex_lock(&j->mu);
    j->running--;
    j->slot_used[slot] = 0;
    if (it->after) {
      pthread_mutex_unlock(&j->mu);
      it->after(it->arg);
      pthread_mutex_lock(&j->mu);
    }
    free(it);
  }
  pthread_mutex_unlock(&j->mu);
  return NULL;
}

int pb_jobs_start(int threads, int queue_max, pb_jobs **out) {
  *out = NULL;
  pb_jobs *j = calloc(1, sizeof(*j));
  if (!j) return PB_ENOMEM;
  j->threads = calloc((size_t)threads, sizeof(pthread_t));
  j->running_keys = calloc((size_t)threads, sizeof(int64_t));
  j->slot_used = calloc((size_t)threads, 1);
  if (!j->threads || !j->running_keys || !j->slot_used) {
    free(j->threads);
    free(j->running_keys);
    free(j->slot_used);
    free(j);
    return PB_ENOMEM;
  }
  j->queue_max = queue_max < 0 ? 0 : queue_max;
  pthread_mutex_init(&j->mu, NULL);
  pthread_cond_init(&j->cv, NULL);
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&j->threads[i], NULL, worker, j)) break;
    j->nthreads++;
  }
  if (!j->nthreads) {
    free(j->threads);
    free(j->running_keys);
    free(j->slot_used);
    free(j);
    return PB_EIO;
  }
  *out = j;
  return 0;
}

int pb_jobs_submit(pb_jobs *j, pb_job_fn fn, void *arg) {
  return pb_jobs_submit2(j, fn, NULL, arg);
}

int pb_jobs_submit2(pb_jobs *j, pb_job_fn fn, pb_job_fn after, void *arg) {
  return pb_jobs_submit_keyed(j, 0, fn, after, arg);
}

int pb_jobs_submit_keyed(pb_jobs *j, int64_t key, pb_job_fn fn, pb_job_fn after, void *arg) {
  item *it = malloc(sizeof(*it));
  if (!it) return PB_ENOMEM;
  it->key = key;
  it->fn = fn;
  it->after = after;
  it->arg = arg;
  it->next = NULL;
  pthread_mutex_lock(&j->mu);
  if (j->stopping) {
    pthread_mutex_unlock(&j->mu);
    free(it);
    return PB_ESHUTDOWN;
  }
  /* Threads take work at once; the queue holds what exceeds them. */
  if (j->running + j->queued >= j->nthreads + j->queue_max) {
    pthread_mutex_unlock(&j->mu);
    free(it);
    return PB_EBUSY;
  }
  if (j->tail)
    j->tail->next = it;
  else
    j->head = it;
  j->tail = it;
  j->queued++;
  pthread_cond_signal(&j->cv);
  pthread_mutex_unlock(&j->mu);
  return 0;
}

void pb_jobs_counts(pb_jobs *j, int *running, int *queued) {
  pthread_mutex_lock(&j->mu);
  *running = j->running;
  *queued = j->queued;
  pthread_mutex_unlock(&j->mu);
}

void pb_jobs_stop(pb_jobs *j) {
  if (!j) return;
  pthread_mutex_lock(&j->mu);
  j->stopping = 1;
  pthread_cond_broadcast(&j->cv);
  pthread_mutex_unlock(&j->mu);
  for (int i = 0; i < j->nthreads; i++) pthread_join(j->threads[i], NULL);
  pthread_cond_destroy(&j->cv);
  pthread_mutex_destroy(&j->mu);
  free(j->threads);
  free(j->running_keys);
  free(j->slot_used);
  free(j);
}
