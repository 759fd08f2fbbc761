/* Sign-in by email (login.h). The I/O thread only checks, counts and
 * answers: POST /login answers the same 200 at once for every address it
 * takes, whether an account has it or not, and hands the rest to the
 * login worker (one thread, core/logincodes.h and the store), which hands
 * the mail to the mailer threads (SMTP through libcurl). A verification is
 * a store write too: it runs on the worker, and its answer comes back
 * through the server's done list as a job's does.
 *
 * Rate limits live here, on the I/O thread: fixed windows per email and per
 * client address in a table of fixed size, keyed by a salted hash. A full
 * table refuses (429) rather than forgets. They do not survive a restart. */
#include "http/login.h"

#include "common/hash.h"
#include "core/logincodes.h"
#include "http/errors.h"
#include "http/proxy.h"
#include "http/internal.h"
#include "ops/jobs.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define RL_SLOTS 8192
#define RL_PROBE 32
#define WORK_QUEUE 256
#define MAIL_THREADS 2
#define MAIL_QUEUE 64
#define MAIL_TIMEOUT_S 30

const char pb_login_usage[] =
    "  --signup open|invite|closed (PPOD_SIGNUP) who may sign up by email\n"
    "                           (POST /login); default closed: only accounts\n"
    "                           the operator made with --email sign in\n"
    "  --smtp-url URL           (PPOD_SMTP_URL) smtp[s]://user:pass@host:port\n"
    "                           the sign-in links are mailed through\n"
    "  --mail-from ADDR         (PPOD_MAIL_FROM) their From address\n"
    "  --public-url URL         (PPOD_PUBLIC_URL) the links' base; default\n"
    "                           http://<listen address>:<port>\n"
    "  --login-mail log         no SMTP: write each sign-in link to the log\n"
    "                           (for local use only)\n";

struct rl_slot {
  unsigned char key[16];
  int64_t start; /* 0: free */
  int count;
};

struct login_state {
  pb_login_opts o;
  char public_url[512];
  char mail_from[PB_EMAIL_MAX];
  char smtp_host[256]; /* for the log: never the URL (it has the password) */
  pb_login_store *codes;
  pb_jobs *work, *mail;
  char csp[512];
  const char *page_headers[9]; /* name, value pairs for the pages; NULL-ended */
  unsigned char salt[16];
  atomic_int stopping;         /* the service stops: mail not yet sent is dropped */
  struct rl_slot rl[RL_SLOTS]; /* I/O thread */
};

/* ---- flags ---- */

static int flag_value(int argc, char **argv, int *i, const char *name, char **v) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n)) return 0;
  if (a[n] == '=') {
    *v = argv[*i] + n + 1;
    return 1;
  }
  if (a[n]) return 0;
  if (*i + 1 >= argc) {
    fprintf(stderr, "ppod-browserd: %s needs a value\n", name);
    return -1;
  }
  *v = argv[++*i];
  return 1;
}

static int set_signup(pb_login_opts *o, const char *v) {
  if (!strcmp(v, "open"))
    o->signup = PB_SIGNUP_OPEN;
  else if (!strcmp(v, "invite"))
    o->signup = PB_SIGNUP_INVITE;
  else if (!strcmp(v, "closed"))
    o->signup = PB_SIGNUP_CLOSED;
  else {
    fprintf(stderr, "ppod-browserd: --signup must be open, invite or closed\n");
    return -1;
  }
  return 0;
}

/* Keeps a copy of the URL and stars its password out where it was (argv:
 * what ps shows). */
static int take_smtp_url(pb_login_opts *o, char *v) {
  if (strncmp(v, "smtp://", 7) && strncmp(v, "smtps://", 8)) {
    fprintf(stderr, "ppod-browserd: --smtp-url must be smtp://... or smtps://...\n");
    return -1;
  }
  static char copy[2048]; /* one URL per process, kept for its life */
  if (strlen(v) >= sizeof(copy)) {
    fprintf(stderr, "ppod-browserd: --smtp-url is too long\n");
    return -1;
  }
  pb_strlcpy(copy, v, sizeof(copy));
  o->smtp_url = copy;
  char *user = strstr(v, "://") + 3;
  char *at = NULL;
  for (char *p = user; *p && *p != '/'; p++)
    if (*p == '@') at = p;
  char *colon = at ? memchr(user, ':', (size_t)(at - user)) : NULL;
  if (colon)
    for (char *p = colon + 1; p < at; p++) *p = '*';
  return 0;
}

