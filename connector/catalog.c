/* catalog.c — server checks, publication and slot upkeep, type and key lookups. */
#include "catalog.h"
#include "buf.h"
#include "log.h"
#include "pgconn.h"
#include "resnap.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int w2k_catalog_check_server(PGconn *c, int *version_num, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(c, err, "checking the server settings",
                               "SELECT current_setting('server_version_num')::int, "
                               "current_setting('wal_level')",
                               0, NULL);
    if (!r)
        return -1;
    *version_num = atoi(PQgetvalue(r, 0, 0));
    int ok = strcmp(PQgetvalue(r, 0, 1), "logical") == 0;
    char level[32];
    snprintf(level, sizeof level, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    if (*version_num < 100000) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "PostgreSQL %d is too old: pgoutput needs version 10 or newer", *version_num);
        w2k_err_hint(err, "upgrade PostgreSQL (15 or newer also filters rows on the server)");
        return -1;
    }
    if (!ok) {
        w2k_err_set(err, W2K_EXIT_POSTGRES, "wal_level is %s, but logical decoding needs logical",
                    level);
        w2k_err_hint(err, "run ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL "
                          "(the setting takes effect only at server start)");
        return -1;
    }
    return 0;
}

/* Quote schema.table as a SQL identifier pair. */
static void put_qualified(w2k_buf_t *b, PGconn *c, const char *schema, const char *name)
{
    char *qs = PQescapeIdentifier(c, schema, strlen(schema));
    char *qn = PQescapeIdentifier(c, name, strlen(name));
    w2k_buf_printf(b, "%s.%s", qs, qn);
    PQfreemem(qs);
    PQfreemem(qn);
}

/* The FOR TABLE clause entry of one table: name, column list, row filter. */
static void put_table_clause(w2k_buf_t *b, PGconn *c, const w2k_table_cfg_t *t)
{
    put_qualified(b, c, t->schema, t->name);
    if (t->ncolumns) {
        w2k_buf_puts(b, " (");
        for (int i = 0; i < t->ncolumns; i++) {
            char *q = PQescapeIdentifier(c, t->columns[i], strlen(t->columns[i]));
            w2k_buf_printf(b, "%s%s", i ? ", " : "", q);
            PQfreemem(q);
        }
        w2k_buf_putc(b, ')');
    }
    if (t->filter)
        w2k_buf_printf(b, " WHERE (%s)", t->filter);
}

static void put_publish(w2k_buf_t *b, unsigned ops)
{
    static const char *const names[] = {"insert", "update", "delete", "truncate"};
    int first = 1;
    w2k_buf_puts(b, "publish = '");
    for (int i = 0; i < 4; i++) {
        if (ops & (1u << i)) {
            w2k_buf_printf(b, "%s%s", first ? "" : ", ", names[i]);
            first = 0;
        }
    }
    w2k_buf_putc(b, '\'');
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h;
}

