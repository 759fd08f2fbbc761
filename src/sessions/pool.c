#include "sessions/pool.h"

#include "cdp/targets.h"
#include "common/pb.h"
#include "sessions/downloads.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WARM 8
/* Targets a quick action's page may bring about (popups, workers, frames in
 * processes of their own) before every further one is closed at once. */
#define MAX_TARGETS_PER_JOB 20
#define MAX_SPARES 16

enum { E_LAUNCHING, E_LIVE, E_RETIRING };

typedef struct entry {
  pb_pool *pool;
  pb_browser *b;
  int state;
  int replace;  /* recycle requested: retire once a replacement is live */
  int cause;    /* why it is being replaced (PB_POOL_CAUSE_*), counted once */
  int leased;   /* pages out to jobs */
  int creating; /* pages being prepared by the warmer */
  pb_page *ready[MAX_WARM];
  int nready;
  uint64_t jobs;
  long oom_kills; /* the kernel's kills in its memory cgroup, seen so far */
  int64_t born_ms;
  pthread_t warmer;
  int warmer_started;
  pthread_cond_t wcv;  /* wakes the warmer */
  pb_targets *targets; /* what its pages opened, per context (reader thread) */
  struct entry *next;
} entry;

/* A browser asked for with a seeded profile (pb_pool_launch_seeded): the
 * manager launches it, like a spare, for the waiting caller. */
typedef struct seed_req {
  const char *seed_dir;
  int state; /* 0 queued, 1 launching, 2 done */
  int rc;
  pb_browser *b;
  struct seed_req *next;
} seed_req;

struct pb_pool {
  pb_pool_opts o;
  seed_req *seeds; /* queued and launching, oldest first */
  pthread_mutex_t mu;
  pthread_cond_t cv;     /* a page came ready, or the pool changed */
  pthread_cond_t mgr_cv; /* wakes the manager */
  entry *entries;
  pb_browser *spare[MAX_SPARES];
  int nspares, spares_launching;
  int stopping;
  pthread_t manager;
  uint64_t launched, crashed;
  uint64_t restarts[PB_POOL_NCAUSES]; /* browsers replaced, by cause */
  int64_t last_rss_check;             /* manager thread only */
  int64_t last_mem_check;             /* manager thread only: the memory watchdog */
};

static void cond_init_mono(pthread_cond_t *cv) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(cv, &ca);
  pthread_condattr_destroy(&ca);
}

static void wait_until(pthread_cond_t *cv, pthread_mutex_t *mu, int64_t deadline_ms) {
  struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
  pthread_cond_timedwait(cv, mu, &ts);
}

/* Browser-level policy run on the connection's reader thread: pages must not
 * stall a job, so dialogs are dismissed and popups closed at once. */
static int browser_hook(pb_cdp *c, const char *sid, const char *method, const cJSON *params,
                        void *data) {
  entry *e = data;
  if (!strcmp(method, "Page.javascriptDialogOpening")) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(params, "type");
    int accept = cJSON_IsString(type) && !strcmp(type->valuestring, "beforeunload");
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "accept", accept);
    pb_cdp_send(c, sid, "Page.handleJavaScriptDialog", p);
    return 0;
  }
  if (!*sid && !strcmp(method, "Target.targetCreated")) {
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(params, "targetInfo");
    const cJSON *opener = cJSON_GetObjectItemCaseSensitive(info, "openerId");
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(info, "targetId");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(info, "type");
    /* A job's context holds its one page, created first: any other page is
     * a popup (with an opener or without: noopener), and past the cap
     * anything else the page starts goes too (frames excepted: they are
     * part of the page and bounded by it). The full browser opens its own
     * WebUI (type "browser_ui": the omnibox popup) in every new context
     * before the page: not the page's doing, and not counted. */
    if (cJSON_IsString(type) && !strcmp(type->valuestring, "browser_ui")) return 1;
    int n = pb_targets_created(e->targets, info);
    int page = cJSON_IsString(type) && !strcmp(type->valuestring, "page");
    int frame = cJSON_IsString(type) && !strcmp(type->valuestring, "iframe");
    int popup = page && ((cJSON_IsString(opener) && *opener->valuestring) || n > 1);
    if (n == MAX_TARGETS_PER_JOB + 1)
      PB_WARN("pool: a page opened more than %d targets; closing every further one",
              MAX_TARGETS_PER_JOB);
    if (cJSON_IsString(tid) && (popup || (n > MAX_TARGETS_PER_JOB && !frame))) {
      cJSON *p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "targetId", tid->valuestring);
      pb_cdp_send(c, NULL, "Target.closeTarget", p);
    }
    return 1;
  }
  if (!*sid && !strcmp(method, "Target.targetDestroyed")) {
    const cJSON *tid = cJSON_GetObjectItemCaseSensitive(params, "targetId");
    if (cJSON_IsString(tid)) pb_targets_destroyed(e->targets, tid->valuestring);
    return 1;
  }
  if (!*sid && !strcmp(method, "Browser.downloadWillBegin")) {
    const cJSON *frame = cJSON_GetObjectItemCaseSensitive(params, "frameId");
    pb_targets_download_began(e->targets, cJSON_IsString(frame) ? frame->valuestring : "");
    return 1;
  }
  if (!*sid && !strcmp(method, "Browser.downloadProgress")) {
    int64_t cap =
        e->pool->o.download_max_bytes > 0 ? e->pool->o.download_max_bytes : PB_DOWNLOAD_MAX_BYTES;
    pb_targets_cap_download(c, e->targets, params, cap);
    return 1;
  }
  /* Browser-level events have no reader here: drop them unqueued. */
  return !*sid;
}

