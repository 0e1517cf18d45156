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

/* Write the low watermark, select the next chunk, write the high watermark. recent:
 * the IDs of the last nrecent transactions the stream saw commit. The chunk is
 * selected only when no transaction that committed before its low watermark can be
 * invisible to its SELECT; until then, call again (w2k_resnap_wait_ms says when).
 * Returns 1 when a chunk waits for its watermarks or for that, 0 when the table has
 * been read, -1 with err. */
int w2k_resnap_select(w2k_resnap_t *r, const uint32_t *recent, size_t nrecent, w2k_err_t *err);
/* Milliseconds until w2k_resnap_select should be called again when the next chunk
 * waits for a transaction to become visible, else -1. */
int w2k_resnap_wait_ms(const w2k_resnap_t *r);
/* Whether this job waits for the watermarks of a selected chunk. */
bool w2k_resnap_waiting(const w2k_resnap_t *r);

/* A logical message of the stream: returns 'L' or 'H' when it is this job's low or
 * high watermark of the current chunk, else 0. */
int w2k_resnap_watermark(w2k_resnap_t *r, const char *prefix, const char *content, size_t len);
/* The stream met the commit of transaction xid. Before the low watermark, of one that
 * was still running when the chunk was selected: the SELECT may not have seen it, so
 * the chunk is selected again (w2k_resnap_next_row returns none). */
void w2k_resnap_committed(w2k_resnap_t *r, uint32_t xid);
/* Between the watermarks: a change of the table touched the row whose key columns are
 * in row (a full row image of rel, or a key-only one): drop it from the chunk. */
void w2k_resnap_seen(w2k_resnap_t *r, const w2k_pgtuple_t *row);

/* At the high watermark: the rows of the chunk still to emit, one by one into row;
 * returns false when there are no more (the chunk is then done, or to be selected
 * again when it went stale). */
bool w2k_resnap_next_row(w2k_resnap_t *r, w2k_pgtuple_t *row);

/* Rows emitted so far. */
uint64_t w2k_resnap_rows(const w2k_resnap_t *r);

#endif
