#ifndef PB_SCHEMAS_DATA_H
#define PB_SCHEMAS_DATA_H
/* The JSON Schemas of schemas/, compiled in (see cmake/embed_schemas.cmake). */
typedef struct {
  const char *name; /* file name without .json, e.g. "screenshot" */
  const char *text; /* the schema's JSON text, NUL-terminated */
} pb_schema_text;

/* Terminated by an entry whose name is NULL. */
extern const pb_schema_text pb_schema_texts[];
#endif
