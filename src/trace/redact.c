/* Redaction and elision of CDP JSON: secrets never reach a written trace,
 * and bulky strings are cut to their size where they are kept elsewhere. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trace/internal.h"

#define REDACTED "[redacted]"

static int secret_header(const char *name) {
  return name && (!strcasecmp(name, "authorization") || !strcasecmp(name, "proxy-authorization") ||
                  !strcasecmp(name, "cookie") || !strcasecmp(name, "set-cookie"));
}

static void set_str(cJSON *item, const char *s) {
  if (cJSON_IsString(item) && item->valuestring && strcmp(item->valuestring, s))
    cJSON_SetValuestring(item, s);
}

/* Raw header blocks ("Name: value" lines) as in headersText. */
static void redact_header_text(cJSON *item) {
  if (!cJSON_IsString(item) || !item->valuestring) return;
  const char *p = item->valuestring;
  pb_buf b;
  pb_buf_init(&b, strlen(p) + 64);
  int changed = 0, rc = 0;
  while (*p && !rc) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p + 1) : strlen(p);
    const char *colon = memchr(p, ':', n);
    char name[64];
    size_t nl = colon ? (size_t)(colon - p) : 0;
    if (colon && nl > 0 && nl < sizeof(name)) {
      memcpy(name, p, nl);
      name[nl] = '\0';
      if (secret_header(name)) {
        changed = 1;
        rc = pb_buf_printf(&b, "%s: " REDACTED "%s", name, eol ? "\r\n" : "");
        p += n;
        continue;
      }
    }
    rc = pb_buf_append(&b, p, n);
    p += n;
  }
  if (changed && !rc && b.data) cJSON_SetValuestring(item, b.data);
  pb_buf_free(&b);
}

/* Cookie objects ({name, value, ...}) keep their names, lose their values. */
static void redact_cookie_obj(cJSON *c) {
  if (!cJSON_IsObject(c)) return;
  set_str(cJSON_GetObjectItemCaseSensitive(c, "value"), REDACTED);
}

/* Walks any CDP message: header maps ({"Cookie": ...}), header entry arrays
 * ([{name, value}]), raw header text, cookie arrays and cookie lines. */
void pb__trace_redact_tree(cJSON *node) {
  if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return;
  if (cJSON_IsObject(node)) {
    cJSON *nm = cJSON_GetObjectItemCaseSensitive(node, "name");
    if (cJSON_IsString(nm) && secret_header(nm->valuestring))
      set_str(cJSON_GetObjectItemCaseSensitive(node, "value"), REDACTED);
  }
  cJSON *c;
  cJSON_ArrayForEach(c, node) {
    const char *k = cJSON_IsObject(node) ? c->string : NULL;
    if (k && cJSON_IsString(c)) {
      if (secret_header(k) || !strcmp(k, "cookieLine"))
        set_str(c, REDACTED);
      else if (!strcmp(k, "headersText") || !strcmp(k, "requestHeadersText"))
        redact_header_text(c);
      continue;
    }
    if (k && !strcmp(k, "cookie")) redact_cookie_obj(c);
    if (k && !strcmp(k, "cookies") && cJSON_IsArray(c)) {
      cJSON *e;
      cJSON_ArrayForEach(e, c) redact_cookie_obj(e);
    }
    pb__trace_redact_tree(c);
  }
}

void pb__trace_redact_message(cJSON *msg) {
  pb__trace_redact_tree(msg);
  /* Network.setCookie carries the cookie flat in params. */
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  if (cJSON_IsString(m) && !strcmp(m->valuestring, "Network.setCookie"))
    redact_cookie_obj(cJSON_GetObjectItemCaseSensitive(msg, "params"));
}

/* Screenshots, screencast frames, bodies and trace chunks are kept elsewhere
 * in the zip (or not at all); cdp.jsonl only says how big they were. */
void pb__trace_elide_tree(cJSON *node) {
  cJSON *c;
  cJSON_ArrayForEach(c, node) {
    if (cJSON_IsString(c) && c->valuestring) {
      size_t n = strlen(c->valuestring);
      int named = c->string && (!strcmp(c->string, "data") || !strcmp(c->string, "body"));
      if ((named && n > 256) || n > 16384) {
        char note[48];
        snprintf(note, sizeof(note), "[%zu bytes]", n);
        cJSON_SetValuestring(c, note);
      }
    } else {
      pb__trace_elide_tree(c);
    }
  }
}

void pb__trace_elide_message(cJSON *msg) {
  const cJSON *m = cJSON_GetObjectItemCaseSensitive(msg, "method");
  cJSON *params = cJSON_GetObjectItemCaseSensitive(msg, "params");
  if (cJSON_IsString(m) && !strcmp(m->valuestring, "Tracing.dataCollected") && params) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(params, "value");
    if (cJSON_IsArray(v)) {
      char note[48];
      snprintf(note, sizeof(note), "[%d events, in chrome-trace.json]", cJSON_GetArraySize(v));
      cJSON_ReplaceItemInObjectCaseSensitive(params, "value", cJSON_CreateString(note));
    }
  }
  pb__trace_elide_tree(msg);
}
