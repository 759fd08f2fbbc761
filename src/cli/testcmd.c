/* `ppod browser:test <url> '<json>'`: sends a test script to POST
 * /browser/test and reports step by step. Exit 0 passed, 1 a step failed
 * (or the service failed), 2 a bad script or usage. */
#include "cli/testcmd.h"

#include "cli/config.h"
#include "cli/files.h"
#include "common/json.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TC_MAX_SCRIPT PB_CLI_MAX_TEXT_FILE

int pb_cli_test_extra(cJSON *body, const char *const *args, int n) {
  if (!n) return 0;
  return cJSON_AddStringToObject(body, PB_CLI_TEST_SCRIPT_FIELD, args[0]) ? 0 : PB_ENOMEM;
}

/* Takes a string field the flag table parked in the body. */
static char *tc_take(cJSON *body, const char *name) {
  cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(body, name);
  char *s = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
  cJSON_Delete(v);
  return s;
}

static void tc_xml_escape(pb_buf *b, const char *s) {
  if (s) pb_buf_escape_markup(b, s, strlen(s));
}


/* The same JUnit shape the server answers for ?format=junit. */
static int tc_write_junit(const char *path, const cJSON *result, const char *suite, FILE *errf) {
  pb_buf b;
  pb_buf_init(&b, (size_t)64 << 20);
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(result, "steps"), *st;
  int tests = 0, failures = 0, skipped = 0;
  cJSON_ArrayForEach(st, steps) {
    const char *s = pb_json_str(st, "status");
    tests++;
    failures += s && !strcmp(s, "failed");
    skipped += s && !strcmp(s, "skipped");
  }
  double secs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(result, "durationMs")) / 1000;
  pb_buf_printf(
      &b,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites tests=\"%d\" failures=\"%d\" "
      "skipped=\"%d\" time=\"%.3f\">\n  <testsuite name=\"",
      tests, failures, skipped, secs == secs ? secs : 0);
  tc_xml_escape(&b, suite);
  pb_buf_printf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\">\n", tests,
                failures, skipped);
  cJSON_ArrayForEach(st, steps) {
    const char *s = pb_json_str(st, "status"), *name = pb_json_str(st, "name"), *e = pb_json_str(st, "error");
    double ms = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "durationMs"));
    pb_buf_printf(&b, "    <testcase classname=\"");
    tc_xml_escape(&b, suite);
    pb_buf_printf(&b, "\" name=\"%d. ",
                  (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "index")));
    tc_xml_escape(&b, name ? name : pb_json_str(st, "action"));
    pb_buf_printf(&b, "\" time=\"%.3f\"", ms == ms ? ms / 1000 : 0);
    if (s && !strcmp(s, "failed")) {
      pb_buf_printf(&b, ">\n      <failure message=\"");
      tc_xml_escape(&b, e);
      pb_buf_printf(&b, "\">");
      tc_xml_escape(&b, e);
      pb_buf_printf(&b, "</failure>\n    </testcase>\n");
    } else if (s && !strcmp(s, "skipped")) {
      pb_buf_printf(&b, ">\n      <skipped/>\n    </testcase>\n");
    } else {
      pb_buf_printf(&b, "/>\n");
    }
  }
  int rc = pb_buf_printf(&b, "  </testsuite>\n</testsuites>\n");
  char err[512];
  if (!rc)
    rc = pb_cli_file_write_atomic(path, b.data, b.len, 0644, err, sizeof(err));
  else
    pb_strlcpy(err, "the report is too large", sizeof(err));
  pb_buf_free(&b);
  if (rc) fprintf(errf, "ppod: --junit: %s\n", err);
  return rc;
}

