#ifndef PB_TRACE_STORE_H
#define PB_TRACE_STORE_H
/* Where traces live: one directory of zips named <account>-<id>.zip, so one
 * account can never fetch another's trace; a <account>-<id>.pending marker
 * while a trace whose id was already answered is still being written; and
 * the sweep of traces past PB_TRACE_KEEP_MS. The daemon opens the store and
 * lends the handle to whoever keeps or reads traces (jobs, sessions, the
 * HTTP server's free-space check). Thread-safe: the handle does not change
 * after open, and each call works on its own files. */
#include <stddef.h>
#include <stdint.h>

/* Traces are kept this long, then deleted. */
#define PB_TRACE_KEEP_MS (24LL * 3600 * 1000)
/* A trace id: 32 lower-case hex chars (128 random bits; session ids too). */
#define PB_TRACE_ID_LEN 32

typedef struct pb_trace_store pb_trace_store;

/* Opens the store in dir (copied), creating the directory (0700) when it is
 * missing, and sweeps it. A directory that cannot be made is logged, and the
 * store opens anyway (writes then fail). PB_EINVAL when dir is NULL or too
 * long; PB_ENOMEM. */
int pb_trace_store_open(const char *dir, pb_trace_store **out);
/* NULL is a no-op. Files stay. */
void pb_trace_store_close(pb_trace_store *st);

/* The directory, borrowed for the store's life (e.g. to check free space);
 * NULL when st is NULL. */
const char *pb_trace_store_dir(const pb_trace_store *st);

/* Deletes every file of the directory last modified more than
 * PB_TRACE_KEEP_MS ago. */
void pb_trace_store_sweep(pb_trace_store *st);

/* Picks a fresh random id for a trace the account is told about before its
 * zip is written, and marks it pending: pb_trace_store_get then waits for
 * it. id_out receives PB_TRACE_ID_LEN chars and a NUL. PB_EINVAL when st is
 * NULL; PB_EIO when no random bytes came (nothing is marked). A marker that
 * cannot be made only loses the wait. */
int pb_trace_store_reserve(pb_trace_store *st, int64_t account_id,
                           char id_out[PB_TRACE_ID_LEN + 1]);

/* Keeps zip (len bytes, borrowed) as the account's trace id; an existing
 * trace of that id is never replaced. PB_EINVAL when st is NULL; PB_EIO when
 * the file cannot be made or written (nothing is left behind). */
int pb_trace_store_put(pb_trace_store *st, int64_t account_id, const char *id, const char *zip,
                       size_t len);

/* Removes the pending mark of id, once its zip is kept or could not be
 * written. NULL st is a no-op. */
void pb_trace_store_unmark(pb_trace_store *st, int64_t account_id, const char *id);

/* The account's trace id, read whole into *zip (malloc'd, caller frees;
 * *len bytes), after waiting while it is marked pending, at most until
 * deadline_ms (pb_now_ms() clock; blocks the calling thread, so call it on a
 * job thread). PB_ENOTFOUND when st is NULL, id is not a trace id, or the
 * account has no such trace; PB_ETOOBIG past PB_TRACE_CAP_BYTES + 4 MiB;
 * PB_ENOMEM. */
int pb_trace_store_get(pb_trace_store *st, int64_t account_id, const char *id, int64_t deadline_ms,
                       char **zip, size_t *len);

#endif
