#ifndef PB_HTTP_OPTIONS_H
#define PB_HTTP_OPTIONS_H
/* Request body -> typed options (ops/options.h), once per request, on the
 * I/O thread before the job is queued. */
#include "ops/options.h"

/* Reads body, which passed its route's schema, into out (defaults first;
 * see pb_request_default). Never fails: members the schema let through are
 * read, anything else keeps its default, and what only the operation can
 * judge is carried for it (ops/options.h). out borrows strings and objects
 * from body, which must outlive it. body may be NULL (all defaults). */
void pb_request_from_json(const cJSON *body, pb_request *out);

/* A screenshot whose body names no type takes the first of image/png,
 * image/jpeg, image/webp that the Accept header value accept lists (NULL:
 * no header); anything else keeps png. After pb_request_from_json. */
void pb_request_accept(const cJSON *body, const char *accept, pb_request *out);

#endif
