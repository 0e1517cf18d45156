/* change.c — one decoded change of a table → the messages to produce (see change.h). */
#include "change.h"
#include "config.h"
#include "secret.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct w2k_change_s {
    w2k_pgtuple_t old, new_, fill; /* projected and TOAST-filled row images */
    w2k_pgtuple_t mold, mnew;      /* the same with masked columns replaced */
    char *hex;                     /* the hashes of mold and mnew: 65 bytes per column */
    int hexcols;                   /* columns hex has room for, per image */
    EVP_MAC *mac;                  /* HMAC, fetched once */
    EVP_MAC_CTX *mctx;             /* keyed with mkey (re-keyed when the salt changes) */
    uint8_t mkey[1024];
    size_t mkeylen; /* 0: not keyed */
    bool changed[W2K_PG_MAX_COLUMNS];
    w2k_buf_t key, key2;     /* the row's key; an update's old key */
    w2k_buf_t value, value2; /* envelopes: a key change has two */
};

w2k_change_t *w2k_change_new(void)
{
    return calloc(1, sizeof(w2k_change_t));
}

void w2k_change_destroy(w2k_change_t *ch)
{
    if (!ch)
        return;
    w2k_buf_free(&ch->key);
    w2k_buf_free(&ch->key2);
    w2k_buf_free(&ch->value);
    w2k_buf_free(&ch->value2);
    free(ch->hex);
    w2k_secret_wipe(ch->mkey, sizeof ch->mkey);
    EVP_MAC_CTX_free(ch->mctx);
    EVP_MAC_free(ch->mac);
    free(ch);
}

int w2k_change_columns(const w2k_relation_t *rel, char *const *columns, int ncolumns,
                       w2k_relation_t **prel, int **proj, int *missing)
{
    *prel = NULL;
    *missing = -1;
    int n = 0, *pos = calloc((size_t)rel->ncols + 1, sizeof *pos);
    *proj = pos;
    for (int i = 0; pos && i < rel->ncols; i++)
        for (int k = 0; k < ncolumns; k++)
            if (strcmp(rel->cols[i].name, columns[k]) == 0)
                pos[n++] = i;
    for (int k = 0; pos && k < ncolumns; k++) {
        bool found = false;
        for (int i = 0; i < rel->ncols; i++)
            found |= strcmp(rel->cols[i].name, columns[k]) == 0;
        if (!found) {
            *missing = k;
            goto fail;
        }
    }
    w2k_relation_t *p = pos ? w2k_relation_new(n) : NULL;
    if (!p)
        goto fail;
    p->relid = rel->relid;
    memcpy(p->schema, rel->schema, sizeof p->schema);
    memcpy(p->name, rel->name, sizeof p->name);
    p->replident = rel->replident;
    for (int i = 0; i < n; i++) {
        p->cols[i] = rel->cols[pos[i]];
        p->cols[i].key_pos = -1;
    }
    int listed = 0;
    for (int k = 0; k < rel->nkeys; k++)
        for (int i = 0; i < n; i++)
            listed += pos[i] == rel->keycols[k];
    if (listed == rel->nkeys)
        for (int i = 0; i < n; i++)
            if (rel->cols[pos[i]].key_pos >= 0) {
                p->cols[i].key_pos = p->nkeys;
                p->keycols[p->nkeys++] = i;
            }
    *prel = p;
    return 0;
fail:
    free(pos);
    *proj = NULL;
    return -1;
}

static int index_of(const w2k_relation_t *rel, const char *name)
{
    for (int i = 0; i < rel->ncols; i++)
        if (strcmp(rel->cols[i].name, name) == 0)
            return i;
    return -1;
}

