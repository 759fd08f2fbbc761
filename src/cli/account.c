/* `ppod status` and `ppod balance` (see account.h). Both read GET /account;
 * status first asks GET / without a token, which says whether the server
 * answers, how fast, and its version, whatever the token's state. */
#include "cli/account.h"

#include "cli/config.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define STATUS_TIMEOUT_MS 15000L
#define ACCOUNT_MAX_RESPONSE (1L << 20)

typedef struct {
  pb_cli_response resp;
  cJSON *doc; /* the body, when it is JSON */
  int64_t ms; /* the exchange's wall time */
  char err[512];
} acct_call;

static void acct_done(acct_call *c) {
  cJSON_Delete(c->doc);
  pb_buf_free(&c->resp.body);
}

/* GET route; 0 when an answer came (any status), else the transport's
 * error with c->err set. */
static int acct_get(pb_cli_ctx *ctx, const char *url, const char *route, const char *token,
                    acct_call *c) {
  memset(c, 0, sizeof(*c));
  pb_buf_init(&c->resp.body, 0);
  pb_cli_request req = {.method = "GET",
                        .base_url = url,
                        .route = route,
                        .token = token,
                        .max_response = ACCOUNT_MAX_RESPONSE,
                        .timeout_ms = STATUS_TIMEOUT_MS};
  int64_t t0 = pb_now_ms();
  int rc = ctx->send(&req, &c->resp, c->err, sizeof(c->err));
  c->ms = pb_now_ms() - t0;
  if (!rc && !strncasecmp(c->resp.content_type, "application/json", 16))
    c->doc = cJSON_ParseWithLength(c->resp.body.data, c->resp.body.len);
  return rc;
}

/* A number of the answer, 0 when it is missing. */
static double num_at(const cJSON *o, const char *key) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *str_at(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* s with control characters replaced: a server's words cannot drive the
 * terminal. */
static void acct_clean(FILE *f, const char *s, size_t max) {
  for (size_t i = 0; s && s[i] && i < max; i++) {
    unsigned char ch = (unsigned char)s[i];
    fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
  }
}

/* The error envelope's first code and message (NULL when there is none). */
static void error_of(const acct_call *c, const char **code, const char **message) {
  const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(c->doc, "errors"), 0);
  *code = str_at(e0, "code");
  *message = str_at(e0, "message");
}

static void report(pb_cli_ctx *ctx, const acct_call *c, const char *what) {
  const char *code, *message;
  error_of(c, &code, &message);
  fputs("ppod: ", ctx->err);
  if (code) {
    acct_clean(ctx->err, code, 100);
    fputs(": ", ctx->err);
    acct_clean(ctx->err, message, 1000);
  } else {
    fprintf(ctx->err, "HTTP %ld from %s", c->resp.status, what);
  }
  fputc('\n', ctx->err);
}

void pb_cli_format_micros(long long micros, char *out, size_t cap) {
  unsigned long long m =
      micros < 0 ? 0ULL - (unsigned long long)micros : (unsigned long long)micros;
  char frac[8];
  snprintf(frac, sizeof(frac), "%06llu", m % 1000000ULL);
  size_t n = 6;
  while (n > 2 && frac[n - 1] == '0') n--;
  frac[n] = '\0';
  snprintf(out, cap, "%s%llu.%s", micros < 0 ? "-" : "", m / 1000000ULL, frac);
}

/* "14 days 23 h", "5 h 10 min", "3 min", "40 s". */
static void format_left(long long s, char *out, size_t cap) {
  if (s >= 86400)
    snprintf(out, cap, "%lld day%s %lld h", s / 86400, s / 86400 == 1 ? "" : "s", s % 86400 / 3600);
  else if (s >= 3600)
    snprintf(out, cap, "%lld h %lld min", s / 3600, s % 3600 / 60);
  else if (s >= 60)
    snprintf(out, cap, "%lld min", s / 60);
  else
    snprintf(out, cap, "%lld s", s < 0 ? 0 : s);
}

static const char *token_source(const pb_cli_args *a) {
  const char *env = getenv("PAPERPOD_TOKEN");
  if (a->token) return "--token";
  if (env && *env) return "PAPERPOD_TOKEN";
  return "saved by ppod login";
}

