/* The route table: which row a path and method reach, 404 against 405,
 * the path's auth, parameters, the WebSocket check, and that every body
 * route names an embedded schema. */
#include "http/routes.h"

#include "http/jsonschema.h"
#include "ops/crawl.h"
#include "test.h"

#include <stdio.h>
#include <string.h>

static const pb_route *find(const char *path, pb_method m) {
  return pb_route_find(path, m, NULL);
}

static void assert_param(const pb_route_match *m, const char *want) {
  ASSERT(m->param != NULL);
  ASSERT_EQ(m->param_len, strlen(want));
  ASSERT(!memcmp(m->param, want, m->param_len));
}

static void test_exact(void) {
  const pb_route *rt = find("/browser/screenshot", PB_METHOD_POST);
  ASSERT(rt != NULL);
  ASSERT(rt->op == pb_op_screenshot);
  ASSERT_EQ(rt->body, PB_BODY_JSON);
  ASSERT_EQ(rt->admit, PB_ADMIT_QUICK);
  ASSERT_STR_EQ(rt->kind, "screenshot");
  ASSERT_STR_EQ(pb_route_label(rt), "/browser/screenshot");
  /* A known path with a method it does not take: 405 (a resource, no row). */
  ASSERT(find("/browser/screenshot", PB_METHOD_GET) == NULL);
  ASSERT(pb_route_resource("/browser/screenshot", NULL) == rt);
  /* Unknown paths: 404. */
  ASSERT(pb_route_resource("/browser/screenshot/", NULL) == NULL);
  ASSERT(pb_route_resource("/nope", NULL) == NULL);
  ASSERT(pb_route_resource("/browser/tracesX", NULL) == NULL);
  ASSERT(pb_route_resource("", NULL) == NULL);
  rt = find("/browser/acquire", PB_METHOD_POST);
  ASSERT_EQ(rt->admit, PB_ADMIT_ACQUIRE);
  ASSERT(rt->kind == NULL);
  rt = find("/healthz", PB_METHOD_GET);
  ASSERT(rt->handler != NULL && rt->op == NULL);
  ASSERT_EQ(rt->auth, PB_AUTH_NONE);
  ASSERT(find("/healthz", PB_METHOD_OTHER) == NULL);
  ASSERT_EQ(find("/browser/sessions", PB_METHOD_GET)->auth, PB_AUTH_TOKEN);
}

static void test_traces(void) {
  pb_route_match m;
  const pb_route *rt = pb_route_find("/browser/traces/abc/def", PB_METHOD_GET, &m);
  ASSERT(rt != NULL && rt->op == pb_op_trace);
  ASSERT_EQ(rt->admit, PB_ADMIT_LIGHT);
  ASSERT_STR_EQ(pb_route_label(rt), "/browser/traces/{id}");
  assert_param(&m, "abc/def"); /* the id is the rest of the path */
  rt = pb_route_find("/browser/traces/", PB_METHOD_GET, &m);
  assert_param(&m, "");
  /* Other methods reach the row that answers 405 after auth. */
  rt = find("/browser/traces/x", PB_METHOD_POST);
  ASSERT(rt != NULL && rt->handler != NULL && rt->op == NULL);
  ASSERT_EQ(rt->auth, PB_AUTH_TOKEN);
}

