/* The upload area of a session: see uploads.h. The area is made by the
 * service, as the service, inside a directory the browser owns, so every
 * step is taken relative to a directory fd opened without following links
 * (fsafe.h), and every check is made on what was opened. */
#include "sessions/uploads.h"

#include "common/pb.h"
#include "sessions/fsafe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct pb_uploads {
  char dir[PATH_MAX];
  pthread_mutex_t mu;
  int64_t bytes; /* kept and reserved */
  int files;     /* kept and reserved */
  int next;      /* the next upload's directory number */
};

struct pb_upload {
  pb_uploads *u;
  int dirfd; /* <area>/<n> */
  int fd;    /* the file, being written */
  char sub[16];
  char name[PB_UPLOAD_NAME_MAX + 1];
  int64_t len, written;
};

int pb_uploads_open(const char *profile, pb_uploads **out) {
  *out = NULL;
  pb_uploads *u = calloc(1, sizeof(*u));
  if (!u) return PB_ENOMEM;
  int n = snprintf(u->dir, sizeof(u->dir), "%s/uploads", profile);
  if (n < 0 || (size_t)n >= sizeof(u->dir)) {
    free(u);
    return PB_ETOOBIG;
  }
  /* The profile is the browser's (a spare ran in it before this session):
   * whatever it put at that name goes, and the area is made fresh. */
  int pfd, rc = pb_fsafe_open_path(profile, 1, &pfd);
  if (!rc) {
    pb_fsafe_remove_at(pfd, "uploads");
    if (mkdirat(pfd, "uploads", 0755))
      rc = PB_EIO;
    else
      rc = pb_fsafe_mkdir(pfd, "uploads", geteuid(), getegid(), 0755, NULL);
    close(pfd);
  }
  if (rc) {
    free(u);
    return rc;
  }
  pthread_mutex_init(&u->mu, NULL);
  u->next = 1;
  *out = u;
  return 0;
}

void pb_uploads_free(pb_uploads *u) {
  if (!u) return;
  pthread_mutex_destroy(&u->mu);
  free(u);
}

const char *pb_uploads_dir(const pb_uploads *u) {
  return u->dir;
}

/* Length of the UTF-8 sequence at s (strict: no overlongs, surrogates or
 * code points past U+10FFFF), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s) {
  if (s[0] < 0x80) return 1;
  if (s[0] >= 0xc2 && s[0] <= 0xdf) return (s[1] & 0xc0) == 0x80 ? 2 : 0;
  if (s[0] >= 0xe0 && s[0] <= 0xef) {
    if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80) return 0;
    if (s[0] == 0xe0 && s[1] < 0xa0) return 0;
    if (s[0] == 0xed && s[1] >= 0xa0) return 0;
    return 3;
  }
  if (s[0] >= 0xf0 && s[0] <= 0xf4) {
    if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80) return 0;
    if (s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (s[0] == 0xf4 && s[1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}

int pb_uploads_name_ok(const char *name) {
  if (!name) return 0;
  size_t n = strlen(name);
  if (n == 0 || n > PB_UPLOAD_NAME_MAX || !strcmp(name, ".") || !strcmp(name, "..")) return 0;
  for (const unsigned char *s = (const unsigned char *)name; *s;) {
    if (*s < 0x20 || *s == 0x7f || *s == '/' || *s == '\\') return 0;
    size_t k = utf8_seq(s);
    if (!k) return 0;
    /* C1 controls (U+0080..U+009F) too. */
    if (k == 2 && s[0] == 0xc2 && s[1] < 0xa0) return 0;
    s += k;
  }
  return 1;
}

static void give_back(pb_uploads *u, int64_t bytes) {
  pthread_mutex_lock(&u->mu);
  u->bytes -= bytes;
  u->files--;
  pthread_mutex_unlock(&u->mu);
}

