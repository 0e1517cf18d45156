"""The initial snapshot: every existing row as an 'r' event, read inside the snapshot the
slot exported, then streaming from the slot's consistent point.

- The seam, under concurrent writes (a writer updating and inserting during the slot's
  creation and the whole snapshot): per key the topic holds the snapshot's version and
  then exactly the next versions up to the table's, nothing twice, nothing missing;
  every writer transaction that committed after the consistent point is a stream event,
  none that committed before it is.
- snapshot = "never" and "initial_only".
- A snapshot killed (SIGKILL) in the middle of a big table is taken again, from the
  start, on the next run, and the log says so; while not on a terminal, progress lines
  go to the log.
- Every new snapshot onto a topic that already holds keys ends with the topic holding
  the table: a retaken snapshot; on_slot_lost = "recreate" after the slot was dropped,
  invalidated, or the server replaced (another system identifier); initial_only run
  again. Keys whose rows were deleted where no slot saw it get a tombstone, counted in
  the log; keys already deleted in the topic get none.
- On a terminal, a progress bar.

A snapshot is slowed where the test needs it to last: kafka.properties linger.ms=50 and
delivery.max_in_flight=200 make wal2kafka read 100 rows, then wait for their
acknowledgement, which takes at least the 50 ms linger: at most 2000 rows/s on any
machine.
"""

from __future__ import annotations

import datetime as dt
import re
import signal

from w2k import (Connector, Decoder, by_partition_order, connectors, consume, end_offsets,  # noqa: F401
                 parse_lsn, slot_info, us)
from w2k_faults import ScratchPostgres
from w2k_schema import (MixedWriter, check_contiguous, consistent_point, fold, run_on_pty,
                        wait_until)

SLOW = {"kafka": {"properties": ["linger.ms=50"]}, "delivery": {"max_in_flight": 200}}


def log_time_us(log: str, pattern: str) -> int:
    """The timestamp (µs since 1970) of the first log line matching pattern."""
    for line in log.splitlines():
        if re.search(pattern, line):
            m = re.match(r"ts=(\S+)Z ", line)
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(
                tzinfo=dt.timezone.utc)
            return us(t)
    raise AssertionError(f"/{pattern}/ not in the log")


def test_seam_no_gap_no_duplicate_under_concurrent_writes(db, kafka, connectors):
    n = 5000
    db.execute("CREATE TABLE t (id int PRIMARY KEY, version int NOT NULL)")
    db.execute(f"INSERT INTO t SELECT i, 0 FROM generate_series(1, {n}) i")
    conn = connectors(["public.t"], settings=SLOW)
    w = MixedWriter(db, "t", list(range(1, n + 1)), max_rows=3, insert_ratio=0.3).start()
    try:
        w.wait_txns(30)
        conn.start().wait_streaming(timeout=180)
        w.wait_txns(len(w.txns) + 100)
    finally:
        w.stop()
    conn.wait_caught_up()

    cp = consistent_point(conn)
    log = conn.log()
    m = re.search(rf"streaming from slot {conn.slot} at (\S+) ", log)
    assert parse_lsn(m.group(1)) == cp, "streaming starts at the consistent point"
    snap_done_us = log_time_us(log, r"snapshot of public\.t done: ")

    dec = Decoder(kafka, conn.prefix)
    recs = consume(kafka, dec, conn.topic("t"), to_end=True, timeout=120)
    reads = [r for r in recs if r.op == "r"]
    stream = [r for r in recs if r.op != "r"]
    assert recs[:len(reads)] == reads, "every snapshot row before the first change"
    for r in reads:
        s = r.value["source"]
        assert (s["snapshot"], s["lsn"], s["txId"], s["commit_lsn"]) == (True, cp, None, None)
    assert len({r.key["id"] for r in reads}) == len(reads), "each row read once"
    assert len(reads) >= n
    for r in stream:
        s = r.value["source"]
        assert s["snapshot"] is False
        assert s["commit_lsn"] >= cp, f"a change committed before the consistent point: {s}"

    # per key: the snapshot's version, then every next version once, ending at the table's
    final = dict(db.execute("SELECT id, version FROM t"))
    check_contiguous(recs, final, allow_repeat=lambda r: False)
    assert fold(recs, "id") == {k: {"id": k, "version": v} for k, v in final.items()}

    # every writer transaction after the consistent point is in the stream, none before
    streamed = {r.value["source"]["txId"] for r in stream}
    after = [t for t in w.txns if t.lsn_before_commit >= cp]
    before = [t for t in w.txns if t.lsn_after_commit <= cp]
    missing = [t.xid for t in after if t.xid not in streamed]
    doubled = [t.xid for t in before if t.xid in streamed]
    assert not missing, f"{len(missing)} transactions after the consistent point missing: {missing[:10]}"
    assert not doubled, f"{len(doubled)} transactions before the consistent point streamed: {doubled[:10]}"
    assert streamed <= {t.xid for t in w.txns}
    # the writer really straddled the seam: before the slot, and during the snapshot
    during = [t for t in after if t.t_after_commit < snap_done_us]
    assert len(before) >= 30 and len(during) >= 5, (len(before), len(during), len(after))


