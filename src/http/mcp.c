/* The MCP server: the Streamable HTTP transport of the Model Context
 * Protocol at /mcp (JSON-RPC 2.0 over POST, answered as JSON or, for a
 * tool call whose client accepts it, as an event stream with progress
 * notifications; DELETE ends a session; GET is 405 by the route table, as
 * no server-initiated stream is offered).
 *
 * A tool is a row of `tools`: the route it runs, the schema of its
 * arguments (the route's own, from schemas/) and how its answer becomes MCP
 * content. A call is an internal request (server.c, internal_request_run)
 * through the route table: the same session check, schema validation,
 * per-account admission, job queue, ledger row and egress guard as the
 * HTTP route, with the caller's account. No loopback socket: the token is
 * checked once, on the /mcp request, and nothing else differs.
 *
 * Everything here runs on the I/O thread. The session table is bounded
 * (MCP_SESSIONS_MAX, MCP_SESSIONS_PER_ACCOUNT, idle expiry); a session
 * belongs to the account that made it and is unknown (404) to any other. */
#include "common/jsontext.h"
#include "common/pb.h"
#include "http/internal.h"
#include "http/jsonschema.h"
#include "ops/crawl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#define MCP_SESSIONS_MAX 1024
#define MCP_SESSIONS_PER_ACCOUNT 32
#define MCP_SESSION_IDLE_MS (30LL * 60 * 1000)
#define MCP_PROGRESS_MS 1000
#define MCP_PROGRESS_MAX 600               /* notifications in one stream, at most */
#define MCP_FOLLOW_MAX_MS (15 * 60 * 1000) /* a followed crawl answers by then, ended or not */
#define MCP_FOLLOW_RESULTS "limit=50"      /* the results a followed crawl answers with */
#define MCP_ID_MAX 256                     /* bytes of a request id, printed */
#define MCP_STREAM_MAX (512u << 20)        /* an event stream's unsent bytes */
#define MCP_BATCH_MAX 16                   /* messages in a batch (2025-03-26) */

/* Newest first: the one answered when the client asks for one we lack. */
static const char *const versions[] = {"2025-11-25", "2025-06-18", "2025-03-26", NULL};

/* How an answer becomes MCP content. */
typedef enum {
  OUT_IMAGE,    /* the bytes: image content */
  OUT_PDF,      /* the bytes: an embedded resource, application/pdf */
  OUT_TEXT,     /* {"result": "text"}: text content */
  OUT_JSON,     /* {"result": ...}: its JSON as text */
  OUT_SNAPSHOT, /* {"result": {content, screenshot}}: text and image */
  OUT_TEST,     /* {"result": {passed, ..., screenshots}}: JSON text and images */
  OUT_FOLLOW,   /* {"result": "<id>"} of a crawl: followed to its end (crawl_follow) */
} mcp_out;

typedef struct {
  const char *name;
  const char *description;
  int method;           /* LWSHUMETH_* */
  const char *path;     /* "{}" is replaced by the path argument */
  const char *schema;   /* schemas/<schema>.json; NULL: the route takes no body */
  const char *path_arg; /* the argument that goes into the path, or NULL */
  mcp_out out;
  const char *path_arg_doc; /* its description; NULL: a session's id */
  const char *query;        /* the URL query it always sends, or NULL */
  int paged;                /* cursor and limit arguments go into the query */
} mcp_tool;

/* The tools: one row each, names and options as the HTTP API's. A new
 * route becomes a tool with one more row. */
#define CRAWL_ID_DOC "The crawl's id (from crawl_start)."
static const mcp_tool tools[] = {
    {"screenshot", "Take a screenshot of a URL or of HTML (POST /browser/screenshot).",
     LWSHUMETH_POST, "/browser/screenshot", "screenshot", NULL, OUT_IMAGE, NULL, NULL, 0},
    {"pdf", "Print a URL or HTML to PDF (POST /browser/pdf).", LWSHUMETH_POST, "/browser/pdf",
     "pdf", NULL, OUT_PDF, NULL, NULL, 0},
    {"markdown", "A page as Markdown, its main content or the whole page (POST /browser/markdown).",
     LWSHUMETH_POST, "/browser/markdown", "markdown", NULL, OUT_TEXT, NULL, NULL, 0},
    {"content", "The HTML of a page after its scripts ran (POST /browser/content).", LWSHUMETH_POST,
     "/browser/content", "content", NULL, OUT_TEXT, NULL, NULL, 0},
    {"scrape", "Text, HTML, attributes and boxes of elements (POST /browser/scrape).",
     LWSHUMETH_POST, "/browser/scrape", "scrape", NULL, OUT_JSON, NULL, NULL, 0},
    {"links", "The links of a page as absolute URLs (POST /browser/links).", LWSHUMETH_POST,
     "/browser/links", "links", NULL, OUT_JSON, NULL, NULL, 0},
    {"snapshot", "HTML and a screenshot from one page load (POST /browser/snapshot).",
     LWSHUMETH_POST, "/browser/snapshot", "snapshot", NULL, OUT_SNAPSHOT, NULL, NULL, 0},
    {"accessibility_tree",
     "The page's accessibility tree as JSON, as Puppeteer's accessibility.snapshot() "
     "(POST /browser/accessibilityTree).",
     LWSHUMETH_POST, "/browser/accessibilityTree", "accessibility-tree", NULL, OUT_JSON, NULL, NULL,
     0},
    {"extract_json",
     "Fields of a page as JSON: a JSON Schema whose properties name CSS (x-selector) or XPath "
     "(x-xpath) selectors; no language model (POST /browser/json).",
     LWSHUMETH_POST, "/browser/json", "json", NULL, OUT_JSON, NULL, NULL, 0},
    {"test", "Run a JSON test script, steps and assertions, in a browser (POST /browser/test).",
     LWSHUMETH_POST, "/browser/test", "test-script", NULL, OUT_TEST, NULL, NULL, 0},
    {"acquire", "Acquire a browser session for a CDP client (POST /browser/acquire).",
     LWSHUMETH_POST, "/browser/acquire", "acquire", NULL, OUT_JSON, NULL, NULL, 0},
    {"release", "Close one of the account's sessions (DELETE /browser/sessions/{id}).",
     LWSHUMETH_DELETE, "/browser/sessions/{}", NULL, "sessionId", OUT_JSON, NULL, NULL, 0},
    {"sessions", "The account's live sessions (GET /browser/sessions).", LWSHUMETH_GET,
     "/browser/sessions", NULL, NULL, OUT_JSON, NULL, NULL, 0},
    {"live_url",
     "A live view link (a capability URL) to watch or drive a session "
     "(POST /browser/sessions/{id}/live).",
     LWSHUMETH_POST, "/browser/sessions/{}/live", "live", "sessionId", OUT_JSON, NULL, NULL, 0},
    {"crawl_start",
     "Start crawling a site (pages as Markdown, HTML, links); answers the crawl's id at once "
     "(POST /browser/crawl).",
     LWSHUMETH_POST, "/browser/crawl", "crawl", NULL, OUT_TEXT, NULL, NULL, 0},
    {"crawl_status",
     "A crawl's status and counts, without results (GET /browser/crawl/{id}?limit=0).",
     LWSHUMETH_GET, "/browser/crawl/{}", NULL, "id", OUT_JSON, CRAWL_ID_DOC, "limit=0", 0},
    {"crawl_results",
     "A page of a crawl's results from a cursor (GET /browser/crawl/{id}?cursor=&limit=); "
     "pass the answer's cursor for the next page.",
     LWSHUMETH_GET, "/browser/crawl/{}", NULL, "id", OUT_JSON, CRAWL_ID_DOC, NULL, 1},
    {"crawl",
     "Crawl a site and wait for it to end (at most 15 minutes; it goes on after that, see "
     "crawl_status): the final status and counts and the first 50 results, with the cursor "
     "for crawl_results. With a progress token, progress is the pages done of the limit.",
     LWSHUMETH_POST, "/browser/crawl", "crawl", NULL, OUT_FOLLOW, NULL, NULL, 0},
    {"crawl_cancel",
     "Cancel a crawl; its results so far stay readable (DELETE /browser/crawl/{id}).",
     LWSHUMETH_DELETE, "/browser/crawl/{}", NULL, "id", OUT_JSON, CRAWL_ID_DOC, NULL, 0},
};
#define NTOOLS (sizeof(tools) / sizeof(tools[0]))

