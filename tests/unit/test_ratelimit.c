/* Token buckets: exact grants and Retry-After values, to the millisecond. */
#include "core/ratelimit.h"

#include "common/pb.h"
#include "test.h"

#include <stdint.h>

#define T0 INT64_C(1000000) /* an arbitrary monotonic reading */

/* 30 a minute: a burst of 30, then one every 2000 ms. */
static void test_per_minute(void) {
  pb_bucket b = {0};
  int64_t wait = -1;
  for (int i = 0; i < 30; i++) {
    ASSERT_EQ(pb_bucket_take(&b, T0, 30 / 60.0, 30, &wait), 1);
    ASSERT_EQ(wait, 0);
  }
  ASSERT_EQ(pb_bucket_take(&b, T0, 30 / 60.0, 30, &wait), 0);
  ASSERT_EQ(wait, 2000);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 1, 30 / 60.0, 30, &wait), 0);
  ASSERT_EQ(wait, 1999);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 1999, 30 / 60.0, 30, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 2000, 30 / 60.0, 30, &wait), 1);
  ASSERT_EQ(wait, 0);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 2000, 30 / 60.0, 30, &wait), 0);
  ASSERT_EQ(wait, 2000);
  /* Waiting out exactly what was asked works every time, and a ms early
   * never does: no drift over a long run. */
  int64_t now = T0 + 2000;
  for (int i = 0; i < 5000; i++) {
    ASSERT_EQ(pb_bucket_take(&b, now, 0.5, 30, &wait), 0);
    ASSERT(wait >= 1);
    ASSERT_EQ(pb_bucket_take(&b, now + wait - 1, 0.5, 30, NULL), 0);
    now += wait;
    ASSERT_EQ(pb_bucket_take(&b, now, 0.5, 30, &wait), 1);
  }
  ASSERT_EQ(now, T0 + 2000 + 5000 * INT64_C(2000));
}

/* A rate that does not divide 1000 ms: 3/s is a token every 333.33 ms. */
static void test_fractional_interval(void) {
  pb_bucket b = {0};
  int64_t wait = -1;
  ASSERT_EQ(pb_bucket_take(&b, T0, 3, 1, &wait), 1);
  ASSERT_EQ(pb_bucket_take(&b, T0, 3, 1, &wait), 0);
  ASSERT_EQ(wait, 334);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 333, 3, 1, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 334, 3, 1, &wait), 1);
  /* With a burst of 1 the 0.67 ms over is lost to the cap: 334 again. */
  ASSERT_EQ(pb_bucket_take(&b, T0 + 334, 3, 1, &wait), 0);
  ASSERT_EQ(wait, 334);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 667, 3, 1, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 668, 3, 1, &wait), 1);
  /* Under the burst it carries over: due at T0 + 666.67, so 667. */
  pb_bucket c = {0};
  ASSERT_EQ(pb_bucket_take(&c, T0, 3, 2, NULL), 1);
  ASSERT_EQ(pb_bucket_take(&c, T0, 3, 2, NULL), 1);
  ASSERT_EQ(pb_bucket_take(&c, T0 + 334, 3, 2, &wait), 1);
  ASSERT_EQ(pb_bucket_take(&c, T0 + 334, 3, 2, &wait), 0);
  ASSERT_EQ(wait, 333);
  ASSERT_EQ(pb_bucket_take(&c, T0 + 666, 3, 2, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_bucket_take(&c, T0 + 667, 3, 2, &wait), 1);
  /* 1 a minute, the slowest limit. */
  pb_bucket m = {0};
  ASSERT_EQ(pb_bucket_take(&m, T0, 1 / 60.0, 1, &wait), 1);
  ASSERT_EQ(pb_bucket_take(&m, T0 + 59999, 1 / 60.0, 1, &wait), 0);
  ASSERT_EQ(wait, 1);
  ASSERT_EQ(pb_bucket_take(&m, T0 + 60000, 1 / 60.0, 1, &wait), 1);
}

/* For every per-minute and per-second limit an operator can set: after a
 * refusal, waiting the answer minus 1 ms is refused again and waiting the
 * answer is granted, over many rounds (rounding never drifts either way). */
static void test_retry_after_is_exact(void) {
  const double rates[] = {1 / 60.0, 7 / 60.0, 0.5, 1000 / 60.0, 1, 3, 7, 10, 13, 997, 10000};
  const double bursts[] = {1, 5};
  for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
    for (size_t k = 0; k < 2; k++) {
      if (rates[r] > 1000 && bursts[k] > 1) continue; /* 1 ms brings several tokens */
      pb_bucket b = {0};
      int64_t now = T0, wait = -1;
      while (pb_bucket_take(&b, now, rates[r], bursts[k], NULL) == 1) {
      }
      for (int i = 0; i < 2000; i++) {
        ASSERT_EQ(pb_bucket_take(&b, now, rates[r], bursts[k], &wait), 0);
        ASSERT(wait >= 1);
        if (wait > 1) {
          int64_t again = -1;
          ASSERT_EQ(pb_bucket_take(&b, now + wait - 1, rates[r], bursts[k], &again), 0);
          ASSERT_EQ(again, 1);
        }
        now += wait;
        ASSERT_EQ(pb_bucket_take(&b, now, rates[r], bursts[k], NULL), 1);
      }
      /* 2000 tokens took 2000 intervals, to within 1 ms each. */
      double ideal = 2000 * 1000.0 / rates[r];
      ASSERT((double)(now - T0) >= ideal - 1 && (double)(now - T0) <= ideal + 2000);
    }
  }
}

