/* GET /openapi.json: an OpenAPI 3.1 document around the embedded schemas.
 * Its paths are the route table's documented rows (http/routes.c: those
 * with a summary, and every JSON-body row); everything else (error
 * responses, envelopes, auth) is shared. Each operation carries x-auth
 * ("none", "token" or "token-or-query"), which /docs shows. */
#include "http/openapi.h"

#include "common/pb.h"
#include "common/schemas_data.h"
#include "http/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Failure statuses every body-taking route can answer, in the error envelope. */
static const struct {
  const char *status;
  const char *name; /* components.responses key */
  const char *description;
} errors[] = {
    {"400", "BadRequest",
     "INVALID_REQUEST: the body is not JSON or breaks the schema (unknown field, wrong type, "
     "out of range, quality with png, both or neither of url and html); the message names the "
     "field path, e.g. viewport.width. PAGE_TOO_LARGE: a full-page capture over the size cap. "
     "INVALID_PATTERN: a rejectRequestPattern/allowRequestPattern entry is not a valid "
     "regular expression, uses a backreference, or is over a limit (length, nesting, "
     "compiled size); the message names it."},
    {"401", "Unauthorized",
     "UNAUTHORIZED (no token), INVALID_TOKEN (unknown or malformed) or EXPIRED_TOKEN."},
    {"403", "Forbidden",
     "FORBIDDEN_URL: the scheme is not http, https or about:blank, or the host is or "
     "resolves (at the egress proxy) to a private, loopback or link-local address that is not "
     "allow-listed."},
    {"408", "Timeout", "TIMEOUT: the navigation, waitForSelector or job timeout ran out."},
    {"411", "LengthRequired",
     "LENGTH_REQUIRED: the body came with Transfer-Encoding; send it with a Content-Length."},
    {"413", "BodyTooLarge", "BODY_TOO_LARGE: the request body is over 10 MiB."},
    {"422", "NavigationFailed",
     "NAVIGATION_FAILED: Chromium could not load the page; the message carries its net error, "
     "e.g. net::ERR_NAME_NOT_RESOLVED."},
    {"429", "TooManyRequests",
     "TOO_MANY_REQUESTS: the job queue is full; retry after Retry-After seconds."},
    {"500", "InternalError", "INTERNAL_ERROR: a fault of the service."},
    {"502", "BrowserCrashed", "BROWSER_CRASHED: the browser died during the job."},
    {"503", "ShuttingDown", "SHUTTING_DOWN: the service is stopping."},
};

/* Fixed components, written as JSON because they never vary. */
static const char fixed_components[] =
    "{\"schemas\":{"
    "\"ErrorEnvelope\":{\"type\":\"object\",\"required\":[\"success\",\"errors\"],"
    "\"properties\":{\"success\":{\"const\":false},\"errors\":{\"type\":\"array\",\"minItems\":1,"
    "\"items\":{\"type\":\"object\",\"required\":[\"code\",\"message\"],\"properties\":{"
    "\"code\":{\"type\":\"string\",\"enum\":[\"INVALID_REQUEST\",\"INVALID_PATTERN\",\"PAGE_TOO_"
    "LARGE\","
    "\"UNAUTHORIZED\",\"INVALID_TOKEN\",\"EXPIRED_TOKEN\",\"FORBIDDEN_URL\",\"NOT_FOUND\","
    "\"METHOD_NOT_ALLOWED\",\"TIMEOUT\",\"LENGTH_REQUIRED\",\"BODY_TOO_LARGE\",\"NAVIGATION_FAILED\","
    "\"TOO_MANY_REQUESTS\",\"INSUFFICIENT_CREDITS\","
    "\"INTERNAL_ERROR\",\"BROWSER_CRASHED\",\"SHUTTING_DOWN\"]},"
    "\"message\":{\"type\":\"string\"}}}}}},"
    "\"SuccessEnvelope\":{\"type\":\"object\",\"required\":[\"success\",\"result\"],"
    "\"properties\":{\"success\":{\"const\":true},\"result\":{}}}},"
    "\"responses\":{},"
    "\"securitySchemes\":{\"bearerAuth\":{\"type\":\"http\",\"scheme\":\"bearer\","
    "\"description\":\"A token from `ppod-browserd token create`.\"}}}";

