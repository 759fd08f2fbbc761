/* HTML -> Markdown.
 *
 * How it works, and why this way:
 *  1. The input is parsed as a browser would: by our fast parser
 *     (fastparse.c), which builds gumbo's tree exactly for the documents it
 *     is sure of and declines the rest, which gumbo parses. Parsing was
 *     most of the time with gumbo alone; the tests and the fuzz target
 *     check that both parsers give the same Markdown. We copy the <body>
 *     into a small mutable tree (md_node), dropping comments, <script>,
 *     <style>, <noscript>, <template>, <svg> and everything past max_depth
 *     (kept as plain text), and reading <base href>. Nesting is capped as
 *     Chromium caps it (past 512 open elements a node goes to the current
 *     node's parent); markup nested too deep for gumbo (past 4096 levels)
 *     loses the tags past that depth and keeps their text.
 *  2. Whitespace is collapsed exactly as turndown's collapse-whitespace does,
 *     so text flows the way turndown users expect.
 *  3. Each element is replaced bottom-up by a rule (turndown's rule set, same
 *     option names and defaults), and adjacent pieces are joined with
 *     turndown's newline arithmetic. Text nodes are escaped with turndown's
 *     escapes plus those it misses ('<' that would open raw HTML, '&' that
 *     would form an entity, "1)" list markers), so no raw HTML leaks.
 *  On top of turndown: <pre> with or without <code> is a code block with the
 *  language from class="language-x"; inline code uses the text only; GFM
 *  tables (no header row, colspan, rowspan, '|' escaped, layout tables as
 *  blocks), strikethrough and task lists; block content inside links and
 *  headings is flattened to one line; runs of <br> become a paragraph break;
 *  lazy images (data-src, srcset); URLs resolved against baseUrl and <base>.
 *
 * The emitter is ours rather than cmark-gfm's commonmark renderer because
 * turndown-compatible output (setext underlines, "* * *", "*   " items,
 * turndown's minimal escaping) is not something cmark's renderer can produce;
 * cmark-gfm is used by the tests and the fuzz target as the oracle that the
 * output parses into the intended structure and never contains raw HTML.
 */
#include "render/html2md.h"

#include <cjson/cJSON.h>
#include <gumbo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/pb.h"
#include "common/url.h"
#include "render/fastparse.h"

/* ---------- small string builder with a cap ---------- */

typedef struct {
  char *p;
  size_t n, cap;
} sb;

typedef struct md_node md_node;

typedef struct {
  const pb_md_opts *o;
  int err;
  pb_arena arena; /* the mutable tree: nodes, their text and attributes */
  const char *base; /* effective absolute base URL or NULL */
  char *base_owned;
  sb refs; /* referenced-link definitions */
  int nrefs;
  int in_cell; /* > 0 inside a GFM table cell or a link: one line only */
  int clean;   /* the parser's text has no control bytes to remove */
  /* buffers of finished builders, reused: most rules build a few small
   * strings, and malloc/free of each was a fifth of the time */
  int npool;
  char *pool_p[32];
  size_t pool_cap[32];
} ctx;

