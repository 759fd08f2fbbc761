#include "cli/commands.h"
#include "cli/account.h"
#include "cli/mcp.h"

#include "cli/config.h"
#include "cli/crawlcmd.h"
#include "cli/logincmd.h"
#include "cli/files.h"
#include "cli/testcmd.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- flags ------------------------------------------------------------ */

static const pb_cli_flag output_flags[] = {
    {.name = "--output", .alias = "-o", .kind = PB_CLI_F_OUTPUT, .metavar = "FILE",
     .help = "write the result to FILE; '-' for stdout"},
    {0},
};

/* Fields every quick action shares (schemas/common.json). */
static const pb_cli_flag page_flags[] = {
    {.name = "--html", .kind = PB_CLI_F_TEXT_FILE, .path = "html", .metavar = "FILE|-",
     .help = "render the HTML in FILE ('-' for stdin) instead of loading <url>"},
    {.name = "--wait-for", .kind = PB_CLI_F_STRING, .path = "waitForSelector.selector",
     .metavar = "CSS", .help = "wait until an element matches CSS"},
    {.name = "--viewport", .kind = PB_CLI_F_SIZE, .path = "viewport", .metavar = "WxH",
     .help = "window size in CSS pixels (default 1920x1080)", .min = 1, .max = 16384},
    {.name = "--wait-until", .kind = PB_CLI_F_ENUM, .path = "gotoOptions.waitUntil",
     .metavar = "EVENT", .choices = "load|domcontentloaded|networkidle0|networkidle2",
     .help = "load (default), domcontentloaded, networkidle0 or networkidle2"},
    {.name = "--scroll-page", .kind = PB_CLI_F_BOOL, .path = "scrollPage",
     .help = "scroll through the page first, so lazy content loads (capped: 50000 px, 10 s)"},
    {.name = "--trace", .kind = PB_CLI_F_TRACE, .path = "trace", .metavar = "FILE.zip",
     .help = "record a trace (Playwright trace viewer, DevTools, HAR) and save it to FILE.zip"},
    {.name = "--timeout", .kind = PB_CLI_F_INT, .path = "timeout", .metavar = "MS",
     .help = "deadline for the whole job, 0 to 120000 (default 30000)", .min = 0,
     .max = 120000},
    {.name = "--session", .kind = PB_CLI_F_STRING, .path = "sessionId", .metavar = "ID",
     .help = "run in a new tab of this acquired session (its cookies, logins, storage)"},
    {0},
};

static const pb_cli_flag screenshot_flags[] = {
    {.name = "--full-page", .kind = PB_CLI_F_BOOL, .path = "screenshotOptions.fullPage",
     .help = "capture the whole scrollable page, not just the viewport"},
    {.name = "--type", .kind = PB_CLI_F_ENUM, .path = "screenshotOptions.type",
     .choices = "png|jpeg|webp", .help = "image format (default png)"},
    {.name = "--quality", .kind = PB_CLI_F_INT, .path = "screenshotOptions.quality",
     .metavar = "N", .help = "jpeg or webp quality, 0 to 100", .min = 0, .max = 100},
    {.name = "--selector", .kind = PB_CLI_F_STRING, .path = "selector", .metavar = "CSS",
     .help = "capture only the first element matching CSS"},
    {0},
};

static const pb_cli_flag pdf_flags[] = {
    {.name = "--landscape", .kind = PB_CLI_F_BOOL, .path = "pdfOptions.landscape",
     .help = "landscape orientation"},
    {.name = "--format", .kind = PB_CLI_F_STRING, .path = "pdfOptions.format",
     .metavar = "SIZE", .help = "paper size, e.g. A4 or Letter"},
    {.name = "--print-background", .kind = PB_CLI_F_BOOL,
     .path = "pdfOptions.printBackground", .help = "print background colours and images"},
    {0},
};

static const pb_cli_flag *const screenshot_opts[] = {output_flags, screenshot_flags,
                                                     page_flags, NULL};
static const pb_cli_flag *const pdf_opts[] = {output_flags, pdf_flags, page_flags, NULL};
static const pb_cli_flag *const text_opts[] = {output_flags, page_flags, NULL};

static const pb_cli_flag markdown_flags[] = {
    {.name = "--full", .kind = PB_CLI_F_ENUM_CONST, .path = "mode", .choices = "full",
     .help = "convert the whole page, not just its main content"},
    {.name = "--frontmatter", .kind = PB_CLI_F_BOOL, .path = "frontmatter",
     .help = "start with YAML front matter: title, url, description, byline, published"},
    {0},
};
static const pb_cli_flag *const markdown_opts[] = {output_flags, markdown_flags, page_flags, NULL};

static const pb_cli_flag links_flags[] = {
    {.name = "--visible-only", .kind = PB_CLI_F_BOOL, .path = "visibleLinksOnly",
     .help = "only links that are rendered with a non-empty box"},
    {.name = "--internal-only", .kind = PB_CLI_F_BOOL, .path = "excludeExternalLinks",
     .help = "only links to the page's own host"},
    {0},
};
static const pb_cli_flag *const links_opts[] = {output_flags, links_flags, page_flags, NULL};

/* Sessions. */
static const pb_cli_flag json_flags[] = {
    {.name = "--json", .kind = PB_CLI_F_JSON, .help = "print the whole result as JSON"},
    {0},
};
static const pb_cli_flag acquire_flags[] = {
    {.name = "--keep-alive", .kind = PB_CLI_F_INT, .path = "keep_alive", .metavar = "MS",
     .help = "close the session after MS without CDP traffic or commands (default 60000)",
     .min = 1000, .max = 86400000},
    {.name = "--timeout", .kind = PB_CLI_F_INT, .path = "timeout", .metavar = "MS",
     .help = "how long to wait for a free browser, 0 to 120000 (default 30000)", .min = 0,
     .max = 120000},
    {.name = "--context", .kind = PB_CLI_F_STRING, .path = "context.id", .metavar = "ID",
     .help = "start on this persistent context's saved state (see 'ppod browser:contexts')"},
    {.name = "--persist", .kind = PB_CLI_F_BOOL, .path = "context.persist",
     .help = "with --context: save the session's state back to it when the session ends"},
    {.name = "--record", .kind = PB_CLI_F_BOOL, .path = "record",
     .help = "record the session's screen (see 'ppod browser:recording')"},
    {0},
};
static const pb_cli_flag usage_flags[] = {
    {.name = "--from", .kind = PB_CLI_F_INT, .path = "from", .metavar = "MS",
     .help = "start, in ms since the epoch (default: 30 days before --to)", .min = 0,
     .max = 253402300799999LL},
    {.name = "--to", .kind = PB_CLI_F_INT, .path = "to", .metavar = "MS",
     .help = "end, in ms since the epoch (default: now)", .min = 0, .max = 253402300799999LL},
    {0},
};
static const pb_cli_flag *const acquire_opts[] = {acquire_flags, json_flags, NULL};
static const pb_cli_flag connect_flags[] = {
    {.name = "--port", .kind = PB_CLI_F_INT, .path = "port", .metavar = "N",
     .help = "local port to listen on (default 9222; 0 for any free port)", .min = 0,
     .max = 65535},
    {.name = "--host", .kind = PB_CLI_F_STRING, .path = "host", .metavar = "ADDR",
     .help = "address to listen on (default 127.0.0.1; another than loopback lets others in)"},
    {.name = "--print", .kind = PB_CLI_F_BOOL, .path = "print",
     .help = "only check the session and print its WebSocket URL on the service"},
    {0},
};
static const pb_cli_flag *const connect_opts[] = {connect_flags, json_flags, NULL};
static const pb_cli_flag *const json_opts[] = {json_flags, NULL};
static const pb_cli_flag *const usage_opts[] = {usage_flags, NULL};

