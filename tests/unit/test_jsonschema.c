/* Request-body validation against the shipped schemas, the validator's own
 * semantics on small ad-hoc schemas, and the OpenAPI document. */
#include "common/pb.h"
#include "common/schemas_data.h"
#include "http/jsonschema.h"
#include "http/openapi.h"
#include "test.h"

/* Internal to jsonschema.c: loads schemas that are not shipped. */
int pb__schemas_load_texts(const pb_schema_text *texts, pb_schemas **out, char *err,
                           size_t errcap);

static pb_schemas *shipped;
static char err[512];

/* Validates JSON text against a shipped schema; returns the status, message in err. */
static int check_in(const pb_schemas *s, const char *schema, const char *json) {
  cJSON *doc = cJSON_Parse(json);
  ASSERT(doc != NULL);
  memset(err, 'X', sizeof(err));
  int rc = pb_schemas_validate(s, schema, doc, err, sizeof(err));
  ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
  cJSON_Delete(doc);
  return rc;
}

static int check(const char *json) { return check_in(shipped, "screenshot", json); }

#define ASSERT_VALID(json)                                                                    \
  do {                                                                                        \
    int rc_ = check(json);                                                                    \
    if (rc_) fprintf(stderr, "unexpectedly invalid: %s\n  -> %s\n", json, err);               \
    ASSERT_EQ(rc_, 0);                                                                        \
  } while (0)

#define ASSERT_INVALID(json, message)                                                         \
  do {                                                                                        \
    ASSERT_EQ(check(json), PB_EINVAL);                                                        \
    ASSERT_STR_EQ(err, message);                                                              \
  } while (0)

/* A string of n copies of ch, as a JSON document {"key": "..."} plus extra. */
static char *big_string_body(const char *key, size_t n, const char *extra) {
  size_t cap = n + strlen(key) + strlen(extra) + 32;
  char *s = malloc(cap);
  ASSERT(s != NULL);
  int h = snprintf(s, cap, "{\"%s\":\"", key);
  memset(s + h, 'a', n);
  snprintf(s + h + n, cap - (size_t)h - n, "\"%s}", extra);
  return s;
}

/* {"a":{"a":...}} nested `levels` deep, built directly so the depth is not
 * bounded by cJSON's parser. */
static cJSON *nest(int levels) {
  cJSON *inner = cJSON_CreateObject();
  for (int i = 1; i < levels; i++) {
    cJSON *outer = cJSON_CreateObject();
    ASSERT(outer && inner);
    cJSON_AddItemToObject(outer, "a", inner);
    inner = outer;
  }
  return inner;
}

static void test_load(void) {
  ASSERT_EQ(pb_schemas_load(&shipped), 0);
  ASSERT(shipped != NULL);
  ASSERT(pb_schemas_get(shipped, "screenshot") != NULL);
  ASSERT(pb_schemas_get(shipped, "common") != NULL);
  ASSERT(pb_schemas_get(shipped, "nope") == NULL);
  pb_schemas_free(NULL);
}

