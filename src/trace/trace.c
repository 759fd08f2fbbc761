/* Trace writer: records raw CDP messages and actions cheaply (a copy under a
 * mutex), and does all the interpretation at pb_trace_write_zip time, so a
 * trace that is never written costs only its copies. */
#include "trace/trace.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zip.h>

#include "common/pb.h"

/* The Playwright trace format version written. 8 is the oldest that has
 * everything used here (before.title); the viewer upgrades it (sha1 fields to
 * resources/ paths), and viewers from older Playwright releases accept it. */
#define TRACE_FORMAT_VERSION 8
#define REDACTED "[redacted]"
#define PAGE_ID_MAX 32

enum { REC_CDP, REC_BEGIN, REC_END };

typedef struct {
  int kind;
  int dir; /* REC_CDP */
  int id;  /* REC_BEGIN, REC_END */
  int64_t ts;
  char *s; /* CDP JSON, api name or error text (may be NULL for REC_END) */
  size_t len;
  char *params; /* REC_BEGIN: params as JSON, or NULL */
} rec;

struct pb_trace {
  pthread_mutex_t mu;
  size_t cap, used;
  int cut;
  int64_t cut_ts;
  rec *recs;
  size_t nrecs, arecs;
  int next_id;
  char *title, *user_agent, *browser_version;
  int vw, vh;
};

/* ---- recording ---- */

int pb_trace_new(size_t cap_bytes, pb_trace **out) {
  if (!out || cap_bytes == 0) return PB_EINVAL;
  pb_trace *t = calloc(1, sizeof(*t));
  if (!t) return PB_ENOMEM;
  if (pthread_mutex_init(&t->mu, NULL)) {
    free(t);
    return PB_ENOMEM;
  }
  t->cap = cap_bytes;
  t->next_id = 1;
  *out = t;
  return 0;
}

