/* Admin subcommands. stdout carries only what a script captures (a token, or
 * the account list); everything meant for a human goes to stderr. */
#include "daemon/admin.h"

#include "common/pb.h"
#include "core/logincodes.h"
#include "core/credits.h"
#include "core/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROG "ppod-browserd"
#define MAX_TTL_SECONDS ((long long)PB_TOKEN_MAX_TTL_DAYS * 86400)
#define ADMIN_MAX_SECONDS ((long long)max_ttl_days * 86400)
#define MAX_SETS 16

static void usage(FILE *f) {
  fprintf(f,
          "usage: " PROG
          " account create NAME [--email EMAIL] [--data-dir DIR]\n"
          "       " PROG
          " account invite EMAIL [--data-dir DIR]\n"
          " account create NAME [--credit C] [--data-dir DIR]\n"
          "       " PROG
          " account credit NAME [+|-]C [--data-dir DIR]\n"
          "       " PROG
          " account show NAME [--data-dir DIR]\n"
          "       " PROG
          " account list [--data-dir DIR]\n"
          "       " PROG
          " account limits NAME [--set KEY=VALUE]... [--data-dir DIR]\n"
          "       " PROG
          " account disable|enable|delete NAME [--data-dir DIR]\n"
          "       " PROG
          " token create NAME [--ttl DAYS | --ttl-seconds S] [--max-token-ttl DAYS]\n"
          "       " PROG
          " token list NAME [--data-dir DIR]\n"
          "       " PROG
          " token revoke TOKEN|PREFIX [--data-dir DIR]\n"
          "NAME is 1-63 characters of A-Z a-z 0-9 _ . -; tokens last %d days unless --ttl\n"
          "says otherwise, at most --max-token-ttl (PPOD_MAX_TOKEN_TTL, default 90) days.\n"
          "PREFIX is the start of a token as token list shows it (pp_sess_ or ppod_, and\n"
          "3 to 7 more). An account with an EMAIL signs in by POST /login (ppod login);\n"
          "with --signup invite, an invited EMAIL may sign up that way.\n"
          "A disabled, deleted or revoked account's or token's connections end within 2 s;\n"
          "a deleted account's usage and history are kept and its name stays taken.\n"
          "account limits prints KEY=VALUE lines; --set changes one (KEY is\n"
          "maxConcurrentSessions, acquisitionsPerMinute, quickActionsPerSecond,\n"
          "keepAliveMaxMs, concurrentQuickActions, browserMsPerDay (0 = unlimited),\n"
          "maxContexts or contextStorageMiB (persistent contexts: count, stored MiB),\n"
          "recordingStorageMiB (session recordings kept, MiB);\n"
          "VALUE a whole number, or \"default\").\n"
          "Credits: C is a decimal amount of credits, up to 6 decimals (\"5\", \"+5.00\",\n"
          "\"-1.50\", \"0.0001\"). An account is unmetered (no credit limit) until it gets\n"
          "a credit; then its browser time is debited at the service's\n"
          "--price-per-browser-second and its work is refused once it cannot pay one\n"
          "second. account credit prints the new balance; account show prints\n"
          "KEY=VALUE lines (balance, credited, debited, billed seconds).\n",
          PB_TOKEN_DEFAULT_TTL_DAYS);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(PROG ": ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  usage(stderr);
  return 2;
}

/* "2024-11-22T00:02:03Z" */
static void iso_utc(int64_t ms, char *out, size_t cap) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
    pb_strlcpy(out, "?", cap);
}

/* The token is the one line on stdout; a failed write must not look like
 * success, or the caller would lose a token it can never see again. */
static int print_token(const char *token, int64_t expires_ms) {
  char when[32];
  iso_utc(expires_ms, when, sizeof(when));
  if (printf("%s\n", token) < 0 || fflush(stdout)) {
    fprintf(stderr, PROG ": cannot write the token to stdout\n");
    return 1;
  }
  fprintf(stderr, PROG ": token %.*s... expires %s; it is shown only this once\n",
          PB_TOKEN_PREFIX_LEN, token, when);
  return 0;
}

static int name_error(const char *name) {
  return usage_error("invalid account name \"%s\" (1-63 of A-Z a-z 0-9 _ . -)", name);
}

static int open_store(const char *data_dir, pb_store **s) {
  /* PPOD_STORE names a cluster's PostgreSQL store (daemon/cluster.h). */
  const char *spec = getenv("PPOD_STORE");
  int rc = spec && *spec ? pb_store_open_spec(spec, data_dir, s) : pb_store_open(data_dir, s);
  if (rc) fprintf(stderr, PROG ": cannot open data dir %s: %s\n", data_dir, pb_strerror(rc));
  return rc;
}

