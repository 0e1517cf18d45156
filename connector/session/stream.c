/* stream.c — one stream's session: start (tables, publications, slot, snapshot or
 * START_REPLICATION), frames in, the change rules' messages produced, acknowledgements
 * taken, status updates out. The jobs around it live in their own modules: tables.c,
 * change.c, rereads.c, purge.c, eos.c. */
#include "stream.h"
#include "appmsg.h"
#include "avroenc.h"
#include "avrofp.h"
#include "catalog.h"
#include "change.h"
#include "clock.h"
#include "ddl.h"
#include "eos.h"
#include "filter.h"
#include "log.h"
#include "lsntrack.h"
#include "metrics.h"
#include "pgconn.h"
#include "pgoutput.h"
#include "registry.h"
#include "relcache.h"
#include "rereads.h"
#include "resnap.h"
#include "secret.h"
#include "signals.h"
#include "purge.h"
#include "snapshot.h"
#include "standby.h"
#include "state.h"
#include "tables.h"
#include "txmeta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BATCH_FRAMES        2000 /* frames handled per step before the main loop runs again */
#define CLOCK_FRAMES        64   /* frames between readings of the wall clock in a step */
#define MAX_MSGS_PER_CHANGE 4    /* a key change: delete, tombstone, create (+ margin) */

/* What a relation needs for output; hangs off w2k_relation_t.out. */
typedef struct relout_s {
    w2k_relavro_t *ra;
    w2k_sink_topic_t *topic;
    const w2k_table_cfg_t *tcfg; /* NULL when the table is not in the configuration */
    /* filters = connector: the row filter (bound to the full relation) and the column
     * list (prel: the relation as published, proj: its columns' positions in rel) */
    w2k_filter_t *filter;
    w2k_relation_t *prel;
    int *proj;
    int32_t key_id, value_id; /* schema-registry ids (Confluent framing), or -1 */
    w2k_metrics_table_t *mt;
    /* hash_columns, mask_columns: per published column 0 or W2K_MASKED_*, and the
     * published relation with those columns' types made text (the schemas'), or NULL */
    char *mask;
    w2k_relation_t *mrel;
} relout_t;

/* A message the producer's queue had no room for: its copy, produced again later. */
typedef struct pending_s {
    w2k_sink_topic_t *topic;
    uint64_t seq;
    int64_t ts_ms;
    char *key, *value; /* value NULL: tombstone; key NULL: no key */
    size_t keylen, valuelen;
} pending_t;

/* A topic of application messages, its schemas made known (messages = { ... }). */
typedef struct msgtopic_s {
    char name[256];
    w2k_sink_topic_t *topic;
    int32_t key_id, value_id;
} msgtopic_t;

/* A transaction PostgreSQL streams while in progress (streaming = true): its changes
 * go into the open Kafka transaction, which stays open until its Stream Commit. */
typedef struct strm_s {
    uint32_t xid;
    uint64_t seq;   /* lsntrack sequence: nothing past it is confirmed before its commit */
    int64_t us;     /* µs since 1970 when its first block came (its messages' time) */
    uint32_t *subs; /* the (sub)transactions whose changes were produced (repeats kept) */
    size_t nsubs, capsubs;
} strm_t;

/* A streamed (sub)transaction whose produced changes were given up (aborted in
 * PostgreSQL, or committed to Kafka before a restart): skipped when streamed again. */
typedef struct xidpair_s {
    uint32_t xid, subxid; /* subxid == xid: all of it */
} xidpair_t;

/* Schemas already stored in <prefix>.schemas by this process: fingerprint and text_fp
 * (json NULL), so one differing only in properties is stored too. */
typedef struct fpset_s {
    w2k_schema_t *v;
    size_t n, cap;
    size_t *slots; /* open addressing by fingerprint: index in v + 1, 0 = empty; a list
                      scan per lookup was 10,000 x 20,000 comparisons at 10,000 tables */
    size_t nslots; /* a power of 2 above 2 n, or 0 */
} fpset_t;

struct w2k_stream_s {
    const w2k_config_t *cfg;
    const w2k_stream_cfg_t *scfg;
    w2k_sink_t *sink;
    int sink_id;
    w2k_registry_t *reg; /* NULL: single-object encoding, schemas in <prefix>.schemas */
    w2k_metrics_stream_t *ms;
    int64_t paused_since; /* monotonic ms reading paused at max_in_flight; 0 while reading */
    bool paused_logged;   /* that pause lasted PAUSE_LOG_MS and was logged */
    char salt[1024];      /* the key of hash_columns (never logged), when scfg->hashes */
    size_t saltlen;
    int32_t change_key_id, change_value_id;
    PGconn *repl;
    PGconn *catalog;
    PGconn *dec; /* postgresql.decoding_conninfo: the standby holding the slot, else NULL */
    bool decoding_logged; /* the decoding server was named in the log */
    w2k_pg_ident_t ident;
    w2k_lsntrack_t *lt;
    w2k_relcache_t *rc;
    w2k_avroenc_t *enc;
    w2k_pgmsg_t *msg;
    uint32_t signal_relid; /* the signal table's OID once its Relation came (before 14) */
    w2k_sink_topic_t *schemas_topic;
    w2k_sink_topic_t *changes_topic;
    fpset_t published;
    char schemas_topic_name[256];
    char changes_topic_name[256];

    bool streaming;       /* replication started */
    w2k_snapshot_t *snap; /* the initial snapshot being read, or NULL */
    w2k_purge_t *purge;   /* the snapshot writes onto topics holding messages */
    bool snap_flushing;   /* snapshot read: waiting for its acknowledgements */
    bool snapshotting;    /* messages now come from the snapshot */
    bool finished;        /* snapshot = initial_only and done */
    w2k_lsn_t snap_lsn;   /* the slot's consistent point */
    w2k_stream_state_t state;
    bool state_loaded;
    char state_topic_name[256];
    bool in_txn;
    w2k_eos_t *eos; /* exactly-once: Kafka transactions end at PostgreSQL commits */
    bool skipping;  /* the open PostgreSQL transaction was committed to Kafka before */
    uint64_t txn;   /* lsntrack sequence of the open transaction */
    uint32_t xid;
    w2k_lsn_t commit_lsn;    /* of the open transaction */
    int64_t commit_us;       /* µs since 1970 */
    w2k_lsn_t received;      /* highest WAL position seen */
    w2k_lsn_t last_data_lsn; /* position of the last data message that had one */
    w2k_lsn_t keepalive_end; /* the server's position from its last keepalive */
    int64_t next_status_ms;
    int64_t heard_ms; /* the server last sent something, or the stream last chose not
                         to read (backpressure): the silence on the connection since */
    bool ping_due;    /* the next status update asks the server to answer at once */
    bool pinged;      /* ...and one did, in the current silence */
    int64_t next_wal_check_ms;
    bool reply_due;
    bool buffered;    /* the last step stopped at BATCH_FRAMES: frames may wait in libpq's
                         buffer, where poll() does not see them */
    int64_t clock_ms; /* while a step reads frames: the wall clock, read every
                         CLOCK_FRAMES frames (ts_ms of the messages); else 0 */
    bool failed;      /* a delivery failed for good */
    w2k_err_t failure;
    /* messages the producer's full queue did not take yet, oldest first: produced
     * before anything else, and the stream reads nothing while there are any */
    pending_t *pending;
    size_t npending, firstpending, cappending;
    w2k_pg_keepalive_t keepalive; /* the last status update, for the main loop to repeat */

    w2k_tables_t *tables;   /* its tables and publications */
    w2k_pgtuple_t *pold;    /* a row the re-snapshot reads */
    w2k_rereads_t *rereads; /* tables re-read while streaming */

    w2k_txmeta_t *txmeta;        /* transaction_metadata = true: the open transaction's counts */
    bool txmeta_begun;           /* ...and its BEGIN event was produced */
    w2k_sink_topic_t *txn_topic; /* <prefix>.transaction */
    int32_t txn_key_id, txn_value_id;
    char txn_topic_name[256];
    msgtopic_t *msgtopics; /* the application messages' topics used so far */
    size_t nmsgtopics;

    w2k_buf_t key, value;
    w2k_change_t *change; /* the rules that turn a change into messages, and their buffers */

    /* streaming = true: in-progress transactions in blocks (pgoutput protocol 2) */
    bool v2;       /* replication started with streaming 'on' */
    bool in_block; /* between a Stream Start and its Stream Stop */
    strm_t *strms; /* streamed transactions in progress, oldest first */
    size_t nstrms, capstrms;
    size_t cur;         /* in_block: strms[cur] is the block's transaction */
    xidpair_t *aborted; /* skipped when streamed again; kept across restarts */
    size_t naborted, capaborted;
    uint32_t restart_xid; /* the transaction of the last restarts, and their number */
    int restarts;
    bool nostream; /* fell back: replication without streaming until nostream_xid ends */
    uint32_t nostream_xid;
    uint64_t emitted; /* messages handed to emit() so far */
};

void w2k_stream_serve_acks(w2k_stream_t *st)
{
    const uint64_t *seqs;
    size_t n = w2k_sink_take_acks(st->sink, st->sink_id, &seqs);
    for (size_t i = 0; i < n; i++)
        w2k_lsntrack_ack(st->lt, seqs[i], true);
    uint64_t seq;
    w2k_err_t failure;
    while (w2k_sink_take_failure(st->sink, st->sink_id, &seq, &failure)) {
        /* A message an earlier start produced (still queued in the producer when that
         * start failed) may time out only after the stream started again: its changes
         * are read from the slot again, so its failure is not this start's. */
        if (seq && !w2k_lsntrack_ack(st->lt, seq, false))
            continue;
        if (!st->failed) {
            st->failed = true;
            st->failure = failure;
        }
    }
}

w2k_pg_keepalive_t *w2k_stream_keepalive(w2k_stream_t *st)
{
    return &st->keepalive;
}

static void drop_pending(w2k_stream_t *st);

/* Free what o holds: its schemas, column list and masks (not o itself). */
static void relout_clear(relout_t *o)
{
    w2k_relavro_destroy(o->ra);
    w2k_relation_free(o->prel);
    free(o->proj);
    w2k_relation_free(o->mrel);
    free(o->mask);
}

static void free_relout(void *arg, w2k_relation_t *rel)
{
    (void)arg;
    relout_clear(rel->out);
    free(rel->out);
}

/* The salt of hash_columns: the stream's hash_salt_file, else W2K_HASH_SALT; required. */
static int read_salt(w2k_stream_t *st, w2k_err_t *err)
{
    if (w2k_secret_read(st->scfg->hash_salt_file, "hash_salt_file", "W2K_HASH_SALT", st->salt,
                        sizeof st->salt, err) != 0)
        return -1;
    st->saltlen = strlen(st->salt);
    if (st->saltlen)
        return 0;
    w2k_err_set(err, W2K_EXIT_CONFIG,
                "stream %s hashes columns (hash_columns) but has no salt: %s is empty",
                st->scfg->name,
                st->scfg->hash_salt_file ? st->scfg->hash_salt_file : "W2K_HASH_SALT");
    w2k_err_hint(err, "put a secret salt on the first line of an owner-only file named by the "
                      "stream's hash_salt_file, or in the environment variable W2K_HASH_SALT; keep "
                      "it: another salt gives other hashes");
    return -1;
}

w2k_stream_t *w2k_stream_new(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg,
                             w2k_sink_t *sink, w2k_registry_t *reg, w2k_metrics_t *metrics,
                             w2k_err_t *err)
{
    w2k_stream_t *st = calloc(1, sizeof *st);
    if (!st)
        goto oom;
    st->cfg = cfg;
    st->scfg = scfg;
    st->sink = sink;
    st->reg = reg;
    st->ms = w2k_metrics_stream(metrics, scfg->name);
    st->msg = malloc(sizeof *st->msg);
    st->enc = w2k_avroenc_new();
    st->change = w2k_change_new();
    st->pold = malloc(sizeof *st->pold);
    st->lt = w2k_lsntrack_new(0);
    st->tables = w2k_tables_new(cfg, scfg);
    st->rereads = w2k_rereads_new(cfg, scfg->name);
    snprintf(st->state_topic_name, sizeof st->state_topic_name, "%s.state", scfg->topic_prefix);
    st->eos = w2k_eos_new(cfg->exactly_once      ? W2K_EOS_EXACTLY_ONCE
                          : cfg->standby_enabled ? W2K_EOS_FENCE
                                                 : W2K_EOS_OFF,
                          cfg->commit_interval_ms, st->state_topic_name, scfg->name, &st->state);
    if (scfg->txmeta && !(st->txmeta = w2k_txmeta_new()))
        goto oom;
    if (!st->msg || !st->enc || !st->change || !st->lt || !st->pold || !st->eos || !st->tables ||
        !st->rereads)
        goto oom;
    w2k_eos_attach(st->eos, sink);
    st->sink_id = w2k_sink_register(sink);
    if (st->sink_id < 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "too many streams in one process");
        w2k_stream_destroy(st);
        return NULL;
    }
    snprintf(st->schemas_topic_name, sizeof st->schemas_topic_name, "%s.schemas",
             scfg->topic_prefix);
    snprintf(st->changes_topic_name, sizeof st->changes_topic_name, "%s.schema_changes",
             scfg->topic_prefix);
    snprintf(st->txn_topic_name, sizeof st->txn_topic_name, "%s.transaction", scfg->topic_prefix);
    if (scfg->hashes && read_salt(st, err) != 0) {
        w2k_stream_destroy(st);
        return NULL;
    }
    return st;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory creating stream %s", scfg->name);
    w2k_stream_destroy(st);
    return NULL;
}

void w2k_stream_stop(w2k_stream_t *st)
{
    if (st->eos)
        w2k_eos_stop(st->eos);
    st->skipping = false;
    if (st->rereads)
        w2k_rereads_stop(st->rereads);
    w2k_snapshot_end(st->snap);
    st->snap = NULL;
    w2k_purge_destroy(st->purge);
    st->purge = NULL;
    st->snap_flushing = st->snapshotting = false;
    drop_pending(st);
    w2k_pg_keepalive_sent(&st->keepalive, NULL, 0, 0, 0);
    if (st->repl)
        PQfinish(st->repl);
    st->repl = NULL;
    if (st->catalog)
        PQfinish(st->catalog);
    st->catalog = NULL;
    if (st->dec)
        PQfinish(st->dec);
    st->dec = NULL;
    w2k_relcache_destroy(st->rc);
    st->rc = NULL;
    st->streaming = false;
    st->in_txn = false;
    for (size_t i = 0; i < st->nstrms; i++)
        free(st->strms[i].subs);
    st->nstrms = 0;
    st->in_block = false;
    st->txmeta_begun = false;
    st->buffered = false;
    st->clock_ms = 0;
    /* a new session replays from the confirmed LSN: nothing the old one heard counts */
    st->keepalive_end = st->received = st->last_data_lsn = 0;
    st->failed = false;
    w2k_lsntrack_reset(st->lt);
}

