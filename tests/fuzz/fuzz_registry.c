/* fuzz_registry.c — libFuzzer harness for the schema-registry client's handling of an
 * answer (encode/registry.c through w2k_registry_answer: no request is sent): an HTTP
 * status and a response body, for registering a schema and for fetching one by id.
 * Input: a byte choosing the operation (even: register, odd: fetch by id), two bytes of
 * HTTP status (big-endian, taken modulo 600), then the body.
 * Property: an answer either succeeds only on a 2xx status (register: an id in
 * 0..INT32_MAX; fetch: a schema text no longer than the body), or is refused with a
 * one-line printable message, a hint, the exit code and retryability the header
 * documents for its status; the password never shows in a message or hint, even when
 * the body echoes it.
 * Seeds: tests/fuzz/corpus/registry (answers of Confluent and Apicurio registries). */
#include "err.h"
#include "log.h"
#include "registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_PASSWORD "Pw-s3cret-marker"

static w2k_registry_t *fuzz_reg;
static unsigned fuzz_uses;

static void fuzz_fail(const char *why, long status, const w2k_err_t *err)
{
    fprintf(stderr, "fuzz_registry: %s (HTTP %ld): msg=\"%s\" hint=\"%s\" code=%d\n", why, status,
            err->msg, err->hint, err->code);
    abort();
}

/* The client: made again now and then, as fetched schemas stay in its cache. */
static w2k_registry_t *fuzz_client(void)
{
    if (fuzz_reg && ++fuzz_uses % 4096 == 0) {
        w2k_registry_destroy(fuzz_reg);
        fuzz_reg = NULL;
    }
    if (!fuzz_reg) {
        w2k_log_setup(W2K_LOG_ERROR, 0); /* not a line per registered schema */
        w2k_err_t err;
        memset(&err, 0, sizeof err);
        fuzz_reg = w2k_registry_new("http://127.0.0.1:9/apis/ccompat/v7/", "fuzzer", FUZZ_PASSWORD,
                                    NULL, &err);
        if (!fuzz_reg) {
            fprintf(stderr, "fuzz_registry: %s\n", err.msg);
            abort();
        }
    }
    return fuzz_reg;
}

static void fuzz_check_err(long status, bool fetch, const w2k_err_t *err)
{
    if (err->msg[0] == '\0' || err->code == 0)
        fuzz_fail("refused without a message or exit code", status, err);
    if (err->hint[0] == '\0')
        fuzz_fail("refused without a hint", status, err);
    for (const char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            fuzz_fail("a control character in the message", status, err);
    if (strstr(err->msg, FUZZ_PASSWORD) || strstr(err->hint, FUZZ_PASSWORD))
        fuzz_fail("the password shows in the error", status, err);
    bool transient = status == 408 || status == 429 || status >= 500;
    if (err->retryable != transient)
        fuzz_fail("retryable does not follow the status", status, err);
    int want = 0;
    if (status == 401 || status == 403)
        want = W2K_EXIT_CONFIG;
    else if (status == 404)
        want = fetch ? W2K_EXIT_KAFKA : W2K_EXIT_CONFIG;
    else if (!fetch && (status == 409 || status == 422))
        want = W2K_EXIT_KAFKA;
    else if (transient)
        want = W2K_EXIT_RUNTIME;
    if (want && err->code != want)
        fuzz_fail("the exit code does not follow the status", status, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    bool fetch = data[0] & 1;
    long status = (long)(((unsigned)data[1] << 8 | data[2]) % 600);
    size_t len = size - 3;
    /* a copy of exactly the body, so that ASan sees any read past it */
    uint8_t *body = malloc(len ? len : 1);
    if (!body)
        abort();
    memcpy(body, data + 3, len);

    w2k_registry_t *r = fuzz_client();
    w2k_err_t err;
    memset(&err, 0, sizeof err);
    int32_t id = -1;
    char *schema = NULL;
    int32_t want_id = (int32_t)(fuzz_uses % 4096); /* one id per answer of this client */
    int rc = w2k_registry_answer(r, fetch ? NULL : "orders-value", want_id, status, body, len, &id,
                                 &schema, &err);
    if (rc == 0) {
        if (fetch) {
            if (status != 200 || !schema || strlen(schema) > len)
                fuzz_fail("a schema from a refused answer, or longer than the body", status, &err);
            /* the same id again comes from the cache */
            char *again = w2k_registry_schema_by_id(r, want_id, &err);
            if (!again || strcmp(again, schema) != 0)
                fuzz_fail("the cached schema differs", status, &err);
            free(again);
        } else if (status < 200 || status >= 300 || id < 0) {
            fuzz_fail("an id from a refused answer", status, &err);
        }
    } else {
        if (schema)
            abort();
        fuzz_check_err(status, fetch, &err);
    }
    free(schema);
    free(body);
    return 0;
}
