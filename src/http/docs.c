/* GET / (the API index) and GET /docs (the API reference page).
 *
 * The page is rendered once, at start, from the OpenAPI document the server
 * already built from the route table (http/openapi.c): every operation of
 * its paths with method, path, summary, auth, the request body's fields
 * (name, type, default, description: followed through $ref and
 * x-include-properties), the answer, and two examples, a curl line built
 * from the operation (its body example from the schema's "examples") and
 * the `ppod` line of the table below. Self-contained: inline CSS and a few
 * lines of script for the filter, both allowed by hash in a strict CSP;
 * nothing is loaded from anywhere, and it reads fine without script. Every
 * string taken from the document is HTML-escaped. */
#include "http/docs.h"

#include "common/hash.h"
#include "common/pb.h"
#include "http/internal.h"
#include "http/openapi.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Fields listed per operation at most, and how deep nested objects go. */
#define DOCS_MAX_FIELDS 400
#define DOCS_MAX_DEPTH 3
#define DOCS_DEFAULT_MAX 80 /* bytes of a default value shown */

const pb_docs_cli pb_docs_cli_table[] = {
    {"get", "/", "ppod status"},
    {"get", "/account", "ppod status"},
    {"get", "/account", "ppod balance"},
    {"post", "/browser/screenshot", "ppod browser:screenshot https://example.com/ -o shot.png"},
    {"post", "/browser/pdf", "ppod browser:pdf https://example.com/ -o page.pdf"},
    {"post", "/browser/content", "ppod browser:content https://example.com/"},
    {"post", "/browser/scrape", "ppod browser:scrape https://example.com/ h1"},
    {"post", "/browser/links", "ppod browser:links https://example.com/"},
    {"post", "/browser/markdown", "ppod browser:markdown https://example.com/"},
    {"post", "/browser/test", "ppod browser:test https://example.com/ --file test.json"},
    {"post", "/browser/acquire", "ppod browser:acquire --keep-alive 60000"},
    {"get", "/browser/sessions", "ppod browser:sessions"},
    {"get", "/browser/history", "ppod browser:history"},
    {"get", "/browser/limits", "ppod browser:limits"},
    {"get", "/browser/usage", "ppod browser:usage"},
    {"get", "/browser/traces/{id}", "ppod browser:screenshot https://example.com/ --trace t.zip"},
    {"delete", "/browser/sessions/{id}", "ppod browser:release ID"},
    {"get", "/browser/sessions/{id}", "ppod browser:connect ID --print"},
    {"get", "/browser/sessions/{id}/devtools/browser", "ppod browser:connect ID"},
    {"post", "/browser/sessions/{id}/files", "ppod browser:upload ID report.pdf"},
    {"get", "/browser/sessions/{id}/downloads", "ppod browser:downloads ID"},
    {"get", "/browser/sessions/{id}/downloads/{did}", "ppod browser:downloads ID -o DIR"},
    {"post", "/browser/sessions/{id}/live", "ppod browser:live ID"},
    {"get", "/browser/sessions/{id}/recording", "ppod browser:recording ID"},
    {"post", "/browser/sessions/{id}/handoff",
     "ppod browser:handoff ID --message 'Solve the captcha' --wait"},
    {"get", "/browser/contexts", "ppod browser:contexts"},
    {"post", "/browser/contexts", "ppod browser:contexts create NAME"},
    {"get", "/browser/contexts/{id}", "ppod browser:contexts get ID"},
    {"delete", "/browser/contexts/{id}", "ppod browser:contexts delete ID"},
    {"post", "/mcp", "ppod mcp"},
    {"post", "/browser/crawl", "ppod browser:crawl https://example.com/ -o DIR"},
    {NULL, NULL, NULL},
};

