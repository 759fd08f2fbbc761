/* JSON Schema (2020-12 subset) validation of request bodies.
 *
 * The schemas are ours and compiled in, so they are checked strictly once at
 * load: an unknown keyword, a malformed value, a bad regex or a dangling $ref
 * fails pb_schemas_load instead of silently validating nothing. Validation
 * then walks schema and instance together and stops at the first error,
 * which is what a client wants to read ("viewport.width: must be <= 16384").
 *
 * Bodies are hostile, so the walk is bounded twice: by depth (a recursive
 * schema cannot recurse further than PB_SCHEMA_MAX_DEPTH) and by a step
 * budget (nested oneOf/anyOf cannot go exponential). Either limit fails the
 * body with a message rather than passing it. */
#include "http/jsonschema.h"

#include "common/pattern.h"
#include "common/pb.h"
#include "common/schemas_data.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PB_SCHEMA_MAX_DEPTH 64
#define PB_SCHEMA_MAX_STEPS (1 << 20)
#define PATH_CAP 256    /* longest field path quoted in a message */
#define PATH_KEY_MAX 64 /* longest single key quoted in a path */

typedef struct {
  char *name;  /* "screenshot" for schemas/screenshot.json */
  cJSON *root; /* owned */
} sdoc;

typedef struct {
  const cJSON *node; /* the "pattern" string inside a schema, borrowed */
  pb_pattern *re;    /* ours, but matched against tenant strings: bounded */
} spattern;

struct pb_schemas {
  sdoc *docs;
  size_t ndocs;
  spattern *pats;
  size_t npats, patcap;
};

/* Loads an arbitrary set of schema texts (terminated by a NULL name); the
 * unit tests use it for schemas that are not shipped. On PB_EINVAL, err says
 * which schema and which keyword is wrong. */
int pb__schemas_load_texts(const pb_schema_text *texts, pb_schemas **out, char *err,
                           size_t errcap);

/* ---- lookups shared by load and validate ---- */

static const sdoc *doc_by_name(const pb_schemas *s, const char *name, size_t len) {
  for (size_t i = 0; i < s->ndocs; i++)
    if (strlen(s->docs[i].name) == len && !memcmp(s->docs[i].name, name, len))
      return &s->docs[i];
  return NULL;
}

/* Follows a JSON pointer ("" or "/a/b~1c") from root. NULL if it leads nowhere. */
static const cJSON *json_pointer(const cJSON *root, const char *ptr) {
  const cJSON *cur = root;
  while (*ptr) {
    if (*ptr != '/') return NULL;
    ptr++;
    char seg[256];
    size_t n = 0;
    while (*ptr && *ptr != '/') {
      char ch = *ptr++;
      if (ch == '~') {
        if (*ptr == '0') ch = '~';
        else if (*ptr == '1') ch = '/';
        else return NULL;
        ptr++;
      }
      if (n + 1 >= sizeof(seg)) return NULL;
      seg[n++] = ch;
    }
    seg[n] = '\0';
    if (cJSON_IsObject(cur)) {
      cur = cJSON_GetObjectItemCaseSensitive(cur, seg);
    } else if (cJSON_IsArray(cur)) {
      long long idx;
      if (pb_parse_int(seg, 0, 1000000, &idx)) return NULL;
      cur = cJSON_GetArrayItem(cur, (int)idx);
    } else {
      return NULL;
    }
    if (!cur) return NULL;
  }
  return cur;
}

/* Resolves "#/$defs/x", "#", "other.json" or "other.json#/$defs/x" seen in
 * document `from`. On success *to is the document the target lives in, which
 * is the base for the target's own relative refs. */
static const cJSON *resolve_ref(const pb_schemas *s, const sdoc *from, const char *ref,
                                const sdoc **to) {
  const char *hash = strchr(ref, '#');
  size_t reflen = hash ? (size_t)(hash - ref) : strlen(ref);
  const sdoc *d = from;
  if (reflen) {
    static const char ext[] = ".json";
    size_t elen = sizeof(ext) - 1;
    if (reflen > elen && !memcmp(ref + reflen - elen, ext, elen)) reflen -= elen;
    d = doc_by_name(s, ref, reflen);
    if (!d) return NULL;
  }
  *to = d;
  return json_pointer(d->root, hash ? hash + 1 : "");
}

static pb_pattern *pattern_for(const pb_schemas *s, const cJSON *node) {
  for (size_t i = 0; i < s->npats; i++)
    if (s->pats[i].node == node) return s->pats[i].re;
  return NULL;
}

