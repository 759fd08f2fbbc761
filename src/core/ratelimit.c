/* Token buckets. Tokens are doubles, so sums like 1999 ms * 0.5/s / 1000 come
 * out a hair off the exact 0.9995; a tolerance far below one millisecond's
 * worth of tokens keeps grants and Retry-After values exact to the ms. */
#include "core/ratelimit.h"

#include "common/pb.h"

/* No <math.h>: pb_core does not link libm, and the values here are
 * non-negative and far below 2^63, where a cast truncates like floor(). */

/* In tokens: at the highest rate we allow (10000/s) this is 1e-7 ms. */
#define TOKEN_EPS 1e-9
/* In ms: absorbs rounding in the division before ceil(). */
#define MS_EPS 1e-6

/* Tokens in b at now_ms: full when fresh, else what was left plus the refill,
 * capped at burst. */
static double level(const pb_bucket *b, int64_t now_ms, double rate_per_s, double burst) {
  if (b->last_ms == 0) return burst;
  double t = b->tokens;
  if (now_ms > b->last_ms) t += (double)(now_ms - b->last_ms) * rate_per_s / 1000.0;
  return t < burst ? t : burst;
}

/* Whole ms until level t reaches one token; 0 when it already has. */
static int64_t wait_ms(double t, double rate_per_s) {
  if (t >= 1.0 - TOKEN_EPS) return 0;
  double ms = (1.0 - t) * 1000.0 / rate_per_s - MS_EPS;
  if (ms > 1e15) return INT64_C(1000000000000000); /* ~31700 years: "never" */
  int64_t whole = (int64_t)ms;
  if ((double)whole < ms) whole++;
  return whole < 1 ? 1 : whole;
}

static int bad_args(int64_t now_ms, double rate_per_s, double burst) {
  /* The comparisons also refuse NaN and infinity. */
  return now_ms <= 0 || !(rate_per_s > 0 && rate_per_s < 1e12) || !(burst >= 1 && burst < 1e15);
}

int pb_bucket_take(pb_bucket *b, int64_t now_ms, double rate_per_s, double burst,
                   int64_t *retry_after_ms) {
  if (!b || bad_args(now_ms, rate_per_s, burst)) return PB_EINVAL;
  double t = level(b, now_ms, rate_per_s, burst);
  int64_t wait = wait_ms(t, rate_per_s);
  if (retry_after_ms) *retry_after_ms = wait;
  if (wait) return 0; /* unchanged: refusals cost nothing and add no rounding */
  b->tokens = t > 1.0 ? t - 1.0 : 0.0;
  if (now_ms > b->last_ms) b->last_ms = now_ms;
  return 1;
}

int pb_bucket_peek(const pb_bucket *b, int64_t now_ms, double rate_per_s, double burst,
                   int64_t *available, int64_t *retry_after_ms) {
  if (!b || bad_args(now_ms, rate_per_s, burst)) return PB_EINVAL;
  double t = level(b, now_ms, rate_per_s, burst);
  if (available) *available = (int64_t)(t + TOKEN_EPS);
  if (retry_after_ms) *retry_after_ms = wait_ms(t, rate_per_s);
  return 0;
}
