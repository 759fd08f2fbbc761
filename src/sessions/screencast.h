#ifndef PB_SESSIONS_SCREENCAST_H
#define PB_SESSIONS_SCREENCAST_H
/* The frame source of an acquired session: the service's own CDP sessions
 * in the session's browser, next to the agent's, that watch the tab the
 * agent works on (Page.startScreencast while anyone watches) and carry a
 * person's input to it.
 *
 * Which tab: the one the agent last created, activated, brought to front
 * or navigated (pb_proxy_set_focus), or a viewer switched to; a page opened
 * by that tab (a popup) too. When it closes, the page focused before it
 * that is still open, else any open page.
 *
 * Unseen by the agent: every session of the service hangs off a root
 * session of its own (Target.attachToBrowserTarget, made when the session
 * is acquired, before any client connects), and the proxy hides that root
 * and each session made from it (pb_proxy_hide_session). Its discovery and
 * attaches are the root's, never the client's; nothing is emulated.
 *
 * Threads: one worker per session, started at pb_screencast_new, makes
 * every CDP call; frames are delivered on the browser's CDP reader thread.
 * The input functions only queue: any thread, the I/O thread too. */
#include "cdp/cdp.h"
#include "cdp/policy.h"
#include "cdp/proxy.h"
#include "sessions/session.h"

#include <stddef.h>
#include <stdint.h>

typedef struct pb_screencast pb_screencast;
typedef struct pb_screencast_sub pb_screencast_sub;

/* One frame, borrowed for the callback. width and height are the
 * viewport's CSS pixels (input coordinates are in them); the JPEG may be
 * smaller. */
typedef struct {
  const unsigned char *jpeg;
  size_t len;
  int64_t wall_ms;
  int width, height;
  double device_scale;
  const char *url;       /* the page's URL as last seen */
  const char *target_id; /* the tab */
  unsigned tabs_version; /* changes when the tab list does */
} pb_screencast_frame;

/* Runs on the CDP reader thread with the connection's lock held: it must
 * copy what it keeps and return; never block or call into CDP. A slow
 * subscriber keeps the newest frame and drops the rest. */
typedef void (*pb_screencast_cb)(const pb_screencast_frame *f, void *data);

/* Largest frame delivered; bigger ones are dropped. */
#define PB_SCREENCAST_FRAME_MAX ((size_t)8 << 20)

/* Makes the root session on c and starts the worker and the discovery of
 * targets; proxy (borrowed, outlives it) hides the service's sessions and
 * tells which page the client works on; url_check judges URLs a viewer
 * opens. PB_ECDP/PB_ETIMEOUT when the browser did not answer. */
int pb_screencast_new(pb_cdp *c, pb_proxy *proxy, pb_policy_url_check url_check, void *check_data,
                      int64_t deadline_ms, pb_screencast **out);
/* Stops the cast and the worker and leaves the browser's sessions; before
 * the proxy and the CDP connection go. Subscribers get no more frames.
 * NULL is a no-op. */
void pb_screencast_stop(pb_screencast *sc);
/* Frees after pb_screencast_stop. NULL is a no-op. */
void pb_screencast_free(pb_screencast *sc);

/* The session's frame source (session.c); NULL when it has none. */
pb_screencast *pb_session_screencast(pb_session *s);

/* Adds a subscriber of s's frames: the cast runs while there is one. The
 * handle holds a reference to s. PB_ENOTFOUND when the session has no
 * frame source or it stopped; PB_EBUSY past 64 subscribers. */
int pb_screencast_subscribe(pb_session *s, pb_screencast_cb cb, void *data,
                            pb_screencast_sub **out);
/* After it returns the callback runs no more. NULL is a no-op. */
void pb_screencast_unsubscribe(pb_screencast_sub *h);

/* The open tabs as a JSON array text [{"targetId","url","title","active"}]
 * (caller frees), and its version. NULL on failure. */
char *pb_screencast_tabs(pb_session *s, unsigned *version);

/* ---- input from a person (queued for the worker) ---- */

typedef enum {
  PB_SC_MOUSE = 1, /* Input.dispatchMouseEvent */
  PB_SC_KEY,       /* Input.dispatchKeyEvent */
  PB_SC_TEXT,      /* Input.insertText (typed, pasted, IME) */
  PB_SC_ACTIVATE,  /* switch to tab str (Target.activateTarget) */
  PB_SC_CLOSE,     /* close tab str (Target.closeTarget) */
  PB_SC_NEW,       /* a new tab at URL str ("" about:blank) */
  PB_SC_NAVIGATE,  /* the active tab to URL str (Page.navigate) */
  PB_SC_RELOAD,    /* Page.reload */
  PB_SC_BACK,      /* history.back() */
  PB_SC_FORWARD,
} pb_sc_kind;

#define PB_SC_TEXT_MAX 4096

/* Checked values only: the HTTP layer reads the viewer's message into
 * this, and only these fields reach the browser. */
typedef struct {
  pb_sc_kind kind;
  char type[20];   /* mouse: mousePressed|mouseReleased|mouseMoved|mouseWheel;
                      key: keyDown|keyUp|rawKeyDown|char */
  double x, y;     /* CSS px in the viewport */
  double dx, dy;   /* wheel */
  char button[8];  /* none|left|middle|right|back|forward */
  int buttons;     /* bit field of held buttons */
  int click_count; /* 0..3 */
  int modifiers;   /* Alt=1 Ctrl=2 Meta=4 Shift=8 */
  char key[32], code[32];
  char key_text[16]; /* the key's text ("" none) */
  int key_code;      /* windowsVirtualKeyCode */
  int location;
  int auto_repeat;
  char str[PB_SC_TEXT_MAX]; /* text, URL or targetId */
} pb_sc_input;

/* Queues in for the active tab. 0; PB_EINVAL with why (a URL the policy
 * refuses, a tab not the session's); PB_EBUSY when too much waits already
 * (the viewer sends faster than the browser takes); PB_ENOTFOUND once
 * stopped. */
int pb_screencast_input(pb_session *s, const pb_sc_input *in, char *why, size_t cap);

#endif
