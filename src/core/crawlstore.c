#include "core/crawlstore.h"

#include "common/crawlurl.h"
#include "common/pb.h"
#include "core/db.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pb_crawl_store {
  pb_db *db;
  pthread_mutex_t mu;
};

static int fail(pb_crawl_store *s, int rc, const char *what) {
  PB_ERR("crawl store: %s: %s (%d)", what, pb_db_errmsg(s->db), rc);
  return rc == PB_ENOSPACE ? PB_ENOSPACE : PB_ESTORE;
}

static int exec(pb_crawl_store *s, const char *sql) {
  return pb_db_exec(s->db, sql);
}

static int prep(pb_crawl_store *s, const char *sql, pb_db_stmt **st) {
  return pb_db_prepare(s->db, sql, st);
}

static void text(pb_db_stmt *st, int col, char *out, size_t cap) {
  const char *t = pb_db_column_text(st, col);
  pb_strlcpy(out, t ? t : "", cap);
}

static char *text_dup(pb_db_stmt *st, int col) {
  const char *t = pb_db_column_text(st, col);
  return t ? strdup(t) : NULL;
}

/* Binds s as text, or NULL when s is NULL. */
static void bind_text_or_null(pb_db_stmt *st, int i, const char *s) {
  if (s)
    pb_db_bind_text(st, i, s, -1);
  else
    pb_db_bind_null(st, i);
}

int pb_crawl_store_open_spec(const char *spec, const char *data_dir, pb_crawl_store **out) {
  *out = NULL;
  char path[PATH_MAX];
  if (!spec || !*spec) {
    int n = snprintf(path, sizeof(path), "%s/ppod.db", data_dir);
    if (n < 0 || (size_t)n >= sizeof(path)) return PB_ETOOBIG;
    spec = path;
  }
  pb_crawl_store *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  int rc = pb_db_open(spec, &s->db);
  /* A crawl's rows are not billing: on SQLite the last commits may be lost
   * at a power cut (a refetch, not a duplicate). */
  if (!rc && pb_db_kind_of(s->db) == PB_DB_SQLITE) rc = exec(s, "PRAGMA synchronous = NORMAL");
  if (rc) {
    PB_ERR("crawl store: cannot open the store");
    pb_crawl_store_close(s);
    return PB_ESTORE;
  }
  *out = s;
  return 0;
}

int pb_crawl_store_open(const char *data_dir, pb_crawl_store **out) {
  return pb_crawl_store_open_spec(NULL, data_dir, out);
}