static int int_value(const char *name, const char *v, long long min, long long max,
                     long long *out) {
  if (pb_parse_int(v, min, max, out)) {
    fprintf(stderr, "ppod-browserd: %s must be a whole number from %lld to %lld\n", name, min, max);
    return -1;
  }
  return 0;
}

int pb_login_flag(pb_login_opts *o, int argc, char **argv, int *i) {
  char *v = NULL;
  long long n;
  int k;
  if ((k = flag_value(argc, argv, i, "--signup", &v)))
    return k < 0 ? -1 : set_signup(o, v) ? -1 : 1;
  if ((k = flag_value(argc, argv, i, "--smtp-url", &v)))
    return k < 0 ? -1 : take_smtp_url(o, v) ? -1 : 1;
  if ((k = flag_value(argc, argv, i, "--mail-from", &v))) {
    if (k < 0) return -1;
    o->mail_from = v;
    return 1;
  }
  if ((k = flag_value(argc, argv, i, "--public-url", &v))) {
    if (k < 0) return -1;
    o->public_url = v;
    return 1;
  }
  if ((k = flag_value(argc, argv, i, "--login-mail", &v))) {
    if (k < 0) return -1;
    if (strcmp(v, "log")) {
      fprintf(stderr, "ppod-browserd: --login-mail takes only log\n");
      return -1;
    }
    o->mail_log = 1;
    return 1;
  }
  /* For tests and operators who must: not in the usage text. */
  if ((k = flag_value(argc, argv, i, "--login-code-ttl", &v))) {
    if (k < 0 || int_value("--login-code-ttl", v, 1, 86400000, &n)) return -1;
    o->code_ttl_ms = n;
    return 1;
  }
  if ((k = flag_value(argc, argv, i, "--login-rate-email", &v))) {
    if (k < 0 || int_value("--login-rate-email", v, 1, 100000, &n)) return -1;
    o->rate_email = (int)n;
    return 1;
  }
  if ((k = flag_value(argc, argv, i, "--login-rate-ip", &v))) {
    if (k < 0 || int_value("--login-rate-ip", v, 1, 100000, &n)) return -1;
    o->rate_ip = (int)n;
    return 1;
  }
  return 0;
}

int pb_login_env(pb_login_opts *o) {
  const char *e;
  if ((e = getenv("PPOD_SIGNUP")) && *e && set_signup(o, e)) return -1;
  if ((e = getenv("PPOD_SMTP_URL")) && *e) {
    char tmp[2048]; /* the environment stays as it is */
    if (pb_strlcpy(tmp, e, sizeof(tmp)) >= sizeof(tmp) || take_smtp_url(o, tmp)) return -1;
    explicit_bzero(tmp, sizeof(tmp));
  }
  if ((e = getenv("PPOD_MAIL_FROM")) && *e) o->mail_from = e;
  if ((e = getenv("PPOD_PUBLIC_URL")) && *e) o->public_url = e;
  return 0;
}

/* ---- rate limits (I/O thread) ---- */

/* Counts one request of kind for value: 1 when under limit; 0 when over,
 * with *retry_s until its window ends. */
