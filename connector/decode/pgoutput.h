/* pgoutput.h — decoder for PostgreSQL's pgoutput logical replication messages,
 * protocol version 1 (with the `messages` option) and version 2 (in-progress
 * transactions streamed in blocks, `streaming 'on'`). Pure: bytes in, a decoded
 * message out; no I/O and no allocation. Pointers in the result point into the
 * caller's frame and are valid as long as that frame is. */
#ifndef W2K_PGOUTPUT_H
#define W2K_PGOUTPUT_H

#include <stddef.h>
#include <stdint.h>

/* PostgreSQL allows at most this many columns in a table (MaxTupleAttributeNumber). */
#define W2K_PG_MAX_COLUMNS 1664

/* Microseconds between 1970-01-01 and 2000-01-01, PostgreSQL's timestamp epoch. */
#define W2K_PG_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef uint64_t w2k_lsn_t;

/* Message kinds: the first byte of each pgoutput message. */
typedef enum w2k_pgmsg_kind_e {
    W2K_PGMSG_BEGIN = 'B',
    W2K_PGMSG_COMMIT = 'C',
    W2K_PGMSG_ORIGIN = 'O',
    W2K_PGMSG_RELATION = 'R',
    W2K_PGMSG_TYPE = 'Y',
    W2K_PGMSG_INSERT = 'I',
    W2K_PGMSG_UPDATE = 'U',
    W2K_PGMSG_DELETE = 'D',
    W2K_PGMSG_TRUNCATE = 'T',
    W2K_PGMSG_MESSAGE = 'M',
    /* protocol version 2: an in-progress transaction streamed in blocks */
    W2K_PGMSG_STREAM_START = 'S',
    W2K_PGMSG_STREAM_STOP = 'E',
    W2K_PGMSG_STREAM_COMMIT = 'c',
    W2K_PGMSG_STREAM_ABORT = 'A'
} w2k_pgmsg_kind_t;

/* One column value of a TupleData. */
typedef struct w2k_pgdatum_s {
    char kind;        /* 'n' NULL, 'u' unchanged TOAST (no data), 't' text, 'b' binary */
    uint32_t len;     /* bytes at data ('t' and 'b' only) */
    const char *data; /* not NUL-terminated; NULL for 'n' and 'u' */
} w2k_pgdatum_t;

typedef struct w2k_pgtuple_s {
    uint16_t ncols;
    w2k_pgdatum_t cols[W2K_PG_MAX_COLUMNS];
} w2k_pgtuple_t;

/* One column of a Relation message. */
typedef struct w2k_pgcolumn_s {
    uint8_t flags;    /* 1 = part of the replica identity (key) */
    const char *name; /* NUL-terminated, in the frame */
    uint32_t type_oid;
    int32_t typmod;
} w2k_pgcolumn_t;

/* A decoded message. Only the member named by kind is meaningful; the tuple and
 * column arrays are large, so keep one of these per stream and reuse it. */
typedef struct w2k_pgmsg_s {
    w2k_pgmsg_kind_t kind;
    union {
        struct {
            w2k_lsn_t final_lsn; /* LSN of the commit record */
            int64_t commit_time; /* microseconds since 2000-01-01 UTC */
            uint32_t xid;
        } begin;
        struct {
            uint8_t flags;
            w2k_lsn_t commit_lsn; /* LSN of the commit record */
            w2k_lsn_t end_lsn;    /* LSN just past the commit record: what to confirm */
            int64_t commit_time;
        } commit;
        struct {
            w2k_lsn_t lsn;
            const char *name;
        } origin;
        struct {
            uint32_t relid;
            const char *nspname; /* "" means pg_catalog */
            const char *relname;
            char replident; /* 'd' default, 'n' nothing, 'f' full, 'i' index */
            uint16_t ncols; /* entries in columns[] */
        } relation;
        struct {
            uint32_t oid;
            const char *nspname;
            const char *typname;
        } type;
        struct {
            uint32_t relid; /* new tuple in newtup */
        } insert;
        struct {
            uint32_t relid;
            char old_kind; /* 0 none, 'K' key columns only, 'O' whole old row; in oldtup */
        } update;          /* new tuple in newtup */
        struct {
            uint32_t relid;
            char old_kind; /* 'K' or 'O'; in oldtup */
        } delete_;
        struct {
            uint32_t nrels;
            uint8_t options;       /* 1 CASCADE, 2 RESTART IDENTITY */
            const uint8_t *relids; /* nrels big-endian uint32: use w2k_pgoutput_truncate_relid() */
        } truncate;
        struct {
            uint8_t flags; /* 1 = transactional */
            w2k_lsn_t lsn;
            const char *prefix;
            uint32_t len;
            const char *content; /* len bytes, not NUL-terminated */
        } message;
        struct {
            uint32_t xid;          /* the top-level transaction streamed */
            uint8_t first_segment; /* 1: its first block */
        } stream_start;
        struct {
            uint32_t xid;
            uint8_t flags;
            w2k_lsn_t commit_lsn; /* LSN of the commit record */
            w2k_lsn_t end_lsn;    /* LSN just past the commit record: what to confirm */
            int64_t commit_time;
        } stream_commit;
        struct {
            uint32_t xid;    /* the top-level transaction */
            uint32_t subxid; /* the aborted (sub)transaction: xid itself when all of it */
        } stream_abort;
    } u;
    /* Inside a streamed block (version 2): the (sub)transaction of a Relation, Type,
     * Insert, Update, Delete, Truncate or Message; 0 otherwise. */
    uint32_t xid;
    w2k_pgcolumn_t columns[W2K_PG_MAX_COLUMNS]; /* Relation messages */
    w2k_pgtuple_t oldtup;
    w2k_pgtuple_t newtup;
} w2k_pgmsg_t;

/* Decode one pgoutput message (the payload of an XLogData 'w' frame, without the
 * 25-byte XLogData header). Returns 0 and fills *msg, or -1 with a message in
 * err naming what was malformed and at which offset. Never reads past len. */
int w2k_pgoutput_decode(const char *data, size_t len, w2k_pgmsg_t *msg, char *err, size_t errsz);

/* Decode one pgoutput message of protocol version 2 (proto_version '2', streaming
 * 'on'): version 1's messages, Stream Start/Stop/Commit/Abort, and in_stream (between
 * a Stream Start and its Stream Stop) the xid that precedes the data messages' fields,
 * in msg->xid. Returns 0 and fills *msg, or -1 with err as w2k_pgoutput_decode(). */
int w2k_pgoutput_decode_v2(const char *data, size_t len, int in_stream, w2k_pgmsg_t *msg, char *err,
                           size_t errsz);

/* The i-th relation OID of a decoded Truncate message (i < nrels). */
uint32_t w2k_pgoutput_truncate_relid(const w2k_pgmsg_t *msg, uint32_t i);

#endif
