/* signals.c — wal2kafka's messages in the WAL: logical messages from PostgreSQL 14, the
 * signal table before (see signals.h). */
#include "signals.h"
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool w2k_signals_uses_table(int version_num)
{
    w2k_pg_caps_t caps;
    w2k_pg_caps_of(version_num, &caps);
    return !caps.logical_messages;
}

const char *w2k_signals_emit_sql(PGconn *c)
{
    return w2k_signals_uses_table(PQserverVersion(c))
               ? "INSERT INTO " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
                 " (prefix, content, transactional) VALUES ($1, $2, true)"
               : "SELECT pg_logical_emit_message(true, $1, $2)";
}

/* Identity columns (10+) take their values without rights on a sequence, so INSERT is
 * the only right a writer needs (the DDL trigger runs as whoever runs the DDL). */
static const char ensure_sql[] =
    "CREATE SCHEMA IF NOT EXISTS " W2K_SIGNAL_SCHEMA ";\n"
    "CREATE TABLE IF NOT EXISTS " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
    " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, prefix text NOT NULL,"
    " content text NOT NULL, transactional boolean NOT NULL DEFAULT true);\n"
    "GRANT USAGE ON SCHEMA " W2K_SIGNAL_SCHEMA " TO PUBLIC;\n"
    "GRANT INSERT ON " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE " TO PUBLIC;\n"
    "COMMENT ON TABLE " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
    " IS 'wal2kafka''s messages in the WAL before PostgreSQL 14: rows are read from the"
    " stream and deleted at the next start';\n";

int w2k_signals_ensure(PGconn *c, uint32_t *relid, w2k_err_t *err)
{
    *relid = 0;
    if (!w2k_signals_uses_table(PQserverVersion(c)))
        return 0;
    PGresult *r = w2k_pg_query(
        c, err, "looking up the signal table",
        "SELECT to_regclass('" W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE "')::oid", 0, NULL);
    if (!r)
        return -1;
    bool exists = !PQgetisnull(r, 0, 0);
    PQclear(r);
    if (!exists) {
        r = w2k_pg_query(c, err,
                         "cannot create the signal table " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
                         " (PostgreSQL before 14)",
                         ensure_sql, 0, NULL);
        if (!r) {
            w2k_err_hint(err, "PostgreSQL before 14 sends no logical messages: wal2kafka carries "
                              "its own in that table; let its role create schema " W2K_SIGNAL_SCHEMA
                              " (GRANT CREATE ON DATABASE), or create it as in "
                              "docs/postgresql-versions.md");
            return -1;
        }
        PQclear(r);
    }
    r = w2k_pg_query(c, err, "clearing the signal table",
                     "DELETE FROM " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE, 0, NULL);
    PQclear(r); /* best effort: rows left are read once, and handled once */
    r = w2k_pg_query(c, err, "looking up the signal table",
                     "SELECT '" W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE "'::regclass::oid", 0, NULL);
    if (!r)
        return -1;
    *relid = (uint32_t)strtoul(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

bool w2k_signals_is_table(const char *nspname, const char *relname)
{
    return strcmp(nspname, W2K_SIGNAL_SCHEMA) == 0 && strcmp(relname, W2K_SIGNAL_TABLE) == 0;
}

int w2k_signals_message(w2k_pgmsg_t *m, char *prefix, size_t n)
{
    if (m->kind != W2K_PGMSG_INSERT || m->newtup.ncols < 4)
        return -1;
    const w2k_pgdatum_t *p = &m->newtup.cols[1], *c = &m->newtup.cols[2], *t = &m->newtup.cols[3];
    if (p->kind != 't' || c->kind != 't' || p->len >= n)
        return -1;
    memcpy(prefix, p->data, p->len);
    prefix[p->len] = '\0';
    const char *content = c->data;
    uint32_t len = c->len;
    uint8_t flags = t->kind == 't' && t->len >= 1 && t->data[0] == 'f' ? 0 : 1;
    m->kind = W2K_PGMSG_MESSAGE;
    m->u.message.flags = flags;
    m->u.message.lsn = 0;
    m->u.message.prefix = prefix;
    m->u.message.len = len;
    m->u.message.content = content;
    return 0;
}
