/* The browser pool against fakechrome processes (tests/unit/fakechrome.h)
 * launched in place of Chromium: a leased page is a fresh context of its own
 * that is disposed on release, warm pages wait while a job runs, a killed
 * browser is replaced and its job fails fast, browsers are recycled after
 * their job count, spares are taken and refilled, and a browser that never
 * answers is not counted as launched. */
#include "sessions/pool.h"

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

static char root[64]; /* the mkdtemp dir: TMPDIR (profiles) and the fakes' records */
static char fake_dir[128];
static char fake_dir_arg[160];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Polls cond (an expression) for up to ms; evaluates to whether it held. */
#define EVENTUALLY(cond, ms)                                        \
  ({                                                                \
    int64_t until_ = pb_now_ms() + (ms);                            \
    int ok_ = 0;                                                    \
    while (!(ok_ = !!(cond)) && pb_now_ms() < until_) sleep_ms(10); \
    ok_;                                                            \
  })

/* Pool options that launch fakechrome with extra (NULL-terminated, may be
 * NULL) script flags after --fake-dir. */
static pb_pool_opts opts_with(const char *const *extra) {
  static const char *args[16];
  int n = 0;
  args[n++] = fake_dir_arg;
  for (int i = 0; extra && extra[i] && n < 15; i++) args[n++] = extra[i];
  args[n] = NULL;
  pb_pool_opts o;
  memset(&o, 0, sizeof(o));
  o.browsers = 1;
  o.warm_pages = 1;
  o.browser.executable = PB_FAKECHROME;
  o.browser.run_as = "root"; /* when root: the fake needs no other user */
  o.browser.extra_args = args;
  return o;
}

static pb_pool *start(const pb_pool_opts *o) {
  pb_pool *p = NULL;
  ASSERT_EQ(pb_pool_start(o, pb_now_ms() + 10000, &p), 0);
  return p;
}

static pb_pool_stats stats(pb_pool *p) {
  pb_pool_stats st;
  pb_pool_get_stats(p, &st);
  return st;
}

/* The pid of the pool's only (non-spare) browser, 0 when none. */
static int pool_pid(pb_pool *p) {
  pb_pool_browser b[8];
  int n = pb_pool_browsers(p, b, 8);
  for (int i = 0; i < n; i++)
    if (!b[i].spare) return b[i].pid;
  return 0;
}

static int spare_pid(pb_pool *p) {
  pb_pool_browser b[8];
  int n = pb_pool_browsers(p, b, 8);
  for (int i = 0; i < n; i++)
    if (b[i].spare) return b[i].pid;
  return 0;
}

static int gone(int pid) {
  return kill(pid, 0) == -1 && errno == ESRCH;
}

/* The recorded command's params.name, or "". */
static const char *param(const cJSON *cmd, const char *name) {
  const cJSON *v =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cmd, "params"), name);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Whether pid was asked to dispose of context ctx. */
static int disposed(int pid, const char *ctx) {
  int n = fc_recorded_count(fake_dir, pid, "Target.disposeBrowserContext");
  for (int i = 0; i < n; i++) {
    cJSON *c = fc_recorded(fake_dir, pid, "Target.disposeBrowserContext", i);
    int hit = c && !strcmp(param(c, "browserContextId"), ctx);
    cJSON_Delete(c);
    if (hit) return 1;
  }
  return 0;
}

/* A leased page is a page target of its own in a context of its own,
 * attached as a flat session; releasing it disposes of that context, and the
 * next lease gets another. */
