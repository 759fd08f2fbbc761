#include "cdp/policy.h"

#include "cdp/cdp.h"
#include "cdp/policy_int.h"
#include "common/jsontext.h"
#include "common/pb.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int deny(char *why, size_t cap, const char *fmt, const char *arg) {
  snprintf(why, cap, fmt, arg);
  return PB_POLICY_DENY;
}

/* --- URL and origin rules shared by the checks ------------------------- */

static int has_prefix_ci(const char *s, const char *prefix) {
  return !strncasecmp(s, prefix, strlen(prefix));
}

/* A web URL: http(s), no control characters or spaces (Chromium strips
 * some of them, which would make "fi\tle:" a file: URL). */
static int web_url(const char *u) {
  for (const char *c = u; *c; c++)
    if ((unsigned char)*c <= 0x20 || *c == 0x7f) return 0;
  return has_prefix_ci(u, "http://") || has_prefix_ci(u, "https://");
}

/* A URL the browser will fetch: http(s) or about:blank, then the service's
 * address rules. */
static int fetch_url(const char *u, const pb_policy_env *env, const char *field, char *why,
                     size_t cap) {
  if (!web_url(u) && strcasecmp(u, "about:blank")) {
    snprintf(why, cap, "refused by ppod: %s: only http, https and about:blank URLs may be loaded",
             field);
    return PB_POLICY_DENY;
  }
  if (env && env->url_check) {
    char reason[256] = "";
    if (env->url_check(u, reason, sizeof(reason), env->url_data)) {
      snprintf(why, cap, "refused by ppod: %s: %s", field, reason[0] ? reason : "not allowed");
      return PB_POLICY_DENY;
    }
  }
  return PB_POLICY_ALLOW;
}

/* An optional string field that must be a URL the browser may fetch. */
static int fetch_field(cJSON *params, const char *field, int required, const pb_policy_env *env,
                       char *why, size_t cap) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(params, field);
  if (!u)
    return required ? deny(why, cap, "refused by ppod: %s is required", field) : PB_POLICY_ALLOW;
  if (!cJSON_IsString(u)) return deny(why, cap, "refused by ppod: %s must be a string", field);
  return fetch_url(u->valuestring, env, field, why, cap);
}

/* An optional string field that names (does not load) a URL: web URLs only. */
static int name_field(const cJSON *params, const char *field, char *why, size_t cap) {
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(params, field);
  if (!u) return PB_POLICY_ALLOW;
  if (!cJSON_IsString(u) || !web_url(u->valuestring))
    return deny(why, cap, "refused by ppod: %s must be an http or https URL", field);
  return PB_POLICY_ALLOW;
}

/* Parameters that name an origin, a storage key or a service worker scope,
 * at any depth (DOMStorage's storageId, Storage's bucket...). */
static const char *const origin_keys[] = {"origin",        "securityOrigin", "storageKey",
                                          "issuerOrigin",  "embeddedOrigin", "scopeURL",
                                          "topLevelOrigin"};

static int walk_origins(const cJSON *node, char *why, size_t cap) {
  const cJSON *c;
  cJSON_ArrayForEach(c, node) {
    if (c->string) {
      for (size_t i = 0; i < sizeof(origin_keys) / sizeof(origin_keys[0]); i++)
        if (!strcmp(c->string, origin_keys[i]) && (!cJSON_IsString(c) || !web_url(c->valuestring)))
          return deny(why, cap, "refused by ppod: %s must be an http or https origin", c->string);
    }
    if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && walk_origins(c, why, cap)) return PB_POLICY_DENY;
  }
  return PB_POLICY_ALLOW;
}

/* --- The checks named in the table ------------------------------------- */

int pb__check_close(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  return PB_POLICY_CLOSE;
}

int pb__check_origins(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  return walk_origins(params, why, cap);
}

