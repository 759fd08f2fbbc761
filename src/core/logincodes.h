#ifndef PB_CORE_LOGINCODES_H
#define PB_CORE_LOGINCODES_H
/* Sign-in by email in the store: the magic link codes (single use, kept
 * only as their SHA-256) and the emails the operator invited (tables of
 * migration 8 in core/store.c). The accounts themselves are core/store.h's.
 *
 * A connection of its own (core/db.h) on the store the daemon uses, opened
 * after pb_store_open made the schema: data_dir/ppod.db (WAL,
 * synchronous=FULL: a code spent must stay spent after a power cut) or the
 * PostgreSQL database of --store. A code is spent by one conditional
 * UPDATE ... RETURNING, so two connections (two nodes) spending it at once
 * succeed once. One mutex held for each call; any thread. Every function
 * returns 0 or a PB_E* (PB_ESTORE when the database failed). */
#include <stddef.h>
#include <stdint.h>

typedef struct pb_login_store pb_login_store;

/* An email address: 3..254 bytes, a local part of 1..64 RFC 5322 atext
 * characters and single dots (not first or last), '@', a domain of two or
 * more LDH labels of 1..63. Nothing else: no quotes, no spaces, no control
 * characters (a CR or LF never reaches a mail header). */
#define PB_EMAIL_MAX 255 /* buffer size: 254 bytes and the NUL */
/* Copies in, lower-cased, to out (cap >= PB_EMAIL_MAX) when it is an email
 * as above; else PB_EINVAL and out is "". */
int pb_email_normalize(const char *in, char *out, size_t cap);

/* A code: 256 random bits as 43 base64url characters. */
#define PB_LOGIN_CODE_LEN 43
#define PB_LOGIN_CODE_MAX (PB_LOGIN_CODE_LEN + 1)
/* 1 when code has that shape (NULL is not). */
int pb_login_code_well_formed(const char *code);

/* spec: a store spec as core/db.h's pb_db_open takes (pb_store_db_spec),
 * or NULL/"" for data_dir/ppod.db. */
int pb_login_store_open_spec(const char *spec, const char *data_dir, pb_login_store **out);
/* = pb_login_store_open_spec(NULL, data_dir, out). */
int pb_login_store_open(const char *data_dir, pb_login_store **out);
/* NULL is a no-op. */
void pb_login_store_close(pb_login_store *s);

/* A new code for email (normalised), good until now_ms + ttl_ms; its
 * plaintext into code (never stored). Codes expired for a day are pruned.
 * PB_EINVAL for a bad email or ttl; PB_EIO when the kernel gives no
 * randomness. */
int pb_login_code_issue(pb_login_store *s, const char *email, int64_t ttl_ms, int64_t now_ms,
                        char code[PB_LOGIN_CODE_MAX]);
/* Spends code at now_ms, in one transaction: 0 and its email into email
 * (cap bytes); PB_EINVAL for a code never issued (or malformed);
 * PB_EEXIST for one spent already; PB_EEXPIRED for one past its time (both
 * stay as they were). */
int pb_login_code_redeem(pb_login_store *s, const char *code, int64_t now_ms, char *email,
                         size_t cap);

/* Invites email (normalised) to sign up when sign-up is by invitation.
 * Inviting twice is 0. */
int pb_login_invite_add(pb_login_store *s, const char *email, int64_t now_ms);
/* 1 when email was invited, 0 when not, or a PB_E*. */
int pb_login_invited(pb_login_store *s, const char *email);

#endif
