#ifndef PB_CDP_PROXY_H
#define PB_CDP_PROXY_H
/* The tenant-facing CDP proxy of one acquired session: client commands are
 * checked against the policy, given ids of their own and written to the
 * browser's pipe; replies get the client's ids back and, with events, wait in
 * a bounded queue for the client's socket. Knows nothing of WebSockets: the
 * caller moves complete messages in and out. */
#include "cdp/cdp.h"
#include "cdp/policy.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pb_proxy pb_proxy;

/* Outbound bytes queued for a slow client before the browser's reader waits
 * (back-pressure instead of unbounded buffering). One message may go past it
 * when the queue is empty, so a session holds at most PB_PROXY_QUEUE_MAX +
 * PB_CDP_MESSAGE_MAX here (80 MiB); README "Memory budget" adds the rest. */
#define PB_PROXY_QUEUE_MAX ((size_t)16 << 20)

/* Called (from any thread) when output is queued or the browser died, so the
 * I/O thread can look at the proxy. */
typedef void (*pb_proxy_wake)(void *data);

/* Taps c, which must stay open until pb_proxy_free(). url_check (may be
 * NULL) validates navigation targets. */
int pb_proxy_new(pb_cdp *c, pb_policy_url_check url_check, void *check_data, pb_proxy_wake wake,
                 void *wake_data, pb_proxy **out);

/* Caps for the session: live pages the client may have (Target.createTarget
 * beyond it is answered with an error, and pages its pages open beyond it
 * are closed; 0: PB_PROXY_MAX_PAGES), and where downloads go (NULL: they are
 * denied) and how big one may get (0: 50 MiB) before it is cancelled. dir is
 * copied. The browser's default context, and every context a client creates,
 * is set to download there at once. Call before the first client attaches. */
#define PB_PROXY_MAX_PAGES 100
void pb_proxy_set_limits(pb_proxy *p, int max_pages, const char *download_dir,
                         int64_t download_max_bytes);

/* The session's upload area: DOM.setFileInputFiles and the files of
 * Input.dispatchDragEvent may then name files inside dir (copied; NULL or
 * "": refused, the default). The policy checks paths lexically; check (may
 * be NULL) is then asked about each path (0: it is one of the area's own
 * files) and data passed to it. Call before the first client attaches. */
void pb_proxy_set_upload_dir(pb_proxy *p, const char *dir, pb_policy_file_check check,
                             void *data);

/* ---- downloads of the session, seen on the browser's events ---- */

/* Downloads a session lists; more are cancelled as they begin. */
#define PB_PROXY_DOWNLOADS_MAX 32

typedef enum {
  PB_DOWNLOAD_IN_PROGRESS = 0,
  PB_DOWNLOAD_COMPLETED,
  PB_DOWNLOAD_CANCELED,
} pb_download_state;

typedef struct {
  char guid[64];    /* Chromium's: the file's name in the download dir */
  char name[256];   /* suggestedFilename, truncated */
  char url[2048];   /* truncated */
  int64_t total;    /* announced; 0: unknown */
  int64_t received; /* so far */
  pb_download_state state;
  int over_cap; /* cancelled by the service: over the size cap or the count */
  int64_t began_wall_ms;
} pb_download;

/* "inProgress", "completed" or "canceled". */
const char *pb_download_state_text(pb_download_state st);

/* A copy of the session's downloads, oldest first (*out malloc'd, caller
 * frees; NULL when none). Any thread. */
int pb_proxy_downloads(pb_proxy *p, pb_download **out, size_t *n);

/* The download dir given to pb_proxy_set_limits ("" when none); borrowed
 * for the proxy's life. */
const char *pb_proxy_download_dir(pb_proxy *p);

/* Names the session in the refusal log lines: account (name, or "" if
 * unknown) and the service's session id. Both copied. Call before the first
 * client attaches. */
