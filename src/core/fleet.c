/* Fleet-wide account limits in the shared store (core/fleet.h). Every check
 * that counts or takes is one transaction under the store's write lock
 * (pb_db_begin: BEGIN IMMEDIATE on SQLite, an advisory lock every writer
 * takes on PostgreSQL), so two nodes checking at once are serialised and
 * the second sees the first's row. Buckets are integers (milli-tokens,
 * rates per minute) so every node computes the same level from the row. */
#include "core/fleet.h"

#include "common/pb.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_MIN INT64_C(60000)
#define MILLI INT64_C(1000)
/* Far above any configured limit; keeps the integer math far from overflow. */
#define RATE_MAX (INT64_C(1) << 40)
#define BURST_MAX (INT64_C(1) << 30)
/* take_locked refused (> 0: not an error code). */
#define RATE_REFUSED 2

/* ---- statements ---- */

static int prep(pb_db *db, const char *sql, pb_db_stmt **st) {
  return pb_db_prepare(db, sql, st);
}

/* Steps a statement that returns no rows (or whose rows are not read). */
static int run(pb_db_stmt *st) {
  int rc;
  while ((rc = pb_db_step(st)) == PB_DB_ROW) {
  }
  return rc < 0 ? rc : 0;
}

/* Steps a one-row, one-integer query into *out (0 when no row). */
static int one_int(pb_db_stmt *st, int64_t *out) {
  int rc = pb_db_step(st);
  if (rc < 0) return rc;
  *out = rc == PB_DB_ROW ? pb_db_column_int64(st, 0) : 0;
  return 0;
}

/* ---- buckets ---- */

/* A bucket's state: tokens (milli) at at_ms. Refilled to now: the whole
 * milli-tokens gained are added and at_ms moves only over the ms they paid
 * for (the remainder carries to the next refill), so nothing is lost to
 * integer division. A clock behind the row's refills nothing and never
 * moves the row back. */
typedef struct {
  int64_t tokens, at_ms;
} level_t;

static level_t refill(int have, level_t b, int64_t now_ms, int64_t rate, int64_t burst) {
  int64_t cap = burst * MILLI;
  if (!have) return (level_t){cap, now_ms};
  if (b.tokens < 0) b.tokens = 0;
  if (b.tokens >= cap) return (level_t){cap, now_ms > b.at_ms ? now_ms : b.at_ms};
  if (now_ms <= b.at_ms) return b;
  int64_t elapsed = now_ms - b.at_ms;
  /* ms to fill up: past them the level is the cap (and elapsed * rate below
   * them stays under cap * 60000, far from overflow). */
  int64_t fill_ms = ((cap - b.tokens) * MS_PER_MIN + rate - 1) / rate;
  if (elapsed >= fill_ms) return (level_t){cap, now_ms};
  int64_t gained = elapsed * rate; /* milli-tokens * 60000 */
  return (level_t){b.tokens + gained / MS_PER_MIN, now_ms - (gained % MS_PER_MIN) / rate};
}

/* ms from now until b holds one token (>= 1), 0 when it does. */
static int64_t wait_for_token(level_t b, int64_t now_ms, int64_t rate) {
  if (b.tokens >= MILLI) return 0;
  int64_t ms = ((MILLI - b.tokens) * MS_PER_MIN + rate - 1) / rate + b.at_ms - now_ms;
  return ms < 1 ? 1 : ms;
}

