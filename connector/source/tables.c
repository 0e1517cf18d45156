/* tables.c — a stream's tables and publications: resolution, upkeep, joins. */
#include "tables.h"
#include "clock.h"
#include "log.h"
#include "names.h"
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOIN_ROOM    1024 /* tables that may join while running */
#define PUB_CHECK_MS 1000 /* how often a streaming stream looks at its publications */

struct w2k_tables_s {
    const w2k_config_t *cfg;
    const w2k_stream_cfg_t *scfg;
    PGconn *catalog;      /* the caller's, during a call */
    w2k_stream_cfg_t eff; /* the configuration with patterns resolved to tables;
                             eff.publication is pubs.names */
    int eff_cap;          /* room in eff.tables for tables that join while running */
    char **eff_names;     /* strings of tables matched by patterns, owned */
    int neff_names;
    /* per eff table: the name its entry gives it when it was renamed since (relid != 0),
     * noted in the publication's comment */
    w2k_pubtable_t *eff_as;
    w2k_filter_t **filters; /* per eff table, filters = connector: parsed row filter */
    int *by_name;           /* eff tables by schema and name: index + 1, 0 when free;
                               open addressing over nby_name (a power of 2) slots */
    size_t nby_name;
    bool connector_filters; /* the stream filters rows and columns itself */
    w2k_pubset_t pubs;      /* its publications (one per set of operations with pushdown) */
    w2k_pubtable_t *ours;   /* the stream's tables by OID, with their last known names */
    int nours;
    char **joined; /* "schema.table" of the tables new in the publications at start */
    int njoined;
    char *pub_signature; /* the publications as the stream last set or saw them */
    int64_t next_pub_check_ms;
    int64_t next_pattern_check_ms;
};

w2k_tables_t *w2k_tables_new(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg)
{
    w2k_tables_t *tb = calloc(1, sizeof *tb);
    if (!tb)
        return NULL;
    tb->cfg = cfg;
    tb->scfg = scfg;
    return tb;
}

/* Drop the resolved table list and its filters. */
static void free_tables(w2k_tables_t *tb)
{
    for (int i = 0; tb->filters && i < tb->eff.ntables; i++)
        w2k_filter_destroy(tb->filters[i]);
    free(tb->filters);
    tb->filters = NULL;
    for (int i = 0; i < tb->neff_names; i++)
        free(tb->eff_names[i]);
    free(tb->eff_names);
    tb->eff_names = NULL;
    tb->neff_names = 0;
    free(tb->eff.tables);
    tb->eff.tables = NULL;
    tb->eff.ntables = 0;
    free(tb->eff_as);
    tb->eff_as = NULL;
    free(tb->by_name);
    tb->by_name = NULL;
    tb->nby_name = 0;
}

static void free_joined(w2k_tables_t *tb)
{
    for (int i = 0; i < tb->njoined; i++)
        free(tb->joined[i]);
    free(tb->joined);
    tb->joined = NULL;
    tb->njoined = 0;
}

void w2k_tables_destroy(w2k_tables_t *tb)
{
    if (!tb)
        return;
    free_tables(tb);
    free_joined(tb);
    free(tb->ours);
    free(tb->pub_signature);
    free(tb);
}

/* Remember the publications as they are now, to notice when someone changes them. */
static int note_publication(w2k_tables_t *tb, w2k_err_t *err)
{
    free(tb->pub_signature);
    tb->pub_signature = NULL;
    tb->next_pub_check_ms = w2k_clock_mono_ms() + PUB_CHECK_MS;
    return w2k_catalog_publication_signature(
        tb->catalog, &tb->pubs, tb->cfg->pg_receive_timeout_ms / 2, &tb->pub_signature, err);
}

/* A table without a key: its messages carry none. A table with REPLICA IDENTITY
 * NOTHING (or DEFAULT and no primary key): PostgreSQL refuses its UPDATEs and DELETEs
 * once it is published. */