/* browser:scrape <url> [selector]: elements:[{selector}], body by default. */
static int scrape_extra(cJSON *body, const char *const *args, int n) {
  cJSON *els = cJSON_AddArrayToObject(body, "elements");
  cJSON *el = cJSON_CreateObject();
  if (!els || !el) return PB_ENOMEM;
  cJSON_AddItemToArray(els, el);
  return cJSON_AddStringToObject(el, "selector", n ? args[0] : "body") ? 0 : PB_ENOMEM;
}

/* browser:test: the script positional or --file, and where reports go. */
static const pb_cli_flag test_flags[] = {
    {.name = "--file", .alias = "-f", .kind = PB_CLI_F_STRING, .path = PB_CLI_TEST_FILE_FIELD,
     .metavar = "FILE|-", .help = "read the script from FILE ('-' for stdin)"},
    {.name = "--junit", .kind = PB_CLI_F_STRING, .path = PB_CLI_TEST_JUNIT_FIELD,
     .metavar = "FILE", .help = "also write a JUnit XML report to FILE"},
    {.name = "--screenshots", .kind = PB_CLI_F_STRING, .path = PB_CLI_TEST_SHOTS_FIELD,
     .metavar = "DIR", .help = "write named and failure screenshots to DIR as NAME.png"},
    {.name = "--step-timeout", .kind = PB_CLI_F_INT, .path = "stepTimeout", .metavar = "MS",
     .help = "default timeout of each step, 0 to 60000 (default 5000)", .min = 0, .max = 60000},
    {.name = "--json", .kind = PB_CLI_F_JSON, .help = "print the whole result as JSON"},
    {0},
};
static const pb_cli_flag *const test_opts[] = {test_flags, page_flags, NULL};

/* browser:crawl: where the pages go, and how far. */
static const pb_cli_flag crawl_flags[] = {
    {.name = "--output", .alias = "-o", .kind = PB_CLI_F_OUTPUT, .metavar = "DIR",
     .help = "write the pages and index.json into DIR (default ./crawl)"},
    {.name = "--limit", .kind = PB_CLI_F_INT, .path = "limit", .metavar = "N",
     .help = "pages at most, 1 to 10000 (default 10)", .min = 1, .max = 10000},
    {.name = "--depth", .kind = PB_CLI_F_INT, .path = "depth", .metavar = "D",
     .help = "links followed from <url>, 0 to 100 (default 3)", .min = 0, .max = 100},
    {0},
};
static const pb_cli_flag *const crawl_opts[] = {crawl_flags, NULL};

/* ---- commands --------------------------------------------------------- */

