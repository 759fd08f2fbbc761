/* POST /browser/screenshot: the page (or one element, or a clip, or the full
 * page) as PNG, JPEG or WebP. */
#include "common/pb.h"
#include "ops/nav.h"
#include "ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_clip(cJSON *params, double x, double y, double w, double h, double scale) {
  cJSON *clip = cJSON_AddObjectToObject(params, "clip");
  cJSON_AddNumberToObject(clip, "x", x);
  cJSON_AddNumberToObject(clip, "y", y);
  cJSON_AddNumberToObject(clip, "width", w);
  cJSON_AddNumberToObject(clip, "height", h);
  cJSON_AddNumberToObject(clip, "scale", scale);
  cJSON_AddBoolToObject(params, "captureBeyondViewport", 1);
  return 0;
}

/* The element's box in page coordinates, or PB_ENOTFOUND. */
static int element_box(pb_nav *nav, const char *selector, double box[4], pb_op_result *res) {
  cJSON *args = cJSON_CreateString(selector);
  char *sel = cJSON_PrintUnformatted(args);
  cJSON_Delete(args);
  if (!sel) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "out of memory");
  pb_buf js;
  pb_buf_init(&js, 1 << 16);
  pb_buf_printf(&js,
                "(() => { const el = document.querySelector(%s); if (!el) return null;"
                " const r = el.getBoundingClientRect();"
                " return [r.left + scrollX, r.top + scrollY, r.width, r.height]; })()",
                sel);
  free(sel);
  cJSON *v = NULL;
  char err[512];
  int rc = pb_nav_eval(nav, js.data, pb_nav_deadline(nav), &v, err, sizeof(err));
  pb_buf_free(&js);
  if (rc == PB_EINVAL) return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "selector: %s", err);
  if (rc) return pb_op_fail_rc(res, rc, "finding the element");
  if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 4) {
    cJSON_Delete(v);
    return pb_op_fail(res, PB_CODE_ELEMENT_NOT_FOUND, "selector: no element matches '%s'", selector);
  }
  for (int i = 0; i < 4; i++) box[i] = cJSON_GetArrayItem(v, i)->valuedouble;
  cJSON_Delete(v);
  if (box[2] <= 0 || box[3] <= 0)
    return pb_op_fail(res, PB_CODE_ELEMENT_NOT_VISIBLE, "selector: '%s' has an empty box", selector);
  return 0;
}

static int too_large(pb_op_result *res, double w, double h, double dsf) {
  if (h > PB_FULLPAGE_MAX_HEIGHT)
    return pb_op_fail(res, PB_CODE_CAPTURE_TOO_LARGE,
                      "the page is %.0f px tall; the most a screenshot covers is %d px "
                      "(use screenshotOptions.clip for a part)",
                      h, PB_FULLPAGE_MAX_HEIGHT);
  if (w * h * dsf * dsf > (double)PB_SCREENSHOT_MAX_PIXELS)
    return pb_op_fail(res, PB_CODE_CAPTURE_TOO_LARGE,
                      "the image would be %.0fx%.0f device px, over the cap of %lld px",
                      w * dsf, h * dsf, (long long)PB_SCREENSHOT_MAX_PIXELS);
  return 0;
}

int pb_op_viewport_check(const pb_viewport_opts *vp, pb_op_result *res) {
  double w = vp->width, h = vp->height, dsf = vp->dsf;
  if (w * h * dsf * dsf > (double)PB_SCREENSHOT_MAX_PIXELS)
    return pb_op_fail(res, PB_CODE_CAPTURE_TOO_LARGE,
                      "viewport: %.0fx%.0f at deviceScaleFactor %g is %.0fx%.0f device px, over "
                      "the cap of %lld px",
                      w, h, dsf, w * dsf, h * dsf, (long long)PB_SCREENSHOT_MAX_PIXELS);
  return 0;
}

