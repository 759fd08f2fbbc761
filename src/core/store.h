#ifndef PB_CORE_STORE_H
#define PB_CORE_STORE_H
/* The sandbox core's state: accounts, tokens, usage ledger, in SQLite (WAL)
 * under the data dir, or in PostgreSQL (pb_store_open_spec). Knows nothing
 * of HTTP or Chromium. Every function is safe to call from any thread (the
 * store serialises access internally). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_store pb_store;

/* Opens (creating if needed, mode 0700) data_dir and data_dir/ppod.db, runs
 * migrations. On error *out is NULL. */
int pb_store_open(const char *data_dir, pb_store **out);
/* Opens the store spec names: a PostgreSQL URL ("postgres://",
 * "postgresql://"; data_dir unused, may be NULL) or a SQLite file path; NULL
 * or "" = pb_store_open(data_dir). Migrations run in one write transaction
 * (fleet-wide on PostgreSQL, so two nodes starting at once migrate once). */
int pb_store_open_spec(const char *spec, const char *data_dir, pb_store **out);
/* What the store opened (the SQLite file path or the PostgreSQL URL), for
 * modules that open their own connection with pb_db_open. Owned by s. */
const char *pb_store_db_spec(pb_store *s);
/* Closes the database. NULL is a no-op. */
void pb_store_close(pb_store *s);

typedef struct {
  int64_t id;
  char name[64];
  int64_t created_ms;  /* wall clock */
  int64_t disabled_ms; /* 0: enabled */
  int64_t deleted_ms;  /* 0: not deleted */
} pb_account;

/* Names: 1-63 chars of [A-Za-z0-9_.-], compared case-sensitively. PB_EINVAL
 * for a bad name, PB_EEXIST when taken. account_id may be NULL. */
int pb_account_create(pb_store *s, const char *name, int64_t *account_id);
/* 1 when name has the shape above, else 0 (NULL is not). */
int pb_account_name_valid(const char *name);
/* PB_ENOTFOUND for an unknown or deleted name. */
int pb_account_find(pb_store *s, const char *name, int64_t *account_id);
/* Disables (1) or enables (0) an account at now_ms: a disabled account's
 * tokens are refused (PB_EDISABLED) until it is enabled again. PB_ENOTFOUND
 * for an unknown id. */
int pb_account_set_disabled(pb_store *s, int64_t account_id, int disabled, int64_t now_ms);
/* Soft delete: the account's usage ledger and session history stay for
 * billing, its tokens are refused for good (PB_EDELETED), its name is not
 * found by pb_account_find and cannot be taken again. PB_ENOTFOUND for an
 * unknown or already deleted id. */
int pb_account_delete(pb_store *s, int64_t account_id, int64_t now_ms);
/* All accounts (deleted ones too, marked), oldest first. *out is malloc'd
 * (caller frees); *n may be 0, and then *out is NULL. */
int pb_account_list(pb_store *s, pb_account **out, size_t *n);

#define PB_TOKEN_DEFAULT_TTL_DAYS 15
#define PB_TOKEN_MAX 80 /* buffer size that holds any token plus NUL */
/* Leading characters of a token kept in clear at most ("pp_sess_" + 7, or
 * "ppod_" + 7 for tokens made before pp_sess_), enough to name it to an
 * operator and far too few to guess the rest. */
#define PB_TOKEN_PREFIX_LEN 15

/* Creates a token for the account valid for ttl_days (> 0) from now; writes
 * the plaintext ("pp_sess_" + 43 base64url chars: 256 random bits) to
 * token_out, which is never stored: only its SHA-256 is. Tokens made before
 * ("ppod_" + 43) keep working everywhere a token is taken. */
int pb_token_create(pb_store *s, int64_t account_id, int ttl_days, char token_out[PB_TOKEN_MAX]);
/* Same, valid for ttl_ms (1 ms .. PB_TOKEN_MAX_TTL_DAYS days) from now. Both
 * return PB_EINVAL for a TTL out of range, PB_ENOTFOUND for an unknown account,
 * PB_EIO when the kernel gives no randomness. */
