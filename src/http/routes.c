/* Every route, one row each. A path is matched against the rows in order:
 * the first row whose pattern matches is the path's resource (its label and
 * auth), the first that also takes the method does the work; when only the
 * first exists the answer is 405, when neither 404. A family of paths that
 * answers something else for the rest (the trace and session URLs) ends
 * with a row for any method that says what. */
#include "http/routes.h"

#include "http/internal.h"
#include "ops/axtree.h"
#include "ops/crawl.h"

#include <string.h>

/* The longest "{id}" segment, plus one. */
#define PB_ROUTE_ID_CAP 80

static const char *const image_types[] = {"image/png", "image/jpeg", "image/webp", NULL};
static const char *const pdf_types[] = {"application/pdf", NULL};
static const char *const json_types[] = {"application/json", NULL};
static const char *const html_types[] = {"text/html", NULL};
static const char *const junit_types[] = {"application/json", "application/xml", NULL};
static const char *const mcp_types[] = {"application/json", "text/event-stream", NULL};
static const char *const text_types[] = {"text/plain", NULL};
static const char *const zip_types[] = {"application/zip", NULL};

#define SESSION_LABEL "/browser/sessions/{id}"
#define TRACE_LABEL "/browser/traces/{id}"

/* A quick action: POST, a JSON body, billed under kind. */
#define QUICK(path_, schema_, kind_, op_, summary_, ok_, types_)                               \
  {                                                                                            \
    .method = PB_METHOD_POST, .pattern = path_, .auth = PB_AUTH_TOKEN, .body = PB_BODY_JSON,   \
    .schema = schema_, .admit = PB_ADMIT_QUICK, .kind = kind_, .op = op_, .summary = summary_, \
    .ok_description = ok_, .ok_types = types_                                                  \
  }

/* A quick action's op under a peer's path, request and answer shapes
 * (compat.c): billed under the same kind as its /browser/ twin. */
#define BROWSERLESS(path_, schema_, kind_, op_, summary_, ok_, types_)                          \
  {                                                                                             \
    .method = PB_METHOD_POST, .pattern = path_, .auth = PB_AUTH_TOKEN_OR_QUERY,                 \
    .body = PB_BODY_JSON, .schema = schema_, .admit = PB_ADMIT_QUICK, .kind = kind_, .op = op_, \
    .summary = summary_, .ok_description = ok_, .ok_types = types_,                             \
    .compat = PB_COMPAT_BROWSERLESS                                                             \
  }

/* A read answered on the I/O thread. */
#define GET(path_, auth_, handler_) \
  { .method = PB_METHOD_GET, .pattern = path_, .auth = auth_, .handler = handler_ }

/* The same, documented: its summary and answer (/openapi.json, /docs). */
#define GETD(path_, auth_, handler_, summary_, ok_)                                  \
  {                                                                                  \
    .method = PB_METHOD_GET, .pattern = path_, .auth = auth_, .handler = handler_,   \
    .summary = summary_, .ok_description = ok_                                       \
  }

/* A URL of one of the account's sessions. */
#define SESSION(method_, path_, auth_, handler_)                                              \
  {                                                                                           \
    .method = method_, .pattern = path_, .label = SESSION_LABEL, .auth = auth_, .session = 1, \
    .handler = handler_                                                                       \
  }
/* The same, documented. */
#define SESSIOND(method_, path_, auth_, handler_, summary_)                                   \
  {                                                                                           \
    .method = method_, .pattern = path_, .label = SESSION_LABEL, .auth = auth_, .session = 1, \
    .handler = handler_, .summary = summary_                                                  \
  }