void pb_proxy_set_identity(pb_proxy *p, const char *account, const char *session_id);

/* Starts a client connection: output from now on is queued for it. */
void pb_proxy_client_attach(pb_proxy *p);
/* The client went away: its queued output and outstanding ids are dropped. */
void pb_proxy_client_detach(pb_proxy *p);

/* One complete message from the client (the proxy's own thread, see
 * pb_proxy_submit; one caller at a time). It is read by
 * pb_cdp_policy_frame (strict JSON, the method table) and what reaches the
 * browser is the canonical command printed anew. Returns PB_POLICY_ALLOW
 * (sent on), PB_POLICY_DENY (an error reply is queued for the client and a
 * rate-limited JSON log line written) or PB_POLICY_CLOSE (Browser.close: a
 * success reply is queued; the caller ends the session). */
int pb_proxy_from_client(pb_proxy *p, const char *json, size_t len);

/* Client messages waiting for the proxy's own thread, in bytes, past which
 * the caller stops reading the client until pb_proxy_inbound says so. */
#define PB_PROXY_INBOUND_MAX ((size_t)1 << 20)

/* Hands one complete client message (a malloc'd buffer the proxy now owns)
 * to the proxy's own thread, which gives it to pb_proxy_from_client, in
 * order. Reading, checking and printing a message of up to 64 MiB takes the
 * best part of a second: never on the I/O thread every tenant shares. Any
 * thread. Returns the bytes of client messages not handled yet (64 more
 * for each), this one included; the wake callback runs when they fall to PB_PROXY_INBOUND_MAX
 * or below, and after a Browser.close. */
size_t pb_proxy_submit(pb_proxy *p, char *data, size_t len);
/* Bytes of client messages not handled yet (any thread). */
size_t pb_proxy_inbound(pb_proxy *p);
/* 1 once after the proxy's thread answered a Browser.close: the caller ends
 * the session. */
int pb_proxy_take_close(pb_proxy *p);

/* The next message for the client (caller frees with free()), or NULL. */
char *pb_proxy_next_out(pb_proxy *p, size_t *len);

/* 1 while output waits for the client, or answers to its commands are
 * still to come from the browser. */
int pb_proxy_has_output(pb_proxy *p);

/* pb_now_ms() of the last message in either direction. */
int64_t pb_proxy_last_activity(pb_proxy *p);

/* Commands refused so far (whatever the log's rate limit let through), and
 * the reply to the last one copied into last (cap bytes; "" if none). Any
 * thread; NULL p gives 0. */
int64_t pb_proxy_refusals(pb_proxy *p, char *last, size_t cap);

/* ---- the service's own sessions next to the client (the live view) ---- */

/* Flat sessions of the service that share the pipe: their events (the
 * top-level sessionId is one of them) never reach the client, nor are they
 * counted as its sessions. Sessions opened from one of them announce
 * themselves on it, so a hidden root keeps every attach of the service out
 * of the client's sight. Any thread. At most PB_PROXY_HIDDEN_MAX: the
 * oldest is forgotten first. */
#define PB_PROXY_HIDDEN_MAX 16
void pb_proxy_hide_session(pb_proxy *p, const char *sid);
void pb_proxy_unhide_session(pb_proxy *p, const char *sid);

/* Told the page (targetId, borrowed for the call) the client works on:
 * the one it activated (Target.activateTarget), brought to front or
 * navigated (Page.bringToFront, Page.navigate in a session attached to
 * it), or created (Target.createTarget's answer). Runs on the proxy's
 * thread or the reader thread, without the proxy's lock; must not block.
 * NULL clears it. */
typedef void (*pb_proxy_focus)(void *data, const char *target_id);
void pb_proxy_set_focus(pb_proxy *p, pb_proxy_focus fn, void *data);

/* Stops tapping, drops everything queued and frees. NULL is a no-op. */
void pb_proxy_free(pb_proxy *p);

#endif