static int exec_ok(PGconn *c, const char *sql, w2k_err_t *err, const char *what)
{
    PGresult *r = w2k_pg_query(c, err, what, sql, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

/* After CREATE/ALTER PUBLICATION failed, find the table whose clause PostgreSQL
 * rejects, to name it and its config line. Returns 1 and sets err when found. */
static int blame_table(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                       w2k_err_t *err)
{
    for (int i = 0; i < st->ntables; i++) {
        const w2k_table_cfg_t *t = &st->tables[i];
        w2k_buf_t sql = W2K_BUF_INIT;
        w2k_buf_puts(&sql, "CREATE PUBLICATION wal2kafka_probe FOR TABLE ");
        put_table_clause(&sql, c, t);
        PQclear(PQexec(c, "BEGIN"));
        PGresult *r = PQexec(c, sql.data);
        int bad = PQresultStatus(r) != PGRES_COMMAND_OK;
        if (bad) {
            char what[512];
            snprintf(what, sizeof what,
                     "%s:%d: stream \"%s\", table %s.%s is refused by PostgreSQL", config_path,
                     t->line, st->name, t->schema, t->name);
            w2k_pg_set_error(err, c, r, what);
            if (!err->hint[0])
                w2k_err_hint(err,
                             "fix the table's filter or columns at %s:%d (the row filter "
                             "may use only columns of the table and immutable functions)",
                             config_path, t->line);
        }
        PQclear(r);
        PQclear(PQexec(c, "ROLLBACK"));
        w2k_buf_free(&sql);
        if (bad)
            return 1;
    }
    return 0;
}

/* True when the publication holds exactly the stream's tables. */
static bool publication_has_tables(PGconn *c, const w2k_stream_cfg_t *st)
{
    const char *params[1] = {st->publication};
    w2k_err_t err;
    PGresult *r = w2k_pg_query(c, &err, "listing the publication's tables",
                               "SELECT schemaname, tablename FROM pg_publication_tables WHERE "
                               "pubname = $1",
                               1, params);
    if (!r)
        return false;
    bool same = PQntuples(r) == st->ntables;
    for (int i = 0; same && i < PQntuples(r); i++) {
        bool found = false;
        for (int t = 0; t < st->ntables && !found; t++)
            found = strcmp(PQgetvalue(r, i, 0), st->tables[t].schema) == 0 &&
                    strcmp(PQgetvalue(r, i, 1), st->tables[t].name) == 0;
        same = found;
    }
    PQclear(r);
    return same;
}

/* One table of a publication: its OID and name, and the OID of its membership (the
 * pg_publication_rel row: a table removed and added again, or given another row
 * filter or column list, gets a new one). */
typedef struct member_s {
    uint32_t relid, member;
    char schema[64], name[64];
} member_t;

/* A publication as it is. Its comment, when wal2kafka wrote it, is a tag
 * "wal2kafka:<hash of the definition> <relid>:<membership OID>,...". */
typedef struct pubstate_s {
    bool exists;
    char *comment;
    char tag[64];        /* the comment up to the member list */
    const char *members; /* the member list in comment, or NULL (none, or an older tag) */
    unsigned ops;        /* W2K_OP_* it publishes */
    member_t *m;
    int n;
} pubstate_t;

static void pubstate_free(pubstate_t *p)
{
    free(p->comment);
    free(p->m);
    memset(p, 0, sizeof *p);
}

/* The tables and membership OIDs of publication pub into p->m. Returns 0, or -1. */
static int read_members(PGconn *c, const char *pub, pubstate_t *p, w2k_err_t *err)
{
    const char *params[1] = {pub};
    PGresult *r = w2k_pg_query(c, err, "listing the publication's tables",
                               "SELECT pr.prrelid, pr.oid, n.nspname, c.relname "
                               "FROM pg_publication_rel pr "
                               "JOIN pg_publication p ON p.oid = pr.prpubid "
                               "JOIN pg_class c ON c.oid = pr.prrelid "
                               "JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE p.pubname = $1 ORDER BY pr.prrelid",
                               1, params);
    if (!r)
        return -1;
    free(p->m);
    p->n = 0;
    p->m = calloc((size_t)PQntuples(r) + 1, sizeof *p->m);
    for (int i = 0; p->m && i < PQntuples(r); i++) {
        member_t *m = &p->m[p->n++];
        m->relid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        m->member = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        snprintf(m->schema, sizeof m->schema, "%s", PQgetvalue(r, i, 2));
        snprintf(m->name, sizeof m->name, "%s", PQgetvalue(r, i, 3));
    }
    PQclear(r);
    if (p->m)
        return 0;
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    return -1;
}

/* Read publication pub: whether it exists, its comment, operations and tables. */
static int read_publication(PGconn *c, const char *pub, pubstate_t *p, w2k_err_t *err)
{
    const char *params[1] = {pub};
    memset(p, 0, sizeof *p);
    PGresult *r = w2k_pg_query(
        c, err, "looking up the publication",
        "SELECT coalesce(obj_description(p.oid, 'pg_publication'), ''), p.pubinsert, "
        "p.pubupdate, p.pubdelete, coalesce((to_jsonb(p) ->> 'pubtruncate')::bool, true) "
        "FROM pg_publication p WHERE p.pubname = $1",
        1, params);
    if (!r)
        return -1;
    p->exists = PQntuples(r) == 1;
    if (p->exists) {
        p->comment = strdup(PQgetvalue(r, 0, 0));
        for (int i = 0; i < 4; i++)
            if (PQgetvalue(r, 0, 1 + i)[0] == 't')
                p->ops |= 1u << i; /* the bits of W2K_OP_* in this order */
    }
    PQclear(r);
    if (!p->exists)
        return 0;
    if (!p->comment) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    size_t taglen = strcspn(p->comment, " ");
    snprintf(p->tag, sizeof p->tag, "%.*s", (int)taglen, p->comment);
    p->members = p->comment[taglen] ? p->comment + taglen + 1 : NULL;
    return read_members(c, pub, p, err);
}

/* The membership OID a tag's member list ("relid:member,...") gives table relid, or 0. */
static uint32_t tagged_member(const char *list, uint32_t relid)
{
    for (const char *q = list; q && *q;) {
        char *end;
        unsigned long rel = strtoul(q, &end, 10);
        if (*end != ':')
            return 0;
        unsigned long member = strtoul(end + 1, &end, 10);
        if (rel == relid)
            return (uint32_t)member;
        q = *end == ',' ? end + 1 : NULL;
    }
    return 0;
}

/* The member list of p as a tag carries it. */
static void put_members(w2k_buf_t *b, const pubstate_t *p)
{
    for (int i = 0; i < p->n; i++)
        w2k_buf_printf(b, "%s%u:%u", i ? "," : "", p->m[i].relid, p->m[i].member);
}

static const member_t *find_member(const pubstate_t *p, const char *schema, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->m[i].schema, schema) == 0 && strcmp(p->m[i].name, name) == 0)
            return &p->m[i];
    return NULL;
}

