#ifndef PB_SESSIONS_DLSTORE_H
#define PB_SESSIONS_DLSTORE_H
/* Downloads kept after their session ended, like traces (trace/store.h):
 * one directory per session, named "<account>-<session id>", so a lookup
 * can only ever reach the asking account's own; in it "index.json" (the
 * session's download list) and one file per completed download, named by
 * its guid. Kept PB_DLSTORE_KEEP_MS, then swept. Also reads a completed
 * download of a live session from its browser's download dir.
 *
 * The daemon opens the store and lends it to the sessions (which fill it at
 * teardown) and to the operations that read it. Thread-safe: the handle
 * does not change after open, and each call works on its own files. */
#include "cdp/proxy.h"

#include <stddef.h>
#include <stdint.h>

#define PB_DLSTORE_KEEP_MS (24LL * 3600 * 1000)

typedef struct pb_dl_store pb_dl_store;

/* Opens the store in dir (copied), creating it (0700) when missing, and
 * sweeps it. PB_EINVAL when dir is NULL or too long; PB_ENOMEM. */
int pb_dl_store_open(const char *dir, pb_dl_store **out);
/* NULL is a no-op. Files stay. */
void pb_dl_store_close(pb_dl_store *st);

/* Deletes the sessions' directories last modified more than
 * PB_DLSTORE_KEEP_MS ago. */
void pb_dl_store_sweep(pb_dl_store *st);

/* Keeps an ended session's downloads: the list (n entries, borrowed; those
 * still in progress are kept as canceled) and the file of each completed
 * one, copied from src_dir (the browser's download dir, which its browser
 * may have filled with anything: read without following links, regular
 * files of at most cap bytes only). Sweeps first. PB_EINVAL when st is NULL;
 * PB_EIO. */
int pb_dl_store_keep(pb_dl_store *st, int64_t account_id, const char *session_id,
                     const char *src_dir, const pb_download *list, size_t n, int64_t cap);

/* The kept list of the account's session: *out malloc'd (caller frees;
 * NULL when empty). PB_ENOTFOUND when there is none for this account. */
int pb_dl_store_list(pb_dl_store *st, int64_t account_id, const char *session_id, pb_download **out,
                     size_t *n);

/* The bytes of one kept download (malloc'd into *data, caller frees).
 * PB_ENOTFOUND; PB_ETOOBIG past cap. */
int pb_dl_store_read(pb_dl_store *st, int64_t account_id, const char *session_id, const char *guid,
                     int64_t cap, char **data, size_t *len);

/* The bytes of a download in a live browser's download dir dir, read
 * without following links (the last three parts of dir are the browser's:
 * "<profile>/downloads/<leaf>"). PB_ENOTFOUND; PB_ETOOBIG past cap. */
int pb_dl_read_live(const char *dir, const char *guid, int64_t cap, char **data, size_t *len);

/* A download's media type, guessed from its suggested name's extension;
 * "application/octet-stream" when unknown. Static string. */
const char *pb_download_mime(const char *name);

#endif
