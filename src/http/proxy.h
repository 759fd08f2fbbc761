#ifndef PB_HTTP_PROXY_H
#define PB_HTTP_PROXY_H
/* Cluster mode: a request for a resource another node holds, forwarded to
 * that node over the internal channel (the client's headers plus
 * X-Ppod-Cluster-Key and X-Ppod-Via). Implemented by http/proxy.c (r-proxy);
 * the decision to forward is http/cluster.c's. I/O thread. */
#include "core/nodes.h"

struct lws;

/* Takes the request on wsi over and forwards it to to->url. 0 when the
 * proxy has taken it (it answers); otherwise the caller answers. */
int pb_http_forward(struct lws *wsi, const pb_node_route *to);

#endif
