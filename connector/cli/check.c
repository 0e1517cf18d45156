/* check.c — `wal2kafka check`: report every problem that would stop streaming. */
#include "check.h"
#include "appmsg.h"
#include "signals.h"
#include "catalog.h"
#include "filter.h"
#include "pgconn.h"
#include "secret.h"
#include "sink.h"
#include "standby.h"
#include "state.h"
#include "tables.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct report_s {
    FILE *out;
    int problems;
    int warnings;
    int first_code;
} report_t;

static void line(report_t *r, const char *tag, const char *fmt, va_list ap)
{
    fprintf(r->out, "%-8s", tag);
    vfprintf(r->out, fmt, ap);
    fputc('\n', r->out);
}

static void ok(report_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(report_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(r, "ok", fmt, ap);
    va_end(ap);
}

static void warn(report_t *r, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(report_t *r, const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(r, "warn", fmt, ap);
    va_end(ap);
    if (fix)
        fprintf(r->out, "%-8s%s\n", "fix", fix);
    r->warnings++;
}

static void problem(report_t *r, int code, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(report_t *r, int code, const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    line(r, "problem", fmt, ap);
    va_end(ap);
    if (fix && *fix) {
        /* indent continuation lines of the fix */
        fprintf(r->out, "%-8s", "fix");
        for (const char *p = fix; *p; p++) {
            fputc(*p, r->out);
            if (*p == '\n')
                fprintf(r->out, "%-8s", "");
        }
        fputc('\n', r->out);
    }
    if (!r->problems++)
        r->first_code = code;
}

static void problem_err(report_t *r, const w2k_err_t *e)
{
    problem(r, e->code ? e->code : W2K_EXIT_POSTGRES, e->hint, "%s", e->msg);
}

/* One row, one column of a query, or NULL (the result is kept in *res). */
static const char *one(PGconn *c, PGresult **res, const char *sql, int n, const char *const *p)
{
    w2k_err_t e;
    PQclear(*res);
    *res = w2k_pg_query(c, &e, "check", sql, n, p);
    if (!*res || PQntuples(*res) < 1 || PQgetisnull(*res, 0, 0))
        return NULL;
    return PQgetvalue(*res, 0, 0);
}

/* Server settings, the role, free slots and WAL senders. Returns server_version_num
 * (0 when unknown). */
static int check_server(report_t *r, PGconn *c, const w2k_config_t *cfg)
{
    PGresult *res = NULL;
    const char *v;
    int version = 0;
    w2k_err_t e;
    char vs[16];
    if (w2k_catalog_check_server(c, &version, &e) != 0)
        problem_err(r, &e);
    else
        ok(r, "PostgreSQL %s at %s:%s, database %s, role %s, wal_level = logical",
           w2k_pg_version_str(version, vs), PQhost(c), PQport(c), PQdb(c), PQuser(c));

    v = one(c, &res, "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user",
            0, NULL);
    if (v && v[0] == 't')
        ok(r, "role %s may replicate", PQuser(c));
    else {
        char fix[256];
        snprintf(fix, sizeof fix, "ALTER ROLE %s WITH REPLICATION;", PQuser(c));
        problem(r, W2K_EXIT_POSTGRES, fix, "role %s lacks the REPLICATION attribute", PQuser(c));
    }

    int needed = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        w2k_slot_info_t info;
        if (w2k_catalog_slot(c, cfg->streams[i].slot, &info, &e) != 0 || !info.exists)
            needed++; /* a slot that cannot be looked up is counted as one to create */
    }
    v = one(c, &res,
            "SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM "
            "pg_replication_slots)",
            0, NULL);
    if (v && atoi(v) < needed)
        problem(r, W2K_EXIT_POSTGRES,
                "raise max_replication_slots (ALTER SYSTEM SET max_replication_slots = ...; then "
                "restart PostgreSQL), or drop unused slots with "
                "SELECT pg_drop_replication_slot('name');",
                "%d new replication slot(s) needed but only %d free", needed, atoi(v));
    else if (v)
        ok(r, "replication slots: %d free, %d needed", atoi(v), needed);
    v = one(c, &res,
            "SELECT current_setting('max_wal_senders')::int - (SELECT count(*) FROM "
            "pg_stat_replication)",
            0, NULL);
    if (v && atoi(v) < cfg->nstreams)
        problem(r, W2K_EXIT_POSTGRES,
                "raise max_wal_senders (needs a restart of PostgreSQL), or stop unused "
                "replication clients",
                "%d WAL sender(s) needed, %d free", cfg->nstreams, atoi(v));
    PQclear(res);
    return version;
}

/* What the server's version gives the configured streams and what it lacks, with the
 * alternative; a warning where the configuration asks for something it lacks. */
static void check_capabilities(report_t *r, PGconn *c, const w2k_config_t *cfg)
{
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    if (caps.version_num < 100000)
        return; /* too old or unknown: check_server said so */
    char v[16], lacks[512] = "";
    w2k_pg_version_str(caps.version_num, v);
    size_t n = 0;
#define LACKS(cond, text)                                                                          \
    do {                                                                                           \
        if (!(cond) && n < sizeof lacks)                                                           \
            n += (size_t)snprintf(lacks + n, sizeof lacks - n, "%s" text, n ? "; " : "");          \
    } while (0)
    LACKS(caps.publish_truncate, "TRUNCATE capture (11+)");
    LACKS(caps.generated_columns, "generated columns (12+)");
    LACKS(caps.slot_wal_status, "slot invalidation by max_slot_wal_keep_size (13+)");
    LACKS(caps.logical_messages, "logical messages in the stream (14+)");
    LACKS(caps.publication_filters, "row filters and column lists in publications (15+)");
    LACKS(caps.failover_slots, "failover slots (17+)");
    LACKS(caps.publish_generated, "generated column values in the stream (18+)");
#undef LACKS
    if (n)
        ok(r, "PostgreSQL %s lacks: %s", v, lacks);
    else
        ok(r, "PostgreSQL %s has every feature wal2kafka uses", v);

    bool truncate = false, filtered = false;
    for (int i = 0; i < cfg->nstreams; i++)
        for (int t = 0; t < cfg->streams[i].ntables; t++) {
            const w2k_table_cfg_t *tc = &cfg->streams[i].tables[t];
            truncate |= (tc->ops & W2K_OP_TRUNCATE) != 0;
            filtered |= (tc->filter || tc->ncolumns ||
                         (tc->ops & ~W2K_OP_TRUNCATE) != (W2K_OP_ALL & ~W2K_OP_TRUNCATE)) &&
                        cfg->streams[i].filters == W2K_FILTERS_AUTO;
        }
    if (truncate && !caps.publish_truncate)
        warn(r,
             "upgrade to PostgreSQL 11 or newer to capture TRUNCATE, or leave truncate out of "
             "the tables' operations",
             "PostgreSQL %s cannot publish TRUNCATE: the tables' inserts, updates and deletes "
             "are captured, their truncates are not",
             v);
    if (filtered && !caps.publication_filters)
        ok(r,
           "PostgreSQL %s: filters = \"auto\" evaluates row filters, column lists and operations "
           "in wal2kafka (PostgreSQL sends every change of the tables)",
           v);
    if (!caps.slot_wal_status)
        ok(r,
           "PostgreSQL %s: no max_slot_wal_keep_size, so a slot is never invalidated; its "
           "retained WAL (from restart_lsn) can fill the disk while wal2kafka is stopped",
           v);
    if (!caps.logical_messages) {
        PGresult *res = NULL;
        /* the trigger's function as installed: by this release (it writes into the signal
         * table before 14) or by an older one (logical messages, never sent here) */
        const char *t = one(c, &res,
                            "SELECT count(*) || ',' || count(*) FILTER (WHERE NOT EXISTS (SELECT "
                            "1 FROM pg_proc p WHERE p.oid = e.evtfoid AND p.prosrc LIKE "
                            "'%" W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE "%')) FROM "
                            "pg_event_trigger e WHERE e.evtname LIKE 'wal2kafka%'",
                            0, NULL);
        int triggers = 0, stale = 0;
        if (t)
            sscanf(t, "%d,%d", &triggers, &stale);
        ok(r,
           "PostgreSQL %s: pgoutput sends no logical messages (14+): wal2kafka carries its own "
           "(re-snapshot watermarks, wal2kafka snapshot requests, DDL events) as rows of the "
           "signal table " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
           ", which run creates (the role needs CREATE on the database) and adds to each "
           "stream's publication",
           v);
        if (stale > 0)
            warn(r,
                 "run wal2kafka ddl install again: it installs the trigger that writes into "
                 "the signal table",
                 "PostgreSQL %s: the DDL capture trigger was installed for logical messages, "
                 "which pgoutput does not send before 14: its DDL events never reach wal2kafka",
                 v);
        PQclear(res);
    }
}

/* Whether PostgreSQL filters the stream's rows (else wal2kafka does). */
static bool pushed_down(const w2k_stream_cfg_t *st, int version)
{
    return st->filters == W2K_FILTERS_PUSHDOWN ||
           (st->filters == W2K_FILTERS_AUTO && (version == 0 || version >= 150000));
}

/* What run refuses in table t's row filter and column list, as run words it.
 * Returns true when it found a problem. */
static bool check_filter(report_t *r, PGconn *c, const w2k_config_t *cfg,
                         const w2k_stream_cfg_t *st, const w2k_table_cfg_t *t, int version)
{
    w2k_err_t e;
    if (!t->filter && !t->ncolumns)
        return false;
    if (pushed_down(st, version)) {
        if (version && version < 150000) {
            char fix[256];
            snprintf(fix, sizeof fix,
                     "set filters = \"connector\" (or \"auto\") for stream %s: wal2kafka then "
                     "evaluates them itself",
                     st->name);
            problem(r, W2K_EXIT_CONFIG, fix,
                    "%s:%d: stream %s: PostgreSQL %d cannot filter rows or columns in a "
                    "publication",
                    cfg->path, t->line, st->name, version / 10000);
            return true;
        }
        /* -1: no verdict (e.g. the role may not create publications): run finds out */
        if (w2k_catalog_probe_table(c, cfg->path, st, t, &e) == 1) {
            problem_err(r, &e);
            return true;
        }
        return false;
    }
    char why[512];
    w2k_filter_t *f = NULL;
    if (t->filter && !(f = w2k_filter_parse(t->filter, why, sizeof why))) {
        problem(r, W2K_EXIT_CONFIG,
                "with filters = \"connector\" wal2kafka evaluates the filter itself and supports "
                "comparisons, AND/OR/NOT, IN, IS [NOT] NULL, BETWEEN and LIKE; rewrite it with "
                "those, or use filters = \"pushdown\" on PostgreSQL 15+",
                "%s:%d: stream %s, table %s.%s: %s", cfg->path, t->line, st->name, t->schema,
                t->name, why);
        return true;
    }
    bool found = false;
    w2k_relation_t *rel = w2k_catalog_relation(c, t->schema, t->name, &e);
    if (rel && f && w2k_filter_bind(f, rel, why, sizeof why) != 0) {
        problem(r, W2K_EXIT_CONFIG, "fix the table's filter in the configuration",
                "%s:%d: stream %s, table %s.%s: %s", cfg->path, t->line, st->name, t->schema,
                t->name, why);
        found = true;
    }
    for (int k = 0; rel && !found && k < t->ncolumns; k++) {
        bool known = false;
        for (int i = 0; i < rel->ncols; i++)
            known |= strcmp(rel->cols[i].name, t->columns[k]) == 0;
        if (!known) {
            problem(r, W2K_EXIT_CONFIG, "fix the table's column list in the configuration",
                    "%s:%d: stream %s, table %s.%s has no column \"%s\"", cfg->path, t->line,
                    st->name, t->schema, t->name, t->columns[k]);
            found = true;
        }
    }
    w2k_relation_free(rel);
    w2k_filter_destroy(f);
    return found;
}

/* Before 13: what wal2kafka does for partitioned table t (OID oid): the publication
 * lists its leaf partitions in its place, and their rows stream to its topic. */
static void check_leaves(report_t *r, PGconn *c, const w2k_table_cfg_t *t, unsigned oid,
                         const char *topic, int version)
{
    char soid[16];
    snprintf(soid, sizeof soid, "%u", oid);
    const char *p[1] = {soid};
    PGresult *res = PQexecParams(c, w2k_catalog_leaves_sql, 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return;
    }
    w2k_buf_t names = W2K_BUF_INIT;
    for (int i = 0; i < PQntuples(res); i++)
        w2k_buf_printf(&names, "%s%s", i ? ", " : "", PQgetvalue(res, i, 1));
    int n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        warn(r,
             "its rows stream once it has a partition: wal2kafka adds the partitions to the "
             "publication when it starts",
             "table %s.%s: partitioned, without partitions: PostgreSQL %d cannot publish a "
             "partitioned table itself",
             t->schema, t->name, version / 10000);
    else
        ok(r,
           "table %s.%s: partitioned, %d leaf partition(s) (%s): PostgreSQL %d cannot publish "
           "a partitioned table, so the publication lists its leaf partitions and their rows "
           "stream to topic %s; a partition created or attached while streaming joins the "
           "publication within a second, and the table is then read again (rows written to it "
           "in between are not lost)",
           t->schema, t->name, n, names.data ? names.data : "", version / 10000, topic);
    w2k_buf_free(&names);
}

/* What happens to table t (OID oid) of stream st for its shape: a partitioned table
 * (its partitions, its topic, publish_via_partition_root on 13+, its leaf partitions
 * before), a
 * partition listed on its own, stored generated columns (sent from 18 on). */
static void check_table_shape(report_t *r, PGconn *c, const w2k_config_t *cfg,
                              const w2k_stream_cfg_t *st, const w2k_table_cfg_t *t, unsigned oid,
                              int version)
{
    char soid[16];
    snprintf(soid, sizeof soid, "%u", oid);
    const char *p[1] = {soid};
    /* relispartition is 10+, attgenerated 12+ */
    PGresult *res = PQexecParams(
        c,
        version >= 120000
            ? "SELECT c.relkind, c.relispartition, (SELECT count(*) FROM pg_inherits i WHERE "
              "i.inhparent = c.oid), (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i "
              "JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = "
              "pc.relnamespace WHERE i.inhrelid = c.oid), (SELECT string_agg(a.attname, ', ' "
              "ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
              "AND NOT a.attisdropped AND a.attgenerated = 's'), (SELECT string_agg(a.attname, ', "
              "' "
              "ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 "
              "AND NOT a.attisdropped AND a.attgenerated = 'v') FROM pg_class c WHERE c.oid = $1"
            : "SELECT c.relkind, c.relispartition, (SELECT count(*) FROM pg_inherits i WHERE "
              "i.inhparent = c.oid), (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i "
              "JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = "
              "pc.relnamespace WHERE i.inhrelid = c.oid), NULL, NULL FROM pg_class c WHERE c.oid = "
              "$1",
        1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        PQclear(res);
        return;
    }
    char topic[512] = "";
    w2k_tables_t *tb = w2k_tables_new(cfg, st);
    if (tb)
        w2k_tables_topic(tb, t->schema, t->name, topic, sizeof topic);
    w2k_tables_destroy(tb);
    bool parted = PQgetvalue(res, 0, 0)[0] == 'p';
    bool partition = PQgetvalue(res, 0, 1)[0] == 't';
    const char *nparts = PQgetvalue(res, 0, 2), *parent = PQgetvalue(res, 0, 3);
    const char *generated = PQgetisnull(res, 0, 4) ? NULL : PQgetvalue(res, 0, 4);
    const char *virtual = PQgetisnull(res, 0, 5) ? NULL : PQgetvalue(res, 0, 5); /* 18+ */
    if (parted && version >= 130000) {
        ok(r,
           "table %s.%s: partitioned, %s partition(s): their rows stream to topic %s "
           "(publish_via_partition_root = true)",
           t->schema, t->name, nparts, topic);
    } else if (parted) {
        check_leaves(r, c, t, oid, topic, version);
    } else if (partition) {
        ok(r,
           "table %s.%s: a partition of %s, streamed as a table of its own to topic %s (list "
           "%s instead for all its partitions' rows on one topic)",
           t->schema, t->name, parent, topic, parent);
    }
    if (generated && version >= 180000) {
        ok(r,
           "table %s.%s: stored generated columns %s stream (publish_generated_columns = "
           "stored)",
           t->schema, t->name, generated);
    } else if (generated) {
        warn(r,
             "PostgreSQL 18 sends them (publish_generated_columns, set by wal2kafka); before, "
             "compute them in the consumer",
             "table %s.%s: generated columns %s cannot be streamed: PostgreSQL %d's pgoutput "
             "does not send generated columns, so they are not in the schema",
             t->schema, t->name, generated, version / 10000);
    }
    if (virtual)
        warn(r, "make them STORED, or compute them in the consumer",
             "table %s.%s: virtual generated columns %s cannot be streamed: PostgreSQL "
             "publishes stored generated columns only",
             t->schema, t->name, virtual);
    PQclear(res);
}

/* Before 13, partitioned table qualified (OID oid): its changes are its leaf
 * partitions', each with its own replica identity: each one checked as a table is, and
 * its key (its primary key, or that common to its leaf partitions) reported. */
static void check_leaves_identity(report_t *r, PGconn *c, const char *qualified, unsigned oid,
                                  bool wants_old)
{
    char soid[16];
    snprintf(soid, sizeof soid, "%u", oid);
    const char *p[1] = {soid};
    PGresult *res = PQexecParams(
        c,
        "WITH RECURSIVE t(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::oid "
        "UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid) SELECT "
        "quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relreplident, EXISTS "
        "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary), EXISTS (SELECT "
        "1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident) FROM t JOIN pg_class c "
        "ON c.oid = t.oid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' "
        "ORDER BY c.oid",
        1, NULL, p, NULL, NULL, 0);
    for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++) {
        const char *leaf = PQgetvalue(res, i, 0);
        char ri = PQgetvalue(res, i, 1)[0];
        bool pk = PQgetvalue(res, i, 2)[0] == 't', idx = PQgetvalue(res, i, 3)[0] == 't';
        char fix[512];
        if (wants_old && (ri == 'n' || (ri == 'd' && !pk) || (ri == 'i' && !idx))) {
            snprintf(fix, sizeof fix,
                     "add a primary key to partition %s, or ALTER TABLE %s REPLICA IDENTITY "
                     "FULL;",
                     leaf, leaf);
            problem(r, W2K_EXIT_POSTGRES, fix,
                    "partition %s of table %s has no usable replica identity: PostgreSQL "
                    "refuses its UPDATEs and DELETEs while it is published",
                    leaf, qualified);
        }
    }
    PQclear(res);
    res = PQexecParams(c, w2k_catalog_leaves_key_sql, 1, NULL, p, NULL, NULL, 0);
    PGresult *own = PQexecParams(c,
                                 "SELECT a.attname FROM pg_index i CROSS JOIN LATERAL "
                                 "unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) JOIN "
                                 "pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = "
                                 "k.attnum WHERE i.indrelid = $1::oid AND i.indisprimary ORDER BY "
                                 "k.ord",
                                 1, NULL, p, NULL, NULL, 0);
    bool has_own = PQresultStatus(own) == PGRES_TUPLES_OK && PQntuples(own) > 0;
    PGresult *k = has_own ? own : res;
    w2k_buf_t cols = W2K_BUF_INIT;
    for (int i = 0; PQresultStatus(k) == PGRES_TUPLES_OK && i < PQntuples(k); i++)
        w2k_buf_printf(&cols, "%s%s", i ? ", " : "", PQgetvalue(k, i, 0));
    if (cols.len)
        ok(r, "table %s: key (%s) from its %s", qualified, cols.data,
           has_own ? "primary key" : "partitions' common primary key");
    else
        warn(r,
             "give its partitions the same primary key (PostgreSQL 10 has none on a partitioned "
             "table; 11 and 12 do: ALTER TABLE ... ADD PRIMARY KEY on the table itself)",
             "table %s has no primary key, nor one common to its partitions: its messages carry "
             "no key, go to a delete-policy topic, and keep no per-row order",
             qualified);
    w2k_buf_free(&cols);
    PQclear(own);
    PQclear(res);
}

static void check_table(report_t *r, PGconn *c, const w2k_config_t *cfg, const w2k_stream_cfg_t *st,
                        const w2k_table_cfg_t *t, int version)
{
    PGresult *res = NULL;
    char qualified[200];
    snprintf(qualified, sizeof qualified, "%s.%s", t->schema, t->name);
    const char *p[2] = {t->schema, t->name};
    const char *v = one(
        c, &res,
        "SELECT c.oid::text || ',' || c.relreplident::text || ',' || has_table_privilege(c.oid, "
        "'SELECT')::text || ',' || EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND "
        "i.indisprimary)::text || ',' || EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = "
        "c.oid AND i.indisreplident)::text || ',' || c.relkind::text FROM pg_class c JOIN "
        "pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
        2, p);
    if (!v) {
        char fix[512];
        snprintf(fix, sizeof fix,
                 "create the table, fix its name at %s:%d, or remove it from stream %s", cfg->path,
                 t->line, st->name);
        problem(r, W2K_EXIT_POSTGRES, fix, "table %s (stream %s) does not exist", qualified,
                st->name);
        PQclear(res);
        return;
    }
    char replident = 0, sel[8] = "", pk[8] = "", ri[8] = "", kind = 0;
    unsigned oid = 0;
    sscanf(v, "%u,%c,%7[^,],%7[^,],%7[^,],%c", &oid, &replident, sel, pk, ri, &kind);
    char *q = PQescapeIdentifier(c, t->schema, strlen(t->schema));
    char *qn = PQescapeIdentifier(c, t->name, strlen(t->name));
    char fix[512];
    if (strcmp(sel, "true") != 0) {
        snprintf(fix, sizeof fix, "GRANT SELECT ON %s.%s TO %s;", q, qn, PQuser(c));
        problem(r, W2K_EXIT_POSTGRES, fix, "role %s may not SELECT from %s (the snapshot needs it)",
                PQuser(c), qualified);
    }
    bool keyed = strcmp(pk, "true") == 0 || (replident == 'i' && strcmp(ri, "true") == 0);
    bool wants_old = t->ops & (W2K_OP_UPDATE | W2K_OP_DELETE);
    if (kind == 'p' && version < 130000) {
        check_leaves_identity(r, c, qualified, oid, wants_old);
    } else if (replident == 'n' && wants_old) {
        snprintf(fix, sizeof fix, "ALTER TABLE %s.%s REPLICA IDENTITY %s;", q, qn,
                 strcmp(pk, "true") == 0 ? "DEFAULT" : "FULL");
        problem(r, W2K_EXIT_POSTGRES, fix,
                "table %s has REPLICA IDENTITY NOTHING: PostgreSQL refuses its UPDATEs and "
                "DELETEs while it is published",
                qualified);
    } else if (!keyed && replident == 'd' && wants_old) {
        snprintf(fix, sizeof fix,
                 "add a primary key (ALTER TABLE %s.%s ADD PRIMARY KEY (...);), or at least "
                 "ALTER TABLE %s.%s REPLICA IDENTITY FULL;",
                 q, qn, q, qn);
        problem(r, W2K_EXIT_POSTGRES, fix,
                "table %s has no primary key and REPLICA IDENTITY DEFAULT: PostgreSQL refuses its "
                "UPDATEs and DELETEs while it is published, and its changes carry no key",
                qualified);
    } else if (!keyed) {
        warn(r, NULL,
             "table %s has no primary key: its messages carry no key, go to a delete-policy "
             "topic, and keep no per-row order",
             qualified);
    } else {
        ok(r, "table %s: key from its %s%s", qualified,
           replident == 'i' ? "replica identity index" : "primary key",
           replident == 'f' ? ", REPLICA IDENTITY FULL (updates carry the old row)" : "");
    }
    check_table_shape(r, c, cfg, st, t, oid, version);
    char col[64];
    w2k_err_t e;
    if (!check_filter(r, c, cfg, st, t, version) && t->filter && wants_old &&
        w2k_catalog_filter_outside_identity(c, t->schema, t->name, t->filter, col, sizeof col,
                                            &e) == 1) {
        snprintf(fix, sizeof fix, "ALTER TABLE %s.%s REPLICA IDENTITY FULL;", q, qn);
        warn(r, fix,
             "table %s: the row filter (%s) uses column %s, which is not in the replica "
             "identity, and updates or deletes are published: %s unless the table has REPLICA "
             "IDENTITY FULL",
             qualified, t->filter, col,
             pushed_down(st, version)
                 ? "PostgreSQL refuses its UPDATEs and DELETEs"
                 : "PostgreSQL does not send the old row, so wal2kafka cannot tell whether an "
                   "update leaves the filter's set,");
    }
    PQfreemem(q);
    PQfreemem(qn);
    PQclear(res);
}

/* A pattern entry: each table it takes now, checked as its own entry would be. */
static void check_pattern(report_t *r, PGconn *c, const w2k_config_t *cfg,
                          const w2k_stream_cfg_t *st, const w2k_table_cfg_t *t, int version)
{
    PGresult *res = PQexec(c, w2k_catalog_all_tables_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        problem(r, W2K_EXIT_POSTGRES, NULL, "cannot list the tables for pattern %s.%s: %s",
                t->schema, t->name, PQerrorMessage(c));
        PQclear(res);
        return;
    }
    int matched = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        w2k_table_cfg_t m = *t;
        m.schema = PQgetvalue(res, i, 0);
        m.name = PQgetvalue(res, i, 1);
        if (!w2k_pattern_matches(st, t, m.schema, m.name))
            continue;
        matched++;
        check_table(r, c, cfg, st, &m, version);
    }
    if (!matched)
        warn(r, NULL, "%s:%d: stream %s: pattern %s.%s matches no table (yet)", cfg->path, t->line,
             st->name, t->schema, t->name);
    PQclear(res);
}

