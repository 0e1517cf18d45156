/* test_names.c — unit tests of the names rule: every example of schemas/README.md's
 * "Names" table (read from the doc itself), injectivity over every short name of a small
 * alphabet, field names that depend on their own column only, and the topic collisions
 * refused at start.
 *
 * Usage: test_names FIXTURES_DIR (the doc is FIXTURES_DIR/../../schemas/README.md) */
#include "names.h"
#include "relcache.h"
#include "unit.h"

#include <stdlib.h>

/* Copies the text between the first pair of backticks at or after *p into out and moves
 * *p past it. Returns 0, or -1 when there is none before the line's end. */
static int cell(const char **p, char *out, size_t outsz)
{
    const char *a = *p;
    while (*a && *a != '\n' && *a != '`')
        a++;
    if (*a != '`')
        return -1;
    const char *b = strchr(a + 1, '`');
    if (!b || (size_t)(b - a - 1) >= outsz)
        return -1;
    memcpy(out, a + 1, (size_t)(b - a - 1));
    out[b - a - 1] = '\0';
    *p = b + 1;
    return 0;
}

static void test_doc_examples(const char *fixtures)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/../../schemas/README.md", fixtures);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (!f)
        return;
    static char doc[1 << 20];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    const char *sec = strstr(doc, "\n## Names\n");
    CHECK(sec != NULL);
    if (!sec)
        return;
    const char *table = strstr(sec, "| PostgreSQL name | Avro name | topic name part |");
    CHECK(table != NULL);
    if (!table)
        return;
    int rows = 0;
    for (const char *line = strchr(table, '\n'); line && line[1] == '|';
         line = strchr(line + 1, '\n')) {
        const char *p = line + 1;
        char pg[128], avro[256], topic[256];
        if (cell(&p, pg, sizeof pg) != 0)
            continue; /* the |---| line */
        CHECK(cell(&p, avro, sizeof avro) == 0);
        CHECK(cell(&p, topic, sizeof topic) == 0);
        char got[W2K_NAMES_MAX];
        w2k_names_avro(pg, got, sizeof got);
        if (strcmp(got, avro) != 0)
            fprintf(stderr, "doc row %s: Avro name\n", pg);
        CHECK_STR(got, avro);
        w2k_names_topic_part(pg, got, sizeof got);
        if (strcmp(got, topic) != 0)
            fprintf(stderr, "doc row %s: topic name part\n", pg);
        CHECK_STR(got, topic);
        CHECK(w2k_names_avro_plain(pg) == (strcmp(pg, avro) == 0));
        rows++;
    }
    CHECK(rows >= 15);
}

