/* test_metrics.c — the metrics endpoint served on an ephemeral loopback port and scraped
 * with libcurl: exact exposition lines, values that move, label escaping, /health
 * transitions, bind errors, and a scraper thread racing the updates (run it under
 * -fsanitize=thread too). */
#include "clock.h"
#include "metrics.h"
#include "buf.h"
#include "log.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

typedef struct scrape_s {
    long status;
    char content_type[128];
    w2k_buf_t body;
} scrape_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *opaque)
{
    w2k_buf_append(opaque, data, size * nmemb);
    return size * nmemb;
}

/* GET (or another method) http://127.0.0.1:port/path. Returns 0, or -1 when no response. */
static const char *scrape_userpwd; /* "user:password" for the next scrapes, or NULL */

static int scrape(int port, const char *method, const char *path, scrape_t *out)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    if (scrape_userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, scrape_userpwd);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        snprintf(out->content_type, sizeof out->content_type, "%s", ct ? ct : "");
    } else {
        fprintf(stderr, "scrape %s: %s\n", url, curl_easy_strerror(cc));
    }
    curl_easy_cleanup(c);
    if (!out->body.data)
        w2k_buf_puts(&out->body, "");
    return cc == CURLE_OK ? 0 : -1;
}

/* True when text holds line as a whole line. */
static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