typedef struct {
  int rc; /* first failure; the tree may be incomplete once it is set */
} bld;

static cJSON *b_obj(bld *b, cJSON *parent, const char *key) {
  cJSON *o = cJSON_AddObjectToObject(parent, key);
  if (!o && !b->rc) b->rc = PB_ENOMEM;
  return o;
}

static void b_str(bld *b, cJSON *parent, const char *key, const char *val) {
  if (!cJSON_AddStringToObject(parent, key, val) && !b->rc) b->rc = PB_ENOMEM;
}

/* Takes ownership of item, also on failure. */
static void b_add(bld *b, cJSON *parent, const char *key, cJSON *item) {
  if (item && cJSON_AddItemToObject(parent, key, item)) return;
  cJSON_Delete(item);
  if (!b->rc) b->rc = PB_ENOMEM;
}

static void b_ref(bld *b, cJSON *parent, const char *key, const char *ref) {
  cJSON *o = b_obj(b, parent, key);
  if (o) b_str(b, o, "$ref", ref);
}

/* "common.json#/$defs/url" -> "#/components/schemas/common/$defs/url";
 * "#/$defs/x" in schema `self` -> "#/components/schemas/self/$defs/x". */
static int rewrite_ref(cJSON *ref, const char *self) {
  const char *v = ref->valuestring;
  const char *hash = strchr(v, '#');
  size_t namelen = hash ? (size_t)(hash - v) : strlen(v);
  const char *frag = hash ? hash + 1 : "";
  pb_buf out;
  pb_buf_init(&out, 4096);
  int rc;
  if (namelen) {
    if (namelen > 5 && !memcmp(v + namelen - 5, ".json", 5)) namelen -= 5;
    rc = pb_buf_printf(&out, "#/components/schemas/%.*s%s", (int)namelen, v, frag);
  } else {
    rc = pb_buf_printf(&out, "#/components/schemas/%s%s", self, frag);
  }
  if (!rc && !cJSON_SetValuestring(ref, out.data)) rc = PB_ENOMEM;
  pb_buf_free(&out);
  return rc;
}

/* Walks the schema keywords that hold subschemas (the same set jsonschema.c
 * validates), so instance data such as enum values or a property that
 * happens to be called "$ref" is left alone. */
static int rewrite_schema(cJSON *schema, const char *self) {
  static const char *const one[] = {"items", "additionalProperties", "propertyNames", "not",
                                    "if", "then", "else"};
  static const char *const map[] = {"properties", "$defs"};
  static const char *const list[] = {"allOf", "anyOf", "oneOf"};
  cJSON *kw, *sub;
  int rc;
  if (!cJSON_IsObject(schema)) return 0;
  cJSON_ArrayForEach(kw, schema) {
    size_t i;
    if (!strcmp(kw->string, "$ref") && cJSON_IsString(kw)) {
      rc = rewrite_ref(kw, self);
      if (rc) return rc;
      continue;
    }
    for (i = 0; i < sizeof(one) / sizeof(one[0]); i++)
      if (!strcmp(kw->string, one[i]) && (rc = rewrite_schema(kw, self))) return rc;
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
      if (!strcmp(kw->string, map[i]))
        cJSON_ArrayForEach(sub, kw) if ((rc = rewrite_schema(sub, self))) return rc;
    for (i = 0; i < sizeof(list) / sizeof(list[0]); i++)
      if (!strcmp(kw->string, list[i]))
        cJSON_ArrayForEach(sub, kw) if ((rc = rewrite_schema(sub, self))) return rc;
  }
  return 0;
}

