/* purge.h — after a snapshot written onto topics that already held messages, the keys
 * to tombstone: every key whose last message in its table's topic has a value and that
 * the snapshot did not write (the row was deleted, or left the row filter, where no
 * slot streamed it), so the topic holds the table and nothing else. The keys are noted
 * and read back with snapkeys.c; this module walks the stream's tables and says which
 * tombstones to produce; it produces nothing itself. */
#ifndef W2K_PURGE_H
#define W2K_PURGE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "err.h"
#include "tables.h"

typedef struct w2k_purge_s w2k_purge_t;

/* Before a snapshot of the stream's tables writes: note which of their topics hold
 * messages. *out receives the purge to run after the snapshot, or NULL when no topic
 * held any (nothing to purge). Returns 0, or -1 with err. */
int w2k_purge_prepare(const w2k_config_t *cfg, const w2k_tables_t *tables, w2k_purge_t **out,
                      w2k_err_t *err);
/* Free; accepts NULL. */
void w2k_purge_destroy(w2k_purge_t *p);
/* The snapshot wrote key (its Avro-framed bytes) for table schema.name. Returns 0, or
 * -1 with err when out of memory. */
int w2k_purge_wrote(w2k_purge_t *p, const char *schema, const char *name, const void *key,
                    size_t len, w2k_err_t *err);
/* True while a table's topic is being read back (between w2k_purge_next calls). */
bool w2k_purge_reading(const w2k_purge_t *p);
/* After the snapshot: the next tombstone to produce, on topic (a string valid until the
 * next call) with key. Returns 1 with one, 2 while a topic is being read back (call
 * again at the next step), 0 when every table is done, -1 with err. */
int w2k_purge_next(w2k_purge_t *p, const char **topic, const void **key, size_t *len,
                   w2k_err_t *err);

#endif
