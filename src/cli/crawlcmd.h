#ifndef PB_CLI_CRAWLCMD_H
#define PB_CLI_CRAWLCMD_H
/* `ppod browser:crawl <url> [--limit N] [--depth D] [-o DIR]`: starts a crawl
 * (POST /browser/crawl), follows its results page by page (GET
 * /browser/crawl/{id}?cursor=) and writes one Markdown file per page into
 * DIR (default "crawl"), with index.json listing every page (file, URL,
 * status, title, error). A progress bar on a terminal, one line per page
 * otherwise (stderr); the directory's path on stdout at the end. */
#include "cli/commands.h"

/* Turns a page URL into a file name: [A-Za-z0-9._-] kept, the rest '_',
 * path separators '-', at most 120 bytes before ".md", never starting with
 * '.', "index" for the root. Pure; out must hold 128 bytes. */
void pb_cli_crawl_file_name(const char *url, char *out, size_t cap);

/* The handler. 0 when the crawl completed (some pages may have failed:
 * index.json says), 1 when it could not be started or read, or it failed
 * or was cancelled. */
int pb_cli_crawl_run(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);

#endif
