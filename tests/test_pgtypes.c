/* test_pgtypes.c — the PostgreSQL → Avro type mapping, type by type: each value is
 * set from PostgreSQL's text form into a record built from w2k_coltype_schema()'s
 * full schema, written with avro-c, read back into a fresh value, and the decoded
 * value checked. Expected dates and timestamps come from a PostgreSQL 15 server
 * (date - '1970-01-01', extract(epoch ...) * 1e6), decimals from Python's
 * int.to_bytes(signed=True). Also: schema text in both modes, canonical forms parse,
 * error messages, and a timing loop (run with argument "bench"). */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgtypes.h"
#include "unit.h"

#define NULLABLE W2K_FIELD_NULLABLE
#define TOAST    W2K_FIELD_TOAST

/* The converted value of the last conv() call, alive until the next one. */
static struct {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t in, out;
    bool live;
    char err[512];
    w2k_buf_t scratch;
    char wbuf[1 << 16];
} g;

static void conv_free(void)
{
    if (!g.live)
        return;
    avro_value_decref(&g.in);
    avro_value_decref(&g.out);
    avro_value_iface_decref(g.iface);
    avro_schema_decref(g.schema);
    g.live = false;
}

static w2k_coltype_t ty(uint32_t oid, int32_t typmod)
{
    w2k_coltype_t ct;
    w2k_coltype_from_pg(&ct, oid, typmod, 0);
    return ct;
}

/* A column type in static storage, for one expression. */
static w2k_coltype_t *tp(uint32_t oid, int32_t typmod)
{
    static w2k_coltype_t ring[4];
    static int next;
    w2k_coltype_t *ct = &ring[next++ % 4];
    w2k_coltype_from_pg(ct, oid, typmod, 0);
    return ct;
}

/* A check usable as a condition: counts, reports, and returns cond. */
static bool ok_at(bool cond, const char *expr, int line)
{
    unit_checks++;
    if (!cond) {
        unit_failures++;
        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, line, expr);
    }
    return cond;
}
#define OK(cond) ok_at((cond), #cond, __LINE__)

static int32_t numtm(int p, int s)
{
    return ((p << 16) | (s & 0x7ff)) + 4;
}

/* Wrap a field type in a one-field record schema. */
static void record_schema(const w2k_coltype_t *ct, int flags, bool canonical, w2k_buf_t *b)
{
    unsigned defined = 0;
    w2k_buf_puts(b, canonical ? "{\"name\":\"t.R\",\"type\":\"record\",\"fields\":[{\"name\":"
                                "\"f\",\"type\":"
                              : "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"t\","
                                "\"fields\":[{\"name\":\"f\",\"type\":");
    w2k_coltype_schema(ct, flags, canonical, &defined, b);
    w2k_buf_puts(b, "}]}");
}

/* Build the schema, set field f from the datum, write, read back. On success *branch
 * is the read-back union's discriminant (-1: not a union) and *v its value. Returns
 * w2k_coltype_set's result (g.err holds the message), or -2 for an avro-c failure. */
static int conv(const w2k_coltype_t *ct, int flags, char kind, const char *text, int *branch,
                avro_value_t *v)
{
    conv_free();
    w2k_buf_t sch = W2K_BUF_INIT;
    record_schema(ct, flags, false, &sch);
    if (avro_schema_from_json_length(sch.data, sch.len, &g.schema) != 0) {
        fprintf(stderr, "schema refused: %s\n%s\n", avro_strerror(), sch.data);
        w2k_buf_free(&sch);
        return -2;
    }
    w2k_buf_free(&sch);
    g.iface = avro_generic_class_from_schema(g.schema);
    avro_generic_value_new(g.iface, &g.in);
    avro_generic_value_new(g.iface, &g.out);
    g.live = true;
    avro_value_t field;
    avro_value_get_by_index(&g.in, 0, &field, NULL);
    g.err[0] = '\0';
    int rc = w2k_coltype_set(ct, flags, &field, kind, text, text ? strlen(text) : 0, &g.scratch,
                             g.err, sizeof g.err);
    /* The binary writer must agree: same result, same message, the same bytes. */
    char werr[512] = "";
    w2k_buf_t bin = W2K_BUF_INIT;
    int wrc = w2k_coltype_write(ct, flags, &bin, kind, text, text ? strlen(text) : 0, &g.scratch,
                                werr, sizeof werr);
    OK(wrc == rc);
    if (rc != 0) {
        OK(strcmp(werr, g.err) == 0);
        w2k_buf_free(&bin);
        return rc;
    }
    avro_writer_t w = avro_writer_memory(g.wbuf, sizeof g.wbuf);
    if (avro_value_write(w, &g.in) != 0) {
        fprintf(stderr, "write: %s\n", avro_strerror());
        avro_writer_free(w);
        w2k_buf_free(&bin);
        return -2;
    }
    int64_t len = avro_writer_tell(w);
    avro_writer_free(w);
    if (!OK(bin.len == (size_t)len && memcmp(bin.data, g.wbuf, bin.len) == 0))
        fprintf(stderr, "  binary writer differs from avro-c for %s\n", text ? text : "(null)");
    w2k_buf_free(&bin);
    avro_reader_t r = avro_reader_memory(g.wbuf, len);
    rc = avro_value_read(r, &g.out);
    avro_reader_free(r);
    if (rc != 0) {
        fprintf(stderr, "read: %s\n", avro_strerror());
        return -2;
    }
    avro_value_get_by_index(&g.out, 0, &field, NULL);
    if (avro_value_get_type(&field) == AVRO_UNION) {
        avro_value_get_discriminant(&field, branch);
        avro_value_get_current_branch(&field, v);
    } else {
        *branch = -1;
        *v = field;
    }
    return 0;
}

static bool report(const char *text, const char *what)
{
    fprintf(stderr, "  value \"%s\": %s %s\n", text ? text : "(null)", what, g.err);
    return false;
}

/* Convert and check the branch; the value is left in *v. */
static bool conv_ok(const w2k_coltype_t *ct, int flags, const char *text, int want_branch,
                    avro_value_t *v)
{
    int br;
    if (conv(ct, flags, 't', text, &br, v) != 0)
        return report(text, "conversion failed:");
    if (br != want_branch) {
        fprintf(stderr, "  branch %d, want %d\n", br, want_branch);
        return report(text, "wrong branch");
    }
    return true;
}

static bool t_int(w2k_coltype_t ct, int flags, const char *text, int br, int32_t want)
{
    avro_value_t v;
    int32_t got;
    if (!conv_ok(&ct, flags, text, br, &v) || avro_value_get_int(&v, &got) != 0)
        return false;
    if (got != want)
        fprintf(stderr, "  got %d want %d\n", got, want);
    return got == want;
}

static bool t_long(w2k_coltype_t ct, int flags, const char *text, int br, int64_t want)
{
    avro_value_t v;
    int64_t got;
    if (!conv_ok(&ct, flags, text, br, &v) || avro_value_get_long(&v, &got) != 0)
        return false;
    if (got != want)
        fprintf(stderr, "  %s: got %lld want %lld\n", text, (long long)got, (long long)want);
    return got == want;
}

static bool t_double(w2k_coltype_t ct, const char *text, double want)
{
    avro_value_t v;
    double got;
    if (!conv_ok(&ct, 0, text, -1, &v) || avro_value_get_double(&v, &got) != 0)
        return false;
    if (isnan(want))
        return isnan(got);
    return memcmp(&got, &want, sizeof got) == 0;
}

static bool t_float(w2k_coltype_t ct, const char *text, float want)
{
    avro_value_t v;
    float got;
    if (!conv_ok(&ct, 0, text, -1, &v) || avro_value_get_float(&v, &got) != 0)
        return false;
    if (isnan(want))
        return isnan(got);
    return memcmp(&got, &want, sizeof got) == 0;
}

static bool str_is(avro_value_t *v, const char *want, size_t wantlen)
{
    const char *got;
    size_t size;
    if (avro_value_get_string(v, &got, &size) != 0)
        return false;
    /* avro-c sizes include the NUL terminator */
    if (size != wantlen + 1 || memcmp(got, want, wantlen) != 0) {
        fprintf(stderr, "  string \"%.*s\" (%zu) want \"%s\"\n", (int)size, got, size, want);
        return false;
    }
    return true;
}

static bool t_str(w2k_coltype_t ct, int flags, const char *text, int br, const char *want)
{
    avro_value_t v;
    return conv_ok(&ct, flags, text, br, &v) && str_is(&v, want, strlen(want));
}

/* A special value: the wal2kafka.SpecialValue branch with symbol sym. */
static bool t_sym(w2k_coltype_t ct, int flags, const char *text, int br, int sym)
{
    avro_value_t v;
    int got;
    if (!conv_ok(&ct, flags, text, br, &v) || avro_value_get_enum(&v, &got) != 0)
        return false;
    if (got != sym)
        fprintf(stderr, "  %s: symbol %d want %d\n", text, got, sym);
    return got == sym;
}

