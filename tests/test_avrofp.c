/* test_avrofp.c — CRC-64-AVRO fingerprints against the Avro project's test vectors
 * (share/test/data/schema-tests.txt: canonical form and the Java long value of its
 * fingerprint), and the single-object encoding header. */
#include <stdint.h>
#include <string.h>

#include "avrofp.h"
#include "unit.h"

typedef struct fp_vector_s {
    const char *canonical;
    int64_t fingerprint; /* as the Java implementation prints it (signed) */
} fp_vector_t;

static const fp_vector_t vectors[] = {
    {"\"null\"", INT64_C(7195948357588979594)},
    {"\"boolean\"", INT64_C(-6970731678124411036)},
    {"\"int\"", INT64_C(8247732601305521295)},
    {"\"long\"", INT64_C(-3434872931120570953)},
    {"\"float\"", INT64_C(5583340709985441680)},
    {"\"double\"", INT64_C(-8181574048448539266)},
    {"\"bytes\"", INT64_C(5746618253357095269)},
    {"\"string\"", INT64_C(-8142146995180207161)},
    {"[]", INT64_C(-1241056759729112623)},
    {"[\"int\"]", INT64_C(-5232228896498058493)},
    {"[\"int\",\"boolean\"]", INT64_C(5392556393470105090)},
    {"{\"name\":\"foo\",\"type\":\"record\",\"fields\":[]}", INT64_C(-4824392279771201922)},
    {"{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}", INT64_C(5916914534497305771)},
    {"{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}", INT64_C(-4616218487480524110)},
    {"{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"}]}",
     INT64_C(7843277075252814651)},
    {"{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\",\"type\":\"boolean\"},"
     "{\"name\":\"f2\",\"type\":\"int\"}]}",
     INT64_C(-4860222112080293046)},
    {"{\"name\":\"foo\",\"type\":\"enum\",\"symbols\":[\"A1\"]}", INT64_C(-6342190197741309591)},
    {"{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     INT64_C(-4448647247586288245)},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}", INT64_C(1756455273707447556)},
    {"{\"name\":\"x.y.z.foo\",\"type\":\"fixed\",\"size\":32}", INT64_C(-3064184465700546786)},
    {"{\"type\":\"array\",\"items\":\"null\"}", INT64_C(-589620603366471059)},
    {"{\"type\":\"map\",\"values\":\"string\"}", INT64_C(-8732877298790414990)},
    {"{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":\"value\",\"type\":"
     "[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     INT64_C(-1759257747318642341)},
};

/* Every vector of the Avro test suite gives its fingerprint. */
static void test_vectors(void)
{
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        const char *c = vectors[i].canonical;
        uint64_t got = w2k_avro_fingerprint(c, strlen(c));
        if (got != (uint64_t)vectors[i].fingerprint)
            fprintf(stderr, "vector %zu: %s\n", i, c);
        CHECK_INT(got, (uint64_t)vectors[i].fingerprint);
    }
}

/* The empty string fingerprints to EMPTY; one byte changes it. */
static void test_empty(void)
{
    CHECK(w2k_avro_fingerprint("", 0) == 0xc15d213aa4d7a795ULL);
    CHECK(w2k_avro_fingerprint("x", 1) != 0xc15d213aa4d7a795ULL);
}

/* The header is C3 01 then the fingerprint little-endian: for "int" fastavro's
 * fingerprint() prints those 8 bytes as 8f5c393f1ad57572, for "float" 90d7a83ecb027c4d. */
static void test_soe_header(void)
{
    uint8_t h[W2K_SOE_HEADER_LEN];
    static const uint8_t want_int[W2K_SOE_HEADER_LEN] = {0xc3, 0x01, 0x8f, 0x5c, 0x39,
                                                         0x3f, 0x1a, 0xd5, 0x75, 0x72};
    static const uint8_t want_float[W2K_SOE_HEADER_LEN] = {0xc3, 0x01, 0x90, 0xd7, 0xa8,
                                                           0x3e, 0xcb, 0x02, 0x7c, 0x4d};
    w2k_soe_header(w2k_avro_fingerprint("\"int\"", 5), h);
    CHECK_MEM(h, sizeof h, want_int, sizeof want_int);
    w2k_soe_header(w2k_avro_fingerprint("\"float\"", 7), h);
    CHECK_MEM(h, sizeof h, want_float, sizeof want_float);
    w2k_soe_header(0x0102030405060708ULL, h);
    static const uint8_t want_order[W2K_SOE_HEADER_LEN] = {0xc3, 0x01, 8, 7, 6, 5, 4, 3, 2, 1};
    CHECK_MEM(h, sizeof h, want_order, sizeof want_order);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_vectors();
    test_empty();
    test_soe_header();
    return unit_report("test_avrofp");
}
