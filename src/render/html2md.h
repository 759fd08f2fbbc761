#ifndef PB_RENDER_HTML2MD_H
#define PB_RENDER_HTML2MD_H
/* HTML -> Markdown. Pure: no I/O, no CDP, no globals; safe to call from any
 * thread. Our fast parser (gumbo where it declines) parses the HTML; the
 * converter walks the tree with turndown's rules (same option names and
 * defaults, so turndown users can switch) and fixes what turndown gets wrong:
 * <pre> without <code>, code languages, GFM tables, lazy images, relative
 * URLs, raw HTML leaking through text, block content inside links and
 * headings, runs of <br>. See docs in the .c. */
#include <stddef.h>

struct cJSON;

enum { PB_MD_HEADING_SETEXT = 0, PB_MD_HEADING_ATX = 1 };
enum { PB_MD_CODE_INDENTED = 0, PB_MD_CODE_FENCED = 1 };
enum { PB_MD_LINK_INLINED = 0, PB_MD_LINK_REFERENCED = 1 };
enum { PB_MD_REF_FULL = 0, PB_MD_REF_COLLAPSED = 1, PB_MD_REF_SHORTCUT = 2 };

/* Conversion options. Caller-allocated; fill with pb_md_opts_default first.
 * Field comments give the turndown option name and its default. */
typedef struct pb_md_opts {
  int heading_style;        /* headingStyle: "setext" | "atx" */
  char hr[32];              /* hr: "* * *" */
  char bullet_list_marker;  /* bulletListMarker: '*' ('-', '+') */
  int code_block_style;     /* codeBlockStyle: "indented" | "fenced" */
  char fence[8];            /* fence: "```" ("~~~") */
  char em_delimiter[4];     /* emDelimiter: "_" ("*") */
  char strong_delimiter[4]; /* strongDelimiter: "**" ("__") */
  int link_style;           /* linkStyle: "inlined" | "referenced" */
  int link_reference_style; /* linkReferenceStyle: "full" | "collapsed" | "shortcut" */
  char br[16];              /* br: "  " (two spaces) or "\\" */
  int preformatted_code;    /* preformattedCode: false */
  int gfm;                  /* gfm: tables, ~~strikethrough~~, [x] task lists; on */
  char base_url[2048];      /* baseUrl: "" = leave relative URLs alone (a <base
                               href> that is absolute still applies) */
  size_t max_input;         /* bytes of HTML accepted; default 32 MiB */
  size_t max_output;        /* bytes of Markdown produced; default 64 MiB */
  int max_depth;            /* element nesting kept as structure; deeper
                               content is kept as plain text. Default 256 */
} pb_md_opts;

/* Fills o with the defaults (turndown's, plus gfm on). Cannot fail. */
void pb_md_opts_default(pb_md_opts *o);

/* Reads turndown-style options from a JSON object into out, which the caller
 * has filled with defaults. Unknown keys are ignored; "plugins":["gfm"] and
 * "gfm":bool set gfm; "baseUrl" sets base_url. A wrong type or value returns
 * PB_EINVAL with a message in err (NUL-terminated, truncated to errcap).
 * o may be NULL (no change). out is unchanged on error. */
int pb_md_opts_from_json(const struct cJSON *o, pb_md_opts *out, char *err, size_t errcap);

/* Converts len bytes of HTML (UTF-8; a document or a fragment) to Markdown.
 * o may be NULL for the defaults. On success *md_out is a NUL-terminated
 * string of *md_len bytes the caller frees with free(). Returns 0,
 * PB_ETOOBIG (input or output over the caps in o), PB_ENOMEM or PB_EINVAL.
 * On error *md_out is NULL. Deep nesting is never an error: the tree is
 * capped at 512 levels as Chromium's parser caps it, and max_depth applies
 * below that. */
int pb_html2md(const char *html, size_t len, const pb_md_opts *o, char **md_out, size_t *md_len);

/* Which HTML parser pb_html2md_ex uses. AUTO is pb_html2md's choice: the
 * fast parser (fastparse.h), and gumbo for the documents it declines. GUMBO
 * and FAST force one; FAST returns PB_EINVAL for a document it declines.
 * Both build the same tree, so the Markdown is the same: the tests and the
 * fuzz target check that. */
enum { PB_MD_PARSE_AUTO = 0, PB_MD_PARSE_GUMBO = 1, PB_MD_PARSE_FAST = 2 };

/* pb_html2md with a choice of parser (PB_MD_PARSE_*); same contract. */
int pb_html2md_ex(const char *html, size_t len, const pb_md_opts *o, int parser, char **md_out,
                  size_t *md_len);

#endif