void w2k_stream_destroy(w2k_stream_t *st)
{
    if (!st)
        return;
    w2k_stream_stop(st);
    w2k_secret_wipe(st->salt, sizeof st->salt);
    free(st->pending);
    free(st->strms);
    free(st->aborted);
    w2k_eos_destroy(st->eos);
    w2k_lsntrack_destroy(st->lt);
    w2k_avroenc_destroy(st->enc);
    free(st->msg);
    w2k_change_destroy(st->change);
    free(st->published.v);
    free(st->published.slots);
    free(st->msgtopics);
    w2k_txmeta_destroy(st->txmeta);
    w2k_tables_destroy(st->tables);
    w2k_rereads_destroy(st->rereads);
    free(st->pold);
    w2k_buf_free(&st->key);
    w2k_buf_free(&st->value);
    free(st);
}

int w2k_stream_attach(w2k_stream_t *st, w2k_sink_t *sink, w2k_err_t *err)
{
    w2k_stream_stop(st);
    st->sink = sink;
    w2k_eos_attach(st->eos, sink);
    st->sink_id = w2k_sink_register(sink);
    if (st->sink_id < 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "too many streams in one process");
        return -1;
    }
    st->schemas_topic = st->changes_topic = NULL;
    st->nmsgtopics = 0; /* their handles were the old producer's */
    st->txn_topic = NULL;
    return 0;
}

const char *w2k_stream_name(const w2k_stream_t *st)
{
    return st->scfg->name;
}

/* Store a schema in <prefix>.schemas (once per process) and wait for the ack. */
/* Exactly-once: make sure a Kafka transaction is open before producing. */
static int eos_ensure(w2k_stream_t *st, w2k_err_t *err)
{
    return w2k_eos_ensure(st->eos, err);
}

/* Exactly-once: commit the open Kafka transaction with the stream's record; only then
 * may PostgreSQL be told. Not while messages of it wait for room in the producer. */
static int eos_commit(w2k_stream_t *st, w2k_err_t *err)
{
    return st->npending ? 0 : w2k_eos_commit(st->eos, err);
}

/* Copy a message the producer's queue had no room for to the end of the pending ones.
 * Returns 0, or -1 with err when out of memory. */
static int keep_pending(w2k_stream_t *st, w2k_sink_topic_t *topic, uint64_t seq, int64_t ts_ms,
                        const void *key, size_t keylen, const void *value, size_t valuelen,
                        w2k_err_t *err)
{
    if (st->npending == st->cappending) {
        size_t cap = st->cappending ? st->cappending * 2 : 16;
        pending_t *p = realloc(st->pending, cap * sizeof *p);
        if (!p)
            goto oom;
        st->pending = p;
        st->cappending = cap;
    }
    pending_t *p = &st->pending[st->npending];
    *p = (pending_t){topic, seq, ts_ms, NULL, NULL, keylen, valuelen};
    if ((key && !(p->key = malloc(keylen ? keylen : 1))) ||
        (value && !(p->value = malloc(valuelen ? valuelen : 1)))) {
        free(p->key);
        goto oom;
    }
    if (key)
        memcpy(p->key, key, keylen);
    if (value)
        memcpy(p->value, value, valuelen);
    st->npending++;
    return 0;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory keeping a message for the producer");
    return -1;
}

/* Hand one message of transaction seq to the producer (it is counted in flight
 * already), after those still pending; a full queue keeps it pending. Returns 0, or
 * -1 with err. */
static int produce(w2k_stream_t *st, w2k_sink_topic_t *topic, uint64_t seq, int64_t ts_ms,
                   const void *key, size_t keylen, const void *value, size_t valuelen,
                   w2k_err_t *err)
{
    if (st->npending == 0) {
        int rc = w2k_sink_produce(st->sink, st->sink_id, seq, topic, key, keylen, value, valuelen,
                                  ts_ms, err);
        if (rc != W2K_SINK_FULL)
            return rc;
    }
    return keep_pending(st, topic, seq, ts_ms, key, keylen, value, valuelen, err);
}

/* Produce the pending messages, oldest first, until the queue is full again. Returns
 * 0 (some may still be pending), or -1 with err. */
static int flush_pending(w2k_stream_t *st, w2k_err_t *err)
{
    while (st->firstpending < st->npending) {
        pending_t *p = &st->pending[st->firstpending];
        int rc = w2k_sink_produce(st->sink, st->sink_id, p->seq, p->topic, p->key, p->keylen,
                                  p->value, p->valuelen, p->ts_ms, err);
        if (rc == W2K_SINK_FULL)
            return 0;
        if (rc != 0)
            return -1;
        free(p->key);
        free(p->value);
        st->firstpending++;
    }
    st->npending = st->firstpending = 0;
    return 0;
}

/* Forget the pending messages (the stream restarts from its slot). */
static void drop_pending(w2k_stream_t *st)
{
    for (size_t i = st->firstpending; i < st->npending; i++) {
        free(st->pending[i].key);
        free(st->pending[i].value);
    }
    st->npending = st->firstpending = 0;
}

/* The LSN that may be confirmed to PostgreSQL. */
static w2k_lsn_t confirmable(w2k_stream_t *st)
{
    w2k_lsn_t c = w2k_lsntrack_confirmed(st->lt);
    /* nothing at or past a repair request whose re-read is not done */
    c = w2k_rereads_hold(st->rereads, c);
    return w2k_eos_confirmable(st->eos, c, st->in_txn);
}

/* Note schema s as stored in <prefix>.schemas. Returns 0, or -1 with err. */
/* The first slot of fingerprint fp in a table of nslots (a power of 2). */
static size_t fpset_home(uint64_t fp, size_t nslots)
{
    return (size_t)((fp ^ (fp >> 31)) * UINT64_C(0x9E3779B97F4A7C15) >> 20) & (nslots - 1);
}

/* Put v[i] into slots (of nslots, with room). */
static void fpset_put(fpset_t *f, size_t *slots, size_t nslots, size_t i)
{
    size_t h = fpset_home(f->v[i].fingerprint, nslots);
    while (slots[h])
        h = (h + 1) & (nslots - 1);
    slots[h] = i + 1;
}

static int note_published(w2k_stream_t *st, const w2k_schema_t *s, w2k_err_t *err)
{
    fpset_t *f = &st->published;
    if (2 * (f->n + 1) > f->nslots) {
        size_t nslots = f->nslots ? f->nslots * 2 : 128;
        size_t *slots = calloc(nslots, sizeof *slots);
        if (!slots) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        for (size_t i = 0; i < f->n; i++)
            fpset_put(f, slots, nslots, i);
        free(f->slots);
        f->slots = slots;
        f->nslots = nslots;
    }
    if (st->published.n == st->published.cap) {
        size_t cap = st->published.cap ? st->published.cap * 2 : 64;
        w2k_schema_t *v = realloc(st->published.v, cap * sizeof *v);
        if (!v) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        st->published.v = v;
        st->published.cap = cap;
    }
    st->published.v[st->published.n] = (w2k_schema_t){NULL, s->fingerprint, s->text_fp};
    fpset_put(f, f->slots, f->nslots, f->n++);
    return 0;
}

static bool is_published(const w2k_stream_t *st, const w2k_schema_t *s)
{
    const fpset_t *f = &st->published;
    if (!f->nslots)
        return false;
    for (size_t h = fpset_home(s->fingerprint, f->nslots); f->slots[h];
         h = (h + 1) & (f->nslots - 1))
        if (w2k_schema_same(&f->v[f->slots[h] - 1], s))
            return true;
    return false;
}

/* Make a schema known before the first message that uses it: with a registry,
 * registered under <topic>-<part> (*id receives its id); without, stored in
 * <prefix>.schemas (once per process) and acknowledged. Returns 0, or -1 with err. */
static int publish_schema(w2k_stream_t *st, const w2k_schema_t *s, const char *topic,
                          const char *part, int32_t *id, w2k_err_t *err)
{
    *id = -1;
    if (st->reg) {
        char subject[600];
        snprintf(subject, sizeof subject, "%s-%s", topic, part);
        if (w2k_registry_register(st->reg, subject, s, id, err) == 0) {
            if (st->clock_ms) /* that may have waited for the registry */
                st->clock_ms = w2k_clock_wall_ms();
            return 0;
        }
        w2k_metrics_error(st->ms, W2K_ERRKIND_REGISTRY);
        return -1;
    }
    if (is_published(st, s))
        return 0;
    if (eos_ensure(st, err) != 0)
        return -1;
    /* key: the fingerprint bytes as the single-object header carries them, in hex */
    char key[17];
    uint8_t header[W2K_SOE_HEADER_LEN];
    w2k_soe_header(s->fingerprint, header);
    for (int i = 0; i < 8; i++)
        snprintf(key + 2 * i, 3, "%02x", header[2 + i]);
    if (w2k_sink_produce_sync(st->sink, st->schemas_topic, key, 16, s->json, strlen(s->json), 30000,
                              err) != 0)
        return -1;
    /* that waited for the broker: the messages that follow were made after it */
    if (st->clock_ms)
        st->clock_ms = w2k_clock_wall_ms();
    return note_published(st, s, err);
}

/* The slot is gone, or the server is not the one this stream streamed from: changes
 * may be missing. Stop with the choices, or (on_slot_lost = recreate) go on with a
 * new slot and a new snapshot, announced. Returns 0 to go on, -1 with err to stop. */
static int slot_lost(w2k_stream_t *st, const char *what, w2k_err_t *err)
{
    const w2k_stream_cfg_t *sc = st->scfg;
    if (sc->on_slot_lost == W2K_SLOT_LOST_RECREATE) {
        w2k_warn_hint("consumers may miss changes made meanwhile; set on_slot_lost = exit to "
                      "stop instead, and see docs/operations.md on failover",
                      "stream %s: %s; changes made since the last confirmed position may be "
                      "missing: creating a new slot %s (on_slot_lost = recreate)",
                      sc->name, what,
                      sc->snapshot == W2K_SNAPSHOT_INITIAL
                          ? "and taking a new snapshot"
                          : "without a snapshot (snapshot = never: rows changed meanwhile are not "
                            "read again)");
        return 0;
    }
    w2k_err_set(err, W2K_EXIT_POSTGRES,
                "%s, so changes made since wal2kafka last confirmed may be lost", what);
    w2k_err_hint(err,
                 "wal2kafka does not silently start over. Either set on_slot_lost = "
                 "\"recreate\" for stream %s (a new slot and a new snapshot of every table, "
                 "announced in the log), or restore the old server/slot; if you know nothing "
                 "was missed, delete the stream's record from topic %s",
                 sc->name, st->state_topic_name);
    return -1;
}

/* Store next as the stream's record (inside the open transaction in exactly-once
 * mode). */
static int save_state_record(w2k_stream_t *st, const w2k_stream_state_t *next, w2k_err_t *err)
{
    if (eos_ensure(st, err) != 0 ||
        w2k_state_write(st->sink, st->state_topic_name, st->scfg->name, next, err) != 0)
        return -1;
    st->state = *next;
    return 0;
}

/* Record the stream's state in <prefix>.state when it changed (committed at once in
 * exactly-once mode). */
static int save_state(w2k_stream_t *st, const char *snapshot, w2k_lsn_t snap_lsn, w2k_err_t *err)
{
    w2k_stream_state_t next = st->state;
    next.found = true;
    snprintf(next.system_id, sizeof next.system_id, "%s", st->ident.systemid);
    next.timeline = st->ident.timeline;
    snprintf(next.slot, sizeof next.slot, "%s", st->scfg->slot);
    snprintf(next.snapshot, sizeof next.snapshot, "%s", snapshot);
    next.snapshot_lsn = snap_lsn;
    if (st->state.found && memcmp(&next, &st->state, sizeof next) == 0)
        return 0;
    if (save_state_record(st, &next, err) != 0)
        return -1;
    return eos_commit(st, err);
}

static int start_streaming(w2k_stream_t *st, w2k_err_t *err)
{
    const w2k_stream_cfg_t *sc = st->scfg;
    w2k_lsn_t from = confirmable(st);
    if (sc->streaming) {
        w2k_pg_caps_t caps;
        w2k_pg_caps(st->repl, &caps);
        if (!caps.streaming_v2) {
            w2k_pg_set_unsupported(err, caps.version_num, "streaming of in-progress transactions",
                                   14,
                                   "remove streaming = true from the stream, or upgrade "
                                   "PostgreSQL to 14 or newer");
            return -1;
        }
    }
    st->v2 = sc->streaming && !st->nostream;
    st->in_block = false;
    if (w2k_pg_start_replication_v2(st->repl, sc->slot, w2k_tables_pubs(st->tables)->names, from,
                                    st->v2, err) != 0)
        return -1;
    char lsn[20];
    w2k_info("stream %s: streaming from slot %s at %s (database %s%s)", sc->name, sc->slot,
             w2k_lsn_str(from ? from : st->snap_lsn, lsn), st->ident.dbname,
             st->v2 ? ", in-progress transactions streamed" : "");
    st->streaming = true;
    st->next_status_ms = w2k_clock_mono_ms() + st->cfg->status_interval_ms;
    st->heard_ms = w2k_clock_mono_ms();
    st->ping_due = st->pinged = false;
    w2k_metrics_state(st->ms, W2K_STREAM_STREAMING, NULL);
    return 0;
}

/* Begin reading every row in the exported snapshot snapshot_name; record = note in
 * the state record that a snapshot is running (not for initial_only). */
static int ensure_topics(w2k_stream_t *st, int first, int n, bool own, w2k_err_t *err);

static int start_snapshot(w2k_stream_t *st, const char *snapshot_name, bool record, w2k_err_t *err)
{
    if (record && save_state(st, "running", st->snap_lsn, err) != 0)
        return -1;
    w2k_purge_destroy(st->purge);
    /* Before a snapshot writes: note which of the tables' topics hold messages already
     * (an interrupted snapshot's; the stream's before its slot was lost, invalidated or
     * its server changed; an earlier initial_only run's). Only then are the snapshot's
     * keys noted, for purge_step. */
    if (w2k_purge_prepare(st->cfg, st->tables, &st->purge, err) != 0 ||
        ensure_topics(st, 0, w2k_tables_count(st->tables), false, err) != 0)
        return -1;
    st->snap = w2k_snapshot_begin(st->cfg, w2k_tables_stream_cfg(st->tables), snapshot_name, err);
    if (!st->snap)
        return -1;
    st->txn = w2k_lsntrack_begin(st->lt);
    st->xid = 0;
    st->commit_lsn = 0;
    st->commit_us = w2k_clock_wall_us();
    st->snapshotting = true;
    w2k_metrics_state(st->ms, W2K_STREAM_SNAPSHOT, NULL);
    return 0;
}

/* Streaming resumes from an existing slot (queue): tables that joined at start are
 * re-read while streaming, so their rows written before they joined are not missed
 * (as for a table a pattern picks up while running). A new slot's snapshot reads them
 * all (or snapshot = never): nothing to do. */
static void reread_joined(w2k_stream_t *st, bool queue)
{
    char **joined;
    int n = w2k_tables_take_joined(st->tables, &joined);
    for (int i = 0; i < n; i++) {
        char *dot = strchr(joined[i], '.');
        if (queue && dot) {
            *dot = '\0';
            w2k_info("stream %s: table %s.%s joins the stream", st->scfg->name, joined[i], dot + 1);
            w2k_rereads_queue(st->rereads, joined[i], dot + 1, 0);
        }
        free(joined[i]);
    }
    free(joined);
}

