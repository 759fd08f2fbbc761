#ifndef PB_CORE_DB_H
#define PB_CORE_DB_H
/* The store's SQL engine, one interface over two backends: SQLite (the
 * embedded default, a file under the data dir) and PostgreSQL through libpq
 * (several nodes sharing one database). core/ talks SQL only through this.
 *
 * SQL is written once, in the subset both engines read:
 *   - parameters are numbered, ?1 .. ?N (each may appear several times);
 *   - scalar MAX(a, b) / MIN(a, b) with two arguments work on both (the
 *     PostgreSQL backend defines them), as do COALESCE, substr, length,
 *     ON CONFLICT (...) DO UPDATE/NOTHING and RETURNING;
 *   - a boolean expression in a result column reads as 1/0 with
 *     pb_db_column_int64 on both;
 *   - casts are written CAST(?1 AS TEXT) / CAST(?1 AS BIGINT) where
 *     PostgreSQL cannot infer a parameter's type.
 * DDL (pb_db_exec_ddl) is written in SQLite's dialect and translated for
 * PostgreSQL: INTEGER PRIMARY KEY -> BIGINT identity, INTEGER -> BIGINT,
 * BLOB -> BYTEA, "WITHOUT ROWID" dropped, "COLLATE NOCASE" -> an index on
 * lower(...) (see db.c for the exact rules).
 *
 * Write semantics are SQLite's on both: one writer at a time. pb_db_begin
 * is BEGIN IMMEDIATE on SQLite and, on PostgreSQL, BEGIN plus a
 * transaction-scoped advisory lock every writer of the database takes, so a
 * count checked and a row inserted in one transaction (or one statement)
 * cannot race a writer on another node. A write statement stepped outside
 * a transaction is wrapped the same way.
 *
 * One difference remains: on PostgreSQL a statement that fails inside a
 * transaction (a unique violation too) ends the transaction's use, every
 * later statement fails until pb_db_rollback; on SQLite only the statement
 * is undone. So code that expects a failure (PB_EEXIST) does that statement
 * outside a transaction or rolls back on it. An INTEGER PRIMARY KEY is an
 * identity on PostgreSQL: rows inserted with explicit ids do not move it,
 * so a table's ids are given always or never.
 *
 * Threads: a pb_db and its statements are used by one thread at a time (the
 * owner serialises, as pb_store does with its mutex). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_db pb_db;
typedef struct pb_db_stmt pb_db_stmt;

typedef enum { PB_DB_SQLITE = 1, PB_DB_POSTGRES = 2 } pb_db_kind;

/* What pb_db_step gives besides errors. */
enum { PB_DB_DONE = 0, PB_DB_ROW = 1 };

/* A column's type in the current row. */
typedef enum {
  PB_DB_NULL = 0,
  PB_DB_INT,
  PB_DB_FLOAT,
  PB_DB_TEXT,
  PB_DB_BLOB,
} pb_db_type;

/* Why the last failed call failed (pb_db_errkind). */
typedef enum {
  PB_DB_ERR_NONE = 0,
  PB_DB_ERR_UNIQUE,  /* a UNIQUE or PRIMARY KEY constraint */
  PB_DB_ERR_FOREIGN, /* a FOREIGN KEY constraint */
  PB_DB_ERR_FULL,    /* the disk is full */
  PB_DB_ERR_BUSY,    /* locked past the busy timeout */
  PB_DB_ERR_CONN,    /* the connection to the server is gone */
  PB_DB_ERR_OTHER,
} pb_db_errkind_t;

/* 1 when spec names a PostgreSQL database ("postgres://" or
 * "postgresql://"), 0 otherwise (a SQLite file path). */
int pb_db_spec_is_postgres(const char *spec);
/* spec fit for a log or an error message: a PostgreSQL URL's password
 * (user:PASSWORD@ or password=) replaced by "***"; a path as it is. Always
 * NUL-terminates out (cap > 0). */
void pb_db_spec_redact(const char *spec, char *out, size_t cap);
/* Opens spec: a SQLite file path (created 0600 if missing; WAL,
 * synchronous=FULL, foreign keys on, busy timeout) or a PostgreSQL URL.
 * PB_ESTORE (logged, without the URL's password) when it cannot. */
int pb_db_open(const char *spec, pb_db **out);
/* NULL is a no-op. Finalize every statement first. */
void pb_db_close(pb_db *db);
pb_db_kind pb_db_kind_of(const pb_db *db);

/* Runs one or several ;-separated statements without parameters.
 * PB_ESTORE / PB_ENOSPACE on failure (logged). */
int pb_db_exec(pb_db *db, const char *sql);
/* pb_db_exec of DDL written in SQLite's dialect, translated for
 * PostgreSQL. */
int pb_db_exec_ddl(pb_db *db, const char *sql);

/* Write transactions (see the top). Commit/rollback end it; rollback after
 * a failed step is always safe, also when no transaction is open. */
int pb_db_begin(pb_db *db);
int pb_db_commit(pb_db *db);
void pb_db_rollback(pb_db *db);

/* A statement of the subset above. PB_ESTORE when it does not compile. The
 * statement may be kept and reused (pb_db_reset) for the db's life. */
int pb_db_prepare(pb_db *db, const char *sql, pb_db_stmt **out);
/* Binds parameter i (1-based). Text is copied; len < 0: up to the NUL. */
int pb_db_bind_int64(pb_db_stmt *st, int i, int64_t v);
int pb_db_bind_text(pb_db_stmt *st, int i, const char *s, int len);
int pb_db_bind_blob(pb_db_stmt *st, int i, const void *p, size_t n);
int pb_db_bind_null(pb_db_stmt *st, int i);
/* Runs the statement (the first call) and moves to the next row:
 * PB_DB_ROW, PB_DB_DONE, or a PB_E* (< 0): PB_EEXIST for a unique
 * violation, PB_ENOSPACE for a full disk, PB_ESTORE otherwise; then
 * pb_db_errkind says which constraint. */
int pb_db_step(pb_db_stmt *st);
pb_db_type pb_db_column_type(pb_db_stmt *st, int col);
/* 0 for NULL; "t"/"f" booleans read 1/0. */
int64_t pb_db_column_int64(pb_db_stmt *st, int col);
/* NULL for NULL; valid until the next step, reset or finalize. */
const char *pb_db_column_text(pb_db_stmt *st, int col);
const void *pb_db_column_blob(pb_db_stmt *st, int col);
size_t pb_db_column_bytes(pb_db_stmt *st, int col);
/* Readies the statement for new bindings (clears them). */
void pb_db_reset(pb_db_stmt *st);
/* NULL is a no-op. */
void pb_db_finalize(pb_db_stmt *st);

/* Rows the last completed INSERT/UPDATE/DELETE changed. */
int64_t pb_db_changes(pb_db *db);
pb_db_errkind_t pb_db_errkind(pb_db *db);
/* The last error's text (static or owned by db). */
const char *pb_db_errmsg(pb_db *db);

#endif
