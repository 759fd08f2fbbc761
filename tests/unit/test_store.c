/* The store: accounts, tokens, the usage ledger and its crash
 * recovery, limits, session history, migration from older schemas, file
 * modes; plus the admin subcommands built on it (admin.c is included,
 * h2o-style, as it lives in the daemon executable). */
#include "core/store.h"

#include "common/hash.h"
#include "common/pb.h"
#include "daemon/admin.c"
#include "test.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY_MS INT64_C(86400000)

static char root[64]; /* the mkdtemp dir; everything a test makes is under it */

static void path_join(char *out, size_t cap, const char *a, const char *b) {
  int n = snprintf(out, cap, "%s/%s", a, b);
  ASSERT(n > 0 && (size_t)n < cap);
}

/* A fresh data dir per test so tests cannot see each other's rows. */
static void fresh_dir(char *out, size_t cap, const char *name) { path_join(out, cap, root, name); }

static pb_store *open_ok(const char *dir) {
  pb_store *s = NULL;
  ASSERT_EQ(pb_store_open(dir, &s), 0);
  ASSERT(s != NULL);
  return s;
}

static mode_t mode_of(const char *path) {
  struct stat st;
  ASSERT_EQ(stat(path, &st), 0);
  return st.st_mode & 07777;
}

static void hex(const unsigned char *d, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  pb_sha256(data, len, md);
  hex(md, sizeof(md), out);
}

/* Whole file into a malloc'd buffer (NULL when absent). */
static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  pb_buf b;
  pb_buf_init(&b, 64u << 20);
  char chunk[65536];
  size_t k;
  while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0) ASSERT_EQ(pb_buf_append(&b, chunk, k), 0);
  fclose(f);
  return (unsigned char *)pb_buf_steal(&b, len);
}

static int contains(const unsigned char *hay, size_t n, const void *needle, size_t m) {
  return hay && memmem(hay, n, needle, m) != NULL;
}

