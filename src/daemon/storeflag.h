#ifndef PB_DAEMON_STOREFLAG_H
#define PB_DAEMON_STOREFLAG_H
/* --store SPEC (PPOD_STORE): the store in PostgreSQL, shared by a cluster's
 * nodes (postgres://user:password@host:port/db?...); without it the store is
 * SQLite under --data-dir. */

/* Takes arg, the flag's value in argv: checks it is a PostgreSQL URL that
 * fits, keeps a copy (*out, valid for the process's life: one spec per
 * process), and overwrites the password in arg with '*' (what ps shows).
 * 0, or -1 with the reason on stderr. */
int pb_store_flag_take(char *arg, const char **out);
/* The same for PPOD_STORE: the environment is left as it is. */
int pb_store_flag_env(const char *value, const char **out);

#endif
