#ifndef PB_EGRESS_PROXY_H
#define PB_EGRESS_PROXY_H
/* The egress proxy: the only way out for every Chromium the service runs.
 *
 * An HTTP forward proxy on 127.0.0.1 (an ephemeral port) with one thread of
 * its own. It serves absolute-form requests (`GET http://host/path`) and
 * `CONNECT host:port` tunnels (https, ws, wss). For each it resolves the host
 * once, checks every address it got, and connects only to those checked
 * addresses: a name that rebinds between check and connect gains nothing.
 * Loopback, private, link-local (cloud metadata), CGNAT, multicast and
 * unspecified addresses, in every spelling, are refused with 403 unless the
 * operator allow-listed the host:port (--allow-private): the rules of
 * egress/policy.h, the same the navigation check applies. Chromium shows a
 * refused tunnel as a network error and a refused plain request as the 403
 * page; either way the job goes on.
 *
 * Everything is bounded: connections, buffers per connection, header sizes,
 * resolver work and the time each phase may take. See docs in proxy.c. */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_egress_proxy pb_egress_proxy;

typedef struct {
  /* --allow-private entries, "HOST", "HOST:PORT" or "[V6]:PORT" (any port
   * when none is given); borrowed during pb_egress_proxy_start only. */
  const char *const *allow;
  int nallow;
  /* A test resolver: "name=ip,name=ip" answered before the system resolver
   * (so tests can make a name resolve to loopback without /etc/hosts).
   * NULL or "": none. Borrowed during start only. */
  const char *hosts;
  int max_conns;              /* connections at once; 0: 1024. Beyond it: 503. */
  int max_conns_per_listener; /* at once per added listener (one browser);
                               * 0: 256. Beyond it: 503. */
  int max_conns_per_account;  /* at once over the listeners given to one account
                               * (pb_egress_proxy_set_listener_account); 0: 512.
                               * Beyond it: 503. */
  int head_timeout_ms;        /* a request head must arrive in this; 0: 30 s */
  int connect_timeout_ms;     /* resolve + connect upstream; 0: 15 s */
  int idle_timeout_ms;        /* no byte either way for this long; 0: 300 s */
  int resolvers;              /* resolver threads; 0: 8. The names of one listener
                               * take at most half of them at once. */
} pb_egress_proxy_opts;

typedef struct {
  uint64_t allowed; /* requests and tunnels connected upstream */
  uint64_t refused; /* 403: a private address, not allow-listed */
  uint64_t failed;  /* 400/411/431/502/503/504 */
  uint64_t capped;  /* 503: a listener (browser) or account was at its connection cap */
  int conns;        /* open now */
} pb_egress_proxy_stats;

/* Binds 127.0.0.1:0, starts the proxy's threads and returns at once.
 * PB_EINVAL for a malformed allow entry or hosts map, PB_EIO if a socket or
 * thread could not be made. The caller stops it with pb_egress_proxy_stop. */
int pb_egress_proxy_start(const pb_egress_proxy_opts *o, pb_egress_proxy **out);

/* The listening port (on 127.0.0.1). */
int pb_egress_proxy_port(const pb_egress_proxy *p);

/* Serves clients on lfd as well, a listening socket (non-blocking) made by
 * the caller, maybe in another network namespace (egress/netns.h): the
 * proxy's upstream connections are still made from its own. Each such
 * listener has its own cap of connections at once. Takes ownership of lfd
 * (closed on error too). *id names it for pb_egress_proxy_remove_listener.
 * PB_EBUSY when 1024 listeners exist. Callable from any thread. */
int pb_egress_proxy_add_listener(pb_egress_proxy *p, int lfd, int *id);

/* Stops serving listener id: it and every connection that came in on it
 * are closed soon after, on the proxy's thread. Callable from any thread;
 * a NULL proxy or id < 0 is a no-op. */
void pb_egress_proxy_remove_listener(pb_egress_proxy *p, int id);

/* Attributes listener id's connections to account (an acquired session's
 * browser serves one account); 0 detaches. A pool browser serves many
 * accounts at once through one listener and stays unattributed: only its
 * per-listener cap applies. Callable from any thread; unknown ids are
 * ignored. */
void pb_egress_proxy_set_listener_account(pb_egress_proxy *p, int id, int64_t account);

/* Why the proxy last refused or failed host:port (as a URL names it; IPs in
 * any spelling match) for listener (-1: any) at or after since_ms
 * (pb_now_ms clock): a pb_egress_why (egress/policy.h), with the proxy's own
 * words in text. A listener at its connection cap in that time answers
 * PB_EGRESS_WHY_CAPPED when nothing more precise is known. The record is
 * made before the client hears of the failure, so a navigation that saw it
 * finds it. Keeps the last 256 records. Callable from any thread; NULL p:
 * PB_EGRESS_WHY_NONE. */
int pb_egress_proxy_why(pb_egress_proxy *p, int listener, const char *host, int port,
                        int64_t since_ms, char *text, size_t cap);

/* A snapshot of the counters; callable from any thread. */
void pb_egress_proxy_get_stats(pb_egress_proxy *p, pb_egress_proxy_stats *out);

/* Closes every connection, joins the threads (a resolver stuck in the system
 * resolver is waited for) and frees the proxy. NULL is a no-op. */
void pb_egress_proxy_stop(pb_egress_proxy *p);

#endif