static void test_valid_bodies(void) {
  ASSERT_VALID("{\"url\":\"https://example.com/\"}");
  ASSERT_VALID("{\"html\":\"<h1>hi</h1>\"}");
  ASSERT_VALID("{\"html\":\"\"}");
  ASSERT_VALID("{\"url\":\"https://example.com/\",\"screenshotOptions\":{}}");
  ASSERT_VALID("{\"url\":\"https://example.com/\","
               "\"viewport\":{\"width\":1,\"height\":16384,\"deviceScaleFactor\":4},"
               "\"gotoOptions\":{\"waitUntil\":\"networkidle0\",\"timeout\":120000},"
               "\"waitForSelector\":{\"selector\":\"#main\",\"visible\":true,\"timeout\":0},"
               "\"waitForTimeout\":500,"
               "\"screenshotOptions\":{\"type\":\"jpeg\",\"quality\":80,\"fullPage\":true,"
               "\"omitBackground\":false,\"optimizeForSpeed\":true,"
               "\"captureBeyondViewport\":true,\"encoding\":\"binary\"},"
               "\"selector\":\"body > div\",\"userAgent\":\"ppod-test/1.0\","
               "\"setExtraHTTPHeaders\":{\"Accept-Language\":\"fr\",\"X-Trace\":\"1\"},"
               "\"cookies\":[{\"name\":\"a\",\"value\":\"b\",\"domain\":\"example.com\","
               "\"path\":\"/\",\"secure\":true,\"httpOnly\":true,\"sameSite\":\"Lax\","
               "\"expires\":1999999999.5}],"
               "\"rejectResourceTypes\":[\"image\",\"Font\",\"cspviolationreport\",\"XHR\"],"
               "\"timeout\":30000}");
  ASSERT_VALID("{\"url\":\"https://example.com/\",\"options\":{\"type\":\"webp\",\"quality\":0}}");
  ASSERT_VALID("{\"url\":\"https://example.com/\","
               "\"screenshotOptions\":{\"clip\":{\"x\":0,\"y\":0,\"width\":0.5,\"height\":10}}}");
  /* An integer written with a fraction part is still an integer. */
  ASSERT_VALID("{\"url\":\"https://example.com/\",\"timeout\":1000.0}");
}

static void test_unknown_fields(void) {
  ASSERT_INVALID("{\"url\":\"https://example.com/\",\"screenshotOptions\":{\"fulPage\":true}}",
                 "screenshotOptions.fulPage: unknown field");
  ASSERT_INVALID("{\"urll\":\"https://example.com/\"}", "urll: unknown field");
  ASSERT_INVALID("{\"url\":\"https://example.com/\",\"screenshotOptions\":{\"clip\":"
                 "{\"x\":0,\"y\":0,\"width\":1,\"height\":1,\"zoom\":2}}}",
                 "screenshotOptions.clip.zoom: unknown field");
  ASSERT_INVALID("{\"url\":\"x\",\"cookies\":[{\"name\":\"a\",\"value\":\"b\"},"
                 "{\"name\":\"a\",\"value\":\"b\",\"priorty\":\"High\"}]}",
                 "cookies[1].priorty: unknown field");
  /* Keys are quoted printable and bounded, whatever the client sends. */
  ASSERT_EQ(check("{\"url\":\"x\",\"bad\\u0001\\nkey\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "bad??key: unknown field");
  size_t n = 5000;
  char *body = malloc(n + 64);
  ASSERT(body != NULL);
  memcpy(body, "{\"url\":\"x\",\"", 12);
  memset(body + 12, 'k', n);
  memcpy(body + 12 + n, "\":1}", 5);
  ASSERT_EQ(check(body), PB_EINVAL);
  ASSERT_CONTAINS(err, "...: unknown field");
  ASSERT(strlen(err) < 100);
  free(body);
}

static void test_wrong_types(void) {
  ASSERT_INVALID("{\"url\":5}", "url: expected string, got number");
  ASSERT_INVALID("{\"url\":null}", "url: expected string, got null");
  ASSERT_INVALID("[]", "(root): expected object, got array");
  ASSERT_INVALID("\"https://example.com/\"", "(root): expected object, got string");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":\"800\",\"height\":600}}",
                 "viewport.width: expected integer, got string");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":800.5,\"height\":600}}",
                 "viewport.width: expected integer, got number");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"fullPage\":\"yes\"}}",
                 "screenshotOptions.fullPage: expected boolean, got string");
  ASSERT_INVALID("{\"url\":\"x\",\"cookies\":{\"name\":\"a\"}}",
                 "cookies: expected array, got object");
  ASSERT_INVALID("{\"url\":\"x\",\"setExtraHTTPHeaders\":{\"X-A\":1}}",
                 "setExtraHTTPHeaders.X-A: expected string, got number");
  /* 1e999 parses as infinity: a number, but not one anybody meant. */
  ASSERT_EQ(check("{\"url\":\"x\",\"timeout\":1e999}"), PB_EINVAL);
  ASSERT_CONTAINS(err, "timeout: ");
}

