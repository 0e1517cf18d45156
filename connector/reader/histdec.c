/* histdec.c — schemas by header, envelope decoding, row images, changes, the history of
 * one key and the fold of a table's state: the I/O-free part of history and state. */
#include "histdec.h"
#include "avrofp.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- framing ---- */

size_t w2k_hdr_len(const void *msg, size_t len)
{
    const uint8_t *b = msg;
    if (len >= W2K_SOE_HEADER_LEN && b[0] == 0xc3 && b[1] == 0x01)
        return W2K_SOE_HEADER_LEN;
    if (len >= W2K_REGISTRY_HEADER_LEN && b[0] == 0)
        return W2K_REGISTRY_HEADER_LEN;
    return 0;
}

int w2k_fp_from_hex(const char *hex, size_t len, uint64_t *fp)
{
    uint8_t hdr[W2K_SOE_HEADER_LEN];
    if (len != 16)
        return -1;
    for (size_t i = 0; i < 16; i++) {
        char c = hex[i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            hdr[2 + i / 2] = (uint8_t)(v << 4);
        else
            hdr[2 + i / 2] |= (uint8_t)v;
    }
    uint64_t x = 0;
    for (int i = 7; i >= 0; i--)
        x = (x << 8) | hdr[2 + i];
    *fp = x;
    return 0;
}

/* ---- schema store ---- */

typedef struct hsch_s {
    uint8_t hdr[W2K_SOE_HEADER_LEN];
    size_t hdrlen;
    char *json;
    size_t jlen;
    int64_t order;
    w2k_avschema_t *parsed;
    bool tried;
    w2k_err_t parse_err;
    /* envelope plan, once computed */
    bool planned, is_env;
    int f_before, f_after, f_op, f_source, f_changed;
    const w2k_avnode_t *source;
    int s_txid, s_lsn, s_commit_lsn, s_ts_us, s_ts_ms, s_snapshot;
} hsch_t;

struct w2k_hschemas_s {
    w2k_registry_t *reg;
    hsch_t **v;
    size_t n, cap;
    hsch_t *mru_value, *mru_key;
};

w2k_hschemas_t *w2k_hschemas_new(w2k_registry_t *reg)
{
    w2k_hschemas_t *s = calloc(1, sizeof *s);
    if (s)
        s->reg = reg;
    return s;
}

void w2k_hschemas_destroy(w2k_hschemas_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        w2k_avschema_destroy(s->v[i]->parsed);
        free(s->v[i]->json);
        free(s->v[i]);
    }
    free(s->v);
    free(s);
}

static hsch_t *find_hdr(w2k_hschemas_t *s, const uint8_t *hdr, size_t hdrlen)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i]->hdrlen == hdrlen && memcmp(s->v[i]->hdr, hdr, hdrlen) == 0)
            return s->v[i];
    return NULL;
}

static hsch_t *add_entry(w2k_hschemas_t *s, const uint8_t *hdr, size_t hdrlen, const char *json,
                         size_t len, int64_t order)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        hsch_t **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return NULL;
        s->v = v;
        s->cap = cap;
    }
    hsch_t *h = calloc(1, sizeof *h);
    char *copy = malloc(len + 1);
    if (!h || !copy) {
        free(h);
        free(copy);
        return NULL;
    }
    memcpy(copy, json, len);
    copy[len] = '\0';
    memcpy(h->hdr, hdr, hdrlen);
    h->hdrlen = hdrlen;
    h->json = copy;
    h->jlen = len;
    h->order = order;
    s->v[s->n++] = h;
    return h;
}

int w2k_hschemas_add(w2k_hschemas_t *s, uint64_t fp, const char *json, size_t len, int64_t order)
{
    uint8_t hdr[W2K_SOE_HEADER_LEN];
    w2k_soe_header(fp, hdr);
    if (find_hdr(s, hdr, sizeof hdr))
        return 0;
    return add_entry(s, hdr, sizeof hdr, json, len, order) ? 0 : -1;
}

static int ensure_parsed(hsch_t *h, w2k_err_t *err)
{
    if (!h->tried) {
        h->tried = true;
        h->parsed = w2k_avschema_parse(h->json, h->jlen, &h->parse_err);
    }
    if (!h->parsed) {
        *err = h->parse_err;
        return -1;
    }
    return 0;
}

static void hdr_text(const uint8_t *hdr, size_t hdrlen, char *out, size_t outsz)
{
    if (hdrlen == W2K_REGISTRY_HEADER_LEN) {
        int32_t id = (int32_t)((uint32_t)hdr[1] << 24 | (uint32_t)hdr[2] << 16 |
                               (uint32_t)hdr[3] << 8 | hdr[4]);
        snprintf(out, outsz, "schema registry id %" PRId32, id);
        return;
    }
    char hex[17];
    for (int i = 0; i < 8; i++)
        snprintf(hex + 2 * i, 3, "%02x", hdr[2 + i]);
    snprintf(out, outsz, "fingerprint %s", hex);
}

/* The schema of a message's header, fetching a registry schema on first use. */
static hsch_t *schema_of(w2k_hschemas_t *s, const void *msg, size_t len, hsch_t **mru,
                         w2k_err_t *err)
{
    size_t hl = w2k_hdr_len(msg, len);
    if (hl == 0) {
        w2k_err_set(err, W2K_EXIT_KAFKA,
                    "a message is neither Avro single-object encoded (C3 01 ...) nor in the "
                    "schema registry framing (00 + id): it starts with %02x",
                    len ? ((const uint8_t *)msg)[0] : 0);
        w2k_err_hint(err, "is this topic written by wal2kafka?");
        return NULL;
    }
    if (*mru && (*mru)->hdrlen == hl && memcmp((*mru)->hdr, msg, hl) == 0)
        return *mru;
    hsch_t *h = find_hdr(s, msg, hl);
    if (!h && hl == W2K_REGISTRY_HEADER_LEN) {
        int32_t id;
        if (w2k_registry_header_parse(msg, len, &id) != 0) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "a message has a broken registry header");
            return NULL;
        }
        if (!s->reg) {
            w2k_err_set(err, W2K_EXIT_CONFIG,
                        "the topic's messages use a schema registry (schema id %" PRId32
                        ") but no registry is configured",
                        id);
            w2k_err_hint(err, "set schema_registry.url in the configuration (the registry "
                              "wal2kafka run used)");
            return NULL;
        }
        char *text = w2k_registry_schema_by_id(s->reg, id, err);
        if (!text)
            return NULL;
        h = add_entry(s, msg, hl, text, strlen(text), INT64_MAX);
        free(text);
        if (!h) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return NULL;
        }
    }
    if (!h) {
        char what[64];
        hdr_text(msg, hl, what, sizeof what);
        w2k_err_set(err, W2K_EXIT_KAFKA, "no schema with %s in the schema topic", what);
        w2k_err_hint(err, "the <prefix>.schemas topic lost it (deleted, or a wrong prefix); "
                          "wal2kafka stores every schema there before its first message");
        return NULL;
    }
    if (ensure_parsed(h, err) != 0)
        return NULL;
    *mru = h;
    return h;
}

