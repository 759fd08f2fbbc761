/* The job queue: bounded admission and fair order between keys (accounts). */
#include "ops/jobs.h"

#include "common/pb.h"
#include "test.h"

#include <pthread.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char order[64];
static int norder;
static int open_gate[8]; /* a blocking job waits until its gate opens */

typedef struct {
  char name;
  int gate; /* -1: does not block */
} job;

static void run(void *arg) {
  job *j = arg;
  pthread_mutex_lock(&mu);
  order[norder++] = j->name;
  pthread_cond_broadcast(&cv);
  while (j->gate >= 0 && !open_gate[j->gate]) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void wait_started(int n) {
  pthread_mutex_lock(&mu);
  while (norder < n) pthread_cond_wait(&cv, &mu);
  pthread_mutex_unlock(&mu);
}

static void open_it(int g) {
  pthread_mutex_lock(&mu);
  open_gate[g] = 1;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

int main(void) {
  pb_jobs *q = NULL;
  ASSERT_EQ(pb_jobs_start(2, 3, &q), 0);
  /* Account 1 holds both threads and queues two more; account 2 then one. */
  job a0 = {'a', 0}, a1 = {'b', 1}, a2 = {'c', -1}, a3 = {'d', -1}, b1 = {'X', -1}, over = {'!', -1};
  /* One at a time: two idle threads may take two jobs in either order. */
  ASSERT_EQ(pb_jobs_submit_keyed(q, 1, run, NULL, &a0), 0);
  wait_started(1);
  ASSERT_EQ(pb_jobs_submit_keyed(q, 1, run, NULL, &a1), 0);
  wait_started(2);
  ASSERT_EQ(pb_jobs_submit_keyed(q, 1, run, NULL, &a2), 0);
  ASSERT_EQ(pb_jobs_submit_keyed(q, 1, run, NULL, &a3), 0);
  ASSERT_EQ(pb_jobs_submit_keyed(q, 2, run, NULL, &b1), 0);
  /* 2 running + 3 queued: full. */
  ASSERT_EQ(pb_jobs_submit_keyed(q, 3, run, NULL, &over), PB_EBUSY);
  int running = 0, queued = 0;
  pb_jobs_counts(q, &running, &queued);
  ASSERT_EQ(running, 2);
  ASSERT_EQ(queued, 3);
  /* One thread frees: account 2, with nothing running, goes before
   * account 1's older backlog; account 1's jobs keep their own order. */
  open_it(0);
  wait_started(5);
  pthread_mutex_lock(&mu);
  order[norder] = '\0';
  ASSERT_STR_EQ(order, "abXcd");
  pthread_mutex_unlock(&mu);
  open_it(1);
  pb_jobs_stop(q);
  printf("test_jobs: %d assertions passed\n", pb_test_count);
  return 0;
}
