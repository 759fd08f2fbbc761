#include "core/credits.h"

#include "common/pb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define INT_DIGITS_MAX 10
#define FRAC_DIGITS 6

static int parse_fail(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int parse_fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return PB_EINVAL;
}

int pb_credit_parse(const char *text, int flags, int64_t *micro, char *err, size_t errcap) {
  if (err && errcap) err[0] = '\0';
  if (!text || !micro) return parse_fail(err, errcap, "no amount");
  const char *p = text;
  int neg = 0;
  if (*p == '+' || *p == '-') {
    neg = *p == '-';
    if (neg && !(flags & PB_CREDIT_SIGNED))
      return parse_fail(err, errcap, "the amount must not be negative");
    p++;
  }
  /* Whole credits: digits only, bounded before any arithmetic. */
  int64_t whole = 0;
  int nd = 0;
  for (; *p >= '0' && *p <= '9'; p++, nd++) {
    if (nd == INT_DIGITS_MAX)
      return parse_fail(err, errcap, "the amount has more than %d digits before the point",
                        INT_DIGITS_MAX);
    whole = whole * 10 + (*p - '0');
  }
  if (nd == 0)
    return parse_fail(err, errcap,
                      "\"%.32s\" is not an amount (digits, optionally a point and up to %d more)",
                      text, FRAC_DIGITS);
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int nf = 0;
    for (; *p >= '0' && *p <= '9'; p++, nf++) {
      if (nf == FRAC_DIGITS)
        return parse_fail(err, errcap, "at most %d decimals (a micro-credit)", FRAC_DIGITS);
      frac = frac * 10 + (*p - '0');
    }
    if (nf == 0) return parse_fail(err, errcap, "digits must follow the point in \"%.32s\"", text);
    for (; nf < FRAC_DIGITS; nf++) frac *= 10;
  }
  if (*p)
    return parse_fail(err, errcap,
                      "\"%.32s\" is not an amount (digits, optionally a point and up to %d more)",
                      text, FRAC_DIGITS);
  /* whole < 10^10, so whole * 10^6 + frac < 10^16: no overflow. */
  int64_t v = whole * PB_MICRO_PER_CREDIT + frac;
  if (v > PB_CREDIT_MAX_MICRO)
    return parse_fail(err, errcap, "the amount is over %lld credits",
                      (long long)(PB_CREDIT_MAX_MICRO / PB_MICRO_PER_CREDIT));
  *micro = neg ? -v : v;
  return 0;
}

void pb_credit_format(int64_t micro, char out[PB_CREDIT_TEXT_MAX]) {
  /* |INT64_MIN| has no int64: work on the unsigned magnitude. */
  uint64_t m = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
  uint64_t whole = m / (uint64_t)PB_MICRO_PER_CREDIT, frac = m % (uint64_t)PB_MICRO_PER_CREDIT;
  char f[8];
  snprintf(f, sizeof(f), "%06llu", (unsigned long long)frac);
  size_t n = FRAC_DIGITS;
  while (n > 2 && f[n - 1] == '0') n--;
  f[n] = '\0';
  snprintf(out, PB_CREDIT_TEXT_MAX, "%s%llu.%s", micro < 0 ? "-" : "", (unsigned long long)whole,
           f);
}

int64_t pb_credit_billed_seconds(int64_t ms) {
  if (ms <= 0) return 0;
  return ms / 1000 + (ms % 1000 != 0);
}

int64_t pb_credit_debit(int64_t price_micro, int64_t ms) {
  if (price_micro <= 0) return 0;
  int64_t secs = pb_credit_billed_seconds(ms), d;
  if (__builtin_mul_overflow(price_micro, secs, &d) || d > PB_CREDIT_MAX_MICRO)
    return PB_CREDIT_MAX_MICRO;
  return d;
}

int64_t pb_credit_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) r = b > 0 ? PB_CREDIT_MAX_MICRO : -PB_CREDIT_MAX_MICRO;
  if (r > PB_CREDIT_MAX_MICRO) r = PB_CREDIT_MAX_MICRO;
  if (r < -PB_CREDIT_MAX_MICRO) r = -PB_CREDIT_MAX_MICRO;
  return r;
}

int pb_credit_plan(int64_t price_micro, int64_t balance_micro, int64_t paid_until_ms,
                   int64_t now_ms, int spenders, int64_t margin_ms, int64_t max_wait_ms,
                   int64_t *next_beat_ms) {
  *next_beat_ms = now_ms + max_wait_ms;
  if (balance_micro < 0) return 1;
  if (price_micro <= 0) return 0;
  if (spenders < 1) spenders = 1;
  /* Whole seconds the balance pays for every spender; a spender's share
   * that is not a whole second is not promised to anyone. */
  int64_t per_second = price_micro, secs;
  if (__builtin_mul_overflow(price_micro, (int64_t)spenders, &per_second))
    per_second = PB_CREDIT_MAX_MICRO;
  secs = balance_micro / per_second;
  int64_t ends = paid_until_ms;
  if (secs > (INT64_MAX - ends) / 1000)
    return 0; /* beyond any time that matters: look again at max_wait */
  ends += secs * 1000;
  if (secs == 0 && ends - now_ms <= margin_ms) return 1;
  int64_t beat = ends - margin_ms;
  if (beat < now_ms) beat = now_ms;
  if (beat < *next_beat_ms) *next_beat_ms = beat;
  return 0;
}
