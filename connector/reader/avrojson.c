/* avrojson.c — Avro schemas from their JSON text (read with json.c; logical types kept)
 * and Avro binary → JSON in PostgreSQL's text forms, for reading wal2kafka's topics
 * back. */
#include "avrojson.h"
#include "arena.h"
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

/* ---- schemas ---- */

typedef struct named_s {
    const char *fullname;
    w2k_avnode_t *node;
    struct named_s *next;
} named_t;

struct w2k_avschema_s {
    w2k_arena_t arena;
    w2k_avnode_t *root;
    named_t *named;
};

typedef struct sp_s {
    w2k_avschema_t *s;
    const char *why;
    char what[160];
} sp_t;

static const struct {
    const char *name;
    w2k_avt_t t;
} primitives[] = {{"null", W2K_AVT_NULL},   {"boolean", W2K_AVT_BOOLEAN},
                  {"int", W2K_AVT_INT},     {"long", W2K_AVT_LONG},
                  {"float", W2K_AVT_FLOAT}, {"double", W2K_AVT_DOUBLE},
                  {"bytes", W2K_AVT_BYTES}, {"string", W2K_AVT_STRING}};

static w2k_avnode_t *new_node(sp_t *sp, w2k_avt_t t)
{
    w2k_avnode_t *n = w2k_arena_alloc(&sp->s->arena, sizeof *n);
    if (!n) {
        sp->why = "out of memory";
        return NULL;
    }
    n->type = t;
    return n;
}

static w2k_avnode_t *lookup(sp_t *sp, const char *fullname)
{
    for (named_t *x = sp->s->named; x; x = x->next)
        if (strcmp(x->fullname, fullname) == 0)
            return x->node;
    return NULL;
}

static const char *full_name(sp_t *sp, const char *name, const char *ns)
{
    if (strchr(name, '.') || !ns || !*ns)
        return name;
    size_t nl = strlen(ns), ml = strlen(name);
    char *f = w2k_arena_alloc(&sp->s->arena, nl + ml + 2);
    if (!f)
        return NULL;
    memcpy(f, ns, nl);
    f[nl] = '.';
    memcpy(f + nl + 1, name, ml + 1);
    return f;
}

/* The namespace part of a full name ("" for none), in the arena. */
static const char *ns_of(sp_t *sp, const char *fullname)
{
    const char *dot = strrchr(fullname, '.');
    return dot ? w2k_arena_strndup(&sp->s->arena, fullname, (size_t)(dot - fullname)) : "";
}

static int define(sp_t *sp, const char *fullname, w2k_avnode_t *n)
{
    if (lookup(sp, fullname)) {
        snprintf(sp->what, sizeof sp->what, "type %s defined twice", fullname);
        return -1;
    }
    named_t *x = w2k_arena_alloc(&sp->s->arena, sizeof *x);
    if (!x) {
        sp->why = "out of memory";
        return -1;
    }
    x->fullname = fullname;
    x->node = n;
    x->next = sp->s->named;
    sp->s->named = x;
    n->fullname = fullname;
    return 0;
}

static w2k_avnode_t *parse_type(sp_t *sp, const w2k_json_t *j, const char *ns, int depth);

static w2k_avnode_t *parse_name_ref(sp_t *sp, const char *name, const char *ns)
{
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(name, primitives[i].name) == 0)
            return new_node(sp, primitives[i].t);
    const char *f = full_name(sp, name, ns);
    w2k_avnode_t *n = f ? lookup(sp, f) : NULL;
    if (!n)
        n = lookup(sp, name);
    if (!n)
        snprintf(sp->what, sizeof sp->what, "unknown type \"%.100s\"", name);
    return n;
}

/* The logical type of a primitive or fixed, when valid for it (invalid ones are ignored,
 * as the specification says). */
static void apply_logical(w2k_avnode_t *n, const w2k_json_t *j)
{
    const char *lt = w2k_json_get_str(j, "logicalType");
    if (!lt)
        return;
    static const struct {
        const char *name;
        w2k_avt_t t;
        w2k_avl_t l;
    } map[] = {{"date", W2K_AVT_INT, W2K_AVL_DATE},
               {"time-millis", W2K_AVT_INT, W2K_AVL_TIME_MILLIS},
               {"time-micros", W2K_AVT_LONG, W2K_AVL_TIME_MICROS},
               {"timestamp-millis", W2K_AVT_LONG, W2K_AVL_TIMESTAMP_MILLIS},
               {"timestamp-micros", W2K_AVT_LONG, W2K_AVL_TIMESTAMP_MICROS},
               {"local-timestamp-millis", W2K_AVT_LONG, W2K_AVL_LOCAL_TIMESTAMP_MILLIS},
               {"local-timestamp-micros", W2K_AVT_LONG, W2K_AVL_LOCAL_TIMESTAMP_MICROS},
               {"uuid", W2K_AVT_STRING, W2K_AVL_UUID}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(lt, map[i].name) == 0 && n->type == map[i].t)
            n->logical = map[i].l;
    if (strcmp(lt, "decimal") == 0 && (n->type == W2K_AVT_BYTES || n->type == W2K_AVT_FIXED)) {
        const w2k_json_t *p = w2k_json_get(j, "precision"), *s = w2k_json_get(j, "scale");
        if (!p || p->type != W2K_JSON_NUMBER || !p->is_int || p->integer < 1 || p->integer > 100000)
            return;
        int64_t scale = 0;
        if (s && (s->type != W2K_JSON_NUMBER || !s->is_int))
            return;
        if (s)
            scale = s->integer;
        if (scale < 0 || scale > p->integer)
            return;
        n->logical = W2K_AVL_DECIMAL;
        n->precision = (int)p->integer;
        n->scale = (int)scale;
    }
}