/* A start that failed after creating the stream's slot, before streaming from it, drops
 * that slot: nothing of a failed start holds WAL back. Its connections are closed by
 * then; the walsender that created the slot may still be on its way out, so a slot
 * still active is tried again for a few seconds. Best effort: what fails is logged. */
static void drop_created_slot(w2k_stream_t *st)
{
    const w2k_stream_cfg_t *sc = st->scfg;
    w2k_err_t e;
    memset(&e, 0, sizeof e);
    PGconn *c = w2k_pg_connect(w2k_config_decoding(st->cfg), st->cfg->pg_password_file, false, &e);
    const char *p[1] = {sc->slot};
    bool dropped = false, gone = false;
    for (int tries = 0; c && !dropped && !gone && tries < 50; tries++) {
        PGresult *r =
            w2k_pg_query(c, &e, "dropping the slot of a failed start",
                         "SELECT active FROM pg_replication_slots WHERE slot_name = $1", 1, p);
        if (!r)
            break;
        gone = PQntuples(r) == 0;
        bool active = !gone && PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (gone)
            break;
        if (!active) {
            dropped = w2k_catalog_drop_slot(c, sc->slot, &e) == 0;
            if (!dropped)
                break;
        } else {
            struct timespec ts = {0, 100 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (dropped)
        w2k_info("stream %s: dropped replication slot %s, created by this start, which failed "
                 "before streaming",
                 sc->name, sc->slot);
    else if (!gone)
        w2k_warn_hint("drop it by hand if this stream is not started again",
                      "stream %s: could not drop replication slot %s, created by a start that "
                      "failed: %s; it holds WAL back until the next start uses it or it is dropped "
                      "(SELECT pg_drop_replication_slot('%s'))",
                      sc->name, sc->slot, c ? e.msg : "no connection", sc->slot);
    if (c)
        PQfinish(c);
}

static int relout_schemas(w2k_stream_t *st, const w2k_relation_t *rel, relout_t *o, bool project,
                          w2k_err_t *err);

/* Schemas stored per w2k_sink_produce_sync_many() call of prepublish_schemas. */
#define PREPUBLISH_BATCH 1000

/* Store the schemas in <prefix>.schemas of the (count) relavros in ras not stored yet,
 * with one wait for all of them. Returns 0, or -1 with err. */
static int store_schemas(w2k_stream_t *st, w2k_relavro_t **ras, int count, w2k_err_t *err)
{
    const void **keys = calloc((size_t)count * 2 + 1, sizeof *keys);
    const void **values = calloc((size_t)count * 2 + 1, sizeof *values);
    size_t *keylens = calloc((size_t)count * 2 + 1, sizeof *keylens);
    size_t *valuelens = calloc((size_t)count * 2 + 1, sizeof *valuelens);
    char(*hex)[17] = calloc((size_t)count * 2 + 1, sizeof *hex);
    const w2k_schema_t **schemas = calloc((size_t)count * 2 + 1, sizeof *schemas);
    size_t n = 0;
    int rc = -1;
    if (!keys || !values || !keylens || !valuelens || !hex || !schemas) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    for (int i = 0; i < count; i++) {
        const w2k_schema_t *both[2] = {w2k_relavro_key_schema(ras[i]),
                                       w2k_relavro_value_schema(ras[i])};
        for (int k = 0; k < 2; k++) {
            const w2k_schema_t *sc = both[k];
            bool dup = !sc || is_published(st, sc);
            for (size_t j = 0; j < n && !dup; j++)
                dup = w2k_schema_same(schemas[j], sc);
            if (dup)
                continue;
            uint8_t header[W2K_SOE_HEADER_LEN];
            w2k_soe_header(sc->fingerprint, header);
            for (int b = 0; b < 8; b++)
                snprintf(hex[n] + 2 * b, 3, "%02x", header[2 + b]);
            schemas[n] = sc;
            keys[n] = hex[n];
            keylens[n] = 16;
            values[n] = sc->json;
            valuelens[n] = strlen(sc->json);
            n++;
        }
    }
    if (n && w2k_sink_produce_sync_many(st->sink, st->schemas_topic, n, keys, keylens, values,
                                        valuelens, 30000, err) != 0)
        goto out;
    rc = 0;
    for (size_t j = 0; j < n && rc == 0; j++)
        rc = note_published(st, schemas[j], err);
out:
    free(keys);
    free(values);
    free(keylens);
    free(valuelens);
    free(hex);
    free(schemas);
    return rc;
}

/* Without a registry: store the schemas of table entries [first, first + n) whose
 * keyed[i] is known (w2k_tables_keyed) in <prefix>.schemas ahead of their first change,
 * described from the catalog and built as their first change builds them (column list
 * and masks applied: relout_schemas), waiting once per
 * PREPUBLISH_BATCH tables instead of twice per table on the streaming path. A table
 * that cannot be described now (gone, renamed) is left to its first change. Returns 0,
 * or -1 with err. */
static int prepublish_schemas(w2k_stream_t *st, int first, int n, const signed char *keyed,
                              w2k_err_t *err)
{
    if (st->reg || n <= 0 || eos_ensure(st, err) != 0)
        return st->reg || n <= 0 ? 0 : -1;
    w2k_relavro_t **ras = calloc(PREPUBLISH_BATCH, sizeof *ras);
    int count = 0, rc = 0;
    if (!ras) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    const char **schemas = calloc(PREPUBLISH_BATCH, sizeof *schemas);
    const char **names = calloc(PREPUBLISH_BATCH, sizeof *names);
    w2k_relation_t **rels = calloc(PREPUBLISH_BATCH, sizeof *rels);
    const w2k_table_cfg_t **tcfgs = calloc(PREPUBLISH_BATCH, sizeof *tcfgs);
    if (!schemas || !names || !rels || !tcfgs) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        rc = -1;
    }
    for (int from = 0; from < n && rc == 0; from += PREPUBLISH_BATCH) {
        int cnt = 0;
        for (int i = from; i < n && i < from + PREPUBLISH_BATCH; i++) {
            if (keyed[i] < 0)
                continue;
            const w2k_table_cfg_t *t = w2k_tables_cfg(st->tables, first + i);
            tcfgs[cnt] = t;
            schemas[cnt] = t->schema;
            names[cnt++] = t->name;
        }
        if (w2k_catalog_relations(st->catalog, schemas, names, cnt, rels, err) != 0) {
            rc = -1;
            break;
        }
        for (int k = 0; k < cnt; k++) {
            /* built as the first change builds them: column list and masks applied */
            relout_t o = {.tcfg = tcfgs[k]};
            w2k_err_t e;
            if (rels[k] && relout_schemas(st, rels[k], &o, true, &e) == 0) {
                ras[count++] = o.ra;
                o.ra = NULL;
            }
            relout_clear(&o);
            w2k_relation_free(rels[k]);
        }
        rc = store_schemas(st, ras, count, err);
        for (int k = 0; k < count; k++)
            w2k_relavro_destroy(ras[k]);
        count = 0;
    }
    free(schemas);
    free(names);
    free(rels);
    free(tcfgs);
    free(ras);
    return rc;
}

/* Create ahead of need, batched, the topics of table entries [first, first + n) whose
 * kind the catalog tells now, and store their schemas (prepublish_schemas); with own,
 * first the stream's own topics: a table's first change then finds its topic and
 * schemas ready instead of waiting for them. Returns 0, or -1 with err. */
static int ensure_topics(w2k_stream_t *st, int first, int n, bool own, w2k_err_t *err)
{
    int max = n + 3, cnt = 0, rc = -1;
    signed char *keyed = calloc((size_t)n + 1, 1);
    char **names = calloc((size_t)max, sizeof *names);
    w2k_topic_kind_t *kinds = calloc((size_t)max, sizeof *kinds);
    if (!keyed || !names || !kinds) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (own) {
        const char *mine[3] = {st->schemas_topic_name, st->changes_topic_name,
                               st->state_topic_name};
        for (int i = 0; i < 3; i++) {
            kinds[cnt] = W2K_TOPIC_COMPACT;
            if (!(names[cnt++] = strdup(mine[i])))
                goto oom;
        }
    }
    if (n && w2k_tables_keyed(st->tables, st->catalog, first, n, keyed, err) != 0)
        goto out;
    for (int i = 0; i < n; i++) {
        if (keyed[i] < 0)
            continue;
        const w2k_table_cfg_t *t = w2k_tables_cfg(st->tables, first + i);
        char topic[512];
        w2k_tables_topic(st->tables, t->schema, t->name, topic, sizeof topic);
        kinds[cnt] = keyed[i] ? W2K_TOPIC_COMPACT : W2K_TOPIC_DELETE;
        if (!(names[cnt++] = strdup(topic)))
            goto oom;
    }
    rc = w2k_sink_topics_ensure(st->sink, (const char *const *)names, kinds, cnt, err) < 0 ? -1 : 0;
    if (rc == 0 && n)
        rc = prepublish_schemas(st, first, n, keyed, err);
    goto out;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
out:
    for (int i = 0; i < cnt; i++)
        free(names[i]);
    free(names);
    free(kinds);
    free(keyed);
    return rc;
}

/* How long slot creation on a decoding standby and its replay of the primary's changes
 * may take before the start fails (and is retried). */
#define SLOT_CREATE_TIMEOUT_MS 120000
#define REPLAY_TIMEOUT_MS      60000

/* The connection that sees the stream's slot: the decoding standby's, else the
 * catalog's. */
static PGconn *slot_conn(const w2k_stream_t *st)
{
    return st->dec ? st->dec : st->catalog;
}

/* postgresql.decoding_conninfo: connect to the decoding server, check it
 * (w2k_standby_check) and wait until it replayed what the publication upkeep just did
 * on the primary, so the slot finds the publications. Returns 0, or -1 with err. */
static int start_decoding_server(w2k_stream_t *st, w2k_err_t *err)
{
    const w2k_config_t *cfg = st->cfg;
    w2k_standby_info_t info;
    st->dec = w2k_pg_connect(cfg->pg_decoding_conninfo, cfg->pg_password_file, false, err);
    if (!st->dec ||
        w2k_standby_check(st->dec, st->scfg->name, st->scfg->slot, true, &info, err) != 0 ||
        w2k_standby_wait_replayed(st->catalog, st->dec, REPLAY_TIMEOUT_MS, err) != 0)
        return -1;
    if (!st->decoding_logged) {
        w2k_info("stream %s: decoding on %s (postgresql.decoding_conninfo, PostgreSQL %d); "
                 "the publication is kept on the primary",
                 st->scfg->name, info.in_recovery ? "the standby" : "the promoted standby",
                 info.version_num / 10000);
        st->decoding_logged = true;
    }
    return 0;
}

/* Make the stream's own schemas known (changes topic, and transaction topic with
 * transaction metadata). Returns 0, or -1 with err. */
static int publish_own_schemas(w2k_stream_t *st, w2k_err_t *err)
{
    if (publish_schema(st, w2k_avroenc_change_key_schema(st->enc), st->changes_topic_name, "key",
                       &st->change_key_id, err) ||
        publish_schema(st, w2k_avroenc_change_value_schema(st->enc), st->changes_topic_name,
                       "value", &st->change_value_id, err))
        return -1;
    if (st->txmeta && (publish_schema(st, w2k_txmeta_key_schema(), st->txn_topic_name, "key",
                                      &st->txn_key_id, err) ||
                       publish_schema(st, w2k_txmeta_value_schema(), st->txn_topic_name, "value",
                                      &st->txn_value_id, err)))
        return -1;
    return 0;
}

/* Starting from an existing slot: record the stream's state (what it knew of its
 * snapshot). Returns 0, or -1 with err. */
static int save_existing_state(w2k_stream_t *st, w2k_err_t *err)
{
    return save_state(st, st->state.found ? st->state.snapshot : "unknown",
                      st->state.found ? st->state.snapshot_lsn : 0, err);
}

/* Standby instances, once START_REPLICATION holds the slot: initialize the stream's
 * transactional producer now (init_transactions fences the previous holder's and ends
 * its open transaction); in exactly-once mode then read the stream's record again,
 * since the previous holder may have committed after this instance first read it, and
 * skip what it committed. Returns 0, or -1 with err. */
static int claim_stream(w2k_stream_t *st, w2k_err_t *err)
{
    if (w2k_eos_fence(st->eos, err) != 0)
        return -1;
    if (!st->cfg->exactly_once)
        return 0;
    w2k_stream_state_t now;
    if (w2k_state_read(st->cfg, st->state_topic_name, st->scfg->name, &now, err) != 0)
        return -1;
    if (now.found) {
        st->state = now;
        w2k_eos_resume(st->eos);
    }
    return 0;
}

static int stream_start(w2k_stream_t *st, w2k_err_t *err)
{
    const w2k_config_t *cfg = st->cfg;
    const w2k_stream_cfg_t *sc = st->scfg;
    int version;
    w2k_slot_info_t slot;
    char snapshot_name[64];
    bool created = false; /* this start created the slot and did not stream from it yet */
    /* standby instances: no Kafka transaction before the slot is held (see claim_stream) */
    bool late = cfg->standby_enabled;

    w2k_metrics_state(st->ms, W2K_STREAM_STARTING, NULL);
    if (!st->state_loaded) {
        if (w2k_state_read(cfg, st->state_topic_name, sc->name, &st->state, err) != 0)
            goto fail;
        st->state_loaded = true;
        w2k_eos_resume(st->eos);
    }
    st->catalog = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, err);
    if (!st->catalog || w2k_catalog_check_server(st->catalog, &version, err) != 0)
        goto fail;
    if (w2k_appmsg_check_server(cfg, sc, version, err) != 0)
        goto fail;
    if (w2k_tables_resolve(st->tables, st->catalog, version, err) != 0 ||
        w2k_tables_publish(st->tables, st->catalog, st->state.found, err) != 0)
        goto fail;
    if (cfg->pg_decoding_conninfo && start_decoding_server(st, err) != 0)
        goto fail;
    st->repl = w2k_pg_connect(w2k_config_decoding(cfg), cfg->pg_password_file, true, err);
    if (!st->repl || w2k_pg_identify(st->repl, &st->ident, err) != 0)
        goto fail;

    if (ensure_topics(st, 0, 0, true, err) != 0)
        goto fail;
    /* Topics for schemas and schema changes; store the schema-change schemas. */
    st->schemas_topic = w2k_sink_topic(st->sink, st->schemas_topic_name, W2K_TOPIC_COMPACT, err);
    if (!st->schemas_topic)
        goto fail;
    st->changes_topic = w2k_sink_topic(st->sink, st->changes_topic_name, W2K_TOPIC_COMPACT, err);
    if (!st->changes_topic)
        goto fail;
    if (st->txmeta &&
        !(st->txn_topic = w2k_sink_topic(st->sink, st->txn_topic_name, W2K_TOPIC_DELETE, err)))
        goto fail;
    if (!late && publish_own_schemas(st, err) != 0)
        goto fail;
    st->rc = w2k_relcache_new(free_relout, st);
    if (!st->rc)
        goto fail;

    if (sc->snapshot == W2K_SNAPSHOT_INITIAL_ONLY) {
        /* A temporary slot only to export a snapshot; it goes with the connection. */
        char sql[256], tmp[96];
        snprintf(tmp, sizeof tmp, "%s_snapshot_%d", sc->slot, (int)getpid());
        if (late && publish_own_schemas(st, err) != 0)
            goto fail;
        if (st->dec) {
            if (w2k_standby_create_slot(st->repl, st->catalog, tmp, &st->snap_lsn, snapshot_name,
                                        true, SLOT_CREATE_TIMEOUT_MS, err) != 0 ||
                start_snapshot(st, snapshot_name, false, err) != 0)
                goto fail;
            return 0;
        }
        char *q = PQescapeIdentifier(st->repl, tmp, strlen(tmp));
        snprintf(sql, sizeof sql,
                 "CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL pgoutput "
                 "EXPORT_SNAPSHOT",
                 q);
        PQfreemem(q);
        PGresult *r = w2k_pg_query(st->repl, err, "cannot export a snapshot", sql, 0, NULL);
        if (!r)
            goto fail;
        w2k_lsn_parse(PQgetvalue(r, 0, 1), &st->snap_lsn);
        snprintf(snapshot_name, sizeof snapshot_name, "%s", PQgetvalue(r, 0, 2));
        PQclear(r);
        if (start_snapshot(st, snapshot_name, false, err) != 0)
            goto fail;
        return 0;
    }

    bool other_server = false;
    if (st->state.found && strcmp(st->state.system_id, st->ident.systemid) != 0) {
        char what[256];
        snprintf(what, sizeof what,
                 "the server is not the one this stream streamed from (system identifier %s, "
                 "was %s): a failover or restore happened",
                 st->ident.systemid, st->state.system_id);
        if (slot_lost(st, what, err) != 0)
            goto fail;
        st->state.found = false; /* start over on this server */
        other_server = true;
    }
    if (w2k_catalog_slot(slot_conn(st), sc->slot, &slot, err) != 0)
        goto fail;
    if (slot.exists && other_server) {
        /* a slot of that name on another server says nothing of what this stream
         * confirmed: start over as announced */
        w2k_warn_hint("expected after pointing the stream at another server: it starts over "
                      "there as configured (snapshot)",
                      "stream %s: dropping slot %s of the other server's past", sc->name, sc->slot);
        if (w2k_catalog_drop_slot(slot_conn(st), sc->slot, err) != 0)
            goto fail;
        slot.exists = false;
    }
    if (w2k_catalog_slot_synced_wait(&slot, sc->slot, err) != 0)
        goto fail;
    if (slot.exists &&
        w2k_catalog_slot_usable(&slot, sc->slot, sc->name, st->ident.dbname, err) != 0) {
        if (strcmp(slot.wal_status, "lost") != 0 || sc->on_slot_lost != W2K_SLOT_LOST_RECREATE)
            goto fail;
        w2k_warn_hint("changes made while the slot was invalid may be missing; raise "
                      "max_slot_wal_keep_size, or keep wal2kafka from falling behind",
                      "stream %s: slot %s was invalidated; dropping it and starting over "
                      "(on_slot_lost = recreate)",
                      sc->name, sc->slot);
        if (w2k_catalog_drop_slot(slot_conn(st), sc->slot, err) != 0)
            goto fail;
        slot.exists = false;
        st->state.found = false;
    }
    if (slot.exists && strcmp(st->state.snapshot, "running") == 0) {
        w2k_warn_hint(
            "expected after a stop during the snapshot; nothing to do",
            "stream %s: the initial snapshot was interrupted before it finished; dropping "
            "slot %s and taking the snapshot again from the start",
            sc->name, sc->slot);
        if (w2k_catalog_drop_slot(slot_conn(st), sc->slot, err) != 0)
            goto fail;
        slot.exists = false;
    } else if (!slot.exists && st->state.found && strcmp(st->state.snapshot, "running") != 0) {
        char what[128];
        snprintf(what, sizeof what,
                 "replication slot \"%s\" is gone (dropped, or lost in a "
                 "failover)",
                 sc->slot);
        if (slot_lost(st, what, err) != 0)
            goto fail;
    }

    if (!slot.exists) {
        bool snapshot = sc->snapshot == W2K_SNAPSHOT_INITIAL;
        char lsn[20];
        /* The record says "running" before the slot exists: if anything fails from
         * here on, the next attempt drops whatever slot it finds and snapshots again,
         * instead of taking a new slot for one that streamed (changes before it would
         * be missing, and no row re-read). */
        if (snapshot && save_state(st, "running", 0, err) != 0)
            goto fail;
        if (st->dec ? w2k_standby_create_slot(st->repl, st->catalog, sc->slot, &st->snap_lsn,
                                              snapshot ? snapshot_name : NULL, false,
                                              SLOT_CREATE_TIMEOUT_MS, err) != 0
                    : w2k_catalog_create_slot(st->repl, sc->slot, &st->snap_lsn,
                                              snapshot ? snapshot_name : NULL,
                                              cfg->pg_failover_slots, err) != 0)
            goto fail;
        created = true;
        w2k_info("created replication slot %s at %s for stream %s%s", sc->slot,
                 w2k_lsn_str(st->snap_lsn, lsn), sc->name,
                 snapshot ? "; taking the initial snapshot" : "");
        reread_joined(st, false);
        if (snapshot) {
            /* this instance made the slot: it owns the stream from here */
            if ((late && publish_own_schemas(st, err) != 0) ||
                start_snapshot(st, snapshot_name, true, err) != 0)
                goto fail;
            return 0;
        }
        /* the state names this slot only once streaming from it began (below) */
    } else {
        w2k_pg_caps_t caps;
        w2k_pg_caps(st->repl, &caps);
        if (cfg->pg_failover_slots && caps.failover_slots && !slot.failover && !slot.in_recovery &&
            !st->dec) {
            if (w2k_catalog_slot_failover(st->repl, sc->slot, err) != 0)
                goto fail;
            w2k_info("stream %s: turned failover on for replication slot %s (a standby with "
                     "sync_replication_slots = on now keeps a copy)",
                     sc->name, sc->slot);
        }
        st->snap_lsn = slot.confirmed_flush;
        if (!late && save_existing_state(st, err) != 0)
            goto fail;
        reread_joined(st, true);
    }
    if (!late && ensure_topics(st, 0, w2k_tables_count(st->tables), false, err) != 0)
        goto fail;
    if (start_streaming(st, err) != 0)
        goto fail;
    /* standby instances: only now, holding the slot, touch Kafka transactions (fencing
     * the producer of the slot's previous holder is exactly right), then read the record
     * the previous holder can no longer change */
    if (late && (claim_stream(st, err) != 0 || publish_own_schemas(st, err) != 0 ||
                 (!created && save_existing_state(st, err) != 0) ||
                 ensure_topics(st, 0, w2k_tables_count(st->tables), false, err) != 0))
        goto fail;
    if (created && save_state(st, "never", st->snap_lsn, err) != 0)
        goto fail;
    return 0;
fail:
    w2k_stream_stop(st);
    if (created)
        drop_created_slot(st);
    return -1;
}

int w2k_stream_fd(const w2k_stream_t *st)
{
    return st->repl ? PQsocket(st->repl) : -1;
}

bool w2k_stream_wants_read(const w2k_stream_t *st)
{
    return st->streaming && !st->failed && st->npending == 0 &&
           w2k_lsntrack_inflight(st->lt) + MAX_MSGS_PER_CHANGE <= (uint64_t)st->cfg->max_in_flight;
}

uint64_t w2k_stream_inflight(const w2k_stream_t *st)
{
    return w2k_lsntrack_inflight(st->lt);
}

bool w2k_stream_delivery_failed(const w2k_stream_t *st, w2k_err_t *err)
{
    if (st->failed)
        *err = st->failure;
    return st->failed;
}

int w2k_stream_timeout_ms(const w2k_stream_t *st)
{
    if (st->npending)
        return 100; /* the producer's queue is full: answers from the broker wake us */
    if (st->snap || st->snap_flushing)
        return st->snap ? 0 : 100; /* reading rows / waiting for their acknowledgements */
    if (st->buffered && w2k_stream_wants_read(st))
        return 0; /* frames may be buffered already: the socket would not say so */
    int64_t left = st->next_status_ms - w2k_clock_mono_ms();
    int retry = w2k_rereads_wait_ms(st->rereads);
    if (retry >= 0 && retry < left)
        left = retry;
    return left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

/* A query on the catalog connection while streaming. It must not hold the main loop
 * when the connection went silent (a partition without a reset): like a ping on the
 * replication connection it gets half of postgresql.receive_timeout_ms for its
 * answer. Returns the result, or NULL with err (err->retryable: the connection is
 * lost or presumed dead). */
static PGresult *catalog_query(w2k_stream_t *st, w2k_err_t *err, const char *what, const char *sql,
                               int nparams, const char *const *params)
{
    return w2k_pg_query_within(st->catalog, st->cfg->pg_receive_timeout_ms / 2, err, what, sql,
                               nparams, params);
}

/* Warn before PostgreSQL invalidates the slot: when it holds back more WAL than
 * delivery.wal_warn_mb, or what max_slot_wal_keep_size still allows runs low. */
static int check_retained_wal(w2k_stream_t *st, w2k_err_t *err)
{
    const char *p[1] = {st->scfg->slot};
    w2k_pg_caps_t caps;
    w2k_pg_caps(st->catalog, &caps);
    /* safe_wal_size and max_slot_wal_keep_size are 13+: before, nothing invalidates a
     * slot, and the retained WAL is what lies between restart_lsn and the WAL's end */
    /* with decoding_conninfo the slot is on the standby, whose WAL end is what it replayed */
    PGresult *r =
        st->dec
            ? w2k_pg_query_within(st->dec, st->cfg->pg_receive_timeout_ms / 2, err,
                                  "checking retained WAL",
                                  "SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN "
                                  "pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END, "
                                  "restart_lsn)::bigint, coalesce(safe_wal_size, -1), "
                                  "pg_size_bytes(current_setting('max_slot_wal_keep_size')) "
                                  "FROM pg_replication_slots WHERE slot_name = $1",
                                  1, p)
            : catalog_query(
                  st, err, "checking retained WAL",
                  caps.slot_wal_status
                      ? "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, "
                        "coalesce(safe_wal_size, -1), "
                        "pg_size_bytes(current_setting('max_slot_wal_keep_size')) "
                        "FROM pg_replication_slots WHERE slot_name = $1"
                      : "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, -1, -1 "
                        "FROM pg_replication_slots WHERE slot_name = $1",
                  1, p);
    if (r && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        long long retained = atoll(PQgetvalue(r, 0, 0)), safe = atoll(PQgetvalue(r, 0, 1));
        long long keep = atoll(PQgetvalue(r, 0, 2));
        if (keep > 0 && safe >= 0 && safe < keep / 5)
            w2k_warn_hint(
                "check the broker and wal2kafka_kafka_inflight; raise "
                "max_slot_wal_keep_size for room",
                "stream %s: slot %s holds back %lld MB of WAL; PostgreSQL invalidates it "
                "after %lld MB more (max_slot_wal_keep_size = %lld MB), and the changes in "
                "between would be lost: find out why wal2kafka falls behind (the broker?)",
                st->scfg->name, st->scfg->slot, retained >> 20, safe >> 20, keep >> 20);
        else if (retained > st->cfg->wal_warn_mb * 1048576)
            w2k_warn_hint("wal2kafka falls behind or the stream is idle while the server "
                          "writes: check the broker and the metrics; raise delivery.wal_warn_mb "
                          "if this is normal",
                          "stream %s: slot %s holds back %lld MB of WAL (more than "
                          "delivery.wal_warn_mb = %lld)",
                          st->scfg->name, st->scfg->slot, retained >> 20,
                          (long long)st->cfg->wal_warn_mb);
    }
    bool answered = r != NULL;
    PQclear(r);
    /* a lost (or silent) connection stops the stream; a refused query does not */
    return answered || !err->retryable ? 0 : -1;
}

static int stream_finish(w2k_stream_t *st, w2k_err_t *err)
{
    if (!st->in_txn && eos_commit(st, err) != 0)
        return -1;
    return w2k_stream_tick(st, true, err);
}

w2k_metrics_stream_t *w2k_stream_metrics(const w2k_stream_t *st)
{
    return st->ms;
}

/* Reading paused because max_in_flight messages await the broker: a pause that lasts
 * PAUSE_LOG_MS is logged once (cause, limit, hint), and then its end once (how long). */
#define PAUSE_LOG_MS 1000
static void note_backpressure(w2k_stream_t *st)
{
    uint64_t inflight = w2k_lsntrack_inflight(st->lt);
    bool full = st->streaming && !st->failed &&
                inflight + MAX_MSGS_PER_CHANGE > (uint64_t)st->cfg->max_in_flight;
    int64_t now = w2k_clock_mono_ms();
    if (full && !st->paused_since) {
        st->paused_since = now ? now : 1;
        w2k_metrics_paused(st->ms, true);
    } else if (full && !st->paused_logged && now - st->paused_since >= PAUSE_LOG_MS) {
        st->paused_logged = true;
        w2k_warn_hint("the broker acknowledges more slowly than PostgreSQL writes, or not at "
                      "all (see the kafka lines around this one); reading resumes by itself as "
                      "acknowledgements come, PostgreSQL keeps the WAL meanwhile — raise "
                      "delivery.max_in_flight only if the broker is healthy",
                      "stream %s: reading paused: %llu messages await the broker's "
                      "acknowledgement (delivery.max_in_flight = %d)",
                      st->scfg->name, (unsigned long long)inflight, st->cfg->max_in_flight);
    } else if (!full && st->paused_since) {
        if (st->paused_logged)
            w2k_info("stream %s: reading resumed after %lld ms paused at "
                     "delivery.max_in_flight",
                     st->scfg->name, (long long)(now - st->paused_since));
        st->paused_since = 0;
        st->paused_logged = false;
        w2k_metrics_paused(st->ms, false);
    }
}

static int stream_outlived(w2k_stream_t *st, int64_t now, w2k_err_t *err);

/* After a fallback without streaming: once its transaction has ended (committed or
 * rolled back: no session or prepared transaction holds its xid), streaming is on
 * again from the next restart. */
static void check_nostream_ended(w2k_stream_t *st)
{
    char xid[16];
    snprintf(xid, sizeof xid, "%u", st->nostream_xid);
    const char *p[1] = {xid};
    w2k_err_t e = {0};
    PGresult *r = catalog_query(st, &e, "checking a transaction's end",
                                "SELECT 1 FROM pg_stat_activity WHERE backend_xid = $1::xid "
                                "UNION ALL SELECT 1 FROM pg_prepared_xacts WHERE transaction = "
                                "$1::xid",
                                1, p);
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 0) {
        st->nostream = false;
        w2k_info("stream %s: transaction %u has ended: in-progress transactions are streamed "
                 "again from the next restart",
                 st->scfg->name, st->nostream_xid);
    }
    PQclear(r);
}

int w2k_stream_tick(w2k_stream_t *st, bool force, w2k_err_t *err)
{
    w2k_stream_serve_acks(st);
    note_backpressure(st);
    /* Everything acknowledged and nothing open: the server's last known position is
     * confirmable even if its keepalive came while messages were still in flight. */
    if (!st->in_txn)
        w2k_lsntrack_follow(st->lt, st->keepalive_end);
    w2k_lsn_t acked = confirmable(st);
    w2k_metrics_acked(st->ms, acked, w2k_lsntrack_confirmed_time(st->lt));
    w2k_metrics_server_lsn(st->ms, st->received > acked ? st->received : acked);
    w2k_metrics_in_flight(st->ms, (int64_t)w2k_lsntrack_inflight(st->lt));
    if (!st->repl || !st->streaming)
        return 0;
    int64_t now = w2k_clock_mono_ms();
    if (!st->in_txn && w2k_eos_due(st->eos, now) && eos_commit(st, err) != 0)
        return -1;
    if (st->nstrms && stream_outlived(st, now, err) != 0)
        return -1;
    if (!force && !st->reply_due && !st->ping_due && now < st->next_status_ms) {
        if (PQflush(st->repl) < 0) {
            w2k_pg_set_error(err, st->repl, NULL, "sending to PostgreSQL failed");
            err->retryable = true;
            return -1;
        }
        return 0;
    }
    if (now >= st->next_wal_check_ms && st->catalog) {
        st->next_wal_check_ms = now + 30000;
        if (check_retained_wal(st, err) != 0)
            return -1;
        if (st->nostream)
            check_nostream_ended(st);
    }
    w2k_lsn_t confirmed = confirmable(st);
    w2k_lsn_t written = st->received > confirmed ? st->received : confirmed;
    if (w2k_pg_send_status(st->repl, written, confirmed, st->ping_due, err) != 0)
        return -1;
    w2k_pg_keepalive_sent(&st->keepalive, st->repl, written, confirmed,
                          st->cfg->status_interval_ms);
    st->reply_due = st->ping_due = false;
    st->next_status_ms = now + st->cfg->status_interval_ms;
    return 0;
}

/* Before 13 (no publish_via_partition_root) the publication holds the leaf partitions
 * of a partitioned table of the stream: a leaf not listed on its own streams as that
 * table (the root), its columns in the root's order. Returns 0, or -1 with err. */
static int map_to_root(w2k_stream_t *st, w2k_relation_t *rel, w2k_err_t *err)
{
    w2k_pg_caps_t caps;
    w2k_pg_caps(st->catalog, &caps);
    if (caps.publish_via_root || w2k_tables_find(st->tables, rel->schema, rel->name))
        return 0;
    char schema[64], name[64], (*cols)[64] = NULL, why[300];
    int ncols = 0;
    uint32_t root = 0;
    int is = w2k_catalog_partition_root(st->catalog, rel->relid, &root, schema, name, &cols, &ncols,
                                        err);
    if (is != 1 || !w2k_tables_find(st->tables, schema, name)) {
        free(cols);
        if (is < 0)
            return -1;
        /* a leaf detached since: not streamed (the publication loses it at the next
         * check, w2k_tables_guard) */
        const w2k_stream_cfg_t *sc = w2k_tables_stream_cfg(st->tables);
        int was = w2k_catalog_detached_leaf(st->catalog, w2k_tables_pubs(st->tables), rel->relid,
                                            sc->tables, sc->ntables, err);
        if (was == 1) {
            w2k_info("table %s.%s was detached from a partitioned table of stream %s: its "
                     "changes no longer stream",
                     rel->schema, rel->name, st->scfg->name);
            rel->partition = W2K_PART_DETACHED;
        }
        return was < 0 ? -1 : 0;
    }
    /* the root's name, its columns' order, and its key (that of its snapshot) */
    int rc = 0;
    if (w2k_relation_to_root(rel, schema, name, (const char(*)[64])cols, ncols, why, sizeof why) !=
        0) {
        if (why[0]) {
            w2k_err_set(err, W2K_EXIT_POSTGRES, "cannot stream %s as its root: %s", rel->name, why);
            w2k_err_hint(err, "a partition has exactly its root's columns; report this with "
                              "both tables' definitions");
        } else {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        }
        rc = -1;
    } else {
        rc = w2k_catalog_root_key(st->catalog, root, rel, err);
    }
    free(cols);
    return rc;
}

/* Put the tuples of row change m of rel in its columns' order (a leaf partition mapped
 * to its root with another column order). */
static void permute_row(const w2k_relation_t *rel, w2k_pgmsg_t *m)
{
    if (!rel || !rel->perm)
        return;
    w2k_pgdatum_t tmp[W2K_PG_MAX_COLUMNS]; /* per change: no allocation on this path */
    /* an old tuple (key columns only, or the whole row) has every column too */
    bool old = m->kind == W2K_PGMSG_DELETE || (m->kind == W2K_PGMSG_UPDATE && m->u.update.old_kind);
    if (m->kind != W2K_PGMSG_DELETE)
        w2k_relation_permute(rel, m->newtup.cols, sizeof *tmp, m->newtup.ncols, tmp);
    if (old)
        w2k_relation_permute(rel, m->oldtup.cols, sizeof *tmp, m->oldtup.ncols, tmp);
}

/* Build a relation from a Relation message, resolving types and the key. */
static w2k_relation_t *relation_from_msg(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_err_t *err)
{
    w2k_relation_t *rel = w2k_relation_new(m->u.relation.ncols);
    if (!rel) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    rel->relid = m->u.relation.relid;
    snprintf(rel->schema, sizeof rel->schema, "%s",
             m->u.relation.nspname[0] ? m->u.relation.nspname : "pg_catalog");
    snprintf(rel->name, sizeof rel->name, "%s", m->u.relation.relname);
    rel->replident = m->u.relation.replident;
    uint8_t flags[W2K_PG_MAX_COLUMNS];
    for (int i = 0; i < rel->ncols; i++) {
        snprintf(rel->cols[i].name, sizeof rel->cols[i].name, "%s", m->columns[i].name);
        rel->cols[i].type_oid = m->columns[i].type_oid;
        rel->cols[i].typmod = m->columns[i].typmod;
        flags[i] = m->columns[i].flags;
    }
    if (w2k_catalog_describe(st->catalog, rel, flags, err) != 0 || map_to_root(st, rel, err) != 0) {
        w2k_relation_free(rel);
        return NULL;
    }
    return rel;
}

static void topic_name_of(const w2k_stream_t *st, const char *schema, const char *name, char *out,
                          size_t outsz)
{
    w2k_tables_topic(st->tables, schema, name, out, outsz);
}

static void topic_name(const w2k_stream_t *st, const w2k_relation_t *rel, char *out, size_t outsz)
{
    topic_name_of(st, rel->schema, rel->name, out, outsz);
}

/* filters = connector: bind the table's row filter to rel (its column list is applied
 * by relout_schemas). */
static int prepare_filtering(w2k_stream_t *st, w2k_relation_t *rel, relout_t *o, w2k_err_t *err)
{
    const w2k_table_cfg_t *t = o->tcfg;
    w2k_filter_t *f = w2k_tables_filter(st->tables, t);
    char why[512];
    if (f && w2k_filter_bind(f, rel, why, sizeof why) != 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s:%d: stream %s, table %s.%s: %s", st->cfg->path,
                    t->line, st->scfg->name, t->schema, t->name, why);
        w2k_err_hint(err, "fix the table's filter in the configuration");
        return -1;
    }
    o->filter = f;
    return 0;
}