static int rl_take(struct login_state *ls, char kind, const char *value, int limit, int *retry_s) {
  unsigned char h[32];
  char in[sizeof(ls->salt) + 1 + PB_EMAIL_MAX + 80];
  size_t vn = strnlen(value, PB_EMAIL_MAX + 79);
  memcpy(in, ls->salt, sizeof(ls->salt));
  in[sizeof(ls->salt)] = kind;
  memcpy(in + sizeof(ls->salt) + 1, value, vn);
  pb_sha256(in, sizeof(ls->salt) + 1 + vn, h);
  int64_t now = pb_now_ms();
  size_t base = ((size_t)h[0] << 8 | h[1]) % RL_SLOTS;
  struct rl_slot *free_slot = NULL;
  for (size_t k = 0; k < RL_PROBE; k++) {
    struct rl_slot *sl = &ls->rl[(base + k) % RL_SLOTS];
    int expired = !sl->start || now - sl->start >= PB_LOGIN_RATE_WINDOW_MS;
    if (sl->start && !memcmp(sl->key, h, sizeof(sl->key))) {
      if (expired) {
        sl->start = now;
        sl->count = 0;
      }
      if (sl->count >= limit) {
        *retry_s = (int)((sl->start + PB_LOGIN_RATE_WINDOW_MS - now + 999) / 1000);
        return 0;
      }
      sl->count++;
      return 1;
    }
    if (expired && !free_slot) free_slot = sl;
  }
  if (!free_slot) {
    *retry_s = 60; /* the table is full of live windows: refuse, never forget */
    return 0;
  }
  memcpy(free_slot->key, h, sizeof(free_slot->key));
  free_slot->start = now;
  free_slot->count = 1;
  return 1;
}

static void client_address(req *r, char *out, size_t cap) {
  out[0] = '\0';
  /* X-Forwarded-For only from a node of the cluster (http/proxy.c). */
  if (r->wsi) pb_fwd_client_addr(r->srv, r->wsi, out, cap);
  if (!out[0]) pb_strlcpy(out, "?", cap);
}

/* ---- pages ---- */

static const char page_style[] =
    "body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:3em auto;padding:0 "
    "1em;color:#222}pre{background:#f4f4f4;padding:.75em;white-space:pre-wrap;word-break:break-"
    "all}#token{user-select:all}button{font:inherit;padding:.4em 1em;cursor:pointer}";
static const char page_script[] =
    "document.getElementById('copy').addEventListener('click',function(){"
    "var e=document.getElementById('token'),s=document.getElementById('copied');"
    "function sel(){var r=document.createRange();r.selectNodeContents(e);"
    "var g=getSelection();g.removeAllRanges();g.addRange(r);}"
    "if(!navigator.clipboard){sel();s.textContent='Selected: press Ctrl+C';return;}"
    "navigator.clipboard.writeText(e.textContent).then(function(){s.textContent='Copied';},"
    "function(){sel();s.textContent='Selected: press Ctrl+C';});});";

static void html_escape(pb_buf *b, const char *s) {
  if (s) pb_buf_escape_markup(b, s, strlen(s));
}

static void page_start(pb_buf *b, const char *title) {
  pb_buf_printf(b,
                "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
                "<title>%s · ppod-browser</title><style>%s</style></head><body><main>",
                title, page_style);
}

static void set_page(struct login_state *ls, req *r, int status, pb_buf *b) {
  free(r->res.body);
  r->res.body = pb_buf_steal(b, &r->res.body_len);
  r->res.content_type = "text/html; charset=utf-8";
  r->res.status = status;
  r->xh_static = ls->page_headers;
}

/* A refusal as the client asked: the error envelope, or a page that says
 * to ask for a new link. Any thread. */
static void refuse(struct login_state *ls, req *r, int json, pb_code code, const char *message) {
  r->res.err = code;
  pb_strlcpy(r->res.message, message, sizeof(r->res.message));
  set_error_body(&r->res, r->rid);
  if (json) return;
  pb_buf b;
  pb_buf_init(&b, 1 << 16);
  page_start(&b, "Sign-in link");
  pb_buf_printf(&b, "<h1>This sign-in link cannot be used</h1><p>");
  html_escape(&b, message);
  pb_buf_printf(&b,
                " (%s).</p><h2>Request a new link</h2><p>Run <code>ppod login</code> and give "
                "your email, or:</p><pre>curl -X POST ",
                pb_code_text(code));
  html_escape(&b, ls->public_url);
  pb_buf_printf(&b,
                "/login -H 'Content-Type: application/json' -d "
                "'{\"email\":\"you@example.com\"}'</pre></main></body></html>");
  set_page(ls, r, r->res.status, &b);
}

/* ---- the worker: a sign-in request ---- */

struct login_task {
  struct login_state *ls;
  pb_server *s;
  req *r; /* a verification's request (a reference); NULL for a sign-in */
  int json;
  char email[PB_EMAIL_MAX];
  char code[PB_LOGIN_CODE_MAX];
  char *link; /* the mailer's */
};