static w2k_avnode_t *parse_record(sp_t *sp, const w2k_json_t *j, const char *ns, int depth)
{
    const char *name = w2k_json_get_str(j, "name"), *nsattr = w2k_json_get_str(j, "namespace");
    const w2k_json_t *fields = w2k_json_get(j, "fields");
    if (!name || !fields || fields->type != W2K_JSON_ARRAY) {
        snprintf(sp->what, sizeof sp->what, "a record needs \"name\" and \"fields\"");
        return NULL;
    }
    const char *f = full_name(sp, name, nsattr ? nsattr : ns);
    w2k_avnode_t *n = new_node(sp, W2K_AVT_RECORD);
    if (!f || !n || define(sp, f, n) != 0)
        return NULL;
    const char *inner = ns_of(sp, f);
    n->n = fields->n;
    n->sub = w2k_arena_alloc(&sp->s->arena, (size_t)n->n * sizeof *n->sub + 1);
    n->names = w2k_arena_alloc(&sp->s->arena, (size_t)n->n * sizeof *n->names + 1);
    if (!inner || !n->sub || !n->names) {
        sp->why = "out of memory";
        return NULL;
    }
    for (int i = 0; i < fields->n; i++) {
        const w2k_json_t *fj = fields->items[i];
        const char *fname = w2k_json_get_str(fj, "name");
        const w2k_json_t *ft = w2k_json_get(fj, "type");
        if (!fname || !ft) {
            snprintf(sp->what, sizeof sp->what, "record %.100s: field %d needs name and type", f,
                     i);
            return NULL;
        }
        n->names[i] = fname;
        if (!(n->sub[i] = parse_type(sp, ft, inner, depth + 1)))
            return NULL;
    }
    if (strcmp(f, "wal2kafka.Interval") == 0)
        n->logical = W2K_AVL_INTERVAL;
    else if (strcmp(f, "wal2kafka.VariableScaleDecimal") == 0)
        n->logical = W2K_AVL_VARDECIMAL;
    else if (strcmp(f, "wal2kafka.ArrayText") == 0 && n->n == 1 &&
             n->sub[0]->type == W2K_AVT_STRING)
        n->logical = W2K_AVL_ARRAY_TEXT;
    return n;
}

