"""A PostgreSQL failover under a steady writer (issue 14, points 1 and 2).

A primary and a physical standby of the same build on loopback (servers.py
start_standby: a copy of the stopped primary's data directory), wal2kafka's conninfo
naming both hosts with target_session_attrs=read-write, a writer committing numbered
versions (version = version + 1) through the same two hosts. The primary is stopped
while the writer runs and the standby promoted:

- PostgreSQL 17+: the slot was created with failover = true, the standby synced it
  (sync_replication_slots), and wal2kafka continues on the promoted standby from that
  slot: every version arrives, in commit order per key, nothing wal2kafka had
  confirmed before the failover arrives twice (only what was in flight when the
  connection broke may, at least once), and no row is read again as snapshot.
- Without a failover slot (before 17, or postgresql.failover_slots = false): the
  promoted standby has no slot; with on_slot_lost = "recreate" wal2kafka announces it,
  creates a new slot and takes a new snapshot, and a consumer's final state (the last
  record per key) equals the table.

scripts/test.sh runs these (marker `failover`) in the pg-matrix step on 16, 17 and 18,
and in the integration step on Debian's 15.
"""

from __future__ import annotations

import random
import re
import threading
import time

import psycopg
import pytest

from servers import PG_VERSION, Database, Postgres
from w2k import (Connector, Decoder, check_versions, connectors, consume,  # noqa: F401
                 parse_lsn, run_cli)

MAJOR = int(PG_VERSION or 15)
KEYS = 20

pytestmark = pytest.mark.failover


@pytest.fixture
def cluster(request):
    """(primary, standby, db): a fresh primary holding database "fo" with table kv
    (KEYS rows, version 0), and its streaming physical standby. Both destroyed after."""
    primary = Postgres().start()
    made = [primary]
    try:
        db = primary.create_database("fo")
        db.execute("CREATE TABLE kv (id int PRIMARY KEY, version int NOT NULL)")
        db.execute(f"INSERT INTO kv SELECT i, 0 FROM generate_series(1, {KEYS}) i")
        standby = primary.start_standby(sync_slots=getattr(request, "param", True))
        made.append(standby)
        yield primary, standby, db
    finally:
        for s in reversed(made):
            if request.session.testsfailed:
                print(f"\n--- {s.log_file} ---\n{s.log_tail(40)}")
            s.destroy()


def both_hosts(primary: Postgres, standby: Postgres, dbname: str, **extra) -> str:
    parts = {"host": f"{primary.host},{standby.host}", "port": f"{primary.port},{standby.port}",
             "dbname": dbname, "user": primary.user, "target_session_attrs": "read-write",
             "connect_timeout": "3", **extra}
    return " ".join(f"{k}={v}" for k, v in parts.items())