/* Build o's schemas (o->ra) from rel, the table as the publication describes it: with
 * project, the table's column list applied here as the publication would apply it
 * (o->prel, o->proj: listed columns in table order, the key only if every key column
 * is listed), then its hashed and masked columns (o->mrel, o->mask). The first change
 * (output_of) and the schemas stored ahead of it (prepublish_schemas) both build them
 * here, so both store the same schemas. o->tcfg is the table's entry or NULL. Returns
 * 0, or -1 with err; the caller frees what o holds (relout_clear). */
static int relout_schemas(w2k_stream_t *st, const w2k_relation_t *rel, relout_t *o, bool project,
                          w2k_err_t *err)
{
    const w2k_table_cfg_t *t = o->tcfg;
    const w2k_relation_t *published = rel;
    if (project && t && t->ncolumns) {
        int missing;
        if (w2k_change_columns(rel, t->columns, t->ncolumns, &o->prel, &o->proj, &missing) != 0) {
            if (missing < 0) {
                w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
                return -1;
            }
            w2k_err_set(err, W2K_EXIT_CONFIG, "%s:%d: stream %s, table %s.%s has no column \"%s\"",
                        st->cfg->path, t->line, st->scfg->name, t->schema, t->name,
                        t->columns[missing]);
            w2k_err_hint(err, "fix the table's column list in the configuration");
            return -1;
        }
        published = o->prel;
    }
    char why[300];
    if (w2k_change_masks(published, t, &o->mrel, &o->mask, why, sizeof why) != 0) {
        if (!why[0]) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        } else {
            w2k_err_set(err, W2K_EXIT_CONFIG, "%s:%d: stream %s, table %s.%s %s", st->cfg->path,
                        t->line, st->scfg->name, rel->schema, rel->name, why);
            w2k_err_hint(err, "fix the table's hash_columns or mask_columns in the configuration "
                              "(a key column can be hashed, not masked)");
        }
        return -1;
    }
    o->ra = w2k_relavro_new_ext(o->mrel ? o->mrel : published, st->scfg->topic_prefix,
                                &st->scfg->types, st->txmeta, err);
    return o->ra ? 0 : -1;
}

