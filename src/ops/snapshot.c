/* POST /browser/snapshot: several representations of one page load. By
 * default the rendered HTML and a screenshot; Cloudflare's formats choose
 * among content, screenshot, markdown and accessibilityTree, and ours, meta.
 * With formats, the answer carries meta:{status,title} beside result, as
 * Cloudflare's does. */
#include "ops/axtree.h"
#include "ops/markdown.h"

#include <stdlib.h>

int pb_op_snapshot(pb_job *job, pb_op_result *res) {
  const pb_cf_opts *o = &job->opts.cf;
  unsigned want = o->formats ? o->formats : PB_SNAP_CONTENT | PB_SNAP_SCREENSHOT;
  pb_nav *nav = NULL;
  if ((want & PB_SNAP_SCREENSHOT) && pb_op_viewport_check(&job->opts.page.viewport, res)) return -1;
  if ((want & PB_SNAP_MARKDOWN) && job->opts.markdown.md_invalid)
    return pb_op_fail(res, PB_CODE_INVALID_REQUEST, "markdownOptions: %s",
                      job->opts.markdown.md_error);
  if (pb_nav_open(job, res, &nav)) return -1;
  cJSON *out = cJSON_CreateObject(), *meta = NULL;
  int truncated = 0;
  if (want & PB_SNAP_CONTENT) {
    cJSON *html = NULL;
    if (pb_nav_content(nav, &html, res)) goto fail;
    cJSON_AddItemToObject(out, "content", html);
  }
  if (want & PB_SNAP_SCREENSHOT) {
    char *b64 = NULL;
    if (pb_op_capture(nav, &job->opts.shot, res, &b64)) goto fail;
    cJSON_AddStringToObject(out, "screenshot", b64);
    free(b64);
  }
  if (want & PB_SNAP_MARKDOWN) {
    char *md = NULL, note[640];
    int readable = 0;
    if (pb_markdown_page(job, nav, &md, &readable, note, sizeof(note), res)) goto fail;
    cJSON_AddStringToObject(out, "markdown", md);
    free(md);
  }
  if (want & PB_SNAP_AXTREE) {
    cJSON *tree = NULL;
    if (pb_axtree_snapshot(nav, o->ax_root, o->interesting_only, &tree, &truncated, res)) goto fail;
    cJSON_AddItemToObject(out, "accessibilityTree", tree ? tree : cJSON_CreateNull());
  }
  if (want & PB_SNAP_META) {
    cJSON *m = pb_page_meta(nav, 1);
    cJSON_AddItemToObject(out, "meta", m ? m : cJSON_CreateNull());
  }
  if (o->formats) meta = pb_page_meta(nav, 0);
  pb_nav_close(nav, res);
  if (!o->formats) return pb_op_json(res, out);
  cJSON *env = cJSON_CreateObject();
  cJSON_AddBoolToObject(env, "success", 1);
  cJSON_AddItemToObject(env, "result", out);
  if (truncated) cJSON_AddTrueToObject(env, "truncated");
  if (meta) cJSON_AddItemToObject(env, "meta", meta);
  return pb_op_json_object(res, env);

fail:
  cJSON_Delete(out);
  pb_nav_close(nav, res);
  return -1;
}