static const char page_style[] =
    "body{font:15px/1.5 system-ui,sans-serif;margin:0;color:#1d2330;background:#fafbfc}"
    "header,main{max-width:960px;margin:0 auto;padding:0 20px}"
    "header{padding-top:24px}h1 small{font-size:60%;color:#667}"
    "code,pre{font:13px/1.45 ui-monospace,monospace}"
    "pre{background:#1d2330;color:#e8ecf3;padding:10px 12px;border-radius:6px;overflow-x:auto;"
    "white-space:pre-wrap;word-break:break-all}"
    "nav ul{columns:2;padding:0;list-style:none}nav li{break-inside:avoid;margin:2px 0}"
    "section.op{border-top:1px solid #dde1e8;padding:8px 0 16px}"
    "h2{font-size:18px}h3{font-size:14px;margin:14px 0 4px;color:#445}"
    ".m{display:inline-block;min-width:58px;text-align:center;border-radius:4px;color:#fff;"
    "font-size:12px;padding:1px 6px;margin-right:6px;background:#556}"
    ".m.get{background:#2f7d4f}.m.post{background:#2857a4}.m.delete{background:#a83232}"
    "table{border-collapse:collapse;width:100%;font-size:13px}"
    "th,td{text-align:left;vertical-align:top;border-bottom:1px solid #e4e7ec;padding:3px 6px}"
    "td.f{white-space:nowrap}td code{word-break:break-all}td:nth-child(4){width:45%}"
    ".req{color:#a83232}.auth{color:#556}"
    "input[type=search]{font:inherit;padding:6px 8px;width:100%;max-width:420px;margin:8px 0}";

static const char page_script[] =
    "(function(){var o=document.getElementById('origin');if(o)o.textContent=location.origin;"
    "var f=document.getElementById('filter');f.hidden=false;"
    "f.addEventListener('input',function(){var q=f.value.toLowerCase();"
    "document.querySelectorAll('[data-search]').forEach(function(e){"
    "e.hidden=!!q&&e.getAttribute('data-search').indexOf(q)<0;});});})();";

/* ---- output helpers --------------------------------------------------- */

typedef struct {
  pb_buf out;
  int rc; /* first failure */
  const cJSON *doc;
  int nest;  /* fields() calls open now */
  int calls; /* fields() calls for this operation */
} page;

static void put(page *p, const char *s) {
  if (!p->rc) p->rc = pb_buf_append(&p->out, s, strlen(s));
}

static void putf(page *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(page *p, const char *fmt, ...) {
  if (p->rc) return;
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(tmp)) {
    p->rc = PB_ETOOBIG;
    return;
  }
  p->rc = pb_buf_append(&p->out, tmp, (size_t)n);
}

/* s, HTML-escaped (text and attribute values alike); NULL is "". */
static void esc_n(page *p, const char *s, size_t n) {
  if (s && !p->rc) p->rc = pb_buf_escape_markup(&p->out, s, n);
}

static void esc(page *p, const char *s) {
  if (s) esc_n(p, s, strlen(s));
}

/* s lowercased and escaped (for data-search). */
static void esc_lower(page *p, const char *s) {
  char tmp[512];
  size_t n = 0;
  for (; s && s[n] && n + 1 < sizeof(tmp); n++) tmp[n] = (char)tolower((unsigned char)s[n]);
  tmp[n] = '\0';
  esc(p, tmp);
}

/* ---- the document ----------------------------------------------------- */