class FailoverWriter:
    """A thread committing transactions that each set version = version + 1 on 1-2
    random keys of kv, through a conninfo naming both servers: it reconnects after the
    failover. committed counts the transactions it saw committed."""

    def __init__(self, dsn: str, password: str, seed: int = 1):
        self.dsn, self.password = dsn, password
        self.rng = random.Random(seed)
        self.committed = 0
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "FailoverWriter":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, password=self.password, autocommit=False) as c:
                    while not self._stop.is_set():
                        for k in sorted(self.rng.sample(range(1, KEYS + 1), self.rng.randint(1, 2))):
                            c.execute("UPDATE kv SET version = version + 1 WHERE id = %s", (k,))
                        c.commit()
                        self.committed += 1
            except psycopg.Error:
                # the primary went away: an in-doubt commit is fine, every check reads
                # the versions the table ends with
                self.reconnects += 1
                self._stop.wait(0.1)

    def wait_committed(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.committed < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer committed {self.committed} of {n} in {timeout}s")
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        return self.committed


def wait_for(cond, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(poll)


def synced_slot(primary: Postgres, standby: Postgres, slot: str):
    """The standby's copy of slot once it is synced, persistent and has confirmed what
    the primary's slot has (None until then); nudges the primary to log a snapshot of
    running transactions, which the sync needs."""
    primary.execute("SELECT pg_log_standby_snapshot()")
    want = primary.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                          "WHERE slot_name = %s", (slot,))
    row = standby.execute("SELECT synced, temporary, confirmed_flush_lsn::text FROM "
                          "pg_replication_slots WHERE slot_name = %s", (slot,))
    synced_slot.last = (want, row)
    if not row or not row[0][0] or row[0][1]:
        return None
    return row[0] if parse_lsn(row[0][2]) >= parse_lsn(want) else None


def read_all(kafka, conn: Connector, timeout: float = 60):
    return consume(kafka, Decoder(kafka, conn.prefix), conn.topic("kv"), timeout=timeout,
                   to_end=True)


def fail_over(primary: Postgres, standby: Postgres, writer: FailoverWriter,
              slot: str | None = None) -> tuple[float, int]:
    """Stop the primary (fast: what it committed reaches the standby) while the writer
    runs, promote the standby; returns the monotonic time the primary went away and
    the slot's confirmed_flush_lsn on the primary just before (0 without slot)."""
    writer.wait_committed(writer.committed + 150)
    confirmed = 0
    if slot:
        confirmed = parse_lsn(primary.scalar("SELECT confirmed_flush_lsn::text FROM "
                                             "pg_replication_slots WHERE slot_name = %s",
                                             (slot,)))
    t0 = time.monotonic()
    primary.stop("fast")
    standby.promote()
    return t0, confirmed


@pytest.mark.skipif(MAJOR < 17, reason="failover slots are PostgreSQL 17+")
def test_failover_slot_continues_on_the_promoted_standby(cluster, kafka, wal2kafka_bin,
                                                         topic_prefix, tmp_path):
    primary, standby, db = cluster
    conn = Connector(wal2kafka_bin, db, kafka, ["public.kv"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"conninfo": both_hosts(primary, standby, db.name)}})
    try:
        conn.start().wait_streaming()
        assert db.scalar("SELECT failover FROM pg_replication_slots WHERE slot_name = %s",
                         (conn.slot,)) is True
        assert conn.stop() == 0
        # the slot (inactive now) has failover, the standby is set up: check says so
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert re.search(rf"ok +stream \S+: slot {conn.slot} has failover = true", r.stdout), \
            r.stdout
        assert re.search(r"ok +failover: synchronized_standby_slots = 'standby1', every one",
                         r.stdout), r.stdout
        conn.start().wait_streaming()
        writer = FailoverWriter(both_hosts(primary, standby, db.name), primary.password).start()
        try:
            writer.wait_committed(200)
            # the standby holds a ready copy of the slot
            wait_for(lambda: synced_slot(primary, standby, conn.slot), 60,
                     "the standby's synced copy of the slot")
            t0, confirmed = fail_over(primary, standby, writer, conn.slot)
            writer.wait_committed(writer.committed + 300, timeout=120)
        finally:
            committed = writer.stop()
        conn.db = Database(standby, db.name)
        conn.check_alive()
        resumed = conn.wait_log(r"streaming from slot", timeout=60, current=True)
        assert resumed
        conn.wait_caught_up(120)
        t_caught = time.monotonic() - t0
        recs = read_all(kafka, conn)
        final = dict(conn.db.execute("SELECT id, version FROM kv"))
        # nothing lost, commit order per key; nothing confirmed before the failover sent
        # twice (what was in flight when the connection broke is sent again: at least once)
        dups = check_versions(recs, final,
                              dup_ok=lambda r: r.value["source"]["commit_lsn"] >= confirmed)
        reads = [r for r in recs if r.op == "r"]
        assert len(reads) == KEYS, f"{len(reads)} snapshot reads: only the initial {KEYS} expected"
        assert max(r.offset for r in reads) < min(r.offset for r in recs if r.op != "r")
        log = conn.log()
        assert "creating a new slot" not in log and "is gone" not in log, log[-3000:]
        assert conn.stop() == 0
        print(f"failover (PostgreSQL {MAJOR}): {committed} transactions, {len(recs)} records, "
              f"0 lost, {len(dups)} re-sent (in flight at the failover), writer reconnects "
              f"{writer.reconnects}; caught up "
              f"{t_caught:.1f}s after the primary stopped (300+ transactions later)")
    finally:
        conn.cleanup()


@pytest.mark.skipif(MAJOR < 12, reason="the test's standby setup (standby.signal) is 12+")
@pytest.mark.parametrize("cluster", [False], indirect=True, ids=["no_slot_sync"])
def test_failover_without_failover_slot_recreates_and_resnapshots(cluster, kafka, wal2kafka_bin,
                                                                  topic_prefix, tmp_path):
    primary, standby, db = cluster
    conn = Connector(wal2kafka_bin, db, kafka, ["public.kv"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"conninfo": both_hosts(primary, standby, db.name),
                                              **({"failover_slots": False} if MAJOR >= 17
                                                 else {})}},
                     stream_settings={"on_slot_lost": "recreate"})
    try:
        conn.start().wait_streaming()
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert re.search(r"ok +failover: (PostgreSQL \d+ has no failover slots|postgresql\."
                         r"failover_slots = false)", r.stdout), r.stdout
        writer = FailoverWriter(both_hosts(primary, standby, db.name), primary.password).start()
        try:
            writer.wait_committed(200)
            fail_over(primary, standby, writer)
            writer.wait_committed(writer.committed + 300, timeout=120)
        finally:
            committed = writer.stop()
        conn.db = Database(standby, db.name)
        conn.check_alive()
        m = conn.wait_log(r'level=warn msg="stream \S+: replication slot \\"\S+\\" is gone '
                          r'\(dropped, or lost in a failover\)[^"]*creating a new slot', timeout=60)
        assert m
        conn.wait_log(r"streaming from slot", timeout=60, current=True)
        conn.wait_caught_up(120)
        recs = read_all(kafka, conn)
        final = dict(conn.db.execute("SELECT id, version FROM kv"))
        last = {}
        for rec in sorted(recs, key=lambda r: (r.partition, r.offset)):
            last[rec.key["id"]] = rec
        assert {k: r.value["after"]["version"] for k, r in last.items()} == final
        reads = [r for r in recs if r.op == "r"]
        assert len(reads) == 2 * KEYS, f"{len(reads)} snapshot reads: initial + re-snapshot"
        assert conn.stop() == 0
        print(f"failover without a failover slot (PostgreSQL {MAJOR}): {committed} "
              f"transactions, re-snapshot of {KEYS} rows announced, final state equals the table")
    finally:
        conn.cleanup()


