/* Admission verdicts. The checks run in the order clients have always seen
 * them answered: the daily quota, then what the kind of work needs (disk and
 * session for a quick action; keep_alive and the session count for an
 * acquisition), then concurrency, then the rate; so a request that breaks
 * two limits is told about the first. Only the last step takes anything. */
#include "core/admit.h"

#include "common/pb.h"
#include "core/credits.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

pb_admit_account *pb_admit_account_of(pb_admit_accounts *t, int64_t account_id) {
  for (size_t i = 0; i < t->n; i++)
    if (t->v[i].account_id == account_id) return &t->v[i];
  if (t->n == t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 16;
    pb_admit_account *nv = realloc(t->v, ncap * sizeof(*nv));
    if (!nv) return NULL;
    t->v = nv;
    t->cap = ncap;
  }
  pb_admit_account *a = &t->v[t->n++];
  memset(a, 0, sizeof(*a));
  a->account_id = account_id;
  return a;
}

void pb_admit_accounts_free(pb_admit_accounts *t) {
  if (!t) return;
  free(t->v);
  t->v = NULL;
  t->n = t->cap = 0;
}

static int retry_secs(int64_t ms) {
  return (int)((ms + 999) / 1000);
}

static pb_code refuse(pb_admit_verdict *v, pb_code code, int retry_after_s, const char *metric,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static pb_code refuse(pb_admit_verdict *v, pb_code code, int retry_after_s, const char *metric,
                      const char *fmt, ...) {
  v->code = code;
  v->retry_after_s = retry_after_s;
  v->metric = metric;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v->message, sizeof(v->message), fmt, ap);
  va_end(ap);
  return code;
}

int64_t pb_admit_day_start(int64_t wall_ms) {
  return wall_ms - wall_ms % PB_ADMIT_DAY_MS;
}

pb_code pb_admit_refuse(pb_admit_verdict *v, pb_admit_refusal why, const pb_limits *l,
                        int64_t wait_ms, int64_t wall_ms) {
  memset(v, 0, sizeof(*v));
  switch (why) {
    case PB_ADMIT_REFUSE_QUOTA: {
      int64_t day = pb_admit_day_start(wall_ms);
      return refuse(v, PB_CODE_LIMIT_EXCEEDED, retry_secs(day + PB_ADMIT_DAY_MS - wall_ms),
                    "quota", "the account used its %lld browser ms for today",
                    (long long)l->browser_ms_per_day);
    }
    case PB_ADMIT_REFUSE_SESSIONS:
      return refuse(v, PB_CODE_LIMIT_EXCEEDED, 5, "sessions",
                    "the account already has %d live sessions (its maximum)",
                    l->max_concurrent_sessions);
    case PB_ADMIT_REFUSE_ACQUIRE_RATE:
      return refuse(v, PB_CODE_RATE_LIMITED, retry_secs(wait_ms), "rate_limited",
                    "at most %d acquisitions per minute; next in %lld ms",
                    l->acquisitions_per_minute, (long long)wait_ms);
    case PB_ADMIT_REFUSE_CONCURRENCY:
      return refuse(v, PB_CODE_LIMIT_EXCEEDED, 1, "concurrency",
                    "the account already runs %d quick actions (its maximum)",
                    l->concurrent_quick_actions);
    case PB_ADMIT_REFUSE_ACTION_RATE:
      break;
  }
  return refuse(v, PB_CODE_RATE_LIMITED, retry_secs(wait_ms), "rate_limited",
                "at most %d quick actions per second; next in %lld ms",
                l->quick_actions_per_second, (long long)wait_ms);
}

/* The acquisition bucket: the per-minute limit refills evenly and is also
 * the burst. */
static double acq_rate(const pb_limits *l) {
  return l->acquisitions_per_minute / 60.0;
}

