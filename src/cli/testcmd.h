#ifndef PB_CLI_TESTCMD_H
#define PB_CLI_TESTCMD_H
/* `ppod browser:test`: the handler and the body fields its flag rows park
 * values in (taken out again before the request is sent). */
#include "cli/commands.h"

#define PB_CLI_TEST_SCRIPT_FIELD "__script"
#define PB_CLI_TEST_FILE_FIELD "__file"
#define PB_CLI_TEST_JUNIT_FIELD "__junit"
#define PB_CLI_TEST_SHOTS_FIELD "__screenshots"

/* The command's `extra`: the script argument after <url>. */
int pb_cli_test_extra(cJSON *body, const char *const *args, int n);

/* Runs the script and reports: a step list on the terminal, --json the
 * whole result; --junit FILE and --screenshots DIR write files. Returns 0
 * passed, 1 failed, 2 bad script or usage. */
int pb_cli_test_run(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

#endif
