/* snapkeys.h — the keys a snapshot left out of topics that already held messages when
 * it began: an interrupted snapshot's, a stream's whose slot was lost (or whose server
 * changed) before a new slot and snapshot, an earlier initial_only run's. A key there
 * whose row was deleted meanwhile, or no longer passes the row filter, would stay alive
 * for a consumer folding the compacted topic, and for compaction itself, because its
 * delete was never streamed. So before the snapshot writes, the end of each table's
 * topic is noted; the snapshot notes every key it writes; afterwards each topic is read
 * back up to the noted end and every key whose last message there has a value and that
 * the snapshot did not write is returned once, for a tombstone. Keys are compared by
 * their Avro body (the bytes after the single-object or Confluent header), as 64-bit
 * hashes: memory is 8-16 bytes per row read, and only while a snapshot is written onto
 * topics that held messages. */
#ifndef W2K_SNAPKEYS_H
#define W2K_SNAPKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef struct w2k_snapkeys_s w2k_snapkeys_t;

/* An empty set. Returns NULL when out of memory. */
w2k_snapkeys_t *w2k_snapkeys_new(void);
/* Frees the set and a scan in progress; accepts NULL. */
void w2k_snapkeys_destroy(w2k_snapkeys_t *k);

/* Before the snapshot writes anything: note where topic ends now, with a consumer
 * configured like the producer (created at the first call, kept for the scans). Returns
 * 1 when the topic holds messages (it is to be scanned after the snapshot), 0 when it
 * does not exist or is empty, -1 with err. */
int w2k_snapkeys_note_topic(w2k_snapkeys_t *k, const w2k_config_t *cfg, const char *topic,
                            w2k_err_t *err);

/* Note that the snapshot wrote key (an encoded key message) for table schema.name.
 * Returns 0, or -1 when out of memory. */
int w2k_snapkeys_add(w2k_snapkeys_t *k, const char *schema, const char *name, const void *key,
                     size_t len);

/* Whether key (by its Avro body) was noted for table schema.name. */
bool w2k_snapkeys_has(const w2k_snapkeys_t *k, const char *schema, const char *name,
                      const void *key, size_t len);

/* Start reading topic (the topic of table schema.name) from its beginning up to the end
 * noted by w2k_snapkeys_note_topic. Returns 1 when there is something to read, 0 when
 * the topic was not noted as holding messages, -1 with err. */
int w2k_snapkeys_scan_begin(w2k_snapkeys_t *k, const char *topic, const char *schema,
                            const char *name, w2k_err_t *err);
/* Read on: returns 2 when the call read for a while without a result yet (call again:
 * the caller's loop stays responsive), 1 with the next key whose last message in the
 * topic has a value and that the snapshot did not write (each once; *key and *len stay
 * valid until the next call), 0 when there is none left (the scan is then over), -1
 * with err. */
int w2k_snapkeys_scan_next(w2k_snapkeys_t *k, const void **key, size_t *len, w2k_err_t *err);
/* Keys returned by the current (or last) scan. */
uint64_t w2k_snapkeys_gone(const w2k_snapkeys_t *k);

/* The part of a scan that needs no broker, also for tests: start on table schema.name;
 * read one message of its topic, in the topic's order per key (has_value false for a
 * tombstone; returns 0, or -1 when out of memory); then take the keys left one by one
 * (1 with a key, valid until the next call; 0 when none is left). */
void w2k_snapkeys_read_begin(w2k_snapkeys_t *k, const char *schema, const char *name);
int w2k_snapkeys_read(w2k_snapkeys_t *k, const void *key, size_t len, bool has_value);
int w2k_snapkeys_take(w2k_snapkeys_t *k, const void **key, size_t *len);

#endif
