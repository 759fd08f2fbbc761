#ifndef PB_OPS_SCROLL_H
#define PB_OPS_SCROLL_H
/* scrollPage: before an action, scroll through the loaded page a viewport
 * at a time so that content which appears only when scrolled into view
 * (IntersectionObserver, loading=lazy images, infinite scroll) is there,
 * then back to the top.
 *
 * It stops at the bottom (when the page stopped growing for a moment), at
 * PB_FULLPAGE_MAX_HEIGHT (the tallest full-page screenshot), or when its
 * time budget is spent: at most PB_SCROLL_MAX_MS and at most half of what
 * is left before the job's deadline, so the action still has its time.
 * Images started by the scroll are awaited within the same budget. Runs on
 * the job thread. */
#include "ops/nav.h"

#define PB_SCROLL_MAX_MS 10000
#define PB_SCROLL_STEP_MS 100 /* a pause after each step for observers and fetches */

/* Scrolls n's page as above. 0 on success (*capped: 1 when the height cap
 * or the budget stopped it before the bottom; may be NULL); -1 with res
 * holding the error (the page crashed, the job's deadline passed). */
int pb_op_scroll_page(pb_nav *n, int *capped, pb_op_result *res);

#endif
