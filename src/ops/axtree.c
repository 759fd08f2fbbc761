/* The accessibility tree, as Puppeteer's page.accessibility.snapshot()
 * builds it from Accessibility.getFullAXTree: the flat node list becomes a
 * tree; with interestingOnly the nodes a screen reader would stop at are
 * kept (focusable, controls, named leaves) and the rest lift their children
 * up; each node is {role, name, value, description, states...}.
 *
 * Bounded three times: the page's DOM is counted before Chromium is asked
 * (a tree for a huge page is refused, not read), and the answer stops at a
 * node count, a depth and a text size, saying it was cut. The walks recurse
 * at most PB_AXTREE_MAX_DEPTH deep. */
#include "ops/axtree.h"

#include "common/json.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const cJSON *src; /* the CDP node, borrowed from the reply */
  const char *role, *name;
  int *kids, nkids;
  int has_parent;
  int ignored, focusable, richly_editable, editable, hidden;
  int busy, live, modal, errormessage, details, roledescription;
  signed char leaf; /* -1: not computed */
} axnode;

typedef struct {
  axnode *n;
  int count;
  int *slots; /* open addressing, nodeId -> index + 1 */
  size_t nslots;
  unsigned char *interesting;
  /* the answer's budget */
  int emitted;
  size_t text;
  int truncated;
} axtree;

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static const char *node_id(const cJSON *node) {
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(node, "nodeId");
  return cJSON_IsString(id) ? id->valuestring : NULL;
}

static int find(const axtree *t, const char *id) {
  for (size_t i = hash_str(id) & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
    int s = t->slots[i];
    if (!s) return -1;
    if (!strcmp(node_id(t->n[s - 1].src), id)) return s - 1;
  }
}

static const char *ax_value_str(const cJSON *axvalue) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(axvalue, "value");
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void read_node(axnode *a, const cJSON *src) {
  a->src = src;
  a->leaf = -1;
  a->role = ax_value_str(cJSON_GetObjectItemCaseSensitive(src, "role"));
  if (!a->role) a->role = "Unknown";
  a->name = ax_value_str(cJSON_GetObjectItemCaseSensitive(src, "name"));
  a->ignored = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "ignored"));
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(src, "properties")) {
    const char *name = pb_json_str(p, "name");
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "value"), "value");
    if (!name) continue;
    if (!strcmp(name, "editable")) {
      a->editable = 1;
      a->richly_editable = cJSON_IsString(v) && !strcmp(v->valuestring, "richtext");
    } else if (!strcmp(name, "focusable")) {
      a->focusable = cJSON_IsTrue(v);
    } else if (!strcmp(name, "hidden")) {
      a->hidden = cJSON_IsTrue(v);
    } else if (!strcmp(name, "busy")) {
      a->busy = cJSON_IsTrue(v);
    } else if (!strcmp(name, "live")) {
      a->live = cJSON_IsString(v) && v->valuestring[0] && strcmp(v->valuestring, "off");
    } else if (!strcmp(name, "modal")) {
      a->modal = cJSON_IsTrue(v);
    } else if (!strcmp(name, "errormessage")) {
      a->errormessage = 1;
    } else if (!strcmp(name, "details")) {
      a->details = 1;
    } else if (!strcmp(name, "roledescription")) {
      a->roledescription = cJSON_IsString(v) && v->valuestring[0];
    }
  }
}

/* Builds the index and the children lists. -1 when out of memory. */
static int build(axtree *t, const cJSON *nodes) {
  t->count = cJSON_GetArraySize(nodes);
  t->n = calloc((size_t)(t->count ? t->count : 1), sizeof(*t->n));
  t->nslots = 16;
  while (t->nslots < (size_t)t->count * 2) t->nslots <<= 1;
  t->slots = calloc(t->nslots, sizeof(*t->slots));
  t->interesting = calloc((size_t)(t->count ? t->count : 1), 1);
  if (!t->n || !t->slots || !t->interesting) return -1;
  int i = 0;
  const cJSON *node;
  cJSON_ArrayForEach(node, nodes) {
    const char *id = node_id(node);
    read_node(&t->n[i], node);
    if (id && find(t, id) < 0) {
      size_t s = hash_str(id) & (t->nslots - 1);
      while (t->slots[s]) s = (s + 1) & (t->nslots - 1);
      t->slots[s] = i + 1;
    } else {
      t->n[i].src = NULL; /* no id, or seen already: left out */
    }
    i++;
  }
  for (i = 0; i < t->count; i++) {
    if (!t->n[i].src) continue;
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(t->n[i].src, "childIds"), *c;
    int m = cJSON_GetArraySize(ids);
    if (m <= 0) continue;
    t->n[i].kids = malloc((size_t)m * sizeof(int));
    if (!t->n[i].kids) return -1;
    cJSON_ArrayForEach(c, ids) {
      int k = cJSON_IsString(c) ? find(t, c->valuestring) : -1;
      /* each node has one parent: a second claim (a malformed reply) is dropped */
      if (k < 0 || k == i || t->n[k].has_parent) continue;
      t->n[k].has_parent = 1;
      t->n[i].kids[t->n[i].nkids++] = k;
    }
  }
  return 0;
}