#define PB_TOKEN_MAX_TTL_DAYS 36500
/* What token create allows unless --max-token-ttl says otherwise. */
#define PB_TOKEN_MAX_TTL_DEFAULT_DAYS 90
int pb_token_create_ttl_ms(pb_store *s, int64_t account_id, int64_t ttl_ms,
                           char token_out[PB_TOKEN_MAX]);

typedef struct {
  int64_t account_id;
  char account[64];
  int64_t token_id;
  int64_t expires_ms;
  int has_email; /* the account has an email: it can sign in by POST /login */
} pb_auth;

/* Checks a plaintext token at wall time now_ms. 0 and *out filled; PB_EINVAL
 * for an unknown/malformed token; PB_EDELETED, PB_EDISABLED (its account),
 * PB_EREVOKED or PB_EEXPIRED, in that order, with *out still filled so
 * callers can log who. out may be NULL. */
int pb_token_check(pb_store *s, const char *token, int64_t now_ms, pb_auth *out);
/* The same verdict for a token already checked once, by its id (one indexed
 * read: cheap enough to re-check open connections every second).
 * PB_ENOTFOUND for an unknown id. */
int pb_token_status(pb_store *s, int64_t token_id, int64_t now_ms);
/* Revokes one token named by its plaintext or by a prefix of its kept
 * prefix ("pp_sess_" or "ppod_", + 3..7 chars). 0 (also when already revoked) and *token_id
 * (may be NULL); PB_EINVAL for something that is neither; PB_ENOTFOUND when
 * nothing matches; PB_EEXIST when a prefix matches several tokens (nothing is
 * revoked). Tokens made before prefixes were kept match only in full. */
int pb_token_revoke(pb_store *s, const char *token_or_prefix, int64_t now_ms, int64_t *token_id);

typedef struct {
  int64_t id;
  char prefix[PB_TOKEN_PREFIX_LEN + 1]; /* "" for tokens older than prefixes */
  int64_t created_ms, expires_ms;
  int64_t revoked_ms; /* 0: not revoked */
} pb_token_info;

/* The account's tokens, oldest first. *out is malloc'd (caller frees); *n
 * may be 0, and then *out is NULL. */
int pb_token_list(pb_store *s, int64_t account_id, pb_token_info **out, size_t *n);

/* Usage ledger: a row is written when billable work starts and closed when it
 * ends, so a crash between the two leaves an open row that
 * pb_usage_close_open() closes on the next start (never lost, never counted
 * twice). kind is e.g. "screenshot", or "session" for a session's browser
 * time (same charset and length as account names). PB_ENOTFOUND for an
 * unknown account; PB_ENOCREDIT when the account is metered and its balance
 * is below one billable second at the price (see Credits below). Begin,
 * heartbeat, end and close_open also move a metered row's debit. */
int pb_usage_begin(pb_store *s, int64_t account_id, const char *kind, int64_t start_wall_ms,
                   int64_t *usage_id);
/* pb_usage_begin of a row that is metered but never debited: work done in
 * a browser whose time another row already pays (a quick action inside an
 * acquired session, whose "session" row bills that browser). No credit
 * check: the paying row has its own. */
int pb_usage_begin_unpriced(pb_store *s, int64_t account_id, const char *kind,
                            int64_t start_wall_ms, int64_t *usage_id);
/* Closes the row: ms = end - start (0 if the wall clock went backwards).
 * status is the HTTP status answered (0..999). PB_ENOTFOUND for an unknown id;
 * PB_EEXIST when the row is already closed (left unchanged). */
int pb_usage_end(pb_store *s, int64_t usage_id, int64_t end_wall_ms, int status);
/* Records that the open row's work was still going at now_wall_ms, so that a
 * crash bills it up to here. A heartbeat never moves backwards (an earlier
 * time than the last one is ignored). PB_ENOTFOUND for an unknown id;
 * PB_EEXIST when the row is closed (left unchanged). */
int pb_usage_heartbeat(pb_store *s, int64_t usage_id, int64_t now_wall_ms);
/* Rows open now (work running, or left by a crash until the next start). */
int pb_usage_open_count(pb_store *s, int64_t *n);
/* Closes every row still open (after a crash) at its last heartbeat, or at
 * its start when it had none: ms = heartbeat - start, status 0
 * ("interrupted"). Returns the count through *closed (may be NULL).
 * Idempotent: a second call closes 0, and a late pb_usage_end on such a row is
 * PB_EEXIST, so nothing is billed twice. Call it once at startup, before
 * serving: it also closes rows a live process sharing the data dir has open. */
