/* The session proxy against a scripted browser on the other end of two
 * pipes: what reaches the browser is the canonical command (never the
 * client's bytes), a refusal reaches the client with its id and session and
 * never the browser, a reply past the size cap becomes an error in the right
 * session, and refusals are logged as rate-limited JSON lines. */
#include "cdp/proxy.h"
#include "common/pb.h"
#include "test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int peer_r, peer_w; /* the browser's ends */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char last_cmd[65536]; /* the last command the browser read that the client sent */
static int ncmds;
static int wakes;

static int peer_read(char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    if (read(peer_r, buf + n, 1) <= 0) return 0;
    if (buf[n] == '\0') return 1;
    n++;
  }
  return 0;
}

/* Answers every command; Runtime.evaluate of "huge" gets a reply past
 * PB_CDP_MESSAGE_MAX, its sessionId at the very end as Chromium puts it. */
static void *peer_main(void *arg) {
  (void)arg;
  static char buf[65536], out[70000];
  while (peer_read(buf, sizeof(buf))) {
    cJSON *m = cJSON_Parse(buf);
    long long id = (long long)cJSON_GetObjectItem(m, "id")->valuedouble;
    const cJSON *sid = cJSON_GetObjectItem(m, "sessionId");
    const char *method = cJSON_GetObjectItem(m, "method")->valuestring;
    if (id >= PB_CDP_RAW_ID_BASE) {
      pthread_mutex_lock(&mu);
      pb_strlcpy(last_cmd, buf, sizeof(last_cmd));
      ncmds++;
      pthread_cond_broadcast(&cv);
      pthread_mutex_unlock(&mu);
    }
    if (!strcmp(method, "Runtime.evaluate") && strstr(buf, "\"expression\":\"huge\"")) {
      snprintf(out, sizeof(out), "{\"id\":%lld,\"result\":{\"v\":\"", id);
      ASSERT(write(peer_w, out, strlen(out)) > 0);
      memset(out, 'x', 65536);
      for (size_t sent = 0; sent < PB_CDP_MESSAGE_MAX + 1; sent += 65536)
        ASSERT(write(peer_w, out, 65536) == 65536);
      snprintf(out, sizeof(out), "\"},\"sessionId\":\"%s\"}", sid ? sid->valuestring : "");
      ASSERT(write(peer_w, out, strlen(out) + 1) == (ssize_t)strlen(out) + 1);
    } else {
      snprintf(out, sizeof(out), "{\"id\":%lld,\"result\":{\"ok\":true}%s%s%s}", id,
               sid ? ",\"sessionId\":\"" : "", sid ? sid->valuestring : "", sid ? "\"" : "");
      ASSERT(write(peer_w, out, strlen(out) + 1) == (ssize_t)strlen(out) + 1);
    }
    cJSON_Delete(m);
  }
  close(peer_w);
  return NULL;
}

static void wake(void *data) {
  (void)data;
  pthread_mutex_lock(&mu);
  wakes++;
  pthread_cond_broadcast(&cv);
  pthread_mutex_unlock(&mu);
}

/* The next message for the client, waiting for the proxy's wake-up. */
static cJSON *next_out(pb_proxy *p) {
  int64_t deadline = pb_now_ms() + 30000;
  for (;;) {
    size_t len;
    char *m = pb_proxy_next_out(p, &len);
    if (m) {
      cJSON *j = cJSON_ParseWithLength(m, len);
      free(m);
      ASSERT(j);
      return j;
    }
    pthread_mutex_lock(&mu);
    int seen = wakes;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000;
    if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
    while (wakes == seen) /* re-check the queue at least every 100 ms */
      if (pthread_cond_timedwait(&cv, &mu, &ts)) break;
    pthread_mutex_unlock(&mu);
    ASSERT(pb_now_ms() < deadline);
  }
}

static int loopback(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  if (!strstr(url, "127.0.0.1")) return 0;
  snprintf(why, cap, "loopback");
  return 1;
}

static pb_proxy *p;
static pb_cdp *c;

static void send_frame(const char *json) {
  pb_proxy_from_client(p, json, strlen(json));
}

/* The browser reads the canonical command: the client's bytes never. */
static void test_canonical(void) {
  pthread_mutex_lock(&mu);
  int before = ncmds;
  pthread_mutex_unlock(&mu);
  send_frame(
      "{ \"sessionId\" : \"S1\", \"extra\":{\"x\":1}, \"params\":{\"expression\":\"\\u0031\"},"
      "\"method\":\"Runtime.evaluate\",\"id\":5 }");
  cJSON *r = next_out(p);
  ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 5);
  ASSERT_STR_EQ(cJSON_GetObjectItem(r, "sessionId")->valuestring, "S1");
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "ok")));
  cJSON_Delete(r);
  pthread_mutex_lock(&mu);
  ASSERT_EQ(ncmds, before + 1);
  const char *body = strchr(last_cmd, ',');
  ASSERT(body);
  ASSERT_STR_EQ(
      body,
      ",\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"1\"},\"sessionId\":\"S1\"}");
  pthread_mutex_unlock(&mu);
}

