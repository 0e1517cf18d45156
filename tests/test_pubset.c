/* test_pubset.c — a stream's publications: one per set of insert/update/delete when
 * PostgreSQL filters (it publishes operations per publication), one otherwise; the
 * tags in their comments, in every form a release wrote. */
#include "catalog.h"
#include "unit.h"

static w2k_table_cfg_t table(const char *name, unsigned ops)
{
    w2k_table_cfg_t t = {.schema = "public", .name = (char *)name, .ops = ops, .line = 1};
    return t;
}

static void test_one_set_one_publication(void)
{
    w2k_table_cfg_t t[2] = {table("a", W2K_OP_ALL),
                            table("b", W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE)};
    w2k_stream_cfg_t sc = {.name = "s", .publication = "wal2kafka_s", .tables = t, .ntables = 2};
    w2k_pubset_t ps;
    w2k_catalog_pubset(&sc, true, &ps);
    /* truncate alone does not split: wal2kafka drops the truncates b does not want */
    CHECK_INT(ps.n, 1);
    CHECK_STR(ps.pub[0].name, "wal2kafka_s");
    CHECK_INT(ps.pub[0].publish, W2K_OP_ALL);
    CHECK_STR(ps.names, "wal2kafka_s");
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_INSERT), 0);
}

static void test_sets_of_operations(void)
{
    w2k_table_cfg_t t[5] = {table("a", W2K_OP_INSERT | W2K_OP_UPDATE), table("b", W2K_OP_ALL),
                            table("c", W2K_OP_INSERT | W2K_OP_TRUNCATE),
                            table("d", W2K_OP_TRUNCATE), table("e", W2K_OP_INSERT)};
    w2k_stream_cfg_t sc = {.name = "s", .publication = "wal2kafka_s", .tables = t, .ntables = 5};
    w2k_pubset_t ps;
    w2k_catalog_pubset(&sc, true, &ps);
    CHECK_INT(ps.n, 4);
    /* the stream's publication holds the first table's set */
    CHECK_STR(ps.pub[0].name, "wal2kafka_s");
    CHECK_INT(ps.pub[0].publish, W2K_OP_INSERT | W2K_OP_UPDATE);
    CHECK_STR(ps.pub[1].name, "wal2kafka_s_insert_update_delete");
    CHECK_INT(ps.pub[1].publish, W2K_OP_ALL);
    CHECK_STR(ps.pub[2].name, "wal2kafka_s_insert");
    CHECK_INT(ps.pub[2].publish, W2K_OP_INSERT | W2K_OP_TRUNCATE);
    CHECK_STR(ps.pub[3].name, "wal2kafka_s_truncate");
    CHECK_INT(ps.pub[3].publish, W2K_OP_TRUNCATE);
    CHECK_STR(ps.names, "wal2kafka_s,wal2kafka_s_insert_update_delete,wal2kafka_s_insert,"
                        "wal2kafka_s_truncate");
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_INSERT | W2K_OP_UPDATE), 0);
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_INSERT), 2);
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_INSERT | W2K_OP_TRUNCATE), 2);
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_TRUNCATE), 3);

    /* wal2kafka filters: one publication with everything */
    w2k_catalog_pubset(&sc, false, &ps);
    CHECK_INT(ps.n, 1);
    CHECK_INT(ps.pub[0].publish, W2K_OP_ALL);
    CHECK_INT(w2k_pubplan_pubset_of(&ps, W2K_OP_INSERT), 0);
}

static void test_long_names_fit(void)
{
    const char *pub = "p23456789012345678901234567890123456789012345678901234567890123";
    w2k_table_cfg_t t[2] = {table("a", W2K_OP_ALL), table("b", W2K_OP_UPDATE | W2K_OP_DELETE)};
    w2k_stream_cfg_t sc = {.name = "s", .publication = (char *)pub, .tables = t, .ntables = 2};
    w2k_pubset_t ps;
    w2k_catalog_pubset(&sc, true, &ps);
    CHECK_INT(ps.n, 2);
    CHECK_INT(strlen(ps.pub[1].name), 63);
    CHECK_STR(ps.pub[1].name + 63 - strlen("_update_delete"), "_update_delete");
}

