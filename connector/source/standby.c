/* standby.c — decoding on a physical standby: the decoding server's checks, the wait for its
 * replay, slot creation there. */
#include "standby.h"
#include "clock.h"
#include "log.h"
#include "pgconn.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How often the primary is asked to log its running transactions while a slot is
 * being created on the standby, and how often the standby's replay is looked at. */
#define NUDGE_MS       500
#define REPLAY_POLL_MS 50

int w2k_standby_check(PGconn *dec, const char *stream, const char *slot, bool log_warnings,
                      w2k_standby_info_t *out, w2k_err_t *err)
{
    w2k_standby_info_t info;
    memset(&info, 0, sizeof info);
    const char *p[1] = {slot};
    PGresult *r = w2k_pg_query(
        dec, err, "checking the decoding server (postgresql.decoding_conninfo)",
        "SELECT current_setting('server_version_num')::int, current_setting('wal_level'), "
        "pg_is_in_recovery(), current_setting('hot_standby_feedback'), "
        "coalesce(current_setting('primary_slot_name', true), ''), "
        "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
        1, p);
    if (!r)
        return -1;
    info.version_num = atoi(PQgetvalue(r, 0, 0));
    char level[32];
    snprintf(level, sizeof level, "%s", PQgetvalue(r, 0, 1));
    info.in_recovery = PQgetvalue(r, 0, 2)[0] == 't';
    info.feedback = strcmp(PQgetvalue(r, 0, 3), "on") == 0;
    snprintf(info.primary_slot, sizeof info.primary_slot, "%s", PQgetvalue(r, 0, 4));
    info.slot_exists = PQgetvalue(r, 0, 5)[0] == 't';
    PQclear(r);
    if (out)
        *out = info;
    char v[16];
    if (info.version_num < 160000) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "the decoding server (postgresql.decoding_conninfo) runs PostgreSQL %s: "
                    "logical decoding on a standby needs PostgreSQL 16 or newer",
                    w2k_pg_version_str(info.version_num, v));
        w2k_err_hint(err, "upgrade the standby (and its primary) to 16 or newer, or remove "
                          "postgresql.decoding_conninfo to decode on the primary");
        return -1;
    }
    if (strcmp(level, "logical") != 0) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "the decoding server (postgresql.decoding_conninfo) has wal_level = %s, but "
                    "logical decoding needs logical there too",
                    level);
        w2k_err_hint(err, "on the standby run ALTER SYSTEM SET wal_level = logical; then restart "
                          "it (the primary needs wal_level = logical as well)");
        return -1;
    }
    if (!info.in_recovery && !info.slot_exists) {
        w2k_err_set(err, W2K_EXIT_POSTGRES,
                    "the decoding server (postgresql.decoding_conninfo) is not a standby "
                    "(pg_is_in_recovery() is false) and holds no slot %s of stream %s",
                    slot, stream);
        w2k_err_hint(err, "point decoding_conninfo at a physical standby of the primary named "
                          "by conninfo, or remove decoding_conninfo to decode on the primary");
        return -1;
    }
    if (!log_warnings)
        return 0;
    if (!info.in_recovery) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "stream %s: the decoding server is no longer a standby (promoted): decoding "
                 "goes on from its slot %s there",
                 stream, slot);
        w2k_log_hint(W2K_LOG_WARN, msg,
                     "the publication is still kept on the server of postgresql.conninfo: make "
                     "it name the promoted server too (host=a,b with "
                     "target_session_attrs=read-write), or set conninfo to it");
    } else if (!info.feedback) {
        char msg[512], hint[512];
        snprintf(msg, sizeof msg,
                 "stream %s: the decoding standby has hot_standby_feedback = off: the primary "
                 "may remove catalog rows slot %s still needs, and the standby then "
                 "invalidates the slot (a conflict with recovery)",
                 stream, slot);
        snprintf(hint, sizeof hint,
                 "on the standby run ALTER SYSTEM SET hot_standby_feedback = on; SELECT "
                 "pg_reload_conf();%s",
                 info.primary_slot[0] ? ""
                                      : " and give it a physical slot on the primary "
                                        "(primary_slot_name), so the feedback outlives a "
                                        "disconnection");
        w2k_log_hint(W2K_LOG_WARN, msg, hint);
    }
    return 0;
}

/* Sleep ms milliseconds, or less when fd (>= 0) becomes readable. */
static void wait_fd(int fd, int ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    poll(&pfd, fd >= 0 ? 1 : 0, ms);
}

