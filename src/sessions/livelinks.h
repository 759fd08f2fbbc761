#ifndef PB_SESSIONS_LIVELINKS_H
#define PB_SESSIONS_LIVELINKS_H
/* Live view links: capability URLs to watch (or drive) one session from a
 * browser without the account's token. The capability is 128 random bits
 * shown once, when minted; the table keeps only its SHA-256, in memory (one
 * node: links die with the process, as the sessions they open do). A link
 * is scoped to one session of one account, expires (never later than the
 * session: it is only good while that session lives) and may be revoked.
 * Expired and revoked links are remembered (up to PB_LIVE_LINKS_MAX in all,
 * the oldest dead ones forgotten first) so they are told apart from
 * unknown ones. Process-wide table; thread-safe; no I/O. */
#include <stdint.h>

#define PB_LIVE_TOKEN_LEN 32 /* hex chars: 128 random bits */
#define PB_LIVE_ID_LEN 16    /* hex chars: the link's public id, for DELETE */
#define PB_LIVE_LINKS_MAX 4096
#define PB_LIVE_TTL_DEFAULT_MS (3600 * 1000LL)

typedef enum { PB_LIVE_VIEW = 0, PB_LIVE_INTERACTIVE = 1 } pb_live_mode;

typedef struct {
  char id[PB_LIVE_ID_LEN + 1];
  char session_id[64];
  int64_t account_id;
  pb_live_mode mode;
  int64_t expires_wall_ms;
  int revoked;
} pb_live_link;

/* Mints a link to session_id of account_id for ttl_ms (<= 0: the default).
 * token_out gets the capability (shown once); *out the link. PB_EBUSY when
 * the table is full of live links. */
int pb_live_mint(const char *session_id, int64_t account_id, pb_live_mode mode, int64_t ttl_ms,
                 char token_out[PB_LIVE_TOKEN_LEN + 1], pb_live_link *out);

/* The link of a capability: 0 and *out when valid now; PB_EEXPIRED,
 * PB_EREVOKED (*out still filled), or PB_ENOTFOUND. */
int pb_live_lookup(const char *token, pb_live_link *out);

/* The link with that public id, as pb_live_lookup. */
int pb_live_get(const char *id, pb_live_link *out);

/* Revokes the link id of session_id of account_id: 0, or PB_ENOTFOUND
 * (unknown, or another session's or account's). */
int pb_live_revoke(const char *session_id, int64_t account_id, const char *id);

#endif
