/* The zip, written in memory with libzip: the only file that sees <zip.h>. */
#include <stdlib.h>
#include <zip.h>

#include "trace/internal.h"

int pb__trace_zip(pb__zfile *files, size_t nfiles, char **zip, size_t *len) {
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
  if (!src) return PB_ENOMEM;
  zip_source_keep(src);
  zip_t *za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
  int rc = 0;
  if (!za) {
    rc = PB_EIO;
    goto out;
  }
  for (size_t i = 0; i < nfiles; i++) {
    pb__zfile *f = &files[i];
    if (!f->len) {
      /* libzip does not free an empty buffer it was handed. */
      free(f->data);
      f->data = NULL;
    }
    zip_source_t *s = zip_source_buffer(za, f->data, f->len, f->data != NULL);
    if (!s) {
      rc = PB_ENOMEM;
      break;
    }
    f->data = NULL; /* the source owns it now */
    zip_int64_t idx = zip_file_add(za, f->name, s, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE);
    if (idx < 0) {
      zip_source_free(s);
      rc = PB_EIO;
      break;
    }
    /* Deflate at its fastest level: the zip is written on the request path,
     * and level 1 is within a few percent of the default's size here. */
    if (f->store)
      zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    else
      zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 1);
  }
  if (rc) {
    zip_discard(za);
    goto out;
  }
  if (zip_close(za) < 0) {
    zip_discard(za);
    rc = PB_EIO;
    goto out;
  }
  zip_stat_t st;
  if (zip_source_stat(src, &st) < 0 || zip_source_open(src) < 0) {
    rc = PB_EIO;
    goto out;
  }
  char *buf = malloc(st.size ? st.size : 1);
  zip_int64_t n = buf ? zip_source_read(src, buf, st.size) : -1;
  zip_source_close(src);
  if (!buf || n < 0 || (zip_uint64_t)n != st.size) {
    free(buf);
    rc = buf ? PB_EIO : PB_ENOMEM;
    goto out;
  }
  *zip = buf;
  *len = (size_t)st.size;
out:
  zip_source_free(src);
  return rc;
}

int pb_zip_files(pb_zip_file *files, size_t n, char **zip, size_t *len) {
  pb__zfile *zf = n ? calloc(n, sizeof(*zf)) : NULL;
  int rc = n && !zf ? PB_ENOMEM : 0;
  for (size_t i = 0; i < n && zf; i++)
    zf[i] = (pb__zfile){files[i].name, files[i].data, files[i].len, files[i].store};
  if (!rc) rc = pb__trace_zip(zf, n, zip, len);
  for (size_t i = 0; i < n; i++) {
    free(files[i].name);
    free(zf ? zf[i].data : files[i].data);
    files[i].name = NULL;
    files[i].data = NULL;
  }
  free(zf);
  return rc;
}
