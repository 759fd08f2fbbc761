#include "ops/testscript.h"

#include "common/json.h"
#include "common/pb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- selectors ------------------------------------------------------- */

static int fail(char *err, size_t errcap, int rc, const char *fmt, const char *arg) {
  if (err && errcap) snprintf(err, errcap, fmt, arg);
  return rc;
}

/* Copies a possibly quoted string: "..." or '...' with backslash escapes.
 * *quoted says whether it was. Returns the rest after the closing quote, or
 * NULL when the quote is not closed or the value does not fit. */
static const char *unquote(const char *s, char *dst, size_t cap, int *quoted) {
  char q = *s;
  *quoted = q == '"' || q == '\'';
  if (!*quoted) {
    if (pb_strlcpy(dst, s, cap) >= cap) return NULL;
    return s + strlen(s);
  }
  size_t n = 0;
  for (s++; *s && *s != q; s++) {
    if (*s == '\\' && s[1]) s++;
    if (n + 1 >= cap) return NULL;
    dst[n++] = *s;
  }
  if (*s != q) return NULL;
  dst[n] = '\0';
  return s + 1;
}

int pb_selector_parse(const char *s, pb_selector *out, char *err, size_t errcap) {
  memset(out, 0, sizeof(*out));
  if (!s) return fail(err, errcap, PB_EINVAL, "%s", "a selector is required");
  while (isspace((unsigned char)*s)) s++;
  if (!*s) return fail(err, errcap, PB_EINVAL, "%s", "the selector is empty");
  int quoted;
  if (!strncmp(s, "text=", 5)) {
    out->kind = PB_SEL_TEXT;
    const char *rest = unquote(s + 5, out->value, sizeof(out->value), &quoted);
    if (!rest || *rest)
      return fail(err, errcap, PB_EINVAL, "'%s': unterminated quote or text too long", s);
    if (!out->value[0]) return fail(err, errcap, PB_EINVAL, "'%s': the text is empty", s);
    out->exact = quoted;
    return 0;
  }
  if (!strncmp(s, "xpath=", 6) || !strncmp(s, "//", 2) || !strncmp(s, "(//", 3)) {
    out->kind = PB_SEL_XPATH;
    const char *x = !strncmp(s, "xpath=", 6) ? s + 6 : s;
    if (!*x) return fail(err, errcap, PB_EINVAL, "'%s': the XPath is empty", s);
    if (pb_strlcpy(out->value, x, sizeof(out->value)) >= sizeof(out->value))
      return fail(err, errcap, PB_ETOOBIG, "%s", "the XPath is too long");
    return 0;
  }
  if (!strncmp(s, "role=", 5)) {
    out->kind = PB_SEL_ROLE;
    const char *p = s + 5;
    size_t n = 0;
    while (isalnum((unsigned char)*p) || *p == '-') {
      if (n + 1 >= sizeof(out->value))
        return fail(err, errcap, PB_EINVAL, "'%s': role too long", s);
      out->value[n++] = (char)tolower((unsigned char)*p++);
    }
    out->value[n] = '\0';
    if (!n) return fail(err, errcap, PB_EINVAL, "'%s': role= needs a role, e.g. role=button", s);
    if (!*p) return 0;
    if (strncmp(p, "[name=", 6))
      return fail(err, errcap, PB_EINVAL, "'%s': after the role only [name=\"...\"] may follow", s);
    const char *rest = unquote(p + 6, out->name, sizeof(out->name), &quoted);
    if (!quoted) {
      /* [name=Save]: up to the bracket. */
      const char *end = strchr(p + 6, ']');
      if (!end) return fail(err, errcap, PB_EINVAL, "'%s': missing ]", s);
      size_t len = (size_t)(end - (p + 6));
      if (len >= sizeof(out->name)) return fail(err, errcap, PB_EINVAL, "'%s': name too long", s);
      memcpy(out->name, p + 6, len);
      out->name[len] = '\0';
      rest = end;
    }
    if (!rest) return fail(err, errcap, PB_EINVAL, "'%s': unterminated quote in [name=...]", s);
    while (*rest == ' ') rest++;
    if (*rest == 's' || *rest == 'i') {
      out->exact = *rest == 's';
      rest++;
    }
    if (*rest != ']' || rest[1])
      return fail(err, errcap, PB_EINVAL, "'%s': expected ] at the end", s);
    out->has_name = 1;
    return 0;
  }
  out->kind = PB_SEL_CSS;
  if (pb_strlcpy(out->value, s, sizeof(out->value)) >= sizeof(out->value))
    return fail(err, errcap, PB_ETOOBIG, "%s", "the selector is too long");
  return 0;
}