/* The quick-action rate (and, when counted, one of the concurrent actions). */
static pb_code admit_action(pb_admit_account *a, const pb_limits *l, int counted, int64_t now,
                            pb_admit_verdict *v) {
  int64_t wait = 0;
  if (counted && a->actions_running >= l->concurrent_quick_actions)
    return pb_admit_refuse(v, PB_ADMIT_REFUSE_CONCURRENCY, l, 0, 0);
  if (!pb_bucket_take(&a->actions, now, l->quick_actions_per_second, l->quick_actions_per_second,
                      &wait))
    return pb_admit_refuse(v, PB_ADMIT_REFUSE_ACTION_RATE, l, wait, 0);
  if (counted) {
    a->actions_running++;
    v->counted = 1;
  }
  return PB_CODE_NONE;
}

pb_code pb_admit_decide(pb_admit_account *a, const pb_limits *l, const pb_admit_req *q,
                        int64_t now_ms, pb_admit_verdict *v) {
  memset(v, 0, sizeof(*v));
  if (q->cls != PB_ADMIT_NONE && q->credit_checked && q->metered &&
      q->balance_micro < q->price_micro) {
    char bal[PB_CREDIT_TEXT_MAX], price[PB_CREDIT_TEXT_MAX];
    pb_credit_format(q->balance_micro, bal);
    pb_credit_format(q->price_micro, price);
    return refuse(v, PB_CODE_INSUFFICIENT_CREDITS, 0, "credits",
                  "the account's balance of %s credits cannot pay for one second of browser time"
                  " (%s credits); add credits",
                  bal, price);
  }
  switch (q->cls) {
    case PB_ADMIT_NONE:
      return PB_CODE_NONE;
    case PB_ADMIT_LIGHT:
      return admit_action(a, l, 1, now_ms, v);
    case PB_ADMIT_RELEASE:
      return admit_action(a, l, 0, now_ms, v);
    case PB_ADMIT_QUICK:
    case PB_ADMIT_ACQUIRE:
      break;
  }
  if (l->browser_ms_per_day > 0 && q->used_today_ms >= 0 &&
      q->used_today_ms >= l->browser_ms_per_day)
    return pb_admit_refuse(v, PB_ADMIT_REFUSE_QUOTA, l, 0, q->wall_ms);
  if (q->cls == PB_ADMIT_ACQUIRE) {
    int64_t wait = 0;
    if (q->has_keep_alive && q->keep_alive_ms > (double)l->keep_alive_max_ms)
      return refuse(v, PB_CODE_INVALID_REQUEST, 0, NULL,
                    "keep_alive: at most %lld ms for this account",
                    (long long)l->keep_alive_max_ms);
    if (q->sessions >= l->max_concurrent_sessions)
      return pb_admit_refuse(v, PB_ADMIT_REFUSE_SESSIONS, l, 0, 0);
    if (!pb_bucket_take(&a->acquisitions, now_ms, acq_rate(l), l->acquisitions_per_minute, &wait))
      return pb_admit_refuse(v, PB_ADMIT_REFUSE_ACQUIRE_RATE, l, wait, 0);
    return PB_CODE_NONE;
  }
  /* A quick action: a full disk is answered now, before any work that
   * could not be metered or kept. */
  if (q->disk_free >= 0) {
    unsigned long long avail = (unsigned long long)q->disk_free;
    if (avail < PB_DISK_RESERVE_BYTES || (q->trace && avail < PB_TRACE_RESERVE_BYTES))
      return refuse(v, PB_CODE_STORAGE_FULL, 30, "storage_full",
                    "the service's disk is full (%llu KiB free)%s; retry later", avail / 1024,
                    q->trace ? ": no room for a trace" : "");
  }
  if (q->session_id && !q->session_found)
    return refuse(v, PB_CODE_SESSION_NOT_FOUND, 0, NULL, "no live session %s for this account",
                  q->session_id);
  return admit_action(a, l, 1, now_ms, v);
}

void pb_admit_give_back(pb_admit_account *a) {
  if (a && a->actions_running > 0) a->actions_running--;
}

void pb_admit_acquisitions_left(const pb_admit_account *a, const pb_limits *l, int64_t now_ms,
                                int64_t *available, int64_t *retry_after_ms) {
  *available = l->acquisitions_per_minute;
  *retry_after_ms = 0;
  if (a)
    pb_bucket_peek(&a->acquisitions, now_ms, acq_rate(l), l->acquisitions_per_minute, available,
                   retry_after_ms);
}
