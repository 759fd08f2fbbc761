/* The Playwright trace writer: replays what was recorded into the zip that
 * Playwright's trace viewer opens (trace.trace, trace.network, resources/),
 * with chrome-trace.json for DevTools/Perfetto, network.har (har.c) and
 * cdp.jsonl, all redacted (redact.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "trace/internal.h"

/* The Playwright trace format version written. 8 is the oldest that has
 * everything used here (before.title); the viewer upgrades it (sha1 fields to
 * resources/ paths), and viewers from older Playwright releases accept it. */
#define TRACE_FORMAT_VERSION 8

static void sha1_hex(const unsigned char *data, size_t len, char out[41]) {
  unsigned char md[PB_SHA1_LEN];
  pb_sha1(data, len, md);
  pb_hex(md, sizeof(md), out);
}

static int grow(void **arr, size_t *alloc, size_t n, size_t elem) {
  if (n < *alloc) return 0;
  size_t na = *alloc ? *alloc * 2 : 16;
  void *p = realloc(*arr, na * elem);
  if (!p) return PB_ENOMEM;
  memset((char *)p + *alloc * elem, 0, (na - *alloc) * elem);
  *arr = p;
  *alloc = na;
  return 0;
}

/* Takes ownership of data (malloc'd) whatever happens. Content-addressed
 * files already present are not added twice. */
static int add_file(pb__trace_writer *w, const char *name, unsigned char *data, size_t len,
                    int store) {
  for (size_t i = 0; i < w->nfiles; i++) {
    if (!strcmp(w->files[i].name, name)) {
      free(data);
      return 0;
    }
  }
  int rc = grow((void **)&w->files, &w->afiles, w->nfiles, sizeof(pb__zfile));
  char *n = rc ? NULL : strdup(name);
  if (!n) {
    free(data);
    return PB_ENOMEM;
  }
  w->files[w->nfiles++] = (pb__zfile){n, data, len, store};
  return 0;
}

int pb__trace_emit(pb_buf *b, cJSON *ev) {
  if (!ev) return PB_ENOMEM;
  char *s = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  if (!s) return PB_ENOMEM;
  int rc = pb_buf_append(b, s, strlen(s));
  if (!rc) rc = pb_buf_append(b, "\n", 1);
  free(s);
  return rc;
}

/* A page per CDP session (flattened targets); "" is the sessionless pipe.
 * The first page seen is page@1, which actions are attributed to. */
static int page_for(pb__trace_writer *w, const char *session, int64_t ts, const char **id) {
  if (!session) session = "";
  for (size_t i = 0; i < w->npages; i++) {
    if (!strcmp(w->pages[i].session, session)) {
      *id = w->pages[i].id;
      return 0;
    }
  }
  int rc = grow((void **)&w->pages, &w->apages, w->npages, sizeof(pb__trace_page));
  if (rc) return rc;
  pb__trace_page *p = &w->pages[w->npages];
  p->session = strdup(session);
  if (!p->session) return PB_ENOMEM;
  snprintf(p->id, sizeof(p->id), "page@%zu", w->npages + 1);
  w->npages++;
  *id = p->id;
  cJSON *ev = cJSON_CreateObject();
  cJSON *params = cJSON_AddObjectToObject(ev, "params");
  cJSON_AddStringToObject(ev, "type", "event");
  cJSON_AddNumberToObject(ev, "time", (double)ts);
  cJSON_AddStringToObject(ev, "class", "BrowserContext");
  cJSON_AddStringToObject(ev, "method", "page");
  cJSON_AddStringToObject(params, "pageId", p->id);
  return pb__trace_emit(&w->trace, ev);
}

static pb__trace_netreq *find_req(pb__trace_writer *w, const char *session,
                                  const char *request_id) {
  if (!request_id) return NULL;
  if (!session) session = "";
  for (size_t i = w->nreqs; i-- > 0;) {
    if (!strcmp(w->reqs[i].request_id, request_id) && !strcmp(w->reqs[i].session, session))
      return &w->reqs[i];
  }
  return NULL;
}