/* Make the relation ready for output: schemas built and stored, topic created. */
static relout_t *output_of(w2k_stream_t *st, w2k_relation_t *rel, w2k_err_t *err)
{
    if (rel->out)
        return rel->out;
    relout_t *o = calloc(1, sizeof *o);
    if (!o) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    char topic[512];
    topic_name(st, rel, topic, sizeof topic);
    o->tcfg = w2k_tables_find(st->tables, rel->schema, rel->name);
    o->mt = w2k_metrics_table(st->ms, rel->schema, rel->name);
    bool connector = w2k_tables_connector_filters(st->tables) && o->tcfg;
    if ((connector && prepare_filtering(st, rel, o, err) != 0) ||
        relout_schemas(st, rel, o, connector, err) != 0)
        goto fail;
    const w2k_relation_t *published = o->prel ? o->prel : rel;
    o->topic = w2k_sink_topic(st->sink, topic,
                              published->nkeys ? W2K_TOPIC_COMPACT : W2K_TOPIC_DELETE, err);
    if (!o->topic)
        goto fail;
    const w2k_schema_t *ks = w2k_relavro_key_schema(o->ra);
    o->key_id = -1;
    if ((ks && publish_schema(st, ks, topic, "key", &o->key_id, err) != 0) ||
        publish_schema(st, w2k_relavro_value_schema(o->ra), topic, "value", &o->value_id, err) != 0)
        goto fail;
    rel->out = o;
    return o;
fail:
    relout_clear(o);
    free(o);
    return NULL;
}

/* The wall clock for a message's ts_ms: the step's reading while frames are read (taken
 * every CLOCK_FRAMES frames), else now. */
static int64_t step_clock(const w2k_stream_t *st)
{
    return st->clock_ms ? st->clock_ms : w2k_clock_wall_ms();
}

static w2k_source_t source_of(const w2k_stream_t *st, w2k_lsn_t lsn)
{
    w2k_source_t s = {st->scfg->topic_prefix, st->ident.dbname, st->xid,         lsn,
                      st->commit_lsn,         st->commit_us,    st->snapshotting};
    return s;
}

/* The bytes to send for an encoded message: single-object encoding as it is, or with
 * a registry the Confluent framing (magic 0, schema id) in place of its header. */
static const char *framed(const w2k_stream_t *st, const w2k_buf_t *b, int32_t id, size_t *len)
{
    if (!b) {
        *len = 0;
        return NULL;
    }
    if (!st->reg) {
        *len = b->len;
        return b->data;
    }
    size_t skip = W2K_SOE_HEADER_LEN - W2K_REGISTRY_HEADER_LEN;
    w2k_registry_header(id, (uint8_t *)b->data + skip);
    *len = b->len - skip;
    return b->data + skip;
}

static int emit(w2k_stream_t *st, relout_t *o, const w2k_buf_t *key, const w2k_buf_t *value,
                w2k_err_t *err)
{
    size_t klen, vlen;
    const char *k = framed(st, key, o->key_id, &klen), *v = framed(st, value, o->value_id, &vlen);
    if (eos_ensure(st, err) != 0)
        return -1;
    st->emitted++;
    w2k_lsntrack_add(st->lt, st->txn);
    return produce(st, o->topic, st->txn, st->commit_us / 1000, k, klen, v, vlen, err);
}

/* Transaction metadata: the BEGIN (end = false) or END event of the open transaction
 * on <prefix>.transaction, as part of it (confirmed with it; in its Kafka transaction
 * with exactly_once). Returns 0, or -1 with err. */
static int emit_txn_event(w2k_stream_t *st, bool end, w2k_err_t *err)
{
    if (w2k_txmeta_encode(st->txmeta, end, &st->key, &st->value) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory encoding a transaction event");
        return -1;
    }
    relout_t o = {.topic = st->txn_topic, .key_id = st->txn_key_id, .value_id = st->txn_value_id};
    return emit(st, &o, &st->key, &st->value, err);
}

/* The output settings of rel for the change module. */
static w2k_change_table_t change_table(const w2k_stream_t *st, const w2k_relation_t *rel,
                                       const relout_t *o)
{
    w2k_change_table_t t = {rel,
                            o->prel,
                            o->proj,
                            o->filter,
                            o->tcfg ? o->tcfg->ops : W2K_OP_ALL,
                            w2k_tables_connector_filters(st->tables),
                            o->ra,
                            o->mask,
                            o->mrel,
                            (const uint8_t *)st->salt,
                            st->saltlen};
    return t;
}

/* Produce the messages the change module made of one change of o's table, in its
 * order, and count them. */
static int produce_change(w2k_stream_t *st, relout_t *o, const w2k_change_out_t *out,
                          w2k_err_t *err)
{
    /* transaction metadata: BEGIN before the transaction's first change event */
    if (st->txmeta && st->in_txn && !st->txmeta_begun && w2k_txmeta_count(st->txmeta) > 0) {
        if (emit_txn_event(st, false, err) != 0)
            return -1;
        st->txmeta_begun = true;
    }
    relout_t changes = {
        .topic = st->changes_topic, .key_id = st->change_key_id, .value_id = st->change_value_id};
    for (int i = 0; i < out->n; i++) {
        const w2k_change_msg_t *c = &out->msgs[i];
        if (emit(st, c->schema_changes ? &changes : o, c->key, c->value, err) != 0)
            return -1;
        if (c->value)
            w2k_metrics_change(o->mt, c->op, c->value->len + (c->key ? c->key->len : 0));
    }
    return 0;
}

/* The change module failed: count an envelope that did not encode. */
static int change_failed(w2k_stream_t *st, const w2k_change_out_t *out)
{
    if (out->bad_value)
        w2k_metrics_error(st->ms, W2K_ERRKIND_ENCODE);
    return -1;
}

