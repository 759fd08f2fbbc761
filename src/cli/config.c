#include "cli/config.h"

#include "cli/files.h"
#include "common/pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* $XDG_CONFIG_HOME/ppod or $HOME/.config/ppod. The XDG spec says a relative
 * XDG_CONFIG_HOME is to be ignored. */
static int config_dir(pb_buf *b) {
  const char *xdg = getenv("XDG_CONFIG_HOME");
  const char *home = getenv("HOME");
  if (xdg && xdg[0] == '/') return pb_buf_printf(b, "%s/ppod", xdg);
  if (home && *home) return pb_buf_printf(b, "%s/.config/ppod", home);
  return PB_ENOTFOUND;
}

int pb_cli_token_path(char **path) {
  pb_buf b;
  pb_buf_init(&b, 8192);
  int rc = config_dir(&b);
  if (!rc) rc = pb_buf_printf(&b, "/token");
  if (rc) {
    pb_buf_free(&b);
    return rc;
  }
  *path = pb_buf_steal(&b, NULL);
  return *path ? 0 : PB_ENOMEM;
}

int pb_cli_token_check(const char *token) {
  size_t n = strlen(token);
  if (n == 0 || n > PB_CLI_MAX_TOKEN) return PB_EINVAL;
  for (size_t i = 0; i < n; i++)
    if (token[i] <= ' ' || token[i] >= 0x7f) return PB_EINVAL;
  return 0;
}

int pb_cli_token_save(const char *token, char **path_out, char *err, size_t errcap) {
  if (pb_cli_token_check(token)) {
    snprintf(err, errcap, "not a token: expected printable characters without spaces");
    return PB_EINVAL;
  }
  pb_buf dir, text;
  pb_buf_init(&dir, 8192);
  pb_buf_init(&text, PB_CLI_MAX_TOKEN + 2);
  char *path = NULL;
  int rc = config_dir(&dir);
  if (rc == PB_ENOTFOUND) {
    snprintf(err, errcap, "cannot find a config directory: set HOME or XDG_CONFIG_HOME");
    goto out;
  }
  if (rc) goto oom;
  rc = pb_cli_mkdir_p(dir.data, 0700, err, errcap);
  if (rc) goto out;
  /* The directory may predate us with looser permissions; it holds a secret. */
  if (chmod(dir.data, 0700)) {
    snprintf(err, errcap, "cannot restrict %s: %s", dir.data, strerror(errno));
    rc = PB_EIO;
    goto out;
  }
  rc = pb_cli_token_path(&path);
  if (rc) goto oom;
  rc = pb_buf_printf(&text, "%s\n", token);
  if (rc) goto oom;
  rc = pb_cli_file_write_atomic(path, text.data, text.len, 0600, err, errcap);
  if (rc) goto out;
  if (path_out) {
    *path_out = path;
    path = NULL;
  }
  goto out;
oom:
  snprintf(err, errcap, "%s", pb_strerror(rc));
out:
  free(path);
  pb_buf_free(&dir);
  pb_buf_free(&text);
  return rc;
}

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  size_t n = strlen(s);
  while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
    s[--n] = '\0';
  return s;
}

int pb_cli_token_load(char **token, char *err, size_t errcap) {
  char *path = NULL, *data = NULL;
  size_t len;
  int rc = pb_cli_token_path(&path);
  if (rc == PB_ENOTFOUND) return rc;
  if (rc) {
    snprintf(err, errcap, "config path: %s", pb_strerror(rc));
    return rc;
  }
  struct stat st;
  if (stat(path, &st) && errno == ENOENT) {
    free(path);
    return PB_ENOTFOUND;
  }
  rc = pb_cli_file_read(path, PB_CLI_MAX_TOKEN + 64, &data, &len, err, errcap);
  if (rc) {
    free(path);
    return rc;
  }
  char *t = trim(data);
  if (!*t) {
    rc = PB_ENOTFOUND;
  } else if (pb_cli_token_check(t)) {
    snprintf(err, errcap, "%s does not hold a valid token; run 'ppod login <token>' again",
             path);
    rc = PB_EINVAL;
  } else {
    memmove(data, t, strlen(t) + 1);
    *token = data;
    data = NULL;
  }
  free(data);
  free(path);
  return rc;
}

static int check_url(const char *url, const char *from, char *err, size_t errcap) {
  if ((!strncasecmp(url, "http://", 7) && url[7]) || (!strncasecmp(url, "https://", 8) && url[8]))
    return 0;
  snprintf(err, errcap, "%s '%s' is not an http:// or https:// URL", from, url);
  return PB_EINVAL;
}

int pb_cli_resolve(const char *url_flag, const char *token_flag, char **url, char **token,
                   char *err, size_t errcap) {
  const char *env_url = getenv("PAPERPOD_URL");
  const char *env_token = getenv("PAPERPOD_TOKEN");
  const char *u = PB_CLI_DEFAULT_URL, *u_from = "default";
  if (url_flag) {
    u = url_flag;
    u_from = "--url";
  } else if (env_url && *env_url) {
    u = env_url;
    u_from = "PAPERPOD_URL";
  }
  int rc = check_url(u, u_from, err, errcap);
  if (rc) return rc;

  char *t = NULL;
  const char *t_from = NULL;
  if (token_flag) {
    t = strdup(token_flag);
    t_from = "--token";
  } else if (env_token && *env_token) {
    t = strdup(env_token);
    t_from = "PAPERPOD_TOKEN";
  } else {
    rc = pb_cli_token_load(&t, err, errcap);
    if (rc == PB_ENOTFOUND) rc = 0;
    if (rc) return rc;
  }
  if (t_from && !t) rc = PB_ENOMEM;
  if (!rc && t_from && pb_cli_token_check(t)) {
    snprintf(err, errcap, "the token from %s is malformed (empty, spaces or control characters)",
             t_from);
    rc = PB_EINVAL;
  }
  char *ucopy = NULL;
  if (!rc && !(ucopy = strdup(u))) rc = PB_ENOMEM;
  if (rc) {
    if (rc == PB_ENOMEM) snprintf(err, errcap, "%s", pb_strerror(rc));
    free(t);
    return rc;
  }
  size_t n = strlen(ucopy);
  while (n > 8 && ucopy[n - 1] == '/') ucopy[--n] = '\0';
  *url = ucopy;
  *token = t;
  return 0;
}
