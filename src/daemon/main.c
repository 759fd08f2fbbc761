/* ppod-browserd: the service. Parses flags (and PPOD_* environment), runs
 * admin subcommands, or wires the store, browser pool, job queue and HTTP
 * server together and serves until SIGTERM/SIGINT. */
#include "common/pb.h"
#include "core/credits.h"
#include "core/fleet.h"
#include "core/store.h"
#include "daemon/admin.h"
#include "daemon/cluster.h"
#include "daemon/reaper.h"
#include "egress/netns.h"
#include "egress/policy.h"
#include "egress/proxy.h"
#include "http/server.h"
#include "http/options.h"
#include "ops/crawl.h"
#include "ops/jobs.h"
#include "ops/nav.h"
#include "ops/ops.h"
#include "sessions/cgroup.h"
#include "sessions/dlstore.h"
#include "sessions/contexts.h"
#include "sessions/isolate.h"
#include "sessions/pool.h"
#include "sessions/recording.h"
#include "sessions/session.h"
#include "trace/store.h"
#include "core/db.h"
#include "daemon/storeflag.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  char address[128];
  int port;
  const char *data_dir;
  const char *contexts_dir; /* --contexts-dir; NULL: <data_dir>/contexts */
  int browsers;
  int concurrency;
  int queue;
  int recycle_after;
  int recycle_rss_mb;
  int recycle_age_s;
  int warm_pages;
  int spares;
  int no_sandbox;
  const char *chromium;
  const char *allow[64];
  int nallow;
  const char
      *egress_hosts; /* test resolver for the egress proxy, "name=ip,..." */
  int no_netns;      /* proxy only, even with the privilege for namespaces */
  int browser_memory_mb;    /* 0: no limit */
  int no_cgroup;            /* the RSS watchdog, even where cgroups work */
  int egress_conns;         /* egress connections at once per browser */
  int egress_conns_account; /* ... per account, over its sessions' browsers */
  int body_timeout_s;       /* a request body must be complete in this time */
  int pdf_max_pages;        /* pages a PDF may have */
  int download_max_mb;      /* one download's size before it is cancelled */
  int session_max_pages;    /* live pages an acquired session may have */
  int crawl_per_host;       /* crawl pages at once per origin */
  int crawl_share;          /* crawl page jobs at once per account; 0: half */
  int crawl_max_active;     /* crawls queued or running per account */
  int crawl_max_mb;         /* stored crawl results per account */
  int browser_uid_base;     /* first uid of the browsers' own range */
  int browser_uids;         /* how many; 0: every browser as nobody */
  const char
      *metrics_token; /* Bearer token /metrics requires; NULL: loopback only */
  const char *trusted_proxies; /* --trusted-proxy: balancers whose X-Forwarded-For counts */
  pb_login_opts login; /* sign-in by email (http/login.h) */
  int64_t price_micro;  /* credits per browser second (core/credits.h) */
  int64_t signup_micro; /* a signup's starting credit */
  pb_cluster_flags cluster; /* --store, --node-* (daemon/cluster.h) */
  const char *store_spec; /* --store: a PostgreSQL URL; NULL: SQLite in data_dir */
} config;

static pb_server *g_server;
static pb_cluster *g_cluster; /* cluster mode; NULL: one node */

/* Sessions wake the I/O thread when a client has output waiting. */
static void wake_server(void *data) {
  (void)data;
  pb_server *s = g_server;
  if (s)
    pb_server_wake(s);
}

/* Each browser's own way out: a listener of the egress proxy, in a network
 * namespace of the browser's own when the service may make one. */
typedef struct {
  pb_egress_proxy *proxy;
  int netns; /* 1: namespaces work and are wanted */
} net_env;

static int browser_net_open(void *data, pb_browser_net *net) {
  net_env *ne = data;
  int lfd = -1, port = 0, rc;
  net->netns_fd = -1;
  net->id = -1;
  if (ne->netns)
    rc = pb_netns_listener(&net->netns_fd, &lfd, &port);
  else
    rc = pb_netns_loopback_listener(&lfd, &port);
  if (rc)
    return rc;
  rc = pb_egress_proxy_add_listener(ne->proxy, lfd, &net->id);
  if (rc) {
    if (net->netns_fd >= 0)
      close(net->netns_fd);
    net->netns_fd = -1;
    return rc;
  }
  snprintf(net->proxy, sizeof(net->proxy), "http://127.0.0.1:%d", port);
  return 0;
}

static void egress_counts(void *data, uint64_t counts[4], int *conns) {
  pb_egress_proxy_stats st;
  pb_egress_proxy_get_stats(data, &st);
  counts[0] = st.allowed;
  counts[1] = st.refused;
  counts[2] = st.failed;
  counts[3] = st.capped;
  *conns = st.conns;
}

static int egress_why(void *data, int net_id, const char *host, int port,
                      int64_t since_ms, char *text, size_t cap) {
  return pb_egress_proxy_why(data, net_id, host, port, since_ms, text, cap);
}

static void net_owner(void *data, int net_id, int64_t account_id) {
  pb_egress_proxy_set_listener_account(data, net_id, account_id);
}

static void browser_net_close(void *data, pb_browser_net *net) {
  net_env *ne = data;
  pb_egress_proxy_remove_listener(ne->proxy, net->id);
  if (net->netns_fd >= 0)
    close(net->netns_fd);
  net->netns_fd = -1;
  net->id = -1;
}

/* The CDP proxy's navigation check, on the I/O thread: the same rules as
 * quick actions, and like theirs it never resolves a name (the egress proxy
 * does, on its own threads). */