static void add_error_responses(bld *b, cJSON *components) {
  cJSON *responses = cJSON_GetObjectItemCaseSensitive(components, "responses");
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
    cJSON *r = b_obj(b, responses, errors[i].name);
    b_str(b, r, "description", errors[i].description);
    if (!strcmp(errors[i].status, "429")) {
      cJSON *h = b_obj(b, b_obj(b, r, "headers"), "Retry-After");
      b_str(b, h, "description", "Seconds to wait before retrying.");
      b_str(b, b_obj(b, h, "schema"), "type", "integer");
    }
    cJSON *json = b_obj(b, b_obj(b, r, "content"), "application/json");
    b_ref(b, json, "schema", "#/components/schemas/ErrorEnvelope");
  }
  /* Billable routes only (add_json_route). */
  cJSON *r = b_obj(b, responses, "PaymentRequired");
  b_str(b, r, "description",
        "INSUFFICIENT_CREDITS: the account is metered and its balance cannot pay one second of "
        "browser time at the service's price; add credits.");
  b_ref(b, b_obj(b, b_obj(b, r, "content"), "application/json"), "schema",
        "#/components/schemas/ErrorEnvelope");
}

static const char *method_name(pb_method m) {
  switch (m) {
    case PB_METHOD_POST:
      return "post";
    case PB_METHOD_DELETE:
      return "delete";
    default: /* a row for any method is documented as what a client does: GET */
      return "get";
  }
}

int pb_openapi_path(const pb_route *rt, char *out, size_t cap) {
  const char *p = rt->pattern;
  const char *first = strstr(p, "{id}");
  if (strchr(p, '*') || (first && strstr(first + 4, "{id}"))) p = pb_route_label(rt);
  if (strchr(p, '*')) return PB_EINVAL;
  size_t n = strlen(p);
  if (n >= cap) return PB_ETOOBIG;
  memcpy(out, p, n + 1);
  return 0;
}

static const char *auth_name(pb_route_auth a) {
  return a == PB_AUTH_NONE ? "none" : a == PB_AUTH_TOKEN ? "token" : "token-or-query";
}

/* The row's operation under its path (the path item is shared by the
 * path's methods), with its summary and auth. NULL on failure (b->rc). */
static cJSON *operation(bld *b, cJSON *paths, const pb_route *rt) {
  char path[256];
  int rc = pb_openapi_path(rt, path, sizeof(path));
  if (rc) {
    if (!b->rc) b->rc = rc;
    return NULL;
  }
  cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, path);
  if (!item) item = b_obj(b, paths, path);
  if (!item) return NULL;
  if (cJSON_GetObjectItemCaseSensitive(item, method_name(rt->method))) {
    if (!b->rc) b->rc = PB_EEXIST; /* two documented rows for one operation */
    return NULL;
  }
  cJSON *op = b_obj(b, item, method_name(rt->method));
  if (!op) return NULL;
  if (rt->summary) b_str(b, op, "summary", rt->summary);
  b_str(b, op, "x-auth", auth_name(rt->auth));
  if (rt->websocket) b_add(b, op, "x-websocket", cJSON_CreateTrue());
  if (rt->auth == PB_AUTH_NONE) b_add(b, op, "security", cJSON_CreateArray());
  if (rt->auth == PB_AUTH_TOKEN_OR_QUERY)
    b_str(b, op, "description",
          "The token may also be given as ?token=, for clients that cannot send a header.");
  /* Every "{name}" of the path is a path parameter. */
  cJSON *params = NULL;
  for (const char *q = strchr(path, '{'); q && !b->rc; q = strchr(q + 1, '{')) {
    const char *close = strchr(q, '}');
    if (!close) break;
    if (!params) {
      params = cJSON_CreateArray();
      b_add(b, op, "parameters", params);
      if (b->rc) return NULL;
    }
    char name[64];
    snprintf(name, sizeof(name), "%.*s", (int)(close - q - 1), q + 1);
    cJSON *p = cJSON_CreateObject();
    if (!p || !cJSON_AddItemToArray(params, p)) {
      cJSON_Delete(p);
      b->rc = PB_ENOMEM;
      return NULL;
    }
    b_str(b, p, "name", name);
    b_str(b, p, "in", "path");
    b_add(b, p, "required", cJSON_CreateTrue());
    b_str(b, b_obj(b, p, "schema"), "type", "string");
  }
  return b->rc ? NULL : op;
}

