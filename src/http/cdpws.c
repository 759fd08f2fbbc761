/* The CDP WebSocket of an acquired session, bridged to the session's
 * proxy (sessions/session.h): the upgrade is settled (route, auth,
 * ownership, one client at a time) before the handshake is answered;
 * client messages are reassembled under a cap and handed to the session's
 * own thread with back-pressure; its output is written as the socket
 * drains. A socket whose token stops being valid is closed with 4001.
 * I/O thread only. */
#include "http/errors.h"
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void pending_ws_drop(pb_server *s, struct lws *wsi, pb_session **taken, pb_auth *auth) {
  for (int i = 0; i < s->npending_ws; i++)
    if (s->pending_ws[i].wsi == wsi) {
      pb_session *ss = s->pending_ws[i].session;
      if (auth) *auth = s->pending_ws[i].auth;
      s->pending_ws[i] = s->pending_ws[--s->npending_ws];
      if (taken) {
        *taken = ss;
      } else {
        pb_session_detach(ss, wsi);
        pb_session_unref(ss);
      }
      return;
    }
}

/* Answers a refused upgrade with the JSON error envelope, and logs it as one
 * JSON line like a request's (account and session when known, may be NULL). */
static int ws_refuse(struct lws *wsi, const char *account, const char *session, pb_code err,
                     const char *message) {
  int status = pb_http_status(err);
  const char *code = pb_code_text(err);
  char body[512], rid[PB_REQUEST_ID_MAX + 1];
  int k = lws_hdr_custom_copy(wsi, body, sizeof(body), "x-request-id:", 13);
  if (k > 0 && request_id_ok(body))
    pb_strlcpy(rid, body, sizeof(rid));
  else
    request_id_new(rid);
  if (pb_log_level >= PB_LOG_WARN) {
    char ts[96], path[128] = "";
    iso_now(ts, sizeof(ts));
    char uri[512];
    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0) {
      uri[strcspn(uri, "?")] = '\0'; /* never log a ?token= */
      pb_strlcpy(path, uri, sizeof(path));
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "level", status >= 500 ? "error" : "warn");
    cJSON_AddStringToObject(o, "msg", "websocket refused");
    cJSON_AddStringToObject(o, "requestId", rid);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddStringToObject(o, "error", code);
    cJSON_AddStringToObject(o, "reason", message);
    if (account && *account) cJSON_AddStringToObject(o, "account", account);
    if (session && *session) cJSON_AddStringToObject(o, "session", session);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line) fprintf(stderr, "%s\n", line);
    free(line);
  }
  int n = snprintf(body, sizeof(body),
                   "{\"success\":false,\"errors\":[{\"code\":\"%s\","
                   "\"message\":\"%s\"}],\"requestId\":\"%s\"}",
                   code, message, rid);
  unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start,
                                     *end = buf + sizeof(buf) - 1;
  if (lws_add_http_common_headers(wsi, (unsigned int)status, "application/json", (lws_filepos_t)n,
                                  &p, end) ||
      lws_add_http_header_by_name(wsi, (const unsigned char *)"x-request-id:", (unsigned char *)rid,
                                  (int)strlen(rid), &p, end) ||
      lws_finalize_write_http_header(wsi, start, &p, end))
    return -1;
  lws_write(wsi, (unsigned char *)body, (size_t)n, LWS_WRITE_HTTP_FINAL);
  return 1;
}

/* An upgrade to /browser/sessions/{id}/devtools/browser: auth, ownership and
 * one client at a time are settled before the handshake is answered. */