static int url_check(const char *url, char *why, size_t cap, void *data) {
  return pb_egress_check_url((const pb_egress *)data, url, why, cap) ? -1 : 0;
}

static void on_signal(int sig) {
  (void)sig;
  pb_cluster_drain_signal(g_cluster); /* placement skips us from now */
  if (g_server)
    pb_server_stop(g_server);
}

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: ppod-browserd [serve] [options]\n"
      "       ppod-browserd account create NAME | account list\n"
      "       ppod-browserd token create NAME [--ttl DAYS | --ttl-seconds S]\n"
      "\n"
      "options (environment):\n"
      "  --listen ADDR:PORT       (PPOD_LISTEN)        default 127.0.0.1:8080\n"
      "  --data-dir DIR           (PPOD_DATA_DIR)      default ./var\n"
      "  --store URL              (PPOD_STORE)         the store in PostgreSQL,\n"
      "                           postgres://USER:PASS@HOST:PORT/DB (a cluster's\n"
      "                           nodes share it); default SQLite in DATA\n"
      "  --contexts-dir DIR       (PPOD_CONTEXTS_DIR)  persistent contexts' "
      "files, default DATA/contexts;\n"
      "                           a cluster's nodes all name one shared dir\n"
      "  --browsers N             (PPOD_BROWSERS)      default: number of "
      "cores\n"
      "  --concurrency N          (PPOD_CONCURRENCY)   jobs at once, default 2 "
      "per browser\n"
      "  --queue N                (PPOD_QUEUE)         jobs waiting beyond "
      "that, default 64\n"
      "  --recycle-after N        (PPOD_RECYCLE_AFTER) jobs per browser before "
      "replacing it, default 200\n"
      "  --recycle-rss-mb N       browser memory (all its processes) that gets "
      "it replaced, default 2048\n"
      "  --recycle-age S          browser age in seconds that gets it "
      "replaced, default 3600\n"
      "  --spares N               (PPOD_SPARES)        warm browsers kept for "
      "acquired sessions, default 1\n"
      "  --allow-private HOST[:PORT]  (PPOD_ALLOW_PRIVATE, comma list) "
      "repeatable\n"
      "  --egress-hosts NAME=IP,...   (PPOD_EGRESS_HOSTS)  tests only: names "
      "the egress proxy\n"
      "                           resolves itself, before DNS\n"
      "  --no-netns               (PPOD_NO_NETNS=1)    no network namespace "
      "per browser, even as root:\n"
      "                           the egress proxy alone is the guard\n"
      "  --browser-memory-mb N    (PPOD_BROWSER_MEMORY_MB) memory of one "
      "browser (all its processes)\n"
      "                           beyond which its largest process is killed, "
      "default 2048, 0 = off\n"
      "  --no-cgroup              (PPOD_NO_CGROUP=1)   enforce it by the RSS "
      "watchdog, not a cgroup\n"
      "  --egress-conns-per-browser N  (PPOD_EGRESS_CONNS_PER_BROWSER) "
      "connections one browser may\n"
      "                           have open through the egress proxy, default "
      "256\n"
      "  --egress-conns-per-account N  (PPOD_EGRESS_CONNS_PER_ACCOUNT) "
      "connections the session\n"
      "                           browsers of one account may have open "
      "together, default 512\n"
      "                           (of the proxy's 1024); pool browsers serve "
      "many accounts at once\n"
      "                           and count per browser only\n"
      "  --body-timeout S         (PPOD_BODY_TIMEOUT)  a request body must "
      "arrive within S, default 30\n"
      "  --metrics-token T        (PPOD_METRICS_TOKEN) /metrics wants "
      "'Authorization: Bearer T';\n"
      "                           unset, it answers loopback peers only (and "
      "names no pids)\n"
      "  --trusted-proxy A[,A]    (PPOD_TRUSTED_PROXIES) load balancers (peer "
      "addresses) whose\n"
      "                           X-Forwarded-For names the client (sign-in "
      "rate limits)\n"
      "  --pdf-max-pages N        (PPOD_PDF_MAX_PAGES) pages a PDF may have, "
      "default 2000\n"
      "  --download-max-mb N      (PPOD_DOWNLOAD_MAX_MB) a page's download "
      "beyond this is cancelled,\n"
      "                           default 50\n"
      "  --session-max-pages N    (PPOD_SESSION_MAX_PAGES) pages an acquired "
      "session may have open,\n"
      "                           default 100\n"
      "  --crawl-per-host N       (PPOD_CRAWL_PER_HOST) crawl pages at once per "
      "host, default 1\n"
      "  --crawl-share N          (PPOD_CRAWL_SHARE) crawl pages at once per "
      "account, default half\n"
      "                           the job threads (at least 1)\n"
      "  --crawl-max-active N     (PPOD_CRAWL_MAX_ACTIVE) crawls running per "
      "account, default 4\n"
      "  --crawl-max-mb N         (PPOD_CRAWL_MAX_MB) stored crawl results per "
      "account, default 256\n"
      "  --browser-uid-base N     (PPOD_BROWSER_UID_BASE) as root, each "
      "browser runs as a uid of its\n"
      "                           own from N (gid the same), default 61000; "
      "none may name an account\n"
      "  --browser-uids N         (PPOD_BROWSER_UIDS)  how many such uids, "
      "default 100 (browsers at\n"
      "                           once on this host, all services together); 0 "
      "= all as nobody and\n"
      "                           no mount namespace\n"
      "  --price-per-browser-second C  (PPOD_PRICE_PER_BROWSER_SECOND) "
      "credits a metered account\n"
      "                           pays per started browser second, default "
      "0.0001\n"
      "  --signup-credit C        (PPOD_SIGNUP_CREDIT) credits a signup "
      "starts with, default 5.00\n"
      "  --log-level error|warn|info|debug  (PPOD_LOG_LEVEL)\n"
      "  --chromium PATH          (PPOD_CHROMIUM)      default "
      "/usr/lib/chromium/chromium\n"
      "  --no-sandbox             (PPOD_NO_SANDBOX=1)  operator opt-in: "
      "Chromium without its sandbox\n");
  fputs(pb_login_usage, f);
  fputs(pb_cluster_usage, f);
}

