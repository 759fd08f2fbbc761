#include "sessions/isolate.h"

#include "common/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_UIDS 4096
#define MAX_HIDE 16

static int g_enabled;
static uid_t g_base;
static int g_count;
static unsigned char g_usable[MAX_UIDS];
static int g_lock_fd[MAX_UIDS];
static int g_next;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

/* Tmpfs mounted over each, in order, in every browser's namespace: the
 * world-writable dirs (what a browser leaves there must not outlive it or
 * reach another), the temp dir holding every profile, the data dir (tokens,
 * traces) and root's home. Paths under an earlier one are skipped. */
static char g_hide[MAX_HIDE][PATH_MAX];
static int g_hide_mode[MAX_HIDE];
static int g_nhide;

static int under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/') return 1;
  return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static void hide(const char *path, int mode) {
  char real[PATH_MAX];
  if (!path || !*path || !realpath(path, real)) return;
  if (!strcmp(real, "/")) {
    PB_WARN("isolation: will not hide / from browsers");
    return;
  }
  for (int i = 0; i < g_nhide; i++)
    if (under(real, g_hide[i])) return;
  if (g_nhide >= MAX_HIDE) return;
  pb_strlcpy(g_hide[g_nhide], real, PATH_MAX);
  g_hide_mode[g_nhide++] = mode;
}

int pb_isolate_init(const pb_isolate_opts *o) {
  g_enabled = 0;
  if (geteuid() != 0) return 0;
  if (o->uids <= 0) return 0;
  if (o->uids > MAX_UIDS || o->uid_base < 1000 ||
      (uint64_t)o->uid_base + (uint64_t)o->uids > 0xfffffffeu)
    return PB_EINVAL;
  g_base = o->uid_base;
  g_count = o->uids;
  int usable = 0;
  for (int i = 0; i < g_count; i++) {
    uid_t u = g_base + (uid_t)i;
    g_lock_fd[i] = -1;
    g_usable[i] = !getpwuid(u) && !getgrgid((gid_t)u);
    if (!g_usable[i])
      PB_WARN("isolation: uid/gid %u names an account; browsers will not use it", (unsigned)u);
    usable += g_usable[i];
  }
  if (!usable) return PB_EINVAL;
  const char *t = getenv("TMPDIR");
  g_nhide = 0;
  hide("/tmp", 01777);
  hide("/var/tmp", 01777);
  hide("/dev/shm", 01777);
  hide("/run/lock", 01777);
  hide(t && *t ? t : "/tmp", 0755);
  hide(o->data_dir, 0755);
  hide("/root", 0700);
  g_enabled = 1;
  return 0;
}

const char *pb_isolate_mode(void) {
  return g_enabled ? "mountns+uid" : "none";
}

int pb_isolate_enabled(void) {
  return g_enabled;
}

/* An abstract socket bound per uid: held while a browser has the uid, gone
 * with the process that holds it, seen by every service on the host (same
 * network namespace). */
static int lock_uid(uid_t u) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct sockaddr_un a;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "ppod-browser-uid-%u", (unsigned)u);
  if (bind(fd, (struct sockaddr *)&a,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n))) {
    close(fd);
    return -1;
  }
  return fd;
}

int pb_isolate_uid_take(uid_t *uid) {
  if (!g_enabled) return PB_EINVAL;
  pthread_mutex_lock(&g_mu);
  /* Round robin: a freed uid is the last to be taken again. */
  for (int k = 0; k < g_count; k++) {
    int i = (g_next + k) % g_count;
    if (!g_usable[i] || g_lock_fd[i] >= 0) continue;
    int fd = lock_uid(g_base + (uid_t)i);
    if (fd < 0) continue; /* another service's browser has it */
    g_lock_fd[i] = fd;
    g_next = (i + 1) % g_count;
    *uid = g_base + (uid_t)i;
    pthread_mutex_unlock(&g_mu);
    return 0;
  }
  pthread_mutex_unlock(&g_mu);
  return PB_EBUSY;
}

