"""In-progress transactions streamed into Kafka transactions (issue 15 point 3):
`streaming = true` (with delivery.exactly_once, PostgreSQL 14+) starts pgoutput with
protocol 2 and streaming 'on', so PostgreSQL sends a big transaction in blocks while it
runs instead of spilling it to its disk; wal2kafka produces the blocks into the open
Kafka transaction and commits it only after the Stream Commit.

Each test sets logical_decoding_work_mem = 64kB on its own database (the walsender of
the test's slot reads it), so a few thousand rows stream. A read_committed consumer is
what a user checks: a committed big transaction arrives whole, once, in order, with
nothing spilled; a rolled-back one, or the part of one rolled back to a savepoint, is
never visible; small transactions committed while a big one streams all arrive.
"""

from __future__ import annotations

import re
import time

import pytest

from servers import PG_VERSION
from w2k import Decoder, TopicReader, _wait_topic, current_wal_lsn
from w2k import connectors  # noqa: F401 (fixture)

MAJOR = int(PG_VERSION or 15)  # the servers started here (W2K_PG_VERSION; Debian's is 15)
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300),
              pytest.mark.skipif(MAJOR < 14, reason=f"PostgreSQL {MAJOR}: streaming of "
                                 "in-progress transactions needs 14+")]

PAD = "x" * 100  # ~130 bytes a row: 64kB of changes is ~500 rows


def need_14(db):
    v = db.pg.server_version_num
    if v < 140000:
        print(f"PostgreSQL {v // 10000} has no streaming of in-progress transactions (14+)")
        pytest.skip(f"PostgreSQL {v // 10000}: streaming of in-progress transactions needs 14+")


def start(db, connectors, tables=("public.t",)):
    need_14(db)
    db.execute(f'ALTER DATABASE "{db.name}" SET logical_decoding_work_mem = \'64kB\'')
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(list(tables), stream_settings={"streaming": True},
                      settings={"delivery": {"exactly_once": True}})
    conn.start().wait_streaming()
    return conn


def slot_stats(db, slot: str) -> dict:
    rows = db.execute("SELECT spill_txns, spill_bytes, stream_txns, stream_bytes "
                      "FROM pg_stat_replication_slots WHERE slot_name = %s", (slot,))
    assert rows, f"no statistics for slot {slot}"
    return dict(zip(("spill_txns", "spill_bytes", "stream_txns", "stream_bytes"), rows[0]))


