/* registry.c — Confluent-compatible schema registry client over libcurl: register
 * schemas under subjects (cached by subject, fingerprint and full text), fetch schemas
 * by id, and the wire header. Its answers are read with json.c. */
#include "registry.h"
#include "buf.h"
#include "json.h"
#include "log.h"
#include "version.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#define REG_CONNECT_MS   5000L
#define REG_TOTAL_MS     30000L
#define REG_MAX_RESPONSE (64u << 20) /* bytes; a schema registry answer is far smaller */
#define REG_CT           "application/vnd.schemaregistry.v1+json"

/* One cached registration: (subject, fingerprint, text_fp) -> id: a schema that differs
 * only in properties (same fingerprint) is registered as the new version it is. subject
 * NULL = empty slot. */
typedef struct reg_entry_s {
    uint64_t hash;
    uint64_t fingerprint;
    uint64_t text_fp;
    char *subject;
    int32_t id;
} reg_entry_t;

/* One cached schema text by id. */
typedef struct reg_schema_s {
    int32_t id;
    char *json;
} reg_schema_t;

struct w2k_registry_s {
    char *url;      /* base URL for requests, no trailing slash (may hold user:password@) */
    char *url_safe; /* the same without user:password, for messages */
    char *user;
    char *password;
    char *ca_file;
    CURL *curl;
    struct curl_slist *hdr_post;
    struct curl_slist *hdr_get;
    long connect_ms;
    long total_ms;
    w2k_buf_t body;    /* the last response body */
    w2k_buf_t req;     /* scratch: request URL and body */
    bool body_too_big; /* the last response exceeded REG_MAX_RESPONSE */
    bool offline;      /* w2k_registry_answer: make no request (the 409 rule lookup) */
    char curl_msg[CURL_ERROR_SIZE];
    uint64_t requests;
    reg_entry_t *cache; /* open addressing, linear probing, capacity a power of 2 */
    size_t cache_cap;
    size_t cache_len;
    reg_schema_t *schemas;
    size_t schemas_len;
    size_t schemas_cap;
};

/* ------------------------------------------------------------------ wire header */

void w2k_registry_header(int32_t id, uint8_t out[W2K_REGISTRY_HEADER_LEN])
{
    uint32_t u = (uint32_t)id;
    out[0] = 0;
    out[1] = (uint8_t)(u >> 24);
    out[2] = (uint8_t)(u >> 16);
    out[3] = (uint8_t)(u >> 8);
    out[4] = (uint8_t)u;
}

