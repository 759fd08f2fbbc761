#include "sessions/browser.h"

#include "common/pb.h"
#include "sessions/cgroup.h"
#include "sessions/fsafe.h"
#include "sessions/isolate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pb_browser {
  pid_t pid;
  pb_cdp *cdp;
  char profile[PATH_MAX];
  pb_cgroup *cg;
  pb_browser_net net;
  int net_open;
  void (*net_close)(void *data, pb_browser_net *net);
  void *net_data;
  uid_t uid; /* from the isolation range, given back once all is gone */
  int has_uid;
  int reaped; /* pid already waited for (a launch that failed) */
};

static const char *temp_dir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

static void rm_rf(const char *path) {
  if (!path || !*path) return;
  int rc = pb_fsafe_remove(path);
  if (rc) PB_WARN("browser: cannot remove all of %s: %s", path, pb_strerror(rc));
}

static const char *default_exe(void) {
  /* Debian's headless shell (package chromium-headless-shell, built from the
   * same chromium source) when installed: it has no browser UI, so a new
   * BrowserContext costs a fifth of what it costs in the full browser, whose
   * every window also loads omnibox WebUI pages. Else the real binary behind
   * Debian's /usr/bin/chromium wrapper (which adds its own flags and costs a
   * shell start on every launch). */
  if (access("/usr/lib/chromium/chromium-headless-shell", X_OK) == 0)
    return "/usr/lib/chromium/chromium-headless-shell";
  if (access("/usr/lib/chromium/chromium", X_OK) == 0) return "/usr/lib/chromium/chromium";
  return "/usr/bin/chromium";
}