static void test_files_and_modes(void) {
  /* Under umask 022 SQLite alone would make a 0644 database. */
  mode_t old = umask(022);
  char dir[256], mid[256], db[300], wal[300];
  fresh_dir(mid, sizeof(mid), "modes");
  path_join(dir, sizeof(dir), mid, "nested/data"); /* mkdir -p */
  pb_store *s = open_ok(dir);
  ASSERT_EQ(pb_account_create(s, "alice", NULL), 0); /* something in the WAL */
  path_join(db, sizeof(db), dir, "ppod.db");
  path_join(wal, sizeof(wal), dir, "ppod.db-wal");
  ASSERT_EQ(mode_of(mid), 0700);
  ASSERT_EQ(mode_of(dir), 0700);
  ASSERT_EQ(mode_of(db), 0600);
  ASSERT_EQ(mode_of(wal), 0600);
  pb_store_close(s);

  /* A database loosened by hand is tightened on the next open. */
  ASSERT_EQ(chmod(db, 0644), 0);
  s = open_ok(dir);
  ASSERT_EQ(mode_of(db), 0600);
  pb_store_close(s);

  /* WAL mode, foreign keys and the schema version are really in the file. */
  sqlite3 *raw = NULL;
  ASSERT_EQ(sqlite3_open(db, &raw), SQLITE_OK);
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  ASSERT_STR_EQ((const char *)sqlite3_column_text(st, 0), "wal");
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(raw, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  ASSERT_EQ(sqlite3_column_int(st, 0), 10); /* the number of migrations */
  sqlite3_finalize(st);
  /* A schema from a newer build is refused rather than misread. */
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(raw);
  s = (pb_store *)1;
  ASSERT_EQ(pb_store_open(dir, &s), PB_ESTORE);
  ASSERT(s == NULL);

  /* A data dir that is a file is an error, not a crash. */
  ASSERT_EQ(pb_store_open(db, &s), PB_EIO);
  ASSERT(s == NULL);
  pb_store_close(NULL);
  umask(old);
}

static void test_accounts(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "accounts");
  pb_store *s = open_ok(dir);

  pb_account *v = (pb_account *)1;
  size_t n = 99;
  ASSERT_EQ(pb_account_list(s, &v, &n), 0);
  ASSERT_EQ(n, 0);
  ASSERT(v == NULL);

  int64_t before = pb_wall_ms();
  int64_t alice = 0, bob = 0, found = 0;
  ASSERT_EQ(pb_account_create(s, "alice", &alice), 0);
  ASSERT(alice > 0);
  ASSERT_EQ(pb_account_create(s, "alice", &found), PB_EEXIST);
  ASSERT_EQ(pb_account_create(s, "Bob_1.x-y", &bob), 0);
  ASSERT(bob != alice);
  int64_t after = pb_wall_ms();

  char n63[64], n64[65];
  memset(n63, 'n', 63);
  n63[63] = '\0';
  memset(n64, 'n', 64);
  n64[64] = '\0';
  ASSERT_EQ(pb_account_create(s, n63, NULL), 0);
  ASSERT_EQ(pb_account_create(s, n64, NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_create(s, "", NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_create(s, "a b", NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_create(s, "a/b", NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_create(s, "caf\xc3\xa9", NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_create(s, NULL, NULL), PB_EINVAL);
  ASSERT_EQ(pb_account_name_valid("ok.name"), 1);
  ASSERT_EQ(pb_account_name_valid("no name"), 0);

  ASSERT_EQ(pb_account_find(s, "alice", &found), 0);
  ASSERT_EQ(found, alice);
  ASSERT_EQ(pb_account_find(s, "ALICE", &found), PB_ENOTFOUND);
  ASSERT_EQ(pb_account_find(s, "nobody", &found), PB_ENOTFOUND);

  ASSERT_EQ(pb_account_list(s, &v, &n), 0);
  ASSERT_EQ(n, 3);
  ASSERT_STR_EQ(v[0].name, "alice");
  ASSERT_EQ(v[0].id, alice);
  ASSERT_STR_EQ(v[1].name, "Bob_1.x-y");
  ASSERT_STR_EQ(v[2].name, n63);
  ASSERT(v[0].created_ms >= before && v[0].created_ms <= after);
  free(v);
  pb_store_close(s);

  /* Accounts persist across a reopen. */
  s = open_ok(dir);
  ASSERT_EQ(pb_account_find(s, "Bob_1.x-y", &found), 0);
  ASSERT_EQ(found, bob);
  pb_store_close(s);
}

static int token_shape_ok(const char *t) {
  if (strncmp(t, "pp_sess_", 8) || strlen(t) != 51) return 0;
  for (const char *p = t + 8; *p; p++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *p)) return 0;
  return 1;
}

static void test_tokens(void) {
  char dir[256], db[300], wal[300];
  fresh_dir(dir, sizeof(dir), "tokens");
  pb_store *s = open_ok(dir);
  int64_t acct;
  ASSERT_EQ(pb_account_create(s, "carol", &acct), 0);

  char t1[PB_TOKEN_MAX], t2[PB_TOKEN_MAX];
  int64_t before = pb_wall_ms();
  ASSERT_EQ(pb_token_create(s, acct, PB_TOKEN_DEFAULT_TTL_DAYS, t1), 0);
  int64_t after = pb_wall_ms();
  ASSERT_EQ(pb_token_create(s, acct, 1, t2), 0);
  ASSERT(token_shape_ok(t1));
  ASSERT(token_shape_ok(t2));
  ASSERT(strcmp(t1, t2) != 0);

  pb_auth a;
  memset(&a, 0, sizeof(a));
  ASSERT_EQ(pb_token_check(s, t1, pb_wall_ms(), &a), 0);
  ASSERT_EQ(a.account_id, acct);
  ASSERT_STR_EQ(a.account, "carol");
  ASSERT(a.token_id > 0);
  ASSERT(a.expires_ms >= before + 15 * DAY_MS && a.expires_ms <= after + 15 * DAY_MS);
  ASSERT_EQ(pb_token_check(s, t2, pb_wall_ms(), NULL), 0);

  /* Expiry: valid up to the last millisecond, expired from expires_ms on. */
  int64_t expires = a.expires_ms;
  ASSERT_EQ(pb_token_check(s, t1, expires - 1, NULL), 0);
  ASSERT_EQ(pb_token_check(s, t1, expires, NULL), PB_EEXPIRED);
  memset(&a, 0, sizeof(a));
  ASSERT_EQ(pb_token_check(s, t1, expires + 365 * DAY_MS, &a), PB_EEXPIRED);
  ASSERT_STR_EQ(a.account, "carol"); /* still says who */
  ASSERT_EQ(a.expires_ms, expires);

  char t3[PB_TOKEN_MAX];
  ASSERT_EQ(pb_token_create_ttl_ms(s, acct, 1, t3), 0);
  ASSERT_EQ(pb_token_check(s, t3, pb_wall_ms() + 1000, &a), PB_EEXPIRED);
  ASSERT_EQ(a.account_id, acct);

  /* Unknown and malformed tokens. */
  char forged[PB_TOKEN_MAX];
  pb_strlcpy(forged, t1, sizeof(forged));
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  ASSERT_EQ(pb_token_check(s, forged, pb_wall_ms(), &a), PB_EINVAL);
  ASSERT_EQ(pb_token_check(s, t1 + 5, pb_wall_ms(), &a), PB_EINVAL); /* no prefix */
  char longer[PB_TOKEN_MAX + 1];
  pb_strlcpy(longer, t1, sizeof(longer));
  longer[51] = 'A';
  longer[52] = '\0';
  ASSERT_EQ(pb_token_check(s, longer, pb_wall_ms(), &a), PB_EINVAL);
  char shorter[PB_TOKEN_MAX];
  pb_strlcpy(shorter, t1, 50);
  ASSERT_EQ(pb_token_check(s, shorter, pb_wall_ms(), &a), PB_EINVAL);
  pb_strlcpy(forged, t1, sizeof(forged));
  forged[20] = '+';
  ASSERT_EQ(pb_token_check(s, forged, pb_wall_ms(), &a), PB_EINVAL);
  ASSERT_EQ(pb_token_check(s, "", pb_wall_ms(), &a), PB_EINVAL);
  ASSERT_EQ(pb_token_check(s, NULL, pb_wall_ms(), &a), PB_EINVAL);

  /* Bad TTLs and unknown accounts. */
  ASSERT_EQ(pb_token_create(s, acct, 0, t3), PB_EINVAL);
  ASSERT_EQ(pb_token_create(s, acct, -1, t3), PB_EINVAL);
  ASSERT_EQ(pb_token_create(s, acct, PB_TOKEN_MAX_TTL_DAYS + 1, t3), PB_EINVAL);
  ASSERT_EQ(pb_token_create_ttl_ms(s, acct, 0, t3), PB_EINVAL);
  ASSERT_EQ(pb_token_create(s, acct + 1000, 1, t3), PB_ENOTFOUND);

  /* Only the hash reaches the disk: the database and its WAL hold the
   * SHA-256 of t1 but never t1 itself. */
  unsigned char md[32];
  pb_sha256(t1, strlen(t1), md);
  path_join(db, sizeof(db), dir, "ppod.db");
  path_join(wal, sizeof(wal), dir, "ppod.db-wal");
  size_t ndb = 0, nwal = 0;
  unsigned char *fdb = slurp(db, &ndb), *fwal = slurp(wal, &nwal);
  ASSERT(contains(fdb, ndb, md, 32) || contains(fwal, nwal, md, 32));
  ASSERT(!contains(fdb, ndb, t1, strlen(t1)) && !contains(fwal, nwal, t1, strlen(t1)));
  ASSERT(!contains(fdb, ndb, t1 + 5, 43) && !contains(fwal, nwal, t1 + 5, 43));
  free(fdb);
  free(fwal);
  pb_store_close(s);

  /* Tokens survive a reopen. */
  s = open_ok(dir);
  ASSERT_EQ(pb_token_check(s, t1, pb_wall_ms(), &a), 0);
  pb_store_close(s);
}

static void test_usage(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "usage");
  pb_store *s = open_ok(dir);
  int64_t dave, erin, u1, u2, u3, u4, total = -1;
  ASSERT_EQ(pb_account_create(s, "dave", &dave), 0);
  ASSERT_EQ(pb_account_create(s, "erin", &erin), 0);

  int64_t t0 = 1700000000000;
  ASSERT_EQ(pb_usage_begin(s, dave, "screenshot", t0, &u1), 0);
  ASSERT_EQ(pb_usage_begin(s, dave, "screenshot", t0 + 10000, &u2), 0);
  ASSERT_EQ(pb_usage_begin(s, erin, "screenshot", t0, &u3), 0);
  ASSERT(u1 != u2 && u2 != u3);

  /* Open rows bill nothing yet. */
  ASSERT_EQ(pb_usage_total(s, dave, 0, &total), 0);
  ASSERT_EQ(total, 0);

  ASSERT_EQ(pb_usage_end(s, u1, t0 + 1500, 200), 0);
  ASSERT_EQ(pb_usage_end(s, u2, t0 + 10500, 408), 0);
  ASSERT_EQ(pb_usage_end(s, u3, t0 + 7000, 200), 0);
  ASSERT_EQ(pb_usage_total(s, dave, 0, &total), 0);
  ASSERT_EQ(total, 2000);
  ASSERT_EQ(pb_usage_total(s, dave, t0 + 1, &total), 0); /* only u2 */
  ASSERT_EQ(total, 500);
  ASSERT_EQ(pb_usage_total(s, erin, 0, &total), 0);
  ASSERT_EQ(total, 7000);

  /* Ending twice changes nothing. */
  ASSERT_EQ(pb_usage_end(s, u1, t0 + 99999, 200), PB_EEXIST);
  ASSERT_EQ(pb_usage_total(s, dave, 0, &total), 0);
  ASSERT_EQ(total, 2000);
  ASSERT_EQ(pb_usage_end(s, 424242, t0, 200), PB_ENOTFOUND);

  /* A clock stepping back bills 0, never a negative amount. */
  ASSERT_EQ(pb_usage_begin(s, dave, "pdf", t0 + 20000, &u4), 0);
  ASSERT_EQ(pb_usage_end(s, u4, t0 + 19000, 200), 0);
  ASSERT_EQ(pb_usage_total(s, dave, 0, &total), 0);
  ASSERT_EQ(total, 2000);

  ASSERT_EQ(pb_usage_begin(s, dave + erin + 100, "screenshot", t0, &u4), PB_ENOTFOUND);
  ASSERT_EQ(pb_usage_begin(s, dave, "", t0, &u4), PB_EINVAL);
  ASSERT_EQ(pb_usage_begin(s, dave, "a b", t0, &u4), PB_EINVAL);
  ASSERT_EQ(pb_usage_end(s, u1, t0, -1), PB_EINVAL);

  int closed = -1;
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 0);
  pb_store_close(s);
}

/* Reads one usage row straight from the file, as an auditor would. */
static void raw_usage_row(const char *dir, int64_t id, int64_t *start, int64_t *end, int64_t *ms,
                          int *status) {
  char db[300];
  path_join(db, sizeof(db), dir, "ppod.db");
  sqlite3 *raw = NULL;
  sqlite3_stmt *st = NULL;
  ASSERT_EQ(sqlite3_open(db, &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT start_ms, end_ms, ms, status FROM usage WHERE id = ?",
                               -1, &st, NULL),
            SQLITE_OK);
  sqlite3_bind_int64(st, 1, id);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  ASSERT_EQ(sqlite3_column_type(st, 1) == SQLITE_NULL ? 1 : 0, end == NULL ? 1 : 0);
  *start = sqlite3_column_int64(st, 0);
  if (end) {
    *end = sqlite3_column_int64(st, 1);
    *ms = sqlite3_column_int64(st, 2);
    *status = sqlite3_column_int(st, 3);
  }
  sqlite3_finalize(st);
  sqlite3_close(raw);
}

static void test_close_open_after_crash(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "crash");
  pb_store *s = open_ok(dir);
  int64_t acct, done_id, open_id, start, end, ms, total;
  int status, closed = -1;
  ASSERT_EQ(pb_account_create(s, "frank", &acct), 0);
  ASSERT_EQ(pb_usage_begin(s, acct, "screenshot", 1000, &done_id), 0);
  ASSERT_EQ(pb_usage_end(s, done_id, 1250, 200), 0);
  ASSERT_EQ(pb_usage_begin(s, acct, "screenshot", 5000, &open_id), 0);
  pb_store_close(s); /* "crash": the job never ended */

  raw_usage_row(dir, open_id, &start, NULL, NULL, NULL); /* still open on disk */
  s = open_ok(dir);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 250);
  /* A late end from the old run cannot bill it after all. */
  ASSERT_EQ(pb_usage_end(s, open_id, 9000, 200), PB_EEXIST);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 250);
  pb_store_close(s);

  raw_usage_row(dir, open_id, &start, &end, &ms, &status);
  ASSERT_EQ(start, 5000);
  ASSERT_EQ(end, 5000);
  ASSERT_EQ(ms, 0);
  ASSERT_EQ(status, 0);
  raw_usage_row(dir, done_id, &start, &end, &ms, &status); /* untouched */
  ASSERT_EQ(ms, 250);
  ASSERT_EQ(status, 200);

  /* A real crash: a child process begins a row and dies without closing the
   * store; the row it committed is there for the next run to close. */
  fflush(NULL);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    pb_store *c = NULL;
    int64_t id;
    if (pb_store_open(dir, &c) || pb_usage_begin(c, acct, "screenshot", 7000, &id)) _exit(3);
    abort();
  }
  int ws = 0;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGABRT);
  s = open_ok(dir);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(pb_usage_close_open(s, NULL), 0);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 250);
  pb_store_close(s);
}