int pb_usage_close_open(pb_store *s, int *closed);
/* Total billed ms for an account over closed rows started at or after
 * since_wall_ms. */
int pb_usage_total(pb_store *s, int64_t account_id, int64_t since_wall_ms, int64_t *ms);
/* Billed ms and number of closed rows for an account whose start is in
 * [from_wall_ms, to_wall_ms). Open rows count nowhere until closed. Either
 * out-param may be NULL. PB_EINVAL when from > to. An unknown account has 0. */
int pb_usage_sum(pb_store *s, int64_t account_id, int64_t from_wall_ms, int64_t to_wall_ms,
                 int64_t *ms, int64_t *count);

typedef struct {
  char kind[64]; /* any kind pb_usage_begin accepts fits */
  int64_t ms;
  int64_t count;
} pb_usage_kind;

/* pb_usage_sum split by kind, kinds in byte order. *out is malloc'd (caller
 * frees); *n may be 0, and then *out is NULL. */
int pb_usage_by_kind(pb_store *s, int64_t account_id, int64_t from_wall_ms, int64_t to_wall_ms,
                     pb_usage_kind **out, size_t *n);

/* ---- Credits (core/credits.h for amounts and the debit math) ----
 * An account is metered once it has a balance (a credit from the operator,
 * or a signup's starting credit); before that it is unmetered: no credit
 * limit, its rows are never debited (every account made before credits
 * existed stays so). A metered account's ledger rows carry the price they
 * opened with and are debited as they are heartbeated and closed, in the
 * same transaction, so balance = credits granted - what its rows cost. */

/* The price per browser second (micro-credits) new ledger rows of metered
 * accounts open with, and the starting credit pb_store_account_signup_credit
 * grants; values out of range (credits.h) are ignored. Until set:
 * PB_PRICE_DEFAULT_MICRO and PB_SIGNUP_CREDIT_DEFAULT_MICRO. */
void pb_store_set_credit_terms(pb_store *s, int64_t price_micro, int64_t signup_micro);
/* The price new rows open with. */
int64_t pb_store_price(pb_store *s);
/* The account's balance in micro-credits (may be negative: work finished
 * after it ran out) and whether it is metered (0: no limit; *micro 0).
 * PB_ENOTFOUND for an unknown id. Any account state (disabled, deleted). */
int pb_store_account_balance(pb_store *s, int64_t account_id, int64_t *micro, int *metered);
/* Adds micro (either sign, |micro| <= PB_CREDIT_MAX_MICRO) to the account's
 * balance, making it metered (an unmetered account starts from 0), and
 * keeps the grant with note (a word, 1-31 of [A-Za-z0-9_.-], or NULL).
 * *balance (may be NULL) gets the new balance. PB_EINVAL for a bad amount or
 * note, PB_ENOTFOUND for an unknown id, PB_ETOOBIG when the balance would
 * leave +-PB_CREDIT_MAX_MICRO (nothing is changed). */
int pb_store_account_credit(pb_store *s, int64_t account_id, int64_t micro, const char *note,
                            int64_t now_ms, int64_t *balance);
/* pb_store_account_credit of the starting credit (pb_store_set_credit_terms),
 * note "signup", to an account that exists. */
int pb_store_account_signup_credit(pb_store *s, int64_t account_id, int64_t now_ms);
/* pb_account_create_email and pb_store_account_credit in one transaction: the
 * account never exists unmetered, even across a crash. Errors of both. */
int pb_account_create_with_credit(pb_store *s, const char *name, const char *email, int64_t micro,
                                  const char *note, int64_t *account_id);
/* pb_account_create_with_credit of the starting credit, note "signup": how
 * a signup makes its account (a metered one from its first commit; email
 * may be NULL). */
int pb_account_create_signup(pb_store *s, const char *name, const char *email,
                             int64_t *account_id);