/* The stream's tables resolved as run resolves them: their topic names refused when
 * Kafka could not keep two apart, or longer than it accepts. */
static void check_topic_names(report_t *r, PGconn *c, const w2k_config_t *cfg,
                              const w2k_stream_cfg_t *st, int version)
{
    w2k_err_t e;
    w2k_err_clear(&e);
    w2k_tables_t *tb = w2k_tables_new(cfg, st);
    if (!tb)
        return;
    if (w2k_tables_resolve(tb, c, version, &e) != 0)
        problem_err(r, &e);
    else
        ok(r, "stream %s: %d table topic(s), every name distinct for Kafka", st->name,
           w2k_tables_count(tb));
    w2k_tables_destroy(tb);
}

/* The list "a, b" of n names into out. */
static void name_list(char *const *names, int n, char *out, size_t outsz)
{
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(out, i ? ", " : "", outsz - strlen(out) - 1);
        strncat(out, names[i], outsz - strlen(out) - 1);
    }
}

/* hash_columns and mask_columns: what each table sends instead, and the salt present
 * (its content never shown). */
static void check_masks(report_t *r, const w2k_stream_cfg_t *st)
{
    char list[512];
    for (int t = 0; t < st->ntables; t++) {
        const w2k_table_cfg_t *tc = &st->tables[t];
        if (tc->nhash_columns) {
            name_list(tc->hash_columns, tc->nhash_columns, list, sizeof list);
            ok(r,
               "stream %s: table %s.%s: column(s) %s sent as the HMAC-SHA-256 of their text "
               "(64 hex digits, Avro string; NULL stays NULL; a key column hashed in the key too)",
               st->name, tc->schema, tc->name, list);
        }
        if (tc->nmask_columns) {
            name_list(tc->mask_columns, tc->nmask_columns, list, sizeof list);
            ok(r,
               "stream %s: table %s.%s: column(s) %s sent as \"" W2K_MASK_TEXT
               "\" (Avro string; NULL stays NULL)",
               st->name, tc->schema, tc->name, list);
        }
    }
    if (!st->hashes)
        return;
    char salt[1024];
    w2k_err_t e;
    w2k_err_clear(&e);
    if (w2k_secret_read(st->hash_salt_file, "hash_salt_file", "W2K_HASH_SALT", salt, sizeof salt,
                        &e) != 0)
        problem_err(r, &e);
    else if (!salt[0])
        problem(r, W2K_EXIT_CONFIG,
                "put a secret salt in an owner-only file named by the stream's hash_salt_file, or "
                "in the environment variable W2K_HASH_SALT",
                "stream %s hashes columns but has no salt", st->name);
    else
        ok(r, "stream %s: the hash salt is set (%s)", st->name,
           st->hash_salt_file ? st->hash_salt_file : "W2K_HASH_SALT");
    w2k_secret_wipe(salt, sizeof salt);
}

