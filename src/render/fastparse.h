#ifndef PB_RENDER_FASTPARSE_H
#define PB_RENDER_FASTPARSE_H
/* A single-pass HTML tokenizer and tree builder for the common, well-formed
 * subset of HTML, about ten times faster than gumbo. It builds exactly the
 * <body> subtree gumbo 0.10 would build (same elements, same text-node
 * boundaries, same decoded text and attributes) or declines: on anything it
 * cannot be sure to build as an HTML5 parser does (misnested formatting
 * elements that need the adoption agency, content foster-parented out of
 * tables, stray end tags, framesets, forms, MathML, select, templates,
 * ambiguous character references, invalid UTF-8, NUL...) it returns
 * PB_EINVAL and the caller parses with gumbo instead. Comments are not kept;
 * they only end the text node before them, as in gumbo's tree. One
 * difference from gumbo, on purpose: past 512 open elements a node is
 * attached to the current node's parent, as Chromium's tree builder does,
 * so the tree is never deeper than that and deep markup never declines. */
#include <stddef.h>

#define PB_HNODE_TEXT (-1)

/* One attribute; name lower-cased, value decoded; both NUL-terminated. */
typedef struct pb_hattr {
  const char *name, *value;
} pb_hattr;

typedef struct pb_hnode pb_hnode;
struct pb_hnode {
  pb_hnode *parent, *first, *last, *next;
  int tag;          /* a GumboTag, or PB_HNODE_TEXT */
  const char *text; /* text nodes: tlen bytes, not NUL-terminated */
  size_t tlen;
  const pb_hattr *attrs; /* elements: nattrs attributes in source order */
  unsigned nattrs;
};

typedef struct pb_hdoc pb_hdoc;

/* Parses len bytes of html. On success *out holds the tree; it borrows html,
 * which must outlive it. Returns 0, PB_EINVAL (declined: parse with gumbo)
 * or PB_ENOMEM. */
int pb_fastparse(const char *html, size_t len, pb_hdoc **out);

/* The <body> element (always present). Borrowed from d. */
const pb_hnode *pb_hdoc_body(const pb_hdoc *d);

/* href of the first <base> with one within four levels of <html>, the one
 * html2md's gumbo path finds; NULL if none. Borrowed from d. */
const char *pb_hdoc_base_href(const pb_hdoc *d);

/* Frees d and everything in it. NULL is a no-op. */
void pb_hdoc_free(pb_hdoc *d);

#endif