/* ---- load: parse and check every schema ---- */

enum {
  K_SCHEMA,       /* a subschema */
  K_SCHEMA_MAP,   /* object of subschemas */
  K_SCHEMA_LIST,  /* non-empty array of subschemas */
  K_TYPE,         /* type name or array of them */
  K_ANY,          /* any JSON value */
  K_LIST,         /* any array */
  K_NUMBER,       /* a number */
  K_COUNT,        /* a non-negative integer */
  K_NAMES,        /* array of strings */
  K_NAMES_MAP,    /* object of arrays of strings */
  K_PATTERN,      /* a POSIX ERE */
  K_REF,          /* a resolvable reference */
  K_STRING,       /* annotation text */
  K_BOOL,         /* annotation flag */
};

static const struct {
  const char *name;
  int kind;
} keywords[] = {
    {"type", K_TYPE},
    {"enum", K_LIST},
    {"const", K_ANY},
    {"minimum", K_NUMBER},
    {"maximum", K_NUMBER},
    {"exclusiveMinimum", K_NUMBER},
    {"exclusiveMaximum", K_NUMBER},
    {"minLength", K_COUNT},
    {"maxLength", K_COUNT},
    {"pattern", K_PATTERN},
    {"items", K_SCHEMA},
    {"minItems", K_COUNT},
    {"maxItems", K_COUNT},
    {"properties", K_SCHEMA_MAP},
    {"required", K_NAMES},
    {"additionalProperties", K_SCHEMA},
    {"propertyNames", K_SCHEMA},
    {"minProperties", K_COUNT},
    {"maxProperties", K_COUNT},
    {"dependentRequired", K_NAMES_MAP},
    {"allOf", K_SCHEMA_LIST},
    {"anyOf", K_SCHEMA_LIST},
    {"oneOf", K_SCHEMA_LIST},
    {"not", K_SCHEMA},
    {"if", K_SCHEMA},
    {"then", K_SCHEMA},
    {"else", K_SCHEMA},
    {"$ref", K_REF},
    {"$defs", K_SCHEMA_MAP},
    /* annotations: no effect on validation */
    {"$schema", K_STRING},
    {"$id", K_STRING},
    {"$comment", K_STRING},
    {"title", K_STRING},
    {"description", K_STRING},
    {"format", K_STRING},
    {"default", K_ANY},
    {"examples", K_LIST},
    {"deprecated", K_BOOL},
    {"readOnly", K_BOOL},
    {"writeOnly", K_BOOL},
    {"x-message", K_STRING},
    {"x-include-properties", K_STRING},
};

static const char *const type_names[] = {"null",  "boolean", "object", "array",
                                         "number", "integer", "string"};

typedef struct {
  pb_schemas *s;
  const sdoc *doc;
  char *err;
  size_t errcap;
  int lenient; /* a tenant's schema: keywords we do not know are annotations */
} loadctx;

static int load_fail(loadctx *l, const char *kw, const char *what) {
  if (l->errcap && l->lenient) snprintf(l->err, l->errcap, "schema: %s: %s", kw, what);
  else if (l->errcap) snprintf(l->err, l->errcap, "schema %s: %s: %s", l->doc->name, kw, what);
  return PB_EINVAL;
}

static int is_type_name(const cJSON *v) {
  if (!cJSON_IsString(v)) return 0;
  for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
    if (!strcmp(v->valuestring, type_names[i])) return 1;
  return 0;
}

static int add_pattern(loadctx *l, const cJSON *node) {
  pb_schemas *s = l->s;
  if (s->npats == s->patcap) {
    size_t ncap = s->patcap ? s->patcap * 2 : 8;
    spattern *np = realloc(s->pats, ncap * sizeof(*np));
    if (!np) return PB_ENOMEM;
    s->pats = np;
    s->patcap = ncap;
  }
  char why[200];
  if (pb_pattern_compile(node->valuestring, &s->pats[s->npats].re, why, sizeof(why)))
    return load_fail(l, "pattern", "not a valid regular expression");
  s->pats[s->npats].node = node;
  s->npats++;
  return 0;
}

static int check_schema(loadctx *l, const cJSON *node, int depth);

