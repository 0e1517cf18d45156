/* tables.h — which tables a stream reads, and its publications kept carrying them:
 * the configured names and patterns resolved against the catalog (minus excludes,
 * following renames), row filters parsed when wal2kafka evaluates them, the
 * publications created or repaired (w2k_catalog_ensure_publication), tables that join
 * while streaming, and the tables noted as the stream's by OID. Queries go through the
 * catalog connection the caller passes; single-threaded. */
#ifndef W2K_TABLES_H
#define W2K_TABLES_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "catalog.h"
#include "config.h"
#include "err.h"
#include "filter.h"

typedef struct w2k_tables_s w2k_tables_t;

/* The tables of stream scfg (cfg: the file, for messages). Nothing is resolved yet.
 * Returns NULL when out of memory. */
w2k_tables_t *w2k_tables_new(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg);
/* Free; accepts NULL. */
void w2k_tables_destroy(w2k_tables_t *t);

/* At start: resolve exact names (following renames) and patterns against the catalog
 * of server version (server_version_num), decide whether wal2kafka filters itself,
 * parse row filters for that, refuse topic names Kafka cannot keep apart
 * (w2k_names_check_topics). Returns 0, or -1 with err. */
int w2k_tables_resolve(w2k_tables_t *t, PGconn *catalog, int version, w2k_err_t *err);
/* At start, after resolve: make the publications match (resuming: the slot holds
 * older changes), note them to see later edits, warn about the tables' shapes, and
 * note which tables joined the stream now. Returns 0, or -1 with err. */
int w2k_tables_publish(w2k_tables_t *t, PGconn *catalog, bool resuming, w2k_err_t *err);
/* The tables that joined the publications at this start ("schema.table", malloc'd:
 * the caller frees each and the array); the list is emptied. Returns how many. */
int w2k_tables_take_joined(w2k_tables_t *t, char ***names);

/* While streaming, at most every 10 s: tables created since start that a pattern
 * matches join the stream (added to the publications). *first receives the index of
 * the first new one (w2k_tables_cfg). Returns how many joined, or -1 with err. */
int w2k_tables_join_new(w2k_tables_t *t, PGconn *catalog, int *first, w2k_err_t *err);
/* While streaming, at most every second: when someone changed one of the stream's
 * publications, restore it (which requests re-reads of tables whose changes were
 * lost). Returns 0, or -1 with err. */
int w2k_tables_guard(w2k_tables_t *t, PGconn *catalog, w2k_err_t *err);

/* The resolved tables: how many, and entry i (0 <= i < count). */
int w2k_tables_count(const w2k_tables_t *t);
const w2k_table_cfg_t *w2k_tables_cfg(const w2k_tables_t *t, int i);
/* The stream configuration with patterns resolved (its tables are the resolved ones). */
const w2k_stream_cfg_t *w2k_tables_stream_cfg(const w2k_tables_t *t);
/* The entry of table schema.name, or NULL when it is not one of the stream's. */
const w2k_table_cfg_t *w2k_tables_find(const w2k_tables_t *t, const char *schema, const char *name);
/* True when a pattern of the stream matches schema.name and no exclude does. */
bool w2k_tables_pattern_matches(const w2k_tables_t *t, const char *schema, const char *name);
/* filters = connector: the parsed row filter of entry tc (NULL when it has none). */
w2k_filter_t *w2k_tables_filter(const w2k_tables_t *t, const w2k_table_cfg_t *tc);
/* True when wal2kafka evaluates row filters, column lists and operations itself. */
bool w2k_tables_connector_filters(const w2k_tables_t *t);
/* The stream's publications; names: pgoutput's publication_names. */
const w2k_pubset_t *w2k_tables_pubs(const w2k_tables_t *t);

/* The topic of table schema.name: <prefix>.<schema>.<table>, the names made topic name
 * parts by w2k_names_topic_part (plain names kept, others escaped). */
void w2k_tables_topic(const w2k_tables_t *t, const char *schema, const char *name, char *out,
                      size_t outsz);

/* Whether entries [first, first + n) have a key their changes will carry, looked up in
 * one query: keyed[i] = 1 (a key), 0 (none), -1 (cannot tell ahead: not a plain table,
 * a column list, gone). For creating topics ahead of need. Returns 0, or -1 with err. */
int w2k_tables_keyed(const w2k_tables_t *t, PGconn *catalog, int first, int n, signed char *keyed,
                     w2k_err_t *err);

/* The stream's table of OID relid as last known (its name may have changed since), or
 * NULL. */
w2k_pubtable_t *w2k_tables_known(w2k_tables_t *t, uint32_t relid);
/* Note table relid, now named schema.name, as one of the stream's. Returns its entry,
 * or NULL when out of memory. */
w2k_pubtable_t *w2k_tables_note(w2k_tables_t *t, uint32_t relid, const char *schema,
                                const char *name);

#endif
