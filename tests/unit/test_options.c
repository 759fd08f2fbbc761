/* http/options.c and ops/options.c: a request body read once into typed
 * options, with the schemas' defaults, and the deadlines derived from them. */
#include "common/pb.h"
#include "http/options.h"
#include "ops/testscript.h"
#include "test.h"

#include <math.h>

static void parse(const char *json, cJSON **doc, pb_request *o) {
  *doc = cJSON_Parse(json);
  ASSERT(*doc != NULL);
  pb_request_from_json(*doc, o);
}

static void test_defaults(void) {
  pb_request o;
  pb_request_from_json(NULL, &o);
  ASSERT_EQ(o.timeout_ms, 30000);
  ASSERT(o.page.url == NULL && o.page.html == NULL);
  ASSERT_EQ(o.page.go.wait_until, PB_WAIT_LOAD);
  ASSERT_EQ(o.page.go.timeout_ms, 30000);
  ASSERT(o.page.wait_selector.selector == NULL);
  ASSERT_EQ(o.page.action_timeout_ms, -1);
  ASSERT_EQ(o.page.viewport.width, 1920);
  ASSERT_EQ(o.page.viewport.height, 1080);
  ASSERT(o.page.viewport.dsf == 1);
  ASSERT_STR_EQ(o.shot.type, "png");
  ASSERT_EQ(o.shot.quality, -1);
  ASSERT(o.pdf.width_in == 8.5 && o.pdf.height_in == 11);
  ASSERT_EQ(o.pdf.landscape, -1);
  ASSERT_EQ(o.markdown.readable, 1);
  ASSERT_EQ(o.markdown.md.heading_style, PB_MD_HEADING_ATX);
  ASSERT_EQ(o.markdown.md_invalid, 0);
  ASSERT_EQ(o.test.step_timeout_ms, PB_TEST_STEP_TIMEOUT_DEFAULT_MS);
  ASSERT_EQ(o.keep_alive_ms, -1);
}

static void test_page(void) {
  cJSON *d;
  pb_request o;
  parse(
      "{\"url\":\"https://example.com/\",\"timeout\":5000,"
      "\"gotoOptions\":{\"waitUntil\":\"networkidle2\",\"timeout\":0,\"referer\":\"r\"},"
      "\"waitForSelector\":{\"selector\":\"h1\",\"visible\":true,\"timeout\":700},"
      "\"waitForTimeout\":10,\"bestAttempt\":true,\"actionTimeout\":0,\"trace\":true,"
      "\"viewport\":{\"width\":800,\"height\":600,\"deviceScaleFactor\":2,\"isMobile\":true},"
      "\"userAgent\":\"ua\",\"setExtraHTTPHeaders\":{\"x-a\":\"1\"},\"cookies\":[],"
      "\"emulateMediaType\":\"print\",\"setJavaScriptEnabled\":false,"
      "\"authenticate\":{\"username\":\"u\",\"password\":\"p\"},"
      "\"rejectResourceTypes\":[\"image\",\"Font\"],\"allowResourceTypes\":[\"document\"],"
      "\"rejectRequestPattern\":[\"a\",\"b\"],\"allowRequestPattern\":[\"c\"],"
      "\"addScriptTag\":[{\"url\":\"https://x/s.js\"},{\"content\":\"1\"}],"
      "\"addStyleTag\":[{\"content\":\"p{}\"}]}",
      &d, &o);
  const pb_page_opts *p = &o.page;
  ASSERT_EQ(o.timeout_ms, 5000);
  ASSERT_STR_EQ(p->url, "https://example.com/");
  ASSERT_EQ(p->go.wait_until, PB_WAIT_NETWORKIDLE2);
  ASSERT_STR_EQ(pb_wait_until_name(p->go.wait_until), "networkidle2");
  ASSERT_STR_EQ(pb_wait_until_lifecycle(p->go.wait_until), "networkAlmostIdle");
  ASSERT_EQ(p->go.timeout_ms, 0);
  ASSERT_STR_EQ(p->go.referer, "r");
  ASSERT_STR_EQ(p->wait_selector.selector, "h1");
  ASSERT_EQ(p->wait_selector.visible, 1);
  ASSERT_EQ(p->wait_selector.hidden, 0);
  ASSERT_EQ(p->wait_selector.timeout_ms, 700);
  ASSERT_EQ(p->wait_for_timeout_ms, 10);
  ASSERT_EQ(p->best_attempt, 1);
  ASSERT_EQ(p->action_timeout_ms, 0);
  ASSERT_EQ(p->trace, 1);
  ASSERT_EQ(p->viewport.width, 800);
  ASSERT(p->viewport.dsf == 2);
  ASSERT_EQ(p->viewport.is_mobile, 1);
  ASSERT_STR_EQ(p->user_agent, "ua");
  ASSERT(cJSON_IsObject(p->extra_headers));
  ASSERT(cJSON_IsArray(p->cookies));
  ASSERT_STR_EQ(p->media, "print");
  ASSERT_EQ(p->javascript_disabled, 1);
  ASSERT_STR_EQ(p->auth_user, "u");
  ASSERT_STR_EQ(p->auth_pass, "p");
  ASSERT_EQ(p->reject_types,
            (1u << pb_resource_type_index("Image")) | (1u << pb_resource_type_index("Font")));
  ASSERT_EQ(p->allow_types, 1u);
  ASSERT_EQ(p->nreject_patterns, 2);
  ASSERT_STR_EQ(p->reject_patterns[1], "b");
  ASSERT_EQ(p->nallow_patterns, 1);
  ASSERT_EQ(p->nscript_tags, 2);
  ASSERT_STR_EQ(p->script_tags[0].url, "https://x/s.js");
  ASSERT(p->script_tags[0].content == NULL);
  ASSERT_STR_EQ(p->script_tags[1].content, "1");
  ASSERT_EQ(p->nstyle_tags, 1);

  /* Deadlines: the job owns timeout; navigation and waits are capped by it. */
  int64_t job = pb_deadline_job(&o, 1000);
  ASSERT_EQ(job, 6000);
  /* gotoOptions.timeout 0: only the job's deadline, less the best-attempt reserve. */
  ASSERT_EQ(pb_deadline_goto(p, 1000, job), 6000 - PB_BEST_ATTEMPT_RESERVE_MS);
  ASSERT_EQ(pb_deadline_wait_selector(p, 1000, job), 1000 + 700 + PB_WAIT_SELECTOR_SLACK_MS);
  ASSERT_EQ(pb_deadline_wait_selector(p, 5000, job), job);
  ASSERT_EQ(pb_deadline_action(p, 2000, job), 2000);
  cJSON_Delete(d);
}

