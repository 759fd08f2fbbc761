#include "sessions/cgroup.h"

#include "common/pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pb_cgroup {
  char dir[600];
  int procs_fd;
};

static pb_cgroup_mode g_mode;
static char g_root[256]; /* the hierarchy's mount */
static char g_base[512]; /* g_root/ppod-<pid> */
static atomic_int g_next;

static int write_file(const char *dir, const char *name, const char *text) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = strlen(text);
  ssize_t w = write(fd, text, n);
  close(fd);
  return w == (ssize_t)n ? 0 : -1;
}

static int read_file(const char *dir, const char *name, char *buf, size_t cap) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, cap - 1);
  close(fd);
  if (n < 0) return -1;
  buf[n] = '\0';
  return 0;
}

static int is_file(const char *dir, const char *name) {
  char path[PATH_MAX + 64];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

/* SIGKILLs every process in dir and removes it, waiting up to 2 s for the
 * processes to be gone (rmdir fails with EBUSY until then). */
static int kill_and_remove(const char *dir) {
  for (int tries = 0; tries < 200; tries++) {
    char buf[8192];
    if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) == 0) {
      char *save = NULL;
      for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
        long long pid;
        if (!pb_parse_int(t, 1, INT_MAX, &pid)) kill((pid_t)pid, SIGKILL);
      }
    }
    if (rmdir(dir) == 0 || errno == ENOENT) return 0;
    if (errno != EBUSY) break;
    struct timespec ts = {0, 10 * 1000000};
    nanosleep(&ts, NULL);
  }
  PB_WARN("cgroup: cannot remove %s: %s", dir, strerror(errno));
  return -1;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (e->d_name[0] != 'b') continue;
      char sub[PATH_MAX + 256];
      snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
      struct stat st;
      if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) kill_and_remove(sub);
    }
    closedir(d);
  }
  kill_and_remove(dir);
}

/* ppod-<pid> dirs of runs that are gone. */
static void sweep_dead(void) {
  DIR *d = opendir(g_root);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    int owner = 0;
    if (sscanf(e->d_name, "ppod-%d", &owner) != 1 || owner <= 0 || owner == (int)getpid()) continue;
    if (kill(owner, 0) == 0 || errno != ESRCH) continue;
    char dir[PATH_MAX + 256];
    snprintf(dir, sizeof(dir), "%s/%s", g_root, e->d_name);
    remove_tree(dir);
  }
  closedir(d);
}

/* The ppod-<owner> dir of one run, in whichever hierarchy has it: for the
 * reaper, whose daemon may still be an unreaped zombie (so sweep_dead, which
 * asks whether the owner lives, would pass it by). */
void pb_cgroup_remove_owner(int owner) {
  static const char *roots[] = {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"};
  for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/ppod-%d", roots[i], owner);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(dir);
  }
}

static int make_base(void) {
  snprintf(g_base, sizeof(g_base), "%s/ppod-%d", g_root, (int)getpid());
  if (mkdir(g_base, 0755) && errno != EEXIST) return -1;
  return 0;
}

static int try_v1(void) {
  pb_strlcpy(g_root, "/sys/fs/cgroup/memory", sizeof(g_root));
  if (!is_file(g_root, "memory.limit_in_bytes") || access(g_root, W_OK)) return -1;
  sweep_dead();
  return make_base();
}

static int has_word(const char *list, const char *word) {
  size_t n = strlen(word);
  for (const char *s = list; (s = strstr(s, word)); s += n)
    if ((s == list || s[-1] == ' ') && (s[n] == '\0' || s[n] == ' ' || s[n] == '\n')) return 1;
  return 0;
}

