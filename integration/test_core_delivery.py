"""The delivery contract: the slot is confirmed only as far as the broker acknowledged,
a stop confirms what was acknowledged, a restart (after SIGTERM or SIGKILL) resumes where
the slot stands, and an idle stream still lets the slot advance."""

from __future__ import annotations

import time

import pytest

from w2k import (Decoder, TopicReader, Writer, check_versions, connectors,  # noqa: F401
                 consume, current_wal_lsn, end_offsets, format_lsn, run_txn, slot_info)

KEYS = 8


def setup_kv(db, connectors, partitions=3, settings=None):
    db.execute("CREATE TABLE kv (id int PRIMARY KEY, version int NOT NULL)")
    conn = connectors(["public.kv"], settings=settings or {
        "kafka": {"topic": {"partitions": partitions}}})
    conn.start().wait_streaming()
    db.execute(f"INSERT INTO kv SELECT i, 0 FROM generate_series(1, {KEYS}) i")
    conn.wait_caught_up()
    return conn


def final_versions(db) -> dict:
    return dict(db.execute("SELECT id, version FROM kv"))


def bump(db, ids) -> object:
    return run_txn(db, *[("UPDATE kv SET version = version + 1 WHERE id = %s", (k,)) for k in ids])


def read_kv(kafka, conn, n=None, timeout=60):
    dec = Decoder(kafka, conn.prefix)
    return consume(kafka, dec, conn.topic("kv"), until=n, timeout=timeout, to_end=True)


def in_run(rec, bounds: dict) -> int:
    """Which run produced rec: the index of the first end-offset snapshot beyond it."""
    for i, ends in enumerate(bounds):
        if rec.offset < ends.get(rec.partition, 0):
            return i
    return len(bounds)


def test_broker_outage_holds_the_slot(db, kafka, connectors):
    """Kafka down: committed changes are not confirmed; Kafka back: all arrive, then confirmed."""
    conn = setup_kv(db, connectors)
    before = conn.confirmed_lsn()
    kafka.stop()
    try:
        txns = [bump(db, [1 + i % KEYS, 1 + (i * 3 + 1) % KEYS]) for i in range(30)]
        first, last = txns[0], txns[-1]
        observed = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn.check_alive()
            c = conn.confirmed_lsn()
            observed.append(c)
            assert c < first.lsn_after_commit, (
                f"confirmed_flush_lsn {format_lsn(c)} passed the first unacknowledged "
                f"commit (ends by {format_lsn(first.lsn_after_commit)}) while Kafka is down")
            time.sleep(0.2)
        assert len(observed) >= 20
    finally:
        kafka.start()
    conn.wait_confirmed(last.lsn_after_commit, timeout=120)
    recs = read_kv(kafka, conn)
    final = final_versions(db)
    assert sum(final.values()) == 60
    dups = check_versions(recs, final, dup_ok=lambda r: r.value["source"]["commit_lsn"] >= before)
    # exact: no confirmed position seen during the outage lies at or past the start of the
    # first blocked transaction's commit record (PostgreSQL would skip that transaction)
    blocked = [r for r in recs if r.value["source"]["txId"] == first.xid]
    assert blocked, "the first transaction of the outage is in Kafka"
    commit_lsn = blocked[0].value["source"]["commit_lsn"]
    assert max(observed) <= commit_lsn, (format_lsn(max(observed)), format_lsn(commit_lsn))
    assert min(observed) >= before
    assert conn.stop() == 0
    print(f"outage: {len(observed)} polls, {len(dups)} re-sent records")


