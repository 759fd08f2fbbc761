/* The store: accounts, tokens, per-account limits, session history and the
 * usage ledger, in one SQLite database (data_dir/ppod.db) or in PostgreSQL
 * (--store postgres://..., several nodes sharing it). SQL goes through
 * core/db.h only, written once in the subset both engines read.
 *
 * Durability: SQLite in WAL with synchronous=FULL, so a committed usage row
 * survives a power cut, not just a process crash (NORMAL may lose the last
 * commits); PostgreSQL's own. Concurrency: one connection per pb_store,
 * guarded by our own mutex held for the whole of each call, so the cached
 * prepared statements and multi-step operations never interleave. Other
 * processes and nodes: every write transaction is pb_db_begin (BEGIN
 * IMMEDIATE on SQLite, the fleet-wide advisory write lock on PostgreSQL). */
#include "core/store.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/credits.h"
#include "core/db.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_NAME "ppod.db"
#define TOKEN_PREFIX "pp_sess_" /* what pb_token_create makes */
#define TOKEN_PREFIX_OLD "ppod_"  /* made before pp_sess_; still accepted */
#define TOKEN_PREFIX_KEEP 7       /* characters kept after the prefix */
#define TOKEN_RAW_BYTES 32
#define TOKEN_B64_LEN 43 /* ceil(32 * 8 / 6), no padding */
#define NAME_MAX_LEN 63
#define REASON_MAX_LEN 31
#define REASON_TEXT_MAX 255
#define ORPHAN_REASON "Shutdown"
#define ORPHAN_TEXT "service stopped unexpectedly"
#define MS_PER_DAY INT64_C(86400000)

/* Schema history. Entry i takes user_version i to i + 1; never edit an entry
 * once released, append a new one. */
