#ifndef PB_HTTP_LOGIN_H
#define PB_HTTP_LOGIN_H
/* Sign-in by email: POST /login mails a magic link (SMTP through libcurl,
 * from a thread of its own), GET /login/verify?code= spends it and hands
 * out a pp_sess_ token. The daemon reads its flags here and passes the
 * options to the server (pb_server_opts.login). */
#include <stdint.h>

typedef enum {
  PB_SIGNUP_CLOSED = 0, /* only accounts the operator made (with an email) */
  PB_SIGNUP_INVITE,     /* and the emails the operator invited */
  PB_SIGNUP_OPEN,       /* any email makes its account */
} pb_signup;

#define PB_LOGIN_CODE_TTL_MS (15 * 60 * 1000)
#define PB_LOGIN_TOKEN_TTL_DAYS 15
#define PB_LOGIN_RATE_WINDOW_MS (15 * 60 * 1000)
#define PB_LOGIN_RATE_EMAIL 5 /* sign-in requests per email per window */
#define PB_LOGIN_RATE_IP 20   /* ... per client address, and verifications too */

typedef struct {
  const char *data_dir;   /* borrowed; the store's */
  const char *store_spec; /* borrowed; pb_store_db_spec (NULL: data_dir's SQLite) */
  const char *smtp_url;   /* smtp[s]://user:pass@host:port, borrowed; NULL: none */
  const char *mail_from;  /* NULL: ppod-browser@<the public URL's host> */
  const char *public_url; /* the links' base; NULL: http://<listen address>:<port> */
  pb_signup signup;
  int mail_log;            /* --login-mail=log: the link goes to the log (no SMTP) */
  int64_t code_ttl_ms;     /* 0: PB_LOGIN_CODE_TTL_MS */
  int rate_email, rate_ip; /* per window; 0: the defaults above */
} pb_login_opts;

/* Takes argv[*i] (and its value, as the next argument or after '=') when
 * it is one of the login flags: 1 and *i moved to the last argument used;
 * 0 when it is not one; -1 after printing why the value is wrong. The SMTP
 * URL's password is overwritten in argv (ps shows "***"): the URL is copied
 * first. PPOD_SMTP_URL, PPOD_MAIL_FROM, PPOD_PUBLIC_URL and PPOD_SIGNUP are
 * read by pb_login_env. */
int pb_login_flag(pb_login_opts *o, int argc, char **argv, int *i);
int pb_login_env(pb_login_opts *o);
/* The flags' lines for the daemon's usage text. */
extern const char pb_login_usage[];

#endif