def test_sigterm_confirms_and_restart_resumes(db, kafka, connectors):
    conn = setup_kv(db, connectors)
    # Phase 1: everything acknowledged, then SIGTERM: all of it is confirmed.
    a = [bump(db, [1 + i % KEYS]) for i in range(20)]
    n_a = KEYS + 20
    recs = read_kv(kafka, conn, n_a)
    assert conn.stop() == 0
    assert "stopped on request" in conn.log(current=True)
    c1 = conn.confirmed_lsn()
    assert slot_info(db, conn.slot)["active"] is False
    assert c1 > max(r.value["source"]["commit_lsn"] for r in recs), \
        "SIGTERM confirmed everything that was acknowledged"
    newest = max(recs, key=lambda r: r.value["source"]["commit_lsn"])
    assert newest.value["source"]["txId"] == a[-1].xid
    bounds = [end_offsets(kafka, conn.topic("kv"))]

    # Phase 2: changes while stopped; restart; SIGTERM in the middle of a steady writer.
    for i in range(15):
        bump(db, [1 + (i * 5) % KEYS, 1 + (i * 5 + 2) % KEYS])
    conn.start().wait_streaming()
    w = Writer(db, "kv", list(range(1, KEYS + 1)), seed=2).start()
    try:
        w.wait_committed(100)
        with TopicReader(kafka, None, conn.topic("kv")) as tr:
            tr.read(until=n_a + 30 + 20, timeout=60)  # some of the writer's changes arrived
        assert conn.stop() == 0
        c2 = conn.confirmed_lsn()
        assert c2 >= c1
        bounds.append(end_offsets(kafka, conn.topic("kv")))
        stop_at = w.committed
        w.wait_committed(stop_at + 100)  # more while stopped
        conn.start().wait_streaming()
        w.wait_committed(w.committed + 100)
    finally:
        w.stop()
    conn.wait_caught_up(60)
    recs = read_kv(kafka, conn)
    confirmed_before = [c1, c2]

    def resent_ok(r):
        run = in_run(r, bounds)
        return run > 0 and r.value["source"]["commit_lsn"] >= confirmed_before[run - 1]

    dups = check_versions(recs, final_versions(db), dup_ok=resent_ok)
    assert not [r for r in dups if in_run(r, bounds) == 1], \
        "nothing of phase 1 (confirmed at SIGTERM) was sent again"
    assert conn.stop() == 0
    print(f"SIGTERM test: {len(recs)} records, {len(dups)} re-sent")


def test_kill_9_under_a_steady_writer_loses_nothing(db, kafka, connectors):
    conn = setup_kv(db, connectors)
    w = Writer(db, "kv", list(range(1, KEYS + 1)), seed=3).start()
    try:
        w.wait_committed(150)
        with TopicReader(kafka, None, conn.topic("kv")) as tr:
            tr.read(until=KEYS + 150, timeout=60)
        assert conn.kill() == -9
        killed_at = conn.confirmed_lsn()
        # the connector is gone: its slot must no longer move
        bounds = [end_offsets(kafka, conn.topic("kv"))]
        w.wait_committed(w.committed + 150)
        assert conn.confirmed_lsn() == killed_at
        conn.start().wait_streaming(90)
        w.wait_committed(w.committed + 150)
    finally:
        w.stop()
    conn.wait_caught_up(90)
    recs = read_kv(kafka, conn)
    final = final_versions(db)
    assert sum(final.values()) == w.rows
    dups = check_versions(
        recs, final,
        dup_ok=lambda r: in_run(r, bounds) == 1 and r.value["source"]["commit_lsn"] >= killed_at)
    assert conn.stop() == 0
    print(f"kill -9: {len(recs)} records, {len(dups)} re-sent after the restart")


