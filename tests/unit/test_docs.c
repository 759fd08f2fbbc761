/* GET /docs' page (http/docs.c) from the shipped OpenAPI document: every
 * documented route of the table is on it with a curl example; strings from
 * the document are escaped; the CSP's hashes are those of the inline style
 * and script; the `ppod` lines name commands the CLI has, and every CLI
 * command is shown somewhere. The CLI is an executable, not a library, so
 * its curl-free sources are included here (as test_cli_args does). */
#include "../../src/cli/account.c"
#include "../../src/cli/args.c"
#include "../../src/cli/commands.c"
#include "../../src/cli/config.c"
#include "../../src/cli/files.c"
#include "../../src/cli/testcmd.c"
int pb_cli_mcp(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd, (void)ctx, (void)a;
  return PB_CLI_EXIT_FAIL;
}
#include "../../src/cli/crawlcmd.c"
#include "../../src/cli/logincmd.c"

#include "common/hash.h"
#include "http/docs.h"
#include "http/jsonschema.h"
#include "http/openapi.h"
#include "http/routes.h"
#include "test.h"

static char *openapi;

static void load_openapi(void) {
  pb_schemas *s = NULL;
  ASSERT_EQ(pb_schemas_load(&s), 0);
  ASSERT_EQ(pb_openapi_build(s, &openapi), 0);
  pb_schemas_free(s);
}

/* The page's section of one operation, "" when absent (caller frees). */
static char *section_of(const char *html, const char *method_upper, const char *path) {
  char key[400];
  snprintf(key, sizeof(key), "data-route=\"%s %s\"", method_upper, path);
  const char *a = strstr(html, key);
  if (!a) return strdup("");
  const char *b = strstr(a, "</section>");
  ASSERT(b != NULL);
  return strndup(a, (size_t)(b - a));
}

/* Every documented row of the route table, and so every operation of the
 * document, is on the page, each with a curl line. */
static void test_every_route(void) {
  char *html = NULL, *csp = NULL;
  size_t len = 0;
  ASSERT_EQ(pb_docs_render(openapi, &html, &len, &csp), 0);
  ASSERT_EQ(len, strlen(html));
  size_t n;
  const pb_route *rows = pb_routes(&n);
  int documented = 0;
  for (size_t i = 0; i < n; i++) {
    const pb_route *rt = &rows[i];
    if (!rt->summary && rt->body != PB_BODY_JSON) continue;
    documented++;
    char path[256];
    ASSERT_EQ(pb_openapi_path(rt, path, sizeof(path)), 0);
    const char *m = rt->method == PB_METHOD_POST     ? "POST"
                    : rt->method == PB_METHOD_DELETE ? "DELETE"
                                                     : "GET";
    char *sec = section_of(html, m, path);
    if (!*sec) fprintf(stderr, "missing on the page: %s %s\n", m, path);
    ASSERT(*sec);
    ASSERT_CONTAINS(sec, "<pre class=\"curl\"><code>curl ");
    free(sec);
  }
  ASSERT(documented > 40);
  /* A quick action's fields come from its schema, common ones included. */
  char *sec = section_of(html, "POST", "/browser/screenshot");
  ASSERT_CONTAINS(sec, "<code>screenshotOptions.type</code>");
  ASSERT_CONTAINS(sec, "<code>viewport.width</code>");
  ASSERT_CONTAINS(sec, "<code>gotoOptions.waitUntil</code>");
  ASSERT_CONTAINS(sec, "-o out.png");
  ASSERT_CONTAINS(sec, "ppod browser:screenshot");
  ASSERT_CONTAINS(sec, "-d '{&quot;url&quot;:&quot;https://example.com/&quot;}'");
  free(sec);
  /* No token on an open route; the placeholder for a path parameter. */
  sec = section_of(html, "GET", "/healthz");
  ASSERT(strstr(sec, "Authorization") == NULL);
  free(sec);
  sec = section_of(html, "DELETE", "/browser/sessions/{id}/live/{linkId}");
  ASSERT_CONTAINS(sec, "\"$PAPERPOD_URL/browser/sessions/ID/live/LINKID\"");
  free(sec);

  /* The CSP allows exactly the inline style and script. */
  const char *st = strstr(html, "<style>") + 7, *st_end = strstr(html, "</style>");
  const char *sc = strstr(html, "<script>") + 8, *sc_end = strstr(html, "</script>");
  ASSERT(st_end > st && sc_end > sc);
  ASSERT(strstr(sc_end + 1, "<script") == NULL); /* one script, inline */
  ASSERT(strstr(html, " src=") == NULL && strstr(html, "<link") == NULL);
  static const char *const parts[2] = {"style-src 'sha256-", "script-src 'sha256-"};
  const char *starts[2] = {st, sc}, *ends[2] = {st_end, sc_end};
  for (int i = 0; i < 2; i++) {
    unsigned char h[PB_SHA256_LEN];
    pb_sha256(starts[i], (size_t)(ends[i] - starts[i]), h);
    char *b64 = NULL;
    ASSERT_EQ(pb_base64_encode(h, sizeof(h), &b64), 0);
    char want[128];
    snprintf(want, sizeof(want), "%s%s'", parts[i], b64);
    ASSERT_CONTAINS(csp, want);
    free(b64);
  }
  ASSERT_CONTAINS(csp, "default-src 'none'");
  free(html);
  free(csp);
}

