"""PostgreSQL 10 to 18: the core pipeline on every major version (issue 12).

The core subset is REUSED (existing tests, marked pg_matrix by conftest) plus the tests
below, which cover what differs between versions: check's report of the version,
TRUNCATE (not capturable on 10), row and operation filters (evaluated by wal2kafka
before 15 with filters = "auto"), and filters = "pushdown" refused before 15.
test_partitioned.py marks its core tests pg_matrix itself (partitioned tables stream to
the parent's topic from 13, and are refused with the way out before).

Run the subset on one major (the session's PostgreSQL is then the build
scripts/setup.sh cached in $W2K_CACHE/pg/<major>; unset: Debian's 15):

    W2K_PG_VERSION=12 pytest -m pg_matrix integration/

The tests of this file also run in a plain run of the whole suite, on Debian's 15.
"""

from __future__ import annotations

import re
import uuid

import pytest

from w2k import Decoder, connectors, consume, run_cli  # noqa: F401

# Existing tests that make up the rest of the subset: node ids relative to
# integration/; an entry with "[" matches every parameter set that starts so.
REUSED = (
    "test_core_types.py::test_every_type_decodes_to_the_documented_value",
    "test_core_ops.py::test_insert_update_delete_and_tombstone",
    "test_core_ops.py::test_primary_key_change_is_delete_tombstone_create",
    "test_core_delivery.py::test_sigterm_confirms_and_restart_resumes",
    "test_core_delivery.py::test_kill_9_under_a_steady_writer_loses_nothing",
    "test_snapshot_initial.py::test_seam_no_gap_no_duplicate_under_concurrent_writes",
    "test_schema_evolution.py::test_schema_change_event[no_trigger-",
    "test_check.py::test_clean_config_passes_and_streaming_starts",
)


def is_reused(nodeid: str) -> bool:
    """Whether the test with this node id (relative to integration/) is in REUSED."""
    return any(nodeid == r or ("[" in r and nodeid.startswith(r)) for r in REUSED)


pytestmark = [
    pytest.mark.pg_matrix,
    pytest.mark.timeout(300),
]


def major(db) -> int:
    return db.pg.server_version_num // 10000


def started(connectors, tables, **kw):
    conn = connectors(tables, **kw)
    conn.start().wait_streaming()
    return conn


def read_topic(kafka, conn, topic, n, timeout=30):
    conn.wait_caught_up()
    recs = consume(kafka, Decoder(kafka, conn.prefix), topic, until=n, timeout=timeout,
                   to_end=True)
    assert len(recs) == n, [(r.key, r.op) for r in recs]
    return recs


def parse_check(out: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in
            (re.match(r"^(ok|warn|problem|fix)\s+(.*)$", line) for line in out.splitlines()) if m]


# ------------------------------------------------------------------------------ check


