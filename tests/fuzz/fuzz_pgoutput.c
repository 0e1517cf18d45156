/* fuzz_pgoutput.c — libFuzzer harness for the pgoutput decoder (built with -DW2K_FUZZ=ON).
 * Property: every input is either refused with an error text starting "pgoutput: ", or
 * decodes to a message whose pointers all lie inside the input and which re-encodes to
 * exactly the input bytes; with the version 1 decoder and the version 2 one outside and
 * inside a streamed block. Seeds: tests/fuzz/corpus/pgoutput (the captured frames, and
 * handmade streamed ones: Stream Start/Stop/Commit/Abort, an Insert with its xid). */
#include "pgoutput.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static w2k_pgmsg_t fuzz_msg;
static int fuzz_in_stream; /* the message being re-encoded came inside a streamed block */
static unsigned char fuzz_out[1 << 20];

typedef struct fuzz_enc_s {
    unsigned char *p;
    size_t n;
    size_t cap;
} fuzz_enc_t;

static void fuzz_put(fuzz_enc_t *e, const void *p, size_t n)
{
    if (e->n + n > e->cap)
        abort();
    memcpy(e->p + e->n, p, n);
    e->n += n;
}

static void fuzz_be(fuzz_enc_t *e, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        fuzz_put(e, &c, 1);
    }
}

/* A decoded string must start and end (with its NUL) inside the input. */
static void fuzz_str(fuzz_enc_t *e, const char *s, const uint8_t *data, size_t size)
{
    if ((const uint8_t *)s < data || (const uint8_t *)s >= data + size)
        abort();
    size_t n = strnlen(s, (size_t)(data + size - (const uint8_t *)s));
    if ((const uint8_t *)s + n >= data + size)
        abort();
    fuzz_put(e, s, n + 1);
}

static void fuzz_bytes(fuzz_enc_t *e, const char *p, uint32_t n, const uint8_t *data, size_t size)
{
    if (n && ((const uint8_t *)p < data || (const uint8_t *)p + n > data + size))
        abort();
    fuzz_put(e, p, n);
}

static void fuzz_tuple(fuzz_enc_t *e, const w2k_pgtuple_t *t, const uint8_t *data, size_t size)
{
    if (t->ncols > W2K_PG_MAX_COLUMNS)
        abort();
    fuzz_be(e, t->ncols, 2);
    for (uint16_t i = 0; i < t->ncols; i++) {
        const w2k_pgdatum_t *d = &t->cols[i];
        fuzz_put(e, &d->kind, 1);
        if (d->kind == 't' || d->kind == 'b') {
            fuzz_be(e, d->len, 4);
            fuzz_bytes(e, d->data, d->len, data, size);
        } else if (d->kind != 'n' && d->kind != 'u') {
            abort();
        } else if (d->data || d->len) {
            abort();
        }
    }
}

/* Re-encode a decoded message in pgoutput form (v1, or v2 with the xid of a message
 * inside a streamed block when it has one). */
