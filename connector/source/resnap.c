/* resnap.c — chunked re-snapshot between watermarks (DBLog). */
#include "resnap.h"
#include "signals.h"
#include "clock.h"
#include "buf.h"
#include "catalog.h"
#include "log.h"
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { IDLE, WAIT_LOW, WINDOW };

/* How often a chunk that waits for a committed transaction to become visible is tried
 * again. */
#define RETRY_MS 100

/* The transactions running now (each holds the lock on its own transaction ID from its
 * first write until it is visible to everyone). pg_locks needs no privilege. */
static const char running_sql[] = "SELECT transactionid::text FROM pg_locks "
                                  "WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' "
                                  "AND granted";

struct w2k_resnap_s {
    PGconn *conn;
    char stream[64];
    char job[32]; /* unique per job: old watermarks in the WAL never match */
    int chunk_no;
    int chunk_rows;
    w2k_relation_t rel; /* shallow copy of the names and key positions */
    w2k_column_t *cols;
    int *keycols;
    char *select_first; /* the chunk query without and with a lower key bound */
    char *select_after;
    int state;
    PGresult *chunk;
    bool *dropped;
    int next;         /* next row of the chunk to emit */
    bool done;        /* the last chunk emitted was shorter than chunk_rows */
    bool have_bound;  /* bound holds a key: the next chunk starts after it */
    char **bound;     /* key values of the last row of the last chunk emitted */
    uint32_t *unseen; /* transactions running just before the chunk's SELECT */
    int nunseen;
    bool stale;          /* one of them committed before the low watermark */
    int64_t retry_at_ms; /* a chunk waits for a transaction to become visible until then */
    int64_t waiting_since_ms;
    bool wait_reported;
    uint64_t rows;
};

static void append_ident(w2k_buf_t *b, PGconn *c, const char *s)
{
    char *q = PQescapeIdentifier(c, s, strlen(s));
    w2k_buf_puts(b, q);
    PQfreemem(q);
}

w2k_resnap_t *w2k_resnap_new(const w2k_config_t *cfg, const char *stream, const w2k_relation_t *rel,
                             const char *filter, int chunk_rows, w2k_err_t *err)
{
    if (rel->nkeys == 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "table %s.%s has no key: it cannot be re-read while streaming", rel->schema,
                    rel->name);
        w2k_err_hint(err, "add a primary key, or restart the stream with a new slot to take a "
                          "full snapshot");
        return NULL;
    }
    w2k_resnap_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    snprintf(r->stream, sizeof r->stream, "%s", stream);
    int64_t now_us = w2k_clock_wall_us();
    snprintf(r->job, sizeof r->job, "%lx%05lx", (long)(now_us / 1000000),
             (long)(now_us % 1000000 / 10));
    r->chunk_rows = chunk_rows;
    r->rel = *rel;
    r->cols = malloc((size_t)rel->ncols * sizeof *r->cols);
    r->keycols = malloc((size_t)rel->nkeys * sizeof *r->keycols);
    r->bound = calloc((size_t)rel->nkeys, sizeof *r->bound);
    if (!r->cols || !r->keycols || !r->bound)
        goto oom;
    memcpy(r->cols, rel->cols, (size_t)rel->ncols * sizeof *r->cols);
    memcpy(r->keycols, rel->keycols, (size_t)rel->nkeys * sizeof *r->keycols);
    r->rel.cols = r->cols;
    r->rel.keycols = r->keycols;
    r->rel.out = NULL;
    r->conn = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, err);
    if (!r->conn)
        goto fail;

    /* SELECT cols FROM [ONLY] t WHERE (filter) [AND (k...) > ($1...)] ORDER BY k... LIMIT n */
    for (int pass = 0; pass < 2; pass++) {
        w2k_buf_t b = W2K_BUF_INIT;
        w2k_buf_puts(&b, "SELECT ");
        for (int i = 0; i < rel->ncols; i++) {
            if (i)
                w2k_buf_puts(&b, ", ");
            append_ident(&b, r->conn, rel->cols[i].name);
        }
        /* a partitioned table: its partitions' rows; a table: not its children's */
        w2k_buf_puts(&b, " FROM ");
        if (w2k_catalog_put_from(&b, r->conn, rel->schema, rel->name, err) != 0) {
            w2k_buf_free(&b);
            goto fail;
        }
        w2k_buf_printf(&b, " WHERE (%s)", filter ? filter : "true");
        if (pass) {
            w2k_buf_puts(&b, " AND (");
            for (int k = 0; k < rel->nkeys; k++) {
                if (k)
                    w2k_buf_puts(&b, ", ");
                append_ident(&b, r->conn, rel->cols[rel->keycols[k]].name);
            }
            w2k_buf_puts(&b, ") > (");
            for (int k = 0; k < rel->nkeys; k++)
                w2k_buf_printf(&b, "%s$%d", k ? ", " : "", k + 1);
            w2k_buf_putc(&b, ')');
        }
        w2k_buf_puts(&b, " ORDER BY ");
        for (int k = 0; k < rel->nkeys; k++) {
            if (k)
                w2k_buf_puts(&b, ", ");
            append_ident(&b, r->conn, rel->cols[rel->keycols[k]].name);
        }
        w2k_buf_printf(&b, " LIMIT %d", chunk_rows);
        if (b.oom) {
            w2k_buf_free(&b);
            goto oom;
        }
        if (pass)
            r->select_after = b.data;
        else
            r->select_first = b.data;
    }
    return r;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