static void warn_identity(w2k_tables_t *tb, const w2k_table_cfg_t *t, const w2k_relation_t *rel)
{
    bool writes = (t->ops & (W2K_OP_UPDATE | W2K_OP_DELETE)) != 0;
    char ri = rel->replident;
    if (rel->nkeys > 0 && !(ri == 'n' && writes))
        return;
    w2k_buf_t q = W2K_BUF_INIT;
    w2k_catalog_put_qualified(&q, tb->catalog, t->schema, t->name);
    if (rel->nkeys > 0)
        w2k_warn_hint(
            "until then its UPDATEs and DELETEs fail in PostgreSQL; see docs/reading.md",
            "table %s.%s has REPLICA IDENTITY NOTHING: PostgreSQL refuses its UPDATEs and "
            "DELETEs while it is published, and a delete would carry no key; run ALTER "
            "TABLE %s REPLICA IDENTITY DEFAULT; (its primary key)",
            t->schema, t->name, q.data);
    else if (writes && (ri == 'd' || ri == 'n'))
        w2k_warn_hint(
            "until then its UPDATEs and DELETEs fail in PostgreSQL; see docs/reading.md",
            "table %s.%s has no primary key and REPLICA IDENTITY %s: PostgreSQL refuses its "
            "UPDATEs and DELETEs while it is published, and its messages carry no key, go to "
            "a delete-policy topic, and keep no per-row order; add a primary key (ALTER "
            "TABLE %s ADD PRIMARY KEY (...);), or at least run ALTER TABLE %s "
            "REPLICA IDENTITY FULL;",
            t->schema, t->name, ri == 'n' ? "NOTHING" : "DEFAULT", q.data, q.data);
    else
        w2k_warn_hint("streaming goes on without keys; see docs/reading.md",
                      "table %s.%s has no primary key and no replica identity index: its messages "
                      "carry no key, go to a delete-policy topic, and keep no per-row order; add a "
                      "primary key to fix this (ALTER TABLE %s ADD PRIMARY KEY (...);)",
                      t->schema, t->name, q.data);
    w2k_buf_free(&q);
}

/* Before 18 pgoutput sends no generated column, and 18 sends stored ones only: say
 * once per table (at start) which of its columns cannot be streamed, and what to do. */
static void warn_generated(w2k_tables_t *tb, const w2k_table_cfg_t *t)
{
    int version = PQserverVersion(tb->catalog);
    if (version < 120000) /* no generated columns before 12 */
        return;
    const char *params[2] = {t->schema, t->name};
    w2k_err_t e;
    /* 'v' (virtual) is 18+ */
    PGresult *r = w2k_pg_query(
        tb->catalog, &e, "listing a table's generated columns",
        version >= 180000
            ? "SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a JOIN "
              "pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
              "AND a.attgenerated = 'v'"
            : "SELECT string_agg(a.attname, ', ' ORDER BY a.attnum) FROM pg_attribute a JOIN "
              "pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped "
              "AND a.attgenerated <> ''",
        2, params);
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) && version >= 180000)
        w2k_warn_hint(
            "the table streams without these columns",
            "table %s.%s: virtual generated columns %s cannot be streamed: PostgreSQL "
            "publishes stored generated columns only; make them STORED, or compute them in "
            "the consumer",
            t->schema, t->name, PQgetvalue(r, 0, 0));
    else if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        w2k_warn_hint(
            "the table streams without these columns",
            "table %s.%s: generated columns %s cannot be streamed: PostgreSQL %d's pgoutput "
            "does not send generated columns, so they are not in its schema; PostgreSQL 18 "
            "sends them (publish_generated_columns, which wal2kafka sets), or compute them "
            "in the consumer",
            t->schema, t->name, PQgetvalue(r, 0, 0), version / 10000);
    PQclear(r);
}

/* Say at start what the tables' shapes mean: no key; a row filter that needs the old
 * row of updates and deletes (REPLICA IDENTITY FULL) and does not get it. */
#define WARN_BATCH 1000 /* tables described per query */

