/* The node registry (core/nodes.c) on a real database: SQLite in a temp
 * dir, or PostgreSQL when PB_TEST_PG_URL names one (each run in a schema of
 * its own). Nodes register with distinct tags (also when half the tags are
 * taken), route ids by their tag, place new sessions on the node with the
 * most room (never a draining one), a stale node is declared lost exactly
 * once while two nodes sweep, the stale node finds out and ends its
 * sessions, a restart of a name loses the old incarnation, old rows are
 * pruned after 7 days and a drained node leaves. */
#include "core/nodes.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/db.h"
#include "pgtest.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char spec[1024];
static const char key[] = "0123456789abcdef0123456789abcdef-cluster";

/* What the callbacks saw, per node object. */
typedef struct {
  atomic_int lost_calls;
  char lost_tag[8];
  atomic_int self_lost;
  atomic_int live;
} seen;

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;

static int live_cb(void *data) {
  return atomic_load(&((seen *)data)->live);
}
static void lost_cb(void *data, const char *tag, int64_t hb, int64_t now) {
  seen *s = data;
  ASSERT(hb <= now);
  pthread_mutex_lock(&seen_mu);
  pb_strlcpy(s->lost_tag, tag, sizeof(s->lost_tag));
  pthread_mutex_unlock(&seen_mu);
  atomic_fetch_add(&s->lost_calls, 1);
}
static void self_lost_cb(void *data) {
  atomic_fetch_add(&((seen *)data)->self_lost, 1);
}

static pb_nodes *open_node(const char *name, const char *url, int cap, int timeout_ms, seen *s) {
  pb_nodes_config c = {.name = name,
                       .url = url,
                       .capacity = cap,
                       .key = key,
                       .key_len = strlen(key),
                       .timeout_ms = timeout_ms,
                       .heartbeat_ms = 50,
                       .data = s,
                       .live_sessions = live_cb,
                       .on_node_lost = lost_cb,
                       .on_self_lost = self_lost_cb};
  pb_nodes *n = NULL;
  int rc = pb_nodes_open(spec, &c, &n);
  if (rc) fprintf(stderr, "pb_nodes_open: %s\n", pb_strerror(rc));
  ASSERT_EQ(rc, 0);
  return n;
}

static pb_db *db(void) {
  pb_db *d = NULL;
  ASSERT_EQ(pb_db_open(spec, &d), 0);
  return d;
}

static int64_t count(pb_db *d, const char *sql) {
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(d, sql, &st), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  int64_t v = pb_db_column_int64(st, 0);
  pb_db_finalize(st);
  return v;
}

static void row_state(pb_db *d, const char *tag, char *out, size_t cap) {
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(d, "SELECT state FROM nodes WHERE tag = ?1", &st), 0);
  pb_db_bind_text(st, 1, tag, -1);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  pb_strlcpy(out, pb_db_column_text(st, 0), cap);
  pb_db_finalize(st);
}

/* Waits for cond (polled every 10 ms, the heartbeat runs every 50 ms) up to
 * ms; the condition is the event. */
#define WAIT_FOR(cond, ms)                                  \
  do {                                                      \
    int64_t until_ = pb_wall_ms() + (ms);                   \
    while (!(cond) && pb_wall_ms() < until_) usleep(10000); \
    ASSERT(cond);                                           \
  } while (0)

static void id_of(const pb_nodes *n, char out[33]) {
  ASSERT_EQ(pb_random_hex(out, 16), 0);
  memcpy(out, pb_nodes_self_tag(n), 4);
}

static void test_config_refused(void) {
  pb_nodes_config c = {
      .name = "x", .url = "http://127.0.0.1:1", .capacity = 1, .key = "short", .key_len = 5};
  pb_nodes *n = NULL;
  ASSERT_EQ(pb_nodes_open(spec, &c, &n), PB_EINVAL); /* key under 32 bytes */
  c.key = key;
  c.key_len = strlen(key);
  c.capacity = 0;
  ASSERT_EQ(pb_nodes_open(spec, &c, &n), PB_EINVAL);
  ASSERT(n == NULL);
}