/* PostgreSQL 17+: whether a standby can keep the stream's existing slot across a
 * failover (the slot's failover flag). */
static void check_slot_failover(report_t *r, PGconn *c, const w2k_config_t *cfg,
                                const w2k_stream_cfg_t *st, const w2k_slot_info_t *info)
{
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    if (!caps.failover_slots || !cfg->pg_failover_slots || info->in_recovery)
        return;
    if (info->failover) {
        ok(r, "stream %s: slot %s has failover = true (a standby that syncs slots keeps it)",
           st->name, st->slot);
        return;
    }
    char fix[512];
    snprintf(fix, sizeof fix,
             "wal2kafka turns failover on when it next starts (logged); or run "
             "ALTER_REPLICATION_SLOT %s (FAILOVER true) on a replication connection "
             "(psql \"dbname=%s replication=database\") while the slot is not active",
             st->slot, PQdb(c));
    warn(r, fix,
         "stream %s: slot %s has no failover: after a failover the promoted standby has "
         "no copy of it",
         st->name, st->slot);
}

/* PostgreSQL 17+: is a physical standby set up to sync the failover slots, and does the
 * primary wait for it (synchronized_standby_slots)? Says what to set on both sides. */
static void check_failover(report_t *r, PGconn *c, const w2k_config_t *cfg)
{
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    PGresult *res = NULL;
    const char *v = one(c, &res, "SELECT pg_is_in_recovery()::text", 0, NULL);
    bool standby = v && strcmp(v, "true") == 0;
    if (standby) {
        warn(r,
             "name every host in conninfo (host=a,b port=...) with "
             "target_session_attrs=read-write so wal2kafka always reaches the primary",
             "the server is a standby (in recovery): wal2kafka needs the primary");
        PQclear(res);
        return;
    }
    if (!caps.failover_slots) {
        ok(r,
           "failover: PostgreSQL %d has no failover slots (17+): after a failover the new "
           "primary has no slot; on_slot_lost = \"recreate\" then starts over with a new "
           "snapshot (announced), else the stream stops",
           caps.version_num / 10000);
        PQclear(res);
        return;
    }
    if (!cfg->pg_failover_slots) {
        ok(r, "failover: postgresql.failover_slots = false: slots are not kept by standbys");
        PQclear(res);
        return;
    }
    static const char standby_setup[] =
        "on the standby set sync_replication_slots = on, hot_standby_feedback = on, "
        "primary_slot_name = '<a physical slot on the primary>' and a dbname in "
        "primary_conninfo";
    v = one(c, &res,
            "SELECT count(*)::text || ',' || coalesce(string_agg(coalesce(nullif("
            "application_name, ''), client_addr::text, 'local'), ' '), '') FROM "
            "pg_stat_replication s WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots l "
            "WHERE l.active_pid = s.pid AND l.slot_type = 'logical')",
            0, NULL);
    int standbys = v ? atoi(v) : 0;
    const char *names = v && strchr(v, ',') ? strchr(v, ',') + 1 : "";
    if (standbys == 0) {
        /* a lone primary is common: said, not warned about */
        ok(r,
           "failover: no physical standby is connected, so none keeps a copy of the slots "
           "(to have one: %s)",
           standby_setup);
        PQclear(res);
        return;
    }
    ok(r, "failover: %d physical standby(s) connected (%s); %s", standbys, names, standby_setup);
    v = one(c, &res, "SELECT current_setting('synchronized_standby_slots')", 0, NULL);
    if (!v || !*v) {
        warn(r,
             "ALTER SYSTEM SET synchronized_standby_slots = '<the standby's physical slot>'; "
             "SELECT pg_reload_conf();",
             "failover: synchronized_standby_slots is empty: wal2kafka may receive changes "
             "a standby has not yet, and after a failover the synced slot on the new primary "
             "can be behind what Kafka holds");
        PQclear(res);
        return;
    }
    char slots[256];
    snprintf(slots, sizeof slots, "%s", v);
    const char *p[1] = {slots};
    v = one(c, &res,
            "SELECT coalesce(string_agg(n, ' '), '') FROM unnest(string_to_array(replace($1, "
            "' ', ''), ',')) n WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE "
            "slot_name = n AND slot_type = 'physical' AND active)",
            1, p);
    if (v && *v)
        warn(r,
             "start that standby, or remove its slot from synchronized_standby_slots: "
             "logical decoding waits for every slot listed there",
             "failover: synchronized_standby_slots = '%s' but no standby streams from: %s", slots,
             v);
    else
        ok(r, "failover: synchronized_standby_slots = '%s', every one of them streaming", slots);
    PQclear(res);
}

