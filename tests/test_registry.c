/* test_registry.c — the schema registry client without a real registry: the wire
 * header, and the client's requests, caching and error mapping against a small in-test
 * HTTP server (libmicrohttpd) that plays a Confluent-compatible registry and counts the
 * requests it gets. The real registry (Apicurio) is exercised by
 * integration/test_registry_client.py. */
#include "registry.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define PASSWORD  "s3cr3t-pw"
#define AUTH_GOOD "Basic dzJrOnMzY3IzdC1wdw==" /* w2k:s3cr3t-pw */

/* ------------------------------------------------------------------ wire header */

static void wire_header(void)
{
    uint8_t h[W2K_REGISTRY_HEADER_LEN];
    int32_t id = 0;
    w2k_registry_header(1, h);
    CHECK_MEM(h, 5, "\x00\x00\x00\x00\x01", 5);
    w2k_registry_header(0x01020304, h);
    CHECK_MEM(h, 5, "\x00\x01\x02\x03\x04", 5);
    CHECK_INT(w2k_registry_header_parse(h, 5, &id), 0);
    CHECK_INT(id, 0x01020304);
    w2k_registry_header(INT32_MAX, h);
    CHECK_MEM(h, 5, "\x00\x7f\xff\xff\xff", 5);
    CHECK_INT(w2k_registry_header_parse(h, 5, &id), 0);
    CHECK_INT(id, INT32_MAX);
    CHECK_INT(w2k_registry_header_parse("\x00\x00\x00\x00\x07payload", 12, &id), 0);
    CHECK_INT(id, 7);
    CHECK_INT(w2k_registry_header_parse("\x00\x00\x00\x01", 4, &id), -1);
    CHECK_INT(w2k_registry_header_parse("\xc3\x01\x00\x00\x01", 5, &id), -1);
    CHECK_INT(w2k_registry_header_parse(NULL, 0, &id), -1);
}

/* ------------------------------------------------------------------ fake registry */

/* A test double: answers like a Confluent-compatible registry under /api, hands out one
 * id per distinct schema text, and counts requests. Special subjects trigger errors. */
typedef struct fake_s {
    pthread_mutex_t lock;
    struct MHD_Daemon *d;
    int port;
    int requests;
    int posts;
    char *texts[32]; /* schema text of id i+1 */
    int ntexts;
    char last_path[512];
    char last_content_type[128];
    char last_auth[128];
    bool bad_body; /* a POST body without a "schema" string */
} fake_t;

typedef struct upload_s {
    w2k_buf_t body;
} upload_t;

