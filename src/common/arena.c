/* The chunked bump allocator: see arena.h. Only chunk management lives
 * here; the bump itself is inline in the header. */
#include "common/arena.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/pb.h"

struct pb_arena_chunk {
  pb_arena_chunk *next;
  size_t size; /* bytes of data */
  _Alignas(max_align_t) char data[];
};

void pb_arena_init(pb_arena *a, size_t align, size_t chunk, size_t chunk_max, size_t cap) {
  memset(a, 0, sizeof(*a));
  if (!align || (align & (align - 1)) || align > _Alignof(max_align_t))
    align = _Alignof(max_align_t);
  if (!chunk) chunk = 4096;
  a->align = align;
  a->first = a->next = chunk;
  a->chunk_max = chunk_max > chunk ? chunk_max : chunk;
  a->cap = cap;
}

static pb_arena_chunk *chunk_new(pb_arena *a, size_t size) {
  if (a->cap && size > a->cap - a->total) {
    a->err = PB_ETOOBIG;
    return NULL;
  }
  if (size > SIZE_MAX - sizeof(pb_arena_chunk)) {
    a->err = PB_ENOMEM;
    return NULL;
  }
  pb_arena_chunk *c = malloc(sizeof(*c) + size);
  if (!c) {
    a->err = PB_ENOMEM;
    return NULL;
  }
  c->size = size;
  a->total += size;
  return c;
}

void *pb_arena_alloc_slow(pb_arena *a, size_t n) {
  if (n > SIZE_MAX / 2) {
    a->err = PB_ENOMEM;
    return NULL;
  }
  size_t r = n ? (n + a->align - 1) & ~(a->align - 1) : a->align;
  if (r <= a->left) { /* n was 0 */
    void *p = a->cur;
    a->cur += r;
    a->left -= r;
    return p;
  }
  if (r > a->next) {
    /* A chunk of its own, behind the current one, which keeps serving. */
    pb_arena_chunk *c = chunk_new(a, r);
    if (!c) return NULL;
    if (a->chunks) {
      c->next = a->chunks->next;
      a->chunks->next = c;
    } else {
      c->next = NULL;
      a->chunks = c;
      a->cur = c->data + r;
      a->left = 0;
    }
    return c->data;
  }
  pb_arena_chunk *c = chunk_new(a, a->next);
  if (!c) return NULL;
  c->next = a->chunks;
  a->chunks = c;
  a->cur = c->data + r;
  a->left = c->size - r;
  if (a->next < a->chunk_max) a->next = a->next > a->chunk_max / 2 ? a->chunk_max : a->next * 2;
  return c->data;
}

void pb_arena_reset(pb_arena *a) {
  pb_arena_chunk *keep = a->chunks;
  if (!keep) {
    a->err = 0;
    return;
  }
  for (pb_arena_chunk *c = keep->next, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  keep->next = NULL;
  a->cur = keep->data;
  a->left = keep->size;
  a->total = keep->size;
  a->err = 0;
}

void pb_arena_free(pb_arena *a) {
  if (!a) return;
  for (pb_arena_chunk *c = a->chunks, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  pb_arena_init(a, a->align, a->first, a->chunk_max, a->cap);
}
