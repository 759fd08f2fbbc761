/* The test runner's keyboard and mouse: CDP Input events as Playwright
 * sends them. */
#include "common/pb.h"
#include "ops/testrun_int.h"

#include <stdio.h>
#include <string.h>

int pb__tr_mouse(pb__tr_run *t, pb__tr_step *s, const char *type, double x, double y,
                 const char *button, int count) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", type);
  cJSON_AddNumberToObject(p, "x", x);
  cJSON_AddNumberToObject(p, "y", y);
  if (button) {
    cJSON_AddStringToObject(p, "button", button);
    int bit = !strcmp(button, "right") ? 2 : !strcmp(button, "middle") ? 4 : 1;
    cJSON_AddNumberToObject(p, "buttons", !strcmp(type, "mousePressed") ? bit : 0);
    cJSON_AddNumberToObject(p, "clickCount", count);
  }
  char err[256];
  int rc = pb__tr_call(t, "Input.dispatchMouseEvent", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return pb__tr_fail(s, "%s: mouse input failed: %s", s->action,
                       rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

static int key_event(pb__tr_run *t, pb__tr_step *s, const char *type, const pb_key *k,
                     int modifiers, const char *text, const char *command) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "type", type);
  cJSON_AddStringToObject(p, "key", k->key);
  cJSON_AddStringToObject(p, "code", k->code);
  cJSON_AddNumberToObject(p, "windowsVirtualKeyCode", k->key_code);
  cJSON_AddNumberToObject(p, "modifiers", modifiers);
  if (text && *text) {
    cJSON_AddStringToObject(p, "text", text);
    cJSON_AddStringToObject(p, "unmodifiedText", text);
  }
  if (command) {
    cJSON *c = cJSON_AddArrayToObject(p, "commands");
    cJSON_AddItemToArray(c, cJSON_CreateString(command));
  }
  char err[256];
  int rc = pb__tr_call(t, "Input.dispatchKeyEvent", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return pb__tr_fail(s, "%s: key input failed: %s", s->action,
                       rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

/* Presses a chord: modifiers down in order, the last key down and up, the
 * modifiers up in reverse. */
int pb__tr_press_keys(pb__tr_run *t, pb__tr_step *s, pb_key *keys, int n) {
  int mods = 0;
  for (int i = 0; i < n; i++) {
    pb_key *k = &keys[i];
    if (k->modifier && i + 1 < n) {
      mods |= k->modifier;
      if (key_event(t, s, "rawKeyDown", k, mods, NULL, NULL)) return -1;
      continue;
    }
    char text[8];
    pb_strlcpy(text, k->text, sizeof(text));
    if ((mods & 8) && text[0] >= 'a' && text[0] <= 'z' && !text[1]) {
      text[0] = (char)(text[0] - 'a' + 'A');
      k->key[0] = text[0];
    }
    /* With Control, Alt or Meta held a key types nothing; the editing
     * shortcuts are spelled out as commands, as Playwright does. */
    const char *command = NULL;
    if (mods & 7) {
      text[0] = '\0';
      if (mods == 2 || mods == 4) {
        char c = k->key[0] | 0x20;
        if (!k->key[1]) {
          command = c == 'a'   ? "selectAll"
                    : c == 'c' ? "copy"
                    : c == 'x' ? "cut"
                    : c == 'v' ? "paste"
                    : c == 'z' ? "undo"
                               : NULL;
        }
      }
    }
    if (key_event(t, s, text[0] ? "keyDown" : "rawKeyDown", k, mods, text, command)) return -1;
    if (key_event(t, s, "keyUp", k, mods, NULL, NULL)) return -1;
  }
  for (int i = n - 2; i >= 0; i--) {
    mods &= ~keys[i].modifier;
    if (key_event(t, s, "keyUp", &keys[i], mods, NULL, NULL)) return -1;
  }
  return 0;
}

int pb__tr_insert_text(pb__tr_run *t, pb__tr_step *s, const char *text) {
  cJSON *p = cJSON_CreateObject();
  cJSON_AddStringToObject(p, "text", text);
  char err[256];
  int rc = pb__tr_call(t, "Input.insertText", p, s->deadline, NULL, err, sizeof(err));
  if (rc)
    return pb__tr_fail(s, "%s: text input failed: %s", s->action,
                       rc == PB_ECDP ? err : pb_strerror(rc));
  return 0;
}

/* Types text key by key: characters a US keyboard has are real key
 * presses; others are inserted as text. */
int pb__tr_type_text(pb__tr_run *t, pb__tr_step *s, const char *text, int delay) {
  for (const char *p = text; *p;) {
    size_t len = 1;
    unsigned char c = (unsigned char)*p;
    if (c >= 0xf0)
      len = 4;
    else if (c >= 0xe0)
      len = 3;
    else if (c >= 0xc0)
      len = 2;
    char ch[8] = {0};
    for (size_t i = 0; i < len && p[i]; i++) ch[i] = p[i];
    p += strlen(ch);
    pb_key k;
    int n;
    if (len == 1 && c == '\n') {
      if (pb_key_parse("Enter", &k, &n, NULL, 0) || pb__tr_press_keys(t, s, &k, 1)) return -1;
    } else if (len == 1 && c != '+' && !pb_key_parse(ch, &k, &n, NULL, 0)) {
      if (pb__tr_press_keys(t, s, &k, 1)) return -1;
    } else if (pb__tr_insert_text(t, s, ch)) {
      return -1;
    }
    if (delay > 0 && pb__tr_pump(t, pb_now_ms() + delay)) return pb__tr_fail(s, "type: canceled");
  }
  return 0;
}
