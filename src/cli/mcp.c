/* `ppod mcp`: stdin's JSON-RPC lines to the service's /mcp, its answers to
 * stdout (see mcp.h). */
#include "cli/mcp.h"

#include "cli/config.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ANSWER_MAX ((size_t)512 << 20)

typedef struct {
  char *endpoint; /* <url>/mcp */
  char *token;
  FILE *out, *err;
  pthread_mutex_t mu; /* everything below, and writes to out */
  pthread_cond_t cv;
  char session[128]; /* Mcp-Session-Id, "" before initialize */
  char version[32];  /* the negotiated protocol version */
  char *init_msg;    /* the host's initialize, to start again after a 404 */
  int inflight;
  atomic_int stop; /* stdin ended: running exchanges are aborted */
} relay;

/* One HTTP exchange's answer as it arrives. */
typedef struct {
  relay *rl;
  char ctype[128];
  char session[128];
  int sse;
  int decided;
  int written; /* messages written to stdout from the stream */
  pb_buf body; /* a JSON answer, whole */
  pb_buf line; /* the SSE line being read */
  pb_buf data; /* the SSE event's data so far */
} xfer;

static void put_line(relay *rl, const char *text, size_t len) {
  pthread_mutex_lock(&rl->mu);
  fwrite(text, 1, len, rl->out);
  fputc('\n', rl->out);
  fflush(rl->out);
  pthread_mutex_unlock(&rl->mu);
}

/* A message as one line: reprinted when it spans several. */
static void put_message(relay *rl, const char *text, size_t len) {
  if (!memchr(text, '\n', len)) {
    put_line(rl, text, len);
    return;
  }
  cJSON *doc = cJSON_ParseWithLength(text, len);
  char *one = doc ? cJSON_PrintUnformatted(doc) : NULL;
  if (one) put_line(rl, one, strlen(one));
  free(one);
  cJSON_Delete(doc);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  char h[256];
  if (len >= sizeof(h)) return len;
  memcpy(h, p, len);
  h[len] = '\0';
  h[strcspn(h, "\r\n")] = '\0';
  char *colon = strchr(h, ':');
  if (!colon) return len;
  *colon = '\0';
  char *v = colon + 1;
  while (*v == ' ') v++;
  if (!strcasecmp(h, "content-type")) pb_strlcpy(x->ctype, v, sizeof(x->ctype));
  if (!strcasecmp(h, "mcp-session-id")) pb_strlcpy(x->session, v, sizeof(x->session));
  return len;
}

/* One line of an event stream: "data:" lines make the event, an empty
 * line ends it (written at once, so progress reaches the host as it
 * comes). */
static int sse_line(xfer *x, char *l, size_t n) {
  if (n && l[n - 1] == '\r') l[--n] = '\0';
  if (n == 0) {
    if (x->data.len) {
      put_message(x->rl, x->data.data, x->data.len);
      x->written++;
    }
    x->data.len = 0;
    return 0;
  }
  if (n >= 5 && !strncmp(l, "data:", 5)) {
    const char *d = l + 5;
    if (*d == ' ') d++;
    if (x->data.len && pb_buf_append(&x->data, "\n", 1)) return -1;
    return pb_buf_append(&x->data, d, strlen(d));
  }
  return 0; /* event:, id:, retry:, comments */
}

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  xfer *x = ud;
  size_t len = size * n;
  if (!x->decided) {
    x->decided = 1;
    x->sse = !strncasecmp(x->ctype, "text/event-stream", 17);
  }
  if (!x->sse) return pb_buf_append(&x->body, p, len) ? 0 : len;
  for (size_t i = 0; i < len; i++) {
    if (p[i] != '\n') {
      if (pb_buf_append(&x->line, p + i, 1)) return 0;
      continue;
    }
    char empty[1] = "";
    if (sse_line(x, x->line.len ? x->line.data : empty, x->line.len)) return 0;
    x->line.len = 0;
  }
  return len;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  return atomic_load(&((relay *)ud)->stop) ? 1 : 0;
}