static void test_sessions(void) {
  pb_route_match m;
  char id[80];
  const pb_route *rt = pb_route_find("/browser/sessions/s1", PB_METHOD_DELETE, &m);
  ASSERT(rt != NULL && rt->op == pb_op_release);
  ASSERT_EQ(rt->admit, PB_ADMIT_RELEASE);
  ASSERT(rt->session);
  ASSERT_STR_EQ(rt->param_key, "sessionId");
  ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 1);
  ASSERT_STR_EQ(id, "s1");
  rt = find("/browser/sessions/s1", PB_METHOD_GET);
  ASSERT(rt->handler != NULL && rt->session);
  ASSERT_STR_EQ(pb_route_label(rt), "/browser/sessions/{id}");
  /* Discovery takes ?token=; so does the path's auth for other methods. */
  static const char *const discovery[] = {
      "/json",       "/json/",       "/json/version",  "/json/version/",
      "/json/list",  "/json/list/",  "/json/protocol", "/json/protocol/"};
  for (size_t i = 0; i < sizeof(discovery) / sizeof(discovery[0]); i++) {
    char path[128];
    snprintf(path, sizeof(path), "/browser/sessions/s1%s", discovery[i]);
    ASSERT_EQ(find(path, PB_METHOD_GET)->auth, PB_AUTH_TOKEN_OR_QUERY);
    ASSERT_EQ(pb_route_resource(path, NULL)->auth, PB_AUTH_TOKEN_OR_QUERY);
    rt = pb_route_find(path, PB_METHOD_POST, &m); /* 404 after the session check */
    ASSERT(rt != NULL && rt->session && rt->handler != NULL);
    ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 1);
    ASSERT_STR_EQ(id, "s1");
  }
  /* Anything else under json/ is not discovery: header auth, then 404. */
  ASSERT_EQ(pb_route_resource("/browser/sessions/s1/json/new", NULL)->auth, PB_AUTH_TOKEN);
  ASSERT_EQ(pb_route_resource("/browser/sessions/s1/devtools/page/1", NULL)->auth,
            PB_AUTH_TOKEN_OR_QUERY);
  ASSERT_EQ(pb_route_resource("/browser/sessions/s1/devtools", NULL)->auth, PB_AUTH_TOKEN);
  rt = find("/browser/sessions/s1/devtools/browser", PB_METHOD_POST);
  ASSERT(rt->websocket && rt->handler != NULL);
  /* No id, or one too long: the session check fails with no id named. */
  rt = pb_route_find("/browser/sessions/", PB_METHOD_GET, &m);
  ASSERT(rt != NULL && rt->session);
  ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 0);
  ASSERT_STR_EQ(id, "");
  char longpath[200] = "/browser/sessions/";
  memset(longpath + strlen(longpath), 'a', 80);
  rt = pb_route_find(longpath, PB_METHOD_GET, &m);
  ASSERT(rt != NULL && rt->session);
  ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 0);
  rt = pb_route_find("/browser/sessions//json/version", PB_METHOD_GET, &m);
  ASSERT_EQ(rt->auth, PB_AUTH_TOKEN);
  ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 0);
}

static void test_websocket(void) {
  pb_route_match m;
  char id[80];
  const pb_route *rt = pb_route_websocket("/browser/sessions/s1/devtools/browser?token=ppod_x", &m);
  ASSERT(rt != NULL && rt->session);
  ASSERT_EQ(pb_route_session_id(&m, id, sizeof(id)), 1);
  ASSERT_STR_EQ(id, "s1");
  ASSERT(pb_route_websocket("/browser/sessions/s1/devtools/browser", NULL) != NULL);
  ASSERT(pb_route_websocket("/browser/sessions/s1/devtools/browser/abc", NULL) != NULL);
  ASSERT(pb_route_websocket("/browser/sessions/s1/devtools/page/1", NULL) == NULL);
  ASSERT(pb_route_websocket("/browser/sessions/s1", NULL) == NULL);
  ASSERT(pb_route_websocket("/browser/sessions//devtools/browser", NULL) == NULL);
  ASSERT(pb_route_websocket("/healthz", NULL) == NULL);
}

/* Every route is reachable by its own method, and a body route's schema is
 * embedded (/openapi.json and validation both need it). */
static void test_table(void) {
  pb_schemas *s = NULL;
  ASSERT_EQ(pb_schemas_load(&s), 0);
  size_t n = 0;
  const pb_route *rows = pb_routes(&n);
  ASSERT(n > 0);
  int bodies = 0;
  for (size_t i = 0; i < n; i++) {
    const pb_route *rt = &rows[i];
    ASSERT((rt->op != NULL) != (rt->handler != NULL));
    if (rt->body == PB_BODY_JSON) {
      bodies += rt->compat == PB_COMPAT_NONE;
      ASSERT(rt->schema && pb_schemas_get(s, rt->schema));
      ASSERT(rt->summary && rt->ok_description && rt->ok_types);
      /* A job is admitted; a handler (POST /login) answers on its own. */
      ASSERT(rt->handler ? rt->auth == PB_AUTH_NONE : rt->admit != PB_ADMIT_NONE);
    }
    if (rt->op && rt->body == PB_BODY_NONE) ASSERT(rt->param_key != NULL);
    if (!strchr(rt->pattern, '{') && !strchr(rt->pattern, '*') && rt->method != PB_METHOD_ANY)
      ASSERT(find(rt->pattern, rt->method) == rt);
  }
  ASSERT_EQ(bodies, 16);
  /* Cloudflare's accessibilityTree and json */
  ASSERT(find("/browser/accessibilityTree", PB_METHOD_POST) != NULL);
  ASSERT(find("/browser/json", PB_METHOD_POST) != NULL);
  pb_schemas_free(s);
}