int pb_op_capture(pb_nav *nav, const pb_screenshot_opts *opts, pb_op_result *res, char **b64) {
  *b64 = NULL;
  const char *type = opts->type ? opts->type : "png";
  pb_page *page = pb_nav_page(nav);
  int rc = 0;

  cJSON *params = cJSON_CreateObject();
  cJSON_AddStringToObject(params, "format", type);
  if (opts->quality >= 0) cJSON_AddNumberToObject(params, "quality", opts->quality);
  if (opts->optimize_for_speed) cJSON_AddBoolToObject(params, "optimizeForSpeed", 1);

  if (opts->selector) {
    double box[4];
    if (element_box(nav, opts->selector, box, res)) goto fail;
    if (too_large(res, box[2], box[3], page->dsf)) goto fail;
    add_clip(params, box[0], box[1], box[2], box[3], 1);
  } else if (opts->has_clip) {
    /* clip.scale multiplies the image like deviceScaleFactor. */
    double scale = opts->clip_scale > 0 ? opts->clip_scale : 1;
    if (too_large(res, opts->clip_w, opts->clip_h, page->dsf * scale)) goto fail;
    add_clip(params, opts->clip_x, opts->clip_y, opts->clip_w, opts->clip_h, scale);
  } else if (opts->full_page) {
    cJSON *m = NULL;
    if ((rc = pb_nav_call(nav, "Page.getLayoutMetrics", NULL, &m))) {
      pb_op_fail_rc(res, rc, "measuring the page");
      goto fail;
    }
    const cJSON *cs = cJSON_GetObjectItemCaseSensitive(m, "cssContentSize");
    const cJSON *cw = cJSON_GetObjectItemCaseSensitive(cs, "width");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(cs, "height");
    double w = ceil(cJSON_IsNumber(cw) ? cw->valuedouble : page->width);
    double h = ceil(cJSON_IsNumber(ch) ? ch->valuedouble : page->height);
    cJSON_Delete(m);
    if (w < page->width) w = page->width;
    if (opts->cut_at_max && h > PB_FULLPAGE_MAX_HEIGHT) h = PB_FULLPAGE_MAX_HEIGHT;
    if (too_large(res, w, h, page->dsf)) goto fail;
    add_clip(params, 0, 0, w, h, 1);
  }

  /* Puppeteer's fromSurface and captureBeyondViewport, when given, over
   * what the area chose. */
  if (opts->from_surface) cJSON_AddBoolToObject(params, "fromSurface", opts->from_surface > 0);
  if (opts->beyond_viewport) {
    cJSON_DeleteItemFromObjectCaseSensitive(params, "captureBeyondViewport");
    cJSON_AddBoolToObject(params, "captureBeyondViewport", opts->beyond_viewport > 0);
  }

  if (opts->omit_background) {
    if ((rc = pb_nav_clear_background(nav))) {
      pb_op_fail_rc(res, rc, "making the background transparent");
      goto fail;
    }
  }

  cJSON *shot = NULL;
  int action = pb_nav_action_begin(nav, "page.screenshot", params);
  rc = pb_nav_call(nav, "Page.captureScreenshot", params, &shot);
  pb_nav_action_end(nav, action, rc ? pb_strerror(rc) : NULL);
  params = NULL;
  if (rc) {
    pb_op_fail_rc(res, rc, "capturing the screenshot");
    goto fail;
  }
  cJSON *data = cJSON_GetObjectItemCaseSensitive(shot, "data");
  if (!cJSON_IsString(data)) {
    cJSON_Delete(shot);
    pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "Chromium returned no image");
    goto fail;
  }
  /* Take the string out of the reply instead of copying megabytes. */
  *b64 = data->valuestring;
  data->valuestring = NULL;
  cJSON_Delete(shot);
  res->content_type = !strcmp(type, "jpeg") ? "image/jpeg" : !strcmp(type, "webp") ? "image/webp" : "image/png";
  return 0;

fail:
  cJSON_Delete(params);
  return -1;
}

int pb_op_screenshot(pb_job *job, pb_op_result *res) {
  pb_nav *nav = NULL;
  if (pb_op_viewport_check(&job->opts.page.viewport, res)) return -1;
  if (pb_nav_open(job, res, &nav)) return -1;
  char *b64 = NULL;
  /* After scrollPage an endless page is shot down to the height cap. */
  pb_screenshot_opts shot = job->opts.shot;
  shot.cut_at_max = job->opts.page.scroll_page;
  if (pb_op_capture(nav, &shot, res, &b64)) {
    pb_nav_close(nav, res);
    return -1;
  }
  pb_nav_close(nav, res);
  if (shot.base64) {
    /* encoding "base64": the text page.screenshot({encoding: 'base64'})
     * gives, as it is (text/plain): res.text() is the image's base64, ready
     * for a data: URL; the image's type is the request's. */
    return pb_op_bytes(res, b64, strlen(b64), "text/plain; charset=us-ascii");
  }
  unsigned char *bytes = NULL;
  size_t len = 0;
  int rc = pb_base64_decode(b64, strlen(b64), &bytes, &len);
  free(b64);
  if (rc) return pb_op_fail(res, PB_CODE_INTERNAL_ERROR, "Chromium returned a broken image");
  return pb_op_bytes(res, (char *)bytes, len, NULL);
}
