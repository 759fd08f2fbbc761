#include "sessions/contexts.h"

#include "common/hash.h"
#include "common/pb.h"
#include "sessions/fsafe.h"

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

struct pb_contexts {
  pb_store *store;
  char root[PATH_MAX]; /* <data>/contexts or --contexts-dir */
  int rootfd;          /* root, opened once at start (no link followed) */
  int shared;          /* other nodes use root too */
};

/* In a shared dir a leftover younger than this may be another node's save
 * or create in progress: left for a later start. */
#define SHARED_LEFTOVER_AGE_S 3600

int pb_context_id_valid(const char *id) {
  if (!id) return 0;
  size_t n = 0;
  for (; id[n]; n++)
    if (n >= PB_CONTEXT_ID_LEN ||
        !((id[n] >= '0' && id[n] <= '9') || (id[n] >= 'a' && id[n] <= 'f')))
      return 0;
  return n == PB_CONTEXT_ID_LEN;
}

/* The account's dir, made 0700 when missing; an fd the caller closes. */
static int account_dir(pb_contexts *c, int64_t account_id, int *fd) {
  char name[32];
  snprintf(name, sizeof(name), "%lld", (long long)account_id);
  return pb_fsafe_mkdir(c->rootfd, name, (uid_t)-1, (gid_t)-1, 0700, fd);
}

/* Leftovers in one account's dir: a save's staging or swapped-out dir
 * (a name with a '.'), or the files of a context whose row is gone. */
static void sweep_account(pb_contexts *c, int dfd) {
  int rfd = dup(dfd);
  DIR *d = rfd >= 0 ? fdopendir(rfd) : NULL;
  if (!d) {
    if (rfd >= 0) close(rfd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    int stale = strchr(e->d_name, '.') != NULL;
    if (!stale)
      stale = !pb_context_id_valid(e->d_name) || pb_context_exists(c->store, e->d_name) == 0;
    struct stat sb;
    if (stale && c->shared &&
        (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) ||
         sb.st_mtime > time(NULL) - SHARED_LEFTOVER_AGE_S))
      stale = 0;
    if (stale && pb_fsafe_remove_at(dirfd(d), e->d_name) == 0)
      PB_INFO("contexts: removed leftover %s", e->d_name);
  }
  closedir(d);
}

/* Opens the root without following a link in its last part and refuses
 * one another user could put entries in: not ours, or writable by others. why: the reason, for the start's
 * message. */
static int open_root(pb_contexts *c, char *why, size_t cap) {
  struct stat sb;
  if (lstat(c->root, &sb)) {
    snprintf(why, cap, "%s: %s", c->root, strerror(errno));
    return PB_EIO;
  }
  if (S_ISLNK(sb.st_mode)) {
    snprintf(why, cap, "%s is a symbolic link (name the directory itself)", c->root);
    return PB_EINVAL;
  }
  if (pb_fsafe_open_path(c->root, 1, &c->rootfd) || fstat(c->rootfd, &sb) ||
      !S_ISDIR(sb.st_mode)) {
    snprintf(why, cap, "%s is not a directory", c->root);
    return PB_EINVAL;
  }
  if (sb.st_uid != geteuid()) {
    snprintf(why, cap, "%s is owned by uid %u, not this daemon's uid %u", c->root,
             (unsigned)sb.st_uid, (unsigned)geteuid());
    return PB_EINVAL;
  }
  if (sb.st_mode & S_IWOTH) {
    snprintf(why, cap, "%s is writable by everyone (mode %04o; chmod 0700 it)", c->root,
             (unsigned)(sb.st_mode & 07777));
    return PB_EINVAL;
  }
  if (sb.st_mode & S_IWGRP)
    PB_WARN("contexts: %s is writable by its group (mode %04o): chmod 0700 it", c->root,
            (unsigned)(sb.st_mode & 07777));
  return 0;
}

int pb_contexts_open_dir(pb_store *store, const char *data_dir, const char *dir, pb_contexts **out,
                         char *why, size_t whycap) {
  *out = NULL;
  snprintf(why, whycap, "%s", "");
  pb_contexts *c = calloc(1, sizeof(*c));
  if (!c) return PB_ENOMEM;
  c->store = store;
  c->rootfd = -1;
  c->shared = dir && *dir;
  int n = c->shared ? snprintf(c->root, sizeof(c->root), "%s", dir)
                    : snprintf(c->root, sizeof(c->root), "%s/contexts", data_dir);
  while (n > 1 && c->root[n - 1] == '/') c->root[--n] = '\0';
  if (n < 0 || (size_t)n >= sizeof(c->root)) {
    snprintf(why, whycap, "the contexts dir's path is too long");
    free(c);
    return PB_ETOOBIG;
  }
  if (mkdir(c->root, 0700) && errno != EEXIST) {
    snprintf(why, whycap, "cannot make %s: %s", c->root, strerror(errno));
    free(c);
    return PB_EIO;
  }
  int rc = open_root(c, why, whycap);
  if (rc) {
    PB_ERR("contexts: %s", why);
    pb_contexts_close(c);
    return rc;
  }
  int root = dup(c->rootfd);
  if (root >= 0) {
    DIR *d = fdopendir(root);
    if (d) {
      struct dirent *e;
      while ((e = readdir(d))) {
        long long acct;
        int afd;
        if (pb_parse_int(e->d_name, 1, INT64_MAX, &acct)) continue;
        if (pb_fsafe_open_dir(dirfd(d), e->d_name, &afd) == 0) {
          sweep_account(c, afd);
          close(afd);
        }
      }
      closedir(d);
    } else {
      close(root);
    }
  }
  *out = c;
  return 0;
}

