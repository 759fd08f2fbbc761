#include "sessions/handoff.h"

#include "common/hash.h"
#include "common/pb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pb_handoff *table; /* PB_HANDOFF_MAX, made at first use; id "": free */
static unsigned version;

const char *pb_handoff_state_text(pb_handoff_state st) {
  return st == PB_HANDOFF_WAITING     ? "waiting"
         : st == PB_HANDOFF_COMPLETED ? "completed"
                                      : "timeout";
}

const char *pb_handoff_by_text(pb_handoff_by by) {
  switch (by) {
    case PB_HANDOFF_BY_PERSON:
      return "person";
    case PB_HANDOFF_BY_AGENT:
      return "agent";
    case PB_HANDOFF_BY_TIMEOUT:
      return "timeout";
    default:
      return NULL;
  }
}

/* A waiting handoff past its deadline ends by timeout (under mu). */
static void settle(pb_handoff *h, int64_t now) {
  if (h->state == PB_HANDOFF_WAITING && now >= h->deadline_wall_ms) {
    h->state = PB_HANDOFF_TIMEOUT;
    h->ended_by = PB_HANDOFF_BY_TIMEOUT;
    h->ended_wall_ms = h->deadline_wall_ms;
    h->version = ++version;
  }
}

static pb_handoff *find_locked(const char *session_id) {
  for (int i = 0; table && session_id && i < PB_HANDOFF_MAX; i++)
    if (table[i].id[0] && !strcmp(table[i].session_id, session_id)) return &table[i];
  return NULL;
}

/* Bytes of t to keep so that at most max remain and no UTF-8 sequence is cut. */
static size_t utf8_prefix(const char *t, size_t max) {
  size_t n = strnlen(t, max + 1);
  if (n <= max) return n;
  n = max;
  while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80) n--;
  return n;
}

int pb_handoff_start(const char *session_id, int64_t account_id, const char *message,
                     int64_t timeout_ms, const char *link_id, pb_handoff *out) {
  memset(out, 0, sizeof(*out));
  if (!session_id || strlen(session_id) >= sizeof(out->session_id) || !link_id ||
      strlen(link_id) >= sizeof(out->link_id))
    return PB_EINVAL;
  char id[PB_HANDOFF_ID_LEN + 1];
  if (pb_random_id_hex(id, PB_HANDOFF_ID_LEN / 2)) return PB_EIO;
  if (timeout_ms <= 0) timeout_ms = PB_HANDOFF_TIMEOUT_DEFAULT_MS;
  if (timeout_ms > PB_HANDOFF_TIMEOUT_MAX_MS) timeout_ms = PB_HANDOFF_TIMEOUT_MAX_MS;
  int64_t now = pb_wall_ms();
  pthread_mutex_lock(&mu);
  if (!table) table = calloc(PB_HANDOFF_MAX, sizeof(*table));
  pb_handoff *h = find_locked(session_id);
  if (h && h->account_id != account_id) h = NULL; /* cannot happen: ids are unique */
  if (h) settle(h, now);
  if (h && h->state == PB_HANDOFF_WAITING) {
    *out = *h;
    pthread_mutex_unlock(&mu);
    return PB_EEXIST;
  }
  for (int i = 0; !h && table && i < PB_HANDOFF_MAX; i++)
    if (!table[i].id[0]) h = &table[i];
  if (!h) {
    pthread_mutex_unlock(&mu);
    return table ? PB_EBUSY : PB_ENOMEM;
  }
  memset(h, 0, sizeof(*h));
  pb_strlcpy(h->id, id, sizeof(h->id));
  pb_strlcpy(h->session_id, session_id, sizeof(h->session_id));
  h->account_id = account_id;
  if (message) {
    size_t n = utf8_prefix(message, sizeof(h->message) - 1);
    memcpy(h->message, message, n);
    h->message[n] = '\0';
  }
  pb_strlcpy(h->link_id, link_id, sizeof(h->link_id));
  h->state = PB_HANDOFF_WAITING;
  h->created_wall_ms = now;
  h->deadline_wall_ms = now + timeout_ms;
  h->version = ++version;
  *out = *h;
  pthread_mutex_unlock(&mu);
  return 0;
}

int pb_handoff_get(const char *session_id, int64_t account_id, pb_handoff *out) {
  memset(out, 0, sizeof(*out));
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  pb_handoff *h = find_locked(session_id);
  if (h && h->account_id == account_id) {
    settle(h, pb_wall_ms());
    *out = *h;
    rc = 0;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

int pb_handoff_end(const char *session_id, int64_t account_id, pb_handoff_by by, pb_handoff *out) {
  memset(out, 0, sizeof(*out));
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  pb_handoff *h = find_locked(session_id);
  if (h && h->account_id == account_id) {
    int64_t now = pb_wall_ms();
    settle(h, now);
    rc = PB_EEXIST;
    if (h->state == PB_HANDOFF_WAITING) {
      h->state = PB_HANDOFF_COMPLETED;
      h->ended_by = by;
      h->ended_wall_ms = now;
      h->version = ++version;
      rc = 0;
    }
    *out = *h;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

int pb_handoff_take(const char *session_id, pb_handoff *out) {
  memset(out, 0, sizeof(*out));
  int rc = PB_ENOTFOUND;
  pthread_mutex_lock(&mu);
  pb_handoff *h = find_locked(session_id);
  if (h) {
    settle(h, pb_wall_ms());
    *out = *h;
    memset(h, 0, sizeof(*h));
    ++version;
    rc = 0;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

unsigned pb_handoff_version(void) {
  pthread_mutex_lock(&mu);
  int64_t now = pb_wall_ms();
  for (int i = 0; table && i < PB_HANDOFF_MAX; i++)
    if (table[i].id[0]) settle(&table[i], now);
  unsigned v = version;
  pthread_mutex_unlock(&mu);
  return v;
}
