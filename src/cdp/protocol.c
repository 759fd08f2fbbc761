/* The protocol description, filtered by the policy table (protocol.h). */
#include "cdp/protocol.h"

#include "cdp/policy.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmake/embed_file.cmake, from src/cdp/protocol.json. */
extern const char pb_cdp_protocol_src[];
extern const unsigned long pb_cdp_protocol_src_len;

static int allowed(const char *domain, const char *command) {
  char m[256];
  if (snprintf(m, sizeof(m), "%s.%s", domain, command) >= (int)sizeof(m)) return 0;
  const pb_policy_rule *r = pb_cdp_policy_rule(m);
  return r && r->kind != PB_RULE_DENY;
}

static int index_of(const cJSON *domains, const char *name) {
  int i = 0;
  for (const cJSON *d = domains->child; d; d = d->next, i++) {
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(d, "domain");
    if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return i;
  }
  return -1;
}

/* Marks in need[] the domains whose types v refers to ("$ref": "Dom.Type"). */
static void mark_refs(const cJSON *v, const cJSON *domains, char *need) {
  for (const cJSON *c = v ? v->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c) && c->string && !strcmp(c->string, "$ref")) {
      const char *dot = strchr(c->valuestring, '.');
      if (dot && dot - c->valuestring < 128) {
        char dom[128];
        memcpy(dom, c->valuestring, (size_t)(dot - c->valuestring));
        dom[dot - c->valuestring] = '\0';
        int k = index_of(domains, dom);
        if (k >= 0) need[k] = 1;
      }
    }
    mark_refs(c, domains, need);
  }
}

int pb_cdp_protocol_json(char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (!pb_cdp_protocol_src_len) return PB_EINVAL;
  cJSON *p = cJSON_ParseWithLength(pb_cdp_protocol_src, pb_cdp_protocol_src_len);
  cJSON *domains = cJSON_GetObjectItemCaseSensitive(p, "domains");
  if (!cJSON_IsArray(domains)) {
    cJSON_Delete(p);
    return PB_EINVAL;
  }
  int n = cJSON_GetArraySize(domains);
  char *keep = calloc((size_t)n + 1, 1), *need = calloc((size_t)n + 1, 1);
  if (!keep || !need) goto nomem;
  /* Commands the policy denies go; a domain with one left is kept. */
  int i = 0;
  for (cJSON *d = domains->child; d; d = d->next, i++) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(d, "domain");
    cJSON *cmds = cJSON_GetObjectItemCaseSensitive(d, "commands");
    if (!cJSON_IsString(name)) continue;
    for (cJSON *c = cmds ? cmds->child : NULL, *next; c; c = next) {
      next = c->next;
      const cJSON *cn = cJSON_GetObjectItemCaseSensitive(c, "name");
      if (!cJSON_IsString(cn) || !allowed(name->valuestring, cn->valuestring))
        cJSON_Delete(cJSON_DetachItemViaPointer(cmds, c));
    }
    keep[i] = cJSON_GetArraySize(cmds) > 0;
  }
  /* The domains whose types the kept ones refer to, to a fixed point. */
  for (int changed = 1; changed;) {
    changed = 0;
    memset(need, 0, (size_t)n);
    i = 0;
    for (cJSON *d = domains->child; d; d = d->next, i++)
      if (keep[i]) mark_refs(d, domains, need);
    i = 0;
    for (cJSON *d = domains->child; d; d = d->next, i++) {
      if (!need[i] || keep[i]) continue;
      /* Kept for its types only: nothing to call, nothing to hear. */
      keep[i] = 2;
      changed = 1;
      cJSON_DeleteItemFromObjectCaseSensitive(d, "events");
      cJSON_DeleteItemFromObjectCaseSensitive(d, "commands");
      cJSON_AddArrayToObject(d, "commands");
    }
  }
  i = 0;
  for (cJSON *d = domains->child, *next; d; d = next, i++) {
    next = d->next;
    if (!keep[i]) cJSON_Delete(cJSON_DetachItemViaPointer(domains, d));
  }
  free(keep);
  free(need);
  *out = cJSON_PrintUnformatted(p);
  cJSON_Delete(p);
  if (!*out) return PB_ENOMEM;
  *len = strlen(*out);
  return 0;
nomem:
  free(keep);
  free(need);
  cJSON_Delete(p);
  return PB_ENOMEM;
}
