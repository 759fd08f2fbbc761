/* The cluster's nodes: see nodes.h.
 *
 * Why it is built this way:
 * - A tag names an incarnation, not a machine: a node that restarts gets a
 *   new tag, so an id minted before the restart can never be mistaken for
 *   one of the new run's (its old sessions died with the old process).
 * - "Lost" is decided by the database, not by a vote: the transition is one
 *   UPDATE ... WHERE state IN ('up','draining') AND heartbeat_ms < cutoff
 *   inside a write transaction (BEGIN IMMEDIATE on SQLite, the fleet-wide
 *   advisory lock on PostgreSQL). Whichever sweeper changes the row runs
 *   the cleanup; the others change nothing. So the cleanup runs once.
 * - The heartbeat refuses to move a row that is no longer up/draining: a
 *   node that stalled past the timeout finds its row lost and stops; it
 *   never brings its sessions back (their history and ledger rows were
 *   closed by the node that declared it lost).
 * - The I/O thread only reads the snapshot (mutex, no I/O). */
#include "core/nodes.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/db.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  char tag[PB_NODES_TAG_LEN + 1];
  char state[12];
  char url[256];
  int64_t capacity;
  int64_t sessions;
  int64_t heartbeat_ms;
} node_row;

struct pb_nodes {
  pb_nodes_config cfg;
  char *name;
  char *url;
  char *key;
  size_t key_len;
  char tag[PB_NODES_TAG_LEN + 1];

  pthread_mutex_t db_mu; /* the connection: heartbeat thread and readers */
  pb_db *db;

  pthread_mutex_t mu; /* the snapshot and the flags below */
  node_row *rows;
  int n_rows;
  int self_sessions;
  int draining;
  int self_lost;
  volatile sig_atomic_t drain_asked; /* pb_nodes_request_drain */
  int drain_written;

  pthread_mutex_t stop_mu;
  pthread_cond_t stop_cv;
  int stop;
  int running;
  int stopped; /* the row was written left */
  pthread_t thread;
  int64_t last_prune_ms;
};