static int parse_listen(const char *v, config *c) {
  const char *colon = strrchr(v, ':');
  if (!colon)
    return PB_EINVAL;
  size_t n = (size_t)(colon - v);
  if (n == 0 || n >= sizeof(c->address))
    return PB_EINVAL;
  const char *a = v;
  if (v[0] == '[' && colon[-1] == ']') {
    a = v + 1;
    n -= 2;
  }
  memcpy(c->address, a, n);
  c->address[n] = '\0';
  long long port;
  if (pb_parse_int(colon + 1, 1, 65535, &port))
    return PB_EINVAL;
  c->port = (int)port;
  return 0;
}

static int int_opt(const char *name, const char *v, long long min,
                   long long max, int *out) {
  long long x;
  if (!v || pb_parse_int(v, min, max, &x)) {
    fprintf(stderr,
            "ppod-browserd: %s takes a whole number from %lld to %lld\n", name,
            min, max);
    return -1;
  }
  *out = (int)x;
  return 0;
}

/* An amount of credits (core/credits.h): no sign, up to 6 decimals, at
 * most max micro. */
static int credit_opt(const char *name, const char *v, int64_t max,
                      int64_t *out) {
  char err[160];
  int64_t m = 0;
  if (!v || pb_credit_parse(v, 0, &m, err, sizeof(err)) || m > max) {
    char top[PB_CREDIT_TEXT_MAX];
    pb_credit_format(max, top);
    fprintf(stderr, "ppod-browserd: %s takes credits from 0 to %s%s%s\n",
            name, top, v && err[0] ? ": " : "", v ? err : "");
    return -1;
  }
  *out = m;
  return 0;
}

static char allow_env_copy[4096];

static int add_allow(config *c, const char *v) {
  if (c->nallow >= 64)
    return -1;
  c->allow[c->nallow++] = v;
  return 0;
}

