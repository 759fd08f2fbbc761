/* Tenant regexes: every catastrophic shape is refused at compile time or
 * gives up quickly at match time; ordinary URL filters behave as before. */
#include "common/pattern.h"
#include "common/pb.h"
#include "test.h"

#include <time.h>

static char err[256];

static int compiles(const char *re) {
  pb_pattern *p = NULL;
  int rc = pb_pattern_compile(re, &p, err, sizeof(err));
  pb_pattern_free(p);
  return rc;
}

static int matches(const char *re, const char *s) {
  pb_pattern *p = NULL;
  ASSERT_EQ(pb_pattern_compile(re, &p, err, sizeof(err)), 0);
  int rc = pb_pattern_match(p, s, strlen(s));
  pb_pattern_free(p);
  return rc;
}

static int compiles_js(const char *re) {
  pb_pattern *p = NULL;
  int rc = pb_pattern_compile_js(re, &p, err, sizeof(err));
  pb_pattern_free(p);
  return rc;
}

static int matches_js(const char *re, const char *s) {
  pb_pattern *p = NULL;
  int rc = pb_pattern_compile_js(re, &p, err, sizeof(err));
  if (rc) fprintf(stderr, "  %s: %s\n", re, err);
  ASSERT_EQ(rc, 0);
  rc = pb_pattern_match(p, s, strlen(s));
  pb_pattern_free(p);
  return rc;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_ordinary(void) {
  /* The POSIX extended patterns users wrote before mean the same. */
  ASSERT_EQ(matches("/dot\\.svg\\?from=resources$", "http://x/dot.svg?from=resources"), 1);
  ASSERT_EQ(matches("/dot\\.svg\\?from=resources$", "http://x/dot.svg?from=resources&y"), 0);
  ASSERT_EQ(matches("/(added\\.js|dot\\.svg)\\?", "http://x/added.js?a"), 1);
  ASSERT_EQ(matches("added\\.css", "http://x/added.js"), 0);
  ASSERT_EQ(matches("^https?://[^/]*\\.example\\.(com|org)/", "https://ads.example.org/x"), 1);
  ASSERT_EQ(matches("[[:digit:]]{3}", "http://x/a12b"), 0);
  ASSERT_EQ(matches("[[:digit:]]{3}", "http://x/a123"), 1);
  ASSERT_EQ(matches("caf\xc3\xa9", "http://x/caf\xc3\xa9"), 1);
  /* A subject that is not UTF-8 is matched, not an error. */
  ASSERT_EQ(matches("x", "\xff\xfe x"), 1);
}

static void test_refused_at_compile(void) {
  ASSERT_EQ(compiles("(unclosed"), PB_EINVAL);
  ASSERT_CONTAINS(err, "offset");
  /* The pattern that crashed glibc's regexec. */
  ASSERT_EQ(compiles("(|)(\\1\\1)*"), PB_EINVAL);
  ASSERT_CONTAINS(err, "backreference");
  ASSERT_EQ(compiles("(?<n>a)\\k<n>"), PB_EINVAL);
  /* The pattern that took glibc to 1.6 GB compiles small in PCRE2; its
   * matching is bounded below. */
  ASSERT_EQ(compiles("((a{0,100}){0,100}){0,10}"), 0);
  char deep[200] = "";
  for (int i = 0; i < 40; i++) strcat(deep, "(");
  strcat(deep, "a");
  for (int i = 0; i < 40; i++) strcat(deep, ")");
  ASSERT_EQ(compiles(deep), PB_ETOOBIG);
  char *longp = malloc(PB_PATTERN_MAX_LEN + 2);
  memset(longp, 'a', PB_PATTERN_MAX_LEN + 1);
  longp[PB_PATTERN_MAX_LEN + 1] = '\0';
  ASSERT_EQ(compiles(longp), PB_ETOOBIG);
  longp[PB_PATTERN_MAX_LEN] = '\0';
  ASSERT_EQ(compiles(longp), 0); /* at the limit: fine */
  free(longp);
  ASSERT_EQ(compiles("a\\C"), PB_EINVAL);
}

/* Exponential backtracking gives up fast and counts as no match. */
static void test_bounded_match(void) {
  const char *evil[] = {"(a+)+$",
                        "(a|aa)+$",
                        "(a|a?)+$",
                        "^(\\w+\\s?)*$",
                        "(.*a){12}$",
                        "((a*)*)*b",
                        "(?:a*)*(?:b*)*c$",
                        "^((a{0,100}){0,100}){0,10}$",
                        "((a{0,100}){0,100}){0,10}!$"};
  char subject[4096];
  memcpy(subject, "http://x/", 9);
  memset(subject + 9, 'a', 3000);
  strcpy(subject + 3009, "!");
  for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
    pb_pattern *p = NULL;
    ASSERT_EQ(pb_pattern_compile(evil[i], &p, err, sizeof(err)), 0);
    double t0 = now_ms();
    int rc = 0;
    for (int k = 0; k < 10; k++) rc = pb_pattern_match(p, subject, strlen(subject));
    double ms = (now_ms() - t0) / 10;
    fprintf(stderr, "  %-22s -> %d in %.2f ms\n", evil[i], rc, ms);
    ASSERT(rc == 0 || rc == PB_ETOOBIG);
    ASSERT(ms < 50);
    pb_pattern_free(p);
  }
  /* Recursion is bounded too. */
  pb_pattern *p = NULL;
  ASSERT_EQ(pb_pattern_compile("^(a(?1)?b)$", &p, err, sizeof(err)), 0);
  char deep[20002];
  memset(deep, 'a', 10000);
  memset(deep + 10000, 'b', 10000);
  deep[20000] = '\0';
  int rc = pb_pattern_match(p, deep, 20000);
  ASSERT(rc == 1 || rc == PB_ETOOBIG);
  pb_pattern_free(p);
  pb_pattern_free(NULL);
}

