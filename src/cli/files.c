#include "cli/files.h"

#include "common/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pb_cli_file_read(const char *path, size_t cap, char **data, size_t *len, char *err,
                     size_t errcap) {
  int is_stdin = !strcmp(path, "-");
  const char *name = is_stdin ? "stdin" : path;
  int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errcap, "cannot read %s: %s", name, strerror(errno));
    return PB_EIO;
  }
  pb_buf b;
  pb_buf_init(&b, cap);
  int rc = 0;
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errcap, "cannot read %s: %s", name, strerror(errno));
      rc = PB_EIO;
      break;
    }
    if (n == 0) break;
    rc = pb_buf_append(&b, chunk, (size_t)n);
    if (rc == PB_ETOOBIG) {
      snprintf(err, errcap, "%s is larger than %zu MiB", name, cap >> 20);
      break;
    }
    if (rc) {
      snprintf(err, errcap, "cannot read %s: %s", name, pb_strerror(rc));
      break;
    }
  }
  if (!is_stdin) close(fd);
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *data = pb_buf_steal(&b, len);
  if (!*data) {
    snprintf(err, errcap, "cannot read %s: %s", name, pb_strerror(PB_ENOMEM));
    return PB_ENOMEM;
  }
  return 0;
}

static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Devices and FIFOs cannot be replaced by a rename (and replacing /dev/null
 * as root would be a disaster), so they are written through. */
static int write_in_place(const char *path, const void *data, size_t len, char *err,
                          size_t errcap) {
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0 || write_all(fd, data, len)) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0) close(fd);
    return PB_EIO;
  }
  close(fd);
  return 0;
}

int pb_cli_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             char *err, size_t errcap) {
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      snprintf(err, errcap, "cannot write %s: %s", path, strerror(EISDIR));
      return PB_EIO;
    }
    if (!S_ISREG(st.st_mode)) return write_in_place(path, data, len, err, errcap);
  }

  pb_buf tmp;
  pb_buf_init(&tmp, 8192);
  if (pb_buf_printf(&tmp, "%s.tmp.XXXXXX", path)) {
    pb_buf_free(&tmp);
    snprintf(err, errcap, "cannot write %s: path too long", path);
    return PB_EIO;
  }
  int fd = mkstemp(tmp.data);
  if (fd < 0) {
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(errno));
    pb_buf_free(&tmp);
    return PB_EIO;
  }
  /* mkstemp makes 0600; give the file the mode a plain open() would have. */
  mode_t mask = umask(0);
  umask(mask);
  int failed = fchmod(fd, mode & ~mask) || write_all(fd, data, len);
  int e = errno;
  if (close(fd) && !failed) {
    failed = 1;
    e = errno;
  }
  if (failed) {
    unlink(tmp.data);
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(e));
    pb_buf_free(&tmp);
    return PB_EIO;
  }
  if (rename(tmp.data, path)) {
    int e = errno;
    unlink(tmp.data);
    snprintf(err, errcap, "cannot write %s: %s", path, strerror(e));
    pb_buf_free(&tmp);
    return PB_EIO;
  }
  pb_buf_free(&tmp);
  return 0;
}

int pb_cli_mkdir_p(const char *dir, mode_t mode, char *err, size_t errcap) {
  if (!*dir) {
    snprintf(err, errcap, "cannot create a directory with an empty name");
    return PB_EIO;
  }
  pb_buf b;
  pb_buf_init(&b, 8192);
  if (pb_buf_append(&b, dir, strlen(dir))) {
    pb_buf_free(&b);
    snprintf(err, errcap, "cannot create %s: path too long", dir);
    return PB_EIO;
  }
  int rc = 0;
  /* Walk the prefixes "/a", "/a/b", ... and create the missing ones. */
  for (char *p = b.data + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char saved = *p;
    *p = '\0';
    if (mkdir(b.data, mode) && errno != EEXIST) {
      snprintf(err, errcap, "cannot create %s: %s", b.data, strerror(errno));
      rc = PB_EIO;
    }
    *p = saved;
    if (rc || saved == '\0') break;
  }
  if (!rc) {
    struct stat st;
    if (stat(dir, &st)) {
      snprintf(err, errcap, "cannot create %s: %s", dir, strerror(errno));
      rc = PB_EIO;
    } else if (!S_ISDIR(st.st_mode)) {
      snprintf(err, errcap, "cannot create %s: %s", dir, strerror(ENOTDIR));
      rc = PB_EIO;
    }
  }
  pb_buf_free(&b);
  return rc;
}