static int str_field(const cJSON *o, const char *name, char *dst, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsString(v)) return PB_ECDP;
  pb_strlcpy(dst, v->valuestring, cap);
  return 0;
}

static void page_free(pb_page *pg, int dispose) {
  if (!pg) return;
  if (dispose && pg->context_id[0]) {
    entry *e = pg->owner;
    char dir[4096];
    /* A context that downloaded is disposed before its files are wiped, so
     * no download is still writing there. */
    int have_dir =
        pb_downloads_dir(pb_browser_profile_dir(e->b), pg->context_id, dir, sizeof(dir)) == 0;
    int downloaded =
        have_dir && (pb_targets_downloaded(e->targets, pg->context_id) || pb_downloads_used(dir));
    if (pb_cdp_alive(pg->cdp)) {
      cJSON *p = cJSON_CreateObject();
      cJSON_AddStringToObject(p, "browserContextId", pg->context_id);
      if (downloaded)
        pb_cdp_call(pg->cdp, NULL, "Target.disposeBrowserContext", p, pb_now_ms() + 5000, NULL,
                    NULL, 0);
      else
        pb_cdp_send(pg->cdp, NULL, "Target.disposeBrowserContext", p);
    }
    if (have_dir) pb_downloads_wipe(dir);
    pb_targets_forget(e->targets, pg->context_id);
  }
  pb_cdp_unsubscribe(pg->events);
  free(pg);
}

/* A fresh BrowserContext with one blank page, attached, with the domains a
 * quick action needs already enabled. */
static int page_create(entry *e, pb_page **out) {
  *out = NULL;
  pb_page *pg = calloc(1, sizeof(*pg));
  if (!pg) return PB_ENOMEM;
  pg->cdp = pb_browser_cdp(e->b);
  pg->owner = e;
  pg->net_id = pb_browser_net_id(e->b);
  int64_t deadline = pb_now_ms() + 15000;
  cJSON *res = NULL, *p;
  int rc = pb_cdp_call(pg->cdp, NULL, "Target.createBrowserContext", NULL, deadline, &res, NULL, 0);
  if (!rc) rc = str_field(res, "browserContextId", pg->context_id, sizeof(pg->context_id));
  cJSON_Delete(res);
  if (rc) goto fail;
  /* Downloads land in a directory of the context's own, in the profile dir
   * (so also gone with the browser), capped in size by the hook and wiped
   * when the context is disposed. */
  char dl[4096];
  int dl_ok = pb_downloads_dir(pb_browser_profile_dir(e->b), pg->context_id, dl, sizeof(dl)) == 0 &&
              pb_downloads_prepare(dl) == 0;
  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "behavior", dl_ok ? "allowAndName" : "deny");
  cJSON_AddStringToObject(p, "browserContextId", pg->context_id);
  if (dl_ok) cJSON_AddStringToObject(p, "downloadPath", dl);
  cJSON_AddBoolToObject(p, "eventsEnabled", 1);
  pb_cdp_send(pg->cdp, NULL, "Browser.setDownloadBehavior", p);

  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "url", "about:blank");
  cJSON_AddStringToObject(p, "browserContextId", pg->context_id);
  rc = pb_cdp_call(pg->cdp, NULL, "Target.createTarget", p, deadline, &res, NULL, 0);
  if (!rc) rc = str_field(res, "targetId", pg->target_id, sizeof(pg->target_id));
  cJSON_Delete(res);
  if (rc) goto fail;

  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "targetId", pg->target_id);
  cJSON_AddBoolToObject(p, "flatten", 1);
  rc = pb_cdp_call(pg->cdp, NULL, "Target.attachToTarget", p, deadline, &res, NULL, 0);
  if (!rc) rc = str_field(res, "sessionId", pg->session_id, sizeof(pg->session_id));
  cJSON_Delete(res);
  if (rc) goto fail;

  rc = pb_cdp_subscribe(pg->cdp, pg->session_id, &pg->events);
  if (rc) goto fail;
  /* Replies on one session come in order: only the last one is awaited. */
  pb_cdp_send(pg->cdp, pg->session_id, "Page.enable", NULL);
  p = cJSON_CreateObject();
  cJSON_AddBoolToObject(p, "enabled", 1);
  pb_cdp_send(pg->cdp, pg->session_id, "Page.setLifecycleEventsEnabled", p);
  pg->width = PB_VIEWPORT_DEFAULT_WIDTH;
  pg->height = PB_VIEWPORT_DEFAULT_HEIGHT;
  pg->dsf = 1;
  p = cJSON_CreateObject();
  cJSON_AddNumberToObject(p, "width", pg->width);
  cJSON_AddNumberToObject(p, "height", pg->height);
  cJSON_AddNumberToObject(p, "deviceScaleFactor", pg->dsf);
  cJSON_AddBoolToObject(p, "mobile", 0);
  pb_cdp_send(pg->cdp, pg->session_id, "Emulation.setDeviceMetricsOverride", p);
  /* Running script makes the page's renderer process start now, off the
   * request path. */
  p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "expression", "0");
  rc = pb_cdp_call(pg->cdp, pg->session_id, "Runtime.evaluate", p, deadline, NULL, NULL, 0);
  if (rc) goto fail;
  *out = pg;
  return 0;
