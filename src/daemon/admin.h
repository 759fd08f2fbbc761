#ifndef PB_DAEMON_ADMIN_H
#define PB_DAEMON_ADMIN_H
/* The admin subcommands of ppod-browserd: they work on the data dir directly
 * (no server needed; safe next to a running one). */

/* Runs an admin subcommand. argv[0] is the subcommand word ("account" or "token").
   Handles: account create NAME; account list; account limits NAME [--set KEY=VALUE]...;
   account disable|enable|delete NAME; token create NAME [--ttl DAYS | --ttl-seconds S]
   [--max-token-ttl DAYS] (PPOD_MAX_TOKEN_TTL, default 90 days, caps the TTL);
   token list NAME; token revoke TOKEN|PREFIX (an ambiguous prefix revokes nothing). account limits prints KEY=VALUE lines
   on stdout, or with --set stores them (all checked first; exit 2 on a bad key or value).
   data_dir is already resolved by the caller. Prints as the README says (token alone on
   stdout; human text to stderr). Returns a process exit code (0 ok, 1 failure, 2 usage). */
int pb_admin_main(const char *data_dir, int argc, char **argv);
/* The store the subcommands open: a PostgreSQL URL (--store, borrowed for
 * the process's life), or NULL for SQLite in data_dir. Call before
 * pb_admin_main. */
void pb_admin_set_store(const char *spec);

#endif