/* An array of another shape: the wal2kafka.ArrayText branch holding the text. */
static bool t_atext(w2k_coltype_t ct, int flags, const char *text, int br, const char *want)
{
    avro_value_t v, f;
    return conv_ok(&ct, flags, text, br, &v) && avro_value_get_by_index(&v, 0, &f, NULL) == 0 &&
           str_is(&f, want, strlen(want));
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static bool bytes_are(avro_value_t *v, const char *hex)
{
    const void *got;
    size_t size;
    uint8_t want[4096];
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++)
        want[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
    if (avro_value_get_bytes(v, &got, &size) != 0)
        return false;
    if (size != n || memcmp(got, want, n) != 0) {
        fprintf(stderr, "  bytes (%zu):", size);
        for (size_t i = 0; i < size && i < 40; i++)
            fprintf(stderr, "%02x", ((const uint8_t *)got)[i]);
        fprintf(stderr, " want %s\n", hex);
        return false;
    }
    return true;
}

static bool t_bytes(w2k_coltype_t ct, int flags, const char *text, int br, const char *hex)
{
    avro_value_t v;
    return conv_ok(&ct, flags, text, br, &v) && bytes_are(&v, hex);
}

/* Decode minimal two's-complement big-endian bytes to decimal digits, by repeated
 * division (independent of the code under test). */
static void twos_to_decimal(const uint8_t *b, size_t n, char *out)
{
    uint8_t mag[2048];
    bool neg = n > 0 && (b[0] & 0x80);
    memcpy(mag, b, n);
    if (neg) {
        unsigned carry = 1;
        for (size_t i = n; i-- > 0;) {
            unsigned t = (uint8_t)~mag[i] + carry;
            mag[i] = (uint8_t)t;
            carry = t >> 8;
        }
    }
    char digits[8192];
    size_t nd = 0;
    bool nonzero = true;
    while (nonzero) {
        unsigned rem = 0;
        nonzero = false;
        for (size_t i = 0; i < n; i++) {
            unsigned cur = rem * 256 + mag[i];
            mag[i] = (uint8_t)(cur / 10);
            rem = cur % 10;
            if (mag[i])
                nonzero = true;
        }
        digits[nd++] = (char)('0' + rem);
    }
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    while (nd > 0)
        out[o++] = digits[--nd];
    out[o] = '\0';
}

/* A decimal whose unscaled value, decoded independently, is want. */
static bool t_decimal_digits(w2k_coltype_t ct, const char *text, const char *want)
{
    avro_value_t v;
    const void *got;
    size_t size;
    char dec[8192];
    if (!conv_ok(&ct, 0, text, 0, &v) || avro_value_get_bytes(&v, &got, &size) != 0)
        return false;
    const uint8_t *b = got;
    /* minimal: the first byte is not a redundant sign byte */
    if (size > 1 && ((b[0] == 0 && !(b[1] & 0x80)) || (b[0] == 0xff && (b[1] & 0x80))))
        return report(text, "not minimal");
    twos_to_decimal(b, size, dec);
    if (strcmp(dec, want) != 0)
        fprintf(stderr, "  got %.60s want %.60s\n", dec, want);
    return strcmp(dec, want) == 0;
}

static bool t_vardec(const char *text, int32_t scale, const char *hex)
{
    w2k_coltype_t ct = ty(W2K_OID_NUMERIC, -1);
    avro_value_t v, f;
    int32_t sc;
    if (!conv_ok(&ct, 0, text, 0, &v))
        return false;
    avro_value_get_by_index(&v, 0, &f, NULL);
    avro_value_get_int(&f, &sc);
    if (sc != scale)
        return report(text, "wrong scale");
    avro_value_get_by_index(&v, 1, &f, NULL);
    return bytes_are(&f, hex);
}

static bool t_interval(const char *text, int32_t months, int32_t days, int64_t micros)
{
    w2k_coltype_t ct = ty(W2K_OID_INTERVAL, -1);
    avro_value_t v, f;
    int32_t mo, dd;
    int64_t us;
    if (!conv_ok(&ct, 0, text, -1, &v))
        return false;
    avro_value_get_by_index(&v, 0, &f, NULL);
    avro_value_get_int(&f, &mo);
    avro_value_get_by_index(&v, 1, &f, NULL);
    avro_value_get_int(&f, &dd);
    avro_value_get_by_index(&v, 2, &f, NULL);
    avro_value_get_long(&f, &us);
    if (mo != months || dd != days || us != micros) {
        fprintf(stderr, "  %s: got %d %d %lld\n", text, mo, dd, (long long)us);
        return false;
    }
    return true;
}

/* The conversion fails and the message names the type and quotes the value. */
static bool t_err(w2k_coltype_t ct, int flags, const char *text, const char *name)
{
    int br;
    avro_value_t v;
    if (conv(&ct, flags, 't', text, &br, &v) != -1) {
        fprintf(stderr, "  \"%s\" was accepted\n", text);
        return false;
    }
    /* the message quotes the value (its first 64 bytes); an element error quotes the
     * element, which name then spells out */
    char quoted[80];
    snprintf(quoted, sizeof quoted, "\"%.64s", text);
    bool quotes = strstr(name, " element ") || strstr(g.err, quoted);
    if (strncmp(g.err, name, strlen(name)) != 0 || !quotes) {
        fprintf(stderr, "  message \"%s\" does not start with \"%s\" or lacks the value\n", g.err,
                name);
        return false;
    }
    return true;
}

#define T_INT(...)    CHECK(t_int(__VA_ARGS__))
#define T_LONG(...)   CHECK(t_long(__VA_ARGS__))
#define T_DOUBLE(...) CHECK(t_double(__VA_ARGS__))
#define T_FLOAT(...)  CHECK(t_float(__VA_ARGS__))
#define T_STR(...)    CHECK(t_str(__VA_ARGS__))
#define T_SYM(...)    CHECK(t_sym(__VA_ARGS__))
#define T_ATEXT(...)  CHECK(t_atext(__VA_ARGS__))
#define T_BYTES(...)  CHECK(t_bytes(__VA_ARGS__))
#define T_DEC(...)    CHECK(t_decimal_digits(__VA_ARGS__))
#define T_VARDEC(...) CHECK(t_vardec(__VA_ARGS__))
#define T_IVL(...)    CHECK(t_interval(__VA_ARGS__))
#define T_ERR(...)    CHECK(t_err(__VA_ARGS__))

static void test_integers(void)
{
    w2k_coltype_t i2 = ty(W2K_OID_INT2, -1), i4 = ty(W2K_OID_INT4, -1);
    w2k_coltype_t i8 = ty(W2K_OID_INT8, -1), oid = ty(W2K_OID_OID, -1);
    CHECK_INT(i4.t.kind, W2K_AV_INT);
    CHECK(!i4.varlena && !i4.is_array && !i4.t.special);
    T_INT(i2, 0, "-32768", -1, -32768);
    T_INT(i2, NULLABLE, "32767", 1, 32767);
    T_INT(i4, 0, "0", -1, 0);
    T_INT(i4, NULLABLE, "-2147483648", 1, INT32_MIN);
    T_INT(i4, NULLABLE | TOAST, "2147483647", 1, INT32_MAX);
    T_LONG(i8, 0, "-9223372036854775808", -1, INT64_MIN);
    T_LONG(i8, NULLABLE, "9223372036854775807", 1, INT64_MAX);
    T_LONG(i8, 0, "42", -1, 42);
    T_LONG(oid, 0, "4294967295", -1, INT64_C(4294967295));
    T_LONG(oid, 0, "0", -1, 0);
    T_ERR(i2, 0, "32768", "smallint: cannot convert");
    T_ERR(i2, 0, "-32769", "smallint");
    T_ERR(i4, 0, "2147483648", "integer: cannot convert \"2147483648\": out of range");
    T_ERR(i4, 0, "-2147483649", "integer");
    T_ERR(i4, 0, "12a", "integer: cannot convert \"12a\": not an integer");
    T_ERR(i4, 0, "", "integer");
    T_ERR(i4, 0, "-", "integer");
    T_ERR(i4, 0, "1.5", "integer");
    T_ERR(i4, 0, " 1", "integer");
    T_ERR(i8, 0, "9223372036854775808", "bigint");
    T_ERR(i8, 0, "-9223372036854775809", "bigint");
    T_ERR(i8, 0, "99999999999999999999", "bigint");
    T_ERR(oid, 0, "-1", "oid");
    T_ERR(oid, 0, "4294967296", "oid");
}

static void test_floats(void)
{
    w2k_coltype_t f4 = ty(W2K_OID_FLOAT4, -1), f8 = ty(W2K_OID_FLOAT8, -1);
    T_DOUBLE(f8, "0.1", 0.1);
    T_DOUBLE(f8, "1e+300", 1e300);
    T_DOUBLE(f8, "1.5e-310", 1.5e-310);
    T_DOUBLE(f8, "-0", -0.0);
    T_DOUBLE(f8, "NaN", NAN);
    T_DOUBLE(f8, "Infinity", INFINITY);
    T_DOUBLE(f8, "-Infinity", -INFINITY);
    T_DOUBLE(f8, "1.7976931348623157e+308", 1.7976931348623157e308);
    T_FLOAT(f4, "1.5", 1.5f);
    T_FLOAT(f4, "0.1", 0.1f);
    T_FLOAT(f4, "3.4e+38", 3.4e38f);
    T_FLOAT(f4, "1e-45", 1e-45f);
    T_FLOAT(f4, "NaN", NAN);
    T_FLOAT(f4, "-Infinity", -INFINITY);
    T_ERR(f8, 0, "abc", "double precision: cannot convert");
    T_ERR(f8, 0, "1.5x", "double precision");
    T_ERR(f8, 0, "", "double precision");
    T_ERR(f8, 0, " 1", "double precision");
    T_ERR(f8, 0, "0x10", "double precision");
    T_ERR(f4, 0, "1,5", "real");
}

static void test_bool_strings_bytes(void)
{
    avro_value_t v;
    int b;
    w2k_coltype_t bo = ty(W2K_OID_BOOL, -1);
    CHECK(conv_ok(&bo, NULLABLE, "t", 1, &v) && avro_value_get_boolean(&v, &b) == 0 && b == 1);
    CHECK(conv_ok(&bo, 0, "f", -1, &v) && avro_value_get_boolean(&v, &b) == 0 && b == 0);
    T_ERR(bo, 0, "true", "boolean: cannot convert");
    T_ERR(bo, 0, "", "boolean");

    w2k_coltype_t tx = ty(W2K_OID_TEXT, -1);
    CHECK(tx.varlena);
    T_STR(tx, 0, "hello", -1, "hello");
    T_STR(tx, NULLABLE | TOAST, "", 1, "");
    T_STR(tx, NULLABLE, "h\xc3\xa9llo \"q\" \\ \n", 1, "h\xc3\xa9llo \"q\" \\ \n");
    T_STR(ty(W2K_OID_BPCHAR, 9), 0, "ab   ", -1, "ab   ");
    T_STR(ty(W2K_OID_VARCHAR, 14), 0, "abc", -1, "abc");
    T_STR(ty(W2K_OID_JSON, -1), 0, "{\"a\": 1,  \"b\":2}", -1, "{\"a\": 1,  \"b\":2}");
    T_STR(ty(W2K_OID_JSONB, -1), 0, "{\"a\": 1, \"b\": 2}", -1, "{\"a\": 1, \"b\": 2}");
    T_STR(ty(19, -1), 0, "pg_class", -1, "pg_class");
    T_STR(ty(W2K_OID_TIMETZ, -1), 0, "12:00:00.5-03:30", -1, "12:00:00.5-03:30");
    CHECK(!ty(19, -1).varlena && !ty(W2K_OID_TIMETZ, -1).varlena);
    w2k_coltype_t point = ty(600, -1); /* unmapped: its text form */
    CHECK_INT(point.t.kind, W2K_AV_STRING);
    CHECK(point.varlena);
    T_STR(point, 0, "(1,2)", -1, "(1,2)");

    w2k_coltype_t by = ty(W2K_OID_BYTEA, -1);
    CHECK(by.varlena);
    T_BYTES(by, 0, "\\x", -1, "");
    T_BYTES(by, NULLABLE, "\\xdeadbeef", 1, "deadbeef");
    T_BYTES(by, 0, "\\x00FF", -1, "00ff");
    T_ERR(by, 0, "\\xabc", "bytea: cannot convert");
    T_ERR(by, 0, "\\xzz", "bytea");
    T_ERR(by, 0, "abc", "bytea");
    T_ERR(by, 0, "", "bytea");

    w2k_coltype_t uu = ty(W2K_OID_UUID, -1);
    CHECK(!uu.varlena);
    T_STR(uu, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", -1,
          "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    T_STR(uu, NULLABLE, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", 1,
          "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    T_ERR(uu, 0, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1", "uuid: cannot convert");
    T_ERR(uu, 0, "a0eebc99x9c0b-4ef8-bb6d-6bb9bd380a11", "uuid");
    T_ERR(uu, 0, "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "uuid");
}

static void test_decimal(void)
{
    w2k_coltype_t n52 = ty(W2K_OID_NUMERIC, numtm(5, 2));
    CHECK_INT(n52.t.kind, W2K_AV_DECIMAL);
    CHECK_INT(n52.t.precision, 5);
    CHECK_INT(n52.t.scale, 2);
    CHECK(n52.t.special && n52.varlena);
    /* union: value 0, string 1 */
    T_BYTES(n52, 0, "1.50", 0, "0096");
    T_BYTES(n52, 0, "-1.50", 0, "ff6a");
    T_BYTES(n52, 0, "0.00", 0, "00");
    T_BYTES(n52, 0, "999.99", 0, "01869f");
    T_BYTES(n52, 0, "-999.99", 0, "fe7961");
    T_BYTES(n52, 0, "1.5", 0, "0096");   /* fewer digits than the scale: padded */
    T_BYTES(n52, 0, "1.500", 0, "0096"); /* trailing zeros beyond the scale: dropped */
    T_BYTES(n52, 0, "1", 0, "64");
    T_BYTES(n52, NULLABLE | TOAST, "0.15", 1, "0f");
    T_SYM(n52, 0, "NaN", 1, W2K_SV_NAN);
    T_SYM(n52, 0, "Infinity", 1, W2K_SV_POSITIVE_INFINITY);
    T_SYM(n52, NULLABLE | TOAST, "-Infinity", 2, W2K_SV_NEGATIVE_INFINITY);
    T_ERR(n52, 0, "1.505", "numeric (Avro decimal(5,2)): cannot convert \"1.505\": more fraction");
    T_ERR(n52, 0, "1000.00",
          "numeric (Avro decimal(5,2)): cannot convert \"1000.00\": more "
          "significant digits");
    T_ERR(n52, 0, "1.2.3", "numeric");
    T_ERR(n52, 0, "abc", "numeric");
    T_ERR(n52, 0, "", "numeric");
    T_ERR(n52, 0, "-", "numeric");
    T_ERR(n52, 0, ".", "numeric");
    T_ERR(n52, 0, "1e5", "numeric");
    T_ERR(n52, 0, "nan", "numeric");
    T_BYTES(n52, 0, "00001.50", 0, "0096"); /* leading zeros are not significant */
    T_BYTES(n52, 0, "-.5", 0, "ce");
    T_BYTES(n52, 0, "5.", 0, "01f4");
    T_ERR(n52, 0, "-1000.00", "numeric");
    T_ERR(n52, 0, "1.5x", "numeric");
    /* one pass for up to 18 digits once scaled, the general path beyond */
    w2k_coltype_t n182 = ty(W2K_OID_NUMERIC, numtm(18, 2));
    T_BYTES(n182, 0, "9999999999999999.99", 0, "0de0b6b3a763ffff");
    T_BYTES(n182, 0, "-9999999999999999.99", 0, "f21f494c589c0001");
    T_ERR(n182, 0, "10000000000000000.00", "numeric (Avro decimal(18,2)): cannot convert");
    T_BYTES(n182, 0, "00000000000000001.25", 0, "7d");

    w2k_coltype_t n3810 = ty(W2K_OID_NUMERIC, numtm(38, 10));
    T_BYTES(n3810, 0, "12345678901234567890.1234567890", 0, "018ee90ff6c373e0ee4e3f0ad2");
    T_BYTES(n3810, 0, "-99999999999999999999999999.9999999999", 0,
            "ff3f68318436f8ea4cb460f000000001");
    T_BYTES(n3810, 0, "9999999999999999999999999999.9999999999", 0,
            "4b3b4ca85a86c47a098a223fffffffff");
    T_BYTES(n3810, 0, "-9999999999999999999999999999.9999999999", 0,
            "b4c4b357a5793b85f675ddc000000001");
    T_BYTES(n3810, 0, "-100000000.0000000000", 0, "f21f494c589c0000");
    T_BYTES(n3810, 0, "99999999.9999999999", 0, "0de0b6b3a763ffff");
    T_BYTES(n3810, 0, "0.0000000001", 0, "01");
    T_BYTES(n3810, 0, "-0.0000000000", 0, "00");
    T_ERR(n3810, 0, "99999999999999999999999999999.9999999999", "numeric");
    /* 64-bit boundaries of the fast path */
    w2k_coltype_t n30 = ty(W2K_OID_NUMERIC, numtm(30, 0));
    T_BYTES(n30, 0, "9223372036854775808", 0, "008000000000000000");
    T_BYTES(n30, 0, "-9223372036854775808", 0, "8000000000000000");
    T_BYTES(n30, 0, "9223372036854775807", 0, "7fffffffffffffff");
    T_BYTES(n30, 0, "999999999999999999", 0, "0de0b6b3a763ffff");
    T_BYTES(n30, 0, "127", 0, "7f");
    T_BYTES(n30, 0, "128", 0, "0080");
    T_BYTES(n30, 0, "-128", 0, "80");
    T_BYTES(n30, 0, "-129", 0, "ff7f");
    T_BYTES(n30, 0, "000000000000000000000000000127", 0, "7f");

    /* numeric(1000,0): far beyond 64 bits */
    static char big[1002], want[1002];
    memset(big, '9', 1000);
    big[1000] = '\0';
    w2k_coltype_t n1000 = ty(W2K_OID_NUMERIC, numtm(1000, 0));
    T_DEC(n1000, big, big);
    want[0] = '-';
    memcpy(want + 1, big, 1001);
    T_DEC(n1000, want, want);
    char mixed[1001];
    for (int i = 0; i < 1000; i++)
        mixed[i] = (char)('1' + (i * 7) % 9);
    mixed[1000] = '\0';
    T_DEC(n1000, mixed, mixed);
    static char big1001[1003];
    memset(big1001, '9', 1001);
    big1001[1001] = '\0';
    T_ERR(n1000, 0, big1001, "numeric");
    w2k_coltype_t n4020 = ty(W2K_OID_NUMERIC, numtm(40, 20));
    T_DEC(n4020, "-12345678901234567890.12345678901234567890",
          "-1234567890123456789012345678901234567890");
    T_DEC(n4020, "1.5", "150000000000000000000");

    /* PostgreSQL 15 scales: negative, and larger than the precision */
    w2k_coltype_t nneg = ty(W2K_OID_NUMERIC, numtm(5, -2));
    CHECK_INT(nneg.t.precision, 7);
    CHECK_INT(nneg.t.scale, 0);
    T_BYTES(nneg, 0, "12300", 0, "300c");
    T_BYTES(nneg, 0, "9999900", 0, "0098961c");
    w2k_coltype_t nbig = ty(W2K_OID_NUMERIC, numtm(3, 5));
    CHECK_INT(nbig.t.precision, 5);
    CHECK_INT(nbig.t.scale, 5);
    T_BYTES(nbig, 0, "0.00120", 0, "78");
    T_BYTES(nbig, 0, "-0.00999", 0, "fc19");

    /* numeric without typmod */
    w2k_coltype_t nv = ty(W2K_OID_NUMERIC, -1);
    CHECK_INT(nv.t.kind, W2K_AV_VARDECIMAL);
    CHECK(nv.t.special && nv.varlena);
    T_VARDEC("123.456", 3, "01e240");
    T_VARDEC("0.0", 1, "00");
    T_VARDEC("-0.001", 3, "ff");
    T_VARDEC("100000000000000000000", 0, "056bc75e2d63100000");
    T_VARDEC("1.000", 3, "03e8");
    T_VARDEC("-12345678901234567890.1234567890", 10, "fe7116f0093c8c1f11b1c0f52e");
    T_SYM(nv, NULLABLE, "NaN", 2, W2K_SV_NAN);
    T_SYM(nv, 0, "-Infinity", 1, W2K_SV_NEGATIVE_INFINITY);
    T_ERR(nv, 0, "1..2", "numeric: cannot convert");
    T_ERR(nv, 0, "+1", "numeric");
}

static void test_dates_times(void)
{
    w2k_coltype_t d = ty(W2K_OID_DATE, -1);
    CHECK(d.t.special && !d.varlena);
    T_INT(d, 0, "2024-02-29", 0, 19782);
    T_INT(d, 0, "1970-01-01", 0, 0);
    T_INT(d, 0, "0044-03-15 BC", 0, -735160);
    T_INT(d, 0, "12345-01-01", 0, 3789391);
    T_INT(d, 0, "4713-01-01 BC", 0, -2440550);
    T_INT(d, 0, "5874897-12-31", 0, 2145042905);
    T_INT(d, 0, "0001-01-01", 0, -719162);
    T_INT(d, 0, "0001-12-31 BC", 0, -719163);
    T_INT(d, 0, "2000-03-01", 0, 11017);
    T_INT(d, NULLABLE, "1900-03-01", 1, -25508);
    T_SYM(d, 0, "infinity", 1, W2K_SV_POSITIVE_INFINITY);
    T_SYM(d, NULLABLE, "-infinity", 2, W2K_SV_NEGATIVE_INFINITY);
    T_ERR(d, 0, "2023-02-29", "date: cannot convert \"2023-02-29\": no such date");
    T_ERR(d, 0, "1900-02-29", "date");
    T_ERR(d, 0, "2024-13-01", "date");
    T_ERR(d, 0, "2024-04-31", "date");
    T_ERR(d, 0, "0000-01-01", "date");
    T_ERR(d, 0, "2024-1-1", "date");
    T_ERR(d, 0, "2024-01-01 AD", "date");
    T_ERR(d, 0, "2024-01-01x", "date");
    T_ERR(d, 0, "9999999999-01-01", "date");
    T_ERR(d, 0, "6000000-01-01", "date: cannot convert \"6000000-01-01\": out of range");
    T_ERR(d, 0, "Infinity", "date");
    w2k_coltype_t dns = d;
    dns.t.special = false;
    T_ERR(dns, 0, "infinity", "date: cannot convert \"infinity\": not an ISO date");

    w2k_coltype_t t = ty(W2K_OID_TIME, -1);
    CHECK(t.t.special && !t.varlena);
    /* 24:00:00 is no Avro time-micros (Python's datetime.time has no 24:00): a marker */
    T_SYM(t, 0, "24:00:00", 1, W2K_SV_END_OF_DAY);
    T_SYM(t, NULLABLE, "24:00:00", 2, W2K_SV_END_OF_DAY);
    T_LONG(t, 0, "00:00:00", 0, 0);
    T_LONG(t, NULLABLE, "12:34:56.5", 1, INT64_C(45296500000));
    T_LONG(t, 0, "12:00:00.000001", 0, INT64_C(43200000001));
    T_LONG(t, 0, "23:59:59.999999", 0, INT64_C(86399999999));
    T_ERR(t, 0, "25:00:00", "time: cannot convert");
    T_ERR(t, 0, "24:00:01", "time");
    T_ERR(t, 0, "24:00:00.000001", "time");
    T_ERR(t, 0, "12:60:00", "time");
    T_ERR(t, 0, "12:00", "time");
    T_ERR(t, 0, "12:00:00.", "time");
    T_ERR(t, 0, "12:00:00.1234567", "time");
    T_ERR(t, 0, "12:00:00+00", "time");

    w2k_coltype_t tz = ty(W2K_OID_TIMESTAMPTZ, -1);
    CHECK(tz.t.special && !tz.varlena);
    CHECK_INT(tz.t.kind, W2K_AV_TIMESTAMP_MICROS);
    T_LONG(tz, 0, "2024-01-15 12:34:56+00", 0, INT64_C(1705322096000000));
    T_LONG(tz, 0, "2024-01-15 12:34:56.1+00", 0, INT64_C(1705322096100000));
    T_LONG(tz, 0, "2024-01-15 12:34:56.12+00", 0, INT64_C(1705322096120000));
    T_LONG(tz, 0, "2024-01-15 12:34:56.123+00", 0, INT64_C(1705322096123000));
    T_LONG(tz, 0, "2024-01-15 12:34:56.1234+00", 0, INT64_C(1705322096123400));
    T_LONG(tz, 0, "2024-01-15 12:34:56.12345+00", 0, INT64_C(1705322096123450));
    T_LONG(tz, NULLABLE, "2024-01-15 12:34:56.123456+00", 1, INT64_C(1705322096123456));
    T_LONG(tz, 0, "0044-03-15 12:00:00+00 BC", 0, INT64_C(-63517780800000000));
    T_LONG(tz, 0, "1969-12-31 23:59:59.999999+00", 0, -1);
    T_LONG(tz, 0, "4713-01-01 00:00:00+00 BC", 0, INT64_C(-210863520000000000));
    T_LONG(tz, 0, "12345-06-07 01:02:03+00", 0, INT64_C(327416950923000000));
    T_LONG(tz, 0, "2024-01-15 12:34:56+05:30", 0, INT64_C(1705302296000000));
    T_LONG(tz, 0, "2024-01-15 12:34:56-03:00:15", 0, INT64_C(1705332911000000));
    T_SYM(tz, 0, "infinity", 1, W2K_SV_POSITIVE_INFINITY);
    T_SYM(tz, NULLABLE, "-infinity", 2, W2K_SV_NEGATIVE_INFINITY);
    T_ERR(tz, 0, "294276-12-31 23:59:59.999999+00", "timestamptz: cannot convert");
    T_ERR(tz, 0, "2024-01-15 12:34:56", "timestamptz");
    T_ERR(tz, 0, "2024-01-15T12:34:56+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56+0", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 24:00:00+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56.1234567+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56+00 AD", "timestamptz");
    /* the edges of the straight-line parser for the usual form */
    T_LONG(tz, 0, "2024-02-29 00:00:00+00", 0, INT64_C(1709164800000000));
    T_LONG(tz, 0, "2000-01-01 00:00:00-00:30", 0, INT64_C(946686600000000));
    T_LONG(tz, 0, "9999-12-31 23:59:59.999999+14", 0, INT64_C(253402250399999999));
    T_LONG(tz, 0, "0001-01-01 00:00:00+00", 0, INT64_C(-62135596800000000));
    T_ERR(tz, 0, "2023-02-29 00:00:00+00", "timestamptz: cannot convert");
    T_ERR(tz, 0, "0000-01-01 00:00:00+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:60:00+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:60+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56.+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56+05:60", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56+05:3", "timestamptz");
    T_ERR(tz, 0, "2024-0a-15 12:34:56+00", "timestamptz");
    T_ERR(tz, 0, "2024-01-15 12:34:56+00:00:00:00", "timestamptz");

    w2k_coltype_t ts = ty(W2K_OID_TIMESTAMP, -1);
    CHECK_INT(ts.t.kind, W2K_AV_LOCAL_TIMESTAMP_MICROS);
    T_LONG(ts, 0, "2024-01-15 12:34:56.123456", 0, INT64_C(1705322096123456));
    T_LONG(ts, 0, "4713-01-01 00:00:00 BC", 0, INT64_C(-210863520000000000));
    T_LONG(ts, 0, "12345-06-07 01:02:03", 0, INT64_C(327416950923000000));
    T_LONG(ts, 0, "1970-01-01 00:00:00", 0, 0);
    T_SYM(ts, 0, "infinity", 1, W2K_SV_POSITIVE_INFINITY);
    T_ERR(ts, 0, "2024-01-15 12:34:56+00", "timestamp: cannot convert");
    T_ERR(ts, 0, "2024-02-30 00:00:00", "timestamp");
}

static void test_interval(void)
{
    w2k_coltype_t iv = ty(W2K_OID_INTERVAL, -1);
    CHECK(!iv.t.special && !iv.varlena);
    T_IVL("P1Y2M3DT4H5M6.5S", 14, 3, INT64_C(14706500000));
    T_IVL("PT0S", 0, 0, 0);
    T_IVL("P-1Y-2M3DT-4H-5M-6.123456S", -14, 3, INT64_C(-14706123456));
    T_IVL("P-1D", 0, -1, 0);
    T_IVL("P1DT-1S", 0, 1, -1000000);
    T_IVL("PT0.5S", 0, 0, 500000);
    T_IVL("PT-0.5S", 0, 0, -500000);
    T_IVL("PT59.5S", 0, 0, 59500000);
    T_IVL("P11M", 11, 0, 0);
    T_IVL("P-1Y", -12, 0, 0);
    T_IVL("PT-1.000001S", 0, 0, -1000001);
    T_IVL("PT2562047788H54S", 0, 0, INT64_C(9223372036854000000));
    T_IVL("PT277H46M40S", 0, 0, INT64_C(1000000000000));
    T_IVL("P178956970Y7M2147483647D", INT32_MAX, INT32_MAX, 0);
    T_IVL("P-178956970Y-8M-2147483648D", INT32_MIN, INT32_MIN, 0);
    T_ERR(iv, 0, "1 day", "interval: cannot convert");
    T_ERR(iv, 0, "P", "interval");
    T_ERR(iv, 0, "PT", "interval");
    T_ERR(iv, 0, "P1YT", "interval");
    T_ERR(iv, 0, "P1H", "interval");
    T_ERR(iv, 0, "PT1Y", "interval");
    T_ERR(iv, 0, "P1.5Y", "interval");
    T_ERR(iv, 0, "P1M1Y", "interval");
    T_ERR(iv, 0, "P1Y1Y", "interval");
    T_ERR(iv, 0, "P1", "interval");
    T_ERR(iv, 0, "P178956970Y8M", "interval: cannot convert \"P178956970Y8M\": out of range");
    T_ERR(iv, 0, "PT9999999999H", "interval");
    T_ERR(iv, 0, "infinity", "interval");
}

/* Check the array read back from the last conversion: its size and, per element,
 * the branch (0 null, 1 value, 2 string). */
static bool array_is(avro_value_t *arr, size_t n, const int *branches)
{
    size_t size;
    if (avro_value_get_size(arr, &size) != 0 || size != n) {
        fprintf(stderr, "  array size %zu want %zu\n", size, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        int d;
        avro_value_get_by_index(arr, i, &item, NULL);
        avro_value_get_discriminant(&item, &d);
        if (d != branches[i]) {
            fprintf(stderr, "  element %zu branch %d want %d\n", i, d, branches[i]);
            return false;
        }
    }
    return true;
}

static bool item(avro_value_t *arr, size_t i, avro_value_t *v)
{
    avro_value_t it;
    return avro_value_get_by_index(arr, i, &it, NULL) == 0 &&
           avro_value_get_current_branch(&it, v) == 0;
}

static bool item_str(avro_value_t *arr, size_t i, const char *want)
{
    avro_value_t v;
    return item(arr, i, &v) && str_is(&v, want, strlen(want));
}

static bool item_sym(avro_value_t *arr, size_t i, int want)
{
    avro_value_t v;
    int got;
    return item(arr, i, &v) && avro_value_get_enum(&v, &got) == 0 && got == want;
}

static bool item_long(avro_value_t *arr, size_t i, int64_t want)
{
    avro_value_t v;
    int64_t got;
    return item(arr, i, &v) && avro_value_get_long(&v, &got) == 0 && got == want;
}

static bool item_int(avro_value_t *arr, size_t i, int32_t want)
{
    avro_value_t v;
    int32_t got;
    return item(arr, i, &v) && avro_value_get_int(&v, &got) == 0 && got == want;
}

static void test_arrays(void)
{
    avro_value_t a, v;
    w2k_coltype_t ai4 = ty(1007, -1);
    CHECK(ai4.is_array && ai4.varlena);
    CHECK_INT(ai4.t.kind, W2K_AV_INT);
    CHECK_INT(w2k_pgtype_array_elem(1007), W2K_OID_INT4);
    CHECK_INT(w2k_pgtype_array_elem(W2K_OID_INT4), 0);
    /* union: null 0, array 1, string 2, toast 3 */
    if (OK(conv_ok(&ai4, NULLABLE | TOAST, "{1,2,NULL,-3}", 1, &a))) {
        static const int br[] = {1, 1, 0, 1};
        CHECK(array_is(&a, 4, br));
        CHECK(item_int(&a, 0, 1) && item_int(&a, 1, 2) && item_int(&a, 3, -3));
    }
    CHECK(conv_ok(&ai4, NULLABLE, "{}", 1, &a) && array_is(&a, 0, NULL));
    CHECK(conv_ok(&ai4, 0, "{}", 0, &a) && array_is(&a, 0, NULL));
    T_ATEXT(ai4, NULLABLE | TOAST, "{{1,2},{3,4}}", 2, "{{1,2},{3,4}}");
    T_ATEXT(ai4, NULLABLE, "[0:1]={1,2}", 2, "[0:1]={1,2}");
    T_ATEXT(ai4, 0, "[1:2][1:1]={{1},{2}}", 1, "[1:2][1:1]={{1},{2}}");
    T_ATEXT(ai4, 0, "{{{1}}}", 1, "{{{1}}}");
    if (OK(conv_ok(&ai4, 0, "[1:2]={5,6}", 0, &a))) {
        static const int br[] = {1, 1};
        CHECK(array_is(&a, 2, br) && item_int(&a, 1, 6));
    }
    if (OK(conv_ok(&ai4, 0, "{ 7 , NULL }", 0, &a))) {
        static const int br[] = {1, 0};
        CHECK(array_is(&a, 2, br) && item_int(&a, 0, 7));
    }
    T_ERR(ai4, 0, "{1,2", "integer[]: cannot convert");
    T_ERR(ai4, 0, "{1,,2}", "integer[]");
    T_ERR(ai4, 0, "1,2", "integer[]");
    T_ERR(ai4, 0, "{1}x", "integer[]");
    T_ERR(ai4, 0, "{1,2}}", "integer[]");
    T_ERR(ai4, 0, "", "integer[]");
    T_ERR(ai4, 0, "{\"1}", "integer[]");
    T_ERR(ai4, 0, "[0:1={1,2}", "integer[]");
    T_ERR(ai4, 0, "{1,abc}", "integer[] element 2: cannot convert \"abc\": not an integer");
    T_ERR(ai4, 0, "{\"NULL\"}", "integer[] element 1: cannot convert \"NULL\"");

    w2k_coltype_t atx = ty(1009, -1);
    if (OK(conv_ok(&atx, NULLABLE,
                   "{\"a b\",NULL,\"NULL\",\"x\\\"y\",\"a\\\\b\",\"\",\" s \",\"a,b\",\"{x}\","
                   "null,plain,\"\xc3\xa9\"}",
                   1, &a))) {
        static const int br[] = {1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1};
        CHECK(array_is(&a, 12, br));
        CHECK(item_str(&a, 0, "a b"));
        CHECK(item_str(&a, 2, "NULL"));
        CHECK(item_str(&a, 3, "x\"y"));
        CHECK(item_str(&a, 4, "a\\b"));
        CHECK(item_str(&a, 5, ""));
        CHECK(item_str(&a, 6, " s "));
        CHECK(item_str(&a, 7, "a,b"));
        CHECK(item_str(&a, 8, "{x}"));
        CHECK(item_str(&a, 10, "plain"));
        CHECK(item_str(&a, 11, "\xc3\xa9"));
    }
    if (OK(conv_ok(&atx, 0, "{\"a\nb\",\"tab\there\"}", 0, &a)))
        CHECK(item_str(&a, 0, "a\nb") && item_str(&a, 1, "tab\there"));

    w2k_coltype_t anum = ty(1231, -1);
    CHECK(anum.t.special);
    if (OK(conv_ok(&anum, 0, "{NaN,Infinity,1.5,NULL,-Infinity}", 0, &a))) {
        static const int br[] = {2, 2, 1, 0, 2};
        CHECK(array_is(&a, 5, br));
        CHECK(item_sym(&a, 0, W2K_SV_NAN) && item_sym(&a, 1, W2K_SV_POSITIVE_INFINITY));
        avro_value_t f;
        int32_t sc;
        CHECK(item(&a, 2, &v) && avro_value_get_by_index(&v, 0, &f, NULL) == 0 &&
              avro_value_get_int(&f, &sc) == 0 && sc == 1);
        CHECK(avro_value_get_by_index(&v, 1, &f, NULL) == 0 && bytes_are(&f, "0f"));
    }
    w2k_coltype_t anum52 = ty(1231, numtm(5, 2));
    CHECK_INT(anum52.t.kind, W2K_AV_DECIMAL);
    if (OK(conv_ok(&anum52, 0, "{1.50,-1.50,NaN}", 0, &a))) {
        static const int br[] = {1, 1, 2};
        CHECK(array_is(&a, 3, br));
        CHECK(item(&a, 0, &v) && bytes_are(&v, "0096"));
        CHECK(item(&a, 1, &v) && bytes_are(&v, "ff6a"));
    }
    T_ERR(anum52, 0, "{1.50,1234.5}",
          "numeric (Avro decimal(5,2))[] element 2: cannot convert \"1234.5\"");

    w2k_coltype_t adate = ty(1182, -1);
    if (OK(conv_ok(&adate, 0, "{infinity,2024-02-29,\"0044-03-15 BC\"}", 0, &a))) {
        static const int br[] = {2, 1, 1};
        CHECK(array_is(&a, 3, br));
        CHECK(item_sym(&a, 0, W2K_SV_POSITIVE_INFINITY) && item_int(&a, 1, 19782) &&
              item_int(&a, 2, -735160));
    }
    w2k_coltype_t atz = ty(1185, -1);
    if (OK(conv_ok(&atz, 0, "{\"2020-01-01 00:00:00+00\",-infinity}", 0, &a))) {
        static const int br[] = {1, 2};
        CHECK(array_is(&a, 2, br) && item_long(&a, 0, INT64_C(1577836800000000)));
    }
    w2k_coltype_t ats = ty(1115, -1);
    CHECK(conv_ok(&ats, 0, "{\"1970-01-01 00:00:01\"}", 0, &a) && item_long(&a, 0, 1000000));
    w2k_coltype_t ati = ty(1183, -1);
    CHECK(ati.t.special);
    CHECK(conv_ok(&ati, 0, "{24:00:00,NULL,00:00:01}", 0, &a) &&
          item_sym(&a, 0, W2K_SV_END_OF_DAY) && item_long(&a, 2, INT64_C(1000000)));
    w2k_coltype_t aiv = ty(1187, -1);
    if (OK(conv_ok(&aiv, 0, "{P1D,PT-0.5S}", 0, &a))) {
        avro_value_t f;
        int32_t dd;
        int64_t us;
        CHECK(item(&a, 0, &v) && avro_value_get_by_index(&v, 1, &f, NULL) == 0 &&
              avro_value_get_int(&f, &dd) == 0 && dd == 1);
        CHECK(item(&a, 1, &v) && avro_value_get_by_index(&v, 2, &f, NULL) == 0 &&
              avro_value_get_long(&f, &us) == 0 && us == -500000);
    }
    w2k_coltype_t aby = ty(1001, -1);
    if (OK(conv_ok(&aby, 0, "{\"\\\\x00ff\",NULL,\"\\\\x\"}", 0, &a))) {
        static const int br[] = {1, 0, 1};
        CHECK(array_is(&a, 3, br));
        CHECK(item(&a, 0, &v) && bytes_are(&v, "00ff"));
        CHECK(item(&a, 2, &v) && bytes_are(&v, ""));
    }
    w2k_coltype_t ajb = ty(3807, -1);
    if (OK(conv_ok(&ajb, 0, "{\"{\\\"a\\\": 1}\",\"[1, 2]\"}", 0, &a)))
        CHECK(item_str(&a, 0, "{\"a\": 1}") && item_str(&a, 1, "[1, 2]"));
    w2k_coltype_t ajs = ty(199, -1);
    CHECK(conv_ok(&ajs, 0, "{\"{}\",1}", 0, &a) && item_str(&a, 0, "{}") && item_str(&a, 1, "1"));
    w2k_coltype_t abool = ty(1000, -1);
    if (OK(conv_ok(&abool, 0, "{t,f,NULL}", 0, &a))) {
        int b1, b2;
        avro_value_t v2;
        CHECK(item(&a, 0, &v) && avro_value_get_boolean(&v, &b1) == 0 && b1 == 1);
        CHECK(item(&a, 1, &v2) && avro_value_get_boolean(&v2, &b2) == 0 && b2 == 0);
    }
    CHECK(conv_ok(tp(1014, 7), 0, "{\"a  \",b}", 0, &a) && item_str(&a, 0, "a  ") &&
          item_str(&a, 1, "b"));
    CHECK(conv_ok(tp(1003, -1), 0, "{a}", 0, &a) && item_str(&a, 0, "a"));
    CHECK(conv_ok(tp(1015, -1), 0, "{\"a\\\\b\",\"x y\",\"\\\"\"}", 0, &a) &&
          item_str(&a, 0, "a\\b") && item_str(&a, 1, "x y") && item_str(&a, 2, "\""));
    CHECK(conv_ok(tp(1270, -1), 0, "{12:00:00+05}", 0, &a) && item_str(&a, 0, "12:00:00+05"));
    CHECK(conv_ok(tp(2951, -1), 0, "{00000000-0000-0000-0000-00000000000A}", 0, &a) &&
          item_str(&a, 0, "00000000-0000-0000-0000-00000000000a"));
    if (OK(conv_ok(tp(1021, -1), 0, "{1.5,NaN}", 0, &a))) {
        float f;
        CHECK(item(&a, 0, &v) && avro_value_get_float(&v, &f) == 0 && f == 1.5f);
        CHECK(item(&a, 1, &v) && avro_value_get_float(&v, &f) == 0 && isnan(f));
    }
    if (OK(conv_ok(tp(1022, -1), 0, "{-Infinity,0.1}", 0, &a))) {
        double d;
        CHECK(item(&a, 0, &v) && avro_value_get_double(&v, &d) == 0 && d == -INFINITY);
        CHECK(item(&a, 1, &v) && avro_value_get_double(&v, &d) == 0 && d == 0.1);
    }
    CHECK(conv_ok(tp(1005, -1), 0, "{-32768}", 0, &a) && item_int(&a, 0, -32768));
    CHECK(conv_ok(tp(1016, -1), 0, "{-9223372036854775808}", 0, &a) && item_long(&a, 0, INT64_MIN));
    CHECK(conv_ok(tp(1028, -1), 0, "{4294967295}", 0, &a) && item_long(&a, 0, INT64_C(4294967295)));
    T_ERR(ty(1005, -1), 0, "{32768}",
          "smallint[] element 1: cannot convert \"32768\": out of range");

    /* arrays of enums or domains: the element type given by the caller */
    w2k_coltype_t aenum;
    w2k_coltype_from_pg(&aenum, 16390, -1, W2K_OID_TEXT);
    CHECK(aenum.is_array && aenum.t.kind == W2K_AV_STRING);
    CHECK(conv_ok(&aenum, 0, "{red,green}", 0, &a) && item_str(&a, 1, "green"));
    w2k_coltype_t adom;
    w2k_coltype_from_pg(&adom, 16400, numtm(10, 2), W2K_OID_NUMERIC);
    CHECK(adom.is_array && adom.t.kind == W2K_AV_DECIMAL && adom.t.precision == 10);
    /* box[] separates elements with ';': kept as text */
    w2k_coltype_t abox = ty(1020, -1);
    CHECK(!abox.is_array && abox.t.kind == W2K_AV_STRING && abox.varlena);
    w2k_coltype_from_pg(&abox, 1020, -1, 603);
    CHECK(!abox.is_array && abox.t.kind == W2K_AV_STRING);

    /* the same value object set twice: the array is replaced, not appended to */
    w2k_coltype_t ct = ty(1007, -1);
    int br;
    if (conv(&ct, NULLABLE, 't', "{1,2,3}", &br, &a) == 0) {
        avro_value_t field;
        char err[256];
        avro_value_get_by_index(&g.in, 0, &field, NULL);
        CHECK_INT(
            w2k_coltype_set(&ct, NULLABLE, &field, 't', "{4}", 3, &g.scratch, err, sizeof err), 0);
        avro_value_t cur;
        size_t size = 0;
        avro_value_get_current_branch(&field, &cur);
        avro_value_get_size(&cur, &size);
        CHECK_INT(size, 1);
    } else {
        CHECK(0);
    }
}

static void test_null_toast(void)
{
    int br;
    avro_value_t v;
    w2k_coltype_t tx = ty(W2K_OID_TEXT, -1), i4 = ty(W2K_OID_INT4, -1);
    w2k_coltype_t n = ty(W2K_OID_NUMERIC, numtm(5, 2)), a = ty(1009, -1);
    int e;
    CHECK(conv(&tx, NULLABLE | TOAST, 'n', NULL, &br, &v) == 0 && br == 0);
    CHECK(conv(&tx, NULLABLE | TOAST, 'u', NULL, &br, &v) == 0 && br == 2 &&
          avro_value_get_enum(&v, &e) == 0 && e == 0);
    CHECK(conv(&n, NULLABLE | TOAST, 'u', NULL, &br, &v) == 0 && br == 3);
    CHECK(conv(&a, NULLABLE | TOAST, 'u', NULL, &br, &v) == 0 && br == 3);
    CHECK(conv(&a, NULLABLE | TOAST, 'n', NULL, &br, &v) == 0 && br == 0);
    CHECK(conv(&tx, TOAST, 'u', NULL, &br, &v) == 0 && br == 1);
    CHECK(conv(&i4, NULLABLE, 'n', NULL, &br, &v) == 0 && br == 0);
    CHECK(conv(&i4, 0, 'n', NULL, &br, &v) == -1);
    CHECK_STR(g.err, "integer: NULL for a field that is not nullable");
    CHECK(conv(&i4, NULLABLE, 'u', NULL, &br, &v) == -1);
    CHECK(strncmp(g.err, "integer: unchanged TOAST", 24) == 0);
    CHECK(conv(&i4, NULLABLE, 'x', "", &br, &v) == -1);
    CHECK(strstr(g.err, "unknown datum kind") != NULL);
    /* long values are truncated in messages */
    char lng[300];
    memset(lng, 'z', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    CHECK(conv(&i4, 0, 't', lng, &br, &v) == -1);
    CHECK(strstr(g.err, "zzz...\"") != NULL && strlen(g.err) < 150);
}

static void schema_text(const w2k_coltype_t *ct, int flags, bool canonical, unsigned *defined,
                        w2k_buf_t *b)
{
    w2k_buf_reset(b);
    w2k_coltype_schema(ct, flags, canonical, defined, b);
}

static void test_schema_text(void)
{
    w2k_buf_t b = W2K_BUF_INIT;
    unsigned def = 0;
    w2k_coltype_t i4 = ty(W2K_OID_INT4, -1);
    schema_text(&i4, 0, false, &def, &b);
    CHECK_STR(b.data, "\"int\"");
    schema_text(&i4, NULLABLE, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"int\"]");

    w2k_coltype_t n = ty(W2K_OID_NUMERIC, numtm(10, 2));
    def = 0;
    schema_text(&n, NULLABLE | TOAST, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":"
                      "10,\"scale\":2},{\"type\":\"enum\",\"name\":\"SpecialValue\",\"namespace"
                      "\":\"wal2kafka\",\"symbols\":[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_I"
                      "NFINITY\",\"END_OF_DAY\"]},{\"type\":\"enum\",\"name\":\"UnchangedToast\""
                      ",\"namespace\":\"wal2kafka\",\"symbols\":[\"UNCHANGED_TOAST\"]}]");
    CHECK_INT(def, W2K_NAMED_UNCHANGEDTOAST | W2K_NAMED_SPECIALVALUE);
    schema_text(&n, NULLABLE | TOAST, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":"
                      "10,\"scale\":2},\"wal2kafka.SpecialValue\",\"wal2kafka.UnchangedToast\"]");
    def = 0;
    schema_text(&n, NULLABLE | TOAST, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"bytes\",{\"name\":\"wal2kafka.SpecialValue\",\"type\":\"enum"
                      "\",\"symbols\":[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\"EN"
                      "D_OF_DAY\"]},{\"name\":\"wal2kafka.UnchangedToast\",\"type\":\"enum\",\""
                      "symbols\":[\"UNCHANGED_TOAST\"]}]");
    schema_text(&n, 0, true, &def, &b);
    CHECK_STR(b.data, "[\"bytes\",\"wal2kafka.SpecialValue\"]");

    w2k_coltype_t tz = ty(W2K_OID_TIMESTAMPTZ, -1);
    schema_text(&tz, NULLABLE, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-micros\"},\"wal"
                      "2kafka.SpecialValue\"]");
    schema_text(&tz, NULLABLE, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"long\",\"wal2kafka.SpecialValue\"]");

    w2k_coltype_t iv = ty(W2K_OID_INTERVAL, -1);
    def = 0;
    schema_text(&iv, 0, false, &def, &b);
    CHECK_STR(b.data, "{\"type\":\"record\",\"name\":\"Interval\",\"namespace\":\"wal2kafka\","
                      "\"fields\":[{\"name\":\"months\",\"type\":\"int\"},{\"name\":\"days\","
                      "\"type\":\"int\"},{\"name\":\"micros\",\"type\":\"long\"}]}");
    schema_text(&iv, NULLABLE, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"wal2kafka.Interval\"]");
    def = 0;
    schema_text(&iv, 0, true, &def, &b);
    CHECK_STR(b.data, "{\"name\":\"wal2kafka.Interval\",\"type\":\"record\",\"fields\":[{\"name\":"
                      "\"months\",\"type\":\"int\"},{\"name\":\"days\",\"type\":\"int\"},"
                      "{\"name\":\"micros\",\"type\":\"long\"}]}");

    w2k_coltype_t nv = ty(W2K_OID_NUMERIC, -1);
    def = 0;
    schema_text(&nv, NULLABLE, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"name\":\"wal2kafka.VariableScaleDecimal\",\"type\":\"record"
                      "\",\"fields\":[{\"name\":\"scale\",\"type\":\"int\"},{\"name\":\"value\""
                      ",\"type\":\"bytes\"}]},{\"name\":\"wal2kafka.SpecialValue\",\"type\":\"e"
                      "num\",\"symbols\":[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\""
                      "END_OF_DAY\"]}]");
    CHECK_INT(def, W2K_NAMED_VARDECIMAL | W2K_NAMED_SPECIALVALUE);

    w2k_coltype_t an = ty(1231, numtm(12, 2));
    def = 0;
    schema_text(&an, NULLABLE | TOAST, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"array\",\"items\":[\"null\",{\"type\":\"bytes\",\""
                      "logicalType\":\"decimal\",\"precision\":12,\"scale\":2},{\"type\":\"enum"
                      "\",\"name\":\"SpecialValue\",\"namespace\":\"wal2kafka\",\"symbols\":[\""
                      "NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\"END_OF_DAY\"]}]},{\""
                      "type\":\"record\",\"name\":\"ArrayText\",\"namespace\":\"wal2kafka\",\"f"
                      "ields\":[{\"name\":\"text\",\"type\":\"string\"}]},{\"type\":\"enum\",\""
                      "name\":\"UnchangedToast\",\"namespace\":\"wal2kafka\",\"symbols\":[\"UNC"
                      "HANGED_TOAST\"]}]");
    def = W2K_NAMED_UNCHANGEDTOAST;
    schema_text(&an, NULLABLE | TOAST, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"bytes\",{\"name\":\""
                      "wal2kafka.SpecialValue\",\"type\":\"enum\",\"symbols\":[\"NAN\",\"POSITI"
                      "VE_INFINITY\",\"NEGATIVE_INFINITY\",\"END_OF_DAY\"]}]},{\"name\":\"wal2k"
                      "afka.ArrayText\",\"type\":\"record\",\"fields\":[{\"name\":\"text\",\"ty"
                      "pe\":\"string\"}]},\"wal2kafka.UnchangedToast\"]");
    w2k_coltype_t ai = ty(1007, -1);
    schema_text(&ai, 0, true, &def, &b);
    CHECK_STR(b.data, "[{\"type\":\"array\",\"items\":[\"null\",\"int\"]},\"wal2kafka.ArrayText"
                      "\"]");

    static const struct {
        uint32_t oid;
        const char *full;
    } logical[] = {
        {W2K_OID_DATE, "{\"type\":\"int\",\"logicalType\":\"date\"}"},
        {W2K_OID_TIME, "{\"type\":\"long\",\"logicalType\":\"time-micros\"}"},
        {W2K_OID_TIMESTAMP, "{\"type\":\"long\",\"logicalType\":\"local-timestamp-micros\"}"},
        {W2K_OID_UUID, "{\"type\":\"string\",\"logicalType\":\"uuid\"}"},
        {W2K_OID_BOOL, "\"boolean\""},
        {W2K_OID_FLOAT4, "\"float\""},
        {W2K_OID_FLOAT8, "\"double\""},
        {W2K_OID_BYTEA, "\"bytes\""},
        {W2K_OID_JSONB, "\"string\""},
        {W2K_OID_INT8, "\"long\""},
    };
    for (size_t i = 0; i < sizeof logical / sizeof logical[0]; i++) {
        w2k_coltype_t ct = ty(logical[i].oid, -1);
        w2k_coltype_t plain = ct;
        plain.t.special = false;
        schema_text(&plain, 0, false, NULL, &b);
        CHECK_STR(b.data, logical[i].full);
    }
    w2k_buf_free(&b);
}

/* Every type in every flag combination: full and canonical schemas parse in avro-c,
 * also with a named type used twice in one record. */
static void test_schemas_parse(void)
{
    static const uint32_t oids[] = {W2K_OID_BOOL,
                                    W2K_OID_BYTEA,
                                    W2K_OID_INT8,
                                    W2K_OID_INT2,
                                    W2K_OID_INT4,
                                    W2K_OID_TEXT,
                                    W2K_OID_OID,
                                    W2K_OID_JSON,
                                    W2K_OID_FLOAT4,
                                    W2K_OID_FLOAT8,
                                    W2K_OID_BPCHAR,
                                    W2K_OID_VARCHAR,
                                    W2K_OID_DATE,
                                    W2K_OID_TIME,
                                    W2K_OID_TIMESTAMP,
                                    W2K_OID_TIMESTAMPTZ,
                                    W2K_OID_INTERVAL,
                                    W2K_OID_TIMETZ,
                                    W2K_OID_NUMERIC,
                                    W2K_OID_UUID,
                                    W2K_OID_JSONB,
                                    19,
                                    600,
                                    1000,
                                    1001,
                                    1003,
                                    1005,
                                    1007,
                                    1009,
                                    1014,
                                    1015,
                                    1016,
                                    1021,
                                    1022,
                                    1028,
                                    1115,
                                    1182,
                                    1183,
                                    1185,
                                    1187,
                                    1231,
                                    1270,
                                    199,
                                    2951,
                                    3807,
                                    1020};
    int failures = 0;
    for (size_t i = 0; i < sizeof oids / sizeof oids[0]; i++) {
        for (int tm = 0; tm < 2; tm++) {
            w2k_coltype_t ct = ty(oids[i], tm ? numtm(12, 2) : -1);
            for (int flags = 0; flags < 4; flags++) {
                for (int canon = 0; canon < 2; canon++) {
                    w2k_buf_t b = W2K_BUF_INIT;
                    unsigned def = 0;
                    w2k_buf_puts(&b, canon ? "{\"name\":\"R\",\"type\":\"record\",\"fields\":["
                                           : "{\"type\":\"record\",\"name\":\"R\",\"fields\":[");
                    for (int f = 0; f < 2; f++) {
                        w2k_buf_printf(&b, "%s{\"name\":\"f%d\",\"type\":", f ? "," : "", f);
                        w2k_coltype_schema(&ct, flags, canon, &def, &b);
                        w2k_buf_putc(&b, '}');
                    }
                    w2k_buf_puts(&b, "]}");
                    avro_schema_t s = NULL;
                    if (avro_schema_from_json_length(b.data, b.len, &s) != 0) {
                        fprintf(stderr, "  refused (%s): %s\n", avro_strerror(), b.data);
                        failures++;
                    } else {
                        avro_schema_decref(s);
                    }
                    w2k_buf_free(&b);
                }
            }
        }
    }
    CHECK_INT(failures, 0);
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ns per w2k_coltype_set for a few types (row fields: nullable). */
static void bench(void)
{
    static const struct {
        uint32_t oid;
        int32_t typmod;
        const char *text;
    } cases[] = {
        {W2K_OID_INT4, -1, "123456789"},
        {W2K_OID_TIMESTAMPTZ, -1, "2024-01-15 12:34:56.123456+00"},
        {W2K_OID_NUMERIC, ((12 << 16) | 2) + 4, "1234567890.12"},
        {W2K_OID_TEXT, -1, "some text of a typical length"},
        {W2K_OID_NUMERIC, ((38 << 16) | 10) + 4, "1234567890123456789012345678.1234567890"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        w2k_coltype_t ct = ty(cases[i].oid, cases[i].typmod);
        int flags = NULLABLE | (ct.varlena ? TOAST : 0);
        int br;
        avro_value_t v, field;
        char err[256];
        conv(&ct, flags, 't', cases[i].text, &br, &v);
        avro_value_get_by_index(&g.in, 0, &field, NULL);
        size_t len = strlen(cases[i].text);
        const int n = 2000000;
        int rc = 0;
        double t0 = now_ns();
        for (int k = 0; k < n; k++)
            rc |= w2k_coltype_set(&ct, flags, &field, 't', cases[i].text, len, &g.scratch, err,
                                  sizeof err);
        double t1 = now_ns();
        CHECK_INT(rc, 0);
        printf("bench oid %-5u typmod %-8d %-42s %6.1f ns/value\n", (unsigned)cases[i].oid,
               (int)cases[i].typmod, cases[i].text, (t1 - t0) / n);
    }
}

static w2k_coltype_t with_opts(uint32_t oid, int32_t typmod, int dec, int time, int special)
{
    w2k_coltype_t ct = ty(oid, typmod);
    w2k_typeopts_t o = {dec, time, special};
    w2k_coltype_apply_opts(&ct, &o);
    return ct;
}

static bool t_dbl(w2k_coltype_t ct, int flags, const char *text, int br, double want)
{
    avro_value_t v;
    double got;
    if (!conv_ok(&ct, flags, text, br, &v) || avro_value_get_double(&v, &got) != 0)
        return false;
    if (isnan(want))
        return isnan(got);
    if (got != want)
        fprintf(stderr, "  %s: got %.17g want %.17g\n", text, got, want);
    return got == want;
}

static bool t_null(w2k_coltype_t ct, int flags, const char *text)
{
    avro_value_t v;
    return conv_ok(&ct, flags, text, 0, &v) && avro_value_get_type(&v) == AVRO_NULL;
}

/* The representation options: decimal_handling, time_precision, special_values. */
static void test_options(void)
{
    w2k_buf_t b = W2K_BUF_INIT;
    unsigned def = 0;
    w2k_typeopts_t defaults = {0, 0, 0};
    w2k_coltype_t n = ty(W2K_OID_NUMERIC, numtm(10, 2)), n0 = n;
    w2k_coltype_apply_opts(&n, &defaults);
    w2k_coltype_apply_opts(&n, NULL);
    CHECK(memcmp(&n, &n0, sizeof n) == 0);

    /* decimal_handling = double: NaN and the infinities are doubles, no marker */
    w2k_coltype_t nd = with_opts(W2K_OID_NUMERIC, numtm(10, 2), W2K_DECIMAL_DOUBLE, 0, 0);
    schema_text(&nd, NULLABLE | TOAST, false, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"double\",{\"type\":\"enum\",\"name\":\"UnchangedToast\","
                      "\"namespace\":\"wal2kafka\",\"symbols\":[\"UNCHANGED_TOAST\"]}]");
    CHECK(t_dbl(nd, NULLABLE, "1234.56", 1, 1234.56));
    CHECK(t_dbl(nd, NULLABLE, "NaN", 1, NAN));
    CHECK(t_dbl(nd, 0, "-Infinity", -1, -INFINITY));
    w2k_coltype_t nvd = with_opts(W2K_OID_NUMERIC, -1, W2K_DECIMAL_DOUBLE, 0, 0);
    CHECK(
        t_dbl(nvd, 0, "-123456789012345678901234567890.5", -1, -123456789012345678901234567890.5));
    CHECK(t_dbl(nvd, 0, "0.1", -1, 0.1));
    T_ERR(nvd, 0, "1e5", "numeric: cannot convert \"1e5\": not a numeric");
    /* decimal_handling = string: PostgreSQL's text */
    w2k_coltype_t ns = with_opts(W2K_OID_NUMERIC, numtm(10, 2), W2K_DECIMAL_STRING, 0, 0);
    def = 0;
    schema_text(&ns, NULLABLE, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"string\"]");
    T_STR(ns, NULLABLE, "1234.50", 1, "1234.50");
    T_STR(ns, 0, "NaN", -1, "NaN");

    /* time_precision = millis: time-millis int, timestamps floored to milliseconds */
    w2k_coltype_t tm = with_opts(W2K_OID_TIME, -1, 0, W2K_TIME_MILLIS, 0);
    def = 0;
    schema_text(&tm, NULLABLE, false, &def, &b);
    CHECK_STR(b.data,
              "[\"null\",{\"type\":\"int\",\"logicalType\":\"time-millis\"},"
              "{\"type\":\"enum\",\"name\":\"SpecialValue\",\"namespace\":\"wal2kafka\","
              "\"symbols\":[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\"END_OF_DAY\"]}]");
    T_INT(tm, NULLABLE, "12:34:56.789999", 1, 45296789);
    T_SYM(tm, NULLABLE, "24:00:00", 2, W2K_SV_END_OF_DAY);
    w2k_coltype_t tsm = with_opts(W2K_OID_TIMESTAMPTZ, -1, 0, W2K_TIME_MILLIS, 0);
    def = 0;
    schema_text(&tsm, 0, false, &def, &b);
    CHECK(strstr(b.data, "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}") != NULL);
    T_LONG(tsm, 0, "2024-01-15 12:34:56.123456+00", 0, INT64_C(1705322096123));
    T_LONG(tsm, 0, "1969-12-31 23:59:59.9995+00", 0, -1);
    T_LONG(tsm, 0, "0044-03-15 12:00:00+00 BC", 0, INT64_C(-735160) * 86400000 + 43200000);
    T_SYM(tsm, 0, "infinity", 1, W2K_SV_POSITIVE_INFINITY);
    w2k_coltype_t lts = with_opts(W2K_OID_TIMESTAMP, -1, 0, W2K_TIME_MILLIS, 0);
    def = 0;
    schema_text(&lts, 0, false, &def, &b);
    CHECK(strstr(b.data, "\"local-timestamp-millis\"") != NULL);
    T_LONG(lts, NULLABLE, "2024-01-15 12:34:56.123456", 1, INT64_C(1705322096123));
    T_LONG(lts, NULLABLE, "1969-12-31 23:59:59.999", 1, -1);

    /* special_values = null: row fields and array items lose the marker branch */
    w2k_coltype_t nn = with_opts(W2K_OID_NUMERIC, numtm(10, 2), 0, 0, W2K_SPECIAL_NULL);
    def = 0;
    schema_text(&nn, NULLABLE, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",\"bytes\"]");
    CHECK(t_null(nn, NULLABLE, "NaN"));
    T_BYTES(nn, NULLABLE, "1.50", 1, "0096");
    /* key fields have no null branch: the marker stays */
    schema_text(&nn, 0, true, &def, &b);
    CHECK_STR(b.data,
              "[\"bytes\",{\"name\":\"wal2kafka.SpecialValue\",\"type\":\"enum\","
              "\"symbols\":[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\"END_OF_DAY\"]}]");
    T_SYM(nn, 0, "Infinity", 1, W2K_SV_POSITIVE_INFINITY);
    w2k_coltype_t tn = with_opts(W2K_OID_TIME, -1, 0, W2K_TIME_MILLIS, W2K_SPECIAL_NULL);
    CHECK(t_null(tn, NULLABLE | TOAST, "24:00:00"));
    w2k_coltype_t an = with_opts(1231, numtm(12, 2), 0, 0, W2K_SPECIAL_NULL);
    def = 0;
    schema_text(&an, NULLABLE | TOAST, true, &def, &b);
    CHECK_STR(b.data, "[\"null\",{\"type\":\"array\",\"items\":[\"null\",\"bytes\"]},"
                      "{\"name\":\"wal2kafka.UnchangedToast\",\"type\":\"enum\",\"symbols\":"
                      "[\"UNCHANGED_TOAST\"]}]");
    avro_value_t a, v;
    if (OK(conv_ok(&an, NULLABLE, "{NaN,1.5}", 1, &a))) {
        avro_value_t it;
        int br = -1;
        CHECK(avro_value_get_by_index(&a, 0, &it, NULL) == 0 &&
              avro_value_get_discriminant(&it, &br) == 0 && br == 0);
        CHECK(item(&a, 1, &v) && bytes_are(&v, "0096"));
    }
    CHECK(t_null(an, NULLABLE | TOAST, "{{1,2}}"));
    w2k_buf_free(&b);
}

int main(int argc, char **argv)
{
    test_integers();
    test_floats();
    test_bool_strings_bytes();
    test_decimal();
    test_dates_times();
    test_interval();
    test_arrays();
    test_null_toast();
    test_schema_text();
    test_schemas_parse();
    test_options();
    if (argc > 2 && strcmp(argv[2], "bench") == 0)
        bench();
    conv_free();
    w2k_buf_free(&g.scratch);
    return unit_report("test_pgtypes");
}
