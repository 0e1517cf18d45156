/* snapshot.c — read every published row inside the slot's exported snapshot. */
#include "snapshot.h"
#include "clock.h"
#include "buf.h"
#include "catalog.h"
#include "log.h"
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct w2k_snapshot_s {
    const w2k_stream_cfg_t *scfg;
    PGconn *conn;
    int table;            /* index into scfg->tables of the table being read */
    bool open;            /* its cursor is open */
    w2k_relation_t *rel;  /* its relation (owned by the relation cache) */
    uint64_t table_rows;  /* rows of it read so far */
    double estimate;      /* rows it is expected to have */
    uint64_t rows;        /* all rows read */
    double table_started; /* seconds */
    double last_report;
    bool tty;
    w2k_pgtuple_t *row;
    w2k_catalog_pubtables_t *pubtables; /* over several tables: all looked up at once */
};

static int exec(PGconn *c, const char *sql, const char *what, w2k_err_t *err)
{
    PGresult *r = w2k_pg_query(c, err, what, sql, 0, NULL);
    PQclear(r);
    return r ? 0 : -1;
}

w2k_snapshot_t *w2k_snapshot_begin(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg,
                                   const char *snapshot_name, w2k_err_t *err)
{
    w2k_snapshot_t *s = calloc(1, sizeof *s);
    if (!s || !(s->row = malloc(sizeof *s->row))) {
        free(s);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    s->scfg = scfg;
    s->tty = isatty(STDERR_FILENO);
    /* the slot's server: the snapshot is exported there (decoding_conninfo) */
    s->conn = w2k_pg_connect(w2k_config_decoding(cfg), cfg->pg_password_file, false, err);
    if (!s->conn)
        goto fail;
    char sql[256];
    char *q = PQescapeLiteral(s->conn, snapshot_name, strlen(snapshot_name));
    snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT %s", q);
    PQfreemem(q);
    if (exec(s->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "starting the snapshot",
             err) != 0 ||
        exec(s->conn, sql, "importing the slot's snapshot", err) != 0)
        goto fail;
    return s;
fail:
    w2k_snapshot_end(s);
    return NULL;
}

static void report(w2k_snapshot_t *s, bool final)
{
    double t = (double)w2k_clock_mono_us() / 1e6;
    if (!final && t - s->last_report < (s->tty ? 0.5 : 10.0))
        return;
    s->last_report = t;
    const w2k_table_cfg_t *tc = &s->scfg->tables[s->table];
    double elapsed = t - s->table_started;
    double rate = elapsed > 0 ? (double)s->table_rows / elapsed : 0;
    double total = s->estimate > (double)s->table_rows ? s->estimate : (double)s->table_rows;
    double left = rate > 0 ? (total - (double)s->table_rows) / rate : 0;
    int pct = total > 0 ? (int)(100.0 * (double)s->table_rows / total) : 100;
    if (final)
        pct = 100;
    if (s->tty) {
        char bar[21];
        for (int i = 0; i < 20; i++)
            bar[i] = i < pct / 5 ? '#' : '.';
        bar[20] = '\0';
        fprintf(stderr,
                "\rsnapshot %s.%s [%s] %3d%%  %llu/~%.0f rows  %.0f rows/s  %.0f s left   %s",
                tc->schema, tc->name, bar, pct, (unsigned long long)s->table_rows, total, rate,
                left, final ? "\n" : "");
        fflush(stderr);
    } else if (final) {
        w2k_info("snapshot of %s.%s done: %llu rows in %.1f s (%.0f rows/s)", tc->schema, tc->name,
                 (unsigned long long)s->table_rows, elapsed, rate);
    } else {
        w2k_info("snapshot of %s.%s: %llu of ~%.0f rows (%d%%), %.0f rows/s, about %.0f s left",
                 tc->schema, tc->name, (unsigned long long)s->table_rows, total, pct, rate, left);
    }
}

/* Open the cursor over the next table. */
static int open_table(w2k_snapshot_t *s, w2k_relcache_t *rc, w2k_err_t *err)
{
    const w2k_table_cfg_t *tc = &s->scfg->tables[s->table];
    char *filter = NULL;
    if (!s->pubtables && s->scfg->ntables > 1 &&
        !(s->pubtables = w2k_catalog_pubtables(s->conn, s->scfg->publication, err)))
        return -1;
    w2k_relation_t *rel =
        s->pubtables
            ? w2k_catalog_pubtables_table(s->conn, s->pubtables, tc->schema, tc->name, &filter, err)
            : w2k_catalog_table(s->conn, s->scfg->publication, tc->schema, tc->name, &filter, err);
    if (!rel)
        return -1;
    w2k_buf_t sql = W2K_BUF_INIT;
    w2k_buf_puts(&sql, "DECLARE w2k_snapshot NO SCROLL CURSOR FOR SELECT ");
    for (int i = 0; i < rel->ncols; i++) {
        char *q = PQescapeIdentifier(s->conn, rel->cols[i].name, strlen(rel->cols[i].name));
        w2k_buf_printf(&sql, "%s%s", i ? ", " : "", q);
        PQfreemem(q);
    }
    /* a partitioned table: its partitions' rows; a table: its own, not its children's */
    size_t from_at = sql.len;
    w2k_buf_puts(&sql, " FROM ");
    int from_rc = w2k_catalog_put_from(&sql, s->conn, tc->schema, tc->name, err);
    if (filter)
        w2k_buf_printf(&sql, " WHERE (%s)", filter);
    free(filter);
    if (from_rc != 0) {
        w2k_buf_free(&sql);
        w2k_relation_free(rel);
        return -1;
    }

    char oid[16];
    snprintf(oid, sizeof oid, "%u", rel->relid);
    const char *p[1] = {oid};
    PGresult *r =
        w2k_pg_query(s->conn, err, "estimating a table's size",
                     "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT sum(greatest(k.reltuples, 0)) "
                     "FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid WHERE "
                     "i.inhparent = c.oid) ELSE c.reltuples END FROM pg_class c WHERE "
                     "c.oid = $1",
                     1, p);
    /* a partitioned table: its partitions' estimates (none of its own) */
    s->estimate = r && PQntuples(r) ? atof(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (r && s->estimate <= 0) {
        /* never analyzed: count (inside the snapshot, so it is exact) */
        w2k_buf_t count = W2K_BUF_INIT;
        const char *from = sql.data + from_at;
        w2k_buf_printf(&count, "SELECT count(*)%s", from);
        r = w2k_pg_query(s->conn, err, "counting a table's rows", count.data, 0, NULL);
        w2k_buf_free(&count);
        s->estimate = r ? atof(PQgetvalue(r, 0, 0)) : 0;
        PQclear(r);
    }
    int rc_ = r ? exec(s->conn, sql.data, "opening the snapshot cursor", err) : -1;
    w2k_buf_free(&sql);
    if (rc_ != 0) {
        if (strstr(err->msg, "permission denied for table"))
            w2k_err_hint(err, "run GRANT SELECT ON %s.%s TO %s; (the snapshot reads every row)",
                         tc->schema, tc->name, PQuser(s->conn));
        w2k_relation_free(rel);
        return -1;
    }
    w2k_relcache_put(rc, rel);
    s->rel = rel;
    s->open = true;
    s->table_rows = 0;
    s->table_started = s->last_report = (double)w2k_clock_mono_us() / 1e6;
    w2k_info("snapshot of %s.%s: starting (about %.0f rows)", tc->schema, tc->name, s->estimate);
    return 0;
}

int w2k_snapshot_step(w2k_snapshot_t *s, w2k_relcache_t *rc, int chunk_rows,
                      w2k_snapshot_row_cb *cb, void *arg, w2k_err_t *err)
{
    if (s->table >= s->scfg->ntables)
        return 0;
    if (!s->open && open_table(s, rc, err) != 0)
        return -1;
    char sql[64];
    snprintf(sql, sizeof sql, "FETCH FORWARD %d FROM w2k_snapshot", chunk_rows);
    PGresult *r = w2k_pg_query(s->conn, err, "reading the snapshot", sql, 0, NULL);
    if (!r)
        return -1;
    int n = PQntuples(r), ncols = PQnfields(r);
    s->row->ncols = (uint16_t)ncols;
    for (int i = 0; i < n; i++) {
        for (int c = 0; c < ncols; c++) {
            w2k_pgdatum_t *d = &s->row->cols[c];
            if (PQgetisnull(r, i, c)) {
                d->kind = 'n';
                d->data = NULL;
                d->len = 0;
            } else {
                d->kind = 't';
                d->data = PQgetvalue(r, i, c);
                d->len = (uint32_t)PQgetlength(r, i, c);
            }
        }
        if (cb(arg, s->rel, s->row, err) != 0) {
            PQclear(r);
            return -1;
        }
    }
    PQclear(r);
    s->table_rows += (uint64_t)n;
    s->rows += (uint64_t)n;
    if (n < chunk_rows) {
        report(s, true);
        if (exec(s->conn, "CLOSE w2k_snapshot", "closing the snapshot cursor", err) != 0)
            return -1;
        s->open = false;
        s->table++;
        return s->table < s->scfg->ntables ? 1 : 0;
    }
    report(s, false);
    return 1;
}

void w2k_snapshot_progress(const w2k_snapshot_t *s, const char **schema, const char **table,
                           uint64_t *rows, uint64_t *expected)
{
    int i = s->table < s->scfg->ntables ? s->table : s->scfg->ntables - 1;
    *schema = i >= 0 ? s->scfg->tables[i].schema : NULL;
    *table = i >= 0 ? s->scfg->tables[i].name : NULL;
    *rows = s->table_rows;
    *expected = s->estimate > 0 ? (uint64_t)s->estimate : 0;
}

uint64_t w2k_snapshot_rows(const w2k_snapshot_t *s)
{
    return s->rows;
}

void w2k_snapshot_end(w2k_snapshot_t *s)
{
    if (!s)
        return;
    w2k_catalog_pubtables_free(s->pubtables);
    if (s->conn)
        PQfinish(s->conn);
    free(s->row);
    free(s);
}