/* postgresql.decoding_conninfo: the decoding server (dec, NULL when it did not
 * answer: err says why), its role, hot_standby_feedback and how far its replay lags
 * behind the primary c. */
static void check_decoding(report_t *r, PGconn *c, PGconn *dec, const w2k_config_t *cfg,
                           const w2k_err_t *err)
{
    if (!dec) {
        problem_err(r, err);
        return;
    }
    w2k_err_t e;
    w2k_standby_info_t info;
    char vs[16];
    if (w2k_standby_check(dec, cfg->nstreams ? cfg->streams[0].name : "",
                          cfg->nstreams ? cfg->streams[0].slot : "", false, &info, &e) != 0) {
        problem_err(r, &e);
        return;
    }
    ok(r, "decoding server (postgresql.decoding_conninfo): PostgreSQL %s at %s:%s, %s",
       w2k_pg_version_str(info.version_num, vs), PQhost(dec), PQport(dec),
       info.in_recovery ? "a standby: slots are created, streamed and confirmed there"
                        : "not a standby (promoted?): decoding goes on from its slots");
    if (!info.in_recovery)
        return;
    if (info.feedback)
        ok(r, "decoding server: hot_standby_feedback = on%s%s",
           info.primary_slot[0] ? ", primary_slot_name = " : "", info.primary_slot);
    else
        warn(r,
             "on the standby: ALTER SYSTEM SET hot_standby_feedback = on; SELECT "
             "pg_reload_conf(); and set primary_slot_name to a physical slot on the primary",
             "decoding server: hot_standby_feedback = off: the primary may remove catalog rows "
             "the slots need, and the standby then invalidates them (conflict with recovery)");
    PGresult *res = NULL;
    const char *primary = one(c, &res,
                              "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
                              "pg_current_wal_lsn()::text END",
                              0, NULL);
    char want[32] = "";
    if (primary)
        snprintf(want, sizeof want, "%s", primary);
    const char *p[1] = {want};
    const char *lag = want[0] ? one(dec, &res,
                                    "SELECT pg_wal_lsn_diff($1::pg_lsn, "
                                    "pg_last_wal_replay_lsn())::bigint::text || ',' || "
                                    "coalesce(round(extract(epoch FROM now() - "
                                    "pg_last_xact_replay_timestamp()))::bigint, -1)::text",
                                    1, p)
                              : NULL;
    long long bytes = 0, secs = -1;
    if (lag && sscanf(lag, "%lld,%lld", &bytes, &secs) == 2)
        ok(r,
           "decoding server: replay lag %lld bytes behind the primary (last replayed "
           "transaction %s%llds ago)",
           bytes < 0 ? 0 : bytes, secs < 0 ? "unknown, " : "", secs < 0 ? 0 : secs);
    else
        warn(r, "check the standby replicates (pg_stat_replication on the primary)",
             "decoding server: cannot tell how far it lags behind the primary");
    PQclear(res);
}

