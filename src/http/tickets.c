/* Connect tickets (tickets.h): a fixed table searched linearly. 1024 slots
 * of 32 hex digits are compared in a few microseconds, and a ticket is
 * redeemed once per WebSocket upgrade, so nothing cleverer is needed. */
#include "http/tickets.h"

#include "common/hash.h"
#include "common/pb.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  char ticket[PB_TICKET_LEN + 1]; /* "" : free */
  char session[PB_SESSION_ID_MAX];
  pb_auth auth;
  int64_t issued_ms;
} slot;

struct pb_tickets {
  slot s[PB_TICKETS_MAX];
};

int pb_tickets_new(pb_tickets **out) {
  *out = calloc(1, sizeof(**out));
  return *out ? 0 : PB_ENOMEM;
}

void pb_tickets_free(pb_tickets *t) {
  free(t);
}

static int live(const slot *e, int64_t now_ms) {
  return e->ticket[0] && now_ms - e->issued_ms < PB_TICKET_TTL_MS;
}

/* Equal without an early exit: how long a wrong guess takes says nothing
 * about how close it was. */
static int same(const char *a, const char *b) {
  unsigned char d = 0;
  for (size_t i = 0; i < PB_TICKET_LEN; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

int pb_tickets_issue(pb_tickets *t, const pb_auth *auth, const char *session_id, int64_t now_ms,
                     char out[PB_TICKET_LEN + 1]) {
  out[0] = '\0';
  size_t idlen = session_id ? strlen(session_id) : 0;
  if (!t || !auth || idlen == 0 || idlen >= PB_SESSION_ID_MAX) return PB_EINVAL;
  slot *free_slot = NULL, *oldest_own = NULL;
  int own = 0;
  for (int i = 0; i < PB_TICKETS_MAX; i++) {
    slot *e = &t->s[i];
    if (e->ticket[0] && !live(e, now_ms)) e->ticket[0] = '\0';
    if (!e->ticket[0]) {
      if (!free_slot) free_slot = e;
      continue;
    }
    if (e->auth.account_id != auth->account_id) continue;
    own++;
    if (!oldest_own || e->issued_ms < oldest_own->issued_ms) oldest_own = e;
  }
  slot *use = own >= PB_TICKETS_PER_ACCOUNT ? oldest_own : free_slot;
  if (!use) return PB_EBUSY;
  if (pb_random_hex(use->ticket, PB_TICKET_LEN / 2)) return PB_EIO;
  memcpy(use->session, session_id, idlen + 1);
  use->auth = *auth;
  use->issued_ms = now_ms;
  memcpy(out, use->ticket, PB_TICKET_LEN + 1);
  return 0;
}

int pb_tickets_redeem(pb_tickets *t, const char *ticket, const char *session_id, int64_t now_ms,
                      pb_auth *out) {
  if (!t || !ticket || strlen(ticket) != PB_TICKET_LEN || !session_id) return PB_ENOTFOUND;
  slot *hit = NULL;
  for (int i = 0; i < PB_TICKETS_MAX; i++)
    if (t->s[i].ticket[0] && same(t->s[i].ticket, ticket)) hit = &t->s[i];
  if (!hit) return PB_ENOTFOUND;
  int rc = 0;
  if (!live(hit, now_ms))
    rc = PB_EEXPIRED;
  else if (strcmp(hit->session, session_id))
    rc = PB_EFORBIDDEN;
  else if (out)
    *out = hit->auth;
  memset(hit, 0, sizeof(*hit));
  return rc;
}

int pb_tickets_count(pb_tickets *t, int64_t now_ms) {
  int n = 0;
  for (int i = 0; t && i < PB_TICKETS_MAX; i++) n += live(&t->s[i], now_ms);
  return n;
}
