/* Sign-in by email in the store: the email check (what may reach a mail
 * header), magic link codes (single use, expiry, only hashes kept),
 * invitations, accounts by email, and both token families; two
 * connections spending one code at once: one succeeds. On SQLite in a temp
 * dir, and as unit/test_logincodes_pg on PostgreSQL (unit/pgtest.h). */
#include "core/logincodes.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/db.h"
#include "core/store.h"
#include "pgtest.h"
#include "test.h"

#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[] = "/tmp/pb-test-login-XXXXXX";

static void test_email(void) {
  char out[PB_EMAIL_MAX];
  ASSERT_EQ(pb_email_normalize("You@Example.COM", out, sizeof(out)), 0);
  ASSERT_STR_EQ(out, "you@example.com");
  ASSERT_EQ(pb_email_normalize("a.b+tag!#$%&'*/=?^_`{|}~-@sub-1.example.co", out, sizeof(out)), 0);
  const char *bad[] = {"",
                       "a",
                       "@example.com",
                       "a@",
                       "a@b",
                       "a@@b.com",
                       "a@b@c.com",
                       ".a@b.com",
                       "a.@b.com",
                       "a..b@c.com",
                       "a b@c.com",
                       "\"a\"@b.com",
                       "a@-b.com",
                       "a@b-.com",
                       "a@b..com",
                       "a@b.com.",
                       "a@b_c.com",
                       "a\r\nBcc: x@y.com@b.com",
                       "a@b.com\r\nBcc: x@y.com",
                       "a@b.com\n",
                       "Name <a@b.com>",
                       "a@b.com,c@d.com",
                       "\xc3\xa9@b.com",
                       NULL};
  for (int i = 0; bad[i]; i++) {
    ASSERT_EQ(pb_email_normalize(bad[i], out, sizeof(out)), PB_EINVAL);
    ASSERT_STR_EQ(out, "");
  }
  /* Sizes: a local part of 64 is taken, 65 not; the whole at most 254. */
  char e[400];
  memset(e, 'a', 64);
  snprintf(e + 64, sizeof(e) - 64, "@b.com");
  ASSERT_EQ(pb_email_normalize(e, out, sizeof(out)), 0);
  memset(e, 'a', 65);
  snprintf(e + 65, sizeof(e) - 65, "@b.com");
  ASSERT_EQ(pb_email_normalize(e, out, sizeof(out)), PB_EINVAL);
  /* 1 + '@' + 4 labels of 63 with dots = 2 + 255: over. */
  char d[300] = "a@";
  for (int i = 0; i < 4; i++) {
    size_t n = strlen(d);
    memset(d + n, 'b', 63);
    d[n + 63] = i < 3 ? '.' : '\0';
    d[n + 64] = '\0';
  }
  ASSERT_EQ(pb_email_normalize(d, out, sizeof(out)), PB_EINVAL);
  ASSERT_EQ(pb_email_normalize("a@b.com", out, 10), PB_EINVAL); /* too small a buffer */
  ASSERT_EQ(pb_email_normalize(NULL, out, sizeof(out)), PB_EINVAL);
}

