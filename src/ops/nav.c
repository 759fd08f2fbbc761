#include "ops/nav.h"
#include "ops/scroll.h"

#include "common/json.h"
#include "common/pattern.h"
#include "common/pb.h"
#include "trace/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* The document URL a page built from an `html` body gets when no baseUrl is
 * given: https for a secure context, .invalid so nothing relative to it can
 * leave the machine. */
#define HTML_DEFAULT_URL "https://ppod.invalid/"

/* New documents a page may load in its main frame while a quick action waits
 * for it (script and meta-refresh redirects; HTTP redirects are one
 * navigation, capped by Chromium at 20). Past it: 422 TOO_MANY_REDIRECTS. */
#define MAX_DOCUMENT_REDIRECTS 20

struct pb_nav {
  pb_job *job;
  pb_page *page;
  int64_t leased_at;
  int64_t action_deadline;
  /* Read by the reader-thread hook while the page is leased. */
  char *html_b64;
  int doc_served;
  unsigned reject_mask; /* resource types blocked */
  unsigned allow_mask;  /* when not 0: only these types pass */
  pb_pattern *reject_re[PB_MAX_PATTERNS],
      *allow_re[PB_MAX_PATTERNS]; /* tenant regexes, bounded */
  int nreject_re, nallow_re;
  const char *auth_user, *auth_pass; /* borrowed from the request's options */
  int auth_tries;
  pb_trace *trace; /* when the request asked for "trace": true */
  int recording;
  char trace_id[48]; /* chosen when the answer leaves, stored after */
  int committed;     /* Page.navigate was answered */
  /* dom_fallback: waitUntil ran out after DOMContentLoaded; how long the
   * wait was (ms), for the answer's note */
  long long dom_only_ms;
};


static void trace_rec(int dir, const char *json, size_t len, void *data) {
  pb_trace_cdp(data, dir, pb_wall_ms(), json, len);
}

int pb_nav_action_begin(pb_nav *n, const char *api, const cJSON *params) {
  return n->trace ? pb_trace_action_begin(n->trace, api, params, pb_wall_ms())
                  : 0;
}

void pb_nav_action_end(pb_nav *n, int id, const char *error) {
  if (n->trace && id)
    pb_trace_action_end(n->trace, id, pb_wall_ms(), error);
}

/* Turns on what a trace shows: network, console, a filmstrip and Chrome's
 * own timeline. */
static void trace_start(pb_nav *n) {
  pb_page *pg = n->page;
  int64_t t0 = pb_now_ms();
  if (pb_cdp_record(pg->cdp, pg->session_id, trace_rec, n->trace))
    return;
  n->recording = 1;
  pb_trace_meta(n->trace, n->job->opts.page.url, pg->width,
                pg->height, NULL, NULL);
  /* All are answered before the page loads, so the trace holds all of it;
   * a session answers in order, so waiting for the last one is enough. */
  int64_t deadline = pb_now_ms() + 5000;
  pb_cdp_send(pg->cdp, pg->session_id, "Network.enable", NULL);
  pb_cdp_send(pg->cdp, pg->session_id, "Runtime.enable", NULL);
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "format", "jpeg");
  cJSON_AddNumberToObject(p, "quality", 40);
  cJSON_AddNumberToObject(p, "maxWidth", 640);
  cJSON_AddNumberToObject(p, "maxHeight", 480);
  pb_cdp_send(pg->cdp, pg->session_id, "Page.startScreencast", p);
  p = cJSON_CreateObject();
  /* The categories DevTools' Performance panel needs, with its filmstrip;
   * the CPU profiler is left out: it costs more than the rest together. */
  cJSON_AddStringToObject(
      p, "categories",
      "-*,devtools.timeline,disabled-by-default-devtools.timeline,"
      "disabled-by-default-devtools.screenshot,blink.user_timing,loading");
  cJSON_AddStringToObject(p, "transferMode", "ReportEvents");
  pb_cdp_call(pg->cdp, pg->session_id, "Tracing.start", p, deadline, NULL, NULL,
              0);
  PB_DEBUG("trace: started in %lld ms", (long long)(pb_now_ms() - t0));
}

/* Ends recording and keeps the zip; failures only lose the trace. */
static void trace_finish(pb_nav *n) {
  pb_page *pg = n->page;
  int64_t t0 = pb_now_ms();
  if (n->recording) {
    pb_cdp_send(pg->cdp, pg->session_id, "Page.stopScreencast", NULL);
    if (pb_cdp_call(pg->cdp, pg->session_id, "Tracing.end", NULL,
                    pb_now_ms() + 2000, NULL, NULL, 0) == 0) {
      /* The timeline arrives in dataCollected events up to tracingComplete. */
      int64_t until = pb_now_ms() + 3000;
      pb_cdp_event *ev;
      while (pb_cdp_next_event(pg->events, until, &ev) == 0) {
        int done = !strcmp(ev->method, "Tracing.tracingComplete");
        pb_cdp_event_free(ev);
        if (done)
          break;
      }
    }
    pb_cdp_unrecord(pg->cdp, trace_rec, n->trace);
    n->recording = 0;
  }
  int64_t t1 = pb_now_ms();
  char *zip = NULL;
  size_t len = 0;
  pb_trace_store *traces = n->job->env->traces;
  if (traces && n->trace_id[0] &&
      pb_trace_write_zip(n->trace, &zip, &len) == 0 &&
      pb_trace_store_put(traces, n->job->account_id, n->trace_id, zip, len))
    PB_WARN("trace %s could not be stored", n->trace_id);
  free(zip);
  if (n->trace_id[0])
    pb_trace_store_unmark(traces, n->job->account_id, n->trace_id);
  PB_DEBUG("trace: stopped in %lld ms, zip of %zu bytes written in %lld ms",
           (long long)(t1 - t0), len, (long long)(pb_now_ms() - t1));
}

long long pb_nav_dom_only(const pb_nav *n) {
  return n->dom_only_ms > 0 ? n->dom_only_ms : 0;
}

pb_page *pb_nav_page(pb_nav *n) { return n->page; }
pb_job *pb_nav_job(pb_nav *n) { return n->job; }
int64_t pb_nav_deadline(pb_nav *n) { return n->action_deadline; }

static int canceled(pb_nav *n) {
  return n->job->canceled && atomic_load(n->job->canceled);
}

