/* The CDP pipe client against a scripted peer (fakechrome in a thread, with
 * methods of this test's own) on the other end of two pipes:
 * framing, replies matched by id, errors, events per session, hooks,
 * timeouts, a target that crashes and a browser that dies. */
#include "cdp/cdp.h"
#include "common/pb.h"
#include "fakechrome.h"
#include "test.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The test's own methods on top of fakechrome (which frames and reads the
 * commands): "Echo" → result {echo: params}, "Fail" → error, "Silent" →
 * nothing, "Split" → reply in two writes with an event in front, "Huge" and
 * "ManyValues" → messages past the client's caps, "Crash" →
 * Inspector.targetCrashed for the session, "Dialog" → a dialog the hook
 * answers, "Die" → the browser goes. */
static void raw_write(fc_peer *p, const void *data, size_t len) {
  ASSERT(write(fc_wfd(p), data, len) == (ssize_t)len);
}

static int peer_methods(fc_peer *p, const cJSON *m, void *data) {
  (void)data;
  char out[70000];
  int id = cJSON_GetObjectItem(m, "id")->valueint;
  const char *method = cJSON_GetObjectItem(m, "method")->valuestring;
  cJSON *sid = cJSON_GetObjectItem(m, "sessionId");
  const char *s = sid ? sid->valuestring : "";
  int handled = 1;
  char *params = cJSON_PrintUnformatted(cJSON_GetObjectItem(m, "params"));
  if (!strcmp(method, "Echo")) {
    snprintf(out, sizeof(out), "{\"id\":%d,\"result\":{\"echo\":%s},\"sessionId\":\"%s\"}", id,
             params, s);
    ASSERT(fc_send(p, out) == 0);
  } else if (!strcmp(method, "Fail")) {
    snprintf(out, sizeof(out), "{\"id\":%d,\"error\":{\"code\":-32000,\"message\":\"No target\"}}",
             id);
    ASSERT(fc_send(p, out) == 0);
  } else if (!strcmp(method, "Silent")) {
    /* no answer */
  } else if (!strcmp(method, "Split")) {
    snprintf(out, sizeof(out),
             "{\"method\":\"Page.loadEventFired\",\"params\":{\"t\":1},\"sessionId\":\"%s\"}", s);
    ASSERT(fc_send(p, out) == 0);
    snprintf(out, sizeof(out), "{\"id\":%d,\"result\":{\"big\":\"", id);
    raw_write(p, out, strlen(out));
    memset(out, 'x', 60000);
    raw_write(p, out, 60000);
    raw_write(p, "\"}}", 4); /* includes the NUL */
  } else if (!strcmp(method, "Huge")) {
    /* A reply past the cap, with an event right behind it in the same
     * write, as a busy browser would send them. */
    snprintf(out, sizeof(out), "{\"id\":%d,\"result\":{\"big\":\"", id);
    raw_write(p, out, strlen(out));
    memset(out, 'x', 65536);
    for (size_t sent = 0; sent < PB_CDP_MESSAGE_MAX + 1000; sent += 65536) raw_write(p, out, 65536);
    snprintf(out, sizeof(out),
             "\"}}%c{\"method\":\"Test.after\",\"params\":{},\"sessionId\":\"%s\"}", 0, s);
    size_t l = 3 + 1 + strlen(out + 4);
    raw_write(p, out, l + 1);
  } else if (!strcmp(method, "ManyValues")) {
    /* An event of 2^20 + 1 small values, then an ordinary one. */
    snprintf(out, sizeof(out), "{\"method\":\"Test.many\",\"params\":{\"a\":[0");
    raw_write(p, out, strlen(out));
    for (int i = 0; i < 32; i++) out[2 * i] = ',', out[2 * i + 1] = '0';
    for (size_t n = 0; n < ((size_t)1 << 20); n += 32) raw_write(p, out, 64);
    snprintf(
        out, sizeof(out),
        "]},\"sessionId\":\"%s\"}%c{\"method\":\"Test.after\",\"params\":{},\"sessionId\":\"%s\"}",
        s, 0, s);
    size_t l1 = strlen(out) + 1;
    size_t l = l1 + strlen(out + l1) + 1;
    raw_write(p, out, l);
  } else if (!strcmp(method, "Crash")) {
    snprintf(out, sizeof(out),
             "{\"method\":\"Inspector.targetCrashed\",\"params\":{},\"sessionId\":\"%s\"}", s);
    ASSERT(fc_send(p, out) == 0);
  } else if (!strcmp(method, "Dialog")) {
    snprintf(out, sizeof(out),
             "{\"method\":\"Page.javascriptDialogOpening\",\"params\":{\"type\":\"alert\"},"
             "\"sessionId\":\"%s\"}",
             s);
    ASSERT(fc_send(p, out) == 0);
  } else if (!strcmp(method, "Page.handleJavaScriptDialog")) {
    /* The hook answered the dialog: reply to the original with an event. */
    snprintf(out, sizeof(out),
             "{\"method\":\"Test.dialogHandled\",\"params\":%s,\"sessionId\":\"%s\"}", params, s);
    ASSERT(fc_send(p, out) == 0);
  } else if (!strcmp(method, "Die")) {
    handled = 2;
  } else {
    handled = 0; /* fakechrome's own: Browser.getVersion, Target.*, ... */
  }
  free(params);
  return handled;
}