static void test_ranges(void) {
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":16385,\"height\":600}}",
                 "viewport.width: must be <= 16384");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":0,\"height\":600}}",
                 "viewport.width: must be >= 1");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":10,\"height\":10,"
                 "\"deviceScaleFactor\":0}}",
                 "viewport.deviceScaleFactor: must be > 0");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":10,\"height\":10,"
                 "\"deviceScaleFactor\":4.5}}",
                 "viewport.deviceScaleFactor: must be <= 4");
  ASSERT_INVALID("{\"url\":\"x\",\"viewport\":{\"width\":10}}", "viewport.height: is required");
  ASSERT_INVALID("{\"url\":\"x\",\"timeout\":120001}", "timeout: must be <= 120000");
  ASSERT_INVALID("{\"url\":\"x\",\"gotoOptions\":{\"timeout\":-1}}",
                 "gotoOptions.timeout: must be >= 0");
  ASSERT_INVALID("{\"url\":\"x\",\"waitForTimeout\":200000}", "waitForTimeout: must be <= 120000");
  ASSERT_INVALID("{\"url\":\"x\",\"waitForSelector\":{\"selector\":\"a\",\"timeout\":1e6}}",
                 "waitForSelector.timeout: must be <= 120000");
  ASSERT_INVALID("{\"url\":\"x\",\"waitForSelector\":{\"visible\":true}}",
                 "waitForSelector.selector: is required");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"type\":\"jpeg\",\"quality\":101}}",
                 "screenshotOptions.quality: must be <= 100");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"clip\":"
                 "{\"x\":-1,\"y\":0,\"width\":1,\"height\":1}}}",
                 "screenshotOptions.clip.x: must be >= 0");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"clip\":"
                 "{\"x\":0,\"y\":0,\"width\":0,\"height\":1}}}",
                 "screenshotOptions.clip.width: must be > 0");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"clip\":{\"x\":0,\"y\":0,\"width\":1}}}",
                 "screenshotOptions.clip.height: is required");
  ASSERT_INVALID("{\"url\":\"\"}", "url: must not be empty");
  ASSERT_INVALID("{\"url\":\"x\",\"selector\":\"\"}", "selector: must not be empty");
  ASSERT_INVALID("{\"url\":\"x\",\"cookies\":[{\"value\":\"v\"}]}", "cookies[0].name: is required");

  /* Lengths are counted in characters, not bytes. */
  char *body = big_string_body("url", 8192, "");
  ASSERT_VALID(body);
  free(body);
  body = big_string_body("url", 8193, "");
  ASSERT_INVALID(body, "url: must be at most 8192 characters");
  free(body);
  char euro[8192 * 3 + 32];
  memcpy(euro, "{\"url\":\"", 8);
  for (int i = 0; i < 8192; i++) memcpy(euro + 8 + 3 * i, "\xe2\x82\xac", 3);
  memcpy(euro + 8 + 3 * 8192, "\"}", 3);
  ASSERT_VALID(euro);
  body = big_string_body("html", 5000000, "");
  ASSERT_VALID(body);
  free(body);
  body = big_string_body("html", 5000001, "");
  ASSERT_INVALID(body, "html: must be at most 5000000 characters");
  free(body);
}

static void test_quality_with_png(void) {
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"type\":\"png\",\"quality\":50}}",
                 "screenshotOptions.quality: not allowed when type is png");
  /* png is the default type. */
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"quality\":50}}",
                 "screenshotOptions.quality: not allowed when type is png");
  /* The alias reuses the definition, and the message follows the field. */
  ASSERT_INVALID("{\"url\":\"x\",\"options\":{\"quality\":50}}",
                 "options.quality: not allowed when type is png");
  ASSERT_VALID("{\"url\":\"x\",\"screenshotOptions\":{\"type\":\"jpeg\",\"quality\":50}}");
  ASSERT_VALID("{\"url\":\"x\",\"screenshotOptions\":{\"type\":\"png\"}}");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"fullPage\":true,"
                 "\"clip\":{\"x\":0,\"y\":0,\"width\":1,\"height\":1}}}",
                 "screenshotOptions.clip: not allowed when fullPage is true");
  ASSERT_VALID("{\"url\":\"x\",\"screenshotOptions\":{\"fullPage\":false,"
               "\"clip\":{\"x\":0,\"y\":0,\"width\":1,\"height\":1}}}");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{},\"options\":{}}",
                 "options: not allowed together with screenshotOptions");
}

