/* core/db.h over PostgreSQL (libpq).
 *
 * Statements: ?N is rewritten to $N once at prepare (outside literals,
 * quoted identifiers and comments) and the text kept; the first step runs
 * PQexecParams (parameters as text, blobs as binary, results as text) and
 * buffers the whole result, later steps walk its rows. Values are parsed
 * from text: integers with strtoll, booleans t/f as 1/0, bytea from hex.
 *
 * Writes: every writer takes one transaction-scoped advisory lock
 * (WRITE_LOCK_KEY) after BEGIN, so writers of the database run one at a
 * time fleet-wide, as SQLite's writers do; a write statement stepped
 * outside a transaction gets its own BEGIN + lock + COMMIT. Reads take no
 * lock.
 *
 * Every connection ends a transaction left idle for 5 s and fails a lock
 * wait after 10 s (session_setup), unless its URL/role/server set them.
 *
 * A lost connection (PQstatus bad) fails the call with PB_DB_ERR_CONN;
 * the next call tries PQreset once (the session settings are applied
 * again). Passwords in the URL never reach a log (pb__db_redact_url). */
#include "common/pb.h"
#include "core/db_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "ppodbrow": the fleet-wide write lock. */
#define WRITE_LOCK_KEY "8101745766018773879"
#define LOCK_SQL "SELECT pg_advisory_xact_lock(" WRITE_LOCK_KEY ")"
#define MAX_PARAMS 999

/* PostgreSQL type oids (catalog/pg_type.h is not in libpq-dev). */
enum {
  OID_BOOL = 16,
  OID_BYTEA = 17,
  OID_INT8 = 20,
  OID_INT2 = 21,
  OID_INT4 = 23,
  OID_OID = 26,
  OID_FLOAT4 = 700,
  OID_FLOAT8 = 701,
  OID_NUMERIC = 1700,
};

typedef struct {
  struct pb_db base;
  PGconn *conn;
  int reset_pending; /* the connection broke: PQreset at the next call */
  int tx_open;       /* pb_db_begin'd, not yet committed or rolled back */
  int tx_lost;       /* ... and the connection broke under it */
  int64_t changes;
} pg_db;

typedef struct {
  unsigned char *p;
  size_t n;
  int done;
} pg_blob;

typedef struct {
  struct pb_db_stmt base;
  char *sql; /* with $N */
  int nparams;
  int is_write;
  char **values;
  int *lengths;
  int *formats;
  PGresult *res; /* NULL: not run since the last reset */
  int row, nrows;
  pg_blob *blobs; /* decoded bytea of the current row, per column */
  int nblobs;
} pg_stmt;

static pg_db *PG(pb_db *db) {
  return (pg_db *)db;
}
static pg_stmt *PST(pb_db_stmt *st) {
  return (pg_stmt *)st;
}

/* ---- errors and the connection ---- */

static int conn_lost(pb_db *db) {
  pg_db *g = PG(db);
  if (PQstatus(g->conn) == CONNECTION_OK) return 0;
  g->reset_pending = 1;
  pb__db_seterr(db, PB_DB_ERR_CONN, "connection lost: %s", PQerrorMessage(g->conn));
  PB_ERR("db: %s", db->errmsg);
  return 1;
}

/* Maps a failed result (or NULL) to a PB_E* code, recording why on db. */
static int pg_fail(pb_db *db, const PGresult *res, const char *what) {
  if (conn_lost(db)) return PB_ESTORE;
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = res ? PQresultErrorMessage(res) : PQerrorMessage(PG(db)->conn);
  if (!msg || !*msg) msg = "unknown error";
  size_t ml = strlen(msg);
  while (ml && (msg[ml - 1] == '\n' || msg[ml - 1] == ' ')) ml--;
  if (state && !strcmp(state, "23505")) {
    pb__db_seterr(db, PB_DB_ERR_UNIQUE, "%.*s", (int)ml, msg);
    return PB_EEXIST;
  }
  if (state && !strcmp(state, "23503")) {
    pb__db_seterr(db, PB_DB_ERR_FOREIGN, "%.*s", (int)ml, msg);
    return PB_ESTORE;
  }
  if (state && !strcmp(state, "53100")) {
    pb__db_seterr(db, PB_DB_ERR_FULL, "%.*s", (int)ml, msg);
    PB_ERR("db: %.200s: %s", what, db->errmsg);
    return PB_ENOSPACE;
  }
  /* lock_not_available, deadlock, serialization failure */
  int busy = state && (!strcmp(state, "55P03") || !strcmp(state, "40P01") ||
                       !strcmp(state, "40001") || !strcmp(state, "57014"));
  pb__db_seterr(db, busy ? PB_DB_ERR_BUSY : PB_DB_ERR_OTHER, "%.*s", (int)ml, msg);
  PB_ERR("db: %.200s: %s (%s)", what, db->errmsg, state ? state : "-");
  return PB_ESTORE;
}

