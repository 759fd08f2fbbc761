#ifndef PB_COMMON_PATTERN_H
#define PB_COMMON_PATTERN_H
/* Regular expressions written by tenants (rejectRequestPattern,
 * allowRequestPattern) and matched in the daemon, on threads every tenant
 * shares: PCRE2 with every cost bounded.
 *
 * Compiling is bounded by the pattern's length, its nesting, and the size of
 * what it compiles to; backreferences are refused (they are what makes a
 * regex engine backtrack without end, and no URL filter needs one).
 * Matching is bounded by PCRE2's match, depth and heap limits and a small
 * JIT stack: a match that hits one is "no match" (PB_ETOOBIG), never a
 * crash, a stall or unbounded memory. */
#include <stddef.h>

#define PB_PATTERN_MAX_LEN 2048             /* bytes of pattern */
#define PB_PATTERN_MAX_COMPILED (64 * 1024) /* bytes of compiled pattern */

typedef struct pb_pattern pb_pattern;

/* Compiles re (UTF-8, Perl syntax). PB_EINVAL when it is not a valid
 * regular expression, PB_ETOOBIG when it is over a limit above; err says
 * which, in words a client can act on. PB_ENOMEM on allocation failure. The
 * caller frees *out with pb_pattern_free. */
int pb_pattern_compile(const char *re, pb_pattern **out, char *err, size_t errcap);

/* Compiles re in the dialect clients of Cloudflare and Browserless write:
 * a JavaScript regular expression, either its source ("^.*\\.css") or the
 * literal form "/source/flags". Flags: i, m, s, u; g, y and d change nothing
 * a URL filter sees and are ignored; any other flag (v too) is PB_EINVAL.
 * "/^..." with no closing "/flags" is read as that literal missing its
 * slash: read as source, its "^" after a "/" could never match.
 *
 * Where the same syntax means different things, JavaScript's meaning is
 * used: "$" is only the end of the subject (without m), "[]" matches nothing
 * and "[^]" anything, \v is U+000B, \xhh two hex digits, \uhhhh (and with
 * u, \u{h...}), \d \w \b ASCII. What JavaScript rejects or reads as a
 * letter escaped for nothing, PCRE2's extension keeps its meaning and every
 * bound above (possessive and atomic groups, recursion, \A \z; \C still
 * refused; POSIX "[[:digit:]]" is a class, as users of the old POSIX
 * patterns wrote it, where JavaScript would read "[[:digt]" then "]").
 * Backreferences stay refused. Differences left: Unicode case folding and
 * \s or "." beyond ASCII, never met in a URL (Chromium serializes them in
 * ASCII), and variable-length lookbehind, which PCRE2 refuses (400). */
int pb_pattern_compile_js(const char *re, pb_pattern **out, char *err, size_t errcap);

/* 1 if subject[0, len) matches, 0 if not, PB_ETOOBIG if a limit ran out
 * first (logged at most every few seconds). Callable from any thread; calls
 * on one pattern are serialized. */
int pb_pattern_match(pb_pattern *p, const char *subject, size_t len);

/* NULL is a no-op. */
void pb_pattern_free(pb_pattern *p);

#endif
