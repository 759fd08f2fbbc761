#ifndef PB_OPS_H
#define PB_OPS_H
/* Quick actions. Each runs on a job thread, reads top to bottom like the
 * Puppeteer script a user would write, and leaves its answer in a
 * pb_op_result; navigation, waiting and timeouts live in nav.h. */
#include "common/errcode.h"
#include "common/url.h"
#include "egress/policy.h"
#include "ops/options.h"
#include "sessions/pool.h"
#include "sessions/session.h"
#include "trace/store.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdint.h>

/* Tallest full-page screenshot, in CSS px, and the largest image area in
 * device pixels: above either the answer is 400 PAGE_TOO_LARGE. */
#define PB_FULLPAGE_MAX_HEIGHT 50000
#define PB_SCREENSHOT_MAX_PIXELS (1280LL * 50000 * 2)

typedef struct {
  int status;               /* HTTP status to answer: 200 from ops on
                             * success; for an error the HTTP layer sets it
                             * from err (http/errors.c) */
  pb_code err;              /* the error, PB_CODE_NONE on success */
  char message[512];
  char *body;               /* malloc'd, owned by the result */
  size_t body_len;
  const char *content_type; /* static string */
  int64_t browser_ms;       /* time a browser page was held */
  char trace_id[48];        /* set when a trace was recorded */
  char content_disposition[400]; /* a Content-Disposition header; "": none */
  int retry_after_s;        /* a refusal's Retry-After; 0: none */
} pb_op_result;

/* What every operation may use; owned by the daemon, shared by jobs. */
typedef struct {
  pb_pool *pool;
  const pb_egress *egress;
  pb_sessions *sessions;
  pb_trace_store *traces;   /* where trace zips are kept; may be NULL */
  struct pb_dl_store *downloads; /* ended sessions' downloads; may be NULL */
  struct pb_rec_store *recordings; /* sessions' recordings; may be NULL */
  const char *egress_mode;  /* "netns+proxy" or "proxy", for /healthz */
  const char *isolation_mode; /* "mountns+uid" or "none", for /healthz */
  const char *memory_mode;  /* "cgroup-v1", "cgroup-v2", "rss-watchdog" or "off" */
  int memory_limit_mb;      /* per browser; 0: none */
  /* The egress proxy's counters for /metrics: allowed, refused, failed and
   * capped (over a browser's connection cap), and connections open now.
   * NULL: none. Callable from any thread. */
  void (*egress_counts)(void *data, uint64_t counts[4], int *conns);
  void *egress_counts_data;
  /* Why the egress proxy refused or failed host:port for the browser whose
   * net id is given (-1: any) since since_ms: a pb_egress_why, its words in
   * text. NULL: never known. Callable from any thread. */
  int (*egress_why)(void *data, int net_id, const char *host, int port, int64_t since_ms,
                    char *text, size_t cap);
  void *egress_why_data;
  int pdf_max_pages;        /* 0: PB_PDF_MAX_PAGES_DEFAULT */
  pb_contexts *contexts;    /* persistent contexts; NULL: none */
  pb_store *store;          /* the store, for reads of the account's rows */
  struct pb_crawler *crawler; /* crawls (ops/crawl.h); NULL: none */
} pb_ops_env;

/* A PDF with more pages is not sent: 413 PDF_TOO_LARGE. */
#define PB_PDF_MAX_PAGES_DEFAULT 2000

/* One job: its environment, request and deadline. */
typedef struct {
  const pb_ops_env *env;
  pb_request opts;          /* the request, typed (ops/options.h); borrows
                             * from the validated body, which outlives the job */
  int64_t deadline_ms;      /* whole-job deadline, pb_now_ms() clock:
                             * pb_deadline_job(), the one owner of "timeout" */
  atomic_int *canceled;     /* set when the client went away; may be NULL */
  int64_t account_id;
  pb_limits limits;         /* the account's */
  pb_session *session;      /* run in this acquired session's browser; may be NULL */
  char ws_base[300];        /* "ws://host" the client reached us at */
  int format_junit;         /* ?format=junit: answer JUnit XML (POST /browser/test) */
  int format_zip;           /* ?format=zip: a recording as a zip */
  void *deferred;           /* work left for after the answer (a trace to finish) */
  char query[512];          /* the URL's query ("a=1&b=2", decoded); "" when none */
} pb_job;

/* Runs what a job left for after its answer was handed over: finishing and
 * storing a trace, whose id the answer already carries. Then the page goes
 * back. No-op when there is none. */
void pb_job_finish_deferred(pb_job *job);

/* GET /browser/traces/{id} (opts.id): the zip, waiting for one still
 * being written. */
int pb_op_trace(pb_job *job, pb_op_result *res);

/* ---- results (result.c) ----------------------------------------------- */

/* Fills res as an error: code (PB_CODE_NONE counts as INTERNAL_ERROR) and
 * the message; any body is freed. Always returns -1 so callers can
 * `return pb_op_fail(...)`. */
