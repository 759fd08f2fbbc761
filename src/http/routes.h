#ifndef PB_HTTP_ROUTES_H
#define PB_HTTP_ROUTES_H
/* The route table: every route the service answers, one row each, and the
 * only place a route is declared. Request dispatch, 404 against 405, the
 * WebSocket upgrade check and /openapi.json all read it. Pure data and
 * matching: no I/O, any thread. */
#include "core/admit.h"
#include "ops/ops.h"

#include <stddef.h>

typedef struct pb_server pb_server;
typedef struct req req;

typedef enum {
  PB_METHOD_ANY = 0, /* a row that takes every method */
  PB_METHOD_GET,
  PB_METHOD_POST,
  PB_METHOD_DELETE,
  PB_METHOD_OTHER, /* any other method: matches only PB_METHOD_ANY rows */
} pb_method;

typedef enum {
  PB_AUTH_NONE = 0,
  PB_AUTH_TOKEN, /* Authorization: Bearer <token> */
  /* or ?token=, for clients that cannot send a header (the session
   * WebSocket and the discovery URLs): anywhere else a token in a URL ends
   * up in logs and histories */
  PB_AUTH_TOKEN_OR_QUERY,
} pb_route_auth;

typedef enum {
  PB_BODY_NONE = 0, /* the work starts at once; a body sent is dropped */
  PB_BODY_JSON,     /* a JSON object, validated against schema, then admitted */
  PB_BODY_RAW,      /* any bytes: the handler starts a sink (http/files.c) that
                     * takes them as they arrive, with caps of its own */
  PB_BODY_WHOLE,    /* the whole body (up to PB_BODY_MAX), unparsed, to the
                     * handler on the I/O thread once complete (http/mcp.c) */
} pb_route_body;

/* A peer's request and answer shapes over a row's op (http/compat.c). */
typedef enum {
  PB_COMPAT_NONE = 0,
  PB_COMPAT_BROWSERLESS, /* Browserless v2: ?token=/?timeout=, text/html content,
                          * {data, debug} scrape, errors as text */
} pb_route_compat;

/* A row. Patterns are literal bytes, "{id}" (one path segment of 1..79
 * bytes) and a final "*" (the rest of the path, maybe empty, '/' too); the
 * first of "{id}" and "*" is the row's parameter. */
typedef struct {
  pb_method method;
  const char *pattern;
  const char *label; /* for /metrics and the request log; NULL: the pattern */
  /* Auth is the path's: the first row whose pattern matches, whatever its
   * method, says it (a wrong method is refused as that path would be). */
  pb_route_auth auth;
  int session;   /* the parameter's first segment is a live session of the
                  * account: 404 SESSION_NOT_FOUND otherwise */
  int websocket; /* a CDP WebSocket upgrade is taken at this pattern (and
                  * anything after it, as Chromium's own URLs carry more) */
  pb_route_body body;
  const char *schema;   /* PB_BODY_JSON: schemas/<schema>.json */
  pb_admit_class admit; /* per-account admission of the work */
  const char *kind;     /* usage ledger kind; NULL: not billed */
  /* Starts billable work billed elsewhere (a session, a crawl's pages):
   * refused with INSUFFICIENT_CREDITS like a row with a kind. */
  int bills;
  /* The work: an operation on a job thread, or a handler on the I/O thread
   * that answers at once. An operation without a body gets the request
   * {param_key: the parameter}. */
  pb_op_fn op;
  const char *param_key;
  int param_rest; /* the parameter runs to the end of the path ('/' too) */
  void (*handler)(pb_server *s, req *r);
  /* /openapi.json, for PB_BODY_JSON rows: one line, what the 200 carries,
   * its media types (NULL-terminated). */
  const char *summary;
  const char *ok_description;
  const char *const *ok_types;
  pb_route_compat compat; /* the request and answer mapped to a peer's shapes */
} pb_route;

typedef struct {
  const char *param; /* borrowed from the path; NULL when the row has none */
  size_t param_len;
} pb_route_match;

/* The table, in matching order. */
const pb_route *pb_routes(size_t *n);
/* The label of a route (its label or its pattern). */
const char *pb_route_label(const pb_route *rt);

/* The first row whose pattern matches path, whatever its method (the path's
 * resource: its label and auth). NULL when no row does (404). m may be
 * NULL. */
const pb_route *pb_route_resource(const char *path, pb_route_match *m);
/* The first row whose pattern matches path and that takes method. NULL:
 * none (405 when pb_route_resource found one). m may be NULL. */
const pb_route *pb_route_find(const char *path, pb_method method, pb_route_match *m);
/* The WebSocket row for an upgrade to uri (its raw request line: query and
 * all), or NULL. m may be NULL. */
const pb_route *pb_route_websocket(const char *uri, pb_route_match *m);

/* The first segment of a parameter (up to a '/'), as a session id: copied
 * to id (cap bytes) when it is 1..cap-1 bytes; else id is "" and 0 is
 * returned. */
int pb_route_session_id(const pb_route_match *m, char *id, size_t cap);

#endif