static const char *const migrations[] = {
    "CREATE TABLE accounts ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  hash BLOB NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL);"
    "CREATE INDEX tokens_account ON tokens(account_id);"
    "CREATE TABLE usage ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  kind TEXT NOT NULL,"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER,"
    "  ms INTEGER,"
    "  status INTEGER);"
    "CREATE INDEX usage_account_start ON usage(account_id, start_ms);"
    "CREATE INDEX usage_open ON usage(id) WHERE end_ms IS NULL;",

    /* 2: limits (only keys set away from the default), session history, and
     * usage heartbeats so a crash bills up to the last one. */
    "CREATE TABLE limits ("
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  key TEXT NOT NULL,"
    "  value INTEGER NOT NULL,"
    "  PRIMARY KEY (account_id, key)) WITHOUT ROWID;"
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  start_ms INTEGER NOT NULL,"
    "  end_ms INTEGER,"
    "  close_reason TEXT,"
    "  close_reason_text TEXT,"
    "  browser_ms INTEGER,"
    "  last_heartbeat_ms INTEGER);"
    "CREATE INDEX sessions_account_end ON sessions(account_id, end_ms);"
    "CREATE INDEX sessions_open ON sessions(start_ms) WHERE end_ms IS NULL;"
    "ALTER TABLE usage ADD COLUMN last_heartbeat_ms INTEGER;",

    /* 3: tokens and accounts that can be taken back. A token's first
     * characters are kept so an operator can name it without holding it;
     * accounts are disabled or deleted softly, the ledger kept for billing. */
    "ALTER TABLE tokens ADD COLUMN prefix TEXT;"
    "ALTER TABLE tokens ADD COLUMN revoked_ms INTEGER;"
    "CREATE INDEX tokens_prefix ON tokens(prefix);"
    "ALTER TABLE accounts ADD COLUMN disabled_ms INTEGER;"
    "ALTER TABLE accounts ADD COLUMN deleted_ms INTEGER;",

    /* 4: why an agent failed: what its CDP client had refused, and how often
     * a client came and went (NULL for sessions older than this). */
    "ALTER TABLE sessions ADD COLUMN refused_calls INTEGER;"
    "ALTER TABLE sessions ADD COLUMN last_refusal TEXT;"
    "ALTER TABLE sessions ADD COLUMN client_connections INTEGER;"
    "ALTER TABLE sessions ADD COLUMN client_disconnects INTEGER;",
    /* 5: persistent browser contexts. A context's files live under the data
     * dir; the row says whose it is, how big its stored copy is, and which
     * live session holds it (one at a time, across processes too). */
    "CREATE TABLE contexts ("
    "  id TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  name TEXT,"
    "  created_ms INTEGER NOT NULL,"
    "  saved_ms INTEGER,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  session_id TEXT);"
    "CREATE INDEX contexts_account ON contexts(account_id, created_ms);",
    /* 6: the session's last handoff to a person: its state (waiting,
     * completed, timeout) and who ended it (person, agent, timeout). */
    "ALTER TABLE sessions ADD COLUMN handoff_state TEXT;"
    "ALTER TABLE sessions ADD COLUMN handoff_ended_by TEXT;",
    /* 7: crawls (core/crawlstore.c): the job, its frontier and its results
     * in one row per URL, so a restart resumes without fetching a page
     * twice into the results. seq orders the frontier (discovery order),
     * done_seq the results (completion order, the cursor). */
    "CREATE TABLE crawls ("
    "  id TEXT PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  created_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER,"
    "  status TEXT NOT NULL,"
    "  request TEXT NOT NULL,"
    "  error TEXT,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  browser_ms INTEGER NOT NULL DEFAULT 0,"
    "  next_seq INTEGER NOT NULL DEFAULT 0,"
    "  next_done INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX crawls_account ON crawls(account_id, created_ms);"
    "CREATE TABLE crawl_pages ("
    "  crawl_id TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  host TEXT NOT NULL,"
    "  depth INTEGER NOT NULL,"
    "  state INTEGER NOT NULL,"
    "  done_seq INTEGER,"
    "  http_status INTEGER,"
    "  final_url TEXT,"
    "  title TEXT,"
    "  error TEXT,"
    "  result TEXT,"
    "  bytes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (crawl_id, url)) WITHOUT ROWID;"
    "CREATE INDEX crawl_pages_frontier ON crawl_pages(crawl_id, state, seq);"
    "CREATE INDEX crawl_pages_done ON crawl_pages(crawl_id, done_seq);",
    /* 8: sign-in by email (core/logincodes.c): an account's email (unique
     * whatever its case; kept lower-cased), the emails the operator invited,
     * and the magic link codes, only their SHA-256 kept. */
    "ALTER TABLE accounts ADD COLUMN email TEXT;"
    "CREATE UNIQUE INDEX accounts_email ON accounts(email COLLATE NOCASE)"
    " WHERE email IS NOT NULL;"
    "CREATE TABLE login_invites ("
    "  email TEXT PRIMARY KEY COLLATE NOCASE,"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE login_codes ("
    "  hash BLOB PRIMARY KEY,"
    "  email TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL,"
    "  used_ms INTEGER);"
    "CREATE INDEX login_codes_expires ON login_codes(expires_ms);",
    /* 9: credits (core/credits.h). An account's balance in micro-credits,
     * NULL for an unmetered account (every account made before this, and
     * those the operator makes without a credit); each grant, kept for the
     * audit; and on each ledger row the price it is debited at (fixed when
     * it opens, NULL: not debited) and what it has taken from the balance
     * so far, moved in the transaction that moves its heartbeat or end. */
    "ALTER TABLE accounts ADD COLUMN balance_micro INTEGER;"
    "ALTER TABLE usage ADD COLUMN price_micro INTEGER;"
    "ALTER TABLE usage ADD COLUMN debit_micro INTEGER;"
    "CREATE TABLE credits ("
    "  id INTEGER PRIMARY KEY,"
    "  account_id INTEGER NOT NULL REFERENCES accounts(id),"
    "  micro INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL,"
    "  note TEXT);"
    "CREATE INDEX credits_account ON credits(account_id);",
    /* 10: the cluster's nodes (core/nodes.c), one row per incarnation, and
     * on each ledger and history row the node that holds it, so a node's
     * death closes its rows and only its rows. */
    "CREATE TABLE nodes ("
    "  tag TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  capacity INTEGER NOT NULL,"
    "  sessions INTEGER NOT NULL DEFAULT 0,"
    "  state TEXT NOT NULL,"
    "  started_ms INTEGER NOT NULL,"
    "  heartbeat_ms INTEGER NOT NULL,"
    "  ended_ms INTEGER);"
    "ALTER TABLE usage ADD COLUMN node TEXT;"
    "ALTER TABLE sessions ADD COLUMN node TEXT;"
    "CREATE INDEX usage_node_open ON usage(node) WHERE end_ms IS NULL;"
    "CREATE INDEX sessions_node_open ON sessions(node) WHERE end_ms IS NULL;",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* The rows a node's startup recovery may touch: all (?N NULL: no node
 * set), else those of no node or of node ?N, never another node's. */
#define NODE_SCOPE(n) \
  "(CAST(?" #n " AS TEXT) IS NULL OR node IS NULL OR node = CAST(?" #n " AS TEXT))"

enum {
  ST_ACCOUNT_INSERT,
  ST_ACCOUNT_FIND,
  ST_ACCOUNT_LIST,
  ST_ACCOUNT_EXISTS,
  ST_TOKEN_INSERT,
  ST_TOKEN_LOOKUP,
  ST_USAGE_BEGIN,
  ST_USAGE_END,
  ST_USAGE_IS_OPEN,
  ST_USAGE_CLOSE_OPEN,
  ST_USAGE_TOTAL,
  ST_USAGE_HEARTBEAT,
  ST_USAGE_SUM,
  ST_USAGE_BY_KIND,
  ST_LIMITS_GET,
  ST_LIMITS_SET,
  ST_LIMITS_RESET,
  ST_SESSION_OPEN,
  ST_SESSION_HEARTBEAT,
  ST_SESSION_CLOSE,
  ST_SESSION_IS_OPEN,
  ST_SESSION_CLOSE_ORPHANS,
  ST_SESSION_HISTORY,
  ST_USAGE_OPEN_COUNT,
  ST_TOKEN_STATUS,
  ST_TOKEN_MATCH,
  ST_TOKEN_REVOKE,
  ST_TOKEN_LIST,
  ST_ACCOUNT_SET_DISABLED,
  ST_ACCOUNT_DELETE,
  ST_SESSION_STATS,
  ST_SESSION_HANDOFF,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_ACCOUNT_INSERT] = "INSERT INTO accounts(name, created_ms) VALUES (?1, ?2)",
    [ST_ACCOUNT_FIND] = "SELECT id FROM accounts WHERE name = ?1 AND deleted_ms IS NULL",
    [ST_ACCOUNT_LIST] =
        "SELECT id, name, created_ms, disabled_ms, deleted_ms FROM accounts"
        " ORDER BY id",
    [ST_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE id = ?1",
    [ST_TOKEN_INSERT] =
        "INSERT INTO tokens(account_id, hash, created_ms, expires_ms, prefix)"
        " VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_TOKEN_LOOKUP] =
        "SELECT t.id, t.hash, t.expires_ms, a.id, a.name, t.revoked_ms,"
        " a.disabled_ms, a.deleted_ms, a.email IS NOT NULL FROM tokens t"
        " JOIN accounts a ON a.id = t.account_id WHERE t.hash = ?1",
    [ST_TOKEN_STATUS] =
        "SELECT t.expires_ms, t.revoked_ms, a.disabled_ms, a.deleted_ms"
        " FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = ?1",
    /* By hash (?1) or by the start of the kept prefix (?2); '_' in a prefix
     * is a LIKE wildcard, hence substr. */
    [ST_TOKEN_MATCH] =
        "SELECT id FROM tokens WHERE hash = ?1"
        " OR (CAST(?2 AS TEXT) IS NOT NULL"
        " AND substr(prefix, 1, length(CAST(?2 AS TEXT))) = CAST(?2 AS TEXT)) LIMIT 2",
    [ST_TOKEN_REVOKE] = "UPDATE tokens SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
    [ST_TOKEN_LIST] =
        "SELECT id, prefix, created_ms, expires_ms, revoked_ms FROM tokens"
        " WHERE account_id = ?1 ORDER BY id",
    [ST_ACCOUNT_SET_DISABLED] = "UPDATE accounts SET disabled_ms = ?2 WHERE id = ?1",
    [ST_ACCOUNT_DELETE] =
        "UPDATE accounts SET deleted_ms = ?2 WHERE id = ?1 AND deleted_ms IS NULL",
    [ST_USAGE_BEGIN] = "INSERT INTO usage(account_id, kind, start_ms, price_micro, debit_micro,"
                       " node) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
    /* A wall clock stepped backwards must not bill negative time. */
    [ST_USAGE_END] = "UPDATE usage SET end_ms = ?2, ms = MAX(0, ?2 - start_ms), status = ?3"
                     " WHERE id = ?1 AND end_ms IS NULL",
    [ST_USAGE_OPEN_COUNT] = "SELECT count(*) FROM usage WHERE end_ms IS NULL",
    [ST_USAGE_IS_OPEN] = "SELECT end_ms IS NULL FROM usage WHERE id = ?1",
    /* A row orphaned by a crash is billed up to its last heartbeat (stored
     * never below start_ms), status 0 ("interrupted"). The WHERE makes a
     * second run a no-op; ?1 (the node scope, NULL = all) spares the rows
     * of the cluster's other nodes. */
    [ST_USAGE_CLOSE_OPEN] = "UPDATE usage SET end_ms = COALESCE(last_heartbeat_ms, start_ms),"
                            " ms = COALESCE(last_heartbeat_ms, start_ms) - start_ms, status = 0"
                            " WHERE end_ms IS NULL AND " NODE_SCOPE(1),
    [ST_USAGE_TOTAL] = "SELECT CAST(COALESCE(SUM(ms), 0) AS BIGINT) FROM usage"
                       " WHERE account_id = ?1 AND start_ms >= ?2 AND end_ms IS NOT NULL",
    /* MAX: a heartbeat never moves back, nor before the start. */
    [ST_USAGE_HEARTBEAT] = "UPDATE usage SET last_heartbeat_ms ="
                           " MAX(COALESCE(last_heartbeat_ms, start_ms), CAST(?2 AS BIGINT))"
                           " WHERE id = ?1 AND end_ms IS NULL",
    [ST_USAGE_SUM] = "SELECT CAST(COALESCE(SUM(ms), 0) AS BIGINT), COUNT(*) FROM usage"
                     " WHERE account_id = ?1"
                     " AND start_ms >= ?2 AND start_ms < ?3 AND end_ms IS NOT NULL",
    [ST_USAGE_BY_KIND] = "SELECT kind, CAST(COALESCE(SUM(ms), 0) AS BIGINT), COUNT(*) FROM usage"
                         " WHERE account_id = ?1 AND start_ms >= ?2 AND start_ms < ?3"
                         " AND end_ms IS NOT NULL GROUP BY kind ORDER BY kind",
    /* No row: no such account; one row with a NULL key: nothing set. */
    [ST_LIMITS_GET] = "SELECT l.key, l.value FROM accounts a"
                      " LEFT JOIN limits l ON l.account_id = a.id WHERE a.id = ?1",
    [ST_LIMITS_SET] = "INSERT INTO limits(account_id, key, value) VALUES (?1, ?2, ?3)"
                      " ON CONFLICT(account_id, key) DO UPDATE SET value = excluded.value",
    [ST_LIMITS_RESET] = "DELETE FROM limits WHERE account_id = ?1 AND key = ?2",
    [ST_SESSION_OPEN] = "INSERT INTO sessions(id, account_id, start_ms, node)"
                        " VALUES (?1, ?2, ?3, ?4)",
    [ST_SESSION_HEARTBEAT] = "UPDATE sessions SET last_heartbeat_ms ="
                             " MAX(COALESCE(last_heartbeat_ms, start_ms), CAST(?2 AS BIGINT))"
                             " WHERE id = ?1 AND end_ms IS NULL",
    [ST_SESSION_CLOSE] = "UPDATE sessions SET end_ms = ?2, browser_ms = MAX(0, ?2 - start_ms),"
                         " close_reason = ?3, close_reason_text = ?4"
                         " WHERE id = ?1 AND end_ms IS NULL",
    [ST_SESSION_IS_OPEN] = "SELECT end_ms IS NULL FROM sessions WHERE id = ?1",
    /* End = last heartbeat (start if none), but not past now: a heartbeat
     * stamped by a clock that ran ahead is not billed. Never before start. */
    [ST_SESSION_CLOSE_ORPHANS] =
        "UPDATE sessions SET"
        " end_ms = MAX(start_ms, MIN(COALESCE(last_heartbeat_ms, start_ms), CAST(?1 AS BIGINT))),"
        " browser_ms = MAX(start_ms, MIN(COALESCE(last_heartbeat_ms, start_ms),"
        " CAST(?1 AS BIGINT))) - start_ms,"
        " close_reason = ?2, close_reason_text = ?3 WHERE end_ms IS NULL AND " NODE_SCOPE(4),
    [ST_SESSION_HISTORY] = "SELECT id, start_ms, end_ms, browser_ms, close_reason,"
                           " close_reason_text, refused_calls, last_refusal,"
                           " client_connections, client_disconnects, handoff_state,"
                           " handoff_ended_by FROM sessions"
                           " WHERE account_id = ?1 AND end_ms IS NOT NULL"
                           " ORDER BY end_ms DESC, start_ms DESC, id DESC LIMIT ?2",
    [ST_SESSION_STATS] = "UPDATE sessions SET refused_calls = ?2, last_refusal = ?3,"
                         " client_connections = ?4, client_disconnects = ?5 WHERE id = ?1",
    [ST_SESSION_HANDOFF] = "UPDATE sessions SET handoff_state = ?2, handoff_ended_by = ?3"
                           " WHERE id = ?1",
};

/* Credits: the statements that move a balance with its ledger row. */
enum {
  CST_ROW,
  CST_ROW_DEBIT,
  CST_BALANCE,
  CST_BALANCE_SET,
  CST_GRANT,
  CST_OPEN_PRICED,
  CST_COUNT
};
static const char *const cst_sql[CST_COUNT] = {
    [CST_ROW] = "SELECT account_id, start_ms, end_ms, ms, last_heartbeat_ms, price_micro,"
                " debit_micro FROM usage WHERE id = ?1",
    [CST_ROW_DEBIT] = "UPDATE usage SET debit_micro = ?2 WHERE id = ?1",
    [CST_BALANCE] = "SELECT balance_micro FROM accounts WHERE id = ?1",
    [CST_BALANCE_SET] = "UPDATE accounts SET balance_micro = ?2 WHERE id = ?1",
    [CST_GRANT] = "INSERT INTO credits(account_id, micro, at_ms, note) VALUES (?1, ?2, ?3, ?4)",
    [CST_OPEN_PRICED] = "SELECT id FROM usage WHERE end_ms IS NULL AND price_micro IS NOT NULL"
                        " AND " NODE_SCOPE(1),
};

struct pb_store {
  pb_db *db;
  pb_db_kind kind;
  pthread_mutex_t mu;
  pb_db_stmt *st[ST_COUNT];
  pb_db_stmt *cst[CST_COUNT];
  int64_t price_micro, signup_micro; /* pb_store_set_credit_terms */
  char node[8];                      /* pb_store_set_node; "" = none */
  char *spec;                        /* what was opened: file path or URL */
};

/* Logs the engine's reason and maps every database failure to PB_ESTORE (a
 * full disk to PB_ENOSPACE). rc: what the failed call returned. Call with
 * the lock held, before resetting the statement. */
static int store_fail(pb_store *s, int rc, const char *what) {
  PB_ERR("store: %s: %s (%d)", what, pb_db_errmsg(s->db), rc);
  /* A full disk is the operator's to fix, and clients are told so. */
  if (rc == PB_ENOSPACE || pb_db_errkind(s->db) == PB_DB_ERR_FULL) return PB_ENOSPACE;
  return PB_ESTORE;
}

/* A step failed on a FOREIGN KEY constraint (a row naming no account). */
static int fk_failed(pb_store *s, int rc) {
  return rc < 0 && rc != PB_EEXIST && pb_db_errkind(s->db) == PB_DB_ERR_FOREIGN;
}

/* The node tag to bind (NULL when none), lock held. */
static const char *node_or_null(const pb_store *s) { return s->node[0] ? s->node : NULL; }

static int bind_text_or_null(pb_db_stmt *st, int i, const char *v) {
  return v ? pb_db_bind_text(st, i, v, -1) : pb_db_bind_null(st, i);
}

static void lock(pb_store *s) { pthread_mutex_lock(&s->mu); }
static void unlock(pb_store *s) { pthread_mutex_unlock(&s->mu); }

/* [A-Za-z0-9_.-], 1..max chars: safe in logs, URLs and shell arguments. */
static int valid_word(const char *w, size_t max) {
  if (!w) return 0;
  size_t n = 0;
  for (const char *p = w; *p; p++, n++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == '-';
    if (!ok || n >= max) return 0;
  }
  return n > 0;
}

static int valid_name(const char *name) { return valid_word(name, NAME_MAX_LEN); }

/* mkdir -p: missing components are created 0700; existing ones are left as
 * they are (the operator may have chosen them). */
static int mkdir_p(const char *path) {
  char buf[PATH_MAX];
  if (!path || !*path) return PB_EINVAL;
  if (pb_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) return PB_ETOOBIG;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0700) && errno != EEXIST) {
      PB_ERR("store: mkdir %s: %s", buf, strerror(errno));
      return PB_EIO;
    }
    *p = '/';
  }
  if (mkdir(buf, 0700) && errno != EEXIST) {
    PB_ERR("store: mkdir %s: %s", buf, strerror(errno));
    return PB_EIO;
  }
  struct stat st;
  if (stat(buf, &st) || !S_ISDIR(st.st_mode)) {
    PB_ERR("store: %s is not a directory", buf);
    return PB_EIO;
  }
  if (st.st_mode & 077) PB_WARN("store: data dir %s is accessible to other users", buf);
  return 0;
}

static int exec_sql(pb_store *s, const char *sql) { return pb_db_exec(s->db, sql); }

/* Runs a statement that returns one number (the schema version). */
static int query_int(pb_store *s, const char *sql, int64_t *num) {
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(s->db, sql, &st);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    *num = pb_db_column_int64(st, 0);
  } else if (rc == PB_DB_DONE) {
    PB_ERR("store: %s returned no row", sql);
    r = PB_ESTORE;
  } else {
    r = store_fail(s, rc, sql);
  }
  pb_db_finalize(st);
  return r;
}

/* Brings the schema to SCHEMA_VERSION in one write transaction (BEGIN
 * IMMEDIATE on SQLite, the fleet's write lock on PostgreSQL), so two
 * processes or nodes opening a fresh database at once cannot both migrate.
 * The version: PRAGMA user_version on SQLite (as data dirs made before
 * PostgreSQL have it), the one row of schema_version on PostgreSQL. */