static void test_goto_deadline(void) {
  cJSON *d;
  pb_request o;
  parse("{\"html\":\"<p>\",\"gotoOptions\":{\"timeout\":100}}", &d, &o);
  ASSERT_EQ(pb_deadline_goto(&o.page, 0, 30000), 100);
  ASSERT_EQ(pb_deadline_goto(&o.page, 29950, 30000), 30000);
  ASSERT_EQ(pb_deadline_action(&o.page, 10, 30000), 30000); /* no actionTimeout */
  ASSERT(o.page.wait_selector.selector == NULL);
  cJSON_Delete(d);
  /* timeout 0 is the default, as before. */
  parse("{\"url\":\"about:blank\",\"timeout\":0}", &d, &o);
  ASSERT_EQ(pb_deadline_job(&o, 0), 30000);
  cJSON_Delete(d);
}

static void test_screenshot(void) {
  cJSON *d;
  pb_request o;
  parse(
      "{\"url\":\"about:blank\",\"selector\":\"#a\",\"options\":{\"type\":\"jpeg\","
      "\"quality\":50,\"fullPage\":true,\"omitBackground\":true,\"optimizeForSpeed\":true,"
      "\"clip\":{\"x\":1,\"y\":2,\"width\":3,\"height\":4}}}",
      &d, &o);
  ASSERT_STR_EQ(o.shot.type, "jpeg");
  ASSERT_EQ(o.shot.quality, 50);
  ASSERT_EQ(o.shot.full_page, 1);
  ASSERT_EQ(o.shot.omit_background, 1);
  ASSERT_EQ(o.shot.optimize_for_speed, 1);
  ASSERT_EQ(o.shot.has_clip, 1);
  ASSERT(o.shot.clip_x == 1 && o.shot.clip_y == 2 && o.shot.clip_w == 3 && o.shot.clip_h == 4);
  ASSERT_STR_EQ(o.shot.selector, "#a");
  cJSON_Delete(d);
  /* screenshotOptions wins over the alias. */
  parse("{\"screenshotOptions\":{\"type\":\"webp\"},\"options\":{\"type\":\"jpeg\"}}", &d, &o);
  ASSERT_STR_EQ(o.shot.type, "webp");
  cJSON_Delete(d);
}

