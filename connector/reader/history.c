/* history.c — `wal2kafka history` and `wal2kafka state`: options (times, key), the key
 * built as the producer builds it, its partition, and the reading of the topic with a
 * librdkafka consumer (no group: explicit partitions and offsets). The decoding and
 * folding is histdec.c. */
#include "history.h"
#include "clock.h"
#include "kconsumer.h"
#include "avrofp.h"
#include "avrojson.h"
#include "histdec.h"
#include "log.h"
#include "pgtypes.h"
#include "relcache.h"

#include <avro.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_KEY_SCHEMAS  64
#define KAFKA_TIMEOUT_MS 15000

/* ---- times ---- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int why_set(char *why, size_t whysz, const char *msg)
{
    snprintf(why, whysz, "%s", msg);
    return -1;
}

static int parse_duration(const char *s, int64_t *us)
{
    int64_t total = 0;
    if (!*s)
        return -1;
    while (*s) {
        if (*s < '0' || *s > '9')
            return -1;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            v = v * 10 + (*s++ - '0');
            if (v > INT64_C(1000000000))
                return -1;
        }
        int64_t unit;
        if (strncmp(s, "ms", 2) == 0) {
            unit = 1000;
            s += 2;
        } else {
            switch (*s++) {
            case 's':
                unit = INT64_C(1000000);
                break;
            case 'm':
                unit = INT64_C(60000000);
                break;
            case 'h':
                unit = INT64_C(3600000000);
                break;
            case 'd':
                unit = INT64_C(86400000000);
                break;
            case 'w':
                unit = INT64_C(604800000000);
                break;
            default:
                return -1;
            }
        }
        total += v * unit;
    }
    *us = total;
    return 0;
}

int w2k_time_parse(const char *s, int64_t now_us, int64_t *us, char *why, size_t whysz)
{
    int64_t d;
    if (strcmp(s, "now") == 0) {
        *us = now_us;
        return 0;
    }
    if (parse_duration(s, &d) == 0) {
        *us = now_us - d;
        return 0;
    }
    if (s[0] == '@') {
        char *end;
        errno = 0;
        double secs = strtod(s + 1, &end);
        if (errno || end == s + 1 || *end || secs > 9e12 || secs < -9e12)
            return why_set(why, whysz, "expected @SECONDS since 1970");
        *us = (int64_t)(secs * 1e6 + (secs < 0 ? -0.5 : 0.5));
        return 0;
    }
    const char *p = s;
    int y, mo, dd, hh = 0, mi = 0, ss = 0;
    int64_t frac = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
        digits(&p, 2, &dd) || mo < 1 || mo > 12 || dd < 1 || dd > 31)
        return why_set(why, whysz,
                       "expected a duration (2h, 30m, 7d, 1h30m), now, @SECONDS, or ISO 8601 "
                       "(2024-05-01, 2024-05-01T14:05, 2024-05-01 14:05:00.5+02:00)");
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (digits(&p, 2, &hh) || *p++ != ':' || digits(&p, 2, &mi) || hh > 24 || mi > 59)
            return why_set(why, whysz, "expected HH:MM after the date");
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &ss) || ss > 60)
                return why_set(why, whysz, "expected seconds SS after HH:MM:");
            if (*p == '.' || *p == ',') {
                p++;
                int nd = 0;
                while (*p >= '0' && *p <= '9') {
                    if (nd < 6) {
                        frac = frac * 10 + (*p - '0');
                        nd++;
                    }
                    p++;
                }
                if (nd == 0)
                    return why_set(why, whysz, "expected digits after the decimal point");
                for (; nd < 6; nd++)
                    frac *= 10;
            }
        }
    }
    int64_t secs = (w2k_days_from_civil(y, mo, dd) * 86400) + hh * 3600 + mi * 60 + ss;
    if (*p == '\0') {
        /* local time */
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = dd;
        tm.tm_hour = hh;
        tm.tm_min = mi;
        tm.tm_sec = ss;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1 && !(y == 1969 && mo == 12 && dd == 31))
            return why_set(why, whysz, "not a valid local time");
        *us = (int64_t)t * 1000000 + frac;
        return 0;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (digits(&p, 2, &oh))
            return why_set(why, whysz, "expected a zone offset +HH[:MM]");
        if (*p == ':')
            p++;
        if (*p && digits(&p, 2, &om))
            return why_set(why, whysz, "expected a zone offset +HH[:MM]");
        off = sign * (oh * 3600 + om * 60);
    }
    if (*p)
        return why_set(why, whysz, "unexpected text after the time");
    *us = (secs - off) * 1000000 + frac;
    return 0;
}

/* ---- --key ---- */

void w2k_keyspec_free(w2k_keyval_t *kv, int n)
{
    for (int i = 0; kv && i < n; i++) {
        free(kv[i].col);
        free(kv[i].val);
    }
    free(kv);
}

int w2k_keyspec_parse(const char *spec, w2k_keyval_t **kv, int *n, char *why, size_t whysz)
{
    w2k_keyval_t *v = NULL;
    int cnt = 0;
    const char *p = spec;
    *kv = NULL;
    *n = 0;
    for (;;) {
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!eq || (comma && comma < eq) || eq == p) {
            w2k_keyspec_free(v, cnt);
            return why_set(why, whysz, "expected col=value[,col=value...]");
        }
        w2k_keyval_t *nv = realloc(v, (size_t)(cnt + 1) * sizeof *nv);
        if (!nv) {
            w2k_keyspec_free(v, cnt);
            return why_set(why, whysz, "out of memory");
        }
        v = nv;
        v[cnt].col = strndup(p, (size_t)(eq - p));
        v[cnt].val = NULL;
        cnt++;
        p = eq + 1;
        w2k_buf_t val = W2K_BUF_INIT;
        if (*p == '"') {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                    p++;
                w2k_buf_putc(&val, *p++);
            }
            if (*p != '"') {
                w2k_buf_free(&val);
                w2k_keyspec_free(v, cnt);
                return why_set(why, whysz, "unterminated quoted value");
            }
            p++;
            if (*p && *p != ',') {
                w2k_buf_free(&val);
                w2k_keyspec_free(v, cnt);
                return why_set(why, whysz, "expected ',' after a quoted value");
            }
        } else {
            const char *e = strchr(p, ',');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            w2k_buf_append(&val, p, l);
            p += l;
        }
        v[cnt - 1].val = val.data ? val.data : strdup("");
        if (!v[cnt - 1].col || !v[cnt - 1].val) {
            w2k_keyspec_free(v, cnt);
            return why_set(why, whysz, "out of memory");
        }
        if (*p == '\0')
            break;
        p++; /* ',' */
    }
    for (int i = 0; i < cnt; i++)
        for (int k = 0; k < i; k++)
            if (strcmp(v[i].col, v[k].col) == 0) {
                snprintf(why, whysz, "column %s given twice", v[i].col);
                w2k_keyspec_free(v, cnt);
                return -1;
            }
    *kv = v;
    *n = cnt;
    return 0;
}

/* ---- the key, as the producer builds it ---- */

