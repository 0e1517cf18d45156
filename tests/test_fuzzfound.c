/* test_fuzzfound.c — every finding of the fuzz harnesses (tests/fuzz/) as a regression
 * test, with the input the fuzzer wrote (tests/fuzz/found/<harness>-<what>). Leaks show
 * under ASan and valgrind (scripts/test.sh runs both on every unit test). */
#include "config.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char found_dir[4096];

static char *found_path(const char *name)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", found_dir, name);
    return path;
}

/* A table entry refused after its column list was allocated (an unknown operation) leaked
 * the columns and the name: the refused entry was not counted among the stream's tables,
 * so w2k_config_destroy() did not free it. */
static void config_refused_table_frees(void)
{
    w2k_err_t err;
    memset(&err, 0, sizeof err);
    w2k_config_t *cfg = w2k_config_load(found_path("config-leak-refused-table"), &err);
    CHECK(cfg == NULL);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(strstr(err.msg, "ins`ert") != NULL);
    w2k_config_destroy(cfg);
}

int main(int argc, char **argv)
{
    snprintf(found_dir, sizeof found_dir, "%s/../fuzz/found",
             argc > 1 ? argv[1] : "tests/fixtures");
    config_refused_table_frees();
    return unit_report("test_fuzzfound");
}
