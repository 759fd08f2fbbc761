#ifndef PB_CDP_POLICY_H
#define PB_CDP_POLICY_H
/* The method policy of the tenant-facing CDP proxy: which commands a client
 * of an acquired session may send to its browser, and how some are
 * rewritten. Pure: no I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>

enum {
  PB_POLICY_ALLOW = 0, /* forward (msg may have been rewritten) */
  PB_POLICY_DENY,      /* answer the client with an error; why says why */
  PB_POLICY_CLOSE,     /* Browser.close: end the session cleanly */
};

/* Checks a navigation target; returns 0 to allow, else writes why. */
typedef int (*pb_policy_url_check)(const char *url, char *why, size_t cap, void *data);

/* Applies the policy to one parsed client command {id, method, params,
 * sessionId?}. May rewrite msg's params in place. url_check may be NULL
 * (then every URL is allowed). Returns a PB_POLICY_* value. */
int pb_cdp_policy(cJSON *msg, pb_policy_url_check url_check, void *data, char *why, size_t cap);

#endif
