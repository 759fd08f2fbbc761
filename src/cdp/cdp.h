#ifndef PB_CDP_H
#define PB_CDP_H
/* A Chrome DevTools Protocol connection over Chromium's --remote-debugging-pipe
 * (NUL-delimited JSON on two file descriptors), with flat sessions.
 *
 * Threads: a connection owns one reader thread that parses every message,
 * hands replies to the caller waiting in pb_cdp_call() and queues events for
 * subscribers. Any thread may call, send and subscribe. Knows nothing of HTTP. */
#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stddef.h>

typedef struct pb_cdp pb_cdp;
typedef struct pb_cdp_sub pb_cdp_sub;

/* Largest CDP message, in both directions: a client frame over it is refused
 * (the WebSocket closes with 1009), and a message from Chromium over it is
 * read past and dropped without being held whole; if it was a reply, its
 * caller (pb_cdp_call, or the proxy's client) gets a CDP error for that id
 * instead, and the browser stays alive. */
#define PB_CDP_MESSAGE_MAX ((size_t)64 << 20)

/* Called on the reader thread for every event before it is queued. It must
 * not block; it may call pb_cdp_send(). Return 1 to consume the event (not
 * queued), 0 to let it through. session_id is "" for browser-level events. */
typedef int (*pb_cdp_hook)(pb_cdp *c, const char *session_id, const char *method,
                           const cJSON *params, void *data);

/* Called on the reader thread with every raw message (reply or event) before
 * it is dispatched; for tracing and proxying. Borrowed for the call. */
typedef void (*pb_cdp_tap)(pb_cdp *c, const char *json, size_t len, void *data);

/* Called with every message of one session (or of all, for "*"), in both
 * directions: dir 0 = to the browser, 1 = from it. Runs on the sending
 * thread or the reader thread; must not block or call back into pb_cdp. */
typedef void (*pb_cdp_recorder)(int dir, const char *json, size_t len, void *data);

/* Adds a recorder for session_id ("*" for every message). At most 16 per
 * connection: PB_EBUSY beyond. */
int pb_cdp_record(pb_cdp *c, const char *session_id, pb_cdp_recorder fn, void *data);
/* Removes it; waits for a running call to return, so data may be freed. */
void pb_cdp_unrecord(pb_cdp *c, pb_cdp_recorder fn, void *data);

/* Takes ownership of both descriptors (closed by pb_cdp_close). The hook may
 * be NULL. Starts the reader thread. */
int pb_cdp_open(int write_fd, int read_fd, pb_cdp_hook hook, void *hook_data, pb_cdp **out);

/* Sets (or clears with NULL) the raw-message tap. Waits for a running tap
 * call to return, so after clearing, the old tap data may be freed. */
void pb_cdp_set_tap(pb_cdp *c, pb_cdp_tap tap, void *data);

/* Sends a command and waits for its reply until deadline_ms (pb_now_ms()
 * clock). Takes ownership of params (may be NULL). On success *result (if
 * result is not NULL) is the reply's "result" object, owned by the caller.
 * Errors: PB_ETIMEOUT, PB_ECRASHED (browser gone), PB_ETARGET (the session's
 * target crashed or detached), PB_ECDP (CDP error: its message is written to
 * err when err is not NULL). */
int pb_cdp_call(pb_cdp *c, const char *session_id, const char *method, cJSON *params,
                int64_t deadline_ms, cJSON **result, char *err, size_t errcap);

/* pb_cdp_call that also gives up with PB_ECANCELED soon (within ~100 ms)
 * after *cancel becomes non-zero. cancel may be NULL. */
int pb_cdp_call_cancelable(pb_cdp *c, const char *session_id, const char *method, cJSON *params,
                           int64_t deadline_ms, const atomic_int *cancel, cJSON **result,
                           char *err, size_t errcap);

/* 1 once the session's target crashed or detached. */
int pb_cdp_session_is_dead(pb_cdp *c, const char *session_id);

/* Sends a command without waiting; its reply is dropped. Takes ownership of
 * params. */
int pb_cdp_send(pb_cdp *c, const char *session_id, const char *method, cJSON *params);

/* Sends a raw message (already JSON, with "id" chosen by the caller from the
 * range above PB_CDP_RAW_ID_BASE); its reply goes only to the tap. */
#define PB_CDP_RAW_ID_BASE 1000000000
int pb_cdp_send_raw(pb_cdp *c, const char *json, size_t len);

/* An event delivered to a subscriber. */
typedef struct pb_cdp_event {
  char *method;
  cJSON *params; /* owned by the event; may be an empty object */
  struct pb_cdp_event *next;
} pb_cdp_event;
void pb_cdp_event_free(pb_cdp_event *ev);

/* Queues events of one session ("" for the browser) for the caller. At most
 * one subscriber per session id. */
int pb_cdp_subscribe(pb_cdp *c, const char *session_id, pb_cdp_sub **out);
/* Installs a hook run on the reader thread for this session's events before
 * they are queued (return 1 to consume). It runs under the connection's lock:
 * it may only call pb_cdp_send()/pb_cdp_send_raw(), never pb_cdp_call().
 * NULL clears it. */
void pb_cdp_sub_set_hook(pb_cdp_sub *s, pb_cdp_hook hook, void *data);

/* Waits for the next event until deadline_ms. PB_ETIMEOUT, PB_ECRASHED,
 * PB_ETARGET. The caller frees *ev. */
int pb_cdp_next_event(pb_cdp_sub *s, int64_t deadline_ms, pb_cdp_event **ev);
/* Drops queued events. NULL is a no-op. */
void pb_cdp_unsubscribe(pb_cdp_sub *s);

/* Marks a session dead: pending and future calls on it fail with PB_ETARGET.
 * Used by hooks that see Inspector.targetCrashed. */
void pb_cdp_session_dead(pb_cdp *c, const char *session_id);

/* 1 while the pipe is open and the reader has not seen EOF. */
int pb_cdp_alive(pb_cdp *c);

/* Waits until the reader sees EOF or deadline; returns 1 if it did. */
int pb_cdp_wait_closed(pb_cdp *c, int64_t deadline_ms);

/* Closes the descriptors, joins the reader and frees. The caller makes sure
 * the peer has exited (or will on EOF) so the reader sees EOF; no call may be
 * pending. NULL is a no-op. */
void pb_cdp_close(pb_cdp *c);

#endif
