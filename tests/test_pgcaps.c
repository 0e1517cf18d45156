/* test_pgcaps.c — what each PostgreSQL major gives, from server_version_num. */
#include "pgconn.h"
#include "unit.h"

static void thresholds(void)
{
    w2k_pg_caps_t c;
    w2k_pg_caps_of(100023, &c);
    CHECK_INT(c.version_num, 100023);
    CHECK(!c.publish_truncate && !c.generated_columns && !c.slot_wal_status);
    CHECK(!c.logical_messages && !c.publication_filters && !c.failover_slots);
    w2k_pg_caps_of(110000, &c);
    CHECK(c.publish_truncate && !c.generated_columns);
    w2k_pg_caps_of(120022, &c);
    CHECK(c.generated_columns && !c.slot_wal_status && !c.publish_via_root);
    w2k_pg_caps_of(130023, &c);
    CHECK(c.slot_wal_status && c.publish_via_root && !c.logical_messages);
    w2k_pg_caps_of(140023, &c);
    CHECK(c.logical_messages && c.streaming_v2 && c.slot_stats && !c.publication_filters);
    w2k_pg_caps_of(150018, &c);
    CHECK(c.publication_filters && !c.failover_slots);
    w2k_pg_caps_of(170010, &c);
    CHECK(c.failover_slots && !c.publish_generated);
    w2k_pg_caps_of(180004, &c);
    CHECK(c.publish_generated);
    w2k_pg_caps_of(0, &c);
    CHECK(!c.publish_truncate && !c.logical_messages);
}

static void version_strings(void)
{
    char b[16];
    CHECK_STR(w2k_pg_version_str(120022, b), "12.22");
    CHECK_STR(w2k_pg_version_str(180004, b), "18.4");
    CHECK_STR(w2k_pg_version_str(90624, b), "9.6.24");
}

static void unsupported_error(void)
{
    w2k_err_t e;
    w2k_pg_set_unsupported(&e, 130023, "logical messages in the stream", 14,
                           "upgrade to PostgreSQL 14");
    CHECK_STR(e.msg, "PostgreSQL 13.23 has no logical messages in the stream (PostgreSQL 14 or "
                     "newer has it)");
    CHECK_STR(e.hint, "upgrade to PostgreSQL 14");
    CHECK_INT(e.code, W2K_EXIT_POSTGRES);
}

int main(void)
{
    thresholds();
    version_strings();
    unsupported_error();
    return unit_report("test_pgcaps");
}
