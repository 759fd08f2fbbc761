#ifndef PB_COMMON_JSON_H
#define PB_COMMON_JSON_H
/* Typed reads of one member of a cJSON object, for code that takes values
 * out of a request body, a CDP reply or an event. Each returns the default
 * when o is NULL or not an object, the member is missing, or it has another
 * type; none allocates. Strings are borrowed from o. Pure, any thread. */
#include <cjson/cJSON.h>

/* The member's string, or NULL. */
const char *pb_json_str(const cJSON *o, const char *name);

/* The member's number as cJSON's valueint (saturated to INT_MIN..INT_MAX),
 * or def. */
int pb_json_int(const cJSON *o, const char *name, int def);

/* The member's number, or def. */
double pb_json_num(const cJSON *o, const char *name, double def);

/* 1 if the member is the JSON literal true, else 0. */
int pb_json_true(const cJSON *o, const char *name);

/* The member's boolean, or def when it is not a boolean. */
int pb_json_bool(const cJSON *o, const char *name, int def);

/* The member itself (any type), or NULL; borrowed from o. */
const cJSON *pb_json_get(const cJSON *o, const char *name);

#endif