cJSON *pb_selector_json(const pb_selector *sel) {
  static const char *const kinds[] = {"css", "text", "role", "xpath"};
  cJSON *o = cJSON_CreateObject();
  if (!o) return NULL;
  cJSON_AddStringToObject(o, "kind", kinds[sel->kind]);
  cJSON_AddStringToObject(o, "value", sel->value);
  if (sel->has_name) cJSON_AddStringToObject(o, "name", sel->name);
  cJSON_AddBoolToObject(o, "exact", sel->exact);
  return o;
}

/* ---- keys ------------------------------------------------------------ */

static const struct {
  const char *key, *code;
  int key_code;
  const char *text;
  int modifier;
} named_keys[] = {
    {"Enter", "Enter", 13, "\r", 0},
    {"Tab", "Tab", 9, "\t", 0},
    {"Backspace", "Backspace", 8, "", 0},
    {"Delete", "Delete", 46, "", 0},
    {"Escape", "Escape", 27, "", 0},
    {"Space", "Space", 32, " ", 0},
    {"ArrowUp", "ArrowUp", 38, "", 0},
    {"ArrowDown", "ArrowDown", 40, "", 0},
    {"ArrowLeft", "ArrowLeft", 37, "", 0},
    {"ArrowRight", "ArrowRight", 39, "", 0},
    {"Home", "Home", 36, "", 0},
    {"End", "End", 35, "", 0},
    {"PageUp", "PageUp", 33, "", 0},
    {"PageDown", "PageDown", 34, "", 0},
    {"Insert", "Insert", 45, "", 0},
    {"Alt", "AltLeft", 18, "", 1},
    {"Control", "ControlLeft", 17, "", 2},
    {"Meta", "MetaLeft", 91, "", 4},
    {"Shift", "ShiftLeft", 16, "", 8},
    {"F1", "F1", 112, "", 0},
    {"F2", "F2", 113, "", 0},
    {"F3", "F3", 114, "", 0},
    {"F4", "F4", 115, "", 0},
    {"F5", "F5", 116, "", 0},
    {"F6", "F6", 117, "", 0},
    {"F7", "F7", 118, "", 0},
    {"F8", "F8", 119, "", 0},
    {"F9", "F9", 120, "", 0},
    {"F10", "F10", 121, "", 0},
    {"F11", "F11", 122, "", 0},
    {"F12", "F12", 123, "", 0},
};

/* Punctuation on a US keyboard: the character, its code and key code. */
static const struct {
  char ch;
  const char *code;
  int key_code;
} punct[] = {
    {' ', "Space", 32},         {'-', "Minus", 189},        {'=', "Equal", 187},
    {'[', "BracketLeft", 219},  {']', "BracketRight", 221}, {'\\', "Backslash", 220},
    {';', "Semicolon", 186},    {'\'', "Quote", 222},       {',', "Comma", 188},
    {'.', "Period", 190},       {'/', "Slash", 191},        {'`', "Backquote", 192},
    {'+', "Equal", 187},        {'*', "Digit8", 56},        {'!', "Digit1", 49},
    {'@', "Digit2", 50},        {'#', "Digit3", 51},        {'$', "Digit4", 52},
    {'%', "Digit5", 53},        {'^', "Digit6", 54},        {'&', "Digit7", 55},
    {'(', "Digit9", 57},        {')', "Digit0", 48},        {'_', "Minus", 189},
    {'?', "Slash", 191},        {':', "Semicolon", 186},    {'"', "Quote", 222},
    {'<', "Comma", 188},        {'>', "Period", 190},       {'{', "BracketLeft", 219},
    {'}', "BracketRight", 221}, {'|', "Backslash", 220},    {'~', "Backquote", 192},
};

