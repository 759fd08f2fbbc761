/* SHA-1 and SHA-256 against the FIPS 180 examples: the empty message, "abc",
 * the 56-byte message whose length no longer fits the first padding block,
 * and a million 'a's; plus the hex helper. */
#include "common/hash.h"
#include "common/pb.h"

#include "test.h"

static void sha1_hex(const void *data, size_t len, char out[2 * PB_SHA1_LEN + 1]) {
  unsigned char md[PB_SHA1_LEN];
  pb_sha1(data, len, md);
  pb_hex(md, sizeof(md), out);
}

static void sha256_hex(const void *data, size_t len, char out[2 * PB_SHA256_LEN + 1]) {
  unsigned char md[PB_SHA256_LEN];
  pb_sha256(data, len, md);
  pb_hex(md, sizeof(md), out);
}

static const char *const TWO_BLOCKS = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

static void test_sha1_vectors(void) {
  char h[41];
  sha1_hex("", 0, h);
  ASSERT_STR_EQ(h, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  sha1_hex("abc", 3, h);
  ASSERT_STR_EQ(h, "a9993e364706816aba3e25717850c26c9cd0d89d");
  sha1_hex(TWO_BLOCKS, strlen(TWO_BLOCKS), h);
  ASSERT_STR_EQ(h, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  /* 55 and 64 bytes: the last length with one padding block, and a whole
   * block followed by a padding-only one. */
  char m55[55], m64[64];
  memset(m55, 'a', sizeof(m55));
  memset(m64, 'a', sizeof(m64));
  sha1_hex(m55, sizeof(m55), h);
  ASSERT_STR_EQ(h, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
  sha1_hex(m64, sizeof(m64), h);
  ASSERT_STR_EQ(h, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
  char *m = malloc(1000000);
  ASSERT(m != NULL);
  memset(m, 'a', 1000000);
  sha1_hex(m, 1000000, h);
  ASSERT_STR_EQ(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
  free(m);
}

static void test_sha256_vectors(void) {
  char h[65];
  sha256_hex("", 0, h);
  ASSERT_STR_EQ(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha256_hex("abc", 3, h);
  ASSERT_STR_EQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  /* 56 bytes: the length no longer fits the first padding block. */
  sha256_hex(TWO_BLOCKS, strlen(TWO_BLOCKS), h);
  ASSERT_STR_EQ(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  char *m = malloc(1000000);
  ASSERT(m != NULL);
  memset(m, 'a', 1000000);
  sha256_hex(m, 1000000, h);
  ASSERT_STR_EQ(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(m);
}

static void test_hex(void) {
  const unsigned char b[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
  char out[2 * sizeof(b) + 1];
  memset(out, 'x', sizeof(out));
  pb_hex(b, sizeof(b), out);
  ASSERT_STR_EQ(out, "00017f80abff");
  pb_hex(b, 0, out);
  ASSERT_STR_EQ(out, "");
}

/* Ids the service mints: the asked length of lower-case hex, never the same
 * twice, and no more than the buffer's documented 64 bytes. */
static void test_random_hex(void) {
  char a[2 * 16 + 1], b[2 * 16 + 1], big[2 * 65 + 1];
  ASSERT_EQ(pb_random_hex(a, 16), 0);
  ASSERT_EQ(pb_random_hex(b, 16), 0);
  ASSERT_EQ(strlen(a), 32);
  ASSERT_EQ(strspn(a, "0123456789abcdef"), 32);
  ASSERT(strcmp(a, b) != 0);
  ASSERT_EQ(pb_random_hex(big, 65), PB_EINVAL);
  ASSERT_STR_EQ(big, "");
}

int main(void) {
  RUN(test_sha1_vectors);
  RUN(test_sha256_vectors);
  RUN(test_hex);
  RUN(test_random_hex);
  DONE();
}
