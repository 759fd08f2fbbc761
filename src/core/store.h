#ifndef PB_CORE_STORE_H
#define PB_CORE_STORE_H
/* The sandbox core's state: accounts, tokens, usage ledger, in SQLite (WAL)
 * under the data dir. Knows nothing of HTTP or Chromium. Every function is
 * safe to call from any thread (the store serialises access internally). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_store pb_store;

/* Opens (creating if needed, mode 0700) data_dir and data_dir/ppod.db, runs
 * migrations. On error *out is NULL. */
int pb_store_open(const char *data_dir, pb_store **out);
/* Closes the database. NULL is a no-op. */
void pb_store_close(pb_store *s);

typedef struct {
  int64_t id;
  char name[64];
  int64_t created_ms; /* wall clock */
} pb_account;

/* Names: 1-63 chars of [A-Za-z0-9_.-], compared case-sensitively. PB_EINVAL
 * for a bad name, PB_EEXIST when taken. account_id may be NULL. */
int pb_account_create(pb_store *s, const char *name, int64_t *account_id);
/* 1 when name has the shape above, else 0 (NULL is not). */
int pb_account_name_valid(const char *name);
int pb_account_find(pb_store *s, const char *name, int64_t *account_id); /* PB_ENOTFOUND */
/* All accounts, oldest first. *out is malloc'd (caller frees); *n may be 0,
 * and then *out is NULL. */
int pb_account_list(pb_store *s, pb_account **out, size_t *n);

#define PB_TOKEN_DEFAULT_TTL_DAYS 15
#define PB_TOKEN_MAX 80 /* buffer size that holds any token plus NUL */

/* Creates a token for the account valid for ttl_days (> 0) from now; writes
 * the plaintext ("ppod_" + 43 base64url chars) to token_out, which is never
 * stored: only its SHA-256 is. */
int pb_token_create(pb_store *s, int64_t account_id, int ttl_days, char token_out[PB_TOKEN_MAX]);
/* Same, valid for ttl_ms (1 ms .. PB_TOKEN_MAX_TTL_DAYS days) from now. Both
 * return PB_EINVAL for a TTL out of range, PB_ENOTFOUND for an unknown account,
 * PB_EIO when the kernel gives no randomness. */
#define PB_TOKEN_MAX_TTL_DAYS 36500
int pb_token_create_ttl_ms(pb_store *s, int64_t account_id, int64_t ttl_ms,
                           char token_out[PB_TOKEN_MAX]);

typedef struct {
  int64_t account_id;
  char account[64];
  int64_t token_id;
  int64_t expires_ms;
} pb_auth;

/* Checks a plaintext token at wall time now_ms. 0 and *out filled; PB_EINVAL
 * for an unknown/malformed token; PB_EEXPIRED for an expired one (*out still
 * filled so callers can log who). out may be NULL. */
int pb_token_check(pb_store *s, const char *token, int64_t now_ms, pb_auth *out);

/* Usage ledger: a row is written when billable work starts and closed when it
 * ends, so a crash between the two leaves an open row that
 * pb_usage_close_open() closes on the next start (never lost, never counted
 * twice). kind is e.g. "screenshot" (same charset and length as account
 * names). PB_ENOTFOUND for an unknown account. */
int pb_usage_begin(pb_store *s, int64_t account_id, const char *kind, int64_t start_wall_ms,
                   int64_t *usage_id);
/* Closes the row: ms = end - start (0 if the wall clock went backwards).
 * status is the HTTP status answered (0..999). PB_ENOTFOUND for an unknown id;
 * PB_EEXIST when the row is already closed (left unchanged). */
int pb_usage_end(pb_store *s, int64_t usage_id, int64_t end_wall_ms, int status);
/* Closes every row still open (after a crash), ending them at their start plus
 * what was last recorded; returns the count through *closed (may be NULL).
 * Only the start is recorded before the end, so such a row gets end_ms =
 * start_ms, ms = 0 and status 0 ("interrupted"). Idempotent: a second call
 * closes 0. Call it once at startup, before serving: it also closes rows a
 * live process sharing the data dir has open. */
int pb_usage_close_open(pb_store *s, int *closed);
/* Total billed ms for an account over closed rows started at or after
 * since_wall_ms. */
int pb_usage_total(pb_store *s, int64_t account_id, int64_t since_wall_ms, int64_t *ms);

/* SHA-256 (pure, FIPS 180-4). */
void pb_sha256(const void *data, size_t len, unsigned char out[32]);

#endif