int pb_nav_call(pb_nav *n, const char *method, cJSON *params, cJSON **result) {
  if (canceled(n)) {
    cJSON_Delete(params);
    return PB_ECANCELED;
  }
  return pb_cdp_call_cancelable(n->page->cdp, n->page->session_id, method,
                                params, n->action_deadline, n->job->canceled,
                                result, NULL, 0);
}

int pb_nav_clear_background(pb_nav *n) {
  cJSON *p = cJSON_CreateObject();
  cJSON *color = cJSON_AddObjectToObject(p, "color");
  cJSON_AddNumberToObject(color, "r", 0);
  cJSON_AddNumberToObject(color, "g", 0);
  cJSON_AddNumberToObject(color, "b", 0);
  cJSON_AddNumberToObject(color, "a", 0);
  return pb_nav_call(n, "Emulation.setDefaultBackgroundColorOverride", p, NULL);
}

int pb_nav_call_until(pb_nav *n, const char *method, cJSON *params,
                      int64_t deadline_ms, cJSON **result, char *err,
                      size_t errcap) {
  if (canceled(n)) {
    cJSON_Delete(params);
    return PB_ECANCELED;
  }
  return pb_cdp_call_cancelable(n->page->cdp, n->page->session_id, method,
                                params, deadline_ms, n->job->canceled, result,
                                err, errcap);
}

int pb_nav_eval(pb_nav *n, const char *expression, int64_t deadline_ms,
                cJSON **value, char *err, size_t errcap) {
  *value = NULL;
  char scratch[256];
  if (!err || !errcap) {
    err = scratch;
    errcap = sizeof(scratch);
  }
  err[0] = '\0';
  int64_t left = deadline_ms - pb_now_ms();
  if (left <= 0)
    return PB_ETIMEOUT;
  /* Chromium stops synchronous script itself after `timeout`; its answer is
   * awaited a little longer when the job has time for it. */
  int64_t answer_by = deadline_ms + PB_NAV_EVAL_GRACE_MS;
  if (answer_by > n->job->deadline_ms)
    answer_by = deadline_ms > n->job->deadline_ms ? deadline_ms
                                                  : n->job->deadline_ms;
  cJSON *p = cJSON_CreateObject(), *res = NULL;
  cJSON_AddStringToObject(p, "expression", expression);
  cJSON_AddBoolToObject(p, "returnByValue", 1);
  cJSON_AddBoolToObject(p, "awaitPromise", 1);
  cJSON_AddNumberToObject(p, "timeout", (double)left);
  int rc = pb_nav_call_until(n, "Runtime.evaluate", p, answer_by, &res, err,
                             errcap);
  /* Chromium answers a script it terminated with a bare error. */
  if (rc == PB_ECDP && pb_now_ms() >= deadline_ms - 100)
    rc = PB_ETIMEOUT;
  if (rc == PB_ETIMEOUT) {
    /* What awaits a promise is not stopped by `timeout`: stop it here. */
    pb_cdp_send(n->page->cdp, n->page->session_id,
                "Runtime.terminateExecution", NULL);
    return rc;
  }
  if (rc)
    return rc;
  const cJSON *exc = cJSON_GetObjectItemCaseSensitive(res, "exceptionDetails");
  if (exc) {
    const char *d = pb_json_str(
        cJSON_GetObjectItemCaseSensitive(exc, "exception"), "description");
    const char *text = pb_json_str(exc, "text");
    snprintf(err, errcap, "%s", d ? d : text ? text : "exception");
    cJSON_Delete(res);
    /* Terminated by the timeout above. */
    if (pb_now_ms() >= deadline_ms || strstr(err, "terminated"))
      return PB_ETIMEOUT;
    return PB_EINVAL;
  }
  cJSON *r = cJSON_GetObjectItemCaseSensitive(res, "result");
  cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
  if (v)
    *value = cJSON_DetachItemViaPointer(r, v);
  cJSON_Delete(res);
  return 0;
}

int pb_nav_apply(pb_nav *n, const char *function, const cJSON *args,
                 cJSON **value, char *err, size_t errcap) {
  char *a = cJSON_PrintUnformatted(args);
  if (!a)
    return PB_ENOMEM;
  pb_buf js;
  pb_buf_init(&js, (size_t)64 << 20);
  int rc = pb_buf_printf(&js, "(%s)(...%s)", function, a);
  free(a);
  int action = pb_nav_action_begin(n, "page.evaluate", NULL);
  if (!rc)
    rc = pb_nav_eval(n, js.data, n->action_deadline, value, err, errcap);
  pb_nav_action_end(n, action,
                    rc ? (rc == PB_EINVAL ? err : pb_strerror(rc)) : NULL);
  pb_buf_free(&js);
  return rc;
}

int pb_nav_content(pb_nav *n, cJSON **html, pb_op_result *res) {
  static const char serialize_js[] =
      "() => (document.doctype ? new "
      "XMLSerializer().serializeToString(document.doctype) : '') +"
      " (document.documentElement ? document.documentElement.outerHTML : '')";
  cJSON *args = cJSON_CreateArray();
  char err[512];
  int rc = pb_nav_apply(n, serialize_js, args, html, err, sizeof(err));
  cJSON_Delete(args);
  if (rc == PB_EINVAL)
    return pb_op_fail(res, PB_CODE_PAGE_ERROR, "serializing the page: %s", err);
  if (rc)
    return pb_op_fail_rc(res, rc, "serializing the page");
  return 0;
}

/* Runs on the reader thread: every match is bounded (common/pattern.h),
 * and one that gives up counts as no match. */
static int any_match(pb_pattern *const *re, int n, const char *url) {
  size_t len = strlen(url);
  for (int i = 0; i < n; i++)
    if (pb_pattern_match(re[i], url, len) == 1)
      return 1;
  return 0;
}

/* Reader-thread policy for the leased page: serve the `html` body as the
 * main document, answer HTTP auth, and fail blocked requests like a network
 * error (the page carries on). */
