#ifndef PB_CLI_CONNECT_H
#define PB_CLI_CONNECT_H
/* `ppod browser:connect <id>`: a local CDP port for an acquired session, so
 * a tool that expects `chrome --remote-debugging-port` (Puppeteer's
 * browserURL, Playwright's connectOverCDP, chrome-devtools-mcp --browserUrl,
 * browser-use's cdp_url) drives the session unchanged.
 *
 * It answers /json/version, /json/list (and /json) and /json/protocol by
 * asking the service's /browser/sessions/{id}/json/... with the saved
 * credentials; the webSocketDebuggerUrl it hands out points back at the
 * local port. A WebSocket upgrade to /devtools/browser[/...] is forwarded
 * as the service's own upgrade, with the token in a header: once the service
 * answers 101 the two sockets are spliced byte for byte, so every frame
 * (text, binary, fragments, ping/pong, close) passes untouched and the
 * service's refusal (another client connected, the session ended) reaches
 * the local client as the service wrote it.
 *
 * One thread per local connection, at most PB_CLI_CONNECT_MAX_CONNS; each
 * direction holds at most PB_CLI_CONNECT_BUF bytes, so a slow reader on
 * either side slows its writer instead of growing memory. Requests whose
 * Host is neither an IP literal nor localhost (DNS rebinding) or that carry
 * an Origin (a web page) are refused, as Chrome refuses them.
 *
 * Runs until SIGINT or SIGTERM; the session is left as it is. */
#include "cli/client.h"

#include <stdio.h>

#define PB_CLI_CONNECT_PORT 9222
#define PB_CLI_CONNECT_MAX_CONNS 32
#define PB_CLI_CONNECT_BUF ((size_t)64 << 10)

typedef struct pb_cli_connect {
  const char *base_url;   /* the service, "http://h:p[/prefix]" (no trailing '/') */
  const char *token;      /* NULL for none */
  const char *session_id; /* checked by the caller: [A-Za-z0-9_-]{1,80} */
  const char *host;       /* address to listen on; NULL for 127.0.0.1 */
  int port;               /* 0 for any free port */
  pb_cli_send_fn send;    /* for the /json/ requests */
  FILE *out;              /* the listening URL, one line, once ready */
  FILE *err;              /* messages */
} pb_cli_connect;

/* Listens and relays until SIGINT/SIGTERM. Returns a PB_CLI_EXIT_* status:
 * 0 after a signal; 1 when the port cannot be had (taken, not allowed), 2
 * when o->host is not an IP address; the reason on o->err. */
int pb_cli_connect_serve(const pb_cli_connect *o);

#endif