typedef struct {
  char id[33]; /* "" when the slot is free */
  int64_t account_id;
  int64_t last_ms;
  const char *version; /* one of versions[] */
} mcp_session;

typedef struct mcp_call mcp_call;

struct mcp_state {
  char *tools_list; /* the tools/list result, printed once */
  mcp_call *calls;  /* tool calls in flight, for notifications/cancelled */
  mcp_session sessions[MCP_SESSIONS_MAX];
};

/* A tool call in flight: the /mcp request (outer) waits for the internal
 * request (child) that runs the route. */
struct mcp_call {
  pb_server *s;
  req *outer, *child;
  char session[33]; /* the MCP session it was called in */
  int64_t account_id;
  char *id_text; /* the JSON-RPC id, printed */
  void *batch;   /* the mcp_batch it is part of, or NULL */
  mcp_call *next, **prev;
  const mcp_tool *tool;
  cJSON *id;             /* the JSON-RPC id */
  cJSON *progress_token; /* NULL: no progress asked */
  int sse;
  int timer_on;
  int nprogress;
  int64_t t0;
  lws_sorted_usec_list_t sul;
  /* OUT_FOLLOW: the crawl's id once started; 1 while polling, 2 for the
   * last read; the pages done last told as progress. */
  char follow_id[80];
  int follow_stage;
  double follow_done;
  double follow_total; /* the crawl's limit */
};

/* ---- tool schemas, from schemas/ ---- */

/* "file.json#/$defs/X" (or "#/$defs/X" in file self) as "#/$defs/file.X";
 * the file's name into file (cap bytes). 0, or -1 for a ref of another
 * shape. */
static int bundle_ref(const char *ref, const char *self, char *out, size_t cap, char *file,
                      size_t fcap) {
  const char *hash = strchr(ref, '#');
  size_t rn = strlen(ref);
  if (!hash && rn > 5 && rn - 5 < fcap && !strcmp(ref + rn - 5, ".json")) {
    /* A whole file: its root, bundled as the def named like the file. */
    memcpy(file, ref, rn - 5);
    file[rn - 5] = '\0';
    snprintf(out, cap, "#/$defs/%s", file);
    return 0;
  }
  if (!hash || strncmp(hash, "#/$defs/", 8)) return -1;
  if (hash == ref) {
    pb_strlcpy(file, self, fcap);
  } else {
    size_t n = (size_t)(hash - ref);
    if (n < 6 || strncmp(hash - 5, ".json", 5) || n - 5 >= fcap) return -1;
    memcpy(file, ref, n - 5);
    file[n - 5] = '\0';
  }
  snprintf(out, cap, "#/$defs/%s.%s", file, hash + 8);
  return 0;
}

/* Rewrites the $refs under node for a bundle, drops our own keywords
 * (x-...) and examples, and adds each file a ref names to files (nfiles,
 * up to 8). */
static int bundle_node(cJSON *node, const char *self, char files[8][32], int *nfiles) {
  if (cJSON_IsArray(node)) {
    cJSON *c;
    cJSON_ArrayForEach(c, node) if (bundle_node(c, self, files, nfiles)) return -1;
    return 0;
  }
  if (!cJSON_IsObject(node)) return 0;
  cJSON *c = node->child;
  while (c) {
    cJSON *next = c->next;
    if (c->string && (!strncmp(c->string, "x-", 2) || !strcmp(c->string, "examples") ||
                      !strcmp(c->string, "$schema"))) {
      cJSON_Delete(cJSON_DetachItemViaPointer(node, c));
    } else if (c->string && !strcmp(c->string, "$ref") && cJSON_IsString(c)) {
      char ref[256], file[32];
      if (bundle_ref(c->valuestring, self, ref, sizeof(ref), file, sizeof(file))) return -1;
      int known = 0;
      for (int i = 0; i < *nfiles; i++) known |= !strcmp(files[i], file);
      if (!known) {
        if (*nfiles == 8) return -1;
        pb_strlcpy(files[(*nfiles)++], file, 32);
      }
      cJSON_ReplaceItemViaPointer(node, c, cJSON_CreateString(ref));
    } else if (bundle_node(c, self, files, nfiles)) {
      return -1;
    }
    c = next;
  }
  return 0;
}

/* Adds to refs every "#/$defs/NAME" under node. */
static void collect_refs(const cJSON *node, cJSON *refs) {
  if (!node) return;
  if (cJSON_IsObject(node) || cJSON_IsArray(node)) {
    const cJSON *c;
    cJSON_ArrayForEach(c, node) {
      if (c->string && !strcmp(c->string, "$ref") && cJSON_IsString(c)) {
        const char *name = c->valuestring + 8;
        if (!cJSON_GetObjectItemCaseSensitive(refs, name)) cJSON_AddTrueToObject(refs, name);
      } else {
        collect_refs(c, refs);
      }
    }
  }
}

/* The route's schema as one self-contained document: every $ref local,
 * the $defs it reaches (under "file.name"), nothing else. NULL on failure. */
