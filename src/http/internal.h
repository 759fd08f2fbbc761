#ifndef PB_HTTP_INTERNAL_H
#define PB_HTTP_INTERNAL_H
/* What the files of the HTTP layer share, and nothing outside src/http
 * includes: the server's state, a request, a connection's state, and the
 * helpers that answer. Everything here runs on the I/O thread unless it
 * says otherwise.
 *
 *   server.c    the libwebsockets adapter: context, callback, bodies,
 *               answers, dispatch through the route table, jobs, timers
 *   routes.c    the route table
 *   handlers.c  the routes answered on the I/O thread (health, metrics, ...)
 *   cdpws.c     the CDP WebSocket bridge of acquired sessions
 *   auth.c      tokens: checking one, and taking back what a revoked one
 *               holds (the watcher thread)
 *   discovery.c CDP discovery of a session (json/version, list, protocol)
 *               and the connect tickets its URLs carry (tickets.h) */
#include "common/pb.h"
#include "core/admit.h"
#include "core/ledger.h"
#include "core/store.h"
#include "http/metrics.h"
#include "http/routes.h"
#include "http/server.h"
#include "http/tickets.h"
#include "sessions/handoff.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define CHUNK (64 * 1024)
/* Longest X-Request-Id taken from a client. */
#define PB_REQUEST_ID_MAX 64

typedef struct pss pss_t;

struct pb_server {
  pb_server_opts o;
  struct lws_context *ctx;
  pb_schemas *schemas;
  pb_metrics *metrics;
  char *openapi;
  pb_ledger *ledger;
  /* Finished jobs handed from job threads to the I/O thread. */
  pthread_mutex_t done_mu;
  req *done;
  volatile sig_atomic_t stop_asked;
  int draining;
  int exit;
  int64_t drain_deadline;
  unsigned long passes; /* lws_service() calls so far (I/O thread) */
  int inflight;         /* jobs submitted and not yet handed back (I/O thread) */
  int unsent;           /* answers ready but not yet written (I/O thread) */
  req *live;            /* requests with a job, for cancelling at the drain deadline */
  lws_sorted_usec_list_t drain_sul;
  lws_sorted_usec_list_t heartbeat_sul;
  /* Per-account rate state (I/O thread only). */
  pb_admit_accounts accts;
  /* WebSocket upgrades accepted but not yet established (I/O thread). */
  struct pending_ws {
    struct lws *wsi;
    pb_session *session;
    pb_auth auth;
  } pending_ws[64];
  int npending_ws;
  /* Open CDP WebSockets (I/O thread): their tokens are re-checked. */
  pss_t *ws_conns;
  lws_sorted_usec_list_t authcheck_sul;
  /* The auth watcher: the I/O thread posts the token ids behind open
   * sockets and queued jobs, the watcher asks the store (an admin command
   * in another process may have revoked them) and posts verdicts back. */
  pthread_mutex_t watch_mu;
  pthread_cond_t watch_cv;
  pthread_t watch_thread;
  int watch_started, watch_stop, watch_posted;
  int64_t *watch_ids;
  size_t nwatch_ids, awatch_ids;
  struct dead_token {
    int64_t token_id;
    int rc;
  } dead[64];
  int ndead;
  /* CDP discovery (discovery.c): connect tickets, and the protocol
   * description filtered by the session policy, made once at start. */
  pb_tickets *tickets;
  char *protocol;
  size_t protocol_len;
  struct live_state *live_view; /* live view sockets (live.c); NULL until used */
  struct handoff_state *handoff; /* parked handoff polls (handoff.c); NULL until used */
  struct mcp_state *mcp;         /* MCP sessions and tool schemas (mcp.c) */
  char *docs_html;               /* GET /docs, rendered at start (docs.c) */
  size_t docs_len;
  char *docs_csp;
  const char *docs_headers[8]; /* its headers: name, value, ..., NULL */
  struct login_state *login;     /* sign-in by email (login.c); NULL: off */
  struct proxy_state *proxy;     /* relayed WebSocket upgrades (proxy.c); NULL until used */
  unsigned char wbuf[LWS_PRE + CHUNK];
};

