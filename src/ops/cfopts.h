#ifndef PB_OPS_CFOPTS_H
#define PB_OPS_CFOPTS_H
/* The options of the routes copied from Cloudflare's Browser Rendering that
 * have no Puppeteer counterpart: POST /browser/accessibilityTree, the
 * formats of POST /browser/snapshot and POST /browser/json. Read once by
 * http/cfopts.c into pb_request.cf; strings and objects are borrowed from
 * the validated body, like the rest of pb_request. */
#include <cjson/cJSON.h>

/* /browser/snapshot formats, as bits. */
enum {
  PB_SNAP_CONTENT = 1 << 0,
  PB_SNAP_SCREENSHOT = 1 << 1,
  PB_SNAP_MARKDOWN = 1 << 2,
  PB_SNAP_AXTREE = 1 << 3,
  PB_SNAP_META = 1 << 4,
};

/* Validates doc against a tenant's JSON Schema; 0, or PB_EINVAL with the
 * first error naming the field ("price: expected number, got string"), or
 * "schema: ..." when the schema itself is not one we can read. Pure. */
typedef int (*pb_tenant_schema_fn)(const cJSON *schema, const cJSON *doc, char *err, size_t errcap);

typedef struct {
  /* accessibilityTree (and snapshot's): interestingOnly, default true, or
   * false when root is given and interestingOnly is not; root, a CSS
   * selector (NULL: the whole page). */
  int interesting_only;
  const char *ax_root;
  unsigned formats; /* snapshot formats, PB_SNAP_* bits; 0: content and screenshot */
  /* json: prompt (NULL: none); the JSON Schema from schema,
   * response_format.json_schema or response_format.schema (NULL: none). */
  const char *prompt;
  const cJSON *schema;
  int response_format;          /* response_format given */
  int custom_ai;                /* custom_ai given (a model of the tenant's) */
  pb_tenant_schema_fn validate; /* set by the HTTP layer; NULL: none */
} pb_cf_opts;

#endif