static int try_v2(const char *root) {
  char buf[512];
  pb_strlcpy(g_root, root, sizeof(g_root));
  if (read_file(g_root, "cgroup.controllers", buf, sizeof(buf)) || !has_word(buf, "memory") ||
      access(g_root, W_OK))
    return -1;
  if (read_file(g_root, "cgroup.subtree_control", buf, sizeof(buf)) || !has_word(buf, "memory"))
    if (write_file(g_root, "cgroup.subtree_control", "+memory")) return -1;
  sweep_dead();
  if (make_base()) return -1;
  /* Our dir holds no process, so its children may have the controller. */
  if (write_file(g_base, "cgroup.subtree_control", "+memory")) {
    rmdir(g_base);
    return -1;
  }
  return 0;
}

pb_cgroup_mode pb_cgroup_init(void) {
  g_mode = PB_CGROUP_NONE;
  if (geteuid() != 0) return g_mode;
  if (try_v1() == 0)
    g_mode = PB_CGROUP_V1;
  else if (try_v2("/sys/fs/cgroup/unified") == 0 || try_v2("/sys/fs/cgroup") == 0)
    g_mode = PB_CGROUP_V2;
  if (g_mode) PB_INFO("cgroup: browsers get memory cgroups under %s", g_base);
  return g_mode;
}

const char *pb_cgroup_mode_name(void) {
  return g_mode == PB_CGROUP_V1 ? "cgroup-v1" : g_mode == PB_CGROUP_V2 ? "cgroup-v2" : "none";
}

int pb_cgroup_create(long limit_kb, pb_cgroup **out) {
  *out = NULL;
  if (!g_mode) return PB_ENOTFOUND;
  pb_cgroup *cg = calloc(1, sizeof(*cg));
  if (!cg) return PB_ENOMEM;
  cg->procs_fd = -1;
  snprintf(cg->dir, sizeof(cg->dir), "%s/b%d", g_base, atomic_fetch_add(&g_next, 1) + 1);
  if (mkdir(cg->dir, 0755)) {
    PB_WARN("cgroup: mkdir %s: %s", cg->dir, strerror(errno));
    free(cg);
    return PB_EIO;
  }
  char bytes[32];
  snprintf(bytes, sizeof(bytes), "%lld", (long long)limit_kb * 1024);
  int bad;
  if (g_mode == PB_CGROUP_V1) {
    bad = write_file(cg->dir, "memory.limit_in_bytes", bytes);
    /* Memory + swap no higher than memory: where swap is on, it is no
     * escape. Only where the kernel accounts swap. */
    if (!bad && is_file(cg->dir, "memory.memsw.limit_in_bytes"))
      write_file(cg->dir, "memory.memsw.limit_in_bytes", bytes);
  } else {
    bad = write_file(cg->dir, "memory.max", bytes);
    if (!bad) write_file(cg->dir, "memory.swap.max", "0");
  }
  char path[PATH_MAX + 32];
  snprintf(path, sizeof(path), "%s/cgroup.procs", cg->dir);
  if (!bad) cg->procs_fd = open(path, O_WRONLY | O_CLOEXEC);
  if (bad || cg->procs_fd < 0) {
    PB_WARN("cgroup: cannot set up %s: %s", cg->dir, strerror(errno));
    pb_cgroup_destroy(cg);
    return PB_EIO;
  }
  *out = cg;
  return 0;
}

int pb_cgroup_procs_fd(pb_cgroup *cg) {
  return cg->procs_fd;
}

long pb_cgroup_oom_kills(pb_cgroup *cg) {
  char buf[1024];
  if (read_file(cg->dir, g_mode == PB_CGROUP_V1 ? "memory.oom_control" : "memory.events", buf,
                sizeof(buf)))
    return 0;
  const char *s = strstr(buf, "oom_kill ");
  return s ? strtol(s + 9, NULL, 10) : 0;
}

void pb_cgroup_destroy(pb_cgroup *cg) {
  if (!cg) return;
  if (cg->procs_fd >= 0) close(cg->procs_fd);
  kill_and_remove(cg->dir);
  free(cg);
}

void pb_cgroup_shutdown(void) {
  if (g_mode && g_base[0]) remove_tree(g_base);
}