static void sb_free(sb *b) {
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

static int sb_grow(ctx *c, sb *b, size_t add) {
  if (c->err) return -1;
  if (add > c->o->max_output || b->n + add > c->o->max_output) {
    c->err = PB_ETOOBIG;
    return -1;
  }
  if (b->n + add + 1 > b->cap) {
    if (!b->p && c->npool) {
      c->npool--;
      b->p = c->pool_p[c->npool];
      b->cap = c->pool_cap[c->npool];
      if (b->n + add + 1 <= b->cap) return 0;
    }
    size_t nc = b->cap ? b->cap * 2 : 64;
    while (nc < b->n + add + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) {
      c->err = PB_ENOMEM;
      return -1;
    }
    b->p = np;
    b->cap = nc;
  }
  return 0;
}

/* Done with b: its buffer goes back to the pool. */
static void sb_drop(ctx *c, sb *b) {
  if (b->p && c->npool < 32 && b->cap <= 65536) {
    c->pool_p[c->npool] = b->p;
    c->pool_cap[c->npool] = b->cap;
    c->npool++;
  } else {
    free(b->p);
  }
  b->p = NULL;
  b->n = b->cap = 0;
}

static void sb_add(ctx *c, sb *b, const char *s, size_t n) {
  if (!n) return;
  if (b->n + n < b->cap && b->n + n <= c->o->max_output && !c->err) {
    /* room already: the common case, kept short */
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return;
  }
  if (sb_grow(c, b, n)) return;
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}

static void sb_adds(ctx *c, sb *b, const char *s) {
  sb_add(c, b, s, strlen(s));
}

static void sb_addc(ctx *c, sb *b, char ch) {
  sb_add(c, b, &ch, 1);
}

static void sb_rep(ctx *c, sb *b, char ch, size_t n) {
  if (sb_grow(c, b, n)) return;
  memset(b->p + b->n, ch, n);
  b->n += n;
  b->p[b->n] = 0;
}

/* ---------- arena for the tree ---------- */

static inline void *arena_alloc(ctx *c, size_t n) {
  void *p = pb_arena_alloc(&c->arena, n);
  if (!p) c->err = PB_ENOMEM;
  return p;
}

/* ---------- the mutable tree ---------- */

#define TAG_TEXT (-1)
/* Stands for the first space of an indentation we mean (indented code, a
 * list nested in a list) until the final output; never occurs in text, which
 * has its control bytes removed. */
#define IND_MARK '\x01'

struct md_node {
  md_node *parent, *first, *last, *prev, *next;
  const pb_hattr *attrs; /* elements: attributes */
  unsigned nattrs;
  char *text; /* text nodes, mutable, NUL-terminated */
  size_t tlen;
  int tag;   /* GumboTag or TAG_TEXT */
  int index; /* index among the parent's element children */
  unsigned char ws_only, has_void, has_mwb, is_code, layout;
  unsigned char alt; /* list right after a list of its kind: other marker */
};

static void append_child(md_node *p, md_node *n) {
  n->parent = p;
  n->prev = p->last;
  if (p->last)
    p->last->next = n;
  else
    p->first = n;
  p->last = n;
}

static void unlink_node(md_node *n) {
  md_node *p = n->parent;
  if (n->prev)
    n->prev->next = n->next;
  else
    p->first = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    p->last = n->prev;
  n->parent = n->prev = n->next = NULL;
}

static md_node *new_node(ctx *c, int tag) {
  md_node *n = pb_arena_calloc(&c->arena, sizeof(*n));
  if (!n) {
    c->err = PB_ENOMEM;
    return NULL;
  }
  n->tag = tag;
  return n;
}

/* C0 controls other than tab, newline, form feed and carriage return carry
 * nothing in Markdown; removing them keeps IND_MARK unambiguous. */
static int ctrl_byte(char ch) {
  unsigned char u = (unsigned char)ch;
  return (u < 0x20 && u != '\t' && u != '\n' && u != '\f' && u != '\r') || u == 0x7F;
}

static md_node *new_text(ctx *c, const char *s, size_t len) {
  md_node *n = new_node(c, TAG_TEXT);
  if (!n) return NULL;
  n->text = arena_alloc(c, len + 1);
  if (!n->text) return NULL;
  size_t o = 0;
  if (c->clean) {
    memcpy(n->text, s, len);
    o = len;
  } else {
    for (size_t i = 0; i < len; i++)
      if (!ctrl_byte(s[i])) n->text[o++] = s[i];
  }
  n->text[o] = 0;
  n->tlen = o;
  return n;
}

/* turndown's element classes */
static int is_block_tag(int t) {
  switch (t) {
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_AUDIO:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_CANVAS:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DIR:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FRAMESET:
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_HGROUP:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_ISINDEX:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_MENU:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_OUTPUT:
    case GUMBO_TAG_P:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY:
      return 1;
    default:
      return 0;
  }
}

static int is_void_tag(int t) {
  switch (t) {
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_META:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
    case GUMBO_TAG_WBR:
      return 1;
    default:
      return 0;
  }
}

static int is_mwb_tag(int t) {
  switch (t) {
    case GUMBO_TAG_A:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_AUDIO:
    case GUMBO_TAG_VIDEO:
      return 1;
    default:
      return 0;
  }
}

static int is_block(const md_node *n) {
  return n->tag != TAG_TEXT && is_block_tag(n->tag);
}

static int is_pre(const ctx *c, const md_node *n) {
  return n->tag == GUMBO_TAG_PRE || (c->o->preformatted_code && n->tag == GUMBO_TAG_CODE);
}

static int is_code_tag(int t) {
  return t == GUMBO_TAG_CODE || t == GUMBO_TAG_KBD || t == GUMBO_TAG_SAMP || t == GUMBO_TAG_TT;
}

/* name is lower case, as both parsers store attribute names */
static const char *attr(const md_node *n, const char *name) {
  for (unsigned i = 0; i < n->nattrs; i++)
    if (!strcmp(n->attrs[i].name, name)) return n->attrs[i].value;
  return NULL;
}

/* ---------- UTF-8 and JavaScript's \s ---------- */

static int js_space_cp(unsigned cp) {
  return (cp >= 9 && cp <= 13) || cp == 32 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

/* Decodes one code point at s[i] (i < n); sets *len. Invalid bytes: len 1. */
static unsigned utf8_at(const char *s, size_t n, size_t i, size_t *len) {
  const unsigned char *u = (const unsigned char *)s + i;
  size_t left = n - i;
  if (u[0] < 0x80 || left < 2) {
    *len = 1;
    return u[0];
  }
  if ((u[0] & 0xE0) == 0xC0 && (u[1] & 0xC0) == 0x80) {
    *len = 2;
    return ((u[0] & 0x1Fu) << 6) | (u[1] & 0x3Fu);
  }
  if ((u[0] & 0xF0) == 0xE0 && left >= 3 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80) {
    *len = 3;
    return ((u[0] & 0x0Fu) << 12) | ((u[1] & 0x3Fu) << 6) | (u[2] & 0x3Fu);
  }
  if ((u[0] & 0xF8) == 0xF0 && left >= 4 && (u[1] & 0xC0) == 0x80 && (u[2] & 0xC0) == 0x80 &&
      (u[3] & 0xC0) == 0x80) {
    *len = 4;
    return ((u[0] & 0x07u) << 18) | ((u[1] & 0x3Fu) << 12) | ((u[2] & 0x3Fu) << 6) | (u[3] & 0x3Fu);
  }
  *len = 1;
  return u[0];
}

/* Bytes of JS whitespace at the start of s. */
static size_t lead_ws(const char *s, size_t n) {
  size_t i = 0, l;
  while (i < n && js_space_cp(utf8_at(s, n, i, &l))) i += l;
  return i;
}

/* Bytes of JS whitespace at the end of s. */
static size_t trail_ws(const char *s, size_t n) {
  size_t e = n;
  while (e > 0) {
    size_t b = e - 1, l;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80 && e - b < 4) b--;
    unsigned cp = utf8_at(s, n, b, &l);
    if (b + l != e || !js_space_cp(cp)) break;
    e = b;
  }
  return n - e;
}

static int ascii_ws(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* UTF-16 length, what JavaScript's .length counts (setext underlines). */
static size_t js_length(const char *s, size_t n) {
  size_t i = 0, k = 0, l;
  while (i < n) {
    unsigned cp = utf8_at(s, n, i, &l);
    k += cp >= 0x10000 ? 2 : 1;
    i += l;
  }
  return k;
}

/* ---------- building the tree from gumbo ---------- */

/* Elements whose whole subtree is left out, by tag (either parser). */
static int hdropped(int tag) {
  switch (tag) {
    case GUMBO_TAG_SCRIPT:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_NOSCRIPT:
    case GUMBO_TAG_TEMPLATE:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_TITLE:
    case GUMBO_TAG_META:
    case GUMBO_TAG_LINK:
    case GUMBO_TAG_BASE:
    case GUMBO_TAG_SVG:
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_OBJECT:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_SELECT:
    case GUMBO_TAG_DATALIST:
    case GUMBO_TAG_MAP:
    case GUMBO_TAG_CANVAS:
      return 1;
    default:
      return 0;
  }
}

static int dropped_tag(const GumboNode *g) {
  if (g->type == GUMBO_NODE_TEMPLATE) return 1;
  if (g->type != GUMBO_NODE_ELEMENT) return 0;
  if (g->v.element.tag_namespace == GUMBO_NAMESPACE_SVG) return 1;
  return hdropped((int)g->v.element.tag);
}

/* Appends the text under g (past the depth cap) as text children of p. */
static void flatten_text(ctx *c, md_node *p, GumboNode *top) {
  /* iterative pre-order walk with parent pointers: no recursion */
  GumboNode *g = top;
  for (;;) {
    int descend = 0;
    if (g->type == GUMBO_NODE_TEXT || g->type == GUMBO_NODE_WHITESPACE ||
        g->type == GUMBO_NODE_CDATA) {
      md_node *t = new_text(c, g->v.text.text, strlen(g->v.text.text));
      if (!t) return;
      append_child(p, t);
    } else if (g->type == GUMBO_NODE_ELEMENT && !dropped_tag(g) && g->v.element.children.length) {
      descend = 1;
    }
    if (descend) {
      g = g->v.element.children.data[0];
      continue;
    }
    while (g != top) {
      GumboNode *par = g->parent;
      size_t idx = g->index_within_parent;
      if (idx + 1 < par->v.element.children.length) {
        g = par->v.element.children.data[idx + 1];
        break;
      }
      g = par;
    }
    if (g == top) return;
  }
}

static void build(ctx *c, md_node *p, GumboNode *g, int depth) {
  GumboVector *kids = &g->v.element.children;
  int eidx = 0;
  for (size_t i = 0; i < kids->length && !c->err; i++) {
    GumboNode *k = kids->data[i];
    if (k->type == GUMBO_NODE_TEXT || k->type == GUMBO_NODE_WHITESPACE ||
        k->type == GUMBO_NODE_CDATA) {
      md_node *t = new_text(c, k->v.text.text, strlen(k->v.text.text));
      if (t) append_child(p, t);
      continue;
    }
    if (k->type != GUMBO_NODE_ELEMENT || dropped_tag(k)) continue;
    if (depth >= c->o->max_depth) {
      flatten_text(c, p, k);
      continue;
    }
    md_node *e = new_node(c, (int)k->v.element.tag);
    if (!e) return;
    GumboVector *av = &k->v.element.attributes;
    if (av->length) {
      pb_hattr *a = arena_alloc(c, av->length * sizeof(*a));
      if (!a) return;
      for (unsigned j = 0; j < av->length; j++) {
        a[j].name = ((GumboAttribute *)av->data[j])->name;
        a[j].value = ((GumboAttribute *)av->data[j])->value;
      }
      e->attrs = a;
      e->nattrs = av->length;
    }
    /* an <ol> counts its <li>s only, whatever else a page puts there */
    e->index = k->v.element.tag == GUMBO_TAG_LI ? eidx++ : eidx;
    append_child(p, e);
    build(c, e, k, depth + 1);
  }
}

/* The same tree from the fast parser's (see fastparse.h): what build and
 * flatten_text keep from gumbo's, they keep from this one. */

static void flatten_htext(ctx *c, md_node *p, const pb_hnode *top) {
  const pb_hnode *h = top;
  for (;;) {
    if (h->tag == PB_HNODE_TEXT) {
      md_node *t = new_text(c, h->text, h->tlen);
      if (!t) return;
      append_child(p, t);
    } else if (!hdropped(h->tag) && h->first) {
      h = h->first;
      continue;
    }
    while (h != top && !h->next) h = h->parent;
    if (h == top) return;
    h = h->next;
  }
}

static void build_fast(ctx *c, md_node *p, const pb_hnode *h, int depth) {
  int eidx = 0;
  for (const pb_hnode *k = h->first; k && !c->err; k = k->next) {
    if (k->tag == PB_HNODE_TEXT) {
      md_node *t = new_text(c, k->text, k->tlen);
      if (t) append_child(p, t);
      continue;
    }
    if (hdropped(k->tag)) continue;
    if (depth >= c->o->max_depth) {
      flatten_htext(c, p, k);
      continue;
    }
    md_node *e = new_node(c, k->tag);
    if (!e) return;
    e->attrs = k->attrs;
    e->nattrs = k->nattrs;
    e->index = k->tag == GUMBO_TAG_LI ? eidx++ : eidx;
    append_child(p, e);
    build_fast(c, e, k, depth + 1);
  }
}

/* ---------- turndown's collapse-whitespace ---------- */

static md_node *next_node(ctx *c, md_node *prev, md_node *cur) {
  if ((prev && prev->parent == cur) || is_pre(c, cur)) return cur->next ? cur->next : cur->parent;
  return cur->first ? cur->first : (cur->next ? cur->next : cur->parent);
}

static md_node *remove_node(md_node *n) {
  md_node *nx = n->next ? n->next : n->parent;
  unlink_node(n);
  return nx;
}

static void collapse(ctx *c, md_node *root) {
  if (!root->first || is_pre(c, root)) return;
  md_node *prev_text = NULL, *prev = NULL;
  int keep_leading = 0;
  md_node *node = next_node(c, NULL, root);
  while (node != root) {
    if (node->tag == TAG_TEXT) {
      /* replace runs of [ \r\n\t] with one space, in place; the part
       * before the first run to change stays where it is */
      size_t o = 0;
      char *tx = node->text;
      while (o < node->tlen && (tx[o] != ' ' || (o + 1 < node->tlen && !ascii_ws(tx[o + 1]))) &&
             tx[o] != '\n' && tx[o] != '\t' && tx[o] != '\r')
        o++;
      for (size_t i = o; i < node->tlen;) {
        if (ascii_ws(node->text[i])) {
          while (i < node->tlen && ascii_ws(node->text[i])) i++;
          node->text[o++] = ' ';
        } else {
          node->text[o++] = node->text[i++];
        }
      }
      node->tlen = o;
      node->text[o] = 0;
      char *t = node->text;
      if ((!prev_text || (prev_text->tlen && prev_text->text[prev_text->tlen - 1] == ' ')) &&
          !keep_leading && node->tlen && t[0] == ' ') {
        node->text++;
        node->tlen--;
      }
      if (!node->tlen) {
        node = remove_node(node);
        continue;
      }
      prev_text = node;
    } else {
      if (is_block(node) || node->tag == GUMBO_TAG_BR) {
        if (prev_text && prev_text->tlen && prev_text->text[prev_text->tlen - 1] == ' ')
          prev_text->text[--prev_text->tlen] = 0;
        prev_text = NULL;
        keep_leading = 0;
      } else if (is_void_tag(node->tag) || is_pre(c, node)) {
        prev_text = NULL;
        keep_leading = 1;
      } else if (prev_text) {
        keep_leading = 0;
      }
    }
    md_node *nx = next_node(c, prev, node);
    prev = node;
    node = nx;
  }
  if (prev_text) {
    if (prev_text->tlen && prev_text->text[prev_text->tlen - 1] == ' ')
      prev_text->text[--prev_text->tlen] = 0;
    if (!prev_text->tlen) remove_node(prev_text);
  }
}

/* Post-order flags for isBlank, and isCode; recursion is bounded by max_depth. */
static void flags(md_node *n, int parent_code) {
  n->ws_only = 1;
  n->is_code = (unsigned char)(parent_code || (n->tag != TAG_TEXT && is_code_tag(n->tag)));
  if (n->tag == TAG_TEXT) {
    n->ws_only = lead_ws(n->text, n->tlen) == n->tlen;
    return;
  }
  const md_node *prev_el = NULL;
  for (md_node *k = n->first; k; k = k->next) {
    flags(k, n->is_code);
    if (k->tag != TAG_TEXT) {
      /* CommonMark would merge two adjacent lists with the same marker */
      if (prev_el && prev_el->tag == k->tag && (k->tag == GUMBO_TAG_UL || k->tag == GUMBO_TAG_OL))
        k->alt = !prev_el->alt;
      prev_el = k;
    } else if (!k->ws_only) {
      prev_el = NULL;
    }
    n->ws_only &= k->ws_only;
    if (k->tag != TAG_TEXT) {
      n->has_void |= (unsigned char)(k->has_void || is_void_tag(k->tag));
      n->has_mwb |= (unsigned char)(k->has_mwb || is_mwb_tag(k->tag));
      if (k->tag == GUMBO_TAG_TABLE && n->tag != GUMBO_TAG_TABLE)
        n->layout = 1; /* "contains a table": read by the enclosing table */
      n->layout |= k->layout && k->tag != GUMBO_TAG_TABLE;
    }
  }
}

static int is_blank(const md_node *n) {
  return n->tag != TAG_TEXT && !is_void_tag(n->tag) && !is_mwb_tag(n->tag) && n->ws_only &&
         !n->has_void && !n->has_mwb;
}

/* textContent into b (with <br> as sep_br when non-NULL). */
static void text_content(ctx *c, const md_node *n, sb *b, const char *sep_br) {
  if (n->tag == TAG_TEXT) {
    sb_add(c, b, n->text, n->tlen);
    return;
  }
  if (sep_br && n->tag == GUMBO_TAG_BR) sb_adds(c, b, sep_br);
  for (const md_node *k = n->first; k; k = k->next) text_content(c, k, b, sep_br);
}

/* Code text of a <pre>: raw text, <br> and block children as line breaks. */
static void code_text(ctx *c, const md_node *n, sb *b) {
  if (n->tag == TAG_TEXT) {
    sb_add(c, b, n->text, n->tlen);
    return;
  }
  if (n->tag == GUMBO_TAG_BR) {
    sb_addc(c, b, '\n');
    return;
  }
  int blk = is_block(n) || n->tag == GUMBO_TAG_TR;
  if (blk && b->n && b->p[b->n - 1] != '\n') sb_addc(c, b, '\n');
  for (const md_node *k = n->first; k; k = k->next) code_text(c, k, b);
  if (blk && b->n && b->p[b->n - 1] != '\n' && n->next) sb_addc(c, b, '\n');
}

static int ends_with_space(ctx *c, const md_node *n) {
  if (n->tag == TAG_TEXT) return n->tlen && n->text[n->tlen - 1] == ' ';
  sb t = {0};
  text_content(c, n, &t, NULL);
  int r = t.n && t.p[t.n - 1] == ' ';
  sb_drop(c, &t);
  return r;
}

static int starts_with_space(ctx *c, const md_node *n) {
  if (n->tag == TAG_TEXT) return n->tlen && n->text[0] == ' ';
  sb t = {0};
  text_content(c, n, &t, NULL);
  int r = t.n && t.p[0] == ' ';
  sb_drop(c, &t);
  return r;
}

static int flanked(ctx *c, const md_node *n, int left) {
  const md_node *s = left ? n->prev : n->next;
  if (!s) return 0;
  if (s->tag == TAG_TEXT)
    return left ? (s->tlen && s->text[s->tlen - 1] == ' ') : (s->tlen && s->text[0] == ' ');
  if (c->o->preformatted_code && s->tag == GUMBO_TAG_CODE) return 0;
  if (!is_block(s)) return left ? ends_with_space(c, s) : starts_with_space(c, s);
  return 0;
}

/* ---------- escaping ---------- */

static void escape_text(ctx *c, sb *b, const char *s, size_t n, int line_start) {
  size_t i = 0;
  /* turndown's start-of-text escapes, where the text can start a line */
  if (!line_start) {
  } else if (n && s[0] == '-') {
    sb_adds(c, b, "\\-");
    i = 1;
  } else if (n >= 2 && s[0] == '+' && s[1] == ' ') {
    sb_adds(c, b, "\\+ ");
    i = 2;
  } else if (n && s[0] == '=') {
    sb_addc(c, b, '\\');
  } else if (n && s[0] == '#') {
    size_t h = 0;
    while (h < n && s[h] == '#') h++;
    if (h <= 6 && h < n && s[h] == ' ') sb_addc(c, b, '\\');
  } else if (n >= 3 && !memcmp(s, "~~~", 3)) {
    sb_addc(c, b, '\\');
  } else if (n && s[0] == '>') {
    sb_addc(c, b, '\\');
  } else if (n && s[0] >= '0' && s[0] <= '9') {
    size_t d = 0;
    while (d < n && s[d] >= '0' && s[d] <= '9') d++;
    if (d + 1 < n && (s[d] == '.' || s[d] == ')') && s[d + 1] == ' ') {
      sb_add(c, b, s, d);
      sb_addc(c, b, '\\');
      i = d;
    }
  }
  static const unsigned char special[256] = {
      [1] = 1,   [2] = 1,   [3] = 1,   [4] = 1,   [5] = 1,    [6] = 1,   [7] = 1,   [8] = 1,
      [11] = 1,  [14] = 1,  [15] = 1,  [16] = 1,  [17] = 1,   [18] = 1,  [19] = 1,  [20] = 1,
      [21] = 1,  [22] = 1,  [23] = 1,  [24] = 1,  [25] = 1,   [26] = 1,  [27] = 1,  [28] = 1,
      [29] = 1,  [30] = 1,  [31] = 1,  [127] = 1, ['\\'] = 1, ['*'] = 1, ['`'] = 1, ['['] = 1,
      [']'] = 1, ['_'] = 1, ['<'] = 1, ['&'] = 1};
  for (; i < n; i++) {
    size_t j = i;
    while (j < n && !special[(unsigned char)s[j]]) j++;
    sb_add(c, b, s + i, j - i);
    if (j >= n) break;
    i = j;
    char ch = s[i];
    if (ctrl_byte(ch)) continue;
    switch (ch) {
      case '\\':
      case '*':
      case '`':
      case '[':
      case ']':
      case '_':
        sb_addc(c, b, '\\');
        break;
      case '<':
        /* would open raw HTML or an autolink */
        if (i + 1 < n && (((s[i + 1] | 32) >= 'a' && (s[i + 1] | 32) <= 'z') || s[i + 1] == '/' ||
                          s[i + 1] == '!' || s[i + 1] == '?'))
          sb_addc(c, b, '\\');
        break;
      case '&': {
        size_t j = i + 1;
        while (j < n && j - i < 40 &&
               (((s[j] | 32) >= 'a' && (s[j] | 32) <= 'z') || (s[j] >= '0' && s[j] <= '9') ||
                s[j] == '#'))
          j++;
        if (j > i + 1 && j < n && s[j] == ';') sb_addc(c, b, '\\');
        break;
      }
      default:
        break;
    }
    sb_addc(c, b, ch);
  }
}

/* Replaces runs of newlines with "\n" and trims lines' leading space, as
 * turndown's cleanAttribute: /(\n+\s*)+/g -> "\n". */
static void clean_attr(ctx *c, sb *b, const char *s) {
  size_t n = strlen(s);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && s[j] != '\n' && !ctrl_byte(s[j])) j++;
    if (j > i) {
      sb_add(c, b, s + i, j - i);
      i = j;
      continue;
    }
    if (s[i] == '\n') {
      while (i < n) {
        if (s[i] == '\n') {
          i++;
          size_t l = lead_ws(s + i, n - i);
          i += l;
        } else {
          break;
        }
      }
      sb_addc(c, b, '\n');
    } else {
      if (!ctrl_byte(s[i])) sb_addc(c, b, s[i]);
      i++;
    }
  }
}