/* Marks the columns of names (n) in mask as how; fills why on a missing or key column. */
static int mark(const w2k_relation_t *rel, char *const *names, int n, char how, char *mask,
                char *why, size_t whysz)
{
    for (int k = 0; k < n; k++) {
        int i = index_of(rel, names[k]);
        if (i < 0) {
            snprintf(why, whysz, "has no column \"%s\" (in %s)", names[k],
                     how == W2K_MASKED_HASH ? "hash_columns" : "mask_columns");
            return -1;
        }
        if (how == W2K_MASKED_FIXED && rel->cols[i].key_pos >= 0) {
            snprintf(why, whysz,
                     "column \"%s\" is part of the key: masked, every row would have the same "
                     "key",
                     names[k]);
            return -1;
        }
        mask[i] = how;
    }
    return 0;
}

int w2k_change_masks(const w2k_relation_t *rel, const w2k_table_cfg_t *t, w2k_relation_t **mrel,
                     char **mask, char *why, size_t whysz)
{
    *mrel = NULL;
    *mask = NULL;
    why[0] = '\0';
    if (!t || (!t->nhash_columns && !t->nmask_columns))
        return 0;
    char *m = calloc((size_t)rel->ncols + 1, 1);
    w2k_relation_t *r = w2k_relation_new(rel->ncols);
    if (!m || !r)
        goto fail;
    if (mark(rel, t->hash_columns, t->nhash_columns, W2K_MASKED_HASH, m, why, whysz) != 0 ||
        mark(rel, t->mask_columns, t->nmask_columns, W2K_MASKED_FIXED, m, why, whysz) != 0)
        goto fail;
    r->relid = rel->relid;
    memcpy(r->schema, rel->schema, sizeof r->schema);
    memcpy(r->name, rel->name, sizeof r->name);
    r->replident = rel->replident;
    memcpy(r->cols, rel->cols, (size_t)rel->ncols * sizeof *r->cols);
    r->nkeys = rel->nkeys;
    memcpy(r->keycols, rel->keycols, (size_t)rel->nkeys * sizeof *r->keycols);
    for (int i = 0; i < rel->ncols; i++)
        if (m[i]) {
            w2k_coltype_from_pg(&r->cols[i].type, W2K_OID_TEXT, -1, 0);
            r->cols[i].masked = m[i];
        }
    *mrel = r;
    *mask = m;
    return 0;
fail:
    free(m);
    w2k_relation_free(r);
    return -1;
}

int w2k_change_hmac_hex(w2k_change_t *ch, const uint8_t *salt, size_t saltlen, const char *data,
                        size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    if (!ch->mac && !(ch->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)))
        return -1;
    if (!ch->mctx && !(ch->mctx = EVP_MAC_CTX_new(ch->mac)))
        return -1;
    /* keyed once per salt: EVP_MAC_init with no key reuses the one set before */
    bool rekey = !ch->mkeylen || ch->mkeylen != saltlen || saltlen > sizeof ch->mkey ||
                 memcmp(ch->mkey, salt, saltlen) != 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (EVP_MAC_init(ch->mctx, rekey ? salt : NULL, rekey ? saltlen : 0, rekey ? params : NULL) !=
        1) {
        ch->mkeylen = 0;
        return -1;
    }
    if (rekey && saltlen && saltlen <= sizeof ch->mkey) {
        memcpy(ch->mkey, salt, saltlen);
        ch->mkeylen = saltlen;
    }
    if (EVP_MAC_update(ch->mctx, (const unsigned char *)data, len) != 1 ||
        EVP_MAC_final(ch->mctx, md, &mdlen, sizeof md) != 1 || mdlen != 32)
        return -1;
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* src with t's masked columns replaced into dst; hex: 65 bytes per column for the
 * hashes. NULL and unchanged TOAST values stay as they are. */
static const w2k_pgtuple_t *apply_masks(w2k_change_t *ch, const w2k_change_table_t *t,
                                        const w2k_pgtuple_t *src, w2k_pgtuple_t *dst, char *hex)
{
    dst->ncols = src->ncols;
    for (int i = 0; i < src->ncols; i++) {
        const w2k_pgdatum_t *d = &src->cols[i];
        dst->cols[i] = *d;
        if (!t->mask[i] || (d->kind != 't' && d->kind != 'b'))
            continue;
        if (t->mask[i] == W2K_MASKED_FIXED) {
            dst->cols[i] = (w2k_pgdatum_t){'t', (uint32_t)strlen(W2K_MASK_TEXT), W2K_MASK_TEXT};
            continue;
        }
        char *h = hex + (size_t)i * 65;
        if (w2k_change_hmac_hex(ch, t->salt, t->saltlen, d->data, d->len, h) != 0)
            return NULL;
        dst->cols[i] = (w2k_pgdatum_t){'t', 64, h};
    }
    return dst;
}

