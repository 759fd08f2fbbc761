/* Admission verdicts without a server: each limit refuses with the code,
 * Retry-After, message and metric label clients have always been answered
 * with; a refusal takes nothing; buckets refill over `now`; concurrent
 * actions are counted and given back; and the ledger's bookkeeping on a
 * real store. */
#include "core/admit.h"

#include "common/pb.h"
#include "core/ledger.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define T0 INT64_C(1000000) /* an arbitrary monotonic reading */
#define DAY INT64_C(86400000)

static pb_limits limits(void) {
  pb_limits l;
  pb_limits_default(&l);
  return l;
}

static pb_admit_req req_of(pb_admit_class cls) {
  pb_admit_req q;
  memset(&q, 0, sizeof(q));
  q.cls = cls;
  q.used_today_ms = -1;
  q.disk_free = -1;
  return q;
}

static void assert_admitted(pb_admit_account *a, const pb_limits *l, const pb_admit_req *q,
                            int64_t now) {
  pb_admit_verdict v;
  ASSERT_EQ(pb_admit_decide(a, l, q, now, &v), PB_CODE_NONE);
  ASSERT_EQ(v.code, PB_CODE_NONE);
  ASSERT_EQ(v.retry_after_s, 0);
  ASSERT(v.metric == NULL);
}

static void assert_refused(pb_admit_account *a, const pb_limits *l, const pb_admit_req *q,
                           int64_t now, pb_code code, int retry, const char *metric,
                           const char *message) {
  pb_admit_verdict v;
  pb_admit_account before = *a;
  ASSERT_EQ(pb_admit_decide(a, l, q, now, &v), code);
  ASSERT_EQ(v.code, code);
  ASSERT_EQ(v.retry_after_s, retry);
  if (metric)
    ASSERT_STR_EQ(v.metric, metric);
  else
    ASSERT(v.metric == NULL);
  ASSERT_STR_EQ(v.message, message);
  ASSERT_EQ(v.counted, 0);
  /* A refusal takes nothing. */
  ASSERT(!memcmp(&before, a, sizeof(before)));
}

static void test_accounts(void) {
  pb_admit_accounts t = {0};
  pb_admit_account *a = pb_admit_account_of(&t, 7);
  ASSERT(a != NULL);
  ASSERT_EQ(a->account_id, 7);
  ASSERT_EQ(a->actions_running, 0);
  a->actions_running = 2;
  for (int64_t id = 100; id < 140; id++) ASSERT(pb_admit_account_of(&t, id) != NULL);
  a = pb_admit_account_of(&t, 7); /* the same entry, after the table grew */
  ASSERT_EQ(a->actions_running, 2);
  ASSERT_EQ(t.n, 41);
  pb_admit_accounts_free(&t);
  pb_admit_accounts_free(&t);
  pb_admit_accounts_free(NULL);
}

/* Concurrency: counted on admission, refused at the cap, given back. */
static void test_concurrency(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.concurrent_quick_actions = 2;
  pb_admit_req q = req_of(PB_ADMIT_QUICK);
  pb_admit_verdict v;
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(pb_admit_decide(&a, &l, &q, T0, &v), PB_CODE_NONE);
    ASSERT_EQ(v.counted, 1);
  }
  ASSERT_EQ(a.actions_running, 2);
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 1, "concurrency",
                 "the account already runs 2 quick actions (its maximum)");
  pb_admit_give_back(&a);
  ASSERT_EQ(a.actions_running, 1);
  assert_admitted(&a, &l, &q, T0);
  ASSERT_EQ(a.actions_running, 2);
  /* Giving back never goes below zero. */
  a.actions_running = 0;
  pb_admit_give_back(&a);
  ASSERT_EQ(a.actions_running, 0);
  pb_admit_give_back(NULL);
  /* 0 allowed: no quick action at all. */
  l.concurrent_quick_actions = 0;
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 1, "concurrency",
                 "the account already runs 0 quick actions (its maximum)");
}

/* The quick-action rate: a burst of the per-second limit, then one every
 * 1000/limit ms; Retry-After is the wait rounded up to whole seconds. */