/* ---------- join ---------- */

static void join(ctx *c, sb *out, const char *r, size_t rn) {
  size_t t = 0, l = 0;
  while (t < out->n && out->p[out->n - 1 - t] == '\n') t++;
  while (l < rn && r[l] == '\n') l++;
  size_t nls = t > l ? t : l;
  if (nls > 2) nls = 2;
  /* Spaces at the start of a line would make an indented code block (or
   * nothing); code indentation we mean is written as IND_MARK. */
  if (nls || !out->n) {
    size_t k = l;
    while (k < rn && r[k] == ' ') k++;
    if (k == rn || r[k] != '\n') l = k;
  }
  out->n -= t;
  if (nls == 2 && t < 2) {
    /* a line break right before a paragraph break means nothing */
    size_t e = out->n;
    while (e && out->p[e - 1] == ' ') e--;
    if (out->n - e >= 2 && e && out->p[e - 1] != '\n') out->n = e;
  }
  if (out->p) out->p[out->n] = 0;
  sb_add(c, out, "\n\n", nls);
  sb_add(c, out, r + l, rn - l);
}

/* ---------- URLs ---------- */

static char *resolve(ctx *c, const char *u) {
  char *r = NULL;
  size_t n = strlen(u);
  if (c->base && n && u[0] != '#' && !pb_url_has_scheme(u, n)) {
    int rc = pb_url_resolve(c->base, u, n, &r);
    if (rc == PB_ENOMEM) c->err = rc;
    if (!rc) return r;
  }
  /* trim surrounding whitespace as browsers do */
  size_t a = 0;
  while (a < n && ascii_ws(u[a])) a++;
  while (n > a && ascii_ws(u[n - 1])) n--;
  r = malloc(n - a + 1);
  if (!r) {
    c->err = PB_ENOMEM;
    return NULL;
  }
  memcpy(r, u + a, n - a);
  r[n - a] = 0;
  return r;
}

/* Link destination: <...> when it has spaces, else ( ) escaped. */
/* bytes add_dest does not copy as they are (the controls, space, ()\\<>) */
static const char k_dest_special[] =
    "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15"
    "\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ()\\<>\x7f";

static void add_dest(ctx *c, sb *b, const char *u) {
  int space = strpbrk(u, " \n\t\r") != NULL;
  if (space) {
    sb_addc(c, b, '<');
    for (const char *p = u; *p; p++) {
      if (ctrl_byte(*p)) continue;
      if (*p == '<' || *p == '>' || *p == '\\') sb_addc(c, b, '\\');
      if (*p == '\n' || *p == '\r')
        sb_adds(c, b, "%0A");
      else
        sb_addc(c, b, *p);
    }
    sb_addc(c, b, '>');
    return;
  }
  for (const char *p = u; *p; p++) {
    const char *q = p;
    q += strcspn(q, k_dest_special);
    if (q > p) {
      sb_add(c, b, p, (size_t)(q - p));
      p = q - 1;
      continue;
    }
    if (ctrl_byte(*p)) continue;
    if (*p == '(' || *p == ')' || (*p == '\\' && (p[1] == '(' || p[1] == ')'))) sb_addc(c, b, '\\');
    if (*p == '<' || *p == '>')
      sb_adds(c, b, *p == '<' ? "%3C" : "%3E");
    else
      sb_addc(c, b, *p);
  }
}

static void add_title(ctx *c, sb *b, const char *title) {
  if (!title || !*title) return;
  sb t = {0};
  clean_attr(c, &t, title);
  if (t.n) {
    sb_adds(c, b, " \"");
    for (size_t i = 0; i < t.n; i++) {
      if (t.p[i] == '"' || t.p[i] == '\\') sb_addc(c, b, '\\');
      sb_addc(c, b, t.p[i]);
    }
    sb_addc(c, b, '"');
  }
  sb_drop(c, &t);
}

/* ---------- rules ---------- */

static void process(ctx *c, const md_node *n, sb *out);

/* Collapses every whitespace run containing a newline into one space and
 * trims: block content inside a link, heading or table cell. */
static void flatten_lines(ctx *c, sb *s, int escape_pipes) {
  sb o = {0};
  size_t i = 0;
  while (i < s->n) {
    size_t l = lead_ws(s->p + i, s->n - i);
    if (l) {
      int nl = memchr(s->p + i, '\n', l) != NULL;
      if (nl) {
        /* keep a hard break's meaning as a plain space */
        while (o.n && o.p[o.n - 1] == ' ') o.n--;
        if (o.n && o.p[o.n - 1] == '\\' && (o.n < 2 || o.p[o.n - 2] != '\\')) o.n--;
        if (o.n) sb_addc(c, &o, ' ');
      } else {
        sb_add(c, &o, s->p + i, l);
      }
      i += l;
      continue;
    }
    if (escape_pipes && s->p[i] == '|') sb_addc(c, &o, '\\');
    sb_addc(c, &o, s->p[i]);
    i++;
  }
  while (o.n && o.p[o.n - 1] == ' ') o.n--;
  if (o.p) o.p[o.n] = 0;
  sb_drop(c, s);
  *s = o;
}

