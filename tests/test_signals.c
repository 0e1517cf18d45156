/* test_signals.c — the signal table's rows turned into the Message of PostgreSQL 14+,
 * and the channel chosen by version. */
#include "signals.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static void datum(w2k_pgdatum_t *d, const char *text)
{
    d->kind = text ? 't' : 'n';
    d->data = text;
    d->len = text ? (uint32_t)strlen(text) : 0;
}

static void test_row_to_message(void)
{
    w2k_pgmsg_t *m = calloc(1, sizeof *m);
    char prefix[64];
    m->kind = W2K_PGMSG_INSERT;
    m->u.insert.relid = 16000;
    m->newtup.ncols = 4;
    datum(&m->newtup.cols[0], "7");
    datum(&m->newtup.cols[1], "wal2kafka.snapshot");
    datum(&m->newtup.cols[2], "s\x1fpublic\x1ft");
    datum(&m->newtup.cols[3], "t");
    CHECK_INT(w2k_signals_message(m, prefix, sizeof prefix), 0);
    CHECK_INT(m->kind, W2K_PGMSG_MESSAGE);
    CHECK_STR(m->u.message.prefix, "wal2kafka.snapshot");
    CHECK_INT(m->u.message.flags, 1);
    CHECK_INT(m->u.message.len, 10);
    CHECK(memcmp(m->u.message.content, "s\x1fpublic\x1ft", 10) == 0);
    /* not transactional */
    m->kind = W2K_PGMSG_INSERT;
    datum(&m->newtup.cols[3], "f");
    CHECK_INT(w2k_signals_message(m, prefix, sizeof prefix), 0);
    CHECK_INT(m->u.message.flags, 0);
    /* not a row of the signal table's shape: left as it is */
    m->kind = W2K_PGMSG_INSERT;
    datum(&m->newtup.cols[2], NULL);
    CHECK_INT(w2k_signals_message(m, prefix, sizeof prefix), -1);
    CHECK_INT(m->kind, W2K_PGMSG_INSERT);
    m->newtup.ncols = 3;
    CHECK_INT(w2k_signals_message(m, prefix, sizeof prefix), -1);
    m->kind = W2K_PGMSG_DELETE;
    CHECK_INT(w2k_signals_message(m, prefix, sizeof prefix), -1);
    /* a prefix longer than the room for it */
    m->kind = W2K_PGMSG_INSERT;
    m->newtup.ncols = 4;
    datum(&m->newtup.cols[2], "x");
    CHECK_INT(w2k_signals_message(m, prefix, 5), -1);
    free(m);
}

static void test_channel_by_version(void)
{
    CHECK(w2k_signals_uses_table(100023));
    CHECK(w2k_signals_uses_table(130018));
    CHECK(!w2k_signals_uses_table(140015));
    CHECK(!w2k_signals_uses_table(180001));
    CHECK(w2k_signals_is_table("wal2kafka", "signal"));
    CHECK(!w2k_signals_is_table("public", "signal"));
}

int main(void)
{
    test_row_to_message();
    test_channel_by_version();
    return unit_report("test_signals");
}
