/* The trace store: a directory of zips, named by owner and id, plus pending
 * markers. File names carry the account so that a lookup can only ever
 * reach the asking account's own traces. */
#include "trace/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/pb.h"
#include "trace/trace.h"

struct pb_trace_store {
  char dir[PATH_MAX];
};

/* The file of the account's id with the given suffix (".zip", ".pending"). */
static void file_of(const pb_trace_store *st, int64_t account_id, const char *id,
                    const char *suffix, char *path, size_t cap) {
  snprintf(path, cap, "%s/%lld-%s%s", st->dir, (long long)account_id, id, suffix);
}

static int is_id(const char *id) {
  return strlen(id) == PB_TRACE_ID_LEN && strspn(id, "0123456789abcdef") == PB_TRACE_ID_LEN;
}

int pb_trace_store_open(const char *dir, pb_trace_store **out) {
  if (!dir || !out || strlen(dir) >= PATH_MAX) return PB_EINVAL;
  pb_trace_store *st = calloc(1, sizeof(*st));
  if (!st) return PB_ENOMEM;
  pb_strlcpy(st->dir, dir, sizeof(st->dir));
  if (mkdir(st->dir, 0700) && errno != EEXIST)
    PB_WARN("cannot create %s: %s", st->dir, strerror(errno));
  pb_trace_store_sweep(st);
  *out = st;
  return 0;
}

void pb_trace_store_close(pb_trace_store *st) {
  free(st);
}

const char *pb_trace_store_dir(const pb_trace_store *st) {
  return st ? st->dir : NULL;
}

void pb_trace_store_sweep(pb_trace_store *st) {
  DIR *d = st ? opendir(st->dir) : NULL;
  if (!d) return;
  struct dirent *e;
  time_t now = time(NULL);
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[PATH_MAX + 256];
    struct stat sb;
    snprintf(path, sizeof(path), "%s/%s", st->dir, e->d_name);
    if (stat(path, &sb) == 0 && (now - sb.st_mtime) * 1000LL > PB_TRACE_KEEP_MS) unlink(path);
  }
  closedir(d);
}

int pb_trace_store_reserve(pb_trace_store *st, int64_t account_id,
                           char id_out[PB_TRACE_ID_LEN + 1]) {
  if (!st) return PB_EINVAL;
  if (pb_random_id_hex(id_out, PB_TRACE_ID_LEN / 2)) return PB_EIO;
  char pending[PATH_MAX + 64];
  file_of(st, account_id, id_out, ".pending", pending, sizeof(pending));
  int fd = open(pending, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) close(fd);
  return 0;
}

int pb_trace_store_put(pb_trace_store *st, int64_t account_id, const char *id, const char *zip,
                       size_t len) {
  if (!st) return PB_EINVAL;
  char path[PATH_MAX + 64];
  file_of(st, account_id, id, ".zip", path, sizeof(path));
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return PB_EIO;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, zip + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlink(path);
      return PB_EIO;
    }
    off += (size_t)w;
  }
  close(fd);
  return 0;
}

void pb_trace_store_unmark(pb_trace_store *st, int64_t account_id, const char *id) {
  if (!st) return;
  char pending[PATH_MAX + 64];
  file_of(st, account_id, id, ".pending", pending, sizeof(pending));
  unlink(pending);
}

int pb_trace_store_get(pb_trace_store *st, int64_t account_id, const char *id, int64_t deadline_ms,
                       char **zip, size_t *len) {
  if (!st || !id || !is_id(id)) return PB_ENOTFOUND;
  char path[PATH_MAX + 64], pending[PATH_MAX + 64];
  file_of(st, account_id, id, ".zip", path, sizeof(path));
  file_of(st, account_id, id, ".pending", pending, sizeof(pending));
  /* The answer naming this id may have left before its zip was written. */
  struct stat sb;
  while (stat(pending, &sb) == 0 && pb_now_ms() < deadline_ms) {
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000000};
    nanosleep(&ts, NULL);
  }
  FILE *f = fopen(path, "rb");
  if (!f) return PB_ENOTFOUND;
  pb_buf b;
  pb_buf_init(&b, PB_TRACE_CAP_BYTES + (4u << 20));
  char chunk[65536];
  size_t got;
  int rc = 0;
  while (!rc && (got = fread(chunk, 1, sizeof(chunk), f)) > 0) rc = pb_buf_append(&b, chunk, got);
  fclose(f);
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *zip = pb_buf_steal(&b, len);
  return *zip ? 0 : PB_ENOMEM;
}