static const char *str_of(const cJSON *o, const char *key) {
  return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* A JSON pointer ("/components/schemas/x") from the document's root. */
static const cJSON *pointer(const cJSON *root, const char *ptr) {
  const cJSON *cur = root;
  while (cur && *ptr == '/') {
    ptr++;
    char seg[128];
    size_t n = 0;
    while (*ptr && *ptr != '/' && n + 1 < sizeof(seg)) {
      if (ptr[0] == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
        seg[n++] = ptr[1] == '0' ? '~' : '/';
        ptr += 2;
      } else {
        seg[n++] = *ptr++;
      }
    }
    seg[n] = '\0';
    if (*ptr && *ptr != '/') return NULL; /* a segment longer than any we use */
    cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
  }
  return *ptr ? NULL : cur;
}

/* A reference as the document has them: "#/components/...", or the
 * schema files' own "common.json#/$defs/x" (x-include-properties keeps
 * that form), which lives at #/components/schemas/common/$defs/x. */
static const cJSON *resolve(const cJSON *doc, const char *ref) {
  if (!ref) return NULL;
  if (ref[0] == '#') return pointer(doc, ref + 1);
  const char *hash = strchr(ref, '#');
  size_t n = hash ? (size_t)(hash - ref) : strlen(ref);
  if (n > 5 && !memcmp(ref + n - 5, ".json", 5)) n -= 5;
  char name[128];
  if (n == 0 || n >= sizeof(name)) return NULL;
  memcpy(name, ref, n);
  name[n] = '\0';
  const cJSON *schemas = pointer(doc, "/components/schemas");
  const cJSON *base = cJSON_GetObjectItemCaseSensitive(schemas, name);
  return hash ? pointer(base, hash + 1) : base;
}

/* Follows $ref (a few hops at most: a cycle ends there). */
static const cJSON *deref(const cJSON *doc, const cJSON *s) {
  for (int i = 0; i < 8 && s; i++) {
    const char *ref = str_of(s, "$ref");
    if (!ref) return s;
    s = resolve(doc, ref);
  }
  return s;
}

/* A schema's type for a reader: "string", "integer", "a | b" for an enum,
 * "array of object". */
static void type_of(page *p, const cJSON *doc, const cJSON *s) {
  s = deref(doc, s);
  const cJSON *en = cJSON_GetObjectItemCaseSensitive(s, "enum");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "type");
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "const");
  if (cJSON_IsArray(en)) {
    int first = 1, shown = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, en) {
      if (shown++ == 12) {
        put(p, " | ...");
        break;
      }
      char *j = cJSON_PrintUnformatted(v);
      if (!first) put(p, " | ");
      esc(p, j && j[0] == '"' ? cJSON_GetStringValue(v) : j);
      free(j);
      first = 0;
    }
    return;
  }
  if (c) {
    char *j = cJSON_PrintUnformatted(c);
    put(p, "const ");
    esc(p, j);
    free(j);
    return;
  }
  if (cJSON_IsString(t)) {
    esc(p, t->valuestring);
    if (!strcmp(t->valuestring, "array")) {
      const cJSON *items = deref(doc, cJSON_GetObjectItemCaseSensitive(s, "items"));
      const cJSON *it = cJSON_GetObjectItemCaseSensitive(items, "type");
      if (cJSON_IsString(it)) {
        put(p, " of ");
        esc(p, it->valuestring);
      }
    }
  } else if (cJSON_IsArray(t)) {
    const cJSON *v;
    int first = 1;
    cJSON_ArrayForEach(v, t) {
      if (!first) put(p, " | ");
      esc(p, cJSON_GetStringValue(v));
      first = 0;
    }
  } else if (cJSON_GetObjectItemCaseSensitive(s, "oneOf") ||
             cJSON_GetObjectItemCaseSensitive(s, "anyOf")) {
    put(p, "one of several");
  } else {
    put(p, "any");
  }
}

static int required_in(const cJSON *s, const char *name) {
  const cJSON *v;
  cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(s, "required")) {
    if (cJSON_IsString(v) && !strcmp(v->valuestring, name)) return 1;
  }
  return 0;
}

static void fields(page *p, const cJSON *s, const char *prefix, int depth, int *rows);

/* One property's row, then its own fields when it is an object. */
static void field_row(page *p, const cJSON *owner, const char *name, const cJSON *sub,
                      const char *prefix, int depth, int *rows) {
  if (p->rc || (*rows)++ >= DOCS_MAX_FIELDS) return;
  const cJSON *t = deref(p->doc, sub);
  const char *desc = str_of(sub, "description");
  if (!desc) desc = str_of(t, "description");
  const cJSON *def = cJSON_GetObjectItemCaseSensitive(sub, "default");
  if (!def) def = cJSON_GetObjectItemCaseSensitive(t, "default");
  put(p, "<tr><td class=\"f\"><code>");
  esc(p, prefix);
  esc(p, name);
  put(p, "</code>");
  if (required_in(owner, name)) put(p, " <span class=\"req\">required</span>");
  put(p, "</td><td>");
  type_of(p, p->doc, sub);
  put(p, "</td><td>");
  if (def) {
    char *j = cJSON_PrintUnformatted(def);
    if (j) {
      size_t n = strlen(j);
      put(p, "<code>");
      esc_n(p, j, n > DOCS_DEFAULT_MAX ? DOCS_DEFAULT_MAX : n);
      if (n > DOCS_DEFAULT_MAX) put(p, "...");
      put(p, "</code>");
    }
    free(j);
  }
  put(p, "</td><td>");
  esc(p, desc);
  put(p, "</td></tr>\n");
  if (depth + 1 >= DOCS_MAX_DEPTH || !t) return;
  char sub_prefix[256];
  const char *type = str_of(t, "type");
  if (type && !strcmp(type, "array")) {
    const cJSON *items = deref(p->doc, cJSON_GetObjectItemCaseSensitive(t, "items"));
    snprintf(sub_prefix, sizeof(sub_prefix), "%s%s[].", prefix, name);
    if (items) fields(p, items, sub_prefix, depth + 1, rows);
  } else {
    snprintf(sub_prefix, sizeof(sub_prefix), "%s%s.", prefix, name);
    fields(p, t, sub_prefix, depth + 1, rows);
  }
}

