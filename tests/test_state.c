/* test_state.c — the stream record in <prefix>.state and the DDL-capture messages:
 * what is written reads back the same; older and malformed texts are handled. And the
 * key set of a snapshot taken again (snapkeys.c). */
#include "ddl.h"
#include "snapkeys.h"
#include "state.h"
#include "unit.h"

static void state_round_trip(void)
{
    w2k_stream_state_t st = {true,
                             "7312345678901234567",
                             3,
                             "wal2kafka_main",
                             "done",
                             ((w2k_lsn_t)0x1A << 32) | 0x2B3C4D,
                             ((w2k_lsn_t)2 << 32) | 0x10};
    char json[1024];
    w2k_state_format(&st, "main", json, sizeof json);
    CHECK(strstr(json, "\"stream\":\"main\"") != NULL);
    CHECK(strstr(json, "\"snapshot_lsn\":\"1A/2B3C4D\"") != NULL);
    CHECK(strstr(json, "\"committed_lsn\":\"2/10\"") != NULL);
    w2k_stream_state_t back;
    CHECK_INT(w2k_state_parse(json, strlen(json), &back), 0);
    CHECK(back.found);
    CHECK_STR(back.system_id, "7312345678901234567");
    CHECK_INT(back.timeline, 3);
    CHECK_STR(back.slot, "wal2kafka_main");
    CHECK_STR(back.snapshot, "done");
    CHECK(back.snapshot_lsn == st.snapshot_lsn);
    CHECK(back.committed_lsn == st.committed_lsn);
}

static void state_older_and_bad(void)
{
    /* a record written before exactly-once existed has no committed_lsn */
    const char *old = "{\"kind\":\"wal2kafka.stream\",\"stream\":\"s\",\"system_id\":\"1\","
                      "\"timeline\":\"1\",\"slot\":\"x\",\"snapshot\":\"running\","
                      "\"snapshot_lsn\":\"0/16B3748\"}";
    w2k_stream_state_t st;
    CHECK_INT(w2k_state_parse(old, strlen(old), &st), 0);
    CHECK(st.committed_lsn == 0);
    CHECK_STR(st.snapshot, "running");
    CHECK(st.snapshot_lsn == 0x16B3748);

    const char *bad[] = {
        "",
        "{}",
        "{\"kind\":\"something.else\",\"system_id\":\"1\",\"timeline\":\"1\",\"slot\":\"x\","
        "\"snapshot\":\"done\",\"snapshot_lsn\":\"0/1\"}",
        "{\"kind\":\"wal2kafka.stream\",\"system_id\":\"1\",\"timeline\":\"1\",\"slot\":\"x\","
        "\"snapshot\":\"done\",\"snapshot_lsn\":\"zz\"}",
        "{\"kind\":\"wal2kafka.stream\",\"system_id\":\"1\",\"timeline\":\"1\",\"slot\":\"x\","
        "\"snapshot\":\"done\",\"snapshot_lsn\":\"0/1\",\"committed_lsn\":\"bad\"}",
        "{\"kind\":\"wal2kafka.stream\",\"system_id\":\"1\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = w2k_state_parse(bad[i], strlen(bad[i]), &st);
        if (rc != -1)
            fprintf(stderr, "accepted bad record %zu: %s\n", i, bad[i]);
        CHECK_INT(rc, -1);
        CHECK(!st.found);
    }
}

static void ddl_messages(void)
{
    const char msg[] = "1\x1f"
                       "ALTER TABLE\x1fpublic\x1forders\x1f"
                       "16384\x1f"
                       "alter table orders add column x int";
    char buf[sizeof msg];
    w2k_ddl_event_t ev;
    CHECK_INT(w2k_ddl_parse(msg, sizeof msg - 1, buf, &ev), 0);
    CHECK_STR(ev.command, "ALTER TABLE");
    CHECK_STR(ev.schema, "public");
    CHECK_STR(ev.name, "orders");
    CHECK_INT(ev.relid, 16384);
    CHECK_STR(ev.query, "alter table orders add column x int");

    /* the statement itself may hold the separator: it is the last field */
    const char tricky[] = "1\x1f"
                          "DROP TABLE\x1fs\x1ft\x1f"
                          "7\x1f"
                          "select '\x1f'";
    char buf2[sizeof tricky];
    CHECK_INT(w2k_ddl_parse(tricky, sizeof tricky - 1, buf2, &ev), 0);
    CHECK_STR(ev.query, "select '\x1f'");

    const char *bad[] = {"",
                         "2\x1f"
                         "A\x1fs\x1ft\x1f"
                         "1\x1fq",
                         "1\x1f"
                         "A\x1fs\x1ft\x1fx1\x1fq",
                         "1\x1f"
                         "A\x1fs\x1ft\x1f\x1fq",
                         "1\x1f"
                         "A\x1fs\x1ft"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char b[64];
        CHECK_INT(w2k_ddl_parse(bad[i], strlen(bad[i]), b, &ev), -1);
    }
    /* version 1 carries no columns */
    uint8_t flags[8];
    CHECK_INT(w2k_ddl_parse(msg, sizeof msg - 1, buf, &ev), 0);
    CHECK(ev.columns == NULL);
    CHECK(w2k_ddl_relation(&ev, flags) == NULL);
}

