#include "core/crawlstore.h"

#include "common/crawlurl.h"
#include "common/pb.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pb_crawl_store {
  sqlite3 *db;
  pthread_mutex_t mu;
};

static int fail(pb_crawl_store *s, int rc, const char *what) {
  PB_ERR("crawl store: %s: %s (%d)", what, sqlite3_errmsg(s->db), rc);
  return PB_ESTORE;
}

static int exec(pb_crawl_store *s, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK) {
    PB_ERR("crawl store: %s: %s", sql, err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return PB_ESTORE;
  }
  return 0;
}

static int prep(pb_crawl_store *s, const char *sql, sqlite3_stmt **st) {
  int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? 0 : fail(s, rc, sql);
}

static void text(sqlite3_stmt *st, int col, char *out, size_t cap) {
  const unsigned char *t = sqlite3_column_text(st, col);
  pb_strlcpy(out, t ? (const char *)t : "", cap);
}

static char *text_dup(sqlite3_stmt *st, int col) {
  const unsigned char *t = sqlite3_column_text(st, col);
  return t ? strdup((const char *)t) : NULL;
}

int pb_crawl_store_open(const char *data_dir, pb_crawl_store **out) {
  *out = NULL;
  char path[PATH_MAX];
  int n = snprintf(path, sizeof(path), "%s/ppod.db", data_dir);
  if (n < 0 || (size_t)n >= sizeof(path)) return PB_ETOOBIG;
  pb_crawl_store *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK || sqlite3_busy_timeout(s->db, 5000) != SQLITE_OK ||
      exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")) {
    PB_ERR("crawl store: cannot open %s", path);
    pb_crawl_store_close(s);
    return PB_ESTORE;
  }
  *out = s;
  return 0;
}

void pb_crawl_store_close(pb_crawl_store *s) {
  if (!s) return;
  sqlite3_close_v2(s->db);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

int pb_crawl_create(pb_crawl_store *s, const char *id, int64_t account_id, const char *request,
                    int64_t now_wall_ms) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "INSERT INTO crawls (id, account_id, created_ms, status, request)"
                " VALUES (?, ?, ?, 'queued', ?)",
                &st);
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, account_id);
    sqlite3_bind_int64(st, 3, now_wall_ms);
    sqlite3_bind_text(st, 4, request, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r != SQLITE_DONE) rc = fail(s, r, "create crawl");
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Counts and sequence ends of a crawl (lock held). */
static int fill_counts(pb_crawl_store *s, pb_crawl_rec *r) {
  sqlite3_stmt *st = NULL;
  memset(r->counts, 0, sizeof(r->counts));
  int rc = prep(s,
                "SELECT state, COUNT(*), MAX(seq), MAX(done_seq) FROM crawl_pages"
                " WHERE crawl_id = ? GROUP BY state",
                &st);
  if (rc) return rc;
  sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
  r->max_seq = r->max_done = 0;
  int x;
  while ((x = sqlite3_step(st)) == SQLITE_ROW) {
    int state = sqlite3_column_int(st, 0);
    if (state >= 0 && state < 6) r->counts[state] = sqlite3_column_int64(st, 1);
    if (sqlite3_column_int64(st, 2) > r->max_seq) r->max_seq = sqlite3_column_int64(st, 2);
    if (sqlite3_column_int64(st, 3) > r->max_done) r->max_done = sqlite3_column_int64(st, 3);
  }
  if (x != SQLITE_DONE) rc = fail(s, x, "crawl counts");
  sqlite3_finalize(st);
  return rc;
}

#define CRAWL_COLS "id, account_id, created_ms, ended_ms, status, error, bytes, browser_ms, request"

