/* test_history.c — history and state without servers: time and --key parsing, the date
 * arithmetic, keys built exactly as the producer builds them, Kafka's murmur2 partitions,
 * Avro → JSON of every logical type (values made by the producer's own conversion), the
 * changes between row images, and the history and state of keys fed with messages made
 * by the producer's encoder, across a schema change. */
#include "avroenc.h"
#include "avrofp.h"
#include "avrojson.h"
#include "histdec.h"
#include "history.h"
#include "pgtypes.h"
#include "unit.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- times ---- */

static void time_parsing(void)
{
    char why[256];
    int64_t us = 0, now = INT64_C(1714564800000000); /* 2024-05-01T12:00:00Z */
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK_INT(w2k_time_parse("now", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now);
    CHECK_INT(w2k_time_parse("2h", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(7200000000));
    CHECK_INT(w2k_time_parse("30m", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(1800000000));
    CHECK_INT(w2k_time_parse("7d", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(7) * 86400000000);
    CHECK_INT(w2k_time_parse("1h30m", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(5400000000));
    CHECK_INT(w2k_time_parse("500ms", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - 500000);
    CHECK_INT(w2k_time_parse("1w", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(604800000000));
    CHECK_INT(w2k_time_parse("@1714564800.5", now, &us, why, sizeof why), 0);
    CHECK_INT(us, INT64_C(1714564800500000));
    CHECK_INT(w2k_time_parse("2024-05-01T12:00:00Z", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now);
    CHECK_INT(w2k_time_parse("2024-05-01 14:00:00.25+02:00", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now + 250000);
    CHECK_INT(w2k_time_parse("2024-05-01T07:30-0430", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now);
    CHECK_INT(w2k_time_parse("2024-05-01T13+01", now, &us, why, sizeof why), -1);
    CHECK_INT(w2k_time_parse("2024-05-01T13:00+01", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now);
    CHECK_INT(w2k_time_parse("2024-05-01 12:00:00.1234567Z", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now + 123456);
    CHECK_INT(w2k_time_parse("1969-12-31T23:59:59.5Z", now, &us, why, sizeof why), 0);
    CHECK_INT(us, -500000);
    /* without a zone: local time */
    CHECK_INT(w2k_time_parse("2024-05-01", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(43200000000));
    setenv("TZ", "XYZ-2", 1); /* POSIX TZ: UTC+2 */
    tzset();
    CHECK_INT(w2k_time_parse("2024-05-01 14:00", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now);
    CHECK_INT(w2k_time_parse("2024-05-01", now, &us, why, sizeof why), 0);
    CHECK_INT(us, now - INT64_C(50400000000));
    setenv("TZ", "UTC", 1);
    tzset();
    /* bad ones */
    const char *bad[] = {"",
                         "yesterday",
                         "2h30",
                         "2024-13-01",
                         "2024-05-01x",
                         "2024-05-01T25:00",
                         "@",
                         "2024-5-1",
                         "2x",
                         "2024-05-01T12:00:00+2:00",
                         "-2h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        CHECK_INT(w2k_time_parse(bad[i], now, &us, why, sizeof why), -1);
        CHECK(why[0] != '\0');
    }
}

/* The date arithmetic history's times share with pgtypes.c. */
static void civil_days(void)
{
    CHECK_INT(w2k_days_from_civil(1970, 1, 1), 0);
    CHECK_INT(w2k_days_from_civil(1969, 12, 31), -1);
    CHECK_INT(w2k_days_from_civil(2000, 1, 1), 10957);
    CHECK_INT(w2k_days_from_civil(2024, 2, 29) + 1, w2k_days_from_civil(2024, 3, 1));
    CHECK_INT(w2k_days_from_civil(1900, 3, 1) - w2k_days_from_civil(1900, 2, 28), 1);
    CHECK_INT(w2k_days_from_civil(0, 1, 1), -719528);        /* 1 BC */
    CHECK_INT(w2k_days_from_civil(-4713, 11, 24), -2440588); /* Julian day 0, 4714 BC */
}

/* ---- --key ---- */

static void keyspec_parsing(void)
{
    char why[256];
    w2k_keyval_t *kv;
    int n;
    CHECK_INT(w2k_keyspec_parse("id=42", &kv, &n, why, sizeof why), 0);
    CHECK_INT(n, 1);
    CHECK_STR(kv[0].col, "id");
    CHECK_STR(kv[0].val, "42");
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("a=x y,b=2024-05-01 12:00:00+00,c=", &kv, &n, why, sizeof why), 0);
    CHECK_INT(n, 3);
    CHECK_STR(kv[0].val, "x y");
    CHECK_STR(kv[1].col, "b");
    CHECK_STR(kv[1].val, "2024-05-01 12:00:00+00");
    CHECK_STR(kv[2].val, "");
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("name=\"a,\\\"b\\\\\",id=1", &kv, &n, why, sizeof why), 0);
    CHECK_INT(n, 2);
    CHECK_STR(kv[0].val, "a,\"b\\");
    CHECK_STR(kv[1].val, "1");
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("k=a=b", &kv, &n, why, sizeof why), 0);
    CHECK_STR(kv[0].val, "a=b");
    w2k_keyspec_free(kv, n);
    const char *bad[] = {"", "id", "=1", "id=1,", "a=1,a=2", "k=\"open", "k=\"x\"y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(w2k_keyspec_parse(bad[i], &kv, &n, why, sizeof why), -1);
}

/* ---- relations and messages made with the producer's code ---- */

typedef struct coldef_s {
    const char *name;
    uint32_t oid;
    int32_t typmod;
} coldef_t;

static w2k_relation_t *relation(const char *table, const coldef_t *cols, int ncols, const int *keys,
                                int nkeys)
{
    w2k_relation_t *rel = w2k_relation_new(ncols);
    rel->relid = 16400;
    strcpy(rel->schema, "public");
    snprintf(rel->name, sizeof rel->name, "%s", table);
    rel->replident = 'd';
    for (int i = 0; i < ncols; i++) {
        w2k_column_t *c = &rel->cols[i];
        snprintf(c->name, sizeof c->name, "%s", cols[i].name);
        c->type_oid = cols[i].oid;
        c->typmod = cols[i].typmod;
        snprintf(c->type_name, sizeof c->type_name, "t%u", cols[i].oid);
        w2k_coltype_from_pg(&c->type, cols[i].oid, cols[i].typmod, 0);
        c->key_pos = -1;
    }
    for (int k = 0; k < nkeys; k++) {
        rel->keycols[k] = keys[k];
        rel->cols[keys[k]].key_pos = k;
    }
    rel->nkeys = nkeys;
    w2k_relation_name_fields(rel);
    return rel;
}

/* A tuple from "t:text" / "n" / "u" strings. */
static void tuple(w2k_pgtuple_t *t, int n, const char *const *vals)
{
    t->ncols = (uint16_t)n;
    for (int i = 0; i < n; i++) {
        const char *v = vals[i];
        t->cols[i].kind = v[0];
        t->cols[i].data = v[0] == 't' ? v + 2 : NULL;
        t->cols[i].len = v[0] == 't' ? (uint32_t)strlen(v + 2) : 0;
    }
}

#define TYPMOD(p, s) ((((p) << 16) | (s)) + 4)

/* ---- keys: the same bytes as the producer ---- */

static void key_bytes(void)
{
    w2k_err_t err;
    static const coldef_t cols[] = {{"name", W2K_OID_TEXT, -1},
                                    {"day", W2K_OID_DATE, -1},
                                    {"amount", W2K_OID_NUMERIC, TYPMOD(10, 2)},
                                    {"at", W2K_OID_TIMESTAMPTZ, -1},
                                    {"u", W2K_OID_UUID, -1},
                                    {"big", W2K_OID_INT8, -1},
                                    {"free", W2K_OID_NUMERIC, -1},
                                    {"span", W2K_OID_INTERVAL, -1},
                                    {"Weird Name", W2K_OID_INT4, -1},
                                    {"other", W2K_OID_TEXT, -1}};
    static const int keys[] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
    w2k_relation_t *rel = relation("k", cols, 10, keys, 9);
    w2k_relavro_t *ra = w2k_relavro_new(rel, "app", &err);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    static const char *const vals[] = {"t:Zoë, \"q\"",
                                       "t:0044-03-15 BC",
                                       "t:-1234.5",
                                       "t:2024-01-15 12:34:56.123456+00",
                                       "t:A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
                                       "t:-9223372036854775808",
                                       "t:-0.001",
                                       "t:P1Y2M3DT4H5M6.5S",
                                       "t:7",
                                       "n"};
    static w2k_pgtuple_t row;
    tuple(&row, 10, vals);
    w2k_buf_t key = W2K_BUF_INIT, body = W2K_BUF_INIT;
    CHECK_INT(w2k_avroenc_key(enc, ra, rel, &row, NULL, &key, &err), 0);
    w2k_keyval_t *kv;
    int n;
    char why[256];
    CHECK_INT(w2k_keyspec_parse("name=\"Zoë, \\\"q\\\"\",day=0044-03-15 BC,amount=-1234.5,"
                                "at=2024-01-15 12:34:56.123456+00,"
                                "u=A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,"
                                "big=-9223372036854775808,free=-0.001,span=P1Y2M3DT4H5M6.5S,"
                                "Weird Name=7",
                                &kv, &n, why, sizeof why),
              0);
    const w2k_schema_t *ks = w2k_relavro_key_schema(ra);
    CHECK_INT(w2k_hist_key_body(ks->json, kv, n, &body, &err), 0);
    CHECK(key.len > W2K_SOE_HEADER_LEN);
    CHECK_MEM(body.data, body.len, key.data + W2K_SOE_HEADER_LEN, key.len - W2K_SOE_HEADER_LEN);
    /* the field name (Weird_x20Name) works as well as the column name */
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("name=\"Zoë, \\\"q\\\"\",day=0044-03-15 BC,amount=-1234.50,"
                                "at=2024-01-15 12:34:56.123456+00,"
                                "u=a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11,"
                                "big=-9223372036854775808,free=-0.001,span=P1Y2M3DT4H5M6.5S,"
                                "Weird_x20Name=7",
                                &kv, &n, why, sizeof why),
              0);
    w2k_buf_reset(&body);
    CHECK_INT(w2k_hist_key_body(ks->json, kv, n, &body, &err), 0);
    CHECK_MEM(body.data, body.len, key.data + W2K_SOE_HEADER_LEN, key.len - W2K_SOE_HEADER_LEN);
    w2k_keyspec_free(kv, n);
    /* missing, unknown and bad values */
    CHECK_INT(w2k_keyspec_parse("name=x", &kv, &n, why, sizeof why), 0);
    CHECK_INT(w2k_hist_key_body(ks->json, kv, n, &body, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_USAGE);
    CHECK(strstr(err.msg, "no value for key column day") != NULL);
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("other=1", &kv, &n, why, sizeof why), 0);
    CHECK_INT(w2k_hist_key_body(ks->json, kv, n, &body, &err), -1);
    CHECK(strstr(err.msg, "other is not a key column") != NULL);
    w2k_keyspec_free(kv, n);
    CHECK_INT(w2k_keyspec_parse("name=a,day=yesterday,amount=1,at=x,u=x,big=1,free=1,span=x,"
                                "Weird Name=1",
                                &kv, &n, why, sizeof why),
              0);
    CHECK_INT(w2k_hist_key_body(ks->json, kv, n, &body, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_USAGE);
    CHECK(strstr(err.msg, "day=yesterday") != NULL);
    w2k_keyspec_free(kv, n);
    w2k_buf_free(&key);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);

    /* known vectors: int 42 is zig-zag 84; (text "abc", int 7) */
    static const coldef_t c2[] = {{"id", W2K_OID_INT4, -1}};
    static const int k2[] = {0};
    rel = relation("one", c2, 1, k2, 1);
    ra = w2k_relavro_new(rel, "app", &err);
    CHECK_INT(w2k_keyspec_parse("id=42", &kv, &n, why, sizeof why), 0);
    w2k_buf_reset(&body);
    CHECK_INT(w2k_hist_key_body(w2k_relavro_key_schema(ra)->json, kv, n, &body, &err), 0);
    CHECK_MEM(body.data, body.len, "\x54", 1);
    w2k_keyspec_free(kv, n);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
    static const coldef_t c3[] = {{"s", W2K_OID_VARCHAR, -1}, {"i", W2K_OID_INT2, -1}};
    static const int k3[] = {0, 1};
    rel = relation("two", c3, 2, k3, 2);
    ra = w2k_relavro_new(rel, "app", &err);
    CHECK_INT(w2k_keyspec_parse("i=7,s=abc", &kv, &n, why, sizeof why), 0);
    w2k_buf_reset(&body);
    CHECK_INT(w2k_hist_key_body(w2k_relavro_key_schema(ra)->json, kv, n, &body, &err), 0);
    CHECK_MEM(body.data, body.len,
              "\x06"
              "abc\x0e",
              5);
    w2k_keyspec_free(kv, n);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
    w2k_buf_free(&body);
    w2k_avroenc_destroy(enc);
}

/* ---- partitions: Kafka's murmur2 (UtilsTest.testMurmur2 of the Java client) ---- */

static void partitions(void)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    CHECK(rk != NULL);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "t", NULL);
    static const struct {
        const char *key;
        int32_t java_hash;
    } cases[] = {{"21", -973932308},
                 {"foobar", -790332482},
                 {"a-little-bit-long-string", -985981536},
                 {"a-little-bit-longer-string", -1486304829},
                 {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
                 {"abc", 479470107},
                 {"1", -1993445489},
                 {"12345", -1188365604}};
    static const int32_t counts[] = {1, 3, 6, 12, 100};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
            int32_t want =
                (int32_t)(((uint32_t)cases[i].java_hash & 0x7fffffffu) % (uint32_t)counts[c]);
            CHECK_INT(w2k_hist_partition(rkt, NULL, cases[i].key, strlen(cases[i].key), counts[c]),
                      want);
            CHECK_INT(w2k_hist_partition(rkt, "murmur2_random", cases[i].key, strlen(cases[i].key),
                                         counts[c]),
                      want);
        }
    }
    CHECK_INT(w2k_hist_partition(rkt, "no-such-partitioner", "x", 1, 6), -1);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

/* ---- Avro → JSON: values made by the producer's conversion, read back ---- */

static void value_case(uint32_t oid, int32_t typmod, char kind, const char *text, const char *want)
{
    w2k_coltype_t ct;
    w2k_coltype_from_pg(&ct, oid, typmod, 0);
    int flags = W2K_FIELD_NULLABLE | (ct.varlena ? W2K_FIELD_TOAST : 0);
    w2k_buf_t js = W2K_BUF_INIT, scratch = W2K_BUF_INIT, out = W2K_BUF_INIT;
    unsigned defined = 0;
    w2k_buf_puts(&js, "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\",\"fields\":["
                      "{\"name\":\"f\",\"type\":");
    w2k_coltype_schema(&ct, flags, false, &defined, &js);
    w2k_buf_puts(&js, "}]}");
    avro_schema_t as;
    CHECK_INT(avro_schema_from_json_length(js.data, js.len, &as), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(as);
    avro_value_t v, f;
    avro_generic_value_new(iface, &v);
    avro_value_get_by_index(&v, 0, &f, NULL);
    char why[512] = "";
    int rc = w2k_coltype_set(&ct, flags, &f, kind, text, text ? strlen(text) : 0, &scratch, why,
                             sizeof why);
    if (rc != 0)
        fprintf(stderr, "value_case %u %s: %s\n", oid, text ? text : "", why);
    CHECK_INT(rc, 0);
    char bin[4096];
    avro_writer_t w = avro_writer_memory(bin, sizeof bin);
    CHECK_INT(avro_value_write(w, &v), 0);
    size_t len = (size_t)avro_writer_tell(w);
    avro_writer_free(w);
    w2k_err_t err;
    w2k_avschema_t *s = w2k_avschema_parse(js.data, js.len, &err);
    CHECK(s != NULL);
    if (s) {
        const uint8_t *p = (const uint8_t *)bin, *end = p + len;
        CHECK_INT(w2k_avro_json(w2k_avschema_root(s)->sub[0], &p, end, &out), 0);
        CHECK(p == end);
        if (!out.data || strcmp(out.data, want) != 0)
            fprintf(stderr, "value_case %u \"%s\": got %s, want %s\n", oid, text ? text : "",
                    out.data ? out.data : "(null)", want);
        CHECK_STR(out.data, want);
        /* skipping consumes exactly the same bytes */
        p = (const uint8_t *)bin;
        CHECK_INT(w2k_avro_skip(w2k_avschema_root(s), &p, end), 0);
        CHECK(p == end);
    }
    w2k_avschema_destroy(s);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(as);
    w2k_buf_free(&js);
    w2k_buf_free(&scratch);
    w2k_buf_free(&out);
}

/* Each text is PostgreSQL's own output (DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601), checked against PostgreSQL 15: the JSON gives it back. */
static void json_values(void)
{
    static const struct {
        uint32_t oid;
        int32_t typmod;
        const char *text;
    } same[] = {
        {W2K_OID_DATE, -1, "2024-01-15"},
        {W2K_OID_DATE, -1, "0044-03-15 BC"},
        {W2K_OID_DATE, -1, "1970-01-01"},
        {W2K_OID_DATE, -1, "1969-12-31"},
        {W2K_OID_DATE, -1, "5874897-12-31"},
        {W2K_OID_DATE, -1, "4713-01-01 BC"},
        {W2K_OID_DATE, -1, "0001-01-01"},
        {W2K_OID_DATE, -1, "0001-12-31 BC"},
        {W2K_OID_DATE, -1, "2000-02-29"},
        {W2K_OID_DATE, -1, "infinity"},
        {W2K_OID_DATE, -1, "-infinity"},
        {W2K_OID_TIME, -1, "00:00:00"},
        {W2K_OID_TIME, -1, "12:34:56.5"},
        {W2K_OID_TIME, -1, "23:59:59.999999"},
        {W2K_OID_TIME, -1, "24:00:00"},
        {W2K_OID_TIME, -1, "01:02:03.000001"},
        {W2K_OID_TIMESTAMP, -1, "2024-01-15 12:34:56.123456"},
        {W2K_OID_TIMESTAMP, -1, "0044-03-15 12:00:00 BC"},
        {W2K_OID_TIMESTAMP, -1, "1969-12-31 23:59:59.5"},
        {W2K_OID_TIMESTAMP, -1, "1970-01-01 00:00:00"},
        {W2K_OID_TIMESTAMP, -1, "294246-12-31 23:59:59.999999"},
        {W2K_OID_TIMESTAMP, -1, "10000-01-01 00:00:00"},
        {W2K_OID_TIMESTAMP, -1, "infinity"},
        {W2K_OID_TIMESTAMPTZ, -1, "2024-01-15 12:34:56.123456+00"},
        {W2K_OID_TIMESTAMPTZ, -1, "0044-03-15 12:00:00+00 BC"},
        {W2K_OID_TIMESTAMPTZ, -1, "1969-12-31 23:59:59.5+00"},
        {W2K_OID_TIMESTAMPTZ, -1, "1900-01-01 00:00:00.1+00"},
        {W2K_OID_TIMESTAMPTZ, -1, "-infinity"},
        {W2K_OID_INTERVAL, -1, "P1Y2M3DT4H5M6.5S"},
        {W2K_OID_INTERVAL, -1, "PT0S"},
        {W2K_OID_INTERVAL, -1, "P-1Y-2M3DT-4H-5M-6.123456S"},
        {W2K_OID_INTERVAL, -1, "PT-0.5S"},
        {W2K_OID_INTERVAL, -1, "P1Y2M"},
        {W2K_OID_INTERVAL, -1, "PT36H"},
        {W2K_OID_INTERVAL, -1, "P-3D"},
        {W2K_OID_INTERVAL, -1, "PT0.000001S"},
        {W2K_OID_INTERVAL, -1, "P178000000Y"},
        {W2K_OID_INTERVAL, -1, "PT-2562047788H-54.775808S"},
        {W2K_OID_INTERVAL, -1, "P11M"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "1234.56"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "0.00"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "-0.01"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "-1234.50"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "99999999.99"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "NaN"},
        {W2K_OID_NUMERIC, TYPMOD(10, 2), "-Infinity"},
        {W2K_OID_NUMERIC, TYPMOD(5, 2046), "12300"}, /* numeric(5,-2) */
        {W2K_OID_NUMERIC, TYPMOD(5, 2046), "-99900"},
        {W2K_OID_NUMERIC, TYPMOD(3, 5), "0.00120"},
        {W2K_OID_NUMERIC, TYPMOD(3, 5), "-0.00999"},
        {W2K_OID_NUMERIC, TYPMOD(38, 10), "-1234567890123456789012345678.0123456789"},
        {W2K_OID_NUMERIC, -1, "123.456"},
        {W2K_OID_NUMERIC, -1, "1.000"},
        {W2K_OID_NUMERIC, -1, "-0.001"},
        {W2K_OID_NUMERIC, -1, "0"},
        {W2K_OID_NUMERIC, -1, "100"},
        {W2K_OID_NUMERIC, -1, "-12345678901234567890123456789.123456789"},
        {W2K_OID_NUMERIC, -1, "0.0000000001"},
        {W2K_OID_NUMERIC, -1, "-128"},
        {W2K_OID_NUMERIC, -1, "128"},
        {W2K_OID_NUMERIC, -1, "255"},
        {W2K_OID_NUMERIC, -1, "-32768"},
        {W2K_OID_NUMERIC, -1, "Infinity"},
        {W2K_OID_UUID, -1, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"},
        {W2K_OID_TEXT, -1, "plain"},
        {W2K_OID_TIMETZ, -1, "12:00:00.5-03:30"},
        {W2K_OID_JSONB, -1, "{\"a\": [1, 2]}"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        w2k_buf_t want = W2K_BUF_INIT;
        w2k_buf_put_json_string(&want, same[i].text, strlen(same[i].text));
        value_case(same[i].oid, same[i].typmod, 't', same[i].text, want.data);
        w2k_buf_free(&want);
    }
    /* JSON literals */
    value_case(W2K_OID_BOOL, -1, 't', "t", "true");
    value_case(W2K_OID_BOOL, -1, 't', "f", "false");
    value_case(W2K_OID_INT2, -1, 't', "-32768", "-32768");
    value_case(W2K_OID_INT4, -1, 't', "2147483647", "2147483647");
    value_case(W2K_OID_INT8, -1, 't', "-9223372036854775808", "-9223372036854775808");
    value_case(W2K_OID_OID, -1, 't', "4294967295", "4294967295");
    value_case(W2K_OID_INT4, -1, 'n', NULL, "null");
    value_case(W2K_OID_FLOAT8, -1, 't', "0.1", "0.1");
    value_case(W2K_OID_FLOAT8, -1, 't', "1e+20", "1e+20");
    value_case(W2K_OID_FLOAT8, -1, 't', "1.2345678901234568e+17", "1.2345678901234568e+17");
    value_case(W2K_OID_FLOAT8, -1, 't', "-0", "-0");
    value_case(W2K_OID_FLOAT8, -1, 't', "NaN", "\"NaN\"");
    value_case(W2K_OID_FLOAT8, -1, 't', "-Infinity", "\"-Infinity\"");
    value_case(W2K_OID_FLOAT4, -1, 't', "0.1", "0.1");
    value_case(W2K_OID_FLOAT4, -1, 't', "3.4028235e+38", "3.4028235e+38");
    value_case(W2K_OID_FLOAT4, -1, 't', "Infinity", "\"Infinity\"");
    /* strings are escaped */
    value_case(W2K_OID_TEXT, -1, 't', "Zoë \"q\"\n\\", "\"Zoë \\\"q\\\"\\n\\\\\"");
    /* bytea as PostgreSQL's hex form */
    value_case(W2K_OID_BYTEA, -1, 't', "\\x00ff10", "\"\\\\x00ff10\"");
    value_case(W2K_OID_BYTEA, -1, 't', "\\x", "\"\\\\x\"");
    /* unchanged TOAST: never null */
    value_case(W2K_OID_TEXT, -1, 'u', NULL, W2K_AVRO_TOAST_JSON);
    value_case(W2K_OID_NUMERIC, TYPMOD(10, 2), 'u', NULL, W2K_AVRO_TOAST_JSON);
    value_case(W2K_OID_BYTEA, -1, 'n', NULL, "null");
    /* arrays: Avro arrays as JSON arrays; other shapes as the text */
    value_case(1007, -1, 't', "{1,NULL,3}", "[1,null,3]");
    value_case(1007, -1, 't', "{}", "[]");
    value_case(1007, -1, 't', "{{1,2},{3,4}}", "\"{{1,2},{3,4}}\"");
    value_case(1009, -1, 't', "{a,NULL,\"b c\",\"NULL\"}", "[\"a\",null,\"b c\",\"NULL\"]");
    value_case(1231, TYPMOD(12, 2), 't', "{1.50,NaN,-2.00}", "[\"1.50\",\"NaN\",\"-2.00\"]");
    value_case(1182, -1, 't', "{2024-01-15,infinity}", "[\"2024-01-15\",\"infinity\"]");
    value_case(1187, -1, 't', "{P1D,PT1S}", "[\"P1D\",\"PT1S\"]");
    value_case(1007, -1, 'u', NULL, W2K_AVRO_TOAST_JSON);
}

static void formatters(void)
{
    w2k_buf_t b = W2K_BUF_INIT;
    static const struct {
        const char *bytes;
        size_t n;
        int scale;
        const char *want;
    } dec[] = {{"\xff", 1, 0, "-1"},
               {"\x80", 1, 0, "-128"},
               {"\x00\x80", 2, 0, "128"},
               {"\x01\xe2\x40", 3, 2, "1234.56"},
               {"\xfb\x1e", 2, 2, "-12.50"},
               {"\x00", 1, 3, "0.000"},
               {"", 0, 2, "0.00"},
               {"\xff", 1, 5, "-0.00001"},
               {"\x7f\xff\xff\xff\xff\xff\xff\xff\xff", 9, 0, "2361183241434822606847"},
               {"\x80\x00\x00\x00\x00\x00\x00\x00\x00", 9, 4, "-236118324143482260.6848"}};
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
        w2k_buf_reset(&b);
        CHECK_INT(w2k_fmt_decimal((const uint8_t *)dec[i].bytes, dec[i].n, dec[i].scale, &b), 0);
        CHECK_STR(b.data, dec[i].want);
    }
    w2k_buf_reset(&b);
    w2k_hist_time(INT64_C(1714564800000001), false, &b);
    CHECK_STR(b.data, "2024-05-01T12:00:00.000001Z");
    w2k_buf_reset(&b);
    w2k_hist_time(-1, true, &b);
    CHECK_STR(b.data, "1969-12-31 23:59:59.999999");
    w2k_buf_reset(&b);
    w2k_fmt_timestamp(INT64_MIN, true, &b);                  /* no overflow at the extremes */
    CHECK_STR(b.data, "290309-12-21 19:59:05.224192+00 BC"); /* year 0 is 1 BC */
    w2k_buf_reset(&b);
    w2k_fmt_timestamp(INT64_MAX, false, &b);
    CHECK_STR(b.data, "294247-01-10 04:00:54.775807");
    w2k_buf_reset(&b);
    w2k_hist_lsn(UINT64_C(0x16B374D848), &b);
    CHECK_STR(b.data, "16/B374D848");
    w2k_buf_free(&b);
    CHECK_INT(w2k_hdr_len("\xc3\x01\x01\x02\x03\x04\x05\x06\x07\x08", 10), 10);
    CHECK_INT(w2k_hdr_len("\xc3\x01\x01", 3), 0);
    CHECK_INT(w2k_hdr_len("\x00\x00\x00\x00\x07", 5), 5);
    CHECK_INT(w2k_hdr_len("{", 1), 0);
    uint64_t fp;
    CHECK_INT(w2k_fp_from_hex("0102030405060708", 16, &fp), 0);
    CHECK(fp == UINT64_C(0x0807060504030201));
    CHECK_INT(w2k_fp_from_hex("010203040506070", 15, &fp), -1);
    CHECK_INT(w2k_fp_from_hex("01020304050607xx", 16, &fp), -1);
}

static void schema_parsing(void)
{
    w2k_err_t err;
    const char *ok =
        "{\"type\":\"record\",\"name\":\"a.b.R\",\"fields\":["
        "{\"name\":\"x\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"y\",\"type\":\"E\"},{\"name\":\"z\",\"type\":\"a.b.E\"},"
        "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":2,"
        "\"logicalType\":\"decimal\",\"precision\":4,\"scale\":1}},"
        "{\"name\":\"u\",\"type\":[\"null\",{\"type\":\"string\",\"logicalType\":\"uuid\"}]},"
        "{\"name\":\"ms\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
        "{\"name\":\"bad\",\"type\":{\"type\":\"int\",\"logicalType\":\"timestamp-micros\"}},"
        "{\"name\":\"s\",\"type\":\"string\",\"default\":\"\\u00e9\\ud83d\\ude00\"}]}";
    w2k_avschema_t *s = w2k_avschema_parse(ok, strlen(ok), &err);
    CHECK(s != NULL);
    if (s) {
        const w2k_avnode_t *r = w2k_avschema_root(s);
        CHECK_STR(r->fullname, "a.b.R");
        CHECK(r->sub[0] == r->sub[1] && r->sub[1] == r->sub[2]);
        CHECK_STR(r->sub[0]->fullname, "a.b.E");
        CHECK_INT(w2k_avnode_field(r, "m"), 3);
        CHECK_INT(r->sub[4]->logical, W2K_AVL_DECIMAL);
        CHECK_INT(r->sub[7]->logical, W2K_AVL_NONE); /* a logical type for another type */
        CHECK(w2k_avnode_nonnull(r->sub[5]) == r->sub[5]->sub[1]);
        /* x=B, y=A, z=B, m={"k":-1}, f=-12.3 (fixed ff 85), u="id", ms=1000, bad=3, s="é" */
        const char bin[] =
            "\x02\x00\x02\x02\x02k\x01\x00\xff\x85\x02\x04id\xd0\x0f\x06\x04\xc3\xa9";
        const uint8_t *p = (const uint8_t *)bin, *end = p + sizeof bin - 1;
        w2k_buf_t b = W2K_BUF_INIT;
        CHECK_INT(w2k_avro_json(r, &p, end, &b), 0);
        CHECK_STR(b.data, "{\"x\":\"B\",\"y\":\"A\",\"z\":\"B\",\"m\":{\"k\":-1},\"f\":\"-12.3\","
                          "\"u\":\"id\",\"ms\":\"1970-01-01 00:00:01+00\",\"bad\":3,\"s\":\"é\"}");
        CHECK(p == end);
        /* truncated input fails, never reads past the end */
        for (size_t cut = 0; cut + 1 < sizeof bin - 1; cut++) {
            p = (const uint8_t *)bin;
            w2k_buf_reset(&b);
            CHECK_INT(w2k_avro_json(r, &p, (const uint8_t *)bin + cut, &b), -1);
        }
        w2k_buf_free(&b);
    }
    w2k_avschema_destroy(s);
    const char *bad[] = {"",
                         "{",
                         "{\"type\":\"nope\"}",
                         "[\"int\",",
                         "{\"type\":\"record\",\"name\":\"R\"}",
                         "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\"}]}",
                         "\"int\" x",
                         "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[1]}",
                         "{\"type\":\"fixed\",\"name\":\"F\"}",
                         "12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w2k_avschema_t *x = w2k_avschema_parse(bad[i], strlen(bad[i]), &err);
        CHECK(x == NULL);
        CHECK_INT(err.code, W2K_EXIT_KAFKA);
        w2k_avschema_destroy(x);
    }
}

/* ---- changes ---- */

static w2k_himage_t *image(const char *const *nv, int n)
{
    w2k_himage_t *im = w2k_himage_new();
    for (int i = 0; i < n; i++)
        w2k_himage_add(im, nv[2 * i], nv[2 * i + 1], nv[2 * i + 1] ? strlen(nv[2 * i + 1]) : 0);
    return im;
}

static void change_rules(void)
{
    static const char *const o[] = {"id", "1", "v", "\"a\"", "n", "null", "t", NULL};
    static const char *const a[] = {"id", "1",  "v", "\"b\"", "n", "null",
                                    "t",  NULL, "x", "5",     "y", "null"};
    w2k_himage_t *old = image(o, 4), *after = image(a, 6);
    w2k_hchange_t *ch;
    /* update by comparison: v changed, t unchanged TOAST, x added (not null), y added null */
    CHECK_INT(w2k_hchanges('u', old, after, NULL, 0, &ch), 2);
    CHECK_STR(ch[0].col, "v");
    CHECK_STR(ch[0].old_json, "\"a\"");
    CHECK_STR(ch[0].new_json, "\"b\"");
    CHECK_STR(ch[1].col, "x");
    CHECK(ch[1].old_json == NULL);
    CHECK_STR(ch[1].new_json, "5");
    w2k_hchanges_free(ch, 2);
    /* the producer's list wins */
    static const char *const changed[] = {"n"};
    CHECK_INT(w2k_hchanges('u', old, after, changed, 1, &ch), 1);
    CHECK_STR(ch[0].col, "n");
    CHECK_STR(ch[0].old_json, "null");
    w2k_hchanges_free(ch, 1);
    /* no old image: every sent value, old unknown */
    CHECK_INT(w2k_hchanges('u', NULL, after, NULL, 0, &ch), 5);
    CHECK(ch[0].old_json == NULL);
    w2k_hchanges_free(ch, 5);
    /* create: non-null values only */
    CHECK_INT(w2k_hchanges('c', NULL, after, NULL, 0, &ch), 3);
    CHECK_STR(ch[2].col, "x");
    w2k_hchanges_free(ch, 3);
    /* delete: the old non-null values, t unknown (TOAST) listed without a value */
    CHECK_INT(w2k_hchanges('d', old, NULL, NULL, 0, &ch), 3);
    CHECK_STR(ch[0].col, "id");
    CHECK_STR(ch[0].old_json, "1");
    CHECK(ch[0].new_json == NULL);
    CHECK_STR(ch[2].col, "t");
    CHECK(ch[2].old_json == NULL);
    w2k_hchanges_free(ch, 3);
    CHECK_INT(w2k_hchanges('d', NULL, NULL, NULL, 0, &ch), 0);
    w2k_hchanges_free(ch, 0);
    /* fill: unchanged TOAST values from an earlier image */
    static const char *const prev[] = {"t", "\"long\""};
    w2k_himage_t *p = image(prev, 1);
    CHECK_INT(w2k_himage_fill(after, p), 0);
    CHECK_STR(w2k_himage_value(after, 3), "\"long\"");
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_himage_json(old, &b);
    CHECK_STR(b.data, "{\"id\":1,\"v\":\"a\",\"n\":null,\"t\":{\"unchanged_toast\":true}}");
    w2k_buf_free(&b);
    w2k_himage_free(p);
    w2k_himage_free(old);
    w2k_himage_free(after);
}

/* ---- history and state of messages made by the producer ---- */

typedef struct feed_s {
    w2k_hschemas_t *schemas;
    w2k_avroenc_t *enc;
    w2k_hmsg_t msgs[64];
    w2k_buf_t keys[64], vals[64];
    int n;
    int64_t order;
} feed_t;

static void feed_schemas(feed_t *f, w2k_relavro_t *ra)
{
    const w2k_schema_t *k = w2k_relavro_key_schema(ra), *v = w2k_relavro_value_schema(ra);
    CHECK_INT(w2k_hschemas_add(f->schemas, k->fingerprint, k->json, strlen(k->json), f->order++),
              0);
    CHECK_INT(w2k_hschemas_add(f->schemas, v->fingerprint, v->json, strlen(v->json), f->order++),
              0);
}

/* Append a change (and for a delete its tombstone) as the stream would produce it. */
static void feed(feed_t *f, w2k_relavro_t *ra, const w2k_relation_t *rel, char op,
                 const w2k_pgtuple_t *before, const w2k_pgtuple_t *after, const bool *changed,
                 int64_t commit_us, const w2k_pgtuple_t *keyrow)
{
    w2k_err_t err;
    w2k_source_t src = {"app",
                        "db",
                        (uint32_t)(700 + f->n),
                        (w2k_lsn_t)(0x1000 + f->n),
                        (w2k_lsn_t)(0x2000 + f->n),
                        commit_us,
                        false};
    int i = f->n++;
    CHECK_INT(w2k_avroenc_key(f->enc, ra, rel, keyrow, NULL, &f->keys[i], &err), 0);
    CHECK_INT(
        w2k_avroenc_value(f->enc, ra, rel, op, before, after, changed, &src, 0, &f->vals[i], &err),
        0);
    w2k_hmsg_t m = {f->keys[i].data, f->keys[i].len, f->vals[i].data, f->vals[i].len, 0, i,
                    commit_us / 1000};
    f->msgs[i] = m;
    if (op == 'd') {
        int t = f->n++;
        w2k_buf_append(&f->keys[t], f->keys[i].data, f->keys[i].len);
        w2k_hmsg_t tm = {f->keys[t].data, f->keys[t].len, NULL, 0, 0, t, commit_us / 1000};
        f->msgs[t] = tm;
    }
}

static char *write_to_string(void (*fn)(const void *, int, FILE *), const void *x, int n)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    fn(x, n, mf);
    fclose(mf);
    return buf;
}

static void rows_json(const void *rows, int n, FILE *out)
{
    w2k_hrows_write_json(rows, n, out);
}

/* The state at `at` as JSON lines (keys present only). */
static char *state_at(feed_t *f, int64_t at, int *nrows)
{
    w2k_err_t err;
    w2k_hfold_t *fold = w2k_hfold_new(f->schemas, at);
    for (int i = 0; i < f->n; i++)
        CHECK_INT(w2k_hfold_add(fold, &f->msgs[i], &err), 0);
    w2k_hrow_t *rows;
    *nrows = w2k_hfold_rows(fold, false, &rows, &err);
    char *s = write_to_string(rows_json, rows, *nrows);
    w2k_hrows_free(rows, *nrows);
    /* the fast path writes the same lines */
    char *fast = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&fast, &len);
    CHECK_INT(w2k_hfold_write_json(fold, false, mf, &err), 0);
    fclose(mf);
    CHECK_STR(fast, s);
    free(fast);
    w2k_hfold_destroy(fold);
    return s;
}

#define SEC INT64_C(1000000)

static void history_and_state(void)
{
    w2k_err_t err;
    feed_t f;
    memset(&f, 0, sizeof f);
    f.schemas = w2k_hschemas_new(NULL);
    f.enc = w2k_avroenc_new();
    static const coldef_t ca[] = {
        {"id", W2K_OID_INT4, -1}, {"v", W2K_OID_TEXT, -1}, {"n", W2K_OID_NUMERIC, TYPMOD(10, 2)}};
    static const coldef_t cb[] = {{"id", W2K_OID_INT4, -1},
                                  {"v", W2K_OID_TEXT, -1},
                                  {"n", W2K_OID_NUMERIC, TYPMOD(10, 2)},
                                  {"extra", W2K_OID_INT4, -1}};
    static const int key[] = {0};
    w2k_relation_t *ra_rel = relation("t", ca, 3, key, 1), *rb_rel = relation("t", cb, 4, key, 1);
    w2k_relavro_t *ra = w2k_relavro_new(ra_rel, "app", &err),
                  *rb = w2k_relavro_new(rb_rel, "app", &err);
    feed_schemas(&f, ra);
    feed_schemas(&f, rb);
    static w2k_pgtuple_t t1, t2, t3b, t3, t4, t6, k1, k2, t2c;
    tuple(&t1, 3, (const char *const[]){"t:1", "t:a", "t:1.00"});
    tuple(&k1, 3, (const char *const[]){"t:1", "n", "n"});
    tuple(&k2, 3, (const char *const[]){"t:2", "n", "n"});
    tuple(&t2c, 3, (const char *const[]){"t:2", "t:z", "n"});
    tuple(&t2, 3, (const char *const[]){"t:1", "u", "t:2.00"});
    tuple(&t3b, 3, (const char *const[]){"t:1", "t:a", "t:2.00"});
    tuple(&t3, 3, (const char *const[]){"t:1", "t:b", "t:2.00"});
    tuple(&t4, 4, (const char *const[]){"t:1", "t:b", "t:3.00", "t:7"});
    tuple(&t6, 4, (const char *const[]){"t:1", "t:c", "n", "n"});
    static const bool changed_v[] = {false, true, false};
    feed(&f, ra, ra_rel, 'c', NULL, &t1, NULL, 1000 * SEC, &t1);            /* 0 */
    feed(&f, ra, ra_rel, 'c', NULL, &t2c, NULL, 1500 * SEC, &t2c);          /* 1 */
    feed(&f, ra, ra_rel, 'u', NULL, &t2, NULL, 2000 * SEC, &t1);            /* 2 */
    feed(&f, ra, ra_rel, 'd', NULL, NULL, NULL, 2500 * SEC, &k2);           /* 3, 4 */
    feed(&f, ra, ra_rel, 'u', &t3b, &t3, changed_v, 3000 * SEC + 500, &t3); /* 5 */
    feed(&f, rb, rb_rel, 'u', NULL, &t4, NULL, 4000 * SEC, &t4);            /* 6 */
    feed(&f, rb, rb_rel, 'd', NULL, NULL, NULL, 5000 * SEC + 700, &t4);     /* 7, 8 */
    feed(&f, rb, rb_rel, 'c', NULL, &t6, NULL, 6000 * SEC, &t6);            /* 9 */
    CHECK_INT(f.n, 10);
    CHECK(f.msgs[8].value == NULL && f.msgs[8].ts_ms == 5000 * 1000);

    /* the key schema candidates: both versions, newest first */
    w2k_hkeyschema_t ks[4];
    CHECK_INT(w2k_hschemas_find(f.schemas, "app.public.t.Key", ks, 4), 1); /* same key shape */
    CHECK_INT(w2k_hschemas_find(f.schemas, "app.public.t.Envelope", ks, 4), 2);
    CHECK(ks[0].order > ks[1].order);
    CHECK_INT(w2k_hschemas_find(f.schemas, "app.public.other.Key", ks, 4), 0);

    /* history of id=1 */
    w2k_hist_t *h = w2k_hist_new(f.schemas, INT64_MIN, INT64_MAX);
    for (int i = 0; i < f.n; i++) {
        if (i == 1 || i == 3 || i == 4)
            continue; /* id=2 */
        CHECK_INT(w2k_hist_add(h, &f.msgs[i], &err), 0);
    }
    CHECK_INT(w2k_hist_count(h), 6);
    const w2k_hevent_t *e = w2k_hist_event(h, 0);
    CHECK_INT(e->op, 'c');
    CHECK_INT(e->nchanges, 3);
    CHECK_STR(e->key_json, "{\"id\":1}");
    CHECK_INT(e->ts_us, 1000 * SEC);
    CHECK(e->has_lsn && e->lsn == 0x1000 && e->has_txid && e->txid == 700);
    e = w2k_hist_event(h, 1); /* v unchanged TOAST: from the create; n changed */
    CHECK_INT(e->op, 'u');
    CHECK_INT(e->nchanges, 1);
    CHECK_STR(e->changes[0].col, "n");
    CHECK_STR(e->changes[0].old_json, "\"1.00\"");
    CHECK_STR(e->changes[0].new_json, "\"2.00\"");
    CHECK_STR(w2k_himage_value(e->after, 1), "\"a\"");
    e = w2k_hist_event(h, 2); /* REPLICA IDENTITY FULL: the producer's list */
    CHECK_INT(e->nchanges, 1);
    CHECK_STR(e->changes[0].col, "v");
    CHECK_STR(e->changes[0].old_json, "\"a\"");
    CHECK_STR(e->changes[0].new_json, "\"b\"");
    e = w2k_hist_event(h, 3); /* new schema: n changed, extra added */
    CHECK_INT(e->nchanges, 2);
    CHECK_STR(e->changes[0].col, "n");
    CHECK_STR(e->changes[1].col, "extra");
    CHECK(e->changes[1].old_json == NULL);
    CHECK_STR(e->changes[1].new_json, "7");
    e = w2k_hist_event(h, 4); /* delete without before: the last image known; tombstone folded */
    CHECK_INT(e->op, 'd');
    CHECK(!e->tombstone);
    CHECK_INT(e->nchanges, 4);
    CHECK(e->after == NULL);
    e = w2k_hist_event(h, 5);
    CHECK_INT(e->op, 'c');
    CHECK_INT(e->nchanges, 2);
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    w2k_hist_write_json(h, mf);
    fclose(mf);
    CHECK(strstr(buf, "{\"op\":\"u\",\"commit_time\":\"1970-01-01T00:33:20.000000Z\","
                      "\"ts_us\":2000000000,\"lsn\":\"0/1002\",\"commit_lsn\":\"0/2002\","
                      "\"txid\":702,\"partition\":0,\"offset\":2,\"snapshot\":false,"
                      "\"key\":{\"id\":1},\"changes\":{\"n\":{\"old\":\"1.00\",\"new\":\"2.00\"}},"
                      "\"after\":{\"id\":1,\"v\":\"a\",\"n\":\"2.00\"}}\n") != NULL);
    free(buf);
    mf = open_memstream(&buf, &len);
    w2k_hist_write_table(h, mf);
    fclose(mf);
    CHECK(strstr(buf, "COMMIT TIME (UTC)") == buf);
    CHECK(strstr(buf, "update") != NULL);
    free(buf);
    w2k_hist_destroy(h);

    /* --since drops earlier events but still knows the row they left */
    h = w2k_hist_new(f.schemas, 3000 * SEC, 4500 * SEC);
    for (int i = 0; i < f.n; i++)
        if (i != 1 && i != 3 && i != 4)
            CHECK_INT(w2k_hist_add(h, &f.msgs[i], &err), 0);
    CHECK_INT(w2k_hist_count(h), 2);
    CHECK_INT(w2k_hist_event(h, 0)->ts_us, 3000 * SEC + 500);
    w2k_hist_destroy(h);

    /* a tombstone whose delete was compacted away */
    h = w2k_hist_new(f.schemas, INT64_MIN, INT64_MAX);
    CHECK_INT(w2k_hist_add(h, &f.msgs[0], &err), 0);
    CHECK_INT(w2k_hist_add(h, &f.msgs[8], &err), 0);
    CHECK_INT(w2k_hist_count(h), 2);
    CHECK(w2k_hist_event(h, 1)->tombstone);
    CHECK_INT(w2k_hist_event(h, 1)->nchanges, 3);
    w2k_hist_destroy(h);

    /* state at times */
    int n;
    char *s = state_at(&f, 900 * SEC, &n);
    CHECK_INT(n, 0);
    free(s);
    s = state_at(&f, 1200 * SEC, &n);
    CHECK_INT(n, 1);
    CHECK(strstr(s, "\"row\":{\"id\":1,\"v\":\"a\",\"n\":\"1.00\"}") != NULL);
    free(s);
    s = state_at(&f, 2200 * SEC, &n); /* the unchanged TOAST value comes from the create */
    CHECK_INT(n, 2);
    CHECK(
        strstr(s,
               "{\"key\":{\"id\":1},\"row\":{\"id\":1,\"v\":\"a\",\"n\":\"2.00\"},\"op\":\"u\"") ==
        s);
    CHECK(strstr(s, "{\"key\":{\"id\":2},\"row\":{\"id\":2,\"v\":\"z\",\"n\":null}") != NULL);
    free(s);
    s = state_at(&f, 2600 * SEC, &n);
    CHECK_INT(n, 1);
    free(s);
    s = state_at(&f, 3000 * SEC + 400, &n); /* same millisecond, before the commit */
    CHECK(strstr(s, "\"v\":\"a\"") != NULL);
    free(s);
    s = state_at(&f, 3000 * SEC + 500, &n); /* at the commit: included */
    CHECK(strstr(s, "\"v\":\"b\"") != NULL);
    free(s);
    s = state_at(&f, 4500 * SEC, &n);
    CHECK(strstr(s, "\"row\":{\"id\":1,\"v\":\"b\",\"n\":\"3.00\",\"extra\":7}") != NULL);
    free(s);
    s = state_at(&f, 5000 * SEC + 600, &n); /* the delete's millisecond, before it */
    CHECK_INT(n, 1);
    free(s);
    s = state_at(&f, 5000 * SEC + 700, &n);
    CHECK_INT(n, 0);
    free(s);
    s = state_at(&f, 7000 * SEC, &n);
    CHECK_INT(n, 1);
    CHECK(strstr(s, "\"row\":{\"id\":1,\"v\":\"c\",\"n\":null,\"extra\":null}") != NULL);
    free(s);

    /* absent keys are listed on request, with the delete */
    w2k_hfold_t *fold = w2k_hfold_new(f.schemas, INT64_MAX);
    for (int i = 0; i < f.n; i++)
        CHECK_INT(w2k_hfold_add(fold, &f.msgs[i], &err), 0);
    CHECK_INT(w2k_hfold_keys(fold), 2);
    w2k_hrow_t *rows;
    CHECK_INT(w2k_hfold_rows(fold, true, &rows, &err), 2);
    CHECK(rows[1].row == NULL);
    CHECK_STR(rows[1].key_json, "{\"id\":2}");
    CHECK_INT(rows[1].op, 'd');
    char *slow = write_to_string(rows_json, rows, 2), *fast = NULL;
    w2k_hrows_free(rows, 2);
    mf = open_memstream(&fast, &len);
    CHECK_INT(w2k_hfold_write_json(fold, true, mf, &err), 0);
    fclose(mf);
    CHECK_STR(fast, slow);
    free(fast);
    free(slow);
    w2k_hfold_destroy(fold);

    /* an unknown schema is an error that names it */
    w2k_hschemas_t *empty = w2k_hschemas_new(NULL);
    w2k_henv_t env;
    CHECK_INT(w2k_hschemas_decode(empty, f.msgs[0].value, f.msgs[0].valuelen, &env, &err), -1);
    CHECK(strstr(err.msg, "no schema with fingerprint") != NULL);
    /* registry framing without a registry */
    CHECK_INT(w2k_hschemas_decode(empty, "\x00\x00\x00\x00\x05\x00", 6, &env, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    w2k_hschemas_destroy(empty);
    /* a damaged message */
    CHECK_INT(w2k_hschemas_decode(f.schemas, f.msgs[0].value, f.msgs[0].valuelen - 3, &env, &err),
              -1);
    CHECK_INT(err.code, W2K_EXIT_KAFKA);

    /* damaged messages are errors, never crashes: every truncation and many byte flips */
    uint32_t seed = 8;
    for (int m = 0; m < f.n; m++) {
        if (!f.msgs[m].value)
            continue;
        size_t vl = f.msgs[m].valuelen;
        uint8_t *copy = malloc(vl);
        for (size_t cut = 0; cut < vl; cut++) {
            memcpy(copy, f.msgs[m].value, cut);
            if (w2k_hschemas_decode(f.schemas, copy, cut, &env, &err) == 0)
                w2k_henv_clear(&env);
        }
        for (int round = 0; round < 300; round++) {
            memcpy(copy, f.msgs[m].value, vl);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = W2K_SOE_HEADER_LEN + (seed >> 8) % (vl - W2K_SOE_HEADER_LEN);
                copy[at] = (uint8_t)(seed >> 24);
            }
            bool an, ht;
            int64_t ts;
            if (w2k_hschemas_decode(f.schemas, copy, vl, &env, &err) == 0)
                w2k_henv_clear(&env);
            w2k_hschemas_peek(f.schemas, copy, vl, &an, &ht, &ts, &err);
        }
        free(copy);
    }

    for (int i = 0; i < f.n; i++) {
        w2k_buf_free(&f.keys[i]);
        w2k_buf_free(&f.vals[i]);
    }
    w2k_relavro_destroy(ra);
    w2k_relavro_destroy(rb);
    w2k_relation_free(ra_rel);
    w2k_relation_free(rb_rel);
    w2k_avroenc_destroy(f.enc);
    w2k_hschemas_destroy(f.schemas);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    time_parsing();
    civil_days();
    keyspec_parsing();
    key_bytes();
    partitions();
    json_values();
    formatters();
    schema_parsing();
    change_rules();
    history_and_state();
    return unit_report("test_history");
}