/* The PostgreSQL mapping a key field's Avro type stands for (schemas/README.md, read
 * backwards): enough for w2k_coltype_set() to convert text exactly as the producer. */
static int scalar_of(const w2k_avnode_t *n, w2k_avscalar_t *t)
{
    memset(t, 0, sizeof *t);
    switch (n->type) {
    case W2K_AVT_BOOLEAN:
        t->kind = W2K_AV_BOOLEAN;
        t->oid = W2K_OID_BOOL;
        return 0;
    case W2K_AVT_INT:
        t->kind = n->logical == W2K_AVL_DATE ? W2K_AV_DATE : W2K_AV_INT;
        t->oid = n->logical == W2K_AVL_DATE ? W2K_OID_DATE : W2K_OID_INT4;
        if (n->logical == W2K_AVL_TIME_MILLIS) {
            t->kind = W2K_AV_TIME_MILLIS;
            t->oid = W2K_OID_TIME;
        }
        return 0;
    case W2K_AVT_LONG:
        switch (n->logical) {
        case W2K_AVL_TIME_MICROS:
            t->kind = W2K_AV_TIME_MICROS;
            t->oid = W2K_OID_TIME;
            break;
        case W2K_AVL_TIMESTAMP_MICROS:
            t->kind = W2K_AV_TIMESTAMP_MICROS;
            t->oid = W2K_OID_TIMESTAMPTZ;
            break;
        case W2K_AVL_LOCAL_TIMESTAMP_MICROS:
            t->kind = W2K_AV_LOCAL_TIMESTAMP_MICROS;
            t->oid = W2K_OID_TIMESTAMP;
            break;
        case W2K_AVL_TIMESTAMP_MILLIS:
            t->kind = W2K_AV_TIMESTAMP_MILLIS;
            t->oid = W2K_OID_TIMESTAMPTZ;
            break;
        case W2K_AVL_LOCAL_TIMESTAMP_MILLIS:
            t->kind = W2K_AV_LOCAL_TIMESTAMP_MILLIS;
            t->oid = W2K_OID_TIMESTAMP;
            break;
        default:
            t->kind = W2K_AV_LONG;
            t->oid = W2K_OID_INT8;
        }
        return 0;
    case W2K_AVT_FLOAT:
        t->kind = W2K_AV_FLOAT;
        t->oid = W2K_OID_FLOAT4;
        return 0;
    case W2K_AVT_DOUBLE:
        t->kind = W2K_AV_DOUBLE;
        t->oid = W2K_OID_FLOAT8;
        return 0;
    case W2K_AVT_STRING:
        t->kind = n->logical == W2K_AVL_UUID ? W2K_AV_UUID : W2K_AV_STRING;
        t->oid = n->logical == W2K_AVL_UUID ? W2K_OID_UUID : W2K_OID_TEXT;
        return 0;
    case W2K_AVT_BYTES:
        if (n->logical == W2K_AVL_DECIMAL) {
            t->kind = W2K_AV_DECIMAL;
            t->oid = W2K_OID_NUMERIC;
            t->precision = n->precision;
            t->scale = n->scale;
        } else {
            t->kind = W2K_AV_BYTES;
            t->oid = W2K_OID_BYTEA;
        }
        return 0;
    case W2K_AVT_RECORD:
        if (n->logical == W2K_AVL_INTERVAL) {
            t->kind = W2K_AV_INTERVAL;
            t->oid = W2K_OID_INTERVAL;
            return 0;
        }
        if (n->logical == W2K_AVL_VARDECIMAL) {
            t->kind = W2K_AV_VARDECIMAL;
            t->oid = W2K_OID_NUMERIC;
            return 0;
        }
        return -1;
    default:
        return -1;
    }
}

/* The column type of a key field: the value type, or [value, "string"] (types with
 * special values, and arrays). */
static int coltype_of(const w2k_avnode_t *f, w2k_coltype_t *ct)
{
    memset(ct, 0, sizeof *ct);
    const w2k_avnode_t *v = f;
    bool str_branch = false;
    if (f->type == W2K_AVT_UNION) {
        /* "string" before wal2kafka.SpecialValue and wal2kafka.ArrayText */
        if (f->n != 2 ||
            (f->sub[1]->type != W2K_AVT_STRING && f->sub[1]->logical != W2K_AVL_SPECIAL_VALUE &&
             f->sub[1]->logical != W2K_AVL_ARRAY_TEXT))
            return -1;
        v = f->sub[0];
        str_branch = true;
    }
    if (v->type == W2K_AVT_ARRAY) {
        const w2k_avnode_t *items = v->sub[0];
        if (!str_branch || items->type != W2K_AVT_UNION || items->n < 2 ||
            items->sub[0]->type != W2K_AVT_NULL)
            return -1;
        if (scalar_of(items->sub[1], &ct->t) != 0)
            return -1;
        ct->t.special = items->n == 3;
        ct->is_array = true;
        ct->varlena = true;
        return 0;
    }
    if (scalar_of(v, &ct->t) != 0)
        return -1;
    ct->t.special = str_branch;
    return 0;
}

static const w2k_keyval_t *kv_for(const char *field, const w2k_keyval_t *kv, int n)
{
    for (int i = 0; i < n; i++) {
        char an[256];
        w2k_names_avro(kv[i].col, an, sizeof an);
        if (strcmp(kv[i].col, field) == 0 || strcmp(an, field) == 0)
            return &kv[i];
    }
    return NULL;
}

/* The key columns of a key record, "a, b". */
static void field_list(const w2k_avnode_t *rec, char *out, size_t outsz)
{
    out[0] = '\0';
    for (int i = 0; i < rec->n; i++) {
        strncat(out, i ? ", " : "", outsz - strlen(out) - 1);
        strncat(out, rec->names[i], outsz - strlen(out) - 1);
    }
}