int w2k_catalog_ensure_publication(PGconn *c, const char *config_path,
                                   const w2k_stream_cfg_t *cfg_st, bool resuming, w2k_err_t *err)
{
    unsigned ops = 0;
    /* The tables that exist: all of them on a first start; a stream that has run before
     * goes on without tables dropped since (their end was announced). */
    w2k_stream_cfg_t present = *cfg_st, *st = &present;
    w2k_table_cfg_t *tables = calloc((size_t)cfg_st->ntables + 1, sizeof *tables);
    uint32_t *relids = calloc((size_t)cfg_st->ntables + 1, sizeof *relids);
    bool *reread = calloc((size_t)cfg_st->ntables + 1, sizeof *reread);
    present.tables = tables;
    present.ntables = 0;
    pubstate_t pub;
    memset(&pub, 0, sizeof pub);
    w2k_buf_t def = W2K_BUF_INIT, sql = W2K_BUF_INIT, publish = W2K_BUF_INIT, why = W2K_BUF_INIT;
    int rc = -1;
    if (!tables || !relids || !reread) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int i = 0; i < cfg_st->ntables; i++) {
        const w2k_table_cfg_t *t = &cfg_st->tables[i];
        const char *params[2] = {t->schema, t->name};
        PGresult *r = w2k_pg_query(c, err, "looking up a table",
                                   "SELECT c.relkind, c.oid FROM pg_class c JOIN pg_namespace n ON "
                                   "n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                                   2, params);
        if (!r)
            goto out;
        int found = PQntuples(r) == 1;
        char kind = found ? PQgetvalue(r, 0, 0)[0] : 0;
        uint32_t relid = found ? (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10) : 0;
        PQclear(r);
        if (!found && resuming) {
            w2k_warn("%s:%d: table %s.%s of stream %s no longer exists (dropped?); streaming the "
                     "other tables — remove it from the configuration",
                     config_path, t->line, t->schema, t->name, st->name);
            continue;
        }
        if (!found || (kind != 'r' && kind != 'p')) {
            w2k_err_set(err, W2K_EXIT_POSTGRES, "%s:%d: table %s.%s of stream \"%s\" %s",
                        config_path, t->line, t->schema, t->name, st->name,
                        found ? "is not a table" : "does not exist");
            w2k_err_hint(err, "create it, fix the name, or remove it from the stream (names are "
                              "folded to lower case unless written in double quotes)");
            goto out;
        }
        relids[present.ntables] = relid;
        tables[present.ntables++] = *t;
        ops |= t->ops;
    }
    if (present.ntables == 0) {
        w2k_warn("stream %s: none of its tables exists any more; publication %s is left as it "
                 "is",
                 st->name, st->publication);
        rc = 0;
        goto out;
    }

    w2k_buf_puts(&def, "FOR TABLE ");
    for (int i = 0; i < st->ntables; i++) {
        if (i)
            w2k_buf_puts(&def, ", ");
        put_table_clause(&def, c, &st->tables[i]);
    }
    put_publish(&publish, ops);
    char tag[64];
    uint64_t h = fnv1a(def.data, def.len) ^ fnv1a(publish.data, publish.len);
    snprintf(tag, sizeof tag, "wal2kafka:%016" PRIx64, h);

    if (read_publication(c, st->publication, &pub, err) != 0)
        goto out;
    int exists = pub.exists;
    bool our_definition = exists && strcmp(pub.tag, tag) == 0;
    /* The memberships a tag names are the ones wal2kafka set; one that changed since
     * was changed by someone else, and while it was, PostgreSQL did not send the
     * table's changes (pgoutput looks the publication up as of each change): they can
     * only be read again from the table. */
    int nreread = 0;
    bool ops_lost = resuming && our_definition && (ops & ~pub.ops);
    if (ops_lost) {
        w2k_buf_puts(&why, "it stopped publishing some operations (");
        put_publish(&why, pub.ops);
        w2k_buf_puts(&why, ")");
    }
    for (int i = 0; resuming && exists && i < st->ntables; i++) {
        const w2k_table_cfg_t *t = &st->tables[i];
        const member_t *m = find_member(&pub, t->schema, t->name);
        uint32_t was = pub.members ? tagged_member(pub.members, relids[i]) : 0;
        const char *what = NULL;
        if (!m && (was || (our_definition && !pub.members)))
            what = "was removed from it";
        else if (m && was && m->member != was)
            what = "was removed and added again, or got another row filter or column list";
        if (what)
            w2k_buf_printf(&why, "%stable %s.%s %s", why.len ? "; " : "", t->schema, t->name, what);
        if (what || ops_lost) {
            reread[i] = true;
            nreread++;
        }
    }
    /* Our definition with the tables it names, and nothing else: as it should be when
     * the memberships are the tagged ones. A tag without them (written by an older
     * wal2kafka, or by an administrator running the statement of our hint) gets them. */
    bool complete = our_definition && pub.ops == ops && pub.n == st->ntables;
    for (int i = 0; complete && i < st->ntables; i++)
        complete = find_member(&pub, st->tables[i].schema, st->tables[i].name) != NULL;
    w2k_buf_t now = W2K_BUF_INIT;
    put_members(&now, &pub);
    char *qpub = PQescapeIdentifier(c, st->publication, strlen(st->publication));
    if (complete && !pub.members) {
        w2k_buf_printf(&sql, "COMMENT ON PUBLICATION %s IS '%s %s'", qpub, tag,
                       now.len ? now.data : "");
        PQclear(PQexec(c, sql.data)); /* only its owner may: then it stays as it is */
    }
    bool same = complete && (!pub.members || strcmp(pub.members, now.len ? now.data : "") == 0);
    w2k_buf_free(&now);
    w2k_buf_reset(&sql);
    if (same) {
        PQfreemem(qpub);
        rc = 0;
        goto out;
    }
    if (exists)
        w2k_buf_printf(&sql, "ALTER PUBLICATION %s SET %s; ALTER PUBLICATION %s SET (%s);", qpub,
                       def.data + strlen("FOR "), qpub, publish.data);
    else
        w2k_buf_printf(&sql, "CREATE PUBLICATION %s %s WITH (%s);", qpub, def.data, publish.data);
    if (exec_ok(c, "BEGIN", err, "starting a transaction") != 0) {
        PQfreemem(qpub);
        goto out;
    }
    char what[256];
    snprintf(what, sizeof what, "cannot %s publication \"%s\" of stream \"%s\"",
             exists ? "update" : "create", st->publication, st->name);
    PGresult *r = PQexec(c, sql.data);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        bool denied = state && strcmp(state, "42501") == 0;
        w2k_pg_set_error(err, c, r, what);
        PQclear(r);
        PQclear(PQexec(c, "ROLLBACK"));
        /* for an administrator to run: with the tag, so wal2kafka takes it for its own */
        w2k_buf_printf(&sql, " COMMENT ON PUBLICATION %s IS '%s';", qpub, tag);
        PQfreemem(qpub);
        if (denied && exists && !nreread && publication_has_tables(c, st)) {
            /* Set up by an administrator: use it as it is. */
            w2k_warn("stream %s: publication %s was created by someone else and this role may "
                     "not alter it; it holds the configured tables, so it is used as it is "
                     "(row filters, column lists and operations are the administrator's)",
                     st->name, st->publication);
            w2k_err_clear(err);
            rc = 0;
            goto out;
        }
        if (denied && nreread)
            w2k_err_hint(err,
                         "publication %s was changed by someone else (%s): PostgreSQL did not "
                         "send those tables' changes meanwhile. Have the tables' owner run the "
                         "statement below, then re-read each table with wal2kafka snapshot "
                         "--config %s --table SCHEMA.TABLE:\n%s",
                         st->publication, why.data, config_path, sql.data);
        else if (denied)
            w2k_err_hint(err,
                         "creating or altering a publication needs ownership of its tables: "
                         "have the table owner run the statement below once, then wal2kafka "
                         "uses the publication as it finds it:\n%s",
                         sql.data);
        w2k_err_t blamed = *err;
        if (!denied && blame_table(c, config_path, st, &blamed))
            *err = blamed;
        goto out;
    }
    PQclear(r);
    /* The tag: the definition's hash and the memberships it made. With them, the
     * re-read requests for what was lost: in the same transaction, so the stream meets
     * them in the WAL right where the tables are published again, and meets them again
     * after any restart until the re-read is done (it confirms nothing past them). */
    w2k_buf_t comment = W2K_BUF_INIT;
    w2k_buf_printf(&comment, "COMMENT ON PUBLICATION %s IS '%s ", qpub, tag);
    PQfreemem(qpub);
    int mrc = read_members(c, st->publication, &pub, err);
    put_members(&comment, &pub);
    w2k_buf_puts(&comment, "'");
    if (mrc != 0 || exec_ok(c, comment.data, err, what) != 0) {
        w2k_buf_free(&comment);
        PQclear(PQexec(c, "ROLLBACK"));
        goto out;
    }
    w2k_buf_free(&comment);
    for (int i = 0; i < st->ntables; i++) {
        if (!reread[i])
            continue;
        char content[400];
        snprintf(content, sizeof content, "%s\x1f%s\x1f%s\x1f" W2K_SNAPSHOT_REPAIR, st->name,
                 st->tables[i].schema, st->tables[i].name);
        const char *p[2] = {W2K_SNAPSHOT_REQUEST_PREFIX, content};
        PGresult *m = w2k_pg_query(c, err, "cannot request a re-read of a table",
                                   "SELECT pg_logical_emit_message(true, $1, $2)", 2, p);
        if (!m) {
            PQclear(PQexec(c, "ROLLBACK"));
            goto out;
        }
        PQclear(m);
    }
    if (exec_ok(c, "COMMIT", err, what) != 0)
        goto out;
    if (nreread)
        w2k_warn("stream %s: publication %s was changed by someone else: %s. PostgreSQL did not "
                 "send those tables' changes while it was, and cannot send them again: restored "
                 "the publication, and the tables are read again while streaming goes on (each "
                 "row once, as an 'r' event with its current values; changes in between are not "
                 "in the topics one by one, and a row deleted in between stays there until it "
                 "is deleted again)",
                 st->name, st->publication, why.data);
    w2k_info("%s publication %s for stream %s: %d table(s), %s", exists ? "updated" : "created",
             st->publication, st->name, st->ntables, publish.data);
    rc = 0;