static int page_hook(pb_cdp *c, const char *sid, const char *method,
                     const cJSON *params, void *data) {
  pb_nav *n = data;
  /* While tracing, the recorder keeps these; nobody waits for them. */
  if (n->trace && (!strncmp(method, "Network.", 8) ||
                   !strcmp(method, "Tracing.dataCollected") ||
                   !strcmp(method, "Tracing.bufferUsage")))
    return 1;
  if (!strcmp(method, "Page.screencastFrame")) {
    /* Chromium sends the next frame only after this one is acknowledged. */
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(params, "sessionId");
    if (cJSON_IsNumber(fs)) {
      cJSON *p = cJSON_CreateObject();
      cJSON_AddNumberToObject(p, "sessionId", fs->valuedouble);
      pb_cdp_send(c, sid, "Page.screencastFrameAck", p);
    }
    return 1;
  }
  int paused = !strcmp(method, "Fetch.requestPaused");
  int auth = !paused && !strcmp(method, "Fetch.authRequired");
  if (!paused && !auth)
    return 0;
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
  if (!cJSON_IsString(rid))
    return 1;
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "requestId", rid->valuestring);
  if (auth) {
    /* Wrong credentials make Chromium ask again: give up after a few. */
    cJSON *r = cJSON_AddObjectToObject(p, "authChallengeResponse");
    if (n->auth_user && n->auth_tries++ < 3) {
      cJSON_AddStringToObject(r, "response", "ProvideCredentials");
      cJSON_AddStringToObject(r, "username", n->auth_user);
      cJSON_AddStringToObject(r, "password", n->auth_pass ? n->auth_pass : "");
    } else {
      cJSON_AddStringToObject(r, "response", "CancelAuth");
    }
    pb_cdp_send(c, sid, "Fetch.continueWithAuth", p);
    return 1;
  }
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(params, "resourceType");
  const cJSON *frame = cJSON_GetObjectItemCaseSensitive(params, "frameId");
  const cJSON *request = cJSON_GetObjectItemCaseSensitive(params, "request");
  const cJSON *url_j = cJSON_GetObjectItemCaseSensitive(request, "url");
  const char *url = cJSON_IsString(url_j) ? url_j->valuestring : "";
  const char *tname = cJSON_IsString(type) ? type->valuestring : "Other";
  int ti = pb_resource_type_index(tname);
  int main_doc = !strcmp(tname, "Document") && cJSON_IsString(frame) &&
                 !strcmp(frame->valuestring, n->page->target_id);
  int block = 0;
  if (main_doc && n->html_b64 && !n->doc_served) {
    n->doc_served = 1;
    cJSON_AddNumberToObject(p, "responseCode", 200);
    cJSON *hdrs = cJSON_AddArrayToObject(p, "responseHeaders");
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "name", "Content-Type");
    cJSON_AddStringToObject(h, "value", "text/html; charset=utf-8");
    cJSON_AddItemToArray(hdrs, h);
    cJSON_AddStringToObject(p, "body", n->html_b64);
    pb_cdp_send(c, sid, "Fetch.fulfillRequest", p);
    return 1;
  }
  if (!main_doc) {
    unsigned bit = ti >= 0 ? 1u << ti : 0;
    block = (n->reject_mask & bit) ||
            (n->allow_mask && !(n->allow_mask & bit)) ||
            any_match(n->reject_re, n->nreject_re, url) ||
            (n->nallow_re && !any_match(n->allow_re, n->nallow_re, url));
  }
  if (block) {
    cJSON_AddStringToObject(p, "errorReason", "BlockedByClient");
    pb_cdp_send(c, sid, "Fetch.failRequest", p);
  } else {
    pb_cdp_send(c, sid, "Fetch.continueRequest", p);
  }
  return 1;
}