static cJSON *bundle_schema(const pb_schemas *sc, const char *name) {
  const cJSON *root = pb_schemas_get(sc, name);
  if (!root) return NULL;
  cJSON *out = cJSON_Duplicate(root, 1);
  cJSON *defs = cJSON_CreateObject();
  char files[8][32];
  int nfiles = 0, done = 0;
  cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(out, "$defs"));
  cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(out, "title"));
  if (!out || !defs || bundle_node(out, name, files, &nfiles)) goto fail;
  pb_strlcpy(files[nfiles], name, 32);
  int have_self = 0;
  for (int i = 0; i < nfiles; i++) have_self |= !strcmp(files[i], name);
  if (!have_self) nfiles++;
  /* The $defs of every file a ref names, their own refs named too. */
  while (done < nfiles) {
    char file[32];
    pb_strlcpy(file, files[done++], sizeof(file));
    const cJSON *froot = pb_schemas_get(sc, file);
    if (!froot) goto fail;
    /* The file's root, for refs to the whole file (pruned below if none). */
    cJSON *whole = cJSON_Duplicate(froot, 1);
    if (!whole) goto fail;
    for (const char *k = "$defs\0$id\0$schema\0title\0"; *k; k += strlen(k) + 1)
      cJSON_Delete(cJSON_DetachItemFromObjectCaseSensitive(whole, k));
    if (bundle_node(whole, file, files, &nfiles)) {
      cJSON_Delete(whole);
      goto fail;
    }
    cJSON_AddItemToObject(defs, file, whole);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(froot, "$defs");
    const cJSON *c;
    cJSON_ArrayForEach(c, d) {
      cJSON *copy = cJSON_Duplicate(c, 1);
      char key[128];
      snprintf(key, sizeof(key), "%s.%s", file, c->string);
      if (!copy || bundle_node(copy, file, files, &nfiles)) {
        cJSON_Delete(copy);
        goto fail;
      }
      cJSON_AddItemToObject(defs, key, copy);
    }
  }
  /* Only what the schema reaches. */
  cJSON *reach = cJSON_CreateObject();
  collect_refs(out, reach);
  for (cJSON *r = reach->child; r; r = r->next)
    collect_refs(cJSON_GetObjectItemCaseSensitive(defs, r->string), reach);
  cJSON *c = defs->child;
  while (c) {
    cJSON *next = c->next;
    if (!cJSON_GetObjectItemCaseSensitive(reach, c->string))
      cJSON_Delete(cJSON_DetachItemViaPointer(defs, c));
    c = next;
  }
  cJSON_Delete(reach);
  if (defs->child)
    cJSON_AddItemToObject(out, "$defs", defs);
  else
    cJSON_Delete(defs);
  return out;
fail:
  cJSON_Delete(out);
  cJSON_Delete(defs);
  return NULL;
}

/* A tool's inputSchema: its route's schema, plus the path argument. */
static cJSON *tool_schema(const pb_schemas *sc, const mcp_tool *t) {
  cJSON *o = t->schema ? bundle_schema(sc, t->schema) : cJSON_CreateObject();
  if (!o) return NULL;
  if (!t->schema) {
    cJSON_AddStringToObject(o, "type", "object");
    cJSON_AddObjectToObject(o, "properties");
    cJSON_AddFalseToObject(o, "additionalProperties");
  }
  if (t->path_arg) {
    cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
    cJSON *p = cJSON_AddObjectToObject(props, t->path_arg);
    cJSON_AddStringToObject(p, "type", "string");
    cJSON_AddStringToObject(
        p, "description",
        t->path_arg_doc ? t->path_arg_doc : "The session's id (from acquire or sessions).");
    cJSON_AddStringToObject(p, "pattern", "^[A-Za-z0-9_-]{1,79}$");
    cJSON *req = cJSON_GetObjectItemCaseSensitive(o, "required");
    if (!req) req = cJSON_AddArrayToObject(o, "required");
    cJSON_AddItemToArray(req, cJSON_CreateString(t->path_arg));
  }
  if (t->paged) {
    cJSON *props = cJSON_GetObjectItemCaseSensitive(o, "properties");
    cJSON *c = cJSON_AddObjectToObject(props, "cursor");
    cJSON_AddStringToObject(c, "type", "integer");
    cJSON_AddStringToObject(c, "description", "Where to go on: the cursor of the last answer.");
    cJSON_AddNumberToObject(c, "minimum", 0);
    cJSON *l = cJSON_AddObjectToObject(props, "limit");
    cJSON_AddStringToObject(l, "type", "integer");
    cJSON_AddStringToObject(l, "description", "Results in this page (default 50).");
    cJSON_AddNumberToObject(l, "minimum", 0);
    cJSON_AddNumberToObject(l, "maximum", 500);
  }
  return o;
}

/* A paged tool's cursor and limit, taken out of body into query (cap
 * bytes). 0, or -1 with why. */
static int paged_query(cJSON *body, char *query, size_t cap, const char **why) {
  cJSON *c = cJSON_DetachItemFromObjectCaseSensitive(body, "cursor");
  cJSON *l = cJSON_DetachItemFromObjectCaseSensitive(body, "limit");
  int rc = 0;
  size_t used = 0;
  query[0] = '\0';
  if (c) {
    /* A number, as answers carry it; its digits as a string too. */
    char num[32] = "";
    if (cJSON_IsNumber(c) && c->valuedouble >= 0 && c->valuedouble <= 9007199254740992.0 &&
        c->valuedouble == (double)(long long)c->valuedouble)
      snprintf(num, sizeof(num), "%lld", (long long)c->valuedouble);
    const char *v = num[0] ? num : cJSON_GetStringValue(c);
    size_t n = v ? strlen(v) : 0;
    if (!v || n > 19 || strspn(v, "0123456789") != n) {
      *why = "cursor: the cursor of an earlier answer (digits)";
      rc = -1;
    } else if (n) {
      used += (size_t)snprintf(query, cap, "cursor=%s", v);
    }
  }
  if (!rc && l) {
    if (!cJSON_IsNumber(l) || l->valuedouble < 0 || l->valuedouble > 500 ||
        l->valuedouble != (double)(int)l->valuedouble) {
      *why = "limit: an integer 0..500";
      rc = -1;
    } else {
      snprintf(query + used, cap - used, "%slimit=%d", used ? "&" : "", (int)l->valuedouble);
    }
  }
  cJSON_Delete(c);
  cJSON_Delete(l);
  return rc;
}

int mcp_init(pb_server *s) {
  struct mcp_state *m = calloc(1, sizeof(*m));
  cJSON *res = cJSON_CreateObject();
  cJSON *arr = cJSON_AddArrayToObject(res, "tools");
  int rc = m && res && arr ? 0 : PB_ENOMEM;
  for (size_t i = 0; !rc && i < NTOOLS; i++) {
    cJSON *schema = tool_schema(s->schemas, &tools[i]);
    cJSON *t = cJSON_CreateObject();
    if (!schema || !t) {
      PB_ERR("mcp: the input schema of tool %s cannot be made", tools[i].name);
      cJSON_Delete(schema);
      cJSON_Delete(t);
      rc = PB_EINVAL;
      break;
    }
    cJSON_AddStringToObject(t, "name", tools[i].name);
    cJSON_AddStringToObject(t, "description", tools[i].description);
    cJSON_AddItemToObject(t, "inputSchema", schema);
    cJSON_AddItemToArray(arr, t);
  }
  if (!rc && !(m->tools_list = cJSON_PrintUnformatted(res))) rc = PB_ENOMEM;
  cJSON_Delete(res);
  if (rc) {
    free(m);
    return rc;
  }
  s->mcp = m;
  return 0;
}