@pytest.mark.skipif(MAJOR < 17, reason="failover slots are PostgreSQL 17+")
def test_synced_slot_on_a_standby_waits_until_promoted(cluster, kafka, wal2kafka_bin,
                                                       topic_prefix, tmp_path):
    """Started against the standby (no target_session_attrs), wal2kafka finds only the
    synced copy of its slot: it waits, saying why, and streams once it is promoted."""
    primary, standby, db = cluster
    conn = Connector(wal2kafka_bin, db, kafka, ["public.kv"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"conninfo": both_hosts(primary, standby, db.name)}})
    try:
        conn.start().wait_streaming()
        n = 0

        def bump_until_synced():
            # the copy becomes ready only once the primary's slot (decoding: wal2kafka
            # streaming changes) moved past the catalog xmin the standby has
            nonlocal n
            n += 1
            db.execute("UPDATE kv SET version = version + 1 WHERE id = %s", (1 + n % KEYS,))
            return synced_slot(primary, standby, conn.slot)

        wait_for(bump_until_synced, 60, "a ready synced copy of the slot")
        conn.wait_caught_up(60)
        assert conn.stop() == 0
        try:
            wait_for(lambda: synced_slot(primary, standby, conn.slot), 60,
                     "the standby's synced copy of the slot")
        except TimeoutError:
            raise AssertionError(f"primary's slot at {synced_slot.last[0]}, standby's copy "
                                 f"{synced_slot.last[1]}\n{standby.log_tail(20)}")
        primary.stop("fast")
        conn.config["postgresql"]["conninfo"] = (f"host={standby.host} port={standby.port} "
                                                 f"dbname={db.name} user={standby.user}")
        conn.write_config()
        conn.start()
        conn.wait_log(r'level=(warn|error) msg="[^"]*replication slot \\"\S+\\" is a copy '
                      r'synced from the primary that cannot be used yet \(the server is a '
                      r'standby that was not promoted\)[^"]*retrying in',
                      timeout=60)
        # it keeps waiting (a second retry says it again), it does not give up
        conn.wait_log(r"cannot be used yet[\s\S]*cannot be used yet", timeout=30)
        conn.check_alive()
        standby.promote()
        conn.db = Database(standby, db.name)
        conn.wait_streaming(60)
        standby.execute("UPDATE kv SET version = version + 1 WHERE id = 1", dbname=db.name)
        conn.wait_caught_up(60)
        recs = read_all(kafka, conn)
        check_versions(recs, dict(conn.db.execute("SELECT id, version FROM kv")))
        assert conn.stop() == 0
    finally:
        conn.cleanup()


@pytest.mark.skipif(MAJOR < 17, reason="failover slots are PostgreSQL 17+")
def test_existing_slot_without_failover_check_warns_and_start_turns_it_on(db, connectors,
                                                                          wal2kafka_bin):
    db.execute("CREATE TABLE kv (id int PRIMARY KEY, version int NOT NULL)")
    conn = connectors(["public.kv"], settings={"postgresql": {"failover_slots": False}})
    conn.start().wait_streaming()
    assert conn.stop() == 0

    def slot_failover():
        return db.scalar("SELECT failover FROM pg_replication_slots WHERE slot_name = %s",
                         (conn.slot,))

    assert slot_failover() is False
    conn.config["postgresql"].pop("failover_slots")
    conn.write_config()
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert re.search(rf"warn +stream \S+: slot {conn.slot} has no failover: after a failover "
                     r"the promoted standby has no copy of it\nfix +wal2kafka turns failover on "
                     r"when it next starts", r.stdout), r.stdout
    assert re.search(r"ok +failover: no physical standby is connected", r.stdout), r.stdout
    conn.start().wait_streaming()
    assert re.search(rf"turned failover on for replication slot {conn.slot}",
                     conn.log(current=True))
    assert slot_failover() is True
    assert conn.stop() == 0
