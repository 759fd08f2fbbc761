/* The network namespace of a browser, alone: a process that joins it
 * reaches the listener made inside and nothing of the host (a server on the
 * host's loopback). Without the privilege: PB_EFORBIDDEN and nothing left
 * open. Includes netns.c (the egress library is not linked here). */
#include "../../src/egress/netns.c"

#include "test.h"

#include <dirent.h>
#include <sys/wait.h>

static int fd_count(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  while (readdir(d)) n++;
  closedir(d);
  return n;
}

/* In a child that joined nsfd: 0 if a connection to 127.0.0.1:port is
 * made, 1 if refused, 2 for anything else. */
static int child_connect(int nsfd, int port) {
  pid_t pid = fork();
  ASSERT(pid >= 0);
  if (pid == 0) {
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET)) _exit(3);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) _exit(0);
    _exit(errno == ECONNREFUSED ? 1 : 2);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
  }
  ASSERT(WIFEXITED(st));
  return WEXITSTATUS(st);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR;
  int host_fd, host_port;
  ASSERT_EQ(pb_netns_loopback_listener(&host_fd, &host_port), 0);
  ASSERT(host_port > 0);
  /* Control: from the host's namespace, the host's listener answers. */
  ASSERT_EQ(child_connect(-1, host_port), 0);

  int before = fd_count();
  int nsfd = -1, lfd = -1, port = 0;
  int rc = pb_netns_listener(&nsfd, &lfd, &port);
  if (rc == PB_EFORBIDDEN) {
    ASSERT(nsfd == -1 && lfd == -1);
    ASSERT_EQ(fd_count(), before);
    printf("no privilege for network namespaces: the isolation test is skipped\n");
  } else {
    ASSERT_EQ(rc, 0);
    ASSERT(nsfd >= 0 && lfd >= 0 && port > 0);
    ASSERT(fcntl(nsfd, F_GETFD) & FD_CLOEXEC);
    /* Inside: the listener made there answers, the host's loopback not. */
    ASSERT_EQ(child_connect(nsfd, port), 0);
    ASSERT_EQ(child_connect(nsfd, host_port), 1);
    /* And this process never left the host's namespace. */
    ASSERT_EQ(child_connect(-1, host_port), 0);
    close(nsfd);
    close(lfd);
    ASSERT_EQ(fd_count(), before);
  }
  close(host_fd);
  printf("%d assertions passed\n", pb_test_count);
  return 0;
}