/* Runs a parameterless command (may be several ;-separated statements);
 * the result is kept in *out when out is given. */
static int run(pb_db *db, const char *sql, PGresult **out) {
  PGresult *res = PQexec(PG(db)->conn, sql);
  ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && s != PGRES_EMPTY_QUERY) {
    int rc = pg_fail(db, res, sql);
    PQclear(res);
    return rc;
  }
  if (out)
    *out = res;
  else
    PQclear(res);
  return 0;
}

/* Bounds every connection gets unless the URL's `options`, the role, the
 * database or the server's config set them (0 there too: pg_settings'
 * source is then not 'default'):
 * - idle_in_transaction_session_timeout: a node stopped (SIGSTOP) or cut
 *   off inside a write transaction holds the fleet-wide write lock; the
 *   server ends its session after this, so the others' writes go on;
 * - lock_timeout: a writer waiting longer than this for the write lock (or
 *   any lock) fails with PB_ESTORE (kind BUSY) instead of hanging a job.
 *   It is longer than the idle bound, so a stalled holder is ended first. */
#define PB_PG_IDLE_IN_TX_MS "5000"
#define PB_PG_LOCK_TIMEOUT_MS "10000"

static int session_setup(pb_db *db) {
  return run(db,
             "SET client_min_messages = warning; SET bytea_output = hex;"
             " SELECT set_config(name, CASE name WHEN 'lock_timeout' THEN '" PB_PG_LOCK_TIMEOUT_MS
             "' ELSE '" PB_PG_IDLE_IN_TX_MS "' END, false) FROM pg_settings"
             " WHERE name IN ('idle_in_transaction_session_timeout', 'lock_timeout')"
             " AND source = 'default'",
             NULL);
}

/* Before each call: after a lost connection, one PQreset. */
static int ready(pb_db *db) {
  pg_db *g = PG(db);
  if (g->tx_lost) {
    pb__db_seterr(db, PB_DB_ERR_CONN, "the transaction was lost with the connection");
    return PB_ESTORE;
  }
  if (!g->reset_pending && PQstatus(g->conn) == CONNECTION_OK) return 0;
  g->reset_pending = 0;
  /* A transaction open when the connection broke is gone: every call fails
   * until the owner rolls back, so its writes cannot half-commit. */
  if (g->tx_open) g->tx_lost = 1;
  PQreset(g->conn);
  if (PQstatus(g->conn) != CONNECTION_OK || session_setup(db)) {
    g->reset_pending = 1;
    pb__db_seterr(db, PB_DB_ERR_CONN, "cannot reconnect: %s", PQerrorMessage(g->conn));
    PB_ERR("db: %s", db->errmsg);
    return PB_ESTORE;
  }
  PB_WARN("db: reconnected to PostgreSQL");
  if (g->tx_lost) {
    pb__db_seterr(db, PB_DB_ERR_CONN, "the transaction was lost with the connection");
    return PB_ESTORE;
  }
  return 0;
}

static int in_transaction(pb_db *db) {
  return PQtransactionStatus(PG(db)->conn) != PQTRANS_IDLE;
}

/* ---- SQL text ---- */


static int word_char(char c) {
  return isalnum((unsigned char)c) || c == '_';
}