static cJSON *dup_item(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return v ? cJSON_Duplicate(v, 1) : NULL;
}

static int on_request(pb__trace_writer *w, const char *session, const cJSON *p, int64_t ts) {
  const char *rid = pb_json_str(p, "requestId");
  if (!rid) return 0;
  pb__trace_netreq *prev = find_req(w, session, rid);
  const cJSON *redirect = cJSON_GetObjectItemCaseSensitive(p, "redirectResponse");
  if (prev && redirect && !prev->response) {
    /* The redirect's response ends the previous hop. */
    prev->response = cJSON_Duplicate(redirect, 1);
    prev->end = pb_json_num(p, "timestamp", 0);
  }
  const char *page_id;
  int rc = page_for(w, session, ts, &page_id);
  if (rc) return rc;
  rc = grow((void **)&w->reqs, &w->areqs, w->nreqs, sizeof(pb__trace_netreq));
  if (rc) return rc;
  pb__trace_netreq *r = &w->reqs[w->nreqs];
  memset(r, 0, sizeof(*r));
  r->session = strdup(session ? session : "");
  r->request_id = strdup(rid);
  r->request = dup_item(p, "request");
  const char *frame = pb_json_str(p, "frameId");
  r->frame_id = frame ? strdup(frame) : NULL;
  if (!r->session || !r->request_id || !r->request || (frame && !r->frame_id)) {
    free(r->session), free(r->request_id), free(r->frame_id);
    cJSON_Delete(r->request);
    return PB_ENOMEM;
  }
  pb_strlcpy(r->page_id, page_id, sizeof(r->page_id));
  r->mono = ts;
  r->wall = pb_json_num(p, "wallTime", (double)ts / 1000.0);
  r->start = pb_json_num(p, "timestamp", 0);
  r->encoded_len = -1;
  w->nreqs++;
  return 0;
}

static void on_response(pb__trace_writer *w, const char *session, const cJSON *p) {
  pb__trace_netreq *r = find_req(w, session, pb_json_str(p, "requestId"));
  if (!r) return;
  cJSON_Delete(r->response);
  r->response = dup_item(p, "response");
}

static void on_finished(pb__trace_writer *w, const char *session, const cJSON *p, int failed) {
  pb__trace_netreq *r = find_req(w, session, pb_json_str(p, "requestId"));
  if (!r) return;
  r->end = pb_json_num(p, "timestamp", 0);
  if (!failed) {
    r->encoded_len = pb_json_num(p, "encodedDataLength", -1);
    return;
  }
  const char *err = pb_json_str(p, "errorText");
  free(r->failure);
  r->failure = strdup(err ? err : "failed");
  const cJSON *canceled = cJSON_GetObjectItemCaseSensitive(p, "canceled");
  r->canceled = cJSON_IsTrue(canceled);
}

static int on_body(pb__trace_writer *w, const pb__trace_pending *pd, const cJSON *result) {
  pb__trace_netreq *r = find_req(w, pd->session, pd->request_id);
  const char *body = pb_json_str(result, "body");
  if (!r || !body) return 0;
  unsigned char *bytes = NULL;
  size_t n = 0;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "base64Encoded"))) {
    if (pb_base64_decode(body, strlen(body), &bytes, &n)) return 0; /* not base64: skip it */
  } else {
    n = strlen(body);
    bytes = (unsigned char *)pb__trace_memdup0(body, n);
    if (!bytes) return PB_ENOMEM;
  }
  char name[64];
  sha1_hex(bytes, n, r->body_sha1);
  snprintf(name, sizeof(name), "resources/%s", r->body_sha1);
  r->has_body = 1;
  r->body_len = n;
  return add_file(w, name, bytes, n, 0);
}