int pb_contexts_open(pb_store *store, const char *data_dir, pb_contexts **out) {
  char why[PATH_MAX + 96];
  return pb_contexts_open_dir(store, data_dir, NULL, out, why, sizeof(why));
}

const char *pb_contexts_dir(const pb_contexts *c) {
  return c ? c->root : NULL;
}

void pb_contexts_release_stale(pb_contexts *c) {
  int released = 0;
  if (c && pb_context_release_stale(c->store, &released) == 0 && released)
    PB_WARN("contexts: let go of %d context(s) an earlier run held", released);
}

void pb_contexts_close(pb_contexts *c) {
  if (!c) return;
  if (c->rootfd >= 0) close(c->rootfd);
  free(c);
}

int pb_contexts_create(pb_contexts *c, int64_t account_id, const char *name, const pb_limits *l,
                       pb_context_rec *out) {
  int64_t total = 0;
  int rc = pb_context_total_bytes(c->store, account_id, &total);
  if (rc) return rc;
  if (total >= (l->context_storage_mib << 20)) return PB_ETOOBIG;
  char id[PB_CONTEXT_ID_LEN + 1];
  if ((rc = pb_random_hex(id, PB_CONTEXT_ID_LEN / 2))) return rc;
  int afd = -1;
  if ((rc = account_dir(c, account_id, &afd))) return rc;
  /* The dir first: a row never names a context without one. */
  rc = pb_fsafe_mkdir(afd, id, (uid_t)-1, (gid_t)-1, 0700, NULL);
  if (!rc) {
    rc = pb_context_insert(c->store, account_id, id, name, pb_wall_ms(), l->max_contexts);
    if (rc) pb_fsafe_remove_at(afd, id);
  }
  close(afd);
  if (!rc) rc = pb_context_get(c->store, account_id, id, out);
  return rc;
}

int pb_contexts_delete(pb_contexts *c, int64_t account_id, const char *id) {
  if (!pb_context_id_valid(id)) return PB_ENOTFOUND;
  int rc = pb_context_delete(c->store, account_id, id);
  if (rc) return rc;
  int afd = -1;
  /* A failure here leaves files no row owns: the next start removes them. */
  if (account_dir(c, account_id, &afd) == 0) {
    if (pb_fsafe_remove_at(afd, id)) PB_WARN("contexts: files of %s not all removed", id);
    close(afd);
  }
  return 0;
}

int pb_contexts_claim(pb_contexts *c, int64_t account_id, const char *id, const char *session_id,
                      char *seed_dir, size_t cap) {
  if (!pb_context_id_valid(id)) return PB_ENOTFOUND;
  int n = snprintf(seed_dir, cap, "%s/%lld/%s", c->root, (long long)account_id, id);
  if (n < 0 || (size_t)n >= cap) return PB_ETOOBIG;
  int rc = pb_context_claim(c->store, account_id, id, session_id);
  if (rc) return rc;
  /* A context whose dir went missing starts empty rather than failing. */
  int afd = -1;
  if (account_dir(c, account_id, &afd) == 0) {
    pb_fsafe_mkdir(afd, id, (uid_t)-1, (gid_t)-1, 0700, NULL);
    close(afd);
  }
  return 0;
}

void pb_contexts_unclaim(pb_contexts *c, int64_t account_id, const char *id,
                         const char *session_id) {
  int rc = pb_context_unclaim(c->store, account_id, id, session_id);
  if (rc) PB_WARN("contexts: letting go of %s: %s", id, pb_strerror(rc));
}

/* What of a Chromium profile is kept: the Default profile's cookies,
 * localStorage, IndexedDB, service worker registrations and storage
 * buckets; none of its caches (HTTP, code, GPU, CacheStorage, the service
 * workers' script cache), nor anything else (downloads, crash dumps, the
 * browser-wide Local State). */
