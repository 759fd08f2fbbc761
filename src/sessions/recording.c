/* Session recordings (recording.h). The CDP reader thread only copies the
 * newest frame into r->pending; the writer thread paces the writes
 * (PB_RECORDING_FPS), appends the frame to frames.bin and its line to
 * index.jsonl, and checks the caps. The store keeps the recordings being
 * written, so the account's quota counts their bytes as they grow. Lock
 * order: st->mu, then r->mu. */
#include "sessions/recording.h"

#include "common/json.h"
#include "common/pb.h"
#include "sessions/screencast.h"
#include "trace/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define INDEX_MAX ((size_t)32 << 20)
#define URL_MAX 2048
/* A recording's directory and a file in it, with room to spare. */
#define DIR_CAP (PATH_MAX + 320)
#define FILE_CAP (DIR_CAP + 32)

struct pb_rec_store {
  char dir[PATH_MAX];
  pthread_mutex_t mu;
  pb_recording *live; /* being written */
};

typedef struct {
  unsigned char *jpeg;
  size_t len;
  int64_t ms;
  int w, h;
  char url[URL_MAX];
  char tab[64];
} frame;

struct pb_recording {
  pb_rec_store *st;
  int64_t account_id;
  char sid[PB_SESSION_ID_LEN + 1];
  char dir[DIR_CAP];
  int64_t cap, quota;
  int64_t base; /* the account's kept bytes when it started (other than the live) */
  atomic_llong bytes;
  pb_screencast_sub *sub;
  pthread_t writer;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  frame pending; /* newest frame not yet written; .jpeg NULL: none */
  int stop;
  /* writer only */
  int fd_frames, fd_index;
  int64_t off, nframes, start_ms, end_ms, dropped;
  const char *cut; /* why it stopped storing; NULL: it did not */
  struct pb_recording *next;
};

static int is_session_id(const char *id) {
  return id && strlen(id) == PB_SESSION_ID_LEN &&
         strspn(id, "0123456789abcdef") == PB_SESSION_ID_LEN;
}

static void dir_of(const pb_rec_store *st, int64_t account_id, const char *sid, char *out,
                   size_t cap) {
  snprintf(out, cap, "%s/%lld-%s", st->dir, (long long)account_id, sid);
}

int pb_rec_store_open(const char *dir, pb_rec_store **out) {
  if (!dir || !out || strlen(dir) >= PATH_MAX - 128) return PB_EINVAL;
  pb_rec_store *st = calloc(1, sizeof(*st));
  if (!st) return PB_ENOMEM;
  pb_strlcpy(st->dir, dir, sizeof(st->dir));
  pthread_mutex_init(&st->mu, NULL);
  if (mkdir(st->dir, 0700) && errno != EEXIST)
    PB_WARN("recordings: cannot create %s: %s", st->dir, strerror(errno));
  pb_rec_store_sweep(st);
  *out = st;
  return 0;
}

void pb_rec_store_close(pb_rec_store *st) {
  if (!st) return;
  pthread_mutex_destroy(&st->mu);
  free(st);
}

/* Removes a recording's directory: its three files, nothing else follows. */
static void remove_dir(const char *dir) {
  static const char *const files[] = {"frames.bin", "index.jsonl", "meta.json"};
  char p[FILE_CAP];
  for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
    unlink(p);
  }
  rmdir(dir);
}

static int live_locked(pb_rec_store *st, const char *name) {
  char want[128];
  for (pb_recording *r = st->live; r; r = r->next) {
    snprintf(want, sizeof(want), "%lld-%s", (long long)r->account_id, r->sid);
    if (!strcmp(want, name)) return 1;
  }
  return 0;
}

