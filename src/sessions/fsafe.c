#include "sessions/fsafe.h"

#include "common/pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH 256

int pb_fsafe_open_dir(int dirfd, const char *name, int *out_fd) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return PB_EIO;
  *out_fd = fd;
  return 0;
}

int pb_fsafe_open_path(const char *path, int parts, int *out_fd) {
  char buf[PATH_MAX];
  if (!path || !*path || parts < 0) return PB_EINVAL;
  if (pb_strlcpy(buf, path, sizeof(buf)) >= sizeof(buf)) return PB_ETOOBIG;
  size_t n = strlen(buf);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = '\0';
  /* Split off the last `parts` components. */
  char *names[16];
  if (parts > 16) return PB_EINVAL;
  for (int i = parts - 1; i >= 0; i--) {
    char *slash = strrchr(buf, '/');
    if (!slash || !slash[1]) return PB_EINVAL;
    names[i] = slash + 1;
    *slash = '\0';
    if (slash == buf) {
      if (i) return PB_EINVAL;
      break;
    }
  }
  int fd = open(*buf ? buf : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PB_EIO;
  for (int i = 0; i < parts; i++) {
    int next;
    int rc = strcmp(names[i], "..") && strcmp(names[i], ".")
                 ? pb_fsafe_open_dir(fd, names[i], &next)
                 : PB_EINVAL;
    close(fd);
    if (rc) return rc;
    fd = next;
  }
  *out_fd = fd;
  return 0;
}

int pb_fsafe_mkdir(int dirfd, const char *name, uid_t uid, gid_t gid, mode_t mode, int *out_fd) {
  if (mkdirat(dirfd, name, 0700) && errno != EEXIST) return PB_EIO;
  int fd;
  if (pb_fsafe_open_dir(dirfd, name, &fd)) return PB_EIO;
  struct stat st;
  int rc = 0;
  if (fstat(fd, &st) || !S_ISDIR(st.st_mode)) rc = PB_EIO;
  if (!rc && (uid != (uid_t)-1 || gid != (gid_t)-1) && (st.st_uid != uid || st.st_gid != gid) &&
      fchown(fd, uid, gid))
    rc = PB_EIO;
  if (!rc && fchmod(fd, mode)) rc = PB_EIO;
  if (rc || !out_fd)
    close(fd);
  else
    *out_fd = fd;
  return rc;
}

static int remove_at(int dirfd, const char *name, int depth);

/* Empties the directory open as fd, and closes fd. Entries are removed
 * while reading, so it reads again until a pass removes nothing. */
static int empty_dir(int fd, int depth) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return PB_EIO;
  }
  int rc = 0, removed;
  struct dirent *e;
  do {
    removed = 0;
    rc = 0;
    while ((e = readdir(d))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
      int r = remove_at(dirfd(d), e->d_name, depth);
      if (r)
        rc = r;
      else
        removed++;
    }
    rewinddir(d);
  } while (removed && !rc);
  closedir(d);
  return rc;
}

static int remove_at(int dirfd, const char *name, int depth) {
  /* A file or a link goes at once; a link is never opened. */
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return PB_EIO;
  if (depth >= MAX_DEPTH) return PB_EIO;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    /* Swapped for a link or a file since the unlink: unlink that. */
    if (errno == ENOENT) return 0;
    return unlinkat(dirfd, name, 0) == 0 || errno == ENOENT ? 0 : PB_EIO;
  }
  int rc = empty_dir(fd, depth + 1);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) && errno != ENOENT) return rc ? rc : PB_EIO;
  return rc;
}

int pb_fsafe_remove_at(int dirfd, const char *name) {
  if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
    return PB_EINVAL;
  return remove_at(dirfd, name, 0);
}

