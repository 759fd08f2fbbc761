#ifndef PB_CORE_FLEET_H
#define PB_CORE_FLEET_H
/* Account limits that hold across nodes (cluster mode: several daemons on
 * one PostgreSQL store). What each node keeps in memory for one machine
 * (core/admit.h: the rate buckets, the concurrent quick actions, the live
 * session count, the day's browser ms) is kept here in the shared store
 * and checked in transactions under the store's fleet-wide write lock
 * (core/db.h), so a count checked and a row written cannot race another
 * node. Per-node admission (the queue, its concurrency) stays local and
 * still runs first on the I/O thread; these checks run on job threads
 * (each is a few round trips to the database: never the I/O thread).
 *
 * Two levels:
 *   - functions over a pb_db (the caller serialises the connection): the
 *     mechanism, one transaction each;
 *   - a pb_fleet: one connection of its own behind a mutex, for the job
 *     threads of a daemon, answering admission verdicts with the codes,
 *     messages and Retry-After the local checks give (core/admit.h).
 *
 * The tables are migration 11 of the store (core/store.c):
 *   fleet_buckets(account_id, name, tokens_milli, at_ms), a token bucket
 *     per account and name, in integer milli-tokens;
 *   fleet_slots(id, account_id, kind, node, started_ms), one row per unit
 *     of a concurrency limit held (e.g. "action": a running quick action),
 *     tagged with the node holding it so a lost node's are freed. */
#include "common/errcode.h"
#include "core/admit.h"
#include "core/db.h"
#include "core/store.h"

#include <stdint.h>

/* Migration 11 (SQLite dialect; the store's list in core/store.c holds it). */
#define PB_FLEET_MIGRATION                                             \
  "CREATE TABLE fleet_buckets ("                                       \
  "  account_id INTEGER NOT NULL,"                                     \
  "  name TEXT NOT NULL,"                                              \
  "  tokens_milli INTEGER NOT NULL,"                                   \
  "  at_ms INTEGER NOT NULL,"                                          \
  "  PRIMARY KEY (account_id, name));"                                 \
  "CREATE TABLE fleet_slots ("                                         \
  "  id INTEGER PRIMARY KEY,"                                          \
  "  account_id INTEGER NOT NULL,"                                     \
  "  kind TEXT NOT NULL,"                                              \
  "  node TEXT,"                                                       \
  "  started_ms INTEGER NOT NULL);"                                    \
  "CREATE INDEX fleet_slots_account ON fleet_slots(account_id, kind);" \
  "CREATE INDEX fleet_slots_node ON fleet_slots(node);"

/* ---- mechanism, over a connection ---- */

/* Takes one token from the account's bucket `bucket` (a short name, e.g.
 * "actions"), which holds at most burst tokens and refills at
 * rate_per_min_milli milli-tokens per minute (a per-second rate r is
 * r * 60000, a per-minute rate r is r * 1000: both exact in integers); a
 * bucket never used is full. 1 taken; 0 refused, nothing taken, and
 * *retry_after_ms (may be NULL) the ms until a token is there; PB_EINVAL
 * (rate or burst <= 0, now_ms <= 0), PB_ESTORE. A clock behind the row's
 * (another node's) refills nothing and never moves the row back. One
 * locked transaction. */
int pb_fleet_take(pb_db *db, int64_t account_id, const char *bucket, int64_t rate_per_min_milli,
                  int64_t burst, int64_t now_ms, int64_t *retry_after_ms);

/* Holds one of the account's `max` units of `kind` for node_tag (may be
 * NULL): counts the held ones and inserts one in one locked transaction.
 * 0 and *slot_id; PB_EBUSY at max (nothing held); PB_ESTORE. */
int pb_fleet_slot_acquire(pb_db *db, int64_t account_id, const char *kind, int max,
                          const char *node_tag, int64_t now_ms, int64_t *slot_id);
