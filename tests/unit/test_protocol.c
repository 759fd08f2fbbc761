/* The protocol description of /json/protocol follows the policy table:
 * every command it lists is one a session may send, every command a
 * session may send that the description knows is listed, and every type it
 * refers to is described. */
#include "cdp/policy.h"
#include "cdp/protocol.h"

#include "common/pb.h"
#include "test.h"

#include <cjson/cJSON.h>

static cJSON *domain(cJSON *p, const char *name) {
  cJSON *d;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "domains")) {
    if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "domain")), name))
      return d;
  }
  return NULL;
}

static int has_command(cJSON *p, const char *method) {
  char dom[128];
  const char *dot = strchr(method, '.');
  if (!dot || dot - method >= (int)sizeof(dom)) return 0;
  memcpy(dom, method, (size_t)(dot - method));
  dom[dot - method] = '\0';
  cJSON *c, *d = domain(p, dom);
  cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "commands")) {
    if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")), dot + 1))
      return 1;
  }
  return 0;
}

static void refs_resolve(cJSON *p, const cJSON *v, int *n) {
  for (const cJSON *c = v->child; c; c = c->next) {
    if (cJSON_IsString(c) && c->string && !strcmp(c->string, "$ref") &&
        strchr(c->valuestring, '.')) {
      char dom[128];
      size_t k = (size_t)(strchr(c->valuestring, '.') - c->valuestring);
      ASSERT(k < sizeof(dom));
      memcpy(dom, c->valuestring, k);
      dom[k] = '\0';
      if (!domain(p, dom)) fprintf(stderr, "unresolved $ref %s\n", c->valuestring);
      ASSERT(domain(p, dom) != NULL);
      (*n)++;
    }
    refs_resolve(p, c, n);
  }
}

static void test_follows_the_table(void) {
  char *text = NULL;
  size_t len = 0;
  ASSERT_EQ(pb_cdp_protocol_json(&text, &len), 0);
  ASSERT(len > 50000 && len == strlen(text));
  cJSON *p = cJSON_Parse(text);
  ASSERT(p != NULL);
  ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(p, "version"), "major")),
                "1");
  /* Listed commands are allowed; allowed commands are listed. */
  int listed = 0;
  cJSON *d, *c;
  cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(p, "domains")) {
    const char *dn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "domain"));
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(d, "commands")) {
      char m[256];
      snprintf(m, sizeof(m), "%s.%s", dn,
               cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c, "name")));
      const pb_policy_rule *r = pb_cdp_policy_rule(m);
      if (!r || r->kind == PB_RULE_DENY) fprintf(stderr, "listed but denied: %s\n", m);
      ASSERT(r && r->kind != PB_RULE_DENY);
      listed++;
    }
    ASSERT(cJSON_GetObjectItemCaseSensitive(d, "description") == NULL);
  }
  const pb_policy_rule *rules;
  size_t n = pb_cdp_policy_rules(&rules), allowed = 0;
  for (size_t i = 0; i < n; i++) {
    if (rules[i].kind == PB_RULE_DENY) continue;
    allowed++;
    if (!has_command(p, rules[i].method))
      fprintf(stderr, "allowed, not listed: %s\n", rules[i].method);
    ASSERT(has_command(p, rules[i].method));
  }
  ASSERT_EQ((size_t)listed, allowed);
  /* What clients use is there; what a session may not send is not. */
  ASSERT(has_command(p, "Page.navigate"));
  ASSERT(has_command(p, "Target.createTarget"));
  ASSERT(has_command(p, "Runtime.evaluate"));
  ASSERT(!has_command(p, "Extensions.getExtensions"));
  ASSERT(domain(p, "Extensions") == NULL);
  ASSERT(cJSON_GetObjectItemCaseSensitive(domain(p, "Page"), "events") != NULL);
  /* Every type referred to is described. */
  int refs = 0;
  refs_resolve(p, p, &refs);
  ASSERT(refs > 100);
  cJSON_Delete(p);
  free(text);
}

int main(void) {
  RUN(test_follows_the_table);
  DONE();
}
