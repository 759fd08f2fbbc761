#include "cli/crawlcmd.h"

#include "cli/config.h"
#include "cli/files.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 300
#define PAGE_SIZE 100
#define NAME_MAX_BYTES 120

void pb_cli_crawl_file_name(const char *url, char *out, size_t cap) {
  const char *p = strstr(url, "://");
  p = p ? p + 3 : url;
  p += strcspn(p, "/?#"); /* past the host */
  size_t n = 0;
  if (*p == '/') p++;
  for (; *p && *p != '#' && n + 1 < cap && n < NAME_MAX_BYTES; p++) {
    unsigned char c = (unsigned char)*p;
    char o = isalnum(c) || c == '.' || c == '-' || c == '_' ? (char)c : c == '/' ? '-' : '_';
    out[n++] = o;
  }
  while (n && (out[n - 1] == '-' || out[n - 1] == '_')) n--; /* "a/" is "a" */
  out[n] = '\0';
  if (!n) pb_strlcpy(out, "index", cap);
  if (out[0] == '.') out[0] = '_'; /* never hidden, never ".." */
}

/* Text from the outside world for a terminal: control bytes dropped. */
static void crawl_put_clean(FILE *f, const char *s, size_t max) {
  for (size_t i = 0; s[i] && i < max; i++)
    fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i], f);
}

typedef struct {
  char *url, *token;
} conn_info;

/* method route (body may be NULL): the parsed envelope's result in *doc
 * (caller frees doc). PB_CLI_EXIT_* ; an error answer is reported. */
static int call(pb_cli_ctx *ctx, const conn_info *ci, const char *method, const char *route,
                const char *body, cJSON **doc, const cJSON **result) {
  char err[1024];
  *doc = NULL;
  pb_cli_request req = {.method = method,
                        .base_url = ci->url,
                        .route = route,
                        .token = ci->token,
                        .body = body,
                        .body_len = body ? strlen(body) : 0,
                        .max_response = PB_CLI_MAX_RESPONSE,
                        .timeout_ms = PB_CLI_TIMEOUT_MS};
  pb_cli_response resp;
  memset(&resp, 0, sizeof(resp));
  pb_buf_init(&resp.body, 0);
  if (ctx->send(&req, &resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    pb_buf_free(&resp.body);
    return PB_CLI_EXIT_FAIL;
  }
  *doc = resp.body.len ? cJSON_ParseWithLength(resp.body.data, resp.body.len) : NULL;
  pb_buf_free(&resp.body);
  if (resp.status < 200 || resp.status >= 300 ||
      !cJSON_IsTrue(cJSON_GetObjectItem(*doc, "success"))) {
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItem(*doc, "errors"), 0);
    const char *code = cJSON_GetStringValue(cJSON_GetObjectItem(e0, "code"));
    const char *msg = cJSON_GetStringValue(cJSON_GetObjectItem(e0, "message"));
    fputs("ppod: ", ctx->err);
    if (code) {
      crawl_put_clean(ctx->err, code, 100);
      fputs(": ", ctx->err);
      crawl_put_clean(ctx->err, msg ? msg : "", 2000);
    } else {
      fprintf(ctx->err, "HTTP %ld from %s%s", resp.status, ci->url, route);
    }
    fputc('\n', ctx->err);
    cJSON_Delete(*doc);
    *doc = NULL;
    return PB_CLI_EXIT_FAIL;
  }
  *result = cJSON_GetObjectItem(*doc, "result");
  return PB_CLI_EXIT_OK;
}

/* The file names given so far, to make each unique. */
typedef struct {
  char **names;
  size_t n, cap;
} name_set;

static int name_taken(const name_set *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (!strcasecmp(s->names[i], name)) return 1;
  return 0;
}

static int name_add(name_set *s, const char *name) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    char **nv = realloc(s->names, nc * sizeof(char *));
    if (!nv) return PB_ENOMEM;
    s->names = nv;
    s->cap = nc;
  }
  s->names[s->n] = strdup(name);
  return s->names[s->n++] ? 0 : PB_ENOMEM;
}