int w2k_standby_wait_replayed(PGconn *primary, PGconn *dec, int timeout_ms, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(primary, err, "reading the primary's WAL position",
                               "SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE "
                               "pg_current_wal_lsn()::text END",
                               0, NULL);
    if (!r)
        return -1;
    bool none = PQgetisnull(r, 0, 0);
    char want[32];
    snprintf(want, sizeof want, "%s", none ? "" : PQgetvalue(r, 0, 0));
    PQclear(r);
    if (none)
        return 0; /* conninfo names a standby too: nothing to compare with */
    int64_t deadline = w2k_clock_mono_ms() + timeout_ms;
    const char *p[1] = {want};
    for (;;) {
        r = w2k_pg_query(
            dec, err, "reading the decoding standby's replay position",
            "SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= $1::pg_lsn, "
            "coalesce(pg_last_wal_replay_lsn()::text, '')",
            1, p);
        if (!r)
            return -1;
        bool done = PQgetvalue(r, 0, 0)[0] == 't';
        char at[32];
        snprintf(at, sizeof at, "%s", PQgetvalue(r, 0, 1));
        PQclear(r);
        if (done)
            return 0;
        if (w2k_clock_mono_ms() >= deadline) {
            w2k_err_set(err, W2K_EXIT_POSTGRES,
                        "the decoding standby has not replayed the primary's WAL up to %s "
                        "within %d s (it is at %s): the publication made there is not visible "
                        "to it yet",
                        want, timeout_ms / 1000, at[0] ? at : "nothing");
            w2k_err_hint(err,
                         "wal2kafka retries; check the standby replicates (pg_stat_replication "
                         "on the primary, primary_conninfo and the log on the standby)");
            err->retryable = true;
            return -1;
        }
        wait_fd(-1, REPLAY_POLL_MS);
    }
}

int w2k_standby_create_slot(PGconn *repl, PGconn *primary, const char *slot,
                            w2k_lsn_t *consistent_point, char *snapshot_name, bool temporary,
                            int timeout_ms, w2k_err_t *err)
{
    char sql[256], what[160];
    char *q = PQescapeIdentifier(repl, slot, strlen(slot));
    snprintf(sql, sizeof sql, "CREATE_REPLICATION_SLOT %s %sLOGICAL pgoutput %s", q,
             temporary ? "TEMPORARY " : "",
             snapshot_name ? "EXPORT_SNAPSHOT" : "NOEXPORT_SNAPSHOT");
    PQfreemem(q);
    snprintf(what, sizeof what, "cannot create replication slot \"%s\" on the decoding standby",
             slot);
    if (!PQsendQuery(repl, sql)) {
        w2k_pg_set_error(err, repl, NULL, what);
        return -1;
    }
    int64_t start = w2k_clock_mono_ms(), nudge_at = start;
    bool nudged = false;
    while (PQisBusy(repl)) {
        int64_t now = w2k_clock_mono_ms();
        if (timeout_ms > 0 && now - start >= timeout_ms) {
            w2k_err_set(err, W2K_EXIT_POSTGRES,
                        "%s: the standby did not reach a consistent point within %d s", what,
                        timeout_ms / 1000);
            w2k_err_hint(err, "the standby waits for the primary to log its running "
                              "transactions (a long transaction on the primary delays it); "
                              "check the standby replicates; wal2kafka retries");
            err->retryable = true;
            return -1; /* the caller closes repl, which ends the command */
        }
        if (now >= nudge_at) {
            w2k_err_t e;
            memset(&e, 0, sizeof e);
            PGresult *r = w2k_pg_query(primary, &e, "logging the primary's running transactions",
                                       "SELECT pg_log_standby_snapshot()", 0, NULL);
            if (!r && !nudged) {
                char msg[1600];
                snprintf(msg, sizeof msg,
                         "creating slot %s on the standby: cannot ask the primary to log its "
                         "running transactions (%s); the creation waits for the primary's "
                         "next such record",
                         slot, e.msg);
                w2k_log_hint(W2K_LOG_WARN, msg,
                             "grant EXECUTE ON FUNCTION pg_log_standby_snapshot() to the role "
                             "of conninfo (by default only a superuser may call it), or wait: "
                             "the primary logs one every 15 s while it is busy");
            }
            PQclear(r);
            nudged = true;
            nudge_at = now + NUDGE_MS;
        }
        wait_fd(PQsocket(repl), 100);
        if (!PQconsumeInput(repl)) {
            w2k_pg_set_error(err, repl, NULL, what);
            return -1;
        }
    }
    PGresult *r, *got = NULL;
    while ((r = PQgetResult(repl))) {
        if (!got)
            got = r;
        else
            PQclear(r);
    }
    if (!got || PQresultStatus(got) != PGRES_TUPLES_OK) {
        w2k_pg_set_error(err, repl, got, what);
        PQclear(got);
        return -1;
    }
    w2k_lsn_parse(PQgetvalue(got, 0, 1), consistent_point);
    if (snapshot_name)
        snprintf(snapshot_name, 64, "%s", PQgetvalue(got, 0, 2));
    PQclear(got);
    return 0;
}