/* Applies viewport, user agent, headers, cookies and request interception. */
static int apply_options(pb_nav *n, const char *doc_url, pb_op_result *res) {
  const pb_page_opts *o = &n->job->opts.page;
  pb_page *pg = n->page;
  int rc;
  int w = o->viewport.width, h = o->viewport.height;
  double dsf = o->viewport.dsf;
  /* Every operation renders the viewport: none gets one past the cap. */
  if (pb_op_viewport_check(&o->viewport, res))
    return -1;
  if (w != pg->width || h != pg->height || dsf != pg->dsf || o->viewport.is_mobile ||
      o->viewport.is_landscape) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddNumberToObject(p, "width", w);
    cJSON_AddNumberToObject(p, "height", h);
    cJSON_AddNumberToObject(p, "deviceScaleFactor", dsf);
    cJSON_AddBoolToObject(p, "mobile", o->viewport.is_mobile);
    /* As Puppeteer's setViewport: isLandscape turns the screen. */
    cJSON *so = cJSON_AddObjectToObject(p, "screenOrientation");
    cJSON_AddStringToObject(so, "type",
                            o->viewport.is_landscape ? "landscapePrimary" : "portraitPrimary");
    cJSON_AddNumberToObject(so, "angle", o->viewport.is_landscape ? 90 : 0);
    if ((rc = pb_nav_call(n, "Emulation.setDeviceMetricsOverride", p, NULL)))
      return pb_op_fail_rc(res, rc, "setting the viewport");
    pg->width = w;
    pg->height = h;
    pg->dsf = dsf;
  }
  if (o->viewport.has_touch) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "enabled", 1);
    if ((rc = pb_nav_call(n, "Emulation.setTouchEmulationEnabled", p, NULL)))
      return pb_op_fail_rc(res, rc, "emulating touch");
  }
  /* waitForEvent listens from the document's start, so an event fired
   * before the page loaded counts (ops/waits.c). */
  if (o->wait_event.event && (rc = pb_nav_event_listen(n, o->wait_event.event, res)))
    return -1;
  const char *ua = o->user_agent;
  if (ua) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "userAgent", ua);
    if ((rc = pb_nav_call(n, "Emulation.setUserAgentOverride", p, NULL)))
      return pb_op_fail_rc(res, rc, "setting the user agent");
  }
  const cJSON *hdrs = o->extra_headers, *cookies = o->cookies;
  if (hdrs || cookies) {
    if ((rc = pb_nav_call(n, "Network.enable", NULL, NULL)))
      return pb_op_fail_rc(res, rc, "enabling the network domain");
  }
  if (hdrs) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "headers", cJSON_Duplicate(hdrs, 1));
    if ((rc = pb_nav_call(n, "Network.setExtraHTTPHeaders", p, NULL)))
      return pb_op_fail_rc(res, rc, "setting extra headers");
  }
  if (cJSON_GetArraySize(cookies) > 0) {
    cJSON *list = cJSON_Duplicate(cookies, 1);
    cJSON *ck;
    cJSON_ArrayForEach(ck, list) {
      /* As Puppeteer's page.setCookie: a cookie with neither url nor domain
       * belongs to the page being loaded. */
      if (!cJSON_GetObjectItemCaseSensitive(ck, "url") &&
          !cJSON_GetObjectItemCaseSensitive(ck, "domain"))
        cJSON_AddStringToObject(ck, "url", doc_url);
      /* Puppeteer's fields into CDP's CookieParam: sameParty is gone from
       * Chromium; partitionKey is a site string (Cloudflare) or
       * {sourceOrigin, hasCrossSiteAncestor} (Puppeteer) there, and
       * {topLevelSite, hasCrossSiteAncestor} here. */
      cJSON_DeleteItemFromObjectCaseSensitive(ck, "sameParty");
      cJSON *pk = cJSON_GetObjectItemCaseSensitive(ck, "partitionKey");
      if (cJSON_IsString(pk)) {
        cJSON *k = cJSON_CreateObject();
        cJSON_AddStringToObject(k, "topLevelSite", pk->valuestring);
        cJSON_AddBoolToObject(k, "hasCrossSiteAncestor", 0);
        cJSON_ReplaceItemInObjectCaseSensitive(ck, "partitionKey", k);
      } else if (cJSON_IsObject(pk)) {
        cJSON *so = cJSON_DetachItemFromObjectCaseSensitive(pk, "sourceOrigin");
        if (so && !cJSON_GetObjectItemCaseSensitive(pk, "topLevelSite"))
          cJSON_AddItemToObject(pk, "topLevelSite", so);
        else
          cJSON_Delete(so);
        if (!cJSON_GetObjectItemCaseSensitive(pk, "hasCrossSiteAncestor"))
          cJSON_AddBoolToObject(pk, "hasCrossSiteAncestor", 0);
      }
    }
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToObject(p, "cookies", list);
    char err[256];
    rc = pb_cdp_call(pg->cdp, pg->session_id, "Network.setCookies", p,
                     n->job->deadline_ms, NULL, err, sizeof(err));
    if (rc == PB_ECDP)
      return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "cookies: %s", err);
    if (rc)
      return pb_op_fail_rc(res, rc, "setting cookies");
  }
  const char *media = o->media;
  if (media) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "media", media);
    if ((rc = pb_nav_call(n, "Emulation.setEmulatedMedia", p, NULL)))
      return pb_op_fail_rc(res, rc, "emulating the media type");
  }
  if (o->javascript_disabled) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "value", 1);
    if ((rc = pb_nav_call(n, "Emulation.setScriptExecutionDisabled", p, NULL)))
      return pb_op_fail_rc(res, rc, "disabling JavaScript");
  }
  n->reject_mask = o->reject_types;
  n->allow_mask = o->allow_types;
  n->auth_user = o->auth_user;
  n->auth_pass = o->auth_pass;
  int all = n->allow_mask || n->nreject_re || n->nallow_re || n->auth_user;
  if (n->html_b64 || n->reject_mask || all) {
    /* Only what the policy needs is intercepted: every request pauses on
     * its way out, so the common cases pause just the types named. */
    cJSON *p = cJSON_CreateObject();
    cJSON *pats = cJSON_AddArrayToObject(p, "patterns");
    for (int i = 0; i < PB_RESOURCE_TYPES && !all; i++) {
      int want = (n->reject_mask & (1u << i)) || (i == 0 && n->html_b64);
      if (!want)
        continue;
      cJSON *pat = cJSON_CreateObject();
      cJSON_AddStringToObject(pat, "resourceType", pb_resource_type_name(i));
      cJSON_AddStringToObject(pat, "requestStage", "Request");
      cJSON_AddItemToArray(pats, pat);
    }
    if (all) {
      cJSON *pat = cJSON_CreateObject();
      cJSON_AddStringToObject(pat, "urlPattern", "*");
      cJSON_AddStringToObject(pat, "requestStage", "Request");
      cJSON_AddItemToArray(pats, pat);
    }
    if (n->auth_user)
      cJSON_AddBoolToObject(p, "handleAuthRequests", 1);
    if ((rc = pb_nav_call(n, "Fetch.enable", p, NULL)))
      return pb_op_fail_rc(res, rc, "enabling request interception");
  }
  return 0;
}

/* Compiles a request body's list of URL patterns. One that is not a valid
 * regular expression or is over a limit is 400 INVALID_PATTERN naming it. */
static int compile_patterns(const char *const *list, int count,
                            const char *field, pb_pattern **re, int *n,
                            pb_op_result *res) {
  for (int i = 0; i < count && *n < PB_MAX_PATTERNS; i++) {
    char why[200];
    int rc = pb_pattern_compile_js(list[i], &re[*n], why, sizeof(why));
    if (rc == PB_ENOMEM)
      return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
    if (rc)
      return pb_op_fail(res, PB_CODE_INVALID_PATTERN, "%s[%d]: '%.200s' %s: %s",
                        field, i, list[i],
                        rc == PB_ETOOBIG ? "is over a limit"
                                         : "is not a valid regular expression",
                        why);
    (*n)++;
  }
  return 0;
}

/* Waits for the lifecycle event `name` of the main frame's new document. */
/* Waits for the lifecycle event `name` of the main frame's document. When
 * the page navigates again before that (a script or meta redirect), the
 * newest document is the one waited for: a user asked for the page that
 * ends up loaded. */