int w2k_hist_key_body(const char *schema_json, const w2k_keyval_t *kv, int n, w2k_buf_t *body,
                      w2k_err_t *err)
{
    w2k_avschema_t *sch = w2k_avschema_parse(schema_json, strlen(schema_json), err);
    if (!sch)
        return -1;
    const w2k_avnode_t *rec = w2k_avschema_root(sch);
    avro_schema_t as = NULL;
    avro_value_iface_t *iface = NULL;
    avro_value_t v;
    bool have_value = false;
    avro_writer_t w = NULL;
    w2k_buf_t scratch = W2K_BUF_INIT;
    char cols[512];
    int rc = -1;
    if (rec->type != W2K_AVT_RECORD) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "the key schema is not a record");
        goto out;
    }
    field_list(rec, cols, sizeof cols);
    for (int i = 0; i < n; i++) {
        bool found = false;
        for (int k = 0; k < rec->n && !found; k++)
            found = kv_for(rec->names[k], &kv[i], 1) != NULL;
        if (!found) {
            w2k_err_set(err, W2K_EXIT_USAGE, "--key: %s is not a key column (the key is: %s)",
                        kv[i].col, cols);
            w2k_err_hint(err, "give every key column once: --key %s=...%s", rec->names[0],
                         rec->n > 1 ? ",..." : "");
            goto out;
        }
    }
    if (avro_schema_from_json_length(schema_json, strlen(schema_json), &as) != 0 ||
        !(iface = avro_generic_class_from_schema(as)) || avro_generic_value_new(iface, &v) != 0) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "avro-c cannot use the key schema: %s", avro_strerror());
        goto out;
    }
    have_value = true;
    for (int k = 0; k < rec->n; k++) {
        const w2k_keyval_t *x = kv_for(rec->names[k], kv, n);
        w2k_coltype_t ct;
        avro_value_t fv;
        char why[512];
        if (!x) {
            w2k_err_set(err, W2K_EXIT_USAGE, "--key: no value for key column %s (the key is: %s)",
                        rec->names[k], cols);
            w2k_err_hint(err, "give every key column: --key col=value[,col=value]");
            goto out;
        }
        if (coltype_of(rec->sub[k], &ct) != 0) {
            w2k_err_set(err, W2K_EXIT_KAFKA,
                        "key column %s has an Avro type wal2kafka does not write for keys",
                        rec->names[k]);
            goto out;
        }
        if (avro_value_get_by_index(&v, (size_t)k, &fv, NULL) != 0 ||
            w2k_coltype_set(&ct, 0, &fv, 't', x->val, strlen(x->val), &scratch, why, sizeof why) !=
                0) {
            w2k_err_set(err, W2K_EXIT_USAGE, "--key %s=%s: %s", x->col, x->val, why);
            w2k_err_hint(err, "write the value as PostgreSQL prints it in a session with "
                              "DateStyle=ISO and TimeZone=UTC, e.g. 42, abc, 2024-05-01, "
                              "2024-05-01 12:00:00+00, 1234.50");
            goto out;
        }
    }
    for (size_t cap = 256;; cap *= 2) {
        w2k_buf_reset(body);
        if (w2k_buf_reserve(body, cap) != 0) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            goto out;
        }
        if (!w)
            w = avro_writer_memory(body->data, (int64_t)cap);
        else
            avro_writer_memory_set_dest(w, body->data, (int64_t)cap);
        int wr = avro_value_write(w, &v);
        if (wr == 0) {
            body->len = (size_t)avro_writer_tell(w);
            break;
        }
        if (wr != ENOSPC) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "Avro encoding of the key failed: %s",
                        avro_strerror());
            goto out;
        }
    }
    rc = 0;
out:
    if (w)
        avro_writer_free(w);
    if (have_value)
        avro_value_decref(&v);
    if (iface)
        avro_value_iface_decref(iface);
    if (as)
        avro_schema_decref(as);
    w2k_buf_free(&scratch);
    w2k_avschema_destroy(sch);
    return rc;
}

int32_t w2k_hist_partition(const rd_kafka_topic_t *rkt, const char *partitioner, const void *key,
                           size_t len, int32_t cnt)
{
    static const struct {
        const char *name;
        int32_t (*fn)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *, void *);
    } fns[] = {{"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
               {"murmur2", rd_kafka_msg_partitioner_murmur2},
               {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
               {"consistent", rd_kafka_msg_partitioner_consistent},
               {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
               {"fnv1a", rd_kafka_msg_partitioner_fnv1a}};
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (!partitioner || strcmp(partitioner, fns[i].name) == 0)
            return fns[i].fn(rkt, key, len, cnt, NULL, NULL);
    return -1;
}

/* ---- Kafka ---- */

typedef struct kpart_s {
    int32_t id;
    int64_t lo, hi;      /* log start offset, end offset (read_committed: stable end) */
    int64_t start, stop; /* read [start, stop) */
    bool done, got_first;
    int64_t first_offset, first_ts;
    int64_t nread;
} kpart_t;

typedef int(msg_cb)(void *arg, const rd_kafka_message_t *m);

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* configuration warnings (producer properties of the shared kafka.properties) are
     * expected for this consumer */
    w2k_log_kafka(level <= 3 && strcmp(fac, "CONFWARN") != 0 ? W2K_LOG_WARN : W2K_LOG_DEBUG, fac,
                  buf);
}

static rd_kafka_t *consumer_new(const w2k_config_t *cfg, const char **partitioner, w2k_err_t *err)
{
    static const char *const fixed[][2] = {
        {"client.id", "wal2kafka-history"}, {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},  {"fetch.wait.max.ms", "20"},
        {"log.connection.close", "false"},  {NULL, NULL}};
    *partitioner = w2k_config_kafka_prop(cfg, "partitioner");
    rd_kafka_conf_t *conf = w2k_kconsumer_conf(cfg, "wal2kafka-history", fixed, err);
    if (!conf)
        return NULL;
    rd_kafka_conf_set_log_cb(conf, on_log);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot create a Kafka consumer: %s", errstr);
        w2k_err_hint(err, "check the kafka group of the configuration");
        return NULL;
    }
    return rk;
}

static void kafka_err(w2k_err_t *err, rd_kafka_resp_err_t e, const char *what, const char *topic,
                      const char *bootstrap)
{
    w2k_err_set(err, W2K_EXIT_KAFKA, "%s %s: %s", what, topic, rd_kafka_err2str(e));
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        w2k_err_hint(err, "the topic does not exist: was the table streamed with this "
                          "configuration (topic_prefix)? `wal2kafka run` creates it with the "
                          "table's first change");
    else if (e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED)
        w2k_err_hint(err, "grant this principal READ and DESCRIBE on the topic");
    else
        w2k_err_hint(err, "check that the brokers at %s are up and reachable", bootstrap);
}

/* The number of partitions of topic; 0 when it does not exist. */
static int partition_count(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const char *bootstrap,
                           int32_t *cnt, w2k_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, KAFKA_TIMEOUT_MS);
    if (e) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot reach Kafka at %s: %s", bootstrap,
                    rd_kafka_err2str(e));
        w2k_err_hint(err, "check kafka.bootstrap_servers and that the brokers are running and "
                          "reachable from this host (and the security settings in "
                          "kafka.properties)");
        return -1;
    }
    *cnt = 0;
    if (md->topic_cnt == 1 && !md->topics[0].err)
        *cnt = md->topics[0].partition_cnt;
    else if (md->topic_cnt == 1 && md->topics[0].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        kafka_err(err, md->topics[0].err, "cannot describe topic", rd_kafka_topic_name(rkt),
                  bootstrap);
        rd_kafka_metadata_destroy(md);
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Look up an offset per partition for each timestamp in ts[i] (-2 earliest, -1 end). */
static int offsets_for(rd_kafka_t *rk, const char *topic, kpart_t *parts, int n, const int64_t *ts,
                       int64_t *out, w2k_err_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(l, topic, parts[i].id)->offset = ts[i];
    rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(rk, l, KAFKA_TIMEOUT_MS);
    for (int i = 0; !e && i < n; i++) {
        const rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(l, topic, parts[i].id);
        if (!tp || tp->err) {
            e = tp ? tp->err : RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
            break;
        }
        out[i] = tp->offset;
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        kafka_err(err, e, "cannot look up offsets of", topic, "the configured bootstrap servers");
        return -1;
    }
    return 0;
}

/* The log start and end offsets of each partition. */
static int watermarks(rd_kafka_t *rk, const char *topic, kpart_t *parts, int n, w2k_err_t *err)
{
    int64_t *ts = malloc((size_t)n * sizeof *ts * 2);
    if (!ts) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    int64_t *res = ts + n;
    int rc = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (int i = 0; i < n; i++)
            ts[i] = pass == 0 ? RD_KAFKA_OFFSET_BEGINNING : RD_KAFKA_OFFSET_END;
        rc = offsets_for(rk, topic, parts, n, ts, res, err);
        for (int i = 0; rc == 0 && i < n; i++) {
            if (pass == 0)
                parts[i].lo = res[i];
            else
                parts[i].hi = res[i];
        }
    }
    free(ts);
    return rc;
}

