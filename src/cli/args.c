#include "cli/args.h"

#include "cli/files.h"
#include "common/pb.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const pb_cli_flag pb_cli_global_flags[] = {
    {.name = "--url", .kind = PB_CLI_F_URL, .metavar = "URL",
     .help = "server (else $PAPERPOD_URL, else http://127.0.0.1:8080)"},
    {.name = "--token", .kind = PB_CLI_F_TOKEN, .metavar = "TOKEN",
     .help = "API token (else $PAPERPOD_TOKEN, else the one saved by 'ppod login')"},
    {.name = "--help", .alias = "-h", .kind = PB_CLI_F_HELP, .help = "show this help"},
    {0},
};

static int takes_value(const pb_cli_flag *f) {
  return f->kind != PB_CLI_F_BOOL && f->kind != PB_CLI_F_HELP && f->kind != PB_CLI_F_JSON &&
         f->kind != PB_CLI_F_ENUM_CONST;
}

static const pb_cli_flag *find_in(const pb_cli_flag *t, const char *arg) {
  size_t n = strcspn(arg, "=");
  for (; t->name; t++) {
    if (!strncmp(arg, "--", 2) && strlen(t->name) == n && !strncmp(t->name, arg, n)) return t;
    if (t->alias && !strcmp(t->alias, arg)) return t;
  }
  return NULL;
}

const pb_cli_flag *pb_cli_find_flag(const pb_cli_command *cmd, const char *arg) {
  if (cmd && cmd->flags)
    for (const pb_cli_flag *const *t = cmd->flags; *t; t++) {
      const pb_cli_flag *f = find_in(*t, arg);
      if (f) return f;
    }
  return find_in(pb_cli_global_flags, arg);
}

static int is_option(const char *arg) { return arg[0] == '-' && arg[1] != '\0'; }

int pb_cli_wants_help(const pb_cli_command *cmd, int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (!strcmp(argv[i], "--")) return 0;
    if (!is_option(argv[i])) continue;
    const pb_cli_flag *f = pb_cli_find_flag(cmd, argv[i]);
    if (!f) continue;
    if (f->kind == PB_CLI_F_HELP) return 1;
    if (takes_value(f) && !strchr(argv[i], '=')) i++;
  }
  return 0;
}

static int fail(char *err, size_t errcap, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errcap, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errcap, fmt, ap);
  va_end(ap);
  return rc;
}

/* Sets root's field at the dotted path, creating the objects on the way and
 * replacing what was there (the last flag wins). Takes ownership of item. */
static int set_path(cJSON *root, const char *path, cJSON *item) {
  if (!item) return PB_ENOMEM;
  cJSON *obj = root;
  char key[64];
  for (;;) {
    size_t n = strcspn(path, ".");
    if (n >= sizeof(key)) {
      cJSON_Delete(item);
      return PB_EINVAL;
    }
    memcpy(key, path, n);
    key[n] = '\0';
    if (path[n] == '\0') {
      int ok = cJSON_GetObjectItemCaseSensitive(obj, key)
                   ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, item)
                   : cJSON_AddItemToObject(obj, key, item);
      if (!ok) cJSON_Delete(item);
      return ok ? 0 : PB_ENOMEM;
    }
    cJSON *next = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsObject(next)) {
      if (next) cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
      next = cJSON_AddObjectToObject(obj, key);
      if (!next) {
        cJSON_Delete(item);
        return PB_ENOMEM;
      }
    }
    obj = next;
    path += n + 1;
  }
}

static int in_choices(const char *choices, const char *v) {
  size_t vn = strlen(v);
  for (const char *c = choices; *c;) {
    size_t n = strcspn(c, "|");
    if (n == vn && !strncmp(c, v, n)) return 1;
    c += n;
    if (*c == '|') c++;
  }
  return 0;
}

static int parse_size(const pb_cli_flag *f, const char *v, cJSON *root, char *err,
                      size_t errcap) {
  char w[32], h[32];
  size_t n = strcspn(v, "xX");
  long long wv, hv;
  if (v[n] == '\0' || n >= sizeof(w) || strlen(v + n + 1) >= sizeof(h)) goto bad;
  memcpy(w, v, n);
  w[n] = '\0';
  pb_strlcpy(h, v + n + 1, sizeof(h));
  if (pb_parse_int(w, f->min, f->max, &wv) || pb_parse_int(h, f->min, f->max, &hv)) goto bad;
  /* Field by field, so other flags may set the object's other fields. */
  char wpath[128], hpath[128];
  snprintf(wpath, sizeof(wpath), "%s.width", f->path);
  snprintf(hpath, sizeof(hpath), "%s.height", f->path);
  if (set_path(root, wpath, cJSON_CreateNumber((double)wv)) ||
      set_path(root, hpath, cJSON_CreateNumber((double)hv)))
    return fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));
  return 0;
