#ifndef PB_TRACE_INTERNAL_H
#define PB_TRACE_INTERNAL_H
/* Shared internals of the trace module (src/trace only): the recorded
 * messages (record.c), the writer state that turns them into the zip
 * (playwright.c, with har.c and zip.c), and the redaction (redact.c). */
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/pb.h"
#include "trace/trace.h"

#define PAGE_ID_MAX 32

/* ---- what is recorded (record.c); written under pb_trace.mu ---- */

enum { REC_CDP, REC_BEGIN, REC_END, REC_FRAME };

typedef struct {
  int kind;
  int dir; /* REC_CDP */
  int id;  /* REC_BEGIN, REC_END */
  int64_t ts;
  char *s; /* CDP JSON, api name, error text (may be NULL for REC_END) or JPEG */
  size_t len;
  char *params; /* REC_BEGIN: params as JSON, or NULL; REC_FRAME: the page */
  int w, h;     /* REC_FRAME: the viewport */
} pb__trace_rec;

struct pb_trace {
  pthread_mutex_t mu;
  size_t cap, used;
  size_t frames_used; /* of used, by REC_FRAME: at most cap / 2 */
  int cut;
  int64_t cut_ts;
  pb__trace_rec *recs;
  size_t nrecs, arecs;
  int next_id;
  char *title, *user_agent, *browser_version;
  int vw, vh;
};

/* ---- the writer's state, alive for one pb_trace_write_zip ---- */

/* One file of the zip; data is malloc'd and owned until pb__trace_zip. */
typedef struct {
  char *name;
  unsigned char *data;
  size_t len;
  int store; /* already compressed (JPEG): no deflate */
} pb__zfile;

typedef struct {
  char *session;
  char id[PAGE_ID_MAX];
} pb__trace_page;

typedef struct {
  char *session, *request_id;
  char page_id[PAGE_ID_MAX];
  int64_t mono;       /* record time of requestWillBeSent, ms */
  double wall;        /* CDP wallTime, s */
  double start;       /* CDP timestamp, s */
  double end;         /* loadingFinished/Failed timestamp, s; 0 if none */
  double encoded_len; /* -1 if unknown */
  cJSON *request;     /* owned copies (redacted) */
  cJSON *response;
  char *frame_id;
  char *failure;
  int canceled;
  char body_sha1[41];
  size_t body_len;
  int has_body;
} pb__trace_netreq;

typedef struct {
  char *session;
  int id;
  char *request_id;
} pb__trace_pending;

typedef struct {
  pb_trace *t;
  pb_buf trace, network, cdp, chrome;
  int chrome_events;
  pb__zfile *files;
  size_t nfiles, afiles;
  pb__trace_page *pages;
  size_t npages, apages;
  pb__trace_netreq *reqs;
  size_t nreqs, areqs;
  pb__trace_pending *pend;
  size_t npend, apend;
  int64_t t0;
} pb__trace_writer;

/* A copy of len bytes at s, NUL-terminated; NULL when out of memory. */
static inline char *pb__trace_memdup0(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (!d) return NULL;
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

/* Appends ev as one JSON line to b; takes ownership of ev (NULL: PB_ENOMEM). */
int pb__trace_emit(pb_buf *b, cJSON *ev);

/* ---- redaction (redact.c) ---- */

/* Replaces secrets (Authorization, Cookie, Set-Cookie, Proxy-Authorization
 * headers in maps, entry arrays and raw header text; cookie values) anywhere
 * in node, in place. */
void pb__trace_redact_tree(cJSON *node);
/* The same for one CDP message, plus Network.setCookie's flat params. */
void pb__trace_redact_message(cJSON *msg);
/* Replaces long strings (bodies, images, trace chunks) by their size. */
void pb__trace_elide_tree(cJSON *node);
/* The same for one CDP message; Tracing.dataCollected keeps an event count. */
void pb__trace_elide_message(cJSON *msg);

/* ---- HAR (har.c) ---- */

/* Writes w's requests as HAR 1.2 (*har malloc'd, caller frees) and as
 * resource-snapshot lines into w->network. */
int pb__trace_write_har(pb__trace_writer *w, char **har, size_t *har_len);

/* ---- zip (zip.c) ---- */

/* Zips the nfiles files into memory (*zip malloc'd, caller frees). A file
 * whose data was handed to libzip has its data set to NULL; the caller still
 * frees the names and whatever data is left, whatever the result. */
int pb__trace_zip(pb__zfile *files, size_t nfiles, char **zip, size_t *len);

#endif