/* Read [start, stop) of each partition, handing every message to cb. */
static int read_parts(rd_kafka_t *rk, const char *topic, kpart_t *parts, int n, msg_cb *cb,
                      void *arg, w2k_err_t *err)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int left = 0, rc = 0;
    int32_t maxid = 0;
    for (int i = 0; i < n; i++) {
        kpart_t *p = &parts[i];
        p->done = p->start >= p->stop;
        if (p->id > maxid)
            maxid = p->id;
        if (!p->done) {
            rd_kafka_topic_partition_list_add(l, topic, p->id)->offset = p->start;
            left++;
        }
    }
    kpart_t **by_id = calloc((size_t)maxid + 1, sizeof *by_id);
    if (!by_id) {
        rd_kafka_topic_partition_list_destroy(l);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        by_id[parts[i].id] = &parts[i];
    if (left == 0)
        goto out;
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
    if (e) {
        kafka_err(err, e, "cannot read topic", topic, "the configured bootstrap servers");
        rc = -1;
        goto out;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[1024];
    int64_t idle_since = w2k_clock_mono_us();
    while (left > 0 && rc == 0) {
        /* drain what is queued; when nothing is, wait for the next message */
        ssize_t cnt = rd_kafka_consume_batch_queue(q, 0, msgs, 1024);
        if (cnt <= 0 && (msgs[0] = rd_kafka_consume_queue(q, 100)) != NULL)
            cnt = 1;
        if (cnt <= 0) {
            if (w2k_clock_mono_us() - idle_since > (int64_t)KAFKA_TIMEOUT_MS * 2000) {
                w2k_err_set(err, W2K_EXIT_KAFKA,
                            "reading topic %s: no message and no end of partition for %d s", topic,
                            KAFKA_TIMEOUT_MS * 2 / 1000);
                w2k_err_hint(err, "check that the brokers are up and the partitions have a "
                                  "leader (kafka-topics --describe)");
                rc = -1;
            }
            continue;
        }
        idle_since = w2k_clock_mono_us();
        for (ssize_t i = 0; i < cnt; i++) {
            rd_kafka_message_t *m = msgs[i];
            kpart_t *p = m->partition >= 0 && m->partition <= maxid ? by_id[m->partition] : NULL;
            if (rc != 0 || !p || p->done ||
                (m->rkt && strcmp(rd_kafka_topic_name(m->rkt), topic) != 0)) {
                rd_kafka_message_destroy(m);
                continue;
            }
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                p->done = true;
                left--;
            } else if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                    m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
                    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
                    m->err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
                    m->err == RD_KAFKA_RESP_ERR__FATAL) {
                    kafka_err(err, m->err, "reading topic", topic,
                              "the configured bootstrap servers");
                    rc = -1;
                } else { /* transient: librdkafka retries; a lasting outage ends in the
                          * idle timeout above */
                    w2k_warn_hint(w2k_log_kafka_hint("FETCH", rd_kafka_err2str(m->err)),
                                  "reading topic %s: %s (retrying)", topic,
                                  rd_kafka_err2str(m->err));
                }
            } else if (m->offset >= p->stop) {
                p->done = true;
                left--;
            } else {
                if (!p->got_first) {
                    p->got_first = true;
                    p->first_offset = m->offset;
                    p->first_ts = rd_kafka_message_timestamp(m, NULL);
                }
                p->nread++;
                if (cb(arg, m) != 0)
                    rc = -1;
                if (m->offset >= p->stop - 1) {
                    p->done = true;
                    left--;
                }
            }
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_assign(rk, NULL);
out:
    free(by_id);
    rd_kafka_topic_partition_list_destroy(l);
    return rc;
}

/* cleanup.policy and min.compaction.lag.ms of a topic (DescribeConfigs). */
static int topic_config(rd_kafka_t *rk, const char *topic, char *policy, size_t policysz,
                        int64_t *lag_ms, w2k_err_t *err)
{
    char errstr[256];
    int rc = -1;
    rd_kafka_ConfigResource_t *cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    rd_kafka_AdminOptions_set_request_timeout(opt, KAFKA_TIMEOUT_MS, errstr, sizeof errstr);
    rd_kafka_DescribeConfigs(rk, &cr, 1, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, KAFKA_TIMEOUT_MS + 5000);
    if (!ev || rd_kafka_event_error(ev)) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the configuration of topic %s: %s", topic,
                    ev ? rd_kafka_event_error_string(ev) : "no answer");
        w2k_err_hint(err, "grant this principal DESCRIBE_CONFIGS on the topic");
        goto out;
    }
    size_t nres, ncfg;
    const rd_kafka_ConfigResource_t **res =
        rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
    if (nres < 1 || rd_kafka_ConfigResource_error(res[0])) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the configuration of topic %s: %s", topic,
                    nres ? rd_kafka_ConfigResource_error_string(res[0]) : "no result");
        w2k_err_hint(err, "grant this principal DESCRIBE_CONFIGS on the topic");
        goto out;
    }
    const rd_kafka_ConfigEntry_t **ents = rd_kafka_ConfigResource_configs(res[0], &ncfg);
    for (size_t i = 0; i < ncfg; i++) {
        const char *name = rd_kafka_ConfigEntry_name(ents[i]);
        const char *val = rd_kafka_ConfigEntry_value(ents[i]);
        if (!val)
            continue;
        if (strcmp(name, "cleanup.policy") == 0)
            snprintf(policy, policysz, "%s", val);
        else if (strcmp(name, "min.compaction.lag.ms") == 0)
            *lag_ms = strtoll(val, NULL, 10);
    }
    rc = 0;
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_ConfigResource_destroy(cr);
    return rc;
}

/* ---- the run ---- */

typedef struct body_s {
    uint8_t *data;
    size_t len;
} body_t;

typedef struct run_s {
    const w2k_config_t *cfg;
    const w2k_history_opts_t *o;
    char schema[256], table[256];
    char topic[600], schemas_topic[300], ns[800];
    const char *prefix;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    const char *partitioner;
    int32_t nparts;
    w2k_hschemas_t *schemas;
    w2k_keyval_t *kv;
    int nkv;
    body_t bodies[MAX_KEY_SCHEMAS]; /* the key's Avro body under each key schema */
    int nbodies;
    uint8_t *userkey; /* the key as the newest key schema makes it (for messages) */
    size_t userkeylen;
    bool want_part[4096];
    w2k_hist_t *hist;
    w2k_hfold_t *fold;
    w2k_err_t *err;
    int64_t schema_order;
    uint64_t matched;
    uint64_t skipped; /* unreadable messages left out */
} run_t;