/* JavaScript's dialect: the literal form, its flags, and JavaScript's meaning
 * where PCRE2's differs. Each case was checked against node's RegExp. */
static void test_js(void) {
  /* The peers' documented patterns. */
  ASSERT_EQ(matches_js("/^.*\\.(css)/", "http://x/a/site.css"), 1);
  ASSERT_EQ(matches_js("/^.*\\.(css)/", "http://x/a/site.js"), 0);
  ASSERT_EQ(matches_js("^.*\\.(css)", "http://x/site.css?v=1"), 1);
  /* Their docs also write it without the closing slash: read as meant. */
  ASSERT_EQ(matches_js("/^.*\\.(css)", "http://x/site.css"), 1);
  /* Lookahead, (?:), \d, a /.../i literal. */
  ASSERT_EQ(matches_js("^(?!.*\\/keep\\/).*\\.svg", "http://x/drop/a.svg"), 1);
  ASSERT_EQ(matches_js("^(?!.*\\/keep\\/).*\\.svg", "http://x/keep/a.svg"), 0);
  ASSERT_EQ(matches_js("(?:png|jpe?g)$", "http://x/a.jpeg"), 1);
  ASSERT_EQ(matches_js("/v\\d+/", "http://x/v12/a"), 1);
  ASSERT_EQ(matches_js("/v\\d+/", "http://x/vx/a"), 0);
  ASSERT_EQ(matches_js("/\\.PNG$/i", "http://x/A.png"), 1);
  ASSERT_EQ(matches_js("/\\.PNG$/", "http://x/A.png"), 0);
  /* g and y change nothing here; an escaped slash does not close. */
  ASSERT_EQ(matches_js("/ads\\//gy", "http://x/ads/1"), 1);
  ASSERT_EQ(matches_js("/a\\/", "http://x/a/"), 1); /* not a literal: source "/a\/" */
  /* A path that looks like a literal with letters that are no flags is a
   * source: "/static/js" is not /static/ with flags j, s. */
  ASSERT_EQ(matches_js("/static/js", "http://x/static/js/a.js"), 1);
  ASSERT_EQ(matches_js("/static/js", "http://x/static/a.js"), 0);
  /* Flags refused, with words. */
  ASSERT_EQ(compiles_js("/a/x"), 0); /* x is no flag letter: a source */
  ASSERT_EQ(compiles_js("/a/v"), PB_EINVAL);
  ASSERT_CONTAINS(err, "flag v");
  ASSERT_EQ(compiles_js("/a/ii"), PB_EINVAL);
  ASSERT_CONTAINS(err, "twice");
  /* $ is the end (PCRE2 also matches before a final newline). */
  ASSERT_EQ(matches_js("a$", "http://x/a\n"), 0);
  ASSERT_EQ(matches("a$", "http://x/a\n"), 1);
  ASSERT_EQ(matches_js("/a$/m", "http://x/a\nb"), 1);
  /* [^] is any character, [] none. */
  ASSERT_EQ(matches_js("x[^]y", "x\ny"), 1);
  ASSERT_EQ(matches_js("x[]", "x"), 0);
  /* \v is a vertical tab, not a class with \n. */
  ASSERT_EQ(matches_js("a\\vb", "a\nb"), 0);
  ASSERT_EQ(matches_js("a\\vb", "a\vb"), 1);
  ASSERT_EQ(matches_js("[\\v]", "\n"), 0);
  /* \xhh, \uhhhh; \u{...} only with u (without it, u four times). */
  ASSERT_EQ(matches_js("\\x41\\u0042", "AB"), 1);
  ASSERT_EQ(matches_js("/\\u{43}/u", "C"), 1);
  ASSERT_EQ(matches_js("\\u{2}", "uu"), 1);
  ASSERT_EQ(matches_js("\\x{41}", "A"), 0); /* x, 41 times */
  /* \d \w are ASCII; s makes . match a newline. */
  ASSERT_EQ(matches_js("^\\d$", "\xd9\xa3"), 0);   /* ARABIC-INDIC DIGIT THREE */
  ASSERT_EQ(matches_js("^\\w$", "\xc3\xa9"), 0);   /* e acute */
  ASSERT_EQ(matches_js("a.b", "a\nb"), 0);
  ASSERT_EQ(matches_js("/a.b/s", "a\nb"), 1);
  /* In a class \B is a B (JavaScript without u); POSIX classes kept. */
  ASSERT_EQ(matches_js("[\\B]", "B"), 1);
  ASSERT_EQ(matches_js("[[:digit:]]{3}", "http://x/a123"), 1);
  /* Every bound stays: backreferences, \C, nesting, length. */
  ASSERT_EQ(compiles_js("(|)(\\1\\1)*"), PB_EINVAL);
  ASSERT_CONTAINS(err, "backreference");
  ASSERT_EQ(compiles_js("/(?<n>a)\\k<n>/"), PB_EINVAL);
  ASSERT_EQ(compiles_js("a\\C"), PB_EINVAL);
  ASSERT_EQ(compiles_js("/(unclosed/"), PB_EINVAL);
  ASSERT_CONTAINS(err, "offset");
  char *longp = malloc(PB_PATTERN_MAX_LEN + 2);
  memset(longp, 'a', PB_PATTERN_MAX_LEN + 1);
  longp[PB_PATTERN_MAX_LEN + 1] = '\0';
  longp[0] = '/';
  longp[PB_PATTERN_MAX_LEN] = '/';
  ASSERT_EQ(compiles_js(longp), PB_ETOOBIG);
  free(longp);
  /* \v everywhere: the translation's growth is within bounds. */
  char vs[PB_PATTERN_MAX_LEN + 1];
  for (int i = 0; i + 1 < PB_PATTERN_MAX_LEN; i += 2) memcpy(vs + i, "\\v", 2);
  vs[PB_PATTERN_MAX_LEN] = '\0';
  int rc = compiles_js(vs);
  ASSERT(rc == 0 || rc == PB_ETOOBIG);
  /* Catastrophic shapes in the literal form are as bounded. */
  pb_pattern *p = NULL;
  ASSERT_EQ(pb_pattern_compile_js("/(a+)+$/i", &p, err, sizeof(err)), 0);
  char subject[3100];
  memset(subject, 'a', 3000);
  memcpy(subject + 3000, "!", 2);
  double t0 = now_ms();
  rc = pb_pattern_match(p, subject, strlen(subject));
  ASSERT(rc == 0 || rc == PB_ETOOBIG);
  ASSERT(now_ms() - t0 < 50);
  pb_pattern_free(p);
}

int main(void) {
  RUN(test_js);
  RUN(test_ordinary);
  RUN(test_refused_at_compile);
  RUN(test_bounded_match);
  DONE();
}
