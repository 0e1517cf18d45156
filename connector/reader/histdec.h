/* histdec.h — the engine of `wal2kafka history` and `wal2kafka state`, without I/O:
 * the schemas of a topic by message header (single-object fingerprint or registry id),
 * envelopes decoded into row images, the changes between two images, the history of
 * one key and the fold of a table's state at a point in time. history.c feeds it
 * Kafka messages; the unit tests feed it messages made by the producer's encoder. */
#ifndef W2K_HISTDEC_H
#define W2K_HISTDEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avrojson.h"
#include "buf.h"
#include "err.h"
#include "registry.h"

/* ---- message framing ---- */

/* The header length of a key or value: 10 for Avro single-object encoding (C3 01 +
 * fingerprint), 5 for the Confluent framing (0 + schema id), 0 for anything else. */
size_t w2k_hdr_len(const void *msg, size_t len);

/* ---- schemas ---- */

/* Every schema a topic's messages may refer to: those stored in <prefix>.schemas (by
 * fingerprint) and, with a registry, those fetched by id on first use. Not thread-safe. */
typedef struct w2k_hschemas_s w2k_hschemas_t;

/* A new store. reg: the schema registry client for Confluent-framed messages, or NULL;
 * borrowed, must outlive the store. Returns NULL when out of memory. */
w2k_hschemas_t *w2k_hschemas_new(w2k_registry_t *reg);
/* Free the store and every parsed schema; accepts NULL. Images and events made with it
 * borrow its field names: free them first. */
void w2k_hschemas_destroy(w2k_hschemas_t *s);

/* Add a schema stored under fingerprint fp (json: len bytes, copied). order: the
 * position of its record in <prefix>.schemas (later = newer). A fingerprint already
 * known is ignored. Returns 0, or -1 when out of memory. */
int w2k_hschemas_add(w2k_hschemas_t *s, uint64_t fp, const char *json, size_t len, int64_t order);

/* Parse "0123456789abcdef" (the key of a <prefix>.schemas record: the 8 header bytes in
 * hex) into the fingerprint. Returns 0, or -1 when it is not 16 hex digits. */
int w2k_fp_from_hex(const char *hex, size_t len, uint64_t *fp);

/* A key schema candidate: its header (as keys carry it) and its JSON text. */
typedef struct w2k_hkeyschema_s {
    uint8_t hdr[10];
    size_t hdrlen;
    const char *json; /* owned by the store */
    const w2k_avnode_t *root;
    int64_t order; /* its position in <prefix>.schemas; INT64_MAX for registry schemas */
} w2k_hkeyschema_t;

/* The stored single-object schemas whose top-level record is named fullname (e.g.
 * "app.public.orders.Key"), newest first, into out (at most max). Returns how many. */
int w2k_hschemas_find(w2k_hschemas_t *s, const char *fullname, w2k_hkeyschema_t *out, int max);

/* The schema of the header at the start of msg (single-object or Confluent), fetching a
 * registry schema by id on first use, as a candidate (json and root). Returns 0, or -1
 * with err when it is unknown or does not parse. */
int w2k_hschemas_lookup(w2k_hschemas_t *s, const void *msg, size_t len, w2k_hkeyschema_t *out,
                        w2k_err_t *err);

/* ---- row images ---- */

/* A row as a list of (field name, value as JSON); a value may be an unchanged TOAST value
 * (not sent, so unknown). Field names are borrowed (from the schemas, or static). */
typedef struct w2k_himage_s w2k_himage_t;

/* An empty image, or NULL when out of memory. */
w2k_himage_t *w2k_himage_new(void);
/* Free an image and its values; accepts NULL. */
void w2k_himage_free(w2k_himage_t *im);
/* Append a field: json NULL = unchanged TOAST. Returns 0, or -1 when out of memory. */
int w2k_himage_add(w2k_himage_t *im, const char *name, const char *json, size_t len);
/* The name of field i (0 <= i < the number of fields added). */
const char *w2k_himage_name(const w2k_himage_t *im, int i);
/* The JSON value of field i, or NULL for an unchanged TOAST value. */
const char *w2k_himage_value(const w2k_himage_t *im, int i);
/* The index of field name, or -1. */
int w2k_himage_find(const w2k_himage_t *im, const char *name);
/* Replace each unchanged TOAST value of im by the value of the same field in prev (when
 * prev has one). Returns 0, or -1 when out of memory. */