struct mail_body {
  const char *data;
  size_t len, off;
};

static size_t mail_read(char *buf, size_t size, size_t n, void *arg) {
  struct mail_body *m = arg;
  size_t k = size * n;
  if (k > m->len - m->off) k = m->len - m->off;
  memcpy(buf, m->data + m->off, k);
  m->off += k;
  return k;
}

/* A stop ends a mail in flight: a stalled SMTP server never holds the
 * service's exit up. */
static int mail_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
  (void)dt, (void)dn, (void)ut, (void)un;
  return atomic_load(&((struct login_state *)arg)->stopping);
}

/* The mailer thread: one mail through the SMTP server. The email was
 * checked by pb_email_normalize (no CR, LF or space can be in it), and the
 * link is the public URL and a base64url code. */
static void mail_main(void *arg) {
  struct login_task *t = arg;
  struct login_state *ls = t->ls;
  if (atomic_load(&ls->stopping)) {
    PB_WARN("login: the service stops; a sign-in link was not mailed");
    explicit_bzero(t->link, strlen(t->link));
    free(t->link);
    free(t);
    return;
  }
  char date[64], mid[80];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
  unsigned char rnd[12];
  if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) memset(rnd, 0, sizeof(rnd));
  const char *dom = strchr(ls->mail_from, '@');
  snprintf(mid, sizeof(mid), "<%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x%s>", rnd[0], rnd[1],
           rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], rnd[8], rnd[9], rnd[10], rnd[11],
           dom ? dom : "@ppod-browser");
  pb_buf b;
  pb_buf_init(&b, 1 << 16);
  pb_buf_printf(&b,
                "From: ppod-browser <%s>\r\nTo: <%s>\r\nSubject: Your ppod-browser sign-in "
                "link\r\nDate: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\nContent-Type: "
                "text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
                "Open this link to sign in to ppod-browser. It works once, for %lld "
                "minutes:\r\n\r\n%s\r\n\r\nThe page shows your token: then run\r\n\r\n"
                "  ppod login <token>\r\n\r\nIf you did not ask to sign in, ignore this "
                "mail.\r\n",
                ls->mail_from, t->email, date, mid,
                (long long)((ls->o.code_ttl_ms + 59999) / 60000), t->link);
  struct mail_body m = {b.data, b.len, 0};
  CURL *c = curl_easy_init();
  struct curl_slist *rcpt = NULL;
  char from[PB_EMAIL_MAX + 2], to[PB_EMAIL_MAX + 2];
  snprintf(from, sizeof(from), "<%s>", ls->mail_from);
  snprintf(to, sizeof(to), "<%s>", t->email);
  rcpt = curl_slist_append(rcpt, to);
  CURLcode rc = CURLE_OUT_OF_MEMORY;
  if (c && rcpt && b.data) {
    curl_easy_setopt(c, CURLOPT_URL, ls->o.smtp_url);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &m);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m.len);
    /* STARTTLS when the server offers it; smtps:// is TLS from the start. */
    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)MAIL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, mail_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, ls);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    rc = curl_easy_perform(c);
  }
  if (rc == CURLE_OK)
    PB_INFO("login: sign-in link mailed through %s", ls->smtp_host);
  else
    PB_WARN("login: mailing a sign-in link through %s failed: %s", ls->smtp_host,
            curl_easy_strerror(rc));
  curl_slist_free_all(rcpt);
  if (c) curl_easy_cleanup(c);
  explicit_bzero(b.data, b.len);
  pb_buf_free(&b);
  explicit_bzero(t->link, strlen(t->link));
  free(t->link);
  free(t);
}

/* May email sign in (or sign up) now? 1 yes, 0 no. */
static int may_sign_in(struct login_state *ls, pb_server *s, const char *email) {
  int64_t id;
  int rc = pb_account_find_email(s->o.store, email, &id, NULL);
  if (rc == 0) return 1;
  if (rc != PB_ENOTFOUND) return 0; /* disabled, deleted, or the store failed */
  if (ls->o.signup == PB_SIGNUP_OPEN) return 1;
  if (ls->o.signup == PB_SIGNUP_INVITE) return pb_login_invited(ls->codes, email) == 1;
  return 0;
}

