#ifndef PB_SESSIONS_ISOLATE_H
#define PB_SESSIONS_ISOLATE_H
/* A file system each browser cannot see past, and a uid of its own.
 *
 * When the service runs as root, every browser gets a uid (and the gid of
 * the same number) from a range no account uses, held until the browser
 * and its profile are gone, and its own mount namespace: fresh tmpfs over
 * /tmp, /var/tmp, /dev/shm, /run/lock, the temp dir, the data dir and
 * /root, its own profile dir bound back in at the same path, and a /proc
 * that shows only its own processes (hidepid=invisible). Everything else
 * (the system's libraries, fonts, /etc) stays as it is, read-only to it by
 * ownership. Without root none of this is done: isolation is "none" and
 * the README says what a browser can then reach. */
#include <sys/types.h>

#define PB_ISOLATE_UID_BASE 61000
#define PB_ISOLATE_UIDS 100

typedef struct {
  uid_t uid_base;       /* first uid (and gid) of the range */
  int uids;             /* how many; 0: no uid of its own (all as "nobody") */
  const char *data_dir; /* hidden from browsers; may be relative */
} pb_isolate_opts;

/* Decides the mode once, before any browser starts. Uids of the range that
 * name a user or group in the system's databases are left out (and logged).
 * Returns 0, or PB_EINVAL when the range holds no usable uid. */
int pb_isolate_init(const pb_isolate_opts *o);

/* "mountns+uid" when browsers are isolated as above, else "none". */
const char *pb_isolate_mode(void);
int pb_isolate_enabled(void);

/* Takes a uid no live browser of any service on this host holds (an
 * abstract socket named after it is the lock across services). PB_EBUSY
 * when all are held. Thread-safe. */
int pb_isolate_uid_take(uid_t *uid);
/* Gives it back; call only once the browser's processes and files are
 * gone. Thread-safe. */
void pb_isolate_uid_give(uid_t uid);

/* What a forked child needs to enter its namespace: prepared by the parent
 * (no allocation, no formatting after fork). */
typedef struct {
  char profile[4096]; /* its profile dir, bound back in at the same path */
  /* The executable's dir (or the file alone, is_file) when it lies in a
   * hidden dir, bound back in read-only; "" when it is visible anyway. */
  char exe[4096];
  int exe_is_file;
} pb_isolate_plan;

/* Fills p->exe for the executable at path (resolved through PATH-less
 * realpath). Call in the parent. */
void pb_isolate_plan_exe(pb_isolate_plan *p, const char *path);

/* In the child, after fork, while still root: unshares the mount
 * namespace and lays out the view above. Only system calls (safe after
 * fork in a threaded process). Returns 0 or -errno. */
int pb_isolate_enter(const pb_isolate_plan *p);

#endif
