#ifndef PB_TEST_FAKECHROME_H
#define PB_TEST_FAKECHROME_H
/* A scripted stand-in for Chromium on the other end of
 * --remote-debugging-pipe: NUL-delimited JSON commands in, replies and events
 * out, enough of the protocol for the pool and sessions (browser contexts,
 * page targets, flat sessions, navigation with lifecycle events,
 * Runtime.evaluate, Browser.close).
 *
 * Two ways to run it:
 * - in a thread of the test (fc_start), on a pair of pipes the test hands
 *   to pb_cdp_open;
 * - as the executable `fakechrome` that pb_browser_launch starts instead of
 *   Chromium (pb_browser_opts.executable). It serves fds 3 and 4 as Chromium
 *   does, ignores Chromium's flags and takes its script from its own:
 *     --fake-dir=DIR            record every command to DIR/<pid>.log, one
 *                               per line, and exit reasons to DIR/<pid>.exit
 *     --fake-hang-on=M          after the first M, answer nothing more
 *     --fake-fail=M             answer every M with a CDP error
 *     --fake-exit-on=M[:N]      exit at once (code 3, no reply) on the Nth M
 *     --fake-crash-target-on=M  answer M, then report its session's target
 *                               crashed (Inspector.targetCrashed)
 *   Crashes and hangs at a moment the test picks are signals: SIGKILL,
 *   SIGSTOP. */
#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct fc_peer fc_peer;

/* A test's own methods, tried before the built-in ones. Returns 0 when it
 * did not handle msg, 1 when it did (it answers with fc_send/fc_reply or not
 * at all), 2 to stop serving as if the pipe had closed. Runs on the serving
 * thread. */
typedef int (*fc_handler)(fc_peer *p, const cJSON *msg, void *data);

typedef struct {
  const char *record_path;     /* append each command here, one per line; NULL: none */
  const char *hang_on;         /* NULL: never */
  const char *fail;            /* NULL: none */
  const char *exit_on;         /* NULL: never */
  int exit_on_nth;             /* 0 or 1: the first */
  const char *crash_target_on; /* NULL: never */
  fc_handler handler;          /* may be NULL */
  void *handler_data;
} fc_script;

/* Why fc_serve returned. */
enum { FC_EOF, FC_CLOSED, FC_EXIT_CUE, FC_STOPPED };

/* Serves commands from rfd, writing to wfd, until the other end closes
 * (FC_EOF), Browser.close was answered (FC_CLOSED), the exit cue came
 * (FC_EXIT_CUE) or the handler said stop (FC_STOPPED). Closes neither fd. */
int fc_serve(int rfd, int wfd, const fc_script *s);

/* Writes one message (a NUL is added). Returns 0, or -1 when the pipe is
 * gone. */
int fc_send(fc_peer *p, const char *json);
/* Writes {"id":id,"result":result[,"sessionId":sid]}; result is JSON text
 * (NULL: {}); sid may be NULL or "". */
int fc_reply(fc_peer *p, int id, const char *sid, const char *result);
/* The write end, for a handler that frames bytes itself. */
int fc_wfd(fc_peer *p);

/* ---- what a fakechrome process received (its --fake-dir) ---- */

/* The nth (0: first) command named method that the fakechrome process pid
 * recorded in dir, parsed; the caller frees it with cJSON_Delete. NULL when
 * there is none (yet). */
cJSON *fc_recorded(const char *dir, int pid, const char *method, int nth);
/* How many commands named method it recorded (method NULL: all). */
int fc_recorded_count(const char *dir, int pid, const char *method);

/* ---- in a thread ---- */

typedef struct fc_thread fc_thread;

/* Makes two pipes and serves one end in a new thread; *to_browser and
 * *from_browser are the test's ends (for pb_cdp_open, which takes them).
 * The script is borrowed until fc_join returns. */
int fc_start(const fc_script *s, int *to_browser, int *from_browser, fc_thread **out);
/* Waits for the thread (it ends when the test's end of the pipe closes or
 * on a cue, closing its own ends then) and frees it; returns fc_serve's
 * result. */
int fc_join(fc_thread *t);

#endif