static void test_url_html(void) {
  ASSERT_INVALID("{\"url\":\"https://example.com/\",\"html\":\"<p>\"}",
                 "(root): exactly one of url, html is required");
  ASSERT_INVALID("{}", "(root): exactly one of url, html is required");
  ASSERT_INVALID("{\"viewport\":{\"width\":100,\"height\":100}}",
                 "(root): exactly one of url, html is required");
  /* A field's own error comes before the url/html rule. */
  ASSERT_INVALID("{\"viewport\":{\"width\":0,\"height\":100}}", "viewport.width: must be >= 1");
}

static void test_enums(void) {
  ASSERT_EQ(check("{\"url\":\"x\",\"gotoOptions\":{\"waitUntil\":\"idle\"}}"), PB_EINVAL);
  ASSERT_CONTAINS(err, "gotoOptions.waitUntil: must be one of ");
  ASSERT_CONTAINS(err, "\"networkidle2\"");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"type\":\"gif\"}}",
                 "screenshotOptions.type: must be one of \"png\", \"jpeg\", \"webp\"");
  ASSERT_INVALID("{\"url\":\"x\",\"screenshotOptions\":{\"encoding\":\"hex\"}}",
                 "screenshotOptions.encoding: must be one of \"binary\", \"base64\"");
  ASSERT_EQ(check("{\"url\":\"x\",\"rejectResourceTypes\":[\"image\",\"IMAGE\"]}"), PB_EINVAL);
  ASSERT_CONTAINS(err, "rejectResourceTypes[1]: must be one of \"Document\"");
  ASSERT_INVALID("{\"url\":\"x\",\"cookies\":[{\"name\":\"a\",\"value\":\"\","
                 "\"sameSite\":\"lax\"}]}",
                 "cookies[0].sameSite: must be one of \"Strict\", \"Lax\", \"None\"");
}

static void test_headers(void) {
  ASSERT_INVALID("{\"url\":\"x\",\"setExtraHTTPHeaders\":{\"Bad Name\":\"v\"}}",
                 "setExtraHTTPHeaders.Bad Name: not a valid HTTP header name");
  ASSERT_INVALID("{\"url\":\"x\",\"setExtraHTTPHeaders\":{\"\":\"v\"}}",
                 "setExtraHTTPHeaders.\"\": not a valid HTTP header name");
  ASSERT_INVALID("{\"url\":\"x\",\"setExtraHTTPHeaders\":{\"X-A\":\"a\\r\\nX-Evil: 1\"}}",
                 "setExtraHTTPHeaders.X-A: must not contain line breaks");
  ASSERT_INVALID("{\"url\":\"x\",\"userAgent\":\"a\\nb\"}",
                 "userAgent: must not contain line breaks");
  ASSERT_INVALID("{\"url\":\"x\",\"userAgent\":\"\"}", "userAgent: must not be empty");
}

/* {"url":"x","<field>":{"a":{"a":...}}} with the bomb under field. */
static int check_bomb(const char *field, int levels) {
  cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "url", "https://example.com/");
  cJSON_AddItemToObject(doc, field, nest(levels));
  int rc = pb_schemas_validate(shipped, "screenshot", doc, err, sizeof(err));
  cJSON_Delete(doc);
  return rc;
}