/* ?N -> $N; the highest N into *nparams. */
static int translate(const char *sql, char **out, int *nparams) {
  pb_buf b;
  pb_buf_init(&b, (size_t)16 << 20);
  int rc = 0, maxn = 0;
  const char *p = sql;
  while (*p && !rc) {
    size_t n = pb__db_opaque_len(p, 0);
    if (n) {
      rc = pb_buf_append(&b, p, n);
      p += n;
    } else if (*p == '?' && isdigit((unsigned char)p[1])) {
      char *end;
      errno = 0;
      long v = strtol(p + 1, &end, 10);
      if (errno || v < 1 || v > MAX_PARAMS) return pb_buf_free(&b), PB_EINVAL;
      if (v > maxn) maxn = (int)v;
      rc = pb_buf_printf(&b, "$%ld", v);
      p = end;
    } else {
      rc = pb_buf_append(&b, p++, 1);
    }
  }
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *out = pb_buf_steal(&b, NULL);
  *nparams = maxn;
  return *out ? 0 : PB_ENOMEM;
}

/* Whether the statement writes: its first word (after whitespace and
 * comments) is one that changes rows or schema, or it is a WITH whose
 * body has INSERT/UPDATE/DELETE/MERGE. */
static int is_write_sql(const char *sql) {
  static const char *const writes[] = {"INSERT", "UPDATE", "DELETE", "REPLACE",  "MERGE",
                                       "CREATE", "ALTER",  "DROP",   "TRUNCATE", NULL};
  const char *p = sql;
  for (;;) {
    while (isspace((unsigned char)*p)) p++;
    size_t n = pb__db_opaque_len(p, 0);
    if (!n || *p == '\'' || *p == '"') break;
    p += n;
  }
  for (int i = 0; writes[i]; i++) {
    size_t n = strlen(writes[i]);
    if (!strncasecmp(p, writes[i], n) && !word_char(p[n])) return 1;
  }
  if (strncasecmp(p, "WITH", 4) || word_char(p[4])) return 0;
  while (*p) {
    size_t n = pb__db_opaque_len(p, 0);
    if (n) {
      p += n;
      continue;
    }
    if (word_char(*p)) {
      const char *w = p;
      while (word_char(*p)) p++;
      size_t wl = (size_t)(p - w);
      for (int i = 0; i < 5; i++)
        if (wl == strlen(writes[i]) && !strncasecmp(w, writes[i], wl)) return 1;
      continue;
    }
    p++;
  }
  return 0;
}

/* ---- the calls ---- */

static int pg_exec(pb_db *db, const char *sql) {
  int rc = ready(db);
  if (rc) return rc;
  if (in_transaction(db) || !is_write_sql(sql)) return run(db, sql, NULL);
  /* A write outside a transaction: under the write lock, in one. */
  if ((rc = run(db, "BEGIN; " LOCK_SQL, NULL))) goto rollback; /* lock_timeout */
  if ((rc = run(db, sql, NULL))) goto rollback;
  if ((rc = run(db, "COMMIT", NULL))) goto rollback;
  return 0;
rollback:
  if (PQstatus(PG(db)->conn) == CONNECTION_OK) PQclear(PQexec(PG(db)->conn, "ROLLBACK"));
  return rc;
}

static int pg_begin(pb_db *db) {
  int rc = ready(db);
  if (rc) return rc;
  if ((rc = run(db, "BEGIN; " LOCK_SQL, NULL)) && in_transaction(db))
    PQclear(PQexec(PG(db)->conn, "ROLLBACK"));
  PG(db)->tx_open = !rc;
  return rc;
}

static int pg_commit(pb_db *db) {
  PGresult *res = NULL;
  pg_db *g = PG(db);
  int lost = g->tx_lost;
  g->tx_open = g->tx_lost = 0; /* the transaction ends here, whatever comes */
  if (lost) {
    pb__db_seterr(db, PB_DB_ERR_CONN, "the transaction was lost with the connection");
    return PB_ESTORE;
  }
  int rc = ready(db);
  if (rc) return rc;
  rc = run(db, "COMMIT", &res);
  if (rc) return rc;
  /* COMMIT of a failed transaction "succeeds" with ROLLBACK. */
  if (strcmp(PQcmdStatus(res), "COMMIT")) {
    pb__db_seterr(db, PB_DB_ERR_OTHER, "transaction rolled back (an earlier statement failed)");
    PB_ERR("db: %s", db->errmsg);
    rc = PB_ESTORE;
  }
  PQclear(res);
  return rc;
}

