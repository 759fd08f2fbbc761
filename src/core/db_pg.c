/* core/db.h over PostgreSQL (libpq): being written. */
#include "common/pb.h"
#include "core/db_internal.h"

int pb__db_pg_open(const char *url, pb_db **out) {
  char safe[512];
  pb__db_redact_url(url, safe, sizeof(safe));
  PB_ERR("db: %s: PostgreSQL backend not built yet", safe);
  (void)out;
  return PB_ESTORE;
}