/* What a schema says is text on the page, never markup. */
static void test_escaping(void) {
  const char *hostile =
      "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"<b>t</b>\",\"version\":\"1\\\"><x>\","
      "\"description\":\"</p><script>alert(1)</script>\"},"
      "\"paths\":{\"/a/{id\\\"<s>}\":{\"post\":{\"summary\":\"<img src=x onerror=alert(1)>\","
      "\"x-auth\":\"token\",\"requestBody\":{\"content\":{\"application/json\":{\"schema\":"
      "{\"$ref\":\"#/components/schemas/s\"}}}},\"responses\":{\"200\":{\"description\":"
      "\"</table><iframe>\"}}}},\"/b\":{\"post\":{\"requestBody\":{\"content\":{"
      "\"application/json\":{\"schema\":{\"$ref\":\"#/components/schemas/s2\"}}}}}}},"
      "\"components\":{\"schemas\":{\"s\":{\"type\":\"object\",\"examples\":[{\"q\":\"it's "
      "</code>\"}],\"properties\":{\"<f>\":{\"type\":\"string\",\"default\":\"</td>\","
      "\"description\":\"<svg onload=x>\"},\"loop\":{\"$ref\":\"#/components/schemas/s\"}}},"
      "\"s2\":{\"x-include-properties\":\"#/components/schemas/s2\",\"allOf\":[{\"$ref\":"
      "\"#/components/schemas/s2\"},{\"$ref\":\"#/components/schemas/s2\"}],"
      "\"properties\":{\"zz\":{\"type\":\"string\"}}}},"
      "\"responses\":{\"E\":{\"description\":\"<hr>\"}}}}";
  char *html = NULL, *csp = NULL;
  ASSERT_EQ(pb_docs_render(hostile, &html, NULL, &csp), 0);
  static const char *const never[] = {"<b>t", "<x>",     "<script>alert", "<img", "<iframe", "<f>",
                                      "<svg", "</td>\"", "<hr>",          "<s>",  "it's"};
  for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
    if (strstr(html, never[i])) fprintf(stderr, "unescaped: %s\n", never[i]);
    ASSERT(strstr(html, never[i]) == NULL);
  }
  ASSERT_CONTAINS(html, "&lt;img src=x onerror=alert(1)&gt;");
  ASSERT_CONTAINS(html, "<code>&lt;f&gt;</code>");
  /* A schema that refers to itself ends at the depth cap. */
  ASSERT_CONTAINS(html, "<code>loop.loop.&lt;f&gt;</code>");
  ASSERT(strstr(html, "loop.loop.loop.") == NULL);
  /* One that includes itself is listed, within the caps. */
  char *sec = section_of(html, "POST", "/b");
  ASSERT_CONTAINS(sec, "<code>zz</code>");
  free(sec);
  /* A quote in the example stays inside the shell word. */
  ASSERT_CONTAINS(html, "it'\\''s");
  free(html);
  free(csp);

  html = (char *)1;
  ASSERT_EQ(pb_docs_render("[]", &html, NULL, &csp), PB_EINVAL);
  ASSERT(html == NULL && csp == NULL);
  ASSERT_EQ(pb_docs_render("not json", &html, NULL, &csp), PB_EINVAL);
  ASSERT_EQ(pb_docs_render(NULL, &html, NULL, &csp), PB_EINVAL);
}

