/* Magic link codes and invitations (see logincodes.h). Statements are
 * prepared per call: sign-ins are rare next to the ledger's writes. */
#include "core/logincodes.h"

#include "common/hash.h"
#include "common/pb.h"
#include "core/db.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PRUNE_AFTER_MS INT64_C(86400000)

struct pb_login_store {
  pb_db *db;
  pthread_mutex_t mu;
};

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}

static int is_ldh(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

int pb_email_normalize(const char *in, char *out, size_t cap) {
  if (out && cap) out[0] = '\0';
  if (!in || !out || cap < PB_EMAIL_MAX) return PB_EINVAL;
  size_t n = strnlen(in, PB_EMAIL_MAX);
  if (n < 3 || n >= PB_EMAIL_MAX) return PB_EINVAL;
  const char *at = strchr(in, '@');
  if (!at || strchr(at + 1, '@')) return PB_EINVAL;
  size_t local = (size_t)(at - in);
  if (local < 1 || local > 64 || in[0] == '.' || in[local - 1] == '.') return PB_EINVAL;
  for (size_t i = 0; i < local; i++) {
    if (in[i] == '.') {
      if (in[i + 1] == '.') return PB_EINVAL;
    } else if (!is_atext(in[i])) {
      return PB_EINVAL;
    }
  }
  const char *d = at + 1;
  int labels = 0;
  while (*d) {
    size_t len = 0;
    while (is_ldh(d[len])) len++;
    if (len < 1 || len > 63 || d[0] == '-' || d[len - 1] == '-') return PB_EINVAL;
    labels++;
    d += len;
    if (*d == '.') {
      d++;
      if (!*d) return PB_EINVAL;
    } else if (*d) {
      return PB_EINVAL;
    }
  }
  if (labels < 2) return PB_EINVAL;
  for (size_t i = 0; i <= n; i++) {
    char c = in[i];
    out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
  }
  return 0;
}

int pb_login_code_well_formed(const char *code) {
  if (!code) return 0;
  size_t n = 0;
  for (; code[n]; n++)
    if (n >= PB_LOGIN_CODE_LEN || !memchr(b64url, code[n], sizeof(b64url) - 1)) return 0;
  return n == PB_LOGIN_CODE_LEN;
}

static int fail(pb_login_store *s, int rc, const char *what) {
  PB_ERR("login store: %s: %s (%d)", what, pb_db_errmsg(s->db), rc);
  return rc == PB_ENOSPACE ? PB_ENOSPACE : PB_ESTORE;
}

int pb_login_store_open_spec(const char *spec, const char *data_dir, pb_login_store **out) {
  *out = NULL;
  char path[PATH_MAX];
  if (!spec || !*spec) {
    int n = snprintf(path, sizeof(path), "%s/ppod.db", data_dir);
    if (n < 0 || (size_t)n >= sizeof(path)) return PB_ETOOBIG;
    spec = path;
  }
  pb_login_store *s = calloc(1, sizeof(*s));
  if (!s) return PB_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  /* pb_db_open's SQLite is synchronous=FULL: a code spent stays spent. */
  if (pb_db_open(spec, &s->db)) {
    PB_ERR("login store: cannot open the store");
    pb_login_store_close(s);
    return PB_ESTORE;
  }
  *out = s;
  return 0;
}

int pb_login_store_open(const char *data_dir, pb_login_store **out) {
  return pb_login_store_open_spec(NULL, data_dir, out);
}

void pb_login_store_close(pb_login_store *s) {
  if (!s) return;
  pb_db_close(s->db);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Runs sql with the binds in order: the blob (when given), the text (when
 * given), then i1 and i2 for the parameters left (nint of them). Returns
 * the first step's result; *keep stays for reading rows when given (the
 * caller finalizes). Lock held. */
static int run(pb_login_store *s, const char *sql, pb_db_stmt **keep, const void *blob,
               size_t blob_len, const char *text, int nint, int64_t i1, int64_t i2) {
  pb_db_stmt *st = NULL;
  if (keep) *keep = NULL;
  int rc = pb_db_prepare(s->db, sql, &st);
  if (rc) return rc;
  int idx = 1;
  if (blob) pb_db_bind_blob(st, idx++, blob, blob_len);
  if (text) pb_db_bind_text(st, idx++, text, -1);
  if (nint > 0) pb_db_bind_int64(st, idx++, i1);
  if (nint > 1) pb_db_bind_int64(st, idx++, i2);
  rc = pb_db_step(st);
  if (keep)
    *keep = st;
  else
    pb_db_finalize(st);
  return rc;
}

int pb_login_code_issue(pb_login_store *s, const char *email, int64_t ttl_ms, int64_t now_ms,
                        char code[PB_LOGIN_CODE_MAX]) {
  char norm[PB_EMAIL_MAX];
  if (!s || !code || ttl_ms <= 0 || pb_email_normalize(email, norm, sizeof(norm))) return PB_EINVAL;
  unsigned char raw[32], hash[32];
  size_t got = 0;
  while (got < sizeof(raw)) {
    ssize_t k = getrandom(raw + got, sizeof(raw) - got, 0);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return PB_EIO;
    got += (size_t)k;
  }
  char c[PB_LOGIN_CODE_MAX];
  size_t j = 0;
  for (size_t i = 0; i < sizeof(raw); i += 3) {
    uint32_t v = (uint32_t)raw[i] << 16;
    if (i + 1 < sizeof(raw)) v |= (uint32_t)raw[i + 1] << 8;
    if (i + 2 < sizeof(raw)) v |= raw[i + 2];
    c[j++] = b64url[(v >> 18) & 63];
    c[j++] = b64url[(v >> 12) & 63];
    if (i + 1 < sizeof(raw)) c[j++] = b64url[(v >> 6) & 63];
    if (i + 2 < sizeof(raw)) c[j++] = b64url[v & 63];
  }
  c[j] = '\0';
  explicit_bzero(raw, sizeof(raw));
  pb_sha256(c, j, hash);
  pthread_mutex_lock(&s->mu);
  int rc = run(s, "DELETE FROM login_codes WHERE expires_ms < ?1", NULL, NULL, 0, NULL, 1,
               now_ms - PRUNE_AFTER_MS, 0);
  if (rc == PB_DB_DONE)
    rc = run(s,
             "INSERT INTO login_codes(hash, email, created_ms, expires_ms)"
             " VALUES (?1, ?2, ?3, ?4)",
             NULL, hash, sizeof(hash), norm, 2, now_ms, now_ms + ttl_ms);
  int r = rc == PB_DB_DONE ? 0 : fail(s, rc, "code issue");
  pthread_mutex_unlock(&s->mu);
  if (!r) memcpy(code, c, j + 1);
  explicit_bzero(c, sizeof(c));
  return r;
}

int pb_login_code_redeem(pb_login_store *s, const char *code, int64_t now_ms, char *email,
                         size_t cap) {
  if (email && cap) email[0] = '\0';
  if (!s || !email || !pb_login_code_well_formed(code)) return PB_EINVAL;
  unsigned char hash[32];
  pb_sha256(code, strlen(code), hash);
  pthread_mutex_lock(&s->mu);
  /* One statement spends it: two redeems racing (two processes too) cannot
   * both change the row. RETURNING says which one did. */
  pb_db_stmt *st = NULL;
  int rc = run(s,
               "UPDATE login_codes SET used_ms = ?2 WHERE hash = ?1 AND used_ms IS NULL"
               " AND expires_ms > ?2 RETURNING email",
               &st, hash, sizeof(hash), NULL, 1, now_ms, 0);
  int r = 0;
  if (rc == PB_DB_ROW) {
    const char *e = pb_db_column_text(st, 0);
    pb_strlcpy(email, e ? e : "", cap);
    rc = pb_db_step(st);
    if (rc != PB_DB_DONE) r = fail(s, rc, "code redeem");
  } else if (rc == PB_DB_DONE) {
    pb_db_finalize(st);
    st = NULL;
    /* Nothing spent: say why (never issued, spent, or too late). */
    rc = run(s, "SELECT used_ms IS NOT NULL FROM login_codes WHERE hash = ?1", &st, hash,
             sizeof(hash), NULL, 0, 0, 0);
    if (rc == PB_DB_ROW)
      r = pb_db_column_int64(st, 0) ? PB_EEXIST : PB_EEXPIRED;
    else if (rc == PB_DB_DONE)
      r = PB_EINVAL;
    else
      r = fail(s, rc, "code lookup");
  } else {
    r = fail(s, rc, "code redeem");
  }
  pb_db_finalize(st);
  pthread_mutex_unlock(&s->mu);
  if (r) email[0] = '\0';
  return r;
}

int pb_login_invite_add(pb_login_store *s, const char *email, int64_t now_ms) {
  char norm[PB_EMAIL_MAX];
  if (!s || pb_email_normalize(email, norm, sizeof(norm))) return PB_EINVAL;
  pthread_mutex_lock(&s->mu);
  int rc = run(s,
               "INSERT INTO login_invites(email, created_ms) VALUES (?1, ?2)"
               " ON CONFLICT DO NOTHING",
               NULL, NULL, 0, norm, 1, now_ms, 0);
  int r = rc == PB_DB_DONE ? 0 : fail(s, rc, "invite");
  pthread_mutex_unlock(&s->mu);
  return r;
}

int pb_login_invited(pb_login_store *s, const char *email) {
  char norm[PB_EMAIL_MAX];
  if (!s || pb_email_normalize(email, norm, sizeof(norm))) return PB_EINVAL;
  pthread_mutex_lock(&s->mu);
  /* Stored lower-cased (normalised); lower() also matches a row written in
   * another case, on both backends (SQLite's NOCASE is ASCII, as is
   * lower()). */
  int rc = run(s, "SELECT 1 FROM login_invites WHERE lower(email) = ?1", NULL, NULL, 0, norm, 0,
               0, 0);
  int r = rc == PB_DB_ROW ? 1 : rc == PB_DB_DONE ? 0 : fail(s, rc, "invited");
  pthread_mutex_unlock(&s->mu);
  return r;
}