static int valid_tag(const char *t) {
  for (int i = 0; i < PB_NODES_TAG_LEN; i++) {
    char c = t[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
  }
  return 1;
}

/* ---- SQL helpers (db_mu held) ---- */

/* A parameter: text when s is set, else the integer. PostgreSQL must see
 * every parameter it is given, so the SQL numbers exactly these. */
typedef struct {
  const char *s;
  int64_t i;
} prm;

static int exec_n(pb_db *db, const char *sql, const prm *p, int n, int64_t *changes) {
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(db, sql, &st);
  if (rc) return rc;
  for (int k = 0; k < n; k++) {
    if (p[k].s)
      pb_db_bind_text(st, k + 1, p[k].s, -1);
    else
      pb_db_bind_int64(st, k + 1, p[k].i);
  }
  rc = pb_db_step(st);
  pb_db_finalize(st);
  if (rc < 0) return rc;
  if (changes) *changes = pb_db_changes(db);
  return 0;
}

/* Marks tag lost when it is still up/draining with a heartbeat older than
 * cutoff: *claimed 1 when this call made the transition. */
static int claim_lost(pb_nodes *n, const char *tag, int64_t cutoff, int64_t now, int64_t *hb_out,
                      int *claimed) {
  *claimed = 0;
  int rc = pb_db_begin(n->db);
  if (rc) return rc;
  pb_db_stmt *st = NULL;
  rc = pb_db_prepare(n->db,
                     "SELECT heartbeat_ms FROM nodes WHERE tag = ?1 AND state IN "
                     "('up','draining') AND heartbeat_ms < ?2",
                     &st);
  if (!rc) {
    pb_db_bind_text(st, 1, tag, -1);
    pb_db_bind_int64(st, 2, cutoff);
    int s = pb_db_step(st);
    if (s == PB_DB_ROW) {
      *hb_out = pb_db_column_int64(st, 0);
      *claimed = 1;
    } else if (s < 0) {
      rc = s;
    }
    pb_db_finalize(st);
  }
  if (!rc && *claimed) {
    int64_t ch = 0;
    prm p[] = {{tag, 0}, {NULL, now}, {NULL, cutoff}};
    rc = exec_n(n->db,
                "UPDATE nodes SET state = 'lost', ended_ms = ?2 WHERE tag = ?1 AND "
                "state IN ('up','draining') AND heartbeat_ms < ?3",
                p, 3, &ch);
    if (!rc && ch != 1) *claimed = 0;
  }
  if (rc) {
    *claimed = 0;
    pb_db_rollback(n->db);
    return rc;
  }
  rc = pb_db_commit(n->db);
  if (rc) *claimed = 0;
  return rc;
}

static void node_lost(pb_nodes *n, const char *tag, int64_t hb, int64_t now) {
  PB_WARN("nodes: node %s declared lost (last heartbeat %lld ms ago)", tag, (long long)(now - hb));
  if (n->cfg.on_node_lost) n->cfg.on_node_lost(n->cfg.data, tag, hb, now);
}

/* Earlier incarnations of this node's name still up/draining: this node
 * restarted, so they are lost now, whatever their heartbeat says. */
static int lose_earlier(pb_nodes *n, int64_t now) {
  char tags[64][PB_NODES_TAG_LEN + 1];
  int k = 0;
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(
      n->db, "SELECT tag FROM nodes WHERE name = ?1 AND state IN ('up','draining')", &st);
  if (rc) return rc;
  pb_db_bind_text(st, 1, n->name, -1);
  int s;
  while ((s = pb_db_step(st)) == PB_DB_ROW && k < 64) {
    const char *t = pb_db_column_text(st, 0);
    if (t && strlen(t) == PB_NODES_TAG_LEN) pb_strlcpy(tags[k++], t, sizeof(tags[0]));
  }
  pb_db_finalize(st);
  if (s < 0) return s;
  for (int i = 0; i < k; i++) {
    int64_t hb = 0;
    int claimed = 0;
    /* cutoff now + 1: any heartbeat counts as stale */
    rc = claim_lost(n, tags[i], now + 1, now, &hb, &claimed);
    if (rc) return rc;
    if (claimed) node_lost(n, tags[i], hb, now);
  }
  return 0;
}

static void prune(pb_nodes *n, int64_t now) {
  prm p[] = {{NULL, now - PB_NODES_KEEP_MS}};
  exec_n(n->db,
         "DELETE FROM nodes WHERE state IN ('left','lost') AND COALESCE(ended_ms, heartbeat_ms) "
         "< ?1",
         p, 1, NULL);
  n->last_prune_ms = now;
}

static int register_row(pb_nodes *n, int64_t now) {
  for (int attempt = 0; attempt < 32; attempt++) {
    char tag[8];
    int rc = pb_random_hex(tag, 2);
    if (rc) return rc;
    pb_db_stmt *st = NULL;
    rc = pb_db_prepare(n->db,
                       "INSERT INTO nodes (tag, name, url, capacity, sessions, state, "
                       "started_ms, heartbeat_ms) VALUES (?1, ?2, ?3, ?4, 0, 'up', ?5, ?5)",
                       &st);
    if (rc) return rc;
    pb_db_bind_text(st, 1, tag, -1);
    pb_db_bind_text(st, 2, n->name, -1);
    pb_db_bind_text(st, 3, n->url, -1);
    pb_db_bind_int64(st, 4, n->cfg.capacity);
    pb_db_bind_int64(st, 5, now);
    rc = pb_db_step(st);
    pb_db_finalize(st);
    if (rc == PB_EEXIST) continue; /* a tag in use (or kept for 7 days) */
    if (rc < 0) return rc;
    memcpy(n->tag, tag, PB_NODES_TAG_LEN + 1);
    return 0;
  }
  PB_ERR("nodes: no free tag after 32 attempts");
  return PB_EBUSY;
}

/* Reads every row not left into a new snapshot. */
static int read_rows(pb_nodes *n, node_row **out, int *n_out) {
  *out = NULL;
  *n_out = 0;
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(n->db,
                         "SELECT tag, state, url, capacity, sessions, heartbeat_ms FROM nodes "
                         "WHERE state <> 'left' ORDER BY started_ms DESC",
                         &st);
  if (rc) return rc;
  node_row *rows = calloc(PB_NODES_MAX, sizeof(*rows));
  if (!rows) {
    pb_db_finalize(st);
    return PB_ENOMEM;
  }
  int k = 0, s;
  while ((s = pb_db_step(st)) == PB_DB_ROW && k < PB_NODES_MAX) {
    const char *t = pb_db_column_text(st, 0);
    const char *state = pb_db_column_text(st, 1);
    const char *url = pb_db_column_text(st, 2);
    if (!t || strlen(t) != PB_NODES_TAG_LEN || !state || !url) continue;
    node_row *r = &rows[k++];
    pb_strlcpy(r->tag, t, sizeof(r->tag));
    pb_strlcpy(r->state, state, sizeof(r->state));
    pb_strlcpy(r->url, url, sizeof(r->url));
    r->capacity = pb_db_column_int64(st, 3);
    r->sessions = pb_db_column_int64(st, 4);
    r->heartbeat_ms = pb_db_column_int64(st, 5);
  }
  pb_db_finalize(st);
  if (s < 0) {
    free(rows);
    return s;
  }
  *out = rows;
  *n_out = k;
  return 0;
}

/* ---- open / close ---- */

int pb_nodes_open(const char *db_spec, const pb_nodes_config *cfg, pb_nodes **out) {
  *out = NULL;
  if (!db_spec || !cfg || !cfg->name || !cfg->name[0] || strlen(cfg->name) > 255 || !cfg->url ||
      !cfg->url[0] || strlen(cfg->url) >= 256 || cfg->capacity < 1 || !cfg->key ||
      cfg->key_len < PB_NODES_KEY_MIN || cfg->key_len > PB_NODES_KEY_MAX || cfg->timeout_ms < 0)
    return PB_EINVAL;
  pb_nodes *n = calloc(1, sizeof(*n));
  if (!n) return PB_ENOMEM;
  n->cfg = *cfg;
  if (!n->cfg.timeout_ms) n->cfg.timeout_ms = PB_NODES_TIMEOUT_DEFAULT_MS;
  if (!n->cfg.heartbeat_ms) n->cfg.heartbeat_ms = PB_NODES_HEARTBEAT_MS;
  n->name = strdup(cfg->name);
  n->url = strdup(cfg->url);
  n->key = malloc(cfg->key_len + 1);
  pthread_mutex_init(&n->db_mu, NULL);
  pthread_mutex_init(&n->mu, NULL);
  pthread_mutex_init(&n->stop_mu, NULL);
  pthread_cond_init(&n->stop_cv, NULL);
  if (!n->name || !n->url || !n->key) {
    pb_nodes_free(n);
    return PB_ENOMEM;
  }
  memcpy(n->key, cfg->key, cfg->key_len);
  n->key[cfg->key_len] = '\0';
  n->key_len = cfg->key_len;
  n->cfg.name = n->name;
  n->cfg.url = n->url;
  n->cfg.key = n->key;
  int rc = pb_db_open(db_spec, &n->db);
  int64_t now = pb_wall_ms();
  if (!rc) rc = lose_earlier(n, now);
  if (!rc) {
    prune(n, now);
    rc = register_row(n, now);
  }
  if (!rc) {
    node_row *rows;
    int k;
    if (!read_rows(n, &rows, &k)) {
      n->rows = rows;
      n->n_rows = k;
    }
  }
  if (rc) {
    pb_nodes_free(n);
    return rc;
  }
  PB_INFO("nodes: registered %s as %s (%s, capacity %d)", n->name, n->tag, n->url, n->cfg.capacity);
  *out = n;
  return 0;
}

static int set_state(pb_nodes *n, const char *state, int ended);

/* One beat: our row, the snapshot, the sweep. */
static void beat(pb_nodes *n) {
  if (n->drain_asked && !n->drain_written) {
    n->drain_written = 1;
    pb_nodes_drain(n);
  }
  int64_t now = pb_wall_ms();
  int live = n->cfg.live_sessions ? n->cfg.live_sessions(n->cfg.data) : 0;
  pthread_mutex_lock(&n->db_mu);
  int64_t ch = 0;
  prm p[] = {{n->tag, 0}, {NULL, now}, {NULL, live}};
  int rc = exec_n(n->db,
                  "UPDATE nodes SET heartbeat_ms = ?2, sessions = ?3 WHERE tag = ?1 AND state "
                  "IN ('up','draining')",
                  p, 3, &ch);
  int lost_self = 0;
  if (!rc && ch == 0) {
    /* Not up any more: lost (or pruned, which only follows lost/left). */
    lost_self = 1;
  }
  node_row *rows = NULL;
  int k = 0;
  if (!rc && !lost_self && read_rows(n, &rows, &k) == 0) {
    int64_t cutoff = now - n->cfg.timeout_ms;
    for (int i = 0; i < k; i++) {
      node_row *r = &rows[i];
      if (!strcmp(r->tag, n->tag) || r->heartbeat_ms >= cutoff) continue;
      if (strcmp(r->state, "up") && strcmp(r->state, "draining")) continue;
      int64_t hb = r->heartbeat_ms;
      int claimed = 0;
      if (claim_lost(n, r->tag, cutoff, now, &hb, &claimed) == 0) {
        pb_strlcpy(r->state, "lost", sizeof(r->state));
        if (claimed) node_lost(n, r->tag, hb, now);
      }
    }
    if (now - n->last_prune_ms > 3600 * 1000) prune(n, now);
  }
  pthread_mutex_unlock(&n->db_mu);
  if (rc) PB_WARN("nodes: heartbeat of %s failed (%s)", n->tag, pb_strerror(rc));
  pthread_mutex_lock(&n->mu);
  n->self_sessions = live;
  if (rows) {
    free(n->rows);
    n->rows = rows;
    n->n_rows = k;
  }
  int first_lost = lost_self && !n->self_lost;
  if (lost_self) n->self_lost = 1;
  pthread_mutex_unlock(&n->mu);
  if (first_lost) {
    PB_ERR("nodes: this node (%s) was declared lost by the cluster; its sessions end", n->tag);
    if (n->cfg.on_self_lost) n->cfg.on_self_lost(n->cfg.data);
  }
}

static void *heartbeat_main(void *arg) {
  pb_nodes *n = arg;
  pthread_mutex_lock(&n->stop_mu);
  while (!n->stop) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (int64_t)n->cfg.heartbeat_ms * 1000000;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    while (!n->stop && pthread_cond_timedwait(&n->stop_cv, &n->stop_mu, &ts) != ETIMEDOUT) {
    }
    if (n->stop) break;
    pthread_mutex_unlock(&n->stop_mu);
    int lost;
    pthread_mutex_lock(&n->mu);
    lost = n->self_lost;
    pthread_mutex_unlock(&n->mu);
    if (!lost) beat(n);
    pthread_mutex_lock(&n->stop_mu);
  }
  pthread_mutex_unlock(&n->stop_mu);
  return NULL;
}

