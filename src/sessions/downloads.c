#include "sessions/downloads.h"

#include "common/pb.h"
#include "sessions/fsafe.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pb_downloads_dir(const char *profile, const char *context_id, char *out, size_t cap) {
  if (!profile || !*profile) return PB_EINVAL;
  const char *leaf = context_id && *context_id ? context_id : "browser";
  if (strspn(leaf, "0123456789abcdefABCDEF-_") != strlen(leaf) && strcmp(leaf, "browser"))
    return PB_EINVAL;
  int n = snprintf(out, cap, "%s/downloads/%s", profile, leaf);
  return n < 0 || (size_t)n >= cap ? PB_ETOOBIG : 0;
}

/* dir is "<profile>/downloads/<leaf>", both made by us but inside the
 * profile, which the browser writes: the profile, downloads and leaf are
 * opened without following links, owner and mode set on fds. */
int pb_downloads_prepare(const char *dir) {
  char parent[4096];
  if (pb_strlcpy(parent, dir, sizeof(parent)) >= sizeof(parent)) return PB_ETOOBIG;
  char *slash = strrchr(parent, '/');
  if (!slash) return PB_EINVAL;
  *slash = '\0';
  const char *leaf = slash + 1;
  char *top = strrchr(parent, '/'); /* parent is <profile>/downloads */
  if (!top) return PB_EINVAL;
  *top = '\0';
  int pfd;
  int rc = pb_fsafe_open_path(parent, 1, &pfd);
  if (rc) return rc;
  struct stat profile;
  int dfd = -1;
  if (fstat(pfd, &profile)) rc = PB_EIO;
  if (!rc) rc = pb_fsafe_mkdir(pfd, top + 1, profile.st_uid, profile.st_gid, 0700, &dfd);
  if (!rc) rc = pb_fsafe_mkdir(dfd, leaf, profile.st_uid, profile.st_gid, 0700, NULL);
  if (dfd >= 0) close(dfd);
  close(pfd);
  return rc;
}

int pb_downloads_used(const char *dir) {
  int fd;
  if (pb_fsafe_open_path(dir, 3, &fd)) return 0;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return 0;
  }
  struct dirent *e;
  int used = 0;
  while (!used && (e = readdir(d))) used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return used;
}

void pb_downloads_wipe(const char *dir) {
  char parent[4096];
  if (pb_strlcpy(parent, dir, sizeof(parent)) >= sizeof(parent)) return;
  char *slash = strrchr(parent, '/');
  if (!slash) return;
  *slash = '\0';
  int dfd;
  /* <profile>/downloads: both parts the browser could have swapped. */
  if (pb_fsafe_open_path(parent, 2, &dfd)) return;
  int rc = pb_fsafe_remove_at(dfd, slash + 1);
  if (rc) PB_WARN("downloads: cannot remove all of %s: %s", dir, pb_strerror(rc));
  close(dfd);
}