static void test_lease_is_a_fresh_context(void) {
  pb_pool_opts o = opts_with(NULL);
  pb_pool *p = start(&o);
  pb_page *pg = NULL;
  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  int pid = pool_pid(p);
  ASSERT(pid > 0);
  ASSERT(pg->context_id[0] && pg->target_id[0] && pg->session_id[0]);

  cJSON *create = fc_recorded(fake_dir, pid, "Target.createTarget", 0);
  ASSERT(create);
  ASSERT_STR_EQ(param(create, "browserContextId"), pg->context_id);
  cJSON_Delete(create);
  cJSON *attach = fc_recorded(fake_dir, pid, "Target.attachToTarget", 0);
  ASSERT(attach);
  ASSERT_STR_EQ(param(attach, "targetId"), pg->target_id);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(attach, "params"), "flatten")));
  cJSON_Delete(attach);
  ASSERT_EQ(stats(p).pages_leased, 1);

  /* The page answers on its session. */
  cJSON *params = cJSON_CreateObject(), *res = NULL;
  cJSON_AddStringToObject(params, "expression", "42");
  ASSERT_EQ(pb_cdp_call(pg->cdp, pg->session_id, "Runtime.evaluate", params, pb_now_ms() + 2000,
                        &res, NULL, 0),
            0);
  ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "result"), "value")->valueint, 42);
  cJSON_Delete(res);

  char ctx[64];
  pb_strlcpy(ctx, pg->context_id, sizeof(ctx));
  ASSERT(!disposed(pid, ctx));
  pb_pool_release(p, pg);
  ASSERT(EVENTUALLY(disposed(pid, ctx), 2000));
  ASSERT_EQ(stats(p).pages_leased, 0);

  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  ASSERT(strcmp(pg->context_id, ctx) != 0);
  pb_pool_release(p, pg);
  pb_pool_stop(p);
  ASSERT(gone(pid));
}

/* Warm pages are made ahead of demand, but not while a job runs on the
 * browser and a page is still ready (a new renderer would compete with the
 * job): the spent one is replaced after the release. */
static void test_warm_pages_wait_for_the_job(void) {
  pb_pool_opts o = opts_with(NULL);
  o.warm_pages = 2;
  pb_pool *p = start(&o);
  ASSERT(EVENTUALLY(stats(p).pages_ready == 2, 5000));
  pb_page *pg = NULL;
  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  ASSERT_EQ(stats(p).pages_ready, 1);
  sleep_ms(500);
  ASSERT_EQ(stats(p).pages_ready, 1);
  ASSERT_EQ(fc_recorded_count(fake_dir, pool_pid(p), "Target.createBrowserContext"), 2);
  pb_pool_release(p, pg);
  ASSERT(EVENTUALLY(stats(p).pages_ready == 2, 5000));
  ASSERT_EQ(fc_recorded_count(fake_dir, pool_pid(p), "Target.createBrowserContext"), 3);
  pb_pool_stop(p);
}

/* kill -9 of the browser: the job on it fails at once (not at its
 * deadline), releasing its page is safe, the browser is replaced and counted
 * as a crash, and the next lease works on the new one. */
static void test_crashed_browser_is_replaced(void) {
  pb_pool_opts o = opts_with(NULL);
  pb_pool *p = start(&o);
  pb_page *pg = NULL;
  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  int old = pool_pid(p);
  ASSERT_EQ(kill(old, SIGKILL), 0);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(
      pb_cdp_call(pg->cdp, pg->session_id, "Runtime.evaluate", NULL, t0 + 10000, NULL, NULL, 0),
      PB_ECRASHED);
  ASSERT(pb_now_ms() - t0 < 2000);
  pb_pool_release(p, pg);

  ASSERT(EVENTUALLY(
      stats(p).browsers_crashed == 1 && pool_pid(p) != old && stats(p).pages_ready >= 1, 5000));
  pb_pool_stats st = stats(p);
  ASSERT_EQ(st.restarts[PB_POOL_CAUSE_CRASH], 1);
  ASSERT_EQ(st.restarts[PB_POOL_CAUSE_JOBS], 0);
  ASSERT_EQ(st.browsers_launched, 2);
  ASSERT(gone(old));
  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  ASSERT_EQ(pb_cdp_call(pg->cdp, pg->session_id, "Runtime.evaluate", NULL, pb_now_ms() + 2000, NULL,
                        NULL, 0),
            0);
  pb_pool_release(p, pg);
  pb_pool_stop(p);
}

/* --recycle-after 2: after its second job the browser is replaced by a new
 * one (started before the old one goes), counted as a recycle, not a crash. */
