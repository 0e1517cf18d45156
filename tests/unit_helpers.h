/* unit_helpers.h — helpers several unit tests share: loading a configuration text,
 * expecting the error it gives, and comparing a fixed schema with its file in
 * schemas/. Static inline, as unit.h: each test executable has its own copy. */
#ifndef W2K_UNIT_HELPERS_H
#define W2K_UNIT_HELPERS_H

#include <avro.h>
#include <stdio.h>
#include <string.h>

#include "avrofp.h"
#include "config.h"
#include "unit.h"

/* Write text to the file at path and load it as the configuration. Returns the
 * configuration, or NULL with err. */
static inline w2k_config_t *unit_config_load(const char *path, const char *text, w2k_err_t *err)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    w2k_err_clear(err);
    return w2k_config_load(path, err);
}

/* Loading text from path fails (W2K_EXIT_CONFIG) at line with want in the message and,
 * unless want_hint is NULL, want_hint in the hint. */
static inline void unit_config_error(const char *path, const char *text, int line, const char *want,
                                     const char *want_hint)
{
    w2k_err_t err;
    w2k_config_t *cfg = unit_config_load(path, text, &err);
    CHECK(cfg == NULL);
    w2k_config_destroy(cfg);
    char where[128];
    snprintf(where, sizeof where, "%s:%d: ", path, line);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    if (strncmp(err.msg, where, strlen(where)) != 0 || !strstr(err.msg, want) ||
        (want_hint && !strstr(err.hint, want_hint))) {
        unit_failures++;
        fprintf(stderr, "want \"%s...%s\" (hint ~ %s), got \"%s\" (hint \"%s\")\n", where, want,
                want_hint ? want_hint : "-", err.msg, err.hint);
    }
}

/* Read and parse <schemas_dir>/<file> into *out. Returns 0, or -1 after a failed CHECK
 * (the file is missing or does not parse). */
static inline int unit_schema_file(const char *schemas_dir, const char *file, avro_schema_t *out)
{
    char path[768];
    snprintf(path, sizeof path, "%s/%s", schemas_dir, file);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL);
    if (!fp)
        return -1;
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    fclose(fp);
    text[n] = '\0';
    int rc = avro_schema_from_json_length(text, n, out);
    CHECK_INT(rc, 0);
    return rc == 0 ? 0 : -1;
}

/* schemas/<file> (found from the fixtures directory dir) parses to the schema s
 * publishes, and s's text is its own Parsing Canonical Form (no whitespace, defaults
 * or logical types), which is what its fingerprint is of. */
static inline void unit_schema_as_file(const char *dir, const char *file, const w2k_schema_t *s)
{
    char schemas[640];
    snprintf(schemas, sizeof schemas, "%s/../../schemas", dir);
    avro_schema_t from_file, ours;
    if (unit_schema_file(schemas, file, &from_file) != 0)
        return;
    CHECK_INT(avro_schema_from_json_length(s->json, strlen(s->json), &ours), 0);
    CHECK(avro_schema_equal(from_file, ours));
    CHECK(strchr(s->json, ' ') == NULL && strstr(s->json, "default") == NULL &&
          strstr(s->json, "logicalType") == NULL);
    CHECK_INT(s->fingerprint, w2k_avro_fingerprint(s->json, strlen(s->json)));
    avro_schema_decref(from_file);
    avro_schema_decref(ours);
}

#endif
