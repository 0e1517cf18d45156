/* test_loghints.c — every warning and error carries a hint: no source file logs one
 * without (w2k_warn/w2k_error, w2k_log at warn/error), librdkafka's lines get a hint by
 * cause (fenced, timed out, ...) or a generic one, and errors without a hint of their own
 * get one by exit code. */
#include "err.h"
#include "log.h"
#include "unit.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>

typedef struct captured_s {
    int n;
    w2k_loglevel_t level;
    char msg[2048];
    char hint[1024];
    int has_hint;
} captured_t;

static void capture(w2k_loglevel_t level, const char *msg, const char *hint, void *arg)
{
    captured_t *c = arg;
    c->n++;
    c->level = level;
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    c->has_hint = hint != NULL;
    snprintf(c->hint, sizeof c->hint, "%s", hint ? hint : "");
}

/* Calls in text that log a warning or an error with no hint: w2k_warn( and w2k_error(
 * (not w2k_warn_hint), and w2k_log( with any level but W2K_LOG_DEBUG / W2K_LOG_INFO.
 * Prints each as path:line. Returns how many. */
static int hintless_calls(const char *path, const char *text)
{
    static const char *const bare[] = {"w2k_warn(", "w2k_error("};
    int found = 0, line = 1;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
            continue;
        }
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_'))
            continue;
        for (int i = 0; i < 2; i++)
            if (strncmp(p, bare[i], strlen(bare[i])) == 0) {
                fprintf(stderr, "%s:%d: %.*s... logs without a hint: use %.*s_hint\n", path, line,
                        (int)strlen(bare[i]), p, (int)strlen(bare[i]) - 1, bare[i]);
                found++;
            }
        if (strncmp(p, "w2k_log(", 8) == 0) {
            const char *a = p + 8;
            while (isspace((unsigned char)*a))
                a++;
            if (strncmp(a, "W2K_LOG_DEBUG", 13) != 0 && strncmp(a, "W2K_LOG_INFO", 12) != 0) {
                fprintf(stderr,
                        "%s:%d: w2k_log( at a level that may be warn or error logs without a "
                        "hint: use w2k_log_hintf or w2k_log_kafka\n",
                        path, line);
                found++;
            }
        }
    }
    return found;
}

/* Scan every .c file of connector/ (but log.c, which defines the calls). */
static void test_sources(const char *fixtures)
{
    static const char *const dirs[] = {"source",  "decode", "change", "encode", "produce",
                                       "session", "reader", "cli",    "common"};
    int files = 0, found = 0;
    for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
        char dpath[4096];
        snprintf(dpath, sizeof dpath, "%s/../../connector/%s", fixtures, dirs[d]);
        DIR *dir = opendir(dpath);
        CHECK(dir != NULL);
        if (!dir)
            continue;
        struct dirent *de;
        while ((de = readdir(dir))) {
            size_t len = strlen(de->d_name);
            if (len < 3 || strcmp(de->d_name + len - 2, ".c") != 0 ||
                (strcmp(dirs[d], "common") == 0 && strcmp(de->d_name, "log.c") == 0))
                continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", dpath, de->d_name);
            FILE *f = fopen(path, "rb");
            CHECK(f != NULL);
            if (!f)
                continue;
            fseek(f, 0, SEEK_END);
            long size = ftell(f);
            rewind(f);
            char *text = malloc((size_t)size + 1);
            size_t got = fread(text, 1, (size_t)size, f);
            text[got] = '\0';
            fclose(f);
            found += hintless_calls(path, text);
            free(text);
            files++;
        }
        closedir(dir);
    }
    CHECK(files > 40); /* the scan saw the sources */
    CHECK_INT(found, 0);
    /* the scanner finds what it looks for */
    CHECK_INT(hintless_calls("sample.c", "x;\n  w2k_warn(\"a %d\", 1);\n w2k_warn_hint(\"h\", "
                                         "\"b\");\n w2k_log(level, \"c\");\n"
                                         " w2k_log(W2K_LOG_INFO, \"d\"); my_w2k_error(1);\n"),
              2);
}

static void test_kafka_lines(void)
{
    captured_t c = {0};
    w2k_log_setup(W2K_LOG_DEBUG, 0);
    w2k_log_capture(capture, &c);

    /* a fenced producer: the takeover hint */
    w2k_log_kafka(W2K_LOG_ERROR, "ERROR",
                  "Fatal error: Broker: Producer attempted an operation with an old epoch: "
                  "Producer fenced by newer instance");
    CHECK_INT(c.n, 1);
    CHECK_STR(c.msg, "librdkafka ERROR: Fatal error: Broker: Producer attempted an operation with "
                     "an old epoch: Producer fenced by newer instance");
    CHECK(c.has_hint && strstr(c.hint, "same transactional id took over"));
    CHECK(strstr(c.hint, "standby") != NULL);
    CHECK(strstr(w2k_log_kafka_hint("ERROR", "ProducerFenced"), "transactional id") != NULL);

    /* a silent broker */
    w2k_log_kafka(W2K_LOG_WARN, "REQTMOUT",
                  "localhost:9092/1: Timed out ProduceRequest in flight (after 60010ms)");
    CHECK(c.has_hint && strstr(c.hint, "does not answer"));

    /* a broker that is starting */
    CHECK(strstr(w2k_log_kafka_hint("GETPID", "Failed to acquire idempotence PID from broker "
                                              "127.0.0.1:9092/1: Broker: Coordinator load in "
                                              "progress: retrying"),
                 "still loading") != NULL);

    /* anything else: the generic hint, never none */
    w2k_log_kafka(W2K_LOG_WARN, "SOMETHING", "an unheard-of condition");
    CHECK(c.has_hint && strstr(c.hint, "librdkafka"));
    CHECK_INT(c.n, 3);

    /* debug lines carry none, and below the threshold nothing is emitted */
    w2k_log_kafka(W2K_LOG_DEBUG, "BROKER", "fenced");
    CHECK_INT(c.n, 4);
    CHECK(!c.has_hint);
    w2k_log_setup(W2K_LOG_ERROR, 0);
    w2k_log_kafka(W2K_LOG_WARN, "X", "y");
    CHECK_INT(c.n, 4);

    /* the formatted form */
    w2k_log_setup(W2K_LOG_DEBUG, 0);
    w2k_warn_hint("do this", "stream %s: %d", "s", 7);
    CHECK_INT(c.level, W2K_LOG_WARN);
    CHECK_STR(c.msg, "stream s: 7");
    CHECK_STR(c.hint, "do this");
    w2k_log_capture(NULL, NULL);
}

static void test_err_defaults(void)
{
    w2k_err_t e;
    const int codes[] = {W2K_EXIT_RUNTIME, W2K_EXIT_USAGE, W2K_EXIT_CONFIG, W2K_EXIT_POSTGRES,
                         W2K_EXIT_KAFKA};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        w2k_err_set(&e, codes[i], "x");
        const char *h = w2k_err_hint_or_default(&e);
        CHECK(h && *h);
    }
    w2k_err_set(&e, W2K_EXIT_POSTGRES, "x");
    w2k_err_hint(&e, "own hint");
    CHECK_STR(w2k_err_hint_or_default(&e), "own hint");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_loghints FIXTURES_DIR\n");
        return 2;
    }
    test_sources(argv[1]);
    test_kafka_lines();
    test_err_defaults();
    return unit_report("test_loghints");
}
