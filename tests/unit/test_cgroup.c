/* The memory cgroup per browser, alone: a child that joins one and
 * allocates past its limit is killed by the kernel and counted, one that
 * stays within it is not, and nothing is left behind. Needs root and a
 * memory controller; without them the module must say "none" and the test
 * checks only that. Includes cgroup.c to reach its word matcher. */
#include "../../src/sessions/cgroup.c"

#include "test.h"

#include <sys/mman.h>
#include <sys/wait.h>

static void test_has_word(void) {
  ASSERT(has_word("cpu memory pids", "memory"));
  ASSERT(has_word("memory\n", "memory"));
  ASSERT(!has_word("cpu nomemory", "memory"));
  ASSERT(!has_word("memory_x pids", "memory"));
  ASSERT(!has_word("", "memory"));
}

/* A child in cg touching mb MiB (mmap: no allocator in the way); returns
 * how it ended, as waitpid's status. */
static int run_child(pb_cgroup *cg, long mb) {
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (write(pb_cgroup_procs_fd(cg), "0", 1) != 1) _exit(3);
    size_t n = (size_t)mb << 20;
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(4);
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    _exit(0);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
  }
  return st;
}

static void test_limit(void) {
  pb_cgroup *cg = NULL;
  ASSERT_EQ(pb_cgroup_create(128 * 1024, &cg), 0);
  char dir[sizeof(cg->dir)];
  pb_strlcpy(dir, cg->dir, sizeof(dir));
  ASSERT(access(dir, F_OK) == 0);
  ASSERT_EQ(pb_cgroup_oom_kills(cg), 0);
  /* Within the limit: runs to the end. */
  int st = run_child(cg, 16);
  ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  ASSERT_EQ(pb_cgroup_oom_kills(cg), 0);
  /* Past it: the kernel's OOM killer, within this cgroup only. */
  st = run_child(cg, 1024);
  ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  ASSERT(pb_cgroup_oom_kills(cg) >= 1);
  pb_cgroup_destroy(cg);
  ASSERT(access(dir, F_OK) != 0);
  pb_cgroup_destroy(NULL);
}

int main(void) {
  pb_log_level = PB_LOG_WARN;
  test_has_word();
  pb_cgroup_mode mode = pb_cgroup_init();
  if (geteuid() != 0) ASSERT_EQ(mode, PB_CGROUP_NONE);
  if (mode == PB_CGROUP_NONE) {
    ASSERT_STR_EQ(pb_cgroup_mode_name(), "none");
    pb_cgroup *cg = NULL;
    ASSERT_EQ(pb_cgroup_create(1024, &cg), PB_ENOTFOUND);
    printf("no memory cgroup here: the limit test is skipped\n");
  } else {
    ASSERT(!strncmp(pb_cgroup_mode_name(), "cgroup-v", 8));
    ASSERT(access(g_base, F_OK) == 0);
    test_limit();
    pb_cgroup_shutdown();
    ASSERT(access(g_base, F_OK) != 0);
  }
  printf("%d assertions passed\n", pb_test_count);
  return 0;
}