/* The worker: a sign-in request taken on the I/O thread. */
static void signin_main(void *arg) {
  struct login_task *t = arg;
  struct login_state *ls = t->ls;
  if (!may_sign_in(ls, t->s, t->email)) {
    PB_DEBUG("login: %s may not sign in; no link", t->email);
    free(t);
    return;
  }
  char code[PB_LOGIN_CODE_MAX];
  int rc = pb_login_code_issue(ls->codes, t->email, ls->o.code_ttl_ms, pb_wall_ms(), code);
  if (rc) {
    PB_WARN("login: no code issued: %s", pb_strerror(rc));
    free(t);
    return;
  }
  pb_buf l;
  pb_buf_init(&l, 4096);
  pb_buf_printf(&l, "%s/login/verify?code=%s", ls->public_url, code);
  explicit_bzero(code, sizeof(code));
  if (!ls->o.smtp_url) {
    /* --login-mail=log: the one place a code is written to the log. */
    PB_INFO("login: sign-in link for %s: %s", t->email, l.data ? l.data : "");
    explicit_bzero(l.data, l.len);
    pb_buf_free(&l);
    free(t);
    return;
  }
  t->link = pb_buf_steal(&l, NULL);
  if (!t->link || pb_jobs_submit(ls->mail, mail_main, t)) {
    PB_WARN("login: the mail queue is full; a sign-in link was dropped");
    free(t->link);
    free(t);
  }
}

/* ---- the worker: a verification ---- */

static void hand_back(struct login_task *t) {
  pb_server *s = t->s;
  req *r = t->r;
  pthread_mutex_lock(&s->done_mu);
  r->next_done = s->done;
  s->done = r;
  pthread_mutex_unlock(&s->done_mu);
  lws_cancel_service(s->ctx);
  free(t);
}

static void verify_answer(struct login_task *t, const char *token, int64_t expires_ms,
                          const char *name) {
  struct login_state *ls = t->ls;
  req *r = t->r;
  char when[40];
  time_t sec = (time_t)(expires_ms / 1000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (t->json) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddBoolToObject(o, "success", 1);
    cJSON *res = cJSON_AddObjectToObject(o, "result");
    cJSON_AddStringToObject(res, "token", token);
    cJSON_AddStringToObject(res, "expiresAt", when);
    cJSON *a = cJSON_AddObjectToObject(res, "account");
    cJSON_AddStringToObject(a, "name", name);
    cJSON_AddStringToObject(a, "email", t->email);
    free(r->res.body);
    r->res.body = cJSON_PrintUnformatted(o);
    r->res.body_len = r->res.body ? strlen(r->res.body) : 0;
    r->res.content_type = "application/json";
    r->res.status = 200;
    r->xh_static = ls->page_headers + 4; /* no-store, no-referrer */
    cJSON_Delete(o);
    return;
  }
  pb_buf b;
  pb_buf_init(&b, 1 << 16);
  page_start(&b, "Signed in");
  pb_buf_printf(&b, "<h1>You are signed in</h1><p>The token of <b>");
  html_escape(&b, t->email);
  pb_buf_printf(&b, "</b> (account <b>");
  html_escape(&b, name);
  pb_buf_printf(&b,
                "</b>), good until <time>%s</time>:</p><pre id=\"token\">%s</pre>"
                "<p><button id=\"copy\" type=\"button\">Copy token</button> "
                "<span id=\"copied\" role=\"status\"></span></p><h2>Next</h2>"
                "<pre>ppod login %s</pre><p>or send it as <code>Authorization: Bearer "
                "&lt;token&gt;</code>. This page is shown once: its link is spent.</p>"
                "</main><script>%s</script></body></html>",
                when, token, token, page_script);
  set_page(ls, r, 200, &b);
}

