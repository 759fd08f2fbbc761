/* The fast HTML parser of html2md: see fastparse.h for the contract.
 *
 * It follows gumbo 0.10.1's parser.c clause by clause for the insertion
 * modes a well-formed page uses (before html/head, in head, after head, in
 * body, in table, in table body, in row, in cell, in caption, in column
 * group, and SVG subtrees as opaque blocks), and declines wherever gumbo
 * would run an algorithm we do not reproduce. Two invariants keep that
 * small:
 *  - every formatting element (a, b, i, ...) stays on the stack of open
 *    elements until its own end tag closes it as the current node, so the
 *    list of active formatting elements never needs reconstructing and the
 *    adoption agency never moves nodes: an implied close of a formatting
 *    element declines;
 *  - nothing is ever foster-parented: non-space text or an unexpected tag
 *    directly inside a table declines.
 * Text nodes end where gumbo flushes its text buffer: at every inserted or
 * popped element and every comment. */
#include "render/fastparse.h"

#include <gumbo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/arena.h"
#include "common/pb.h"
#include "render/entities.inc"

struct pb_hdoc {
  pb_arena arena; /* the nodes, attributes and unescaped strings */
  pb_hnode *body;
  const char *base_href;
  char *norm; /* the input with CR and CRLF made LF, when it had CRs */
};

/* ---------- tag classes (gumbo's sets) ---------- */

enum {
  F_SPECIAL = 1,   /* is_special_node */
  F_SCOPE = 2,     /* "in scope" boundary */
  F_FMT = 4,       /* formatting element */
  F_IMPLIED = 8,   /* generate_implied_end_tags */
  F_CLOSEP = 16,   /* start tag closes a <p> in button scope, then inserts */
  F_BLOCKEND = 32, /* end tag: in scope, implied ends, pop until it */
  F_VOIDHEAD = 64, /* base, basefont, bgsound, menuitem, link, meta */
};

#define T(x) [GUMBO_TAG_##x]
static const unsigned char k_tag[GUMBO_TAG_LAST + 1] = {
    T(ADDRESS) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(APPLET) = F_SPECIAL | F_SCOPE,
    T(AREA) = F_SPECIAL,
    T(ARTICLE) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(ASIDE) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(BASE) = F_SPECIAL | F_VOIDHEAD,
    T(BASEFONT) = F_SPECIAL | F_VOIDHEAD,
    T(BGSOUND) = F_SPECIAL | F_VOIDHEAD,
    T(BLOCKQUOTE) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(BODY) = F_SPECIAL,
    T(BR) = F_SPECIAL,
    T(BUTTON) = F_SPECIAL | F_BLOCKEND,
    T(CAPTION) = F_SPECIAL | F_SCOPE,
    T(CENTER) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(COL) = F_SPECIAL,
    T(COLGROUP) = F_SPECIAL,
    T(MENUITEM) = F_SPECIAL | F_VOIDHEAD,
    T(DD) = F_SPECIAL | F_IMPLIED,
    T(DETAILS) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(DIR) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(DIV) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(DL) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(DT) = F_SPECIAL | F_IMPLIED,
    T(EMBED) = F_SPECIAL,
    T(FIELDSET) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(FIGCAPTION) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(FIGURE) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(FOOTER) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(FORM) = F_SPECIAL,
    T(FRAME) = F_SPECIAL,
    T(FRAMESET) = F_SPECIAL,
    T(H1) = F_SPECIAL,
    T(H2) = F_SPECIAL,
    T(H3) = F_SPECIAL,
    T(H4) = F_SPECIAL,
    T(H5) = F_SPECIAL,
    T(H6) = F_SPECIAL,
    T(HEAD) = F_SPECIAL,
    T(HEADER) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(HGROUP) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(HR) = F_SPECIAL,
    T(HTML) = F_SPECIAL | F_SCOPE,
    T(IFRAME) = F_SPECIAL,
    T(IMG) = F_SPECIAL,
    T(INPUT) = F_SPECIAL,
    T(ISINDEX) = F_SPECIAL,
    T(LI) = F_SPECIAL | F_IMPLIED,
    T(LINK) = F_SPECIAL | F_VOIDHEAD,
    T(LISTING) = F_SPECIAL | F_BLOCKEND,
    T(MAIN) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(MARQUEE) = F_SPECIAL | F_SCOPE,
    T(MENU) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(META) = F_SPECIAL | F_VOIDHEAD,
    T(NAV) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(NOEMBED) = F_SPECIAL,
    T(NOFRAMES) = F_SPECIAL,
    T(NOSCRIPT) = F_SPECIAL,
    T(OBJECT) = F_SPECIAL | F_SCOPE,
    T(OL) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(P) = F_SPECIAL | F_IMPLIED | F_CLOSEP,
    T(PARAM) = F_SPECIAL,
    T(PLAINTEXT) = F_SPECIAL,
    T(PRE) = F_SPECIAL | F_BLOCKEND,
    T(SCRIPT) = F_SPECIAL,
    T(SECTION) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(SELECT) = F_SPECIAL,
    T(STYLE) = F_SPECIAL,
    T(SUMMARY) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(TABLE) = F_SPECIAL | F_SCOPE,
    T(TBODY) = F_SPECIAL,
    T(TD) = F_SPECIAL | F_SCOPE,
    T(TEMPLATE) = F_SPECIAL | F_SCOPE,
    T(TEXTAREA) = F_SPECIAL,
    T(TFOOT) = F_SPECIAL,
    T(TH) = F_SPECIAL | F_SCOPE,
    T(THEAD) = F_SPECIAL,
    T(TITLE) = F_SPECIAL,
    T(TR) = F_SPECIAL,
    T(UL) = F_SPECIAL | F_CLOSEP | F_BLOCKEND,
    T(WBR) = F_SPECIAL,
    T(XMP) = F_SPECIAL,
    T(A) = F_FMT,
    T(B) = F_FMT,
    T(BIG) = F_FMT,
    T(CODE) = F_FMT,
    T(EM) = F_FMT,
    T(FONT) = F_FMT,
    T(I) = F_FMT,
    T(NOBR) = F_FMT,
    T(S) = F_FMT,
    T(SMALL) = F_FMT,
    T(STRIKE) = F_FMT,
    T(STRONG) = F_FMT,
    T(TT) = F_FMT,
    T(U) = F_FMT,
    T(OPTION) = F_IMPLIED,
    T(OPTGROUP) = F_IMPLIED,
    T(RB) = F_IMPLIED,
    T(RP) = F_IMPLIED,
    T(RT) = F_IMPLIED,
    T(RTC) = F_IMPLIED,
};
#undef T

static int is_heading(int t) {
  return t >= GUMBO_TAG_H1 && t <= GUMBO_TAG_H6;
}

/* insertion modes, as a property of each open element (see push) */
enum { M_BODY, M_TABLE, M_TBODY, M_ROW, M_CELL, M_CAPTION, M_COLGROUP };

typedef struct {
  pb_hnode *node; /* NULL for <html> */
  int tag;
  unsigned char mode;
} fp_entry;

/* Chromium's tree builder (HTMLConstructionSite::AttachLater) attaches a
 * node to the current node's parent once more than 512 elements are open,
 * so its DOM is never deeper than that however deep the markup nests; we
 * build the same tree (gumbo does not cap, so past this depth the trees
 * differ: the cap is ours, not gumbo's). */
#define PB_FASTPARSE_DOM_DEPTH_MAX 512

/* pre-body phases */
enum { P_INITIAL, P_BEFORE_HEAD, P_IN_HEAD, P_AFTER_HEAD, P_BODY };