static int check_keyword(loadctx *l, const cJSON *kw, int kind, int depth) {
  const char *name = kw->string;
  const cJSON *it;
  int rc;
  switch (kind) {
  case K_SCHEMA: return check_schema(l, kw, depth + 1);
  case K_SCHEMA_MAP:
    if (!cJSON_IsObject(kw)) return load_fail(l, name, "expected an object of schemas");
    cJSON_ArrayForEach(it, kw) {
      rc = check_schema(l, it, depth + 1);
      if (rc) return rc;
    }
    return 0;
  case K_SCHEMA_LIST:
    if (!cJSON_IsArray(kw) || !cJSON_GetArraySize(kw))
      return load_fail(l, name, "expected a non-empty array of schemas");
    cJSON_ArrayForEach(it, kw) {
      rc = check_schema(l, it, depth + 1);
      if (rc) return rc;
    }
    return 0;
  case K_TYPE:
    if (cJSON_IsArray(kw)) {
      if (!cJSON_GetArraySize(kw)) return load_fail(l, name, "empty type list");
      cJSON_ArrayForEach(it, kw) if (!is_type_name(it)) return load_fail(l, name, "unknown type");
      return 0;
    }
    return is_type_name(kw) ? 0 : load_fail(l, name, "unknown type");
  case K_ANY: return 0;
  case K_LIST: return cJSON_IsArray(kw) ? 0 : load_fail(l, name, "expected an array");
  case K_NUMBER: return cJSON_IsNumber(kw) ? 0 : load_fail(l, name, "expected a number");
  case K_COUNT:
    if (!cJSON_IsNumber(kw) || kw->valuedouble < 0 || kw->valuedouble > 1e15 ||
        kw->valuedouble != (double)(long long)kw->valuedouble)
      return load_fail(l, name, "expected a non-negative integer");
    return 0;
  case K_NAMES:
    if (!cJSON_IsArray(kw)) return load_fail(l, name, "expected an array of names");
    cJSON_ArrayForEach(it, kw) if (!cJSON_IsString(it))
        return load_fail(l, name, "expected an array of names");
    return 0;
  case K_NAMES_MAP:
    if (!cJSON_IsObject(kw)) return load_fail(l, name, "expected an object");
    cJSON_ArrayForEach(it, kw) {
      const cJSON *n;
      if (!cJSON_IsArray(it)) return load_fail(l, name, "expected arrays of names");
      cJSON_ArrayForEach(n, it) if (!cJSON_IsString(n))
          return load_fail(l, name, "expected arrays of names");
    }
    return 0;
  case K_PATTERN:
    if (!cJSON_IsString(kw)) return load_fail(l, name, "expected a string");
    return add_pattern(l, kw);
  case K_REF: {
    const sdoc *to;
    if (!cJSON_IsString(kw)) return load_fail(l, name, "expected a string");
    const cJSON *target = resolve_ref(l->s, l->doc, kw->valuestring, &to);
    if (!target) return load_fail(l, kw->valuestring, "$ref leads nowhere");
    if (!cJSON_IsObject(target) && !cJSON_IsBool(target))
      return load_fail(l, kw->valuestring, "$ref target is not a schema");
    return 0;
  }
  case K_STRING: return cJSON_IsString(kw) ? 0 : load_fail(l, name, "expected a string");
  case K_BOOL: return cJSON_IsBool(kw) ? 0 : load_fail(l, name, "expected a boolean");
  }
  return load_fail(l, name, "internal: unknown keyword kind");
}

static int check_schema(loadctx *l, const cJSON *node, int depth) {
  if (cJSON_IsBool(node)) return 0;
  if (!cJSON_IsObject(node)) return load_fail(l, node->string ? node->string : "(schema)",
                                              "a schema must be an object or a boolean");
  if (depth > PB_SCHEMA_MAX_DEPTH) return load_fail(l, "(schema)", "nested too deeply");
  const cJSON *kw;
  cJSON_ArrayForEach(kw, node) {
    size_t i, n = sizeof(keywords) / sizeof(keywords[0]);
    for (i = 0; i < n; i++)
      if (!strcmp(kw->string, keywords[i].name)) break;
    if (i == n) {
      if (!strncmp(kw->string, "x-", 2)) continue; /* extensions: ours to read */
      if (l->lenient) continue;
      return load_fail(l, kw->string, "unsupported keyword");
    }
    int rc = check_keyword(l, kw, keywords[i].kind, depth);
    if (rc) return rc;
  }
  return 0;
}

