#ifndef PB_CLI_ARGS_H
#define PB_CLI_ARGS_H
/* ppod's commands and flags are data: a command is a row of pb_cli_command,
 * a flag a row of pb_cli_flag naming the request-body field it sets. Parsing
 * turns argv straight into the JSON body the server expects, so a new quick
 * action needs a row, not code. Nothing here talks to the network. */
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
  PB_CLI_F_BOOL,      /* path = true */
  PB_CLI_F_STRING,    /* path = the value */
  PB_CLI_F_INT,       /* path = the value, an integer in [min, max] */
  PB_CLI_F_ENUM,      /* path = the value, one of choices ("png|jpeg|webp") */
  PB_CLI_F_SIZE,      /* "WxH": path.width = W, path.height = H, each in [min, max] */
  PB_CLI_F_TEXT_FILE, /* path = the text of the file named by the value ("-" = stdin) */
  PB_CLI_F_OUTPUT,    /* where the result goes (pb_cli_args.out); not in the body */
  PB_CLI_F_URL,       /* server URL (pb_cli_args.url) */
  PB_CLI_F_TOKEN,     /* API token (pb_cli_args.token) */
  PB_CLI_F_HELP,      /* pb_cli_args.help */
  PB_CLI_F_JSON,      /* pb_cli_args.json: print the whole JSON result */
  PB_CLI_F_TRACE,     /* path = true, and the trace zip goes to pb_cli_args.trace */
  PB_CLI_F_ENUM_CONST, /* a switch: path = metavar (e.g. --full sets mode "full") */
} pb_cli_flag_kind;

typedef struct {
  const char *name;    /* long form, "--full-page" */
  const char *alias;   /* short form such as "-o", or NULL */
  pb_cli_flag_kind kind;
  const char *path;    /* dotted body field: "screenshotOptions.fullPage" */
  const char *metavar; /* the value in help: "WxH"; NULL for BOOL (ENUM shows choices) */
  const char *help;    /* one line */
  const char *choices; /* ENUM only */
  long long min, max;  /* INT and SIZE only */
} pb_cli_flag;

/* Output of a command that talks to the server. */
enum {
  PB_CLI_OUT_NONE = 0,
  PB_CLI_OUT_FILE,   /* bytes saved to -o FILE, default <out_stem>.<ext>; prints the path */
  PB_CLI_OUT_RESULT, /* JSON envelope's result printed (strings raw, the rest as JSON) */
};

/* Process exit statuses. */
enum { PB_CLI_EXIT_OK = 0, PB_CLI_EXIT_FAIL = 1, PB_CLI_EXIT_USAGE = 2 };

#define PB_CLI_MAX_ARGS 8               /* positional arguments per command */
#define PB_CLI_MAX_TEXT_FILE (10u << 20) /* the server's request-body cap */

struct pb_cli_ctx;
typedef struct pb_cli_command pb_cli_command;

/* One parsed command line. Strings are borrowed from argv unless noted. */
typedef struct pb_cli_args {
  char *body;                        /* JSON request body when the command has a
                                        route, else NULL; owned */
  const char *pos[PB_CLI_MAX_ARGS]; /* positional arguments */
  int npos;
  const char *out;   /* -o value or NULL */
  const char *url;   /* --url value or NULL */
  const char *token; /* --token value or NULL */
  int help;          /* --help seen */
  int json;          /* --json seen (PB_CLI_F_JSON) */
  const char *trace; /* --trace FILE.zip or NULL */
} pb_cli_args;

/* Runs a parsed command; returns a PB_CLI_EXIT_* status. */
typedef int (*pb_cli_handler)(const pb_cli_command *cmd, struct pb_cli_ctx *ctx,
                              const pb_cli_args *a);

struct pb_cli_command {
  const char *name;                /* "browser:screenshot" */
  const char *summary;             /* one line for `ppod help` */
  const char *args;                /* positional synopsis: "<url>" */
  const char *description;         /* more for `ppod CMD --help`, or NULL */
  const pb_cli_flag *const *flags; /* NULL-terminated list of flag tables; each
                                      table ends with a row whose name is NULL.
                                      pb_cli_global_flags apply to every command */
  pb_cli_handler handler;
  const char *route;    /* the POST route it calls, or NULL (no body is built) */
  int output;           /* PB_CLI_OUT_* */
  const char *out_stem; /* OUT_FILE default name before the extension */
  const char *out_ext;  /* extension when the Content-Type does not give one */
  int page;             /* takes a page: exactly one of <url> and --html */
  int min_args, max_args; /* positional counts; for a page command, extra
                             positionals after <url> (at most max_args) */
  /* For a page command: puts the extra positionals (n may be 0) into the
   * body. Returns 0 or PB_ENOMEM. */
  int (*extra)(cJSON *body, const char *const *args, int n);
};

/* --url, --token, --help. */
extern const pb_cli_flag pb_cli_global_flags[];

/* Finds the flag spelled arg ("--name", "--name=value" or the alias) among
 * cmd's flags and the global ones; cmd may be NULL for globals only. NULL when
 * unknown. */
const pb_cli_flag *pb_cli_find_flag(const pb_cli_command *cmd, const char *arg);

/* 1 when argv asks for help: --help or -h as an option, not as the value of
 * another flag nor after "--". */
int pb_cli_wants_help(const pb_cli_command *cmd, int argc, char **argv);

/* Parses argv (the arguments after the command name; flags and positionals in
 * any order, "--" ends the flags) and builds the request body. On success 0
 * and *a filled; free it with pb_cli_args_free. On failure *a is left empty
 * and err holds one line: PB_EINVAL for a usage error, PB_EIO, PB_ETOOBIG or
 * PB_ENOMEM when a --html file could not be read. */
int pb_cli_parse(const pb_cli_command *cmd, int argc, char **argv, pb_cli_args *a, char *err,
                 size_t errcap);

/* Releases what pb_cli_parse allocated; a zeroed or NULL a is fine. */
void pb_cli_args_free(pb_cli_args *a);

/* "usage: ppod NAME ARGS [options]" (and the --html form for page commands). */
void pb_cli_print_usage(const pb_cli_command *cmd, FILE *f);

/* The usage, the description and every flag with its help. */
void pb_cli_print_help(const pb_cli_command *cmd, FILE *f);

/* Prints a table of flags, the first column padded to width. */
void pb_cli_print_flags(const pb_cli_flag *flags, int width, FILE *f);

#endif