/* Runs SQL on the database file directly, as an older build or an auditor. */
static void raw_exec(const char *dir, const char *sql) {
  char db[300];
  path_join(db, sizeof(db), dir, "ppod.db");
  sqlite3 *raw = NULL;
  ASSERT_EQ(sqlite3_open(db, &raw), SQLITE_OK);
  char *err = NULL;
  int rc = sqlite3_exec(raw, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) fprintf(stderr, "raw_exec: %s\n", err ? err : "?");
  sqlite3_free(err);
  ASSERT_EQ(rc, SQLITE_OK);
  ASSERT_EQ(sqlite3_close(raw), SQLITE_OK);
}

static int64_t raw_int(const char *dir, const char *sql) {
  char db[300];
  path_join(db, sizeof(db), dir, "ppod.db");
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

/* A data dir written by the first release (schema 1, verbatim) keeps its
 * accounts, tokens and usage, and gains the new tables. */
static void test_migrate_from_v1(void) {
  char dir[256], db[300], sql[1024], h[65];
  fresh_dir(dir, sizeof(dir), "migrate");
  ASSERT_EQ(mkdir(dir, 0700), 0);
  path_join(db, sizeof(db), dir, "ppod.db");
  const char *tok = "ppod_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  const char *old_tok = "ppod_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";
  raw_exec(dir, "PRAGMA journal_mode = WAL;"
                "CREATE TABLE accounts ("
                "  id INTEGER PRIMARY KEY,"
                "  name TEXT NOT NULL UNIQUE,"
                "  created_ms INTEGER NOT NULL);"
                "CREATE TABLE tokens ("
                "  id INTEGER PRIMARY KEY,"
                "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
                "  hash BLOB NOT NULL UNIQUE,"
                "  created_ms INTEGER NOT NULL,"
                "  expires_ms INTEGER NOT NULL);"
                "CREATE INDEX tokens_account ON tokens(account_id);"
                "CREATE TABLE usage ("
                "  id INTEGER PRIMARY KEY,"
                "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
                "  kind TEXT NOT NULL,"
                "  start_ms INTEGER NOT NULL,"
                "  end_ms INTEGER,"
                "  ms INTEGER,"
                "  status INTEGER);"
                "CREATE INDEX usage_account_start ON usage(account_id, start_ms);"
                "CREATE INDEX usage_open ON usage(id) WHERE end_ms IS NULL;"
                "PRAGMA user_version = 1;"
                "INSERT INTO accounts VALUES (7, 'olga', 1600000000000);"
                "INSERT INTO accounts VALUES (9, 'pete', 1600000000001);"
                "INSERT INTO usage VALUES (1, 7, 'screenshot', 1000, 1400, 400, 200);"
                "INSERT INTO usage VALUES (2, 7, 'screenshot', 5000, NULL, NULL, NULL);");
  sha_hex(tok, strlen(tok), h);
  snprintf(sql, sizeof(sql), "INSERT INTO tokens VALUES (3, 7, x'%s', 1, 4000000000000)", h);
  raw_exec(dir, sql);
  sha_hex(old_tok, strlen(old_tok), h);
  snprintf(sql, sizeof(sql), "INSERT INTO tokens VALUES (4, 9, x'%s', 1, 2000)", h);
  raw_exec(dir, sql);

  pb_store *s = open_ok(dir);
  ASSERT_EQ(raw_int(dir, "PRAGMA user_version"), 10);
  /* Credits: an account from before them is unmetered, never refused. */
  int64_t micro = -1;
  int metered = -1;
  ASSERT_EQ(pb_store_account_balance(s, 7, &micro, &metered), 0);
  ASSERT_EQ(metered, 0);
  int64_t id = 0, total = -1;
  ASSERT_EQ(pb_account_find(s, "olga", &id), 0);
  ASSERT_EQ(id, 7);
  pb_account *v = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_account_list(s, &v, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(v[1].name, "pete");
  ASSERT_EQ(v[1].created_ms, 1600000000001);
  free(v);
  pb_auth a;
  ASSERT_EQ(pb_token_check(s, tok, 3000000000000, &a), 0);
  ASSERT_EQ(a.account_id, 7);
  ASSERT_EQ(a.token_id, 3);
  ASSERT_EQ(pb_token_check(s, old_tok, 3000, &a), PB_EEXPIRED);
  ASSERT_STR_EQ(a.account, "pete");

  /* The old run's open row has no heartbeat: closed at its start. */
  int closed = -1;
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(pb_usage_total(s, 7, 0, &total), 0);
  ASSERT_EQ(total, 400);

  /* The new tables work on the migrated file. */
  pb_limits l;
  ASSERT_EQ(pb_limits_get(s, 7, &l), 0);
  ASSERT_EQ(l.max_concurrent_sessions, 3);
  ASSERT_EQ(pb_limits_set(s, 7, "maxConcurrentSessions", "4", NULL, 0), 0);
  ASSERT_EQ(pb_session_open_record(s, "s-1", 7, 10000), 0);
  int64_t u;
  ASSERT_EQ(pb_usage_begin(s, 7, "session", 10000, &u), 0);
  ASSERT_EQ(pb_usage_heartbeat(s, u, 10500), 0);
  pb_store_close(s);

  /* Reopening migrates nothing again and loses nothing. */
  s = open_ok(dir);
  ASSERT_EQ(raw_int(dir, "PRAGMA user_version"), 10);
  ASSERT_EQ(pb_limits_get(s, 7, &l), 0);
  ASSERT_EQ(l.max_concurrent_sessions, 4);
  ASSERT_EQ(pb_token_check(s, tok, 3000000000000, NULL), 0);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(pb_usage_total(s, 7, 0, &total), 0);
  ASSERT_EQ(total, 900);
  pb_store_close(s);
}

static void test_limits(void) {
  char dir[256], err[256];
  fresh_dir(dir, sizeof(dir), "limits");
  pb_store *s = open_ok(dir);
  int64_t kim, lee;
  ASSERT_EQ(pb_account_create(s, "kim", &kim), 0);
  ASSERT_EQ(pb_account_create(s, "lee", &lee), 0);

  pb_limits d, l;
  pb_limits_default(&d);
  ASSERT_EQ(d.max_concurrent_sessions, 3);
  ASSERT_EQ(d.acquisitions_per_minute, 30);
  ASSERT_EQ(d.quick_actions_per_second, 100);
  ASSERT_EQ(d.keep_alive_max_ms, 600000);
  ASSERT_EQ(d.concurrent_quick_actions, 6);
  ASSERT_EQ(d.browser_ms_per_day, 0);
  memset(&l, 0x5a, sizeof(l));
  ASSERT_EQ(pb_limits_get(s, kim, &l), 0);
  ASSERT_EQ(memcmp(&l, &d, sizeof(l)), 0);

  /* The names, in struct order, with their values. */
  const char *names[] = {"maxConcurrentSessions",  "acquisitionsPerMinute",
                         "quickActionsPerSecond",  "keepAliveMaxMs",
                         "concurrentQuickActions", "browserMsPerDay",
                         "maxContexts",            "contextStorageMiB",
                         "recordingStorageMiB"};
  int64_t want[] = {3, 30, 100, 600000, 6, 0, 10, 100, 500}, v;
  for (size_t i = 0; i < PB_LIMITS_COUNT; i++) {
    ASSERT_STR_EQ(pb_limits_key(&d, i, &v), names[i]);
    ASSERT_EQ(v, want[i]);
  }
  ASSERT(pb_limits_key(&d, PB_LIMITS_COUNT, &v) == NULL);

  ASSERT_EQ(pb_limits_set(s, kim, "maxConcurrentSessions", "5", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "acquisitionsPerMinute", "60000", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "quickActionsPerSecond", "1", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "keepAliveMaxMs", "86400000", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "concurrentQuickActions", "0", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "browserMsPerDay", "3600000", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "maxConcurrentSessions", "4", err, sizeof(err)), 0); /* again */
  ASSERT_EQ(pb_limits_get(s, kim, &l), 0);
  ASSERT_EQ(l.max_concurrent_sessions, 4);
  ASSERT_EQ(l.acquisitions_per_minute, 60000);
  ASSERT_EQ(l.quick_actions_per_second, 1);
  ASSERT_EQ(l.keep_alive_max_ms, 86400000);
  ASSERT_EQ(l.concurrent_quick_actions, 0);
  ASSERT_EQ(l.browser_ms_per_day, 3600000);
  /* One account's limits are not another's. */
  ASSERT_EQ(pb_limits_get(s, lee, &l), 0);
  ASSERT_EQ(memcmp(&l, &d, sizeof(l)), 0);

  struct {
    const char *key, *value, *msg;
  } bad[] = {
      {"maxconcurrentsessions", "1", "unknown limit"},
      {"max_concurrent_sessions", "1", "unknown limit"},
      {"", "1", "unknown limit"},
      {"maxConcurrentSessions", "abc", "whole number from 0 to 1000"},
      {"maxConcurrentSessions", "1001", "whole number from 0 to 1000"},
      {"maxConcurrentSessions", "-1", "whole number"},
      {"maxConcurrentSessions", "2.5", "whole number"},
      {"maxConcurrentSessions", "", "whole number"},
      {"maxConcurrentSessions", "3x", "whole number"},
      {"acquisitionsPerMinute", "0", "from 1 to 60000"},
      {"quickActionsPerSecond", "10001", "from 1 to 10000"},
      {"keepAliveMaxMs", "999", "from 1000 to 86400000"},
      {"browserMsPerDay", "-5", "browserMsPerDay"},
      {"browserMsPerDay", "99999999999999999999", "browserMsPerDay"},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    err[0] = '\0';
    ASSERT_EQ(pb_limits_set(s, kim, bad[i].key, bad[i].value, err, sizeof(err)), PB_EINVAL);
    ASSERT_CONTAINS(err, bad[i].msg);
  }
  ASSERT_EQ(pb_limits_set(s, kim, "bogus", "1", NULL, 0), PB_EINVAL); /* err optional */
  ASSERT_EQ(pb_limits_set(s, kim, NULL, "1", err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_limits_set(s, kim, "keepAliveMaxMs", NULL, err, sizeof(err)), PB_EINVAL);
  /* A short err buffer is cut, not overrun. */
  char tiny[8];
  ASSERT_EQ(pb_limits_set(s, kim, "bogus", "1", tiny, sizeof(tiny)), PB_EINVAL);
  ASSERT_EQ(strlen(tiny), 7);
  /* None of the refused settings changed anything. */
  ASSERT_EQ(pb_limits_get(s, kim, &l), 0);
  ASSERT_EQ(l.max_concurrent_sessions, 4);
  ASSERT_EQ(l.acquisitions_per_minute, 60000);
  ASSERT_EQ(l.keep_alive_max_ms, 86400000);
  ASSERT_EQ(l.browser_ms_per_day, 3600000);

  /* Unknown accounts. */
  ASSERT_EQ(pb_limits_set(s, kim + lee + 100, "maxConcurrentSessions", "2", err, sizeof(err)),
            PB_ENOTFOUND);
  ASSERT_CONTAINS(err, "no such account");
  ASSERT_EQ(pb_limits_set(s, kim + lee + 100, "maxConcurrentSessions", "default", err,
                          sizeof(err)),
            PB_ENOTFOUND);
  ASSERT_EQ(pb_limits_get(s, kim + lee + 100, &l), PB_ENOTFOUND);
  ASSERT_EQ(memcmp(&l, &d, sizeof(l)), 0);

  /* "default" forgets the setting; only set keys are rows. */
  ASSERT_EQ(raw_int(dir, "SELECT COUNT(*) FROM limits"), 6);
  ASSERT_EQ(pb_limits_set(s, kim, "maxConcurrentSessions", "default", err, sizeof(err)), 0);
  ASSERT_EQ(pb_limits_set(s, kim, "maxConcurrentSessions", "default", err, sizeof(err)), 0);
  ASSERT_EQ(raw_int(dir, "SELECT COUNT(*) FROM limits"), 5);
  ASSERT_EQ(pb_limits_get(s, kim, &l), 0);
  ASSERT_EQ(l.max_concurrent_sessions, 3);
  ASSERT_EQ(l.acquisitions_per_minute, 60000);

  /* pb_limits_apply: the same checks on a struct. */
  pb_limits x = d;
  ASSERT_EQ(pb_limits_apply(&x, "browserMsPerDay", "86400000000", err, sizeof(err)), 0);
  ASSERT_EQ(x.browser_ms_per_day, 86400000000);
  ASSERT_EQ(pb_limits_apply(&x, "browserMsPerDay", "86400000001", err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(x.browser_ms_per_day, 86400000000);
  ASSERT_EQ(pb_limits_apply(&x, "browserMsPerDay", "default", err, sizeof(err)), 0);
  ASSERT_EQ(x.browser_ms_per_day, 0);
  pb_store_close(s);

  /* Limits persist, and a row edited by hand to nonsense is clamped. */
  raw_exec(dir, "UPDATE limits SET value = 0 WHERE key = 'acquisitionsPerMinute';"
                "INSERT INTO limits VALUES (1, 'fromTheFuture', 5)");
  s = open_ok(dir);
  ASSERT_EQ(pb_limits_get(s, kim, &l), 0);
  ASSERT_EQ(l.acquisitions_per_minute, 1);
  ASSERT_EQ(l.browser_ms_per_day, 3600000);
  pb_store_close(s);
}

static void test_usage_heartbeat(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "heartbeat");
  pb_store *s = open_ok(dir);
  int64_t acct, hb, quiet, done, total, start, end, ms;
  int status, closed = -1;
  ASSERT_EQ(pb_account_create(s, "mia", &acct), 0);
  int64_t t0 = 1700000000000;
  ASSERT_EQ(pb_usage_begin(s, acct, "session", t0, &hb), 0); /* "session" is a kind */
  ASSERT_EQ(pb_usage_begin(s, acct, "screenshot", t0 + 100, &quiet), 0);
  ASSERT_EQ(pb_usage_begin(s, acct, "pdf", t0 + 200, &done), 0);
  ASSERT_EQ(pb_usage_heartbeat(s, hb, t0 + 1000), 0);
  ASSERT_EQ(pb_usage_heartbeat(s, hb, t0 + 3000), 0);
  ASSERT_EQ(pb_usage_heartbeat(s, hb, t0 + 2000), 0); /* late, out of order: ignored */
  ASSERT_EQ(pb_usage_heartbeat(s, done, t0 + 250), 0);
  ASSERT_EQ(pb_usage_end(s, done, t0 + 700, 200), 0);
  /* Heartbeats bill nothing while the row is open. */
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 500);
  ASSERT_EQ(pb_usage_heartbeat(s, done, t0 + 9000), PB_EEXIST);
  ASSERT_EQ(pb_usage_heartbeat(s, 424242, t0), PB_ENOTFOUND);
  pb_store_close(s); /* the crash */

  s = open_ok(dir);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 2);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 500 + 3000);
  /* Nothing the old run says later is billed again. */
  ASSERT_EQ(pb_usage_end(s, hb, t0 + 60000, 200), PB_EEXIST);
  ASSERT_EQ(pb_usage_heartbeat(s, hb, t0 + 60000), PB_EEXIST);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 3500);
  pb_store_close(s);
  raw_usage_row(dir, hb, &start, &end, &ms, &status);
  ASSERT_EQ(end, t0 + 3000);
  ASSERT_EQ(ms, 3000);
  ASSERT_EQ(status, 0);
  raw_usage_row(dir, quiet, &start, &end, &ms, &status);
  ASSERT_EQ(end, t0 + 100);
  ASSERT_EQ(ms, 0);
  raw_usage_row(dir, done, &start, &end, &ms, &status);
  ASSERT_EQ(ms, 500);
  ASSERT_EQ(status, 200);

  /* kill -9 for real: a child begins a row, beats twice and dies. */
  fflush(NULL);
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    pb_store *c = NULL;
    int64_t id;
    if (pb_store_open(dir, &c) || pb_usage_begin(c, acct, "session", t0 + 100000, &id) ||
        pb_usage_heartbeat(c, id, t0 + 101000) || pb_usage_heartbeat(c, id, t0 + 104000))
      _exit(3);
    kill(getpid(), SIGKILL);
    _exit(4);
  }
  int ws = 0;
  ASSERT_EQ(waitpid(pid, &ws, 0), pid);
  ASSERT(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
  s = open_ok(dir);
  ASSERT_EQ(pb_usage_close_open(s, &closed), 0);
  ASSERT_EQ(closed, 1);
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, 3500 + 4000);
  pb_store_close(s);
}

