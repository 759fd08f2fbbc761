#include "cdp/policy.h"

#include <stdio.h>
#include <string.h>

/* Domains a client may use. Anything else (SystemInfo, Tethering,
 * Extensions, FileSystem, Cast, PWA, ... and domains added to Chromium
 * later) is refused until someone decides it is safe. */
static const char *const allowed_domains[] = {
    "Accessibility", "Animation", "Audits", "Autofill", "BackgroundService", "Browser",
    "BluetoothEmulation", "CacheStorage", "Console", "CSS", "Debugger", "DeviceOrientation",
    "DOM", "DOMDebugger", "DOMSnapshot", "DOMStorage", "Emulation", "EventBreakpoints",
    "FedCm", "Fetch", "HeadlessExperimental", "HeapProfiler", "IndexedDB", "Input",
    "Inspector", "IO", "LayerTree", "Log", "Media", "Memory", "Network", "Overlay", "Page",
    "Performance", "PerformanceTimeline", "Preload", "Profiler", "Runtime", "Schema",
    "Security", "ServiceWorker", "Storage", "Target", "Tracing", "WebAudio",
    "WebAuthn",
};

/* Methods refused even in an allowed domain (prefix match when ending in *). */
static const char *const denied_methods[] = {
    "Browser.crash*",
    "Browser.executeBrowserCommand",
    "Browser.getBrowserCommandLine",
    "Browser.addPrivacySandbox*",
    "Target.exposeDevToolsProtocol",
    "Target.setRemoteLocations",
    "Network.loadNetworkResource",
    "IO.resolveBlob",
    "DOM.setFileInputFiles",
    "Page.addCompilationCache",
    "Storage.setStorageBucketTracking",
};

static int method_matches(const char *pattern, const char *method) {
  size_t n = strlen(pattern);
  if (n && pattern[n - 1] == '*') return !strncmp(pattern, method, n - 1);
  return !strcmp(pattern, method);
}

static int deny(char *why, size_t cap, const char *fmt, const char *arg) {
  snprintf(why, cap, fmt, arg);
  return PB_POLICY_DENY;
}

static int check_url(const cJSON *params, const char *field, pb_policy_url_check check,
                     void *data, char *why, size_t cap) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(params, field);
  if (!check || !cJSON_IsString(u)) return PB_POLICY_ALLOW;
  char reason[256];
  if (check(u->valuestring, reason, sizeof(reason), data) == 0) return PB_POLICY_ALLOW;
  snprintf(why, cap, "refused by ppod: %s", reason);
  return PB_POLICY_DENY;
}

int pb_cdp_policy(cJSON *msg, pb_policy_url_check url_check, void *data, char *why, size_t cap) {
  if (cap) why[0] = '\0';
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (!cJSON_IsString(m)) return deny(why, cap, "%s", "a command needs a method");
  const char *method = m->valuestring;
  const char *dot = strchr(method, '.');
  if (!dot || dot == method) return deny(why, cap, "refused by ppod: %s is not a CDP method", method);
  size_t dl = (size_t)(dot - method);
  int known = 0;
  for (size_t i = 0; i < sizeof(allowed_domains) / sizeof(allowed_domains[0]); i++)
    if (strlen(allowed_domains[i]) == dl && !strncmp(allowed_domains[i], method, dl)) known = 1;
  if (!known) return deny(why, cap, "refused by ppod: the %s domain is not available", method);
  for (size_t i = 0; i < sizeof(denied_methods) / sizeof(denied_methods[0]); i++)
    if (method_matches(denied_methods[i], method))
      return deny(why, cap, "refused by ppod: %s is not available in a session", method);

  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!strcmp(method, "Browser.close")) return PB_POLICY_CLOSE;
  if (!strcmp(method, "Browser.setDownloadBehavior") || !strcmp(method, "Page.setDownloadBehavior")) {
    /* Downloads must not write where the client says in the service's file
     * system. Clients such as Playwright ask for them at connect time, so
     * the command succeeds: "allow" becomes "allowAndName" with no path (the
     * proxy puts in the session's own download dir, or makes it "deny") and
     * with events on (the proxy cancels a download past the size cap);
     * anything else becomes "deny", a download then failing like one the
     * user cancelled. */
    if (cJSON_IsObject(params)) {
      const cJSON *b = cJSON_GetObjectItemCaseSensitive(params, "behavior");
      int allow = cJSON_IsString(b) &&
                  (!strcmp(b->valuestring, "allow") || !strcmp(b->valuestring, "allowAndName"));
      cJSON_DeleteItemFromObjectCaseSensitive(params, "downloadPath");
      cJSON_DeleteItemFromObjectCaseSensitive(params, "behavior");
      cJSON_AddStringToObject(params, "behavior", allow ? "allowAndName" : "deny");
      if (allow) {
        cJSON_DeleteItemFromObjectCaseSensitive(params, "eventsEnabled");
        cJSON_AddBoolToObject(params, "eventsEnabled", 1);
      }
    }
    return PB_POLICY_ALLOW;
  }
  if (!strcmp(method, "Target.createBrowserContext")) {
    /* A context must not get its own proxy around the egress guard. */
    cJSON_DeleteItemFromObjectCaseSensitive(params, "proxyServer");
    cJSON_DeleteItemFromObjectCaseSensitive(params, "proxyBypassList");
    cJSON_DeleteItemFromObjectCaseSensitive(params, "originsWithUniversalNetworkAccess");
    return PB_POLICY_ALLOW;
  }
  if (!strcmp(method, "Page.navigate") || !strcmp(method, "Target.createTarget"))
    return check_url(params, "url", url_check, data, why, cap);
  return PB_POLICY_ALLOW;
}
