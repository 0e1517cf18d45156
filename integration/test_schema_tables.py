"""Tables renamed, dropped or created while streaming.

- A renamed table keeps streaming; its rows go to the topic of its new name (the rename
  event names both), while a writer keeps changing another table of the stream without a
  gap. With the DDL trigger the rename is announced by the statement itself; without it,
  with the table's next row (pgoutput's Relation message carries the new name). It also
  keeps streaming after a restart (its config entry still names the old name).
- A dropped table's end is announced (DDL trigger), the other tables go on, and a restart
  after the drop works (the missing table is skipped with a warning). Without the trigger
  the drop is not announced (pgoutput says nothing about it), and the rest holds.
- A table created while running that matches the stream's pattern joins without a
  restart: its rows written right after CREATE (before it joined: read by the re-read)
  and after it all arrive, none missing, none older after newer.
"""

from __future__ import annotations

import re

import pytest

from w2k import Decoder, Writer, check_versions, connectors, consume, run_txn  # noqa: F401
from w2k_schema import (MixedWriter, check_contiguous, check_event_source, columns, ddl_install,
                        events_of, fold, table_oid)


def start(wal2kafka_bin, connectors, tables, trigger: bool, **kw):
    conn = connectors(tables, **kw)
    if trigger:
        ddl_install(wal2kafka_bin, conn)
    conn.start().wait_streaming()
    return conn


def steady_writer(db, conn, keys=6):
    """Rows 1..keys of table a at version 0, streamed, then a Writer bumping them."""
    db.execute(f"INSERT INTO a SELECT i, 0 FROM generate_series(1, {keys}) i")
    conn.wait_caught_up()
    w = Writer(db, "a", list(range(1, keys + 1)), max_rows=2).start()
    w.wait_committed(20)
    return w


@pytest.mark.parametrize("trigger", [False, True], ids=["no_trigger", "trigger"])
def test_renamed_table_keeps_streaming(db, kafka, connectors, wal2kafka_bin, trigger):
    db.execute("CREATE TABLE a (id int PRIMARY KEY, version int NOT NULL)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, v text)")
    oid = table_oid(db, "b")
    conn = start(wal2kafka_bin, connectors, ["public.a", "public.b"], trigger,
                 stream_settings={"snapshot": "never"})
    w = steady_writer(db, conn)
    run_txn(db, "INSERT INTO b VALUES (1, 'one'), (2, 'two')")
    t_rename = run_txn(db, "ALTER TABLE b RENAME TO b2")
    t_rows = run_txn(db, "INSERT INTO b2 VALUES (3, 'three')", "UPDATE b2 SET v = 'uno' WHERE id = 1")
    run_txn(db, "DELETE FROM b2 WHERE id = 2")
    start_count = w.committed
    w.wait_committed(start_count + 20)  # a keeps changing after the rename
    w.stop()
    conn.wait_caught_up()

    dec = Decoder(kafka, conn.prefix)
    old = consume(kafka, dec, conn.topic("b"), until=2, to_end=True)
    assert [(r.op, r.value["after"]) for r in old] == [
        ("c", {"id": 1, "v": "one"}), ("c", {"id": 2, "v": "two"})], "before the rename: topic b"
    new = consume(kafka, dec, conn.topic("b2"), until=4, to_end=True)
    assert [(r.op, r.key["id"], r.value and r.value["after"]) for r in new] == [
        ("c", 3, {"id": 3, "v": "three"}), ("u", 1, {"id": 1, "v": "uno"}), ("d", 2, None),
        (None, 2, None)], "after the rename: the topic of the new name"
    assert new[0].value["source"]["table"] == "b2"
    assert fold(old + new) == {i: {"id": i, "v": v} for i, v in db.execute("SELECT id, v FROM b2")}

    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    assert [(e.value["type"], e.value["table"]) for e in events] == [("rename", "b2")], \
        [(e.value["type"], e.value["table"], e.value["ddl"]) for e in events]
    ev = events[0]
    assert ev.key == {"schema": "public", "table": "b2"}
    assert (ev.value["old_schema"], ev.value["old_table"]) == ("public", "b")
    assert ev.value["relid"] == oid
    assert columns(ev.value["old_columns"]) == columns(ev.value["new_columns"]) == [
        ("id", "integer"), ("v", "text")]
    if trigger:
        assert ev.value["ddl"] == "ALTER TABLE b RENAME TO b2"
        check_event_source(ev, db, conn.prefix, "b2", txn=t_rename)
    else:
        assert ev.value["ddl"] is None
        check_event_source(ev, db, conn.prefix, "b2", row=new[0])
        assert new[0].value["source"]["txId"] == t_rows.xid
    # the other table streamed on: every version, in order, nothing twice
    check_versions(consume(kafka, dec, conn.topic("a"), to_end=True),
                   dict(db.execute("SELECT id, version FROM a")))
    assert conn.stop() == 0