static int on_screencast(pb__trace_writer *w, const char *session, const cJSON *p, int64_t ts) {
  const char *data = pb_json_str(p, "data");
  if (!data) return 0;
  unsigned char *jpeg;
  size_t n;
  if (pb_base64_decode(data, strlen(data), &jpeg, &n)) return 0; /* a bad frame: skip it */
  char sha1[41], file[64], name[80];
  sha1_hex(jpeg, n, sha1);
  snprintf(file, sizeof(file), "%s.jpeg", sha1);
  snprintf(name, sizeof(name), "resources/%s", file);
  int rc = add_file(w, name, jpeg, n, 1);
  const char *page_id;
  if (!rc) rc = page_for(w, session, ts, &page_id);
  if (rc) return rc;
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(p, "metadata");
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "screencast-frame");
  cJSON_AddStringToObject(ev, "pageId", page_id);
  cJSON_AddStringToObject(ev, "sha1", file);
  cJSON_AddNumberToObject(ev, "width", (int)(pb_json_num(meta, "deviceWidth", 0) + 0.5));
  cJSON_AddNumberToObject(ev, "height", (int)(pb_json_num(meta, "deviceHeight", 0) + 0.5));
  cJSON_AddNumberToObject(ev, "timestamp", (double)ts);
  return pb__trace_emit(&w->trace, ev);
}

/* A frame the session's frame source gave (pb_trace_frame): the same entry
 * as a quick action's screencast, on a page of its own per tab. */
static int on_frame(pb__trace_writer *w, const pb__trace_rec *r) {
  unsigned char *jpeg = malloc(r->len);
  if (!jpeg) return PB_ENOMEM;
  memcpy(jpeg, r->s, r->len);
  char sha1[41], file[64], name[80], key[96];
  sha1_hex(jpeg, r->len, sha1);
  snprintf(file, sizeof(file), "%s.jpeg", sha1);
  snprintf(name, sizeof(name), "resources/%s", file);
  int rc = add_file(w, name, jpeg, r->len, 1);
  const char *page_id;
  snprintf(key, sizeof(key), "tab:%s", r->params ? r->params : "");
  if (!rc) rc = page_for(w, key, r->ts, &page_id);
  if (rc) return rc;
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "screencast-frame");
  cJSON_AddStringToObject(ev, "pageId", page_id);
  cJSON_AddStringToObject(ev, "sha1", file);
  cJSON_AddNumberToObject(ev, "width", r->w);
  cJSON_AddNumberToObject(ev, "height", r->h);
  cJSON_AddNumberToObject(ev, "timestamp", (double)r->ts);
  return pb__trace_emit(&w->trace, ev);
}

/* The text Chrome's console shows for one Runtime.RemoteObject. */
static int remote_object_text(pb_buf *b, const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
  if (cJSON_IsString(v)) return pb_buf_append(b, v->valuestring, strlen(v->valuestring));
  const char *s = pb_json_str(o, "unserializableValue");
  if (!s) s = pb_json_str(o, "description");
  if (s) return pb_buf_append(b, s, strlen(s));
  if (v) {
    char *p = cJSON_PrintUnformatted(v);
    if (!p) return PB_ENOMEM;
    int rc = pb_buf_append(b, p, strlen(p));
    free(p);
    return rc;
  }
  s = pb_json_str(o, "type");
  return pb_buf_append(b, s ? s : "undefined", strlen(s ? s : "undefined"));
}

static cJSON *location_of(const cJSON *stack) {
  const cJSON *frames = cJSON_GetObjectItemCaseSensitive(stack, "callFrames");
  const cJSON *f = cJSON_GetArrayItem(frames, 0);
  const char *url = pb_json_str(f, "url");
  cJSON *loc = cJSON_CreateObject();
  cJSON_AddStringToObject(loc, "url", url ? url : "");
  cJSON_AddNumberToObject(loc, "lineNumber", pb_json_num(f, "lineNumber", 0));
  cJSON_AddNumberToObject(loc, "columnNumber", pb_json_num(f, "columnNumber", 0));
  return loc;
}