typedef struct {
  pb_hdoc *d;
  const char *p, *end;
  fp_entry *st;
  size_t n, cap;
  int count[GUMBO_TAG_LAST + 1]; /* open elements per tag */
  int phase, quirks, ignore_lf;
  int form; /* gumbo's form element pointer is set */
  int err;  /* PB_EINVAL (declined) or PB_ENOMEM */
  /* the pending text node: borrowed from the input while contiguous */
  const char *tp;
  size_t tl;
  char *tb;
  size_t tbn, tbcap;
  int tbuf; /* 1: the pending text is in tb */
  /* the attributes of the tag being read */
  pb_hattr *at;
  size_t nat, atcap;
} fp;

#define DECLINE(f) ((f)->err = (f)->err ? (f)->err : PB_EINVAL)

static inline void *fp_alloc(fp *f, size_t n) {
  void *r = pb_arena_alloc(&f->d->arena, n);
  if (!r) f->err = PB_ENOMEM;
  return r;
}

static int ws(char c) {
  return c == ' ' || c == '\n' || c == '\t' || c == '\f' || c == '\r';
}

static int alpha(char c) {
  return (unsigned char)((c | 32) - 'a') < 26;
}

static int alnum(char c) {
  return alpha(c) || (unsigned char)(c - '0') < 10;
}

/* ---------- input checks ---------- */

/* Code points gumbo replaces with U+FFFD (utf8_is_invalid_code_point), NUL
 * (dropped in body) and malformed UTF-8: all declined. */
static int bad_cp(uint32_t c) {
  return c == 0 || (c >= 1 && c <= 8) || c == 0xB || (c >= 0xE && c <= 0x1F) ||
         (c >= 0x7F && c <= 0x9F) || (c >= 0xFDD0 && c <= 0xFDEF) || (c & 0xFFFF) == 0xFFFE ||
         (c & 0xFFFF) == 0xFFFF;
}

