/* The egress policy: URL parsing as Chromium sees hosts, private address
 * detection for every spelling, and the operator allow-list, as the
 * navigation guard and the egress proxy ask about them. */
#include "common/pb.h"
#include "common/url.h"
#include "egress/policy.h"
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

static int v6_private(const char *a) {
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  ASSERT_EQ(inet_pton(AF_INET6, a, &s6.sin6_addr), 1);
  return pb_egress_addr_private((struct sockaddr *)&s6);
}

/* Every IPv6 form that embeds an IPv4 address or routes somewhere the host
 * cannot judge: refused unless it embeds a public IPv4 in a form the public
 * internet routes. */
static void test_v6_embeddings(void) {
  const char *bad[] = {
      "::ffff:127.0.0.1",
      "::ffff:10.0.0.1",
      "::ffff:169.254.169.254",
      "::ffff:0.0.0.0",
      "::127.0.0.1",
      "::8.8.8.8", /* compat: deprecated */
      "::ffff:0:127.0.0.1",
      "::ffff:0:8.8.8.8", /* SIIT */
      "64:ff9b::127.0.0.1",
      "64:ff9b::10.1.2.3",
      "64:ff9b::a9fe:a9fe",
      "64:ff9b:1::8.8.8.8",
      "64:ff9b:1:ffff::1",
      "64:ff9b:1::7f00:1", /* local-use NAT64 */
      "64:ff9b:2::1",      /* rest of the /32: unassigned */
      "2001::1",
      "2001:0:4136:e378:8000:63bf:3fff:fdd2", /* Teredo */
      "2001:0:7f00:1::",
      "2001:1::1",
      "2001:db8::1",
      "2002:7f00:1::",
      "2002:a9fe:a9fe::1",
      "2002:c0a8:101::", /* 6to4 */
      "100::1",
      "fc00::1",
      "fe80::1",
      "fec0::1",
      "ff02::1",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    if (v6_private(bad[i]) != 1) fprintf(stderr, "not private: %s\n", bad[i]);
    ASSERT_EQ(v6_private(bad[i]), 1);
  }
  const char *good[] = {
      "::ffff:8.8.8.8",       "64:ff9b::8.8.8.8", "2002:808:808::1",
      "2001:4860:4860::8888", "2606:4700::1111",  "2a00:1450::1",
  };
  for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
    if (v6_private(good[i]) != 0) fprintf(stderr, "refused: %s\n", good[i]);
    ASSERT_EQ(v6_private(good[i]), 0);
  }
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  const char *docs[] = {"192.0.2.1", "198.51.100.7", "203.0.113.9", "240.0.0.1", "255.255.255.255"};
  for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    inet_pton(AF_INET, docs[i], &s4.sin_addr);
    ASSERT_EQ(pb_egress_addr_private((struct sockaddr *)&s4), 1);
  }
}

static struct sockaddr_storage ip(const char *s) {
  struct sockaddr_storage ss;
  socklen_t len;
  ASSERT_EQ(pb_egress_parse_ip(s, &ss, &len), 1);
  return ss;
}

/* What the egress proxy asks, host first and then each address it resolved:
 * the same allow-list as the navigation check, with the same answers. */