/* pb_fleet_take inside an open transaction. */
static int take_locked(pb_db *db, int64_t account_id, const char *bucket, int64_t rate,
                       int64_t burst, int64_t now_ms, int64_t *retry_after_ms) {
  pb_db_stmt *st = NULL;
  int rc = prep(db,
                "SELECT tokens_milli, at_ms FROM fleet_buckets"
                " WHERE account_id = ?1 AND name = ?2",
                &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  pb_db_bind_text(st, 2, bucket, -1);
  int have = 0;
  level_t b = {0, 0};
  rc = pb_db_step(st);
  if (rc == PB_DB_ROW) {
    have = 1;
    b.tokens = pb_db_column_int64(st, 0);
    b.at_ms = pb_db_column_int64(st, 1);
  }
  pb_db_finalize(st);
  if (rc < 0) return rc;
  b = refill(have, b, now_ms, rate, burst);
  int64_t wait = wait_for_token(b, now_ms, rate);
  if (retry_after_ms) *retry_after_ms = wait;
  if (wait) return 0;
  rc = prep(db,
            "INSERT INTO fleet_buckets(account_id, name, tokens_milli, at_ms)"
            " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (account_id, name) DO UPDATE"
            " SET tokens_milli = excluded.tokens_milli, at_ms = excluded.at_ms",
            &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  pb_db_bind_text(st, 2, bucket, -1);
  pb_db_bind_int64(st, 3, b.tokens - MILLI);
  pb_db_bind_int64(st, 4, b.at_ms);
  rc = run(st);
  pb_db_finalize(st);
  return rc ? rc : 1;
}

static int take_args_ok(const char *bucket, int64_t rate, int64_t burst, int64_t now_ms) {
  return bucket && *bucket && rate > 0 && rate <= RATE_MAX && burst > 0 && burst <= BURST_MAX &&
         now_ms > 0;
}

int pb_fleet_take(pb_db *db, int64_t account_id, const char *bucket, int64_t rate_per_min_milli,
                  int64_t burst, int64_t now_ms, int64_t *retry_after_ms) {
  if (!db || !take_args_ok(bucket, rate_per_min_milli, burst, now_ms)) return PB_EINVAL;
  int rc = pb_db_begin(db);
  if (rc) return rc;
  rc = take_locked(db, account_id, bucket, rate_per_min_milli, burst, now_ms, retry_after_ms);
  if (rc == 1) {
    int crc = pb_db_commit(db);
    if (crc) {
      pb_db_rollback(db);
      return crc;
    }
    return 1;
  }
  pb_db_rollback(db); /* a refusal changed nothing */
  return rc;
}

/* ---- slots ---- */

int pb_fleet_slot_count(pb_db *db, int64_t account_id, const char *kind, int64_t *n) {
  pb_db_stmt *st = NULL;
  int rc = prep(db, "SELECT COUNT(*) FROM fleet_slots WHERE account_id = ?1 AND kind = ?2", &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  pb_db_bind_text(st, 2, kind, -1);
  rc = one_int(st, n);
  pb_db_finalize(st);
  return rc;
}

/* pb_fleet_slot_acquire inside an open transaction. */
static int slot_locked(pb_db *db, int64_t account_id, const char *kind, int max,
                       const char *node_tag, int64_t now_ms, int64_t *slot_id) {
  int64_t n = 0;
  int rc = pb_fleet_slot_count(db, account_id, kind, &n);
  if (rc) return rc;
  if (n >= max) return PB_EBUSY;
  pb_db_stmt *st = NULL;
  rc = prep(db,
            "INSERT INTO fleet_slots(account_id, kind, node, started_ms)"
            " VALUES (?1, ?2, ?3, ?4) RETURNING id",
            &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  pb_db_bind_text(st, 2, kind, -1);
  if (node_tag)
    pb_db_bind_text(st, 3, node_tag, -1);
  else
    pb_db_bind_null(st, 3);
  pb_db_bind_int64(st, 4, now_ms);
  rc = pb_db_step(st);
  if (rc == PB_DB_ROW) {
    *slot_id = pb_db_column_int64(st, 0);
    rc = run(st);
  } else if (rc >= 0) {
    rc = PB_ESTORE;
  }
  pb_db_finalize(st);
  return rc;
}

int pb_fleet_slot_acquire(pb_db *db, int64_t account_id, const char *kind, int max,
                          const char *node_tag, int64_t now_ms, int64_t *slot_id) {
  if (!db || !kind || !*kind || !slot_id) return PB_EINVAL;
  *slot_id = 0;
  int rc = pb_db_begin(db);
  if (rc) return rc;
  rc = slot_locked(db, account_id, kind, max, node_tag, now_ms, slot_id);
  if (!rc) rc = pb_db_commit(db);
  if (rc) {
    pb_db_rollback(db);
    *slot_id = 0;
  }
  return rc;
}

int pb_fleet_slot_release(pb_db *db, int64_t slot_id) {
  if (!db) return PB_EINVAL;
  if (slot_id <= 0) return 0;
  pb_db_stmt *st = NULL;
  int rc = prep(db, "DELETE FROM fleet_slots WHERE id = ?1", &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, slot_id);
  rc = run(st);
  pb_db_finalize(st);
  return rc;
}

int pb_fleet_node_lost(pb_db *db, const char *node_tag, int64_t *freed) {
  if (freed) *freed = 0;
  if (!db || !node_tag || !*node_tag) return PB_EINVAL;
  pb_db_stmt *st = NULL;
  int rc = prep(db, "DELETE FROM fleet_slots WHERE node = ?1", &st);
  if (rc) return rc;
  pb_db_bind_text(st, 1, node_tag, -1);
  rc = run(st);
  pb_db_finalize(st);
  if (!rc && freed) *freed = pb_db_changes(db);
  return rc;
}

/* ---- the day's use ---- */

int pb_fleet_used_today(pb_db *db, int64_t account_id, int64_t day_start_ms, int64_t *ms) {
  if (!db || !ms) return PB_EINVAL;
  *ms = 0;
  pb_db_stmt *st = NULL;
  /* Closed rows as pb_usage_sum counts them; open ones (running here or on
   * another node) up to their last heartbeat. */
  int rc = prep(db,
                "SELECT COALESCE(SUM(CASE WHEN end_ms IS NOT NULL THEN ms"
                " ELSE MAX(0, COALESCE(last_heartbeat_ms, start_ms) - start_ms) END), 0)"
                " FROM usage WHERE account_id = ?1 AND start_ms >= ?2 AND start_ms < ?3",
                &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  pb_db_bind_int64(st, 2, day_start_ms);
  pb_db_bind_int64(st, 3, day_start_ms + PB_ADMIT_DAY_MS);
  rc = one_int(st, ms);
  pb_db_finalize(st);
  return rc;
}

/* ---- sessions ---- */

int pb_fleet_session_count(pb_db *db, int64_t account_id, int64_t *n) {
  if (!db || !n) return PB_EINVAL;
  pb_db_stmt *st = NULL;
  int rc = prep(db, "SELECT COUNT(*) FROM sessions WHERE account_id = ?1 AND end_ms IS NULL", &st);
  if (rc) return rc;
  pb_db_bind_int64(st, 1, account_id);
  rc = one_int(st, n);
  pb_db_finalize(st);
  return rc;
}

int pb_fleet_session_open(pb_db *db, const char *session_id, int64_t account_id, int64_t start_ms,
                          const char *node_tag, int max) {
  if (!db || !session_id || !*session_id || start_ms < 0) return PB_EINVAL;
  int rc = pb_db_begin(db);
  if (rc) return rc;
  int64_t n = 0;
  rc = pb_fleet_session_count(db, account_id, &n);
  if (!rc && n >= max) rc = PB_EBUSY;
  pb_db_stmt *st = NULL;
  if (!rc)
    rc = prep(db,
              node_tag ? "INSERT INTO sessions(id, account_id, start_ms, node)"
                         " VALUES (?1, ?2, ?3, ?4)"
                       : "INSERT INTO sessions(id, account_id, start_ms) VALUES (?1, ?2, ?3)",
              &st);
  if (!rc) {
    pb_db_bind_text(st, 1, session_id, -1);
    pb_db_bind_int64(st, 2, account_id);
    pb_db_bind_int64(st, 3, start_ms);
    if (node_tag) pb_db_bind_text(st, 4, node_tag, -1);
    rc = run(st);
    if (rc && pb_db_errkind(db) == PB_DB_ERR_FOREIGN) rc = PB_ENOTFOUND;
    pb_db_finalize(st);
  }
  if (!rc) rc = pb_db_commit(db);
  if (rc) pb_db_rollback(db);
  return rc;
}

/* ---- a daemon's handle ---- */

struct pb_fleet {
  pthread_mutex_t mu;
  char *spec;
  char tag[16];
  int has_tag;
  pb_db *db; /* NULL after a lost connection, until reopened */
};

int pb_fleet_open(const char *spec, const char *node_tag, pb_fleet **out) {
  *out = NULL;
  if (!spec || (node_tag && strlen(node_tag) >= sizeof(((pb_fleet *)0)->tag))) return PB_EINVAL;
  pb_fleet *f = calloc(1, sizeof(*f));
  if (!f) return PB_ENOMEM;
  f->spec = strdup(spec);
  if (!f->spec) {
    free(f);
    return PB_ENOMEM;
  }
  if (node_tag) {
    pb_strlcpy(f->tag, node_tag, sizeof(f->tag));
    f->has_tag = 1;
  }
  int rc = pb_db_open(spec, &f->db);
  if (rc) {
    free(f->spec);
    free(f);
    return rc;
  }
  pthread_mutex_init(&f->mu, NULL);
  *out = f;
  return 0;
}

void pb_fleet_close(pb_fleet *f) {
  if (!f) return;
  pb_db_close(f->db);
  pthread_mutex_destroy(&f->mu);
  free(f->spec);
  free(f);
}

/* The node's tag: the one given at open, else the process's (pb_node_tag,
 * set when the node registered, maybe after the fleet opened). */
static const char *tag_of(const pb_fleet *f) {
  if (f->has_tag) return f->tag;
  const char *t = pb_node_tag();
  return t && *t ? t : NULL;
}

/* The connection, under f->mu; reopened after the server was lost. */
static pb_db *conn(pb_fleet *f) {
  if (!f->db && pb_db_open(f->spec, &f->db)) f->db = NULL;
  return f->db;
}

/* After a failed call: a lost connection is dropped, to be reopened by the
 * next call (a transaction it held ended with it). */
static void after_failure(pb_fleet *f) {
  if (f->db && pb_db_errkind(f->db) == PB_DB_ERR_CONN) {
    pb_db_close(f->db);
    f->db = NULL;
  }
}

static pb_code unavailable(pb_admit_verdict *v, const char *what) {
  memset(v, 0, sizeof(*v));
  v->code = PB_CODE_SERVICE_UNAVAILABLE;
  v->retry_after_s = 1;
  v->metric = "store";
  snprintf(v->message, sizeof(v->message),
           "the account's limits could not be checked in the shared store (%s); retry", what);
  return v->code;
}

/* The quota check: 1 refused (v filled), 0 not, < 0 the store failed. */
static int quota_locked(pb_fleet *f, pb_db *db, int64_t account_id, const pb_limits *l,
                        pb_admit_verdict *v) {
  if (l->browser_ms_per_day <= 0) return 0;
  int64_t wall = pb_wall_ms(), used = 0;
  int rc = pb_fleet_used_today(db, account_id, pb_admit_day_start(wall), &used);
  if (rc) {
    after_failure(f);
    return rc;
  }
  if (used < l->browser_ms_per_day) return 0;
  pb_admit_refuse(v, PB_ADMIT_REFUSE_QUOTA, l, 0, wall);
  return 1;
}

pb_code pb_fleet_admit_action(pb_fleet *f, int64_t account_id, const pb_limits *l, int counted,
                              int check_quota, int64_t *slot_id, pb_admit_verdict *v) {
  memset(v, 0, sizeof(*v));
  *slot_id = 0;
  pthread_mutex_lock(&f->mu);
  pb_db *db = conn(f);
  if (!db) {
    pthread_mutex_unlock(&f->mu);
    return unavailable(v, "no connection");
  }
  int q = check_quota ? quota_locked(f, db, account_id, l, v) : 0;
  if (q) {
    pthread_mutex_unlock(&f->mu);
    return q > 0 ? v->code : unavailable(v, "quota");
  }
  int64_t now = pb_wall_ms(), wait = 0, id = 0;
  int rc = pb_db_begin(db);
  if (!rc && counted)
    rc = slot_locked(db, account_id, "action", l->concurrent_quick_actions, tag_of(f), now, &id);
  if (!rc) {
    int64_t rate = (int64_t)l->quick_actions_per_second * MS_PER_MIN;
    int64_t burst = l->quick_actions_per_second;
    rc = take_args_ok("actions", rate, burst, now)
             ? take_locked(db, account_id, "actions", rate, burst, now, &wait)
             : PB_EINVAL;
    if (rc == 1)
      rc = pb_db_commit(db);
    else if (rc == 0)
      rc = RATE_REFUSED;
  }
  if (rc) {
    pb_db_rollback(db); /* a refusal holds nothing */
    if (rc == PB_EBUSY)
      pb_admit_refuse(v, PB_ADMIT_REFUSE_CONCURRENCY, l, 0, 0);
    else if (rc == RATE_REFUSED)
      pb_admit_refuse(v, PB_ADMIT_REFUSE_ACTION_RATE, l, wait, 0);
    else {
      PB_ERR("fleet: quick-action check: %s", pb_db_errmsg(db));
      after_failure(f);
      unavailable(v, "actions");
    }
    pthread_mutex_unlock(&f->mu);
    return v->code;
  }
  pthread_mutex_unlock(&f->mu);
  *slot_id = id;
  v->counted = id != 0;
  return PB_CODE_NONE;
}

void pb_fleet_action_done(pb_fleet *f, int64_t slot_id) {
  if (!f || slot_id <= 0) return;
  pthread_mutex_lock(&f->mu);
  pb_db *db = conn(f);
  int rc = db ? pb_fleet_slot_release(db, slot_id) : PB_ESTORE;
  if (rc) {
    PB_ERR("fleet: slot %lld not freed: %s", (long long)slot_id,
           db ? pb_db_errmsg(db) : "no connection");
    if (db) after_failure(f);
  }
  pthread_mutex_unlock(&f->mu);
}

pb_code pb_fleet_admit_acquire(pb_fleet *f, int64_t account_id, const pb_limits *l,
                               pb_admit_verdict *v) {
  memset(v, 0, sizeof(*v));
  pthread_mutex_lock(&f->mu);
  pb_db *db = conn(f);
  if (!db) {
    pthread_mutex_unlock(&f->mu);
    return unavailable(v, "no connection");
  }
  int q = quota_locked(f, db, account_id, l, v);
  if (q) {
    pthread_mutex_unlock(&f->mu);
    return q > 0 ? v->code : unavailable(v, "quota");
  }
  int64_t n = 0, wait = 0;
  int rc = pb_fleet_session_count(db, account_id, &n);
  if (!rc && n >= l->max_concurrent_sessions) {
    pthread_mutex_unlock(&f->mu);
    return pb_admit_refuse(v, PB_ADMIT_REFUSE_SESSIONS, l, 0, 0);
  }
  if (!rc)
    rc = pb_fleet_take(db, account_id, "acquisitions", (int64_t)l->acquisitions_per_minute * MILLI,
                       l->acquisitions_per_minute, pb_wall_ms(), &wait);
  if (rc == 0) {
    pthread_mutex_unlock(&f->mu);
    return pb_admit_refuse(v, PB_ADMIT_REFUSE_ACQUIRE_RATE, l, wait, 0);
  }
  if (rc < 0) {
    PB_ERR("fleet: acquisition check: %s", pb_db_errmsg(db));
    after_failure(f);
    unavailable(v, "acquisitions");
  }
  pthread_mutex_unlock(&f->mu);
  return v->code;
}

int pb_fleet_open_session(pb_fleet *f, const char *session_id, int64_t account_id, int64_t start_ms,
                          int max) {
  pthread_mutex_lock(&f->mu);
  pb_db *db = conn(f);
  int rc =
      db ? pb_fleet_session_open(db, session_id, account_id, start_ms, tag_of(f), max) : PB_ESTORE;
  if (rc && rc != PB_EBUSY && db) {
    PB_ERR("fleet: session %s not opened: %s", session_id, pb_db_errmsg(db));
    after_failure(f);
  }
  pthread_mutex_unlock(&f->mu);
  return rc;
}

void pb_fleet_free_node(pb_fleet *f, const char *tag) {
  if (!f) return;
  if (!tag) tag = tag_of(f);
  if (!tag) return;
  pthread_mutex_lock(&f->mu);
  pb_db *db = conn(f);
  if (db && pb_fleet_node_lost(db, tag, NULL)) after_failure(f);
  pthread_mutex_unlock(&f->mu);
}

void pb_fleet_node_lost_hook(void *fleet, const char *tag) {
  if (tag) pb_fleet_free_node(fleet, tag);
}