static void axtree_free(axtree *t) {
  for (int i = 0; t->n && i < t->count; i++) free(t->n[i].kids);
  free(t->n);
  free(t->slots);
  free(t->interesting);
}

/* ---- Puppeteer's judgement of a node (AXNode in its Accessibility.ts) ---- */

static int is_one_of(const char *role, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(role, *list)) return 1;
  return 0;
}

static int is_control(const axnode *a) {
  static const char *const roles[] = {
      "button",        "checkbox", "ColorWell", "combobox",  "DisclosureTriangle",
      "listbox",       "menu",     "menubar",   "menuitem",  "menuitemcheckbox",
      "menuitemradio", "radio",    "scrollbar", "searchbox", "slider",
      "spinbutton",    "switch",   "tab",       "textbox",   "tree",
      "treeitem",      NULL};
  return is_one_of(a->role, roles);
}

static int has_focusable_child(const axtree *t, const axnode *a, int depth) {
  if (depth > PB_AXTREE_MAX_DEPTH) return 0;
  for (int i = 0; i < a->nkids; i++) {
    const axnode *k = &t->n[a->kids[i]];
    if (k->focusable || has_focusable_child(t, k, depth + 1)) return 1;
  }
  return 0;
}

static int is_leaf(const axtree *t, axnode *a) {
  if (a->leaf >= 0) return a->leaf;
  static const char *const text_only[] = {"LineBreak", "text", "InlineTextBox", "StaticText", NULL};
  static const char *const leaves[] = {
      "doc-cover", "graphics-symbol", "img",       "image",       "Meter",
      "scrollbar", "slider",          "separator", "progressbar", NULL};
  int plain_field = !a->richly_editable &&
                    (a->editable || !strcmp(a->role, "textbox") || !strcmp(a->role, "searchbox"));
  int leaf;
  if (!a->nkids || plain_field || is_one_of(a->role, text_only) || is_one_of(a->role, leaves))
    leaf = 1;
  else if (has_focusable_child(t, a, 0))
    leaf = 0;
  else
    leaf = !strcmp(a->role, "heading") && a->name && *a->name;
  a->leaf = (signed char)leaf;
  return leaf;
}

static int is_landmark(const axnode *a) {
  static const char *const roles[] = {"banner",     "complementary", "contentinfo", "form", "main",
                                      "navigation", "region",        "search",      NULL};
  return is_one_of(a->role, roles);
}

static int is_interesting(const axtree *t, axnode *a, int inside_control) {
  if (!strcmp(a->role, "Ignored") || a->hidden || a->ignored) return 0;
  if (is_landmark(a)) return 1;
  if (a->focusable || a->richly_editable || a->busy || a->live || a->modal || a->errormessage ||
      a->details || a->roledescription)
    return 1;
  if (is_control(a)) return 1;
  if (inside_control) return 0;
  const char *desc = ax_value_str(cJSON_GetObjectItemCaseSensitive(a->src, "description"));
  return is_leaf(t, a) && ((a->name && *a->name) || (desc && *desc));
}

static void collect(axtree *t, int i, int inside_control, int depth) {
  axnode *a = &t->n[i];
  if (depth > PB_AXTREE_MAX_DEPTH) return;
  if (is_interesting(t, a, inside_control)) t->interesting[i] = 1;
  if (is_leaf(t, a)) return;
  inside_control = inside_control || is_control(a);
  for (int k = 0; k < a->nkids; k++) collect(t, a->kids[k], inside_control, depth + 1);
}