static void ddl_messages_with_columns(void)
{
    /* version 2: replica identity and the columns the statement left (name in hex) */
    const char msg[] = "2\x1f"
                       "ALTER TABLE\x1fpublic\x1frc\x1f"
                       "16384\x1f"
                       "d\x1f"
                       "23,-1,1,6964 25,-1,0,62 1043,14,0,6120\x1f"
                       "ALTER TABLE rc RENAME COLUMN a TO b";
    char buf[sizeof msg];
    w2k_ddl_event_t ev;
    CHECK_INT(w2k_ddl_parse(msg, sizeof msg - 1, buf, &ev), 0);
    CHECK_STR(ev.command, "ALTER TABLE");
    CHECK_STR(ev.name, "rc");
    CHECK_INT(ev.relid, 16384);
    CHECK_INT(ev.replident, 'd');
    CHECK_STR(ev.query, "ALTER TABLE rc RENAME COLUMN a TO b");
    uint8_t flags[8];
    w2k_relation_t *rel = w2k_ddl_relation(&ev, flags);
    CHECK(rel != NULL);
    if (rel) {
        CHECK_INT(rel->ncols, 3);
        CHECK_INT(rel->relid, 16384);
        CHECK_STR(rel->schema, "public");
        CHECK_STR(rel->name, "rc");
        CHECK_INT(rel->replident, 'd');
        CHECK_STR(rel->cols[0].name, "id");
        CHECK_INT(rel->cols[0].type_oid, 23);
        CHECK_INT(rel->cols[0].typmod, -1);
        CHECK_INT(flags[0], 1);
        CHECK_STR(rel->cols[1].name, "b");
        CHECK_INT(flags[1], 0);
        CHECK_STR(rel->cols[2].name, "a ");
        CHECK_INT(rel->cols[2].type_oid, 1043);
        CHECK_INT(rel->cols[2].typmod, 14);
        w2k_relation_free(rel);
    }

    /* a table without columns; a DROP carries none */
    const char empty[] = "2\x1f"
                         "CREATE TABLE\x1fs\x1ft\x1f"
                         "7\x1f"
                         "d\x1f\x1f"
                         "create table s.t ()";
    char buf2[sizeof empty];
    CHECK_INT(w2k_ddl_parse(empty, sizeof empty - 1, buf2, &ev), 0);
    rel = w2k_ddl_relation(&ev, flags);
    CHECK(rel != NULL && rel->ncols == 0);
    w2k_relation_free(rel);
    const char drop[] = "2\x1f"
                        "DROP TABLE\x1fs\x1ft\x1f"
                        "7\x1f\x1f\x1f"
                        "drop table s.t";
    char buf3[sizeof drop];
    CHECK_INT(w2k_ddl_parse(drop, sizeof drop - 1, buf3, &ev), 0);
    CHECK(ev.columns == NULL);
    CHECK_STR(ev.query, "drop table s.t");

    /* malformed columns: no relation */
    const char *bad[] = {"23,-1,1",    "23,-1,2,6964", "x,-1,0,62", "23,-1,0,6",
                         "23,-1,0,zz", "23,-1,0,0062", "23,-1,0,"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ev.columns = bad[i];
        ev.replident = 'd';
        CHECK(w2k_ddl_relation(&ev, flags) == NULL);
    }
    /* a version 2 message with too few fields */
    const char short_[] = "2\x1f"
                          "A\x1f"
                          "s\x1ft\x1f"
                          "1\x1f"
                          "q";
    char buf4[sizeof short_];
    CHECK_INT(w2k_ddl_parse(short_, sizeof short_ - 1, buf4, &ev), -1);
}

static void glob_patterns(void)
{
    CHECK(w2k_glob_match("public.*", "public.orders"));
    CHECK(w2k_glob_match("*", ""));
    CHECK(w2k_glob_match("order_*", "order_items"));
    CHECK(!w2k_glob_match("order_*", "orders"));
    CHECK(w2k_glob_match("*_log", "audit_log"));
    CHECK(!w2k_glob_match("*_log", "audit_log2"));
    CHECK(w2k_glob_match("a*b*c", "axxbyyc"));
    CHECK(!w2k_glob_match("a*b*c", "axxbyy"));
    CHECK(w2k_glob_match("tmp_*", "tmp_"));
    CHECK(!w2k_glob_match("orders", "Orders"));
}

/* The keys a snapshot taken again wrote: compared by Avro body, whatever the framing
 * (single-object or Confluent), per table; many of them. */