/* Lets the unit go; an unknown id (already freed) is 0 too. */
int pb_fleet_slot_release(pb_db *db, int64_t slot_id);
/* Frees every unit a node held (a node declared lost; core/nodes calls it
 * in its transaction or alone). *freed (may be NULL): how many. */
int pb_fleet_node_lost(pb_db *db, const char *node_tag, int64_t *freed);
/* How many units of kind the account holds now, fleet-wide. */
int pb_fleet_slot_count(pb_db *db, int64_t account_id, const char *kind, int64_t *n);

/* Browser ms of the account's day starting at day_start_ms, fleet-wide:
 * the closed ledger rows that started in the day (as pb_usage_sum) plus the
 * open ones up to their last heartbeat. */
int pb_fleet_used_today(pb_db *db, int64_t account_id, int64_t day_start_ms, int64_t *ms);

/* The account's open sessions (history rows without an end), fleet-wide. */
int pb_fleet_session_count(pb_db *db, int64_t account_id, int64_t *n);
/* Opens the session's history row (the columns pb_session_open_record
 * writes, plus node = node_tag when not NULL) unless the account already
 * has max open rows across nodes: the count and the INSERT in one locked
 * transaction, so two nodes can never both open the (max)th. 0; PB_EBUSY
 * at max; PB_EEXIST (id taken), PB_ENOTFOUND (no account), PB_ESTORE. */
int pb_fleet_session_open(pb_db *db, const char *session_id, int64_t account_id, int64_t start_ms,
                          const char *node_tag, int max);

/* ---- for a daemon's job threads ---- */

typedef struct pb_fleet pb_fleet;

/* Opens a connection of its own to spec (core/db.h; a PostgreSQL URL in
 * cluster mode) for node node_tag (copied; NULL: the process's tag,
 * pb_node_tag, when one is set by then). PB_ESTORE. */
int pb_fleet_open(const char *spec, const char *node_tag, pb_fleet **out);
/* NULL is a no-op. */
void pb_fleet_close(pb_fleet *f);

/* A quick action's fleet-wide admission (classes QUICK and LIGHT, counted:
 * one of the account's concurrent quick actions is held; RELEASE: the rate
 * only): the daily quota (when l sets one and check_quota), then the
 * concurrent actions, then the quick-action rate, in one transaction for
 * the last two. Admitted: PB_CODE_NONE and *slot_id (0 when none held);
 * else the verdict the local check would give. A store that cannot be
 * reached refuses with SERVICE_UNAVAILABLE (limits are never skipped). */
pb_code pb_fleet_admit_action(pb_fleet *f, int64_t account_id, const pb_limits *l, int counted,
                              int check_quota, int64_t *slot_id, pb_admit_verdict *v);
/* Gives back what pb_fleet_admit_action held (0: none). Always call it when
 * the work ends, failed or cancelled too; a failure is logged (the unit is
 * then freed when the node is lost or stops). */
void pb_fleet_action_done(pb_fleet *f, int64_t slot_id);
/* An acquisition's fleet-wide admission: the daily quota, the live
 * sessions (a first count; the binding one is pb_fleet_open_session's),
 * then the acquisition rate. */
pb_code pb_fleet_admit_acquire(pb_fleet *f, int64_t account_id, const pb_limits *l,
                               pb_admit_verdict *v);
/* pb_fleet_session_open with the fleet's node tag, serialised. */
int pb_fleet_open_session(pb_fleet *f, const char *session_id, int64_t account_id, int64_t start_ms,
                          int max);
/* Frees the units node tag holds (NULL: this node's, at a clean stop;
 * another's: it was declared lost, r-nodes' on_node_lost). */
void pb_fleet_free_node(pb_fleet *f, const char *tag);
/* pb_fleet_free_node(fleet, tag) in the shape of daemon/cluster.h's hook:
 * pb_cluster_set_fleet_hook(cluster, pb_fleet_node_lost_hook, fleet). */
void pb_fleet_node_lost_hook(void *fleet, const char *tag);

#endif