static int wait_lifecycle(pb_nav *n, const char *frame_id,
                          const char *loader_id, unsigned want,
                          int64_t deadline, int *dom_ready) {
  char current[64];
  pb_strlcpy(current, loader_id, sizeof(current));
  int documents = 0;
  unsigned seen = 0; /* of want, for the current document */
  for (;;) {
    if (canceled(n))
      return PB_ECANCELED;
    pb_cdp_event *ev = NULL;
    /* Wake up now and then to notice a client that went away. */
    int64_t slice = pb_now_ms() + 250;
    int rc = pb_cdp_next_event(n->page->events,
                               slice < deadline ? slice : deadline, &ev);
    if (rc == PB_ETIMEOUT && pb_now_ms() < deadline)
      continue;
    if (rc)
      return rc;
    int done = 0;
    if (!strcmp(ev->method, "Page.lifecycleEvent")) {
      const char *f = pb_json_str(ev->params, "frameId"),
                 *l = pb_json_str(ev->params, "loaderId"),
                 *nm = pb_json_str(ev->params, "name");
      if (f && nm && l && !strcmp(f, frame_id)) {
        if (!strcmp(nm, "init") && strcmp(l, current)) {
          pb_strlcpy(current, l, sizeof(current));
          seen = 0;
          if (++documents > MAX_DOCUMENT_REDIRECTS) {
            pb_cdp_event_free(ev);
            return PB_ENAV;
          }
        }
        for (int w = PB_WAIT_LOAD; w <= PB_WAIT_NETWORKIDLE2; w++)
          if ((want & (1u << w)) && !strcmp(nm, pb_wait_until_lifecycle((pb_wait_until)w)) &&
              !strcmp(l, current))
            seen |= 1u << w;
        done = seen == want;
        if (!strcmp(nm, "DOMContentLoaded") && !strcmp(l, current))
          *dom_ready = 1;
        else if (!strcmp(nm, "init"))
          *dom_ready = 0; /* a new document: not ready yet */
      }
    }
    pb_cdp_event_free(ev);
    if (done)
      return 0;
  }
}

static void drain_events(pb_nav *n) {
  pb_cdp_event *ev;
  while (pb_cdp_next_event(n->page->events, 0, &ev) == 0)
    pb_cdp_event_free(ev);
}

static int sleep_until(pb_nav *n, int64_t until);

/* Polls in the page until the selector is attached (or visible / hidden). */
static int wait_selector(pb_nav *n, pb_op_result *res) {
  const pb_wait_selector_opts *wfs = &n->job->opts.page.wait_selector;
  const char *sel = wfs->selector;
  int timeout = wfs->timeout_ms;
  int visible = wfs->visible, hidden = wfs->hidden;
  cJSON *args = cJSON_CreateArray();
  cJSON_AddItemToArray(args, cJSON_CreateString(sel));
  char *sel_json = cJSON_PrintUnformatted(args);
  cJSON_Delete(args);
  if (!sel_json)
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  pb_buf js;
  pb_buf_init(&js, 1 << 20);
  pb_buf_printf(
      &js,
      "(async ([sel], visible, hidden, timeout) => {"
      "  const seen = el => { if (!el) return false;"
      "    const s = getComputedStyle(el);"
      "    if (s.visibility === 'hidden' || s.display === 'none') return false;"
      "    const r = el.getBoundingClientRect(); return r.width > 0 && "
      "r.height > 0; };"
      "  const end = Date.now() + timeout;"
      "  for (;;) {"
      "    const el = document.querySelector(sel);"
      "    if (hidden ? !seen(el) : visible ? seen(el) : !!el) return true;"
      "    if (Date.now() >= end) return false;"
      "    await new Promise(r => setTimeout(r, 20));"
      "  }"
      "})(%s, %s, %s, %d)",
      sel_json, visible ? "true" : "false", hidden ? "true" : "false", timeout);
  free(sel_json);
  int64_t deadline = pb_deadline_wait_selector(&n->job->opts.page, pb_now_ms(),
                                               n->job->deadline_ms);
  cJSON *v = NULL;
  char err[512];
  /* A navigation while waiting destroys the context the poll runs in:
   * start it again in the new document. */
  int rc;
  for (;;) {
    rc = pb_nav_eval(n, js.data, deadline, &v, err, sizeof(err));
    int gone = (rc == PB_ECDP || rc == PB_EINVAL) &&
               (strstr(err, "context") || strstr(err, "navigated") ||
                strstr(err, "destroyed"));
    if (!gone || pb_now_ms() >= deadline)
      break;
    cJSON_Delete(v);
    v = NULL;
    sleep_until(n, pb_now_ms() + 20);
  }
  pb_buf_free(&js);
  int ok = cJSON_IsTrue(v);
  cJSON_Delete(v);
  if (rc == PB_EINVAL)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST,
                      "waitForSelector.selector: %s", err);
  if (rc && rc != PB_ETIMEOUT)
    return pb_op_fail_rc(res, rc, "waiting for selector");
  if (rc || !ok) {
    pb_op_fail(res, PB_CODE_TIMEOUT, "waitForSelector: '%s' not %s after %d ms",
               sel,
               hidden    ? "hidden"
               : visible ? "visible"
                         : "attached",
               timeout);
    return 1;
  }
  return 0;
}

static int sleep_until(pb_nav *n, int64_t until) {
  while (pb_now_ms() < until) {
    if (canceled(n))
      return PB_ECANCELED;
    int64_t left = until - pb_now_ms();
    if (left > 100)
      left = 100;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = left * 1000000};
    nanosleep(&ts, NULL);
  }
  return 0;
}

static int load_page(pb_nav *n, const char *doc_url, pb_op_result *res);


/* page.addScriptTag / page.addStyleTag: each tag is added in order and, for
 * a URL, waited for until it loaded. */
static int add_tags(pb_nav *n, const pb_tag_opts *tags, int count, int script,
                    pb_op_result *res) {
  for (int i = 0; i < count; i++) {
    const char *url = tags[i].url, *content = tags[i].content;
    cJSON *arg = cJSON_CreateString(url ? url : content ? content : "");
    char *lit = cJSON_PrintUnformatted(arg);
    cJSON_Delete(arg);
    /* type and id as JSON literals (null when not given). */
    arg = tags[i].type ? cJSON_CreateString(tags[i].type) : cJSON_CreateNull();
    char *type_lit = cJSON_PrintUnformatted(arg);
    cJSON_Delete(arg);
    arg = tags[i].id ? cJSON_CreateString(tags[i].id) : cJSON_CreateNull();
    char *id_lit = cJSON_PrintUnformatted(arg);
    cJSON_Delete(arg);
    if (!lit || !type_lit || !id_lit) {
      free(lit);
      free(type_lit);
      free(id_lit);
      return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
    }
    pb_buf js;
    pb_buf_init(&js, 4u << 20);
    int rc = pb_buf_printf(
        &js,
        "new Promise((ok, fail) => { const v = %s, isUrl = %s, script = %s;"
        " const el = document.createElement(script ? 'script' : isUrl ? 'link' "
        ": 'style');"
        " const type = %s, id = %s; if (type) el.type = type; if (id) el.id = id;"
        " if (isUrl) { if (script) el.src = v; else { el.rel = 'stylesheet'; "
        "el.href = v; }"
        "   el.onload = () => ok(true); el.onerror = () => fail(new "
        "Error('could not load ' + v)); }"
        " else { el.textContent = v; }"
        " (document.head || document.documentElement).appendChild(el); if "
        "(!isUrl) ok(true); })",
        lit, url ? "true" : "false", script ? "true" : "false", type_lit, id_lit);
    free(lit);
    free(type_lit);
    free(id_lit);
    cJSON *v = NULL;
    char err[512];
    if (!rc)
      rc = pb_nav_eval(n, js.data, n->job->deadline_ms, &v, err, sizeof(err));
    pb_buf_free(&js);
    cJSON_Delete(v);
    const char *field = script ? "addScriptTag" : "addStyleTag";
    if (rc == PB_EINVAL)
      return pb_op_fail(res, PB_CODE_PAGE_ERROR, "%s: %s", field, err);
    if (rc)
      return pb_op_fail_rc(res, rc, field);
  }
  return 0;
}