int pb_op_fail(pb_op_result *res, pb_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps a PB_E* from CDP work to an error code (TIMEOUT, BROWSER_CRASHED,
 * PAGE_CRASHED, CLIENT_CLOSED, SHUTTING_DOWN, else INTERNAL_ERROR), the
 * message prefixed with what. Returns -1. */
int pb_op_fail_rc(pb_op_result *res, int rc, const char *what);
/* Frees res's body. NULL is a no-op. */
void pb_op_result_free(pb_op_result *res);
/* Makes res a JSON success answer {"success":true,"result":result}; takes
 * result (NULL answers null). 0, or -1 with res failed when out of memory. */
int pb_op_json(pb_op_result *res, cJSON *result);
/* Makes res the JSON answer envelope itself (for answers that carry more
 * than "result"); takes envelope. 0, or -1 when out of memory. */
int pb_op_json_object(pb_op_result *res, cJSON *envelope);
/* Makes res a 200 answer of len bytes; takes body (malloc'd). content_type
 * is a static string; NULL keeps the one already set. Returns 0. */
int pb_op_bytes(pb_op_result *res, char *body, size_t len, const char *content_type);

typedef int (*pb_op_fn)(pb_job *job, pb_op_result *res);

/* The quick actions, one file each. */
int pb_op_screenshot(pb_job *job, pb_op_result *res);
int pb_op_pdf(pb_job *job, pb_op_result *res);
int pb_op_content(pb_job *job, pb_op_result *res);
int pb_op_scrape(pb_job *job, pb_op_result *res);
int pb_op_links(pb_job *job, pb_op_result *res);
int pb_op_snapshot(pb_job *job, pb_op_result *res);
int pb_op_acquire(pb_job *job, pb_op_result *res);
int pb_op_release(pb_job *job, pb_op_result *res);
int pb_op_markdown(pb_job *job, pb_op_result *res);
int pb_op_test(pb_job *job, pb_op_result *res); /* testrun.c */
/* GET /browser/sessions/{id}/downloads[/{did}] (opts.id: "ID/downloads[/DID]"),
 * live or kept (downloads.c). */
int pb_op_downloads(pb_job *job, pb_op_result *res);
/* GET /browser/sessions/{id}/recording[/index|/frames/{n}] (opts.id:
 * "ID/recording..."): the replay page, its index, one frame, or with
 * ?format=zip the whole recording (recording.c). */
int pb_op_recording(pb_job *job, pb_op_result *res);
int pb_op_download(pb_job *job, pb_op_result *res);
/* /browser/contexts (contexts.c): create (opts.name), list, get and delete
 * (opts.id). */
int pb_op_context_create(pb_job *job, pb_op_result *res);
int pb_op_contexts_list(pb_job *job, pb_op_result *res);
int pb_op_context_get(pb_job *job, pb_op_result *res);
int pb_op_context_delete(pb_job *job, pb_op_result *res);
/* POST /browser/sessions/{id}/live (opts.session_id, live_mode,
 * live_ttl_ms): a live view link {id, url, mode, expiresAt} (live.c). */
/* 0 when the job's session (opts.session_id) is the account's live session
 * and has a live view; else res is failed (SESSION_NOT_FOUND,
 * SERVICE_UNAVAILABLE) and -1 returned (live.c). */
int pb_op_live_session_check(pb_job *job, pb_op_result *res);
int pb_op_live_create(pb_job *job, pb_op_result *res);
/* Mints a live view link to the account's session_id for ttl_ms (0: 1 h)
 * and makes its JSON {id, url, mode, expiresAt} (*out, caller frees).
 * PB_EBUSY: too many links. */
int pb_op_live_link(pb_job *job, const char *session_id, int interactive, int64_t ttl_ms,
                    cJSON **out);
/* POST /browser/sessions/{id}/handoff (opts.session_id, handoff_message,
 * handoff_timeout_ms): hands the session to a person through an
 * interactive live view link, {handoffId, url, expiresAt, ...} (handoff.c).
 * 409 HANDOFF_PENDING while one waits. */
int pb_op_handoff_start(pb_job *job, pb_op_result *res);
/* Before an acquire on context id: 0 when it is the account's and, with
 * persist, its contexts are within contextStorageMiB; else res is failed
 * (CONTEXT_NOT_FOUND, CONTEXT_QUOTA_EXCEEDED) and -1 returned. */
int pb_op_context_check(pb_job *job, const char *id, int persist, pb_op_result *res);

/* 0 when the request's viewport (width x height x deviceScaleFactor^2 device
 * pixels) fits PB_SCREENSHOT_MAX_PIXELS; else fails res with 400
 * PAGE_TOO_LARGE. Pure: called before any CDP call, since even a plain
 * screenshot renders the whole viewport. */
int pb_op_viewport_check(const pb_viewport_opts *vp, pb_op_result *res);

#endif