static void read_rec(sqlite3_stmt *st, int with_request, pb_crawl_rec *r) {
  memset(r, 0, sizeof(*r));
  text(st, 0, r->id, sizeof(r->id));
  r->account_id = sqlite3_column_int64(st, 1);
  r->created_ms = sqlite3_column_int64(st, 2);
  r->ended_ms = sqlite3_column_int64(st, 3);
  text(st, 4, r->status, sizeof(r->status));
  text(st, 5, r->error, sizeof(r->error));
  r->bytes = sqlite3_column_int64(st, 6);
  r->browser_ms = sqlite3_column_int64(st, 7);
  if (with_request) r->request = text_dup(st, 8);
}

int pb_crawl_get(pb_crawl_store *s, const char *id, int64_t account_id, int with_request,
                 pb_crawl_rec *out) {
  sqlite3_stmt *st = NULL;
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&s->mu);
  int rc =
      prep(s, "SELECT " CRAWL_COLS " FROM crawls WHERE id = ? AND (? < 0 OR account_id = ?)", &st);
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, account_id);
    sqlite3_bind_int64(st, 3, account_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      read_rec(st, with_request, out);
      rc = fill_counts(s, out);
    } else {
      rc = r == SQLITE_DONE ? PB_ENOTFOUND : fail(s, r, "get crawl");
    }
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  if (rc) {
    free(out->request);
    out->request = NULL;
  }
  return rc;
}

int pb_crawl_list_active(pb_crawl_store *s, pb_crawl_rec **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT " CRAWL_COLS
                " FROM crawls WHERE status IN ('queued', 'running') ORDER BY created_ms",
                &st);
  pb_crawl_rec *v = NULL;
  size_t nv = 0;
  int x = SQLITE_DONE;
  while (!rc && (x = sqlite3_step(st)) == SQLITE_ROW) {
    pb_crawl_rec *nvv = realloc(v, sizeof(*v) * (nv + 1));
    if (!nvv) {
      rc = PB_ENOMEM;
      break;
    }
    v = nvv;
    read_rec(st, 1, &v[nv]);
    nv++;
  }
  if (!rc && x != SQLITE_DONE) rc = fail(s, x, "active crawls");
  sqlite3_finalize(st);
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
  sqlite3_stmt *st = NULL;
  *active = 0;
  *bytes = 0;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT COALESCE(SUM(status IN ('queued', 'running')), 0), COALESCE(SUM(bytes), 0)"
                " FROM crawls WHERE account_id = ?",
                &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, account_id);
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      *active = sqlite3_column_int(st, 0);
      *bytes = sqlite3_column_int64(st, 1);
    } else {
      rc = fail(s, r, "crawl usage");
    }
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_set_status(pb_crawl_store *s, const char *id, const char *status, const char *error,
                        int64_t ended_ms) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "UPDATE crawls SET status = ?, error = COALESCE(?, error),"
                " ended_ms = CASE WHEN ? > 0 THEN ? ELSE ended_ms END WHERE id = ?",
                &st);
  if (!rc) {
    sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    if (error) sqlite3_bind_text(st, 2, error, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ended_ms);
    sqlite3_bind_int64(st, 4, ended_ms);
    sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st);
    if (r != SQLITE_DONE) rc = fail(s, r, "crawl status");
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_requeue_running(pb_crawl_store *s, int *n) {
  pthread_mutex_lock(&s->mu);
  int rc = exec(s, "UPDATE crawl_pages SET state = 0 WHERE state = 1");
  *n = rc ? 0 : sqlite3_changes(s->db);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* Inserts urls (lock held, inside a transaction). */
static int insert_urls(pb_crawl_store *s, const char *id, const pb_crawl_url *urls, int n,
                       int *added) {
  if (added) *added = 0;
  if (n <= 0) return 0;
  sqlite3_stmt *st = NULL;
  int rc = prep(s,
                "INSERT OR IGNORE INTO crawl_pages (crawl_id, url, seq, host, depth, state,"
                " done_seq, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &st);
  for (int i = 0; !rc && i < n; i++) {
    const pb_crawl_url *u = &urls[i];
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, u->url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, u->seq);
    sqlite3_bind_text(st, 4, u->origin, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, u->depth);
    sqlite3_bind_int(st, 6, u->state);
    if (u->state == PB_CRAWL_SKIPPED)
      sqlite3_bind_int64(st, 7, u->done_seq);
    else
      sqlite3_bind_null(st, 7);
    if (u->error)
      sqlite3_bind_text(st, 8, u->error, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 8);
    int r = sqlite3_step(st);
    if (r != SQLITE_DONE)
      rc = fail(s, r, "add url");
    else if (added)
      *added += sqlite3_changes(s->db);
  }
  sqlite3_finalize(st);
  return rc;
}

int pb_crawl_add_urls(pb_crawl_store *s, const char *id, const pb_crawl_url *urls, int n,
                      int *added) {
  pthread_mutex_lock(&s->mu);
  int rc = exec(s, "BEGIN IMMEDIATE");
  if (!rc) {
    rc = insert_urls(s, id, urls, n, added);
    rc = rc ? rc : exec(s, "COMMIT");
    if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_claim(pb_crawl_store *s, const char *id, int (*busy)(void *data, const char *origin),
                   void *data, char *url, char *origin, int *depth) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT url, host, depth FROM crawl_pages WHERE crawl_id = ? AND state = 0"
                " ORDER BY seq LIMIT 256",
                &st);
  int found = 0, seen = 0, x = SQLITE_DONE;
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
      const char *h = (const char *)sqlite3_column_text(st, 1);
      seen = 1;
      if (busy && busy(data, h ? h : "")) continue;
      text(st, 0, url, PB_CRAWL_URL_MAX + 1);
      text(st, 1, origin, 300);
      *depth = sqlite3_column_int(st, 2);
      found = 1;
      break;
    }
    if (!found && x != SQLITE_DONE) rc = fail(s, x, "claim");
  }
  sqlite3_finalize(st);
  st = NULL;
  if (!rc && found) {
    rc = prep(s, "UPDATE crawl_pages SET state = 1 WHERE crawl_id = ? AND url = ?", &st);
    if (!rc) {
      sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 2, url, -1, SQLITE_STATIC);
      if ((x = sqlite3_step(st)) != SQLITE_DONE) rc = fail(s, x, "claim");
    }
    sqlite3_finalize(st);
  }
  pthread_mutex_unlock(&s->mu);
  return rc ? rc : found ? 0 : seen ? PB_EBUSY : PB_ENOTFOUND;
}