static void test_action_rate(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.quick_actions_per_second = 4;
  l.concurrent_quick_actions = 1000;
  pb_admit_req q = req_of(PB_ADMIT_QUICK);
  for (int i = 0; i < 4; i++) assert_admitted(&a, &l, &q, T0);
  assert_refused(&a, &l, &q, T0, PB_CODE_RATE_LIMITED, 1, "rate_limited",
                 "at most 4 quick actions per second; next in 250 ms");
  assert_refused(&a, &l, &q, T0 + 249, PB_CODE_RATE_LIMITED, 1, "rate_limited",
                 "at most 4 quick actions per second; next in 1 ms");
  assert_admitted(&a, &l, &q, T0 + 250);
  /* Refilled over now, up to the burst only. */
  for (int i = 0; i < 4; i++) assert_admitted(&a, &l, &q, T0 + 60000);
  assert_refused(&a, &l, &q, T0 + 60000, PB_CODE_RATE_LIMITED, 1, "rate_limited",
                 "at most 4 quick actions per second; next in 250 ms");
  /* A rate refusal gives the concurrent action it did not take. */
  ASSERT_EQ(a.actions_running, 9);
}

/* LIGHT (a trace read) holds a concurrent action; RELEASE does not and is
 * taken at the cap; both share the quick-action rate and skip the quota. */
static void test_light(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.concurrent_quick_actions = 1;
  l.quick_actions_per_second = 3;
  l.browser_ms_per_day = 10;
  pb_admit_req light = req_of(PB_ADMIT_LIGHT), rel = req_of(PB_ADMIT_RELEASE);
  light.used_today_ms = rel.used_today_ms = 1000; /* over the quota */
  light.disk_free = rel.disk_free = 0;            /* and a full disk */
  pb_admit_verdict v;
  ASSERT_EQ(pb_admit_decide(&a, &l, &light, T0, &v), PB_CODE_NONE);
  ASSERT_EQ(v.counted, 1);
  assert_refused(&a, &l, &light, T0, PB_CODE_LIMIT_EXCEEDED, 1, "concurrency",
                 "the account already runs 1 quick actions (its maximum)");
  ASSERT_EQ(pb_admit_decide(&a, &l, &rel, T0, &v), PB_CODE_NONE);
  ASSERT_EQ(v.counted, 0);
  ASSERT_EQ(a.actions_running, 1);
  ASSERT_EQ(pb_admit_decide(&a, &l, &rel, T0, &v), PB_CODE_NONE);
  assert_refused(&a, &l, &rel, T0, PB_CODE_RATE_LIMITED, 1, "rate_limited",
                 "at most 3 quick actions per second; next in 334 ms");
  /* NONE: always admitted, nothing taken. */
  pb_admit_req none = req_of(PB_ADMIT_NONE);
  pb_admit_account before = a;
  assert_admitted(&a, &l, &none, T0);
  ASSERT(!memcmp(&before, &a, sizeof(a)));
}

/* Acquisitions: keep_alive over the account's max, the session count, then
 * the per-minute bucket (a burst of the limit, then one every 60000/limit). */
static void test_acquire(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.acquisitions_per_minute = 2;
  l.max_concurrent_sessions = 3;
  l.keep_alive_max_ms = 600000;
  pb_admit_req q = req_of(PB_ADMIT_ACQUIRE);
  q.has_keep_alive = 1;
  q.keep_alive_ms = 600001;
  assert_refused(&a, &l, &q, T0, PB_CODE_INVALID_REQUEST, 0, NULL,
                 "keep_alive: at most 600000 ms for this account");
  q.keep_alive_ms = 600000.5;
  assert_refused(&a, &l, &q, T0, PB_CODE_INVALID_REQUEST, 0, NULL,
                 "keep_alive: at most 600000 ms for this account");
  q.keep_alive_ms = 600000;
  q.sessions = 3;
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 5, "sessions",
                 "the account already has 3 live sessions (its maximum)");
  q.sessions = 2;
  q.disk_free = 0; /* not looked at for an acquisition */
  pb_admit_verdict v;
  ASSERT_EQ(pb_admit_decide(&a, &l, &q, T0, &v), PB_CODE_NONE);
  ASSERT_EQ(v.counted, 0);
  q.has_keep_alive = 0;
  q.keep_alive_ms = 1e12; /* not asked: ignored */
  assert_admitted(&a, &l, &q, T0);
  assert_refused(&a, &l, &q, T0, PB_CODE_RATE_LIMITED, 30, "rate_limited",
                 "at most 2 acquisitions per minute; next in 30000 ms");
  assert_refused(&a, &l, &q, T0 + 29001, PB_CODE_RATE_LIMITED, 1, "rate_limited",
                 "at most 2 acquisitions per minute; next in 999 ms");
  assert_admitted(&a, &l, &q, T0 + 30000);
  ASSERT_EQ(a.actions_running, 0);
  /* Acquisitions and quick actions are separate buckets. */
  pb_admit_req quick = req_of(PB_ADMIT_QUICK);
  assert_admitted(&a, &l, &quick, T0 + 30000);
  /* 0 sessions allowed: every acquisition is over the max. */
  l.max_concurrent_sessions = 0;
  q.sessions = 0;
  assert_refused(&a, &l, &q, T0 + 90000, PB_CODE_LIMIT_EXCEEDED, 5, "sessions",
                 "the account already has 0 live sessions (its maximum)");
}

