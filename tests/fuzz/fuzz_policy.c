/* libFuzzer: any bytes as a client's CDP frame through the session proxy's
 * policy. */
#include "cdp/policy.h"

#include <stdint.h>

static int allow_http(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  (void)why;
  (void)cap;
  return url[0] == 'h' ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cJSON *msg = cJSON_ParseWithLength((const char *)data, size);
  if (!msg) return 0;
  char why[512];
  pb_cdp_policy(msg, allow_http, NULL, why, sizeof(why));
  char *out = cJSON_PrintUnformatted(msg);
  cJSON_free(out);
  cJSON_Delete(msg);
  return 0;
}