int w2k_hschemas_find(w2k_hschemas_t *s, const char *fullname, w2k_hkeyschema_t *out, int max)
{
    /* cheap text test before parsing: the name appears quoted in the text */
    size_t fl = strlen(fullname);
    char *quoted = malloc(fl + 3);
    if (!quoted)
        return 0;
    quoted[0] = '"';
    memcpy(quoted + 1, fullname, fl);
    memcpy(quoted + fl + 1, "\"", 2);
    int n = 0;
    for (size_t i = 0; i < s->n && n < max; i++) {
        hsch_t *h = s->v[i];
        w2k_err_t e;
        if (h->hdrlen != W2K_SOE_HEADER_LEN || !strstr(h->json, quoted) || ensure_parsed(h, &e))
            continue;
        const w2k_avnode_t *r = w2k_avschema_root(h->parsed);
        if (r->type != W2K_AVT_RECORD || strcmp(r->fullname, fullname) != 0)
            continue;
        /* insert keeping newest (largest order) first */
        int at = n;
        while (at > 0 && out[at - 1].order < h->order)
            at--;
        memmove(out + at + 1, out + at, (size_t)(n - at) * sizeof *out);
        memcpy(out[at].hdr, h->hdr, h->hdrlen);
        out[at].hdrlen = h->hdrlen;
        out[at].json = h->json;
        out[at].root = r;
        out[at].order = h->order;
        n++;
    }
    free(quoted);
    return n;
}

int w2k_hschemas_lookup(w2k_hschemas_t *s, const void *msg, size_t len, w2k_hkeyschema_t *out,
                        w2k_err_t *err)
{
    hsch_t *h = schema_of(s, msg, len, &s->mru_key, err);
    if (!h)
        return -1;
    memcpy(out->hdr, h->hdr, h->hdrlen);
    out->hdrlen = h->hdrlen;
    out->json = h->json;
    out->root = w2k_avschema_root(h->parsed);
    out->order = h->order;
    return 0;
}

/* ---- images ---- */

struct w2k_himage_s {
    int n, cap;
    const char **names;
    char **vals;
};

w2k_himage_t *w2k_himage_new(void)
{
    return calloc(1, sizeof(w2k_himage_t));
}

void w2k_himage_free(w2k_himage_t *im)
{
    if (!im)
        return;
    for (int i = 0; i < im->n; i++)
        free(im->vals[i]);
    free(im->vals);
    free(im->names);
    free(im);
}

