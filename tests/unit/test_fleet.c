/* core/fleet: account limits in the shared store. On SQLite (a file under a
 * temp dir) by default; on PostgreSQL when PB_TEST_PG_URL names a fresh
 * throwaway database (the _pg ctest variant). The races use two
 * connections, as two nodes would. */
#include "common/pb.h"
#include "core/credits.h"
#include "core/db.h"
#include "core/fleet.h"
#include "core/store.h"
#include "pgtest.h"
#include "test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char root[64];
static char spec[4096];
static int64_t acct_a, acct_b;

/* The schema (the store's migrations) and two accounts. */
static void setup(void) {
  snprintf(root, sizeof(root), "/tmp/pb_fleet_XXXXXX");
  ASSERT(mkdtemp(root));
  pb_store *st = NULL;
  /* A fresh PostgreSQL database in the _pg run, else SQLite under root. */
  ASSERT_EQ(pb_store_open_spec(pb_test_db_spec(NULL), root, &st), 0);
  snprintf(spec, sizeof(spec), "%s", pb_store_db_spec(st));
  char name[64];
  snprintf(name, sizeof(name), "fleet-%d", (int)getpid());
  ASSERT_EQ(pb_account_create(st, name, &acct_a), 0);
  snprintf(name, sizeof(name), "fleet2-%d", (int)getpid());
  ASSERT_EQ(pb_account_create(st, name, &acct_b), 0);
  pb_store_close(st);
}

static pb_db *conn(void) {
  pb_db *db = NULL;
  ASSERT_EQ(pb_db_open(spec, &db), 0);
  return db;
}

/* Refill math: integers, exact to the ms, per second and per minute. */
static void test_bucket(void) {
  pb_db *db = conn();
  int64_t wait = -1, t0 = 1700000000000;
  /* 2 per second, burst 2: a fresh bucket is full. */
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0, &wait), 1);
  ASSERT_EQ(wait, 0);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0, &wait), 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0, &wait), 0);
  ASSERT_EQ(wait, 500);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0 + 499, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0 + 500, &wait), 1);
  /* A node whose clock is behind refills nothing and moves nothing back. */
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0 + 100, &wait), 0);
  ASSERT_EQ(wait, 900); /* the next token is at t0 + 1000, on its clock too */
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t0 + 1000, &wait), 1);
  /* Idle for long: full (burst), not more. */
  int64_t t1 = t0 + 3600000;
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t1, &wait), 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t1, &wait), 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 2 * 60000, 2, t1, &wait), 0);
  /* 1 per minute: the next one exactly 60 s later. */
  ASSERT_EQ(pb_fleet_take(db, acct_a, "acquisitions", 1000, 1, t0, &wait), 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "acquisitions", 1000, 1, t0 + 59999, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "acquisitions", 1000, 1, t0 + 60000, &wait), 1);
  /* 7 per minute, burst 7: 7 at once, the 8th 8572 ms later (60000 / 7). */
  for (int i = 0; i < 7; i++)
    ASSERT_EQ(pb_fleet_take(db, acct_b, "acquisitions", 7000, 7, t0, &wait), 1);
  ASSERT_EQ(pb_fleet_take(db, acct_b, "acquisitions", 7000, 7, t0, &wait), 0);
  ASSERT_EQ(wait, 8572);
  ASSERT_EQ(pb_fleet_take(db, acct_b, "acquisitions", 7000, 7, t0 + 8572, &wait), 1);
  /* Buckets are per account and per name. */
  ASSERT_EQ(pb_fleet_take(db, acct_b, "actions", 2 * 60000, 2, t0, &wait), 1);
  /* Bad arguments. */
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 0, 2, t0, &wait), PB_EINVAL);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "actions", 60000, 0, t0, &wait), PB_EINVAL);
  ASSERT_EQ(pb_fleet_take(db, acct_a, "", 60000, 1, t0, &wait), PB_EINVAL);
  pb_db_close(db);
}

