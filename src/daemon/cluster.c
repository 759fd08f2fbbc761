/* Cluster mode in the daemon: see cluster.h. */
#include "daemon/cluster.h"

#include "common/pb.h"
#include "core/db.h"
#include "ops/crawl.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pb_cluster {
  pb_store *store;
  pb_nodes *nodes;
  _Atomic(pb_sessions *) sessions;
  _Atomic(pb_server *) server;
  void (*fleet_fn)(void *fleet, const char *tag);
  void *fleet;
  _Atomic(pb_crawler *) crawler;
  atomic_int self_lost;
};

const char pb_cluster_usage[] =
    "  --store SPEC             (PPOD_STORE)         postgres://... : the shared store of a\n"
    "                           cluster (cluster mode); default SQLite under --data-dir\n"
    "  --node-url URL           (PPOD_NODE_URL)      cluster: how the other nodes reach this one\n"
    "  --node-name NAME         (PPOD_NODE_NAME)     cluster: default HOSTNAME:PORT\n"
    "  --cluster-key-file PATH  (PPOD_CLUSTER_KEY_FILE) cluster: the shared secret (32+ bytes,\n"
    "                           mode 0600 or stricter)\n"
    "  --node-timeout S         (PPOD_NODE_TIMEOUT)  cluster: silence before a node is lost, "
    "default 15\n"
    "  --node-capacity N        (PPOD_NODE_CAPACITY) cluster: sessions this node takes, default "
    "--browsers\n";

static int num(const char *name, const char *v, long min, long max, int *out) {
  char *end = NULL;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) {
    fprintf(stderr, "ppod-browserd: %s takes a number %ld..%ld\n", name, min, max);
    return -1;
  }
  *out = (int)n;
  return 0;
}

int pb_cluster_flag(pb_cluster_flags *f, int argc, char **argv, int *i) {
  static const char *const names[] = {"--store",        "--node-url",
                                      "--node-name",    "--cluster-key-file",
                                      "--node-timeout", "--node-capacity"};
  const char *a = argv[*i];
  int which = -1;
  for (int k = 0; k < 6; k++)
    if (!strcmp(a, names[k])) which = k;
  if (which < 0) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ppod-browserd: %s needs a value\n", a);
    return -1;
  }
  const char *v = argv[++*i];
  switch (which) {
    case 0:
      f->store = v;
      break;
    case 1:
      f->node_url = v;
      break;
    case 2:
      f->node_name = v;
      break;
    case 3:
      f->key_file = v;
      break;
    case 4:
      return num(a, v, 1, 3600, &f->timeout_s) ? -1 : 1;
    case 5:
      return num(a, v, 1, 100000, &f->capacity) ? -1 : 1;
  }
  return 1;
}

void pb_cluster_env(pb_cluster_flags *f) {
  const char *e;
  if ((e = getenv("PPOD_STORE")) && *e) f->store = e;
  if ((e = getenv("PPOD_NODE_URL")) && *e) f->node_url = e;
  if ((e = getenv("PPOD_NODE_NAME")) && *e) f->node_name = e;
  if ((e = getenv("PPOD_CLUSTER_KEY_FILE")) && *e) f->key_file = e;
  if ((e = getenv("PPOD_NODE_TIMEOUT")) && *e &&
      num("PPOD_NODE_TIMEOUT", e, 1, 3600, &f->timeout_s))
    f->timeout_s = -1;
  if ((e = getenv("PPOD_NODE_CAPACITY")) && *e &&
      num("PPOD_NODE_CAPACITY", e, 1, 100000, &f->capacity))
    f->capacity = -1;
}

/* Cluster mode is --node-url (with a PostgreSQL store). A single node may
 * run on PostgreSQL without it: no registry, ids without a tag. */
int pb_cluster_wanted(const pb_cluster_flags *f) { return f->node_url != NULL; }