int w2k_himage_add(w2k_himage_t *im, const char *name, const char *json, size_t len)
{
    if (im->n == im->cap) {
        int cap = im->cap ? im->cap * 2 : 8;
        const char **nn = realloc(im->names, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        im->names = nn;
        char **nv = realloc(im->vals, (size_t)cap * sizeof *nv);
        if (!nv)
            return -1;
        im->vals = nv;
        im->cap = cap;
    }
    char *v = NULL;
    if (json) {
        if (!(v = malloc(len + 1)))
            return -1;
        memcpy(v, json, len);
        v[len] = '\0';
    }
    im->names[im->n] = name;
    im->vals[im->n++] = v;
    return 0;
}

const char *w2k_himage_name(const w2k_himage_t *im, int i)
{
    return im->names[i];
}

const char *w2k_himage_value(const w2k_himage_t *im, int i)
{
    return im->vals[i];
}

int w2k_himage_find(const w2k_himage_t *im, const char *name)
{
    if (!im)
        return -1;
    for (int i = 0; i < im->n; i++)
        if (strcmp(im->names[i], name) == 0)
            return i;
    return -1;
}

int w2k_himage_fill(w2k_himage_t *im, const w2k_himage_t *prev)
{
    if (!im || !prev)
        return 0;
    for (int i = 0; i < im->n; i++) {
        if (im->vals[i])
            continue;
        int j = w2k_himage_find(prev, im->names[i]);
        if (j >= 0 && prev->vals[j] && !(im->vals[i] = strdup(prev->vals[j])))
            return -1;
    }
    return 0;
}

w2k_himage_t *w2k_himage_copy(const w2k_himage_t *im)
{
    if (!im)
        return NULL;
    w2k_himage_t *c = w2k_himage_new();
    for (int i = 0; c && i < im->n; i++) {
        const char *v = im->vals[i];
        if (w2k_himage_add(c, im->names[i], v, v ? strlen(v) : 0) != 0) {
            w2k_himage_free(c);
            return NULL;
        }
    }
    return c;
}

void w2k_himage_json(const w2k_himage_t *im, w2k_buf_t *out)
{
    w2k_buf_putc(out, '{');
    for (int i = 0; i < im->n; i++) {
        if (i)
            w2k_buf_putc(out, ',');
        w2k_buf_put_json_string(out, im->names[i], strlen(im->names[i]));
        w2k_buf_putc(out, ':');
        w2k_buf_puts(out, im->vals[i] ? im->vals[i] : W2K_AVRO_TOAST_JSON);
    }
    w2k_buf_putc(out, '}');
}

/* ---- envelope decoding ---- */

static int bad_msg(w2k_err_t *err, const hsch_t *h, const char *what)
{
    char name[64];
    hdr_text(h->hdr, h->hdrlen, name, sizeof name);
    w2k_err_set(err, W2K_EXIT_KAFKA, "a message does not match its schema (%s): %s", name, what);
    w2k_err_hint(err, "the message or its stored schema is damaged; was it written by "
                      "wal2kafka with this schema?");
    return -1;
}

/* The envelope's field positions, computed once per schema. */
static int plan(hsch_t *h, w2k_err_t *err)
{
    if (h->planned)
        return h->is_env ? 0 : bad_msg(err, h, "its schema is not a wal2kafka envelope");
    h->planned = true;
    const w2k_avnode_t *r = w2k_avschema_root(h->parsed);
    h->f_before = w2k_avnode_field(r, "before");
    h->f_after = w2k_avnode_field(r, "after");
    h->f_op = w2k_avnode_field(r, "op");
    h->f_source = w2k_avnode_field(r, "source");
    h->f_changed = w2k_avnode_field(r, "changed");
    h->source = h->f_source >= 0 ? r->sub[h->f_source] : NULL;
    h->is_env = h->f_after >= 0 && h->f_op >= 0 && h->source && h->source->type == W2K_AVT_RECORD &&
                r->sub[h->f_op]->type == W2K_AVT_STRING;
    if (!h->is_env)
        return bad_msg(err, h, "its schema is not a wal2kafka envelope");
    h->s_txid = w2k_avnode_field(h->source, "txId");
    h->s_lsn = w2k_avnode_field(h->source, "lsn");
    h->s_commit_lsn = w2k_avnode_field(h->source, "commit_lsn");
    h->s_ts_us = w2k_avnode_field(h->source, "ts_us");
    h->s_ts_ms = w2k_avnode_field(h->source, "ts_ms");
    h->s_snapshot = w2k_avnode_field(h->source, "snapshot");
    return 0;
}

/* An optional long (["null","long"] or "long"): has false for null. */
static int read_opt_long(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, bool *has,
                         int64_t *v)
{
    if (n->type == W2K_AVT_UNION) {
        int64_t idx;
        if (w2k_avro_read_long(p, end, &idx) != 0 || idx < 0 || idx >= n->n)
            return -1;
        n = n->sub[idx];
    }
    *has = false;
    if (n->type == W2K_AVT_NULL)
        return 0;
    if (n->type != W2K_AVT_LONG && n->type != W2K_AVT_INT)
        return w2k_avro_skip(n, p, end);
    *has = true;
    return w2k_avro_read_long(p, end, v);
}

static int read_source(const hsch_t *h, const uint8_t **p, const uint8_t *end, w2k_henv_t *e,
                       bool stop_at_ts)
{
    const w2k_avnode_t *src = h->source;
    int64_t v = 0, ts_ms = 0;
    bool has_ts_us = false, has_ts_ms = false;
    for (int i = 0; i < src->n; i++) {
        const w2k_avnode_t *f = src->sub[i];
        if (i == h->s_txid) {
            if (read_opt_long(f, p, end, &e->has_txid, &e->txid) != 0)
                return -1;
        } else if (i == h->s_lsn) {
            if (read_opt_long(f, p, end, &e->has_lsn, &v) != 0)
                return -1;
            e->lsn = (uint64_t)v;
        } else if (i == h->s_commit_lsn) {
            if (read_opt_long(f, p, end, &e->has_commit_lsn, &v) != 0)
                return -1;
            e->commit_lsn = (uint64_t)v;
        } else if (i == h->s_ts_us) {
            if (read_opt_long(f, p, end, &has_ts_us, &e->ts_us) != 0)
                return -1;
            if (stop_at_ts && has_ts_us)
                return 0;
        } else if (i == h->s_ts_ms) {
            if (read_opt_long(f, p, end, &has_ts_ms, &ts_ms) != 0)
                return -1;
        } else if (i == h->s_snapshot && f->type == W2K_AVT_BOOLEAN) {
            if (*p >= end)
                return -1;
            e->snapshot = *(*p)++ != 0;
        } else if (w2k_avro_skip(f, p, end) != 0) {
            return -1;
        }
    }
    if (!has_ts_us)
        e->ts_us = has_ts_ms ? ts_ms * 1000 : 0;
    return 0;
}

/* A row image (the union ["null", Value] or a Value record): NULL for null. */
static int read_image(const w2k_avnode_t *u, const uint8_t **p, const uint8_t *end,
                      w2k_himage_t **out, w2k_buf_t *tmp)
{
    const w2k_avnode_t *rec = u;
    *out = NULL;
    if (u->type == W2K_AVT_UNION) {
        int64_t idx;
        if (w2k_avro_read_long(p, end, &idx) != 0 || idx < 0 || idx >= u->n)
            return -1;
        rec = u->sub[idx];
    }
    if (rec->type == W2K_AVT_NULL)
        return 0;
    if (rec->type != W2K_AVT_RECORD)
        return -1;
    w2k_himage_t *im = w2k_himage_new();
    if (!im)
        return -1;
    for (int k = 0; k < rec->n; k++) {
        const w2k_avnode_t *f = rec->sub[k], *u = f;
        if (f->type == W2K_AVT_UNION) {
            int64_t idx;
            if (w2k_avro_read_long(p, end, &idx) != 0 || idx < 0 || idx >= f->n)
                goto fail;
            f = f->sub[idx];
        }
        if (f->logical == W2K_AVL_UNCHANGED_TOAST) {
            int64_t sym;
            if (w2k_avro_read_long(p, end, &sym) != 0 || w2k_himage_add(im, rec->names[k], NULL, 0))
                goto fail;
            continue;
        }
        w2k_buf_reset(tmp);
        if (w2k_avro_json_branch(u, f, p, end, tmp) != 0 ||
            w2k_himage_add(im, rec->names[k], tmp->data, tmp->len) != 0)
            goto fail;
    }
    *out = im;
    return 0;
fail:
    w2k_himage_free(im);
    return -1;
}

/* An envelope's op as the connector writes it: one of c, u, d, r, t (a foreign message
 * may hold any bytes, which would otherwise reach the JSON output unescaped). */
static bool hist_op_ok(const uint8_t *p, int64_t l)
{
    return l == 1 && p[0] && strchr("cudrt", p[0]) != NULL;
}

static int read_changed(const w2k_avnode_t *u, const uint8_t **p, const uint8_t *end, w2k_henv_t *e)
{
    const w2k_avnode_t *arr = u;
    if (u->type == W2K_AVT_UNION) {
        int64_t idx;
        if (w2k_avro_read_long(p, end, &idx) != 0 || idx < 0 || idx >= u->n)
            return -1;
        arr = u->sub[idx];
    }
    if (arr->type == W2K_AVT_NULL)
        return 0;
    if (arr->type != W2K_AVT_ARRAY || arr->sub[0]->type != W2K_AVT_STRING)
        return w2k_avro_skip(arr, p, end);
    e->has_changed = true;
    for (;;) {
        int64_t cnt, len;
        const uint8_t *block_end;
        /* the blocks as w2k_avro_skip reads them: a sized block ends where it says */
        if (w2k_avro_block(arr->sub[0], p, end, &cnt, &block_end) != 0)
            return -1;
        if (cnt == 0)
            return 0;
        const uint8_t *lim = block_end ? block_end : end;
        for (int64_t i = 0; i < cnt; i++) {
            if (w2k_avro_read_long(p, lim, &len) != 0 || len < 0 || len > lim - *p)
                return -1;
            char **nc = realloc(e->changed, (size_t)(e->nchanged + 1) * sizeof *nc);
            if (!nc)
                return -1;
            e->changed = nc;
            if (!(e->changed[e->nchanged] = malloc((size_t)len + 1)))
                return -1;
            memcpy(e->changed[e->nchanged], *p, (size_t)len);
            e->changed[e->nchanged++][len] = '\0';
            *p += len;
        }
        if (block_end && *p != block_end)
            return -1;
    }
}

void w2k_henv_clear(w2k_henv_t *env)
{
    w2k_himage_free(env->before);
    w2k_himage_free(env->after);
    for (int i = 0; i < env->nchanged; i++)
        free(env->changed[i]);
    free(env->changed);
    memset(env, 0, sizeof *env);
}

int w2k_hschemas_decode(w2k_hschemas_t *s, const void *value, size_t len, w2k_henv_t *env,
                        w2k_err_t *err)
{
    memset(env, 0, sizeof *env);
    hsch_t *h = schema_of(s, value, len, &s->mru_value, err);
    if (!h || plan(h, err) != 0)
        return -1;
    const uint8_t *p = (const uint8_t *)value + h->hdrlen, *end = (const uint8_t *)value + len;
    const w2k_avnode_t *r = w2k_avschema_root(h->parsed);
    w2k_buf_t tmp = W2K_BUF_INIT;
    const char *why = NULL;
    for (int i = 0; i < r->n && !why; i++) {
        const w2k_avnode_t *f = r->sub[i];
        if (i == h->f_before || i == h->f_after) {
            if (read_image(f, &p, end, i == h->f_before ? &env->before : &env->after, &tmp) != 0)
                why = i == h->f_before ? "before" : "after";
        } else if (i == h->f_op) {
            int64_t l;
            if (w2k_avro_read_long(&p, end, &l) != 0 || l < 0 || l > end - p ||
                (l > 0 && !hist_op_ok(p, l)))
                why = "op";
            else {
                env->op = l > 0 ? (char)p[0] : 0;
                p += l;
            }
        } else if (i == h->f_source) {
            if (read_source(h, &p, end, env, false) != 0)
                why = "source";
        } else if (i == h->f_changed) {
            if (read_changed(f, &p, end, env) != 0)
                why = "changed";
        } else if (w2k_avro_skip(f, &p, end) != 0) {
            why = r->names[i];
        }
    }
    w2k_buf_free(&tmp);
    if (!why && p != end)
        why = "bytes left after the envelope";
    if (why) {
        w2k_henv_clear(env);
        char what[128];
        snprintf(what, sizeof what, "cannot read field %s", why);
        return bad_msg(err, h, what);
    }
    return 0;
}

int w2k_hschemas_peek(w2k_hschemas_t *s, const void *value, size_t len, bool *after_null,
                      bool *has_toast, int64_t *ts_us, w2k_err_t *err)
{
    /* ts_us NULL: not wanted, stop after `after` */
    hsch_t *h = schema_of(s, value, len, &s->mru_value, err);
    if (!h || plan(h, err) != 0)
        return -1;
    const uint8_t *p = (const uint8_t *)value + h->hdrlen, *end = (const uint8_t *)value + len;
    const w2k_avnode_t *r = w2k_avschema_root(h->parsed);
    *after_null = true;
    *has_toast = false;
    for (int i = 0; i < r->n; i++) {
        const w2k_avnode_t *f = r->sub[i];
        if (i == h->f_after) {
            const w2k_avnode_t *rec = f;
            int64_t idx;
            if (f->type == W2K_AVT_UNION) {
                if (w2k_avro_read_long(&p, end, &idx) != 0 || idx < 0 || idx >= f->n)
                    return bad_msg(err, h, "cannot read field after");
                rec = f->sub[idx];
            }
            if (rec->type == W2K_AVT_NULL)
                continue;
            *after_null = false;
            for (int k = 0; k < rec->n; k++) {
                const w2k_avnode_t *c = rec->sub[k];
                if (c->type == W2K_AVT_UNION) {
                    if (w2k_avro_read_long(&p, end, &idx) != 0 || idx < 0 || idx >= c->n)
                        return bad_msg(err, h, "cannot read field after");
                    c = c->sub[idx];
                }
                if (c->logical == W2K_AVL_UNCHANGED_TOAST)
                    *has_toast = true;
                if (w2k_avro_skip(c, &p, end) != 0)
                    return bad_msg(err, h, "cannot read field after");
            }
        } else if (!ts_us && i > h->f_after) {
            return 0;
        } else if (i == h->f_source) {
            w2k_henv_t e;
            memset(&e, 0, sizeof e);
            if (read_source(h, &p, end, &e, true) != 0)
                return bad_msg(err, h, "cannot read field source");
            *ts_us = e.ts_us;
            return 0;
        } else if (w2k_avro_skip(f, &p, end) != 0) {
            return bad_msg(err, h, "cannot read the envelope");
        }
    }
    if (ts_us)
        *ts_us = 0;
    return 0;
}

/* A key message's record as an image. */
static int key_image(w2k_hschemas_t *s, const void *key, size_t len, w2k_himage_t **out,
                     w2k_err_t *err)
{
    hsch_t *h = schema_of(s, key, len, &s->mru_key, err);
    if (!h)
        return -1;
    const uint8_t *p = (const uint8_t *)key + h->hdrlen, *end = (const uint8_t *)key + len;
    w2k_buf_t tmp = W2K_BUF_INIT;
    int rc = read_image(w2k_avschema_root(h->parsed), &p, end, out, &tmp);
    w2k_buf_free(&tmp);
    if (rc != 0 || !*out || p != end) {
        w2k_himage_free(*out);
        *out = NULL;
        return bad_msg(err, h, "cannot read the key");
    }
    return 0;
}

int w2k_hschemas_key_json(w2k_hschemas_t *s, const void *key, size_t len, w2k_buf_t *out,
                          w2k_err_t *err)
{
    w2k_himage_t *im;
    if (key_image(s, key, len, &im, err) != 0)
        return -1;
    w2k_himage_json(im, out);
    w2k_himage_free(im);
    return 0;
}

/* ---- changes ---- */

static int add_change(w2k_hchange_t **v, int *n, const char *col, const char *oldv,
                      const char *newv)
{
    w2k_hchange_t *nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv)
        return -1;
    *v = nv;
    nv[*n].col = col;
    nv[*n].old_json = oldv ? strdup(oldv) : NULL;
    nv[*n].new_json = newv ? strdup(newv) : NULL;
    (*n)++;
    return 0;
}