def test_snapshot_never(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t VALUES (1, 'old'), (2, 'old')")
    conn = connectors(["public.t"], stream_settings={"snapshot": "never"})
    conn.start().wait_streaming()
    db.execute("INSERT INTO t VALUES (3, 'new')")
    db.execute("UPDATE t SET v = 'changed' WHERE id = 1")
    conn.wait_caught_up()
    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t"), until=2, to_end=True)
    assert [(r.op, r.value["after"]) for r in recs] == [
        ("c", {"id": 3, "v": "new"}), ("u", {"id": 1, "v": "changed"})], "changes only, no rows read"
    log = conn.log()
    assert re.search(rf"created replication slot {conn.slot} at \S+ for stream {conn.stream}\"", log)
    assert "snapshot of" not in log and "taking the initial snapshot" not in log
    assert conn.stop() == 0


def test_snapshot_initial_only(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 2500) i")
    conn = connectors(["public.t"], stream_settings={"snapshot": "initial_only"})
    conn.start()
    assert conn.wait_exit(120) == 0, "initial_only: reads the rows, then stops by itself"
    assert "snapshot done and acknowledged (snapshot = initial_only: not streaming)" in conn.log()
    db.execute("INSERT INTO t VALUES (9999, 'after')")
    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t"), to_end=True)
    assert [r.op for r in recs] == ["r"] * 2500
    assert {r.key["id"]: r.value["after"] for r in recs} == {
        i: {"id": i, "v": f"v{i}"} for i in range(1, 2501)}
    assert all(r.value["source"]["snapshot"] for r in recs)
    # no slot is left behind: nothing holds WAL for a stream that does not stream
    assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE database = %s",
                     (db.name,)) == 0


PROGRESS = (r"level=info msg=\"snapshot of public\.big: (\d+) of ~(\d+) rows \((\d+)%\), "
            r"(\d+) rows/s, about (\d+) s left\"")