static int cmd_help(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_login(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_acquire(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_connect(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_get(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_release(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_upload(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_downloads(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static const pb_cli_flag downloads_flags[] = {
    {.name = "--output", .alias = "-o", .kind = PB_CLI_F_OUTPUT, .metavar = "DIR",
     .help = "save the completed downloads into DIR (under their suggested names)"},
    {0},
};
static const pb_cli_flag *const downloads_opts[] = {downloads_flags, json_flags, NULL};
static int cmd_contexts(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static int cmd_live(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static const pb_cli_flag live_flags[] = {
    {.name = "--view-only", .kind = PB_CLI_F_BOOL, .path = "viewOnly",
     .help = "a link to watch only: the server refuses its input"},
    {.name = "--ttl", .kind = PB_CLI_F_INT, .path = "ttl", .metavar = "S",
     .help = "seconds the link is good for, 1 to 86400 (default 3600; never past the session)",
     .min = 1, .max = 86400},
    {.name = "--open", .kind = PB_CLI_F_BOOL, .path = "open",
     .help = "open the link with xdg-open when a desktop is there (DISPLAY or WAYLAND_DISPLAY)"},
    {0},
};
static const pb_cli_flag *const live_opts[] = {live_flags, json_flags, NULL};
static int cmd_recording(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static const pb_cli_flag recording_flags[] = {
    {.name = "--output", .alias = "-o", .kind = PB_CLI_F_OUTPUT, .metavar = "FILE",
     .help = "where to save the zip (default recording-ID.zip)"},
    {0},
};
static const pb_cli_flag *const recording_opts[] = {recording_flags, NULL};
static int cmd_handoff(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a);
static const pb_cli_flag handoff_flags[] = {
    {.name = "--message", .kind = PB_CLI_F_STRING, .path = "message", .metavar = "M",
     .help = "what the person should do, shown on the live page"},
    {.name = "--timeout", .kind = PB_CLI_F_INT, .path = "timeout", .metavar = "MS",
     .help = "ms the person has, 1000 to 3600000 (default 600000)", .min = 1000,
     .max = 3600000},
    {.name = "--wait", .kind = PB_CLI_F_BOOL, .path = "wait",
     .help = "then wait until the person hands back (exit 1 on timeout)"},
    {0},
};
static const pb_cli_flag *const handoff_opts[] = {handoff_flags, json_flags, NULL};

const pb_cli_command pb_cli_commands[] = {
    {.name = "browser:screenshot", .summary = "Take a screenshot of a page (PNG, JPEG or WebP)",
     .args = "<url>",
     .description = "Saves the image as screenshot.<type> in the current directory, or as\n"
                    "-o FILE, and prints the path it wrote.",
     .flags = screenshot_opts, .handler = pb_cli_run_action, .route = "/browser/screenshot",
     .output = PB_CLI_OUT_FILE, .out_stem = "screenshot", .out_ext = "png", .page = 1},
    {.name = "browser:pdf", .summary = "Print a page to PDF", .args = "<url>",
     .description = "Saves the PDF as page.pdf in the current directory, or as -o FILE,\n"
                    "and prints the path it wrote.",
     .flags = pdf_opts, .handler = pb_cli_run_action, .route = "/browser/pdf",
     .output = PB_CLI_OUT_FILE, .out_stem = "page", .out_ext = "pdf", .page = 1},
    {.name = "browser:content", .summary = "Print a page's HTML after its scripts have run",
     .args = "<url>", .flags = text_opts, .handler = pb_cli_run_action,
     .route = "/browser/content", .output = PB_CLI_OUT_RESULT, .page = 1},
    {.name = "browser:scrape", .summary = "Text, HTML, attributes and boxes of the elements matching a selector",
     .args = "<url> [selector]",
     .description = "Prints the JSON result; the selector defaults to body.",
     .flags = text_opts, .handler = pb_cli_run_action, .route = "/browser/scrape",
     .output = PB_CLI_OUT_RESULT, .page = 1, .max_args = 1, .extra = scrape_extra},
    {.name = "browser:markdown", .summary = "A page as Markdown (its main content, or --full)",
     .args = "<url>",
     .description = "Prints the Markdown. Readable mode (the default) extracts the main content\n"
                    "like a reader view; --full converts the whole page.",
     .flags = markdown_opts, .handler = pb_cli_run_action, .route = "/browser/markdown",
     .output = PB_CLI_OUT_RESULT, .page = 1},
    {.name = "browser:links", .summary = "The links of a page as absolute URLs", .args = "<url>",
     .flags = links_opts, .handler = pb_cli_run_action, .route = "/browser/links",
     .output = PB_CLI_OUT_RESULT, .page = 1},
    {.name = "browser:test", .summary = "Run a JSON test script (steps and assertions) against a page",
     .args = "<url> ['<json>']",
     .description = "The script is {\"steps\":[{\"action\":\"click\",\"selector\":\"...\"}, ...]} (or\n"
                    "just the list of steps), given as an argument or with --file. Prints a\n"
                    "step-by-step report. Exit status: 0 passed, 1 a step failed, 2 a bad\n"
                    "script or usage. The format is in README.md and schemas/test-script.json.",
     .flags = test_opts, .handler = pb_cli_test_run, .route = "/browser/test",
     .output = PB_CLI_OUT_RESULT, .page = 1, .max_args = 1, .extra = pb_cli_test_extra},
    {.name = "browser:acquire", .summary = "Start a session: a browser of your own, kept between commands",
     .description = "Prints the session id. Drive the session with any CDP client (see\n"
                    "'ppod browser:connect'), or run quick actions in it with --session ID.\n"
                    "It closes after --keep-alive ms without traffic, on 'ppod browser:release'\n"
                    "or when a client sends Browser.close.",
     .flags = acquire_opts, .handler = cmd_acquire, .route = "/browser/acquire",
     .output = PB_CLI_OUT_RESULT},
    {.name = "browser:connect", .summary = "Serve a session as a local Chrome debugging port (127.0.0.1:9222)",
     .args = "<id>",
     .description = "Listens on 127.0.0.1:9222 (--port, --host) and answers /json/version,\n"
                    "/json/list and /json/protocol like a Chrome started with\n"
                    "--remote-debugging-port, relaying its WebSocket to the session with your\n"
                    "token: puppeteer.connect({browserURL: 'http://127.0.0.1:9222'}),\n"
                    "chromium.connectOverCDP('http://127.0.0.1:9222'), chrome-devtools-mcp\n"
                    "--browserUrl http://127.0.0.1:9222. Prints the URL once listening; Ctrl-C\n"
                    "stops it and the session stays. One client at a time (the service's rule).\n"
                    "--print (or --json) prints the session's own WebSocket URL instead:\n"
                    "ws://HOST/browser/sessions/ID/devtools/browser, which wants the token as\n"
                    "'Authorization: Bearer TOKEN' or ?token=TOKEN.",
     .flags = connect_opts, .handler = cmd_connect, .route = "/browser/sessions/{id}",
     .output = PB_CLI_OUT_RESULT, .min_args = 1, .max_args = 1},
    {.name = "browser:sessions", .summary = "The account's live sessions (JSON)",
     .handler = cmd_get, .route = "/browser/sessions", .output = PB_CLI_OUT_RESULT},
    {.name = "browser:history", .summary = "Recently closed sessions and why they closed (JSON)",
     .handler = cmd_get, .route = "/browser/history", .output = PB_CLI_OUT_RESULT},
    {.name = "browser:limits", .summary = "The account's session limits and what is left (JSON)",
     .handler = cmd_get, .route = "/browser/limits", .output = PB_CLI_OUT_RESULT},
    {.name = "browser:usage", .summary = "Browser time used in a period (JSON)",
     .flags = usage_opts, .handler = cmd_get, .route = "/browser/usage",
     .output = PB_CLI_OUT_RESULT},
    {.name = "browser:release", .summary = "Close a session", .args = "<id>",
     .flags = json_opts, .handler = cmd_release, .output = PB_CLI_OUT_RESULT, .min_args = 1,
     .max_args = 1},
    {.name = "browser:upload", .summary = "Put files into a session for its pages' file inputs",
     .args = "<id> FILE...",
     .description = "Prints the path of each file in the session, for Puppeteer's\n"
                    "uploadFile(path), Playwright's setInputFiles(path) or\n"
                    "DOM.setFileInputFiles. At most 50 MiB a file, 32 files and 200 MiB a\n"
                    "session.",
     .flags = json_opts, .handler = cmd_upload, .output = PB_CLI_OUT_RESULT, .min_args = 2,
     .max_args = PB_CLI_MAX_ARGS},
    {.name = "browser:downloads", .summary = "A session's downloads; with -o DIR, save them",
     .args = "<id>",
     .description = "Lists id, state, bytes and name of each download of the session (live,\n"
                    "or up to 24 h after it ended). With -o DIR the completed ones are saved\n"
                    "into DIR and their paths printed.",
     .flags = downloads_opts, .handler = cmd_downloads, .output = PB_CLI_OUT_RESULT,
     .min_args = 1, .max_args = 1},
    {.name = "browser:recording", .summary = "Save a recorded session's frames and index (zip)",
     .args = "<id>",
     .description = "For a session acquired with --record (live, or up to 24 h after it\n"
                    "ended): saves frame-00001.jpg ... and index.json (time, URL and size of\n"
                    "each frame) as one zip, and prints its path. The replay page is at\n"
                    "/browser/sessions/ID/recording (open it with ?token=TOKEN).",
     .flags = recording_opts, .handler = cmd_recording, .output = PB_CLI_OUT_RESULT,
     .min_args = 1, .max_args = 1},
    {.name = "browser:contexts", .summary = "List, create or delete persistent contexts",
     .args = "[create [name] | get <id> | delete <id>]",
     .description = "Without arguments prints the account's contexts (JSON). 'create' prints\n"
                    "the new context's id; use it with 'ppod browser:acquire --context ID\n"
                    "[--persist]' to start sessions logged in where an earlier one left off.",
     .flags = json_opts, .handler = cmd_contexts, .route = "/browser/contexts",
     .output = PB_CLI_OUT_RESULT, .max_args = 2},
    {.name = "browser:live", .summary = "Print a live view link to watch or drive a session",
     .args = "<id>",
     .description = "Prints a URL that opens, in any browser and without your token, a page\n"
                    "showing the tab the session's agent works on; a person can click, type,\n"
                    "paste and switch tabs there (not with --view-only). Anyone with the URL\n"
                    "can: share it like a password. It ends with the session, after --ttl,\n"
                    "or with DELETE /browser/sessions/ID/live/LINK_ID (--json shows the id).",
     .flags = live_opts, .handler = cmd_live, .route = "/browser/sessions/{id}/live",
     .output = PB_CLI_OUT_RESULT, .min_args = 1,
     .max_args = 1},
    {.name = "browser:handoff", .summary = "Hand a session to a person and (--wait) await it back",
     .args = "<id>",
     .description = "Prints a live view URL for a person: the page shows --message and a\n"
                    "\"Done\" button. With --wait, then waits until the person presses it\n"
                    "(prints the handoff as JSON) or the handoff times out (exit 1).\n"
                    "One handoff waits at a time; DELETE /browser/sessions/ID/handoff ends it.",
     .flags = handoff_opts, .handler = cmd_handoff, .route = "/browser/sessions/{id}/handoff",
     .output = PB_CLI_OUT_RESULT, .min_args = 1, .max_args = 1},
    {.name = "mcp", .summary = "A stdio MCP server that relays to the service's /mcp",
     .description = "For MCP hosts that run a command: {\"command\": \"ppod\", \"args\": [\"mcp\"]}.\n"
                    "Reads JSON-RPC lines on stdin, answers on stdout (logs on stderr), with\n"
                    "the saved token; exits when stdin ends. See README.md, MCP.",
     .handler = pb_cli_mcp},
    {.name = "browser:crawl", .summary = "Crawl a site into a directory of Markdown files",
     .args = "<url>",
     .description = "Follows the links of <url> (same origin, robots.txt honoured, the\n"
                    "sitemap too) and writes one .md file per page into DIR with index.json\n"
                    "(every page: file, url, status, title, error). Prints DIR at the end.",
     .flags = crawl_opts, .handler = pb_cli_crawl_run, .route = "/browser/crawl",
     .output = PB_CLI_OUT_RESULT, .min_args = 1, .max_args = 1},
    {.name = "status", .summary = "The server (version, latency), the account and the token's expiry",
     .description = "Exits 1 when the server cannot be reached, no token is configured, or the\n"
                    "server refuses it (expired, revoked, invalid); warns on stderr when the\n"
                    "token expires within 2 days.",
     .flags = json_opts, .handler = pb_cli_status, .route = "/account",
     .output = PB_CLI_OUT_RESULT},
    {.name = "balance", .summary = "The account's balance and today's usage",
     .description = "The balance is 'unmetered' when the account has none; usage counts\n"
                    "today's closed work (UTC day) from the usage ledger.",
     .flags = json_opts, .handler = pb_cli_balance, .route = "/account",
     .output = PB_CLI_OUT_RESULT},
    {.name = "login", .summary = "Sign in by email, or save an API token for later commands",
     .args = "[<token>]",
     .description = "Stores the token (mode 0600) in $XDG_CONFIG_HOME/ppod/token, else\n"
                    "~/.config/ppod/token. '-' reads it from stdin. --token and\n"
                    "$PAPERPOD_TOKEN take precedence over the saved token.\n"
                    "Without a token: asks for your email, has the server mail you a\n"
                    "sign-in link (POST /login), and waits for the token the link's page\n"
                    "shows to be pasted; checks it works, then saves it.",
     .handler = cmd_login, .min_args = 0, .max_args = 1},
    {.name = "help", .summary = "List the commands, or show one command's options",
     .args = "[command]", .handler = cmd_help, .max_args = 1},
    {0},
};

const pb_cli_command *pb_cli_find_command(const char *name) {
  for (const pb_cli_command *c = pb_cli_commands; c->name; c++)
    if (!strcmp(c->name, name)) return c;
  return NULL;
}

void pb_cli_print_overview(FILE *f) {
  fprintf(f, "usage: ppod <command> [options]\n\nCommands:\n");
  int w = 0;
  for (const pb_cli_command *c = pb_cli_commands; c->name; c++)
    if ((int)strlen(c->name) > w) w = (int)strlen(c->name);
  for (const pb_cli_command *c = pb_cli_commands; c->name; c++)
    fprintf(f, "  %-*s  %s\n", w, c->name, c->summary);
  fprintf(f, "\nGlobal options:\n");
  pb_cli_print_flags(pb_cli_global_flags, 13, f);
  fprintf(f, "\nRun 'ppod <command> --help' for a command's options.\n");
}

static int cmd_help(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  if (!a->npos) {
    pb_cli_print_overview(ctx->out);
    return PB_CLI_EXIT_OK;
  }
  const pb_cli_command *c = pb_cli_find_command(a->pos[0]);
  if (!c) {
    fprintf(ctx->err, "ppod: unknown command '%s'; run 'ppod help' for the list\n", a->pos[0]);
    return PB_CLI_EXIT_USAGE;
  }
  pb_cli_print_help(c, ctx->out);
  return PB_CLI_EXIT_OK;
}

static int cmd_login(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char err[512];
  char *stdin_text = NULL, *path = NULL;
  if (!a->npos) return pb_cli_login_email(ctx, a); /* cli/logincmd.c */
  const char *token = a->pos[0];
  if (!strcmp(token, "-")) {
    size_t len;
    int rc = pb_cli_file_read("-", PB_CLI_MAX_TOKEN + 64, &stdin_text, &len, err, sizeof(err));
    if (rc) {
      fprintf(ctx->err, "ppod: %s\n", err);
      return PB_CLI_EXIT_FAIL;
    }
    /* Surrounding whitespace (the newline of `echo TOKEN |`) is not part of it. */
    while (len && strchr(" \t\r\n", stdin_text[len - 1])) stdin_text[--len] = '\0';
    token = stdin_text + strspn(stdin_text, " \t\r\n");
  }
  int rc = pb_cli_token_save(token, &path, err, sizeof(err));
  free(stdin_text);
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  fprintf(ctx->out, "token saved to %s\n", path);
  free(path);
  return PB_CLI_EXIT_OK;
}

/* ---- the shared quick-action runner ----------------------------------- */

/* Does the Content-Type ct name media type mt (ignoring case and parameters)? */
static int media_is(const char *ct, const char *mt) {
  size_t n = strlen(mt);
  return !strncasecmp(ct, mt, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static const char *ext_for(const char *ct, const char *fallback) {
  static const char *const map[][2] = {
      {"image/png", "png"},       {"image/jpeg", "jpeg"}, {"image/webp", "webp"},
      {"application/pdf", "pdf"}, {"text/html", "html"},  {"text/markdown", "md"},
      {"application/json", "json"}, {"text/plain", "txt"},
  };
  for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (media_is(ct, map[i][0])) return map[i][1];
  return fallback ? fallback : "bin";
}

/* Prints at most max bytes of s with control characters replaced, so a
 * server's message cannot drive the terminal. */
static void put_clean(FILE *f, const char *s, size_t max) {
  for (size_t i = 0; s[i] && i < max; i++) {
    unsigned char c = (unsigned char)s[i];
    fputc(c < 0x20 || c == 0x7f ? ' ' : c, f);
  }
}

static void report_error(pb_cli_ctx *ctx, const pb_cli_request *req, const pb_cli_response *resp,
                         const cJSON *doc) {
  const cJSON *e0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "errors"), 0);
  const char *code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "code"));
  const char *msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e0, "message"));
  fputs("ppod: ", ctx->err);
  if (code) {
    put_clean(ctx->err, code, 100);
    if (msg) {
      fputs(": ", ctx->err);
      put_clean(ctx->err, msg, 2000);
    }
  } else {
    fprintf(ctx->err, "HTTP %ld from %s%s", resp->status, req->base_url, req->route);
    if (resp->body.len && (media_is(resp->content_type, "text/plain") ||
                           media_is(resp->content_type, "text/html"))) {
      fputs(": ", ctx->err);
      put_clean(ctx->err, resp->body.data, 200);
    }
  }
  fputc('\n', ctx->err);
  if (resp->retry_after >= 0) fprintf(ctx->err, "ppod: retry in %ld s\n", resp->retry_after);
  if (resp->status == 401 && !req->token)
    fprintf(ctx->err, "ppod: no token given: pass --token, set PAPERPOD_TOKEN or run "
                      "'ppod login <token>'\n");
}

/* Puts data at path (NULL or "-": ctx->out). A file is written atomically and
 * its path printed; text for a terminal gets a final newline. */
static int emit(pb_cli_ctx *ctx, const char *path, const char *data, size_t len, int text) {
  char err[1024];
  if (!data) data = "";
  if (!path || !strcmp(path, "-")) {
    fwrite(data, 1, len, ctx->out);
    if (text && len && data[len - 1] != '\n') fputc('\n', ctx->out);
    if (fflush(ctx->out) || ferror(ctx->out)) {
      fprintf(ctx->err, "ppod: cannot write to stdout: %s\n", strerror(errno));
      return PB_CLI_EXIT_FAIL;
    }
    return PB_CLI_EXIT_OK;
  }
  if (pb_cli_file_write_atomic(path, data, len, 0666, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return PB_CLI_EXIT_FAIL;
  }
  fprintf(ctx->out, "%s\n", path);
  return PB_CLI_EXIT_OK;
}

static int emit_result(pb_cli_ctx *ctx, const char *path, const cJSON *result) {
  if (cJSON_IsString(result))
    return emit(ctx, path, result->valuestring, strlen(result->valuestring), 1);
  char *json = cJSON_Print(result);
  if (!json) {
    fprintf(ctx->err, "ppod: %s\n", pb_strerror(PB_ENOMEM));
    return PB_CLI_EXIT_FAIL;
  }
  int status = emit(ctx, path, json, strlen(json), 1);
  cJSON_free(json);
  return status;
}

static int handle_response(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a,
                           const pb_cli_request *req, const pb_cli_response *resp) {
  int is_json = media_is(resp->content_type, "application/json");
  cJSON *doc = is_json ? cJSON_ParseWithLength(resp->body.data, resp->body.len) : NULL;
  int ok = resp->status >= 200 && resp->status < 300 &&
           !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(doc, "success"));
  int status;
  if (!ok) {
    report_error(ctx, req, resp, doc);
    status = PB_CLI_EXIT_FAIL;
  } else if (is_json) {
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(doc, "result");
    if (!result) {
      fprintf(ctx->err, "ppod: %s%s answered %s JSON without a result\n", req->base_url,
              req->route, doc ? "" : "malformed");
      status = PB_CLI_EXIT_FAIL;
    } else {
      status = emit_result(ctx, a->out, result);
    }
  } else {
    char def[128];
    const char *path = a->out;
    if (!path && cmd->output == PB_CLI_OUT_FILE && cmd->out_stem) {
      snprintf(def, sizeof(def), "%s.%s", cmd->out_stem,
               ext_for(resp->content_type, cmd->out_ext));
      path = def;
    }
    status = emit(ctx, path, resp->body.data, resp->body.len, cmd->output == PB_CLI_OUT_RESULT);
  }
  cJSON_Delete(doc);
  return status;
}

/* --trace FILE.zip: fetches the trace the action recorded and saves it. */
static int save_trace(pb_cli_ctx *ctx, const pb_cli_args *a, const char *url, const char *token,
                      const char *trace_id) {
  if (!*trace_id) {
    fprintf(ctx->err, "ppod: the server recorded no trace\n");
    return -1;
  }
  char route[128], err[1024];
  snprintf(route, sizeof(route), "/browser/traces/%s", trace_id);
  pb_cli_request req = {.method = "GET", .base_url = url, .route = route, .token = token,
                        .max_response = PB_CLI_MAX_RESPONSE, .timeout_ms = PB_CLI_TIMEOUT_MS};
  pb_cli_response resp;
  int rc = ctx->send(&req, &resp, err, sizeof(err));
  if (!rc && resp.status != 200) {
    snprintf(err, sizeof(err), "fetching the trace: HTTP %ld", resp.status);
    rc = PB_EIO;
  }
  if (!rc) rc = pb_cli_file_write_atomic(a->trace, resp.body.data, resp.body.len, 0644, err, sizeof(err));
  pb_buf_free(&resp.body);
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return -1;
  }
  fprintf(ctx->err, "trace: %s\n", a->trace);
  return 0;
}

int pb_cli_run_action(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  char err[1024];
  char *url = NULL, *token = NULL;
  int rc = pb_cli_resolve(a->url, a->token, &url, &token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  pb_cli_request req = {
      .method = "POST",
      .base_url = url,
      .route = cmd->route,
      .token = token,
      .body = a->body,
      .body_len = a->body ? strlen(a->body) : 0,
      .max_response = PB_CLI_MAX_RESPONSE,
      .timeout_ms = PB_CLI_TIMEOUT_MS,
  };
  pb_cli_response resp;
  int status;
  if (ctx->send(&req, &resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    status = PB_CLI_EXIT_FAIL;
  } else {
    status = handle_response(cmd, ctx, a, &req, &resp);
    if (a->trace && resp.status < 300 && save_trace(ctx, a, url, token, resp.trace_id))
      status = PB_CLI_EXIT_FAIL;
  }
  pb_buf_free(&resp.body);
  free(url);
  free(token);
  return status;
}

/* ---- sessions ---------------------------------------------------------- */

/* One JSON API call: the server and token resolved, the answer parsed. */
typedef struct {
  char *url, *token;
  pb_cli_request req;
  pb_cli_response resp;
  char route[512];
  cJSON *doc;
  const cJSON *result; /* doc's result on success */
} api_call;

static void api_done(api_call *c) {
  cJSON_Delete(c->doc);
  pb_buf_free(&c->resp.body);
  free(c->url);
  free(c->token);
  memset(c, 0, sizeof(*c));
}

/* Sends method route (body may be NULL) and expects a JSON envelope with a
 * result. PB_CLI_EXIT_OK with c->result set, else the error was reported and
 * the exit status is returned. Either way call api_done(c). */
static int api_n(pb_cli_ctx *ctx, const pb_cli_args *a, const char *method, const char *route,
                 const char *body, size_t body_len, api_call *c) {
  char err[1024];
  memset(c, 0, sizeof(*c));
  pb_buf_init(&c->resp.body, 0);
  pb_strlcpy(c->route, route, sizeof(c->route));
  int rc = pb_cli_resolve(a->url, a->token, &c->url, &c->token, err, sizeof(err));
  if (rc) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return rc == PB_EINVAL ? PB_CLI_EXIT_USAGE : PB_CLI_EXIT_FAIL;
  }
  c->req = (pb_cli_request){
      .method = method,
      .base_url = c->url,
      .route = c->route,
      .token = c->token,
      .body = body,
      .body_len = body_len,
      .max_response = PB_CLI_MAX_RESPONSE,
      .timeout_ms = PB_CLI_TIMEOUT_MS,
  };
  if (ctx->send(&c->req, &c->resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return PB_CLI_EXIT_FAIL;
  }
  if (media_is(c->resp.content_type, "application/json"))
    c->doc = cJSON_ParseWithLength(c->resp.body.data, c->resp.body.len);
  if (c->resp.status < 200 || c->resp.status >= 300 ||
      cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(c->doc, "success"))) {
    report_error(ctx, &c->req, &c->resp, c->doc);
    return PB_CLI_EXIT_FAIL;
  }
  c->result = cJSON_GetObjectItemCaseSensitive(c->doc, "result");
  if (!c->result) {
    fprintf(ctx->err, "ppod: %s%s answered %s without a result\n", c->url, c->route,
            c->doc ? "JSON" : "something other than JSON");
    return PB_CLI_EXIT_FAIL;
  }
  return PB_CLI_EXIT_OK;
}

static int api(pb_cli_ctx *ctx, const pb_cli_args *a, const char *method, const char *route,
               const char *body, api_call *c) {
  return api_n(ctx, a, method, route, body, body ? strlen(body) : 0, c);
}

/* Session ids are opaque but plain (the server's are hex); anything else
 * would change the route it goes into. */
static int session_route(pb_cli_ctx *ctx, const char *id, char *route, size_t cap) {
  size_t n = strlen(id);
  if (n == 0 || n > 80 || strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_") != n) {
    fputs("ppod: '", ctx->err);
    put_clean(ctx->err, id, 100);
    fprintf(ctx->err, "' is not a session id (see 'ppod browser:sessions')\n");
    return PB_CLI_EXIT_USAGE;
  }
  snprintf(route, cap, "/browser/sessions/%s", id);
  return PB_CLI_EXIT_OK;
}

static int cmd_acquire(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  api_call c;
  int status = api(ctx, a, "POST", cmd->route, a->body, &c);
  if (status == PB_CLI_EXIT_OK) {
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c.result, "sessionId"));
    if (a->json) {
      status = emit_result(ctx, NULL, c.result);
    } else if (!id) {
      fprintf(ctx->err, "ppod: %s%s answered without a sessionId\n", c.url, c.route);
      status = PB_CLI_EXIT_FAIL;
    } else {
      status = emit(ctx, NULL, id, strlen(id), 1);
    }
  }
  api_done(&c);
  return status;
}

/* base ("http://h:p[/prefix]") with its scheme made ws or wss, then route. */
static char *ws_url(const char *base, const char *route) {
  pb_buf b;
  pb_buf_init(&b, 16384);
  int rc;
  if (!strncasecmp(base, "https://", 8))
    rc = pb_buf_printf(&b, "wss://%s%s/devtools/browser", base + 8, route);
  else if (!strncasecmp(base, "http://", 7))
    rc = pb_buf_printf(&b, "ws://%s%s/devtools/browser", base + 7, route);
  else
    rc = pb_buf_printf(&b, "%s%s/devtools/browser", base, route);
  if (rc) {
    pb_buf_free(&b);
    return NULL;
  }
  return pb_buf_steal(&b, NULL);
}

static int cmd_connect(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char route[128];
  int status = session_route(ctx, a->pos[0], route, sizeof(route));
  if (status) return status;
  api_call c;
  status = api(ctx, a, "GET", route, NULL, &c);
  cJSON *in = a->body ? cJSON_Parse(a->body) : NULL;
  int print = a->json || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "print"));
  if (status == PB_CLI_EXIT_OK && !print) {
    /* The session exists and the token is good: serve it locally. */
    const cJSON *port = cJSON_GetObjectItemCaseSensitive(in, "port");
    pb_cli_connect o = {
        .base_url = c.url,
        .token = c.token,
        .session_id = a->pos[0],
        .host = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(in, "host")),
        .port = cJSON_IsNumber(port) ? port->valueint : PB_CLI_CONNECT_PORT,
        .send = ctx->send,
        .out = ctx->out,
        .err = ctx->err,
    };
    if (ctx->serve_cdp) {
      status = ctx->serve_cdp(&o);
    } else {
      fprintf(ctx->err, "ppod: browser:connect cannot listen here; use --print\n");
      status = PB_CLI_EXIT_FAIL;
    }
    cJSON_Delete(in);
    api_done(&c);
    return status;
  }
  cJSON_Delete(in);
  char *ws = status == PB_CLI_EXIT_OK ? ws_url(c.url, route) : NULL;
  if (status == PB_CLI_EXIT_OK && !ws) {
    fprintf(ctx->err, "ppod: %s\n", pb_strerror(PB_ENOMEM));
    status = PB_CLI_EXIT_FAIL;
  } else if (status == PB_CLI_EXIT_OK && a->json) {
    cJSON *r = cJSON_Duplicate(c.result, 1);
    if (cJSON_IsObject(r)) {
      cJSON_DeleteItemFromObjectCaseSensitive(r, "webSocketDebuggerUrl");
      cJSON_AddStringToObject(r, "webSocketDebuggerUrl", ws);
    }
    status = r ? emit_result(ctx, NULL, r) : PB_CLI_EXIT_FAIL;
    cJSON_Delete(r);
  } else if (status == PB_CLI_EXIT_OK) {
    status = emit(ctx, NULL, ws, strlen(ws), 1);
  }
  if (status == PB_CLI_EXIT_OK)
    fprintf(ctx->err,
            "ppod: connect with puppeteer.connect({browserWSEndpoint: URL + '?token=' + TOKEN}) "
            "or Playwright chromium.connectOverCDP(URL, {headers: {Authorization: 'Bearer ' + "
            "TOKEN}}); one client at a time\n");
  free(ws);
  api_done(&c);
  return status;
}

/* Appends "?k=v&..." for the body's fields (numbers and plain strings). */
static int query_from_body(const char *body, char *route, size_t cap) {
  cJSON *j = body ? cJSON_Parse(body) : NULL;
  size_t n = strlen(route);
  char sep = '?';
  int rc = 0;
  for (const cJSON *f = j ? j->child : NULL; f && !rc; f = f->next) {
    int w;
    if (cJSON_IsNumber(f))
      w = snprintf(route + n, cap - n, "%c%s=%.0f", sep, f->string, f->valuedouble);
    else if (cJSON_IsString(f) && strspn(f->valuestring, "abcdefghijklmnopqrstuvwxyz"
                                                          "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
                                      strlen(f->valuestring))
      w = snprintf(route + n, cap - n, "%c%s=%s", sep, f->string, f->valuestring);
    else
      continue;
    if (w < 0 || (size_t)w >= cap - n)
      rc = PB_ETOOBIG;
    else
      n += (size_t)w;
    sep = '&';
  }
  route[n] = '\0';
  cJSON_Delete(j);
  return rc;
}

static int cmd_get(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  char route[512];
  pb_strlcpy(route, cmd->route, sizeof(route));
  if (query_from_body(a->body, route, sizeof(route))) {
    fprintf(ctx->err, "ppod: %s\n", pb_strerror(PB_ETOOBIG));
    return PB_CLI_EXIT_FAIL;
  }
  api_call c;
  int status = api(ctx, a, "GET", route, NULL, &c);
  if (status == PB_CLI_EXIT_OK) status = emit_result(ctx, a->out, c.result);
  api_done(&c);
  return status;
}

static int cmd_live(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char route[160];
  int status = session_route(ctx, a->pos[0], route, sizeof(route) - 8);
  if (status) return status;
  pb_strlcpy(route + strlen(route), "/live", 8);
  /* The CLI's flags become the route's body: {mode, ttl}. */
  cJSON *in = a->body ? cJSON_Parse(a->body) : NULL, *body = cJSON_CreateObject();
  int open = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "open"));
  const cJSON *ttl = cJSON_GetObjectItemCaseSensitive(in, "ttl");
  cJSON_AddStringToObject(body, "mode",
                          cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "viewOnly"))
                              ? "view"
                              : "interactive");
  if (cJSON_IsNumber(ttl)) cJSON_AddNumberToObject(body, "ttl", ttl->valuedouble);
  char *text = cJSON_PrintUnformatted(body);
  cJSON_Delete(in);
  cJSON_Delete(body);
  if (!text) return PB_CLI_EXIT_FAIL;
  api_call c;
  status = api(ctx, a, "POST", route, text, &c);
  free(text);
  const cJSON *url = status == PB_CLI_EXIT_OK ? cJSON_GetObjectItemCaseSensitive(c.result, "url")
                                              : NULL;
  if (status == PB_CLI_EXIT_OK && (a->json || !cJSON_IsString(url))) {
    status = emit_result(ctx, NULL, c.result);
  } else if (status == PB_CLI_EXIT_OK) {
    status = emit(ctx, NULL, url->valuestring, strlen(url->valuestring), 1);
    const char *desk = getenv("DISPLAY");
    if (!desk || !*desk) desk = getenv("WAYLAND_DISPLAY");
    if (open && desk && *desk) {
      /* The URL is the server's own answer (http://host/live/<hex>): no
       * shell is involved, and it is passed as one argument. */
      pid_t pid = fork();
      if (pid == 0) {
        execlp("xdg-open", "xdg-open", url->valuestring, (char *)NULL);
        _exit(127);
      }
    } else if (open) {
      fprintf(ctx->err, "ppod: no desktop here (DISPLAY and WAYLAND_DISPLAY unset); not opened\n");
    }
  }
  api_done(&c);
  return status;
}