void mcp_free(pb_server *s) {
  if (!s->mcp) return;
  free(s->mcp->tools_list);
  free(s->mcp);
  s->mcp = NULL;
}

/* ---- sessions ---- */

static mcp_session *session_find(struct mcp_state *m, const char *id, int64_t account_id,
                                 int64_t now) {
  for (size_t i = 0; i < MCP_SESSIONS_MAX; i++) {
    mcp_session *x = &m->sessions[i];
    if (!x->id[0] || strcmp(x->id, id)) continue;
    if (now - x->last_ms > MCP_SESSION_IDLE_MS) {
      x->id[0] = '\0'; /* expired */
      return NULL;
    }
    return x->account_id == account_id ? x : NULL;
  }
  return NULL;
}

/* A new session for the account: its oldest goes when it has too many.
 * NULL when the table is full of live sessions. */
static mcp_session *session_new(struct mcp_state *m, int64_t account_id, int64_t now) {
  mcp_session *free_slot = NULL, *oldest = NULL;
  int mine = 0;
  for (size_t i = 0; i < MCP_SESSIONS_MAX; i++) {
    mcp_session *x = &m->sessions[i];
    if (x->id[0] && now - x->last_ms > MCP_SESSION_IDLE_MS) x->id[0] = '\0';
    if (!x->id[0]) {
      if (!free_slot) free_slot = x;
      continue;
    }
    if (x->account_id != account_id) continue;
    mine++;
    if (!oldest || x->last_ms < oldest->last_ms) oldest = x;
  }
  mcp_session *x = mine >= MCP_SESSIONS_PER_ACCOUNT ? oldest : free_slot;
  if (!x) return NULL;
  unsigned char b[16];
  if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) return NULL;
  for (size_t i = 0; i < sizeof(b); i++) snprintf(x->id + 2 * i, 3, "%02x", b[i]);
  x->account_id = account_id;
  x->last_ms = now;
  x->version = versions[0];
  return x;
}

/* A batch being answered: its request's answers are collected in out
 * while its tool calls run (pending: calls, plus one while dispatching). */
typedef struct {
  pb_server *s;
  req *outer;
  cJSON *out;
  int pending;
} mcp_batch;

static void batch_gone(req *outer);
static void batch_settle(mcp_batch *b);

static mcp_batch *batch_of(req *r) {
  return r->on_gone == batch_gone ? r->owner : NULL;
}

/* ---- answers ---- */

/* A JSON-RPC message as the whole answer (status 200, or 400 for a
 * message that is not one); takes msg. */
static void answer_rpc(req *r, int status, cJSON *msg) {
  mcp_batch *b = batch_of(r);
  if (b) {
    cJSON_AddItemToArray(b->out, msg);
    return;
  }
  free(r->res.body);
  r->res.body = cJSON_PrintUnformatted(msg);
  cJSON_Delete(msg);
  if (!r->res.body) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return;
  }
  r->res.body_len = strlen(r->res.body);
  r->res.content_type = "application/json";
  r->res.status = status;
  answer_ready(r);
}

static cJSON *rpc_msg(const cJSON *id) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "jsonrpc", "2.0");
  cJSON_AddItemToObject(o, "id", id ? cJSON_Duplicate(id, 1) : cJSON_CreateNull());
  return o;
}

static void answer_rpc_error(req *r, int status, const cJSON *id, int code, const char *message) {
  cJSON *o = rpc_msg(id);
  cJSON *e = cJSON_AddObjectToObject(o, "error");
  cJSON_AddNumberToObject(e, "code", code);
  cJSON_AddStringToObject(e, "message", message);
  answer_rpc(r, status, o);
}

static void answer_rpc_result(req *r, const cJSON *id, cJSON *result) {
  cJSON *o = rpc_msg(id);
  cJSON_AddItemToObject(o, "result", result);
  answer_rpc(r, 200, o);
}

/* A tool result: content and isError. */
static cJSON *tool_result(cJSON *content, int is_error) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "content", content);
  if (is_error) cJSON_AddTrueToObject(o, "isError");
  return o;
}

static void add_text(cJSON *content, const char *text) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "type", "text");
  cJSON_AddStringToObject(t, "text", text);
  cJSON_AddItemToArray(content, t);
}

static cJSON *tool_error(pb_code code, const char *message) {
  cJSON *content = cJSON_CreateArray();
  char text[640];
  snprintf(text, sizeof(text), "%s: %s", pb_code_text(code), message);
  add_text(content, text);
  return tool_result(content, 1);
}

static void add_blob(cJSON *content, const char *type, const char *b64, const char *mime) {
  cJSON *t = cJSON_CreateObject();
  cJSON_AddStringToObject(t, "type", type);
  cJSON_AddStringToObject(t, "data", b64);
  cJSON_AddStringToObject(t, "mimeType", mime);
  cJSON_AddItemToArray(content, t);
}

/* The image type of base64 data, by its first bytes. */
static const char *b64_mime(const char *b64) {
  if (!strncmp(b64, "/9j/", 4)) return "image/jpeg";
  if (!strncmp(b64, "UklGR", 5)) return "image/webp";
  return "image/png";
}

