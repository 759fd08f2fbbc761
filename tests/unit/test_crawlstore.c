/* Crawls in the store (real SQLite in a temp dir; as unit/test_crawlstore_pg
 * a real PostgreSQL, unit/pgtest.h): a URL is a row once
 * whatever its discoverers, a claim skips busy hosts and says so, results
 * come back in completion order from a cursor, rows in flight go back to
 * the frontier after a restart, an account sees only its own crawls, and
 * ended crawls are swept; two connections claiming from one frontier at
 * once never take the same row. In a cluster a crawl is its node's (the
 * tag its id starts with): requeue and resume are scoped to a tag, and a
 * lost node's unfinished crawls end failed with the NodeLost text, its
 * running pages FAILED, other nodes' crawls untouched. */
#include "core/crawlstore.h"

#include "common/crawlurl.h"

#include "common/pb.h"
#include "core/db.h"
#include "core/store.h"
#include "pgtest.h"
#include "test.h"

#include <pthread.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static const char *spec; /* the store: dir's ppod.db, or a fresh PG database */

static int busy_b(void *data, const char *origin) {
  (void)data;
  return !strcmp(origin, "http://b");
}

static pb_crawl_url url(const char *u, const char *origin, int64_t seq) {
  return (pb_crawl_url){
      .url = u, .origin = origin, .depth = 1, .state = PB_CRAWL_QUEUED, .seq = seq};
}

