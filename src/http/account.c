/* GET /account: what `ppod status` and `ppod balance` show. The account the
 * token names, the token's kept prefix and expiry, the balance, the limits
 * (GET /browser/limits' own result) and today's usage (UTC day) from the
 * usage ledger. Answered on the I/O thread: a few indexed reads of the
 * store, as the other account reads are. */
#include "core/credits.h"
#include "http/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The account's balance in micro-credits (an integer), or JSON null when
 * the account is unmetered; *text is the same in credits ("4.999900"), or
 * "" when unmetered or unknown. */
static cJSON *account_balance(pb_server *s, int64_t account_id, char text[PB_CREDIT_TEXT_MAX]) {
  int64_t micro = 0;
  int metered = 0;
  text[0] = '\0';
  if (pb_store_account_balance(s->o.store, account_id, &micro, &metered) || !metered)
    return cJSON_CreateNull();
  pb_credit_format(micro, text);
  return cJSON_CreateNumber((double)micro);
}

/* The account's email, or JSON null when it has none (accounts made by
 * `ppod-browserd account create` have none). */
static cJSON *account_email(pb_server *s, int64_t account_id) {
  char email[256];
  if (pb_account_email(s->o.store, account_id, email, sizeof(email))) return cJSON_CreateNull();
  return cJSON_CreateString(email);
}

/* "2026-12-20T08:02:05.937Z" for wall time ms. */
static void iso_of(int64_t ms, char out[64], size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static cJSON *token_json(pb_server *s, const pb_auth *auth, int64_t now) {
  cJSON *o = cJSON_CreateObject();
  /* The kept prefix of this token: the store lists the account's tokens
   * (an operator's handful; login is rate-limited). */
  pb_token_info *v = NULL;
  size_t n = 0;
  const char *prefix = NULL;
  if (!pb_token_list(s->o.store, auth->account_id, &v, &n))
    for (size_t i = 0; i < n && !prefix; i++)
      if (v[i].id == auth->token_id && v[i].prefix[0]) prefix = v[i].prefix;
  if (prefix)
    cJSON_AddStringToObject(o, "prefix", prefix);
  else
    cJSON_AddNullToObject(o, "prefix"); /* made before prefixes were kept */
  free(v);
  if (auth->expires_ms > 0) {
    char when[64];
    iso_of(auth->expires_ms, when, sizeof(when));
    cJSON_AddStringToObject(o, "expiresAt", when);
    /* Counted here, so a client's wrong clock does not matter. */
    cJSON_AddNumberToObject(o, "expiresInSeconds", (double)((auth->expires_ms - now) / 1000));
  } else {
    cJSON_AddNullToObject(o, "expiresAt");
    cJSON_AddNullToObject(o, "expiresInSeconds");
  }
  return o;
}

/* Today (UTC) from the ledger's closed rows: browser time, sessions,
 * quick actions and crawl pages. NULL when the store failed. */
static cJSON *usage_today_json(pb_server *s, int64_t account_id, int64_t now) {
  int64_t day = now - now % (86400LL * 1000);
  pb_usage_kind *k = NULL;
  size_t n = 0;
  if (pb_usage_by_kind(s->o.store, account_id, day, now + 1, &k, &n)) return NULL;
  int64_t ms = 0, sessions = 0, quick = 0, crawl = 0;
  for (size_t i = 0; i < n; i++) {
    ms += k[i].ms;
    if (!strcmp(k[i].kind, "session"))
      sessions += k[i].count;
    else if (!strcmp(k[i].kind, "crawl"))
      crawl += k[i].count;
    else
      quick += k[i].count;
  }
  free(k);
  char from[64];
  iso_of(day, from, sizeof(from));
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "from", from);
  cJSON_AddNumberToObject(o, "browserMs", (double)ms);
  cJSON_AddNumberToObject(o, "sessions", (double)sessions);
  cJSON_AddNumberToObject(o, "quickActions", (double)quick);
  cJSON_AddNumberToObject(o, "crawlPages", (double)crawl);
  return o;
}

void get_account(pb_server *s, req *r) {
  int64_t now = pb_wall_ms();
  cJSON *usage = usage_today_json(s, r->auth.account_id, now);
  if (!usage) {
    answer_error(r, PB_CODE_INTERNAL_ERROR, "the account store failed");
    return;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON *acct = cJSON_AddObjectToObject(o, "account");
  cJSON_AddNumberToObject(acct, "id", (double)r->auth.account_id);
  cJSON_AddStringToObject(acct, "name", r->auth.account);
  cJSON_AddItemToObject(acct, "email", account_email(s, r->auth.account_id));
  cJSON_AddItemToObject(o, "token", token_json(s, &r->auth, now));
  char credits[PB_CREDIT_TEXT_MAX];
  cJSON_AddItemToObject(o, "balance", account_balance(s, r->auth.account_id, credits));
  if (credits[0]) cJSON_AddStringToObject(o, "balanceCredits", credits);
  else cJSON_AddNullToObject(o, "balanceCredits");
  cJSON_AddItemToObject(o, "limits", limits_json(s, r->auth.account_id));
  cJSON_AddItemToObject(o, "usageToday", usage);
  answer_json(r, o);
}