/* The notes of tag t, as "relid:member:key|has_key" lines, into out. */
static const char *notes_of(const w2k_pubtag_t *t, char *out, size_t outsz)
{
    size_t len = 0, pos = 0;
    w2k_pubnote_t n;
    out[0] = '\0';
    while (w2k_catalog_tag_note(t, &pos, &n))
        len += (size_t)snprintf(out + len, outsz - len, "%s%u:%u:%016" PRIx64 "|%d", len ? " " : "",
                                n.relid, n.member, n.key, n.has_key);
    return out;
}

static void test_tag_not_ours(void)
{
    w2k_pubtag_t t;
    char buf[256];
    w2k_catalog_parse_tag("", &t);
    CHECK(t.owner == NULL);
    w2k_catalog_parse_tag("the administrator's publication", &t);
    CHECK(t.owner == NULL);
    CHECK_STR(t.hash, "");
    CHECK_STR(notes_of(&t, buf, sizeof buf), "");
}

static void test_tag_forms(void)
{
    w2k_pubtag_t t;
    char buf[256];
    /* the first release: the hash alone */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef", &t);
    CHECK_STR(t.owner, "");
    CHECK_STR(t.hash, "0123456789abcdef");
    CHECK(!t.pending && !t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf), "");

    /* renamed-table notes "<oid>:<key>", without and with the owner; a key of decimal
     * digits only is still a key (16 digits: no OID is that long) */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef 16384:00000000deadbeef", &t);
    CHECK_STR(t.owner, "");
    CHECK(!t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf), "16384:0:00000000deadbeef|1");
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef 16384:00000000deadbeef "
                          "16390:1234567890123456 for wal2kafka_s",
                          &t);
    CHECK_STR(t.owner, "wal2kafka_s");
    CHECK_STR(t.hash, "0123456789abcdef");
    CHECK(!t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf),
              "16384:0:00000000deadbeef|1 16390:0:1234567890123456|1");

    /* memberships "<oid>:<membership>,...", one publication per stream */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef 16384:16401,16390:4294967295", &t);
    CHECK_STR(t.owner, "");
    CHECK(t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf),
              "16384:16401:0000000000000000|0 16390:4294967295:0000000000000000|0");
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef ", &t);
    CHECK_STR(t.hash, "0123456789abcdef");
    CHECK(!t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf), "");

    /* both: "<oid>:<membership>:<key>" */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef 16384:16401:00000000deadbeef "
                          "16390:0:1234567890123456 for wal2kafka_s",
                          &t);
    CHECK_STR(t.owner, "wal2kafka_s");
    CHECK(t.members);
    CHECK_STR(notes_of(&t, buf, sizeof buf),
              "16384:16401:00000000deadbeef|1 16390:0:1234567890123456|1");
}

static void test_tag_pending_and_malformed(void)
{
    w2k_pubtag_t t;
    char buf[256];
    w2k_catalog_parse_tag("wal2kafka:pending 0/1A2B3C for wal2kafka_s", &t);
    CHECK(t.pending);
    CHECK_STR(t.owner, "wal2kafka_s");
    CHECK_INT(t.pending_lsn, 0x1A2B3C);
    CHECK_STR(t.hash, "");
    w2k_catalog_parse_tag("wal2kafka:pending for wal2kafka_s", &t);
    CHECK(t.pending);
    CHECK(t.pending_lsn == UINT64_MAX);

    /* a hash that is not one: wal2kafka's, but no definition of it matches */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdeX 16384:16401", &t);
    CHECK_STR(t.owner, "");
    CHECK_STR(t.hash, "");
    CHECK_STR(notes_of(&t, buf, sizeof buf), "");
    /* notes that are none of the forms are skipped, the others read */
    w2k_catalog_parse_tag("wal2kafka:0123456789abcdef 1:2:3 x:1 0:5 16384:00000000deadbeef:7 "
                          "16385:16401:00000000deadbeef:1 16386:99999999999 16387:16402",
                          &t);
    CHECK_STR(notes_of(&t, buf, sizeof buf), "16387:16402:0000000000000000|0");
    CHECK(t.members);
}

int main(void)
{
    test_one_set_one_publication();
    test_sets_of_operations();
    test_long_names_fit();
    test_tag_not_ours();
    test_tag_forms();
    test_tag_pending_and_malformed();
    return unit_report("test_pubset");
}