static enum MHD_Result fake_reply(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static enum MHD_Result fake_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *data,
                                    size_t *size, void **req)
{
    (void)version;
    fake_t *f = cls;
    if (!*req) {
        upload_t *u = calloc(1, sizeof *u);
        *req = u;
        return u ? MHD_YES : MHD_NO;
    }
    upload_t *u = *req;
    if (*size) {
        w2k_buf_append(&u->body, data, *size);
        *size = 0;
        return MHD_YES;
    }

    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    const char *dtg = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "defaultToGlobal");
    pthread_mutex_lock(&f->lock);
    f->requests++;
    snprintf(f->last_path, sizeof f->last_path, "%s %s", method, url);
    snprintf(f->last_content_type, sizeof f->last_content_type, "%s", ct ? ct : "");
    snprintf(f->last_auth, sizeof f->last_auth, "%s", auth ? auth : "");
    pthread_mutex_unlock(&f->lock);

    char out[1024];
    enum MHD_Result ret;
    if (strncmp(url, "/api/", 5) != 0) {
        ret = fake_reply(c, 404, "{\"error_code\":404,\"message\":\"HTTP 404 Not Found\"}");
    } else if (strstr(url, "/subjects/auth-value/") && (!auth || strcmp(auth, AUTH_GOOD) != 0)) {
        ret = fake_reply(c, 401, "{\"error_code\":401,\"message\":\"Unauthorized\"}");
    } else if (strstr(url, "/subjects/echo-value/")) {
        /* a registry that (badly) echoes credentials: the client must not repeat them */
        ret = fake_reply(c, 403,
                         "{\"error_code\":403,\"message\":\"user w2k with password " PASSWORD
                         " may not write\"}");
    } else if (strcmp(method, "POST") == 0 && ends_with(url, "/versions")) {
        char *schema = NULL;
        int rc = w2k_json_find_string(u->body.data, u->body.len, "schema", &schema);
        pthread_mutex_lock(&f->lock);
        f->posts++;
        if (rc != 0)
            f->bad_body = true;
        pthread_mutex_unlock(&f->lock);
        if (rc != 0) {
            ret = fake_reply(c, 400, "{\"error_code\":400,\"message\":\"no schema\"}");
        } else if (strstr(url, "/subjects/incompat-value/") ||
                   strstr(url, "/subjects/none-value/")) {
            ret = fake_reply(c, 409,
                             "{\"message\":\"io.apicurio.registry.rules.violation."
                             "RuleViolationException: Incompatible artifact: incompat-value "
                             "[AVRO], num of incompatible diffs: {1}\",\"error_code\":409}");
        } else if (strstr(url, "/subjects/invalid-value/")) {
            ret = fake_reply(c, 422, "{\"message\":\"Invalid schema\",\"error_code\":42201}");
        } else if (strstr(url, "/subjects/down-value/")) {
            ret = fake_reply(c, 503, "{\"message\":\"storage unavailable\",\"error_code\":503}");
        } else if (strstr(url, "/subjects/html-value/")) {
            ret = fake_reply(c, 200, "<html>a web page</html>");
        } else {
            int id = 0;
            pthread_mutex_lock(&f->lock);
            for (int i = 0; i < f->ntexts; i++)
                if (strcmp(f->texts[i], schema) == 0)
                    id = i + 1;
            if (!id && f->ntexts < 32) {
                f->texts[f->ntexts++] = strdup(schema);
                id = f->ntexts;
            }
            pthread_mutex_unlock(&f->lock);
            snprintf(out, sizeof out, "{\"id\":%d}", id);
            ret = fake_reply(c, 200, out);
        }
        free(schema);
    } else if (strcmp(method, "GET") == 0 && strcmp(url, "/api/config/incompat-value") == 0) {
        /* like Apicurio: a subject without its own rule is "not found", even with
         * defaultToGlobal=true */
        ret = fake_reply(c, dtg ? 404 : 400,
                         "{\"message\":\"Subject 'incompat-value' not found.\","
                         "\"error_code\":40401}");
    } else if (strcmp(method, "GET") == 0 && strcmp(url, "/api/config/none-value") == 0) {
        /* like Apicurio 2.x: NONE for a subject without a rule of its own, whatever the
         * global rule */
        ret = fake_reply(c, 200, "{\"compatibilityLevel\":\"NONE\"}");
    } else if (strcmp(method, "GET") == 0 && strcmp(url, "/api/config") == 0) {
        ret = fake_reply(c, 200, "{\"compatibilityLevel\":\"BACKWARD\"}");
    } else if (strcmp(method, "GET") == 0 && strncmp(url, "/api/schemas/ids/", 17) == 0) {
        int id = atoi(url + 17);
        pthread_mutex_lock(&f->lock);
        if (id >= 1 && id <= f->ntexts) {
            w2k_buf_t b = W2K_BUF_INIT;
            w2k_buf_puts(&b, "{\"schema\":");
            w2k_buf_put_json_string(&b, f->texts[id - 1], strlen(f->texts[id - 1]));
            w2k_buf_putc(&b, '}');
            pthread_mutex_unlock(&f->lock);
            ret = fake_reply(c, 200, b.data);
            w2k_buf_free(&b);
        } else {
            pthread_mutex_unlock(&f->lock);
            snprintf(out, sizeof out, "{\"message\":\"Schema %d not found.\",\"error_code\":40403}",
                     id);
            ret = fake_reply(c, 404, out);
        }
    } else {
        ret = fake_reply(c, 404, "{\"message\":\"no such resource\",\"error_code\":404}");
    }
    return ret;
}

