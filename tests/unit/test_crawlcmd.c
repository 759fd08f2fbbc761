/* `ppod browser:crawl`'s file names: derived from the URL, safe in any
 * directory (no separator, no "..", never hidden), bounded. */
#include "../../src/cli/config.c"
#include "../../src/cli/crawlcmd.c"
#include "../../src/cli/files.c"
#include "test.h"

static void name_is(const char *url, const char *want) {
  char out[128];
  pb_cli_crawl_file_name(url, out, sizeof(out));
  ASSERT_STR_EQ(out, want);
}

static void test_names(void) {
  name_is("http://e.com/", "index");
  name_is("http://e.com", "index");
  name_is("http://e.com/docs/intro", "docs-intro");
  name_is("http://e.com/docs/intro/", "docs-intro");
  name_is("http://e.com/a/../../etc/passwd", "a-..-..-etc-passwd");
  name_is("http://e.com/..", "_.");
  name_is("http://e.com/.hidden", "_hidden");
  name_is("http://e.com/p?x=1&y=2#frag", "p_x_1_y_2");
  name_is("http://e.com/%2e%2e/x", "_2e_2e-x");
  name_is("http://e.com/a\\b", "a_b");
  char out[128], url[600] = "http://e.com/";
  memset(url + 13, 'z', 500);
  url[513] = '\0';
  pb_cli_crawl_file_name(url, out, sizeof(out));
  ASSERT_EQ(strlen(out), 120u);
  ASSERT(!strchr(out, '/'));
}

int main(void) {
  RUN(test_names);
  DONE();
}
