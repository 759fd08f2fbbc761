/* Tenant regular expressions on PCRE2, bounded. The limits are set so that
 * any URL filter a person writes stays far below them (a URL of a few KB
 * against an ordinary pattern takes a few hundred match steps), while the
 * known catastrophic shapes, nested quantifiers and alternations that
 * backtrack exponentially, stop within about a millisecond each. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "common/pattern.h"

#include "common/pb.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MATCH_LIMIT 100000  /* backtracking steps per match */
#define DEPTH_LIMIT 1000    /* nested backtracking frames (interpreter) */
#define HEAP_LIMIT_KIB 1024 /* the interpreter's backtracking memory */
#define NEST_LIMIT 32       /* parentheses nesting */
#define JIT_STACK_START (32 * 1024)
#define JIT_STACK_MAX (256 * 1024)
#define LOG_EVERY_MS 10000

struct pb_pattern {
  pcre2_code *code;
  pcre2_match_context *mctx;
  pcre2_jit_stack *jit_stack; /* NULL when JIT is not available */
  pcre2_match_data *md;
  pthread_mutex_t mu; /* md and the JIT stack serve one match at a time */
};

static _Atomic int64_t last_log_ms;

void pb_pattern_free(pb_pattern *p) {
  if (!p) return;
  pcre2_match_data_free(p->md);
  pcre2_jit_stack_free(p->jit_stack);
  pcre2_match_context_free(p->mctx);
  pcre2_code_free(p->code);
  pthread_mutex_destroy(&p->mu);
  free(p);
}

/* Compiles re[0, len) with PCRE2 options opts and extra; limits as above.
 * shift is added to error offsets (the literal form's leading slash). */
static int compile(const char *re, size_t len, uint32_t opts, uint32_t extra, size_t shift,
                   pb_pattern **out, char *err, size_t errcap) {
  pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
  if (!cc) return PB_ENOMEM;
  /* A translated JavaScript pattern may be longer than what was sent; the
   * limit on what was sent is checked before. */
  pcre2_set_max_pattern_length(cc, 2 * PB_PATTERN_MAX_LEN);
  pcre2_set_parens_nest_limit(cc, NEST_LIMIT);
  if (extra) pcre2_set_compile_extra_options(cc, extra);
  int ec = 0;
  PCRE2_SIZE eoff = 0;
  /* \C could split a UTF-8 character and read past it: never. */
  pcre2_code *code = pcre2_compile(
      (PCRE2_SPTR)re, len, opts | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C,
      &ec, &eoff, cc);
  pcre2_compile_context_free(cc);
  if (!code) {
    PCRE2_UCHAR msg[160];
    if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
      pb_strlcpy((char *)msg, "?", sizeof(msg));
    /* Too large, too deeply nested, too long: limits, not typos. */
    int limit = ec == PCRE2_ERROR_PATTERN_TOO_LARGE ||
                ec == PCRE2_ERROR_PARENTHESES_NEST_TOO_DEEP ||
                ec == PCRE2_ERROR_PATTERN_STRING_TOO_LONG || ec == PCRE2_ERROR_HEAP_FAILED;
    snprintf(err, errcap, "%s at offset %zu", (const char *)msg, (size_t)eoff + shift);
    return limit ? PB_ETOOBIG : PB_EINVAL;
  }
  size_t size = 0;
  uint32_t backref = 0;
  pcre2_pattern_info(code, PCRE2_INFO_SIZE, &size);
  pcre2_pattern_info(code, PCRE2_INFO_BACKREFMAX, &backref);
  if (backref) {
    pcre2_code_free(code);
    snprintf(err, errcap, "backreferences (\\%u) are not supported", backref);
    return PB_EINVAL;
  }
  if (size > PB_PATTERN_MAX_COMPILED) {
    pcre2_code_free(code);
    snprintf(err, errcap, "compiles to %zu bytes, over the %d-byte limit", size,
             PB_PATTERN_MAX_COMPILED);
    return PB_ETOOBIG;
  }
  pb_pattern *p = calloc(1, sizeof(*p));
  if (!p) {
    pcre2_code_free(code);
    return PB_ENOMEM;
  }
  pthread_mutex_init(&p->mu, NULL);
  p->code = code;
  p->mctx = pcre2_match_context_create(NULL);
  p->md = pcre2_match_data_create(1, NULL);
  if (!p->mctx || !p->md) {
    pb_pattern_free(p);
    return PB_ENOMEM;
  }
  pcre2_set_match_limit(p->mctx, MATCH_LIMIT);
  pcre2_set_depth_limit(p->mctx, DEPTH_LIMIT);
  pcre2_set_heap_limit(p->mctx, HEAP_LIMIT_KIB);
  /* JIT where the library has it: the same limits, less time per step. */
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0) {
    p->jit_stack = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
    if (!p->jit_stack) {
      pb_pattern_free(p);
      return PB_ENOMEM;
    }
    pcre2_jit_stack_assign(p->mctx, NULL, p->jit_stack);
  }
  *out = p;
  return 0;
}

int pb_pattern_compile(const char *re, pb_pattern **out, char *err, size_t errcap) {
  *out = NULL;
  size_t len = strlen(re);
  if (len > PB_PATTERN_MAX_LEN) {
    snprintf(err, errcap, "longer than %d bytes", PB_PATTERN_MAX_LEN);
    return PB_ETOOBIG;
  }
  return compile(re, len, 0, 0, 0, out, err, errcap);
}

/* ---- JavaScript's dialect ------------------------------------------------ */

/* The "/source/flags" form: 1 with the source's bounds and the flags' PCRE2
 * options, 0 when re is a bare source, PB_EINVAL for a flag refused. */