static void fake_done(void *cls, struct MHD_Connection *c, void **req,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    upload_t *u = *req;
    if (u) {
        w2k_buf_free(&u->body);
        free(u);
        *req = NULL;
    }
}

static int fake_start(fake_t *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->lock, NULL);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    f->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, fake_handler, f,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_NOTIFY_COMPLETED, fake_done, NULL, MHD_OPTION_END);
    if (!f->d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : 0;
    return f->port ? 0 : -1;
}

static void fake_stop(fake_t *f)
{
    if (f->d)
        MHD_stop_daemon(f->d);
    for (int i = 0; i < f->ntexts; i++)
        free(f->texts[i]);
    pthread_mutex_destroy(&f->lock);
}

static int fake_requests(fake_t *f)
{
    pthread_mutex_lock(&f->lock);
    int n = f->requests;
    pthread_mutex_unlock(&f->lock);
    return n;
}

static w2k_registry_t *client(fake_t *f, const char *user, const char *password)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/", f->port);
    w2k_err_t err;
    w2k_err_clear(&err);
    w2k_registry_t *r = w2k_registry_new(url, user, password, NULL, &err);
    CHECK(r != NULL);
    if (!r)
        fprintf(stderr, "w2k_registry_new: %s\n", err.msg);
    return r;
}

static const w2k_schema_t schema_a = {
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}",
    0x1111111111111111ULL, 0xaaaaaaaaaaaaaaaaULL};
/* schema_a with a property: the same fingerprint, another text */
static const w2k_schema_t schema_a_prop = {
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"int\","
    "\"masked\":\"hash\"}]}",
    0x1111111111111111ULL, 0xbbbbbbbbbbbbbbbbULL};
static const w2k_schema_t schema_b = {
    "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"],\"default\":null,"
    "\"doc\":\"quote \\\" and \\\\ \xc3\xa9\"}]}",
    0x2222222222222222ULL, 0xccccccccccccccccULL};

/* ------------------------------------------------------------------ client tests */