/* The answer of a route as the tool's result. */
static cJSON *answer_to_result(const mcp_tool *t, const pb_op_result *res, const char *rid) {
  if (res->err != PB_CODE_NONE || res->status >= 400)
    return tool_error(res->err ? res->err : PB_CODE_INTERNAL_ERROR, res->message);
  cJSON *content = cJSON_CreateArray();
  if (t->out == OUT_IMAGE || t->out == OUT_PDF) {
    char *b64 = NULL;
    if (pb_base64_encode((const unsigned char *)res->body, res->body_len, &b64)) {
      cJSON_Delete(content);
      return tool_error(PB_CODE_INTERNAL_ERROR, "out of memory");
    }
    if (t->out == OUT_IMAGE) {
      add_blob(content, "image", b64, res->content_type ? res->content_type : "image/png");
    } else {
      cJSON *e = cJSON_CreateObject(), *rs = cJSON_CreateObject();
      char uri[96];
      snprintf(uri, sizeof(uri), "ppod-browser://pdf/%s.pdf", rid);
      cJSON_AddStringToObject(e, "type", "resource");
      cJSON_AddStringToObject(rs, "uri", uri);
      cJSON_AddStringToObject(rs, "mimeType", "application/pdf");
      cJSON_AddStringToObject(rs, "blob", b64);
      cJSON_AddItemToObject(e, "resource", rs);
      cJSON_AddItemToArray(content, e);
    }
    free(b64);
    return tool_result(content, 0);
  }
  cJSON *doc = res->body ? cJSON_ParseWithLength(res->body, res->body_len) : NULL;
  cJSON *result = cJSON_GetObjectItemCaseSensitive(doc, "result");
  if (!result) {
    cJSON_Delete(doc);
    cJSON_Delete(content);
    return tool_error(PB_CODE_INTERNAL_ERROR, "the route answered without a result");
  }
  if (t->out == OUT_TEXT && cJSON_IsString(result)) {
    add_text(content, result->valuestring);
    const char *note = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "note"));
    if (note) add_text(content, note);
  } else if (t->out == OUT_SNAPSHOT) {
    const char *html = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(result, "content"));
    const char *shot = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(result, "screenshot"));
    add_text(content, html ? html : "");
    if (shot) add_blob(content, "image", shot, b64_mime(shot));
  } else {
    /* JSON as text; a test's screenshots as images after it. */
    cJSON *shots =
        t->out == OUT_TEST ? cJSON_DetachItemFromObjectCaseSensitive(result, "screenshots") : NULL;
    char *text = cJSON_PrintUnformatted(result);
    add_text(content, text ? text : "null");
    free(text);
    const cJSON *sh;
    cJSON_ArrayForEach(sh, shots) if (cJSON_IsString(sh))
        add_blob(content, "image", sh->valuestring, b64_mime(sh->valuestring));
    cJSON_Delete(shots);
  }
  cJSON_Delete(doc);
  return tool_result(content, 0);
}

/* ---- tool calls ---- */

static void stream_event(req *r, cJSON *msg) {
  char *text = cJSON_PrintUnformatted(msg);
  cJSON_Delete(msg);
  if (!text) return;
  if (pb_buf_printf(&r->stream_buf, "event: message\ndata: %s\n\n", text)) r->close_after = 1;
  free(text);
  if (r->wsi) lws_callback_on_writable(r->wsi);
}

static void call_free(mcp_call *c) {
  if (c->timer_on) lws_sul_cancel(&c->sul);
  if (c->prev) {
    *c->prev = c->next;
    if (c->next) c->next->prev = c->prev;
  }
  free(c->id_text);
  if (c->outer) {
    if (!c->batch) {
      c->outer->owner = NULL;
      c->outer->on_gone = NULL;
    }
    req_release(c->outer);
  }
  req_release(c->child);
  cJSON_Delete(c->id);
  cJSON_Delete(c->progress_token);
  free(c);
}

/* Every second of a streamed call with a progress token: how long, and
 * whether it is still queued or running. */
static void call_progress(lws_sorted_usec_list_t *sul) {
  mcp_call *c = lws_container_of(sul, mcp_call, sul);
  c->timer_on = 0;
  if (!c->outer->wsi || c->nprogress >= MCP_PROGRESS_MAX) return;
  int64_t ms = pb_now_ms() - c->t0;
  int running = c->child && atomic_load(&c->child->stage) == 1;
  char text[96];
  snprintf(text, sizeof(text), "%s %s (%lld ms)", c->tool->name, running ? "running" : "queued",
           (long long)ms);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "jsonrpc", "2.0");
  cJSON_AddStringToObject(o, "method", "notifications/progress");
  cJSON *p = cJSON_AddObjectToObject(o, "params");
  cJSON_AddItemToObject(p, "progressToken", cJSON_Duplicate(c->progress_token, 1));
  cJSON_AddNumberToObject(p, "progress", (double)ms);
  cJSON_AddStringToObject(p, "message", text);
  stream_event(c->outer, o);
  c->nprogress++;
  c->timer_on = 1;
  lws_sul_schedule(c->s->ctx, 0, &c->sul, call_progress, MCP_PROGRESS_MS * LWS_US_PER_MS);
}

static void call_finish(mcp_call *c, cJSON *result);
static int id_ok(const char *v);

/* The client of the /mcp request went away: the job is told to stop. */
static void call_gone(req *outer) {
  mcp_call *c = outer->owner;
  if (!c) return;
  if (c->child) atomic_store(&c->child->canceled, 1);
  int waiting = c->timer_on && c->follow_stage;
  if (c->timer_on) lws_sul_cancel(&c->sul);
  c->timer_on = 0;
  /* A followed crawl between two reads: nothing else would end the call
   * (the crawl itself goes on). */
  if (waiting) call_finish(c, NULL);
}

static void call_finish(mcp_call *c, cJSON *result) {
  req *r = c->outer;
  mcp_batch *b = c->batch;
  if (!r->wsi) {
    cJSON_Delete(result);
  } else if (c->sse) {
    cJSON *o = rpc_msg(c->id);
    cJSON_AddItemToObject(o, "result", result);
    stream_event(r, o);
    r->stream = 2; /* the last event */
  } else {
    answer_rpc_result(r, c->id, result); /* or into its batch */
  }
  call_free(c);
  if (b) batch_settle(b);
}

/* The client of a batch went away: its calls are told to stop. */
static void batch_gone(req *outer) {
  mcp_batch *b = outer->owner;
  for (mcp_call *c = b->s->mcp->calls; c; c = c->next)
    if (c->batch == b && c->child) atomic_store(&c->child->canceled, 1);
}

/* One part of the batch is done; after the last, the answer. */
static void batch_settle(mcp_batch *b) {
  if (--b->pending > 0) return;
  req *r = b->outer;
  r->owner = NULL;
  r->on_gone = NULL;
  if (!r->wsi) {
    cJSON_Delete(b->out);
  } else if (cJSON_GetArraySize(b->out) == 0) {
    cJSON_Delete(b->out);
    r->res.status = 202;
    answer_ready(r);
  } else {
    answer_rpc(r, 200, b->out);
  }
  req_release(r);
  free(b);
}

static void call_answered(req *child);

/* Reads the followed crawl again (I/O thread): its counts while it runs,
 * then its results. */
static void follow_read(mcp_call *c, const char *query) {
  req_release(c->child);
  c->child = internal_request_new(c->s, c->outer, call_answered, c);
  if (!c->child) {
    call_finish(c, tool_error(PB_CODE_INTERNAL_ERROR, "out of memory"));
    return;
  }
  char path[128];
  snprintf(path, sizeof(path), "/browser/crawl/%s", c->follow_id);
  pb_strlcpy(c->child->iquery, query, sizeof(c->child->iquery));
  internal_request_run(c->s, c->child, LWSHUMETH_GET, path, NULL, 0);
}

static void follow_tick(lws_sorted_usec_list_t *sul) {
  mcp_call *c = lws_container_of(sul, mcp_call, sul);
  c->timer_on = 0;
  if (pb_now_ms() - c->t0 >= MCP_FOLLOW_MAX_MS) c->follow_stage = 2;
  follow_read(c, c->follow_stage == 2 ? MCP_FOLLOW_RESULTS : "limit=0");
}