static int migrate(pb_store *s) {
  int pg = s->kind == PB_DB_POSTGRES;
  int rc = pb_db_begin(s->db);
  if (rc) return rc;
  int64_t version = 0;
  if (pg) {
    rc = pb_db_exec_ddl(s->db,
                        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    if (!rc)
      rc = query_int(s, "SELECT COALESCE(MAX(version), 0) FROM schema_version", &version);
  } else {
    rc = query_int(s, "PRAGMA user_version", &version);
  }
  if (rc) goto rollback;
  if (version < 0 || version > SCHEMA_VERSION) {
    PB_ERR("store: database schema version %lld is not one this build knows (0..%d)",
           (long long)version, SCHEMA_VERSION);
    rc = PB_ESTORE;
    goto rollback;
  }
  for (int64_t i = version; i < SCHEMA_VERSION; i++)
    if ((rc = pb_db_exec_ddl(s->db, migrations[i]))) goto rollback;
  if (version < SCHEMA_VERSION) {
    char set[128];
    if (pg)
      snprintf(set, sizeof(set),
               "DELETE FROM schema_version; INSERT INTO schema_version(version) VALUES (%d)",
               SCHEMA_VERSION);
    else
      snprintf(set, sizeof(set), "PRAGMA user_version = %d", SCHEMA_VERSION);
    if ((rc = exec_sql(s, set))) goto rollback;
  }
  if ((rc = pb_db_commit(s->db))) goto rollback;
  if (version < SCHEMA_VERSION)
    PB_INFO("store: schema migrated from version %lld to %d", (long long)version, SCHEMA_VERSION);
  return 0;
rollback:
  pb_db_rollback(s->db);
  return rc;
}

static int prepare_all(pb_store *s) {
  for (int i = 0; i < ST_COUNT; i++) {
    int rc = pb_db_prepare(s->db, stmt_sql[i], &s->st[i]);
    if (rc) return store_fail(s, rc, stmt_sql[i]);
  }
  for (int i = 0; i < CST_COUNT; i++) {
    int rc = pb_db_prepare(s->db, cst_sql[i], &s->cst[i]);
    if (rc) return store_fail(s, rc, cst_sql[i]);
  }
  return 0;
}

int pb_store_open(const char *data_dir, pb_store **out) {
  return pb_store_open_spec(NULL, data_dir, out);
}

int pb_store_open_spec(const char *spec, const char *data_dir, pb_store **out) {
  if (!out) return PB_EINVAL;
  *out = NULL;
  char path[PATH_MAX];
  int rc;
  if (spec && *spec) {
    /* A PostgreSQL URL, or a SQLite file path of the caller's choosing. */
    if (pb_strlcpy(path, spec, sizeof(path)) >= sizeof(path)) return PB_ETOOBIG;
  } else {
    if ((rc = mkdir_p(data_dir))) return rc;
    int n = snprintf(path, sizeof(path), "%s/%s", data_dir, DB_NAME);
    if (n < 0 || (size_t)n >= sizeof(path)) return PB_ETOOBIG;
  }

  pb_store *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->price_micro = PB_PRICE_DEFAULT_MICRO;
  s->signup_micro = PB_SIGNUP_CREDIT_DEFAULT_MICRO;
  if (pthread_mutex_init(&s->mu, NULL)) {
    free(s);
    return PB_ENOMEM;
  }
  if (!(s->spec = strdup(path))) {
    rc = PB_ENOMEM;
    goto fail;
  }
  if ((rc = pb_db_open(path, &s->db))) goto fail;
  s->kind = pb_db_kind_of(s->db);
  if ((rc = migrate(s))) goto fail;
  if ((rc = prepare_all(s))) goto fail;
  *out = s;
  return 0;
fail:
  pb_store_close(s);
  return rc;
}

const char *pb_store_db_spec(pb_store *s) { return s ? s->spec : NULL; }

void pb_store_close(pb_store *s) {
  if (!s) return;
  for (int i = 0; i < ST_COUNT; i++) pb_db_finalize(s->st[i]);
  for (int i = 0; i < CST_COUNT; i++) pb_db_finalize(s->cst[i]);
  pb_db_close(s->db);
  pthread_mutex_destroy(&s->mu);
  free(s->spec);
  free(s);
}

/* Steps a bound write (rc: the result of binding it), readies the statement
 * again and reports the rows changed. Lock held. */
static int finish_write(pb_store *s, pb_db_stmt *st, int rc, const char *what, int *changed) {
  if (rc == 0) rc = pb_db_step(st);
  int r = rc == PB_DB_DONE ? 0 : store_fail(s, rc, what);
  *changed = r ? 0 : (int)pb_db_changes(s->db);
  pb_db_reset(st);
  return r;
}

/* After an "UPDATE ... WHERE id = ? AND end_ms IS NULL" changed nothing: the
 * id is unknown (PB_ENOTFOUND) or the row is closed (PB_EEXIST). is_open
 * takes the id as ?1: text_id when not NULL, else id. Lock held. */
static int why_unchanged(pb_store *s, pb_db_stmt *is_open, int64_t id, const char *text_id,
                         const char *what) {
  int rc = text_id ? pb_db_bind_text(is_open, 1, text_id, -1)
                   : pb_db_bind_int64(is_open, 1, id);
  if (rc == 0) rc = pb_db_step(is_open);
  int r;
  if (rc == PB_DB_ROW)
    r = pb_db_column_int64(is_open, 0) ? 0 : PB_EEXIST;
  else if (rc == PB_DB_DONE)
    r = PB_ENOTFOUND;
  else
    r = store_fail(s, rc, what);
  pb_db_reset(is_open);
  return r;
}

int pb_account_name_valid(const char *name) { return valid_name(name); }

int pb_account_create(pb_store *s, const char *name, int64_t *account_id) {
  return pb_account_create_email(s, name, NULL, account_id);
}

int pb_account_find(pb_store *s, const char *name, int64_t *account_id) {
  if (!s || !name) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_ACCOUNT_FIND];
  int rc = pb_db_bind_text(st, 1, name, -1);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    if (account_id) *account_id = pb_db_column_int64(st, 0);
  } else if (rc == PB_DB_DONE) {
    r = PB_ENOTFOUND;
  } else {
    r = store_fail(s, rc, "account find");
  }
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_account_list(pb_store *s, pb_account **out, size_t *n) {
  if (!s || !out || !n) return PB_EINVAL;
  *out = NULL;
  *n = 0;
  pb_account *v = NULL;
  size_t len = 0, alloc = 0;
  int r = 0, rc;
  lock(s);
  pb_db_stmt *st = s->st[ST_ACCOUNT_LIST];
  while ((rc = pb_db_step(st)) == PB_DB_ROW) {
    if (len == alloc) {
      size_t na = alloc ? alloc * 2 : 16;
      pb_account *nv = realloc(v, na * sizeof(*v));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      v = nv;
      alloc = na;
    }
    pb_account *a = &v[len++];
    a->id = pb_db_column_int64(st, 0);
    const char *name = pb_db_column_text(st, 1);
    pb_strlcpy(a->name, name ? name : "", sizeof(a->name));
    a->created_ms = pb_db_column_int64(st, 2);
    a->disabled_ms = pb_db_column_int64(st, 3);
    a->deleted_ms = pb_db_column_int64(st, 4);
  }
  if (!r && rc != PB_DB_DONE) r = store_fail(s, rc, "account list");
  pb_db_reset(st);
  unlock(s);
  if (r) {
    free(v);
    return r;
  }
  *out = v;
  *n = len;
  return 0;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Unpadded base64url; out has room for ceil(n * 4 / 3) chars plus NUL. */
static void b64url_encode(const unsigned char *in, size_t n, char *out) {
  size_t j = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[j++] = b64url[(v >> 18) & 63];
    out[j++] = b64url[(v >> 12) & 63];
    if (i + 1 < n) out[j++] = b64url[(v >> 6) & 63];
    if (i + 2 < n) out[j++] = b64url[v & 63];
  }
  out[j] = '\0';
}

static int fill_random(unsigned char *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = getrandom(buf + got, n - got, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      PB_ERR("store: getrandom: %s", strerror(errno));
      return PB_EIO;
    }
    got += (size_t)k;
  }
  return 0;
}

/* The length of the token family's prefix t starts with ("pp_sess_", or
 * "ppod_" for tokens made before it), 0 for neither. */
static size_t token_family(const char *t) {
  if (!t) return 0;
  if (!strncmp(t, TOKEN_PREFIX, sizeof(TOKEN_PREFIX) - 1)) return sizeof(TOKEN_PREFIX) - 1;
  if (!strncmp(t, TOKEN_PREFIX_OLD, sizeof(TOKEN_PREFIX_OLD) - 1))
    return sizeof(TOKEN_PREFIX_OLD) - 1;
  return 0;
}

/* The exact shapes tokens have (a prefix and 43 base64url characters);
 * anything else is rejected before touching the database. */
static int token_well_formed(const char *t) {
  size_t plen = token_family(t);
  if (!plen) return 0;
  t += plen;
  size_t n = 0;
  for (; t[n]; n++)
    if (n >= TOKEN_B64_LEN || !memchr(b64url, t[n], sizeof(b64url) - 1)) return 0;
  return n == TOKEN_B64_LEN;
}

int pb_token_create(pb_store *s, int64_t account_id, int ttl_days, char token_out[PB_TOKEN_MAX]) {
  if (ttl_days <= 0 || ttl_days > PB_TOKEN_MAX_TTL_DAYS) return PB_EINVAL;
  return pb_token_create_ttl_ms(s, account_id, ttl_days * MS_PER_DAY, token_out);
}

int pb_token_create_ttl_ms(pb_store *s, int64_t account_id, int64_t ttl_ms,
                           char token_out[PB_TOKEN_MAX]) {
  if (!s || !token_out || ttl_ms <= 0 || ttl_ms > PB_TOKEN_MAX_TTL_DAYS * MS_PER_DAY)
    return PB_EINVAL;
  unsigned char raw[TOKEN_RAW_BYTES], hash[32];
  char tok[PB_TOKEN_MAX];
  int r = fill_random(raw, sizeof(raw));
  if (r) return r;
  size_t plen = pb_strlcpy(tok, TOKEN_PREFIX, sizeof(tok));
  b64url_encode(raw, sizeof(raw), tok + plen);
  explicit_bzero(raw, sizeof(raw));
  pb_sha256(tok, strlen(tok), hash);

  int64_t now = pb_wall_ms();
  lock(s);
  pb_db_stmt *st = s->st[ST_TOKEN_INSERT];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_bind_blob(st, 2, hash, sizeof(hash));
  if (rc == 0) rc = pb_db_bind_int64(st, 3, now);
  if (rc == 0) rc = pb_db_bind_int64(st, 4, now + ttl_ms);
  if (rc == 0)
    rc = pb_db_bind_text(st, 5, tok, (int)(plen + TOKEN_PREFIX_KEEP));
  if (rc == 0) rc = pb_db_step(st);
  if (fk_failed(s, rc))
    r = PB_ENOTFOUND;
  else if (rc != PB_DB_DONE)
    r = store_fail(s, rc, "token create");
  pb_db_reset(st);
  unlock(s);
  if (!r) pb_strlcpy(token_out, tok, PB_TOKEN_MAX);
  explicit_bzero(tok, sizeof(tok));
  return r;
}

/* What a token's expiry (column exp) and its revoked, disabled and deleted
 * times (columns st_col, +1, +2) say at now_ms; deleted outranks the rest. */
static int token_state(pb_db_stmt *st, int exp, int st_col, int64_t now_ms) {
  if (pb_db_column_type(st, st_col + 2) != PB_DB_NULL) return PB_EDELETED;
  if (pb_db_column_type(st, st_col + 1) != PB_DB_NULL) return PB_EDISABLED;
  if (pb_db_column_type(st, st_col) != PB_DB_NULL) return PB_EREVOKED;
  if (now_ms >= pb_db_column_int64(st, exp)) return PB_EEXPIRED;
  return 0;
}

