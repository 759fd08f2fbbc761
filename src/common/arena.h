#ifndef PB_COMMON_ARENA_H
#define PB_COMMON_ARENA_H
/* A chunked bump allocator for data that dies all at once: a parse tree and
 * its strings. Allocation is a pointer bump in the current chunk (inline,
 * below); a new chunk is malloc'ed when it is full. Chunks start at `chunk`
 * bytes and double up to `chunk_max`; a request larger than the next chunk
 * gets a chunk of its own, so it wastes nothing of the current one.
 *
 * Threads: an arena belongs to one thread at a time; there is no locking.
 * Ownership: every block belongs to the arena and is freed all at once by
 * pb_arena_reset or pb_arena_free, never one by one.
 * Errors: an allocation that fails returns NULL and records why in err
 * (PB_ENOMEM, or PB_ETOOBIG past the cap); the arena stays usable. */
#include <stddef.h>
#include <string.h>

typedef struct pb_arena_chunk pb_arena_chunk;

/* Caller-allocated (embed it; zeroed memory is not an initialised arena:
 * call pb_arena_init). The fields are the inline fast path's; treat them as
 * read-only except err. */
typedef struct pb_arena {
  char *cur;              /* the current chunk's free space: [cur, cur + left) */
  size_t left;            /* bytes */
  size_t align;           /* a power of two, at most alignof(max_align_t) */
  pb_arena_chunk *chunks; /* the current chunk first, then the full ones */
  size_t first;           /* size of the first chunk */
  size_t next;            /* size of the next regular chunk */
  size_t chunk_max;       /* regular chunks grow up to this */
  size_t cap;             /* bytes held in chunks at most; 0: no cap */
  size_t total;           /* bytes held in chunks */
  int err;                /* the last failure: PB_ENOMEM or PB_ETOOBIG, else 0 */
} pb_arena;

/* Prepares an empty arena; allocates nothing. Every block is aligned to
 * `align` (a power of two, at most alignof(max_align_t); anything else is
 * taken as that maximum). The first chunk has `chunk` bytes, each next one
 * twice the last, up to `chunk_max` (chunk_max <= chunk: all the same size).
 * cap bounds the bytes held in chunks (0: no bound). Cannot fail. */
void pb_arena_init(pb_arena *a, size_t align, size_t chunk, size_t chunk_max, size_t cap);

/* The slow path of pb_arena_alloc: a new chunk. Not to be called directly. */
void *pb_arena_alloc_slow(pb_arena *a, size_t n);

/* n bytes (n may be 0: a valid, unique pointer), aligned, uninitialised,
 * owned by the arena. NULL on failure, with a->err set. */
static inline void *pb_arena_alloc(pb_arena *a, size_t n) {
  size_t r = (n + a->align - 1) & ~(a->align - 1);
  /* one comparison for 1 <= r <= left; 0 (n is 0, or so large the rounding
   * wrapped) goes to the slow path, which sorts it out */
  if (r - 1 < a->left) {
    void *p = a->cur;
    a->cur += r;
    a->left -= r;
    return p;
  }
  return pb_arena_alloc_slow(a, n);
}

/* pb_arena_alloc, zero-filled. */
static inline void *pb_arena_calloc(pb_arena *a, size_t n) {
  void *p = pb_arena_alloc(a, n);
  if (p) memset(p, 0, n);
  return p;
}

/* Frees every block at once and keeps the current chunk for reuse (its
 * blocks are gone too). err is cleared. */
void pb_arena_reset(pb_arena *a);

/* Frees every chunk; the arena is then empty and still usable, as after
 * pb_arena_init. NULL is a no-op. */
void pb_arena_free(pb_arena *a);

#endif
