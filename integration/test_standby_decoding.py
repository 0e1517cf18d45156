"""Decoding from a physical standby (issue 14, point 2): postgresql.decoding_conninfo.

wal2kafka keeps the publication on the primary (conninfo) and creates, streams and
confirms its slot on a physical standby (PostgreSQL 16+), taking the initial snapshot
there: the primary carries no decoding load and holds no logical slot. Changes written
on the primary arrive exactly once, in commit order; the standby's slot advances; a
promotion of the standby keeps the stream going from the same slot. A decoding server
that is not a standby (or older than 16) is refused with its cause and a hint.

Marked `failover` (a primary and a standby): scripts/test.sh runs it in the pg-matrix
step on 16, 17 and 18, and in the integration step on Debian's 15 (where only the
refusal runs).
"""

from __future__ import annotations

import re
import time

import pytest

from servers import PG_VERSION, Database
from test_failover import KEYS, both_hosts, cluster, wait_for  # noqa: F401 (the fixture)
from w2k import (Connector, Decoder, connectors, consume, parse_lsn, run_cli,  # noqa: F401
                 slot_info)

MAJOR = int(PG_VERSION or 15)

pytestmark = pytest.mark.failover


def dsn_of(pg, dbname: str) -> str:
    return f"host={pg.host} port={pg.port} dbname={dbname} user={pg.user} sslmode=disable"


def changes(kafka, conn: Connector, to_end: bool = True):
    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("kv"), timeout=60,
                   to_end=to_end)
    return [r for r in sorted(recs, key=lambda r: r.offset) if not r.is_tombstone]


def as_ops(recs):
    """(op, id, version) of each change; a delete's version is None (the table's
    replica identity is its key: the before image holds no other column)."""
    return [(r.op, r.key["id"], r.value["after"]["version"] if r.value["after"] else None)
            for r in recs]


def confirmed_past(standby, slot: str, lsn: int) -> bool:
    info = slot_info(standby, slot)
    return bool(info) and info["confirmed_flush_lsn"] >= lsn


@pytest.mark.skipif(MAJOR < 16, reason="logical decoding on a standby is PostgreSQL 16+")
def test_decoding_on_the_standby(cluster, kafka, wal2kafka_bin, topic_prefix,  # noqa: F811
                                 tmp_path):
    primary, standby, db = cluster
    sdb = Database(standby, db.name)
    t0 = time.monotonic()
    conn = Connector(wal2kafka_bin, db, kafka, ["public.kv"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {
                         "conninfo": both_hosts(primary, standby, db.name),
                         "decoding_conninfo": dsn_of(standby, db.name)}})
    try:
        conn.start()
        conn.wait_log(r"streaming from slot", timeout=60)
        assert re.search(r"stream \S+: decoding on the standby", conn.log()), conn.log()
        # the slot lives on the standby, the primary has no logical slot at all
        assert wait_for(lambda: (slot_info(sdb, conn.slot) or {}).get("active"), 30,
                        "the standby's slot active")
        assert primary.scalar("SELECT count(*) FROM pg_replication_slots "
                              "WHERE slot_type = 'logical'") == 0
        before = slot_info(sdb, conn.slot)["confirmed_flush_lsn"]
        # inserts, updates, deletes on the primary, in several transactions
        expect = []
        with db.connect() as c:
            for i in range(1, 31):
                k = 1 + i % KEYS
                v = c.execute("UPDATE kv SET version = version + 1 WHERE id = %s "
                              "RETURNING version", (k,)).fetchone()[0]
                expect.append(("u", k, v))
                if i % 5 == 0:
                    c.execute("INSERT INTO kv VALUES (%s, %s)", (1000 + i, i))
                    expect.append(("c", 1000 + i, i))
                if i % 10 == 0:
                    c.execute("DELETE FROM kv WHERE id = %s", (1000 + i - 5,))
                    expect.append(("d", 1000 + i - 5, None))
                c.commit()
        end = parse_lsn(primary.scalar("SELECT pg_current_wal_lsn()::text"))
        wait_for(lambda: confirmed_past(sdb, conn.slot, end), 60,
                 "the standby's slot confirming the primary's changes")
        after = slot_info(sdb, conn.slot)["confirmed_flush_lsn"]
        assert after > before
        recs = changes(kafka, conn)
        reads = [r for r in recs if r.op == "r"]
        # the initial snapshot, exported on the standby, read every row once, first
        assert sorted(r.key["id"] for r in reads) == list(range(1, KEYS + 1))
        assert max(r.offset for r in reads) < min(r.offset for r in recs if r.op != "r")
        assert as_ops([r for r in recs if r.op != "r"]) == expect  # exactly once, in order
        assert primary.scalar("SELECT count(*) FROM pg_replication_slots "
                              "WHERE slot_type = 'logical'") == 0
        t_stream = time.monotonic() - t0
        # check names the decoding server, its role, hot_standby_feedback and the lag
        out = run_cli(wal2kafka_bin, "check", "--config", conn.config_path,
                      env=db.env()).stdout
        for rx in (rf"ok +decoding server \(postgresql\.decoding_conninfo\): PostgreSQL "
                   rf"{MAJOR}\.\d+ at {re.escape(standby.host)}:{standby.port}, a standby",
                   r"ok +decoding server: hot_standby_feedback = on, primary_slot_name = standby1",
                   r"ok +decoding server: replay lag \d+ bytes behind the primary"):
            assert re.search(rx, out), out

        # a promotion of the standby: the stream goes on from the same slot
        primary.stop("fast")
        standby.promote()
        sdb.execute("UPDATE kv SET version = version + 1 WHERE id = 1")
        v1 = sdb.scalar("SELECT version FROM kv WHERE id = 1")
        end = parse_lsn(standby.scalar("SELECT pg_current_wal_lsn()::text"))
        wait_for(lambda: confirmed_past(sdb, conn.slot, end), 60,
                 "the promoted standby's slot confirming")
        recs = changes(kafka, conn)
        assert as_ops([r for r in recs if r.op != "r"]) == expect + [("u", 1, v1)]
        conn.check_alive()
        log = conn.log()
        assert "is gone" not in log and "taking the initial snapshot" in log
        conn.db = sdb
        assert conn.stop() == 0
        print(f"decoding on the standby (PostgreSQL {MAJOR}): {len(expect)} changes exactly "
              f"once, slot confirmed {before:X} -> {after:X}; streaming and checked "
              f"{t_stream:.1f}s after start; promotion survived")
    finally:
        conn.cleanup()


