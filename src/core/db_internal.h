#ifndef PB_CORE_DB_INTERNAL_H
#define PB_CORE_DB_INTERNAL_H
/* Between db.c (the public calls) and its backends (db_sqlite.c,
 * db_pg.c). Not for other modules. A backend's handle structs start with
 * struct pb_db / struct pb_db_stmt; the public calls dispatch through ops. */
#include "core/db.h"

#include <stdarg.h>

typedef struct pb__db_ops {
  int (*exec)(pb_db *db, const char *sql);
  int (*begin)(pb_db *db);
  int (*commit)(pb_db *db);
  void (*rollback)(pb_db *db);
  int (*prepare)(pb_db *db, const char *sql, pb_db_stmt **out);
  int (*bind_int64)(pb_db_stmt *st, int i, int64_t v);
  int (*bind_text)(pb_db_stmt *st, int i, const char *s, size_t n);
  int (*bind_blob)(pb_db_stmt *st, int i, const void *p, size_t n);
  int (*bind_null)(pb_db_stmt *st, int i);
  int (*step)(pb_db_stmt *st);
  pb_db_type (*column_type)(pb_db_stmt *st, int col);
  int64_t (*column_int64)(pb_db_stmt *st, int col);
  const char *(*column_text)(pb_db_stmt *st, int col);
  const void *(*column_blob)(pb_db_stmt *st, int col);
  size_t (*column_bytes)(pb_db_stmt *st, int col);
  void (*reset)(pb_db_stmt *st);
  void (*finalize)(pb_db_stmt *st);
  int64_t (*changes)(pb_db *db);
  void (*close)(pb_db *db);
} pb__db_ops;

struct pb_db {
  const pb__db_ops *ops;
  pb_db_kind kind;
  pb_db_errkind_t errkind;
  char errmsg[512];
};

struct pb_db_stmt {
  pb_db *db;
};

/* Records the last error (errkind and a formatted message) on db. */
void pb__db_seterr(pb_db *db, pb_db_errkind_t kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int pb__db_sqlite_open(const char *path, pb_db **out);
int pb__db_pg_open(const char *url, pb_db **out);

/* SQLite-dialect DDL translated for PostgreSQL (rules in db.c). Caller
 * frees *out. PB_ENOMEM. */
int pb__db_ddl_to_pg(const char *sql, char **out);
/* Length of the string literal, quoted identifier (backtick too, SQLite's
 * dialect, when backtick) or comment starting at p; 0 when none. */
size_t pb__db_opaque_len(const char *p, int backtick);
/* A PostgreSQL URL with its password replaced by "***", for logs, into out
 * (always NUL-terminated). */
void pb__db_redact_url(const char *url, char *out, size_t cap);

#endif