static int handle_row(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn, w2k_err_t *err)
{
    uint32_t relid = m->kind == W2K_PGMSG_INSERT   ? m->u.insert.relid
                     : m->kind == W2K_PGMSG_UPDATE ? m->u.update.relid
                                                   : m->u.delete_.relid;
    w2k_relation_t *rel = w2k_relcache_get(st->rc, relid);
    if (rel && rel->partition == W2K_PART_DETACHED)
        return 0;
    if (!rel) {
        w2k_err_set(err, W2K_EXIT_RUNTIME,
                    "protocol error: a change of relation %u arrived before its description",
                    relid);
        err->retryable = true;
        return -1;
    }
    w2k_resnap_t *running = w2k_rereads_running(st->rereads);
    if (running && rel->relid == w2k_resnap_relid(running)) {
        /* a change while a chunk of this table is selected: the stream's value wins */
        char ok = m->kind == W2K_PGMSG_UPDATE   ? m->u.update.old_kind
                  : m->kind == W2K_PGMSG_DELETE ? m->u.delete_.old_kind
                                                : 0;
        if (ok)
            w2k_resnap_seen(running, &m->oldtup);
        if (m->kind != W2K_PGMSG_DELETE)
            w2k_resnap_seen(running, &m->newtup);
    }
    relout_t *o = output_of(st, rel, err);
    if (!o)
        return -1;
    w2k_change_table_t t = change_table(st, rel, o);
    w2k_source_t src = source_of(st, lsn);
    w2k_change_out_t out;
    if (w2k_change_row(st->change, st->enc, &t, m, &src, step_clock(st), &out, err) != 0)
        return change_failed(st, &out);
    return produce_change(st, o, &out, err);
}

/* Announce a schema change on <prefix>.schema_changes, as part of the open transaction
 * when there is one. */
static int emit_schema_change(w2k_stream_t *st, const w2k_schema_change_t *ch, w2k_lsn_t lsn,
                              w2k_err_t *err)
{
    w2k_source_t src = source_of(st, lsn);
    if (w2k_avroenc_change(st->enc, ch, &src, w2k_clock_wall_ms(), &st->key, &st->value, err) != 0)
        return -1;
    relout_t o = {
        .topic = st->changes_topic, .key_id = st->change_key_id, .value_id = st->change_value_id};
    return emit(st, &o, &st->key, &st->value, err);
}

static int handle_relation(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn, w2k_err_t *err)
{
    w2k_relation_t *rel = relation_from_msg(st, m, err);
    if (!rel)
        return -1;
    w2k_relation_t *old = w2k_relcache_get(st->rc, rel->relid);
    if (rel->partition == W2K_PART_DETACHED) {
        w2k_relcache_put(st->rc, rel); /* its changes are dropped */
        return 0;
    }
    if (old && w2k_relation_same_shape(old, rel)) {
        w2k_relation_free(rel);
        return 0;
    }
    if (old && st->in_txn && old->partition != W2K_PART_DETACHED) {
        w2k_schema_change_t ch = {"alter", rel->schema, rel->name, rel->relid, old,
                                  rel,     NULL,        NULL,      NULL,       NULL};
        if (strcmp(old->schema, rel->schema) || strcmp(old->name, rel->name)) {
            ch.type = "rename";
            ch.old_schema = old->schema;
            ch.old_table = old->name;
        }
        if (emit_schema_change(st, &ch, lsn, err) != 0) {
            w2k_relation_free(rel);
            return -1;
        }
        w2k_info("table %s.%s changed shape (%s): new schemas are published before its next row",
                 rel->schema, rel->name, ch.type);
    }
    w2k_relcache_put(st->rc, rel);
    return 0;
}

static int emit_read(w2k_stream_t *st, w2k_relation_t *rel, const w2k_pgtuple_t *row, w2k_lsn_t lsn,
                     w2k_err_t *err);

/* Split a snapshot request "<stream or *>\x1f<schema>\x1f<table>[\x1frepair]" (wal2kafka
 * snapshot --table writes the first three, a repair of the publication all four) into
 * buf: parts[0..2], parts[3] "" or the mark. Returns false when it is not one. */
static bool parse_snapshot_request(const w2k_pgmsg_t *m, char *buf, size_t bufsz, char *parts[4])
{
    size_t len = m->u.message.len < bufsz - 1 ? m->u.message.len : bufsz - 1;
    memcpy(buf, m->u.message.content, len);
    buf[len] = '\0';
    parts[0] = buf;
    for (int i = 1; i < 4; i++) {
        parts[i] = strchr(parts[i - 1], '\x1f');
        if (!parts[i] && i < 3)
            return false;
        if (!parts[i]) {
            parts[i] = buf + len; /* "" */
            break;
        }
        *parts[i]++ = '\0';
    }
    return true;
}

/* Whether message m is a snapshot request that repairs changes PostgreSQL did not send. */
static bool is_repair_request(const w2k_pgmsg_t *m)
{
    char buf[400], *parts[4];
    return (m->u.message.flags & 1) &&
           strcmp(m->u.message.prefix, W2K_SNAPSHOT_REQUEST_PREFIX) == 0 &&
           parse_snapshot_request(m, buf, sizeof buf, parts) &&
           strcmp(parts[3], W2K_SNAPSHOT_REPAIR) == 0;
}

/* A snapshot request at lsn: queue the table. A repair holds back what is confirmed
 * until the table was read again, so that a restart meets the request again. */
static int handle_snapshot_request(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn)
{
    char buf[400], *parts[4];
    if (!parse_snapshot_request(m, buf, sizeof buf, parts))
        return 0;
    if (strcmp(parts[0], "*") != 0 && strcmp(parts[0], st->scfg->name) != 0)
        return 0;
    bool repair = strcmp(parts[3], W2K_SNAPSHOT_REPAIR) == 0;
    if (w2k_tables_find(st->tables, parts[1], parts[2]))
        w2k_rereads_queue(st->rereads, parts[1], parts[2], repair && lsn ? lsn : 0);
    else if (strcmp(parts[0], "*") != 0)
        w2k_warn_hint("request it from the stream that has the table, or check its name",
                      "stream %s: a re-snapshot of %s.%s was requested, but it is not one of the "
                      "stream's tables",
                      st->scfg->name, parts[1], parts[2]);
    return 0;
}

/* A watermark of the running re-snapshot: the low one opens the window in which
 * changed keys leave the chunk; at the high one the rest of the chunk is emitted. */
static int handle_watermark(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn, w2k_err_t *err)
{
    w2k_resnap_t *running = w2k_rereads_running(st->rereads);
    if (!running || w2k_resnap_watermark(running, m->u.message.prefix, m->u.message.content,
                                         m->u.message.len) != 'H')
        return 0;
    w2k_relation_t *rel = w2k_relcache_get(st->rc, w2k_resnap_relid(running));
    int rc = 0;
    st->snapshotting = true;
    while (rc == 0 && rel && w2k_resnap_next_row(running, st->pold))
        rc = emit_read(st, rel, st->pold, lsn, err);
    st->snapshotting = false;
    return rc;
}

/* With a column list pushed into the publication, keep only the listed columns of rel
 * (in table order, with their key flags), as pgoutput's Relation message will. */
static void keep_published_columns(const w2k_stream_t *st, w2k_relation_t *rel, uint8_t *flags)
{
    const w2k_table_cfg_t *t = w2k_tables_find(st->tables, rel->schema, rel->name);
    if (w2k_tables_connector_filters(st->tables) || !t || !t->ncolumns)
        return;
    int n = 0;
    for (int i = 0; i < rel->ncols; i++) {
        bool listed = false;
        for (int k = 0; k < t->ncolumns && !listed; k++)
            listed = strcmp(rel->cols[i].name, t->columns[k]) == 0;
        if (listed) {
            rel->cols[n] = rel->cols[i];
            flags[n++] = flags[i];
        }
    }
    rel->ncols = n;
}

/* The table as a captured statement left it: from the columns in the message (read
 * inside the statement's transaction), or, from a trigger of an older release, from
 * the catalog now (which may not show the statement yet, or already a later one).
 * Returns 0 with *rel (NULL when an older trigger's message names a table not in the
 * publication), or -1 with err when the types cannot be looked up. */
static int ddl_relation(w2k_stream_t *st, const w2k_ddl_event_t *ev, w2k_relation_t **rel,
                        w2k_err_t *err)
{
    uint8_t *flags = malloc(W2K_PG_MAX_COLUMNS);
    *rel = flags ? w2k_ddl_relation(ev, flags) : NULL;
    if (*rel) {
        keep_published_columns(st, *rel, flags);
        int rc = w2k_catalog_describe(st->catalog, *rel, flags, err);
        free(flags);
        if (rc != 0) {
            w2k_relation_free(*rel);
            *rel = NULL;
        }
        return rc;
    }
    free(flags);
    if (ev->columns)
        w2k_warn_hint("the schema is read from the catalog instead; reinstall the DDL "
                      "trigger with wal2kafka ddl install if this repeats",
                      "stream %s: the columns in a %s message for table %s.%s are malformed; "
                      "reading them from the catalog",
                      st->scfg->name, W2K_DDL_PREFIX, ev->schema, ev->name);
    char *filter = NULL;
    w2k_err_t lerr;
    *rel = w2k_catalog_table(st->catalog, w2k_tables_pubs(st->tables)->names, ev->schema, ev->name,
                             &filter, &lerr);
    free(filter);
    return 0;
}

/* A statement captured by the DDL trigger (wal2kafka ddl install): announce what it did
 * to one of the stream's tables (or a table a pattern of it matches), in transaction
 * order, even if no row follows, with the columns the statement left. */
static int handle_message(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn, w2k_err_t *err)
{
    if (!(m->u.message.flags & 1) || !st->in_txn)
        return 0;
    if (strcmp(m->u.message.prefix, W2K_SNAPSHOT_REQUEST_PREFIX) == 0)
        return handle_snapshot_request(st, m, lsn);
    if (strcmp(m->u.message.prefix, W2K_WATERMARK_PREFIX) == 0)
        return handle_watermark(st, m, lsn, err);
    if (strcmp(m->u.message.prefix, W2K_DDL_PREFIX) != 0)
        return 0;
    char *buf = malloc(m->u.message.len + 1);
    w2k_ddl_event_t ev;
    if (!buf || w2k_ddl_parse(m->u.message.content, m->u.message.len, buf, &ev) != 0) {
        w2k_warn_hint("only wal2kafka's DDL trigger should write messages with this prefix",
                      "stream %s: ignoring a malformed %s message", st->scfg->name, W2K_DDL_PREFIX);
        free(buf);
        return 0;
    }
    int rc = 0;
    w2k_relation_t *old = w2k_relcache_get(st->rc, ev.relid);
    w2k_pubtable_t *known = w2k_tables_known(st->tables, ev.relid);
    if (!known && !w2k_tables_find(st->tables, ev.schema, ev.name) &&
        !w2k_tables_pattern_matches(st->tables, ev.schema, ev.name))
        goto out; /* not one of ours */
    if (!known && !(known = w2k_tables_note(st->tables, ev.relid, ev.schema, ev.name)))
        goto out;
    bool renamed = strcmp(known->schema, ev.schema) || strcmp(known->name, ev.name);
    char old_name[160];
    snprintf(old_name, sizeof old_name, "%s.%s", known->schema, known->name);
    snprintf(known->schema, sizeof known->schema, "%s", ev.schema);
    snprintf(known->name, sizeof known->name, "%s", ev.name);

    w2k_schema_change_t ch = {"alter", ev.schema, ev.name,  ev.relid, old,
                              NULL,    NULL,      ev.query, NULL,     NULL};
    char prev_schema[64], prev_name[64];
    if (renamed) {
        snprintf(prev_schema, sizeof prev_schema, "%.63s", old_name);
        prev_schema[strcspn(prev_schema, ".")] = '\0';
        snprintf(prev_name, sizeof prev_name, "%s", old_name + strlen(prev_schema) + 1);
        ch.old_schema = prev_schema;
        ch.old_table = prev_name;
    }
    w2k_relation_t *now = NULL;
    if (strcmp(ev.command, "DROP TABLE") == 0) {
        ch.type = "drop";
    } else {
        if (ddl_relation(st, &ev, &now, err) != 0) {
            rc = -1;
            goto out;
        }
        ch.type = strncmp(ev.command, "CREATE", 6) == 0 ? "create" : renamed ? "rename" : "alter";
        ch.new_rel = now;
    }
    rc = emit_schema_change(st, &ch, lsn, err);
    if (renamed)
        w2k_info("stream %s: table %s renamed to %s.%s; its rows now go to the topic of its new "
                 "name",
                 st->scfg->name, old_name, ev.schema, ev.name);
    else
        w2k_info("stream %s: %s of table %s.%s announced", st->scfg->name, ch.type, ev.schema,
                 ev.name);
    /* The Relation message that precedes the next row has this shape: no second event. */
    if (now && rc == 0)
        w2k_relcache_put(st->rc, now);
    else
        w2k_relation_free(now);
out:
    free(buf);
    return rc;
}

static int handle_truncate(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_lsn_t lsn, w2k_err_t *err)
{
    for (uint32_t i = 0; i < m->u.truncate.nrels; i++) {
        uint32_t relid = w2k_pgoutput_truncate_relid(m, i);
        w2k_relation_t *rel = w2k_relcache_get(st->rc, relid);
        if (!rel || rel->partition == W2K_PART_DETACHED)
            continue;
        const w2k_table_cfg_t *tcfg = w2k_tables_find(st->tables, rel->schema, rel->name);
        w2k_change_table_t t = {.rel = rel, .ops = tcfg ? tcfg->ops : W2K_OP_ALL};
        w2k_source_t src = source_of(st, lsn);
        w2k_change_out_t out;
        if (w2k_change_truncate(st->change, st->enc, &t, m, &src, w2k_clock_wall_ms(), &out, err) !=
            0)
            return change_failed(st, &out);
        if (!out.n)
            continue;
        /* its topic, as for a row (a table that publishes only truncates gets no row) */
        relout_t *o = output_of(st, rel, err);
        if (!o || produce_change(st, o, &out, err) != 0)
            return -1;
    }
    return 0;
}

/* The topic of application messages with this prefix, created and its schemas made
 * known on first use. Returns NULL with err. */
static msgtopic_t *message_topic(w2k_stream_t *st, const char *prefix, w2k_err_t *err)
{
    char name[256];
    w2k_appmsg_topic(st->scfg, prefix, name, sizeof name);
    for (size_t i = 0; i < st->nmsgtopics; i++)
        if (strcmp(st->msgtopics[i].name, name) == 0)
            return &st->msgtopics[i];
    msgtopic_t *v = realloc(st->msgtopics, (st->nmsgtopics + 1) * sizeof *v);
    if (!v) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    st->msgtopics = v;
    msgtopic_t *t = &v[st->nmsgtopics];
    snprintf(t->name, sizeof t->name, "%s", name);
    /* every message is kept for the retention time: a key (the prefix) repeats */
    t->topic = w2k_sink_topic(st->sink, name, W2K_TOPIC_DELETE, err);
    if (!t->topic ||
        publish_schema(st, w2k_appmsg_key_schema(), name, "key", &t->key_id, err) != 0 ||
        publish_schema(st, w2k_appmsg_value_schema(), name, "value", &t->value_id, err) != 0)
        return NULL;
    st->nmsgtopics++;
    return t;
}