int cdpws_confirm(pb_server *s, struct lws *wsi) {
  char uri[512];
  char id[80];
  pb_route_match m;
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) <= 0)
    return ws_refuse(wsi, NULL, NULL, PB_CODE_NOT_FOUND,
                     "WebSockets are served at /browser/sessions/{id}/devtools/browser");
  if (!pb_route_websocket(uri, &m)) {
    /* Named in the log when the path is under a session; the query (a
     * ?token= maybe) is never part of the name. */
    uri[strcspn(uri, "?")] = '\0';
    const pb_route *rt = pb_route_resource(uri, &m);
    int named = rt && rt->session && pb_route_session_id(&m, id, sizeof(id));
    return ws_refuse(wsi, NULL, named ? id : NULL, PB_CODE_NOT_FOUND,
                     "WebSockets are served at /browser/sessions/{id}/devtools/browser");
  }
  pb_route_session_id(&m, id, sizeof(id));
  if (s->draining)
    return ws_refuse(wsi, NULL, id, PB_CODE_SHUTTING_DOWN, "the service is shutting down");
  req tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.srv = s;
  /* A connect ticket from json/version (discovery.c), used up here. */
  pb_code tcode = PB_CODE_NONE;
  const char *tmsg = NULL;
  int ticket = discovery_ticket_auth(s, wsi, id, &tmp.auth, &tcode, &tmsg);
  if (ticket < 0)
    return ws_refuse(wsi, tmp.auth.account[0] ? tmp.auth.account : NULL, id, tcode, tmsg);
  if (!ticket && authenticate(s, &tmp, wsi, 1)) {
    int rc = ws_refuse(wsi, tmp.auth.account[0] ? tmp.auth.account : NULL, id, tmp.res.err,
                       tmp.res.message);
    pb_op_result_free(&tmp.res);
    return rc;
  }
  pb_session *ss = pb_sessions_get(s->o.ops->sessions, id, tmp.auth.account_id);
  if (!ss)
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_NOT_FOUND,
                     "no live session with that id for this account");
  if (s->npending_ws == (int)(sizeof(s->pending_ws) / sizeof(s->pending_ws[0]))) {
    pb_session_unref(ss);
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_BUSY,
                     "too many connections being set up; retry");
  }
  int rc = pb_session_attach(ss, wsi);
  if (rc) {
    pb_session_unref(ss);
    if (rc == PB_EBUSY)
      return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_IN_USE,
                       "another client is connected to this session");
    return ws_refuse(wsi, tmp.auth.account, id, PB_CODE_SESSION_NOT_FOUND, "the session ended");
  }
  s->pending_ws[s->npending_ws].wsi = wsi;
  s->pending_ws[s->npending_ws].session = ss;
  s->pending_ws[s->npending_ws].auth = tmp.auth;
  s->npending_ws++;
  return 0;
}

int cdpws_receive(pss_t *pss, struct lws *wsi, const void *in, size_t len) {
  if (!pss->ws) return -1;
  if (!pss->rx_too_big && pb_buf_append(&pss->rx, in, len)) pss->rx_too_big = 1;
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) return 0;
  if (pss->rx_too_big) {
    static const char why[] = "message over the size cap";
    lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                     sizeof(why) - 1);
    return -1;
  }
  /* The session's own thread reads it: a 64 MiB message takes the best
   * part of a second to check, which no other tenant may wait for. Small
   * ones are copied so the buffer is not grown again for each. */
  size_t n = pss->rx.len;
  char *data;
  if (n < 65536) {
    data = malloc(n + 1);
    if (data) {
      memcpy(data, pss->rx.data ? pss->rx.data : "", n);
      data[n] = '\0';
    }
    pss->rx.len = 0;
  } else {
    data = pb_buf_steal(&pss->rx, &n);
  }
  if (!data) return -1;
  if (pb_session_submit(pss->ws, data, n) && !pss->rx_paused) {
    /* Until the session has caught up; cdpws_writable resumes. */
    pss->rx_paused = 1;
    lws_rx_flow_control(wsi, 0);
  }
  lws_callback_on_writable(wsi);
  return 0;
}