typedef struct {
  int metered;
  int64_t balance_micro;
  int64_t credited_micro; /* every grant, summed */
  int64_t debited_micro;  /* what its debited rows took, summed */
  int64_t billed_seconds; /* those rows' billed whole seconds (per started second) */
  int64_t rows, open_rows; /* debited rows; of them still open */
} pb_credit_summary;
/* The account's credits against its ledger, for an operator's audit. */
int pb_store_account_credit_summary(pb_store *s, int64_t account_id, pb_credit_summary *out);

/* Where a debited row stands after a heartbeat. */
typedef struct {
  int metered;           /* 0: the row is not debited (the rest is 0) */
  int64_t price_micro;   /* its price per browser second */
  int64_t balance_micro; /* its account's balance after this debit */
  int64_t paid_until_ms; /* its start plus its billed whole seconds (wall) */
} pb_usage_credit;
/* pb_usage_heartbeat, and where the row stands (out may be NULL). */
int pb_usage_heartbeat_credit(pb_store *s, int64_t usage_id, int64_t now_wall_ms,
                              pb_usage_credit *out);

/* Per-account limits. Each is stored only once set; unset keys read as the
 * defaults below, so a new build's defaults reach accounts nobody tuned. */
typedef struct {
  int max_concurrent_sessions;  /* 3; 0..1000, 0 = no sessions */
  int acquisitions_per_minute;  /* 30; 1..60000 (token bucket, burst = this) */
  int quick_actions_per_second; /* 100; 1..10000 */
  int64_t keep_alive_max_ms;    /* 600000; 1000..86400000 */
  int concurrent_quick_actions; /* 6; 0..1000, 0 = no quick actions */
  int64_t browser_ms_per_day;   /* 0 = unlimited; up to 86400000000 */
  int max_contexts;             /* 10; 0..1000 persistent contexts kept */
  int64_t context_storage_mib;  /* 100; 0..1048576 MiB their stored files take together */
  int64_t recording_storage_mib; /* 500; 0..1048576 MiB session recordings kept take together */
} pb_limits;

/* Fills l with the defaults. */
void pb_limits_default(pb_limits *l);
/* The account's limits (defaults for keys never set). PB_ENOTFOUND for an
 * unknown account; *out then holds the defaults. */
int pb_limits_get(pb_store *s, int64_t account_id, pb_limits *out);
/* Sets one limit by its HTTP API name (maxConcurrentSessions,
 * acquisitionsPerMinute, quickActionsPerSecond, keepAliveMaxMs,
 * concurrentQuickActions, browserMsPerDay, maxContexts, contextStorageMiB,
 * recordingStorageMiB) from a decimal value, or back to
 * its default with the value "default". PB_EINVAL for an unknown key, a value
 * that is not a whole number, or one out of range; PB_ENOTFOUND for an unknown
 * account. On error a one-line reason is written to err (errcap bytes; err may
 * be NULL), and nothing is stored. */
int pb_limits_set(pb_store *s, int64_t account_id, const char *key, const char *value, char *err,
                  size_t errcap);
/* The check pb_limits_set makes, on a struct instead of the database (so a
 * caller can validate several settings before storing any). Same errors,
 * same err; l is unchanged on error. */
int pb_limits_apply(pb_limits *l, const char *key, const char *value, char *err, size_t errcap);

#define PB_LIMITS_COUNT 9
/* The i-th limit's API name and value in l (i < PB_LIMITS_COUNT; struct
 * order). The name is static. NULL past the end. */
const char *pb_limits_key(const pb_limits *l, size_t i, int64_t *value);

/* Session history: one row per session, opened when it starts and closed
 * when it ends. Session ids are 1-71 of [A-Za-z0-9_.-]. */
#define PB_SESSION_ID_MAX 72
#define PB_SESSION_HISTORY_MAX 10000

/* PB_EINVAL for a bad id, PB_EEXIST for an id already used, PB_ENOTFOUND for
 * an unknown account. */
int pb_session_open_record(pb_store *s, const char *session_id, int64_t account_id,
                           int64_t start_wall_ms);
