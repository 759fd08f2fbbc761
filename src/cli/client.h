#ifndef PB_CLI_CLIENT_H
#define PB_CLI_CLIENT_H
/* ppod's HTTP transport (libcurl stays inside client.c). The request and
 * response types are plain data so the command layer can run against a fake
 * transport in tests. */
#include "common/pb.h"

#include <stddef.h>

typedef struct {
  const char *method;   /* "POST" or "GET" */
  const char *base_url; /* "http://127.0.0.1:8080" */
  const char *route;    /* "/browser/screenshot" */
  const char *token;    /* sent as "Authorization: Bearer <token>"; NULL for none */
  const char *body;     /* JSON request body, or NULL */
  size_t body_len;
  size_t max_response; /* the response body's cap */
  long timeout_ms;     /* for the whole exchange; 0 for none */
} pb_cli_request;

typedef struct {
  long status;             /* HTTP status */
  char content_type[128];  /* Content-Type as sent (may carry parameters), or "" */
  long retry_after;        /* Retry-After in seconds, or -1 */
  char trace_id[64];       /* X-Trace-Id, or "" */
  pb_buf body;             /* the response body; caller frees with pb_buf_free */
} pb_cli_response;

/* Sends req and waits for the whole answer. 0 when an HTTP response arrived,
 * whatever its status: resp is filled. Otherwise resp->body is empty and err
 * holds one line: PB_EIO when the server cannot be reached or the exchange
 * failed ("cannot reach http://...: Connection refused"), PB_ETOOBIG when the
 * body is over req->max_response, PB_ENOMEM. */
typedef int (*pb_cli_send_fn)(const pb_cli_request *req, pb_cli_response *resp, char *err,
                              size_t errcap);

/* Once per process, before any pb_cli_http_send; 0 or PB_ENOMEM. */
int pb_cli_http_init(void);

/* Once per process, after the last pb_cli_http_send. */
void pb_cli_http_cleanup(void);

/* The libcurl pb_cli_send_fn. */
int pb_cli_http_send(const pb_cli_request *req, pb_cli_response *resp, char *err,
                     size_t errcap);

#endif
