/* names.h — PostgreSQL names made Kafka topic names and Avro names by one injective,
 * documented rule (schemas/README.md, "Names"). Pure, thread-safe. */
#ifndef W2K_NAMES_H
#define W2K_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

/* Longest topic name Kafka accepts. */
#define W2K_NAMES_TOPIC_MAX 249

/* Buffer size that holds any escaped form of a PostgreSQL name (63 bytes, 4 each). */
#define W2K_NAMES_MAX 256

/* True when the name is its own Avro name: [A-Za-z_][A-Za-z0-9_]* holding no "_x"
 * followed by two of 0-9A-F. */
bool w2k_names_avro_plain(const char *pg);

/* The Avro name of a PostgreSQL name into out (NUL-terminated, cut at outsz - 1): the
 * name itself when w2k_names_avro_plain, otherwise every byte other than A-Z a-z 0-9,
 * and a leading digit, written "_x" + two uppercase hex digits ("_" is "_x5F"). */
void w2k_names_avro(const char *pg, char *out, size_t outsz);

/* True when the name is its own topic name part: [A-Za-z0-9_-]+ holding no "_x" followed
 * by two of 0-9A-F (no dot: dots separate prefix, schema and table). */
bool w2k_names_topic_plain(const char *pg);

/* The topic name part of a PostgreSQL name, as w2k_names_avro with A-Z a-z 0-9 and "-"
 * kept (a leading digit too). */
void w2k_names_topic_part(const char *pg, char *out, size_t outsz);

/* The topic <prefix>.<schema part>.<table part> into out. Returns its length (which may be
 * more than outsz - 1 when cut: compare with W2K_NAMES_TOPIC_MAX). */
size_t w2k_names_topic(const char *prefix, const char *schema, const char *table, char *out,
                       size_t outsz);

/* True when Kafka counts the two topic names as colliding: equal once every "." is "_"
 * (its metric names), the names themselves being different. */
bool w2k_names_topics_collide(const char *a, const char *b);

/* At start: refuse the topic names Kafka cannot keep apart. The topics of stream sc's n
 * resolved tables (exact names), with its own <prefix>.state, .schemas and
 * .schema_changes: none longer than W2K_NAMES_TOPIC_MAX, no two colliding
 * (w2k_names_topics_collide). Returns 0, or -1 with err naming both tables and the fix
 * (exit W2K_EXIT_CONFIG). */
int w2k_names_check_topics(const w2k_stream_cfg_t *sc, const w2k_table_cfg_t *tables, int n,
                           w2k_err_t *err);

/* Where the in-memory indexes of names start their hash (FNV-1a's offset basis). */
#define W2K_NAMES_HASH_SEED ((size_t)UINT64_C(14695981039346656037))

/* The FNV-1a hash of s continued from h (W2K_NAMES_HASH_SEED to start), for hash indexes
 * of names kept in memory (never stored: the value may differ between builds). */
size_t w2k_names_hash_str(size_t h, const char *s);

/* The hash of the qualified name schema.name, as w2k_names_hash_str of "schema.name". */
size_t w2k_names_hash(const char *schema, const char *name);

#endif
