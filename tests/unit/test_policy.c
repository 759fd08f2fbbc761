/* The session proxy's CDP method policy. */
#include "cdp/policy.h"
#include "test.h"

#include <string.h>

static int no_file(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  if (!strncmp(url, "http", 4) || !strcmp(url, "about:blank")) return 0;
  snprintf(why, cap, "scheme of %s not allowed", url);
  return 1;
}

static int run(const char *json, char *why, cJSON **out) {
  cJSON *m = cJSON_Parse(json);
  ASSERT(m);
  int rc = pb_cdp_policy(m, no_file, NULL, why, 256);
  if (out)
    *out = m;
  else
    cJSON_Delete(m);
  return rc;
}

static void test_denied(void) {
  char why[256];
  const char *denied[] = {
      "{\"id\":1,\"method\":\"Browser.crash\"}",
      "{\"id\":1,\"method\":\"Browser.crashGpuProcess\"}",
      "{\"id\":1,\"method\":\"Browser.executeBrowserCommand\",\"params\":{}}",
      "{\"id\":1,\"method\":\"Browser.getBrowserCommandLine\"}",
      "{\"id\":1,\"method\":\"SystemInfo.getInfo\"}",
      "{\"id\":1,\"method\":\"Tethering.bind\",\"params\":{\"port\":22}}",
      "{\"id\":1,\"method\":\"Extensions.loadUnpacked\"}",
      "{\"id\":1,\"method\":\"FileSystem.getDirectory\"}",
      "{\"id\":1,\"method\":\"Target.exposeDevToolsProtocol\"}",
      "{\"id\":1,\"method\":\"Target.setRemoteLocations\"}",
      "{\"id\":1,\"method\":\"Network.loadNetworkResource\"}",
      "{\"id\":1,\"method\":\"NoSuchDomain.method\"}",
      "{\"id\":1,\"method\":\"nodot\"}",
      "{\"id\":1}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"file:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"view-source:x\"}}",
      "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/etc/shadow\"]}}",
  };
  for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
    int rc = run(denied[i], why, NULL);
    if (rc != PB_POLICY_DENY) fprintf(stderr, "allowed: %s\n", denied[i]);
    ASSERT_EQ(rc, PB_POLICY_DENY);
    ASSERT(strlen(why) > 0);
  }
  ASSERT_EQ(run("{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"file:///x\"}}", why, NULL), PB_POLICY_DENY);
  ASSERT_CONTAINS(why, "scheme");
}

static void test_allowed(void) {
  char why[256];
  const char *ok[] = {
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"https://example.com\"}}",
      "{\"id\":2,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"1\"}}",
      "{\"id\":3,\"method\":\"Target.setDiscoverTargets\",\"params\":{\"discover\":true}}",
      "{\"id\":4,\"method\":\"Browser.getVersion\"}",
      "{\"id\":5,\"method\":\"Input.dispatchMouseEvent\",\"params\":{}}",
      "{\"id\":6,\"method\":\"Browser.setDownloadBehavior\",\"params\":{\"behavior\":\"deny\"}}",
      "{\"id\":7,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"about:blank\"}}",
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    int rc = run(ok[i], why, NULL);
    if (rc != PB_POLICY_ALLOW) fprintf(stderr, "denied: %s: %s\n", ok[i], why);
    ASSERT_EQ(rc, PB_POLICY_ALLOW);
  }
}

static void test_rewrites(void) {
  char why[256];
  cJSON *m = NULL;
  ASSERT_EQ(run("{\"id\":1,\"method\":\"Browser.close\"}", why, NULL), PB_POLICY_CLOSE);
  ASSERT_EQ(run("{\"id\":1,\"method\":\"Target.createBrowserContext\",\"params\":"
                "{\"proxyServer\":\"http://10.0.0.1:3128\",\"proxyBypassList\":\"*\",\"disposeOnDetach\":true}}",
                why, &m),
            PB_POLICY_ALLOW);
  cJSON *p = cJSON_GetObjectItem(m, "params");
  ASSERT(cJSON_GetObjectItem(p, "proxyServer") == NULL);
  ASSERT(cJSON_GetObjectItem(p, "proxyBypassList") == NULL);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(p, "disposeOnDetach")));
  cJSON_Delete(m);
  ASSERT_EQ(run("{\"id\":1,\"method\":\"Browser.setDownloadBehavior\",\"params\":"
                "{\"behavior\":\"allowAndName\",\"downloadPath\":\"/etc\",\"eventsEnabled\":true}}",
                why, &m),
            PB_POLICY_ALLOW);
  p = cJSON_GetObjectItem(m, "params");
  /* The client's path goes; the proxy puts in the session's own. */
  ASSERT_STR_EQ(cJSON_GetObjectItem(p, "behavior")->valuestring, "allowAndName");
  ASSERT(cJSON_GetObjectItem(p, "downloadPath") == NULL);
  ASSERT(cJSON_IsTrue(cJSON_GetObjectItem(p, "eventsEnabled")));
  cJSON_Delete(m);
  ASSERT_EQ(run("{\"id\":1,\"method\":\"Page.setDownloadBehavior\",\"params\":"
                "{\"behavior\":\"default\",\"downloadPath\":\"/root\"}}",
                why, &m),
            PB_POLICY_ALLOW);
  p = cJSON_GetObjectItem(m, "params");
  ASSERT_STR_EQ(cJSON_GetObjectItem(p, "behavior")->valuestring, "deny");
  ASSERT(cJSON_GetObjectItem(p, "downloadPath") == NULL);
  cJSON_Delete(m);
}

int main(void) {
  RUN(test_denied);
  RUN(test_allowed);
  RUN(test_rewrites);
  DONE();
}
