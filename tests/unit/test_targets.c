/* Per-browser target bookkeeping behind the popup/worker caps and the
 * download cap. */
#include "cdp/targets.h"
#include "common/pb.h"
#include "test.h"

static cJSON *info(const char *id, const char *type, const char *ctx) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "targetId", id);
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddStringToObject(o, "browserContextId", ctx);
  return o;
}

static int created(pb_targets *t, const char *id, const char *type, const char *ctx) {
  cJSON *o = info(id, type, ctx);
  int n = pb_targets_created(t, o);
  cJSON_Delete(o);
  return n;
}

static void test_counts(void) {
  pb_targets *t;
  ASSERT_EQ(pb_targets_new(&t), 0);
  ASSERT_EQ(created(t, "P1", "page", "C1"), 1);
  ASSERT_EQ(created(t, "P1", "page", "C1"), 1); /* the same target again */
  ASSERT_EQ(created(t, "P2", "page", "C1"), 2);
  ASSERT_EQ(created(t, "W1", "shared_worker", "C1"), 3);
  ASSERT_EQ(created(t, "Q1", "page", "C2"), 1); /* contexts count apart */
  ASSERT_EQ(pb_targets_live_pages(t), 3);
  pb_targets_destroyed(t, "P2");
  pb_targets_destroyed(t, "nope");
  ASSERT_EQ(pb_targets_live_pages(t), 2);
  /* What a page tried is counted, closed or not. */
  ASSERT_EQ(created(t, "P3", "page", "C1"), 4);
  char ctx[64];
  ASSERT_EQ(pb_targets_context_of(t, "Q1", ctx, sizeof(ctx)), 0);
  ASSERT_STR_EQ(ctx, "C2");
  ASSERT_EQ(pb_targets_context_of(t, "zz", ctx, sizeof(ctx)), PB_ENOTFOUND);
  pb_targets_forget(t, "C1");
  ASSERT_EQ(pb_targets_live_pages(t), 1);
  ASSERT_EQ(created(t, "P9", "page", "C1"), 1); /* a new context starts again */
  pb_targets_free(t);
  pb_targets_free(NULL);
}

static void test_downloads(void) {
  pb_targets *t;
  ASSERT_EQ(pb_targets_new(&t), 0);
  created(t, "P1", "page", "C1");
  created(t, "Q1", "page", "C2");
  pb_targets_download_began(t, "P1");
  ASSERT_EQ(pb_targets_downloaded(t, "C1"), 1);
  ASSERT_EQ(pb_targets_downloaded(t, "C2"), 0);
  /* A frame we do not know: every context may have it. */
  pb_targets_download_began(t, "iframe-7");
  ASSERT_EQ(pb_targets_downloaded(t, "C2"), 1);
  char ids[16][64];
  ASSERT_EQ(pb_targets_contexts(t, ids, 16), 2);
  pb_targets_free(t);
}

static void test_many(void) {
  pb_targets *t;
  ASSERT_EQ(pb_targets_new(&t), 0);
  char id[32];
  /* Past its tables the oldest entries give way; nothing overflows. */
  for (int i = 0; i < 5000; i++) {
    snprintf(id, sizeof(id), "T%d", i);
    char ctx[32];
    snprintf(ctx, sizeof(ctx), "C%d", i % 100);
    created(t, id, "page", ctx);
  }
  ASSERT(pb_targets_live_pages(t) <= 512);
  pb_targets_free(t);
}

int main(void) {
  RUN(test_counts);
  RUN(test_downloads);
  RUN(test_many);
  DONE();
}