static int emit_json(pb_cli_ctx *ctx, cJSON *o, int status) {
  char *text = cJSON_Print(o);
  cJSON_Delete(o);
  if (!text) {
    fprintf(ctx->err, "ppod: %s\n", pb_strerror(PB_ENOMEM));
    return PB_CLI_EXIT_FAIL;
  }
  fprintf(ctx->out, "%s\n", text);
  free(text);
  return fflush(ctx->out) ? PB_CLI_EXIT_FAIL : status;
}

int pb_cli_status(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char err[1024];
  char *url = NULL, *token = NULL;
  int rc = pb_cli_resolve(a->url, a->token, &url, &token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  cJSON *j = cJSON_CreateObject();
  cJSON *server = cJSON_AddObjectToObject(j, "server");
  cJSON_AddStringToObject(server, "url", url);
  int status = PB_CLI_EXIT_OK;

  /* The server: GET / without a token. */
  acct_call idx;
  if (acct_get(ctx, url, "/", NULL, &idx)) {
    cJSON_AddFalseToObject(server, "reachable");
    cJSON_AddStringToObject(server, "error", idx.err);
    if (!a->json) fprintf(ctx->out, "server:    %s\nreachable: no\n", url);
    fprintf(ctx->err, "ppod: %s\n", idx.err);
    acct_done(&idx);
    free(url);
    free(token);
    return a->json ? emit_json(ctx, j, PB_CLI_EXIT_FAIL) : (cJSON_Delete(j), PB_CLI_EXIT_FAIL);
  }
  const char *name = str_at(idx.doc, "name"), *version = str_at(idx.doc, "version");
  cJSON_AddTrueToObject(server, "reachable");
  cJSON_AddNumberToObject(server, "latencyMs", (double)idx.ms);
  if (version && idx.resp.status == 200)
    cJSON_AddStringToObject(server, "version", version);
  else
    cJSON_AddNullToObject(server, "version");
  if (!a->json) {
    fprintf(ctx->out, "server:    %s\nversion:   ", url);
    if (version && idx.resp.status == 200) {
      acct_clean(ctx->out, name ? name : "", 100);
      fputc(' ', ctx->out);
      acct_clean(ctx->out, version, 100);
    } else {
      fprintf(ctx->out, "unknown (GET / answered HTTP %ld)", idx.resp.status);
    }
    fprintf(ctx->out, "\nreachable: yes (%lld ms)\n", (long long)idx.ms);
  }
  acct_done(&idx);

  /* The account: GET /account with the token. */
  if (!token) {
    cJSON_AddFalseToObject(j, "signedIn");
    cJSON_AddStringToObject(j, "problem", "NOT_SIGNED_IN");
    if (!a->json) fprintf(ctx->out, "account:   not signed in\n");
    fprintf(ctx->err,
            "ppod: not signed in: run 'ppod login <token>', or pass --token or set "
            "PAPERPOD_TOKEN\n");
    status = PB_CLI_EXIT_FAIL;
  } else {
    acct_call acc;
    if (acct_get(ctx, url, "/account", token, &acc)) {
      cJSON_AddFalseToObject(j, "signedIn");
      cJSON_AddStringToObject(j, "problem", "UNREACHABLE");
      fprintf(ctx->err, "ppod: %s\n", acc.err);
      status = PB_CLI_EXIT_FAIL;
    } else if (acc.resp.status != 200) {
      const char *code, *message;
      error_of(&acc, &code, &message);
      cJSON_AddFalseToObject(j, "signedIn");
      cJSON_AddStringToObject(j, "problem", code ? code : "HTTP_ERROR");
      if (!a->json) {
        fprintf(ctx->out, "token:     ");
        fputs(code && !strcmp(code, "EXPIRED_TOKEN") ? "expired (" : "refused (", ctx->out);
        acct_clean(ctx->out, code ? code : "HTTP error", 100);
        fputc(')', ctx->out);
        fprintf(ctx->out, ", %s\n", token_source(a));
      }
      report(ctx, &acc, "/account");
      status = PB_CLI_EXIT_FAIL;
    } else {
      const cJSON *res = cJSON_GetObjectItemCaseSensitive(acc.doc, "result");
      const cJSON *acct = cJSON_GetObjectItemCaseSensitive(res, "account");
      const cJSON *tok = cJSON_GetObjectItemCaseSensitive(res, "token");
      const cJSON *left = cJSON_GetObjectItemCaseSensitive(tok, "expiresInSeconds");
      cJSON_AddTrueToObject(j, "signedIn");
      cJSON_AddItemToObject(j, "account", cJSON_Duplicate(acct, 1));
      cJSON *tj = cJSON_Duplicate(tok, 1);
      if (tj) cJSON_AddStringToObject(tj, "source", token_source(a));
      cJSON_AddItemToObject(j, "token", tj);
      if (!a->json) {
        const char *email = str_at(acct, "email"), *prefix = str_at(tok, "prefix");
        const char *expires = str_at(tok, "expiresAt");
        fputs("account:   ", ctx->out);
        acct_clean(ctx->out, str_at(acct, "name"), 100);
        if (email) {
          fputs(" <", ctx->out);
          acct_clean(ctx->out, email, 300);
          fputc('>', ctx->out);
        }
        fputs("\ntoken:     ", ctx->out);
        if (prefix) {
          acct_clean(ctx->out, prefix, 40);
          fputs("...", ctx->out);
        } else {
          fputs("(no prefix kept)", ctx->out);
        }
        fprintf(ctx->out, " (%s)\nexpires:   ", token_source(a));
        if (expires && cJSON_IsNumber(left)) {
          char l[64];
          format_left((long long)left->valuedouble, l, sizeof(l));
          acct_clean(ctx->out, expires, 40);
          fprintf(ctx->out, " (in %s)\n", l);
        } else {
          fputs("never\n", ctx->out);
        }
      }
      if (cJSON_IsNumber(left) && left->valuedouble < PB_CLI_TOKEN_WARN_S) {
        char l[64];
        format_left((long long)left->valuedouble, l, sizeof(l));
        fprintf(ctx->err,
                "ppod: warning: the token expires in %s; get a new one (POST /login, or ask "
                "the operator) and run 'ppod login <token>'\n",
                l);
      }
    }
    acct_done(&acc);
  }
  free(url);
  free(token);
  if (a->json) return emit_json(ctx, j, status);
  cJSON_Delete(j);
  return fflush(ctx->out) ? PB_CLI_EXIT_FAIL : status;
}

int pb_cli_balance(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char err[1024];
  char *url = NULL, *token = NULL;
  int rc = pb_cli_resolve(a->url, a->token, &url, &token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  if (!token) {
    fprintf(ctx->err,
            "ppod: not signed in: run 'ppod login <token>', or pass --token or set "
            "PAPERPOD_TOKEN\n");
    free(url);
    return PB_CLI_EXIT_FAIL;
  }
  acct_call c;
  int status = PB_CLI_EXIT_OK;
  const cJSON *res = NULL;
  if (acct_get(ctx, url, "/account", token, &c)) {
    fprintf(ctx->err, "ppod: %s\n", c.err);
    status = PB_CLI_EXIT_FAIL;
  } else if (c.resp.status != 200 || !(res = cJSON_GetObjectItemCaseSensitive(c.doc, "result"))) {
    report(ctx, &c, "/account");
    status = PB_CLI_EXIT_FAIL;
  }
  free(url);
  free(token);
  if (status) {
    acct_done(&c);
    return status;
  }
  const cJSON *bal = cJSON_GetObjectItemCaseSensitive(res, "balance");
  const cJSON *use = cJSON_GetObjectItemCaseSensitive(res, "usageToday");
  if (a->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "balance", bal ? cJSON_Duplicate(bal, 1) : cJSON_CreateNull());
    cJSON_AddBoolToObject(o, "metered", cJSON_IsNumber(bal));
    cJSON_AddItemToObject(o, "usageToday", cJSON_Duplicate(use, 1));
    acct_done(&c);
    return emit_json(ctx, o, PB_CLI_EXIT_OK);
  }
  char amount[64];
  if (cJSON_IsNumber(bal))
    pb_cli_format_micros((long long)bal->valuedouble, amount, sizeof(amount));
  else
    snprintf(amount, sizeof(amount), "unmetered");
  fprintf(ctx->out,
          "balance:      %s\n"
          "today (UTC):  %.1f s browser time, %.0f sessions, %.0f quick actions, "
          "%.0f crawl pages\n",
          amount, num_at(use, "browserMs") / 1000.0, num_at(use, "sessions"),
          num_at(use, "quickActions"), num_at(use, "crawlPages"));
  acct_done(&c);
  return fflush(ctx->out) ? PB_CLI_EXIT_FAIL : PB_CLI_EXIT_OK;
}
