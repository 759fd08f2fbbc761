#ifndef PB_CORE_CREDITS_H
#define PB_CORE_CREDITS_H
/* Credits: amounts, prices and the debit of browser time, as integers of
 * micro-credits (1 credit = 1,000,000 micro). No float touches an amount:
 * text is parsed digit by digit and every product is checked for overflow.
 *
 * Billing is per started second: a ledger row that ran ms milliseconds
 * costs price * ceil(ms / 1000). So the minimum billable unit is one
 * browser second at the price, and an account whose balance is below it
 * can start no work. Pure functions; any thread. */
#include <stddef.h>
#include <stdint.h>

#define PB_MICRO_PER_CREDIT INT64_C(1000000)
/* The largest amount (and balance, either sign) the store keeps: a billion
 * credits, far below where int64 arithmetic on it could overflow. */
#define PB_CREDIT_MAX_MICRO (INT64_C(1000000000) * PB_MICRO_PER_CREDIT)
/* The price per browser second: 0.0001 credits by default, at most 1000. */
#define PB_PRICE_DEFAULT_MICRO INT64_C(100)
#define PB_PRICE_MAX_MICRO (INT64_C(1000) * PB_MICRO_PER_CREDIT)
/* What a signup starts with unless --signup-credit says otherwise. */
#define PB_SIGNUP_CREDIT_DEFAULT_MICRO (INT64_C(5) * PB_MICRO_PER_CREDIT)
/* Room for any amount pb_credit_format writes, with the NUL. */
#define PB_CREDIT_TEXT_MAX 32

/* pb_credit_parse flags. */
#define PB_CREDIT_SIGNED 1 /* a leading '-' is allowed (else only '+') */

/* Parses a decimal amount of credits: an optional sign, 1 to 10 digits,
 * and optionally '.' and 1 to 6 more ("5", "+5.00", "-1.50", "0.0001").
 * Nothing else: no exponent, no spaces, no "NaN", no "inf", no hex. 0 and
 * *micro; PB_EINVAL with a one-line reason in err (errcap bytes; err may be
 * NULL) for anything else, a '-' without PB_CREDIT_SIGNED (even "-0"), or
 * an amount over PB_CREDIT_MAX_MICRO. */
int pb_credit_parse(const char *text, int flags, int64_t *micro, char *err, size_t errcap);

/* micro as credits: at least two decimals, at most six, no trailing zeros
 * past two ("5.00", "4.9999", "-1.50", "0.000001"). out holds at least
 * PB_CREDIT_TEXT_MAX bytes. */
void pb_credit_format(int64_t micro, char out[PB_CREDIT_TEXT_MAX]);

/* Whole seconds billed for ms of browser time (per started second; ms < 0
 * is 0). */
int64_t pb_credit_billed_seconds(int64_t ms);

/* What ms of browser time costs at price_micro per second: price *
 * billed seconds, capped at PB_CREDIT_MAX_MICRO (a row would need to run
 * for decades at the highest price to reach it). price < 0 is 0. */
int64_t pb_credit_debit(int64_t price_micro, int64_t ms);

/* a + b clamped to [-PB_CREDIT_MAX_MICRO, PB_CREDIT_MAX_MICRO]. */
int64_t pb_credit_add(int64_t a, int64_t b);

/* The plan for a running metered row after a heartbeat at now_ms (wall):
 * its time is paid to paid_until_ms (its start plus its billed seconds),
 * the account has balance_micro left, and spenders rows (>= 1: this one
 * and the account's other running sessions) draw on it at price_micro per
 * second each. Returns 1 when the row must stop now (the balance is
 * negative, or what is paid ends within margin_ms and the balance cannot
 * pay every spender another second); else 0 and *next_beat_ms, the wall
 * time of the beat that should look again: margin_ms before the paid time
 * the balance reaches runs out (no later than now + max_wait_ms). */
int pb_credit_plan(int64_t price_micro, int64_t balance_micro, int64_t paid_until_ms,
                   int64_t now_ms, int spenders, int64_t margin_ms, int64_t max_wait_ms,
                   int64_t *next_beat_ms);

#endif
