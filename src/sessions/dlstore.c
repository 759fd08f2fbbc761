/* The kept downloads: see dlstore.h. Directory names carry the account,
 * so a lookup can only reach the asking account's own sessions. */
#include "sessions/dlstore.h"

#include "common/json.h"
#include "common/pb.h"
#include "sessions/fsafe.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAX ((size_t)4 << 20)

struct pb_dl_store {
  char dir[PATH_MAX];
};

static int is_guid(const char *g) {
  size_t n = strlen(g);
  return n > 0 && n < 64 && strspn(g, "0123456789abcdefABCDEF-") == n;
}

static int is_session_id(const char *id) {
  size_t n = strlen(id);
  return n > 0 && n < 64 && strspn(id, "0123456789abcdef") == n;
}

int pb_dl_store_open(const char *dir, pb_dl_store **out) {
  if (!dir || !out || strlen(dir) >= PATH_MAX) return PB_EINVAL;
  pb_dl_store *st = calloc(1, sizeof(*st));
  if (!st) return PB_ENOMEM;
  pb_strlcpy(st->dir, dir, sizeof(st->dir));
  if (mkdir(st->dir, 0700) && errno != EEXIST)
    PB_WARN("cannot create %s: %s", st->dir, strerror(errno));
  pb_dl_store_sweep(st);
  *out = st;
  return 0;
}

void pb_dl_store_close(pb_dl_store *st) {
  free(st);
}

void pb_dl_store_sweep(pb_dl_store *st) {
  int dfd = st ? open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
  DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
  if (!d) {
    if (dfd >= 0) close(dfd);
    return;
  }
  struct dirent *e;
  time_t now = time(NULL);
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    struct stat sb;
    if (fstatat(dfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
        (now - sb.st_mtime) * 1000LL > PB_DLSTORE_KEEP_MS)
      pb_fsafe_remove_at(dfd, e->d_name);
  }
  closedir(d);
}

/* Reads the regular file name in dirfd (not a link), at most cap bytes. */
static int read_at(int dirfd, const char *name, int64_t cap, char **data, size_t *len) {
  int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return PB_ENOTFOUND;
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return PB_ENOTFOUND;
  }
  if (sb.st_size > cap) {
    close(fd);
    return PB_ETOOBIG;
  }
  size_t want = (size_t)sb.st_size;
  char *buf = malloc(want + 1);
  if (!buf) {
    close(fd);
    return PB_ENOMEM;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  buf[got] = '\0';
  *data = buf;
  *len = got;
  return 0;
}

static int write_at(int dirfd, const char *name, const char *data, size_t len) {
  int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return PB_EIO;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      unlinkat(dirfd, name, 0);
      return PB_EIO;
    }
    off += (size_t)w;
  }
  close(fd);
  return 0;
}

/* Copies the browser's file into ours, reading at most cap bytes: the
 * browser cannot make us copy more than a download may be. */
static int copy_file(int from_dir, int to_dir, const char *name, int64_t cap) {
  int in = openat(from_dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (in < 0) return PB_ENOTFOUND;
  struct stat sb;
  if (fstat(in, &sb) || !S_ISREG(sb.st_mode) || sb.st_size > cap) {
    close(in);
    return PB_ENOTFOUND;
  }
  int out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return PB_EIO;
  }
  char buf[65536];
  int64_t total = 0;
  int rc = 0;
  for (;;) {
    ssize_t r = read(in, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) rc = PB_EIO;
    if (r <= 0) break;
    total += r;
    if (total > cap) {
      rc = PB_ETOOBIG;
      break;
    }
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(out, buf + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        rc = PB_EIO;
        break;
      }
      off += w;
    }
    if (rc) break;
  }
  close(in);
  close(out);
  if (rc) unlinkat(to_dir, name, 0);
  return rc;
}

static cJSON *to_json(const pb_download *d) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "guid", d->guid);
  cJSON_AddStringToObject(o, "name", d->name);
  cJSON_AddStringToObject(o, "url", d->url);
  cJSON_AddNumberToObject(o, "total", (double)d->total);
  cJSON_AddNumberToObject(o, "received", (double)d->received);
  cJSON_AddStringToObject(o, "state", pb_download_state_text(d->state));
  cJSON_AddBoolToObject(o, "overCap", d->over_cap);
  cJSON_AddNumberToObject(o, "began", (double)d->began_wall_ms);
  return o;
}

static void from_json(const cJSON *o, pb_download *d) {
  memset(d, 0, sizeof(*d));
  const char *s;
  if ((s = pb_json_str(o, "guid"))) pb_strlcpy(d->guid, s, sizeof(d->guid));
  if ((s = pb_json_str(o, "name"))) pb_strlcpy(d->name, s, sizeof(d->name));
  if ((s = pb_json_str(o, "url"))) pb_strlcpy(d->url, s, sizeof(d->url));
  d->total = (int64_t)pb_json_num(o, "total", 0);
  d->received = (int64_t)pb_json_num(o, "received", 0);
  s = pb_json_str(o, "state");
  d->state = s && !strcmp(s, "completed") ? PB_DOWNLOAD_COMPLETED : PB_DOWNLOAD_CANCELED;
  d->over_cap = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "overCap"));
  d->began_wall_ms = (int64_t)pb_json_num(o, "began", 0);
}

