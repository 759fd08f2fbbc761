#include "http/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 128
static const double buckets_s[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof(buckets_s) / sizeof(buckets_s[0]))

struct pb_metrics {
  pthread_mutex_t mu;
  struct {
    const char *route;
    int status;
    uint64_t count;
  } req[MAX_SERIES];
  int nreq;
  uint64_t bucket[NBUCKETS];
  uint64_t job_count;
  double job_sum_s;
};

int pb_metrics_new(pb_metrics **out) {
  pb_metrics *m = calloc(1, sizeof(*m));
  if (!m) return PB_ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  *out = m;
  return 0;
}

void pb_metrics_free(pb_metrics *m) {
  if (!m) return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void pb_metrics_request(pb_metrics *m, const char *route, int status) {
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nreq; i++)
    if (m->req[i].status == status && !strcmp(m->req[i].route, route)) break;
  if (i == m->nreq && m->nreq < MAX_SERIES) {
    m->req[i].route = route;
    m->req[i].status = status;
    m->nreq++;
  }
  if (i < m->nreq) m->req[i].count++;
  pthread_mutex_unlock(&m->mu);
}

void pb_metrics_job(pb_metrics *m, int64_t ms) {
  double s = (double)ms / 1000.0;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < NBUCKETS; i++)
    if (s <= buckets_s[i]) m->bucket[i]++;
  m->job_count++;
  m->job_sum_s += s;
  pthread_mutex_unlock(&m->mu);
}

int pb_metrics_render(pb_metrics *m, const pb_metrics_gauges *g, pb_buf *o) {
  pthread_mutex_lock(&m->mu);
  pb_buf_printf(o, "# HELP ppod_http_requests_total HTTP requests answered, by route and status.\n"
                   "# TYPE ppod_http_requests_total counter\n");
  for (int i = 0; i < m->nreq; i++)
    pb_buf_printf(o, "ppod_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n", m->req[i].route,
                  m->req[i].status, (unsigned long long)m->req[i].count);
  pb_buf_printf(o, "# HELP ppod_job_duration_seconds Time from admission to answer of a job.\n"
                   "# TYPE ppod_job_duration_seconds histogram\n");
  for (size_t i = 0; i < NBUCKETS; i++)
    pb_buf_printf(o, "ppod_job_duration_seconds_bucket{le=\"%g\"} %llu\n", buckets_s[i],
                  (unsigned long long)m->bucket[i]);
  pb_buf_printf(o, "ppod_job_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)m->job_count);
  pb_buf_printf(o, "ppod_job_duration_seconds_sum %.3f\nppod_job_duration_seconds_count %llu\n",
                m->job_sum_s, (unsigned long long)m->job_count);
  pthread_mutex_unlock(&m->mu);
  pb_buf_printf(o,
                "# HELP ppod_queue_depth Jobs waiting for a job thread.\n# TYPE ppod_queue_depth gauge\n"
                "ppod_queue_depth %d\n"
                "# HELP ppod_jobs_running Jobs running now.\n# TYPE ppod_jobs_running gauge\n"
                "ppod_jobs_running %d\n"
                "# HELP ppod_browsers_alive Pool browsers alive.\n# TYPE ppod_browsers_alive gauge\n"
                "ppod_browsers_alive %d\n"
                "# HELP ppod_pages_ready Pages prepared ahead of demand.\n# TYPE ppod_pages_ready gauge\n"
                "ppod_pages_ready %d\n"
                "# HELP ppod_browsers_launched_total Browsers started.\n# TYPE ppod_browsers_launched_total counter\n"
                "ppod_browsers_launched_total %llu\n"
                "# HELP ppod_browsers_crashed_total Browsers that died unasked.\n# TYPE ppod_browsers_crashed_total counter\n"
                "ppod_browsers_crashed_total %llu\n",
                g->queue_depth, g->jobs_running, g->browsers_alive, g->pages_ready,
                (unsigned long long)g->browsers_launched, (unsigned long long)g->browsers_crashed);
  return 0;
}