def test_interrupted_snapshot_is_taken_again(db, kafka, connectors):
    """SIGKILL in the middle of a big table's snapshot (after its first progress line);
    rows change while wal2kafka is down; the next run drops the slot, says so, and takes
    the whole snapshot again; then, before streaming, a tombstone for each key the killed
    run had written whose row is gone (no 'd' event: the delete itself happened before the
    new slot's consistent point, so no change of it is in the WAL the slot reads)."""
    n = 60000
    db.execute("CREATE TABLE big (id int PRIMARY KEY, version int NOT NULL, pad text)")
    db.execute(f"INSERT INTO big SELECT i, 0, md5(i::text) FROM generate_series(1, {n}) i")
    db.execute("ANALYZE big")
    conn = connectors(["public.big"], settings=SLOW)
    conn.start()
    # not on a terminal: periodic progress lines in the log (every 10 s)
    m = conn.wait_log(PROGRESS, timeout=120)
    done, estimate, pct, rate = (int(m.group(i)) for i in range(1, 5))
    assert 0 < done < n and estimate == n and pct == done * 100 // n and rate > 0
    assert re.search(r"snapshot of public\.big: starting \(about 60000 rows\)", conn.log())
    assert slot_info(db, conn.slot) is not None
    conn.kill()
    first = conn.log()
    assert "snapshot of public.big done" not in first, "killed in the middle"
    written = len(consume(kafka, None, conn.topic("big"), to_end=True))
    assert 0 < written < n, written

    first_keys = {r.key["id"] for r in consume(kafka, Decoder(kafka, conn.prefix),
                                               conn.topic("big"), to_end=True)}
    assert set(range(1, 11)) <= first_keys, "the killed run had read rows 1..10"

    # while wal2kafka is down: updates, deletes of rows the killed run had read (1..10)
    # and of rows it had not (> 59990), an insert
    db.execute("UPDATE big SET version = version + 1 WHERE id % 1000 = 0")
    db.execute("DELETE FROM big WHERE id <= 10 OR id > 59990")
    db.execute("INSERT INTO big VALUES (70000, 0, 'new')")
    at_restart = {i: (v, p) for i, v, p in db.execute("SELECT id, version, pad FROM big")}

    conn.config = {**conn.config, "kafka": {**conn.config["kafka"], "properties": []},
                   "delivery": {**conn.config["delivery"], "max_in_flight": 100000}}
    conn.write_config()
    conn.start().wait_streaming(timeout=180)
    log = conn.log(current=True)
    assert (f"stream {conn.stream}: the initial snapshot was interrupted before it finished; "
            f"dropping slot {conn.slot} and taking the snapshot again from the start") in log
    assert re.search(rf"created replication slot {conn.slot} at \S+ for stream {conn.stream}; "
                     r"taking the initial snapshot", log)
    assert f"snapshot of public.big done: {len(at_restart)} rows" in log
    gone = sorted(first_keys - set(at_restart))
    assert set(range(1, 11)) <= set(gone)
    assert (f"stream {conn.stream}: {len(gone)} key(s) of public.big in topic "
            f"{conn.topic('big')} from before this snapshot are no longer in the table: "
            f"tombstones for them") in log
    db.execute("UPDATE big SET version = version + 1 WHERE id IN (11, 12, 13)")
    conn.wait_caught_up()

    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("big"), to_end=True, timeout=120)
    second = recs[written:]
    reads = second[:len(at_restart)]
    assert [r.op for r in reads] == ["r"] * len(at_restart)
    assert {r.key["id"]: (r.value["after"]["version"], r.value["after"]["pad"]) for r in reads} \
        == at_restart, "the second run read every row once, as it was at the restart"
    tombstones = second[len(at_restart):len(at_restart) + len(gone)]
    assert all(r.is_tombstone for r in tombstones) and \
        sorted(r.key["id"] for r in tombstones) == gone, \
        "after the rows, one tombstone per key the killed run wrote that is gone"
    assert [(r.op, r.key["id"]) for r in second[len(at_restart) + len(gone):]] == \
        [("u", 11), ("u", 12), ("u", 13)]
    assert conn.stop() == 0
    # The topic's state: keys deleted while wal2kafka was down must not stay alive
    # because the killed run had read them (a consumer folding the topic, or compaction,
    # would keep them for good).
    table = {i: (v, p) for i, v, p in db.execute("SELECT id, version, pad FROM big")}
    state = {k: (v["version"], v["pad"]) for k, v in fold(recs, "id").items()}
    extra = sorted(set(state) - set(table))
    assert not extra, (f"{len(extra)} rows deleted while wal2kafka was down are still alive in "
                       f"the topic (read by the interrupted snapshot, no delete/tombstone): "
                       f"{extra}")
    assert state == table


def table_rows(db, table: str = "t") -> dict:
    """SELECT * of a table (id int, v text) as the topic's `after` values, by id."""
    return {i: {"id": i, "v": v} for i, v in db.execute(f"SELECT id, v FROM {table}")}