int pb__schemas_load_texts(const pb_schema_text *texts, pb_schemas **out, char *err,
                           size_t errcap) {
  int rc = PB_ENOMEM;
  size_t n = 0;
  *out = NULL;
  if (errcap) err[0] = '\0';
  while (texts[n].name) n++;

  pb_schemas *s = calloc(1, sizeof(*s));
  if (!s) goto fail;
  s->docs = calloc(n ? n : 1, sizeof(*s->docs));
  if (!s->docs) goto fail;
  for (size_t i = 0; i < n; i++) {
    if (doc_by_name(s, texts[i].name, strlen(texts[i].name))) {
      if (errcap) snprintf(err, errcap, "schema %s: defined twice", texts[i].name);
      rc = PB_EINVAL;
      goto fail;
    }
    sdoc *d = &s->docs[s->ndocs];
    d->name = strdup(texts[i].name);
    if (!d->name) goto fail;
    s->ndocs++;
    d->root = cJSON_Parse(texts[i].text);
    if (!d->root) {
      if (errcap) snprintf(err, errcap, "schema %s: not valid JSON", d->name);
      rc = PB_EINVAL;
      goto fail;
    }
  }
  /* "x-include-properties": "common.json#/$defs/pageOptions" at a schema's
   * root copies that object's properties in (those it does not define
   * itself), so every quick action shares one option vocabulary while
   * additionalProperties:false still applies. Refs inside the included
   * properties must name their file. */
  for (size_t i = 0; i < s->ndocs; i++) {
    cJSON *root = s->docs[i].root;
    const cJSON *inc = cJSON_GetObjectItemCaseSensitive(root, "x-include-properties");
    if (!inc) continue;
    const sdoc *from = NULL;
    const cJSON *src = cJSON_IsString(inc) ? resolve_ref(s, &s->docs[i], inc->valuestring, &from) : NULL;
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(src, "properties");
    cJSON *mine = cJSON_GetObjectItemCaseSensitive(root, "properties");
    if (!cJSON_IsObject(props) || (mine && !cJSON_IsObject(mine))) {
      if (errcap) snprintf(err, errcap, "schema %s: x-include-properties: no properties there", s->docs[i].name);
      rc = PB_EINVAL;
      goto fail;
    }
    if (!mine) mine = cJSON_AddObjectToObject(root, "properties");
    const cJSON *p;
    cJSON_ArrayForEach(p, props) {
      if (cJSON_GetObjectItemCaseSensitive(mine, p->string)) continue;
      cJSON *copy = cJSON_Duplicate(p, 1);
      if (!copy) goto fail;
      cJSON_AddItemToObject(mine, p->string, copy);
    }
  }
  /* Checked after all are parsed, so cross-file $refs can be resolved. */
  for (size_t i = 0; i < s->ndocs; i++) {
    loadctx l = {s, &s->docs[i], err, errcap, 0};
    rc = check_schema(&l, s->docs[i].root, 0);
    if (rc) {
      if (rc == PB_ENOMEM && errcap) snprintf(err, errcap, "out of memory");
      goto fail;
    }
  }
  *out = s;
  return 0;

fail:
  pb_schemas_free(s);
  return rc;
}

int pb_schemas_load(pb_schemas **out) {
  char err[256];
  return pb__schemas_load_texts(pb_schema_texts, out, err, sizeof(err));
}

void pb_schemas_free(pb_schemas *s) {
  if (!s) return;
  for (size_t i = 0; i < s->ndocs; i++) {
    free(s->docs[i].name);
    cJSON_Delete(s->docs[i].root);
  }
  free(s->docs);
  for (size_t i = 0; i < s->npats; i++) pb_pattern_free(s->pats[i].re);
  free(s->pats);
  free(s);
}

const cJSON *pb_schemas_get(const pb_schemas *s, const char *name) {
  if (!s || !name) return NULL;
  const sdoc *d = doc_by_name(s, name, strlen(name));
  return d ? d->root : NULL;
}

/* ---- validate ---- */

typedef struct {
  const pb_schemas *s;
  char *err;
  size_t errcap;
  int quiet;      /* > 0 while trying a branch whose errors are not the answer */
  int have_err;   /* err holds the first error; later ones are dropped */
  int err_custom; /* err came from an x-message (or a limit) and stays */
  int err_level; /* path_level of the error's subject */
  int aborted; /* a limit was hit: the body fails whatever the branches say */
  long steps;
  char path[PATH_CAP];
  size_t plen;
  int level; /* keys and indices pushed; the path text may be cut short */
} vctx;

static const char *path_str(const vctx *c) { return c->plen ? c->path : "(root)"; }

/* Appends to the path, keeping it printable and bounded: keys come from the
 * request and end up in logs and error bodies. Returns the length to restore. */
