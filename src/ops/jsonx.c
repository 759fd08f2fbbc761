/* POST /browser/json without a language model: the tenant's JSON Schema
 * says where each value is. A property may carry
 *
 *   x-selector   a CSS selector, or
 *   x-xpath      an XPath expression, matched inside the enclosing context
 *                (the page; an object's first match; an array's item);
 *   x-attribute  read this attribute of the match, or
 *   x-property   read this DOM property of it (href: the absolute URL,
 *                value, checked...); by default its text (innerText, trimmed).
 *
 * An array takes its selector (on itself or on its items) as the container
 * of its items: an item of type object reads its properties inside its
 * container; a scalar item is the container's value. A boolean with a
 * selector and nothing to read is whether it matches. Values are coerced to
 * the schema's type (a number out of "$1,299.00"), and the result is
 * validated against the schema; what does not fit is 422 SCHEMA_MISMATCH,
 * naming the field.
 *
 * The schema is hostile: its size, depth, properties and selectors are
 * capped before the page is loaded; in the page, each selector yields at
 * most PB_JSONX_MAX_ITEMS matches, and the answer at most PB_JSONX_MAX_VALUES
 * values and PB_JSONX_MAX_CHARS characters ("truncated":true when cut), all
 * within the action deadline, which terminates a slow XPath. */
#include "common/json.h"
#include "ops/axtree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_JSONX_MAX_SCHEMA_BYTES (64 * 1024)
#define PB_JSONX_MAX_DEPTH 16
#define PB_JSONX_MAX_PROPERTIES 500
#define PB_JSONX_MAX_SELECTORS 200
#define PB_JSONX_MAX_SELECTOR_LEN 2048
#define PB_JSONX_MAX_ITEMS 1000
#define PB_JSONX_MAX_VALUES 20000
#define PB_JSONX_MAX_STRING 100000
#define PB_JSONX_MAX_CHARS (8 * 1024 * 1024)

/* dst: src (a tenant's key or selector) cut to cap, control characters as
 * '?': it goes into an error message and a log line. */
static const char *printable(char *dst, size_t cap, const char *src) {
  size_t n = 0;
  for (; src && *src && n + 1 < cap; src++, n++)
    dst[n] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? '?' : *src;
  dst[n] = '\0';
  return dst;
}

static const char *const read_keys[] = {"x-selector", "x-xpath", "x-attribute", "x-property"};

typedef struct {
  int properties, selectors;
  char err[400];
} bounds;

/* Checks the schema's shape where extraction will walk it (properties and
 * items), with the path of what is wrong. 0 or -1 (b->err). */
static int check_bounds(const cJSON *s, int depth, const char *path, bounds *b) {
  if (!cJSON_IsObject(s)) return 0;
  if (depth > PB_JSONX_MAX_DEPTH) {
    snprintf(b->err, sizeof(b->err), "schema: %s: nested deeper than %d levels", path,
             PB_JSONX_MAX_DEPTH);
    return -1;
  }
  for (size_t i = 0; i < sizeof(read_keys) / sizeof(read_keys[0]); i++) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, read_keys[i]);
    if (!v) continue;
    if (!cJSON_IsString(v) || !v->valuestring[0] ||
        strlen(v->valuestring) > PB_JSONX_MAX_SELECTOR_LEN) {
      snprintf(b->err, sizeof(b->err), "schema: %s.%s: expected a string of 1 to %d characters",
               path, read_keys[i], PB_JSONX_MAX_SELECTOR_LEN);
      return -1;
    }
    if (i < 2 && ++b->selectors > PB_JSONX_MAX_SELECTORS) {
      snprintf(b->err, sizeof(b->err), "schema: more than %d selectors", PB_JSONX_MAX_SELECTORS);
      return -1;
    }
  }
  if (cJSON_GetObjectItemCaseSensitive(s, "x-selector") &&
      cJSON_GetObjectItemCaseSensitive(s, "x-xpath")) {
    snprintf(b->err, sizeof(b->err), "schema: %s: x-selector and x-xpath are exclusive", path);
    return -1;
  }
  if (cJSON_GetObjectItemCaseSensitive(s, "x-attribute") &&
      cJSON_GetObjectItemCaseSensitive(s, "x-property")) {
    snprintf(b->err, sizeof(b->err), "schema: %s: x-attribute and x-property are exclusive", path);
    return -1;
  }
  char sub[160];
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(s, "properties")) {
    if (++b->properties > PB_JSONX_MAX_PROPERTIES) {
      snprintf(b->err, sizeof(b->err), "schema: more than %d properties", PB_JSONX_MAX_PROPERTIES);
      return -1;
    }
    char key[65];
    snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
             printable(key, sizeof(key), p->string));
    if (check_bounds(p, depth + 1, sub, b)) return -1;
  }
  snprintf(sub, sizeof(sub), "%s[]", path);
  return check_bounds(cJSON_GetObjectItemCaseSensitive(s, "items"), depth + 1, sub, b);
}