static void check_stream(report_t *r, PGconn *c, PGconn *slotc, const w2k_config_t *cfg,
                         const w2k_stream_cfg_t *st, int version)
{
    PGresult *res = NULL;
    const char *v;
    w2k_err_t e;
    for (int t = 0; t < st->ntables; t++)
        if (w2k_table_is_pattern(&st->tables[t]))
            check_pattern(r, c, cfg, st, &st->tables[t], version);
        else
            check_table(r, c, cfg, st, &st->tables[t], version);
    check_topic_names(r, c, cfg, st, version);
    check_masks(r, st);

    if (st->nmsg_prefixes && w2k_appmsg_check_server(cfg, st, version, &e) != 0) {
        problem_err(r, &e);
    } else if (st->nmsg_prefixes) {
        ok(r,
           "stream %s: application messages whose prefix begins with \"%s\"%s are forwarded "
           "to %s.messages%s",
           st->name, st->msg_prefixes[0], st->nmsg_prefixes > 1 ? " (or another listed)" : "",
           st->topic_prefix, st->msg_per_prefix ? ".<prefix>" : "");
    }

    if (st->txmeta)
        ok(r,
           "stream %s: transaction metadata on: BEGIN/END events on %s.transaction and a "
           "transaction block in each change event",
           st->name, st->topic_prefix);

    w2k_pubset_t ps;
    w2k_catalog_pubset(st, pushed_down(st, version), &ps);
    for (int g = 0; g < ps.n; g++) {
        const char *p[1] = {ps.pub[g].name};
        v = one(c, &res,
                "SELECT (SELECT count(*) FROM pg_publication_tables WHERE pubname = $1 AND "
                "(schemaname, tablename) <> ('" W2K_SIGNAL_SCHEMA "', '" W2K_SIGNAL_TABLE
                "'))::text "
                "|| ',' || pg_has_role(pubowner, 'USAGE') FROM pg_publication WHERE pubname "
                "= $1",
                1, p);
        if (!v)
            ok(r,
               "stream %s: publication %s does not exist yet; run creates it (the role must own "
               "the tables)",
               st->name, ps.pub[g].name);
        else
            ok(r, "stream %s: publication %s exists (%d table(s))", st->name, ps.pub[g].name,
               atoi(v));
    }

    w2k_slot_info_t info;
    if (w2k_catalog_slot(slotc, st->slot, &info, &e) != 0) {
        problem_err(r, &e);
    } else if (!info.exists) {
        ok(r, "stream %s: slot %s does not exist yet; run creates it%s", st->name, st->slot,
           st->snapshot == W2K_SNAPSHOT_NEVER ? "" : " and takes the initial snapshot");
    } else if (w2k_catalog_slot_usable(&info, st->slot, st->name, PQdb(c), &e) != 0) {
        /* standby.enabled: another instance streaming is the normal case, not a problem */
        if (cfg->standby_enabled && info.active && strstr(e.msg, "is active for PID"))
            ok(r,
               "stream %s: slot %s is held by PID %d (another instance streams it); this "
               "one would wait as a standby and take over when it is released",
               st->name, st->slot, info.active_pid);
        else
            problem_err(r, &e);
    } else {
        char lsn[20];
        ok(r, "stream %s: slot %s ready, confirmed up to %s", st->name, st->slot,
           w2k_lsn_str(info.confirmed_flush, lsn));
        check_slot_failover(r, c, cfg, st, &info);
        const char *q[1] = {st->slot};
        w2k_pg_caps_t caps;
        w2k_pg_caps(c, &caps);
        /* safe_wal_size is 13+: before, nothing invalidates the slot (-1: no limit) */
        v = one(slotc, &res,
                caps.slot_wal_status
                    ? "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text || "
                      "',' || coalesce(safe_wal_size::text, '-1') FROM pg_replication_slots "
                      "WHERE slot_name = $1"
                    : "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text || "
                      "',-1' FROM pg_replication_slots WHERE slot_name = $1",
                1, q);
        long long retained = 0, safe = -1;
        if (v && sscanf(v, "%lld,%lld", &retained, &safe) == 2 && safe >= 0 && safe < retained / 4)
            warn(r, "start wal2kafka soon, or raise max_slot_wal_keep_size",
                 "stream %s: slot %s holds back %lld MB of WAL and PostgreSQL will invalidate "
                 "it after %lld MB more (max_slot_wal_keep_size)",
                 st->name, st->slot, retained >> 20, safe >> 20);
    }
    PQclear(res);
}