int pb_token_status(pb_store *s, int64_t token_id, int64_t now_ms) {
  if (!s) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_TOKEN_STATUS];
  int rc = pb_db_bind_int64(st, 1, token_id);
  if (rc == 0) rc = pb_db_step(st);
  int r;
  if (rc == PB_DB_ROW)
    r = token_state(st, 0, 1, now_ms);
  else if (rc == PB_DB_DONE)
    r = PB_ENOTFOUND;
  else
    r = store_fail(s, rc, "token status");
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_token_revoke(pb_store *s, const char *token_or_prefix, int64_t now_ms, int64_t *token_id) {
  if (!s || !token_or_prefix) return PB_EINVAL;
  int full = token_well_formed(token_or_prefix);
  size_t n = strlen(token_or_prefix);
  size_t plen = token_family(token_or_prefix);
  if (!full && (!plen || n < plen + 3 || n > plen + TOKEN_PREFIX_KEEP ||
                strspn(token_or_prefix + plen, b64url) != n - plen))
    return PB_EINVAL;
  unsigned char hash[32];
  pb_sha256(token_or_prefix, n, hash);
  lock(s);
  pb_db_stmt *st = s->st[ST_TOKEN_MATCH];
  int rc = pb_db_bind_blob(st, 1, hash, sizeof(hash));
  if (rc == 0)
    rc = full ? pb_db_bind_null(st, 2)
              : pb_db_bind_text(st, 2, token_or_prefix, -1);
  int found = 0, r = 0;
  int64_t id = 0;
  while (rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    id = pb_db_column_int64(st, 0);
    found++;
    rc = 0;
  }
  if (rc != PB_DB_DONE && rc != 0) r = store_fail(s, rc, "token match");
  pb_db_reset(st);
  if (!r && found == 0) r = PB_ENOTFOUND;
  if (!r && found > 1) r = PB_EEXIST; /* ambiguous prefix: nothing revoked */
  if (!r) {
    int changed = 0;
    st = s->st[ST_TOKEN_REVOKE];
    rc = pb_db_bind_int64(st, 1, id);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, now_ms);
    r = finish_write(s, st, rc, "token revoke", &changed);
  }
  unlock(s);
  if (!r && token_id) *token_id = id;
  return r;
}

int pb_token_list(pb_store *s, int64_t account_id, pb_token_info **out, size_t *n) {
  if (!s || !out || !n) return PB_EINVAL;
  *out = NULL;
  *n = 0;
  pb_token_info *v = NULL;
  size_t len = 0, alloc = 0;
  int r = 0;
  lock(s);
  pb_db_stmt *st = s->st[ST_TOKEN_LIST];
  int rc = pb_db_bind_int64(st, 1, account_id);
  while (rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    rc = 0;
    if (len == alloc) {
      size_t na = alloc ? alloc * 2 : 8;
      pb_token_info *nv = realloc(v, na * sizeof(*v));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      v = nv;
      alloc = na;
    }
    pb_token_info *t = &v[len++];
    memset(t, 0, sizeof(*t));
    t->id = pb_db_column_int64(st, 0);
    const char *p = pb_db_column_text(st, 1);
    pb_strlcpy(t->prefix, p ? p : "", sizeof(t->prefix));
    t->created_ms = pb_db_column_int64(st, 2);
    t->expires_ms = pb_db_column_int64(st, 3);
    t->revoked_ms = pb_db_column_int64(st, 4);
  }
  if (!r && rc != PB_DB_DONE) r = store_fail(s, rc, "token list");
  pb_db_reset(st);
  unlock(s);
  if (r) {
    free(v);
    return r;
  }
  *out = v;
  *n = len;
  return 0;
}

int pb_account_set_disabled(pb_store *s, int64_t account_id, int disabled, int64_t now_ms) {
  if (!s) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_ACCOUNT_SET_DISABLED];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = disabled ? pb_db_bind_int64(st, 2, now_ms) : pb_db_bind_null(st, 2);
  int changed = 0;
  int r = finish_write(s, st, rc, "account disable", &changed);
  unlock(s);
  if (!r && !changed) r = PB_ENOTFOUND;
  return r;
}

int pb_account_delete(pb_store *s, int64_t account_id, int64_t now_ms) {
  if (!s) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_ACCOUNT_DELETE];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, now_ms);
  int changed = 0;
  int r = finish_write(s, st, rc, "account delete", &changed);
  unlock(s);
  if (!r && !changed) r = PB_ENOTFOUND;
  return r;
}

int pb_token_check(pb_store *s, const char *token, int64_t now_ms, pb_auth *out) {
  if (!s || !token_well_formed(token)) return PB_EINVAL;
  unsigned char hash[32];
  pb_sha256(token, strlen(token), hash);
  lock(s);
  pb_db_stmt *st = s->st[ST_TOKEN_LOOKUP];
  int rc = pb_db_bind_blob(st, 1, hash, sizeof(hash));
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    /* The index found the row by hash; compare again without early exit so
     * the answer never depends on where two hashes differ. */
    const unsigned char *h = pb_db_column_blob(st, 1);
    unsigned char diff = (int)pb_db_column_bytes(st, 1) != (int)sizeof(hash) || !h;
    for (size_t i = 0; !diff && i < sizeof(hash); i++) diff |= h[i] ^ hash[i];
    if (diff) {
      r = PB_EINVAL;
    } else {
      int64_t expires = pb_db_column_int64(st, 2);
      if (out) {
        memset(out, 0, sizeof(*out));
        out->token_id = pb_db_column_int64(st, 0);
        out->expires_ms = expires;
        out->account_id = pb_db_column_int64(st, 3);
        const char *name = pb_db_column_text(st, 4);
        pb_strlcpy(out->account, name ? name : "", sizeof(out->account));
        out->has_email = pb_db_column_int64(st, 8);
      }
      r = token_state(st, 2, 5, now_ms);
    }
  } else if (rc == PB_DB_DONE) {
    r = PB_EINVAL;
  } else {
    r = store_fail(s, rc, "token check");
  }
  pb_db_reset(st);
  unlock(s);
  return r;
}

/* ---- Credits: the balance moves with the ledger ----
 * A row's debit is what its billed time costs at the price it opened with
 * (pb_credit_debit: per started second). Each write that moves a row's
 * billed time (heartbeat, end, the close of rows a crash left open) brings
 * its debit_micro to that cost and moves the difference from its account's
 * balance in the same transaction: a debit is never lost nor made twice,
 * and balance = credits granted - debits of its rows, always. */

/* Opens the write transaction (BEGIN IMMEDIATE / the fleet's write lock). */
static int tx_begin(pb_store *s) {
  int rc = pb_db_begin(s->db);
  return rc == 0 ? 0 : store_fail(s, rc, "begin");
}

/* Commits when r is 0, else (or when the commit fails) rolls back. */
static int tx_end(pb_store *s, int r) {
  if (!r && !(r = pb_db_commit(s->db))) return 0;
  if (r == PB_ESTORE || r == PB_ENOSPACE) r = store_fail(s, r, "commit");
  pb_db_rollback(s->db);
  return r;
}

/* The account's balance: *metered 0 when it has none. PB_ENOTFOUND for an
 * unknown id. Lock held. */
static int balance_read(pb_store *s, int64_t account_id, int64_t *micro, int *metered) {
  pb_db_stmt *st = s->cst[CST_BALANCE];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    *metered = pb_db_column_type(st, 0) != PB_DB_NULL;
    *micro = *metered ? pb_db_column_int64(st, 0) : 0;
  } else {
    r = rc == PB_DB_DONE ? PB_ENOTFOUND : store_fail(s, rc, "balance");
  }
  pb_db_reset(st);
  return r;
}

static int write2(pb_store *s, int which, int64_t a, int64_t b, const char *what) {
  pb_db_stmt *st = s->cst[which];
  int rc = pb_db_bind_int64(st, 1, a);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, b);
  int changed = 0;
  return finish_write(s, st, rc, what, &changed);
}

/* Brings the row's debit to the cost of its billed time, moving the
 * difference from its account's balance; out (may be NULL) gets where the
 * row stands. Lock held, in a transaction. */
static int settle(pb_store *s, int64_t usage_id, pb_usage_credit *out) {
  if (out) memset(out, 0, sizeof(*out));
  pb_db_stmt *st = s->cst[CST_ROW];
  int rc = pb_db_bind_int64(st, 1, usage_id);
  if (rc == 0) rc = pb_db_step(st);
  if (rc != PB_DB_ROW) {
    int r = rc == PB_DB_DONE ? PB_ENOTFOUND : store_fail(s, rc, "usage settle");
    pb_db_reset(st);
    return r;
  }
  int64_t account_id = pb_db_column_int64(st, 0), start = pb_db_column_int64(st, 1);
  int closed = pb_db_column_type(st, 2) != PB_DB_NULL;
  int beaten = pb_db_column_type(st, 4) != PB_DB_NULL;
  /* As the ledger bills it: ms once closed, else up to the last heartbeat. */
  int64_t billed = closed   ? pb_db_column_int64(st, 3)
                   : beaten ? pb_db_column_int64(st, 4) - start
                            : 0;
  int priced = pb_db_column_type(st, 5) != PB_DB_NULL;
  int64_t price = pb_db_column_int64(st, 5), old = pb_db_column_int64(st, 6);
  pb_db_reset(st);
  if (!priced) return 0; /* opened unmetered: never debited */
  int64_t debit = pb_credit_debit(price, billed), balance = 0;
  int metered = 0;
  int r = balance_read(s, account_id, &balance, &metered);
  if (!r && debit != old) {
    r = write2(s, CST_ROW_DEBIT, usage_id, debit, "usage debit");
    if (!r && metered) {
      balance = pb_credit_add(balance, old - debit);
      r = write2(s, CST_BALANCE_SET, account_id, balance, "balance debit");
    }
  }
  if (!r && out) {
    out->metered = metered;
    out->price_micro = price;
    out->balance_micro = balance;
    out->paid_until_ms = start + pb_credit_billed_seconds(billed) * 1000;
  }
  return r;
}

void pb_store_set_credit_terms(pb_store *s, int64_t price_micro, int64_t signup_micro) {
  if (!s) return;
  lock(s);
  if (price_micro >= 0 && price_micro <= PB_PRICE_MAX_MICRO) s->price_micro = price_micro;
  if (signup_micro >= 0 && signup_micro <= PB_CREDIT_MAX_MICRO) s->signup_micro = signup_micro;
  unlock(s);
}

int64_t pb_store_price(pb_store *s) {
  lock(s);
  int64_t p = s->price_micro;
  unlock(s);
  return p;
}

int pb_store_account_balance(pb_store *s, int64_t account_id, int64_t *micro, int *metered) {
  if (!s || !micro || !metered) return PB_EINVAL;
  lock(s);
  int r = balance_read(s, account_id, micro, metered);
  unlock(s);
  return r;
}

static int credit_ok(int64_t micro, const char *note) {
  return micro >= -PB_CREDIT_MAX_MICRO && micro <= PB_CREDIT_MAX_MICRO &&
         (!note || valid_word(note, REASON_MAX_LEN));
}

/* pb_store_account_credit's work: lock held, in a transaction. */
static int credit_locked(pb_store *s, int64_t account_id, int64_t micro, const char *note,
                         int64_t now_ms, int64_t *balance_out) {
  int64_t balance = 0, next = 0;
  int metered = 0;
  int r = balance_read(s, account_id, &balance, &metered);
  /* Checked, not clamped: an operator's credit lands whole or not at all. */
  if (!r && (__builtin_add_overflow(balance, micro, &next) || next > PB_CREDIT_MAX_MICRO ||
             next < -PB_CREDIT_MAX_MICRO))
    r = PB_ETOOBIG;
  if (!r) r = write2(s, CST_BALANCE_SET, account_id, next, "credit");
  if (!r) {
    pb_db_stmt *st = s->cst[CST_GRANT];
    int rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, micro);
    if (rc == 0) rc = pb_db_bind_int64(st, 3, now_ms);
    if (rc == 0)
      rc = note ? pb_db_bind_text(st, 4, note, -1) : pb_db_bind_null(st, 4);
    int changed = 0;
    r = finish_write(s, st, rc, "credit grant", &changed);
  }
  if (!r && balance_out) *balance_out = next;
  return r;
}

