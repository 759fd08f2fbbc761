#ifndef PB_H
#define PB_H
/* Project-wide status codes and small helpers shared by every module.
 * Fallible functions return 0 or a negative PB_E* code and write results
 * through out-params. */
#include <stddef.h>
#include <stdint.h>

enum {
  PB_OK = 0,
  PB_ENOMEM = -1,     /* allocation failed */
  PB_EINVAL = -2,     /* bad argument or input */
  PB_ETIMEOUT = -3,   /* a deadline passed */
  PB_ECRASHED = -4,   /* the browser (or its pipe) is gone */
  PB_ETARGET = -5,    /* the page/target crashed or was closed */
  PB_ECDP = -6,       /* CDP answered with an error */
  PB_EIO = -7,        /* system call failed */
  PB_ENOTFOUND = -8,  /* no such thing */
  PB_EEXIST = -9,     /* already exists */
  PB_ETOOBIG = -10,   /* over a size cap */
  PB_EBUSY = -11,     /* no capacity now */
  PB_ESTORE = -12,    /* the database failed */
  PB_EFORBIDDEN = -13,/* refused by policy */
  PB_EEXPIRED = -14,  /* token expired */
  PB_ENAV = -15,      /* navigation failed */
  PB_ESHUTDOWN = -16, /* service is stopping */
  PB_ECANCELED = -17, /* the requester went away */
  PB_ENOSPACE = -18,  /* the disk (data dir) is full */
  PB_EREVOKED = -19,  /* token revoked */
  PB_EDISABLED = -20, /* account disabled */
  PB_EDELETED = -21,  /* account deleted */
  PB_ENOCREDIT = -22, /* the account's credits cannot pay for the work */
};

/* A static, human-readable text for a PB_E* code. Never NULL. */
const char *pb_strerror(int code);

/* Monotonic and wall clocks in milliseconds. */
int64_t pb_now_ms(void);
int64_t pb_wall_ms(void);

/* Bounded string copy: always NUL-terminates when cap > 0; returns the length
 * of src (so truncation is len >= cap), like strlcpy. */
size_t pb_strlcpy(char *dst, const char *src, size_t cap);

/* Strict decimal parse of a whole string into [min, max]. 0 or PB_EINVAL. */
int pb_parse_int(const char *s, long long min, long long max, long long *out);

/* A growable byte buffer with a hard cap (curl's dynbuf). */
typedef struct {
  char *data;   /* NUL-terminated when len > 0; owned */
  size_t len;
  size_t alloc;
  size_t cap;   /* appends past this fail with PB_ETOOBIG */
} pb_buf;

void pb_buf_init(pb_buf *b, size_t cap);
int pb_buf_append(pb_buf *b, const void *data, size_t len);
int pb_buf_printf(pb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (free() them) and resets b. */
char *pb_buf_steal(pb_buf *b, size_t *len);
void pb_buf_free(pb_buf *b);
/* Appends s[0, n) escaped for HTML and XML text and attribute values alike
 * (& < > " ' as entities); control characters other than tab, LF and CR
 * are dropped (XML 1.0 has no place for them). 0 or the append's error. */
int pb_buf_escape_markup(pb_buf *b, const char *s, size_t n);

/* Base64 (standard alphabet). Caller frees *out with free(). */
int pb_base64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);
int pb_base64_encode(const unsigned char *in, size_t inlen, char **out);

/* Logging to stderr, filtered by level. */
enum { PB_LOG_ERROR = 0, PB_LOG_WARN, PB_LOG_INFO, PB_LOG_DEBUG };
extern int pb_log_level;
int pb_log_level_parse(const char *name, int *level);
void pb_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes one JSON object per line on stderr, as the request log does, with
 * "ts" put first. Takes ownership of line (a cJSON object). */
struct cJSON;
void pb_log_json(struct cJSON *line);
#define PB_ERR(...) pb_log(PB_LOG_ERROR, __VA_ARGS__)
#define PB_WARN(...) pb_log(PB_LOG_WARN, __VA_ARGS__)
#define PB_INFO(...) pb_log(PB_LOG_INFO, __VA_ARGS__)
#define PB_DEBUG(...) do { if (pb_log_level >= PB_LOG_DEBUG) pb_log(PB_LOG_DEBUG, __VA_ARGS__); } while (0)


/* Node tags (cluster mode, core/nodes.c): every id a node mints starts with
 * its 4-hex-digit tag, so any node can tell where an id's resource lives.
 * pb_node_tag_set is called once at start, before any id is minted (tag:
 * 4 lowercase hex digits; NULL clears it). pb_random_id_hex is
 * pb_random_hex (2*nbytes hex digits, nbytes >= 2) with the first 4 digits
 * replaced by the tag when one is set. 0, or pb_random_hex's errors.
 * pb_node_tag returns the tag ("" when none). Any thread after the set. */
void pb_node_tag_set(const char tag[4]);
int pb_random_id_hex(char *out, size_t nbytes);
const char *pb_node_tag(void);

#endif