int pb_nodes_start(pb_nodes *n) {
  if (!n || n->running) return PB_EINVAL;
  if (pthread_create(&n->thread, NULL, heartbeat_main, n)) return PB_EIO;
  n->running = 1;
  return 0;
}

static int set_state(pb_nodes *n, const char *state, int ended) {
  int64_t now = pb_wall_ms(), ch = 0;
  pthread_mutex_lock(&n->db_mu);
  prm p[] = {{n->tag, 0}, {state, 0}, {NULL, now}};
  int rc = exec_n(n->db,
                  ended ? "UPDATE nodes SET state = ?2, ended_ms = ?3, sessions = 0 WHERE tag = "
                          "?1 AND state IN ('up','draining')"
                        : "UPDATE nodes SET state = ?2, heartbeat_ms = ?3 WHERE tag = ?1 AND "
                          "state IN ('up','draining')",
                  p, 3, &ch);
  pthread_mutex_unlock(&n->db_mu);
  if (rc) return rc;
  return ch == 1 ? 0 : PB_ENOTFOUND;
}

int pb_nodes_drain(pb_nodes *n) {
  if (!n) return 0;
  pthread_mutex_lock(&n->mu);
  n->draining = 1;
  pthread_mutex_unlock(&n->mu);
  int rc = set_state(n, "draining", 0);
  if (!rc) PB_INFO("nodes: %s draining", n->tag);
  return rc;
}