/* Environment first, flags override. Leaves positional words in rest. */
static int parse_config(int argc, char **argv, config *c, char **rest,
                        int *nrest) {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  pb_strlcpy(c->address, "127.0.0.1", sizeof(c->address));
  c->port = 8080;
  c->data_dir = "./var";
  c->browsers = ncpu > 0 ? (int)ncpu : 1;
  c->queue = 64;
  c->recycle_after = 200;
  c->recycle_rss_mb = 2048;
  c->recycle_age_s = 3600;
  c->warm_pages = 2;
  c->spares = 1;
  c->browser_memory_mb = 2048;
  c->egress_conns = 256;
  c->egress_conns_account = 512;
  c->body_timeout_s = 30;
  c->pdf_max_pages = 2000;
  c->download_max_mb = 50;
  c->session_max_pages = 100;
  c->crawl_per_host = 1;
  c->crawl_max_active = 4;
  c->crawl_max_mb = 256;
  c->browser_uid_base = PB_ISOLATE_UID_BASE;
  c->browser_uids = PB_ISOLATE_UIDS;
  c->price_micro = PB_PRICE_DEFAULT_MICRO;
  c->signup_micro = PB_SIGNUP_CREDIT_DEFAULT_MICRO;
  const char *e;
  if ((e = getenv("PPOD_PRICE_PER_BROWSER_SECOND")) &&
      credit_opt("PPOD_PRICE_PER_BROWSER_SECOND", e, PB_PRICE_MAX_MICRO,
                 &c->price_micro))
    return -1;
  if ((e = getenv("PPOD_SIGNUP_CREDIT")) &&
      credit_opt("PPOD_SIGNUP_CREDIT", e, PB_CREDIT_MAX_MICRO,
                 &c->signup_micro))
    return -1;
  if ((e = getenv("PPOD_BODY_TIMEOUT")) &&
      int_opt("PPOD_BODY_TIMEOUT", e, 1, 3600, &c->body_timeout_s))
    return -1;
  if ((e = getenv("PPOD_PDF_MAX_PAGES")) &&
      int_opt("PPOD_PDF_MAX_PAGES", e, 1, 1000000, &c->pdf_max_pages))
    return -1;
  if ((e = getenv("PPOD_SESSION_MAX_PAGES")) &&
      int_opt("PPOD_SESSION_MAX_PAGES", e, 1, 100000, &c->session_max_pages))
    return -1;
  static const struct {
    const char *env;
    size_t off;
    int max;
  } crawl_env[] = {
      {"PPOD_CRAWL_PER_HOST", offsetof(config, crawl_per_host), 64},
      {"PPOD_CRAWL_SHARE", offsetof(config, crawl_share), 1024},
      {"PPOD_CRAWL_MAX_ACTIVE", offsetof(config, crawl_max_active), 1000},
      {"PPOD_CRAWL_MAX_MB", offsetof(config, crawl_max_mb), 1 << 20}};
  for (size_t i = 0; i < sizeof(crawl_env) / sizeof(crawl_env[0]); i++)
    if ((e = getenv(crawl_env[i].env)) &&
        int_opt(crawl_env[i].env, e, 1, crawl_env[i].max,
                (int *)((char *)c + crawl_env[i].off)))
      return -1;
  if ((e = getenv("PPOD_DOWNLOAD_MAX_MB")) &&
      int_opt("PPOD_DOWNLOAD_MAX_MB", e, 1, 1 << 20, &c->download_max_mb))
    return -1;
  if ((e = getenv("PPOD_BROWSER_UID_BASE")) &&
      int_opt("PPOD_BROWSER_UID_BASE", e, 1000, 2000000000,
              &c->browser_uid_base))
    return -1;
  if ((e = getenv("PPOD_BROWSER_UIDS")) &&
      int_opt("PPOD_BROWSER_UIDS", e, 0, 4096, &c->browser_uids))
    return -1;
  if ((e = getenv("PPOD_LISTEN")) && parse_listen(e, c)) {
    fprintf(stderr, "ppod-browserd: PPOD_LISTEN must be ADDR:PORT\n");
    return -1;
  }
  if ((e = getenv("PPOD_DATA_DIR")) && *e)
    c->data_dir = e;
  if ((e = getenv("PPOD_STORE")) && *e && pb_store_flag_env(e, &c->store_spec))
    return -1;
  if ((e = getenv("PPOD_CONTEXTS_DIR")) && *e)
    c->contexts_dir = e;
  if ((e = getenv("PPOD_BROWSERS")) &&
      int_opt("PPOD_BROWSERS", e, 1, 64, &c->browsers))
    return -1;
  if ((e = getenv("PPOD_CONCURRENCY")) &&
      int_opt("PPOD_CONCURRENCY", e, 1, 1024, &c->concurrency))
    return -1;
  if ((e = getenv("PPOD_QUEUE")) &&
      int_opt("PPOD_QUEUE", e, 0, 100000, &c->queue))
    return -1;
  if ((e = getenv("PPOD_RECYCLE_AFTER")) &&
      int_opt("PPOD_RECYCLE_AFTER", e, 0, 1000000, &c->recycle_after))
    return -1;
  if ((e = getenv("PPOD_SPARES")) &&
      int_opt("PPOD_SPARES", e, 0, 16, &c->spares))
    return -1;
  if ((e = getenv("PPOD_CHROMIUM")) && *e)
    c->chromium = e;
  if ((e = getenv("PPOD_NO_SANDBOX")) && !strcmp(e, "1"))
    c->no_sandbox = 1;
  if ((e = getenv("PPOD_EGRESS_HOSTS")) && *e)
    c->egress_hosts = e;
  if ((e = getenv("PPOD_NO_NETNS")) && !strcmp(e, "1"))
    c->no_netns = 1;
  if ((e = getenv("PPOD_NO_CGROUP")) && !strcmp(e, "1"))
    c->no_cgroup = 1;
  if ((e = getenv("PPOD_METRICS_TOKEN")) && *e)
    c->metrics_token = e;
  if ((e = getenv("PPOD_TRUSTED_PROXIES")) && *e)
    c->trusted_proxies = e;
  if (pb_login_env(&c->login))
    return -1;
  if ((e = getenv("PPOD_EGRESS_CONNS_PER_BROWSER")) &&
      int_opt("PPOD_EGRESS_CONNS_PER_BROWSER", e, 1, 100000, &c->egress_conns))
    return -1;
  if ((e = getenv("PPOD_EGRESS_CONNS_PER_ACCOUNT")) &&
      int_opt("PPOD_EGRESS_CONNS_PER_ACCOUNT", e, 1, 100000,
              &c->egress_conns_account))
    return -1;
  if ((e = getenv("PPOD_BROWSER_MEMORY_MB")) &&
      int_opt("PPOD_BROWSER_MEMORY_MB", e, 0, 1 << 20, &c->browser_memory_mb))
    return -1;
  if ((e = getenv("PPOD_LOG_LEVEL")) && pb_log_level_parse(e, &pb_log_level)) {
    fprintf(
        stderr,
        "ppod-browserd: PPOD_LOG_LEVEL must be error, warn, info or debug\n");
    return -1;
  }
  if ((e = getenv("PPOD_ALLOW_PRIVATE")) && *e) {
    pb_strlcpy(allow_env_copy, e, sizeof(allow_env_copy));
    char *save = NULL;
    for (char *t = strtok_r(allow_env_copy, ",", &save); t;
         t = strtok_r(NULL, ",", &save))
      if (*t)
        add_allow(c, t);
  }
  pb_cluster_env(&c->cluster);
  *nrest = 0;
  int lf;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKES_VALUE()                                                          \
  do {                                                                         \
    if (!v) {                                                                  \
      fprintf(stderr, "ppod-browserd: %s needs a value\n", a);                 \
      return -1;                                                               \
    }                                                                          \
    i++;                                                                       \
  } while (0)
    if (!strcmp(a, "--listen")) {
      TAKES_VALUE();
      if (parse_listen(v, c)) {
        fprintf(stderr, "ppod-browserd: --listen takes ADDR:PORT\n");
        return -1;
      }
    } else if (!strcmp(a, "--data-dir")) {
      TAKES_VALUE();
      c->data_dir = v;
    } else if (!strcmp(a, "--store")) {
      TAKES_VALUE(); /* the password is starred out in argv */
      if (pb_store_flag_take(argv[i], &c->store_spec))
        return -1;
    } else if (!strcmp(a, "--contexts-dir")) {
      TAKES_VALUE();
      c->contexts_dir = v;
    } else if (!strcmp(a, "--browsers")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 64, &c->browsers))
        return -1;
    } else if (!strcmp(a, "--concurrency")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1024, &c->concurrency))
        return -1;
    } else if (!strcmp(a, "--queue")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 100000, &c->queue))
        return -1;
    } else if (!strcmp(a, "--recycle-after")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 1000000, &c->recycle_after))
        return -1;
    } else if (!strcmp(a, "--recycle-rss-mb")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 1 << 20, &c->recycle_rss_mb))
        return -1;
    } else if (!strcmp(a, "--recycle-age")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 30 * 86400, &c->recycle_age_s))
        return -1;
    } else if (!strcmp(a, "--spares")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 16, &c->spares))
        return -1;
    } else if (!strcmp(a, "--allow-private")) {
      TAKES_VALUE();
      if (add_allow(c, v))
        return -1;
    } else if (!strcmp(a, "--egress-hosts")) {
      TAKES_VALUE();
      c->egress_hosts = v;
    } else if (!strcmp(a, "--log-level")) {
      TAKES_VALUE();
      if (pb_log_level_parse(v, &pb_log_level)) {
        fprintf(
            stderr,
            "ppod-browserd: --log-level takes error, warn, info or debug\n");
        return -1;
      }
    } else if (!strcmp(a, "--chromium")) {
      TAKES_VALUE();
      c->chromium = v;
    } else if (!strcmp(a, "--no-sandbox")) {
      c->no_sandbox = 1;
    } else if (!strcmp(a, "--no-netns")) {
      c->no_netns = 1;
    } else if (!strcmp(a, "--no-cgroup")) {
      c->no_cgroup = 1;
    } else if (!strcmp(a, "--metrics-token")) {
      TAKES_VALUE();
      c->metrics_token = v;
    } else if (!strcmp(a, "--trusted-proxy")) {
      TAKES_VALUE();
      if (!*v || strlen(v) > 1024 || strspn(v, "0123456789abcdefABCDEF.:,") != strlen(v)) {
        fprintf(stderr, "ppod-browserd: --trusted-proxy: IP addresses, comma-separated\n");
        return -1;
      }
      c->trusted_proxies = v;
    } else if (!strcmp(a, "--body-timeout")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 3600, &c->body_timeout_s))
        return -1;
    } else if (!strcmp(a, "--pdf-max-pages")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1000000, &c->pdf_max_pages))
        return -1;
    } else if (!strcmp(a, "--session-max-pages")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 100000, &c->session_max_pages))
        return -1;
    } else if (!strcmp(a, "--crawl-per-host")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 64, &c->crawl_per_host))
        return -1;
    } else if (!strcmp(a, "--crawl-share")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1024, &c->crawl_share))
        return -1;
    } else if (!strcmp(a, "--crawl-max-active")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1000, &c->crawl_max_active))
        return -1;
    } else if (!strcmp(a, "--crawl-max-mb")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1 << 20, &c->crawl_max_mb))
        return -1;
    } else if (!strcmp(a, "--download-max-mb")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 1 << 20, &c->download_max_mb))
        return -1;
    } else if (!strcmp(a, "--egress-conns-per-browser")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 100000, &c->egress_conns))
        return -1;
    } else if (!strcmp(a, "--browser-uid-base")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1000, 2000000000, &c->browser_uid_base))
        return -1;
    } else if (!strcmp(a, "--browser-uids")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 4096, &c->browser_uids))
        return -1;
    } else if (!strcmp(a, "--egress-conns-per-account")) {
      TAKES_VALUE();
      if (int_opt(a, v, 1, 100000, &c->egress_conns_account))
        return -1;
    } else if (!strcmp(a, "--browser-memory-mb")) {
      TAKES_VALUE();
      if (int_opt(a, v, 0, 1 << 20, &c->browser_memory_mb))
        return -1;
    } else if (!strcmp(a, "--price-per-browser-second")) {
      TAKES_VALUE();
      if (credit_opt(a, v, PB_PRICE_MAX_MICRO, &c->price_micro))
        return -1;
    } else if (!strcmp(a, "--signup-credit")) {
      TAKES_VALUE();
      if (credit_opt(a, v, PB_CREDIT_MAX_MICRO, &c->signup_micro))
        return -1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if ((lf = pb_login_flag(&c->login, argc, argv, &i))) {
      if (lf < 0)
        return -1;
    } else if ((lf = pb_cluster_flag(&c->cluster, argc, argv, &i))) {
      if (lf < 0)
        return -1;
    } else {
      rest[(*nrest)++] = argv[i];
    }
#undef TAKES_VALUE
  }
  if (!c->concurrency)
    c->concurrency = 2 * c->browsers;
  return 0;
}

