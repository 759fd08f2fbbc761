/* ppod's argument parsing, request bodies, token storage and the command
 * runner, against a fake transport (no server, no libcurl). The CLI is an
 * executable, not a library, so its curl-free sources are included here. */
#include "../../src/cli/account.c"
#include "../../src/cli/args.c"
#include "../../src/cli/commands.c"
#include "../../src/cli/config.c"
#include "../../src/cli/files.c"
#include "../../src/cli/testcmd.c"
/* `ppod mcp` streams with libcurl itself (cli/mcp.c): not run here. */
int pb_cli_mcp(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd, (void)ctx, (void)a;
  return PB_CLI_EXIT_FAIL;
}
#include "../../src/cli/crawlcmd.c"
#include "../../src/cli/logincmd.c"

#include "test.h"

#include <dirent.h>
#include <unistd.h>

#define ARGC(v) ((int)(sizeof(v) / sizeof((v)[0])))

static char tmpdir[256];

/* Parses argv for the command called name; returns the body as a tree (NULL
 * on error, with err filled). */
static cJSON *body_of(const char *name, int argc, char **argv, pb_cli_args *a, char *err) {
  const pb_cli_command *cmd = pb_cli_find_command(name);
  ASSERT(cmd != NULL);
  if (pb_cli_parse(cmd, argc, argv, a, err, 256)) return NULL;
  ASSERT(a->body != NULL);
  cJSON *j = cJSON_Parse(a->body);
  ASSERT(j != NULL);
  return j;
}

static const cJSON *at(const cJSON *j, const char *a, const char *b) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
  return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

/* Expects a usage error mentioning want. */
static void expect_usage_error(int argc, char **argv, const char *want) {
  pb_cli_args a;
  char err[256] = "";
  int rc = pb_cli_parse(pb_cli_find_command("browser:screenshot"), argc, argv, &a, err,
                        sizeof(err));
  ASSERT_EQ(rc, PB_EINVAL);
  ASSERT_CONTAINS(err, want);
  ASSERT(a.body == NULL);
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  ASSERT(f != NULL);
  fputs(text, f);
  fclose(f);
}

static void test_screenshot_body(void) {
  char *argv[] = {"--full-page",   "https://example.com/", "--viewport", "800x600",
                  "--type=jpeg",   "--quality",            "80",         "--wait-for",
                  "#main",         "--selector",           ".card",      "-o",
                  "out.jpg",       "--timeout",            "5000",       "--wait-until",
                  "networkidle0"};
  pb_cli_args a;
  char err[256];
  cJSON *j = body_of("browser:screenshot", ARGC(argv), argv, &a, err);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "url", NULL)), "https://example.com/");
  ASSERT(cJSON_IsTrue(at(j, "screenshotOptions", "fullPage")));
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "screenshotOptions", "type")), "jpeg");
  ASSERT_EQ(cJSON_GetNumberValue(at(j, "screenshotOptions", "quality")), 80);
  ASSERT_EQ(cJSON_GetNumberValue(at(j, "viewport", "width")), 800);
  ASSERT_EQ(cJSON_GetNumberValue(at(j, "viewport", "height")), 600);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "waitForSelector", "selector")), "#main");
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "selector", NULL)), ".card");
  ASSERT_EQ(cJSON_GetNumberValue(at(j, "timeout", NULL)), 5000);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "gotoOptions", "waitUntil")), "networkidle0");
  ASSERT_STR_EQ(a.out, "out.jpg");
  ASSERT_EQ(cJSON_GetArraySize(j), 7); /* -o is not a body field */
  /* Integers go out as integers: the schema says "type": "integer". */
  ASSERT_CONTAINS(a.body, "\"quality\":80");
  ASSERT(!strstr(a.body, "80."));
  cJSON_Delete(j);
  pb_cli_args_free(&a);
}

static void test_minimal_body_and_last_flag_wins(void) {
  char *argv[] = {"--type", "png", "http://a/", "--type", "webp"};
  pb_cli_args a;
  char err[256];
  cJSON *j = body_of("browser:screenshot", ARGC(argv), argv, &a, err);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "screenshotOptions", "type")), "webp");
  ASSERT_EQ(cJSON_GetArraySize(at(j, "screenshotOptions", NULL)), 1);
  cJSON_Delete(j);
  pb_cli_args_free(&a);

  char *plain[] = {"http://a/"};
  j = body_of("browser:screenshot", 1, plain, &a, err);
  ASSERT_STR_EQ(a.body, "{\"url\":\"http://a/\"}");
  ASSERT(a.out == NULL);
  cJSON_Delete(j);
  pb_cli_args_free(&a);
}

