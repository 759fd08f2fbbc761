/* --store: see storeflag.h. */
#include "daemon/storeflag.h"

#include "common/pb.h"
#include "core/db.h"

#include <stdio.h>
#include <string.h>

#define SPEC_MAX 2048

static char spec_copy[SPEC_MAX];

static int check(const char *v) {
  if (!pb_db_spec_is_postgres(v)) {
    fprintf(stderr,
            "ppod-browserd: --store takes postgres://... or postgresql://... "
            "(without it the store is SQLite under --data-dir)\n");
    return -1;
  }
  if (strlen(v) >= SPEC_MAX) {
    fprintf(stderr, "ppod-browserd: --store is too long\n");
    return -1;
  }
  return 0;
}

/* Stars out user:PASSWORD@ and password=VALUE in place. */
static void star_password(char *v) {
  char *auth = strstr(v, "://") + 3;
  char *end = auth + strcspn(auth, "/?#");
  char *at = NULL;
  for (char *p = auth; p < end; p++)
    if (*p == '@') at = p;
  char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
  if (colon)
    for (char *p = colon + 1; p < at; p++) *p = '*';
  for (char *q = strstr(v, "password="); q; q = strstr(q, "password=")) {
    q += 9;
    while (*q && *q != '&') *q++ = '*';
  }
}

int pb_store_flag_take(char *arg, const char **out) {
  if (check(arg)) return -1;
  pb_strlcpy(spec_copy, arg, sizeof(spec_copy));
  *out = spec_copy;
  star_password(arg);
  return 0;
}

int pb_store_flag_env(const char *value, const char **out) {
  if (check(value)) return -1;
  pb_strlcpy(spec_copy, value, sizeof(spec_copy));
  *out = spec_copy;
  return 0;
}
