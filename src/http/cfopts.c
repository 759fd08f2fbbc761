/* The reader of Cloudflare-only options. The tenant's JSON Schema of
 * /browser/json is carried as given, with the validator for it: ops/ sits
 * below http/ and cannot reach http/jsonschema.c itself. */
#include "http/cfopts.h"

#include "common/json.h"
#include "http/jsonschema.h"

#include <string.h>

static const struct {
  const char *name;
  unsigned bit;
} formats[] = {
    {"content", PB_SNAP_CONTENT},   {"screenshot", PB_SNAP_SCREENSHOT},
    {"markdown", PB_SNAP_MARKDOWN}, {"accessibilityTree", PB_SNAP_AXTREE},
    {"meta", PB_SNAP_META},
};

void pb_cf_opts_read(const cJSON *b, pb_cf_opts *out) {
  memset(out, 0, sizeof(*out));
  out->ax_root = pb_json_str(b, "root");
  /* Cloudflare: a subtree is whole unless interestingOnly says otherwise. */
  out->interesting_only = pb_json_bool(b, "interestingOnly", out->ax_root ? 0 : 1);
  const cJSON *f;
  cJSON_ArrayForEach(f, pb_json_get(b, "formats")) {
    for (size_t i = 0; cJSON_IsString(f) && i < sizeof(formats) / sizeof(formats[0]); i++)
      if (!strcmp(f->valuestring, formats[i].name)) out->formats |= formats[i].bit;
  }
  out->prompt = pb_json_str(b, "prompt");
  const cJSON *rf = pb_json_get(b, "response_format");
  out->response_format = rf != NULL;
  out->custom_ai = pb_json_get(b, "custom_ai") != NULL;
  const cJSON *s = pb_json_get(b, "schema");
  if (!s) s = pb_json_get(rf, "json_schema");
  if (!s) s = pb_json_get(rf, "schema");
  out->schema = s;
  out->validate = pb_schema_validate_tenant;
}