int w2k_hchanges(char op, const w2k_himage_t *old, const w2k_himage_t *after,
                 const char *const *changed, int nchanged, w2k_hchange_t **out)
{
    w2k_hchange_t *v = NULL;
    int n = 0, rc = 0;
    *out = NULL;
    if (op == 'd' || !after) {
        for (int i = 0; old && i < old->n && rc == 0; i++)
            if (!old->vals[i] || strcmp(old->vals[i], "null") != 0)
                rc = add_change(&v, &n, old->names[i], old->vals[i], NULL);
    } else if (changed) {
        for (int c = 0; c < nchanged && rc == 0; c++) {
            int j = w2k_himage_find(after, changed[c]);
            int i = w2k_himage_find(old, changed[c]);
            if (j < 0)
                continue;
            rc = add_change(&v, &n, after->names[j], i >= 0 ? old->vals[i] : NULL, after->vals[j]);
        }
    } else {
        for (int j = 0; j < after->n && rc == 0; j++) {
            const char *nv = after->vals[j];
            if (!nv)
                continue; /* unchanged TOAST: not changed */
            if (!old) {
                if (strcmp(nv, "null") != 0 || (op != 'c' && op != 'r'))
                    rc = add_change(&v, &n, after->names[j], NULL, nv);
                continue;
            }
            int i = w2k_himage_find(old, after->names[j]);
            if (i < 0) {
                if (strcmp(nv, "null") != 0) /* a column added since */
                    rc = add_change(&v, &n, after->names[j], NULL, nv);
            } else if (!old->vals[i] || strcmp(old->vals[i], nv) != 0) {
                rc = add_change(&v, &n, after->names[j], old->vals[i], nv);
            }
        }
    }
    if (rc != 0) {
        w2k_hchanges_free(v, n);
        return -1;
    }
    *out = v;
    return n;
}

void w2k_hchanges_free(w2k_hchange_t *ch, int n)
{
    for (int i = 0; i < n; i++) {
        free(ch[i].old_json);
        free(ch[i].new_json);
    }
    free(ch);
}

/* ---- history of one key ---- */

struct w2k_hist_s {
    w2k_hschemas_t *s;
    int64_t since_us, until_us;
    w2k_hevent_t *ev;
    int n, cap;
    w2k_himage_t *prev; /* the row as last seen; NULL: deleted, or unknown (!known) */
    bool known;
    bool last_was_delete; /* the previous message was a delete: its tombstone follows */
    int64_t last_delete_us;
};

w2k_hist_t *w2k_hist_new(w2k_hschemas_t *s, int64_t since_us, int64_t until_us)
{
    w2k_hist_t *h = calloc(1, sizeof *h);
    if (h) {
        h->s = s;
        h->since_us = since_us;
        h->until_us = until_us;
    }
    return h;
}

static void event_free(w2k_hevent_t *e)
{
    free(e->key_json);
    w2k_hchanges_free(e->changes, e->nchanges);
    w2k_himage_free(e->after);
}

void w2k_hist_destroy(w2k_hist_t *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n; i++)
        event_free(&h->ev[i]);
    free(h->ev);
    w2k_himage_free(h->prev);
    free(h);
}

static int oom(w2k_err_t *err)
{
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
    return -1;
}

