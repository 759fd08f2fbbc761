#ifndef PB_CLI_MCP_H
#define PB_CLI_MCP_H
/* `ppod mcp`: a stdio MCP server for hosts that only run commands
 * ({"command": "ppod", "args": ["mcp"]}). It relays newline-delimited
 * JSON-RPC from stdin to the service's /mcp (Streamable HTTP) with the saved
 * credentials and writes each answer, event by event when the service
 * streams, as one line on stdout; logs go to stderr. It keeps the
 * Mcp-Session-Id, starts a new session when the service forgot it (404),
 * and turns a refusal of the transport (401, 413, ...) into a JSON-RPC
 * error for the message's id. Each message is relayed on a thread of its
 * own (at most PB_CLI_MCP_INFLIGHT at once), so a cancellation or a ping is
 * not stuck behind a long call. It returns on stdin EOF, after stopping the
 * exchanges still running. libcurl is used directly here: the relay needs
 * the answer as it arrives, which client.c does not offer. */
#include "cli/commands.h"

#define PB_CLI_MCP_INFLIGHT 16
#define PB_CLI_MCP_LINE_MAX ((size_t)16 << 20) /* a message from the host */

/* The command's handler. Returns PB_CLI_EXIT_OK at EOF, PB_CLI_EXIT_USAGE
 * when the server or token cannot be resolved. */
int pb_cli_mcp(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

#endif
