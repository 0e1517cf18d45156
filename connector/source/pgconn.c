/* pgconn.c — PostgreSQL connections, error hints and the replication protocol. */
#include "pgconn.h"
#include "clock.h"
#include "log.h"
#include "secret.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>

#define SESSION_OPTIONS                                                                            \
    "-c datestyle=ISO -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3 "          \
    "-c bytea_output=hex"

const char *w2k_lsn_str(w2k_lsn_t lsn, char *buf)
{
    snprintf(buf, 20, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32), (uint32_t)lsn);
    return buf;
}

int w2k_lsn_parse(const char *s, w2k_lsn_t *out)
{
    unsigned hi, lo;
    int n = 0;
    if (!s || sscanf(s, "%X/%X%n", &hi, &lo, &n) != 2 || s[n] != '\0')
        return -1;
    *out = ((w2k_lsn_t)hi << 32) | lo;
    return 0;
}

/* First line of a libpq message, without the "FATAL:  " style prefix. */
static void first_line(const char *msg, char *out, size_t outsz)
{
    const char *p = msg ? msg : "";
    for (const char *pre = strstr(p, ":  "); pre && pre - p < 10; pre = NULL)
        p = pre + 3;
    size_t n = strcspn(p, "\n");
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void connect_error(w2k_err_t *err, PGconn *c, const char *user, bool replication)
{
    char line[768];
    const char *m = PQerrorMessage(c);
    first_line(m, line, sizeof line);
    const char *host = PQhost(c) ? PQhost(c) : "?";
    const char *port = PQport(c) ? PQport(c) : "?";
    const char *db = PQdb(c) ? PQdb(c) : "?";
    w2k_err_set(err, W2K_EXIT_POSTGRES, "cannot connect to PostgreSQL at %s:%s%s: %s", host, port,
                replication ? " for replication" : "", line);
    if (strstr(m, "password authentication failed"))
        w2k_err_hint(err,
                     "the password for role \"%s\" is wrong: fix it in PGPASSWORD, ~/.pgpass or "
                     "the file named by postgresql.password_file",
                     user);
    else if (strstr(m, "no password supplied"))
        w2k_err_hint(err, "the server wants a password: set PGPASSWORD, add it to ~/.pgpass, or "
                          "set postgresql.password_file");
    else if (strstr(m, "database") && strstr(m, "does not exist"))
        w2k_err_hint(err,
                     "create the database (CREATE DATABASE %s;) or fix dbname in "
                     "postgresql.conninfo",
                     db);
    else if (strstr(m, "role") && strstr(m, "does not exist"))
        w2k_err_hint(err,
                     "create the role (CREATE ROLE %s LOGIN REPLICATION PASSWORD '...';) or "
                     "fix user in postgresql.conninfo",
                     user);
    else if (strstr(m, "no pg_hba.conf entry"))
        w2k_err_hint(err,
                     "allow this client in pg_hba.conf, e.g. \"host %s %s <client-address>/32 "
                     "scram-sha-256\", then SELECT pg_reload_conf();",
                     replication ? "replication" : db, user);
    else if (strstr(m, "certificate verify failed") || strstr(m, "certificate") ||
             strstr(m, "does not match host name"))
        w2k_err_hint(err,
                     "the server's TLS certificate does not verify: point sslrootcert in "
                     "postgresql.conninfo at the CA that signed it, and with sslmode=verify-full "
                     "connect by a host name the certificate names");
    else if (strstr(m, "server does not support SSL"))
        w2k_err_hint(err, "the server has TLS off: turn ssl on in postgresql.conf, or lower "
                          "sslmode in postgresql.conninfo");
    else if (strstr(m, "permission denied for database"))
        w2k_err_hint(err, "run GRANT CONNECT ON DATABASE %s TO %s; as the database's owner", db,
                     user);
    else if (strstr(m, "replication") && (strstr(m, "permission") || strstr(m, "must be")))
        w2k_err_hint(err,
                     "give the role the REPLICATION attribute: ALTER ROLE %s WITH "
                     "REPLICATION;",
                     user);
    else if (strstr(m, "too many clients") || strstr(m, "number of requested standby") ||
             strstr(m, "remaining connection slots")) {
        w2k_err_hint(err, "the server has no free connection or WAL sender slot: raise "
                          "max_connections / max_wal_senders, or stop unused clients");
        err->retryable = true;
    } else {
        w2k_err_hint(err,
                     "check that PostgreSQL is running and reachable at %s:%s and that "
                     "postgresql.conninfo is right",
                     host, port);
        err->retryable = true;
    }
}

static int read_password_file(const char *path, char *out, size_t outsz, w2k_err_t *err)
{
    return w2k_secret_read_file(path, "postgresql.password_file", out, outsz, err);
}

/* Open a connection with wal2kafka's session settings: blocking (w2k_pg_connect), or
 * started without blocking (async: a probe; NULL only when it cannot start). */
static PGconn *connect_params(const char *conninfo, const char *password_file, bool replication,
                              bool async, w2k_err_t *err)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    if (!opts) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "postgresql.conninfo is not valid: %s",
                    perr ? perr : "out of memory");
        w2k_err_hint(err, "write it as \"host=... port=... dbname=... user=...\" or as a "
                          "postgresql:// URI");
        PQfreemem(perr);
        return NULL;
    }
    const char *keys[64], *vals[64];
    char options[1024], password[1024];
    int n = 0;
    const char *user = NULL, *app = NULL, *user_options = NULL;
    bool keepalives_set = false;
    for (PQconninfoOption *o = opts; o->keyword && n < 56; o++) {
        if (!o->val || strcmp(o->keyword, "replication") == 0)
            continue;
        if (strncmp(o->keyword, "keepalives", 10) == 0)
            keepalives_set = true;
        if (strcmp(o->keyword, "options") == 0) {
            user_options = o->val;
            continue;
        }
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        if (strcmp(o->keyword, "application_name") == 0)
            app = o->val;
        keys[n] = o->keyword;
        vals[n++] = o->val;
    }
    snprintf(options, sizeof options, "%s%s" SESSION_OPTIONS, user_options ? user_options : "",
             user_options ? " " : "");
    keys[n] = "options";
    vals[n++] = options;
    if (!app) {
        keys[n] = "application_name";
        vals[n++] = "wal2kafka";
    }
    if (replication) {
        keys[n] = "replication";
        vals[n++] = "database";
    }
    if (!keepalives_set) {
        /* the OS default waits two hours before the first probe */
        static const char *const ka[][2] = {
            {"keepalives_idle", "30"}, {"keepalives_interval", "10"}, {"keepalives_count", "3"}};
        for (size_t i = 0; i < sizeof ka / sizeof *ka; i++) {
            keys[n] = ka[i][0];
            vals[n++] = ka[i][1];
        }
    }
    if (password_file) {
        if (read_password_file(password_file, password, sizeof password, err) != 0) {
            PQconninfoFree(opts);
            return NULL;
        }
        keys[n] = "password";
        vals[n++] = password;
    }
    keys[n] = vals[n] = NULL;
    PGconn *c = async ? PQconnectStartParams(keys, vals, 0) : PQconnectdbParams(keys, vals, 0);
    memset(password, 0, sizeof password);
    if (async) {
        if (c && PQstatus(c) == CONNECTION_BAD) {
            PQfinish(c);
            c = NULL;
        }
    } else if (PQstatus(c) != CONNECTION_OK) {
        connect_error(err, c, user ? user : PQuser(c), replication);
        PQfinish(c);
        c = NULL;
    }
    PQconninfoFree(opts);
    return c;
}