static const char *lang_of(const md_node *pre) {
  static const char *prefixes[] = {"language-", "lang-", "highlight-source-", "brush: ", NULL};
  const md_node *cands[3] = {NULL, pre, pre->parent};
  for (const md_node *k = pre->first; k; k = k->next)
    if (k->tag == GUMBO_TAG_CODE) {
      cands[0] = k;
      break;
    }
  for (int i = 0; i < 3; i++) {
    const char *cl = cands[i] ? attr(cands[i], "class") : NULL;
    if (!cl) continue;
    for (int p = 0; prefixes[p]; p++) {
      const char *m = strstr(cl, prefixes[p]);
      if (m && (m == cl || m[-1] == ' ')) return m + strlen(prefixes[p]);
    }
  }
  return NULL;
}

static void rule_link(ctx *c, const md_node *n, sb *r, sb *content);

/* A code block cannot hold links: those inside a <pre> (cross-references in
 * RFC-style text) are listed in a paragraph right after the block. */
static void pre_links(ctx *c, const md_node *pre, sb *r) {
  sb line = {0};
  const md_node *k = pre->first;
  while (k && k != pre) {
    if (k->tag == GUMBO_TAG_A && attr(k, "href")) {
      sb text = {0}, one = {0};
      text_content(c, k, &text, " ");
      sb esc = {0};
      escape_text(c, &esc, text.p ? text.p : "", text.n, 0);
      rule_link(c, k, &one, &esc);
      if (one.n && one.p[0] == '[') {
        if (line.n) sb_addc(c, &line, ' ');
        sb_add(c, &line, one.p, one.n);
      }
      sb_drop(c, &text);
      sb_drop(c, &one);
      sb_drop(c, &esc);
    } else if (k->first) {
      k = k->first;
      continue;
    }
    while (k != pre && !k->next) k = k->parent;
    if (k != pre) k = k->next;
  }
  if (line.n) {
    join(c, r, "\n\n", 2);
    sb_add(c, r, line.p, line.n);
    sb_adds(c, r, "\n\n");
  }
  sb_drop(c, &line);
}

static void rule_pre(ctx *c, const md_node *n, sb *r) {
  sb code = {0};
  for (const md_node *k = n->first; k; k = k->next) code_text(c, k, &code);
  if (c->in_cell) {
    /* no block code in a table cell: an inline span of the text */
    for (size_t i = 0; i < code.n; i++)
      if (code.p[i] == '\n') code.p[i] = ' ';
    size_t maxrun = 0, run = 0;
    for (size_t i = 0; i < code.n; i++) {
      run = code.p[i] == '`' ? run + 1 : 0;
      if (run > maxrun) maxrun = run;
    }
    sb_rep(c, r, '`', maxrun + 1);
    int pad = code.n && (code.p[0] == '`' || code.p[code.n - 1] == '`');
    if (pad) sb_addc(c, r, ' ');
    sb_add(c, r, code.p, code.n);
    if (pad) sb_addc(c, r, ' ');
    sb_rep(c, r, '`', maxrun + 1);
    sb_drop(c, &code);
    return;
  }
  if (c->o->code_block_style == PB_MD_CODE_INDENTED) {
    sb_adds(c, r, "\n\n\x01   ");
    if (code.n && code.p[code.n - 1] == '\n')
      code.n--; /* the block's own line end, as for fences */
    for (size_t i = 0; i < code.n; i++) {
      sb_addc(c, r, code.p[i]);
      if (code.p[i] == '\n') sb_adds(c, r, "\x01   ");
    }
    sb_adds(c, r, "\n\n");
  } else {
    char fc = c->o->fence[0] == '~' ? '~' : '`';
    size_t size = 3;
    for (size_t i = 0; i < code.n; i++) {
      if ((i == 0 || code.p[i - 1] == '\n') && code.p[i] == fc) {
        size_t k = i;
        while (k < code.n && code.p[k] == fc) k++;
        if (k - i >= size) size = k - i + 1;
      }
    }
    sb_adds(c, r, "\n\n");
    sb_rep(c, r, fc, size);
    const char *lang = lang_of(n);
    if (lang) {
      size_t ll = 0;
      while (lang[ll] && !ascii_ws(lang[ll]) && lang[ll] != '`' && ll < 64) ll++;
      if (!(lang[ll] == '`')) sb_add(c, r, lang, ll);
    }
    sb_addc(c, r, '\n');
    size_t cn = code.n;
    if (cn && code.p[cn - 1] == '\n') cn--;
    sb_add(c, r, code.p, cn);
    sb_addc(c, r, '\n');
    sb_rep(c, r, fc, size);
    sb_adds(c, r, "\n\n");
  }
  sb_drop(c, &code);
  pre_links(c, n, r);
}

static void rule_inline_code(ctx *c, const md_node *n, sb *r, int trim) {
  sb t = {0};
  text_content(c, n, &t, " ");
  if (trim && t.n) {
    size_t a = lead_ws(t.p, t.n);
    size_t z = a < t.n ? trail_ws(t.p + a, t.n - a) : 0;
    memmove(t.p, t.p + a, t.n - a - z);
    t.n -= a + z;
    t.p[t.n] = 0;
  }
  if (!t.n) {
    sb_drop(c, &t);
    return;
  }
  for (size_t i = 0; i < t.n; i++)
    if (t.p[i] == '\n' || t.p[i] == '\r') t.p[i] = ' ';
  /* /^`|^ .*?[^ ].* $|`$/ */
  int extra = t.p[0] == '`' || t.p[t.n - 1] == '`';
  if (!extra && t.n >= 2 && t.p[0] == ' ' && t.p[t.n - 1] == ' ') {
    for (size_t i = 1; i + 1 < t.n; i++)
      if (t.p[i] != ' ') extra = 1;
  }
  /* shortest run of backticks not present in the text */
  size_t d = 1;
  for (;;) {
    int found = 0;
    for (size_t i = 0; i < t.n;) {
      if (t.p[i] == '`') {
        size_t k = i;
        while (k < t.n && t.p[k] == '`') k++;
        if (k - i == d) found = 1;
        i = k;
      } else {
        i++;
      }
    }
    if (!found) break;
    d++;
  }
  sb_rep(c, r, '`', d);
  if (extra) sb_addc(c, r, ' ');
  sb_add(c, r, t.p, t.n);
  if (extra) sb_addc(c, r, ' ');
  sb_rep(c, r, '`', d);
  sb_drop(c, &t);
}

/* '_' does not emphasise inside a word: is n glued to a word on either side? */
/* Is the code point before s[e] (or at s[0]) part of a word? Non-ASCII
 * counts as a letter unless it is whitespace. */
static int wordy_cp(unsigned cp) {
  if (cp < 0x80) return ((cp | 32) >= 'a' && (cp | 32) <= 'z') || (cp >= '0' && cp <= '9');
  return !js_space_cp(cp);
}

/* '_' does not emphasise inside a word: is n glued to a word on either side? */
static int intraword(ctx *c, const md_node *n) {
  const md_node *p = n->prev, *q = n->next;
  int left = 0, right = 0;
  sb self = {0};
  text_content(c, n, &self, NULL);
  if (!self.n) {
    sb_drop(c, &self);
    return 0;
  }
  size_t l;
  if (p && !is_block(p) && !js_space_cp(utf8_at(self.p, self.n, 0, &l))) {
    sb t = {0};
    text_content(c, p, &t, NULL);
    if (t.n) {
      size_t b = t.n - 1;
      while (b > 0 && ((unsigned char)t.p[b] & 0xC0) == 0x80 && t.n - b < 4) b--;
      left = wordy_cp(utf8_at(t.p, t.n, b, &l));
    }
    sb_drop(c, &t);
  }
  if (q && !is_block(q) && !trail_ws(self.p, self.n)) {
    sb t = {0};
    text_content(c, q, &t, NULL);
    right = t.n && wordy_cp(utf8_at(t.p, t.n, 0, &l));
    sb_drop(c, &t);
  }
  sb_drop(c, &self);
  return left || right;
}

static int edge_space(const sb *s, size_t i) {
  return s->p[i] == ' ' || s->p[i] == '\n' || s->p[i] == '\t';
}

static void rule_delim(ctx *c, const md_node *n, sb *r, sb *content, const char *delim) {
  if (lead_ws(content->p ? content->p : "", content->n) == content->n) return;
  if (memmem(content->p, content->n, "\n\n", 2)) {
    /* emphasis cannot span paragraphs: keep the text */
    sb_add(c, r, content->p, content->n);
    return;
  }
  char alt[4];
  if (delim[0] == '_' && intraword(c, n)) {
    size_t k = strlen(delim);
    memset(alt, '*', k);
    alt[k] = 0;
    delim = alt;
  }
  /* A delimiter next to a space or a line break neither opens nor closes:
   * keep such edges (a trailing <br> above all) outside the delimiters. */
  size_t a = 0, z = content->n;
  while (a < z && edge_space(content, a)) a++;
  for (;;) {
    if (z > a && edge_space(content, z - 1)) {
      z--;
    } else if (z > a + 1 && z < content->n && content->p[z] == '\n' && content->p[z - 1] == '\\' &&
               content->p[z - 2] != '\\') {
      z--;
    } else {
      break;
    }
  }
  sb_add(c, r, content->p, a);
  sb_adds(c, r, delim);
  sb_add(c, r, content->p + a, z - a);
  sb_adds(c, r, delim);
  sb_add(c, r, content->p + z, content->n - z);
}

static void rule_link(ctx *c, const md_node *n, sb *r, sb *content) {
  const char *href = attr(n, "href");
  flatten_lines(c, content, 0);
  if (!href || !*href || !strncasecmp(href, "javascript:", 11) || !content->n) {
    sb_add(c, r, content->p, content->n);
    return;
  }
  char *u = resolve(c, href);
  if (!u) return;
  const char *title = attr(n, "title");
  if (c->o->link_style == PB_MD_LINK_REFERENCED) {
    sb_addc(c, r, '[');
    sb_add(c, r, content->p, content->n);
    sb_addc(c, r, ']');
    char id[32];
    if (c->o->link_reference_style == PB_MD_REF_COLLAPSED) {
      sb_adds(c, r, "[]");
    } else if (c->o->link_reference_style == PB_MD_REF_FULL) {
      snprintf(id, sizeof(id), "[%d]", ++c->nrefs);
      sb_adds(c, r, id);
    }
    if (c->refs.n) sb_addc(c, &c->refs, '\n');
    if (c->o->link_reference_style == PB_MD_REF_FULL) {
      sb_adds(c, &c->refs, id);
    } else {
      sb_addc(c, &c->refs, '[');
      sb_add(c, &c->refs, content->p, content->n);
      sb_addc(c, &c->refs, ']');
    }
    sb_adds(c, &c->refs, ": ");
    add_dest(c, &c->refs, u);
    add_title(c, &c->refs, title);
  } else {
    sb_addc(c, r, '[');
    sb_add(c, r, content->p, content->n);
    sb_adds(c, r, "](");
    add_dest(c, r, u);
    add_title(c, r, title);
    sb_addc(c, r, ')');
  }
  free(u);
}