int cdpws_writable(struct lws *wsi, pss_t *pss) {
  if (!pss->ws) return -1;
  if (pss->kill_reason) {
    lws_close_reason(wsi, (enum lws_close_status)pss->kill_code, (unsigned char *)pss->kill_reason,
                     strlen(pss->kill_reason));
    return -1;
  }
  if (pss->rx_paused && !pb_session_inbound_full(pss->ws)) {
    pss->rx_paused = 0;
    lws_rx_flow_control(wsi, 1);
  }
  size_t len = 0;
  char *msg = pb_session_next_out(pss->ws, &len);
  if (msg) {
    unsigned char *buf = malloc(LWS_PRE + len);
    int ok = buf != NULL;
    if (ok) {
      memcpy(buf + LWS_PRE, msg, len);
      ok = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT) >= (int)len;
    }
    free(buf);
    free(msg);
    if (!ok) return -1;
    lws_callback_on_writable(wsi);
    return 0;
  }
  const char *reason = NULL;
  int code = pb_session_ended(pss->ws, &reason);
  if (code) {
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
  }
  return 0;
}

static void wake_conn(void *conn, void *data) {
  (void)data;
  lws_callback_on_writable((struct lws *)conn);
}

void cdpws_wake_all(pb_server *s) {
  if (s->o.ops->sessions) pb_sessions_each_conn(s->o.ops->sessions, wake_conn, NULL);
}

int cdpws_established(pb_server *s, struct lws *wsi, pss_t *pss) {
  pb_session *ss = NULL;
  pb_auth auth;
  memset(&auth, 0, sizeof(auth));
  pending_ws_drop(s, wsi, &ss, &auth);
  memset(pss, 0, sizeof(*pss));
  if (!ss) return -1;
  pss->ws = ss;
  pss->ws_auth = auth;
  pss->ws_wsi = wsi;
  pss->ws_next = s->ws_conns;
  if (s->ws_conns) s->ws_conns->ws_prev = &pss->ws_next;
  pss->ws_prev = &s->ws_conns;
  s->ws_conns = pss;
  pb_buf_init(&pss->rx, PB_CDP_MESSAGE_MAX);
  PB_INFO("sessions: client connected to %s (account %s)", pb_session_id(ss), auth.account);
  lws_callback_on_writable(wsi);
  return 0;
}

void cdpws_closed(pb_server *s, struct lws *wsi, pss_t *pss) {
  (void)s;
  if (pss && pss->ws_prev) {
    *pss->ws_prev = pss->ws_next;
    if (pss->ws_next) pss->ws_next->ws_prev = pss->ws_prev;
    pss->ws_prev = NULL;
  }
  if (pss && pss->ws) {
    PB_INFO("sessions: client left %s (account %s)", pb_session_id(pss->ws), pss->ws_auth.account);
    pb_session_detach(pss->ws, wsi);
    pb_session_unref(pss->ws);
    pss->ws = NULL;
    pb_buf_free(&pss->rx);
  }
}

void cdpws_pending_drop(pb_server *s, struct lws *wsi) {
  pending_ws_drop(s, wsi, NULL, NULL);
}

/* ---- tokens taken back while in use ---- */

/* WebSocket close code for a token that stopped being valid: 4000-4999 are
 * the application's; 4001 reads as HTTP's 401. */
#define PB_WS_CLOSE_AUTH 4001

static const char *auth_dead_reason(int rc) {
  switch (rc) {
    case PB_EEXPIRED:
      return "token expired";
    case PB_EDISABLED:
      return "account disabled";
    case PB_EDELETED:
      return "account deleted";
    default:
      return "token revoked";
  }
}

void cdpws_kill(pss_t *p, int rc) {
  if (p->kill_reason) return;
  p->kill_code = PB_WS_CLOSE_AUTH;
  p->kill_reason = auth_dead_reason(rc);
  PB_INFO("sessions: closing the client of %s (account %s): %s", p->ws ? pb_session_id(p->ws) : "?",
          p->ws_auth.account, p->kill_reason);
  lws_callback_on_writable(p->ws_wsi);
}
