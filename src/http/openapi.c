/* GET /openapi.json: an OpenAPI 3.1 document around the embedded schemas.
 * Its paths are the route table's rows that take a JSON body (http/routes.c,
 * with their summaries); everything else (error responses, envelopes, auth)
 * is shared. */
#include "http/openapi.h"

#include "common/pb.h"
#include "common/schemas_data.h"
#include "http/routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_OPENAPI_VERSION "0.1.0" /* of the HTTP API, not of OpenAPI */

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
    case PB_METHOD_GET:
      return "get";
    case PB_METHOD_DELETE:
      return "delete";
    default:
      return "post";
  }
}

static void add_route(bld *b, cJSON *paths, const pb_route *rt, const cJSON *schema) {
  cJSON *op = b_obj(b, b_obj(b, paths, rt->pattern), method_name(rt->method));
  b_str(b, op, "operationId", rt->schema);
  b_str(b, op, "summary", rt->summary);
  const cJSON *desc = cJSON_GetObjectItemCaseSensitive(schema, "description");
  if (cJSON_IsString(desc)) b_str(b, op, "description", desc->valuestring);

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
    if (!strcmp(*t, "application/json"))
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
  cJSON *op = b_obj(b, b_obj(b, paths, rt->pattern), method_name(rt->method));
  b_str(b, op, "summary", rt->summary);
  cJSON *params = cJSON_CreateArray();
  b_add(b, op, "parameters", params);
  static const char *const names[] = {"id", "name"};
  for (int i = 0; i < 2 && !b->rc; i++) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToArray(params, p);
    b_str(b, p, "name", names[i]);
    b_str(b, p, "in", i ? "query" : "path");
    b_add(b, p, "required", cJSON_CreateTrue());
    b_str(b, b_obj(b, p, "schema"), "type", "string");
  }
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
  cJSON *op = b_obj(b, b_obj(b, paths, rt->pattern), method_name(rt->method));
  b_str(b, op, "summary", rt->summary);
  cJSON *body = b_obj(b, op, "requestBody");
  b_add(b, body, "required", cJSON_CreateTrue());
  b_str(b, b_obj(b, b_obj(b, b_obj(b, body, "content"), "application/json"), "schema"), "type",
        "object");
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

/* A job route without a body that has a summary (a read or a cancel of a
 * resource named in the path): its {id} parameter and JSON answer. */
static void add_plain_route(bld *b, cJSON *paths, const pb_route *rt) {
  /* A path may have several methods: one item per path. */
  cJSON *item = cJSON_GetObjectItemCaseSensitive(paths, rt->pattern);
  cJSON *op = b_obj(b, item ? item : b_obj(b, paths, rt->pattern), method_name(rt->method));
  b_str(b, op, "summary", rt->summary);
  if (strstr(rt->pattern, "{id}")) {
    cJSON *params = cJSON_CreateArray();
    b_add(b, op, "parameters", params);
    cJSON *p = cJSON_CreateObject();
    cJSON_AddItemToArray(params, p);
    b_str(b, p, "name", "id");
    b_str(b, p, "in", "path");
    b_add(b, p, "required", cJSON_CreateTrue());
    b_str(b, b_obj(b, p, "schema"), "type", "string");
  }
  cJSON *responses = b_obj(b, op, "responses");
  cJSON *ok = b_obj(b, responses, "200");
  b_str(b, ok, "description", rt->summary);
  b_ref(b, b_obj(b, b_obj(b, ok, "content"), "application/json"), "schema",
        "#/components/schemas/SuccessEnvelope");
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
  b_str(&b, info, "version", PB_OPENAPI_VERSION);
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
    else if (routes[i].op && routes[i].summary)
      add_plain_route(&b, paths, &routes[i]);

  if (!b.rc) {
    *json_out = cJSON_PrintUnformatted(doc);
    if (!*json_out) b.rc = PB_ENOMEM;
  }
  cJSON_Delete(doc);
  return b.rc;
}
