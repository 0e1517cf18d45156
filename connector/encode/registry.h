/* registry.h — client of a Confluent-compatible schema registry (Confluent Schema
 * Registry, Apicurio Registry's /apis/ccompat/v7, ...): registers key and value
 * schemas under "<topic>-key" / "<topic>-value", caches the ids so the registry is asked
 * once per schema version, fetches schemas by id, and writes the Confluent wire header
 * (magic byte 0, 4-byte big-endian schema id). HTTP(S) through libcurl; basic auth and
 * a CA file for TLS. Not thread-safe: one registry client per thread. */
#ifndef W2K_REGISTRY_H
#define W2K_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "avroenc.h"
#include "err.h"

typedef struct w2k_registry_s w2k_registry_t;

/* Size of the Confluent wire header that precedes the Avro binary of each message. */
#define W2K_REGISTRY_HEADER_LEN 5

/* Create a client. url: the API base, e.g. "http://127.0.0.1:8080/apis/ccompat/v7"
 * (http or https; a trailing slash is ignored). user/password: HTTP basic auth, or NULL.
 * ca_file: PEM bundle to verify the registry's TLS certificate, or NULL for the system
 * store. The strings are copied. No request is made here. Returns NULL with err
 * (W2K_EXIT_CONFIG) when the URL is not a valid http(s) URL or libcurl cannot start.
 * The password never appears in errors or logs. */
w2k_registry_t *w2k_registry_new(const char *url, const char *user, const char *password,
                                 const char *ca_file, w2k_err_t *err);

/* Release the client (wiping the password copy). Accepts NULL. */
void w2k_registry_destroy(w2k_registry_t *r);

/* Timeouts of each HTTP request, in milliseconds (defaults 5000 to connect, 30000 in
 * all). 0 keeps the current value. */
void w2k_registry_set_timeouts(w2k_registry_t *r, long connect_ms, long total_ms);

/* Register schema (its full JSON text) under subject, e.g. "<topic>-value";
 * *id receives the registry's schema id. Answers from a cache keyed by (subject,
 * schema fingerprint, text_fp) after the first success, so it may be called per message;
 * a schema differing only in properties (same fingerprint) is registered too.
 * Returns 0, or -1 with err:
 *   HTTP 409 (incompatible with the subject's compatibility rule): W2K_EXIT_KAFKA, not
 *     retryable; the message names the subject, the rule in force and the registry's
 *     reason, the hint what to do;
 *   HTTP 422 (schema rejected as invalid): W2K_EXIT_KAFKA, not retryable;
 *   HTTP 401/403: W2K_EXIT_CONFIG, not retryable, hint about the credentials;
 *   HTTP 404 (no such API at that URL): W2K_EXIT_CONFIG, not retryable;
 *   HTTP 5xx/429, connection refused, DNS, timeout, broken response: W2K_EXIT_RUNTIME,
 *     retryable, hint to check the registry at the URL;
 *   TLS certificate problems: W2K_EXIT_CONFIG, not retryable. */
int w2k_registry_register(w2k_registry_t *r, const char *subject, const w2k_schema_t *schema,
                          int32_t *id, w2k_err_t *err);

/* The text of the schema with this id (GET {url}/schemas/ids/{id}), cached by id.
 * Returns a malloc'd string the caller frees, or NULL with err (404: W2K_EXIT_KAFKA, not
 * retryable; other failures as for w2k_registry_register). */
char *w2k_registry_schema_by_id(w2k_registry_t *r, int32_t id, w2k_err_t *err);

/* For tests and fuzzing (a hook, no request is sent): what the client makes of an HTTP
 * status and response body. subject set: as w2k_registry_register answering for subject
 * (0 and *id_out, cached under fingerprint 0); subject NULL: as w2k_registry_schema_by_id
 * answering for id (0 and a malloc'd *schema_out the caller frees). Else -1 with err as those
 * functions document; the 409 message then names the rule as unknown (it is not asked for).
 * body need not be NUL-terminated. */
int w2k_registry_answer(w2k_registry_t *r, const char *subject, int32_t id, long status,
                        const void *body, size_t len, int32_t *id_out, char **schema_out,
                        w2k_err_t *err);

/* Write the Confluent wire header of a message: magic byte 0, then id big-endian. */
void w2k_registry_header(int32_t id, uint8_t out[W2K_REGISTRY_HEADER_LEN]);

/* Read the Confluent wire header at the start of a message. Returns 0 and sets *id, or
 * -1 when len is too short or the magic byte is not 0. */
int w2k_registry_header_parse(const void *msg, size_t len, int32_t *id);

/* The URL as given, without any user:password part: safe to print. */
const char *w2k_registry_url(const w2k_registry_t *r);

/* How many HTTP requests this client has sent (for tests and metrics). */
uint64_t w2k_registry_requests(const w2k_registry_t *r);

#endif
