#include "render/pngdiff.h"

#include "common/pb.h"

#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pb_png_decode_rgba(const unsigned char *png, size_t len, unsigned char **rgba, int *width,
                       int *height) {
  *rgba = NULL;
  png_image img;
  memset(&img, 0, sizeof(img));
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, png, len)) return PB_EINVAL;
  if ((long long)img.width * img.height > PB_PNGDIFF_MAX_PIXELS) {
    png_image_free(&img);
    return PB_ETOOBIG;
  }
  img.format = PNG_FORMAT_RGBA;
  size_t size = PNG_IMAGE_SIZE(img);
  unsigned char *buf = malloc(size ? size : 1);
  if (!buf) {
    png_image_free(&img);
    return PB_ENOMEM;
  }
  if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
    free(buf);
    png_image_free(&img);
    return PB_EINVAL;
  }
  *rgba = buf;
  *width = (int)img.width;
  *height = (int)img.height;
  return 0;
}

int pb_png_encode_rgba(const unsigned char *rgba, int width, int height, unsigned char **png,
                       size_t *len) {
  *png = NULL;
  *len = 0;
  png_image img;
  memset(&img, 0, sizeof(img));
  img.version = PNG_IMAGE_VERSION;
  img.width = (png_uint_32)width;
  img.height = (png_uint_32)height;
  img.format = PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  if (!png_image_write_get_memory_size(img, size, 0, rgba, 0, NULL)) return PB_ENOMEM;
  unsigned char *buf = malloc(size);
  if (!buf) return PB_ENOMEM;
  if (!png_image_write_to_memory(&img, buf, &size, 0, rgba, 0, NULL)) {
    free(buf);
    return PB_ENOMEM;
  }
  *png = buf;
  *len = size;
  return 0;
}

/* pixelmatch's colour model: the YIQ difference of two pixels blended over
 * white, squared and weighted; negative when the second is darker. */
static double blend(double c, double a) {
  return 255 + (c - 255) * a;
}
static double rgb2y(double r, double g, double b) {
  return r * 0.29889531 + g * 0.58662247 + b * 0.11448223;
}
static double rgb2i(double r, double g, double b) {
  return r * 0.59597799 - g * 0.27417610 - b * 0.32180189;
}
static double rgb2q(double r, double g, double b) {
  return r * 0.21147017 - g * 0.52261711 + b * 0.31114694;
}

static double color_delta(const unsigned char *p1, const unsigned char *p2, int y_only) {
  double r1 = p1[0], g1 = p1[1], b1 = p1[2], a1 = p1[3];
  double r2 = p2[0], g2 = p2[1], b2 = p2[2], a2 = p2[3];
  if (a1 == a2 && r1 == r2 && g1 == g2 && b1 == b2) return 0;
  if (a1 < 255) {
    a1 /= 255;
    r1 = blend(r1, a1), g1 = blend(g1, a1), b1 = blend(b1, a1);
  }
  if (a2 < 255) {
    a2 /= 255;
    r2 = blend(r2, a2), g2 = blend(g2, a2), b2 = blend(b2, a2);
  }
  double y1 = rgb2y(r1, g1, b1), y2 = rgb2y(r2, g2, b2), y = y1 - y2;
  if (y_only) return y;
  double i = rgb2i(r1, g1, b1) - rgb2i(r2, g2, b2);
  double q = rgb2q(r1, g1, b1) - rgb2q(r2, g2, b2);
  double delta = 0.5053 * y * y + 0.299 * i * i + 0.1957 * q * q;
  return y1 > y2 ? -delta : delta;
}

/* 1 when the pixel at (x, y) has at least three identical neighbours. */
static int has_many_siblings(const unsigned char *img, int x1, int y1, int w, int h) {
  int x0 = x1 > 0 ? x1 - 1 : 0, y0 = y1 > 0 ? y1 - 1 : 0;
  int x2 = x1 < w - 1 ? x1 + 1 : w - 1, y2 = y1 < h - 1 ? y1 + 1 : h - 1;
  const unsigned char *p = img + ((size_t)y1 * w + x1) * 4;
  int zeroes = (x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2) ? 1 : 0;
  for (int x = x0; x <= x2; x++)
    for (int y = y0; y <= y2; y++) {
      if (x == x1 && y == y1) continue;
      if (!memcmp(p, img + ((size_t)y * w + x) * 4, 4)) zeroes++;
      if (zeroes > 2) return 1;
    }
  return 0;
}

/* pixelmatch's anti-aliasing test: the pixel is between its darkest and
 * brightest neighbour, and either extreme sits in a flat area of both
 * images. */
