/* core/db.h on both backends: this runs on SQLite (unit/test_db) and again
 * on a fresh PostgreSQL database (unit/test_db_pg, PB_TEST_PG_URL). */
#include "common/pb.h"
#include "core/db.h"
#include "core/db_internal.h"
#include "pgtest.h"
#include "test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/pb_db_XXXXXX";
static int ndb;

/* A database of its own for each part. */
static const char *fresh_spec(void) {
  static char p[8][256];
  int i = ndb++ % 8;
  snprintf(p[i], sizeof(p[i]), "%s/db%d.sqlite", tmpdir, ndb);
  return pb_test_db_spec(p[i]);
}

static pb_db *open_db(const char *spec) {
  pb_db *db = NULL;
  ASSERT_EQ(pb_db_open(spec, &db), 0);
  ASSERT(db);
  ASSERT_EQ(pb_db_kind_of(db), pb_test_pg() ? PB_DB_POSTGRES : PB_DB_SQLITE);
  return db;
}

static int64_t one_int(pb_db *db, const char *sql) {
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db, sql, &st), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  int64_t v = pb_db_column_int64(st, 0);
  pb_db_finalize(st);
  return v;
}

static void test_spec_kind(void) {
  ASSERT(pb_db_spec_is_postgres("postgres://a@h/db"));
  ASSERT(pb_db_spec_is_postgres("postgresql://h/db"));
  ASSERT(!pb_db_spec_is_postgres("/var/lib/ppod/ppod.db"));
  ASSERT(!pb_db_spec_is_postgres("postgres.db"));
  ASSERT(!pb_db_spec_is_postgres(NULL));
  char out[128];
  pb__db_redact_url("postgres://ppod:s3cret@db.example:5432/ppod?sslmode=require", out,
                    sizeof(out));
  ASSERT_STR_EQ(out, "postgres://ppod:***@db.example:5432/ppod?sslmode=require");
  pb__db_redact_url("postgresql://h/db?user=a&password=s3cret&x=1", out, sizeof(out));
  ASSERT_STR_EQ(out, "postgresql://h/db?user=a&password=***&x=1");
  pb__db_redact_url("postgres://ppod@h:1/db", out, sizeof(out));
  ASSERT_STR_EQ(out, "postgres://ppod@h:1/db");
  /* A server that is not there: an error, not a hang or a crash. */
  pb_db *db = (pb_db *)1;
  ASSERT_EQ(pb_db_open("postgres://ppod:pw@127.0.0.1:1/none?connect_timeout=2", &db), PB_ESTORE);
  ASSERT(db == NULL);
}

static const char *const schema =
    "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE child (id INTEGER PRIMARY KEY,"
    "  parent_id INTEGER NOT NULL REFERENCES parent(id),"
    "  n INTEGER, r REAL, t TEXT, b BLOB);";

