/* POST /browser/pdf: the page printed to PDF (page.pdf options). Chromium
 * hands the PDF over as a stream read in chunks, so it is held once, not
 * also as one huge base64 message. */
#include "ops/nav.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PDF_MAX_BYTES ((size_t)512 << 20)
#define PDF_CHUNK (4 << 20)

static const struct {
  const char *name;
  double w, h; /* inches */
} formats[] = {
    {"letter", 8.5, 11},    {"legal", 8.5, 14},    {"tabloid", 11, 17},    {"ledger", 17, 11},
    {"a0", 33.1, 46.8},     {"a1", 23.4, 33.1},    {"a2", 16.54, 23.4},    {"a3", 11.7, 16.54},
    {"a4", 8.27, 11.7},     {"a5", 5.83, 8.27},    {"a6", 4.13, 5.83},
};

/* A length as Puppeteer takes it: a number of CSS px, or a string with px,
 * in, cm or mm. Returns inches, or NAN when malformed. */
static double length_in(const cJSON *v) {
  if (cJSON_IsNumber(v)) return v->valuedouble / 96.0;
  if (!cJSON_IsString(v)) return NAN;
  char *end = NULL;
  double x = strtod(v->valuestring, &end);
  if (end == v->valuestring || x < 0) return NAN;
  while (*end == ' ') end++;
  if (!*end || !strcasecmp(end, "px")) return x / 96.0;
  if (!strcasecmp(end, "in")) return x;
  if (!strcasecmp(end, "cm")) return x / 2.54;
  if (!strcasecmp(end, "mm")) return x / 25.4;
  return NAN;
}

static const cJSON *pdf_options(const cJSON *req) {
  const cJSON *o = cJSON_GetObjectItemCaseSensitive(req, "pdfOptions");
  return o ? o : cJSON_GetObjectItemCaseSensitive(req, "options");
}

/* Page.printToPDF parameters from pdfOptions. Without pageRanges only the
 * first max_pages + 1 pages are printed: enough to tell that a document is
 * too long without rendering all of a hostile one. */
static int print_params(const cJSON *o, int max_pages, cJSON **out, pb_op_result *res) {
  cJSON *p = cJSON_CreateObject();
  double w = 8.5, h = 11;
  const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
  if (cJSON_IsString(fmt)) {
    size_t i;
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
      if (!strcasecmp(formats[i].name, fmt->valuestring)) break;
    w = formats[i].w;
    h = formats[i].h;
  }
  const cJSON *wj = cJSON_GetObjectItemCaseSensitive(o, "width");
  const cJSON *hj = cJSON_GetObjectItemCaseSensitive(o, "height");
  if (wj) w = length_in(wj);
  if (hj) h = length_in(hj);
  if (isnan(w) || isnan(h) || w <= 0 || h <= 0) {
    cJSON_Delete(p);
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "pdfOptions.width/height: use a number of px or a string like '8.5in', '21cm', '210mm'");
  }
  cJSON_AddNumberToObject(p, "paperWidth", w);
  cJSON_AddNumberToObject(p, "paperHeight", h);
  static const char *const sides[] = {"top", "right", "bottom", "left"};
  static const char *const cdp_sides[] = {"marginTop", "marginRight", "marginBottom", "marginLeft"};
  const cJSON *margin = cJSON_GetObjectItemCaseSensitive(o, "margin");
  for (int i = 0; i < 4; i++) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(margin, sides[i]);
    double v = m ? length_in(m) : 0;
    if (isnan(v)) {
      cJSON_Delete(p);
      return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "pdfOptions.margin.%s: use a number of px or a string like '1cm'", sides[i]);
    }
    cJSON_AddNumberToObject(p, cdp_sides[i], v);
  }
  static const struct {
    const char *ours, *cdp;
  } bools[] = {{"landscape", "landscape"},
               {"printBackground", "printBackground"},
               {"displayHeaderFooter", "displayHeaderFooter"},
               {"preferCSSPageSize", "preferCSSPageSize"},
               {"outline", "generateDocumentOutline"},
               {"tagged", "generateTaggedPDF"}};
  for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, bools[i].ours);
    if (cJSON_IsBool(b)) cJSON_AddBoolToObject(p, bools[i].cdp, cJSON_IsTrue(b));
  }
  static const char *const strings[] = {"pageRanges", "headerTemplate", "footerTemplate"};
  for (size_t i = 0; i < 3; i++) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, strings[i]);
    if (cJSON_IsString(s) && (i || *s->valuestring))
      cJSON_AddStringToObject(p, strings[i], s->valuestring);
  }
  if (!cJSON_GetObjectItemCaseSensitive(p, "pageRanges")) {
    char range[32];
    snprintf(range, sizeof(range), "1-%d", max_pages + 1);
    cJSON_AddStringToObject(p, "pageRanges", range);
  }
  const cJSON *scale = cJSON_GetObjectItemCaseSensitive(o, "scale");
  if (cJSON_IsNumber(scale)) cJSON_AddNumberToObject(p, "scale", scale->valuedouble);
  cJSON_AddStringToObject(p, "transferMode", "ReturnAsStream");
  *out = p;
  return 0;
}