static void test_html_instead_of_url(void) {
  char path[300];
  snprintf(path, sizeof(path), "%s/page.html", tmpdir);
  write_text(path, "<h1>\"quoted\" & more</h1>\n");
  char *argv[] = {"--html", path, "--full-page"};
  pb_cli_args a;
  char err[256];
  cJSON *j = body_of("browser:screenshot", ARGC(argv), argv, &a, err);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "html", NULL)), "<h1>\"quoted\" & more</h1>\n");
  ASSERT(at(j, "url", NULL) == NULL);
  cJSON_Delete(j);
  pb_cli_args_free(&a);

  char *both[] = {"http://a/", "--html", path};
  expect_usage_error(ARGC(both), both, "not both");

  char *missing[] = {"--html", "/nonexistent/page.html"};
  char err2[256] = "";
  ASSERT_EQ(pb_cli_parse(pb_cli_find_command("browser:screenshot"), 2, missing, &a, err2,
                         sizeof(err2)),
            PB_EIO);
  ASSERT_CONTAINS(err2, "/nonexistent/page.html");
}

static void test_usage_errors(void) {
  char *none[] = {"--full-page"};
  expect_usage_error(ARGC(none), none, "missing <url>");
  char *two[] = {"http://a/", "http://b/"};
  expect_usage_error(ARGC(two), two, "unexpected argument 'http://b/'");
  char *vp1[] = {"http://a/", "--viewport", "800"};
  expect_usage_error(ARGC(vp1), vp1, "--viewport wants WIDTHxHEIGHT");
  char *vp2[] = {"http://a/", "--viewport", "0x600"};
  expect_usage_error(ARGC(vp2), vp2, "--viewport");
  char *vp3[] = {"http://a/", "--viewport", "800x600x2"};
  expect_usage_error(ARGC(vp3), vp3, "--viewport");
  char *vp4[] = {"http://a/", "--viewport", "x600"};
  expect_usage_error(ARGC(vp4), vp4, "--viewport");
  char *type[] = {"http://a/", "--type", "gif"};
  expect_usage_error(ARGC(type), type, "png|jpeg|webp");
  char *q1[] = {"http://a/", "--quality", "101"};
  expect_usage_error(ARGC(q1), q1, "0 to 100");
  char *q2[] = {"http://a/", "--quality", "8O"};
  expect_usage_error(ARGC(q2), q2, "--quality");
  char *unknown[] = {"http://a/", "--fullpage"};
  expect_usage_error(ARGC(unknown), unknown, "unknown option '--fullpage'");
  char *novalue[] = {"http://a/", "--wait-for"};
  expect_usage_error(ARGC(novalue), novalue, "--wait-for wants a value");
  char *boolval[] = {"http://a/", "--full-page=yes"};
  expect_usage_error(ARGC(boolval), boolval, "--full-page takes no value");
  char *emptyout[] = {"http://a/", "-o", ""};
  expect_usage_error(ARGC(emptyout), emptyout, "--output");
}

static void test_double_dash_and_globals(void) {
  /* After "--" everything is positional, even what looks like a flag. */
  char *dd[] = {"--full-page", "--", "-page-"};
  pb_cli_args a;
  char err[256];
  cJSON *j = body_of("browser:screenshot", ARGC(dd), dd, &a, err);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "url", NULL)), "-page-");
  cJSON_Delete(j);
  pb_cli_args_free(&a);

  char *g[] = {"http://a/", "--token", "T1", "--url=http://h:1"};
  j = body_of("browser:screenshot", ARGC(g), g, &a, err);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(a.token, "T1");
  ASSERT_STR_EQ(a.url, "http://h:1");
  ASSERT_EQ(cJSON_GetArraySize(j), 1);
  cJSON_Delete(j);
  pb_cli_args_free(&a);
}

static void test_help(void) {
  const pb_cli_command *cmd = pb_cli_find_command("browser:screenshot");
  char *h1[] = {"--help"};
  char *h2[] = {"http://a/", "-h", "--bogus"};
  char *h3[] = {"--wait-for", "--help", "http://a/"}; /* a value, not a request */
  char *h4[] = {"--", "--help"};
  ASSERT_EQ(pb_cli_wants_help(cmd, 1, h1), 1);
  ASSERT_EQ(pb_cli_wants_help(cmd, 3, h2), 1);
  ASSERT_EQ(pb_cli_wants_help(cmd, 3, h3), 0);
  ASSERT_EQ(pb_cli_wants_help(cmd, 2, h4), 0);

  char *text;
  size_t len;
  FILE *f = open_memstream(&text, &len);
  pb_cli_print_help(cmd, f);
  fclose(f);
  ASSERT_CONTAINS(text, "usage: ppod browser:screenshot <url> [options]");
  ASSERT_CONTAINS(text, "--full-page");
  ASSERT_CONTAINS(text, "--viewport WxH");
  ASSERT_CONTAINS(text, "--type png|jpeg|webp");
  ASSERT_CONTAINS(text, "-o, --output FILE");
  ASSERT_CONTAINS(text, "--token TOKEN");
  free(text);
}