static void warn_tables(w2k_tables_t *tb)
{
    /* tables with neither row filter nor column list (all of a pattern's): described
     * WARN_BATCH at a time in one query each, not four queries per table */
    const char *schemas[WARN_BATCH], *names[WARN_BATCH];
    w2k_relation_t *batch[WARN_BATCH];
    int at[WARN_BATCH], nbatch = 0;
    for (int i = 0; i < tb->eff.ntables; i++) {
        const w2k_table_cfg_t *t = &tb->eff.tables[i];
        if (i % WARN_BATCH == 0) {
            for (int k = 0; k < nbatch; k++)
                w2k_relation_free(batch[k]);
            nbatch = 0;
            for (int k = i; k < tb->eff.ntables && k < i + WARN_BATCH; k++) {
                const w2k_table_cfg_t *u = &tb->eff.tables[k];
                if (u->filter || u->ncolumns)
                    continue;
                at[nbatch] = k;
                schemas[nbatch] = u->schema;
                names[nbatch++] = u->name;
            }
            w2k_err_t e;
            if (nbatch && w2k_catalog_relations(tb->catalog, schemas, names, nbatch, batch, &e))
                nbatch = 0; /* each table asked on its own below */
        }
        w2k_relation_t *rel = NULL;
        bool batched = false;
        for (int k = 0; k < nbatch && !batched; k++)
            if (at[k] == i) {
                rel = batch[k];
                batch[k] = NULL;
                batched = rel != NULL; /* else not a plain table: asked on its own */
            }
        char *filter = NULL;
        w2k_err_t e;
        if (!batched)
            rel = w2k_catalog_table(tb->catalog, tb->pubs.names, t->schema, t->name, &filter, &e);
        free(filter);
        if (!rel)
            continue;
        warn_identity(tb, t, rel);
        warn_generated(tb, t);
        char col[64];
        if (t->filter && (t->ops & (W2K_OP_UPDATE | W2K_OP_DELETE)) &&
            w2k_catalog_filter_outside_identity(tb->catalog, t->schema, t->name, t->filter, col,
                                                sizeof col, &e) == 1)
            w2k_warn_hint(
                "or filter on replica identity columns only",
                "%s:%d: table %s.%s: the row filter uses column %s, which is not in the "
                "replica identity, and updates/deletes are published: PostgreSQL %s. Run: "
                "ALTER TABLE %s.%s REPLICA IDENTITY FULL;",
                tb->cfg->path, t->line, t->schema, t->name, col,
                tb->connector_filters
                    ? "does not send the old row, so wal2kafka cannot tell whether an "
                      "update leaves the filter's set"
                    : "refuses such updates and deletes on the table",
                t->schema, t->name);
        w2k_relation_free(rel);
    }
    for (int k = 0; k < nbatch; k++)
        w2k_relation_free(batch[k]);
}

/* The index of eff table schema.name, or -1: a hash lookup, so that matching 10,000
 * tables against the list (at start and at every pattern check) is not 10,000 ×
 * 10,000 comparisons. */
static int eff_index(const w2k_tables_t *tb, const char *schema, const char *name)
{
    if (!tb->by_name) {
        for (int i = 0; i < tb->eff.ntables; i++)
            if (strcmp(tb->eff.tables[i].schema, schema) == 0 &&
                strcmp(tb->eff.tables[i].name, name) == 0)
                return i;
        return -1;
    }
    size_t mask = tb->nby_name - 1;
    for (size_t h = w2k_names_hash(schema, name) & mask; tb->by_name[h]; h = (h + 1) & mask) {
        const w2k_table_cfg_t *t = &tb->eff.tables[tb->by_name[h] - 1];
        if (strcmp(t->schema, schema) == 0 && strcmp(t->name, name) == 0)
            return tb->by_name[h] - 1;
    }
    return -1;
}

static bool listed(const w2k_tables_t *tb, const char *schema, const char *name)
{
    return eff_index(tb, schema, name) >= 0;
}

/* Append e to the eff tables (the caller checked the room) and index it by name. */
static void add_eff(w2k_tables_t *tb, const w2k_table_cfg_t *e)
{
    int i = tb->eff.ntables++;
    tb->eff.tables[i] = *e;
    if (!tb->by_name)
        return;
    size_t mask = tb->nby_name - 1;
    size_t h = w2k_names_hash(e->schema, e->name) & mask;
    while (tb->by_name[h])
        h = (h + 1) & mask;
    tb->by_name[h] = i + 1;
}

/* Parse the row filter of eff table i when the stream evaluates filters itself. */
static int parse_filter(w2k_tables_t *tb, int i, w2k_err_t *err)
{
    const w2k_table_cfg_t *t = &tb->eff.tables[i];
    char why[512];
    if (!tb->connector_filters || !t->filter ||
        (tb->filters[i] = w2k_filter_parse(t->filter, why, sizeof why)))
        return 0;
    w2k_err_set(err, W2K_EXIT_CONFIG, "%s:%d: stream %s, table %s.%s: %s", tb->cfg->path, t->line,
                tb->scfg->name, t->schema, t->name, why);
    w2k_err_hint(err, "with filters = \"connector\" wal2kafka evaluates the filter itself and "
                      "supports comparisons, AND/OR/NOT, IN, IS [NOT] NULL, BETWEEN and LIKE; "
                      "rewrite it with those, or use filters = \"pushdown\" on PostgreSQL 15+");
    return -1;
}