int pb_cluster_store_open(const pb_cluster_flags *f, const char *data_dir, pb_store **out) {
  if (!f->store) return pb_store_open(data_dir, out);
  return pb_store_open_spec(f->store, data_dir, out);
}

/* The key: a regular file of this user's, no access for group or others,
 * 32..4096 printable bytes (a trailing newline dropped): it travels in a
 * header between nodes. */
static int read_key(const char *path, char *key, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    fprintf(stderr, "ppod-browserd: --cluster-key-file %s: %s\n", path, strerror(errno));
    return -1;
  }
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    fprintf(stderr, "ppod-browserd: --cluster-key-file %s: not a regular file\n", path);
    close(fd);
    return -1;
  }
  if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
    fprintf(stderr,
            "ppod-browserd: --cluster-key-file %s: mode %03o lets others read it; chmod 600\n",
            path, (unsigned)(sb.st_mode & 0777));
    close(fd);
    return -1;
  }
  ssize_t n = read(fd, key, cap - 1);
  close(fd);
  if (n < 0) n = 0;
  while (n > 0 && (key[n - 1] == '\n' || key[n - 1] == '\r')) n--;
  key[n] = '\0';
  for (ssize_t k = 0; k < n; k++)
    if ((unsigned char)key[k] < 0x21 || (unsigned char)key[k] > 0x7e) {
      fprintf(stderr, "ppod-browserd: --cluster-key-file %s: printable characters only\n", path);
      return -1;
    }
  if (n < PB_NODES_KEY_MIN || (size_t)n >= cap - 1) {
    fprintf(stderr, "ppod-browserd: --cluster-key-file %s: the key must be %d..%d bytes\n", path,
            PB_NODES_KEY_MIN, PB_NODES_KEY_MAX);
    return -1;
  }
  *len = (size_t)n;
  return 0;
}

static int live_sessions(void *data) {
  pb_cluster *c = data;
  return pb_sessions_live_total(atomic_load(&c->sessions));
}

static void node_lost(void *data, const char *tag, int64_t hb, int64_t now) {
  pb_cluster *c = data;
  int sc = 0, uc = 0;
  int rc = pb_store_node_lost(c->store, tag, hb, now, &sc, &uc);
  if (rc)
    PB_ERR("nodes: closing the rows of lost node %s failed: %s", tag, pb_strerror(rc));
  else
    PB_WARN("nodes: lost node %s: %d session(s), %d ledger row(s) closed", tag, sc, uc);
  if (c->fleet_fn) c->fleet_fn(c->fleet, tag);
  int cn = 0;
  rc = pb_crawler_node_lost(atomic_load(&c->crawler), tag, &cn);
  if (rc)
    PB_ERR("nodes: ending the crawls of lost node %s failed: %s", tag, pb_strerror(rc));
  else if (cn)
    PB_WARN("nodes: lost node %s: %d crawl(s) ended (NodeLost)", tag, cn);
}

static void self_lost(void *data) {
  pb_cluster *c = data;
  atomic_store(&c->self_lost, 1);
  int n = pb_sessions_end_all(atomic_load(&c->sessions), "NodeLost",
                              "this node was declared lost by the cluster; its session was "
                              "closed");
  PB_ERR("nodes: this node was declared lost: %d session(s) ended; stopping", n);
  /* Their clients are told (close 1011 NodeLost) as the sessions are torn
   * down; the server stops once every client has gone, or after 10 s (its
   * drain would cut a connection without a close frame). */
  pb_sessions *ss = atomic_load(&c->sessions);
  for (int i = 0; ss && i < 200 && pb_sessions_present(ss); i++) usleep(50 * 1000);
  pb_server *srv = atomic_load(&c->server);
  if (srv) pb_server_stop(srv);
}

