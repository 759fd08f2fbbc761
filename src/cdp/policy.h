#ifndef PB_CDP_POLICY_H
#define PB_CDP_POLICY_H
/* The method policy of the tenant-facing CDP proxy: which commands a client
 * of an acquired session may send to its browser, and how some are
 * rewritten. One table (policy_table.c) names every method of Chromium 156's
 * protocol (src/cdp/protocol_methods.txt, made by scripts/gen-cdp-policy.js)
 * as allowed, allowed after a named check, or denied, each with a reason;
 * a method the table does not name is denied. The policy looks at every
 * frame alike, whatever its sessionId. Pure: no I/O, any thread. */
#include <cjson/cJSON.h>
#include <stddef.h>

enum {
  PB_POLICY_ALLOW = 0, /* forward (msg may have been rewritten) */
  PB_POLICY_DENY,      /* answer the client with an error; why says why */
  PB_POLICY_CLOSE,     /* Browser.close: end the session cleanly */
};

/* Checks a URL the browser would fetch (navigation, createTarget, a URL
 * changed in Fetch.continueRequest, a redirect a client fulfils); returns 0
 * to allow, else writes why. The policy has already refused every scheme but
 * http, https and about:blank; the callback adds the service's address
 * rules. */
typedef int (*pb_policy_url_check)(const char *url, char *why, size_t cap, void *data);

/* Asked about a path that lies lexically inside the upload dir: 0 when it
 * is one of the files the service put there (not a link, not the browser's),
 * else non-zero. */
typedef int (*pb_policy_file_check)(const char *path, void *data);

/* What the checks need from the session. Borrowed for the call. */
typedef struct pb_policy_env {
  pb_policy_url_check url_check; /* NULL: only the scheme rule applies */
  void *url_data;
  /* Absolute dir whose files DOM.setFileInputFiles may hand to a page;
   * NULL or "": the command is refused. The policy checks paths lexically:
   * whoever fills the dir keeps symlinks out of it. */
  const char *upload_dir;
  pb_policy_file_check file_check; /* NULL: the lexical check alone */
  void *file_data;
} pb_policy_env;

/* One row of the table. */
enum { PB_RULE_ALLOW = 0, PB_RULE_CHECK, PB_RULE_DENY };
typedef int (*pb_policy_check)(cJSON *params, const pb_policy_env *env, char *why, size_t cap);
typedef struct pb_policy_rule {
  const char *method;    /* "Domain.method" */
  int kind;              /* PB_RULE_* */
  pb_policy_check check; /* PB_RULE_CHECK: returns a PB_POLICY_*; params is an object */
  const char *check_name;
  const char *reason; /* one line, for reviewers and denial messages */
} pb_policy_rule;

/* The row of method, or NULL when the table does not name it (denied). */
const pb_policy_rule *pb_cdp_policy_rule(const char *method);
/* The whole table, sorted by method (strcmp). */
size_t pb_cdp_policy_rules(const pb_policy_rule **out);

/* Applies the policy to one parsed client command {id, method, params?,
 * sessionId?}. May rewrite msg's params in place (adds an empty object when
 * there is none). Returns a PB_POLICY_* value. */
int pb_cdp_policy(cJSON *msg, const pb_policy_env *env, char *why, size_t cap);

/* Most JSON values (objects, arrays, strings, numbers...) in one client
 * frame: bounds the parse tree of a 64 MiB frame to tens of MiB. */
#define PB_CDP_FRAME_MAX_VALUES ((size_t)1 << 20)

/* Reads one client frame as strictly as an HTTP body (RFC 8259 text, UTF-8,
 * no "\u0000", no key twice at any depth, nothing after the value, at most
 * PB_CDP_FRAME_MAX_VALUES values), then applies the policy. On ALLOW/CLOSE
 * *out is a new canonical command {id, method, params, sessionId?} built
 * from the parse tree alone (the caller prints it and frees it with
 * cJSON_Delete); nothing of the frame's bytes is kept. On DENY *out holds
 * whatever of {id, sessionId, method} could be read (possibly an empty object), for
 * the error reply and the log. */
int pb_cdp_policy_frame(const char *json, size_t len, const pb_policy_env *env, cJSON **out,
                        char *why, size_t cap);

#endif
