"""Re-snapshot on demand while streaming (`wal2kafka snapshot --table T`, DBLog watermarks):
no older version of a row ever lands after a newer one for the same key.

The table has 20,000 rows (20 chunks of 1000). During the re-read two writers commit
version = version + 1 transactions: one hammering a few hot keys spread over the
chunks, one hitting random keys all over the table. And one transaction is placed inside
the first chunk's window on purpose: it holds an ACCESS EXCLUSIVE lock on the table when
the re-snapshot is requested, so the chunk's SELECT (issued after the low watermark)
waits for it; it updates keys 101..300 of that chunk and commits, so those changes lie
between the chunk's low and high watermarks. Those keys must be dropped from the chunk
(the stream carries a newer value): deterministically fewer 'r' events than rows.

A consumer folding the topic (per key, in order) must then never see a version go
backwards, never miss one, and end with the table's rows.

PostgreSQL streams a committed transaction a moment before other sessions see it: a change
streamed before a chunk's low watermark may still be invisible to the chunk's SELECT.
The writers above hit that window only by chance; the last test holds a COMMIT in it
(w2k_schema.held_commits) to check the chunk's older row is not emitted after the change.
"""

from __future__ import annotations

import re

from w2k import Decoder, Writer, connectors, consume  # noqa: F401
from w2k_schema import (HeldCommit, check_contiguous, database_local_commits, fold, held_commits,
                        request_snapshot, wait_until)

ROWS = 20000
HOT = [1, 2, 500, 1500, 4321, 7777, 12000, 19999]
LOCKED = range(101, 301)


def chunk_select_waiting(db) -> bool:
    """The re-snapshot's chunk SELECT is waiting for a lock."""
    return bool(db.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
        "wait_event_type = 'Lock' AND query LIKE 'SELECT %%FROM ONLY \"public\".\"t\"%%LIMIT 1000'"))


def test_resnapshot_under_concurrent_updates(db, kafka, connectors, wal2kafka_bin):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, version int NOT NULL, pad text)")
    db.execute(f"INSERT INTO t SELECT i, 0, md5(i::text) FROM generate_series(1, {ROWS}) i")
    conn = connectors(["public.t"])
    conn.start().wait_streaming(timeout=120)
    dec = Decoder(kafka, conn.prefix)
    hot = Writer(db, "t", HOT, max_rows=2, seed=11).start()
    spread = Writer(db, "t", list(range(1, ROWS + 1)), max_rows=20, seed=12).start()
    try:
        hot.wait_committed(50)
        spread.wait_committed(50)
        with db.connect(autocommit=False) as locker:
            locker.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
            out = request_snapshot(wal2kafka_bin, conn, "public.t")
            assert out.startswith("requested a re-snapshot of public.t"), out
            wait_until(lambda: chunk_select_waiting(db), 60,
                       "the first chunk's SELECT waiting behind the lock", alive=conn.check_alive)
            locker.execute(f"UPDATE t SET version = version + 1 WHERE id BETWEEN {LOCKED.start} "
                           f"AND {LOCKED.stop - 1}")
            locker.commit()
        m = conn.wait_log(r"re-snapshot of a table done: (\d+) row", timeout=120)
        hot.wait_committed(hot.committed + 50)
        spread.wait_committed(spread.committed + 50)
    finally:
        hot.stop()
        spread.stop()
    conn.wait_caught_up(timeout=60)
    reread = int(m.group(1))
    log = conn.log()
    assert f"stream {conn.stream}: table public.t queued to be re-read while streaming" in log
    assert f"stream {conn.stream}: re-reading public.t while streaming" in log

    recs = consume(kafka, dec, conn.topic("t"), to_end=True, timeout=120)
    initial = recs[:ROWS]
    assert [r.op for r in initial] == ["r"] * ROWS, "the initial snapshot first"
    later = recs[ROWS:]
    reads = [i for i, r in enumerate(later) if r.op == "r"]
    assert len(reads) == reread, "every row the log counts is an 'r' event in the topic"
    assert all(later[i].value["source"]["snapshot"] for i in reads)
    reread_keys = [later[i].key["id"] for i in reads]
    assert len(set(reread_keys)) == len(reread_keys), "each key read at most once"
    assert reread_keys == sorted(reread_keys), "read in key order, chunk by chunk"
    # rows changed inside their chunk's window were left to the stream
    assert not set(LOCKED) & set(reread_keys), \
        "keys updated between the first chunk's watermarks were dropped from it"
    assert reread <= ROWS - len(LOCKED)
    # streaming went on during the re-read: changes between its first and last read
    assert any(r.op == "u" for r in later[reads[0]:reads[-1]])

    # no stale overwrite: per key, versions never go backwards, none is missing, the last
    # is the table's
    final = dict(db.execute("SELECT id, version FROM t"))
    seen = check_contiguous(recs, final)
    assert fold(recs, "id") == {i: {"id": i, "version": v, "pad": p}
                                for i, v, p in db.execute("SELECT id, version, pad FROM t")}
    assert all(seen[k][-1] >= 5 for k in HOT), "the hot keys really were hot"
    print(f"re-snapshot: {reread} of {ROWS} rows re-read, {ROWS - reread} left to the stream; "
          f"{len(later) - reread} changes streamed meanwhile")
    assert conn.stop() == 0


