#ifndef PB_CDP_PROTOCOL_H
#define PB_CDP_PROTOCOL_H
/* The CDP protocol description a session's client may fetch, as Chromium
 * answers /json/protocol (chrome-remote-interface builds its API from it):
 * src/cdp/protocol.json (scripts/gen-cdp-protocol.js, compiled in) with
 * every command the session policy (policy.h) denies removed. A domain left
 * without commands is dropped, unless a kept domain refers to its types;
 * then it stays with its types only. Pure: any thread. */
#include <stddef.h>

/* The filtered description as minified JSON. 0 and *out (NUL-terminated,
 * malloc'd: the caller frees) with *len its length; PB_ENOMEM; PB_EINVAL
 * when the compiled-in description is missing or not JSON. */
int pb_cdp_protocol_json(char **out, size_t *len);

#endif
