/* ppod: the command-line client of ppod-browserd. Everything but process
 * setup lives in commands.c, so tests can run the CLI with a fake transport. */
#include "cli/client.h"
#include "cli/commands.h"
#include "cli/connect.h"
#include "cli/retry.h"

#include <stdio.h>

int main(int argc, char **argv) {
  if (pb_cli_http_init()) {
    fprintf(stderr, "ppod: cannot initialise libcurl\n");
    return PB_CLI_EXIT_FAIL;
  }
  /* Every request retries the service's 429 and 503 (retry.h). */
  pb_cli_retry_setup(pb_cli_http_send, stderr, NULL);
  pb_cli_ctx ctx = {
      .out = stdout, .err = stderr, .send = pb_cli_retry_send, .serve_cdp = pb_cli_connect_serve};
  int status = pb_cli_main(&ctx, argc, argv);
  if (fflush(stdout) && status == PB_CLI_EXIT_OK) {
    perror("ppod: stdout");
    status = PB_CLI_EXIT_FAIL;
  }
  pb_cli_http_cleanup();
  return status;
}
