/* Symlink-safe removal and creation in dirs a browser can write: the
 * daemon runs them as root, so a link planted by the browser must never
 * lead it outside the tree. */
#include "common/pb.h"
#include "sessions/fsafe.h"
#include "test.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void put(const char *rel, const char *text) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  FILE *f = fopen(p, "w");
  ASSERT(f);
  fputs(text, f);
  fclose(f);
}

static int exists(const char *rel) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  return lstat(p, &st) == 0;
}

static void mk(const char *rel) {
  char p[512];
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  ASSERT_EQ(mkdir(p, 0755), 0);
}

static void link_to(const char *target_rel, const char *rel) {
  char t[512], p[512];
  snprintf(t, sizeof(t), "%s/%s", root, target_rel);
  snprintf(p, sizeof(p), "%s/%s", root, rel);
  ASSERT_EQ(symlink(t, p), 0);
}

static void test_remove_keeps_link_targets(void) {
  /* outside/: what links point at; tree/: what is removed. */
  mk("outside");
  mk("outside/dir");
  put("outside/dir/keep", "k");
  put("outside/file", "f");
  mk("tree");
  mk("tree/a");
  mk("tree/a/b");
  put("tree/a/b/x", "x");
  put("tree/y", "y");
  link_to("outside/file", "tree/link-file");
  link_to("outside/dir", "tree/link-dir");
  link_to("outside/dir", "tree/a/b/link-dir");
  link_to("nowhere", "tree/dangling");
  char p[512];
  snprintf(p, sizeof(p), "%s/tree", root);
  ASSERT_EQ(pb_fsafe_remove(p), 0);
  ASSERT(!exists("tree"));
  ASSERT(exists("outside/file"));
  ASSERT(exists("outside/dir"));
  ASSERT(exists("outside/dir/keep"));
  /* Missing is success. */
  ASSERT_EQ(pb_fsafe_remove(p), 0);
}

static void test_remove_a_link_itself(void) {
  /* The tree's root swapped for a link: the link goes, not the target. */
  link_to("outside/dir", "swapped");
  char p[512];
  snprintf(p, sizeof(p), "%s/swapped", root);
  ASSERT_EQ(pb_fsafe_remove(p), 0);
  ASSERT(!exists("swapped"));
  ASSERT(exists("outside/dir/keep"));
}

static void test_mkdir_refuses_links(void) {
  int rfd = open(root, O_RDONLY | O_DIRECTORY);
  ASSERT(rfd >= 0);
  /* A planted link where a dir is to be made: refused, target untouched. */
  link_to("outside/dir", "planted");
  struct stat before, after;
  char t[512];
  snprintf(t, sizeof(t), "%s/outside/dir", root);
  ASSERT_EQ(stat(t, &before), 0);
  ASSERT_EQ(pb_fsafe_mkdir(rfd, "planted", 12345, 12345, 0700, NULL), PB_EIO);
  ASSERT_EQ(stat(t, &after), 0);
  ASSERT_EQ(after.st_mode, before.st_mode);
  ASSERT_EQ(after.st_uid, before.st_uid);
  /* A real one is made with the owner and mode asked for (as root). */
  int fd = -1;
  ASSERT_EQ(pb_fsafe_mkdir(rfd, "made", geteuid() == 0 ? 12345 : (uid_t)-1, (gid_t)-1, 0700, &fd),
            0);
  ASSERT(fd >= 0);
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  ASSERT_EQ(st.st_mode & 07777, 0700);
  if (geteuid() == 0) ASSERT_EQ(st.st_uid, 12345);
  /* Made again: fine, same result. */
  ASSERT_EQ(pb_fsafe_mkdir(rfd, "made", (uid_t)-1, (gid_t)-1, 0700, NULL), 0);
  int dfd = -1;
  ASSERT_EQ(pb_fsafe_open_dir(rfd, "planted", &dfd), PB_EIO);
  close(fd);
  close(rfd);
}

static void test_deep_tree(void) {
  /* Deeper than the walk goes: what it can reach goes, an error says the rest stays. */
  char p[512];
  mk("deep");
  snprintf(p, sizeof(p), "%s/deep", root);
  int fd = open(p, O_RDONLY | O_DIRECTORY);
  ASSERT(fd >= 0);
  for (int i = 0; i < 40; i++) {
    ASSERT_EQ(mkdirat(fd, "d", 0700), 0);
    int n = openat(fd, "d", O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = n;
    ASSERT(fd >= 0);
  }
  close(fd);
  ASSERT_EQ(pb_fsafe_remove(p), 0);
  ASSERT(!exists("deep"));
}

static void test_open_path(void) {
  mk("prof");
  mk("prof/downloads");
  link_to("outside", "prof/linked");
  char p[512];
  int fd = -1;
  snprintf(p, sizeof(p), "%s/prof/downloads", root);
  ASSERT_EQ(pb_fsafe_open_path(p, 2, &fd), 0);
  close(fd);
  /* The browser's part holds a link: refused. */
  snprintf(p, sizeof(p), "%s/prof/linked", root);
  ASSERT_EQ(pb_fsafe_open_path(p, 2, &fd), PB_EIO);
  ASSERT_EQ(pb_fsafe_open_path(p, 1, &fd), PB_EIO);
  /* The operator's part may: a link above the parts is followed. */
  link_to("prof", "prof-link");
  snprintf(p, sizeof(p), "%s/prof-link/downloads", root);
  ASSERT_EQ(pb_fsafe_open_path(p, 1, &fd), 0);
  close(fd);
  ASSERT_EQ(pb_fsafe_open_path(p, 2, &fd), PB_EIO);
}

int main(void) {
  snprintf(root, sizeof(root), "%s/pb-fsafe-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ASSERT(mkdtemp(root));
  RUN(test_remove_keeps_link_targets);
  RUN(test_remove_a_link_itself);
  RUN(test_mkdir_refuses_links);
  RUN(test_deep_tree);
  RUN(test_open_path);
  char cmd[600];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  if (system(cmd)) return 1;
  DONE();
}