static void test_refill_caps_at_burst(void) {
  pb_bucket b = {0};
  int64_t wait = -1, avail = -1;
  ASSERT_EQ(pb_bucket_peek(&b, T0, 10, 10, &avail, &wait), 0); /* fresh: full */
  ASSERT_EQ(avail, 10);
  ASSERT_EQ(wait, 0);
  for (int i = 0; i < 10; i++) ASSERT_EQ(pb_bucket_take(&b, T0, 10, 10, NULL), 1);
  ASSERT_EQ(pb_bucket_take(&b, T0, 10, 10, &wait), 0);
  ASSERT_EQ(wait, 100);
  ASSERT_EQ(pb_bucket_peek(&b, T0 + 250, 10, 10, &avail, &wait), 0);
  ASSERT_EQ(avail, 2);
  ASSERT_EQ(wait, 0);
  /* An hour idle refills to the burst, not beyond. */
  ASSERT_EQ(pb_bucket_peek(&b, T0 + 3600000, 10, 10, &avail, NULL), 0);
  ASSERT_EQ(avail, 10);
  for (int i = 0; i < 10; i++) ASSERT_EQ(pb_bucket_take(&b, T0 + 3600000, 10, 10, NULL), 1);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 3600000, 10, 10, &wait), 0);
  ASSERT_EQ(wait, 100);
  /* A burst lowered since the last call caps what was saved. */
  pb_bucket c = {0};
  ASSERT_EQ(pb_bucket_take(&c, T0, 1, 30, NULL), 1);
  ASSERT_EQ(pb_bucket_peek(&c, T0, 1, 5, &avail, NULL), 0);
  ASSERT_EQ(avail, 5);
}

static void test_refusals_are_free(void) {
  pb_bucket b = {0};
  int64_t wait = -1;
  ASSERT_EQ(pb_bucket_take(&b, T0, 1, 1, NULL), 1);
  pb_bucket before = b;
  for (int i = 1; i < 1000; i++) {
    ASSERT_EQ(pb_bucket_take(&b, T0 + i, 1, 1, &wait), 0);
    ASSERT_EQ(wait, 1000 - i);
  }
  ASSERT_EQ(memcmp(&b, &before, sizeof(b)), 0);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 1000, 1, 1, &wait), 1);
  /* peek changes nothing either. */
  before = b;
  int64_t avail = -1;
  ASSERT_EQ(pb_bucket_peek(&b, T0 + 1500, 1, 1, &avail, &wait), 0);
  ASSERT_EQ(avail, 0);
  ASSERT_EQ(wait, 500);
  ASSERT_EQ(memcmp(&b, &before, sizeof(b)), 0);
}

/* Buckets share nothing: one account draining its own never delays another. */
static void test_independent(void) {
  pb_bucket a = {0}, b = {0};
  int64_t wait;
  for (int i = 0; i < 30; i++) ASSERT_EQ(pb_bucket_take(&a, T0, 0.5, 30, NULL), 1);
  ASSERT_EQ(pb_bucket_take(&a, T0, 0.5, 30, &wait), 0);
  ASSERT_EQ(pb_bucket_take(&b, T0, 0.5, 30, &wait), 1);
  ASSERT_EQ(wait, 0);
}

static void test_clock_and_args(void) {
  pb_bucket b = {0};
  int64_t wait = -1;
  ASSERT_EQ(pb_bucket_take(&b, T0, 1, 1, NULL), 1);
  /* A reading before the last one refills nothing and is no error. */
  ASSERT_EQ(pb_bucket_take(&b, T0 - 5000, 1, 1, &wait), 0);
  ASSERT_EQ(wait, 1000);
  ASSERT_EQ(pb_bucket_take(&b, T0 + 1000, 1, 1, &wait), 1);

  ASSERT_EQ(pb_bucket_take(NULL, T0, 1, 1, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, 0, 1, 1, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, T0, 0, 1, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, T0, -1, 1, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, T0, 1, 0.5, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, T0, 0.0 / 0.0, 1, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_take(&b, T0, 1, 1.0 / 0.0, &wait), PB_EINVAL);
  ASSERT_EQ(pb_bucket_peek(&b, T0, 0, 1, NULL, NULL), PB_EINVAL);
}

int main(void) {
  RUN(test_per_minute);
  RUN(test_fractional_interval);
  RUN(test_retry_after_is_exact);
  RUN(test_refill_caps_at_burst);
  RUN(test_refusals_are_free);
  RUN(test_independent);
  RUN(test_clock_and_args);
  DONE();
}
