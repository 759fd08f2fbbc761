#ifndef PB_EGRESS_NETNS_H
#define PB_EGRESS_NETNS_H
/* A network namespace per browser whose only way out is the egress proxy.
 *
 * pb_netns_listener() makes a new network namespace holding nothing but an
 * `lo` that is up, and in it a TCP socket listening on 127.0.0.1 (an
 * ephemeral port). The egress proxy accepts on that socket like on its own
 * and makes its upstream connections from the host's namespace; a process
 * that joins the namespace (setns, before exec) can reach the proxy and
 * nothing else: not the host's loopback, not its interfaces, not the
 * network, whatever its proxy settings say. */

/* Creates the namespace and its listening socket. On success *nsfd is an
 * O_CLOEXEC fd of the namespace (for setns; the namespace lives while it or
 * the socket is open) and *lfd the listening socket (non-blocking,
 * O_CLOEXEC); the caller closes both. *port is its port. PB_EFORBIDDEN when
 * the process lacks the privilege (CAP_SYS_ADMIN), PB_EIO on other errors;
 * nothing is left open then. Callable from any thread: the namespace is
 * entered by a short-lived thread of its own. */
int pb_netns_listener(int *nsfd, int *lfd, int *port);

/* A socket listening on 127.0.0.1 (an ephemeral port) in the caller's
 * namespace: the same socket without the namespace. PB_EIO on error. */
int pb_netns_loopback_listener(int *lfd, int *port);

#endif