int w2k_hist_add(w2k_hist_t *h, const w2k_hmsg_t *m, w2k_err_t *err)
{
    w2k_hevent_t e;
    w2k_henv_t env;
    memset(&e, 0, sizeof e);
    memset(&env, 0, sizeof env);
    e.partition = m->partition;
    e.offset = m->offset;
    const w2k_himage_t *old;
    w2k_himage_t *filled = NULL;
    if (!m->value) {
        if (h->last_was_delete) { /* the tombstone of the delete just seen */
            h->last_was_delete = false;
            return 0;
        }
        e.op = 'd';
        e.tombstone = true;
        e.ts_us = m->ts_ms * 1000;
        old = h->known ? h->prev : NULL;
    } else {
        if (w2k_hschemas_decode(h->s, m->value, m->valuelen, &env, err) != 0)
            return -1;
        e.op = env.op ? env.op : '?';
        e.has_txid = env.has_txid;
        e.txid = env.txid;
        e.has_lsn = env.has_lsn;
        e.lsn = env.lsn;
        e.has_commit_lsn = env.has_commit_lsn;
        e.commit_lsn = env.commit_lsn;
        e.snapshot = env.snapshot;
        e.ts_us = env.ts_us ? env.ts_us : m->ts_ms * 1000;
        old = env.before ? env.before : h->known ? h->prev : NULL;
        if (env.after) {
            if (!(filled = w2k_himage_copy(env.after)) || w2k_himage_fill(filled, old) != 0) {
                w2k_himage_free(filled);
                w2k_henv_clear(&env);
                return oom(err);
            }
        }
    }
    h->last_was_delete = m->value && !env.after;
    int nc = w2k_hchanges(e.op, old, m->value ? env.after : NULL,
                          env.has_changed ? (const char *const *)env.changed : NULL, env.nchanged,
                          &e.changes);
    w2k_buf_t kj = W2K_BUF_INIT;
    if (nc < 0 || w2k_hschemas_key_json(h->s, m->key, m->keylen, &kj, err) != 0) {
        if (nc > 0)
            w2k_hchanges_free(e.changes, nc);
        w2k_himage_free(filled);
        w2k_henv_clear(&env);
        w2k_buf_free(&kj);
        return nc < 0 ? oom(err) : -1;
    }
    e.nchanges = nc;
    e.key_json = kj.data;
    /* the row as now known */
    w2k_himage_free(h->prev);
    h->prev = filled ? w2k_himage_copy(filled) : NULL;
    h->known = true;
    e.after = filled;
    w2k_henv_clear(&env);
    if (e.ts_us < h->since_us || e.ts_us > h->until_us) {
        event_free(&e);
        return 0;
    }
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 16;
        w2k_hevent_t *nv = realloc(h->ev, (size_t)cap * sizeof *nv);
        if (!nv) {
            event_free(&e);
            return oom(err);
        }
        h->ev = nv;
        h->cap = cap;
    }
    h->ev[h->n++] = e;
    return 0;
}