struct req {
  atomic_int refs;
  pb_server *srv;
  struct lws *wsi; /* NULL once the connection closed (I/O thread) */
  const pb_route *route;
  const char *route_label;
  /* While the request is routed (on_request) only: its path, and the
   * live session its route names (a reference, dropped after). */
  const char *url;
  pb_session *route_session;
  pb_buf body;
  int body_too_big;
  struct files_upload *upload; /* a PB_BODY_RAW body being stored (files.c) */
  pb_auth auth;
  pb_limits limits;
  int counted_action; /* holds one of the account's concurrent actions */
  /* A body is still arriving: the answer waits for its end, so the bytes
   * after an early answer are never read as the next request. */
  int body_pending;
  int expect_continue; /* the client waits for 100 Continue before its body */
  size_t body_seen;    /* bytes of body received, kept or dropped */
  char ws_base[300];
  cJSON *json;
  pb_job job;
  atomic_int canceled;
  atomic_llong usage_id; /* the job's ledger row, once open */
  atomic_int auth_dead;  /* the token stopped being valid: its PB_E* */
  /* 0 queued, 1 taken by its job thread, 2 answered by the I/O thread
   * before it started (its token was taken back): whoever moves it from 0
   * owns the answer. */
  atomic_int stage;
  int64_t t0;
  int64_t t_submit;                /* when it entered the job queue */
  char rid[PB_REQUEST_ID_MAX + 1]; /* X-Request-Id */
  int method;                      /* LWSHUMETH_* */
  char path[128];                  /* for the request log */
  int logged;
  /* the answer */
  pb_op_result res;
  int ready;
  int close_after;
  int unsent; /* counted in the server's unsent answers */
  int retry_after;
  int headers_sent;
  size_t sent;
  req *next_done;
  req *next_live, **prev_live;
  /* MCP (mcp.c): an internal request has on_answer, called (I/O thread)
   * when its answer is ready instead of writing it; on_gone is called when
   * the client of a request went away; a stream answer is written by
   * mcp_stream_write from stream_buf; xh_name/xh_value, one more header. */
  void (*on_answer)(req *r);
  char iquery[256]; /* an internal request's URL query ("a=1&b=2"), as a socket's would be */
  void (*on_gone)(req *r);
  void *owner;
  int stream;
  pb_buf stream_buf;
  size_t stream_sent;
  const char *xh_name; /* "mcp-session-id:" */
  char xh_value[80];
  unsigned compat_flags; /* what a peer-shaped request asked of its answer (compat.c) */
  /* More headers: name, value, ..., NULL (borrowed; outlive the answer). */
  const char *const *xh_static;
  /* The answer's bytes when they are the server's own (res.body NULL,
   * res.body_len their length): a page every client gets, sent without a
   * copy per request. */
  const char *res_static;
};

struct pss {
  req *r;
  pb_session *ws; /* the acquired session of a CDP WebSocket */
  /* The token that opened the WebSocket; once it stops being valid the
   * socket is closed with kill_code and kill_reason (I/O thread). */
  pb_auth ws_auth;
  struct lws *ws_wsi;
  pss_t *ws_next, **ws_prev;
  int kill_code;
  const char *kill_reason;
  pb_buf rx; /* a client message being reassembled */
  int rx_too_big;
  int rx_paused; /* the session has more than it has handled yet */
  /* A request body must be complete by a deadline, however slowly it
   * trickles in: lws's own timeout restarts with every chunk. */
  lws_sorted_usec_list_t body_sul;
  struct lws *body_wsi;
  int body_done;             /* this request's body completion was seen */
  unsigned long repeat_pass; /* the loop pass of the repeats below */
  int repeats;
  struct viewer *live; /* a live view WebSocket (live.c) */
  struct pb_fwd *fwd;  /* a request or WebSocket relayed to another node (proxy.c) */
};

/* ---- answers (server.c) ---- */