PGconn *w2k_pg_connect(const char *conninfo, const char *password_file, bool replication,
                       w2k_err_t *err)
{
    return connect_params(conninfo, password_file, replication, false, err);
}

struct w2k_pg_probe_s {
    PGconn *conn;
    PostgresPollingStatusType want; /* what PQconnectPoll last waited for */
};

w2k_pg_probe_t *w2k_pg_probe_start(const char *conninfo, const char *password_file)
{
    w2k_err_t err;
    PGconn *c = connect_params(conninfo, password_file, false, true, &err);
    if (!c)
        return NULL;
    w2k_pg_probe_t *p = malloc(sizeof *p);
    if (!p) {
        PQfinish(c);
        return NULL;
    }
    p->conn = c;
    p->want = PGRES_POLLING_WRITING; /* libpq's rule for a connection just started */
    return p;
}

int w2k_pg_probe_poll(w2k_pg_probe_t *p)
{
    for (;;) {
        if (p->want == PGRES_POLLING_OK)
            return 1;
        if (p->want == PGRES_POLLING_FAILED)
            return -1;
        /* PQconnectPoll only once the socket is ready for what it waits for */
        struct pollfd pfd = {PQsocket(p->conn), p->want == PGRES_POLLING_READING ? POLLIN : POLLOUT,
                             0};
        if (pfd.fd < 0)
            return -1;
        if (poll(&pfd, 1, 0) <= 0)
            return 0; /* not ready (or interrupted): look again later */
        p->want = PQconnectPoll(p->conn);
    }
}