/* 0 if s is valid UTF-8 without code points gumbo would change; sets *has_cr. */
static int check_input(const char *s, size_t n, int *has_cr) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  *has_cr = 0;
  while (i < n) {
    /* eight ASCII bytes at a time, none below 0x20 nor DEL */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, u + i, 8);
      uint64_t hi = w & 0x8080808080808080ull;
      uint64_t lo = (w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull;
      uint64_t d = w ^ 0x7F7F7F7F7F7F7F7Full; /* a zero byte where w has DEL */
      uint64_t del = (d - 0x0101010101010101ull) & ~d & 0x8080808080808080ull;
      if (hi | lo | del) break;
      i += 8;
    }
    if (i >= n) break;
    unsigned char c = u[i];
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7F) {
        if (c == '\r')
          *has_cr = 1;
        else if (c != '\n' && c != '\t' && c != '\f')
          return -1;
      }
      i++;
      continue;
    }
    uint32_t cp;
    size_t l;
    if (c >= 0xC2 && c <= 0xDF) {
      l = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      l = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      l = 4;
      cp = c & 0x07u;
    } else {
      return -1;
    }
    if (i + l > n) return -1;
    for (size_t k = 1; k < l; k++) {
      if ((u[i + k] & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (u[i + k] & 0x3Fu);
    }
    if ((l == 3 && cp < 0x800) || (l == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || bad_cp(cp))
      return -1;
    i += l;
  }
  return 0;
}

/* ---------- character references ---------- */

static int ent_cmp(const char *s, size_t n, const char *name) {
  int r = strncmp(s, name, n);
  if (r) return r;
  return name[n] ? -1 : 0;
}

static const struct fp_entity *ent_find(const char *s, size_t n) {
  size_t lo = 0, hi = sizeof(k_entities) / sizeof(k_entities[0]);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int r = ent_cmp(s, n, k_entities[mid].name);
    if (!r) return &k_entities[mid];
    if (r < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return NULL;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* The character reference at *s ('&'), e the end of the run it is in.
 * Writes its UTF-8 into o (8 bytes) and returns the length, advancing *s;
 * returns 0 when the '&' is a literal one (*s unchanged); -1 declines. */
static int char_ref(const char **s, const char *e, int in_attr, char *o) {
  const char *q = *s + 1;
  if (q >= e) return 0;
  if (*q == '#') {
    q++;
    int hex = 0;
    if (q < e && (*q == 'x' || *q == 'X')) {
      hex = 1;
      q++;
    }
    uint32_t cp = 0;
    int nd = 0;
    for (; q < e; q++) {
      int d;
      char c = *q;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (hex && (c | 32) >= 'a' && (c | 32) <= 'f')
        d = (c | 32) - 'a' + 10;
      else
        break;
      if (++nd > 7) return -1;
      cp = cp * (hex ? 16u : 10u) + (uint32_t)d;
    }
    if (!nd) return 0;
    if (q >= e || *q != ';') return -1;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (bad_cp(cp) && cp != 0) || cp == 0 ||
        cp == 0xD)
      return -1;
    *s = q + 1;
    return (int)put_utf8(o, cp);
  }
  if (!alnum(*q)) return 0;
  const char *r = q;
  while (r < e && alnum(*r) && r - q < 64) r++;
  if (r - q >= 64) return -1;
  size_t n = (size_t)(r - q);
  if (r < e && *r == ';') {
    const struct fp_entity *en = ent_find(q, n + 1);
    if (en) {
      size_t k = put_utf8(o, en->cp1);
      if (en->cp2) k += put_utf8(o + k, en->cp2);
      *s = r + 1;
      return (int)k;
    }
  }
  /* a legacy name (no ';') as a prefix: decoded in text, kept in an
   * attribute when a letter, digit or '=' follows; we only do the latter */
  for (size_t k = n < 6 ? n : 6; k >= 2; k--) {
    if (ent_find(q, k)) {
      if (in_attr && q + k < e && (alnum(q[k]) || q[k] == '=')) return 0;
      return -1;
    }
  }
  return 0;
}

/* ---------- tree ---------- */

static pb_hnode *new_hnode(fp *f, int tag) {
  pb_hnode *n = pb_arena_calloc(&f->d->arena, sizeof(*n));
  if (!n) {
    f->err = PB_ENOMEM;
    return NULL;
  }
  n->tag = tag;
  return n;
}

static void add_child(pb_hnode *p, pb_hnode *k) {
  k->parent = p;
  if (p->last)
    p->last->next = k;
  else
    p->first = k;
  p->last = k;
}

static pb_hnode *cur(fp *f) {
  return f->st[f->n - 1].node;
}

/* Where a new node goes: the current node, or past the depth cap its
 * parent (see PB_FASTPARSE_DOM_DEPTH_MAX). */
static pb_hnode *attach_to(fp *f) {
  pb_hnode *p = cur(f);
  if (p && f->n > PB_FASTPARSE_DOM_DEPTH_MAX && p->parent) p = p->parent;
  return p;
}

static int cur_tag(fp *f) {
  return f->st[f->n - 1].tag;
}

static void text_add(fp *f, const char *s, size_t n) {
  if (!n) return;
  if (!f->tbuf) {
    if (!f->tl) {
      f->tp = s;
      f->tl = n;
      return;
    }
    if (f->tp + f->tl == s) {
      f->tl += n;
      return;
    }
    f->tbuf = 1;
    f->tbn = 0;
    text_add(f, f->tp, f->tl);
  }
  if (f->tbn + n > f->tbcap) {
    size_t nc = f->tbcap ? f->tbcap * 2 : 256;
    while (nc < f->tbn + n) nc *= 2;
    char *nb = realloc(f->tb, nc);
    if (!nb) {
      f->err = PB_ENOMEM;
      return;
    }
    f->tb = nb;
    f->tbcap = nc;
  }
  memcpy(f->tb + f->tbn, s, n);
  f->tbn += n;
}

/* gumbo's maybe_flush_text_node_buffer */
static void flush(fp *f) {
  size_t n = f->tbuf ? f->tbn : f->tl;
  if (!n) return;
  pb_hnode *t = new_hnode(f, PB_HNODE_TEXT);
  if (!t) return;
  if (f->tbuf) {
    char *c = fp_alloc(f, n);
    if (!c) return;
    memcpy(c, f->tb, n);
    t->text = c;
  } else {
    t->text = f->tp;
  }
  t->tlen = n;
  f->tl = 0;
  f->tbuf = 0;
  f->tbn = 0;
  pb_hnode *p = attach_to(f);
  if (p) add_child(p, t);
}

static int push(fp *f, int tag, pb_hnode *node) {
  if (f->n == f->cap) {
    size_t nc = f->cap * 2;
    fp_entry *ns = realloc(f->st, nc * sizeof(*ns));
    if (!ns) {
      f->err = PB_ENOMEM;
      return -1;
    }
    f->st = ns;
    f->cap = nc;
  }
  unsigned char m = f->n ? f->st[f->n - 1].mode : M_BODY;
  switch (tag) {
    case GUMBO_TAG_TABLE:
      m = M_TABLE;
      break;
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TFOOT:
      m = M_TBODY;
      break;
    case GUMBO_TAG_TR:
      m = M_ROW;
      break;
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
      m = M_CELL;
      break;
    case GUMBO_TAG_CAPTION:
      m = M_CAPTION;
      break;
    case GUMBO_TAG_COLGROUP:
      m = M_COLGROUP;
      break;
    default:
      break;
  }
  f->st[f->n].node = node;
  f->st[f->n].tag = tag;
  f->st[f->n].mode = m;
  f->n++;
  f->count[tag]++;
  return 0;
}

/* Inserts an element with the attributes read (insert_element_from_token);
 * keep_open pushes it. Returns the node or NULL. */
static pb_hnode *insert(fp *f, int tag, int keep_open) {
  flush(f);
  pb_hnode *e = new_hnode(f, tag);
  if (!e) return NULL;
  if (f->nat) {
    pb_hattr *a = fp_alloc(f, f->nat * sizeof(*a));
    if (!a) return NULL;
    memcpy(a, f->at, f->nat * sizeof(*a));
    e->attrs = a;
    e->nattrs = (unsigned)f->nat;
  }
  pb_hnode *p = attach_to(f);
  if (p) add_child(p, e);
  if (keep_open && push(f, tag, e)) return NULL;
  return e;
}

/* Pops the current node. implicit: not closed by its own end tag, which a
 * formatting element must not be (see the top of the file). */
static void pop(fp *f, int implicit) {
  int t = cur_tag(f);
  if (implicit && ((k_tag[t] & F_FMT) || t == GUMBO_TAG_FORM)) {
    DECLINE(f);
    return;
  }
  if (t == GUMBO_TAG_BODY || t == GUMBO_TAG_HTML) {
    DECLINE(f);
    return;
  }
  flush(f);
  f->count[t]--;
  f->n--;
}

/* has_an_element_in_specific_scope: extra is an additional boundary tag
 * (button scope, list scope) or -1; table_scope uses html/table/template. */
static int in_scope(fp *f, int tag, int extra1, int extra2, int table_scope) {
  if (!f->count[tag]) return 0;
  for (size_t i = f->n; i-- > 0;) {
    int t = f->st[i].tag;
    if (t == tag) return 1;
    if (table_scope) {
      if (t == GUMBO_TAG_HTML || t == GUMBO_TAG_TABLE || t == GUMBO_TAG_TEMPLATE) return 0;
    } else if ((k_tag[t] & F_SCOPE) || t == extra1 || t == extra2) {
      return 0;
    }
  }
  return 0;
}

static void implied_end_tags(fp *f, int except) {
  while (!f->err && (k_tag[cur_tag(f)] & F_IMPLIED) && cur_tag(f) != except) pop(f, 1);
}

/* implicitly_close_tags: implied end tags, then pop until tag is popped */
static void close_tags(fp *f, int tag) {
  implied_end_tags(f, tag);
  while (!f->err && cur_tag(f) != tag) pop(f, 1);
  if (!f->err) pop(f, 0);
}

static void close_p(fp *f) {
  if (in_scope(f, GUMBO_TAG_P, GUMBO_TAG_BUTTON, -1, 0)) close_tags(f, GUMBO_TAG_P);
}

/* ---------- tokenizer pieces ---------- */

typedef struct {
  const char *name;
  size_t nlen;
  int tag;
  int end, self_closing;
} fp_tag;

static int attr_value(fp *f, const char *s, const char *e, const char **out) {
  const char *amp = memchr(s, '&', (size_t)(e - s));
  size_t n = (size_t)(e - s);
  char *v = fp_alloc(f, amp ? n + n / 2 + 8 : n + 1);
  if (!v) return -1;
  if (!amp) {
    memcpy(v, s, n);
    v[n] = 0;
    *out = v;
    return 0;
  }
  /* a reference never decodes longer than its source plus 2 bytes, and
   * the shortest ("&lt;" -> 1 byte) is shorter: n + n/2 + 8 is enough */
  size_t o = 0;
  while (s < e) {
    if (*s != '&') {
      v[o++] = *s++;
      continue;
    }
    char buf[8];
    int k = char_ref(&s, e, 1, buf);
    if (k < 0) {
      DECLINE(f);
      return -1;
    }
    if (!k) {
      v[o++] = *s++;
    } else {
      memcpy(v + o, buf, (size_t)k);
      o += (size_t)k;
    }
  }
  v[o] = 0;
  *out = v;
  return 0;
}

static int add_attr(fp *f, const char *ns, size_t nl, const char *vs, const char *ve, int has_v) {
  for (size_t i = 0; i < f->nat; i++)
    if (strlen(f->at[i].name) == nl && !strncasecmp(f->at[i].name, ns, nl)) {
      /* a duplicate: gumbo keeps the first, but then leaves its name in
       * its buffer, garbling the names that follow */
      DECLINE(f);
      return -1;
    }
  if (f->nat == f->atcap) {
    size_t nc = f->atcap ? f->atcap * 2 : 8;
    pb_hattr *na = realloc(f->at, nc * sizeof(*na));
    if (!na) {
      f->err = PB_ENOMEM;
      return -1;
    }
    f->at = na;
    f->atcap = nc;
  }
  char *name = fp_alloc(f, nl + 1);
  if (!name) return -1;
  for (size_t i = 0; i < nl; i++) {
    char c = ns[i];
    name[i] = (c >= 'A' && c <= 'Z') ? (char)(c | 32) : c;
  }
  name[nl] = 0;
  const char *val = "";
  if (has_v && attr_value(f, vs, ve, &val)) return -1;
  f->at[f->nat].name = name;
  f->at[f->nat].value = val;
  f->nat++;
  return 0;
}

/* Reads a tag at f->p ('<'); keep_attrs 0 skips building attributes. */
static int read_tag(fp *f, fp_tag *t, int keep_attrs) {
  const char *p = f->p + 1, *e = f->end;
  t->end = 0;
  t->self_closing = 0;
  f->nat = 0;
  if (*p == '/') {
    t->end = 1;
    p++;
  }
  t->name = p;
  while (p < e && !ws(*p) && *p != '/' && *p != '>') p++;
  if (p >= e) return -1;
  t->nlen = (size_t)(p - t->name);
  t->tag = (int)gumbo_tagn_enum(t->name, (unsigned)t->nlen);
  for (;;) {
    while (p < e && ws(*p)) p++;
    if (p >= e) return -1;
    if (*p == '>') {
      p++;
      break;
    }
    if (*p == '/') {
      p++;
      if (p < e && *p == '>') {
        t->self_closing = 1;
        p++;
        break;
      }
      continue;
    }
    /* attribute name; a leading '=' is part of it */
    const char *ns = p;
    p++;
    while (p < e && !ws(*p) && *p != '/' && *p != '>' && *p != '=') p++;
    size_t nl = (size_t)(p - ns);
    while (p < e && ws(*p)) p++;
    if (p >= e) return -1;
    if (*p != '=') {
      if (keep_attrs && !t->end && add_attr(f, ns, nl, NULL, NULL, 0)) return -1;
      continue;
    }
    p++;
    while (p < e && ws(*p)) p++;
    if (p >= e) return -1;
    const char *vs, *ve;
    if (*p == '"' || *p == '\'') {
      char q = *p++;
      vs = p;
      ve = memchr(p, q, (size_t)(e - p));
      if (!ve) return -1;
      p = ve + 1;
    } else if (*p == '>') {
      vs = ve = p;
    } else {
      vs = p;
      while (p < e && !ws(*p) && *p != '>') p++;
      if (p >= e) return -1;
      ve = p;
    }
    if (keep_attrs && !t->end && add_attr(f, ns, nl, vs, ve, 1)) return -1;
  }
  f->p = p;
  return 0;
}

/* Finds the end tag of a raw text element: "</name" then a space, '/' or
 * '>'. Returns its '<' or NULL. */
static const char *raw_end(const char *s, const char *e, const char *name, size_t nl) {
  for (;;) {
    const char *lt = memchr(s, '<', (size_t)(e - s));
    if (!lt) return NULL;
    if (lt + 2 + nl < e && lt[1] == '/' && !strncasecmp(lt + 2, name, nl) &&
        (ws(lt[2 + nl]) || lt[2 + nl] == '/' || lt[2 + nl] == '>'))
      return lt;
    s = lt + 1;
  }
}

/* "<script" or "</script" (end 1) then a space, '/' or '>' at s */
static int script_tag_at(const char *s, const char *e, int end) {
  size_t k = end ? 2 : 1;
  if (e - s < (ptrdiff_t)(k + 7) || s[0] != '<' || (end && s[1] != '/') ||
      strncasecmp(s + k, "script", 6))
    return 0;
  char c = s[k + 6];
  return ws(c) || c == '/' || c == '>';
}

/* The end tag of a script, through the script data states: after "<!--"
 * the text is escaped, and a "<script" there double-escapes it, so that
 * its "</script>" does not end the element. */
static const char *script_end(const char *s, const char *e) {
  int state = 0; /* 0 data, 1 escaped, 2 double escaped */
  const char *p = s;
  while (p < e) {
    const char *q = p;
    while (q < e && *q != '<' && *q != '-') q++;
    if (q >= e) return NULL;
    if (*q == '-') {
      if (state && e - q >= 3 && q[1] == '-' && q[2] == '>') {
        state = 0;
        p = q + 3;
      } else {
        p = q + 1;
      }
      continue;
    }
    if (state != 2 && script_tag_at(q, e, 1)) return q;
    if (state == 0 && e - q >= 4 && q[1] == '!' && q[2] == '-' && q[3] == '-') {
      state = 1;
      p = q + 2; /* "<!-->" closes at once */
      continue;
    }
    if (state == 1 && script_tag_at(q, e, 0)) {
      state = 2;
      p = q + 7;
      continue;
    }
    if (state == 2 && script_tag_at(q, e, 1)) {
      state = 1;
      p = q + 8;
      continue;
    }
    p = q + 1;
  }
  return NULL;
}

static void text_run(fp *f, const char *s, const char *e);
static int read_tag(fp *f, fp_tag *t, int keep_attrs);

/* <noscript> in <head> ("in head noscript"): we take only what stays in
 * it (link, meta, style, noframes, spaces, comments) up to </noscript>. */
static void head_noscript(fp *f) {
  const char *e = f->end;
  for (;;) {
    const char *p = f->p;
    while (p < e && ws(*p)) p++;
    f->p = p;
    if (p >= e || *p != '<') {
      DECLINE(f);
      return;
    }
    if (e - p >= 4 && !strncmp(p, "<!--", 4)) {
      const char *q = p + 4;
      const char *end = memmem(q, (size_t)(e - q), "-->", 3);
      if (!end || *q == '>' || (*q == '-' && q + 1 < e && q[1] == '>') ||
          memmem(q, (size_t)(end - q), "--!>", 4)) {
        DECLINE(f);
        return;
      }
      f->p = end + 3;
      continue;
    }
    if (!(p + 2 < e && (alpha(p[1]) || (p[1] == '/' && alpha(p[2]))))) {
      DECLINE(f);
      return;
    }
    fp_tag t;
    if (read_tag(f, &t, 0)) {
      DECLINE(f);
      return;
    }
    if (t.end) {
      if (t.tag != GUMBO_TAG_NOSCRIPT) DECLINE(f);
      return;
    }
    switch (t.tag) {
      case GUMBO_TAG_LINK:
      case GUMBO_TAG_META:
      case GUMBO_TAG_BASEFONT:
      case GUMBO_TAG_BGSOUND:
        continue;
      case GUMBO_TAG_STYLE:
      case GUMBO_TAG_NOFRAMES: {
        const char *lt = raw_end(f->p, e, t.name, t.nlen);
        if (!lt) {
          DECLINE(f);
          return;
        }
        f->p = lt;
        if (read_tag(f, &t, 0)) {
          DECLINE(f);
          return;
        }
        continue;
      }
      default:
        DECLINE(f);
        return;
    }
  }
}

/* A raw text (RAWTEXT, RCDATA, script data) element's content, up to and
 * including its end tag; the element is the current node. */
static void raw_text(fp *f, const char *name, size_t nl, int rcdata, int script) {
  const char *s = f->p;
  const char *lt = script ? script_end(s, f->end) : raw_end(s, f->end, name, nl);
  if (!lt) {
    DECLINE(f);
    return;
  }
  if (rcdata) {
    text_run(f, s, lt);
  } else {
    if (f->ignore_lf && s < lt && *s == '\n') s++;
    f->ignore_lf = 0;
    text_add(f, s, (size_t)(lt - s));
  }
  if (f->err) return;
  f->p = lt;
  fp_tag t;
  if (read_tag(f, &t, 0)) {
    DECLINE(f);
    return;
  }
  pop(f, 0);
}

/* Skips an <svg> subtree: foreign content, kept as one opaque element. */
static void svg_skip(fp *f, int self_closing) {
  if (!insert(f, GUMBO_TAG_SVG, 0) || self_closing) return;
  /* names of the open foreign elements */
  const char *names[64];
  size_t lens[64];
  int depth = 0, integration = 0;
  names[0] = "svg";
  lens[0] = 3;
  depth = 1;
  const char *p = f->p, *e = f->end;
  while (depth > 0) {
    const char *lt = memchr(p, '<', (size_t)(e - p));
    if (!lt) {
      DECLINE(f);
      return;
    }
    p = lt;
    if (p + 1 >= e) {
      DECLINE(f);
      return;
    }
    if (!strncmp(p, "<!--", 4)) {
      const char *c = memmem(p + 4, (size_t)(e - p - 4), "-->", 3);
      if (!c || p[4] == '>' || (p[4] == '-' && p[5] == '>')) {
        DECLINE(f);
        return;
      }
      p = c + 3;
      continue;
    }
    if (!strncmp(p, "<![CDATA[", 9)) {
      const char *c = memmem(p + 9, (size_t)(e - p - 9), "]]>", 3);
      if (!c) {
        DECLINE(f);
        return;
      }
      p = c + 3;
      continue;
    }
    if (p[1] == '/' ? !(p + 2 < e && alpha(p[2])) : !alpha(p[1])) {
      if (p[1] == '/' || p[1] == '!' || p[1] == '?') {
        DECLINE(f);
        return;
      }
      p++;
      continue;
    }
    fp_tag t;
    f->p = p;
    if (read_tag(f, &t, 0)) {
      DECLINE(f);
      return;
    }
    p = f->p;
    if (t.end) {
      if (t.nlen != lens[depth - 1] || strncasecmp(t.name, names[depth - 1], t.nlen)) {
        DECLINE(f);
        return;
      }
      depth--;
      if (integration == depth + 1) integration = 0;
      continue;
    }
    /* breakout tags, HTML inside integration points, raw text: decline */
    switch (t.tag) {
      case GUMBO_TAG_B:
      case GUMBO_TAG_BIG:
      case GUMBO_TAG_BLOCKQUOTE:
      case GUMBO_TAG_BODY:
      case GUMBO_TAG_BR:
      case GUMBO_TAG_CENTER:
      case GUMBO_TAG_CODE:
      case GUMBO_TAG_DD:
      case GUMBO_TAG_DIV:
      case GUMBO_TAG_DL:
      case GUMBO_TAG_DT:
      case GUMBO_TAG_EM:
      case GUMBO_TAG_EMBED:
      case GUMBO_TAG_H1:
      case GUMBO_TAG_H2:
      case GUMBO_TAG_H3:
      case GUMBO_TAG_H4:
      case GUMBO_TAG_H5:
      case GUMBO_TAG_H6:
      case GUMBO_TAG_HEAD:
      case GUMBO_TAG_HR:
      case GUMBO_TAG_I:
      case GUMBO_TAG_IMG:
      case GUMBO_TAG_LI:
      case GUMBO_TAG_LISTING:
      case GUMBO_TAG_MENU:
      case GUMBO_TAG_META:
      case GUMBO_TAG_NOBR:
      case GUMBO_TAG_OL:
      case GUMBO_TAG_P:
      case GUMBO_TAG_PRE:
      case GUMBO_TAG_RUBY:
      case GUMBO_TAG_S:
      case GUMBO_TAG_SMALL:
      case GUMBO_TAG_SPAN:
      case GUMBO_TAG_STRONG:
      case GUMBO_TAG_STRIKE:
      case GUMBO_TAG_SUB:
      case GUMBO_TAG_SUP:
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_TT:
      case GUMBO_TAG_U:
      case GUMBO_TAG_UL:
      case GUMBO_TAG_VAR:
      case GUMBO_TAG_FONT:
      case GUMBO_TAG_SVG:
      case GUMBO_TAG_MATH:
      case GUMBO_TAG_SCRIPT:
      case GUMBO_TAG_STYLE:
        DECLINE(f);
        return;
      default:
        break;
    }
    if (integration) {
      DECLINE(f);
      return;
    }
    if (t.self_closing) continue;
    if (depth == 64) {
      DECLINE(f);
      return;
    }
    if ((t.nlen == 5 && !strncasecmp(t.name, "title", 5)) ||
        (t.nlen == 4 && !strncasecmp(t.name, "desc", 4)) ||
        (t.nlen == 13 && !strncasecmp(t.name, "foreignobject", 13)))
      integration = depth + 1;
    names[depth] = t.name;
    lens[depth] = t.nlen;
    depth++;
  }
  f->p = p;
}

/* Skips a <select> ("in select"): html2md drops it whole, so what matters
 * is where it ends. Options and ignored tags are skipped; tags that would
 * close it early (or belong to a table around it) decline. */
static void select_skip(fp *f) {
  if (!insert(f, GUMBO_TAG_SELECT, 0)) return;
  const char *e = f->end;
  for (;;) {
    const char *lt = memchr(f->p, '<', (size_t)(e - f->p));
    if (!lt || lt + 1 >= e) {
      DECLINE(f);
      return;
    }
    f->p = lt;
    if (e - lt >= 4 && !strncmp(lt, "<!--", 4)) {
      const char *q = lt + 4;
      const char *end = memmem(q, (size_t)(e - q), "-->", 3);
      if (!end || *q == '>' || (*q == '-' && q + 1 < e && q[1] == '>') ||
          memmem(q, (size_t)(end - q), "--!>", 4)) {
        DECLINE(f);
        return;
      }
      f->p = end + 3;
      continue;
    }
    if (!(alpha(lt[1]) || (lt[1] == '/' && lt + 2 < e && alpha(lt[2])))) {
      if (lt[1] == '!' || lt[1] == '/' || lt[1] == '?') {
        DECLINE(f);
        return;
      }
      f->p = lt + 1;
      continue;
    }
    fp_tag t;
    if (read_tag(f, &t, 0)) {
      DECLINE(f);
      return;
    }
    switch (t.tag) {
      case GUMBO_TAG_SELECT:
        if (!t.end) DECLINE(f);
        return;
      case GUMBO_TAG_SCRIPT: {
        if (t.end) continue;
        const char *end = script_end(f->p, e);
        if (!end) {
          DECLINE(f);
          return;
        }
        f->p = end;
        if (read_tag(f, &t, 0)) DECLINE(f);
        if (f->err) return;
        continue;
      }
      case GUMBO_TAG_INPUT:
      case GUMBO_TAG_KEYGEN:
      case GUMBO_TAG_TEXTAREA:
      case GUMBO_TAG_TEMPLATE:
      case GUMBO_TAG_HTML:
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        DECLINE(f);
        return;
      default:
        continue; /* option, optgroup, and tags "in select" ignores */
    }
  }
}

/* ---------- tree construction ---------- */

static void start_body(fp *f) {
  flush(f);
  pb_hnode *b = new_hnode(f, GUMBO_TAG_BODY);
  if (!b) return;
  f->d->body = b;
  push(f, GUMBO_TAG_BODY, b);
  f->phase = P_BODY;
}

static void note_base(fp *f, size_t depth) {
  if (f->d->base_href || depth > 4) return;
  for (size_t i = 0; i < f->nat; i++)
    if (!strcmp(f->at[i].name, "href")) f->d->base_href = f->at[i].value;
}

/* Closes the cell (td or th) in table scope: "close the cell". */
static void close_cell(fp *f) {
  int t = in_scope(f, GUMBO_TAG_TD, -1, -1, 1) ? GUMBO_TAG_TD : GUMBO_TAG_TH;
  if (!in_scope(f, t, -1, -1, 1)) {
    DECLINE(f);
    return;
  }
  close_tags(f, t);
}

/* A start tag in a table mode (not in a cell): returns 1 when handled, 0
 * to reprocess (the mode changed), -1 declined. */
static int table_start(fp *f, fp_tag *t, int mode) {
  int tag = t->tag;
  if (mode == M_COLGROUP) {
    if (tag == GUMBO_TAG_COL) return insert(f, tag, 0) ? 1 : -1;
    if (tag == GUMBO_TAG_TEMPLATE) return -1;
    pop(f, 0);
    return f->err ? -1 : 0;
  }
  if (tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_SCRIPT) {
    if (!insert(f, tag, 1)) return -1;
    raw_text(f, t->name, t->nlen, 0, tag == GUMBO_TAG_SCRIPT);
    return 1;
  }
  switch (mode) {
    case M_TABLE:
      switch (tag) {
        case GUMBO_TAG_CAPTION:
        case GUMBO_TAG_COLGROUP:
        case GUMBO_TAG_TBODY:
        case GUMBO_TAG_THEAD:
        case GUMBO_TAG_TFOOT:
          return insert(f, tag, 1) ? 1 : -1;
        case GUMBO_TAG_COL: {
          size_t nat = f->nat;
          f->nat = 0;
          if (!insert(f, GUMBO_TAG_COLGROUP, 1)) return -1;
          f->nat = nat;
          return 0;
        }
        case GUMBO_TAG_TR:
        case GUMBO_TAG_TD:
        case GUMBO_TAG_TH: {
          size_t nat = f->nat;
          f->nat = 0;
          if (!insert(f, GUMBO_TAG_TBODY, 1)) return -1;
          f->nat = nat;
          return 0;
        }
        default:
          return -1;
      }
    case M_TBODY:
      switch (tag) {
        case GUMBO_TAG_TR:
          return insert(f, tag, 1) ? 1 : -1;
        case GUMBO_TAG_TD:
        case GUMBO_TAG_TH: {
          size_t nat = f->nat;
          f->nat = 0;
          if (!insert(f, GUMBO_TAG_TR, 1)) return -1;
          f->nat = nat;
          return 0;
        }
        case GUMBO_TAG_CAPTION:
        case GUMBO_TAG_COL:
        case GUMBO_TAG_COLGROUP:
        case GUMBO_TAG_TBODY:
        case GUMBO_TAG_TFOOT:
        case GUMBO_TAG_THEAD:
          pop(f, 0);
          return f->err ? -1 : 0;
        default:
          return -1;
      }
    case M_ROW:
      switch (tag) {
        case GUMBO_TAG_TD:
        case GUMBO_TAG_TH:
          return insert(f, tag, 1) ? 1 : -1;
        case GUMBO_TAG_CAPTION:
        case GUMBO_TAG_COL:
        case GUMBO_TAG_COLGROUP:
        case GUMBO_TAG_TBODY:
        case GUMBO_TAG_TFOOT:
        case GUMBO_TAG_THEAD:
        case GUMBO_TAG_TR:
          pop(f, 0);
          return f->err ? -1 : 0;
        default:
          return -1;
      }
    default:
      return -1;
  }
}

static int table_end(fp *f, int tag, int mode) {
  switch (mode) {
    case M_TABLE:
      if (tag == GUMBO_TAG_TABLE) {
        pop(f, 0);
        return f->err ? -1 : 1;
      }
      return -1;
    case M_TBODY:
      if (tag == cur_tag(f)) {
        pop(f, 0);
        return f->err ? -1 : 1;
      }
      if (tag == GUMBO_TAG_TABLE) {
        pop(f, 0);
        return f->err ? -1 : 0;
      }
      return -1;
    case M_ROW:
      if (tag == GUMBO_TAG_TR || tag == GUMBO_TAG_TABLE ||
          ((tag == GUMBO_TAG_TBODY || tag == GUMBO_TAG_THEAD || tag == GUMBO_TAG_TFOOT) &&
           f->st[f->n - 2].tag == tag)) {
        pop(f, 0);
        if (f->err) return -1;
        return tag == GUMBO_TAG_TR ? 1 : 0;
      }
      return -1;
    case M_COLGROUP:
      if (tag == GUMBO_TAG_COLGROUP) {
        pop(f, 0);
        return f->err ? -1 : 1;
      }
      if (tag == GUMBO_TAG_COL) return -1;
      pop(f, 0);
      return f->err ? -1 : 0;
    default:
      return -1;
  }
}

static void start_tag_body(fp *f, fp_tag *t) {
  int tag = t->tag;
  int mode = f->st[f->n - 1].mode;
  if (mode == M_CELL) {
    switch (tag) {
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_COL:
      case GUMBO_TAG_COLGROUP:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_TH:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
        close_cell(f);
        if (!f->err) start_tag_body(f, t);
        return;
      default:
        break;
    }
  } else if (mode == M_CAPTION) {
    switch (tag) {
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_COL:
      case GUMBO_TAG_COLGROUP:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_TH:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
        DECLINE(f);
        return;
      default:
        break;
    }
  } else if (mode != M_BODY) {
    int r;
    while ((r = table_start(f, t, f->st[f->n - 1].mode)) == 0) {
      int m = f->st[f->n - 1].mode;
      if (m == M_BODY || m == M_CELL || m == M_CAPTION) {
        start_tag_body(f, t);
        return;
      }
    }
    if (r < 0) DECLINE(f);
    return;
  }
  unsigned fl = k_tag[tag];
  if (fl & F_CLOSEP) {
    close_p(f);
    insert(f, tag, 1);
    return;
  }
  if (fl & F_VOIDHEAD) {
    if (tag == GUMBO_TAG_BASE) note_base(f, f->n);
    insert(f, tag, 0);
    return;
  }
  if (fl & F_FMT) {
    if (tag == GUMBO_TAG_NOBR) {
      DECLINE(f);
      return;
    }
    if (tag == GUMBO_TAG_A && f->count[GUMBO_TAG_A]) {
      /* <a> inside <a>: the adoption agency closes the open one, which we
       * follow when only plain elements are above it */
      size_t i = f->n;
      while (i-- > 0 && f->st[i].tag != GUMBO_TAG_A)
        if (k_tag[f->st[i].tag] & (F_SPECIAL | F_FMT)) {
          DECLINE(f);
          return;
        }
      while (!f->err && f->n > i + 1) pop(f, 1);
      if (!f->err) pop(f, 0);
      if (f->err) return;
    }
    insert(f, tag, 1);
    return;
  }
  switch (tag) {
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
      close_p(f);
      if (is_heading(cur_tag(f))) {
        DECLINE(f);
        return;
      }
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_LISTING:
      close_p(f);
      insert(f, tag, 1);
      f->ignore_lf = 1;
      return;
    case GUMBO_TAG_LI:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DT:
      for (size_t i = f->n; i-- > 0;) {
        int s = f->st[i].tag;
        if (tag == GUMBO_TAG_LI ? s == GUMBO_TAG_LI : (s == GUMBO_TAG_DD || s == GUMBO_TAG_DT)) {
          close_tags(f, s);
          break;
        }
        if ((k_tag[s] & F_SPECIAL) && s != GUMBO_TAG_ADDRESS && s != GUMBO_TAG_DIV &&
            s != GUMBO_TAG_P)
          break;
      }
      if (f->err) return;
      close_p(f);
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_BUTTON:
      if (in_scope(f, GUMBO_TAG_BUTTON, -1, -1, 0)) {
        DECLINE(f);
        return;
      }
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_MARQUEE:
    case GUMBO_TAG_OBJECT:
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_TABLE:
      if (in_scope(f, GUMBO_TAG_P, GUMBO_TAG_BUTTON, -1, 0)) {
        if (f->quirks < 0) {
          DECLINE(f);
          return;
        }
        if (!f->quirks) close_p(f);
      }
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_AREA:
    case GUMBO_TAG_BR:
    case GUMBO_TAG_EMBED:
    case GUMBO_TAG_IMG:
    case GUMBO_TAG_KEYGEN:
    case GUMBO_TAG_WBR:
    case GUMBO_TAG_INPUT:
    case GUMBO_TAG_PARAM:
    case GUMBO_TAG_SOURCE:
    case GUMBO_TAG_TRACK:
      insert(f, tag, 0);
      return;
    case GUMBO_TAG_HR:
      close_p(f);
      insert(f, tag, 0);
      return;
    case GUMBO_TAG_TEXTAREA:
    case GUMBO_TAG_TITLE:
      if (!insert(f, tag, 1)) return;
      f->ignore_lf = tag == GUMBO_TAG_TEXTAREA;
      raw_text(f, t->name, t->nlen, 1, 0);
      return;
    case GUMBO_TAG_XMP:
      close_p(f);
      /* fall through */
    case GUMBO_TAG_IFRAME:
    case GUMBO_TAG_NOEMBED:
    case GUMBO_TAG_NOFRAMES:
    case GUMBO_TAG_STYLE:
    case GUMBO_TAG_SCRIPT:
      if (!insert(f, tag, 1)) return;
      raw_text(f, t->name, t->nlen, 0, tag == GUMBO_TAG_SCRIPT);
      return;
    case GUMBO_TAG_OPTION:
    case GUMBO_TAG_OPTGROUP:
      if (cur_tag(f) == GUMBO_TAG_OPTION) pop(f, 1);
      insert(f, tag, 1);
      return;
    case GUMBO_TAG_SVG:
      svg_skip(f, t->self_closing);
      return;
    case GUMBO_TAG_SELECT:
      select_skip(f);
      return;
    case GUMBO_TAG_FORM:
      if (f->form) return; /* a nested form is ignored */
      close_p(f);
      if (insert(f, tag, 1)) f->form = 1;
      return;
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_BODY:
      /* attributes merged into an existing element: no change we keep */
      return;
    case GUMBO_TAG_FRAME:
    case GUMBO_TAG_HEAD:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_COL:
    case GUMBO_TAG_COLGROUP:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TR:
      return; /* ignored in body */
    case GUMBO_TAG_FRAMESET:
    case GUMBO_TAG_PLAINTEXT:
    case GUMBO_TAG_IMAGE:
    case GUMBO_TAG_ISINDEX:
    case GUMBO_TAG_RB:
    case GUMBO_TAG_RP:
    case GUMBO_TAG_RT:
    case GUMBO_TAG_RTC:
    case GUMBO_TAG_MATH:
    case GUMBO_TAG_TEMPLATE:
      DECLINE(f);
      return;
    default:
      insert(f, tag, 1);
      return;
  }
}

static void end_tag_body(fp *f, int tag) {
  int mode = f->st[f->n - 1].mode;
  if (mode == M_CELL) {
    switch (tag) {
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TH:
        if (!in_scope(f, tag, -1, -1, 1)) {
          DECLINE(f);
          return;
        }
        close_tags(f, tag);
        return;
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
        if (!in_scope(f, tag, -1, -1, 1)) {
          DECLINE(f);
          return;
        }
        close_cell(f);
        if (!f->err) end_tag_body(f, tag);
        return;
      case GUMBO_TAG_BODY:
      case GUMBO_TAG_CAPTION:
      case GUMBO_TAG_COL:
      case GUMBO_TAG_COLGROUP:
      case GUMBO_TAG_HTML:
        DECLINE(f);
        return;
      default:
        break;
    }
  } else if (mode == M_CAPTION) {
    if (tag == GUMBO_TAG_CAPTION) {
      implied_end_tags(f, -1);
      if (f->err || cur_tag(f) != GUMBO_TAG_CAPTION) {
        DECLINE(f);
        return;
      }
      pop(f, 0);
      return;
    }
    switch (tag) {
      case GUMBO_TAG_TABLE:
      case GUMBO_TAG_BODY:
      case GUMBO_TAG_COL:
      case GUMBO_TAG_COLGROUP:
      case GUMBO_TAG_HTML:
      case GUMBO_TAG_TBODY:
      case GUMBO_TAG_TD:
      case GUMBO_TAG_TFOOT:
      case GUMBO_TAG_TH:
      case GUMBO_TAG_THEAD:
      case GUMBO_TAG_TR:
        DECLINE(f);
        return;
      default:
        break;
    }
  } else if (mode != M_BODY) {
    int r;
    while ((r = table_end(f, tag, f->st[f->n - 1].mode)) == 0) {
      int m = f->st[f->n - 1].mode;
      if (m == M_BODY || m == M_CELL || m == M_CAPTION) {
        end_tag_body(f, tag);
        return;
      }
    }
    if (r < 0) DECLINE(f);
    return;
  }
  /* an end tag gumbo ignores changes nothing, not even the text node */
  unsigned fl = k_tag[tag];
  if (fl & F_BLOCKEND) {
    if (in_scope(f, tag, -1, -1, 0)) close_tags(f, tag);
    return;
  }
  if (fl & F_FMT) {
    if (!f->count[tag]) return; /* not in the active formatting list */
    /* the adoption agency without a furthest block: pops up to the
     * element, when nothing special or formatting is above it */
    size_t i = f->n;
    while (i-- > 0 && f->st[i].tag != tag)
      if (k_tag[f->st[i].tag] & (F_SPECIAL | F_FMT)) {
        DECLINE(f);
        return;
      }
    while (!f->err && f->n > i + 1) pop(f, 1);
    if (!f->err) pop(f, 0);
    return;
  }
  switch (tag) {
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_HTML:
      /* the after body modes send everything but comments back here, and
       * comments end the text node either way: nothing to do */
      return;
    case GUMBO_TAG_P:
      if (!in_scope(f, GUMBO_TAG_P, GUMBO_TAG_BUTTON, -1, 0)) {
        /* a stray </p> is an empty paragraph */
        f->nat = 0;
        if (!insert(f, GUMBO_TAG_P, 1)) return;
      }
      close_tags(f, GUMBO_TAG_P);
      return;
    case GUMBO_TAG_LI:
      if (in_scope(f, GUMBO_TAG_LI, GUMBO_TAG_OL, GUMBO_TAG_UL, 0)) close_tags(f, GUMBO_TAG_LI);
      return;
    case GUMBO_TAG_DD:
    case GUMBO_TAG_DT:
      if (in_scope(f, tag, -1, -1, 0)) close_tags(f, tag);
      return;
    case GUMBO_TAG_H1:
    case GUMBO_TAG_H2:
    case GUMBO_TAG_H3:
    case GUMBO_TAG_H4:
    case GUMBO_TAG_H5:
    case GUMBO_TAG_H6:
      if (!in_scope(f, GUMBO_TAG_H1, -1, -1, 0) && !in_scope(f, GUMBO_TAG_H2, -1, -1, 0) &&
          !in_scope(f, GUMBO_TAG_H3, -1, -1, 0) && !in_scope(f, GUMBO_TAG_H4, -1, -1, 0) &&
          !in_scope(f, GUMBO_TAG_H5, -1, -1, 0) && !in_scope(f, GUMBO_TAG_H6, -1, -1, 0))
        return;
      /* pops up to the nearest heading, whichever it is */
      implied_end_tags(f, -1);
      while (!f->err) {
        int h = is_heading(cur_tag(f));
        pop(f, !h);
        if (h) break;
      }
      return;
    case GUMBO_TAG_APPLET:
    case GUMBO_TAG_MARQUEE:
    case GUMBO_TAG_OBJECT:
      if (in_scope(f, tag, -1, -1, 1)) close_tags(f, tag);
      return;
    case GUMBO_TAG_FORM:
      if (!f->form || !in_scope(f, GUMBO_TAG_FORM, -1, -1, 0)) {
        DECLINE(f);
        return;
      }
      implied_end_tags(f, -1);
      if (f->err || cur_tag(f) != GUMBO_TAG_FORM) {
        DECLINE(f); /* gumbo takes the form out of the middle of the stack */
        return;
      }
      /* gumbo takes it off the stack without popping: the pending text
       * stays pending, for whatever element is current when it flushes */
      f->count[GUMBO_TAG_FORM]--;
      f->n--;
      f->form = 0;
      return;
    case GUMBO_TAG_BR:
      /* </br> is <br> */
      f->nat = 0;
      insert(f, GUMBO_TAG_BR, 0);
      return;
    case GUMBO_TAG_TEMPLATE:
      DECLINE(f);
      return;
    default:
      break;
  }
  /* any other end tag: gumbo compares tags, so every unknown tag matches */
  for (size_t i = f->n; i-- > 0;) {
    int s = f->st[i].tag;
    if (s == tag) {
      implied_end_tags(f, tag);
      while (!f->err && f->n > i + 1) pop(f, 1);
      if (!f->err) pop(f, 0);
      return;
    }
    if (k_tag[s] & F_SPECIAL) return; /* ignored */
  }
}

/* Character data between tags, in any phase. */
static void text_run(fp *f, const char *s, const char *e) {
  if (f->ignore_lf) {
    f->ignore_lf = 0;
    if (s < e && *s == '\n') s++;
    if (s < e && *s == '&') {
      DECLINE(f);
      return;
    }
  }
  if (f->phase != P_BODY) {
    while (s < e && ws(*s)) s++;
    if (s == e) return;
    if (*s == '&') {
      DECLINE(f);
      return;
    }
    if (f->quirks < 0) f->quirks = 1;
    start_body(f);
    if (f->err) return;
  }
  int mode = f->st[f->n - 1].mode;
  if (mode != M_BODY && mode != M_CELL && mode != M_CAPTION) {
    /* table text: whitespace only, or it would be foster-parented */
    for (const char *q = s; q < e; q++)
      if (!ws(*q)) {
        DECLINE(f);
        return;
      }
    text_add(f, s, (size_t)(e - s));
    return;
  }
  while (s < e) {
    const char *amp = memchr(s, '&', (size_t)(e - s));
    if (!amp) {
      text_add(f, s, (size_t)(e - s));
      return;
    }
    text_add(f, s, (size_t)(amp - s));
    s = amp;
    char buf[8];
    int k = char_ref(&s, e, 0, buf);
    if (k < 0) {
      DECLINE(f);
      return;
    }
    if (!k) {
      text_add(f, s, 1);
      s++;
    } else {
      /* decoded text cannot stay borrowed from the input */
      if (!f->tbuf) {
        const char *tp = f->tp;
        size_t tl = f->tl;
        f->tbuf = 1;
        f->tbn = 0;
        f->tl = 0;
        text_add(f, tp, tl);
      }
      text_add(f, buf, (size_t)k);
    }
    if (f->err) return;
  }
}

/* A start or end tag before <body>. */
static void tag_head(fp *f, fp_tag *t) {
  int tag = t->tag;
  if (t->end) {
    if (tag == GUMBO_TAG_HEAD && f->phase <= P_IN_HEAD) {
      f->phase = P_AFTER_HEAD;
    } else if (tag == GUMBO_TAG_BODY || tag == GUMBO_TAG_HTML || tag == GUMBO_TAG_BR) {
      start_body(f);
      if (!f->err) end_tag_body(f, tag);
    }
    return; /* other end tags are ignored before <body> */
  }
  switch (tag) {
    case GUMBO_TAG_HTML:
      if (f->phase == P_INITIAL)
        f->phase = P_BEFORE_HEAD;
      else
        DECLINE(f);
      return;
    case GUMBO_TAG_HEAD:
      if (f->phase <= P_BEFORE_HEAD)
        f->phase = P_IN_HEAD;
      else
        DECLINE(f);
      return;
    case GUMBO_TAG_BODY:
      start_body(f);
      return;
    case GUMBO_TAG_NOSCRIPT:
      if (f->phase == P_AFTER_HEAD) {
        DECLINE(f);
        return;
      }
      f->phase = P_IN_HEAD;
      head_noscript(f);
      return;
    case GUMBO_TAG_FRAMESET:
    case GUMBO_TAG_TEMPLATE:
      DECLINE(f);
      return;
    default:
      break;
  }
  int headish = (k_tag[tag] & F_VOIDHEAD) || tag == GUMBO_TAG_TITLE || tag == GUMBO_TAG_NOFRAMES ||
                tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_SCRIPT;
  if (!headish) {
    start_body(f);
    if (!f->err) start_tag_body(f, t);
    return;
  }
  if (f->phase == P_AFTER_HEAD) {
    DECLINE(f);
    return;
  }
  f->phase = P_IN_HEAD;
  if (tag == GUMBO_TAG_BASE) note_base(f, 2);
  if (k_tag[tag] & F_VOIDHEAD) return;
  /* raw text in <head>: skipped, nothing of it reaches the body */
  const char *lt =
      tag == GUMBO_TAG_SCRIPT ? script_end(f->p, f->end) : raw_end(f->p, f->end, t->name, t->nlen);
  if (!lt) {
    DECLINE(f);
    return;
  }
  f->p = lt;
  fp_tag et;
  if (read_tag(f, &et, 0)) DECLINE(f);
}

static void doctype(fp *f) {
  /* A doctype ends at its first '>', quoted or not. First in the document
   * it sets the mode: no-quirks for "<!DOCTYPE html>"; any other one may be
   * quirks or limited quirks, which only <table> inside <p> tells apart, so
   * that case declines. Anywhere else it is ignored. */
  const char *p = f->p + 9, *e = f->end;
  const char *gt = memchr(p, '>', (size_t)(e - p));
  if (!gt) {
    DECLINE(f);
    return;
  }
  if (f->phase == P_INITIAL && f->quirks == -1) {
    while (p < gt && ws(*p)) p++;
    int html = gt - p >= 4 && !strncasecmp(p, "html", 4);
    if (html) p += 4;
    while (p < gt && ws(*p)) p++;
    f->quirks = html && p == gt ? 0 : -2;
  }
  f->p = gt + 1;
}

static void parse(fp *f) {
  const char *e = f->end;
  while (!f->err) {
    const char *p = f->p;
    const char *lt = memchr(p, '<', (size_t)(e - p));
    const char *stop = lt ? lt : e;
    if (stop > p) text_run(f, p, stop);
    f->p = stop;
    if (!lt || f->err) break;
    if (lt + 1 >= e) {
      text_run(f, lt, e);
      f->p = e;
      break;
    }
    char c = lt[1];
    if (alpha(c) || (c == '/' && lt + 2 < e && alpha(lt[2]))) {
      fp_tag t;
      f->ignore_lf = 0;
      if (f->quirks < 0) f->quirks = 1; /* no doctype first: quirks mode */
      if (read_tag(f, &t, c != '/')) {
        DECLINE(f);
        break;
      }
      if (f->phase != P_BODY)
        tag_head(f, &t);
      else if (t.end)
        end_tag_body(f, t.tag);
      else
        start_tag_body(f, &t);
      continue;
    }
    if (c == '!') {
      f->ignore_lf = 0;
      if (e - lt >= 4 && lt[2] == '-' && lt[3] == '-') {
        const char *q = lt + 4;
        if (q < e && (*q == '>' || (*q == '-' && q + 1 < e && q[1] == '>'))) {
          DECLINE(f);
          break;
        }
        const char *end = memmem(q, (size_t)(e - q), "-->", 3);
        if (!end || memmem(q, (size_t)(end - q), "--!>", 4)) {
          DECLINE(f);
          break;
        }
        if (f->phase == P_BODY) flush(f);
        f->p = end + 3;
        continue;
      }
      if (e - lt >= 9 && !strncasecmp(lt + 2, "doctype", 7)) {
        doctype(f);
        continue;
      }
      DECLINE(f);
      break;
    }
    if (c == '/' || c == '?') {
      DECLINE(f);
      break;
    }
    /* a '<' that opens nothing is text */
    text_run(f, lt, lt + 1);
    f->p = lt + 1;
  }
  if (f->err) return;
  if (f->phase != P_BODY) start_body(f);
  if (f->err) return;
  flush(f);
}

/* ---------- entry points ---------- */

int pb_fastparse(const char *html, size_t len, pb_hdoc **out) {
  int has_cr;
  *out = NULL;
  if (!html) html = "";
  if (check_input(html, len, &has_cr)) return PB_EINVAL;
  pb_hdoc *d = calloc(1, sizeof(*d));
  if (!d) return PB_ENOMEM;
  /* chunks of 32 KiB doubling up to 4 MiB: a small page costs one malloc,
   * a large one few */
  pb_arena_init(&d->arena, 8, (size_t)32 << 10, (size_t)4 << 20, 0);
  if (has_cr) {
    /* the input stream's newline normalisation */
    d->norm = malloc(len + 1);
    if (!d->norm) {
      free(d);
      return PB_ENOMEM;
    }
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
      if (html[i] == '\r') {
        d->norm[o++] = '\n';
        if (i + 1 < len && html[i + 1] == '\n') i++;
      } else {
        d->norm[o++] = html[i];
      }
    }
    html = d->norm;
    len = o;
  }
  fp f;
  memset(&f, 0, sizeof(f));
  f.d = d;
  f.p = html;
  f.end = html + len;
  f.quirks = -1; /* no doctype yet */
  f.cap = 64;
  f.st = malloc(f.cap * sizeof(*f.st));
  if (!f.st) {
    pb_hdoc_free(d);
    return PB_ENOMEM;
  }
  push(&f, GUMBO_TAG_HTML, NULL);
  parse(&f);
  free(f.st);
  free(f.tb);
  free(f.at);
  if (f.err) {
    pb_hdoc_free(d);
    return f.err;
  }
  *out = d;
  return 0;
}

const pb_hnode *pb_hdoc_body(const pb_hdoc *d) {
  return d->body;
}

const char *pb_hdoc_base_href(const pb_hdoc *d) {
  return d->base_href;
}

void pb_hdoc_free(pb_hdoc *d) {
  if (!d) return;
  pb_arena_free(&d->arena);
  free(d->norm);
  free(d);
}