static void register_and_cache(void)
{
    fake_t f;
    CHECK_INT(fake_start(&f), 0);
    w2k_registry_t *r = client(&f, NULL, NULL);
    if (!r) {
        fake_stop(&f);
        return;
    }
    w2k_err_t err;
    w2k_err_clear(&err);
    int32_t id = -1, id2 = -1;

    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a, &id, &err), 0);
    CHECK_INT(id, 1);
    CHECK_INT(fake_requests(&f), 1);
    pthread_mutex_lock(&f.lock);
    CHECK_STR(f.last_path, "POST /api/subjects/t.public.orders-value/versions");
    CHECK_STR(f.last_content_type, "application/vnd.schemaregistry.v1+json");
    CHECK_STR(f.last_auth, "");
    CHECK(!f.bad_body);
    CHECK_STR(f.texts[0], schema_a.json); /* the registry got the exact text */
    pthread_mutex_unlock(&f.lock);

    /* the same (subject, fingerprint): answered from the cache, per message */
    for (int i = 0; i < 1000; i++) {
        id2 = -1;
        CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a, &id2, &err), 0);
    }
    CHECK_INT(id2, 1);
    CHECK_INT(fake_requests(&f), 1);
    CHECK_INT(w2k_registry_requests(r), 1);

    /* another subject with the same schema: asked once */
    CHECK_INT(w2k_registry_register(r, "t.public.items-value", &schema_a, &id2, &err), 0);
    CHECK_INT(id2, 1);
    CHECK_INT(fake_requests(&f), 2);
    /* a new schema version of the first subject: asked once, new id */
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_b, &id2, &err), 0);
    CHECK_INT(id2, 2);
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_b, &id2, &err), 0);
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a, &id, &err), 0);
    CHECK_INT(id, 1);
    CHECK_INT(fake_requests(&f), 3);
    pthread_mutex_lock(&f.lock);
    CHECK_STR(f.texts[1], schema_b.json);
    pthread_mutex_unlock(&f.lock);
    /* the same fingerprint with another property (a masked column's mark): a schema of
     * its own, asked once, not answered with schema_a's id */
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a_prop, &id2, &err), 0);
    CHECK_INT(id2, 3);
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a_prop, &id2, &err), 0);
    CHECK_INT(w2k_registry_register(r, "t.public.orders-value", &schema_a, &id, &err), 0);
    CHECK_INT(id2, 3);
    CHECK_INT(id, 1);
    CHECK_INT(fake_requests(&f), 4);
    pthread_mutex_lock(&f.lock);
    CHECK_STR(f.texts[2], schema_a_prop.json);
    pthread_mutex_unlock(&f.lock);

    /* many subjects: the cache grows and still answers every one */
    char subject[64];
    for (int i = 0; i < 200; i++) {
        snprintf(subject, sizeof subject, "t.s.table_%d-key", i);
        CHECK_INT(w2k_registry_register(r, subject, &schema_a, &id, &err), 0);
    }
    int before = fake_requests(&f);
    CHECK_INT(before, 204);
    for (int i = 0; i < 200; i++) {
        snprintf(subject, sizeof subject, "t.s.table_%d-key", i);
        id = -1;
        CHECK_INT(w2k_registry_register(r, subject, &schema_a, &id, &err), 0);
        CHECK_INT(id, 1);
    }
    CHECK_INT(fake_requests(&f), before);

    /* a subject that needs escaping in the URL */
    CHECK_INT(w2k_registry_register(r, "odd name/x-value", &schema_a, &id, &err), 0);
    pthread_mutex_lock(&f.lock);
    CHECK_STR(f.last_path, "POST /api/subjects/odd name/x-value/versions"); /* decoded by MHD */
    pthread_mutex_unlock(&f.lock);

    /* schemas by id, cached */
    w2k_err_clear(&err);
    char *text = w2k_registry_schema_by_id(r, 2, &err);
    CHECK_STR(text, schema_b.json);
    free(text);
    int n = fake_requests(&f);
    text = w2k_registry_schema_by_id(r, 2, &err);
    CHECK_STR(text, schema_b.json);
    free(text);
    CHECK_INT(fake_requests(&f), n);
    text = w2k_registry_schema_by_id(r, 99, &err);
    CHECK(text == NULL);
    CHECK_INT(err.code, W2K_EXIT_KAFKA);
    CHECK(!err.retryable);
    CHECK(strstr(err.msg, "schema id 99") != NULL);
    CHECK(strstr(err.msg, "Schema 99 not found") != NULL);

    w2k_registry_destroy(r);
    fake_stop(&f);
}