static size_t path_push(vctx *c, const char *key, long index) {
  size_t saved = c->plen;
  c->level++;
  char tmp[PATH_KEY_MAX + 24];
  size_t n = 0;
  if (key) {
    if (c->plen) tmp[n++] = '.';
    if (!*key) {
      memcpy(tmp + n, "\"\"", 2); /* the empty key, visibly */
      n += 2;
    }
    size_t i;
    for (i = 0; key[i] && i < PATH_KEY_MAX; i++) {
      unsigned char ch = (unsigned char)key[i];
      tmp[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    if (key[i]) {
      memcpy(tmp + n, "...", 3);
      n += 3;
    }
  } else {
    n = (size_t)snprintf(tmp, sizeof(tmp), "[%ld]", index);
  }
  if (c->plen + n + 1 > sizeof(c->path)) {
    /* Too long to quote; mark the cut once and keep the length stable. */
    if (c->plen >= 3 && c->plen + 4 <= sizeof(c->path) && strcmp(c->path + c->plen - 3, "...")) {
      memcpy(c->path + c->plen, "...", 4);
      c->plen += 3;
    }
    return saved;
  }
  memcpy(c->path + c->plen, tmp, n);
  c->plen += n;
  c->path[c->plen] = '\0';
  return saved;
}

static void path_pop(vctx *c, size_t saved) {
  c->level--;
  c->plen = saved;
  c->path[c->plen] = '\0';
}

static void write_err(vctx *c, const char *fmt, va_list ap) {
  if (!c->errcap) return;
  int n = snprintf(c->err, c->errcap, "%s: ", path_str(c));
  if (n >= 0 && (size_t)n < c->errcap) vsnprintf(c->err + n, c->errcap - (size_t)n, fmt, ap);
}

/* Records the first error at the current path (unless a branch is being
 * tried) and returns 1, "invalid". */
__attribute__((format(printf, 2, 3))) static int fail(vctx *c, const char *fmt, ...) {
  if (c->quiet || c->have_err) return 1;
  va_list ap;
  va_start(ap, fmt);
  write_err(c, fmt, ap);
  va_end(ap);
  c->have_err = 1;
  c->err_level = c->level;
  return 1;
}

/* A limit was hit. This error wins even inside a branch: the body fails. */
__attribute__((format(printf, 2, 3))) static int abort_walk(vctx *c, const char *fmt, ...) {
  if (!c->aborted) {
    va_list ap;
    va_start(ap, fmt);
    write_err(c, fmt, ap);
    va_end(ap);
    c->aborted = c->have_err = c->err_custom = 1;
  }
  return 1;
}

static const char *json_type(const cJSON *v) {
  if (cJSON_IsNull(v)) return "null";
  if (cJSON_IsBool(v)) return "boolean";
  if (cJSON_IsNumber(v)) return "number";
  if (cJSON_IsString(v)) return "string";
  if (cJSON_IsArray(v)) return "array";
  if (cJSON_IsObject(v)) return "object";
  return "invalid";
}

static int is_finite(double d) { return d - d == 0; }

static int is_integral(double d) {
  if (!is_finite(d)) return 0;
  if (d >= 4503599627370496.0 || d <= -4503599627370496.0) return 1; /* 2^52: no fractions */
  return d == (double)(long long)d;
}

static int has_type(const cJSON *v, const char *t) {
  if (!strcmp(t, "integer")) return cJSON_IsNumber(v) && is_integral(v->valuedouble);
  if (!strcmp(t, "number")) return cJSON_IsNumber(v) && is_finite(v->valuedouble);
  return !strcmp(t, json_type(v));
}

/* Characters, as JSON Schema counts them: Unicode code points. */
static size_t utf8_len(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80) n++;
  return n;
}

/* Short text of a schema value for messages: "png", 16384, true. */
static void show_value(const cJSON *v, char *buf, size_t cap) {
  if (cJSON_IsString(v)) snprintf(buf, cap, "\"%s\"", v->valuestring);
  else if (cJSON_IsNumber(v)) snprintf(buf, cap, "%.15g", v->valuedouble);
  else if (cJSON_IsBool(v)) snprintf(buf, cap, "%s", cJSON_IsTrue(v) ? "true" : "false");
  else if (cJSON_IsNull(v)) snprintf(buf, cap, "null");
  else snprintf(buf, cap, "the %s in the schema", json_type(v));
}

/* A pattern as text for a message: control characters written as escapes,
 * so "^[^\r\n]*$" does not break the message (or a log line) in two. */
static void show_pattern(const char *pat, char *buf, size_t cap) {
  size_t n = 0;
  for (; *pat && n + 5 < cap; pat++) {
    unsigned char ch = (unsigned char)*pat;
    if (ch == '\n' || ch == '\r' || ch == '\t') {
      buf[n++] = '\\';
      buf[n++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
    } else if (ch < 0x20 || ch == 0x7f) {
      n += (size_t)snprintf(buf + n, cap - n, "\\x%02x", ch);
    } else {
      buf[n++] = (char)ch;
    }
  }
  buf[n] = '\0';
}

static int v_node(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst, int depth);

static int v_type(vctx *c, const cJSON *type, const cJSON *inst) {
  if (cJSON_IsString(type)) {
    if (has_type(inst, type->valuestring)) return 0;
    if (cJSON_IsNumber(inst) && !is_finite(inst->valuedouble))
      return fail(c, "expected %s, got a number out of range", type->valuestring);
    return fail(c, "expected %s, got %s", type->valuestring, json_type(inst));
  }
  const cJSON *t;
  char want[160];
  size_t n = 0;
  cJSON_ArrayForEach(t, type) {
    if (has_type(inst, t->valuestring)) return 0;
    int w = snprintf(want + n, sizeof(want) - n, "%s%s", n ? " or " : "", t->valuestring);
    if (w > 0 && (size_t)w < sizeof(want) - n) n += (size_t)w;
  }
  want[n] = '\0';
  return fail(c, "expected %s, got %s", want, json_type(inst));
}

static int v_enum(vctx *c, const cJSON *en, const cJSON *inst) {
  const cJSON *e;
  cJSON_ArrayForEach(e, en) if (cJSON_Compare(inst, e, 1)) return 0;
  char list[512];
  size_t n = 0;
  list[0] = '\0';
  cJSON_ArrayForEach(e, en) {
    char one[96];
    show_value(e, one, sizeof(one));
    int w = snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", one);
    if (w < 0 || (size_t)w >= sizeof(list) - n) break;
    n += (size_t)w;
  }
  return fail(c, "must be one of %s", list);
}

static int v_number(vctx *c, const cJSON *schema, double d) {
  const cJSON *k;
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minimum")) && d < k->valuedouble)
    return fail(c, "must be >= %.15g", k->valuedouble);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMinimum")) && d <= k->valuedouble)
    return fail(c, "must be > %.15g", k->valuedouble);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maximum")) && d > k->valuedouble)
    return fail(c, "must be <= %.15g", k->valuedouble);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "exclusiveMaximum")) && d >= k->valuedouble)
    return fail(c, "must be < %.15g", k->valuedouble);
  return 0;
}