int pb_nav_open(pb_job *job, pb_op_result *res, pb_nav **out) {
  *out = NULL;
  const pb_page_opts *o = &job->opts.page;
  const char *url = o->url, *html = o->html;
  const char *base = o->base_url;
  char err[512];
  int rc;
  if (url) {
    rc = pb_egress_check_url(job->env->egress, url, err, sizeof(err));
    if (rc == PB_EFORBIDDEN)
      return pb_op_fail(res, PB_CODE_FORBIDDEN_URL, "url: %s", err);
    if (rc)
      return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "url: %s", err);
  } else if (base) {
    pb_url u;
    rc = pb_url_parse(base, &u, err, sizeof(err));
    if (rc == PB_EFORBIDDEN)
      return pb_op_fail(res, PB_CODE_FORBIDDEN_URL, "baseUrl: %s", err);
    if (rc)
      return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "baseUrl: %s", err);
  }
  const char *doc_url = url ? url : base ? base : HTML_DEFAULT_URL;

  pb_nav *n = calloc(1, sizeof(*n));
  if (!n)
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  n->job = job;
  n->action_deadline = job->deadline_ms;
  if (compile_patterns(o->reject_patterns, o->nreject_patterns,
                       "rejectRequestPattern", n->reject_re, &n->nreject_re,
                       res) ||
      compile_patterns(o->allow_patterns, o->nallow_patterns,
                       "allowRequestPattern", n->allow_re, &n->nallow_re,
                       res)) {
    pb_nav_close(n, NULL);
    return -1;
  }
  if (html && pb_base64_encode((const unsigned char *)html, strlen(html),
                               &n->html_b64)) {
    pb_nav_close(n, NULL);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  }
  for (int attempt = 0;; attempt++) {
    if (job->session)
      rc = pb_session_page_open(job->session, job->deadline_ms, &n->page);
    else
      rc = pb_pool_lease(job->env->pool, job->deadline_ms, &n->page);
    if (rc) {
      pb_nav_close(n, NULL);
      if (rc == PB_ENOTFOUND)
        return pb_op_fail(res, PB_CODE_SESSION_NOT_FOUND, "the session ended");
      if (rc == PB_ETIMEOUT)
        return pb_op_fail(res, PB_CODE_BROWSER_UNAVAILABLE,
                          "no browser became free before the deadline");
      return pb_op_fail_rc(res, rc, "leasing a browser");
    }
    n->leased_at = pb_now_ms();
    drain_events(n);
    pb_cdp_sub_set_hook(n->page->events, page_hook, n);
    if (!n->trace && o->trace &&
        pb_trace_new(PB_TRACE_CAP_BYTES, &n->trace) == 0)
      trace_start(n);
    if (!load_page(n, doc_url, res))
      break;
    /* A prepared page whose renderer died before its crash was reported
     * (killed while it waited) fails at once: once more on a fresh page. */
    /* (Such a page's navigation fails as PAGE_CRASHED, or as ERR_ABORTED
     * when the renderer went away during the commit.) */
    int dead_page =
        res->err == PB_CODE_PAGE_CRASHED ||
        ((res->err == PB_CODE_NAVIGATION_FAILED || res->err == PB_CODE_PAGE_ERROR) &&
         strstr(res->message, "net::ERR_ABORTED"));
    int retry = attempt == 0 && dead_page && !n->committed && !job->session &&
                !n->trace && pb_now_ms() < job->deadline_ms;
    if (!retry) {
      pb_nav_close(n, res);
      return -1;
    }
    pb_cdp_sub_set_hook(n->page->events, NULL, NULL);
    pb_pool_release(job->env->pool, n->page);
    n->page = NULL;
    n->doc_served = 0;
    n->auth_tries = 0;
    memset(res, 0, sizeof(*res));
  }
  *out = n;
  return 0;
}

/* A navigation that ended on the egress proxy's refusal (a redirect to a
 * private address, or a name that resolves to one) is a blocked request:
 * 403 FORBIDDEN_URL, as for the URL itself. The proxy answers such requests
 * with a text/plain 403 that starts "ppod egress:". */
static int refused_by_egress(pb_nav *n, const char *doc_url,
                             pb_op_result *res) {
  if (n->html_b64)
    return 0;
  static const char js[] =
      "(() => { const e = performance.getEntriesByType('navigation')[0];"
      " if (!e || e.responseStatus !== 403 || document.contentType !== "
      "'text/plain') return '';"
      " const t = document.body ? document.body.innerText : '';"
      " return t.startsWith('ppod egress:') ? t.slice(0, 300) : ''; })()";
  cJSON *v = NULL;
  char err[256];
  int rc = pb_nav_eval(n, js, n->job->deadline_ms, &v, err, sizeof(err));
  int refused = !rc && cJSON_IsString(v) && *v->valuestring;
  if (refused) {
    char *t = v->valuestring + 13; /* past "ppod egress: " */
    t[strcspn(t, "\r\n")] = '\0';
  }
  if (refused)
    pb_op_fail(res, PB_CODE_FORBIDDEN_URL,
               "%s: the page led to an address that is refused (%s)", doc_url,
               v->valuestring + 13);
  cJSON_Delete(v);
  return refused ? -1 : 0;
}

/* What the egress proxy recorded about url's host:port for this page's
 * browser since since_ms: a pb_egress_why. */
