/* fuzz_metrics.c — libFuzzer harness for the metrics HTTP endpoint's handling of a request
 * (common/metrics.c through w2k_metrics_answer: no socket; libmicrohttpd parses the bytes on
 * the wire before this), with basic auth configured or not, and a stream, a table and a
 * state reason whose names come from the input too.
 * Input: fields separated by NUL bytes: flags (first byte: bit 0 basic auth configured,
 * bit 1 the stream streams), method, url, user, password, stream name, table name, reason;
 * a missing user or password is a request without credentials.
 * Property: the status is 200, 401, 404, 405 or 503 as the header documents; without the
 * configured credentials the answer is 401 and says nothing else; the password never
 * shows in a body; /metrics is Prometheus text whose every line is a comment or a sample
 * with well-escaped label values, whatever the names; /health is 200 exactly when it says ok.
 * Seeds: tests/fuzz/corpus/metrics. */
#include "buf.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_USER     "scraper"
#define FUZZ_PASSWORD "Pw-s3cret-marker"
#define FUZZ_FIELDS   8

static void fuzz_fail(const char *why, unsigned status, const w2k_buf_t *body)
{
    fprintf(stderr, "fuzz_metrics: %s (HTTP %u): %.*s\n", why, status,
            (int)(body->len > 2000 ? 2000 : body->len), body->data ? body->data : "");
    abort();
}

/* A Prometheus sample line: name{label="value",...} value (label values escape \ " and
 * line feeds); returns whether it is one. */
static bool fuzz_alpha(char c)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool fuzz_sample_ok(const char *l, size_t n)
{
    size_t i = 0;
    if (i >= n || !(l[i] == '_' || l[i] == ':' || fuzz_alpha(l[i])))
        return false;
    while (i < n &&
           (l[i] == '_' || l[i] == ':' || fuzz_alpha(l[i]) || (l[i] >= '0' && l[i] <= '9')))
        i++;
    if (i < n && l[i] == '{') {
        i++;
        while (i < n && l[i] != '}') {
            while (i < n && (l[i] == '_' || fuzz_alpha(l[i]) || (l[i] >= '0' && l[i] <= '9')))
                i++;
            if (i + 1 >= n || l[i] != '=' || l[i + 1] != '"')
                return false;
            for (i += 2; i < n && l[i] != '"'; i++)
                if (l[i] == '\\' && (++i >= n || !strchr("\\\"n", l[i])))
                    return false;
            if (i >= n)
                return false;
            i++; /* the closing quote */
            if (i < n && l[i] == ',')
                i++;
        }
        if (i >= n)
            return false;
        i++;
    }
    if (i >= n || l[i] != ' ' || i + 1 >= n)
        return false;
    for (i++; i < n; i++)
        if (l[i] == ' ' || l[i] == '"')
            return false;
    return true;
}

static void fuzz_prometheus_ok(unsigned status, const w2k_buf_t *b)
{
    size_t start = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->data[i] != '\n')
            continue;
        const char *l = b->data + start;
        size_t n = i - start;
        bool ok = (n > 7 && (strncmp(l, "# HELP ", 7) == 0 || strncmp(l, "# TYPE ", 7) == 0)) ||
                  fuzz_sample_ok(l, n);
        if (!ok)
            fuzz_fail("a line of /metrics is not Prometheus text", status, b);
        start = i + 1;
    }
    if (start != b->len)
        fuzz_fail("/metrics does not end with a line feed", status, b);
}

static bool fuzz_has_password(const char *s, size_t n)
{
    size_t pl = strlen(FUZZ_PASSWORD);
    for (size_t i = 0; s && i + pl <= n; i++)
        if (memcmp(s + i, FUZZ_PASSWORD, pl) == 0)
            return true;
    return false;
}

/* The names and the reason come from the input: they may spell the password themselves. */
static bool fuzz_names_hold_password(const char *const *f)
{
    for (int k = 5; k < FUZZ_FIELDS; k++)
        if (f[k] && strstr(f[k], FUZZ_PASSWORD))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* the fields, each a NUL-terminated copy (missing ones NULL) */
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    const char *f[FUZZ_FIELDS] = {0};
    size_t at = 0;
    for (int k = 0; k < FUZZ_FIELDS && at <= size; k++) {
        f[k] = copy + at;
        at += strlen(copy + at) + 1;
    }
    unsigned flags = f[0] && f[0][0] ? (unsigned char)f[0][0] : 0;
    const char *method = f[1] ? f[1] : "GET", *url = f[2] ? f[2] : "/metrics";
    const char *user = f[3], *pass = f[4];

    w2k_metrics_opts_t o = {0};
    if (flags & 1) {
        o.username = FUZZ_USER;
        o.password = FUZZ_PASSWORD;
    }
    w2k_err_t err;
    memset(&err, 0, sizeof err);
    w2k_metrics_t *m = w2k_metrics_start_opts(&o, &err);
    if (!m)
        abort();
    w2k_metrics_stream_t *s = w2k_metrics_stream(m, f[5] ? f[5] : "app");
    w2k_metrics_table_t *t = w2k_metrics_table(s, "public", f[6] ? f[6] : "orders");
    w2k_metrics_change(t, 'c', 100);
    w2k_metrics_state(s, flags & 2 ? W2K_STREAM_STREAMING : W2K_STREAM_RECONNECTING, f[7]);

    w2k_buf_t body = W2K_BUF_INIT;
    const char *ctype = NULL;
    unsigned st = w2k_metrics_answer(m, method, url, user, pass, &body, &ctype);
    bool authed = !(flags & 1) || (user && pass && strcmp(user, FUZZ_USER) == 0 &&
                                   strcmp(pass, FUZZ_PASSWORD) == 0);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    unsigned want = !authed                        ? 401
                    : !get                         ? 405
                    : strcmp(url, "/metrics") == 0 ? 200
                    : strcmp(url, "/health") == 0  ? (flags & 2 ? 200 : 503)
                                                   : 404;
    if (!ctype || body.oom)
        fuzz_fail("no content type, or out of memory", st, &body);
    if (st != want)
        fuzz_fail("the status does not follow the request", st, &body);
    if (st == 401 && (body.len != 24 || memcmp(body.data, "authentication required\n", 24) != 0))
        fuzz_fail("a refused request is told more than that", st, &body);
    if (fuzz_has_password(body.data, body.len) && !fuzz_names_hold_password(f))
        fuzz_fail("the password shows in a body", st, &body);
    if (st == 200 && strcmp(url, "/metrics") == 0)
        fuzz_prometheus_ok(st, &body);
    bool says_ok = body.len == 3 && memcmp(body.data, "ok\n", 3) == 0;
    if (strcmp(url, "/health") == 0 && (st == 200 || st == 503) && (st == 200) != says_ok)
        fuzz_fail("/health's status and text disagree", st, &body);

    w2k_buf_free(&body);
    w2k_metrics_stop(m);
    free(copy);
    return 0;
}