/* The extraction, in the page: (schema, caps) -> {value, truncated} or
 * {invalid: {path, selector}}. */
static const char extract_js[] =
    "(schema, caps) => { let values = 0, chars = 0, truncated = false;"
    " const typeOf = (s) => { let t = s.type; if (Array.isArray(t)) t = t.find(x => x !== 'null') "
    "|| t[0];"
    "  return typeof t === 'string' ? t : s.properties ? 'object' : s.items ? 'array' : 'string'; "
    "};"
    " const hasSel = (s) => typeof s['x-selector'] === 'string' || typeof s['x-xpath'] === "
    "'string';"
    " const hasRead = (s) => typeof s['x-attribute'] === 'string' || typeof s['x-property'] === "
    "'string';"
    " class Bad { constructor(path, sel) { this.path = path; this.sel = sel; } }"
    " const all = (ctx, s, path) => { const out = [];"
    "  if (typeof s['x-xpath'] === 'string') { let r;"
    "   try { r = document.evaluate(s['x-xpath'], ctx, null, "
    "XPathResult.ORDERED_NODE_ITERATOR_TYPE, null); }"
    "   catch (e) { throw new Bad(path, s['x-xpath']); }"
    "   for (let n = r.iterateNext(); n; n = r.iterateNext()) { if (out.length >= caps.items) { "
    "truncated = true; break; } out.push(n); }"
    "   return out; }"
    "  if (!ctx.querySelectorAll) return out;" /* a text or attribute node: nothing inside */
    "  let list; try { list = ctx.querySelectorAll(s['x-selector']); } catch (e) { throw new "
    "Bad(path, s['x-selector']); }"
    "  if (list.length > caps.items) truncated = true;"
    "  for (let i = 0; i < list.length && i < caps.items; i++) out.push(list[i]); return out; };"
    " const read = (el, s) => { let v;"
    "  if (typeof s['x-property'] === 'string') { v = el[s['x-property']]; if (v != null && typeof "
    "v === 'object') v = String(v); }"
    "  else if (typeof s['x-attribute'] === 'string') v = el.getAttribute ? "
    "el.getAttribute(s['x-attribute']) : null;"
    "  else { v = el.nodeType === 1 && el.innerText != null ? el.innerText : el.textContent; if "
    "(typeof v === 'string') v = v.trim(); }"
    "  if (typeof v === 'function' || v === undefined) v = null;"
    "  if (typeof v === 'string') { if (v.length > caps.str) { v = v.slice(0, caps.str); truncated "
    "= true; }"
    "   chars += v.length; if (chars > caps.chars) { truncated = true; return undefined; } }"
    "  return v; };"
    " const coerce = (v, t) => { if (v === undefined || v === null) return v;"
    "  if (t === 'number' || t === 'integer') { if (typeof v === 'number') return v; if (typeof v "
    "=== 'boolean') return v ? 1 : 0;"
    "   const m = String(v).replace(/\\s/g, '').match(/-?\\d[\\d,]*(?:\\.\\d+)?|-?\\.\\d+/);"
    "   return m ? parseFloat(m[0].replace(/,/g, '')) : v; }"
    "  if (t === 'boolean') { if (typeof v === 'boolean') return v; if (typeof v === 'number') "
    "return v !== 0;"
    "   const s = String(v).trim(); if (/^(true|yes|y|1|on|checked|selected)$/i.test(s)) return "
    "true;"
    "   if (/^(false|no|n|0|off|)$/i.test(s)) return false; return v; }"
    "  if (t === 'string') return typeof v === 'string' ? v : String(v); return v; };"
    " const count = () => { if (++values > caps.values) { truncated = true; return false; } return "
    "true; };"
    /* the value of s with el as its own match */
    " const at = (el, s, path, rs) => { const t = typeOf(s);"
    "  if (t === 'object') return props(el, s, path);"
    "  if (t === 'array') return ex(el, s, path);"
    "  if (!count()) return undefined; return coerce(read(el, rs || s), t); };"
    " const props = (ctx, s, path) => { const o = {};"
    "  for (const k of Object.keys(s.properties || {})) { const ps = s.properties[k];"
    "   if (!ps || typeof ps !== 'object') continue;"
    "   const v = ex(ctx, ps, path ? path + '.' + k : k); if (v !== undefined) o[k] = v; }"
    "  return o; };"
    " const ex = (ctx, s, path) => { const t = typeOf(s);"
    "  if (t === 'array') { const it = s.items && typeof s.items === 'object' && "
    "!Array.isArray(s.items) ? s.items : {};"
    "   const sel = hasSel(s) ? s : hasSel(it) ? it : null; if (!sel) return undefined;"
    "   const out = []; for (const n of all(ctx, sel, path)) { if (values > caps.values || chars > "
    "caps.chars) { truncated = true; break; }"
    "    const v = at(n, it, path + '[]', typeOf(it) === 'object' || hasRead(it) ? it : s); if (v "
    "!== undefined) out.push(v); }"
    "   return out; }"
    "  if (t === 'object') { if (!hasSel(s)) return props(ctx, s, path); const m = all(ctx, s, "
    "path)[0];"
    "   return m ? props(m, s, path) : undefined; }"
    "  if (hasSel(s)) { const m = all(ctx, s, path)[0];"
    "   if (t === 'boolean' && !hasRead(s)) return !!m; if (!m) return undefined; return at(m, s, "
    "path); }"
    "  if (!hasRead(s) || ctx === document) return undefined; return at(ctx, s, path); };"
    " try { const v = ex(document, schema, ''); return {value: v === undefined ? null : v, "
    "truncated}; }"
    " catch (e) { if (e instanceof Bad) return {invalid: {path: e.path || '(root)', selector: "
    "e.sel}}; throw e; } }";