static int token_for(pb_store *s, int64_t account_id, int64_t ttl_ms, const char *name) {
  char token[PB_TOKEN_MAX];
  int64_t now = pb_wall_ms();
  int rc = pb_token_create_ttl_ms(s, account_id, ttl_ms, token);
  if (rc) {
    fprintf(stderr, PROG ": cannot create a token for %s: %s\n", name, pb_strerror(rc));
    return 1;
  }
  int ex = print_token(token, now + ttl_ms);
  explicit_bzero(token, sizeof(token));
  return ex;
}

/* Grants micro to the account (note: why) and says so; 0 or 1. */
static int grant(pb_store *s, int64_t id, const char *name, int64_t micro, const char *note,
                 int64_t *balance) {
  int rc = pb_store_account_credit(s, id, micro, note, pb_wall_ms(), balance);
  char amount[PB_CREDIT_TEXT_MAX], bal[PB_CREDIT_TEXT_MAX];
  pb_credit_format(micro, amount);
  if (rc == PB_ETOOBIG) {
    pb_credit_format(PB_CREDIT_MAX_MICRO, bal);
    fprintf(stderr, PROG ": a credit of %s would take %s's balance beyond +-%s; nothing changed\n",
            amount, name, bal);
    return 1;
  }
  if (rc) {
    fprintf(stderr, PROG ": cannot credit %s: %s\n", name, pb_strerror(rc));
    return 1;
  }
  pb_credit_format(*balance, bal);
  fprintf(stderr, PROG ": %s: credit %s%s, balance %s\n", name, micro >= 0 ? "+" : "", amount, bal);
  return 0;
}

static int account_create(const char *data_dir, const char *name, const char *email,
                          const char *credit) {
  char norm[PB_EMAIL_MAX];
  if (email && pb_email_normalize(email, norm, sizeof(norm)))
    return usage_error("--email \"%.64s\" is not an email address", email);
  int64_t micro = 0;
  char err[160];
  if (credit && pb_credit_parse(credit, 0, &micro, err, sizeof(err)))
    return usage_error("--credit: %s", err);
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int ex = 1;
  /* With a credit: one transaction, so the account never exists unmetered. */
  int rc = credit ? pb_account_create_with_credit(s, name, email ? norm : NULL, micro, "create", &id)
                  : pb_account_create_email(s, name, email ? norm : NULL, &id);
  if (rc == PB_EINVAL) {
    ex = name_error(name);
  } else if (rc == PB_EEXIST) {
    if (email)
      fprintf(stderr, PROG ": account %s or an account with email %s exists already\n", name,
              norm);
    else
      fprintf(stderr, PROG ": account %s already exists (use: token create %s)\n", name, name);
  } else if (rc) {
    fprintf(stderr, PROG ": cannot create account %s: %s\n", name, pb_strerror(rc));
  } else {
    char amount[PB_CREDIT_TEXT_MAX];
    pb_credit_format(micro, amount);
    if (credit)
      fprintf(stderr, PROG ": created account %s with a balance of %s credits\n", name, amount);
    else
      fprintf(stderr, PROG ": created account %s (unmetered: no credit limit)\n", name);
    ex = token_for(s, id, PB_TOKEN_DEFAULT_TTL_DAYS * INT64_C(86400000), name);
  }
  pb_store_close(s);
  return ex;
}

static int account_invite(const char *data_dir, const char *email) {
  char norm[PB_EMAIL_MAX];
  if (pb_email_normalize(email, norm, sizeof(norm)))
    return usage_error("\"%.64s\" is not an email address", email);
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1; /* makes the schema */
  pb_store_close(s);
  pb_login_store *ls = NULL;
  int rc = pb_login_store_open(data_dir, &ls);
  if (!rc) rc = pb_login_invite_add(ls, norm, pb_wall_ms());
  pb_login_store_close(ls);
  if (rc) {
    fprintf(stderr, PROG ": cannot invite %s: %s\n", norm, pb_strerror(rc));
    return 1;
  }
  fprintf(stderr, PROG ": invited %s (it may sign up by POST /login with --signup invite)\n",
          norm);
  return 0;
}