static void test_usage_sums(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "sums");
  pb_store *s = open_ok(dir);
  int64_t nina, omar, id, ms = -1, count = -1;
  ASSERT_EQ(pb_account_create(s, "nina", &nina), 0);
  ASSERT_EQ(pb_account_create(s, "omar", &omar), 0);
  const int64_t from = 1700000000000, to = from + DAY_MS;
  struct {
    int64_t acct;
    const char *kind;
    int64_t start, dur; /* dur < 0: left open */
  } rows[] = {
      {nina, "screenshot", from, 100},       /* the first ms of the range counts */
      {nina, "screenshot", from + 10, 200},
      {nina, "pdf", from + 20, 50},
      {nina, "session", from + 30, 5000},
      {nina, "session", from + 40, -1},      /* open: not yet billed */
      {nina, "screenshot", from - 1, 1000},  /* before the range */
      {nina, "screenshot", to, 1000},        /* the range is half-open */
      {nina, "pdf", to - 1, 7},              /* started inside, ends after: counts */
      {omar, "screenshot", from + 50, 9999}, /* another account */
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    ASSERT_EQ(pb_usage_begin(s, rows[i].acct, rows[i].kind, rows[i].start, &id), 0);
    if (rows[i].dur >= 0) ASSERT_EQ(pb_usage_end(s, id, rows[i].start + rows[i].dur, 200), 0);
  }
  ASSERT_EQ(pb_usage_sum(s, nina, from, to, &ms, &count), 0);
  ASSERT_EQ(ms, 100 + 200 + 50 + 5000 + 7);
  ASSERT_EQ(count, 5);
  ASSERT_EQ(pb_usage_sum(s, nina, from, to, NULL, &count), 0);
  ASSERT_EQ(pb_usage_sum(s, nina, from, to, &ms, NULL), 0);
  ASSERT_EQ(pb_usage_sum(s, nina, from, from, &ms, &count), 0); /* empty range */
  ASSERT_EQ(ms, 0);
  ASSERT_EQ(count, 0);
  ASSERT_EQ(pb_usage_sum(s, nina, to, from, &ms, &count), PB_EINVAL);
  ASSERT_EQ(pb_usage_sum(s, omar, from, to, &ms, &count), 0);
  ASSERT_EQ(ms, 9999);
  ASSERT_EQ(count, 1);
  ASSERT_EQ(pb_usage_sum(s, nina + omar + 100, from, to, &ms, &count), 0);
  ASSERT_EQ(ms, 0);
  ASSERT_EQ(count, 0);

  pb_usage_kind *k = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_usage_by_kind(s, nina, from, to, &k, &n), 0);
  ASSERT_EQ(n, 3);
  ASSERT_STR_EQ(k[0].kind, "pdf");
  ASSERT_EQ(k[0].ms, 57);
  ASSERT_EQ(k[0].count, 2);
  ASSERT_STR_EQ(k[1].kind, "screenshot");
  ASSERT_EQ(k[1].ms, 300);
  ASSERT_EQ(k[1].count, 2);
  ASSERT_STR_EQ(k[2].kind, "session");
  ASSERT_EQ(k[2].ms, 5000);
  ASSERT_EQ(k[2].count, 1);
  free(k);
  /* The longest kind name survives whole. */
  char longest[64];
  memset(longest, 'k', 63);
  longest[63] = '\0';
  ASSERT_EQ(pb_usage_begin(s, omar, longest, from + 60, &id), 0);
  ASSERT_EQ(pb_usage_end(s, id, from + 61, 200), 0);
  ASSERT_EQ(pb_usage_by_kind(s, omar, from, to, &k, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(k[0].kind, longest);
  free(k);
  k = (pb_usage_kind *)1;
  ASSERT_EQ(pb_usage_by_kind(s, nina, to + 1, to + 2, &k, &n), 0);
  ASSERT(k == NULL && n == 0);
  ASSERT_EQ(pb_usage_by_kind(s, nina, to, from, &k, &n), PB_EINVAL);
  pb_store_close(s);
}

static void test_sessions(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "sessions");
  pb_store *s = open_ok(dir);
  int64_t pia, quinn;
  ASSERT_EQ(pb_account_create(s, "pia", &pia), 0);
  ASSERT_EQ(pb_account_create(s, "quinn", &quinn), 0);
  const int64_t t0 = 1700000000000;

  ASSERT_EQ(pb_session_open_record(s, "a1", pia, t0), 0);
  ASSERT_EQ(pb_session_open_record(s, "a1", pia, t0 + 5), PB_EEXIST);
  ASSERT_EQ(pb_session_open_record(s, "a1", quinn, t0 + 5), PB_EEXIST);
  ASSERT_EQ(pb_session_open_record(s, "b1", pia + quinn + 100, t0), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_open_record(s, "", pia, t0), PB_EINVAL);
  ASSERT_EQ(pb_session_open_record(s, "a b", pia, t0), PB_EINVAL);
  ASSERT_EQ(pb_session_open_record(s, "a1", pia, -1), PB_EINVAL);
  char id71[72], id72[73];
  memset(id71, 'x', 71);
  id71[71] = '\0';
  memset(id72, 'y', 72);
  id72[72] = '\0';
  ASSERT_EQ(pb_session_open_record(s, id71, quinn, t0), 0);
  ASSERT_EQ(pb_session_open_record(s, id72, quinn, t0), PB_EINVAL);

  /* Open sessions are not history yet. */
  pb_session_rec *h = (pb_session_rec *)1;
  size_t n = 99;
  ASSERT_EQ(pb_session_history(s, pia, 10, &h, &n), 0);
  ASSERT(h == NULL && n == 0);

  ASSERT_EQ(pb_session_heartbeat(s, "a1", t0 + 1000), 0);
  ASSERT_EQ(pb_session_heartbeat(s, "nope", t0 + 1000), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_close_record(s, "a1", t0 + 2500, "NormalClosure", "client closed"), 0);
  ASSERT_EQ(pb_session_close_record(s, "a1", t0 + 9999, "BrowserIdle", "again"), PB_EEXIST);
  ASSERT_EQ(pb_session_heartbeat(s, "a1", t0 + 3000), PB_EEXIST);
  ASSERT_EQ(pb_session_close_record(s, "nope", t0, "Released", NULL), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_close_record(s, id71, t0, "", NULL), PB_EINVAL);
  ASSERT_EQ(pb_session_close_record(s, id71, t0, "Not A Word", NULL), PB_EINVAL);
  ASSERT_EQ(pb_session_close_record(s, id71, t0, "ThirtyTwoCharactersLongReason_xx", NULL),
            PB_EINVAL);

  /* A clock stepping back bills 0; a long text is cut at a character. */
  char text[400];
  size_t tl = 0;
  text[tl++] = 'a';
  text[tl++] = 'b';
  while (tl + 2 < sizeof(text)) {
    text[tl++] = (char)0xC3; /* "é", two bytes; byte 255 is the second half of one */
    text[tl++] = (char)0xA9;
  }
  text[tl] = '\0';
  ASSERT_EQ(pb_session_open_record(s, "a2", pia, t0 + 10000), 0);
  ASSERT_EQ(pb_session_close_record(s, "a2", t0 + 9000, "BrowserCrashed", text), 0);
  ASSERT_EQ(pb_session_open_record(s, "a3", pia, t0 + 20000), 0);
  /* What the clients met: recorded before or after the row closes (the
   * last word wins), cut at a character like the reason text. */
  pb_session_stats st = {.refused_calls = 3, .client_connections = 2, .client_disconnects = 1};
  pb_strlcpy(st.last_refusal, "refused by ppod: Browser.crash is not available", 256);
  ASSERT_EQ(pb_session_stats_record(s, "a3", &st), 0);
  ASSERT_EQ(pb_session_close_record(s, "a3", t0 + 80000, "BrowserIdle", NULL), 0);
  st.refused_calls = 4;
  ASSERT_EQ(pb_session_stats_record(s, "a3", &st), 0);
  ASSERT_EQ(pb_session_stats_record(s, "nope", &st), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_stats_record(s, "a b", &st), PB_EINVAL);
  /* The last handoff: who ended it, or NULL while it waited. */
  ASSERT_EQ(pb_session_handoff_record(s, "a3", "completed", "person"), 0);
  ASSERT_EQ(pb_session_handoff_record(s, "a2", "waiting", NULL), 0);
  ASSERT_EQ(pb_session_handoff_record(s, "nope", "timeout", "timeout"), PB_ENOTFOUND);
  ASSERT_EQ(pb_session_handoff_record(s, "a3", "no such'state", NULL), PB_EINVAL);
  ASSERT_EQ(pb_session_close_record(s, id71, t0 + 1, "Released", "bye"), 0);

  ASSERT_EQ(pb_session_history(s, pia, 10, &h, &n), 0);
  ASSERT_EQ(n, 3);
  ASSERT_STR_EQ(h[0].id, "a3"); /* most recently ended first */
  ASSERT_EQ(h[0].start_ms, t0 + 20000);
  ASSERT_EQ(h[0].end_ms, t0 + 80000);
  ASSERT_EQ(h[0].browser_ms, 60000);
  ASSERT_STR_EQ(h[0].reason, "BrowserIdle");
  ASSERT_STR_EQ(h[0].reason_text, "");
  ASSERT_EQ(h[0].stats.refused_calls, 4);
  ASSERT_STR_EQ(h[0].stats.last_refusal, "refused by ppod: Browser.crash is not available");
  ASSERT_EQ(h[0].stats.client_connections, 2);
  ASSERT_EQ(h[0].stats.client_disconnects, 1);
  ASSERT_STR_EQ(h[0].handoff_state, "completed");
  ASSERT_STR_EQ(h[0].handoff_ended_by, "person");
  ASSERT_STR_EQ(h[1].handoff_state, "waiting");
  ASSERT_STR_EQ(h[1].handoff_ended_by, "");
  ASSERT_STR_EQ(h[1].id, "a2");
  ASSERT_EQ(h[1].stats.refused_calls, 0); /* none recorded */
  ASSERT_STR_EQ(h[1].stats.last_refusal, "");
  ASSERT_EQ(h[1].browser_ms, 0);
  ASSERT_STR_EQ(h[1].reason, "BrowserCrashed");
  ASSERT_EQ(strlen(h[1].reason_text), 254); /* "ab" + 126 whole "é"s; 255 would split one */
  ASSERT_EQ(memcmp(h[1].reason_text, text, 254), 0);
  ASSERT_STR_EQ(h[2].id, "a1");
  ASSERT_EQ(h[2].start_ms, t0);
  ASSERT_EQ(h[2].end_ms, t0 + 2500);
  ASSERT_EQ(h[2].browser_ms, 2500);
  ASSERT_STR_EQ(h[2].reason, "NormalClosure");
  ASSERT_STR_EQ(h[2].reason_text, "client closed");
  free(h);
  ASSERT_EQ(pb_session_history(s, pia, 2, &h, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT_STR_EQ(h[1].id, "a2");
  free(h);
  ASSERT_EQ(pb_session_history(s, quinn, PB_SESSION_HISTORY_MAX, &h, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(h[0].id, id71);
  ASSERT_STR_EQ(h[0].reason_text, "bye");
  free(h);
  ASSERT_EQ(pb_session_history(s, pia, 0, &h, &n), PB_EINVAL);
  ASSERT_EQ(pb_session_history(s, pia, PB_SESSION_HISTORY_MAX + 1, &h, &n), PB_EINVAL);

  /* Orphans: sessions a crash left open. */
  ASSERT_EQ(pb_session_open_record(s, "o-beat", pia, t0 + 100000), 0);
  ASSERT_EQ(pb_session_heartbeat(s, "o-beat", t0 + 104000), 0);
  ASSERT_EQ(pb_session_heartbeat(s, "o-beat", t0 + 101000), 0); /* never moves back */
  ASSERT_EQ(pb_session_open_record(s, "o-quiet", pia, t0 + 200000), 0);
  ASSERT_EQ(pb_session_open_record(s, "o-ahead", quinn, t0 + 300000), 0);
  ASSERT_EQ(pb_session_heartbeat(s, "o-ahead", t0 + 900000), 0); /* clock ran ahead */
  pb_store_close(s);

  s = open_ok(dir);
  int closed = -1;
  ASSERT_EQ(pb_session_close_orphans(s, t0 + 400000, &closed), 0);
  ASSERT_EQ(closed, 3);
  ASSERT_EQ(pb_session_close_orphans(s, t0 + 500000, &closed), 0);
  ASSERT_EQ(closed, 0);
  ASSERT_EQ(pb_session_close_orphans(s, t0 + 500000, NULL), 0);
  ASSERT_EQ(pb_session_close_record(s, "o-beat", t0 + 500000, "NormalClosure", NULL), PB_EEXIST);
  ASSERT_EQ(pb_session_history(s, pia, 10, &h, &n), 0);
  ASSERT_EQ(n, 5);
  ASSERT_STR_EQ(h[0].id, "o-quiet");
  ASSERT_EQ(h[0].end_ms, t0 + 200000);
  ASSERT_EQ(h[0].browser_ms, 0);
  ASSERT_STR_EQ(h[0].reason, "Shutdown");
  ASSERT_STR_EQ(h[0].reason_text, "service stopped unexpectedly");
  ASSERT_STR_EQ(h[1].id, "o-beat");
  ASSERT_EQ(h[1].end_ms, t0 + 104000);
  ASSERT_EQ(h[1].browser_ms, 4000);
  ASSERT_STR_EQ(h[1].reason, "Shutdown");
  free(h);
  ASSERT_EQ(pb_session_history(s, quinn, 1, &h, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(h[0].id, "o-ahead");
  ASSERT_EQ(h[0].end_ms, t0 + 400000); /* not past now */
  ASSERT_EQ(h[0].browser_ms, 100000);
  free(h);
  pb_store_close(s);
}

#define THREADS 4
#define ROWS_PER_THREAD 50

struct worker {
  pb_store *s;
  int64_t acct;
  int failures;
};

static void *worker_main(void *arg) {
  struct worker *w = arg;
  for (int i = 0; i < ROWS_PER_THREAD; i++) {
    int64_t id;
    if (pb_usage_begin(w->s, w->acct, "screenshot", 1000 + i, &id) ||
        pb_usage_end(w->s, id, 1010 + i, 200))
      w->failures++;
  }
  return NULL;
}

static void test_threads(void) {
  char dir[256];
  fresh_dir(dir, sizeof(dir), "threads");
  pb_store *s = open_ok(dir);
  int64_t acct, total;
  ASSERT_EQ(pb_account_create(s, "grace", &acct), 0);
  pthread_t th[THREADS];
  struct worker w[THREADS];
  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker){s, acct, 0};
    ASSERT_EQ(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    ASSERT_EQ(pthread_join(th[i], NULL), 0);
    ASSERT_EQ(w[i].failures, 0);
  }
  ASSERT_EQ(pb_usage_total(s, acct, 0, &total), 0);
  ASSERT_EQ(total, THREADS * ROWS_PER_THREAD * 10);
  pb_store_close(s);
}

/* Runs pb_admin_main with stdout and stderr captured into out/err (each
 * malloc'd, NUL-terminated). */
static int run_admin(const char *dir, char **out, char **err, int argc, ...) {
  char *argv[16];
  va_list ap;
  va_start(ap, argc);
  ASSERT(argc < 16);
  for (int i = 0; i < argc; i++) argv[i] = va_arg(ap, char *);
  va_end(ap);
  argv[argc] = NULL;

  char pout[300], perr[300];
  path_join(pout, sizeof(pout), root, "admin.out");
  path_join(perr, sizeof(perr), root, "admin.err");
  fflush(stdout);
  fflush(stderr);
  int save1 = dup(1), save2 = dup(2);
  int f1 = open(pout, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int f2 = open(perr, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT(save1 >= 0 && save2 >= 0 && f1 >= 0 && f2 >= 0);
  dup2(f1, 1);
  dup2(f2, 2);
  int ex = pb_admin_main(dir, argc, argv);
  fflush(stdout);
  fflush(stderr);
  dup2(save1, 1);
  dup2(save2, 2);
  close(save1);
  close(save2);
  close(f1);
  close(f2);
  size_t n;
  *out = (char *)slurp(pout, &n);
  *err = (char *)slurp(perr, &n);
  ASSERT(*out && *err);
  return ex;
}

/* The token alone on one line: returns it (in tok) or fails. */
static void one_token_line(const char *out, char tok[PB_TOKEN_MAX]) {
  size_t n = strlen(out);
  ASSERT(n == 52 && out[51] == '\n');
  memcpy(tok, out, 51);
  tok[51] = '\0';
  ASSERT(token_shape_ok(tok));
}

static void test_admin(void) {
  char dir[256], tok[PB_TOKEN_MAX], *out, *err;
  fresh_dir(dir, sizeof(dir), "admin");
  pb_auth a;
  pb_store *s;

  int64_t now = pb_wall_ms();
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "heidi"), 0);
  one_token_line(out, tok);
  ASSERT_CONTAINS(err, "heidi");
  free(out);
  free(err);
  s = open_ok(dir);
  ASSERT_EQ(pb_token_check(s, tok, pb_wall_ms(), &a), 0);
  ASSERT_STR_EQ(a.account, "heidi");
  ASSERT(a.expires_ms >= now + 15 * DAY_MS && a.expires_ms <= pb_wall_ms() + 15 * DAY_MS);
  pb_store_close(s);

  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "heidi"), 1);
  ASSERT_STR_EQ(out, "");
  ASSERT_CONTAINS(err, "already exists");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "bad name"), 2);
  ASSERT_STR_EQ(out, "");
  free(out);
  free(err);

  ASSERT_EQ(run_admin(dir, &out, &err, 5, "account", "create", "ivan", "--data-dir", dir), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 2, "account", "list"), 0);
  /* "NAME\tYYYY-MM-DDTHH:MM:SSZ\n" per account, oldest first. */
  ASSERT_EQ(strlen(out), strlen("heidi\t2024-11-22T00:02:03Z\nivan\t2024-11-22T00:02:03Z\n"));
  ASSERT(!strncmp(out, "heidi\t", 6) && out[6 + 4] == '-' && out[6 + 10] == 'T' &&
         out[6 + 19] == 'Z' && out[6 + 20] == '\n');
  ASSERT(!strncmp(out + 27, "ivan\t", 5));
  free(out);
  free(err);

  now = pb_wall_ms();
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "token", "create", "heidi", "--ttl-seconds", "60"), 0);
  one_token_line(out, tok);
  free(out);
  free(err);
  s = open_ok(dir);
  ASSERT_EQ(pb_token_check(s, tok, pb_wall_ms(), &a), 0);
  ASSERT(a.expires_ms >= now + 60000 && a.expires_ms <= pb_wall_ms() + 60000);
  ASSERT_EQ(pb_token_check(s, tok, a.expires_ms, NULL), PB_EEXPIRED);
  pb_store_close(s);

  now = pb_wall_ms();
  ASSERT_EQ(run_admin(dir, &out, &err, 4, "token", "create", "ivan", "--ttl=2"), 0);
  one_token_line(out, tok);
  free(out);
  free(err);
  s = open_ok(dir);
  ASSERT_EQ(pb_token_check(s, tok, pb_wall_ms(), &a), 0);
  ASSERT_STR_EQ(a.account, "ivan");
  ASSERT(a.expires_ms >= now + 2 * DAY_MS && a.expires_ms <= pb_wall_ms() + 2 * DAY_MS);
  pb_store_close(s);

  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "create", "nobody"), 1);
  ASSERT_STR_EQ(out, "");
  ASSERT_CONTAINS(err, "no account named nobody");
  free(out);
  free(err);

  struct {
    int argc;
    char *argv[6];
  } bad[] = {
      {6, {"token", "create", "heidi", "--ttl", "1", "--ttl-seconds"}},
      {6, {"token", "create", "heidi", "--ttl=1", "--ttl-seconds", "5"}},
      {5, {"token", "create", "heidi", "--ttl", "0"}},
      {5, {"token", "create", "heidi", "--ttl-seconds", "1.5"}},
      {4, {"token", "create", "heidi", "--ttl"}},
      {2, {"token", "create"}},
      {4, {"account", "create", "heidi", "--ttl=3"}},
      {3, {"account", "list", "extra"}},
      {2, {"account", "delete"}},
      {1, {"account"}},
      {3, {"account", "create", "--bogus"}},
      {2, {"shell", "list"}},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char *av[7] = {0};
    memcpy(av, bad[i].argv, sizeof(bad[i].argv));
    fflush(stdout);
    int save = dup(2), nul = open("/dev/null", O_WRONLY);
    dup2(nul, 2);
    int ex = pb_admin_main(dir, bad[i].argc, av);
    dup2(save, 2);
    close(save);
    close(nul);
    if (ex != 2) fprintf(stderr, "case %zu: exit %d\n", i, ex);
    ASSERT_EQ(ex, 2);
  }
}