pb_upload_verdict pb_upload_begin(pb_uploads *u, const char *name, int64_t len, pb_upload **out) {
  *out = NULL;
  if (!pb_uploads_name_ok(name)) return PB_UPLOAD_BAD_NAME;
  if (len < 0 || len > PB_UPLOAD_FILE_MAX) return PB_UPLOAD_FILE_TOO_LARGE;
  pthread_mutex_lock(&u->mu);
  if (u->files >= PB_UPLOAD_SESSION_MAX_FILES || u->bytes + len > PB_UPLOAD_SESSION_MAX_BYTES) {
    pthread_mutex_unlock(&u->mu);
    return PB_UPLOAD_SESSION_FULL;
  }
  u->files++;
  u->bytes += len;
  int n = u->next++;
  pthread_mutex_unlock(&u->mu);
  pb_upload *f = calloc(1, sizeof(*f));
  int afd = -1;
  if (!f) goto fail;
  f->u = u;
  f->dirfd = f->fd = -1;
  f->len = len;
  snprintf(f->sub, sizeof(f->sub), "%d", n);
  pb_strlcpy(f->name, name, sizeof(f->name));
  /* The area as opened now must still be the service's. */
  struct stat st;
  if (pb_fsafe_open_path(u->dir, 2, &afd) || fstat(afd, &st) || st.st_uid != geteuid()) goto fail;
  /* 0700 while the bytes arrive: the browser sees the file only whole. */
  if (mkdirat(afd, f->sub, 0700) || pb_fsafe_open_dir(afd, f->sub, &f->dirfd)) goto fail;
  f->fd = openat(f->dirfd, f->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
  if (f->fd < 0) goto fail;
  close(afd);
  *out = f;
  return PB_UPLOAD_OK;
fail:
  if (f && f->dirfd >= 0) {
    close(f->dirfd);
    pb_fsafe_remove_at(afd, f->sub);
  }
  if (afd >= 0) close(afd);
  free(f);
  give_back(u, len);
  return PB_UPLOAD_FAILED;
}

int pb_upload_write(pb_upload *f, const void *data, size_t n) {
  if ((int64_t)n > f->len - f->written) return PB_ETOOBIG;
  const char *p = data;
  while (n) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return PB_EIO;
    p += w;
    n -= (size_t)w;
    f->written += w;
  }
  return 0;
}

/* Closes and removes what f made; its reservation stays with the caller. */
static void drop(pb_upload *f) {
  if (f->fd >= 0) close(f->fd);
  f->fd = -1;
  if (f->dirfd >= 0) {
    unlinkat(f->dirfd, f->name, 0);
    close(f->dirfd);
    f->dirfd = -1;
    int afd;
    if (!pb_fsafe_open_path(f->u->dir, 2, &afd)) {
      pb_fsafe_remove_at(afd, f->sub);
      close(afd);
    }
  }
}

int pb_upload_commit(pb_upload *f, char *path, size_t cap, int64_t *bytes) {
  int rc = f->written == f->len ? 0 : PB_EINVAL;
  if (!rc && (close(f->fd) || fchmod(f->dirfd, 0755))) rc = PB_EIO;
  f->fd = -1;
  if (!rc) {
    int n = snprintf(path, cap, "%s/%s/%s", f->u->dir, f->sub, f->name);
    if (n < 0 || (size_t)n >= cap) rc = PB_ETOOBIG;
  }
  if (rc) {
    drop(f);
    give_back(f->u, f->len);
  } else {
    close(f->dirfd);
    *bytes = f->written;
  }
  free(f);
  return rc;
}

void pb_upload_abort(pb_upload *f) {
  if (!f) return;
  drop(f);
  give_back(f->u, f->len);
  free(f);
}

int pb_uploads_file_ok(const char *path, void *data) {
  pb_uploads *u = data;
  size_t dl = strlen(u->dir);
  if (strncmp(path, u->dir, dl) || path[dl] != '/') return -1;
  const char *sub = path + dl + 1;
  const char *slash = strchr(sub, '/');
  if (!slash || slash == sub || strchr(slash + 1, '/') || (size_t)(slash - sub) >= 16) return -1;
  char subname[16];
  memcpy(subname, sub, (size_t)(slash - sub));
  subname[slash - sub] = '\0';
  if (strspn(subname, "0123456789") != strlen(subname)) return -1;
  const char *name = slash + 1;
  int afd, sfd = -1, bad = 1;
  if (pb_fsafe_open_path(u->dir, 2, &afd)) return -1;
  struct stat st;
  uid_t me = geteuid();
  if (!fstat(afd, &st) && st.st_uid == me && !(st.st_mode & 022) &&
      !pb_fsafe_open_dir(afd, subname, &sfd) && !fstat(sfd, &st) && st.st_uid == me &&
      !(st.st_mode & 022) && !fstatat(sfd, name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
      st.st_uid == me && st.st_nlink == 1)
    bad = 0;
  if (sfd >= 0) close(sfd);
  close(afd);
  return bad;
}