/* Every flag of every command parses with a plausible value, and every body
 * path lands in the body: a table typo shows up here. */
static void test_every_flag_reaches_the_body(void) {
  for (const pb_cli_command *c = pb_cli_commands; c->name; c++) {
    if (!c->flags || !c->route) continue;
    for (const pb_cli_flag *const *t = c->flags; *t; t++)
      for (const pb_cli_flag *f = *t; f->name; f++) {
        char path[300], val[64];
        snprintf(path, sizeof(path), "%s/any.html", tmpdir);
        write_text(path, "<p>x</p>");
        const char *v = val;
        switch (f->kind) {
        case PB_CLI_F_INT: snprintf(val, sizeof(val), "%lld", f->max); break;
        case PB_CLI_F_SIZE: snprintf(val, sizeof(val), "%lldx%lld", f->min, f->max); break;
        case PB_CLI_F_ENUM: snprintf(val, sizeof(val), "%.*s", (int)strcspn(f->choices, "|"),
                                     f->choices); break;
        case PB_CLI_F_TEXT_FILE: v = path; break;
        default: snprintf(val, sizeof(val), "v"); break;
        }
        /* --html stands in for the URL; commands without a page take none. */
        int no_value = f->kind == PB_CLI_F_BOOL || f->kind == PB_CLI_F_JSON ||
                       f->kind == PB_CLI_F_HELP || f->kind == PB_CLI_F_ENUM_CONST;
        char *with_url[] = {"http://a/", (char *)f->name, (char *)v};
        char *bare[] = {(char *)f->name, (char *)v};
        /* A command about one session (browser:live) names it first. */
        char *with_id[] = {"0123abcd", (char *)f->name, (char *)v};
        char **argv = c->page && f->kind != PB_CLI_F_TEXT_FILE ? with_url
                      : c->min_args > 0                         ? with_id
                                                                : bare;
        int argc = (argv != bare ? 1 : 0) + (no_value ? 1 : 2);
        pb_cli_args a;
        char err[256] = "";
        int rc = pb_cli_parse(c, argc, argv, &a, err, sizeof(err));
        if (rc) fprintf(stderr, "%s %s: %s\n", c->name, f->name, err);
        ASSERT_EQ(rc, 0);
        if (f->path) {
          char key[64];
          snprintf(key, sizeof(key), "\"%.*s\":", (int)strcspn(f->path, "."), f->path);
          ASSERT_CONTAINS(a.body, key);
        }
        pb_cli_args_free(&a);
      }
  }
}