static void test_admin_limits(void) {
  char dir[256], *out, *err;
  fresh_dir(dir, sizeof(dir), "admin-limits");
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "rita"), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "sam"), 0);
  free(out);
  free(err);

  const char *defaults = "maxConcurrentSessions=3\nacquisitionsPerMinute=30\n"
                         "quickActionsPerSecond=100\nkeepAliveMaxMs=600000\n"
                         "concurrentQuickActions=6\nbrowserMsPerDay=0\nmaxContexts=10\n"
                         "contextStorageMiB=100\nrecordingStorageMiB=500\n";
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "rita"), 0);
  ASSERT_STR_EQ(out, defaults);
  free(out);
  free(err);

  ASSERT_EQ(run_admin(dir, &out, &err, 6, "account", "limits", "rita", "--set",
                      "maxConcurrentSessions=5", "--set=browserMsPerDay=3600000"),
            0);
  ASSERT_STR_EQ(out, "");
  ASSERT_CONTAINS(err, "maxConcurrentSessions=5");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "rita"), 0);
  ASSERT_STR_EQ(out, "maxConcurrentSessions=5\nacquisitionsPerMinute=30\n"
                     "quickActionsPerSecond=100\nkeepAliveMaxMs=600000\n"
                     "concurrentQuickActions=6\nbrowserMsPerDay=3600000\nmaxContexts=10\n"
                     "contextStorageMiB=100\nrecordingStorageMiB=500\n");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "sam"), 0);
  ASSERT_STR_EQ(out, defaults);
  free(out);
  free(err);

  /* Bad keys and values: exit 2, a reason, and nothing applied, not even the
   * good settings given with them. */
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "account", "limits", "rita", "--set", "bogus=1"), 2);
  ASSERT_CONTAINS(err, "unknown limit \"bogus\"");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 7, "account", "limits", "rita", "--set",
                      "maxConcurrentSessions=7", "--set", "keepAliveMaxMs=5"),
            2);
  ASSERT_CONTAINS(err, "keepAliveMaxMs wants a whole number from 1000 to 86400000");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "account", "limits", "rita", "--set",
                      "maxConcurrentSessions"),
            2);
  ASSERT_CONTAINS(err, "KEY=VALUE");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "rita"), 0);
  ASSERT_CONTAINS(out, "maxConcurrentSessions=5\n");
  free(out);
  free(err);

  /* "default" goes back to the default. */
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "account", "limits", "rita", "--set",
                      "browserMsPerDay=default"),
            0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "rita"), 0);
  ASSERT_CONTAINS(out, "\nbrowserMsPerDay=0\n");
  free(out);
  free(err);

  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "limits", "nobody"), 1);
  ASSERT_STR_EQ(out, "");
  ASSERT_CONTAINS(err, "no account named nobody");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "account", "limits", "nobody", "--set",
                      "maxConcurrentSessions=1"),
            1);
  free(out);
  free(err);

  const char *usage_cases[][6] = {
      {"account", "limits"},
      {"account", "limits", "rita", "sam"},
      {"account", "limits", "bad name"},
      {"account", "limits", "rita", "--set"},
      {"account", "limits", "rita", "--ttl", "3"},
      {"account", "list", "--set", "maxConcurrentSessions=1"},
      {"token", "create", "rita", "--set", "maxConcurrentSessions=1"},
      {"account", "limits", "rita", "--set", "=5"},
  };
  for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
    char *av[7] = {0};
    int ac = 0;
    while (ac < 6 && usage_cases[i][ac]) {
      av[ac] = (char *)usage_cases[i][ac];
      ac++;
    }
    ASSERT_EQ(run_admin(dir, &out, &err, ac, av[0], av[1], av[2], av[3], av[4], av[5]), 2);
    ASSERT_STR_EQ(out, "");
    free(out);
    free(err);
  }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* Runs on DONE and on a failed ASSERT (exit) alike. */
