#ifndef PB_CLI_ACCOUNT_H
#define PB_CLI_ACCOUNT_H
/* `ppod status` and `ppod balance`: the server and the signed-in account,
 * from GET / and GET /account. */
#include "cli/commands.h"

/* ppod status [--json]: the server's URL and version, whether it answers
 * and how fast, the account and the token's expiry (a warning on stderr
 * when under PB_CLI_TOKEN_WARN_S). Exit 0 when signed in with a valid token;
 * PB_CLI_EXIT_FAIL when the server cannot be reached, no token is
 * configured, or the server refuses the token (expired, revoked, invalid). */
int pb_cli_status(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

/* ppod balance [--json]: the balance ("unmetered" when the account has
 * none) and today's usage. PB_CLI_EXIT_FAIL as any API call fails. */
int pb_cli_balance(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

/* A token that ends sooner than this is warned about. */
#define PB_CLI_TOKEN_WARN_S (2 * 86400)

/* Micro-units as a decimal amount: at least two decimals, no trailing zeros
 * past them ("5.00", "4.9999", "-0.25"). */
void pb_cli_format_micros(long long micros, char *out, size_t cap);

#endif
