/* libFuzzer: client frames built from the protocol description
 * (src/cdp/protocol_methods.txt): the input picks a method, then for each of
 * its parameters a shape (absent, its type, another type, a hostile URL or
 * path, a nested object, a duplicate key) and where the frame's own members
 * go (sessionId, duplicate id/method/params). Every frame goes through
 * pb_cdp_policy_frame, and what it lets through must keep the promises the
 * table makes: no denied method, no duplicate key, attach forced flat, no
 * context proxy, no dropped files, no upload outside the area, no file: or
 * loopback URL in a field the browser loads, and a second reading of the
 * printed command agrees with the first. */
#include "cdp/policy.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef PB_SOURCE_DIR
#define PB_SOURCE_DIR "."
#endif

typedef struct {
  char *method;
  int nparams;
  char *names[32];
  char types[32]; /* s string, i integer, n number, b boolean, o object, a array, ? any */
} method_desc;

static method_desc *methods;
static size_t nmethods;

static void load(void) {
  FILE *f = fopen(PB_SOURCE_DIR "/src/cdp/protocol_methods.txt", "r");
  if (!f) abort();
  static char line[16384];
  while (fgets(line, sizeof(line), f)) {
    if (line[0] == '#') continue;
    line[strcspn(line, "\n")] = '\0';
    char *tab1 = strchr(line, '\t');
    if (!tab1) continue;
    *tab1 = '\0';
    char *tab2 = strchr(tab1 + 1, '\t');
    methods = realloc(methods, (nmethods + 1) * sizeof(*methods));
    method_desc *m = &methods[nmethods++];
    memset(m, 0, sizeof(*m));
    m->method = strdup(line);
    for (char *tok = tab2 ? strtok(tab2 + 1, " ") : NULL; tok && m->nparams < 32;
         tok = strtok(NULL, " ")) {
      char *colon = strchr(tok, ':');
      if (!colon) continue;
      *colon = '\0';
      m->names[m->nparams] = strdup(tok);
      m->types[m->nparams] = colon[1] ? colon[1] : '?';
      m->nparams++;
    }
  }
  fclose(f);
}

/* Values an attacker would try in a string parameter. */
static const char *const hostile[] = {
    "file:///etc/passwd",
    "FILE:///etc/passwd",
    "fi\\tle:///etc/passwd",
    "http://127.0.0.1:9/",
    "http://localhost/",
    "chrome://version",
    "view-source:file:///",
    "javascript:1",
    "about:blank",
    "https://example.com/",
    "",
    "/etc/passwd",
    "/srv/up/a",
    "/srv/up/../etc/passwd",
    "direct://",
    "//127.0.0.1/",
    "data:text/html,x",
    "\\u0000",
    "\\ud800",
    "blob:https://a/x",
    "file://",
    "https://a.test/^0https://b.test",
    "system",
    "allow",
    "allowAndName",
    "Location",
};

typedef struct {
  const uint8_t *p;
  size_t n;
} input;

static unsigned take(input *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

static void put(char *buf, size_t cap, size_t *o, const char *s) {
  size_t l = strlen(s);
  if (*o + l < cap) {
    memcpy(buf + *o, s, l);
    *o += l;
    buf[*o] = '\0';
  }
}

static void put_value(char *buf, size_t cap, size_t *o, char type, input *in, int depth);

static void put_string(char *buf, size_t cap, size_t *o, input *in) {
  unsigned c = take(in);
  put(buf, cap, o, "\"");
  if (c < 200) {
    put(buf, cap, o, hostile[c % (sizeof(hostile) / sizeof(hostile[0]))]);
  } else {
    /* A few raw bytes, escaped enough to stay a string. */
    unsigned n = take(in) % 16;
    for (unsigned i = 0; i < n; i++) {
      char ch[2] = {(char)take(in), 0};
      if (ch[0] == '"' || ch[0] == '\\' || (unsigned char)ch[0] < 0x20) ch[0] = 'x';
      put(buf, cap, o, ch);
    }
  }
  put(buf, cap, o, "\"");
}

/* An object with keys the checks look at, maybe twice. */
static void put_object(char *buf, size_t cap, size_t *o, input *in, int depth) {
  static const char *const keys[] = {"url",      "files",    "origin",       "storageKey",
                                     "name",     "value",    "items",        "securityOrigin",
                                     "flatten",  "behavior", "downloadPath", "proxyServer",
                                     "scopeURL", "data"};
  put(buf, cap, o, "{");
  unsigned n = depth > 3 ? 0 : take(in) % 4;
  for (unsigned i = 0; i < n; i++) {
    if (i) put(buf, cap, o, ",");
    put(buf, cap, o, "\"");
    put(buf, cap, o, keys[take(in) % (sizeof(keys) / sizeof(keys[0]))]);
    put(buf, cap, o, "\":");
    put_value(buf, cap, o, "sobao"[take(in) % 5], in, depth + 1);
  }
  put(buf, cap, o, "}");
}

static void put_value(char *buf, size_t cap, size_t *o, char type, input *in, int depth) {
  unsigned shape = take(in) % 8;
  if (shape == 7) type = "sinboa"[take(in) % 6]; /* the wrong type */
  switch (type) {
    case 's':
      put_string(buf, cap, o, in);
      break;
    case 'i':
      put(buf, cap, o, take(in) & 1 ? "1" : "-7");
      break;
    case 'n':
      put(buf, cap, o, take(in) & 1 ? "1e308" : "0.5");
      break;
    case 'b':
      put(buf, cap, o, take(in) & 1 ? "true" : "false");
      break;
    case 'a': {
      put(buf, cap, o, "[");
      unsigned n = depth > 3 ? 0 : take(in) % 3;
      for (unsigned i = 0; i < n; i++) {
        if (i) put(buf, cap, o, ",");
        put_value(buf, cap, o, take(in) & 1 ? 's' : 'o', in, depth + 1);
      }
      put(buf, cap, o, "]");
      break;
    }
    default:
      put_object(buf, cap, o, in, depth);
      break;
  }
}

/* 1 when the string names a place a browser-loaded field must not go. */
static int bad_load(const char *u) {
  return strncasecmp(u, "http://", 7) && strncasecmp(u, "https://", 8) &&
         strcasecmp(u, "about:blank") && u[0];
}

static const cJSON *param(const cJSON *msg, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(msg, "params"), name);
}