/* The fields of an object schema: its x-include-properties, the
 * properties of its allOf parts, its own properties. */
static void fields(page *p, const cJSON *s, const char *prefix, int depth, int *rows) {
  s = deref(p->doc, s);
  /* A schema that includes itself (x-include-properties, allOf) ends here. */
  if (!s || p->rc || p->nest >= 16 || ++p->calls > 4 * DOCS_MAX_FIELDS) return;
  p->nest++;
  const char *inc = str_of(s, "x-include-properties");
  if (inc) fields(p, resolve(p->doc, inc), prefix, depth, rows);
  const cJSON *part;
  cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(s, "allOf")) {
    const cJSON *ps = deref(p->doc, part);
    if (cJSON_GetObjectItemCaseSensitive(ps, "properties")) fields(p, ps, prefix, depth, rows);
  }
  const cJSON *prop;
  cJSON_ArrayForEach(prop, cJSON_GetObjectItemCaseSensitive(s, "properties")) {
    /* A property an if/then forbids is not one a client sends. */
    if (cJSON_GetObjectItemCaseSensitive(prop, "not")) continue;
    field_row(p, s, prop->string, prop, prefix, depth, rows);
  }
  p->nest--;
}

/* ---- examples --------------------------------------------------------- */

/* path with each "{name}" as NAME (a placeholder a shell leaves alone). */
static void path_placeholders(const char *path, char *out, size_t cap) {
  size_t n = 0;
  int in_param = 0;
  for (const char *s = path; *s && n + 1 < cap; s++) {
    if (*s == '{' || *s == '}') {
      in_param = *s == '{';
      continue;
    }
    out[n++] = in_param ? (char)toupper((unsigned char)*s) : *s;
  }
  out[n] = '\0';
}

/* The answer's file name when it is not text (curl -o). */
static const char *binary_ext(const cJSON *content) {
  static const char *const map[][2] = {
      {"image/png", "png"}, {"application/pdf", "pdf"}, {"application/zip", "zip"}};
  if (cJSON_GetObjectItemCaseSensitive(content, "application/json")) return NULL;
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (cJSON_GetObjectItemCaseSensitive(content, map[i][0])) return map[i][1];
  return NULL;
}

/* text with each ' as '\'' (inside a single-quoted shell word). */
static void shell_quoted(page *p, const char *text) {
  put(p, "'");
  for (const char *s = text; *s && !p->rc; s++) {
    if (*s == '\'')
      put(p, "'\\''");
    else
      esc_n(p, s, 1);
  }
  put(p, "'");
}