void pb_trace_free(pb_trace *t) {
  if (!t) return;
  for (size_t i = 0; i < t->nrecs; i++) {
    free(t->recs[i].s);
    free(t->recs[i].params);
  }
  free(t->recs);
  free(t->title);
  free(t->user_agent);
  free(t->browser_version);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* Appends r; takes ownership of r->s and r->params, freeing them when the cap
 * is reached (force: records regardless of the cap, for action ends). Called
 * with t->mu held. */
static void push_locked(pb_trace *t, rec *r, int force) {
  size_t cost = r->len + (r->params ? strlen(r->params) : 0) + sizeof(rec);
  if (!force && (t->cut || cost > t->cap - t->used)) {
    if (!t->cut) t->cut_ts = r->ts;
    t->cut = 1;
    goto drop;
  }
  if (t->nrecs == t->arecs) {
    size_t na = t->arecs ? t->arecs * 2 : 64;
    rec *nr = realloc(t->recs, na * sizeof(*nr));
    if (!nr) goto drop;
    t->recs = nr;
    t->arecs = na;
  }
  t->recs[t->nrecs++] = *r;
  t->used += cost < t->cap - t->used ? cost : t->cap - t->used;
  return;
drop:
  free(r->s);
  free(r->params);
}

static char *memdup0(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

void pb_trace_cdp(pb_trace *t, int direction, int64_t ts_ms, const char *json, size_t len) {
  if (!t || !json) return;
  pthread_mutex_lock(&t->mu);
  /* Refuse before copying: a cut trace must not keep paying for copies. */
  if (t->cut || len + sizeof(rec) > t->cap - t->used) {
    if (!t->cut) t->cut_ts = ts_ms;
    t->cut = 1;
    pthread_mutex_unlock(&t->mu);
    return;
  }
  rec r = {.kind = REC_CDP, .dir = direction, .ts = ts_ms, .len = len};
  r.s = memdup0(json, len);
  if (r.s) push_locked(t, &r, 0);
  pthread_mutex_unlock(&t->mu);
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

void pb_trace_meta(pb_trace *t, const char *title, int viewport_w, int viewport_h,
                   const char *user_agent, const char *browser_version) {
  if (!t) return;
  pthread_mutex_lock(&t->mu);
  if (title) free(t->title), t->title = dup_or_null(title);
  if (user_agent) free(t->user_agent), t->user_agent = dup_or_null(user_agent);
  if (browser_version) free(t->browser_version), t->browser_version = dup_or_null(browser_version);
  if (viewport_w > 0 && viewport_h > 0) t->vw = viewport_w, t->vh = viewport_h;
  pthread_mutex_unlock(&t->mu);
}

int pb_trace_action_begin(pb_trace *t, const char *api, const cJSON *params, int64_t ts_ms) {
  if (!t || !api) return 0;
  rec r = {.kind = REC_BEGIN, .ts = ts_ms};
  r.s = strdup(api);
  if (!r.s) return 0;
  r.len = strlen(r.s);
  if (params) r.params = cJSON_PrintUnformatted(params);
  pthread_mutex_lock(&t->mu);
  size_t before = t->nrecs;
  r.id = t->next_id;
  push_locked(t, &r, 0);
  int id = t->nrecs > before ? t->next_id++ : 0;
  pthread_mutex_unlock(&t->mu);
  return id;
}

void pb_trace_action_end(pb_trace *t, int id, int64_t ts_ms, const char *error) {
  if (!t || id <= 0) return;
  rec r = {.kind = REC_END, .id = id, .ts = ts_ms};
  if (error) {
    r.s = strdup(error);
    if (!r.s) return;
    r.len = strlen(r.s);
  }
  pthread_mutex_lock(&t->mu);
  /* Ends are recorded past the cap: their begin was, and an action without
   * an end would show as never finishing. */
  push_locked(t, &r, 1);
  pthread_mutex_unlock(&t->mu);
}

int pb_trace_truncated(pb_trace *t) {
  if (!t) return 0;
  pthread_mutex_lock(&t->mu);
  int cut = t->cut;
  pthread_mutex_unlock(&t->mu);
  return cut;
}

/* ---- SHA-1, for Playwright's content-addressed resources/ ---- */

static uint32_t rol32(uint32_t x, int c) {
  return (x << c) | (x >> (32 - c));
}

static void sha1_block(uint32_t h[5], const unsigned char *p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20)
      f = (b & c) | (~b & d), k = 0x5A827999;
    else if (i < 40)
      f = b ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60)
      f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
    else
      f = b ^ c ^ d, k = 0xCA62C1D6;
    uint32_t tmp = rol32(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol32(b, 30), b = a, a = tmp;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1_hex(const unsigned char *data, size_t len, char out[41]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha1_block(h, data + i);
  unsigned char tail[128] = {0};
  size_t rem = len - i, tl = rem + 9 <= 64 ? 64 : 128;
  if (rem) memcpy(tail, data + i, rem);
  tail[rem] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int j = 0; j < 8; j++) tail[tl - 1 - j] = (unsigned char)(bits >> (8 * j));
  sha1_block(h, tail);
  if (tl == 128) sha1_block(h, tail + 64);
  for (int j = 0; j < 5; j++) snprintf(out + 8 * j, 9, "%08x", (unsigned)h[j]);
}

/* ---- redaction and elision of CDP JSON ---- */

static int secret_header(const char *name) {
  return name && (!strcasecmp(name, "authorization") || !strcasecmp(name, "proxy-authorization") ||
                  !strcasecmp(name, "cookie") || !strcasecmp(name, "set-cookie"));
}

static void set_str(cJSON *item, const char *s) {
  if (cJSON_IsString(item) && item->valuestring && strcmp(item->valuestring, s))
    cJSON_SetValuestring(item, s);
}

/* Raw header blocks ("Name: value" lines) as in headersText. */
static void redact_header_text(cJSON *item) {
  if (!cJSON_IsString(item) || !item->valuestring) return;
  const char *p = item->valuestring;
  pb_buf b;
  pb_buf_init(&b, strlen(p) + 64);
  int changed = 0, rc = 0;
  while (*p && !rc) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
    const char *colon = memchr(p, ':', n);
    char name[64];
    size_t nl = colon ? (size_t)(colon - p) : 0;
    if (colon && nl > 0 && nl < sizeof(name)) {
      memcpy(name, p, nl);
      name[nl] = '\0';
      if (secret_header(name)) {
        changed = 1;
        rc = pb_buf_printf(&b, "%s: " REDACTED "%s", name, eol ? "\r\n" : "");
        p += n;
        continue;
      }
    }
    rc = pb_buf_append(&b, p, n);
    p += n;
  }
  if (changed && !rc && b.data) cJSON_SetValuestring(item, b.data);
  pb_buf_free(&b);
}

/* Cookie objects ({name, value, ...}) keep their names, lose their values. */
static void redact_cookie_obj(cJSON *c) {
  if (!cJSON_IsObject(c)) return;
  set_str(cJSON_GetObjectItemCaseSensitive(c, "value"), REDACTED);
}

/* Walks any CDP message: header maps ({"Cookie": ...}), header entry arrays
 * ([{name, value}]), raw header text, cookie arrays and cookie lines. */
static void redact_tree(cJSON *node) {
  if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return;
  if (cJSON_IsObject(node)) {
    cJSON *nm = cJSON_GetObjectItemCaseSensitive(node, "name");
    if (cJSON_IsString(nm) && secret_header(nm->valuestring))
      set_str(cJSON_GetObjectItemCaseSensitive(node, "value"), REDACTED);
  }
  cJSON *c;
  cJSON_ArrayForEach(c, node) {
    const char *k = cJSON_IsObject(node) ? c->string : NULL;
    if (k && cJSON_IsString(c)) {
      if (secret_header(k) || !strcmp(k, "cookieLine"))
        set_str(c, REDACTED);
      else if (!strcmp(k, "headersText") || !strcmp(k, "requestHeadersText"))
        redact_header_text(c);
      continue;
    }
    if (k && !strcmp(k, "cookie")) redact_cookie_obj(c);
    if (k && !strcmp(k, "cookies") && cJSON_IsArray(c)) {
      cJSON *e;
      cJSON_ArrayForEach(e, c) redact_cookie_obj(e);
    }
    redact_tree(c);
  }
}

static void redact_message(cJSON *msg) {
  redact_tree(msg);
  /* Network.setCookie carries the cookie flat in params. */
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (cJSON_IsString(m) && !strcmp(m->valuestring, "Network.setCookie"))
    redact_cookie_obj(cJSON_GetObjectItemCaseSensitive(msg, "params"));
}

/* Screenshots, screencast frames, bodies and trace chunks are kept elsewhere
 * in the zip (or not at all); cdp.jsonl only says how big they were. */
static void elide_tree(cJSON *node) {
  cJSON *c;
  cJSON_ArrayForEach(c, node) {
    if (cJSON_IsString(c) && c->valuestring) {
      size_t n = strlen(c->valuestring);
      int named = c->string && (!strcmp(c->string, "data") || !strcmp(c->string, "body"));
      if ((named && n > 256) || n > 16384) {
        char note[48];
        snprintf(note, sizeof(note), "[%zu bytes]", n);
        cJSON_SetValuestring(c, note);
      }
    } else {
      elide_tree(c);
    }
  }
}

static void elide_message(cJSON *msg) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (cJSON_IsString(m) && !strcmp(m->valuestring, "Tracing.dataCollected") && params) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(params, "value");
    if (cJSON_IsArray(v)) {
      char note[48];
      snprintf(note, sizeof(note), "[%d events, in chrome-trace.json]", cJSON_GetArraySize(v));
      cJSON_ReplaceItemInObjectCaseSensitive(params, "value", cJSON_CreateString(note));
    }
  }
  elide_tree(msg);
}