/* Like pb_usage_heartbeat, for a session: a crash bills it up to here. */
int pb_session_heartbeat(pb_store *s, const char *session_id, int64_t now_wall_ms);
/* Closes the session: browser_ms = end - start (0 if the clock went back).
 * reason is a word such as "NormalClosure" or "BrowserIdle" (1-31 of
 * [A-Za-z0-9_.-]); reason_text (may be NULL) is kept up to 255 bytes, cut at
 * a UTF-8 character boundary. PB_ENOTFOUND for an unknown id; PB_EEXIST when
 * already closed (left unchanged). */
int pb_session_close_record(pb_store *s, const char *session_id, int64_t end_wall_ms,
                            const char *reason, const char *reason_text);
/* Closes every session still open (after a crash) at its last heartbeat (its
 * start if none), never later than now_wall_ms, with reason "Shutdown" and
 * text "service stopped unexpectedly". *closed (may be NULL) gets the count.
 * Idempotent. Call once at startup, before serving. */
int pb_session_close_orphans(pb_store *s, int64_t now_wall_ms, int *closed);

/* What a session's CDP clients met: refused calls (the last one's reply,
 * up to 255 bytes), connections accepted, and connections the client ended
 * (or lost) while the session lived on. */
typedef struct {
  int64_t refused_calls;
  char last_refusal[256];
  int64_t client_connections, client_disconnects;
} pb_session_stats;
/* Records v for the session, open or closed (its last word wins).
 * PB_EINVAL for a bad id; PB_ENOTFOUND for an unknown one. */
int pb_session_stats_record(pb_store *s, const char *session_id, const pb_session_stats *v);
/* Records the session's last handoff: state ("waiting", "completed",
 * "timeout") and who ended it (NULL while waiting). PB_EINVAL, PB_ENOTFOUND
 * as pb_session_stats_record. */
int pb_session_handoff_record(pb_store *s, const char *session_id, const char *state,
                              const char *ended_by);

typedef struct {
  char id[PB_SESSION_ID_MAX];
  int64_t start_ms, end_ms, browser_ms; /* wall clock */
  char reason[32];
  char reason_text[256];
  pb_session_stats stats; /* zeros for sessions recorded before stats were */
  char handoff_state[16];    /* the last handoff's: "" when none */
  char handoff_ended_by[16]; /* "person", "agent", "timeout" or "" */
} pb_session_rec;

/* The account's closed sessions, most recently ended first, at most max
 * (1..PB_SESSION_HISTORY_MAX, else PB_EINVAL). *out is malloc'd (caller
 * frees); *n may be 0, and then *out is NULL. */
int pb_session_history(pb_store *s, int64_t account_id, int max, pb_session_rec **out,
                       size_t *n);

/* Persistent contexts: one row each (the files are sessions/contexts.c's).
 * Ids are the caller's (PB_CONTEXT_ID_LEN hex); names are free text, kept
 * as given (the API caps them). A context is held by at most one live
 * session at a time, named in its row, so the hold is seen by every process
 * sharing the data dir and outlives a crash until
 * pb_context_release_stale. */
#define PB_CONTEXT_ID_LEN 32
#define PB_CONTEXT_NAME_MAX 256 /* bytes, with the NUL */

typedef struct {
  char id[PB_CONTEXT_ID_LEN + 1];
  char name[PB_CONTEXT_NAME_MAX];
  int has_name;
  int64_t created_ms, saved_ms; /* saved_ms 0: never saved */
  int64_t bytes;                /* its stored files */
  char session_id[PB_SESSION_ID_MAX]; /* "" when no live session holds it */
} pb_context_rec;

/* A new context of the account, unless it has max_count already (PB_EBUSY,
 * decided in the same statement, so racing creates cannot both pass).
 * name may be NULL. PB_ENOTFOUND for an unknown account, PB_EEXIST for an
 * id taken. */
int pb_context_insert(pb_store *s, int64_t account_id, const char *id, const char *name,
                      int64_t now_ms, int max_count);