static void test_not_clustered(void) {
  pb_node_route r;
  ASSERT_EQ(pb_nodes_route_id(NULL, "abcd0123", &r), 0);
  ASSERT_EQ(r.kind, PB_ROUTE_LOCAL);
  ASSERT_EQ(pb_nodes_place(NULL, &r), 0);
  ASSERT_EQ(r.kind, PB_ROUTE_LOCAL);
  ASSERT_EQ(pb_nodes_clustered(NULL), 0);
  ASSERT_EQ(pb_nodes_key_ok(NULL, key), 0);
}

static void test_ids_carry_the_tag(void) {
  char id[33];
  pb_node_tag_set("beef");
  ASSERT_EQ(pb_random_id_hex(id, 16), 0);
  ASSERT_EQ(strlen(id), 32u);
  ASSERT(!memcmp(id, "beef", 4));
  ASSERT_EQ(strspn(id, "0123456789abcdef"), 32u);
  pb_node_tag_set(NULL);
  char id2[33];
  int differs = 0;
  for (int i = 0; i < 8 && !differs; i++) {
    ASSERT_EQ(pb_random_id_hex(id2, 16), 0);
    differs = memcmp(id2, "beef", 4) != 0;
  }
  ASSERT(differs);
}

static void test_routes_and_place(void) {
  seen sa = {0}, sb = {0};
  pb_nodes *a = open_node("A", "http://127.0.0.1:7001", 2, 2000, &sa);
  pb_nodes *b = open_node("B", "http://127.0.0.1:7002", 5, 2000, &sb);
  ASSERT(strcmp(pb_nodes_self_tag(a), pb_nodes_self_tag(b)));
  ASSERT_EQ(pb_nodes_start(a), 0);
  ASSERT_EQ(pb_nodes_start(b), 0);
  atomic_store(&sa.live, 2); /* A is full */

  char idb[33], ida[33];
  id_of(b, idb);
  id_of(a, ida);
  pb_node_route r;
  /* A learns B at its next beat. */
  WAIT_FOR((pb_nodes_route_id(a, idb, &r), r.kind == PB_ROUTE_REMOTE), 2000);
  ASSERT_STR_EQ(r.url, "http://127.0.0.1:7002");
  ASSERT(!memcmp(r.tag, pb_nodes_self_tag(b), 4));
  pb_nodes_route_id(a, ida, &r);
  ASSERT_EQ(r.kind, PB_ROUTE_LOCAL);
  pb_nodes_route_id(a, "zzzz0000", &r); /* not a tag */
  ASSERT_EQ(r.kind, PB_ROUTE_UNKNOWN);
  char other[9] = "00000000";
  for (int i = 0; i < 0x10000; i++) { /* a tag nobody holds */
    snprintf(other, sizeof(other), "%04x0000", i);
    if (memcmp(other, pb_nodes_self_tag(a), 4) && memcmp(other, pb_nodes_self_tag(b), 4)) break;
  }
  pb_nodes_route_id(a, other, &r);
  ASSERT_EQ(r.kind, PB_ROUTE_UNKNOWN);
  pb_nodes_route_id(a, "ab", &r); /* too short */
  ASSERT_EQ(r.kind, PB_ROUTE_UNKNOWN);

  /* A is full and B has 5 free: B; once A has more room than B: A. */
  WAIT_FOR((pb_nodes_place(a, &r), r.kind == PB_ROUTE_REMOTE), 2000);
  ASSERT_STR_EQ(r.url, "http://127.0.0.1:7002");
  pb_nodes_place(b, &r);
  ASSERT_EQ(r.kind, PB_ROUTE_LOCAL);
  /* A tie goes to the node asked: B (5 free) asks with A at 5 free too. */
  atomic_store(&sa.live, -3);
  WAIT_FOR((pb_nodes_place(b, &r), r.kind == PB_ROUTE_LOCAL), 2000);

  /* Draining B takes no new sessions but its ids still route to it. */
  atomic_store(&sa.live, 2);
  ASSERT_EQ(pb_nodes_drain(b), 0);
  /* A is full: local admission answers */
  WAIT_FOR((pb_nodes_place(b, &r), r.kind == PB_ROUTE_LOCAL), 2000);
  atomic_store(&sa.live, 0);
  WAIT_FOR((pb_nodes_place(b, &r), r.kind == PB_ROUTE_REMOTE), 2000);
  WAIT_FOR((pb_nodes_place(a, &r), r.kind == PB_ROUTE_LOCAL), 2000);
  pb_nodes_route_id(a, idb, &r);
  ASSERT_EQ(r.kind, PB_ROUTE_REMOTE);

  /* The key. */
  ASSERT(pb_nodes_key_ok(a, key));
  ASSERT(!pb_nodes_key_ok(a, "0123456789abcdef0123456789abcdef-clustex"));
  ASSERT(!pb_nodes_key_ok(a, "0123456789abcdef0123456789abcdef-cluster2"));
  ASSERT(!pb_nodes_key_ok(a, ""));

  /* B leaves: its row says so and its ids are unknown (its sessions ended
   * with the drain). */
  char tb[8];
  pb_strlcpy(tb, pb_nodes_self_tag(b), sizeof(tb));
  pb_nodes_free(b);
  pb_db *d = db();
  char state[16];
  row_state(d, tb, state, sizeof(state));
  ASSERT_STR_EQ(state, "left");
  WAIT_FOR((pb_nodes_route_id(a, idb, &r), r.kind == PB_ROUTE_UNKNOWN), 2000);
  ASSERT_EQ(atomic_load(&sa.lost_calls), 0); /* left is not lost */
  pb_db_close(d);
  pb_nodes_free(a);
}

