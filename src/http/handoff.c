/* Handoffs over HTTP: GET (a long poll) and DELETE of
 * /browser/sessions/{id}/handoff, the handoff's fields in the session
 * list, and the person's "hand back" from the live page (live.c calls
 * handoff_handback). The POST is a job (ops/handoff.c): it reads a body.
 *
 * A long poll is parked, not run: the request stays on the I/O thread's
 * list with its deadline, holding no thread, and is answered when the
 * handoff ends (handoff_wake, right away on the person's "Done" or the
 * agent's DELETE), its wait or the handoff's timeout passes, the session
 * ends or the service drains; a 200 ms timer checks the deadlines while
 * any wait. A client that leaves is forgotten at the next check. I/O
 * thread only. */
#include "sessions/handoff.h"
#include "http/errors.h"
#include "http/internal.h"
#include "sessions/livelinks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WAIT_MAX_S 300       /* ?wait= at most */
#define PARKED_MAX 1024      /* waits parked in all */
#define PARKED_PER_SESSION 8 /* so one tenant cannot take them all */
#define PARKED_PER_ACCOUNT 64
#define TICK_MS 200

typedef struct {
  req *r; /* a reference */
  char session_id[64];
  int64_t account_id;
  int64_t until_ms; /* pb_now_ms() clock */
} parked;

struct handoff_state {
  parked v[PARKED_MAX];
  int n;
  lws_sorted_usec_list_t tick;
  int ticking;
  pb_server *srv;
};

static void iso(int64_t wall_ms, char *out, size_t cap) {
  time_t t = (time_t)(wall_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

static cJSON *handoff_json(const pb_handoff *h) {
  char when[64];
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "handoffId", h->id);
  cJSON_AddStringToObject(o, "state", pb_handoff_state_text(h->state));
  cJSON_AddStringToObject(o, "message", h->message);
  const char *by = pb_handoff_by_text(h->ended_by);
  if (by)
    cJSON_AddStringToObject(o, "endedBy", by);
  else
    cJSON_AddNullToObject(o, "endedBy");
  iso(h->created_wall_ms, when, sizeof(when));
  cJSON_AddStringToObject(o, "startedAt", when);
  iso(h->deadline_wall_ms, when, sizeof(when));
  cJSON_AddStringToObject(o, "expiresAt", when);
  if (h->ended_wall_ms) {
    iso(h->ended_wall_ms, when, sizeof(when));
    cJSON_AddStringToObject(o, "endedAt", when);
  } else {
    cJSON_AddNullToObject(o, "endedAt");
  }
  return o;
}

void handoff_add_json(cJSON *session, const char *session_id, int64_t account_id) {
  pb_handoff h;
  if (pb_handoff_get(session_id, account_id, &h))
    cJSON_AddNullToObject(session, "handoff");
  else
    cJSON_AddItemToObject(session, "handoff", handoff_json(&h));
}

/* The answer for the session's handoff as it is now; 1 when answered
 * (ended, none, or final), 0 while it waits and final is 0. */
static int answer_state(req *r, const char *sid, int64_t account_id, int final) {
  pb_handoff h;
  if (pb_handoff_get(sid, account_id, &h)) {
    answer_error(r, PB_CODE_HANDOFF_NOT_FOUND, "no handoff of session %s", sid);
    return 1;
  }
  if (h.state == PB_HANDOFF_TIMEOUT) {
    answer_error(r, PB_CODE_HANDOFF_TIMEOUT,
                 "handoff %s timed out: the person did not hand back in time", h.id);
    return 1;
  }
  if (h.state == PB_HANDOFF_WAITING && !final) return 0;
  answer_json(r, handoff_json(&h));
  return 1;
}

static struct handoff_state *state(pb_server *s) {
  if (!s->handoff) {
    s->handoff = calloc(1, sizeof(*s->handoff));
    if (s->handoff) s->handoff->srv = s;
  }
  return s->handoff;
}

static void tick(lws_sorted_usec_list_t *sul);

static void tick_start(struct handoff_state *hs) {
  if (hs->ticking || !hs->n) return;
  hs->ticking = 1;
  lws_sul_schedule(hs->srv->ctx, 0, &hs->tick, tick, TICK_MS * LWS_US_PER_MS);
}

/* Answers the parked polls whose handoff ended, whose wait passed, or all
 * when the service drains; forgets those whose client left. */
static void check(struct handoff_state *hs) {
  int64_t now = pb_now_ms();
  int draining = hs->srv->draining;
  for (int i = 0; i < hs->n;) {
    parked *p = &hs->v[i];
    int done = 1;
    if (p->r->wsi) {
      pb_session *ss = pb_sessions_get(hs->srv->o.ops->sessions, p->session_id, p->account_id);
      int ended = !ss || pb_session_ended(ss, NULL);
      pb_session_unref(ss);
      if (ended)
        answer_error(p->r, PB_CODE_SESSION_NOT_FOUND,
                     "the session %s ended while its handoff waited", p->session_id);
      else
        done = answer_state(p->r, p->session_id, p->account_id, draining || now >= p->until_ms);
    }
    if (!done) {
      i++;
      continue;
    }
    req_release(p->r);
    hs->v[i] = hs->v[--hs->n];
  }
}

static void tick(lws_sorted_usec_list_t *sul) {
  struct handoff_state *hs = lws_container_of(sul, struct handoff_state, tick);
  hs->ticking = 0;
  check(hs);
  tick_start(hs);
}

void handoff_wake(pb_server *s) {
  if (s->handoff && s->handoff->n) check(s->handoff);
}

/* ---- GET /browser/sessions/{id}/handoff[?wait=S] ---- */

void get_handoff(pb_server *s, req *r) {
  const char *sid = pb_session_id(r->route_session);
  char arg[32];
  long long wait = 0;
  const char *w = lws_get_urlarg_by_name(r->wsi, "wait=", arg, sizeof(arg));
  if (w && pb_parse_int(w, 0, WAIT_MAX_S, &wait)) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "wait must be whole seconds from 0 to %d", WAIT_MAX_S);
    return;
  }
  if (answer_state(r, sid, r->auth.account_id, wait == 0 || s->draining)) return;
  struct handoff_state *hs = state(s);
  int of_session = 0, of_account = 0;
  for (int i = 0; hs && i < hs->n; i++)
    if (hs->v[i].account_id == r->auth.account_id) {
      of_account++;
      of_session += !strcmp(hs->v[i].session_id, sid);
    }
  if (!hs || hs->n == PARKED_MAX || of_session >= PARKED_PER_SESSION ||
      of_account >= PARKED_PER_ACCOUNT) {
    answer_error(r, PB_CODE_BUSY,
                 "too many waits for handoffs (%d a session, %d an account); retry shortly",
                 PARKED_PER_SESSION, PARKED_PER_ACCOUNT);
    return;
  }
  parked *p = &hs->v[hs->n++];
  atomic_fetch_add(&r->refs, 1);
  p->r = r;
  pb_strlcpy(p->session_id, sid, sizeof(p->session_id));
  p->account_id = r->auth.account_id;
  p->until_ms = pb_now_ms() + wait * 1000;
  /* lws would close a connection quiet for its timeout_secs (30 s); the
   * wait is bounded here instead. */
  lws_set_timeout(r->wsi, NO_PENDING_TIMEOUT, 0);
  tick_start(hs);
}

