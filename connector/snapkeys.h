/* snapkeys.h — the keys an interrupted initial snapshot left in a table's topic that
 * the snapshot taken again did not read (their rows were deleted meanwhile, or no
 * longer pass the row filter). The new snapshot notes every key it writes; afterwards
 * the topic is read back from its beginning and each other live key is returned once,
 * for a tombstone. Without them a consumer folding the compacted topic, and compaction
 * itself, would keep rows that no longer exist. Keys are compared by their Avro body
 * (the bytes after the single-object or Confluent header), as 64-bit hashes: memory is
 * 8-16 bytes per row read, and only while a snapshot is taken again. */
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

/* Note that the snapshot wrote key (an encoded key message) for table schema.name.
 * Returns 0, or -1 when out of memory. */
int w2k_snapkeys_add(w2k_snapkeys_t *k, const char *schema, const char *name, const void *key,
                     size_t len);

/* Whether key (by its Avro body) was noted for table schema.name. */
bool w2k_snapkeys_has(const w2k_snapkeys_t *k, const char *schema, const char *name,
                      const void *key, size_t len);

/* Start reading topic (the topic of table schema.name) from its beginning up to its
 * end now, with a consumer configured like the producer. Returns 1 when there is
 * something to read, 0 when the topic does not exist or is empty, -1 with err. */
int w2k_snapkeys_scan_begin(w2k_snapkeys_t *k, const w2k_config_t *cfg, const char *topic,
                            const char *schema, const char *name, w2k_err_t *err);
/* The next key of the topic that has a value and was not noted (each key once: it is
 * noted now). *key and *len stay valid until the next call. Returns 1 with a key, 0
 * at the end of the topic (the scan is then over), -1 with err. */
int w2k_snapkeys_scan_next(w2k_snapkeys_t *k, const void **key, size_t *len, w2k_err_t *err);
/* Messages with a key and a value read, and keys returned, by the current (or last)
 * scan. */
uint64_t w2k_snapkeys_scanned(const w2k_snapkeys_t *k);
uint64_t w2k_snapkeys_gone(const w2k_snapkeys_t *k);

#endif
