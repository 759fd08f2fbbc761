#ifndef PB_SESSIONS_DOWNLOADS_H
#define PB_SESSIONS_DOWNLOADS_H
/* Where a page's downloads go and how big they may get. Each quick action's
 * BrowserContext (and each acquired session) downloads into a directory of
 * its own inside the browser's private profile dir: 0700, owned by the user
 * Chromium runs as, wiped when the context is disposed and in any case with
 * the profile (browser exit, or the sweep after a crash). A download past
 * the size cap is cancelled; the page and the job carry on. */
#include "cdp/cdp.h"
#include "cdp/targets.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define PB_DOWNLOAD_MAX_BYTES ((int64_t)50 << 20)

/* "<profile>/downloads/<context_id>" ("<profile>/downloads/browser" for
 * context_id NULL or ""). PB_EINVAL for a context id that is not a plain
 * token, PB_ETOOBIG when it does not fit. */
int pb_downloads_dir(const char *profile, const char *context_id, char *out, size_t cap);

/* Creates the directory (and its parent), 0700, owned like the profile dir
 * it is in, so Chromium can write there whoever runs the service. */
int pb_downloads_prepare(const char *dir);

/* 1 when the directory holds anything (a download started there). */
int pb_downloads_used(const char *dir);

/* Removes the directory and everything in it (not following links). */
void pb_downloads_wipe(const char *dir);

/* The size cap is enforced on the browser's events: see
 * pb_targets_cap_download() in cdp/targets.h. */

#endif
