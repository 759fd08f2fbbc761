#include "sessions/downloads.h"

#include "common/pb.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
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

static int exists(const char *dir) {
  struct stat st;
  return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static int mkdir_as(const char *dir, const struct stat *owner) {
  if (mkdir(dir, 0700) && errno != EEXIST) return PB_EIO;
  struct stat st;
  if (lstat(dir, &st) || !S_ISDIR(st.st_mode)) return PB_EIO;
  if ((st.st_uid != owner->st_uid || st.st_gid != owner->st_gid) &&
      chown(dir, owner->st_uid, owner->st_gid))
    return PB_EIO;
  return chmod(dir, 0700) ? PB_EIO : 0;
}

int pb_downloads_prepare(const char *dir) {
  char parent[4096];
  if (pb_strlcpy(parent, dir, sizeof(parent)) >= sizeof(parent)) return PB_ETOOBIG;
  char *slash = strrchr(parent, '/');
  if (!slash) return PB_EINVAL;
  *slash = '\0';
  char *top = strrchr(parent, '/'); /* parent is <profile>/downloads */
  if (!top) return PB_EINVAL;
  *top = '\0';
  struct stat profile;
  if (lstat(parent, &profile) || !S_ISDIR(profile.st_mode)) return PB_EIO;
  *top = '/';
  int rc = mkdir_as(parent, &profile);
  return rc ? rc : mkdir_as(dir, &profile);
}

int pb_downloads_used(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  int used = 0;
  while (!used && (e = readdir(d))) used = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return used;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)ftw;
  if ((flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT)
    PB_WARN("downloads: cannot remove %s: %s", path, strerror(errno));
  return 0;
}

void pb_downloads_wipe(const char *dir) {
  if (exists(dir)) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}