static void test_acquisitions_left(void) {
  pb_limits l = limits();
  l.acquisitions_per_minute = 2;
  int64_t avail = -1, wait = -1;
  pb_admit_acquisitions_left(NULL, &l, T0, &avail, &wait);
  ASSERT_EQ(avail, 2);
  ASSERT_EQ(wait, 0);
  pb_admit_account a = {.account_id = 1};
  pb_admit_req q = req_of(PB_ADMIT_ACQUIRE);
  assert_admitted(&a, &l, &q, T0);
  assert_admitted(&a, &l, &q, T0);
  pb_admit_acquisitions_left(&a, &l, T0 + 10000, &avail, &wait);
  ASSERT_EQ(avail, 0);
  ASSERT_EQ(wait, 20000);
  pb_admit_acquisitions_left(&a, &l, T0 + 30000, &avail, &wait);
  ASSERT_EQ(avail, 1);
  ASSERT_EQ(wait, 0);
}

/* The daily quota, per UTC day: Retry-After runs to the next midnight. */
static void test_quota(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.browser_ms_per_day = 1000;
  int64_t day = 20000 * DAY;
  ASSERT_EQ(pb_admit_day_start(day), day);
  ASSERT_EQ(pb_admit_day_start(day + DAY - 1), day);
  ASSERT_EQ(pb_admit_day_start(day + DAY), day + DAY);
  pb_admit_req q = req_of(PB_ADMIT_QUICK);
  q.wall_ms = day + 23 * 3600000LL + 500; /* 3599.5 s before midnight */
  q.used_today_ms = 1000;
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 3600, "quota",
                 "the account used its 1000 browser ms for today");
  q.wall_ms = day + DAY - 1; /* 1 ms before midnight: still a whole second */
  q.used_today_ms = 5000;
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 1, "quota",
                 "the account used its 1000 browser ms for today");
  q.wall_ms = day; /* at midnight: the whole day */
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 86400, "quota",
                 "the account used its 1000 browser ms for today");
  pb_admit_req acq = q;
  acq.cls = PB_ADMIT_ACQUIRE;
  assert_refused(&a, &l, &acq, T0, PB_CODE_LIMIT_EXCEEDED, 86400, "quota",
                 "the account used its 1000 browser ms for today");
  /* The quota comes first: before keep_alive, the disk, the session. */
  acq.has_keep_alive = 1;
  acq.keep_alive_ms = 1e12;
  assert_refused(&a, &l, &acq, T0, PB_CODE_LIMIT_EXCEEDED, 86400, "quota",
                 "the account used its 1000 browser ms for today");
  q.disk_free = 0;
  q.session_id = "s1";
  assert_refused(&a, &l, &q, T0, PB_CODE_LIMIT_EXCEEDED, 86400, "quota",
                 "the account used its 1000 browser ms for today");
  q.disk_free = -1;
  q.session_id = NULL;
  /* Under it, unknown, or no quota: admitted. */
  q.used_today_ms = 999;
  assert_admitted(&a, &l, &q, T0);
  q.used_today_ms = -1;
  assert_admitted(&a, &l, &q, T0);
  q.used_today_ms = 1000000;
  l.browser_ms_per_day = 0;
  assert_admitted(&a, &l, &q, T0);
}

/* The disk reserve: 1 MiB for any billable work, 8 MiB for a trace. */
static void test_disk(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  pb_admit_req q = req_of(PB_ADMIT_QUICK);
  q.disk_free = 512 * 1024;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (512 KiB free); retry later");
  q.trace = 1;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (512 KiB free): no room for a trace; retry later");
  q.disk_free = (8 << 20) - 1;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (8191 KiB free): no room for a trace; retry later");
  q.disk_free = 8 << 20;
  assert_admitted(&a, &l, &q, T0);
  q.trace = 0;
  q.disk_free = 1 << 20;
  assert_admitted(&a, &l, &q, T0);
  q.disk_free = (1 << 20) - 1;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (1023 KiB free); retry later");
  q.disk_free = 0;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (0 KiB free); retry later");
  /* Not known (or not billable): not checked. */
  q.disk_free = -1;
  q.trace = 1;
  assert_admitted(&a, &l, &q, T0);
}