static int cmd_handoff(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char route[160];
  int status = session_route(ctx, a->pos[0], route, sizeof(route) - 24);
  if (status) return status;
  pb_strlcpy(route + strlen(route), "/handoff", 12);
  /* The CLI's flags become the route's body: {message, timeout}. */
  cJSON *in = a->body ? cJSON_Parse(a->body) : NULL, *body = cJSON_CreateObject();
  int wait = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "wait"));
  const cJSON *msg = cJSON_GetObjectItemCaseSensitive(in, "message");
  const cJSON *to = cJSON_GetObjectItemCaseSensitive(in, "timeout");
  if (cJSON_IsString(msg)) cJSON_AddStringToObject(body, "message", msg->valuestring);
  if (cJSON_IsNumber(to)) cJSON_AddNumberToObject(body, "timeout", to->valuedouble);
  char *text = cJSON_PrintUnformatted(body);
  cJSON_Delete(in);
  cJSON_Delete(body);
  if (!text) return PB_CLI_EXIT_FAIL;
  api_call c;
  status = api(ctx, a, "POST", route, text, &c);
  free(text);
  const cJSON *url = status == PB_CLI_EXIT_OK ? cJSON_GetObjectItemCaseSensitive(c.result, "url")
                                              : NULL;
  if (status == PB_CLI_EXIT_OK && (a->json || !cJSON_IsString(url)))
    status = emit_result(ctx, NULL, c.result);
  else if (status == PB_CLI_EXIT_OK)
    status = emit(ctx, NULL, url->valuestring, strlen(url->valuestring), 1);
  api_done(&c);
  if (status != PB_CLI_EXIT_OK || !wait) return status;
  fflush(ctx->out); /* the person needs the URL now */
  /* Long polls of a minute each until it is no longer waiting; a timed-out
   * handoff is the server's 408 HANDOFF_TIMEOUT, reported as an error. */
  pb_strlcpy(route + strlen(route), "?wait=60", 12);
  for (;;) {
    status = api(ctx, a, "GET", route, NULL, &c);
    const char *st = status == PB_CLI_EXIT_OK
                         ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c.result, "state"))
                         : NULL;
    if (status == PB_CLI_EXIT_OK && st && !strcmp(st, "waiting")) {
      api_done(&c);
      continue;
    }
    if (status == PB_CLI_EXIT_OK) status = emit_result(ctx, NULL, c.result);
    api_done(&c);
    return status;
  }
}

