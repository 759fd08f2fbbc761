/* Acquired sessions against fakechrome browsers (tests/unit/fakechrome.h)
 * from the pool's spares and a real store: a session owns a spare browser
 * until it is released, idle past keep_alive or crashed, and each end is in
 * the account's history with its reason; accounts do not see each other's
 * sessions, and the per-account limit holds. */
#include "sessions/session.h"

#include "common/pb.h"
#include "fakechrome.h"
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char root[64];
static char fake_dir_arg[160];
static pb_store *store;
static pb_pool *pool;
static pb_sessions *ss;
static int64_t alice, bob;

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

#define EVENTUALLY(cond, ms)                                        \
  ({                                                                \
    int64_t until_ = pb_now_ms() + (ms);                            \
    int ok_ = 0;                                                    \
    while (!(ok_ = !!(cond)) && pb_now_ms() < until_) sleep_ms(10); \
    ok_;                                                            \
  })

static int gone(int pid) {
  return kill(pid, 0) == -1 && errno == ESRCH;
}

/* The pool's warm spare, once there is one: the browser the next
 * acquisition gets. */
static int next_spare_pid(void) {
  int pid = 0;
  ASSERT(EVENTUALLY(({
                      pb_pool_browser b[8];
                      int n = pb_pool_browsers(pool, b, 8);
                      pid = 0;
                      for (int i = 0; i < n; i++)
                        if (b[i].spare) pid = b[i].pid;
                      pid;
                    }),
                    5000));
  return pid;
}

/* The reason of the account's history entry for id, "" when there is none. */
static const char *history_reason(int64_t account, const char *id) {
  static char reason[32];
  pb_session_rec *recs = NULL;
  size_t n = 0;
  reason[0] = '\0';
  ASSERT_EQ(pb_session_history(store, account, 100, &recs, &n), 0);
  for (size_t i = 0; i < n; i++)
    if (!strcmp(recs[i].id, id)) pb_strlcpy(reason, recs[i].reason, sizeof(reason));
  free(recs);
  return reason;
}

static void acquire(int64_t account, int64_t keep_alive_ms, char id[PB_SESSION_ID_LEN + 1]) {
  ASSERT_EQ(pb_sessions_acquire(ss, account, keep_alive_ms, 2, 0, pb_now_ms() + 10000, id), 0);
  ASSERT_EQ(strlen(id), PB_SESSION_ID_LEN);
}

/* Acquire takes the warm spare for the account; only that account sees the
 * session; release ends it with the caller's reason, kills its browser and
 * records it, and the pool refills its spare. */