/* ---- serialisation ---- */

static const cJSON *prop_value(const axnode *a, const char *name) {
  const cJSON *p;
  cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(a->src, "properties")) {
    const char *n = pb_json_str(p, "name");
    if (n && !strcmp(n, name))
      return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "value"),
                                              "value");
  }
  return NULL;
}

/* Adds a text member within the answer's text budget. */
static void add_text(axtree *t, cJSON *o, const char *key, const char *s) {
  size_t len = strlen(s);
  if (t->text + len > PB_AXTREE_MAX_TEXT) {
    t->truncated = 1;
    return;
  }
  t->text += len;
  cJSON_AddStringToObject(o, key, s);
}

static cJSON *serialize_node(axtree *t, const axnode *a) {
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "role", a->role);
  if (a->name) add_text(t, o, "name", a->name);
  const cJSON *v =
      cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a->src, "value"), "value");
  if (cJSON_IsString(v))
    add_text(t, o, "value", v->valuestring);
  else if (cJSON_IsNumber(v))
    cJSON_AddNumberToObject(o, "value", v->valuedouble);
  const char *desc = ax_value_str(cJSON_GetObjectItemCaseSensitive(a->src, "description"));
  if (desc) add_text(t, o, "description", desc);
  /* Puppeteer's url is left out, as Cloudflare's answers leave it */
  static const char *const strings[] = {"keyshortcuts", "roledescription", "valuetext", NULL};
  for (const char *const *k = strings; *k; k++) {
    const cJSON *p = prop_value(a, *k);
    if (cJSON_IsString(p)) add_text(t, o, *k, p->valuestring);
  }
  static const char *const flags[] = {
      "disabled", "expanded", "focused",  "modal", "multiline", "multiselectable",
      "readonly", "required", "selected", "busy",  "atomic",    NULL};
  for (const char *const *k = flags; *k; k++) {
    if (!strcmp(*k, "focused") && !strcmp(a->role, "RootWebArea")) continue;
    const cJSON *p = prop_value(a, *k);
    if (p)
      cJSON_AddBoolToObject(o, *k,
                            cJSON_IsTrue(p) || (cJSON_IsString(p) && p->valuestring[0]) ||
                                (cJSON_IsNumber(p) && p->valuedouble != 0));
  }
  static const char *const tristates[] = {"checked", "pressed", NULL};
  for (const char *const *k = tristates; *k; k++) {
    const cJSON *p = prop_value(a, *k);
    if (!p) continue;
    if (cJSON_IsString(p) && !strcmp(p->valuestring, "mixed"))
      cJSON_AddStringToObject(o, *k, "mixed");
    else
      cJSON_AddBoolToObject(
          o, *k, cJSON_IsTrue(p) || (cJSON_IsString(p) && !strcmp(p->valuestring, "true")));
  }
  static const char *const numbers[] = {"level", "valuemax", "valuemin", NULL};
  for (const char *const *k = numbers; *k; k++) {
    const cJSON *p = prop_value(a, *k);
    if (cJSON_IsNumber(p)) cJSON_AddNumberToObject(o, *k, p->valuedouble);
  }
  static const char *const tokens[] = {"autocomplete", "haspopup", "invalid",
                                       "orientation",  "live",     "relevant",
                                       "errormessage", "details",  NULL};
  for (const char *const *k = tokens; *k; k++) {
    const cJSON *p = prop_value(a, *k);
    if (cJSON_IsString(p) && p->valuestring[0] && strcmp(p->valuestring, "false"))
      cJSON_AddStringToObject(o, *k, p->valuestring);
  }
  return o;
}

/* Appends node i's serialisation to out: the node itself when it is kept,
 * else its kept descendants. Without interesting_only every node is kept,
 * ignored ones too, as Puppeteer does. */
static void serialize(axtree *t, int i, int interesting_only, int depth, cJSON *out) {
  axnode *a = &t->n[i];
  if (depth > PB_AXTREE_MAX_DEPTH || t->emitted >= PB_AXTREE_MAX_NODES) {
    t->truncated = 1;
    return;
  }
  int keep = interesting_only ? t->interesting[i] : 1;
  if (!keep) {
    /* a dropped node's subtree is visited only as far as it may keep some */
    if (interesting_only && is_leaf(t, a)) return;
    for (int k = 0; k < a->nkids; k++) serialize(t, a->kids[k], interesting_only, depth + 1, out);
    return;
  }
  cJSON *o = serialize_node(t, a);
  if (!o) return;
  t->emitted++;
  cJSON_AddItemToArray(out, o);
  cJSON *kids = cJSON_CreateArray();
  if (!(interesting_only && is_leaf(t, a)))
    for (int k = 0; k < a->nkids; k++) serialize(t, a->kids[k], interesting_only, depth + 1, kids);
  if (cJSON_GetArraySize(kids))
    cJSON_AddItemToObject(o, "children", kids);
  else
    cJSON_Delete(kids);
}