/* Slots: a cap, release, and a lost node's slots freed (only its own). */
static void test_slots(void) {
  pb_db *db = conn();
  int64_t a = 0, b = 0, c = 0, n = 0, freed = 0;
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "aaaa", 1, &a), 0);
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "bbbb", 1, &b), 0);
  ASSERT(a > 0 && b > 0 && a != b);
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "aaaa", 1, &c), PB_EBUSY);
  ASSERT_EQ(c, 0);
  /* Another account, another kind: their own counts. */
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_b, "action", 2, "aaaa", 1, &c), 0);
  ASSERT_EQ(pb_fleet_slot_release(db, c), 0);
  ASSERT_EQ(pb_fleet_slot_release(db, b), 0);
  ASSERT_EQ(pb_fleet_slot_release(db, b), 0); /* twice: nothing more */
  ASSERT_EQ(pb_fleet_slot_count(db, acct_a, "action", &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "bbbb", 1, &b), 0);
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "bbbb", 1, &c), PB_EBUSY);
  /* Node aaaa dies: its slot is freed, bbbb's stays. */
  ASSERT_EQ(pb_fleet_node_lost(db, "aaaa", &freed), 0);
  ASSERT_EQ(freed, 1);
  ASSERT_EQ(pb_fleet_slot_count(db, acct_a, "action", &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_fleet_node_lost(db, "aaaa", &freed), 0); /* idempotent */
  ASSERT_EQ(freed, 0);
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 2, "cccc", 1, &c), 0);
  ASSERT_EQ(pb_fleet_node_lost(db, "bbbb", &freed), 0);
  ASSERT_EQ(pb_fleet_node_lost(db, "cccc", &freed), 0);
  ASSERT_EQ(pb_fleet_slot_count(db, acct_a, "action", &n), 0);
  ASSERT_EQ(n, 0);
  pb_db_close(db);
}

/* Two connections (two nodes) racing for a cap: never over it. */
typedef struct {
  int sessions; /* 1: open sessions; 0: take slots */
  int which;
  int got;
  int max;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  pb_db *db = conn();
  for (int i = 0; i < 30; i++) {
    int rc;
    if (r->sessions) {
      char id[40];
      snprintf(id, sizeof(id), "%02d%030d", r->which, i);
      rc = pb_fleet_session_open(db, id, acct_a, 1000 + i, NULL, r->max);
    } else {
      int64_t slot = 0;
      rc = pb_fleet_slot_acquire(db, acct_b, "race", r->max, r->which ? "bbbb" : "aaaa", 1, &slot);
    }
    ASSERT(rc == 0 || rc == PB_EBUSY);
    if (!rc) r->got++;
  }
  pb_db_close(db);
  return NULL;
}

static void run_race(int sessions, int max) {
  racer r[2] = {{sessions, 0, 0, max}, {sessions, 1, 0, max}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&t[i], NULL, race, &r[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  ASSERT_EQ(r[0].got + r[1].got, max);
}

static void test_races(void) {
  run_race(0, 5);
  pb_db *db = conn();
  int64_t n = 0;
  ASSERT_EQ(pb_fleet_slot_count(db, acct_b, "race", &n), 0);
  ASSERT_EQ(n, 5);
  run_race(1, 3);
  ASSERT_EQ(pb_fleet_session_count(db, acct_a, &n), 0);
  ASSERT_EQ(n, 3);
  /* A closed row frees its place; an id taken or an unknown account is no
   * new session. */
  ASSERT_EQ(pb_fleet_session_open(db, "ff000000000000000000000000000001", acct_a, 5, NULL, 3),
            PB_EBUSY);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db,
                          "UPDATE sessions SET end_ms = start_ms + 1 WHERE id IN"
                          " (SELECT id FROM sessions WHERE account_id = ?1 AND end_ms IS NULL"
                          " ORDER BY id LIMIT 1)",
                          &st),
            0);
  pb_db_bind_int64(st, 1, acct_a);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  pb_db_finalize(st);
  ASSERT_EQ(pb_fleet_session_open(db, "ff000000000000000000000000000001", acct_a, 5, NULL, 3), 0);
  ASSERT_EQ(pb_fleet_session_open(db, "ff000000000000000000000000000001", acct_b, 5, NULL, 3),
            PB_EEXIST);
  ASSERT_EQ(pb_fleet_session_open(db, "ff000000000000000000000000000002", 999999, 5, NULL, 3),
            PB_ENOTFOUND);
  ASSERT_EQ(pb_fleet_session_count(db, acct_a, &n), 0);
  ASSERT_EQ(n, 3);
  pb_db_close(db);
}