void w2k_pg_probe_free(w2k_pg_probe_t *p)
{
    if (!p)
        return;
    PQfinish(p->conn);
    free(p);
}

/* The GRANT that fixes "permission denied for <kind> <name>", else a pointer to the
 * docs. */
static void privilege_hint(w2k_err_t *err, PGconn *conn, const char *msg)
{
    const char *role = conn && PQuser(conn) ? PQuser(conn) : "the_role";
    static const char *const kinds[][2] = {
        {"permission denied for schema ", "GRANT USAGE ON SCHEMA"},
        {"permission denied for table ", "GRANT SELECT ON"},
        {"permission denied for database ", "GRANT CREATE ON DATABASE"}};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        const char *p = strstr(msg, kinds[i][0]);
        if (!p)
            continue;
        char name[200];
        snprintf(name, sizeof name, "%s", p + strlen(kinds[i][0]));
        name[strcspn(name, " \n")] = '\0';
        if (i == 2)
            w2k_err_hint(err,
                         "run %s %s TO %s; (creating a publication needs it), or have the tables' "
                         "owner create the stream's publication (docs/operations.md)",
                         kinds[i][1], name, role);
        else
            w2k_err_hint(err,
                         "run %s %s TO %s; (docs/operations.md lists what a wal2kafka role "
                         "needs)",
                         kinds[i][1], name, role);
        return;
    }
    w2k_err_hint(err, "the role lacks a privilege: see docs/operations.md for the GRANT "
                      "statements a wal2kafka role needs");
}

void w2k_pg_set_error(w2k_err_t *err, PGconn *conn, const PGresult *res, const char *what)
{
    char line[768];
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg) {
        first_line(conn ? PQerrorMessage(conn) : "", line, sizeof line);
        msg = line;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    w2k_err_set(err, W2K_EXIT_POSTGRES, "%s: %s%s%s", what, msg, detail ? " — " : "",
                detail ? detail : "");
    if (!state) {
        if (conn && PQstatus(conn) != CONNECTION_OK) {
            w2k_err_hint(err, "the connection to PostgreSQL was lost; wal2kafka reconnects");
            err->retryable = true;
        }
        return;
    }
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
        strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        w2k_err_hint(err, "the server is restarting or the connection broke; wal2kafka "
                          "reconnects");
        err->retryable = true;
    } else if (strcmp(state, "42501") == 0) {
        privilege_hint(err, conn, msg);
    } else if (strcmp(state, "53400") == 0) {
        w2k_err_hint(err, "every replication slot is in use: raise max_replication_slots "
                          "(ALTER SYSTEM SET max_replication_slots = ...; then restart "
                          "PostgreSQL) or drop an unused slot with "
                          "SELECT pg_drop_replication_slot('name');");
    } else if (strcmp(state, "55000") == 0 && strstr(msg, "wal_level")) {
        w2k_err_hint(err, "logical decoding needs wal_level = logical: run ALTER SYSTEM SET "
                          "wal_level = logical; then restart PostgreSQL");
    } else if (strcmp(state, "55000") == 0 && strstr(msg, "invalidated")) {
        w2k_err_hint(err,
                     "PostgreSQL removed WAL this slot still needed (max_slot_wal_keep_size), "
                     "so changes were lost: set on_slot_lost = \"recreate\" for the stream and "
                     "start wal2kafka again (it drops the slot, creates a new one and takes a "
                     "new snapshot); raise max_slot_wal_keep_size so this does not recur");
    } else if (strcmp(state, "55000") == 0 && strstr(msg, "cannot use replication slot") &&
               detail && strstr(detail, "being synchronized")) {
        w2k_err_hint(err, "this server is a standby holding a synced copy of the slot: wal2kafka "
                          "waits and retries; name every host in conninfo with "
                          "target_session_attrs=read-write so it connects to the primary");
        err->retryable = true;
    } else if (strcmp(state, "55006") == 0) {
        w2k_err_hint(err, "another process uses this replication slot: stop it (another "
                          "wal2kafka or a subscriber), or give this stream its own slot name "
                          "in the config");
        err->retryable = false;
    }
}