#define CHECK_LINE(text, line)                                                                     \
    do {                                                                                           \
        bool ok_ = has_line((text), (line));                                                       \
        CHECK(ok_ &&#line);                                                                        \
        if (!ok_)                                                                                  \
            fprintf(stderr, "  missing line: %s\n", (line));                                       \
    } while (0)

/* The value of the sample whose name and labels are exactly series, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

/* The exposition format's shape: every sample belongs to the family whose HELP and TYPE
 * came last; names and label syntax are valid; each family appears once. */
static void check_format(const char *text)
{
    char family[128] = "", seen[64][128];
    int nseen = 0, bad = 0;
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        if (!nl) {
            bad++; /* the last line must end in \n */
            break;
        }
        char buf[1024];
        size_t len = (size_t)(nl - line);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, line, len);
        buf[len] = '\0';
        char name[128], type[32];
        if (strncmp(buf, "# HELP ", 7) == 0) {
            if (sscanf(buf + 7, "%127s", name) != 1)
                bad++;
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], name) == 0)
                    bad++; /* a family twice */
            if (nseen < 64)
                snprintf(seen[nseen++], sizeof seen[0], "%s", name);
            snprintf(family, sizeof family, "%s", name);
        } else if (strncmp(buf, "# TYPE ", 7) == 0) {
            if (sscanf(buf + 7, "%127s %31s", name, type) != 2 || strcmp(name, family) != 0)
                bad++;
            if (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0)
                bad++;
            if (strcmp(type, "counter") == 0 && strlen(name) > 6 &&
                strcmp(name + strlen(name) - 6, "_total") != 0)
                bad++;
        } else {
            size_t i = 0;
            while (buf[i] && buf[i] != '{' && buf[i] != ' ')
                i++;
            if (i != strlen(family) || strncmp(buf, family, i) != 0) {
                fprintf(stderr, "  sample outside its family: %s\n", buf);
                bad++;
            }
            const char *rest = buf + i;
            if (*rest == '{') {
                /* name="value",... with \\, \" and \n the only escapes */
                rest++;
                while (*rest && *rest != '}') {
                    while ((*rest >= 'a' && *rest <= 'z') || *rest == '_')
                        rest++;
                    if (rest[0] != '=' || rest[1] != '"') {
                        bad++;
                        break;
                    }
                    rest += 2;
                    while (*rest && *rest != '"') {
                        if (*rest == '\\') {
                            if (rest[1] != '\\' && rest[1] != '"' && rest[1] != 'n')
                                bad++;
                            rest++;
                        }
                        rest++;
                    }
                    if (*rest != '"') {
                        bad++;
                        break;
                    }
                    rest++;
                    if (*rest == ',')
                        rest++;
                }
                if (*rest != '}')
                    bad++;
                else
                    rest++;
            }
            char *end = NULL;
            if (*rest != ' ')
                bad++;
            else
                strtod(rest + 1, &end);
            if (!end || *end != '\0') {
                fprintf(stderr, "  bad sample line: %s\n", buf);
                bad++;
            }
        }
        line = nl + 1;
    }
    CHECK_INT(bad, 0);
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void exposition(void)
{
    w2k_err_t err;
    w2k_err_clear(&err);
    w2k_metrics_t *m = w2k_metrics_start("127.0.0.1:0", &err);
    CHECK(m != NULL);
    if (!m) {
        fprintf(stderr, "w2k_metrics_start: %s\n", err.msg);
        return;
    }
    int port = w2k_metrics_port(m);
    CHECK(port > 0);

    w2k_metrics_stream_t *s = w2k_metrics_stream(m, "main");
    CHECK(s == w2k_metrics_stream(m, "main")); /* the same handle */
    w2k_metrics_table_t *orders = w2k_metrics_table(s, "public", "orders");
    w2k_metrics_table_t *items = w2k_metrics_table(s, "shop", "items");
    CHECK(orders == w2k_metrics_table(s, "public", "orders"));
    CHECK(orders != items);

    scrape_t r;
    CHECK_INT(scrape(port, "GET", "/metrics", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    check_format(r.body.data);
    CHECK_LINE(r.body.data, "# HELP wal2kafka_changes_total Row changes sent to Kafka, by "
                            "table and operation (c insert, u update, d delete, t truncate, r "
                            "snapshot read).");
    CHECK_LINE(r.body.data, "# TYPE wal2kafka_changes_total counter");
    CHECK_LINE(r.body.data, "# TYPE wal2kafka_lag_bytes gauge");
    CHECK_LINE(r.body.data, "# TYPE wal2kafka_errors_total counter");
    CHECK_LINE(r.body.data, "# TYPE wal2kafka_reconnects_total counter");
    CHECK_LINE(r.body.data,
               "wal2kafka_changes_total{stream=\"main\",schema=\"public\",table=\"orders\","
               "op=\"c\"} 0");
    CHECK_LINE(r.body.data, "wal2kafka_stream_state{stream=\"main\",state=\"starting\"} 1");
    CHECK_LINE(r.body.data, "wal2kafka_stream_state{stream=\"main\",state=\"streaming\"} 0");
    CHECK_LINE(r.body.data, "wal2kafka_streaming{stream=\"main\"} 0");
    CHECK_LINE(r.body.data, "wal2kafka_in_flight_messages{stream=\"main\"} 0");
    CHECK_LINE(r.body.data, "wal2kafka_lag_seconds{stream=\"main\"} 0.000");
    CHECK(strstr(r.body.data, "wal2kafka_info{version=\"") != NULL);
    w2k_buf_free(&r.body);

    /* the values move */
    for (int i = 0; i < 3; i++)
        w2k_metrics_change(orders, 'c', 100);
    w2k_metrics_change(orders, 'u', 40);
    w2k_metrics_change(orders, 'd', 20);
    w2k_metrics_change(orders, 'x', 1000); /* not an operation: ignored */
    w2k_metrics_change(items, 'r', 7);
    w2k_metrics_change(items, 't', 0);
    w2k_metrics_change(NULL, 'c', 1); /* a NULL handle: nothing */
    w2k_metrics_snapshot_progress(items, 250, 1000);
    w2k_metrics_error(s, W2K_ERRKIND_KAFKA);
    w2k_metrics_error(s, W2K_ERRKIND_KAFKA);
    w2k_metrics_error(s, W2K_ERRKIND_REGISTRY);
    w2k_metrics_reconnect(s);
    int64_t commit = wall_us() - 5000000; /* a change committed 5 s ago */
    w2k_metrics_acked(s, 0x16B3748, commit);
    w2k_metrics_server_lsn(s, 0x16B3748 + 500);
    w2k_metrics_in_flight(s, 12);
    w2k_metrics_state(s, W2K_STREAM_STREAMING, NULL);

    CHECK_INT(scrape(port, "GET", "/metrics", &r), 0);
    const char *t = r.body.data;
    check_format(t);
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"public\",table=\"orders\","
                  "op=\"c\"} 3");
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"public\",table=\"orders\","
                  "op=\"u\"} 1");
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"public\",table=\"orders\","
                  "op=\"d\"} 1");
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"public\",table=\"orders\","
                  "op=\"t\"} 0");
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"shop\",table=\"items\","
                  "op=\"r\"} 1");
    CHECK_LINE(t, "wal2kafka_changes_total{stream=\"main\",schema=\"shop\",table=\"items\","
                  "op=\"t\"} 1");
    CHECK_LINE(t, "wal2kafka_change_bytes_total{stream=\"main\",schema=\"public\","
                  "table=\"orders\"} 360");
    CHECK_LINE(t, "wal2kafka_change_bytes_total{stream=\"main\",schema=\"shop\","
                  "table=\"items\"} 7");
    CHECK_LINE(t, "wal2kafka_snapshot_rows_read{stream=\"main\",schema=\"shop\","
                  "table=\"items\"} 250");
    CHECK_LINE(t, "wal2kafka_snapshot_rows_expected{stream=\"main\",schema=\"shop\","
                  "table=\"items\"} 1000");
    CHECK_LINE(t, "wal2kafka_errors_total{stream=\"main\",kind=\"kafka\"} 2");
    CHECK_LINE(t, "wal2kafka_errors_total{stream=\"main\",kind=\"registry\"} 1");
    CHECK_LINE(t, "wal2kafka_errors_total{stream=\"main\",kind=\"postgres\"} 0");
    CHECK_LINE(t, "wal2kafka_reconnects_total{stream=\"main\"} 1");
    CHECK_LINE(t, "wal2kafka_acked_lsn{stream=\"main\"} 23803720");
    CHECK_LINE(t, "wal2kafka_server_lsn{stream=\"main\"} 23804220");
    CHECK_LINE(t, "wal2kafka_lag_bytes{stream=\"main\"} 500");
    CHECK_LINE(t, "wal2kafka_in_flight_messages{stream=\"main\"} 12");
    CHECK_LINE(t, "wal2kafka_streaming{stream=\"main\"} 1");
    CHECK_LINE(t, "wal2kafka_stream_state{stream=\"main\",state=\"streaming\"} 1");
    CHECK_LINE(t, "wal2kafka_stream_state{stream=\"main\",state=\"starting\"} 0");
    double lag = sample(t, "wal2kafka_lag_seconds{stream=\"main\"}");
    CHECK(lag >= 5.0 && lag < 60.0);
    double ts = sample(t, "wal2kafka_acked_commit_timestamp_seconds{stream=\"main\"}");
    CHECK(ts > 1.7e9 && ts == (double)commit / 1e6);
    w2k_buf_free(&r.body);

    /* exact lag at a chosen time, then caught up: nothing in flight, confirmed to the end */
    w2k_buf_t page = W2K_BUF_INIT;
    CHECK_INT(w2k_metrics_render(m, commit + 2500000, &page), 0);
    CHECK_LINE(page.data, "wal2kafka_lag_seconds{stream=\"main\"} 2.500");
    w2k_buf_free(&page);
    w2k_metrics_in_flight(s, 0);
    w2k_metrics_acked(s, 0x16B3748 + 500, 0); /* follows the WAL end: keeps the commit time */
    CHECK_INT(w2k_metrics_render(m, commit + 2500000, &page), 0);
    CHECK_LINE(page.data, "wal2kafka_lag_seconds{stream=\"main\"} 0.000");
    CHECK_LINE(page.data, "wal2kafka_lag_bytes{stream=\"main\"} 0");
    CHECK(sample(page.data, "wal2kafka_acked_commit_timestamp_seconds{stream=\"main\"}") ==
          (double)commit / 1e6);
    w2k_buf_free(&page);

    /* reading paused at max_in_flight: the gauge while it lasts, the time once it ended */
    CHECK_INT(w2k_metrics_render(m, 0, &page), 0);
    CHECK_LINE(page.data, "wal2kafka_reading_paused{stream=\"main\"} 0");
    CHECK_LINE(page.data, "wal2kafka_reading_paused_seconds_total{stream=\"main\"} 0.000");
    w2k_buf_free(&page);
    w2k_metrics_paused(s, true);
    w2k_metrics_paused(s, true); /* the same pause */
    CHECK_INT(w2k_metrics_render(m, w2k_clock_wall_us() + 1500000, &page), 0);
    CHECK_LINE(page.data, "wal2kafka_reading_paused{stream=\"main\"} 1");
    double paused = sample(page.data, "wal2kafka_reading_paused_seconds_total{stream=\"main\"}");
    CHECK(paused >= 1.5 && paused < 2.5);
    w2k_buf_free(&page);
    w2k_metrics_paused(s, false);
    CHECK_INT(w2k_metrics_render(m, w2k_clock_wall_us() + 60000000, &page), 0);
    CHECK_LINE(page.data, "wal2kafka_reading_paused{stream=\"main\"} 0");
    paused = sample(page.data, "wal2kafka_reading_paused_seconds_total{stream=\"main\"}");
    CHECK(paused >= 0.0 && paused < 1.0); /* ended: no longer grows with the clock */
    w2k_buf_free(&page);

    /* and move again */
    w2k_metrics_change(orders, 'c', 1);
    CHECK_INT(scrape(port, "GET", "/metrics", &r), 0);
    CHECK_LINE(r.body.data, "wal2kafka_changes_total{stream=\"main\",schema=\"public\","
                            "table=\"orders\",op=\"c\"} 4");
    w2k_buf_free(&r.body);

    /* other paths and methods */
    CHECK_INT(scrape(port, "GET", "/nope", &r), 0);
    CHECK_INT(r.status, 404);
    w2k_buf_free(&r.body);
    CHECK_INT(scrape(port, "POST", "/metrics", &r), 0);
    CHECK_INT(r.status, 405);
    w2k_buf_free(&r.body);
    CHECK_INT(scrape(port, "HEAD", "/health", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body.data, "");
    w2k_buf_free(&r.body);

    w2k_metrics_stop(m);
}

