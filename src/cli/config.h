#ifndef PB_CLI_CONFIG_H
#define PB_CLI_CONFIG_H
/* Where ppod finds its server and token. The token `ppod login` saves lives at
 * $XDG_CONFIG_HOME/ppod/token, else $HOME/.config/ppod/token (file 0600,
 * directories 0700). */
#include <stddef.h>

#define PB_CLI_DEFAULT_URL "http://127.0.0.1:8080"
#define PB_CLI_MAX_TOKEN 4096

/* The token file's path; caller frees *path with free(). PB_ENOTFOUND when
 * neither XDG_CONFIG_HOME (absolute) nor HOME is set. */
int pb_cli_token_path(char **path);

/* 0 when token can go in an Authorization header: 1 to PB_CLI_MAX_TOKEN
 * printable ASCII characters, no spaces. PB_EINVAL otherwise. */
int pb_cli_token_check(const char *token);

/* Saves token, replacing the file atomically. On success, if path_out is not
 * NULL, *path_out is the file's path (caller frees). On failure err says why. */
int pb_cli_token_save(const char *token, char **path_out, char *err, size_t errcap);

/* Loads the saved token into *token (caller frees), surrounding whitespace
 * removed. PB_ENOTFOUND when there is none (no file, or an empty one); PB_EIO
 * or PB_EINVAL with err set when it cannot be read or is malformed. */
int pb_cli_token_load(char **token, char *err, size_t errcap);

/* Resolves the server and the token. *url: url_flag, else $PAPERPOD_URL, else
 * PB_CLI_DEFAULT_URL, without trailing slashes. *token: token_flag, else
 * $PAPERPOD_TOKEN, else the saved token, else NULL. Both are the caller's to
 * free. PB_EINVAL (not an http(s) URL, malformed token) or PB_EIO with err
 * set; nothing is returned then. */
int pb_cli_resolve(const char *url_flag, const char *token_flag, char **url, char **token,
                   char *err, size_t errcap);

#endif