static const pb_route routes[] = {
    /* The API describing itself (docs.c): the index, and the reference
     * page rendered from /openapi.json. */
    {.method = PB_METHOD_GET,
     .pattern = "/",
     .auth = PB_AUTH_NONE,
     .handler = get_index,
     .summary = "The API index: name, version, and links to the reference, OpenAPI, MCP and "
                "health",
     .ok_description = "{\"name\",\"version\",\"description\",\"links\":{\"docs\","
                       "\"openapi\",\"mcp\",\"health\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/docs",
     .auth = PB_AUTH_NONE,
     .handler = get_docs,
     .summary = "This API reference as a page (rendered from /openapi.json)",
     .ok_description = "An HTML page",
     .ok_types = html_types},
    {.method = PB_METHOD_GET,
     .pattern = "/healthz",
     .auth = PB_AUTH_NONE,
     .handler = get_healthz,
     .summary = "The service's health: browsers alive, pages ready, restarts, egress and "
                "isolation modes",
     .ok_description = "{\"status\":\"ok|degraded|draining\",\"browsers\",\"browsersAlive\","
                       "\"pagesReady\",\"browserRestarts\",\"egress\",\"isolation\"}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/metrics", /* its own token: see get_metrics */
     .auth = PB_AUTH_NONE,
     .handler = get_metrics,
     .summary = "Prometheus metrics: with 'Authorization: Bearer <--metrics-token>', or from "
                "this host when no --metrics-token is set",
     .ok_description = "Prometheus text exposition format",
     .ok_types = text_types},
    {.method = PB_METHOD_GET,
     .pattern = "/openapi.json",
     .auth = PB_AUTH_NONE,
     .handler = get_openapi,
     .summary = "This API as an OpenAPI 3.1 document",
     .ok_description = "The OpenAPI document",
     .ok_types = json_types},
    GETD("/account", PB_AUTH_TOKEN, get_account,
         "The account, the token's expiry, the balance, limits and today's usage",
         "{\"success\":true,\"result\":{\"account\":{\"id\",\"name\",\"email\"},"
         "\"token\":{\"prefix\",\"expiresAt\",\"expiresInSeconds\"},\"balance\","
         "\"limits\",\"usageToday\":{\"browserMs\",\"sessions\",\"quickActions\","
         "\"crawlPages\"}}}"),

    QUICK("/browser/screenshot", "screenshot", "screenshot", pb_op_screenshot,
          "Take a screenshot of a URL or of HTML",
          "The image bytes, in the format chosen by screenshotOptions.type (png by default).",
          image_types),
    QUICK("/browser/pdf", "pdf", "pdf", pb_op_pdf, "Print a URL or HTML to PDF", "The PDF bytes.",
          pdf_types),
    QUICK("/browser/content", "content", "content", pb_op_content,
          "The HTML of a page after its scripts ran",
          "{\"success\":true,\"result\":\"<!DOCTYPE html>...\"}", json_types),
    QUICK("/browser/scrape", "scrape", "scrape", pb_op_scrape,
          "Text, HTML, attributes and boxes of elements",
          "{\"success\":true,\"result\":[{\"selector\",\"results\":[...]}]}", json_types),
    /* Browserless v2's paths for the same four ops, with its request and
     * answer shapes (compat.c): ?token= too, as its clients send it. */
    BROWSERLESS("/chromium/screenshot", "screenshot", "screenshot", pb_op_screenshot,
                "Browserless-compatible screenshot", "The image bytes.", image_types),
    BROWSERLESS("/screenshot", "screenshot", "screenshot", pb_op_screenshot,
                "Browserless-compatible screenshot", "The image bytes.", image_types),
    BROWSERLESS("/chromium/pdf", "pdf", "pdf", pb_op_pdf, "Browserless-compatible PDF",
                "The PDF bytes.", pdf_types),
    BROWSERLESS("/pdf", "pdf", "pdf", pb_op_pdf, "Browserless-compatible PDF", "The PDF bytes.",
                pdf_types),
    BROWSERLESS("/chromium/content", "content", "content", pb_op_content,
                "Browserless-compatible content", "The page's HTML (text/html).", html_types),
    BROWSERLESS("/content", "content", "content", pb_op_content, "Browserless-compatible content",
                "The page's HTML (text/html).", html_types),
    BROWSERLESS("/chromium/scrape", "scrape", "scrape", pb_op_scrape,
                "Browserless-compatible scrape",
                "{\"data\":[{\"selector\",\"results\":[...]}],\"debug\":null}", json_types),
    BROWSERLESS("/scrape", "scrape", "scrape", pb_op_scrape, "Browserless-compatible scrape",
                "{\"data\":[{\"selector\",\"results\":[...]}],\"debug\":null}", json_types),
    QUICK("/browser/links", "links", "links", pb_op_links, "The links of a page as absolute URLs",
          "{\"success\":true,\"result\":[\"https://...\"]}", json_types),
    QUICK("/browser/markdown", "markdown", "markdown", pb_op_markdown,
          "A page as Markdown (readable or full)",
          "{\"success\":true,\"result\":\"# Title...\",\"mode\":\"readable\"}", json_types),
    /* Not billed itself: the session's browser time is, by the session. */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/acquire",
     .auth = PB_AUTH_TOKEN,
     .body = PB_BODY_JSON,
     .schema = "acquire",
     .admit = PB_ADMIT_ACQUIRE,
     .bills = 1,
     .op = pb_op_acquire,
     .summary = "Acquire a browser session for a CDP client",
     .ok_description =
         "{\"success\":true,\"result\":{\"sessionId\",\"webSocketDebuggerUrl\",\"keepAliveMs\"}}",
     .ok_types = json_types},
    QUICK("/browser/snapshot", "snapshot", "snapshot", pb_op_snapshot,
          "HTML and a screenshot from one page load",
          "{\"success\":true,\"result\":{\"content\",\"screenshot\"}}", json_types),
    /* Cloudflare's: the accessibility tree, and /json without a model. */
    QUICK("/browser/accessibilityTree", "accessibility-tree", "accessibilityTree", pb_op_axtree,
          "The page's accessibility tree (Puppeteer's accessibility.snapshot())",
          "{\"success\":true,\"result\":{\"accessibilityTree\":{\"role\",\"name\","
          "\"children\":[...]}},\"meta\":{\"status\",\"title\"}}",
          json_types),
    QUICK("/browser/json", "json", "json", pb_op_json_extract,
          "JSON filled from a page by the selectors of a JSON Schema (no language model)",
          "{\"success\":true,\"result\":{...}}", json_types),
    QUICK("/browser/test", "test-script", "test", pb_op_test,
          "Run a JSON test script (steps and assertions) in a browser",
          "{\"success\":true,\"result\":{\"passed\",\"durationMs\",\"steps\":[...],\"screenshots\","
          "\"console\",\"pageErrors\"}}; with ?format=junit, JUnit XML",
          junit_types),

    GETD("/browser/sessions", PB_AUTH_TOKEN, get_sessions, "The account's live sessions",
         "{\"success\":true,\"result\":[{\"sessionId\",\"startTime\",\"lastActivity\","
         "\"keepAliveMs\",\"handoff\"}]}"),
    GETD("/browser/history", PB_AUTH_TOKEN, get_history,
         "The account's last 100 closed sessions and why they closed",
         "{\"success\":true,\"result\":[{\"sessionId\",\"startTime\",\"endTime\","
         "\"closeReason\",\"closeReasonText\",\"browserMs\",...}]}"),
    GETD("/browser/limits", PB_AUTH_TOKEN, get_limits,
         "The account's limits and what is left of them now",
         "{\"success\":true,\"result\":{\"activeSessions\",\"maxConcurrentSessions\","
         "\"allowedBrowserAcquisitions\",\"timeUntilNextAllowedBrowserAcquisition\",...}}"),
    GETD("/browser/usage", PB_AUTH_TOKEN, get_usage,
         "Browser time used in a period (?from=&to=, ms since the epoch; default the last 30 "
         "days)",
         "{\"success\":true,\"result\":{\"from\",\"to\",\"browserMs\",\"count\"}}"),

    /* A job: the trace may still be being written. The id is the rest of
     * the path. */
    {.method = PB_METHOD_GET,
     .pattern = "/browser/traces/*",
     .label = TRACE_LABEL,
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_trace,
     .param_key = "id",
     .summary = "The trace (zip) an action recorded with trace:true (its id is in the "
                "X-Trace-Id header); 202 while it is still being written",
     .ok_types = zip_types},
    {.method = PB_METHOD_ANY,
     .pattern = "/browser/traces/*",
     .label = TRACE_LABEL,
     .auth = PB_AUTH_TOKEN,
     .handler = answer_traces_get_only},

    /* Releasing waits for the browser to go: a job, not the I/O thread. */
    {.method = PB_METHOD_DELETE,
     .pattern = "/browser/sessions/{id}",
     .label = SESSION_LABEL,
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .admit = PB_ADMIT_RELEASE,
     .op = pb_op_release,
     .param_key = "sessionId",
     .summary = "Close a session (its browser goes)"},
    SESSIOND(PB_METHOD_GET, "/browser/sessions/{id}", PB_AUTH_TOKEN, get_session,
             "One of the account's live sessions"),
    /* CDP discovery for clients that start from an http URL (Playwright's
     * connectOverCDP, chrome-remote-interface) or cannot send a header (a
     * browser's DevTools, some CDP libraries). */
    SESSIOND(PB_METHOD_GET, "/browser/sessions/{id}/json/version", PB_AUTH_TOKEN_OR_QUERY,
             get_discovery_version,
             "CDP discovery: the browser's version and WebSocket URL, as Chrome's "
             "/json/version"),
    SESSION(PB_METHOD_GET, "/browser/sessions/{id}/json/version/", PB_AUTH_TOKEN_OR_QUERY,
            get_discovery_version),
    SESSIOND(PB_METHOD_GET, "/browser/sessions/{id}/json", PB_AUTH_TOKEN_OR_QUERY,
             get_discovery_list, "CDP discovery: the session's targets, as Chrome's /json"),
    SESSION(PB_METHOD_GET, "/browser/sessions/{id}/json/", PB_AUTH_TOKEN_OR_QUERY,
            get_discovery_list),
    SESSIOND(PB_METHOD_GET, "/browser/sessions/{id}/json/list", PB_AUTH_TOKEN_OR_QUERY,
             get_discovery_list, "CDP discovery: the session's targets, as Chrome's /json/list"),
    SESSION(PB_METHOD_GET, "/browser/sessions/{id}/json/list/", PB_AUTH_TOKEN_OR_QUERY,
            get_discovery_list),
    /* The protocol the session's policy allows (discovery.c). */
    SESSIOND(PB_METHOD_GET, "/browser/sessions/{id}/json/protocol", PB_AUTH_TOKEN_OR_QUERY,
             get_discovery_protocol,
             "CDP discovery: the protocol description, filtered by the session's policy"),
    SESSION(PB_METHOD_GET, "/browser/sessions/{id}/json/protocol/", PB_AUTH_TOKEN_OR_QUERY,
            get_discovery_protocol),
    /* Files in: a raw body streamed into the session's upload area
     * (files.c). Files out: the session's downloads, live or kept 24 h after
     * it ended, so not tied to a live session (ops/downloads.c). */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/sessions/{id}/files",
     .label = SESSION_LABEL "/files",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .body = PB_BODY_RAW,
     .handler = post_session_file,
     .summary = "Upload a file into the session (raw body, ?name=FILE)",
     .ok_description = "{\"success\":true,\"result\":{\"path\",\"name\",\"bytes\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/sessions/{id}/downloads",
     .label = SESSION_LABEL "/downloads",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_downloads,
     .param_key = "id",
     .param_rest = 1,
     .summary = "A session's downloads (live, or up to 24 h after it ended)"},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/sessions/{id}/downloads/{id}",
     .label = SESSION_LABEL "/downloads/{did}",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_download,
     .param_key = "id",
     .param_rest = 1,
     .summary = "One download's bytes"},
    /* The CDP WebSocket (cdpws.c); plain HTTP here is told so. */
    {.method = PB_METHOD_ANY,
     .pattern = "/browser/sessions/{id}/devtools/browser",
     .label = SESSION_LABEL,
     .auth = PB_AUTH_TOKEN_OR_QUERY,
     .session = 1,
     .websocket = 1,
     .handler = answer_websocket_only,
     .summary = "The session's CDP WebSocket (an upgrade; one client at a time)"},
    SESSION(PB_METHOD_ANY, "/browser/sessions/{id}/devtools/*", PB_AUTH_TOKEN_OR_QUERY,
            answer_no_route),
    /* Live view links (live.c): made by a job (it reads a body), revoked
     * on the I/O thread. */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/sessions/{id}/live",
     .label = SESSION_LABEL "/live",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .body = PB_BODY_JSON,
     .schema = "live",
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_live_create,
     .summary = "Make a live view link (a capability URL) to watch or drive the session",
     .ok_description = "{\"success\":true,\"result\":{\"id\",\"url\",\"mode\",\"expiresAt\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_DELETE,
     .pattern = "/browser/sessions/{id}/live/{id}",
     .label = SESSION_LABEL "/live/{linkId}",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .handler = delete_live_link,
     .summary = "Revoke a live view link (its viewers are disconnected)"},
    /* A session's recording, live or kept 24 h after it ended, so not tied
     * to a live session (ops/recording.c): the replay page (?format=zip:
     * the frames and index), its index and frames. ?token= too: the page is
     * opened in a browser, which sends no header. */
    {.method = PB_METHOD_GET,
     .pattern = "/browser/sessions/{id}/recording",
     .label = SESSION_LABEL "/recording",
     .auth = PB_AUTH_TOKEN_OR_QUERY,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_recording,
     .param_key = "id",
     .param_rest = 1,
     .summary = "A recorded session's replay page (?format=zip: its frames and index)",
     .ok_types = html_types},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/sessions/{id}/recording/*",
     .label = SESSION_LABEL "/recording/{file}",
     .auth = PB_AUTH_TOKEN_OR_QUERY,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_recording,
     .param_key = "id",
     .param_rest = 1,
     .summary = "A recording's index.json and frames (frame-00001.jpg, ...)"},
    /* Handoff to a person (ops/handoff.c, handoff.c): started by a job (it
     * reads a body); polled (parked, not run) and ended on the I/O thread. */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/sessions/{id}/handoff",
     .label = SESSION_LABEL "/handoff",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .body = PB_BODY_JSON,
     .schema = "handoff",
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_handoff_start,
     .summary = "Hand the session to a person through an interactive live view link",
     .ok_description = "{\"success\":true,\"result\":{\"handoffId\",\"url\",\"linkId\","
                       "\"expiresAt\",\"state\":\"waiting\",\"message\",\"timeout\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/sessions/{id}/handoff",
     .label = SESSION_LABEL "/handoff",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .handler = get_handoff,
     .summary = "The session's handoff; ?wait=S long-polls until the person hands back "
                "(408 HANDOFF_TIMEOUT when the handoff timed out)"},
    {.method = PB_METHOD_DELETE,
     .pattern = "/browser/sessions/{id}/handoff",
     .label = SESSION_LABEL "/handoff",
     .auth = PB_AUTH_TOKEN,
     .session = 1,
     .handler = delete_handoff,
     .summary = "End the session's handoff (the agent takes the session back)"},
    /* Anything else under a session, "/browser/sessions/" itself too. */
    SESSION(PB_METHOD_ANY, "/browser/sessions/*", PB_AUTH_TOKEN, answer_no_route),

    /* The live view page and its WebSocket (live.c): the capability in the
     * path is the auth; any method, so every answer goes through the
     * handler that keeps the capability out of the log. */
    {.method = PB_METHOD_ANY,
     .pattern = "/live/*",
     .label = "/live/{capability}",
     .auth = PB_AUTH_NONE,
     .handler = get_live_page,
     .summary = "A live view link's page (the capability in the path is the auth)",
     .ok_types = html_types},

    /* Persistent contexts: jobs, as they write the store and the data dir.
     * Deleting holds no concurrent action, like a release. */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/contexts",
     .auth = PB_AUTH_TOKEN,
     .body = PB_BODY_JSON,
     .schema = "context-create",
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_context_create,
     .summary = "Create a persistent context (cookies, storage) for sessions to run on",
     .ok_description =
         "{\"success\":true,\"result\":{\"id\",\"name\",\"createdAt\",\"savedAt\",\"bytes\","
         "\"inUse\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/contexts",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_contexts_list,
     .param_key = "id", /* none in the path: the request is {} */
     .summary = "The account's persistent contexts"},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/contexts/{id}",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_context_get,
     .param_key = "id",
     .summary = "One persistent context"},
    {.method = PB_METHOD_DELETE,
     .pattern = "/browser/contexts/{id}",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_RELEASE,
     .op = pb_op_context_delete,
     .param_key = "id",
     .summary = "Delete a persistent context and its stored files"},

    /* MCP, Streamable HTTP (mcp.c): JSON-RPC in the body, read whole and
     * answered on the I/O thread; a tool call runs its route's row above
     * as an internal request. No GET: no server-initiated stream (405). */
    {.method = PB_METHOD_POST,
     .pattern = "/mcp",
     .auth = PB_AUTH_TOKEN,
     .body = PB_BODY_WHOLE,
     .handler = mcp_post,
     .summary = "MCP (Model Context Protocol) server, Streamable HTTP transport: one JSON-RPC "
                "message per POST (initialize, ping, tools/list, tools/call, notifications)",
     .ok_description = "A JSON-RPC response (application/json), or for tools/call with Accept: "
                       "text/event-stream an event stream of progress notifications and the "
                       "response; 202 for a notification",
     .ok_types = mcp_types},
    {.method = PB_METHOD_DELETE,
     .pattern = "/mcp",
     .auth = PB_AUTH_TOKEN,
     .handler = mcp_delete,
     .summary = "End the MCP session named by the Mcp-Session-Id header"},
    /* Crawls (ops/crawl.c): started at once, run by the crawler on the job
     * threads within the account's share; read and cancelled by jobs (they
     * read the store). Each page's browser time is billed as "crawl". */
    {.method = PB_METHOD_POST,
     .pattern = "/browser/crawl",
     .auth = PB_AUTH_TOKEN,
     .body = PB_BODY_JSON,
     .schema = "crawl",
     .admit = PB_ADMIT_LIGHT,
     .bills = 1,
     .op = pb_op_crawl_start,
     .summary = "Start a crawl of a site (pages as Markdown, HTML, links); answers its id at once",
     .ok_description = "{\"success\":true,\"result\":{\"id\",\"status\":\"running\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/browser/crawl/{id}",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_crawl_get,
     .param_key = "id",
     .summary = "A crawl's status, counts and a page of results (?cursor=&limit=); "
                "?format=ndjson: every result, one a line"},
    {.method = PB_METHOD_DELETE,
     .pattern = "/browser/crawl/{id}",
     .auth = PB_AUTH_TOKEN,
     .admit = PB_ADMIT_LIGHT,
     .op = pb_op_crawl_delete,
     .param_key = "id",
     .summary = "Cancel a crawl; its results so far stay readable for 24 hours"},
    /* Sign-in by email (login.c): no token, rate-limited per address and
     * per email; both answered on the I/O thread, the work on the login
     * worker. The code stays out of the request log (paths are logged
     * without their query). */
    {.method = PB_METHOD_POST,
     .pattern = "/login",
     .auth = PB_AUTH_NONE,
     .body = PB_BODY_JSON,
     .schema = "login",
     .handler = post_login,
     .summary = "Ask for a sign-in link by email (the same answer whether or not the address "
                "has an account; 429 RATE_LIMITED with Retry-After past the limits)",
     .ok_description = "{\"success\":true,\"result\":{\"message\",\"expiresInSeconds\"}}",
     .ok_types = json_types},
    {.method = PB_METHOD_GET,
     .pattern = "/login/verify",
     .auth = PB_AUTH_NONE,
     .handler = get_login_verify,
     .summary = "Open a sign-in link (?code=): a page with a new pp_sess_ token; with Accept: "
                "application/json {token, expiresAt, account}"},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const pb_route *pb_routes(size_t *n) {
  *n = NROUTES;
  return routes;
}