static void progress(pb_cli_ctx *ctx, int tty, const cJSON *counts, const char *line) {
  double done = cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "done"));
  double failed = cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "failed"));
  double skipped = cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "skipped"));
  double queued = cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "queued")) +
                  cJSON_GetNumberValue(cJSON_GetObjectItem(counts, "running"));
  double finished = done + failed + skipped, total = finished + queued;
  if (!tty) {
    if (line) fprintf(ctx->err, "%s\n", line);
    return;
  }
  int width = 30, fill = total > 0 ? (int)(width * finished / total) : 0;
  fputs("\r[", ctx->err);
  for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', ctx->err);
  fprintf(ctx->err, "] %.0f/%.0f pages (%.0f failed, %.0f skipped) ", finished, total, failed,
          skipped);
  fflush(ctx->err);
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int pb_cli_crawl_run(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char err[1024];
  conn_info ci = {0};
  int rc = pb_cli_resolve(a->url, a->token, &ci.url, &ci.token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  const char *dir = a->out ? a->out : "crawl";
  cJSON *body = a->body ? cJSON_Parse(a->body) : cJSON_CreateObject();
  cJSON_AddStringToObject(body, "url", a->pos[0]);
  cJSON *fmts = cJSON_AddArrayToObject(body, "formats");
  cJSON_AddItemToArray(fmts, cJSON_CreateString("markdown"));
  char *text = cJSON_PrintUnformatted(body);
  cJSON_Delete(body);
  cJSON *doc = NULL, *index = cJSON_CreateArray();
  const cJSON *result = NULL;
  name_set names = {0};
  int status = PB_CLI_EXIT_FAIL, tty = isatty(fileno(ctx->err));
  if (pb_cli_mkdir_p(dir, 0755, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    goto out;
  }
  status = call(ctx, &ci, "POST", "/browser/crawl", text, &doc, &result);
  if (status) goto out;
  char id[64];
  /* The job's id is the result (Cloudflare's shape). */
  const char *rid = cJSON_GetStringValue(result);
  if (!rid || strspn(rid, "0123456789abcdef") != strlen(rid) || strlen(rid) >= sizeof(id)) {
    fprintf(ctx->err, "ppod: the server answered no crawl id\n");
    status = PB_CLI_EXIT_FAIL;
    goto out;
  }
  pb_strlcpy(id, rid, sizeof(id));
  cJSON_Delete(doc);
  doc = NULL;
  char cursor[32] = "0", route[256], crawl_status[32] = "running";
  for (;;) {
    snprintf(route, sizeof(route), "/browser/crawl/%s?cursor=%s&limit=%d", id, cursor, PAGE_SIZE);
    status = call(ctx, &ci, "GET", route, NULL, &doc, &result);
    if (status) goto out;
    const cJSON *r;
    int got = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(result, "records")) {
      got++;
      const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(r, "url"));
      const char *st = cJSON_GetStringValue(cJSON_GetObjectItem(r, "status"));
      const char *md = cJSON_GetStringValue(cJSON_GetObjectItem(r, "markdown"));
      if (!url || !st) continue;
      cJSON *e = cJSON_Duplicate(r, 1);
      cJSON_DeleteItemFromObject(e, "markdown");
      cJSON_DeleteItemFromObject(e, "links");
      char line[6400];
      if (!strcmp(st, "completed") && md) {
        char name[NAME_MAX_BYTES + 8], file[NAME_MAX_BYTES + 32];
        pb_cli_crawl_file_name(url, name, sizeof(name));
        snprintf(file, sizeof(file), "%s.md", name);
        for (unsigned short k = 2; name_taken(&names, file) && k < 60000; k++)
          snprintf(file, sizeof(file), "%s-%u.md", name, (unsigned)k);
        name_add(&names, file);
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (pb_cli_file_write_atomic(path, md, strlen(md), 0644, err, sizeof(err))) {
          fprintf(ctx->err, "ppod: %s\n", err);
          cJSON_Delete(e);
          status = PB_CLI_EXIT_FAIL;
          goto out;
        }
        cJSON_AddStringToObject(e, "file", file);
        snprintf(line, sizeof(line), "%.2000s -> %s", url, path);
      } else {
        const char *why = cJSON_GetStringValue(cJSON_GetObjectItem(r, "error"));
        snprintf(line, sizeof(line), "%.2000s %s%s%.300s", url, st, why ? ": " : "",
                 why ? why : "");
      }
      cJSON_AddItemToArray(index, e);
      for (char *q = line; *q; q++)
        if ((unsigned char)*q < 0x20) *q = '?';
      progress(ctx, tty, cJSON_GetObjectItem(result, "counts"), line);
    }
    /* The cursor is a number (Cloudflare's shape); null once all is read. */
    const cJSON *cj = cJSON_GetObjectItem(result, "cursor");
    char curbuf[32] = "";
    if (cJSON_IsNumber(cj) && cj->valuedouble >= 0 && cj->valuedouble < 9.2e18)
      snprintf(curbuf, sizeof(curbuf), "%lld", (long long)cj->valuedouble);
    const char *cur = curbuf[0] ? curbuf : NULL;
    const char *cs = cJSON_GetStringValue(cJSON_GetObjectItem(result, "status"));
    pb_strlcpy(crawl_status, cs ? cs : "", sizeof(crawl_status));
    if (tty) progress(ctx, tty, cJSON_GetObjectItem(result, "counts"), NULL);
    if (cur && strspn(cur, "0123456789") == strlen(cur) && strlen(cur) < sizeof(cursor))
      pb_strlcpy(cursor, cur, sizeof(cursor));
    cJSON_Delete(doc);
    doc = NULL;
    if (!cur) break; /* ended, and everything read */
    if (!got) sleep_ms(POLL_MS);
  }
  if (tty) fputc('\n', ctx->err);
  char *idx = cJSON_Print(index);
  char path[4200];
  snprintf(path, sizeof(path), "%s/index.json", dir);
  if (!idx || pb_cli_file_write_atomic(path, idx, strlen(idx), 0644, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", idx ? err : "out of memory");
    free(idx);
    status = PB_CLI_EXIT_FAIL;
    goto out;
  }
  free(idx);
  if (strcmp(crawl_status, "completed")) {
    fprintf(ctx->err, "ppod: the crawl ended %s\n", crawl_status);
    status = PB_CLI_EXIT_FAIL;
  } else {
    status = PB_CLI_EXIT_OK;
  }
  fprintf(ctx->out, "%s\n", dir);
out:
  cJSON_Delete(doc);
  cJSON_Delete(index);
  for (size_t i = 0; i < names.n; i++) free(names.names[i]);
  free(names.names);
  free(text);
  free(ci.url);
  free(ci.token);
  return status;
}