/* Append the tables in all (rows of nspname, relname) that a pattern of the stream
 * matches and that are not listed yet, up to the room left. Returns how many. */
static int match_patterns(w2k_tables_t *tb, const PGresult *all, bool report_empty)
{
    const w2k_stream_cfg_t *sc = tb->scfg;
    int added = 0;
    for (int i = 0; i < sc->ntables; i++) {
        const w2k_table_cfg_t *t = &sc->tables[i];
        if (!w2k_table_is_pattern(t))
            continue;
        int matched = 0;
        for (int r = 0; r < PQntuples(all); r++) {
            const char *nsp = PQgetvalue(all, r, 0), *rel = PQgetvalue(all, r, 1);
            if (!w2k_pattern_matches(sc, t, nsp, rel))
                continue;
            matched++;
            if (listed(tb, nsp, rel))
                continue;
            if (tb->eff.ntables == tb->eff_cap) {
                w2k_warn_hint(
                    "the stream goes on with its other tables",
                    "stream %s: no room for table %s.%s to join; restart wal2kafka to add "
                    "it",
                    sc->name, nsp, rel);
                continue;
            }
            w2k_table_cfg_t e = *t;
            e.schema = tb->eff_names[tb->neff_names++] = strdup(nsp);
            e.name = tb->eff_names[tb->neff_names++] = strdup(rel);
            if (!e.schema || !e.name) { /* out of memory: left to the next check */
                tb->neff_names -= 2;
                free((char *)e.schema);
                free((char *)e.name);
                continue;
            }
            add_eff(tb, &e);
            added++;
        }
        if (!matched && report_empty)
            w2k_warn_hint("check the pattern's spelling; a table created later that matches "
                          "joins the stream by itself",
                          "%s:%d: stream %s: pattern %s.%s matches no table (yet)", tb->cfg->path,
                          t->line, sc->name, t->schema, t->name);
    }
    return added;
}

/* Resolve the configured tables: exact names as they are, patterns (schema.*,
 * schema.prefix_*) to the tables that match now, minus the stream's excludes; parse
 * row filters when the stream evaluates them itself. Returns 0, or -1 with err. */