int w2k_check_run(const w2k_config_t *cfg, FILE *out)
{
    report_t r = {out, 0, 0, 0};
    w2k_err_t e;
    ok(&r, "configuration %s: %d stream(s)", cfg->path, cfg->nstreams);
    PGconn *c = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, &e);
    if (!c) {
        problem_err(&r, &e);
    } else {
        int version = check_server(&r, c, cfg);
        check_capabilities(&r, c, cfg);
        check_failover(&r, c, cfg);
        PGconn *dec = NULL;
        if (cfg->pg_decoding_conninfo) {
            dec = w2k_pg_connect(cfg->pg_decoding_conninfo, cfg->pg_password_file, false, &e);
            check_decoding(&r, c, dec, cfg, &e);
        }
        PGconn *repl = w2k_pg_connect(w2k_config_decoding(cfg), cfg->pg_password_file, true, &e);
        w2k_pg_ident_t ident;
        if (!repl || w2k_pg_identify(repl, &ident, &e) != 0)
            problem_err(&r, &e);
        else
            ok(&r, "replication connection works (system identifier %s, timeline %u)",
               ident.systemid, ident.timeline);
        for (int i = 0; i < cfg->nstreams; i++) {
            check_stream(&r, c, dec ? dec : c, cfg, &cfg->streams[i], version);
            w2k_stream_state_t state;
            char topic[256];
            snprintf(topic, sizeof topic, "%s.state", cfg->streams[i].topic_prefix);
            if (repl && w2k_state_read(cfg, topic, cfg->streams[i].name, &state, &e) == 0 &&
                state.found && strcmp(state.system_id, ident.systemid) != 0)
                problem(&r, W2K_EXIT_POSTGRES,
                        "a failover or restore happened: see on_slot_lost in "
                        "config/wal2kafka.cfg",
                        "stream %s last streamed from system %s, this server is %s",
                        cfg->streams[i].name, state.system_id, ident.systemid);
        }
        if (repl)
            PQfinish(repl);
        if (dec)
            PQfinish(dec);
        PQfinish(c);
    }

    w2k_sink_t *sink = w2k_sink_new(cfg, NULL, &e);
    if (!sink || w2k_sink_check_brokers(sink, 10000, &e) != 0)
        problem_err(&r, &e);
    else
        ok(&r, "Kafka at %s answers", cfg->kafka_bootstrap);
    w2k_sink_destroy(sink);

    if (r.problems)
        fprintf(out, "%d problem(s)%s: streaming cannot start\n", r.problems,
                r.warnings ? " and warnings" : "");
    else
        fprintf(out, "all checks passed%s: streaming can start\n",
                r.warnings ? " (with warnings)" : "");
    return r.problems ? r.first_code : 0;
}
