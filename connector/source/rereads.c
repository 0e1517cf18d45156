/* rereads.c — the queue of re-reads while streaming, one running at a time. */
#include "rereads.h"
#include "catalog.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT_XIDS 4096 /* commits remembered for the re-snapshot (resnap.c) */
#define CHUNK_ROWS  1000

/* A table waiting to be re-read: "schema.table", and for a re-read that repairs lost
 * changes the position of its request, past which nothing is confirmed until it is
 * done (0 otherwise). */
typedef struct request_s {
    char *table;
    w2k_lsn_t hold;
} request_t;

struct w2k_rereads_s {
    const w2k_config_t *cfg;
    const char *stream;
    request_t *queue;
    int nqueue;
    w2k_resnap_t *running;        /* the table being re-read, or NULL */
    w2k_lsn_t hold;               /* ...its request's position when it repairs, or 0 */
    char schema[64], name[128];   /* ...the table it reads */
    uint32_t recent[RECENT_XIDS]; /* the last transactions seen to commit (a ring) */
    size_t nrecent;               /* commits seen (the ring holds the last ones) */
};

w2k_rereads_t *w2k_rereads_new(const w2k_config_t *cfg, const char *stream)
{
    w2k_rereads_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->cfg = cfg;
    r->stream = stream;
    return r;
}

void w2k_rereads_destroy(w2k_rereads_t *r)
{
    if (!r)
        return;
    w2k_resnap_destroy(r->running);
    for (int i = 0; i < r->nqueue; i++)
        free(r->queue[i].table);
    free(r->queue);
    free(r);
}

void w2k_rereads_queue(w2k_rereads_t *r, const char *schema, const char *name, w2k_lsn_t hold)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", schema, name);
    for (int i = 0; i < r->nqueue; i++) {
        request_t *q = &r->queue[i];
        if (strcmp(q->table, full) != 0)
            continue;
        /* one re-read, started after both requests, serves both: the earlier hold */
        if (hold && (!q->hold || hold < q->hold))
            q->hold = hold;
        return;
    }
    request_t *q = realloc(r->queue, ((size_t)r->nqueue + 1) * sizeof *q);
    char *copy = strdup(full);
    if (!q || !copy) {
        free(copy);
        return;
    }
    r->queue = q;
    q[r->nqueue++] = (request_t){copy, hold};
    w2k_info("stream %s: table %s queued to be re-read while streaming", r->stream, full);
}

/* Select the next chunk of the running re-read; drop it when the table is read. */
static int step_running(w2k_rereads_t *r, w2k_err_t *err)
{
    if (w2k_resnap_waiting(r->running))
        return 0;
    size_t n = r->nrecent < RECENT_XIDS ? r->nrecent : RECENT_XIDS;
    int rc = w2k_resnap_select(r->running, r->recent, n, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        w2k_info("stream %s: re-snapshot of a table done: %llu row(s)", r->stream,
                 (unsigned long long)w2k_resnap_rows(r->running));
        w2k_resnap_destroy(r->running);
        r->running = NULL;
        r->hold = 0;
    }
    return 0;
}

/* The re-read job of schema.name, its relation described on catalog and kept in rc;
 * NULL with err. */
static w2k_resnap_t *start_job(w2k_rereads_t *r, PGconn *catalog, const w2k_tables_t *tables,
                               w2k_relcache_t *rc, const char *schema, const char *name,
                               w2k_err_t *err)
{
    char *filter = NULL;
    w2k_relation_t *rel =
        w2k_catalog_table(catalog, w2k_tables_pubs(tables)->names, schema, name, &filter, err);
    w2k_resnap_t *job = NULL;
    if (rel) {
        w2k_relation_t *known = w2k_relcache_get(rc, rel->relid);
        if (known && w2k_relation_same_shape(known, rel)) {
            w2k_relation_free(rel);
            rel = known;
        } else {
            w2k_relcache_put(rc, rel);
        }
        job = w2k_resnap_new(r->cfg, r->stream, rel,
                             w2k_tables_connector_filters(tables) ? NULL : filter, CHUNK_ROWS, err);
        if (job)
            w2k_info("stream %s: re-reading %s.%s while streaming (chunks between watermarks)",
                     r->stream, rel->schema, rel->name);
    }
    free(filter);
    return job;
}

int w2k_rereads_step(w2k_rereads_t *r, PGconn *catalog, const w2k_tables_t *tables,
                     w2k_relcache_t *rc, w2k_err_t *err)
{
    if (r->running)
        return step_running(r, err);
    if (!r->nqueue)
        return 0;
    request_t next = r->queue[0];
    char schema[64], name[128];
    const char *dot = strchr(next.table, '.');
    snprintf(schema, sizeof schema, "%.*s", (int)(dot - next.table), next.table);
    snprintf(name, sizeof name, "%s", dot + 1);
    r->running = start_job(r, catalog, tables, rc, schema, name, err);
    /* a repairing re-read that failed for a passing reason is taken again after the
     * restart (it stays queued, and holds back what is confirmed) */
    if (!r->running && next.hold && err->retryable)
        return -1;
    memmove(r->queue, r->queue + 1, (size_t)--r->nqueue * sizeof *r->queue);
    free(next.table);
    if (!r->running) {
        if (next.hold)
            w2k_error_hint("fix the cause, then request a re-snapshot of the table with "
                           "wal2kafka snapshot",
                           "stream %s: cannot re-read table %s.%s to repair the changes PostgreSQL "
                           "did not send: %s; they stay missing from its topic (%s)",
                           r->stream, schema, name, err->msg, err->hint);
        else
            w2k_warn_hint(err->hint[0] ? err->hint
                                       : "fix the cause, then request the re-snapshot again with "
                                         "wal2kafka snapshot",
                          "stream %s: cannot re-read a table: %s", r->stream, err->msg);
        return 0;
    }
    r->hold = next.hold;
    snprintf(r->schema, sizeof r->schema, "%s", schema);
    snprintf(r->name, sizeof r->name, "%s", name);
    return 0;
}

w2k_resnap_t *w2k_rereads_running(w2k_rereads_t *r)
{
    return r->running;
}

void w2k_rereads_committed(w2k_rereads_t *r, uint32_t xid)
{
    r->recent[r->nrecent++ % RECENT_XIDS] = xid;
    if (r->running)
        w2k_resnap_committed(r->running, xid);
}

w2k_lsn_t w2k_rereads_hold(const w2k_rereads_t *r, w2k_lsn_t lsn)
{
    if (r->hold && r->hold < lsn)
        lsn = r->hold;
    for (int i = 0; i < r->nqueue; i++)
        if (r->queue[i].hold && r->queue[i].hold < lsn)
            lsn = r->queue[i].hold;
    return lsn;
}

int w2k_rereads_wait_ms(const w2k_rereads_t *r)
{
    return r->running ? w2k_resnap_wait_ms(r->running) : -1;
}

void w2k_rereads_stop(w2k_rereads_t *r)
{
    if (r->running && r->hold) {
        /* a repair: queued again, it still holds back what is confirmed */
        w2k_rereads_queue(r, r->schema, r->name, r->hold);
    } else if (r->running) {
        w2k_warn_hint("the stream goes on; rows not yet re-read keep their last message",
                      "stream %s: the re-snapshot of a table was interrupted; request it again "
                      "with wal2kafka snapshot",
                      r->stream);
    }
    w2k_resnap_destroy(r->running);
    r->running = NULL;
    r->hold = 0;
}
