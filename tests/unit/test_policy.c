/* The session proxy's CDP policy: the method table against the committed
 * protocol list, the strict reading of frames, every forced rewrite and
 * every path, URL and origin check. */
#include "cdp/policy.h"
#include "test.h"

#include <string.h>

/* Stands in for the daemon's address rules: loopback is refused. */
static int no_loopback(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  if (strstr(url, "127.0.0.1") || strstr(url, "localhost")) {
    snprintf(why, cap, "%s is a loopback host", url);
    return 1;
  }
  return 0;
}

static const pb_policy_env env = {.url_check = no_loopback};
/* A file check that refuses any file named "b". */
static int refuse_b(const char *path, void *data) {
  (void)data;
  const char *slash = strrchr(path, '/');
  return slash && !strcmp(slash + 1, "b");
}
static const pb_policy_env env_upload = {.url_check = no_loopback, .upload_dir = "/srv/up"};

/* Runs a frame through the policy; *out (if asked) is the canonical command. */
static int frame(const pb_policy_env *e, const char *json, char *why, cJSON **out) {
  cJSON *m = NULL;
  int rc = pb_cdp_policy_frame(json, strlen(json), e, &m, why, 512);
  ASSERT(m);
  if (out)
    *out = m;
  else
    cJSON_Delete(m);
  return rc;
}

static void expect(const pb_policy_env *e, const char *json, int verdict) {
  char why[512];
  int rc = frame(e, json, why, NULL);
  if (rc != verdict) fprintf(stderr, "verdict %d (want %d) for %s: %s\n", rc, verdict, json, why);
  ASSERT_EQ(rc, verdict);
  if (verdict == PB_POLICY_DENY) ASSERT(strlen(why) > 0);
}

static const cJSON *param(const cJSON *m, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "params"), name);
}

static void test_table_complete(void) {
  const pb_policy_rule *rules;
  size_t n = pb_cdp_policy_rules(&rules);
  for (size_t i = 0; i < n; i++) {
    if (i) ASSERT(strcmp(rules[i - 1].method, rules[i].method) < 0); /* bsearch needs it */
    ASSERT(rules[i].reason && strlen(rules[i].reason) > 5);
    ASSERT(rules[i].kind != PB_RULE_CHECK || rules[i].check);
  }
  FILE *f = fopen(PB_SOURCE_DIR "/src/cdp/protocol_methods.txt", "r");
  ASSERT(f);
  char line[8192];
  size_t listed = 0, missing = 0;
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#') continue;
    line[strcspn(line, "\t\n")] = '\0';
    listed++;
    if (!pb_cdp_policy_rule(line)) {
      fprintf(stderr, "no policy row for %s\n", line);
      missing++;
    }
  }
  fclose(f);
  ASSERT_EQ(missing, 0);
  /* No row the protocol does not know: the table is exactly the list. */
  ASSERT_EQ(listed, n);
  ASSERT(n > 650);
  ASSERT(pb_cdp_policy_rule("NoSuchDomain.method") == NULL);
}

