#ifndef PB_RENDER_PNGDIFF_H
#define PB_RENDER_PNGDIFF_H
/* Pixel comparison of two PNG images, in the manner of pixelmatch: a pixel
 * differs when its colours are further apart (in YIQ space) than the
 * threshold allows, and differences that look like anti-aliasing (an edge
 * pixel whose neighbours explain it, in either image) are not counted.
 * Pure: no I/O, libpng only. */
#include <stddef.h>
#include <stdint.h>

/* Largest image either side may have, in pixels. */
#define PB_PNGDIFF_MAX_PIXELS (16384LL * 16384)

typedef struct {
  int width, height;   /* of the compared area (the larger of both) */
  int64_t diff_pixels; /* pixels that differ */
  double diff_ratio;   /* diff_pixels / (width * height) */
  int size_mismatch;   /* the images have different sizes */
} pb_pngdiff_result;

/* Compares the PNG images a and b (bytes, borrowed). threshold is 0..1
 * (0.1 is pixelmatch's default; 0 means any colour change counts). When
 * diff_png is not NULL it receives a PNG (caller frees) that shows the
 * expected image faded to grey with differing pixels in red and
 * anti-aliased ones in yellow. Images of different sizes are compared over
 * the larger size, pixels outside either counting as different.
 * Returns 0, PB_EINVAL (not a PNG; err says which), PB_ETOOBIG, PB_ENOMEM. */
int pb_pngdiff(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
               double threshold, pb_pngdiff_result *out, unsigned char **diff_png, size_t *diff_len,
               char *err, size_t errcap);

/* Decodes a PNG into 8-bit RGBA rows (caller frees *rgba). */
int pb_png_decode_rgba(const unsigned char *png, size_t len, unsigned char **rgba, int *width,
                       int *height);

/* Encodes 8-bit RGBA pixels as PNG (caller frees *png). */
int pb_png_encode_rgba(const unsigned char *rgba, int width, int height, unsigned char **png,
                       size_t *len);

#endif
