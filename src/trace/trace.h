#ifndef PB_TRACE_H
#define PB_TRACE_H
/* A trace of one job or session: the CDP messages that crossed the pipe and
 * the actions the service (or the client) performed, written as a zip that
 * opens in Playwright's trace viewer (trace.trace, trace.network,
 * resources/), in DevTools/Perfetto (chrome-trace.json), in HAR tools
 * (network.har), plus cdp.jsonl. Pure: no CDP calls, no sockets; recording is
 * thread-safe. Secrets (Authorization, Cookie, Set-Cookie, Proxy-Authorization
 * headers, cookie values) are redacted in everything written. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pb_trace pb_trace;

/* The cap a job's trace records up to (pb_trace_new's cap_bytes). */
#define PB_TRACE_CAP_BYTES ((size_t)64 << 20)

/* cap_bytes bounds what is kept; past it recording stops and the zip says it
 * was cut (a note in trace.trace and a NOTE.txt). */
int pb_trace_new(size_t cap_bytes, pb_trace **out);
void pb_trace_free(pb_trace *t);

enum { PB_TRACE_TO_BROWSER = 0, PB_TRACE_FROM_BROWSER = 1 };

/* Records one raw CDP message (copied). ts_ms: wall clock ms. */
void pb_trace_cdp(pb_trace *t, int direction, int64_t ts_ms, const char *json, size_t len);

/* Context facts for the viewer's header. Strings are copied; any may be NULL. */
void pb_trace_meta(pb_trace *t, const char *title, int viewport_w, int viewport_h,
                   const char *user_agent, const char *browser_version);

/* An action, shown in the viewer's action list: api like "page.goto",
 * "page.screenshot", "locator.click"; params (borrowed, may be NULL) are shown
 * with it. Returns an id for pb_trace_action_end, or 0 when not recorded. */
int pb_trace_action_begin(pb_trace *t, const char *api, const cJSON *params, int64_t ts_ms);
/* error is NULL when the action succeeded. */
void pb_trace_action_end(pb_trace *t, int id, int64_t ts_ms, const char *error);

/* A frame of the page as a person saw it (jpeg: len bytes, copied), for the
 * viewer's filmstrip: a screencast-frame of page (the tab's targetId; a page
 * of the trace each) with width x height its CSS viewport. Frames take at
 * most half the cap: past that they are dropped and recording goes on. */
void pb_trace_frame(pb_trace *t, int64_t ts_ms, const unsigned char *jpeg, size_t len, int width,
                    int height, const char *page);

/* 1 once the cap was reached and recording stopped, else 0. */
int pb_trace_truncated(pb_trace *t);

/* Writes the zip (libzip) into memory; *zip is malloc'd, caller frees.
 * May be called more than once; recording may continue afterwards. */
int pb_trace_write_zip(pb_trace *t, char **zip, size_t *len);

/* One file of a zip made by pb_zip_files: name and data malloc'd. */
typedef struct {
  char *name;
  unsigned char *data;
  size_t len;
  int store; /* already compressed (JPEG): stored as is, else deflated */
} pb_zip_file;

/* The trace's zip writer for other archives (a session's recording): the n
 * files into memory (*zip malloc'd, caller frees). Takes ownership of every
 * name and data, freed whatever the result. PB_ENOMEM; PB_EIO. */
int pb_zip_files(pb_zip_file *files, size_t n, char **zip, size_t *len);

#endif
