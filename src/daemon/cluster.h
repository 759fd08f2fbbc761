#ifndef PB_DAEMON_CLUSTER_H
#define PB_DAEMON_CLUSTER_H
/* Cluster mode in the daemon: its flags, the cluster key file, this node's
 * registration (core/nodes.h) and what the daemon does when the registry
 * calls back: another node lost (its history, ledger rows and fleet slots
 * closed), this node lost (its sessions ended, the process exits non-zero
 * so its supervisor starts a new incarnation), SIGTERM (draining, then
 * left). Cluster mode is --store postgres://...; without it nothing here
 * runs. Main thread, except where said. */
#include "core/nodes.h"
#include "core/store.h"
#include "http/server.h"
#include "sessions/session.h"

typedef struct {
  const char *store;    /* --store SPEC; NULL: SQLite under --data-dir */
  const char *node_url; /* --node-url: how the other nodes reach this one */
  const char *node_name;
  const char *key_file; /* --cluster-key-file */
  int timeout_s;        /* --node-timeout, default 15 */
  int capacity;         /* --node-capacity; 0: the pool's browsers */
} pb_cluster_flags;

/* 1 when argv[*i] was one of the flags above (its value consumed), -1 a
 * bad value (said on stderr), 0 not one of them. */
int pb_cluster_flag(pb_cluster_flags *f, int argc, char **argv, int *i);
/* The flags' lines of the usage text. */
extern const char pb_cluster_usage[];
/* The flags' environment variables (PPOD_STORE, PPOD_NODE_URL, ...),
 * before the flags are read; a bad number is refused by pb_cluster_open. */
void pb_cluster_env(pb_cluster_flags *f);
/* 1 when f asks for cluster mode (--store names PostgreSQL). */
int pb_cluster_wanted(const pb_cluster_flags *f);

typedef struct pb_cluster pb_cluster;
/* Opens the store: f->store when given (pb_store_open_spec), else SQLite
 * under data_dir. */
int pb_cluster_store_open(const pb_cluster_flags *f, const char *data_dir, pb_store **out);
/* Cluster mode only (*out NULL otherwise, 0): checks the flags and the key
 * file (refused when group/world-accessible or under 32 bytes), registers
 * this node (earlier incarnations of its name are declared lost), sets the
 * tag ids are minted with and the store's node, and starts the heartbeat
 * (callbacks act on the sessions and server once they are set). Before the
 * sessions start.
 * -1 with the reason on stderr. */
int pb_cluster_open(const pb_cluster_flags *f, pb_store *st, int port, int browsers,
                    pb_cluster **out);
pb_nodes *pb_cluster_nodes(pb_cluster *c);
/* What the callbacks act on, once they exist. */
void pb_cluster_set_sessions(pb_cluster *c, pb_sessions *ss);
void pb_cluster_set_server(pb_cluster *c, pb_server *srv);
/* r-fleet's slot release for a lost node (pb_fleet_free_node), called
 * from the heartbeat thread; fn NULL: none. */
void pb_cluster_set_fleet_hook(pb_cluster *c, void (*fn)(void *fleet, const char *tag),
                               void *fleet);
/* The crawler whose store ends a lost node's crawls (ops/crawl.h
 * pb_crawler_node_lost), called from the heartbeat thread; NULL: none.
 * The cluster is closed (heartbeat stopped) before the crawler stops. */
struct pb_crawler;
void pb_cluster_set_crawler(pb_cluster *c, struct pb_crawler *cr);
/* SIGTERM: async-signal-safe; the row says draining within a beat. */
void pb_cluster_drain_signal(pb_cluster *c);
/* After the server stopped: 0, or non-zero when this node was declared
 * lost (the process must exit so it is started afresh). */
int pb_cluster_exit_code(pb_cluster *c);
/* Deregisters (state left) and frees. NULL is a no-op. */
void pb_cluster_close(pb_cluster *c);

#endif