static int cmd_release(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char route[128];
  int status = session_route(ctx, a->pos[0], route, sizeof(route));
  if (status) return status;
  api_call c;
  status = api(ctx, a, "DELETE", route, NULL, &c);
  if (status == PB_CLI_EXIT_OK) {
    if (a->json) {
      status = emit_result(ctx, NULL, c.result);
    } else {
      fprintf(ctx->out, "released %s\n", a->pos[0]);
      status = fflush(ctx->out) ? PB_CLI_EXIT_FAIL : PB_CLI_EXIT_OK;
    }
  }
  api_done(&c);
  return status;
}

/* ---- files in and out of a session ------------------------------------ */

/* "%XX" for every byte but [A-Za-z0-9._-]. */
static void url_encode(const char *s, char *out, size_t cap) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && n + 4 < cap; p++) {
    if (isalnum(*p) || *p == '.' || *p == '-' || *p == '_')
      out[n++] = (char)*p;
    else
      n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
  }
  out[n] = '\0';
}

static int cmd_upload(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char base[128], err[1024];
  int status = session_route(ctx, a->pos[0], base, sizeof(base));
  for (int i = 1; i < a->npos && !status; i++) {
    char *data = NULL;
    size_t len = 0;
    if (pb_cli_file_read(a->pos[i], (size_t)50 << 20, &data, &len, err, sizeof(err))) {
      fprintf(ctx->err, "ppod: %s\n", err);
      return PB_CLI_EXIT_FAIL;
    }
    const char *slash = strrchr(a->pos[i], '/');
    char name[800], route[1024];
    url_encode(slash ? slash + 1 : a->pos[i], name, sizeof(name));
    snprintf(route, sizeof(route), "%s/files?name=%s", base, name);
    api_call c;
    status = api_n(ctx, a, "POST", route, data, len, &c);
    free(data);
    if (status == PB_CLI_EXIT_OK) {
      const char *path = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c.result, "path"));
      if (a->json)
        status = emit_result(ctx, NULL, c.result);
      else if (path)
        status = emit(ctx, NULL, path, strlen(path), 1);
      else
        status = PB_CLI_EXIT_FAIL;
    }
    api_done(&c);
  }
  return status;
}