fail:
  page_free(pg, 1);
  return rc;
}

static void *warmer_main(void *arg) {
  entry *e = arg;
  pb_pool *p = e->pool;
  int failures = 0;
  pthread_mutex_lock(&p->mu);
  while (e->state == E_LIVE && !p->stopping) {
    int want = p->o.warm_pages;
    /* Preparing a page spawns a renderer, which competes for the CPU with
     * the jobs running on this browser: while one is running and a page is
     * still ready, wait until it is released. */
    int defer = e->leased > 0 && e->nready >= 1;
    if (defer || e->nready + e->creating >= want || !pb_cdp_alive(pb_browser_cdp(e->b))) {
      wait_until(&e->wcv, &p->mu, pb_now_ms() + 1000);
      continue;
    }
    e->creating++;
    pthread_mutex_unlock(&p->mu);
    pb_page *pg = NULL;
    int rc = page_create(e, &pg);
    pthread_mutex_lock(&p->mu);
    e->creating--;
    if (rc) {
      PB_WARN("pool: preparing a page failed: %s", pb_strerror(rc));
      pthread_cond_signal(&p->mgr_cv);
      /* Back off: the browser may be dying; the manager will see it. */
      wait_until(&e->wcv, &p->mu, pb_now_ms() + (failures++ < 3 ? 100 : 1000));
      continue;
    }
    failures = 0;
    if (e->state != E_LIVE || e->nready >= MAX_WARM) {
      pthread_mutex_unlock(&p->mu);
      page_free(pg, 1);
      pthread_mutex_lock(&p->mu);
      continue;
    }
    e->ready[e->nready++] = pg;
    pthread_cond_broadcast(&p->cv);
    pthread_cond_signal(&p->mgr_cv);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void entry_destroy(entry *e) {
  if (e->warmer_started) pthread_join(e->warmer, NULL);
  /* Ready pages die with the browser; only their memory is ours. */
  for (int i = 0; i < e->nready; i++) page_free(e->ready[i], 0);
  pb_browser_destroy(e->b);
  pthread_cond_destroy(&e->wcv);
  pb_targets_free(e->targets);
  free(e);
}

static void retire_locked(pb_pool *p, entry *e) {
  if (e->state == E_RETIRING) return;
  e->state = E_RETIRING;
  pthread_cond_broadcast(&e->wcv);
  pthread_cond_signal(&p->mgr_cv);
}

/* Marks a live browser for replacement and counts why, once. */
static void mark_replace_locked(pb_pool *p, entry *e, int cause) {
  if (e->replace) return;
  e->replace = 1;
  e->cause = cause;
  p->restarts[cause]++;
}

/* Whether a browser is being replaced: marked, retiring, or a replacement
 * still starting. Planned recycles (jobs, RSS, age) wait for it to end, so
 * browsers that reach their cap together are replaced one after the other
 * and the pool never runs more than one browser over its size. */
static int replacing_locked(pb_pool *p) {
  for (entry *e = p->entries; e; e = e->next)
    if (e->replace || e->state != E_LIVE) return 1;
  return 0;
}

static int live_count_locked(pb_pool *p) {
  int n = 0;
  for (entry *e = p->entries; e; e = e->next)
    if (e->state != E_RETIRING && !e->replace) n++;
  return n;
}

/* ---------- the manager ----------
 *
 * One thread keeps the pool at its size: it is the only one that launches
 * and destroys browsers (so PR_SET_PDEATHSIG ties every browser to a thread
 * that lives as long as the pool). Its loop runs the phases below in order.
 * Each phase is entered and left with p->mu held; the ones that launch or
 * destroy a browser drop the lock around that call only, and rescan what
 * they walk afterwards, since the lists may have changed meanwhile. */

/* Crash restart: a live browser whose connection is gone is retired (it is
 * destroyed by destroy_retired_locked once its jobs have failed) and counted
 * as crashed, and as a crash restart unless it was already being replaced.
 * Lock held throughout. */
static void retire_crashed_locked(pb_pool *p) {
  for (entry *e = p->entries; e; e = e->next)
    if (e->state == E_LIVE && !pb_cdp_alive(pb_browser_cdp(e->b))) {
      PB_WARN("pool: browser %d died; replacing it", (int)pb_browser_pid(e->b));
      p->crashed++;
      if (!e->replace) p->restarts[PB_POOL_CAUSE_CRASH]++;
      retire_locked(p, e);
    }
}

/* Planned recycling by age and memory: a live browser over its age cap, or
 * over its RSS cap (read every 5 s only), is marked for replacement, like
 * the job count does at lease time; never while another browser is being
 * replaced (replacing_locked), so replacements run one at a time. Lock held
 * throughout. */
static void mark_over_caps_locked(pb_pool *p, int64_t now) {
  int check_rss = p->o.recycle_rss_kb > 0 && now - p->last_rss_check >= 5000;
  if (check_rss) p->last_rss_check = now;
  for (entry *e = p->entries; e; e = e->next) {
    if (e->state != E_LIVE || e->replace || replacing_locked(p)) continue;
    if (p->o.recycle_age_ms > 0 && now - e->born_ms > p->o.recycle_age_ms) {
      PB_INFO("pool: browser %d is %lld s old; replacing it", (int)pb_browser_pid(e->b),
              (long long)((now - e->born_ms) / 1000));
      mark_replace_locked(p, e, PB_POOL_CAUSE_AGE);
    } else if (check_rss) {
      long rss = pb_browser_rss_kb(e->b);
      if (rss > p->o.recycle_rss_kb) {
        PB_INFO("pool: browser %d uses %ld MiB; replacing it", (int)pb_browser_pid(e->b),
                rss / 1024);
        mark_replace_locked(p, e, PB_POOL_CAUSE_RSS);
      }
    }
  }
}

/* The memory limit. With a cgroup the kernel enforces it (its OOM killer
 * ends the largest process, a renderer) and the browser is replaced after;
 * without, a watchdog does the same from the processes' proportional set
 * sizes, twice a second. Either way the job on the killed page fails as a
 * crash, and the replacement counts as one. Lock held throughout. */
static void watch_memory_locked(pb_pool *p, int64_t now) {
  long limit = p->o.browser.memory_limit_kb;
  int check_mem = limit > 0 && now - p->last_mem_check >= 500;
  if (check_mem) p->last_mem_check = now;
  for (entry *e = p->entries; limit > 0 && e; e = e->next) {
    if (e->state != E_LIVE) continue;
    long kills = pb_browser_oom_kills(e->b);
    if (kills > e->oom_kills) {
      PB_WARN(
          "pool: browser %d went over its memory limit (%ld MiB): the kernel killed %ld "
          "process(es); replacing it",
          (int)pb_browser_pid(e->b), limit / 1024, kills - e->oom_kills);
      e->oom_kills = kills;
      mark_replace_locked(p, e, PB_POOL_CAUSE_CRASH);
    } else if (kills < 0 && check_mem) {
      long rss = pb_browser_memory_kb(e->b);
      if (rss > limit) {
        long big = 0;
        int pid = pb_browser_kill_largest(e->b, &big);
        PB_WARN(
            "pool: browser %d uses %ld MiB, over its memory limit (%ld MiB): killed its "
            "process %d (%ld MiB); replacing it",
            (int)pb_browser_pid(e->b), rss / 1024, limit / 1024, pid, big / 1024);
        mark_replace_locked(p, e, PB_POOL_CAUSE_CRASH);
      }
    }
  }
}

/* Browsers marked for replacement retire only once a fresh browser has a
 * page ready, so a recycle never leaves jobs waiting for a launch; when the
 * pool is stopping, every browser retires. Lock held throughout. */
static void retire_replaced_locked(pb_pool *p) {
  int fresh_ready = 0;
  for (entry *e = p->entries; e; e = e->next)
    if (e->state == E_LIVE && !e->replace && e->nready > 0) fresh_ready = 1;
  if (fresh_ready)
    for (entry *e = p->entries; e; e = e->next)
      if (e->state == E_LIVE && e->replace) retire_locked(p, e);
  if (p->stopping)
    for (entry *e = p->entries; e; e = e->next) retire_locked(p, e);
}

/* Retired browsers with no page leased or being prepared are unlinked and
 * destroyed (their warmer joined, their ready pages freed), and cv is
 * broadcast after each. The lock is dropped around each destroy; the walk
 * then starts over from the head. */
static void destroy_retired_locked(pb_pool *p) {
  for (entry **pe = &p->entries; *pe;) {
    entry *e = *pe;
    if (e->state == E_RETIRING && e->leased == 0 && e->creating == 0) {
      *pe = e->next;
      pthread_mutex_unlock(&p->mu);
      entry_destroy(e);
      pthread_mutex_lock(&p->mu);
      pthread_cond_broadcast(&p->cv);
      pe = &p->entries; /* the list may have changed while unlocked */
      continue;
    }
    pe = &e->next;
  }
}

/* The stopping pool's last step, once no browser is left: the spares are
 * destroyed, the lock dropped around each. */
static void destroy_spares_locked(pb_pool *p) {
  while (p->nspares) {
    pb_browser *b = p->spare[--p->nspares];
    pthread_mutex_unlock(&p->mu);
    pb_browser_destroy(b);
    pthread_mutex_lock(&p->mu);
  }
}

/* Launches one browser while the pool has fewer live (not retiring, not
 * marked) browsers than its size, unless stopping or backing off. The entry
 * is listed as E_LAUNCHING before the lock is dropped for the launch, so it
 * counts as live meanwhile; once up it is E_LIVE with its warmer started. A
 * failed launch is unlisted and sets *backoff_ms to 1000. Returns 1 when it
 * launched or tried (the loop then starts over without sleeping), 0 when
 * there was nothing to do or no memory for the entry. */
static int launch_browser_locked(pb_pool *p, int *backoff_ms) {
  if (p->stopping || live_count_locked(p) >= p->o.browsers || *backoff_ms) return 0;
  entry *e = calloc(1, sizeof(*e));
  if (e && pb_targets_new(&e->targets)) {
    free(e);
    e = NULL;
  }
  if (!e) return 0;
  e->pool = p;
  e->state = E_LAUNCHING;
  cond_init_mono(&e->wcv);
  e->next = p->entries;
  p->entries = e;
  pthread_mutex_unlock(&p->mu);
  pb_browser_opts bo = p->o.browser;
  bo.hook = browser_hook;
  bo.hook_data = e;
  int rc = pb_browser_launch(&bo, pb_now_ms() + 30000, &e->b);
  if (!rc) {
    cJSON *params = cJSON_CreateObject();
    cJSON_AddBoolToObject(params, "discover", 1);
    pb_cdp_send(pb_browser_cdp(e->b), NULL, "Target.setDiscoverTargets", params);
  }
  pthread_mutex_lock(&p->mu);
  if (rc) {
    PB_ERR("pool: launching Chromium failed: %s", pb_strerror(rc));
    for (entry **pe = &p->entries; *pe; pe = &(*pe)->next)
      if (*pe == e) {
        *pe = e->next;
        break;
      }
    pthread_cond_destroy(&e->wcv);
    pb_targets_free(e->targets);
    free(e);
    *backoff_ms = 1000;
  } else {
    p->launched++;
    e->state = E_LIVE;
    e->born_ms = pb_now_ms();
    if (pthread_create(&e->warmer, NULL, warmer_main, e) == 0) e->warmer_started = 1;
    PB_INFO("pool: browser %d ready", (int)pb_browser_pid(e->b));
  }
  return 1;
}

/* Spares whose connection is gone are dropped and destroyed, the lock
 * dropped around each; the scan then starts over. */
static void reap_dead_spares_locked(pb_pool *p) {
  for (int i = 0; i < p->nspares; i++)
    if (!pb_cdp_alive(pb_browser_cdp(p->spare[i]))) {
      pb_browser *dead = p->spare[i];
      p->spare[i] = p->spare[--p->nspares];
      pthread_mutex_unlock(&p->mu);
      pb_browser_destroy(dead);
      pthread_mutex_lock(&p->mu);
      i = -1; /* rescan: the list changed */
    }
}

/* Launches one spare for acquired sessions, once the pool itself is full,
 * while spares (ready and launching) are fewer than configured, unless
 * stopping or backing off. spares_launching counts it while the lock is
 * dropped for the launch; a spare that comes up is listed and cv broadcast
 * (one that comes up while stopping, or past MAX_SPARES, is destroyed). A
 * failed launch sets *backoff_ms to 1000. Returns 1 when it launched or
 * tried (the loop then starts over without sleeping), else 0. */
static int launch_spare_locked(pb_pool *p, int *backoff_ms) {
  if (p->stopping || *backoff_ms || live_count_locked(p) < p->o.browsers ||
      p->nspares + p->spares_launching >= p->o.spares)
    return 0;
  p->spares_launching++;
  pthread_mutex_unlock(&p->mu);
  pb_browser *b = NULL;
  pb_browser_opts bo = p->o.browser;
  bo.hook = NULL;
  bo.hook_data = NULL;
  int rc = pb_browser_launch(&bo, pb_now_ms() + 30000, &b);
  pthread_mutex_lock(&p->mu);
  p->spares_launching--;
  if (rc) {
    PB_ERR("pool: launching a spare browser failed: %s", pb_strerror(rc));
    *backoff_ms = 1000;
  } else if (p->stopping || p->nspares >= MAX_SPARES) {
    pthread_mutex_unlock(&p->mu);
    pb_browser_destroy(b);
    pthread_mutex_lock(&p->mu);
  } else {
    p->launched++;
    p->spare[p->nspares++] = b;
    pthread_cond_broadcast(&p->cv);
  }
  return 1;
}

/* Launches the oldest queued seeded browser, counted as a spare being
 * launched while the lock is dropped (so the pool's accounting holds), and
 * hands it to its waiter through cv. Returns 1 when it launched or tried. */
static int launch_seeded_locked(pb_pool *p) {
  seed_req *r = p->seeds;
  while (r && r->state != 0) r = r->next;
  if (!r || p->stopping) return 0;
  r->state = 1;
  p->spares_launching++;
  pthread_mutex_unlock(&p->mu);
  pb_browser *b = NULL;
  pb_browser_opts bo = p->o.browser;
  bo.hook = NULL;
  bo.hook_data = NULL;
  bo.seed_dir = r->seed_dir;
  int rc = pb_browser_launch(&bo, pb_now_ms() + 30000, &b);
  pthread_mutex_lock(&p->mu);
  p->spares_launching--;
  if (rc)
    PB_ERR("pool: launching a seeded browser failed: %s", pb_strerror(rc));
  else
    p->launched++;
  r->rc = rc;
  r->b = b;
  r->state = 2;
  pthread_cond_broadcast(&p->cv);
  return 1;
}

/* The manager loop: the phases above, in order, then a sleep on mgr_cv of
 * 200 ms (1 s after a failed launch, during which nothing is launched) that
 * any change to the pool cuts short. A launch (or try) starts the next round
 * at once instead. Ends once the pool is stopping and every browser and
 * spare is gone. */
static void *manager_main(void *arg) {
  pb_pool *p = arg;
  int backoff_ms = 0;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    retire_crashed_locked(p);
    int64_t now = pb_now_ms();
    mark_over_caps_locked(p, now);
    watch_memory_locked(p, now);
    retire_replaced_locked(p);
    destroy_retired_locked(p);
    if (p->stopping && !p->entries) {
      destroy_spares_locked(p);
      break;
    }
    if (launch_seeded_locked(p)) continue;
    if (launch_browser_locked(p, &backoff_ms)) continue;
    reap_dead_spares_locked(p);
    if (launch_spare_locked(p, &backoff_ms)) continue;
    wait_until(&p->mgr_cv, &p->mu, pb_now_ms() + (backoff_ms ? backoff_ms : 200));
    backoff_ms = 0;
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

int pb_pool_start(const pb_pool_opts *o, int64_t deadline_ms, pb_pool **out) {
  *out = NULL;
  pb_pool *p = calloc(1, sizeof(*p));
  if (!p) return PB_ENOMEM;
  p->o = *o;
  if (p->o.browsers < 1) p->o.browsers = 1;
  if (p->o.warm_pages < 1) p->o.warm_pages = 1;
  if (p->o.warm_pages > MAX_WARM) p->o.warm_pages = MAX_WARM;
  pthread_mutex_init(&p->mu, NULL);
  cond_init_mono(&p->cv);
  cond_init_mono(&p->mgr_cv);
  pb_browser_sweep_profiles();
  if (pthread_create(&p->manager, NULL, manager_main, p)) {
    free(p);
    return PB_EIO;
  }
  pthread_mutex_lock(&p->mu);
  for (;;) {
    int ready = 0;
    for (entry *e = p->entries; e; e = e->next) ready += e->state == E_LIVE && e->nready > 0;
    if (ready || pb_now_ms() >= deadline_ms) break;
    wait_until(&p->cv, &p->mu, deadline_ms);
  }
  pthread_mutex_unlock(&p->mu);
  *out = p;
  return 0;
}

int pb_pool_lease(pb_pool *p, int64_t deadline_ms, pb_page **out) {
  *out = NULL;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->stopping) {
      pthread_mutex_unlock(&p->mu);
      return PB_ESHUTDOWN;
    }
    entry *best = NULL;
    for (entry *e = p->entries; e; e = e->next) {
      if (e->state != E_LIVE || e->nready == 0) continue;
      if (!best || (best->replace && !e->replace) ||
          (best->replace == e->replace && e->leased < best->leased))
        best = e;
    }
    if (best && pb_cdp_alive(pb_browser_cdp(best->b))) {
      pb_page *pg = best->ready[0];
      memmove(best->ready, best->ready + 1, sizeof(best->ready[0]) * (size_t)(best->nready - 1));
      best->nready--;
      if (pb_cdp_session_is_dead(pg->cdp, pg->session_id)) {
        /* Its renderer died while it waited: prepare another. */
        pthread_cond_signal(&best->wcv);
        pthread_mutex_unlock(&p->mu);
        page_free(pg, 1);
        pthread_mutex_lock(&p->mu);
        continue;
      }
      best->leased++;
      best->jobs++;
      if (p->o.recycle_after > 0 && best->jobs >= (uint64_t)p->o.recycle_after && !best->replace &&
          !replacing_locked(p)) {
        mark_replace_locked(p, best, PB_POOL_CAUSE_JOBS);
        pthread_cond_signal(&p->mgr_cv);
      }
      pthread_cond_signal(&best->wcv);
      pthread_mutex_unlock(&p->mu);
      *out = pg;
      return 0;
    }
    if (best) pthread_cond_signal(&p->mgr_cv);
    if (pb_now_ms() >= deadline_ms) {
      pthread_mutex_unlock(&p->mu);
      return PB_ETIMEOUT;
    }
    int64_t until = pb_now_ms() + 100;
    wait_until(&p->cv, &p->mu, until < deadline_ms ? until : deadline_ms);
  }
}

int pb_pool_take_spare(pb_pool *p, int64_t deadline_ms, pb_browser **out) {
  *out = NULL;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    if (p->stopping) {
      pthread_mutex_unlock(&p->mu);
      return PB_ESHUTDOWN;
    }
    while (p->nspares) {
      pb_browser *b = p->spare[--p->nspares];
      if (pb_cdp_alive(pb_browser_cdp(b))) {
        pthread_cond_signal(&p->mgr_cv);
        pthread_mutex_unlock(&p->mu);
        *out = b;
        return 0;
      }
      pthread_mutex_unlock(&p->mu);
      pb_browser_destroy(b);
      pthread_mutex_lock(&p->mu);
    }
    pthread_cond_signal(&p->mgr_cv);
    if (pb_now_ms() >= deadline_ms) {
      pthread_mutex_unlock(&p->mu);
      return PB_ETIMEOUT;
    }
    wait_until(&p->cv, &p->mu, deadline_ms);
  }
}