static w2k_avnode_t *parse_object(sp_t *sp, const w2k_json_t *j, const char *ns, int depth)
{
    const w2k_json_t *tj = w2k_json_get(j, "type");
    if (!tj) {
        snprintf(sp->what, sizeof sp->what, "a schema object without \"type\"");
        return NULL;
    }
    if (tj->type != W2K_JSON_STRING) {
        w2k_avnode_t *n = parse_type(sp, tj, ns, depth + 1);
        return n;
    }
    const char *t = tj->str;
    if (strcmp(t, "record") == 0 || strcmp(t, "error") == 0)
        return parse_record(sp, j, ns, depth);
    if (strcmp(t, "enum") == 0 || strcmp(t, "fixed") == 0) {
        bool is_enum = t[0] == 'e';
        const char *name = w2k_json_get_str(j, "name"), *nsattr = w2k_json_get_str(j, "namespace");
        const char *f = name ? full_name(sp, name, nsattr ? nsattr : ns) : NULL;
        w2k_avnode_t *n = new_node(sp, is_enum ? W2K_AVT_ENUM : W2K_AVT_FIXED);
        if (!f || !n) {
            snprintf(sp->what, sizeof sp->what, "%s needs a name", t);
            return NULL;
        }
        if (is_enum) {
            const w2k_json_t *sy = w2k_json_get(j, "symbols");
            if (!sy || sy->type != W2K_JSON_ARRAY) {
                snprintf(sp->what, sizeof sp->what, "enum %.100s needs symbols", f);
                return NULL;
            }
            n->n = sy->n;
            n->names = w2k_arena_alloc(&sp->s->arena, (size_t)n->n * sizeof *n->names + 1);
            if (!n->names)
                return NULL;
            for (int i = 0; i < sy->n; i++) {
                if (sy->items[i]->type != W2K_JSON_STRING) {
                    snprintf(sp->what, sizeof sp->what, "enum %.100s: a symbol is not a string", f);
                    return NULL;
                }
                n->names[i] = sy->items[i]->str;
            }
            if (strcmp(f, "wal2kafka.UnchangedToast") == 0)
                n->logical = W2K_AVL_UNCHANGED_TOAST;
            else if (strcmp(f, "wal2kafka.SpecialValue") == 0)
                n->logical = W2K_AVL_SPECIAL_VALUE;
        } else {
            const w2k_json_t *sz = w2k_json_get(j, "size");
            if (!sz || sz->type != W2K_JSON_NUMBER || !sz->is_int || sz->integer < 0 ||
                sz->integer > 1 << 20) {
                snprintf(sp->what, sizeof sp->what, "fixed %.100s needs a size", f);
                return NULL;
            }
            n->size = (int)sz->integer;
            apply_logical(n, j);
        }
        return define(sp, f, n) == 0 ? n : NULL;
    }
    if (strcmp(t, "array") == 0 || strcmp(t, "map") == 0) {
        bool arr = t[0] == 'a';
        const w2k_json_t *it = w2k_json_get(j, arr ? "items" : "values");
        w2k_avnode_t *n = new_node(sp, arr ? W2K_AVT_ARRAY : W2K_AVT_MAP);
        if (!n)
            return NULL;
        if (!it) {
            snprintf(sp->what, sizeof sp->what, "%s needs \"%s\"", t, arr ? "items" : "values");
            return NULL;
        }
        n->n = 1;
        n->sub = w2k_arena_alloc(&sp->s->arena, sizeof *n->sub);
        if (!n->sub || !(n->sub[0] = parse_type(sp, it, ns, depth + 1)))
            return NULL;
        return n;
    }
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++) {
        if (strcmp(t, primitives[i].name) == 0) {
            w2k_avnode_t *n = new_node(sp, primitives[i].t);
            if (n)
                apply_logical(n, j);
            return n;
        }
    }
    return parse_name_ref(sp, t, ns);
}

static w2k_avnode_t *parse_type(sp_t *sp, const w2k_json_t *j, const char *ns, int depth)
{
    if (depth > MAX_DEPTH) {
        snprintf(sp->what, sizeof sp->what, "schema nested too deeply");
        return NULL;
    }
    if (j->type == W2K_JSON_STRING)
        return parse_name_ref(sp, j->str, ns);
    if (j->type == W2K_JSON_OBJECT)
        return parse_object(sp, j, ns, depth);
    if (j->type == W2K_JSON_ARRAY) {
        w2k_avnode_t *n = new_node(sp, W2K_AVT_UNION);
        if (!n)
            return NULL;
        n->n = j->n;
        n->sub = w2k_arena_alloc(&sp->s->arena, (size_t)n->n * sizeof *n->sub + 1);
        if (!n->sub)
            return NULL;
        for (int i = 0; i < j->n; i++)
            if (!(n->sub[i] = parse_type(sp, j->items[i], ns, depth + 1)))
                return NULL;
        return n;
    }
    snprintf(sp->what, sizeof sp->what, "not a schema: a JSON number, boolean or null");
    return NULL;
}

w2k_avschema_t *w2k_avschema_parse(const char *json, size_t len, w2k_err_t *err)
{
    w2k_avschema_t *s = calloc(1, sizeof *s);
    if (!s) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    w2k_json_error_t je;
    const w2k_json_t *v = w2k_json_parse(&s->arena, json, len, &je);
    if (!v) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "a stored Avro schema is not valid JSON: %s at byte %zu",
                    je.why, je.at);
        goto fail;
    }
    sp_t sp = {s, NULL, ""};
    s->root = parse_type(&sp, v, "", 0);
    if (!s->root) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "a stored Avro schema cannot be read: %s",
                    sp.what[0] ? sp.what
                    : sp.why   ? sp.why
                               : "?");
        goto fail;
    }
    return s;
fail:
    w2k_err_hint(err, "the schema text is quoted from the schema store; start: %.*s",
                 (int)(len < 120 ? len : 120), json ? json : "");
    w2k_avschema_destroy(s);
    return NULL;
}

void w2k_avschema_destroy(w2k_avschema_t *s)
{
    if (!s)
        return;
    w2k_arena_free(&s->arena);
    free(s);
}

const w2k_avnode_t *w2k_avschema_root(const w2k_avschema_t *s)
{
    return s->root;
}

int w2k_avnode_field(const w2k_avnode_t *rec, const char *name)
{
    if (!rec || rec->type != W2K_AVT_RECORD)
        return -1;
    for (int i = 0; i < rec->n; i++)
        if (strcmp(rec->names[i], name) == 0)
            return i;
    return -1;
}