/* MCP: POST takes the body whole (JSON-RPC is parsed by mcp.c), DELETE
 * ends a session, GET is 405 (no server-initiated stream); all need a
 * token. */
static void test_mcp(void) {
  const pb_route *post = find("/mcp", PB_METHOD_POST);
  ASSERT(post != NULL);
  ASSERT_EQ(post->body, PB_BODY_WHOLE);
  ASSERT_EQ(post->auth, PB_AUTH_TOKEN);
  ASSERT(post->handler != NULL && post->op == NULL);
  ASSERT(find("/mcp", PB_METHOD_DELETE) != NULL);
  ASSERT(find("/mcp", PB_METHOD_GET) == NULL);
  ASSERT(pb_route_resource("/mcp", NULL) == post);
  ASSERT(pb_route_resource("/mcp/", NULL) == NULL);
}

/* Crawls: started by POST, read and cancelled at /browser/crawl/{id}; the
 * id is the request's. */
static void test_crawl(void) {
  pb_route_match m;
  const pb_route *rt = pb_route_find("/browser/crawl/0123abcd", PB_METHOD_GET, &m);
  ASSERT(rt && rt->op == pb_op_crawl_get);
  ASSERT_EQ(m.param_len, 8u);
  ASSERT(pb_route_find("/browser/crawl/0123abcd", PB_METHOD_DELETE, NULL)->op ==
         pb_op_crawl_delete);
  ASSERT(pb_route_find("/browser/crawl", PB_METHOD_POST, NULL)->op == pb_op_crawl_start);
  ASSERT(pb_route_find("/browser/crawl/x", PB_METHOD_POST, NULL) == NULL);
  ASSERT(pb_route_resource("/browser/crawl/x", NULL) != NULL); /* 405, not 404 */
  ASSERT(pb_route_find("/browser/crawl/a/b", PB_METHOD_GET, NULL) == NULL);
}

/* Browserless' paths: each is its /browser/ twin's op, schema, admission
 * and ledger kind, with ?token= and the compat mapping; nothing else. */
static void test_browserless(void) {
  static const char *const ops[] = {"screenshot", "pdf", "content", "scrape"};
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    char ours[64], prefixed[64], bare[64];
    snprintf(ours, sizeof(ours), "/browser/%s", ops[i]);
    snprintf(prefixed, sizeof(prefixed), "/chromium/%s", ops[i]);
    snprintf(bare, sizeof(bare), "/%s", ops[i]);
    const pb_route *twin = find(ours, PB_METHOD_POST);
    ASSERT(twin != NULL && twin->compat == PB_COMPAT_NONE);
    const char *paths[2] = {prefixed, bare};
    for (int k = 0; k < 2; k++) {
      const pb_route *rt = find(paths[k], PB_METHOD_POST);
      ASSERT(rt != NULL);
      ASSERT_EQ(rt->compat, PB_COMPAT_BROWSERLESS);
      ASSERT(rt->op == twin->op);
      ASSERT_STR_EQ(rt->schema, twin->schema);
      ASSERT_STR_EQ(rt->kind, twin->kind);
      ASSERT_EQ(rt->admit, twin->admit);
      ASSERT_EQ(rt->auth, PB_AUTH_TOKEN_OR_QUERY);
      ASSERT(find(paths[k], PB_METHOD_GET) == NULL);
    }
  }
  ASSERT(find("/chromium/function", PB_METHOD_POST) == NULL);
  ASSERT(pb_route_resource("/chromium/", NULL) == NULL);
  ASSERT(pb_route_resource("/content/x", NULL) == NULL);
}

int main(void) {
  RUN(test_browserless);
  RUN(test_mcp);
  RUN(test_exact);
  RUN(test_traces);
  RUN(test_sessions);
  RUN(test_websocket);
  RUN(test_table);
  RUN(test_crawl);
  DONE();
}
