/* html2md: HTML on stdin -> Markdown on stdout, or many files at once.
 *
 *   html2md [--base-url URL] < page.html > page.md
 *   html2md [--base-url URL] -o DIR FILE...     writes DIR/<name>.md
 *   html2md --time -o DIR FILE...  also prints "time<TAB>FILE<TAB>ms" on stderr,
 *                                  the median of 5 in-process conversions
 *
 * Options are turndown's, as a JSON object in $HTML2MD_OPTIONS.
 * $HTML2MD_PARSER=gumbo|fast forces a parser (differential checks); with
 * "fast", a document the fast parser declines fails with "declined". */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/pb.h"
#include "render/html2md.h"

static int usage(void) {
  fprintf(stderr,
          "usage: html2md [--base-url URL] < in.html > out.md\n"
          "       html2md [--base-url URL] [--time] -o DIR FILE...\n"
          "options: turndown's, as JSON in $HTML2MD_OPTIONS\n");
  return 2;
}

/* Reads all of f, up to cap bytes (PB_ETOOBIG past it). Caller frees *out. */
static int read_all(FILE *f, size_t cap, char **out, size_t *len) {
  pb_buf b;
  char chunk[65536];
  size_t n;
  pb_buf_init(&b, cap);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    int rc = pb_buf_append(&b, chunk, n);
    if (rc) {
      pb_buf_free(&b);
      return rc;
    }
  }
  if (ferror(f)) {
    pb_buf_free(&b);
    return PB_EIO;
  }
  *out = pb_buf_steal(&b, len);
  if (!*out) {
    *out = calloc(1, 1);
    if (!*out) return PB_ENOMEM;
  }
  return 0;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int parser = PB_MD_PARSE_AUTO;

/* Median wall time of 5 conversions, for the benchmark. */
static void time_it(const char *html, size_t hl, const pb_md_opts *o, const char *what) {
  int64_t t[5];
  for (int i = 0; i < 5; i++) {
    char *md = NULL;
    size_t ml;
    int64_t t0 = now_us();
    pb_html2md_ex(html, hl, o, parser, &md, &ml);
    t[i] = now_us() - t0;
    free(md);
  }
  qsort(t, 5, sizeof(t[0]), cmp_i64);
  fprintf(stderr, "time\t%s\t%.3f\n", what, (double)t[2] / 1000.0);
}

static int timing;

static int convert_stream(FILE *in, FILE *out, const pb_md_opts *o, const char *what) {
  char *html = NULL, *md = NULL;
  size_t hl = 0, ml = 0;
  int rc = read_all(in, o->max_input + 1, &html, &hl);
  if (!rc) rc = pb_html2md_ex(html, hl, o, parser, &md, &ml);
  if (!rc && timing) time_it(html, hl, o, what);
  if (!rc && fwrite(md, 1, ml, out) != ml) rc = PB_EIO;
  if (rc)
    fprintf(stderr, "html2md: %s: %s\n", what,
            rc == PB_EINVAL && parser == PB_MD_PARSE_FAST ? "declined" : pb_strerror(rc));
  free(html);
  free(md);
  return rc;
}

int main(int argc, char **argv) {
  pb_md_opts o;
  const char *outdir = NULL;
  int i;
  pb_md_opts_default(&o);
  const char *pe = getenv("HTML2MD_PARSER");
  if (pe && !strcmp(pe, "gumbo")) parser = PB_MD_PARSE_GUMBO;
  if (pe && !strcmp(pe, "fast")) parser = PB_MD_PARSE_FAST;
  const char *env = getenv("HTML2MD_OPTIONS");
  if (env && *env) {
    char err[256];
    cJSON *j = cJSON_Parse(env);
    if (!j) {
      fprintf(stderr, "html2md: HTML2MD_OPTIONS is not valid JSON\n");
      return 2;
    }
    int rc = pb_md_opts_from_json(j, &o, err, sizeof(err));
    cJSON_Delete(j);
    if (rc) {
      fprintf(stderr, "html2md: HTML2MD_OPTIONS: %s\n", err);
      return 2;
    }
  }
  for (i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--base-url") && i + 1 < argc) {
      if (pb_strlcpy(o.base_url, argv[++i], sizeof(o.base_url)) >= sizeof(o.base_url)) {
        fprintf(stderr, "html2md: --base-url too long\n");
        return 2;
      }
    } else if (!strcmp(argv[i], "--time")) {
      timing = 1;
    } else if (!strcmp(argv[i], "-o") && i + 1 < argc) {
      outdir = argv[++i];
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      usage();
      return 0;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return usage();
    } else {
      break;
    }
  }
  if (!outdir) {
    if (i != argc) return usage();
    return convert_stream(stdin, stdout, &o, "stdin") ? 1 : 0;
  }
  if (i == argc) return usage();
  if (mkdir(outdir, 0777) && errno != EEXIST) {
    fprintf(stderr, "html2md: %s: %s\n", outdir, strerror(errno));
    return 1;
  }
  int failed = 0;
  for (; i < argc; i++) {
    const char *path = argv[i];
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) bl = (size_t)(dot - base);
    char outpath[4096];
    int w = snprintf(outpath, sizeof(outpath), "%s/%.*s.md", outdir, (int)bl, base);
    if (w < 0 || (size_t)w >= sizeof(outpath)) {
      fprintf(stderr, "html2md: %s: output path too long\n", path);
      failed = 1;
      continue;
    }
    FILE *in = fopen(path, "rb");
    if (!in) {
      fprintf(stderr, "html2md: %s: %s\n", path, strerror(errno));
      failed = 1;
      continue;
    }
    FILE *out = fopen(outpath, "wb");
    if (!out) {
      fprintf(stderr, "html2md: %s: %s\n", outpath, strerror(errno));
      fclose(in);
      failed = 1;
      continue;
    }
    if (convert_stream(in, out, &o, path)) failed = 1;
    fclose(in);
    if (fclose(out)) failed = 1;
  }
  return failed ? 1 : 0;
}
