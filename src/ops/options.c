/* Defaults, names and deadlines of the typed request options. Pure. */
#include "ops/options.h"

#include "ops/testscript.h"
#include "sessions/pool.h"

#include <string.h>
#include <strings.h>

static const char *const resource_types[PB_RESOURCE_TYPES] = {
    "Document",  "Stylesheet",     "Image",       "Media",
    "Font",      "Script",         "TextTrack",   "XHR",
    "Fetch",     "Prefetch",       "EventSource", "WebSocket",
    "Manifest",  "SignedExchange", "Ping",        "CSPViolationReport",
    "Preflight", "Other",
};

int pb_resource_type_index(const char *name) {
  for (int i = 0; name && i < PB_RESOURCE_TYPES; i++)
    if (!strcasecmp(resource_types[i], name)) return i;
  return -1;
}

const char *pb_resource_type_name(int index) {
  return index >= 0 && index < PB_RESOURCE_TYPES ? resource_types[index] : NULL;
}

static const struct {
  const char *name, *lifecycle;
} waits[] = {
    [PB_WAIT_LOAD] = {"load", "load"},
    [PB_WAIT_DOMCONTENTLOADED] = {"domcontentloaded", "DOMContentLoaded"},
    [PB_WAIT_NETWORKIDLE0] = {"networkidle0", "networkIdle"},
    [PB_WAIT_NETWORKIDLE2] = {"networkidle2", "networkAlmostIdle"},
};

const char *pb_wait_until_name(pb_wait_until w) {
  return w >= PB_WAIT_LOAD && w <= PB_WAIT_NETWORKIDLE2 ? waits[w].name : "load";
}

const char *pb_wait_until_lifecycle(pb_wait_until w) {
  return w >= PB_WAIT_LOAD && w <= PB_WAIT_NETWORKIDLE2 ? waits[w].lifecycle : "load";
}

pb_wait_until pb_wait_until_parse(const char *name) {
  for (int i = 0; name && i <= PB_WAIT_NETWORKIDLE2; i++)
    if (!strcmp(waits[i].name, name)) return (pb_wait_until)i;
  return PB_WAIT_LOAD;
}

const char *pb_referrer_policy_cdp(const char *name) {
  static const char *const pol[][2] = {
      {"noReferrer", "no-referrer"},
      {"noReferrerWhenDowngrade", "no-referrer-when-downgrade"},
      {"origin", "origin"},
      {"originWhenCrossOrigin", "origin-when-cross-origin"},
      {"sameOrigin", "same-origin"},
      {"strictOrigin", "strict-origin"},
      {"strictOriginWhenCrossOrigin", "strict-origin-when-cross-origin"},
      {"unsafeUrl", "unsafe-url"},
  };
  for (size_t i = 0; name && i < sizeof(pol) / sizeof(pol[0]); i++)
    if (!strcmp(pol[i][0], name) || !strcasecmp(pol[i][1], name)) return pol[i][0];
  return NULL;
}

void pb_request_default(pb_request *o) {
  memset(o, 0, sizeof(*o));
  o->timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  pb_page_opts *p = &o->page;
  p->go.wait_until = PB_WAIT_LOAD;
  p->go.timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  p->wait_selector.timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  p->action_timeout_ms = -1;
  p->viewport.width = PB_VIEWPORT_DEFAULT_WIDTH;
  p->viewport.height = PB_VIEWPORT_DEFAULT_HEIGHT;
  p->wait_function.timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  p->wait_function.polling_raf = 1;
  p->wait_event.timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  p->viewport.dsf = 1;
  o->shot.type = "png";
  o->shot.quality = -1;
  o->shot.clip_scale = 1;
  o->pdf.timeout_ms = PB_JOB_TIMEOUT_DEFAULT_MS;
  pb_pdf_opts *pdf = &o->pdf;
  pdf->width_in = 8.5;
  pdf->height_in = 11;
  pdf->landscape = pdf->print_background = pdf->display_header_footer = -1;
  pdf->prefer_css_page_size = pdf->outline = pdf->tagged = -1;
  o->markdown.readable = 1;
  pb_md_opts_default(&o->markdown.md);
  /* What people expect from a Markdown API: ATX headings, fenced code. */
  o->markdown.md.heading_style = PB_MD_HEADING_ATX;
  o->markdown.md.code_block_style = PB_MD_CODE_FENCED;
  o->markdown.md.bullet_list_marker = '-';
  o->test.step_timeout_ms = PB_TEST_STEP_TIMEOUT_DEFAULT_MS;
  o->keep_alive_ms = -1;
}

int64_t pb_deadline_job(const pb_request *o, int64_t t0) {
  return t0 + (o->timeout_ms > 0 ? o->timeout_ms : PB_JOB_TIMEOUT_DEFAULT_MS);
}

int64_t pb_deadline_goto(const pb_page_opts *o, int64_t now, int64_t job_deadline) {
  int64_t d = now + (o->go.timeout_ms > 0 ? o->go.timeout_ms : PB_JOB_TIMEOUT_MAX_MS);
  int64_t limit =
      job_deadline - (o->best_attempt || o->dom_fallback ? PB_BEST_ATTEMPT_RESERVE_MS : 0);
  return d < limit ? d : limit;
}

int64_t pb_deadline_wait(int timeout_ms, int64_t now, int64_t job_deadline) {
  if (timeout_ms <= 0) return job_deadline;
  int64_t d = now + timeout_ms + PB_WAIT_SELECTOR_SLACK_MS;
  return d < job_deadline ? d : job_deadline;
}

int64_t pb_deadline_wait_selector(const pb_page_opts *o, int64_t now, int64_t job_deadline) {
  int64_t d = now + o->wait_selector.timeout_ms + PB_WAIT_SELECTOR_SLACK_MS;
  return d < job_deadline ? d : job_deadline;
}

int64_t pb_deadline_action(const pb_page_opts *o, int64_t now, int64_t job_deadline) {
  if (o->action_timeout_ms < 0) return job_deadline;
  int64_t d = now + o->action_timeout_ms;
  return d < job_deadline ? d : job_deadline;
}