int pb__check_download_behavior(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* Downloads must not write where the client says in the service's file
   * system. Clients such as Playwright ask for them at connect time, so the
   * command succeeds: "allow" becomes "allowAndName" with no path (the proxy
   * puts in the session's own download dir, or makes it "deny") and with
   * events on (the proxy cancels a download past the size cap); anything
   * else becomes "deny", a download then failing like one the user
   * cancelled. */
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
  return PB_POLICY_ALLOW;
}

int pb__check_browser_context(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* A context must not get its own proxy around the egress guard, nor
   * origins that may reach any other. */
  cJSON_DeleteItemFromObjectCaseSensitive(params, "proxyServer");
  cJSON_DeleteItemFromObjectCaseSensitive(params, "proxyBypassList");
  cJSON_DeleteItemFromObjectCaseSensitive(params, "originsWithUniversalNetworkAccess");
  return PB_POLICY_ALLOW;
}

int pb__check_navigate(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  return fetch_field(params, "url", 1, env, why, cap);
}

int pb__check_create_target(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* Chromium opens about:blank for "". */
  const cJSON *u = cJSON_GetObjectItemCaseSensitive(params, "url");
  if (cJSON_IsString(u) && !u->valuestring[0]) return PB_POLICY_ALLOW;
  return fetch_field(params, "url", 1, env, why, cap);
}

int pb__check_flatten(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* A non-flat session's commands travel inside Target.sendMessageToTarget
   * (denied); flat ones come through here as frames of their own. */
  cJSON_DeleteItemFromObjectCaseSensitive(params, "flatten");
  cJSON_AddBoolToObject(params, "flatten", 1);
  return PB_POLICY_ALLOW;
}

int pb__check_continue_request(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  return fetch_field(params, "url", 0, env, why, cap);
}

int pb__check_response_headers(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* A redirect the client makes up is a load of its Location. */
  if (cJSON_GetObjectItemCaseSensitive(params, "binaryResponseHeaders"))
    return deny(why, cap, "refused by ppod: %s is not supported; use responseHeaders",
                "binaryResponseHeaders");
  const cJSON *hs = cJSON_GetObjectItemCaseSensitive(params, "responseHeaders");
  const cJSON *h;
  cJSON_ArrayForEach(h, hs) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(h, "name");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, "value");
    if (!cJSON_IsString(n) || strcasecmp(n->valuestring, "location")) continue;
    if (!cJSON_IsString(v))
      return deny(why, cap, "refused by ppod: %s must be a string", "Location");
    const char *loc = v->valuestring;
    /* A path stays on the request's origin, which was already let through;
     * a scheme or a "//host" goes elsewhere. */
    size_t scheme = strcspn(loc, ":/?#\\");
    if (loc[scheme] == ':' ||
        (strchr("/\\", loc[0]) && loc[0] && strchr("/\\", loc[1]) && loc[1])) {
      char abs[4096];
      snprintf(abs, sizeof(abs), "%s%s", loc[scheme] == ':' ? "" : "http:", loc);
      int rc = fetch_url(abs, env, "Location", why, cap);
      if (rc) return rc;
    }
  }
  return PB_POLICY_ALLOW;
}

static int upload_paths(const cJSON *files, const pb_policy_env *env, char *why, size_t cap);

/* A drag item's type as Chromium compares it: without surrounding blanks or
 * parameters, lowercased. */
static void drag_type(const char *t, char *out, size_t cap) {
  while (*t == ' ' || *t == '\t') t++;
  size_t n = 0;
  for (; *t && *t != ';' && n + 1 < cap; t++) out[n++] = (char)tolower((unsigned char)*t);
  while (n && (out[n - 1] == ' ' || out[n - 1] == '\t')) n--;
  out[n] = '\0';
}