out:
    pubstate_free(&pub);
    w2k_buf_free(&def);
    w2k_buf_free(&sql);
    w2k_buf_free(&publish);
    w2k_buf_free(&why);
    free(tables);
    free(relids);
    free(reread);
    return rc;
}

int w2k_catalog_publication_signature(PGconn *c, const char *pub, int timeout_ms, char **out,
                                      w2k_err_t *err)
{
    const char *params[1] = {pub};
    *out = NULL;
    PGresult *r = w2k_pg_query_within(
        c, timeout_ms, err, "checking the publication",
        "SELECT concat_ws(' ', p.pubinsert, p.pubupdate, p.pubdelete, to_jsonb(p) -> "
        "'pubtruncate', (SELECT string_agg(pr.prrelid || ':' || pr.oid, ',' ORDER BY "
        "pr.prrelid) FROM pg_publication_rel pr WHERE pr.prpubid = p.oid)) "
        "FROM pg_publication p WHERE p.pubname = $1",
        1, params);
    if (!r)
        return -1;
    if (PQntuples(r) == 1 && !(*out = strdup(PQgetvalue(r, 0, 0)))) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    PQclear(r);
    return 0;
}

int w2k_catalog_slot(PGconn *c, const char *slot, w2k_slot_info_t *out, w2k_err_t *err)
{
    const char *params[1] = {slot};
    memset(out, 0, sizeof *out);
    PGresult *r =
        w2k_pg_query(c, err, "looking up the replication slot",
                     "SELECT coalesce(plugin, ''), coalesce(database, ''), active, "
                     "coalesce(active_pid, 0), coalesce(confirmed_flush_lsn::text, '0/0'), "
                     "coalesce(restart_lsn::text, '0/0'), coalesce(wal_status, ''), slot_type "
                     "FROM pg_replication_slots WHERE slot_name = $1",
                     1, params);
    if (!r)
        return -1;
    if (PQntuples(r) == 1) {
        out->exists = true;
        snprintf(out->plugin, sizeof out->plugin, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->database, sizeof out->database, "%s", PQgetvalue(r, 0, 1));
        out->active = PQgetvalue(r, 0, 2)[0] == 't';
        out->active_pid = atoi(PQgetvalue(r, 0, 3));
        w2k_lsn_parse(PQgetvalue(r, 0, 4), &out->confirmed_flush);
        w2k_lsn_parse(PQgetvalue(r, 0, 5), &out->restart_lsn);
        snprintf(out->wal_status, sizeof out->wal_status, "%s", PQgetvalue(r, 0, 6));
        if (strcmp(PQgetvalue(r, 0, 7), "logical") != 0)
            snprintf(out->plugin, sizeof out->plugin, "(physical slot)");
    }
    PQclear(r);
    return 0;
}

