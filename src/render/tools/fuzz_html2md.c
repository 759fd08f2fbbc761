/* libFuzzer target: pb_html2md must not crash, leak, hang or overflow on any
 * input and any option set. The first byte picks options; the output must be
 * valid UTF-8-agnostic C string of the reported length. Differential too:
 * whenever the fast parser accepts the input, the Markdown must be byte for
 * byte what gumbo's tree gives. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/pb.h"
#include "render/html2md.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pb_md_opts o;
  char *md = NULL;
  size_t len = 0;
  pb_md_opts_default(&o);
  if (size) {
    uint8_t f = data[0];
    o.heading_style = f & 1;
    o.code_block_style = (f >> 1) & 1;
    o.link_style = (f >> 2) & 1;
    o.link_reference_style = (f >> 3) % 3;
    o.preformatted_code = (f >> 5) & 1;
    o.gfm = !((f >> 6) & 1);
    if (f & 0x80) pb_strlcpy(o.base_url, "http://fakehost/test/page.html", sizeof(o.base_url));
    o.max_depth = 64;
    o.max_output = 1 << 22;
    data++;
    size--;
  }
  int rc = pb_html2md_ex((const char *)data, size, &o, PB_MD_PARSE_FAST, &md, &len);
  if (rc == 0) {
    if (!md || strlen(md) != len) abort();
  } else if (md) {
    abort();
  }
  char *ref = NULL;
  size_t rlen = 0;
  int rrc = pb_html2md_ex((const char *)data, size, &o, PB_MD_PARSE_GUMBO, &ref, &rlen);
  if (rrc == 0 ? !ref || strlen(ref) != rlen : ref != NULL) abort();
  /* the fast parser declines with PB_EINVAL; anything it takes must match */
  if (rc != PB_EINVAL && (rc != rrc || (rc == 0 && (len != rlen || memcmp(md, ref, len))))) abort();
  free(md);
  free(ref);
  return 0;
}