static void curl_example(page *p, const char *method, const char *path, const cJSON *op) {
  char upath[256];
  path_placeholders(path, upath, sizeof(upath));
  const char *auth = str_of(op, "x-auth");
  const cJSON *body = cJSON_GetObjectItemCaseSensitive(op, "requestBody");
  const cJSON *bcontent = cJSON_GetObjectItemCaseSensitive(body, "content");
  const cJSON *ok_content =
      pointer(cJSON_GetObjectItemCaseSensitive(op, "responses"), "/200/content");
  put(p, "<pre class=\"curl\"><code>curl ");
  if (strcmp(method, "get")) {
    put(p, "-X ");
    for (const char *m = method; *m; m++) putf(p, "%c", toupper((unsigned char)*m));
    put(p, " ");
  }
  put(p, "\"$PAPERPOD_URL");
  esc(p, upath);
  /* Required query parameters, as NAME placeholders. */
  const cJSON *prm;
  char sep = '?';
  cJSON_ArrayForEach(prm, cJSON_GetObjectItemCaseSensitive(op, "parameters")) {
    const char *in = str_of(prm, "in"), *name = str_of(prm, "name");
    if (!in || !name || strcmp(in, "query") ||
        !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(prm, "required")))
      continue;
    putf(p, "%c", sep);
    esc(p, name);
    put(p, "=FILE");
    sep = '&';
  }
  put(p, "\"");
  if (auth && strcmp(auth, "none")) put(p, " \\\n  -H \"Authorization: Bearer $PAPERPOD_TOKEN\"");
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(op, "x-websocket")))
    put(p,
        " \\\n  --http1.1 -i -N -H \"Connection: Upgrade\" -H \"Upgrade: websocket\""
        " \\\n  -H \"Sec-WebSocket-Version: 13\" -H \"Sec-WebSocket-Key: "
        "dGhlIHNhbXBsZSBub25jZQ==\"");
  if (cJSON_GetObjectItemCaseSensitive(ok_content, "text/event-stream"))
    put(p, " \\\n  -H \"Accept: application/json, text/event-stream\"");
  const cJSON *json = cJSON_GetObjectItemCaseSensitive(bcontent, "application/json");
  if (json) {
    const cJSON *schema = deref(p->doc, cJSON_GetObjectItemCaseSensitive(json, "schema"));
    const cJSON *ex = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(schema, "examples"), 0);
    char *text = ex ? cJSON_PrintUnformatted(ex) : NULL;
    put(p, " \\\n  -H \"Content-Type: application/json\" -d ");
    shell_quoted(p, text ? text : "{}");
    free(text);
  } else if (cJSON_GetObjectItemCaseSensitive(bcontent, "application/octet-stream")) {
    put(p, " \\\n  --data-binary @FILE");
  }
  const char *ext = binary_ext(ok_content);
  if (ext) putf(p, " -o out.%s", ext);
  put(p, "</code></pre>\n");
}

static void ppod_examples(page *p, const char *method, const char *path) {
  for (const pb_docs_cli *c = pb_docs_cli_table; c->path; c++) {
    if (strcmp(c->method, method) || strcmp(c->path, path)) continue;
    put(p, "<pre class=\"ppod\"><code>");
    esc(p, c->ppod);
    put(p, "</code></pre>\n");
  }
}

/* ---- the page --------------------------------------------------------- */

static void anchor(char *out, size_t cap, const char *method, const char *path) {
  size_t n = (size_t)snprintf(out, cap, "%s", method);
  for (const char *s = path; *s && n + 1 < cap; s++)
    out[n++] = isalnum((unsigned char)*s) ? (char)tolower((unsigned char)*s) : '-';
  out[n < cap ? n : cap - 1] = '\0';
}

static const char *const methods[] = {"get", "post", "delete", "put", "patch", NULL};