int pb_pool_launch_seeded(pb_pool *p, const char *seed_dir, int64_t deadline_ms,
                          pb_browser **out) {
  *out = NULL;
  seed_req r = {.seed_dir = seed_dir};
  pthread_mutex_lock(&p->mu);
  seed_req **tail = &p->seeds;
  while (*tail) tail = &(*tail)->next;
  *tail = &r;
  pthread_cond_signal(&p->mgr_cv);
  int rc = 0;
  while (r.state != 2) {
    /* Given up only while still queued: a launch under way is waited for
     * (it has its own deadline), so its browser is never left behind. */
    if (r.state == 0 && (p->stopping || pb_now_ms() >= deadline_ms)) {
      rc = p->stopping ? PB_ESHUTDOWN : PB_ETIMEOUT;
      break;
    }
    int64_t until = pb_now_ms() + 1000;
    wait_until(&p->cv, &p->mu, r.state == 0 && deadline_ms < until ? deadline_ms : until);
  }
  for (seed_req **pp = &p->seeds; *pp; pp = &(*pp)->next)
    if (*pp == &r) {
      *pp = r.next;
      break;
    }
  pthread_mutex_unlock(&p->mu);
  if (rc) return rc;
  *out = r.b;
  return r.rc;
}

void pb_pool_release(pb_pool *p, pb_page *pg) {
  if (!pg) return;
  entry *e = pg->owner;
  page_free(pg, 1);
  pthread_mutex_lock(&p->mu);
  e->leased--;
  pthread_cond_signal(&e->wcv);
  if (e->state == E_RETIRING || e->replace) pthread_cond_signal(&p->mgr_cv);
  pthread_mutex_unlock(&p->mu);
}