static void test_codes(void) {
  char dir[300];
  snprintf(dir, sizeof(dir), "%s/codes", root);
  char path[400];
  snprintf(path, sizeof(path), "%s/ppod.db", dir);
  mkdir(dir, 0700);
  const char *spec = pb_test_db_spec(path);
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, dir, &st), 0);
  pb_login_store *s = NULL;
  ASSERT_EQ(pb_login_store_open_spec(spec, dir, &s), 0);
  char c1[PB_LOGIN_CODE_MAX], c2[PB_LOGIN_CODE_MAX], email[PB_EMAIL_MAX];
  int64_t now = 1000000;
  ASSERT_EQ(pb_login_code_issue(s, "Ann@Example.com", 900000, now, c1), 0);
  ASSERT_EQ(pb_login_code_issue(s, "bob@example.com", 1000, now, c2), 0);
  ASSERT(pb_login_code_well_formed(c1));
  ASSERT_EQ(strlen(c1), PB_LOGIN_CODE_LEN);
  ASSERT(strcmp(c1, c2));
  ASSERT_EQ(pb_login_code_issue(s, "not an email", 1000, now, c2 + 0), PB_EINVAL);
  /* Only the hash is kept: the code is in no column of any row. */
  pb_db *raw = NULL;
  ASSERT_EQ(pb_db_open(spec, &raw), 0);
  pb_db_stmt *q = NULL;
  ASSERT_EQ(pb_db_prepare(raw, "SELECT hash, email, created_ms, expires_ms FROM login_codes", &q),
            0);
  int rows = 0;
  while (pb_db_step(q) == PB_DB_ROW) {
    rows++;
    ASSERT_EQ(pb_db_column_bytes(q, 0), 32u);
    ASSERT(!memmem(pb_db_column_blob(q, 0), 32, c1, PB_LOGIN_CODE_LEN));
    ASSERT(!strstr(pb_db_column_text(q, 1), c1));
  }
  ASSERT_EQ(rows, 2);
  pb_db_finalize(q);
  /* Spent once; the second time says so; the email comes back lower-cased. */
  ASSERT_EQ(pb_login_code_redeem(s, c1, now + 1, email, sizeof(email)), 0);
  ASSERT_STR_EQ(email, "ann@example.com");
  ASSERT_EQ(pb_login_code_redeem(s, c1, now + 2, email, sizeof(email)), PB_EEXIST);
  ASSERT_STR_EQ(email, "");
  /* Past its time: expired, and it stays unspent (still expired later). */
  ASSERT_EQ(pb_login_code_redeem(s, c2, now + 1000, email, sizeof(email)), PB_EEXPIRED);
  ASSERT_EQ(pb_login_code_redeem(s, c2, now + 999, email, sizeof(email)), 0);
  /* Never issued, malformed, a prefix, one character changed. */
  char forged[PB_LOGIN_CODE_MAX];
  memcpy(forged, c1, sizeof(forged));
  forged[10] = forged[10] == 'A' ? 'B' : 'A';
  ASSERT_EQ(pb_login_code_redeem(s, forged, now, email, sizeof(email)), PB_EINVAL);
  ASSERT_EQ(pb_login_code_redeem(s, "short", now, email, sizeof(email)), PB_EINVAL);
  ASSERT_EQ(pb_login_code_redeem(s, "", now, email, sizeof(email)), PB_EINVAL);
  ASSERT_EQ(pb_login_code_redeem(s, NULL, now, email, sizeof(email)), PB_EINVAL);

  /* Invitations. */
  ASSERT_EQ(pb_login_invited(s, "cat@example.com"), 0);
  ASSERT_EQ(pb_login_invite_add(s, "Cat@Example.com", now), 0);
  ASSERT_EQ(pb_login_invite_add(s, "cat@example.com", now), 0);
  ASSERT_EQ(pb_login_invited(s, "CAT@example.COM"), 1);
  ASSERT_EQ(pb_login_invite_add(s, "cat@example.com\r\n", now), PB_EINVAL);

  /* Accounts by email: unique whatever the case; sign-up names. */
  int64_t a = 0, b = 0, f = 0;
  char name[64];
  ASSERT_EQ(pb_account_create_email(st, "ann", "ann@example.com", &a), 0);
  ASSERT_EQ(pb_account_create_email(st, "ann2", "ANN@example.com", &b), PB_EEXIST);
  ASSERT_EQ(pb_account_create_email(st, "x", "a\nb@c.com", &b), PB_EINVAL);
  ASSERT_EQ(pb_account_find_email(st, "Ann@Example.Com", &f, name), 0);
  ASSERT_EQ(f, a);
  ASSERT_STR_EQ(name, "ann");
  ASSERT_EQ(pb_account_find_email(st, "zed@example.com", &f, name), PB_ENOTFOUND);
  ASSERT_EQ(pb_account_signup(st, "ann@example.com", &b), PB_EEXIST);
  ASSERT_EQ(pb_account_signup(st, "d.o+e@example.com", &b), 0);
  ASSERT_EQ(pb_account_find_email(st, "d.o+e@example.com", &f, name), 0);
  ASSERT_EQ(f, b);
  ASSERT(!strncmp(name, "d.oe-", 5) && strlen(name) == 11);
  ASSERT_EQ(pb_account_set_disabled(st, b, 1, now), 0);
  ASSERT_EQ(pb_account_find_email(st, "d.o+e@example.com", &f, NULL), PB_EDISABLED);
  ASSERT_EQ(pb_account_delete(st, b, now), 0);
  ASSERT_EQ(pb_account_find_email(st, "d.o+e@example.com", &f, NULL), PB_EDELETED);

  /* Tokens: pp_sess_ made now, ppod_ ones made before still taken. */
  char tok[PB_TOKEN_MAX];
  pb_auth au;
  ASSERT_EQ(pb_token_create(st, a, 15, tok), 0);
  ASSERT(!strncmp(tok, "pp_sess_", 8) && strlen(tok) == 8 + 43);
  ASSERT_EQ(pb_token_check(st, tok, pb_wall_ms(), &au), 0);
  ASSERT_EQ(au.has_email, 1);
  char old[PB_TOKEN_MAX] = "ppod_";
  memcpy(old + 5, tok + 8, 44);
  ASSERT_EQ(pb_token_check(st, old, pb_wall_ms(), NULL), PB_EINVAL); /* another token */
  unsigned char h[32];
  pb_sha256(old, strlen(old), h);
  ASSERT_EQ(pb_db_prepare(raw,
                          "INSERT INTO tokens(account_id, hash, created_ms, expires_ms, prefix)"
                          " VALUES (?1, ?2, 1, 9999999999999, 'ppod_ABCDEFG')",
                          &q),
            0);
  pb_db_bind_int64(q, 1, a);
  pb_db_bind_blob(q, 2, h, sizeof(h));
  ASSERT_EQ(pb_db_step(q), PB_DB_DONE);
  pb_db_finalize(q);
  pb_db_close(raw);
  ASSERT_EQ(pb_token_check(st, old, pb_wall_ms(), NULL), 0);
  char bad[PB_TOKEN_MAX + 8];
  snprintf(bad, sizeof(bad), "pp_sesz%s", tok + 7);
  ASSERT_EQ(pb_token_check(st, bad, pb_wall_ms(), NULL), PB_EINVAL);
  snprintf(bad, sizeof(bad), "%s=", tok);
  ASSERT_EQ(pb_token_check(st, bad, pb_wall_ms(), NULL), PB_EINVAL);
  /* Revoked by its kept prefix: pp_sess_ and 3..7 more. */
  char pre[16];
  memcpy(pre, tok, 11);
  pre[11] = '\0';
  ASSERT_EQ(pb_token_revoke(st, pre, pb_wall_ms(), NULL), 0);
  ASSERT_EQ(pb_token_check(st, tok, pb_wall_ms(), NULL), PB_EREVOKED);
  ASSERT_EQ(pb_token_revoke(st, "pp_sess_", pb_wall_ms(), NULL), PB_EINVAL);
  ASSERT_EQ(pb_token_revoke(st, "ppod_ABCDEFG", pb_wall_ms(), NULL), 0);
  ASSERT_EQ(pb_token_check(st, old, pb_wall_ms(), NULL), PB_EREVOKED);

  pb_login_store_close(s);
  pb_store_close(st);
}

