/* ddl.c — the DDL capture event trigger and the messages it writes. */
#include "ddl.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "signals.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fields are separated by the ASCII unit separator (0x1f). Version 2: "2", command
 * tag, schema, table name, relation OID, replica identity, columns, statement. The
 * columns are the table's as the statement left them, read inside its transaction (so
 * a stream need not read the catalog, where the statement may not be visible yet or a
 * later statement may be): space-separated "type OID,typmod,key,name in hex", in
 * column order, dropped and generated columns left out; key is 1 for the columns of
 * the primary key (of the replica identity index with REPLICA IDENTITY USING INDEX).
 * A DROP TABLE has empty replica identity and columns. Version 1 (triggers installed
 * by older releases) has no replica identity and no columns. */

static const char install_sql[] =
    "CREATE SCHEMA IF NOT EXISTS wal2kafka;\n"
    "CREATE OR REPLACE FUNCTION wal2kafka.capture_ddl() RETURNS event_trigger\n"
    "LANGUAGE plpgsql AS $fn$\n"
    "DECLARE r record;\n"
    "BEGIN\n"
    "  IF TG_EVENT = 'ddl_command_end' THEN\n"
    /* ALTER TABLE ... RENAME COLUMN reports the object type 'table column' */
    "    FOR r IN SELECT DISTINCT ON (c.objid) c.command_tag, c.schema_name, c.objid,\n"
    "               k.relname, k.relreplident,\n"
    "               (SELECT string_agg(concat_ws(',', a.atttypid, a.atttypmod,\n"
    "                  CASE WHEN EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = k.oid\n"
    "                    AND CASE WHEN k.relreplident = 'i' THEN i.indisreplident\n"
    "                        ELSE i.indisprimary END\n"
    "                    AND a.attnum = ANY (i.indkey)) THEN 1 ELSE 0 END,\n"
    "                  encode(convert_to(a.attname, current_setting('server_encoding')),\n"
    "                         'hex')), ' ' ORDER BY a.attnum)\n"
    "                FROM pg_attribute a WHERE a.attrelid = k.oid AND a.attnum > 0\n"
    "                  AND NOT a.attisdropped\n"
    "                  AND coalesce(to_jsonb(a) ->> 'attgenerated', '') = '') AS columns\n"
    "             FROM pg_event_trigger_ddl_commands() c JOIN pg_class k ON k.oid = c.objid\n"
    "             WHERE c.object_type IN ('table', 'table column') LOOP\n"
    "      PERFORM pg_logical_emit_message(true, 'wal2kafka.ddl', concat('2', E'\\x1f',\n"
    "        r.command_tag, E'\\x1f', r.schema_name, E'\\x1f', r.relname, E'\\x1f', r.objid,\n"
    "        E'\\x1f', r.relreplident, E'\\x1f', r.columns, E'\\x1f', current_query()));\n"
    "    END LOOP;\n"
    "  ELSIF TG_EVENT = 'sql_drop' THEN\n"
    "    FOR r IN SELECT d.schema_name, d.object_name, d.objid\n"
    "             FROM pg_event_trigger_dropped_objects() d\n"
    "             WHERE d.object_type = 'table' AND d.original LOOP\n"
    "      PERFORM pg_logical_emit_message(true, 'wal2kafka.ddl', concat('2', E'\\x1f',\n"
    "        'DROP TABLE', E'\\x1f', r.schema_name, E'\\x1f', r.object_name, E'\\x1f',\n"
    "        r.objid, E'\\x1f', E'\\x1f', E'\\x1f', current_query()));\n"
    "    END LOOP;\n"
    "  END IF;\n"
    "END\n"
    "$fn$;\n"
    "DROP EVENT TRIGGER IF EXISTS wal2kafka_ddl_end;\n"
    "DROP EVENT TRIGGER IF EXISTS wal2kafka_ddl_drop;\n"
    "CREATE EVENT TRIGGER wal2kafka_ddl_end ON ddl_command_end\n"
    "  WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE', 'CREATE TABLE AS', 'SELECT INTO')\n"
    "  EXECUTE FUNCTION wal2kafka.capture_ddl();\n"
    "CREATE EVENT TRIGGER wal2kafka_ddl_drop ON sql_drop\n"
    "  WHEN TAG IN ('DROP TABLE') EXECUTE FUNCTION wal2kafka.capture_ddl();\n";

static const char remove_sql[] = "DROP EVENT TRIGGER IF EXISTS wal2kafka_ddl_end;\n"
                                 "DROP EVENT TRIGGER IF EXISTS wal2kafka_ddl_drop;\n"
                                 "DROP FUNCTION IF EXISTS wal2kafka.capture_ddl();\n"
                                 "DO $$ BEGIN\n"
                                 "  IF NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace n\n"
                                 "                 ON d.refobjid = n.oid WHERE n.nspname =\n"
                                 "                 'wal2kafka' AND d.deptype = 'n') THEN\n"
                                 "    DROP SCHEMA IF EXISTS wal2kafka;\n"
                                 "  END IF;\n"
                                 "END $$;\n";

static int run(PGconn *c, const char *sql, const char *what, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(c, err, what, "BEGIN", 0, NULL);
    PQclear(r);
    if (!r)
        return -1;
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        w2k_pg_set_error(err, c, r, what);
        if (strstr(err->msg, "superuser") || strstr(err->msg, "permission denied"))
            w2k_err_hint(err, "event triggers can only be created by a superuser: run this "
                              "command once with a superuser's conninfo (e.g. PGUSER=postgres)");
        PQclear(r);
        PQclear(PQexec(c, "ROLLBACK"));
        return -1;
    }
    PQclear(r);
    r = w2k_pg_query(c, err, what, "COMMIT", 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

/* Replace every occurrence of from in text by to, into a new string (NULL when out of
 * memory). */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), count = 0;
    for (const char *p = text; (p = strstr(p, from)); p += nf)
        count++;
    char *out = malloc(strlen(text) + count * (nt > nf ? nt - nf : 0) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = text, *q; *p; p = q + nf) {
        if (!(q = strstr(p, from))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, to, nt);
        o += nt;
    }
    *o = '\0';
    return out;
}

