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

typedef struct {
  int queue_depth;
  int jobs_running;
  int browsers_alive;
  int pages_ready;
  uint64_t browsers_launched;
  uint64_t browsers_crashed;
} pb_metrics_gauges;

/* Appends the exposition text to out. */
int pb_metrics_render(pb_metrics *m, const pb_metrics_gauges *g, pb_buf *out);

#endif