int w2k_registry_header_parse(const void *msg, size_t len, int32_t *id)
{
    const uint8_t *p = msg;
    if (!msg || len < W2K_REGISTRY_HEADER_LEN || p[0] != 0)
        return -1;
    *id = (int32_t)(((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) |
                    (uint32_t)p[4]);
    return 0;
}

/* ------------------------------------------------------------------ client */

static char *reg_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void reg_wipe_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Replace every occurrence of the password in s (NUL-terminated, capacity cap) by ***. */
static void reg_scrub(const w2k_registry_t *r, char *s, size_t cap)
{
    if (!r || !r->password || !*r->password || !strstr(s, r->password))
        return;
    size_t pl = strlen(r->password);
    w2k_buf_t b = W2K_BUF_INIT;
    const char *p = s, *hit;
    while ((hit = strstr(p, r->password)) != NULL) {
        w2k_buf_append(&b, p, (size_t)(hit - p));
        w2k_buf_puts(&b, "***");
        p = hit + pl;
    }
    w2k_buf_puts(&b, p);
    if (b.oom || !b.data)
        snprintf(s, cap, "(message withheld: it held a secret)");
    else
        snprintf(s, cap, "%s", b.data);
    w2k_buf_free(&b);
}

static void reg_scrub_err(const w2k_registry_t *r, w2k_err_t *err)
{
    reg_scrub(r, err->msg, sizeof err->msg);
    reg_scrub(r, err->hint, sizeof err->hint);
}

static size_t reg_write_cb(char *data, size_t size, size_t nmemb, void *opaque)
{
    w2k_registry_t *r = opaque;
    size_t n = size * nmemb;
    if (r->body.len + n > REG_MAX_RESPONSE) {
        r->body_too_big = true;
        return 0; /* makes libcurl fail the transfer with CURLE_WRITE_ERROR */
    }
    w2k_buf_append(&r->body, data, n);
    return r->body.oom ? 0 : n;
}

/* Copy url without a trailing slash, and a printable form without user:password.
 * Returns 0, or -1 with err. */
static int reg_parse_url(w2k_registry_t *r, const char *url, w2k_err_t *err)
{
    CURLU *h = curl_url();
    char *scheme = NULL, *query = NULL, *fragment = NULL, *safe = NULL;
    int rc = -1;
    if (!h) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "schema registry client: out of memory");
        return -1;
    }
    CURLUcode uc = curl_url_set(h, CURLUPART_URL, url, 0);
    if (uc != CURLUE_OK) {
        /* The URL may hold a password: do not echo it. */
        w2k_err_set(err, W2K_EXIT_CONFIG, "schema registry URL is not a valid URL: %s",
                    curl_url_strerror(uc));
        w2k_err_hint(err, "give schema_registry.url as http://HOST:PORT/PATH or "
                          "https://HOST:PORT/PATH, e.g. http://127.0.0.1:8080/apis/ccompat/v7 "
                          "for Apicurio Registry");
        goto out;
    }
    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0);
    if (!scheme || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "schema registry URL has scheme \"%s\", not http or https",
                    scheme ? scheme : "");
        w2k_err_hint(err, "give schema_registry.url as http://HOST:PORT/PATH or "
                          "https://HOST:PORT/PATH");
        goto out;
    }
    if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(h, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "schema registry URL has a query or fragment (?... or #...), which "
                    "cannot be a base URL");
        w2k_err_hint(err, "give only the API base, e.g. http://127.0.0.1:8080/apis/ccompat/v7");
        goto out;
    }
    curl_url_set(h, CURLUPART_USER, NULL, 0);
    curl_url_set(h, CURLUPART_PASSWORD, NULL, 0);
    if (curl_url_get(h, CURLUPART_URL, &safe, 0) != CURLUE_OK) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "schema registry client: out of memory");
        goto out;
    }
    r->url = strdup(url);
    r->url_safe = strdup(safe);
    if (!r->url || !r->url_safe) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "schema registry client: out of memory");
        goto out;
    }
    for (size_t n = strlen(r->url); n > 0 && r->url[n - 1] == '/'; n--)
        r->url[n - 1] = '\0';
    for (size_t n = strlen(r->url_safe); n > 0 && r->url_safe[n - 1] == '/'; n--)
        r->url_safe[n - 1] = '\0';
    rc = 0;
out:
    curl_free(scheme);
    curl_free(query);
    curl_free(fragment);
    curl_free(safe);
    curl_url_cleanup(h);
    return rc;
}