/* On first run: a "local" account whose token is kept in DATA_DIR/local.token
 * (0600), so `make run` can print a working example every time. */
static int local_token(pb_store *st, const char *data_dir, char *tok,
                       size_t cap) {
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/local.token", data_dir);
  FILE *f = fopen(path, "r");
  if (f) {
    int ok = fgets(tok, (int)cap, f) != NULL;
    fclose(f);
    tok[strcspn(tok, "\r\n")] = '\0';
    pb_auth a;
    if (ok && pb_token_check(st, tok, pb_wall_ms(), &a) == 0)
      return 0;
  }
  int64_t id;
  int rc = pb_account_find(st, "local", &id);
  if (rc == PB_ENOTFOUND)
    rc = pb_account_create(st, "local", &id);
  if (rc)
    return rc;
  char t[PB_TOKEN_MAX];
  rc = pb_token_create(st, id, PB_TOKEN_DEFAULT_TTL_DAYS, t);
  if (rc)
    return rc;
  pb_strlcpy(tok, t, cap);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    dprintf(fd, "%s\n", t);
    close(fd);
  }
  return 0;
}

/* The last step of a stop: every process this one started has exited and
 * been reaped (browsers are destroyed by now; this catches what they left,
 * which the subreaper flag made ours), so nothing outlives the daemon. */
