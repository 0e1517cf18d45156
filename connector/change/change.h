/* change.h — the rules that turn one decoded change of a table into the messages to
 * produce, in order: the operation filter, the row filter's operation rewrite, TOAST
 * fill, the column list, the key-change split, the changed columns of an update, the
 * tombstone after a delete, keyless tables, truncates. Pure: no I/O, no producer, no
 * clock (the caller passes the time); it encodes with avroenc and evaluates row filters
 * with filter. What it hands back the caller frames (single-object or registry) and
 * produces as it is. */
#ifndef W2K_CHANGE_H
#define W2K_CHANGE_H

#include <stdbool.h>
#include <stdint.h>

#include "avroenc.h"
#include "buf.h"
#include "config.h"
#include "err.h"
#include "filter.h"
#include "pgoutput.h"
#include "relcache.h"

/* The most messages one change makes: a key change is a delete, its tombstone and a
 * create. */
#define W2K_CHANGE_MAX_MSGS 3

/* A table's output settings, as the caller prepared them. Only rel and ops are read
 * for a truncate. */
typedef struct w2k_change_table_s {
    const w2k_relation_t *rel;  /* the table as its Relation message describes it */
    const w2k_relation_t *prel; /* a column list applied here: the table as published, its
                                   column i being column proj[i] of rel; else NULL */
    const int *proj;
    const w2k_filter_t *filter; /* a row filter applied here, bound to rel; else NULL */
    unsigned ops;               /* W2K_OP_* the table publishes (W2K_OP_ALL when unlisted) */
    bool connector_filters;     /* operations are filtered here; else PostgreSQL did it */
    w2k_relavro_t *ra;          /* the schemas of the table as published */
    const char *mask;           /* per column of the table as published: 0 (as it is) or
                                   W2K_MASKED_*; NULL when nothing is masked */
    const w2k_relation_t *mrel; /* with mask: the table as published, masked columns typed
                                   text (w2k_change_masks), ra built from it */
    const uint8_t *salt;        /* the HMAC key of W2K_MASKED_HASH columns */
    size_t saltlen;
} w2k_change_table_t;

/* One message to produce. */
typedef struct w2k_change_msg_s {
    char op;                /* W2K_ENV_OP_*: the envelope's; a tombstone's is its delete's */
    bool schema_changes;    /* for <prefix>.schema_changes (a truncate), not the table's topic */
    const w2k_buf_t *key;   /* single-object encoded; NULL: no key (a keyless table) */
    const w2k_buf_t *value; /* single-object encoded; NULL: a tombstone */
} w2k_change_msg_t;

/* The messages of one change, in the order to produce them. */
typedef struct w2k_change_out_s {
    int n;
    w2k_change_msg_t msgs[W2K_CHANGE_MAX_MSGS];
    bool bad_value; /* after a failure: an envelope (not a key) did not encode */
} w2k_change_out_t;

/* The table rel as a column list publishes it (as PostgreSQL's publications do): the
 * listed columns, in the table's order, and its key only when every key column is
 * listed. On success *prel is a new relation (w2k_relation_free) and *proj a new array
 * (free) of its columns' positions in rel. Returns 0; -1 with *missing set to the index
 * in columns of a name rel does not have, or to -1 when out of memory. */
int w2k_change_columns(const w2k_relation_t *rel, char *const *columns, int ncolumns,
                       w2k_relation_t **prel, int **proj, int *missing);

/* The masks of table entry t (hash_columns, mask_columns) for rel, the table as
 * published. On success *mrel is a copy of rel (w2k_relation_free) whose masked columns
 * have type text and masked set, to build the schemas from, and *mask a new array (free)
 * of rel->ncols entries, 0 or W2K_MASKED_*; both NULL when t masks nothing. Returns 0;
 * -1 with why (a column rel lacks, a masked key column: its rows would share one key),
 * or with why "" when out of memory. */
int w2k_change_masks(const w2k_relation_t *rel, const w2k_table_cfg_t *t, w2k_relation_t **mrel,
                     char **mask, char *why, size_t whysz);

/* Scratch space (row images, buffers) of one stream. */
typedef struct w2k_change_s w2k_change_t;

/* A new change builder, or NULL when out of memory. */
w2k_change_t *w2k_change_new(void);
/* Free it; accepts NULL. */
void w2k_change_destroy(w2k_change_t *ch);

/* The HMAC-SHA-256 of data (len bytes) keyed by salt, as 64 lower-case hex digits and a
 * NUL into out (65 bytes), with ch's HMAC context (keyed again only when the salt
 * differs from the last call's). Returns 0, or -1 when libcrypto fails. */
int w2k_change_hmac_hex(w2k_change_t *ch, const uint8_t *salt, size_t saltlen, const char *data,
                        size_t len, char out[65]);

/* The messages of an Insert, Update or Delete m of table t. src is the envelope's
 * source, now_ms its ts_ms. The buffers out points into belong to ch and stay valid
 * until its next call. out->n is 0 when the table does not publish the change.
 * Returns 0, or -1 with err (and out->bad_value when an envelope did not encode). */
int w2k_change_row(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                   const w2k_pgmsg_t *m, const w2k_source_t *src, int64_t now_ms,
                   w2k_change_out_t *out, w2k_err_t *err);

/* The message of one row read from table t (a snapshot): a read event, out->n 0 when
 * the row filter drops it. As w2k_change_row otherwise. */
int w2k_change_read(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                    const w2k_pgtuple_t *row, const w2k_source_t *src, int64_t now_ms,
                    w2k_change_out_t *out, w2k_err_t *err);

/* The message of Truncate m for table t (one of the relations it names): a truncate
 * event for <prefix>.schema_changes, out->n 0 when the table does not publish
 * truncates. As w2k_change_row otherwise. */
int w2k_change_truncate(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                        const w2k_pgmsg_t *m, const w2k_source_t *src, int64_t now_ms,
                        w2k_change_out_t *out, w2k_err_t *err);

#endif