def wait_uncommitted(kafka, topic: str, n: int = 1, timeout: float = 60.0,
                     decoder: Decoder | None = None, min_id: int | None = None) -> int:
    """Wait until at least n messages were produced to topic, committed or not (a
    read_uncommitted consumer): the streamed blocks reached Kafka. With min_id (and a
    decoder) only messages of keys >= min_id count. Returns the count."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    deadline = time.monotonic() + timeout
    _wait_topic(kafka, topic, deadline)
    c = kafka.consumer(None, **{"isolation.level": "read_uncommitted",
                                "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                  for p in range(kafka.partitions(topic))])
        seen = 0
        while seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {seen} messages produced after {timeout}s, "
                                   f"want {n}")
            m = c.poll(0.2)
            if m is not None and not m.error() and m.value() is not None:
                if min_id is None or decoder.decode(m.value())["after"]["id"] >= min_id:
                    seen += 1
        return seen
    finally:
        c.close()


def ids(records) -> list[int]:
    return [r.value["after"]["id"] for r in records if not r.is_tombstone and r.op == "c"]


def delivered_ids(db, kafka, conn, n: int, rest: float = 30.0) -> list[int]:
    """What a read_committed consumer has once everything committed so far is confirmed:
    the topic read to n messages, then on to its end for `rest` seconds (nothing more
    may come); the ids of its inserts, in order."""
    conn.wait_confirmed(current_wal_lsn(db), timeout=120)
    with TopicReader(kafka, Decoder(kafka, conn.prefix), conn.topic("t")) as r:
        r.read(until=n, timeout=60)
        return ids(r.read(timeout=rest))


@pytest.mark.pg_matrix
def test_big_transaction_streams_and_commits_once(db, kafka, connectors):
    conn = start(db, connectors)
    n = 3000
    db.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, {n}) g")
    db.execute("INSERT INTO t VALUES (-1, 'after')")
    assert delivered_ids(db, kafka, conn, n + 1) == list(range(1, n + 1)) + [-1]
    st = slot_stats(db, conn.slot)
    assert st["spill_txns"] == 0 and st["spill_bytes"] == 0, st
    assert st["stream_txns"] > 0, st
    assert "in-progress transactions streamed" in conn.log()
    conn.check_alive()


def mid_transaction(db, kafka, conn):
    """Row -1 committed, then rows 1-3000 inserted by a transaction left open until 500 of
    them were produced into the open Kafka transaction (the crash tests' starting point).
    Returns the transaction's connection."""
    db.execute("INSERT INTO t VALUES (-1, 'before')")
    big = db.connect(autocommit=False)
    big.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
    wait_uncommitted(kafka, conn.topic("t"), n=500)  # blocks of it are in Kafka
    return big


def test_big_transaction_rolled_back_is_never_visible(db, kafka, connectors):
    conn = start(db, connectors)
    c = db.connect(autocommit=False)
    c.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
    wait_uncommitted(kafka, conn.topic("t"))  # some of it was produced
    c.rollback()
    c.close()
    db.execute("INSERT INTO t VALUES (-1, 'after')")
    assert delivered_ids(db, kafka, conn, 1) == [-1]
    conn.wait_log(r"streamed transaction \d+ was rolled back after some of its changes")
    st = slot_stats(db, conn.slot)
    assert st["spill_bytes"] == 0 and st["stream_txns"] > 0, st
    conn.check_alive()


def test_rollback_to_savepoint_keeps_exactly_the_surviving_rows(db, kafka, connectors):
    conn = start(db, connectors)
    c = db.connect(autocommit=False)
    c.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 2000) g")
    c.execute("SAVEPOINT s")
    c.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(2001, 4000) g")
    wait_uncommitted(kafka, conn.topic("t"), n=2500)  # rows of the savepoint were produced
    c.execute("ROLLBACK TO SAVEPOINT s")
    c.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(4001, 5000) g")
    c.commit()
    c.close()
    want = list(range(1, 2001)) + list(range(4001, 5001))
    assert delivered_ids(db, kafka, conn, len(want)) == want
    conn.wait_log(r"subtransaction \d+ of streamed transaction \d+ was rolled back")
    st = slot_stats(db, conn.slot)
    assert st["spill_bytes"] == 0 and st["stream_txns"] > 0, st
    conn.check_alive()


def test_small_transactions_while_a_big_one_streams(db, kafka, connectors):
    conn = start(db, connectors)
    big = db.connect(autocommit=False)
    big.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
    wait_uncommitted(kafka, conn.topic("t"))
    for k in range(10001, 10011):  # each key: created, then updated twice
        db.execute("INSERT INTO t VALUES (%s, 'v0')", (k,))
    for v in ("v1", "v2"):
        for k in range(10001, 10011):
            db.execute("UPDATE t SET v = %s WHERE id = %s", (v, k))
    # all produced, none visible: they are in the Kafka transaction the big one holds open
    wait_uncommitted(kafka, conn.topic("t"), n=30, decoder=Decoder(kafka, conn.prefix),
                     min_id=10001)
    with TopicReader(kafka, Decoder(kafka, conn.prefix), conn.topic("t")) as r:
        assert r.read(timeout=10) == []
    big.commit()
    big.close()
    conn.wait_confirmed(current_wal_lsn(db), timeout=120)
    with TopicReader(kafka, Decoder(kafka, conn.prefix), conn.topic("t")) as r:
        r.read(until=3030, timeout=60)
        recs = r.read(timeout=30)
    assert sorted(ids(recs)) == list(range(1, 3001)) + list(range(10001, 10011))
    assert [i for i in ids(recs) if i <= 3000] == list(range(1, 3001))
    for k in range(10001, 10011):  # per key in order, each version once
        vs = [r.value["after"]["v"] for r in recs if r.value and r.value["after"]["id"] == k]
        assert vs == ["v0", "v1", "v2"], (k, vs)
    st = slot_stats(db, conn.slot)
    assert st["spill_bytes"] == 0 and st["stream_txns"] > 0, st
    conn.check_alive()