static void operation(page *p, const char *path, const char *method, const cJSON *op) {
  char id[300];
  anchor(id, sizeof(id), method, path);
  const char *summary = str_of(op, "summary");
  const char *auth = str_of(op, "x-auth");
  put(p, "<section class=\"op\" id=\"");
  esc(p, id);
  put(p, "\" data-route=\"");
  for (const char *m = method; *m; m++) putf(p, "%c", toupper((unsigned char)*m));
  put(p, " ");
  esc(p, path);
  put(p, "\" data-search=\"");
  esc(p, method);
  put(p, " ");
  esc_lower(p, path);
  put(p, " ");
  esc_lower(p, summary);
  put(p, "\">\n<h2><span class=\"m ");
  esc(p, method);
  put(p, "\">");
  for (const char *m = method; *m; m++) putf(p, "%c", toupper((unsigned char)*m));
  put(p, "</span><code class=\"path\">");
  esc(p, path);
  put(p, "</code></h2>\n<p class=\"sum\">");
  esc(p, summary);
  put(p, "</p>\n<p class=\"auth\">Auth: ");
  if (!auth || !strcmp(auth, "none"))
    put(p, "none");
  else if (!strcmp(auth, "token"))
    put(p, "token (<code>Authorization: Bearer TOKEN</code>)");
  else
    put(p, "token (<code>Authorization: Bearer TOKEN</code> or <code>?token=</code>)");
  put(p, "</p>\n");
  const char *desc = str_of(op, "description");
  if (desc) {
    put(p, "<p>");
    esc(p, desc);
    put(p, "</p>\n");
  }

  const cJSON *prm;
  const cJSON *params = cJSON_GetObjectItemCaseSensitive(op, "parameters");
  if (cJSON_GetArraySize(params) > 0) {
    put(p, "<h3>Parameters</h3>\n<table><tr><th>Name</th><th>In</th><th>Type</th></tr>\n");
    cJSON_ArrayForEach(prm, params) {
      put(p, "<tr><td class=\"f\"><code>");
      esc(p, str_of(prm, "name"));
      put(p, "</code></td><td>");
      esc(p, str_of(prm, "in"));
      put(p, "</td><td>");
      type_of(p, p->doc, cJSON_GetObjectItemCaseSensitive(prm, "schema"));
      put(p, "</td></tr>\n");
    }
    put(p, "</table>\n");
  }

  const cJSON *bcontent = cJSON_GetObjectItemCaseSensitive(
      cJSON_GetObjectItemCaseSensitive(op, "requestBody"), "content");
  const cJSON *json = cJSON_GetObjectItemCaseSensitive(bcontent, "application/json");
  if (json) {
    put(p, "<h3>Request body (JSON)</h3>\n");
    int rows = 0;
    p->calls = 0;
    size_t before = p->out.len;
    put(p, "<table><tr><th>Field</th><th>Type</th><th>Default</th><th>Description</th></tr>\n");
    size_t head = p->out.len;
    fields(p, cJSON_GetObjectItemCaseSensitive(json, "schema"), "", 0, &rows);
    if (!p->rc && p->out.len == head) {
      p->out.len = before; /* no fields: say so instead of an empty table */
      put(p, "<p>A JSON object.</p>\n");
    } else {
      put(p, "</table>\n");
    }
  } else if (cJSON_GetObjectItemCaseSensitive(bcontent, "application/octet-stream")) {
    put(p, "<h3>Request body</h3>\n<p>The file's bytes, as they are.</p>\n");
  }

  const cJSON *ok = pointer(cJSON_GetObjectItemCaseSensitive(op, "responses"), "/200");
  put(p, "<h3>Answer</h3>\n<p>200");
  const cJSON *ct;
  int first = 1;
  cJSON_ArrayForEach(ct, cJSON_GetObjectItemCaseSensitive(ok, "content")) {
    put(p, first ? " (" : ", ");
    esc(p, ct->string);
    first = 0;
  }
  if (!first) put(p, ")");
  put(p, ": ");
  esc(p, str_of(ok, "description"));
  put(p, "</p>\n");
  const cJSON *st;
  first = 1;
  cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(op, "responses")) {
    if (!strcmp(st->string, "200")) continue;
    put(p, first ? "<p>Other answers: " : ", ");
    const char *ref = str_of(st, "$ref");
    const char *slash = ref ? strrchr(ref, '/') : NULL;
    if (slash) {
      put(p, "<a href=\"#err-");
      esc(p, slash + 1);
      put(p, "\">");
      esc(p, st->string);
      put(p, "</a>");
    } else {
      esc(p, st->string);
    }
    first = 0;
  }
  if (!first) put(p, "</p>\n");

  put(p, "<h3>Examples</h3>\n");
  curl_example(p, method, path, op);
  ppod_examples(p, method, path);
  put(p, "</section>\n");
}