/* The page's node count, stopping past the cap. */
static const char count_js[] =
    "(cap) => { let n = 0; const w = document.createTreeWalker(document, NodeFilter.SHOW_ALL);"
    " while (w.nextNode()) if (++n > cap) break; return n; }";

/* The backend node id of the first element matching root: 0 none, -1 not a
 * valid selector (or a failure: res is set then and -2). */
static long long root_backend_id(pb_nav *nav, const char *root, pb_op_result *res) {
  cJSON *sel = cJSON_CreateString(root);
  char *quoted = cJSON_PrintUnformatted(sel);
  cJSON_Delete(sel);
  if (!quoted) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory"), -2;
  pb_buf js;
  pb_buf_init(&js, (size_t)1 << 20);
  pb_buf_printf(
      &js,
      "(() => { try { return document.querySelector(%s); } catch (e) { return 'invalid'; } })()",
      quoted);
  free(quoted);
  cJSON *p = cJSON_CreateObject(), *r = NULL;
  cJSON_AddStringToObject(p, "expression", js.data ? js.data : "null");
  pb_buf_free(&js);
  int rc = pb_nav_call(nav, "Runtime.evaluate", p, &r);
  if (rc) return pb_op_fail_rc(res, rc, "finding root"), -2;
  const cJSON *obj = cJSON_GetObjectItemCaseSensitive(r, "result");
  const char *type = pb_json_str(obj, "type"), *oid = pb_json_str(obj, "objectId");
  long long id = 0;
  if (type && !strcmp(type, "string")) {
    id = -1;
  } else if (oid) {
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "objectId", oid);
    cJSON *d = NULL;
    rc = pb_nav_call(nav, "DOM.describeNode", p, &d);
    if (rc) {
      cJSON_Delete(r);
      return pb_op_fail_rc(res, rc, "finding root"), -2;
    }
    const cJSON *bid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(d, "node"),
                                                        "backendNodeId");
    id = cJSON_IsNumber(bid) ? (long long)bid->valuedouble : 0;
    cJSON_Delete(d);
    p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "objectId", oid);
    pb_nav_call(nav, "Runtime.releaseObject", p, NULL);
  }
  cJSON_Delete(r);
  return id;
}