int pb__check_drag(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* Dropped files are read by the page from the host's file system, and a
   * dropped URL the page does not take is opened by the browser itself, in
   * a new tab, like a navigation the client asked for: file: and any other
   * address would get around Page.navigate's check. */
  cJSON *data = cJSON_GetObjectItemCaseSensitive(params, "data");
  cJSON *files = cJSON_GetObjectItemCaseSensitive(data, "files");
  if (files) {
    /* Files only from the session's upload area, as for a file input. */
    if (cJSON_IsArray(files) && cJSON_GetArraySize(files) == 0) {
      cJSON_DeleteItemFromObjectCaseSensitive(data, "files");
    } else if (!env || !env->upload_dir || !env->upload_dir[0]) {
      return deny(why, cap, "refused by ppod: %s cannot carry files: the session has no upload area",
                  "Input.dispatchDragEvent");
    } else {
      int rc = upload_paths(files, env, why, cap);
      if (rc) return rc;
    }
  }
  const cJSON *item;
  cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(data, "items")) {
    const cJSON *mime = cJSON_GetObjectItemCaseSensitive(item, "mimeType");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(item, "data");
    char type[64];
    drag_type(cJSON_IsString(mime) ? mime->valuestring : "", type, sizeof(type));
    if (!strcmp(type, "text/uri-list")) {
      if (!cJSON_IsString(text))
        return deny(why, cap, "refused by ppod: %s must be a string", "text/uri-list data");
      int rc = fetch_url(text->valuestring, env, "a dropped URL", why, cap);
      if (rc) return rc;
    } else if (strstr(type, "url") || strstr(type, "uri")) {
      return deny(why, cap,
                  "refused by ppod: drag data of type %s is not supported; use text/uri-list",
                  type);
    }
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(item, "baseURL");
    if (base && (!cJSON_IsString(base) || (base->valuestring[0] && !web_url(base->valuestring) &&
                                           strcasecmp(base->valuestring, "about:blank"))))
      return deny(why, cap, "refused by ppod: %s must be an http or https URL", "baseURL");
  }
  return PB_POLICY_ALLOW;
}

/* path lies strictly inside dir, lexically: absolute, no "." or ".."
 * component, no empty component. */
static int inside_dir(const char *path, const char *dir) {
  size_t dl = strlen(dir);
  while (dl > 1 && dir[dl - 1] == '/') dl--;
  if (dir[0] != '/' || strncmp(path, dir, dl) || path[dl] != '/') return 0;
  const char *p = path + dl + 1;
  if (!*p) return 0;
  while (*p) {
    size_t n = strcspn(p, "/");
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) return 0;
    p += n;
    if (*p == '/') p++;
    if (!*p && p[-1] == '/') return 0;
  }
  return 1;
}

/* Every path of files lies inside the upload dir and is one of its own
 * files (env->file_check). */
static int upload_paths(const cJSON *files, const pb_policy_env *env, char *why, size_t cap) {
  if (!cJSON_IsArray(files)) return deny(why, cap, "refused by ppod: %s must be an array", "files");
  const cJSON *f;
  cJSON_ArrayForEach(f, files) {
    if (!cJSON_IsString(f) || !inside_dir(f->valuestring, env->upload_dir) ||
        (env->file_check && env->file_check(f->valuestring, env->file_data)))
      return deny(why, cap,
                  "refused by ppod: files may only name files uploaded to the session (POST "
                  "/browser/sessions/{id}/files), inside %s",
                  env->upload_dir);
  }
  return PB_POLICY_ALLOW;
}

int pb__check_upload_files(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  if (!env || !env->upload_dir || !env->upload_dir[0])
    return deny(why, cap, "refused by ppod: %s is not available: the session has no upload area",
                "DOM.setFileInputFiles");
  return upload_paths(cJSON_GetObjectItemCaseSensitive(params, "files"), env, why, cap);
}

/* Chromium's own defaults: the renderer keeps bodies of this size for
 * Network.getResponseBody. A client may ask for less, not more. */
static void clamp_number(cJSON *params, const char *field, double max) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(params, field);
  if (cJSON_IsNumber(v) && !(v->valuedouble <= max)) cJSON_SetNumberValue(v, max);
}

int pb__check_network_buffers(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  clamp_number(params, "maxTotalBufferSize", 100.0 * 1024 * 1024);
  clamp_number(params, "maxResourceBufferSize", 10.0 * 1024 * 1024);
  clamp_number(params, "maxPostDataSize", 1.0 * 1024 * 1024);
  return PB_POLICY_ALLOW;
}

