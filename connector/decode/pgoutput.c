/* pgoutput.c — decoder for PostgreSQL's pgoutput logical replication messages,
 * protocol version 1 (PostgreSQL 15's src/backend/replication/logical/proto.c,
 * logicalrep_write_*), plus the `messages` option, and version 2's streamed blocks. Every read is
 * bounds-checked against the frame length; a malformed frame yields -1 and an error naming the
 * message, the offset and what was wrong. No I/O, no allocation. */
#include "pgoutput.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Cursor over one frame; name is the message kind for error texts ("Update"). */
typedef struct w2k_pgreader_s {
    const unsigned char *data;
    size_t len;
    size_t pos;
    const char *name;
    char *err;
    size_t errsz;
} w2k_pgreader_t;

/* Write "pgoutput: <text>" into the caller's error buffer, if any. Returns -1. */
static int w2k_pgoutput_fail(w2k_pgreader_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int w2k_pgoutput_fail(w2k_pgreader_t *r, const char *fmt, ...)
{
    if (r->err && r->errsz) {
        int n = snprintf(r->err, r->errsz, "pgoutput: ");
        if (n >= 0 && (size_t)n < r->errsz) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + n, r->errsz - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Describe byte c for an error text: 'x' (0x78) when printable, else 0x01. */
static const char *w2k_pgoutput_byte(unsigned char c, char *buf, size_t bufsz)
{
    if (c >= 0x20 && c < 0x7f && c != '\'')
        snprintf(buf, bufsz, "'%c' (0x%02x)", c, c);
    else
        snprintf(buf, bufsz, "0x%02x", c);
    return buf;
}

/* The error for a frame that ends before n more bytes. Returns -1. Out of line: the
 * readers below are inlined into every decoder and run a dozen times per row. */
__attribute__((noinline, cold)) static int w2k_pgoutput_truncated(w2k_pgreader_t *r, size_t n)
{
    return w2k_pgoutput_fail(r, "truncated %s message at offset %zu (need %zu bytes, have %zu)",
                             r->name, r->pos, n, r->len - r->pos);
}

/* Fail as truncated unless n more bytes remain in the frame. */
static inline int w2k_pgoutput_need(w2k_pgreader_t *r, size_t n)
{
    if (r->len - r->pos < n)
        return w2k_pgoutput_truncated(r, n);
    return 0;
}

/* Big-endian readers: store the value and step past it, or fail as truncated. */
static inline int w2k_pgoutput_u8(w2k_pgreader_t *r, uint8_t *v)
{
    if (w2k_pgoutput_need(r, 1) != 0)
        return -1;
    *v = r->data[r->pos++];
    return 0;
}

static inline int w2k_pgoutput_u16(w2k_pgreader_t *r, uint16_t *v)
{
    if (w2k_pgoutput_need(r, 2) != 0)
        return -1;
    const unsigned char *p = r->data + r->pos;
    *v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
    r->pos += 2;
    return 0;
}

static inline int w2k_pgoutput_u32(w2k_pgreader_t *r, uint32_t *v)
{
    if (w2k_pgoutput_need(r, 4) != 0)
        return -1;
    const unsigned char *p = r->data + r->pos;
    *v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
    r->pos += 4;
    return 0;
}

static inline int w2k_pgoutput_u64(w2k_pgreader_t *r, uint64_t *v)
{
    if (w2k_pgoutput_need(r, 8) != 0)
        return -1;
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | r->data[r->pos + (size_t)i];
    r->pos += 8;
    *v = x;
    return 0;
}

static inline int w2k_pgoutput_i64(w2k_pgreader_t *r, int64_t *v)
{
    uint64_t u;
    if (w2k_pgoutput_u64(r, &u) != 0)
        return -1;
    /* Two's complement reinterpretation without implementation-defined conversion. */
    *v = u <= INT64_MAX ? (int64_t)u : -(int64_t)(UINT64_MAX - u) - 1;
    return 0;
}

/* A NUL-terminated string whose NUL lies inside the frame; what names it in errors. */
static int w2k_pgoutput_str(w2k_pgreader_t *r, const char *what, const char **s)
{
    const unsigned char *nul = memchr(r->data + r->pos, '\0', r->len - r->pos);
    if (!nul)
        return w2k_pgoutput_fail(r,
                                 "truncated %s message at offset %zu (%s has no terminating "
                                 "NUL within the %zu remaining bytes)",
                                 r->name, r->pos, what, r->len - r->pos);
    *s = (const char *)(r->data + r->pos);
    r->pos = (size_t)(nul - r->data) + 1;
    return 0;
}

/* Read a TupleData into t: Int16 column count, then per column a kind byte
 * ('n', 'u', or 't'/'b' followed by Int32 length and that many bytes). */
static int w2k_pgoutput_tuple(w2k_pgreader_t *r, w2k_pgtuple_t *t)
{
    size_t at = r->pos;
    uint16_t ncols;
    if (w2k_pgoutput_u16(r, &ncols) != 0)
        return -1;
    if (ncols > W2K_PG_MAX_COLUMNS)
        return w2k_pgoutput_fail(r,
                                 "%s message has a tuple of %u columns at offset %zu (at most %d)",
                                 r->name, (unsigned)ncols, at, W2K_PG_MAX_COLUMNS);
    for (uint16_t i = 0; i < ncols; i++) {
        w2k_pgdatum_t *d = &t->cols[i];
        uint8_t kind;
        at = r->pos;
        if (w2k_pgoutput_u8(r, &kind) != 0)
            return -1;
        d->kind = (char)kind;
        d->len = 0;
        d->data = NULL;
        switch (kind) {
        case 'n':
        case 'u':
            break;
        case 't':
        case 'b':
            if (w2k_pgoutput_u32(r, &d->len) != 0 || w2k_pgoutput_need(r, d->len) != 0)
                return -1;
            d->data = (const char *)(r->data + r->pos);
            r->pos += d->len;
            break;
        default: {
            char b[16];
            return w2k_pgoutput_fail(r, "unknown column kind %s in %s message at offset %zu",
                                     w2k_pgoutput_byte(kind, b, sizeof b), r->name, at);
        }
        }
    }
    t->ncols = ncols;
    return 0;
}

/* Read a tuple marker byte (the 'N', 'K' or 'O' before a TupleData), one of allowed;
 * want says the same in words for the error text. */
static int w2k_pgoutput_marker(w2k_pgreader_t *r, const char *allowed, const char *want,
                               char *marker)
{
    size_t at = r->pos;
    uint8_t c;
    if (w2k_pgoutput_u8(r, &c) != 0)
        return -1;
    if (c == 0 || !strchr(allowed, c)) {
        char b[16];
        return w2k_pgoutput_fail(r,
                                 "unexpected tuple marker %s in %s message at offset %zu (want %s)",
                                 w2k_pgoutput_byte(c, b, sizeof b), r->name, at, want);
    }
    *marker = (char)c;
    return 0;
}

static int w2k_pgoutput_begin(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    if (w2k_pgoutput_u64(r, &msg->u.begin.final_lsn) != 0 ||
        w2k_pgoutput_i64(r, &msg->u.begin.commit_time) != 0 ||
        w2k_pgoutput_u32(r, &msg->u.begin.xid) != 0)
        return -1;
    if (msg->u.begin.final_lsn == 0)
        return w2k_pgoutput_fail(r, "Begin message has final_lsn 0 at offset 1");
    return 0;
}

static int w2k_pgoutput_commit(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    if (w2k_pgoutput_u8(r, &msg->u.commit.flags) != 0)
        return -1;
    if (msg->u.commit.flags != 0)
        return w2k_pgoutput_fail(r, "Commit message has unknown flags 0x%02x at offset 1",
                                 msg->u.commit.flags);
    return w2k_pgoutput_u64(r, &msg->u.commit.commit_lsn) != 0 ||
                   w2k_pgoutput_u64(r, &msg->u.commit.end_lsn) != 0 ||
                   w2k_pgoutput_i64(r, &msg->u.commit.commit_time) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_origin(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    return w2k_pgoutput_u64(r, &msg->u.origin.lsn) != 0 ||
                   w2k_pgoutput_str(r, "origin name", &msg->u.origin.name) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_relation(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    size_t at;
    uint8_t ri;
    uint16_t ncols;
    if (w2k_pgoutput_u32(r, &msg->u.relation.relid) != 0 ||
        w2k_pgoutput_str(r, "namespace", &msg->u.relation.nspname) != 0 ||
        w2k_pgoutput_str(r, "relation name", &msg->u.relation.relname) != 0)
        return -1;
    at = r->pos;
    if (w2k_pgoutput_u8(r, &ri) != 0)
        return -1;
    if (ri != 'd' && ri != 'n' && ri != 'f' && ri != 'i') {
        char b[16];
        return w2k_pgoutput_fail(r, "unknown replica identity %s in Relation message at offset %zu",
                                 w2k_pgoutput_byte(ri, b, sizeof b), at);
    }
    msg->u.relation.replident = (char)ri;
    at = r->pos;
    if (w2k_pgoutput_u16(r, &ncols) != 0)
        return -1;
    if (ncols > W2K_PG_MAX_COLUMNS)
        return w2k_pgoutput_fail(r, "Relation message has %u columns at offset %zu (at most %d)",
                                 (unsigned)ncols, at, W2K_PG_MAX_COLUMNS);
    for (uint16_t i = 0; i < ncols; i++) {
        w2k_pgcolumn_t *c = &msg->columns[i];
        uint32_t typmod;
        if (w2k_pgoutput_u8(r, &c->flags) != 0 ||
            w2k_pgoutput_str(r, "column name", &c->name) != 0 ||
            w2k_pgoutput_u32(r, &c->type_oid) != 0 || w2k_pgoutput_u32(r, &typmod) != 0)
            return -1;
        c->typmod = typmod <= INT32_MAX ? (int32_t)typmod : -(int32_t)(UINT32_MAX - typmod) - 1;
    }
    msg->u.relation.ncols = ncols;
    return 0;
}

static int w2k_pgoutput_type(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    return w2k_pgoutput_u32(r, &msg->u.type.oid) != 0 ||
                   w2k_pgoutput_str(r, "namespace", &msg->u.type.nspname) != 0 ||
                   w2k_pgoutput_str(r, "type name", &msg->u.type.typname) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_insert(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    char marker;
    return w2k_pgoutput_u32(r, &msg->u.insert.relid) != 0 ||
                   w2k_pgoutput_marker(r, "N", "'N'", &marker) != 0 ||
                   w2k_pgoutput_tuple(r, &msg->newtup) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_update(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    char marker;
    msg->u.update.old_kind = 0;
    msg->oldtup.ncols = 0;
    if (w2k_pgoutput_u32(r, &msg->u.update.relid) != 0 ||
        w2k_pgoutput_marker(r, "KON", "'K', 'O' or 'N'", &marker) != 0)
        return -1;
    if (marker != 'N') {
        msg->u.update.old_kind = marker;
        if (w2k_pgoutput_tuple(r, &msg->oldtup) != 0 ||
            w2k_pgoutput_marker(r, "N", "'N'", &marker) != 0)
            return -1;
    }
    return w2k_pgoutput_tuple(r, &msg->newtup);
}

static int w2k_pgoutput_delete(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    return w2k_pgoutput_u32(r, &msg->u.delete_.relid) != 0 ||
                   w2k_pgoutput_marker(r, "KO", "'K' or 'O'", &msg->u.delete_.old_kind) != 0 ||
                   w2k_pgoutput_tuple(r, &msg->oldtup) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_truncate(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    uint32_t n;
    if (w2k_pgoutput_u32(r, &n) != 0 || w2k_pgoutput_u8(r, &msg->u.truncate.options) != 0)
        return -1;
    if (n > (r->len - r->pos) / 4)
        return w2k_pgoutput_fail(r,
                                 "truncated Truncate message at offset %zu (need 4 bytes for each "
                                 "of %" PRIu32 " relations, have %zu)",
                                 r->pos, n, r->len - r->pos);
    msg->u.truncate.nrels = n;
    msg->u.truncate.relids = r->data + r->pos;
    r->pos += (size_t)n * 4;
    return 0;
}

static int w2k_pgoutput_message(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    if (w2k_pgoutput_u8(r, &msg->u.message.flags) != 0 ||
        w2k_pgoutput_u64(r, &msg->u.message.lsn) != 0 ||
        w2k_pgoutput_str(r, "message prefix", &msg->u.message.prefix) != 0 ||
        w2k_pgoutput_u32(r, &msg->u.message.len) != 0 ||
        w2k_pgoutput_need(r, msg->u.message.len) != 0)
        return -1;
    msg->u.message.content = (const char *)(r->data + r->pos);
    r->pos += msg->u.message.len;
    return 0;
}

static int w2k_pgoutput_stream_start(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    if (w2k_pgoutput_u32(r, &msg->u.stream_start.xid) != 0 ||
        w2k_pgoutput_u8(r, &msg->u.stream_start.first_segment) != 0)
        return -1;
    if (msg->u.stream_start.first_segment > 1)
        return w2k_pgoutput_fail(r, "Stream Start message has first_segment %u at offset 5",
                                 (unsigned)msg->u.stream_start.first_segment);
    return 0;
}

static int w2k_pgoutput_stream_commit(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    if (w2k_pgoutput_u32(r, &msg->u.stream_commit.xid) != 0 ||
        w2k_pgoutput_u8(r, &msg->u.stream_commit.flags) != 0)
        return -1;
    if (msg->u.stream_commit.flags != 0)
        return w2k_pgoutput_fail(r, "Stream Commit message has unknown flags 0x%02x at offset 5",
                                 msg->u.stream_commit.flags);
    return w2k_pgoutput_u64(r, &msg->u.stream_commit.commit_lsn) != 0 ||
                   w2k_pgoutput_u64(r, &msg->u.stream_commit.end_lsn) != 0 ||
                   w2k_pgoutput_i64(r, &msg->u.stream_commit.commit_time) != 0
               ? -1
               : 0;
}

static int w2k_pgoutput_stream_abort(w2k_pgreader_t *r, w2k_pgmsg_t *msg)
{
    return w2k_pgoutput_u32(r, &msg->u.stream_abort.xid) != 0 ||
                   w2k_pgoutput_u32(r, &msg->u.stream_abort.subxid) != 0
               ? -1
               : 0;
}

/* Name of a message type that protocol version 1 cannot contain, or NULL. */
static const char *w2k_pgoutput_later_kind(unsigned char c)
{
    switch (c) {
    case 'S':
        return "Stream Start (protocol version 2)";
    case 'E':
        return "Stream Stop (protocol version 2)";
    case 'c':
        return "Stream Commit (protocol version 2)";
    case 'A':
        return "Stream Abort (protocol version 2)";
    case 'b':
        return "Begin Prepare (protocol version 3)";
    case 'P':
        return "Prepare (protocol version 3)";
    case 'K':
        return "Commit Prepared (protocol version 3)";
    case 'r':
        return "Rollback Prepared (protocol version 3)";
    case 'p':
        return "Stream Prepare (protocol version 3)";
    default:
        return NULL;
    }
}

/* True for the messages that carry an xid inside a streamed block. */
static int w2k_pgoutput_has_xid(unsigned char kind)
{
    return kind == W2K_PGMSG_RELATION || kind == W2K_PGMSG_TYPE || kind == W2K_PGMSG_INSERT ||
           kind == W2K_PGMSG_UPDATE || kind == W2K_PGMSG_DELETE || kind == W2K_PGMSG_TRUNCATE ||
           kind == W2K_PGMSG_MESSAGE;
}

/* Decode one message of protocol version (1 or 2); in_stream: inside a streamed block.
 * Returns 0 and fills msg, or -1 with err set. */
static int w2k_pgoutput_decode_any(const char *data, size_t len, int version, int in_stream,
                                   w2k_pgmsg_t *msg, char *err, size_t errsz)
{
    w2k_pgreader_t r = {(const unsigned char *)data, len, 1, "", err, errsz};
    int rc;
    if (err && errsz)
        err[0] = '\0';
    if (!data || len == 0)
        return w2k_pgoutput_fail(&r, "empty message");
    unsigned char kind = r.data[0];
    msg->xid = 0;
    if (version >= 2 && in_stream && w2k_pgoutput_has_xid(kind)) {
        r.name = "streamed";
        if (w2k_pgoutput_u32(&r, &msg->xid) != 0)
            return -1;
    }
    switch (kind) {
    case W2K_PGMSG_BEGIN:
        r.name = "Begin";
        rc = w2k_pgoutput_begin(&r, msg);
        break;
    case W2K_PGMSG_COMMIT:
        r.name = "Commit";
        rc = w2k_pgoutput_commit(&r, msg);
        break;
    case W2K_PGMSG_ORIGIN:
        r.name = "Origin";
        rc = w2k_pgoutput_origin(&r, msg);
        break;
    case W2K_PGMSG_RELATION:
        r.name = "Relation";
        rc = w2k_pgoutput_relation(&r, msg);
        break;
    case W2K_PGMSG_TYPE:
        r.name = "Type";
        rc = w2k_pgoutput_type(&r, msg);
        break;
    case W2K_PGMSG_INSERT:
        r.name = "Insert";
        rc = w2k_pgoutput_insert(&r, msg);
        break;
    case W2K_PGMSG_UPDATE:
        r.name = "Update";
        rc = w2k_pgoutput_update(&r, msg);
        break;
    case W2K_PGMSG_DELETE:
        r.name = "Delete";
        rc = w2k_pgoutput_delete(&r, msg);
        break;
    case W2K_PGMSG_TRUNCATE:
        r.name = "Truncate";
        rc = w2k_pgoutput_truncate(&r, msg);
        break;
    case W2K_PGMSG_MESSAGE:
        r.name = "Message";
        rc = w2k_pgoutput_message(&r, msg);
        break;
    case W2K_PGMSG_STREAM_START:
        if (version < 2)
            goto later;
        r.name = "Stream Start";
        rc = w2k_pgoutput_stream_start(&r, msg);
        break;
    case W2K_PGMSG_STREAM_STOP:
        if (version < 2)
            goto later;
        r.name = "Stream Stop";
        rc = 0;
        break;
    case W2K_PGMSG_STREAM_COMMIT:
        if (version < 2)
            goto later;
        r.name = "Stream Commit";
        rc = w2k_pgoutput_stream_commit(&r, msg);
        break;
    case W2K_PGMSG_STREAM_ABORT:
        if (version < 2)
            goto later;
        r.name = "Stream Abort";
        rc = w2k_pgoutput_stream_abort(&r, msg);
        break;
    default:
    later : {
        const char *later = w2k_pgoutput_later_kind(kind);
        char b[16];
        if (later)
            return w2k_pgoutput_fail(&r,
                                     "message type %s at offset 0 is %s, which protocol version %d "
                                     "does not send",
                                     w2k_pgoutput_byte(kind, b, sizeof b), later, version);
        return w2k_pgoutput_fail(&r, "unknown message type %s at offset 0",
                                 w2k_pgoutput_byte(kind, b, sizeof b));
    }
    }
    if (rc != 0)
        return -1;
    if (r.pos != len)
        return w2k_pgoutput_fail(&r, "%zu unexpected bytes after the %s message at offset %zu",
                                 len - r.pos, r.name, r.pos);
    msg->kind = (w2k_pgmsg_kind_t)kind;
    return 0;
}

/* Decode one pgoutput v1 message. Returns 0 and fills msg, or -1 with err set. */
int w2k_pgoutput_decode(const char *data, size_t len, w2k_pgmsg_t *msg, char *err, size_t errsz)
{
    return w2k_pgoutput_decode_any(data, len, 1, 0, msg, err, errsz);
}

/* Decode one pgoutput v2 message (streamed blocks). Returns 0 and fills msg, or -1. */
int w2k_pgoutput_decode_v2(const char *data, size_t len, int in_stream, w2k_pgmsg_t *msg, char *err,
                           size_t errsz)
{
    return w2k_pgoutput_decode_any(data, len, 2, in_stream, msg, err, errsz);
}

/* The i-th relation OID of a decoded Truncate message; 0 if i >= nrels. */
uint32_t w2k_pgoutput_truncate_relid(const w2k_pgmsg_t *msg, uint32_t i)
{
    if (msg->kind != W2K_PGMSG_TRUNCATE || i >= msg->u.truncate.nrels)
        return 0;
    const uint8_t *p = msg->u.truncate.relids + (size_t)i * 4;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