static size_t fuzz_encode(const w2k_pgmsg_t *m, const uint8_t *data, size_t size)
{
    fuzz_enc_t e = {fuzz_out, 0, sizeof fuzz_out};
    char kind = (char)m->kind;
    fuzz_put(&e, &kind, 1);
    if (fuzz_in_stream && m->kind != W2K_PGMSG_BEGIN && m->kind != W2K_PGMSG_COMMIT &&
        m->kind != W2K_PGMSG_ORIGIN && m->kind != W2K_PGMSG_STREAM_START &&
        m->kind != W2K_PGMSG_STREAM_STOP && m->kind != W2K_PGMSG_STREAM_COMMIT &&
        m->kind != W2K_PGMSG_STREAM_ABORT)
        fuzz_be(&e, m->xid, 4);
    else if (m->xid != 0)
        abort();
    switch (m->kind) {
    case W2K_PGMSG_BEGIN:
        fuzz_be(&e, m->u.begin.final_lsn, 8);
        fuzz_be(&e, (uint64_t)m->u.begin.commit_time, 8);
        fuzz_be(&e, m->u.begin.xid, 4);
        break;
    case W2K_PGMSG_COMMIT:
        fuzz_be(&e, m->u.commit.flags, 1);
        fuzz_be(&e, m->u.commit.commit_lsn, 8);
        fuzz_be(&e, m->u.commit.end_lsn, 8);
        fuzz_be(&e, (uint64_t)m->u.commit.commit_time, 8);
        break;
    case W2K_PGMSG_ORIGIN:
        fuzz_be(&e, m->u.origin.lsn, 8);
        fuzz_str(&e, m->u.origin.name, data, size);
        break;
    case W2K_PGMSG_RELATION:
        fuzz_be(&e, m->u.relation.relid, 4);
        fuzz_str(&e, m->u.relation.nspname, data, size);
        fuzz_str(&e, m->u.relation.relname, data, size);
        fuzz_put(&e, &m->u.relation.replident, 1);
        if (m->u.relation.ncols > W2K_PG_MAX_COLUMNS)
            abort();
        fuzz_be(&e, m->u.relation.ncols, 2);
        for (uint16_t i = 0; i < m->u.relation.ncols; i++) {
            fuzz_be(&e, m->columns[i].flags, 1);
            fuzz_str(&e, m->columns[i].name, data, size);
            fuzz_be(&e, m->columns[i].type_oid, 4);
            fuzz_be(&e, (uint32_t)m->columns[i].typmod, 4);
        }
        break;
    case W2K_PGMSG_TYPE:
        fuzz_be(&e, m->u.type.oid, 4);
        fuzz_str(&e, m->u.type.nspname, data, size);
        fuzz_str(&e, m->u.type.typname, data, size);
        break;
    case W2K_PGMSG_INSERT:
        fuzz_be(&e, m->u.insert.relid, 4);
        fuzz_put(&e, "N", 1);
        fuzz_tuple(&e, &m->newtup, data, size);
        break;
    case W2K_PGMSG_UPDATE:
        fuzz_be(&e, m->u.update.relid, 4);
        if (m->u.update.old_kind) {
            fuzz_put(&e, &m->u.update.old_kind, 1);
            fuzz_tuple(&e, &m->oldtup, data, size);
        }
        fuzz_put(&e, "N", 1);
        fuzz_tuple(&e, &m->newtup, data, size);
        break;
    case W2K_PGMSG_DELETE:
        fuzz_be(&e, m->u.delete_.relid, 4);
        fuzz_put(&e, &m->u.delete_.old_kind, 1);
        fuzz_tuple(&e, &m->oldtup, data, size);
        break;
    case W2K_PGMSG_TRUNCATE:
        fuzz_be(&e, m->u.truncate.nrels, 4);
        fuzz_be(&e, m->u.truncate.options, 1);
        for (uint32_t i = 0; i < m->u.truncate.nrels; i++)
            fuzz_be(&e, w2k_pgoutput_truncate_relid(m, i), 4);
        if (m->u.truncate.nrels &&
            (m->u.truncate.relids < data ||
             m->u.truncate.relids + (size_t)m->u.truncate.nrels * 4 > data + size))
            abort();
        break;
    case W2K_PGMSG_MESSAGE:
        fuzz_be(&e, m->u.message.flags, 1);
        fuzz_be(&e, m->u.message.lsn, 8);
        fuzz_str(&e, m->u.message.prefix, data, size);
        fuzz_be(&e, m->u.message.len, 4);
        fuzz_bytes(&e, m->u.message.content, m->u.message.len, data, size);
        break;
    case W2K_PGMSG_STREAM_START:
        fuzz_be(&e, m->u.stream_start.xid, 4);
        fuzz_be(&e, m->u.stream_start.first_segment, 1);
        break;
    case W2K_PGMSG_STREAM_STOP:
        break;
    case W2K_PGMSG_STREAM_COMMIT:
        fuzz_be(&e, m->u.stream_commit.xid, 4);
        fuzz_be(&e, m->u.stream_commit.flags, 1);
        fuzz_be(&e, m->u.stream_commit.commit_lsn, 8);
        fuzz_be(&e, m->u.stream_commit.end_lsn, 8);
        fuzz_be(&e, (uint64_t)m->u.stream_commit.commit_time, 8);
        break;
    case W2K_PGMSG_STREAM_ABORT:
        fuzz_be(&e, m->u.stream_abort.xid, 4);
        fuzz_be(&e, m->u.stream_abort.subxid, 4);
        break;
    default:
        abort();
    }
    return e.n;
}

/* Check one decoder (version 1, or 2 outside or inside a streamed block) on data. */
static void fuzz_check(int version, int in_stream, const uint8_t *data, size_t size)
{
    char err[256];
    int rc;
    err[0] = 'x';
    if (version == 1)
        rc = w2k_pgoutput_decode((const char *)data, size, &fuzz_msg, err, sizeof err);
    else
        rc =
            w2k_pgoutput_decode_v2((const char *)data, size, in_stream, &fuzz_msg, err, sizeof err);
    if (rc != 0) {
        if (strncmp(err, "pgoutput: ", 10) != 0)
            abort();
        return;
    }
    if (err[0] != '\0')
        abort();
    if (version == 1 && strchr("SEcA", (int)fuzz_msg.kind))
        abort(); /* version 1 never decodes a streamed block's message */
    fuzz_in_stream = version == 2 && in_stream;
    size_t n = fuzz_encode(&fuzz_msg, data, size);
    if (n != size || memcmp(fuzz_out, data, size) != 0) {
        fprintf(stderr, "re-encoding differs from the input (%zu vs %zu bytes)\n", n, size);
        abort();
    }
}

/* libFuzzer entry point: decode with each decoder, then check the result against the
 * input. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_check(1, 0, data, size);
    fuzz_check(2, 0, data, size);
    fuzz_check(2, 1, data, size);
    return 0;
}