fail:
    w2k_resnap_destroy(r);
    return NULL;
}

void w2k_resnap_destroy(w2k_resnap_t *r)
{
    if (!r)
        return;
    if (r->conn)
        PQfinish(r->conn);
    PQclear(r->chunk);
    free(r->dropped);
    for (int k = 0; r->bound && k < r->rel.nkeys; k++)
        free(r->bound[k]);
    free(r->bound);
    free(r->unseen);
    free(r->select_first);
    free(r->select_after);
    free(r->cols);
    free(r->keycols);
    free(r);
}

uint32_t w2k_resnap_relid(const w2k_resnap_t *r)
{
    return r->rel.relid;
}

static int watermark(w2k_resnap_t *r, char which, w2k_err_t *err)
{
    char content[160];
    snprintf(content, sizeof content, "%s\x1f%s\x1f%d\x1f%c", r->stream, r->job, r->chunk_no,
             which);
    const char *p[2] = {W2K_WATERMARK_PREFIX, content};
    PGresult *res = w2k_pg_query(r->conn, err, "writing a re-snapshot watermark",
                                 w2k_signals_emit_sql(r->conn), 2, p);
    PQclear(res);
    return res ? 0 : -1;
}

/* Not yet: a transaction that committed before the low watermark may not be visible
 * to the chunk's SELECT. Try again in RETRY_MS. */
static int defer(w2k_resnap_t *r)
{
    int64_t now = w2k_clock_mono_ms();
    r->retry_at_ms = now + RETRY_MS;
    if (!r->waiting_since_ms)
        r->waiting_since_ms = now;
    if (!r->wait_reported && now - r->waiting_since_ms >= 5000) {
        r->wait_reported = true;
        w2k_info("stream %s: the re-read of %s.%s waits for a transaction that committed but "
                 "is not visible to other sessions yet (a synchronous standby not answering?); "
                 "streaming goes on",
                 r->stream, r->rel.schema, r->rel.name);
    }
    return 1;
}

/* Read the transactions running now into r->unseen. Returns 1 when one of them is in
 * recent (the stream has seen it commit: it is between its commit record and its
 * visibility), 0 when none is, -1 with err. */