PGresult *w2k_pg_query(PGconn *conn, w2k_err_t *err, const char *what, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *r =
        nparams ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) : PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return r;
    w2k_pg_set_error(err, conn, r, what);
    PQclear(r);
    return NULL;
}

PGresult *w2k_pg_query_within(PGconn *conn, int timeout_ms, w2k_err_t *err, const char *what,
                              const char *sql, int nparams, const char *const *params)
{
    if (timeout_ms <= 0)
        return w2k_pg_query(conn, err, what, sql, nparams, params);
    if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)) {
        w2k_pg_set_error(err, conn, NULL, what);
        return NULL;
    }
    int64_t end = w2k_clock_mono_ms() + timeout_ms;
    PGresult *last = NULL, *r;
    for (;;) {
        while (PQisBusy(conn)) {
            int64_t left = end - w2k_clock_mono_ms();
            struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
            int ready = left > 0 ? poll(&pfd, 1, (int)left) : 0;
            if (ready == 0) {
                PQclear(last);
                w2k_err_set(err, W2K_EXIT_POSTGRES,
                            "%s: PostgreSQL did not answer within %d ms (the connection is "
                            "presumed dead)",
                            what, timeout_ms);
                w2k_err_hint(err, "wal2kafka reconnects; if the server is only slow, raise "
                                  "postgresql.receive_timeout_ms");
                err->retryable = true;
                return NULL;
            }
            if ((ready < 0 && errno != EINTR) || !PQconsumeInput(conn)) {
                PQclear(last);
                w2k_pg_set_error(err, conn, NULL, what);
                return NULL;
            }
        }
        if (!(r = PQgetResult(conn)))
            break;
        /* as PQexec: the last result, but an error wins */
        if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(last);
        last = r;
    }
    ExecStatusType st = PQresultStatus(last);
    if (last && (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK))
        return last;
    w2k_pg_set_error(err, conn, last, what);
    PQclear(last);
    return NULL;
}