void pb_crawl_store_close(pb_crawl_store *s) {
  if (!s) return;
  pb_db_close(s->db);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int pb_crawl_create(pb_crawl_store *s, const char *id, int64_t account_id, const char *request,
                    int64_t now_wall_ms) {
  pb_db_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "INSERT INTO crawls (id, account_id, created_ms, status, request)"
                " VALUES (?1, ?2, ?3, 'queued', ?4)",
                &st);
  if (!rc) {
    pb_db_bind_text(st, 1, id, -1);
    pb_db_bind_int64(st, 2, account_id);
    pb_db_bind_int64(st, 3, now_wall_ms);
    pb_db_bind_text(st, 4, request, -1);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE) rc = fail(s, r, "create crawl");
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Counts and sequence ends of a crawl (lock held). */
static int fill_counts(pb_crawl_store *s, pb_crawl_rec *r) {
  pb_db_stmt *st = NULL;
  memset(r->counts, 0, sizeof(r->counts));
  int rc = prep(s,
                "SELECT state, COUNT(*), MAX(seq), MAX(done_seq) FROM crawl_pages"
                " WHERE crawl_id = ?1 GROUP BY state",
                &st);
  if (rc) return rc;
  pb_db_bind_text(st, 1, r->id, -1);
  r->max_seq = r->max_done = 0;
  int x;
  while ((x = pb_db_step(st)) == PB_DB_ROW) {
    int64_t state = pb_db_column_int64(st, 0);
    if (state >= 0 && state < 6) r->counts[state] = pb_db_column_int64(st, 1);
    if (pb_db_column_int64(st, 2) > r->max_seq) r->max_seq = pb_db_column_int64(st, 2);
    if (pb_db_column_int64(st, 3) > r->max_done) r->max_done = pb_db_column_int64(st, 3);
  }
  if (x != PB_DB_DONE) rc = fail(s, x, "crawl counts");
  pb_db_finalize(st);
  return rc;
}

#define CRAWL_COLS "id, account_id, created_ms, ended_ms, status, error, bytes, browser_ms, request"

static void read_rec(pb_db_stmt *st, int with_request, pb_crawl_rec *r) {
  memset(r, 0, sizeof(*r));
  text(st, 0, r->id, sizeof(r->id));
  r->account_id = pb_db_column_int64(st, 1);
  r->created_ms = pb_db_column_int64(st, 2);
  r->ended_ms = pb_db_column_int64(st, 3);
  text(st, 4, r->status, sizeof(r->status));
  text(st, 5, r->error, sizeof(r->error));
  r->bytes = pb_db_column_int64(st, 6);
  r->browser_ms = pb_db_column_int64(st, 7);
  if (with_request) r->request = text_dup(st, 8);
}

int pb_crawl_get(pb_crawl_store *s, const char *id, int64_t account_id, int with_request,
                 pb_crawl_rec *out) {
  pb_db_stmt *st = NULL;
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT " CRAWL_COLS
                " FROM crawls WHERE id = ?1 AND (CAST(?2 AS BIGINT) < 0 OR account_id = ?2)",
                &st);
  if (!rc) {
    pb_db_bind_text(st, 1, id, -1);
    pb_db_bind_int64(st, 2, account_id);
    int r = pb_db_step(st);
    if (r == PB_DB_ROW) {
      read_rec(st, with_request, out);
      /* Done with this statement before the next (one result at a time). */
      pb_db_finalize(st);
      st = NULL;
      rc = fill_counts(s, out);
    } else {
      rc = r == PB_DB_DONE ? PB_ENOTFOUND : fail(s, r, "get crawl");
    }
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    free(out->request);
    out->request = NULL;
  }
  return rc;
}

/* "the id starts with ?N" (prefix "" matches all), on SQLite and PG. */
#define ID_PREFIX(col, n) \
  " substr(" col ", 1, length(CAST(?" #n " AS TEXT))) = CAST(?" #n " AS TEXT)"

int pb_crawl_list_active(pb_crawl_store *s, const char *prefix, pb_crawl_rec **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pb_db_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT " CRAWL_COLS " FROM crawls WHERE status IN ('queued', 'running') AND"
                ID_PREFIX("id", 1) " ORDER BY created_ms",
                &st);
  if (!rc) pb_db_bind_text(st, 1, prefix ? prefix : "", -1);
  pb_crawl_rec *v = NULL;
  size_t nv = 0;
  int x = PB_DB_DONE;
  while (!rc && (x = pb_db_step(st)) == PB_DB_ROW) {
    pb_crawl_rec *nvv = realloc(v, sizeof(*v) * (nv + 1));
    if (!nvv) {
      rc = PB_ENOMEM;
      break;
    }
    v = nvv;
    read_rec(st, 1, &v[nv]);
    nv++;
  }
  if (!rc && x != PB_DB_DONE) rc = fail(s, x, "active crawls");
  pb_db_finalize(st);
  for (size_t i = 0; !rc && i < nv; i++) rc = fill_counts(s, &v[i]);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    for (size_t i = 0; i < nv; i++) free(v[i].request);
    free(v);
    return rc;
  }
  *out = v;
  *n = nv;
  return 0;
}