int w2k_catalog_slot_usable(const w2k_slot_info_t *info, const char *slot, const char *dbname,
                            w2k_err_t *err)
{
    if (strcmp(info->plugin, "pgoutput") != 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "replication slot \"%s\" exists but uses %s, not pgoutput", slot, info->plugin);
        w2k_err_hint(err,
                     "give this stream another slot name in the config, or drop that slot "
                     "if nothing needs it: SELECT pg_drop_replication_slot('%s');",
                     slot);
        return -1;
    }
    if (strcmp(info->database, dbname) != 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "replication slot \"%s\" belongs to database \"%s\", not \"%s\"", slot,
                    info->database, dbname);
        w2k_err_hint(err, "connect to database %s, or give this stream another slot name",
                     info->database);
        return -1;
    }
    if (strcmp(info->wal_status, "lost") == 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "replication slot \"%s\" was invalidated: PostgreSQL removed WAL it still "
                    "needed, so changes since it last confirmed are gone",
                    slot);
        w2k_err_hint(err, "drop it (wal2kafka slot drop --config FILE) and start again; raise "
                          "max_slot_wal_keep_size so this does not recur");
        return -1;
    }
    if (info->active) {
        w2k_err_set(err, W2K_EXIT_POSTGRES, "replication slot \"%s\" is active for PID %d", slot,
                    info->active_pid);
        w2k_err_hint(err, "another wal2kafka (or a subscriber) is using this slot; stop it, or "
                          "give this stream its own slot name in the config");
        err->retryable = true;
        return -1;
    }
    return 0;
}

