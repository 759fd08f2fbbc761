#ifndef PB_SESSIONS_SESSION_H
#define PB_SESSIONS_SESSION_H
/* Acquired sessions: a dedicated browser per session, taken from the pool's
 * warm spares and never given to anyone else, driven by one CDP client at a
 * time through the proxy, kept until released, idle past keep_alive, or
 * crashed. Closed sessions go to the history in the store. */
#include "cdp/proxy.h"
#include "core/store.h"
#include "sessions/contexts.h"
#include "sessions/pool.h"
#include "trace/store.h"

#include <stdint.h>

typedef struct pb_sessions pb_sessions;
typedef struct pb_session pb_session;

#define PB_SESSION_ID_LEN 32 /* hex chars: 128 random bits */
#define PB_KEEP_ALIVE_DEFAULT_MS 60000

typedef struct {
  pb_pool *pool;                 /* spares come from here; borrowed */
  pb_store *store;               /* history and usage; borrowed */
  pb_policy_url_check url_check; /* navigation checks in the proxy */
  void *url_check_data;
  /* Called once an acquired browser belongs to account_id, with its
   * pb_browser_net id; may be NULL. The browser is never shared after that,
   * and its net id dies with it. */
  void (*net_owner)(void *data, int net_id, int64_t account_id);
  void *net_owner_data;
  void (*wake)(void *data); /* wakes the I/O thread (any thread may call) */
  void *wake_data;
  /* Keeps the zip of a traced session, under the session's id, when it
   * closes; borrowed; NULL: traces are not kept. */
  pb_trace_store *traces;
  /* Keeps a session's downloads when it closes (24 h, per account);
   * borrowed; NULL: they go with the profile. */
  struct pb_dl_store *downloads;
  int max_pages;              /* live pages per session; 0: PB_PROXY_MAX_PAGES */
  int64_t download_max_bytes; /* one download's size cap; 0: PB_DOWNLOAD_MAX_BYTES */
  pb_contexts *contexts;      /* persistent contexts; borrowed; NULL: none */
  /* Keeps recorded sessions' frames (sessions/recording.h); borrowed;
   * NULL: sessions cannot be recorded. */
  struct pb_rec_store *recordings;
  /* Cluster mode (core/fleet.h; borrowed; NULL: one node): a session's
   * history row is opened only while the account has fewer than its
   * maximum of open sessions across all nodes (counted and inserted in one
   * locked transaction); past it the acquisition fails PB_EBUSY. */
  struct pb_fleet *fleet;
} pb_sessions_opts;

int pb_sessions_start(const pb_sessions_opts *o, pb_sessions **out);

/* Starts a session for the account; with trace, every CDP message of the
 * session is recorded and the zip kept in traces when it closes. PB_EBUSY when the account
 * already has max_concurrent live sessions; PB_ETIMEOUT when no spare browser came ready by
 * deadline_ms. id_out receives the session id. */
int pb_sessions_acquire(pb_sessions *ss, int64_t account_id, int64_t keep_alive_ms,
                        int max_concurrent, int trace, int64_t deadline_ms,
                        char id_out[PB_SESSION_ID_LEN + 1]);

/* pb_sessions_acquire on a persistent context of the account (context_id
 * NULL: none, as pb_sessions_acquire): the browser is a fresh one whose
 * profile starts as the context's stored state, and with persist that state
 * is saved back when the session ends, however it ends (a crash keeps the
 * last good state). Also PB_ENOTFOUND when the context is not the
 * account's, PB_EEXIST when another session holds it. */
int pb_sessions_acquire_context(pb_sessions *ss, int64_t account_id, int64_t keep_alive_ms,
                                int max_concurrent, int trace, const char *context_id,
                                int persist, int64_t deadline_ms,
                                char id_out[PB_SESSION_ID_LEN + 1]);

/* The live session with that id if it belongs to account_id (a reference
 * the caller drops with pb_session_unref), else NULL: another account's
 * session is indistinguishable from none. */
pb_session *pb_sessions_get(pb_sessions *ss, const char *id, int64_t account_id);
void pb_session_unref(pb_session *s);

/* Ends a session with a close reason ("Released", "NormalClosure", ...).
 * PB_ENOTFOUND if it is not the account's live session. */
