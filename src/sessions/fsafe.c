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
