#ifndef PB_HTTP_PROXY_H
#define PB_HTTP_PROXY_H
/* The internal channel of a cluster: a request, or a session's / live
 * view's WebSocket, that arrives at a node which does not hold what it
 * names is relayed to the node that does (core/nodes.h says which), as an
 * lws client connection on the I/O thread: no extra thread, no job slot,
 * and the same rx flow control both ways as the CDP bridge (cdpws.c).
 *
 * The forwarded request carries the client's end-to-end headers (the owner
 * authenticates the tenant as always) plus X-Ppod-Cluster-Key,
 * X-Ppod-Via: <own tag>, X-Forwarded-For and X-Forwarded-Host. A node that
 * receives X-Ppod-Via (or X-Ppod-Cluster-Key) with the right key serves the
 * request itself, never forwarding it again, and only then believes its
 * X-Forwarded-*; with a wrong or absent key it refuses it (403
 * CLUSTER_KEY_INVALID). Node URLs are plain http:// (a private network).
 *
 * Answers are streamed: at most PB_FWD_PENDING_MAX bytes wait for a slow
 * reader before the owner's side stops being read. Request bodies are
 * buffered (up to PB_BODY_MAX) before the owner is called.
 * I/O thread only. */
#include "core/nodes.h"

#include <libwebsockets.h>

typedef struct pb_server pb_server;
typedef struct pss pss_t;
typedef struct pb_fwd pb_fwd;

/* Bytes queued for one side before the other side stops being read. */
#define PB_FWD_PENDING_MAX (1024 * 1024)
/* The owner must accept the TCP connection within this. */
#define PB_FWD_CONNECT_MS 2000
/* ... and start its answer within this (an operation's own deadlines and a
 * handoff's long poll are shorter); an owner that never answers is a 502. */
#define PB_FWD_ANSWER_MS (330 * 1000)

/* What the node does with a request for path (decoded, no query). */
typedef enum {
  PB_FWD_LOCAL = 0, /* served here */
  PB_FWD_REMOTE,    /* relayed to *to */
  PB_FWD_BAD_KEY,   /* X-Ppod-Via / -Cluster-Key without the right key: 403 */
  PB_FWD_LOST,      /* its node was lost: 410 NODE_LOST */
} pb_fwd_verdict;

pb_fwd_verdict pb_fwd_decide(pb_server *s, struct lws *wsi, const char *path, int lws_method,
                             pb_node_route *to);

/* Relays the HTTP request on wsi (its headers parsed, its body, if any, not
 * yet read) to to->url. 0: taken (the connection's pss->fwd holds it);
 * else a PB_E* and nothing was done. */
int pb_http_forward(struct lws *wsi, const pb_node_route *to);
/* The request body's bytes, and its end (then the owner is called). */
void pb_fwd_body(pb_fwd *f, const void *in, size_t len);
void pb_fwd_body_end(pb_fwd *f);
/* LWS_CALLBACK_HTTP_WRITEABLE of a forwarded request: -1 closes. */
int pb_fwd_http_writable(pb_fwd *f, struct lws *wsi);

/* A WebSocket upgrade: 0 relayed (accept the handshake), 1 refused (the
 * answer was written), -1 close, 2 not ours (serve it here). */
int pb_fwd_ws_confirm(pb_server *s, struct lws *wsi);
/* 1 when wsi's upgrade was taken by pb_fwd_ws_confirm. */
int pb_fwd_ws_pending(pb_server *s, struct lws *wsi);
int pb_fwd_ws_established(pb_server *s, struct lws *wsi, pss_t *pss);
int pb_fwd_ws_receive(pb_fwd *f, struct lws *wsi, const void *in, size_t len);
int pb_fwd_ws_writable(pb_fwd *f, struct lws *wsi);
/* The client's close frame (code and reason, to pass on). */
void pb_fwd_ws_peer_close(pb_fwd *f, const void *in, size_t len);

/* The client side went away (any role); f lets go of it. */
void pb_fwd_client_gone(pb_fwd *f);
/* An upgrade that never became a WebSocket. */
void pb_fwd_ws_pending_drop(pb_server *s, struct lws *wsi);

/* The protocol of the owner-side connections (server.c lists it). */
int pb_fwd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len);

/* 1 when the request on wsi comes from a node of the cluster (a valid
 * X-Ppod-Cluster-Key). */
int pb_fwd_trusted(pb_server *s, struct lws *wsi);
/* The client's address: X-Forwarded-For from a trusted node, else the
 * socket's peer. */
void pb_fwd_client_addr(pb_server *s, struct lws *wsi, char *out, size_t cap);
/* The Host the client used: X-Forwarded-Host from a trusted node, else
 * Host. 1 when found. */
int pb_fwd_client_host(pb_server *s, struct lws *wsi, char *out, size_t cap);

/* Frees the pending upgrades' table (after the lws context is gone). */
void pb_fwd_free(pb_server *s);

#endif