static void test_depth_bomb(void) {
  ASSERT_EQ(check_bomb("viewport", 1000), PB_EINVAL);
  ASSERT_STR_EQ(err, "viewport.a: unknown field");
  ASSERT_EQ(check_bomb("setExtraHTTPHeaders", 1000), PB_EINVAL);
  ASSERT_STR_EQ(err, "setExtraHTTPHeaders.a: expected string, got object");
  ASSERT_EQ(check_bomb("bomb", 1000), PB_EINVAL);
  ASSERT_STR_EQ(err, "bomb: unknown field");

  /* Through cJSON's parser too: as deep as it accepts. */
  size_t levels = 990, cap = levels * 6 + 64;
  char *text = malloc(cap), *p = text;
  ASSERT(text != NULL);
  p += snprintf(p, cap, "{\"url\":\"x\",\"viewport\":");
  for (size_t i = 0; i < levels; i++) p += snprintf(p, cap - (size_t)(p - text), "{\"a\":");
  p += snprintf(p, cap - (size_t)(p - text), "1");
  for (size_t i = 0; i < levels + 1; i++) *p++ = '}';
  *p = '\0';
  ASSERT_INVALID(text, "viewport.a: unknown field");
  free(text);
}

/* Loads ad-hoc schemas; fails the test if they do not load. */
static pb_schemas *load(const pb_schema_text *texts) {
  pb_schemas *s = NULL;
  char lerr[256];
  int rc = pb__schemas_load_texts(texts, &s, lerr, sizeof(lerr));
  if (rc) fprintf(stderr, "load: %s\n", lerr);
  ASSERT_EQ(rc, 0);
  return s;
}

static void test_recursive_schema_is_bounded(void) {
  const pb_schema_text texts[] = {
      {"tree", "{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"}}"},
      {"loop", "{\"$ref\":\"#/$defs/a\",\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},"
               "\"b\":{\"$ref\":\"#/$defs/a\"}}}"},
      /* Two branches that both recurse: exponential without a step budget. */
      {"fork", "{\"anyOf\":[{\"type\":\"object\",\"required\":[\"zz\"],"
               "\"additionalProperties\":{\"$ref\":\"#\"}},"
               "{\"type\":\"object\",\"additionalProperties\":{\"$ref\":\"#\"},"
               "\"required\":[\"zz\"]}]}"},
      {NULL, NULL}};
  pb_schemas *s = load(texts);

  cJSON *small = nest(10);
  ASSERT_EQ(pb_schemas_validate(s, "tree", small, err, sizeof(err)), 0);
  cJSON_Delete(small);

  cJSON *bomb = nest(1000);
  ASSERT_EQ(pb_schemas_validate(s, "tree", bomb, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "nested too deeply");
  ASSERT_CONTAINS(err, "a.a.a.a");
  cJSON_Delete(bomb);

  cJSON *one = cJSON_CreateNumber(1);
  ASSERT_EQ(pb_schemas_validate(s, "loop", one, err, sizeof(err)), PB_EINVAL);
  ASSERT_STR_EQ(err, "(root): nested too deeply");
  cJSON_Delete(one);

  cJSON *fork = nest(19);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_schemas_validate(s, "fork", fork, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "too complex to validate");
  ASSERT(pb_now_ms() - t0 < 10000);
  cJSON_Delete(fork);
  pb_schemas_free(s);
}

