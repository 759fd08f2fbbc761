/* The one error table: every code a client can see has a status and a
 * default sentence, and the statuses are the ones the API documents. */
#include "http/errors.h"
#include "test.h"

#include <ctype.h>

static void test_every_code_complete(void) {
  for (int c = 1; c < PB_CODE_COUNT; c++) {
    const char *text = pb_code_text((pb_code)c);
    ASSERT(text[0]);
    for (const char *p = text; *p; p++) ASSERT(isupper((unsigned char)*p) || *p == '_');
    int st = pb_http_status((pb_code)c);
    ASSERT(st >= 400 && st <= 599);
    ASSERT(pb_http_message((pb_code)c)[0]);
  }
}

static void test_statuses(void) {
  ASSERT_EQ(pb_http_status(PB_CODE_INVALID_REQUEST), 400);
  ASSERT_EQ(pb_http_status(PB_CODE_EXPIRED_TOKEN), 401);
  ASSERT_EQ(pb_http_status(PB_CODE_FORBIDDEN_URL), 403);
  ASSERT_EQ(pb_http_status(PB_CODE_SESSION_NOT_FOUND), 404);
  ASSERT_EQ(pb_http_status(PB_CODE_TIMEOUT), 408);
  ASSERT_EQ(pb_http_status(PB_CODE_SESSION_IN_USE), 409);
  ASSERT_EQ(pb_http_status(PB_CODE_LENGTH_REQUIRED), 411);
  ASSERT_EQ(pb_http_status(PB_CODE_NAVIGATION_FAILED), 422);
  ASSERT_EQ(pb_http_status(PB_CODE_RATE_LIMITED), 429);
  ASSERT_EQ(pb_http_status(PB_CODE_CLIENT_CLOSED), 499);
  ASSERT_EQ(pb_http_status(PB_CODE_PAGE_CRASHED), 502);
  ASSERT_EQ(pb_http_status(PB_CODE_SHUTTING_DOWN), 503);
  ASSERT_EQ(pb_http_status(PB_CODE_STORAGE_FULL), 507);
  /* One client code, two statuses. */
  ASSERT_STR_EQ(pb_code_text(PB_CODE_CAPTURE_TOO_LARGE), "PAGE_TOO_LARGE");
  ASSERT_STR_EQ(pb_code_text(PB_CODE_PAGE_TOO_LARGE), "PAGE_TOO_LARGE");
  ASSERT_EQ(pb_http_status(PB_CODE_CAPTURE_TOO_LARGE), 400);
  ASSERT_EQ(pb_http_status(PB_CODE_PAGE_TOO_LARGE), 413);
  /* /browser/json: no model is the request's fault; data that does not
   * fit the schema is the page's */
  ASSERT_EQ(pb_http_status(PB_CODE_NO_MODEL), 400);
  ASSERT_EQ(pb_http_status(PB_CODE_SCHEMA_MISMATCH), 422);
}

static void test_out_of_range(void) {
  ASSERT_STR_EQ(pb_code_text(PB_CODE_NONE), "");
  ASSERT_STR_EQ(pb_code_text(PB_CODE_COUNT), "");
  ASSERT_EQ(pb_http_status(PB_CODE_NONE), 500);
  ASSERT_EQ(pb_http_status((pb_code)-3), 500);
  ASSERT_EQ(pb_http_status(PB_CODE_COUNT), 500);
}

int main(void) {
  RUN(test_every_code_complete);
  RUN(test_statuses);
  RUN(test_out_of_range);
  DONE();
}