/* A refusal goes to the client with its id and session; nothing to the browser. */
static void test_refused(void) {
  pthread_mutex_lock(&mu);
  int before = ncmds;
  pthread_mutex_unlock(&mu);
  const char *frames[] = {
      "{\"id\":7,\"method\":\"Target.sendMessageToTarget\",\"params\":{\"message\":\"{}\"},"
      "\"sessionId\":\"S1\"}",
      "{\"id\":8,\"method\":\"Page.navigate\",\"params\":{\"url\":\"about:blank\",\"url\":\"file://"
      "/etc/passwd\"},\"sessionId\":\"S1\"}",
      "{\"id\":9,\"method\":\"Page.navigate\",\"params\":{\"url\":\"http://127.0.0.1/"
      "\"},\"sessionId\":\"S1\"}",
      "{\"id\":10,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"\xff\"},"
      "\"sessionId\":\"S1\"}",
  };
  for (int i = 0; i < 4; i++) {
    send_frame(frames[i]);
    cJSON *r = next_out(p);
    ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 7 + i);
    ASSERT_STR_EQ(cJSON_GetObjectItem(r, "sessionId")->valuestring, "S1");
    ASSERT_CONTAINS(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "message")->valuestring,
                    "refused by ppod");
    cJSON_Delete(r);
  }
  /* A command after them proves the browser read nothing in between. */
  send_frame("{\"id\":11,\"method\":\"Page.enable\"}");
  cJSON *r = next_out(p);
  ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 11);
  cJSON_Delete(r);
  pthread_mutex_lock(&mu);
  ASSERT_EQ(ncmds, before + 1);
  ASSERT_CONTAINS(last_cmd, "\"Page.enable\"");
  pthread_mutex_unlock(&mu);
}

/* Submitted frames are handled by the proxy's thread, in order; the bytes
 * not handled yet fall back to zero; Browser.close is answered and then
 * reported once to whoever ends the session. */
static void test_submit(void) {
  const char *frames[] = {
      "{\"id\":21,\"method\":\"Page.enable\"}",
      "{\"id\":22,\"method\":\"Target.sendMessageToTarget\",\"params\":{}}",
      "{\"id\":23,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"1\"}}",
      "{\"id\":24,\"method\":\"Browser.close\"}",
  };
  size_t total = 0;
  for (int i = 0; i < 4; i++) {
    char *copy = strdup(frames[i]);
    total += strlen(frames[i]) + 64;
    ASSERT(pb_proxy_submit(p, copy, strlen(frames[i])) <= total);
  }
  /* A refusal is answered at once, a reply comes when the browser sends it:
   * the answers may cross, but each command gets one. */
  int got[4] = {0};
  for (int i = 0; i < 4; i++) {
    cJSON *r = next_out(p);
    int k = (int)cJSON_GetObjectItem(r, "id")->valuedouble - 21;
    ASSERT(k >= 0 && k < 4 && !got[k]);
    got[k] = 1;
    ASSERT_EQ(cJSON_GetObjectItem(r, "error") != NULL, k == 1);
    cJSON_Delete(r);
  }
  /* The browser read the allowed ones in the order sent. */
  pthread_mutex_lock(&mu);
  ASSERT_CONTAINS(last_cmd, "\"Runtime.evaluate\"");
  pthread_mutex_unlock(&mu);
  int64_t deadline = pb_now_ms() + 10000;
  while (pb_proxy_inbound(p) && pb_now_ms() < deadline) usleep(1000);
  ASSERT_EQ(pb_proxy_inbound(p), 0);
  ASSERT_EQ(pb_proxy_take_close(p), 1);
  ASSERT_EQ(pb_proxy_take_close(p), 0);
}

/* A reply past the cap: an error for that id, in the command's session. */
static void test_oversized_reply(void) {
  send_frame(
      "{\"id\":12,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"huge\"},"
      "\"sessionId\":\"S2\"}");
  cJSON *r = next_out(p);
  ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 12);
  ASSERT_STR_EQ(cJSON_GetObjectItem(r, "sessionId")->valuestring, "S2");
  ASSERT_CONTAINS(cJSON_GetObjectItem(cJSON_GetObjectItem(r, "error"), "message")->valuestring,
                  "larger than 64 MiB");
  cJSON_Delete(r);
  /* The browser is still there. */
  send_frame("{\"id\":13,\"method\":\"Page.enable\",\"sessionId\":\"S2\"}");
  r = next_out(p);
  ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 13);
  ASSERT(cJSON_GetObjectItem(r, "result"));
  cJSON_Delete(r);
  ASSERT(pb_cdp_alive(c));
}