void pb_rec_store_sweep(pb_rec_store *st) {
  if (!st) return;
  pthread_mutex_lock(&st->mu);
  DIR *d = opendir(st->dir);
  struct dirent *e;
  time_t now = time(NULL);
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.' || live_locked(st, e->d_name)) continue;
    char dir[DIR_CAP], p[FILE_CAP];
    snprintf(dir, sizeof(dir), "%s/%s", st->dir, e->d_name);
    struct stat sb;
    /* Ended: meta.json's time; a crashed run's leftover: its index's. */
    snprintf(p, sizeof(p), "%s/meta.json", dir);
    if (lstat(p, &sb)) snprintf(p, sizeof(p), "%s/index.jsonl", dir);
    if ((lstat(p, &sb) || (now - sb.st_mtime) * 1000LL > PB_RECORDING_KEEP_MS) &&
        !lstat(dir, &sb) && S_ISDIR(sb.st_mode) && (now - sb.st_mtime) * 1000LL > 60000)
      remove_dir(dir);
  }
  if (d) closedir(d);
  pthread_mutex_unlock(&st->mu);
}

static int64_t file_size(const char *dir, const char *name) {
  char p[FILE_CAP];
  struct stat sb;
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) ? (int64_t)sb.st_size : 0;
}

/* The account's kept recordings on disk, less the live ones (st->mu held). */
static int64_t kept_locked(pb_rec_store *st, int64_t account_id) {
  char prefix[32];
  int plen = snprintf(prefix, sizeof(prefix), "%lld-", (long long)account_id);
  int64_t total = 0;
  DIR *d = opendir(st->dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (strncmp(e->d_name, prefix, (size_t)plen) || !is_session_id(e->d_name + plen) ||
        live_locked(st, e->d_name))
      continue;
    char dir[DIR_CAP];
    snprintf(dir, sizeof(dir), "%s/%s", st->dir, e->d_name);
    total += file_size(dir, "frames.bin") + file_size(dir, "index.jsonl");
  }
  if (d) closedir(d);
  return total;
}

static int64_t live_bytes_locked(pb_rec_store *st, int64_t account_id) {
  int64_t n = 0;
  for (pb_recording *r = st->live; r; r = r->next)
    if (r->account_id == account_id) n += atomic_load(&r->bytes);
  return n;
}

int64_t pb_rec_store_used(pb_rec_store *st, int64_t account_id) {
  if (!st) return 0;
  pthread_mutex_lock(&st->mu);
  int64_t n = kept_locked(st, account_id) + live_bytes_locked(st, account_id);
  pthread_mutex_unlock(&st->mu);
  return n;
}

/* ---- writing ---- */