static int account_list(const char *data_dir) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  pb_account *v = NULL;
  size_t n = 0;
  int rc = pb_account_list(s, &v, &n);
  pb_store_close(s);
  if (rc) {
    fprintf(stderr, PROG ": cannot list accounts: %s\n", pb_strerror(rc));
    return 1;
  }
  int ex = 0;
  for (size_t i = 0; i < n && !ex; i++) {
    char when[32];
    iso_utc(v[i].created_ms, when, sizeof(when));
    const char *state = v[i].deleted_ms ? "\tdeleted" : v[i].disabled_ms ? "\tdisabled" : "";
    if (printf("%s\t%s%s\n", v[i].name, when, state) < 0) ex = 1;
  }
  if (fflush(stdout)) ex = 1;
  if (ex) fprintf(stderr, PROG ": cannot write to stdout\n");
  free(v);
  return ex;
}

static int find_account(pb_store *s, const char *name, int64_t *id) {
  int rc = pb_account_find(s, name, id);
  if (rc == PB_ENOTFOUND)
    fprintf(stderr, PROG ": no account named %s (create it with: account create %s)\n", name, name);
  else if (rc)
    fprintf(stderr, PROG ": cannot look up account %s: %s\n", name, pb_strerror(rc));
  return rc;
}

/* account credit NAME AMOUNT: the new balance on stdout. */
static int account_credit(const char *data_dir, const char *name, const char *amount) {
  int64_t micro = 0, balance = 0;
  char err[160];
  if (pb_credit_parse(amount, PB_CREDIT_SIGNED, &micro, err, sizeof(err)))
    return usage_error("account credit: %s", err);
  if (micro == 0) return usage_error("account credit: a credit of 0 changes nothing");
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int ex = find_account(s, name, &id) ? 1 : grant(s, id, name, micro, "operator", &balance);
  pb_store_close(s);
  if (!ex) {
    char bal[PB_CREDIT_TEXT_MAX];
    pb_credit_format(balance, bal);
    if (printf("%s\n", bal) < 0 || fflush(stdout)) {
      fprintf(stderr, PROG ": cannot write to stdout\n");
      ex = 1;
    }
  }
  return ex;
}

/* account show NAME: KEY=VALUE lines, amounts in credits and in micro. */
static int account_show(const char *data_dir, const char *name) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  pb_credit_summary c;
  int ex = find_account(s, name, &id) ? 1 : 0;
  if (!ex && pb_store_account_credit_summary(s, id, &c)) {
    fprintf(stderr, PROG ": cannot read the credits of %s\n", name);
    ex = 1;
  }
  pb_store_close(s);
  if (ex) return ex;
  char bal[PB_CREDIT_TEXT_MAX], cred[PB_CREDIT_TEXT_MAX], deb[PB_CREDIT_TEXT_MAX];
  pb_credit_format(c.balance_micro, bal);
  pb_credit_format(c.credited_micro, cred);
  pb_credit_format(c.debited_micro, deb);
  if (c.metered)
    printf("account=%s\nmetered=yes\nbalance=%s\nbalanceMicro=%lld\n", name, bal,
           (long long)c.balance_micro);
  else
    printf("account=%s\nmetered=no\nbalance=unlimited\n", name);
  printf("credited=%s\ncreditedMicro=%lld\ndebited=%s\ndebitedMicro=%lld\nbilledSeconds=%lld\n"
         "debitedRows=%lld\nopenRows=%lld\n",
         cred, (long long)c.credited_micro, deb, (long long)c.debited_micro,
         (long long)c.billed_seconds, (long long)c.rows, (long long)c.open_rows);
  if (ferror(stdout) || fflush(stdout)) {
    fprintf(stderr, PROG ": cannot write to stdout\n");
    return 1;
  }
  return 0;
}

static int token_create(const char *data_dir, const char *name, int64_t ttl_ms) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int ex = find_account(s, name, &id) ? 1 : token_for(s, id, ttl_ms, name);
  pb_store_close(s);
  return ex;
}

/* disable, enable or delete. */
static int account_state(const char *data_dir, const char *verb, const char *name) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int ex = 1;
  if (!find_account(s, name, &id)) {
    int64_t now = pb_wall_ms();
    int rc = !strcmp(verb, "delete")
                 ? pb_account_delete(s, id, now)
                 : pb_account_set_disabled(s, id, !strcmp(verb, "disable"), now);
    if (rc) {
      fprintf(stderr, PROG ": cannot %s account %s: %s\n", verb, name, pb_strerror(rc));
    } else {
      fprintf(stderr, PROG ": %s account %s\n",
              !strcmp(verb, "delete")    ? "deleted"
              : !strcmp(verb, "disable") ? "disabled"
                                         : "enabled",
              name);
      ex = 0;
    }
  }
  pb_store_close(s);
  return ex;
}