static void test_token_storage(void) {
  char xdg[300], home[300], *path = NULL, *tok = NULL, err[256];
  struct stat st;
  snprintf(xdg, sizeof(xdg), "%s/xdg/nested", tmpdir);
  snprintf(home, sizeof(home), "%s/home", tmpdir);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  setenv("HOME", home, 1);

  ASSERT_EQ(pb_cli_token_load(&tok, err, sizeof(err)), PB_ENOTFOUND);
  ASSERT_EQ(pb_cli_token_save("tok-123", &path, err, sizeof(err)), 0);
  ASSERT_CONTAINS(path, "/xdg/nested/ppod/token");
  ASSERT_EQ(stat(path, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0600);
  char dir[320];
  snprintf(dir, sizeof(dir), "%s/ppod", xdg);
  ASSERT_EQ(stat(dir, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(stat(xdg, &st), 0);
  ASSERT_EQ(st.st_mode & 0777, 0700);
  ASSERT_EQ(pb_cli_token_load(&tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(tok, "tok-123");
  free(tok);
  free(path);

  /* A second login replaces the token. */
  ASSERT_EQ(pb_cli_token_save("tok-456", NULL, err, sizeof(err)), 0);
  ASSERT_EQ(pb_cli_token_load(&tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(tok, "tok-456");
  free(tok);

  ASSERT_EQ(pb_cli_token_save("has space", NULL, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_cli_token_save("", NULL, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_cli_token_save("a\r\nX-Evil: 1", NULL, err, sizeof(err)), PB_EINVAL);

  /* Without (or with a relative) XDG_CONFIG_HOME: ~/.config/ppod/token. */
  setenv("XDG_CONFIG_HOME", "relative/dir", 1);
  ASSERT_EQ(pb_cli_token_path(&path), 0);
  snprintf(dir, sizeof(dir), "%s/.config/ppod/token", home);
  ASSERT_STR_EQ(path, dir);
  free(path);
  unsetenv("XDG_CONFIG_HOME");
  ASSERT_EQ(pb_cli_token_save("tok-home", &path, err, sizeof(err)), 0);
  ASSERT_STR_EQ(path, dir);
  free(path);
}

static void test_resolve_order(void) {
  char *url, *tok, err[256];
  char home[300];
  snprintf(home, sizeof(home), "%s/home2", tmpdir);
  setenv("HOME", home, 1);
  unsetenv("XDG_CONFIG_HOME");
  unsetenv("PAPERPOD_URL");
  unsetenv("PAPERPOD_TOKEN");

  ASSERT_EQ(pb_cli_resolve(NULL, NULL, &url, &tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(url, "http://127.0.0.1:8080");
  ASSERT(tok == NULL);
  free(url);

  ASSERT_EQ(pb_cli_token_save("saved", NULL, err, sizeof(err)), 0);
  ASSERT_EQ(pb_cli_resolve(NULL, NULL, &url, &tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(tok, "saved");
  free(url);
  free(tok);

  setenv("PAPERPOD_TOKEN", "fromenv", 1);
  setenv("PAPERPOD_URL", "https://ppod.example:9/", 1);
  ASSERT_EQ(pb_cli_resolve(NULL, NULL, &url, &tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(tok, "fromenv");
  ASSERT_STR_EQ(url, "https://ppod.example:9"); /* no "//" before the route */
  free(url);
  free(tok);

  ASSERT_EQ(pb_cli_resolve("http://flag:1", "fromflag", &url, &tok, err, sizeof(err)), 0);
  ASSERT_STR_EQ(tok, "fromflag");
  ASSERT_STR_EQ(url, "http://flag:1");
  free(url);
  free(tok);

  ASSERT_EQ(pb_cli_resolve("localhost:8080", NULL, &url, &tok, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "--url 'localhost:8080' is not an http");
  setenv("PAPERPOD_TOKEN", "bad token", 1);
  ASSERT_EQ(pb_cli_resolve(NULL, NULL, &url, &tok, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "PAPERPOD_TOKEN");
  unsetenv("PAPERPOD_TOKEN");
  unsetenv("PAPERPOD_URL");
}

/* ---- the runner, with a fake transport -------------------------------- */

static struct {
  int calls;
  char method[16], route[160], base[128], token[64], body[1024];
  /* what to answer */
  int fail;
  long status;
  const char *ct, *data;
  size_t len;
} fake;

static long fake_retry_after = -1;

static int fake_send(const pb_cli_request *req, pb_cli_response *resp, char *err,
                     size_t errcap) {
  fake.calls++;
  pb_strlcpy(fake.method, req->method ? req->method : "(none)", sizeof(fake.method));
  pb_strlcpy(fake.route, req->route, sizeof(fake.route));
  pb_strlcpy(fake.base, req->base_url, sizeof(fake.base));
  pb_strlcpy(fake.token, req->token ? req->token : "(none)", sizeof(fake.token));
  pb_strlcpy(fake.body, req->body ? req->body : "", sizeof(fake.body));
  memset(resp, 0, sizeof(*resp));
  resp->retry_after = -1;
  pb_buf_init(&resp->body, req->max_response);
  if (fake.fail) {
    snprintf(err, errcap, "cannot reach %s: Connection refused", req->base_url);
    return PB_EIO;
  }
  resp->status = fake.status;
  resp->retry_after = fake_retry_after;
  pb_strlcpy(resp->content_type, fake.ct, sizeof(resp->content_type));
  ASSERT_EQ(pb_buf_append(&resp->body, fake.data, fake.len), 0);
  return 0;
}

static void answer(long status, const char *ct, const char *data, size_t len) {
  memset(&fake, 0, sizeof(fake));
  fake.status = status;
  fake.ct = ct;
  fake.data = data;
  fake.len = len;
}

typedef struct {
  int status;
  char *out, *err;
} run_result;

/* What browser:connect handed its local port (the serve_cdp of run()). */
static struct {
  int calls, port;
  char host[64], id[100], base[100], token[100];
} served;

static int fake_serve(const pb_cli_connect *o) {
  served.calls++;
  served.port = o->port;
  pb_strlcpy(served.host, o->host ? o->host : "(null)", sizeof(served.host));
  pb_strlcpy(served.id, o->session_id, sizeof(served.id));
  pb_strlcpy(served.base, o->base_url, sizeof(served.base));
  pb_strlcpy(served.token, o->token ? o->token : "(null)", sizeof(served.token));
  return 0;
}

static run_result run(int argc, char **argv) {
  run_result r;
  size_t ol, el;
  pb_cli_ctx ctx = {.send = fake_send, .serve_cdp = fake_serve};
  ctx.out = open_memstream(&r.out, &ol);
  ctx.err = open_memstream(&r.err, &el);
  r.status = pb_cli_main(&ctx, argc, argv);
  fclose(ctx.out);
  fclose(ctx.err);
  return r;
}

static void run_free(run_result *r) {
  free(r->out);
  free(r->err);
}

static int file_equals(const char *path, const char *data, size_t len) {
  char buf[4096];
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, sizeof(buf), f);
  fclose(f);
  return n == len && !memcmp(buf, data, len);
}

static int files_in(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  ASSERT(d != NULL);
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

static void test_run_screenshot_to_default_file(void) {
  char dir[300];
  snprintf(dir, sizeof(dir), "%s/run1", tmpdir);
  ASSERT_EQ(mkdir(dir, 0700), 0);
  ASSERT_EQ(chdir(dir), 0);
  setenv("PAPERPOD_URL", "http://srv:1", 1);
  setenv("PAPERPOD_TOKEN", "envtok", 1);

  answer(200, "image/jpeg", png, sizeof(png) - 1);
  char *argv[] = {"ppod", "browser:screenshot", "--type", "jpeg", "http://a/"};
  run_result r = run(ARGC(argv), argv);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.out, "screenshot.jpeg\n");
  ASSERT_STR_EQ(r.err, "");
  ASSERT(file_equals("screenshot.jpeg", png, sizeof(png) - 1));
  ASSERT_EQ(files_in("."), 1); /* no temporary file left */
  ASSERT_STR_EQ(fake.route, "/browser/screenshot");
  ASSERT_STR_EQ(fake.base, "http://srv:1");
  ASSERT_STR_EQ(fake.token, "envtok");
  ASSERT_CONTAINS(fake.body, "\"type\":\"jpeg\"");
  run_free(&r);

  /* PNG by default; global options may come before the command. */
  answer(200, "image/png", png, sizeof(png) - 1);
  char *argv2[] = {"ppod", "--token", "flagtok", "browser:screenshot", "http://a/"};
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.out, "screenshot.png\n");
  ASSERT_STR_EQ(fake.token, "flagtok");
  ASSERT_STR_EQ(fake.body, "{\"url\":\"http://a/\"}");
  run_free(&r);
}

static void test_run_error_leaves_no_file(void) {
  char dir[300];
  snprintf(dir, sizeof(dir), "%s/run2", tmpdir);
  ASSERT_EQ(mkdir(dir, 0700), 0);
  ASSERT_EQ(chdir(dir), 0);
  write_text("keep.png", "old");

  static const char body[] =
      "{\"success\":false,\"errors\":[{\"code\":\"TIMEOUT\",\"message\":"
      "\"waiting for selector \\\"#late\\\" timed out after 100 ms\"}]}";
  answer(408, "application/json; charset=utf-8", body, sizeof(body) - 1);
  char *argv[] = {"ppod", "browser:screenshot", "http://a/", "--wait-for", "#late", "-o",
                  "keep.png"};
  run_result r = run(ARGC(argv), argv);
  ASSERT_EQ(r.status, 1);
  ASSERT_STR_EQ(r.out, "");
  ASSERT_STR_EQ(r.err, "ppod: TIMEOUT: waiting for selector \"#late\" timed out after 100 ms\n");
  ASSERT(file_equals("keep.png", "old", 3));
  ASSERT_EQ(files_in("."), 1);
  run_free(&r);

  /* 401 without any token says how to give one. */
  static const char unauth[] =
      "{\"success\":false,\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"no token\"}]}";
  unsetenv("PAPERPOD_TOKEN");
  setenv("HOME", dir, 1);
  answer(401, "application/json", unauth, sizeof(unauth) - 1);
  char *argv2[] = {"ppod", "browser:screenshot", "http://a/"};
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 1);
  ASSERT_STR_EQ(fake.token, "(none)");
  ASSERT_CONTAINS(r.err, "ppod: UNAUTHORIZED: no token\n");
  ASSERT_CONTAINS(r.err, "ppod login");
  run_free(&r);
  setenv("PAPERPOD_TOKEN", "envtok", 1);

  /* A server message cannot drive the terminal. */
  static const char esc[] =
      "{\"success\":false,\"errors\":[{\"code\":\"X\",\"message\":\"a\\u001b[2Jb\"}]}";
  answer(500, "application/json", esc, sizeof(esc) - 1);
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 1);
  ASSERT(!strchr(r.err, 0x1b));
  run_free(&r);

  /* An error that is not our envelope still says what happened. */
  answer(502, "text/html", "<h1>Bad Gateway</h1>", 20);
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 1);
  ASSERT_CONTAINS(r.err, "ppod: HTTP 502 from http://srv:1/browser/screenshot");
  run_free(&r);
  ASSERT_EQ(files_in("."), 1);
}

static void test_run_transport_failure(void) {
  answer(0, "", "", 0);
  fake.fail = 1;
  char *argv[] = {"ppod", "browser:screenshot", "http://a/", "-o", "never.png"};
  run_result r = run(ARGC(argv), argv);
  ASSERT_EQ(r.status, 1);
  ASSERT_STR_EQ(r.err, "ppod: cannot reach http://srv:1: Connection refused\n");
  ASSERT(access("never.png", F_OK) != 0);
  run_free(&r);
}

static void test_run_outputs(void) {
  /* -o - puts the bytes on stdout and nothing else. */
  answer(200, "image/png", png, sizeof(png) - 1);
  char *argv[] = {"ppod", "browser:screenshot", "-o", "-", "http://a/"};
  run_result r = run(ARGC(argv), argv);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(memcmp(r.out, png, sizeof(png) - 1), 0);
  run_free(&r);

  /* A JSON result that is a string is printed as text. */
  static const char content[] = "{\"success\":true,\"result\":\"<html><p>hi</p></html>\"}";
  answer(200, "application/json", content, sizeof(content) - 1);
  char *argv2[] = {"ppod", "browser:content", "http://a/"};
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.out, "<html><p>hi</p></html>\n");
  ASSERT_STR_EQ(fake.route, "/browser/content");
  run_free(&r);

  /* Other results are printed as JSON. */
  static const char obj[] = "{\"success\":true,\"result\":{\"n\":1}}";
  answer(200, "application/json", obj, sizeof(obj) - 1);
  r = run(ARGC(argv2), argv2);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "\"n\":\t1");
  run_free(&r);

  /* browser:pdf sends pdfOptions and saves page.pdf by default. */
  answer(200, "application/pdf", "%PDF-1.7", 8);
  char *argv3[] = {"ppod", "browser:pdf", "http://a/", "--landscape", "--format", "A4",
                   "--print-background"};
  r = run(ARGC(argv3), argv3);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.out, "page.pdf\n");
  ASSERT_STR_EQ(fake.route, "/browser/pdf");
  ASSERT_CONTAINS(fake.body, "\"pdfOptions\":{\"landscape\":true,\"format\":\"A4\","
                             "\"printBackground\":true}");
  ASSERT(file_equals("page.pdf", "%PDF-1.7", 8));
  run_free(&r);
}

static void test_run_usage(void) {
  answer(200, "image/png", png, sizeof(png) - 1);
  char *unknown[] = {"ppod", "browser:screenshit", "http://a/"};
  run_result r = run(ARGC(unknown), unknown);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "unknown command 'browser:screenshit'");
  run_free(&r);

  char *nourl[] = {"ppod", "browser:screenshot", "--full-page"};
  r = run(ARGC(nourl), nourl);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "ppod: missing <url>");
  ASSERT_CONTAINS(r.err, "usage: ppod browser:screenshot");
  run_free(&r);

  char *help[] = {"ppod", "browser:screenshot", "--help"};
  r = run(ARGC(help), help);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "--full-page");
  run_free(&r);

  char *top[] = {"ppod", "help"};
  r = run(ARGC(top), top);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "browser:screenshot");
  ASSERT_CONTAINS(r.out, "login");
  run_free(&r);

  char *bare[] = {"ppod"};
  r = run(ARGC(bare), bare);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "usage: ppod <command>");
  run_free(&r);

  char *badurl[] = {"ppod", "--url", "localhost", "browser:screenshot", "http://a/"};
  r = run(ARGC(badurl), badurl);
  ASSERT_EQ(r.status, 2);
  run_free(&r);
  ASSERT_EQ(fake.calls, 0); /* none of these reached the server */
}

static void test_run_login(void) {
  char xdg[300];
  snprintf(xdg, sizeof(xdg), "%s/login", tmpdir);
  setenv("XDG_CONFIG_HOME", xdg, 1);
  unsetenv("PAPERPOD_TOKEN");
  char *argv[] = {"ppod", "login", "tok-login"};
  run_result r = run(ARGC(argv), argv);
  ASSERT_EQ(r.status, 0);
  ASSERT_CONTAINS(r.out, "/login/ppod/token");
  run_free(&r);

  answer(200, "image/png", png, sizeof(png) - 1);
  char *shot[] = {"ppod", "browser:screenshot", "http://a/", "-o", "-"};
  r = run(ARGC(shot), shot);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.token, "tok-login");
  run_free(&r);
}

#define SID "0123456789abcdef0123456789abcdef"

static void test_run_sessions(void) {
  setenv("PAPERPOD_URL", "http://srv:1", 1);
  setenv("PAPERPOD_TOKEN", "envtok", 1);

  /* acquire: POST with keep_alive, prints the id alone. */
  static const char acq[] =
      "{\"success\":true,\"result\":{\"sessionId\":\"" SID "\",\"webSocketDebuggerUrl\":"
      "\"ws://srv:1/browser/sessions/" SID "/devtools/browser\",\"keepAliveMs\":5000}}";
  answer(200, "application/json", acq, sizeof(acq) - 1);
  char *acquire[] = {"ppod", "browser:acquire", "--keep-alive", "5000"};
  run_result r = run(ARGC(acquire), acquire);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(r.out, SID "\n");
  ASSERT_STR_EQ(fake.method, "POST");
  ASSERT_STR_EQ(fake.route, "/browser/acquire");
  ASSERT_STR_EQ(fake.body, "{\"keep_alive\":5000}");
  run_free(&r);

  /* --json: the whole result. */
  answer(200, "application/json", acq, sizeof(acq) - 1);
  char *acqjson[] = {"ppod", "browser:acquire", "--json"};
  r = run(ARGC(acqjson), acqjson);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.body, "{}");
  cJSON *j = cJSON_Parse(r.out);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "sessionId", NULL)), SID);
  ASSERT_EQ(cJSON_GetNumberValue(at(j, "keepAliveMs", NULL)), 5000);
  cJSON_Delete(j);
  run_free(&r);

  char *badka[] = {"ppod", "browser:acquire", "--keep-alive", "10"};
  r = run(ARGC(badka), badka);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "--keep-alive wants an integer from 1000");
  run_free(&r);

  /* Limits: the code, the message and when to retry. */
  static const char limited[] =
      "{\"success\":false,\"errors\":[{\"code\":\"RATE_LIMITED\",\"message\":\"at most 2\"}]}";
  answer(429, "application/json", limited, sizeof(limited) - 1);
  fake_retry_after = 30;
  r = run(ARGC(acquire), acquire);
  fake_retry_after = -1;
  ASSERT_EQ(r.status, 1);
  ASSERT_STR_EQ(r.out, "");
  ASSERT_STR_EQ(r.err, "ppod: RATE_LIMITED: at most 2\nppod: retry in 30 s\n");
  run_free(&r);

  /* connect: checks the session, prints the ws URL built from the server URL. */
  static const char info[] =
      "{\"success\":true,\"result\":{\"sessionId\":\"" SID "\",\"keepAliveMs\":5000}}";
  answer(200, "application/json", info, sizeof(info) - 1);
  char *connect[] = {"ppod", "--url", "https://h.example:8443/", "browser:connect", SID, "--print"};
  r = run(ARGC(connect), connect);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.method, "GET");
  ASSERT_STR_EQ(fake.route, "/browser/sessions/" SID);
  ASSERT(fake.body[0] == '\0');
  ASSERT_STR_EQ(r.out, "wss://h.example:8443/browser/sessions/" SID "/devtools/browser\n");
  ASSERT_CONTAINS(r.err, "puppeteer.connect");
  ASSERT_CONTAINS(r.err, "connectOverCDP");
  ASSERT(strchr(r.err, '\n') == r.err + strlen(r.err) - 1); /* one line */
  run_free(&r);

  answer(200, "application/json", info, sizeof(info) - 1);
  char *connect2[] = {"ppod", "browser:connect", SID, "--json"};
  r = run(ARGC(connect2), connect2);
  ASSERT_EQ(r.status, 0);
  j = cJSON_Parse(r.out);
  ASSERT(j != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "webSocketDebuggerUrl", NULL)),
                "ws://srv:1/browser/sessions/" SID "/devtools/browser");
  ASSERT_STR_EQ(cJSON_GetStringValue(at(j, "sessionId", NULL)), SID);
  cJSON_Delete(j);
  run_free(&r);

  static const char gone[] = "{\"success\":false,\"errors\":[{\"code\":\"SESSION_NOT_FOUND\","
                             "\"message\":\"no live session\"}]}";
  answer(404, "application/json", gone, sizeof(gone) - 1);
  r = run(ARGC(connect2), connect2);
  ASSERT_EQ(r.status, 1);
  ASSERT_STR_EQ(r.out, "");
  ASSERT_STR_EQ(r.err, "ppod: SESSION_NOT_FOUND: no live session\n");
  run_free(&r);

  /* Without --print: the session is checked, then served on a local port. */
  answer(200, "application/json", info, sizeof(info) - 1);
  char *serve[] = {"ppod", "--token", "tok", "browser:connect", SID};
  memset(&served, 0, sizeof(served));
  r = run(ARGC(serve), serve);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.route, "/browser/sessions/" SID);
  ASSERT_EQ(served.calls, 1);
  ASSERT_EQ(served.port, 9222);
  ASSERT_STR_EQ(served.host, "(null)");
  ASSERT_STR_EQ(served.id, SID);
  ASSERT_STR_EQ(served.base, "http://srv:1");
  ASSERT_STR_EQ(served.token, "tok");
  run_free(&r);
  answer(200, "application/json", info, sizeof(info) - 1);
  char *serve2[] = {"ppod", "browser:connect", SID, "--port", "0", "--host", "::1"};
  r = run(ARGC(serve2), serve2);
  ASSERT_EQ(r.status, 0);
  ASSERT_EQ(served.calls, 2);
  ASSERT_EQ(served.port, 0);
  ASSERT_STR_EQ(served.host, "::1");
  run_free(&r);
  /* A session that is gone is never served. */
  answer(404, "application/json", gone, sizeof(gone) - 1);
  r = run(ARGC(serve), serve);
  ASSERT_EQ(r.status, 1);
  ASSERT_EQ(served.calls, 2);
  ASSERT_CONTAINS(r.err, "SESSION_NOT_FOUND");
  run_free(&r);

  /* An id cannot reach another route. */
  answer(200, "application/json", info, sizeof(info) - 1);
  char *evil[] = {"ppod", "browser:connect", "../../healthz"};
  r = run(ARGC(evil), evil);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "is not a session id");
  ASSERT_EQ(fake.calls, 0);
  run_free(&r);
  char *evil2[] = {"ppod", "browser:release", "a?b"};
  r = run(ARGC(evil2), evil2);
  ASSERT_EQ(r.status, 2);
  ASSERT_EQ(fake.calls, 0);
  run_free(&r);
  char *noid[] = {"ppod", "browser:release"};
  r = run(ARGC(noid), noid);
  ASSERT_EQ(r.status, 2);
  ASSERT_CONTAINS(r.err, "missing <id>");
  run_free(&r);

  /* release: DELETE. */
  static const char rel[] =
      "{\"success\":true,\"result\":{\"sessionId\":\"" SID "\",\"status\":\"closed\"}}";
  answer(200, "application/json", rel, sizeof(rel) - 1);
  char *release[] = {"ppod", "browser:release", SID};
  r = run(ARGC(release), release);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.method, "DELETE");
  ASSERT_STR_EQ(fake.route, "/browser/sessions/" SID);
  ASSERT_STR_EQ(r.out, "released " SID "\n");
  run_free(&r);

  /* sessions, history, limits: GET, the result as JSON. */
  static const char list[] = "{\"success\":true,\"result\":[{\"sessionId\":\"" SID "\"}]}";
  const char *gets[][2] = {{"browser:sessions", "/browser/sessions"},
                           {"browser:history", "/browser/history"},
                           {"browser:limits", "/browser/limits"},
                           {"browser:usage", "/browser/usage"}};
  for (size_t i = 0; i < sizeof(gets) / sizeof(gets[0]); i++) {
    answer(200, "application/json", list, sizeof(list) - 1);
    char *argv[] = {"ppod", (char *)gets[i][0]};
    r = run(ARGC(argv), argv);
    ASSERT_EQ(r.status, 0);
    ASSERT_STR_EQ(fake.method, "GET");
    ASSERT_STR_EQ(fake.route, gets[i][1]);
    ASSERT(fake.body[0] == '\0');
    j = cJSON_Parse(r.out);
    ASSERT(cJSON_IsArray(j));
    ASSERT_STR_EQ(cJSON_GetStringValue(at(cJSON_GetArrayItem(j, 0), "sessionId", NULL)), SID);
    cJSON_Delete(j);
    run_free(&r);
  }
  char *extra[] = {"ppod", "browser:sessions", "x"};
  r = run(ARGC(extra), extra);
  ASSERT_EQ(r.status, 2);
  run_free(&r);

  answer(200, "application/json", list, sizeof(list) - 1);
  char *usage[] = {"ppod", "browser:usage", "--from", "1700000000000", "--to=1700000060000"};
  r = run(ARGC(usage), usage);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.route, "/browser/usage?from=1700000000000&to=1700000060000");
  run_free(&r);

  /* Quick actions take --session. */
  answer(200, "image/png", png, sizeof(png) - 1);
  char *shot[] = {"ppod", "browser:screenshot", "http://a/", "--session", SID, "-o", "-"};
  r = run(ARGC(shot), shot);
  ASSERT_EQ(r.status, 0);
  ASSERT_STR_EQ(fake.method, "POST");
  ASSERT_STR_EQ(fake.body, "{\"sessionId\":\"" SID "\",\"url\":\"http://a/\"}");
  run_free(&r);
  for (const pb_cli_command *c = pb_cli_commands; c->name; c++)
    if (c->page) ASSERT(pb_cli_find_flag(c, "--session") != NULL);
}

int main(void) {
  snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cli_args.XXXXXX");
  ASSERT(mkdtemp(tmpdir) != NULL);
  unsetenv("PAPERPOD_URL");
  unsetenv("PAPERPOD_TOKEN");
  RUN(test_screenshot_body);
  RUN(test_minimal_body_and_last_flag_wins);
  RUN(test_html_instead_of_url);
  RUN(test_usage_errors);
  RUN(test_double_dash_and_globals);
  RUN(test_help);
  RUN(test_every_flag_reaches_the_body);
  RUN(test_token_storage);
  RUN(test_resolve_order);
  RUN(test_run_screenshot_to_default_file);
  RUN(test_run_error_leaves_no_file);
  RUN(test_run_transport_failure);
  RUN(test_run_outputs);
  RUN(test_run_usage);
  RUN(test_run_login);
  RUN(test_run_sessions);
  char cmd[300];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
  if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
  DONE();
}