/* The row images old and new_ (either may be NULL) of t's table as published (ncols
 * columns) with its masks applied, in ch's scratch. Returns 0, or -1 with err. */
static int mask_rows(w2k_change_t *ch, const w2k_change_table_t *t, int ncols,
                     const w2k_pgtuple_t **old, const w2k_pgtuple_t **new_, w2k_err_t *err)
{
    if (!t->mask)
        return 0;
    if (ch->hexcols < ncols) {
        char *h = realloc(ch->hex, (size_t)ncols * 65 * 2);
        if (!h) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        ch->hex = h;
        ch->hexcols = ncols;
    }
    if ((*old && !(*old = apply_masks(ch, t, *old, &ch->mold, ch->hex))) ||
        (*new_ &&
         !(*new_ = apply_masks(ch, t, *new_, &ch->mnew, ch->hex + (size_t)ch->hexcols * 65)))) {
        w2k_err_set(err, W2K_EXIT_RUNTIME,
                    "table %s.%s: HMAC-SHA-256 of a hash_columns value failed", t->rel->schema,
                    t->rel->name);
        w2k_err_hint(err, "OpenSSL's libcrypto could not compute it: check its installation");
        return -1;
    }
    return 0;
}

/* Copy new, with its unchanged TOAST values taken from the whole old row, into dst. */
static const w2k_pgtuple_t *fill_toast(const w2k_pgtuple_t *new_, const w2k_pgtuple_t *old,
                                       w2k_pgtuple_t *dst)
{
    dst->ncols = new_->ncols;
    for (int i = 0; i < new_->ncols; i++)
        dst->cols[i] =
            new_->cols[i].kind == 'u' && old && i < old->ncols ? old->cols[i] : new_->cols[i];
    return dst;
}

/* The columns of src at positions proj (n of them), into dst. */
static const w2k_pgtuple_t *project(const w2k_pgtuple_t *src, const int *proj, int n,
                                    w2k_pgtuple_t *dst)
{
    dst->ncols = (uint16_t)n;
    for (int i = 0; i < n; i++)
        dst->cols[i] = proj[i] < src->ncols ? src->cols[proj[i]] : (w2k_pgdatum_t){'n', 0, NULL};
    return dst;
}

/* Whether a row image passes the filter; a value it cannot see (unchanged TOAST) lets
 * the row through rather than drop a change. */
static bool passes(const w2k_filter_t *f, const w2k_pgtuple_t *row)
{
    int r = w2k_filter_eval(f, row);
    return r == W2K_FILTER_TRUE || r == W2K_FILTER_TOAST;
}

/* Append an envelope into value (before/after as w2k_avroenc_value takes them) for key,
 * and after a delete with a key its tombstone. */
static int add_envelope(w2k_avroenc_t *enc, w2k_relavro_t *ra, const w2k_relation_t *rel, char op,
                        const w2k_pgtuple_t *before, const w2k_pgtuple_t *after,
                        const bool *changed, const w2k_buf_t *key, w2k_buf_t *value,
                        const w2k_source_t *src, int64_t now_ms, w2k_change_out_t *out,
                        w2k_err_t *err)
{
    if (w2k_avroenc_value(enc, ra, rel, op, before, after, changed, src, now_ms, value, err) != 0) {
        out->bad_value = true;
        return -1;
    }
    out->msgs[out->n++] = (w2k_change_msg_t){op, false, key, value};
    if (op == W2K_ENV_OP_DELETE && key)
        out->msgs[out->n++] = (w2k_change_msg_t){op, false, key, NULL};
    return 0;
}