static int valid_email_bytes(const char *email);
static int account_insert_locked(pb_store *s, const char *name, const char *email, int64_t now,
                                 int64_t *account_id);

int pb_account_create_with_credit(pb_store *s, const char *name, const char *email, int64_t micro,
                                  const char *note, int64_t *account_id) {
  if (!s || !valid_name(name) || (email && !valid_email_bytes(email)) || !credit_ok(micro, note))
    return PB_EINVAL;
  lock(s);
  int r = tx_begin(s);
  if (!r) {
    int64_t now = pb_wall_ms(), id = 0;
    r = account_insert_locked(s, name, email, now, &id);
    if (!r) r = credit_locked(s, id, micro, note, now, NULL);
    if (!r && account_id) *account_id = id;
    r = tx_end(s, r);
  }
  unlock(s);
  return r;
}

int pb_account_create_signup(pb_store *s, const char *name, const char *email,
                             int64_t *account_id) {
  if (!s) return PB_EINVAL;
  lock(s);
  int64_t micro = s->signup_micro;
  unlock(s);
  return pb_account_create_with_credit(s, name, email, micro, "signup", account_id);
}

int pb_store_account_credit(pb_store *s, int64_t account_id, int64_t micro, const char *note,
                            int64_t now_ms, int64_t *balance_out) {
  if (!s || !credit_ok(micro, note)) return PB_EINVAL;
  lock(s);
  int r = tx_begin(s);
  if (!r) {
    r = credit_locked(s, account_id, micro, note, now_ms, balance_out);
    r = tx_end(s, r);
  }
  unlock(s);
  return r;
}

int pb_store_account_signup_credit(pb_store *s, int64_t account_id, int64_t now_ms) {
  if (!s) return PB_EINVAL;
  lock(s);
  int64_t micro = s->signup_micro;
  unlock(s);
  return pb_store_account_credit(s, account_id, micro, "signup", now_ms, NULL);
}

int pb_store_account_credit_summary(pb_store *s, int64_t account_id, pb_credit_summary *out) {
  if (!s || !out) return PB_EINVAL;
  memset(out, 0, sizeof(*out));
  lock(s);
  int r = balance_read(s, account_id, &out->balance_micro, &out->metered);
  pb_db_stmt *st = NULL;
  if (!r) {
    int rc = pb_db_prepare(s->db,
                           "SELECT CAST((SELECT COALESCE(SUM(micro), 0) FROM credits"
                           " WHERE account_id = ?1) AS BIGINT),"
                           " CAST(COALESCE(SUM(debit_micro), 0) AS BIGINT),"
                           " CAST(COALESCE(SUM((COALESCE(ms, COALESCE(last_heartbeat_ms,"
                           " start_ms) - start_ms) + 999) / 1000), 0) AS BIGINT), COUNT(*),"
                           " CAST(COALESCE(SUM(CASE WHEN end_ms IS NULL THEN 1 ELSE 0 END),"
                           " 0) AS BIGINT) FROM usage"
                           " WHERE account_id = ?1 AND price_micro IS NOT NULL",
                           &st);
    if (rc == 0) rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_step(st);
    if (rc == PB_DB_ROW) {
      out->credited_micro = pb_db_column_int64(st, 0);
      out->debited_micro = pb_db_column_int64(st, 1);
      out->billed_seconds = pb_db_column_int64(st, 2);
      out->rows = pb_db_column_int64(st, 3);
      out->open_rows = pb_db_column_int64(st, 4);
    } else {
      r = store_fail(s, rc, "credit summary");
    }
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

static int usage_begin(pb_store *s, int64_t account_id, const char *kind, int64_t start_wall_ms,
                       int priced, int64_t *usage_id) {
  if (!s || !valid_name(kind) || !usage_id || start_wall_ms < 0) return PB_EINVAL;
  lock(s);
  /* The balance is read and the row written in one transaction: no credit
   * granted or spent by another process slips between the two. */
  int64_t balance = 0;
  int metered = 0;
  int r = tx_begin(s);
  if (!r && priced) r = balance_read(s, account_id, &balance, &metered);
  if (!r && metered && balance < s->price_micro) r = PB_ENOCREDIT;
  if (!r) {
    pb_db_stmt *st = s->st[ST_USAGE_BEGIN];
    int rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_bind_text(st, 2, kind, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 3, start_wall_ms);
    if (rc == 0)
      rc = metered ? pb_db_bind_int64(st, 4, s->price_micro) : pb_db_bind_null(st, 4);
    if (rc == 0) rc = metered ? pb_db_bind_int64(st, 5, 0) : pb_db_bind_null(st, 5);
    if (rc == 0) rc = bind_text_or_null(st, 6, node_or_null(s));
    if (rc == 0) rc = pb_db_step(st);
    if (rc == PB_DB_ROW)
      *usage_id = pb_db_column_int64(st, 0);
    else if (fk_failed(s, rc))
      r = PB_ENOTFOUND;
    else
      r = store_fail(s, rc, "usage begin");
    if (rc == PB_DB_ROW && (rc = pb_db_step(st)) != PB_DB_DONE)
      r = store_fail(s, rc, "usage begin");
    pb_db_reset(st);
  }
  r = tx_end(s, r);
  unlock(s);
  return r;
}

int pb_usage_begin(pb_store *s, int64_t account_id, const char *kind, int64_t start_wall_ms,
                   int64_t *usage_id) {
  return usage_begin(s, account_id, kind, start_wall_ms, 1, usage_id);
}

int pb_usage_begin_unpriced(pb_store *s, int64_t account_id, const char *kind,
                            int64_t start_wall_ms, int64_t *usage_id) {
  return usage_begin(s, account_id, kind, start_wall_ms, 0, usage_id);
}

int pb_usage_end(pb_store *s, int64_t usage_id, int64_t end_wall_ms, int status) {
  if (!s || status < 0 || status > 999) return PB_EINVAL;
  lock(s);
  int r = tx_begin(s);
  if (!r) {
    pb_db_stmt *st = s->st[ST_USAGE_END];
    int rc = pb_db_bind_int64(st, 1, usage_id);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, end_wall_ms);
    if (rc == 0) rc = pb_db_bind_int64(st, 3, status);
    int changed = 0;
    r = finish_write(s, st, rc, "usage end", &changed);
    /* Nothing updated: a wrong id, or a row already closed (by an earlier
     * end or by close_open); either way nothing is billed twice. */
    if (!r && !changed)
      r = why_unchanged(s, s->st[ST_USAGE_IS_OPEN], usage_id, NULL, "usage end");
    else if (!r)
      r = settle(s, usage_id, NULL);
    r = tx_end(s, r);
  }
  unlock(s);
  return r;
}

/* Closes open usage rows at their last heartbeat and settles their debits,
 * lock held, in a transaction: sel lists the priced ones to settle, upd
 * closes them, both taking tag as ?1 (a scope or a lost node). *n: rows
 * closed. The one path pb_usage_close_open and pb_store_node_lost share, so
 * a row is debited once whoever closes it. */
static int usage_close_locked(pb_store *s, pb_db_stmt *sel, pb_db_stmt *upd, const char *tag,
                              int *n) {
  int64_t *ids = NULL;
  size_t nids = 0, cap = 0;
  int r = 0;
  *n = 0;
  int rc = bind_text_or_null(sel, 1, tag);
  while (!rc && (rc = pb_db_step(sel)) == PB_DB_ROW) {
    rc = 0;
    if (nids == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      int64_t *nv = realloc(ids, ncap * sizeof(*ids));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      ids = nv;
      cap = ncap;
    }
    ids[nids++] = pb_db_column_int64(sel, 0);
  }
  if (!r && rc < 0) r = store_fail(s, rc, "usage close_open");
  pb_db_reset(sel);
  if (!r) {
    rc = bind_text_or_null(upd, 1, tag);
    if (!rc) rc = pb_db_step(upd);
    if (rc == PB_DB_DONE)
      *n = (int)pb_db_changes(s->db);
    else
      r = store_fail(s, rc, "usage close_open");
    pb_db_reset(upd);
  }
  for (size_t i = 0; !r && i < nids; i++) r = settle(s, ids[i], NULL);
  free(ids);
  if (r) *n = 0;
  return r;
}

int pb_usage_close_open(pb_store *s, int *closed) {
  if (!s) return PB_EINVAL;
  lock(s);
  /* The rows to settle, then the close, then their debits: one
   * transaction, so a crash here leaves them open for the next start. */
  int n = 0;
  int r = tx_begin(s);
  if (!r)
    r = usage_close_locked(s, s->cst[CST_OPEN_PRICED], s->st[ST_USAGE_CLOSE_OPEN],
                           node_or_null(s), &n);
  if (r) n = 0;
  r = tx_end(s, r);
  if (r) n = 0;
  unlock(s);
  if (n) PB_WARN("store: closed %d usage row(s) left open by an earlier run", n);
  if (closed) *closed = n;
  return r;
}

int pb_usage_open_count(pb_store *s, int64_t *n) {
  if (!s || !n) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_USAGE_OPEN_COUNT];
  int rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW)
    *n = pb_db_column_int64(st, 0);
  else
    r = store_fail(s, rc, "usage open count");
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_usage_total(pb_store *s, int64_t account_id, int64_t since_wall_ms, int64_t *ms) {
  if (!s || !ms) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_USAGE_TOTAL];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, since_wall_ms);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW)
    *ms = pb_db_column_int64(st, 0);
  else
    r = store_fail(s, rc, "usage total");
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_usage_heartbeat(pb_store *s, int64_t usage_id, int64_t now_wall_ms) {
  return pb_usage_heartbeat_credit(s, usage_id, now_wall_ms, NULL);
}

int pb_usage_heartbeat_credit(pb_store *s, int64_t usage_id, int64_t now_wall_ms,
                              pb_usage_credit *out) {
  if (out) memset(out, 0, sizeof(*out));
  if (!s) return PB_EINVAL;
  lock(s);
  int r = tx_begin(s);
  if (!r) {
    pb_db_stmt *st = s->st[ST_USAGE_HEARTBEAT];
    int rc = pb_db_bind_int64(st, 1, usage_id);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, now_wall_ms);
    int changed = 0;
    r = finish_write(s, st, rc, "usage heartbeat", &changed);
    if (!r && !changed)
      r = why_unchanged(s, s->st[ST_USAGE_IS_OPEN], usage_id, NULL, "usage heartbeat");
    else if (!r)
      r = settle(s, usage_id, out);
    r = tx_end(s, r);
  }
  unlock(s);
  return r;
}

static int usage_range_bind(pb_db_stmt *st, int64_t account_id, int64_t from, int64_t to) {
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, from);
  if (rc == 0) rc = pb_db_bind_int64(st, 3, to);
  return rc;
}