static void pg_rollback(pb_db *db) {
  PG(db)->tx_open = 0;
  PG(db)->tx_lost = 0;
  if (PQstatus(PG(db)->conn) == CONNECTION_OK && in_transaction(db))
    PQclear(PQexec(PG(db)->conn, "ROLLBACK"));
}

static void clear_result(pg_stmt *s) {
  PQclear(s->res);
  s->res = NULL;
  s->row = -1;
  s->nrows = 0;
  for (int i = 0; i < s->nblobs; i++) {
    free(s->blobs[i].p);
    s->blobs[i] = (pg_blob){0};
  }
}

static void clear_bindings(pg_stmt *s) {
  for (int i = 0; i < s->nparams; i++) {
    free(s->values[i]);
    s->values[i] = NULL;
    s->lengths[i] = 0;
    s->formats[i] = 0;
  }
}

static int pg_prepare(pb_db *db, const char *sql, pb_db_stmt **out) {
  pg_stmt *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->base.db = db;
  s->row = -1;
  int rc = translate(sql, &s->sql, &s->nparams);
  if (rc) {
    free(s);
    pb__db_seterr(db, PB_DB_ERR_OTHER, "bad parameter in %.200s", sql);
    PB_ERR("db: %s", db->errmsg);
    return rc == PB_ENOMEM ? rc : PB_ESTORE;
  }
  s->is_write = is_write_sql(s->sql);
  if (s->nparams) {
    s->values = calloc((size_t)s->nparams, sizeof(*s->values));
    s->lengths = calloc((size_t)s->nparams, sizeof(*s->lengths));
    s->formats = calloc((size_t)s->nparams, sizeof(*s->formats));
    if (!s->values || !s->lengths || !s->formats) {
      free(s->values);
      free(s->lengths);
      free(s->formats);
      free(s->sql);
      free(s);
      return PB_ENOMEM;
    }
  }
  *out = &s->base;
  return 0;
}

/* Stores a copy of p[0, n) as parameter i (format 0 text, 1 binary). */
static int bind_bytes(pb_db_stmt *st, int i, const void *p, size_t n, int format) {
  pg_stmt *s = PST(st);
  if (i > s->nparams) {
    pb__db_seterr(st->db, PB_DB_ERR_OTHER, "bind: parameter %d of %d", i, s->nparams);
    return PB_EINVAL;
  }
  if (n > INT32_MAX - 1) return PB_ETOOBIG;
  char *copy = NULL;
  if (p) {
    copy = malloc(n + 1);
    if (!copy) return PB_ENOMEM;
    memcpy(copy, p, n);
    copy[n] = '\0';
  }
  free(s->values[i - 1]);
  s->values[i - 1] = copy;
  s->lengths[i - 1] = (int)n;
  s->formats[i - 1] = format;
  return 0;
}

static int pg_bind_int64(pb_db_stmt *st, int i, int64_t v) {
  char t[24];
  int n = snprintf(t, sizeof(t), "%lld", (long long)v);
  return bind_bytes(st, i, t, (size_t)n, 0);
}
static int pg_bind_text(pb_db_stmt *st, int i, const char *p, size_t n) {
  return bind_bytes(st, i, p, n, 0);
}
static int pg_bind_blob(pb_db_stmt *st, int i, const void *p, size_t n) {
  return bind_bytes(st, i, p, n, 1);
}
static int pg_bind_null(pb_db_stmt *st, int i) {
  return bind_bytes(st, i, NULL, 0, 0);
}

/* Runs the statement (wrapped in BEGIN + write lock + COMMIT when it
 * writes outside a transaction) and keeps its result. */