static void verify_main(void *arg) {
  struct login_task *t = arg;
  struct login_state *ls = t->ls;
  pb_store *st = t->s->o.store;
  req *r = t->r;
  int64_t now = pb_wall_ms(), id = 0;
  char name[64] = "";
  int rc = pb_login_code_redeem(ls->codes, t->code, now, t->email, sizeof(t->email));
  explicit_bzero(t->code, sizeof(t->code));
  if (rc == PB_EINVAL) {
    refuse(ls, r, t->json, PB_CODE_LOGIN_CODE_INVALID, "this sign-in link is not one we sent");
  } else if (rc == PB_EEXIST) {
    refuse(ls, r, t->json, PB_CODE_LOGIN_CODE_USED, "this sign-in link was used already");
  } else if (rc == PB_EEXPIRED) {
    refuse(ls, r, t->json, PB_CODE_LOGIN_CODE_EXPIRED, "this sign-in link expired");
  } else if (rc) {
    refuse(ls, r, t->json, PB_CODE_INTERNAL_ERROR, "the account store failed");
  } else {
    rc = pb_account_find_email(st, t->email, &id, name);
    if (rc == PB_ENOTFOUND &&
        (ls->o.signup == PB_SIGNUP_OPEN ||
         (ls->o.signup == PB_SIGNUP_INVITE && pb_login_invited(ls->codes, t->email) == 1))) {
      rc = pb_account_signup(st, t->email, &id);
      if (rc == 0 || rc == PB_EEXIST) rc = pb_account_find_email(st, t->email, &id, name);
      if (rc == 0) PB_INFO("login: account %s signed up by email", name);
    }
    char token[PB_TOKEN_MAX];
    if (rc == PB_ENOTFOUND)
      refuse(ls, r, t->json, PB_CODE_FORBIDDEN, "sign-up is closed on this server");
    else if (rc == PB_EDISABLED)
      refuse(ls, r, t->json, PB_CODE_ACCOUNT_DISABLED, "the account is disabled");
    else if (rc == PB_EDELETED)
      refuse(ls, r, t->json, PB_CODE_ACCOUNT_DELETED, "the account was deleted");
    else if (rc || (rc = pb_token_create(st, id, PB_LOGIN_TOKEN_TTL_DAYS, token)))
      refuse(ls, r, t->json, PB_CODE_INTERNAL_ERROR, "the account store failed");
    else {
      verify_answer(t, token, now + (int64_t)PB_LOGIN_TOKEN_TTL_DAYS * 86400000, name);
      explicit_bzero(token, sizeof(token));
      PB_INFO("login: account %s signed in by email", name);
    }
  }
  hand_back(t);
}

/* ---- the routes (I/O thread) ---- */

void post_login(pb_server *s, req *r) {
  struct login_state *ls = s->login;
  if (!ls) {
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE,
                 "sign-in by email is not set up on this server (the operator sets "
                 "--smtp-url, or --login-mail=log for local use)");
    return;
  }
  const cJSON *e = cJSON_GetObjectItemCaseSensitive(r->json, "email");
  struct login_task *t = calloc(1, sizeof(*t));
  if (!t) {
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    return;
  }
  if (!cJSON_IsString(e) || pb_email_normalize(e->valuestring, t->email, sizeof(t->email))) {
    free(t);
    answer_error(r, PB_CODE_INVALID_REQUEST, "email: not an email address");
    return;
  }
  char addr[80];
  client_address(r, addr, sizeof(addr));
  int retry = 0;
  if (!rl_take(ls, 'a', addr, ls->o.rate_ip, &retry) ||
      !rl_take(ls, 'e', t->email, ls->o.rate_email, &retry)) {
    free(t);
    r->retry_after = retry;
    answer_error(r, PB_CODE_RATE_LIMITED, "too many sign-in requests; retry later");
    return;
  }
  t->ls = ls;
  t->s = s;
  if (pb_jobs_submit(ls->work, signin_main, t)) {
    free(t);
    r->retry_after = 1;
    answer_error(r, PB_CODE_TOO_MANY_REQUESTS, "too many sign-ins at once; retry shortly");
    return;
  }
  /* The same words whoever asked: no account is told apart. */
  cJSON *res = cJSON_CreateObject();
  cJSON_AddStringToObject(res, "message",
                          "If this address may sign in, a sign-in link is on its way. Open "
                          "it to get your token.");
  cJSON_AddNumberToObject(res, "expiresInSeconds", (double)(ls->o.code_ttl_ms / 1000));
  answer_json(r, res);
}

