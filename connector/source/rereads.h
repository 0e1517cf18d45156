/* rereads.h — a stream's re-reads of tables while it streams: a queue of requests
 * (tables that joined, `wal2kafka snapshot`, repairs of changes PostgreSQL did not
 * send), run one at a time with resnap.c (DBLog chunks between watermarks), and the
 * hold a repair puts on what may be confirmed. Single-threaded. */
#ifndef W2K_REREADS_H
#define W2K_REREADS_H

#include <libpq-fe.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "relcache.h"
#include "resnap.h"
#include "tables.h"

typedef struct w2k_rereads_s w2k_rereads_t;

/* The re-reads of stream (named in logs). Returns NULL when out of memory. */
w2k_rereads_t *w2k_rereads_new(const w2k_config_t *cfg, const char *stream);
/* Free, with what is queued; accepts NULL. */
void w2k_rereads_destroy(w2k_rereads_t *r);

/* Queue table schema.name to be re-read, unless it is already; hold: the position of a
 * repair request (nothing at or past it is confirmed until the re-read is done), or 0. */
void w2k_rereads_queue(w2k_rereads_t *r, const char *schema, const char *name, w2k_lsn_t hold);
/* Start the next queued re-read (its relation described on catalog and kept in rc), or
 * select the next chunk of the running one. Returns 0, or -1 with err when the stream
 * must restart (a repair that failed for a passing reason stays queued). */
int w2k_rereads_step(w2k_rereads_t *r, PGconn *catalog, const w2k_tables_t *tables,
                     w2k_relcache_t *rc, w2k_err_t *err);
/* The running re-read, or NULL. */
w2k_resnap_t *w2k_rereads_running(w2k_rereads_t *r);
/* A transaction xid committed in the stream. */
void w2k_rereads_committed(w2k_rereads_t *r, uint32_t xid);
/* lsn, held back below the position of any repair not done yet. */
w2k_lsn_t w2k_rereads_hold(const w2k_rereads_t *r, w2k_lsn_t lsn);
/* Milliseconds until the running re-read wants another step, or -1. */
int w2k_rereads_wait_ms(const w2k_rereads_t *r);
/* The stream stops: a running repair is queued again (it still holds back what is
 * confirmed); another running re-read is dropped with a warning. */
void w2k_rereads_stop(w2k_rereads_t *r);

#endif