/* A client that sends without reading: the answers it never reads stop
 * at the queue's cap instead of growing the daemon. */
static void test_unread_answers_bounded(void) {
  for (int i = 0; i < 200000; i++)
    send_frame(
        "{\"id\":1,\"method\":\"Browser.crash\",\"sessionId\":"
        "\"0123456789ABCDEF0123456789ABCDEF\"}");
  size_t total = 0, n = 0, len;
  char *m;
  while ((m = pb_proxy_next_out(p, &len))) {
    total += len;
    n++;
    free(m);
  }
  ASSERT(total <= PB_PROXY_QUEUE_MAX);
  ASSERT(total > PB_PROXY_QUEUE_MAX / 2); /* the cap, not something smaller, stopped them */
  ASSERT(n < 200000);
  /* Reading again, the client gets answers again. */
  send_frame("{\"id\":2,\"method\":\"Page.enable\"}");
  cJSON *r = next_out(p);
  ASSERT_EQ(cJSON_GetObjectItem(r, "id")->valuedouble, 2);
  cJSON_Delete(r);
}

static char logpath[] = "/tmp/pb-test-proxy-XXXXXX";

static int count_lines(const char *needle) {
  FILE *f = fopen(logpath, "r");
  ASSERT(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof(line), f)) n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

/* One JSON line per refusal, at most 10 a second, then a count. */
static void test_refusal_log(void) {
  int before = count_lines("\"msg\":\"cdp refused\"");
  for (int i = 0; i < 40; i++) {
    send_frame("{\"id\":100,\"method\":\"Browser.crash\",\"sessionId\":\"S3\"}");
    cJSON_Delete(next_out(p));
  }
  pb_proxy_client_detach(p); /* writes the count */
  pb_proxy_client_attach(p);
  int lines = count_lines("\"msg\":\"cdp refused\"") - before;
  ASSERT(lines >= 2 && lines <= 2 * 10 + 2); /* the 40 may straddle a second */
  FILE *f = fopen(logpath, "r");
  char line[4096];
  int named = 0, suppressed = 0;
  while (fgets(line, sizeof(line), f)) {
    cJSON *j = cJSON_Parse(line);
    if (!j) continue;
    const cJSON *m = cJSON_GetObjectItem(j, "method");
    if (cJSON_IsString(m) && !strcmp(m->valuestring, "Browser.crash")) {
      named++;
      ASSERT(cJSON_GetObjectItem(j, "ts"));
      ASSERT_STR_EQ(cJSON_GetObjectItem(j, "account")->valuestring, "acme");
      ASSERT_STR_EQ(cJSON_GetObjectItem(j, "session")->valuestring, "sess1");
      ASSERT_STR_EQ(cJSON_GetObjectItem(j, "cdpSession")->valuestring, "S3");
      ASSERT_CONTAINS(cJSON_GetObjectItem(j, "reason")->valuestring, "crashes the browser");
    }
    const cJSON *s = cJSON_GetObjectItem(j, "suppressed");
    if (cJSON_IsNumber(s)) suppressed += s->valueint;
    cJSON_Delete(j);
  }
  fclose(f);
  ASSERT_EQ(named + suppressed, 40);
  ASSERT(suppressed >= 20);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  int fd = mkstemp(logpath);
  ASSERT(fd >= 0);
  fflush(stderr);
  int saved = dup(2);
  ASSERT(dup2(fd, 2) == 2);
  close(fd);

  int to_peer[2], from_peer[2];
  ASSERT(pipe(to_peer) == 0 && pipe(from_peer) == 0);
  peer_r = to_peer[0];
  peer_w = from_peer[1];
  pthread_t pt;
  ASSERT(pthread_create(&pt, NULL, peer_main, NULL) == 0);
  ASSERT_EQ(pb_cdp_open(to_peer[1], from_peer[0], NULL, NULL, &c), 0);
  ASSERT_EQ(pb_proxy_new(c, loopback, NULL, wake, NULL, &p), 0);
  pb_proxy_set_identity(p, "acme", "sess1");
  pb_proxy_client_attach(p);

  RUN(test_canonical);
  RUN(test_refused);
  RUN(test_submit);
  RUN(test_oversized_reply);
  RUN(test_refusal_log);
  RUN(test_unread_answers_bounded);

  pb_proxy_free(p);
  pb_cdp_close(c);
  pthread_join(pt, NULL);
  close(peer_r);
  fflush(stderr);
  dup2(saved, 2);
  unlink(logpath);
  DONE();
}