static void add_route(bld *b, cJSON *paths, const pb_route *rt, const cJSON *schema) {
  cJSON *op = operation(b, paths, rt);
  if (!op) return;
  char opid[96];
  snprintf(opid, sizeof(opid), "%s", rt->schema);
  if (rt->compat == PB_COMPAT_BROWSERLESS) {
    /* One id per path: "browserless_chromium_scrape", "browserless_scrape". */
    snprintf(opid, sizeof(opid), "browserless%s", rt->pattern);
    for (char *c = opid; *c; c++)
      if (*c == '/') *c = '_';
  }
  b_str(b, op, "operationId", opid);
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(schema, "description");
  if (rt->compat == PB_COMPAT_BROWSERLESS) {
    cJSON_DeleteItemFromObjectCaseSensitive(op, "description"); /* said below, ?token= too */
    b_str(b, op, "description",
          "Browserless v2 compatibility: the operation, schema, limits and billing of the "
          "/browser/ route of the same name, in Browserless' shapes. Query: ?token= (or the "
          "Authorization header) and ?timeout= (ms, 0 to 120000); any other parameter is 400 "
          "UNSUPPORTED_OPTION. The viewport defaults to 800x600. /content answers text/html, "
          "/scrape {data, debug} (debugOpts: html, cookies, screenshot). Errors are text/plain, "
          "the code in X-Error-Code.");
  } else if (cJSON_IsString(desc) && !cJSON_GetObjectItemCaseSensitive(op, "description"))
    b_str(b, op, "description", desc->valuestring);

  cJSON *body = b_obj(b, op, "requestBody");
  b_add(b, body, "required", cJSON_CreateTrue());
  char ref[160];
  snprintf(ref, sizeof(ref), "#/components/schemas/%s", rt->schema);
  b_ref(b, b_obj(b, b_obj(b, body, "content"), "application/json"), "schema", ref);

  cJSON *responses = b_obj(b, op, "responses");
  cJSON *ok = b_obj(b, responses, "200");
  b_str(b, ok, "description", rt->ok_description);
  cJSON *used = b_obj(b, b_obj(b, ok, "headers"), "X-Browser-Ms-Used");
  b_str(b, used, "description", "Browser time the job used, in milliseconds.");
  b_str(b, b_obj(b, used, "schema"), "type", "integer");
  cJSON *content = b_obj(b, ok, "content");
  for (const char *const *t = rt->ok_types; *t; t++) {
    cJSON *media = b_obj(b, content, *t);
    if (!strcmp(*t, "application/json") && rt->compat == PB_COMPAT_BROWSERLESS)
      b_str(b, b_obj(b, media, "schema"), "type", "object"); /* {data, debug} */
    else if (!strcmp(*t, "application/json"))
      b_ref(b, media, "schema", "#/components/schemas/SuccessEnvelope");
    else if (!strncmp(*t, "text/", 5))
      b_str(b, b_obj(b, media, "schema"), "type", "string");
    /* Binary bodies (images, PDF) take no schema in OpenAPI 3.1. */
  }
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
    char eref[96];
    snprintf(eref, sizeof(eref), "#/components/responses/%s", errors[i].name);
    b_ref(b, responses, errors[i].status, eref);
  }
  if (rt->kind || rt->bills) b_ref(b, responses, "402", "#/components/responses/PaymentRequired");
}

