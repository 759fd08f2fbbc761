/* ppod login by email (logincmd.h). */
#include "cli/logincmd.h"

#include "cli/config.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOGIN_LINE_MAX 1024

int pb_cli_token_form_ok(const char *t) {
  static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t plen;
  if (!strncmp(t, "pp_sess_", 8))
    plen = 8;
  else if (!strncmp(t, "ppod_", 5))
    plen = 5;
  else
    return 0;
  return strlen(t + plen) == 43 && strspn(t + plen, b64url) == 43;
}

/* One line of stdin, trimmed; 0, or -1 at its end (or a line too long). */
static int login_read_line(char *buf, size_t cap) {
  if (!fgets(buf, (int)cap, stdin)) return -1;
  size_t n = strlen(buf);
  if (n == cap - 1 && buf[n - 1] != '\n') return -1;
  while (n && strchr(" \t\r\n", buf[n - 1])) buf[--n] = '\0';
  size_t lead = strspn(buf, " \t");
  memmove(buf, buf + lead, n - lead + 1);
  return 0;
}

/* Server text for a terminal: control bytes dropped. */
static void login_put_clean(FILE *f, const char *s) {
  for (size_t i = 0; s && s[i] && i < 2000; i++)
    fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i], f);
}

/* method route with token and body: the status, and "CODE: message" of an
 * error answer into why. -1 when no answer came (err printed). */
static long login_call(pb_cli_ctx *ctx, const char *url, const char *method, const char *route,
                       const char *token, const char *body, char *why, size_t cap) {
  char err[1024];
  pb_cli_request req = {.method = method,
                        .base_url = url,
                        .route = route,
                        .token = token,
                        .body = body,
                        .body_len = body ? strlen(body) : 0,
                        .max_response = 1 << 20,
                        .timeout_ms = 60000};
  pb_cli_response resp;
  memset(&resp, 0, sizeof(resp));
  pb_buf_init(&resp.body, 0);
  why[0] = '\0';
  if (ctx->send(&req, &resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    pb_buf_free(&resp.body);
    return -1;
  }
  cJSON *doc = resp.body.len ? cJSON_ParseWithLength(resp.body.data, resp.body.len) : NULL;
  const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "errors"), 0);
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(e0, "code"));
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(e0, "message"));
  if (code) snprintf(why, cap, "%s: %s", code, msg ? msg : "");
  if (resp.status == 429 && resp.retry_after >= 0)
    snprintf(why + strlen(why), cap - strlen(why), " (retry in %ld s)", resp.retry_after);
  cJSON_Delete(doc);
  pb_buf_free(&resp.body);
  return resp.status;
}

int pb_cli_login_email(pb_cli_ctx *ctx, const pb_cli_args *a) {
  char err[1024], why[1200], line[LOGIN_LINE_MAX];
  char *url = NULL, *saved = NULL, *path = NULL, *body = NULL;
  int ex = PB_CLI_EXIT_FAIL;
  int tty = isatty(STDIN_FILENO);
  if (pb_cli_resolve(a->url, NULL, &url, &saved, err, sizeof(err))) {
    /* A saved token that is unreadable does not stop a new sign-in. */
    free(saved);
    saved = NULL;
    if (pb_cli_resolve(a->url, "x", &url, &saved, err, sizeof(err))) {
      fprintf(ctx->err, "ppod: %s\n", err);
      return PB_CLI_EXIT_USAGE;
    }
  }
  free(saved);
  if (tty) fprintf(ctx->err, "Email: ");
  fflush(ctx->err);
  if (login_read_line(line, sizeof(line)) || !line[0] || !strchr(line, '@')) {
    fprintf(ctx->err, "ppod: an email address is needed (or run 'ppod login <token>')\n");
    ex = PB_CLI_EXIT_USAGE;
    goto out;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "email", line);
  body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  long st = body ? login_call(ctx, url, "POST", "/login", NULL, body, why, sizeof(why)) : -1;
  if (st != 200) {
    if (st > 0) {
      fputs("ppod: ", ctx->err);
      login_put_clean(ctx->err, why[0] ? why : "the sign-in request was refused");
      fputc('\n', ctx->err);
    }
    goto out;
  }
  fprintf(ctx->err,
          "If %s may sign in, a link is on its way to it. Open the link, then paste the "
          "token it shows here%s\n",
          line, tty ? ":" : ".");
  if (tty) fprintf(ctx->err, "Token: ");
  fflush(ctx->err);
  if (login_read_line(line, sizeof(line)) || !line[0]) {
    fprintf(ctx->err, "ppod: no token was pasted\n");
    ex = PB_CLI_EXIT_USAGE;
    goto out;
  }
  if (!pb_cli_token_form_ok(line)) {
    fprintf(ctx->err, "ppod: that is not a token (pp_sess_ and 43 more characters)\n");
    ex = PB_CLI_EXIT_USAGE;
    goto out;
  }
  st = login_call(ctx, url, "GET", "/browser/limits", line, NULL, why, sizeof(why));
  if (st != 200) {
    if (st > 0) {
      fputs("ppod: the token does not work: ", ctx->err);
      login_put_clean(ctx->err, why[0] ? why : "refused");
      fputc('\n', ctx->err);
    }
    goto out;
  }
  if (pb_cli_token_save(line, &path, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    goto out;
  }
  fprintf(ctx->out, "token saved to %s\n", path);
  ex = PB_CLI_EXIT_OK;
out:
  explicit_bzero(line, sizeof(line));
  free(body);
  free(path);
  free(url);
  return ex;
}