int pb__check_cookie_urls(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  if (name_field(params, "url", why, cap)) return PB_POLICY_DENY;
  const cJSON *c;
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(params, "cookies")) {
    if (name_field(c, "url", why, cap)) return PB_POLICY_DENY;
  }
  return PB_POLICY_ALLOW;
}

int pb__check_resource_url(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* Meant for resources the page already loaded, which passed the same
   * rules; anything else is refused rather than trusted not to load. */
  return fetch_field(params, "url", 0, env, why, cap);
}

int pb__check_scope_fetch(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  return fetch_field(params, "scopeURL", 1, env, why, cap);
}

int pb__check_tracing(cJSON *params, const pb_policy_env *env, char *why, size_t cap) {
  /* The "system" backend talks to the host's Perfetto daemon; a Perfetto
   * config is an opaque protobuf that could turn on system data sources. */
  if (cJSON_GetObjectItemCaseSensitive(params, "perfettoConfig"))
    return deny(why, cap, "refused by ppod: %s is not supported; use traceConfig",
                "perfettoConfig");
  cJSON_DeleteItemFromObjectCaseSensitive(params, "tracingBackend");
  cJSON_AddStringToObject(params, "tracingBackend", "chrome");
  return PB_POLICY_ALLOW;
}

/* --- The table and the frame ------------------------------------------- */

static int by_method(const void *key, const void *row) {
  return strcmp((const char *)key, ((const pb_policy_rule *)row)->method);
}

const pb_policy_rule *pb_cdp_policy_rule(const char *method) {
  return bsearch(method, pb__policy_rules, pb__policy_nrules, sizeof(pb__policy_rules[0]),
                 by_method);
}

size_t pb_cdp_policy_rules(const pb_policy_rule **out) {
  *out = pb__policy_rules;
  return pb__policy_nrules;
}

int pb_cdp_policy(cJSON *msg, const pb_policy_env *env, char *why, size_t cap) {
  if (cap) why[0] = '\0';
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (!cJSON_IsString(m)) return deny(why, cap, "%s", "refused by ppod: a command needs a method");
  const char *method = m->valuestring;
  const pb_policy_rule *rule = pb_cdp_policy_rule(method);
  if (!rule) return deny(why, cap, "refused by ppod: %s is not a method ppod knows", method);
  if (rule->kind == PB_RULE_DENY) {
    snprintf(why, cap, "refused by ppod: %s is not available in a session (%s)", method,
             rule->reason);
    return PB_POLICY_DENY;
  }
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!params) params = cJSON_AddObjectToObject(msg, "params");
  if (!cJSON_IsObject(params))
    return deny(why, cap, "%s", "refused by ppod: params must be an object");
  if (rule->kind != PB_RULE_CHECK) return PB_POLICY_ALLOW;
  int verdict = rule->check(params, env, why, cap);
  /* A check names the field it refused; the reply names the method too. */
  static const char prefix[] = "refused by ppod: ";
  if (verdict == PB_POLICY_DENY && !strstr(why, method) &&
      !strncmp(why, prefix, sizeof(prefix) - 1)) {
    char rest[512];
    pb_strlcpy(rest, why + sizeof(prefix) - 1, sizeof(rest));
    snprintf(why, cap, "%s%s: %s", prefix, method, rest);
  }
  return verdict;
}

/* Counts JSON values cheaply (every value but the first follows a '[',
 * ',' or ':' outside a string), stopping past max. */
static size_t count_values(const char *s, size_t len, size_t max) {
  size_t n = 1;
  int in_string = 0;
  for (size_t i = 0; i < len && n <= max; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = 0;
    } else if (c == '"') {
      in_string = 1;
    } else if (c == '[' || c == ',' || c == ':') {
      n++;
    }
  }
  return n;
}

/* Short printable ASCII: safe to echo in a reply or a log line even when the
 * frame around it was refused for its encoding. */
static int token(const char *s, size_t max) {
  size_t n = 0;
  for (; s[n]; n++)
    if (n >= max || s[n] <= 0x20 || s[n] > 0x7e) return 0;
  return n > 0;
}

