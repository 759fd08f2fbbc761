#ifndef PB_OPS_TESTRUN_H
#define PB_OPS_TESTRUN_H
/* The JSON test-script runner behind POST /browser/test (pb_op_test in
 * ops.h); see schemas/test-script.json for the format. */
#include <cjson/cJSON.h>
#include <stddef.h>

/* Writes the runner's result object ({passed, steps, console, ...},
 * borrowed) as JUnit XML: one testsuite named suite, one testcase per step,
 * <failure> and <skipped/> as the steps ended, the console as system-out.
 * *xml is NUL-terminated; caller frees. 0 or PB_ETOOBIG. */
int pb_testrun_junit(const cJSON *result, const char *suite, char **xml, size_t *len);

#endif