/* The candidate of a srcset a desktop browser would load: the widest of
 * the "w" ones, else the "1x" one (the size src stands for), else the
 * first. URLs may hold commas (image CDNs put options there); a URL ends at
 * a space, or at commas that end it. Copies it into buf; returns its length
 * (0: none). */
static size_t srcset_pick(const char *ss, char *buf, size_t cap) {
  const char *best = NULL;
  size_t best_len = 0;
  double best_w = -1;
  int best_kind = 0; /* 3 widest w, 2 a 1x, 1 the first */
  const char *p = ss;
  while (*p) {
    while (*p && (ascii_ws(*p) || *p == ',')) p++;
    if (!*p) break;
    const char *u = p;
    while (*p && !ascii_ws(*p)) p++;
    size_t ul = (size_t)(p - u);
    int bare = 0;
    while (ul && u[ul - 1] == ',') {
      ul--;
      bare = 1;
    }
    double w = -1, x = -1;
    if (!bare) {
      /* descriptors, up to the comma that ends the candidate */
      while (*p && *p != ',') {
        while (*p && ascii_ws(*p)) p++;
        const char *d = p;
        while (*p && !ascii_ws(*p) && *p != ',') p++;
        if (p > d + 1 && (p[-1] == 'w' || p[-1] == 'x')) {
          char num[32];
          size_t nl = (size_t)(p - d - 1);
          if (nl < sizeof(num)) {
            memcpy(num, d, nl);
            num[nl] = 0;
            char *end;
            double v = strtod(num, &end);
            if (*end == 0 && v > 0) {
              if (p[-1] == 'w')
                w = v;
              else
                x = v;
            }
          }
        }
      }
    }
    if (!ul) continue;
    int kind = w > 0 ? 3 : (x < 0 || x == 1) ? 2 : 1;
    if (kind > best_kind || (kind == 3 && w > best_w)) {
      if (kind == 1 && best) continue;
      best = u;
      best_len = ul;
      best_kind = kind;
      best_w = w;
    }
  }
  if (!best || best_len + 1 > cap) return 0;
  memcpy(buf, best, best_len);
  buf[best_len] = 0;
  return best_len;
}

/* The image URL: src, unless missing or a data: placeholder next to a lazy
 * one (data-src and kin, then srcset). A lazy image's real URL is what a
 * reader of the Markdown wants, even where a scorer reading src only
 * counts it as an extra image. */
static const char *img_src(const md_node *n, char *buf, size_t cap) {
  static const char *lazy[] = {"data-src", "data-original", "data-lazy-src", "data-url", NULL};
  const char *src = attr(n, "src");
  int placeholder = !src || !*src || !strncmp(src, "data:", 5);
  if (placeholder) {
    for (int i = 0; lazy[i]; i++) {
      const char *v = attr(n, lazy[i]);
      if (v && *v) return v;
    }
    const char *ss = attr(n, "srcset");
    if (!ss || !*ss) ss = attr(n, "data-srcset");
    if (ss && *ss && srcset_pick(ss, buf, cap)) return buf;
  }
  return src && *src ? src : NULL;
}

static void rule_img(ctx *c, const md_node *n, sb *r) {
  char buf[4096];
  const char *src = img_src(n, buf, sizeof(buf));
  if (!src) return;
  char *u = resolve(c, src);
  if (!u) return;
  const char *alt = attr(n, "alt");
  sb_adds(c, r, "![");
  if (alt) {
    sb a = {0};
    clean_attr(c, &a, alt);
    sb e = {0};
    /* escape the alt as text, line by line */
    size_t i = 0;
    while (i <= a.n && a.p) {
      size_t j = i;
      while (j < a.n && a.p[j] != '\n') j++;
      escape_text(c, &e, a.p + i, j - i, 1);
      if (j < a.n) sb_addc(c, &e, '\n');
      i = j + 1;
    }
    if (c->in_cell) flatten_lines(c, &e, 0);
    sb_add(c, r, e.p, e.n);
    sb_drop(c, &a);
    sb_drop(c, &e);
  }
  sb_adds(c, r, "](");
  add_dest(c, r, u);
  add_title(c, r, attr(n, "title"));
  sb_addc(c, r, ')');
  free(u);
}

/* <video>/<audio>: a link to the media, around the poster image if any. */
static void rule_media(ctx *c, const md_node *n, sb *r) {
  const char *src = attr(n, "src");
  for (const md_node *k = n->first; k && (!src || !*src); k = k->next)
    if (k->tag == GUMBO_TAG_SOURCE) src = attr(k, "src");
  const char *poster = attr(n, "poster");
  sb text = {0}, inner = {0};
  process(c, n, &text);
  flatten_lines(c, &text, 0);
  if (poster && *poster) {
    char *u = resolve(c, poster);
    if (u) {
      sb_adds(c, &inner, "![");
      sb_add(c, &inner, text.p, text.n);
      sb_adds(c, &inner, "](");
      add_dest(c, &inner, u);
      sb_addc(c, &inner, ')');
      free(u);
    }
  } else {
    sb_add(c, &inner, text.p, text.n);
  }
  if (src && *src && inner.n) {
    char *u = resolve(c, src);
    if (u) {
      sb_addc(c, r, '[');
      sb_add(c, r, inner.p, inner.n);
      sb_adds(c, r, "](");
      add_dest(c, r, u);
      sb_addc(c, r, ')');
      free(u);
    }
  } else {
    sb_add(c, r, inner.p, inner.n);
  }
  sb_drop(c, &text);
  sb_drop(c, &inner);
}

/* Trailing spaces and line breaks at the end of a block mean nothing. */
static void trim_block_end(sb *s) {
  for (;;) {
    if (s->n && (s->p[s->n - 1] == ' ' || s->p[s->n - 1] == '\n' || s->p[s->n - 1] == '\t')) {
      s->n--;
    } else if (s->n >= 2 && s->p[s->n - 1] == '\\' && s->p[s->n - 2] != '\\' && s->n < s->cap &&
               s->p[s->n] == '\n') {
      s->n--;
    } else {
      break;
    }
  }
  if (s->p) s->p[s->n] = 0;
}

static void rule_heading(ctx *c, const md_node *n, sb *r, sb *content) {
  int level = n->tag - GUMBO_TAG_H1 + 1;
  flatten_lines(c, content, 0);
  if (c->in_cell) {
    sb_add(c, r, content->p, content->n);
    return;
  }
  if (c->o->heading_style == PB_MD_HEADING_SETEXT && level < 3 && content->n) {
    sb_adds(c, r, "\n\n");
    sb_add(c, r, content->p, content->n);
    sb_addc(c, r, '\n');
    sb_rep(c, r, level == 1 ? '=' : '-', js_length(content->p, content->n));
    sb_adds(c, r, "\n\n");
  } else {
    sb_adds(c, r, "\n\n");
    sb_rep(c, r, '#', (size_t)level);
    if (content->n) {
      sb_addc(c, r, ' ');
      sb_add(c, r, content->p, content->n);
    }
    sb_adds(c, r, "\n\n");
  }
}

static void rule_blockquote(ctx *c, sb *r, sb *content) {
  size_t a = 0, e = content->n;
  while (a < e && content->p[a] == '\n') a++;
  while (e > a && content->p[e - 1] == '\n') e--;
  sb_adds(c, r, "\n\n> ");
  for (size_t i = a; i < e; i++) {
    sb_addc(c, r, content->p[i]);
    if (content->p[i] == '\n') sb_adds(c, r, "> ");
  }
  sb_adds(c, r, "\n\n");
}

static int is_list(const md_node *n) {
  return n && (n->tag == GUMBO_TAG_UL || n->tag == GUMBO_TAG_OL || n->tag == GUMBO_TAG_MENU);
}

/* Item separators rule_li leaves for its list to settle: a list is loose
 * (items separated by a blank line) when any item holds a blank line, so
 * that a CommonMark renderer and we agree on every item. */
#define SEP_TIGHT '\x02'  /* after an item without blank lines */
#define SEP_LOOSE '\x03'  /* after an item that ended in a blank line */
#define ITEM_LOOSE '\x04' /* the last item holds a blank line */

static void settle_items(ctx *c, sb *content) {
  int loose = memchr(content->p ? content->p : "", SEP_LOOSE, content->n) ||
              memchr(content->p ? content->p : "", ITEM_LOOSE, content->n);
  sb o = {0};
  for (size_t i = 0; i < content->n; i++) {
    char ch = content->p[i];
    if (ch == SEP_TIGHT)
      sb_adds(c, &o, loose ? "\n\n" : "\n");
    else if (ch == SEP_LOOSE)
      sb_addc(c, &o, '\n');
    else if (ch != ITEM_LOOSE)
      sb_addc(c, &o, ch);
  }
  sb_drop(c, content);
  *content = o;
}

static void rule_list(ctx *c, const md_node *n, sb *r, sb *content) {
  const md_node *p = n->parent;
  settle_items(c, content);
  if (p && p->tag == GUMBO_TAG_LI) {
    const md_node *last = p->last;
    while (last && last->tag == TAG_TEXT) last = last->prev;
    if (last == n) {
      sb_addc(c, r, '\n');
      sb_add(c, r, content->p, content->n);
      return;
    }
  }
  const md_node *prev_li = n->prev;
  while (prev_li && prev_li->tag != GUMBO_TAG_LI) prev_li = prev_li->prev;
  if (is_list(p) && prev_li && prev_li == n->prev) {
    /* a list directly inside a list: nest it under the previous item,
     * whose separator already ends its line */
    sb_adds(c, r, "\x01   ");
    for (size_t i = 0; i < content->n; i++) {
      sb_addc(c, r, content->p[i]);
      if (content->p[i] == '\n' && i + 1 < content->n && content->p[i + 1] != '\n')
        sb_adds(c, r, "\x01   ");
    }
    sb_addc(c, r, '\n');
    return;
  }
  sb_adds(c, r, "\n\n");
  sb_add(c, r, content->p, content->n);
  sb_adds(c, r, "\n\n");
}

static long ol_start(const md_node *ol) {
  const char *s = attr(ol, "start");
  long long v;
  if (s && !pb_parse_int(s, 0, 999999999, &v)) return (long)v;
  return 1;
}

