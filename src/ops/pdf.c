/* POST /browser/pdf: the page printed to PDF (page.pdf options). Chromium
 * hands the PDF over as a stream read in chunks, so it is held once, not
 * also as one huge base64 message. */
#include "ops/nav.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PDF_MAX_BYTES ((size_t)512 << 20)
#define PDF_CHUNK (4 << 20)

/* Page.printToPDF parameters from pdfOptions. Without pageRanges only the
 * first max_pages + 1 pages are printed: enough to tell that a document is
 * too long without rendering all of a hostile one. */
static int print_params(const pb_pdf_opts *o, int max_pages, cJSON **out, pb_op_result *res) {
  double w = o->width_in, h = o->height_in;
  if (isnan(w) || isnan(h) || w <= 0 || h <= 0)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST,
                      "pdfOptions.width/height: use a number of px or a string like '8.5in', "
                      "'21cm', '210mm'");
  static const char *const sides[] = {"top", "right", "bottom", "left"};
  for (int i = 0; i < 4; i++)
    if (isnan(o->margin_in[i]))
      return pb_op_fail(res, PB_CODE_INVALID_REQUEST,
                        "pdfOptions.margin.%s: use a number of px or a string like '1cm'",
                        sides[i]);
  cJSON *p = cJSON_CreateObject();
  cJSON_AddNumberToObject(p, "paperWidth", w);
  cJSON_AddNumberToObject(p, "paperHeight", h);
  static const char *const cdp_sides[] = {"marginTop", "marginRight", "marginBottom",
                                          "marginLeft"};
  for (int i = 0; i < 4; i++) cJSON_AddNumberToObject(p, cdp_sides[i], o->margin_in[i]);
  const struct {
    int value;
    const char *cdp;
  } bools[] = {{o->landscape, "landscape"},
               {o->print_background, "printBackground"},
               {o->display_header_footer, "displayHeaderFooter"},
               {o->prefer_css_page_size, "preferCSSPageSize"},
               {o->outline, "generateDocumentOutline"},
               {o->tagged, "generateTaggedPDF"}};
  for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
    if (bools[i].value >= 0) cJSON_AddBoolToObject(p, bools[i].cdp, bools[i].value);
  if (o->page_ranges && *o->page_ranges) {
    cJSON_AddStringToObject(p, "pageRanges", o->page_ranges);
  } else {
    char range[32];
    snprintf(range, sizeof(range), "1-%d", max_pages + 1);
    cJSON_AddStringToObject(p, "pageRanges", range);
  }
  if (o->header_template) cJSON_AddStringToObject(p, "headerTemplate", o->header_template);
  if (o->footer_template) cJSON_AddStringToObject(p, "footerTemplate", o->footer_template);
  if (o->has_scale) cJSON_AddNumberToObject(p, "scale", o->scale);
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
  if (print_params(&job->opts.pdf, max_pages, &params, res)) return -1;
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
  const pb_pdf_opts *o = &job->opts.pdf;
  if (o->omit_background) {
    /* As page.pdf({omitBackground}): no white behind the page. */
    int rc = pb_nav_clear_background(nav);
    if (rc) {
      cJSON_Delete(params);
      pb_nav_close(nav, res);
      return pb_op_fail_rc(res, rc, "making the background transparent");
    }
  }
  /* pdfOptions.timeout (page.pdf's, 30 s by default): the print ends there
   * with 408, as Puppeteer's does; never past the action's deadline. */
  int64_t print_deadline = pb_nav_deadline(nav);
  int64_t t_print = pb_now_ms();
  if (o->timeout_ms > 0 && t_print + o->timeout_ms < print_deadline)
    print_deadline = t_print + o->timeout_ms;
  cJSON *out = NULL;
  int action = pb_nav_action_begin(nav, "page.pdf", params);
  int rc = pb_cdp_call(pb_nav_page(nav)->cdp, pb_nav_page(nav)->session_id, "Page.printToPDF",
                       params, print_deadline, &out, err, sizeof(err));
  pb_nav_action_end(nav, action, rc ? (rc == PB_ECDP ? err : pb_strerror(rc)) : NULL);
  if (rc == PB_ETIMEOUT && print_deadline < pb_nav_deadline(nav)) {
    pb_nav_close(nav, res);
    return pb_op_fail(res, PB_CODE_TIMEOUT,
                      "pdfOptions.timeout: the PDF was not ready within %d ms", o->timeout_ms);
  }
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