static int key_one(const char *name, size_t len, pb_key *k) {
  memset(k, 0, sizeof(*k));
  for (size_t i = 0; i < sizeof(named_keys) / sizeof(named_keys[0]); i++) {
    if (strlen(named_keys[i].key) == len && !strncmp(named_keys[i].key, name, len)) {
      pb_strlcpy(k->key, named_keys[i].key, sizeof(k->key));
      pb_strlcpy(k->code, named_keys[i].code, sizeof(k->code));
      k->key_code = named_keys[i].key_code;
      pb_strlcpy(k->text, named_keys[i].text, sizeof(k->text));
      k->modifier = named_keys[i].modifier;
      /* Space types a space but its key is " ", as in the DOM. */
      if (!strcmp(k->key, "Space")) pb_strlcpy(k->key, " ", sizeof(k->key));
      return 0;
    }
  }
  /* Aliases people write. */
  if (len == 4 && !strncmp(name, "Ctrl", 4)) return key_one("Control", 7, k);
  if (len == 3 && !strncmp(name, "Esc", 3)) return key_one("Escape", 6, k);
  if (len != 1) return PB_EINVAL;
  char c = name[0];
  k->key[0] = c;
  k->text[0] = c;
  if (isalpha((unsigned char)c)) {
    snprintf(k->code, sizeof(k->code), "Key%c", toupper((unsigned char)c));
    k->key_code = toupper((unsigned char)c);
    return 0;
  }
  if (isdigit((unsigned char)c)) {
    snprintf(k->code, sizeof(k->code), "Digit%c", c);
    k->key_code = c;
    return 0;
  }
  for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++)
    if (punct[i].ch == c) {
      pb_strlcpy(k->code, punct[i].code, sizeof(k->code));
      k->key_code = punct[i].key_code;
      return 0;
    }
  return PB_EINVAL;
}

int pb_key_parse(const char *spec, pb_key *keys, int *nkeys, char *err, size_t errcap) {
  *nkeys = 0;
  if (!spec || !*spec) return fail(err, errcap, PB_EINVAL, "%s", "the key is empty");
  const char *p = spec;
  for (;;) {
    /* A part ends at the next '+', except that a part may be "+" itself. */
    const char *end = *p == '+' ? p + 1 : strchr(p, '+');
    if (!end) end = p + strlen(p);
    if (end == p) return fail(err, errcap, PB_EINVAL, "'%s': empty key in the chord", spec);
    if (*nkeys >= PB_TEST_MAX_KEYS)
      return fail(err, errcap, PB_EINVAL, "'%s': too many keys", spec);
    if (key_one(p, (size_t)(end - p), &keys[*nkeys]))
      return fail(err, errcap, PB_EINVAL,
                  "'%s': unknown key (use names like Enter, Tab, ArrowLeft, Control, Shift, a, 1)",
                  spec);
    (*nkeys)++;
    if (!*end) break;
    p = end + 1;
    if (!*p) return fail(err, errcap, PB_EINVAL, "'%s': the chord ends with +", spec);
  }
  for (int i = 0; i + 1 < *nkeys; i++)
    if (!keys[i].modifier)
      return fail(err, errcap, PB_EINVAL,
                  "'%s': only modifiers (Control, Shift, Alt, Meta) may come before the last key",
                  spec);
  return 0;
}

/* ---- the script ------------------------------------------------------ */

static int has(const cJSON *o, const char *name) { return pb_json_get(o, name) != NULL; }

#define NEEDS(field)                                                               \
  do {                                                                             \
    if (!has(step, field)) {                                                       \
      snprintf(err, errcap, "steps[%d].%s: %s needs %s", i, field, action, field); \
      return PB_EINVAL;                                                            \
    }                                                                              \
  } while (0)

static int is_one_of(const char *a, const char *const *list) {
  for (; *list; list++)
    if (!strcmp(a, *list)) return 1;
  return 0;
}