/* The `ppod` lines: each names a command of the CLI and an operation of the
 * document, and every command but help and login has a line. */
static void test_cli_table(void) {
  cJSON *doc = cJSON_Parse(openapi);
  ASSERT(doc != NULL);
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
  for (const pb_docs_cli *c = pb_docs_cli_table; c->path; c++) {
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(paths, c->path), c->method);
    if (!op) fprintf(stderr, "not in /openapi.json: %s %s\n", c->method, c->path);
    ASSERT(op != NULL);
    ASSERT(!strncmp(c->ppod, "ppod ", 5));
    char name[64];
    size_t n = strcspn(c->ppod + 5, " ");
    ASSERT(n < sizeof(name));
    memcpy(name, c->ppod + 5, n);
    name[n] = '\0';
    if (!pb_cli_find_command(name)) fprintf(stderr, "no ppod command %s\n", name);
    ASSERT(pb_cli_find_command(name) != NULL);
  }
  for (const pb_cli_command *cmd = pb_cli_commands; cmd->name; cmd++) {
    if (!strcmp(cmd->name, "help") || !strcmp(cmd->name, "login")) continue;
    int shown = 0;
    for (const pb_docs_cli *c = pb_docs_cli_table; c->path && !shown; c++) {
      size_t n = strlen(cmd->name);
      shown = !strncmp(c->ppod + 5, cmd->name, n) && (c->ppod[5 + n] == ' ' || !c->ppod[5 + n]);
    }
    if (!shown) fprintf(stderr, "ppod %s has no line on /docs\n", cmd->name);
    ASSERT(shown);
  }
  cJSON_Delete(doc);
}

/* Every row of the route table is documented, or is an alias of one with a
 * trailing '/', or a catch-all for any method that says what is wrong. */
static void test_every_row_documented(void) {
  size_t n;
  const pb_route *rows = pb_routes(&n);
  for (size_t i = 0; i < n; i++) {
    const pb_route *rt = &rows[i];
    if (rt->summary || rt->body == PB_BODY_JSON) continue;
    size_t len = strlen(rt->pattern);
    int alias = 0;
    if (len > 1 && rt->pattern[len - 1] == '/') {
      char base[256];
      ASSERT(len < sizeof(base));
      memcpy(base, rt->pattern, len - 1);
      base[len - 1] = '\0';
      for (size_t j = 0; j < n && !alias; j++)
        alias = !strcmp(rows[j].pattern, base) && rows[j].method == rt->method && rows[j].summary;
    }
    if (!alias && rt->method != PB_METHOD_ANY)
      fprintf(stderr, "undocumented route: %s\n", rt->pattern);
    ASSERT(alias || rt->method == PB_METHOD_ANY);
  }
}

int main(void) {
  load_openapi();
  RUN(test_every_route);
  RUN(test_escaping);
  RUN(test_cli_table);
  RUN(test_every_row_documented);
  free(openapi);
  DONE();
}
