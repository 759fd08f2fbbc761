#ifndef PB_SESSIONS_BROWSER_H
#define PB_SESSIONS_BROWSER_H
/* One Chromium process driven over --remote-debugging-pipe. */
#include "cdp/cdp.h"

#include <sys/types.h>

typedef struct pb_browser pb_browser;

typedef struct {
  const char *executable; /* NULL: /usr/lib/chromium/chromium, else /usr/bin/chromium */
  int no_sandbox;         /* operator opt-in only */
  const char *run_as;     /* user to drop to when started as root; NULL: "nobody" */
  const char *proxy;      /* --proxy-server value or NULL */
  const char *const *extra_args; /* NULL-terminated, may be NULL */
  pb_cdp_hook hook;       /* installed on the connection; may be NULL */
  void *hook_data;
} pb_browser_opts;

/* Starts Chromium with a private 0700 profile dir in the system temp dir
 * (prefix "ppod-profile-"), in its own process group, dying with this
 * process (PR_SET_PDEATHSIG: call from a thread that outlives the browser),
 * and waits until it answers over the pipe or deadline_ms passes. */
int pb_browser_launch(const pb_browser_opts *o, int64_t deadline_ms, pb_browser **out);

/* The connection, borrowed for the browser's lifetime. */
pb_cdp *pb_browser_cdp(pb_browser *b);
pid_t pb_browser_pid(pb_browser *b);
/* Resident memory of the browser and its children, in KiB (0 if unknown). */
long pb_browser_rss_kb(pb_browser *b);

/* Kills the whole process group, reaps it, closes the connection and removes
 * the profile dir. NULL is a no-op. */
void pb_browser_destroy(pb_browser *b);

/* Removes every profile dir that a dead earlier run of this service left in
 * the temp dir (its owner pid is gone). Returns how many were removed. */
int pb_browser_sweep_profiles(void);

#endif