static int antialiased(const unsigned char *img, int x1, int y1, int w, int h,
                       const unsigned char *other) {
  int x0 = x1 > 0 ? x1 - 1 : 0, y0 = y1 > 0 ? y1 - 1 : 0;
  int x2 = x1 < w - 1 ? x1 + 1 : w - 1, y2 = y1 < h - 1 ? y1 + 1 : h - 1;
  const unsigned char *p = img + ((size_t)y1 * w + x1) * 4;
  int zeroes = (x1 == x0 || x1 == x2 || y1 == y0 || y1 == y2) ? 1 : 0;
  double min = 0, max = 0;
  int minx = 0, miny = 0, maxx = 0, maxy = 0;
  for (int x = x0; x <= x2; x++)
    for (int y = y0; y <= y2; y++) {
      if (x == x1 && y == y1) continue;
      double d = color_delta(p, img + ((size_t)y * w + x) * 4, 1);
      if (d == 0) {
        if (++zeroes > 2) return 0;
      } else if (d < min) {
        min = d, minx = x, miny = y;
      } else if (d > max) {
        max = d, maxx = x, maxy = y;
      }
    }
  if (min == 0 || max == 0) return 0;
  return (has_many_siblings(img, minx, miny, w, h) && has_many_siblings(other, minx, miny, w, h)) ||
         (has_many_siblings(img, maxx, maxy, w, h) && has_many_siblings(other, maxx, maxy, w, h));
}

/* Copies an image into a w x h canvas, the area outside it transparent
 * magenta so that it never matches a real pixel. */
static unsigned char *pad(const unsigned char *src, int sw, int sh, int w, int h) {
  unsigned char *dst = malloc((size_t)w * h * 4);
  if (!dst) return NULL;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      unsigned char *d = dst + ((size_t)y * w + x) * 4;
      if (x < sw && y < sh) {
        memcpy(d, src + ((size_t)y * sw + x) * 4, 4);
      } else {
        d[0] = 255, d[1] = 0, d[2] = 255, d[3] = 255;
      }
    }
  return dst;
}

int pb_pngdiff(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
               double threshold, pb_pngdiff_result *out, unsigned char **diff_png, size_t *diff_len,
               char *err, size_t errcap) {
  memset(out, 0, sizeof(*out));
  if (diff_png) *diff_png = NULL;
  if (diff_len) *diff_len = 0;
  if (err && errcap) err[0] = '\0';
  unsigned char *ia = NULL, *ib = NULL, *pa = NULL, *pbb = NULL, *diff = NULL;
  int aw, ah, bw, bh;
  int rc = pb_png_decode_rgba(a, alen, &ia, &aw, &ah);
  if (rc) {
    if (err)
      snprintf(err, errcap, "the first image is %s", rc == PB_ETOOBIG ? "too large" : "not a PNG");
    return rc;
  }
  rc = pb_png_decode_rgba(b, blen, &ib, &bw, &bh);
  if (rc) {
    if (err)
      snprintf(err, errcap, "the second image is %s", rc == PB_ETOOBIG ? "too large" : "not a PNG");
    free(ia);
    return rc;
  }
  int w = aw > bw ? aw : bw, h = ah > bh ? ah : bh;
  out->width = w;
  out->height = h;
  out->size_mismatch = aw != bw || ah != bh;
  if ((long long)w * h > PB_PNGDIFF_MAX_PIXELS) {
    rc = PB_ETOOBIG;
    goto done;
  }
  pa = out->size_mismatch ? pad(ia, aw, ah, w, h) : ia;
  pbb = out->size_mismatch ? pad(ib, bw, bh, w, h) : ib;
  if (diff_png) diff = malloc((size_t)w * h * 4);
  if (!pa || !pbb || (diff_png && !diff)) {
    rc = PB_ENOMEM;
    goto done;
  }
  if (threshold < 0) threshold = 0;
  if (threshold > 1) threshold = 1;
  double max_delta = 35215 * threshold * threshold;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      size_t i = ((size_t)y * w + x) * 4;
      int outside = x >= aw || y >= ah || x >= bw || y >= bh;
      double delta = outside ? max_delta + 1 : color_delta(pa + i, pbb + i, 0);
      unsigned char px[4] = {0, 0, 0, 255};
      if (fabs(delta) > max_delta || (threshold == 0 && delta != 0)) {
        if (!outside && (antialiased(pa, x, y, w, h, pbb) || antialiased(pbb, x, y, w, h, pa))) {
          px[0] = 255, px[1] = 255, px[2] = 0; /* anti-aliasing: shown, not counted */
        } else {
          px[0] = 255, px[1] = 0, px[2] = 0;
          out->diff_pixels++;
        }
      } else if (diff) {
        /* Unchanged: the expected image, faded, for context. */
        const unsigned char *s = pa + i;
        double yv = blend(rgb2y(s[0], s[1], s[2]), 0.1 * s[3] / 255);
        unsigned char g = (unsigned char)(yv < 0 ? 0 : yv > 255 ? 255 : yv);
        px[0] = px[1] = px[2] = g;
      }
      if (diff) memcpy(diff + i, px, 4);
    }
  out->diff_ratio = (double)out->diff_pixels / ((double)w * h);
  if (diff_png) rc = pb_png_encode_rgba(diff, w, h, diff_png, diff_len);

done:
  if (pa != ia) free(pa);
  if (pbb != ib) free(pbb);
  free(ia);
  free(ib);
  free(diff);
  return rc;
}