int pb_axtree_snapshot(pb_nav *nav, const char *root, int interesting_only, cJSON **tree,
                       int *truncated, pb_op_result *res) {
  *tree = NULL;
  *truncated = 0;
  char err[512];
  cJSON *args = cJSON_CreateArray(), *count = NULL;
  cJSON_AddItemToArray(args, cJSON_CreateNumber(PB_AXTREE_MAX_DOM_NODES));
  int rc = pb_nav_apply(nav, count_js, args, &count, err, sizeof(err));
  cJSON_Delete(args);
  if (rc == PB_EINVAL)
    return pb_op_fail(res, PB_CODE_PAGE_ERROR, "counting the page's nodes: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "counting the page's nodes");
  int too_many = cJSON_IsNumber(count) && count->valuedouble > PB_AXTREE_MAX_DOM_NODES;
  cJSON_Delete(count);
  if (too_many)
    return pb_op_fail(res, PB_CODE_PAGE_TOO_LARGE,
                      "the page has more than %d DOM nodes; its accessibility tree is not read "
                      "past that",
                      PB_AXTREE_MAX_DOM_NODES);
  long long want = 0;
  if (root) {
    want = root_backend_id(nav, root, res);
    if (want == -2) return -1;
    if (want == -1)
      return pb_op_fail(res, PB_CODE_INVALID_SELECTOR, "root: '%s' is not a valid CSS selector",
                        root);
    if (want == 0) return 0; /* Cloudflare: null */
  }
  cJSON *reply = NULL;
  rc = pb_nav_call(nav, "Accessibility.getFullAXTree", cJSON_CreateObject(), &reply);
  if (rc == PB_ECDP)
    return pb_op_fail(res, PB_CODE_PAGE_TOO_LARGE,
                      "the page's accessibility tree could not be read (over %zu MiB?)",
                      PB_CDP_MESSAGE_MAX >> 20);
  if (rc) return pb_op_fail_rc(res, rc, "reading the accessibility tree");
  axtree t;
  memset(&t, 0, sizeof(t));
  if (build(&t, cJSON_GetObjectItemCaseSensitive(reply, "nodes"))) {
    axtree_free(&t);
    cJSON_Delete(reply);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  }
  int top = -1, needle = -1;
  for (int i = 0; i < t.count && top < 0; i++)
    if (t.n[i].src && !t.n[i].has_parent) top = i;
  if (root) {
    for (int i = 0; i < t.count && needle < 0; i++) {
      const cJSON *b =
          t.n[i].src ? cJSON_GetObjectItemCaseSensitive(t.n[i].src, "backendDOMNodeId") : NULL;
      if (cJSON_IsNumber(b) && (long long)b->valuedouble == want) needle = i;
    }
  } else {
    needle = top;
  }
  if (top >= 0 && needle >= 0) {
    if (interesting_only) collect(&t, top, 0, 0);
    if (!interesting_only || t.interesting[needle]) {
      cJSON *out = cJSON_CreateArray();
      serialize(&t, needle, interesting_only, 0, out);
      *tree = cJSON_DetachItemFromArray(out, 0);
      cJSON_Delete(out);
    }
  }
  *truncated = t.truncated;
  axtree_free(&t);
  cJSON_Delete(reply);
  return 0;
}

static const char meta_js[] =
    "(full) => { const nav = performance.getEntriesByType('navigation')[0];"
    " const st = nav && nav.responseStatus ? nav.responseStatus : null;"
    " const m = {status: st, title: document.title};"
    " if (!full) return m;"
    " const meta = (n) => { const e = "
    "document.querySelector(`meta[name=\"${n}\"],meta[property=\"${n}\"]`);"
    "  return e && e.content ? e.content.slice(0, 4096) : null; };"
    " const link = document.querySelector('link[rel~=\"canonical\"][href]');"
    " m.url = location.href; m.description = meta('description');"
    " m.canonical = link ? link.href : null; m.lang = document.documentElement.lang || null;"
    " const og = {};"
    " let k = 0;"
    " for (const e of document.querySelectorAll('meta[property^=\"og:\"],meta[name^=\"og:\"],"
    "meta[name^=\"twitter:\"],meta[property^=\"twitter:\"]')) {"
    "  if (++k > 100) break; const n = e.getAttribute('property') || e.getAttribute('name');"
    "  if (!(n in og) && e.content) og[n.slice(0, 100)] = e.content.slice(0, 4096); }"
    " m.tags = og; return m; }";

cJSON *pb_page_meta(pb_nav *nav, int full) {
  cJSON *args = cJSON_CreateArray(), *out = NULL;
  cJSON_AddItemToArray(args, cJSON_CreateBool(full));
  char err[256];
  int rc = pb_nav_apply(nav, meta_js, args, &out, err, sizeof(err));
  cJSON_Delete(args);
  if (rc) {
    cJSON_Delete(out);
    return NULL;
  }
  return out;
}

/* {success, result:{accessibilityTree}, meta:{status, title}}, Cloudflare's
 * answer, with truncated when a cap cut the tree. */
int pb_op_axtree(pb_job *job, pb_op_result *res) {
  const pb_cf_opts *o = &job->opts.cf;
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *tree = NULL;
  int truncated = 0;
  if (pb_axtree_snapshot(nav, o->ax_root, o->interesting_only, &tree, &truncated, res)) {
    pb_nav_close(nav, res);
    return -1;
  }
  cJSON *meta = pb_page_meta(nav, 0);
  pb_nav_close(nav, res);
  cJSON *env = cJSON_CreateObject(), *result = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddItemToObject(result, "accessibilityTree", tree ? tree : cJSON_CreateNull());
  cJSON_AddItemToObject(env, "result", result);
  if (truncated) cJSON_AddTrueToObject(env, "truncated");
  if (meta) cJSON_AddItemToObject(env, "meta", meta);
  return pb_op_json_object(res, env);
}