int pb_sessions_release(pb_sessions *ss, const char *id, int64_t account_id, const char *reason,
                        const char *reason_text);

typedef struct {
  char id[PB_SESSION_ID_LEN + 1];
  int64_t start_wall_ms;
  int64_t last_activity_wall_ms;
  int64_t keep_alive_ms;
  int connected;
  char connection_id[17];
  int64_t connection_start_wall_ms;
} pb_session_info;

/* The account's live sessions; *out is malloc'd (caller frees). */
int pb_sessions_list(pb_sessions *ss, int64_t account_id, pb_session_info **out, size_t *n);
int pb_sessions_count(pb_sessions *ss, int64_t account_id);
/* Live sessions of every account by state, for /metrics: a CDP client
 * connected, none (kept alive), or ended and being torn down. */
void pb_sessions_states(pb_sessions *ss, int *connected, int *idle, int *ending);

/* ---- the client connection (I/O thread) ---- */

/* Binds a client connection. PB_EBUSY when another client is connected. */
int pb_session_attach(pb_session *s, void *conn);
void pb_session_detach(pb_session *s, void *conn);
/* A complete client message (a malloc'd buffer the session now owns), handed
 * to the proxy's own thread (I/O thread). Returns 1 when the caller should
 * stop reading the client until pb_session_inbound_full says 0; a connected
 * client is woken when that changes. */
int pb_session_submit(pb_session *s, char *data, size_t len);
int pb_session_inbound_full(pb_session *s);
/* Next message for the client, or NULL (caller frees). */
char *pb_session_next_out(pb_session *s, size_t *len);
/* Non-zero once the session ended: the WebSocket close code to send (1000
 * normal, 1011 crashed) and a reason text. */
int pb_session_ended(pb_session *s, const char **reason);
/* Calls fn for every session with a connected client (I/O thread). */
void pb_sessions_each_conn(pb_sessions *ss, void (*fn)(void *conn, void *data), void *data);
const char *pb_session_id(pb_session *s);

/* ---- quick actions in a session's browser (job threads) ---- */

/* Opens a new tab in the session's browser (its cookies and storage), ready
 * like a pool page. Close it with pb_session_page_close(). */
int pb_session_page_open(pb_session *s, int64_t deadline_ms, pb_page **out);
void pb_session_page_close(pb_session *s, pb_page *pg);

/* ---- files in and out ---- */

/* The session's upload area (sessions/uploads.h), NULL when it has none;
 * borrowed while the caller holds its reference. */
struct pb_uploads *pb_session_uploads(pb_session *s);
/* A copy of the session's downloads (*out malloc'd, caller frees) and its
 * browser's download dir into dir (cap bytes; dir may be NULL).
 * PB_ENOTFOUND once the session is being torn down. */
int pb_session_downloads(pb_session *s, pb_download **out, size_t *n, char *dir, size_t cap);
/* One download's size cap. */
int64_t pb_session_download_max(pb_sessions *ss);

/* Records the session's frames from now until it ends, kept 24 h in the
 * store of pb_sessions_opts.recordings (sessions/recording.h): cap_bytes
 * for this recording (<= 0: the default), quota_bytes for all the
 * account's. PB_ENOTFOUND when there is no store or frame source, or the
 * session ended or records already; PB_ETOOBIG when the account's
 * recordings are at quota_bytes. */
int pb_session_record(pb_session *s, int64_t cap_bytes, int64_t quota_bytes);

/* Ends every live session of every account with reason (close code 1011
 * and reason for the CDP clients), and waits (10 s at most) until they are
 * torn down; the sessions stay open for new ones. Cluster mode: this node was
 * declared lost (core/nodes.h). The number ended. NULL is a no-op. */
int pb_sessions_end_all(pb_sessions *ss, const char *reason, const char *reason_text);
/* Live sessions of every account (not ending). */
int pb_sessions_live_total(pb_sessions *ss);
/* Sessions not yet let go of: live, ending, being torn down, or torn down
 * with a client still connected (its close frame not yet sent and
 * answered). 0 once every client of an ended session has been closed. */
int pb_sessions_present(pb_sessions *ss);
/* Ends every session (reason Shutdown) and stops. NULL is a no-op. */
void pb_sessions_stop(pb_sessions *ss);

#endif