static void label_escaping(void)
{
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_metrics_escape_label(&b, "a\"b\\c\nd\xc3\xa9 {x=y}");
    CHECK_STR(b.data, "a\\\"b\\\\c\\nd\xc3\xa9 {x=y}");
    w2k_buf_reset(&b);
    w2k_metrics_escape_label(&b, "");
    CHECK_STR(b.data ? b.data : "", "");
    w2k_buf_free(&b);

    w2k_err_t err;
    w2k_metrics_t *m = w2k_metrics_start("127.0.0.1:0", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    w2k_metrics_stream_t *s = w2k_metrics_stream(m, "we\"ird\\name\nx");
    w2k_metrics_table_t *t = w2k_metrics_table(s, "My \"Schema\"", "tab\\le");
    w2k_metrics_change(t, 'u', 3);
    scrape_t r;
    CHECK_INT(scrape(w2k_metrics_port(m), "GET", "/metrics", &r), 0);
    check_format(r.body.data);
    CHECK_LINE(r.body.data, "wal2kafka_changes_total{stream=\"we\\\"ird\\\\name\\nx\","
                            "schema=\"My \\\"Schema\\\"\",table=\"tab\\\\le\",op=\"u\"} 1");
    w2k_buf_free(&r.body);
    w2k_metrics_stop(m);
}

static void health(void)
{
    w2k_err_t err;
    w2k_metrics_t *m = w2k_metrics_start("127.0.0.1:0", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    int port = w2k_metrics_port(m);
    scrape_t r;

    CHECK_INT(scrape(port, "GET", "/health", &r), 0); /* no stream yet */
    CHECK_INT(r.status, 503);
    w2k_buf_free(&r.body);

    w2k_metrics_stream_t *a = w2k_metrics_stream(m, "a");
    w2k_metrics_stream_t *b = w2k_metrics_stream(m, "b");
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(r.body.data, "stream \"a\" is not streaming: starting") != NULL);
    w2k_buf_free(&r.body);

    w2k_metrics_state(a, W2K_STREAM_STREAMING, NULL);
    w2k_metrics_state(b, W2K_STREAM_SNAPSHOT, "reading public.orders");
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(r.body.data, "stream \"b\" is not streaming: snapshot: reading public.orders\n");
    w2k_buf_free(&r.body);

    w2k_metrics_state(b, W2K_STREAM_STREAMING, NULL);
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body.data, "ok\n");
    w2k_buf_free(&r.body);

    w2k_metrics_state(a, W2K_STREAM_RECONNECTING, "PostgreSQL: connection refused");
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 503);
    CHECK_STR(r.body.data,
              "stream \"a\" is not streaming: reconnecting: PostgreSQL: connection refused\n");
    w2k_buf_free(&r.body);
    CHECK_INT(scrape(port, "GET", "/metrics", &r), 0);
    CHECK_LINE(r.body.data, "wal2kafka_stream_state{stream=\"a\",state=\"reconnecting\"} 1");
    CHECK_LINE(r.body.data, "wal2kafka_streaming{stream=\"a\"} 0");
    CHECK_LINE(r.body.data, "wal2kafka_streaming{stream=\"b\"} 1");
    w2k_buf_free(&r.body);

    /* a hot standby is healthy: it takes over when the active instance goes */
    w2k_metrics_state(a, W2K_STREAM_STANDBY, "slot s is held by PID 42");
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body.data, "standby\nstream \"a\" is standby: slot s is held by PID 42\n");
    w2k_buf_free(&r.body);
    CHECK_INT(scrape(port, "GET", "/metrics", &r), 0);
    CHECK_LINE(r.body.data, "wal2kafka_stream_state{stream=\"a\",state=\"standby\"} 1");
    CHECK_LINE(r.body.data, "wal2kafka_stream_standby{stream=\"a\"} 1");
    CHECK_LINE(r.body.data, "wal2kafka_stream_standby{stream=\"b\"} 0");
    w2k_buf_free(&r.body);

    w2k_metrics_state(a, W2K_STREAM_STREAMING, NULL);
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body.data, "ok\n");
    w2k_buf_free(&r.body);
    w2k_metrics_state(b, W2K_STREAM_FAILED, "schema registry refused subject x-value");
    CHECK_INT(scrape(port, "GET", "/health", &r), 0);
    CHECK_INT(r.status, 503);
    CHECK(strstr(r.body.data, "failed: schema registry refused") != NULL);
    w2k_buf_free(&r.body);
    w2k_metrics_stop(m);
}

