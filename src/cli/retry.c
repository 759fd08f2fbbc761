#include "cli/retry.h"

#include "common/pb.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pb_cli_send_fn inner_send;
static FILE *log_to;
static void (*wait_fn)(long ms);

static void real_sleep(long ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) && errno == EINTR) {
  }
}

void pb_cli_retry_setup(pb_cli_send_fn inner, FILE *log, void (*sleep_ms)(long ms)) {
  inner_send = inner;
  log_to = log;
  wait_fn = sleep_ms ? sleep_ms : real_sleep;
}

static int max_retries(void) {
  const char *e = getenv("PAPERPOD_RETRIES");
  if (!e || !*e) return PB_CLI_RETRY_MAX;
  char *end;
  long n = strtol(e, &end, 10);
  return *end || n < 0 || n > 10 ? PB_CLI_RETRY_MAX : (int)n;
}

/* The error code of a JSON error envelope ("BROWSER_UNAVAILABLE"), into
 * out; "" when the body is something else. Only [A-Z_] is kept, so a
 * server's text cannot drive the terminal. */
static void code_of(const pb_cli_response *resp, char *out, size_t cap) {
  out[0] = '\0';
  cJSON *doc = resp->body.len ? cJSON_ParseWithLength(resp->body.data, resp->body.len) : NULL;
  const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "code"));
  if (code && strlen(code) < cap &&
      strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789") == strlen(code))
    pb_strlcpy(out, code, cap);
  cJSON_Delete(doc);
}

int pb_cli_retry_send(const pb_cli_request *req, pb_cli_response *resp, char *err, size_t errcap) {
  int max = max_retries();
  for (int attempt = 0;; attempt++) {
    int rc = inner_send(req, resp, err, errcap);
    if (rc || (resp->status != 429 && resp->status != 503) || attempt >= max) return rc;
    long wait_s = resp->retry_after >= 0 ? resp->retry_after : 1L << attempt;
    if (wait_s > PB_CLI_RETRY_CAP_S) return rc; /* not worth waiting here */
    char code[64];
    code_of(resp, code, sizeof(code));
    fprintf(log_to, "ppod: %s (%ld%s%s), retrying in %ld s (%d/%d)\n",
            resp->status == 429 ? "too many requests" : "busy", resp->status, code[0] ? " " : "",
            code, wait_s, attempt + 1, max);
    fflush(log_to);
    pb_buf_free(&resp->body);
    wait_fn(wait_s * 1000);
  }
}
