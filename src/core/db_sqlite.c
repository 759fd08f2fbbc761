/* core/db.h over SQLite: a thin wrapper. The file is created 0600 before
 * SQLite opens it; WAL with synchronous=FULL (a committed row survives a
 * power cut), foreign keys on (checked: a build without them ignores the
 * pragma), busy timeout for the other processes on the file (the admin
 * subcommands next to a running daemon). ?N is SQLite's own syntax. */
#include "common/pb.h"
#include "core/db_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000

typedef struct {
  struct pb_db base;
  sqlite3 *h;
} sq_db;

typedef struct {
  struct pb_db_stmt base;
  sqlite3_stmt *h;
} sq_stmt;

static sq_db *SQ(pb_db *db) {
  return (sq_db *)db;
}
static sq_stmt *SST(pb_db_stmt *st) {
  return (sq_stmt *)st;
}

/* Maps a failed SQLite result to a PB_E* code, recording why on db. */
static int sq_fail(pb_db *db, int rc, const char *what) {
  sqlite3 *h = SQ(db)->h;
  const char *msg = h ? sqlite3_errmsg(h) : sqlite3_errstr(rc);
  int ext = h ? sqlite3_extended_errcode(h) : rc;
  if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY) {
    pb__db_seterr(db, PB_DB_ERR_UNIQUE, "%s", msg);
    return PB_EEXIST;
  }
  if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) {
    pb__db_seterr(db, PB_DB_ERR_FOREIGN, "%s", msg);
    return PB_ESTORE;
  }
  if ((rc & 0xff) == SQLITE_FULL) {
    pb__db_seterr(db, PB_DB_ERR_FULL, "%s", msg);
    PB_ERR("db: %s: %s", what, msg);
    return PB_ENOSPACE;
  }
  int busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
  pb__db_seterr(db, busy ? PB_DB_ERR_BUSY : PB_DB_ERR_OTHER, "%s", msg);
  PB_ERR("db: %s: %s (%d)", what, msg, ext);
  return PB_ESTORE;
}

static int sq_exec(pb_db *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(SQ(db)->h, sql, NULL, NULL, &err);
  sqlite3_free(err);
  return rc == SQLITE_OK ? 0 : sq_fail(db, rc, sql);
}

/* Runs a one-row one-column statement (a PRAGMA) into out. */
static int sq_query_text(pb_db *db, const char *sql, char *out, size_t cap) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(SQ(db)->h, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(st);
  int r = 0;
  if (rc == SQLITE_ROW) {
    const unsigned char *t = sqlite3_column_text(st, 0);
    pb_strlcpy(out, t ? (const char *)t : "", cap);
  } else if (rc == SQLITE_DONE) {
    pb__db_seterr(db, PB_DB_ERR_OTHER, "%s returned no row", sql);
    PB_ERR("db: %s returned no row", sql);
    r = PB_ESTORE;
  } else {
    r = sq_fail(db, rc, sql);
  }
  sqlite3_finalize(st);
  return r;
}

static int sq_begin(pb_db *db) {
  return sq_exec(db, "BEGIN IMMEDIATE");
}
static int sq_commit(pb_db *db) {
  return sq_exec(db, "COMMIT");
}
static void sq_rollback(pb_db *db) {
  if (!sqlite3_get_autocommit(SQ(db)->h)) sqlite3_exec(SQ(db)->h, "ROLLBACK", NULL, NULL, NULL);
}

static int sq_prepare(pb_db *db, const char *sql, pb_db_stmt **out) {
  sq_stmt *st = calloc(1, sizeof(*st));
  if (!st) return PB_ENOMEM;
  st->base.db = db;
  int rc = sqlite3_prepare_v3(SQ(db)->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->h, NULL);
  if (rc != SQLITE_OK) {
    free(st);
    return sq_fail(db, rc, sql);
  }
  *out = &st->base;
  return 0;
}

static int sq_bound(pb_db_stmt *st, int rc) {
  if (rc == SQLITE_OK) return 0;
  if (rc == SQLITE_NOMEM) return PB_ENOMEM;
  pb__db_seterr(st->db, PB_DB_ERR_OTHER, "bind: %s", sqlite3_errstr(rc));
  return rc == SQLITE_RANGE ? PB_EINVAL : PB_ESTORE;
}
static int sq_bind_int64(pb_db_stmt *st, int i, int64_t v) {
  return sq_bound(st, sqlite3_bind_int64(SST(st)->h, i, v));
}
static int sq_bind_text(pb_db_stmt *st, int i, const char *s, size_t n) {
  return sq_bound(st, sqlite3_bind_text64(SST(st)->h, i, s, n, SQLITE_TRANSIENT, SQLITE_UTF8));
}
static int sq_bind_blob(pb_db_stmt *st, int i, const void *p, size_t n) {
  return sq_bound(st, sqlite3_bind_blob64(SST(st)->h, i, p, n, SQLITE_TRANSIENT));
}
static int sq_bind_null(pb_db_stmt *st, int i) {
  return sq_bound(st, sqlite3_bind_null(SST(st)->h, i));
}