/* A suggested name as a plain file name in DIR: no '/', no leading '.'. */
static void safe_name(const char *name, const char *id, char *out, size_t cap) {
  size_t n = 0;
  for (const char *p = name; *p && n + 1 < cap; p++)
    out[n++] = *p == '/' || *p == '\\' || (unsigned char)*p < 0x20 ? '_' : *p;
  out[n] = '\0';
  if (!n || out[0] == '.') snprintf(out, cap, "download-%.40s", id);
}

/* GET of route's bytes (not a JSON envelope), written to file atomically;
 * the file's name is printed. */
static int get_to_file(pb_cli_ctx *ctx, const pb_cli_args *a, const char *route,
                       const char *file) {
  char err[1024];
  char *url = NULL, *token = NULL;
  if (pb_cli_resolve(a->url, a->token, &url, &token, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    return PB_CLI_EXIT_FAIL;
  }
  pb_cli_request req = {.method = "GET",
                        .base_url = url,
                        .route = route,
                        .token = token,
                        .max_response = PB_CLI_MAX_RESPONSE,
                        .timeout_ms = PB_CLI_TIMEOUT_MS};
  pb_cli_response resp;
  pb_buf_init(&resp.body, 0);
  int status = PB_CLI_EXIT_OK;
  if (ctx->send(&req, &resp, err, sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    status = PB_CLI_EXIT_FAIL;
  } else if (resp.status != 200) {
    cJSON *doc = cJSON_ParseWithLength(resp.body.data, resp.body.len);
    report_error(ctx, &req, &resp, doc);
    cJSON_Delete(doc);
    status = PB_CLI_EXIT_FAIL;
  } else if (pb_cli_file_write_atomic(file, resp.body.data, resp.body.len, 0644, err,
                                      sizeof(err))) {
    fprintf(ctx->err, "ppod: %s\n", err);
    status = PB_CLI_EXIT_FAIL;
  } else {
    fprintf(ctx->out, "%s\n", file);
    status = fflush(ctx->out) ? PB_CLI_EXIT_FAIL : PB_CLI_EXIT_OK;
  }
  pb_buf_free(&resp.body);
  free(url);
  free(token);
  return status;
}

/* One download's bytes, saved into a->out under its (made safe) name. */
static int save_download(pb_cli_ctx *ctx, const pb_cli_args *a, const char *base,
                         const char *id, const char *name) {
  char route[512], file[4096], leaf[300];
  snprintf(route, sizeof(route), "%s/downloads/%s", base, id);
  safe_name(name, id, leaf, sizeof(leaf));
  snprintf(file, sizeof(file), "%s/%s", a->out, leaf);
  return get_to_file(ctx, a, route, file);
}

static int cmd_downloads(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char base[128], route[256], err[1024];
  int status = session_route(ctx, a->pos[0], base, sizeof(base));
  if (status) return status;
  snprintf(route, sizeof(route), "%s/downloads", base);
  api_call c;
  status = api(ctx, a, "GET", route, NULL, &c);
  if (status == PB_CLI_EXIT_OK && a->out) {
    if (pb_cli_mkdir_p(a->out, 0755, err, sizeof(err))) {
      fprintf(ctx->err, "ppod: %s\n", err);
      status = PB_CLI_EXIT_FAIL;
    }
    const cJSON *d;
    cJSON_ArrayForEach(d, c.result) {
      if (status) break;
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
      const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "state"));
      const char *nm =
          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "suggestedFilename"));
      if (id && st && !strcmp(st, "completed"))
        status = save_download(ctx, a, base, id, nm ? nm : "");
    }
  } else if (status == PB_CLI_EXIT_OK && a->json) {
    status = emit_result(ctx, NULL, c.result);
  } else if (status == PB_CLI_EXIT_OK) {
    /* id, state, bytes and name, one download a line */
    const cJSON *d;
    cJSON_ArrayForEach(d, c.result) {
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "id"));
      const char *st = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "state"));
      const char *nm =
          cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "suggestedFilename"));
      fprintf(ctx->out, "%s\t%s\t%.0f\t", id ? id : "", st ? st : "",
              cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(d, "bytes")));
      put_clean(ctx->out, nm ? nm : "", 300);
      fputc('\n', ctx->out);
    }
    status = fflush(ctx->out) ? PB_CLI_EXIT_FAIL : PB_CLI_EXIT_OK;
  }
  api_done(&c);
  return status;
}