/* ---- the writer ---- */

typedef struct {
  char *name;
  unsigned char *data;
  size_t len;
  int store; /* already compressed (JPEG): no deflate */
} zfile;

typedef struct {
  char *session;
  char id[PAGE_ID_MAX];
} page;

typedef struct {
  char *session, *request_id;
  char page_id[PAGE_ID_MAX];
  int64_t mono;       /* record time of requestWillBeSent, ms */
  double wall;        /* CDP wallTime, s */
  double start;       /* CDP timestamp, s */
  double end;         /* loadingFinished/Failed timestamp, s; 0 if none */
  double encoded_len; /* -1 if unknown */
  cJSON *request;     /* owned copies (redacted) */
  cJSON *response;
  char *frame_id;
  char *failure;
  int canceled;
  char body_sha1[41];
  size_t body_len;
  int has_body;
} netreq;

typedef struct {
  char *session;
  int id;
  char *request_id;
} pending;

typedef struct {
  pb_trace *t;
  pb_buf trace, network, cdp, chrome;
  int chrome_events;
  zfile *files;
  size_t nfiles, afiles;
  page *pages;
  size_t npages, apages;
  netreq *reqs;
  size_t nreqs, areqs;
  pending *pend;
  size_t npend, apend;
  int64_t t0;
} writer;

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
static int add_file(writer *w, const char *name, unsigned char *data, size_t len, int store) {
  for (size_t i = 0; i < w->nfiles; i++) {
    if (!strcmp(w->files[i].name, name)) {
      free(data);
      return 0;
    }
  }
  int rc = grow((void **)&w->files, &w->afiles, w->nfiles, sizeof(zfile));
  char *n = rc ? NULL : strdup(name);
  if (!n) {
    free(data);
    return PB_ENOMEM;
  }
  w->files[w->nfiles++] = (zfile){n, data, len, store};
  return 0;
}