def live_keys(kafka, conn, table: str = "t") -> set:
    """The keys alive in a table's topic: folded per key, tombstones remove."""
    return set(fold(consume(kafka, Decoder(kafka, conn.prefix), conn.topic(table),
                            to_end=True), "id"))


def gone_line(conn, n: int, table: str = "t") -> str:
    return (f"stream {conn.stream}: {n} key(s) of public.{table} in topic {conn.topic(table)} "
            f"from before this snapshot are no longer in the table: tombstones for them")


def check_new_snapshot(kafka, conn, ends: dict, table: dict, gone: set, then: list) -> list:
    """What the run after `ends` (the topic's end offsets before it) wrote: per partition,
    one 'r' event per row of `table` (the rows as the new snapshot read them), then one
    tombstone per key of `gone` (no 'd' event: no change of those deletes is in the new
    slot's WAL), then the stream's changes `then` ([(op, id)], per partition in order).
    Returns every record of the topic."""
    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t"), to_end=True, timeout=120)
    new = [r for r in recs if r.offset >= ends.get(r.partition, 0)]
    reads = [r for r in new if r.op == "r"]
    assert len(reads) == len(table) and {r.key["id"]: r.value["after"] for r in reads} == table, \
        "the new snapshot read every row once"
    assert sorted((r.op, r.key["id"]) for r in new if r.op not in ("r", None)) == sorted(then)
    tombs = []
    for part in by_partition_order(new).values():
        first_change = next((i for i, r in enumerate(part) if r.op not in ("r", None)), len(part))
        kinds = ["r" if r.op == "r" else "t" for r in part[:first_change]]
        assert kinds == sorted(kinds, key="rt".index), \
            f"per partition: rows, then tombstones, then changes: {kinds}"
        tombs += [r for r in part[:first_change] if r.is_tombstone]
    assert sorted(r.key["id"] for r in tombs) == sorted(gone), \
        "one tombstone for each key alive in the topic whose row is gone, and no other"
    return recs