static int resolve_tables(w2k_tables_t *tb, int version, w2k_err_t *err)
{
    const w2k_stream_cfg_t *sc = tb->scfg;
    free_tables(tb);
    tb->eff = *sc;
    tb->eff.ntables = 0;
    tb->connector_filters = sc->filters == W2K_FILTERS_CONNECTOR ||
                            (sc->filters == W2K_FILTERS_AUTO && version < 150000);
    w2k_catalog_pubset(sc, !tb->connector_filters, &tb->pubs);
    tb->eff.publication = tb->pubs.names;
    PGresult *all = NULL;
    bool patterns = false;
    for (int i = 0; i < sc->ntables; i++)
        patterns |= w2k_table_is_pattern(&sc->tables[i]);
    if (patterns &&
        !(all = w2k_pg_query(tb->catalog, err, "listing tables for the stream's patterns",
                             w2k_catalog_all_tables_sql, 0, NULL)))
        return -1;
    tb->eff_cap = sc->ntables + (all ? PQntuples(all) : 0) + (patterns ? JOIN_ROOM : 0);
    tb->eff.tables = calloc((size_t)tb->eff_cap + 1, sizeof *tb->eff.tables);
    tb->eff_names = calloc((size_t)tb->eff_cap * 2 + 1, sizeof *tb->eff_names);
    tb->filters = calloc((size_t)tb->eff_cap + 1, sizeof *tb->filters);
    tb->eff_as = calloc((size_t)tb->eff_cap + 1, sizeof *tb->eff_as);
    for (tb->nby_name = 16; tb->nby_name < 2 * (size_t)tb->eff_cap;)
        tb->nby_name <<= 1;
    tb->by_name = calloc(tb->nby_name, sizeof *tb->by_name);
    if (!tb->eff.tables || !tb->eff_names || !tb->filters || !tb->eff_as || !tb->by_name) {
        PQclear(all);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    /* exact names first: their settings win over a pattern's; a table renamed since it
     * joined under its configured name goes on under its new name */
    for (int i = 0; i < sc->ntables; i++) {
        const w2k_table_cfg_t *t = &sc->tables[i];
        if (w2k_table_is_pattern(t))
            continue;
        w2k_table_cfg_t e = *t;
        w2k_pubtable_t now;
        int renamed =
            w2k_catalog_renamed_table(tb->catalog, &tb->pubs, t->schema, t->name, &now, err);
        if (renamed < 0) {
            PQclear(all);
            return -1;
        }
        if (renamed) {
            e.schema = tb->eff_names[tb->neff_names++] = strdup(now.schema);
            e.name = tb->eff_names[tb->neff_names++] = strdup(now.name);
            w2k_info("%s:%d: table %s.%s of stream %s was renamed to %s.%s; streaming it under "
                     "its new name (its rows go to the topic of that name): update the "
                     "configuration",
                     tb->cfg->path, t->line, t->schema, t->name, sc->name, now.schema, now.name);
        }
        if (!e.schema || !e.name || listed(tb, e.schema, e.name))
            continue;
        if (renamed) {
            tb->eff_as[tb->eff.ntables] = now;
            snprintf(tb->eff_as[tb->eff.ntables].schema, sizeof now.schema, "%s", t->schema);
            snprintf(tb->eff_as[tb->eff.ntables].name, sizeof now.name, "%s", t->name);
        }
        add_eff(tb, &e);
    }
    if (all)
        match_patterns(tb, all, true);
    PQclear(all);
    if (!tb->connector_filters && version < 150000) {
        for (int i = 0; i < tb->eff.ntables; i++)
            if (tb->eff.tables[i].filter || tb->eff.tables[i].ncolumns) {
                w2k_err_set(err, W2K_EXIT_CONFIG,
                            "%s:%d: stream %s: PostgreSQL %d cannot filter rows or columns in a "
                            "publication",
                            tb->cfg->path, tb->eff.tables[i].line, sc->name, version / 10000);
                w2k_err_hint(err,
                             "set filters = \"connector\" (or \"auto\") for stream %s: "
                             "wal2kafka then evaluates them itself",
                             sc->name);
                return -1;
            }
    }
    for (int i = 0; i < tb->eff.ntables; i++)
        if (parse_filter(tb, i, err) != 0)
            return -1;
    if (w2k_names_check_topics(sc, tb->eff.tables, tb->eff.ntables, err) != 0)
        return -1;
    tb->next_pattern_check_ms = w2k_clock_mono_ms() + 10000;
    return 0;
}

/* The publication's definition: with filters = connector, every column, row and
 * operation, which wal2kafka then filters itself. */
static w2k_stream_cfg_t publication_cfg(const w2k_tables_t *tb, w2k_table_cfg_t *scratch)
{
    w2k_stream_cfg_t pub = tb->eff;
    if (!tb->connector_filters)
        return pub;
    for (int i = 0; i < pub.ntables; i++) {
        scratch[i] = pub.tables[i];
        scratch[i].filter = NULL;
        scratch[i].columns = NULL;
        scratch[i].ncolumns = 0;
        scratch[i].ops = W2K_OP_ALL;
    }
    pub.tables = scratch;
    return pub;
}

/* Make the stream's publications carry its tables (w2k_catalog_ensure_publication).
 * Returns 0, or -1 with err. */
static int ensure_publication(w2k_tables_t *tb, bool resuming, w2k_err_t *err)
{
    int n = tb->eff.ntables;
    w2k_table_cfg_t *scratch = calloc((size_t)n + 1, sizeof *scratch);
    const w2k_pubtable_t **as = calloc((size_t)n + 1, sizeof *as);
    int rc = -1;
    if (!scratch || !as) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    } else {
        for (int i = 0; i < n; i++)
            as[i] = tb->eff_as[i].relid ? &tb->eff_as[i] : NULL;
        w2k_stream_cfg_t pub = publication_cfg(tb, scratch);
        rc = w2k_catalog_ensure_publication(tb->catalog, tb->cfg->path, &pub, as, &tb->pubs,
                                            resuming, err);
    }
    free(scratch);
    free(as);
    return rc;
}

