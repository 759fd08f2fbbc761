/* libFuzzer: any bytes as a POST /browser/test body, taken the way the
 * service takes it: parsed, validated against schemas/test-script.json, then
 * checked by pb_testscript_check (fields per action, selectors, keys,
 * baselines, caps). Every selector and key is also parsed on its own, whether
 * or not the script as a whole passed, and the document is written out as a
 * JUnit report as if it were a runner's result. Must never crash or hang. */
#include "http/jsonschema.h"
#include "ops/testrun.h"
#include "ops/testscript.h"

#include <stdint.h>
#include <stdlib.h>

static pb_schemas *schemas;

static void each_step(const cJSON *steps) {
  const cJSON *step;
  cJSON_ArrayForEach(step, steps) {
    const cJSON *sel = cJSON_GetObjectItemCaseSensitive(step, "selector");
    if (cJSON_IsString(sel)) {
      pb_selector ps;
      char err[256];
      if (!pb_selector_parse(sel->valuestring, &ps, err, sizeof(err)))
        cJSON_Delete(pb_selector_json(&ps));
    }
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(step, "key");
    if (cJSON_IsString(key)) {
      pb_key keys[PB_TEST_MAX_KEYS];
      int n;
      char err[256];
      pb_key_parse(key->valuestring, keys, &n, err, sizeof(err));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!schemas && pb_schemas_load(&schemas)) abort();
  cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
  if (!doc) return 0;
  char err[1024];
  pb_schemas_validate(schemas, "test-script", doc, err, sizeof(err));
  pb_testscript_check(doc, err, sizeof(err));
  each_step(cJSON_GetObjectItemCaseSensitive(doc, "steps"));
  char *xml = NULL;
  size_t len;
  if (!pb_testrun_junit(doc, "fuzz", &xml, &len)) free(xml);
  cJSON_Delete(doc);
  return 0;
}
