#include "common/jsontext.h"

#include "common/pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  if (c < 0x80) return 1;
  size_t len;
  unsigned cp, min;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07, min = 0x10000;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

int pb_json_text_check(const char *text, size_t len, char *err, size_t errcap) {
  const unsigned char *s = (const unsigned char *)text;
  int in_string = 0;
  for (size_t i = 0; i < len;) {
    size_t l = utf8_seq(s + i, len - i);
    if (!l) {
      snprintf(err, errcap, "the body is not valid UTF-8 (byte %zu)", i);
      return PB_EINVAL;
    }
    if (l == 1 && s[i] == '"') {
      in_string = !in_string;
    } else if (in_string && s[i] < 0x20) {
      /* RFC 8259 wants them escaped; cJSON takes them raw and prints them
       * back six bytes long, so a frame re-printed could outgrow its cap. */
      snprintf(err, errcap, "a string holds a raw control character (byte %zu)", i);
      return PB_EINVAL;
    } else if (l == 1 && s[i] == '\\' && in_string && i + 1 < len) {
      /* An escape: \u0000 is refused, anything else is skipped whole. */
      if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4)) {
        snprintf(err, errcap, "a string holds \\u0000 (byte %zu), which is not supported", i);
        return PB_EINVAL;
      }
      i += 2;
      continue;
    }
    i += l;
  }
  return 0;
}

static int by_name(const void *a, const void *b) {
  const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
  return strcmp(x->string ? x->string : "", y->string ? y->string : "");
}

/* Appends ".name" or "[i]" to path (truncating quietly: it is a message). */
static void path_push(char *path, size_t cap, const cJSON *item, int index) {
  size_t n = strlen(path);
  if (n >= cap - 1) return;
  if (item->string)
    snprintf(path + n, cap - n, "%s%s", n ? "." : "", item->string);
  else
    snprintf(path + n, cap - n, "[%d]", index);
}

static int walk(const cJSON *node, char *path, size_t pcap, int depth, char *err, size_t errcap) {
  if (depth > CJSON_NESTING_LIMIT) return 0; /* cJSON refuses deeper documents */
  if (cJSON_IsObject(node)) {
    size_t n = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, node) n++;
    if (n > 1) {
      const cJSON **v = malloc(n * sizeof(*v));
      if (!v) {
        snprintf(err, errcap, "out of memory");
        return PB_ENOMEM;
      }
      size_t i = 0;
      cJSON_ArrayForEach(c, node) v[i++] = c;
      qsort(v, n, sizeof(*v), by_name);
      for (i = 1; i < n; i++)
        if (!by_name(&v[i - 1], &v[i])) {
          size_t len = strlen(path);
          path_push(path, pcap, v[i], 0);
          snprintf(err, errcap, "%s: the key appears more than once", path);
          path[len] = '\0';
          free(v);
          return PB_EINVAL;
        }
      free(v);
    }
  }
  if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) return 0;
  int index = 0;
  const cJSON *c;
  cJSON_ArrayForEach(c, node) {
    size_t len = strlen(path);
    path_push(path, pcap, c, index++);
    int rc = walk(c, path, pcap, depth + 1, err, errcap);
    path[len] = '\0';
    if (rc) return rc;
  }
  return 0;
}

int pb_json_dup_keys(const cJSON *doc, char *err, size_t errcap) {
  char path[512] = "";
  return walk(doc, path, sizeof(path), 0, err, errcap);
}