void pb_isolate_uid_give(uid_t uid) {
  if (!g_enabled || uid < g_base || uid >= g_base + (uid_t)g_count) return;
  int i = (int)(uid - g_base);
  pthread_mutex_lock(&g_mu);
  if (g_lock_fd[i] >= 0) close(g_lock_fd[i]);
  g_lock_fd[i] = -1;
  pthread_mutex_unlock(&g_mu);
}

/* mkdir -p of an absolute path, in place (no allocation). */
static int make_path(char *path) {
  for (char *p = path + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      int r = mkdir(path, 0755);
      *p = c;
      if (r && errno != EEXIST) return -errno;
      if (!c) return 0;
    }
  }
}

void pb_isolate_plan_exe(pb_isolate_plan *p, const char *path) {
  char real[PATH_MAX];
  p->exe[0] = '\0';
  p->exe_is_file = 0;
  if (!path || !realpath(path, real)) return;
  for (int i = 0; i < g_nhide; i++) {
    if (!under(real, g_hide[i])) continue;
    char *slash = strrchr(real, '/');
    /* Its dir, unless that is a hidden dir itself (it would show all). */
    int dir_hidden = 0;
    if (slash && slash != real) {
      *slash = '\0';
      for (int j = 0; j < g_nhide; j++) dir_hidden |= !strcmp(real, g_hide[j]);
      if (dir_hidden) *slash = '/';
    }
    pb_strlcpy(p->exe, real, sizeof(p->exe));
    p->exe_is_file = dir_hidden || !slash || slash == real;
    return;
  }
}

int pb_isolate_enter(const pb_isolate_plan *p) {
  if (unshare(CLONE_NEWNS)) return -errno;
  /* Nothing done here may reach the host's namespace. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL)) return -errno;
  /* A copy of the profile's mount, taken in this namespace before the
   * tmpfs hide it, attached again on top of them. */
  int tree =
      open_tree(AT_FDCWD, p->profile, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (tree < 0) return -errno;
  int exe_tree = -1;
  if (p->exe[0]) {
    exe_tree = open_tree(AT_FDCWD, p->exe, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (exe_tree < 0) return -errno;
  }
  char opts[16];
  for (int i = 0; i < g_nhide; i++) {
    /* Formatted by hand: no stdio after fork. */
    int m = g_hide_mode[i];
    memcpy(opts, "mode=", 5);
    opts[5] = (char)('0' + ((m >> 9) & 7));
    opts[6] = (char)('0' + ((m >> 6) & 7));
    opts[7] = (char)('0' + ((m >> 3) & 7));
    opts[8] = (char)('0' + (m & 7));
    opts[9] = '\0';
    if (mount("tmpfs", g_hide[i], "tmpfs", MS_NOSUID | MS_NODEV, opts) && errno != ENOENT)
      return -errno;
  }
  char path[sizeof(p->profile)];
  memcpy(path, p->profile, sizeof(path));
  path[sizeof(path) - 1] = '\0';
  int r = make_path(path);
  if (r) return r;
  if (move_mount(tree, "", AT_FDCWD, p->profile, MOVE_MOUNT_F_EMPTY_PATH)) return -errno;
  close(tree);
  if (exe_tree >= 0) {
    memcpy(path, p->exe, sizeof(path));
    path[sizeof(path) - 1] = '\0';
    if (p->exe_is_file) {
      char *slash = strrchr(path, '/');
      if (slash && slash != path) {
        *slash = '\0';
        if ((r = make_path(path))) return r;
        *slash = '/';
      }
      int f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
      if (f < 0) return -errno;
      close(f);
    } else if ((r = make_path(path))) {
      return r;
    }
    if (move_mount(exe_tree, "", AT_FDCWD, p->exe, MOVE_MOUNT_F_EMPTY_PATH)) return -errno;
    close(exe_tree);
    if (mount(NULL, p->exe, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
      return -errno;
  }
  /* Other processes (the daemon, other browsers) out of sight. */
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible"))
    return -errno;
  return 0;
}