/* browser:recording ID [-o FILE]: the recording's zip, saved. */
static int cmd_recording(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  (void)cmd;
  char base[128], route[256], file[4096];
  int status = session_route(ctx, a->pos[0], base, sizeof(base));
  if (status) return status;
  snprintf(route, sizeof(route), "%s/recording?format=zip", base);
  if (a->out)
    pb_strlcpy(file, a->out, sizeof(file));
  else
    snprintf(file, sizeof(file), "recording-%s.zip", a->pos[0]);
  return get_to_file(ctx, a, route, file);
}

/* browser:contexts [create [name] | get ID | delete ID]. */
static int cmd_contexts(const pb_cli_command *cmd, pb_cli_ctx *ctx, const pb_cli_args *a) {
  const char *verb = a->npos > 0 ? a->pos[0] : NULL;
  const char *arg = a->npos > 1 ? a->pos[1] : NULL;
  char route[128];
  api_call c;
  int status;
  if (!verb) {
    status = api(ctx, a, "GET", cmd->route, NULL, &c);
    if (status == PB_CLI_EXIT_OK) status = emit_result(ctx, NULL, c.result);
    api_done(&c);
    return status;
  }
  if (!strcmp(verb, "create")) {
    cJSON *body = cJSON_CreateObject();
    if (arg) cJSON_AddStringToObject(body, "name", arg);
    char *text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    status = text ? api(ctx, a, "POST", cmd->route, text, &c) : PB_CLI_EXIT_FAIL;
    free(text);
    if (status == PB_CLI_EXIT_OK) {
      const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c.result, "id"));
      status = a->json || !id ? emit_result(ctx, NULL, c.result) : emit(ctx, NULL, id, strlen(id), 1);
    }
    api_done(&c);
    return status;
  }
  int get = !strcmp(verb, "get"), del = !strcmp(verb, "delete");
  if ((!get && !del) || !arg) {
    fprintf(ctx->err, "ppod: browser:contexts takes create [name], get <id> or delete <id>\n");
    return PB_CLI_EXIT_USAGE;
  }
  /* Ids are 32 hex digits; anything else would change the route. */
  if (strlen(arg) != 32 || strspn(arg, "0123456789abcdef") != 32) {
    fputs("ppod: '", ctx->err);
    put_clean(ctx->err, arg, 100);
    fprintf(ctx->err, "' is not a context id (see 'ppod browser:contexts')\n");
    return PB_CLI_EXIT_USAGE;
  }
  snprintf(route, sizeof(route), "%s/%s", cmd->route, arg);
  status = api(ctx, a, get ? "GET" : "DELETE", route, NULL, &c);
  if (status == PB_CLI_EXIT_OK) {
    if (get || a->json) {
      status = emit_result(ctx, NULL, c.result);
    } else {
      fprintf(ctx->out, "deleted %s\n", arg);
      status = fflush(ctx->out) ? PB_CLI_EXIT_FAIL : PB_CLI_EXIT_OK;
    }
  }
  api_done(&c);
  return status;
}

