#ifndef PB_HASH_H
#define PB_HASH_H
/* SHA-1 and SHA-256 (FIPS 180-4), one-shot and pure: no allocation, no
 * state, callable from any thread. SHA-256 hashes tokens for the store;
 * SHA-1 names Playwright's content-addressed trace resources (not a
 * security use). */
#include <stddef.h>

#define PB_SHA1_LEN 20
#define PB_SHA256_LEN 32

/* Writes the 20-byte digest of len bytes at data (any length) into out. */
void pb_sha1(const void *data, size_t len, unsigned char out[PB_SHA1_LEN]);

/* Writes the 32-byte digest of len bytes at data (any length) into out. */
void pb_sha256(const void *data, size_t len, unsigned char out[PB_SHA256_LEN]);

/* Writes n bytes as lower-case hex into out, which holds 2 * n + 1 bytes
 * (NUL-terminated). */
void pb_hex(const unsigned char *data, size_t n, char *out);

/* Writes nbytes (at most 64) bytes from the kernel's random source as
 * lower-case hex into out, which holds 2 * nbytes + 1 bytes: the ids and
 * secrets the service mints (sessions, traces, contexts, connect tickets).
 * 0; PB_EIO when no random bytes came (out is then ""); PB_EINVAL past 64.
 * Blocks only until the kernel's pool is first seeded. */
int pb_random_hex(char *out, size_t nbytes);

#endif