def test_resnapshot_of_unknown_table_is_refused_in_the_log(db, kafka, connectors, wal2kafka_bin):
    """A re-snapshot requested for a stream by name, of a table it does not stream: a
    warning, and streaming goes on."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("CREATE TABLE other (id int PRIMARY KEY)")
    conn = connectors(["public.t"], stream_settings={"snapshot": "never"})
    conn.start().wait_streaming()
    from w2k import run_cli
    r = run_cli(wal2kafka_bin, "snapshot", "--config", conn.config_path, "--table", "public.other",
                "--stream", conn.stream, env=db.env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"requested a re-snapshot of public.other for stream {conn.stream}; "
                                "the running wal2kafka takes it from the WAL")
    conn.wait_log(rf"stream {conn.stream}: a re-snapshot of public\.other was requested, but it "
                  r"is not one of the stream's tables")
    db.execute("INSERT INTO t VALUES (1)")
    conn.wait_caught_up()
    assert [r.op for r in consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t"), until=1,
                                  to_end=True)] == ["c"]
    bad = run_cli(wal2kafka_bin, "snapshot", "--config", conn.config_path, "--table", "nodot",
                  env=db.env())
    assert bad.returncode == 2 and "--table nodot is not of the form schema.table" in bad.stderr
    assert re.search(r"topic .*\.public\.other", conn.log()) is None
    assert conn.stop() == 0


def test_resnapshot_chunk_never_older_than_a_streamed_change(pg, db, kafka, connectors,
                                                               wal2kafka_bin):
    """PostgreSQL writes a transaction's commit record (which the slot then decodes and
    streams) a moment before the transaction becomes visible to other sessions. A change
    streamed before a chunk's low watermark, but not yet visible to the chunk's SELECT,
    must not be followed by the chunk's older row. Deterministic: the update's COMMIT is
    held in that window (held_commits) while the re-snapshot is requested.

    A wal2kafka that waits until such transactions are visible before it selects a chunk
    cannot finish the chunk while the commit is held: the test gives it 5 s to show the
    chunk's row of the key, then releases the commit."""
    database_local_commits(db)
    db.execute("CREATE TABLE t (id int PRIMARY KEY, version int NOT NULL)")
    db.execute("INSERT INTO t SELECT i, 0 FROM generate_series(1, 1500) i")
    conn = connectors(["public.t"], stream_settings={"snapshot": "never"})
    conn.start().wait_streaming()
    dec = Decoder(kafka, conn.prefix)
    with dec.reader(conn.topic("t")) as rd:
        with held_commits(pg):
            held = HeldCommit(db, "UPDATE t SET version = 1 WHERE id = 5").start()
            try:
                recs = rd.read(until=1, timeout=30)
                assert (recs[0].op, recs[0].value["after"]) == ("u", {"id": 5, "version": 1}), \
                    "the held transaction is streamed (decoded) before it is visible"
                assert db.scalar("SELECT version FROM t WHERE id = 5") == 0, "and not visible"
                request_snapshot(wal2kafka_bin, conn, "public.t")
                try:
                    rd.read(until=lambda rs: any(r.op == "r" and r.key["id"] == 5 for r in rs),
                            timeout=5)
                except TimeoutError:
                    pass  # waiting for the held transaction: release it
            finally:
                held.release()
        assert db.scalar("SELECT version FROM t WHERE id = 5") == 1
    conn.wait_log(r"re-snapshot of a table done", timeout=60)
    conn.wait_caught_up()
    # read afresh: rd has seen the end of the partition already (while the chunk waited),
    # and a TopicReader stops at the end it has seen
    recs = consume(kafka, dec, conn.topic("t"), to_end=True)
    key5 = [(r.op, r.value["after"]["version"]) for r in recs if r.key["id"] == 5]
    assert key5 in ([("u", 1)], [("u", 1), ("r", 1)]), \
        f"key 5 in the topic: {key5} (the chunk's older row after the streamed update)"
    check_contiguous(recs, dict(db.execute("SELECT id, version FROM t")))
    assert conn.stop() == 0