int pb_browser_launch(const pb_browser_opts *o, int64_t deadline_ms, pb_browser **out) {
  *out = NULL;
  pb_browser *b = calloc(1, sizeof(*b));
  if (!b) return PB_ENOMEM;
  b->pid = -1;
  b->net.netns_fd = -1;
  int rc = PB_EIO;
  int to_chrome[2] = {-1, -1}, from_chrome[2] = {-1, -1};
  int procs_fd = -1;
  pb_isolate_plan *plan = NULL;
  int profile_fd = -1;
  const char *proxy_value = o->proxy;
  if (o->net_open) {
    b->net_close = o->net_close;
    b->net_data = o->net_data;
    rc = o->net_open(o->net_data, &b->net);
    if (rc) {
      PB_ERR("browser: cannot make its network: %s", pb_strerror(rc));
      goto fail;
    }
    b->net_open = 1;
    proxy_value = b->net.proxy;
    rc = PB_EIO;
  }
  if (o->memory_limit_kb > 0 && pb_cgroup_create(o->memory_limit_kb, &b->cg) == 0)
    procs_fd = pb_cgroup_procs_fd(b->cg);

  /* The owner pid in the name lets a later run sweep dirs a crash left. */
  snprintf(b->profile, sizeof(b->profile), "%s/ppod-profile-%d-XXXXXX", temp_dir(), (int)getpid());
  if (!mkdtemp(b->profile)) {
    PB_ERR("browser: mkdtemp %s: %s", b->profile, strerror(errno));
    b->profile[0] = '\0';
    goto fail;
  }
  uid_t uid = 0;
  gid_t gid = 0;
  int drop = geteuid() == 0;
  int isolate = drop && pb_isolate_enabled();
  if (pb_fsafe_open_path(b->profile, 1, &profile_fd)) goto fail;
  if (isolate) {
    rc = pb_isolate_uid_take(&b->uid);
    if (rc) {
      PB_ERR("browser: every uid of the isolation range is in use");
      goto fail;
    }
    rc = PB_EIO;
    b->has_uid = 1;
    uid = b->uid;
    gid = (gid_t)b->uid;
    plan = calloc(1, sizeof(*plan));
    if (!plan) goto fail;
    pb_strlcpy(plan->profile, b->profile, sizeof(plan->profile));
    pb_isolate_plan_exe(plan, o->executable ? o->executable : default_exe());
  } else if (drop) {
    struct passwd *pw = getpwnam(o->run_as ? o->run_as : "nobody");
    if (!pw) {
      PB_ERR("browser: no user %s to run Chromium as", o->run_as ? o->run_as : "nobody");
      goto fail;
    }
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  if (o->seed_dir) {
    /* Before the browser can see the dir: the copy is ours until then. */
    int seed_fd = -1;
    pb_fsafe_copy_opts co = {.uid = drop ? uid : (uid_t)-1,
                             .gid = drop ? gid : (gid_t)-1,
                             .require_uid = (uid_t)-1};
    int crc = pb_fsafe_open_path(o->seed_dir, 0, &seed_fd);
    if (!crc) crc = pb_fsafe_copy_tree(seed_fd, profile_fd, &co, NULL);
    if (seed_fd >= 0) close(seed_fd);
    if (crc) {
      PB_ERR("browser: cannot seed its profile from %s: %s", o->seed_dir, pb_strerror(crc));
      rc = crc;
      goto fail;
    }
  }
  /* On the fd: the dir is the browser's from here on. */
  if ((drop && fchown(profile_fd, uid, gid)) || fchmod(profile_fd, 0700)) goto fail;

  if (pipe2(to_chrome, O_CLOEXEC) || pipe2(from_chrome, O_CLOEXEC)) goto fail;

  char udd[PATH_MAX + 32], home[PATH_MAX + 8], proxy[512];
  snprintf(udd, sizeof(udd), "--user-data-dir=%s", b->profile);
  snprintf(home, sizeof(home), "HOME=%s", b->profile);
  const char *argv[64];
  int n = 0;
  argv[n++] = o->executable ? o->executable : default_exe();
  static const char *const flags[] = {
      "--headless",
      "--remote-debugging-pipe",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-default-apps",
      "--disable-extensions",
      "--disable-breakpad",
      "--disable-crash-reporter",
      "--disable-client-side-phishing-detection",
      "--disable-domain-reliability",
      "--disable-hang-monitor",
      "--disable-popup-blocking",
      "--disable-prompt-on-repost",
      "--disable-renderer-backgrounding",
      "--disable-background-timer-throttling",
      "--disable-backgrounding-occluded-windows",
      "--disable-ipc-flooding-protection",
      /* Features that talk to Google on their own: translate, optimization
       * hints and the on-device model manifest (an on-demand component
       * fetch that --disable-component-update does not stop), network time
       * (clients2.google.com/time), media router discovery, autofill and
       * feed servers, the certificate transparency list. */
      "--disable-features=Translate,OptimizationHints,OptimizationHintsFetching,"
      "OptimizationGuideModelDownloading,OptimizationTargetPrediction,"
      "OptimizationGuideOnDeviceModel,OnDeviceModelService,NetworkTimeServiceQuerying,"
      "MediaRouter,DialMediaRouteProvider,"
      "InterestFeedContentSuggestions,CalculateNativeWinOcclusion,AutofillServerCommunication,"
      "CertificateTransparencyComponentUpdater,GlobalMediaControls,ImprovedCookieControls,"
      "LazyFrameLoading,AcceptCHFrame,PrivacySandboxSettings4",
      /* The on-device model manifest is an on-demand component fetch
       * (update.googleapis.com) that neither a feature nor
       * --disable-component-update stops; an empty override has it read
       * nothing and fetch nothing. */
      "--optimization-guide-manifest-override=/dev/null",
      /* Variations: no field-trial config, no seed fetch. */
      "--disable-field-trial-config",
      "--disable-component-extensions-with-background-pages",
      "--no-pings",
      "--metrics-recording-only",
      "--password-store=basic",
      "--use-mock-keychain",
      "--mute-audio",
      "--hide-scrollbars",
      "--force-color-profile=srgb",
      "--font-render-hinting=none",
      "--disable-gpu",
      "--no-service-autorun",
      "--disable-quic",
  };
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) argv[n++] = flags[i];
  argv[n++] = udd;
  if (o->no_sandbox) argv[n++] = "--no-sandbox";
  if (proxy_value) {
    snprintf(proxy, sizeof(proxy), "--proxy-server=%s", proxy_value);
    argv[n++] = proxy;
    /* Everything through the egress proxy: Chromium otherwise goes direct to
     * loopback, and WebRTC would send UDP around any proxy. */
    argv[n++] = "--proxy-bypass-list=<-loopback>";
    argv[n++] = "--force-webrtc-ip-handling-policy=disable_non_proxied_udp";
    argv[n++] = "--enforce-webrtc-ip-permission-check";
  }
  for (int i = 0; o->extra_args && o->extra_args[i] && n < 62; i++) argv[n++] = o->extra_args[i];
  argv[n++] = "about:blank";
  argv[n] = NULL;
  const char *envp[] = {home, "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC", NULL};

  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) goto fail;
  if (pid == 0) {
    /* Child: fds 3 and 4 are the pipe, nothing else leaks (O_CLOEXEC). */
    setpgid(0, 0);
    int r = dup(to_chrome[0]), w = dup(from_chrome[1]);
    if (r < 0 || w < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0) _exit(127);
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, 0);
      if (pb_log_level < PB_LOG_DEBUG) {
        dup2(devnull, 1);
        dup2(devnull, 2);
      }
    }
    /* Into its memory cgroup and its network namespace while still root. */
    if (procs_fd >= 0 && write(procs_fd, "0", 1) != 1) _exit(123);
    if (b->net.netns_fd >= 0 && setns(b->net.netns_fd, CLONE_NEWNET)) _exit(124);
    if (plan && pb_isolate_enter(plan)) _exit(122);
    if (drop && (setgroups(0, NULL) || setgid(gid) || setuid(uid))) _exit(126);
    /* After the uid change, which clears the death signal. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], (char *const *)argv, (char *const *)envp);
    _exit(127);
  }
  b->pid = pid;
  setpgid(pid, pid); /* also from the parent, so kill(-pid) works at once */
  free(plan);
  plan = NULL;
  close(profile_fd);
  profile_fd = -1;
  close(to_chrome[0]);
  close(from_chrome[1]);
  to_chrome[0] = from_chrome[1] = -1;

  rc = pb_cdp_open(to_chrome[1], from_chrome[0], o->hook, o->hook_data, &b->cdp);
  if (rc) goto fail;
  to_chrome[1] = from_chrome[0] = -1;
  cJSON *res = NULL;
  rc = pb_cdp_call(b->cdp, NULL, "Browser.getVersion", NULL, deadline_ms, &res, NULL, 0);
  cJSON_Delete(res);
  if (rc) {
    /* The child's own exit codes say which step before exec failed. */
    int st = 0;
    const char *why = NULL;
    pid_t r = 0;
    /* Its pipe ends a moment before it can be reaped. */
    for (int i = 0; i < 20 && (r = waitpid(b->pid, &st, WNOHANG)) == 0; i++) {
      struct timespec ts = {0, 5 * 1000000};
      nanosleep(&ts, NULL);
    }
    if (r == b->pid) b->reaped = 1;
    if (r == b->pid && WIFEXITED(st)) {
      switch (WEXITSTATUS(st)) {
        case 122:
          why = "could not make its mount namespace";
          break;
        case 123:
          why = "could not join its cgroup";
          break;
        case 124:
          why = "could not join its network namespace";
          break;
        case 126:
          why = "could not drop to its uid";
          break;
        case 127:
          why = "could not exec the executable (missing, or not executable by its uid)";
          break;
        default:
          break;
      }
    }
    PB_ERR("browser: Chromium did not answer (%s)%s%s", pb_strerror(rc), why ? ": " : "",
           why ? why : "");
    goto fail;
  }
  *out = b;
  return 0;