w2k_registry_t *w2k_registry_new(const char *url, const char *user, const char *password,
                                 const char *ca_file, w2k_err_t *err)
{
    if (!url || !*url) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "schema registry URL is empty");
        w2k_err_hint(err, "set schema_registry.url, e.g. http://127.0.0.1:8080/apis/ccompat/v7");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "libcurl could not initialise (curl_global_init)");
        return NULL;
    }
    w2k_registry_t *r = calloc(1, sizeof *r);
    if (!r) {
        curl_global_cleanup();
        w2k_err_set(err, W2K_EXIT_RUNTIME, "schema registry client: out of memory");
        return NULL;
    }
    r->connect_ms = REG_CONNECT_MS;
    r->total_ms = REG_TOTAL_MS;
    if (reg_parse_url(r, url, err) < 0)
        goto err;
    r->user = reg_strdup(user);
    r->password = reg_strdup(password);
    r->ca_file = reg_strdup(ca_file);
    if ((user && !r->user) || (password && !r->password) || (ca_file && !r->ca_file))
        goto oom;
    r->curl = curl_easy_init();
    if (!r->curl)
        goto oom;
    r->hdr_post = curl_slist_append(NULL, "Content-Type: " REG_CT);
    if (r->hdr_post)
        r->hdr_post = curl_slist_append(r->hdr_post, "Accept: " REG_CT ", application/json");
    if (r->hdr_post)
        r->hdr_post = curl_slist_append(r->hdr_post, "Expect:");
    r->hdr_get = curl_slist_append(NULL, "Accept: " REG_CT ", application/json");
    if (!r->hdr_post || !r->hdr_get)
        goto oom;

    CURL *c = r->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wal2kafka/" W2K_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->curl_msg);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reg_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (r->user || r->password) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, r->user ? r->user : "");
        curl_easy_setopt(c, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    if (r->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_file);
    return r;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "schema registry client: out of memory");
err:
    w2k_registry_destroy(r);
    return NULL;
}

void w2k_registry_destroy(w2k_registry_t *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    curl_slist_free_all(r->hdr_post);
    curl_slist_free_all(r->hdr_get);
    free(r->url);
    free(r->url_safe);
    free(r->user);
    reg_wipe_free(r->password);
    free(r->ca_file);
    w2k_buf_free(&r->body);
    w2k_buf_free(&r->req);
    for (size_t i = 0; i < r->cache_cap; i++)
        free(r->cache[i].subject);
    free(r->cache);
    for (size_t i = 0; i < r->schemas_len; i++)
        free(r->schemas[i].json);
    free(r->schemas);
    free(r);
    curl_global_cleanup();
}

void w2k_registry_set_timeouts(w2k_registry_t *r, long connect_ms, long total_ms)
{
    if (connect_ms > 0)
        r->connect_ms = connect_ms;
    if (total_ms > 0)
        r->total_ms = total_ms;
}

const char *w2k_registry_url(const w2k_registry_t *r)
{
    return r->url_safe;
}

uint64_t w2k_registry_requests(const w2k_registry_t *r)
{
    return r->requests;
}

/* The registry's explanation from an error body: its "message" member without a Java
 * exception class prefix, or the start of a non-JSON body; printable, one line. */
static void reg_body_message(const w2k_registry_t *r, char *out, size_t cap)
{
    char *m = NULL;
    const char *text;
    if (w2k_json_find_string(r->body.data, r->body.len, "message", &m) == 0 && m) {
        text = m;
        /* "io.apicurio....RuleViolationException: Incompatible ..." -> "Incompatible ..." */
        const char *colon = strstr(text, "Exception: ");
        if (colon) {
            const char *p = text;
            while (p < colon && (isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '$'))
                p++;
            if (p == colon)
                text = colon + strlen("Exception: ");
        }
    } else {
        text = r->body.data ? r->body.data : "";
    }
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        out[n++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "no explanation in the response");
    else if (n > 300)
        memcpy(out + 297, "...", 4);
    free(m);
}

/* Send one request to url (a full URL); post: body for POST, or NULL for GET.
 * Returns the HTTP status, or -1 with err when no response arrived. what: the operation,
 * for the message ("registering a schema under subject \"x\""). */
