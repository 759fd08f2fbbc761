/* The test runner's result as JUnit XML (?format=junit), for CI systems. */
#include "ops/testrun.h"

#include "common/json.h"
#include "common/pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void xml_escape(pb_buf *b, const char *s) {
  if (s) pb_buf_escape_markup(b, s, strlen(s));
}

int pb_testrun_junit(const cJSON *result, const char *suite, char **xml, size_t *len) {
  *xml = NULL;
  pb_buf b;
  pb_buf_init(&b, (size_t)64 << 20);
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(result, "steps");
  int tests = 0, failures = 0, skipped = 0;
  const cJSON *st;
  cJSON_ArrayForEach(st, steps) {
    const char *status = pb_json_str(st, "status");
    tests++;
    failures += status && !strcmp(status, "failed");
    skipped += status && !strcmp(status, "skipped");
  }
  double secs = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(result, "durationMs")) / 1000;
  if (isnan(secs)) secs = 0;
  pb_buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  pb_buf_printf(&b, "<testsuites tests=\"%d\" failures=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
                tests, failures, skipped, secs);
  pb_buf_printf(&b, "  <testsuite name=\"");
  xml_escape(&b, suite);
  pb_buf_printf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n",
                tests, failures, skipped, secs);
  cJSON_ArrayForEach(st, steps) {
    const char *status = pb_json_str(st, "status"), *name = pb_json_str(st, "name"),
               *action = pb_json_str(st, "action");
    /* valueint, not a cast: a missing or huge index must not be UB. */
    const cJSON *ij = cJSON_GetObjectItemCaseSensitive(st, "index");
    int index = cJSON_IsNumber(ij) ? ij->valueint : 0;
    double ms = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(st, "durationMs"));
    pb_buf_printf(&b, "    <testcase classname=\"");
    xml_escape(&b, suite);
    pb_buf_printf(&b, "\" name=\"%d. ", index);
    xml_escape(&b, name ? name : action);
    pb_buf_printf(&b, "\" time=\"%.3f\"", isnan(ms) ? 0 : ms / 1000);
    if (status && !strcmp(status, "failed")) {
      const char *e = pb_json_str(st, "error");
      pb_buf_printf(&b, ">\n      <failure message=\"");
      xml_escape(&b, e);
      pb_buf_printf(&b, "\" type=\"");
      xml_escape(&b, action ? action : "step");
      pb_buf_printf(&b, "\">");
      xml_escape(&b, e);
      pb_buf_printf(&b, "</failure>\n    </testcase>\n");
    } else if (status && !strcmp(status, "skipped")) {
      pb_buf_printf(&b, ">\n      <skipped/>\n    </testcase>\n");
    } else {
      pb_buf_printf(&b, "/>\n");
    }
  }
  const cJSON *console = cJSON_GetObjectItemCaseSensitive(result, "console");
  const cJSON *errs = cJSON_GetObjectItemCaseSensitive(result, "pageErrors");
  if (cJSON_GetArraySize(console) || cJSON_GetArraySize(errs)) {
    pb_buf_printf(&b, "    <system-out>");
    const cJSON *c;
    cJSON_ArrayForEach(c, console) {
      pb_buf_printf(&b, "[%s] ", pb_json_str(c, "type") ? pb_json_str(c, "type") : "log");
      xml_escape(&b, pb_json_str(c, "text"));
      pb_buf_printf(&b, "\n");
    }
    pb_buf_printf(&b, "</system-out>\n");
  }
  if (cJSON_GetArraySize(errs)) {
    pb_buf_printf(&b, "    <system-err>");
    const cJSON *c;
    cJSON_ArrayForEach(c, errs) {
      xml_escape(&b, cJSON_IsString(c) ? c->valuestring : "");
      pb_buf_printf(&b, "\n");
    }
    pb_buf_printf(&b, "</system-err>\n");
  }
  int rc = pb_buf_printf(&b, "  </testsuite>\n</testsuites>\n");
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *xml = pb_buf_steal(&b, len);
  return 0;
}