static void errors_section(page *p) {
  put(p,
      "<section id=\"errors\"><h2>Errors</h2>\n<p>Every failure answers "
      "<code>{\"success\":false,\"errors\":[{\"code\":\"...\",\"message\":\"...\"}]}</code> "
      "with the status below.</p>\n<table><tr><th>Answer</th><th>Codes</th></tr>\n");
  const cJSON *r;
  cJSON_ArrayForEach(r, pointer(p->doc, "/components/responses")) {
    put(p, "<tr id=\"err-");
    esc(p, r->string);
    put(p, "\"><td class=\"f\">");
    esc(p, r->string);
    put(p, "</td><td>");
    esc(p, str_of(r, "description"));
    put(p, "</td></tr>\n");
  }
  put(p, "</table></section>\n");
}

/* "'sha256-<base64>'" of text. */
static char *csp_hash(const char *text) {
  unsigned char h[PB_SHA256_LEN];
  pb_sha256(text, strlen(text), h);
  char *b64 = NULL;
  if (pb_base64_encode(h, sizeof(h), &b64)) return NULL;
  size_t n = strlen(b64) + 16;
  char *out = malloc(n);
  if (out) snprintf(out, n, "'sha256-%s'", b64);
  free(b64);
  return out;
}

static char *make_csp(void) {
  char *st = csp_hash(page_style), *sc = csp_hash(page_script), *out = NULL;
  if (st && sc) {
    size_t n = strlen(st) + strlen(sc) + 200;
    out = malloc(n);
    if (out)
      snprintf(out, n,
               "default-src 'none'; style-src %s; script-src %s; base-uri 'none'; "
               "form-action 'none'; frame-ancestors 'none'",
               st, sc);
  }
  free(st);
  free(sc);
  return out;
}

int pb_docs_render(const char *openapi_json, char **html, size_t *len, char **csp) {
  *html = NULL;
  *csp = NULL;
  if (len) *len = 0;
  cJSON *doc = openapi_json ? cJSON_Parse(openapi_json) : NULL;
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(doc, "paths");
  if (!cJSON_IsObject(paths)) {
    cJSON_Delete(doc);
    return PB_EINVAL;
  }
  page p = {.doc = doc};
  pb_buf_init(&p.out, PB_DOCS_MAX);
  const cJSON *info = cJSON_GetObjectItemCaseSensitive(doc, "info");
  const char *title = str_of(info, "title");
  put(&p,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
      "<meta name=\"referrer\" content=\"no-referrer\"><title>");
  esc(&p, title);
  put(&p, " API reference</title><style>");
  put(&p, page_style);
  put(&p, "</style></head>\n<body><header><h1>");
  esc(&p, title);
  put(&p, " API <small>");
  esc(&p, str_of(info, "version"));
  put(&p, "</small></h1>\n<p>");
  esc(&p, str_of(info, "description"));
  put(&p,
      "</p>\n<p>The examples read the server and your token from the environment, as "
      "<code>ppod</code> does:</p>\n<pre><code>export PAPERPOD_URL=<span id=\"origin\">"
      "http://HOST:PORT</span> PAPERPOD_TOKEN=YOUR_TOKEN</code></pre>\n"
      "<p>Machine-readable: <a href=\"/openapi.json\">/openapi.json</a> (OpenAPI 3.1). "
      "<a href=\"#errors\">Errors</a>.</p>\n"
      "<input type=\"search\" id=\"filter\" placeholder=\"Filter routes\" "
      "aria-label=\"Filter routes\" hidden>\n</header>\n<main>\n<nav><h2>Routes</h2><ul>\n");
  const cJSON *item;
  cJSON_ArrayForEach(item, paths) {
    for (int m = 0; methods[m]; m++) {
      const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, methods[m]);
      if (!op) continue;
      char id[300];
      anchor(id, sizeof(id), methods[m], item->string);
      put(&p, "<li data-search=\"");
      esc(&p, methods[m]);
      put(&p, " ");
      esc_lower(&p, item->string);
      put(&p, " ");
      esc_lower(&p, str_of(op, "summary"));
      put(&p, "\"><a href=\"#");
      esc(&p, id);
      put(&p, "\"><span class=\"m ");
      esc(&p, methods[m]);
      put(&p, "\">");
      for (const char *c = methods[m]; *c; c++) putf(&p, "%c", toupper((unsigned char)*c));
      put(&p, "</span>");
      esc(&p, item->string);
      put(&p, "</a></li>\n");
    }
  }
  put(&p, "</ul></nav>\n");
  cJSON_ArrayForEach(item, paths) {
    for (int m = 0; methods[m]; m++) {
      const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, methods[m]);
      if (op) operation(&p, item->string, methods[m], op);
    }
  }
  errors_section(&p);
  put(&p, "</main>\n<script>");
  put(&p, page_script);
  put(&p, "</script>\n</body></html>\n");
  cJSON_Delete(doc);
  if (!p.rc) {
    *csp = make_csp();
    if (!*csp) p.rc = PB_ENOMEM;
  }
  if (p.rc) {
    pb_buf_free(&p.out);
    return p.rc;
  }
  *html = pb_buf_steal(&p.out, len);
  return 0;
}