def test_decoding_server_not_a_standby_is_refused(db, connectors):
    """decoding_conninfo naming the primary itself: not a standby (16+), or too old."""
    db.execute("CREATE TABLE kv (id int PRIMARY KEY, version int NOT NULL)")
    conn = connectors(["public.kv"], settings={"postgresql": {
        "decoding_conninfo": dsn_of(db.pg, db.name)}})
    conn.start()
    rc = conn.wait_exit(60)
    log = conn.log()
    assert rc == 4, log
    if MAJOR >= 16:
        cause = (r"the decoding server \(postgresql\.decoding_conninfo\) is not a standby "
                 r"\(pg_is_in_recovery\(\) is false\) and holds no slot")
        hint = r"point decoding_conninfo at a physical standby"
    else:
        cause = (r"the decoding server \(postgresql\.decoding_conninfo\) runs PostgreSQL "
                 r"[\d.]+: logical decoding on a standby needs PostgreSQL 16 or newer")
        hint = r"upgrade the standby"
    assert re.search(rf'level=error msg="[^"]*{cause}[^"]*" hint="[^"]*{hint}', log), log
    assert not slot_info(db, conn.slot)


@pytest.mark.skipif(MAJOR < 16, reason="logical decoding on a standby is PostgreSQL 16+")
def test_slot_invalidated_on_the_standby_says_why(cluster, kafka, wal2kafka_bin,  # noqa: F811
                                                  topic_prefix, tmp_path):
    """hot_standby_feedback off, catalog rows the slot needs vacuumed away on the primary:
    the standby invalidates the slot (a conflict with recovery); wal2kafka warned at
    start, and stops saying what happened and what to set (on_slot_lost = error)."""
    primary, standby, db = cluster
    sdb = Database(standby, db.name)
    standby.execute("ALTER SYSTEM SET hot_standby_feedback = off")
    standby.execute("SELECT pg_reload_conf()")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.kv"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"decoding_conninfo": dsn_of(standby, db.name)}})
    try:
        conn.start()
        conn.wait_log(r"streaming from slot", timeout=60)
        assert re.search(r'level=warn msg="[^"]*decoding standby has hot_standby_feedback = '
                         r'off[^"]*" hint="[^"]*hot_standby_feedback = on', conn.log()), conn.log()
        assert wait_for(lambda: (slot_info(sdb, conn.slot) or {}).get("active"), 30,
                        "the standby's slot active")

        def conflict():
            # dead catalog rows newer than the slot's catalog xmin, removed on the primary
            db.execute("CREATE TABLE gone (a int)")
            db.execute("DROP TABLE gone")
            db.execute("VACUUM pg_class")
            primary.execute("SELECT pg_log_standby_snapshot()")
            return not conn.running()

        wait_for(conflict, 60, "the slot invalidated and wal2kafka stopped", poll=0.5)
        assert conn.wait_exit(10) == 4
        m = re.search(r'level=error msg="[^"]*replication slot \\"\S+\\" was invalidated '
                      r'\((\w+)\) on the standby, by a conflict with recovery[^"]*" '
                      r'hint="[^"]*on_slot_lost = \\"recreate\\"[^"]*hot_standby_feedback = on '
                      r'and primary_slot_name', conn.log())
        assert m, conn.log()
        assert m.group(1) in ("conflicting", "rows_removed"), m.group(1)
    finally:
        conn.cleanup()
