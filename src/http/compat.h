#ifndef PB_HTTP_COMPAT_H
#define PB_HTTP_COMPAT_H
/* Peers' request and answer shapes on the same operations: a route row
 * with .compat set (routes.c) runs the op of its /browser/... twin through
 * the same auth, schema, admission, ledger and egress guard, and only its
 * request and answer are mapped here.
 *
 *   Browserless v2 (/chromium/{screenshot,pdf,content,scrape} and the
 *   unprefixed paths): ?token= (auth.c) and ?timeout= in the query, every
 *   other launch parameter refused (400 UNSUPPORTED_OPTION); Puppeteer's
 *   800x600 viewport when the body sets none; scrape's debugOpts taken
 *   out of the body. Answers: content as text/html, scrape as
 *   {data, debug}, errors as text/plain with the code in X-Error-Code.
 *
 * Private to http/; the functions take the request (internal.h). */

typedef struct req req;
typedef struct pb_server pb_server;

/* Maps r's parsed body (r->json) and URL query before the schema sees
 * them (I/O thread). 0 to go on; else the refusal is answered on r. */
int compat_request(pb_server *s, req *r);

/* After the body became r->job.opts (I/O thread): what the mapped request
 * asks of the op beyond the body (scrape's debug captures). */
void compat_job(req *r);

/* Maps r's answer (r->res) into the peer's shape, success or error: on the
 * job thread before the answer is handed back, and on the I/O thread for
 * refusals made there. Idempotent; a no-op for rows without .compat. */
void compat_answer(req *r);

#endif
