#ifndef PB_HTTP_CFOPTS_H
#define PB_HTTP_CFOPTS_H
/* Reads the options of Cloudflare's accessibilityTree, json and snapshot
 * formats (ops/cfopts.h) from a body that passed its schema. */
#include "ops/cfopts.h"

/* Fills out from body (borrowed: out points into it). Cannot fail: what the
 * schema let through is read, anything else keeps its default. */
void pb_cf_opts_read(const cJSON *body, pb_cf_opts *out);

#endif