static void test_lifecycle(void) {
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, dir, &st), 0);
  int64_t acct = 0, other = 0;
  ASSERT_EQ(pb_account_create(st, "crawler", &acct), 0);
  ASSERT_EQ(pb_account_create(st, "someone", &other), 0);
  pb_crawl_store *s = NULL;
  ASSERT_EQ(pb_crawl_store_open_spec(spec, dir, &s), 0);
  ASSERT_EQ(pb_crawl_create(s, "c1", acct, "{\"url\":\"http://b/\"}", 1000), 0);

  pb_crawl_url v[3] = {url("http://b/", "http://b", 1), url("http://a/1", "http://a", 2),
                       url("http://a/2", "http://a", 3)};
  int added = 0;
  ASSERT_EQ(pb_crawl_add_urls(s, "c1", v, 3, &added), 0);
  ASSERT_EQ(added, 3);
  ASSERT_EQ(pb_crawl_add_urls(s, "c1", v + 1, 1, &added), 0); /* known: ignored */
  ASSERT_EQ(added, 0);

  /* The oldest row whose host is free. */
  char u[PB_CRAWL_URL_MAX + 1], origin[300];
  int depth = -1;
  ASSERT_EQ(pb_crawl_claim(s, "c1", busy_b, NULL, u, origin, &depth), 0);
  ASSERT_STR_EQ(u, "http://a/1");
  ASSERT_STR_EQ(origin, "http://a");
  ASSERT_EQ(depth, 1);

  /* Done, with a new link and a link already known. */
  pb_crawl_url links[2] = {url("http://a/3", "http://a", 4), url("http://a/2", "http://a", 5)};
  ASSERT_EQ(pb_crawl_finish(s, "c1", "http://a/1", PB_CRAWL_DONE, 1, 200, "http://a/1", "One", NULL,
                            "{\"markdown\":\"# One\"}", 40, links, 2, &added),
            0);
  ASSERT_EQ(added, 1);
  ASSERT_EQ(pb_crawl_claim(s, "c1", busy_b, NULL, u, origin, &depth), 0);
  ASSERT_STR_EQ(u, "http://a/2");
  /* A restart: the row in flight is queued again. */
  int n = 0;
  ASSERT_EQ(pb_crawl_requeue_running(s, NULL, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_crawl_claim(s, "c1", busy_b, NULL, u, origin, &depth), 0);
  ASSERT_STR_EQ(u, "http://a/2");
  ASSERT_EQ(pb_crawl_finish(s, "c1", "http://a/2", PB_CRAWL_FAILED, 2, 404, "http://a/2", NULL,
                            "HTTP 404", NULL, 10, NULL, 0, NULL),
            0);
  ASSERT_EQ(pb_crawl_claim(s, "c1", busy_b, NULL, u, origin, &depth), 0);
  ASSERT_STR_EQ(u, "http://a/3");
  ASSERT_EQ(pb_crawl_finish(s, "c1", "http://a/3", PB_CRAWL_DONE, 3, 200, NULL, NULL, NULL, "{}", 5,
                            NULL, 0, NULL),
            0);
  /* Only the busy host's row is left: busy, not empty. */
  ASSERT_EQ(pb_crawl_claim(s, "c1", busy_b, NULL, u, origin, &depth), PB_EBUSY);
  ASSERT_EQ(pb_crawl_claim(s, "c1", NULL, NULL, u, origin, &depth), 0);
  ASSERT_STR_EQ(u, "http://b/");
  ASSERT_EQ(pb_crawl_claim(s, "c1", NULL, NULL, u, origin, &depth), PB_ENOTFOUND);

  /* Results from a cursor, in completion order. */
  pb_crawl_result *r = NULL;
  size_t nr = 0;
  ASSERT_EQ(pb_crawl_results(s, "c1", 0, 2, &r, &nr), 0);
  ASSERT_EQ(nr, 2u);
  ASSERT_STR_EQ(r[0].url, "http://a/1");
  ASSERT_STR_EQ(r[0].title, "One");
  ASSERT_STR_EQ(r[0].result, "{\"markdown\":\"# One\"}");
  ASSERT_EQ(r[1].http_status, 404);
  ASSERT_EQ(r[1].state, PB_CRAWL_FAILED);
  int64_t cursor = r[1].done_seq;
  pb_crawl_results_free(r, nr);
  ASSERT_EQ(pb_crawl_results(s, "c1", cursor, 50, &r, &nr), 0);
  ASSERT_EQ(nr, 1u);
  ASSERT_STR_EQ(r[0].url, "http://a/3");
  pb_crawl_results_free(r, nr);

  pb_crawl_rec rec;
  ASSERT_EQ(pb_crawl_get(s, "c1", acct, 1, &rec), 0);
  ASSERT_EQ(rec.counts[PB_CRAWL_DONE], 2);
  ASSERT_EQ(rec.counts[PB_CRAWL_FAILED], 1);
  ASSERT_EQ(rec.counts[PB_CRAWL_RUNNING], 1);
  ASSERT_EQ(rec.browser_ms, 55);
  ASSERT(rec.bytes > 0);
  ASSERT_STR_EQ(rec.request, "{\"url\":\"http://b/\"}");
  free(rec.request);
  ASSERT_EQ(pb_crawl_get(s, "c1", other, 0, &rec), PB_ENOTFOUND);
  int active = 0;
  int64_t bytes = 0;
  ASSERT_EQ(pb_crawl_account_usage(s, acct, &active, &bytes), 0);
  ASSERT_EQ(active, 1);
  ASSERT(bytes > 0);
  pb_crawl_rec *list = NULL;
  size_t nl = 0;
  ASSERT_EQ(pb_crawl_list_active(s, "", &list, &nl), 0);
  ASSERT_EQ(nl, 1u);
  free(list[0].request);
  free(list);

  /* Swept once ended long enough ago; not before. */
  ASSERT_EQ(pb_crawl_set_status(s, "c1", "completed", NULL, 5000), 0);
  ASSERT_EQ(pb_crawl_sweep(s, 4000, &n), 0);
  ASSERT_EQ(n, 0);
  ASSERT_EQ(pb_crawl_sweep(s, 6000, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_crawl_get(s, "c1", acct, 0, &rec), PB_ENOTFOUND);
  ASSERT_EQ(pb_crawl_results(s, "c1", 0, 50, &r, &nr), 0);
  ASSERT_EQ(nr, 0u);
  pb_crawl_results_free(r, nr);
  pb_crawl_store_close(s);
  pb_store_close(st);
}

/* Two connections (two nodes) claiming from one frontier at once: every
 * row is claimed once, none twice. */
#define RACE_URLS 60
typedef struct {
  pb_crawl_store *s;
  char claimed[RACE_URLS + 1][PB_CRAWL_URL_MAX + 1];
  int n;
} claimer;

static void *claim_all(void *arg) {
  claimer *c = arg;
  char origin[300];
  int depth, rc;
  while ((rc = pb_crawl_claim(c->s, "race", NULL, NULL, c->claimed[c->n], origin, &depth)) !=
         PB_ENOTFOUND) {
    if (rc == 0 && c->n < RACE_URLS) c->n++;
    if (rc && rc != PB_EBUSY) break;
  }
  return NULL;
}

static void test_claim_race(void) {
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, dir, &st), 0);
  int64_t acct = 0;
  ASSERT_EQ(pb_account_create(st, "racer", &acct), 0);
  static claimer c[2];
  ASSERT_EQ(pb_crawl_store_open_spec(spec, dir, &c[0].s), 0);
  ASSERT_EQ(pb_crawl_store_open_spec(spec, dir, &c[1].s), 0);
  ASSERT_EQ(pb_crawl_create(c[0].s, "race", acct, "{}", 1000), 0);
  pb_crawl_url v[RACE_URLS];
  static char names[RACE_URLS][32];
  for (int i = 0; i < RACE_URLS; i++) {
    snprintf(names[i], sizeof(names[i]), "http://h/%d", i);
    v[i] = url(names[i], "http://h", i + 1);
  }
  int added = 0;
  ASSERT_EQ(pb_crawl_add_urls(c[0].s, "race", v, RACE_URLS, &added), 0);
  ASSERT_EQ(added, RACE_URLS);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) ASSERT_EQ(pthread_create(&t[i], NULL, claim_all, &c[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  ASSERT_EQ(c[0].n + c[1].n, RACE_URLS);
  for (int i = 0; i < c[0].n; i++)
    for (int j = 0; j < c[1].n; j++) ASSERT(strcmp(c[0].claimed[i], c[1].claimed[j]));
  pb_crawl_rec rec;
  ASSERT_EQ(pb_crawl_get(c[0].s, "race", acct, 0, &rec), 0);
  ASSERT_EQ(rec.counts[PB_CRAWL_RUNNING], RACE_URLS);
  ASSERT_EQ(rec.counts[PB_CRAWL_QUEUED], 0);
  pb_crawl_store_close(c[0].s);
  pb_crawl_store_close(c[1].s);
  pb_store_close(st);
}

static void crawl_with_page(pb_crawl_store *s, const char *id, int64_t acct, const char *u) {
  ASSERT_EQ(pb_crawl_create(s, id, acct, "{}", 1000), 0);
  pb_crawl_url v = url(u, "http://n", 1);
  ASSERT_EQ(pb_crawl_add_urls(s, id, &v, 1, NULL), 0);
  ASSERT_EQ(pb_crawl_set_status(s, id, "running", NULL, 0), 0);
  char got[PB_CRAWL_URL_MAX + 1], origin[300];
  int depth;
  ASSERT_EQ(pb_crawl_claim(s, id, NULL, NULL, got, origin, &depth), 0); /* RUNNING */
}

static void test_node_scoped(void) {
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, dir, &st), 0);
  int64_t acct = 0;
  ASSERT_EQ(pb_account_create(st, "nodes", &acct), 0);
  pb_crawl_store *s = NULL;
  ASSERT_EQ(pb_crawl_store_open_spec(spec, dir, &s), 0);
  /* Mark what the earlier tests left ended: only this test's crawls are
   * active below. */
  ASSERT_EQ(pb_crawl_set_status(s, "race", "cancelled", NULL, 2000), 0);
  crawl_with_page(s, "aaaa00000000000000000001", acct, "http://n/a1");
  crawl_with_page(s, "aaaa00000000000000000002", acct, "http://n/a2");
  crawl_with_page(s, "bbbb00000000000000000001", acct, "http://n/b1");
  crawl_with_page(s, "cccc00000000000000000001", acct, "http://n/c1");

  /* Node aaaa's restart: its pages only go back, its crawls only listed. */
  int n = 0;
  ASSERT_EQ(pb_crawl_requeue_running(s, "aaaa", &n), 0);
  ASSERT_EQ(n, 2);
  pb_crawl_rec *list = NULL;
  size_t nl = 0;
  ASSERT_EQ(pb_crawl_list_active(s, "aaaa", &list, &nl), 0);
  ASSERT_EQ(nl, 2u);
  for (size_t i = 0; i < nl; i++) {
    ASSERT(!strncmp(list[i].id, "aaaa", 4));
    free(list[i].request);
  }
  free(list);
  pb_crawl_rec rec;
  ASSERT_EQ(pb_crawl_get(s, "bbbb00000000000000000001", acct, 0, &rec), 0);
  ASSERT_EQ(rec.counts[PB_CRAWL_RUNNING], 1); /* another node's page: left */
  ASSERT_EQ(pb_crawl_list_active(s, NULL, &list, &nl), 0); /* all, as one node */
  ASSERT_EQ(nl, 4u);
  for (size_t i = 0; i < nl; i++) free(list[i].request);
  free(list);

  /* bbbb is lost: its crawl ends failed (GET: errored) with the text, its
   * page FAILED; the account's active count drops; idempotent. */
  int active = 0;
  int64_t bytes = 0;
  ASSERT_EQ(pb_crawl_account_usage(s, acct, &active, &bytes), 0);
  ASSERT_EQ(active, 4);
  ASSERT_EQ(pb_crawl_node_lost(s, "bbbb", 7000, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_crawl_get(s, "bbbb00000000000000000001", acct, 0, &rec), 0);
  ASSERT_STR_EQ(rec.status, "failed");
  ASSERT(!strncmp(rec.error, "NodeLost:", 9));
  ASSERT_EQ(rec.ended_ms, 7000);
  ASSERT_EQ(rec.counts[PB_CRAWL_RUNNING], 0);
  ASSERT_EQ(rec.counts[PB_CRAWL_FAILED], 1);
  ASSERT_EQ(pb_crawl_account_usage(s, acct, &active, &bytes), 0);
  ASSERT_EQ(active, 3);
  ASSERT_EQ(pb_crawl_node_lost(s, "bbbb", 8000, &n), 0);
  ASSERT_EQ(n, 0);
  ASSERT_EQ(pb_crawl_get(s, "bbbb00000000000000000001", acct, 0, &rec), 0);
  ASSERT_EQ(rec.ended_ms, 7000);
  ASSERT_EQ(pb_crawl_get(s, "aaaa00000000000000000001", acct, 0, &rec), 0);
  ASSERT_STR_EQ(rec.status, "running");
  /* A tag that is not 4 characters is refused, never "every crawl". */
  ASSERT_EQ(pb_crawl_node_lost(s, "", 8000, &n), PB_EINVAL);
  ASSERT_EQ(pb_crawl_node_lost(s, "aa", 8000, &n), PB_EINVAL);
  ASSERT_EQ(pb_crawl_account_usage(s, acct, &active, &bytes), 0);
  ASSERT_EQ(active, 3);

  /* Orphans at a node's start: cccc left (drained), aaaa is up, dddd is
   * self: only cccc's crawl ends. */
  pb_db *db = NULL;
  ASSERT_EQ(pb_db_open(spec, &db), 0);
  ASSERT_EQ(pb_db_exec(db,
                       "INSERT INTO nodes (tag, name, url, capacity, state, started_ms,"
                       " heartbeat_ms) VALUES ('cccc', 'c', 'http://c', 1, 'left', 1, 1),"
                       " ('aaaa', 'a', 'http://a', 1, 'up', 1, 1)"),
            0);
  pb_db_close(db);
  ASSERT_EQ(pb_crawl_orphans_end(s, "dddd", 9000, &n), 0);
  ASSERT_EQ(n, 1);
  ASSERT_EQ(pb_crawl_get(s, "cccc00000000000000000001", acct, 0, &rec), 0);
  ASSERT_STR_EQ(rec.status, "failed");
  ASSERT_EQ(pb_crawl_get(s, "aaaa00000000000000000002", acct, 0, &rec), 0);
  ASSERT_STR_EQ(rec.status, "running");
  pb_crawl_store_close(s);
  pb_store_close(st);
}

int main(void) {
  snprintf(dir, sizeof(dir), "/tmp/pb-crawlstore-XXXXXX");
  ASSERT(mkdtemp(dir) != NULL);
  static char path[96];
  snprintf(path, sizeof(path), "%s/ppod.db", dir);
  spec = pb_test_db_spec(path);
  RUN(test_lifecycle);
  RUN(test_claim_race);
  RUN(test_node_scoped);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
  DONE();
}