/* The stream that streams the table, or the one named with --stream. */
static const w2k_stream_cfg_t *stream_for(const w2k_config_t *cfg, const char *name,
                                          const char *schema, const char *table, w2k_err_t *err)
{
    const w2k_stream_cfg_t *found = NULL;
    int nfound = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        const w2k_stream_cfg_t *sc = &cfg->streams[i];
        if (name) {
            if (strcmp(sc->name, name) == 0)
                return sc;
            continue;
        }
        for (int t = 0; t < sc->ntables; t++) {
            if (w2k_glob_match(sc->tables[t].schema, schema) &&
                w2k_glob_match(sc->tables[t].name, table)) {
                if (found != sc)
                    nfound++;
                found = sc;
                break;
            }
        }
    }
    if (name) {
        w2k_err_set(err, W2K_EXIT_USAGE, "no stream named \"%s\" in %s", name, cfg->path);
        return NULL;
    }
    if (nfound == 1)
        return found;
    if (nfound == 0 && cfg->nstreams == 1)
        return &cfg->streams[0];
    w2k_err_set(err, W2K_EXIT_USAGE,
                nfound ? "table %s.%s is streamed by several streams"
                       : "table %s.%s is not among the tables of any stream in %s",
                schema, table, cfg->path);
    w2k_err_hint(err, "name the stream whose topics to read with --stream NAME");
    return NULL;
}

static void make_names(run_t *r)
{
    w2k_names_topic(r->prefix, r->schema, r->table, r->topic, sizeof r->topic);
    snprintf(r->schemas_topic, sizeof r->schemas_topic, "%s.schemas", r->prefix);
    /* namespace: each prefix part, the schema and the table made valid Avro names */
    char buf[256], part[256];
    snprintf(buf, sizeof buf, "%s", r->prefix);
    r->ns[0] = '\0';
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        w2k_names_avro(tok, part, sizeof part);
        strncat(r->ns, r->ns[0] ? "." : "", sizeof r->ns - strlen(r->ns) - 1);
        strncat(r->ns, part, sizeof r->ns - strlen(r->ns) - 1);
    }
    w2k_names_avro(r->schema, part, sizeof part);
    strncat(r->ns, ".", sizeof r->ns - strlen(r->ns) - 1);
    strncat(r->ns, part, sizeof r->ns - strlen(r->ns) - 1);
    w2k_names_avro(r->table, part, sizeof part);
    strncat(r->ns, ".", sizeof r->ns - strlen(r->ns) - 1);
    strncat(r->ns, part, sizeof r->ns - strlen(r->ns) - 1);
}

static int on_schema_msg(void *arg, const rd_kafka_message_t *m)
{
    run_t *r = arg;
    uint64_t fp;
    if (!m->key || !m->payload || w2k_fp_from_hex(m->key, m->key_len, &fp) != 0)
        return 0;
    if (w2k_hschemas_add(r->schemas, fp, m->payload, m->len, r->schema_order++) != 0) {
        w2k_err_set(r->err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    return 0;
}

/* Every schema of <prefix>.schemas. */
static int load_schemas(run_t *r, w2k_err_t *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->rk, r->schemas_topic, NULL);
    int32_t n = 0;
    int rc = partition_count(r->rk, rkt, r->cfg->kafka_bootstrap, &n, err);
    rd_kafka_topic_destroy(rkt);
    if (rc != 0 || n == 0)
        return rc;
    kpart_t *parts = calloc((size_t)n, sizeof *parts);
    if (!parts) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++)
        parts[i].id = i;
    rc = watermarks(r->rk, r->schemas_topic, parts, n, err);
    for (int i = 0; i < n; i++) {
        parts[i].start = parts[i].lo;
        parts[i].stop = parts[i].hi;
    }
    if (rc == 0)
        rc = read_parts(r->rk, r->schemas_topic, parts, n, on_schema_msg, r, err);
    free(parts);
    return rc;
}

/* Collect key headers from the newest message of each partition (registry framing:
 * the key schema ids in use, which <prefix>.schemas does not list). */
typedef struct peek_s {
    run_t *r;
    uint8_t hdrs[64][W2K_REGISTRY_HEADER_LEN];
    int n;
} peek_t;

static int on_peek_msg(void *arg, const rd_kafka_message_t *m)
{
    peek_t *pk = arg;
    if (!m->key || w2k_hdr_len(m->key, m->key_len) != W2K_REGISTRY_HEADER_LEN || pk->n == 64)
        return 0;
    for (int i = 0; i < pk->n; i++)
        if (memcmp(pk->hdrs[i], m->key, W2K_REGISTRY_HEADER_LEN) == 0)
            return 0;
    memcpy(pk->hdrs[pk->n++], m->key, W2K_REGISTRY_HEADER_LEN);
    return 0;
}

/* The key bytes under each key schema of the table and their partitions. */
static int build_keys(run_t *r, kpart_t *all, w2k_err_t *err)
{
    w2k_hkeyschema_t cands[MAX_KEY_SCHEMAS];
    char fullname[900];
    snprintf(fullname, sizeof fullname, "%s.Key", r->ns);
    int nc = w2k_hschemas_find(r->schemas, fullname, cands, MAX_KEY_SCHEMAS);
    if (r->o->registry || nc == 0) {
        /* registry framing: learn the key schema ids from the newest messages */
        peek_t pk;
        pk.r = r;
        pk.n = 0;
        kpart_t *parts = calloc((size_t)r->nparts, sizeof *parts);
        if (!parts) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        for (int i = 0; i < r->nparts; i++) {
            parts[i] = all[i];
            parts[i].start = all[i].hi > all[i].lo ? all[i].hi - 1 : all[i].hi;
            parts[i].stop = all[i].hi;
        }
        int rc = read_parts(r->rk, r->topic, parts, r->nparts, on_peek_msg, &pk, err);
        free(parts);
        if (rc != 0)
            return -1;
        for (int i = 0; i < pk.n && nc < MAX_KEY_SCHEMAS; i++) {
            if (w2k_hschemas_lookup(r->schemas, pk.hdrs[i], W2K_REGISTRY_HEADER_LEN, &cands[nc],
                                    err) != 0)
                return -1;
            if (cands[nc].root->type == W2K_AVT_RECORD)
                nc++;
        }
    }
    if (nc == 0) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "no key schema of table %s.%s (record %s) in %s%s",
                    r->schema, r->table, fullname, r->schemas_topic,
                    r->o->registry ? " nor in the schema registry" : "");
        w2k_err_hint(err, "has the table been streamed with this configuration? A table "
                          "without a primary key (or replica identity index) has no key to "
                          "look up: use `state` without --key");
        return -1;
    }
    int used = 0;
    for (int c = 0; c < nc; c++) {
        w2k_buf_t body = W2K_BUF_INIT;
        w2k_err_t e;
        if (w2k_hist_key_body(cands[c].json, r->kv, r->nkv, &body, &e) != 0) {
            w2k_buf_free(&body);
            if (c == 0) { /* the newest key schema must take the key */
                *err = e;
                return -1;
            }
            continue; /* an older key shape (a key changed by DDL) */
        }
        /* the same body under several schemas is the same key */
        bool dup = false;
        for (int b = 0; b < r->nbodies && !dup; b++)
            dup =
                r->bodies[b].len == body.len && memcmp(r->bodies[b].data, body.data, body.len) == 0;
        uint8_t *key = malloc(cands[c].hdrlen + body.len);
        if (!key) {
            w2k_buf_free(&body);
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        memcpy(key, cands[c].hdr, cands[c].hdrlen);
        memcpy(key + cands[c].hdrlen, body.data, body.len);
        int32_t p =
            w2k_hist_partition(r->rkt, r->partitioner, key, cands[c].hdrlen + body.len, r->nparts);
        if (p >= 0 && p < (int32_t)(sizeof r->want_part / sizeof r->want_part[0]))
            r->want_part[p] = true;
        if (!r->userkey) {
            r->userkey = key;
            r->userkeylen = cands[c].hdrlen + body.len;
        } else {
            free(key);
        }
        w2k_debug("key schema %d: partition %d", c, (int)p);
        if (!dup && r->nbodies < MAX_KEY_SCHEMAS) {
            r->bodies[r->nbodies].data = (uint8_t *)body.data;
            r->bodies[r->nbodies++].len = body.len;
            body.data = NULL;
        }
        w2k_buf_free(&body);
        used++;
    }
    return used > 0 ? 0 : -1;
}