/* A route that takes a raw body (an upload): its bytes as they are, the
 * file's name in the query. */
static void add_raw_route(bld *b, cJSON *paths, const pb_route *rt) {
  cJSON *op = operation(b, paths, rt);
  if (!op) return;
  cJSON *params = cJSON_GetObjectItemCaseSensitive(op, "parameters");
  if (!params) {
    params = cJSON_CreateArray();
    b_add(b, op, "parameters", params);
  }
  if (b->rc) return;
  cJSON *p = cJSON_CreateObject();
  cJSON_AddItemToArray(params, p);
  b_str(b, p, "name", "name");
  b_str(b, p, "in", "query");
  b_add(b, p, "required", cJSON_CreateTrue());
  b_str(b, b_obj(b, p, "schema"), "type", "string");
  cJSON *body = b_obj(b, op, "requestBody");
  b_add(b, body, "required", cJSON_CreateTrue());
  b_obj(b, b_obj(b, body, "content"), "application/octet-stream");
  cJSON *responses = b_obj(b, op, "responses");
  cJSON *ok = b_obj(b, responses, "200");
  b_str(b, ok, "description", rt->ok_description);
  b_ref(b, b_obj(b, b_obj(b, ok, "content"), "application/json"), "schema",
        "#/components/schemas/SuccessEnvelope");
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
    char eref[96];
    snprintf(eref, sizeof(eref), "#/components/responses/%s", errors[i].name);
    b_ref(b, responses, errors[i].status, eref);
  }
}

/* A route that takes its body whole (MCP's JSON-RPC, http/mcp.c): a
 * JSON-RPC message in, the answer media types of the row out. */
static void add_whole_route(bld *b, cJSON *paths, const pb_route *rt) {
  cJSON *op = operation(b, paths, rt);
  if (!op) return;
  cJSON *body = b_obj(b, op, "requestBody");
  b_add(b, body, "required", cJSON_CreateTrue());
  cJSON *schema = b_obj(b, b_obj(b, b_obj(b, body, "content"), "application/json"), "schema");
  b_str(b, schema, "type", "object");
  b_add(b, schema, "examples",
        cJSON_Parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}]"));
  cJSON *responses = b_obj(b, op, "responses");
  cJSON *ok = b_obj(b, responses, "200");
  b_str(b, ok, "description", rt->ok_description);
  cJSON *content = b_obj(b, ok, "content");
  for (const char *const *t = rt->ok_types; t && *t; t++) b_obj(b, content, *t);
  b_str(b, b_obj(b, responses, "202"), "description", "A notification or response accepted");
  static const char *const st[] = {"400", "401", "403", "404"};
  for (size_t i = 0; i < 4; i++) {
    char eref[96];
    snprintf(eref, sizeof(eref), "#/components/responses/%s",
             i == 0 ? "BadRequest" : i == 1 ? "Unauthorized" : "Forbidden");
    if (i < 3) b_ref(b, responses, st[i], eref);
    else b_str(b, b_obj(b, responses, st[i]), "description", "NOT_FOUND: unknown Mcp-Session-Id");
  }
}

/* A route without a body that has a summary (a read, a cancel, a page):
 * its path parameters and its answer (the JSON envelope unless the row
 * names other media types). */
static void add_plain_route(bld *b, cJSON *paths, const pb_route *rt) {
  cJSON *op = operation(b, paths, rt);
  if (!op) return;
  cJSON *responses = b_obj(b, op, "responses");
  cJSON *ok = b_obj(b, responses, "200");
  b_str(b, ok, "description", rt->ok_description ? rt->ok_description : rt->summary);
  cJSON *content = b_obj(b, ok, "content");
  if (!rt->ok_types) {
    b_ref(b, b_obj(b, content, "application/json"), "schema",
          "#/components/schemas/SuccessEnvelope");
  } else {
    for (const char *const *t = rt->ok_types; *t; t++) {
      cJSON *media = b_obj(b, content, *t);
      if (!strncmp(*t, "text/", 5)) b_str(b, b_obj(b, media, "schema"), "type", "string");
    }
  }
  for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
    char eref[96];
    snprintf(eref, sizeof(eref), "#/components/responses/%s", errors[i].name);
    b_ref(b, responses, errors[i].status, eref);
  }
}