/* A followed crawl's answer: started (its id), its counts (progress; the
 * next read in a second, or the results once it ended), or its results.
 * 1 when the call goes on, 0 when result is its answer. */
static int follow(mcp_call *c, const req *child) {
  if (child->res.err != PB_CODE_NONE || child->res.status >= 400 || c->follow_stage == 2 ||
      (c->outer && !c->outer->wsi))
    return 0;
  cJSON *doc = child->res.body ? cJSON_ParseWithLength(child->res.body, child->res.body_len) : NULL;
  const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "result");
  /* POST's result is the crawl's id (Cloudflare's shape); GET's is the crawl. */
  const char *id = cJSON_IsString(res)
                       ? res->valuestring
                       : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "id"));
  const char *st = cJSON_IsString(res)
                       ? "running"
                       : cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(res, "status"));
  if (!id || !id_ok(id) || !st) {
    cJSON_Delete(doc);
    return 0;
  }
  pb_strlcpy(c->follow_id, id, sizeof(c->follow_id));
  const cJSON *counts = cJSON_GetObjectItemCaseSensitive(res, "counts");
  double done = 0;
  for (const char *k = "done\0failed\0skipped\0"; *k; k += strlen(k) + 1) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(counts, k);
    if (cJSON_IsNumber(n)) done += n->valuedouble;
  }
  if (c->sse && c->progress_token && done > c->follow_done && c->nprogress < MCP_PROGRESS_MAX) {
    char text[96];
    snprintf(text, sizeof(text), "%.0f pages", done);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "jsonrpc", "2.0");
    cJSON_AddStringToObject(o, "method", "notifications/progress");
    cJSON *p = cJSON_AddObjectToObject(o, "params");
    cJSON_AddItemToObject(p, "progressToken", cJSON_Duplicate(c->progress_token, 1));
    cJSON_AddNumberToObject(p, "progress", done);
    cJSON_AddNumberToObject(p, "total", c->follow_total);
    cJSON_AddStringToObject(p, "message", text);
    stream_event(c->outer, o);
    c->nprogress++;
    c->follow_done = done;
  }
  int running = !strcmp(st, "running") || !strcmp(st, "queued");
  cJSON_Delete(doc);
  if (running) {
    c->follow_stage = 1;
    c->timer_on = 1;
    lws_sul_schedule(c->s->ctx, 0, &c->sul, follow_tick, MCP_PROGRESS_MS * LWS_US_PER_MS);
  } else {
    c->follow_stage = 2;
    follow_read(c, MCP_FOLLOW_RESULTS);
  }
  return 1;
}

/* The route answered (I/O thread). */
static void call_answered(req *child) {
  mcp_call *c = child->owner;
  if (c->tool->out == OUT_FOLLOW && follow(c, child)) return;
  call_finish(c, answer_to_result(c->tool, &child->res, child->rid));
}

/* A session id safe in a path. */
static int id_ok(const char *v) {
  size_t n = strlen(v);
  return n >= 1 && n < 80 &&
         strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

/* notifications/cancelled: the call of that id in the same session (and
 * account) is told to stop; its answer still goes to its own request. */
static void cancel_call(pb_server *s, const mcp_session *x, const cJSON *params) {
  const cJSON *rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
  char *text = rid ? cJSON_PrintUnformatted(rid) : NULL;
  for (mcp_call *c = s->mcp->calls; text && c; c = c->next)
    if (c->account_id == x->account_id && !strcmp(c->session, x->id) && c->id_text &&
        !strcmp(c->id_text, text) && c->child) {
      atomic_store(&c->child->canceled, 1);
      /* A followed crawl stops being waited for (the crawl goes on). */
      if (c->follow_stage) c->follow_stage = 2;
    }
  free(text);
}

static void tools_call(pb_server *s, req *r, const mcp_session *x, const cJSON *id,
                       const cJSON *params, int sse) {
  const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "name"));
  const cJSON *args = cJSON_GetObjectItemCaseSensitive(params, "arguments");
  const mcp_tool *t = NULL;
  for (size_t i = 0; name && i < NTOOLS; i++)
    if (!strcmp(tools[i].name, name)) t = &tools[i];
  if (!t) {
    answer_rpc_error(r, 200, id, -32602, name ? "unknown tool" : "params.name is required");
    return;
  }
  if (args && !cJSON_IsNull(args) && !cJSON_IsObject(args)) {
    answer_rpc_error(r, 200, id, -32602, "params.arguments must be an object");
    return;
  }
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
  const cJSON *tok = cJSON_GetObjectItemCaseSensitive(meta, "progressToken");
  if (tok && !cJSON_IsString(tok) && !cJSON_IsNumber(tok)) {
    answer_rpc_error(r, 200, id, -32602, "_meta.progressToken must be a string or an integer");
    return;
  }
  /* The path argument leaves the body for the path. */
  cJSON *body = cJSON_IsObject(args) ? cJSON_Duplicate(args, 1) : cJSON_CreateObject();
  char path[160];
  pb_strlcpy(path, t->path, sizeof(path));
  if (t->path_arg) {
    cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(body, t->path_arg);
    const char *sid = cJSON_GetStringValue(v);
    char *brace = strstr(path, "{}");
    if (!sid || !id_ok(sid) || !brace) {
      cJSON_Delete(v);
      cJSON_Delete(body);
      char msg[128];
      snprintf(msg, sizeof(msg), "%s: required, 1 to 79 of [A-Za-z0-9_-]", t->path_arg);
      answer_rpc_result(r, id, tool_error(PB_CODE_INVALID_REQUEST, msg));
      return;
    }
    char rest[64];
    pb_strlcpy(rest, brace + 2, sizeof(rest));
    snprintf(brace, sizeof(path) - (size_t)(brace - path), "%s%s", sid, rest);
    cJSON_Delete(v);
  }
  char query[sizeof(((req *)0)->iquery)];
  pb_strlcpy(query, t->query ? t->query : "", sizeof(query));
  const char *why = NULL;
  if (t->paged && paged_query(body, query, sizeof(query), &why)) {
    cJSON_Delete(body);
    answer_rpc_result(r, id, tool_error(PB_CODE_INVALID_REQUEST, why));
    return;
  }
  if (!t->schema && body->child) {
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: unknown field", body->child->string);
    cJSON_Delete(body);
    answer_rpc_result(r, id, tool_error(PB_CODE_INVALID_REQUEST, msg));
    return;
  }
  char *text = t->schema ? cJSON_PrintUnformatted(body) : NULL;
  const cJSON *limit = cJSON_GetObjectItemCaseSensitive(body, "limit");
  double total = cJSON_IsNumber(limit) ? limit->valuedouble : PB_CRAWL_LIMIT_DEFAULT;
  cJSON_Delete(body);
  mcp_call *c = calloc(1, sizeof(*c));
  if (!c || (t->schema && !text)) {
    free(c);
    free(text);
    answer_rpc_error(r, 200, id, -32603, "out of memory");
    return;
  }
  c->s = s;
  c->tool = t;
  c->id = cJSON_Duplicate(id, 1);
  c->id_text = cJSON_PrintUnformatted(id);
  c->account_id = x->account_id;
  pb_strlcpy(c->session, x->id, sizeof(c->session));
  c->next = s->mcp->calls;
  if (c->next) c->next->prev = &c->next;
  c->prev = &s->mcp->calls;
  s->mcp->calls = c;
  c->progress_token = tok ? cJSON_Duplicate(tok, 1) : NULL;
  c->sse = sse;
  c->t0 = pb_now_ms();
  c->follow_total = total;
  c->outer = r;
  atomic_fetch_add(&r->refs, 1);
  c->batch = batch_of(r);
  if (c->batch) {
    ((mcp_batch *)c->batch)->pending++;
  } else {
    r->owner = c;
    r->on_gone = call_gone;
  }
  c->child = internal_request_new(s, r, call_answered, c);
  if (!c->child) {
    free(text);
    call_finish(c, tool_error(PB_CODE_INTERNAL_ERROR, "out of memory"));
    return;
  }
  if (sse) {
    /* The headers go now; the events as they come. */
    r->stream = 1;
    r->stream_buf.cap = MCP_STREAM_MAX;
    answer_ready(r);
    if (c->progress_token && t->out != OUT_FOLLOW) {
      c->timer_on = 1;
      lws_sul_schedule(s->ctx, 0, &c->sul, call_progress, MCP_PROGRESS_MS * LWS_US_PER_MS);
    }
  }
  pb_strlcpy(c->child->iquery, query, sizeof(c->child->iquery));
  /* May answer at once (c is freed then): nothing of c after this. */
  internal_request_run(s, c->child, t->method, path, text, text ? strlen(text) : 0);
  free(text);
}

