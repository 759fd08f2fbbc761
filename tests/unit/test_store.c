/* The store: SHA-256, accounts, tokens, the usage ledger and its crash
 * recovery, file modes; plus the admin subcommands built on it (admin.c is
 * included, h2o-style, as it lives in the daemon executable). */
#include "core/store.h"

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

static void test_sha256_vectors(void) {
  char h[65];
  sha_hex("", 0, h);
  ASSERT_STR_EQ(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha_hex("abc", 3, h);
  ASSERT_STR_EQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* 56 bytes: the length no longer fits the first padding block. */
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha_hex(two, strlen(two), h);
  ASSERT_STR_EQ(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *m = malloc(1000000);
  ASSERT(m != NULL);
  memset(m, 'a', 1000000);
  sha_hex(m, 1000000, h);
  ASSERT_STR_EQ(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(m);
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
  ASSERT_EQ(sqlite3_column_int(st, 0), 1);
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
  if (strncmp(t, "ppod_", 5) || strlen(t) != 48) return 0;
  for (const char *p = t + 5; *p; p++)
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
  longer[48] = 'A';
  longer[49] = '\0';
  ASSERT_EQ(pb_token_check(s, longer, pb_wall_ms(), &a), PB_EINVAL);
  char shorter[PB_TOKEN_MAX];
  pb_strlcpy(shorter, t1, 47);
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
  ASSERT(n == 49 && out[48] == '\n');
  memcpy(tok, out, 48);
  tok[48] = '\0';
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

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1; /* expected failures would log errors */
  pb_strlcpy(root, "/tmp/pb-test-store-XXXXXX", sizeof(root));
  ASSERT(mkdtemp(root) != NULL);
  atexit(remove_root);
  RUN(test_sha256_vectors);
  RUN(test_files_and_modes);
  RUN(test_accounts);
  RUN(test_tokens);
  RUN(test_usage);
  RUN(test_close_open_after_crash);
  RUN(test_threads);
  RUN(test_admin);
  ASSERT_EQ(nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
  root[0] = '\0';
  DONE();
}