int w2k_himage_fill(w2k_himage_t *im, const w2k_himage_t *prev);
/* A copy; NULL when out of memory (or im is NULL). */
w2k_himage_t *w2k_himage_copy(const w2k_himage_t *im);
/* Append the image as a JSON object (unchanged TOAST as {"unchanged_toast":true}). */
void w2k_himage_json(const w2k_himage_t *im, w2k_buf_t *out);

/* ---- envelopes ---- */

typedef struct w2k_henv_s {
    char op; /* c, u, d, r (t), or 0 when the envelope had none */
    bool has_txid, has_lsn, has_commit_lsn, snapshot;
    int64_t txid;
    uint64_t lsn, commit_lsn;
    int64_t ts_us;        /* commit time (source.ts_us) */
    w2k_himage_t *before; /* NULL when null */
    w2k_himage_t *after;  /* NULL when null */
    char **changed;       /* field names, when has_changed */
    int nchanged;
    bool has_changed;
} w2k_henv_t;

/* Decode a value message (header + Avro envelope). Returns 0, or -1 with err. The caller
 * releases env with w2k_henv_clear(). */
int w2k_hschemas_decode(w2k_hschemas_t *s, const void *value, size_t len, w2k_henv_t *env,
                        w2k_err_t *err);
void w2k_henv_clear(w2k_henv_t *env);

/* A cheap look at a value message without rendering anything: whether `after` is null
 * (a delete), whether it holds unchanged TOAST values, and the commit time (ts_us may be
 * NULL when not wanted: the look then ends after `after`). Returns 0, or -1 with err. */
int w2k_hschemas_peek(w2k_hschemas_t *s, const void *value, size_t len, bool *after_null,
                      bool *has_toast, int64_t *ts_us, w2k_err_t *err);

/* Append a key message's record as a JSON object. Returns 0, or -1 with err. */
int w2k_hschemas_key_json(w2k_hschemas_t *s, const void *key, size_t len, w2k_buf_t *out,
                          w2k_err_t *err);

/* ---- changes ---- */

/* One changed column: old/new value as JSON, NULL when unknown or not applicable. */
typedef struct w2k_hchange_s {
    const char *col;
    char *old_json;
    char *new_json;
} w2k_hchange_t;

/* The changes an event made: op and the images (old: the row before, NULL when unknown
 * or when there was none; after: NULL for deletes). changed: the producer's list of
 * changed fields (REPLICA IDENTITY FULL), or NULL to compare old and after. Rules:
 * creates list every non-null field; deletes every field of old; updates the fields
 * whose values differ, a field missing from old counting when its new value is not
 * null (a column added), a field missing from after never (a column dropped), an
 * unchanged TOAST value in after never; without old every sent field with its new
 * value only. Returns how many changes were stored in *out (malloc'd, free with
 * w2k_hchanges_free), or -1 when out of memory. */
int w2k_hchanges(char op, const w2k_himage_t *old, const w2k_himage_t *after,
                 const char *const *changed, int nchanged, w2k_hchange_t **out);
void w2k_hchanges_free(w2k_hchange_t *ch, int n);

/* ---- history of one key ---- */

/* A message of the topic. */
typedef struct w2k_hmsg_s {
    const void *key;
    size_t keylen;
    const void *value; /* NULL: tombstone */
    size_t valuelen;
    int32_t partition;
    int64_t offset;
    int64_t ts_ms; /* Kafka timestamp (commit time, ms) */
} w2k_hmsg_t;

typedef struct w2k_hevent_s {
    char op;        /* c, u, d, r; d also for a tombstone without its delete */
    bool tombstone; /* a tombstone whose delete was not seen */
    bool has_txid, has_lsn, has_commit_lsn, snapshot;
    int64_t txid;
    uint64_t lsn, commit_lsn;
    int64_t ts_us;
    int32_t partition;
    int64_t offset;
    char *key_json;
    w2k_hchange_t *changes;
    int nchanges;
    w2k_himage_t *after; /* the row after the change, unchanged TOAST values filled in
                            from earlier images where known; NULL after a delete */
} w2k_hevent_t;