static void errors(void)
{
    fake_t f;
    CHECK_INT(fake_start(&f), 0);
    w2k_registry_t *r = client(&f, NULL, NULL);
    if (!r) {
        fake_stop(&f);
        return;
    }
    w2k_err_t err;
    int32_t id = -1;

    /* 409: subject, rule (the global one: the subject has none) and what to do */
    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "incompat-value", &schema_b, &id, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_KAFKA);
    CHECK(!err.retryable);
    CHECK(strstr(err.msg, "subject \"incompat-value\"") != NULL);
    CHECK(strstr(err.msg, "compatibility rule BACKWARD") != NULL);
    CHECK(strstr(err.msg, "Incompatible artifact: incompat-value") != NULL);
    CHECK(strstr(err.msg, "RuleViolationException") == NULL); /* Java noise dropped */
    CHECK(strstr(err.hint, "make the change compatible") != NULL);
    CHECK(strstr(err.hint, "/config/incompat-value") != NULL);
    CHECK(strstr(err.hint, "new topic prefix") != NULL);
    fprintf(stderr, "  409 reads: error: %s\n  hint: %s\n", err.msg, err.hint);
    /* a refusal is not cached: asking again asks the registry again */
    int n = fake_requests(&f);
    CHECK_INT(w2k_registry_register(r, "incompat-value", &schema_b, &id, &err), -1);
    CHECK(fake_requests(&f) > n);

    /* a subject rule of NONE cannot have refused it: the global rule is named */
    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "none-value", &schema_b, &id, &err), -1);
    CHECK(strstr(err.msg, "compatibility rule BACKWARD") != NULL);

    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "invalid-value", &schema_a, &id, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_KAFKA);
    CHECK(!err.retryable);
    CHECK(strstr(err.msg, "invalid") != NULL);
    CHECK(strstr(err.msg, "Invalid schema") != NULL);

    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "down-value", &schema_a, &id, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_RUNTIME);
    CHECK(err.retryable);
    CHECK(strstr(err.msg, "HTTP 503") != NULL);
    CHECK(strstr(err.msg, "storage unavailable") != NULL);

    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "html-value", &schema_a, &id, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(!err.retryable);
    CHECK(strstr(err.hint, "/apis/ccompat/v7") != NULL);

    w2k_err_clear(&err);
    CHECK_INT(w2k_registry_register(r, "auth-value", &schema_a, &id, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(!err.retryable);
    CHECK(strstr(err.msg, "401") != NULL);
    CHECK(strstr(err.hint, "credentials") != NULL);
    w2k_registry_destroy(r);

    /* wrong path: 404 names the URL and says where the API lives */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/wrong", f.port);
    r = w2k_registry_new(url, NULL, NULL, NULL, &err);
    CHECK(r != NULL);
    if (r) {
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "x-value", &schema_a, &id, &err), -1);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(strstr(err.msg, "404") != NULL);
        CHECK(strstr(err.msg, url) != NULL);
        w2k_registry_destroy(r);
    }
    fake_stop(&f);
}

static void credentials(void)
{
    fake_t f;
    CHECK_INT(fake_start(&f), 0);
    w2k_err_t err;
    int32_t id = -1;

    /* basic auth as configured */
    w2k_registry_t *r = client(&f, "w2k", PASSWORD);
    if (r) {
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "auth-value", &schema_a, &id, &err), 0);
        pthread_mutex_lock(&f.lock);
        CHECK_STR(f.last_auth, AUTH_GOOD);
        pthread_mutex_unlock(&f.lock);
        w2k_registry_destroy(r);
    }

    /* a wrong password: the error names the user, not the password */
    r = client(&f, "w2k", "wrong-" PASSWORD);
    if (r) {
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "auth-value", &schema_a, &id, &err), -1);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(strstr(err.hint, "\"w2k\"") != NULL);
        CHECK(strstr(err.msg, PASSWORD) == NULL);
        CHECK(strstr(err.hint, PASSWORD) == NULL);
        w2k_registry_destroy(r);
    }
    /* a registry that echoes the password: scrubbed from the error */
    r = client(&f, "w2k", PASSWORD);
    if (r) {
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "echo-value", &schema_a, &id, &err), -1);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(strstr(err.msg, "403") != NULL);
        CHECK(strstr(err.msg, PASSWORD) == NULL);
        CHECK(strstr(err.hint, PASSWORD) == NULL);
        CHECK(strstr(err.msg, "with password ***") != NULL);
        w2k_registry_destroy(r);
    }

    /* credentials in the URL: used, and never printed */
    char url[160];
    snprintf(url, sizeof url, "http://w2k:%s@127.0.0.1:%d/api", PASSWORD, f.port);
    r = w2k_registry_new(url, NULL, NULL, NULL, &err);
    CHECK(r != NULL);
    if (r) {
        CHECK(strstr(w2k_registry_url(r), PASSWORD) == NULL);
        CHECK(strstr(w2k_registry_url(r), "127.0.0.1") != NULL);
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "auth-value", &schema_a, &id, &err), 0);
        CHECK_INT(w2k_registry_register(r, "down-value", &schema_a, &id, &err), -1);
        CHECK(strstr(err.msg, PASSWORD) == NULL);
        CHECK(strstr(err.hint, PASSWORD) == NULL);
        w2k_registry_destroy(r);
    }
    fake_stop(&f);
}

