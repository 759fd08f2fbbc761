#ifndef PB_CDP_POLICY_INT_H
#define PB_CDP_POLICY_INT_H
/* Between policy.c (the checks) and policy_table.c (the reviewed table):
 * not for other modules. Each check gets the command's params (an object,
 * rewritable in place) and returns a PB_POLICY_* value. */
#include "cdp/policy.h"

#define PB__CHECKS(X)                                                                    \
  X(close)                                                                               \
  X(origins)                                                                             \
  X(download_behavior) X(browser_context) X(navigate) X(create_target) X(flatten)        \
      X(continue_request) X(response_headers) X(drag) X(upload_files) X(network_buffers) \
          X(cookie_urls) X(resource_url) X(scope_fetch) X(tracing)

#define PB__DECLARE_CHECK(name) \
  int pb__check_##name(cJSON *params, const pb_policy_env *env, char *why, size_t cap);
PB__CHECKS(PB__DECLARE_CHECK)
#undef PB__DECLARE_CHECK

extern const pb_policy_rule pb__policy_rules[];
extern const size_t pb__policy_nrules;

#endif