static int write_all(int fd, const void *p, size_t len) {
  const char *c = p;
  while (len) {
    ssize_t w = write(fd, c, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return PB_EIO;
    c += w;
    len -= (size_t)w;
  }
  return 0;
}

/* CDP reader thread: keeps a copy of the newest frame for the writer. */
static void on_frame(const pb_screencast_frame *f, void *data) {
  pb_recording *r = data;
  unsigned char *copy = malloc(f->len ? f->len : 1);
  if (!copy) return;
  memcpy(copy, f->jpeg, f->len);
  pthread_mutex_lock(&r->mu);
  if (r->pending.jpeg) r->dropped++;
  free(r->pending.jpeg);
  r->pending.jpeg = copy;
  r->pending.len = f->len;
  r->pending.ms = f->wall_ms;
  r->pending.w = f->width;
  r->pending.h = f->height;
  pb_strlcpy(r->pending.url, f->url ? f->url : "", sizeof(r->pending.url));
  pb_strlcpy(r->pending.tab, f->target_id ? f->target_id : "", sizeof(r->pending.tab));
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

/* Writer: one frame to the files, within the caps. */
static void store_frame(pb_recording *r, frame *f) {
  if (r->cut) return;
  cJSON *line = cJSON_CreateObject();
  cJSON_AddNumberToObject(line, "o", (double)r->off);
  cJSON_AddNumberToObject(line, "n", (double)f->len);
  cJSON_AddNumberToObject(line, "ms", (double)f->ms);
  cJSON_AddNumberToObject(line, "w", f->w);
  cJSON_AddNumberToObject(line, "h", f->h);
  cJSON_AddStringToObject(line, "url", f->url);
  cJSON_AddStringToObject(line, "tab", f->tab);
  char *text = cJSON_PrintUnformatted(line);
  cJSON_Delete(line);
  if (!text) return;
  size_t tlen = strlen(text);
  text[tlen++] = '\n'; /* over the NUL: written by length */
  int64_t cost = (int64_t)(f->len + tlen);
  int64_t now_bytes = atomic_load(&r->bytes);
  pthread_mutex_lock(&r->st->mu);
  int64_t account = r->base + live_bytes_locked(r->st, r->account_id);
  pthread_mutex_unlock(&r->st->mu);
  if (r->nframes >= PB_RECORDING_MAX_FRAMES)
    r->cut = "frame count cap";
  else if (now_bytes + cost > r->cap)
    r->cut = "size cap";
  else if (account + cost > r->quota)
    r->cut = "account quota (recordingStorageMiB)";
  else if (write_all(r->fd_frames, f->jpeg, f->len) || write_all(r->fd_index, text, tlen))
    r->cut = "write error";
  free(text);
  if (r->cut) {
    PB_WARN("recordings: %s stops storing frames: %s", r->sid, r->cut);
    return;
  }
  if (!r->nframes) r->start_ms = f->ms;
  r->end_ms = f->ms;
  r->off += (int64_t)f->len;
  r->nframes++;
  atomic_fetch_add(&r->bytes, cost);
}

static void *writer_main(void *arg) {
  pb_recording *r = arg;
  const int64_t interval = 1000 / PB_RECORDING_FPS;
  int64_t last = 0;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    if (!r->pending.jpeg) {
      if (r->stop) break;
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    /* The newest frame of each interval: wait out the interval, meanwhile
     * later frames replace the pending one. */
    int64_t due = last + interval, now = pb_now_ms();
    if (!r->stop && now < due) {
      struct timespec ts;
      ts.tv_sec = due / 1000;
      ts.tv_nsec = (due % 1000) * 1000000;
      pthread_cond_timedwait(&r->cv, &r->mu, &ts);
      continue;
    }
    frame f = r->pending;
    r->pending.jpeg = NULL;
    pthread_mutex_unlock(&r->mu);
    store_frame(r, &f);
    free(f.jpeg);
    last = pb_now_ms();
    pthread_mutex_lock(&r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

static int open_in(const char *dir, const char *name, int flags) {
  char p[FILE_CAP];
  snprintf(p, sizeof(p), "%s/%s", dir, name);
  return open(p, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int pb_recording_start(pb_rec_store *st, pb_session *s, int64_t account_id, const char *session_id,
                       int64_t cap_bytes, int64_t quota_bytes, pb_recording **out) {
  *out = NULL;
  if (!st || !is_session_id(session_id)) return PB_EINVAL;
  pb_recording *r = calloc(1, sizeof(*r));
  if (!r) return PB_ENOMEM;
  r->st = st;
  r->account_id = account_id;
  pb_strlcpy(r->sid, session_id, sizeof(r->sid));
  r->cap = cap_bytes > 0 ? cap_bytes : PB_RECORDING_CAP_BYTES;
  r->quota = quota_bytes;
  r->fd_frames = r->fd_index = -1;
  atomic_init(&r->bytes, 0);
  pthread_mutex_init(&r->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&r->cv, &ca);
  pthread_condattr_destroy(&ca);
  dir_of(st, account_id, session_id, r->dir, sizeof(r->dir));
  pb_rec_store_sweep(st);

  pthread_mutex_lock(&st->mu);
  r->base = kept_locked(st, account_id);
  int rc = r->base + live_bytes_locked(st, account_id) + PB_RECORDING_MIN_ROOM > quota_bytes
               ? PB_ETOOBIG
               : 0;
  if (!rc && mkdir(r->dir, 0700)) rc = PB_EIO; /* a fresh session id: never there */
  if (!rc) {
    r->fd_frames = open_in(r->dir, "frames.bin", O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
    r->fd_index = open_in(r->dir, "index.jsonl", O_WRONLY | O_CREAT | O_EXCL | O_APPEND);
    if (r->fd_frames < 0 || r->fd_index < 0) rc = PB_EIO;
  }
  if (!rc && pthread_create(&r->writer, NULL, writer_main, r)) rc = PB_EIO;
  if (!rc) {
    r->next = st->live;
    st->live = r;
  }
  pthread_mutex_unlock(&st->mu);
  if (!rc) {
    rc = pb_screencast_subscribe(s, on_frame, r, &r->sub);
    if (rc) {
      pthread_mutex_lock(&r->mu);
      r->stop = 1;
      pthread_cond_signal(&r->cv);
      pthread_mutex_unlock(&r->mu);
      pthread_join(r->writer, NULL);
      pthread_mutex_lock(&st->mu);
      for (pb_recording **pp = &st->live; *pp; pp = &(*pp)->next)
        if (*pp == r) {
          *pp = r->next;
          break;
        }
      pthread_mutex_unlock(&st->mu);
    }
  }
  if (rc) {
    if (r->fd_frames >= 0) close(r->fd_frames);
    if (r->fd_index >= 0) close(r->fd_index);
    if (rc != PB_ETOOBIG) remove_dir(r->dir);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return rc;
  }
  *out = r;
  return 0;
}

void pb_recording_finish(pb_recording *r) {
  if (!r) return;
  pb_screencast_unsubscribe(r->sub); /* no frame comes after this */
  pthread_mutex_lock(&r->mu);
  r->stop = 1;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  pthread_join(r->writer, NULL);
  close(r->fd_frames);
  close(r->fd_index);
  cJSON *m = cJSON_CreateObject();
  cJSON_AddStringToObject(m, "sessionId", r->sid);
  cJSON_AddNumberToObject(m, "startMs", (double)r->start_ms);
  cJSON_AddNumberToObject(m, "endMs", (double)(r->end_ms > 0 ? r->end_ms : pb_wall_ms()));
  cJSON_AddNumberToObject(m, "endedMs", (double)pb_wall_ms());
  cJSON_AddNumberToObject(m, "frames", (double)r->nframes);
  cJSON_AddNumberToObject(m, "bytes", (double)atomic_load(&r->bytes));
  cJSON_AddBoolToObject(m, "truncated", r->cut != NULL);
  if (r->cut) cJSON_AddStringToObject(m, "truncatedReason", r->cut);
  char *text = cJSON_PrintUnformatted(m);
  cJSON_Delete(m);
  int fd = open_in(r->dir, "meta.json", O_WRONLY | O_CREAT | O_TRUNC);
  if (fd < 0 || !text || write_all(fd, text, strlen(text)))
    PB_WARN("recordings: could not end the recording of %s", r->sid);
  if (fd >= 0) close(fd);
  free(text);
  PB_INFO("recordings: %s kept %lld frame(s), %lld bytes%s%s", r->sid, (long long)r->nframes,
          (long long)atomic_load(&r->bytes), r->cut ? "; cut: " : "", r->cut ? r->cut : "");
  pthread_mutex_lock(&r->st->mu);
  for (pb_recording **pp = &r->st->live; *pp; pp = &(*pp)->next)
    if (*pp == r) {
      *pp = r->next;
      break;
    }
  pthread_mutex_unlock(&r->st->mu);
  free(r->pending.jpeg);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  free(r);
}

/* ---- reading ---- */

/* The whole of a small regular file, not following links (*out malloc'd,
 * NUL-terminated). PB_ENOTFOUND; PB_ETOOBIG past cap. */
static int read_small(const char *dir, const char *name, size_t cap, char **out, size_t *len) {
  int fd = open_in(dir, name, O_RDONLY);
  if (fd < 0) return PB_ENOTFOUND;
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return PB_ENOTFOUND;
  }
  if ((size_t)sb.st_size > cap) {
    close(fd);
    return PB_ETOOBIG;
  }
  char *b = malloc((size_t)sb.st_size + 1);
  size_t got = 0;
  while (b && got < (size_t)sb.st_size) {
    ssize_t n = read(fd, b + got, (size_t)sb.st_size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (!b) return PB_ENOMEM;
  b[got] = '\0';
  *out = b;
  if (len) *len = got;
  return 0;
}

/* The recording's directory, if the account has it. */
static int find(pb_rec_store *st, int64_t account_id, const char *sid, char *dir, size_t cap) {
  if (!st || !is_session_id(sid)) return PB_ENOTFOUND;
  dir_of(st, account_id, sid, dir, cap);
  struct stat sb;
  if (lstat(dir, &sb) || !S_ISDIR(sb.st_mode)) return PB_ENOTFOUND;
  return 0;
}

int pb_rec_index(pb_rec_store *st, int64_t account_id, const char *session_id, cJSON **out) {
  char dir[DIR_CAP];
  *out = NULL;
  int rc = find(st, account_id, session_id, dir, sizeof(dir));
  char *idx = NULL, *meta_text = NULL;
  if (!rc) rc = read_small(dir, "index.jsonl", INDEX_MAX, &idx, NULL);
  if (rc) return rc == PB_ETOOBIG ? PB_ENOMEM : PB_ENOTFOUND;
  cJSON *meta = NULL;
  if (!read_small(dir, "meta.json", 65536, &meta_text, NULL)) meta = cJSON_Parse(meta_text);
  free(meta_text);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "sessionId", session_id);
  cJSON_AddBoolToObject(o, "complete", meta != NULL);
  cJSON *frames = cJSON_CreateArray(), *navs = cJSON_CreateArray();
  long n = 0;
  int64_t bytes = 0, first = 0, last = 0;
  const char *prev_url = NULL;
  /* Only whole lines: the writer may be adding one. */
  for (char *p = idx, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
    *nl = '\0';
    cJSON *l = cJSON_Parse(p);
    const char *url = pb_json_str(l, "url"), *tab = pb_json_str(l, "tab");
    if (!l || !url) {
      cJSON_Delete(l);
      continue;
    }
    int64_t ms = (int64_t)pb_json_num(l, "ms", 0);
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "n", (double)n);
    cJSON_AddNumberToObject(f, "offset", pb_json_num(l, "o", 0));
    cJSON_AddNumberToObject(f, "length", pb_json_num(l, "n", 0));
    cJSON_AddNumberToObject(f, "ms", (double)ms);
    cJSON_AddStringToObject(f, "url", url);
    cJSON_AddNumberToObject(f, "width", pb_json_num(l, "w", 0));
    cJSON_AddNumberToObject(f, "height", pb_json_num(l, "h", 0));
    cJSON_AddStringToObject(f, "targetId", tab ? tab : "");
    cJSON_AddItemToArray(frames, f);
    bytes += (int64_t)pb_json_num(l, "n", 0) + (int64_t)strlen(p) + 1;
    if (!prev_url || strcmp(prev_url, url)) {
      cJSON *nav = cJSON_CreateObject();
      cJSON_AddNumberToObject(nav, "frame", (double)n);
      cJSON_AddNumberToObject(nav, "ms", (double)ms);
      cJSON_AddStringToObject(nav, "url", url);
      cJSON_AddItemToArray(navs, nav);
    }
    prev_url = pb_json_str(f, "url");
    if (!n) first = ms;
    last = ms;
    n++;
    cJSON_Delete(l);
  }
  free(idx);
  cJSON_AddNumberToObject(o, "startMs",
                          meta ? pb_json_num(meta, "startMs", (double)first) : (double)first);
  cJSON_AddNumberToObject(o, "endMs",
                          meta ? pb_json_num(meta, "endMs", (double)last) : (double)last);
  cJSON_AddNumberToObject(o, "frameCount", (double)n);
  cJSON_AddNumberToObject(o, "bytes", (double)bytes);
  const cJSON *tr = cJSON_GetObjectItemCaseSensitive(meta, "truncated");
  cJSON_AddBoolToObject(o, "truncated", cJSON_IsTrue(tr));
  const char *why = pb_json_str(meta, "truncatedReason");
  if (why) cJSON_AddStringToObject(o, "truncatedReason", why);
  cJSON_AddItemToObject(o, "frames", frames);
  cJSON_AddItemToObject(o, "navigations", navs);
  cJSON_Delete(meta);
  *out = o;
  return 0;
}

/* Reads len bytes at off of the recording's frames.bin. */
static int read_at(const char *dir, int64_t off, size_t len, char **out) {
  int fd = open_in(dir, "frames.bin", O_RDONLY);
  if (fd < 0) return PB_ENOTFOUND;
  char *b = malloc(len ? len : 1);
  size_t got = 0;
  while (b && got < len) {
    ssize_t n = pread(fd, b + got, len - got, (off_t)(off + (int64_t)got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fd);
  if (!b) return PB_ENOMEM;
  if (got != len) {
    free(b);
    return PB_EIO;
  }
  *out = b;
  return 0;
}

/* Frame f's offset and length from its index entry, checked. */
static int frame_span(const cJSON *f, int64_t *off, size_t *len) {
  double o = pb_json_num(f, "offset", -1), n = pb_json_num(f, "length", -1);
  if (o < 0 || n <= 0 || n > (double)PB_SCREENCAST_FRAME_MAX) return PB_EIO;
  *off = (int64_t)o;
  *len = (size_t)n;
  return 0;
}

int pb_rec_frame(pb_rec_store *st, int64_t account_id, const char *session_id, long n, char **jpeg,
                 size_t *len) {
  char dir[DIR_CAP];
  int rc = find(st, account_id, session_id, dir, sizeof(dir));
  char *idx = NULL;
  if (!rc) rc = read_small(dir, "index.jsonl", INDEX_MAX, &idx, NULL);
  if (rc) return rc == PB_ETOOBIG ? PB_ENOMEM : PB_ENOTFOUND;
  /* Line n alone is parsed: a player asks for every frame in turn. */
  char *line = idx, *nl = NULL;
  for (long i = 0; n >= 0 && line && (nl = strchr(line, '\n')); i++, line = nl + 1)
    if (i == n) break;
  cJSON *l = NULL;
  if (n >= 0 && line && nl) {
    *nl = '\0';
    l = cJSON_Parse(line);
  }
  free(idx);
  if (!l) return PB_EINVAL;
  double o = pb_json_num(l, "o", -1), flen = pb_json_num(l, "n", -1);
  cJSON_Delete(l);
  if (o < 0 || flen <= 0 || flen > (double)PB_SCREENCAST_FRAME_MAX) return PB_EIO;
  *len = (size_t)flen;
  return read_at(dir, (int64_t)o, *len, jpeg);
}

int pb_rec_zip(pb_rec_store *st, int64_t account_id, const char *session_id, char **zip,
               size_t *len) {
  cJSON *idx = NULL;
  int rc = pb_rec_index(st, account_id, session_id, &idx);
  if (rc) return rc;
  cJSON *frames = cJSON_GetObjectItemCaseSensitive(idx, "frames");
  size_t n = (size_t)cJSON_GetArraySize(frames);
  pb_zip_file *files = calloc(n + 1, sizeof(*files));
  if (!files) {
    cJSON_Delete(idx);
    return PB_ENOMEM;
  }
  char dir[DIR_CAP];
  dir_of(st, account_id, session_id, dir, sizeof(dir));
  int fd = open_in(dir, "frames.bin", O_RDONLY);
  size_t i = 0;
  cJSON *f;
  cJSON_ArrayForEach(f, frames) {
    char name[32];
    int64_t off;
    size_t flen;
    snprintf(name, sizeof(name), "frame-%05zu.jpg", i + 1);
    cJSON_AddStringToObject(f, "file", name);
    files[i].name = strdup(name);
    files[i].store = 1;
    if (!files[i].name || fd < 0 || frame_span(f, &off, &flen)) {
      rc = files[i].name ? PB_EIO : PB_ENOMEM;
      i++;
      break;
    }
    files[i].data = malloc(flen);
    files[i].len = flen;
    if (!files[i].data) {
      rc = PB_ENOMEM;
      i++;
      break;
    }
    if (pread(fd, files[i].data, flen, (off_t)off) != (ssize_t)flen) {
      rc = PB_EIO;
      i++;
      break;
    }
    i++;
  }
  if (fd >= 0) close(fd);
  if (!rc) {
    char *text = cJSON_Print(idx);
    files[i].name = strdup("index.json");
    files[i].data = (unsigned char *)text;
    files[i].len = text ? strlen(text) : 0;
    i++;
    if (!text || !files[i - 1].name) rc = PB_ENOMEM;
  }
  cJSON_Delete(idx);
  if (!rc) {
    rc = pb_zip_files(files, i, zip, len); /* takes every name and data */
  } else {
    for (size_t k = 0; k < i; k++) free(files[k].name), free(files[k].data);
  }
  free(files);
  return rc;
}