static void remove_root(void) {
  if (root[0]) nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The admin words for it, and --max-token-ttl. */
static void test_admin_revocation(void) {
  char dir[256], tok[PB_TOKEN_MAX], *out, *err;
  fresh_dir(dir, sizeof(dir), "admin-revocation");
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "tess"), 0);
  one_token_line(out, tok);
  ASSERT_CONTAINS(err, "token pp_sess_");
  free(out);
  free(err);
  /* The cap: 90 days by default, or what --max-token-ttl says. */
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "token", "create", "tess", "--ttl", "91"), 2);
  ASSERT_CONTAINS(err, "max-token-ttl of 90 days");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "token", "create", "tess", "--ttl-seconds", "7776001"),
            2);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 5, "token", "create", "tess", "--ttl", "90"), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 7, "token", "create", "tess", "--ttl", "20",
                      "--max-token-ttl", "10"),
            2);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 7, "token", "create", "tess", "--ttl", "200",
                      "--max-token-ttl", "365"),
            0);
  free(out);
  free(err);

  /* token list shows each token's prefix; revoke by it. */
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "list", "tess"), 0);
  char pre[PB_TOKEN_PREFIX_LEN + 1];
  memcpy(pre, tok, PB_TOKEN_PREFIX_LEN);
  pre[PB_TOKEN_PREFIX_LEN] = '\0';
  ASSERT_CONTAINS(out, pre);
  ASSERT_CONTAINS(out, "\tactive\n");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "revoke", pre), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "list", "tess"), 0);
  ASSERT_CONTAINS(out, "\trevoked\n");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "revoke", "ppod_"), 2);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "revoke", "ppod_"), 2);
  free(out);
  free(err);

  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "disable", "tess"), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 2, "account", "list"), 0);
  ASSERT_CONTAINS(out, "\tdisabled\n");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "enable", "tess"), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "delete", "tess"), 0);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "token", "create", "tess"), 1);
  ASSERT_CONTAINS(err, "no account named tess");
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "create", "tess"), 1);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 3, "account", "delete", "tess"), 1);
  free(out);
  free(err);
  ASSERT_EQ(run_admin(dir, &out, &err, 2, "account", "list"), 0);
  ASSERT_CONTAINS(out, "\tdeleted\n");
  free(out);
  free(err);
}