static long reg_http(w2k_registry_t *r, const char *what, const char *url, const w2k_buf_t *post,
                     w2k_err_t *err)
{
    CURL *c = r->curl;
    w2k_buf_reset(&r->body);
    r->body.oom = 0;
    r->body_too_big = false;
    r->curl_msg[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, r->connect_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->total_ms);
    if (post) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post->data);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)post->len);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdr_post);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->hdr_get);
    }
    r->requests++;
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        w2k_debug("schema registry: %s: HTTP %ld", what, status);
        return status;
    }
    const char *why = r->curl_msg[0] ? r->curl_msg : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s at %s failed: TLS: %s", what, r->url_safe, why);
        w2k_err_hint(err,
                     "the registry's certificate could not be verified: set "
                     "schema_registry.ca_file to the PEM file of the CA that signed it (now: "
                     "%s), and make sure the certificate names the host in the URL",
                     r->ca_file ? r->ca_file : "the system CA store");
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s at %s failed: %s", what, r->url_safe, why);
        w2k_err_hint(err, "check schema_registry.url (http:// or https://)");
        break;
    case CURLE_WRITE_ERROR:
    case CURLE_OUT_OF_MEMORY:
        if (r->body_too_big)
            w2k_err_set(err, W2K_EXIT_RUNTIME, "%s at %s failed: the response exceeds %u MiB", what,
                        r->url_safe, REG_MAX_RESPONSE >> 20);
        else
            w2k_err_set(err, W2K_EXIT_RUNTIME, "%s at %s failed: out of memory", what, r->url_safe);
        w2k_err_hint(err, "check that schema_registry.url names a Confluent-compatible schema "
                          "registry API");
        break;
    default:
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s at %s failed: %s", what, r->url_safe, why);
        w2k_err_hint(err,
                     "check that the schema registry at %s is running and reachable from "
                     "this host; wal2kafka retries with backoff and confirms nothing past the "
                     "last delivered change meanwhile",
                     r->url_safe);
        err->retryable = true;
        break;
    }
    return -1;
}

/* Set err for an unexpected HTTP status (not the operation's documented special cases). */
static void reg_http_error(w2k_registry_t *r, const char *what, long status, w2k_err_t *err)
{
    char why[512];
    reg_body_message(r, why, sizeof why);
    if (status == 401 || status == 403) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s at %s failed: HTTP %ld %s: %s", what, r->url_safe,
                    status, status == 401 ? "Unauthorized" : "Forbidden", why);
        if (r->user)
            w2k_err_hint(err,
                         "the registry refused user \"%s\": check schema_registry.user and its "
                         "password, and that this user may %s",
                         r->user, status == 403 ? "write schemas" : "log in");
        else
            w2k_err_hint(err, "the registry wants credentials: set schema_registry.user and "
                              "the password");
    } else if (status == 404) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s at %s failed: HTTP 404 Not Found: %s", what,
                    r->url_safe, why);
        w2k_err_hint(err, "schema_registry.url must be the base of a Confluent-compatible API "
                          "(for Apicurio Registry it ends in /apis/ccompat/v7)");
    } else if (status == 408 || status == 429 || status >= 500) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s at %s failed: HTTP %ld: %s", what, r->url_safe,
                    status, why);
        w2k_err_hint(err,
                     "the schema registry at %s is failing or overloaded: check its logs and "
                     "its storage; wal2kafka retries with backoff and confirms nothing past "
                     "the last delivered change meanwhile",
                     r->url_safe);
        err->retryable = true;
    } else {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s at %s failed: unexpected HTTP %ld: %s", what,
                    r->url_safe, status, why);
        w2k_err_hint(err, "check that schema_registry.url names a Confluent-compatible schema "
                          "registry API");
    }
}

/* Append "{url}/{a}{escaped b}{c}" to r->req. */
static int reg_build_url(w2k_registry_t *r, const char *a, const char *b, const char *c)
{
    w2k_buf_reset(&r->req);
    w2k_buf_puts(&r->req, r->url);
    w2k_buf_puts(&r->req, a);
    if (b) {
        char *esc = curl_easy_escape(r->curl, b, 0);
        if (!esc)
            return -1;
        w2k_buf_puts(&r->req, esc);
        curl_free(esc);
    }
    if (c)
        w2k_buf_puts(&r->req, c);
    return r->req.oom ? -1 : 0;
}

/* The compatibility rule in force for subject, into out: the subject's own
 * (GET /config/{subject}?defaultToGlobal=true), else the global one (GET /config).
 * A subject rule of NONE cannot have refused a schema: some registries (Apicurio 2.x;
 * 3.x without defaultToGlobal) answer NONE for a subject without a rule of its own, so
 * then the global rule is asked too and wins when it is not NONE. */