static int on_console(pb__trace_writer *w, const char *session, const cJSON *p, int64_t ts) {
  pb_buf text;
  pb_buf_init(&text, 1 << 20);
  const cJSON *arg;
  int rc = 0, first = 1;
  cJSON_ArrayForEach(arg, cJSON_GetObjectItemCaseSensitive(p, "args")) {
    if (!first) rc = pb_buf_append(&text, " ", 1);
    if (!rc) rc = remote_object_text(&text, arg);
    if (rc == PB_ETOOBIG) rc = 0; /* keep what fits */
    if (rc) break;
    first = 0;
  }
  const char *page_id;
  if (!rc) rc = page_for(w, session, ts, &page_id);
  if (rc) {
    pb_buf_free(&text);
    return rc;
  }
  const char *type = pb_json_str(p, "type");
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "console");
  cJSON_AddNumberToObject(ev, "time", (double)ts);
  cJSON_AddStringToObject(ev, "pageId", page_id);
  cJSON_AddStringToObject(ev, "messageType", type ? type : "log");
  cJSON_AddStringToObject(ev, "text", text.data ? text.data : "");
  cJSON_AddItemToObject(ev, "location",
                        location_of(cJSON_GetObjectItemCaseSensitive(p, "stackTrace")));
  pb_buf_free(&text);
  return pb__trace_emit(&w->trace, ev);
}

static int on_exception(pb__trace_writer *w, const char *session, const cJSON *p, int64_t ts) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "exceptionDetails");
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(d, "exception");
  const char *desc = pb_json_str(ex, "description");
  const char *text = pb_json_str(d, "text");
  const char *name = pb_json_str(ex, "className");
  const char *page_id;
  int rc = page_for(w, session, ts, &page_id);
  if (rc) return rc;
  /* description is "Name: message\n    at ..."; the message is its first line
   * without the name. */
  char *msg = strdup(desc ? desc : text ? text : "Uncaught exception");
  if (!msg) return PB_ENOMEM;
  char *nl = strchr(msg, '\n');
  if (nl) *nl = '\0';
  size_t skip = 0;
  if (name && !strncmp(msg, name, strlen(name)) && !strncmp(msg + strlen(name), ": ", 2))
    skip = strlen(name) + 2;
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "event");
  cJSON_AddNumberToObject(ev, "time", (double)ts);
  cJSON_AddStringToObject(ev, "class", "BrowserContext");
  cJSON_AddStringToObject(ev, "method", "pageError");
  cJSON *params = cJSON_AddObjectToObject(ev, "params");
  cJSON *err = cJSON_AddObjectToObject(cJSON_AddObjectToObject(params, "error"), "error");
  cJSON_AddStringToObject(err, "name", name ? name : "Error");
  cJSON_AddStringToObject(err, "message", msg + skip);
  cJSON_AddStringToObject(err, "stack", desc ? desc : msg);
  cJSON_AddStringToObject(ev, "pageId", page_id);
  free(msg);
  return pb__trace_emit(&w->trace, ev);
}

static int on_trace_data(pb__trace_writer *w, const cJSON *p) {
  const cJSON *ev;
  cJSON_ArrayForEach(ev, cJSON_GetObjectItemCaseSensitive(p, "value")) {
    char *s = cJSON_PrintUnformatted(ev);
    if (!s) return PB_ENOMEM;
    int rc = w->chrome_events++ ? pb_buf_append(&w->chrome, ",\n", 2) : 0;
    if (!rc) rc = pb_buf_append(&w->chrome, s, strlen(s));
    free(s);
    if (rc) return rc;
  }
  return 0;
}

static int note_send(pb__trace_writer *w, const char *session, const cJSON *msg) {
  const char *m = pb_json_str(msg, "method");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const char *rid = pb_json_str(cJSON_GetObjectItemCaseSensitive(msg, "params"), "requestId");
  if (!m || strcmp(m, "Network.getResponseBody") || !cJSON_IsNumber(id) || !rid) return 0;
  int rc = grow((void **)&w->pend, &w->apend, w->npend, sizeof(pb__trace_pending));
  if (rc) return rc;
  pb__trace_pending *pd = &w->pend[w->npend];
  pd->session = strdup(session ? session : "");
  pd->request_id = strdup(rid);
  pd->id = id->valueint;
  if (!pd->session || !pd->request_id) {
    free(pd->session), free(pd->request_id);
    return PB_ENOMEM;
  }
  w->npend++;
  return 0;
}