int pb_cluster_open(const pb_cluster_flags *f, pb_store *st, int port, int browsers,
                    pb_cluster **out) {
  *out = NULL;
  if (!pb_cluster_wanted(f)) {
    if (f->key_file || f->node_name) {
      fprintf(stderr, "ppod-browserd: --node-name and --cluster-key-file need --node-url\n");
      return -1;
    }
    return 0;
  }
  if (!f->store || !pb_db_spec_is_postgres(f->store)) {
    fprintf(stderr, "ppod-browserd: --node-url needs --store postgres://... (the nodes' "
                    "shared store)\n");
    return -1;
  }
  if (f->timeout_s < 0 || f->capacity < 0) return -1; /* a bad environment value */
  if (!f->node_url || strncmp(f->node_url, "http", 4) || strlen(f->node_url) >= 256) {
    fprintf(stderr, "ppod-browserd: cluster mode needs --node-url http://HOST:PORT\n");
    return -1;
  }
  if (!f->key_file) {
    fprintf(stderr, "ppod-browserd: cluster mode needs --cluster-key-file\n");
    return -1;
  }
  char key[PB_NODES_KEY_MAX + 2];
  size_t key_len = 0;
  if (read_key(f->key_file, key, sizeof(key), &key_len)) return -1;
  char name[300];
  if (f->node_name) {
    pb_strlcpy(name, f->node_name, sizeof(name));
  } else {
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(name, sizeof(name), "%s:%d", host, port);
  }
  pb_cluster *c = calloc(1, sizeof(*c));
  if (!c) return -1;
  c->store = st;
  pb_nodes_config cfg = {.name = name,
                         .url = f->node_url,
                         .capacity = f->capacity ? f->capacity : browsers,
                         .key = key,
                         .key_len = key_len,
                         .timeout_ms = (f->timeout_s ? f->timeout_s : 15) * 1000,
                         .data = c,
                         .live_sessions = live_sessions,
                         .on_node_lost = node_lost,
                         .on_self_lost = self_lost};
  int rc = pb_nodes_open(pb_store_db_spec(st), &cfg, &c->nodes);
  explicit_bzero(key, sizeof(key));
  if (rc) {
    fprintf(stderr, "ppod-browserd: cannot register this node: %s\n", pb_strerror(rc));
    free(c);
    return -1;
  }
  /* The heartbeat from now: the pool's start takes seconds, longer than a
   * short --node-timeout, and a silent node is declared lost. */
  if (pb_nodes_start(c->nodes)) {
    fprintf(stderr, "ppod-browserd: cannot start the node heartbeat\n");
    pb_nodes_free(c->nodes);
    free(c);
    return -1;
  }
  const char *tag = pb_nodes_self_tag(c->nodes);
  pb_node_tag_set(tag);
  pb_store_set_node(st, tag);
  fprintf(stderr, "ppod-browserd: cluster node %s, tag %s, at %s\n", name, tag, f->node_url);
  *out = c;
  return 0;
}

pb_nodes *pb_cluster_nodes(pb_cluster *c) {
  return c ? c->nodes : NULL;
}

void pb_cluster_set_sessions(pb_cluster *c, pb_sessions *ss) {
  if (c) atomic_store(&c->sessions, ss);
}

void pb_cluster_set_server(pb_cluster *c, pb_server *srv) {
  if (c) atomic_store(&c->server, srv);
}

void pb_cluster_set_fleet_hook(pb_cluster *c, void (*fn)(void *fleet, const char *tag),
                               void *fleet) {
  if (!c) return;
  c->fleet_fn = fn;
  c->fleet = fleet;
}

void pb_cluster_set_crawler(pb_cluster *c, pb_crawler *cr) {
  if (c) atomic_store(&c->crawler, cr);
}

void pb_cluster_drain_signal(pb_cluster *c) {
  if (c) pb_nodes_request_drain(c->nodes);
}

int pb_cluster_exit_code(pb_cluster *c) {
  return c && atomic_load(&c->self_lost) ? 3 : 0;
}

void pb_cluster_close(pb_cluster *c) {
  if (!c) return;
  pb_nodes_free(c->nodes); /* left, unless it was lost */
  free(c);
}