static int emit(pb_buf *b, cJSON *ev) {
  if (!ev) return PB_ENOMEM;
  char *s = cJSON_PrintUnformatted(ev);
  cJSON_Delete(ev);
  if (!s) return PB_ENOMEM;
  int rc = pb_buf_append(b, s, strlen(s));
  if (!rc) rc = pb_buf_append(b, "\n", 1);
  free(s);
  return rc;
}

static const char *str_of(const cJSON *obj, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num_of(const cJSON *obj, const char *key, double dflt) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* A page per CDP session (flattened targets); "" is the sessionless pipe.
 * The first page seen is page@1, which actions are attributed to. */
static int page_for(writer *w, const char *session, int64_t ts, const char **id) {
  if (!session) session = "";
  for (size_t i = 0; i < w->npages; i++) {
    if (!strcmp(w->pages[i].session, session)) {
      *id = w->pages[i].id;
      return 0;
    }
  }
  int rc = grow((void **)&w->pages, &w->apages, w->npages, sizeof(page));
  if (rc) return rc;
  page *p = &w->pages[w->npages];
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
  return emit(&w->trace, ev);
}

static netreq *find_req(writer *w, const char *session, const char *request_id) {
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

static int on_request(writer *w, const char *session, const cJSON *p, int64_t ts) {
  const char *rid = str_of(p, "requestId");
  if (!rid) return 0;
  netreq *prev = find_req(w, session, rid);
  const cJSON *redirect = cJSON_GetObjectItemCaseSensitive(p, "redirectResponse");
  if (prev && redirect && !prev->response) {
    /* The redirect's response ends the previous hop. */
    prev->response = cJSON_Duplicate(redirect, 1);
    prev->end = num_of(p, "timestamp", 0);
  }
  const char *page_id;
  int rc = page_for(w, session, ts, &page_id);
  if (rc) return rc;
  rc = grow((void **)&w->reqs, &w->areqs, w->nreqs, sizeof(netreq));
  if (rc) return rc;
  netreq *r = &w->reqs[w->nreqs];
  memset(r, 0, sizeof(*r));
  r->session = strdup(session ? session : "");
  r->request_id = strdup(rid);
  r->request = dup_item(p, "request");
  const char *frame = str_of(p, "frameId");
  r->frame_id = frame ? strdup(frame) : NULL;
  if (!r->session || !r->request_id || !r->request || (frame && !r->frame_id)) {
    free(r->session), free(r->request_id), free(r->frame_id);
    cJSON_Delete(r->request);
    return PB_ENOMEM;
  }
  pb_strlcpy(r->page_id, page_id, sizeof(r->page_id));
  r->mono = ts;
  r->wall = num_of(p, "wallTime", (double)ts / 1000.0);
  r->start = num_of(p, "timestamp", 0);
  r->encoded_len = -1;
  w->nreqs++;
  return 0;
}

static void on_response(writer *w, const char *session, const cJSON *p) {
  netreq *r = find_req(w, session, str_of(p, "requestId"));
  if (!r) return;
  cJSON_Delete(r->response);
  r->response = dup_item(p, "response");
}

static void on_finished(writer *w, const char *session, const cJSON *p, int failed) {
  netreq *r = find_req(w, session, str_of(p, "requestId"));
  if (!r) return;
  r->end = num_of(p, "timestamp", 0);
  if (!failed) {
    r->encoded_len = num_of(p, "encodedDataLength", -1);
    return;
  }
  const char *err = str_of(p, "errorText");
  free(r->failure);
  r->failure = strdup(err ? err : "failed");
  const cJSON *canceled = cJSON_GetObjectItemCaseSensitive(p, "canceled");
  r->canceled = cJSON_IsTrue(canceled);
}

static int on_body(writer *w, const pending *pd, const cJSON *result) {
  netreq *r = find_req(w, pd->session, pd->request_id);
  const char *body = str_of(result, "body");
  if (!r || !body) return 0;
  unsigned char *bytes = NULL;
  size_t n = 0;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "base64Encoded"))) {
    if (pb_base64_decode(body, strlen(body), &bytes, &n)) return 0; /* not base64: skip it */
  } else {
    n = strlen(body);
    bytes = (unsigned char *)memdup0(body, n);
    if (!bytes) return PB_ENOMEM;
  }
  char name[64];
  sha1_hex(bytes, n, r->body_sha1);
  snprintf(name, sizeof(name), "resources/%s", r->body_sha1);
  r->has_body = 1;
  r->body_len = n;
  return add_file(w, name, bytes, n, 0);
}