/* ---- the transport ---- */

/* A browser page's Origin must be this service's own (DNS rebinding): its
 * host[:port] is the Host the request came to. No Origin: not a browser. */
static int origin_ok(struct lws *wsi) {
  char origin[256], host[256];
  if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0) return 1;
  if (!http_header(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)) ||
      !http_header(wsi, WSI_TOKEN_HOST, host, sizeof(host)))
    return 0;
  const char *o = origin;
  if (!strncasecmp(o, "http://", 7))
    o += 7;
  else if (!strncasecmp(o, "https://", 8))
    o += 8;
  else
    return 0;
  return !strcasecmp(o, host);
}

static const char *version_supported(const char *v) {
  for (int i = 0; v && versions[i]; i++)
    if (!strcmp(v, versions[i])) return versions[i];
  return NULL;
}

/* Checks Origin, MCP-Protocol-Version and Mcp-Session-Id; 0 with *out the
 * session (NULL when none was sent), else the refusal was answered. */
static int transport_checks(pb_server *s, req *r, int need_session, mcp_session **out) {
  struct lws *wsi = r->wsi;
  char v[64], id[80];
  *out = NULL;
  if (!origin_ok(wsi)) {
    answer_error(r, PB_CODE_FORBIDDEN, "the Origin is not this service's");
    return -1;
  }
  if (lws_hdr_custom_length(wsi, "mcp-protocol-version:", 21) > 0 &&
      (lws_hdr_custom_copy(wsi, v, sizeof(v), "mcp-protocol-version:", 21) <= 0 ||
       !version_supported(v))) {
    answer_error(r, PB_CODE_INVALID_REQUEST,
                 "MCP-Protocol-Version is not one this server speaks (2025-11-25, "
                 "2025-06-18, 2025-03-26)");
    return -1;
  }
  int has = lws_hdr_custom_length(wsi, "mcp-session-id:", 15) > 0;
  if (!has) {
    if (!need_session) return 0;
    answer_error(r, PB_CODE_INVALID_REQUEST, "Mcp-Session-Id is required; initialize first");
    return -1;
  }
  int64_t now = pb_now_ms();
  mcp_session *x = NULL;
  if (lws_hdr_custom_copy(wsi, id, sizeof(id), "mcp-session-id:", 15) > 0)
    x = session_find(s->mcp, id, r->auth.account_id, now);
  if (!x) {
    answer_error(r, PB_CODE_NOT_FOUND, "no such MCP session for this account; initialize again");
    return -1;
  }
  x->last_ms = now;
  *out = x;
  return 0;
}

static void initialize(pb_server *s, req *r, const cJSON *id, const cJSON *params) {
  const char *want =
      cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(params, "protocolVersion"));
  if (!cJSON_IsObject(params) || !want) {
    answer_rpc_error(r, 200, id, -32602, "params.protocolVersion is required");
    return;
  }
  mcp_session *x = session_new(s->mcp, r->auth.account_id, pb_now_ms());
  if (!x) {
    r->retry_after = 5;
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "too many MCP sessions; retry shortly");
    return;
  }
  const char *v = version_supported(want);
  x->version = v ? v : versions[0];
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "protocolVersion", x->version);
  cJSON *caps = cJSON_AddObjectToObject(res, "capabilities");
  cJSON_AddFalseToObject(cJSON_AddObjectToObject(caps, "tools"), "listChanged");
  cJSON *info = cJSON_AddObjectToObject(res, "serverInfo");
  cJSON_AddStringToObject(info, "name", "ppod-browser");
  cJSON_AddStringToObject(info, "version", "0.1.0");
  cJSON_AddStringToObject(res, "instructions",
                          "Headless Chromium as tools: screenshot, pdf, markdown, content, "
                          "scrape, links, snapshot and test take a url (or html) and the "
                          "HTTP API's options; acquire/sessions/live_url/release manage "
                          "sessions. Errors carry the API's codes.");
  r->xh_name = "mcp-session-id:";
  pb_strlcpy(r->xh_value, x->id, sizeof(r->xh_value));
  answer_rpc_result(r, id, res);
}

/* 1 when the client takes an event stream. */
static int accepts_sse(struct lws *wsi) {
  char acc[256];
  return http_header(wsi, WSI_TOKEN_HTTP_ACCEPT, acc, sizeof(acc)) &&
         strstr(acc, "text/event-stream") != NULL;
}

/* An event stream is worth its cost (a connection of its own) only when
 * there is progress to send; otherwise the answer is plain JSON. */
static int has_progress_token(const cJSON *params) {
  const cJSON *meta = cJSON_GetObjectItemCaseSensitive(params, "_meta");
  return cJSON_GetObjectItemCaseSensitive(meta, "progressToken") != NULL;
}

/* 0 when msg is a JSON-RPC 2.0 message (request, notification or
 * response); its id, if valid, into *id. */