static int loopback(const char *url, char *why, size_t cap, void *data) {
  (void)data;
  if (strstr(url, "127.0.0.1") || strstr(url, "localhost")) {
    snprintf(why, cap, "loopback");
    return 1;
  }
  return 0;
}

/* What an allowed command must look like. */
static void check_allowed(const cJSON *msg) {
  const char *m = cJSON_GetObjectItemCaseSensitive(msg, "method")->valuestring;
  const pb_policy_rule *rule = pb_cdp_policy_rule(m);
  if (!rule || rule->kind == PB_RULE_DENY) abort();
  if (!strcmp(m, "Target.attachToTarget") || !strcmp(m, "Target.setAutoAttach") ||
      !strcmp(m, "Target.attachToBrowserTarget") || !strcmp(m, "Target.autoAttachRelated"))
    if (!cJSON_IsTrue(param(msg, "flatten"))) abort();
  if (!strcmp(m, "Target.createBrowserContext") &&
      (param(msg, "proxyServer") || param(msg, "proxyBypassList") ||
       param(msg, "originsWithUniversalNetworkAccess")))
    abort();
  if (!strcmp(m, "Input.dispatchDragEvent")) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(param(msg, "data"), "files");
    if (files) abort();
  }
  if (!strcmp(m, "DOM.setFileInputFiles")) {
    const cJSON *f;
    cJSON_ArrayForEach(f, param(msg, "files")) {
      if (!cJSON_IsString(f) || strncmp(f->valuestring, "/srv/up/", 8) ||
          strstr(f->valuestring, ".."))
        abort();
    }
  }
  if (!strcmp(m, "Page.navigate") || !strcmp(m, "Target.createTarget") ||
      !strcmp(m, "Fetch.continueRequest")) {
    const cJSON *u = param(msg, "url");
    if (u &&
        (!cJSON_IsString(u) || bad_load(u->valuestring) || strstr(u->valuestring, "127.0.0.1")))
      abort();
  }
  if (!strcmp(m, "Page.setDownloadBehavior") || !strcmp(m, "Browser.setDownloadBehavior"))
    if (param(msg, "downloadPath")) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!methods) load();
  if (!nmethods) abort();
  input in = {data, size};
  unsigned pick = take(&in) | take(&in) << 8;
  const method_desc *md = &methods[pick % nmethods];
  unsigned flags = take(&in);
  static char buf[1 << 16];
  size_t o = 0;
  buf[0] = '\0';
  put(buf, sizeof(buf), &o, "{\"id\":7,\"method\":\"");
  put(buf, sizeof(buf), &o, md->method);
  put(buf, sizeof(buf), &o, "\"");
  if (flags & 1) put(buf, sizeof(buf), &o, ",\"sessionId\":\"S1\"");
  if (flags & 2) put(buf, sizeof(buf), &o, ",\"method\":\"Runtime.evaluate\"");
  if (flags & 4) put(buf, sizeof(buf), &o, ",\"id\":8");
  put(buf, sizeof(buf), &o, ",\"params\":{");
  int first = 1, dup = 0;
  for (int i = 0; i < md->nparams; i++) {
    unsigned shape = take(&in) % 4;
    if (shape == 0) continue; /* absent */
    dup |= shape == 3;
    for (int twice = 0; twice < (shape == 3 ? 2 : 1); twice++) {
      if (!first) put(buf, sizeof(buf), &o, ",");
      first = 0;
      put(buf, sizeof(buf), &o, "\"");
      put(buf, sizeof(buf), &o, md->names[i]);
      put(buf, sizeof(buf), &o, "\":");
      put_value(buf, sizeof(buf), &o, md->types[i], &in, 0);
    }
  }
  put(buf, sizeof(buf), &o, "}");
  if (flags & 8) put(buf, sizeof(buf), &o, ",\"params\":{}");
  put(buf, sizeof(buf), &o, "}");

  static const pb_policy_env env = {.url_check = loopback, .upload_dir = "/srv/up"};
  char why[512];
  cJSON *msg = NULL;
  int v = pb_cdp_policy_frame(buf, o, &env, &msg, why, sizeof(why));
  if (v == PB_POLICY_DENY) {
    if (!why[0]) abort(); /* a refusal always says why */
  } else {
    if ((flags & (2 | 4 | 8)) || dup) abort(); /* a key twice got through */
    check_allowed(msg);
    char *text = cJSON_PrintUnformatted(msg);
    cJSON *again = NULL;
    int v2 = pb_cdp_policy_frame(text, strlen(text), &env, &again, why, sizeof(why));
    char *text2 = cJSON_PrintUnformatted(again);
    if (v2 != v || strcmp(text, text2)) abort();
    free(text);
    free(text2);
    cJSON_Delete(again);
  }
  cJSON_Delete(msg);
  return 0;
}