/* The account's context; another account's is PB_ENOTFOUND, like none. */
int pb_context_get(pb_store *s, int64_t account_id, const char *id, pb_context_rec *out);
/* The account's contexts, oldest first. *out is malloc'd (caller frees). */
int pb_context_list(pb_store *s, int64_t account_id, pb_context_rec **out, size_t *n);
/* What the account's contexts' stored files take together. */
int pb_context_total_bytes(pb_store *s, int64_t account_id, int64_t *bytes);
/* Removes the row. PB_ENOTFOUND (not the account's), PB_EBUSY (held by a
 * session: nothing removed). */
int pb_context_delete(pb_store *s, int64_t account_id, const char *id);
/* Marks the context held by session_id, atomically: PB_EBUSY when a session
 * holds it already, PB_ENOTFOUND when it is not the account's. */
int pb_context_claim(pb_store *s, int64_t account_id, const char *id, const char *session_id);
/* Lets go of a hold session_id has (PB_EBUSY: another holds it). */
int pb_context_unclaim(pb_store *s, int64_t account_id, const char *id, const char *session_id);
/* Records a save: the stored files' size, when. */
int pb_context_saved(pb_store *s, int64_t account_id, const char *id, int64_t bytes,
                     int64_t now_ms);
/* Lets go of every hold whose session is not open in the history (a run
 * that died). Call after pb_session_close_orphans. */
int pb_context_release_stale(pb_store *s, int *released);
/* 1 when a context with that id exists (any account), 0 when not, -1 on a
 * database error: for sweeping files no row owns. */
int pb_context_exists(pb_store *s, const char *id);

/* Accounts with an email (migration 8). Emails are kept as given (callers
 * pass them lower-cased: core/logincodes.h pb_email_normalize) and are
 * unique whatever their case.
 *
 * pb_account_create with an email (NULL: none). PB_EINVAL for a bad name or
 * an email over 254 bytes or with control characters; PB_EEXIST when the
 * name or the email is taken. */
int pb_account_create_email(pb_store *s, const char *name, const char *email, int64_t *account_id);
/* The account a sign-up by email makes: a fresh name from the email's
 * local part, the email, the default limits. Every account made by sign-up
 * is made here (and only here). PB_EEXIST when an account has the email
 * already (deleted ones too: an email is not taken twice). */
int pb_account_signup(pb_store *s, const char *email, int64_t *account_id);
/* The account with that email (case-insensitive): its id and name (may be
 * NULL; 64 bytes). PB_ENOTFOUND when none; PB_EDELETED or PB_EDISABLED for
 * one deleted or disabled (*account_id still set). */
int pb_account_find_email(pb_store *s, const char *email, int64_t *account_id, char *name);
/* The email of account_id into out (cap bytes, 255 is enough): 0, or
 * PB_ENOTFOUND when the account has none (or is not there). */
int pb_account_email(pb_store *s, int64_t account_id, char *out, size_t cap);

/* ---- Cluster nodes (migration 10) ----
 * pb_store_set_node: the tag of this node (1-7 lowercase hex digits; NULL or
 * "" = none, the single-node default). Usage and session rows opened after
 * it carry the tag in their node column, and it scopes this store's startup
 * recovery: pb_usage_close_open, pb_session_close_orphans and
 * pb_context_release_stale then touch only rows of no node or of this tag,
 * never those of the cluster's other (live) nodes; a dead node's rows are
 * pb_store_node_lost's. Set it before those calls. */
void pb_store_set_node(pb_store *s, const char *tag);
/* Node tag's death, in one write transaction: its open session rows closed
 * ("NodeLost") at their last heartbeat but not after node_heartbeat_ms nor
 * now_ms, never before their start; its open usage rows closed at their last
 * heartbeat (status 0) with their debits settled as pb_usage_close_open does
 * (never lost, never twice); the contexts its sessions held released.
 * Idempotent: a second call closes nothing. Either count may be NULL.
 * PB_EINVAL for a malformed tag. */
int pb_store_node_lost(pb_store *s, const char *tag, int64_t node_heartbeat_ms, int64_t now_ms,
                       int *sessions_closed, int *usage_closed);
/* Where a session's history row says it lives: tag ("" when it has no
 * node), *open 1 while the row is open, reason its close reason ("" while
 * open). PB_ENOTFOUND when there is no row. Any out may be NULL. */
int pb_session_node(pb_store *s, const char *session_id, char tag[8], int *open, char reason[32]);

#endif
