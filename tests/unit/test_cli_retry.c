/* ppod's retries of 429 and 503 (cli/retry.h) against a scripted transport
 * and a recorded sleep: what is waited, how often, and what the user reads. */
#include "../../src/cli/retry.c"

#include "test.h"

/* The answers the fake transport gives, in order: status, Retry-After. */
static struct {
  long status[16], retry_after[16];
  int n, calls, fail_with; /* fail_with: a transport error instead */
} script;
static long slept[16];
static int nslept;
static char *log_text;
static size_t log_len;

static int fake_send(const pb_cli_request *req, pb_cli_response *resp, char *err, size_t cap) {
  (void)req;
  memset(resp, 0, sizeof(*resp));
  pb_buf_init(&resp->body, 1 << 20);
  if (script.fail_with) {
    snprintf(err, cap, "cannot reach it");
    return script.fail_with;
  }
  int i = script.calls < script.n ? script.calls : script.n - 1;
  script.calls++;
  resp->status = script.status[i];
  resp->retry_after = script.retry_after[i];
  const char *body =
      resp->status == 503   ? "{\"success\":false,\"errors\":[{\"code\":\"BROWSER_UNAVAILABLE\"}]}"
      : resp->status == 429 ? "{\"success\":false,\"errors\":[{\"code\":\"\\u001b[31mEVIL\"}]}"
                            : "{\"success\":true,\"result\":1}";
  pb_buf_append(&resp->body, body, strlen(body));
  return 0;
}

static void fake_sleep(long ms) {
  slept[nslept++] = ms;
}

/* Runs one request through the retries with this script. */
static int run(int n, const long *status, const long *ra, pb_cli_response *resp) {
  memset(&script, 0, sizeof(script));
  for (int i = 0; i < n; i++) {
    script.status[i] = status[i];
    script.retry_after[i] = ra[i];
  }
  script.n = n;
  nslept = 0;
  free(log_text);
  log_text = NULL;
  FILE *log = open_memstream(&log_text, &log_len);
  pb_cli_retry_setup(fake_send, log, fake_sleep);
  pb_cli_request req = {.method = "POST", .base_url = "http://s", .route = "/browser/content"};
  char err[256];
  int rc = pb_cli_retry_send(&req, resp, err, sizeof(err));
  fclose(log);
  return rc;
}

static void test_retry_after_is_honoured_then_success(void) {
  pb_cli_response r;
  long st[] = {503, 429, 200}, ra[] = {2, -1, -1};
  ASSERT_EQ(run(3, st, ra, &r), 0);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(script.calls, 3);
  ASSERT_EQ(nslept, 2);
  ASSERT_EQ(slept[0], 2000); /* as the server said */
  ASSERT_EQ(slept[1], 2000); /* none said: 1, 2, 4 s by attempt */
  ASSERT_STR_EQ(log_text,
                "ppod: busy (503 BROWSER_UNAVAILABLE), retrying in 2 s (1/3)\n"
                "ppod: too many requests (429), retrying in 2 s (2/3)\n");
  pb_buf_free(&r.body);
}

static void test_bounded_then_the_last_answer(void) {
  pb_cli_response r;
  long st[] = {503}, ra[] = {-1};
  ASSERT_EQ(run(1, st, ra, &r), 0);
  ASSERT_EQ(r.status, 503); /* the caller reports it */
  ASSERT_CONTAINS(r.body.data, "BROWSER_UNAVAILABLE");
  ASSERT_EQ(script.calls, 4);
  ASSERT_EQ(nslept, 3);
  ASSERT_EQ(slept[0], 1000);
  ASSERT_EQ(slept[1], 2000);
  ASSERT_EQ(slept[2], 4000);
  ASSERT_CONTAINS(log_text, "(3/3)\n");
  pb_buf_free(&r.body);
}

static void test_what_is_not_retried(void) {
  pb_cli_response r;
  /* A wait past the cap (a daily quota): reported at once. */
  long st1[] = {429}, ra1[] = {3600};
  ASSERT_EQ(run(1, st1, ra1, &r), 0);
  ASSERT_EQ(script.calls, 1);
  ASSERT_EQ(nslept, 0);
  ASSERT_STR_EQ(log_text, "");
  pb_buf_free(&r.body);
  /* Other errors are answers, not refusals. */
  long st2[] = {500, 408, 409, 404};
  for (int i = 0; i < 4; i++) {
    long one[] = {st2[i]}, none[] = {1};
    ASSERT_EQ(run(1, one, none, &r), 0);
    ASSERT_EQ(script.calls, 1);
    pb_buf_free(&r.body);
  }
  /* The server could not be reached: nothing to honour. */
  memset(&script, 0, sizeof(script));
  script.fail_with = PB_EIO;
  pb_cli_request req = {.method = "GET", .base_url = "http://s", .route = "/x"};
  char err[256];
  ASSERT_EQ(pb_cli_retry_send(&req, &r, err, sizeof(err)), PB_EIO);
  pb_buf_free(&r.body);
  /* PAPERPOD_RETRIES=0 turns them off; 1 allows one. */
  setenv("PAPERPOD_RETRIES", "0", 1);
  long st3[] = {503}, ra3[] = {1};
  ASSERT_EQ(run(1, st3, ra3, &r), 0);
  ASSERT_EQ(script.calls, 1);
  pb_buf_free(&r.body);
  setenv("PAPERPOD_RETRIES", "1", 1);
  ASSERT_EQ(run(1, st3, ra3, &r), 0);
  ASSERT_EQ(script.calls, 2);
  ASSERT_STR_EQ(log_text, "ppod: busy (503 BROWSER_UNAVAILABLE), retrying in 1 s (1/1)\n");
  pb_buf_free(&r.body);
  unsetenv("PAPERPOD_RETRIES");
}

int main(void) {
  unsetenv("PAPERPOD_RETRIES");
  RUN(test_retry_after_is_honoured_then_success);
  RUN(test_bounded_then_the_last_answer);
  RUN(test_what_is_not_retried);
  free(log_text);
  DONE();
}