static void reap_children(void) {
  int64_t until = pb_now_ms() + 3000;
  for (;;) {
    pid_t r = waitpid(-1, NULL, WNOHANG);
    if (r > 0)
      continue;
    if (r < 0 && errno == ECHILD)
      return;
    if (r < 0 && errno != EINTR)
      return;
    if (pb_now_ms() >= until)
      break;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  /* Still there after 3 s: kill what is left of ours, then wait. */
  DIR *d = opendir("/proc");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      long long pid;
      if (pb_parse_int(e->d_name, 1, INT_MAX, &pid))
        continue;
      char path[64], buf[512];
      snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
      FILE *f = fopen(path, "r");
      if (!f)
        continue;
      size_t n = fread(buf, 1, sizeof(buf) - 1, f);
      fclose(f);
      buf[n] = '\0';
      const char *p = strrchr(buf, ')');
      int ppid = 0;
      if (p && sscanf(p + 1, " %*c %d", &ppid) == 1 && ppid == (int)getpid()) {
        PB_WARN("stop: killing leftover process %lld", pid);
        kill((pid_t)pid, SIGKILL);
      }
    }
    closedir(d);
  }
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
}

/* A lost node's fleet slots freed (core/fleet.h), from the cluster's
 * heartbeat thread. */
static void fleet_free_node(void *fleet, const char *tag) { pb_fleet_free_node(fleet, tag); }