/* The messages of one row change of rel (the table as published). kind is the change
 * after filtering; old_kind 'K' or 'O' when old is given. */
static int encode_row(w2k_change_t *ch, w2k_avroenc_t *enc, w2k_relavro_t *ra,
                      const w2k_relation_t *rel, char kind, char old_kind, const w2k_pgtuple_t *old,
                      const w2k_pgtuple_t *new_, const w2k_source_t *src, int64_t now_ms,
                      w2k_change_out_t *out, w2k_err_t *err)
{
    const w2k_buf_t *key = rel->nkeys ? &ch->key : NULL;
    if (kind == W2K_PGMSG_INSERT) {
        if (key && w2k_avroenc_key(enc, ra, rel, new_, NULL, &ch->key, err) != 0)
            return -1;
        return add_envelope(enc, ra, rel, W2K_ENV_OP_CREATE, NULL, new_, NULL, key, &ch->value, src,
                            now_ms, out, err);
    }
    const w2k_pgtuple_t *before = old_kind == 'O' ? old : NULL;
    if (kind == W2K_PGMSG_DELETE) {
        if (key && w2k_avroenc_key(enc, ra, rel, old, NULL, &ch->key, err) != 0)
            return -1;
        return add_envelope(enc, ra, rel, W2K_ENV_OP_DELETE, before, NULL, NULL, key, &ch->value,
                            src, now_ms, out, err);
    }
    if (key && w2k_avroenc_key(enc, ra, rel, new_, old, &ch->key, err) != 0)
        return -1;
    if (key && old) {
        if (w2k_avroenc_key(enc, ra, rel, old, NULL, &ch->key2, err) != 0)
            return -1;
        if (ch->key2.len != ch->key.len || memcmp(ch->key2.data, ch->key.data, ch->key.len)) {
            /* The key changed: the old row is gone, a new one exists. */
            if (add_envelope(enc, ra, rel, W2K_ENV_OP_DELETE, before, NULL, NULL, &ch->key2,
                             &ch->value2, src, now_ms, out, err) != 0)
                return -1;
            /* The create has no before image to fill unchanged TOAST values from: take them
             * from the old row when it came whole (REPLICA IDENTITY FULL). */
            const w2k_pgtuple_t *row = before ? fill_toast(new_, before, &ch->fill) : new_;
            return add_envelope(enc, ra, rel, W2K_ENV_OP_CREATE, NULL, row, NULL, key, &ch->value,
                                src, now_ms, out, err);
        }
    }
    const bool *changed = NULL;
    if (before) {
        for (int i = 0; i < rel->ncols; i++) {
            const w2k_pgdatum_t *a = &before->cols[i], *b = &new_->cols[i];
            ch->changed[i] = b->kind != 'u' && (a->kind != b->kind || a->len != b->len ||
                                                (a->len && memcmp(a->data, b->data, a->len) != 0));
        }
        changed = ch->changed;
    }
    return add_envelope(enc, ra, rel, W2K_ENV_OP_UPDATE, before, new_, changed, key, &ch->value,
                        src, now_ms, out, err);
}