@pytest.mark.parametrize("b_ops", [None, ["insert"]],
                         ids=["same_publication", "publication_of_its_operations"])
def test_renamed_table_keeps_streaming_after_restart(db, kafka, connectors, b_ops):
    """A table renamed while streaming (its config entry names the old name) still
    streams after wal2kafka restarts: a rename is not a drop. With other operations than
    the stream's first table (pushdown), the table is in a publication of its own
    (<publication>_insert), whose comment notes its OID: it is followed there too."""
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY)")
    b = {"name": "public.b", "operations": b_ops} if b_ops else "public.b"
    conn = connectors(["public.a", b], stream_settings={"snapshot": "never",
                                                         "filters": "pushdown"})
    conn_pub = conn.publication
    pub = f"{conn_pub}_insert" if b_ops else conn_pub
    conn.start().wait_streaming()
    db.execute("ALTER TABLE b RENAME TO b2")
    db.execute("INSERT INTO b2 VALUES (1)")
    conn.wait_caught_up()
    assert conn.stop() == 0
    conn.start().wait_streaming()
    db.execute("INSERT INTO b2 VALUES (2)")
    db.execute("INSERT INTO a VALUES (1)")
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)
    assert [r.key["id"] for r in consume(kafka, dec, conn.topic("a"), until=1, to_end=True)] == [1]
    # exactly these two: the restart neither lost the table nor took it for a new one
    # (a re-read would add an "r" of row 1)
    assert [(r.value["op"], r.value["after"])
            for r in consume(kafka, dec, conn.topic("b2"), to_end=True)] == [
        ("c", {"id": 1}), ("c", {"id": 2})], (
        "the row written into the renamed table after the restart is missing or doubled; "
        "publication tables: " + str(db.execute("SELECT pubname, tablename FROM "
                                                "pg_publication_tables WHERE pubname LIKE %s",
                                                (conn_pub + "%",))))
    assert db.scalar("SELECT string_agg(pubname, ',') FROM pg_publication_tables WHERE "
                     "tablename = 'b2'") == pub
    assert conn.stop() == 0