void pb_nodes_request_drain(pb_nodes *n) {
  if (n) n->drain_asked = 1;
}

void pb_nodes_stop(pb_nodes *n) {
  if (!n) return;
  if (n->running) {
    pthread_mutex_lock(&n->stop_mu);
    n->stop = 1;
    pthread_cond_broadcast(&n->stop_cv);
    pthread_mutex_unlock(&n->stop_mu);
    pthread_join(n->thread, NULL);
    n->running = 0;
  }
  if (n->db && n->tag[0] && !n->stopped) {
    n->stopped = 1;
    if (set_state(n, "left", 1) == 0) PB_INFO("nodes: %s left the cluster", n->tag);
  }
}

void pb_nodes_free(pb_nodes *n) {
  if (!n) return;
  pb_nodes_stop(n);
  pb_db_close(n->db);
  free(n->rows);
  if (n->key) explicit_bzero(n->key, n->key_len);
  free(n->key);
  free(n->name);
  free(n->url);
  pthread_mutex_destroy(&n->db_mu);
  pthread_mutex_destroy(&n->mu);
  pthread_mutex_destroy(&n->stop_mu);
  pthread_cond_destroy(&n->stop_cv);
  free(n);
}

/* ---- the snapshot (any thread, no I/O) ---- */

int pb_nodes_clustered(const pb_nodes *n) {
  return n != NULL;
}