fail:
  free(plan);
  if (profile_fd >= 0) close(profile_fd);
  for (int i = 0; i < 2; i++) {
    if (to_chrome[i] >= 0) close(to_chrome[i]);
    if (from_chrome[i] >= 0) close(from_chrome[i]);
  }
  pb_browser_destroy(b);
  return rc ? rc : PB_EIO;
}

pb_cdp *pb_browser_cdp(pb_browser *b) {
  return b->cdp;
}
int pb_browser_net_id(const pb_browser *b) {
  return b->net_open ? b->net.id : -1;
}

pid_t pb_browser_pid(pb_browser *b) {
  return b->pid;
}
uid_t pb_browser_uid(const pb_browser *b) {
  return b->has_uid ? b->uid : (uid_t)-1;
}
const char *pb_browser_profile_dir(pb_browser *b) {
  return b->profile;
}

static long rss_of(pid_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  long size = 0, res = 0;
  if (!fgets(buf, sizeof(buf), f) || sscanf(buf, "%ld %ld", &size, &res) != 2) res = 0;
  fclose(f);
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Calls fn for each process of the browser's process group: the browser,
 * its renderers, GPU and utility processes. */
static void group_walk(pb_browser *b, void (*fn)(pid_t pid, void *arg), void *arg) {
  DIR *d = opendir("/proc");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    long long pid;
    if (pb_parse_int(e->d_name, 1, INT_MAX, &pid)) continue;
    if (getpgid((pid_t)pid) == b->pid) fn((pid_t)pid, arg);
  }
  closedir(d);
}

static void add_rss(pid_t pid, void *total) {
  *(long *)total += rss_of(pid);
}

long pb_browser_rss_kb(pb_browser *b) {
  long total = 0;
  group_walk(b, add_rss, &total);
  return total;
}

/* Waits (up to 5 s) until no process of the group pgid is left, not even
 * a zombie: those the browser left behind are ours to reap when this
 * process is a child subreaper (the daemon is), else init's. */
