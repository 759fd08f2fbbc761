#ifndef PB_HTTP_ERRORS_H
#define PB_HTTP_ERRORS_H
/* The one table from error code to HTTP status and default message. Ops and
 * the HTTP layer name a pb_code only; this is where it becomes a status.
 * Pure, any thread. */
#include "common/errcode.h"

/* The HTTP status of code; 500 for PB_CODE_NONE or an unknown value. */
int pb_http_status(pb_code code);
/* A sentence for code when its caller gave none. Static string. */
const char *pb_http_message(pb_code code);

#endif
