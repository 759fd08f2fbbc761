/* libFuzzer: any bytes as a request body, checked, parsed and validated
 * against each quick action's schema, as the HTTP layer does (UTF-8 and
 * \u0000 check of the text, duplicate keys, schema). Must never crash or
 * hang. */
#include "http/jsonschema.h"
#include "common/jsontext.h"

#include <stdint.h>
#include <stdlib.h>

static pb_schemas *schemas;
static const char *const names[] = {"screenshot", "pdf", "content", "scrape", "links",
                                    "snapshot", "markdown", "acquire", "test-script"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!schemas && pb_schemas_load(&schemas)) abort();
  char err[512];
  pb_json_text_check((const char *)data, size, err, sizeof(err));
  cJSON *doc = cJSON_ParseWithLength((const char *)data, size);
  if (!doc) return 0;
  pb_json_dup_keys(doc, err, sizeof(err));
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    pb_schemas_validate(schemas, names[i], doc, err, sizeof(err));
  cJSON_Delete(doc);
  return 0;
}