static void wait_group_gone(pid_t pgid) {
  int64_t until = pb_now_ms() + 5000;
  for (int i = 0;; i++) {
    pid_t r = waitpid(-pgid, NULL, WNOHANG);
    if (r > 0) continue;
    if (kill(-pgid, 0) && errno == ESRCH) return;
    if (pb_now_ms() >= until) {
      PB_WARN("browser: processes of group %d still there after 5 s", (int)pgid);
      return;
    }
    if (i % 20 == 0) kill(-pgid, SIGKILL);
    struct timespec ts = {0, 5 * 1000000};
    nanosleep(&ts, NULL);
  }
}

int pb_browser_close(pb_browser *b, int64_t deadline_ms) {
  if (!b || b->pid <= 0 || b->reaped) return PB_ECRASHED;
  int rc = PB_ETIMEOUT;
  if (!pb_cdp_alive(b->cdp)) {
    rc = PB_ECRASHED;
  } else {
    pb_cdp_send(b->cdp, NULL, "Browser.close", NULL);
    for (;;) {
      int st = 0;
      pid_t r = waitpid(b->pid, &st, WNOHANG);
      if (r == b->pid) {
        b->reaped = 1;
        rc = 0;
        break;
      }
      if (r < 0 && errno != EINTR) break;
      if (pb_now_ms() >= deadline_ms) break;
      struct timespec ts = {0, 5 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
  /* Its helpers (the network service writes the cookies) end with it;
   * whatever is left goes now, so no process writes the profile after. */
  kill(-b->pid, SIGKILL);
  if (!b->reaped) {
    kill(b->pid, SIGKILL);
    while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR) {
    }
    b->reaped = 1;
  }
  wait_group_gone(b->pid);
  return rc;
}

void pb_browser_destroy(pb_browser *b) {
  if (!b) return;
  if (b->pid > 0) {
    kill(-b->pid, SIGKILL);
    if (!b->reaped) {
      kill(b->pid, SIGKILL);
      while (waitpid(b->pid, NULL, 0) < 0 && errno == EINTR) {
      }
    }
    wait_group_gone(b->pid);
  }
  pb_cdp_close(b->cdp);
  /* After the browser: whatever of it still runs dies with its cgroup. */
  pb_cgroup_destroy(b->cg);
  if (b->net_open && b->net_close) b->net_close(b->net_data, &b->net);
  rm_rf(b->profile);
  /* Only now: none of its processes runs and none of its files is left. */
  if (b->has_uid) pb_isolate_uid_give(b->uid);
  free(b);
}

/* Proportional set size: shared pages split among the processes sharing
 * them, so a sum over the zygote's children counts them once (their RSS sum
 * is several times what they use). RSS where smaps_rollup is unreadable. */
static long pss_of(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return rss_of(pid);
  long kb = -1;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "Pss: %ld kB", &kb) == 1) break;
  fclose(f);
  return kb >= 0 ? kb : rss_of(pid);
}

static void add_pss(pid_t pid, void *total) {
  *(long *)total += pss_of(pid);
}

long pb_browser_memory_kb(pb_browser *b) {
  long total = 0;
  group_walk(b, add_pss, &total);
  return total;
}

long pb_browser_oom_kills(pb_browser *b) {
  return b->cg ? pb_cgroup_oom_kills(b->cg) : -1;
}

typedef struct {
  pid_t pid;
  long kb;
} largest;

static void note_largest(pid_t pid, void *arg) {
  largest *l = arg;
  long kb = pss_of(pid);
  if (kb > l->kb) *l = (largest){pid, kb};
}

int pb_browser_kill_largest(pb_browser *b, long *rss_kb) {
  largest l = {0, 0};
  group_walk(b, note_largest, &l);
  if (l.pid > 0) kill(l.pid, SIGKILL);
  if (rss_kb) *rss_kb = l.kb;
  return (int)l.pid;
}

/* Removes the ppod-profile-<owner>-* dirs in the temp dir: of that owner
 * when owner > 0, else of every owner that is gone (not this process). */
static int remove_profiles(int owner) {
  DIR *d = opendir(temp_dir());
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    int o = 0;
    if (sscanf(e->d_name, "ppod-profile-%d-", &o) != 1 || o <= 0) continue;
    int keep = owner > 0 ? o != owner : (o == (int)getpid() || kill(o, 0) == 0 || errno != ESRCH);
    if (keep) continue;
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", temp_dir(), e->d_name);
    rm_rf(path);
    removed++;
  }
  closedir(d);
  return removed;
}

int pb_browser_remove_profiles_of(int owner) {
  return owner > 0 ? remove_profiles(owner) : 0;
}

int pb_browser_sweep_profiles(void) {
  return remove_profiles(0);
}
