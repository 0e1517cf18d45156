/* fuzz_config.c — libFuzzer harness for the configuration: file text → libconfig →
 * validation (w2k_config_load on an in-memory file).
 * Property: every input is either refused with exit code W2K_EXIT_CONFIG and a message
 * naming the file (it quotes the offending text as written, newlines included), or gives a
 * configuration that holds what validation promises (a conninfo and bootstrap servers, at least one
 * stream, each with a name, slot, publication, topic prefix and tables with a schema, a name and a
 * non-empty subset of the operations), and frees without a leak. Inputs naming @include are skipped
 * (they read other files). Seeds: tests/fuzz/corpus/config. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_path[64];

static void fuzz_check(const w2k_config_t *cfg)
{
    if (!cfg->pg_conninfo || !cfg->kafka_bootstrap || cfg->nstreams < 1 || !cfg->streams)
        abort();
    for (int i = 0; i < cfg->nstreams; i++) {
        const w2k_stream_cfg_t *s = &cfg->streams[i];
        if (!s->name || !s->slot || !s->publication || !s->topic_prefix || s->ntables < 1)
            abort();
        for (int t = 0; t < s->ntables; t++) {
            const w2k_table_cfg_t *tc = &s->tables[t];
            if (!tc->schema || !tc->name || tc->ops == 0 || (tc->ops & ~W2K_OP_ALL))
                abort();
            for (int c = 0; c < tc->ncolumns; c++)
                if (!tc->columns[c])
                    abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memmem(data, size, "@include", 8) || memmem(data, size, "@INCLUDE", 8))
        return 0;
    if (fuzz_fd < 0) {
        fuzz_fd = memfd_create("fuzzcfg", 0);
        if (fuzz_fd < 0)
            abort();
        snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
    }
    if (ftruncate(fuzz_fd, 0) != 0 || pwrite(fuzz_fd, data, size, 0) != (ssize_t)size)
        abort();
    w2k_err_t err;
    memset(&err, 0, sizeof err);
    w2k_config_t *cfg = w2k_config_load(fuzz_path, &err);
    if (!cfg) {
        if (err.code != W2K_EXIT_CONFIG || !strstr(err.msg, fuzz_path)) {
            fprintf(stderr, "refused with code %d: %s\n", err.code, err.msg);
            abort();
        }
        return 0;
    }
    fuzz_check(cfg);
    w2k_config_destroy(cfg);
    return 0;
}
