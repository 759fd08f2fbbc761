/* The store in a cluster (migration 10): rows carry their node
 * (pb_store_set_node), a node's death closes its sessions, its ledger rows
 * (credits settled once) and frees its contexts (pb_store_node_lost), the
 * startup recovery of one node never touches another live node's rows, and
 * two connections racing a capped insert never pass the cap. Runs on SQLite
 * (a temp data dir) and, with PB_TEST_PG_URL set, on that PostgreSQL
 * database. */
#include "common/hash.h"
#include "common/pb.h"
#include "core/db.h"
#include "core/store.h"
#include "test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define PRICE 100 /* micro-credits per second */

static char root[64];
static const char *pg_url; /* NULL: SQLite under root */
static char uniq[16];      /* keeps names apart in a shared database */

static pb_store *open_store(const char *sub) {
  char dir[128];
  snprintf(dir, sizeof(dir), "%s/%s", root, sub);
  pb_store *s = NULL;
  ASSERT_EQ(pb_store_open_spec(pg_url, dir, &s), 0);
  ASSERT(s != NULL);
  pb_store_set_credit_terms(s, PRICE, 0);
  return s;
}

/* One integer a query returns, through a connection of its own. */
static int64_t q_int(pb_store *s, const char *sql, const char *arg) {
  pb_db *db = NULL;
  ASSERT_EQ(pb_db_open(pb_store_db_spec(s), &db), 0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db, sql, &st), 0);
  if (arg) ASSERT_EQ(pb_db_bind_text(st, 1, arg, -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  int64_t v = pb_db_column_int64(st, 0);
  pb_db_finalize(st);
  pb_db_close(db);
  return v;
}

static void name(char *out, size_t cap, const char *base) {
  snprintf(out, cap, "%s-%s", base, uniq);
}

static int64_t account(pb_store *s, const char *base, int64_t credit) {
  char n[64];
  name(n, sizeof(n), base);
  int64_t id = 0;
  ASSERT_EQ(pb_account_create(s, n, &id), 0);
  if (credit) ASSERT_EQ(pb_store_account_credit(s, id, credit, "test", 1, NULL), 0);
  return id;
}

/* A session id as a node mints it: its tag, then random hex. */
static void sid(char *out, const char *tag) {
  char rnd[29];
  ASSERT_EQ(pb_random_hex(rnd, 14), 0);
  snprintf(out, 33, "%s%s", tag, rnd);
}

static void assert_agrees(pb_store *s, int64_t acct) {
  pb_credit_summary c;
  ASSERT_EQ(pb_store_account_credit_summary(s, acct, &c), 0);
  ASSERT_EQ(c.balance_micro, c.credited_micro - c.debited_micro);
}

/* The schema the contract names, the version where each engine keeps it,
 * and a reopen that migrates nothing and keeps the rows. */
static void test_migration10(void) {
  pb_store *s = open_store("m10");
  const char *spec = pb_store_db_spec(s);
  ASSERT(spec != NULL);
  if (pg_url) {
    ASSERT_STR_EQ(spec, pg_url);
    ASSERT_EQ(q_int(s, "SELECT MAX(version) FROM schema_version", NULL), 10);
    ASSERT_EQ(q_int(s, "SELECT COUNT(*) FROM schema_version", NULL), 1);
  } else {
    char want[128];
    snprintf(want, sizeof(want), "%s/m10/ppod.db", root);
    ASSERT_STR_EQ(spec, want);
    ASSERT_EQ(q_int(s, "PRAGMA user_version", NULL), 10);
  }
  pb_db *db = NULL;
  ASSERT_EQ(pb_db_open(spec, &db), 0);
  char tag[8];
  snprintf(tag, sizeof(tag), "%.4s", uniq);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db,
                          "INSERT INTO nodes(tag, name, url, capacity, state, started_ms,"
                          " heartbeat_ms) VALUES (?1, 'n1', 'http://127.0.0.1:1', 4, 'live',"
                          " 5000000000000, 5000000000001)",
                          &st),
            0);
  ASSERT_EQ(pb_db_bind_text(st, 1, tag, -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  pb_db_reset(st);
  ASSERT_EQ(pb_db_bind_text(st, 1, tag, -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_EEXIST); /* the tag is the key */
  pb_db_finalize(st);
  pb_db_close(db);
  pb_store_close(s);

  s = open_store("m10");
  /* Defaults and 64-bit times as written. */
  ASSERT_EQ(q_int(s, "SELECT sessions FROM nodes WHERE tag = ?1", tag), 0);
  ASSERT_EQ(q_int(s, "SELECT heartbeat_ms FROM nodes WHERE tag = ?1", tag), 5000000000001LL);
  ASSERT_EQ(q_int(s, "SELECT COUNT(*) FROM nodes WHERE tag = ?1 AND ended_ms IS NULL", tag), 1);
  if (!pg_url) ASSERT_EQ(q_int(s, "PRAGMA user_version", NULL), 10);
  pb_store_close(s);
}

/* Rows opened after pb_store_set_node carry the tag; none before or after
 * it is cleared; a malformed tag sets none. */
static void test_set_node(void) {
  pb_store *s = open_store("setnode");
  int64_t a = account(s, "setnode", 0);
  char id1[40], id2[40], id3[40], tag[8] = "x", reason[32] = "x";
  int open = -1;
  sid(id1, "0000");
  ASSERT_EQ(pb_session_open_record(s, id1, a, 1000), 0);
  ASSERT_EQ(pb_session_node(s, id1, tag, &open, reason), 0);
  ASSERT_STR_EQ(tag, "");
  ASSERT_EQ(open, 1);
  ASSERT_STR_EQ(reason, "");

  pb_store_set_node(s, "ab12");
  sid(id2, "ab12");
  ASSERT_EQ(pb_session_open_record(s, id2, a, 2000), 0);
  int64_t u = 0;
  ASSERT_EQ(pb_usage_begin(s, a, "session", 2000, &u), 0);
  ASSERT_EQ(pb_session_node(s, id2, tag, &open, reason), 0);
  ASSERT_STR_EQ(tag, "ab12");
  ASSERT_EQ(open, 1);
  char uid[32];
  snprintf(uid, sizeof(uid), "%lld", (long long)u);
  ASSERT_EQ(
      q_int(s, "SELECT COUNT(*) FROM usage WHERE node = 'ab12' AND id = CAST(?1 AS BIGINT)", uid),
      1);
  ASSERT_EQ(pb_session_close_record(s, id2, 3000, "Closed", "bye"), 0);
  ASSERT_EQ(pb_session_node(s, id2, tag, &open, reason), 0);
  ASSERT_EQ(open, 0);
  ASSERT_STR_EQ(reason, "Closed");
  ASSERT_STR_EQ(tag, "ab12");

  /* Hostile or malformed tags set nothing (and never reach SQL as such). */
  pb_store_set_node(s, "ab'1");
  sid(id3, "0000");
  ASSERT_EQ(pb_session_open_record(s, id3, a, 4000), 0);
  ASSERT_EQ(pb_session_node(s, id3, tag, &open, reason), 0);
  ASSERT_STR_EQ(tag, "");
  pb_store_set_node(s, "ab12");
  pb_store_set_node(s, NULL);
  sid(id3, "0001");
  ASSERT_EQ(pb_session_open_record(s, id3, a, 4000), 0);
  ASSERT_EQ(pb_session_node(s, id3, tag, NULL, NULL), 0);
  ASSERT_STR_EQ(tag, "");

  ASSERT_EQ(pb_session_node(s, "nosuchsession", tag, &open, reason), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_node(s, "bad id;", tag, &open, reason), PB_EINVAL);
  pb_store_close(s);
}

/* Node a1a1 dies while node b2b2 and a node-less process run: only a1a1's
 * sessions, ledger rows and contexts move, its debits are settled once,
 * and a second call does nothing. */
static void test_node_lost(void) {
  pb_store *s1 = open_store("lost"), *s2 = open_store("lost"), *s0 = open_store("lost");
  pb_store_set_node(s1, "a1a1");
  pb_store_set_node(s2, "b2b2");
  int64_t a = account(s0, "lost", 100000);
  char x[40], y[40], z[40], w[40];
  sid(x, "a1a1");
  sid(y, "a1a1");
  sid(z, "b2b2");
  sid(w, "0000");
  ASSERT_EQ(pb_session_open_record(s1, x, a, 1000), 0);
  ASSERT_EQ(pb_session_heartbeat(s1, x, 5000), 0);
  ASSERT_EQ(pb_session_open_record(s1, y, a, 2000), 0); /* never beat */
  ASSERT_EQ(pb_session_open_record(s2, z, a, 1000), 0);
  ASSERT_EQ(pb_session_open_record(s0, w, a, 1000), 0);
  int64_t u1 = 0, u1b = 0, u2 = 0, u0 = 0;
  ASSERT_EQ(pb_usage_begin(s1, a, "session", 1000, &u1), 0);
  ASSERT_EQ(pb_usage_heartbeat(s1, u1, 3500), 0); /* 2.5 s: 3 s debited */
  ASSERT_EQ(pb_usage_begin(s1, a, "session", 1000, &u1b), 0);
  ASSERT_EQ(pb_usage_begin(s2, a, "session", 1000, &u2), 0);
  ASSERT_EQ(pb_usage_heartbeat(s2, u2, 2000), 0);
  ASSERT_EQ(pb_usage_begin(s0, a, "session", 1000, &u0), 0);
  int64_t bal = 0;
  int metered = 0;
  ASSERT_EQ(pb_store_account_balance(s0, a, &bal, &metered), 0);
  ASSERT_EQ(bal, 100000 - 300 - 100);
  /* Contexts: held by x, by an id a1a1 minted before its history row, by z. */
  char cx[40], cm[40], cz[40], minted[40];
  sid(cx, "c0c0");
  sid(cm, "c1c1");
  sid(cz, "c2c2");
  sid(minted, "a1a1");
  ASSERT_EQ(pb_context_insert(s1, a, cx, NULL, 1, 10), 0);
  ASSERT_EQ(pb_context_insert(s1, a, cm, NULL, 1, 10), 0);
  ASSERT_EQ(pb_context_insert(s2, a, cz, NULL, 1, 10), 0);
  ASSERT_EQ(pb_context_claim(s1, a, cx, x), 0);
  ASSERT_EQ(pb_context_claim(s1, a, cm, minted), 0);
  ASSERT_EQ(pb_context_claim(s2, a, cz, z), 0);

  ASSERT_EQ(pb_store_node_lost(s2, "a1'1", 4000, 10000, NULL, NULL), PB_EINVAL);
  int ns = -1, nu = -1;
  ASSERT_EQ(pb_store_node_lost(s2, "a1a1", 4000, 10000, &ns, &nu), 0);
  ASSERT_EQ(ns, 2);
  ASSERT_EQ(nu, 2);

  /* x: its last beat (5000) is after the node's (4000): the node's. */
  pb_session_rec *h = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_session_history(s0, a, 100, &h, &n), 0);
  int seen = 0;
  for (size_t i = 0; i < n; i++) {
    if (!strcmp(h[i].id, x)) {
      ASSERT_EQ(h[i].end_ms, 4000);
      ASSERT_EQ(h[i].browser_ms, 3000);
      seen++;
    } else if (!strcmp(h[i].id, y)) {
      ASSERT_EQ(h[i].end_ms, 2000); /* never before its start */
      ASSERT_EQ(h[i].browser_ms, 0);
      seen++;
    } else {
      ASSERT(0); /* nobody else's session was closed */
    }
    ASSERT_STR_EQ(h[i].reason, "NodeLost");
    ASSERT_STR_EQ(h[i].reason_text, "the node holding this session stopped answering");
  }
  ASSERT_EQ(seen, 2);
  free(h);
  char tag[8], reason[32];
  int open = -1;
  ASSERT_EQ(pb_session_node(s0, x, tag, &open, reason), 0);
  ASSERT_STR_EQ(tag, "a1a1");
  ASSERT_EQ(open, 0);
  ASSERT_STR_EQ(reason, "NodeLost");
  ASSERT_EQ(pb_session_node(s0, z, tag, &open, reason), 0);
  ASSERT_EQ(open, 1);
  ASSERT_EQ(pb_session_node(s0, w, tag, &open, reason), 0);
  ASSERT_EQ(open, 1);

  /* Usage: closed at their last beat, status 0; debits settled once. */
  char buf[32];
  snprintf(buf, sizeof(buf), "%lld", (long long)u1);
  ASSERT_EQ(q_int(s0, "SELECT end_ms FROM usage WHERE id = CAST(?1 AS BIGINT)", buf), 3500);
  ASSERT_EQ(q_int(s0, "SELECT ms FROM usage WHERE id = CAST(?1 AS BIGINT)", buf), 2500);
  ASSERT_EQ(q_int(s0, "SELECT status FROM usage WHERE id = CAST(?1 AS BIGINT)", buf), 0);
  snprintf(buf, sizeof(buf), "%lld", (long long)u1b);
  ASSERT_EQ(q_int(s0, "SELECT ms FROM usage WHERE id = CAST(?1 AS BIGINT)", buf), 0);
  ASSERT_EQ(pb_usage_heartbeat(s2, u2, 6000), 0);        /* b2b2's row lives on */
  ASSERT_EQ(pb_usage_end(s1, u1, 9000, 200), PB_EEXIST); /* a late end bills nothing */
  ASSERT_EQ(pb_store_account_balance(s0, a, &bal, &metered), 0);
  ASSERT_EQ(bal, 100000 - 300 - 500);
  assert_agrees(s0, a);
  pb_credit_summary c;
  ASSERT_EQ(pb_store_account_credit_summary(s0, a, &c), 0);
  ASSERT_EQ(c.open_rows, 2); /* u2 and u0 */

  /* Contexts: a1a1's two released, b2b2's still held. */
  pb_context_rec cr;
  ASSERT_EQ(pb_context_get(s0, a, cx, &cr), 0);
  ASSERT_STR_EQ(cr.session_id, "");
  ASSERT_EQ(pb_context_get(s0, a, cm, &cr), 0);
  ASSERT_STR_EQ(cr.session_id, "");
  ASSERT_EQ(pb_context_get(s0, a, cz, &cr), 0);
  ASSERT_STR_EQ(cr.session_id, z);

  /* Idempotent. */
  ASSERT_EQ(pb_store_node_lost(s0, "a1a1", 4000, 20000, &ns, &nu), 0);
  ASSERT_EQ(ns, 0);
  ASSERT_EQ(nu, 0);
  ASSERT_EQ(pb_store_account_balance(s0, a, &bal, &metered), 0);
  ASSERT_EQ(bal, 100000 - 300 - 500);
  /* A node nobody knows: nothing to close. */
  ASSERT_EQ(pb_store_node_lost(s0, "ffff", 4000, 20000, &ns, &nu), 0);
  ASSERT_EQ(ns + nu, 0);
  pb_store_close(s0);
  pb_store_close(s1);
  pb_store_close(s2);
}

/* A node's startup recovery (close_open, close_orphans, release_stale)
 * with its tag set leaves the rows of another live node alone and closes
 * its own and node-less ones; without a tag it closes all (as before). */
static void test_scope(void) {
  pb_store *live = open_store("scope"), *boot = open_store("scope");
  /* What earlier tests left open in a shared database, closed first so the
   * counts below are this test's. */
  ASSERT_EQ(pb_usage_close_open(boot, NULL), 0);
  ASSERT_EQ(pb_session_close_orphans(boot, 10000, NULL), 0);
  ASSERT_EQ(pb_context_release_stale(boot, NULL), 0);
  pb_store_set_node(live, "c3c3");
  pb_store_set_node(boot, "d4d4");
  int64_t a = account(live, "scope", 100000);
  char lx[40], bx[40], nx[40], lminted[40], fminted[40];
  sid(lx, "c3c3");
  sid(bx, "d4d4");
  sid(nx, "0000");
  sid(lminted, "c3c3");
  sid(fminted, "d4d4");
  ASSERT_EQ(pb_session_open_record(live, lx, a, 1000), 0);
  ASSERT_EQ(pb_session_open_record(boot, bx, a, 1000), 0);
  pb_store_set_node(boot, NULL);
  ASSERT_EQ(pb_session_open_record(boot, nx, a, 1000), 0);
  int64_t ul = 0, ub = 0, un = 0;
  ASSERT_EQ(pb_usage_begin(boot, a, "session", 1000, &un), 0);
  pb_store_set_node(boot, "d4d4");
  ASSERT_EQ(pb_usage_begin(live, a, "session", 1000, &ul), 0);
  ASSERT_EQ(pb_usage_heartbeat(live, ul, 2000), 0);
  ASSERT_EQ(pb_usage_begin(boot, a, "session", 1000, &ub), 0);
  ASSERT_EQ(pb_usage_heartbeat(boot, ub, 3000), 0);
  /* Contexts held by ids minted but not yet in history, one per node. */
  char c1[40], c2[40];
  sid(c1, "e0e0");
  sid(c2, "e1e1");
  ASSERT_EQ(pb_context_insert(live, a, c1, NULL, 1, 10), 0);
  ASSERT_EQ(pb_context_insert(live, a, c2, NULL, 1, 10), 0);
  ASSERT_EQ(pb_context_claim(live, a, c1, lminted), 0);
  ASSERT_EQ(pb_context_claim(boot, a, c2, fminted), 0);

  int n = -1;
  ASSERT_EQ(pb_usage_close_open(boot, &n), 0);
  ASSERT_EQ(n, 2); /* its own and the node-less one */
  ASSERT_EQ(pb_usage_heartbeat(live, ul, 4000), 0);
  ASSERT_EQ(pb_usage_heartbeat(boot, ub, 4000), PB_EEXIST);
  ASSERT_EQ(pb_session_close_orphans(boot, 10000, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_EQ(pb_session_heartbeat(live, lx, 4000), 0);
  ASSERT_EQ(pb_session_heartbeat(boot, bx, 4000), PB_EEXIST);
  ASSERT_EQ(pb_context_release_stale(boot, &n), 0);
  ASSERT_EQ(n, 1); /* its own minted id; never the live node's */
  pb_context_rec cr;
  ASSERT_EQ(pb_context_get(live, a, c1, &cr), 0);
  ASSERT_STR_EQ(cr.session_id, lminted);
  ASSERT_EQ(pb_context_get(live, a, c2, &cr), 0);
  ASSERT_STR_EQ(cr.session_id, "");
  assert_agrees(live, a);

  /* Without a node: everything, as a single node always did. */
  pb_store_set_node(boot, NULL);
  ASSERT_EQ(pb_usage_close_open(boot, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_session_close_orphans(boot, 10000, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_context_release_stale(boot, &n), 0);
  ASSERT_EQ(n, 1);
  assert_agrees(live, a);
  pb_store_close(live);
  pb_store_close(boot);
}

/* Two connections (two nodes) race a capped insert: the cap holds. */
typedef struct {
  pb_store *s;
  int64_t account;
  int who, ok, busy, other;
} racer;

#define RACE_CAP 5
#define RACE_TRIES 25

static void *race_contexts(void *arg) {
  racer *r = arg;
  for (int i = 0; i < RACE_TRIES; i++) {
    char id[40];
    snprintf(id, sizeof(id), "race%d-%d-%s", r->who, i, uniq);
    int rc = pb_context_insert(r->s, r->account, id, NULL, 1, RACE_CAP);
    if (rc == 0)
      r->ok++;
    else if (rc == PB_EBUSY)
      r->busy++;
    else
      r->other++;
  }
  return NULL;
}

static void test_race(void) {
  pb_store *s1 = open_store("race"), *s2 = open_store("race");
  int64_t a = account(s1, "race", 0);
  racer r1 = {.s = s1, .account = a, .who = 1}, r2 = {.s = s2, .account = a, .who = 2};
  pthread_t t1, t2;
  ASSERT_EQ(pthread_create(&t1, NULL, race_contexts, &r1), 0);
  ASSERT_EQ(pthread_create(&t2, NULL, race_contexts, &r2), 0);
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  ASSERT_EQ(r1.other + r2.other, 0);
  ASSERT_EQ(r1.ok + r2.ok, RACE_CAP);
  ASSERT_EQ(r1.busy + r2.busy, 2 * RACE_TRIES - RACE_CAP);
  pb_context_rec *v = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_context_list(s1, a, &v, &n), 0);
  ASSERT_EQ(n, (size_t)RACE_CAP);
  free(v);
  pb_store_close(s1);
  pb_store_close(s2);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1;
  const char *url = getenv("PB_TEST_PG_URL");
  pg_url = url && *url ? url : NULL;
  snprintf(root, sizeof(root), "/tmp/pb_store_nodes_XXXXXX");
  ASSERT(mkdtemp(root) != NULL);
  ASSERT_EQ(pb_random_hex(uniq, 4), 0);
  RUN(test_migration10);
  RUN(test_set_node);
  RUN(test_node_lost);
  RUN(test_scope);
  RUN(test_race);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
  DONE();
}