static void rule_li(ctx *c, const md_node *n, sb *r, sb *content) {
  if (c->in_cell) {
    sb_adds(c, r, "\n\n");
    sb_add(c, r, content->p, content->n);
    sb_adds(c, r, "\n\n");
    return;
  }
  char prefix[40];
  const md_node *p = n->parent;
  if (p && p->tag == GUMBO_TAG_OL) {
    snprintf(prefix, sizeof(prefix), "%ld%c  ", ol_start(p) + n->index, p->alt ? ')' : '.');
  } else {
    char b = c->o->bullet_list_marker;
    if (p && p->alt) b = b == '-' ? '*' : '-';
    snprintf(prefix, sizeof(prefix), "%c   ", b);
  }
  size_t indent = strlen(prefix) > 4 ? strlen(prefix) : 4;
  size_t a = 0, e = content->n;
  while (a < e && content->p[a] == '\n') a++;
  int trailing_nl = 0;
  while (e > a && content->p[e - 1] == '\n') {
    e--;
    trailing_nl = 1;
  }
  sb_adds(c, r, prefix);
  for (size_t i = a; i < e; i++) {
    sb_addc(c, r, content->p[i]);
    if (content->p[i] == '\n') sb_rep(c, r, ' ', indent);
  }
  int in_list = is_list(p);
  int inner_blank = e > a && memmem(content->p + a, e - a, "\n\n", 2) != NULL;
  if (trailing_nl && n->next) {
    sb_addc(c, r, '\n');
    sb_rep(c, r, ' ', indent);
    if (in_list)
      sb_addc(c, r, SEP_LOOSE);
    else
      sb_addc(c, r, '\n');
  } else if (n->next) {
    sb_addc(c, r, in_list ? SEP_TIGHT : '\n');
  }
  if (in_list && inner_blank) sb_addc(c, r, ITEM_LOOSE);
}

/* ---------- GFM tables ---------- */

static int collect_rows(ctx *c, const md_node *t, const md_node ***rows, size_t *nrows,
                        int *head_rows) {
  size_t cap = 0;
  *rows = NULL;
  *nrows = 0;
  *head_rows = 0;
  for (const md_node *k = t->first; k; k = k->next) {
    if (k->tag == GUMBO_TAG_TR || k->tag == GUMBO_TAG_THEAD || k->tag == GUMBO_TAG_TBODY ||
        k->tag == GUMBO_TAG_TFOOT) {
      const md_node *first = k->tag == GUMBO_TAG_TR ? k : k->first;
      for (const md_node *tr = first; tr; tr = (k->tag == GUMBO_TAG_TR ? NULL : tr->next)) {
        if (tr->tag != GUMBO_TAG_TR) continue;
        if (*nrows == cap) {
          cap = cap ? cap * 2 : 16;
          const md_node **nr = realloc(*rows, cap * sizeof(*nr));
          if (!nr) {
            c->err = PB_ENOMEM;
            return -1;
          }
          *rows = nr;
        }
        (*rows)[(*nrows)++] = tr;
        if (k->tag == GUMBO_TAG_THEAD) (*head_rows)++;
      }
    }
  }
  return 0;
}

static long span_attr(const md_node *n, const char *name) {
  const char *s = attr(n, name);
  long long v;
  if (s && !pb_parse_int(s, 1, 1000, &v)) return (long)v;
  return 1;
}

static void rule_table(ctx *c, const md_node *t, sb *r) {
  const md_node **rows;
  size_t nrows;
  int head_rows;
  if (collect_rows(c, t, &rows, &nrows, &head_rows)) return;
  /* caption first, as a paragraph */
  for (const md_node *k = t->first; k; k = k->next)
    if (k->tag == GUMBO_TAG_CAPTION) {
      sb cap = {0};
      process(c, k, &cap);
      flatten_lines(c, &cap, 0);
      sb_adds(c, r, "\n\n");
      sb_add(c, r, cap.p, cap.n);
      sb_adds(c, r, "\n\n");
      sb_drop(c, &cap);
    }
  if (!nrows) {
    free(rows);
    return;
  }
  join(c, r, "\n\n", 2);
  /* Render every cell once into a grid; rowspan leaves empty cells below. */
  size_t ncols = 0;
  sb **grid = calloc(nrows, sizeof(*grid));
  size_t *widths = calloc(nrows, sizeof(*widths));
  long *carry = NULL; /* remaining rowspan per column */
  size_t carry_n = 0;
  int first_all_th = 1;
  if (!grid || !widths) {
    c->err = PB_ENOMEM;
    goto out;
  }
  c->in_cell++;
  for (size_t i = 0; i < nrows && !c->err; i++) {
    size_t w = 0, cap = 0;
    sb *cells = NULL;
    size_t col = 0;
    const md_node *cell = rows[i]->first;
    for (;;) {
      /* columns still covered by a rowspan from above */
      while (col < carry_n && carry[col] > 0) {
        carry[col]--;
        if (w == cap) {
          cap = cap ? cap * 2 : 8;
          sb *nc = realloc(cells, cap * sizeof(*nc));
          if (!nc) {
            c->err = PB_ENOMEM;
            break;
          }
          cells = nc;
        }
        cells[w++] = (sb){0};
        col++;
      }
      while (cell && cell->tag != GUMBO_TAG_TD && cell->tag != GUMBO_TAG_TH) cell = cell->next;
      if (!cell || c->err) break;
      if (i == 0 && cell->tag != GUMBO_TAG_TH) first_all_th = 0;
      long cs = span_attr(cell, "colspan"), rs = span_attr(cell, "rowspan");
      for (long k = 0; k < cs; k++) {
        if (w == cap) {
          cap = cap ? cap * 2 : 8;
          sb *nc = realloc(cells, cap * sizeof(*nc));
          if (!nc) {
            c->err = PB_ENOMEM;
            break;
          }
          cells = nc;
        }
        cells[w] = (sb){0};
        if (k == 0) {
          process(c, cell, &cells[w]);
          flatten_lines(c, &cells[w], 1);
        }
        w++;
        if (rs > 1) {
          if (col >= carry_n) {
            long *nc = realloc(carry, (col + 1) * sizeof(*nc));
            if (!nc) {
              c->err = PB_ENOMEM;
              break;
            }
            for (size_t z = carry_n; z <= col; z++) nc[z] = 0;
            carry = nc;
            carry_n = col + 1;
          }
          carry[col] = rs - 1;
        }
        col++;
      }
      cell = cell->next;
    }
    grid[i] = cells;
    widths[i] = w;
    if (w > ncols) ncols = w;
  }
  c->in_cell--;
  if (c->err || !ncols) goto out;
  /* a header row: all <th>, or the single row of a <thead> */
  int header = head_rows == 1 || first_all_th;
  if (!header) {
    /* GFM needs a header row: an empty one keeps every row a data row */
    for (size_t k = 0; k < ncols; k++) sb_adds(c, r, "|  ");
    sb_adds(c, r, "|\n");
    for (size_t k = 0; k < ncols; k++) sb_adds(c, r, "| --- ");
    sb_adds(c, r, "|\n");
  }
  for (size_t i = 0; i < nrows; i++) {
    for (size_t k = 0; k < ncols; k++) {
      sb_adds(c, r, "| ");
      if (k < widths[i] && grid[i][k].n) {
        sb_add(c, r, grid[i][k].p, grid[i][k].n);
        sb_addc(c, r, ' ');
      } else {
        sb_addc(c, r, ' ');
      }
    }
    sb_adds(c, r, "|\n");
    if (i == 0 && header) {
      for (size_t k = 0; k < ncols; k++) sb_adds(c, r, "| --- ");
      sb_adds(c, r, "|\n");
    }
  }
  sb_adds(c, r, "\n\n");
out:
  if (grid) {
    for (size_t i = 0; i < nrows; i++) {
      for (size_t k = 0; k < widths[i]; k++) sb_drop(c, &grid[i][k]);
      free(grid[i]);
    }
  }
  free(grid);
  free(widths);
  free(carry);
  free(rows);
}

static int gfm_table(const ctx *c, const md_node *t) {
  if (!c->o->gfm || t->layout || c->in_cell) return 0;
  /* a single cell is a layout box, not data */
  int cells = 0;
  for (const md_node *s = t->first; s; s = s->next) {
    const md_node *tr0 = s->tag == GUMBO_TAG_TR ? s : s->first;
    for (const md_node *tr = tr0; tr; tr = s->tag == GUMBO_TAG_TR ? NULL : tr->next)
      if (tr->tag == GUMBO_TAG_TR)
        for (const md_node *d = tr->first; d; d = d->next)
          cells += d->tag == GUMBO_TAG_TD || d->tag == GUMBO_TAG_TH;
  }
  return cells > 1;
}

/* ---------- dispatch ---------- */

