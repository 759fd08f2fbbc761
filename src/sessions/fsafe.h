#ifndef PB_SESSIONS_FSAFE_H
#define PB_SESSIONS_FSAFE_H
/* File work the daemon does, as root, in directories a browser can write
 * (its profile, its download areas). A browser may swap any entry there for
 * a symbolic link between our look and our act, so nothing here follows a
 * link below the starting directory: every step is relative to a directory
 * fd opened with O_NOFOLLOW, ownership and mode are set on fds. Thread-safe
 * (no shared state, no chdir). */
#include <stdint.h>
#include <sys/types.h>

/* Opens the directory name in dirfd (AT_FDCWD: relative to the working dir,
 * or name absolute) without following a final symlink; the fd is O_CLOEXEC.
 * PB_EIO when it is missing, a link or not a directory. */
int pb_fsafe_open_dir(int dirfd, const char *name, int *out_fd);

/* Opens the directory path, following links in all but its last `parts`
 * components (the operator's), and opening those one at a time with
 * O_NOFOLLOW (the browser's). */
int pb_fsafe_open_path(const char *path, int parts, int *out_fd);

/* Creates name in dirfd when missing, then makes it a directory owned by
 * uid:gid with the given mode, set through its fd; a link or a non-directory
 * in its place is an error (PB_EIO), never followed. uid/gid -1: unchanged.
 * With out_fd, returns the opened directory (caller closes). */
int pb_fsafe_mkdir(int dirfd, const char *name, uid_t uid, gid_t gid, mode_t mode, int *out_fd);

/* Removes name in dirfd and everything under it, never following a link:
 * a link is removed, not its target. Descends at most 256 levels (deeper
 * entries stay, and the call returns PB_EIO). Missing is success. */
int pb_fsafe_remove_at(int dirfd, const char *name);

/* pb_fsafe_remove_at for a path: its parent is opened as given (links in
 * the parent path, the operator's, are followed), its last part is not. */
int pb_fsafe_remove(const char *path);

/* How pb_fsafe_copy_tree copies. */
typedef struct {
  uid_t uid; /* owner of what is made; -1: the caller's */
  gid_t gid;
  /* Files are copied only when owned by this uid (-1: any owner); in any
   * case only plain files with one link, never a link, device or fifo. */
  uid_t require_uid;
  int64_t max_bytes; /* 0: no cap; past it the copy stops with PB_ETOOBIG */
  int sync;          /* fdatasync every file and fsync every dir made */
  /* Whether the entry at rel (a path relative to the tree's top, '/'
   * separated) is copied (a dir: with what is under it). NULL: all. */
  int (*keep)(const char *rel, int is_dir, void *data);
  void *keep_data;
} pb_fsafe_copy_opts;

/* Copies the tree open as src_fd into the (existing) dir dst_fd, never
 * following a link on either side; new entries fail if present (O_EXCL).
 * *bytes (may be NULL) gets the bytes of the files copied. On error what
 * was copied stays: the caller copies into a fresh dir and removes it. */
int pb_fsafe_copy_tree(int src_fd, int dst_fd, const pb_fsafe_copy_opts *o, int64_t *bytes);

#endif