typedef struct w2k_hist_s w2k_hist_t;

/* A history of one key. Events outside [since_us, until_us] are dropped (their images
 * still serve to compute later changes). */
w2k_hist_t *w2k_hist_new(w2k_hschemas_t *s, int64_t since_us, int64_t until_us);
void w2k_hist_destroy(w2k_hist_t *h);
/* Add a message of the key, in partition order. Returns 0, or -1 with err: out of memory
 * (err->code W2K_EXIT_RUNTIME), or a message that cannot be read, which adds no event, so
 * the caller may skip it. */
int w2k_hist_add(w2k_hist_t *h, const w2k_hmsg_t *m, w2k_err_t *err);
/* Order the events by commit (needed only when several partitions were read). */
void w2k_hist_sort(w2k_hist_t *h);
int w2k_hist_count(const w2k_hist_t *h);
const w2k_hevent_t *w2k_hist_event(const w2k_hist_t *h, int i);
/* Write the events as JSON lines / as an aligned table. */
void w2k_hist_write_json(const w2k_hist_t *h, FILE *out);
void w2k_hist_write_table(const w2k_hist_t *h, FILE *out);

/* ---- state at a time ---- */

typedef struct w2k_hfold_s w2k_hfold_t;

/* A fold of a table's messages: the last value per key with a commit time <= at_us. */
w2k_hfold_t *w2k_hfold_new(w2k_hschemas_t *s, int64_t at_us);
void w2k_hfold_destroy(w2k_hfold_t *f);
/* Add a message, in partition order. Messages committed after at_us are ignored.
 * Returns 0, or -1 with err: out of memory (err->code W2K_EXIT_RUNTIME), or a message
 * that cannot be read (another producer's, truncated, unknown schema), which leaves the
 * fold as it was, so the caller may skip it. */
int w2k_hfold_add(w2k_hfold_t *f, const w2k_hmsg_t *m, w2k_err_t *err);
/* Keys seen (present or not). */
size_t w2k_hfold_keys(const w2k_hfold_t *f);

/* One row of the result. */
typedef struct w2k_hrow_s {
    char *key_json;
    w2k_himage_t *row; /* NULL: absent (deleted) at that time */
    char op;           /* the operation of its last change */
    bool has_txid, has_lsn, has_commit_lsn;
    int64_t txid;
    uint64_t lsn, commit_lsn;
    int64_t ts_us;
    int32_t partition;
    int64_t offset;
} w2k_hrow_t;

/* The result, sorted by key (numbers numerically); with_absent includes keys whose last
 * change was a delete. Returns the count (rows malloc'd into *out, free with
 * w2k_hrows_free), or -1 with err. */
int w2k_hfold_rows(w2k_hfold_t *f, bool with_absent, w2k_hrow_t **out, w2k_err_t *err);
void w2k_hrows_free(w2k_hrow_t *rows, int n);
void w2k_hrows_write_json(const w2k_hrow_t *rows, int n, FILE *out);
/* The same JSON lines as w2k_hfold_rows() + w2k_hrows_write_json(), written straight from
 * the messages without building row images (the fast path for whole tables). Returns 0,
 * or -1 with err. */
int w2k_hfold_write_json(w2k_hfold_t *f, bool with_absent, FILE *out, w2k_err_t *err);
void w2k_hrows_write_table(const w2k_hrow_t *rows, int n, FILE *out);

/* ---- formatting shared with history.c ---- */

/* Commit time as ISO 8601 UTC with microseconds: 2024-05-01T12:00:00.123456Z; with
 * human true "2024-05-01 12:00:00.123456" (table output). */
void w2k_hist_time(int64_t us, bool human, w2k_buf_t *out);
/* An LSN as PostgreSQL prints it: 16/B374D848. */
void w2k_hist_lsn(uint64_t lsn, w2k_buf_t *out);

#endif
