#include "http/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 128
static const double buckets_s[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
#define NBUCKETS (sizeof(buckets_s) / sizeof(buckets_s[0]))
/* Queue waits are short when all is well: finer buckets at the low end. */
static const double wait_buckets_s[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.25,
                                        0.5,   1,     2.5,  5,    10,  30};
#define NBUCKETS_WAIT (sizeof(wait_buckets_s) / sizeof(wait_buckets_s[0]))
#define MAX_REASONS 16
/* Reasons always shown, at 0 until they happen, so rate() works from the start.
 */
static const char *const known_reasons[] = {
    "queue_full", "rate_limited", "concurrency", "quota",
    "sessions",   "draining",     "storage_full"};
static const char *const restart_causes[] = {"crash", "recycle_jobs",
                                             "recycle_rss", "recycle_age"};

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
  uint64_t wait_bucket[NBUCKETS_WAIT];
  uint64_t wait_count;
  double wait_sum_s;
  struct {
    const char *reason;
    uint64_t count;
  } rej[MAX_REASONS];
  int nrej;
};

int pb_metrics_new(pb_metrics **out) {
  pb_metrics *m = calloc(1, sizeof(*m));
  if (!m)
    return PB_ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  *out = m;
  return 0;
}

void pb_metrics_free(pb_metrics *m) {
  if (!m)
    return;
  pthread_mutex_destroy(&m->mu);
  free(m);
}

void pb_metrics_request(pb_metrics *m, const char *route, int status) {
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nreq; i++)
    if (m->req[i].status == status && !strcmp(m->req[i].route, route))
      break;
  if (i == m->nreq && m->nreq < MAX_SERIES) {
    m->req[i].route = route;
    m->req[i].status = status;
    m->nreq++;
  }
  if (i < m->nreq)
    m->req[i].count++;
  pthread_mutex_unlock(&m->mu);
}

void pb_metrics_job(pb_metrics *m, int64_t ms) {
  double s = (double)ms / 1000.0;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < NBUCKETS; i++)
    if (s <= buckets_s[i])
      m->bucket[i]++;
  m->job_count++;
  m->job_sum_s += s;
  pthread_mutex_unlock(&m->mu);
}

void pb_metrics_queue_wait(pb_metrics *m, int64_t ms) {
  double s = (double)(ms < 0 ? 0 : ms) / 1000.0;
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < NBUCKETS_WAIT; i++)
    if (s <= wait_buckets_s[i])
      m->wait_bucket[i]++;
  m->wait_count++;
  m->wait_sum_s += s;
  pthread_mutex_unlock(&m->mu);
}

static int reject_slot_locked(pb_metrics *m, const char *reason) {
  int i;
  for (i = 0; i < m->nrej; i++)
    if (!strcmp(m->rej[i].reason, reason))
      return i;
  if (m->nrej == MAX_REASONS)
    return -1;
  m->rej[i].reason = reason;
  m->rej[i].count = 0;
  m->nrej++;
  return i;
}

void pb_metrics_reject(pb_metrics *m, const char *reason) {
  pthread_mutex_lock(&m->mu);
  int i = reject_slot_locked(m, reason);
  if (i >= 0)
    m->rej[i].count++;
  pthread_mutex_unlock(&m->mu);
}

