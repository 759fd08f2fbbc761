#include "sessions/livelinks.h"

#include "common/hash.h"
#include "common/pb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  unsigned char hash[PB_SHA256_LEN]; /* of the capability; all zero: free slot */
  pb_live_link link;
} entry;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static entry *table; /* PB_LIVE_LINKS_MAX, made at first use */

static int used(const entry *e) {
  return e->link.id[0] != '\0';
}

static int dead(const entry *e, int64_t now) {
  return e->link.revoked || now >= e->link.expires_wall_ms;
}

/* A free slot, else the dead link that expired first. NULL: all live. */
static entry *slot_locked(int64_t now) {
  entry *best = NULL;
  for (int i = 0; i < PB_LIVE_LINKS_MAX; i++) {
    entry *e = &table[i];
    if (!used(e)) return e;
    if (dead(e, now) && (!best || e->link.expires_wall_ms < best->link.expires_wall_ms)) best = e;
  }
  return best;
}

int pb_live_mint(const char *session_id, int64_t account_id, pb_live_mode mode, int64_t ttl_ms,
                 char token_out[PB_LIVE_TOKEN_LEN + 1], pb_live_link *out) {
  if (!session_id || strlen(session_id) >= sizeof(out->session_id)) return PB_EINVAL;
  char id[PB_LIVE_ID_LEN + 1];
  /* The capability starts with the node tag (pb.h), 112 random bits. */
  if (pb_random_id_hex(token_out, PB_LIVE_TOKEN_LEN / 2) || pb_random_id_hex(id, PB_LIVE_ID_LEN / 2))
    return PB_EIO;
  int64_t now = pb_wall_ms();
  pthread_mutex_lock(&mu);
  if (!table) table = calloc(PB_LIVE_LINKS_MAX, sizeof(*table));
  entry *e = table ? slot_locked(now) : NULL;
  if (!e) {
    pthread_mutex_unlock(&mu);
    return table ? PB_EBUSY : PB_ENOMEM;
  }
  memset(e, 0, sizeof(*e));
  pb_sha256(token_out, PB_LIVE_TOKEN_LEN, e->hash);
  pb_strlcpy(e->link.id, id, sizeof(e->link.id));
  pb_strlcpy(e->link.session_id, session_id, sizeof(e->link.session_id));
  e->link.account_id = account_id;
  e->link.mode = mode;
  e->link.expires_wall_ms = now + (ttl_ms > 0 ? ttl_ms : PB_LIVE_TTL_DEFAULT_MS);
  *out = e->link;
  pthread_mutex_unlock(&mu);
  return 0;
}

static int verdict(const entry *e, pb_live_link *out) {
  *out = e->link;
  if (e->link.revoked) return PB_EREVOKED;
  if (pb_wall_ms() >= e->link.expires_wall_ms) return PB_EEXPIRED;
  return 0;
}

int pb_live_lookup(const char *token, pb_live_link *out) {
  memset(out, 0, sizeof(*out));
  if (!token || strlen(token) != PB_LIVE_TOKEN_LEN) return PB_ENOTFOUND;
  unsigned char h[PB_SHA256_LEN];
  pb_sha256(token, PB_LIVE_TOKEN_LEN, h);
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  for (int i = 0; table && i < PB_LIVE_LINKS_MAX; i++)
    if (used(&table[i]) && !memcmp(table[i].hash, h, sizeof(h))) {
      rc = verdict(&table[i], out);
      break;
    }
  pthread_mutex_unlock(&mu);
  return rc;
}

int pb_live_get(const char *id, pb_live_link *out) {
  memset(out, 0, sizeof(*out));
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  for (int i = 0; id && table && i < PB_LIVE_LINKS_MAX; i++)
    if (used(&table[i]) && !strcmp(table[i].link.id, id)) {
      rc = verdict(&table[i], out);
      break;
    }
  pthread_mutex_unlock(&mu);
  return rc;
}

int pb_live_revoke(const char *session_id, int64_t account_id, const char *id) {
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  for (int i = 0; id && table && i < PB_LIVE_LINKS_MAX; i++) {
    pb_live_link *l = &table[i].link;
    if (used(&table[i]) && !strcmp(l->id, id) && !strcmp(l->session_id, session_id) &&
        l->account_id == account_id) {
      l->revoked = 1;
      rc = 0;
      break;
    }
  }
  pthread_mutex_unlock(&mu);
  return rc;
}
