#ifndef PB_OPS_OPTIONS_H
#define PB_OPS_OPTIONS_H
/* A quick action's request as typed options. The HTTP layer reads a body
 * that passed its schema into a pb_request once (http/options.h,
 * pb_request_from_json); operations read these fields and never the body.
 * Option names and defaults are Puppeteer's, as in schemas/; each field
 * says which member it comes from.
 *
 * Strings and the few objects that go to Chromium as they are (cookies,
 * extra headers) are borrowed from the body the pb_request was read from:
 * it must outlive the pb_request. Nothing here owns memory; a pb_request is
 * copied by assignment.
 *
 * What only an operation can judge (the egress policy of url, regexes, PDF
 * lengths, markdownOptions) is carried as given, or as a marked failure, so
 * the operation reports it as it always did.
 *
 * Every deadline is computed here, from these options and the job's own
 * deadline: the job owns `timeout`, navigation and waits get budgets capped
 * by it (pb_deadline_*). */
#include "ops/cfopts.h"
#include "render/html2md.h"

#include <cjson/cJSON.h>
#include <stdint.h>

#define PB_JOB_TIMEOUT_DEFAULT_MS 30000
#define PB_JOB_TIMEOUT_MAX_MS 120000
/* Time a best attempt keeps back from the job's deadline for the work after
 * a wait that ran out. */
#define PB_BEST_ATTEMPT_RESERVE_MS 2000
/* A waitForSelector's evaluation may answer this long after its own timeout
 * (the poll itself gives up at the timeout). */
#define PB_WAIT_SELECTOR_SLACK_MS 1000

#define PB_MAX_PATTERNS 64 /* rejectRequestPattern, allowRequestPattern */
#define PB_MAX_TAGS 32     /* addScriptTag, addStyleTag */
#define PB_MAX_SCRAPE_ELEMENTS 100

/* gotoOptions.waitUntil. */
typedef enum {
  PB_WAIT_LOAD = 0,
  PB_WAIT_DOMCONTENTLOADED,
  PB_WAIT_NETWORKIDLE0,
  PB_WAIT_NETWORKIDLE2
} pb_wait_until;

/* Puppeteer's name of w ("load", "networkidle0"...). */
const char *pb_wait_until_name(pb_wait_until w);
/* Chromium's Page.lifecycleEvent name for w ("load", "networkIdle"...). */
const char *pb_wait_until_lifecycle(pb_wait_until w);
/* Parses Puppeteer's name; anything else (NULL too) is PB_WAIT_LOAD. */
pb_wait_until pb_wait_until_parse(const char *name);

/* gotoOptions. */
typedef struct {
  pb_wait_until wait_until;    /* waitUntil, load (an array's first) */
  unsigned wait_all;           /* waitUntil as an array: bits 1 << pb_wait_until, all awaited;
                                  0: wait_until alone */
  int timeout_ms;              /* timeout, 30000; 0: only the job's deadline */
  const char *referer;         /* referer, NULL */
  const char *referrer_policy; /* referrerPolicy in CDP's spelling (noReferrer...), NULL */
} pb_goto_opts;

/* waitForFunction (Puppeteer's page.waitForFunction). */
typedef struct {
  const char *fn;       /* fn: a function or an expression, JavaScript; NULL: no wait */
  int polling_ms;       /* polling as a number of ms; 0 with polling_raf/mutation */
  int polling_raf;      /* polling "raf" (the default) */
  int polling_mutation; /* polling "mutation" */
  int timeout_ms;       /* timeout, 30000; 0: only the job's deadline */
} pb_wait_function_opts;

/* waitForEvent: a DOM event fired on the window, the document or a node. */
typedef struct {
  const char *event; /* event; NULL: no wait */
  int timeout_ms;    /* timeout, 30000; 0: only the job's deadline */
} pb_wait_event_opts;

/* CDP's spelling of a referrerPolicy given in CDP's or the Referrer-Policy
 * header's spelling ("no-referrer"); NULL when it is neither. */
const char *pb_referrer_policy_cdp(const char *name);

/* waitForSelector. */
typedef struct {
  const char *selector; /* selector; NULL: no wait */
  int timeout_ms;       /* timeout, 30000 */
  int visible, hidden;  /* visible, hidden: false */
} pb_wait_selector_opts;

/* viewport. */
typedef struct {
  int width, height; /* PB_VIEWPORT_DEFAULT_WIDTH x _HEIGHT (1920 x 1080) */
  double dsf;        /* deviceScaleFactor, 1 */
  int is_mobile;     /* isMobile, false */
  int has_touch;     /* hasTouch, false */
  int is_landscape;  /* isLandscape, false: the screen's orientation */
} pb_viewport_opts;