static int v_string(vctx *c, const cJSON *schema, const char *str) {
  const cJSON *min = cJSON_GetObjectItemCaseSensitive(schema, "minLength");
  const cJSON *max = cJSON_GetObjectItemCaseSensitive(schema, "maxLength");
  if (min || max) {
    size_t len = utf8_len(str);
    if (min && (double)len < min->valuedouble) {
      if (min->valuedouble == 1) return fail(c, "must not be empty");
      return fail(c, "must be at least %.15g characters", min->valuedouble);
    }
    if (max && (double)len > max->valuedouble)
      return fail(c, "must be at most %.15g characters", max->valuedouble);
  }
  const cJSON *pat = cJSON_GetObjectItemCaseSensitive(schema, "pattern");
  if (pat) {
    pb_pattern *re = pattern_for(c->s, pat);
    if (!re) return abort_walk(c, "schema error: pattern not compiled");
    /* A match that gives up (a limit) fails the body: closed, not open. */
    if (pb_pattern_match(re, str, strlen(str)) != 1) {
      char shown[128];
      show_pattern(pat->valuestring, shown, sizeof(shown));
      return fail(c, "must match pattern %s", shown);
    }
  }
  return 0;
}

static int v_array(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst, int depth) {
  const cJSON *k;
  double n = cJSON_GetArraySize(inst);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minItems")) && n < k->valuedouble)
    return fail(c, "must have at least %.15g items", k->valuedouble);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maxItems")) && n > k->valuedouble)
    return fail(c, "must have at most %.15g items", k->valuedouble);
  const cJSON *items = cJSON_GetObjectItemCaseSensitive(schema, "items");
  if (!items) return 0;
  long i = 0;
  const cJSON *it;
  cJSON_ArrayForEach(it, inst) {
    size_t saved = path_push(c, NULL, i++);
    int bad = v_node(c, doc, items, it, depth + 1);
    path_pop(c, saved);
    if (bad) return 1;
  }
  return 0;
}