def test_recreated_slot_removes_rows_deleted_meanwhile(db, kafka, connectors):
    """The slot is dropped while wal2kafka is stopped, and rows are deleted, updated and
    inserted meanwhile (no slot records it). With on_slot_lost = "recreate" the next run
    says so, makes a new slot and a new snapshot, and tombstones the keys alive in the
    topic whose rows are gone (not the keys deleted while streaming: their tombstones are
    there), before streaming: the topic, folded per key, equals SELECT * of the table."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 300) i")
    conn = connectors(["public.t"], settings={"kafka": {"topic": {"partitions": 3}}},
                      stream_settings={"on_slot_lost": "recreate"})
    conn.start().wait_streaming()
    # a history in the topic: deletes (each with its tombstone), an insert, updates
    db.execute("DELETE FROM t WHERE id <= 5")
    db.execute("INSERT INTO t VALUES (400, 'streamed')")
    db.execute("UPDATE t SET v = 'streamed' WHERE id BETWEEN 6 AND 8")
    conn.wait_caught_up()
    assert conn.stop() == 0
    db.execute("SELECT pg_drop_replication_slot(%s)", (conn.slot,))
    alive = live_keys(kafka, conn)
    assert alive == set(table_rows(db))

    db.execute("DELETE FROM t WHERE id BETWEEN 10 AND 29 OR id IN (150, 400)")
    db.execute("UPDATE t SET v = 'unstreamed' WHERE id BETWEEN 30 AND 32")
    db.execute("INSERT INTO t VALUES (2, 'back again'), (500, 'new')")
    table = table_rows(db)
    gone = alive - set(table)
    assert gone == set(range(10, 30)) | {150, 400}
    ends = end_offsets(kafka, conn.topic("t"))

    conn.start().wait_streaming(120)
    log = conn.log(current=True)
    assert re.search(rf'stream {conn.stream}: replication slot \\"{conn.slot}\\" is gone \(dropped, '
                     r"or lost in a failover\); changes made since the last confirmed position "
                     r"may be missing: creating a new slot and taking a new snapshot "
                     r"\(on_slot_lost = recreate\)", log), log
    assert re.search(rf"created replication slot {conn.slot} at \S+ for stream {conn.stream}; "
                     r"taking the initial snapshot", log)
    assert gone_line(conn, len(gone)) in log
    db.execute("UPDATE t SET v = 'after' WHERE id = 33")
    conn.wait_caught_up()
    recs = check_new_snapshot(kafka, conn, ends, table, gone, [("u", 33)])
    assert fold(recs, "id") == table_rows(db), "the topic holds the table, nothing else"
    assert conn.stop() == 0


def test_invalidated_slot_recreated_removes_rows_deleted_meanwhile(wal2kafka_bin, kafka, tmp_path,
                                                                   topic_prefix):
    """max_slot_wal_keep_size = 32MB: rows deleted while wal2kafka is stopped, then WAL
    until the slot is invalidated. With on_slot_lost = "recreate": a new slot, a new
    snapshot, tombstones for the deleted rows' keys; the topic equals the table."""
    with ScratchPostgres(settings={"max_slot_wal_keep_size": "32MB",
                                   "wal_keep_size": "0"}) as spg:
        db = spg.create_database("inv")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 100) i")
        db.execute("CREATE TABLE filler (pad text)")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                         stream_settings={"on_slot_lost": "recreate"})
        try:
            conn.start().wait_streaming()
            db.execute("DELETE FROM t WHERE id = 1")
            conn.wait_caught_up()
            assert conn.stop() == 0
            alive = live_keys(kafka, conn)
            db.execute("DELETE FROM t WHERE id BETWEEN 50 AND 59")
            db.execute("INSERT INTO t VALUES (1, 'back again'), (200, 'new')")

            def lost():
                db.execute("INSERT INTO filler SELECT repeat(md5(i::text), 30) "
                           "FROM generate_series(1, 20000) i")
                db.execute("SELECT pg_switch_wal()")
                db.execute("CHECKPOINT")
                return db.scalar("SELECT wal_status FROM pg_replication_slots "
                                 "WHERE slot_name = %s", (conn.slot,)) == "lost"
            wait_until(lost, 300, f"slot {conn.slot} was not invalidated", interval=0)
            table = table_rows(db)
            gone = alive - set(table)
            assert gone == set(range(50, 60))
            ends = end_offsets(kafka, conn.topic("t"))

            conn.start().wait_streaming(120)
            log = conn.log(current=True)
            assert (f"stream {conn.stream}: slot {conn.slot} was invalidated; dropping it and "
                    f"starting over (on_slot_lost = recreate)") in log
            assert gone_line(conn, len(gone)) in log
            db.execute("DELETE FROM t WHERE id = 60")
            conn.wait_caught_up()
            recs = check_new_snapshot(kafka, conn, ends, table, gone, [("d", 60)])
            assert fold(recs, "id") == table_rows(db)
            assert conn.stop() == 0
        finally:
            conn.cleanup()