int pb_crawl_each_url(pb_crawl_store *s, const char *id, void (*fn)(void *data, const char *url),
                      void *data) {
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s, "SELECT url FROM crawl_pages WHERE crawl_id = ?", &st);
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int x;
    while ((x = sqlite3_step(st)) == SQLITE_ROW) fn(data, (const char *)sqlite3_column_text(st, 0));
    if (x != SQLITE_DONE) rc = fail(s, x, "urls");
  }
  sqlite3_finalize(st);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_finish(pb_crawl_store *s, const char *id, const char *url, int state, int64_t done_seq,
                    int http_status, const char *final_url, const char *title, const char *error,
                    const char *result, int64_t browser_ms, const pb_crawl_url *links, int nlinks,
                    int *added) {
  sqlite3_stmt *st = NULL;
  int64_t bytes = (result ? (int64_t)strlen(result) : 0) + (int64_t)strlen(url) +
                  (title ? (int64_t)strlen(title) : 0) + 64;
  if (added) *added = 0;
  pthread_mutex_lock(&s->mu);
  int rc = exec(s, "BEGIN IMMEDIATE");
  if (rc) {
    pthread_mutex_unlock(&s->mu);
    return rc;
  }
  rc = prep(s,
            "UPDATE crawl_pages SET state = ?, done_seq = ?, http_status = ?, final_url = ?,"
            " title = ?, error = ?, result = ?, bytes = ? WHERE crawl_id = ? AND url = ?",
            &st);
  if (!rc) {
    int queued = state == PB_CRAWL_QUEUED;
    sqlite3_bind_int(st, 1, state);
    if (queued)
      sqlite3_bind_null(st, 2);
    else
      sqlite3_bind_int64(st, 2, done_seq);
    if (http_status > 0) sqlite3_bind_int(st, 3, http_status);
    if (final_url) sqlite3_bind_text(st, 4, final_url, -1, SQLITE_STATIC);
    if (title) sqlite3_bind_text(st, 5, title, -1, SQLITE_STATIC);
    if (error) sqlite3_bind_text(st, 6, error, -1, SQLITE_STATIC);
    if (result) sqlite3_bind_text(st, 7, result, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, queued ? 0 : bytes);
    sqlite3_bind_text(st, 9, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, url, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    if (x != SQLITE_DONE) rc = fail(s, x, "finish page");
    sqlite3_finalize(st);
    st = NULL;
    if (queued) bytes = 0;
  }
  if (!rc) rc = insert_urls(s, id, links, nlinks, added);
  if (!rc)
    rc = prep(s, "UPDATE crawls SET bytes = bytes + ?, browser_ms = browser_ms + ? WHERE id = ?",
              &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, bytes);
    sqlite3_bind_int64(st, 2, browser_ms);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    int x = sqlite3_step(st);
    if (x != SQLITE_DONE) rc = fail(s, x, "crawl totals");
    sqlite3_finalize(st);
  }
  if (!rc) rc = exec(s, "COMMIT");
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

int pb_crawl_results(pb_crawl_store *s, const char *id, int64_t after, int max,
                     pb_crawl_result **out, size_t *n) {
  *out = NULL;
  *n = 0;
  sqlite3_stmt *st = NULL;
  pthread_mutex_lock(&s->mu);
  int rc = prep(s,
                "SELECT url, final_url, title, error, result, state, depth,"
                " COALESCE(http_status, 0), done_seq FROM crawl_pages"
                " WHERE crawl_id = ? AND done_seq > ? AND state IN (2, 3, 4)"
                " ORDER BY done_seq LIMIT ?",
                &st);
  pb_crawl_result *v = NULL;
  size_t nv = 0;
  if (!rc) {
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int(st, 3, max);
    int x;
    while ((x = sqlite3_step(st)) == SQLITE_ROW) {
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
      r->state = sqlite3_column_int(st, 5);
      r->depth = sqlite3_column_int(st, 6);
      r->http_status = sqlite3_column_int(st, 7);
      r->done_seq = sqlite3_column_int64(st, 8);
    }
    if (!rc && x != SQLITE_DONE) rc = fail(s, x, "results");
  }
  sqlite3_finalize(st);
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
  sqlite3_stmt *st = NULL;
  *n = 0;
  pthread_mutex_lock(&s->mu);
  int rc = exec(s, "BEGIN IMMEDIATE");
  if (!rc)
    rc = prep(s,
              "DELETE FROM crawl_pages WHERE crawl_id IN (SELECT id FROM crawls"
              " WHERE ended_ms IS NOT NULL AND ended_ms < ?)",
              &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, cutoff_wall_ms);
    int x = sqlite3_step(st);
    if (x != SQLITE_DONE) rc = fail(s, x, "sweep pages");
    sqlite3_finalize(st);
    st = NULL;
  }
  if (!rc) rc = prep(s, "DELETE FROM crawls WHERE ended_ms IS NOT NULL AND ended_ms < ?", &st);
  if (!rc) {
    sqlite3_bind_int64(st, 1, cutoff_wall_ms);
    int x = sqlite3_step(st);
    if (x != SQLITE_DONE)
      rc = fail(s, x, "sweep crawls");
    else
      *n = sqlite3_changes(s->db);
    sqlite3_finalize(st);
  }
  if (!rc) rc = exec(s, "COMMIT");
  if (rc) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_unlock(&s->mu);
  return rc;
}
