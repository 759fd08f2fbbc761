#ifndef PB_HTTP_METRICS_H
#define PB_HTTP_METRICS_H
/* Counters for /metrics (Prometheus text format). Thread-safe. */
#include "common/pb.h"

#include <stdint.h>

typedef struct pb_metrics pb_metrics;

int pb_metrics_new(pb_metrics **out);
void pb_metrics_free(pb_metrics *m);

/* Counts one answered request. route is a static string. */
void pb_metrics_request(pb_metrics *m, const char *route, int status);
/* Records a finished job's duration. */
void pb_metrics_job(pb_metrics *m, int64_t ms);
/* Records how long an admitted job waited for a job thread. */
void pb_metrics_queue_wait(pb_metrics *m, int64_t ms);
/* Counts one request refused for capacity or limits; reason is a static
 * string such as "queue_full", "rate_limited", "concurrency", "quota",
 * "sessions", "draining", "storage_full". */
void pb_metrics_reject(pb_metrics *m, const char *reason);

/* One browser's line in ppod_browser_rss_bytes. */
typedef struct {
  int index;
  int pid; /* 0: not shown (only an authenticated scrape sees pids) */
  int spare;
  long rss_kb;
} pb_metrics_browser;

typedef struct {
  int queue_depth;
  int jobs_running;
  int browsers_alive;
  int pages_ready;
  uint64_t browsers_launched;
  uint64_t browsers_crashed;
  uint64_t restarts[4];       /* by cause: crash, recycle_jobs, recycle_rss, recycle_age */
  int spares;
  const pb_metrics_browser *browsers;
  int nbrowsers;
  int sessions_connected, sessions_idle, sessions_ending;
  int64_t usage_open;         /* -1: unknown (the store failed) */
  int requests_live;          /* requests holding a job (running or queued) */
  int egress_known;           /* the egress fields below are set */
  uint64_t egress[4];         /* by result: allowed, refused, failed, capped */
  int egress_conns;           /* open through the egress proxy now */
} pb_metrics_gauges;

/* Appends the exposition text to out. */
int pb_metrics_render(pb_metrics *m, const pb_metrics_gauges *g, pb_buf *out);

#endif