/* The day's use: closed rows and open ones up to their heartbeat. */
static void test_used_today(void) {
  pb_db *db = conn();
  int64_t day = 1700006400000; /* a UTC midnight */
  ASSERT_EQ(day % PB_ADMIT_DAY_MS, 0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db,
                          "INSERT INTO usage(account_id, kind, start_ms, end_ms, ms,"
                          " last_heartbeat_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                          &st),
            0);
  struct {
    int64_t start, end, ms, beat; /* end < 0: open; beat < 0: none */
  } rows[] = {
      {day - 5000, day - 1000, 4000, -1},                        /* yesterday: not counted */
      {day + 1000, day + 3000, 2000, -1},                        /* closed: 2000 */
      {day + 5000, -1, 0, day + 12000},                          /* open, beat 7 s in: 7000 */
      {day + 6000, -1, 0, -1},                                   /* open, never beat: 0 */
      {day + PB_ADMIT_DAY_MS, day + PB_ADMIT_DAY_MS + 9, 9, -1}, /* tomorrow */
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    pb_db_reset(st);
    pb_db_bind_int64(st, 1, acct_b);
    pb_db_bind_text(st, 2, "session", -1);
    pb_db_bind_int64(st, 3, rows[i].start);
    if (rows[i].end < 0) {
      pb_db_bind_null(st, 4);
      pb_db_bind_null(st, 5);
    } else {
      pb_db_bind_int64(st, 4, rows[i].end);
      pb_db_bind_int64(st, 5, rows[i].ms);
    }
    if (rows[i].beat < 0)
      pb_db_bind_null(st, 6);
    else
      pb_db_bind_int64(st, 6, rows[i].beat);
    ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  }
  pb_db_finalize(st);
  int64_t ms = -1;
  ASSERT_EQ(pb_fleet_used_today(db, acct_b, day, &ms), 0);
  ASSERT_EQ(ms, 9000);
  ASSERT_EQ(pb_fleet_used_today(db, acct_a, day, &ms), 0);
  ASSERT_EQ(ms, 0);
  pb_db_close(db);
}

