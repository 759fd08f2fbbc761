/* The scripted fake Chromium: see fakechrome.h. It keeps the state a browser
 * would (contexts, page targets, attached flat sessions) so that what the
 * service asks of it has to make sense: a target in a context that does not
 * exist, or a command on a session that was never attached, is an error, as
 * in Chromium. */
#include "fakechrome.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CONTEXTS 256
#define MAX_TARGETS 512
#define MSG_MAX (1 << 20)

typedef struct {
  char id[32];
  char context[32]; /* "" : the default context */
  char session[32]; /* "" : not attached */
  char url[512];
  int loaders;
  int live;
} target;

struct fc_peer {
  int rfd, wfd;
  const fc_script *s;
  FILE *record;
  char contexts[MAX_CONTEXTS][32];
  int ncontexts;
  target targets[MAX_TARGETS];
  int ntargets;
  int next_id;
  int exit_seen; /* how many exit_on commands came */
  int hung;
  char *buf;
  size_t len;
};

int fc_wfd(fc_peer *p) {
  return p->wfd;
}

int fc_send(fc_peer *p, const char *json) {
  size_t n = strlen(json) + 1, off = 0;
  while (off < n) {
    ssize_t w = write(p->wfd, json + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    off += (size_t)w;
  }
  return 0;
}

/* Sends a message built with printf formatting. */
static int sendf(fc_peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int sendf(fc_peer *p, const char *fmt, ...) {
  char out[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out, sizeof(out), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(out)) return -1;
  return fc_send(p, out);
}

int fc_reply(fc_peer *p, int id, const char *sid, const char *result) {
  if (sid && *sid)
    return sendf(p, "{\"id\":%d,\"result\":%s,\"sessionId\":\"%s\"}", id, result ? result : "{}",
                 sid);
  return sendf(p, "{\"id\":%d,\"result\":%s}", id, result ? result : "{}");
}

static int reply_error(fc_peer *p, int id, const char *sid, int code, const char *message) {
  if (sid && *sid)
    return sendf(p, "{\"id\":%d,\"error\":{\"code\":%d,\"message\":\"%s\"},\"sessionId\":\"%s\"}",
                 id, code, message, sid);
  return sendf(p, "{\"id\":%d,\"error\":{\"code\":%d,\"message\":\"%s\"}}", id, code, message);
}

static const char *str_param(const cJSON *params, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int context_exists(fc_peer *p, const char *id) {
  for (int i = 0; i < p->ncontexts; i++)
    if (p->contexts[i][0] && !strcmp(p->contexts[i], id)) return 1;
  return 0;
}

static target *target_by_id(fc_peer *p, const char *id) {
  for (int i = 0; i < p->ntargets; i++)
    if (p->targets[i].live && !strcmp(p->targets[i].id, id)) return &p->targets[i];
  return NULL;
}

static target *target_by_session(fc_peer *p, const char *sid) {
  for (int i = 0; i < p->ntargets; i++)
    if (p->targets[i].live && p->targets[i].session[0] && !strcmp(p->targets[i].session, sid))
      return &p->targets[i];
  return NULL;
}

static void target_info(const target *t, char *out, size_t cap) {
  snprintf(out, cap,
           "{\"targetId\":\"%s\",\"type\":\"page\",\"title\":\"\",\"url\":\"%s\",\"attached\":%s,"
           "\"browserContextId\":\"%s\"}",
           t->id, t->url, t->session[0] ? "true" : "false", t->context);
}

static void target_destroy(fc_peer *p, target *t) {
  if (t->session[0])
    sendf(p,
          "{\"method\":\"Target.detachedFromTarget\",\"params\":{\"sessionId\":\"%s\",\"targetId\":"
          "\"%s\"}}",
          t->session, t->id);
  sendf(p, "{\"method\":\"Target.targetDestroyed\",\"params\":{\"targetId\":\"%s\"}}", t->id);
  t->live = 0;
}

/* Page.navigate as Chromium answers it: the reply, then the frame's
 * lifecycle as events on the page's session. */
static void navigate(fc_peer *p, int id, const char *sid, target *t, const char *url) {
  snprintf(t->url, sizeof(t->url), "%s", url);
  int loader = ++t->loaders;
  sendf(p,
        "{\"method\":\"Page.frameStartedLoading\",\"params\":{\"frameId\":\"%s\"},\"sessionId\":\"%"
        "s\"}",
        t->id, sid);
  sendf(p, "{\"id\":%d,\"result\":{\"frameId\":\"%s\",\"loaderId\":\"L%d\"},\"sessionId\":\"%s\"}",
        id, t->id, loader, sid);
  sendf(p,
        "{\"method\":\"Page.frameNavigated\",\"params\":{\"frame\":{\"id\":\"%s\",\"loaderId\":\"L%"
        "d\","
        "\"url\":\"%s\",\"mimeType\":\"text/html\"},\"type\":\"Navigation\"},\"sessionId\":\"%s\"}",
        t->id, loader, t->url, sid);
  static const char *const names[] = {"init", "DOMContentLoaded", "load", "networkAlmostIdle",
                                      "networkIdle"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    sendf(p,
          "{\"method\":\"Page.lifecycleEvent\",\"params\":{\"frameId\":\"%s\",\"loaderId\":\"L%d\","
          "\"name\":\"%s\",\"timestamp\":%d},\"sessionId\":\"%s\"}",
          t->id, loader, names[i], (int)i + 1, sid);
    if (i == 1)
      sendf(p,
            "{\"method\":\"Page.domContentEventFired\",\"params\":{\"timestamp\":2},\"sessionId\":"
            "\"%s\"}",
            sid);
    if (i == 2)
      sendf(
          p,
          "{\"method\":\"Page.loadEventFired\",\"params\":{\"timestamp\":3},\"sessionId\":\"%s\"}",
          sid);
  }
  sendf(p,
        "{\"method\":\"Page.frameStoppedLoading\",\"params\":{\"frameId\":\"%s\"},\"sessionId\":\"%"
        "s\"}",
        t->id, sid);
}

/* Runtime.evaluate: a number literal evaluates to itself, document.readyState
 * to "complete", location.href to the page's URL, anything else to
 * undefined. */
static void evaluate(fc_peer *p, int id, const char *sid, const target *t, const char *expr) {
  char *end = NULL;
  double v = expr ? strtod(expr, &end) : 0;
  if (expr && *expr && end && *end == '\0') {
    char res[128];
    snprintf(res, sizeof(res),
             "{\"result\":{\"type\":\"number\",\"value\":%g,\"description\":\"%g\"}}", v, v);
    fc_reply(p, id, sid, res);
  } else if (expr && !strcmp(expr, "document.readyState")) {
    fc_reply(p, id, sid, "{\"result\":{\"type\":\"string\",\"value\":\"complete\"}}");
  } else if (expr && !strcmp(expr, "location.href")) {
    char res[640];
    snprintf(res, sizeof(res), "{\"result\":{\"type\":\"string\",\"value\":\"%s\"}}", t->url);
    fc_reply(p, id, sid, res);
  } else {
    fc_reply(p, id, sid, "{\"result\":{\"type\":\"undefined\"}}");
  }
}

/* Browser-level commands (no sessionId). Returns FC_CLOSED after
 * Browser.close, else -1. */
static int browser_command(fc_peer *p, int id, const char *method, const cJSON *params) {
  char res[1024];
  if (!strcmp(method, "Browser.getVersion")) {
    fc_reply(p, id, NULL,
             "{\"protocolVersion\":\"1.3\",\"product\":\"HeadlessChrome/0.0.0.0 (fakechrome)\","
             "\"revision\":\"fake\",\"userAgent\":\"fakechrome\",\"jsVersion\":\"0\"}");
  } else if (!strcmp(method, "Browser.close")) {
    fc_reply(p, id, NULL, NULL);
    return FC_CLOSED;
  } else if (!strcmp(method, "Target.createBrowserContext")) {
    if (p->ncontexts >= MAX_CONTEXTS)
      return reply_error(p, id, NULL, -32000, "too many contexts"), -1;
    snprintf(p->contexts[p->ncontexts], sizeof(p->contexts[0]), "C%d", ++p->next_id);
    snprintf(res, sizeof(res), "{\"browserContextId\":\"%s\"}", p->contexts[p->ncontexts]);
    p->ncontexts++;
    fc_reply(p, id, NULL, res);
  } else if (!strcmp(method, "Target.disposeBrowserContext")) {
    const char *ctx = str_param(params, "browserContextId");
    if (!ctx || !context_exists(p, ctx))
      return reply_error(p, id, NULL, -32000, "Failed to find context with id"), -1;
    for (int i = 0; i < p->ntargets; i++)
      if (p->targets[i].live && !strcmp(p->targets[i].context, ctx))
        target_destroy(p, &p->targets[i]);
    for (int i = 0; i < p->ncontexts; i++)
      if (!strcmp(p->contexts[i], ctx)) p->contexts[i][0] = '\0';
    fc_reply(p, id, NULL, NULL);
  } else if (!strcmp(method, "Target.createTarget")) {
    const char *ctx = str_param(params, "browserContextId");
    const char *url = str_param(params, "url");
    if (ctx && !context_exists(p, ctx))
      return reply_error(p, id, NULL, -32000, "Failed to find browser context with id"), -1;
    if (p->ntargets >= MAX_TARGETS) return reply_error(p, id, NULL, -32000, "too many targets"), -1;
    target *t = &p->targets[p->ntargets++];
    memset(t, 0, sizeof(*t));
    t->live = 1;
    snprintf(t->id, sizeof(t->id), "T%d", ++p->next_id);
    snprintf(t->context, sizeof(t->context), "%s", ctx ? ctx : "");
    snprintf(t->url, sizeof(t->url), "%s", url ? url : "about:blank");
    char info[1024];
    target_info(t, info, sizeof(info));
    sendf(p, "{\"method\":\"Target.targetCreated\",\"params\":{\"targetInfo\":%s}}", info);
    snprintf(res, sizeof(res), "{\"targetId\":\"%s\"}", t->id);
    fc_reply(p, id, NULL, res);
  } else if (!strcmp(method, "Target.attachToTarget")) {
    const char *tid = str_param(params, "targetId");
    target *t = tid ? target_by_id(p, tid) : NULL;
    if (!t) return reply_error(p, id, NULL, -32602, "No target with given id found"), -1;
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(params, "flatten")))
      return reply_error(p, id, NULL, -32000, "fakechrome speaks flat sessions only"), -1;
    snprintf(t->session, sizeof(t->session), "S%d", ++p->next_id);
    char info[1024];
    target_info(t, info, sizeof(info));
    sendf(p,
          "{\"method\":\"Target.attachedToTarget\",\"params\":{\"sessionId\":\"%s\",\"targetInfo\":"
          "%s,"
          "\"waitingForDebugger\":false}}",
          t->session, info);
    snprintf(res, sizeof(res), "{\"sessionId\":\"%s\"}", t->session);
    fc_reply(p, id, NULL, res);
  } else if (!strcmp(method, "Target.closeTarget")) {
    const char *tid = str_param(params, "targetId");
    target *t = tid ? target_by_id(p, tid) : NULL;
    if (!t) return reply_error(p, id, NULL, -32602, "No target with given id found"), -1;
    target_destroy(p, t);
    fc_reply(p, id, NULL, "{\"success\":true}");
  } else {
    /* Target.setDiscoverTargets, Browser.setDownloadBehavior, ...: done. */
    fc_reply(p, id, NULL, NULL);
  }
  return -1;
}

static void session_command(fc_peer *p, int id, const char *sid, const char *method,
                            const cJSON *params) {
  target *t = target_by_session(p, sid);
  if (!t) {
    reply_error(p, id, sid, -32001, "Session with given id not found.");
    return;
  }
  if (!strcmp(method, "Page.navigate")) {
    const char *url = str_param(params, "url");
    if (!url) {
      reply_error(p, id, sid, -32602, "Invalid parameters");
      return;
    }
    navigate(p, id, sid, t, url);
  } else if (!strcmp(method, "Runtime.evaluate")) {
    evaluate(p, id, sid, t, str_param(params, "expression"));
  } else if (!strcmp(method, "Page.getFrameTree")) {
    char res[1024];
    snprintf(res, sizeof(res),
             "{\"frameTree\":{\"frame\":{\"id\":\"%s\",\"loaderId\":\"L%d\",\"url\":\"%s\"}}}",
             t->id, t->loaders, t->url);
    fc_reply(p, id, sid, res);
  } else {
    /* Page.enable, Emulation.*, Network.*, ...: done. */
    fc_reply(p, id, sid, NULL);
  }
}

/* Handles one command. Returns -1 to go on, else why to stop. */
static int handle(fc_peer *p, const char *text) {
  if (p->record) {
    fprintf(p->record, "%s\n", text);
    fflush(p->record);
  }
  cJSON *m = cJSON_Parse(text);
  const cJSON *idv = cJSON_GetObjectItemCaseSensitive(m, "id");
  const char *method = str_param(m, "method");
  if (!cJSON_IsNumber(idv) || !method) {
    cJSON_Delete(m);
    return -1; /* Chromium ignores what it cannot parse; so do we */
  }
  int id = idv->valueint;
  const char *sid = str_param(m, "sessionId");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(m, "params");
  const fc_script *s = p->s;
  int stop = -1;
  if (s->exit_on && !strcmp(method, s->exit_on) &&
      ++p->exit_seen >= (s->exit_on_nth > 0 ? s->exit_on_nth : 1)) {
    stop = FC_EXIT_CUE;
  } else if (p->hung) {
    /* answers nothing */
  } else if (s->handler && (stop = s->handler(p, m, s->handler_data)) != 0) {
    stop = stop == 2 ? FC_STOPPED : -1;
  } else if (s->hang_on && !strcmp(method, s->hang_on)) {
    p->hung = 1;
    stop = -1;
  } else if (s->fail && !strcmp(method, s->fail)) {
    reply_error(p, id, sid, -32000, "fakechrome: failing as scripted");
    stop = -1;
  } else if (sid && *sid) {
    session_command(p, id, sid, method, params);
    stop = -1;
  } else {
    stop = browser_command(p, id, method, params);
  }
  if (stop == -1 && !p->hung && s->crash_target_on && sid && *sid &&
      !strcmp(method, s->crash_target_on))
    sendf(p, "{\"method\":\"Inspector.targetCrashed\",\"params\":{},\"sessionId\":\"%s\"}", sid);
  cJSON_Delete(m);
  return stop;
}

int fc_serve(int rfd, int wfd, const fc_script *s) {
  static const fc_script none;
  fc_peer *p = calloc(1, sizeof(*p));
  if (!p) return FC_EOF;
  p->rfd = rfd;
  p->wfd = wfd;
  p->s = s ? s : &none;
  p->buf = malloc(MSG_MAX);
  if (p->s->record_path) p->record = fopen(p->s->record_path, "a");
  int why = FC_EOF;
  for (;;) {
    char *nul = p->len ? memchr(p->buf, '\0', p->len) : NULL;
    if (nul) {
      size_t n = (size_t)(nul - p->buf) + 1;
      int stop = handle(p, p->buf);
      memmove(p->buf, p->buf + n, p->len - n);
      p->len -= n;
      if (stop >= 0) {
        why = stop;
        break;
      }
      continue;
    }
    if (p->len == MSG_MAX) break; /* a command past the fake's cap: give up */
    ssize_t r = read(rfd, p->buf + p->len, MSG_MAX - p->len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    p->len += (size_t)r;
  }
  if (p->record) fclose(p->record);
  free(p->buf);
  free(p);
  return why;
}

/* ---- what a fakechrome process received ---- */

/* Calls fn on each recorded command of pid named method (NULL: any) until
 * fn returns non-zero, which is returned. */
static int each_recorded(const char *dir, int pid, const char *method,
                         int (*fn)(cJSON *cmd, void *arg), void *arg) {
  char path[4096];
  snprintf(path, sizeof(path), "%s/%d.log", dir, pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char *line = NULL;
  size_t cap = 0;
  int r = 0;
  while (!r && getline(&line, &cap, f) > 0) {
    cJSON *cmd = cJSON_Parse(line);
    const char *m = str_param(cmd, "method");
    if (cmd && m && (!method || !strcmp(m, method))) r = fn(cmd, arg);
    cJSON_Delete(cmd);
  }
  free(line);
  fclose(f);
  return r;
}

typedef struct {
  int nth;
  cJSON *found;
} nth_arg;

static int take_nth(cJSON *cmd, void *arg) {
  nth_arg *a = arg;
  if (a->nth-- > 0) return 0;
  a->found = cJSON_Duplicate(cmd, 1);
  return 1;
}

static int count_one(cJSON *cmd, void *arg) {
  (void)cmd;
  ++*(int *)arg;
  return 0;
}

cJSON *fc_recorded(const char *dir, int pid, const char *method, int nth) {
  nth_arg a = {nth, NULL};
  each_recorded(dir, pid, method, take_nth, &a);
  return a.found;
}

int fc_recorded_count(const char *dir, int pid, const char *method) {
  int n = 0;
  each_recorded(dir, pid, method, count_one, &n);
  return n;
}

/* ---- in a thread ---- */

struct fc_thread {
  pthread_t t;
  int rfd, wfd;
  const fc_script *s;
  int result;
};

static void *thread_main(void *arg) {
  fc_thread *t = arg;
  t->result = fc_serve(t->rfd, t->wfd, t->s);
  /* Both ends go as a dying browser's would: the client reads EOF, and its
   * writes fail. */
  close(t->wfd);
  close(t->rfd);
  return NULL;
}

int fc_start(const fc_script *s, int *to_browser, int *from_browser, fc_thread **out) {
  int in[2], outp[2];
  *out = NULL;
  if (pipe(in)) return -1;
  if (pipe(outp)) {
    close(in[0]);
    close(in[1]);
    return -1;
  }
  fc_thread *t = calloc(1, sizeof(*t));
  if (!t) return -1;
  t->rfd = in[0];
  t->wfd = outp[1];
  t->s = s;
  if (pthread_create(&t->t, NULL, thread_main, t)) {
    close(in[0]), close(in[1]), close(outp[0]), close(outp[1]);
    free(t);
    return -1;
  }
  *to_browser = in[1];
  *from_browser = outp[0];
  *out = t;
  return 0;
}

int fc_join(fc_thread *t) {
  pthread_join(t->t, NULL);
  int r = t->result;
  free(t);
  return r;
}
