/* Network namespaces for browsers. unshare(CLONE_NEWNET) changes the
 * namespace of the calling thread only, so a thread of our own enters the
 * new namespace, makes what must live there (an `lo` that is up, the proxy's
 * listening socket, an fd of the namespace) and ends: the rest of the
 * process never leaves the host's namespace. A socket stays in the namespace
 * it was made in. */
#include "egress/netns.h"

#include "common/pb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int pb_netns_loopback_listener(int *lfd, int *port) {
  *lfd = -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return PB_EIO;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof(sa);
  if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 512) ||
      getsockname(fd, (struct sockaddr *)&sa, &sl)) {
    close(fd);
    return PB_EIO;
  }
  *lfd = fd;
  *port = ntohs(sa.sin_port);
  return 0;
}

typedef struct {
  int rc, nsfd, lfd, port;
} ns_work;

static int lo_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof(ifr));
  pb_strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (!rc) {
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  close(s);
  return rc;
}

static void *ns_thread(void *arg) {
  ns_work *w = arg;
  if (unshare(CLONE_NEWNET)) {
    w->rc = errno == EPERM || errno == EACCES ? PB_EFORBIDDEN : PB_EIO;
    if (w->rc == PB_EIO) PB_WARN("netns: unshare: %s", strerror(errno));
    return NULL;
  }
  w->rc = PB_EIO;
  if (lo_up()) {
    PB_WARN("netns: cannot bring lo up: %s", strerror(errno));
    return NULL;
  }
  w->nsfd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (w->nsfd < 0) {
    PB_WARN("netns: cannot open /proc/thread-self/ns/net: %s", strerror(errno));
    return NULL;
  }
  if (pb_netns_loopback_listener(&w->lfd, &w->port)) {
    close(w->nsfd);
    w->nsfd = -1;
    return NULL;
  }
  w->rc = 0;
  return NULL;
}

int pb_netns_listener(int *nsfd, int *lfd, int *port) {
  *nsfd = *lfd = -1;
  ns_work w = {.rc = PB_EIO, .nsfd = -1, .lfd = -1};
  pthread_t t;
  if (pthread_create(&t, NULL, ns_thread, &w)) return PB_EIO;
  pthread_join(t, NULL);
  if (w.rc) return w.rc;
  *nsfd = w.nsfd;
  *lfd = w.lfd;
  *port = w.port;
  return 0;
}
