#ifndef PB_CORE_ADMIT_H
#define PB_CORE_ADMIT_H
/* Per-account admission: whether one request may start now, as a verdict
 * {code, retry_after_s, message}. Pure policy over what the caller gathered
 * (the account's limits, its buckets and counters, what the request asks,
 * the facts of the moment): no clock, no store, no I/O, no locking. Knows
 * nothing of HTTP: a refusal carries a pb_code, the HTTP layer makes it a
 * status (http/errors.c).
 *
 * Threads: the caller serialises access to one pb_admit_accounts table and
 * its accounts (the HTTP server: its I/O thread only). */
#include "common/errcode.h"
#include "core/ratelimit.h"
#include "core/store.h"

#include <stddef.h>
#include <stdint.h>

/* Free space below which billable work (a ledger row) or a trace (a zip of
 * up to tens of MiB) is refused with STORAGE_FULL rather than failing
 * half-way. */
#define PB_DISK_RESERVE_BYTES (1ull << 20)
#define PB_TRACE_RESERVE_BYTES (8ull << 20)
/* The browser-ms quota is per UTC day. */
#define PB_ADMIT_DAY_MS 86400000LL

/* What kind of work a request is, as far as admission goes. */
typedef enum {
  PB_ADMIT_NONE = 0, /* not admitted per account (health, reads of the store) */
  PB_ADMIT_QUICK,    /* a quick action: quota, disk, its session, concurrency, rate */
  PB_ADMIT_ACQUIRE,  /* a session acquisition: quota, keep_alive, sessions, rate */
  /* The account's light routes that still run a job: the quick-action rate,
   * so one account's flood is refused at once and never queues ahead of
   * another's work. LIGHT (reading a trace) also holds one of the
   * concurrent actions; RELEASE (letting a session go) does not: an account
   * at its cap must still be able to let a session go. */
  PB_ADMIT_LIGHT,
  PB_ADMIT_RELEASE,
} pb_admit_class;

/* One account's rate state. */
typedef struct {
  int64_t account_id;
  pb_bucket acquisitions, actions;
  int actions_running; /* concurrent quick actions (and trace reads) held */
} pb_admit_account;

/* The accounts seen so far; zero-initialise, free with pb_admit_accounts_free. */
typedef struct {
  pb_admit_account *v;
  size_t n, cap;
} pb_admit_accounts;

/* The account's entry, made (fresh buckets, nothing running) on first use.
 * Borrowed until the next call on t. NULL when out of memory. */
pb_admit_account *pb_admit_account_of(pb_admit_accounts *t, int64_t account_id);
/* Frees the table's memory (not t itself). NULL is a no-op. */
void pb_admit_accounts_free(pb_admit_accounts *t);

/* What the request asks and the facts it meets, gathered by the caller as
 * plain numbers. Fields a class does not look at are ignored. */
typedef struct {
  pb_admit_class cls;
  /* ACQUIRE: keep_alive asked (has_keep_alive 0: none), and the account's
   * live sessions now. */
  int has_keep_alive;
  double keep_alive_ms;
  int sessions;
  /* QUICK and ACQUIRE, when the account has a daily quota: browser ms the
   * ledger closed so far in the UTC day of wall_ms (pb_admit_day_start);
   * < 0 when not known (the quota is then not enforced). */
  int64_t used_today_ms;
  int64_t wall_ms;
  /* QUICK: free bytes where the work's files go; < 0 when not known or the
   * work is not billable (no check). trace: the request records a trace. */
  long long disk_free;
  int trace;
  /* QUICK: the request names a session (session_id, borrowed) which the
   * caller found (session_found 1) or not. NULL: none named. */
  const char *session_id;
  int session_found;
  /* Billable work (any class; the caller sets credit_checked): when the
   * account is metered, its balance and the price of one billable second,
   * below which the work is refused with INSUFFICIENT_CREDITS before any
   * other check. */
  int credit_checked, metered;
  int64_t balance_micro, price_micro;
} pb_admit_req;

/* A verdict: code PB_CODE_NONE to go on; else the refusal, the seconds a
 * client should wait before retrying (0: no Retry-After), the message, and
 * the reason label for the rejections metric (NULL: not counted). */
typedef struct {
  pb_code code;
  int retry_after_s;
  char message[512];
  const char *metric; /* static string */
  int counted;        /* admitted holding one of the account's concurrent actions */
} pb_admit_verdict;

/* The verdict for q against the account's limits l and state a at now_ms
 * (the pb_now_ms clock of a's buckets). When admitted it takes what the
 * request uses: an acquisition or an action from a's buckets, and for QUICK
 * and LIGHT one of the account's concurrent actions (v->counted = 1; give it
 * back with pb_admit_give_back when the work ends). A refusal takes nothing.
 * Credits come first: an account that cannot pay is told so whatever else.
 * Returns v->code. PB_ADMIT_NONE is always admitted. */
pb_code pb_admit_decide(pb_admit_account *a, const pb_limits *l, const pb_admit_req *q,
                        int64_t now_ms, pb_admit_verdict *v);

/* The refusals pb_admit_decide gives, for checks made elsewhere (the
 * fleet-wide ones, core/fleet.h) to answer exactly as the local ones. */
typedef enum {
  PB_ADMIT_REFUSE_QUOTA,        /* the day's browser ms used; wall_ms: now */
  PB_ADMIT_REFUSE_SESSIONS,     /* maxConcurrentSessions live */
  PB_ADMIT_REFUSE_ACQUIRE_RATE, /* acquisitionsPerMinute; wait_ms to the next */
  PB_ADMIT_REFUSE_CONCURRENCY,  /* concurrentQuickActions running */
  PB_ADMIT_REFUSE_ACTION_RATE,  /* quickActionsPerSecond; wait_ms to the next */
} pb_admit_refusal;
/* Fills v with that refusal under the account's limits l; returns v->code. */
pb_code pb_admit_refuse(pb_admit_verdict *v, pb_admit_refusal why, const pb_limits *l,
                        int64_t wait_ms, int64_t wall_ms);

/* Gives back the concurrent action an admitted verdict took (counted). */
void pb_admit_give_back(pb_admit_account *a);

/* Start of the UTC day of wall_ms: the quota counts the ledger's closed rows
 * in [start, start + PB_ADMIT_DAY_MS). */
int64_t pb_admit_day_start(int64_t wall_ms);

/* What the account may acquire at now_ms without taking: whole acquisitions
 * left in its bucket and ms until the next one (0 when one is there). a may
 * be NULL (a fresh account). */
void pb_admit_acquisitions_left(const pb_admit_account *a, const pb_limits *l, int64_t now_ms,
                                int64_t *available, int64_t *retry_after_ms);

#endif