static bool valid_avro(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static bool valid_topic_part(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return false;
    return true;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every name of 1 to 4 characters over an alphabet that can spell escapes ("_x5F") and
 * needs them (" ", ".", "-", a UTF-8 byte): outputs valid and pairwise different. */
static void test_injective(void)
{
    static const char alpha[] = {'_', 'x', '5', 'F', 'a', ' ', '.', '-', '\xc3'};
    enum { NA = sizeof alpha, MAXN = NA + NA * NA + NA * NA * NA + NA * NA * NA * NA };
    char **avro = calloc(MAXN, sizeof *avro), **topic = calloc(MAXN, sizeof *topic);
    CHECK(avro && topic);
    if (!avro || !topic)
        return;
    int n = 0, bad = 0;
    for (int len = 1; len <= 4; len++) {
        int total = 1;
        for (int k = 0; k < len; k++)
            total *= NA;
        for (int v = 0; v < total; v++) {
            char name[8];
            int x = v;
            for (int k = 0; k < len; k++, x /= NA)
                name[k] = alpha[x % NA];
            name[len] = '\0';
            char a[W2K_NAMES_MAX], t[W2K_NAMES_MAX];
            w2k_names_avro(name, a, sizeof a);
            w2k_names_topic_part(name, t, sizeof t);
            bad += !valid_avro(a) || !valid_topic_part(t);
            avro[n] = strdup(a);
            topic[n] = strdup(t);
            n++;
        }
    }
    CHECK_INT(n, MAXN);
    CHECK_INT(bad, 0);
    qsort(avro, (size_t)n, sizeof *avro, by_str);
    qsort(topic, (size_t)n, sizeof *topic, by_str);
    int dup_a = 0, dup_t = 0;
    for (int i = 1; i < n; i++) {
        dup_a += strcmp(avro[i - 1], avro[i]) == 0;
        dup_t += strcmp(topic[i - 1], topic[i]) == 0;
    }
    CHECK_INT(dup_a, 0);
    CHECK_INT(dup_t, 0);
    for (int i = 0; i < n; i++) {
        free(avro[i]);
        free(topic[i]);
    }
    free(avro);
    free(topic);
}

/* The columns: a b, a_b, a_b_2; after DROP COLUMN "a b" the others keep their
 * fields. */
static void test_fields_stable(void)
{
    w2k_relation_t *r = w2k_relation_new(3);
    CHECK(r != NULL);
    if (!r)
        return;
    snprintf(r->cols[0].name, sizeof r->cols[0].name, "a b");
    snprintf(r->cols[1].name, sizeof r->cols[1].name, "a_b");
    snprintf(r->cols[2].name, sizeof r->cols[2].name, "a_b_2");
    w2k_relation_name_fields(r);
    CHECK_STR(r->cols[0].avro_name, "a_x20b");
    CHECK_STR(r->cols[1].avro_name, "a_b");
    CHECK_STR(r->cols[2].avro_name, "a_b_2");
    w2k_relation_free(r);
    r = w2k_relation_new(2);
    CHECK(r != NULL);
    if (!r)
        return;
    snprintf(r->cols[0].name, sizeof r->cols[0].name, "a_b");
    snprintf(r->cols[1].name, sizeof r->cols[1].name, "a_b_2");
    w2k_relation_name_fields(r);
    CHECK_STR(r->cols[0].avro_name, "a_b");
    CHECK_STR(r->cols[1].avro_name, "a_b_2");
    w2k_relation_free(r);
}

static void test_topics(void)
{
    char t[600];
    CHECK_INT(w2k_names_topic("id", "Sales", "Order Items", t, sizeof t),
              strlen("id.Sales.Order_x20Items"));
    CHECK_STR(t, "id.Sales.Order_x20Items");
    w2k_names_topic("id", "Sales", "Order_Items", t, sizeof t);
    CHECK_STR(t, "id.Sales.Order_Items");
    w2k_names_topic("id", "a.b", "c", t, sizeof t);
    CHECK_STR(t, "id.a_x2Eb.c");
    w2k_names_topic("id", "a", "b.c", t, sizeof t);
    CHECK_STR(t, "id.a.b_x2Ec");
    CHECK(w2k_names_topics_collide("id.a_b.c", "id.a.b_c"));
    CHECK(!w2k_names_topics_collide("id.a_b.c", "id.a_b.c"));
    CHECK(!w2k_names_topics_collide("id.a_b.c", "id.a_b.d"));
    CHECK(!w2k_names_topics_collide("id.a_b.c", "id.a_b.cc"));
}

static void test_check_topics(void)
{
    w2k_stream_cfg_t sc;
    memset(&sc, 0, sizeof sc);
    sc.name = "main";
    sc.topic_prefix = "id";
    w2k_table_cfg_t tabs[3];
    memset(tabs, 0, sizeof tabs);
    w2k_err_t err;

    tabs[0].schema = "Sales";
    tabs[0].name = "Order Items";
    tabs[1].schema = "Sales";
    tabs[1].name = "Order_Items";
    w2k_err_clear(&err);
    CHECK_INT(w2k_names_check_topics(&sc, tabs, 2, &err), 0);

    tabs[0].schema = "a_b";
    tabs[0].name = "c";
    tabs[1].schema = "a";
    tabs[1].name = "b_c";
    CHECK_INT(w2k_names_check_topics(&sc, tabs, 2, &err), -1);
    CHECK_INT(err.code, W2K_EXIT_CONFIG);
    CHECK(strstr(err.msg, "table \"a_b\".\"c\"") != NULL);
    CHECK(strstr(err.msg, "table \"a\".\"b_c\"") != NULL);
    CHECK(strstr(err.msg, "id.a_b.c") && strstr(err.msg, "id.a.b_c"));
    CHECK(strstr(err.hint, "rename") != NULL);

    /* the stream's own topic id.schema_changes against table schema.changes */
    tabs[0].schema = "schema";
    tabs[0].name = "changes";
    w2k_err_clear(&err);
    CHECK_INT(w2k_names_check_topics(&sc, tabs, 1, &err), -1);
    CHECK(strstr(err.msg, "own topic id.schema_changes") != NULL);

    /* 63 bytes of 'ä' escaped: 2 + 31 * 8 > 249 */
    char longname[64];
    for (int i = 0; i < 62; i += 2) {
        longname[i] = '\xc3';
        longname[i + 1] = '\xa4';
    }
    longname[62] = '\0';
    tabs[0].schema = "public";
    tabs[0].name = longname;
    w2k_err_clear(&err);
    CHECK_INT(w2k_names_check_topics(&sc, tabs, 1, &err), -1);
    CHECK(strstr(err.msg, "more than Kafka's 249") != NULL);
    CHECK(strstr(err.hint, "topic_prefix") != NULL);
}

/* The in-memory indexes' hash: FNV-1a (its published value for "a"), and a qualified name
 * hashes as its "schema.name" text, so schema "a.b" + name "c" meets "a" + "b.c" only in
 * the bucket, never in the comparison the indexes make after it. */
static void test_hash(void)
{
    CHECK(w2k_names_hash_str(W2K_NAMES_HASH_SEED, "a") == (size_t)UINT64_C(0xaf63dc4c8601ec8c));
    CHECK(w2k_names_hash_str(W2K_NAMES_HASH_SEED, "") == W2K_NAMES_HASH_SEED);
    CHECK(w2k_names_hash("public", "orders") ==
          w2k_names_hash_str(W2K_NAMES_HASH_SEED, "public.orders"));
    CHECK(w2k_names_hash("public", "orders") != w2k_names_hash("public", "order"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    test_doc_examples(argv[1]);
    test_injective();
    test_fields_stable();
    test_topics();
    test_check_topics();
    test_hash();
    return unit_report("test_names");
}
