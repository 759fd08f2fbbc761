#ifndef PB_TEST_H
#define PB_TEST_H
/* Tiny assertion macros in the spirit of libuv's test/task.h. A failed
 * ASSERT prints where and exits non-zero. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pb_test_count;

#define ASSERT(expr)                                                                  \
  do {                                                                                \
    pb_test_count++;                                                                  \
    if (!(expr)) {                                                                    \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #expr);    \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)
#define ASSERT_EQ(a, b) ASSERT((a) == (b))
#define ASSERT_STR_EQ(a, b)                                                           \
  do {                                                                                \
    const char *pa_ = (a), *pb_ = (b);                                                \
    pb_test_count++;                                                                  \
    if (!pa_ || !pb_ || strcmp(pa_, pb_)) {                                           \
      fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,                \
              pa_ ? pa_ : "(null)", pb_ ? pb_ : "(null)");                            \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)
#define ASSERT_CONTAINS(hay, needle)                                                  \
  do {                                                                                \
    const char *h_ = (hay);                                                           \
    pb_test_count++;                                                                  \
    if (!h_ || !strstr(h_, (needle))) {                                               \
      fprintf(stderr, "%s:%d: \"%s\" lacks \"%s\"\n", __FILE__, __LINE__,             \
              h_ ? h_ : "(null)", (needle));                                          \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)

#define RUN(fn)                                                                       \
  do {                                                                                \
    fn();                                                                             \
    fprintf(stderr, "ok - %s\n", #fn);                                                \
  } while (0)
#define DONE()                                                                        \
  do {                                                                                \
    fprintf(stderr, "%d assertions passed\n", pb_test_count);                         \
    return 0;                                                                         \
  } while (0)
#endif
