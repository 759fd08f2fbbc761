/* common/json.h: a member of the asked type, or the default. */
#include "common/json.h"
#include "test.h"

static void test_getters(void) {
  cJSON *o = cJSON_Parse(
      "{\"s\":\"x\",\"n\":2.5,\"i\":7,\"big\":1e300,\"t\":true,\"f\":false,\"z\":null}");
  ASSERT_STR_EQ(pb_json_str(o, "s"), "x");
  ASSERT(pb_json_str(o, "n") == NULL);
  ASSERT(pb_json_str(o, "missing") == NULL);
  ASSERT_EQ(pb_json_int(o, "i", -1), 7);
  ASSERT_EQ(pb_json_int(o, "s", -1), -1);
  ASSERT_EQ(pb_json_int(o, "big", 0), 2147483647); /* cJSON saturates valueint */
  ASSERT(pb_json_num(o, "n", 0) == 2.5);
  ASSERT(pb_json_num(o, "t", 9) == 9);
  ASSERT_EQ(pb_json_true(o, "t"), 1);
  ASSERT_EQ(pb_json_true(o, "f"), 0);
  ASSERT_EQ(pb_json_true(o, "s"), 0);
  ASSERT_EQ(pb_json_bool(o, "f", 1), 0);
  ASSERT_EQ(pb_json_bool(o, "z", 1), 1);
  ASSERT(pb_json_get(o, "z") != NULL);
  cJSON_Delete(o);
}

static void test_not_an_object(void) {
  ASSERT(pb_json_str(NULL, "s") == NULL);
  ASSERT_EQ(pb_json_int(NULL, "i", 3), 3);
  ASSERT(pb_json_num(NULL, "n", 1.5) == 1.5);
  ASSERT_EQ(pb_json_true(NULL, "t"), 0);
  cJSON *a = cJSON_Parse("[1,2]");
  ASSERT(pb_json_str(a, "0") == NULL);
  cJSON_Delete(a);
}

int main(void) {
  RUN(test_getters);
  RUN(test_not_an_object);
  DONE();
}
