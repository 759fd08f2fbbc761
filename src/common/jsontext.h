#ifndef PB_COMMON_JSONTEXT_H
#define PB_COMMON_JSONTEXT_H
/* What a request body or a CDP frame must be beyond what cJSON checks: RFC 8259 text
 * (UTF-8 only), no "\u0000" in a string (cJSON's strings end at a NUL, so
 * "a\u0000b" would silently become "a"), and no object with a key twice
 * (cJSON keeps both and readers would disagree on which counts). Pure: no
 * I/O. */
#include <cjson/cJSON.h>
#include <stddef.h>

/* Checks the raw body text: valid UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF), no \u0000 escape and no raw control character
 * (below U+0020) inside a string. Returns 0, or
 * PB_EINVAL with a message naming the byte offset in err. */
int pb_json_text_check(const char *text, size_t len, char *err, size_t errcap);

/* Checks that no object in doc (borrowed) has the same key twice. Returns 0,
 * or PB_EINVAL with a message naming the key by JSON path in err. Objects are
 * checked in O(n log n) of their size. */
int pb_json_dup_keys(const cJSON *doc, char *err, size_t errcap);

#endif
