#ifndef PB_CLI_COMMANDS_H
#define PB_CLI_COMMANDS_H
/* ppod's command table and the code that runs it. A quick action is one row:
 * its flags (tables of args.h), its route and its output kind; the shared
 * pb_cli_run_action does the rest. */
#include "cli/args.h"
#include "cli/client.h"
#include "cli/connect.h"

#include <stdio.h>

#define PB_CLI_MAX_RESPONSE ((size_t)512 << 20) /* response bodies over this are refused */
#define PB_CLI_TIMEOUT_MS 300000L               /* a whole request; the server's own
                                                   job deadline is at most 120 s */

/* What a command runs with; the caller owns all of it. */
typedef struct pb_cli_ctx {
  FILE *out;           /* results, written paths (stdout) */
  FILE *err;           /* messages (stderr) */
  pb_cli_send_fn send; /* the transport: pb_cli_http_send, or a fake in tests */
  /* browser:connect's local CDP port (pb_cli_connect_serve); NULL where it
   * cannot run (tests with a fake transport). */
  int (*serve_cdp)(const pb_cli_connect *o);
} pb_cli_ctx;

/* Every command, ending with a row whose name is NULL. */
extern const pb_cli_command pb_cli_commands[];

/* The command called name, or NULL. */
const pb_cli_command *pb_cli_find_command(const char *name);

/* `ppod help`: the commands and the global options. */
void pb_cli_print_overview(FILE *f);

/* The handler of quick actions: POSTs a->body to cmd->route and saves the
 * bytes of the answer (PB_CLI_OUT_FILE) or prints its JSON result
 * (PB_CLI_OUT_RESULT). On an error answer prints "ppod: CODE: message" to
 * ctx->err. Returns a PB_CLI_EXIT_* status. */
int pb_cli_run_action(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

/* The whole CLI: argv as main() got it. Returns the process exit status:
 * 0 done, 1 failed, 2 usage error. */
int pb_cli_main(pb_cli_ctx *ctx, int argc, char **argv);

#endif