static int v_object(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst,
                    int depth) {
  const cJSON *k, *m;
  double n = cJSON_GetArraySize(inst);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "minProperties")) && n < k->valuedouble)
    return fail(c, "must have at least %.15g fields", k->valuedouble);
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "maxProperties")) && n > k->valuedouble)
    return fail(c, "must have at most %.15g fields", k->valuedouble);

  /* Members before required: a misspelt field ("urll: unknown field") says
   * more than the required one it was meant to be. */
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(schema, "properties");
  const cJSON *addl = cJSON_GetObjectItemCaseSensitive(schema, "additionalProperties");
  const cJSON *names = cJSON_GetObjectItemCaseSensitive(schema, "propertyNames");
  cJSON_ArrayForEach(m, inst) {
    size_t saved = path_push(c, m->string, 0);
    int bad = 0;
    if (names) {
      cJSON key = {0};
      key.type = cJSON_String;
      key.valuestring = m->string;
      bad = v_node(c, doc, names, &key, depth + 1);
    }
    if (!bad) {
      const cJSON *sub = props ? cJSON_GetObjectItemCaseSensitive(props, m->string) : NULL;
      if (sub) bad = v_node(c, doc, sub, m, depth + 1);
      else if (cJSON_IsFalse(addl)) bad = fail(c, "unknown field");
      else if (addl) bad = v_node(c, doc, addl, m, depth + 1);
    }
    path_pop(c, saved);
    if (bad) return 1;
  }

  const cJSON *req = cJSON_GetObjectItemCaseSensitive(schema, "required");
  cJSON_ArrayForEach(k, req) {
    if (cJSON_GetObjectItemCaseSensitive(inst, k->valuestring)) continue;
    /* Named by the missing field, but it is the object that fails. */
    size_t saved = path_push(c, k->valuestring, 0);
    fail(c, "is required");
    path_pop(c, saved);
    if (!c->quiet) c->err_level = c->level;
    return 1;
  }

  const cJSON *dep = cJSON_GetObjectItemCaseSensitive(schema, "dependentRequired");
  cJSON_ArrayForEach(k, dep) {
    if (!cJSON_GetObjectItemCaseSensitive(inst, k->string)) continue;
    cJSON_ArrayForEach(m, k) {
      if (cJSON_GetObjectItemCaseSensitive(inst, m->valuestring)) continue;
      size_t saved = path_push(c, m->valuestring, 0);
      fail(c, "is required when %s is given", k->string);
      path_pop(c, saved);
      if (!c->quiet) c->err_level = c->level;
      return 1;
    }
  }
  return 0;
}

/* Evaluates a branch for its verdict only. */
static int v_quiet(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst,
                   int depth) {
  c->quiet++;
  int bad = v_node(c, doc, schema, inst, depth + 1);
  c->quiet--;
  return bad;
}

static int v_combinators(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst,
                         int depth) {
  const cJSON *k, *br;
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "allOf"))) {
    cJSON_ArrayForEach(br, k) if (v_node(c, doc, br, inst, depth + 1)) return 1;
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "anyOf"))) {
    int ok = 0;
    cJSON_ArrayForEach(br, k) {
      if (!v_quiet(c, doc, br, inst, depth)) {
        ok = 1;
        break;
      }
      if (c->aborted) return 1;
    }
    if (!ok) return fail(c, "does not match any of the allowed forms");
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "oneOf"))) {
    int matched = 0;
    cJSON_ArrayForEach(br, k) {
      if (!v_quiet(c, doc, br, inst, depth)) matched++;
      if (c->aborted) return 1;
      if (matched > 1) break;
    }
    if (matched == 0) return fail(c, "does not match any of the allowed forms");
    if (matched > 1) return fail(c, "matches more than one of the exclusive forms");
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "not"))) {
    int bad = v_quiet(c, doc, k, inst, depth);
    if (c->aborted) return 1;
    if (!bad) return fail(c, "not allowed");
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "if"))) {
    int bad = v_quiet(c, doc, k, inst, depth);
    if (c->aborted) return 1;
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(schema, bad ? "else" : "then");
    if (next && v_node(c, doc, next, inst, depth + 1)) return 1;
  }
  return 0;
}