@pytest.mark.parametrize("trigger", [False, True], ids=["no_trigger", "trigger"])
def test_dropped_table_and_restart(db, kafka, connectors, wal2kafka_bin, trigger):
    db.execute("CREATE TABLE a (id int PRIMARY KEY, version int NOT NULL)")
    db.execute("CREATE TABLE c (id int PRIMARY KEY, v text)")
    oid = table_oid(db, "c")
    conn = start(wal2kafka_bin, connectors, ["public.a", "public.c"], trigger,
                 stream_settings={"snapshot": "never"})
    w = steady_writer(db, conn)
    db.execute("INSERT INTO c VALUES (1, 'x')")
    t_drop = run_txn(db, "DROP TABLE c")
    n = w.committed
    w.wait_committed(n + 20)
    conn.wait_caught_up()
    assert conn.stop() == 0, "a stop after the drop is clean"
    confirmed = conn.confirmed_lsn()
    # the restart: the configured table that no longer exists is skipped with a warning
    conn.start().wait_streaming()
    w.wait_committed(w.committed + 20)
    w.stop()
    conn.wait_caught_up()
    log = conn.log(current=True)
    assert re.search(r"level=warn msg=\"[^\"]*:\d+: table public\.c of stream \S+ no longer "
                     r"exists \(dropped\?\); streaming the other tables", log), log
    assert "level=error" not in conn.log()

    dec = Decoder(kafka, conn.prefix)
    assert [r.value["after"] for r in consume(kafka, dec, conn.topic("c"), until=1, to_end=True)] \
        == [{"id": 1, "v": "x"}]
    # a streamed on through the drop and across the restart: every version, in order;
    # again only what the stop left unconfirmed (a transaction the SIGTERM cut in two)
    check_versions(consume(kafka, dec, conn.topic("a"), to_end=True),
                   dict(db.execute("SELECT id, version FROM a")),
                   dup_ok=lambda r: r.value["source"]["commit_lsn"] >= confirmed)
    events = events_of(consume(kafka, dec, conn.changes_topic, to_end=True), "c")
    if not trigger:
        assert events == [], "without the DDL trigger pgoutput says nothing about a drop"
        return
    assert [e.value["type"] for e in events] == ["drop"]
    ev = events[0]
    assert ev.key == {"schema": "public", "table": "c"}
    assert ev.value["relid"] == oid
    assert ev.value["ddl"] == "DROP TABLE c"
    assert columns(ev.value["old_columns"]) == [("id", "integer"), ("v", "text")]
    assert ev.value["new_columns"] is None
    check_event_source(ev, db, conn.prefix, "c", txn=t_drop)
    assert conn.stop() == 0


def test_new_table_joins_without_restart(db, kafka, connectors):
    """CREATE TABLE matching public.* while running; a writer inserts and updates its rows
    from right after the CREATE until well after the table joined."""
    db.execute("CREATE TABLE a (id int PRIMARY KEY, version int NOT NULL)")
    conn = connectors(["public.*"])
    conn.start().wait_streaming()
    db.execute("CREATE TABLE n (id int PRIMARY KEY, version int NOT NULL)")
    db.execute("INSERT INTO n VALUES (1, 0)")
    w = MixedWriter(db, "n", [1], max_rows=3, insert_ratio=0.5).start()
    try:
        # pattern tables are looked for every 10 s
        conn.wait_log(r"new table public\.n joins the stream", timeout=40)
        joined_at = len(w.txns)
        conn.wait_log(r"re-snapshot of a table done: \d+ row", timeout=60)
        w.wait_txns(len(w.txns) + 100)
    finally:
        w.stop()
    conn.wait_caught_up()
    assert joined_at >= 20, "rows were written before the table joined"
    dec = Decoder(kafka, conn.prefix)
    recs = consume(kafka, dec, conn.topic("n"), to_end=True)
    final = dict(db.execute("SELECT id, version FROM n"))
    # per key: never older after newer, no change missing once the key is in the topic,
    # and the last record is the table's row
    check_contiguous(recs, final)
    reads = [r for r in recs if r.op == "r"]
    assert reads, "rows written before the join arrive by the re-read"
    assert all(r.value["source"]["snapshot"] for r in reads)
    assert any(r.op in ("c", "u") for r in recs), "changes after the join are streamed"
    assert fold(recs, "id") == {k: {"id": k, "version": v} for k, v in final.items()}
    m = re.search(r"re-snapshot of a table done: (\d+) row", conn.log())
    assert int(m.group(1)) == len(reads)
    # the new table is in the publication now
    assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                     "tablename = 'n'", (conn.publication,)) == 1
    assert conn.stop() == 0