int pb_pool_pids(pb_pool *p, int *pids, int max) {
  int n = 0;
  pthread_mutex_lock(&p->mu);
  for (entry *e = p->entries; e && n < max; e = e->next)
    if (e->b) pids[n++] = (int)pb_browser_pid(e->b);
  for (int i = 0; i < p->nspares && n < max; i++) pids[n++] = (int)pb_browser_pid(p->spare[i]);
  pthread_mutex_unlock(&p->mu);
  return n;
}

void pb_pool_get_stats(pb_pool *p, pb_pool_stats *st) {
  memset(st, 0, sizeof(*st));
  pthread_mutex_lock(&p->mu);
  for (entry *e = p->entries; e; e = e->next) {
    if (e->state == E_LIVE && pb_cdp_alive(pb_browser_cdp(e->b))) st->browsers_alive++;
    st->pages_ready += e->nready;
    st->pages_leased += e->leased;
  }
  st->browsers_configured = p->o.browsers;
  st->browsers_launched = p->launched;
  st->browsers_crashed = p->crashed;
  for (int i = 0; i < PB_POOL_NCAUSES; i++) st->restarts[i] = p->restarts[i];
  st->spares = p->nspares;
  pthread_mutex_unlock(&p->mu);
}

/* Resident KiB of every process whose group is one of pgids[0..n), in one
 * pass over /proc. */