static void snapshot_keys(void)
{
    w2k_snapkeys_t *k = w2k_snapkeys_new();
    CHECK(k != NULL);
    const unsigned char soe[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x0A};   /* id = 5 */
    const unsigned char confluent[] = {0x00, 0, 0, 0, 42, 0x0A};              /* id = 5 */
    const unsigned char other[] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0x0C}; /* id = 6 */
    CHECK_INT(w2k_snapkeys_add(k, "public", "big", soe, sizeof soe), 0);
    CHECK(w2k_snapkeys_has(k, "public", "big", soe, sizeof soe));
    CHECK(w2k_snapkeys_has(k, "public", "big", confluent, sizeof confluent));
    CHECK(!w2k_snapkeys_has(k, "public", "big", other, sizeof other));
    CHECK(!w2k_snapkeys_has(k, "public", "small", soe, sizeof soe));
    CHECK(!w2k_snapkeys_has(k, "publi", "c.big", soe, sizeof soe));
    /* growth keeps every key */
    unsigned char key[14] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8};
    for (uint32_t i = 0; i < 100000; i++) {
        memcpy(key + 10, &i, sizeof i);
        CHECK_INT(w2k_snapkeys_add(k, "public", "big", key, sizeof key), 0);
    }
    int missing = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        memcpy(key + 10, &i, sizeof i);
        missing += !w2k_snapkeys_has(k, "public", "big", key, sizeof key);
    }
    CHECK_INT(missing, 0);
    CHECK(w2k_snapkeys_has(k, "public", "big", soe, sizeof soe));
    w2k_snapkeys_destroy(k);
    w2k_snapkeys_destroy(NULL);
}

/* A topic read back after a snapshot: a key is left for a tombstone when its last
 * message there has a value and the snapshot did not write it; a delete's tombstone, or
 * the snapshot, settles it, whatever came before. */
static void snapshot_keys_left(void)
{
    w2k_snapkeys_t *k = w2k_snapkeys_new();
    CHECK(k != NULL);
    unsigned char key[12] = {0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8};
#define KEY(i) (key[10] = (unsigned char)(i), key[11] = (unsigned char)((i) >> 8), (void *)key)
    /* the snapshot wrote 1 and 2 */
    CHECK_INT(w2k_snapkeys_add(k, "public", "t", KEY(1), sizeof key), 0);
    CHECK_INT(w2k_snapkeys_add(k, "public", "t", KEY(2), sizeof key), 0);
    w2k_snapkeys_read_begin(k, "public", "t");
    static const struct {
        int id;
        bool value;
    } topic[] = {
        {1, true},  {2, true},  {1, false}, /* written by the snapshot: never left */
        {3, true},  {3, true},              /* created, updated: left */
        {4, true},  {4, true},  {4, false}, /* created, deleted (+ tombstone) */
        {5, false},                         /* a tombstone alone */
        {6, true},  {6, false}, {6, true},  /* deleted, created again: left */
        {7, false}, {7, true},              /* left */
    };
    for (size_t i = 0; i < sizeof topic / sizeof topic[0]; i++)
        CHECK_INT(w2k_snapkeys_read(k, KEY(topic[i].id), sizeof key, topic[i].value), 0);
    /* many keys created and deleted: each removal keeps the others findable */
    for (int i = 1000; i < 5000; i++)
        CHECK_INT(w2k_snapkeys_read(k, KEY(i), sizeof key, true), 0);
    for (int i = 1000; i < 5000; i += 2)
        CHECK_INT(w2k_snapkeys_read(k, KEY(i), sizeof key, false), 0);
    for (int i = 1001; i < 5000; i += 2)
        if (i % 3)
            CHECK_INT(w2k_snapkeys_read(k, KEY(i), sizeof key, false), 0);
    bool seen[5000] = {false};
    const void *got;
    size_t len;
    int n = 0, bad = 0;
    while (w2k_snapkeys_take(k, &got, &len) == 1) {
        const unsigned char *g = got;
        int id = g[10] | g[11] << 8;
        bad += len != sizeof key || memcmp(g, key, 10) != 0 || id >= 5000 || seen[id];
        if (id < 5000)
            seen[id] = true;
        n++;
    }
    CHECK_INT(bad, 0);
    int want = 3;
    for (int i = 1001; i < 5000; i += 2)
        want += i % 3 == 0;
    CHECK_INT(n, want);
    CHECK(seen[3] && seen[6] && seen[7] && !seen[1] && !seen[2] && !seen[4] && !seen[5]);
    int missing = 0;
    for (int i = 1000; i < 5000; i++)
        missing += seen[i] != (i % 2 == 1 && i % 3 == 0);
    CHECK_INT(missing, 0);
    CHECK_INT(w2k_snapkeys_gone(k), want);
    CHECK_INT(w2k_snapkeys_take(k, &got, &len), 0);
    /* another table: its own keys; the snapshot's keys of public.t do not count */
    w2k_snapkeys_read_begin(k, "public", "u");
    CHECK_INT(w2k_snapkeys_read(k, KEY(1), sizeof key, true), 0);
    CHECK_INT(w2k_snapkeys_take(k, &got, &len), 1);
    CHECK_INT(w2k_snapkeys_take(k, &got, &len), 0);
#undef KEY
    w2k_snapkeys_destroy(k);
}

int main(void)
{
    state_round_trip();
    state_older_and_bad();
    ddl_messages();
    ddl_messages_with_columns();
    glob_patterns();
    snapshot_keys();
    snapshot_keys_left();
    return unit_report("test_state");
}