int pb_op_json_extract(pb_job *job, pb_op_result *res) {
  const pb_cf_opts *o = &job->opts.cf;
  if (o->prompt || o->custom_ai)
    return pb_op_fail(
        res, PB_CODE_NO_MODEL,
        "there is no language model here, so a prompt cannot be answered: give a JSON "
        "Schema in schema (or response_format.json_schema) whose properties carry "
        "selectors (x-selector, x-xpath), and the page fills it");
  if (!o->schema)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST,
                      "schema (or response_format.json_schema) is required: a JSON Schema whose "
                      "properties carry selectors (x-selector, x-xpath)");
  char *printed = cJSON_PrintUnformatted(o->schema);
  size_t size = printed ? strlen(printed) : 0;
  free(printed);
  if (size > PB_JSONX_MAX_SCHEMA_BYTES)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "schema: over %d KiB",
                      PB_JSONX_MAX_SCHEMA_BYTES >> 10);
  bounds b = {0};
  if (check_bounds(o->schema, 0, "", &b))
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "%s", b.err);
  if (!b.selectors)
    return pb_op_fail(
        res, PB_CODE_NO_MODEL,
        "there is no language model here, and the schema has no selectors: extraction "
        "needs x-selector (CSS) or x-xpath on the properties to fill");
  /* the schema itself, before the page is loaded: a null is not what it
   * describes, but a schema we cannot read says so first */
  char err[512];
  cJSON *probe = cJSON_CreateNull();
  int rc = o->validate ? o->validate(o->schema, probe, err, sizeof(err)) : 0;
  cJSON_Delete(probe);
  if (rc && !strncmp(err, "schema:", 7)) return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "%s", err);

  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *args = cJSON_CreateArray(), *caps = cJSON_CreateObject(), *got = NULL;
  cJSON_AddItemToArray(args, cJSON_Duplicate(o->schema, 1));
  cJSON_AddNumberToObject(caps, "items", PB_JSONX_MAX_ITEMS);
  cJSON_AddNumberToObject(caps, "values", PB_JSONX_MAX_VALUES);
  cJSON_AddNumberToObject(caps, "str", PB_JSONX_MAX_STRING);
  cJSON_AddNumberToObject(caps, "chars", PB_JSONX_MAX_CHARS);
  cJSON_AddItemToArray(args, caps);
  rc = pb_nav_apply(nav, extract_js, args, &got, err, sizeof(err));
  cJSON_Delete(args);
  pb_nav_close(nav, res);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_PAGE_ERROR, "extracting: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "extracting");
  const cJSON *bad = cJSON_GetObjectItemCaseSensitive(got, "invalid");
  if (bad) {
    char where[201], sel[301];
    pb_op_fail(res, PB_CODE_INVALID_SELECTOR, "schema: %s: '%s' is not a valid selector",
               printable(where, sizeof(where), pb_json_str(bad, "path")),
               printable(sel, sizeof(sel), pb_json_str(bad, "selector")));
    cJSON_Delete(got);
    return -1;
  }
  int truncated = pb_json_true(got, "truncated");
  cJSON *value = cJSON_DetachItemFromObjectCaseSensitive(got, "value");
  cJSON_Delete(got);
  if (!value) value = cJSON_CreateNull();
  if (o->validate && o->validate(o->schema, value, err, sizeof(err))) {
    cJSON_Delete(value);
    return pb_op_fail(res, PB_CODE_SCHEMA_MISMATCH,
                      "what the page holds does not fit the schema: %s", err);
  }
  cJSON *env = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddItemToObject(env, "result", value);
  if (truncated) cJSON_AddTrueToObject(env, "truncated");
  return pb_op_json_object(res, env);
}