static void test_pdf(void) {
  cJSON *d;
  pb_request o;
  parse(
      "{\"pdfOptions\":{\"format\":\"A4\",\"landscape\":false,\"printBackground\":true,"
      "\"margin\":{\"top\":\"1in\",\"left\":96,\"bottom\":\"2.54cm\",\"right\":\"x\"},"
      "\"pageRanges\":\"1-2\",\"scale\":1.5,\"headerTemplate\":\"\"}}",
      &d, &o);
  ASSERT(o.pdf.width_in == 8.27 && o.pdf.height_in == 11.7);
  ASSERT(o.pdf.margin_in[0] == 1);
  ASSERT(isnan(o.pdf.margin_in[1]));
  ASSERT(fabs(o.pdf.margin_in[2] - 1) < 1e-9);
  ASSERT(o.pdf.margin_in[3] == 1);
  ASSERT_EQ(o.pdf.landscape, 0);
  ASSERT_EQ(o.pdf.print_background, 1);
  ASSERT_EQ(o.pdf.tagged, -1);
  ASSERT_STR_EQ(o.pdf.page_ranges, "1-2");
  ASSERT_STR_EQ(o.pdf.header_template, "");
  ASSERT(o.pdf.footer_template == NULL);
  ASSERT(o.pdf.has_scale && o.pdf.scale == 1.5);
  cJSON_Delete(d);
  parse("{\"options\":{\"width\":\"210mm\",\"height\":\"12furlongs\"}}", &d, &o);
  ASSERT(fabs(o.pdf.width_in - 210 / 25.4) < 1e-9);
  ASSERT(isnan(o.pdf.height_in));
  cJSON_Delete(d);
}

static void test_other_actions(void) {
  cJSON *d;
  pb_request o;
  parse(
      "{\"elements\":[{\"selector\":\"h1\"},{\"selector\":\"a\"}],\"visibleLinksOnly\":true,"
      "\"mode\":\"full\",\"frontmatter\":true,\"markdownOptions\":{\"headingStyle\":\"setext\"},"
      "\"steps\":[{\"action\":\"wait\",\"ms\":1}],\"stepTimeout\":900,\"keep_alive\":5000,"
      "\"sessionId\":\"s\",\"id\":\"t\"}",
      &d, &o);
  ASSERT_EQ(o.nscrape_selectors, 2);
  ASSERT_STR_EQ(o.scrape_selectors[1], "a");
  ASSERT_EQ(o.links_visible_only, 1);
  ASSERT_EQ(o.links_exclude_external, 0);
  ASSERT_EQ(o.markdown.readable, 0);
  ASSERT_EQ(o.markdown.frontmatter, 1);
  ASSERT_EQ(o.markdown.md.heading_style, PB_MD_HEADING_SETEXT);
  ASSERT_EQ(o.markdown.md.code_block_style, PB_MD_CODE_FENCED);
  ASSERT(o.test.script == d);
  ASSERT_EQ(cJSON_GetArraySize(o.test.steps), 1);
  ASSERT_EQ(o.test.step_timeout_ms, 900);
  ASSERT_EQ(o.keep_alive_ms, 5000);
  ASSERT_STR_EQ(o.session_id, "s");
  ASSERT_STR_EQ(o.id, "t");
  cJSON_Delete(d);
  /* markdownOptions the converter refuses are the operation's to report. */
  parse("{\"markdownOptions\":{\"headingStyle\":\"huge\"}}", &d, &o);
  ASSERT_EQ(o.markdown.md_invalid, 1);
  ASSERT(o.markdown.md_error[0] != '\0');
  cJSON_Delete(d);
}