/* The tables the stream read until now: those in its publications as the server has
 * them, before they are updated (with those of sets of operations no table has now),
 * into a malloc'd array (*n entries). Returns 0, or -1 with err. */
static int tables_read_before(w2k_tables_t *tb, w2k_pubtable_t **out, int *n, w2k_err_t *err)
{
    w2k_buf_t names = W2K_BUF_INIT;
    int rc = w2k_catalog_stream_publications(tb->catalog, &tb->pubs, &names, err);
    if (rc == 0)
        rc = w2k_catalog_publication_tables(tb->catalog, names.data, out, n, err);
    w2k_buf_free(&names);
    return rc;
}

/* Before 13, a leaf partition of a partitioned table of the stream (not listed on its
 * own) stands for that table: the table joined only when none of its leaf partitions
 * was in the publications before (a partition added since is read with the table's
 * re-read, see pubplan.c), and then under its own name (into full). Sets *old when it
 * did not join. Returns 0, or -1 when the catalog cannot tell (nothing noted). */
static int leaf_joined(w2k_tables_t *tb, const w2k_pubtable_t *t, const w2k_pubtable_t *before,
                       int nbefore, char *full, size_t fullsz, bool *old)
{
    if (PQserverVersion(tb->catalog) >= 130000 || w2k_tables_find(tb, t->schema, t->name))
        return 0;
    char schema[64], name[64], (*cols)[64] = NULL;
    int ncols = 0;
    uint32_t root = 0;
    w2k_err_t e;
    int is =
        w2k_catalog_partition_root(tb->catalog, t->relid, &root, schema, name, &cols, &ncols, &e);
    free(cols);
    if (is < 0)
        return -1;
    if (is == 0 || !w2k_tables_find(tb, schema, name))
        return 0;
    snprintf(full, fullsz, "%s.%s", schema, name);
    char oid[16];
    snprintf(oid, sizeof oid, "%u", root);
    const char *p[1] = {oid};
    PGresult *r = w2k_pg_query(tb->catalog, &e, "listing a partitioned table's partitions",
                               w2k_catalog_leaves_sql, 1, p);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r) && !*old; i++) {
        uint32_t leaf = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        for (int k = 0; k < nbefore && !*old; k++)
            *old = before[k].relid == leaf;
    }
    PQclear(r);
    return 0;
}

/* Note the tables of the publications (tb->ours) that were in none of the stream's
 * publications before (OIDs in before): they joined the stream now, and their rows are
 * read once streaming from an existing slot resumes. */
static void note_joined(w2k_tables_t *tb, const w2k_pubtable_t *before, int nbefore)
{
    for (int i = 0; i < tb->nours; i++) {
        bool old = false;
        for (int k = 0; k < nbefore && !old; k++)
            old = before[k].relid == tb->ours[i].relid;
        char full[160];
        snprintf(full, sizeof full, "%s.%s", tb->ours[i].schema, tb->ours[i].name);
        if (!old && leaf_joined(tb, &tb->ours[i], before, nbefore, full, sizeof full, &old) != 0)
            return;
        for (int k = 0; k < tb->njoined && !old; k++)
            old = strcmp(tb->joined[k], full) == 0;
        if (old)
            continue;
        char **v = realloc(tb->joined, ((size_t)tb->njoined + 1) * sizeof *v);
        if (!v)
            return;
        tb->joined = v;
        if ((v[tb->njoined] = strdup(full)))
            tb->njoined++;
    }
}

/* Tables created since start that a pattern of the stream matches join it: added to
 * the publication (the caller has them re-read, so rows written before are not
 * missed). Returns how many joined (the first at *first), or -1 with err. */
static int join_new_tables(w2k_tables_t *tb, int *first, w2k_err_t *err)
{
    int64_t now = w2k_clock_mono_ms();
    if (now < tb->next_pattern_check_ms || tb->eff_cap == tb->scfg->ntables)
        return 0;
    tb->next_pattern_check_ms = now + 10000;
    PGresult *all = w2k_pg_query(tb->catalog, err, "listing tables for the stream's patterns",
                                 w2k_catalog_all_tables_sql, 0, NULL);
    if (!all)
        return -1;
    int before = tb->eff.ntables;
    int added = match_patterns(tb, all, false);
    PQclear(all);
    if (!added)
        return 0;
    for (int i = before; i < tb->eff.ntables; i++)
        if (parse_filter(tb, i, err) != 0)
            return -1;
    if (w2k_names_check_topics(tb->scfg, tb->eff.tables, tb->eff.ntables, err) != 0)
        return -1;
    if (ensure_publication(tb, true, err) != 0 || note_publication(tb, err) != 0)
        return -1;
    for (int i = before; i < tb->eff.ntables; i++)
        w2k_info("stream %s: new table %s.%s joins the stream", tb->scfg->name,
                 tb->eff.tables[i].schema, tb->eff.tables[i].name);
    *first = before;
    return added;
}