void get_login_verify(pb_server *s, req *r) {
  struct login_state *ls = s->login;
  char accept[256];
  int json = http_header(r->wsi, WSI_TOKEN_HTTP_ACCEPT, accept, sizeof(accept)) &&
             strstr(accept, "application/json") && !strstr(accept, "text/html");
  if (!ls) {
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "sign-in by email is not set up on this server");
    return;
  }
  char addr[80];
  client_address(r, addr, sizeof(addr));
  int retry = 0;
  if (!rl_take(ls, 'v', addr, ls->o.rate_ip, &retry)) {
    r->retry_after = retry;
    answer_error(r, PB_CODE_RATE_LIMITED, "too many sign-in attempts; retry later");
    return;
  }
  struct login_task *t = calloc(1, sizeof(*t));
  char code[128];
  if (!t) {
    answer_error(r, PB_CODE_SERVICE_UNAVAILABLE, "out of memory; retry shortly");
    return;
  }
  /* lws copies the whole "code=..." and points past the name. */
  const char *v = lws_get_urlarg_by_name(r->wsi, "code=", code, sizeof(code));
  if (v && !strncmp(v, "code=", 5)) v += 5;
  if (!v || !pb_login_code_well_formed(v)) {
    free(t);
    refuse(ls, r, json, PB_CODE_LOGIN_CODE_INVALID,
           "this sign-in link is not one we sent (its code is missing or malformed)");
    answer_ready(r);
    return;
  }
  memcpy(t->code, v, sizeof(t->code));
  explicit_bzero(code, sizeof(code));
  t->ls = ls;
  t->s = s;
  t->r = r;
  t->json = json;
  atomic_fetch_add(&r->refs, 1); /* the worker's, dropped by drain_done */
  if (pb_jobs_submit(ls->work, verify_main, t)) {
    atomic_fetch_sub(&r->refs, 1);
    explicit_bzero(t->code, sizeof(t->code));
    free(t);
    r->retry_after = 1;
    answer_error(r, PB_CODE_TOO_MANY_REQUESTS, "too many sign-ins at once; retry shortly");
    return;
  }
  s->inflight++;
}

const char *login_expired_message(pb_server *s, const pb_auth *a) {
  struct login_state *ls = s->login;
  if ((ls && ls->o.signup != PB_SIGNUP_CLOSED) || (ls && a && a->has_email))
    return "the token expired; re-authenticate via POST /login (a sign-in link by email, "
           "or run ppod login)";
  return "the token expired; ask the operator for a new one";
}

/* ---- start and stop ---- */

static int csp_hash(const char *text, char *out, size_t cap) {
  unsigned char h[32];
  char *b64 = NULL;
  pb_sha256(text, strlen(text), h);
  if (pb_base64_encode(h, sizeof(h), &b64)) return PB_ENOMEM;
  snprintf(out, cap, "'sha256-%s'", b64);
  free(b64);
  return 0;
}

