#ifndef PB_SESSIONS_FSAFE_H
#define PB_SESSIONS_FSAFE_H
/* File work the daemon does, as root, in directories a browser can write
 * (its profile, its download areas). A browser may swap any entry there for
 * a symbolic link between our look and our act, so nothing here follows a
 * link below the starting directory: every step is relative to a directory
 * fd opened with O_NOFOLLOW, ownership and mode are set on fds. Thread-safe
 * (no shared state, no chdir). */
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

#endif