static int read_running(w2k_resnap_t *r, const uint32_t *recent, size_t nrecent, w2k_err_t *err)
{
    PGresult *res =
        w2k_pg_query(r->conn, err, "listing the running transactions", running_sql, 0, NULL);
    if (!res)
        return -1;
    int n = PQntuples(res);
    free(r->unseen);
    r->nunseen = 0;
    r->unseen = malloc(((size_t)n + 1) * sizeof *r->unseen);
    if (!r->unseen) {
        PQclear(res);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        r->unseen[r->nunseen++] = (uint32_t)strtoul(PQgetvalue(res, i, 0), NULL, 10);
    PQclear(res);
    for (size_t j = 0; j < nrecent; j++)
        for (int i = 0; i < r->nunseen; i++)
            if (recent[j] == r->unseen[i])
                return 1;
    return 0;
}

/* PostgreSQL writes a transaction's commit record (which the stream then decodes and
 * sends on) before the transaction becomes visible to other sessions: for
 * microseconds, or, with synchronous replication, until a standby answers. A chunk's
 * SELECT must see every transaction that committed before its low watermark, else it
 * could hold an older row than one the stream already sent. Such a transaction still
 * holds the lock on its ID when the running ones are listed (after the low watermark,
 * before the SELECT); so the chunk waits while one of those is a transaction the stream
 * has already seen commit (recent), and is selected again when the stream meets the
 * commit of one of them before the low watermark (w2k_resnap_committed). */
int w2k_resnap_select(w2k_resnap_t *r, const uint32_t *recent, size_t nrecent, w2k_err_t *err)
{
    if (r->done)
        return 0;
    if (r->retry_at_ms) {
        if (w2k_clock_mono_ms() < r->retry_at_ms)
            return 1;
        r->retry_at_ms = 0;
        /* still waiting? ask before writing another watermark */
        int held = read_running(r, recent, nrecent, err);
        if (held != 0)
            return held < 0 ? -1 : defer(r);
    }
    r->chunk_no++;
    if (watermark(r, 'L', err) != 0)
        return -1;
    int held = read_running(r, recent, nrecent, err);
    if (held != 0)
        return held < 0 ? -1 : defer(r);
    PQclear(r->chunk);
    char what[200];
    snprintf(what, sizeof what, "re-reading %s.%s", r->rel.schema, r->rel.name);
    if (!r->have_bound)
        r->chunk = w2k_pg_query(r->conn, err, what, r->select_first, 0, NULL);
    else
        r->chunk = w2k_pg_query(r->conn, err, what, r->select_after, r->rel.nkeys,
                                (const char *const *)r->bound);
    if (!r->chunk || watermark(r, 'H', err) != 0)
        return -1;
    r->waiting_since_ms = 0;
    r->wait_reported = false;
    int rows = PQntuples(r->chunk);
    free(r->dropped);
    r->dropped = calloc((size_t)rows + 1, sizeof *r->dropped);
    if (!r->dropped) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    r->next = 0;
    r->stale = false;
    r->state = WAIT_LOW;
    return 1;
}

int w2k_resnap_wait_ms(const w2k_resnap_t *r)
{
    if (!r->retry_at_ms)
        return -1;
    int64_t left = r->retry_at_ms - w2k_clock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

void w2k_resnap_committed(w2k_resnap_t *r, uint32_t xid)
{
    if (r->state != WAIT_LOW)
        return;
    for (int i = 0; i < r->nunseen; i++)
        if (r->unseen[i] == xid)
            r->stale = true;
}

bool w2k_resnap_waiting(const w2k_resnap_t *r)
{
    return r->state != IDLE;
}

int w2k_resnap_watermark(w2k_resnap_t *r, const char *prefix, const char *content, size_t len)
{
    if (r->state == IDLE || strcmp(prefix, W2K_WATERMARK_PREFIX) != 0)
        return 0;
    char expect[160];
    int n = snprintf(expect, sizeof expect, "%s\x1f%s\x1f%d\x1f", r->stream, r->job, r->chunk_no);
    if (len != (size_t)n + 1 || memcmp(content, expect, (size_t)n) != 0)
        return 0;
    char which = content[n];
    if (which == 'L' && r->state == WAIT_LOW) {
        r->state = WINDOW;
        return 'L';
    }
    if (which == 'H' && r->state == WINDOW)
        return 'H';
    return 0;
}

void w2k_resnap_seen(w2k_resnap_t *r, const w2k_pgtuple_t *row)
{
    if (r->state != WINDOW || !r->chunk)
        return;
    int n = PQntuples(r->chunk);
    for (int i = 0; i < n; i++) {
        if (r->dropped[i])
            continue;
        bool same = true;
        for (int k = 0; same && k < r->rel.nkeys; k++) {
            int c = r->keycols[k];
            const w2k_pgdatum_t *d = c < row->ncols ? &row->cols[c] : NULL;
            same = d && d->kind == 't' && (size_t)PQgetlength(r->chunk, i, c) == d->len &&
                   memcmp(PQgetvalue(r->chunk, i, c), d->data, d->len) == 0;
        }
        if (same)
            r->dropped[i] = true;
    }
}

/* The chunk is emitted: the next one starts after its last row. */
static void chunk_done(w2k_resnap_t *r)
{
    int n = PQntuples(r->chunk);
    r->state = IDLE;
    r->done = n < r->chunk_rows;
    for (int k = 0; n > 0 && k < r->rel.nkeys; k++) {
        free(r->bound[k]);
        r->bound[k] = strdup(PQgetvalue(r->chunk, n - 1, r->keycols[k]));
        r->have_bound = true;
    }
}

bool w2k_resnap_next_row(w2k_resnap_t *r, w2k_pgtuple_t *row)
{
    if (!r->chunk)
        return false;
    if (r->stale) {
        /* selected again, from the same bound */
        w2k_debug("stream %s: chunk %d of %s.%s is read again: a transaction that committed "
                  "before its low watermark was not visible to its SELECT yet",
                  r->stream, r->chunk_no, r->rel.schema, r->rel.name);
        r->state = IDLE;
        return false;
    }
    int n = PQntuples(r->chunk);
    while (r->next < n && r->dropped[r->next])
        r->next++;
    if (r->next >= n) {
        chunk_done(r);
        return false;
    }
    int i = r->next++;
    row->ncols = (uint16_t)PQnfields(r->chunk);
    for (int c = 0; c < row->ncols; c++) {
        w2k_pgdatum_t *d = &row->cols[c];
        if (PQgetisnull(r->chunk, i, c)) {
            *d = (w2k_pgdatum_t){'n', 0, NULL};
        } else {
            d->kind = 't';
            d->data = PQgetvalue(r->chunk, i, c);
            d->len = (uint32_t)PQgetlength(r->chunk, i, c);
        }
    }
    r->rows++;
    return true;
}

uint64_t w2k_resnap_rows(const w2k_resnap_t *r)
{
    return r->rows;
}