/* Marks r's answer ready and asks for its socket to be writable. */
void answer_ready(req *r);
/* Sets a JSON error answer (status from http/errors.c) and makes it ready. */
void answer_error(req *r, pb_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* {"success":true,"result":<result>}; takes result. */
void answer_json(req *r, cJSON *result);
/* Makes res, failed with res->err, an error answer: its status from the
 * table (http/errors.c) and the JSON envelope carrying rid (may be NULL).
 * Any thread. */
void set_error_body(pb_op_result *res, const char *rid);
/* Copies header h into buf (len bytes): 1 when present, else 0 and "". */
int http_header(struct lws *wsi, enum lws_token_indexes h, char *buf, int len);
/* A client's X-Request-Id is kept if it is 1..64 of [A-Za-z0-9._-]. */
int request_id_ok(const char *id);
/* A fresh request id (24 hex digits) into out (at least 25 bytes). */
void request_id_new(char *out);
/* "2026-12-05T08:02:05.937Z" */
void iso_now(char *ts, size_t cap);
/* A job waiting or running for a token that stopped being valid (rc, a
 * PB_E*): canceled, and answered now if it has not started. */
void req_kill(req *r, int rc);
/* The answer of a job whose token was taken back (any thread). */
void auth_dead_fail(req *r);

/* ---- auth (auth.c) ---- */

/* Auth from `Authorization: Bearer T`, or `?token=T` where query_ok. Fills
 * r->auth; 0 or an answer set on r. */
int authenticate(pb_server *s, req *r, struct lws *wsi, int query_ok);
/* The code and message of a token the store refused (rc from
 * pb_token_check or pb_token_status). */
pb_code auth_refusal(int rc, const char **message);
/* Starts the watcher (its tick on the I/O thread, its thread). */
int auth_watch_start(pb_server *s);
/* Stops the watcher thread; before the lws context goes (it wakes it). */
void auth_watch_stop(pb_server *s);
/* Applies the watcher's verdicts: closes sockets, kills jobs. */
void auth_watch_apply(pb_server *s);

/* ---- the CDP WebSocket bridge (cdpws.c) ---- */

/* An upgrade: 0 to accept it, else the refusal was answered (1) or the
 * connection is to close (-1). */
int cdpws_confirm(pb_server *s, struct lws *wsi);
/* The upgrade became a WebSocket: pss is its state (zeroed here). */
int cdpws_established(pb_server *s, struct lws *wsi, pss_t *pss);
int cdpws_receive(pss_t *pss, struct lws *wsi, const void *in, size_t len);
int cdpws_writable(struct lws *wsi, pss_t *pss);
void cdpws_closed(pb_server *s, struct lws *wsi, pss_t *pss);
/* Forgets an upgrade that never became a WebSocket. */
void cdpws_pending_drop(pb_server *s, struct lws *wsi);
/* Wakes every open WebSocket whose session may have output. */
void cdpws_wake_all(pb_server *s);
/* Closes the socket: its token stopped being valid (rc, a PB_E*). */
void cdpws_kill(pss_t *p, int rc);

/* ---- files into a session (files.c) ---- */

/* POST /browser/sessions/{id}/files?name=N: checks the name and the caps
 * and starts storing the body, or answers the refusal. */
void post_session_file(pb_server *s, req *r);
/* A chunk of the body; an error answer is made on failure. */
void upload_body(req *r, const void *in, size_t len);
/* The whole body arrived: the file is kept and the answer made. */
void upload_end(req *r);
/* Drops an upload not kept (the connection went); NULL-safe. */
void upload_free(req *r);

/* ---- routes answered on the I/O thread (handlers.c) ---- */

void get_healthz(pb_server *s, req *r);
void get_metrics(pb_server *s, req *r);
void get_openapi(pb_server *s, req *r);
void get_sessions(pb_server *s, req *r);
void get_history(pb_server *s, req *r);
void get_limits(pb_server *s, req *r);
void get_usage(pb_server *s, req *r);
void get_session(pb_server *s, req *r);
/* GET /browser/limits' result for the account (also in GET /account). */
cJSON *limits_json(pb_server *s, int64_t account_id);
void answer_websocket_only(pb_server *s, req *r);
void answer_no_route(pb_server *s, req *r);
void answer_traces_get_only(pb_server *s, req *r);

/* ---- the account, the index and the reference (account.c, docs.c) ---- */

/* GET /account: who the token is, its expiry, balance, limits, usage today. */
void get_account(pb_server *s, req *r);
/* GET /: the API index (JSON); GET /docs: the API reference page, rendered
 * from s->openapi once, at start (docs_init; docs_free is NULL-safe). */
void get_index(pb_server *s, req *r);
void get_docs(pb_server *s, req *r);
int docs_init(pb_server *s);
void docs_free(pb_server *s);

/* ---- CDP discovery (discovery.c) ---- */

void get_discovery_version(pb_server *s, req *r);
void get_discovery_list(pb_server *s, req *r);
void get_discovery_protocol(pb_server *s, req *r);
/* Makes the server's ticket table and protocol description (at start). */
int discovery_init(pb_server *s);
void discovery_free(pb_server *s);
/* The ?ticket= of an upgrade to session_id's WebSocket, redeemed (it is
 * used up whatever the verdict): 0 when the URL has none (authenticate as
 * usual); 1 and *auth filled; -1 refused, with *code and *message. */
int discovery_ticket_auth(pb_server *s, struct lws *wsi, const char *session_id, pb_auth *auth,
                          pb_code *code, const char **message);

/* ---- the live view (live.c) ---- */

/* GET /live/{capability}: the page; its path is logged without the
 * capability. */
void get_live_page(pb_server *s, req *r);
/* DELETE /browser/sessions/{id}/live/{linkId}. */
void delete_live_link(pb_server *s, req *r);
/* 1 when an upgrade is to /live/...; live_confirm settles it as
 * cdpws_confirm does. */
int live_is_upgrade(struct lws *wsi);
/* A refused WebSocket upgrade answered with err's status and the JSON error
 * envelope (message needs no JSON escaping). live.c. 1: answered. */
int pb_ws_refuse_answer(struct lws *wsi, pb_code err, const char *message);
int live_confirm(pb_server *s, struct lws *wsi);
int live_is_pending(pb_server *s, struct lws *wsi);
void live_pending_drop(pb_server *s, struct lws *wsi);
int live_established(pb_server *s, struct lws *wsi, pss_t *pss);
int live_receive(pss_t *pss, struct lws *wsi, const void *in, size_t len);
int live_writable(struct lws *wsi, pss_t *pss);
void live_closed(pb_server *s, struct lws *wsi, pss_t *pss);
/* Wakes the viewers with a frame to send. */
void live_wake_all(pb_server *s);
/* After the lws context is gone. */
void live_free(pb_server *s);

/* ---- handoffs (handoff.c) ---- */

/* GET /browser/sessions/{id}/handoff[?wait=S]: parked until the handoff
 * ends or the wait passes; DELETE: the agent ends it. */
void get_handoff(pb_server *s, req *r);
void delete_handoff(pb_server *s, req *r);
/* Adds "handoff" (its state, or null) to a session's JSON. */
void handoff_add_json(cJSON *session, const char *session_id, int64_t account_id);
/* The person's "Done" from an interactive live view of session_id: ends
 * its waiting handoff (pb_handoff_end's codes), revokes
 * the handoff's link and answers the parked polls. */
int handoff_handback(pb_server *s, const char *session_id, int64_t account_id, pb_handoff *out);
/* Answers parked polls whose handoff changed. */
void handoff_wake(pb_server *s);
/* After the lws context is gone. */
void handoff_free(pb_server *s);
/* Drops a reference to r (server.c). */
void req_release(req *r);

/* ---- internal requests and MCP (server.c, mcp.c) ---- */

/* A request with no socket, run for parent's account (its auth, request id
 * and WebSocket base copied): on_answer(r) is called on the I/O thread when
 * its answer (r->res) is ready, maybe before internal_request_run returns.
 * The caller holds one reference; drop it with req_release. */
req *internal_request_new(pb_server *s, const req *parent, void (*on_answer)(req *r),
                          void *owner);
/* Runs r as method (LWSHUMETH_*) path with body (copied; NULL: none)
 * through the route table: its session check, schema, admission, job and
 * ledger, exactly as a client's request. The account is parent's, already
 * authenticated. */
void internal_request_run(pb_server *s, req *r, int lws_method, const char *path,
                          const char *body, size_t len);
/* POST and DELETE /mcp: the MCP Streamable HTTP transport (mcp.c). */
void mcp_post(pb_server *s, req *r);
void mcp_delete(pb_server *s, req *r);
/* Writes what r's event stream has queued: 0 more to come, 1 finished,
 * -1 close the connection now. */
int mcp_stream_write(pb_server *s, struct lws *wsi, req *r);
/* Makes the tools' input schemas (at start) and frees MCP's state. */
int mcp_init(pb_server *s);
void mcp_free(pb_server *s);

/* ---- sign-in by email (login.c) ---- */

/* POST /login and GET /login/verify?code=. */
void post_login(pb_server *s, req *r);
void get_login_verify(pb_server *s, req *r);
/* EXPIRED_TOKEN's words for a: POST /login where it can sign in there,
 * else the operator. */
const char *login_expired_message(pb_server *s, const pb_auth *a);
/* Starts sign-in by email when s->o.login asks for it (its worker and
 * mailer threads); login_free stops them (before the lws context goes). */
int login_init(pb_server *s);
void login_free(pb_server *s);

/* ---- cluster mode (cluster.c) ---- */
#include "core/nodes.h"
/* Where the request for row and path (or session_id when the id is
 * known) should be served: -1 when it is not routed by an id (or not
 * clustered), else 0 and *out. */
int pb_http_route_request(pb_server *s, const pb_route *row, const char *path,
                          const char *session_id, pb_node_route *out);
/* Acts on that: 1 when the request was answered (410 NODE_LOST, 503) or
 * taken over by the proxy; 0 when it is served here as today. */
int cluster_route(pb_server *s, req *r, const pb_route *row, const char *path,
                  const char *session_id);
/* GET /browser/sessions: the account's open sessions on the other nodes
 * (sessionId, startTime, node), appended to arr. */
void cluster_sessions_add(pb_server *s, req *r, cJSON *arr);

#endif