int pb_crawl_account_usage(pb_crawl_store *s, int64_t account_id, int *active, int64_t *bytes) {
  pb_db_stmt *st = NULL;
  *active = 0;
  *bytes = 0;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT COALESCE(SUM(CASE WHEN status IN ('queued', 'running') THEN 1 ELSE 0"
                " END), 0), COALESCE(SUM(bytes), 0) FROM crawls WHERE account_id = ?1",
                &st);
  if (!rc) {
    pb_db_bind_int64(st, 1, account_id);
    int r = pb_db_step(st);
    if (r == PB_DB_ROW) {
      *active = (int)pb_db_column_int64(st, 0);
      *bytes = pb_db_column_int64(st, 1);
    } else {
      rc = fail(s, r, "crawl usage");
    }
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_set_status(pb_crawl_store *s, const char *id, const char *status, const char *error,
                        int64_t ended_ms) {
  pb_db_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "UPDATE crawls SET status = ?1, error = COALESCE(CAST(?2 AS TEXT), error),"
                " ended_ms = CASE WHEN CAST(?3 AS BIGINT) > 0 THEN CAST(?3 AS BIGINT)"
                " ELSE ended_ms END WHERE id = ?4 AND status IN ('queued', 'running')",
                &st);
  if (!rc) {
    pb_db_bind_text(st, 1, status, -1);
    bind_text_or_null(st, 2, error);
    pb_db_bind_int64(st, 3, ended_ms);
    pb_db_bind_text(st, 4, id, -1);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE) rc = fail(s, r, "crawl status");
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_requeue_running(pb_crawl_store *s, const char *prefix, int *n) {
  pb_db_stmt *st = NULL;
  *n = 0;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s, "UPDATE crawl_pages SET state = 0 WHERE state = 1 AND" ID_PREFIX("crawl_id", 1),
                &st);
  if (!rc) {
    pb_db_bind_text(st, 1, prefix ? prefix : "", -1);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE)
      rc = fail(s, r, "requeue");
    else
      *n = (int)pb_db_changes(s->db);
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Inserts urls (lock held, inside a transaction). */
static int insert_urls(pb_crawl_store *s, const char *id, const pb_crawl_url *urls, int n,
                       int *added) {
  if (added) *added = 0;
  if (n <= 0) return 0;
  pb_db_stmt *st = NULL;
  int rc = prep(s,
                "INSERT INTO crawl_pages (crawl_id, url, seq, host, depth, state,"
                " done_seq, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                " ON CONFLICT DO NOTHING",
                &st);
  for (int i = 0; !rc && i < n; i++) {
    const pb_crawl_url *u = &urls[i];
    pb_db_reset(st);
    pb_db_bind_text(st, 1, id, -1);
    pb_db_bind_text(st, 2, u->url, -1);
    pb_db_bind_int64(st, 3, u->seq);
    pb_db_bind_text(st, 4, u->origin, -1);
    pb_db_bind_int64(st, 5, u->depth);
    pb_db_bind_int64(st, 6, u->state);
    if (u->state == PB_CRAWL_SKIPPED)
      pb_db_bind_int64(st, 7, u->done_seq);
    else
      pb_db_bind_null(st, 7);
    bind_text_or_null(st, 8, u->error);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE)
      rc = fail(s, r, "add url");
    else if (added)
      *added += (int)pb_db_changes(s->db);
  }
  pb_db_finalize(st);
  return rc;
}

int pb_crawl_add_urls(pb_crawl_store *s, const char *id, const pb_crawl_url *urls, int n,
                      int *added) {
  pthread_mutex_lock(&s->mu);
  int rc = pb_db_begin(s->db);
  if (!rc) {
    rc = insert_urls(s, id, urls, n, added);
    rc = rc ? rc : pb_db_commit(s->db);
    if (rc) pb_db_rollback(s->db);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_claim(pb_crawl_store *s, const char *id, int (*busy)(void *data, const char *origin),
                   void *data, char *url, char *origin, int *depth) {
  pb_db_stmt *st = NULL, *up = NULL;
  pthread_mutex_lock(&s->mu);
  /* The candidates first, then one conditional update per pick: a row
   * another connection claimed meanwhile (state no longer 0) changes
   * nothing and the next candidate is tried. */
  typedef struct {
    char *url, *host;
    int depth;
  } cand;
  cand *c = NULL;
  size_t nc = 0;
  int rc = prep(s,
                "SELECT url, host, depth FROM crawl_pages WHERE crawl_id = ?1 AND state = 0"
                " ORDER BY seq LIMIT 256",
                &st);
  int found = 0, x = PB_DB_DONE;
  if (!rc) {
    pb_db_bind_text(st, 1, id, -1);
    while ((x = pb_db_step(st)) == PB_DB_ROW) {
      cand *nv = realloc(c, sizeof(*c) * (nc + 1));
      if (!nv) {
        rc = PB_ENOMEM;
        break;
      }
      c = nv;
      c[nc].url = text_dup(st, 0);
      c[nc].host = text_dup(st, 1);
      c[nc].depth = (int)pb_db_column_int64(st, 2);
      nc++;
      if (!c[nc - 1].url || !c[nc - 1].host) {
        rc = PB_ENOMEM;
        break;
      }
    }
    if (!rc && x != PB_DB_DONE) rc = fail(s, x, "claim");
  }
  pb_db_finalize(st);
  if (!rc && nc)
    rc = prep(s, "UPDATE crawl_pages SET state = 1 WHERE crawl_id = ?1 AND url = ?2 AND state = 0",
              &up);
  for (size_t i = 0; !rc && !found && i < nc; i++) {
    if (busy && busy(data, c[i].host)) continue;
    pb_db_reset(up);
    pb_db_bind_text(up, 1, id, -1);
    pb_db_bind_text(up, 2, c[i].url, -1);
    if ((x = pb_db_step(up)) != PB_DB_DONE) {
      rc = fail(s, x, "claim");
    } else if (pb_db_changes(s->db) == 1) {
      pb_strlcpy(url, c[i].url, PB_CRAWL_URL_MAX + 1);
      pb_strlcpy(origin, c[i].host, 300);
      *depth = c[i].depth;
      found = 1;
    }
  }
  pb_db_finalize(up);
  for (size_t i = 0; i < nc; i++) {
    free(c[i].url);
    free(c[i].host);
  }
  free(c);
  pthread_mutex_unlock(&s->mu);
  return rc ? rc : found ? 0 : nc ? PB_EBUSY : PB_ENOTFOUND;
}

int pb_crawl_each_url(pb_crawl_store *s, const char *id, void (*fn)(void *data, const char *url),
                      void *data) {
  pb_db_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s, "SELECT url FROM crawl_pages WHERE crawl_id = ?1", &st);
  if (!rc) {
    pb_db_bind_text(st, 1, id, -1);
    int x;
    while ((x = pb_db_step(st)) == PB_DB_ROW) {
      const char *u = pb_db_column_text(st, 0);
      fn(data, u ? u : "");
    }
    if (x != PB_DB_DONE) rc = fail(s, x, "urls");
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_finish(pb_crawl_store *s, const char *id, const char *url, int state, int64_t done_seq,
                    int http_status, const char *final_url, const char *title, const char *error,
                    const char *result, int64_t browser_ms, const pb_crawl_url *links, int nlinks,
                    int *added) {
  pb_db_stmt *st = NULL;
  int64_t bytes = (result ? (int64_t)strlen(result) : 0) + (int64_t)strlen(url) +
                  (title ? (int64_t)strlen(title) : 0) + 64;
  if (added) *added = 0;
  pthread_mutex_lock(&s->mu);
  int rc = pb_db_begin(s->db);
  if (rc) {
    pthread_mutex_unlock(&s->mu);
    return rc;
  }
  rc = prep(s,
            "UPDATE crawl_pages SET state = ?1, done_seq = ?2, http_status = ?3, final_url = ?4,"
            " title = ?5, error = ?6, result = ?7, bytes = ?8 WHERE crawl_id = ?9 AND url = ?10",
            &st);
  if (!rc) {
    int queued = state == PB_CRAWL_QUEUED;
    pb_db_bind_int64(st, 1, state);
    if (queued)
      pb_db_bind_null(st, 2);
    else
      pb_db_bind_int64(st, 2, done_seq);
    if (http_status > 0)
      pb_db_bind_int64(st, 3, http_status);
    else
      pb_db_bind_null(st, 3);
    bind_text_or_null(st, 4, final_url);
    bind_text_or_null(st, 5, title);
    bind_text_or_null(st, 6, error);
    bind_text_or_null(st, 7, result);
    pb_db_bind_int64(st, 8, queued ? 0 : bytes);
    pb_db_bind_text(st, 9, id, -1);
    pb_db_bind_text(st, 10, url, -1);
    int x = pb_db_step(st);
    if (x != PB_DB_DONE) rc = fail(s, x, "finish page");
    pb_db_finalize(st);
    st = NULL;
    if (queued) bytes = 0;
  }
  if (!rc) rc = insert_urls(s, id, links, nlinks, added);
  if (!rc)
    rc = prep(s,
              "UPDATE crawls SET bytes = bytes + ?1, browser_ms = browser_ms + ?2 WHERE id = ?3",
              &st);
  if (!rc) {
    pb_db_bind_int64(st, 1, bytes);
    pb_db_bind_int64(st, 2, browser_ms);
    pb_db_bind_text(st, 3, id, -1);
    int x = pb_db_step(st);
    if (x != PB_DB_DONE) rc = fail(s, x, "crawl totals");
    pb_db_finalize(st);
  }
  if (!rc) rc = pb_db_commit(s->db);
  if (rc) pb_db_rollback(s->db);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_results(pb_crawl_store *s, const char *id, int64_t after, int max,
                     pb_crawl_result **out, size_t *n) {
  *out = NULL;
  *n = 0;
  pb_db_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT url, final_url, title, error, result, state, depth,"
                " COALESCE(http_status, 0), done_seq FROM crawl_pages"
                " WHERE crawl_id = ?1 AND done_seq > ?2 AND state IN (2, 3, 4)"
                " ORDER BY done_seq LIMIT ?3",
                &st);
  pb_crawl_result *v = NULL;
  size_t nv = 0;
  if (!rc) {
    pb_db_bind_text(st, 1, id, -1);
    pb_db_bind_int64(st, 2, after);
    pb_db_bind_int64(st, 3, max);
    int x;
    while ((x = pb_db_step(st)) == PB_DB_ROW) {
      pb_crawl_result *nvv = realloc(v, sizeof(*v) * (nv + 1));
      if (!nvv) {
        rc = PB_ENOMEM;
        break;
      }
      v = nvv;
      pb_crawl_result *r = &v[nv++];
      r->url = text_dup(st, 0);
      r->final_url = text_dup(st, 1);
      r->title = text_dup(st, 2);
      r->error = text_dup(st, 3);
      r->result = text_dup(st, 4);
      r->state = (int)pb_db_column_int64(st, 5);
      r->depth = (int)pb_db_column_int64(st, 6);
      r->http_status = (int)pb_db_column_int64(st, 7);
      r->done_seq = pb_db_column_int64(st, 8);
    }
    if (!rc && x != PB_DB_DONE) rc = fail(s, x, "results");
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    pb_crawl_results_free(v, nv);
    return rc;
  }
  *out = v;
  *n = nv;
  return 0;
}

void pb_crawl_results_free(pb_crawl_result *r, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(r[i].url);
    free(r[i].final_url);
    free(r[i].title);
    free(r[i].error);
    free(r[i].result);
  }
  free(r);
}

int pb_crawl_sweep(pb_crawl_store *s, int64_t cutoff_wall_ms, int *n) {
  pb_db_stmt *st = NULL;
  *n = 0;
  pthread_mutex_lock(&s->mu);
  int rc = pb_db_begin(s->db);
  if (!rc)
    rc = prep(s,
              "DELETE FROM crawl_pages WHERE crawl_id IN (SELECT id FROM crawls"
              " WHERE ended_ms IS NOT NULL AND ended_ms < ?1)",
              &st);
  if (!rc) {
    pb_db_bind_int64(st, 1, cutoff_wall_ms);
    int x = pb_db_step(st);
    if (x != PB_DB_DONE) rc = fail(s, x, "sweep pages");
    pb_db_finalize(st);
    st = NULL;
  }
  if (!rc) rc = prep(s, "DELETE FROM crawls WHERE ended_ms IS NOT NULL AND ended_ms < ?1", &st);
  if (!rc) {
    pb_db_bind_int64(st, 1, cutoff_wall_ms);
    int x = pb_db_step(st);
    if (x != PB_DB_DONE)
      rc = fail(s, x, "sweep crawls");
    else
      *n = (int)pb_db_changes(s->db);
    pb_db_finalize(st);
  }
  if (!rc) rc = pb_db_commit(s->db);
  if (rc) pb_db_rollback(s->db);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Ends (failed, error, ended now) the queued or running crawls matching
 * where (whose ?2 is arg), and marks their RUNNING pages FAILED with the
 * same error (done_seq left 0: never finished, no result number used).
 * One transaction. */
static int end_crawls(pb_crawl_store *s, const char *where, const char *arg, const char *error,
                      int64_t now_ms, int *n) {
  char sql[1024];
  *n = 0;
  pthread_mutex_lock(&s->mu);
  int rc = pb_db_begin(s->db);
  if (rc) rc = fail(s, rc, "begin");
  pb_db_stmt *st = NULL;
  snprintf(sql, sizeof(sql),
           "UPDATE crawl_pages SET state = 3, error = CAST(?1 AS TEXT) WHERE state = 1 AND"
           " crawl_id IN (SELECT id FROM crawls WHERE status IN ('queued', 'running') AND %s)",
           where);
  if (!rc) rc = prep(s, sql, &st);
  if (!rc) {
    pb_db_bind_text(st, 1, error, -1);
    pb_db_bind_text(st, 2, arg, -1);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE) rc = fail(s, r, "lost crawl pages");
  }
  pb_db_finalize(st);
  st = NULL;
  snprintf(sql, sizeof(sql),
           "UPDATE crawls SET status = 'failed', error = CAST(?1 AS TEXT),"
           " ended_ms = CAST(?3 AS BIGINT) WHERE status IN ('queued', 'running') AND %s",
           where);
  if (!rc) rc = prep(s, sql, &st);
  if (!rc) {
    pb_db_bind_text(st, 1, error, -1);
    pb_db_bind_text(st, 2, arg, -1);
    pb_db_bind_int64(st, 3, now_ms);
    int r = pb_db_step(st);
    if (r != PB_DB_DONE)
      rc = fail(s, r, "lost crawls");
    else
      *n = (int)pb_db_changes(s->db);
  }
  pb_db_finalize(st);
  if (!rc) rc = pb_db_commit(s->db);
  if (rc) {
    pb_db_rollback(s->db);
    *n = 0;
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_node_lost(pb_crawl_store *s, const char *tag, int64_t now_ms, int *n) {
  *n = 0;
  if (!tag || strlen(tag) != 4) return PB_EINVAL; /* never "" (= every crawl) */
  return end_crawls(s, ID_PREFIX("id", 2), tag, PB_CRAWL_NODE_LOST_ERROR, now_ms, n);
}

int pb_crawl_orphans_end(pb_crawl_store *s, const char *self_tag, int64_t now_ms, int *n) {
  *n = 0;
  if (!self_tag || strlen(self_tag) != 4) return PB_EINVAL;
  return end_crawls(s,
                    "substr(id, 1, 4) <> CAST(?2 AS TEXT) AND substr(id, 1, 4) IN"
                    " (SELECT tag FROM nodes WHERE state IN ('lost', 'left'))",
                    self_tag, PB_CRAWL_NODE_LOST_ERROR, now_ms, n);
}