int w2k_ddl_install(PGconn *c, w2k_err_t *err)
{
    int version = PQserverVersion(c);
    if (!w2k_signals_uses_table(version))
        return run(c, install_sql, "cannot install the DDL capture trigger", err);
    /* Before 14 pgoutput sends no logical messages: the trigger writes its events into
     * the signal table (which must exist before, or every DDL statement would fail);
     * before 11 an event trigger executes a PROCEDURE. */
    uint32_t relid;
    if (w2k_signals_ensure(c, &relid, err) != 0)
        return -1;
    /* a DDL statement must not fail when someone dropped the table since */
    char *a = replace_all(install_sql, "PERFORM pg_logical_emit_message(true, 'wal2kafka.ddl', ",
                          "IF to_regclass('" W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
                          "') IS NOT NULL THEN INSERT INTO " W2K_SIGNAL_SCHEMA "." W2K_SIGNAL_TABLE
                          " (prefix, content) VALUES ('wal2kafka.ddl', ");
    char *b = a ? replace_all(a, "current_query()));", "current_query())); END IF;") : NULL;
    char *sql = b && version < 110000 ? replace_all(b, "EXECUTE FUNCTION", "EXECUTE PROCEDURE") : b;
    int rc = -1;
    if (!sql)
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    else
        rc = run(c, sql, "cannot install the DDL capture trigger", err);
    if (sql != b)
        free(sql);
    free(b);
    free(a);
    return rc;
}

int w2k_ddl_remove(PGconn *c, w2k_err_t *err)
{
    return run(c, remove_sql, "cannot remove the DDL capture trigger", err);
}

int w2k_ddl_parse(const char *content, size_t len, char *buf, w2k_ddl_event_t *ev)
{
    char *fields[8];
    int n = 0, want = 0;
    memcpy(buf, content, len);
    buf[len] = '\0';
    fields[n++] = buf;
    /* the statement is the last field: it may hold the separator itself */
    for (char *p = buf; *p && (!want || n < want); p++) {
        if (*p == '\x1f') {
            *p = '\0';
            if (!want)
                want = strcmp(buf, "1") == 0 ? 6 : strcmp(buf, "2") == 0 ? 8 : -1;
            if (want < 0)
                return -1;
            fields[n++] = p + 1;
        }
    }
    if (!want || n != want)
        return -1;
    char *end;
    unsigned long relid = strtoul(fields[4], &end, 10);
    if (*end || !*fields[4])
        return -1;
    ev->command = fields[1];
    ev->schema = fields[2];
    ev->name = fields[3];
    ev->relid = (uint32_t)relid;
    ev->replident = 0;
    ev->columns = NULL;
    ev->query = fields[n - 1];
    if (want == 8 && *fields[5]) {
        if (fields[5][1])
            return -1;
        ev->replident = fields[5][0];
        ev->columns = fields[6];
    }
    return 0;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parse one column "type OID,typmod,key,name in hex" (len bytes at s) into col and
 * *key. Returns 0, or -1 when malformed. */
static int parse_column(const char *s, size_t len, w2k_column_t *col, bool *key)
{
    char num[3][16];
    for (int f = 0; f < 3; f++) {
        const char *comma = memchr(s, ',', len);
        if (!comma || comma == s || (size_t)(comma - s) >= sizeof num[f])
            return -1;
        memcpy(num[f], s, (size_t)(comma - s));
        num[f][comma - s] = '\0';
        len -= (size_t)(comma - s) + 1;
        s = comma + 1;
    }
    char *end;
    unsigned long oid = strtoul(num[0], &end, 10);
    if (*end)
        return -1;
    long typmod = strtol(num[1], &end, 10);
    if (*end || (strcmp(num[2], "0") && strcmp(num[2], "1")))
        return -1;
    if (len == 0 || len % 2 || len / 2 >= sizeof col->name)
        return -1;
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return -1;
        col->name[i] = (char)(hi << 4 | lo);
    }
    col->name[len / 2] = '\0';
    col->type_oid = (uint32_t)oid;
    col->typmod = (int32_t)typmod;
    *key = num[2][0] == '1';
    return 0;
}

w2k_relation_t *w2k_ddl_relation(const w2k_ddl_event_t *ev, uint8_t *keyflags)
{
    if (!ev->columns)
        return NULL;
    int ncols = 0;
    for (const char *p = ev->columns; *p; ncols++) {
        const char *sp = strchr(p, ' ');
        p = sp ? sp + 1 : p + strlen(p);
    }
    if (ncols > W2K_PG_MAX_COLUMNS)
        return NULL;
    w2k_relation_t *rel = w2k_relation_new(ncols);
    if (!rel)
        return NULL;
    rel->relid = ev->relid;
    rel->replident = ev->replident;
    snprintf(rel->schema, sizeof rel->schema, "%s", ev->schema);
    snprintf(rel->name, sizeof rel->name, "%s", ev->name);
    const char *p = ev->columns;
    for (int i = 0; i < ncols; i++) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        bool key;
        if (parse_column(p, len, &rel->cols[i], &key) != 0) {
            w2k_relation_free(rel);
            return NULL;
        }
        keyflags[i] = key ? 1 : 0;
        p += len + (sp ? 1 : 0);
    }
    return rel;
}