const char *pb_nodes_self_tag(const pb_nodes *n) {
  return n ? n->tag : "";
}

const char *pb_nodes_key(const pb_nodes *n) {
  return n ? n->key : NULL;
}

int pb_nodes_self_lost(const pb_nodes *n) {
  if (!n) return 0;
  pthread_mutex_lock((pthread_mutex_t *)&n->mu);
  int v = n->self_lost;
  pthread_mutex_unlock((pthread_mutex_t *)&n->mu);
  return v;
}

int pb_nodes_key_ok(const pb_nodes *n, const char *presented) {
  if (!n || !presented) return 0;
  size_t plen = strnlen(presented, PB_NODES_KEY_MAX + 1);
  /* Every byte of the key is looked at whatever was presented. */
  volatile unsigned char diff = (unsigned char)(plen != n->key_len);
  for (size_t i = 0; i < n->key_len; i++) {
    unsigned char p = i < plen ? (unsigned char)presented[i] : 0;
    diff |= (unsigned char)(p ^ (unsigned char)n->key[i]);
  }
  return diff == 0;
}

int pb_nodes_route_id(pb_nodes *n, const char *id, pb_node_route *out) {
  memset(out, 0, sizeof(*out));
  out->kind = PB_ROUTE_LOCAL;
  if (!n) return 0;
  if (!id || strnlen(id, PB_NODES_TAG_LEN) < PB_NODES_TAG_LEN || !valid_tag(id)) {
    out->kind = PB_ROUTE_UNKNOWN;
    return 0;
  }
  memcpy(out->tag, id, PB_NODES_TAG_LEN);
  if (!memcmp(id, n->tag, PB_NODES_TAG_LEN)) return 0;
  out->kind = PB_ROUTE_UNKNOWN;
  pthread_mutex_lock(&n->mu);
  for (int i = 0; i < n->n_rows; i++) {
    const node_row *r = &n->rows[i];
    if (memcmp(r->tag, id, PB_NODES_TAG_LEN)) continue;
    if (!strcmp(r->state, "lost")) {
      out->kind = PB_ROUTE_LOST;
    } else if (!strcmp(r->state, "up") || !strcmp(r->state, "draining")) {
      out->kind = PB_ROUTE_REMOTE;
      pb_strlcpy(out->url, r->url, sizeof(out->url));
    }
    break;
  }
  pthread_mutex_unlock(&n->mu);
  return 0;
}