static int on_reply(pb__trace_writer *w, const char *session, const cJSON *msg) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  if (!cJSON_IsNumber(id)) return 0;
  for (size_t i = 0; i < w->npend; i++) {
    pb__trace_pending *pd = &w->pend[i];
    if (pd->id == id->valueint && !strcmp(pd->session, session ? session : ""))
      return on_body(w, pd, cJSON_GetObjectItemCaseSensitive(msg, "result"));
  }
  return 0;
}

static int on_event(pb__trace_writer *w, const char *session, const cJSON *msg, int64_t ts) {
  const char *m = pb_json_str(msg, "method");
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!m || !cJSON_IsObject(p)) return 0;
  if (!strcmp(m, "Network.requestWillBeSent")) return on_request(w, session, p, ts);
  if (!strcmp(m, "Network.responseReceived"))
    on_response(w, session, p);
  else if (!strcmp(m, "Network.loadingFinished"))
    on_finished(w, session, p, 0);
  else if (!strcmp(m, "Network.loadingFailed"))
    on_finished(w, session, p, 1);
  else if (!strcmp(m, "Page.screencastFrame"))
    return on_screencast(w, session, p, ts);
  else if (!strcmp(m, "Runtime.consoleAPICalled"))
    return on_console(w, session, p, ts);
  else if (!strcmp(m, "Runtime.exceptionThrown"))
    return on_exception(w, session, p, ts);
  else if (!strcmp(m, "Tracing.dataCollected"))
    return on_trace_data(w, p);
  return 0;
}

static int on_cdp(pb__trace_writer *w, const pb__trace_rec *r) {
  cJSON *msg = cJSON_ParseWithLength(r->s, r->len);
  const char *dir = r->dir == PB_TRACE_TO_BROWSER ? "send" : "recv";
  int rc = 0;
  if (!cJSON_IsObject(msg)) {
    /* Kept as a size only: unparsed text could hold anything. */
    cJSON_Delete(msg);
    return pb_buf_printf(&w->cdp, "{\"ts\":%lld,\"dir\":\"%s\",\"unparsed\":\"[%zu bytes]\"}\n",
                         (long long)r->ts, dir, r->len);
  }
  pb__trace_redact_message(msg);
  const char *session = pb_json_str(msg, "sessionId");
  if (r->dir == PB_TRACE_TO_BROWSER)
    rc = note_send(w, session, msg);
  else if (cJSON_GetObjectItemCaseSensitive(msg, "method"))
    rc = on_event(w, session, msg, r->ts);
  else
    rc = on_reply(w, session, msg);
  if (rc) {
    cJSON_Delete(msg);
    return rc;
  }
  pb__trace_elide_message(msg);
  cJSON *line = cJSON_CreateObject();
  cJSON_AddNumberToObject(line, "ts", (double)r->ts);
  cJSON_AddStringToObject(line, "dir", dir);
  cJSON_AddItemToObject(line, "msg", msg);
  return pb__trace_emit(&w->cdp, line);
}

/* "page.goto" -> class Frame, method goto: Playwright's own class for the
 * call, so the viewer finds its title template and icon. */
static void split_api(const char *api, char *cls, size_t clen, char *method, size_t mlen) {
  static const char *page_methods[] = {"screenshot",   "pdf",    "setViewportSize", "close",
                                       "reload",       "goBack", "goForward",       "emulateMedia",
                                       "bringToFront", NULL};
  const char *dot = strrchr(api, '.');
  pb_strlcpy(method, dot ? dot + 1 : api, mlen);
  const char *c = "Frame";
  if (!strncmp(api, "page.", 5)) {
    for (int i = 0; page_methods[i]; i++)
      if (!strcmp(method, page_methods[i])) c = "Page";
  } else if (dot && strncmp(api, "locator.", 8) && strncmp(api, "frame.", 6)) {
    c = "Page"; /* raw CDP commands ("Page.navigate") and other domains */
  }
  pb_strlcpy(cls, c, clen);
}