static pb_cdp *c;
static const fc_script script = {.handler = peer_methods};
static fc_thread *peer;
static int hook_calls;

static int hook(pb_cdp *conn, const char *sid, const char *method, const cJSON *params,
                void *data) {
  (void)params;
  ASSERT(data == &hook_calls);
  hook_calls++;
  if (!strcmp(method, "Page.javascriptDialogOpening")) {
    cJSON *p = cJSON_CreateObject();
    cJSON_AddBoolToObject(p, "accept", 0);
    pb_cdp_send(conn, sid, "Page.handleJavaScriptDialog", p);
    return 1; /* consumed */
  }
  return 0;
}

static void start(void) {
  int to_peer, from_peer;
  ASSERT_EQ(fc_start(&script, &to_peer, &from_peer, &peer), 0);
  ASSERT_EQ(pb_cdp_open(to_peer, from_peer, hook, &hook_calls, &c), 0);
}

static void test_call_and_reply(void) {
  cJSON *p = cJSON_CreateObject(), *res = NULL;
  cJSON_AddNumberToObject(p, "n", 42);
  ASSERT_EQ(pb_cdp_call(c, "S1", "Echo", p, pb_now_ms() + 2000, &res, NULL, 0), 0);
  ASSERT_EQ(cJSON_GetObjectItem(cJSON_GetObjectItem(res, "echo"), "n")->valueint, 42);
  cJSON_Delete(res);
}

static void test_error(void) {
  char err[128];
  ASSERT_EQ(pb_cdp_call(c, NULL, "Fail", NULL, pb_now_ms() + 2000, NULL, err, sizeof(err)),
            PB_ECDP);
  ASSERT_STR_EQ(err, "No target");
}

static void test_timeout(void) {
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_cdp_call(c, NULL, "Silent", NULL, t0 + 150, NULL, NULL, 0), PB_ETIMEOUT);
  int64_t took = pb_now_ms() - t0;
  ASSERT(took >= 140 && took < 1000);
}

static void test_events_and_big_reply(void) {
  pb_cdp_sub *sub;
  ASSERT_EQ(pb_cdp_subscribe(c, "S2", &sub), 0);
  pb_cdp_sub *dup;
  ASSERT_EQ(pb_cdp_subscribe(c, "S2", &dup), PB_EEXIST);
  cJSON *res = NULL;
  ASSERT_EQ(pb_cdp_call(c, "S2", "Split", NULL, pb_now_ms() + 2000, &res, NULL, 0), 0);
  ASSERT_EQ(strlen(cJSON_GetObjectItem(res, "big")->valuestring), 60000);
  cJSON_Delete(res);
  pb_cdp_event *ev;
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 1000, &ev), 0);
  ASSERT_STR_EQ(ev->method, "Page.loadEventFired");
  pb_cdp_event_free(ev);
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 50, &ev), PB_ETIMEOUT);
  /* Events of another session are not delivered here. */
  ASSERT_EQ(pb_cdp_call(c, "S3", "Split", NULL, pb_now_ms() + 2000, &res, NULL, 0), 0);
  cJSON_Delete(res);
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 50, &ev), PB_ETIMEOUT);
  pb_cdp_unsubscribe(sub);
}

/* Past PB_CDP_MESSAGE_MAX a reply is read past, not kept: its caller gets a
 * CDP error, the next message is read as usual and the browser lives on. */
static void test_oversized_reply(void) {
  pb_cdp_sub *sub = NULL;
  ASSERT_EQ(pb_cdp_subscribe(c, "S9", &sub), 0);
  char err[256];
  cJSON *result = NULL;
  int rc = pb_cdp_call(c, "S9", "Huge", NULL, pb_now_ms() + 30000, &result, err, sizeof(err));
  ASSERT_EQ(rc, PB_ECDP);
  ASSERT_CONTAINS(err, "larger than 64 MiB");
  pb_cdp_event *ev = NULL;
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 5000, &ev), 0);
  ASSERT_STR_EQ(ev->method, "Test.after");
  pb_cdp_event_free(ev);
  pb_cdp_unsubscribe(sub);
  ASSERT(pb_cdp_alive(c));
  ASSERT_EQ(
      pb_cdp_call(c, NULL, "Echo", cJSON_CreateObject(), pb_now_ms() + 5000, &result, NULL, 0), 0);
  cJSON_Delete(result);
}