static int tc_write_png(const char *dir, const char *name, const char *b64, FILE *out, FILE *errf) {
  /* Names come from the script; keep them inside dir. */
  char safe[200];
  size_t n = 0;
  for (const char *p = name; *p && n + 1 < sizeof(safe); p++)
    safe[n++] = (*p == '/' || *p == '\\' || (p == name && *p == '.')) ? '_' : *p;
  safe[n] = '\0';
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s.png", dir, safe);
  unsigned char *bytes = NULL;
  size_t len = 0;
  char err[512];
  int rc = pb_base64_decode(b64, strlen(b64), &bytes, &len);
  if (rc) pb_strlcpy(err, "the server sent a broken image", sizeof(err));
  if (!rc) rc = pb_cli_file_write_atomic(path, bytes, len, 0644, err, sizeof(err));
  free(bytes);
  if (rc)
    fprintf(errf, "ppod: --screenshots: %s\n", err);
  else
    fprintf(out, "wrote %s\n", path);
  return rc;
}

static void tc_report(FILE *f, const cJSON *result, int color) {
  const char *green = color ? "\033[32m" : "", *red = color ? "\033[31m" : "",
             *dim = color ? "\033[2m" : "", *off = color ? "\033[0m" : "";
  const cJSON *st;
  cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(result, "steps")) {
    const char *s = pb_json_str(st, "status"), *name = pb_json_str(st, "name"),
               *action = pb_json_str(st, "action");
    int idx = (int)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "index"));
    double ms = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "durationMs"));
    int failed = s && !strcmp(s, "failed"), skipped = s && !strcmp(s, "skipped");
    fprintf(f, "%s%s%s %3d  %s",
            failed    ? red
            : skipped ? dim
                      : green,
            failed    ? "FAIL"
            : skipped ? "skip"
                      : " ok ",
            off, idx, action ? action : "?");
    if (name && action && strcmp(name, action)) fprintf(f, " (%s)", name);
    if (!skipped) fprintf(f, "  %s%.0f ms%s", dim, ms, off);
    fprintf(f, "\n");
    if (failed)
      fprintf(f, "        %s%s%s\n", red, pb_json_str(st, "error") ? pb_json_str(st, "error") : "", off);
  }
  const cJSON *c;
  cJSON_ArrayForEach(c,
                     cJSON_GetObjectItemCaseSensitive(result, "pageErrors")) if (cJSON_IsString(c))
      fprintf(f, "page error: %s\n", c->valuestring);
  int passed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "passed"));
  fprintf(f, "%s%s%s in %.0f ms\n", passed ? green : red, passed ? "PASSED" : "FAILED", off,
          cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(result, "durationMs")));
}

/* Merges the script (an object, or a bare list of steps) into the body. */
static int tc_merge_script(cJSON *body, const char *text, char *err, size_t errcap) {
  cJSON *script = cJSON_Parse(text);
  if (!script || (!cJSON_IsObject(script) && !cJSON_IsArray(script))) {
    cJSON_Delete(script);
    snprintf(err, errcap, "the script is not a JSON object or list of steps");
    return PB_EINVAL;
  }
  if (cJSON_IsArray(script)) {
    cJSON_DeleteItemFromObjectCaseSensitive(body, "steps");
    cJSON_AddItemToObject(body, "steps", script);
    return 0;
  }
  cJSON *it = script->child;
  while (it) {
    cJSON *next = it->next;
    cJSON *v = cJSON_DetachItemViaPointer(script, it);
    /* Command-line flags win over the script's own options. */
    if (!cJSON_GetObjectItemCaseSensitive(body, v->string))
      cJSON_AddItemToObject(body, v->string, v);
    else
      cJSON_Delete(v);
    it = next;
  }
  cJSON_Delete(script);
  return 0;
}

