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

int main(void) {
  RUN(test_ordinary);
  RUN(test_refused_at_compile);
  RUN(test_bounded_match);
  DONE();
}
