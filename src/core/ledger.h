#ifndef PB_CORE_LEDGER_H
#define PB_CORE_LEDGER_H
/* The usage ledger's bookkeeping around one piece of billable work, on top
 * of the store's rows (core/store.h): a row is opened before the work
 * starts (billable work is never done unmetered: when it cannot be opened
 * the work is refused), heartbeated while it runs (a crash bills it up to
 * the last beat), and closed once with the status answered. A close that
 * fails (a full disk) is kept and retried after each heartbeat pass, so the
 * work is billed at its real end once the store can write again.
 *
 * Threads: open and close from any thread (job threads); heartbeats and
 * late closes are fsyncs and run on the ledger's own thread, never on the
 * caller's. */
#include "core/admit.h"
#include "core/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pb_ledger pb_ledger;

/* Starts the ledger (and its thread) over store, borrowed until
 * pb_ledger_free. On error *out is NULL: PB_ENOMEM, PB_EIO (no thread). */
int pb_ledger_start(pb_store *store, pb_ledger **out);
/* Stops the thread (after the pass it is in) and frees. Rows still in the
 * retry list stay open in the store, closed by pb_usage_close_open at the
 * next start. NULL is a no-op. */
void pb_ledger_free(pb_ledger *l);

/* Opens the row of billable work of kind (a usage kind, e.g. "screenshot")
 * for the account at start_wall_ms: PB_CODE_NONE and *row_id. kind NULL:
 * the work is not billed, PB_CODE_NONE and *row_id = 0. When the row cannot
 * be opened, the verdict that refuses the work: INSUFFICIENT_CREDITS
 * (metric "credits") when the account is metered and its balance is below
 * one billable second; STORAGE_FULL (metric "storage_full") when the disk
 * is full, else SERVICE_UNAVAILABLE, both logged. Returns v->code.
 * Heartbeats and closes debit metered rows (core/store.h, Credits). */
pb_code pb_ledger_open(pb_ledger *l, int64_t account_id, const char *kind, int64_t start_wall_ms,
                       int64_t *row_id, pb_admit_verdict *v);
/* pb_ledger_open of work in an acquired session's browser, whose own row
 * pays its time: the row is kept for usage but never debited (no credit
 * check either; the session's row has its own). */
pb_code pb_ledger_open_in_session(pb_ledger *l, int64_t account_id, const char *kind,
                                  int64_t start_wall_ms, int64_t *row_id, pb_admit_verdict *v);

/* Closes row_id (0: no row, a no-op) at end_wall_ms with the status
 * answered. A failure is logged; unless the row was already closed or is
 * unknown, the close is kept and retried on the ledger's thread. */
void pb_ledger_close(pb_ledger *l, int64_t row_id, int64_t end_wall_ms, int status);

/* Hands the ledger's thread the rows open now, to heartbeat at once; then it
 * retries the closes that failed. Takes ownership of ids (malloc'd, may be
 * NULL when n is 0); a snapshot not yet taken is replaced. */
void pb_ledger_beat(pb_ledger *l, int64_t *ids, size_t n);

#endif