/* The daemon's handle: verdicts as the local checks word them. */
static void test_verdicts(void) {
  pb_fleet *f = NULL;
  ASSERT_EQ(pb_fleet_open(spec, "abcd", &f), 0);
  pb_limits l;
  pb_limits_default(&l);
  l.concurrent_quick_actions = 1;
  l.quick_actions_per_second = 1000; /* not what is tested first */
  pb_admit_verdict v;
  int64_t s1 = 0, s2 = 0;
  ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 1, 1, &s1, &v), PB_CODE_NONE);
  ASSERT(s1 > 0 && v.counted);
  ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 1, 1, &s2, &v), PB_CODE_LIMIT_EXCEEDED);
  ASSERT_EQ(s2, 0);
  ASSERT_EQ(v.retry_after_s, 1);
  ASSERT_STR_EQ(v.message, "the account already runs 1 quick actions (its maximum)");
  /* RELEASE-like (not counted) still passes; then the slot comes back. */
  ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 0, 0, &s2, &v), PB_CODE_NONE);
  ASSERT_EQ(s2, 0);
  pb_fleet_action_done(f, s1);
  ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 1, 1, &s1, &v), PB_CODE_NONE);
  pb_fleet_action_done(f, s1);
  /* The rate: a second account with 1 per second. */
  l.quick_actions_per_second = 1;
  l.concurrent_quick_actions = 5;
  ASSERT_EQ(pb_fleet_admit_action(f, acct_b, &l, 1, 0, &s1, &v), PB_CODE_NONE);
  ASSERT_EQ(pb_fleet_admit_action(f, acct_b, &l, 1, 0, &s2, &v), PB_CODE_RATE_LIMITED);
  ASSERT_EQ(v.retry_after_s, 1);
  ASSERT_CONTAINS(v.message, "at most 1 quick actions per second; next in ");
  ASSERT_STR_EQ(v.metric, "rate_limited");
  pb_fleet_action_done(f, s1);
  /* A refused action holds nothing. */
  pb_db *db = conn();
  int64_t n = -1;
  ASSERT_EQ(pb_fleet_slot_count(db, acct_b, "action", &n), 0);
  ASSERT_EQ(n, 0);
  /* Sessions: acct_a has 3 open rows (test_races). */
  l.max_concurrent_sessions = 3;
  ASSERT_EQ(pb_fleet_admit_acquire(f, acct_a, &l, &v), PB_CODE_LIMIT_EXCEEDED);
  ASSERT_EQ(v.retry_after_s, 5);
  ASSERT_STR_EQ(v.message, "the account already has 3 live sessions (its maximum)");
  ASSERT_EQ(pb_fleet_open_session(f, "ab000000000000000000000000000009", acct_a, 7, 3), PB_EBUSY);
  /* The quota: acct_b used 9000 ms of that day, not of today; a quota of 1 ms
   * with a row of today is over. */
  l.max_concurrent_sessions = 10;
  l.browser_ms_per_day = 1;
  l.acquisitions_per_minute = 1;
  ASSERT_EQ(pb_fleet_admit_acquire(f, acct_b, &l, &v), PB_CODE_NONE);
  ASSERT_EQ(pb_fleet_admit_acquire(f, acct_b, &l, &v), PB_CODE_RATE_LIMITED);
  ASSERT_CONTAINS(v.message, "at most 1 acquisitions per minute; next in ");
  pb_db_stmt *st = NULL;
  ASSERT_EQ(
      pb_db_prepare(db,
                    "INSERT INTO usage(account_id, kind, start_ms, end_ms, ms)"
                    " VALUES (?1, 'screenshot', CAST(?2 AS BIGINT), CAST(?2 AS BIGINT) + 5, 5)",
                    &st),
      0);
  pb_db_bind_int64(st, 1, acct_b);
  pb_db_bind_int64(st, 2, pb_wall_ms() - 10);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  pb_db_finalize(st);
  ASSERT_EQ(pb_fleet_admit_action(f, acct_b, &l, 1, 1, &s1, &v), PB_CODE_LIMIT_EXCEEDED);
  ASSERT_STR_EQ(v.message, "the account used its 1 browser ms for today");
  ASSERT_STR_EQ(v.metric, "quota");
  ASSERT(v.retry_after_s >= 1 && v.retry_after_s <= 86400);
  /* Another node's units go when it is declared lost (the cluster's hook). */
  int64_t other = 0;
  ASSERT_EQ(pb_fleet_slot_acquire(db, acct_a, "action", 5, "dead", 1, &other), 0);
  pb_fleet_node_lost_hook(f, "dead");
  ASSERT_EQ(pb_fleet_slot_count(db, acct_a, "action", &n), 0);
  ASSERT_EQ(n, 0);
  /* The node's units go at a clean stop. */
  l.browser_ms_per_day = 0;
  ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 1, 1, &s1, &v), PB_CODE_NONE);
  pb_fleet_free_node(f, NULL);
  ASSERT_EQ(pb_fleet_slot_count(db, acct_a, "action", &n), 0);
  ASSERT_EQ(n, 0);
  pb_db_close(db);
  pb_fleet_close(f);
}

/* Credits across nodes: two stores (two nodes' connections) heartbeat rows
 * of one metered account at once; each row is debited exactly what its time
 * costs, once, and the balance is the credit less the sum. */
typedef struct {
  pb_store *st;
  int64_t row, t0;
  int beats_late; /* beats refused after the end */
} beater;

static void *beat(void *arg) {
  beater *b = arg;
  for (int i = 1; i <= 60; i++) ASSERT_EQ(pb_usage_heartbeat(b->st, b->row, b->t0 + i * 100), 0);
  ASSERT_EQ(pb_usage_end(b->st, b->row, b->t0 + 6500, 200), 0);
  /* A late beat or a second end (a retry, another node) debits nothing. */
  if (pb_usage_heartbeat(b->st, b->row, b->t0 + 9000) == PB_EEXIST) b->beats_late++;
  if (pb_usage_end(b->st, b->row, b->t0 + 9000, 200) == PB_EEXIST) b->beats_late++;
  return NULL;
}