static void test_lost_once(void) {
  seen sa = {0}, sb = {0}, sc = {0};
  pb_nodes *a = open_node("LA", "http://127.0.0.1:7011", 4, 400, &sa);
  pb_nodes *b = open_node("LB", "http://127.0.0.1:7012", 4, 400, &sb);
  pb_nodes *c = open_node("LC", "http://127.0.0.1:7013", 4, 400, &sc);
  char tc[8], idc[33];
  pb_strlcpy(tc, pb_nodes_self_tag(c), sizeof(tc));
  id_of(c, idc);
  /* C never beats (a stall); A and B sweep. */
  ASSERT_EQ(pb_nodes_start(a), 0);
  ASSERT_EQ(pb_nodes_start(b), 0);
  pb_node_route r;
  WAIT_FOR((pb_nodes_route_id(a, idc, &r), r.kind == PB_ROUTE_LOST) &&
               (pb_nodes_route_id(b, idc, &r), r.kind == PB_ROUTE_LOST),
           5000);
  /* Some more beats: nobody declares it again. */
  int64_t until = pb_wall_ms() + 300;
  while (pb_wall_ms() < until) usleep(20000);
  ASSERT_EQ(atomic_load(&sa.lost_calls) + atomic_load(&sb.lost_calls), 1);
  ASSERT_STR_EQ(atomic_load(&sa.lost_calls) ? sa.lost_tag : sb.lost_tag, tc);
  pb_db *d = db();
  char state[16];
  row_state(d, tc, state, sizeof(state));
  ASSERT_STR_EQ(state, "lost");
  /* C wakes up: it finds its row lost, ends its sessions, and stays lost. */
  ASSERT_EQ(pb_nodes_start(c), 0);
  WAIT_FOR(atomic_load(&sc.self_lost) == 1, 3000);
  ASSERT(pb_nodes_self_lost(c));
  pb_nodes_free(c);
  row_state(d, tc, state, sizeof(state));
  ASSERT_STR_EQ(state, "lost");
  ASSERT_EQ(atomic_load(&sc.self_lost), 1);
  ASSERT_EQ(atomic_load(&sa.lost_calls) + atomic_load(&sb.lost_calls), 1);
  pb_db_close(d);
  pb_nodes_free(a);
  pb_nodes_free(b);
}