static void group_rss_kb(const int *pgids, long *rss, int n) {
  for (int i = 0; i < n; i++) rss[i] = 0;
  DIR *d = opendir("/proc");
  if (!d) return;
  long page_kb = sysconf(_SC_PAGESIZE) / 1024;
  struct dirent *de;
  while ((de = readdir(d))) {
    long long pid;
    if (pb_parse_int(de->d_name, 1, INT_MAX, &pid)) continue;
    pid_t g = getpgid((pid_t)pid);
    int i;
    for (i = 0; i < n && pgids[i] != (int)g; i++) {
    }
    if (i == n) continue;
    char path[64], buf[256];
    snprintf(path, sizeof(path), "/proc/%lld/statm", pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    long size = 0, res = 0;
    if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld %ld", &size, &res) == 2)
      rss[i] += res * page_kb;
    fclose(f);
  }
  closedir(d);
}

int pb_pool_browsers(pb_pool *p, pb_pool_browser *out, int max) {
  int n = 0, idx = 0;
  pthread_mutex_lock(&p->mu);
  for (entry *e = p->entries; e && n < max; e = e->next, idx++)
    if (e->b && e->state != E_LAUNCHING) {
      out[n].index = idx;
      out[n].pid = (int)pb_browser_pid(e->b);
      out[n].spare = 0;
      out[n].jobs = e->jobs;
      n++;
    }
  for (int i = 0; i < p->nspares && n < max; i++) {
    out[n].index = idx++;
    out[n].pid = (int)pb_browser_pid(p->spare[i]);
    out[n].spare = 1;
    out[n].jobs = 0;
    n++;
  }
  pthread_mutex_unlock(&p->mu);
  /* Reading /proc is slow: outside the lock. A browser that went away in
   * between reads as 0. */
  int pg[64];
  long rss[64];
  if (n > 64) n = 64;
  for (int i = 0; i < n; i++) pg[i] = out[i].pid;
  group_rss_kb(pg, rss, n);
  for (int i = 0; i < n; i++) out[i].rss_kb = rss[i];
  return n;
}

void pb_pool_stop(pb_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  p->stopping = 1;
  pthread_cond_broadcast(&p->cv);
  pthread_cond_signal(&p->mgr_cv);
  pthread_mutex_unlock(&p->mu);
  pthread_join(p->manager, NULL);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->mgr_cv);
  pthread_mutex_destroy(&p->mu);
  free(p);
}