/* An event of more values than the service ever parses goes to the tap
 * only; the next one arrives as usual. */
static int tapped_big;
static void big_tap(pb_cdp *conn, const char *json, size_t len, void *data) {
  (void)conn, (void)data;
  if (len > ((size_t)1 << 20) && strstr(json, "\"Test.many\"")) tapped_big = 1;
}

static void test_many_values_event(void) {
  pb_cdp_sub *sub = NULL;
  ASSERT_EQ(pb_cdp_subscribe(c, "S8", &sub), 0);
  pb_cdp_set_tap(c, big_tap, NULL);
  ASSERT_EQ(pb_cdp_send(c, "S8", "ManyValues", NULL), 0);
  pb_cdp_event *ev = NULL;
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 10000, &ev), 0);
  ASSERT_STR_EQ(ev->method, "Test.after");
  pb_cdp_event_free(ev);
  pb_cdp_set_tap(c, NULL, NULL);
  ASSERT(tapped_big);
  pb_cdp_unsubscribe(sub);
}

static void test_hook_answers_dialog(void) {
  pb_cdp_sub *sub;
  ASSERT_EQ(pb_cdp_subscribe(c, "S4", &sub), 0);
  int before = hook_calls;
  ASSERT_EQ(pb_cdp_send(c, "S4", "Dialog", NULL), 0);
  pb_cdp_event *ev;
  ASSERT_EQ(pb_cdp_next_event(sub, pb_now_ms() + 2000, &ev), 0);
  /* The dialog event was consumed by the hook, which answered it. */
  ASSERT_STR_EQ(ev->method, "Test.dialogHandled");
  ASSERT(cJSON_IsFalse(cJSON_GetObjectItem(ev->params, "accept")));
  ASSERT(hook_calls > before);
  pb_cdp_event_free(ev);
  pb_cdp_unsubscribe(sub);
}

static void test_target_crash(void) {
  pb_cdp_sub *sub;
  ASSERT_EQ(pb_cdp_subscribe(c, "S5", &sub), 0);
  ASSERT_EQ(pb_cdp_send(c, "S5", "Crash", NULL), 0);
  pb_cdp_event *ev = NULL;
  int rc;
  while ((rc = pb_cdp_next_event(sub, pb_now_ms() + 2000, &ev)) == 0) pb_cdp_event_free(ev);
  ASSERT_EQ(rc, PB_ETARGET);
  ASSERT_EQ(pb_cdp_call(c, "S5", "Echo", NULL, pb_now_ms() + 1000, NULL, NULL, 0), PB_ETARGET);
  /* Other sessions still work. */
  ASSERT_EQ(pb_cdp_call(c, "S6", "Echo", NULL, pb_now_ms() + 1000, NULL, NULL, 0), 0);
  pb_cdp_unsubscribe(sub);
}

typedef struct {
  int rc;
} waiter;

static void *wait_silent(void *arg) {
  waiter *w = arg;
  w->rc = pb_cdp_call(c, NULL, "Silent", NULL, pb_now_ms() + 10000, NULL, NULL, 0);
  return NULL;
}

static void test_browser_dies(void) {
  waiter w = {1};
  pthread_t t;
  ASSERT(pthread_create(&t, NULL, wait_silent, &w) == 0);
  int64_t t0 = pb_now_ms();
  ASSERT_EQ(pb_cdp_send(c, NULL, "Die", NULL), 0);
  pthread_join(t, NULL);
  ASSERT_EQ(w.rc, PB_ECRASHED);
  ASSERT(pb_now_ms() - t0 < 2000);
  /* The waiting call may fail on its write (EPIPE) a moment before the
   * reader sees EOF. */
  ASSERT(pb_cdp_wait_closed(c, pb_now_ms() + 2000));
  ASSERT_EQ(pb_cdp_alive(c), 0);
  ASSERT_EQ(pb_cdp_call(c, NULL, "Echo", NULL, pb_now_ms() + 100, NULL, NULL, 0), PB_ECRASHED);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  start();
  RUN(test_call_and_reply);
  RUN(test_error);
  RUN(test_timeout);
  RUN(test_events_and_big_reply);
  RUN(test_oversized_reply);
  RUN(test_many_values_event);
  RUN(test_hook_answers_dialog);
  RUN(test_target_crash);
  RUN(test_browser_dies);
  ASSERT_EQ(fc_join(peer), FC_STOPPED);
  pb_cdp_close(c);
  DONE();
}
