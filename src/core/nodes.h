#ifndef PB_CORE_NODES_H
#define PB_CORE_NODES_H
/* The cluster's nodes (several daemons on one PostgreSQL store): this
 * node's row in the `nodes` table (migration 10), its heartbeat, the others'
 * rows as an in-memory snapshot, and the sweep that declares a silent node
 * lost.
 *
 * Each run of a daemon is a new incarnation: a row with a fresh random
 * 4-hex-digit tag, state "up". Every id a node mints starts with its tag
 * (common/pb.h pb_random_id_hex), so any node can tell where a session, a
 * trace or a live view lives (pb_nodes_route_id). A row's state moves
 * up -> draining -> left (SIGTERM), or up/draining -> lost (its heartbeat
 * older than the timeout; any node's sweep, exactly once: the transition is
 * one UPDATE under the database's write lock). A lost row is never
 * resurrected: its node, when it wakes up, ends its local sessions
 * (cfg->on_self_lost) and must exit. Rows left or lost are pruned after
 * PB_NODES_KEEP_MS.
 *
 * Threads: pb_nodes_open/start/drain/stop/free on the daemon's main thread;
 * one heartbeat thread of its own (the only one that writes the row and
 * calls the callbacks); route_id, place, clustered, key_ok, key, self_tag
 * read the snapshot under a mutex and do no I/O: safe on the lws I/O
 * thread. pb_nodes_session_owner and pb_nodes_open_sessions query the
 * database (a short indexed read on the node's own connection). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_nodes pb_nodes;

#define PB_NODES_TAG_LEN 4
#define PB_NODES_HEARTBEAT_MS 1000
#define PB_NODES_TIMEOUT_DEFAULT_MS 15000
#define PB_NODES_KEEP_MS (7LL * 24 * 3600 * 1000)
#define PB_NODES_KEY_MIN 32
#define PB_NODES_KEY_MAX 4096
#define PB_NODES_MAX 1024 /* rows read into the snapshot */

typedef enum { PB_ROUTE_LOCAL, PB_ROUTE_REMOTE, PB_ROUTE_LOST, PB_ROUTE_UNKNOWN } pb_route_kind;
/* Where an id's resource lives. Named pb_node_route, not pb_route as the
 * contract first said: http/routes.h already has a pb_route (a route row). */
typedef struct {
  pb_route_kind kind;
  char url[256]; /* REMOTE: the owner's --node-url */
  char tag[8];   /* the id's tag ("" when not clustered or no tag) */
} pb_node_route;

typedef struct {
  const char *name; /* this node's name (required) */
  const char *url;  /* the URL other nodes reach it at (required), < 256 bytes */
  int capacity;     /* sessions; >= 1 */
  /* The cluster key (copied), PB_NODES_KEY_MIN..PB_NODES_KEY_MAX bytes. */
  const char *key;
  size_t key_len;
  int timeout_ms;   /* 0: PB_NODES_TIMEOUT_DEFAULT_MS */
  int heartbeat_ms; /* 0: PB_NODES_HEARTBEAT_MS (tests go faster) */
  /* Callbacks, all on the heartbeat thread (or in pb_nodes_open), all may
   * be NULL. data is theirs. */
  void *data;
  /* This node's live sessions, for its row's `sessions`. */
  int (*live_sessions)(void *data);
  /* Another node (tag) was declared lost by this node, after the commit of
   * the transition; called exactly once fleet-wide per lost node. The
   * daemon closes its history rows and ledger rows (the store's
   * pb_store_node_lost) and frees its fleet slots. node_heartbeat_ms is
   * the lost node's last heartbeat. */
  void (*on_node_lost)(void *data, const char *tag, int64_t node_heartbeat_ms, int64_t now_ms);
  /* This node's own row was found lost (it stalled past the timeout and
   * another node closed its sessions): end every local session; the
   * heartbeat stops writing. Called once. */
  void (*on_self_lost)(void *data);
} pb_nodes_config;

/* Opens db_spec (a PostgreSQL URL or a SQLite path: the `nodes` table
 * must exist, migration 10), declares lost the rows of earlier
 * incarnations of cfg->name still up or draining (this node restarted),
 * prunes old rows, and registers a new incarnation with a fresh tag
 * (retried on a collision). The heartbeat does not run yet.
 * PB_EINVAL (a bad config), PB_ESTORE, PB_ENOMEM. */
int pb_nodes_open(const char *db_spec, const pb_nodes_config *cfg, pb_nodes **out);
/* Starts the heartbeat thread. PB_EIO when it cannot. */
int pb_nodes_start(pb_nodes *n);
/* Marks this node draining (placement elsewhere skips it). */
int pb_nodes_drain(pb_nodes *n);
/* The same, from a signal handler: only sets a flag; the heartbeat thread
 * writes the row at its next beat (within a heartbeat). */
void pb_nodes_request_drain(pb_nodes *n);
/* Stops the heartbeat thread and, when the row is still ours, marks it
 * left with its end. NULL is a no-op. */
void pb_nodes_stop(pb_nodes *n);
/* Frees (stops first). NULL is a no-op. */
void pb_nodes_free(pb_nodes *n);

/* Where the resource of id lives, by the id's first 4 hex digits: LOCAL
 * (this node, or not clustered: n NULL), REMOTE (a node up or draining:
 * out->url), LOST (a node declared lost), UNKNOWN (no such node, or one
 * that left). 0 always (the verdict is in out). */
int pb_nodes_route_id(pb_nodes *n, const char *id, pb_node_route *out);
/* Where a new session goes: the node up (not draining, heartbeat fresh)
 * with the most free capacity; LOCAL on a tie with this node, when this
 * node is the only one, or when none has room (local admission answers).
 * 0 always. */
int pb_nodes_place(pb_nodes *n, pb_node_route *out);
int pb_nodes_clustered(const pb_nodes *n);
/* 1 when presented is the cluster key (compared in constant time). */
int pb_nodes_key_ok(const pb_nodes *n, const char *presented);
const char *pb_nodes_key(const pb_nodes *n);
/* This incarnation's tag ("" when n is NULL). */
const char *pb_nodes_self_tag(const pb_nodes *n);
/* 1 once this node's own row was found lost. */
int pb_nodes_self_lost(const pb_nodes *n);

/* The account that owns session id in the history (sessions rows), and the
 * node that held it: 0 with *account_id; PB_ENOTFOUND; PB_ESTORE. */
int pb_nodes_session_owner(pb_nodes *n, const char *session_id, int64_t *account_id, int *open);
/* One of an account's open sessions, on any node. */
typedef struct {
  char id[80];
  char node[8];
  int64_t start_ms;
} pb_nodes_session;
/* The account's open sessions on every node, oldest first, at most max:
 * *out (free()) and *n_out. PB_ESTORE, PB_ENOMEM. */
int pb_nodes_open_sessions(pb_nodes *n, int64_t account_id, int max, pb_nodes_session **out,
                           int *n_out);

#endif