/* ---- DELETE /browser/sessions/{id}/handoff: the agent takes it back ---- */

void delete_handoff(pb_server *s, req *r) {
  const char *sid = pb_session_id(r->route_session);
  pb_handoff h;
  int rc = pb_handoff_end(sid, r->auth.account_id, PB_HANDOFF_BY_AGENT, &h);
  if (rc == PB_ENOTFOUND) {
    answer_error(r, PB_CODE_HANDOFF_NOT_FOUND, "no handoff of session %s", sid);
    return;
  }
  if (rc == 0) pb_live_revoke(sid, r->auth.account_id, h.link_id);
  /* Ended already (by the person or the timeout): said as it is. */
  answer_json(r, handoff_json(&h));
  handoff_wake(s);
}

/* ---- the person's "Done" (live.c) ---- */

int handoff_handback(pb_server *s, const char *session_id, int64_t account_id, pb_handoff *out) {
  int rc = pb_handoff_end(session_id, account_id, PB_HANDOFF_BY_PERSON, out);
  if (rc) return rc;
  /* The person's control ends with the handoff. */
  pb_live_revoke(session_id, account_id, out->link_id);
  PB_INFO("handoff: %s of %s handed back by the person", out->id, session_id);
  handoff_wake(s);
  return 0;
}

void handoff_free(pb_server *s) {
  struct handoff_state *hs = s->handoff;
  if (!hs) return;
  for (int i = 0; i < hs->n; i++) req_release(hs->v[i].r);
  free(hs);
  s->handoff = NULL;
}
