/* libFuzzer: any bytes as a client's CDP frame through the session proxy's
 * strict reading and method policy. What is allowed must print back to a
 * command with the same method that the policy allows again unchanged
 * (the proxy prints it for Chromium; a second reading must agree). */
#include "cdp/policy.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int allow_http(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  (void)why;
  (void)cap;
  return strstr(url, "127.") ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const pb_policy_env env = {.url_check = allow_http, .upload_dir = "/srv/up"};
  char why[512];
  cJSON *msg = NULL;
  int v = pb_cdp_policy_frame((const char *)data, size, &env, &msg, why, sizeof(why));
  if (v != PB_POLICY_DENY) {
    char *out = cJSON_PrintUnformatted(msg);
    if (!out) abort();
    cJSON *again = NULL;
    int v2 = pb_cdp_policy_frame(out, strlen(out), &env, &again, why, sizeof(why));
    char *out2 = cJSON_PrintUnformatted(again);
    /* A rewrite is idempotent: the browser sees what the policy approved. */
    if (v2 != v || !out2 || strcmp(out, out2)) abort();
    free(out2);
    free(out);
    cJSON_Delete(again);
  }
  cJSON_Delete(msg);
  return 0;
}