/* A port nothing listens on: bind, read the port, close. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static void registry_down(void)
{
    w2k_err_t err;
    int32_t id = -1;
    char url[128];

    /* connection refused: retryable, names the URL, says to check the registry */
    int port = closed_port();
    CHECK(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/apis/ccompat/v7", port);
    w2k_registry_t *r = w2k_registry_new(url, NULL, NULL, NULL, &err);
    CHECK(r != NULL);
    if (r) {
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "x-value", &schema_a, &id, &err), -1);
        CHECK(err.retryable);
        CHECK_INT(err.code, W2K_EXIT_RUNTIME);
        CHECK(strstr(err.msg, url) != NULL);
        CHECK(strstr(err.msg, "subject \"x-value\"") != NULL);
        CHECK(strstr(err.hint, "running and reachable") != NULL);
        fprintf(stderr, "  down reads: error: %s\n  hint: %s\n", err.msg, err.hint);
        char *text = w2k_registry_schema_by_id(r, 1, &err);
        CHECK(text == NULL);
        CHECK(err.retryable);
        w2k_registry_destroy(r);
    }

    /* a registry that accepts the connection and never answers: a timeout, retryable */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    CHECK_INT(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    CHECK_INT(listen(fd, 4), 0);
    CHECK_INT(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/apis/ccompat/v7", ntohs(sa.sin_port));
    r = w2k_registry_new(url, NULL, NULL, NULL, &err);
    CHECK(r != NULL);
    if (r) {
        w2k_registry_set_timeouts(r, 0, 300);
        w2k_err_clear(&err);
        CHECK_INT(w2k_registry_register(r, "x-value", &schema_a, &id, &err), -1);
        CHECK(err.retryable);
        CHECK(strstr(err.msg, "imeout") != NULL || strstr(err.msg, "timed out") != NULL);
        w2k_registry_destroy(r);
    }
    close(fd);
}

static void bad_urls(void)
{
    const char *bad[] = {"", "ftp://127.0.0.1/x", "not a url at all",
                         "http://127.0.0.1:8080/api?x=1", "http://127.0.0.1:8080/api#frag"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w2k_err_t err;
        w2k_err_clear(&err);
        w2k_registry_t *r = w2k_registry_new(bad[i], NULL, NULL, NULL, &err);
        CHECK(r == NULL);
        CHECK_INT(err.code, W2K_EXIT_CONFIG);
        CHECK(err.hint[0] != '\0');
        w2k_registry_destroy(r);
    }
    /* a password in a URL that does not parse is not echoed */
    w2k_err_t err;
    w2k_err_clear(&err);
    CHECK(w2k_registry_new("http://u:" PASSWORD "@[bad", NULL, NULL, NULL, &err) == NULL);
    CHECK(strstr(err.msg, PASSWORD) == NULL);
    /* trailing slashes are dropped */
    w2k_registry_t *r = w2k_registry_new("https://reg.example:8081/apis/ccompat/v7//", "u", "p",
                                         "/nonexistent/ca.pem", &err);
    CHECK(r != NULL);
    if (r)
        CHECK_STR(w2k_registry_url(r), "https://reg.example:8081/apis/ccompat/v7");
    w2k_registry_destroy(r);
    w2k_registry_destroy(NULL);
}

int main(void)
{
    w2k_log_setup(W2K_LOG_WARN, 0);
    wire_header();
    register_and_cache();
    errors();
    credentials();
    registry_down();
    bad_urls();
    return unit_report("test_registry");
}