int w2k_pg_identify(PGconn *repl, w2k_pg_ident_t *out, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(repl, err, "IDENTIFY_SYSTEM", "IDENTIFY_SYSTEM", 0, NULL);
    if (!r)
        return -1;
    if (PQntuples(r) != 1 || PQnfields(r) < 4) {
        w2k_err_set(err, W2K_EXIT_POSTGRES, "IDENTIFY_SYSTEM returned %d rows and %d columns",
                    PQntuples(r), PQnfields(r));
        PQclear(r);
        return -1;
    }
    snprintf(out->systemid, sizeof out->systemid, "%s", PQgetvalue(r, 0, 0));
    out->timeline = (uint32_t)strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    w2k_lsn_parse(PQgetvalue(r, 0, 2), &out->xlogpos);
    snprintf(out->dbname, sizeof out->dbname, "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    return 0;
}

void w2k_pg_caps_of(int version_num, w2k_pg_caps_t *out)
{
    memset(out, 0, sizeof *out);
    out->version_num = version_num;
    out->publish_truncate = version_num >= 110000;
    out->generated_columns = version_num >= 120000;
    out->slot_wal_status = version_num >= 130000;
    out->publish_via_root = version_num >= 130000;
    out->logical_messages = version_num >= 140000;
    out->streaming_v2 = version_num >= 140000;
    out->slot_stats = version_num >= 140000;
    out->publication_filters = version_num >= 150000;
    out->failover_slots = version_num >= 170000;
    out->publish_generated = version_num >= 180000;
}

void w2k_pg_caps(PGconn *c, w2k_pg_caps_t *out)
{
    w2k_pg_caps_of(c ? PQserverVersion(c) : 0, out);
}

const char *w2k_pg_version_str(int version_num, char *buf)
{
    if (version_num >= 100000)
        snprintf(buf, 16, "%d.%d", version_num / 10000, version_num % 10000);
    else
        snprintf(buf, 16, "%d.%d.%d", version_num / 10000, version_num / 100 % 100,
                 version_num % 100);
    return buf;
}

void w2k_pg_set_unsupported(w2k_err_t *err, int version_num, const char *feature, int min_major,
                            const char *what_to_do)
{
    char v[16];
    w2k_err_set(err, W2K_EXIT_POSTGRES, "PostgreSQL %s has no %s (PostgreSQL %d or newer has it)",
                w2k_pg_version_str(version_num, v), feature, min_major);
    w2k_err_hint(err, "%s", what_to_do);
}

int w2k_pg_start_replication(PGconn *repl, const char *slot, const char *publications,
                             w2k_lsn_t start, w2k_err_t *err)
{
    return w2k_pg_start_replication_v2(repl, slot, publications, start, false, err);
}

/* With streaming, PostgreSQL sends a block of an open transaction each time
 * logical_decoding_work_mem of it is decoded, so up to that much is still to send after
 * the commit: with the built-in 64MB the last of 5,000,000 rows reached read_committed
 * consumers 1.8 s after the commit, with 8MB 0.7 s (bench/results/bigtxn-stream.md).
 * Lowered to W2K_STREAMING_WORK_MEM for this session only, and only when nobody set it
 * (source "default"): a value from the server's configuration, ALTER DATABASE/ROLE or
 * the conninfo's options is kept. */
#define W2K_STREAMING_WORK_MEM "8MB"

static int streaming_work_mem(PGconn *repl, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(repl, err, "cannot read logical_decoding_work_mem",
                               "SELECT source FROM pg_settings WHERE name = "
                               "'logical_decoding_work_mem'",
                               0, NULL);
    if (!r)
        return -1;
    bool builtin = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "default") == 0;
    PQclear(r);
    if (!builtin)
        return 0;
    r = w2k_pg_query(repl, err, "cannot set logical_decoding_work_mem",
                     "SET logical_decoding_work_mem = '" W2K_STREAMING_WORK_MEM "'", 0, NULL);
    if (!r)
        return -1;
    PQclear(r);
    w2k_debug("logical_decoding_work_mem = " W2K_STREAMING_WORK_MEM " for this session (the "
              "server uses the built-in default): a streamed transaction's last block is "
              "smaller");
    return 0;
}

int w2k_pg_start_replication_v2(PGconn *repl, const char *slot, const char *publications,
                                w2k_lsn_t start, bool streaming, w2k_err_t *err)
{
    char sql[2048], lsn[20];
    if (streaming && streaming_work_mem(repl, err) != 0)
        return -1;
    char *qslot = PQescapeIdentifier(repl, slot, strlen(slot));
    char *qpubs = PQescapeLiteral(repl, publications, strlen(publications));
    w2k_pg_caps_t caps;
    w2k_pg_caps(repl, &caps);
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL %s (proto_version '%s', publication_names %s%s%s)",
             qslot, w2k_lsn_str(start, lsn), streaming ? "2" : "1", qpubs,
             caps.logical_messages ? ", messages 'true'" : "", streaming ? ", streaming 'on'" : "");
    PQfreemem(qslot);
    PQfreemem(qpubs);
    PGresult *r = PQexec(repl, sql);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        char what[256];
        snprintf(what, sizeof what, "cannot start streaming from slot \"%s\"", slot);
        w2k_pg_set_error(err, repl, r, what);
        PQclear(r);
        return -1;
    }
    PQclear(r);
    if (PQsetnonblocking(repl, 1) != 0) {
        w2k_pg_set_error(err, repl, NULL, "cannot make the replication connection non-blocking");
        return -1;
    }
    return 0;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