static void replacement(ctx *c, const md_node *n, sb *out) {
  sb r = {0}, content = {0};
  int t = n->tag, blank = 0;
  if (is_blank(n)) {
    if (is_block(n)) sb_adds(c, &r, "\n\n");
    blank = 1;
    goto flank;
  }
  /* rules that do not need the rendered children */
  if (t == GUMBO_TAG_BR) {
    if (c->in_cell)
      sb_adds(c, &r, " ");
    else {
      sb_adds(c, &r, c->o->br);
      sb_addc(c, &r, '\n');
    }
    goto done;
  }
  if (t == GUMBO_TAG_HR) {
    if (!c->in_cell) {
      sb_adds(c, &r, "\n\n");
      sb_adds(c, &r, c->o->hr);
      sb_adds(c, &r, "\n\n");
    }
    goto done;
  }
  if (t == GUMBO_TAG_IMG) {
    rule_img(c, n, &r);
    goto flank;
  }
  if (t == GUMBO_TAG_PRE || t == GUMBO_TAG_LISTING || t == GUMBO_TAG_XMP ||
      t == GUMBO_TAG_PLAINTEXT) {
    rule_pre(c, n, &r);
    goto done;
  }
  if (is_code_tag(t) && !(n->parent && n->parent->is_code))
    goto flank; /* rendered from the text once flanking space is known */
  if (t == GUMBO_TAG_INPUT) {
    const char *ty = attr(n, "type");
    if (c->o->gfm && ty && !strcasecmp(ty, "checkbox") && n->parent &&
        (n->parent->tag == GUMBO_TAG_LI ||
         (n->parent->parent && n->parent->parent->tag == GUMBO_TAG_LI && !n->prev)))
      sb_adds(c, &r, attr(n, "checked") ? "[x] " : "[ ] ");
    goto done;
  }
  if (t == GUMBO_TAG_TABLE && gfm_table(c, n)) {
    rule_table(c, n, &r);
    goto done;
  }
  if (t == GUMBO_TAG_VIDEO || t == GUMBO_TAG_AUDIO) {
    rule_media(c, n, &r);
    goto done;
  }
  if (t == GUMBO_TAG_BUTTON || t == GUMBO_TAG_TEXTAREA || t == GUMBO_TAG_OPTION) goto done;

  {
    /* block content inside a link is written on one line */
    int flat = t == GUMBO_TAG_A && attr(n, "href");
    c->in_cell += flat;
    process(c, n, &content);
    c->in_cell -= flat;
  }
  if (c->err) goto done;
flank:;
  /* turndown's flankingWhitespace */
  const char *lead = "", *trail = "";
  size_t ll = 0, tl = 0;
  sb tc = {0};
  if (!is_block(n) && !(c->o->preformatted_code && n->is_code)) {
    text_content(c, n, &tc, NULL);
    size_t lall = lead_ws(tc.p ? tc.p : "", tc.n), lasc = 0;
    while (lasc < tc.n && ascii_ws(tc.p[lasc])) lasc++;
    if (lasc > lall) lasc = lall;
    lead = tc.p;
    ll = lall;
    if (lall == tc.n && !blank)
      ll = lall = lasc = 0; /* only images and such: the spaces stay where they are */
    if (lasc && flanked(c, n, 1)) {
      lead = tc.p + lasc;
      ll = lall - lasc;
    }
    if (lall < tc.n) {
      size_t tall = trail_ws(tc.p, tc.n), tasc = 0;
      while (tasc < tc.n && ascii_ws(tc.p[tc.n - 1 - tasc])) tasc++;
      if (tasc > tall) tasc = tall;
      trail = tc.p + tc.n - tall;
      tl = tall;
      if (tasc && flanked(c, n, 0)) tl = tall - tasc;
    }
  }
  if ((ll || tl) && content.n) {
    size_t a = lead_ws(content.p ? content.p : "", content.n);
    size_t z = a < content.n ? trail_ws(content.p + a, content.n - a) : 0;
    memmove(content.p, content.p + a, content.n - a - z);
    content.n -= a + z;
    content.p[content.n] = 0;
  }
  sb rr = {0};
  if (t == TAG_TEXT) {
    /* unreachable */
  } else if (is_code_tag(t) && !blank && !(n->parent && n->parent->is_code)) {
    rule_inline_code(c, n, &rr, ll || tl);
  } else if (blank || t == GUMBO_TAG_IMG) {
    sb_add(c, &rr, r.p, r.n);
  } else if (t == GUMBO_TAG_P) {
    trim_block_end(&content);
    sb_adds(c, &rr, "\n\n");
    sb_add(c, &rr, content.p, content.n);
    sb_adds(c, &rr, "\n\n");
  } else if (t >= GUMBO_TAG_H1 && t <= GUMBO_TAG_H6) {
    rule_heading(c, n, &rr, &content);
  } else if (t == GUMBO_TAG_BLOCKQUOTE && !c->in_cell) {
    rule_blockquote(c, &rr, &content);
  } else if (is_list(n) && !c->in_cell) {
    rule_list(c, n, &rr, &content);
  } else if (t == GUMBO_TAG_LI) {
    rule_li(c, n, &rr, &content);
  } else if (t == GUMBO_TAG_A) {
    rule_link(c, n, &rr, &content);
  } else if (t == GUMBO_TAG_EM || t == GUMBO_TAG_I || t == GUMBO_TAG_CITE || t == GUMBO_TAG_DFN ||
             t == GUMBO_TAG_VAR) {
    rule_delim(c, n, &rr, &content, c->o->em_delimiter);
  } else if (t == GUMBO_TAG_STRONG || t == GUMBO_TAG_B) {
    rule_delim(c, n, &rr, &content, c->o->strong_delimiter);
  } else if (c->o->gfm && (t == GUMBO_TAG_DEL || t == GUMBO_TAG_S || t == GUMBO_TAG_STRIKE)) {
    rule_delim(c, n, &rr, &content, "~~");
  } else if (is_block(n)) {
    if (t != GUMBO_TAG_TD && t != GUMBO_TAG_TH) trim_block_end(&content);
    sb_adds(c, &rr, "\n\n");
    sb_add(c, &rr, content.p, content.n);
    sb_adds(c, &rr, "\n\n");
  } else {
    sb_add(c, &rr, content.p, content.n);
  }
  sb_drop(c, &r);
  sb_add(c, &r, lead, ll);
  sb_add(c, &r, rr.p, rr.n);
  sb_add(c, &r, trail, tl);
  sb_drop(c, &rr);
  sb_drop(c, &tc);
done:
  sb_drop(c, &content);
  join(c, out, r.p ? r.p : "", r.n);
  sb_drop(c, &r);
}

static int is_br(const md_node *n) {
  return n && n->tag == GUMBO_TAG_BR;
}

static void process(ctx *c, const md_node *n, sb *out) {
  for (const md_node *k = n->first; k && !c->err; k = k->next) {
    if (k->tag == TAG_TEXT) {
      if (k->is_code) {
        join(c, out, k->text, k->tlen);
      } else {
        sb e = {0};
        size_t z = out->n;
        while (z && out->p[z - 1] == ' ') z--;
        escape_text(c, &e, k->text, k->tlen, z == 0 || out->p[z - 1] == '\n');
        join(c, out, e.p ? e.p : "", e.n);
        sb_drop(c, &e);
      }
    } else if (is_br(k) && is_br(k->next) && !c->in_cell) {
      /* a run of <br>: one paragraph break */
      while (is_br(k->next)) k = k->next;
      join(c, out, "\n\n", 2);
    } else if (is_br(k) && !k->next && is_block(n) && !c->in_cell) {
      /* a trailing <br> in a block adds nothing */
    } else {
      replacement(c, k, out);
    }
  }
}

/* ---------- entry points ---------- */

void pb_md_opts_default(pb_md_opts *o) {
  memset(o, 0, sizeof(*o));
  o->heading_style = PB_MD_HEADING_SETEXT;
  pb_strlcpy(o->hr, "* * *", sizeof(o->hr));
  o->bullet_list_marker = '*';
  o->code_block_style = PB_MD_CODE_INDENTED;
  pb_strlcpy(o->fence, "```", sizeof(o->fence));
  pb_strlcpy(o->em_delimiter, "_", sizeof(o->em_delimiter));
  pb_strlcpy(o->strong_delimiter, "**", sizeof(o->strong_delimiter));
  o->link_style = PB_MD_LINK_INLINED;
  o->link_reference_style = PB_MD_REF_FULL;
  pb_strlcpy(o->br, "  ", sizeof(o->br));
  o->preformatted_code = 0;
  o->gfm = 1;
  o->max_input = (size_t)32 << 20;
  o->max_output = (size_t)64 << 20;
  o->max_depth = 256;
}

static int fail(char *err, size_t cap, const char *fmt, ...) {
  if (err && cap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
  }
  return PB_EINVAL;
}

static int enum_opt(const cJSON *o, const char *key, const char *const *names, int *out, char *err,
                    size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return fail(err, cap, "%s must be a string", key);
  for (int i = 0; names[i]; i++)
    if (!strcmp(v->valuestring, names[i])) {
      *out = i;
      return 0;
    }
  return fail(err, cap, "%s: unknown value \"%.40s\"", key, v->valuestring);
}

static int str_opt(const cJSON *o, const char *key, const char *const *allowed, char *dst,
                   size_t dcap, char *err, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsString(v)) return fail(err, cap, "%s must be a string", key);
  if (allowed) {
    int ok = 0;
    for (int i = 0; allowed[i]; i++) ok |= !strcmp(v->valuestring, allowed[i]);
    if (!ok) return fail(err, cap, "%s: unsupported value \"%.40s\"", key, v->valuestring);
  }
  if (strlen(v->valuestring) >= dcap)
    return fail(err, cap, "%s: longer than %zu bytes", key, dcap - 1);
  pb_strlcpy(dst, v->valuestring, dcap);
  return 0;
}

static int bool_opt(const cJSON *o, const char *key, int *out, char *err, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  if (!v || cJSON_IsNull(v)) return 0;
  if (!cJSON_IsBool(v)) return fail(err, cap, "%s must be true or false", key);
  *out = cJSON_IsTrue(v);
  return 0;
}

int pb_md_opts_from_json(const cJSON *o, pb_md_opts *out, char *err, size_t errcap) {
  static const char *const headings[] = {"setext", "atx", NULL};
  static const char *const codes[] = {"indented", "fenced", NULL};
  static const char *const links[] = {"inlined", "referenced", NULL};
  static const char *const refs[] = {"full", "collapsed", "shortcut", NULL};
  static const char *const bullets[] = {"*", "-", "+", NULL};
  static const char *const fences[] = {"```", "~~~", NULL};
  static const char *const ems[] = {"_", "*", NULL};
  static const char *const strongs[] = {"**", "__", NULL};
  pb_md_opts t = *out;
  char bullet[4] = {t.bullet_list_marker, 0};
  int rc;
  if (err && errcap) err[0] = 0;
  if (!o) return 0;
  if (!cJSON_IsObject(o)) return fail(err, errcap, "options must be a JSON object");
  if ((rc = enum_opt(o, "headingStyle", headings, &t.heading_style, err, errcap)) ||
      (rc = enum_opt(o, "codeBlockStyle", codes, &t.code_block_style, err, errcap)) ||
      (rc = enum_opt(o, "linkStyle", links, &t.link_style, err, errcap)) ||
      (rc = enum_opt(o, "linkReferenceStyle", refs, &t.link_reference_style, err, errcap)) ||
      (rc = str_opt(o, "hr", NULL, t.hr, sizeof(t.hr), err, errcap)) ||
      (rc = str_opt(o, "bulletListMarker", bullets, bullet, sizeof(bullet), err, errcap)) ||
      (rc = str_opt(o, "fence", fences, t.fence, sizeof(t.fence), err, errcap)) ||
      (rc = str_opt(o, "emDelimiter", ems, t.em_delimiter, sizeof(t.em_delimiter), err, errcap)) ||
      (rc = str_opt(o, "strongDelimiter", strongs, t.strong_delimiter, sizeof(t.strong_delimiter),
                    err, errcap)) ||
      (rc = str_opt(o, "br", NULL, t.br, sizeof(t.br), err, errcap)) ||
      (rc = str_opt(o, "baseUrl", NULL, t.base_url, sizeof(t.base_url), err, errcap)) ||
      (rc = bool_opt(o, "preformattedCode", &t.preformatted_code, err, errcap)) ||
      (rc = bool_opt(o, "gfm", &t.gfm, err, errcap)))
    return rc;
  t.bullet_list_marker = bullet[0];
  const cJSON *pl = cJSON_GetObjectItemCaseSensitive(o, "plugins");
  if (pl && !cJSON_IsNull(pl)) {
    if (!cJSON_IsArray(pl)) return fail(err, errcap, "plugins must be an array");
    const cJSON *it;
    cJSON_ArrayForEach(it, pl) {
      if (cJSON_IsString(it) && !strcmp(it->valuestring, "gfm")) t.gfm = 1;
    }
  }
  *out = t;
  return 0;
}