static int v_keywords(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst,
                      int depth) {
  const cJSON *k;
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "$ref"))) {
    const sdoc *to;
    const cJSON *target = resolve_ref(c->s, doc, k->valuestring, &to);
    if (!target) return abort_walk(c, "schema error: $ref %s leads nowhere", k->valuestring);
    if (v_node(c, to, target, inst, depth + 1)) return 1;
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "type")) && v_type(c, k, inst)) return 1;
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "const")) && !cJSON_Compare(inst, k, 1)) {
    char want[128];
    show_value(k, want, sizeof(want));
    return fail(c, "must be %s", want);
  }
  if ((k = cJSON_GetObjectItemCaseSensitive(schema, "enum")) && v_enum(c, k, inst)) return 1;

  if (cJSON_IsNumber(inst) && v_number(c, schema, inst->valuedouble)) return 1;
  if (cJSON_IsString(inst) && v_string(c, schema, inst->valuestring)) return 1;
  if (cJSON_IsArray(inst) && v_array(c, doc, schema, inst, depth)) return 1;
  if (cJSON_IsObject(inst) && v_object(c, doc, schema, inst, depth)) return 1;
  return v_combinators(c, doc, schema, inst, depth);
}

/* 0 when inst is valid against schema, 1 when not (the first error, if any
 * is wanted, is in c->err). */
static int v_node(vctx *c, const sdoc *doc, const cJSON *schema, const cJSON *inst, int depth) {
  if (c->aborted) return 1;
  if (depth > PB_SCHEMA_MAX_DEPTH) return abort_walk(c, "nested too deeply");
  if (++c->steps > PB_SCHEMA_MAX_STEPS) return abort_walk(c, "too complex to validate");
  if (cJSON_IsTrue(schema)) return 0;
  if (!cJSON_IsObject(schema)) return fail(c, "not allowed");

  int level = c->level;
  int bad = v_keywords(c, doc, schema, inst, depth);
  /* An x-message rewords failures of this subschema at this field; a failure
   * further down (viewport.width inside viewport) keeps its own, sharper
   * message, and the innermost x-message wins over enclosing ones. */
  const cJSON *xmsg = cJSON_GetObjectItemCaseSensitive(schema, "x-message");
  if (bad && xmsg && !c->quiet && !c->err_custom && c->have_err && c->err_level == level) {
    if (c->errcap) snprintf(c->err, c->errcap, "%s: %s", path_str(c), xmsg->valuestring);
    c->err_custom = 1;
  }
  return bad;
}

int pb_schemas_validate(const pb_schemas *s, const char *name, const cJSON *doc, char *err,
                        size_t errcap) {
  if (errcap) err[0] = '\0';
  if (!s || !name) return PB_EINVAL;
  const sdoc *d = doc_by_name(s, name, strlen(name));
  if (!d) {
    if (errcap) snprintf(err, errcap, "unknown schema %s", name);
    return PB_ENOTFOUND;
  }
  if (!doc) {
    if (errcap) snprintf(err, errcap, "(root): expected a JSON value");
    return PB_EINVAL;
  }
  vctx c;
  memset(&c, 0, sizeof(c));
  c.s = s;
  c.err = err;
  c.errcap = errcap;
  int bad = v_node(&c, d, d->root, doc, 0);
  if (bad && !c.have_err) fail(&c, "invalid"); /* every failure records one; belt and braces */
  return bad || c.aborted ? PB_EINVAL : 0;
}

int pb_schema_validate_tenant(const cJSON *schema, const cJSON *doc, char *err, size_t errcap) {
  if (errcap) err[0] = '\0';
  if (!schema || !doc) {
    if (errcap) snprintf(err, errcap, "schema: missing");
    return PB_EINVAL;
  }
  /* One document of its own: a $ref of the tenant's reaches only into it. */
  pb_schemas *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  s->docs = calloc(1, sizeof(*s->docs));
  int rc = PB_ENOMEM;
  if (!s->docs || !(s->docs[0].name = strdup("schema"))) goto out;
  s->ndocs = 1;
  if (!(s->docs[0].root = cJSON_Duplicate(schema, 1))) goto out;
  loadctx l = {s, &s->docs[0], err, errcap, 1};
  rc = check_schema(&l, s->docs[0].root, 0);
  if (rc) goto out;
  rc = pb_schemas_validate(s, "schema", doc, err, errcap);
out:
  if (rc == PB_ENOMEM && errcap) snprintf(err, errcap, "out of memory");
  pb_schemas_free(s);
  return rc;
}