/* Copies every embedded schema into components.schemas under its name. */
static void add_schemas(bld *b, const pb_schemas *s, cJSON *components) {
  cJSON *schemas = cJSON_GetObjectItemCaseSensitive(components, "schemas");
  for (const pb_schema_text *t = pb_schema_texts; t->name && !b->rc; t++) {
    const cJSON *src = pb_schemas_get(s, t->name);
    if (!src) continue;
    if (cJSON_GetObjectItemCaseSensitive(schemas, t->name)) {
      b->rc = PB_EEXIST; /* a schema file named like a fixed component */
      return;
    }
    cJSON *copy = cJSON_Duplicate(src, 1);
    if (!copy) {
      b->rc = PB_ENOMEM;
      return;
    }
    /* Refs now resolve inside this document, so the file identity goes. */
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "$id");
    cJSON_DeleteItemFromObjectCaseSensitive(copy, "$schema");
    int rc = rewrite_schema(copy, t->name);
    if (rc) {
      cJSON_Delete(copy);
      b->rc = rc;
      return;
    }
    b_add(b, schemas, t->name, copy);
  }
}

int pb_openapi_build(const pb_schemas *s, char **json_out) {
  bld b = {0};
  *json_out = NULL;
  if (!s) return PB_EINVAL;
  size_t nroutes;
  const pb_route *routes = pb_routes(&nroutes);
  for (size_t i = 0; i < nroutes; i++)
    if (routes[i].body == PB_BODY_JSON && !pb_schemas_get(s, routes[i].schema))
      return PB_ENOTFOUND;

  cJSON *doc = cJSON_CreateObject();
  if (!doc) return PB_ENOMEM;
  b_str(&b, doc, "openapi", "3.1.0");
  cJSON *info = b_obj(&b, doc, "info");
  b_str(&b, info, "title", "ppod-browser");
  b_str(&b, info, "version", PB_API_VERSION);
  b_str(&b, info, "description",
        "Headless browser automation: quick actions with Puppeteer option names, as Cloudflare "
        "Browser Rendering uses them. Every failure answers "
        "{\"success\":false,\"errors\":[{\"code\":\"...\",\"message\":\"...\"}]}.");
  b_str(&b, doc, "jsonSchemaDialect", "https://json-schema.org/draft/2020-12/schema");
  b_add(&b, doc, "security", cJSON_Parse("[{\"bearerAuth\":[]}]"));

  cJSON *paths = b_obj(&b, doc, "paths");
  cJSON *components = cJSON_Parse(fixed_components);
  b_add(&b, doc, "components", components);
  if (!b.rc) add_schemas(&b, s, components);
  if (!b.rc) add_error_responses(&b, components);
  for (size_t i = 0; i < nroutes && !b.rc; i++)
    if (routes[i].body == PB_BODY_JSON)
      add_route(&b, paths, &routes[i], pb_schemas_get(s, routes[i].schema));
    else if (routes[i].body == PB_BODY_RAW)
      add_raw_route(&b, paths, &routes[i]);
    else if (routes[i].body == PB_BODY_WHOLE)
      add_whole_route(&b, paths, &routes[i]);
    else if (routes[i].summary)
      add_plain_route(&b, paths, &routes[i]);

  if (!b.rc) {
    *json_out = cJSON_PrintUnformatted(doc);
    if (!*json_out) b.rc = PB_ENOMEM;
  }
  cJSON_Delete(doc);
  return b.rc;
}