static int pg_run_stmt(pg_stmt *s) {
  pb_db *db = s->base.db;
  pg_db *g = PG(db);
  int rc = ready(db);
  if (rc) return rc;
  int wrap = s->is_write && !in_transaction(db);
  if (wrap && (rc = run(db, "BEGIN; " LOCK_SQL, NULL))) {
    /* The lock wait failed (lock_timeout): no transaction is left open. */
    if (in_transaction(db)) PQclear(PQexec(g->conn, "ROLLBACK"));
    return rc;
  }
  PGresult *res = PQexecParams(g->conn, s->sql, s->nparams, NULL, (const char *const *)s->values,
                               s->lengths, s->formats, 0);
  ExecStatusType es = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
    rc = pg_fail(db, res, s->sql);
    PQclear(res);
    if (wrap) pg_rollback(db);
    return rc;
  }
  if (wrap && (rc = pg_commit(db))) {
    PQclear(res);
    pg_rollback(db);
    return rc;
  }
  const char *cmd = PQcmdStatus(res);
  if (!strncmp(cmd, "INSERT", 6) || !strncmp(cmd, "UPDATE", 6) || !strncmp(cmd, "DELETE", 6) ||
      !strncmp(cmd, "MERGE", 5)) {
    const char *t = PQcmdTuples(res);
    long long v = 0;
    g->changes = pb_parse_int(t, 0, INT64_MAX, &v) ? 0 : v;
  }
  s->res = res;
  s->nrows = es == PGRES_TUPLES_OK ? PQntuples(res) : 0;
  s->row = -1;
  int nf = PQnfields(res);
  if (nf > s->nblobs) {
    pg_blob *nb = realloc(s->blobs, (size_t)nf * sizeof(*nb));
    if (!nb) return PB_ENOMEM;
    for (int i = s->nblobs; i < nf; i++) nb[i] = (pg_blob){0};
    s->blobs = nb;
    s->nblobs = nf;
  }
  return 0;
}

static int pg_step(pb_db_stmt *st) {
  pg_stmt *s = PST(st);
  /* Stepped again after DONE: run it again, as sqlite3_step does. */
  if (s->res && s->row >= s->nrows) clear_result(s);
  if (!s->res) {
    int rc = pg_run_stmt(s);
    if (rc) return rc;
  }
  for (int i = 0; i < s->nblobs; i++) {
    free(s->blobs[i].p);
    s->blobs[i] = (pg_blob){0};
  }
  if (s->row < s->nrows) s->row++;
  return s->row < s->nrows ? PB_DB_ROW : PB_DB_DONE;
}

/* The current row has column col. */
static int have(pg_stmt *s, int col) {
  return s->res && s->row >= 0 && s->row < s->nrows && col < PQnfields(s->res);
}

static pb_db_type pg_column_type(pb_db_stmt *st, int col) {
  pg_stmt *s = PST(st);
  if (!have(s, col) || PQgetisnull(s->res, s->row, col)) return PB_DB_NULL;
  switch (PQftype(s->res, col)) {
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
    case OID_NUMERIC:
    case OID_BOOL:
      return PB_DB_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
      return PB_DB_FLOAT;
    case OID_BYTEA:
      return PB_DB_BLOB;
    default:
      return PB_DB_TEXT;
  }
}

static int64_t pg_column_int64(pb_db_stmt *st, int col) {
  pg_stmt *s = PST(st);
  if (!have(s, col) || PQgetisnull(s->res, s->row, col)) return 0;
  const char *v = PQgetvalue(s->res, s->row, col);
  if (!strcmp(v, "t")) return 1;
  if (!strcmp(v, "f")) return 0;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (*end == '.' || *end == 'e' || *end == 'E') {
    double d = strtod(v, NULL);
    if (d >= -9.2e18 && d <= 9.2e18) return (int64_t)d;
  }
  return n;
}

