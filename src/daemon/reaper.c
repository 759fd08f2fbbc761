#include "daemon/reaper.h"

#include "common/pb.h"
#include "sessions/browser.h"
#include "sessions/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void reap(int rfd, int owner) {
  char c = 0;
  ssize_t n;
  do n = read(rfd, &c, 1);
  while (n < 0 && errno == EINTR);
  if (n == 1 && c == 'q') return;
  /* The daemon died. Its browsers get SIGKILL from their death signal, and
   * the cgroups (where there are some) take the rest; a process still
   * exiting may hold a profile dir a moment longer, so look again for up
   * to 5 s until none has come back. */
  pb_cgroup_remove_owner(owner);
  for (int i = 0, quiet = 0; i < 100 && quiet < 3; i++) {
    quiet = pb_browser_remove_profiles_of(owner) ? 0 : quiet + 1;
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int pb_reaper_start(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC)) return -1;
  int owner = (int)getpid();
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    /* Twice, so the reaper is init's child, not the daemon's: it is no part
     * of the daemon's process tree (nor of its group or session). */
    close(p[1]);
    setsid();
    if (fork() != 0) _exit(0);
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    /* Only the pipe and stderr: nothing of the daemon's is held open. */
    int keep_max = p[0] > 2 ? p[0] : 2;
    for (int fd = 3; fd <= keep_max + 64; fd++)
      if (fd != p[0]) close(fd);
    reap(p[0], owner);
    _exit(0); /* no atexit handlers or sanitizer leak checks of the daemon's */
  }
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  close(p[0]);
  return p[1];
}

void pb_reaper_dismiss(int fd) {
  if (fd < 0) return;
  ssize_t n;
  do n = write(fd, "q", 1);
  while (n < 0 && errno == EINTR);
  close(fd);
}