static void test_types_nulls_blobs(void) {
  pb_db *db = open_db(fresh_spec());
  ASSERT_EQ(pb_db_exec_ddl(db, schema), 0);
  pb_db_stmt *ins = NULL, *sel = NULL;
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO parent (name) VALUES (?1) RETURNING id", &ins), 0);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "p1", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_ROW);
  int64_t pid = pb_db_column_int64(ins, 0);
  ASSERT(pid > 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  ASSERT_EQ(pb_db_changes(db), 1);
  pb_db_finalize(ins);

  ASSERT_EQ(pb_db_prepare(
                db, "INSERT INTO child (parent_id, n, r, t, b) VALUES (?1, ?2, ?3, ?4, ?5)", &ins),
            0);
  unsigned char bytes[256];
  for (int i = 0; i < 256; i++) bytes[i] = (unsigned char)i;
  ASSERT_EQ(pb_db_bind_int64(ins, 1, pid), 0);
  ASSERT_EQ(pb_db_bind_int64(ins, 2, INT64_MIN), 0);
  ASSERT_EQ(pb_db_bind_text(ins, 3, "2.5", -1), 0);
  ASSERT_EQ(pb_db_bind_text(ins, 4, "h\xc3\xa9llo", -1), 0);
  ASSERT_EQ(pb_db_bind_blob(ins, 5, bytes, sizeof(bytes)), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  /* Reused after a reset: the bindings are cleared (NULLs), an empty blob. */
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_int64(ins, 1, pid), 0);
  ASSERT_EQ(pb_db_bind_blob(ins, 5, "", 0), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  pb_db_finalize(ins);

  ASSERT_EQ(pb_db_prepare(db,
                          "SELECT n, r, t, b, n IS NULL, n < 0, t = ?1 FROM child"
                          " WHERE parent_id = ?2 ORDER BY id",
                          &sel),
            0);
  ASSERT_EQ(pb_db_bind_text(sel, 1, "h\xc3\xa9llo", -1), 0);
  ASSERT_EQ(pb_db_bind_int64(sel, 2, pid), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_type(sel, 0), PB_DB_INT);
  ASSERT_EQ(pb_db_column_int64(sel, 0), INT64_MIN);
  ASSERT_EQ(pb_db_column_type(sel, 1), PB_DB_FLOAT);
  ASSERT_STR_EQ(pb_db_column_text(sel, 1), "2.5");
  ASSERT_EQ(pb_db_column_type(sel, 2), PB_DB_TEXT);
  ASSERT_STR_EQ(pb_db_column_text(sel, 2), "h\xc3\xa9llo");
  ASSERT_EQ(pb_db_column_bytes(sel, 2), 6);
  ASSERT_EQ(pb_db_column_type(sel, 3), PB_DB_BLOB);
  ASSERT_EQ(pb_db_column_bytes(sel, 3), 256);
  ASSERT(!memcmp(pb_db_column_blob(sel, 3), bytes, 256));
  ASSERT_EQ(pb_db_column_int64(sel, 4), 0); /* booleans read 1/0 */
  ASSERT_EQ(pb_db_column_int64(sel, 5), 1);
  ASSERT_EQ(pb_db_column_int64(sel, 6), 1);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_type(sel, 0), PB_DB_NULL);
  ASSERT_EQ(pb_db_column_int64(sel, 0), 0);
  ASSERT(pb_db_column_text(sel, 2) == NULL);
  ASSERT_EQ(pb_db_column_type(sel, 3), PB_DB_BLOB);
  ASSERT_EQ(pb_db_column_bytes(sel, 3), 0);
  ASSERT_EQ(pb_db_column_int64(sel, 4), 1);
  ASSERT_EQ(pb_db_step(sel), PB_DB_DONE);
  /* Stepped again after DONE without a reset: it runs again (SQLite's
   * sqlite3_step does), with the same bindings. */
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_int64(sel, 0), INT64_MIN);
  /* Reuse after reset with other bindings. */
  pb_db_reset(sel);
  ASSERT_EQ(pb_db_bind_text(sel, 1, "x", -1), 0);
  ASSERT_EQ(pb_db_bind_int64(sel, 2, pid + 1000), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_DONE);
  pb_db_finalize(sel);

  /* ?N used twice; scalar MAX/MIN of two; COALESCE. */
  ASSERT_EQ(pb_db_prepare(db,
                          "SELECT MAX(CAST(?1 AS BIGINT), ?2), MIN(?1, ?2), COALESCE(NULL, ?1),"
                          " CAST(?1 AS BIGINT) + ?1",
                          &sel),
            0);
  ASSERT_EQ(pb_db_bind_int64(sel, 1, 7), 0);
  ASSERT_EQ(pb_db_bind_int64(sel, 2, 40000000000), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_int64(sel, 0), 40000000000);
  ASSERT_EQ(pb_db_column_int64(sel, 1), 7);
  ASSERT_EQ(pb_db_column_int64(sel, 2), 7);
  ASSERT_EQ(pb_db_column_int64(sel, 3), 14);
  pb_db_finalize(sel);
  /* A '?1' inside a literal is text, not a parameter. */
  ASSERT_EQ(pb_db_prepare(db, "SELECT '?1 it''s', ?1", &sel), 0);
  ASSERT_EQ(pb_db_bind_text(sel, 1, "v", -1), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_STR_EQ(pb_db_column_text(sel, 0), "?1 it's");
  ASSERT_STR_EQ(pb_db_column_text(sel, 1), "v");
  pb_db_finalize(sel);
  pb_db_close(db);
}

static void test_constraints_changes(void) {
  pb_db *db = open_db(fresh_spec());
  ASSERT_EQ(pb_db_exec_ddl(db, schema), 0);
  ASSERT_EQ(pb_db_exec(db, "INSERT INTO parent (name) VALUES ('a'), ('b'), ('c')"), 0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO parent (name) VALUES (?1)", &st), 0);
  ASSERT_EQ(pb_db_bind_text(st, 1, "b", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_EEXIST);
  ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_UNIQUE);
  pb_db_rollback(db); /* safe with no transaction */
  pb_db_reset(st);
  ASSERT_EQ(pb_db_bind_text(st, 1, "d", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  pb_db_finalize(st);

  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO child (parent_id, n) VALUES (?1, ?2)", &st), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 1, 99), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 2, 1), 0);
  ASSERT_EQ(pb_db_step(st), PB_ESTORE);
  ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_FOREIGN);
  for (int i = 0; i < 3; i++) {
    pb_db_reset(st);
    ASSERT_EQ(pb_db_bind_int64(st, 1, 1), 0);
    ASSERT_EQ(pb_db_bind_int64(st, 2, i), 0);
    ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
    ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_NONE);
  }
  pb_db_finalize(st);
  ASSERT_EQ(pb_db_prepare(db, "UPDATE child SET n = n + 10 WHERE parent_id = ?1", &st), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 1, 1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  ASSERT_EQ(pb_db_changes(db), 3);
  pb_db_finalize(st);
  /* A SELECT does not move changes. */
  ASSERT_EQ(one_int(db, "SELECT count(*) FROM child"), 3);
  ASSERT_EQ(pb_db_changes(db), 3);
  ASSERT_EQ(pb_db_prepare(db, "DELETE FROM child WHERE n > ?1", &st), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 1, 10), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  ASSERT_EQ(pb_db_changes(db), 2);
  pb_db_finalize(st);

  /* A transaction whose statement failed does not commit the others. */
  ASSERT_EQ(pb_db_begin(db), 0);
  ASSERT_EQ(pb_db_exec(db, "INSERT INTO parent (id, name) VALUES (10, 'x')"), 0);
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO parent (id, name) VALUES (11, ?1)", &st), 0);
  ASSERT_EQ(pb_db_bind_text(st, 1, "a", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_EEXIST);
  pb_db_finalize(st);
  pb_db_rollback(db);
  ASSERT_EQ(one_int(db, "SELECT count(*) FROM parent WHERE id = 10"), 0);
  /* A bad statement: an error, the connection still works. */
  ASSERT_EQ(pb_db_prepare(db, "SELECT nope FROM nowhere", &st) || pb_db_step(st) < 0, 1);
  pb_db_finalize(st);
  ASSERT_EQ(one_int(db, "SELECT count(*) FROM parent"), 4);
  pb_db_close(db);
}

static void test_hostile_text(void) {
  pb_db *db = open_db(fresh_spec());
  ASSERT_EQ(pb_db_exec_ddl(db, "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"), 0);
  static const char *const nasty[] = {
      "'; DROP TABLE t; --",    "\\", "\\x00\\'", "\"quoted\"", "?1 $1 %s %n", "line\nbreak\r\t",
      "\xf0\x9f\x98\x80 emoji", "",
  };
  pb_db_stmt *ins = NULL, *sel = NULL;
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO t (k, v) VALUES (?1, ?2)", &ins), 0);
  ASSERT_EQ(pb_db_prepare(db, "SELECT v, length(v) FROM t WHERE k = ?1", &sel), 0);
  for (int i = 0; i < (int)(sizeof(nasty) / sizeof(nasty[0])); i++) {
    pb_db_reset(ins);
    ASSERT_EQ(pb_db_bind_int64(ins, 1, i), 0);
    ASSERT_EQ(pb_db_bind_text(ins, 2, nasty[i], -1), 0);
    ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
    pb_db_reset(sel);
    ASSERT_EQ(pb_db_bind_int64(sel, 1, i), 0);
    ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
    ASSERT_STR_EQ(pb_db_column_text(sel, 0), nasty[i]);
  }
  /* Text ends at a NUL on both backends. */
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_int64(ins, 1, 100), 0);
  ASSERT_EQ(pb_db_bind_text(ins, 2, "ab\0cd", 5), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  pb_db_reset(sel);
  ASSERT_EQ(pb_db_bind_int64(sel, 1, 100), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_STR_EQ(pb_db_column_text(sel, 0), "ab");
  ASSERT_EQ(pb_db_column_int64(sel, 1), 2);
  /* 1 MiB of text, with a length that cuts it. */
  size_t big = (size_t)1 << 20;
  char *s = malloc(big + 1);
  ASSERT(s);
  for (size_t i = 0; i < big; i++) s[i] = (char)('a' + i % 26);
  s[big] = '\0';
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_int64(ins, 1, 101), 0);
  ASSERT_EQ(pb_db_bind_text(ins, 2, s, (int)big), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  pb_db_reset(sel);
  ASSERT_EQ(pb_db_bind_int64(sel, 1, 101), 0);
  ASSERT_EQ(pb_db_step(sel), PB_DB_ROW);
  ASSERT_EQ(pb_db_column_bytes(sel, 0), big);
  ASSERT(!memcmp(pb_db_column_text(sel, 0), s, big));
  ASSERT_EQ(pb_db_column_int64(sel, 1), (int64_t)big);
  free(s);
  /* The table survived the injection attempt. */
  ASSERT_EQ(one_int(db, "SELECT count(*) FROM t"), 10);
  pb_db_finalize(ins);
  pb_db_finalize(sel);
  pb_db_close(db);
}

/* Two connections race: each checks a count and inserts when it is 0, in
 * a transaction (mode 0) or as one statement outside one (mode 1). The
 * write lock lets exactly one through per key. */
#define RACE_KEYS 40
typedef struct {
  const char *spec;
  int mode;
  pthread_barrier_t *go;
  int inserted;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  pb_db *db = open_db(r->spec);
  pb_db_stmt *cnt = NULL, *ins = NULL, *once = NULL;
  ASSERT_EQ(pb_db_prepare(db, "SELECT count(*) FROM slots WHERE k = ?1", &cnt), 0);
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO slots (k) VALUES (?1)", &ins), 0);
  ASSERT_EQ(pb_db_prepare(db,
                          "INSERT INTO slots (k) SELECT ?1"
                          " WHERE (SELECT count(*) FROM slots WHERE k = ?1) = 0",
                          &once),
            0);
  for (int k = 0; k < RACE_KEYS; k++) {
    pthread_barrier_wait(r->go); /* both start each key together */
    if (r->mode == 0) {
      ASSERT_EQ(pb_db_begin(db), 0);
      pb_db_reset(cnt);
      ASSERT_EQ(pb_db_bind_int64(cnt, 1, k), 0);
      ASSERT_EQ(pb_db_step(cnt), PB_DB_ROW);
      if (pb_db_column_int64(cnt, 0) == 0) {
        usleep(2000); /* widen the window a race would need */
        pb_db_reset(ins);
        ASSERT_EQ(pb_db_bind_int64(ins, 1, k), 0);
        ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
        r->inserted++;
      }
      pb_db_reset(cnt);
      ASSERT_EQ(pb_db_commit(db), 0);
    } else {
      pb_db_reset(once);
      ASSERT_EQ(pb_db_bind_int64(once, 1, k), 0);
      ASSERT_EQ(pb_db_step(once), PB_DB_DONE);
      r->inserted += (int)pb_db_changes(db);
    }
  }
  pb_db_finalize(cnt);
  pb_db_finalize(ins);
  pb_db_finalize(once);
  pb_db_close(db);
  return NULL;
}

static void test_race(void) {
  for (int mode = 0; mode < 2; mode++) {
    const char *spec = fresh_spec();
    pb_db *db = open_db(spec);
    ASSERT_EQ(pb_db_exec_ddl(db, "CREATE TABLE slots (k INTEGER NOT NULL)"), 0);
    pthread_barrier_t go;
    ASSERT_EQ(pthread_barrier_init(&go, NULL, 2), 0);
    racer a = {spec, mode, &go, 0}, b = {spec, mode, &go, 0};
    pthread_t ta, tb;
    ASSERT_EQ(pthread_create(&ta, NULL, race, &a), 0);
    ASSERT_EQ(pthread_create(&tb, NULL, race, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&go);
    ASSERT_EQ(a.inserted + b.inserted, RACE_KEYS);
    ASSERT_EQ(one_int(db, "SELECT count(*) FROM slots"), RACE_KEYS);
    ASSERT_EQ(one_int(db, "SELECT count(DISTINCT k) FROM slots"), RACE_KEYS);
    pb_db_close(db);
  }
}

/* A write stepped outside a transaction waits for the writer that holds
 * the lock (PostgreSQL: its own BEGIN + lock + COMMIT), a read does not. */
typedef struct {
  const char *spec;
  atomic_int done;
} waiter;

static void *write_outside(void *arg) {
  waiter *w = arg;
  pb_db *db = open_db(w->spec);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db, "  /* c */ INSERT INTO t (v) VALUES (?1)", &st), 0);
  ASSERT_EQ(pb_db_bind_text(st, 1, "outside", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  ASSERT_EQ(pb_db_changes(db), 1);
  atomic_store(&w->done, 1);
  pb_db_finalize(st);
  pb_db_close(db);
  return NULL;
}

static void test_write_outside_tx(void) {
  const char *spec = fresh_spec();
  pb_db *a = open_db(spec);
  ASSERT_EQ(pb_db_exec_ddl(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"), 0);
  ASSERT_EQ(pb_db_begin(a), 0);
  waiter w = {spec, 0};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, write_outside, &w), 0);
  if (pb_test_pg()) {
    /* Wait for the other writer to be queued on the advisory lock. */
    pb_db *obs = open_db(spec);
    int64_t waiting = 0;
    for (int i = 0; i < 5000 && !waiting; i++) {
      waiting = one_int(obs,
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                        " AND NOT granted AND database = (SELECT oid FROM pg_database"
                        " WHERE datname = current_database())");
      if (!waiting) usleep(1000);
    }
    ASSERT_EQ(waiting, 1);
    ASSERT_EQ(atomic_load(&w.done), 0);
    /* Reads take no lock. */
    ASSERT_EQ(one_int(obs, "SELECT count(*) FROM t"), 0);
    pb_db_close(obs);
  }
  ASSERT_EQ(pb_db_exec(a, "INSERT INTO t (v) VALUES ('inside')"), 0);
  ASSERT_EQ(pb_db_commit(a), 0);
  pthread_join(th, NULL);
  ASSERT_EQ(atomic_load(&w.done), 1);
  ASSERT_EQ(one_int(a, "SELECT count(*) FROM t"), 2);
  /* A failing wrapped write leaves no transaction behind. */
  ASSERT_EQ(pb_db_exec(a, "INSERT INTO t (id, v) VALUES (1, 'dup')"), PB_ESTORE);
  ASSERT_EQ(pb_db_errkind(a), PB_DB_ERR_UNIQUE);
  ASSERT_EQ(pb_db_exec(a, "INSERT INTO t (v) VALUES ('after')"), 0);
  pb_db *obs = open_db(spec);
  ASSERT_EQ(one_int(obs, "SELECT count(*) FROM t"), 3);
  pb_db_close(obs);
  pb_db_close(a);
}

/* PostgreSQL: a connection the server drops fails the call (CONN); the
 * next call reconnects. A transaction it was in is lost: its calls fail
 * until rollback, never half-committing. */
static void terminate(const char *spec, pb_db *victim) {
  int64_t pid = one_int(victim, "SELECT pg_backend_pid()");
  pb_db *killer = open_db(spec);
  char sql[96];
  snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
  ASSERT_EQ(one_int(killer, sql), 1);
  pb_db_close(killer);
}

static void test_reconnect(void) {
  if (!pb_test_pg()) return;
  const char *spec = fresh_spec();
  pb_db *db = open_db(spec);
  ASSERT_EQ(pb_db_exec_ddl(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"), 0);
  pb_db_stmt *ins = NULL;
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO t (v) VALUES (?1)", &ins), 0);
  terminate(spec, db);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "a", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_ESTORE);
  ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_CONN);
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "b", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  /* In a transaction. */
  ASSERT_EQ(pb_db_begin(db), 0);
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "c", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_DB_DONE);
  terminate(spec, db);
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "d", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_ESTORE);
  ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_CONN);
  pb_db_reset(ins);
  ASSERT_EQ(pb_db_bind_text(ins, 1, "e", -1), 0);
  ASSERT_EQ(pb_db_step(ins), PB_ESTORE); /* not outside the lost transaction */
  ASSERT_EQ(pb_db_commit(db), PB_ESTORE);
  pb_db_rollback(db);
  ASSERT_EQ(one_int(db, "SELECT count(*) FROM t"), 1); /* b only */
  pb_db_finalize(ins);
  pb_db_close(db);
}

/* PostgreSQL: a connection left idle inside a write transaction (a node
 * stopped or cut off mid-write) holds the fleet-wide write lock only until
 * the default idle_in_transaction_session_timeout (5 s): another
 * connection's write then goes through, and the stalled one's transaction
 * is gone. A writer waiting longer than lock_timeout fails BUSY instead of
 * hanging; a URL's own options override both defaults. */
static char *with_options(const char *spec, const char *opts) {
  static char out[4][640];
  static int k;
  char *o = out[k++ % 4];
  snprintf(o, sizeof(out[0]), "%s%soptions=%s", spec, strchr(spec, '?') ? "&" : "?", opts);
  return o;
}

static void test_stalled_writer(void) {
  if (!pb_test_pg()) return;
  const char *spec = fresh_spec();
  pb_db *a = open_db(spec);
  ASSERT_EQ(pb_db_exec_ddl(a, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"), 0);
  pb_db_stmt *show = NULL;
  ASSERT_EQ(pb_db_prepare(a, "SELECT current_setting('idle_in_transaction_session_timeout'),"
                             " current_setting('lock_timeout')", &show), 0);
  ASSERT_EQ(pb_db_step(show), PB_DB_ROW);
  ASSERT_STR_EQ(pb_db_column_text(show, 0), "5s");
  ASSERT_STR_EQ(pb_db_column_text(show, 1), "10s");
  pb_db_finalize(show);
  ASSERT_EQ(pb_db_begin(a), 0);
  ASSERT_EQ(pb_db_exec(a, "INSERT INTO t (v) VALUES ('stalled')"), 0);
  /* a now sits in its transaction, holding the write lock. */
  pb_db *b = open_db(spec);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_db_exec(b, "INSERT INTO t (v) VALUES ('other')"), 0);
  int64_t waited = pb_now_ms() - t0;
  fprintf(stderr, "stalled writer: the other write waited %lld ms\n", (long long)waited);
  ASSERT(waited >= 4000); /* it was blocked ... */
  ASSERT(waited < 8000);  /* ... only until the bound */
  ASSERT_EQ(pb_db_commit(a), PB_ESTORE); /* its session was ended */
  pb_db_rollback(a);
  ASSERT_EQ(one_int(b, "SELECT count(*) FROM t"), 1);
  ASSERT_EQ(one_int(a, "SELECT count(*) FROM t WHERE v = 'stalled'"), 0);
  pb_db_close(b);
  /* The URL overrides: a holder with the idle bound off, a writer that
   * waits 1 s for the lock: it fails BUSY then, not after 10 s. */
  pb_db_close(a);
  a = open_db(with_options(spec, "-c%20idle_in_transaction_session_timeout%3D0"));
  b = open_db(with_options(spec, "-c%20lock_timeout%3D1000"));
  ASSERT_EQ(pb_db_begin(a), 0);
  ASSERT_EQ(pb_db_exec(a, "INSERT INTO t (v) VALUES ('held')"), 0);
  t0 = pb_now_ms();
  ASSERT_EQ(pb_db_exec(b, "INSERT INTO t (v) VALUES ('late')"), PB_ESTORE);
  waited = pb_now_ms() - t0;
  ASSERT_EQ(pb_db_errkind(b), PB_DB_ERR_BUSY);
  ASSERT(waited >= 900 && waited < 4000);
  ASSERT_EQ(pb_db_commit(a), 0); /* not ended, though idle past 1 s */
  ASSERT_EQ(one_int(b, "SELECT count(*) FROM t"), 2);
  pb_db_close(b);
  pb_db_close(a);
}

/* Migrations: the real list, read out of src/core/store.c (C string
 * literals between "migrations[] = {" and "};"), run in order through
 * pb_db_exec_ddl; every table they create is then there. */
static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  ASSERT(f);
  ASSERT_EQ(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  ASSERT(n > 0);
  rewind(f);
  char *s = malloc((size_t)n + 1);
  ASSERT(s);
  ASSERT_EQ(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

static int parse_migrations(const char *src, char **out, int max) {
  const char *p = strstr(src, "migrations[] = {");
  ASSERT(p);
  p = strchr(p, '{') + 1;
  int n = 0;
  pb_buf cur;
  pb_buf_init(&cur, (size_t)1 << 20);
  int open = 0;
  while (*p) {
    if (p[0] == '/' && p[1] == '*') {
      p = strstr(p, "*/");
      ASSERT(p);
      p += 2;
    } else if (p[0] == '/' && p[1] == '/') {
      p = strchr(p, '\n');
      ASSERT(p);
    } else if (*p == '"') {
      p++;
      while (*p != '"') {
        ASSERT(*p);
        if (*p == '\\') {
          p++;
          char c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
          ASSERT_EQ(pb_buf_append(&cur, &c, 1), 0);
        } else {
          ASSERT_EQ(pb_buf_append(&cur, p, 1), 0);
        }
        p++;
      }
      p++;
      open = 1;
    } else if (*p == ',' || *p == '}') {
      if (open) {
        ASSERT(n < max);
        out[n++] = pb_buf_steal(&cur, NULL);
        open = 0;
      }
      if (*p == '}') break;
      p++;
    } else {
      p++;
    }
  }
  pb_buf_free(&cur);
  return n;
}

static void test_migrations(void) {
  char *src = read_file(PB_SOURCE_DIR "/src/core/store.c");
  char *mig[64];
  int n = parse_migrations(src, mig, 64);
  free(src);
  ASSERT(n >= 9);
  pb_db *db = open_db(fresh_spec());
  ASSERT_EQ(pb_db_begin(db), 0);
  for (int i = 0; i < n; i++) {
    int rc = pb_db_exec_ddl(db, mig[i]);
    if (rc) fprintf(stderr, "migration %d failed: %s\n", i + 1, pb_db_errmsg(db));
    ASSERT_EQ(rc, 0);
  }
  ASSERT_EQ(pb_db_commit(db), 0);
  int tables = 0;
  for (int i = 0; i < n; i++) {
    for (const char *p = mig[i]; (p = strstr(p, "CREATE TABLE ")); p += 13) {
      char name[64];
      size_t l = strcspn(p + 13, " (");
      ASSERT(l > 0 && l < sizeof(name));
      memcpy(name, p + 13, l);
      name[l] = '\0';
      char sql[128];
      snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", name);
      ASSERT_EQ(one_int(db, sql), 0);
      tables++;
    }
    free(mig[i]);
  }
  ASSERT(tables >= 11);
  /* What the translated schema promises: emails unique whatever the case,
   * ids made by the database, blobs kept. */
  ASSERT_EQ(pb_db_exec(db,
                       "INSERT INTO accounts (name, created_ms, email)"
                       " VALUES ('a', 1, 'a@example.com')"),
            0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db,
                          "INSERT INTO accounts (name, created_ms, email) VALUES (?1, 1, ?2)"
                          " RETURNING id",
                          &st),
            0);
  ASSERT_EQ(pb_db_bind_text(st, 1, "b", -1), 0);
  ASSERT_EQ(pb_db_bind_text(st, 2, "A@Example.com", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_EEXIST);
  ASSERT_EQ(pb_db_errkind(db), PB_DB_ERR_UNIQUE);
  pb_db_reset(st);
  ASSERT_EQ(pb_db_bind_text(st, 1, "b", -1), 0);
  ASSERT_EQ(pb_db_bind_text(st, 2, "b@example.com", -1), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
  int64_t id = pb_db_column_int64(st, 0);
  ASSERT(id > 1); /* (a failed insert may use up an id on PostgreSQL) */
  pb_db_finalize(st);
  unsigned char h[32] = {0, 1, 0, 2};
  ASSERT_EQ(pb_db_prepare(db,
                          "INSERT INTO tokens (account_id, hash, created_ms, expires_ms)"
                          " VALUES (?2, ?1, 1, 2)",
                          &st),
            0);
  ASSERT_EQ(pb_db_bind_blob(st, 1, h, sizeof(h)), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 2, id), 0);
  ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  pb_db_reset(st);
  ASSERT_EQ(pb_db_bind_blob(st, 1, h, sizeof(h)), 0);
  ASSERT_EQ(pb_db_bind_int64(st, 2, id), 0);
  ASSERT_EQ(pb_db_step(st), PB_EEXIST);
  pb_db_finalize(st);
  pb_db_close(db);
}

static void test_ddl_translation(void) {
  static const struct {
    const char *in, *out;
  } cases[] = {
      {"CREATE TABLE a (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, b BLOB, r REAL)",
       "CREATE TABLE a (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL,"
       " b BYTEA, r DOUBLE PRECISION)"},
      {"create table l (k text, v integer, primary key (k)) without rowid;",
       "create table l (k text, v BIGINT, primary key (k));"},
      {"CREATE UNIQUE INDEX e ON a(email COLLATE NOCASE) WHERE email IS NOT NULL;",
       "CREATE UNIQUE INDEX e ON a(lower(email)) WHERE email IS NOT NULL;"},
      {"CREATE TABLE i (email TEXT PRIMARY KEY COLLATE NOCASE, x INTEGER)",
       "CREATE TABLE i (email TEXT PRIMARY KEY, x BIGINT)"},
      {"CREATE TABLE q (integer_count INTEGER DEFAULT 'INTEGER', \"BLOB\" TEXT) -- INTEGER\n",
       "CREATE TABLE q (integer_count BIGINT DEFAULT 'INTEGER', \"BLOB\" TEXT) -- INTEGER\n"},
      {"ALTER TABLE u ADD COLUMN node TEXT;CREATE INDEX x ON u(node) WHERE end_ms IS NULL;",
       "ALTER TABLE u ADD COLUMN node TEXT;CREATE INDEX x ON u(node) WHERE end_ms IS NULL;"},
      {"CREATE TABLE z (id INTEGER PRIMARY KEY AUTOINCREMENT)",
       "CREATE TABLE z (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *out = NULL;
    ASSERT_EQ(pb__db_ddl_to_pg(cases[i].in, &out), 0);
    ASSERT_STR_EQ(out, cases[i].out);
    free(out);
  }
}

/* Rough figures (stderr): one indexed single-row SELECT and one single-row
 * UPDATE outside a transaction (on PostgreSQL: BEGIN + write lock + UPDATE
 * + COMMIT), each for ~300 ms. */
static double bench_loop(pb_db *db, pb_db_stmt *st, int write) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int ops = 0;
  double el = 0;
  do {
    for (int i = 0; i < 50; i++, ops++) {
      pb_db_reset(st);
      ASSERT_EQ(pb_db_bind_int64(st, 1, 1 + ops % 100), 0);
      if (write) {
        ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
        ASSERT_EQ(pb_db_changes(db), 1);
      } else {
        ASSERT_EQ(pb_db_step(st), PB_DB_ROW);
      }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  } while (el < 0.3);
  return ops / el;
}

static void test_bench(void) {
  pb_db *db = open_db(fresh_spec());
  ASSERT_EQ(pb_db_exec_ddl(db,
                           "CREATE TABLE b (id INTEGER PRIMARY KEY, k INTEGER, n INTEGER);"
                           "CREATE INDEX b_k ON b(k);"),
            0);
  ASSERT_EQ(pb_db_begin(db), 0);
  pb_db_stmt *st = NULL;
  ASSERT_EQ(pb_db_prepare(db, "INSERT INTO b (id, k, n) VALUES (?1, ?2, 0)", &st), 0);
  for (int i = 1; i <= 100; i++) {
    pb_db_reset(st);
    ASSERT_EQ(pb_db_bind_int64(st, 1, i), 0);
    ASSERT_EQ(pb_db_bind_int64(st, 2, i), 0);
    ASSERT_EQ(pb_db_step(st), PB_DB_DONE);
  }
  pb_db_finalize(st);
  ASSERT_EQ(pb_db_commit(db), 0);
  ASSERT_EQ(pb_db_prepare(db, "SELECT id, n FROM b WHERE k = ?1", &st), 0);
  double sel = bench_loop(db, st, 0);
  pb_db_finalize(st);
  ASSERT_EQ(pb_db_prepare(db, "UPDATE b SET n = n + 1 WHERE id = ?1", &st), 0);
  double upd = bench_loop(db, st, 1);
  pb_db_finalize(st);
  fprintf(stderr, "bench %s: indexed SELECT %.0f ops/s, locked UPDATE %.0f ops/s\n",
          pb_test_pg() ? "postgres" : "sqlite", sel, upd);
  pb_db_close(db);
}

int main(void) {
  ASSERT(mkdtemp(tmpdir));
  RUN(test_spec_kind);
  RUN(test_ddl_translation);
  RUN(test_types_nulls_blobs);
  RUN(test_constraints_changes);
  RUN(test_hostile_text);
  RUN(test_write_outside_tx);
  RUN(test_race);
  RUN(test_reconnect);
  RUN(test_stalled_writer);
  RUN(test_migrations);
  RUN(test_bench);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd)) fprintf(stderr, "cannot remove %s\n", tmpdir);
  DONE();
}