int login_init(pb_server *s) {
  const pb_login_opts *o = s->o.login;
  if (!o || (!o->smtp_url && !o->mail_log)) {
    if (o && o->signup != PB_SIGNUP_CLOSED)
      PB_WARN("login: --signup without --smtp-url or --login-mail=log: POST /login answers 503");
    return 0;
  }
  struct login_state *ls = calloc(1, sizeof(*ls));
  if (!ls) return PB_ENOMEM;
  ls->o = *o;
  if (!ls->o.code_ttl_ms) ls->o.code_ttl_ms = PB_LOGIN_CODE_TTL_MS;
  if (!ls->o.rate_email) ls->o.rate_email = PB_LOGIN_RATE_EMAIL;
  if (!ls->o.rate_ip) ls->o.rate_ip = PB_LOGIN_RATE_IP;
  if (o->public_url)
    pb_strlcpy(ls->public_url, o->public_url, sizeof(ls->public_url));
  else
    snprintf(ls->public_url, sizeof(ls->public_url),
             strchr(s->o.address, ':') ? "http://[%s]:%d" : "http://%s:%d", s->o.address,
             s->o.port);
  size_t ul = strlen(ls->public_url);
  while (ul && ls->public_url[ul - 1] == '/') ls->public_url[--ul] = '\0';
  int rc = 0;
  if (strncmp(ls->public_url, "http://", 7) && strncmp(ls->public_url, "https://", 8)) {
    PB_ERR("login: --public-url must start with http:// or https://");
    rc = PB_EINVAL;
  }
  for (const char *p = ls->public_url; !rc && *p; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("\"'<>\\`", *p)) {
      PB_ERR("login: --public-url has a character a link cannot carry");
      rc = PB_EINVAL;
    }
  if (!rc && o->mail_from) {
    if (pb_email_normalize(o->mail_from, ls->mail_from, sizeof(ls->mail_from))) {
      PB_ERR("login: --mail-from is not an email address");
      rc = PB_EINVAL;
    }
  } else if (!rc) {
    /* ppod-browser@ the public URL's host, when that is a name. */
    const char *h = strstr(ls->public_url, "://") + 3;
    char host[200];
    size_t n = strcspn(h, ":/");
    if (n >= sizeof(host)) n = sizeof(host) - 1;
    memcpy(host, h, n);
    host[n] = '\0';
    char cand[PB_EMAIL_MAX];
    snprintf(cand, sizeof(cand), "ppod-browser@%s", host);
    if (pb_email_normalize(cand, ls->mail_from, sizeof(ls->mail_from)))
      pb_strlcpy(ls->mail_from, "ppod-browser@localhost.localdomain", sizeof(ls->mail_from));
  }
  if (!rc && o->smtp_url) {
    CURLU *u = curl_url();
    char *host = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, o->smtp_url, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0)) {
      PB_ERR("login: --smtp-url is not a URL curl takes");
      rc = PB_EINVAL;
    } else {
      pb_strlcpy(ls->smtp_host, host, sizeof(ls->smtp_host));
    }
    curl_free(host);
    curl_url_cleanup(u);
  }
  char hs[80], hj[80];
  if (!rc) rc = csp_hash(page_script, hj, sizeof(hj));
  if (!rc) rc = csp_hash(page_style, hs, sizeof(hs));
  if (!rc) {
    snprintf(ls->csp, sizeof(ls->csp),
             "default-src 'none'; script-src %s; style-src %s; base-uri 'none'; "
             "form-action 'none'; frame-ancestors 'none'",
             hj, hs);
    const char *h[] = {"content-security-policy:",
                       ls->csp,
                       "x-frame-options:",
                       "DENY",
                       "cache-control:",
                       "no-store",
                       "referrer-policy:",
                       "no-referrer",
                       NULL};
    memcpy(ls->page_headers, h, sizeof(h));
  }
  if (!rc && getrandom(ls->salt, sizeof(ls->salt), 0) != (ssize_t)sizeof(ls->salt)) rc = PB_EIO;
  if (!rc) rc = pb_login_store_open_spec(o->store_spec, o->data_dir, &ls->codes);
  if (!rc) rc = pb_jobs_start(1, WORK_QUEUE, &ls->work);
  if (!rc && o->smtp_url) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT)) rc = PB_ENOMEM;
    if (!rc) rc = pb_jobs_start(MAIL_THREADS, MAIL_QUEUE, &ls->mail);
  }
  s->login = ls;
  if (rc) return rc;
  PB_INFO("login: sign-in by email on (sign-up %s; links %s, to %s)",
          o->signup == PB_SIGNUP_OPEN     ? "open"
          : o->signup == PB_SIGNUP_INVITE ? "by invitation"
                                          : "closed",
          o->smtp_url ? "mailed" : "written to this log", ls->public_url);
  if (o->smtp_url) PB_INFO("login: mail through %s, from %s", ls->smtp_host, ls->mail_from);
  return 0;
}

void login_stop(pb_server *s) {
  struct login_state *ls = s->login;
  if (!ls) return;
  pb_jobs_stop(ls->work); /* first: it hands mail to the mailers */
  ls->work = NULL;
  pb_jobs_stop(ls->mail);
  ls->mail = NULL;
}

void login_free(pb_server *s) {
  struct login_state *ls = s->login;
  if (!ls) return;
  atomic_store(&ls->stopping, 1);
  login_stop(s);
  pb_login_store_close(ls->codes);
  if (ls->o.smtp_url) curl_global_cleanup();
  free(ls);
  s->login = NULL;
}