static int token_revoke(const char *data_dir, const char *arg) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int rc = pb_token_revoke(s, arg, pb_wall_ms(), &id);
  pb_store_close(s);
  if (rc == PB_EINVAL)
    return usage_error("\"%.16s\" is neither a token nor a token prefix (pp_sess_ or ppod_, and 3 to 7 more)",
                       arg);
  if (rc == PB_ENOTFOUND) {
    fprintf(stderr, PROG ": no token matches %.16s\n", arg);
    return 1;
  }
  if (rc == PB_EEXIST) {
    fprintf(stderr, PROG ": %s matches several tokens; give more of it (token list NAME)\n", arg);
    return 1;
  }
  if (rc) {
    fprintf(stderr, PROG ": cannot revoke: %s\n", pb_strerror(rc));
    return 1;
  }
  fprintf(stderr, PROG ": revoked token %lld\n", (long long)id);
  return 0;
}

/* "ID\tPREFIX\tCREATED\tEXPIRES\tSTATE" per token, oldest first. */
static int token_list(const char *data_dir, const char *name) {
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  pb_token_info *v = NULL;
  size_t n = 0;
  int ex = find_account(s, name, &id) ? 1 : 0;
  if (!ex && pb_token_list(s, id, &v, &n)) {
    fprintf(stderr, PROG ": cannot list the tokens of %s\n", name);
    ex = 1;
  }
  pb_store_close(s);
  int64_t now = pb_wall_ms();
  for (size_t i = 0; i < n && !ex; i++) {
    char c[32], e[32];
    iso_utc(v[i].created_ms, c, sizeof(c));
    iso_utc(v[i].expires_ms, e, sizeof(e));
    const char *state = v[i].revoked_ms ? "revoked" : now >= v[i].expires_ms ? "expired" : "active";
    if (printf("%lld\t%s\t%s\t%s\t%s\n", (long long)v[i].id, v[i].prefix[0] ? v[i].prefix : "-", c,
               e, state) < 0)
      ex = 1;
  }
  free(v);
  if (fflush(stdout)) ex = 1;
  return ex;
}

static int print_limits(const pb_limits *l) {
  int64_t v;
  const char *key;
  for (size_t i = 0; (key = pb_limits_key(l, i, &v)); i++)
    if (printf("%s=%lld\n", key, (long long)v) < 0) break;
  if (ferror(stdout) || fflush(stdout)) {
    fprintf(stderr, PROG ": cannot write to stdout\n");
    return 1;
  }
  return 0;
}

/* Splits "key=value" into key (in buf) and value. 0, or 2 after a usage
 * message. */
static int split_set(const char *kv, char *buf, size_t cap, const char **value) {
  const char *eq = strchr(kv, '=');
  if (!eq || eq == kv || (size_t)(eq - kv) >= cap)
    return usage_error("--set wants KEY=VALUE, not \"%s\"", kv);
  memcpy(buf, kv, (size_t)(eq - kv));
  buf[eq - kv] = '\0';
  *value = eq + 1;
  return 0;
}

/* Shows the limits, or sets each KEY=VALUE. All settings are checked before
 * any is stored, so a typo in the second leaves the first unapplied too. */
static int account_limits(const char *data_dir, const char *name, const char **sets, int nsets) {
  char key[64], err[256];
  const char *value = NULL;
  pb_limits check;
  pb_limits_default(&check);
  for (int i = 0; i < nsets; i++) {
    int ex = split_set(sets[i], key, sizeof(key), &value);
    if (ex) return ex;
    if (pb_limits_apply(&check, key, value, err, sizeof(err))) return usage_error("%s", err);
  }
  pb_store *s = NULL;
  if (open_store(data_dir, &s)) return 1;
  int64_t id = 0;
  int ex = 0;
  if (find_account(s, name, &id)) ex = 1;
  for (int i = 0; !ex && i < nsets; i++) {
    if (split_set(sets[i], key, sizeof(key), &value)) break; /* checked above */
    int rc = pb_limits_set(s, id, key, value, err, sizeof(err));
    if (rc) {
      fprintf(stderr, PROG ": cannot set %s for %s: %s\n", key, name, err);
      ex = rc == PB_EINVAL ? 2 : 1;
    } else {
      fprintf(stderr, PROG ": %s: %s=%s\n", name, key, value);
    }
  }
  if (!ex && !nsets) {
    pb_limits l;
    int rc = pb_limits_get(s, id, &l);
    if (rc) {
      fprintf(stderr, PROG ": cannot read the limits of %s: %s\n", name, pb_strerror(rc));
      ex = 1;
    } else {
      ex = print_limits(&l);
    }
  }
  pb_store_close(s);
  return ex;
}