static void test_credits_two_nodes(void) {
  pb_store *a = NULL, *b = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, root, &a), 0);
  ASSERT_EQ(pb_store_open_spec(spec, root, &b), 0);
  pb_store_set_credit_terms(a, 1000, 0); /* 1000 micro per second */
  pb_store_set_credit_terms(b, 1000, 0);
  char name[64];
  snprintf(name, sizeof(name), "metered-%d", (int)getpid());
  int64_t id = 0, bal = 0;
  ASSERT_EQ(pb_account_create(a, name, &id), 0);
  ASSERT_EQ(pb_store_account_credit(a, id, 1000000, "test", pb_wall_ms(), &bal), 0);
  int64_t t0 = pb_wall_ms();
  beater x = {a, 0, t0, 0}, y = {b, 0, t0, 0};
  ASSERT_EQ(pb_usage_begin(a, id, "session", t0, &x.row), 0);
  ASSERT_EQ(pb_usage_begin(b, id, "session", t0, &y.row), 0);
  pthread_t t[2];
  ASSERT_EQ(pthread_create(&t[0], NULL, beat, &x), 0);
  ASSERT_EQ(pthread_create(&t[1], NULL, beat, &y), 0);
  pthread_join(t[0], NULL);
  pthread_join(t[1], NULL);
  ASSERT_EQ(x.beats_late + y.beats_late, 4);
  /* 6.5 s each, billed per started second: 7 s * 1000 micro. */
  int metered = 0;
  ASSERT_EQ(pb_store_account_balance(b, id, &bal, &metered), 0);
  ASSERT_EQ(metered, 1);
  ASSERT_EQ(bal, 1000000 - 2 * pb_credit_debit(1000, 6500));
  ASSERT_EQ(bal, 1000000 - 14000);
  pb_db *db = conn();
  pb_db_stmt *st = NULL;
  ASSERT_EQ(
      pb_db_prepare(db, "SELECT SUM(debit_micro), COUNT(*) FROM usage WHERE account_id = ?1", &st),
      0);
  pb_db_bind_int64(st, 1, id);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_int64(st, 0), 14000);
  ASSERT_EQ(pb_db_column_int64(st, 1), 2);
  pb_db_finalize(st);
  pb_db_close(db);
  pb_store_close(a);
  pb_store_close(b);
}

/* PB_FLEET_BENCH=N: what the checks add to one quick action on the job
 * thread (admit: the day's use, then slot + bucket in one transaction;
 * done: the slot's release), N times, p50/p90 in microseconds. */
static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

static void bench(long n) {
  pb_fleet *f = NULL;
  ASSERT_EQ(pb_fleet_open(spec, "bnch", &f), 0);
  pb_limits l;
  pb_limits_default(&l);
  l.quick_actions_per_second = 10000;
  l.concurrent_quick_actions = 10;
  l.browser_ms_per_day = 86400000; /* the quota read too */
  int64_t *us = calloc((size_t)n, sizeof(*us));
  ASSERT(us);
  for (long i = 0; i < n; i++) {
    pb_admit_verdict v;
    int64_t slot = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ASSERT_EQ(pb_fleet_admit_action(f, acct_a, &l, 1, 1, &slot, &v), PB_CODE_NONE);
    pb_fleet_action_done(f, slot);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us[i] = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
  }
  qsort(us, (size_t)n, sizeof(*us), cmp_i64);
  printf("fleet bench (%s): %ld quick actions, added per action p50 %lld us, p90 %lld us\n",
         pb_db_spec_is_postgres(spec) ? "postgres" : "sqlite", n, (long long)us[n / 2],
         (long long)us[n * 9 / 10]);
  free(us);
  pb_fleet_close(f);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR;
  setup();
  test_bucket();
  test_slots();
  test_races();
  test_used_today();
  test_verdicts();
  test_credits_two_nodes();
  const char *nb = getenv("PB_FLEET_BENCH");
  if (nb && *nb) {
    char *end = NULL;
    long n = strtol(nb, &end, 10);
    if (*end || n < 1 || n > 1000000) return 2;
    bench(n);
  }
  printf("fleet: %d assertions passed (%s)\n", pb_test_count,
         pb_db_spec_is_postgres(spec) ? "postgres" : "sqlite");
  return 0;
}
