/* snapshot.h — the initial snapshot: every row of a stream's tables, read in chunks
 * inside the snapshot the slot exported when it was created, so the rows and the
 * changes streamed from the slot afterwards meet without a gap or an overlap. */
#ifndef W2K_SNAPSHOT_H
#define W2K_SNAPSHOT_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "relcache.h"

typedef struct w2k_snapshot_s w2k_snapshot_t;

/* Called for each row read; rel lives in the relation cache given to the step. */
typedef int(w2k_snapshot_row_cb)(void *arg, w2k_relation_t *rel, const w2k_pgtuple_t *row,
                                 w2k_err_t *err);

/* Open a connection and import snapshot_name (exported by CREATE_REPLICATION_SLOT)
 * in a read-only REPEATABLE READ transaction. Call right after the slot was created,
 * before its connection runs another command. Returns NULL with err. */
w2k_snapshot_t *w2k_snapshot_begin(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg,
                                   const char *snapshot_name, w2k_err_t *err);

/* Read the next chunk of rows (at most chunk_rows), calling cb for each. A table's
 * relation (columns as its publication sends them) is put into rc before its first
 * row. Returns 1 when rows remain, 0 when every table is done, -1 with err. */
int w2k_snapshot_step(w2k_snapshot_t *s, w2k_relcache_t *rc, int chunk_rows,
                      w2k_snapshot_row_cb *cb, void *arg, w2k_err_t *err);

/* The table being read (schema and name; NULL when none), its rows read so far and
 * the rows it is expected to have. */
void w2k_snapshot_progress(const w2k_snapshot_t *s, const char **schema, const char **table,
                           uint64_t *rows, uint64_t *expected);

/* Rows read so far, over all tables. */
uint64_t w2k_snapshot_rows(const w2k_snapshot_t *s);

/* End the transaction and close; accepts NULL. */
void w2k_snapshot_end(w2k_snapshot_t *s);

#endif
