/* ddl.c — the DDL capture event trigger and the messages it writes. */
#include "ddl.h"
#include "pgconn.h"

#include <stdlib.h>
#include <string.h>

/* Fields are separated by the ASCII unit separator (0x1f): version, command tag,
 * schema, table name, relation OID, statement. */
#define SEP "\x1f"

static const char install_sql[] =
    "CREATE SCHEMA IF NOT EXISTS wal2kafka;\n"
    "CREATE OR REPLACE FUNCTION wal2kafka.capture_ddl() RETURNS event_trigger\n"
    "LANGUAGE plpgsql AS $fn$\n"
    "DECLARE r record;\n"
    "BEGIN\n"
    "  IF TG_EVENT = 'ddl_command_end' THEN\n"
    "    FOR r IN SELECT DISTINCT ON (c.objid) c.command_tag, c.schema_name, c.objid,\n"
    "               (SELECT relname FROM pg_class WHERE oid = c.objid) AS relname\n"
    "             FROM pg_event_trigger_ddl_commands() c\n"
    "             WHERE c.object_type = 'table' LOOP\n"
    "      PERFORM pg_logical_emit_message(true, 'wal2kafka.ddl', concat_ws(E'\\x1f', '1',\n"
    "        r.command_tag, r.schema_name, r.relname, r.objid::text, current_query()));\n"
    "    END LOOP;\n"
    "  ELSIF TG_EVENT = 'sql_drop' THEN\n"
    "    FOR r IN SELECT d.schema_name, d.object_name, d.objid\n"
    "             FROM pg_event_trigger_dropped_objects() d\n"
    "             WHERE d.object_type = 'table' AND d.original LOOP\n"
    "      PERFORM pg_logical_emit_message(true, 'wal2kafka.ddl', concat_ws(E'\\x1f', '1',\n"
    "        'DROP TABLE', r.schema_name, r.object_name, r.objid::text, current_query()));\n"
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

int w2k_ddl_install(PGconn *c, w2k_err_t *err)
{
    return run(c, install_sql, "cannot install the DDL capture trigger", err);
}

int w2k_ddl_remove(PGconn *c, w2k_err_t *err)
{
    return run(c, remove_sql, "cannot remove the DDL capture trigger", err);
}

int w2k_ddl_parse(const char *content, size_t len, char *buf, w2k_ddl_event_t *ev)
{
    char *fields[6];
    int n = 0;
    memcpy(buf, content, len);
    buf[len] = '\0';
    fields[n++] = buf;
    for (char *p = buf; *p && n < 6; p++) {
        if (*p == '\x1f') {
            *p = '\0';
            fields[n++] = p + 1;
        }
    }
    if (n != 6 || strcmp(fields[0], "1") != 0)
        return -1;
    char *end;
    unsigned long relid = strtoul(fields[4], &end, 10);
    if (*end || !*fields[4])
        return -1;
    ev->command = fields[1];
    ev->schema = fields[2];
    ev->name = fields[3];
    ev->relid = (uint32_t)relid;
    ev->query = fields[5];
    return 0;
}
