/* HAR 1.2 (network.har) and Playwright's trace.network from the requests
 * the writer collected. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "trace/internal.h"

static void iso_time(double epoch_s, char out[64]) {
  long long total_ms = (long long)(epoch_s * 1000.0 + 0.5);
  if (total_ms < 0) total_ms = 0;
  time_t s = (time_t)(total_ms / 1000);
  int ms = (int)(total_ms % 1000);
  struct tm tm;
  gmtime_r(&s, &tm);
  snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static cJSON *har_headers(const cJSON *headers) {
  cJSON *arr = cJSON_CreateArray();
  const cJSON *h;
  cJSON_ArrayForEach(h, headers) {
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "name", h->string ? h->string : "");
    if (cJSON_IsString(h)) {
      cJSON_AddStringToObject(e, "value", h->valuestring);
    } else {
      char *v = cJSON_PrintUnformatted(h);
      cJSON_AddStringToObject(e, "value", v ? v : "");
      free(v);
    }
    cJSON_AddItemToArray(arr, e);
  }
  return arr;
}

static const char *header_value(const cJSON *headers, const char *name) {
  const cJSON *h;
  cJSON_ArrayForEach(h, headers) {
    if (h->string && !strcasecmp(h->string, name) && cJSON_IsString(h)) return h->valuestring;
  }
  return NULL;
}

static cJSON *query_string(const char *url) {
  cJSON *arr = cJSON_CreateArray();
  const char *q = url ? strchr(url, '?') : NULL;
  if (!q) return arr;
  q++;
  size_t end = strcspn(q, "#");
  while (end > 0) {
    size_t n = strcspn(q, "&#");
    if (n > end) n = end;
    if (n > 0) {
      const char *eq = memchr(q, '=', n);
      size_t nl = eq ? (size_t)(eq - q) : n;
      char *name = pb__trace_memdup0(q, nl);
      char *val = eq ? pb__trace_memdup0(eq + 1, n - nl - 1) : strdup("");
      cJSON *e = cJSON_CreateObject();
      cJSON_AddStringToObject(e, "name", name ? name : "");
      cJSON_AddStringToObject(e, "value", val ? val : "");
      cJSON_AddItemToArray(arr, e);
      free(name);
      free(val);
    }
    if (n >= end) break;
    q += n + 1;
    end -= n + 1;
  }
  return arr;
}

static const char *http_version(const cJSON *response) {
  const char *p = pb_json_str(response, "protocol");
  if (!p) return "HTTP/1.1";
  if (!strcasecmp(p, "http/1.0")) return "HTTP/1.0";
  if (!strcasecmp(p, "h2")) return "HTTP/2.0";
  if (!strncasecmp(p, "h3", 2)) return "HTTP/3.0";
  return "HTTP/1.1";
}

static double nonneg(double v) {
  return v > 0 ? v : 0;
}

/* Microsecond precision is all CDP has; the rest is float noise. */
static double ms3(double v) {
  return (double)(long long)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5)) / 1000.0;
}

/* HAR timings from Chrome's ResourceTiming (ms offsets from requestTime). */
static cJSON *har_timings(const pb__trace_netreq *r, double *total) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->response, "timing");
  double blocked = -1, dns = -1, connect = -1, ssl = -1, send = 0, wait = 0, receive = 0;
  if (t) {
    double req_time = pb_json_num(t, "requestTime", 0);
    double ds = pb_json_num(t, "dnsStart", -1), de = pb_json_num(t, "dnsEnd", -1);
    double cs = pb_json_num(t, "connectStart", -1), ce = pb_json_num(t, "connectEnd", -1);
    double ss = pb_json_num(t, "sslStart", -1), se = pb_json_num(t, "sslEnd", -1);
    double ws = pb_json_num(t, "sendStart", 0), we = pb_json_num(t, "sendEnd", 0);
    double rh = pb_json_num(t, "receiveHeadersEnd", 0);
    double first = ds >= 0 ? ds : cs >= 0 ? cs : ws;
    blocked = first > 0 ? first : -1;
    if (ds >= 0 && de >= ds) dns = de - ds;
    if (cs >= 0 && ce >= cs) connect = ce - cs;
    if (ss >= 0 && se >= ss) ssl = se - ss;
    send = nonneg(we - ws);
    wait = nonneg(rh - we);
    if (r->end > 0 && req_time > 0) receive = nonneg((r->end - req_time) * 1000.0 - rh);
  } else if (r->end > 0 && r->start > 0) {
    wait = nonneg((r->end - r->start) * 1000.0);
  }
  *total = nonneg(blocked) + nonneg(dns) + nonneg(connect) + send + wait + receive;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "blocked", ms3(blocked));
  cJSON_AddNumberToObject(o, "dns", ms3(dns));
  cJSON_AddNumberToObject(o, "connect", ms3(connect));
  cJSON_AddNumberToObject(o, "send", ms3(send));
  cJSON_AddNumberToObject(o, "wait", ms3(wait));
  cJSON_AddNumberToObject(o, "receive", ms3(receive));
  cJSON_AddNumberToObject(o, "ssl", ms3(ssl));
  return o;
}

/* One HAR 1.2 entry, with the fields Playwright's viewer reads (_frameref,
 * _monotonicTime, pageref, _transferSize, content._sha1). */
