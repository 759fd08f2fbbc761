/* The trace store: where zips are kept, per account and id; the pending
 * marker that makes a lookup wait for a zip still being written; the sweep
 * of old traces; and ids that cannot name another account's file. */
#include "trace/store.h"

#include "common/pb.h"
#include "test.h"

#include <ftw.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static char root[64]; /* the mkdtemp dir; the store lives in root/traces */
static char dir[128];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f) {
  (void)sb, (void)flag, (void)f;
  return remove(p);
}

static void remove_root(void) {
  if (root[0]) nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int exists(const char *name) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  struct stat sb;
  return stat(p, &sb) == 0;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

static void test_open_makes_the_dir(void) {
  pb_trace_store *st = NULL;
  ASSERT_EQ(pb_trace_store_open(NULL, &st), PB_EINVAL);
  ASSERT_EQ(pb_trace_store_open(dir, &st), 0);
  struct stat sb;
  ASSERT_EQ(stat(dir, &sb), 0);
  ASSERT(S_ISDIR(sb.st_mode));
  ASSERT_EQ(sb.st_mode & 0777, 0700);
  ASSERT_STR_EQ(pb_trace_store_dir(st), dir);
  ASSERT(pb_trace_store_dir(NULL) == NULL);
  pb_trace_store_close(st);
  pb_trace_store_close(NULL);
  /* A second open finds it there. */
  ASSERT_EQ(pb_trace_store_open(dir, &st), 0);
  pb_trace_store_close(st);
}

static void test_put_and_get(void) {
  pb_trace_store *st;
  ASSERT_EQ(pb_trace_store_open(dir, &st), 0);
  const char *id = "0123456789abcdef0123456789abcdef";
  ASSERT_EQ(pb_trace_store_put(st, 7, id, "PK zip bytes", 12), 0);
  ASSERT(exists("7-0123456789abcdef0123456789abcdef.zip"));
  char *zip = NULL;
  size_t len = 0;
  ASSERT_EQ(pb_trace_store_get(st, 7, id, pb_now_ms() + 1000, &zip, &len), 0);
  ASSERT_EQ(len, 12);
  ASSERT(!memcmp(zip, "PK zip bytes", 12));
  free(zip);
  /* Never replaced. */
  ASSERT_EQ(pb_trace_store_put(st, 7, id, "other", 5), PB_EIO);
  ASSERT_EQ(pb_trace_store_get(st, 7, id, pb_now_ms() + 1000, &zip, &len), 0);
  ASSERT_EQ(len, 12);
  free(zip);
  /* Another account's id is not found. */
  ASSERT_EQ(pb_trace_store_get(st, 8, id, pb_now_ms() + 1000, &zip, &len), PB_ENOTFOUND);
  /* Nor anything that is not an id: no path can be named. */
  const char *bad[] = {"",
                       "0123456789abcdef0123456789abcde",
                       "0123456789abcdef0123456789abcdef0",
                       "0123456789ABCDEF0123456789abcdef",
                       "../7-0123456789abcdef0123456789ab",
                       "0123456789abcdef0123456789abcde/"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ASSERT_EQ(pb_trace_store_get(st, 7, bad[i], pb_now_ms() + 1000, &zip, &len), PB_ENOTFOUND);
  /* An empty zip is still a trace. */
  const char *empty = "fedcba9876543210fedcba9876543210";
  ASSERT_EQ(pb_trace_store_put(st, 7, empty, "", 0), 0);
  ASSERT_EQ(pb_trace_store_get(st, 7, empty, pb_now_ms() + 1000, &zip, &len), 0);
  ASSERT_EQ(len, 0);
  free(zip);
  pb_trace_store_close(st);
  /* Without a store nothing is kept or found. */
  ASSERT_EQ(pb_trace_store_put(NULL, 7, id, "x", 1), PB_EINVAL);
  ASSERT_EQ(pb_trace_store_get(NULL, 7, id, pb_now_ms() + 1000, &zip, &len), PB_ENOTFOUND);
  char rid[PB_TRACE_ID_LEN + 1];
  ASSERT_EQ(pb_trace_store_reserve(NULL, 7, rid), PB_EINVAL);
  pb_trace_store_unmark(NULL, 7, id);
}

typedef struct {
  pb_trace_store *st;
  const char *id;
} writer_arg;

/* Writes the zip 200 ms late, then ends the mark, as a deferred job does. */
static void *late_writer(void *p) {
  writer_arg *a = p;
  sleep_ms(200);
  ASSERT_EQ(pb_trace_store_put(a->st, 3, a->id, "late", 4), 0);
  pb_trace_store_unmark(a->st, 3, a->id);
  return NULL;
}

static void test_pending_waits(void) {
  pb_trace_store *st;
  ASSERT_EQ(pb_trace_store_open(dir, &st), 0);
  char id[PB_TRACE_ID_LEN + 1], id2[PB_TRACE_ID_LEN + 1];
  ASSERT_EQ(pb_trace_store_reserve(st, 3, id), 0);
  ASSERT_EQ(strlen(id), PB_TRACE_ID_LEN);
  ASSERT_EQ(strspn(id, "0123456789abcdef"), PB_TRACE_ID_LEN);
  ASSERT_EQ(pb_trace_store_reserve(st, 3, id2), 0);
  ASSERT(strcmp(id, id2)); /* fresh each time */
  char name[128];
  snprintf(name, sizeof(name), "3-%s.pending", id);
  ASSERT(exists(name));

  /* The lookup waits while the zip is being written, and gets it. */
  writer_arg a = {st, id};
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, late_writer, &a), 0);
  char *zip = NULL;
  size_t len = 0;
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_trace_store_get(st, 3, id, t0 + 5000, &zip, &len), 0);
  ASSERT(pb_now_ms() - t0 >= 150);
  ASSERT_EQ(len, 4);
  ASSERT(!memcmp(zip, "late", 4));
  free(zip);
  pthread_join(th, NULL);
  ASSERT(!exists(name));

  /* A mark that never ends holds the lookup only until its deadline. */
  t0 = pb_now_ms();
  ASSERT_EQ(pb_trace_store_get(st, 3, id2, t0 + 150, &zip, &len), PB_ENOTFOUND);
  int64_t waited = pb_now_ms() - t0;
  ASSERT(waited >= 140 && waited < 2000);
  pb_trace_store_unmark(st, 3, id2);
  pb_trace_store_close(st);
}