def test_check_names_the_version_and_what_it_lacks(wal2kafka_bin, db, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"])
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert r.returncode == 0, r.stdout + r.stderr
    entries = parse_check(r.stdout)
    v = major(db)
    assert any(t == "ok" and re.match(rf"PostgreSQL {v}\.\d+ at ", x) for t, x in entries), r.stdout
    lacks = [x for t, x in entries if t == "ok" and re.match(rf"PostgreSQL {v}\.\d+ lacks: ", x)]
    expected = {"TRUNCATE capture": 11, "generated columns (12+)": 12,
                "max_slot_wal_keep_size": 13, "logical messages": 14,
                "row filters and column lists": 15, "failover slots": 17,
                "generated column values": 18}
    for feature, since in expected.items():
        assert (feature in (lacks[0] if lacks else "")) == (v < since), (feature, r.stdout)
    assert ("replication slots: " in r.stdout and
            re.search(r"replication slots: \d+ free, 1 needed", r.stdout)), r.stdout
    truncate_warned = any(t == "warn" and "cannot publish TRUNCATE" in x for t, x in entries)
    assert truncate_warned == (v < 11), r.stdout
    assert "streaming can start" in r.stdout


def test_pushdown_is_refused_with_the_fix_before_15(wal2kafka_bin, db, kafka, connectors):
    """filters = "pushdown" needs row filters in publications (15+): refused before, with
    the fix; taken from 15 on."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors([{"name": "public.t", "filter": "id > 10"}],
                      stream_settings={"filters": "pushdown"})
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    if major(db) >= 15:
        assert r.returncode == 0, r.stdout + r.stderr
        conn.start().wait_streaming()
        db.execute("INSERT INTO t VALUES (1, 'out'), (11, 'in')")
        recs = read_topic(kafka, conn, conn.topic("t"), 1)
        assert [r.key["id"] for r in recs] == [11]
        assert conn.stop() == 0
        return
    assert r.returncode != 0, r.stdout
    assert re.search(rf"PostgreSQL {major(db)} cannot filter rows", r.stdout), r.stdout
    assert 'filters = "connector"' in r.stdout
    conn.start()
    assert conn.wait_exit(60) != 0
    assert "filters" in conn.log()


# ---------------------------------------------------------------------------- truncate


def test_truncate_captured_from_11_not_on_10(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = started(connectors, ["public.t"])
    db.execute("INSERT INTO t VALUES (1, 'a')")
    db.execute("TRUNCATE t")
    db.execute("INSERT INTO t VALUES (2, 'b')")
    recs = read_topic(kafka, conn, conn.topic("t"), 2)
    assert [(r.op, r.key) for r in recs] == [("c", {"id": 1}), ("c", {"id": 2})]
    dec = Decoder(kafka, conn.prefix)
    events = [r.value for r in consume(kafka, dec, conn.changes_topic, to_end=True) if r.value]
    truncs = [e for e in events if e["type"] == "truncate"]
    if major(db) >= 11:
        assert [e["table"] for e in truncs] == ["t"], events
    else:
        assert truncs == [], "PostgreSQL 10 cannot publish TRUNCATE"
    assert conn.stop() == 0


# ----------------------------------------------------------------------------- filters


def test_row_filter_and_operation_filter(db, kafka, connectors):
    """filters = "auto": PostgreSQL filters from 15 on, wal2kafka before; the topics hold
    the same either way."""
    db.execute("CREATE TABLE f (id int PRIMARY KEY, i int)")
    db.execute("ALTER TABLE f REPLICA IDENTITY FULL")  # old rows: exact on both paths
    db.execute("CREATE TABLE o (id int PRIMARY KEY, i int)")
    conn = started(connectors, [{"name": "public.f", "filter": "i > 10"},
                                {"name": "public.o", "operations": ["insert"]}])
    for k, i in ((1, 5), (2, 20), (3, 30)):
        db.execute("INSERT INTO f VALUES (%s, %s)", (k, i))
        db.execute("INSERT INTO o VALUES (%s, %s)", (k, i))
    db.execute("UPDATE f SET i = 40 WHERE id = 3")
    db.execute("UPDATE o SET i = 40 WHERE id = 3")
    db.execute("DELETE FROM f WHERE id = 2")
    db.execute("DELETE FROM o WHERE id = 2")
    db.execute("UPDATE f SET i = 50 WHERE id = 1")  # enters the filter's set: an insert
    f = read_topic(kafka, conn, conn.topic("f"), 6)
    assert [(r.op, r.key and r.key["id"]) for r in f] == [
        ("c", 2), ("c", 3), ("u", 3), ("d", 2), (None, 2), ("c", 1)], [(r.op, r.key) for r in f]
    o = read_topic(kafka, conn, conn.topic("o"), 3)
    assert [(r.op, r.key["id"]) for r in o] == [("c", 1), ("c", 2), ("c", 3)]
    assert conn.stop() == 0


# ------------------------------------------------------------------------ failed start


def test_failed_start_leaves_no_slot(db, pg, kafka, connectors):
    """A start that fails after creating its slot, before streaming, drops the slot: the
    role may open one connection (and one replication connection where the major counts
    those against the limit), so the initial
    snapshot's own connection is refused once the catalog connection is open and the slot
    exists.
    Lifting the limit, the next start streams with nothing lost."""
    role = f"r_{uuid.uuid4().hex[:8]}"
    pw = "pw-" + uuid.uuid4().hex[:6]
    pg.execute(f"CREATE ROLE {role} LOGIN REPLICATION CONNECTION LIMIT 1 PASSWORD '{pw}'")
    conn = None
    try:
        db.execute(f"GRANT CREATE ON DATABASE {db.name} TO {role}")
        db.execute(f"GRANT CREATE ON SCHEMA public TO {role}")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute(f"ALTER TABLE t OWNER TO {role}")
        db.execute("INSERT INTO t VALUES (1, 'before')")
        conn = connectors(["public.t"], settings={"postgresql": {
            "conninfo": f"host=127.0.0.1 port={db.pg.port} dbname={db.name} user={role} "
                        "sslmode=disable"}}, env={"PGPASSWORD": pw, "PGUSER": role})
        conn.start()
        m = conn.wait_log(r"dropped replication slot .*created by this start|for "
                          r"replication: .*too many connections for role", timeout=60)
        if "for replication" in m.group(0):
            # this major counts replication connections too: one more for it
            pg.execute(f"ALTER ROLE {role} CONNECTION LIMIT 2")
            conn.wait_log(r"dropped replication slot .*created by this start", timeout=60)
        conn.stop()
        assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                         (conn.slot,)) == 0, conn.log()
        pg.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
        conn.start().wait_streaming()
        db.execute("INSERT INTO t VALUES (2, 'after')")
        recs = read_topic(kafka, conn, conn.topic("t"), 2)
        assert sorted(r.key["id"] for r in recs) == [1, 2]
        assert conn.stop() == 0
    finally:
        if conn:
            conn.cleanup()
        pg.execute(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                   f"WHERE slot_name LIKE 'wal2kafka_%' AND NOT active AND database = '{db.name}'")
        db.execute(f"DROP OWNED BY {role}")
        pg.execute(f"DROP ROLE {role}")


# ------------------------------------------------------- wal2kafka's messages (signals)


def test_snapshot_request_and_ddl_event_on_every_major(wal2kafka_bin, db, kafka, connectors):
    """wal2kafka's own messages in the WAL: logical messages from 14, rows of the signal
    table wal2kafka.signal before. A `wal2kafka snapshot` request re-reads the table
    (between watermarks), the DDL trigger's event becomes a schema-change event, and the
    signal table's rows never reach a topic."""
    from w2k_schema import ddl_install, request_snapshot
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 5) i")
    conn = connectors(["public.*"], stream_settings={"snapshot": "never"})
    ddl_install(wal2kafka_bin, conn)
    conn.start().wait_streaming()
    signal = db.scalar("SELECT to_regclass('wal2kafka.signal') IS NOT NULL")
    assert signal == (major(db) < 14)
    if signal:
        assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                         "schemaname = 'wal2kafka' AND tablename = 'signal'",
                         (conn.publication,)) == 1
    out = request_snapshot(wal2kafka_bin, conn, "public.t")
    assert out.startswith("requested a re-snapshot of public.t"), out
    conn.wait_log(r"re-snapshot of a table done: 5 row", timeout=60)
    db.execute("ALTER TABLE t ADD COLUMN w int")
    db.execute("INSERT INTO t VALUES (6, 'v6', 6)")
    recs = read_topic(kafka, conn, conn.topic("t"), 6)
    assert [r.op for r in recs] == ["r"] * 5 + ["c"]
    dec = Decoder(kafka, conn.prefix)
    events = [r.value for r in consume(kafka, dec, conn.changes_topic, to_end=True) if r.value]
    alters = [e for e in events if e["type"] == "alter" and e["table"] == "t"]
    assert alters and alters[0]["ddl"] == "ALTER TABLE t ADD COLUMN w int", events
    assert not [t for t in kafka.topics() if "signal" in t]
    assert conn.stop() == 0
    if signal:  # the handled rows are deleted at the next start
        assert db.scalar("SELECT count(*) FROM wal2kafka.signal") > 0
        conn.start().wait_streaming()
        assert db.scalar("SELECT count(*) FROM wal2kafka.signal") == 0
        assert conn.stop() == 0
        # the trigger does not make DDL fail once the table is gone
        db.execute("DROP TABLE wal2kafka.signal")
        db.execute("ALTER TABLE t ADD COLUMN z int")