/* Two connections (two nodes, each its own pb_login_store) spend the same
 * code at the same moment, round after round: exactly one gets the email,
 * the other PB_EEXIST. */
#define RACE_ROUNDS 40
typedef struct {
  pb_login_store *s;
  pthread_barrier_t *go;
  char (*codes)[PB_LOGIN_CODE_MAX];
  int rc[RACE_ROUNDS];
  char email[RACE_ROUNDS][PB_EMAIL_MAX];
} spender;

static void *spend_all(void *arg) {
  spender *p = arg;
  for (int i = 0; i < RACE_ROUNDS; i++) {
    pthread_barrier_wait(p->go);
    p->rc[i] = pb_login_code_redeem(p->s, p->codes[i], 2000000, p->email[i], PB_EMAIL_MAX);
  }
  return NULL;
}

static void test_redeem_race(void) {
  char dir[300], path[400];
  snprintf(dir, sizeof(dir), "%s/race", root);
  snprintf(path, sizeof(path), "%s/ppod.db", dir);
  mkdir(dir, 0700);
  const char *spec = pb_test_db_spec(path);
  pb_store *st = NULL;
  ASSERT_EQ(pb_store_open_spec(spec, dir, &st), 0);
  static char codes[RACE_ROUNDS][PB_LOGIN_CODE_MAX];
  static spender sp[2];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, 2);
  for (int k = 0; k < 2; k++) {
    ASSERT_EQ(pb_login_store_open_spec(spec, dir, &sp[k].s), 0);
    sp[k].go = &go;
    sp[k].codes = codes;
  }
  for (int i = 0; i < RACE_ROUNDS; i++)
    ASSERT_EQ(pb_login_code_issue(sp[0].s, "race@example.com", 900000, 1900000, codes[i]), 0);
  pthread_t t[2];
  for (int k = 0; k < 2; k++) ASSERT_EQ(pthread_create(&t[k], NULL, spend_all, &sp[k]), 0);
  for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
  int wins[2] = {0, 0};
  for (int i = 0; i < RACE_ROUNDS; i++) {
    int a = sp[0].rc[i], b = sp[1].rc[i];
    ASSERT((a == 0 && b == PB_EEXIST) || (a == PB_EEXIST && b == 0));
    int w = a == 0 ? 0 : 1;
    wins[w]++;
    ASSERT_STR_EQ(sp[w].email[i], "race@example.com");
    ASSERT_STR_EQ(sp[1 - w].email[i], "");
  }
  fprintf(stderr, "# redeem race: %d rounds, connection 1 won %d, connection 2 won %d\n",
          RACE_ROUNDS, wins[0], wins[1]);
  for (int k = 0; k < 2; k++) pb_login_store_close(sp[k].s);
  pthread_barrier_destroy(&go);
  pb_store_close(st);
}

int main(void) {
  pb_log_level = PB_LOG_ERROR - 1;
  ASSERT(mkdtemp(root) != NULL);
  RUN(test_email);
  RUN(test_codes);
  RUN(test_redeem_race);
  char cmd[400];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
  if (system(cmd)) return 1;
  DONE();
}