static int cmp_event(const void *a, const void *b)
{
    const w2k_hevent_t *x = a, *y = b;
    if (x->ts_us != y->ts_us)
        return x->ts_us < y->ts_us ? -1 : 1;
    if (x->has_commit_lsn && y->has_commit_lsn && x->commit_lsn != y->commit_lsn)
        return x->commit_lsn < y->commit_lsn ? -1 : 1;
    if (x->has_lsn && y->has_lsn && x->lsn != y->lsn)
        return x->lsn < y->lsn ? -1 : 1;
    if (x->partition != y->partition)
        return x->partition < y->partition ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

void w2k_hist_sort(w2k_hist_t *h)
{
    if (h->n > 1)
        qsort(h->ev, (size_t)h->n, sizeof *h->ev, cmp_event);
}

int w2k_hist_count(const w2k_hist_t *h)
{
    return h->n;
}

const w2k_hevent_t *w2k_hist_event(const w2k_hist_t *h, int i)
{
    return &h->ev[i];
}

/* ---- formatting ---- */

void w2k_hist_time(int64_t us, bool human, w2k_buf_t *out)
{
    if (us < INT64_MIN + 1000000)
        us = INT64_MIN + 1000000;
    int64_t frac = ((us % 1000000) + 1000000) % 1000000;
    size_t start = out->len;
    w2k_fmt_timestamp(us - frac, false, out);
    if (!human && out->data) {
        char *sp = memchr(out->data + start, ' ', out->len - start);
        if (sp)
            *sp = 'T';
    }
    char f[9] = ".000000Z";
    for (int i = 6; i >= 1; i--, frac /= 10)
        f[i] = (char)('0' + frac % 10);
    w2k_buf_append(out, f, human ? 7 : 8);
}

void w2k_hist_lsn(uint64_t lsn, w2k_buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char tmp[20];
    int n = 0;
    for (int half = 0; half < 2; half++) {
        uint32_t v = half == 0 ? (uint32_t)(lsn >> 32) : (uint32_t)lsn;
        int start = n;
        do {
            tmp[n++] = hex[v & 15];
            v >>= 4;
        } while (v);
        for (int i = start, j = n - 1; i < j; i++, j--) {
            char t = tmp[i];
            tmp[i] = tmp[j];
            tmp[j] = t;
        }
        if (half == 0)
            tmp[n++] = '/';
    }
    w2k_buf_append(out, tmp, (size_t)n);
}

static const char *op_name(char op, bool tombstone)
{
    if (tombstone)
        return "tombstone";
    switch (op) {
    case 'c':
        return "insert";
    case 'u':
        return "update";
    case 'd':
        return "delete";
    case 'r':
        return "read";
    case 't':
        return "truncate";
    default:
        return "?";
    }
}

static void put_i64(w2k_buf_t *b, int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[n++] = '-';
    if (w2k_buf_reserve(b, (size_t)n + 1) != 0)
        return;
    while (n > 0)
        b->data[b->len++] = tmp[--n];
    b->data[b->len] = '\0';
}

static void put_opt_lsn(w2k_buf_t *b, bool has, uint64_t lsn)
{
    if (!has) {
        w2k_buf_puts(b, "null");
        return;
    }
    w2k_buf_putc(b, '"');
    w2k_hist_lsn(lsn, b);
    w2k_buf_putc(b, '"');
}

/* The source fields shared by history events and state rows. */
static void put_meta(w2k_buf_t *b, char op, bool tombstone, int64_t ts_us, bool has_lsn,
                     uint64_t lsn, bool has_commit_lsn, uint64_t commit_lsn, bool has_txid,
                     int64_t txid, int32_t partition, int64_t offset)
{
    char o[] = "\"op\":\"?\"";
    o[6] = op ? op : '?';
    w2k_buf_puts(b, o);
    if (tombstone)
        w2k_buf_puts(b, ",\"tombstone\":true");
    w2k_buf_puts(b, ",\"commit_time\":\"");
    w2k_hist_time(ts_us, false, b);
    w2k_buf_puts(b, "\",\"ts_us\":");
    put_i64(b, ts_us);
    w2k_buf_puts(b, ",\"lsn\":");
    put_opt_lsn(b, has_lsn, lsn);
    w2k_buf_puts(b, ",\"commit_lsn\":");
    put_opt_lsn(b, has_commit_lsn, commit_lsn);
    w2k_buf_puts(b, ",\"txid\":");
    if (has_txid)
        put_i64(b, txid);
    else
        w2k_buf_puts(b, "null");
    w2k_buf_puts(b, ",\"partition\":");
    put_i64(b, partition);
    w2k_buf_puts(b, ",\"offset\":");
    put_i64(b, offset);
}

void w2k_hist_write_json(const w2k_hist_t *h, FILE *out)
{
    w2k_buf_t b = W2K_BUF_INIT;
    for (int i = 0; i < h->n; i++) {
        const w2k_hevent_t *e = &h->ev[i];
        w2k_buf_reset(&b);
        w2k_buf_putc(&b, '{');
        put_meta(&b, e->op, e->tombstone, e->ts_us, e->has_lsn, e->lsn, e->has_commit_lsn,
                 e->commit_lsn, e->has_txid, e->txid, e->partition, e->offset);
        w2k_buf_printf(&b, ",\"snapshot\":%s,\"key\":%s,\"changes\":{",
                       e->snapshot ? "true" : "false", e->key_json);
        for (int c = 0; c < e->nchanges; c++) {
            const w2k_hchange_t *ch = &e->changes[c];
            w2k_buf_puts(&b, c ? "," : "");
            w2k_buf_put_json_string(&b, ch->col, strlen(ch->col));
            w2k_buf_puts(&b, ":{");
            if (ch->old_json)
                w2k_buf_printf(&b, "\"old\":%s", ch->old_json);
            if (ch->new_json)
                w2k_buf_printf(&b, "%s\"new\":%s", ch->old_json ? "," : "", ch->new_json);
            w2k_buf_putc(&b, '}');
        }
        w2k_buf_puts(&b, "},\"after\":");
        if (e->after)
            w2k_himage_json(e->after, &b);
        else
            w2k_buf_puts(&b, "null");
        w2k_buf_puts(&b, "}\n");
        if (b.data)
            fputs(b.data, out);
    }
    w2k_buf_free(&b);
}

/* ---- aligned tables ---- */

#define CELL_MAX 48

/* Display width of UTF-8 text (code points). */
static size_t width_of(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

/* A value for a table cell: JSON strings without their quotes, null as NULL, at most
 * CELL_MAX characters. */
static char *cell_text(const char *json, const char *unknown)
{
    w2k_buf_t b = W2K_BUF_INIT;
    if (!json)
        w2k_buf_puts(&b, unknown);
    else if (strcmp(json, "null") == 0)
        w2k_buf_puts(&b, "NULL");
    else if (strcmp(json, W2K_AVRO_TOAST_JSON) == 0)
        w2k_buf_puts(&b, "(unchanged TOAST)");
    else if (json[0] == '"' && json[1])
        w2k_buf_append(&b, json + 1, strlen(json) - 2);
    else
        w2k_buf_puts(&b, json);
    if (!b.data)
        return strdup("");
    for (char *p = b.data; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    size_t w = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (((unsigned char)b.data[i] & 0xc0) != 0x80 && ++w > CELL_MAX - 1) {
            b.len = i;
            w2k_buf_puts(&b, "\xe2\x80\xa6"); /* … */
            break;
        }
    }
    return b.data;
}

typedef struct table_s {
    int ncols;
    char **cells; /* rows × ncols */
    int nrows, cap;
} table_t;

static void table_add(table_t *t, char **row)
{
    if (t->nrows == t->cap) {
        int cap = t->cap ? t->cap * 2 : 64;
        char **nc = realloc(t->cells, (size_t)cap * (size_t)t->ncols * sizeof *nc);
        if (!nc) {
            for (int i = 0; i < t->ncols; i++)
                free(row[i]);
            return;
        }
        t->cells = nc;
        t->cap = cap;
    }
    memcpy(t->cells + (size_t)t->nrows * (size_t)t->ncols, row, (size_t)t->ncols * sizeof *row);
    t->nrows++;
}

static void table_print(table_t *t, FILE *out)
{
    size_t *w = calloc((size_t)t->ncols, sizeof *w);
    if (!w)
        return;
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols; c++) {
            size_t x = width_of(t->cells[(size_t)r * (size_t)t->ncols + (size_t)c]);
            if (x > w[c])
                w[c] = x;
        }
    for (int r = 0; r < t->nrows; r++) {
        w2k_buf_t line = W2K_BUF_INIT;
        for (int c = 0; c < t->ncols; c++) {
            const char *s = t->cells[(size_t)r * (size_t)t->ncols + (size_t)c];
            w2k_buf_puts(&line, s);
            if (c + 1 < t->ncols)
                for (size_t k = width_of(s); k < w[c] + 2; k++)
                    w2k_buf_putc(&line, ' ');
        }
        while (line.len && line.data[line.len - 1] == ' ')
            line.data[--line.len] = '\0';
        if (line.data)
            fprintf(out, "%s\n", line.data);
        w2k_buf_free(&line);
    }
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(w);
}

static char *str_of(w2k_buf_t *b)
{
    char *s = b->data ? b->data : strdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void w2k_hist_write_table(const w2k_hist_t *h, FILE *out)
{
    if (h->n == 0) {
        fputs("(no changes)\n", out);
        return;
    }
    table_t t = {7, NULL, 0, 0};
    const char *head[] = {"COMMIT TIME (UTC)", "OP", "LSN", "TXID", "COLUMN", "OLD", "NEW"};
    char *row[7];
    for (int i = 0; i < 7; i++)
        row[i] = strdup(head[i]);
    table_add(&t, row);
    for (int i = 0; i < h->n; i++) {
        const w2k_hevent_t *e = &h->ev[i];
        int lines = e->nchanges ? e->nchanges : 1;
        for (int c = 0; c < lines; c++) {
            w2k_buf_t b = W2K_BUF_INIT;
            if (c == 0) {
                w2k_hist_time(e->ts_us, true, &b);
                row[0] = str_of(&b);
                row[1] = strdup(op_name(e->op, e->tombstone));
                if (e->has_lsn)
                    w2k_hist_lsn(e->lsn, &b);
                row[2] = str_of(&b);
                if (e->has_txid)
                    w2k_buf_printf(&b, "%lld", (long long)e->txid);
                row[3] = str_of(&b);
            } else {
                for (int k = 0; k < 4; k++)
                    row[k] = strdup("");
            }
            if (e->nchanges) {
                const w2k_hchange_t *ch = &e->changes[c];
                row[4] = strdup(ch->col);
                row[5] = cell_text(ch->old_json, e->op == 'c' || e->op == 'r' ? "" : "?");
                row[6] = cell_text(ch->new_json, "");
            } else {
                row[4] = strdup("");
                row[5] = strdup("");
                row[6] = strdup("");
            }
            table_add(&t, row);
        }
    }
    table_print(&t, out);
}

/* ---- fold ---- */

typedef struct fentry_s {
    uint8_t *key; /* the whole key message */
    uint32_t keylen, hdrlen;
    uint32_t hash;
    uint8_t *val; /* the last value message, or NULL */
    size_t vlen, vcap;
    bool present;   /* the row exists */
    bool tombstone; /* the last message was a tombstone */
    int32_t partition;
    int64_t offset;
    int64_t ts_ms;
    w2k_himage_t *fill; /* the previous image, for unchanged TOAST values of val */
} fentry_t;

struct w2k_hfold_s {
    w2k_hschemas_t *s;
    int64_t at_us;
    fentry_t *ents;
    size_t n, cap;
    struct fslot_s {
        uint32_t hash;
        uint32_t idx; /* entry index + 1; 0 = free */
    } * slots;
    size_t nslots;
};

w2k_hfold_t *w2k_hfold_new(w2k_hschemas_t *s, int64_t at_us)
{
    w2k_hfold_t *f = calloc(1, sizeof *f);
    if (f) {
        f->s = s;
        f->at_us = at_us;
    }
    return f;
}

void w2k_hfold_destroy(w2k_hfold_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->ents[i].key);
        free(f->ents[i].val);
        w2k_himage_free(f->ents[i].fill);
    }
    free(f->ents);
    free(f->slots);
    free(f);
}

