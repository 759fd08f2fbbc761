#ifndef PB_CORE_CRAWLSTORE_H
#define PB_CORE_CRAWLSTORE_H
/* Crawls in the store: the job (its request, status and totals), its
 * frontier and its results, one row per normalised URL (tables of
 * migration 7 in core/store.c). The primary key (crawl, url) is the dedupe:
 * a URL is fetched into the results at most once, across restarts too.
 *
 * A connection of its own (core/db.h) on the store the daemon uses, opened
 * after pb_store_open made the schema: data_dir/ppod.db (WAL,
 * synchronous=NORMAL: a crawl's rows are not billing, and losing the last
 * commits at a power cut costs a refetch, not a duplicate), or the
 * PostgreSQL database of --store. One mutex held for each call; any
 * thread. Every function returns 0 or a PB_E* (PB_ESTORE when the database
 * failed, PB_ENOTFOUND where said). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_crawl_store pb_crawl_store;

#define PB_CRAWL_ID_MAX 40

/* A page row's state. ALIAS marks the final URL of a redirect, so that the
 * page is not fetched again under that name; it is no result. */
enum {
  PB_CRAWL_QUEUED = 0,
  PB_CRAWL_RUNNING = 1,
  PB_CRAWL_DONE = 2,
  PB_CRAWL_FAILED = 3,
  PB_CRAWL_SKIPPED = 4,
  PB_CRAWL_ALIAS = 5,
};

typedef struct {
  char id[PB_CRAWL_ID_MAX];
  int64_t account_id;
  int64_t created_ms, ended_ms; /* wall clock; ended 0: not ended */
  char status[16];              /* queued, running, completed, cancelled, failed */
  char error[256];
  char *request; /* the request's JSON; malloc'd, NULL unless asked for */
  int64_t bytes, browser_ms;
  int64_t counts[6]; /* rows per state, PB_CRAWL_* */
  int64_t max_seq, max_done;
} pb_crawl_rec;

/* One URL for the frontier. */
typedef struct {
  const char *url, *origin;
  int depth;
  int state;             /* QUEUED, SKIPPED (at once, with error) or ALIAS */
  const char *error;     /* SKIPPED: why */
  int64_t seq, done_seq; /* done_seq: SKIPPED only */
} pb_crawl_url;

/* One result row, as read back. Strings malloc'd (freed by
 * pb_crawl_results_free). */
typedef struct {
  char *url, *final_url, *title, *error, *result;
  int state, depth, http_status;
  int64_t done_seq;
} pb_crawl_result;

/* spec: a store spec as core/db.h's pb_db_open takes (pb_store_db_spec),
 * or NULL/"" for data_dir/ppod.db. */
int pb_crawl_store_open_spec(const char *spec, const char *data_dir, pb_crawl_store **out);
/* = pb_crawl_store_open_spec(NULL, data_dir, out). */
int pb_crawl_store_open(const char *data_dir, pb_crawl_store **out);
/* NULL is a no-op. */
void pb_crawl_store_close(pb_crawl_store *s);

/* A new crawl, status "queued", with its seeds (state QUEUED). */
int pb_crawl_create(pb_crawl_store *s, const char *id, int64_t account_id, const char *request,
                    int64_t now_wall_ms);
/* The crawl of account (any account when account_id < 0): PB_ENOTFOUND.
 * with_request: out->request is filled (caller frees). Counts filled. */
int pb_crawl_get(pb_crawl_store *s, const char *id, int64_t account_id, int with_request,
                 pb_crawl_rec *out);
/* Crawls whose status is queued or running (to resume) and whose id starts
 * with prefix (a cluster node's tag; NULL or "": all), with requests;
 * *out malloc'd (free each request, then the array). */
int pb_crawl_list_active(pb_crawl_store *s, const char *prefix, pb_crawl_rec **out, size_t *n);
/* Crawls of account queued or running, and the bytes of all its results. */
int pb_crawl_account_usage(pb_crawl_store *s, int64_t account_id, int *active, int64_t *bytes);
/* Sets the status (and error, may be NULL); ended_ms 0 leaves it. Only a
 * crawl still queued or running changes: a finished one (completed,
 * cancelled, or ended NodeLost by another node) keeps its ending. */
int pb_crawl_set_status(pb_crawl_store *s, const char *id, const char *status, const char *error,
                        int64_t ended_ms);
/* Rows RUNNING back to QUEUED, of crawls whose id starts with prefix
 * (NULL or "": all): at start, for the pages a stopped daemon was
 * fetching. *n how many. */
int pb_crawl_requeue_running(pb_crawl_store *s, const char *prefix, int *n);

/* Cluster mode: a crawl belongs to the node whose tag starts its id. */
#define PB_CRAWL_NODE_LOST_ERROR \
  "NodeLost: the node running this crawl stopped answering (or stopped) before it ended"
/* The queued or running crawls of node tag (4 hex digits; anything else
 * PB_EINVAL) end now: status failed (GET: errored), error
 * PB_CRAWL_NODE_LOST_ERROR; their RUNNING pages become FAILED with that
 * error (the results numbered so far stay). Idempotent; one transaction.
 * *n crawls ended. */
int pb_crawl_node_lost(pb_crawl_store *s, const char *tag, int64_t now_ms, int *n);
/* The same for every crawl of a node row (table nodes) that is lost or
 * left, other than self_tag's: at a cluster node's start, for crawls of
 * incarnations that drained or were declared lost while no crawler ran. */
int pb_crawl_orphans_end(pb_crawl_store *s, const char *self_tag, int64_t now_ms, int *n);

/* Adds urls (INSERT OR IGNORE: an URL already known is left as it is);
 * *added (may be NULL) how many were new. One transaction. */
int pb_crawl_add_urls(pb_crawl_store *s, const char *id, const pb_crawl_url *urls, int n,
                      int *added);
/* Claims the oldest QUEUED row whose origin busy(data, origin) says is free
 * (0), among the first 256: RUNNING now (a conditional update: a row
 * another connection claimed first is skipped). PB_ENOTFOUND when none is
 * queued, PB_EBUSY when every one seen waits for a busy origin. url and
 * origin get the row's (caps PB_CRAWL_URL_MAX + 1 and 300). */
int pb_crawl_claim(pb_crawl_store *s, const char *id, int (*busy)(void *data, const char *origin),
                   void *data, char *url, char *origin, int *depth);
/* Records a fetched page (state DONE, FAILED or back to QUEUED when
 * state is QUEUED), adds its links (as pb_crawl_add_urls) and the crawl's
 * totals, in one transaction. */
int pb_crawl_finish(pb_crawl_store *s, const char *id, const char *url, int state, int64_t done_seq,
                    int http_status, const char *final_url, const char *title, const char *error,
                    const char *result, int64_t browser_ms, const pb_crawl_url *links, int nlinks,
                    int *added);
/* Up to max finished rows (DONE, FAILED, SKIPPED) with done_seq > after,
 * in done_seq order. */
int pb_crawl_results(pb_crawl_store *s, const char *id, int64_t after, int max,
                     pb_crawl_result **out, size_t *n);
void pb_crawl_results_free(pb_crawl_result *r, size_t n);
/* Calls fn(data, url) for every row of the crawl (to rebuild the seen set
 * at resume). */
int pb_crawl_each_url(pb_crawl_store *s, const char *id, void (*fn)(void *data, const char *url),
                      void *data);
/* Deletes crawls that ended before cutoff_wall_ms, with their rows. */
int pb_crawl_sweep(pb_crawl_store *s, int64_t cutoff_wall_ms, int *n);

#endif
