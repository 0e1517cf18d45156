/* catalog.c — server checks, publication and slot upkeep, type and key lookups. */
#include "catalog.h"
#include "buf.h"
#include "log.h"
#include "names.h"
#include "pgconn.h"
#include "pubplan.h"
#include "resnap.h"
#include "signals.h"

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

const char w2k_catalog_all_tables_sql[] =
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname NOT IN ('pg_catalog', "
    "'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2";

void w2k_catalog_put_qualified(w2k_buf_t *b, PGconn *c, const char *schema, const char *name)
{
    char *qs = PQescapeIdentifier(c, schema, strlen(schema));
    char *qn = PQescapeIdentifier(c, name, strlen(name));
    w2k_buf_printf(b, "%s.%s", qs, qn);
    PQfreemem(qs);
    PQfreemem(qn);
}

int w2k_catalog_put_from(w2k_buf_t *b, PGconn *c, const char *schema, const char *name,
                         w2k_err_t *err)
{
    const char *params[2] = {schema, name};
    PGresult *r = w2k_pg_query(c, err, "looking up a table's kind",
                               "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = "
                               "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                               2, params);
    if (!r)
        return -1;
    bool parted = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 'p';
    PQclear(r);
    if (!parted)
        w2k_buf_puts(b, "ONLY ");
    w2k_catalog_put_qualified(b, c, schema, name);
    return 0;
}

/* The FOR TABLE clause entry of one table: name, column list, row filter. */
static void put_table_clause(w2k_buf_t *b, PGconn *c, const w2k_table_cfg_t *t)
{
    w2k_catalog_put_qualified(b, c, t->schema, t->name);
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

#define ROW_OPS (W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE)

static int exec_ok(PGconn *c, const char *sql, w2k_err_t *err, const char *what)
{
    PGresult *r = w2k_pg_query(c, err, what, sql, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

void w2k_catalog_pubset(const w2k_stream_cfg_t *sc, bool pushdown, w2k_pubset_t *out)
{
    memset(out, 0, sizeof *out);
    out->n = 1;
    snprintf(out->pub[0].name, sizeof out->pub[0].name, "%s", sc->publication);
    if (!pushdown || sc->ntables == 0) {
        out->pub[0].ops = ROW_OPS;
        out->pub[0].publish = W2K_OP_ALL;
        w2k_pubplan_names(out);
        return;
    }
    out->pub[0].ops = sc->tables[0].ops & ROW_OPS;
    for (int i = 0; i < sc->ntables; i++) {
        unsigned ops = sc->tables[i].ops;
        int g = 0;
        while (g < out->n && out->pub[g].ops != (ops & ROW_OPS))
            g++;
        if (g == out->n) {
            /* at most 8 sets of insert/update/delete, so there is room */
            w2k_pubplan_group_name(sc->publication, ops & ROW_OPS, out->pub[g].name);
            out->pub[g].ops = ops & ROW_OPS;
            out->n++;
        }
        out->pub[g].publish |= ops;
    }
    w2k_pubplan_names(out);
}

/* Probe table t's clause in CREATE PUBLICATION, rolled back. Returns 0 when PostgreSQL
 * takes it, 1 with err when it refuses it, -1 with err when it cannot tell. */
int w2k_catalog_probe_table(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                            const w2k_table_cfg_t *t, w2k_err_t *err)
{
    w2k_buf_t sql = W2K_BUF_INIT;
    w2k_buf_puts(&sql, "CREATE PUBLICATION wal2kafka_probe FOR TABLE ");
    put_table_clause(&sql, c, t);
    PGresult *r = PQexec(c, "BEGIN");
    bool began = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    int rc = -1;
    if (!began) {
        w2k_pg_set_error(err, c, NULL, "cannot test a table's publication clause");
        goto out;
    }
    r = PQexec(c, sql.data);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        rc = 0;
    } else {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        /* no privilege, or a publication of that name: no verdict on the clause */
        bool unknown = !state || strcmp(state, "42501") == 0 || strcmp(state, "42710") == 0 ||
                       strncmp(state, "08", 2) == 0;
        char what[512];
        snprintf(what, sizeof what, "%s:%d: stream \"%s\", table %s.%s is refused by PostgreSQL",
                 config_path, t->line, st->name, t->schema, t->name);
        w2k_pg_set_error(err, c, r, unknown ? "cannot test a table's publication clause" : what);
        if (!unknown && !err->hint[0])
            w2k_err_hint(err,
                         "fix the table's filter or columns at %s:%d (the row filter "
                         "may use only columns of the table and immutable functions)",
                         config_path, t->line);
        rc = unknown ? -1 : 1;
    }
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
out:
    w2k_buf_free(&sql);
    return rc;
}

/* wal2kafka tags its publications with a comment (see catalog.h for the forms it
 * reads). Only digits, hex, ':' and ',' follow the hash up to " for ": the first
 * " for " is the owner's. */
#define TAG         W2K_PUBTAG
#define PENDING_TAG W2K_PUBTAG_PENDING

/* Whether the n bytes at s are 1-10 decimal digits (an OID) or 16 hex digits (a key):
 * returns 'o', 'k', or 0 for neither. */
static int field_kind(const char *s, size_t n)
{
    size_t digits = 0, hex = 0;
    for (size_t i = 0; i < n; i++) {
        digits += s[i] >= '0' && s[i] <= '9';
        hex += (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
    }
    if (n == 16 && hex == n)
        return 'k';
    return n >= 1 && n <= 10 && digits == n ? 'o' : 0;
}

/* One note, the n bytes at s: "<oid>:<membership>:<key>", or the older "<oid>:<key>"
 * and "<oid>:<membership>". Returns false when it is none of them. */
static bool parse_note(const char *s, size_t n, w2k_pubnote_t *out)
{
    const char *end = s + n;
    memset(out, 0, sizeof *out);
    for (int field = 0; field < 3; field++) {
        const char *colon = memchr(s, ':', (size_t)(end - s));
        int kind = field_kind(s, colon ? (size_t)(colon - s) : (size_t)(end - s));
        unsigned long long v = kind ? strtoull(s, NULL, kind == 'k' ? 16 : 10) : 0;
        if (kind == 'o' && field == 0 && v && v <= UINT32_MAX) {
            out->relid = (uint32_t)v;
        } else if (kind == 'o' && field == 1 && v <= UINT32_MAX) {
            out->member = (uint32_t)v;
        } else if (kind == 'k' && field > 0 && !out->has_key) {
            out->key = v;
            out->has_key = true;
        } else {
            return false;
        }
        if (!colon)
            return true;
        s = colon + 1;
    }
    return false; /* a fourth field */
}

bool w2k_catalog_tag_note(const w2k_pubtag_t *t, size_t *pos, w2k_pubnote_t *note)
{
    const char *p = t->notes + *pos, *end = t->notes + t->notes_len;
    while (p < end) {
        while (p < end && (*p == ' ' || *p == ','))
            p++;
        const char *tok = p;
        while (p < end && *p != ' ' && *p != ',')
            p++;
        if (p > tok && parse_note(tok, (size_t)(p - tok), note)) {
            *pos = (size_t)(p - t->notes);
            return true;
        }
    }
    *pos = t->notes_len;
    return false;
}

void w2k_catalog_parse_tag(const char *comment, w2k_pubtag_t *t)
{
    memset(t, 0, sizeof *t);
    t->pending_lsn = UINT64_MAX;
    t->notes = "";
    if (strncmp(comment, TAG, strlen(TAG)) != 0)
        return;
    const char *owner = strstr(comment, " for ");
    t->owner = owner ? owner + 5 : "";
    if (strncmp(comment, PENDING_TAG, strlen(PENDING_TAG)) == 0) {
        char tok[32];
        w2k_lsn_t lsn;
        t->pending = true;
        snprintf(tok, sizeof tok, "%s", comment + strlen(PENDING_TAG));
        tok[strcspn(tok, " ")] = '\0';
        if (w2k_lsn_parse(tok, &lsn) == 0)
            t->pending_lsn = lsn;
        return;
    }
    const char *hash = comment + strlen(TAG);
    if (field_kind(hash, strspn(hash, "0123456789abcdef")) != 'k' ||
        (hash[16] != ' ' && hash[16] != '\0'))
        return;
    memcpy(t->hash, hash, 16);
    t->notes = hash + 16;
    t->notes_len = owner && owner >= t->notes ? (size_t)(owner - t->notes) : strlen(t->notes);
    w2k_pubnote_t n;
    for (size_t pos = 0; !t->members && w2k_catalog_tag_note(t, &pos, &n);)
        t->members = n.member != 0;
}

/* Whether publication name (comment its comment) is one of the stream's whose
 * publications ps computes (w2k_pubplan_of_stream). */
static bool of_stream(const w2k_pubset_t *ps, const char *name, const char *comment)
{
    w2k_pubtag_t t;
    w2k_catalog_parse_tag(comment, &t);
    return w2k_pubplan_of_stream(ps, name, &t);
}

/* Every publication: its name and comment ("" for none), for of_stream. Returns NULL
 * with err. */
static PGresult *all_publications(PGconn *c, w2k_err_t *err)
{
    return w2k_pg_query(c, err, "listing the publications",
                        "SELECT pubname, coalesce(obj_description(oid, 'pg_publication'), '') "
                        "FROM pg_publication ORDER BY pubname",
                        0, NULL);
}

static bool is_partitioned(PGconn *c, const char *schema, const char *name);

static void state_free(w2k_pubstate_t *p)
{
    free(p->comment);
    free(p->notes);
    free(p->m);
    memset(p, 0, sizeof *p);
}

/* The tables and membership OIDs of publication pub into p->m. Returns 0, or -1. */
static int read_members(PGconn *c, const char *pub, w2k_pubstate_t *p, w2k_err_t *err)
{
    const char *params[1] = {pub};
    PGresult *r = w2k_pg_query(c, err, "listing the publication's tables",
                               "SELECT pr.prrelid, pr.oid FROM pg_publication_rel pr "
                               "JOIN pg_publication p ON p.oid = pr.prpubid "
                               "WHERE p.pubname = $1 ORDER BY pr.prrelid",
                               1, params);
    if (!r)
        return -1;
    free(p->m);
    p->n = 0;
    p->m = calloc((size_t)PQntuples(r) + 1, sizeof *p->m);
    for (int i = 0; p->m && i < PQntuples(r); i++) {
        p->m[p->n].relid = (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10);
        p->m[p->n++].member = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    if (p->m)
        return 0;
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    return -1;
}

/* The notes of p's tag into p->notes. Returns 0, or -1 when out of memory. */
static int read_notes(w2k_pubstate_t *p)
{
    w2k_pubnote_t note;
    int n = 0;
    for (size_t pos = 0; w2k_catalog_tag_note(&p->tag, &pos, &note);)
        n++;
    p->notes = calloc((size_t)n + 1, sizeof *p->notes);
    if (!p->notes)
        return -1;
    for (size_t pos = 0; p->nnotes < n && w2k_catalog_tag_note(&p->tag, &pos, &note);)
        p->notes[p->nnotes++] = note;
    return 0;
}

/* Read publication pub into p (reset first): whether it exists, its comment (parsed),
 * operations and tables. Returns 0, or -1 with err. */
static int read_publication(PGconn *c, const char *pub, w2k_pubstate_t *p, w2k_err_t *err)
{
    const char *params[1] = {pub};
    state_free(p);
    PGresult *r = w2k_pg_query(
        c, err, "looking up the publication",
        "SELECT coalesce(obj_description(p.oid, 'pg_publication'), ''), p.pubinsert, "
        "p.pubupdate, p.pubdelete, coalesce((to_jsonb(p) ->> 'pubtruncate')::bool, false) "
        "FROM pg_publication p WHERE p.pubname = $1",
        1, params);
    if (!r)
        return -1;
    p->exists = PQntuples(r) == 1;
    p->comment = strdup(p->exists ? PQgetvalue(r, 0, 0) : "");
    for (int i = 0; p->exists && i < 4; i++)
        if (PQgetvalue(r, 0, 1 + i)[0] == 't')
            p->ops |= 1u << i; /* the bits of W2K_OP_* in this order */
    PQclear(r);
    if (p->comment)
        w2k_catalog_parse_tag(p->comment, &p->tag);
    if (!p->comment || read_notes(p) != 0) {
        state_free(p);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    if (p->exists && read_members(c, pub, p, err) != 0) {
        state_free(p);
        return -1;
    }
    return 0;
}

/* The note of tag t for the table configured under key, into n. Returns false when
 * there is none. */
static bool find_key_note(const w2k_pubtag_t *t, uint64_t key, w2k_pubnote_t *n)
{
    for (size_t pos = 0; w2k_catalog_tag_note(t, &pos, n);)
        if (n->has_key && n->key == key)
            return true;
    return false;
}

/* What the server has for a stream: its table entries, the publications of its set,
 * and (while the set is not in use) those of the sets of operations it does not name. */
typedef struct observed_s {
    w2k_pubobs_table_t *tables;
    PGresult **leaves; /* per table entry: its leaf partitions before 13, or NULL */
    uint32_t **leaf_relids;
    const char ***leaf_clauses;
    int ntables;
    w2k_pubstate_t pub[W2K_MAX_PUBLICATIONS];
    w2k_pubstate_t other[W2K_PUBPLAN_ROW_SETS];
    w2k_pubobs_t view; /* what the plan reads */
} observed_t;

static void observed_free(observed_t *o)
{
    for (int g = 0; g < W2K_MAX_PUBLICATIONS; g++)
        state_free(&o->pub[g]);
    for (int k = 0; k < W2K_PUBPLAN_ROW_SETS; k++)
        state_free(&o->other[k]);
    for (int i = 0; i < o->ntables; i++) {
        PQclear(o->leaves ? o->leaves[i] : NULL);
        free(o->leaf_relids ? o->leaf_relids[i] : NULL);
        free(o->leaf_clauses ? (void *)o->leaf_clauses[i] : NULL);
    }
    free(o->leaves);
    free(o->leaf_relids);
    free(o->leaf_clauses);
    free(o->tables);
    memset(o, 0, sizeof *o);
}

const char w2k_catalog_leaves_sql[] =
    "WITH RECURSIVE t(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::oid "
    "UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid) SELECT c.oid, "
    "quote_ident(n.nspname) || '.' || quote_ident(c.relname) FROM t JOIN pg_class c ON c.oid = "
    "t.oid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' ORDER BY c.oid";

/* Before 13: the leaf partitions of partitioned table entry i (OID relid) into o.
 * Returns 0, or -1 with err. */
static int observe_leaves(PGconn *c, observed_t *o, int i, uint32_t relid, w2k_err_t *err)
{
    char oid[16];
    snprintf(oid, sizeof oid, "%u", relid);
    const char *params[1] = {oid};
    PGresult *r = w2k_pg_query(c, err, "listing a partitioned table's partitions",
                               w2k_catalog_leaves_sql, 1, params);
    if (!r)
        return -1;
    o->leaves[i] = r;
    int n = PQntuples(r);
    o->leaf_relids[i] = calloc((size_t)n + 1, sizeof *o->leaf_relids[i]);
    o->leaf_clauses[i] = calloc((size_t)n + 1, sizeof *o->leaf_clauses[i]);
    if (!o->leaf_relids[i] || !o->leaf_clauses[i]) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int k = 0; k < n; k++) {
        o->leaf_relids[i][k] = (uint32_t)strtoul(PQgetvalue(r, k, 0), NULL, 10);
        o->leaf_clauses[i][k] = PQgetvalue(r, k, 1);
    }
    o->tables[i].nleaves = n;
    o->tables[i].leaf_relids = o->leaf_relids[i];
    o->tables[i].leaf_clauses = o->leaf_clauses[i];
    return 0;
}

/* Look each table entry of st up: whether it exists, its kind and OID (before 13, a
 * partitioned table's leaf partitions too). Returns 0, or -1 with err. */
static int observe_tables(PGconn *c, const w2k_stream_cfg_t *st, observed_t *o, w2k_err_t *err)
{
    for (int i = 0; i < st->ntables; i++) {
        const w2k_table_cfg_t *t = &st->tables[i];
        const char *params[2] = {t->schema, t->name};
        /* stored generated columns matter on 18+ only (publish_generated_columns) */
        PGresult *r = w2k_pg_query(
            c, err, "looking up a table",
            PQserverVersion(c) >= 180000
                ? "SELECT c.relkind, c.oid, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid "
                  "= c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = 's') "
                  "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE "
                  "n.nspname = $1 AND c.relname = $2"
                : "SELECT c.relkind, c.oid, false FROM pg_class c JOIN pg_namespace n ON n.oid "
                  "= c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
            2, params);
        if (!r)
            return -1;
        o->tables[i].found = PQntuples(r) == 1;
        if (o->tables[i].found) {
            o->tables[i].kind = PQgetvalue(r, 0, 0)[0];
            o->tables[i].relid = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
            o->tables[i].generated = PQgetvalue(r, 0, 2)[0] == 't';
        }
        PQclear(r);
        if (o->tables[i].found && o->tables[i].kind == 'p' && PQserverVersion(c) < 130000 &&
            observe_leaves(c, o, i, o->tables[i].relid, err) != 0)
            return -1;
    }
    return 0;
}

static bool names_pub(const w2k_pubset_t *ps, const char *name)
{
    for (int g = 0; g < ps->n; g++)
        if (strcmp(ps->pub[g].name, name) == 0)
            return true;
    return false;
}

/* Observe what the server has for stream st and its publications ps into o (reset
 * first). Returns 0, or -1 with err. */
static int observe(PGconn *c, const w2k_stream_cfg_t *st, const w2k_pubset_t *ps, observed_t *o,
                   w2k_err_t *err)
{
    memset(o, 0, sizeof *o);
    o->tables = calloc((size_t)st->ntables + 1, sizeof *o->tables);
    o->leaves = calloc((size_t)st->ntables + 1, sizeof *o->leaves);
    o->leaf_relids = calloc((size_t)st->ntables + 1, sizeof *o->leaf_relids);
    o->leaf_clauses = calloc((size_t)st->ntables + 1, sizeof *o->leaf_clauses);
    o->ntables = st->ntables;
    o->view.tables = o->tables;
    if (!o->tables || !o->leaves || !o->leaf_relids || !o->leaf_clauses) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (unsigned ops = 0; !ps->in_use && ops < W2K_PUBPLAN_ROW_SETS; ops++) {
        char name[64];
        w2k_pubplan_group_name(ps->pub[0].name, ops, name);
        if (names_pub(ps, name))
            continue;
        if (read_publication(c, name, &o->other[ops], err) != 0)
            return -1;
        o->view.other[ops] = &o->other[ops];
    }
    if (observe_tables(c, st, o, err) != 0)
        return -1;
    for (int g = 0; g < ps->n; g++) {
        if (read_publication(c, ps->pub[g].name, &o->pub[g], err) != 0)
            return -1;
        o->view.pub[g] = &o->pub[g];
    }
    return 0;
}

/* True when publication g of plan holds exactly the tables planned for it. */
static bool publication_has_tables(PGconn *c, const w2k_pubplan_t *plan, int g)
{
    const char *params[1] = {plan->ps.pub[g].name};
    w2k_err_t err;
    PGresult *r = w2k_pg_query(c, &err, "listing the publication's tables",
                               "SELECT schemaname, tablename FROM pg_publication_tables WHERE "
                               "pubname = $1 AND (schemaname, tablename) <> ('" W2K_SIGNAL_SCHEMA
                               "', '" W2K_SIGNAL_TABLE "')",
                               1, params);
    if (!r)
        return false;
    int want = 0;
    for (int t = 0; t < plan->ntables; t++)
        want += plan->tables[t].g == g;
    bool same = PQntuples(r) == want;
    for (int i = 0; same && i < PQntuples(r); i++) {
        bool found = false;
        for (int t = 0; t < plan->ntables && !found; t++) {
            const w2k_table_cfg_t *tc = &plan->want->st->tables[plan->tables[t].entry];
            found = plan->tables[t].g == g && strcmp(PQgetvalue(r, i, 0), tc->schema) == 0 &&
                    strcmp(PQgetvalue(r, i, 1), tc->name) == 0;
        }
        same = found;
    }
    PQclear(r);
    return same;
}

/* After their creation, the publications plan created pending get a WAL position
 * after it in their comments (once the slot has confirmed it, they serve), and plan
 * learns it. Returns 0, or -1 with err. */
static int tag_pending(PGconn *c, w2k_pubplan_t *plan, const char *what, w2k_err_t *err)
{
    const w2k_pubset_t *ps = &plan->ps;
    PGresult *r = w2k_pg_query(c, err, "reading the WAL position",
                               "SELECT pg_current_wal_insert_lsn()::text", 0, NULL);
    if (!r)
        return -1;
    w2k_lsn_t created = 0;
    w2k_lsn_parse(PQgetvalue(r, 0, 0), &created);
    w2k_buf_t tag = W2K_BUF_INIT;
    for (int g = 0; g < ps->n; g++) {
        if (plan->pub[g].exists)
            continue;
        char *q = PQescapeIdentifier(c, ps->pub[g].name, strlen(ps->pub[g].name));
        w2k_buf_printf(&tag, "COMMENT ON PUBLICATION %s IS '%s%s for %s'; ", q, PENDING_TAG,
                       PQgetvalue(r, 0, 0), ps->pub[0].name);
        PQfreemem(q);
    }
    PQclear(r);
    w2k_pubplan_created(plan, created);
    int rc = exec_ok(c, tag.data, err, what);
    w2k_buf_free(&tag);
    return rc;
}

/* Create the publications of plan that do not exist, empty and tagged pending, in
 * a transaction of their own. Returns 0, or -1 with err. */
static int create_pending(PGconn *c, w2k_pubplan_t *plan, w2k_err_t *err)
{
    const w2k_pubset_t *ps = &plan->ps;
    w2k_buf_t sql = W2K_BUF_INIT;
    for (int g = 0; g < ps->n; g++) {
        if (plan->pub[g].exists)
            continue;
        char *q = PQescapeIdentifier(c, ps->pub[g].name, strlen(ps->pub[g].name));
        w2k_buf_printf(&sql,
                       "CREATE PUBLICATION %s WITH (%s); COMMENT ON PUBLICATION %s IS '%sfor %s'; ",
                       q, plan->pub[g].publish.data, q, PENDING_TAG, ps->pub[0].name);
        PQfreemem(q);
    }
    int rc = 0;
    if (sql.len) {
        char what[256];
        snprintf(what, sizeof what, "cannot create the publications of stream \"%s\"",
                 plan->want->st->name);
        rc = -1;
        if (exec_ok(c, "BEGIN", err, "starting a transaction") != 0)
            goto out;
        if (exec_ok(c, sql.data, err, what) != 0) {
            PQclear(PQexec(c, "ROLLBACK"));
            goto out;
        }
        if (exec_ok(c, "COMMIT", err, what) == 0)
            rc = tag_pending(c, plan, what, err);
    }
out:
    w2k_buf_free(&sql);
    return rc;
}

/* Whether slot can decode what it holds with all the publications of ps: a peek at
 * its first change (nothing is consumed). Returns 1 when it can, 0 when not (why says
 * why). */
static int peek_slot(PGconn *c, const char *slot, const w2k_pubset_t *ps, char *why, size_t whysz)
{
    char names[sizeof ps->names];
    size_t len = 0;
    for (int g = 0; g < ps->n; g++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? "," : "",
                                ps->pub[g].name);
    const char *p[2] = {slot, names};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM pg_logical_slot_peek_binary_changes($1, NULL, "
                               "1, 'proto_version', '1', 'publication_names', $2)",
                               2, NULL, p, NULL, NULL, 0);
    int rc = 1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
        snprintf(why, whysz, "%s", m ? m : PQerrorMessage(c));
        why[strcspn(why, "\n")] = '\0';
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* Publications of the stream that are missing or pending while its slot exists:
 * PostgreSQL 15 looks a publication up as of each change it decodes, so one created
 * after changes the slot still holds cannot serve them ("publication ... does not
 * exist"). Create the missing ones empty (tagged pending with the position after their
 * creation), then find out whether the slot can decode what it holds with all of them:
 * it has confirmed past their creation, or a peek at its first change (nothing is
 * consumed) succeeds. Returns 1 when it can (or there is no slot), 0 when not (why
 * says why), -1 with err. */
static int new_publications_usable(PGconn *c, w2k_pubplan_t *plan, char *why, size_t whysz,
                                   w2k_err_t *err)
{
    w2k_slot_info_t slot;
    if (w2k_catalog_slot(c, plan->want->st->slot, &slot, err) != 0)
        return -1;
    if (!slot.exists)
        return 1;
    if (create_pending(c, plan, err) != 0)
        return -1;
    if (w2k_pubplan_confirmed(plan, slot.confirmed_flush))
        return 1;
    return peek_slot(c, plan->want->st->slot, &plan->ps, why, whysz);
}

/* Append the statement that gives publication pub the comment comment. */
static void put_comment_sql(w2k_buf_t *b, PGconn *c, const char *pub, const char *comment)
{
    char *qpub = PQescapeIdentifier(c, pub, strlen(pub));
    char *qcomment = PQescapeLiteral(c, comment, strlen(comment));
    w2k_buf_printf(b, "COMMENT ON PUBLICATION %s IS %s; ", qpub, qcomment ? qcomment : "NULL");
    PQfreemem(qpub);
    PQfreemem(qcomment);
}

/* Request a re-read of table t of stream st, in the transaction that restores its
 * publication: a snapshot request marked W2K_SNAPSHOT_REPAIR in the WAL, so the stream
 * meets it right where its table is published again, and again after any restart
 * until the table has been read (it confirms nothing past it until then). Returns 0,
 * or -1 with err. */
static int request_repair(PGconn *c, const w2k_stream_cfg_t *st, const w2k_table_cfg_t *t,
                          w2k_err_t *err)
{
    char content[400];
    snprintf(content, sizeof content, "%s\x1f%s\x1f%s\x1f" W2K_SNAPSHOT_REPAIR, st->name, t->schema,
             t->name);
    const char *p[2] = {W2K_SNAPSHOT_REQUEST_PREFIX, content};
    PGresult *m =
        w2k_pg_query(c, err, "cannot request a re-read of a table", w2k_signals_emit_sql(c), 2, p);
    PQclear(m);
    return m ? 0 : -1;
}

/* In the transaction that restores them, the publications of plan's W2K_PUBACT_RETAG
 * actions (from action from on) get their comments with the memberships they now
 * have, and the W2K_PUBACT_REPAIR actions request their re-reads. Returns 0, or -1
 * with err. */
static int retag_and_request(PGconn *c, const w2k_pubplan_t *plan, int from, const char *what,
                             w2k_err_t *err)
{
    w2k_buf_t sql = W2K_BUF_INIT, comment = W2K_BUF_INIT;
    int rc = 0;
    for (int i = from; i < plan->nact && rc == 0; i++) {
        const w2k_pubaction_t *a = &plan->act[i];
        if (a->kind != W2K_PUBACT_RETAG)
            continue;
        w2k_pubstate_t now = {0};
        rc = read_members(c, plan->ps.pub[a->pub].name, &now, err);
        if (rc == 0) {
            w2k_buf_reset(&comment);
            w2k_pubplan_comment(plan, a->pub, &now, &comment);
            put_comment_sql(&sql, c, plan->ps.pub[a->pub].name, comment.data);
        }
        state_free(&now);
    }
    if (rc == 0 && (sql.oom || comment.oom)) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        rc = -1;
    }
    if (rc == 0)
        rc = exec_ok(c, sql.data, err, what);
    const w2k_stream_cfg_t *st = plan->want->st;
    for (int i = from; i < plan->nact && rc == 0; i++)
        if (plan->act[i].kind == W2K_PUBACT_REPAIR)
            rc = request_repair(c, st, &st->tables[plan->act[i].table], err);
    w2k_buf_free(&sql);
    w2k_buf_free(&comment);
    return rc;
}

/* Append to sql the statement that drops every table publication pub (qpub quoted)
 * has. Returns 0, or -1 with err. */
static int put_drop_tables(PGconn *c, const char *pub, const char *qpub, w2k_buf_t *sql,
                           w2k_err_t *err)
{
    const char *params[1] = {pub};
    PGresult *r = w2k_pg_query(c, err, "listing the publication's tables",
                               "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') "
                               "FROM pg_publication_tables WHERE pubname = $1",
                               1, params);
    if (!r)
        return -1;
    if (!PQgetisnull(r, 0, 0))
        w2k_buf_printf(sql, "ALTER PUBLICATION %s DROP TABLE %s; ", qpub, PQgetvalue(r, 0, 0));
    PQclear(r);
    return 0;
}

static bool is_statement(w2k_pubact_kind_t kind)
{
    return kind == W2K_PUBACT_SET_TABLES || kind == W2K_PUBACT_EMPTY ||
           kind == W2K_PUBACT_SET_PUBLISH || kind == W2K_PUBACT_CREATE;
}

/* Append the statement of action a of plan to sql. Returns 0, or -1 with err. */
static int put_statement(PGconn *c, const w2k_pubplan_t *plan, const w2k_pubaction_t *a,
                         w2k_buf_t *sql, w2k_err_t *err)
{
    const char *pub = plan->ps.pub[a->pub].name;
    char *q = PQescapeIdentifier(c, pub, strlen(pub));
    int rc = 0;
    if (a->kind == W2K_PUBACT_SET_TABLES)
        w2k_buf_printf(sql, "ALTER PUBLICATION %s SET %s; ", q, a->text);
    else if (a->kind == W2K_PUBACT_EMPTY)
        rc = put_drop_tables(c, pub, q, sql, err);
    else if (a->kind == W2K_PUBACT_SET_PUBLISH)
        w2k_buf_printf(sql, "ALTER PUBLICATION %s SET (%s); ", q, a->text);
    else
        w2k_buf_printf(sql, "CREATE PUBLICATION %s %s WITH (%s); ", q, a->text,
                       plan->pub[a->pub].publish.data);
    PQfreemem(q);
    return rc;
}

/* For an administrator to run: after the statements in sql, the comments of the
 * publications to change (with the tags, so wal2kafka takes them for its own); what
 * someone else changed into lost. */
static void put_hint_statements(PGconn *c, const w2k_pubplan_t *plan, w2k_buf_t *sql,
                                w2k_buf_t *lost)
{
    w2k_buf_t comment = W2K_BUF_INIT;
    for (int g = 0; g < plan->ps.n; g++) {
        if (plan->pub[g].same)
            continue;
        if (plan->pub[g].lost.len)
            w2k_buf_printf(lost, "%spublication %s (%s)", lost->len ? "; " : "",
                           plan->ps.pub[g].name, plan->pub[g].lost.data);
        w2k_buf_reset(&comment);
        w2k_pubplan_comment(plan, g, NULL, &comment);
        put_comment_sql(sql, c, plan->ps.pub[g].name, comment.data);
    }
    w2k_buf_free(&comment);
}

/* Whether every publication of plan exists and holds the tables planned for it. */
static bool usable_as_is(PGconn *c, const w2k_pubplan_t *plan)
{
    for (int g = 0; g < plan->ps.n; g++)
        if (!plan->pub[g].exists || !publication_has_tables(c, plan, g))
            return false;
    return true;
}

/* After CREATE/ALTER PUBLICATION failed, find the table whose clause PostgreSQL
 * rejects, to name it and its config line. Returns 1 and sets err when found. */
static int blame_table(PGconn *c, const w2k_pubplan_t *plan, w2k_err_t *err)
{
    const w2k_pubwant_t *w = plan->want;
    for (int i = 0; i < plan->ntables; i++) {
        w2k_err_t e;
        const w2k_table_cfg_t *t = &w->st->tables[plan->tables[i].entry];
        if (w2k_catalog_probe_table(c, w->config_path, w->st, t, &e) == 1) {
            *err = e;
            return 1;
        }
    }
    return 0;
}

/* The statements of plan (in sql) failed with r: roll back, and set err with what to
 * do and return -1; or, for publications someone else set up with the configured
 * tables that this role may not alter, warn and return 0: they are used as they are. */
static int refused(PGconn *c, const w2k_pubplan_t *plan, PGresult *r, w2k_buf_t *sql,
                   const char *what, w2k_err_t *err)
{
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    bool denied = state && strcmp(state, "42501") == 0;
    const char *config_path = plan->want->config_path, *st = plan->want->st->name;
    w2k_pg_set_error(err, c, r, what);
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    w2k_buf_t lost = W2K_BUF_INIT;
    put_hint_statements(c, plan, sql, &lost);
    int rc = -1;
    if (denied && !lost.len && usable_as_is(c, plan)) {
        /* Set up by an administrator: use it as it is. */
        w2k_warn_hint("expected when an administrator manages the publication; grant this "
                      "role ownership of it to let wal2kafka keep it in line with the "
                      "configuration",
                      "stream %s: publication %s was created by someone else and this role may "
                      "not alter it; it holds the configured tables, so it is used as it is "
                      "(row filters, column lists and operations are the administrator's)",
                      st, plan->ps.names);
        w2k_err_clear(err);
        rc = 0;
    } else if (denied && lost.len) {
        w2k_err_hint(err,
                     "%s: changed by someone else, so PostgreSQL did not send those tables' "
                     "changes meanwhile. Have the tables' owner run the statement below, "
                     "then re-read each table with wal2kafka snapshot --config %s --table "
                     "SCHEMA.TABLE:\n%s",
                     lost.data, config_path, sql->data);
    } else if (denied) {
        w2k_err_hint(err,
                     "creating or altering a publication needs ownership of its tables: "
                     "have the table owner run the statement below once, then wal2kafka "
                     "uses the publication as it finds it:\n%s",
                     sql->data);
    } else {
        w2k_err_t blamed = *err;
        if (blame_table(c, plan, &blamed))
            *err = blamed;
    }
    w2k_buf_free(&lost);
    return rc;
}

/* Say what the transaction did: plan's W2K_PUBACT_WARN_LOST and W2K_PUBACT_DONE
 * actions from action from on. */
static void say_done(const w2k_pubplan_t *plan, int from)
{
    const char *st = plan->want->st->name;
    for (int i = from; i < plan->nact; i++) {
        const w2k_pubaction_t *a = &plan->act[i];
        const w2k_pubplan_pub_t *d = a->pub >= 0 ? &plan->pub[a->pub] : NULL;
        if (a->kind == W2K_PUBACT_WARN_LOST)
            w2k_warn_hint(
                "leave wal2kafka's publications to wal2kafka: change the "
                "configuration instead",
                "stream %s: publication %s was changed by someone else: %s. PostgreSQL did "
                "not send those tables' changes while it was, and cannot send them again: "
                "restored the publication, and the tables are read again while streaming "
                "goes on (each row once, as an 'r' event with its current values; changes "
                "in between are not in the topics one by one, and a row deleted in between "
                "stays there until it is deleted again)",
                st, plan->ps.pub[a->pub].name, a->text);
        else if (a->kind == W2K_PUBACT_DONE)
            w2k_info("%s publication %s for stream %s: %d table(s), %s",
                     d->exists ? "updated" : "created", plan->ps.pub[a->pub].name, st, d->ntables,
                     d->publish.data);
    }
}

/* Run plan's statements (its actions from action from on) in one transaction with
 * the comments and repair requests that go with them, then say what was done.
 * Returns 0, or -1 with err. */
static int apply_transaction(PGconn *c, const w2k_pubplan_t *plan, int from, w2k_err_t *err)
{
    w2k_buf_t sql = W2K_BUF_INIT;
    int i = from, rc = -1;
    for (; i < plan->nact && is_statement(plan->act[i].kind); i++)
        if (put_statement(c, plan, &plan->act[i], &sql, err) != 0)
            goto out;
    if (exec_ok(c, "BEGIN", err, "starting a transaction") != 0)
        goto out;
    char what[256];
    snprintf(what, sizeof what, "cannot %s publication \"%s\" of stream \"%s\"",
             plan->pub[0].exists ? "update" : "create", plan->ps.pub[0].name, plan->want->st->name);
    PGresult *r = PQexec(c, sql.data);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = refused(c, plan, r, &sql, what, err);
        goto out;
    }
    PQclear(r);
    if (retag_and_request(c, plan, i, what, err) != 0) {
        PQclear(PQexec(c, "ROLLBACK"));
        goto out;
    }
    if (exec_ok(c, "COMMIT", err, what) != 0)
        goto out;
    say_done(plan, i);
    rc = 0;
out:
    w2k_buf_free(&sql);
    return rc;
}

/* Drop publication name, pending and for a set of operations no table has. Returns 0,
 * or -1 with err. */
static int drop_unused(PGconn *c, const char *name, w2k_err_t *err)
{
    char *q = PQescapeIdentifier(c, name, strlen(name));
    char sql[128];
    snprintf(sql, sizeof sql, "DROP PUBLICATION %s", q);
    PQfreemem(q);
    if (exec_ok(c, sql, err, "dropping a publication no table needs") != 0)
        return -1;
    w2k_info("dropped publication %s: no table has its operations any more", name);
    return 0;
}

/* Set the comment of publication pub, if this role may (nothing changes otherwise). */
static void try_comment(PGconn *c, const char *pub, const char *comment)
{
    w2k_buf_t sql = W2K_BUF_INIT;
    put_comment_sql(&sql, c, pub, comment);
    PQclear(PQexec(c, sql.data));
    w2k_buf_free(&sql);
}

/* W2K_PUBACT_CHECK_PENDING: create the missing publications pending, ask whether the
 * slot can use them, and let the plan go on. Returns 0, or -1 with err. */
static int check_pending(PGconn *c, w2k_pubplan_t *plan, w2k_err_t *err)
{
    char why[512] = "";
    int usable = new_publications_usable(c, plan, why, sizeof why, err);
    if (usable < 0)
        return -1;
    if (w2k_pubplan_pending(plan, usable == 1, why) == 0)
        return 0;
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    return -1;
}

/* The warnings of the plan that need no statement. */
static void warn_plan(const w2k_pubplan_t *plan, const w2k_pubaction_t *a)
{
    const w2k_pubwant_t *w = plan->want;
    const w2k_table_cfg_t *t = a->table >= 0 ? &w->st->tables[a->table] : NULL;
    if (a->kind == W2K_PUBACT_SKIP_TABLE)
        w2k_warn_hint("remove the table from the configuration to silence this",
                      "%s:%d: table %s.%s of stream %s no longer exists (dropped?); streaming the "
                      "other tables — remove it from the configuration",
                      w->config_path, t->line, t->schema, t->name, w->st->name);
    else if (a->kind == W2K_PUBACT_NO_TABLES)
        w2k_warn_hint("the stream sends nothing until one of its tables exists again; fix "
                      "the configuration's table list",
                      "stream %s: none of its tables exists any more; publication %s is left as it "
                      "is",
                      w->st->name, plan->ps.names);
    else
        w2k_warn_hint("restart wal2kafka once the stream has caught up to apply the new "
                      "operations",
                      "stream %s: the operations of its tables need publication(s) %s, which "
                      "cannot serve the changes slot %s holds from before their creation "
                      "(PostgreSQL 15 looks a publication up as of each change: %s); "
                      "streaming goes on with publication(s) %s as they are, and the "
                      "configuration's changes take effect when wal2kafka starts again after "
                      "the stream has caught up",
                      w->st->name, a->text, w->st->slot, plan->why, plan->ps.names);
}

/* Carry plan out, action by action. Returns 0, or -1 with err. */
static int apply(PGconn *c, w2k_pubplan_t *plan, w2k_err_t *err)
{
    for (int i = 0; i < plan->nact; i++) {
        const w2k_pubaction_t *a = &plan->act[i];
        switch (a->kind) {
        case W2K_PUBACT_DROP_UNUSED:
            if (drop_unused(c, a->text, err) != 0)
                return -1;
            break;
        case W2K_PUBACT_FAIL:
            *err = plan->err;
            return -1;
        case W2K_PUBACT_SKIP_TABLE:
        case W2K_PUBACT_WARN_PENDING:
            warn_plan(plan, a);
            break;
        case W2K_PUBACT_NO_TABLES:
            warn_plan(plan, a);
            return 0;
        case W2K_PUBACT_CHECK_PENDING:
            if (check_pending(c, plan, err) != 0)
                return -1; /* otherwise the plan has its next actions */
            break;
        case W2K_PUBACT_COMMENT:
            try_comment(c, plan->ps.pub[a->pub].name, a->text);
            break;
        default:
            return apply_transaction(c, plan, i, err);
        }
    }
    return 0;
}

/* Pending publications were announced when the session started: returns whether ps
 * has any. A set not yet in use forgets them: the plan looks at them again. */
static bool forget_pending(w2k_pubset_t *ps)
{
    bool said = false;
    for (int g = 0; g < ps->n; g++) {
        said |= ps->pub[g].pending;
        if (!ps->in_use)
            ps->pub[g].pending = false;
    }
    w2k_pubplan_names(ps);
    return said;
}

/* What is wanted of the table entries of st, into wt (one per entry): each one's FOR
 * TABLE clause (into clauses, quoted for c) and the name its configuration entry gives
 * it (configured: NULL, or per entry NULL or that name). Returns 0, or -1 when out of
 * memory. */
static int want_tables(PGconn *c, const w2k_stream_cfg_t *st,
                       const w2k_pubtable_t *const *configured, w2k_pubwant_table_t *wt,
                       w2k_buf_t *clauses)
{
    for (int i = 0; i < st->ntables; i++) {
        const w2k_pubtable_t *as = configured ? configured[i] : NULL;
        put_table_clause(&clauses[i], c, &st->tables[i]);
        if (clauses[i].oom || !clauses[i].data)
            return -1;
        wt[i].clause = clauses[i].data;
        wt[i].as_schema = as ? as->schema : NULL;
        wt[i].as_name = as ? as->name : NULL;
    }
    return 0;
}

int w2k_catalog_ensure_publication(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                                   const w2k_pubtable_t *const *configured, w2k_pubset_t *ps,
                                   bool resuming, w2k_err_t *err)
{
    w2k_pubwant_table_t *wt = calloc((size_t)st->ntables + 1, sizeof *wt);
    w2k_buf_t *clauses = calloc((size_t)st->ntables + 1, sizeof *clauses);
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    w2k_pubwant_t want = {config_path,
                          st,
                          wt,
                          ps,
                          resuming,
                          forget_pending(ps),
                          caps.publish_truncate ? 0 : W2K_OP_TRUNCATE,
                          NULL,
                          caps.publish_via_root,
                          caps.publish_generated};
    observed_t obs;
    w2k_pubplan_t plan;
    uint32_t signal_relid = 0;
    memset(&obs, 0, sizeof obs);
    memset(&plan, 0, sizeof plan);
    int rc = -1;
    if (!wt || !clauses || want_tables(c, st, configured, wt, clauses) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    } else if (w2k_signals_ensure(c, &signal_relid, err) == 0 &&
               observe(c, st, ps, &obs, err) == 0) {
        /* before 14 the stream's publication holds the signal table too */
        want.signal = signal_relid ? "\"" W2K_SIGNAL_SCHEMA "\".\"" W2K_SIGNAL_TABLE "\"" : NULL;
        obs.view.signal_relid = signal_relid;
        if (w2k_pubplan_make(&plan, &want, &obs.view) == 0)
            rc = apply(c, &plan, err);
        else
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        *ps = plan.ps;
    }
    ps->in_use |= rc == 0;
    w2k_pubplan_free(&plan);
    observed_free(&obs);
    for (int i = 0; clauses && i < st->ntables; i++)
        w2k_buf_free(&clauses[i]);
    free(clauses);
    free(wt);
    return rc;
}

int w2k_catalog_publication_signature(PGconn *c, const w2k_pubset_t *ps, int timeout_ms, char **out,
                                      w2k_err_t *err)
{
    const char *params[1] = {ps->names};
    int want = ps->names[0] ? 1 : 0;
    for (const char *p = ps->names; *p; p++)
        want += *p == ',';
    *out = NULL;
    PGresult *r = w2k_pg_query_within(
        c, timeout_ms, err, "checking the publications",
        "SELECT count(*), coalesce(string_agg(concat_ws(' ', p.pubname, p.pubinsert, "
        "p.pubupdate, p.pubdelete, to_jsonb(p) -> 'pubtruncate', (SELECT "
        "string_agg(pr.prrelid || ':' || pr.oid, ',' ORDER BY pr.prrelid) FROM "
        "pg_publication_rel pr WHERE pr.prpubid = p.oid)), ';' ORDER BY p.pubname), '') "
        "FROM pg_publication p WHERE p.pubname = ANY (string_to_array($1, ','))",
        1, params);
    if (!r)
        return -1;
    /* before 13: the partitions of the partitioned tables whose leaves the
     * publications hold, so a partition created, attached or detached is noticed */
    PGresult *parts =
        PQserverVersion(c) >= 130000
            ? NULL
            : w2k_pg_query_within(
                  c, timeout_ms, err, "checking the partitions of the published tables",
                  "WITH RECURSIVE m AS (SELECT pr.prrelid AS oid FROM pg_publication_rel pr JOIN "
                  "pg_publication p ON p.oid = pr.prpubid WHERE p.pubname = ANY "
                  "(string_to_array($1, ','))), up(oid) AS (SELECT i.inhparent FROM pg_inherits "
                  "i JOIN m ON i.inhrelid = m.oid UNION SELECT i.inhparent FROM pg_inherits i "
                  "JOIN up ON i.inhrelid = up.oid), down(oid) AS (SELECT oid FROM up UNION "
                  "SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.oid) "
                  "SELECT coalesce(string_agg(oid::text, ',' ORDER BY oid), '') FROM down",
                  1, params);
    if (PQserverVersion(c) < 130000 && !parts) {
        PQclear(r);
        return -1;
    }
    if (atoi(PQgetvalue(r, 0, 0)) == want &&
        asprintf(out, "%s%s%s", PQgetvalue(r, 0, 1), parts ? " parts " : "",
                 parts ? PQgetvalue(parts, 0, 0) : "") < 0) {
        *out = NULL;
        PQclear(r);
        PQclear(parts);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    PQclear(r);
    PQclear(parts);
    return 0;
}

int w2k_catalog_stream_publications(PGconn *c, const w2k_pubset_t *ps, w2k_buf_t *names,
                                    w2k_err_t *err)
{
    w2k_buf_reset(names);
    w2k_buf_puts(names, "");
    PGresult *r = all_publications(c, err);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r); i++)
        if (of_stream(ps, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)))
            w2k_buf_printf(names, "%s%s", names->len ? "," : "", PQgetvalue(r, i, 0));
    PQclear(r);
    if (names->oom) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    return 0;
}

int w2k_catalog_detached_leaf(PGconn *c, const w2k_pubset_t *ps, uint32_t relid,
                              const w2k_table_cfg_t *tables, int ntables, w2k_err_t *err)
{
    PGresult *pubs = all_publications(c, err);
    if (!pubs)
        return -1;
    int found = 0;
    for (int i = 0; i < PQntuples(pubs) && !found; i++) {
        const char *pub = PQgetvalue(pubs, i, 0), *comment = PQgetvalue(pubs, i, 1);
        if (!of_stream(ps, pub, comment))
            continue;
        w2k_pubtag_t tag;
        w2k_pubnote_t n;
        w2k_catalog_parse_tag(comment, &tag);
        for (size_t pos = 0; !found && w2k_catalog_tag_note(&tag, &pos, &n);) {
            if (n.relid != relid || !n.has_key)
                continue;
            for (int k = 0; k < ntables && !found; k++) {
                if (w2k_pubplan_name_key(tables[k].schema, tables[k].name) != n.key)
                    continue;
                found = is_partitioned(c, tables[k].schema, tables[k].name) ? 1 : 0;
            }
            break;
        }
    }
    PQclear(pubs);
    return found;
}

int w2k_catalog_renamed_table(PGconn *c, const w2k_pubset_t *ps, const char *schema,
                              const char *name, w2k_pubtable_t *out, w2k_err_t *err)
{
    const char *p[2] = {schema, name};
    PGresult *r = w2k_pg_query(c, err, "looking up a table",
                               "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                               "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                               2, p);
    if (!r)
        return -1;
    int exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        return 0;
    PGresult *pubs = all_publications(c, err);
    if (!pubs)
        return -1;
    uint64_t key = w2k_pubplan_name_key(schema, name);
    int found = 0;
    for (int i = 0; i < PQntuples(pubs) && !found; i++) {
        const char *pub = PQgetvalue(pubs, i, 0), *comment = PQgetvalue(pubs, i, 1);
        if (!of_stream(ps, pub, comment))
            continue;
        w2k_pubtag_t tag;
        w2k_pubnote_t note;
        w2k_catalog_parse_tag(comment, &tag);
        if (!find_key_note(&tag, key, &note))
            continue;
        /* the table noted under that name, if it is still in that publication */
        char relid[16];
        snprintf(relid, sizeof relid, "%u", note.relid);
        const char *q[2] = {relid, pub};
        r = w2k_pg_query(c, err, "looking up a renamed table",
                         "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON "
                         "n.oid = c.relnamespace JOIN pg_publication_rel pr ON pr.prrelid = "
                         "c.oid JOIN pg_publication p ON p.oid = pr.prpubid WHERE c.oid = "
                         "$1::oid AND p.pubname = $2",
                         2, q);
        if (!r) {
            found = -1;
            break;
        }
        if (PQntuples(r) == 1) {
            found = 1;
            out->relid = note.relid;
            snprintf(out->schema, sizeof out->schema, "%s", PQgetvalue(r, 0, 0));
            snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 1));
        }
        PQclear(r);
    }
    PQclear(pubs);
    return found;
}

int w2k_catalog_slot(PGconn *c, const char *slot, w2k_slot_info_t *out, w2k_err_t *err)
{
    const char *params[1] = {slot};
    memset(out, 0, sizeof *out);
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    char sql[768];
    /* wal_status is 13+; before, no setting invalidates a slot: it is never lost.
     * failover, synced and invalidation_reason are 17+. */
    snprintf(sql, sizeof sql,
             "SELECT coalesce(plugin, ''), coalesce(database, ''), active, "
             "coalesce(active_pid, 0), coalesce(confirmed_flush_lsn::text, '0/0'), "
             "coalesce(restart_lsn::text, '0/0'), %s, slot_type, %s, temporary, "
             "pg_is_in_recovery() FROM pg_replication_slots WHERE slot_name = $1",
             caps.slot_wal_status ? "coalesce(wal_status, '')" : "''",
             caps.failover_slots ? "failover, synced, coalesce(invalidation_reason, '')"
             /* 16: conflicting = invalidated by a conflict with recovery (on a standby) */
             : caps.version_num >= 160000
                 ? "false, false, CASE WHEN conflicting THEN 'conflicting' ELSE '' END"
                 : "false, false, ''");
    PGresult *r = w2k_pg_query(c, err, "looking up the replication slot", sql, 1, params);
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
        out->failover = PQgetvalue(r, 0, 8)[0] == 't';
        out->synced = PQgetvalue(r, 0, 9)[0] == 't';
        snprintf(out->invalidation_reason, sizeof out->invalidation_reason, "%s",
                 PQgetvalue(r, 0, 10));
        out->temporary = PQgetvalue(r, 0, 11)[0] == 't';
        out->in_recovery = PQgetvalue(r, 0, 12)[0] == 't';
        /* a synced copy invalidated on the standby (rows_removed, wal_level, ...) is
         * as lost as one whose WAL was removed */
        if (out->invalidation_reason[0])
            snprintf(out->wal_status, sizeof out->wal_status, "lost");
    }
    PQclear(r);
    return 0;
}

