#ifndef PB_SESSIONS_UPLOADS_H
#define PB_SESSIONS_UPLOADS_H
/* A session's upload area: the files a client puts into the session
 * (POST /browser/sessions/{id}/files) for its pages' file inputs and drops.
 *
 * The area is "<profile>/uploads", inside the browser's own profile dir (so
 * no other browser can see it) and wiped with it. Each file is
 * "<area>/<n>/<name>": a directory per upload keeps the name the page sees
 * while two uploads of one name never collide. The area, its directories
 * and its files belong to the service: 0755 and 0444, so the browser's uid
 * may read them and nothing more. Its profile dir is still the browser's,
 * so it could move the area aside and put its own in place: every path a
 * client names is checked again, one component at a time without
 * following links, by pb_uploads_file_ok before the browser is given it.
 *
 * Thread-safe: the counts are under a lock; one pb_upload is written by one
 * thread at a time. */
#include <stddef.h>
#include <stdint.h>

/* One file's size cap, and the session's: total bytes and files. */
#define PB_UPLOAD_FILE_MAX ((int64_t)50 << 20)
#define PB_UPLOAD_SESSION_MAX_BYTES ((int64_t)200 << 20)
#define PB_UPLOAD_SESSION_MAX_FILES 32
/* Longest file name, in bytes. */
#define PB_UPLOAD_NAME_MAX 200

typedef struct pb_uploads pb_uploads;
typedef struct pb_upload pb_upload;

/* Makes the area in profile (anything of that name there first is removed)
 * and its handle. PB_EIO when it cannot be made; PB_ENOMEM. */
int pb_uploads_open(const char *profile, pb_uploads **out);
/* NULL is a no-op. Files stay (they go with the profile). */
void pb_uploads_free(pb_uploads *u);

/* The area's absolute path; borrowed for the handle's life. */
const char *pb_uploads_dir(const pb_uploads *u);

/* 1 when name can be a stored file's name: 1..PB_UPLOAD_NAME_MAX bytes of
 * valid UTF-8, no '/', '\\', NUL or control character, not "." or "..".
 * Pure. */
int pb_uploads_name_ok(const char *name);

typedef enum {
  PB_UPLOAD_OK = 0,
  PB_UPLOAD_FILE_TOO_LARGE, /* over PB_UPLOAD_FILE_MAX */
  PB_UPLOAD_SESSION_FULL,   /* over the session's bytes or files */
  PB_UPLOAD_BAD_NAME,       /* pb_uploads_name_ok says no */
  PB_UPLOAD_FAILED,         /* the file system said no */
} pb_upload_verdict;

/* Starts storing a file of exactly len bytes as name: its bytes and a file
 * slot are reserved against the session's caps at once. *out is written by
 * pb_upload_write and ended by pb_upload_commit or pb_upload_abort. */
pb_upload_verdict pb_upload_begin(pb_uploads *u, const char *name, int64_t len, pb_upload **out);
/* Appends bytes; PB_ETOOBIG past the length announced (nothing kept),
 * PB_EIO. */
int pb_upload_write(pb_upload *f, const void *data, size_t n);
/* Ends a file whose announced bytes all arrived: it becomes visible to the
 * browser (read-only). path receives its absolute path. Frees f. PB_EINVAL
 * when bytes are missing, PB_EIO; in both cases nothing is left behind. */
int pb_upload_commit(pb_upload *f, char *path, size_t cap, int64_t *bytes);
/* Drops a file being stored, and its reservation. Frees f; NULL is a
 * no-op. */
void pb_upload_abort(pb_upload *f);

/* A pb_policy_file_check: 0 when path is "<area>/<n>/<name>" and each of
 * its parts is the service's (the area, the directory, a regular file with
 * one link), reached without following links. data is the pb_uploads. */
int pb_uploads_file_ok(const char *path, void *data);

#endif