/* ---- main ------------------------------------------------------------- */

static int usage_error(pb_cli_ctx *ctx, const pb_cli_command *cmd, const char *msg) {
  fprintf(ctx->err, "ppod: %s\n", msg);
  if (cmd) {
    pb_cli_print_usage(cmd, ctx->err);
    fprintf(ctx->err, "Run 'ppod %s --help' for its options.\n", cmd->name);
  } else {
    fprintf(ctx->err, "Run 'ppod help' for the list of commands.\n");
  }
  return PB_CLI_EXIT_USAGE;
}

int pb_cli_main(pb_cli_ctx *ctx, int argc, char **argv) {
  char msg[1024];
  int help = 0, i = 1;
  /* Global options may come before the command; they are handed to it. */
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    const pb_cli_flag *f = pb_cli_find_flag(NULL, argv[i]);
    if (!f) {
      snprintf(msg, sizeof(msg), "unknown option '%s'", argv[i]);
      return usage_error(ctx, NULL, msg);
    }
    if (f->kind == PB_CLI_F_HELP)
      help = 1;
    else if (!strchr(argv[i], '=') && ++i == argc) {
      snprintf(msg, sizeof(msg), "%s wants a value (%s)", f->name, f->metavar);
      return usage_error(ctx, NULL, msg);
    }
  }
  if (i == argc) {
    pb_cli_print_overview(help ? ctx->out : ctx->err);
    return help ? PB_CLI_EXIT_OK : PB_CLI_EXIT_USAGE;
  }
  const pb_cli_command *cmd = pb_cli_find_command(argv[i]);
  if (!cmd) {
    snprintf(msg, sizeof(msg), "unknown command '%s'", argv[i]);
    return usage_error(ctx, NULL, msg);
  }

  /* The global options given before the command, then its own arguments
   * (which may hold a "--"). */
  int n = 0;
  char **args = malloc(sizeof(char *) * (size_t)argc);
  if (!args) {
    fprintf(ctx->err, "ppod: %s\n", pb_strerror(PB_ENOMEM));
    return PB_CLI_EXIT_FAIL;
  }
  for (int j = 1; j < i; j++) args[n++] = argv[j];
  for (int j = i + 1; j < argc; j++) args[n++] = argv[j];

  int status;
  pb_cli_args a;
  if (pb_cli_wants_help(cmd, n, args)) {
    pb_cli_print_help(cmd, ctx->out);
    status = PB_CLI_EXIT_OK;
  } else {
    int rc = pb_cli_parse(cmd, n, args, &a, msg, sizeof(msg));
    if (rc == PB_EINVAL) {
      status = usage_error(ctx, cmd, msg);
    } else if (rc) {
      fprintf(ctx->err, "ppod: %s\n", msg);
      status = PB_CLI_EXIT_FAIL;
    } else {
      status = cmd->handler(cmd, ctx, &a);
      pb_cli_args_free(&a);
    }
  }
  free(args);
  return status;
}