static void test_recycled_after_its_jobs(void) {
  pb_pool_opts o = opts_with(NULL);
  o.recycle_after = 2;
  pb_pool *p = start(&o);
  int first = pool_pid(p);
  for (int i = 0; i < 2; i++) {
    pb_page *pg = NULL;
    ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
    ASSERT_EQ(pool_pid(p), first); /* the first job does not replace it */
    pb_pool_release(p, pg);
    if (i == 0) ASSERT_EQ(stats(p).restarts[PB_POOL_CAUSE_JOBS], 0);
  }
  ASSERT(EVENTUALLY(gone(first) && pool_pid(p) > 0 && pool_pid(p) != first, 5000));
  pb_pool_stats st = stats(p);
  ASSERT_EQ(st.restarts[PB_POOL_CAUSE_JOBS], 1);
  ASSERT_EQ(st.browsers_crashed, 0);
  ASSERT_EQ(st.browsers_launched, 2);
  pb_page *pg = NULL;
  ASSERT_EQ(pb_pool_lease(p, pb_now_ms() + 5000, &pg), 0);
  pb_pool_release(p, pg);
  pb_pool_stop(p);
}

/* A spare is a browser of its own, handed over whole, and refilled. */
static void test_spares_are_taken_and_refilled(void) {
  pb_pool_opts o = opts_with(NULL);
  o.spares = 1;
  pb_pool *p = start(&o);
  ASSERT(EVENTUALLY(stats(p).spares == 1, 5000));
  int spare = spare_pid(p);
  pb_browser *b = NULL;
  ASSERT_EQ(pb_pool_take_spare(p, pb_now_ms() + 5000, &b), 0);
  ASSERT_EQ((int)pb_browser_pid(b), spare);
  ASSERT(spare != pool_pid(p));
  ASSERT(EVENTUALLY(stats(p).spares == 1 && spare_pid(p) != spare, 5000));
  /* Nothing of the pool's was done in it: no context, no page. */
  ASSERT_EQ(fc_recorded_count(fake_dir, spare, "Target.createBrowserContext"), 0);
  ASSERT(pb_cdp_alive(pb_browser_cdp(b)));
  pb_browser_destroy(b);
  ASSERT(gone(spare));
  pb_pool_stop(p);
}

/* A browser that exits before it answers is not counted as launched, the
 * pool keeps trying (backing off), and a lease times out at its deadline. */
static void test_browser_that_never_answers(void) {
  static const char *const die[] = {"--fake-exit-on=Browser.getVersion", NULL};
  pb_pool_opts o = opts_with(die);
  pb_pool *p = NULL;
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_pool_start(&o, t0 + 1500, &p), 0);
  ASSERT(pb_now_ms() - t0 >= 1400);
  pb_page *pg = NULL;
  t0 = pb_now_ms();
  ASSERT_EQ(pb_pool_lease(p, t0 + 300, &pg), PB_ETIMEOUT);
  ASSERT(pb_now_ms() - t0 < 1500);
  pb_pool_stats st = stats(p);
  ASSERT_EQ(st.browsers_launched, 0);
  ASSERT_EQ(st.browsers_alive, 0);
  pb_pool_stop(p);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  snprintf(root, sizeof(root), "/tmp/pb-test-pool-XXXXXX");
  ASSERT(mkdtemp(root));
  snprintf(fake_dir, sizeof(fake_dir), "%s/fake", root);
  ASSERT_EQ(mkdir(fake_dir, 0755), 0);
  snprintf(fake_dir_arg, sizeof(fake_dir_arg), "--fake-dir=%s", fake_dir);
  setenv("TMPDIR", root, 1);
  pb_log_level = PB_LOG_ERROR;
  RUN(test_lease_is_a_fresh_context);
  RUN(test_warm_pages_wait_for_the_job);
  RUN(test_crashed_browser_is_replaced);
  RUN(test_recycled_after_its_jobs);
  RUN(test_spares_are_taken_and_refilled);
  RUN(test_browser_that_never_answers);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  ASSERT_EQ(system(cmd), 0);
  DONE();
}