static int serve(config *c) {
  pb_store *st = NULL;
  pb_egress *eg = NULL;
  pb_egress_proxy *proxy = NULL;
  pb_pool *pool = NULL;
  pb_jobs *jobs = NULL;
  pb_server *srv = NULL;
  pb_sessions *sessions = NULL;
  pb_trace_store *traces = NULL;
  pb_dl_store *downloads = NULL;
  pb_rec_store *recordings = NULL;
  pb_contexts *contexts = NULL;
  pb_crawler *crawler = NULL;
  pb_fleet *fleet = NULL;
  int code = 1;
  /* First, while this process has no thread: whatever kills it, the reaper
   * removes its browsers' cgroups and profile dirs. */
  int reaper = pb_reaper_start();
  if (reaper < 0)
    PB_WARN(
        "no reaper: a killed daemon's profile dirs wait for the next start");
  /* Processes a browser leaves behind when it dies become ours, not
   * init's: the daemon reaps them and so knows when they are gone. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1))
    PB_WARN("not a child subreaper: %s", strerror(errno));
  /* With --store the data dir still keeps traces, downloads, the local
   * token; SQLite's open makes it, PostgreSQL's does not. */
  if (c->store_spec && mkdir(c->data_dir, 0700) && errno != EEXIST)
    PB_WARN("cannot make the data dir %s: %s", c->data_dir, strerror(errno));
  int rc = pb_store_open_spec(c->store_spec, c->data_dir, &st);
  c->cluster.store = c->store_spec; /* cluster mode is --store postgres:// */
  if (rc) {
    char where[512];
    pb_db_spec_redact(c->store_spec ? c->store_spec : c->data_dir, where,
                      sizeof(where));
    fprintf(stderr, "ppod-browserd: cannot open the %s %s: %s\n",
            c->store_spec ? "store" : "data dir", where, pb_strerror(rc));
    pb_reaper_dismiss(reaper);
    return 1;
  }
  pb_store_set_credit_terms(st, c->price_micro, c->signup_micro);
  /* Cluster mode: this node registered (its tag in every id it mints, its
   * rows in the store) before anything recovers or mints. */
  pb_cluster *cluster = NULL;
  if (pb_cluster_open(&c->cluster, st, c->port, c->browsers, &cluster)) {
    pb_store_close(st);
    pb_reaper_dismiss(reaper);
    return 1;
  }
  /* Cluster mode (a PostgreSQL store): the account limits held across
   * nodes, on a connection of their own (core/fleet.h). */
  if (pb_db_spec_is_postgres(pb_store_db_spec(st)) &&
      (rc = pb_fleet_open(pb_store_db_spec(st),
                          cluster ? pb_nodes_self_tag(pb_cluster_nodes(cluster)) : NULL,
                          &fleet))) {
    fprintf(stderr, "ppod-browserd: fleet limits: %s\n", pb_strerror(rc));
    pb_cluster_close(cluster);
    pb_store_close(st);
    pb_reaper_dismiss(reaper);
    return 1;
  }
  int closed = 0;
  if (pb_usage_close_open(st, &closed) == 0 && closed)
    PB_WARN("usage: closed %d row(s) left open by an earlier run", closed);
  char tok[PB_TOKEN_MAX] = "";
  if (local_token(st, c->data_dir, tok, sizeof(tok)))
    PB_WARN("could not prepare the local account's token");
  /* The contexts' dir before any browser starts: refused, nothing ran. */
  {
    char why[PATH_MAX + 128];
    if (pb_contexts_open_dir(st, c->data_dir, c->contexts_dir, &contexts, why,
                             sizeof(why))) {
      fprintf(stderr, "ppod-browserd: contexts dir refused: %s\n", why);
      goto out;
    }
  }

  if (pb_egress_new(&eg))
    goto out;
  for (int i = 0; i < c->nallow; i++)
    if (pb_egress_allow(eg, c->allow[i])) {
      fprintf(stderr,
              "ppod-browserd: --allow-private %s: expected HOST or HOST:PORT\n",
              c->allow[i]);
      goto out;
    }

  signal(SIGPIPE, SIG_IGN);
  /* Before the pool: no Chromium ever starts without its only way out. */
  pb_egress_proxy_opts eo = {.allow = c->allow,
                             .nallow = c->nallow,
                             .hosts = c->egress_hosts,
                             .max_conns_per_listener = c->egress_conns,
                             .max_conns_per_account = c->egress_conns_account};
  rc = pb_egress_proxy_start(&eo, &proxy);
  if (rc) {
    fprintf(stderr, "ppod-browserd: cannot start the egress proxy: %s\n",
            pb_strerror(rc));
    goto out;
  }
  char proxy_url[64];
  snprintf(proxy_url, sizeof(proxy_url), "http://127.0.0.1:%d",
           pb_egress_proxy_port(proxy));
  if (c->egress_hosts)
    PB_WARN("egress: test resolver in use (--egress-hosts)");
  /* A namespace per browser when this process may make one: tried once
   * here, so every browser runs the same way and /healthz can say which. */
  static net_env ne;
  ne.proxy = proxy;
  ne.netns = 0;
  if (!c->no_netns) {
    int nsfd = -1, lfd = -1, port = 0;
    rc = pb_netns_listener(&nsfd, &lfd, &port);
    if (!rc) {
      close(nsfd);
      close(lfd);
      ne.netns = 1;
    } else {
      PB_WARN("egress: no network namespace per browser (%s): the egress proxy "
              "alone is the guard",
              rc == PB_EFORBIDDEN ? "no privilege" : pb_strerror(rc));
    }
  }
  const char *egress_mode = ne.netns ? "netns+proxy" : "proxy";
  PB_INFO("egress: %s", ne.netns ? "each browser in its own network namespace, "
                                   "the proxy its only way out"
                                 : "through the egress proxy");
  const char *memory_mode = "off";
  if (c->browser_memory_mb > 0) {
    memory_mode = !c->no_cgroup && pb_cgroup_init() ? pb_cgroup_mode_name()
                                                    : "rss-watchdog";
    PB_INFO("memory: %d MiB per browser (%s)", c->browser_memory_mb,
            memory_mode);
  }
  pb_isolate_opts io = {.uid_base = (uid_t)c->browser_uid_base,
                        .uids = c->browser_uids,
                        .data_dir = c->data_dir};
  if (pb_isolate_init(&io)) {
    fprintf(stderr,
            "ppod-browserd: no usable uid in %d..%d for browsers "
            "(--browser-uid-base)\n",
            c->browser_uid_base, c->browser_uid_base + c->browser_uids - 1);
    goto out;
  }
  if (pb_isolate_enabled())
    PB_INFO("isolation: each browser in its own mount namespace, as a uid of "
            "its own from %d",
            c->browser_uid_base);
  else
    PB_WARN("isolation: none (%s): browsers share a uid and see the host's "
            "files as it may",
            geteuid() ? "not root" : "--browser-uids 0");
  /* Browsers then run as this very uid: not dumpable, its /proc/PID
   * environ, fd, mem and root are closed to them (ptrace access checks)
   * and root-owned. As root the browsers' own uids do that. */
  if (geteuid() != 0 && prctl(PR_SET_DUMPABLE, 0))
    PB_WARN("cannot make the daemon non-dumpable: %s", strerror(errno));
  pb_pool_opts po;
  memset(&po, 0, sizeof(po));
  po.browsers = c->browsers;
  po.warm_pages = c->warm_pages;
  po.recycle_after = c->recycle_after;
  po.spares = c->spares;
  po.recycle_rss_kb = (long)c->recycle_rss_mb * 1024;
  po.recycle_age_ms = (int64_t)c->recycle_age_s * 1000;
  po.browser.executable = c->chromium;
  po.browser.no_sandbox = c->no_sandbox;
  po.browser.proxy = proxy_url;
  po.browser.net_open = browser_net_open;
  po.browser.net_close = browser_net_close;
  po.browser.net_data = &ne;
  po.browser.memory_limit_kb = (long)c->browser_memory_mb * 1024;
  po.download_max_bytes = (int64_t)c->download_max_mb << 20;
  if (c->no_sandbox)
    PB_WARN("Chromium runs WITHOUT its sandbox (--no-sandbox)");
  rc = pb_pool_start(&po, pb_now_ms() + 30000, &pool);
  if (rc) {
    fprintf(stderr, "ppod-browserd: cannot start the browser pool: %s\n",
            pb_strerror(rc));
    goto out;
  }
  if (pb_jobs_start(c->concurrency, c->queue, &jobs))
    goto out;
  char trace_dir[PATH_MAX];
  snprintf(trace_dir, sizeof(trace_dir), "%s/traces", c->data_dir);
  if (pb_trace_store_open(trace_dir, &traces))
    goto out;
  char dl_dir[PATH_MAX];
  snprintf(dl_dir, sizeof(dl_dir), "%s/downloads", c->data_dir);
  if (pb_dl_store_open(dl_dir, &downloads))
    goto out;
  char rec_dir[PATH_MAX];
  snprintf(rec_dir, sizeof(rec_dir), "%s/recordings", c->data_dir);
  if (pb_rec_store_open(rec_dir, &recordings))
    goto out;
  pb_sessions_opts sso = {.contexts = contexts,
                          .pool = pool,
                          .store = st,
                          .url_check = url_check,
                          .url_check_data = eg,
                          .net_owner = net_owner,
                          .net_owner_data = proxy,
                          .wake = wake_server,
                          .traces = traces,
                          .downloads = downloads,
                          .recordings = recordings,
                          .fleet = fleet,
                          .max_pages = c->session_max_pages,
                          .download_max_bytes = (int64_t)c->download_max_mb
                                                << 20};
  if (pb_sessions_start(&sso, &sessions))
    goto out;
  pb_cluster_set_sessions(cluster, sessions);
  /* After the sessions' start closed the sessions a dead run left open:
   * their holds on contexts are let go. */
  pb_contexts_release_stale(contexts);
  pb_ops_env env = {.pool = pool,
                    .egress = eg,
                    .sessions = sessions,
                    .traces = traces,
                    .downloads = downloads,
                    .recordings = recordings,
                    .egress_mode = egress_mode,
                    .memory_mode = memory_mode,
                    .isolation_mode = pb_isolate_mode(),
                    .memory_limit_mb = c->browser_memory_mb,
                    .egress_counts = egress_counts,
                    .egress_counts_data = proxy,
                    .egress_why = egress_why,
                    .egress_why_data = proxy,
                    .pdf_max_pages = c->pdf_max_pages,
                    .contexts = contexts,
                    .store = st};
  /* Crawls run on the job threads, within half of them per account. */
  pb_crawler_opts cro = {.env = &env,
                         .jobs = jobs,
                         .data_dir = c->data_dir,
                         .store_spec = c->store_spec ? pb_store_db_spec(st) : NULL,
                         .share = c->crawl_share ? c->crawl_share
                                                 : (c->concurrency + 1) / 2,
                         .per_host = c->crawl_per_host,
                         .max_active = c->crawl_max_active,
                         .max_bytes = (int64_t)c->crawl_max_mb << 20,
                         .proxy_port = pb_egress_proxy_port(proxy),
                         .read_request = pb_request_from_json};
  if (pb_crawler_start(&cro, &crawler))
    goto out;
  env.crawler = crawler;
  pb_server_opts so = {.address = c->address,
                       .port = c->port,
                       .store = st,
                       .ops = &env,
                       .jobs = jobs,
                       .drain_ms = 25000,
                       .body_timeout_ms = c->body_timeout_s * 1000,
                       .metrics_token = c->metrics_token,
                       .trusted_proxies = c->trusted_proxies,
                       .login = &c->login,
                       .nodes = pb_cluster_nodes(cluster),
                       .fleet = fleet};
  c->login.data_dir = c->data_dir;
  c->login.store_spec = c->store_spec ? pb_store_db_spec(st) : NULL;
  if (pb_server_create(&so, &srv))
    goto out;

  g_server = srv;
  pb_cluster_set_server(cluster, srv);
  if (fleet) pb_cluster_set_fleet_hook(cluster, fleet_free_node, fleet);
  pb_cluster_set_crawler(cluster, crawler); /* a lost node's crawls end */
  g_cluster = cluster;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  const char *host = strchr(c->address, ':') ? "[%s]" : "%s";
  char hostbuf[160];
  snprintf(hostbuf, sizeof(hostbuf), host, c->address);
  fprintf(stderr,
          "ppod-browserd: listening on http://%s:%d (%d browser(s), %d job "
          "thread(s), queue %d)\n",
          hostbuf, c->port, c->browsers, c->concurrency, c->queue);
  if (*tok)
    printf("\nlocal account token: %s\n\ntry:\n  curl -s -X POST "
           "http://%s:%d/browser/screenshot \\\n"
           "    -H 'Authorization: Bearer %s' -H 'Content-Type: "
           "application/json' \\\n"
           "    -d '{\"html\":\"<h1>Hello from ppod</h1>\"}' -o hello.png\n"
           "  or: PAPERPOD_TOKEN=%s build/ppod browser:screenshot "
           "https://example.com\n\n",
           tok, hostbuf, c->port, tok, tok);
  fflush(stdout);
  pb_server_run(srv);
  code = pb_cluster_exit_code(cluster); /* lost: exit non-zero, start afresh */
out:
  /* Deregistered (left) once the drain is over, before the sessions go:
   * the heartbeat reads their count. */
  g_cluster = NULL;
  pb_cluster_close(cluster);
  pb_crawler_stop(crawler); /* before the jobs: its pages run there */
  pb_jobs_stop(jobs);
  pb_sessions_stop(sessions);
  pb_fleet_free_node(fleet, NULL); /* what this node held, if any is left */
  pb_fleet_close(fleet);
  g_server = NULL;
  pb_server_free(srv);
  pb_trace_store_close(traces);
  pb_dl_store_close(downloads);
  pb_rec_store_close(recordings); /* after the sessions: none records */
  pb_contexts_close(contexts);
  pb_pool_stop(pool);
  pb_egress_proxy_stop(proxy); /* after the pool: browsers never outlive it */
  pb_cgroup_shutdown();
  pb_egress_free(eg);
  pb_store_close(st);
  reap_children();
  pb_reaper_dismiss(reaper);
  if (!code)
    PB_INFO("stopped");
  return code;
}

int main(int argc, char **argv) {
  config c;
  memset(&c, 0, sizeof(c));
  char **rest = calloc((size_t)argc + 1, sizeof(char *));
  int nrest = 0;
  if (!rest || parse_config(argc, argv, &c, rest, &nrest)) {
    free(rest);
    return 2;
  }
  int code;
  if (nrest == 0 || !strcmp(rest[0], "serve")) {
    if (nrest > 1) {
      usage(stderr);
      code = 2;
    } else {
      code = serve(&c);
    }
  } else if (!strcmp(rest[0], "account") || !strcmp(rest[0], "token")) {
    pb_admin_set_store(c.store_spec);
    code = pb_admin_main(c.data_dir, nrest, rest);
  } else if (!strcmp(rest[0], "help")) {
    usage(stdout);
    code = 0;
  } else {
    fprintf(stderr, "ppod-browserd: unknown command '%s'\n", rest[0]);
    usage(stderr);
    code = 2;
  }
  free(rest);
  return code;
}
