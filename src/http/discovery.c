/* CDP discovery of an acquired session, for clients that start from an
 * http URL: /browser/sessions/{id}/json/version (Playwright's
 * connectOverCDP, Puppeteer's browserURL, chrome-devtools-mcp --browserUrl),
 * json/list and json/protocol (chrome-remote-interface builds its API from
 * it).
 *
 * The webSocketDebuggerUrl of json/version carries a connect ticket
 * (tickets.h) in place of a credential: a client that only follows that
 * URL reaches the WebSocket authenticated, and the account's token never
 * travels in a URL of ours. The upgrade redeems it in cdpws_confirm. Both
 * run on the I/O thread, which alone touches the ticket table. */
#include "cdp/protocol.h"
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int discovery_init(pb_server *s) {
  int rc = pb_tickets_new(&s->tickets);
  if (rc) return rc;
  rc = pb_cdp_protocol_json(&s->protocol, &s->protocol_len);
  if (rc) PB_ERR("http: no CDP protocol description: %s", pb_strerror(rc));
  return rc;
}

void discovery_free(pb_server *s) {
  pb_tickets_free(s->tickets);
  s->tickets = NULL;
  free(s->protocol);
  s->protocol = NULL;
}

static void answer_text(req *r, char *text) {
  free(r->res.body);
  r->res.body = text;
  r->res.body_len = text ? strlen(text) : 0;
  r->res.content_type = "application/json";
  r->res.status = 200;
  answer_ready(r);
}

/* "wss" behind a proxy that ended TLS and said so, else "ws". */
static const char *ws_scheme(struct lws *wsi) {
  char proto[16];
  if (wsi && lws_hdr_custom_copy(wsi, proto, sizeof(proto), "x-forwarded-proto:", 18) > 0 &&
      !strcasecmp(proto, "https"))
    return "wss";
  return "ws";
}

void get_discovery_version(pb_server *s, req *r) {
  const char *id = pb_session_id(r->route_session);
  char ticket[PB_TICKET_LEN + 1];
  int rc = pb_tickets_issue(s->tickets, &r->auth, id, pb_now_ms(), ticket);
  if (rc == PB_EBUSY) {
    answer_error(r, PB_CODE_BUSY, "too many connect tickets waiting to be used; retry in a minute");
    return;
  }
  if (rc) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "no connect ticket: %s", pb_strerror(rc));
    return;
  }
  /* ws_base is "ws://<Host as the client sent it>". */
  const char *host = strstr(r->ws_base, "://");
  char ws[512];
  snprintf(ws, sizeof(ws), "%s%s/browser/sessions/%s/devtools/browser?ticket=%s", ws_scheme(r->wsi),
           host ? host : "://127.0.0.1", id, ticket);
  PB_DEBUG("sessions: connect ticket for %s (account %s)", id, r->auth.account);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "Browser", "HeadlessChrome (ppod-browser)");
  cJSON_AddStringToObject(o, "Protocol-Version", "1.3");
  cJSON_AddStringToObject(o, "webSocketDebuggerUrl", ws);
  char *text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  answer_text(r, text);
}

/* Chromium lists page targets here, each with a WebSocket of its own
 * (/devtools/page/<id>). A session serves one WebSocket, the browser's, and
 * its client finds and attaches to pages over it (Target.getTargets), so
 * the list is empty: an entry would point at a socket we do not serve. */
void get_discovery_list(pb_server *s, req *r) {
  (void)s;
  answer_text(r, strdup("[]"));
}

void get_discovery_protocol(pb_server *s, req *r) {
  if (!s->protocol) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "no protocol description was built in");
    return;
  }
  char *copy = malloc(s->protocol_len + 1);
  if (copy) memcpy(copy, s->protocol, s->protocol_len + 1);
  if (!copy) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return;
  }
  answer_text(r, copy);
}

/* ?ticket= of an upgrade: 1 when present, out holding it ("" when empty or
 * too long). lws keeps the query in the request line or splits it into
 * arguments, and then hands back the whole "ticket=..." argument. */
static int query_ticket(struct lws *wsi, char *out, size_t cap) {
  char uri[1024];
  out[0] = '\0';
  if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0)
    for (const char *q = strchr(uri, '?'); q; q = strchr(q, '&')) {
      q++;
      if (strncmp(q, "ticket=", 7)) continue;
      size_t n = strcspn(q + 7, "&");
      if (n < cap) {
        memcpy(out, q + 7, n);
        out[n] = '\0';
      }
      return 1;
    }
  char arg[PB_TICKET_LEN + 16];
  const char *v = lws_get_urlarg_by_name(wsi, "ticket=", arg, sizeof(arg));
  if (!v) return 0;
  if (!strncmp(v, "ticket=", 7)) v += 7;
  if (strlen(v) < cap) pb_strlcpy(out, v, cap);
  return 1;
}

int discovery_ticket_auth(pb_server *s, struct lws *wsi, const char *session_id, pb_auth *auth,
                          pb_code *code, const char **message) {
  char ticket[PB_TICKET_LEN + 8];
  if (!query_ticket(wsi, ticket, sizeof(ticket))) return 0;
  pb_auth a;
  memset(&a, 0, sizeof(a));
  int rc = pb_tickets_redeem(s->tickets, ticket, session_id, pb_now_ms(), &a);
  *code = PB_CODE_INVALID_TICKET;
  switch (rc) {
    case 0:
      break;
    case PB_EEXPIRED:
      *message = "the connect ticket expired (they last 60 s); fetch json/version again";
      return -1;
    case PB_EFORBIDDEN:
      *message = "the connect ticket was issued for another session";
      return -1;
    default:
      *message = "the connect ticket is unknown or was already used; fetch json/version again";
      return -1;
  }
  /* The token behind it may have been taken back since. */
  rc = pb_token_status(s->o.store, a.token_id, pb_wall_ms());
  *auth = a;
  if (rc) {
    *code = auth_refusal(rc, message);
    return -1;
  }
  return 1;
}
