/* ops/testscript: script checks, selectors and keys of the test runner. */
#include "common/pb.h"
#include "ops/testscript.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static int check(const char *json, char *err, size_t cap) {
  cJSON *doc = cJSON_Parse(json);
  ASSERT(doc != NULL);
  int rc = pb_testscript_check(doc, err, cap);
  cJSON_Delete(doc);
  return rc;
}

static void selectors(void) {
  pb_selector s;
  char err[256];
  ASSERT_EQ(pb_selector_parse("#login > button", &s, err, sizeof(err)), 0);
  ASSERT_EQ(s.kind, PB_SEL_CSS);
  ASSERT_STR_EQ(s.value, "#login > button");
  ASSERT_EQ(pb_selector_parse("text=Sign in", &s, err, sizeof(err)), 0);
  ASSERT(s.kind == PB_SEL_TEXT && !s.exact);
  ASSERT_STR_EQ(s.value, "Sign in");
  ASSERT_EQ(pb_selector_parse("text=\"Sign \\\"in\\\"\"", &s, err, sizeof(err)), 0);
  ASSERT(s.exact);
  ASSERT_STR_EQ(s.value, "Sign \"in\"");
  ASSERT_EQ(pb_selector_parse("role=button[name=\"Save\"]", &s, err, sizeof(err)), 0);
  ASSERT(s.kind == PB_SEL_ROLE && s.has_name && !s.exact);
  ASSERT_STR_EQ(s.value, "button");
  ASSERT_STR_EQ(s.name, "Save");
  ASSERT_EQ(pb_selector_parse("role=Link[name='Home' s]", &s, err, sizeof(err)), 0);
  ASSERT(s.exact);
  ASSERT_STR_EQ(s.value, "link");
  ASSERT_EQ(pb_selector_parse("role=heading", &s, err, sizeof(err)), 0);
  ASSERT(!s.has_name);
  ASSERT_EQ(pb_selector_parse("xpath=//li[2]", &s, err, sizeof(err)), 0);
  ASSERT(s.kind == PB_SEL_XPATH);
  ASSERT_STR_EQ(s.value, "//li[2]");
  ASSERT_EQ(pb_selector_parse("//a", &s, err, sizeof(err)), 0);
  ASSERT(s.kind == PB_SEL_XPATH);
  ASSERT_EQ(pb_selector_parse("role=button[name=\"Save", &s, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "unterminated");
  ASSERT_EQ(pb_selector_parse("role=[name=x]", &s, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_selector_parse("role=button[checked]", &s, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_selector_parse("text=", &s, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_selector_parse("  ", &s, err, sizeof(err)), PB_EINVAL);
  cJSON *j = pb_selector_json(
      &(pb_selector){.kind = PB_SEL_ROLE, .value = "button", .name = "Go", .has_name = 1});
  char *txt = cJSON_PrintUnformatted(j);
  ASSERT_STR_EQ(txt, "{\"kind\":\"role\",\"value\":\"button\",\"name\":\"Go\",\"exact\":false}");
  free(txt);
  cJSON_Delete(j);
}

static void keys(void) {
  pb_key k[PB_TEST_MAX_KEYS];
  int n;
  char err[256];
  ASSERT_EQ(pb_key_parse("Enter", k, &n, err, sizeof(err)), 0);
  ASSERT(n == 1 && k[0].key_code == 13);
  ASSERT_STR_EQ(k[0].text, "\r");
  ASSERT_EQ(pb_key_parse("Control+A", k, &n, err, sizeof(err)), 0);
  ASSERT(n == 2 && k[0].modifier == 2 && k[1].key_code == 'A');
  ASSERT_STR_EQ(k[1].code, "KeyA");
  ASSERT_EQ(pb_key_parse("Shift+Control+ArrowLeft", k, &n, err, sizeof(err)), 0);
  ASSERT(n == 3 && k[2].key_code == 37);
  ASSERT_EQ(pb_key_parse("Control++", k, &n, err, sizeof(err)), 0);
  ASSERT(n == 2);
  ASSERT_STR_EQ(k[1].key, "+");
  ASSERT_EQ(pb_key_parse("7", k, &n, err, sizeof(err)), 0);
  ASSERT_STR_EQ(k[0].code, "Digit7");
  ASSERT_EQ(pb_key_parse("Space", k, &n, err, sizeof(err)), 0);
  ASSERT_STR_EQ(k[0].key, " ");
  ASSERT_EQ(pb_key_parse("Control+Banana", k, &n, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "unknown key");
  ASSERT_EQ(pb_key_parse("a+Control", k, &n, err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "only modifiers");
  ASSERT_EQ(pb_key_parse("Control+", k, &n, err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(pb_key_parse("", k, &n, err, sizeof(err)), PB_EINVAL);
}

static void scripts(void) {
  char err[512];
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"goto\",\"url\":\"https://a.test/\"},"
                  "{\"action\":\"click\",\"selector\":\"text=Go\"},"
                  "{\"action\":\"expectText\",\"selector\":\"h1\",\"contains\":\"Hi\"},"
                  "{\"action\":\"press\",\"key\":\"Control+A\"},"
                  "{\"action\":\"scroll\",\"x\":0,\"y\":100}]}",
                  err, sizeof(err)),
            0);
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"wait\",\"ms\":1},{\"action\":\"click\"}]}", err,
                  sizeof(err)),
            PB_EINVAL);
  ASSERT_STR_EQ(err, "steps[1].selector: click needs selector");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"fill\",\"selector\":\"#a\"}]}", err, sizeof(err)),
            PB_EINVAL);
  ASSERT_STR_EQ(err, "steps[0].value: fill needs value");
  ASSERT_EQ(
      check("{\"steps\":[{\"action\":\"expectText\",\"selector\":\"h1\"}]}", err, sizeof(err)),
      PB_EINVAL);
  ASSERT_CONTAINS(err, "steps[0].equals");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"waitForURL\"}]}", err, sizeof(err)), PB_EINVAL);
  ASSERT_CONTAINS(err, "steps[0].url");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"scroll\"}]}", err, sizeof(err)), PB_EINVAL);
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"press\",\"key\":\"Hyper+x\"}]}", err, sizeof(err)),
            PB_EINVAL);
  ASSERT_CONTAINS(err, "steps[0].key:");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"click\",\"selector\":\"role=\"}]}", err, sizeof(err)),
            PB_EINVAL);
  ASSERT_CONTAINS(err, "steps[0].selector:");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"expectScreenshot\",\"name\":\"a\",\"baseline\":"
                  "\"aGVsbG8=\"}]}",
                  err, sizeof(err)),
            PB_EINVAL);
  ASSERT_STR_EQ(err, "steps[0].baseline: not a base64 PNG");
  ASSERT_EQ(check("{\"steps\":[{\"action\":\"expectScreenshot\",\"name\":\"a\",\"baseline\":"
                  "\"iVBORw0KGgo=\"}]}",
                  err, sizeof(err)),
            0);
  /* Caps: steps and bytes. */
  pb_buf b;
  pb_buf_init(&b, 8u << 20);
  pb_buf_printf(&b, "{\"steps\":[");
  for (int i = 0; i <= PB_TEST_MAX_STEPS; i++)
    pb_buf_printf(&b, "%s{\"action\":\"wait\",\"ms\":0}", i ? "," : "");
  pb_buf_printf(&b, "]}");
  ASSERT_EQ(check(b.data, err, sizeof(err)), PB_ETOOBIG);
  ASSERT_CONTAINS(err, "the most a script may have is 500");
  pb_buf_free(&b);
  pb_buf_init(&b, 8u << 20);
  pb_buf_printf(&b, "{\"steps\":[");
  for (int i = 0; i < 20; i++) {
    pb_buf_printf(&b, "%s{\"action\":\"evaluate\",\"expression\":\"", i ? "," : "");
    for (int j = 0; j < 6000; j++) pb_buf_printf(&b, "1+1;1+1;1+");
    pb_buf_printf(&b, "1\"}");
  }
  pb_buf_printf(&b, "]}");
  ASSERT_EQ(check(b.data, err, sizeof(err)), PB_ETOOBIG);
  ASSERT_CONTAINS(err, "not counting baselines");
  pb_buf_free(&b);
}

int main(void) {
  RUN(selectors);
  RUN(keys);
  RUN(scripts);
  DONE();
}