static int on_begin(pb__trace_writer *w, const pb__trace_rec *r) {
  char cls[16], method[64], call[32];
  split_api(r->s, cls, sizeof(cls), method, sizeof(method));
  snprintf(call, sizeof(call), "call@%d", r->id);
  cJSON *params = r->params ? cJSON_Parse(r->params) : NULL;
  if (!params) params = cJSON_CreateObject();
  pb__trace_redact_tree(params);
  pb__trace_elide_tree(params);
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "before");
  cJSON_AddStringToObject(ev, "callId", call);
  cJSON_AddNumberToObject(ev, "startTime", (double)r->ts);
  cJSON_AddStringToObject(ev, "title", r->s);
  cJSON_AddStringToObject(ev, "class", cls);
  cJSON_AddStringToObject(ev, "method", method);
  cJSON_AddItemToObject(ev, "params", params);
  cJSON_AddStringToObject(ev, "pageId", "page@1");
  return pb__trace_emit(&w->trace, ev);
}

static int emit_after(pb__trace_writer *w, int id, int64_t ts, const char *error) {
  char call[32];
  snprintf(call, sizeof(call), "call@%d", id);
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "after");
  cJSON_AddStringToObject(ev, "callId", call);
  cJSON_AddNumberToObject(ev, "endTime", (double)ts);
  if (error) {
    cJSON *e = cJSON_AddObjectToObject(ev, "error");
    cJSON_AddStringToObject(e, "name", "Error");
    cJSON_AddStringToObject(e, "message", error);
  }
  return pb__trace_emit(&w->trace, ev);
}

static int add_buf(pb__trace_writer *w, const char *name, pb_buf *b) {
  size_t n;
  char *d = pb_buf_steal(b, &n);
  if (!d) return PB_ENOMEM;
  return add_file(w, name, (unsigned char *)d, n, 0);
}

static int context_options(pb__trace_writer *w) {
  const pb_trace *t = w->t;
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddNumberToObject(ev, "version", TRACE_FORMAT_VERSION);
  cJSON_AddStringToObject(ev, "type", "context-options");
  cJSON_AddStringToObject(ev, "origin", "library");
  cJSON_AddStringToObject(ev, "browserName", "chromium");
#if defined(__APPLE__)
  cJSON_AddStringToObject(ev, "platform", "darwin");
#else
  cJSON_AddStringToObject(ev, "platform", "linux");
#endif
  /* Times throughout are the recorded wall-clock ms, used as the monotonic
   * clock too: the viewer only subtracts them, and treats 0 as "unset". */
  cJSON_AddNumberToObject(ev, "wallTime", (double)w->t0);
  cJSON_AddNumberToObject(ev, "monotonicTime", (double)w->t0);
  cJSON_AddStringToObject(ev, "sdkLanguage", "javascript");
  if (t->title) cJSON_AddStringToObject(ev, "title", t->title);
  cJSON *opts = cJSON_AddObjectToObject(ev, "options");
  if (t->vw > 0) {
    cJSON *vp = cJSON_AddObjectToObject(opts, "viewport");
    cJSON_AddNumberToObject(vp, "width", t->vw);
    cJSON_AddNumberToObject(vp, "height", t->vh);
  }
  if (t->user_agent) cJSON_AddStringToObject(opts, "userAgent", t->user_agent);
  return pb__trace_emit(&w->trace, ev);
}

static int note_cut(pb__trace_writer *w) {
  const pb_trace *t = w->t;
  char text[256];
  snprintf(text, sizeof(text),
           "This trace was cut: it reached its size cap of %zu bytes, and nothing after that "
           "point was recorded.\n",
           t->cap);
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "stderr");
  cJSON_AddNumberToObject(ev, "timestamp", (double)t->cut_ts);
  cJSON_AddStringToObject(ev, "text", text);
  int rc = pb__trace_emit(&w->trace, ev);
  char *note = strdup(text);
  if (!rc) rc = note ? add_file(w, "NOTE.txt", (unsigned char *)note, strlen(note), 0) : PB_ENOMEM;
  return rc;
}