/* Tokens and accounts that can be taken back: revoke by token or by its
 * kept prefix (an ambiguous prefix revokes nothing), disable/enable, soft
 * delete that keeps the ledger; pb_token_status gives the same verdict by id. */
static void test_revocation(void) {
  char dir[256], t1[PB_TOKEN_MAX], t2[PB_TOKEN_MAX], t3[PB_TOKEN_MAX];
  fresh_dir(dir, sizeof(dir), "revocation");
  pb_store *s = open_ok(dir);
  int64_t acct = 0, other = 0, id = 0, u = 0;
  pb_auth a;
  ASSERT_EQ(pb_account_create(s, "rita", &acct), 0);
  ASSERT_EQ(pb_account_create(s, "sam", &other), 0);
  ASSERT_EQ(pb_token_create(s, acct, 1, t1), 0);
  ASSERT_EQ(pb_token_create(s, acct, 1, t2), 0);
  ASSERT_EQ(pb_token_create(s, other, 1, t3), 0);
  int64_t now = pb_wall_ms();

  /* The kept prefix is the token's first 12 characters. */
  pb_token_info *v = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_token_list(s, acct, &v, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT(!strncmp(v[0].prefix, t1, PB_TOKEN_PREFIX_LEN) &&
         strlen(v[0].prefix) == PB_TOKEN_PREFIX_LEN);
  ASSERT_EQ(v[0].revoked_ms, 0);
  free(v);

  /* Not a token or prefix; no match; "ppod_" + 3 chars shared by both is
   * ambiguous only if they happen to share them: use a prefix all share. */
  ASSERT_EQ(pb_token_revoke(s, "ppod_", now, NULL), PB_EINVAL);
  ASSERT_EQ(pb_token_revoke(s, "nope_abcdefg", now, NULL), PB_EINVAL);
  ASSERT_EQ(pb_token_revoke(s, "ppod_!!!", now, NULL), PB_EINVAL);
  char miss[16];
  snprintf(miss, sizeof(miss), "ppod_%c%c%c%c%c%c%c", t1[5] == 'A' ? 'B' : 'A', t1[6], t1[7], t1[8],
           t1[9], t1[10], t1[11]);
  int r = pb_token_revoke(s, miss, now, NULL);
  ASSERT(r == PB_ENOTFOUND || r == 0); /* 0 only if another token starts so */
  /* Force an ambiguous prefix: two tokens with the same kept prefix. */
  sqlite3 *raw = NULL;
  char path[300], sql[256];
  path_join(path, sizeof(path), dir, "ppod.db");
  ASSERT_EQ(sqlite3_open(path, &raw), SQLITE_OK);
  snprintf(sql, sizeof(sql), "UPDATE tokens SET prefix = 'ppod_zzzzzz%c' WHERE account_id = %lld",
           'q', (long long)acct);
  ASSERT_EQ(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(raw);
  ASSERT_EQ(pb_token_revoke(s, "ppod_zzzzzzq", now, NULL), PB_EEXIST);
  ASSERT_EQ(pb_token_revoke(s, "ppod_zzz", now, NULL), PB_EEXIST);
  ASSERT_EQ(pb_token_check(s, t1, now, NULL), 0);
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), 0);

  /* Revoked by its plaintext: refused from then on, the other token lives. */
  ASSERT_EQ(pb_token_check(s, t1, now, &a), 0);
  ASSERT_EQ(pb_token_status(s, a.token_id, now), 0);
  ASSERT_EQ(pb_token_revoke(s, t1, now, &id), 0);
  ASSERT_EQ(id, a.token_id);
  ASSERT_EQ(pb_token_revoke(s, t1, now + 1, NULL), 0); /* idempotent */
  ASSERT_EQ(pb_token_check(s, t1, now, &a), PB_EREVOKED);
  ASSERT_STR_EQ(a.account, "rita");
  ASSERT_EQ(pb_token_status(s, id, now), PB_EREVOKED);
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), 0);
  ASSERT_EQ(pb_token_status(s, 999999, now), PB_ENOTFOUND);

  /* By the prefix of the other account's token. */
  char pre[PB_TOKEN_PREFIX_LEN + 1];
  memcpy(pre, t3, PB_TOKEN_PREFIX_LEN);
  pre[PB_TOKEN_PREFIX_LEN] = '\0';
  ASSERT_EQ(pb_token_revoke(s, pre, now, NULL), 0);
  ASSERT_EQ(pb_token_check(s, t3, now, NULL), PB_EREVOKED);

  /* Disabled, then enabled again. */
  ASSERT_EQ(pb_token_check(s, t2, now, &a), 0);
  ASSERT_EQ(pb_account_set_disabled(s, acct, 1, now), 0);
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), PB_EDISABLED);
  ASSERT_EQ(pb_token_status(s, a.token_id, now), PB_EDISABLED);
  ASSERT_EQ(pb_account_set_disabled(s, acct, 0, now), 0);
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), 0);
  ASSERT_EQ(pb_token_status(s, a.token_id, a.expires_ms), PB_EEXPIRED);
  ASSERT_EQ(pb_account_set_disabled(s, 424242, 1, now), PB_ENOTFOUND);

  /* Deleted: tokens refused for good, the name gone and not reusable, the
   * ledger kept. */
  ASSERT_EQ(pb_usage_begin(s, acct, "screenshot", 1000, &u), 0);
  ASSERT_EQ(pb_usage_end(s, u, 1500, 200), 0);
  ASSERT_EQ(pb_account_delete(s, acct, now), 0);
  ASSERT_EQ(pb_account_delete(s, acct, now), PB_ENOTFOUND);
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), PB_EDELETED);
  ASSERT_EQ(pb_account_set_disabled(s, acct, 0, now), 0); /* enabling does not undelete */
  ASSERT_EQ(pb_token_check(s, t2, now, NULL), PB_EDELETED);
  ASSERT_EQ(pb_account_find(s, "rita", &id), PB_ENOTFOUND);
  ASSERT_EQ(pb_account_create(s, "rita", NULL), PB_EEXIST);
  int64_t ms = 0, count = 0;
  ASSERT_EQ(pb_usage_sum(s, acct, 0, 10000, &ms, &count), 0);
  ASSERT_EQ(ms, 500);
  ASSERT_EQ(count, 1);
  pb_account *accts = NULL;
  ASSERT_EQ(pb_account_list(s, &accts, &n), 0);
  ASSERT_EQ(n, 2);
  ASSERT(accts[0].deleted_ms == now && accts[1].deleted_ms == 0);
  free(accts);
  pb_store_close(s);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1; /* expected failures would log errors */
  pb_strlcpy(root, "/tmp/pb-test-store-XXXXXX", sizeof(root));
  ASSERT(mkdtemp(root) != NULL);
  atexit(remove_root);
  RUN(test_files_and_modes);
  RUN(test_accounts);
  RUN(test_tokens);
  RUN(test_usage);
  RUN(test_close_open_after_crash);
  RUN(test_migrate_from_v1);
  RUN(test_limits);
  RUN(test_usage_heartbeat);
  RUN(test_usage_sums);
  RUN(test_sessions);
  RUN(test_threads);
  RUN(test_admin);
  RUN(test_admin_limits);
  RUN(test_revocation);
  RUN(test_admin_revocation);
  ASSERT_EQ(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
  root[0] = '\0';
  DONE();
}
