#ifndef PB_HTTP_JSONSCHEMA_H
#define PB_HTTP_JSONSCHEMA_H
/* Validation of request bodies against the JSON Schemas in schemas/ (compiled
 * in, see common/schemas_data.h). Supports the draft 2020-12 subset the
 * project's schemas use: type (incl. "integer" and type arrays), properties,
 * required, additionalProperties (bool or schema), enum, const, minimum,
 * maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern
 * (POSIX ERE), items, minItems, maxItems, oneOf, anyOf, allOf, not,
 * dependentRequired, $ref to "#/$defs/..." and to "other.json#/$defs/...".
 * Pure: no I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct pb_schemas pb_schemas;

/* Parses every embedded schema. *out is NULL on error. */
int pb_schemas_load(pb_schemas **out);
void pb_schemas_free(pb_schemas *s);

/* The parsed schema by name ("screenshot"), borrowed; NULL if unknown. */
const cJSON *pb_schemas_get(const pb_schemas *s, const char *name);

/* Validates doc against schema `name`. Returns 0, or PB_EINVAL with a message
 * naming the field by JSON path, e.g. "viewport.width: must be >= 1" or
 * "screenshotOptions.quality: not allowed when type is png", written to err
 * (always NUL-terminated). PB_ENOTFOUND for an unknown schema name. */
int pb_schemas_validate(const pb_schemas *s, const char *name, const cJSON *doc, char *err,
                        size_t errcap);

/* Validates doc against schema, a JSON Schema a tenant sent (POST
 * /browser/json). The schema is checked first, as ours are, except that
 * keywords we do not know are taken as annotations; its patterns run on the
 * bounded engine, its $refs reach only into itself, and the walk has the
 * same depth and step limits. PB_EINVAL with err "schema: ..." for a
 * schema we cannot read, or the first error of doc naming its field. */
int pb_schema_validate_tenant(const cJSON *schema, const cJSON *doc, char *err, size_t errcap);

#endif