bad:
  return fail(err, errcap, PB_EINVAL, "%s wants WIDTHxHEIGHT, each %lld to %lld, e.g. 1280x720",
              f->name, f->min, f->max);
}

/* Applies one flag with its value (NULL for BOOL/HELP/JSON). */
static int apply(const pb_cli_flag *f, const char *v, cJSON *root, pb_cli_args *a, char *err,
                 size_t errcap) {
  long long n;
  int rc = 0;
  switch (f->kind) {
  case PB_CLI_F_HELP: a->help = 1; return 0;
  case PB_CLI_F_JSON: a->json = 1; return 0;
  case PB_CLI_F_URL: a->url = v; return 0;
  case PB_CLI_F_TOKEN: a->token = v; return 0;
  case PB_CLI_F_OUTPUT:
    if (!*v) return fail(err, errcap, PB_EINVAL, "%s wants a file name or -", f->name);
    a->out = v;
    return 0;
  case PB_CLI_F_TRACE:
    if (!*v) return fail(err, errcap, PB_EINVAL, "%s wants a file name", f->name);
    a->trace = v;
    if (root && f->path && set_path(root, f->path, cJSON_CreateTrue()))
      return fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));
    return 0;
  default: break;
  }
  if (!root || !f->path) return 0; /* a command without a body ignores body flags */
  switch (f->kind) {
  case PB_CLI_F_BOOL: rc = set_path(root, f->path, cJSON_CreateTrue()); break;
  case PB_CLI_F_ENUM_CONST: rc = set_path(root, f->path, cJSON_CreateString(f->choices)); break;
  case PB_CLI_F_STRING: rc = set_path(root, f->path, cJSON_CreateString(v)); break;
  case PB_CLI_F_INT:
    if (pb_parse_int(v, f->min, f->max, &n))
      return fail(err, errcap, PB_EINVAL, "%s wants an integer from %lld to %lld, not '%s'",
                  f->name, f->min, f->max, v);
    rc = set_path(root, f->path, cJSON_CreateNumber((double)n));
    break;
  case PB_CLI_F_ENUM:
    if (!in_choices(f->choices, v))
      return fail(err, errcap, PB_EINVAL, "%s wants one of %s, not '%s'", f->name, f->choices,
                  v);
    rc = set_path(root, f->path, cJSON_CreateString(v));
    break;
  case PB_CLI_F_SIZE: return parse_size(f, v, root, err, errcap);
  case PB_CLI_F_TEXT_FILE: {
    char *text;
    size_t len;
    rc = pb_cli_file_read(v, PB_CLI_MAX_TEXT_FILE, &text, &len, err, errcap);
    if (rc) return rc;
    if (strlen(text) != len) {
      free(text);
      return fail(err, errcap, PB_EINVAL, "%s: %s contains NUL bytes", f->name,
                  strcmp(v, "-") ? v : "stdin");
    }
    rc = set_path(root, f->path, cJSON_CreateString(text));
    free(text);
    break;
  }
  default: break;
  }
  if (rc) return fail(err, errcap, rc, "%s: %s", f->name, pb_strerror(rc));
  return 0;
}

/* Checks the positional arguments and, for a page command, puts the URL in. */
static int finish(const pb_cli_command *cmd, cJSON *root, pb_cli_args *a, char *err,
                  size_t errcap) {
  if (cmd->page) {
    int has_html = cJSON_GetObjectItemCaseSensitive(root, "html") != NULL;
    /* With --html there is no <url>: every positional is an extra one. */
    int first = has_html ? 0 : 1;
    if (has_html && a->npos > cmd->max_args)
      return fail(err, errcap, PB_EINVAL, "give either a URL or --html, not both");
    if (a->npos > first + cmd->max_args)
      return fail(err, errcap, PB_EINVAL, "unexpected argument '%s'", a->pos[first + cmd->max_args]);
    if (!has_html && !a->npos) return fail(err, errcap, PB_EINVAL, "missing <url>");
    if (!has_html && set_path(root, "url", cJSON_CreateString(a->pos[0])))
      return fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));
    int nextra = a->npos > first ? a->npos - first : 0;
    if (cmd->extra && cmd->extra(root, a->pos + first, nextra))
      return fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));
    return 0;
  }
  if (a->npos < cmd->min_args)
    return fail(err, errcap, PB_EINVAL, "missing %s", cmd->args ? cmd->args : "argument");
  if (a->npos > cmd->max_args)
    return fail(err, errcap, PB_EINVAL, "unexpected argument '%s'", a->pos[cmd->max_args]);
  return 0;
}