static int sq_step(pb_db_stmt *st) {
  int rc = sqlite3_step(SST(st)->h);
  if (rc == SQLITE_ROW) return PB_DB_ROW;
  if (rc == SQLITE_DONE) return PB_DB_DONE;
  return sq_fail(st->db, rc, sqlite3_sql(SST(st)->h));
}

static pb_db_type sq_column_type(pb_db_stmt *st, int col) {
  switch (sqlite3_column_type(SST(st)->h, col)) {
    case SQLITE_INTEGER:
      return PB_DB_INT;
    case SQLITE_FLOAT:
      return PB_DB_FLOAT;
    case SQLITE_TEXT:
      return PB_DB_TEXT;
    case SQLITE_BLOB:
      return PB_DB_BLOB;
    default:
      return PB_DB_NULL;
  }
}
static int64_t sq_column_int64(pb_db_stmt *st, int col) {
  return sqlite3_column_int64(SST(st)->h, col);
}
static const char *sq_column_text(pb_db_stmt *st, int col) {
  return (const char *)sqlite3_column_text(SST(st)->h, col);
}
static const void *sq_column_blob(pb_db_stmt *st, int col) {
  return sqlite3_column_blob(SST(st)->h, col);
}
static size_t sq_column_bytes(pb_db_stmt *st, int col) {
  int n = sqlite3_column_bytes(SST(st)->h, col);
  return n < 0 ? 0 : (size_t)n;
}
static void sq_reset(pb_db_stmt *st) {
  sqlite3_reset(SST(st)->h);
  sqlite3_clear_bindings(SST(st)->h);
}
static void sq_finalize(pb_db_stmt *st) {
  sqlite3_finalize(SST(st)->h);
  free(st);
}
static int64_t sq_changes(pb_db *db) {
  return sqlite3_changes64(SQ(db)->h);
}

static void sq_close(pb_db *db) {
  if (SQ(db)->h && sqlite3_close(SQ(db)->h) != SQLITE_OK)
    PB_ERR("db: close: %s", sqlite3_errmsg(SQ(db)->h));
  free(db);
}

static const pb__db_ops sq_ops = {
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .bind_int64 = sq_bind_int64,
    .bind_text = sq_bind_text,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .column_type = sq_column_type,
    .column_int64 = sq_column_int64,
    .column_text = sq_column_text,
    .column_blob = sq_column_blob,
    .column_bytes = sq_column_bytes,
    .reset = sq_reset,
    .finalize = sq_finalize,
    .changes = sq_changes,
    .close = sq_close,
};

/* Creates the file 0600 (or takes group/other bits away from an old one)
 * before SQLite does, so it never exists readable by others. */
static int precreate(const char *path) {
  if (!strcmp(path, ":memory:")) return 0;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    PB_ERR("db: open %s: %s", path, strerror(errno));
    return errno == ENOSPC ? PB_ENOSPACE : PB_EIO;
  }
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) || ((st.st_mode & 077) && fchmod(fd, st.st_mode & 0700))) {
    PB_ERR("db: chmod %s: %s", path, strerror(errno));
    rc = PB_EIO;
  }
  close(fd);
  return rc;
}

static int sq_configure(pb_db *db) {
  char v[32];
  int rc;
  sqlite3_extended_result_codes(SQ(db)->h, 1);
  if (sqlite3_busy_timeout(SQ(db)->h, BUSY_TIMEOUT_MS) != SQLITE_OK)
    return sq_fail(db, sqlite3_errcode(SQ(db)->h), "busy_timeout");
  if ((rc = sq_query_text(db, "PRAGMA journal_mode = WAL", v, sizeof(v)))) return rc;
  if (strcmp(v, "wal") && strcmp(v, "memory")) {
    PB_ERR("db: journal_mode is %s, not wal", v);
    return PB_ESTORE;
  }
  if ((rc = sq_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON"))) return rc;
  if ((rc = sq_query_text(db, "PRAGMA foreign_keys", v, sizeof(v)))) return rc;
  if (strcmp(v, "1")) {
    PB_ERR("db: SQLite lacks foreign key support");
    return PB_ESTORE;
  }
  return 0;
}

int pb__db_sqlite_open(const char *path, pb_db **out) {
  int rc = precreate(path);
  if (rc) return rc;
  sq_db *db = calloc(1, sizeof(*db));
  if (!db) return PB_ENOMEM;
  db->base.ops = &sq_ops;
  db->base.kind = PB_DB_SQLITE;
  int src = sqlite3_open_v2(path, &db->h,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (src != SQLITE_OK) {
    rc = db->h ? sq_fail(&db->base, src, path) : PB_ENOMEM;
    goto fail;
  }
  if ((rc = sq_configure(&db->base))) goto fail;
  *out = &db->base;
  return 0;
fail:
  if (rc == PB_ENOSPACE)
    rc = PB_ENOSPACE;
  else if (rc != PB_ENOMEM)
    rc = PB_ESTORE;
  sq_close(&db->base);
  return rc;
}
