#ifndef PB_OPS_CRAWL_H
#define PB_OPS_CRAWL_H
/* Whole-site crawls (POST /browser/crawl): a scheduler thread of its own
 * takes URLs from each crawl's frontier in the store (core/crawlstore.h)
 * and runs each page as a job on the shared job threads (ops/jobs.h, keyed
 * by account), within two bounds:
 *
 *   - share: the page jobs of one account's crawls at once (default half
 *     the job threads), so a crawl never holds every browser and other
 *     tenants' quick actions keep flowing;
 *   - per_host: pages at once per origin over all crawls (default 1: one
 *     page at a time per host, politeness).
 *
 * A page is rendered in a leased pool page (ops/nav.h, the request's
 * pageOptions) or, with render:false, fetched through the egress proxy
 * (each redirect hop checked by egress/policy.h first, then by the proxy
 * on the addresses it resolves). robots.txt and sitemaps always come
 * through the proxy. Each page's browser time is a usage row of kind
 * "crawl".
 *
 * Durable: a stopped daemon leaves its crawls queued or running in the
 * store; pb_crawler_start resumes them (in cluster mode only the crawls
 * whose id carries this node's tag: a crawl belongs to the node that
 * started it, and ends errored NodeLost when that node is lost or left), pages that were being fetched go
 * back to the frontier, and the (crawl, url) key keeps them from being
 * fetched into the results twice. Ended crawls are swept 24 h after they
 * ended.
 *
 * Threads: the ops below run on job threads; the scheduler on its own. */
#include "core/crawlstore.h"
#include "ops/jobs.h"
#include "ops/ops.h"

typedef struct pb_crawler pb_crawler;

typedef struct {
  const pb_ops_env *env; /* borrowed; outlives the crawler */
  pb_jobs *jobs;         /* borrowed; stopped after the crawler */
  const char *data_dir;  /* where ppod.db is (pb_store_open made it) */
  const char *store_spec; /* pb_store_db_spec, borrowed; NULL: data_dir's ppod.db */
  int share;             /* page jobs at once per account; 0: 1 */
  int per_host;          /* pages at once per origin; 0: 1 */
  int max_active;        /* crawls queued or running per account; 0: 4 */
  int64_t max_bytes;     /* stored results per account; 0: 256 MiB */
  int proxy_port;        /* the egress proxy on 127.0.0.1 */
  /* Reads a validated body into a typed request (http/options.c's
   * pb_request_from_json), for each page's pageOptions. */
  void (*read_request)(const cJSON *body, pb_request *out);
} pb_crawler_opts;

#define PB_CRAWL_LIMIT_DEFAULT 10
#define PB_CRAWL_LIMIT_MAX 10000
#define PB_CRAWL_DEPTH_DEFAULT 3
#define PB_CRAWL_DEPTH_MAX 100
#define PB_CRAWL_KEEP_MS (24LL * 3600 * 1000)
#define PB_CRAWL_PAGE_BYTES_MAX (8 << 20) /* a page fetched without rendering */

/* Opens the crawl store and resumes what a stopped run left. */
int pb_crawler_start(const pb_crawler_opts *o, pb_crawler **out);
/* Cluster mode: node tag was declared lost (daemon/cluster.c, on the
 * heartbeat thread): its crawls still queued or running end errored with
 * PB_CRAWL_NODE_LOST_ERROR (pb_crawl_node_lost), so its accounts' active
 * crawls are freed. *n how many. NULL crawler: no-op. Any thread. */
int pb_crawler_node_lost(pb_crawler *c, const char *tag, int *n);
/* Stops taking pages; pages being fetched go back to the frontier (their
 * crawls resume at the next start). Before pb_jobs_stop. NULL: no-op. */
void pb_crawler_stop(pb_crawler *c);

/* POST /browser/crawl (opts.body): {id} at once. */
int pb_op_crawl_start(pb_job *job, pb_op_result *res);
/* GET /browser/crawl/{id} (opts.id; job->query: cursor, limit, format). */
int pb_op_crawl_get(pb_job *job, pb_op_result *res);
/* DELETE /browser/crawl/{id}: cancelled; pages being fetched are dropped. */
int pb_op_crawl_delete(pb_job *job, pb_op_result *res);

#endif