def test_other_server_recreated_removes_rows_it_does_not_have(wal2kafka_bin, kafka, tmp_path,
                                                              topic_prefix):
    """A failover to another cluster (another system identifier) that lacks rows the old
    one streamed: with on_slot_lost = "recreate", the new snapshot is followed by a
    tombstone for each of them; the topic equals the new server's table."""
    with ScratchPostgres() as old:
        port = old.port
        db = old.create_database("fo")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t SELECT i, 'old ' || i FROM generate_series(1, 50) i")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                         name="fo", stream_settings={"on_slot_lost": "recreate"})
        try:
            conn.start().wait_streaming()
            db.execute("DELETE FROM t WHERE id = 50")
            conn.wait_caught_up()
            assert conn.stop() == 0
        finally:
            conn.cleanup()
        old_id = old.scalar("SELECT system_identifier::text FROM pg_control_system()")
    alive = live_keys(kafka, conn)
    assert alive == set(range(1, 50))
    with ScratchPostgres(port=port) as new:
        new_id = new.scalar("SELECT system_identifier::text FROM pg_control_system()")
        assert new_id != old_id
        db = new.create_database("fo")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        # a slot of the stream's name from the new server's own past (a restored backup):
        # it says nothing of what the stream confirmed, so it is not streamed from
        db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (conn.slot,))
        # the new server missed the last rows the old one had (and has one of its own)
        db.execute("INSERT INTO t SELECT i, 'new ' || i FROM generate_series(1, 40) i")
        db.execute("INSERT INTO t VALUES (50, 'only on the new server')")
        table = table_rows(db)
        gone = alive - set(table)
        assert gone == set(range(41, 50))
        ends = end_offsets(kafka, conn.topic("t"))
        conn.db = db
        try:
            conn.start().wait_streaming(120)
            log = conn.log(current=True)
            assert (f"the server is not the one this stream streamed from (system identifier "
                    f"{new_id}, was {old_id})") in log
            assert "creating a new slot and taking a new snapshot (on_slot_lost = recreate)" in log
            assert f"stream {conn.stream}: dropping slot {conn.slot} of the other server's past" in log
            assert gone_line(conn, len(gone)) in log
            conn.wait_caught_up()
            recs = check_new_snapshot(kafka, conn, ends, table, gone, [])
            assert fold(recs, "id") == table
            assert conn.stop() == 0
        finally:
            conn.cleanup()


def test_initial_only_again_removes_rows_deleted_since(db, kafka, connectors):
    """snapshot = initial_only run twice: the second run tombstones the keys of rows
    deleted since the first, so the topic holds the table as the second run read it."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 500) i")
    conn = connectors(["public.t"], stream_settings={"snapshot": "initial_only"})
    conn.start()
    assert conn.wait_exit(120) == 0
    assert "no longer in the table" not in conn.log(), "nothing in the topic before the first run"
    db.execute("DELETE FROM t WHERE id % 7 = 0")
    db.execute("UPDATE t SET v = 'changed' WHERE id % 11 = 0")
    db.execute("INSERT INTO t VALUES (1000, 'new')")
    table = table_rows(db)
    gone = set(range(1, 501)) - set(table)
    ends = end_offsets(kafka, conn.topic("t"))
    conn.start()
    assert conn.wait_exit(120) == 0
    assert gone_line(conn, len(gone)) in conn.log(current=True)
    recs = check_new_snapshot(kafka, conn, ends, table, gone, [])
    assert fold(recs, "id") == table


def test_progress_bar_on_a_terminal(db, kafka, connectors):
    n = 6000
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute(f"INSERT INTO t SELECT i, md5(i::text) FROM generate_series(1, {n}) i")
    db.execute("ANALYZE t")
    conn = connectors(["public.t"], settings=SLOW)
    run = run_on_pty([str(conn.binary), "run", "--config", str(conn.config_path)], conn.env)

    def alive():
        if run.proc.poll() is not None:
            raise AssertionError(f"wal2kafka exited {run.proc.returncode}:\n{run.text()}")

    try:
        wait_until(lambda: "streaming from slot" in run.text(), 120,
                   "wal2kafka streaming (on a terminal)", alive=alive)
        out = run.text()
        bars = re.findall(r"\rsnapshot public\.t \[([#.]{20})\] +(\d+)%  (\d+)/~(\d+) rows  "
                          r"(\d+) rows/s  (\d+) s left   (\r?\n)?", out)
        assert bars, out
        final = bars[-1]
        assert final[0] == "#" * 20 and final[1] == "100" and final[2] == str(n) and final[6], \
            "the bar ends at 100% with a newline"
        partial = [b for b in bars if b[1] != "100"]
        assert partial, "the bar moves while the snapshot runs (redrawn in place with \\r)"
        for b in partial:
            pct = int(b[1])
            assert b[0] == "#" * (pct // 5) + "." * (20 - pct // 5)
            assert int(b[3]) == n and int(b[2]) < n and int(b[4]) > 0
        assert "snapshot of public.t done" not in out, "a bar on a terminal, not log lines"
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(60) == 0
    finally:
        run.close()
    recs = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t"), to_end=True)
    assert len(recs) == n and {r.op for r in recs} == {"r"}
