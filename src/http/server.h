#ifndef PB_HTTP_SERVER_H
#define PB_HTTP_SERVER_H
/* The HTTP API on one I/O thread (libwebsockets): routing, auth, request
 * validation against schemas/, admission into the job queue, JSON envelopes
 * and /metrics. Operations run on job threads and hand their answer back. */
#include "core/store.h"
#include "http/jsonschema.h"
#include "http/login.h"
#include "ops/jobs.h"
#include "ops/ops.h"

#include <stddef.h>

typedef struct pb_server pb_server;

#define PB_BODY_MAX (10u * 1024 * 1024)
/* A request body must be complete this long after its headers (a slowloris
 * that trickles it in is cut off; it never holds a job slot). */
#define PB_BODY_TIMEOUT_MS 30000

typedef struct {
  const char *address;   /* e.g. "127.0.0.1" */
  int port;
  pb_store *store;       /* borrowed */
  pb_ops_env *ops;       /* borrowed */
  pb_jobs *jobs;         /* borrowed */
  int drain_ms;          /* how long in-flight work may finish after stop */
  int body_timeout_ms;   /* 0: PB_BODY_TIMEOUT_MS */
  /* Bearer token /metrics requires (borrowed); NULL: /metrics answers
   * loopback peers only, and never names browser pids. */
  const char *metrics_token;
  /* Load balancers whose X-Forwarded-For is believed (borrowed):
   * comma-separated peer addresses, exact match; NULL: none. From such a
   * peer the client's address is the header's last entry (the one the
   * balancer appended), for the sign-in rate limits. */
  const char *trusted_proxies;
  const pb_login_opts *login; /* sign-in by email (borrowed); NULL: off */
  /* Cluster mode: this node and the others (core/nodes.h), borrowed; an
   * id of another node's is forwarded or answered 410 (http/cluster.c).
   * NULL: one node. */
  struct pb_nodes *nodes;
  /* Cluster mode: the account limits held across nodes (core/fleet.h),
   * checked on job threads after local admission; borrowed; NULL: one node,
   * local admission only. */
  struct pb_fleet *fleet;
} pb_server_opts;

int pb_server_create(const pb_server_opts *o, pb_server **out);

/* Serves until pb_server_stop() was called and in-flight jobs finished (or
 * the drain time passed). Call on the thread that created the server. */
int pb_server_run(pb_server *s);

/* Asks the server to stop: new requests get 503. Safe from a signal handler. */
void pb_server_stop(pb_server *s);

/* Wakes the I/O thread (e.g. a session has output). Any thread. */
void pb_server_wake(pb_server *s);

void pb_server_free(pb_server *s);

#endif