static void test_denied(void) {
  const char *denied[] = {
      "{\"id\":1,\"method\":\"Browser.crash\"}",
      "{\"id\":1,\"method\":\"Browser.crashGpuProcess\"}",
      "{\"id\":1,\"method\":\"Browser.executeBrowserCommand\",\"params\":{}}",
      "{\"id\":1,\"method\":\"Browser.getBrowserCommandLine\"}",
      "{\"id\":1,\"method\":\"SystemInfo.getInfo\"}",
      "{\"id\":1,\"method\":\"SystemInfo.getProcessInfo\"}",
      "{\"id\":1,\"method\":\"Tethering.bind\",\"params\":{\"port\":22}}",
      "{\"id\":1,\"method\":\"Extensions.loadUnpacked\",\"params\":{\"path\":\"/\"}}",
      "{\"id\":1,\"method\":\"FileSystem.getDirectory\"}",
      "{\"id\":1,\"method\":\"PWA.launchFilesInApp\",\"params\":{\"manifestId\":\"x\",\"files\":["
      "\"/etc/passwd\"]}}",
      "{\"id\":1,\"method\":\"Cast.enable\"}",
      "{\"id\":1,\"method\":\"DeviceAccess.enable\"}",
      "{\"id\":1,\"method\":\"Target.sendMessageToTarget\",\"params\":{\"message\":\"{}\","
      "\"sessionId\":\"A\"}}",
      "{\"id\":1,\"method\":\"Target.exposeDevToolsProtocol\",\"params\":{\"targetId\":\"T\"}}",
      "{\"id\":1,\"method\":\"Target.setRemoteLocations\",\"params\":{\"locations\":[]}}",
      "{\"id\":1,\"method\":\"Target.openDevTools\",\"params\":{\"targetId\":\"T\"}}",
      "{\"id\":1,\"method\":\"Network.loadNetworkResource\",\"params\":{\"url\":\"file:///etc/"
      "passwd\",\"options\":{}}}",
      "{\"id\":1,\"method\":\"IO.resolveBlob\",\"params\":{\"objectId\":\"1\"}}",
      "{\"id\":1,\"method\":\"Page.addCompilationCache\",\"params\":{\"url\":\"http://"
      "a\",\"data\":\"\"}}",
      "{\"id\":1,\"method\":\"LayerTree.loadSnapshot\",\"params\":{\"tiles\":[]}}",
      "{\"id\":1,\"method\":\"Storage.setStorageBucketTracking\",\"params\":{\"storageKey\":"
      "\"https://a/\",\"enable\":true}}",
      "{\"id\":1,\"method\":\"Storage.overrideQuotaForOrigin\",\"params\":{\"origin\":\"https://"
      "a\",\"quotaSize\":1e15}}",
      "{\"id\":1,\"method\":\"Memory.getBrowserSamplingProfile\"}",
      "{\"id\":1,\"method\":\"Page.crash\"}",
      /* devtools-protocol knows it, Chromium 156 does not */
      "{\"id\":1,\"method\":\"Network.setRequestInterception\",\"params\":{\"patterns\":[]}}",
      "{\"id\":1,\"method\":\"NoSuchDomain.method\"}",
      "{\"id\":1,\"method\":\"nodot\"}",
      "{\"id\":1}",
      "{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":[1]}",
      "{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":\"x\"}",
  };
  for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
    expect(&env, denied[i], PB_POLICY_DENY);
  char why[512];
  frame(&env, "{\"id\":1,\"method\":\"Browser.crash\"}", why, NULL);
  ASSERT_CONTAINS(why, "crashes the browser process");
}

static void test_allowed(void) {
  const char *ok[] = {
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"https://example.com\"}}",
      "{\"id\":2,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"1\"}}",
      "{\"id\":3,\"method\":\"Target.setDiscoverTargets\",\"params\":{\"discover\":true}}",
      "{\"id\":4,\"method\":\"Browser.getVersion\"}",
      "{\"id\":5,\"method\":\"Input.dispatchMouseEvent\",\"params\":{}}",
      "{\"id\":6,\"method\":\"Browser.setDownloadBehavior\",\"params\":{\"behavior\":\"deny\"}}",
      "{\"id\":7,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"about:blank\"}}",
      "{\"id\":8,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"\"}}",
      "{\"id\":9,\"method\":\"Page.setDocumentContent\",\"params\":{\"frameId\":\"F\",\"html\":\"<"
      "a href=file:///etc>\"}}",
      "{\"id\":10,\"method\":\"Page.navigateToHistoryEntry\",\"params\":{\"entryId\":3}}",
      "{\"id\":11,\"method\":\"Page.addScriptToEvaluateOnNewDocument\",\"params\":{\"source\":"
      "\"1\"}}",
      "{\"id\":12,\"method\":\"Security.setIgnoreCertificateErrors\",\"params\":{\"ignore\":true}}",
      "{\"id\":13,\"method\":\"Page.captureSnapshot\",\"params\":{}}",
      "{\"id\":14,\"method\":\"IO.read\",\"params\":{\"handle\":\"1\"}}",
      "{\"id\":15,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"1\"},\"sessionId\":"
      "\"ABC\"}",
      "{\"id\":16,\"method\":\"Storage.getUsageAndQuota\",\"params\":{\"origin\":\"https://"
      "a.test\"}}",
      "{\"id\":17,\"method\":\"Browser.grantPermissions\",\"params\":{\"permissions\":["
      "\"geolocation\"]}}",
      "  {\"id\":18,\"method\":\"Page.enable\"}\n",
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) expect(&env, ok[i], PB_POLICY_ALLOW);
  expect(&env, "{\"id\":1,\"method\":\"Browser.close\"}", PB_POLICY_CLOSE);
}