/* A session named by a quick action must be the account's and live; it is
 * checked after the disk and before concurrency. */
static void test_session(void) {
  pb_admit_account a = {.account_id = 1};
  pb_limits l = limits();
  l.concurrent_quick_actions = 1;
  pb_admit_req q = req_of(PB_ADMIT_QUICK);
  q.session_id = "abc";
  q.session_found = 0;
  assert_refused(&a, &l, &q, T0, PB_CODE_SESSION_NOT_FOUND, 0, NULL,
                 "no live session abc for this account");
  q.disk_free = 0;
  assert_refused(&a, &l, &q, T0, PB_CODE_STORAGE_FULL, 30, "storage_full",
                 "the service's disk is full (0 KiB free); retry later");
  q.disk_free = -1;
  q.session_found = 1;
  assert_admitted(&a, &l, &q, T0);
  q.session_found = 0;
  assert_refused(&a, &l, &q, T0, PB_CODE_SESSION_NOT_FOUND, 0, NULL,
                 "no live session abc for this account");
}

/* The ledger on a real store: a row opened and closed once; no row for
 * unbilled work; a row that cannot be opened refuses the work. */
static void test_ledger(void) {
  char dir[] = "/tmp/pb_test_admit_XXXXXX";
  ASSERT(mkdtemp(dir) != NULL);
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open(dir, &st), 0);
  int64_t acct = 0;
  ASSERT_EQ(pb_account_create(st, "acme", &acct), 0);
  pb_ledger *l = NULL;
  ASSERT_EQ(pb_ledger_start(st, &l), 0);
  pb_admit_verdict v;
  int64_t row = -1;
  ASSERT_EQ(pb_ledger_open(l, acct, NULL, 1000, &row, &v), PB_CODE_NONE);
  ASSERT_EQ(row, 0);
  pb_ledger_close(l, 0, 2000, 200); /* no row: nothing */
  ASSERT_EQ(pb_ledger_open(l, acct, "screenshot", 1000, &row, &v), PB_CODE_NONE);
  ASSERT(row > 0);
  int64_t open = -1;
  ASSERT_EQ(pb_usage_open_count(st, &open), 0);
  ASSERT_EQ(open, 1);
  /* Heartbeats run on the ledger's thread. */
  int64_t *ids = malloc(sizeof(*ids));
  ids[0] = row;
  pb_ledger_beat(l, ids, 1);
  pb_ledger_close(l, row, 1250, 200);
  pb_ledger_close(l, row, 9999, 500); /* closed once: the second is ignored */
  int64_t ms = 0, count = 0;
  ASSERT_EQ(pb_usage_sum(st, acct, 0, 100000, &ms, &count), 0);
  ASSERT_EQ(ms, 250);
  ASSERT_EQ(count, 1);
  ASSERT_EQ(pb_usage_open_count(st, &open), 0);
  ASSERT_EQ(open, 0);
  /* An unknown account: the row cannot be written, the work is refused. */
  row = -1;
  ASSERT_EQ(pb_ledger_open(l, acct + 100, "screenshot", 1000, &row, &v),
            PB_CODE_SERVICE_UNAVAILABLE);
  ASSERT_EQ(row, 0);
  ASSERT_EQ(v.code, PB_CODE_SERVICE_UNAVAILABLE);
  ASSERT(v.metric == NULL);
  ASSERT_STR_EQ(v.message, "the usage ledger cannot be written; retry later");
  pb_ledger_beat(l, NULL, 0);
  pb_ledger_free(l);
  pb_ledger_free(NULL);
  pb_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  ASSERT_EQ(system(cmd), 0);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1; /* the ledger's expected failures stay quiet */
  RUN(test_accounts);
  RUN(test_concurrency);
  RUN(test_action_rate);
  RUN(test_light);
  RUN(test_acquire);
  RUN(test_acquisitions_left);
  RUN(test_quota);
  RUN(test_disk);
  RUN(test_session);
  RUN(test_ledger);
  DONE();
}