/* POSTs one message; 0 with *status, or a curl failure in err. */
static int post(relay *rl, const char *msg, size_t len, int with_session, xfer *x, long *status,
                char *err, size_t errcap) {
  memset(x, 0, sizeof(*x));
  x->rl = rl;
  pb_buf_init(&x->body, ANSWER_MAX);
  pb_buf_init(&x->line, ANSWER_MAX);
  pb_buf_init(&x->data, ANSWER_MAX);
  CURL *h = curl_easy_init();
  if (!h) {
    pb_strlcpy(err, "out of memory", errcap);
    return -1;
  }
  struct curl_slist *hd = NULL;
  char line[4200];
  hd = curl_slist_append(hd, "Content-Type: application/json");
  hd = curl_slist_append(hd, "Accept: application/json, text/event-stream");
  if (rl->token) {
    snprintf(line, sizeof(line), "Authorization: Bearer %s", rl->token);
    hd = curl_slist_append(hd, line);
  }
  pthread_mutex_lock(&rl->mu);
  if (with_session && rl->session[0]) {
    snprintf(line, sizeof(line), "Mcp-Session-Id: %s", rl->session);
    hd = curl_slist_append(hd, line);
  }
  if (with_session && rl->version[0]) {
    snprintf(line, sizeof(line), "MCP-Protocol-Version: %s", rl->version);
    hd = curl_slist_append(hd, line);
  }
  pthread_mutex_unlock(&rl->mu);
  hd = curl_slist_append(hd, "Expect:");
  char cerr[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_URL, rl->endpoint);
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, msg);
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, rl);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, PB_CLI_TIMEOUT_MS);
  CURLcode cc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
  curl_slist_free_all(hd);
  curl_easy_cleanup(h);
  if (cc != CURLE_OK) {
    snprintf(err, errcap, "cannot reach %s: %s", rl->endpoint,
             cerr[0] ? cerr : curl_easy_strerror(cc));
    return -1;
  }
  /* The last event of a stream that ends without its blank line. */
  if (x->sse && x->line.len) sse_line(x, x->line.data, x->line.len);
  if (x->sse && x->data.len) {
    char empty[1] = "";
    sse_line(x, empty, 0);
  }
  return 0;
}

static void xfer_free(xfer *x) {
  pb_buf_free(&x->body);
  pb_buf_free(&x->line);
  pb_buf_free(&x->data);
}

/* A JSON-RPC error for the host's message id (nothing for a notification). */
static void put_error(relay *rl, const cJSON *id, const char *message) {
  if (!id) return;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "jsonrpc", "2.0");
  cJSON_AddItemToObject(o, "id", cJSON_Duplicate(id, 1));
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddNumberToObject(e, "code", -32000);
  cJSON_AddStringToObject(e, "message", message);
  char *t = cJSON_PrintUnformatted(o);
  if (t) put_line(rl, t, strlen(t));
  free(t);
  cJSON_Delete(o);
}

/* Remembers the session and version an initialize answer set. */
static void took_session(relay *rl, const xfer *x) {
  cJSON *doc = cJSON_ParseWithLength(x->body.data, x->body.len);
  const char *v = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(doc, "result"), "protocolVersion"));
  pthread_mutex_lock(&rl->mu);
  if (x->session[0]) pb_strlcpy(rl->session, x->session, sizeof(rl->session));
  if (v) pb_strlcpy(rl->version, v, sizeof(rl->version));
  pthread_mutex_unlock(&rl->mu);
  cJSON_Delete(doc);
}

/* The service forgot the session (404): a new one, with the host's own
 * initialize, and its initialized notification. 0 when it worked. */
static int reinitialize(relay *rl) {
  pthread_mutex_lock(&rl->mu);
  char *init = rl->init_msg ? strdup(rl->init_msg) : NULL;
  rl->session[0] = '\0';
  pthread_mutex_unlock(&rl->mu);
  if (!init) return -1;
  xfer x;
  long status = 0;
  char err[512];
  int rc = post(rl, init, strlen(init), 0, &x, &status, err, sizeof(err));
  free(init);
  if (rc || status != 200 || x.sse) {
    xfer_free(&x);
    return -1;
  }
  took_session(rl, &x);
  xfer_free(&x);
  static const char note[] = "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}";
  rc = post(rl, note, sizeof(note) - 1, 1, &x, &status, err, sizeof(err));
  xfer_free(&x);
  fprintf(rl->err, "ppod mcp: the service's session had ended; started a new one\n");
  return rc;
}