const w2k_avnode_t *w2k_avnode_nonnull(const w2k_avnode_t *u)
{
    if (!u)
        return NULL;
    if (u->type != W2K_AVT_UNION)
        return u;
    if (u->n == 2 && u->sub[0]->type == W2K_AVT_NULL)
        return u->sub[1];
    if (u->n == 1)
        return u->sub[0];
    return NULL;
}

/* ---- binary decoding ---- */

int w2k_avro_read_long(const uint8_t **p, const uint8_t *end, int64_t *v)
{
    uint64_t acc = 0;
    for (int shift = 0; shift <= 63 && *p < end; shift += 7) {
        uint8_t b = *(*p)++;
        acc |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = (int64_t)((acc >> 1) ^ (~(acc & 1) + 1));
            return 0;
        }
    }
    return -1;
}

static int read_len(const uint8_t **p, const uint8_t *end, size_t *n)
{
    int64_t v;
    if (w2k_avro_read_long(p, end, &v) != 0 || v < 0 || v > end - *p)
        return -1;
    *n = (size_t)v;
    return 0;
}

/* A block of count items must fit in what is left (every item takes at least a byte,
 * unless it is null): a corrupt count cannot spin. */
static bool count_fits(const w2k_avnode_t *item, int64_t count, const uint8_t *p,
                       const uint8_t *end)
{
    return count <= end - p || (item->type == W2K_AVT_NULL && count <= (1 << 20));
}

int w2k_avro_block(const w2k_avnode_t *item, const uint8_t **p, const uint8_t *end, int64_t *count,
                   const uint8_t **block_end)
{
    int64_t v;
    size_t len;
    const uint8_t *lim = end;
    *block_end = NULL;
    if (w2k_avro_read_long(p, end, &v) != 0)
        return -1;
    if (v < 0) {
        if (v == INT64_MIN || read_len(p, end, &len) != 0)
            return -1;
        v = -v;
        lim = *p + len;
        *block_end = lim;
    }
    if (v > 0 && !count_fits(item, v, *p, lim))
        return -1;
    *count = v;
    return 0;
}

static int skip_d(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, int depth)
{
    int64_t v;
    size_t len;
    if (depth > MAX_DEPTH)
        return -1;
    switch (n->type) {
    case W2K_AVT_NULL:
        return 0;
    case W2K_AVT_BOOLEAN:
        if (*p >= end)
            return -1;
        (*p)++;
        return 0;
    case W2K_AVT_INT:
    case W2K_AVT_LONG:
    case W2K_AVT_ENUM:
        return w2k_avro_read_long(p, end, &v);
    case W2K_AVT_FLOAT:
    case W2K_AVT_DOUBLE:
        len = n->type == W2K_AVT_FLOAT ? 4 : 8;
        if ((size_t)(end - *p) < len)
            return -1;
        *p += len;
        return 0;
    case W2K_AVT_BYTES:
    case W2K_AVT_STRING:
        if (read_len(p, end, &len) != 0)
            return -1;
        *p += len;
        return 0;
    case W2K_AVT_FIXED:
        if (end - *p < n->size)
            return -1;
        *p += n->size;
        return 0;
    case W2K_AVT_RECORD:
        for (int i = 0; i < n->n; i++)
            if (skip_d(n->sub[i], p, end, depth + 1) != 0)
                return -1;
        return 0;
    case W2K_AVT_ARRAY:
    case W2K_AVT_MAP:
        for (;;) {
            const uint8_t *block_end;
            if (w2k_avro_block(n->sub[0], p, end, &v, &block_end) != 0)
                return -1;
            if (v == 0)
                return 0;
            if (block_end) { /* block with its size in bytes: skip it whole */
                *p = block_end;
                continue;
            }
            for (int64_t i = 0; i < v; i++) {
                if (n->type == W2K_AVT_MAP) { /* the key */
                    if (read_len(p, end, &len) != 0)
                        return -1;
                    *p += len;
                }
                if (skip_d(n->sub[0], p, end, depth + 1) != 0)
                    return -1;
            }
        }
    case W2K_AVT_UNION:
        if (w2k_avro_read_long(p, end, &v) != 0 || v < 0 || v >= n->n)
            return -1;
        return skip_d(n->sub[v], p, end, depth + 1);
    }
    return -1;
}

int w2k_avro_skip(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end)
{
    return skip_d(n, p, end, 0);
}

/* ---- formatting ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Append v in decimal, at least width digits (zero-padded; the sign not counted). */
static void put_int(w2k_buf_t *out, int64_t v, int width)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n < width)
        tmp[n++] = '0';
    if (v < 0)
        tmp[n++] = '-';
    if (w2k_buf_reserve(out, (size_t)n + 1) != 0)
        return;
    while (n > 0)
        out->data[out->len++] = tmp[--n];
    out->data[out->len] = '\0';
}