/* An application message the stream forwards (messages = { ... }): a transactional one
 * as part of its transaction (in commit order, confirmed with it), a non-transactional
 * one as its own unit, confirmed up to its LSN once acknowledged. Returns 0, or -1
 * with err. */
static int forward_message(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_err_t *err)
{
    bool tx = (m->u.message.flags & 1) && st->in_txn;
    msgtopic_t *t = message_topic(st, m->u.message.prefix, err);
    if (!t)
        return -1;
    w2k_appmsg_t am = {
        m->u.message.prefix, m->u.message.content, m->u.message.len,        tx,
        tx ? st->xid : 0,    m->u.message.lsn,     tx ? st->commit_lsn : 0, tx ? st->commit_us : 0,
        st->ident.dbname,    step_clock(st)};
    if (w2k_appmsg_encode(&am, &st->key, &st->value) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory encoding an application message");
        return -1;
    }
    uint64_t seq = st->in_txn ? st->txn : w2k_lsntrack_begin(st->lt);
    if (!seq) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory tracking transactions");
        return -1;
    }
    size_t klen, vlen;
    const char *k = framed(st, &st->key, t->key_id, &klen);
    const char *v = framed(st, &st->value, t->value_id, &vlen);
    if (eos_ensure(st, err) != 0)
        return -1;
    w2k_lsntrack_add(st->lt, seq);
    int rc =
        produce(st, t->topic, seq, tx ? st->commit_us / 1000 : am.ts_ms, k, klen, v, vlen, err);
    if (!st->in_txn)
        w2k_lsntrack_commit(st->lt, seq, m->u.message.lsn, w2k_clock_wall_us());
    return rc;
}

/* streaming = true: the in-progress transactions PostgreSQL streams in blocks. A Kafka
 * transaction cannot be partly rolled back, so: the open Kafka transaction is not
 * committed while one is in progress (transactions committing meanwhile go into it);
 * a streamed (sub)transaction aborted after some of its changes were produced aborts
 * the Kafka transaction and restarts from the last committed state, its changes
 * skipped when PostgreSQL streams it again from its start. Nothing of it is kept
 * here beyond the producer's queue. */

#define MAX_STREAM_RESTARTS 3 /* restarts for one transaction before it comes unstreamed */

static int handle_message_of(w2k_stream_t *st, const w2k_pgframe_t *f, w2k_pgmsg_t *m,
                             w2k_err_t *err);

/* The index of xid's entry in st->strms, or nstrms. */
static size_t find_strm(const w2k_stream_t *st, uint32_t xid)
{
    size_t i = 0;
    while (i < st->nstrms && st->strms[i].xid != xid)
        i++;
    return i;
}

/* Remove st->strms[i] (its transaction ended). */
static void drop_strm(w2k_stream_t *st, size_t i)
{
    free(st->strms[i].subs);
    memmove(&st->strms[i], &st->strms[i + 1], (st->nstrms - i - 1) * sizeof *st->strms);
    st->nstrms--;
    w2k_eos_streams(st->eos, st->nstrms);
}

/* True when the changes of (xid, subxid) are to be skipped: given up before. */
static bool is_aborted(const w2k_stream_t *st, uint32_t xid, uint32_t subxid)
{
    for (size_t i = 0; i < st->naborted; i++)
        if (st->aborted[i].xid == xid &&
            (st->aborted[i].subxid == xid || st->aborted[i].subxid == subxid))
            return true;
    return false;
}

/* Forget what was given up of transaction xid (it ended). */
static void forget_aborted(w2k_stream_t *st, uint32_t xid)
{
    size_t n = 0;
    for (size_t i = 0; i < st->naborted; i++)
        if (st->aborted[i].xid != xid)
            st->aborted[n++] = st->aborted[i];
    st->naborted = n;
}

/* Note (xid, subxid) as given up. Returns 0, or -1 with err when out of memory. */
static int note_aborted(w2k_stream_t *st, uint32_t xid, uint32_t subxid, w2k_err_t *err)
{
    if (is_aborted(st, xid, subxid))
        return 0;
    if (st->naborted == st->capaborted) {
        size_t cap = st->capaborted ? st->capaborted * 2 : 8;
        xidpair_t *a = realloc(st->aborted, cap * sizeof *a);
        if (!a) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory noting an aborted transaction");
            return -1;
        }
        st->aborted = a;
        st->capaborted = cap;
    }
    st->aborted[st->naborted++] = (xidpair_t){xid, subxid};
    return 0;
}

/* Abort the Kafka transaction and restart from the last committed state (a retryable
 * error): what of transaction xid was produced cannot be taken back otherwise. After
 * MAX_STREAM_RESTARTS for one transaction, it comes unstreamed (fallback). */
static int restart_for(w2k_stream_t *st, uint32_t xid, const char *why, w2k_err_t *err)
{
    if (st->restart_xid != xid) {
        st->restart_xid = xid;
        st->restarts = 0;
    }
    if (++st->restarts > MAX_STREAM_RESTARTS) {
        st->nostream = true;
        st->nostream_xid = xid;
        w2k_info("stream %s: transaction %u made the stream restart %d times: restarting "
                 "without streaming in-progress transactions until it ends",
                 st->scfg->name, xid, MAX_STREAM_RESTARTS);
    }
    w2k_info("stream %s: %s: aborting the Kafka transaction (a read_committed consumer sees "
             "none of it) and restarting from the last committed position; PostgreSQL sends "
             "the transaction again and what was given up is skipped",
             st->scfg->name, why);
    w2k_err_set(err, W2K_EXIT_RUNTIME,
                "stream %s: %s: restarting from the last committed "
                "position",
                st->scfg->name, why);
    w2k_err_hint(err, "nothing is lost or doubled: this is how a streamed transaction's "
                      "rollback is taken back from Kafka");
    err->retryable = true;
    err->restart = true;
    return -1;
}

/* A streamed transaction keeps the Kafka transaction open: before the broker's
 * transaction timeout (delivery.transaction_timeout_ms) aborts it, fall back: abort it
 * and restart without streaming until the oldest streamed transaction has ended (it
 * then comes whole, at its commit). Returns 0, or -1 with err (the restart). */
static int stream_outlived(w2k_stream_t *st, int64_t now, w2k_err_t *err)
{
    int64_t age = w2k_eos_age_ms(st->eos, now), limit = st->cfg->transaction_timeout_ms;
    if (age < limit - limit / 4)
        return 0;
    uint32_t xid = st->strms[0].xid;
    st->nostream = true;
    st->nostream_xid = xid;
    w2k_info("stream %s: streamed transaction %u kept the Kafka transaction open for %lld ms, "
             "near delivery.transaction_timeout_ms = %d: aborting it and restarting without "
             "streaming until transaction %u ends (nothing is lost; it comes whole at its "
             "commit); to stream longer transactions raise delivery.transaction_timeout_ms and "
             "the broker's transaction.max.timeout.ms",
             st->scfg->name, xid, (long long)age, st->cfg->transaction_timeout_ms, xid);
    w2k_err_set(err, W2K_EXIT_RUNTIME,
                "stream %s: streamed transaction %u outlived the Kafka transaction timeout: "
                "restarting without streaming until it ends",
                st->scfg->name, xid);
    w2k_err_hint(err, "raise delivery.transaction_timeout_ms and the broker's "
                      "transaction.max.timeout.ms to stream longer transactions");
    err->retryable = true;
    err->restart = true;
    return -1;
}

/* Note that a change of (sub)transaction subxid of strms[cur] was produced. */
static int note_produced(w2k_stream_t *st, uint32_t subxid, w2k_err_t *err)
{
    strm_t *t = &st->strms[st->cur];
    if (t->nsubs && t->subs[t->nsubs - 1] == subxid)
        return 0;
    if (t->nsubs == t->capsubs) {
        size_t cap = t->capsubs ? t->capsubs * 2 : 4;
        uint32_t *p = realloc(t->subs, cap * sizeof *p);
        if (!p) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory tracking a streamed transaction");
            return -1;
        }
        t->subs = p;
        t->capsubs = cap;
    }
    t->subs[t->nsubs++] = subxid;
    return 0;
}

/* True when a change of (sub)transaction subxid (any when subxid == t->xid) of t was
 * produced. */
static bool produced(const strm_t *t, uint32_t subxid)
{
    if (subxid == t->xid)
        return t->nsubs > 0;
    for (size_t i = 0; i < t->nsubs; i++)
        if (t->subs[i] == subxid)
            return true;
    return false;
}

static int stream_block_start(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_err_t *err)
{
    uint32_t xid = m->u.stream_start.xid;
    size_t i = find_strm(st, xid);
    if (i == st->nstrms) {
        if (st->nstrms == st->capstrms) {
            size_t cap = st->capstrms ? st->capstrms * 2 : 4;
            strm_t *p = realloc(st->strms, cap * sizeof *p);
            if (!p)
                goto oom;
            st->strms = p;
            st->capstrms = cap;
        }
        strm_t *t = &st->strms[st->nstrms];
        *t = (strm_t){xid, w2k_lsntrack_begin(st->lt), step_clock(st) * 1000, NULL, 0, 0};
        if (!t->seq)
            goto oom;
        st->nstrms++;
        w2k_eos_streams(st->eos, st->nstrms);
    }
    st->in_block = true;
    st->cur = i;
    st->in_txn = true;
    st->txn = st->strms[i].seq;
    st->xid = xid;
    st->commit_lsn = 0; /* not known before its commit */
    st->commit_us = st->strms[i].us;
    st->skipping = false;
    return 0;
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory tracking transactions");
    return -1;
}

static int stream_commit(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_err_t *err)
{
    uint32_t xid = m->u.stream_commit.xid;
    size_t i = find_strm(st, xid);
    forget_aborted(st, xid);
    if (i == st->nstrms)
        return 0; /* nothing of it came in this session */
    strm_t *t = &st->strms[i];
    char lsn[20];
    if (w2k_eos_committed(st->eos, m->u.stream_commit.commit_lsn)) {
        /* committed to Kafka before a restart: what came again must not count */
        if (produced(t, xid)) {
            char why[160];
            snprintf(why, sizeof why,
                     "streamed transaction %u (commit at %s) was committed to Kafka before the "
                     "last restart and came again",
                     xid, w2k_lsn_str(m->u.stream_commit.commit_lsn, lsn));
            if (note_aborted(st, xid, xid, err) != 0)
                return -1;
            return restart_for(st, xid, why, err);
        }
        w2k_lsntrack_commit(st->lt, t->seq, m->u.stream_commit.end_lsn, t->us);
        drop_strm(st, i);
        return 0;
    }
    w2k_rereads_committed(st->rereads, xid);
    w2k_lsntrack_commit(st->lt, t->seq, m->u.stream_commit.end_lsn,
                        m->u.stream_commit.commit_time + W2K_PG_EPOCH_OFFSET_US);
    drop_strm(st, i);
    if (st->restart_xid == xid)
        st->restart_xid = 0, st->restarts = 0;
    return w2k_eos_end(st->eos, m->u.stream_commit.end_lsn) ? eos_commit(st, err) : 0;
}

static int stream_abort(w2k_stream_t *st, const w2k_pgmsg_t *m, w2k_err_t *err)
{
    uint32_t xid = m->u.stream_abort.xid, subxid = m->u.stream_abort.subxid;
    size_t i = find_strm(st, xid);
    if (i == st->nstrms) {
        if (xid == subxid)
            forget_aborted(st, xid);
        return 0;
    }
    strm_t *t = &st->strms[i];
    if (produced(t, subxid)) {
        char why[160];
        if (xid == subxid)
            snprintf(why, sizeof why,
                     "streamed transaction %u was rolled back after some of its changes were "
                     "produced",
                     xid);
        else
            snprintf(why, sizeof why,
                     "subtransaction %u of streamed transaction %u was rolled back (ROLLBACK TO "
                     "SAVEPOINT) after some of its changes were produced",
                     subxid, xid);
        if (note_aborted(st, xid, subxid, err) != 0)
            return -1;
        return restart_for(st, xid, why, err);
    }
    if (xid == subxid) {
        /* nothing of it produced: it leaves no trace */
        forget_aborted(st, xid);
        w2k_lsntrack_commit(st->lt, t->seq, 0, 0); /* confirms nothing of its own */
        drop_strm(st, i);
        if (st->restart_xid == xid)
            st->restart_xid = 0, st->restarts = 0;
    }
    return 0;
}

/* A message of protocol version 2's streaming: Stream Start/Stop/Commit/Abort, or a
 * data message inside a block. */
static int handle_streamed(w2k_stream_t *st, const w2k_pgframe_t *f, w2k_pgmsg_t *m, w2k_err_t *err)
{
    switch (m->kind) {
    case W2K_PGMSG_STREAM_START:
        return stream_block_start(st, m, err);
    case W2K_PGMSG_STREAM_STOP:
        st->in_block = false;
        st->in_txn = false;
        st->skipping = false;
        return 0;
    case W2K_PGMSG_STREAM_COMMIT:
        return stream_commit(st, m, err);
    case W2K_PGMSG_STREAM_ABORT:
        return stream_abort(st, m, err);
    default:
        break;
    }
    /* a data message of the block's transaction, m->xid its (sub)transaction */
    uint32_t sub = m->xid ? m->xid : st->xid;
    st->skipping = is_aborted(st, st->xid, sub);
    uint64_t before = st->emitted;
    int rc = handle_message_of(st, f, m, err);
    st->skipping = false;
    if (rc == 0 && st->emitted != before)
        rc = note_produced(st, sub, err);
    return rc;
}

static int handle_frame(w2k_stream_t *st, const w2k_pgframe_t *f, w2k_err_t *err)
{
    if (f->type == 'k') {
        if (f->wal_end > st->received)
            st->received = f->wal_end;
        if (f->wal_end > st->keepalive_end)
            st->keepalive_end = f->wal_end;
        if (!st->in_txn)
            w2k_lsntrack_follow(st->lt, f->wal_end);
        st->reply_due |= f->reply_requested;
        return 0;
    }
    if (f->wal_start > st->received)
        st->received = f->wal_start;
    if (f->wal_start)
        st->last_data_lsn = f->wal_start;
    char why[256];
    w2k_pgmsg_t *m = st->msg;
    if ((st->v2 ? w2k_pgoutput_decode_v2(f->data, f->len, st->in_block, m, why, sizeof why)
                : w2k_pgoutput_decode(f->data, f->len, m, why, sizeof why)) != 0) {
        char lsn[20];
        w2k_err_set(err, W2K_EXIT_RUNTIME, "cannot decode the message at %s: %s",
                    w2k_lsn_str(f->wal_start, lsn), why);
        w2k_err_hint(err, "the server sent something wal2kafka does not understand; please "
                          "report it with the PostgreSQL version");
        w2k_metrics_error(st->ms, W2K_ERRKIND_DECODE);
        return -1;
    }
    if (st->in_block || m->kind == W2K_PGMSG_STREAM_START || m->kind == W2K_PGMSG_STREAM_COMMIT ||
        m->kind == W2K_PGMSG_STREAM_ABORT)
        return handle_streamed(st, f, m, err);
    return handle_message_of(st, f, m, err);
}