size_t w2k_hfold_keys(const w2k_hfold_t *f)
{
    return f->n;
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    /* FNV-1a, then murmur3's finalizer: FNV's low bits (the slot) depend only on the
     * inputs' low bits, which clusters short keys such as small integers */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static int grow_slots(w2k_hfold_t *f)
{
    size_t ns = f->nslots ? f->nslots * 2 : 1024;
    struct fslot_s *sl = calloc(ns, sizeof *sl);
    if (!sl)
        return -1;
    for (size_t i = 0; i < f->n; i++) {
        size_t k = f->ents[i].hash & (ns - 1);
        while (sl[k].idx)
            k = (k + 1) & (ns - 1);
        sl[k].hash = f->ents[i].hash;
        sl[k].idx = (uint32_t)i + 1;
    }
    free(f->slots);
    f->slots = sl;
    f->nslots = ns;
    return 0;
}

/* The entry of a key (compared by its Avro body, after the header), created if new. */
/* The entry of m's key when the fold has one, else NULL. */
static fentry_t *find_entry(const w2k_hfold_t *f, const w2k_hmsg_t *m)
{
    if (!f->nslots)
        return NULL;
    size_t hl = w2k_hdr_len(m->key, m->keylen);
    const uint8_t *body = (const uint8_t *)m->key + hl;
    size_t blen = m->keylen - hl;
    uint32_t h = hash_bytes(body, blen);
    for (size_t k = h & (f->nslots - 1); f->slots[k].idx; k = (k + 1) & (f->nslots - 1)) {
        const fentry_t *e = &f->ents[f->slots[k].idx - 1];
        if (f->slots[k].hash == h && e->keylen - e->hdrlen == blen &&
            memcmp(e->key + e->hdrlen, body, blen) == 0)
            return (fentry_t *)e;
    }
    return NULL;
}

static fentry_t *entry_of(w2k_hfold_t *f, const w2k_hmsg_t *m)
{
    size_t hl = w2k_hdr_len(m->key, m->keylen);
    const uint8_t *body = (const uint8_t *)m->key + hl;
    size_t blen = m->keylen - hl;
    uint32_t h = hash_bytes(body, blen);
    if ((f->n + 1) * 2 > f->nslots && grow_slots(f) != 0)
        return NULL;
    size_t k = h & (f->nslots - 1);
    while (f->slots[k].idx) {
        if (f->slots[k].hash == h) {
            fentry_t *e = &f->ents[f->slots[k].idx - 1];
            if (e->keylen - e->hdrlen == blen && memcmp(e->key + e->hdrlen, body, blen) == 0)
                return e;
        }
        k = (k + 1) & (f->nslots - 1);
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        fentry_t *ne = realloc(f->ents, cap * sizeof *ne);
        if (!ne)
            return NULL;
        f->ents = ne;
        f->cap = cap;
    }
    fentry_t *e = &f->ents[f->n];
    memset(e, 0, sizeof *e);
    if (!(e->key = malloc(m->keylen ? m->keylen : 1)))
        return NULL;
    memcpy(e->key, m->key, m->keylen);
    e->keylen = (uint32_t)m->keylen;
    e->hdrlen = (uint32_t)hl;
    e->hash = h;
    f->slots[k].hash = h;
    f->slots[k].idx = (uint32_t)++f->n;
    return e;
}

/* The image the entry's value holds, unchanged TOAST values filled in. */
static int entry_image(w2k_hfold_t *f, const fentry_t *e, w2k_henv_t *env, w2k_err_t *err)
{
    if (w2k_hschemas_decode(f->s, e->val, e->vlen, env, err) != 0)
        return -1;
    if (w2k_himage_fill(env->after, e->fill) != 0) {
        w2k_henv_clear(env);
        return oom(err);
    }
    return 0;
}

int w2k_hfold_add(w2k_hfold_t *f, const w2k_hmsg_t *m, w2k_err_t *err)
{
    int64_t at_ms = f->at_us >= 0 ? f->at_us / 1000 : -((-f->at_us + 999) / 1000);
    if (m->ts_ms > at_ms)
        return 0;
    if (!m->key)
        return 0;
    /* a message that is not readable (not ours) is refused before it touches the fold:
     * its value first, then a key not seen before */
    bool after_null = false, has_toast = false;
    int64_t ts_us = 0;
    /* the commit time in microseconds matters only in at_us's own millisecond */
    if (m->value && w2k_hschemas_peek(f->s, m->value, m->valuelen, &after_null, &has_toast,
                                      m->ts_ms == at_ms ? &ts_us : NULL, err) != 0)
        return -1;
    if (ts_us > f->at_us)
        return 0;
    if (!find_entry(f, m)) {
        w2k_buf_t kj = W2K_BUF_INIT;
        int krc = w2k_hschemas_key_json(f->s, m->key, m->keylen, &kj, err);
        w2k_buf_free(&kj);
        if (krc != 0)
            return -1;
    }
    fentry_t *e = entry_of(f, m);
    if (!e)
        return oom(err);
    if (!m->value) {
        /* a tombstone at the boundary millisecond belongs to the delete before it: when
         * that delete was after at_us (not taken), so is the tombstone */
        if (m->ts_ms == at_ms && e->present)
            return 0;
        e->present = false;
        e->tombstone = true;
        e->partition = m->partition;
        e->offset = m->offset;
        e->ts_ms = m->ts_ms;
        w2k_himage_free(e->fill);
        e->fill = NULL;
        return 0;
    }
    w2k_himage_t *fill = NULL;
    if (has_toast && e->present && e->val) {
        w2k_henv_t env;
        if (entry_image(f, e, &env, err) != 0)
            return -1;
        fill = env.after;
        env.after = NULL;
        w2k_henv_clear(&env);
    }
    w2k_himage_free(e->fill);
    e->fill = fill;
    if (m->valuelen > e->vcap) {
        uint8_t *nv = realloc(e->val, m->valuelen);
        if (!nv)
            return oom(err);
        e->val = nv;
        e->vcap = m->valuelen;
    }
    memcpy(e->val, m->value, m->valuelen);
    e->vlen = m->valuelen;
    e->present = !after_null;
    e->tombstone = false;
    e->partition = m->partition;
    e->offset = m->offset;
    e->ts_ms = m->ts_ms;
    return 0;
}

/* Compare two JSON values of key fields as text. */
static int cmp_json_value(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

#define SORT_NUMS 8

/* A fold entry with its key decoded for sorting: integers compare numerically. */
typedef struct sortrow_s {
    size_t idx;
    w2k_himage_t *key;
    int64_t num[SORT_NUMS];
    uint8_t isnum[SORT_NUMS];
} sortrow_t;

static int cmp_rows(const void *pa, const void *pb)
{
    const sortrow_t *a = pa, *b = pb;
    int n = a->key->n < b->key->n ? a->key->n : b->key->n;
    for (int i = 0; i < n; i++) {
        int c;
        if (i < SORT_NUMS && a->isnum[i] && b->isnum[i])
            c = a->num[i] < b->num[i] ? -1 : a->num[i] > b->num[i];
        else
            c = cmp_json_value(a->key->vals[i], b->key->vals[i]);
        if (c)
            return c;
    }
    return a->key->n - b->key->n;
}

static void free_sorted(sortrow_t *v, int n)
{
    for (int i = 0; v && i < n; i++)
        w2k_himage_free(v[i].key);
    free(v);
}

/* The entries to output (present ones, or all with with_absent), sorted by key. */
static int sorted_entries(w2k_hfold_t *f, bool with_absent, sortrow_t **out, w2k_err_t *err)
{
    sortrow_t *v = calloc(f->n ? f->n : 1, sizeof *v);
    int n = 0;
    *out = NULL;
    if (!v)
        return oom(err);
    for (size_t i = 0; i < f->n; i++) {
        fentry_t *e = &f->ents[i];
        if (!e->present && !with_absent)
            continue;
        sortrow_t *r = &v[n];
        r->idx = i;
        if (key_image(f->s, e->key, e->keylen, &r->key, err) != 0) {
            free_sorted(v, n);
            return -1;
        }
        n++;
        for (int k = 0; k < r->key->n && k < SORT_NUMS; k++) {
            const char *x = r->key->vals[k];
            char *endp;
            if (x && (x[0] == '-' || (x[0] >= '0' && x[0] <= '9'))) {
                long long num = strtoll(x, &endp, 10);
                r->isnum[k] = *endp == '\0';
                r->num[k] = num;
            }
        }
    }
    qsort(v, (size_t)n, sizeof *v, cmp_rows);
    *out = v;
    return n;
}

int w2k_hfold_rows(w2k_hfold_t *f, bool with_absent, w2k_hrow_t **out, w2k_err_t *err)
{
    sortrow_t *v;
    int n = sorted_entries(f, with_absent, &v, err);
    *out = NULL;
    if (n < 0)
        return -1;
    w2k_hrow_t *rows = calloc((size_t)n + 1, sizeof *rows);
    if (!rows) {
        free_sorted(v, n);
        return oom(err);
    }
    for (int i = 0; i < n; i++) {
        fentry_t *e = &f->ents[v[i].idx];
        w2k_hrow_t *r = &rows[i];
        w2k_buf_t kj = W2K_BUF_INIT;
        w2k_himage_json(v[i].key, &kj);
        r->key_json = str_of(&kj);
        r->partition = e->partition;
        r->offset = e->offset;
        r->ts_us = e->ts_ms * 1000;
        r->op = 'd';
        if (e->val && !e->tombstone) {
            w2k_henv_t env;
            if (entry_image(f, e, &env, err) != 0) {
                w2k_hrows_free(rows, i + 1);
                free_sorted(v, n);
                return -1;
            }
            r->op = env.op;
            r->has_txid = env.has_txid;
            r->txid = env.txid;
            r->has_lsn = env.has_lsn;
            r->lsn = env.lsn;
            r->has_commit_lsn = env.has_commit_lsn;
            r->commit_lsn = env.commit_lsn;
            r->ts_us = env.ts_us;
            if (e->present) {
                r->row = env.after;
                env.after = NULL;
            }
            w2k_henv_clear(&env);
        }
    }
    free_sorted(v, n);
    *out = rows;
    return n;
}

/* An envelope's `after` rendered straight to JSON (no image), its source fields in meta. */
static int env_after_json(w2k_hschemas_t *s, const void *value, size_t len, w2k_buf_t *row,
                          w2k_henv_t *meta, w2k_err_t *err)
{
    memset(meta, 0, sizeof *meta);
    hsch_t *h = schema_of(s, value, len, &s->mru_value, err);
    if (!h || plan(h, err) != 0)
        return -1;
    const uint8_t *p = (const uint8_t *)value + h->hdrlen, *end = (const uint8_t *)value + len;
    const w2k_avnode_t *r = w2k_avschema_root(h->parsed);
    for (int i = 0; i < r->n; i++) {
        const w2k_avnode_t *fn = r->sub[i];
        int rc;
        if (i == h->f_after) {
            rc = w2k_avro_json(fn, &p, end, row);
        } else if (i == h->f_op) {
            int64_t l;
            rc = w2k_avro_read_long(&p, end, &l) != 0 || l < 1 || l > end - p || !hist_op_ok(p, l)
                     ? -1
                     : 0;
            if (rc == 0) {
                meta->op = (char)p[0];
                p += l;
            }
        } else if (i == h->f_source) {
            rc = read_source(h, &p, end, meta, false);
        } else {
            rc = w2k_avro_skip(fn, &p, end);
        }
        if (rc != 0)
            return bad_msg(err, h, "cannot read the envelope");
    }
    return 0;
}

int w2k_hfold_write_json(w2k_hfold_t *f, bool with_absent, FILE *out, w2k_err_t *err)
{
    sortrow_t *v;
    int n = sorted_entries(f, with_absent, &v, err);
    if (n < 0)
        return -1;
    w2k_buf_t line = W2K_BUF_INIT;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        fentry_t *e = &f->ents[v[i].idx];
        w2k_henv_t meta;
        memset(&meta, 0, sizeof meta);
        meta.op = 'd';
        meta.ts_us = e->ts_ms * 1000;
        w2k_buf_reset(&line);
        w2k_buf_puts(&line, "{\"key\":");
        w2k_himage_json(v[i].key, &line);
        w2k_buf_puts(&line, ",\"row\":");
        if (!e->val || e->tombstone) {
            w2k_buf_puts(&line, "null");
        } else if (!e->fill) {
            rc = env_after_json(f->s, e->val, e->vlen, &line, &meta, err);
        } else {
            w2k_henv_t env;
            if ((rc = entry_image(f, e, &env, err)) == 0) {
                if (env.after)
                    w2k_himage_json(env.after, &line);
                else
                    w2k_buf_puts(&line, "null");
                meta.op = env.op;
                meta.has_txid = env.has_txid;
                meta.txid = env.txid;
                meta.has_lsn = env.has_lsn;
                meta.lsn = env.lsn;
                meta.has_commit_lsn = env.has_commit_lsn;
                meta.commit_lsn = env.commit_lsn;
                meta.ts_us = env.ts_us;
                w2k_henv_clear(&env);
            }
        }
        if (rc != 0)
            break;
        w2k_buf_putc(&line, ',');
        put_meta(&line, meta.op, false, meta.ts_us, meta.has_lsn, meta.lsn, meta.has_commit_lsn,
                 meta.commit_lsn, meta.has_txid, meta.txid, e->partition, e->offset);
        w2k_buf_puts(&line, "}\n");
        if (line.oom) {
            rc = oom(err);
            break;
        }
        fwrite(line.data, 1, line.len, out);
    }
    w2k_buf_free(&line);
    free_sorted(v, n);
    return rc;
}

void w2k_hrows_free(w2k_hrow_t *rows, int n)
{
    for (int i = 0; rows && i < n; i++) {
        free(rows[i].key_json);
        w2k_himage_free(rows[i].row);
    }
    free(rows);
}

void w2k_hrows_write_json(const w2k_hrow_t *rows, int n, FILE *out)
{
    w2k_buf_t b = W2K_BUF_INIT;
    for (int i = 0; i < n; i++) {
        const w2k_hrow_t *r = &rows[i];
        w2k_buf_reset(&b);
        w2k_buf_printf(&b, "{\"key\":%s,\"row\":", r->key_json);
        if (r->row)
            w2k_himage_json(r->row, &b);
        else
            w2k_buf_puts(&b, "null");
        if (r->op) {
            w2k_buf_putc(&b, ',');
            put_meta(&b, r->op, false, r->ts_us, r->has_lsn, r->lsn, r->has_commit_lsn,
                     r->commit_lsn, r->has_txid, r->txid, r->partition, r->offset);
        }
        w2k_buf_puts(&b, "}\n");
        if (b.data)
            fputs(b.data, out);
    }
    w2k_buf_free(&b);
}

void w2k_hrows_write_table(const w2k_hrow_t *rows, int n, FILE *out)
{
    /* columns: every field name, in the order first met */
    const char **cols = NULL;
    int ncols = 0;
    for (int i = 0; i < n; i++) {
        const w2k_himage_t *im = rows[i].row;
        for (int k = 0; im && k < im->n; k++) {
            bool seen = false;
            for (int c = 0; c < ncols && !seen; c++)
                seen = strcmp(cols[c], im->names[k]) == 0;
            if (seen)
                continue;
            const char **nc = realloc(cols, (size_t)(ncols + 1) * sizeof *nc);
            if (!nc)
                break;
            cols = nc;
            cols[ncols++] = im->names[k];
        }
    }
    table_t t = {ncols + 1, NULL, 0, 0};
    char **row = calloc((size_t)ncols + 1, sizeof *row);
    if (!row) {
        free(cols);
        return;
    }
    for (int c = 0; c < ncols; c++)
        row[c] = strdup(cols[c]);
    row[ncols] = strdup("LAST CHANGE (UTC)");
    table_add(&t, row);
    for (int i = 0; i < n; i++) {
        const w2k_himage_t *im = rows[i].row;
        if (!im)
            continue;
        for (int c = 0; c < ncols; c++) {
            int k = w2k_himage_find(im, cols[c]);
            row[c] = k < 0 ? strdup("") : cell_text(im->vals[k], "(unchanged TOAST)");
        }
        w2k_buf_t b = W2K_BUF_INIT;
        w2k_hist_time(rows[i].ts_us, true, &b);
        w2k_buf_printf(&b, " %s", op_name(rows[i].op, false));
        row[ncols] = str_of(&b);
        table_add(&t, row);
    }
    table_print(&t, out);
    free(row);
    free(cols);
}