static void touch(const char *name, time_t mtime) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  ASSERT(f != NULL);
  fclose(f);
  struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};
  ASSERT_EQ(utimes(p, tv), 0);
}

static void test_sweep(void) {
  time_t now = time(NULL);
  time_t keep_s = (time_t)(PB_TRACE_KEEP_MS / 1000);
  touch("1-00000000000000000000000000000001.zip", now - keep_s - 60);
  touch("1-00000000000000000000000000000002.pending", now - keep_s - 60);
  touch("1-00000000000000000000000000000003.zip", now - keep_s + 600);
  touch(".hidden", now - keep_s - 60);
  /* Opening sweeps. */
  pb_trace_store *st;
  ASSERT_EQ(pb_trace_store_open(dir, &st), 0);
  ASSERT(!exists("1-00000000000000000000000000000001.zip"));
  ASSERT(!exists("1-00000000000000000000000000000002.pending"));
  ASSERT(exists("1-00000000000000000000000000000003.zip"));
  ASSERT(exists(".hidden"));
  /* And so does a sweep later. */
  touch("1-00000000000000000000000000000003.zip", now - keep_s - 1);
  pb_trace_store_sweep(st);
  ASSERT(!exists("1-00000000000000000000000000000003.zip"));
  pb_trace_store_sweep(NULL);
  pb_trace_store_close(st);
}

int main(void) {
  pb_strlcpy(root, "/tmp/pb-test-trace-store-XXXXXX", sizeof(root));
  ASSERT(mkdtemp(root) != NULL);
  atexit(remove_root);
  snprintf(dir, sizeof(dir), "%s/traces", root);
  umask(022);
  RUN(test_open_makes_the_dir);
  RUN(test_put_and_get);
  RUN(test_pending_waits);
  RUN(test_sweep);
  DONE();
}