/* One decoded message outside a streamed block, or a data message inside one (with
 * st->txn, st->xid, st->skipping set for its transaction). */
static int handle_message_of(w2k_stream_t *st, const w2k_pgframe_t *f, w2k_pgmsg_t *m,
                             w2k_err_t *err)
{
    switch (m->kind) {
    case W2K_PGMSG_BEGIN:
        forget_aborted(st, m->u.begin.xid);
        if (st->nostream && m->u.begin.xid == st->nostream_xid)
            w2k_info("stream %s: transaction %u, streamed no more after the fallback, came "
                     "whole; in-progress transactions are streamed again from the next restart",
                     st->scfg->name, m->u.begin.xid);
        if (st->nostream && m->u.begin.xid == st->nostream_xid)
            st->nostream = false;
        st->txn = w2k_lsntrack_begin(st->lt);
        if (!st->txn) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory tracking transactions");
            return -1;
        }
        st->in_txn = true;
        /* exactly-once: committed to Kafka before a crash, sent again by the slot */
        st->skipping = w2k_eos_begin(st->eos, m->u.begin.final_lsn);
        st->xid = m->u.begin.xid;
        st->commit_lsn = m->u.begin.final_lsn;
        st->commit_us = m->u.begin.commit_time + W2K_PG_EPOCH_OFFSET_US;
        if (st->txmeta)
            w2k_txmeta_begin(st->txmeta, st->xid, st->commit_lsn, st->commit_us);
        st->txmeta_begun = false;
        return 0;
    case W2K_PGMSG_COMMIT:
        /* transaction metadata: END after its last change event (none without events) */
        if (st->txmeta_begun && !st->skipping && emit_txn_event(st, true, err) != 0)
            return -1;
        st->txmeta_begun = false;
        w2k_rereads_committed(st->rereads, st->xid);
        w2k_lsntrack_commit(st->lt, st->txn, m->u.commit.end_lsn, st->commit_us);
        st->in_txn = false;
        st->skipping = false;
        return w2k_eos_end(st->eos, m->u.commit.end_lsn) ? eos_commit(st, err) : 0;
    case W2K_PGMSG_RELATION:
        /* before 14 wal2kafka's messages come as rows of the signal table */
        if (w2k_signals_is_table(m->u.relation.nspname, m->u.relation.relname)) {
            st->signal_relid = m->u.relation.relid;
            return 0;
        }
        /* the walsender sends Relation messages without a position of their own: the
         * last one seen is where the shape change shows */
        return handle_relation(st, m, f->wal_start ? f->wal_start : st->last_data_lsn, err);
    case W2K_PGMSG_INSERT:
    case W2K_PGMSG_UPDATE:
    case W2K_PGMSG_DELETE:
        if (st->signal_relid && m->u.insert.relid == st->signal_relid) {
            /* a row of the signal table: its insert is the Message of 14+, handled as
             * one; never output (the update and delete relids share the position) */
            char prefix[64];
            if (m->kind != W2K_PGMSG_INSERT || w2k_signals_message(m, prefix, sizeof prefix) != 0)
                return 0;
            return st->skipping && !is_repair_request(m) ? 0
                                                         : handle_message(st, m, f->wal_start, err);
        }
        if (st->skipping)
            return 0;
        permute_row(w2k_relcache_get(st->rc, m->u.insert.relid), m);
        return handle_row(st, m, f->wal_start, err);
    case W2K_PGMSG_TRUNCATE:
        return st->skipping ? 0 : handle_truncate(st, m, f->wal_start, err);
    case W2K_PGMSG_MESSAGE:
        if (w2k_appmsg_wanted(st->scfg, m->u.message.prefix))
            return st->skipping ? 0 : forward_message(st, m, err);
        /* a repair is needed even when the transaction's output was committed already:
         * the re-read it asks for may not have been */
        return st->skipping && !is_repair_request(m) ? 0 : handle_message(st, m, f->wal_start, err);
    case W2K_PGMSG_TYPE:
    case W2K_PGMSG_ORIGIN:
    case W2K_PGMSG_STREAM_START: /* handled by handle_streamed() */
    case W2K_PGMSG_STREAM_STOP:
    case W2K_PGMSG_STREAM_COMMIT:
    case W2K_PGMSG_STREAM_ABORT:
        return 0;
    }
    return 0;
}

/* One row read from the table (snapshot or re-snapshot): a read event ('r'). Its key
 * as produced is left in st->key, where on_snapshot_row notes it. */
static int emit_read(w2k_stream_t *st, w2k_relation_t *rel, const w2k_pgtuple_t *row, w2k_lsn_t lsn,
                     w2k_err_t *err)
{
    relout_t *o = output_of(st, rel, err);
    if (!o)
        return -1;
    w2k_change_table_t t = change_table(st, rel, o);
    w2k_source_t src = source_of(st, lsn);
    w2k_change_out_t out;
    if (w2k_change_read(st->change, st->enc, &t, row, &src, step_clock(st), &out, err) != 0)
        return change_failed(st, &out);
    if (produce_change(st, o, &out, err) != 0)
        return -1;
    if (out.n && out.msgs[0].key) {
        w2k_buf_reset(&st->key);
        w2k_buf_append(&st->key, out.msgs[0].key->data, out.msgs[0].key->len);
        if (st->key.oom) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int on_snapshot_row(void *arg, w2k_relation_t *rel, const w2k_pgtuple_t *row, w2k_err_t *err)
{
    w2k_stream_t *st = arg;
    st->key.len = 0;
    if (emit_read(st, rel, row, st->snap_lsn, err) != 0)
        return -1;
    if (st->purge && st->key.len &&
        w2k_purge_wrote(st->purge, rel->schema, rel->name, st->key.data, st->key.len, err) != 0)
        return -1;
    return 0;
}

/* A snapshot written onto topics that held messages has read every row: tombstones
 * for the keys w2k_purge_next names. Produces at most max of them; returns 1 while
 * there is more to do, 0 when done, -1 with err. */
static int purge_step(w2k_stream_t *st, int max, w2k_err_t *err)
{
    const char *topic;
    const void *key;
    size_t len;
    for (int n = 0; n < max; n++) {
        int r = w2k_purge_next(st->purge, &topic, &key, &len, err);
        if (r != 1)
            return r == 2 ? 1 : r;
        w2k_sink_topic_t *kt = w2k_sink_topic(st->sink, topic, W2K_TOPIC_COMPACT, err);
        if (!kt || eos_ensure(st, err) != 0)
            return -1;
        w2k_lsntrack_add(st->lt, st->txn);
        if (produce(st, kt, st->txn, st->commit_us / 1000, key, len, NULL, 0, err) != 0)
            return -1;
    }
    return 1;
}

/* Advance the snapshot by one chunk; when every row is read and acknowledged, record
 * it and start streaming (or finish, for initial_only). */
static int snapshot_step(w2k_stream_t *st, w2k_err_t *err)
{
    if (st->snap) {
        if (st->npending)
            return 0; /* the producer's queue is full: wait for room */
        int chunk = st->cfg->max_in_flight / 2;
        if (chunk > 5000)
            chunk = 5000;
        if (chunk < 1)
            chunk = 1;
        if (w2k_lsntrack_inflight(st->lt) + (uint64_t)chunk * 2 > (uint64_t)st->cfg->max_in_flight)
            return 0; /* backpressure: wait for acknowledgements */
        int more = st->purge && w2k_purge_reading(st->purge)
                       ? 0
                       : w2k_snapshot_step(st->snap, st->rc, chunk, on_snapshot_row, st, err);
        if (more == 0 && st->purge)
            more = purge_step(st, chunk, err);
        if (more < 0)
            return -1;
        const char *schema, *table;
        uint64_t rows, expected;
        w2k_snapshot_progress(st->snap, &schema, &table, &rows, &expected);
        if (schema)
            w2k_metrics_snapshot_progress(w2k_metrics_table(st->ms, schema, table), rows, expected);
        /* exactly-once: each chunk is its own Kafka transaction (an interrupted snapshot
         * is read again from the start, so its rows may repeat; changes never do) */
        if (eos_commit(st, err) != 0)
            return -1;
        if (more)
            return 0;
        w2k_info("stream %s: snapshot read (%llu rows); waiting for the broker to acknowledge",
                 st->scfg->name, (unsigned long long)w2k_snapshot_rows(st->snap));
        w2k_snapshot_end(st->snap);
        st->snap = NULL;
        w2k_purge_destroy(st->purge);
        st->purge = NULL;
        st->snapshotting = false;
        w2k_lsntrack_commit(st->lt, st->txn, st->snap_lsn, 0);
        st->snap_flushing = true;
    }
    w2k_lsntrack_confirmed(st->lt);
    if (!w2k_lsntrack_idle(st->lt))
        return 0;
    st->snap_flushing = false;
    if (st->scfg->snapshot == W2K_SNAPSHOT_INITIAL_ONLY) {
        w2k_info("stream %s: snapshot done and acknowledged (snapshot = initial_only: not "
                 "streaming)",
                 st->scfg->name);
        st->finished = true;
        return 0;
    }
    if (save_state(st, "done", st->snap_lsn, err) != 0)
        return -1;
    w2k_info("stream %s: snapshot done and acknowledged", st->scfg->name);
    return start_streaming(st, err);
}

bool w2k_stream_finished(const w2k_stream_t *st)
{
    return st->finished;
}

/* The replication stream ended with err: add what to do when the reason is one the
 * server's message alone does not explain. */
static void explain_stream_end(const w2k_stream_t *st, w2k_err_t *err)
{
    char gone[300];
    snprintf(gone, sizeof gone, "publication \"%s\" does not exist", st->scfg->publication);
    if (err->hint[0] || !strstr(err->msg, gone))
        return;
    /* PostgreSQL 15 looks the publication up as of each change it decodes. */
    w2k_err_hint(err,
                 "the publication was dropped while the stream ran: PostgreSQL cannot decode "
                 "the changes made after that with this slot, even once the publication exists "
                 "again. To start over with every row: drop the slot (wal2kafka slot drop "
                 "--config %s --stream %s), set on_slot_lost = \"recreate\" for stream %s and "
                 "start wal2kafka again; it creates the publication and a new slot and takes a "
                 "new snapshot of every table",
                 st->cfg->path, st->scfg->name, st->scfg->name);
}

/* The replication connection carried nothing although the stream read from it: after
 * half of postgresql.receive_timeout_ms ask the server for an answer (an idle server
 * whose position is confirmed sends nothing on its own), after all of it give the
 * connection up: a partition that sends no reset looks exactly like this. Returns 0,
 * or -1 with err. */
static int check_silence(w2k_stream_t *st, w2k_err_t *err)
{
    int timeout = st->cfg->pg_receive_timeout_ms;
    int64_t silent = w2k_clock_mono_ms() - st->heard_ms;
    if (timeout <= 0 || silent < timeout / 2)
        return 0;
    if (silent < timeout) {
        if (!st->pinged)
            st->ping_due = st->pinged = true;
        return 0;
    }
    w2k_err_set(err, W2K_EXIT_POSTGRES,
                "the replication connection to PostgreSQL carried nothing for %lld ms, not even "
                "the answer to a ping: it is presumed dead",
                (long long)silent);
    w2k_err_hint(err, "wal2kafka reconnects. A network path that drops connections without a "
                      "reset (a firewall or NAT that forgot them) does this; if the server is "
                      "only slow to answer, raise postgresql.receive_timeout_ms");
    err->retryable = true;
    return -1;
}

/* Tables created since start that a pattern of the stream matches join it, and are
 * re-read so rows written before that are not missed. Returns 0, or -1 with err. */
static int join_new_tables(w2k_stream_t *st, w2k_err_t *err)
{
    int first = 0, n = w2k_tables_join_new(st->tables, st->catalog, &first, err);
    if (n > 0 && ensure_topics(st, first, n, false, err) != 0)
        return -1;
    for (int i = first; i < first + n; i++)
        w2k_rereads_queue(st->rereads, w2k_tables_cfg(st->tables, i)->schema,
                          w2k_tables_cfg(st->tables, i)->name, 0);
    return n < 0 ? -1 : 0;
}

static int stream_step(w2k_stream_t *st, w2k_err_t *err)
{
    w2k_stream_serve_acks(st);
    if (flush_pending(st, err) != 0)
        return -1;
    if (st->snap || st->snap_flushing)
        return snapshot_step(st, err);
    if (!st->streaming)
        return 0;
    if (join_new_tables(st, err) != 0 || w2k_tables_guard(st->tables, st->catalog, err) != 0 ||
        w2k_rereads_step(st->rereads, st->catalog, st->tables, st->rc, err) != 0)
        return -1;
    bool reading = w2k_stream_wants_read(st), heard = false;
    int n = 0, rc = 0;
    for (; n < BATCH_FRAMES && w2k_stream_wants_read(st); n++) {
        char *buf;
        w2k_pgframe_t f;
        int r = w2k_pg_read_frame(st->repl, &buf, &f, err);
        if (r < 0) {
            st->streaming = false;
            explain_stream_end(st, err);
            rc = -1;
            break;
        }
        if (r == 0) {
            /* caught up: exactly-once commits now rather than wait */
            if (!st->in_txn && eos_commit(st, err) != 0)
                rc = -1;
            /* ...and at-least-once (delivery.send_when_idle_ms) sends now rather than
             * after linger.ms when PostgreSQL stays silent that long: under load more
             * comes sooner, and the batch keeps filling (linger.ms). Transactions
             * (exactly-once, standby) were sent by their commit. */
            else if (n > 0 && st->cfg->send_when_idle_ms > 0 && !st->cfg->exactly_once &&
                     !st->cfg->standby_enabled &&
                     w2k_pg_quiet(st->repl, st->cfg->send_when_idle_ms))
                w2k_sink_send_now(st->sink);
            break;
        }
        heard = true;
        if (n % CLOCK_FRAMES == 0)
            st->clock_ms = w2k_clock_wall_ms();
        rc = handle_frame(st, &f, err);
        PQfreemem(buf);
        if (rc != 0)
            break;
        if ((n & 255) == 255) {
            w2k_sink_poll(st->sink, 0);
            w2k_stream_serve_acks(st);
        }
    }
    st->clock_ms = 0;
    st->buffered = n == BATCH_FRAMES;
    if (rc != 0)
        return -1;
    if (heard || !reading) {
        st->heard_ms = w2k_clock_mono_ms();
        st->pinged = false;
    } else if (check_silence(st, err) != 0) {
        return -1;
    }
    return w2k_stream_tick(st, false, err);
}

int w2k_stream_start(w2k_stream_t *st, w2k_err_t *err)
{
    return stream_start(st, err);
}

int w2k_stream_step(w2k_stream_t *st, w2k_err_t *err)
{
    return stream_step(st, err);
}

int w2k_stream_finish(w2k_stream_t *st, w2k_err_t *err)
{
    return stream_finish(st, err);
}