static cJSON *har_entry(const pb__trace_netreq *r) {
  const cJSON *rq = r->request, *rs = r->response;
  const char *url = pb_json_str(rq, "url");
  const char *method = pb_json_str(rq, "method");
  const char *hv = http_version(rs);
  char started[64];
  iso_time(r->wall, started);
  double total;
  cJSON *timings = har_timings(r, &total);

  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "pageref", r->page_id);
  cJSON_AddStringToObject(e, "startedDateTime", started);
  cJSON_AddNumberToObject(e, "time", ms3(total));
  if (r->frame_id) cJSON_AddStringToObject(e, "_frameref", r->frame_id);
  cJSON_AddNumberToObject(e, "_monotonicTime", (double)r->mono);

  cJSON *req = cJSON_AddObjectToObject(e, "request");
  cJSON_AddStringToObject(req, "method", method ? method : "GET");
  cJSON_AddStringToObject(req, "url", url ? url : "");
  cJSON_AddStringToObject(req, "httpVersion", hv);
  cJSON_AddItemToObject(req, "cookies", cJSON_CreateArray()); /* values are secrets */
  const cJSON *rqh = cJSON_GetObjectItemCaseSensitive(rq, "headers");
  cJSON_AddItemToObject(req, "headers", har_headers(rqh));
  cJSON_AddItemToObject(req, "queryString", query_string(url));
  const char *post = pb_json_str(rq, "postData");
  if (post) {
    const char *ct = header_value(rqh, "content-type");
    cJSON *pd = cJSON_AddObjectToObject(req, "postData");
    cJSON_AddStringToObject(pd, "mimeType", ct ? ct : "application/octet-stream");
    cJSON_AddStringToObject(pd, "text", post);
  }
  cJSON_AddNumberToObject(req, "headersSize", -1);
  cJSON_AddNumberToObject(req, "bodySize", post ? (double)strlen(post) : 0);

  cJSON *res = cJSON_AddObjectToObject(e, "response");
  const cJSON *rsh = cJSON_GetObjectItemCaseSensitive(rs, "headers");
  int status = rs ? (int)pb_json_num(rs, "status", -1) : -1;
  const char *st = pb_json_str(rs, "statusText");
  const char *mime = pb_json_str(rs, "mimeType");
  const char *loc = status >= 300 && status < 400 ? header_value(rsh, "location") : NULL;
  cJSON_AddNumberToObject(res, "status", status);
  cJSON_AddStringToObject(res, "statusText", st ? st : "");
  cJSON_AddStringToObject(res, "httpVersion", hv);
  cJSON_AddItemToObject(res, "cookies", cJSON_CreateArray());
  cJSON_AddItemToObject(res, "headers", har_headers(rsh));
  cJSON *content = cJSON_AddObjectToObject(res, "content");
  cJSON_AddNumberToObject(content, "size", r->has_body ? (double)r->body_len : -1);
  cJSON_AddStringToObject(content, "mimeType", mime && *mime ? mime : "x-unknown");
  if (r->has_body) cJSON_AddStringToObject(content, "_sha1", r->body_sha1);
  cJSON_AddStringToObject(res, "redirectURL", loc ? loc : "");
  cJSON_AddNumberToObject(res, "headersSize", -1);
  cJSON_AddNumberToObject(res, "bodySize", -1);
  cJSON_AddNumberToObject(res, "_transferSize", r->encoded_len);
  if (r->failure) cJSON_AddStringToObject(res, "_failureText", r->failure);

  cJSON_AddItemToObject(e, "cache", cJSON_CreateObject());
  cJSON_AddItemToObject(e, "timings", timings);
  const char *ip = pb_json_str(rs, "remoteIPAddress");
  if (ip) cJSON_AddStringToObject(e, "serverIPAddress", ip);
  if (rs && cJSON_GetObjectItemCaseSensitive(rs, "remotePort"))
    cJSON_AddNumberToObject(e, "_serverPort", pb_json_num(rs, "remotePort", 0));
  if (r->canceled) cJSON_AddTrueToObject(e, "_wasAborted");
  return e;
}

int pb__trace_write_har(pb__trace_writer *w, char **har_out, size_t *har_len) {
  const pb_trace *t = w->t;
  cJSON *har = cJSON_CreateObject();
  cJSON *log = cJSON_AddObjectToObject(har, "log");
  cJSON_AddStringToObject(log, "version", "1.2");
  cJSON *creator = cJSON_AddObjectToObject(log, "creator");
  cJSON_AddStringToObject(creator, "name", "ppod-browser");
  cJSON_AddStringToObject(creator, "version", "1");
  cJSON *browser = cJSON_AddObjectToObject(log, "browser");
  cJSON_AddStringToObject(browser, "name", "chromium");
  cJSON_AddStringToObject(browser, "version", t->browser_version ? t->browser_version : "");
  cJSON *pages = cJSON_AddArrayToObject(log, "pages");
  char started[64];
  iso_time((double)w->t0 / 1000.0, started);
  for (size_t i = 0; i < w->npages; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "startedDateTime", started);
    cJSON_AddStringToObject(p, "id", w->pages[i].id);
    cJSON_AddStringToObject(p, "title", t->title ? t->title : "");
    cJSON *pt = cJSON_AddObjectToObject(p, "pageTimings");
    cJSON_AddNumberToObject(pt, "onContentLoad", -1);
    cJSON_AddNumberToObject(pt, "onLoad", -1);
    cJSON_AddItemToArray(pages, p);
  }
  cJSON *entries = cJSON_AddArrayToObject(log, "entries");
  int rc = 0;
  for (size_t i = 0; i < w->nreqs && !rc; i++) {
    cJSON *e = har_entry(&w->reqs[i]);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "type", "resource-snapshot");
    cJSON_AddItemToObject(ev, "snapshot", cJSON_Duplicate(e, 1));
    rc = pb__trace_emit(&w->network, ev);
    cJSON_AddItemToArray(entries, e);
  }
  if (!rc) {
    *har_out = cJSON_PrintUnformatted(har);
    if (!*har_out)
      rc = PB_ENOMEM;
    else
      *har_len = strlen(*har_out);
  }
  cJSON_Delete(har);
  return rc;
}