/* Matches "--opt VALUE" and "--opt=VALUE"; advances *i past what it used.
 * 1 matched (*val set, NULL when the value is missing), 0 not this option. */
static int take_opt(const char *opt, int argc, char **argv, int *i, const char **val) {
  size_t n = strlen(opt);
  const char *a = argv[*i];
  if (strncmp(a, opt, n)) return 0;
  if (a[n] == '=') {
    *val = a + n + 1;
    return 1;
  }
  if (a[n]) return 0;
  *val = *i + 1 < argc ? argv[++*i] : NULL;
  return 1;
}

int pb_admin_main(const char *data_dir, int argc, char **argv) {
  int max_ttl_days = PB_TOKEN_MAX_TTL_DEFAULT_DAYS;
  const char *env = getenv("PPOD_MAX_TOKEN_TTL");
  long long d;
  if (env && *env) {
    if (pb_parse_int(env, 1, PB_TOKEN_MAX_TTL_DAYS, &d))
      return usage_error("PPOD_MAX_TOKEN_TTL wants whole days, 1 to %d", PB_TOKEN_MAX_TTL_DAYS);
    max_ttl_days = (int)d;
  }
  if (argc < 1 || !argv || !argv[0]) return usage_error("missing subcommand");
  const char *pos[3];
  int npos = 0;
  const char *ttl_days = NULL, *ttl_secs = NULL, *val, *email = NULL, *credit = NULL;
  const char *sets[MAX_SETS];
  int only_pos = 0, nsets = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    /* "-1.50" is an amount (account credit), not an option. */
    if (only_pos || a[0] != '-' || !a[1] || (a[1] >= '0' && a[1] <= '9')) {
      if (npos == (int)(sizeof(pos) / sizeof(pos[0]))) return usage_error("unexpected \"%s\"", a);
      pos[npos++] = a;
    } else if (!strcmp(a, "--")) {
      only_pos = 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (take_opt("--ttl-seconds", argc, argv, &i, &val)) {
      if (!val) return usage_error("--ttl-seconds needs a value");
      ttl_secs = val;
    } else if (take_opt("--ttl", argc, argv, &i, &val)) {
      if (!val) return usage_error("--ttl needs a value");
      ttl_days = val;
    } else if (take_opt("--email", argc, argv, &i, &val)) {
      if (!val) return usage_error("--email needs a value");
      email = val;
    } else if (take_opt("--set", argc, argv, &i, &val)) {
      if (!val) return usage_error("--set needs KEY=VALUE");
      if (nsets == MAX_SETS) return usage_error("at most %d --set at once", MAX_SETS);
      sets[nsets++] = val;
    } else if (take_opt("--credit", argc, argv, &i, &val)) {
      if (!val) return usage_error("--credit needs an amount");
      credit = val;
    } else if (take_opt("--max-token-ttl", argc, argv, &i, &val)) {
      if (!val || pb_parse_int(val, 1, PB_TOKEN_MAX_TTL_DAYS, &d))
        return usage_error("--max-token-ttl wants whole days, 1 to %d", PB_TOKEN_MAX_TTL_DAYS);
      max_ttl_days = (int)d;
    } else if (take_opt("--data-dir", argc, argv, &i, &val)) {
      /* Already resolved by the caller; accepted here so it may stay in argv. */
      if (!val) return usage_error("--data-dir needs a value");
    } else {
      return usage_error("unknown option %s", a);
    }
  }
  if (!data_dir || !*data_dir) {
    fprintf(stderr, PROG ": no data dir\n");
    return 1;
  }

  const char *cmd = argv[0], *verb = npos ? pos[0] : "";
  int is_limits = !strcmp(cmd, "account") && !strcmp(verb, "limits");
  int is_create = !strcmp(cmd, "account") && !strcmp(verb, "create");
  if (credit && !is_create) return usage_error("--credit belongs to account create");
  if (!strcmp(cmd, "account") && (!strcmp(verb, "credit") || !strcmp(verb, "show"))) {
    int credit_verb = !strcmp(verb, "credit");
    if (npos != (credit_verb ? 3 : 2))
      return usage_error(credit_verb ? "account credit takes NAME and an AMOUNT"
                                     : "account show takes one NAME");
    if (nsets || ttl_days || ttl_secs) return usage_error("account %s takes no options", verb);
    if (!pb_account_name_valid(pos[1])) return name_error(pos[1]);
    return credit_verb ? account_credit(data_dir, pos[1], pos[2]) : account_show(data_dir, pos[1]);
  }
  if (nsets && !is_limits) return usage_error("--set belongs to account limits");
  if (is_limits) {
    if (npos != 2) return usage_error("account limits takes one NAME");
    if (ttl_days || ttl_secs) return usage_error("account limits takes no --ttl");
    if (!pb_account_name_valid(pos[1])) return name_error(pos[1]);
    return account_limits(data_dir, pos[1], sets, nsets);
  }
  if (email && !is_create) return usage_error("--email belongs to account create");
  if (is_create) {
    if (npos != 2) return usage_error("account create takes one NAME");
    if (ttl_days || ttl_secs) return usage_error("account create takes no --ttl");
    return account_create(data_dir, pos[1], email, credit);
  }
  if (!strcmp(cmd, "account") && !strcmp(verb, "invite")) {
    if (npos != 2) return usage_error("account invite takes one EMAIL");
    if (ttl_days || ttl_secs) return usage_error("account invite takes no --ttl");
    return account_invite(data_dir, pos[1]);
  }
  if (!strcmp(cmd, "account") && !strcmp(verb, "list")) {
    if (npos != 1) return usage_error("account list takes no arguments");
    if (ttl_days || ttl_secs) return usage_error("account list takes no --ttl");
    return account_list(data_dir);
  }
  if (!strcmp(cmd, "account") &&
      (!strcmp(verb, "disable") || !strcmp(verb, "enable") || !strcmp(verb, "delete"))) {
    if (npos != 2) return usage_error("account %s takes one NAME", verb);
    if (ttl_days || ttl_secs) return usage_error("account %s takes no --ttl", verb);
    if (!pb_account_name_valid(pos[1])) return name_error(pos[1]);
    return account_state(data_dir, verb, pos[1]);
  }
  if (!strcmp(cmd, "token") && !strcmp(verb, "revoke")) {
    if (npos != 2) return usage_error("token revoke takes one TOKEN or PREFIX");
    if (ttl_days || ttl_secs) return usage_error("token revoke takes no --ttl");
    return token_revoke(data_dir, pos[1]);
  }
  if (!strcmp(cmd, "token") && !strcmp(verb, "list")) {
    if (npos != 2) return usage_error("token list takes one NAME");
    if (ttl_days || ttl_secs) return usage_error("token list takes no --ttl");
    if (!pb_account_name_valid(pos[1])) return name_error(pos[1]);
    return token_list(data_dir, pos[1]);
  }
  if (!strcmp(cmd, "token") && !strcmp(verb, "create")) {
    if (npos != 2) return usage_error("token create takes one NAME");
    if (ttl_days && ttl_secs) return usage_error("give --ttl or --ttl-seconds, not both");
    long long v = PB_TOKEN_DEFAULT_TTL_DAYS;
    int64_t ttl_ms;
    if (ttl_secs) {
      if (pb_parse_int(ttl_secs, 1, MAX_TTL_SECONDS, &v))
        return usage_error("--ttl-seconds wants whole seconds, 1 to %lld", ADMIN_MAX_SECONDS);
      if (v > ADMIN_MAX_SECONDS)
        return usage_error("--ttl-seconds %lld is over the --max-token-ttl of %d days", v,
                           max_ttl_days);
      ttl_ms = (int64_t)v * 1000;
    } else {
      if (ttl_days && pb_parse_int(ttl_days, 1, PB_TOKEN_MAX_TTL_DAYS, &v))
        return usage_error("--ttl wants whole days, 1 to %d", max_ttl_days);
      if (v > max_ttl_days)
        return usage_error("--ttl %lld is over the --max-token-ttl of %d days", v, max_ttl_days);
      ttl_ms = (int64_t)v * INT64_C(86400000);
    }
    if (!pb_account_name_valid(pos[1])) return name_error(pos[1]);
    return token_create(data_dir, pos[1], ttl_ms);
  }
  if (strcmp(cmd, "account") && strcmp(cmd, "token"))
    return usage_error("unknown subcommand \"%s\"", cmd);
  return usage_error(npos ? "unknown %s action" : "missing %s action", cmd);
}
