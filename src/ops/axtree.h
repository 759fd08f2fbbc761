#ifndef PB_OPS_AXTREE_H
#define PB_OPS_AXTREE_H
/* The page's accessibility tree as page.accessibility.snapshot() of
 * Puppeteer gives it: nested {role, name, value, description, states,
 * children}, shared by POST /browser/accessibilityTree and /browser/snapshot's
 * formats. Also the page facts Cloudflare puts in an answer's "meta". */
#include "ops/nav.h"

/* A page with more DOM nodes is not read: Chromium's tree for it is parsed
 * whole, about 5.7 KiB of memory a node (20000 nodes: a peak of about 110
 * MiB for the request). PAGE_TOO_LARGE. */
#define PB_AXTREE_MAX_DOM_NODES 20000
/* An answer has at most this many nodes, this deep, with this many bytes
 * of text; past any of them the tree is cut and "truncated" says so. */
#define PB_AXTREE_MAX_NODES 10000
#define PB_AXTREE_MAX_DEPTH 200
#define PB_AXTREE_MAX_TEXT ((size_t)4 << 20)

/* The tree of the loaded page in nav, from the first element matching root
 * (NULL: the whole page); only the interesting nodes as Puppeteer judges
 * them when interesting_only. *tree is NULL when root matches nothing or
 * has no node in the tree; *truncated is 1 when a cap cut it. 0, or -1 with
 * res failed (INVALID_SELECTOR, PAGE_TOO_LARGE, ...). */
int pb_axtree_snapshot(pb_nav *nav, const char *root, int interesting_only, cJSON **tree,
                       int *truncated, pb_op_result *res);

/* {status, title}: the main document's HTTP status (null when unknown) and
 * title, as Cloudflare's answers carry in "meta"; with full, also url,
 * description, canonical, lang and the og:/twitter: tags (snapshot's
 * "meta" format). NULL on failure. */
cJSON *pb_page_meta(pb_nav *nav, int full);

/* POST /browser/accessibilityTree: {success, result:{accessibilityTree},
 * meta:{status, title}} as Cloudflare answers, truncated when cut
 * (axtree.c). */
int pb_op_axtree(pb_job *job, pb_op_result *res);

/* POST /browser/json: a tenant's JSON Schema whose properties carry CSS or
 * XPath selectors, filled from the page, coerced to the schema's types and
 * validated against it: {success, result} (jsonx.c). A prompt, or a schema
 * without selectors, is 400 NO_MODEL: there is no language model here. */
int pb_op_json_extract(pb_job *job, pb_op_result *res);

#endif