/* Every frame is read strictly and what goes on is rebuilt from the parse. */
static void test_strict_frames(void) {
  char why[512];
  /* The policy saw the first "url", Chromium used the last. */
  ASSERT_EQ(frame(&env,
                  "{\"id\":1,\"method\":\"Page.navigate\",\"params\":"
                  "{\"url\":\"about:blank\",\"url\":\"file:///etc/passwd\"}}",
                  why, NULL),
            PB_POLICY_DENY);
  ASSERT_CONTAINS(why, "url: the key appears more than once");
  expect(&env,
         "{\"id\":1,\"method\":\"Target.createBrowserContext\",\"params\":"
         "{\"proxyServer\":\"http://a\",\"proxyServer\":\"direct://\"}}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Page.navigate\",\"method\":\"Runtime.evaluate\"}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"id\":2,\"method\":\"Page.enable\"}", PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Page.enable\",\"sessionId\":\"A\",\"sessionId\":\"B\"}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":{\"a\":{\"b\":1,\"b\":2}}}",
         PB_POLICY_DENY);
  /* "\u0000" would end cJSON's string early; Chromium's would go on. */
  expect(&env, "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"https://a\\u0000x\"}}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Page.enable\",\"params\":{\"x\":\"\xc0\xaf\"}}",
         PB_POLICY_DENY);
  /* Raw control characters would print back six times as long. */
  expect(&env, "{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":{\"expression\":\"\x01\"}}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Page.enable\"}{\"id\":2,\"method\":\"Browser.crash\"}",
         PB_POLICY_DENY);
  expect(&env, "{\"id\":1.5,\"method\":\"Page.enable\"}", PB_POLICY_DENY);
  expect(&env, "{\"id\":-1,\"method\":\"Page.enable\"}", PB_POLICY_DENY);
  expect(&env, "{\"id\":\"1\",\"method\":\"Page.enable\"}", PB_POLICY_DENY);
  expect(&env, "{\"id\":1,\"method\":\"Page.enable\",\"sessionId\":7}", PB_POLICY_DENY);
  expect(&env, "[1]", PB_POLICY_DENY);
  expect(&env, "", PB_POLICY_DENY);
  /* Too many values for the parse tree's budget. */
  size_t n = PB_CDP_FRAME_MAX_VALUES + 10;
  char *big = malloc(2 * n + 128);
  ASSERT(big);
  size_t o = (size_t)sprintf(big, "{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":{\"a\":[");
  for (size_t i = 0; i < n; i++) {
    big[o++] = '0';
    big[o++] = ',';
  }
  o--;
  o += (size_t)sprintf(big + o, "]}}");
  cJSON *m = NULL;
  ASSERT_EQ(pb_cdp_policy_frame(big, o, &env, &m, why, sizeof(why)), PB_POLICY_DENY);
  ASSERT_CONTAINS(why, "too many JSON values");
  cJSON_Delete(m);
  free(big);
  /* The error reply can still name the id and the session. */
  ASSERT_EQ(frame(&env, "{\"id\":7,\"method\":\"Browser.crash\",\"sessionId\":\"S1\"}", why, &m),
            PB_POLICY_DENY);
  ASSERT_EQ(cJSON_GetObjectItem(m, "id")->valuedouble, 7);
  ASSERT_STR_EQ(cJSON_GetObjectItem(m, "sessionId")->valuestring, "S1");
  cJSON_Delete(m);
  /* Canonical: only id, method, params, sessionId go on. */
  ASSERT_EQ(
      frame(&env, "{\"id\":3,\"method\":\"Page.enable\",\"extra\":{\"x\":1},\"sessionId\":\"S\"}",
            why, &m),
      PB_POLICY_ALLOW);
  char *text = cJSON_PrintUnformatted(m);
  ASSERT_STR_EQ(text, "{\"id\":3,\"method\":\"Page.enable\",\"params\":{},\"sessionId\":\"S\"}");
  free(text);
  cJSON_Delete(m);
}

static void test_flatten(void) {
  const char *attach[] = {
      "{\"id\":1,\"method\":\"Target.attachToTarget\",\"params\":{\"targetId\":\"T\",\"flatten\":"
      "false}}",
      "{\"id\":1,\"method\":\"Target.attachToTarget\",\"params\":{\"targetId\":\"T\"}}",
      "{\"id\":1,\"method\":\"Target.setAutoAttach\",\"params\":{\"autoAttach\":true,"
      "\"waitForDebuggerOnStart\":false,\"flatten\":false}}",
      "{\"id\":1,\"method\":\"Target.attachToBrowserTarget\"}",
      "{\"id\":1,\"method\":\"Target.autoAttachRelated\",\"params\":{\"targetId\":\"T\","
      "\"waitForDebuggerOnStart\":false}}",
      "{\"id\":1,\"method\":\"Target.setAutoAttach\",\"params\":{\"autoAttach\":true,"
      "\"waitForDebuggerOnStart\":false,\"flatten\":\"no\"},\"sessionId\":\"S\"}",
  };
  for (size_t i = 0; i < sizeof(attach) / sizeof(attach[0]); i++) {
    char why[512];
    cJSON *m = NULL;
    ASSERT_EQ(frame(&env, attach[i], why, &m), PB_POLICY_ALLOW);
    ASSERT(cJSON_IsTrue(param(m, "flatten")));
    cJSON_Delete(m);
  }
}

static void test_rewrites(void) {
  char why[512];
  cJSON *m = NULL;
  ASSERT_EQ(
      frame(
          &env,
          "{\"id\":1,\"method\":\"Target.createBrowserContext\",\"params\":"
          "{\"proxyServer\":\"http://10.0.0.1:3128\",\"proxyBypassList\":\"*\","
          "\"originsWithUniversalNetworkAccess\":[\"http://127.0.0.1\"],\"disposeOnDetach\":true}}",
          why, &m),
      PB_POLICY_ALLOW);
  ASSERT(param(m, "proxyServer") == NULL);
  ASSERT(param(m, "proxyBypassList") == NULL);
  ASSERT(param(m, "originsWithUniversalNetworkAccess") == NULL);
  ASSERT(cJSON_IsTrue(param(m, "disposeOnDetach")));
  cJSON_Delete(m);
  ASSERT_EQ(
      frame(&env,
            "{\"id\":1,\"method\":\"Browser.setDownloadBehavior\",\"params\":"
            "{\"behavior\":\"allowAndName\",\"downloadPath\":\"/etc\",\"eventsEnabled\":false}}",
            why, &m),
      PB_POLICY_ALLOW);
  /* The client's path goes; the proxy puts in the session's own. */
  ASSERT_STR_EQ(param(m, "behavior")->valuestring, "allowAndName");
  ASSERT(param(m, "downloadPath") == NULL);
  ASSERT(cJSON_IsTrue(param(m, "eventsEnabled")));
  cJSON_Delete(m);
  ASSERT_EQ(frame(&env,
                  "{\"id\":1,\"method\":\"Page.setDownloadBehavior\",\"params\":"
                  "{\"behavior\":\"default\",\"downloadPath\":\"/root\"}}",
                  why, &m),
            PB_POLICY_ALLOW);
  ASSERT_STR_EQ(param(m, "behavior")->valuestring, "deny");
  ASSERT(param(m, "downloadPath") == NULL);
  cJSON_Delete(m);
  ASSERT_EQ(frame(&env,
                  "{\"id\":1,\"method\":\"Network.enable\",\"params\":{\"maxTotalBufferSize\":1e12,"
                  "\"maxResourceBufferSize\":5,\"maxPostDataSize\":1e10}}",
                  why, &m),
            PB_POLICY_ALLOW);
  ASSERT_EQ(param(m, "maxTotalBufferSize")->valuedouble, 100.0 * 1024 * 1024);
  ASSERT_EQ(param(m, "maxResourceBufferSize")->valuedouble, 5);
  ASSERT_EQ(param(m, "maxPostDataSize")->valuedouble, 1024.0 * 1024);
  cJSON_Delete(m);
  ASSERT_EQ(
      frame(&env,
            "{\"id\":1,\"method\":\"Tracing.start\",\"params\":{\"tracingBackend\":\"system\"}}",
            why, &m),
      PB_POLICY_ALLOW);
  ASSERT_STR_EQ(param(m, "tracingBackend")->valuestring, "chrome");
  cJSON_Delete(m);
  ASSERT_EQ(
      frame(
          &env,
          "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
          "\"y\":1,\"data\":{\"items\":[],\"files\":[],\"dragOperationsMask\":1}}}",
          why, &m),
      PB_POLICY_ALLOW);
  ASSERT(cJSON_GetObjectItem(param(m, "data"), "files") == NULL);
  cJSON_Delete(m);
}

/* Every parameter that names a path, a URL, an origin or a file. */
static void test_paths_and_urls(void) {
  const char *denied[] = {
      /* navigation and new pages: scheme, then the address rules */
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"file:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"FILE:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"fi\\tle:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"javascript:alert(1)\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"chrome://version\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"view-source:file:///etc/"
      "passwd\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"http://127.0.0.1:9/\"}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":7}}",
      "{\"id\":1,\"method\":\"Page.navigate\",\"params\":{}}",
      "{\"id\":1,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"file:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Target.createTarget\",\"params\":{\"url\":\"http://localhost/\"}}",
      /* interception may not change where a request goes */
      "{\"id\":1,\"method\":\"Fetch.continueRequest\",\"params\":{\"requestId\":\"R\",\"url\":"
      "\"file:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Fetch.continueRequest\",\"params\":{\"requestId\":\"R\",\"url\":"
      "\"http://127.0.0.1:9/\"}}",
      "{\"id\":1,\"method\":\"Fetch.fulfillRequest\",\"params\":{\"requestId\":\"R\","
      "\"responseCode\":302,"
      "\"responseHeaders\":[{\"name\":\"Location\",\"value\":\"file:///etc/passwd\"}]}}",
      "{\"id\":1,\"method\":\"Fetch.fulfillRequest\",\"params\":{\"requestId\":\"R\","
      "\"responseCode\":302,"
      "\"responseHeaders\":[{\"name\":\"location\",\"value\":\"//127.0.0.1:9/\"}]}}",
      "{\"id\":1,\"method\":\"Fetch.continueResponse\",\"params\":{\"requestId\":\"R\","
      "\"responseCode\":302,"
      "\"responseHeaders\":[{\"name\":\"Location\",\"value\":\"http://127.0.0.1/\"}]}}",
      "{\"id\":1,\"method\":\"Fetch.fulfillRequest\",\"params\":{\"requestId\":\"R\","
      "\"responseCode\":200,"
      "\"binaryResponseHeaders\":\"TG9jYXRpb246IGZpbGU6Ly8vZXRjL3Bhc3N3ZAA=\"}}",
      /* host files */
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,"
      "\"data\":{\"items\":[],\"files\":[\"/etc/passwd\"],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,"
      "\"data\":{\"items\":[],\"files\":\"/etc/passwd\",\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/etc/"
      "shadow\"],\"nodeId\":1}}",
      /* a dropped URL the page does not take is opened by the browser itself */
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/uri-list\",\"data\":\"file:///etc/"
      "passwd\"}],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\" Text/URI-List; x=1\",\"data\":\"file:///"
      "\"}],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"dragEnter\","
      "\"x\":1,\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/uri-list\",\"data\":\"http:/"
      "/127.0.0.1:9/\"}],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/uri-list\",\"data\":\"http://a.test/"
      "\\r\\nfile:///etc/passwd\"}],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/x-moz-url\",\"data\":\"file:///"
      "\"}],\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/html\",\"data\":\"<b>x</b>\","
      "\"baseURL\":\"file:///etc/\"}],\"dragOperationsMask\":1}}}",
      /* names of URLs and origins */
      "{\"id\":1,\"method\":\"Network.setCookie\",\"params\":{\"name\":\"a\",\"value\":\"b\","
      "\"url\":\"file:///x\"}}",
      "{\"id\":1,\"method\":\"Network.setCookies\",\"params\":{\"cookies\":[{\"name\":\"a\","
      "\"value\":\"b\",\"url\":\"chrome://x\"}]}}",
      "{\"id\":1,\"method\":\"Storage.setCookies\",\"params\":{\"cookies\":[{\"name\":\"a\","
      "\"value\":\"b\",\"url\":\"file:///\"}]}}",
      "{\"id\":1,\"method\":\"Page.getResourceContent\",\"params\":{\"frameId\":\"F\",\"url\":"
      "\"file:///etc/passwd\"}}",
      "{\"id\":1,\"method\":\"Page.searchInResource\",\"params\":{\"frameId\":\"F\",\"url\":\"file:"
      "///etc/passwd\",\"query\":\"r\"}}",
      "{\"id\":1,\"method\":\"Storage.getUsageAndQuota\",\"params\":{\"origin\":\"file://\"}}",
      "{\"id\":1,\"method\":\"Storage.clearDataForOrigin\",\"params\":{\"origin\":\"chrome://"
      "settings\",\"storageTypes\":\"all\"}}",
      "{\"id\":1,\"method\":\"Storage.deleteStorageBucket\",\"params\":{\"bucket\":{\"storageKey\":"
      "\"file:///\",\"name\":\"b\"}}}",
      "{\"id\":1,\"method\":\"DOMStorage.getDOMStorageItems\",\"params\":{\"storageId\":{"
      "\"securityOrigin\":\"chrome://x\",\"isLocalStorage\":true}}}",
      "{\"id\":1,\"method\":\"IndexedDB.requestDatabaseNames\",\"params\":{\"storageKey\":\"chrome-"
      "extension://abc/\"}}",
      "{\"id\":1,\"method\":\"CacheStorage.requestCacheNames\",\"params\":{\"securityOrigin\":"
      "\"file://\"}}",
      "{\"id\":1,\"method\":\"Browser.grantPermissions\",\"params\":{\"permissions\":["
      "\"clipboardReadWrite\"],\"origin\":\"file://\"}}",
      "{\"id\":1,\"method\":\"Browser.setPermission\",\"params\":{\"permission\":{\"name\":"
      "\"geolocation\"},\"setting\":\"granted\",\"origin\":\"chrome://x\"}}",
      "{\"id\":1,\"method\":\"ServiceWorker.deliverPushMessage\",\"params\":{\"origin\":\"file://"
      "\",\"registrationId\":\"1\",\"data\":\"\"}}",
      "{\"id\":1,\"method\":\"ServiceWorker.updateRegistration\",\"params\":{\"scopeURL\":\"http://"
      "127.0.0.1/\"}}",
      "{\"id\":1,\"method\":\"Network.getCertificate\",\"params\":{\"origin\":\"file://\"}}",
      /* tracing through the host's Perfetto */
      "{\"id\":1,\"method\":\"Tracing.start\",\"params\":{\"perfettoConfig\":\"AAAA\"}}",
  };
  for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
    expect(&env_upload, denied[i], PB_POLICY_DENY);
  const char *ok[] = {
      "{\"id\":1,\"method\":\"Fetch.continueRequest\",\"params\":{\"requestId\":\"R\",\"url\":"
      "\"https://example.com/x\"}}",
      "{\"id\":1,\"method\":\"Fetch.continueRequest\",\"params\":{\"requestId\":\"R\"}}",
      "{\"id\":1,\"method\":\"Fetch.fulfillRequest\",\"params\":{\"requestId\":\"R\","
      "\"responseCode\":302,"
      "\"responseHeaders\":[{\"name\":\"Location\",\"value\":\"/"
      "next\"},{\"name\":\"X\",\"value\":\"file:///\"}]}}",
      "{\"id\":1,\"method\":\"Network.setCookie\",\"params\":{\"name\":\"a\",\"value\":\"b\","
      "\"url\":\"https://a.test/\"}}",
      "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":\"drop\",\"x\":1,"
      "\"y\":1,\"data\":{\"items\":[{\"mimeType\":\"text/uri-list\",\"data\":\"https://"
      "a.test/x\"},{\"mimeType\":\"text/plain\",\"data\":\"file:///etc/passwd\"},{\"mimeType\":"
      "\"text/html\",\"data\":\"<a>x</a>\",\"baseURL\":\"https://a.test/\"}],"
      "\"dragOperationsMask\":1}}}",
      "{\"id\":1,\"method\":\"Storage.clearDataForStorageKey\",\"params\":{\"storageKey\":\"https:/"
      "/a.test/^0https://b.test\",\"storageTypes\":\"all\"}}",
      "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/srv/up/a.txt\",\"/"
      "srv/up/d/b.png\"],\"nodeId\":1}}",
  };
  for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
    expect(&env_upload, ok[i], PB_POLICY_ALLOW);
  /* Uploads: only inside the session's area, and only when it has one. */
  const char *outside[] = {"/srv/up/../etc/passwd", "/srv/up",    "/srv/up/", "/srv/upx/a",
                           "/srv/up/./a",           "/srv/up//a", "srv/up/a", "/srv/up/a/"};
  for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
    char json[256];
    snprintf(json, sizeof(json),
             "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"%s\"]}}",
             outside[i]);
    expect(&env_upload, json, PB_POLICY_DENY);
  }
  expect(
      &env,
      "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/srv/up/a.txt\"]}}",
      PB_POLICY_DENY);
  /* Dropped files: the same rule as a file input. */
  const char *drop_up = "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":"
                        "\"drop\",\"x\":1,\"y\":1,\"data\":{\"items\":[],\"files\":[\"/srv/up/1/"
                        "a.txt\"],\"dragOperationsMask\":1}}}";
  const char *drop_out = "{\"id\":1,\"method\":\"Input.dispatchDragEvent\",\"params\":{\"type\":"
                         "\"drop\",\"x\":1,\"y\":1,\"data\":{\"items\":[],\"files\":[\"/srv/up/1/"
                         "a.txt\",\"/srv/up/../x\"],\"dragOperationsMask\":1}}}";
  expect(&env_upload, drop_up, PB_POLICY_ALLOW);
  expect(&env_upload, drop_out, PB_POLICY_DENY);
  expect(&env, drop_up, PB_POLICY_DENY);
  /* Inside lexically, but not one of the service's files (a link, the
   * browser's own): the file check has the last word. */
  const pb_policy_env env_checked = {.url_check = no_loopback, .upload_dir = "/srv/up",
                                     .file_check = refuse_b, .file_data = NULL};
  expect(&env_checked, drop_up, PB_POLICY_ALLOW);
  expect(&env_checked,
         "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/srv/up/1/"
         "a.txt\",\"/srv/up/2/b\"]}}",
         PB_POLICY_DENY);
  expect(&env_checked,
         "{\"id\":1,\"method\":\"DOM.setFileInputFiles\",\"params\":{\"files\":[\"/srv/up/1/"
         "a.txt\"]}}",
         PB_POLICY_ALLOW);
}

/* What a refusal says names what was refused: the method (never "the X
 * domain"), the field a check refused, or what is wrong with the frame. */
static void test_refusal_words(void) {
  static const struct {
    const char *frame, *says;
  } cases[] = {
      {"{\"id\":1,\"method\":\"Extensions.getExtensions\"}",
       "refused by ppod: Extensions.getExtensions is not available in a session (loads and drives "
       "extensions from host paths)"},
      {"{\"id\":1,\"method\":\"NoSuch.method\"}",
       "refused by ppod: NoSuch.method is not a method ppod knows"},
      {"{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"file:///etc/passwd\"}}",
       "refused by ppod: Page.navigate: url: only http, https and about:blank URLs may be loaded"},
      {"{\"id\":1,\"method\":\"Page.navigate\",\"params\":{\"url\":\"http://127.0.0.1/\"}}",
       "refused by ppod: Page.navigate: url: http://127.0.0.1/ is a loopback host"},
      {"{\"id\":1,\"method\":\"Page.navigate\",\"params\":{}}",
       "refused by ppod: Page.navigate: url is required"},
      {"{\"id\":1,\"method\":\"Runtime.evaluate\",\"params\":[1]}",
       "refused by ppod: params must be an object"},
      {"{\"id\":1,", "refused by ppod: the message is not JSON"},
      {"{\"id\":1,\"method\":\"Runtime.evaluate\"} x", "refused by ppod: text after the JSON value"},
      {"{\"method\":\"Runtime.evaluate\"}", "refused by ppod: a command needs an integer id"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char why[512];
    ASSERT_EQ(frame(&env, cases[i].frame, why, NULL), PB_POLICY_DENY);
    ASSERT_STR_EQ(why, cases[i].says);
    ASSERT(!strstr(why, "domain"));
  }
}

int main(void) {
  RUN(test_refusal_words);
  RUN(test_table_complete);
  RUN(test_denied);
  RUN(test_allowed);
  RUN(test_strict_frames);
  RUN(test_flatten);
  RUN(test_rewrites);
  RUN(test_paths_and_urls);
  DONE();
}