int w2k_catalog_slot_synced_wait(const w2k_slot_info_t *info, const char *slot, w2k_err_t *err)
{
    if (!info->exists || !info->synced || info->invalidation_reason[0])
        return 0;
    if (!info->in_recovery && !info->temporary)
        return 0; /* a copy on a promoted standby: usable */
    w2k_err_set(err, W2K_EXIT_POSTGRES,
                "replication slot \"%s\" is a copy synced from the primary that cannot be used "
                "yet (%s)",
                slot,
                info->in_recovery ? "the server is a standby that was not promoted"
                                  : "its sync has not completed: it is still temporary");
    w2k_err_hint(err, "wal2kafka waits and retries; connect to the primary (conninfo naming "
                      "every host with target_session_attrs=read-write), or promote the standby; "
                      "a copy that stays temporary needs activity on the primary "
                      "(SELECT pg_log_standby_snapshot(); on 16+)");
    err->retryable = true;
    return -1;
}

int w2k_catalog_slot_usable(const w2k_slot_info_t *info, const char *slot, const char *stream,
                            const char *dbname, w2k_err_t *err)
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
    if (strcmp(info->wal_status, "lost") == 0 && info->invalidation_reason[0] &&
        strcmp(info->invalidation_reason, "wal_removed") != 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "replication slot \"%s\" was invalidated (%s)%s: changes since it last "
                    "confirmed cannot be decoded any more",
                    slot, info->invalidation_reason,
                    info->in_recovery ? " on the standby, by a conflict with recovery: the "
                                        "primary removed catalog rows the slot still needed"
                                      : "");
        w2k_err_hint(err,
                     "set on_slot_lost = \"recreate\" for stream %s and start wal2kafka again: "
                     "it drops the slot, creates a new one and takes a new snapshot of every "
                     "table (announced in the log); on a decoding standby set "
                     "hot_standby_feedback = on and primary_slot_name (a physical slot on the "
                     "primary) so this does not recur",
                     stream);
        return -1;
    }
    if (strcmp(info->wal_status, "lost") == 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "replication slot \"%s\" was invalidated: PostgreSQL removed WAL it still "
                    "needed, so changes since it last confirmed are gone",
                    slot);
        w2k_err_hint(err,
                     "set on_slot_lost = \"recreate\" for stream %s and start wal2kafka again: "
                     "it drops the slot, creates a new one and takes a new snapshot of every "
                     "table (announced in the log); raise max_slot_wal_keep_size so this does "
                     "not recur",
                     stream);
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
                            char *snapshot_name, bool failover, w2k_err_t *err)
{
    char sql[256];
    w2k_pg_caps_t caps;
    w2k_pg_caps(repl, &caps);
    char *q = PQescapeIdentifier(repl, slot, strlen(slot));
    if (failover && caps.failover_slots)
        snprintf(sql, sizeof sql,
                 "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT '%s', FAILOVER true)", q,
                 snapshot_name ? "export" : "nothing");
    else
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

int w2k_catalog_slot_failover(PGconn *repl, const char *slot, w2k_err_t *err)
{
    char sql[256];
    char *q = PQescapeIdentifier(repl, slot, strlen(slot));
    snprintf(sql, sizeof sql, "ALTER_REPLICATION_SLOT %s (FAILOVER true)", q);
    PQfreemem(q);
    char what[128];
    snprintf(what, sizeof what, "cannot turn failover on for replication slot \"%s\"", slot);
    PGresult *r = w2k_pg_query(repl, err, what, sql, 0, NULL);
    if (!r) {
        if (!err->hint[0])
            w2k_err_hint(err,
                         "run it yourself on the primary: ALTER_REPLICATION_SLOT %s "
                         "(FAILOVER true) on a replication connection, or set "
                         "postgresql.failover_slots = false",
                         slot);
        return -1;
    }
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

/* Built-in types (OIDs below FirstNormalObjectId) never change: their descriptions are
 * kept for the process, so describing 10,000 tables asks the server about each type
 * once rather than twice per column. Single-threaded like the rest of the catalog. */
#define TYPE_CACHE 512
static struct {
    bool used;
    uint32_t oid;
    int32_t typmod;
    w2k_typeinfo_t info;
} type_cache[TYPE_CACHE];

static size_t type_slot(uint32_t oid, int32_t typmod)
{
    return ((size_t)oid * 31u + (uint32_t)typmod) % TYPE_CACHE;
}

static int resolve_type(PGconn *c, uint32_t oid, int32_t typmod, w2k_typeinfo_t *out,
                        w2k_err_t *err);

int w2k_catalog_resolve_type(PGconn *c, uint32_t oid, int32_t typmod, w2k_typeinfo_t *out,
                             w2k_err_t *err)
{
    if (oid >= 16384)
        return resolve_type(c, oid, typmod, out, err);
    size_t h = type_slot(oid, typmod);
    for (size_t k = 0; k < 8 && type_cache[h].used; k++, h = (h + 1) % TYPE_CACHE)
        if (type_cache[h].oid == oid && type_cache[h].typmod == typmod) {
            *out = type_cache[h].info;
            return 0;
        }
    if (resolve_type(c, oid, typmod, out, err) != 0)
        return -1;
    /* kept only when every type it names is built-in too */
    if (out->oid < 16384 && out->elem_oid < 16384) {
        h = type_slot(oid, typmod);
        for (size_t k = 0; k < 8; k++, h = (h + 1) % TYPE_CACHE)
            if (!type_cache[h].used) {
                type_cache[h].used = true;
                type_cache[h].oid = oid;
                type_cache[h].typmod = typmod;
                type_cache[h].info = *out;
                break;
            }
    }
    return 0;
}

static int resolve_type(PGconn *c, uint32_t oid, int32_t typmod, w2k_typeinfo_t *out,
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

const char w2k_catalog_leaves_key_sql[] =
    "WITH RECURSIVE t(oid) AS (SELECT inhrelid FROM pg_inherits WHERE inhparent = $1::oid "
    "UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN t ON i.inhparent = t.oid), k AS "
    "(SELECT (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM pg_index i CROSS JOIN "
    "LATERAL unnest(i.indkey) WITH ORDINALITY AS x(attnum, ord) JOIN pg_attribute a ON "
    "a.attrelid = i.indrelid AND a.attnum = x.attnum WHERE i.indrelid = c.oid AND "
    "i.indisprimary) AS cols FROM t JOIN pg_class c ON c.oid = t.oid WHERE c.relkind = 'r') "
    "SELECT u.name FROM (SELECT DISTINCT cols FROM k) d CROSS JOIN LATERAL unnest(d.cols) WITH "
    "ORDINALITY AS u(name, ord) WHERE (SELECT count(DISTINCT cols) FROM k) = 1 AND NOT EXISTS "
    "(SELECT 1 FROM k WHERE cols IS NULL) ORDER BY u.ord";

/* Before 13, a partitioned table relid without a primary key of its own (PostgreSQL 10
 * has none): the primary key its leaf partitions have in common (the same columns in
 * the same order in each), or none (*n = 0). From 13 on, and for other tables, none.
 * Returns 0, or -1 with err. */
static int leaves_key(PGconn *c, uint32_t relid, char names[][64], int max, int *n, w2k_err_t *err)
{
    *n = 0;
    if (PQserverVersion(c) >= 130000)
        return 0;
    char oidbuf[16];
    snprintf(oidbuf, sizeof oidbuf, "%u", relid);
    const char *p[1] = {oidbuf};
    PGresult *r = w2k_pg_query(c, err, "looking up the key of a table's partitions",
                               w2k_catalog_leaves_key_sql, 1, p);
    if (!r)
        return -1;
    for (int i = 0; i < PQntuples(r) && i < max; i++)
        snprintf(names[(*n)++], 64, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return 0;
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
                w2k_warn_hint("the type was dropped since; consumers get the column as text",
                              "table %s.%s column %s: %s; sending its text form", rel->schema,
                              rel->name, col->name, err->msg);
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
    if (index_columns(c, rel->relid, rel->replident == 'i', names, 32, &n, err) != 0 ||
        (n == 0 && leaves_key(c, rel->relid, names, 32, &n, err) != 0))
        return -1;
    set_key(rel, names, n);
    return 0;
}

int w2k_catalog_root_key(PGconn *c, uint32_t root, w2k_relation_t *rel, w2k_err_t *err)
{
    char names[32][64]; /* INDEX_MAX_KEYS */
    int n = 0;
    if (index_columns(c, root, false, names, 32, &n, err) != 0 ||
        (n == 0 && leaves_key(c, root, names, 32, &n, err) != 0))
        return -1;
    for (int i = 0; i < rel->ncols; i++)
        rel->cols[i].key_pos = -1;
    set_key(rel, names, n);
    return 0;
}

/* The relation relid (schema.name, replica identity replident) with the columns named
 * in attnames (a name[] literal) or, when NULL, all of them, described; stored
 * generated columns only with gencols (a publication with publish_generated_columns =
 * stored sends them, 18+). Returns NULL with err. */
static w2k_relation_t *relation_with(PGconn *c, const char *relid, char replident,
                                     const char *schema, const char *name, const char *attnames,
                                     bool gencols, w2k_err_t *err)
{
    const char *q[3] = {relid, attnames, gencols ? "true" : "false"};
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    /* pgoutput sends no generated columns before 18; attgenerated is 12+ (none before) */
    PGresult *r = w2k_pg_query(c, err, "listing a table's columns",
                               caps.generated_columns
                                   ? "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE "
                                     "attrelid = $1 AND attnum > 0 AND NOT attisdropped AND "
                                     "(attgenerated = '' OR (attgenerated = 's' AND $3::bool)) "
                                     "AND ($2::name[] IS NULL OR attname = ANY($2::name[])) "
                                     "ORDER BY attnum"
                                   : "SELECT attname, atttypid, atttypmod FROM pg_attribute WHERE "
                                     "attrelid = $1 AND attnum > 0 AND NOT attisdropped AND "
                                     "($2::name[] IS NULL OR attname = ANY($2::name[])) AND "
                                     "$3::bool IS NOT NULL ORDER BY attnum",
                               3, q);
    if (!r)
        return NULL;
    w2k_relation_t *rel = w2k_relation_new(PQntuples(r));
    if (!rel) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
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
        return NULL;
    }
    return rel;
}

/* Whether schema.name is a partitioned table (false too when the lookup fails). */
static bool is_partitioned(PGconn *c, const char *schema, const char *name)
{
    const char *p[2] = {schema, name};
    w2k_err_t e;
    PGresult *r = w2k_pg_query(c, &e, "looking up a table's kind",
                               "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = "
                               "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND "
                               "c.relkind = 'p'",
                               2, p);
    bool parted = r && PQntuples(r) == 1;
    PQclear(r);
    return parted;
}

int w2k_catalog_partition_root(PGconn *c, uint32_t relid, uint32_t *root, char schema[64],
                               char name[64], char (**cols)[64], int *ncols, w2k_err_t *err)
{
    char oid[16];
    snprintf(oid, sizeof oid, "%u", relid);
    const char *p[1] = {oid};
    *cols = NULL;
    *ncols = 0;
    /* the top-most ancestor (pg_partition_root is 12+), its columns in order */
    PGresult *r = w2k_pg_query(
        c, err, "looking up a partition's root",
        "WITH RECURSIVE up(oid, depth) AS (SELECT $1::oid, 0 UNION ALL SELECT i.inhparent, "
        "up.depth + 1 FROM pg_inherits i JOIN up ON i.inhrelid = up.oid) SELECT n.nspname, "
        "c.relname, a.attname, c.oid FROM up JOIN pg_class c ON c.oid = up.oid JOIN pg_namespace n "
        "ON "
        "n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND "
        "NOT a.attisdropped WHERE up.depth > 0 AND c.relkind = 'p' AND NOT c.relispartition "
        "ORDER BY a.attnum",
        1, p);
    if (!r)
        return -1;
    int n = PQntuples(r);
    if (n == 0) {
        PQclear(r);
        return 0;
    }
    *cols = calloc((size_t)n, sizeof **cols);
    if (!*cols) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    snprintf(schema, 64, "%s", PQgetvalue(r, 0, 0));
    snprintf(name, 64, "%s", PQgetvalue(r, 0, 1));
    *root = (uint32_t)strtoul(PQgetvalue(r, 0, 3), NULL, 10);
    for (int i = 0; i < n; i++)
        snprintf((*cols)[i], 64, "%s", PQgetvalue(r, i, 2));
    *ncols = n;
    PQclear(r);
    return 1;
}

/* The columns of w2k_catalog_table's query, which is over pg_publication_tables: that
 * view computes every table of the publications, so one query per table of a stream
 * over 10,000 tables costs 10,000 × 10,000 (w2k_catalog_pubtables asks once). */
#define PUBTABLE_COLS                                                                              \
    "c.oid, c.relreplident, %s, %s, %s, pt.schemaname::text, pt.tablename::text FROM "             \
    "pg_publication_tables pt JOIN pg_namespace n ON n.nspname = pt.schemaname JOIN pg_class "     \
    "c ON c.relnamespace = n.oid AND c.relname = pt.tablename WHERE pt.pubname = "                 \
    "ANY(string_to_array($1, ','))"

/* w2k_catalog_table's query (15+: attnames and rowfilter; before, a publication holds
 * every column and filters no row: NULL attnames, all columns), with one table's
 * condition or none, into sql. */
static void pubtable_sql(const w2k_pg_caps_t *caps, bool one, char *sql, size_t sqlsz)
{
    snprintf(sql, sqlsz, "SELECT " PUBTABLE_COLS "%s",
             caps->publication_filters ? "pt.attnames::text" : "NULL::text",
             caps->publication_filters ? "pt.rowfilter" : "NULL::text",
             caps->publish_generated
                 ? "(SELECT p.pubgencols = 's' FROM pg_publication p WHERE p.pubname = pt.pubname)"
                 : "false",
             one ? " AND pt.schemaname = $2 AND pt.tablename = $3" : "");
}

/* The relation of row i of a pubtable_sql result. */
static w2k_relation_t *pubtable_relation(PGconn *c, const PGresult *r, int i, const char *schema,
                                         const char *name, char **rowfilter, w2k_err_t *err)
{
    char relid[16], replident = PQgetvalue(r, i, 1)[0];
    snprintf(relid, sizeof relid, "%s", PQgetvalue(r, i, 0));
    bool all_columns = PQgetisnull(r, i, 2);
    bool gencols = PQgetvalue(r, i, 4)[0] == 't';
    char *attnames = all_columns ? NULL : strdup(PQgetvalue(r, i, 2));
    if (!PQgetisnull(r, i, 3))
        *rowfilter = strdup(PQgetvalue(r, i, 3));
    w2k_relation_t *rel = attnames || all_columns ? relation_with(c, relid, replident, schema, name,
                                                                  attnames, gencols, err)
                                                  : NULL;
    if (!attnames && !all_columns)
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    free(attnames);
    if (!rel) {
        free(*rowfilter);
        *rowfilter = NULL;
    }
    return rel;
}

w2k_relation_t *w2k_catalog_table(PGconn *c, const char *pubs, const char *schema, const char *name,
                                  char **rowfilter, w2k_err_t *err)
{
    const char *p[3] = {pubs, schema, name};
    *rowfilter = NULL;
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    char sql[1024];
    pubtable_sql(&caps, true, sql, sizeof sql);
    PGresult *r = w2k_pg_query(c, err, "looking up a published table", sql, 3, p);
    if (!r)
        return NULL;
    if (PQntuples(r) == 0 && !caps.publish_via_root && is_partitioned(c, schema, name)) {
        /* before 13 its leaf partitions are published in its place, each column of them
         * (no column lists, no row filters before 15): described as itself */
        PQclear(r);
        return w2k_catalog_relation(c, schema, name, err);
    }
    if (PQntuples(r) != 1) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_POSTGRES, "table %s.%s is not in publication %s", schema, name,
                    pubs);
        return NULL;
    }
    w2k_relation_t *rel = pubtable_relation(c, r, 0, schema, name, rowfilter, err);
    PQclear(r);
    return rel;
}

struct w2k_catalog_pubtables_s {
    PGresult *r;
    char *pubs;
    int *slot; /* rows by schema and name: row + 1, 0 when free; open addressing */
    size_t nslot;
};

w2k_catalog_pubtables_t *w2k_catalog_pubtables(PGconn *c, const char *pubs, w2k_err_t *err)
{
    w2k_catalog_pubtables_t *pt = calloc(1, sizeof *pt);
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    char sql[1024];
    pubtable_sql(&caps, false, sql, sizeof sql);
    const char *p[1] = {pubs};
    if (!pt || !(pt->pubs = strdup(pubs))) {
        free(pt);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    if (!(pt->r = w2k_pg_query(c, err, "looking up the published tables", sql, 1, p))) {
        w2k_catalog_pubtables_free(pt);
        return NULL;
    }
    int n = PQntuples(pt->r);
    for (pt->nslot = 16; pt->nslot < 2 * (size_t)n;)
        pt->nslot <<= 1;
    if (!(pt->slot = calloc(pt->nslot, sizeof *pt->slot))) {
        w2k_catalog_pubtables_free(pt);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        size_t h =
            w2k_names_hash(PQgetvalue(pt->r, i, 5), PQgetvalue(pt->r, i, 6)) & (pt->nslot - 1);
        while (pt->slot[h])
            h = (h + 1) & (pt->nslot - 1);
        pt->slot[h] = i + 1;
    }
    return pt;
}

w2k_relation_t *w2k_catalog_pubtables_table(PGconn *c, const w2k_catalog_pubtables_t *pt,
                                            const char *schema, const char *name, char **rowfilter,
                                            w2k_err_t *err)
{
    *rowfilter = NULL;
    int found = -1, count = 0;
    for (size_t h = w2k_names_hash(schema, name) & (pt->nslot - 1); pt->slot[h];
         h = (h + 1) & (pt->nslot - 1)) {
        int i = pt->slot[h] - 1;
        if (strcmp(PQgetvalue(pt->r, i, 5), schema) == 0 &&
            strcmp(PQgetvalue(pt->r, i, 6), name) == 0) {
            found = i;
            count++;
        }
    }
    /* not there, or there twice (in two of the publications): asked on its own, which
     * says why */
    if (count != 1)
        return w2k_catalog_table(c, pt->pubs, schema, name, rowfilter, err);
    return pubtable_relation(c, pt->r, found, schema, name, rowfilter, err);
}

void w2k_catalog_pubtables_free(w2k_catalog_pubtables_t *pt)
{
    if (!pt)
        return;
    PQclear(pt->r);
    free(pt->pubs);
    free(pt->slot);
    free(pt);
}

/* A table's OID and replica identity (pg_class.relreplident). Returns 0, or -1 with err
 * (also when the table does not exist). */
static int table_identity(PGconn *c, const char *schema, const char *name, uint32_t *relid,
                          char *replident, w2k_err_t *err)
{
    const char *p[2] = {schema, name};
    PGresult *r = w2k_pg_query(c, err, "looking up a table",
                               "SELECT c.oid, c.relreplident FROM pg_class c JOIN pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                               2, p);
    if (!r)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        w2k_err_set(err, W2K_EXIT_POSTGRES, "table %s.%s does not exist", schema, name);
        return -1;
    }
    *relid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    *replident = PQgetvalue(r, 0, 1)[0];
    PQclear(r);
    return 0;
}

w2k_relation_t *w2k_catalog_relation(PGconn *c, const char *schema, const char *name,
                                     w2k_err_t *err)
{
    uint32_t oid;
    char relid[16], replident;
    if (table_identity(c, schema, name, &oid, &replident, err) != 0)
        return NULL;
    snprintf(relid, sizeof relid, "%" PRIu32, oid);
    return relation_with(c, relid, replident, schema, name, NULL, false, err);
}

/* The column PostgreSQL names in "column "x" does not exist" (or "column t.x ..."). */
static void undefined_column(const char *msg, char *col, size_t colsz)
{
    const char *p = msg && strncmp(msg, "column ", 7) == 0 ? msg + 7 : "";
    size_t n;
    if (*p == '"') {
        p++;
        n = strcspn(p, "\"");
    } else {
        n = strcspn(p, " ");
        for (const char *dot = memchr(p, '.', n); dot; dot = memchr(p, '.', n)) {
            n -= (size_t)(dot + 1 - p);
            p = dot + 1;
        }
    }
    snprintf(col, colsz, "%.*s", (int)n, p);
}

int w2k_catalog_filter_outside_identity(PGconn *c, const char *schema, const char *name,
                                        const char *filter, char *col, size_t colsz, w2k_err_t *err)
{
    col[0] = '\0';
    uint32_t relid;
    char replident;
    if (table_identity(c, schema, name, &relid, &replident, err) != 0)
        return -1;
    if (replident == 'f')
        return 0;
    char names[32][64]; /* INDEX_MAX_KEYS */
    int n = 0;
    if (replident != 'n' && index_columns(c, relid, replident == 'i', names, 32, &n, err) != 0)
        return -1;
    /* The filter over the whole table (it must be valid), then over a relation of the
     * same name holding only the identity columns: a column outside it is undefined. */
    int rc = -1;
    w2k_buf_t sql = W2K_BUF_INIT;
    char *qs = PQescapeIdentifier(c, schema, strlen(schema));
    char *qn = PQescapeIdentifier(c, name, strlen(name));
    for (int pass = 0; pass < 2; pass++) {
        w2k_buf_reset(&sql);
        w2k_buf_puts(&sql, "EXPLAIN (COSTS OFF) SELECT 1 FROM ");
        if (pass == 0) {
            w2k_buf_printf(&sql, "ONLY %s.%s AS %s", qs, qn, qn);
        } else {
            w2k_buf_puts(&sql, "(SELECT ");
            for (int k = 0; k < n; k++) {
                char *qc = PQescapeIdentifier(c, names[k], strlen(names[k]));
                w2k_buf_printf(&sql, "%s%s", k ? ", " : "", qc);
                PQfreemem(qc);
            }
            w2k_buf_printf(&sql, " FROM ONLY %s.%s) AS %s", qs, qn, qn);
        }
        w2k_buf_printf(&sql, " WHERE (%s)", filter);
        PGresult *r = PQexec(c, sql.data);
        if (PQresultStatus(r) == PGRES_TUPLES_OK) {
            PQclear(r);
            if (pass == 1)
                rc = 0;
            continue;
        }
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (pass == 1 && state && strcmp(state, "42703") == 0) {
            undefined_column(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), col, colsz);
            rc = 1;
        } else {
            w2k_pg_set_error(err, c, r, "cannot tell which columns the row filter uses");
        }
        PQclear(r);
        break;
    }
    PQfreemem(qs);
    PQfreemem(qn);
    w2k_buf_free(&sql);
    return rc;
}

int w2k_catalog_publication_tables(PGconn *c, const char *pubs, w2k_pubtable_t **out, int *n,
                                   w2k_err_t *err)
{
    const char *p[1] = {pubs};
    *out = NULL;
    *n = 0;
    PGresult *r = w2k_pg_query(
        c, err, "listing the publication's tables",
        "SELECT (quote_ident(schemaname) || '.' || "
        "quote_ident(tablename))::regclass::oid, schemaname, tablename "
        "FROM pg_publication_tables WHERE pubname = ANY(string_to_array($1, ',')) "
        "AND (schemaname, tablename) <> ('" W2K_SIGNAL_SCHEMA "', '" W2K_SIGNAL_TABLE "')",
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

/* Append s as an element of a PostgreSQL array literal in b (after "{"). */
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

int w2k_catalog_relations(PGconn *c, const char *const *schemas, const char *const *names, int n,
                          w2k_relation_t **out, w2k_err_t *err)
{
    w2k_buf_t sa = W2K_BUF_INIT, na = W2K_BUF_INIT;
    w2k_buf_putc(&sa, '{');
    w2k_buf_putc(&na, '{');
    for (int i = 0; i < n; i++) {
        out[i] = NULL;
        put_array_elem(&sa, schemas[i]);
        put_array_elem(&na, names[i]);
    }
    w2k_buf_putc(&sa, '}');
    w2k_buf_putc(&na, '}');
    w2k_buf_putc(&sa, '\0');
    w2k_buf_putc(&na, '\0');
    w2k_pg_caps_t caps;
    w2k_pg_caps(c, &caps);
    const char *p[2] = {sa.data, na.data};
    char sql[1200];
    snprintf(sql, sizeof sql,
             "SELECT t.i, c.oid, c.relreplident, a.attname, a.atttypid, a.atttypmod, "
             "a.attnum = ANY(COALESCE((SELECT x.indkey::int2[] FROM pg_index x WHERE "
             "x.indrelid = c.oid AND CASE WHEN c.relreplident = 'i' THEN x.indisreplident "
             "ELSE x.indisprimary END LIMIT 1), '{}')) FROM unnest($1::text[], $2::text[]) "
             "WITH ORDINALITY AS t(s, n, i) JOIN pg_namespace ns ON ns.nspname = t.s JOIN "
             "pg_class c ON c.relnamespace = ns.oid AND c.relname = t.n JOIN pg_attribute a ON "
             "a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped%s WHERE c.relkind = "
             "'r' ORDER BY t.i, a.attnum",
             caps.generated_columns ? " AND a.attgenerated = ''" : "");
    /* one row per column, the tables' in order; key: in the primary key (or the replica
     * identity index with identity index), as w2k_catalog_describe finds it */
    PGresult *r = w2k_pg_query(c, err, "describing the stream's tables", sql, 2, p);
    w2k_buf_free(&sa);
    w2k_buf_free(&na);
    if (!r)
        return -1;
    int rows = PQntuples(r), rc = 0;
    for (int k = 0; k < rows && rc == 0;) {
        int i = atoi(PQgetvalue(r, k, 0)) - 1, ncols = 0;
        while (k + ncols < rows && atoi(PQgetvalue(r, k + ncols, 0)) - 1 == i)
            ncols++;
        if (i < 0 || i >= n || ncols > W2K_PG_MAX_COLUMNS) {
            k += ncols;
            continue;
        }
        w2k_relation_t *rel = w2k_relation_new(ncols);
        if (!rel) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            rc = -1;
            break;
        }
        rel->relid = (uint32_t)strtoul(PQgetvalue(r, k, 1), NULL, 10);
        snprintf(rel->schema, sizeof rel->schema, "%s", schemas[i]);
        snprintf(rel->name, sizeof rel->name, "%s", names[i]);
        uint8_t flags[W2K_PG_MAX_COLUMNS];
        for (int j = 0; j < ncols; j++, k++) {
            snprintf(rel->cols[j].name, sizeof rel->cols[j].name, "%s", PQgetvalue(r, k, 3));
            rel->cols[j].type_oid = (uint32_t)strtoul(PQgetvalue(r, k, 4), NULL, 10);
            rel->cols[j].typmod = atoi(PQgetvalue(r, k, 5));
            flags[j] = PQgetvalue(r, k, 6)[0] == 't';
        }
        /* the key columns are known: describe takes them as pgoutput's flags (identity
         * default or index) instead of asking for them table by table */
        char replident = PQgetvalue(r, k - 1, 2)[0];
        rel->replident = replident == 'i' ? 'i' : 'd';
        if (w2k_catalog_describe(c, rel, flags, err) != 0) {
            w2k_relation_free(rel);
            rc = -1;
            break;
        }
        rel->replident = replident;
        out[i] = rel;
    }
    PQclear(r);
    if (rc != 0)
        for (int i = 0; i < n; i++) {
            w2k_relation_free(out[i]);
            out[i] = NULL;
        }
    return rc;
}