static void bind_errors(void)
{
    w2k_err_t err;
    w2k_metrics_t *m = w2k_metrics_start("127.0.0.1:0", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", w2k_metrics_port(m));

    /* the port is taken: a clear error naming address, cause and what to do */
    w2k_err_clear(&err);
    w2k_metrics_t *m2 = w2k_metrics_start(addr, &err);
    CHECK(m2 == NULL);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(strstr(err.msg, addr) != NULL);
    CHECK(strstr(err.msg, "Address already in use") != NULL);
    CHECK(strstr(err.hint, "metrics.listen") != NULL);
    fprintf(stderr, "  port in use reads: error: %s\n  hint: %s\n", err.msg, err.hint);
    w2k_metrics_stop(m2);

    const char *bad[] = {"nonsense",        "127.0.0.1",      "127.0.0.1:", "[::1]",
                         "127.0.0.1:99999", "127.0.0.1:12ab", "::1:9187",   "[::1]9187"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w2k_err_clear(&err);
        CHECK(w2k_metrics_start(bad[i], &err) == NULL);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(strstr(err.msg, bad[i]) != NULL);
    }
    /* a port alone, or ":PORT", binds loopback */
    const char *loop[] = {"0", ":0"};
    for (size_t i = 0; i < 2; i++) {
        w2k_metrics_t *ml = w2k_metrics_start(loop[i], &err);
        CHECK(ml != NULL);
        scrape_t lr;
        if (ml) {
            CHECK_INT(scrape(w2k_metrics_port(ml), "GET", "/health", &lr), 0);
            CHECK_INT(lr.status, 503);
            w2k_buf_free(&lr.body);
        }
        w2k_metrics_stop(ml);
    }
    /* an address that is not this host's */
    w2k_err_clear(&err);
    CHECK(w2k_metrics_start("192.0.2.1:0", &err) == NULL);
    CHECK(strstr(err.msg, "Cannot assign requested address") != NULL);
    int port = w2k_metrics_port(m);
    w2k_metrics_stop(m);

    /* after stop nothing listens there any more (rebinding the port could race with
     * other processes that get it as an ephemeral port) */
    scrape_t r;
    fprintf(stderr, "  (a \"Couldn't connect\" next is expected)\n");
    CHECK_INT(scrape(port, "GET", "/health", &r), -1);
    w2k_buf_free(&r.body);

    /* IPv6 loopback, when the host has it */
    m2 = w2k_metrics_start("[::1]:0", &err);
    if (m2) {
        CHECK(w2k_metrics_port(m2) > 0);
        w2k_metrics_stop(m2);
    }
}

static void disabled(void)
{
    w2k_err_t err;
    w2k_err_clear(&err);
    w2k_metrics_t *m = w2k_metrics_start(NULL, &err);
    CHECK(m != NULL);
    CHECK_INT(w2k_metrics_port(m), 0);
    w2k_metrics_table_t *t = w2k_metrics_table(w2k_metrics_stream(m, "s"), "p", "t");
    w2k_metrics_change(t, 'd', 9);
    w2k_buf_t page = W2K_BUF_INIT;
    CHECK_INT(w2k_metrics_render(m, 0, &page), 0);
    CHECK_LINE(page.data,
               "wal2kafka_changes_total{stream=\"s\",schema=\"p\",table=\"t\",op=\"d\"} 1");
    w2k_buf_free(&page);
    w2k_metrics_stop(m);
    /* NULL handles everywhere are no-ops */
    CHECK(w2k_metrics_stream(NULL, "x") == NULL);
    CHECK(w2k_metrics_table(NULL, "a", "b") == NULL);
    w2k_metrics_acked(NULL, 1, 1);
    w2k_metrics_state(NULL, W2K_STREAM_STREAMING, "x");
    w2k_metrics_stop(NULL);
    CHECK_STR(w2k_metrics_state_name(W2K_STREAM_RECONNECTING), "reconnecting");
    CHECK_STR(w2k_metrics_errkind_name(W2K_ERRKIND_DECODE), "decode");
}

/* A scraper thread racing the main thread's updates: no data race (see TSan), no lost
 * count, and the counters a scrape sees never go down. The main thread keeps updating
 * until the scraper has seen the values move several times. */
typedef struct race_s {
    int port;
    atomic_bool stop;
    atomic_int scrapes;
    atomic_int moved; /* scrapes that saw a bigger count than the one before */
    int went_down;
    int failed;
} race_t;

static void *scraper(void *opaque)
{
    race_t *rc = opaque;
    double last = 0;
    while (!atomic_load(&rc->stop)) {
        scrape_t r;
        if (scrape(rc->port, "GET", "/metrics", &r) != 0 || r.status != 200) {
            rc->failed++;
        } else {
            double v = sample(r.body.data, "wal2kafka_changes_total{stream=\"race\",schema="
                                           "\"public\",table=\"t\",op=\"c\"}");
            if (v < 0)
                rc->failed++; /* the series is missing */
            else if (v < last)
                rc->went_down++;
            else if (v > last)
                atomic_fetch_add(&rc->moved, 1);
            last = v;
            atomic_fetch_add(&rc->scrapes, 1);
        }
        w2k_buf_free(&r.body);
        scrape(rc->port, "GET", "/health", &r);
        w2k_buf_free(&r.body);
    }
    return NULL;
}

static void race(void)
{
    w2k_err_t err;
    w2k_metrics_t *m = w2k_metrics_start("127.0.0.1:0", &err);
    CHECK(m != NULL);
    if (!m)
        return;
    race_t rc = {.port = w2k_metrics_port(m)};
    atomic_init(&rc.stop, false);
    atomic_init(&rc.scrapes, 0);
    atomic_init(&rc.moved, 0);
    w2k_metrics_stream_t *s = w2k_metrics_stream(m, "race");
    w2k_metrics_table_t *t = w2k_metrics_table(s, "public", "t");
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, scraper, &rc), 0);
    int64_t deadline = wall_us() + 30000000;
    long n = 0;
    while ((atomic_load(&rc.moved) < 10 || n < 100000) && wall_us() < deadline) {
        for (int k = 0; k < 1000; k++, n++) {
            w2k_metrics_change(t, 'c', 10);
            w2k_metrics_acked(s, (uint64_t)n, n + 1);
            w2k_metrics_in_flight(s, n % 100);
        }
        if (n % 20000 == 0) {
            w2k_metrics_state(s, n % 40000 ? W2K_STREAM_STREAMING : W2K_STREAM_RECONNECTING,
                              "flapping");
            char name[32];
            snprintf(name, sizeof name, "t%ld", n);
            w2k_metrics_table(s, "public", name); /* tables appear while scraped */
        }
    }
    atomic_store(&rc.stop, true);
    pthread_join(th, NULL);
    CHECK(atomic_load(&rc.moved) >= 10); /* the scrapes overlapped the updates */
    CHECK_INT(rc.went_down, 0);
    CHECK_INT(rc.failed, 0);
    w2k_buf_t page = W2K_BUF_INIT;
    w2k_metrics_render(m, 0, &page);
    CHECK(sample(page.data, "wal2kafka_changes_total{stream=\"race\",schema=\"public\","
                            "table=\"t\",op=\"c\"}") == (double)n);
    CHECK(sample(page.data, "wal2kafka_change_bytes_total{stream=\"race\",schema=\"public\","
                            "table=\"t\"}") == 10.0 * (double)n);
    w2k_buf_free(&page);
    w2k_metrics_stop(m);
}