static void session_dir_name(int64_t account_id, const char *session_id, char *out, size_t cap) {
  snprintf(out, cap, "%lld-%s", (long long)account_id, session_id);
}

int pb_dl_store_keep(pb_dl_store *st, int64_t account_id, const char *session_id,
                     const char *src_dir, const pb_download *list, size_t n, int64_t cap) {
  if (!st || !is_session_id(session_id)) return PB_EINVAL;
  pb_dl_store_sweep(st);
  char name[128];
  session_dir_name(account_id, session_id, name, sizeof(name));
  int top = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) return PB_EIO;
  int dfd = -1, src = -1;
  int rc = mkdirat(top, name, 0700) ? PB_EIO : pb_fsafe_open_dir(top, name, &dfd);
  close(top);
  if (rc) return rc;
  /* "<profile>/downloads/<leaf>": all three the browser's. */
  if (src_dir && *src_dir && pb_fsafe_open_path(src_dir, 3, &src)) src = -1;
  cJSON *arr = cJSON_CreateArray();
  for (size_t i = 0; i < n; i++) {
    pb_download d = list[i];
    if (!is_guid(d.guid)) continue;
    if (d.state == PB_DOWNLOAD_IN_PROGRESS) d.state = PB_DOWNLOAD_CANCELED;
    if (d.state == PB_DOWNLOAD_COMPLETED && (src < 0 || copy_file(src, dfd, d.guid, cap))) {
      PB_WARN("downloads: %s of session %s could not be kept", d.guid, session_id);
      d.state = PB_DOWNLOAD_CANCELED;
    }
    cJSON_AddItemToArray(arr, to_json(&d));
  }
  if (src >= 0) close(src);
  char *text = cJSON_PrintUnformatted(arr);
  cJSON_Delete(arr);
  rc = text ? write_at(dfd, "index.json", text, strlen(text)) : PB_ENOMEM;
  free(text);
  close(dfd);
  return rc;
}

static int open_session(pb_dl_store *st, int64_t account_id, const char *session_id, int *fd) {
  if (!st || !session_id || !is_session_id(session_id)) return PB_ENOTFOUND;
  char name[128];
  session_dir_name(account_id, session_id, name, sizeof(name));
  int top = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) return PB_ENOTFOUND;
  int rc = pb_fsafe_open_dir(top, name, fd);
  close(top);
  return rc ? PB_ENOTFOUND : 0;
}

int pb_dl_store_list(pb_dl_store *st, int64_t account_id, const char *session_id, pb_download **out,
                     size_t *n) {
  *out = NULL;
  *n = 0;
  int dfd;
  int rc = open_session(st, account_id, session_id, &dfd);
  if (rc) return rc;
  char *text = NULL;
  size_t len = 0;
  rc = read_at(dfd, "index.json", (int64_t)INDEX_MAX, &text, &len);
  close(dfd);
  if (rc) return PB_ENOTFOUND;
  cJSON *arr = cJSON_ParseWithLength(text, len);
  free(text);
  int count = cJSON_IsArray(arr) ? cJSON_GetArraySize(arr) : 0;
  if (count > 0) {
    *out = calloc((size_t)count, sizeof(pb_download));
    if (!*out) {
      cJSON_Delete(arr);
      return PB_ENOMEM;
    }
    const cJSON *o;
    cJSON_ArrayForEach(o, arr) from_json(o, &(*out)[(*n)++]);
  }
  cJSON_Delete(arr);
  return 0;
}

int pb_dl_store_read(pb_dl_store *st, int64_t account_id, const char *session_id, const char *guid,
                     int64_t cap, char **data, size_t *len) {
  if (!guid || !is_guid(guid)) return PB_ENOTFOUND;
  int dfd;
  int rc = open_session(st, account_id, session_id, &dfd);
  if (rc) return rc;
  rc = read_at(dfd, guid, cap, data, len);
  close(dfd);
  return rc;
}

int pb_dl_read_live(const char *dir, const char *guid, int64_t cap, char **data, size_t *len) {
  if (!dir || !*dir || !guid || !is_guid(guid)) return PB_ENOTFOUND;
  int dfd;
  if (pb_fsafe_open_path(dir, 3, &dfd)) return PB_ENOTFOUND;
  int rc = read_at(dfd, guid, cap, data, len);
  close(dfd);
  return rc;
}

const char *pb_download_mime(const char *name) {
  static const char *const table[][2] = {
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"json", "application/json"},
      {"csv", "text/csv"},
      {"txt", "text/plain"},
      {"html", "text/html"},
      {"htm", "text/html"},
      {"xml", "application/xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"svg", "image/svg+xml"},
      {"gz", "application/gzip"},
      {"tar", "application/x-tar"},
      {"mp4", "video/mp4"},
      {"mp3", "audio/mpeg"},
      {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
  };
  const char *dot = name ? strrchr(name, '.') : NULL;
  if (dot && dot[1])
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
      if (!strcasecmp(dot + 1, table[i][0])) return table[i][1];
  return "application/octet-stream";
}