/* Proleptic Gregorian civil date of days since 1970-01-01 (H. Hinnant's algorithm). */
static void civil(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Append the year-month-day part; returns whether the year is BC. */
static bool put_ymd(int64_t days, w2k_buf_t *out)
{
    int64_t y;
    int m, d;
    civil(days, &y, &m, &d);
    bool bc = y <= 0;
    put_int(out, bc ? 1 - y : y, 4);
    w2k_buf_putc(out, '-');
    put_int(out, m, 2);
    w2k_buf_putc(out, '-');
    put_int(out, d, 2);
    return bc;
}

void w2k_fmt_date(int64_t days, w2k_buf_t *out)
{
    if (put_ymd(days, out))
        w2k_buf_puts(out, " BC");
}

/* Seconds with the fraction PostgreSQL shows: up to 6 digits, trailing zeros dropped. */
static void put_seconds(int64_t sec, int64_t frac_us, w2k_buf_t *out, bool pad)
{
    put_int(out, sec, pad ? 2 : 1);
    if (frac_us) {
        char f[8];
        int n = 6;
        for (int i = 5; i >= 0; i--, frac_us /= 10)
            f[i] = (char)('0' + frac_us % 10);
        while (n > 0 && f[n - 1] == '0')
            n--;
        w2k_buf_putc(out, '.');
        w2k_buf_append(out, f, (size_t)n);
    }
}

void w2k_fmt_time(int64_t us, w2k_buf_t *out)
{
    if (us < 0)
        us = 0;
    int64_t h = us / INT64_C(3600000000);
    int64_t m = us / 60000000 % 60;
    int64_t s = us / 1000000 % 60;
    put_int(out, h, 2);
    w2k_buf_putc(out, ':');
    put_int(out, m, 2);
    w2k_buf_putc(out, ':');
    put_seconds(s, us % 1000000, out, true);
}

void w2k_fmt_timestamp(int64_t us, bool with_tz, w2k_buf_t *out)
{
    int64_t days = us / INT64_C(86400000000), tod = us % INT64_C(86400000000);
    if (tod < 0) { /* floor, without overflowing near INT64_MIN */
        days--;
        tod += INT64_C(86400000000);
    }
    bool bc = put_ymd(days, out);
    w2k_buf_putc(out, ' ');
    w2k_fmt_time(tod, out);
    if (with_tz)
        w2k_buf_puts(out, "+00");
    if (bc)
        w2k_buf_puts(out, " BC");
}

static void iso_part(w2k_buf_t *out, int64_t v, char unit)
{
    if (v) {
        put_int(out, v, 1);
        w2k_buf_putc(out, unit);
    }
}

void w2k_fmt_interval(int32_t months, int32_t days, int64_t us, w2k_buf_t *out)
{
    /* PostgreSQL's EncodeInterval, INTSTYLE_ISO_8601: each field keeps its own sign */
    int64_t year = months / 12, mon = months % 12;
    int64_t hour = us / INT64_C(3600000000);
    int64_t rest = us - hour * INT64_C(3600000000);
    int64_t min = rest / 60000000;
    rest -= min * 60000000;
    int64_t sec = rest / 1000000, fsec = rest % 1000000;
    if (!year && !mon && !days && !hour && !min && !sec && !fsec) {
        w2k_buf_puts(out, "PT0S");
        return;
    }
    w2k_buf_putc(out, 'P');
    iso_part(out, year, 'Y');
    iso_part(out, mon, 'M');
    iso_part(out, days, 'D');
    if (hour || min || sec || fsec)
        w2k_buf_putc(out, 'T');
    iso_part(out, hour, 'H');
    iso_part(out, min, 'M');
    if (sec || fsec) {
        if (sec < 0 || fsec < 0)
            w2k_buf_putc(out, '-');
        put_seconds(sec < 0 ? -sec : sec, fsec < 0 ? -fsec : fsec, out, false);
        w2k_buf_putc(out, 'S');
    }
}

/* Append a decimal from its digits (most significant first, no sign) and scale. */
static void put_scaled(w2k_buf_t *out, bool neg, const char *digits, size_t nd, int scale)
{
    if (neg && !(nd == 1 && digits[0] == '0'))
        w2k_buf_putc(out, '-');
    if (scale <= 0) {
        w2k_buf_append(out, digits, nd);
        for (int i = 0; i < -scale; i++)
            w2k_buf_putc(out, '0');
        return;
    }
    size_t s = (size_t)scale;
    if (nd <= s) {
        w2k_buf_puts(out, "0.");
        for (size_t i = nd; i < s; i++)
            w2k_buf_putc(out, '0');
        w2k_buf_append(out, digits, nd);
    } else {
        w2k_buf_append(out, digits, nd - s);
        w2k_buf_putc(out, '.');
        w2k_buf_append(out, digits + nd - s, s);
    }
}

int w2k_fmt_decimal(const uint8_t *b, size_t n, int scale, w2k_buf_t *out)
{
    bool neg = n > 0 && (b[0] & 0x80);
    if (n <= 8) { /* fits in 64 bits: no big-number arithmetic */
        uint64_t v = neg ? UINT64_MAX : 0;
        for (size_t i = 0; i < n; i++)
            v = (v << 8) | b[i];
        uint64_t u = neg ? (uint64_t)0 - v : v;
        char tmp[24], digits[24];
        size_t nd = 0;
        do {
            tmp[nd++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        for (size_t i = 0; i < nd; i++)
            digits[i] = tmp[nd - 1 - i];
        put_scaled(out, neg, digits, nd, scale);
        return out->oom ? -1 : 0;
    }
    /* magnitude in base 10^9 limbs, least significant first */
    size_t cap = n / 3 + 2; /* 256^n < 10^(2.41 n): n * 2.41 / 9 < n / 3 limbs */
    uint32_t *limb = calloc(cap, sizeof *limb);
    char *digits = malloc(cap * 9 + (size_t)(scale > 0 ? scale : 0) + 2);
    if (!limb || !digits) {
        free(limb);
        free(digits);
        return -1;
    }
    size_t nl = 0;
    /* two's complement: the magnitude of a negative value is ~x + 1, done bytewise with
     * the +1 carried from the least significant byte */
    unsigned carry = 1;
    uint8_t *mag = malloc(n ? n : 1);
    if (!mag) {
        free(limb);
        free(digits);
        return -1;
    }
    for (size_t i = n; i-- > 0;) {
        if (neg) {
            unsigned x = (unsigned)(uint8_t)~b[i] + carry;
            mag[i] = (uint8_t)x;
            carry = x >> 8;
        } else {
            mag[i] = b[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t c = mag[i];
        for (size_t k = 0; k < nl; k++) {
            uint64_t x = (uint64_t)limb[k] * 256 + c;
            limb[k] = (uint32_t)(x % 1000000000u);
            c = x / 1000000000u;
        }
        while (c) {
            limb[nl++] = (uint32_t)(c % 1000000000u);
            c /= 1000000000u;
        }
    }
    free(mag);
    size_t nd = 0;
    if (nl == 0) {
        digits[nd++] = '0';
    } else {
        nd = (size_t)sprintf(digits, "%u", limb[nl - 1]);
        for (size_t k = nl - 1; k-- > 0;)
            nd += (size_t)sprintf(digits + nd, "%09u", limb[k]);
    }
    free(limb);
    put_scaled(out, neg, digits, nd, scale);
    free(digits);
    return out->oom ? -1 : 0;
}

void w2k_fmt_double(double v, w2k_buf_t *out)
{
    if (isnan(v)) {
        w2k_buf_puts(out, "\"NaN\"");
        return;
    }
    if (isinf(v)) {
        w2k_buf_puts(out, v < 0 ? "\"-Infinity\"" : "\"Infinity\"");
        return;
    }
    /* a double has 15-17 significant digits: the first precision that reads back is
     * the shortest form (%g drops trailing zeros) */
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    w2k_buf_puts(out, buf);
}

void w2k_fmt_float(float v, w2k_buf_t *out)
{
    if (isnan(v) || isinf(v)) {
        w2k_fmt_double((double)v, out);
        return;
    }
    char buf[40];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    w2k_buf_puts(out, buf);
}

/* ---- binary → JSON ---- */

static uint64_t read_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_hex_bytes(const uint8_t *b, size_t n, w2k_buf_t *out)
{
    static const char hex[] = "0123456789abcdef";
    /* JSON string "\\x...": the backslash escaped */
    w2k_buf_puts(out, "\"\\\\x");
    if (w2k_buf_reserve(out, n * 2 + 2) != 0)
        return;
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = hex[b[i] >> 4];
        out->data[out->len++] = hex[b[i] & 15];
    }
    out->data[out->len] = '\0';
    w2k_buf_putc(out, '"');
}

static int json_d(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, w2k_buf_t *out,
                  int depth);

/* wal2kafka.Interval and wal2kafka.VariableScaleDecimal: fields picked by name. */
static int json_named_record(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end,
                             w2k_buf_t *out)
{
    int64_t months = 0, days = 0, micros = 0, scale = 0;
    const uint8_t *val = NULL;
    size_t vlen = 0;
    for (int i = 0; i < n->n; i++) {
        const w2k_avnode_t *f = n->sub[i];
        const char *name = n->names[i];
        if (f->type == W2K_AVT_INT || f->type == W2K_AVT_LONG) {
            int64_t v;
            if (w2k_avro_read_long(p, end, &v) != 0)
                return -1;
            if (strcmp(name, "months") == 0)
                months = v;
            else if (strcmp(name, "days") == 0)
                days = v;
            else if (strcmp(name, "micros") == 0)
                micros = v;
            else if (strcmp(name, "scale") == 0)
                scale = v;
        } else if (f->type == W2K_AVT_BYTES && strcmp(name, "value") == 0) {
            if (read_len(p, end, &vlen) != 0)
                return -1;
            val = *p;
            *p += vlen;
        } else if (skip_d(f, p, end, 1) != 0) {
            return -1;
        }
    }
    if (n->logical == W2K_AVL_INTERVAL) {
        if (months < INT32_MIN || months > INT32_MAX || days < INT32_MIN || days > INT32_MAX)
            return -1;
        w2k_buf_putc(out, '"');
        w2k_fmt_interval((int32_t)months, (int32_t)days, micros, out);
        w2k_buf_putc(out, '"');
        return 0;
    }
    if (scale < -100000 || scale > 100000)
        return -1;
    w2k_buf_putc(out, '"');
    if (w2k_fmt_decimal(val, vlen, (int)scale, out) != 0)
        return -1;
    w2k_buf_putc(out, '"');
    return 0;
}

static int json_long(const w2k_avnode_t *n, int64_t v, w2k_buf_t *out)
{
    switch (n->logical) {
    case W2K_AVL_DATE:
        w2k_buf_putc(out, '"');
        w2k_fmt_date(v, out);
        break;
    case W2K_AVL_TIME_MILLIS:
        w2k_buf_putc(out, '"');
        w2k_fmt_time(v * 1000, out);
        break;
    case W2K_AVL_TIME_MICROS:
        w2k_buf_putc(out, '"');
        w2k_fmt_time(v, out);
        break;
    case W2K_AVL_TIMESTAMP_MILLIS:
    case W2K_AVL_LOCAL_TIMESTAMP_MILLIS:
        if (v > INT64_MAX / 1000 || v < INT64_MIN / 1000)
            return -1;
        w2k_buf_putc(out, '"');
        w2k_fmt_timestamp(v * 1000, n->logical == W2K_AVL_TIMESTAMP_MILLIS, out);
        break;
    case W2K_AVL_TIMESTAMP_MICROS:
    case W2K_AVL_LOCAL_TIMESTAMP_MICROS:
        w2k_buf_putc(out, '"');
        w2k_fmt_timestamp(v, n->logical == W2K_AVL_TIMESTAMP_MICROS, out);
        break;
    default:
        put_int(out, v, 1);
        return 0;
    }
    w2k_buf_putc(out, '"');
    return 0;
}

/* A wal2kafka.SpecialValue b in union u as PostgreSQL's text of the value it stands
 * for; the symbol itself where the union's value type does not tell. */
static int json_special(const w2k_avnode_t *u, const w2k_avnode_t *b, const uint8_t **p,
                        const uint8_t *end, w2k_buf_t *out)
{
    int64_t v;
    if (w2k_avro_read_long(p, end, &v) != 0 || v < 0 || v >= b->n)
        return -1;
    const char *sym = b->names[v], *text = sym;
    int family = 0; /* 1 numeric, 2 date/timestamp, 3 time */
    for (int i = 0; u && u->type == W2K_AVT_UNION && i < u->n && !family; i++) {
        switch (u->sub[i]->logical) {
        case W2K_AVL_DECIMAL:
        case W2K_AVL_VARDECIMAL:
            family = 1;
            break;
        case W2K_AVL_DATE:
        case W2K_AVL_TIMESTAMP_MILLIS:
        case W2K_AVL_TIMESTAMP_MICROS:
        case W2K_AVL_LOCAL_TIMESTAMP_MILLIS:
        case W2K_AVL_LOCAL_TIMESTAMP_MICROS:
            family = 2;
            break;
        case W2K_AVL_TIME_MILLIS:
        case W2K_AVL_TIME_MICROS:
            family = 3;
            break;
        default:
            break;
        }
    }
    if (strcmp(sym, "NAN") == 0 && family == 1)
        text = "NaN";
    else if (strcmp(sym, "POSITIVE_INFINITY") == 0 && family == 1)
        text = "Infinity";
    else if (strcmp(sym, "NEGATIVE_INFINITY") == 0 && family == 1)
        text = "-Infinity";
    else if (strcmp(sym, "POSITIVE_INFINITY") == 0 && family == 2)
        text = "infinity";
    else if (strcmp(sym, "NEGATIVE_INFINITY") == 0 && family == 2)
        text = "-infinity";
    else if (strcmp(sym, "END_OF_DAY") == 0 && family == 3)
        text = "24:00:00";
    w2k_buf_put_json_string(out, text, strlen(text));
    return 0;
}

static int json_d(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, w2k_buf_t *out,
                  int depth)
{
    int64_t v;
    size_t len;
    if (depth > MAX_DEPTH)
        return -1;
    switch (n->type) {
    case W2K_AVT_NULL:
        w2k_buf_puts(out, "null");
        return 0;
    case W2K_AVT_BOOLEAN:
        if (*p >= end || **p > 1)
            return -1;
        w2k_buf_puts(out, *(*p)++ ? "true" : "false");
        return 0;
    case W2K_AVT_INT:
        if (w2k_avro_read_long(p, end, &v) != 0 || v < INT32_MIN || v > INT32_MAX)
            return -1;
        return json_long(n, v, out);
    case W2K_AVT_LONG:
        if (w2k_avro_read_long(p, end, &v) != 0)
            return -1;
        return json_long(n, v, out);
    case W2K_AVT_FLOAT: {
        if (end - *p < 4)
            return -1;
        uint32_t bits = (uint32_t)read_le(*p, 4);
        float f;
        memcpy(&f, &bits, 4);
        *p += 4;
        w2k_fmt_float(f, out);
        return 0;
    }
    case W2K_AVT_DOUBLE: {
        if (end - *p < 8)
            return -1;
        uint64_t bits = read_le(*p, 8);
        double d;
        memcpy(&d, &bits, 8);
        *p += 8;
        w2k_fmt_double(d, out);
        return 0;
    }
    case W2K_AVT_STRING:
        if (read_len(p, end, &len) != 0)
            return -1;
        w2k_buf_put_json_string(out, (const char *)*p, len);
        *p += len;
        return 0;
    case W2K_AVT_BYTES:
    case W2K_AVT_FIXED:
        if (n->type == W2K_AVT_FIXED) {
            if (end - *p < n->size)
                return -1;
            len = (size_t)n->size;
        } else if (read_len(p, end, &len) != 0) {
            return -1;
        }
        if (n->logical == W2K_AVL_DECIMAL) {
            w2k_buf_putc(out, '"');
            if (w2k_fmt_decimal(*p, len, n->scale, out) != 0)
                return -1;
            w2k_buf_putc(out, '"');
        } else {
            put_hex_bytes(*p, len, out);
        }
        *p += len;
        return 0;
    case W2K_AVT_RECORD:
        if (n->logical == W2K_AVL_INTERVAL || n->logical == W2K_AVL_VARDECIMAL)
            return json_named_record(n, p, end, out);
        if (n->logical == W2K_AVL_ARRAY_TEXT)
            return json_d(n->sub[0], p, end, out, depth + 1);
        w2k_buf_putc(out, '{');
        for (int i = 0; i < n->n; i++) {
            if (i)
                w2k_buf_putc(out, ',');
            w2k_buf_put_json_string(out, n->names[i], strlen(n->names[i]));
            w2k_buf_putc(out, ':');
            if (json_d(n->sub[i], p, end, out, depth + 1) != 0)
                return -1;
        }
        w2k_buf_putc(out, '}');
        return 0;
    case W2K_AVT_ENUM:
        if (w2k_avro_read_long(p, end, &v) != 0 || v < 0 || v >= n->n)
            return -1;
        if (n->logical == W2K_AVL_UNCHANGED_TOAST)
            w2k_buf_puts(out, W2K_AVRO_TOAST_JSON);
        else
            w2k_buf_put_json_string(out, n->names[v], strlen(n->names[v]));
        return 0;
    case W2K_AVT_ARRAY:
    case W2K_AVT_MAP: {
        bool map = n->type == W2K_AVT_MAP, first = true;
        w2k_buf_putc(out, map ? '{' : '[');
        for (;;) {
            const uint8_t *block_end;
            if (w2k_avro_block(n->sub[0], p, end, &v, &block_end) != 0)
                return -1;
            if (v == 0)
                break;
            /* a block with its size: its items must fill exactly that size, as
             * w2k_avro_skip jumps over it by the size alone */
            const uint8_t *lim = block_end ? block_end : end;
            for (int64_t i = 0; i < v; i++) {
                if (!first)
                    w2k_buf_putc(out, ',');
                first = false;
                if (map) {
                    if (read_len(p, lim, &len) != 0)
                        return -1;
                    w2k_buf_put_json_string(out, (const char *)*p, len);
                    *p += len;
                    w2k_buf_putc(out, ':');
                }
                if (json_d(n->sub[0], p, lim, out, depth + 1) != 0)
                    return -1;
            }
            if (block_end && *p != block_end)
                return -1;
        }
        w2k_buf_putc(out, map ? '}' : ']');
        return 0;
    }
    case W2K_AVT_UNION:
        if (w2k_avro_read_long(p, end, &v) != 0 || v < 0 || v >= n->n)
            return -1;
        if (n->sub[v]->logical == W2K_AVL_SPECIAL_VALUE)
            return json_special(n, n->sub[v], p, end, out);
        return json_d(n->sub[v], p, end, out, depth + 1);
    }
    return -1;
}

int w2k_avro_json_branch(const w2k_avnode_t *u, const w2k_avnode_t *b, const uint8_t **p,
                         const uint8_t *end, w2k_buf_t *out)
{
    int rc = b->logical == W2K_AVL_SPECIAL_VALUE ? json_special(u, b, p, end, out)
                                                 : json_d(b, p, end, out, 0);
    return rc == 0 && !out->oom ? 0 : -1;
}

int w2k_avro_json(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, w2k_buf_t *out)
{
    int rc = json_d(n, p, end, out, 0);
    return rc == 0 && !out->oom ? 0 : -1;
}