/* Relays one message from the host and writes what comes back. */
static void relay_one(relay *rl, const char *msg, size_t len) {
  cJSON *doc = cJSON_ParseWithLength(msg, len);
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(doc, "id");
  const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "method"));
  int is_init = method && !strcmp(method, "initialize");
  if (is_init) {
    pthread_mutex_lock(&rl->mu);
    free(rl->init_msg);
    rl->init_msg = strndup(msg, len);
    pthread_mutex_unlock(&rl->mu);
  }
  xfer x;
  long status = 0;
  char err[512];
  int rc = post(rl, msg, len, !is_init, &x, &status, err, sizeof(err));
  if (!rc && status == 404 && !is_init && !x.written && !reinitialize(rl)) {
    xfer_free(&x);
    rc = post(rl, msg, len, 1, &x, &status, err, sizeof(err));
  }
  if (rc) {
    if (!atomic_load(&rl->stop)) {
      fprintf(rl->err, "ppod mcp: %s\n", err);
      put_error(rl, id, err);
    }
  } else if (x.sse || status == 202) {
    /* written as it came; or nothing to say */
  } else {
    if (is_init && status == 200) took_session(rl, &x);
    cJSON *ans = cJSON_ParseWithLength(x.body.data, x.body.len);
    if (cJSON_GetObjectItemCaseSensitive(ans, "jsonrpc")) {
      put_message(rl, x.body.data, x.body.len);
    } else {
      /* The transport refused it: our error envelope, or no body. */
      const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(ans, "errors"), 0);
      const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "code"));
      const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "message"));
      char text[700];
      snprintf(text, sizeof(text), "HTTP %ld%s%s%s%s", status, code ? ": " : "", code ? code : "",
               m ? ": " : "", m ? m : "");
      fprintf(rl->err, "ppod mcp: %s\n", text);
      put_error(rl, id, text);
    }
    cJSON_Delete(ans);
  }
  xfer_free(&x);
  cJSON_Delete(doc);
}

typedef struct {
  relay *rl;
  char *msg;
  size_t len;
} task;

static void *task_main(void *arg) {
  task *t = arg;
  relay *rl = t->rl;
  relay_one(rl, t->msg, t->len);
  free(t->msg);
  free(t);
  pthread_mutex_lock(&rl->mu);
  rl->inflight--;
  pthread_cond_broadcast(&rl->cv);
  pthread_mutex_unlock(&rl->mu);
  return NULL;
}

int pb_cli_mcp(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  relay rl;
  memset(&rl, 0, sizeof(rl));
  char err[1024];
  char *url = NULL;
  if (pb_cli_resolve(a->url, a->token, &url, &rl.token, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return PB_CLI_EXIT_USAGE;
  }
  size_t ulen = strlen(url) + 5;
  rl.endpoint = malloc(ulen);
  if (!rl.endpoint) {
    free(url);
    free(rl.token);
    return PB_CLI_EXIT_FAIL;
  }
  snprintf(rl.endpoint, ulen, "%s/mcp", url);
  free(url);
  if (!rl.token) fprintf(ctx->err, "ppod mcp: no token (ppod login, or $PAPERPOD_TOKEN)\n");
  rl.out = ctx->out;
  rl.err = ctx->err;
  pthread_mutex_init(&rl.mu, NULL);
  pthread_cond_init(&rl.cv, NULL);
  atomic_init(&rl.stop, 0);
  fprintf(ctx->err, "ppod mcp: relaying stdio to %s\n", rl.endpoint);

  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    size_t skip = strspn(line, " \t");
    if ((size_t)n == skip) continue;
    if ((size_t)n > PB_CLI_MCP_LINE_MAX) {
      static const char too[] =
          "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"message "
          "over 16 MiB\"}}";
      put_line(&rl, too, sizeof(too) - 1);
      continue;
    }
    task *t = malloc(sizeof(*t));
    char *msg = malloc((size_t)n + 1);
    if (!t || !msg) {
      free(t);
      free(msg);
      continue;
    }
    memcpy(msg, line, (size_t)n + 1);
    *t = (task){&rl, msg, (size_t)n};
    pthread_mutex_lock(&rl.mu);
    while (rl.inflight >= PB_CLI_MCP_INFLIGHT) pthread_cond_wait(&rl.cv, &rl.mu);
    rl.inflight++;
    pthread_mutex_unlock(&rl.mu);
    /* initialize first, alone: the session it makes is every later
     * message's. */
    cJSON *doc = cJSON_ParseWithLength(msg, (size_t)n);
    const char *m = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "method"));
    int alone = m && !strcmp(m, "initialize");
    cJSON_Delete(doc);
    pthread_t th;
    if (alone || pthread_create(&th, NULL, task_main, t)) {
      task_main(t);
    } else {
      pthread_detach(th);
    }
  }
  free(line);
  /* stdin ended: the host is gone; what still runs is stopped. */
  atomic_store(&rl.stop, 1);
  pthread_mutex_lock(&rl.mu);
  while (rl.inflight > 0) pthread_cond_wait(&rl.cv, &rl.mu);
  pthread_mutex_unlock(&rl.mu);
  pthread_mutex_destroy(&rl.mu);
  pthread_cond_destroy(&rl.cv);
  free(rl.init_msg);
  free(rl.endpoint);
  free(rl.token);
  return PB_CLI_EXIT_OK;
}