/* The options Cloudflare's and Browserless' clients send (issue 18). */
static void test_compat(void) {
  cJSON *d;
  pb_request o;
  parse("{\"url\":\"x\",\"gotoOptions\":{\"waitUntil\":[\"networkidle0\",\"load\"],"
        "\"referrerPolicy\":\"strict-origin-when-cross-origin\"},"
        "\"waitForFunction\":{\"fn\":\"window.ok\",\"polling\":250,\"timeout\":0},"
        "\"waitForEvent\":{\"event\":\"ready\"},"
        "\"viewport\":{\"width\":10,\"height\":20,\"isLandscape\":true,\"hasTouch\":true},"
        "\"addScriptTag\":[{\"content\":\"1\",\"type\":\"module\",\"id\":\"m\"}],"
        "\"screenshotOptions\":{\"encoding\":\"base64\",\"fromSurface\":false,"
        "\"clip\":{\"x\":0,\"y\":0,\"width\":1,\"height\":1,\"scale\":2}},"
        "\"pdfOptions\":{\"timeout\":1500,\"omitBackground\":true},"
        "\"elements\":[{\"selector\":\"a\",\"timeout\":700},{\"selector\":\"b\"}]}",
        &d, &o);
  ASSERT_EQ(o.page.go.wait_until, PB_WAIT_NETWORKIDLE0); /* the first names it */
  ASSERT_EQ(o.page.go.wait_all, (1u << PB_WAIT_NETWORKIDLE0) | (1u << PB_WAIT_LOAD));
  ASSERT_STR_EQ(o.page.go.referrer_policy, "strictOriginWhenCrossOrigin");
  ASSERT_STR_EQ(o.page.wait_function.fn, "window.ok");
  ASSERT_EQ(o.page.wait_function.polling_ms, 250);
  ASSERT_EQ(o.page.wait_function.polling_raf, 0);
  ASSERT_EQ(o.page.wait_function.timeout_ms, 0);
  ASSERT_STR_EQ(o.page.wait_event.event, "ready");
  ASSERT_EQ(o.page.wait_event.timeout_ms, 30000);
  ASSERT(o.page.viewport.is_landscape && o.page.viewport.has_touch);
  ASSERT_STR_EQ(o.page.script_tags[0].type, "module");
  ASSERT_STR_EQ(o.page.script_tags[0].id, "m");
  ASSERT(o.shot.base64 == 1 && o.shot.from_surface == -1 && o.shot.beyond_viewport == 0);
  ASSERT(o.shot.clip_scale == 2);
  ASSERT(o.pdf.timeout_ms == 1500 && o.pdf.omit_background == 1);
  ASSERT(o.scrape_timeouts[0] == 700 && o.scrape_timeouts[1] == 0);
  /* waitForFunction's and waitForEvent's deadlines: timeout + slack, capped
   * by the job's; 0 is the job's. */
  ASSERT_EQ(pb_deadline_wait(1000, 0, 60000), 1000 + PB_WAIT_SELECTOR_SLACK_MS);
  ASSERT_EQ(pb_deadline_wait(1000, 0, 500), 500);
  ASSERT_EQ(pb_deadline_wait(0, 0, 60000), 60000);
  ASSERT_STR_EQ(pb_referrer_policy_cdp("noReferrer"), "noReferrer");
  ASSERT(pb_referrer_policy_cdp("whatever") == NULL);
  /* Accept picks the type when the body does not (screenshotOptions here
   * names none). */
  pb_request_accept(d, "image/jpeg", &o);
  ASSERT_STR_EQ(o.shot.type, "jpeg");
  cJSON_Delete(d);
  const char *accepts[][2] = {{"image/jpeg", "jpeg"},       {"image/webp,image/png", "webp"},
                              {"text/html, image/png", "png"}, {"*/*", "png"},
                              {"image/*", "png"},            {"IMAGE/JPEG;q=0.9", "jpeg"}};
  for (size_t i = 0; i < sizeof(accepts) / sizeof(accepts[0]); i++) {
    parse("{\"url\":\"x\"}", &d, &o);
    pb_request_accept(d, accepts[i][0], &o);
    ASSERT_STR_EQ(o.shot.type, accepts[i][1]);
    cJSON_Delete(d);
  }
  parse("{\"url\":\"x\",\"options\":{\"type\":\"webp\"}}", &d, &o);
  pb_request_accept(d, "image/jpeg", &o);
  ASSERT_STR_EQ(o.shot.type, "webp"); /* Browserless' "options" says too */
  cJSON_Delete(d);
}

int main(void) {
  RUN(test_compat);
  RUN(test_defaults);
  RUN(test_page);
  RUN(test_goto_deadline);
  RUN(test_screenshot);
  RUN(test_pdf);
  RUN(test_other_actions);
  DONE();
}
