#ifndef PB_OPS_TESTRUN_INT_H
#define PB_OPS_TESTRUN_INT_H
/* Internals of the test-script runner (POST /browser/test), shared by its
 * files: testrun.c (the runner: page events, the page-side helper, retries,
 * the report), teststeps.c (one function per action), testinput.c
 * (keyboard and mouse) and testjunit.c (JUnit XML). Job thread only. */
#include "common/pb.h"
#include "ops/nav.h"
#include "ops/ops.h"
#include "ops/testscript.h"

#include <cjson/cJSON.h>
#include <stdint.h>

/* Between two tries of a step that waits for the page. */
#define PB__TR_RETRY_MS 100

/* Lifecycle events seen for the main frame's current document. */
enum {
  PB__TR_LC_DCL = 1,
  PB__TR_LC_LOAD = 2,
  PB__TR_LC_NET_ALMOST_IDLE = 4,
  PB__TR_LC_NET_IDLE = 8
};

/* One run of a script. */
typedef struct {
  pb_job *job;
  pb_nav *nav;
  pb_page *page;
  int64_t end;        /* the script's deadline, before the reserve */
  cJSON *console;     /* [{type, text}] */
  cJSON *page_errors; /* [text] */
  cJSON *screenshots; /* {name: base64} */
  char loader[64];    /* main frame's current document */
  unsigned lifecycle; /* PB__TR_LC_* seen for it */
} pb__tr_run;

/* One step being run. */
typedef struct {
  const cJSON *step;
  const char *action;
  int64_t deadline;
  int timeout_ms;
  cJSON *value; /* recorded on the step, owned */
  char error[1024];
} pb__tr_step;

/* ---- testrun.c ---------------------------------------------------------- */

/* Writes the step's error. Returns -1. */
int pb__tr_fail(pb__tr_step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Takes the page's events until `until` (or none are left when until is in
 * the past). Also the runner's sleep. 0, PB_ECANCELED or a CDP error. */
int pb__tr_pump(pb__tr_run *t, int64_t until);

/* A CDP call on the page until deadline (pb_nav_call_until). */
int pb__tr_call(pb__tr_run *t, const char *method, cJSON *params, int64_t deadline, cJSON **result,
                char *err, size_t errcap);

/* Calls the page-side helper once: (sel, op, opts) => {ok, reason?, ...}.
 * Takes opts; sel may be NULL. */
int pb__tr_helper(pb__tr_run *t, const pb_selector *sel, const char *op, cJSON *opts,
                  int64_t deadline, cJSON **out, char *err, size_t errcap);

/* Retries the helper until it answers ok:true or the step's deadline. On
 * success *out (may be NULL) gets the answer. Failures leave the last
 * reason in s->error, prefixed with what. opts is borrowed. */
int pb__tr_until_ok(pb__tr_run *t, pb__tr_step *s, const pb_selector *sel, const char *op,
                    const cJSON *opts, const char *what, cJSON **out);

/* ---- testinput.c -------------------------------------------------------- */

/* One Input.dispatchMouseEvent; button NULL for a move. 0 or -1 (s->error). */
int pb__tr_mouse(pb__tr_run *t, pb__tr_step *s, const char *type, double x, double y,
                 const char *button, int count);
/* Presses a chord (keys as pb_key_parse gave them). 0 or -1. */
int pb__tr_press_keys(pb__tr_run *t, pb__tr_step *s, pb_key *keys, int n);
/* Input.insertText. 0 or -1. */
int pb__tr_insert_text(pb__tr_run *t, pb__tr_step *s, const char *text);
/* Types text key by key, delay ms apart. 0 or -1. */
int pb__tr_type_text(pb__tr_run *t, pb__tr_step *s, const char *text, int delay);

/* ---- teststeps.c -------------------------------------------------------- */

/* Runs one step (s->step, s->action) until s->deadline. 0, or -1 with the
 * reason in s->error. */
int pb__tr_run_step(pb__tr_run *t, pb__tr_step *s);

#endif
