#ifndef PB_CLI_RETRY_H
#define PB_CLI_RETRY_H
/* ppod's retries: a transport (client.h) that sends again a request the
 * service refused with 429 or 503, as it asks. Both statuses mean the
 * service did nothing with the request (admission, a full queue, no free
 * browser, draining), so retrying any method is safe.
 *
 * A refusal is retried after its Retry-After (seconds; an HTTP date arrives
 * from libcurl as seconds too), else after 1, 2, 4 s; at most
 * PB_CLI_RETRY_MAX times ($PAPERPOD_RETRIES, 0 to 10, overrides it), and
 * never when the wait asked for is over PB_CLI_RETRY_CAP_S (a daily quota:
 * the refusal is reported at once). Each wait is announced on the error
 * stream: "ppod: busy (503 BROWSER_UNAVAILABLE), retrying in 2 s (1/3)".
 *
 * The settings are process-wide: set once by main before any request. */
#include "cli/client.h"

#include <stdio.h>

#define PB_CLI_RETRY_MAX 3
#define PB_CLI_RETRY_CAP_S 30

/* Sends through inner, announcing waits on log; sleep_ms waits (NULL: the
 * real one; tests pass a recorder). */
void pb_cli_retry_setup(pb_cli_send_fn inner, FILE *log, void (*sleep_ms)(long ms));

/* A pb_cli_send_fn: inner's result, after the retries. The last answer is
 * the one returned, whatever its status. */
int pb_cli_retry_send(const pb_cli_request *req, pb_cli_response *resp, char *err, size_t errcap);

#endif
