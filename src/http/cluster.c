/* Cluster mode: which node a request is for (core/nodes.h), and what this
 * node does about it. An id carries the tag of the node that minted it:
 *   - this node's, or a tag nobody holds: answered here as today (an
 *     unknown session is 404);
 *   - a node that is up: forwarded to it (http/proxy.h);
 *   - a node declared lost: 410 NODE_LOST, but for a session id only to
 *     the account whose session it was (the history says): another
 *     account's id is 404 like any id it does not own, so a 410 never tells
 *     a tenant that someone else's session existed. A trace id or a live
 *     view capability of a lost node is 410 to whoever presents it: what
 *     it reveals is the node's fate, which every id of that node shares.
 * A request a peer forwarded (a valid cluster key) is never forwarded
 * again: no loops. I/O thread only. */
#include "http/internal.h"

#include "core/nodes.h"

#include <string.h>

/* http/proxy.h's (r-proxy), declared here so this file stands alone; weak:
 * until http/proxy.c is linked in, a remote id is answered 503. */
struct lws;
int pb_http_forward(struct lws *wsi, const pb_node_route *to);
#pragma weak pb_http_forward

#define PEER_KEY_HDR "x-ppod-cluster-key:"
#define PEER_VIA_HDR "x-ppod-via:"

/* 1 when the request came from another node of the cluster (its key). */
static int from_peer(pb_server *s, struct lws *wsi) {
  if (!wsi || lws_hdr_custom_length(wsi, PEER_VIA_HDR, (int)strlen(PEER_VIA_HDR)) <= 0) return 0;
  char key[PB_NODES_KEY_MAX + 1];
  int k = lws_hdr_custom_copy(wsi, key, sizeof(key), PEER_KEY_HDR, (int)strlen(PEER_KEY_HDR));
  int ok = k > 0 && pb_nodes_key_ok(s->o.nodes, key);
  explicit_bzero(key, sizeof(key));
  return ok;
}

/* The id a row routes by: the session's for session rows, else the first
 * segment of /browser/traces/{id} and /live/{capability}. */
static int id_of_path(const pb_route *row, const char *path, char *id, size_t cap) {
  static const char *const prefixes[] = {"/browser/traces/", "/live/"};
  (void)row;
  for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
    size_t pl = strlen(prefixes[i]);
    if (strncmp(path, prefixes[i], pl)) continue;
    const char *p = path + pl;
    size_t n = strcspn(p, "/?");
    if (n == 0 || n >= cap) return 0;
    memcpy(id, p, n);
    id[n] = '\0';
    return 1;
  }
  return 0;
}

int pb_http_route_request(pb_server *s, const pb_route *row, const char *path,
                          const char *session_id, pb_node_route *out) {
  memset(out, 0, sizeof(*out));
  out->kind = PB_ROUTE_LOCAL;
  if (!s->o.nodes) return -1;
  char id[80]; /* a path segment: routes.h caps it at 79 bytes */
  if (session_id && *session_id) {
    pb_strlcpy(id, session_id, sizeof(id));
  } else if (!path || !id_of_path(row, path, id, sizeof(id))) {
    return -1;
  }
  pb_nodes_route_id(s->o.nodes, id, out);
  return 0;
}

int cluster_route(pb_server *s, req *r, const pb_route *row, const char *path,
                  const char *session_id) {
  pb_node_route to;
  if (!s->o.nodes || pb_http_route_request(s, row, path, session_id, &to)) return 0;
  if (to.kind == PB_ROUTE_LOCAL || to.kind == PB_ROUTE_UNKNOWN) return 0;
  if (from_peer(s, r->wsi)) return 0; /* the peer thought it ours: as today */
  if (to.kind == PB_ROUTE_LOST) {
    if (session_id && *session_id) {
      int64_t owner = 0;
      if (pb_nodes_session_owner(s->o.nodes, session_id, &owner, NULL) ||
          owner != r->auth.account_id)
        return 0; /* not this account's: today's 404 */
    }
    answer_error(r, PB_CODE_NODE_LOST,
                 "the node holding this session (%s) stopped answering; its session was closed",
                 to.tag);
    return 1;
  }
  /* REMOTE */
  if (pb_http_forward && r->wsi && pb_http_forward(r->wsi, &to) == 0) return 1;
  answer_error(r, PB_CODE_SERVICE_UNAVAILABLE,
               "the node holding this (%s) cannot be reached from here", to.tag);
  return 1;
}

void cluster_sessions_add(pb_server *s, req *r, cJSON *arr) {
  if (!s->o.nodes) return;
  pb_nodes_session *v = NULL;
  int n = 0;
  if (pb_nodes_open_sessions(s->o.nodes, r->auth.account_id, 1000, &v, &n)) return;
  const char *self = pb_nodes_self_tag(s->o.nodes);
  for (int i = 0; i < n; i++) {
    /* Local ones are listed with their live fields already. */
    if (!strncmp(v[i].id, self, PB_NODES_TAG_LEN) || !strcmp(v[i].node, self)) continue;
    pb_node_route to;
    pb_nodes_route_id(s->o.nodes, v[i].id, &to);
    if (to.kind != PB_ROUTE_REMOTE) continue; /* lost: closed by the sweep soon */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "sessionId", v[i].id);
    cJSON_AddNumberToObject(o, "startTime", (double)v[i].start_ms);
    cJSON_AddStringToObject(o, "node", v[i].node[0] ? v[i].node : to.tag);
    cJSON_AddItemToArray(arr, o);
  }
  free(v);
}