/* addScriptTag / addStyleTag entries. */
typedef struct {
  const char *url;     /* NULL when content is given */
  const char *content; /* NULL when url is given */
  const char *type;    /* addScriptTag's type ("module"...), NULL */
  const char *id;      /* addScriptTag's id, NULL */
} pb_tag_opts;

/* What is done to the page before and after it loads. */
typedef struct {
  const char *url;      /* url; NULL when html is given */
  const char *html;     /* html */
  const char *base_url; /* baseUrl: the document URL of an html page */
  pb_goto_opts go;
  pb_wait_selector_opts wait_selector;
  pb_wait_function_opts wait_function;
  pb_wait_event_opts wait_event;
  int wait_for_timeout_ms; /* waitForTimeout, 0 */
  int best_attempt;        /* bestAttempt: a wait that runs out is not an error */
  int dom_fallback;        /* set by an op, not the client: a waitUntil that runs out
                              after DOMContentLoaded is not an error (see
                              pb_nav_dom_only); /browser/markdown sets it */
  int scroll_page;         /* scrollPage: scroll through it before the action (ops/scroll.h) */
  int action_timeout_ms;   /* actionTimeout after the load; -1: none */
  int trace;               /* trace: record a Playwright trace */

  pb_viewport_opts viewport;
  const char *user_agent;     /* userAgent */
  const cJSON *extra_headers; /* setExtraHTTPHeaders: {name: value}, to CDP as is */
  const cJSON *cookies;       /* cookies: CDP CookieParam list, to CDP as is */
  const char *media;          /* emulateMediaType */
  int javascript_disabled;    /* setJavaScriptEnabled: false */
  const char *auth_user;      /* authenticate.username */
  const char *auth_pass;      /* authenticate.password */
  unsigned reject_types;      /* rejectResourceTypes, bits of pb_resource_type_index */
  unsigned allow_types;       /* allowResourceTypes; 0: all */
  const char *reject_patterns[PB_MAX_PATTERNS]; /* rejectRequestPattern, regexes */
  int nreject_patterns;
  const char *allow_patterns[PB_MAX_PATTERNS]; /* allowRequestPattern */
  int nallow_patterns;
  pb_tag_opts script_tags[PB_MAX_TAGS]; /* addScriptTag, in order */
  int nscript_tags;
  pb_tag_opts style_tags[PB_MAX_TAGS]; /* addStyleTag, in order */
  int nstyle_tags;
} pb_page_opts;

/* screenshotOptions (or Browserless's "options") and the element selector. */
typedef struct {
  const char *type;       /* type: "png", "jpeg" or "webp" */
  int quality;            /* quality; -1: Chromium's default */
  int optimize_for_speed; /* optimizeForSpeed */
  int full_page;          /* fullPage */
  int omit_background;    /* omitBackground */
  int has_clip;           /* clip given */
  double clip_x, clip_y, clip_w, clip_h;
  const char *selector; /* the request's selector: capture that element */
  int cut_at_max;       /* fullPage: a page taller than PB_FULLPAGE_MAX_HEIGHT is cut there
                           instead of refused (after scrollPage) */
  int base64;           /* encoding "base64": the answer is the image as base64 text */
  /* fromSurface, captureBeyondViewport: 1 true, -1 false, 0 not given
   * (Chromium's default; beyond the viewport as the area needs), so that a
   * zeroed struct asks for nothing. */
  int from_surface;
  int beyond_viewport;
  double clip_scale; /* clip.scale; 0 or 1: 1 */
} pb_screenshot_opts;

/* Puppeteer's pdfOptions (or "options"). A length that is not a number or
 * a "<n>px|in|cm|mm" string is NAN, for the operation to refuse. */
typedef struct {
  double width_in, height_in; /* format (Letter) or width/height, inches */
  double margin_in[4];        /* margin top, right, bottom, left; 0 */
  /* landscape, printBackground, displayHeaderFooter, preferCSSPageSize,
   * outline, tagged: -1 when not given. */
  int landscape, print_background, display_header_footer, prefer_css_page_size, outline, tagged;
  const char *page_ranges;     /* pageRanges; NULL or "" when not given */
  const char *header_template; /* headerTemplate */
  const char *footer_template; /* footerTemplate */
  int has_scale;
  double scale;        /* scale */
  int timeout_ms;      /* timeout (page.pdf's): printing ends with 408 at it; 0: none */
  int omit_background; /* omitBackground: no white page background */
} pb_pdf_opts;

/* POST /browser/markdown. */
typedef struct {
  int readable;    /* mode: "readable" (default) or "full" */
  int frontmatter; /* frontmatter */
  pb_md_opts md;   /* markdownOptions over the service's defaults */
  int md_invalid;  /* markdownOptions could not be read: md_error says why */
  char md_error[512];
} pb_markdown_opts;

