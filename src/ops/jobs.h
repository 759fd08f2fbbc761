#ifndef PB_OPS_JOBS_H
#define PB_OPS_JOBS_H
/* The job queue: a fixed set of job threads and a bounded queue in front of
 * them. Beyond both, submission fails at once so the caller can answer 429. */
#include <stdint.h>

typedef struct pb_jobs pb_jobs;
typedef void (*pb_job_fn)(void *arg);

/* threads >= 1 run jobs; at most queue_max wait. */
int pb_jobs_start(int threads, int queue_max, pb_jobs **out);

/* Queues fn(arg). PB_EBUSY when all threads are busy and the queue is full,
 * PB_ESHUTDOWN once stopping. fn owns arg. */
int pb_jobs_submit(pb_jobs *j, pb_job_fn fn, void *arg);

/* Like pb_jobs_submit, then after(arg) runs on the same thread once the job
 * no longer counts as running: a job that hands its answer over in after()
 * has freed its slot before its client can send the next request. */
int pb_jobs_submit2(pb_jobs *j, pb_job_fn fn, pb_job_fn after, void *arg);

/* Like pb_jobs_submit2 for work on behalf of key (an account): waiting jobs
 * start oldest first among the keys with the fewest jobs running, so one key's
 * backlog does not delay another's jobs. */
int pb_jobs_submit_keyed(pb_jobs *j, int64_t key, pb_job_fn fn, pb_job_fn after, void *arg);

/* Jobs running and waiting now. */
void pb_jobs_counts(pb_jobs *j, int *running, int *queued);

/* Refuses new jobs, waits for running and queued ones to finish, joins the
 * threads and frees. NULL is a no-op. */
void pb_jobs_stop(pb_jobs *j);

#endif