bool w2k_pg_quiet(PGconn *conn, int wait_ms)
{
    struct pollfd p = {.fd = PQsocket(conn), .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, wait_ms) == 0;
}

int w2k_pg_read_frame(PGconn *repl, char **buf, w2k_pgframe_t *f, w2k_err_t *err)
{
    *buf = NULL;
    int n = PQgetCopyData(repl, buf, 1);
    if (n == 0) {
        if (!PQconsumeInput(repl)) {
            w2k_pg_set_error(err, repl, NULL, "reading the replication stream failed");
            err->retryable = true;
            return -1;
        }
        n = PQgetCopyData(repl, buf, 1);
        if (n == 0)
            return 0;
    }
    if (n == -1) {
        /* The server ended the copy: fetch the final result, which says why. */
        PGresult *r = PQgetResult(repl);
        if (r && PQresultStatus(r) != PGRES_COMMAND_OK)
            w2k_pg_set_error(err, repl, r, "the replication stream ended");
        else {
            w2k_err_set(err, W2K_EXIT_POSTGRES, "the server ended the replication stream");
            err->retryable = true;
        }
        PQclear(r);
        return -1;
    }
    if (n < 0) {
        w2k_pg_set_error(err, repl, NULL, "reading the replication stream failed");
        err->retryable = true;
        return -1;
    }
    const char *p = *buf;
    memset(f, 0, sizeof *f);
    f->type = p[0];
    if (p[0] == 'w' && n >= 25) {
        f->wal_start = get_u64(p + 1);
        f->wal_end = get_u64(p + 9);
        f->data = p + 25;
        f->len = (size_t)n - 25;
        return 1;
    }
    if (p[0] == 'k' && n >= 18) {
        f->wal_end = get_u64(p + 1);
        f->reply_requested = p[17] != 0;
        return 1;
    }
    w2k_err_set(err, W2K_EXIT_POSTGRES, "unexpected replication frame: type 0x%02x, %d bytes",
                (unsigned char)p[0], n);
    err->retryable = true;
    PQfreemem(*buf);
    *buf = NULL;
    return -1;
}

int w2k_pg_send_status(PGconn *repl, w2k_lsn_t written, w2k_lsn_t flushed, bool reply,
                       w2k_err_t *err)
{
    char msg[34];
    int64_t now = w2k_clock_wall_us() - W2K_PG_EPOCH_OFFSET_US;
    msg[0] = 'r';
    put_u64(msg + 1, written);
    put_u64(msg + 9, flushed);
    put_u64(msg + 17, flushed);
    put_u64(msg + 25, (uint64_t)now);
    msg[33] = reply ? 1 : 0;
    if (PQputCopyData(repl, msg, sizeof msg) <= 0 || PQflush(repl) < 0) {
        w2k_pg_set_error(err, repl, NULL, "sending a status update to PostgreSQL failed");
        err->retryable = true;
        return -1;
    }
    return 0;
}

void w2k_pg_keepalive_sent(w2k_pg_keepalive_t *k, PGconn *conn, w2k_lsn_t written,
                           w2k_lsn_t flushed, int interval_ms)
{
    k->conn = conn;
    k->written = written;
    k->flushed = flushed;
    k->interval_ms = interval_ms;
    k->due_ms = w2k_clock_mono_ms() + interval_ms;
}

void w2k_pg_keepalive_serve(w2k_pg_keepalive_t *k)
{
    if (!k->conn || w2k_clock_mono_ms() < k->due_ms)
        return;
    w2k_err_t ignored;
    w2k_pg_send_status(k->conn, k->written, k->flushed, false, &ignored);
    k->due_ms = w2k_clock_mono_ms() + k->interval_ms;
}