/* POST /browser/test. The steps stay JSON: each is checked and run by
 * ops/testscript.c and the runner. */
typedef struct {
  const cJSON *script; /* the whole body, for pb_testscript_check */
  const cJSON *steps;  /* steps */
  int step_timeout_ms; /* stepTimeout, PB_TEST_STEP_TIMEOUT_DEFAULT_MS */
} pb_test_opts;

/* One request, every operation's options. A member an operation does not
 * take keeps its default. */
typedef struct {
  int timeout_ms; /* timeout: the job's deadline after it started, 30000 */
  pb_page_opts page;
  pb_screenshot_opts shot;
  pb_pdf_opts pdf;
  const char *scrape_selectors[PB_MAX_SCRAPE_ELEMENTS]; /* elements[].selector */
  int scrape_timeouts[PB_MAX_SCRAPE_ELEMENTS]; /* elements[].timeout: wait for a match; 0: none */
  int nscrape_selectors;
  int links_visible_only;     /* visibleLinksOnly */
  int links_exclude_external; /* excludeExternalLinks */
  pb_markdown_opts markdown;
  pb_test_opts test;
  int64_t keep_alive_ms;  /* acquire: keep_alive; -1: PB_KEEP_ALIVE_DEFAULT_MS */
  const char *session_id; /* DELETE /browser/sessions/{id}: sessionId */
  const char *id;         /* GET /browser/traces/{id}: id */
  const char *name;       /* POST /browser/contexts: name; NULL: none */
  const char *context_id; /* acquire: context.id; NULL: none */
  int context_persist;    /* acquire: context.persist */
  /* Live view links: acquire's live (a link in the answer); POST
   * /browser/sessions/{id}/live: mode (NULL: interactive) and ttl (0:
   * the default, 1 h). */
  int live;
  const char *live_mode;
  int64_t live_ttl_ms;
  /* acquire: record (keep the session's frames) and recordMaxMiB (this
   * recording's cap; 0: PB_RECORDING_CAP_BYTES). */
  int record;
  int record_max_mib;
  /* POST /browser/sessions/{id}/handoff: message (NULL: none) and timeout
   * (0: the default, 10 min). */
  const char *handoff_message;
  int64_t handoff_timeout_ms;
  /* The whole validated body, for operations that keep it as it is (POST
   * /browser/crawl stores it, to resume after a restart). */
  const cJSON *body;
  /* Scrape: what else to capture after the elements, PB_SCRAPE_DEBUG_*
   * bits. Set by a peer's request mapping (http/compat.c: Browserless'
   * debugOpts), never read from a body. */
  unsigned scrape_debug;
  pb_cf_opts cf; /* accessibilityTree, json, snapshot formats (http/cfopts.c) */
} pb_request;

#define PB_SCRAPE_DEBUG_HTML 1u       /* the page's HTML */
#define PB_SCRAPE_DEBUG_COOKIES 2u    /* the page's cookies, as CDP gives them */
#define PB_SCRAPE_DEBUG_SCREENSHOT 4u /* a full-page JPEG, base64 */

/* Fills o with every default (no url, no html). Cannot fail. */
void pb_request_default(pb_request *o);

/* Resource types as Chromium names them ("Document", "Image"...): the
 * index of name (case-insensitive) or -1; the name of an index or NULL. */
int pb_resource_type_index(const char *name);
const char *pb_resource_type_name(int index);
#define PB_RESOURCE_TYPES 18

/* ---- deadlines: each computed here and nowhere else ------------------- */

/* The job's deadline: t0 (when the request arrived, pb_now_ms clock) plus
 * timeout. */
int64_t pb_deadline_job(const pb_request *o, int64_t t0);

/* Navigation's: gotoOptions.timeout from now (0: PB_JOB_TIMEOUT_MAX_MS),
 * capped by the job's deadline, less PB_BEST_ATTEMPT_RESERVE_MS for a best
 * attempt or a dom_fallback. */
int64_t pb_deadline_goto(const pb_page_opts *o, int64_t now, int64_t job_deadline);

/* waitForFunction's and waitForEvent's: timeout_ms (0: none) plus
 * PB_WAIT_SELECTOR_SLACK_MS from now, capped by the job's deadline. */
int64_t pb_deadline_wait(int timeout_ms, int64_t now, int64_t job_deadline);

/* waitForSelector's: its timeout plus PB_WAIT_SELECTOR_SLACK_MS from now,
 * capped by the job's deadline. */
int64_t pb_deadline_wait_selector(const pb_page_opts *o, int64_t now, int64_t job_deadline);

/* The deadline of the work after the load: actionTimeout from now when
 * given, capped by the job's deadline. */
int64_t pb_deadline_action(const pb_page_opts *o, int64_t now, int64_t job_deadline);

#endif
