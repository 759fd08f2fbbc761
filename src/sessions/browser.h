#ifndef PB_SESSIONS_BROWSER_H
#define PB_SESSIONS_BROWSER_H
/* One Chromium process driven over --remote-debugging-pipe. */
#include "cdp/cdp.h"

#include <sys/types.h>

typedef struct pb_browser pb_browser;

/* A browser's own way out, made for it before it starts. */
typedef struct {
  int netns_fd;   /* a network namespace to run it in; -1: the caller's */
  char proxy[64]; /* its --proxy-server value */
  int id;         /* the maker's, for net_close */
} pb_browser_net;

typedef struct {
  const char *executable; /* NULL: /usr/lib/chromium/chromium, else /usr/bin/chromium */
  int no_sandbox;         /* operator opt-in only */
  const char *run_as;     /* user to drop to when started as root; NULL: "nobody" */
  const char *proxy;      /* --proxy-server value or NULL; net_open overrides it */
  /* Called before each launch to make the browser's own way out, and after
   * it is gone to undo that (also when the launch fails). A net_open error
   * fails the launch. NULL: none. */
  int (*net_open)(void *data, pb_browser_net *net);
  void (*net_close)(void *data, pb_browser_net *net);
  void *net_data;
  /* Memory of all its processes together; 0: no limit. Enforced by a
   * memory cgroup when pb_cgroup_init() found a hierarchy, else not here
   * (the pool's watchdog reads pb_browser_memory_kb). */
  long memory_limit_kb;
  const char *const *extra_args; /* NULL-terminated, may be NULL */
  pb_cdp_hook hook;       /* installed on the connection; may be NULL */
  void *hook_data;
  /* A dir whose tree is copied into the fresh profile dir before Chromium
   * starts (a persistent context's stored profile), owned like the profile
   * dir. The operator's: links in its path are followed, none inside it.
   * NULL: an empty profile. */
  const char *seed_dir;
} pb_browser_opts;

/* Starts Chromium with a private 0700 profile dir in the system temp dir
 * (prefix "ppod-profile-"), in its own process group, dying with this
 * process (PR_SET_PDEATHSIG: call from a thread that outlives the browser),
 * and waits until it answers over the pipe or deadline_ms passes. */
int pb_browser_launch(const pb_browser_opts *o, int64_t deadline_ms, pb_browser **out);

/* The connection, borrowed for the browser's lifetime. */
pb_cdp *pb_browser_cdp(pb_browser *b);
pid_t pb_browser_pid(pb_browser *b);

/* Its net_open's pb_browser_net id (the egress listener), -1 when none. */
int pb_browser_net_id(const pb_browser *b);
/* Its private profile dir (owned by the user Chromium runs as), borrowed for
 * the browser's lifetime; removed with it. */
const char *pb_browser_profile_dir(pb_browser *b);
/* The uid of its own it runs as when isolated, else (uid_t)-1. */
uid_t pb_browser_uid(const pb_browser *b);
/* Resident memory of the browser and its children, in KiB (0 if unknown). */
long pb_browser_rss_kb(pb_browser *b);

/* Memory its processes use together, in KiB: their proportional set sizes
 * (shared pages counted once). Reads every process's smaps_rollup: for a
 * watchdog, not a hot path. */
long pb_browser_memory_kb(pb_browser *b);

/* Whether its memory limit is a cgroup's, and how many of its processes the
 * kernel killed for going over it so far (-1: no cgroup). */
long pb_browser_oom_kills(pb_browser *b);

/* Kills its process with the largest proportional set size (a renderer,
 * usually; the browser process itself if that is the largest). Returns the pid killed,
 * 0 if none. For the memory watchdog when there is no cgroup. */
int pb_browser_kill_largest(pb_browser *b, long *rss_kb);

/* Asks Chromium to close (Browser.close), so it writes its cookies and
 * storage out, and waits for its process to exit until deadline_ms; then
 * kills what is left of its group and reaps it. The profile dir stays until
 * pb_browser_destroy. 0 when it exited on its own in time; PB_ECRASHED when
 * its connection was gone before it was asked; PB_ETIMEOUT when it had to be
 * killed. Once only, from the thread that will destroy it. */
int pb_browser_close(pb_browser *b, int64_t deadline_ms);

/* Kills the whole process group, reaps it, closes the connection and removes
 * the profile dir. NULL is a no-op. */
void pb_browser_destroy(pb_browser *b);

/* Removes every profile dir that a dead earlier run of this service left in
 * the temp dir (its owner pid is gone). Returns how many were removed. */
int pb_browser_sweep_profiles(void);

/* Removes the profile dirs of the run whose pid was owner, dead or not;
 * returns how many it found. */
int pb_browser_remove_profiles_of(int owner);

#endif