/* ---- the routes ------------------------------------------------------- */

int docs_init(pb_server *s) {
  int rc = pb_docs_render(s->openapi, &s->docs_html, &s->docs_len, &s->docs_csp);
  if (rc) return rc;
  static const char *const names[] = {
      "content-security-policy:", "x-content-type-options:", "referrer-policy:"};
  const char *values[] = {s->docs_csp, "nosniff", "no-referrer"};
  for (size_t i = 0; i < 3; i++) {
    s->docs_headers[2 * i] = names[i];
    s->docs_headers[2 * i + 1] = values[i];
  }
  s->docs_headers[6] = NULL;
  return 0;
}

void docs_free(pb_server *s) {
  free(s->docs_html);
  s->docs_html = NULL;
  free(s->docs_csp);
  s->docs_csp = NULL;
}

void get_docs(pb_server *s, req *r) {
  if (!s->docs_html) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the reference page is not available");
    return;
  }
  free(r->res.body);
  r->res.body = NULL; /* the server's page, sent as it is (res_static) */
  r->res_static = s->docs_html;
  r->res.body_len = s->docs_len;
  r->res.content_type = "text/html; charset=utf-8";
  r->res.status = 200;
  r->xh_static = s->docs_headers;
  answer_ready(r);
}

/* A browser (it asks for text/html) is sent to the page; any other client
 * (curl's * / *, fetch's, an agent's application/json) gets the index. */
static int wants_html(struct lws *wsi) {
  char accept[512];
  if (!wsi || !http_header(wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof(accept))) return 0;
  return strcasestr(accept, "text/html") != NULL;
}

void get_index(pb_server *s, req *r) {
  (void)s;
  if (wants_html(r->wsi)) {
    r->res.status = 302;
    r->res.content_type = "text/plain";
    r->xh_name = "location:";
    pb_strlcpy(r->xh_value, "/docs", sizeof(r->xh_value));
    answer_ready(r);
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", "ppod-browser");
  cJSON_AddStringToObject(o, "version", PB_API_VERSION);
  cJSON_AddStringToObject(o, "description",
                          "Headless browser automation: quick actions (screenshot, pdf, "
                          "content, markdown, scrape, links), browser sessions for CDP clients, "
                          "crawls and an MCP server. Send 'Authorization: Bearer <token>'.");
  cJSON *links = cJSON_AddObjectToObject(o, "links");
  cJSON_AddStringToObject(links, "docs", "/docs");
  cJSON_AddStringToObject(links, "openapi", "/openapi.json");
  /* Only what the route table has: a link to a route that is not there
   * would be a 404. */
  static const struct {
    const char *key, *path;
    pb_method method;
  } optional[] = {
      {"mcp", "/mcp", PB_METHOD_POST},
      {"health", "/healthz", PB_METHOD_GET},
      {"account", "/account", PB_METHOD_GET},
      {"login", "/login", PB_METHOD_POST},
  };
  for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
    if (pb_route_find(optional[i].path, optional[i].method, NULL))
      cJSON_AddStringToObject(links, optional[i].key, optional[i].path);
  /* Not in the success envelope: the index is the API's own description,
   * as /openapi.json is. */
  free(r->res.body);
  r->res.body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  r->res.body_len = r->res.body ? strlen(r->res.body) : 0;
  r->res.content_type = "application/json";
  r->res.status = r->res.body ? 200 : 500;
  answer_ready(r);
}