static int message_ok(const cJSON *msg, const cJSON **id) {
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(msg, "id");
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(msg, "jsonrpc");
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  int id_valid = (cJSON_IsString(i) && strlen(i->valuestring) <= MCP_ID_MAX) ||
                 (cJSON_IsNumber(i) && i->valuedouble == (double)(long long)i->valuedouble);
  *id = id_valid ? i : NULL;
  if (!cJSON_IsObject(msg) || !cJSON_IsString(v) || strcmp(v->valuestring, "2.0") ||
      (i && !id_valid) || (params && !cJSON_IsObject(params)))
    return -1;
  if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(msg, "method"))) return 0;
  return cJSON_GetObjectItemCaseSensitive(msg, "result") ||
                 cJSON_GetObjectItemCaseSensitive(msg, "error")
             ? 0
             : -1;
}

/* One message of a session (x) that is not initialize: its answer, or
 * nothing for a notification (in_batch: collected by the batch). */
static void dispatch(pb_server *s, req *r, mcp_session *x, const cJSON *msg, int in_batch) {
  const cJSON *id = NULL;
  if (message_ok(msg, &id)) {
    answer_rpc_error(r, 400, id, -32600, "invalid request: not a JSON-RPC 2.0 message");
    return;
  }
  const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "method"));
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!cJSON_GetObjectItemCaseSensitive(msg, "id") || !method) {
    /* A notification or a response: accepted, nothing to answer. */
    if (method && !strcmp(method, "notifications/cancelled")) cancel_call(s, x, params);
    if (!in_batch) {
      r->res.status = 202;
      answer_ready(r);
    }
  } else if (!strcmp(method, "initialize")) {
    answer_rpc_error(r, 400, id, -32600, "initialize must be sent alone, outside a session");
  } else if (!strcmp(method, "ping")) {
    answer_rpc_result(r, id, cJSON_CreateObject());
  } else if (!strcmp(method, "tools/list")) {
    cJSON *res = cJSON_Parse(s->mcp->tools_list);
    if (res)
      answer_rpc_result(r, id, res);
    else
      answer_rpc_error(r, 200, id, -32603, "out of memory");
  } else if (!strcmp(method, "tools/call")) {
    if (!params)
      answer_rpc_error(r, 200, id, -32602, "params are required");
    else
      tools_call(s, r, x, id, params,
                 !in_batch && accepts_sse(r->wsi) && has_progress_token(params));
  } else {
    answer_rpc_error(r, 200, id, -32601, "method not found");
  }
}

/* A batch (protocol 2025-03-26 only: later versions dropped them): every
 * message dispatched, the answers collected, one array answered when the
 * last tool call is done (202 when there is nothing to answer). */
static void batch(pb_server *s, req *r, mcp_session *x, const cJSON *msgs) {
  int n = cJSON_GetArraySize(msgs);
  if (strcmp(x->version, "2025-03-26")) {
    answer_rpc_error(r, 400, NULL, -32600,
                     "batches are not part of this protocol version: send one message");
    return;
  }
  if (n < 1 || n > MCP_BATCH_MAX) {
    answer_rpc_error(r, 400, NULL, -32600, "a batch holds 1 to 16 messages");
    return;
  }
  mcp_batch *b = calloc(1, sizeof(*b));
  if (!b || !(b->out = cJSON_CreateArray())) {
    free(b);
    answer_error(r, PB_CODE_INTERNAL_ERROR, "out of memory");
    return;
  }
  b->s = s;
  b->outer = r;
  b->pending = 1; /* the dispatch below */
  atomic_fetch_add(&r->refs, 1);
  r->owner = b;
  r->on_gone = batch_gone;
  const cJSON *m;
  cJSON_ArrayForEach(m, msgs) dispatch(s, r, x, m, 1);
  batch_settle(b);
}

void mcp_post(pb_server *s, req *r) {
  char err[256];
  /* The message first: a parse error is JSON-RPC's, whatever the rest. */
  cJSON *msg = NULL;
  if (!pb_json_text_check(r->body.data, r->body.len, err, sizeof(err)) && r->body.len)
    msg = cJSON_ParseWithLength(r->body.data, r->body.len);
  if (!msg || pb_json_dup_keys(msg, err, sizeof(err))) {
    cJSON_Delete(msg);
    answer_rpc_error(r, 400, NULL, -32700, "parse error: the body is not one JSON text");
    return;
  }
  const cJSON *id = NULL;
  const char *method = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "method"));
  int is_init = cJSON_IsObject(msg) && method && !strcmp(method, "initialize") &&
                cJSON_GetObjectItemCaseSensitive(msg, "id");
  mcp_session *x = NULL;
  if (!cJSON_IsArray(msg) && message_ok(msg, &id)) {
    answer_rpc_error(r, 400, id, -32600, "invalid request: not a JSON-RPC 2.0 message");
  } else if (!transport_checks(s, r, !is_init, &x)) {
    if (is_init)
      initialize(s, r, id, cJSON_GetObjectItemCaseSensitive(msg, "params"));
    else if (cJSON_IsArray(msg))
      batch(s, r, x, msg);
    else
      dispatch(s, r, x, msg, 0);
  }
  cJSON_Delete(msg);
}

void mcp_delete(pb_server *s, req *r) {
  mcp_session *x = NULL;
  if (transport_checks(s, r, 1, &x)) return;
  x->id[0] = '\0';
  answer_json(r, cJSON_CreateObject());
}

int mcp_stream_write(pb_server *s, struct lws *wsi, req *r) {
  if (!r->headers_sent) {
    unsigned char *start = s->wbuf + LWS_PRE, *p = start, *end = s->wbuf + sizeof(s->wbuf) - 1;
    if (lws_add_http_common_headers(wsi, 200, "text/event-stream", LWS_ILLEGAL_HTTP_CONTENT_LEN, &p,
                                    end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-cache", 8, &p, end) ||
        lws_add_http_header_by_name(wsi, (const unsigned char *)"x-request-id:",
                                    (unsigned char *)r->rid, (int)strlen(r->rid), &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end))
      return -1;
    r->headers_sent = 1;
    r->res.status = 200;
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (r->stream_sent < r->stream_buf.len) {
    size_t n = r->stream_buf.len - r->stream_sent;
    if (n > CHUNK) n = CHUNK;
    memcpy(s->wbuf + LWS_PRE, r->stream_buf.data + r->stream_sent, n);
    if (lws_write(wsi, s->wbuf + LWS_PRE, n, LWS_WRITE_HTTP) != (int)n) return -1;
    r->stream_sent += n;
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (r->close_after && r->stream != 2) return -1; /* the stream's buffer overflowed */
  /* All written: the stream ends after its last event, once lws holds no
   * part of it back. */
  if (r->stream == 2) {
    if (lws_partial_buffered(wsi)) {
      lws_callback_on_writable(wsi);
      return 0;
    }
    return 1;
  }
  r->stream_buf.len = 0;
  r->stream_sent = 0;
  return 0;
}