int pb_nav_egress_why(const pb_ops_env *env, const pb_page *pg, const char *url,
                      int64_t since_ms, char *text, size_t cap) {
  pb_url u;
  char err[128];
  text[0] = '\0';
  if (!env->egress_why || pb_url_parse(url, &u, err, sizeof(err)) || !u.host[0])
    return PB_EGRESS_WHY_NONE;
  return env->egress_why(env->egress_why_data, pg->net_id, u.host, u.port,
                         since_ms, text, cap);
}

static int egress_why(pb_nav *n, const char *url, int64_t since_ms, char *text,
                      size_t cap) {
  return pb_nav_egress_why(n->job->env, n->page, url, since_ms, text, cap);
}

/* Page.navigate and the wait for waitUntil. 0 when loaded (or, with
 * bestAttempt, when the wait ran out), -1 with res filled on failure. */
static int navigate(pb_nav *n, const char *doc_url, const pb_goto_opts *go,
                    int64_t goto_deadline, int best, pb_op_result *res) {
  char err[512];
  char wait_until[80] = "";
  for (int w = PB_WAIT_LOAD; w <= PB_WAIT_NETWORKIDLE2; w++)
    if (go->wait_all ? (go->wait_all & (1u << w)) : w == (int)go->wait_until)
      snprintf(wait_until + strlen(wait_until), sizeof(wait_until) - strlen(wait_until),
               "%s%s", wait_until[0] ? "' and '" : "", pb_wait_until_name((pb_wait_until)w));
  cJSON *p = cJSON_CreateObject(), *nav = NULL;
  cJSON_AddStringToObject(p, "url", doc_url);
  const char *referer = go->referer;
  if (referer)
    cJSON_AddStringToObject(p, "referrer", referer);
  if (go->referrer_policy)
    cJSON_AddStringToObject(p, "referrerPolicy", go->referrer_policy);
  int64_t t_nav = pb_now_ms();
  /* What actually runs out: the navigation timeout or the job's. */
  long long waited = (long long)(goto_deadline - t_nav);
  int rc = pb_cdp_call_cancelable(n->page->cdp, n->page->session_id,
                                  "Page.navigate", p, goto_deadline,
                                  n->job->canceled, &nav, err, sizeof(err));
  PB_DEBUG("nav: Page.navigate answered in %lld ms",
           (long long)(pb_now_ms() - t_nav));
  if (rc == PB_ETIMEOUT && best)
    return 0;
  if (rc == PB_ETIMEOUT)
    return pb_op_fail(res, PB_CODE_TIMEOUT,
                      "navigation to %s got no response within %lld ms",
                      doc_url, waited);
  if (rc == PB_ECDP)
    return pb_op_fail(res, PB_CODE_NAVIGATION_FAILED, "%s: %s", doc_url, err);
  if (rc)
    return pb_op_fail_rc(res, rc, "navigating");
  const char *error_text = pb_json_str(nav, "errorText");
  if (!rc && !(error_text && *error_text))
    n->committed = 1;
  if (error_text && *error_text) {
    /* What the egress proxy turned into an empty response or a failed
     * tunnel is reported as what the proxy knows it was; nothing is
     * resolved or connected to from here. */
    if (!strcmp(error_text, "net::ERR_EMPTY_RESPONSE") ||
        !strcmp(error_text, "net::ERR_TUNNEL_CONNECTION_FAILED")) {
      char said[200];
      int why = egress_why(n, doc_url, t_nav, said, sizeof(said));
      if (why == PB_EGRESS_WHY_REFUSED) {
        pb_op_fail(res, PB_CODE_FORBIDDEN_URL,
                   "%s: the page led to an address that is refused (%s)",
                   doc_url, said);
        cJSON_Delete(nav);
        return -1;
      }
      const char *real = pb_egress_why_net_error(why);
      if (real) {
        pb_op_fail(res, PB_CODE_NAVIGATION_FAILED, "%s: %s (%s)", doc_url, real,
                   said);
        cJSON_Delete(nav);
        return -1;
      }
    }
    if (!strcmp(error_text, "net::ERR_TOO_MANY_REDIRECTS"))
      pb_op_fail(
          res, PB_CODE_TOO_MANY_REDIRECTS,
          "%s: too many HTTP redirects, Chromium follows at most 19 (%s)",
          doc_url, error_text);
    else
      pb_op_fail(res, PB_CODE_NAVIGATION_FAILED, "%s: %s", doc_url, error_text);
    cJSON_Delete(nav);
    return -1;
  }
  char frame_id[64] = "", loader_id[64] = "";
  const char *f = pb_json_str(nav, "frameId"), *l = pb_json_str(nav, "loaderId");
  pb_strlcpy(frame_id, f ? f : n->page->target_id, sizeof(frame_id));
  if (l)
    pb_strlcpy(loader_id, l, sizeof(loader_id));
  cJSON_Delete(nav);
  /* A same-document navigation has no loader and no new lifecycle. */
  if (!loader_id[0])
    return 0;
  int dom_ready = 0;
  unsigned want = go->wait_all ? go->wait_all : 1u << go->wait_until;
  rc = wait_lifecycle(n, frame_id, loader_id, want, goto_deadline, &dom_ready);
  PB_DEBUG("nav: %s after %lld ms", wait_until,
           (long long)(pb_now_ms() - t_nav));
  if (rc == PB_ETIMEOUT && best)
    return 0;
  /* The document is there, only its subresources (or the network going
   * idle) never finished: an op that can work on the DOM goes on with it. */
  if (rc == PB_ETIMEOUT && dom_ready && n->job->opts.page.dom_fallback) {
    n->dom_only_ms = waited > 0 ? waited : 0;
    return refused_by_egress(n, doc_url, res);
  }
  if (rc == PB_ETIMEOUT)
    return pb_op_fail(res, PB_CODE_TIMEOUT,
                      "navigation to %s: '%s' did not happen within %lld ms",
                      doc_url, wait_until, waited);
  if (rc == PB_ENAV)
    return pb_op_fail(res, PB_CODE_TOO_MANY_REDIRECTS,
                      "%s: the page replaced itself more than %d times (script "
                      "or meta refresh "
                      "redirects) before '%s'",
                      doc_url, MAX_DOCUMENT_REDIRECTS, wait_until);
  if (rc)
    return pb_op_fail_rc(res, rc, "waiting for the page to load");
  return refused_by_egress(n, doc_url, res);
}