static void test_restart_loses_the_old_incarnation(void) {
  seen s1 = {0}, s2 = {0};
  pb_nodes *n1 = open_node("R", "http://127.0.0.1:7021", 2, 60000, &s1);
  char t1[8];
  pb_strlcpy(t1, pb_nodes_self_tag(n1), sizeof(t1));
  /* The process died: no stop, no left. The same name starts again. */
  pb_nodes *n2 = open_node("R", "http://127.0.0.1:7021", 2, 60000, &s2);
  ASSERT(strcmp(t1, pb_nodes_self_tag(n2)));
  ASSERT_EQ(atomic_load(&s2.lost_calls), 1);
  ASSERT_STR_EQ(s2.lost_tag, t1);
  pb_db *d = db();
  char state[16];
  row_state(d, t1, state, sizeof(state));
  ASSERT_STR_EQ(state, "lost");
  pb_nodes_free(n2);
  /* n1's stop finds its row lost: it does not write it left. */
  pb_nodes_free(n1);
  row_state(d, t1, state, sizeof(state));
  ASSERT_STR_EQ(state, "lost");
  pb_db_close(d);
}

static void test_tags_unique_and_prune(void) {
  pb_db *d = db();
  int64_t now = pb_wall_ms();
  /* Half the tags held by rows that left recently: registration retries. */
  ASSERT_EQ(pb_db_begin(d), 0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(d,
                          "INSERT INTO nodes (tag, name, url, capacity, sessions, state, "
                          "started_ms, heartbeat_ms, ended_ms) VALUES (?1, 'old', 'http://x', 1, "
                          "0, 'left', ?2, ?2, ?2) ON CONFLICT (tag) DO NOTHING",
                          &st),
            0);
  for (int i = 0; i < 0x8000; i++) {
    char tag[8];
    snprintf(tag, sizeof(tag), "%04x", i);
    pb_db_bind_text(st, 1, tag, -1);
    pb_db_bind_int64(st, 2, now - 3600 * 1000);
    ASSERT(pb_db_step(st) >= 0);
    pb_db_reset(st);
  }
  pb_db_finalize(st);
  /* One left 8 days ago (pruned), one lost 6 days ago (kept). */
  ASSERT_EQ(pb_db_exec(d, "UPDATE nodes SET ended_ms = 0 WHERE tag = '0001'"), 0);
  char sql[256];
  snprintf(sql, sizeof(sql), "UPDATE nodes SET state = 'lost', ended_ms = %lld WHERE tag = '0002'",
           (long long)(now - 6LL * 24 * 3600 * 1000));
  ASSERT_EQ(pb_db_exec(d, sql), 0);
  ASSERT_EQ(pb_db_commit(d), 0);

  seen s = {0};
  pb_nodes *v[12];
  for (int i = 0; i < 12; i++) {
    char name[16];
    snprintf(name, sizeof(name), "U%d", i);
    v[i] = open_node(name, "http://127.0.0.1:7031", 1, 60000, &s);
    const char *t = pb_nodes_self_tag(v[i]);
    ASSERT_EQ(strlen(t), 4u);
    ASSERT(strtol(t, NULL, 16) >= 0x8000 || !strcmp(t, "0001")); /* a free tag */
    for (int j = 0; j < i; j++) ASSERT(strcmp(t, pb_nodes_self_tag(v[j])));
  }
  ASSERT_EQ(count(d, "SELECT COUNT(*) FROM nodes WHERE tag = '0002'"), 1);
  ASSERT_EQ(count(d, "SELECT COUNT(*) FROM nodes WHERE tag = '0001' AND name = 'old'"), 0);
  ASSERT_EQ(atomic_load(&s.lost_calls), 0);
  for (int i = 0; i < 12; i++) pb_nodes_free(v[i]);
  pb_db_close(d);
}