int pb_nodes_place(pb_nodes *n, pb_node_route *out) {
  memset(out, 0, sizeof(*out));
  out->kind = PB_ROUTE_LOCAL;
  if (!n) return 0;
  memcpy(out->tag, n->tag, PB_NODES_TAG_LEN + 1);
  int64_t now = pb_wall_ms();
  pthread_mutex_lock(&n->mu);
  int64_t cutoff = now - n->cfg.timeout_ms;
  /* This node first: it wins ties. A draining node takes no one. */
  int64_t best =
      n->draining || n->self_lost ? INT64_MIN : (int64_t)n->cfg.capacity - n->self_sessions;
  const node_row *pick = NULL;
  for (int i = 0; i < n->n_rows; i++) {
    const node_row *r = &n->rows[i];
    if (!memcmp(r->tag, n->tag, PB_NODES_TAG_LEN) || strcmp(r->state, "up") ||
        r->heartbeat_ms < cutoff)
      continue;
    int64_t free_ = r->capacity - r->sessions;
    if (free_ > best && free_ > 0) {
      best = free_;
      pick = r;
    }
  }
  if (pick) {
    out->kind = PB_ROUTE_REMOTE;
    pb_strlcpy(out->url, pick->url, sizeof(out->url));
    memcpy(out->tag, pick->tag, PB_NODES_TAG_LEN + 1);
  }
  pthread_mutex_unlock(&n->mu);
  return 0;
}

/* ---- history reads ---- */

int pb_nodes_session_owner(pb_nodes *n, const char *session_id, int64_t *account_id, int *open) {
  if (!n || !session_id) return PB_EINVAL;
  pthread_mutex_lock(&n->db_mu);
  pb_db_stmt *st = NULL;
  int rc =
      pb_db_prepare(n->db, "SELECT account_id, end_ms IS NULL FROM sessions WHERE id = ?1", &st);
  if (!rc) {
    pb_db_bind_text(st, 1, session_id, -1);
    int s = pb_db_step(st);
    if (s == PB_DB_ROW) {
      *account_id = pb_db_column_int64(st, 0);
      if (open) *open = (int)pb_db_column_int64(st, 1);
    } else {
      rc = s < 0 ? s : PB_ENOTFOUND;
    }
    pb_db_finalize(st);
  }
  pthread_mutex_unlock(&n->db_mu);
  return rc;
}

int pb_nodes_open_sessions(pb_nodes *n, int64_t account_id, int max, pb_nodes_session **out,
                           int *n_out) {
  *out = NULL;
  *n_out = 0;
  if (!n || max <= 0) return PB_EINVAL;
  pb_nodes_session *v = calloc((size_t)max, sizeof(*v));
  if (!v) return PB_ENOMEM;
  pthread_mutex_lock(&n->db_mu);
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(n->db,
                         "SELECT id, COALESCE(node, ''), start_ms FROM sessions WHERE account_id "
                         "= ?1 AND end_ms IS NULL ORDER BY start_ms LIMIT ?2",
                         &st);
  int k = 0;
  if (!rc) {
    pb_db_bind_int64(st, 1, account_id);
    pb_db_bind_int64(st, 2, max);
    int s;
    while ((s = pb_db_step(st)) == PB_DB_ROW && k < max) {
      const char *id = pb_db_column_text(st, 0);
      const char *node = pb_db_column_text(st, 1);
      if (!id || strlen(id) >= sizeof(v[k].id)) continue;
      pb_strlcpy(v[k].id, id, sizeof(v[k].id));
      pb_strlcpy(v[k].node, node ? node : "", sizeof(v[k].node));
      v[k].start_ms = pb_db_column_int64(st, 2);
      k++;
    }
    if (s < 0) rc = s;
    pb_db_finalize(st);
  }
  pthread_mutex_unlock(&n->db_mu);
  if (rc) {
    free(v);
    return rc;
  }
  *out = v;
  *n_out = k;
  return 0;
}