static void reg_compat(w2k_registry_t *r, const char *subject, char *out, size_t cap)
{
    w2k_err_t e;
    w2k_err_clear(&e);
    bool have = false;
    snprintf(out, cap, "unknown (the registry did not say)");
    for (int pass = 0; pass < 2 && !r->offline; pass++) {
        int rc = pass == 0 ? reg_build_url(r, "/config/", subject, "?defaultToGlobal=true")
                           : reg_build_url(r, "/config", NULL, NULL);
        if (rc < 0)
            return;
        char *url = strdup(r->req.data);
        if (!url)
            return;
        long st = reg_http(r, "reading the compatibility rule", url, NULL, &e);
        free(url);
        if (st < 0)
            return;
        char *level = NULL;
        if (st == 200 &&
            (w2k_json_find_string(r->body.data, r->body.len, "compatibilityLevel", &level) == 0 ||
             w2k_json_find_string(r->body.data, r->body.len, "compatibility", &level) == 0)) {
            bool none = strcmp(level, "NONE") == 0;
            if (!have || !none)
                snprintf(out, cap, "%s", level);
            have = true;
            free(level);
            if (!none)
                return;
        } else {
            free(level);
        }
    }
}

/* Cache probing: the slot of (subject, fp) or the empty slot where it would go. */
static uint64_t reg_hash(const char *subject, uint64_t fp)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h ^= fp + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static reg_entry_t *reg_slot(reg_entry_t *tab, size_t cap, uint64_t h, const char *subject,
                             uint64_t fp, uint64_t tfp)
{
    size_t i = (size_t)h & (cap - 1);
    for (;;) {
        reg_entry_t *e = &tab[i];
        if (!e->subject || (e->hash == h && e->fingerprint == fp && e->text_fp == tfp &&
                            strcmp(e->subject, subject) == 0))
            return e;
        i = (i + 1) & (cap - 1);
    }
}

static int reg_cache_put(w2k_registry_t *r, uint64_t h, const char *subject, uint64_t fp,
                         uint64_t tfp, int32_t id)
{
    if ((r->cache_len + 1) * 2 > r->cache_cap) {
        size_t ncap = r->cache_cap ? r->cache_cap * 2 : 64;
        reg_entry_t *ntab = calloc(ncap, sizeof *ntab);
        if (!ntab)
            return -1;
        for (size_t i = 0; i < r->cache_cap; i++)
            if (r->cache[i].subject)
                *reg_slot(ntab, ncap, r->cache[i].hash, r->cache[i].subject,
                          r->cache[i].fingerprint, r->cache[i].text_fp) = r->cache[i];
        free(r->cache);
        r->cache = ntab;
        r->cache_cap = ncap;
    }
    reg_entry_t *e = reg_slot(r->cache, r->cache_cap, h, subject, fp, tfp);
    if (!e->subject) {
        e->subject = strdup(subject);
        if (!e->subject)
            return -1;
        e->hash = h;
        e->fingerprint = fp;
        e->text_fp = tfp;
        r->cache_len++;
    }
    e->id = id;
    return 0;
}

static int reg_register_answer(w2k_registry_t *r, const char *what, const char *subject,
                               const w2k_schema_t *key, uint64_t h, long st, int32_t *id,
                               w2k_err_t *err);
static char *reg_schema_answer(w2k_registry_t *r, const char *what, int32_t id, long st,
                               w2k_err_t *err);