static int js_literal(const char *re, size_t len, size_t *off, size_t *blen, uint32_t *opts,
                      uint32_t *extra, char *err, size_t errcap) {
  *opts = *extra = 0;
  if (len < 3 || re[0] != '/') return 0;
  size_t k = len - 1;
  while (k > 0 && re[k] != '/') k--;
  size_t slashes = 0; /* an escaped slash closes nothing */
  for (size_t j = k; j > 1 && re[j - 1] == '\\'; j--) slashes++;
  int literal = k >= 2 && slashes % 2 == 0;
  for (size_t j = k + 1; literal && j < len; j++)
    literal = strchr("dgimsuvy", re[j]) != NULL && re[j] != '\0';
  if (!literal) {
    /* As a source, a "^" right after "/" could never match: this is the
     * literal form with its closing slash left out (as the peers' own docs
     * write "/^.*\\.(css)"). */
    if (re[1] != '^') return 0;
    *off = 1;
    *blen = len - 1;
    return 1;
  }
  *off = 1;
  *blen = k - 1;
  unsigned seen = 0;
  for (size_t j = k + 1; j < len; j++) {
    unsigned bit = 1u << (re[j] - 'a');
    if (seen & bit) {
      snprintf(err, errcap, "the flag %c is given twice", re[j]);
      return PB_EINVAL;
    }
    seen |= bit;
    switch (re[j]) {
      case 'i':
        *opts |= PCRE2_CASELESS;
        break;
      case 'm':
        *opts |= PCRE2_MULTILINE;
        break;
      case 's':
        *opts |= PCRE2_DOTALL;
        break;
      case 'u':
        *extra |= PCRE2_EXTRA_ALT_BSUX;
        break; /* \u{h...} */
      case 'g':
      case 'y':
      case 'd':
        break; /* what matches is the same */
      default:
        snprintf(err, errcap,
                 "the flag %c is not supported (i, m, s and u are; g, y and d are ignored); "
                 "without the slashes the text is read as a pattern itself",
                 re[j]);
        return PB_EINVAL;
    }
  }
  return 1;
}

/* Rewrites what JavaScript reads differently from PCRE2 into out (at least
 * 2 * len + 1 bytes): \v is U+000B, not a class; in a class, \B is "B". A
 * class is tracked so that "]" ends it where JavaScript ends it ("[]" is
 * empty, PCRE2_ALLOW_EMPTY_CLASS), POSIX "[:name:]" inside it kept. */
static size_t js_translate(const char *src, size_t len, char *out) {
  size_t o = 0;
  int in_class = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '\\' && i + 1 < len) {
      char n = src[++i];
      if (n == 'v') {
        memcpy(out + o, "\\x0b", 4);
        o += 4;
      } else if (n == 'B' && in_class) {
        out[o++] = 'B';
      } else {
        out[o++] = c;
        out[o++] = n;
      }
      continue;
    }
    if (in_class && c == '[' && i + 1 < len && src[i + 1] == ':') {
      const char *end = memmem(src + i + 2, len - i - 2, ":]", 2);
      if (end) {
        size_t n = (size_t)(end + 2 - (src + i));
        memcpy(out + o, src + i, n);
        o += n;
        i += n - 1;
        continue;
      }
    }
    if (in_class && c == ']')
      in_class = 0;
    else if (!in_class && c == '[')
      in_class = 1;
    out[o++] = c;
  }
  out[o] = '\0';
  return o;
}

int pb_pattern_compile_js(const char *re, pb_pattern **out, char *err, size_t errcap) {
  *out = NULL;
  size_t len = strlen(re);
  if (len > PB_PATTERN_MAX_LEN) {
    snprintf(err, errcap, "longer than %d bytes", PB_PATTERN_MAX_LEN);
    return PB_ETOOBIG;
  }
  size_t off = 0, blen = len;
  uint32_t opts = 0, extra = 0;
  int lit = js_literal(re, len, &off, &blen, &opts, &extra, err, errcap);
  if (lit < 0) return lit;
  /* "$" is the end of the subject, as in JavaScript without m; [] and [^]. */
  opts |= PCRE2_ALT_BSUX | PCRE2_ALLOW_EMPTY_CLASS;
  if (!(opts & PCRE2_MULTILINE)) opts |= PCRE2_DOLLAR_ENDONLY;
  char *src = malloc(2 * blen + 1);
  if (!src) return PB_ENOMEM;
  size_t n = js_translate(re + off, blen, src);
  int rc = compile(src, n, opts, extra, off, out, err, errcap);
  free(src);
  return rc;
}

int pb_pattern_match(pb_pattern *p, const char *subject, size_t len) {
  pthread_mutex_lock(&p->mu);
  int rc = pcre2_match(p->code, (PCRE2_SPTR)subject, len, 0, 0, p->md, p->mctx);
  pthread_mutex_unlock(&p->mu);
  if (rc >= 0) return 1;
  if (rc == PCRE2_ERROR_NOMATCH || rc == PCRE2_ERROR_PARTIAL) return 0;
  if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
      rc == PCRE2_ERROR_JIT_STACKLIMIT || rc == PCRE2_ERROR_NOMEMORY) {
    int64_t now = pb_now_ms(), last = atomic_load(&last_log_ms);
    if (now - last >= LOG_EVERY_MS && atomic_compare_exchange_strong(&last_log_ms, &last, now)) {
      PCRE2_UCHAR msg[120];
      if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
        pb_strlcpy((char *)msg, "?", sizeof(msg));
      PB_WARN("pattern: a request pattern gave up (%s): counted as no match", (const char *)msg);
    }
    return PB_ETOOBIG;
  }
  return 0; /* invalid UTF-8 in the subject and the like: no match */
}
