#ifndef PB_PGTEST_H
#define PB_PGTEST_H
/* Store tests on PostgreSQL. ctest runs such a test a second time as
 * <name>_pg with PB_TEST_PG_URL naming the throwaway server's database
 * (scripts/pg-throwaway.sh, tests/pg-env.sh); pb_test_db_spec then gives each
 * call a fresh database of its own (CREATE DATABASE t_<random>), dropped at
 * exit, so tests never see each other's rows. Without PB_TEST_PG_URL it
 * gives the SQLite path back. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PB_PGTEST_MAX_DBS 64
static char pb_pgtest_dbs[PB_PGTEST_MAX_DBS][32];
static int pb_pgtest_ndbs;
static char pb_pgtest_specs[PB_PGTEST_MAX_DBS][512];

/* 1 when the run is the PostgreSQL one. */
static inline int pb_test_pg(void) {
  const char *u = getenv("PB_TEST_PG_URL");
  return u && *u;
}

static inline PGconn *pb_pgtest_admin(void) {
  PGconn *c = PQconnectdb(getenv("PB_TEST_PG_URL"));
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "pgtest: cannot connect to PB_TEST_PG_URL: %s", PQerrorMessage(c));
    exit(1);
  }
  return c;
}

static inline void pb_pgtest_drop_all(void) {
  if (!pb_pgtest_ndbs) return;
  PGconn *c = pb_pgtest_admin();
  for (int i = 0; i < pb_pgtest_ndbs; i++) {
    char sql[96];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pb_pgtest_dbs[i]);
    PQclear(PQexec(c, sql));
  }
  PQfinish(c);
  pb_pgtest_ndbs = 0;
}

/* A fresh database's URL (PB_TEST_PG_URL set) or sqlite_path. Valid until
 * exit. Exits the test when the database cannot be made. */
static inline const char *pb_test_db_spec(const char *sqlite_path) {
  if (!pb_test_pg()) return sqlite_path;
  const char *base = getenv("PB_TEST_PG_URL");
  if (pb_pgtest_ndbs == PB_PGTEST_MAX_DBS) {
    fprintf(stderr, "pgtest: more than %d databases\n", PB_PGTEST_MAX_DBS);
    exit(1);
  }
  unsigned char r[8];
  if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) exit(1);
  char *name = pb_pgtest_dbs[pb_pgtest_ndbs];
  snprintf(name, 32, "t_%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6],
           r[7]);
  PGconn *c = pb_pgtest_admin();
  char sql[96];
  snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
  PGresult *res = PQexec(c, sql);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    fprintf(stderr, "pgtest: %s: %s", sql, PQresultErrorMessage(res));
    exit(1);
  }
  PQclear(res);
  PQfinish(c);
  if (!pb_pgtest_ndbs) atexit(pb_pgtest_drop_all);
  pb_pgtest_ndbs++;
  /* Same server and role; the path names the new database. */
  const char *auth = strstr(base, "://");
  const char *slash = auth ? strchr(auth + 3, '/') : NULL;
  const char *query = slash ? strchr(slash, '?') : NULL;
  size_t keep = slash ? (size_t)(slash - base) : strlen(base);
  char *spec = pb_pgtest_specs[pb_pgtest_ndbs - 1];
  snprintf(spec, 512, "%.*s/%s%s", (int)keep, base, name, query ? query : "");
  return spec;
}

#endif