int pb_cdp_policy_frame(const char *json, size_t len, const pb_policy_env *env, cJSON **out,
                        char *why, size_t cap) {
  *out = cJSON_CreateObject();
  if (cap) why[0] = '\0';
  if (!*out) return deny(why, cap, "%s", "refused by ppod: out of memory");
  char err[512];
  if (len > PB_CDP_MESSAGE_MAX)
    return deny(why, cap, "%s", "refused by ppod: the message is larger than 64 MiB");
  if (count_values(json, len, PB_CDP_FRAME_MAX_VALUES) > PB_CDP_FRAME_MAX_VALUES)
    return deny(why, cap, "%s", "refused by ppod: the message holds too many JSON values");
  const char *end = NULL;
  cJSON *msg = cJSON_ParseWithLengthOpts(json, len, &end, 0);
  if (!msg) return deny(why, cap, "%s", "refused by ppod: the message is not JSON");
  while (end && end < json + len && strchr(" \t\r\n", *end)) end++;
  int verdict = PB_POLICY_DENY;
  if (!cJSON_IsObject(msg)) {
    deny(why, cap, "%s", "refused by ppod: a command is a JSON object");
    goto done;
  }
  /* Keep what the error reply needs before anything else can fail. */
  cJSON *id = cJSON_GetObjectItemCaseSensitive(msg, "id");
  cJSON *sid = cJSON_GetObjectItemCaseSensitive(msg, "sessionId");
  if (cJSON_IsNumber(id)) cJSON_AddNumberToObject(*out, "id", id->valuedouble);
  if (cJSON_IsString(sid) && token(sid->valuestring, 64))
    cJSON_AddStringToObject(*out, "sessionId", sid->valuestring);
  const cJSON *mname = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (cJSON_IsString(mname) && token(mname->valuestring, 128))
    cJSON_AddStringToObject(*out, "method", mname->valuestring); /* for the log line */
  if (!end || end != json + len) {
    deny(why, cap, "%s", "refused by ppod: text after the JSON value");
    goto done;
  }
  /* After the id is known, so the client learns which command failed. */
  if (pb_json_text_check(json, len, err, sizeof(err))) {
    snprintf(why, cap, "refused by ppod: %s", err);
    goto done;
  }
  if (pb_json_dup_keys(msg, err, sizeof(err))) {
    snprintf(why, cap, "refused by ppod: %s", err);
    goto done;
  }
  if (!cJSON_IsNumber(id) || !isfinite(id->valuedouble) || id->valuedouble < 0 ||
      id->valuedouble > 9007199254740991.0 || floor(id->valuedouble) != id->valuedouble) {
    deny(why, cap, "%s", "refused by ppod: a command needs an integer id");
    goto done;
  }
  if (sid && (!cJSON_IsString(sid) || strlen(sid->valuestring) >= 64)) {
    deny(why, cap, "%s", "refused by ppod: sessionId must be a session's id");
    goto done;
  }
  cJSON *method = cJSON_GetObjectItemCaseSensitive(msg, "method");
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (!cJSON_IsString(method)) {
    deny(why, cap, "%s", "refused by ppod: a command needs a method");
    goto done;
  }
  if (params && !cJSON_IsObject(params)) {
    deny(why, cap, "%s", "refused by ppod: params must be an object");
    goto done;
  }
  /* The command goes on as rebuilt here: other top-level members are
   * dropped and the text Chromium reads is cJSON's own printing. */
  cJSON *canon = cJSON_CreateObject();
  if (!canon) goto done;
  cJSON_AddNumberToObject(canon, "id", id->valuedouble);
  cJSON_AddStringToObject(canon, "method", method->valuestring);
  cJSON_AddItemToObject(canon, "params",
                        params ? cJSON_DetachItemViaPointer(msg, params) : cJSON_CreateObject());
  if (sid) cJSON_AddStringToObject(canon, "sessionId", sid->valuestring);
  verdict = pb_cdp_policy(canon, env, why, cap);
  if (verdict == PB_POLICY_DENY) {
    cJSON_Delete(canon);
  } else {
    cJSON_Delete(*out);
    *out = canon;
  }
done:
  cJSON_Delete(msg);
  return verdict;
}