int w2k_catalog_create_slot(PGconn *repl, const char *slot, w2k_lsn_t *consistent_point,
                            char *snapshot_name, w2k_err_t *err)
{
    char sql[256];
    char *q = PQescapeIdentifier(repl, slot, strlen(slot));
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput %s", q,
             snapshot_name ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    PQfreemem(q);
    char what[128];
    snprintf(what, sizeof what, "cannot create replication slot \"%s\"", slot);
    PGresult *r = w2k_pg_query(repl, err, what, sql, 0, NULL);
    if (!r)
        return -1;
    w2k_lsn_parse(PQgetvalue(r, 0, 1), consistent_point);
    if (snapshot_name)
        snprintf(snapshot_name, 64, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    return 0;
}

int w2k_catalog_drop_slot(PGconn *c, const char *slot, w2k_err_t *err)
{
    const char *p[1] = {slot};
    char what[128];
    snprintf(what, sizeof what, "cannot drop replication slot \"%s\"", slot);
    PGresult *r = w2k_pg_query(c, err, what, "SELECT pg_drop_replication_slot($1)", 1, p);
    PQclear(r);
    return r ? 0 : -1;
}

int w2k_catalog_resolve_type(PGconn *c, uint32_t oid, int32_t typmod, w2k_typeinfo_t *out,
                             w2k_err_t *err)
{
    char oidbuf[16], modbuf[16];
    memset(out, 0, sizeof *out);
    snprintf(oidbuf, sizeof oidbuf, "%u", oid);
    snprintf(modbuf, sizeof modbuf, "%d", typmod);
    const char *p0[2] = {oidbuf, modbuf};
    PGresult *r = w2k_pg_query(c, err, "looking up a column type",
                               "SELECT format_type($1::oid, $2::int)", 2, p0);
    if (!r)
        return -1;
    snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);

    int is_array = 0;
    uint32_t orig_elem = 0;
    for (int depth = 0; depth < 32; depth++) {
        snprintf(oidbuf, sizeof oidbuf, "%u", oid);
        const char *p1[1] = {oidbuf};
        r = w2k_pg_query(c, err, "looking up a column type",
                         "SELECT typtype, typbasetype, typtypmod, typelem, typcategory, typlen "
                         "FROM pg_type WHERE oid = $1",
                         1, p1);
        if (!r)
            return -1;
        if (PQntuples(r) != 1) {
            PQclear(r);
            w2k_err_set(err, W2K_EXIT_POSTGRES, "type %u (%s) no longer exists", oid, out->name);
            return -1;
        }
        char typtype = PQgetvalue(r, 0, 0)[0];
        uint32_t base = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
        int32_t basemod = atoi(PQgetvalue(r, 0, 2));
        uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, 0, 3), NULL, 10);
        char category = PQgetvalue(r, 0, 4)[0];
        int typlen = atoi(PQgetvalue(r, 0, 5));
        PQclear(r);
        if (typtype == 'd') {
            if (typmod < 0)
                typmod = basemod;
            oid = base;
            continue;
        }
        if (typtype == 'e')
            oid = 25; /* enums travel as their label */
        if (!is_array && category == 'A' && elem != 0 && typlen == -1) {
            out->oid = oid;
            is_array = 1;
            oid = orig_elem = elem;
            continue;
        }
        if (is_array) {
            /* a built-in array of built-in elements needs no elem_oid */
            if (out->oid >= 16384 || oid != orig_elem)
                out->elem_oid = oid;
        } else {
            out->oid = oid;
        }
        out->typmod = typmod;
        return 0;
    }
    w2k_err_set(err, W2K_EXIT_POSTGRES, "type %s nests domains too deeply", out->name);
    return -1;
}

