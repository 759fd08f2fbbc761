/* libFuzzer: any string as a navigation URL through the egress URL parser
 * and the private-address check (name resolution is skipped: the input is
 * kept to literal hosts by refusing anything that would hit DNS). */
#include "common/url.h"
#include "egress/policy.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *url = malloc(size + 1);
  if (!url) return 0;
  memcpy(url, data, size);
  url[size] = '\0';
  pb_url u;
  char err[256];
  if (pb_url_parse(url, &u, err, sizeof(err)) == 0 && u.host[0]) {
    struct in_addr a4;
    unsigned char a6[16];
    /* Only literal addresses go on to the full check: no DNS from a fuzzer. */
    if (inet_aton(u.host, &a4) || inet_pton(AF_INET6, u.host, a6) == 1) {
      static pb_egress *eg;
      if (!eg && pb_egress_new(&eg)) abort();
      pb_egress_check_url(eg, url, err, sizeof(err));
    }
  }
  free(url);
  return 0;
}
