#include "common/pb.h"

#include "common/hash.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int pb_log_level = PB_LOG_INFO;

const char *pb_strerror(int code) {
  switch (code) {
  case PB_OK: return "ok";
  case PB_ENOMEM: return "out of memory";
  case PB_EINVAL: return "invalid argument";
  case PB_ETIMEOUT: return "timed out";
  case PB_ECRASHED: return "browser crashed";
  case PB_ETARGET: return "page crashed or closed";
  case PB_ECDP: return "DevTools protocol error";
  case PB_EIO: return "I/O error";
  case PB_ENOTFOUND: return "not found";
  case PB_EEXIST: return "already exists";
  case PB_ETOOBIG: return "too large";
  case PB_EBUSY: return "busy";
  case PB_ESTORE: return "database error";
  case PB_EFORBIDDEN: return "forbidden";
  case PB_EEXPIRED: return "expired";
  case PB_ENAV: return "navigation failed";
  case PB_ESHUTDOWN: return "shutting down";
  case PB_ECANCELED: return "canceled";
  case PB_ENOSPACE: return "no space left on the device";
  case PB_EREVOKED: return "token revoked";
  case PB_EDISABLED: return "account disabled";
  case PB_EDELETED: return "account deleted";
  case PB_ENOCREDIT: return "insufficient credits";
  }
  return "unknown error";
}

int64_t pb_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pb_wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t pb_strlcpy(char *dst, const char *src, size_t cap) {
  size_t n = strlen(src);
  if (cap) {
    size_t c = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, c);
    dst[c] = '\0';
  }
  return n;
}

int pb_parse_int(const char *s, long long min, long long max, long long *out) {
  if (!s || !*s) return PB_EINVAL;
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < min || v > max) return PB_EINVAL;
  *out = v;
  return 0;
}

void pb_buf_init(pb_buf *b, size_t cap) {
  memset(b, 0, sizeof(*b));
  b->cap = cap;
}

int pb_buf_append(pb_buf *b, const void *data, size_t len) {
  if (len > b->cap || b->len > b->cap - len) return PB_ETOOBIG;
  if (b->len + len + 1 > b->alloc) {
    size_t na = b->alloc ? b->alloc : 256;
    while (na < b->len + len + 1) na *= 2;
    char *nd = realloc(b->data, na);
    if (!nd) return PB_ENOMEM;
    b->data = nd;
    b->alloc = na;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return 0;
}

int pb_buf_printf(pb_buf *b, const char *fmt, ...) {
  char small[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) return PB_EINVAL;
  if ((size_t)n < sizeof(small)) return pb_buf_append(b, small, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if (!big) return PB_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  int rc = pb_buf_append(b, big, (size_t)n);
  free(big);
  return rc;
}

char *pb_buf_steal(pb_buf *b, size_t *len) {
  char *d = b->data;
  if (len) *len = b->len;
  if (!d) d = calloc(1, 1);
  size_t cap = b->cap;
  pb_buf_init(b, cap);
  return d;
}

void pb_buf_free(pb_buf *b) {
  if (!b) return;
  free(b->data);
  size_t cap = b->cap;
  pb_buf_init(b, cap);
}

int pb_buf_escape_markup(pb_buf *b, const char *s, size_t n) {
  size_t start = 0;
  int rc = 0;
  for (size_t i = 0; s && i < n && !rc; i++) {
    unsigned char c = (unsigned char)s[i];
    const char *rep;
    switch (c) {
      case '&':
        rep = "&amp;";
        break;
      case '<':
        rep = "&lt;";
        break;
      case '>':
        rep = "&gt;";
        break;
      case '"':
        rep = "&quot;";
        break;
      case '\'':
        rep = "&#39;";
        break;
      default:
        if (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') continue;
        rep = ""; /* dropped */
    }
    rc = pb_buf_append(b, s + start, i - start);
    if (!rc && *rep) rc = pb_buf_append(b, rep, strlen(rep));
    start = i + 1;
  }
  if (s && !rc && start < n) rc = pb_buf_append(b, s + start, n - start);
  return rc;
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int pb_base64_encode(const unsigned char *in, size_t inlen, char **out) {
  size_t olen = 4 * ((inlen + 2) / 3);
  char *o = malloc(olen + 1);
  if (!o) return PB_ENOMEM;
  size_t j = 0;
  for (size_t i = 0; i < inlen; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < inlen) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < inlen) v |= in[i + 2];
    o[j++] = b64chars[(v >> 18) & 63];
    o[j++] = b64chars[(v >> 12) & 63];
    o[j++] = i + 1 < inlen ? b64chars[(v >> 6) & 63] : '=';
    o[j++] = i + 2 < inlen ? b64chars[v & 63] : '=';
  }
  o[j] = '\0';
  *out = o;
  return 0;
}

static int b64val(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

int pb_base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen) {
  unsigned char *o = malloc(inlen / 4 * 3 + 3);
  if (!o) return PB_ENOMEM;
  size_t j = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < inlen; i++) {
    unsigned char c = (unsigned char)in[i];
    if (c == '=') break;
    if (c == '\n' || c == '\r' || c == ' ') continue;
    int v = b64val(c);
    if (v < 0) {
      free(o);
      return PB_EINVAL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      o[j++] = (unsigned char)((acc >> bits) & 0xff);
    }
  }
  *out = o;
  *outlen = j;
  return 0;
}

int pb_log_level_parse(const char *name, int *level) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (!strcasecmp(name, names[i])) {
      *level = i;
      return 0;
    }
  return PB_EINVAL;
}

void pb_log(int level, const char *fmt, ...) {
  static const char *tags[] = {"error", "warn", "info", "debug"};
  if (level > pb_log_level) return;
  char line[2048];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                   tm.tm_sec, ts.tv_nsec / 1000000, tags[level < 0 ? 0 : level > 3 ? 3 : level]);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && (size_t)n < sizeof(line)) vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s\n", line);
}

void pb_log_json(struct cJSON *line) {
  if (!line) return;
  char ts[64];
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
  cJSON *o = cJSON_CreateObject();
  if (o) {
    cJSON_AddStringToObject(o, "ts", ts);
    while (line->child) {
      cJSON *item = cJSON_DetachItemViaPointer(line, line->child);
      cJSON_AddItemToObject(o, item->string, item);
    }
    char *text = cJSON_PrintUnformatted(o);
    if (text) fprintf(stderr, "%s\n", text);
    free(text);
    cJSON_Delete(o);
  }
  cJSON_Delete(line);
}

/* ---- node tags (see pb.h) ---- */

static char node_tag[5];

void pb_node_tag_set(const char tag[4]) {
  if (!tag) {
    node_tag[0] = '\0';
    return;
  }
  memcpy(node_tag, tag, 4);
  node_tag[4] = '\0';
}

const char *pb_node_tag(void) { return node_tag; }

int pb_random_id_hex(char *out, size_t nbytes) {
  int rc = pb_random_hex(out, nbytes);
  if (rc) return rc;
  if (node_tag[0] && nbytes >= 2) memcpy(out, node_tag, 4);
  return 0;
}