int pb_usage_sum(pb_store *s, int64_t account_id, int64_t from_wall_ms, int64_t to_wall_ms,
                 int64_t *ms, int64_t *count) {
  if (!s || from_wall_ms > to_wall_ms) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_USAGE_SUM];
  int rc = usage_range_bind(st, account_id, from_wall_ms, to_wall_ms);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    if (ms) *ms = pb_db_column_int64(st, 0);
    if (count) *count = pb_db_column_int64(st, 1);
  } else {
    r = store_fail(s, rc, "usage sum");
  }
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_usage_by_kind(pb_store *s, int64_t account_id, int64_t from_wall_ms, int64_t to_wall_ms,
                     pb_usage_kind **out, size_t *n) {
  if (!s || !out || !n || from_wall_ms > to_wall_ms) return PB_EINVAL;
  *out = NULL;
  *n = 0;
  pb_usage_kind *v = NULL;
  size_t len = 0, alloc = 0;
  int r = 0;
  lock(s);
  pb_db_stmt *st = s->st[ST_USAGE_BY_KIND];
  int rc = usage_range_bind(st, account_id, from_wall_ms, to_wall_ms);
  while (rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    if (len == alloc) {
      size_t na = alloc ? alloc * 2 : 8;
      pb_usage_kind *nv = realloc(v, na * sizeof(*v));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      v = nv;
      alloc = na;
    }
    pb_usage_kind *k = &v[len++];
    const char *kind = pb_db_column_text(st, 0);
    pb_strlcpy(k->kind, kind ? kind : "", sizeof(k->kind));
    k->ms = pb_db_column_int64(st, 1);
    k->count = pb_db_column_int64(st, 2);
    rc = 0;
  }
  if (!r && rc != PB_DB_DONE) r = store_fail(s, rc, "usage by kind");
  pb_db_reset(st);
  unlock(s);
  if (r) {
    free(v);
    return r;
  }
  *out = v;
  *n = len;
  return 0;
}

/* ---- Limits ---- */

typedef struct {
  const char *key; /* the HTTP API's name */
  size_t off;      /* into pb_limits */
  int wide;        /* int64_t there, else int */
  long long min, max;
} limit_def;

static const limit_def limit_defs[PB_LIMITS_COUNT] = {
    {"maxConcurrentSessions", offsetof(pb_limits, max_concurrent_sessions), 0, 0, 1000},
    {"acquisitionsPerMinute", offsetof(pb_limits, acquisitions_per_minute), 0, 1, 60000},
    {"quickActionsPerSecond", offsetof(pb_limits, quick_actions_per_second), 0, 1, 10000},
    {"keepAliveMaxMs", offsetof(pb_limits, keep_alive_max_ms), 1, 1000, MS_PER_DAY},
    {"concurrentQuickActions", offsetof(pb_limits, concurrent_quick_actions), 0, 0, 1000},
    {"browserMsPerDay", offsetof(pb_limits, browser_ms_per_day), 1, 0, 1000 * MS_PER_DAY},
    {"maxContexts", offsetof(pb_limits, max_contexts), 0, 0, 1000},
    {"contextStorageMiB", offsetof(pb_limits, context_storage_mib), 1, 0, 1024 * 1024},
    {"recordingStorageMiB", offsetof(pb_limits, recording_storage_mib), 1, 0, 1024 * 1024},
};

void pb_limits_default(pb_limits *l) {
  if (!l) return;
  memset(l, 0, sizeof(*l));
  l->max_concurrent_sessions = 3;
  l->acquisitions_per_minute = 30;
  l->quick_actions_per_second = 100;
  l->keep_alive_max_ms = 600000;
  l->concurrent_quick_actions = 6;
  l->browser_ms_per_day = 0;
  l->max_contexts = 10;
  l->context_storage_mib = 100;
  l->recording_storage_mib = 500;
}

static int64_t limit_read(const pb_limits *l, const limit_def *d) {
  const char *p = (const char *)l + d->off;
  if (d->wide) return *(const int64_t *)(const void *)p;
  return *(const int *)(const void *)p;
}

static void limit_write(pb_limits *l, const limit_def *d, int64_t v) {
  char *p = (char *)l + d->off;
  if (d->wide)
    *(int64_t *)(void *)p = v;
  else
    *(int *)(void *)p = (int)v;
}

static const limit_def *limit_find(const char *key) {
  for (size_t i = 0; key && i < PB_LIMITS_COUNT; i++)
    if (!strcmp(limit_defs[i].key, key)) return &limit_defs[i];
  return NULL;
}

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...) {
  if (!err || !cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, cap, fmt, ap);
  va_end(ap);
}

const char *pb_limits_key(const pb_limits *l, size_t i, int64_t *value) {
  if (i >= PB_LIMITS_COUNT) return NULL;
  if (l && value) *value = limit_read(l, &limit_defs[i]);
  return limit_defs[i].key;
}

int pb_limits_apply(pb_limits *l, const char *key, const char *value, char *err, size_t errcap) {
  if (!l || !key || !value) {
    set_err(err, errcap, "a limit needs a key and a value");
    return PB_EINVAL;
  }
  const limit_def *d = limit_find(key);
  if (!d) {
    set_err(err, errcap,
            "unknown limit \"%.64s\" (known: maxConcurrentSessions, acquisitionsPerMinute,"
            " quickActionsPerSecond, keepAliveMaxMs, concurrentQuickActions, browserMsPerDay,"
            " maxContexts, contextStorageMiB, recordingStorageMiB)",
            key);
    return PB_EINVAL;
  }
  long long v;
  if (!strcmp(value, "default")) {
    pb_limits def;
    pb_limits_default(&def);
    v = limit_read(&def, d);
  } else if (pb_parse_int(value, d->min, d->max, &v)) {
    set_err(err, errcap,
            "%s wants a whole number from %lld to %lld (or \"default\"), not \"%.64s\"", d->key,
            d->min, d->max, value);
    return PB_EINVAL;
  }
  limit_write(l, d, v);
  return 0;
}

int pb_limits_get(pb_store *s, int64_t account_id, pb_limits *out) {
  if (!s || !out) return PB_EINVAL;
  pb_limits_default(out);
  lock(s);
  pb_db_stmt *st = s->st[ST_LIMITS_GET];
  int rc = pb_db_bind_int64(st, 1, account_id);
  int found = 0;
  while (rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    found = 1;
    rc = 0;
    const limit_def *d = limit_find((const char *)pb_db_column_text(st, 0));
    if (!d) continue; /* NULL (nothing set), or a key from a newer build */
    int64_t v = pb_db_column_int64(st, 1);
    /* Clamped: a hand-edited row must not yield, say, a zero rate. */
    limit_write(out, d, v < d->min ? d->min : v > d->max ? d->max : v);
  }
  int r = rc == PB_DB_DONE ? 0 : store_fail(s, rc, "limits get");
  pb_db_reset(st);
  unlock(s);
  if (!r && !found) r = PB_ENOTFOUND;
  return r;
}

int pb_limits_set(pb_store *s, int64_t account_id, const char *key, const char *value, char *err,
                  size_t errcap) {
  if (!s) return PB_EINVAL;
  pb_limits l;
  pb_limits_default(&l);
  int r = pb_limits_apply(&l, key, value, err, errcap);
  if (r) return r;
  const limit_def *d = limit_find(key);
  int changed = 0, rc;
  lock(s);
  if (!strcmp(value, "default")) {
    /* Deleting the row makes the account follow future default changes. */
    pb_db_stmt *st = s->st[ST_ACCOUNT_EXISTS];
    rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_step(st);
    if (rc == PB_DB_DONE)
      r = PB_ENOTFOUND;
    else if (rc != PB_DB_ROW)
      r = store_fail(s, rc, "limits set");
    pb_db_reset(st);
    if (!r) {
      st = s->st[ST_LIMITS_RESET];
      rc = pb_db_bind_int64(st, 1, account_id);
      if (rc == 0) rc = pb_db_bind_text(st, 2, d->key, -1);
      r = finish_write(s, st, rc, "limits reset", &changed);
    }
  } else {
    pb_db_stmt *st = s->st[ST_LIMITS_SET];
    rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_bind_text(st, 2, d->key, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 3, limit_read(&l, d));
    if (rc == 0) rc = pb_db_step(st);
    if (fk_failed(s, rc))
      r = PB_ENOTFOUND;
    else if (rc != PB_DB_DONE)
      r = store_fail(s, rc, "limits set");
    pb_db_reset(st);
  }
  unlock(s);
  if (r == PB_ENOTFOUND)
    set_err(err, errcap, "no such account");
  else if (r)
    set_err(err, errcap, "%s", pb_strerror(r));
  return r;
}

/* ---- Session history ---- */

static int valid_session_id(const char *id) { return valid_word(id, PB_SESSION_ID_MAX - 1); }

int pb_session_open_record(pb_store *s, const char *session_id, int64_t account_id,
                           int64_t start_wall_ms) {
  if (!s || !valid_session_id(session_id) || start_wall_ms < 0) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_OPEN];
  int rc = pb_db_bind_text(st, 1, session_id, -1);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
  if (rc == 0) rc = pb_db_bind_int64(st, 3, start_wall_ms);
  if (rc == 0) rc = bind_text_or_null(st, 4, node_or_null(s));
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_EEXIST)
    r = PB_EEXIST;
  else if (fk_failed(s, rc))
    r = PB_ENOTFOUND;
  else if (rc != PB_DB_DONE)
    r = store_fail(s, rc, "session open");
  pb_db_reset(st);
  unlock(s);
  return r;
}

int pb_session_heartbeat(pb_store *s, const char *session_id, int64_t now_wall_ms) {
  if (!s || !valid_session_id(session_id)) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_HEARTBEAT];
  int rc = pb_db_bind_text(st, 1, session_id, -1);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, now_wall_ms);
  int changed = 0;
  int r = finish_write(s, st, rc, "session heartbeat", &changed);
  if (!r && !changed)
    r = why_unchanged(s, s->st[ST_SESSION_IS_OPEN], 0, session_id, "session heartbeat");
  unlock(s);
  return r;
}

/* Bytes of t to keep so that at most max remain and no UTF-8 sequence is cut. */
static size_t utf8_prefix(const char *t, size_t max) {
  size_t n = strnlen(t, max + 1);
  if (n <= max) return n;
  n = max;
  while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80) n--;
  return n;
}

int pb_session_close_record(pb_store *s, const char *session_id, int64_t end_wall_ms,
                            const char *reason, const char *reason_text) {
  if (!s || !valid_session_id(session_id) || !valid_word(reason, REASON_MAX_LEN))
    return PB_EINVAL;
  if (!reason_text) reason_text = "";
  int text_len = (int)utf8_prefix(reason_text, REASON_TEXT_MAX);
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_CLOSE];
  int rc = pb_db_bind_text(st, 1, session_id, -1);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, end_wall_ms);
  if (rc == 0) rc = pb_db_bind_text(st, 3, reason, -1);
  if (rc == 0) rc = pb_db_bind_text(st, 4, reason_text, text_len);
  int changed = 0;
  int r = finish_write(s, st, rc, "session close", &changed);
  if (!r && !changed)
    r = why_unchanged(s, s->st[ST_SESSION_IS_OPEN], 0, session_id, "session close");
  unlock(s);
  return r;
}

int pb_session_stats_record(pb_store *s, const char *session_id, const pb_session_stats *v) {
  if (!s || !v || !valid_session_id(session_id)) return PB_EINVAL;
  int text_len = (int)utf8_prefix(v->last_refusal, sizeof(v->last_refusal) - 1);
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_STATS];
  int rc = pb_db_bind_text(st, 1, session_id, -1);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, v->refused_calls);
  if (rc == 0)
    rc = v->last_refusal[0] ? pb_db_bind_text(st, 3, v->last_refusal, text_len)
                            : pb_db_bind_null(st, 3);
  if (rc == 0) rc = pb_db_bind_int64(st, 4, v->client_connections);
  if (rc == 0) rc = pb_db_bind_int64(st, 5, v->client_disconnects);
  int changed = 0;
  int r = finish_write(s, st, rc, "session stats", &changed);
  unlock(s);
  return r ? r : changed ? 0 : PB_ENOTFOUND;
}

