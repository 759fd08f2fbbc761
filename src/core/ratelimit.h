#ifndef PB_CORE_RATELIMIT_H
#define PB_CORE_RATELIMIT_H
/* Token buckets for per-account rate limits. Pure arithmetic on a
 * caller-owned struct: no clock, no I/O, no locking (callers serialise access
 * to one bucket themselves). Times are milliseconds on one monotonic clock
 * (pb_now_ms), never the wall clock, which can step. */
#include <stdint.h>

typedef struct {
  double tokens;   /* available now (as of last_ms), 0..burst */
  int64_t last_ms; /* when tokens was computed; 0 = fresh (starts full) */
} pb_bucket;

/* Refills b at rate_per_s tokens a second up to burst, then takes one token.
 * Returns 1 when taken (*retry_after_ms = 0); 0 when the bucket is short
 * (*retry_after_ms = the exact ms until one token is there, rounded up, so
 * a retry at now + *retry_after_ms succeeds if nothing else takes it first);
 * PB_EINVAL when now_ms <= 0 (0 marks a fresh bucket), or rate_per_s or
 * burst is not a finite number > 0 and >= 1 respectively. retry_after_ms may
 * be NULL.
 * A refused call consumes nothing. A clock reading before last_ms counts as
 * no time passing. */
int pb_bucket_take(pb_bucket *b, int64_t now_ms, double rate_per_s, double burst,
                   int64_t *retry_after_ms);

/* What pb_bucket_take would see at now_ms, without taking: whole tokens
 * available (*available, may be NULL) and ms until the next one
 * (*retry_after_ms, 0 when one is available now; may be NULL). b is not
 * changed. Same PB_EINVAL, else 0. */
int pb_bucket_peek(const pb_bucket *b, int64_t now_ms, double rate_per_s, double burst,
                   int64_t *available, int64_t *retry_after_ms);

#endif