static const char *pg_column_text(pb_db_stmt *st, int col) {
  pg_stmt *s = PST(st);
  if (!have(s, col) || PQgetisnull(s->res, s->row, col)) return NULL;
  return PQgetvalue(s->res, s->row, col);
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* The bytes of column col: bytea decoded from hex (kept until the next
 * step), any other value its text. */
static const void *blob_of(pg_stmt *s, int col, size_t *n) {
  *n = 0;
  if (!have(s, col) || PQgetisnull(s->res, s->row, col)) return NULL;
  const char *v = PQgetvalue(s->res, s->row, col);
  if (PQftype(s->res, col) != OID_BYTEA) {
    *n = (size_t)PQgetlength(s->res, s->row, col);
    return v;
  }
  pg_blob *b = &s->blobs[col];
  if (!b->done) {
    size_t len = (size_t)PQgetlength(s->res, s->row, col);
    if (len < 2 || v[0] != '\\' || v[1] != 'x') return NULL;
    size_t out = (len - 2) / 2;
    b->p = malloc(out + 1);
    if (!b->p) return NULL;
    for (size_t i = 0; i < out; i++) {
      int hi = hexval(v[2 + 2 * i]), lo = hexval(v[3 + 2 * i]);
      if (hi < 0 || lo < 0) {
        free(b->p);
        b->p = NULL;
        return NULL;
      }
      b->p[i] = (unsigned char)(hi << 4 | lo);
    }
    b->n = out;
    b->done = 1;
  }
  *n = b->n;
  return b->p;
}

static const void *pg_column_blob(pb_db_stmt *st, int col) {
  size_t n;
  return blob_of(PST(st), col, &n);
}
static size_t pg_column_bytes(pb_db_stmt *st, int col) {
  size_t n;
  blob_of(PST(st), col, &n);
  return n;
}

static void pg_reset(pb_db_stmt *st) {
  clear_result(PST(st));
  clear_bindings(PST(st));
}

static void pg_finalize(pb_db_stmt *st) {
  pg_stmt *s = PST(st);
  clear_result(s);
  clear_bindings(s);
  free(s->blobs);
  free(s->values);
  free(s->lengths);
  free(s->formats);
  free(s->sql);
  free(s);
}

static int64_t pg_changes(pb_db *db) {
  return PG(db)->changes;
}

static void pg_close(pb_db *db) {
  PQfinish(PG(db)->conn);
  free(db);
}

static const pb__db_ops pg_ops = {
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .bind_int64 = pg_bind_int64,
    .bind_text = pg_bind_text,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .column_type = pg_column_type,
    .column_int64 = pg_column_int64,
    .column_text = pg_column_text,
    .column_blob = pg_column_blob,
    .column_bytes = pg_column_bytes,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .changes = pg_changes,
    .close = pg_close,
};

/* Scalar MAX(a, b) / MIN(a, b) as SQLite has them, in the connection's
 * schema; made once per database, under the write lock (two nodes
 * replacing a function at once fail with "tuple concurrently updated"). */
static int define_helpers(pb_db *db) {
  static const char *const check =
      "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
      " WHERE n.nspname = current_schema() AND p.proname IN ('max', 'min')"
      " AND p.pronargs = 2 AND p.proargtypes = '20 20'::oidvector";
  PGresult *res = NULL;
  int rc = run(db, check, &res);
  if (rc) return rc;
  int have = PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), "2");
  PQclear(res);
  if (have) return 0;
  return pg_exec(db,
                 "CREATE OR REPLACE FUNCTION max(bigint, bigint) RETURNS bigint"
                 " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT GREATEST($1, $2)';"
                 "CREATE OR REPLACE FUNCTION min(bigint, bigint) RETURNS bigint"
                 " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT LEAST($1, $2)'");
}

int pb__db_pg_open(const char *url, pb_db **out) {
  char safe[512];
  pb__db_redact_url(url, safe, sizeof(safe));
  pg_db *g = calloc(1, sizeof(*g));
  if (!g) return PB_ENOMEM;
  g->base.ops = &pg_ops;
  g->base.kind = PB_DB_POSTGRES;
  /* Defaults the URL may override (it comes last): a dead server or a
   * silent network fails calls in seconds instead of TCP's minutes. */
  static const char *const keys[] = {"connect_timeout",     "keepalives",       "keepalives_idle",
                                     "keepalives_interval", "keepalives_count", "tcp_user_timeout",
                                     "application_name",    "dbname",           NULL};
  const char *const vals[] = {"10", "1", "10", "3", "3", "30000", "ppod-browserd", url, NULL};
  g->conn = PQconnectdbParams(keys, vals, 1);
  if (!g->conn) {
    free(g);
    return PB_ENOMEM;
  }
  int rc;
  if (PQstatus(g->conn) != CONNECTION_OK) {
    const char *m = PQerrorMessage(g->conn);
    size_t ml = strlen(m);
    while (ml && (m[ml - 1] == '\n' || m[ml - 1] == ' ')) ml--;
    PB_ERR("db: cannot connect to %s: %.*s", safe, (int)ml, m);
    rc = PB_ESTORE;
    goto fail;
  }
  if ((rc = session_setup(&g->base)) || (rc = define_helpers(&g->base))) {
    PB_ERR("db: %s: setup failed", safe);
    goto fail;
  }
  *out = &g->base;
  return 0;
fail:
  pg_close(&g->base);
  return rc == PB_ENOMEM ? rc : PB_ESTORE;
}