const char *pb_route_label(const pb_route *rt) {
  return rt->label ? rt->label : rt->pattern;
}

/* 1 when path matches pat (prefix: path may go on after it); the first
 * parameter into m. */
static int match(const char *pat, const char *path, int prefix, pb_route_match *m) {
  const char *p = pat, *s = path;
  pb_route_match got = {NULL, 0};
  while (*p) {
    if (*p == '*' && !p[1]) {
      if (!got.param) got = (pb_route_match){s, strlen(s)};
      s += strlen(s);
      p++;
    } else if (*p == '{') {
      const char *close = strchr(p, '}');
      size_t n = strcspn(s, "/");
      if (!close || n == 0 || n >= PB_ROUTE_ID_CAP) return 0;
      if (!got.param) got = (pb_route_match){s, n};
      s += n;
      p = close + 1;
    } else {
      if (*p != *s) return 0;
      p++;
      s++;
    }
  }
  if (!prefix && *s) return 0;
  if (m) *m = got;
  return 1;
}

const pb_route *pb_route_resource(const char *path, pb_route_match *m) {
  for (size_t i = 0; i < NROUTES; i++)
    if (match(routes[i].pattern, path, 0, m)) return &routes[i];
  return NULL;
}

const pb_route *pb_route_find(const char *path, pb_method method, pb_route_match *m) {
  for (size_t i = 0; i < NROUTES; i++)
    if ((routes[i].method == PB_METHOD_ANY || routes[i].method == method) &&
        match(routes[i].pattern, path, 0, m))
      return &routes[i];
  return NULL;
}

const pb_route *pb_route_websocket(const char *uri, pb_route_match *m) {
  for (size_t i = 0; i < NROUTES; i++)
    if (routes[i].websocket && match(routes[i].pattern, uri, 1, m)) return &routes[i];
  return NULL;
}

int pb_route_session_id(const pb_route_match *m, char *id, size_t cap) {
  id[0] = '\0';
  if (!m->param) return 0;
  size_t n = 0;
  while (n < m->param_len && m->param[n] != '/') n++;
  if (n == 0 || n >= cap) return 0;
  memcpy(id, m->param, n);
  id[n] = '\0';
  return 1;
}
