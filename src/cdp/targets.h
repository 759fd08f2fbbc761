#ifndef PB_CDP_TARGETS_H
#define PB_CDP_TARGETS_H
/* Bookkeeping of one browser's targets, from the Target.targetCreated /
 * targetDestroyed events and the replies the caller feeds it, so that what
 * pages open can be capped: per BrowserContext (a quick action's), and per
 * browser (an acquired session's). Also maps a page (its main frame) to its
 * context, for commands such as Browser.cancelDownload that need one.
 * Thread-safe; no I/O. */
#include "cdp/cdp.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pb_targets pb_targets;

int pb_targets_new(pb_targets **out);
/* NULL is a no-op. */
void pb_targets_free(pb_targets *t);

/* A target came into being (a targetCreated's targetInfo, borrowed).
 * Returns how many targets its context has seen created so far, this one
 * included (a context's count is not lowered by targets that closed: it
 * measures what the page tried). */
int pb_targets_created(pb_targets *t, const cJSON *info);

/* A target went away. Unknown ids are ignored. */
void pb_targets_destroyed(pb_targets *t, const char *target_id);

/* Live page targets of the whole browser that this tracker knows of. */
int pb_targets_live_pages(pb_targets *t);

/* The context of a known target (e.g. the frameId of a main-frame download),
 * copied to out; 0, or PB_ENOTFOUND ("" in out). */
int pb_targets_context_of(pb_targets *t, const char *target_id, char *out, size_t cap);

/* Copies up to max known context ids (each 64 bytes) to out; returns how
 * many. */
int pb_targets_contexts(pb_targets *t, char (*out)[64], int max);

/* A context came into being (e.g. a client's Target.createBrowserContext):
 * known from now on, for pb_targets_cap_download(). */
void pb_targets_add_context(pb_targets *t, const char *context_id);

/* A download began in a frame (Browser.downloadWillBegin's frameId): its
 * page's context is marked, or every known context when the frame is not a
 * known page's main frame. */
void pb_targets_download_began(pb_targets *t, const char *frame_id);

/* 1 when a download began in the context. */
int pb_targets_downloaded(pb_targets *t, const char *context_id);

/* The context was disposed: forget it and its targets. */
void pb_targets_forget(pb_targets *t, const char *context_id);

/* For a Browser.downloadProgress event (params borrowed): when the download
 * is in progress and over cap bytes (received, or announced in total), asks
 * the browser over c to cancel it, in each context t knows of (the event
 * does not name one; t may be NULL) and in the default one. Returns 1 when it
 * asked. */
int pb_targets_cap_download(pb_cdp *c, pb_targets *t, const cJSON *progress, int64_t cap);

#endif
