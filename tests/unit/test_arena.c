/* common/arena: the bump allocator under html2md's and the fast parser's
 * trees. Run under ASan, every block written in full shows that blocks are
 * as large as asked and do not overlap. */
#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>

#include "common/pb.h"
#include "test.h"

static int aligned(const void *p, size_t a) {
  return ((uintptr_t)p & (a - 1)) == 0;
}

static void test_alignment(void) {
  const size_t aligns[] = {1, 2, 4, 8, 16};
  for (size_t k = 0; k < sizeof(aligns) / sizeof(aligns[0]); k++) {
    pb_arena a;
    pb_arena_init(&a, aligns[k], 256, 256, 0);
    char *prev = NULL;
    size_t prev_n = 0;
    for (size_t n = 0; n < 300; n++) {
      char *p = pb_arena_alloc(&a, n);
      ASSERT(p != NULL);
      ASSERT(aligned(p, aligns[k]));
      memset(p, (int)n, n);
      /* in the same chunk, the next block starts past the last one */
      if (prev && p > prev && p < prev + 256) ASSERT(p >= prev + prev_n);
      prev = p;
      prev_n = n;
    }
    pb_arena_free(&a);
  }
  /* Not a power of two, or too strict: the platform's maximum. */
  const size_t odd[] = {0, 3, 12, 4096};
  for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++) {
    pb_arena a;
    pb_arena_init(&a, odd[k], 128, 128, 0);
    ASSERT_EQ(a.align, alignof(max_align_t));
    for (int i = 0; i < 50; i++) ASSERT(aligned(pb_arena_alloc(&a, (size_t)i * 3 + 1), a.align));
    pb_arena_free(&a);
  }
}

static void test_zero_size(void) {
  pb_arena a;
  pb_arena_init(&a, 8, 64, 64, 0);
  void *p = pb_arena_alloc(&a, 0), *q = pb_arena_alloc(&a, 0);
  ASSERT(p != NULL && q != NULL && p != q);
  pb_arena_free(&a);
}

static void test_large(void) {
  pb_arena a;
  pb_arena_init(&a, 8, 1024, 1024, 0);
  char *small = pb_arena_alloc(&a, 24);
  ASSERT(small != NULL);
  /* Larger than a chunk: a chunk of its own, written in full. */
  size_t big_n = (size_t)1 << 20;
  char *big = pb_arena_alloc(&a, big_n);
  ASSERT(big != NULL);
  memset(big, 0x5a, big_n);
  ASSERT(a.total >= big_n + 1024);
  /* ... and the current chunk keeps serving: the next block follows the
   * first, nothing of the current chunk was given up. */
  char *after = pb_arena_alloc(&a, 8);
  ASSERT(after == small + 24);
  ASSERT(big[0] == 0x5a && big[big_n - 1] == 0x5a);
  /* Sizes that cannot be met fail cleanly; the arena stays usable. */
  ASSERT(pb_arena_alloc(&a, SIZE_MAX) == NULL);
  ASSERT_EQ(a.err, PB_ENOMEM);
  ASSERT(pb_arena_alloc(&a, SIZE_MAX - 3) == NULL);
  ASSERT(pb_arena_alloc(&a, SIZE_MAX / 2 + 1) == NULL);
  ASSERT(pb_arena_alloc(&a, 8) == after + 8);
  pb_arena_free(&a);

  /* A first request larger than a chunk, on an empty arena. */
  pb_arena_init(&a, 16, 512, 512, 0);
  char *p = pb_arena_alloc(&a, 5000);
  ASSERT(p != NULL && aligned(p, 16));
  memset(p, 1, 5000);
  char *q = pb_arena_alloc(&a, 16);
  ASSERT(q != NULL && aligned(q, 16));
  memset(q, 2, 16);
  ASSERT(p[4999] == 1);
  pb_arena_free(&a);
}

/* Many chunks, growing to the cap on their size; every block keeps its
 * contents until the arena is freed. */
static void test_many_chunks(void) {
  enum { N = 20000 };
  static unsigned char *blocks[N];
  static size_t sizes[N];
  pb_arena a;
  pb_arena_init(&a, 8, 1024, 16384, 0);
  size_t want = 0;
  uint32_t x = 12345;
  for (int i = 0; i < N; i++) {
    x = x * 1103515245u + 12345u;
    sizes[i] = (x >> 16) % 300;
    if (i % 997 == 0) sizes[i] = 20000 + i; /* now and then a large one */
    blocks[i] = pb_arena_alloc(&a, sizes[i]);
    ASSERT(blocks[i] != NULL);
    memset(blocks[i], i & 0xff, sizes[i]);
    want += sizes[i];
  }
  for (int i = 0; i < N; i++)
    for (size_t j = 0; j < sizes[i]; j++) ASSERT_EQ(blocks[i][j], (unsigned char)(i & 0xff));
  ASSERT(a.total >= want);
  ASSERT(a.total < want * 2 + 16384); /* not a chunk per block */
  ASSERT_EQ(a.next, (size_t)16384);
  pb_arena_free(&a);
  ASSERT_EQ(a.total, (size_t)0);
  ASSERT(a.chunks == NULL);
  ASSERT_EQ(a.next, (size_t)1024);
  /* freed is empty and usable again */
  ASSERT(pb_arena_alloc(&a, 100) != NULL);
  pb_arena_free(&a);
  pb_arena_free(NULL);
}

static void test_reset(void) {
  pb_arena a;
  pb_arena_init(&a, 8, 1024, 4096, 0);
  pb_arena_reset(&a); /* empty: nothing to do */
  for (int i = 0; i < 1000; i++) ASSERT(pb_arena_alloc(&a, 40) != NULL);
  ASSERT(a.total > 4096);
  pb_arena_reset(&a);
  /* One chunk kept, its space reused from the start. */
  ASSERT(a.total <= 4096);
  ASSERT_EQ(a.err, 0);
  unsigned char *p = pb_arena_alloc(&a, 64);
  memset(p, 0xAA, 64);
  pb_arena_reset(&a);
  unsigned char *q = pb_arena_calloc(&a, 64);
  ASSERT(q == p);
  for (int i = 0; i < 64; i++) ASSERT_EQ(q[i], 0);
  pb_arena_free(&a);
}

static void test_cap(void) {
  pb_arena a;
  pb_arena_init(&a, 8, 1024, 1024, 4096);
  int n = 0;
  while (pb_arena_alloc(&a, 100) != NULL) n++;
  ASSERT_EQ(a.err, PB_ETOOBIG);
  ASSERT(a.total <= 4096);
  ASSERT(n >= 4 * (1024 / 104)); /* the cap's chunks were used */
  /* one large block past the cap fails too, without touching the rest */
  ASSERT(pb_arena_alloc(&a, 8192) == NULL);
  pb_arena_reset(&a);
  ASSERT_EQ(a.err, 0);
  ASSERT(pb_arena_alloc(&a, 100) != NULL);
  pb_arena_free(&a);
}

int main(void) {
  RUN(test_alignment);
  RUN(test_zero_size);
  RUN(test_large);
  RUN(test_many_chunks);
  RUN(test_reset);
  RUN(test_cap);
  DONE();
}