/* The columns of relid's primary key (replident = false) or replica identity index
 * (true), in index order. */
static int index_columns(PGconn *c, uint32_t relid, bool replident, char names[][64], int max,
                         int *n, w2k_err_t *err)
{
    char oidbuf[16];
    snprintf(oidbuf, sizeof oidbuf, "%u", relid);
    const char *p[2] = {oidbuf, replident ? "true" : "false"};
    PGresult *r = w2k_pg_query(
        c, err, "looking up a table's key",
        "SELECT a.attname FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = $1 AND (CASE WHEN $2::bool THEN i.indisreplident ELSE i.indisprimary "
        "END) ORDER BY k.ord",
        2, p);
    if (!r)
        return -1;
    *n = 0;
    for (int i = 0; i < PQntuples(r) && i < max; i++)
        snprintf(names[(*n)++], 64, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
}

int w2k_catalog_primary_key(PGconn *c, uint32_t relid, char names[][64], int max, int *n,
                            w2k_err_t *err)
{
    return index_columns(c, relid, false, names, max, n, err);
}

/* Mark the columns named in names (n of them) as the key, in column order (the same
 * order pgoutput's flags give, so snapshot and stream produce the same key schema);
 * when one is missing (a column list left part of the key out) there is no key. */
static void set_key(w2k_relation_t *rel, char names[][64], int n)
{
    rel->nkeys = 0;
    for (int i = 0; i < rel->ncols; i++)
        for (int k = 0; k < n; k++)
            if (strcmp(rel->cols[i].name, names[k]) == 0) {
                rel->cols[i].key_pos = rel->nkeys;
                rel->keycols[rel->nkeys++] = i;
            }
    if (rel->nkeys != n) {
        for (int i = 0; i < rel->ncols; i++)
            rel->cols[i].key_pos = -1;
        rel->nkeys = 0;
    }
}

int w2k_catalog_describe(PGconn *c, w2k_relation_t *rel, const uint8_t *keyflags, w2k_err_t *err)
{
    for (int i = 0; i < rel->ncols; i++) {
        w2k_column_t *col = &rel->cols[i];
        w2k_typeinfo_t ti;
        if (w2k_catalog_resolve_type(c, col->type_oid, col->typmod, &ti, err) != 0) {
            if (!err->retryable && PQstatus(c) == CONNECTION_OK) {
                /* The type is gone (dropped since): fall back to its text form. */
                w2k_warn("table %s.%s column %s: %s; sending its text form", rel->schema, rel->name,
                         col->name, err->msg);
                memset(&ti, 0, sizeof ti);
                ti.oid = col->type_oid;
                ti.typmod = col->typmod;
                snprintf(ti.name, sizeof ti.name, "oid %u", col->type_oid);
                w2k_err_clear(err);
            } else {
                return -1;
            }
        }
        snprintf(col->type_name, sizeof col->type_name, "%s", ti.name);
        w2k_coltype_from_pg(&col->type, ti.oid, ti.typmod, ti.elem_oid);
        col->key_pos = -1;
    }
    w2k_relation_name_fields(rel);

    /* pgoutput flags the replica identity columns, exactly as they were when the change
     * was written: the key for the default identity (the primary key) and an identity
     * index. With FULL every column is flagged, so the key comes from the catalog. */
    rel->nkeys = 0;
    if (keyflags && (rel->replident == 'd' || rel->replident == 'i')) {
        for (int i = 0; i < rel->ncols; i++)
            if (keyflags[i] & 1) {
                rel->cols[i].key_pos = rel->nkeys;
                rel->keycols[rel->nkeys++] = i;
            }
        return 0;
    }
    char names[32][64]; /* INDEX_MAX_KEYS */
    int n = 0;
    if (index_columns(c, rel->relid, rel->replident == 'i', names, 32, &n, err) != 0)
        return -1;
    set_key(rel, names, n);
    return 0;
}

w2k_relation_t *w2k_catalog_table(PGconn *c, const char *pub, const char *schema, const char *name,
                                  char **rowfilter, w2k_err_t *err)
{
    const char *p[3] = {pub, schema, name};
    *rowfilter = NULL;
    PGresult *r = w2k_pg_query(
        c, err, "looking up a published table",
        "SELECT c.oid, c.relreplident, pt.attnames::text, pt.rowfilter FROM pg_publication_tables "
        "pt JOIN pg_namespace n ON n.nspname = pt.schemaname JOIN pg_class c ON c.relnamespace "
        "= n.oid AND c.relname = pt.tablename WHERE pt.pubname = $1 AND pt.schemaname = $2 AND "
        "pt.tablename = $3",
        3, p);
    if (!r)
        return NULL;
    if (PQntuples(r) != 1) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_POSTGRES, "table %s.%s is not in publication %s", schema, name,
                    pub);
        return NULL;
    }
    char relid[16], replident = PQgetvalue(r, 0, 1)[0];
    snprintf(relid, sizeof relid, "%s", PQgetvalue(r, 0, 0));
    char *attnames = strdup(PQgetvalue(r, 0, 2));
    if (!PQgetisnull(r, 0, 3))
        *rowfilter = strdup(PQgetvalue(r, 0, 3));
    PQclear(r);

    const char *q[2] = {relid, attnames};
    r = w2k_pg_query(c, err, "listing a table's columns",
                     "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE attrelid = $1 "
                     "AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND attname = "
                     "ANY($2::name[]) ORDER BY attnum",
                     2, q);
    free(attnames);
    if (!r)
        goto fail;
    w2k_relation_t *rel = w2k_relation_new(PQntuples(r));
    if (!rel) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto fail;
    }
    rel->relid = (uint32_t)strtoul(relid, NULL, 10);
    snprintf(rel->schema, sizeof rel->schema, "%s", schema);
    snprintf(rel->name, sizeof rel->name, "%s", name);
    rel->replident = replident;
    for (int i = 0; i < rel->ncols; i++) {
        snprintf(rel->cols[i].name, sizeof rel->cols[i].name, "%s", PQgetvalue(r, i, 0));
        rel->cols[i].type_oid = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
        rel->cols[i].typmod = atoi(PQgetvalue(r, i, 2));
    }
    PQclear(r);
    if (w2k_catalog_describe(c, rel, NULL, err) != 0) {
        w2k_relation_free(rel);
        goto fail;
    }
    return rel;
fail:
    free(*rowfilter);
    *rowfilter = NULL;
    return NULL;
}

int w2k_catalog_publication_tables(PGconn *c, const char *pub, w2k_pubtable_t **out, int *n,
                                   w2k_err_t *err)
{
    const char *p[1] = {pub};
    *out = NULL;
    *n = 0;
    PGresult *r = w2k_pg_query(c, err, "listing the publication's tables",
                               "SELECT (quote_ident(schemaname) || '.' || "
                               "quote_ident(tablename))::regclass::oid, schemaname, tablename "
                               "FROM pg_publication_tables WHERE pubname = $1",
                               1, p);
    if (!r)
        return -1;
    *out = calloc((size_t)PQntuples(r) + 1, sizeof **out);
    for (int i = 0; *out && i < PQntuples(r); i++) {
        w2k_pubtable_t *t = &(*out)[(*n)++];
        t->relid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        snprintf(t->schema, sizeof t->schema, "%s", PQgetvalue(r, i, 1));
        snprintf(t->name, sizeof t->name, "%s", PQgetvalue(r, i, 2));
    }
    PQclear(r);
    return 0;
}
