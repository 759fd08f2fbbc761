/* render/pngdiff: pixelmatch-style comparison of PNGs. */
#include "common/pb.h"
#include "render/pngdiff.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

/* A w x h white image with an optional filled rectangle. */
static unsigned char *image(int w, int h, int rx, int ry, int rw, int rh,
                            const unsigned char rgb[3], size_t *len) {
  unsigned char *px = malloc((size_t)w * h * 4), *png = NULL;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      unsigned char *p = px + ((size_t)y * w + x) * 4;
      int in = x >= rx && x < rx + rw && y >= ry && y < ry + rh;
      p[0] = in ? rgb[0] : 255, p[1] = in ? rgb[1] : 255, p[2] = in ? rgb[2] : 255, p[3] = 255;
    }
  ASSERT_EQ(pb_png_encode_rgba(px, w, h, &png, len), 0);
  free(px);
  return png;
}

static const unsigned char BLUE[3] = {0x33, 0x66, 0xcc};

static void identical_images_do_not_differ(void) {
  size_t la, lb;
  unsigned char *a = image(50, 40, 10, 10, 20, 10, BLUE, &la),
                *b = image(50, 40, 10, 10, 20, 10, BLUE, &lb);
  pb_pngdiff_result r;
  unsigned char *diff = NULL;
  size_t dl = 0;
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0.1, &r, &diff, &dl, NULL, 0), 0);
  ASSERT_EQ(r.diff_pixels, 0);
  ASSERT_EQ(r.width, 50);
  ASSERT_EQ(r.size_mismatch, 0);
  ASSERT(diff && dl > 8 && !memcmp(diff, "\x89PNG", 4));
  free(diff);
  free(a);
  free(b);
}

static void a_moved_box_differs_by_its_area(void) {
  size_t la, lb;
  /* The box moves 30 px right: 2 x 10x10 px change, minus nothing. */
  unsigned char *a = image(100, 40, 10, 10, 10, 10, BLUE, &la),
                *b = image(100, 40, 40, 10, 10, 10, BLUE, &lb);
  pb_pngdiff_result r;
  unsigned char *diff = NULL;
  size_t dl = 0;
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0.1, &r, &diff, &dl, NULL, 0), 0);
  ASSERT_EQ(r.diff_pixels, 200);
  ASSERT(r.diff_ratio > 0.049 && r.diff_ratio < 0.051);
  /* The diff image marks changed pixels red, the rest faded. */
  unsigned char *px = NULL;
  int w, h;
  ASSERT_EQ(pb_png_decode_rgba(diff, dl, &px, &w, &h), 0);
  ASSERT_EQ(w, 100);
  const unsigned char *in = px + ((size_t)15 * w + 15) * 4, *out = px + ((size_t)30 * w + 80) * 4;
  ASSERT(in[0] == 255 && in[1] == 0 && in[2] == 0);
  ASSERT(out[0] == out[1] && out[1] == out[2] && out[0] > 200);
  free(px);
  free(diff);
  free(a);
  free(b);
}

static void threshold_tolerates_small_colour_changes(void) {
  const unsigned char near[3] = {0x35, 0x66, 0xcc};
  size_t la, lb;
  unsigned char *a = image(20, 20, 0, 0, 20, 20, BLUE, &la),
                *b = image(20, 20, 0, 0, 20, 20, near, &lb);
  pb_pngdiff_result r;
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0.1, &r, NULL, NULL, NULL, 0), 0);
  ASSERT_EQ(r.diff_pixels, 0);
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0, &r, NULL, NULL, NULL, 0), 0);
  ASSERT_EQ(r.diff_pixels, 400);
  free(a);
  free(b);
}

static void antialiased_edge_pixels_are_not_counted(void) {
  /* b has a one-pixel grey fringe along the box's edge, as anti-aliasing
   * draws it; a has a hard edge. */
  int w = 40, h = 30;
  unsigned char *pa = malloc((size_t)w * h * 4), *pb2 = malloc((size_t)w * h * 4);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      unsigned char *p = pa + ((size_t)y * w + x) * 4, *q = pb2 + ((size_t)y * w + x) * 4;
      int in = x >= 10 && x < 30 && y >= 10 && y < 20;
      unsigned char v = in ? 0 : 255;
      p[0] = p[1] = p[2] = v, p[3] = 255;
      unsigned char u = v;
      if (x == 30 && y >= 10 && y < 20) u = 128; /* fringe to the right */
      q[0] = q[1] = q[2] = u, q[3] = 255;
    }
  unsigned char *a = NULL, *b = NULL;
  size_t la, lb;
  ASSERT_EQ(pb_png_encode_rgba(pa, w, h, &a, &la), 0);
  ASSERT_EQ(pb_png_encode_rgba(pb2, w, h, &b, &lb), 0);
  pb_pngdiff_result r;
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0.1, &r, NULL, NULL, NULL, 0), 0);
  ASSERT_EQ(r.diff_pixels, 0);
  free(pa);
  free(pb2);
  free(a);
  free(b);
}

static void sizes_and_garbage(void) {
  size_t la, lb;
  unsigned char *a = image(20, 20, 0, 0, 0, 0, BLUE, &la),
                *b = image(20, 30, 0, 0, 0, 0, BLUE, &lb);
  pb_pngdiff_result r;
  ASSERT_EQ(pb_pngdiff(a, la, b, lb, 0.1, &r, NULL, NULL, NULL, 0), 0);
  ASSERT_EQ(r.size_mismatch, 1);
  ASSERT_EQ(r.height, 30);
  ASSERT_EQ(r.diff_pixels, 200); /* the rows only one image has */
  char err[128];
  ASSERT_EQ(
      pb_pngdiff((const unsigned char *)"nope", 4, b, lb, 0.1, &r, NULL, NULL, err, sizeof(err)),
      PB_EINVAL);
  ASSERT_CONTAINS(err, "first image is not a PNG");
  free(a);
  free(b);
}

int main(void) {
  RUN(identical_images_do_not_differ);
  RUN(a_moved_box_differs_by_its_area);
  RUN(threshold_tolerates_small_colour_changes);
  RUN(antialiased_edge_pixels_are_not_counted);
  RUN(sizes_and_garbage);
  DONE();
}