int pb_fsafe_remove(const char *path) {
  if (!path || !*path) return PB_EINVAL;
  char parent[PATH_MAX];
  if (pb_strlcpy(parent, path, sizeof(parent)) >= sizeof(parent)) return PB_ETOOBIG;
  size_t n = strlen(parent);
  while (n > 1 && parent[n - 1] == '/') parent[--n] = '\0';
  char *slash = strrchr(parent, '/');
  const char *leaf = parent;
  int dfd = AT_FDCWD;
  if (slash) {
    leaf = slash + 1;
    if (slash == parent)
      dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    else {
      *slash = '\0';
      dfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (dfd < 0) return errno == ENOENT ? 0 : PB_EIO;
  }
  int rc = pb_fsafe_remove_at(dfd, leaf);
  if (dfd != AT_FDCWD) close(dfd);
  return rc;
}

/* ---- copying a tree ---- */

typedef struct {
  const pb_fsafe_copy_opts *o;
  int64_t bytes;
  int files;
} copy_ctx;

static int copy_file(copy_ctx *c, int sfd, const char *name, int dfd) {
  int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (in < 0) return errno == ENOENT || errno == ELOOP ? 0 : PB_EIO;
  struct stat st;
  int rc = 0;
  if (fstat(in, &st)) rc = PB_EIO;
  /* Only a plain file of the tree's owner with no other name: a hard link
   * to a file elsewhere would carry that file's bytes out. */
  int skip = rc || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
             (c->o->require_uid != (uid_t)-1 && st.st_uid != c->o->require_uid);
  if (skip) {
    close(in);
    return rc;
  }
  if (c->o->max_bytes > 0 && c->bytes + st.st_size > c->o->max_bytes) {
    close(in);
    return PB_ETOOBIG;
  }
  int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return PB_EIO;
  }
  char buf[65536];
  int64_t total = 0;
  for (;;) {
    ssize_t n = read(in, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = PB_EIO;
      break;
    }
    if (n == 0) break;
    total += n;
    /* The file may grow while read (it never should: its writer is gone). */
    if (c->o->max_bytes > 0 && c->bytes + total > c->o->max_bytes) {
      rc = PB_ETOOBIG;
      break;
    }
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf + off, (size_t)(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = errno == ENOSPC || errno == EDQUOT ? PB_ENOSPACE : PB_EIO;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  if (!rc && (c->o->uid != (uid_t)-1 || c->o->gid != (gid_t)-1) &&
      fchown(out, c->o->uid, c->o->gid))
    rc = PB_EIO;
  if (!rc && c->o->sync && fdatasync(out)) rc = PB_EIO;
  close(in);
  close(out);
  if (!rc) {
    c->bytes += total;
    c->files++;
  }
  return rc;
}

static int copy_dir(copy_ctx *c, int sfd, int dfd, const char *rel, int depth) {
  if (depth >= MAX_DEPTH) return PB_EIO;
  int rfd = dup(sfd);
  DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
  if (!d) {
    if (rfd >= 0) close(rfd);
    return PB_EIO;
  }
  int rc = 0;
  struct dirent *e;
  while (!rc && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    if (n < 0 || (size_t)n >= sizeof(path)) continue;
    int sub = openat(sfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) {
      if (!c->o->keep || c->o->keep(path, 1, c->o->keep_data)) {
        int nd = -1;
        rc = pb_fsafe_mkdir(dfd, e->d_name, c->o->uid, c->o->gid, 0700, &nd);
        if (!rc) {
          rc = copy_dir(c, sub, nd, path, depth + 1);
          if (!rc && c->o->sync) fsync(nd);
          close(nd);
        }
      }
      close(sub);
    } else if (!c->o->keep || c->o->keep(path, 0, c->o->keep_data)) {
      rc = copy_file(c, sfd, e->d_name, dfd);
    }
  }
  closedir(d);
  return rc;
}

int pb_fsafe_copy_tree(int src_fd, int dst_fd, const pb_fsafe_copy_opts *o, int64_t *bytes) {
  copy_ctx c = {.o = o, .bytes = 0, .files = 0};
  int rc = copy_dir(&c, src_fd, dst_fd, "", 0);
  if (!rc && o->sync) fsync(dst_fd);
  if (bytes) *bytes = c.bytes;
  return rc;
}
