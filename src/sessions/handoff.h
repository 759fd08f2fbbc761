#ifndef PB_SESSIONS_HANDOFF_H
#define PB_SESSIONS_HANDOFF_H
/* Handoffs: an agent hands one of its sessions to a person (through an
 * interactive live view link, sessions/livelinks.h) and waits for it back.
 * One handoff per session at a time; a session keeps its last one (ended or
 * not) until it is torn down, when pb_handoff_take hands it to the history
 * row. A waiting handoff whose deadline passed reads as ended by "timeout".
 * Process-wide table (one node: handoffs die with the process, as the
 * sessions do); thread-safe; no I/O. */
#include <stdint.h>

#define PB_HANDOFF_ID_LEN 16 /* hex chars */
#define PB_HANDOFF_MESSAGE_MAX 1024
#define PB_HANDOFF_MAX 4096 /* sessions with a handoff, at once */
#define PB_HANDOFF_TIMEOUT_DEFAULT_MS (10 * 60 * 1000LL)
#define PB_HANDOFF_TIMEOUT_MAX_MS (60 * 60 * 1000LL)

typedef enum {
  PB_HANDOFF_WAITING = 0,
  PB_HANDOFF_COMPLETED = 1,
  PB_HANDOFF_TIMEOUT = 2,
} pb_handoff_state;

typedef enum {
  PB_HANDOFF_BY_NONE = 0,
  PB_HANDOFF_BY_PERSON = 1,
  PB_HANDOFF_BY_AGENT = 2,
  PB_HANDOFF_BY_TIMEOUT = 3,
} pb_handoff_by;

typedef struct {
  char id[PB_HANDOFF_ID_LEN + 1];
  char session_id[64];
  int64_t account_id;
  char message[PB_HANDOFF_MESSAGE_MAX];
  char link_id[32]; /* the live view link made for it */
  pb_handoff_state state;
  pb_handoff_by ended_by;
  int64_t created_wall_ms, deadline_wall_ms, ended_wall_ms;
  unsigned version; /* process-wide, bumped at every change */
} pb_handoff;

const char *pb_handoff_state_text(pb_handoff_state st);
const char *pb_handoff_by_text(pb_handoff_by by); /* NULL for NONE */

/* Starts a handoff of session_id of account_id for timeout_ms (<= 0: the
 * default; capped at PB_HANDOFF_TIMEOUT_MAX_MS) with message (may be NULL;
 * cut at PB_HANDOFF_MESSAGE_MAX - 1 bytes on a UTF-8 boundary) and the live
 * link link_id. *out the new handoff. PB_EEXIST (*out the waiting one) when
 * one waits already; PB_EBUSY when the table is full. */
int pb_handoff_start(const char *session_id, int64_t account_id, const char *message,
                     int64_t timeout_ms, const char *link_id, pb_handoff *out);

/* The session's handoff (its last one): 0 and *out, or PB_ENOTFOUND. */
int pb_handoff_get(const char *session_id, int64_t account_id, pb_handoff *out);

/* Ends the session's waiting handoff, by by (PERSON or AGENT): 0 and *out,
 * PB_ENOTFOUND when there is none, PB_EEXIST (*out) when it has ended
 * already. */
int pb_handoff_end(const char *session_id, int64_t account_id, pb_handoff_by by, pb_handoff *out);

/* Removes the session's handoff: 0 and *out (its last state), or
 * PB_ENOTFOUND. At teardown. */
int pb_handoff_take(const char *session_id, pb_handoff *out);

/* The table's version: it changes whenever a handoff does (a timeout
 * counts once it has been read). */
unsigned pb_handoff_version(void);

#endif