/* Someone else may change a publication of the stream while it streams (ALTER
 * PUBLICATION ... DROP TABLE): PostgreSQL then sends none of the table's changes from
 * that point of the WAL on, without a word. Look every PUB_CHECK_MS; after a change,
 * restore the publications, which also requests the re-read of the tables whose
 * changes were lost (w2k_catalog_ensure_publication). Returns 0, or -1 with err. */
static int guard_publication(w2k_tables_t *tb, w2k_err_t *err)
{
    if (w2k_clock_mono_ms() < tb->next_pub_check_ms)
        return 0;
    tb->next_pub_check_ms = w2k_clock_mono_ms() + PUB_CHECK_MS;
    char *now = NULL;
    if (w2k_catalog_publication_signature(tb->catalog, &tb->pubs,
                                          tb->cfg->pg_receive_timeout_ms / 2, &now, err) != 0)
        return -1;
    /* gone: decoding the next change fails and says so */
    bool same = !now || (tb->pub_signature && strcmp(now, tb->pub_signature) == 0);
    free(now);
    if (same)
        return 0;
    return ensure_publication(tb, true, err) != 0 ? -1 : note_publication(tb, err);
}

/* True when a pattern of the stream matches schema.name and no exclude does. */
static bool pattern_matches(const w2k_tables_t *tb, const char *schema, const char *name)
{
    const w2k_stream_cfg_t *sc = tb->scfg;
    for (int i = 0; i < sc->ntables; i++)
        if (w2k_table_is_pattern(&sc->tables[i]) &&
            w2k_pattern_matches(sc, &sc->tables[i], schema, name))
            return true;
    return false;
}

int w2k_tables_resolve(w2k_tables_t *tb, PGconn *catalog, int version, w2k_err_t *err)
{
    tb->catalog = catalog;
    int rc = resolve_tables(tb, version, err);
    tb->catalog = NULL;
    return rc;
}

int w2k_tables_publish(w2k_tables_t *tb, PGconn *catalog, bool resuming, w2k_err_t *err)
{
    tb->catalog = catalog;
    w2k_pubtable_t *before = NULL;
    int nbefore = 0, rc = -1;
    if (tables_read_before(tb, &before, &nbefore, err) != 0 ||
        ensure_publication(tb, resuming, err) != 0 || note_publication(tb, err) != 0)
        goto out;
    warn_tables(tb);
    free(tb->ours);
    tb->ours = NULL;
    tb->nours = 0;
    rc = w2k_catalog_publication_tables(catalog, tb->pubs.names, &tb->ours, &tb->nours, err);
    if (rc == 0)
        note_joined(tb, before, nbefore);
out:
    free(before);
    tb->catalog = NULL;
    return rc;
}

int w2k_tables_take_joined(w2k_tables_t *tb, char ***names)
{
    int n = tb->njoined;
    *names = tb->joined;
    tb->joined = NULL;
    tb->njoined = 0;
    return n;
}

int w2k_tables_join_new(w2k_tables_t *tb, PGconn *catalog, int *first, w2k_err_t *err)
{
    tb->catalog = catalog;
    int rc = join_new_tables(tb, first, err);
    tb->catalog = NULL;
    return rc;
}

int w2k_tables_guard(w2k_tables_t *tb, PGconn *catalog, w2k_err_t *err)
{
    tb->catalog = catalog;
    int rc = guard_publication(tb, err);
    tb->catalog = NULL;
    return rc;
}

int w2k_tables_count(const w2k_tables_t *tb)
{
    return tb->eff.ntables;
}

const w2k_table_cfg_t *w2k_tables_cfg(const w2k_tables_t *tb, int i)
{
    return &tb->eff.tables[i];
}

const w2k_stream_cfg_t *w2k_tables_stream_cfg(const w2k_tables_t *tb)
{
    return &tb->eff;
}

