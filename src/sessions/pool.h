#ifndef PB_SESSIONS_POOL_H
#define PB_SESSIONS_POOL_H
/* The pool of warm browsers for quick actions. Each job gets a page in a fresh
 * BrowserContext that was created ahead of demand; the context is disposed on
 * release. Crashed browsers are replaced, and browsers are recycled after a
 * number of jobs, the replacement started before the old one drains. */
#include "cdp/cdp.h"
#include "sessions/browser.h"

#include <stdint.h>

typedef struct pb_pool pb_pool;

/* The viewport a warm page is made with and a request gets by default:
 * Cloudflare Browser Rendering's, so a body written for it gives the same
 * image. */
#define PB_VIEWPORT_DEFAULT_WIDTH 1920
#define PB_VIEWPORT_DEFAULT_HEIGHT 1080

typedef struct pb_page {
  pb_cdp *cdp;             /* the browser's connection, borrowed */
  char session_id[64];     /* flat session attached to the page */
  char target_id[64];
  char context_id[64];
  pb_cdp_sub *events;      /* the page session's events */
  int width, height;       /* viewport currently emulated */
  double dsf;
  void *owner;             /* private to the pool */
  int net_id;              /* the browser's pb_browser_net id (egress listener); -1: none */
} pb_page;

typedef struct {
  int browsers;       /* warm browsers kept (>= 1) */
  int warm_pages;     /* pages kept ready per browser (>= 1) */
  int recycle_after;  /* jobs before a browser is replaced (0: never) */
  long recycle_rss_kb;  /* resident memory of a browser's processes that gets it replaced (0: never) */
  int64_t recycle_age_ms; /* age that gets a browser replaced (0: never) */
  int spares;         /* browsers kept launched for acquired sessions */
  int64_t download_max_bytes; /* a page's download beyond this is cancelled; 0: 50 MiB */
  pb_browser_opts browser;
} pb_pool_opts;

/* Why a pool browser was replaced. */
enum { PB_POOL_CAUSE_CRASH, PB_POOL_CAUSE_JOBS, PB_POOL_CAUSE_RSS, PB_POOL_CAUSE_AGE, PB_POOL_NCAUSES };

typedef struct {
  int browsers_configured;
  int browsers_alive;
  int pages_ready;
  int pages_leased;
  uint64_t browsers_launched;
  uint64_t browsers_crashed;
  uint64_t restarts[PB_POOL_NCAUSES]; /* browsers replaced, by PB_POOL_CAUSE_* */
  int spares;                         /* warm spares for sessions now */
} pb_pool_stats;

/* One browser of the pool (or a spare), for /metrics. */
typedef struct {
  int index;    /* position in the pool now: a label, not an identity */
  int pid;
  int spare;
  uint64_t jobs;
  long rss_kb;  /* the browser's whole process group */
} pb_pool_browser;

/* Fills out[0..max) with the pool's browsers and spares and their resident
 * memory (reads /proc: not for hot paths); returns the count. */
int pb_pool_browsers(pb_pool *p, pb_pool_browser *out, int max);

/* Starts the pool's threads and launches the browsers; returns when at least
 * one browser has a page ready or deadline_ms passed (the pool keeps trying
 * in the background either way). */
int pb_pool_start(const pb_pool_opts *o, int64_t deadline_ms, pb_pool **out);

/* Leases a ready page, waiting until deadline_ms. PB_ETIMEOUT when none came
 * ready in time, PB_ESHUTDOWN when stopping. The caller returns the page with
 * pb_pool_release(). */
int pb_pool_lease(pb_pool *p, int64_t deadline_ms, pb_page **out);

/* Takes a warm spare browser out of the pool for the caller's exclusive use
 * (an acquired session); the pool starts a replacement. The browser has no
 * policy hook: its whole protocol belongs to the caller, who destroys it with
 * pb_browser_destroy(). PB_ETIMEOUT when none came ready by deadline_ms. */
int pb_pool_take_spare(pb_pool *p, int64_t deadline_ms, pb_browser **out);

/* Launches a browser for the caller's exclusive use, like a spare, whose
 * profile starts as a copy of seed_dir (borrowed until it returns); the
 * pool's manager launches it, counted as a spare being launched. Waits
 * until it is up; PB_ETIMEOUT when the manager had not started it by
 * deadline_ms, PB_ESHUTDOWN when stopping, else the launch's error. */
int pb_pool_launch_seeded(pb_pool *p, const char *seed_dir, int64_t deadline_ms,
                          pb_browser **out);

/* Returns a leased page: its context is disposed and a new page is prepared.
 * NULL is a no-op. */
void pb_pool_release(pb_pool *p, pb_page *pg);

/* The PIDs of live browsers, for tests and /metrics; returns the count. */
int pb_pool_pids(pb_pool *p, int *pids, int max);

void pb_pool_get_stats(pb_pool *p, pb_pool_stats *st);

/* Stops every thread and browser and removes their profile dirs. Leased pages
 * must have been released. NULL is a no-op. */
void pb_pool_stop(pb_pool *p);

#endif
