/* names.c — PostgreSQL names made topic and Avro names: plain names kept, others escaped. */
#include "names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'F');
}

/* True when s holds "_x" + two uppercase hex digits: the escape, so never in a plain name. */
static bool has_escape(const char *s)
{
    for (const char *p = strstr(s, "_x"); p; p = strstr(p + 1, "_x"))
        if (is_hex((unsigned char)p[2]) && is_hex((unsigned char)p[3]))
            return true;
    return false;
}

bool w2k_names_avro_plain(const char *pg)
{
    const unsigned char *s = (const unsigned char *)pg;
    if (!is_alpha(s[0]) && s[0] != '_')
        return false;
    for (; *s; s++)
        if (!is_alpha(*s) && !is_digit(*s) && *s != '_')
            return false;
    return !has_escape(pg);
}

bool w2k_names_topic_plain(const char *pg)
{
    const unsigned char *s = (const unsigned char *)pg;
    if (!*s)
        return false;
    for (; *s; s++)
        if (!is_alpha(*s) && !is_digit(*s) && *s != '_' && *s != '-')
            return false;
    return !has_escape(pg);
}

/* Escapes pg into out: bytes for which keep() is false written _xHH. */
static void escape(const char *pg, bool avro, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    if (!outsz)
        return;
    for (const unsigned char *s = (const unsigned char *)pg; *s; s++) {
        bool keep = is_alpha(*s) || (is_digit(*s) && (!avro || s != (const unsigned char *)pg)) ||
                    (!avro && *s == '-');
        if (keep) {
            if (n + 1 >= outsz)
                break;
            out[n++] = (char)*s;
            continue;
        }
        if (n + 4 >= outsz)
            break;
        out[n++] = '_';
        out[n++] = 'x';
        out[n++] = hex[*s >> 4];
        out[n++] = hex[*s & 15];
    }
    out[n] = '\0';
}

void w2k_names_avro(const char *pg, char *out, size_t outsz)
{
    if (w2k_names_avro_plain(pg))
        snprintf(out, outsz, "%s", pg);
    else
        escape(pg, true, out, outsz);
}

void w2k_names_topic_part(const char *pg, char *out, size_t outsz)
{
    if (w2k_names_topic_plain(pg))
        snprintf(out, outsz, "%s", pg);
    else
        escape(pg, false, out, outsz);
}

size_t w2k_names_topic(const char *prefix, const char *schema, const char *table, char *out,
                       size_t outsz)
{
    char s[W2K_NAMES_MAX], t[W2K_NAMES_MAX];
    w2k_names_topic_part(schema, s, sizeof s);
    w2k_names_topic_part(table, t, sizeof t);
    int n = snprintf(out, outsz, "%s.%s.%s", prefix, s, t);
    return n < 0 ? 0 : (size_t)n;
}

bool w2k_names_topics_collide(const char *a, const char *b)
{
    if (strcmp(a, b) == 0 || strlen(a) != strlen(b))
        return false;
    for (; *a; a++, b++) {
        char x = *a == '.' ? '_' : *a, y = *b == '.' ? '_' : *b;
        if (x != y)
            return false;
    }
    return true;
}

typedef struct named_topic_s {
    char topic[2 * W2K_NAMES_MAX + 128];
    char metric[2 * W2K_NAMES_MAX + 128];
    const w2k_table_cfg_t *table; /* NULL: one of the stream's own topics */
} named_topic_t;

static int by_metric(const void *a, const void *b)
{
    return strcmp(((const named_topic_t *)a)->metric, ((const named_topic_t *)b)->metric);
}

/* "schema"."table", or the stream's own topic. */
static void describe(const named_topic_t *t, char *out, size_t outsz)
{
    if (t->table)
        snprintf(out, outsz, "table \"%s\".\"%s\"", t->table->schema, t->table->name);
    else
        snprintf(out, outsz, "the stream's own topic %s", t->topic);
}

int w2k_names_check_topics(const w2k_stream_cfg_t *sc, const w2k_table_cfg_t *tables, int n,
                           w2k_err_t *err)
{
    static const char *const own[] = {"state", "schemas", "schema_changes", "messages",
                                      "transaction"};
    int nown = (int)(sizeof own / sizeof own[0]), total = n + nown, rc = -1;
    named_topic_t *t = calloc((size_t)total, sizeof *t);
    if (!t) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int i = 0; i < total; i++) {
        size_t len;
        if (i < n) {
            t[i].table = &tables[i];
            len = w2k_names_topic(sc->topic_prefix, tables[i].schema, tables[i].name, t[i].topic,
                                  sizeof t[i].topic);
        } else {
            len = (size_t)snprintf(t[i].topic, sizeof t[i].topic, "%s.%s", sc->topic_prefix,
                                   own[i - n]);
        }
        if (len > W2K_NAMES_TOPIC_MAX && t[i].table) {
            w2k_err_set(err, W2K_EXIT_CONFIG,
                        "stream %s: the topic of table \"%s\".\"%s\" would be %zu characters "
                        "long, more than Kafka's %d: %.60s...",
                        sc->name, tables[i].schema, tables[i].name, len, W2K_NAMES_TOPIC_MAX,
                        t[i].topic);
            w2k_err_hint(err,
                         "shorten topic_prefix (\"%s\") or the table's name, or leave the table "
                         "out of stream %s",
                         sc->topic_prefix, sc->name);
            goto out;
        }
        snprintf(t[i].metric, sizeof t[i].metric, "%s", t[i].topic);
        for (char *p = t[i].metric; *p; p++)
            if (*p == '.')
                *p = '_';
    }
    qsort(t, (size_t)total, sizeof *t, by_metric);
    for (int i = 1; i < total; i++) {
        if (strcmp(t[i - 1].metric, t[i].metric) != 0)
            continue;
        char a[800], b[800];
        describe(&t[i - 1], a, sizeof a);
        describe(&t[i], b, sizeof b);
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "stream %s: %s and %s have topics %s and %s, which Kafka cannot keep apart "
                    "(equal once '.' is '_')",
                    sc->name, a, b, t[i - 1].topic, t[i].topic);
        w2k_err_hint(err,
                     "rename one of the tables (ALTER TABLE ... RENAME), or leave one out of "
                     "stream %s and stream it from a stream with another topic_prefix",
                     sc->name);
        goto out;
    }
    rc = 0;
out:
    free(t);
    return rc;
}

size_t w2k_names_hash_str(size_t h, const char *s)
{
    while (*s)
        h = (h ^ (unsigned char)*s++) * (size_t)UINT64_C(1099511628211);
    return h;
}

size_t w2k_names_hash(const char *schema, const char *name)
{
    return w2k_names_hash_str(
        w2k_names_hash_str(w2k_names_hash_str(W2K_NAMES_HASH_SEED, schema), "."), name);
}
