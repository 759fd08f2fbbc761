/* The browsers' uid range: no two live browsers share a uid, in this
 * service or another on the host, and a uid comes back only when given. */
#include "common/pb.h"
#include "sessions/isolate.h"
#include "test.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* What another service holding uid u looks like: its lock socket. */
static int hold_elsewhere(uid_t u) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT(fd >= 0);
  struct sockaddr_un a;
  memset(&a, 0, sizeof(a));
  a.sun_family = AF_UNIX;
  int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "ppod-browser-uid-%u", (unsigned)u);
  ASSERT_EQ(
      bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
      0);
  return fd;
}

static void test_range(void) {
  /* An unusual base so a service running on this host is not in the way. */
  const uid_t base = 3900000000u;
  pb_isolate_opts o = {.uid_base = base, .uids = 3, .data_dir = "."};
  ASSERT_EQ(pb_isolate_init(&o), 0);
  ASSERT(pb_isolate_enabled());
  ASSERT_STR_EQ(pb_isolate_mode(), "mountns+uid");
  int other = hold_elsewhere(base + 1);
  uid_t a, b, c;
  ASSERT_EQ(pb_isolate_uid_take(&a), 0);
  ASSERT_EQ(pb_isolate_uid_take(&b), 0);
  /* base+1 is another service's: skipped; the range is then used up. */
  ASSERT_EQ(pb_isolate_uid_take(&c), PB_EBUSY);
  ASSERT(a != b);
  ASSERT(a != base + 1 && b != base + 1);
  ASSERT(a >= base && a < base + 3 && b >= base && b < base + 3);
  /* Given back, it is taken again; the other service's stays out. */
  pb_isolate_uid_give(a);
  ASSERT_EQ(pb_isolate_uid_take(&c), 0);
  ASSERT_EQ(c, a);
  close(other);
  ASSERT_EQ(pb_isolate_uid_take(&c), 0);
  ASSERT_EQ(c, base + 1);
  pb_isolate_uid_give(a);
  pb_isolate_uid_give(b);
  pb_isolate_uid_give(base + 1);
}

static void test_exe_plan(void) {
  pb_isolate_plan p;
  memset(&p, 0, sizeof(p));
  /* The system's Chromium is visible as it is: nothing to bind. */
  pb_isolate_plan_exe(&p, "/bin/sh");
  ASSERT_STR_EQ(p.exe, "");
  /* One in a dir under /tmp: that dir, read-only. */
  char dir[] = "/tmp/pb-isolate-XXXXXX";
  ASSERT(mkdtemp(dir));
  char exe[256];
  snprintf(exe, sizeof(exe), "%s/chromium", dir);
  FILE *f = fopen(exe, "w");
  ASSERT(f);
  fclose(f);
  pb_isolate_plan_exe(&p, exe);
  ASSERT_STR_EQ(p.exe, dir);
  ASSERT_EQ(p.exe_is_file, 0);
  unlink(exe);
  rmdir(dir);
  /* One right in /tmp: the file alone (its dir would show all of /tmp). */
  char file[] = "/tmp/pb-isolate-exe-XXXXXX";
  int fd = mkstemp(file);
  ASSERT(fd >= 0);
  close(fd);
  pb_isolate_plan_exe(&p, file);
  ASSERT_STR_EQ(p.exe, file);
  ASSERT_EQ(p.exe_is_file, 1);
  unlink(file);
}

int main(void) {
  if (geteuid() != 0) {
    /* Without root nothing is isolated, whatever the options. */
    pb_isolate_opts o = {.uid_base = 61000, .uids = 100, .data_dir = "."};
    ASSERT_EQ(pb_isolate_init(&o), 0);
    ASSERT(!pb_isolate_enabled());
    ASSERT_STR_EQ(pb_isolate_mode(), "none");
    fprintf(stderr, "not root: only the disabled mode is checked\n");
    DONE();
  }
  RUN(test_range);
  RUN(test_exe_plan);
  DONE();
}
