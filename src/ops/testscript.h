#ifndef PB_OPS_TESTSCRIPT_H
#define PB_OPS_TESTSCRIPT_H
/* The pure parts of the JSON test-script runner (POST /browser/test): the
 * checks a script must pass before a browser is touched, the selector
 * grammar and the key names of `press`. No I/O, no CDP. */
#include <cjson/cJSON.h>
#include <stddef.h>

#define PB_TEST_MAX_STEPS 500
/* The script without its screenshot baselines, as compact JSON. */
#define PB_TEST_MAX_SCRIPT_BYTES (1u << 20)
#define PB_TEST_STEP_TIMEOUT_DEFAULT_MS 5000
#define PB_TEST_STEP_TIMEOUT_MAX_MS 60000
#define PB_TEST_EVALUATE_MAX_RESULT (256u * 1024)
#define PB_TEST_MAX_KEYS 8 /* keys in one chord */

/* Checks what the schema cannot say: the fields each action needs, the
 * selectors, the keys, the baselines and the caps. Returns 0, or PB_EINVAL /
 * PB_ETOOBIG with a message naming the step and field, e.g.
 * "steps[2].selector: click needs a selector", written to err. */
int pb_testscript_check(const cJSON *script, char *err, size_t errcap);

/* A parsed selector. */
typedef enum { PB_SEL_CSS, PB_SEL_TEXT, PB_SEL_ROLE, PB_SEL_XPATH } pb_sel_kind;
typedef struct {
  pb_sel_kind kind;
  char value[1024]; /* CSS, text, role or XPath expression */
  char name[512];   /* role=...[name="..."]: the accessible name, "" if none */
  int has_name;
  int exact; /* text="..." or [name="..." s]: whole, case-sensitive match */
} pb_selector;

/* Parses "css", "text=Sign in", "text=\"Sign in\"", "role=button[name=\"Save\"]",
 * "xpath=//a" (or a bare "//a"). Returns 0 or PB_EINVAL with the reason in err. */
int pb_selector_parse(const char *s, pb_selector *out, char *err, size_t errcap);

/* The selector as the page-side resolver takes it: {kind, value, name?,
 * exact}. Caller frees. */
cJSON *pb_selector_json(const pb_selector *sel);

/* One key of a chord, as Input.dispatchKeyEvent wants it. */
typedef struct {
  char key[32];  /* "a", "Enter", "Control" */
  char code[32]; /* "KeyA", "Enter", "ControlLeft" */
  int key_code;  /* windowsVirtualKeyCode */
  char text[8];  /* what the key types; "" for none */
  int modifier;  /* its bit in CDP's modifiers (Alt 1, Control 2, Meta 4, Shift 8), or 0 */
} pb_key;

/* Parses "Enter", "a", "Control+A", "Shift+ArrowLeft", "Control++". The keys
 * are pressed in order and released in reverse. Returns 0 or PB_EINVAL. */
int pb_key_parse(const char *spec, pb_key *keys, int *nkeys, char *err, size_t errcap);

#endif
