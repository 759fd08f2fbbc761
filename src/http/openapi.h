#ifndef PB_HTTP_OPENAPI_H
#define PB_HTTP_OPENAPI_H
/* The OpenAPI 3.1 document served at GET /openapi.json, built from the same
 * embedded schemas that validate request bodies, so the two cannot drift.
 * Pure: no I/O. */
#include "http/jsonschema.h"
#include "http/routes.h"

#include <stddef.h>

/* The version of the HTTP API (info.version, GET /), not of OpenAPI. */
#define PB_API_VERSION "0.1.0"

/* A row's path in the document: its pattern, or its label when the pattern
 * has a "*" or two "{id}" (the label names them). PB_EINVAL when neither
 * is a plain path with named parameters; PB_ETOOBIG over cap. */
int pb_openapi_path(const pb_route *rt, char *out, size_t cap);

/* Builds the document as compact JSON. components.schemas holds every
 * embedded schema under its name, with $refs rewritten to point inside the
 * document ("common.json#/$defs/url" becomes
 * "#/components/schemas/common/$defs/url"); paths holds one operation per
 * body-taking route. s is borrowed. On success *json_out is NUL-terminated
 * and the caller frees it with free(); on error it is NULL. PB_ENOTFOUND if a
 * route names a schema that is not embedded, PB_ENOMEM. */
int pb_openapi_build(const pb_schemas *s, char **json_out);

#endif