/* Reads a CDP IO stream to its end into res->body. */
static int read_stream(pb_nav *nav, const char *handle, pb_op_result *res) {
  pb_buf pdf;
  pb_buf_init(&pdf, PDF_MAX_BYTES);
  int rc = 0, eof = 0;
  while (!eof) {
    cJSON *p = cJSON_CreateObject(), *chunk = NULL;
    cJSON_AddStringToObject(p, "handle", handle);
    cJSON_AddNumberToObject(p, "size", PDF_CHUNK);
    if ((rc = pb_nav_call(nav, "IO.read", p, &chunk))) break;
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(chunk, "data");
    eof = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(chunk, "eof"));
    if (cJSON_IsString(data) && *data->valuestring) {
      if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(chunk, "base64Encoded"))) {
        unsigned char *bytes = NULL;
        size_t n = 0;
        rc = pb_base64_decode(data->valuestring, strlen(data->valuestring), &bytes, &n);
        if (!rc) rc = pb_buf_append(&pdf, bytes, n);
        free(bytes);
      } else {
        rc = pb_buf_append(&pdf, data->valuestring, strlen(data->valuestring));
      }
    }
    cJSON_Delete(chunk);
    if (rc) break;
  }
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "handle", handle);
  pb_nav_call(nav, "IO.close", p, NULL);
  if (rc == PB_ETOOBIG) {
    pb_buf_free(&pdf);
    return pb_op_fail(res, PB_CODE_PDF_TOO_LARGE, "the PDF is over %zu MiB", PDF_MAX_BYTES >> 20);
  }
  if (rc) {
    pb_buf_free(&pdf);
    return pb_op_fail_rc(res, rc, "reading the PDF");
  }
  res->body = pb_buf_steal(&pdf, &res->body_len);
  return 0;
}

/* Pages in a PDF as Chromium (Skia) writes it: one "/Type /Page" dictionary
 * each, besides the "/Type /Pages" tree nodes. */
static long pdf_pages(const char *pdf, size_t len) {
  static const char tag[] = "/Type /Page";
  long n = 0;
  const char *p = pdf, *end = pdf + len;
  while ((p = memmem(p, (size_t)(end - p), tag, sizeof(tag) - 1))) {
    p += sizeof(tag) - 1;
    if (p >= end || !isalnum((unsigned char)*p)) n++;
  }
  return n;
}

int pb_op_pdf(pb_job *job, pb_op_result *res) {
  cJSON *params = NULL;
  int max_pages = job->env->pdf_max_pages > 0 ? job->env->pdf_max_pages : PB_PDF_MAX_PAGES_DEFAULT;
  if (print_params(pdf_options(job->req), max_pages, &params, res)) return -1;
  pb_nav *nav = NULL;
  if (pb_nav_open(job, res, &nav)) {
    cJSON_Delete(params);
    return -1;
  }
  /* As page.pdf(): web fonts finish loading before the page is printed. */
  cJSON *v = NULL;
  char err[256];
  pb_nav_eval(nav, "document.fonts.ready.then(() => true)", pb_nav_deadline(nav), &v, err, sizeof(err));
  cJSON_Delete(v);
  cJSON *out = NULL;
  int action = pb_nav_action_begin(nav, "page.pdf", params);
  int rc = pb_cdp_call(pb_nav_page(nav)->cdp, pb_nav_page(nav)->session_id, "Page.printToPDF",
                       params, pb_nav_deadline(nav), &out, err, sizeof(err));
  pb_nav_action_end(nav, action, rc ? (rc == PB_ECDP ? err : pb_strerror(rc)) : NULL);
  if (rc == PB_ECDP) {
    pb_nav_close(nav, res);
    /* Chromium refuses e.g. a pageRanges outside the document. */
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "pdfOptions: %s", err);
  }
  if (rc) {
    pb_nav_close(nav, res);
    return pb_op_fail_rc(res, rc, "printing");
  }
  const cJSON *stream = cJSON_GetObjectItemCaseSensitive(out, "stream");
  if (!cJSON_IsString(stream)) {
    cJSON_Delete(out);
    pb_nav_close(nav, res);
    return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "Chromium returned no PDF stream");
  }
  rc = read_stream(nav, stream->valuestring, res);
  cJSON_Delete(out);
  pb_nav_close(nav, res);
  if (rc) return -1;
  long pages = pdf_pages(res->body, res->body_len);
  if (pages > max_pages)
    return pb_op_fail(res, PB_CODE_PDF_TOO_LARGE,
                      "the PDF has more than %d pages, the most this service prints; choose "
                      "pages with pdfOptions.pageRanges",
                      max_pages);
  res->status = 200;
  res->content_type = "application/pdf";
  return 0;
}
