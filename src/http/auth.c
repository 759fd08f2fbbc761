/* Tokens: checking the one a request carries, and taking back what a token
 * holds once it stops being valid. Every AUTHCHECK_MS the I/O thread settles
 * expiry itself and posts the token ids behind open sockets and queued or
 * running jobs to the watcher thread, which asks the store (an admin command
 * in another process may have revoked them, or disabled or deleted their
 * account) and posts verdicts back; the I/O thread then closes the sockets
 * (cdpws_kill) and cancels the jobs (req_kill). */
#include "http/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTHCHECK_MS 500

/* ?token= from the raw request line, where lws has not split the query
 * (WebSocket upgrades). */
static int query_token(struct lws *wsi, char *out, size_t cap) {
  char uri[1024];
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0) return 0;
  const char *q = strchr(uri, '?');
  while (q) {
    q++;
    if (!strncmp(q, "token=", 6)) {
      size_t n = strcspn(q + 6, "&");
      if (n == 0 || n >= cap) return 0;
      memcpy(out, q + 6, n);
      out[n] = '\0';
      return 1;
    }
    q = strchr(q, '&');
  }
  return 0;
}

/* The answer for a token the store refused (rc from pb_token_check). */
pb_code auth_refusal(int rc, const char **message) {
  switch (rc) {
    case PB_EEXPIRED:
      *message = "the token expired; create a new one";
      return PB_CODE_EXPIRED_TOKEN;
    case PB_EREVOKED:
      *message = "the token was revoked";
      return PB_CODE_TOKEN_REVOKED;
    case PB_EDISABLED:
      *message = "the account is disabled";
      return PB_CODE_ACCOUNT_DISABLED;
    case PB_EDELETED:
      *message = "the account was deleted";
      return PB_CODE_ACCOUNT_DELETED;
    case PB_ESTORE:
    case PB_ENOSPACE:
      *message = "the account store failed";
      return PB_CODE_INTERNAL_ERROR;
    default:
      *message = "the token is not valid";
      return PB_CODE_INVALID_TOKEN;
  }
}

/* Auth from `Authorization: Bearer T`, or `?token=T` where query_ok (the
 * session WebSocket and discovery URLs, for clients that cannot send a
 * header: anywhere else a token in a URL ends up in logs and histories).
 * 0 or an answer sent. */
int authenticate(pb_server *s, req *r, struct lws *wsi, int query_ok) {
  char hdr[512], *tok = NULL;
  if (http_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr))) {
    if (strncasecmp(hdr, "Bearer ", 7)) {
      answer_error(r, PB_CODE_UNAUTHORIZED, "use 'Authorization: Bearer <token>'");
      return -1;
    }
    tok = hdr + 7;
    while (*tok == ' ') tok++;
  } else if (query_token(wsi, hdr, sizeof(hdr)) ||
             lws_get_urlarg_by_name(wsi, "token=", hdr, sizeof(hdr))) {
    if (!query_ok) {
      answer_error(r, PB_CODE_UNAUTHORIZED,
                   "?token= is accepted only on the session WebSocket, "
                   "discovery and Browserless-compatible URLs; "
                   "send 'Authorization: Bearer <token>'");
      return -1;
    }
    tok = hdr;
    /* During a WebSocket upgrade lws hands back the whole "token=..." arg. */
    if (!strncmp(tok, "token=", 6)) tok += 6;
  }
  if (!tok || !*tok) {
    answer_error(r, PB_CODE_UNAUTHORIZED, "a token is required: 'Authorization: Bearer <token>'");
    return -1;
  }
  int rc = pb_token_check(s->o.store, tok, pb_wall_ms(), &r->auth);
  if (rc) {
    const char *message;
    pb_code code = auth_refusal(rc, &message);
    if (rc == PB_EEXPIRED) message = login_expired_message(s, &r->auth);
    answer_error(r, code, "%s", message);
    return -1;
  }
  return 0;
}

/* Applies the watcher's verdicts (I/O thread). */
void auth_watch_apply(pb_server *s) {
  struct dead_token d[64];
  pthread_mutex_lock(&s->watch_mu);
  int n = s->ndead;
  memcpy(d, s->dead, (size_t)n * sizeof(d[0]));
  s->ndead = 0;
  pthread_mutex_unlock(&s->watch_mu);
  for (int i = 0; i < n; i++) {
    for (pss_t *p = s->ws_conns; p; p = p->ws_next)
      if (p->ws_auth.token_id == d[i].token_id) cdpws_kill(p, d[i].rc);
    for (req *r = s->live; r; r = r->next_live)
      if (r->auth.token_id == d[i].token_id) req_kill(r, d[i].rc);
  }
}