int pb_cli_parse(const pb_cli_command *cmd, int argc, char **argv, pb_cli_args *a, char *err,
                 size_t errcap) {
  memset(a, 0, sizeof(*a));
  cJSON *root = NULL;
  if (cmd->route && !(root = cJSON_CreateObject()))
    return fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));

  int rc = 0, flags_done = 0;
  for (int i = 0; i < argc && !rc; i++) {
    const char *arg = argv[i];
    if (!flags_done && !strcmp(arg, "--")) {
      flags_done = 1;
      continue;
    }
    if (flags_done || !is_option(arg)) {
      if (a->npos == PB_CLI_MAX_ARGS)
        rc = fail(err, errcap, PB_EINVAL, "unexpected argument '%s'", arg);
      else
        a->pos[a->npos++] = arg;
      continue;
    }
    const pb_cli_flag *f = pb_cli_find_flag(cmd, arg);
    if (!f) {
      int n = strncmp(arg, "--", 2) ? (int)strlen(arg) : (int)strcspn(arg, "=");
      rc = fail(err, errcap, PB_EINVAL, "unknown option '%.*s'", n, arg);
      continue;
    }
    const char *eq = strncmp(arg, "--", 2) ? NULL : strchr(arg, '=');
    const char *v = NULL;
    if (takes_value(f)) {
      if (eq)
        v = eq + 1;
      else if (i + 1 < argc)
        v = argv[++i];
      else
        rc = fail(err, errcap, PB_EINVAL, "%s wants a value (%s)", f->name,
                  f->metavar ? f->metavar : f->choices);
    } else if (eq) {
      rc = fail(err, errcap, PB_EINVAL, "%s takes no value", f->name);
    }
    if (!rc) rc = apply(f, v, root, a, err, errcap);
  }
  if (!rc && !a->help) rc = finish(cmd, root, a, err, errcap);
  if (!rc && root && !(a->body = cJSON_PrintUnformatted(root)))
    rc = fail(err, errcap, PB_ENOMEM, "%s", pb_strerror(PB_ENOMEM));
  cJSON_Delete(root);
  if (rc) pb_cli_args_free(a);
  return rc;
}

void pb_cli_args_free(pb_cli_args *a) {
  if (!a) return;
  cJSON_free(a->body);
  memset(a, 0, sizeof(*a));
}

void pb_cli_print_usage(const pb_cli_command *cmd, FILE *f) {
  const char *opts = cmd->flags ? " [options]" : "";
  fprintf(f, "usage: ppod %s%s%s%s\n", cmd->name, cmd->args ? " " : "",
          cmd->args ? cmd->args : "", opts);
  if (cmd->page) fprintf(f, "       ppod %s --html FILE|-%s\n", cmd->name, opts);
}

/* "-o, --output FILE" */
static int flag_label(const pb_cli_flag *fl, char *buf, size_t cap) {
  const char *mv = fl->metavar ? fl->metavar : fl->kind == PB_CLI_F_ENUM ? fl->choices : NULL;
  return snprintf(buf, cap, "%s%s%s%s%s", fl->alias ? fl->alias : "", fl->alias ? ", " : "",
                  fl->name, mv ? " " : "", mv ? mv : "");
}

static int label_width(const pb_cli_flag *t, int w) {
  char buf[128];
  for (; t->name; t++) {
    int n = flag_label(t, buf, sizeof(buf));
    if (n > w) w = n;
  }
  return w;
}

void pb_cli_print_flags(const pb_cli_flag *t, int width, FILE *f) {
  char buf[128];
  for (; t->name; t++) {
    flag_label(t, buf, sizeof(buf));
    fprintf(f, "  %-*s  %s\n", width, buf, t->help ? t->help : "");
  }
}

void pb_cli_print_help(const pb_cli_command *cmd, FILE *f) {
  pb_cli_print_usage(cmd, f);
  fprintf(f, "\n%s.\n", cmd->summary);
  if (cmd->description) fprintf(f, "\n%s\n", cmd->description);
  int w = label_width(pb_cli_global_flags, 0);
  if (cmd->flags)
    for (const pb_cli_flag *const *t = cmd->flags; *t; t++) w = label_width(*t, w);
  if (w > 30) w = 30;
  if (cmd->flags) {
    fprintf(f, "\nOptions:\n");
    for (const pb_cli_flag *const *t = cmd->flags; *t; t++) pb_cli_print_flags(*t, w, f);
  }
  fprintf(f, "\nGlobal options:\n");
  pb_cli_print_flags(pb_cli_global_flags, w, f);
}
