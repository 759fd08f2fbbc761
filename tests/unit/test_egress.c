/* The navigation guard: URL parsing as Chromium sees hosts, private address
 * detection for every spelling, and the operator allow-list. */
#include "common/pb.h"
#include "ops/egress.h"
#include "test.h"

#include <arpa/inet.h>
#include <netinet/in.h>

static pb_egress *eg;
static char err[256];

static int check(const char *url) { return pb_egress_check_url(eg, url, err, sizeof(err)); }

static void test_schemes(void) {
  ASSERT_EQ(check("about:blank"), 0);
  ASSERT_EQ(check("file:///etc/passwd"), PB_EFORBIDDEN);
  ASSERT_CONTAINS(err, "file");
  ASSERT_EQ(check("FILE:///etc/passwd"), PB_EFORBIDDEN);
  ASSERT_EQ(check("javascript:alert(1)"), PB_EFORBIDDEN);
  ASSERT_EQ(check("view-source:http://example.com/"), PB_EFORBIDDEN);
  ASSERT_EQ(check("chrome://version"), PB_EFORBIDDEN);
  ASSERT_EQ(check("data:text/html,hi"), PB_EFORBIDDEN);
  ASSERT_EQ(check("not a url"), PB_EINVAL);
  ASSERT_EQ(check("http://"), PB_EINVAL);
  ASSERT_EQ(check("http://exa mple.com/"), PB_EINVAL);
}

static void test_private_spellings(void) {
  const char *bad[] = {
      "http://127.0.0.1/",        "http://127.1/",           "http://2130706433/",
      "http://0x7f.1/",           "http://0177.0.0.1/",      "http://0.0.0.0/",
      "http://[::1]/",            "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/",
      "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/", "http://172.16.0.1/",
      "http://192.168.1.1/",      "http://100.64.0.1/",      "http://[fe80::1]/",
      "http://[fd00::1]/",        "http://localhost/",       "http://foo.localhost:8080/",
      "http://LOCALHOST./",       "http://%31%32%37.0.0.1/", "http://user:pw@127.0.0.1/",
      "https:\\\\127.0.0.1\\x",   "http:///127.0.0.1/",      "http://224.0.0.1/",
      "http://[64:ff9b::7f00:1]/", "http://[::]/",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    int rc = check(bad[i]);
    if (rc != PB_EFORBIDDEN) fprintf(stderr, "not refused: %s (%d)\n", bad[i], rc);
    ASSERT_EQ(rc, PB_EFORBIDDEN);
  }
}

static void test_public_allowed(void) {
  ASSERT_EQ(check("http://8.8.8.8/"), 0);
  ASSERT_EQ(check("https://[2001:4860:4860::8888]/"), 0);
  /* A name that does not resolve is left to Chromium's DNS error. */
  ASSERT_EQ(check("http://no-such-host.invalid/"), 0);
}

static void test_allow_list(void) {
  ASSERT_EQ(pb_egress_allow(eg, "127.0.0.1:4567"), 0);
  ASSERT_EQ(pb_egress_allow(eg, "[::1]:9000"), 0);
  ASSERT_EQ(pb_egress_allow(eg, "internal.example"), 0);
  ASSERT_EQ(pb_egress_allow(eg, "bad:port:x"), PB_EINVAL);
  ASSERT_EQ(check("http://127.0.0.1:4567/page"), 0);
  ASSERT_EQ(check("http://127.1:4567/page"), 0); /* same address, other spelling */
  ASSERT_EQ(check("http://127.0.0.1:4568/page"), PB_EFORBIDDEN);
  ASSERT_EQ(check("http://127.0.0.1/"), PB_EFORBIDDEN);
  ASSERT_EQ(check("http://[::1]:9000/"), 0);
  ASSERT_EQ(check("http://[::1]:9001/"), PB_EFORBIDDEN);
}

static void test_parse(void) {
  pb_url u;
  ASSERT_EQ(pb_url_parse("HTTPS://User@Example.COM.:8443/x?y#z", &u, err, sizeof(err)), 0);
  ASSERT_STR_EQ(u.scheme, "https");
  ASSERT_STR_EQ(u.host, "example.com");
  ASSERT_EQ(u.port, 8443);
  ASSERT_EQ(pb_url_parse("http://example.com", &u, err, sizeof(err)), 0);
  ASSERT_EQ(u.port, 80);
  ASSERT_EQ(pb_url_parse("http://example.com:99999/", &u, err, sizeof(err)), PB_EINVAL);
}

static void test_addr_private(void) {
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  inet_pton(AF_INET, "93.184.216.34", &s4.sin_addr);
  ASSERT_EQ(pb_egress_addr_private((struct sockaddr *)&s4), 0);
  inet_pton(AF_INET, "172.31.255.255", &s4.sin_addr);
  ASSERT_EQ(pb_egress_addr_private((struct sockaddr *)&s4), 1);
  inet_pton(AF_INET, "172.32.0.1", &s4.sin_addr);
  ASSERT_EQ(pb_egress_addr_private((struct sockaddr *)&s4), 0);
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  inet_pton(AF_INET6, "2002:a00:1::", &s6.sin6_addr); /* 6to4 of 10.0.0.1 */
  ASSERT_EQ(pb_egress_addr_private((struct sockaddr *)&s6), 1);
}

int main(void) {
  ASSERT_EQ(pb_egress_new(&eg), 0);
  RUN(test_schemes);
  RUN(test_private_spellings);
  RUN(test_public_allowed);
  RUN(test_allow_list);
  RUN(test_parse);
  RUN(test_addr_private);
  pb_egress_free(eg);
  DONE();
}