/* What the request asks for once the page loaded: waitForSelector,
 * waitForTimeout, addScriptTag/addStyleTag, then the actionTimeout clock. */
static int after_load(pb_nav *n, pb_op_result *res) {
  pb_job *job = n->job;
  const pb_page_opts *o = &job->opts.page;
  int best = o->best_attempt;
  int rc;
  if (o->wait_selector.selector) {
    rc = wait_selector(n, res);
    if (rc < 0 || (rc > 0 && !best))
      return -1;
    if (rc > 0)
      memset(res, 0, sizeof(*res)); /* best attempt: carry on */
  }
  /* Browserless' order: waitForSelector (above), waitForFunction,
   * waitForEvent, then waitForTimeout. */
  const char *waits[2] = {o->wait_function.fn, o->wait_event.event};
  for (int k = 0; k < 2; k++) {
    if (!waits[k])
      continue;
    rc = k == 0 ? pb_nav_wait_function(n, res) : pb_nav_wait_event(n, res);
    if (rc < 0 || (rc > 0 && !best))
      return -1;
    if (rc > 0)
      memset(res, 0, sizeof(*res)); /* best attempt: carry on */
  }
  int wft = o->wait_for_timeout_ms;
  if (wft > 0) {
    int64_t until = pb_now_ms() + wft;
    if (until > job->deadline_ms)
      return pb_op_fail(res, PB_CODE_TIMEOUT,
                        "waitForTimeout: %d ms is past the job's timeout", wft);
    if ((rc = sleep_until(n, until)))
      return pb_op_fail_rc(res, rc, "waiting");
  }
  if (add_tags(n, o->script_tags, o->nscript_tags, 1, res) ||
      add_tags(n, o->style_tags, o->nstyle_tags, 0, res))
    return -1;
  n->action_deadline = pb_deadline_action(o, pb_now_ms(), n->action_deadline);
  /* scrollPage: lazy content is there before the action looks. */
  if (o->scroll_page && pb_op_scroll_page(n, NULL, res))
    return -1;
  return 0;
}

static int load_page(pb_nav *n, const char *doc_url, pb_op_result *res) {
  pb_job *job = n->job;
  if (apply_options(n, doc_url, res))
    return -1;
  PB_DEBUG("nav: options applied in %lld ms",
           (long long)(pb_now_ms() - n->leased_at));

  const pb_page_opts *o = &job->opts.page;
  int64_t goto_deadline = pb_deadline_goto(o, pb_now_ms(), job->deadline_ms);

  cJSON *params = NULL;
  if (n->trace) {
    params = cJSON_CreateObject();
    cJSON_AddStringToObject(params, "url", doc_url);
  }
  int action = pb_nav_action_begin(n, "page.goto", params);
  cJSON_Delete(params);
  int rc = navigate(n, doc_url, &o->go, goto_deadline, o->best_attempt, res);
  pb_nav_action_end(n, action, rc ? res->message : NULL);
  if (rc)
    return -1;
  return after_load(n, res);
}

static void nav_release(pb_nav *n) {
  if (n->page) {
    pb_cdp_sub_set_hook(n->page->events, NULL, NULL);
    if (n->job->session)
      pb_session_page_close(n->job->session, n->page);
    else
      pb_pool_release(n->job->env->pool, n->page);
  }
  for (int i = 0; i < n->nreject_re; i++)
    pb_pattern_free(n->reject_re[i]);
  for (int i = 0; i < n->nallow_re; i++)
    pb_pattern_free(n->allow_re[i]);
  free(n->html_b64);
  pb_trace_free(n->trace);
  free(n);
}

void pb_nav_close(pb_nav *n, pb_op_result *res) {
  if (!n)
    return;
  if (n->page && res)
    res->browser_ms = pb_now_ms() - n->leased_at;
  /* A trace is finished after the answer has gone (ending Chromium's
   * timeline and writing the zip take tens of ms): its id is chosen now and
   * a marker makes GET /browser/traces/{id} wait for it. */
  pb_trace_store *traces = n->job->env->traces;
  if (n->page && n->trace && traces && res && !n->job->deferred &&
      pb_trace_store_reserve(traces, n->job->account_id, n->trace_id) == 0) {
    pb_strlcpy(res->trace_id, n->trace_id, sizeof(res->trace_id));
    n->job->deferred = n;
    return;
  }
  if (n->page && n->trace)
    trace_finish(n);
  nav_release(n);
}

void pb_job_finish_deferred(pb_job *job) {
  pb_nav *n = job->deferred;
  if (!n)
    return;
  job->deferred = NULL;
  trace_finish(n);
  nav_release(n);
}

int pb_op_trace(pb_job *job, pb_op_result *res) {
  const char *id = job->opts.id ? job->opts.id : "";
  int rc = pb_trace_store_get(job->env->traces, job->account_id, id,
                              job->deadline_ms, &res->body, &res->body_len);
  if (rc == PB_ENOTFOUND)
    return pb_op_fail(res, PB_CODE_TRACE_NOT_FOUND,
                      "no trace %s for this account (traces are kept 24 hours)",
                      id);
  if (rc)
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "reading the trace failed");
  res->content_type = "application/zip";
  res->status = 200;
  return 0;
}

/* ---- a page kept for the next document (crawls) ------------------------ */

int pb_nav_reuse(pb_nav *n, pb_job *job, const char *url, pb_op_result *res) {
  char err[512];
  int rc = pb_egress_check_url(job->env->egress, url, err, sizeof(err));
  if (rc == PB_EFORBIDDEN)
    return pb_op_fail(res, PB_CODE_FORBIDDEN_URL, "url: %s", err);
  if (rc)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "url: %s", err);
  if (n->html_b64 || n->trace || job->session)
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "this page cannot be reused");
  n->job = job;
  n->action_deadline = job->deadline_ms;
  n->committed = 0;
  n->auth_tries = 0;
  drain_events(n);
  const pb_page_opts *o = &job->opts.page;
  int64_t goto_deadline = pb_deadline_goto(o, pb_now_ms(), job->deadline_ms);
  if (navigate(n, url, &o->go, goto_deadline, o->best_attempt, res))
    return -1;
  return after_load(n, res);
}