/* Basic auth: every path needs the user and password; a wrong or missing one gets 401
 * with a challenge; a user without a password is refused at start. */
static void basic_auth(void)
{
    w2k_err_t err;
    w2k_metrics_opts_t o = {.listen = "127.0.0.1:0", .username = "scraper"};
    CHECK(w2k_metrics_start_opts(&o, &err) == NULL);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(strstr(err.hint, "W2K_METRICS_PASSWORD") != NULL);
    o.password = "pw-marker";
    w2k_metrics_t *m = w2k_metrics_start_opts(&o, &err);
    CHECK(m != NULL);
    if (!m)
        return;
    int port = w2k_metrics_port(m);
    static const struct {
        const char *userpwd, *path;
        long status;
    } cases[] = {{NULL, "/metrics", 401},
                 {NULL, "/health", 401},
                 {"scraper:wrong", "/metrics", 401},
                 {"scraper:pw-marke", "/metrics", 401},
                 {"scraper:pw-marker2", "/metrics", 401},
                 {"other:pw-marker", "/metrics", 401},
                 {"scraper:pw-marker", "/metrics", 200},
                 {"scraper:pw-marker", "/health", 503},
                 {"scraper:pw-marker", "/nothing", 404}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        scrape_t r;
        scrape_userpwd = cases[i].userpwd;
        CHECK_INT(scrape(port, "GET", cases[i].path, &r), 0);
        CHECK_INT(r.status, cases[i].status);
        CHECK(strstr(r.body.data, "pw-marker") == NULL);
        w2k_buf_free(&r.body);
    }
    scrape_userpwd = NULL;
    w2k_metrics_stop(m);
}

int main(void)
{
    w2k_log_setup(W2K_LOG_WARN, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    exposition();
    label_escaping();
    health();
    bind_errors();
    disabled();
    race();
    basic_auth();
    curl_global_cleanup();
    return unit_report("test_metrics");
}