static void test_sessions_reads(void) {
  seen s = {0};
  pb_nodes *n = open_node("S", "http://127.0.0.1:7041", 2, 60000, &s);
  pb_db *d = db();
  ASSERT_EQ(pb_db_exec(d,
                       "INSERT INTO sessions (id, account_id, start_ms, node) VALUES "
                       "('aaaa01', 7, 10, 'aaaa'), ('bbbb01', 7, 5, 'bbbb'), "
                       "('cccc01', 8, 1, 'cccc');"
                       "INSERT INTO sessions (id, account_id, start_ms, end_ms, node) VALUES "
                       "('dddd01', 7, 1, 2, 'dddd')"),
            0);
  int64_t acct = 0;
  int open = -1;
  ASSERT_EQ(pb_nodes_session_owner(n, "cccc01", &acct, &open), 0);
  ASSERT_EQ(acct, 8);
  ASSERT_EQ(open, 1);
  ASSERT_EQ(pb_nodes_session_owner(n, "dddd01", &acct, &open), 0);
  ASSERT_EQ(open, 0);
  ASSERT_EQ(pb_nodes_session_owner(n, "eeee01", &acct, &open), PB_ENOTFOUND);
  pb_nodes_session *v = NULL;
  int k = 0;
  ASSERT_EQ(pb_nodes_open_sessions(n, 7, 10, &v, &k), 0);
  ASSERT_EQ(k, 2);
  ASSERT_STR_EQ(v[0].id, "bbbb01");
  ASSERT_STR_EQ(v[0].node, "bbbb");
  ASSERT_STR_EQ(v[1].id, "aaaa01");
  ASSERT_EQ(v[1].start_ms, 10);
  free(v);
  pb_db_close(d);
  pb_nodes_free(n);
}

/* The tables this module reads: migration 10's nodes table, and the
 * columns of sessions it queries. */
static void schema(void) {
  pb_db *d = db();
  ASSERT_EQ(pb_db_exec_ddl(d,
                           "CREATE TABLE nodes ("
                           "  tag TEXT PRIMARY KEY,"
                           "  name TEXT NOT NULL,"
                           "  url TEXT NOT NULL,"
                           "  capacity INTEGER NOT NULL,"
                           "  sessions INTEGER NOT NULL DEFAULT 0,"
                           "  state TEXT NOT NULL,"
                           "  started_ms INTEGER NOT NULL,"
                           "  heartbeat_ms INTEGER NOT NULL,"
                           "  ended_ms INTEGER);"
                           "CREATE TABLE sessions (id TEXT PRIMARY KEY, account_id INTEGER NOT "
                           "NULL, start_ms INTEGER NOT NULL, end_ms INTEGER, node TEXT);"),
            0);
  pb_db_close(d);
}

int main(void) {
  char dir[64] = "/tmp/pb-nodes-XXXXXX";
  ASSERT(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof(path), "%s/store.db", dir);
  /* PostgreSQL (the _pg run): a fresh database of this test's own. */
  pb_strlcpy(spec, pb_test_db_spec(path), sizeof(spec));
  schema();
  RUN(test_config_refused);
  RUN(test_not_clustered);
  RUN(test_ids_carry_the_tag);
  RUN(test_routes_and_place);
  RUN(test_lost_once);
  RUN(test_restart_loses_the_old_incarnation);
  RUN(test_sessions_reads);
  RUN(test_tags_unique_and_prune);
  {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd)) {
    }
  }
  DONE();
}
