/* test_pubset.c — a stream's publications: one per set of insert/update/delete when
 * PostgreSQL filters (it publishes operations per publication), one otherwise. */
#include "catalog.h"
#include "unit.h"

static w2k_table_cfg_t table(const char *name, unsigned ops)
{
    w2k_table_cfg_t t = {"public", (char *)name, NULL, NULL, 0, ops, 1};
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
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_INSERT), 0);
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
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_INSERT | W2K_OP_UPDATE), 0);
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_INSERT), 2);
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_INSERT | W2K_OP_TRUNCATE), 2);
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_TRUNCATE), 3);

    /* wal2kafka filters: one publication with everything */
    w2k_catalog_pubset(&sc, false, &ps);
    CHECK_INT(ps.n, 1);
    CHECK_INT(ps.pub[0].publish, W2K_OP_ALL);
    CHECK_INT(w2k_catalog_pubset_of(&ps, W2K_OP_INSERT), 0);
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

int main(void)
{
    test_one_set_one_publication();
    test_sets_of_operations();
    test_long_names_fit();
    return unit_report("test_pubset");
}
