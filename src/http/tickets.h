#ifndef PB_HTTP_TICKETS_H
#define PB_HTTP_TICKETS_H
/* Connect tickets: what a discovery answer (/browser/sessions/{id}/json/
 * version) puts in its webSocketDebuggerUrl so that a client which can only
 * follow that URL (Puppeteer's browserURL, chrome-devtools-mcp --browserUrl)
 * reaches the session's WebSocket authenticated, without the account's
 * long-lived token travelling in a URL.
 *
 * A ticket is 128 random bits in hex, bound to the account (the pb_auth of
 * the request that asked for it) and to one session id, valid for
 * PB_TICKET_TTL_MS, and used at most once: redeeming removes it, whatever
 * the verdict. The table is bounded: an account holds at most
 * PB_TICKETS_PER_ACCOUNT (issuing one more forgets that account's oldest),
 * all accounts at most PB_TICKETS_MAX live tickets (past that, issuing is
 * refused; another account's tickets are never evicted).
 *
 * Not thread-safe: the HTTP layer uses one table on its I/O thread only. */
#include "core/store.h"

#include <stdint.h>

#define PB_TICKET_LEN 32 /* hex digits */
#define PB_TICKET_TTL_MS 60000
#define PB_TICKETS_MAX 1024
#define PB_TICKETS_PER_ACCOUNT 16

typedef struct pb_tickets pb_tickets;

/* A new empty table; 0 or PB_ENOMEM. */
int pb_tickets_new(pb_tickets **out);
/* NULL is a no-op. */
void pb_tickets_free(pb_tickets *t);

/* Issues a ticket for auth's account and session_id (1..PB_SESSION_ID_MAX-1
 * chars) at monotonic time now_ms, into out (NUL-terminated). 0; PB_EBUSY
 * when PB_TICKETS_MAX live tickets are held; PB_EINVAL for a bad argument;
 * PB_EIO when the kernel gives no randomness. */
int pb_tickets_issue(pb_tickets *t, const pb_auth *auth, const char *session_id, int64_t now_ms,
                     char out[PB_TICKET_LEN + 1]);

/* Redeems ticket for session_id at now_ms: the ticket is forgotten whatever
 * the verdict. 0 and *out the auth it was issued for; PB_ENOTFOUND for a
 * ticket unknown or already used; PB_EEXPIRED past its TTL; PB_EFORBIDDEN
 * when it was issued for another session. */
int pb_tickets_redeem(pb_tickets *t, const char *ticket, const char *session_id, int64_t now_ms,
                      pb_auth *out);

/* Live tickets held (for tests and metrics). */
int pb_tickets_count(pb_tickets *t, int64_t now_ms);

#endif