def test_idle_stream_lets_the_slot_advance(db, pg, kafka, connectors):
    db.execute("CREATE TABLE quiet (id int PRIMARY KEY)")
    db.execute("CREATE TABLE noisy (id serial PRIMARY KEY, pad text)")
    other = pg.create_database(f"{db.name[:50]}_other")
    try:
        other.execute("CREATE TABLE elsewhere (id serial PRIMARY KEY, pad text)")
        conn = connectors(["public.quiet"])
        conn.start().wait_streaming()
        conn.wait_caught_up()
        start = slot_info(db, conn.slot)
        last = start["confirmed_flush_lsn"]
        for rnd in range(3):
            # WAL from an untracked table of the same database ...
            for _ in range(20):
                db.execute("INSERT INTO noisy (pad) SELECT repeat('x', 200) FROM generate_series(1, 20)")
            target = current_wal_lsn(db)
            got = conn.wait_confirmed(target, timeout=20)
            assert got > last
            last = got
            # ... and from another database
            for _ in range(20):
                other.execute("INSERT INTO elsewhere (pad) SELECT repeat('y', 200) "
                              "FROM generate_series(1, 20)")
            target = current_wal_lsn(db)
            got = conn.wait_confirmed(target, timeout=20)
            assert got > last
            last = got
        # the WAL the slot holds back (restart_lsn) moves too, once a checkpoint logs the
        # running transactions
        deadline = time.monotonic() + 30
        while slot_info(db, conn.slot)["restart_lsn"] <= start["restart_lsn"]:
            assert time.monotonic() < deadline, "restart_lsn did not advance"
            db.execute("CHECKPOINT")
            db.execute("INSERT INTO noisy (pad) VALUES ('z')")
            conn.wait_confirmed(current_wal_lsn(db), timeout=20)
        # the quiet table's topic is made at start, ahead of need, and holds nothing
        assert conn.topic("quiet") in kafka.topics()
        assert kafka.consume(conn.topic("quiet"), isolation="read_uncommitted") == [], \
            "nothing to publish for the quiet table"
        assert conn.stop() == 0
    finally:
        other.drop()


def _rec(k, v, part=0, off=0, commit_lsn=100):
    from w2k import Record
    return Record("t", part, off, 0, 1, b"k", b"v", {"id": k},
                  {"after": {"id": k, "version": v}, "source": {"commit_lsn": commit_lsn}})


@pytest.mark.parametrize("versions,ok,dups", [
    ([0, 1, 2, 3], True, 0),
    ([0, 1, 2, 1, 2, 3], True, 2),      # a replay from an unconfirmed point
    ([0, 1, 3], False, 0),              # a gap: version 2 missing
    ([0, 2, 1, 3], False, 0),           # out of order
    ([0, 1, 2, 3, 3], True, 1),         # the last one re-sent
    ([0, 1, 2, 1, 3, 2], False, 0),     # a "replay" that skips
])
def test_check_versions_catches_gaps_reorders_and_resends(versions, ok, dups):
    """The history checker the delivery tests rely on can fail."""
    recs = [_rec(1, v, off=i) for i, v in enumerate(versions)]
    if ok:
        assert len(check_versions(recs, {1: 3}, dup_ok=lambda r: True)) == dups
        if dups:
            with pytest.raises(AssertionError):
                check_versions(recs, {1: 3})  # re-sends not allowed by default
            with pytest.raises(AssertionError, match="already confirmed"):
                check_versions(recs, {1: 3}, dup_ok=lambda r: False)
    else:
        with pytest.raises(AssertionError):
            check_versions(recs, {1: 3}, dup_ok=lambda r: True)


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_a_full_producer_queue_delays_and_loses_nothing(db, kafka, connectors, mode):
    """librdkafka's queue holds 20 messages here, far below delivery.max_in_flight: most
    changes meet a full queue (the producer refuses them at once), are kept by the stream
    and produced later, in order. Every version of every key arrives once, in commit
    order, and the slot is confirmed past the last commit."""
    conn = setup_kv(db, connectors, settings={
        "kafka": {"topic": {"partitions": 3},
                  "properties": ["queue.buffering.max.messages=20", "linger.ms=20"]},
        "delivery": {"exactly_once": mode == "exactly_once"}})
    last = None
    for i in range(40):  # 40 transactions of 50 updates: 2,000 changes, 250 per key
        last = bump(db, [1 + (i * 50 + j) % KEYS for j in range(50)])
    conn.wait_confirmed(last.lsn_after_commit, timeout=120)
    conn.check_alive()
    recs = read_kv(kafka, conn, n=KEYS + 2000)
    final = final_versions(db)
    assert sum(final.values()) == 2000
    assert check_versions(recs, final) == []