int pb_testscript_check(const cJSON *script, char *err, size_t errcap) {
  const cJSON *steps = cJSON_GetObjectItemCaseSensitive(script, "steps");
  if (!cJSON_IsArray(steps)) {
    snprintf(err, errcap, "steps: required, a list of steps");
    return PB_EINVAL;
  }
  int n = cJSON_GetArraySize(steps);
  if (n > PB_TEST_MAX_STEPS) {
    snprintf(err, errcap, "steps: %d steps, the most a script may have is %d", n,
             PB_TEST_MAX_STEPS);
    return PB_ETOOBIG;
  }
  static const char *const need_selector[] = {
      "click",       "dblclick",    "hover",           "fill",
      "type",        "select",      "check",           "uncheck",
      "waitFor",     "expectText",  "expectVisible",   "expectHidden",
      "expectCount", "expectValue", "expectAttribute", NULL};
  size_t bytes = 0;
  int i = 0;
  const cJSON *step;
  cJSON_ArrayForEach(step, steps) {
    const char *action = pb_json_str(step, "action");
    if (!cJSON_IsObject(step) || !action) {
      snprintf(err, errcap, "steps[%d].action: required", i);
      return PB_EINVAL;
    }
    if (is_one_of(action, need_selector)) NEEDS("selector");
    const char *sel = pb_json_str(step, "selector");
    if (sel) {
      pb_selector ps;
      char why[256];
      if (pb_selector_parse(sel, &ps, why, sizeof(why))) {
        snprintf(err, errcap, "steps[%d].selector: %s", i, why);
        return PB_EINVAL;
      }
    }
    if (!strcmp(action, "goto")) NEEDS("url");
    if (!strcmp(action, "fill") || !strcmp(action, "expectValue")) NEEDS("value");
    if (!strcmp(action, "type")) NEEDS("text");
    if (!strcmp(action, "select")) NEEDS("values");
    if (!strcmp(action, "wait")) NEEDS("ms");
    if (!strcmp(action, "evaluate")) NEEDS("expression");
    if (!strcmp(action, "screenshot")) NEEDS("name");
    if (!strcmp(action, "expectCount")) NEEDS("count");
    if (!strcmp(action, "expectTitle")) NEEDS("title");
    if (!strcmp(action, "expectAttribute")) {
      NEEDS("name");
      NEEDS("value");
    }
    if (!strcmp(action, "expectScreenshot")) {
      NEEDS("name");
      NEEDS("baseline");
      const char *b = pb_json_str(step, "baseline");
      unsigned char *png = NULL;
      size_t len = 0;
      int bad = !b || pb_base64_decode(b, strlen(b), &png, &len) || len < 8 ||
                memcmp(png, "\x89PNG\r\n\x1a\n", 8);
      free(png);
      if (bad) {
        snprintf(err, errcap, "steps[%d].baseline: not a base64 PNG", i);
        return PB_EINVAL;
      }
    }
    if (!strcmp(action, "press")) {
      NEEDS("key");
      pb_key keys[PB_TEST_MAX_KEYS];
      int nk;
      char why[256];
      if (pb_key_parse(pb_json_str(step, "key"), keys, &nk, why, sizeof(why))) {
        snprintf(err, errcap, "steps[%d].key: %s", i, why);
        return PB_EINVAL;
      }
    }
    if (!strcmp(action, "scroll") && !sel && !has(step, "x") && !has(step, "y")) {
      snprintf(err, errcap, "steps[%d].selector: scroll needs a selector or x and y", i);
      return PB_EINVAL;
    }
    if ((!strcmp(action, "waitForURL") || !strcmp(action, "expectURL")) && !has(step, "url") &&
        !has(step, "pattern")) {
      snprintf(err, errcap, "steps[%d].url: %s needs url or pattern", i, action);
      return PB_EINVAL;
    }
    if (!strcmp(action, "expectText") && !has(step, "equals") && !has(step, "contains") &&
        !has(step, "matches")) {
      snprintf(err, errcap, "steps[%d].equals: expectText needs equals, contains or matches", i);
      return PB_EINVAL;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, step) {
      if (!strcmp(f->string, "baseline")) continue;
      bytes += cJSON_IsString(f) ? strlen(f->valuestring) + 8 : 32;
    }
    if (bytes > PB_TEST_MAX_SCRIPT_BYTES) {
      snprintf(err, errcap, "steps[%d]: the script is over %u bytes (not counting baselines)", i,
               PB_TEST_MAX_SCRIPT_BYTES);
      return PB_ETOOBIG;
    }
    i++;
  }
  return 0;
}