static int on_screencast(writer *w, const char *session, const cJSON *p, int64_t ts) {
  const char *data = str_of(p, "data");
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
  cJSON_AddNumberToObject(ev, "width", (int)(num_of(meta, "deviceWidth", 0) + 0.5));
  cJSON_AddNumberToObject(ev, "height", (int)(num_of(meta, "deviceHeight", 0) + 0.5));
  cJSON_AddNumberToObject(ev, "timestamp", (double)ts);
  return emit(&w->trace, ev);
}

/* The text Chrome's console shows for one Runtime.RemoteObject. */
static int remote_object_text(pb_buf *b, const cJSON *o) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "value");
  if (cJSON_IsString(v)) return pb_buf_append(b, v->valuestring, strlen(v->valuestring));
  const char *s = str_of(o, "unserializableValue");
  if (!s) s = str_of(o, "description");
  if (s) return pb_buf_append(b, s, strlen(s));
  if (v) {
    char *p = cJSON_PrintUnformatted(v);
    if (!p) return PB_ENOMEM;
    int rc = pb_buf_append(b, p, strlen(p));
    free(p);
    return rc;
  }
  s = str_of(o, "type");
  return pb_buf_append(b, s ? s : "undefined", strlen(s ? s : "undefined"));
}

static cJSON *location_of(const cJSON *stack) {
  const cJSON *frames = cJSON_GetObjectItemCaseSensitive(stack, "callFrames");
  const cJSON *f = cJSON_GetArrayItem(frames, 0);
  const char *url = str_of(f, "url");
  cJSON *loc = cJSON_CreateObject();
  cJSON_AddStringToObject(loc, "url", url ? url : "");
  cJSON_AddNumberToObject(loc, "lineNumber", num_of(f, "lineNumber", 0));
  cJSON_AddNumberToObject(loc, "columnNumber", num_of(f, "columnNumber", 0));
  return loc;
}