int pb_session_handoff_record(pb_store *s, const char *session_id, const char *state,
                              const char *ended_by) {
  if (!s || !valid_session_id(session_id) || !valid_word(state, 16) ||
      (ended_by && !valid_word(ended_by, 16)))
    return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_HANDOFF];
  int rc = pb_db_bind_text(st, 1, session_id, -1);
  if (rc == 0) rc = pb_db_bind_text(st, 2, state, -1);
  if (rc == 0)
    rc = ended_by ? pb_db_bind_text(st, 3, ended_by, -1) : pb_db_bind_null(st, 3);
  int changed = 0;
  int r = finish_write(s, st, rc, "session handoff", &changed);
  unlock(s);
  return r ? r : changed ? 0 : PB_ENOTFOUND;
}

int pb_session_close_orphans(pb_store *s, int64_t now_wall_ms, int *closed) {
  if (!s) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_CLOSE_ORPHANS];
  int rc = pb_db_bind_int64(st, 1, now_wall_ms);
  if (rc == 0) rc = pb_db_bind_text(st, 2, ORPHAN_REASON, -1);
  if (rc == 0) rc = pb_db_bind_text(st, 3, ORPHAN_TEXT, -1);
  if (rc == 0) rc = bind_text_or_null(st, 4, node_or_null(s));
  int n = 0;
  int r = finish_write(s, st, rc, "session close_orphans", &n);
  unlock(s);
  if (n) PB_WARN("store: closed %d session(s) left open by an earlier run", n);
  if (closed) *closed = n;
  return r;
}

static void col_text(pb_db_stmt *st, int col, char *out, size_t cap) {
  const char *t = pb_db_column_text(st, col);
  pb_strlcpy(out, t ? t : "", cap);
}

int pb_session_history(pb_store *s, int64_t account_id, int max, pb_session_rec **out,
                       size_t *n) {
  if (!s || !out || !n || max < 1 || max > PB_SESSION_HISTORY_MAX) return PB_EINVAL;
  *out = NULL;
  *n = 0;
  pb_session_rec *v = NULL;
  size_t len = 0, alloc = 0;
  int r = 0;
  lock(s);
  pb_db_stmt *st = s->st[ST_SESSION_HISTORY];
  int rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, max);
  while (rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    if (len == alloc) {
      size_t na = alloc ? alloc * 2 : 16;
      pb_session_rec *nv = realloc(v, na * sizeof(*v));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      v = nv;
      alloc = na;
    }
    pb_session_rec *e = &v[len++];
    memset(e, 0, sizeof(*e));
    col_text(st, 0, e->id, sizeof(e->id));
    e->start_ms = pb_db_column_int64(st, 1);
    e->end_ms = pb_db_column_int64(st, 2);
    e->browser_ms = pb_db_column_int64(st, 3);
    col_text(st, 4, e->reason, sizeof(e->reason));
    col_text(st, 5, e->reason_text, sizeof(e->reason_text));
    e->stats.refused_calls = pb_db_column_int64(st, 6);
    col_text(st, 7, e->stats.last_refusal, sizeof(e->stats.last_refusal));
    e->stats.client_connections = pb_db_column_int64(st, 8);
    e->stats.client_disconnects = pb_db_column_int64(st, 9);
    col_text(st, 10, e->handoff_state, sizeof(e->handoff_state));
    col_text(st, 11, e->handoff_ended_by, sizeof(e->handoff_ended_by));
    rc = 0;
  }
  if (!r && rc != PB_DB_DONE) r = store_fail(s, rc, "session history");
  pb_db_reset(st);
  unlock(s);
  if (r) {
    free(v);
    return r;
  }
  *out = v;
  *n = len;
  return 0;
}

/* ---- Persistent contexts ----
 * Rare calls (a create, an acquire with a context, a save): statements are
 * prepared per call instead of cached. */

static int ctx_prepare(pb_store *s, const char *sql, pb_db_stmt **st) {
  int rc = pb_db_prepare(s->db, sql, st);
  return rc == 0 ? 0 : store_fail(s, rc, sql);
}

static void ctx_row(pb_db_stmt *st, pb_context_rec *e) {
  memset(e, 0, sizeof(*e));
  col_text(st, 0, e->id, sizeof(e->id));
  col_text(st, 1, e->name, sizeof(e->name));
  e->has_name = pb_db_column_type(st, 1) != PB_DB_NULL;
  e->created_ms = pb_db_column_int64(st, 2);
  e->saved_ms = pb_db_column_int64(st, 3);
  e->bytes = pb_db_column_int64(st, 4);
  col_text(st, 5, e->session_id, sizeof(e->session_id));
}

#define CTX_COLS "id, name, created_ms, saved_ms, bytes, session_id"