int w2k_registry_register(w2k_registry_t *r, const char *subject, const w2k_schema_t *schema,
                          int32_t *id, w2k_err_t *err)
{
    uint64_t h = reg_hash(subject, schema->fingerprint);
    if (r->cache_cap) {
        reg_entry_t *e =
            reg_slot(r->cache, r->cache_cap, h, subject, schema->fingerprint, schema->text_fp);
        if (e->subject) {
            *id = e->id;
            return 0;
        }
    }

    char what[512];
    snprintf(what, sizeof what, "registering a schema under subject \"%s\"", subject);
    w2k_buf_t body = W2K_BUF_INIT;
    w2k_buf_puts(&body, "{\"schema\":");
    w2k_buf_put_json_string(&body, schema->json, strlen(schema->json));
    w2k_buf_putc(&body, '}');
    if (body.oom || reg_build_url(r, "/subjects/", subject, "/versions") < 0) {
        w2k_buf_free(&body);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s: out of memory", what);
        return -1;
    }
    char *url = strdup(r->req.data);
    if (!url) {
        w2k_buf_free(&body);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s: out of memory", what);
        return -1;
    }
    long st = reg_http(r, what, url, &body, err);
    free(url);
    w2k_buf_free(&body);
    if (st < 0) {
        reg_scrub_err(r, err);
        return -1;
    }
    return reg_register_answer(r, what, subject, schema, h, st, id, err);
}

/* What w2k_registry_register makes of HTTP status st and the body in r->body; a success
 * is cached under key's fingerprint and text_fp. */
static int reg_register_answer(w2k_registry_t *r, const char *what, const char *subject,
                               const w2k_schema_t *key, uint64_t h, long st, int32_t *id,
                               w2k_err_t *err)
{
    if (st >= 200 && st < 300) {
        int64_t v = 0;
        if (w2k_json_find_int(r->body.data, r->body.len, "id", &v) != 0 || v < 0 || v > INT32_MAX) {
            w2k_err_set(err, W2K_EXIT_CONFIG,
                        "%s at %s: HTTP %ld but the answer holds no schema id (\"id\")", what,
                        r->url_safe, st);
            w2k_err_hint(err, "schema_registry.url must be the base of a Confluent-compatible "
                              "API (for Apicurio Registry it ends in /apis/ccompat/v7)");
            goto fail;
        }
        *id = (int32_t)v;
        if (reg_cache_put(r, h, subject, key->fingerprint, key->text_fp, *id) < 0) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "%s: out of memory", what);
            return -1;
        }
        w2k_info("schema registry: subject \"%s\" has schema id %" PRId32
                 " (fingerprint %016" PRIx64 ")",
                 subject, *id, key->fingerprint);
        return 0;
    }
    if (st == 409) {
        char why[512], rule[128];
        reg_body_message(r, why, sizeof why);
        reg_compat(r, subject, rule, sizeof rule);
        w2k_err_set(err, W2K_EXIT_KAFKA,
                    "schema registry at %s refused a new schema version for subject \"%s\": "
                    "incompatible under the subject's compatibility rule %s (registry: %s)",
                    r->url_safe, subject, rule, why);
        w2k_err_hint(err,
                     "the table's new shape breaks the %s rule, so consumers could not read "
                     "old and new messages alike; the stream stopped and confirmed nothing past "
                     "the last delivered change. Either make the change compatible (e.g. give "
                     "a new column a DEFAULT or let it be NULL; do not drop or retype key "
                     "columns), or, if every consumer copes, relax the rule for this subject "
                     "(PUT %s/config/%s with {\"compatibility\":\"NONE\"}), or stream the table "
                     "under a new topic prefix",
                     rule, r->url_safe, subject);
        goto fail;
    }
    if (st == 422) {
        char why[512];
        reg_body_message(r, why, sizeof why);
        w2k_err_set(err, W2K_EXIT_KAFKA,
                    "schema registry at %s rejected the schema for subject \"%s\" as invalid "
                    "(HTTP 422): %s",
                    r->url_safe, subject, why);
        w2k_err_hint(err, "this is a wal2kafka bug or a registry limitation: report it with "
                          "the table's definition (\\d+ in psql)");
        goto fail;
    }
    reg_http_error(r, what, st, err);
fail:
    reg_scrub_err(r, err);
    return -1;
}