static int keep_part(const char *rel, int is_dir, void *data) {
  (void)data;
  static const char *const top[] = {"Cookies",   "Cookies-journal", "Network",    "Local Storage",
                                    "IndexedDB", "Service Worker",  "WebStorage", NULL};
  static const char *const caches[] = {"Cache",
                                       "Code Cache",
                                       "GPUCache",
                                       "CacheStorage",
                                       "ScriptCache",
                                       "DawnCache",
                                       "DawnWebGPUCache",
                                       "DawnGraphiteCache",
                                       "GrShaderCache",
                                       "GraphiteDawnCache",
                                       "ShaderCache",
                                       "blob_storage",
                                       NULL};
  if (strncmp(rel, "Default", 7)) return 0;
  if (!rel[7]) return is_dir;
  if (rel[7] != '/') return 0;
  const char *p = rel + 8;
  size_t first = strcspn(p, "/");
  int listed = 0;
  for (int i = 0; top[i]; i++)
    if (strlen(top[i]) == first && !strncmp(p, top[i], first)) listed = 1;
  if (!listed) return 0;
  const char *leaf = strrchr(rel, '/') + 1;
  for (int i = 0; is_dir && caches[i]; i++)
    if (!strcmp(leaf, caches[i])) return 0;
  return 1;
}

/* id to stage's ".old" twin, then stage to id, then the twin to stage (for
 * the removal after): the old state stays until the second rename. */
static int swap_by_renames(int afd, const char *stage, const char *id) {
  char old[PB_CONTEXT_ID_LEN + 32];
  snprintf(old, sizeof(old), "%s.old", stage);
  if (renameat(afd, id, afd, old)) return -1;
  if (renameat(afd, stage, afd, id)) {
    int e = errno;
    renameat(afd, old, afd, id);
    errno = e;
    return -1;
  }
  if (renameat(afd, old, afd, stage)) pb_fsafe_remove_at(afd, old);
  return 0;
}

int pb_contexts_save(pb_contexts *c, int64_t account_id, const char *id, const char *profile_dir,
                     uid_t owner, int64_t *bytes, char *why, size_t whycap) {
  *bytes = 0;
  snprintf(why, whycap, "%s", "");
  pb_limits l;
  pb_context_rec rec;
  int64_t total = 0;
  int rc = pb_limits_get(c->store, account_id, &l);
  if (!rc) rc = pb_context_get(c->store, account_id, id, &rec);
  if (!rc) rc = pb_context_total_bytes(c->store, account_id, &total);
  if (rc) {
    snprintf(why, whycap, "the store failed: %s", pb_strerror(rc));
    return rc;
  }
  int64_t room = (l.context_storage_mib << 20) - (total - rec.bytes);
  if (room <= 0) {
    snprintf(why, whycap, "the account's contexts are at contextStorageMiB (%lld MiB)",
             (long long)l.context_storage_mib);
    return PB_ETOOBIG;
  }
  char stage[PB_CONTEXT_ID_LEN + 24], rnd[9];
  if ((rc = pb_random_hex(rnd, 4))) return rc;
  snprintf(stage, sizeof(stage), "%s.new-%s", id, rnd);
  int afd = -1, sfd = -1, pfd = -1;
  if ((rc = account_dir(c, account_id, &afd))) {
    snprintf(why, whycap, "cannot open the contexts dir");
    return rc;
  }
  rc = pb_fsafe_mkdir(afd, stage, (uid_t)-1, (gid_t)-1, 0700, &sfd);
  /* The profile's own dir is the browser's: not followed if a link. */
  if (!rc) rc = pb_fsafe_open_path(profile_dir, 1, &pfd);
  pb_fsafe_copy_opts co = {.uid = (uid_t)-1,
                           .gid = (gid_t)-1,
                           .require_uid = owner,
                           .max_bytes = room,
                           .sync = 1,
                           .keep = keep_part};
  if (!rc) rc = pb_fsafe_copy_tree(pfd, sfd, &co, bytes);
  if (rc == PB_ETOOBIG)
    snprintf(why, whycap, "over the account's contextStorageMiB (%lld MiB)",
             (long long)l.context_storage_mib);
  else if (rc)
    snprintf(why, whycap, "copying the profile failed: %s", pb_strerror(rc));
  if (!rc) {
    /* The swap: one rename, the old state in the staging name after it. */
    if (renameat2(afd, stage, afd, id, RENAME_EXCHANGE) == 0) {
      fsync(afd);
    } else if (errno == ENOENT && renameat(afd, stage, afd, id) == 0) {
      fsync(afd);
    } else if ((errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) &&
               swap_by_renames(afd, stage, id) == 0) {
      /* A shared volume without RENAME_EXCHANGE (NFS): two renames; the
       * session saving holds the context, so nothing reads it between. */
      fsync(afd);
    } else {
      snprintf(why, whycap, "swapping the saved state in failed: %s", strerror(errno));
      rc = PB_EIO;
    }
  }
  if (pfd >= 0) close(pfd);
  if (sfd >= 0) close(sfd);
  pb_fsafe_remove_at(afd, stage);
  close(afd);
  if (!rc) {
    rc = pb_context_saved(c->store, account_id, id, *bytes, pb_wall_ms());
    if (rc) snprintf(why, whycap, "recording the size failed: %s", pb_strerror(rc));
  }
  return rc;
}
