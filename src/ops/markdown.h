#ifndef PB_OPS_MARKDOWN_H
#define PB_OPS_MARKDOWN_H
/* The Markdown of a loaded page, as POST /browser/markdown makes it; shared
 * with /browser/snapshot's markdown format. */
#include "ops/nav.h"

/* Converts the page nav holds as job->opts.markdown asks (mode, front
 * matter, markdownOptions): *md (caller frees), *readable 1 when
 * Readability's article was converted, note (notecap bytes) what was done
 * when it was not what was asked ("" otherwise). The page stays held. 0, or
 * -1 with res failed. */
int pb_markdown_page(pb_job *job, pb_nav *nav, char **md, int *readable, char *note, size_t notecap,
                     pb_op_result *res);

#endif
