#ifndef PB_CLI_LOGINCMD_H
#define PB_CLI_LOGINCMD_H
/* `ppod login` without a token: sign in by email. Asks for the email (a
 * prompt on stderr when stdin is a terminal; else the first line of stdin),
 * POSTs /login, then waits for the token from the link's page to be pasted
 * (the next line of stdin), checks its form, checks it works (GET
 * /browser/limits) and saves it as `ppod login <token>` does. */
#include "cli/commands.h"

/* 1 when t has the form of a service token: "pp_sess_" or "ppod_" and 43
 * base64url characters. */
int pb_cli_token_form_ok(const char *t);

/* The handler, for `ppod login` with no argument. PB_CLI_EXIT_*. */
int pb_cli_login_email(pb_cli_ctx *ctx, const pb_cli_args *a);

#endif