static void test_proxy_questions(void) {
  pb_egress *e;
  ASSERT_EQ(pb_egress_new(&e), 0);
  ASSERT_EQ(pb_egress_allow(e, "allowed.test:8080"), 0);
  ASSERT_EQ(pb_egress_allow(e, "Dev.Localhost."), 0); /* read as a URL's host */
  ASSERT_EQ(pb_egress_allow(e, "127.0.0.1:4567"), 0);
  ASSERT_EQ(pb_egress_allow(e, "[fd00::1]"), 0);
  ASSERT_EQ(pb_egress_allow(e, "a/b"), PB_EINVAL);
  ASSERT_EQ(pb_egress_allow(e, "user@host"), PB_EINVAL);
  ASSERT_EQ(pb_egress_allow(e, "a b"), PB_EINVAL);

  ASSERT_EQ(pb_egress_check_host(e, "allowed.test", 8080), PB_EGRESS_HOST_ALLOWED);
  ASSERT_EQ(pb_egress_check_host(e, "allowed.test", 8081), PB_EGRESS_HOST_CHECK_ADDRS);
  ASSERT_EQ(pb_egress_check_host(e, "example.com", 80), PB_EGRESS_HOST_CHECK_ADDRS);
  ASSERT_EQ(pb_egress_check_host(e, "localhost", 80), PB_EGRESS_HOST_LOOPBACK);
  ASSERT_EQ(pb_egress_check_host(e, "a.localhost", 80), PB_EGRESS_HOST_LOOPBACK);
  ASSERT_EQ(pb_egress_check_host(e, "dev.localhost", 3000), PB_EGRESS_HOST_ALLOWED);
  /* An IP entry admits an address, never a name. */
  ASSERT_EQ(pb_egress_check_host(e, "127.0.0.1", 4567), PB_EGRESS_HOST_CHECK_ADDRS);

  struct sockaddr_storage a = ip("127.0.0.1");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 4567), 1);
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 4568), 0);
  a = ip("::ffff:127.0.0.1"); /* the same address, as a resolver may give it */
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 4567), 1);
  a = ip("127.1");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 4567), 1);
  a = ip("fd00::1");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 1), 1);
  a = ip("fd00::2");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 1), 0);
  a = ip("10.0.0.1");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 80), 0);
  a = ip("8.8.8.8");
  ASSERT_EQ(pb_egress_check_addr(e, (struct sockaddr *)&a, 80), 1);

  /* The navigation check gives the same answers for literals. */
  ASSERT_EQ(pb_egress_check_url(e, "http://[::ffff:127.0.0.1]:4567/", err, sizeof(err)), 0);
  ASSERT_EQ(pb_egress_check_url(e, "http://dev.localhost:3000/", err, sizeof(err)), 0);
  ASSERT_EQ(pb_egress_check_url(e, "http://[fd00::2]/", err, sizeof(err)), PB_EFORBIDDEN);
  ASSERT_CONTAINS(err, "[fd00::2] is a private or reserved address");
  ASSERT_EQ(pb_egress_check_url(e, "http://0x0a.1/", err, sizeof(err)), PB_EFORBIDDEN);
  ASSERT_CONTAINS(err, "0x0a.1 is a private or reserved address (10.0.0.1)");
  pb_egress_free(e);
  pb_egress_free(NULL);
}

static void test_same_addr(void) {
  struct sockaddr_storage a = ip("10.0.0.1"), b = ip("::ffff:10.0.0.1"), c = ip("10.0.0.2");
  ASSERT_EQ(pb_egress_same_addr(&a, &b), 1);
  ASSERT_EQ(pb_egress_same_addr(&b, &a), 1);
  ASSERT_EQ(pb_egress_same_addr(&a, &c), 0);
  a = ip("2001:db8::1");
  b = ip("2001:DB8:0::1");
  ASSERT_EQ(pb_egress_same_addr(&a, &b), 1);
  c = ip("::10.0.0.1"); /* compat, not mapped: another address */
  b = ip("10.0.0.1");
  ASSERT_EQ(pb_egress_same_addr(&b, &c), 0);
  struct sockaddr_storage ss;
  socklen_t len;
  ASSERT_EQ(pb_egress_parse_ip("example.com", &ss, &len), 0);
  ASSERT_EQ(pb_egress_parse_ip("[::1]", &ss, &len), 0); /* no brackets */
}

int main(void) {
  ASSERT_EQ(pb_egress_new(&eg), 0);
  RUN(test_schemes);
  RUN(test_private_spellings);
  RUN(test_public_allowed);
  RUN(test_allow_list);
  RUN(test_parse);
  RUN(test_addr_private);
  RUN(test_v6_embeddings);
  RUN(test_proxy_questions);
  RUN(test_same_addr);
  pb_egress_free(eg);
  DONE();
}