static int on_console(writer *w, const char *session, const cJSON *p, int64_t ts) {
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
  const char *type = str_of(p, "type");
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "console");
  cJSON_AddNumberToObject(ev, "time", (double)ts);
  cJSON_AddStringToObject(ev, "pageId", page_id);
  cJSON_AddStringToObject(ev, "messageType", type ? type : "log");
  cJSON_AddStringToObject(ev, "text", text.data ? text.data : "");
  cJSON_AddItemToObject(ev, "location",
                        location_of(cJSON_GetObjectItemCaseSensitive(p, "stackTrace")));
  pb_buf_free(&text);
  return emit(&w->trace, ev);
}

static int on_exception(writer *w, const char *session, const cJSON *p, int64_t ts) {
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(p, "exceptionDetails");
  const cJSON *ex = cJSON_GetObjectItemCaseSensitive(d, "exception");
  const char *desc = str_of(ex, "description");
  const char *text = str_of(d, "text");
  const char *name = str_of(ex, "className");
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
  return emit(&w->trace, ev);
}

static int on_trace_data(writer *w, const cJSON *p) {
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

static int note_send(writer *w, const char *session, const cJSON *msg) {
  const char *m = str_of(msg, "method");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const char *rid = str_of(cJSON_GetObjectItemCaseSensitive(msg, "params"), "requestId");
  if (!m || strcmp(m, "Network.getResponseBody") || !cJSON_IsNumber(id) || !rid) return 0;
  int rc = grow((void **)&w->pend, &w->apend, w->npend, sizeof(pending));
  if (rc) return rc;
  pending *pd = &w->pend[w->npend];
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

static int on_reply(writer *w, const char *session, const cJSON *msg) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  if (!cJSON_IsNumber(id)) return 0;
  for (size_t i = 0; i < w->npend; i++) {
    pending *pd = &w->pend[i];
    if (pd->id == id->valueint && !strcmp(pd->session, session ? session : ""))
      return on_body(w, pd, cJSON_GetObjectItemCaseSensitive(msg, "result"));
  }
  return 0;
}

static int on_event(writer *w, const char *session, const cJSON *msg, int64_t ts) {
  const char *m = str_of(msg, "method");
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

static int on_cdp(writer *w, const rec *r) {
  cJSON *msg = cJSON_ParseWithLength(r->s, r->len);
  const char *dir = r->dir == PB_TRACE_TO_BROWSER ? "send" : "recv";
  int rc = 0;
  if (!cJSON_IsObject(msg)) {
    /* Kept as a size only: unparsed text could hold anything. */
    cJSON_Delete(msg);
    return pb_buf_printf(&w->cdp, "{\"ts\":%lld,\"dir\":\"%s\",\"unparsed\":\"[%zu bytes]\"}\n",
                         (long long)r->ts, dir, r->len);
  }
  redact_message(msg);
  const char *session = str_of(msg, "sessionId");
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
  elide_message(msg);
  cJSON *line = cJSON_CreateObject();
  cJSON_AddNumberToObject(line, "ts", (double)r->ts);
  cJSON_AddStringToObject(line, "dir", dir);
  cJSON_AddItemToObject(line, "msg", msg);
  return emit(&w->cdp, line);
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

static int on_begin(writer *w, const rec *r) {
  char cls[16], method[64], call[32];
  split_api(r->s, cls, sizeof(cls), method, sizeof(method));
  snprintf(call, sizeof(call), "call@%d", r->id);
  cJSON *params = r->params ? cJSON_Parse(r->params) : NULL;
  if (!params) params = cJSON_CreateObject();
  redact_tree(params);
  elide_tree(params);
  cJSON *ev = cJSON_CreateObject();
  cJSON_AddStringToObject(ev, "type", "before");
  cJSON_AddStringToObject(ev, "callId", call);
  cJSON_AddNumberToObject(ev, "startTime", (double)r->ts);
  cJSON_AddStringToObject(ev, "title", r->s);
  cJSON_AddStringToObject(ev, "class", cls);
  cJSON_AddStringToObject(ev, "method", method);
  cJSON_AddItemToObject(ev, "params", params);
  cJSON_AddStringToObject(ev, "pageId", "page@1");
  return emit(&w->trace, ev);
}

static int emit_after(writer *w, int id, int64_t ts, const char *error) {
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
  return emit(&w->trace, ev);
}

/* ---- HAR ---- */

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
      char *name = memdup0(q, nl);
      char *val = eq ? memdup0(eq + 1, n - nl - 1) : strdup("");
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
  const char *p = str_of(response, "protocol");
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
static cJSON *har_timings(const netreq *r, double *total) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->response, "timing");
  double blocked = -1, dns = -1, connect = -1, ssl = -1, send = 0, wait = 0, receive = 0;
  if (t) {
    double req_time = num_of(t, "requestTime", 0);
    double ds = num_of(t, "dnsStart", -1), de = num_of(t, "dnsEnd", -1);
    double cs = num_of(t, "connectStart", -1), ce = num_of(t, "connectEnd", -1);
    double ss = num_of(t, "sslStart", -1), se = num_of(t, "sslEnd", -1);
    double ws = num_of(t, "sendStart", 0), we = num_of(t, "sendEnd", 0);
    double rh = num_of(t, "receiveHeadersEnd", 0);
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
static cJSON *har_entry(const netreq *r) {
  const cJSON *rq = r->request, *rs = r->response;
  const char *url = str_of(rq, "url");
  const char *method = str_of(rq, "method");
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
  const char *post = str_of(rq, "postData");
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
  int status = rs ? (int)num_of(rs, "status", -1) : -1;
  const char *st = str_of(rs, "statusText");
  const char *mime = str_of(rs, "mimeType");
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
  const char *ip = str_of(rs, "remoteIPAddress");
  if (ip) cJSON_AddStringToObject(e, "serverIPAddress", ip);
  if (rs && cJSON_GetObjectItemCaseSensitive(rs, "remotePort"))
    cJSON_AddNumberToObject(e, "_serverPort", num_of(rs, "remotePort", 0));
  if (r->canceled) cJSON_AddTrueToObject(e, "_wasAborted");
  return e;
}

static int write_network(writer *w, char **har_out, size_t *har_len) {
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
    rc = emit(&w->network, ev);
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

/* ---- zip ---- */

static int zip_out(writer *w, char **zip, size_t *len) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  if (!src) return PB_ENOMEM;
  zip_source_keep(src);
  zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  int rc = 0;
  if (!za) {
    rc = PB_EIO;
    goto out;
  }
  for (size_t i = 0; i < w->nfiles; i++) {
    zfile *f = &w->files[i];
    if (!f->len) {
      /* libzip does not free an empty buffer it was handed. */
      free(f->data);
      f->data = NULL;
    }
    zip_source_t *s = zip_source_buffer(za, f->data, f->len, f->data != NULL);
    if (!s) {
      rc = PB_ENOMEM;
      break;
    }
    f->data = NULL; /* the source owns it now */
    zip_int64_t idx = zip_file_add(za, f->name, s, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (idx < 0) {
      zip_source_free(s);
      rc = PB_EIO;
      break;
    }
    /* Deflate at its fastest level: the zip is written on the request path,
     * and level 1 is within a few percent of the default's size here. */
    if (f->store)
      zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    else
      zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1);
  }
  if (rc) {
    zip_discard(za);
    goto out;
  }
  if (zip_close(za) < 0) {
    zip_discard(za);
    rc = PB_EIO;
    goto out;
  }
  zip_stat_t st;
  if (zip_source_stat(src, &st) < 0 || zip_source_open(src) < 0) {
    rc = PB_EIO;
    goto out;
  }
  char *buf = malloc(st.size ? st.size : 1);
  zip_int64_t n = buf ? zip_source_read(src, buf, st.size) : -1;
  zip_source_close(src);
  if (!buf || n < 0 || (zip_uint64_t)n != st.size) {
    free(buf);
    rc = buf ? PB_EIO : PB_ENOMEM;
    goto out;
  }
  *zip = buf;
  *len = (size_t)st.size;
out:
  zip_source_free(src);
  return rc;
}

static int add_buf(writer *w, const char *name, pb_buf *b) {
  size_t n;
  char *d = pb_buf_steal(b, &n);
  if (!d) return PB_ENOMEM;
  return add_file(w, name, (unsigned char *)d, n, 0);
}

static int context_options(writer *w) {
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
  return emit(&w->trace, ev);
}

static int note_cut(writer *w) {
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
  int rc = emit(&w->trace, ev);
  char *note = strdup(text);
  if (!rc) rc = note ? add_file(w, "NOTE.txt", (unsigned char *)note, strlen(note), 0) : PB_ENOMEM;
  return rc;
}

static void writer_free(writer *w) {
  pb_buf_free(&w->trace);
  pb_buf_free(&w->network);
  pb_buf_free(&w->cdp);
  pb_buf_free(&w->chrome);
  for (size_t i = 0; i < w->nfiles; i++) free(w->files[i].name), free(w->files[i].data);
  free(w->files);
  for (size_t i = 0; i < w->npages; i++) free(w->pages[i].session);
  free(w->pages);
  for (size_t i = 0; i < w->nreqs; i++) {
    netreq *r = &w->reqs[i];
    free(r->session), free(r->request_id), free(r->frame_id), free(r->failure);
    cJSON_Delete(r->request);
    cJSON_Delete(r->response);
  }
  free(w->reqs);
  for (size_t i = 0; i < w->npend; i++) free(w->pend[i].session), free(w->pend[i].request_id);
  free(w->pend);
}

static int write_locked(writer *w, char **zip, size_t *len) {
  pb_trace *t = w->t;
  w->t0 = t->nrecs ? t->recs[0].ts : pb_wall_ms();
  int rc = context_options(w);
  int64_t last = w->t0;
  for (size_t i = 0; i < t->nrecs && !rc; i++) {
    const rec *r = &t->recs[i];
    if (r->ts > last) last = r->ts;
    if (r->kind == REC_CDP)
      rc = on_cdp(w, r);
    else if (r->kind == REC_BEGIN)
      rc = on_begin(w, r);
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
  if (!rc) rc = write_network(w, &har, &har_len);
  if (!rc) rc = pb_buf_append(&w->chrome, "]}\n", 3);
  if (!rc) rc = add_buf(w, "trace.trace", &w->trace);
  if (!rc) rc = add_buf(w, "trace.network", &w->network);
  if (!rc)
    rc = har ? add_file(w, "network.har", (unsigned char *)har, har_len, 0) : PB_ENOMEM;
  else
    free(har);
  if (!rc) rc = add_buf(w, "chrome-trace.json", &w->chrome);
  if (!rc) rc = add_buf(w, "cdp.jsonl", &w->cdp);
  if (!rc) rc = zip_out(w, zip, len);
  return rc;
}

int pb_trace_write_zip(pb_trace *t, char **zip, size_t *len) {
  if (!t || !zip || !len) return PB_EINVAL;
  writer w;
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
