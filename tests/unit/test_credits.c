/* Credits: amounts parsed as integers of micro-credits (hostile text
 * refused), the per-started-second debit math, the plan that closes a
 * session at the beat that empties its balance, and the ledger on a real
 * store: debits move with heartbeats and closes in one transaction, a
 * crash and restart lose none and double none, an unmetered account is
 * never debited, one account never spends another's credit. */
#include "common/pb.h"
#include "core/admit.h"
#include "core/credits.h"
#include "core/db.h"
#include "core/ledger.h"
#include "core/store.h"
#include "pgtest.h"
#include "test.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define P PB_PRICE_DEFAULT_MICRO /* 100 micro per second */

static int64_t parse_ok(const char *text, int flags) {
  int64_t m = -12345;
  char err[160] = "x";
  ASSERT_EQ(pb_credit_parse(text, flags, &m, err, sizeof(err)), 0);
  ASSERT_STR_EQ(err, "");
  return m;
}

static void parse_bad(const char *text, int flags, const char *why) {
  int64_t m = 777;
  char err[160] = "";
  ASSERT_EQ(pb_credit_parse(text, flags, &m, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(m, 777); /* untouched */
  ASSERT_CONTAINS(err, why);
}

static void test_parse(void) {
  ASSERT_EQ(parse_ok("5", 0), 5000000);
  ASSERT_EQ(parse_ok("+5.00", 0), 5000000);
  ASSERT_EQ(parse_ok("0.0001", 0), 100);
  ASSERT_EQ(parse_ok("0.000001", 0), 1);
  ASSERT_EQ(parse_ok("007.5", 0), 7500000);
  ASSERT_EQ(parse_ok("-1.50", PB_CREDIT_SIGNED), -1500000);
  ASSERT_EQ(parse_ok("-0", PB_CREDIT_SIGNED), 0);
  ASSERT_EQ(parse_ok("1000000000", 0), PB_CREDIT_MAX_MICRO);
  ASSERT_EQ(parse_ok("-1000000000.000000", PB_CREDIT_SIGNED), -PB_CREDIT_MAX_MICRO);
  parse_bad("-1", 0, "must not be negative");
  parse_bad("-0", 0, "must not be negative");
  parse_bad("1e9", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("NaN", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("nan", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("inf", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("-inf", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("0x10", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("+", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("--1", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("+-1", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad(" 5", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("5 ", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("5,00", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad(".5", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("5.", PB_CREDIT_SIGNED, "digits must follow the point");
  parse_bad("1.2.3", PB_CREDIT_SIGNED, "is not an amount");
  parse_bad("0.0000001", PB_CREDIT_SIGNED, "at most 6 decimals");
  parse_bad("1.0000000", PB_CREDIT_SIGNED, "at most 6 decimals");
  parse_bad("1000000000.000001", PB_CREDIT_SIGNED, "over 1000000000 credits");
  parse_bad("9999999999", PB_CREDIT_SIGNED, "over 1000000000 credits");
  /* Digits that would overflow int64 are refused before any arithmetic. */
  parse_bad("99999999999999999999999", PB_CREDIT_SIGNED, "more than 10 digits");
  parse_bad("18446744073709551617", PB_CREDIT_SIGNED, "more than 10 digits");
  int64_t m;
  ASSERT_EQ(pb_credit_parse(NULL, 0, &m, NULL, 0), PB_EINVAL);
  ASSERT_EQ(pb_credit_parse("1", 0, NULL, NULL, 0), PB_EINVAL);
}

static void test_format(void) {
  char t[PB_CREDIT_TEXT_MAX];
  pb_credit_format(5000000, t);
  ASSERT_STR_EQ(t, "5.00");
  pb_credit_format(4999900, t);
  ASSERT_STR_EQ(t, "4.9999");
  pb_credit_format(-1500000, t);
  ASSERT_STR_EQ(t, "-1.50");
  pb_credit_format(1, t);
  ASSERT_STR_EQ(t, "0.000001");
  pb_credit_format(0, t);
  ASSERT_STR_EQ(t, "0.00");
  pb_credit_format(INT64_MIN, t);
  ASSERT_STR_EQ(t, "-9223372036854.775808");
  /* What format writes, parse reads back. */
  int64_t vals[] = {0, 1, 100, 5000000, -1500000, PB_CREDIT_MAX_MICRO, -PB_CREDIT_MAX_MICRO};
  for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
    pb_credit_format(vals[i], t);
    ASSERT_EQ(parse_ok(t, PB_CREDIT_SIGNED), vals[i]);
  }
}

/* Per started second, integers only, saturating far beyond any real row. */
static void test_debit(void) {
  ASSERT_EQ(pb_credit_billed_seconds(-5), 0);
  ASSERT_EQ(pb_credit_billed_seconds(0), 0);
  ASSERT_EQ(pb_credit_billed_seconds(1), 1);
  ASSERT_EQ(pb_credit_billed_seconds(999), 1);
  ASSERT_EQ(pb_credit_billed_seconds(1000), 1);
  ASSERT_EQ(pb_credit_billed_seconds(1001), 2);
  ASSERT_EQ(pb_credit_debit(P, 0), 0);
  ASSERT_EQ(pb_credit_debit(P, 1), 100);
  ASSERT_EQ(pb_credit_debit(P, 2500), 300);
  ASSERT_EQ(pb_credit_debit(P, 3000), 300);
  ASSERT_EQ(pb_credit_debit(0, 3000), 0);
  ASSERT_EQ(pb_credit_debit(-5, 3000), 0);
  ASSERT_EQ(pb_credit_debit(PB_PRICE_MAX_MICRO, INT64_MAX), PB_CREDIT_MAX_MICRO);
  ASSERT_EQ(pb_credit_debit(INT64_MAX, 1000), PB_CREDIT_MAX_MICRO);
  ASSERT_EQ(pb_credit_add(INT64_MAX, INT64_MAX), PB_CREDIT_MAX_MICRO);
  ASSERT_EQ(pb_credit_add(INT64_MIN, -1), -PB_CREDIT_MAX_MICRO);
  ASSERT_EQ(pb_credit_add(5, -7), -2);
}

/* The beat that empties the balance: a lone session with 3 s of credit is
 * looked at again 0.3 s before its third second ends, and stopped there. */
static void test_plan(void) {
  int64_t next = 0, t0 = 1000000;
  /* Just acquired: nothing billed yet, 3 s of balance. */
  ASSERT_EQ(pb_credit_plan(P, 3 * P, t0, t0, 1, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 2700);
  /* That beat billed 3 s (2.7 s, per started second): nothing left. */
  ASSERT_EQ(pb_credit_plan(P, 0, t0 + 3000, t0 + 2700, 1, 300, 5000, &next), 1);
  /* A beat early in a paid second waits for its end. */
  ASSERT_EQ(pb_credit_plan(P, 50, t0 + 3000, t0 + 2050, 1, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 2700);
  /* Overdrawn (other work spent it): stop now. */
  ASSERT_EQ(pb_credit_plan(P, -1, t0 + 3000, t0 + 2050, 1, 300, 5000, &next), 1);
  /* Plenty: the usual beat. */
  ASSERT_EQ(pb_credit_plan(P, 1000 * P, t0 + 1000, t0 + 1000, 1, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 6000);
  /* Two sessions share 4 s: each is promised 2. */
  ASSERT_EQ(pb_credit_plan(P, 4 * P, t0, t0, 2, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 1700);
  /* ... and 1.5 s between two is no whole second each: stop at the paid end. */
  ASSERT_EQ(pb_credit_plan(P, 150, t0 + 1000, t0 + 800, 2, 300, 5000, &next), 1);
  /* Free (price 0): never stopped while not overdrawn. */
  ASSERT_EQ(pb_credit_plan(0, 0, t0, t0, 1, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 5000);
  /* A balance too big for the clock does not overflow. */
  ASSERT_EQ(pb_credit_plan(1, PB_CREDIT_MAX_MICRO, INT64_MAX - 10, t0, 1, 300, 5000, &next), 0);
  ASSERT_EQ(next, t0 + 5000);
}

static char root[64];
/* PB_TEST_PG_URL set (unit/test_credits_pg): a fresh PostgreSQL database
 * per root (pgtest.h); else NULL, SQLite under root. */
static const char *spec;

static void mkroot(void) {
  snprintf(root, sizeof(root), "/tmp/pb_test_credits_XXXXXX");
  ASSERT(mkdtemp(root) != NULL);
  spec = pb_test_pg() ? pb_test_db_spec(NULL) : NULL;
}

static void rmroot(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  ASSERT_EQ(system(cmd), 0);
}

/* One number from the database, read past the store as an auditor would. */
static int64_t raw_int(const char *sql) {
  if (spec) {
    pb_db *h = NULL;
    pb_db_stmt *q = NULL;
    ASSERT_EQ(pb_db_open(spec, &h), 0);
    ASSERT_EQ(pb_db_prepare(h, sql, &q), 0);
    ASSERT_EQ(pb_db_step(q), PB_DB_ROW);
    int64_t v = pb_db_column_int64(q, 0);
    pb_db_finalize(q);
    pb_db_close(h);
    return v;
  }
  char db[128];
  snprintf(db, sizeof(db), "%s/ppod.db", root);
  sqlite3 *raw = NULL;
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_open(db, &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_prepare_v2(raw, sql, -1, &st, NULL), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(raw);
  return v;
}

/* The ledger's rows and the balance agree: balance = credits granted -
 * price * billed seconds of the account's debited rows, each row's debit
 * its own billed seconds at its price. */
static void assert_agrees(pb_store *s, int64_t acct) {
  pb_credit_summary c;
  ASSERT_EQ(pb_store_account_credit_summary(s, acct, &c), 0);
  ASSERT(c.metered);
  ASSERT_EQ(c.balance_micro, c.credited_micro - c.debited_micro);
  ASSERT_EQ(c.debited_micro, P * c.billed_seconds);
  char sql[512];
  snprintf(sql, sizeof(sql),
           "SELECT COUNT(*) FROM usage WHERE account_id = %lld AND price_micro IS NOT NULL AND"
           " debit_micro != price_micro * ((COALESCE(ms, COALESCE(last_heartbeat_ms, start_ms)"
           " - start_ms) + 999) / 1000)",
           (long long)acct);
  ASSERT_EQ(raw_int(sql), 0);
  snprintf(sql, sizeof(sql),
           "SELECT (SELECT SUM(micro) FROM credits WHERE account_id = %lld) - (SELECT"
           " COALESCE(SUM(debit_micro), 0) FROM usage WHERE account_id = %lld)"
           " - (SELECT balance_micro FROM accounts WHERE id = %lld)",
           (long long)acct, (long long)acct, (long long)acct);
  ASSERT_EQ(raw_int(sql), 0);
}

static int64_t balance_of(pb_store *s, int64_t acct) {
  int64_t b = -999;
  int metered = -1;
  ASSERT_EQ(pb_store_account_balance(s, acct, &b, &metered), 0);
  ASSERT_EQ(metered, 1);
  return b;
}

/* Debits follow heartbeats and closes; unmetered accounts and rows are
 * never debited; one account's work never touches another's balance. */
static void test_store_debits(void) {
  mkroot();
  pb_store *s = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, root, &s), 0);
  int64_t a = 0, b = 0, row = 0, old_row = 0;
  ASSERT_EQ(pb_account_create(s, "metered", &a), 0);
  ASSERT_EQ(pb_account_create(s, "other", &b), 0);
  /* Unmetered by default: no limit, rows not priced. */
  int64_t bal = -1;
  int metered = -1;
  ASSERT_EQ(pb_store_account_balance(s, a, &bal, &metered), 0);
  ASSERT_EQ(metered, 0);
  ASSERT_EQ(bal, 0);
  ASSERT_EQ(pb_store_account_balance(s, a + 99, &bal, &metered), PB_ENOTFOUND);
  ASSERT_EQ(pb_usage_begin(s, a, "session", 1000, &old_row), 0);
  pb_usage_credit uc;
  ASSERT_EQ(pb_usage_heartbeat_credit(s, old_row, 4000, &uc), 0);
  ASSERT_EQ(uc.metered, 0);

  /* 5 s of credit (0.0005 at 0.0001 per second). */
  ASSERT_EQ(pb_store_account_credit(s, a, 500, "operator", 1, &bal), 0);
  ASSERT_EQ(bal, 500);
  /* The row opened while unmetered stays so, to its end. */
  ASSERT_EQ(pb_usage_end(s, old_row, 9000, 200), 0);
  ASSERT_EQ(balance_of(s, a), 500);

  ASSERT_EQ(pb_usage_begin(s, a, "session", 10000, &row), 0);
  ASSERT_EQ(pb_usage_heartbeat_credit(s, row, 10500, &uc), 0);
  ASSERT_EQ(uc.metered, 1);
  ASSERT_EQ(uc.price_micro, P);
  ASSERT_EQ(uc.balance_micro, 400); /* the first second, started */
  ASSERT_EQ(uc.paid_until_ms, 11000);
  ASSERT_EQ(pb_usage_heartbeat_credit(s, row, 12001, &uc), 0);
  ASSERT_EQ(uc.balance_micro, 200); /* 2.001 s: three seconds */
  ASSERT_EQ(uc.paid_until_ms, 13000);
  /* A heartbeat never moves back, so neither does the debit. */
  ASSERT_EQ(pb_usage_heartbeat_credit(s, row, 11000, &uc), 0);
  ASSERT_EQ(uc.balance_micro, 200);
  assert_agrees(s, a);
  /* The close bills what the row ran: 2.9 s is still three seconds. */
  ASSERT_EQ(pb_usage_end(s, row, 12900, 200), 0);
  ASSERT_EQ(balance_of(s, a), 200);
  /* Closed once: a second close changes nothing. */
  ASSERT_EQ(pb_usage_end(s, row, 60000, 200), PB_EEXIST);
  ASSERT_EQ(pb_usage_heartbeat(s, row, 60000), PB_EEXIST);
  ASSERT_EQ(balance_of(s, a), 200);
  assert_agrees(s, a);

  /* The other account is untouched by all of it, and its work does not
   * spend this one's credit. */
  ASSERT_EQ(pb_store_account_balance(s, b, &bal, &metered), 0);
  ASSERT_EQ(metered, 0);
  int64_t brow = 0;
  ASSERT_EQ(pb_usage_begin(s, b, "screenshot", 20000, &brow), 0);
  ASSERT_EQ(pb_usage_end(s, brow, 29000, 200), 0);
  ASSERT_EQ(balance_of(s, a), 200);

  /* Two seconds left: a row may start; a quick action that runs past them
   * is finished and billed whole (the balance goes below zero). */
  ASSERT_EQ(pb_usage_begin(s, a, "screenshot", 30000, &row), 0);
  ASSERT_EQ(pb_usage_end(s, row, 33500, 200), 0);
  ASSERT_EQ(balance_of(s, a), -200);
  assert_agrees(s, a);
  /* Below one second: no more rows. */
  ASSERT_EQ(pb_usage_begin(s, a, "screenshot", 40000, &row), PB_ENOCREDIT);
  pb_ledger *l = NULL;
  ASSERT_EQ(pb_ledger_start(s, &l), 0);
  pb_admit_verdict v;
  row = -1;
  ASSERT_EQ(pb_ledger_open(l, a, "screenshot", 40000, &row, &v), PB_CODE_INSUFFICIENT_CREDITS);
  ASSERT_EQ(row, 0);
  ASSERT_STR_EQ(v.metric, "credits");
  ASSERT_CONTAINS(v.message, "add credits");
  pb_ledger_free(l);
  /* Exactly one second's worth is enough again. */
  ASSERT_EQ(pb_store_account_credit(s, a, 300, NULL, 2, &bal), 0);
  ASSERT_EQ(bal, 100);
  ASSERT_EQ(pb_usage_begin(s, a, "screenshot", 50000, &row), 0);
  ASSERT_EQ(pb_usage_end(s, row, 50000, 200), 0); /* 0 ms: nothing billed */
  ASSERT_EQ(balance_of(s, a), 100);
  assert_agrees(s, a);

  /* Credits: checked, never wrapped or clamped. */
  ASSERT_EQ(pb_store_account_credit(s, a, PB_CREDIT_MAX_MICRO, NULL, 3, &bal), PB_ETOOBIG);
  ASSERT_EQ(balance_of(s, a), 100);
  ASSERT_EQ(pb_store_account_credit(s, a, PB_CREDIT_MAX_MICRO + 1, NULL, 3, &bal), PB_EINVAL);
  ASSERT_EQ(pb_store_account_credit(s, a, 1, "not a word", 3, &bal), PB_EINVAL);
  ASSERT_EQ(pb_store_account_credit(s, a + 99, 1, NULL, 3, &bal), PB_ENOTFOUND);
  /* Made metered in one transaction; a taken name grants nothing. */
  int64_t c = 0;
  ASSERT_EQ(pb_account_create_with_credit(s, "born-metered", NULL, 300, "create", &c), 0);
  ASSERT_EQ(balance_of(s, c), 300);
  assert_agrees(s, c);
  ASSERT_EQ(pb_account_create_with_credit(s, "born-metered", NULL, 300, "create", &c), PB_EEXIST);
  ASSERT_EQ(pb_account_create_with_credit(s, "bad name", NULL, 300, NULL, &c), PB_EINVAL);
  ASSERT_EQ(pb_account_create_with_credit(s, "too-rich", NULL, PB_CREDIT_MAX_MICRO + 1, NULL, &c),
            PB_EINVAL);
  ASSERT_EQ(raw_int("SELECT COUNT(*) FROM credits WHERE note = 'create'"), 1);
  ASSERT_EQ(pb_account_find(s, "too-rich", &c), PB_ENOTFOUND);
  /* A signup's starting credit is the configured one. */
  pb_store_set_credit_terms(s, 250, 7 * PB_MICRO_PER_CREDIT);
  pb_store_set_credit_terms(s, -1, -1); /* out of range: ignored */
  ASSERT_EQ(pb_store_price(s), 250);
  ASSERT_EQ(pb_store_account_signup_credit(s, b, 4), 0);
  ASSERT_EQ(balance_of(s, b), 7 * PB_MICRO_PER_CREDIT);
  /* New rows open at the new price; the audit then mixes prices, so only
   * the balance identity is checked. */
  ASSERT_EQ(pb_usage_begin(s, b, "pdf", 60000, &row), 0);
  ASSERT_EQ(pb_usage_end(s, row, 61500, 200), 0);
  ASSERT_EQ(balance_of(s, b), 7 * PB_MICRO_PER_CREDIT - 500);
  ASSERT_EQ(pb_account_create_signup(s, "signed-up", NULL, &c), 0);
  ASSERT_EQ(balance_of(s, c), 7 * PB_MICRO_PER_CREDIT);
  pb_store_close(s);
  rmroot();
}

/* A crash mid-row: the child credits, opens a row, heartbeats it (debit
 * made), and dies. The restart closes the row at that heartbeat, and the
 * balance is what the heartbeat left: nothing lost, nothing twice; a
 * second restart and a late close change nothing. */
static void test_crash_restart(void) {
  mkroot();
  pb_store *s = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, root, &s), 0);
  int64_t a = 0;
  ASSERT_EQ(pb_account_create(s, "crashy", &a), 0);
  ASSERT_EQ(pb_store_account_credit(s, a, 1000, NULL, 1, NULL), 0);
  pb_store_close(s);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  fflush(NULL);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    pb_store *c = NULL;
    int64_t id = 0, id2 = 0;
    if (pb_store_open_spec(spec, root, &c) || pb_usage_begin(c, a, "session", 100000, &id) ||
        pb_usage_heartbeat(c, id, 102500) || pb_usage_begin(c, a, "pdf", 101000, &id2))
      _exit(3);
    if (write(fds[1], &id, sizeof(id)) != (ssize_t)sizeof(id)) _exit(4);
    abort(); /* no close, no store close: a kill -9 */
  }
  close(fds[1]);
  int64_t id = 0;
  ASSERT_EQ(read(fds[0], &id, sizeof(id)), (ssize_t)sizeof(id));
  close(fds[0]);
  int ws = 0;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT);

  ASSERT_EQ(pb_store_open_spec(spec, root, &s), 0);
  /* Debited at the heartbeat: 2.5 s is three seconds. The pdf row had no
   * heartbeat: 0 s so far. */
  ASSERT_EQ(balance_of(s, a), 700);
  int closed = 0;
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 2);
  ASSERT_EQ(balance_of(s, a), 700);
  char sql[160];
  snprintf(sql, sizeof(sql), "SELECT ms FROM usage WHERE id = %lld", (long long)id);
  ASSERT_EQ(raw_int(sql), 2500);
  assert_agrees(s, a);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(pb_usage_end(s, id, 200000, 200), PB_EEXIST);
  ASSERT_EQ(balance_of(s, a), 700);
  pb_store_close(s);
  ASSERT_EQ(pb_store_open_spec(spec, root, &s), 0);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(balance_of(s, a), 700);
  assert_agrees(s, a);
  pb_store_close(s);
  rmroot();
}

/* Admission: a metered account below one second is refused before any
 * other check; unmetered accounts and unbilled routes never are. */
static void test_admit(void) {
  pb_admit_accounts t = {0};
  pb_admit_account *acc = pb_admit_account_of(&t, 7);
  ASSERT(acc != NULL);
  pb_limits l;
  pb_limits_default(&l);
  pb_admit_req q;
  memset(&q, 0, sizeof(q));
  q.cls = PB_ADMIT_QUICK;
  q.used_today_ms = -1;
  q.disk_free = -1;
  q.credit_checked = 1;
  q.metered = 1;
  q.price_micro = P;
  q.balance_micro = P - 1;
  q.session_id = "nope"; /* would be SESSION_NOT_FOUND: credits come first */
  pb_admit_verdict v;
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_INSUFFICIENT_CREDITS);
  ASSERT_EQ(v.retry_after_s, 0);
  ASSERT_STR_EQ(v.metric, "credits");
  ASSERT_STR_EQ(v.message,
                "the account's balance of 0.000099 credits cannot pay for one second of browser"
                " time (0.0001 credits); add credits");
  ASSERT_EQ(acc->actions_running, 0); /* a refusal takes nothing */
  q.cls = PB_ADMIT_ACQUIRE;
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_INSUFFICIENT_CREDITS);
  q.cls = PB_ADMIT_LIGHT; /* a crawl's start */
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_INSUFFICIENT_CREDITS);
  q.balance_micro = P;
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_NONE);
  q.balance_micro = -5;
  q.metered = 0;
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_NONE);
  q.metered = 1;
  q.credit_checked = 0; /* not billable work (a trace read) */
  ASSERT_EQ(pb_admit_decide(acc, &l, &q, 1000, &v), PB_CODE_NONE);
  pb_admit_accounts_free(&t);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1;
  RUN(test_parse);
  RUN(test_format);
  RUN(test_debit);
  RUN(test_plan);
  RUN(test_store_debits);
  RUN(test_crash_restart);
  RUN(test_admit);
  DONE();
}