static void test_keywords(void) {
  const pb_schema_text texts[] = {
      {"a", "{\"$ref\":\"b.json#/$defs/small\"}"},
      {"b", "{\"$defs\":{\"small\":{\"type\":\"integer\",\"maximum\":3}}}"},
      {"cond", "{\"type\":\"object\",\"if\":{\"properties\":{\"k\":{\"const\":\"a\"}}},"
               "\"then\":{\"required\":[\"x\"]},\"else\":{\"required\":[\"y\"]}}"},
      {"msg", "{\"type\":\"object\",\"required\":[\"x\"],\"x-message\":\"x is needed here\","
              "\"properties\":{\"v\":{\"type\":\"integer\"}}}"},
      {"misc", "{\"type\":\"object\",\"additionalProperties\":false,"
               "\"dependentRequired\":{\"user\":[\"pass\"]},"
               "\"properties\":{\"user\":{\"type\":\"string\",\"pattern\":\"^[a-z]+$\"},"
               "\"crlf\":{\"pattern\":\"^[^\\r\\n\\t]*$\"},"
               "\"pass\":{\"type\":[\"string\",\"null\"]},"
               "\"list\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":2},"
               "\"either\":{\"anyOf\":[{\"type\":\"boolean\"},{\"const\":0}]},"
               "\"notzero\":{\"not\":{\"const\":0}},"
               "\"one\":{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]},"
               "\"dflt\":{\"default\":7,\"title\":\"t\",\"description\":\"d\",\"examples\":[1]}}}"},
      {NULL, NULL}};
  pb_schemas *s = load(texts);

  ASSERT_EQ(check_in(s, "a", "2"), 0);
  ASSERT_EQ(check_in(s, "a", "4"), PB_EINVAL);
  ASSERT_STR_EQ(err, "(root): must be <= 3");

  ASSERT_EQ(check_in(s, "cond", "{\"k\":\"a\",\"x\":1}"), 0);
  ASSERT_EQ(check_in(s, "cond", "{\"k\":\"a\",\"y\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "x: is required");
  ASSERT_EQ(check_in(s, "cond", "{\"k\":\"b\",\"x\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "y: is required");

  /* x-message rewords this object's failure, not its fields' failures. */
  ASSERT_EQ(check_in(s, "msg", "{}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "(root): x is needed here");
  ASSERT_EQ(check_in(s, "msg", "{\"x\":1,\"v\":\"s\"}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "v: expected integer, got string");

  ASSERT_EQ(check_in(s, "misc", "{\"user\":\"bob\",\"pass\":null,\"list\":[1],"
                                "\"either\":true,\"notzero\":1,\"one\":-1,\"dflt\":\"any\"}"),
            0);
  ASSERT_EQ(check_in(s, "misc", "{\"user\":\"bob\"}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "pass: is required when user is given");
  ASSERT_EQ(check_in(s, "misc", "{\"user\":\"Bob\",\"pass\":\"p\"}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "user: must match pattern ^[a-z]+$");
  ASSERT_EQ(check_in(s, "misc", "{\"crlf\":\"a\\nb\"}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "crlf: must match pattern ^[^\\r\\n\\t]*$");
  ASSERT_EQ(check_in(s, "misc", "{\"pass\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "pass: expected string or null, got number");
  ASSERT_EQ(check_in(s, "misc", "{\"list\":[]}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "list: must have at least 1 items");
  ASSERT_EQ(check_in(s, "misc", "{\"list\":[1,2,3]}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "list: must have at most 2 items");
  ASSERT_EQ(check_in(s, "misc", "{\"either\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "either: does not match any of the allowed forms");
  ASSERT_EQ(check_in(s, "misc", "{\"notzero\":0}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "notzero: not allowed");
  ASSERT_EQ(check_in(s, "misc", "{\"one\":1}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "one: matches more than one of the exclusive forms");
  ASSERT_EQ(check_in(s, "misc", "{\"one\":-0.5}"), PB_EINVAL);
  ASSERT_STR_EQ(err, "one: does not match any of the allowed forms");
  pb_schemas_free(s);
}

static void test_bad_schemas_fail_to_load(void) {
  static const struct {
    const char *text, *why;
  } cases[] = {
      {"{\"type\":\"integer\",\"maximun\":3}", "maximun: unsupported keyword"},
      {"{\"$ref\":\"#/$defs/nope\"}", "leads nowhere"},
      {"{\"$ref\":\"other.json#/$defs/x\"}", "leads nowhere"},
      {"{\"type\":\"string\",\"pattern\":\"(\"}", "pattern"},
      {"{\"type\":\"strin\"}", "type: unknown type"},
      {"{\"properties\":{\"a\":{\"minLength\":-1}}}", "minLength"},
      {"{\"allOf\":[]}", "allOf"},
      {"{\"type\":", "not valid JSON"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    pb_schema_text texts[] = {{"bad", cases[i].text}, {NULL, NULL}};
    pb_schemas *s = (pb_schemas *)1;
    char lerr[256];
    ASSERT_EQ(pb__schemas_load_texts(texts, &s, lerr, sizeof(lerr)), PB_EINVAL);
    ASSERT(s == NULL);
    ASSERT_CONTAINS(lerr, "schema bad: ");
    ASSERT_CONTAINS(lerr, cases[i].why);
  }
}

static void test_api_edges(void) {
  cJSON *doc = cJSON_Parse("{\"url\":\"x\"}");
  ASSERT_EQ(pb_schemas_validate(shipped, "nope", doc, err, sizeof(err)), PB_ENOTFOUND);
  ASSERT_CONTAINS(err, "nope");
  ASSERT_EQ(pb_schemas_validate(shipped, "screenshot", NULL, err, sizeof(err)), PB_EINVAL);
  /* A tiny buffer still gets a terminated (cut) message. */
  char tiny[8];
  cJSON_AddNumberToObject(doc, "timeout", -5);
  ASSERT_EQ(pb_schemas_validate(shipped, "screenshot", doc, tiny, sizeof(tiny)), PB_EINVAL);
  ASSERT_STR_EQ(tiny, "timeout");
  ASSERT_EQ(pb_schemas_validate(shipped, "screenshot", doc, NULL, 0), PB_EINVAL);
  cJSON_Delete(doc);
}

/* Every "$ref" in the document points at something inside it. */
static void assert_refs_resolve(const cJSON *root, const cJSON *node) {
  const cJSON *it;
  cJSON_ArrayForEach(it, node) {
    if (it->string && !strcmp(it->string, "$ref") && cJSON_IsString(it)) {
      const char *ref = it->valuestring;
      ASSERT(ref[0] == '#');
      const cJSON *cur = root;
      char seg[128];
      for (const char *p = ref + 1; *p == '/';) {
        size_t n = strcspn(p + 1, "/");
        ASSERT(n < sizeof(seg));
        memcpy(seg, p + 1, n);
        seg[n] = '\0';
        cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
        if (!cur) fprintf(stderr, "dangling $ref %s\n", ref);
        ASSERT(cur != NULL);
        p += n + 1;
      }
    }
    if (cJSON_IsObject(it) || cJSON_IsArray(it)) assert_refs_resolve(root, it);
  }
}

static void test_openapi(void) {
  char *json = NULL;
  ASSERT_EQ(pb_openapi_build(shipped, &json), 0);
  ASSERT(json != NULL);
  ASSERT_CONTAINS(json, "/browser/screenshot");
  ASSERT(strstr(json, "\"$ref\":\"common.json") == NULL);
  cJSON *doc = cJSON_Parse(json);
  ASSERT(doc != NULL);
  ASSERT_STR_EQ(cJSON_GetObjectItem(doc, "openapi")->valuestring, "3.1.0");
  cJSON *paths = cJSON_GetObjectItem(doc, "paths");
  cJSON *op = cJSON_GetObjectItem(cJSON_GetObjectItem(paths, "/browser/screenshot"), "post");
  ASSERT(op != NULL);
  cJSON *body = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
      cJSON_GetObjectItem(op, "requestBody"), "content"), "application/json"), "schema");
  ASSERT_STR_EQ(cJSON_GetObjectItem(body, "$ref")->valuestring, "#/components/schemas/screenshot");
  cJSON *responses = cJSON_GetObjectItem(op, "responses");
  cJSON *ok = cJSON_GetObjectItem(cJSON_GetObjectItem(responses, "200"), "content");
  ASSERT(cJSON_GetObjectItem(ok, "image/png") && cJSON_GetObjectItem(ok, "image/jpeg") &&
         cJSON_GetObjectItem(ok, "image/webp"));
  static const char *const statuses[] = {"400", "401", "403", "408", "413",
                                         "422", "429", "502", "503"};
  for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
    ASSERT(cJSON_GetObjectItem(responses, statuses[i]) != NULL);
  cJSON *schemas = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "components"), "schemas");
  cJSON *viewport = cJSON_GetObjectItem(
      cJSON_GetObjectItem(cJSON_GetObjectItem(schemas, "screenshot"), "properties"), "viewport");
  ASSERT_STR_EQ(cJSON_GetObjectItem(viewport, "$ref")->valuestring,
                "#/components/schemas/common/$defs/viewport");
  ASSERT_CONTAINS(json, "\"ErrorEnvelope\"");
  assert_refs_resolve(doc, doc);
  cJSON_Delete(doc);
  free(json);

  /* A route whose schema is missing is an error, not a hole in the document. */
  const pb_schema_text texts[] = {{"other", "{}"}, {NULL, NULL}};
  pb_schemas *s = load(texts);
  json = (char *)1;
  ASSERT_EQ(pb_openapi_build(s, &json), PB_ENOTFOUND);
  ASSERT(json == NULL);
  pb_schemas_free(s);
}


/* A tenant's schema (POST /browser/json): what we do not know is an
 * annotation, what we know must be well formed, its $refs stay inside it,
 * its patterns and recursion are bounded, and errors name the field. */
static void tenant_check(const char *schema, const char *doc, int want, const char *msg) {
  cJSON *s = cJSON_Parse(schema), *d = cJSON_Parse(doc);
  ASSERT(s != NULL && d != NULL);
  char err[256];
  ASSERT_EQ(pb_schema_validate_tenant(s, d, err, sizeof(err)), want);
  if (msg) ASSERT_CONTAINS(err, msg);
  cJSON_Delete(s);
  cJSON_Delete(d);
}

static void test_tenant_schema(void) {
  const char *prod = "{\"type\":\"object\",\"name\":\"product\",\"strict\":true,"
                     "\"properties\":{\"price\":{\"type\":\"number\",\"x-selector\":\".p\"},"
                     "\"tags\":{\"type\":\"array\",\"maxItems\":2,\"items\":{\"type\":\"string\"}}},"
                     "\"required\":[\"price\"]}";
  tenant_check(prod, "{\"price\":12.5,\"tags\":[\"a\"]}", 0, NULL);
  tenant_check(prod, "{\"price\":\"12\"}", PB_EINVAL, "price: expected number, got string");
  tenant_check(prod, "{}", PB_EINVAL, "price: is required");
  tenant_check(prod, "{\"price\":1,\"tags\":[\"a\",\"b\",\"c\"]}", PB_EINVAL, "tags: must have at most 2 items");
  /* the schema's own faults are said as such */
  tenant_check("{\"type\":\"wat\"}", "1", PB_EINVAL, "schema: type: unknown type");
  tenant_check("{\"properties\":{\"a\":\"string\"}}", "{}", PB_EINVAL, "schema:");
  tenant_check("{\"pattern\":\"(\"}", "\"x\"", PB_EINVAL, "schema: pattern");
  /* refs reach only into the tenant's schema, never ours */
  tenant_check("{\"$ref\":\"common.json#/$defs/url\"}", "\"x\"", PB_EINVAL, "schema:");
  tenant_check("{\"$defs\":{\"n\":{\"type\":\"integer\"}},\"$ref\":\"#/$defs/n\"}", "1.5", PB_EINVAL,
               "expected integer");
  /* a schema that refers to itself forever fails, bounded */
  tenant_check("{\"$ref\":\"#\"}", "1", PB_EINVAL, "nested too deeply");
  /* a catastrophic pattern against a long string gives up: invalid, not stuck */
  char doc[6000];
  doc[0] = '"';
  memset(doc + 1, 'a', 5000);
  memcpy(doc + 5001, "!\"", 3);
  tenant_check("{\"pattern\":\"^(a+)+$\"}", doc, PB_EINVAL, "must match pattern");
}

int main(void) {
  RUN(test_load);
  RUN(test_valid_bodies);
  RUN(test_unknown_fields);
  RUN(test_wrong_types);
  RUN(test_ranges);
  RUN(test_quality_with_png);
  RUN(test_url_html);
  RUN(test_enums);
  RUN(test_headers);
  RUN(test_depth_bomb);
  RUN(test_recursive_schema_is_bounded);
  RUN(test_keywords);
  RUN(test_bad_schemas_fail_to_load);
  RUN(test_api_edges);
  RUN(test_openapi);
  RUN(test_tenant_schema);
  pb_schemas_free(shipped);
  DONE();
}