static void test_acquire_and_release(void) {
  int spare = next_spare_pid();
  char id[PB_SESSION_ID_LEN + 1];
  acquire(alice, 60000, id);
  ASSERT_EQ(pb_sessions_count(ss, alice), 1);
  ASSERT_EQ(pb_sessions_count(ss, bob), 0);
  ASSERT(!gone(spare));
  ASSERT(EVENTUALLY(next_spare_pid() != spare, 5000)); /* a replacement spare */

  pb_session *s = pb_sessions_get(ss, id, bob);
  ASSERT(s == NULL);
  s = pb_sessions_get(ss, id, alice);
  ASSERT(s != NULL);
  ASSERT_STR_EQ(pb_session_id(s), id);
  pb_session_unref(s);

  pb_session_info *info = NULL;
  size_t n = 0;
  ASSERT_EQ(pb_sessions_list(ss, alice, &info, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_STR_EQ(info[0].id, id);
  ASSERT_EQ(info[0].keep_alive_ms, 60000);
  ASSERT_EQ(info[0].connected, 0);
  free(info);

  ASSERT_EQ(pb_sessions_release(ss, id, bob, "Released", NULL), PB_ENOTFOUND);
  ASSERT_EQ(pb_sessions_count(ss, alice), 1);
  ASSERT_EQ(pb_sessions_release(ss, id, alice, "Released", "by the test"), 0);
  /* Release returns once the session is gone: recorded, browser reaped. */
  ASSERT_EQ(pb_sessions_count(ss, alice), 0);
  ASSERT_STR_EQ(history_reason(alice, id), "Released");
  ASSERT_STR_EQ(history_reason(bob, id), "");
  ASSERT(gone(spare));
  ASSERT_EQ(pb_sessions_release(ss, id, alice, "Released", NULL), PB_ENOTFOUND);
}

/* max_concurrent counts the account's live sessions, and only its own. */
static void test_limit_per_account(void) {
  char a[PB_SESSION_ID_LEN + 1], b[PB_SESSION_ID_LEN + 1], c[PB_SESSION_ID_LEN + 1];
  ASSERT_EQ(pb_sessions_acquire(ss, alice, 60000, 1, 0, pb_now_ms() + 10000, a), 0);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_sessions_acquire(ss, alice, 60000, 1, 0, pb_now_ms() + 10000, b), PB_EBUSY);
  ASSERT(pb_now_ms() - t0 < 1000); /* refused at once, not at the deadline */
  ASSERT_EQ(pb_sessions_acquire(ss, bob, 60000, 1, 0, pb_now_ms() + 10000, c), 0);
  ASSERT_EQ(pb_sessions_release(ss, a, alice, "Released", NULL), 0);
  ASSERT_EQ(pb_sessions_acquire(ss, alice, 60000, 1, 0, pb_now_ms() + 10000, b), 0);
  ASSERT_EQ(pb_sessions_release(ss, b, alice, "Released", NULL), 0);
  ASSERT_EQ(pb_sessions_release(ss, c, bob, "Released", NULL), 0);
}

/* With no client activity a session lives keep_alive, not much less and not
 * much more, then ends as BrowserIdle and its browser goes. */
static void test_keep_alive_expiry(void) {
  int spare = next_spare_pid();
  char id[PB_SESSION_ID_LEN + 1];
  int64_t t0 = pb_now_ms();
  acquire(alice, 800, id);
  sleep_ms(400);
  ASSERT_EQ(pb_sessions_count(ss, alice), 1);
  ASSERT(EVENTUALLY(pb_sessions_count(ss, alice) == 0, 3000));
  int64_t took = pb_now_ms() - t0;
  ASSERT(took >= 800 && took < 2000);
  ASSERT(EVENTUALLY(!strcmp(history_reason(alice, id), "BrowserIdle"), 2000));
  ASSERT(EVENTUALLY(gone(spare), 2000));
}

/* kill -9 of a session's browser ends it as BrowserCrashed. */
static void test_crashed_browser_ends_the_session(void) {
  int spare = next_spare_pid();
  char id[PB_SESSION_ID_LEN + 1];
  acquire(bob, 60000, id);
  ASSERT_EQ(kill(spare, SIGKILL), 0);
  ASSERT(EVENTUALLY(pb_sessions_count(ss, bob) == 0, 3000));
  ASSERT(EVENTUALLY(!strcmp(history_reason(bob, id), "BrowserCrashed"), 2000));
  int connected, idle, ending;
  pb_sessions_states(ss, &connected, &idle, &ending);
  ASSERT_EQ(connected + idle, 0);
}

/* Stopping ends what is still live as Shutdown. */
static void test_stop_ends_live_sessions(void) {
  char id[PB_SESSION_ID_LEN + 1];
  acquire(alice, 60000, id);
  pb_sessions_stop(ss);
  ss = NULL;
  ASSERT_STR_EQ(history_reason(alice, id), "Shutdown");
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(root, sizeof(root), "/tmp/pb-test-session-XXXXXX");
  ASSERT(mkdtemp(root));
  char fake_dir[128], data_dir[128];
  snprintf(fake_dir, sizeof(fake_dir), "%s/fake", root);
  snprintf(data_dir, sizeof(data_dir), "%s/data", root);
  ASSERT_EQ(mkdir(fake_dir, 0755), 0);
  ASSERT_EQ(mkdir(data_dir, 0700), 0);
  snprintf(fake_dir_arg, sizeof(fake_dir_arg), "--fake-dir=%s", fake_dir);
  setenv("TMPDIR", root, 1);
  pb_log_level = PB_LOG_ERROR;

  ASSERT_EQ(pb_store_open(data_dir, &store), 0);
  ASSERT_EQ(pb_account_create(store, "alice", &alice), 0);
  ASSERT_EQ(pb_account_create(store, "bob", &bob), 0);
  static const char *args[] = {fake_dir_arg, NULL};
  pb_pool_opts po;
  memset(&po, 0, sizeof(po));
  po.browsers = 1;
  po.warm_pages = 1;
  po.spares = 1;
  po.browser.executable = PB_FAKECHROME;
  po.browser.run_as = "root";
  po.browser.extra_args = args;
  ASSERT_EQ(pb_pool_start(&po, pb_now_ms() + 10000, &pool), 0);
  pb_sessions_opts so;
  memset(&so, 0, sizeof(so));
  so.pool = pool;
  so.store = store;
  ASSERT_EQ(pb_sessions_start(&so, &ss), 0);

  RUN(test_acquire_and_release);
  RUN(test_limit_per_account);
  RUN(test_keep_alive_expiry);
  RUN(test_crashed_browser_ends_the_session);
  RUN(test_stop_ends_live_sessions);

  pb_sessions_stop(ss);
  pb_pool_stop(pool);
  pb_store_close(store);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  ASSERT_EQ(system(cmd), 0);
  DONE();
}