static void watch_post(pb_server *s, int64_t id) {
  if (s->nwatch_ids == s->awatch_ids) {
    size_t na = s->awatch_ids ? s->awatch_ids * 2 : 64;
    int64_t *n = realloc(s->watch_ids, na * sizeof(*n));
    if (!n) return;
    s->watch_ids = n;
    s->awatch_ids = na;
  }
  s->watch_ids[s->nwatch_ids++] = id;
}

/* Every AUTHCHECK_MS: expiry is settled here, revocation and accounts by
 * the watcher, so a token taken back ends its sockets and jobs within 2 s. */
static void authcheck_tick(lws_sorted_usec_list_t *sul) {
  pb_server *s = lws_container_of(sul, pb_server, authcheck_sul);
  int64_t now = pb_wall_ms();
  auth_watch_apply(s);
  pthread_mutex_lock(&s->watch_mu);
  s->nwatch_ids = 0;
  for (pss_t *p = s->ws_conns; p; p = p->ws_next) {
    if (p->kill_reason) continue;
    if (now >= p->ws_auth.expires_ms)
      cdpws_kill(p, PB_EEXPIRED);
    else
      watch_post(s, p->ws_auth.token_id);
  }
  for (req *r = s->live; r; r = r->next_live) {
    if (!r->auth.token_id || atomic_load(&r->auth_dead)) continue;
    if (now >= r->auth.expires_ms)
      req_kill(r, PB_EEXPIRED);
    else
      watch_post(s, r->auth.token_id);
  }
  if (s->nwatch_ids) {
    s->watch_posted = 1;
    pthread_cond_signal(&s->watch_cv);
  }
  pthread_mutex_unlock(&s->watch_mu);
  lws_sul_schedule(s->ctx, 0, &s->authcheck_sul, authcheck_tick, AUTHCHECK_MS * LWS_US_PER_MS);
}

/* The watcher thread: one indexed read per token posted, off the I/O
 * thread (the store may be busy with another process's write). */
static void *watch_main(void *arg) {
  pb_server *s = arg;
  int64_t *ids = NULL;
  size_t aids = 0;
  pthread_mutex_lock(&s->watch_mu);
  while (!s->watch_stop) {
    if (!s->watch_posted) {
      pthread_cond_wait(&s->watch_cv, &s->watch_mu);
      continue;
    }
    s->watch_posted = 0;
    size_t n = s->nwatch_ids;
    if (n > aids) {
      int64_t *ni = realloc(ids, n * sizeof(*ni));
      if (!ni) continue;
      ids = ni;
      aids = n;
    }
    memcpy(ids, s->watch_ids, n * sizeof(*ids));
    pthread_mutex_unlock(&s->watch_mu);
    struct dead_token d[64];
    int nd = 0;
    int64_t now = pb_wall_ms();
    for (size_t i = 0; i < n && nd < 64; i++) {
      int dup = 0;
      for (int j = 0; j < nd && !dup; j++) dup = d[j].token_id == ids[i];
      for (size_t j = 0; j < i && !dup; j++) dup = ids[j] == ids[i];
      if (dup) continue;
      int rc = pb_token_status(s->o.store, ids[i], now);
      if (rc == PB_ENOTFOUND) rc = PB_EDELETED;
      /* A store that fails says nothing about the token: keep it. */
      if (rc && rc != PB_ESTORE && rc != PB_ENOSPACE && rc != PB_EINVAL)
        d[nd++] = (struct dead_token){ids[i], rc};
    }
    pthread_mutex_lock(&s->watch_mu);
    for (int i = 0; i < nd && s->ndead < 64; i++) s->dead[s->ndead++] = d[i];
    if (nd) lws_cancel_service(s->ctx);
  }
  pthread_mutex_unlock(&s->watch_mu);
  free(ids);
  return NULL;
}

int auth_watch_start(pb_server *s) {
  lws_sul_schedule(s->ctx, 0, &s->authcheck_sul, authcheck_tick, AUTHCHECK_MS * LWS_US_PER_MS);
  if (pthread_create(&s->watch_thread, NULL, watch_main, s)) return PB_ENOMEM;
  s->watch_started = 1;
  return 0;
}

void auth_watch_stop(pb_server *s) {
  if (!s->watch_started) return;
  pthread_mutex_lock(&s->watch_mu);
  s->watch_stop = 1;
  pthread_cond_signal(&s->watch_cv);
  pthread_mutex_unlock(&s->watch_mu);
  pthread_join(s->watch_thread, NULL);
  s->watch_started = 0;
}