static bool key_matches(const run_t *r, const void *key, size_t len)
{
    size_t hl = w2k_hdr_len(key, len);
    const uint8_t *body = (const uint8_t *)key + hl;
    size_t bl = len - hl;
    for (int b = 0; b < r->nbodies; b++)
        if (r->bodies[b].len == bl && memcmp(r->bodies[b].data, body, bl) == 0)
            return true;
    return false;
}

static int on_table_msg(void *arg, const rd_kafka_message_t *m)
{
    run_t *r = arg;
    if (!m->key)
        return 0;
    if (r->nbodies && !key_matches(r, m->key, m->key_len))
        return 0;
    r->matched++;
    w2k_hmsg_t hm = {m->key,
                     m->key_len,
                     m->payload,
                     m->len,
                     m->partition,
                     m->offset,
                     rd_kafka_message_timestamp(m, NULL)};
    w2k_err_t merr;
    w2k_err_clear(&merr);
    int rc = r->hist ? w2k_hist_add(r->hist, &hm, &merr) : w2k_hfold_add(r->fold, &hm, &merr);
    if (rc == 0)
        return 0;
    if (merr.code == W2K_EXIT_RUNTIME) { /* out of memory */
        *r->err = merr;
        return -1;
    }
    /* not ours (another producer's bytes, truncated, unknown schema): skip it, say where */
    if (++r->skipped <= 10)
        fprintf(stderr,
                "warning: skipped an unreadable message on %s partition %" PRId32 " offset %" PRId64
                ": %s\n",
                r->topic, m->partition, m->offset, merr.msg);
    return 0;
}

static void put_time(int64_t us, char *out, size_t outsz)
{
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_hist_time(us, false, &b);
    snprintf(out, outsz, "%s", b.data ? b.data : "?");
    w2k_buf_free(&b);
}

static void put_span(int64_t ms, char *out, size_t outsz)
{
    if (ms % 86400000 == 0)
        snprintf(out, outsz, "%lld d", (long long)(ms / 86400000));
    else if (ms % 3600000 == 0)
        snprintf(out, outsz, "%lld h", (long long)(ms / 3600000));
    else if (ms % 1000 == 0)
        snprintf(out, outsz, "%lld s", (long long)(ms / 1000));
    else
        snprintf(out, outsz, "%lld ms", (long long)ms);
}

/* The earliest time whose state the partitions read can give exactly (INT64_MIN: any,
 * INT64_MAX: none). A compacted topic may have merged every change older than
 * min.compaction.lag.ms into the next change of its key — unless the partition never
 * held anything that old (its first message is still at offset 0 and younger). */
static int64_t exact_from(const kpart_t *parts, int n, bool compact, int64_t lag_ms, int64_t now_us)
{
    int64_t from = INT64_MIN, horizon = now_us - lag_ms * 1000;
    for (int i = 0; i < n; i++) {
        const kpart_t *p = &parts[i];
        if (p->hi <= p->lo)
            continue;
        if (p->lo > 0) /* retention (or DeleteRecords) removed its oldest messages */
            return INT64_MAX;
        if (compact) {
            bool untouched =
                p->lo == 0 && p->got_first && p->first_offset == 0 && p->first_ts * 1000 >= horizon;
            if (!untouched && horizon > from)
                from = horizon;
        }
    }
    return from;
}

/* Where to start and stop reading each partition: the broker's time index gives the first
 * offset of --since and the first offset after --until / --at. */
static int plan_reads(run_t *r, kpart_t *parts, int n, int64_t since, int64_t last_us, int64_t now,
                      w2k_err_t *err)
{
    int64_t *ts = calloc((size_t)n * 2 + 1, sizeof *ts), *res = ts ? ts + n : NULL;
    int rc = 0;
    if (!ts) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        parts[i].start = parts[i].lo;
        parts[i].stop = parts[i].hi;
    }
    if (since != INT64_MIN && since > 0) {
        for (int i = 0; i < n; i++)
            ts[i] = since / 1000;
        if ((rc = offsets_for(r->rk, r->topic, parts, n, ts, res, err)) == 0)
            for (int i = 0; i < n; i++)
                parts[i].start = res[i] < 0 ? parts[i].hi : res[i];
    }
    if (rc == 0 && last_us != INT64_MAX && last_us >= 0 && last_us / 1000 + 1 <= now / 1000) {
        for (int i = 0; i < n; i++)
            ts[i] = last_us / 1000 + 1;
        if ((rc = offsets_for(r->rk, r->topic, parts, n, ts, res, err)) == 0)
            for (int i = 0; i < n; i++)
                if (res[i] >= 0 && res[i] < parts[i].stop)
                    parts[i].stop = res[i];
    }
    free(ts);
    return rc;
}

