#ifndef PB_SESSIONS_RECORDING_H
#define PB_SESSIONS_RECORDING_H
/* Session recordings: the frames of a session's frame source (screencast.h)
 * written to a file as they arrive, kept PB_RECORDING_KEEP_MS after the
 * session ended, like traces and downloads.
 *
 * On disk, in the store's directory (inside the data dir, never a browser's
 * profile), one directory per recording named "<account>-<session id>" so a
 * lookup can only reach the asking account's own:
 *   frames.bin   the JPEGs, one after the other
 *   index.jsonl  a line per frame: {"o","n","ms","w","h","url","tab"}
 *                (offset and length in frames.bin, wall ms, the viewport's
 *                CSS size, the page's URL and targetId), written after the
 *                frame's bytes, so every line names bytes that are there
 *   meta.json    written when the recording ends: times, counts, whether
 *                and why it was cut
 *
 * Bounded: at most PB_RECORDING_FPS frames a second are stored (the newest
 * of each interval; a still page sends none), a recording stops storing
 * past its byte cap or the account's quota (its meta then says truncated,
 * and why), and between the CDP reader and the disk there is one frame.
 *
 * Threads: frames are copied on the CDP reader thread and written by a
 * writer thread of each recording. The store's calls are thread-safe. */
#include "sessions/session.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#define PB_RECORDING_KEEP_MS (24LL * 3600 * 1000)
/* One recording's bytes (frames and index). */
#define PB_RECORDING_CAP_BYTES ((int64_t)100 << 20)
/* Frames stored per second, at most. */
#define PB_RECORDING_FPS 10
/* Frames in one recording, at most (an hour at full rate). */
#define PB_RECORDING_MAX_FRAMES 36000
/* A recording starts only with this much of the account's quota free. */
#define PB_RECORDING_MIN_ROOM ((int64_t)1 << 20)

typedef struct pb_rec_store pb_rec_store;
typedef struct pb_recording pb_recording;

/* Opens the store in dir (copied), creating it (0700) when missing, and
 * sweeps it. PB_EINVAL when dir is NULL or too long; PB_ENOMEM. */
int pb_rec_store_open(const char *dir, pb_rec_store **out);
/* After every recording finished. NULL is a no-op. Files stay. */
void pb_rec_store_close(pb_rec_store *st);
/* Deletes the recordings that ended more than PB_RECORDING_KEEP_MS ago (and
 * the leftovers of a crashed run as old). */
void pb_rec_store_sweep(pb_rec_store *st);
/* The bytes the account's recordings take, kept and being written. */
int64_t pb_rec_store_used(pb_rec_store *st, int64_t account_id);

/* Starts recording s's frames until pb_recording_finish, for account_id
 * under session_id (copied); cap_bytes bounds this recording (<= 0:
 * PB_RECORDING_CAP_BYTES), quota_bytes all the account's. PB_ETOOBIG when
 * less than PB_RECORDING_MIN_ROOM of quota_bytes is free; PB_ENOTFOUND when s
 * has no frame source; PB_EINVAL on a bad id; PB_EIO when its files cannot
 * be made. */
int pb_recording_start(pb_rec_store *st, pb_session *s, int64_t account_id, const char *session_id,
                       int64_t cap_bytes, int64_t quota_bytes, pb_recording **out);
/* Ends it: no more frames, the last one waiting is written, then meta.json;
 * frees r. Blocks for the writer (a disk write). NULL is a no-op. */
void pb_recording_finish(pb_recording *r);

/* ---- reading (any thread) ---- */

/* The recording of the account's session as JSON (caller deletes):
 * {"sessionId","complete","startMs","endMs","frames":[{"n","offset",
 * "length","ms","url","width","height","targetId"}],"navigations":[{"frame",
 * "ms","url"}],"bytes","truncated","truncatedReason"}. A recording still
 * being written answers what is there (complete false). PB_ENOTFOUND when
 * the account has none for that id (or the id is not a session id);
 * PB_ENOMEM. */
int pb_rec_index(pb_rec_store *st, int64_t account_id, const char *session_id, cJSON **out);
/* Frame n's JPEG (*jpeg malloc'd, caller frees). PB_ENOTFOUND as above;
 * PB_EINVAL when there is no frame n. */
int pb_rec_frame(pb_rec_store *st, int64_t account_id, const char *session_id, long n, char **jpeg,
                 size_t *len);
/* The recording as a zip (*zip malloc'd, caller frees): frame-00001.jpg ...
 * and index.json (pb_rec_index's, with each frame's file name). PB_ENOTFOUND
 * as above; PB_ENOMEM; PB_EIO. */
int pb_rec_zip(pb_rec_store *st, int64_t account_id, const char *session_id, char **zip,
               size_t *len);

#endif
