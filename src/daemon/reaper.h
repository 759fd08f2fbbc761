#ifndef PB_DAEMON_REAPER_H
#define PB_DAEMON_REAPER_H
/* The reaper: a small child forked before the daemon starts any thread,
 * that outlives a daemon killed with SIGKILL and removes what it left: the
 * memory cgroups of its browsers (killing whatever still runs in them) and
 * their profile dirs. It waits on a pipe whose only write end the daemon
 * holds; end of file means the daemon is gone. An orderly exit tells it so
 * first ("q"), and it leaves at once. It is in a session of its own and
 * ignores SIGINT/SIGTERM/SIGHUP, so a signal to the daemon's process group
 * or terminal does not take it along. */

/* Forks the reaper. Call before any thread exists. Returns the write end
 * (O_CLOEXEC) to keep open until exit, or -1 (the daemon runs without one;
 * the next start sweeps instead). */
int pb_reaper_start(void);

/* The daemon is exiting in order and cleaned up itself. */
void pb_reaper_dismiss(int fd);

#endif