/* state: refuse (W2K_EXIT_INEXACT) a time before what the topic holds exactly. */
static int check_exact(const run_t *r, const kpart_t *parts, int n, const char *policy,
                       int64_t lag_ms, int64_t at, int64_t now, w2k_err_t *err)
{
    char tbuf[64], hbuf[64], span[32];
    int64_t from = exact_from(parts, n, strstr(policy, "compact") != NULL, lag_ms, now);
    if (at >= from)
        return 0;
    put_time(at, tbuf, sizeof tbuf);
    put_span(lag_ms, span, sizeof span);
    if (from == INT64_MAX) {
        w2k_err_set(err, W2K_EXIT_INEXACT,
                    "cannot give the state of %s.%s at %s exactly: the oldest messages of topic "
                    "%s were deleted (cleanup.policy=%s; the log starts after offset 0)",
                    r->schema, r->table, tbuf, r->topic, policy);
        w2k_err_hint(err, "no time can be answered exactly from this topic: rows whose last "
                          "change was deleted are missing. Table topics need "
                          "cleanup.policy=compact and no retention");
        return -1;
    }
    put_time(from, hbuf, sizeof hbuf);
    w2k_err_set(err, W2K_EXIT_INEXACT,
                "cannot give the state of %s.%s at %s exactly: topic %s is compacted "
                "(cleanup.policy=%s, min.compaction.lag.ms=%lld = %s), so a change older than %s "
                "may already have been merged into the next change of its key",
                r->schema, r->table, tbuf, r->topic, policy, (long long)lag_ms, span, span);
    w2k_err_hint(err,
                 "the earliest time that can be answered exactly is %s (now minus "
                 "min.compaction.lag.ms): ask for --at %s or later",
                 hbuf, hbuf);
    return -1;
}

/* history: warn when the history read reaches back past what compaction or retention may
 * have removed. */
static void warn_incomplete(const run_t *r, const kpart_t *parts, int n, const char *policy,
                            int64_t lag_ms, int64_t since, int64_t now)
{
    char hbuf[64], span[32];
    int64_t horizon = now - lag_ms * 1000;
    bool merged = false, deleted = false;
    for (int i = 0; i < n; i++) {
        merged |=
            strstr(policy, "compact") && parts[i].got_first && parts[i].first_ts * 1000 < horizon;
        deleted |= parts[i].lo > 0 && since == INT64_MIN;
    }
    put_time(horizon, hbuf, sizeof hbuf);
    put_span(lag_ms, span, sizeof span);
    if (merged)
        fprintf(stderr,
                "warning: topic %s is compacted (min.compaction.lag.ms = %s): changes committed "
                "before %s may have been merged into later ones, so the history before then "
                "can be incomplete\n",
                r->topic, span, hbuf);
    if (deleted)
        fprintf(stderr,
                "warning: the oldest messages of topic %s were deleted (cleanup.policy=%s): the "
                "history starts with the oldest message still held\n",
                r->topic, policy);
}

static void write_history(run_t *r, const kpart_t *parts, int n, w2k_hformat_t fmt, int64_t scanned,
                          int64_t t0, FILE *out)
{
    if (n > 1)
        w2k_hist_sort(r->hist);
    if (fmt == W2K_HFORMAT_JSON) {
        w2k_hist_write_json(r->hist, out);
        return;
    }
    w2k_buf_t kj = W2K_BUF_INIT;
    w2k_err_t e;
    if (w2k_hschemas_key_json(r->schemas, r->userkey, r->userkeylen, &kj, &e) != 0)
        w2k_buf_puts(&kj, r->o->key);
    fprintf(out, "%s.%s %s: %d change(s) (topic %s, partition%s", r->schema, r->table,
            kj.data ? kj.data : "", w2k_hist_count(r->hist), r->topic, n > 1 ? "s" : "");
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%d", i ? "," : " ", (int)parts[i].id);
    fprintf(out, "; %lld messages read in %.2f s)\n", (long long)scanned,
            (double)(w2k_clock_mono_us() - t0) / 1e6);
    w2k_buf_free(&kj);
    w2k_hist_write_table(r->hist, out);
}

static int write_state(run_t *r, w2k_hformat_t fmt, int64_t at, int64_t scanned, int64_t t0,
                       FILE *out, w2k_err_t *err)
{
    char tbuf[64];
    int rc = 0;
    put_time(at, tbuf, sizeof tbuf);
    bool unseen = r->nkv && w2k_hfold_keys(r->fold) == 0;
    w2k_buf_t kj = W2K_BUF_INIT;
    if (unseen && w2k_hschemas_key_json(r->schemas, r->userkey, r->userkeylen, &kj, err) != 0) {
        w2k_buf_free(&kj);
        return -1;
    }
    if (fmt == W2K_HFORMAT_JSON) {
        if (unseen)
            fprintf(out, "{\"key\":%s,\"row\":null}\n", kj.data);
        else
            rc = w2k_hfold_write_json(r->fold, r->nkv > 0, out, err);
    } else {
        w2k_hrow_t *rows = NULL;
        int nrows = unseen ? 0 : w2k_hfold_rows(r->fold, r->nkv > 0, &rows, err), present = 0;
        for (int i = 0; i < nrows; i++)
            present += rows[i].row != NULL;
        if (nrows < 0) {
            rc = -1;
        } else {
            fprintf(out, "%s.%s at %s: %d row(s) (topic %s; %lld messages read in %.2f s)\n",
                    r->schema, r->table, tbuf, present, r->topic, (long long)scanned,
                    (double)(w2k_clock_mono_us() - t0) / 1e6);
            if (r->nkv && present == 0)
                fprintf(out, "no row with key %s at that time%s\n",
                        unseen ? kj.data : rows[0].key_json, unseen ? "" : " (it was deleted)");
            else
                w2k_hrows_write_table(rows, nrows, out);
            w2k_hrows_free(rows, nrows);
        }
    }
    w2k_buf_free(&kj);
    return rc;
}

/* A table without a key has no <ns>.Key schema (single-object framing): state cannot fold it. */
static int check_keyed(const run_t *r, w2k_err_t *err)
{
    w2k_hkeyschema_t ks;
    char fullname[900];
    snprintf(fullname, sizeof fullname, "%s.Key", r->ns);
    if (r->o->registry || w2k_hschemas_find(r->schemas, fullname, &ks, 1) > 0)
        return 0;
    w2k_err_set(err, W2K_EXIT_USAGE, "table %s.%s has no key in topic %s (no %s schema in %s)",
                r->schema, r->table, r->topic, fullname, r->schemas_topic);
    w2k_err_hint(err, "state folds the changes of each key: a table without a primary key (or "
                      "replica identity index) has none; its topic keeps changes for "
                      "keyless_retention_ms only");
    return -1;
}

