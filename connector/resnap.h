/* resnap.h — re-snapshot of one table while streaming goes on (the DBLog watermark
 * method): the table is read in key order in chunks; each chunk is selected between a
 * low and a high watermark, transactional logical messages written to the WAL. While
 * the stream is between the two, every key it sees changing is dropped from the
 * chunk (the stream carries a newer value); at the high watermark the rest of the
 * chunk is emitted. So an older version of a row never lands after a newer one. */
#ifndef W2K_RESNAP_H
#define W2K_RESNAP_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "relcache.h"

/* Prefix of the watermark messages; of snapshot requests (wal2kafka snapshot). */
#define W2K_WATERMARK_PREFIX        "wal2kafka.watermark"
#define W2K_SNAPSHOT_REQUEST_PREFIX "wal2kafka.snapshot"
/* The fourth field of a snapshot request that repairs changes PostgreSQL did not
 * send (the table was out of the publication): the stream confirms nothing past such
 * a request until the table was read again. */
#define W2K_SNAPSHOT_REPAIR "repair"

typedef struct w2k_resnap_s w2k_resnap_t;

/* A job re-reading table rel (its columns as published and its key) of stream, with
 * the publication's row filter (SQL, or NULL). Opens its own connection. Returns NULL
 * with err (a table without a key cannot be re-read this way). */
w2k_resnap_t *w2k_resnap_new(const w2k_config_t *cfg, const char *stream, const w2k_relation_t *rel,
                             const char *filter, int chunk_rows, w2k_err_t *err);
void w2k_resnap_destroy(w2k_resnap_t *r);
/* The relation OID being re-read. */
uint32_t w2k_resnap_relid(const w2k_resnap_t *r);

/* Write the low watermark, select the next chunk, write the high watermark. Returns
 * 1 when a chunk waits for its watermarks, 0 when the table has been read, -1 with
 * err. */
int w2k_resnap_select(w2k_resnap_t *r, w2k_err_t *err);
/* Whether this job waits for the watermarks of a selected chunk. */
bool w2k_resnap_waiting(const w2k_resnap_t *r);

/* A logical message of the stream: returns 'L' or 'H' when it is this job's low or
 * high watermark of the current chunk, else 0. */
int w2k_resnap_watermark(w2k_resnap_t *r, const char *prefix, const char *content, size_t len);
/* Between the watermarks: a change of the table touched the row whose key columns are
 * in row (a full row image of rel, or a key-only one): drop it from the chunk. */
void w2k_resnap_seen(w2k_resnap_t *r, const w2k_pgtuple_t *row);

/* At the high watermark: the rows of the chunk still to emit, one by one into row;
 * returns false when there are no more (the chunk is then done). */
bool w2k_resnap_next_row(w2k_resnap_t *r, w2k_pgtuple_t *row);

/* Rows emitted so far. */
uint64_t w2k_resnap_rows(const w2k_resnap_t *r);

#endif
