/* Browserless v2's request and answer shapes over our operations (see
 * compat.h). The op, its schema, admission, ledger row and egress guard are
 * the /browser/... route's own: only what differs in the shapes is here. */
#include "http/compat.h"

#include "common/errcode.h"
#include "common/json.h"
#include "common/pb.h"
#include "http/internal.h"
#include "ops/options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Puppeteer's default viewport, which Browserless keeps: a body written for
 * it expects 800x600 images whatever our own default is. */
#define BL_VIEWPORT_W 800
#define BL_VIEWPORT_H 600

/* Longest query parameter (name=value) read; longer ones are refused. */
#define BL_PARAM_MAX 1024

/* r->compat_flags: scrape's debugOpts, as asked. */
enum {
  BL_DEBUG = 1u << 0, /* debugOpts given: "debug" is an object, else null */
  BL_DEBUG_CONSOLE = 1u << 1,
  BL_DEBUG_COOKIES = 1u << 2,
  BL_DEBUG_HTML = 1u << 3,
  BL_DEBUG_NETWORK = 1u << 4,
  BL_DEBUG_SCREENSHOT = 1u << 5,
};

/* Browserless' launch and session parameters that this service does not
 * offer, each with why. Silently ignoring one would give the client
 * something other than what it asked for. */
static const struct {
  const char *name;
  const char *why;
} unsupported[] = {
    {"blockAds",
     "no ad blocker runs here; reject what you do not want with rejectRequestPattern "
     "or rejectResourceTypes"},
    {"proxy",
     "the service's egress goes through its own guarded proxy; no residential or "
     "external proxy"},
    {"proxyCountry", "no residential proxy"},
    {"proxyCity", "no residential proxy"},
    {"proxyState", "no residential proxy"},
    {"proxySticky", "no residential proxy"},
    {"proxyPreset", "no residential proxy"},
    {"externalProxyServer", "the service's egress goes through its own guarded proxy"},
    {"launch",
     "browsers are launched by the service with fixed flags; set the viewport, user "
     "agent and the rest in the body"},
    {"stealth", "no stealth mode"},
    {"headless", "browsers run headless only"},
    {"solveCaptchas", "no captcha solving"},
    {"humanlike", "no human-like input emulation"},
    {"record",
     "recordings are made for sessions (POST /browser/acquire with record), not "
     "quick actions"},
    {"replay", "recordings are made for sessions (POST /browser/acquire with record)"},
    {"trackingId", "no tracking ids"},
    {"ignoreDefaultArgs", "browsers are launched by the service with fixed flags"},
};

/* Body members Browserless takes that no schema of ours has. */
static const struct {
  const char *name;
  const char *why;
} unsupported_body[] = {
    {"requestInterceptors",
     "mocked responses are not offered; block requests with rejectRequestPattern"},
};

/* A parameter's name for a message: printable and short, else generic. */
static const char *shown(const char *name, char *buf, size_t cap) {
  size_t n = strlen(name);
  if (n == 0 || n > 40 ||
      strspn(name,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
             "0123456789_.-[]") != n)
    return "a query parameter";
  snprintf(buf, cap, "?%s=", name);
  return buf;
}

/* The i-th "name=value" of r's query (decoded) into buf: 1, 0 when there
 * is none, -1 when it is over cap. */