const w2k_table_cfg_t *w2k_tables_find(const w2k_tables_t *tb, const char *schema, const char *name)
{
    int i = eff_index(tb, schema, name);
    return i < 0 ? NULL : &tb->eff.tables[i];
}

bool w2k_tables_pattern_matches(const w2k_tables_t *tb, const char *schema, const char *name)
{
    return pattern_matches(tb, schema, name);
}

w2k_filter_t *w2k_tables_filter(const w2k_tables_t *tb, const w2k_table_cfg_t *tc)
{
    return tb->filters ? tb->filters[tc - tb->eff.tables] : NULL;
}

bool w2k_tables_connector_filters(const w2k_tables_t *tb)
{
    return tb->connector_filters;
}

const w2k_pubset_t *w2k_tables_pubs(const w2k_tables_t *tb)
{
    return &tb->pubs;
}

w2k_pubtable_t *w2k_tables_known(w2k_tables_t *tb, uint32_t relid)
{
    for (int i = 0; i < tb->nours; i++)
        if (tb->ours[i].relid == relid)
            return &tb->ours[i];
    return NULL;
}

w2k_pubtable_t *w2k_tables_note(w2k_tables_t *tb, uint32_t relid, const char *schema,
                                const char *name)
{
    w2k_pubtable_t *v = realloc(tb->ours, ((size_t)tb->nours + 1) * sizeof *v);
    if (!v)
        return NULL;
    tb->ours = v;
    w2k_pubtable_t *known = &v[tb->nours++];
    known->relid = relid;
    snprintf(known->schema, sizeof known->schema, "%s", schema);
    snprintf(known->name, sizeof known->name, "%s", name);
    return known;
}

void w2k_tables_topic(const w2k_tables_t *tb, const char *schema, const char *name, char *out,
                      size_t outsz)
{
    w2k_names_topic(tb->scfg->topic_prefix, schema, name, out, outsz);
}

/* Append s as an element of a PostgreSQL array literal. */
static void put_array_elem(w2k_buf_t *b, const char *s)
{
    if (b->len > 1)
        w2k_buf_putc(b, ',');
    w2k_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            w2k_buf_putc(b, '\\');
        w2k_buf_putc(b, *s);
    }
    w2k_buf_putc(b, '"');
}

int w2k_tables_keyed(const w2k_tables_t *tb, PGconn *catalog, int first, int n, signed char *keyed,
                     w2k_err_t *err)
{
    w2k_buf_t schemas = W2K_BUF_INIT, names = W2K_BUF_INIT;
    w2k_buf_putc(&schemas, '{');
    w2k_buf_putc(&names, '{');
    for (int i = 0; i < n; i++) {
        keyed[i] = -1;
        put_array_elem(&schemas, tb->eff.tables[first + i].schema);
        put_array_elem(&names, tb->eff.tables[first + i].name);
    }
    w2k_buf_putc(&schemas, '}');
    w2k_buf_putc(&names, '}');
    w2k_buf_putc(&schemas, '\0');
    w2k_buf_putc(&names, '\0');
    const char *p[2] = {schemas.data, names.data};
    /* plain tables only (a partitioned table's rows may come under its partitions'
     * names); the key is the identity index's columns with identity index, else the
     * primary key's (w2k_catalog_describe) */
    PGresult *r = w2k_pg_query(
        catalog, err, "looking up the stream's tables' keys",
        "SELECT t.i, EXISTS (SELECT 1 FROM pg_index x WHERE "
        "x.indrelid = c.oid AND CASE WHEN c.relreplident = 'i' THEN x.indisreplident ELSE "
        "x.indisprimary END) FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS t(s, n, i) "
        "JOIN pg_namespace ns ON ns.nspname = t.s JOIN pg_class c ON c.relnamespace = ns.oid "
        "AND c.relname = t.n WHERE c.relkind = 'r'",
        2, p);
    w2k_buf_free(&schemas);
    w2k_buf_free(&names);
    if (!r)
        return -1;
    for (int k = 0; k < PQntuples(r); k++) {
        int i = atoi(PQgetvalue(r, k, 0)) - 1;
        if (i >= 0 && i < n && !tb->eff.tables[first + i].ncolumns)
            keyed[i] = PQgetvalue(r, k, 1)[0] == 't';
    }
    PQclear(r);
    return 0;
}