char *w2k_registry_schema_by_id(w2k_registry_t *r, int32_t id, w2k_err_t *err)
{
    for (size_t i = 0; i < r->schemas_len; i++) {
        if (r->schemas[i].id == id) {
            char *copy = strdup(r->schemas[i].json);
            if (!copy)
                w2k_err_set(err, W2K_EXIT_RUNTIME, "schema id %" PRId32 ": out of memory", id);
            return copy;
        }
    }
    char what[128], num[16];
    snprintf(what, sizeof what, "fetching schema id %" PRId32, id);
    snprintf(num, sizeof num, "%" PRId32, id);
    if (reg_build_url(r, "/schemas/ids/", num, NULL) < 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s: out of memory", what);
        return NULL;
    }
    char *url = strdup(r->req.data);
    if (!url) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s: out of memory", what);
        return NULL;
    }
    long st = reg_http(r, what, url, NULL, err);
    free(url);
    if (st < 0) {
        reg_scrub_err(r, err);
        return NULL;
    }
    return reg_schema_answer(r, what, id, st, err);
}

/* What w2k_registry_schema_by_id makes of HTTP status st and the body in r->body. */
static char *reg_schema_answer(w2k_registry_t *r, const char *what, int32_t id, long st,
                               w2k_err_t *err)
{
    if (st == 200) {
        char *text = NULL;
        if (w2k_json_find_string(r->body.data, r->body.len, "schema", &text) != 0) {
            w2k_err_set(err, W2K_EXIT_CONFIG,
                        "%s at %s: HTTP 200 but the answer holds no schema text (\"schema\")", what,
                        r->url_safe);
            w2k_err_hint(err, "schema_registry.url must be the base of a Confluent-compatible "
                              "API (for Apicurio Registry it ends in /apis/ccompat/v7)");
            goto fail;
        }
        if (r->schemas_len == r->schemas_cap) {
            size_t ncap = r->schemas_cap ? r->schemas_cap * 2 : 8;
            reg_schema_t *n = realloc(r->schemas, ncap * sizeof *n);
            if (!n)
                return text; /* not cached, still answered */
            r->schemas = n;
            r->schemas_cap = ncap;
        }
        char *copy = strdup(text);
        if (copy) {
            r->schemas[r->schemas_len].id = id;
            r->schemas[r->schemas_len].json = copy;
            r->schemas_len++;
        }
        return text;
    }
    if (st == 404) {
        char why[512];
        reg_body_message(r, why, sizeof why);
        w2k_err_set(err, W2K_EXIT_KAFKA, "schema id %" PRId32 " is not in the registry at %s: %s",
                    id, r->url_safe, why);
        w2k_err_hint(err, "the message was written with another registry, or the schema was "
                          "deleted: point schema_registry.url at the registry the connector "
                          "used");
        goto fail;
    }
    reg_http_error(r, what, st, err);
fail:
    reg_scrub_err(r, err);
    return NULL;
}

int w2k_registry_answer(w2k_registry_t *r, const char *subject, int32_t id, long status,
                        const void *body, size_t len, int32_t *id_out, char **schema_out,
                        w2k_err_t *err)
{
    char what[512];
    w2k_buf_reset(&r->body);
    r->body.oom = 0;
    r->body_too_big = false;
    w2k_buf_append(&r->body, body, len);
    if (r->body.oom) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "a schema registry answer: out of memory");
        return -1;
    }
    r->offline = true;
    int rc;
    if (subject) {
        snprintf(what, sizeof what, "registering a schema under subject \"%s\"", subject);
        static const w2k_schema_t none; /* cached under fingerprint 0 */
        rc =
            reg_register_answer(r, what, subject, &none, reg_hash(subject, 0), status, id_out, err);
    } else {
        snprintf(what, sizeof what, "fetching schema id %" PRId32, id);
        *schema_out = reg_schema_answer(r, what, id, status, err);
        rc = *schema_out ? 0 : -1;
    }
    r->offline = false;
    return rc;
}