int w2k_change_row(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                   const w2k_pgmsg_t *m, const w2k_source_t *src, int64_t now_ms,
                   w2k_change_out_t *out, w2k_err_t *err)
{
    out->n = 0;
    out->bad_value = false;
    char kind = (char)m->kind;
    char old_kind = kind == W2K_PGMSG_UPDATE   ? m->u.update.old_kind
                    : kind == W2K_PGMSG_DELETE ? m->u.delete_.old_kind
                                               : 0;
    const w2k_pgtuple_t *old = old_kind ? &m->oldtup : NULL;
    const w2k_pgtuple_t *new_ = kind == W2K_PGMSG_DELETE ? NULL : &m->newtup;
    unsigned op = kind == W2K_PGMSG_INSERT   ? W2K_OP_INSERT
                  : kind == W2K_PGMSG_UPDATE ? W2K_OP_UPDATE
                                             : W2K_OP_DELETE;
    /* Pushed down, PostgreSQL applied the operations (before the row filter). */
    if (t->connector_filters && !(t->ops & op))
        return 0;
    if (t->filter) {
        /* As PostgreSQL does for a publication's row filter: an update whose old row
         * passes and new row does not is a delete, the other way round an insert. */
        if (kind == W2K_PGMSG_INSERT && !passes(t->filter, new_))
            return 0;
        if (kind == W2K_PGMSG_DELETE && !passes(t->filter, old))
            return 0;
        if (kind == W2K_PGMSG_UPDATE) {
            const w2k_pgtuple_t *filled = old ? fill_toast(new_, old, &ch->fill) : new_;
            bool new_ok = passes(t->filter, filled), old_ok = old ? passes(t->filter, old) : new_ok;
            if (!old_ok && !new_ok)
                return 0;
            if (!old_ok) {
                kind = W2K_PGMSG_INSERT;
                new_ = filled;
                old = NULL;
                old_kind = 0;
            } else if (!new_ok) {
                kind = W2K_PGMSG_DELETE;
                new_ = NULL;
            }
        }
    }
    const w2k_relation_t *rel = t->rel;
    if (t->prel) {
        old = old ? project(old, t->proj, t->prel->ncols, &ch->old) : NULL;
        new_ = new_ ? project(new_, t->proj, t->prel->ncols, &ch->new_) : NULL;
        rel = t->prel;
    }
    if (mask_rows(ch, t, rel->ncols, &old, &new_, err) != 0)
        return -1;
    if (t->mask)
        rel = t->mrel;
    return encode_row(ch, enc, t->ra, rel, kind, old_kind, old, new_, src, now_ms, out, err);
}

int w2k_change_read(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                    const w2k_pgtuple_t *row, const w2k_source_t *src, int64_t now_ms,
                    w2k_change_out_t *out, w2k_err_t *err)
{
    out->n = 0;
    out->bad_value = false;
    if (t->filter && !passes(t->filter, row))
        return 0;
    const w2k_relation_t *rel = t->rel;
    if (t->prel) {
        row = project(row, t->proj, t->prel->ncols, &ch->new_);
        rel = t->prel;
    }
    const w2k_pgtuple_t *none = NULL;
    if (mask_rows(ch, t, rel->ncols, &none, &row, err) != 0)
        return -1;
    if (t->mask)
        rel = t->mrel;
    const w2k_buf_t *key = rel->nkeys ? &ch->key : NULL;
    if (key && w2k_avroenc_key(enc, t->ra, rel, row, NULL, &ch->key, err) != 0)
        return -1;
    return add_envelope(enc, t->ra, rel, W2K_ENV_OP_READ, NULL, row, NULL, key, &ch->value, src,
                        now_ms, out, err);
}

int w2k_change_truncate(w2k_change_t *ch, w2k_avroenc_t *enc, const w2k_change_table_t *t,
                        const w2k_pgmsg_t *m, const w2k_source_t *src, int64_t now_ms,
                        w2k_change_out_t *out, w2k_err_t *err)
{
    out->n = 0;
    out->bad_value = false;
    if (!(t->ops & W2K_OP_TRUNCATE))
        return 0;
    const char *opts[3] = {NULL, NULL, NULL};
    int n = 0;
    if (m->u.truncate.options & 1)
        opts[n++] = "cascade";
    if (m->u.truncate.options & 2)
        opts[n++] = "restart_identity";
    const w2k_relation_t *rel = t->rel;
    w2k_schema_change_t sc = {"truncate", rel->schema, rel->name, rel->relid, NULL,
                              rel,        opts,        NULL,      NULL,       NULL};
    if (w2k_avroenc_change(enc, &sc, src, now_ms, &ch->key, &ch->value, err) != 0)
        return -1;
    out->msgs[out->n++] = (w2k_change_msg_t){W2K_ENV_OP_TRUNCATE, true, &ch->key, &ch->value};
    return 0;
}