def test_streaming_needs_exactly_once(db, kafka, connectors, tmp_path):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"], stream_settings={"streaming": True})
    conn.start()
    assert conn.wait_exit(timeout=60) != 0
    log = conn.log()
    assert "streaming = true needs delivery.exactly_once = true" in log, log


def test_transaction_outliving_the_kafka_timeout_falls_back(db, kafka, connectors):
    """delivery.transaction_timeout_ms = 4000: a streamed transaction open for longer
    makes wal2kafka abort the Kafka transaction before the broker does, and restart
    without streaming until it ends: it then comes whole at its commit, once."""
    need_14(db)
    db.execute(f'ALTER DATABASE "{db.name}" SET logical_decoding_work_mem = \'64kB\'')
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"], stream_settings={"streaming": True},
                      settings={"delivery": {"exactly_once": True,
                                             "transaction_timeout_ms": 4000}})
    conn.start().wait_streaming()
    big = db.connect(autocommit=False)
    big.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
    # the fallback, then a restart without streaming
    conn.wait_log(r"kept the Kafka transaction open for \d+ ms, near "
                  r"delivery.transaction_timeout_ms = 4000[\s\S]*streaming from slot \S+ at \S+ "
                  r"\(database [^,)]*\)", timeout=60)
    db.execute("INSERT INTO t VALUES (-1, 'small, meanwhile')")
    big.commit()
    big.close()
    db.execute("INSERT INTO t VALUES (-2, 'after')")
    assert delivered_ids(db, kafka, conn, 3002) == [-1] + list(range(1, 3001)) + [-2]
    conn.check_alive()


def test_kill_9_mid_transaction_loses_and_doubles_nothing(db, kafka, connectors):
    """wal2kafka killed while a streamed transaction's blocks are in an open Kafka
    transaction: the next instance's producer aborts it, PostgreSQL streams the
    transaction again, and a read_committed consumer sees each row once."""
    conn = start(db, connectors)
    big = mid_transaction(db, kafka, conn)
    conn.kill()
    big.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(3001, 4000) g")
    big.commit()
    big.close()
    db.execute("INSERT INTO t VALUES (-2, 'after')")
    conn.start().wait_streaming()
    assert delivered_ids(db, kafka, conn, 4002) == [-1] + list(range(1, 4001)) + [-2]
    conn.check_alive()


def test_postgres_crash_mid_transaction_never_shows_it(pg, db, kafka, connectors):
    """PostgreSQL stopped in immediate mode (a crash: no shutdown checkpoint, the open
    transaction never commits nor writes an abort) while a streamed transaction's blocks
    are in an open Kafka transaction, then started again: wal2kafka reconnects by itself,
    the transaction that never committed is never visible to read_committed, and what is
    committed after the restart (a big transaction streamed again, a small one) arrives
    once."""
    conn = start(db, connectors)
    big = mid_transaction(db, kafka, conn)
    pg.stop("immediate")
    try:
        big.close()
    finally:
        pg.start()
    # decoding learns that the crashed transaction ended (and sends its Stream Abort) at
    # the next record of running transactions: the bgwriter's (every 15 s while WAL is
    # written) or a checkpoint's; until then the Kafka transaction stays open and what
    # commits meanwhile waits in it. The checkpoint spares the test those 15 s.
    db.execute("CHECKPOINT")
    db.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
    db.execute("INSERT INTO t VALUES (-2, 'after')")
    assert delivered_ids(db, kafka, conn, 3002, rest=10) == [-1] + list(range(1, 3001)) + [-2]
    st = slot_stats(db, conn.slot)
    assert st["spill_bytes"] == 0 and st["stream_txns"] > 0, st
    conn.check_alive()  # it recovered without being restarted