int pb_cli_test_run(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  char err[1024];
  int status = PB_CLI_EXIT_USAGE;
  char *url = NULL, *token = NULL, *file = NULL, *junit = NULL, *shots = NULL, *script = NULL,
       *text = NULL, *body_json = NULL;
  cJSON *body = cJSON_Parse(a->body ? a->body : "{}"), *doc = NULL;
  pb_cli_response resp;
  memset(&resp, 0, sizeof(resp));
  if (!body) {
    fprintf(ctx->err, "ppod: out of memory\n");
    return PB_CLI_EXIT_FAIL;
  }
  script = tc_take(body, PB_CLI_TEST_SCRIPT_FIELD);
  file = tc_take(body, PB_CLI_TEST_FILE_FIELD);
  junit = tc_take(body, PB_CLI_TEST_JUNIT_FIELD);
  shots = tc_take(body, PB_CLI_TEST_SHOTS_FIELD);
  if (!script == !file) {
    fprintf(ctx->err, "ppod: give the script as an argument or with --file, not %s\n",
            script ? "both" : "neither");
    goto done;
  }
  if (file) {
    size_t len;
    int rc = pb_cli_file_read(file, TC_MAX_SCRIPT, &text, &len, err, sizeof(err));
    if (rc) {
      fprintf(ctx->err, "ppod: --file: %s\n", err);
      goto done;
    }
  }
  if (tc_merge_script(body, file ? text : script, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    goto done;
  }
  const char *suite = pb_json_str(body, "url");
  char suite_buf[512];
  pb_strlcpy(suite_buf, suite ? suite : "ppod browser test", sizeof(suite_buf));
  body_json = cJSON_PrintUnformatted(body);
  int rc = pb_cli_resolve(a->url, a->token, &url, &token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    status = rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
    goto done;
  }
  pb_cli_request req = {
      .method = "POST",
      .base_url = url,
      .route = cmd->route,
      .token = token,
      .body = body_json,
      .body_len = body_json ? strlen(body_json) : 0,
      .max_response = PB_CLI_MAX_RESPONSE,
      .timeout_ms = PB_CLI_TIMEOUT_MS,
  };
  status = PB_CLI_EXIT_FAIL;
  if (ctx->send(&req, &resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    goto done;
  }
  doc = cJSON_ParseWithLength(resp.body.data ? resp.body.data : "", resp.body.len);
  const cJSON *result = cJSON_GetObjectItemCaseSensitive(doc, "result");
  if (resp.status != 200 || !cJSON_IsObject(result)) {
    const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
    fprintf(ctx->err, "ppod: %s: %s\n", pb_json_str(e0, "code") ? pb_json_str(e0, "code") : "ERROR",
            pb_json_str(e0, "message") ? pb_json_str(e0, "message") : "the server's answer has no result");
    /* A script the server refused is the user's to fix. */
    if (resp.status == 400 || resp.status == 413) status = PB_CLI_EXIT_USAGE;
    goto done;
  }
  int passed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(result, "passed"));
  if (a->json) {
    char *j = cJSON_Print(result);
    if (j) fprintf(ctx->out, "%s\n", j);
    free(j);
  } else {
    tc_report(ctx->out, result, ctx->out == stdout && isatty(fileno(stdout)));
  }
  status = passed ? PB_CLI_EXIT_OK : PB_CLI_EXIT_FAIL;
  if (junit && tc_write_junit(junit, result, suite_buf, ctx->err)) status = PB_CLI_EXIT_FAIL;
  if (shots) {
    FILE *msg = a->json ? ctx->err : ctx->out;
    if (pb_cli_mkdir_p(shots, 0755, err, sizeof(err))) {
      fprintf(ctx->err, "ppod: --screenshots: %s\n", err);
      status = PB_CLI_EXIT_FAIL;
    } else {
      const cJSON *s;
      cJSON_ArrayForEach(
          s, cJSON_GetObjectItemCaseSensitive(
                 result, "screenshots")) if (cJSON_IsString(s) &&
                                             tc_write_png(shots, s->string, s->valuestring, msg,
                                                          ctx->err)) status = PB_CLI_EXIT_FAIL;
      const char *fs = pb_json_str(result, "failureScreenshot");
      if (fs && tc_write_png(shots, "failure", fs, msg, ctx->err)) status = PB_CLI_EXIT_FAIL;
    }
  }

done:
  cJSON_Delete(doc);
  cJSON_Delete(body);
  pb_buf_free(&resp.body);
  free(url);
  free(token);
  free(file);
  free(junit);
  free(shots);
  free(script);
  free(text);
  free(body_json);
  return status;
}