static int query_param(req *r, int i, char *buf, size_t cap) {
  if (r->wsi) {
    int len = lws_hdr_fragment_length(r->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (len <= 0)
      return lws_hdr_copy_fragment(r->wsi, buf, (int)cap, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0 ? 1 : 0;
    if ((size_t)len >= cap) return -1;
    return lws_hdr_copy_fragment(r->wsi, buf, (int)cap, WSI_TOKEN_HTTP_URI_ARGS, i) >= 0 ? 1 : 0;
  }
  /* An internal request: its query as "a=1&b=2". */
  const char *q = r->iquery;
  for (int k = 0; *q; k++) {
    size_t n = strcspn(q, "&");
    if (k == i) {
      if (n >= cap) return -1;
      memcpy(buf, q, n);
      buf[n] = '\0';
      return 1;
    }
    q += n;
    if (*q == '&') q++;
  }
  return 0;
}

/* ?timeout= and the refused parameters. 0, or the refusal answered. */
static int map_query(req *r) {
  char p[BL_PARAM_MAX], nb[64];
  int seen_timeout = 0, seen_token = 0;
  for (int i = 0; i < 64; i++) {
    int got = query_param(r, i, p, sizeof(p));
    if (got == 0) return 0;
    if (got < 0) {
      answer_error(r, PB_CODE_INVALID_REQUEST, "a query parameter is over %d bytes",
                   BL_PARAM_MAX - 1);
      return -1;
    }
    char *eq = strchr(p, '=');
    const char *value = eq ? eq + 1 : "";
    if (eq) *eq = '\0';
    if (!strcmp(p, "token")) {
      /* Read by auth.c; a second one would be ambiguous. */
      if (seen_token++) {
        answer_error(r, PB_CODE_INVALID_REQUEST, "?token= is given more than once");
        return -1;
      }
      continue;
    }
    if (!strcmp(p, "timeout")) {
      long long ms;
      if (seen_timeout++) {
        answer_error(r, PB_CODE_INVALID_REQUEST, "?timeout= is given more than once");
        return -1;
      }
      /* Digits only: no sign, space, exponent or fraction. */
      size_t nd = strspn(value, "0123456789");
      if (nd == 0 || nd > 9 || value[nd] || pb_parse_int(value, 0, PB_JOB_TIMEOUT_MAX_MS, &ms)) {
        answer_error(r, PB_CODE_INVALID_REQUEST,
                     "?timeout= must be a whole number of milliseconds from 0 to %d (0: the "
                     "default, %d)",
                     PB_JOB_TIMEOUT_MAX_MS, PB_JOB_TIMEOUT_DEFAULT_MS);
        return -1;
      }
      /* The job's deadline, as the body's "timeout" is on /browser/... */
      cJSON_DeleteItemFromObjectCaseSensitive(r->json, "timeout");
      cJSON_AddNumberToObject(r->json, "timeout", (double)ms);
      continue;
    }
    for (size_t k = 0; k < sizeof(unsupported) / sizeof(unsupported[0]); k++) {
      if (!strcmp(p, unsupported[k].name)) {
        answer_error(r, PB_CODE_UNSUPPORTED_OPTION, "?%s= is not supported: %s",
                     unsupported[k].name, unsupported[k].why);
        return -1;
      }
    }
    answer_error(r, PB_CODE_UNSUPPORTED_OPTION,
                 "%s is not a parameter of this route; it takes ?token= and ?timeout= only",
                 shown(p, nb, sizeof(nb)));
    return -1;
  }
  answer_error(r, PB_CODE_INVALID_REQUEST, "too many query parameters");
  return -1;
}

/* debugOpts of /scrape: {console, cookies, html, network, screenshot}, each
 * a boolean. Taken out of the body (the scrape schema does not have it)
 * into r->compat_flags. 0, or the refusal answered. */
static int map_debug_opts(req *r) {
  cJSON *d = cJSON_DetachItemFromObjectCaseSensitive(r->json, "debugOpts");
  if (!d) return 0;
  static const struct {
    const char *name;
    unsigned flag;
  } parts[] = {{"console", BL_DEBUG_CONSOLE},
               {"cookies", BL_DEBUG_COOKIES},
               {"html", BL_DEBUG_HTML},
               {"network", BL_DEBUG_NETWORK},
               {"screenshot", BL_DEBUG_SCREENSHOT}};
  int rc = 0;
  if (!cJSON_IsObject(d)) {
    answer_error(r, PB_CODE_INVALID_REQUEST, "debugOpts: must be an object");
    rc = -1;
  }
  const cJSON *m;
  cJSON_ArrayForEach(m, (rc ? (cJSON *)NULL : d)) {
    size_t k = 0;
    while (k < sizeof(parts) / sizeof(parts[0]) && strcmp(parts[k].name, m->string)) k++;
    if (k == sizeof(parts) / sizeof(parts[0])) {
      answer_error(r, PB_CODE_INVALID_REQUEST,
                   "debugOpts: unknown member (it takes console, cookies, html, network and "
                   "screenshot)");
      rc = -1;
      break;
    }
    if (!cJSON_IsBool(m)) {
      answer_error(r, PB_CODE_INVALID_REQUEST, "debugOpts.%s: must be a boolean", parts[k].name);
      rc = -1;
      break;
    }
    if (cJSON_IsTrue(m)) r->compat_flags |= parts[k].flag;
  }
  r->compat_flags |= BL_DEBUG;
  cJSON_Delete(d);
  return rc;
}

int compat_request(pb_server *s, req *r) {
  (void)s;
  if (!r->route || r->route->compat != PB_COMPAT_BROWSERLESS) return 0;
  if (map_query(r)) return -1;
  for (size_t k = 0; k < sizeof(unsupported_body) / sizeof(unsupported_body[0]); k++) {
    if (cJSON_GetObjectItemCaseSensitive(r->json, unsupported_body[k].name)) {
      answer_error(r, PB_CODE_UNSUPPORTED_OPTION, "%s is not supported: %s",
                   unsupported_body[k].name, unsupported_body[k].why);
      return -1;
    }
  }
  if (!strcmp(r->route->schema, "scrape") && map_debug_opts(r)) return -1;
  if (!cJSON_GetObjectItemCaseSensitive(r->json, "viewport")) {
    cJSON *vp = cJSON_AddObjectToObject(r->json, "viewport");
    cJSON_AddNumberToObject(vp, "width", BL_VIEWPORT_W);
    cJSON_AddNumberToObject(vp, "height", BL_VIEWPORT_H);
  }
  return 0;
}

void compat_job(req *r) {
  if (!r->route || r->route->compat != PB_COMPAT_BROWSERLESS) return;
  unsigned f = r->compat_flags;
  r->job.opts.scrape_debug = (f & BL_DEBUG_HTML ? PB_SCRAPE_DEBUG_HTML : 0) |
                             (f & BL_DEBUG_COOKIES ? PB_SCRAPE_DEBUG_COOKIES : 0) |
                             (f & BL_DEBUG_SCREENSHOT ? PB_SCRAPE_DEBUG_SCREENSHOT : 0);
}

/* An error as Browserless answers one: the status, and the message as
 * plain text; our code in X-Error-Code (the request id is in X-Request-Id
 * as on every answer). */
static void answer_error_text(req *r) {
  pb_op_result *res = &r->res;
  size_t n = strlen(res->message);
  char *body = malloc(n + 1);
  if (!body) return; /* the JSON error stays: still an error with its status */
  memcpy(body, res->message, n + 1);
  free(res->body);
  res->body = body;
  res->body_len = n;
  res->content_type = "text/plain; charset=utf-8";
  r->xh_name = "x-error-code:";
  pb_strlcpy(r->xh_value, pb_code_text(res->err), sizeof(r->xh_value));
}

/* The op's {"success":true,"result":...} envelope, parsed; NULL when the
 * body is not one (already mapped, or bytes). */
static cJSON *envelope(const pb_op_result *res) {
  if (!res->body || !res->content_type || strcmp(res->content_type, "application/json"))
    return NULL;
  return cJSON_ParseWithLength(res->body, res->body_len);
}

/* /content: the HTML itself. */
static void answer_content(req *r) {
  cJSON *o = envelope(&r->res);
  const char *html = pb_json_str(o, "result");
  if (html) {
    size_t n = strlen(html);
    char *body = malloc(n + 1);
    if (body) {
      memcpy(body, html, n + 1);
      pb_op_bytes(&r->res, body, n, "text/html; charset=utf-8");
    }
  }
  cJSON_Delete(o);
}

/* /scrape: {"data":[{selector, results}], "debug": null | {...}}. The op
 * captures debugOpts' html, cookies and screenshot; console messages and
 * the network log are not recorded by it, so they are answered empty and
 * named in X-Debug-Unavailable when asked for, for a client to tell "none"
 * from "not captured". */
static void answer_scrape(req *r) {
  cJSON *o = envelope(&r->res);
  cJSON *data = o ? cJSON_DetachItemFromObjectCaseSensitive(o, "result") : NULL;
  cJSON *got = o ? cJSON_DetachItemFromObjectCaseSensitive(o, "debug") : NULL;
  cJSON_Delete(o);
  if (!data) {
    cJSON_Delete(got);
    return;
  }
  cJSON *out = cJSON_CreateObject();
  cJSON_AddItemToObject(out, "data", data);
  unsigned f = r->compat_flags;
  if (f & BL_DEBUG) {
    cJSON *d = cJSON_AddObjectToObject(out, "debug");
    cJSON_AddArrayToObject(d, "console");
    static const char *const captured[] = {"cookies", "html", "screenshot"};
    for (size_t k = 0; k < 3; k++) {
      cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(got, captured[k]);
      cJSON_AddItemToObject(d, captured[k], v ? v : cJSON_CreateNull());
    }
    cJSON *net = cJSON_AddObjectToObject(d, "network");
    cJSON_AddArrayToObject(net, "inbound");
    cJSON_AddArrayToObject(net, "outbound");
    const char *missing = (f & BL_DEBUG_CONSOLE) && (f & BL_DEBUG_NETWORK) ? "console,network"
                          : f & BL_DEBUG_CONSOLE                           ? "console"
                          : f & BL_DEBUG_NETWORK                           ? "network"
                                                                           : NULL;
    if (missing) {
      r->xh_name = "x-debug-unavailable:";
      pb_strlcpy(r->xh_value, missing, sizeof(r->xh_value));
    }
  } else {
    cJSON_AddNullToObject(out, "debug");
  }
  cJSON_Delete(got);
  pb_op_json_object(&r->res, out);
}

void compat_answer(req *r) {
  if (!r->route || r->route->compat != PB_COMPAT_BROWSERLESS) return;
  if (r->res.err) {
    answer_error_text(r);
    return;
  }
  if (!strcmp(r->route->schema, "content"))
    answer_content(r);
  else if (!strcmp(r->route->schema, "scrape"))
    answer_scrape(r);
  /* screenshot, pdf: the bytes as they are */
}
