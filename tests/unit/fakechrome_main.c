/* `fakechrome`: the executable pb_browser_launch starts in unit tests instead
 * of Chromium. Serves fds 3 (commands in) and 4 (replies out), scripted by
 * its --fake-* flags (see fakechrome.h); every other flag is Chromium's and
 * ignored. */
#include "fakechrome.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *flag(const char *arg, const char *name) {
  size_t n = strlen(name);
  return !strncmp(arg, name, n) && arg[n] == '=' ? arg + n + 1 : NULL;
}

int main(int argc, char **argv) {
  fc_script s = {0};
  const char *dir = NULL;
  static char exit_on[256];
  for (int i = 1; i < argc; i++) {
    const char *v;
    if ((v = flag(argv[i], "--fake-dir")))
      dir = v;
    else if ((v = flag(argv[i], "--fake-hang-on")))
      s.hang_on = v;
    else if ((v = flag(argv[i], "--fake-fail")))
      s.fail = v;
    else if ((v = flag(argv[i], "--fake-crash-target-on")))
      s.crash_target_on = v;
    else if ((v = flag(argv[i], "--fake-exit-on"))) {
      snprintf(exit_on, sizeof(exit_on), "%s", v);
      char *colon = strchr(exit_on, ':');
      if (colon) {
        *colon = '\0';
        s.exit_on_nth = (int)strtol(colon + 1, NULL, 10);
      }
      s.exit_on = exit_on;
    }
  }
  char record[PATH_MAX];
  if (dir) {
    snprintf(record, sizeof(record), "%s/%d.log", dir, (int)getpid());
    s.record_path = record;
  }
  int why = fc_serve(3, 4, &s);
  if (dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%d.exit", dir, (int)getpid());
    FILE *f = fopen(path, "w");
    if (f) {
      static const char *const names[] = {"eof", "closed", "exit-cue", "stopped"};
      fprintf(f, "%s\n", names[why]);
      fclose(f);
    }
  }
  /* Scripted exit: as abrupt as a crash (no reply, nonzero status). */
  return why == FC_EXIT_CUE ? 3 : 0;
}