static void writer_free(pb__trace_writer *w) {
  pb_buf_free(&w->trace);
  pb_buf_free(&w->network);
  pb_buf_free(&w->cdp);
  pb_buf_free(&w->chrome);
  for (size_t i = 0; i < w->nfiles; i++) free(w->files[i].name), free(w->files[i].data);
  free(w->files);
  for (size_t i = 0; i < w->npages; i++) free(w->pages[i].session);
  free(w->pages);
  for (size_t i = 0; i < w->nreqs; i++) {
    pb__trace_netreq *r = &w->reqs[i];
    free(r->session), free(r->request_id), free(r->frame_id), free(r->failure);
    cJSON_Delete(r->request);
    cJSON_Delete(r->response);
  }
  free(w->reqs);
  for (size_t i = 0; i < w->npend; i++) free(w->pend[i].session), free(w->pend[i].request_id);
  free(w->pend);
}

static int write_locked(pb__trace_writer *w, char **zip, size_t *len) {
  pb_trace *t = w->t;
  w->t0 = t->nrecs ? t->recs[0].ts : pb_wall_ms();
  int rc = context_options(w);
  int64_t last = w->t0;
  for (size_t i = 0; i < t->nrecs && !rc; i++) {
    const pb__trace_rec *r = &t->recs[i];
    if (r->ts > last) last = r->ts;
    if (r->kind == REC_CDP)
      rc = on_cdp(w, r);
    else if (r->kind == REC_BEGIN)
      rc = on_begin(w, r);
    else if (r->kind == REC_FRAME)
      rc = on_frame(w, r);
    else
      rc = emit_after(w, r->id, r->ts, r->s);
  }
  /* Actions still running when the trace ended end there, as failures. */
  for (size_t i = 0; i < t->nrecs && !rc; i++) {
    if (t->recs[i].kind != REC_BEGIN) continue;
    int ended = 0;
    for (size_t j = i + 1; j < t->nrecs && !ended; j++)
      ended = t->recs[j].kind == REC_END && t->recs[j].id == t->recs[i].id;
    if (!ended) rc = emit_after(w, t->recs[i].id, last, "did not finish before the trace ended");
  }
  if (!rc && t->cut) rc = note_cut(w);
  char *har = NULL;
  size_t har_len = 0;
  if (!rc) rc = pb__trace_write_har(w, &har, &har_len);
  if (!rc) rc = pb_buf_append(&w->chrome, "]}\n", 3);
  if (!rc) rc = add_buf(w, "trace.trace", &w->trace);
  if (!rc) rc = add_buf(w, "trace.network", &w->network);
  if (!rc)
    rc = har ? add_file(w, "network.har", (unsigned char *)har, har_len, 0) : PB_ENOMEM;
  else
    free(har);
  if (!rc) rc = add_buf(w, "chrome-trace.json", &w->chrome);
  if (!rc) rc = add_buf(w, "cdp.jsonl", &w->cdp);
  if (!rc) rc = pb__trace_zip(w->files, w->nfiles, zip, len);
  return rc;
}

int pb_trace_write_zip(pb_trace *t, char **zip, size_t *len) {
  if (!t || !zip || !len) return PB_EINVAL;
  pb__trace_writer w;
  memset(&w, 0, sizeof(w));
  w.t = t;
  /* Everything written derives from what was recorded (bounded by the cap):
   * a generous multiple of it bounds each output. */
  size_t out_cap = t->cap > SIZE_MAX / 4 ? SIZE_MAX : t->cap * 2 + (1u << 20);
  pb_buf_init(&w.trace, out_cap);
  pb_buf_init(&w.network, out_cap);
  pb_buf_init(&w.cdp, out_cap);
  pb_buf_init(&w.chrome, out_cap);
  int rc = pb_buf_append(&w.chrome, "{\"traceEvents\":[\n", 17);
  pthread_mutex_lock(&t->mu);
  if (!rc) rc = write_locked(&w, zip, len);
  pthread_mutex_unlock(&t->mu);
  writer_free(&w);
  return rc;
}