int pb_metrics_render(pb_metrics *m, const pb_metrics_gauges *g, pb_buf *o) {
  pthread_mutex_lock(&m->mu);
  pb_buf_printf(o, "# HELP ppod_http_requests_total HTTP requests answered, by "
                   "route and status.\n"
                   "# TYPE ppod_http_requests_total counter\n");
  for (int i = 0; i < m->nreq; i++)
    pb_buf_printf(
        o, "ppod_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
        m->req[i].route, m->req[i].status, (unsigned long long)m->req[i].count);
  pb_buf_printf(o, "# HELP ppod_job_duration_seconds Time from admission to "
                   "answer of a job.\n"
                   "# TYPE ppod_job_duration_seconds histogram\n");
  for (size_t i = 0; i < NBUCKETS; i++)
    pb_buf_printf(o, "ppod_job_duration_seconds_bucket{le=\"%g\"} %llu\n",
                  buckets_s[i], (unsigned long long)m->bucket[i]);
  pb_buf_printf(o, "ppod_job_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)m->job_count);
  pb_buf_printf(o,
                "ppod_job_duration_seconds_sum "
                "%.3f\nppod_job_duration_seconds_count %llu\n",
                m->job_sum_s, (unsigned long long)m->job_count);
  pb_buf_printf(o, "# HELP ppod_queue_wait_seconds Time an admitted job waited "
                   "for a job thread.\n"
                   "# TYPE ppod_queue_wait_seconds histogram\n");
  for (size_t i = 0; i < NBUCKETS_WAIT; i++)
    pb_buf_printf(o, "ppod_queue_wait_seconds_bucket{le=\"%g\"} %llu\n",
                  wait_buckets_s[i], (unsigned long long)m->wait_bucket[i]);
  pb_buf_printf(o, "ppod_queue_wait_seconds_bucket{le=\"+Inf\"} %llu\n",
                (unsigned long long)m->wait_count);
  pb_buf_printf(
      o,
      "ppod_queue_wait_seconds_sum %.3f\nppod_queue_wait_seconds_count %llu\n",
      m->wait_sum_s, (unsigned long long)m->wait_count);
  for (size_t i = 0; i < sizeof(known_reasons) / sizeof(known_reasons[0]); i++)
    reject_slot_locked(m, known_reasons[i]);
  pb_buf_printf(o, "# HELP ppod_rejections_total Requests refused for capacity "
                   "or limits, by reason.\n"
                   "# TYPE ppod_rejections_total counter\n");
  for (int i = 0; i < m->nrej; i++)
    pb_buf_printf(o, "ppod_rejections_total{reason=\"%s\"} %llu\n",
                  m->rej[i].reason, (unsigned long long)m->rej[i].count);
  pthread_mutex_unlock(&m->mu);
  pb_buf_printf(
      o,
      "# HELP ppod_browser_restarts_total Pool browsers replaced, by cause.\n"
      "# TYPE ppod_browser_restarts_total counter\n");
  uint64_t recycles = 0;
  for (int i = 0; i < 4; i++) {
    pb_buf_printf(o, "ppod_browser_restarts_total{cause=\"%s\"} %llu\n",
                  restart_causes[i], (unsigned long long)g->restarts[i]);
    if (i > 0)
      recycles += g->restarts[i];
  }
  pb_buf_printf(o,
                "# HELP ppod_browser_recycles_total Pool browsers replaced "
                "while healthy (jobs, memory or age cap).\n"
                "# TYPE ppod_browser_recycles_total "
                "counter\nppod_browser_recycles_total %llu\n",
                (unsigned long long)recycles);
  pb_buf_printf(o, "# HELP ppod_browser_rss_bytes Resident memory of a browser "
                   "and its child processes.\n"
                   "# TYPE ppod_browser_rss_bytes gauge\n");
  for (int i = 0; i < g->nbrowsers; i++) {
    char pid[32] = "";
    if (g->browsers[i].pid > 0)
      snprintf(pid, sizeof(pid), "pid=\"%d\",", g->browsers[i].pid);
    pb_buf_printf(
        o, "ppod_browser_rss_bytes{browser=\"%d\",%srole=\"%s\"} %lld\n",
        g->browsers[i].index, pid, g->browsers[i].spare ? "spare" : "pool",
        (long long)g->browsers[i].rss_kb * 1024);
  }
  pb_buf_printf(o,
                "# HELP ppod_browser_spares Browsers kept launched for "
                "acquired sessions.\n"
                "# TYPE ppod_browser_spares gauge\nppod_browser_spares %d\n",
                g->spares);
  pb_buf_printf(o,
                "# HELP ppod_sessions Live acquired sessions, by state.\n# "
                "TYPE ppod_sessions gauge\n"
                "ppod_sessions{state=\"connected\"} "
                "%d\nppod_sessions{state=\"idle\"} %d\n"
                "ppod_sessions{state=\"ending\"} %d\n",
                g->sessions_connected, g->sessions_idle, g->sessions_ending);
  if (g->usage_open >= 0)
    pb_buf_printf(
        o,
        "# HELP ppod_usage_records_open Usage ledger rows open (work being "
        "metered).\n"
        "# TYPE ppod_usage_records_open gauge\nppod_usage_records_open %lld\n",
        (long long)g->usage_open);
  if (g->egress_known) {
    static const char *const results[4] = {"allowed", "refused", "failed",
                                           "capped"};
    pb_buf_printf(
        o,
        "# HELP ppod_egress_requests_total Requests and tunnels through the "
        "egress proxy, "
        "by result (capped: over a browser's or an account's connection cap).\n"
        "# TYPE ppod_egress_requests_total counter\n");
    for (int i = 0; i < 4; i++)
      pb_buf_printf(o, "ppod_egress_requests_total{result=\"%s\"} %llu\n",
                    results[i], (unsigned long long)g->egress[i]);
    pb_buf_printf(
        o,
        "# HELP ppod_egress_connections Connections open through the egress "
        "proxy.\n"
        "# TYPE ppod_egress_connections gauge\nppod_egress_connections %d\n",
        g->egress_conns);
  }
  pb_buf_printf(
      o,
      "# HELP ppod_requests_in_flight Requests holding a job, running or "
      "queued.\n"
      "# TYPE ppod_requests_in_flight gauge\nppod_requests_in_flight %d\n",
      g->requests_live);
  pb_buf_printf(o,
                "# HELP ppod_queue_depth Jobs waiting for a job thread.\n# "
                "TYPE ppod_queue_depth gauge\n"
                "ppod_queue_depth %d\n"
                "# HELP ppod_jobs_running Jobs running now.\n# TYPE "
                "ppod_jobs_running gauge\n"
                "ppod_jobs_running %d\n"
                "# HELP ppod_browsers_alive Pool browsers alive.\n# TYPE "
                "ppod_browsers_alive gauge\n"
                "ppod_browsers_alive %d\n"
                "# HELP ppod_pages_ready Pages prepared ahead of demand.\n# "
                "TYPE ppod_pages_ready gauge\n"
                "ppod_pages_ready %d\n"
                "# HELP ppod_browsers_launched_total Browsers started.\n# TYPE "
                "ppod_browsers_launched_total counter\n"
                "ppod_browsers_launched_total %llu\n"
                "# HELP ppod_browsers_crashed_total Browsers that died "
                "unasked.\n# TYPE ppod_browsers_crashed_total counter\n"
                "ppod_browsers_crashed_total %llu\n",
                g->queue_depth, g->jobs_running, g->browsers_alive,
                g->pages_ready, (unsigned long long)g->browsers_launched,
                (unsigned long long)g->browsers_crashed);
  return 0;
}
