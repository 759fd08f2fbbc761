#ifndef PB_SESSIONS_CONTEXTS_H
#define PB_SESSIONS_CONTEXTS_H
/* Persistent contexts: a browser profile's state (cookies, localStorage,
 * IndexedDB, service worker registrations) kept between sessions.
 *
 * Each context is a row in the store (core/store.h: owner, name, size, the
 * session holding it) and a directory <data>/contexts/<account>/<id>/ (or
 * under --contexts-dir, shared by the nodes of a cluster) with
 * the parts of a Chromium profile worth keeping, in the data dir that no
 * browser can see (sessions/isolate.h). A session started on a context gets
 * a fresh browser whose profile is seeded with a copy of that directory;
 * with persist, when the session ends its closed browser's profile parts
 * are copied into a new directory next to it, which then takes the old
 * one's place in one rename (the old state stays until that rename, so a
 * crash, a failed copy or a copy over the cap leaves the last good state).
 *
 * Thread-safe: the store serialises the rows, and a context's directory is
 * written only by the session holding it. */
#include "core/store.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct pb_contexts pb_contexts;

/* Opens <data_dir>/contexts (made 0700) and removes what an interrupted
 * save or delete left there. store is borrowed. */
int pb_contexts_open(pb_store *store, const char *data_dir, pb_contexts **out);
/* The same on dir (--contexts-dir: a directory the nodes of a cluster
 * share, made 0700 when missing), or <data_dir>/contexts when dir is NULL.
 * The directory is refused (PB_EINVAL, why says it in a sentence) when it
 * is a symbolic link, not a directory, not owned by this uid, or writable
 * by everyone (group-writable: a warning). In a dir given, leftovers younger than an hour stay
 * (they may be another node's save in progress). */
int pb_contexts_open_dir(pb_store *store, const char *data_dir, const char *dir, pb_contexts **out,
                         char *why, size_t whycap);
/* The directory in use. */
const char *pb_contexts_dir(const pb_contexts *c);
/* Lets go of the holds of sessions a dead run left (call once the sessions'
 * start closed those, pb_session_close_orphans). NULL is a no-op. */
void pb_contexts_release_stale(pb_contexts *c);
/* NULL is a no-op. */
void pb_contexts_close(pb_contexts *c);

/* 1 when id has the shape of a context id (PB_CONTEXT_ID_LEN lowercase hex
 * digits): anything else is no context, and never becomes a path. */
int pb_context_id_valid(const char *id);

/* A new empty context for the account. PB_EBUSY when it has its
 * maxContexts already, PB_ETOOBIG when its contexts' stored bytes are at
 * contextStorageMiB or over. out gets the row. */
int pb_contexts_create(pb_contexts *c, int64_t account_id, const char *name, const pb_limits *l,
                       pb_context_rec *out);
/* Removes the row and the files. PB_ENOTFOUND when it is not the account's,
 * PB_EBUSY while a session holds it. */
int pb_contexts_delete(pb_contexts *c, int64_t account_id, const char *id);

/* Holds the context for session_id and writes its stored dir's path to
 * seed_dir (cap bytes). PB_ENOTFOUND when it is not the account's, PB_EBUSY
 * when another session holds it. */
int pb_contexts_claim(pb_contexts *c, int64_t account_id, const char *id, const char *session_id,
                      char *seed_dir, size_t cap);
void pb_contexts_unclaim(pb_contexts *c, int64_t account_id, const char *id,
                         const char *session_id);

/* Saves the kept parts of profile_dir (whose browser is gone: no process
 * writes it any more) as the context's state, within the account's
 * contextStorageMiB, taking only files owned by owner ((uid_t)-1: any).
 * 0 with *bytes the new stored size; else the old state stays and why
 * (whycap bytes) says what went wrong in a few words. */
int pb_contexts_save(pb_contexts *c, int64_t account_id, const char *id, const char *profile_dir,
                     uid_t owner, int64_t *bytes, char *why, size_t whycap);

#endif
