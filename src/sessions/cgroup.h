#ifndef PB_SESSIONS_CGROUP_H
#define PB_SESSIONS_CGROUP_H
/* A memory cgroup per browser, where the service may make them.
 *
 * The service makes one directory of its own, ppod-<pid>, in the cgroup v1
 * memory hierarchy (/sys/fs/cgroup/memory) or, failing that, in a cgroup v2
 * hierarchy with the memory controller (/sys/fs/cgroup/unified or
 * /sys/fs/cgroup), and in it one cgroup per browser, b<N>, whose memory
 * limit covers every process of that browser. A browser going over it has
 * the kernel's OOM killer end its largest process (a renderer, whose
 * oom_score_adj Chromium raises), within the cgroup only. */

typedef enum { PB_CGROUP_NONE = 0, PB_CGROUP_V1 = 1, PB_CGROUP_V2 = 2 } pb_cgroup_mode;

typedef struct pb_cgroup pb_cgroup;

/* Finds a usable hierarchy and makes ppod-<pid> in it; also removes the
 * ppod-<pid> dirs that dead earlier runs left. Call once, before any other
 * function here. Returns the mode (PB_CGROUP_NONE without the privilege or
 * a memory controller). */
pb_cgroup_mode pb_cgroup_init(void);

/* The mode pb_cgroup_init found: "cgroup-v1", "cgroup-v2" or "none". */
const char *pb_cgroup_mode_name(void);

/* Makes the next b<N> with a limit of limit_kb (swap not allowed beyond it
 * where the kernel can say so). PB_ENOTFOUND when there is no hierarchy,
 * PB_EIO when the dir or limit cannot be written. */
int pb_cgroup_create(long limit_kb, pb_cgroup **out);

/* An O_WRONLY|O_CLOEXEC fd of its cgroup.procs: a forked child joins with
 * write(fd, "0", 1) before exec. Borrowed; closed by pb_cgroup_destroy. */
int pb_cgroup_procs_fd(pb_cgroup *cg);

/* How many processes the OOM killer ended in it so far (0 if unknown). */
long pb_cgroup_oom_kills(pb_cgroup *cg);

/* Kills whatever still runs in it, waits (up to 2 s) until it is empty and
 * removes it. NULL is a no-op. */
void pb_cgroup_destroy(pb_cgroup *cg);

/* Kills every process in the cgroups of the run whose pid was owner and
 * removes them (the reaper's cleanup after a daemon that was killed). */
void pb_cgroup_remove_owner(int owner);

/* Removes ppod-<pid> (every browser's cgroup must be gone). */
void pb_cgroup_shutdown(void);

#endif