static const char *find_base_href(GumboNode *g, int depth) {
  if (g->type != GUMBO_NODE_ELEMENT || depth > 4) return NULL;
  if (g->v.element.tag == GUMBO_TAG_BASE) {
    GumboAttribute *a = gumbo_get_attribute(&g->v.element.attributes, "href");
    return a ? a->value : NULL;
  }
  for (size_t i = 0; i < g->v.element.children.length; i++) {
    const char *h = find_base_href(g->v.element.children.data[i], depth + 1);
    if (h) return h;
  }
  return NULL;
}

static GumboNode *find_body(GumboNode *root) {
  for (size_t i = 0; i < root->v.element.children.length; i++) {
    GumboNode *k = root->v.element.children.data[i];
    if (k->type == GUMBO_NODE_ELEMENT && k->v.element.tag == GUMBO_TAG_BODY) return k;
  }
  return NULL;
}

/* gumbo's tree building is superlinear in nesting depth (40 000 levels take
 * seconds and gigabytes), so input is measured before parsing: a rough
 * depth from start and end tags (void elements do not nest). Chromium's own
 * parser flattens at 512 levels, but a script can build any depth. */
#define PARSE_DEPTH_MAX 4096
static int too_deep(const char *h, size_t len) {
  long depth = 0;
  for (size_t i = 0; i + 1 < len; i++) {
    if (h[i] != '<') continue;
    if (h[i + 1] == '/') {
      if (depth > 0) depth--;
      continue;
    }
    if (!((h[i + 1] | 0x20) >= 'a' && (h[i + 1] | 0x20) <= 'z')) continue;
    size_t j = i + 1;
    while (j < len && j - i <= 16 && ((h[j] | 0x20) >= 'a' && (h[j] | 0x20) <= 'z')) j++;
    int is_void = is_void_tag(gumbo_tagn_enum(h + i + 1, (unsigned)(j - i - 1)));
    /* <x/> closes itself */
    size_t gt = j;
    while (gt < len && h[gt] != '>' && gt - j < 4096) gt++;
    if (gt < len && h[gt] == '>' && h[gt - 1] == '/') is_void = 1;
    if (!is_void && ++depth > PARSE_DEPTH_MAX) return 1;
  }
  return 0;
}

static int raw_text_tag(int t) {
  return t == GUMBO_TAG_SCRIPT || t == GUMBO_TAG_STYLE || t == GUMBO_TAG_TEXTAREA ||
         t == GUMBO_TAG_TITLE || t == GUMBO_TAG_XMP || t == GUMBO_TAG_IFRAME ||
         t == GUMBO_TAG_NOEMBED || t == GUMBO_TAG_NOFRAMES || t == GUMBO_TAG_NOSCRIPT;
}

/* End of the tag opened at h[i] ('<'): the index past its '>' (quotes in
 * attribute values respected), or len. */
static size_t tag_end(const char *h, size_t len, size_t i) {
  char q = 0;
  for (i++; i < len; i++) {
    if (q) {
      if (h[i] == q) q = 0;
    } else if (h[i] == '"' || h[i] == '\'') {
      q = h[i];
    } else if (h[i] == '>') {
      return i + 1;
    }
  }
  return len;
}

/* For input too deep for gumbo (too_deep): a copy without the tags of the
 * elements opened past PARSE_DEPTH_MAX levels, their text kept, so the
 * page converts instead of being refused. The converter keeps content past
 * max_depth as plain text anyway, so only structure nobody would see is
 * lost; raw-text elements past the cap (script, style, textarea...) go with
 * their content. Depth is counted as too_deep counts it. Returns NULL when
 * out of memory. */
static char *flatten_deep(const char *h, size_t len, size_t *out_len) {
  char *o = malloc(len + 1);
  if (!o) return NULL;
  size_t n = 0;
  long depth = 0;
  for (size_t i = 0; i < len;) {
    if (h[i] != '<' || i + 1 >= len) {
      o[n++] = h[i++];
      continue;
    }
    if (len - i >= 4 && !memcmp(h + i, "<!--", 4)) {
      const char *e = memmem(h + i + 4, len - i - 4, "-->", 3);
      size_t z = e ? (size_t)(e - h) + 3 : len;
      memcpy(o + n, h + i, z - i);
      n += z - i;
      i = z;
      continue;
    }
    int end = h[i + 1] == '/';
    size_t s = i + 1 + (size_t)end, j = s;
    while (j < len && j - s < 16 && ((h[j] | 0x20) >= 'a' && (h[j] | 0x20) <= 'z')) j++;
    if (j == s) {
      o[n++] = h[i++];
      continue;
    }
    int tag = gumbo_tagn_enum(h + s, (unsigned)(j - s));
    size_t z = tag_end(h, len, i);
    if (end) {
      if (depth <= PARSE_DEPTH_MAX) {
        memcpy(o + n, h + i, z - i);
        n += z - i;
      }
      if (depth > 0) depth--;
      i = z;
      continue;
    }
    int is_void = is_void_tag(tag) || (z <= len && z >= 2 && h[z - 1] == '>' && h[z - 2] == '/');
    int keep = depth < PARSE_DEPTH_MAX;
    if (keep) {
      memcpy(o + n, h + i, z - i);
      n += z - i;
    }
    i = z;
    if (raw_text_tag(tag)) {
      /* its content up to its end tag is text, never tags */
      size_t k = i;
      while (k < len) {
        const char *lt = memchr(h + k, '<', len - k);
        if (!lt) {
          k = len;
          break;
        }
        k = (size_t)(lt - h);
        if (k + 2 + (j - s) <= len && h[k + 1] == '/' &&
            !strncasecmp(h + k + 2, h + s, j - s))
          break;
        k++;
      }
      if (keep) {
        memcpy(o + n, h + i, k - i);
        n += k - i;
      }
      i = k;
      if (i < len) {
        size_t ze = tag_end(h, len, i);
        if (keep) {
          memcpy(o + n, h + i, ze - i);
          n += ze - i;
        }
        i = ze;
      }
      continue;
    }
    if (!is_void) depth++;
  }
  o[n] = 0;
  *out_len = n;
  return o;
}

int pb_html2md(const char *html, size_t len, const pb_md_opts *opts, char **md_out,
               size_t *md_len) {
  return pb_html2md_ex(html, len, opts, PB_MD_PARSE_AUTO, md_out, md_len);
}

int pb_html2md_ex(const char *html, size_t len, const pb_md_opts *opts, int parser, char **md_out,
                  size_t *md_len) {
  pb_md_opts defaults;
  ctx c;
  GumboOutput *g = NULL;
  pb_hdoc *fd = NULL;
  char *flat = NULL; /* input flattened past the depth gumbo is fast for */
  size_t flat_len = 0;
  sb out = {0};
  *md_out = NULL;
  if (md_len) *md_len = 0;
  if (!opts) {
    pb_md_opts_default(&defaults);
    opts = &defaults;
  }
  if (!html && len) return PB_EINVAL;
  if (len > opts->max_input) return PB_ETOOBIG;
  memset(&c, 0, sizeof(c));
  /* one size of chunk, 64 KiB: the tree of a typical page fits in a few */
  pb_arena_init(&c.arena, 16, (size_t)64 << 10, (size_t)64 << 10, 0);
  /* the tree walk recurses once per level: keep the stack small */
  pb_md_opts clamped;
  if (opts->max_depth < 1 || opts->max_depth > 1024) {
    clamped = *opts;
    clamped.max_depth = opts->max_depth < 1 ? 1 : 1024;
    opts = &clamped;
  }
  c.o = opts;
  /* the fast parser builds gumbo's tree for the pages it is sure of and
   * declines the rest, which gumbo parses */
  const char *bh = NULL;
  if (parser != PB_MD_PARSE_GUMBO) {
    int rc = pb_fastparse(html ? html : "", len, &fd);
    if (rc == PB_ENOMEM) return rc;
    if (rc && parser == PB_MD_PARSE_FAST) return PB_EINVAL;
  }
  if (fd) {
    bh = pb_hdoc_base_href(fd);
    c.clean = 1;
  } else {
    if (html && too_deep(html, len)) {
      flat = flatten_deep(html, len, &flat_len);
      if (!flat) return PB_ENOMEM;
      html = flat;
      len = flat_len;
    }
    GumboOptions go = kGumboDefaultOptions;
    go.max_errors = 0;
    g = gumbo_parse_with_options(&go, html ? html : "", len);
    if (!g) {
      free(flat);
      return PB_ENOMEM;
    }
    bh = find_base_href(g->root, 0);
  }

  /* effective base: <base href> resolved against baseUrl */
  if (opts->base_url[0] && pb_url_has_scheme(opts->base_url, strlen(opts->base_url))) {
    if (bh && pb_url_resolve(opts->base_url, bh, strlen(bh), &c.base_owned) == 0)
      c.base = c.base_owned;
    else
      c.base = opts->base_url;
  } else if (bh && pb_url_has_scheme(bh, strlen(bh))) {
    c.base = bh;
  }

  md_node *root = new_node(&c, GUMBO_TAG_UNKNOWN);
  if (root && fd) {
    build_fast(&c, root, pb_hdoc_body(fd), 1);
  } else if (root) {
    GumboNode *body = find_body(g->root);
    if (body) build(&c, root, body, 1);
  }
  if (!c.err && root) {
    collapse(&c, root);
    flags(root, 0);
    process(&c, root, &out);
  }
  if (!c.err && c.refs.n) {
    sb tail = {0};
    sb_adds(&c, &tail, "\n\n");
    sb_add(&c, &tail, c.refs.p, c.refs.n);
    sb_adds(&c, &tail, "\n\n");
    join(&c, &out, tail.p, tail.n);
    sb_drop(&c, &tail);
  }
  int rc = c.err;
  if (!rc) {
    /* turndown's postProcess: trim leading [\t\r\n]+ and trailing whitespace */
    size_t a = 0;
    while (a < out.n && (out.p[a] == '\t' || out.p[a] == '\r' || out.p[a] == '\n')) a++;
    size_t z = out.n - a;
    if (z) z -= trail_ws(out.p + a, z);
    char *res = malloc(z + 1);
    if (!res) {
      rc = PB_ENOMEM;
    } else {
      for (size_t i = 0; i < z; i++) res[i] = out.p[a + i] == IND_MARK ? ' ' : out.p[a + i];
      res[z] = 0;
      *md_out = res;
      if (md_len) *md_len = z;
    }
  }
  sb_free(&out);
  sb_free(&c.refs);
  free(c.base_owned);
  pb_arena_free(&c.arena);
  while (c.npool) free(c.pool_p[--c.npool]);
  pb_hdoc_free(fd);
  if (g) gumbo_destroy_output(&kGumboDefaultOptions, g);
  free(flat); /* gumbo's tree borrowed it */
  return rc;
}