int pb_context_insert(pb_store *s, int64_t account_id, const char *id, const char *name,
                      int64_t now_ms, int max_count) {
  if (!s || !id || !*id) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  /* The count and the insert in one statement: two creates racing cannot
   * both pass the cap. */
  int r = ctx_prepare(s,
                      "INSERT INTO contexts(id, account_id, name, created_ms)"
                      " SELECT CAST(?1 AS TEXT), CAST(?2 AS BIGINT), CAST(?3 AS TEXT),"
                      " CAST(?4 AS BIGINT) WHERE (SELECT count(*) FROM contexts"
                      " WHERE account_id = CAST(?2 AS BIGINT)) < CAST(?5 AS BIGINT)",
                      &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, id, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
    if (rc == 0)
      rc = name ? pb_db_bind_text(st, 3, name, -1) : pb_db_bind_null(st, 3);
    if (rc == 0) rc = pb_db_bind_int64(st, 4, now_ms);
    if (rc == 0) rc = pb_db_bind_int64(st, 5, max_count);
    if (rc == 0) rc = pb_db_step(st);
    if (fk_failed(s, rc))
      r = PB_ENOTFOUND;
    else if (rc == PB_EEXIST)
      r = PB_EEXIST;
    else if (rc != PB_DB_DONE)
      r = store_fail(s, rc, "context insert");
    else if ((int)pb_db_changes(s->db) == 0)
      r = PB_EBUSY;
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

int pb_context_get(pb_store *s, int64_t account_id, const char *id, pb_context_rec *out) {
  if (!s || !id || !out) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, "SELECT " CTX_COLS " FROM contexts WHERE id = ?1 AND account_id = ?2", &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, id, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
    if (rc == 0) rc = pb_db_step(st);
    if (rc == PB_DB_ROW)
      ctx_row(st, out);
    else if (rc == PB_DB_DONE)
      r = PB_ENOTFOUND;
    else
      r = store_fail(s, rc, "context get");
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

int pb_context_list(pb_store *s, int64_t account_id, pb_context_rec **out, size_t *n) {
  if (!s || !out || !n) return PB_EINVAL;
  *out = NULL;
  *n = 0;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(
      s, "SELECT " CTX_COLS " FROM contexts WHERE account_id = ?1 ORDER BY created_ms, id", &st);
  pb_context_rec *v = NULL;
  size_t len = 0, alloc = 0;
  int rc = r ? PB_DB_DONE : pb_db_bind_int64(st, 1, account_id);
  while (!r && rc == 0 && (rc = pb_db_step(st)) == PB_DB_ROW) {
    if (len == alloc) {
      size_t na = alloc ? alloc * 2 : 8;
      pb_context_rec *nv = realloc(v, na * sizeof(*v));
      if (!nv) {
        r = PB_ENOMEM;
        break;
      }
      v = nv;
      alloc = na;
    }
    ctx_row(st, &v[len++]);
    rc = 0;
  }
  if (!r && rc != PB_DB_DONE) r = store_fail(s, rc, "context list");
  pb_db_finalize(st);
  unlock(s);
  if (r) {
    free(v);
    return r;
  }
  *out = v;
  *n = len;
  return 0;
}

int pb_context_total_bytes(pb_store *s, int64_t account_id, int64_t *bytes) {
  if (!s || !bytes) return PB_EINVAL;
  *bytes = 0;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, "SELECT CAST(coalesce(sum(bytes), 0) AS BIGINT) FROM contexts"
                       " WHERE account_id = ?1", &st);
  if (!r) {
    int rc = pb_db_bind_int64(st, 1, account_id);
    if (rc == 0) rc = pb_db_step(st);
    if (rc == PB_DB_ROW)
      *bytes = pb_db_column_int64(st, 0);
    else
      r = store_fail(s, rc, "context total");
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

/* One write on a context row of the account: PB_ENOTFOUND when there is no
 * such row, PB_EBUSY when the row exists but the guard (held by a session)
 * kept it unchanged. */
static int ctx_write(pb_store *s, const char *sql, int64_t account_id, const char *id,
                     const char *session_id, const char *what) {
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, sql, &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, id, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
    if (rc == 0 && session_id) rc = pb_db_bind_text(st, 3, session_id, -1);
    if (rc == 0) rc = pb_db_step(st);
    if (rc != PB_DB_DONE) r = store_fail(s, rc, what);
  }
  int changed = r ? 0 : (int)pb_db_changes(s->db);
  pb_db_finalize(st);
  if (!r && !changed) {
    r = ctx_prepare(s, "SELECT 1 FROM contexts WHERE id = ?1 AND account_id = ?2", &st);
    if (!r) {
      int rc = pb_db_bind_text(st, 1, id, -1);
      if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
      if (rc == 0) rc = pb_db_step(st);
      r = rc == PB_DB_ROW ? PB_EBUSY : rc == PB_DB_DONE ? PB_ENOTFOUND : store_fail(s, rc, what);
    }
    pb_db_finalize(st);
  }
  unlock(s);
  return r;
}

int pb_context_delete(pb_store *s, int64_t account_id, const char *id) {
  if (!s || !id) return PB_EINVAL;
  return ctx_write(s,
                   "DELETE FROM contexts WHERE id = ?1 AND account_id = ?2 AND session_id IS NULL",
                   account_id, id, NULL, "context delete");
}

int pb_context_claim(pb_store *s, int64_t account_id, const char *id, const char *session_id) {
  if (!s || !id || !session_id) return PB_EINVAL;
  return ctx_write(s,
                   "UPDATE contexts SET session_id = ?3 WHERE id = ?1 AND account_id = ?2"
                   " AND session_id IS NULL",
                   account_id, id, session_id, "context claim");
}

int pb_context_unclaim(pb_store *s, int64_t account_id, const char *id, const char *session_id) {
  if (!s || !id || !session_id) return PB_EINVAL;
  return ctx_write(s,
                   "UPDATE contexts SET session_id = NULL WHERE id = ?1 AND account_id = ?2"
                   " AND session_id = ?3",
                   account_id, id, session_id, "context unclaim");
}

int pb_context_saved(pb_store *s, int64_t account_id, const char *id, int64_t bytes,
                     int64_t now_ms) {
  if (!s || !id || bytes < 0) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(
      s, "UPDATE contexts SET bytes = ?3, saved_ms = ?4 WHERE id = ?1 AND account_id = ?2", &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, id, -1);
    if (rc == 0) rc = pb_db_bind_int64(st, 2, account_id);
    if (rc == 0) rc = pb_db_bind_int64(st, 3, bytes);
    if (rc == 0) rc = pb_db_bind_int64(st, 4, now_ms);
    if (rc == 0) rc = pb_db_step(st);
    if (rc != PB_DB_DONE)
      r = store_fail(s, rc, "context saved");
    else if (!(int)pb_db_changes(s->db))
      r = PB_ENOTFOUND;
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

/* With a node set (?1), a context is released only when its holder was
 * ours: a session row of no node or of this node, or an id minted with our
 * tag. A holder another node is still acquiring (the claim comes before
 * its session row) is not ours to judge; pb_store_node_lost frees those of
 * a node that died. */
#define CTX_SCOPE                                                                   \
  "(CAST(?1 AS TEXT) IS NULL OR session_id IN (SELECT id FROM sessions WHERE node" \
  " IS NULL OR node = CAST(?1 AS TEXT)) OR substr(session_id, 1,"                  \
  " length(CAST(?1 AS TEXT))) = CAST(?1 AS TEXT))"

int pb_context_release_stale(pb_store *s, int *released) {
  if (released) *released = 0;
  if (!s) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s,
                      "UPDATE contexts SET session_id = NULL WHERE session_id IS NOT NULL AND"
                      " session_id NOT IN (SELECT id FROM sessions WHERE end_ms IS NULL)"
                      " AND " CTX_SCOPE,
                      &st);
  if (!r) {
    int rc = bind_text_or_null(st, 1, node_or_null(s));
    if (!rc) rc = pb_db_step(st);
    if (rc != PB_DB_DONE)
      r = store_fail(s, rc, "context release stale");
    else if (released)
      *released = (int)pb_db_changes(s->db);
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

int pb_context_exists(pb_store *s, const char *id) {
  if (!s || !id) return -1;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, "SELECT 1 FROM contexts WHERE id = ?1", &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, id, -1);
    if (rc == 0) rc = pb_db_step(st);
    r = rc == PB_DB_ROW ? 1 : rc == PB_DB_DONE ? 0 : -1;
  } else {
    r = -1;
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

/* ---- accounts by email (migration 8) ---- */

static int valid_email_bytes(const char *email) {
  size_t n = strlen(email);
  if (n < 3 || n > 254) return 0;
  for (const char *p = email; *p; p++)
    if ((unsigned char)*p < 0x21 || *p == 0x7f) return 0;
  return 1;
}

/* Inserts the account (the lock held): 0, PB_EEXIST when the name or the
 * email is taken, or the store's error. */
static int account_insert_locked(pb_store *s, const char *name, const char *email, int64_t now,
                                 int64_t *account_id) {
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(s->db,
                         "INSERT INTO accounts(name, created_ms, email) VALUES (?1, ?2, ?3)"
                         " RETURNING id",
                         &st);
  if (rc == 0) rc = pb_db_bind_text(st, 1, name, -1);
  if (rc == 0) rc = pb_db_bind_int64(st, 2, now);
  if (rc == 0)
    rc = email ? pb_db_bind_text(st, 3, email, -1) : pb_db_bind_null(st, 3);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    if (account_id) *account_id = pb_db_column_int64(st, 0);
    if ((rc = pb_db_step(st)) != PB_DB_DONE) r = store_fail(s, rc, "account create");
  } else if (rc == PB_EEXIST) {
    r = PB_EEXIST;
  } else {
    r = store_fail(s, rc, "account create");
  }
  pb_db_finalize(st);
  return r;
}

int pb_account_create_email(pb_store *s, const char *name, const char *email, int64_t *account_id) {
  if (!s || !valid_name(name) || (email && !valid_email_bytes(email))) return PB_EINVAL;
  lock(s);
  int r = account_insert_locked(s, name, email, pb_wall_ms(), account_id);
  unlock(s);
  return r;
}

int pb_account_signup(pb_store *s, const char *email, int64_t *account_id) {
  if (!s || !email || !valid_email_bytes(email)) return PB_EINVAL;
  /* The local part's name characters (up to 40), then 6 random hex digits:
   * readable to the operator, and not the email itself. */
  char name[NAME_MAX_LEN + 1];
  size_t n = 0;
  for (const char *p = email; *p && *p != '@' && n < 40; p++)
    if (valid_word((char[]){*p, 0}, 1)) name[n++] = *p;
  if (!n) name[n++] = 'u';
  for (int attempt = 0; attempt < 8; attempt++) {
    unsigned char rnd[3];
    int r = fill_random(rnd, sizeof(rnd));
    if (r) return r;
    snprintf(name + n, sizeof(name) - n, "-%02x%02x%02x", rnd[0], rnd[1], rnd[2]);
    int64_t found;
    if (pb_account_find_email(s, email, &found, NULL) != PB_ENOTFOUND) return PB_EEXIST;
    /* Metered from its first commit, with the starting credit (credits). */
    r = pb_account_create_signup(s, name, email, account_id);
    if (r != PB_EEXIST) return r;
  }
  return PB_EEXIST;
}

int pb_account_find_email(pb_store *s, const char *email, int64_t *account_id, char *name) {
  if (!s || !email || !account_id) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  /* SQLite: its NOCASE index; PostgreSQL: the lower(email) index the DDL
   * translation made of it (both fold ASCII only). */
  int rc = pb_db_prepare(s->db,
                         s->kind == PB_DB_POSTGRES
                             ? "SELECT id, name, disabled_ms, deleted_ms FROM accounts"
                               " WHERE lower(email) = lower(CAST(?1 AS TEXT))"
                             : "SELECT id, name, disabled_ms, deleted_ms FROM accounts"
                               " WHERE email = ?1 COLLATE NOCASE",
                         &st);
  if (rc == 0) rc = pb_db_bind_text(st, 1, email, -1);
  if (rc == 0) rc = pb_db_step(st);
  int r = 0;
  if (rc == PB_DB_ROW) {
    *account_id = pb_db_column_int64(st, 0);
    const char *nm = pb_db_column_text(st, 1);
    if (name) pb_strlcpy(name, nm ? nm : "", 64);
    if (pb_db_column_type(st, 3) != PB_DB_NULL)
      r = PB_EDELETED;
    else if (pb_db_column_type(st, 2) != PB_DB_NULL)
      r = PB_EDISABLED;
  } else if (rc == PB_DB_DONE) {
    r = PB_ENOTFOUND;
  } else {
    r = store_fail(s, rc, "account find by email");
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

int pb_account_email(pb_store *s, int64_t account_id, char *out, size_t cap) {
  if (!s || !out || !cap) return PB_EINVAL;
  out[0] = '\0';
  lock(s);
  pb_db_stmt *st = NULL;
  int rc = pb_db_prepare(s->db, "SELECT email FROM accounts WHERE id = ?1", &st);
  if (rc == 0) rc = pb_db_bind_int64(st, 1, account_id);
  if (rc == 0) rc = pb_db_step(st);
  int r = PB_ENOTFOUND;
  if (rc == PB_DB_ROW) {
    const char *e = pb_db_column_text(st, 0);
    if (e) {
      pb_strlcpy(out, (const char *)e, cap);
      r = 0;
    }
  } else if (rc != PB_DB_DONE) {
    r = store_fail(s, rc, "account email");
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}

/* ---- Cluster nodes (migration 10) ---- */

#define NODE_LOST_REASON "NodeLost"
#define NODE_LOST_TEXT "the node holding this session stopped answering"

/* A node tag: 1..7 of [0-9a-f] (nodes mint 4). */
static int valid_tag(const char *t) {
  size_t n = 0;
  for (; t && t[n]; n++)
    if (n >= 7 || !((t[n] >= '0' && t[n] <= '9') || (t[n] >= 'a' && t[n] <= 'f'))) return 0;
  return n > 0;
}

void pb_store_set_node(pb_store *s, const char *tag) {
  if (!s) return;
  lock(s);
  if (tag && *tag && valid_tag(tag))
    pb_strlcpy(s->node, tag, sizeof(s->node));
  else {
    if (tag && *tag) PB_ERR("store: node tag \"%.16s\" is not 1-7 hex digits; none set", tag);
    s->node[0] = '\0';
  }
  unlock(s);
}

/* Runs one write of the node_lost transaction binding the tag as ?1 and
 * at as ?2 (when at >= 0); *changed gets the rows it changed. */
static int node_write(pb_store *s, const char *sql, const char *tag, int64_t at, int *changed) {
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, sql, &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, tag, -1);
    if (!rc && at >= 0) rc = pb_db_bind_int64(st, 2, at);
    if (!rc) rc = pb_db_step(st);
    if (rc != PB_DB_DONE)
      r = store_fail(s, rc, "node lost");
    else if (changed)
      *changed = (int)pb_db_changes(s->db);
  }
  pb_db_finalize(st);
  return r;
}

int pb_store_node_lost(pb_store *s, const char *tag, int64_t node_heartbeat_ms, int64_t now_ms,
                       int *sessions_closed, int *usage_closed) {
  if (sessions_closed) *sessions_closed = 0;
  if (usage_closed) *usage_closed = 0;
  if (!s || !valid_tag(tag) || node_heartbeat_ms < 0) return PB_EINVAL;
  /* A heartbeat stamped by a clock that ran ahead is not billed. */
  int64_t at = node_heartbeat_ms < now_ms ? node_heartbeat_ms : now_ms;
  if (at < 0) at = 0;
  int ns = 0, nu = 0;
  lock(s);
  int r = tx_begin(s);
  /* Its contexts first, while its sessions are still open to name them;
   * also those claimed by an id it minted before its history row. */
  if (!r)
    r = node_write(s,
                   "UPDATE contexts SET session_id = NULL WHERE session_id IN"
                   " (SELECT id FROM sessions WHERE node = ?1 AND end_ms IS NULL)"
                   " OR substr(session_id, 1, length(CAST(?1 AS TEXT))) = CAST(?1 AS TEXT)",
                   tag, -1, NULL);
  if (!r)
    r = node_write(s,
                   "UPDATE sessions SET"
                   " end_ms = MAX(start_ms, MIN(COALESCE(last_heartbeat_ms, start_ms),"
                   " CAST(?2 AS BIGINT))),"
                   " browser_ms = MAX(start_ms, MIN(COALESCE(last_heartbeat_ms, start_ms),"
                   " CAST(?2 AS BIGINT))) - start_ms,"
                   " close_reason = '" NODE_LOST_REASON "',"
                   " close_reason_text = '" NODE_LOST_TEXT "'"
                   " WHERE node = ?1 AND end_ms IS NULL",
                   tag, at, &ns);
  pb_db_stmt *sel = NULL, *upd = NULL;
  if (!r)
    r = ctx_prepare(s,
                    "SELECT id FROM usage WHERE end_ms IS NULL AND price_micro IS NOT NULL"
                    " AND node = ?1",
                    &sel);
  if (!r)
    r = ctx_prepare(s,
                    "UPDATE usage SET end_ms = COALESCE(last_heartbeat_ms, start_ms),"
                    " ms = COALESCE(last_heartbeat_ms, start_ms) - start_ms, status = 0"
                    " WHERE end_ms IS NULL AND node = ?1",
                    &upd);
  if (!r) r = usage_close_locked(s, sel, upd, tag, &nu);
  pb_db_finalize(sel);
  pb_db_finalize(upd);
  r = tx_end(s, r);
  unlock(s);
  if (r) return r;
  if (ns || nu)
    PB_WARN("store: node %s lost: closed %d session(s) and %d usage row(s)", tag, ns, nu);
  if (sessions_closed) *sessions_closed = ns;
  if (usage_closed) *usage_closed = nu;
  return 0;
}

int pb_session_node(pb_store *s, const char *session_id, char tag[8], int *open, char reason[32]) {
  if (tag) tag[0] = '\0';
  if (open) *open = 0;
  if (reason) reason[0] = '\0';
  if (!s || !valid_session_id(session_id)) return PB_EINVAL;
  lock(s);
  pb_db_stmt *st = NULL;
  int r = ctx_prepare(s, "SELECT node, end_ms IS NULL, close_reason FROM sessions WHERE id = ?1",
                      &st);
  if (!r) {
    int rc = pb_db_bind_text(st, 1, session_id, -1);
    if (!rc) rc = pb_db_step(st);
    if (rc == PB_DB_ROW) {
      if (tag) col_text(st, 0, tag, 8);
      if (open) *open = pb_db_column_int64(st, 1) != 0;
      if (reason) col_text(st, 2, reason, 32);
    } else {
      r = rc == PB_DB_DONE ? PB_ENOTFOUND : store_fail(s, rc, "session node");
    }
  }
  pb_db_finalize(st);
  unlock(s);
  return r;
}
