/* What a request body must be beyond what cJSON checks: UTF-8, no \u0000,
 * no key twice. */
#include "common/pb.h"
#include "common/jsontext.h"
#include "test.h"

static int text(const char *s, char *err) {
  return pb_json_text_check(s, strlen(s), err, 256);
}

static void test_utf8(void) {
  char err[256];
  ASSERT_EQ(text("{\"a\":\"h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80\"}", err), 0);
  ASSERT_EQ(text("{\"a\":\"\xff\"}", err), PB_EINVAL);
  ASSERT_CONTAINS(err, "UTF-8 (byte 6)");
  ASSERT_EQ(text("{\"a\":\"\xc3\x28\"}", err), PB_EINVAL);         /* bad continuation */
  ASSERT_EQ(text("{\"a\":\"\xc0\xaf\"}", err), PB_EINVAL);         /* overlong '/' */
  ASSERT_EQ(text("{\"a\":\"\xe0\x80\xaf\"}", err), PB_EINVAL);     /* overlong, 3 bytes */
  ASSERT_EQ(text("{\"a\":\"\xed\xa0\x80\"}", err), PB_EINVAL);     /* a surrogate */
  ASSERT_EQ(text("{\"a\":\"\xf4\x90\x80\x80\"}", err), PB_EINVAL); /* past U+10FFFF */
  ASSERT_EQ(text("{\"a\":\"\xe2\x82\"}", err), PB_EINVAL);         /* cut short */
  char trunc[] = "\xe2\x82";
  ASSERT_EQ(pb_json_text_check(trunc, 1, err, sizeof(err)), PB_EINVAL); /* cut at the end */
}

static void test_nul_escape(void) {
  char err[256];
  ASSERT_EQ(text("{\"a\":\"x\\u0000y\"}", err), PB_EINVAL);
  ASSERT_CONTAINS(err, "\\u0000");
  /* An escaped backslash followed by u0000 is text, not an escape. */
  ASSERT_EQ(text("{\"a\":\"x\\\\u0000y\"}", err), 0);
  ASSERT_EQ(text("{\"a\":\"\\\"\\u0001\"}", err), 0);
  ASSERT_EQ(text("{\"a\\u0000\":1}", err), PB_EINVAL); /* in a key too */
}

/* Raw control characters in a string are not JSON (cJSON takes them). */
static void test_raw_controls(void) {
  char err[256];
  ASSERT_EQ(text("{\"a\":\"x\x01y\"}", err), PB_EINVAL);
  ASSERT_CONTAINS(err, "control character");
  ASSERT_EQ(text("{\"a\":\"x\ty\"}", err), PB_EINVAL);
  ASSERT_EQ(text("{\n\t\"a\" :\r\n 1}", err), 0); /* whitespace between tokens is fine */
}

static void test_dup_keys(void) {
  char err[256];
  cJSON *d = cJSON_Parse("{\"url\":\"a\",\"viewport\":{\"width\":1,\"height\":2,\"width\":3}}");
  ASSERT_EQ(pb_json_dup_keys(d, err, sizeof(err)), PB_EINVAL);
  ASSERT_STR_EQ(err, "viewport.width: the key appears more than once");
  cJSON_Delete(d);
  d = cJSON_Parse("{\"steps\":[{\"a\":1},{\"action\":\"x\",\"action\":\"y\"}]}");
  ASSERT_EQ(pb_json_dup_keys(d, err, sizeof(err)), PB_EINVAL);
  ASSERT_STR_EQ(err, "steps[1].action: the key appears more than once");
  cJSON_Delete(d);
  d = cJSON_Parse("{\"a\":1,\"A\":2,\"b\":{\"a\":1},\"c\":[{\"a\":1},{\"a\":2}]}");
  ASSERT_EQ(pb_json_dup_keys(d, err, sizeof(err)), 0);
  cJSON_Delete(d);
  /* Many keys: sorted, not compared pairwise. */
  pb_buf b;
  pb_buf_init(&b, 8u << 20);
  pb_buf_printf(&b, "{");
  for (int i = 0; i < 200000; i++) pb_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
  pb_buf_printf(&b, ",\"k123\":0}");
  d = cJSON_Parse(b.data);
  ASSERT(d);
  ASSERT_EQ(pb_json_dup_keys(d, err, sizeof(err)), PB_EINVAL);
  ASSERT_STR_EQ(err, "k123: the key appears more than once");
  cJSON_Delete(d);
  pb_buf_free(&b);
}

int main(void) {
  RUN(test_utf8);
  RUN(test_nul_escape);
  RUN(test_raw_controls);
  RUN(test_dup_keys);
  DONE();
}