int w2k_history_run(const w2k_config_t *cfg, const w2k_history_opts_t *o, FILE *out, w2k_err_t *err)
{
    int64_t now = w2k_clock_wall_us(), t0 = w2k_clock_mono_us();
    int64_t since = INT64_MIN, until = INT64_MAX, at = now;
    char why[256];
    run_t *r = calloc(1, sizeof *r);
    kpart_t *parts = NULL;
    int rc = -1;
    if (!r) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    r->cfg = cfg;
    r->o = o;
    r->err = err;
    struct {
        const char *opt, *text;
        int64_t *dst;
    } times[] = {
        {"--since", o->since, &since}, {"--until", o->until, &until}, {"--at", o->at, &at}};
    for (size_t i = 0; i < 3; i++) {
        if (times[i].text && w2k_time_parse(times[i].text, now, times[i].dst, why, sizeof why)) {
            w2k_err_set(err, W2K_EXIT_USAGE, "%s %s: %s", times[i].opt, times[i].text, why);
            goto out;
        }
    }
    if (since > until) {
        w2k_err_set(err, W2K_EXIT_USAGE, "--since %s is after --until %s", o->since, o->until);
        w2k_err_hint(err, "give --since the earlier time");
        goto out;
    }
    /* a moment that has not happened yet (beyond a second of clock slack) is refused:
     * its answer would silently be today's */
    const char *future = o->state && at > now + 1000000       ? "--at"
                         : !o->state && since > now + 1000000 ? "--since"
                                                              : NULL;
    if (future) {
        char nowtext[40];
        time_t secs = (time_t)(now / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(nowtext, sizeof nowtext, "%Y-%m-%dT%H:%M:%SZ", &tm);
        w2k_err_set(err, W2K_EXIT_USAGE, "%s %s: that moment has not happened yet (now is %s)",
                    future, o->state ? o->at : o->since, nowtext);
        w2k_err_hint(err, "%s",
                     o->state ? "leave out --at (or --at now) for the rows as they are now"
                              : "give --since a time in the past, e.g. 1h or "
                                "2024-05-01T14:05; leave it out for the whole history");
        goto out;
    }
    const char *dot = strchr(o->table, '.');
    snprintf(r->schema, sizeof r->schema, "%.*s", dot ? (int)(dot - o->table) : 6,
             dot ? o->table : "public");
    snprintf(r->table, sizeof r->table, "%s", dot ? dot + 1 : o->table);
    const w2k_stream_cfg_t *sc = stream_for(cfg, o->stream, r->schema, r->table, err);
    if (!sc)
        goto out;
    r->prefix = sc->topic_prefix;
    make_names(r);
    if (o->key && w2k_keyspec_parse(o->key, &r->kv, &r->nkv, why, sizeof why) != 0) {
        w2k_err_set(err, W2K_EXIT_USAGE, "--key %s: %s", o->key, why);
        goto out;
    }
    if (!r->nkv && !o->state) {
        w2k_err_set(err, W2K_EXIT_USAGE, "history needs --key col=value[,col=value]");
        goto out;
    }
    w2k_hformat_t fmt = o->format;
    if (fmt == W2K_HFORMAT_AUTO)
        fmt = isatty(fileno(out)) ? W2K_HFORMAT_TABLE : W2K_HFORMAT_JSON;

    /* the topic, its schemas, its partitions and the key's partition */
    if (!(r->rk = consumer_new(cfg, &r->partitioner, err)))
        goto out;
    r->rkt = rd_kafka_topic_new(r->rk, r->topic, NULL);
    if (partition_count(r->rk, r->rkt, cfg->kafka_bootstrap, &r->nparts, err) != 0)
        goto out;
    if (r->nparts == 0) {
        kafka_err(err, RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "cannot read topic", r->topic,
                  cfg->kafka_bootstrap);
        goto out;
    }
    if (!(r->schemas = w2k_hschemas_new(o->registry)) ||
        !(parts = calloc((size_t)r->nparts, sizeof *parts))) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (load_schemas(r, err) != 0)
        goto out;
    w2k_debug("history: schemas read after %.3f s", (double)(w2k_clock_mono_us() - t0) / 1e6);
    for (int i = 0; i < r->nparts; i++)
        parts[i].id = i;
    if (watermarks(r->rk, r->topic, parts, r->nparts, err) != 0)
        goto out;
    if (r->nkv ? build_keys(r, parts, err) != 0 : check_keyed(r, err) != 0)
        goto out;
    int nread = 0;
    for (int i = 0; i < r->nparts; i++)
        if (!r->nkv || (i < (int)(sizeof r->want_part / sizeof r->want_part[0]) && r->want_part[i]))
            parts[nread++] = parts[i];
    if (plan_reads(r, parts, nread, o->state ? INT64_MIN : since, o->state ? at : until, now,
                   err) != 0)
        goto out;
    if (o->state)
        for (int i = 0; i < nread; i++) /* its first message tells whether compaction ran */
            if (parts[i].hi > parts[i].lo && parts[i].stop <= parts[i].lo)
                parts[i].stop = parts[i].lo + 1;
    char policy[64] = "compact";
    int64_t lag_ms = cfg->topic_min_compaction_lag_ms;
    w2k_err_t cerr;
    if (topic_config(r->rk, r->topic, policy, sizeof policy, &lag_ms, &cerr) != 0)
        fprintf(stderr,
                "warning: %s; assuming cleanup.policy=compact, min.compaction.lag.ms=%lld\n",
                cerr.msg, (long long)lag_ms);
    w2k_debug("history: offsets and topic config after %.3f s",
              (double)(w2k_clock_mono_us() - t0) / 1e6);

    /* read and fold */
    if (o->state)
        r->fold = w2k_hfold_new(r->schemas, at);
    else
        r->hist = w2k_hist_new(r->schemas, since, until);
    if (!r->fold && !r->hist) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    if (read_parts(r->rk, r->topic, parts, nread, on_table_msg, r, err) != 0)
        goto out;
    if (r->skipped)
        fprintf(stderr,
                "warning: skipped %" PRIu64 " unreadable message(s) on %s%s; the answer "
                "leaves them out\n",
                r->skipped, r->topic, r->skipped > 10 ? " (the first 10 are listed above)" : "");
    int64_t scanned = 0;
    for (int i = 0; i < nread; i++)
        scanned += parts[i].nread;
    w2k_debug("%s: read %lld messages of %d partition(s), %llu matched, in %.3f s (cpu %.3f s)",
              r->topic, (long long)scanned, nread, (unsigned long long)r->matched,
              (double)(w2k_clock_mono_us() - t0) / 1e6, (double)w2k_clock_cpu_us() / 1e6);

    if (o->state) {
        if (check_exact(r, parts, nread, policy, lag_ms, at, now, err) != 0 ||
            write_state(r, fmt, at, scanned, t0, out, err) != 0)
            goto out;
    } else {
        warn_incomplete(r, parts, nread, policy, lag_ms, since, now);
        write_history(r, parts, nread, fmt, scanned, t0, out);
    }
    fflush(out);
    w2k_debug("history: output written after %.3f s (cpu %.3f s)",
              (double)(w2k_clock_mono_us() - t0) / 1e6, (double)w2k_clock_cpu_us() / 1e6);
    rc = 0;
out:
    free(parts);
    if (r->hist)
        w2k_hist_destroy(r->hist);
    if (r->fold)
        w2k_hfold_destroy(r->fold);
    w2k_hschemas_destroy(r->schemas);
    for (int b = 0; b < r->nbodies; b++)
        free(r->bodies[b].data);
    free(r->userkey);
    w2k_keyspec_free(r->kv, r->nkv);
    if (r->rkt)
        rd_kafka_topic_destroy(r->rkt);
    if (r->rk) {
        rd_kafka_consumer_close(r->rk);
        rd_kafka_destroy(r->rk);
    }
    free(r);
    return rc;
}