def test_broker_kill_mid_transaction_loses_and_doubles_nothing(db, kafka, connectors):
    """The broker SIGKILLed while a streamed transaction's blocks are in an open Kafka
    transaction; the PostgreSQL transaction commits while the broker is down; the broker
    starts again: wal2kafka (not restarted) delivers the transaction whole and once to
    read_committed, and the transactions around it once each."""
    conn = start(db, connectors)
    big = mid_transaction(db, kafka, conn)
    kafka.kill()
    try:
        big.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(3001, 4000) g")
        big.commit()
        big.close()
        db.execute("INSERT INTO t VALUES (-2, 'after')")
        conn.check_alive()
    finally:
        kafka.start()
    assert delivered_ids(db, kafka, conn, 4002, rest=10) == [-1] + list(range(1, 4001)) + [-2]
    conn.check_alive()


def test_streamed_rollbacks_are_not_failures(db, kafka, connectors):
    """A streamed transaction rolled back restarts the stream on purpose (the Kafka
    transaction is aborted): that is not a failure, so it must not use up the retry
    limits. With retry.max_attempts = 1, three rollbacks in a row leave wal2kafka
    streaming, and what commits after them arrives once."""
    need_14(db)
    db.execute(f'ALTER DATABASE "{db.name}" SET logical_decoding_work_mem = \'64kB\'')
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"], stream_settings={"streaming": True},
                      settings={"delivery": {"exactly_once": True},
                                "retry": {"max_attempts": 1}})
    conn.start().wait_streaming()
    for k in range(3):
        c = db.connect(autocommit=False)
        c.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, 3000) g")
        wait_uncommitted(kafka, conn.topic("t"), n=500 * (k + 1))  # produced, then...
        c.rollback()  # ...rolled back: the stream restarts
        c.close()
        db.execute("INSERT INTO t VALUES (%s, 'after')", (-1 - k,))
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        conn.check_alive()
    assert delivered_ids(db, kafka, conn, 3, rest=10) == [-1, -2, -3]
    assert len(re.findall(r"streamed transaction \d+ was rolled back after some of its "
                          "changes", conn.log())) == 3
    assert "giving up" not in conn.log()


def test_builtin_decoding_memory_is_lowered_for_streaming(db, kafka, connectors):
    """With the server's built-in logical_decoding_work_mem (64MB) wal2kafka's session
    uses 8MB, so a transaction of ~15MB is streamed in blocks (less is left to send after
    its commit); the other tests' ALTER DATABASE value (64kB) is kept, or they would not
    stream their 3,000 rows."""
    need_14(db)
    rows = db.execute("SELECT source FROM pg_settings WHERE name = 'logical_decoding_work_mem'")
    assert rows == [("default",)], rows  # nobody set it on this database
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"], stream_settings={"streaming": True},
                      settings={"delivery": {"exactly_once": True}})
    conn.start().wait_streaming()
    n = 60000  # ~15MB decoded: more than 8MB, less than 64MB
    db.execute(f"INSERT INTO t SELECT g, '{PAD}' FROM generate_series(1, {n}) g")
    conn.wait_confirmed(current_wal_lsn(db), timeout=120)
    st = slot_stats(db, conn.slot)
    assert st["spill_bytes"] == 0 and st["stream_txns"] == 1, st
    with TopicReader(kafka, Decoder(kafka, conn.prefix), conn.topic("t")) as r:
        recs = r.read(until=n, timeout=90)
    assert ids(recs) == list(range(1, n + 1))
    conn.check_alive()
