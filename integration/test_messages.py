"""Application messages (issue 13 point 4): `messages = { prefixes = [...]; topic = ... }`
forwards logical decoding messages (pg_logical_emit_message) whose prefix begins with one
of the prefixes to <prefix>.messages (or <prefix>.messages.<prefix> per prefix), Avro
wal2kafka.Message keyed by wal2kafka.MessageKey { prefix }.

What a consumer checks: a transactional message arrives only when its transaction
commits, with that transaction's txId, commit LSN and commit time (the same as the
changes of the transaction carry in source); a rolled-back one never; a
non-transactional one at once, even from a transaction that rolls back; the content
byte for byte; other prefixes and wal2kafka's own never; and a message counts for what
is confirmed to PostgreSQL only once acknowledged. Also the outbox recipe of
docs/outbox.md, both ways, and the refusal before PostgreSQL 14.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from servers import Postgres
from w2k import Connector, Decoder, consume, current_wal_lsn, final_error, run_txn
from w2k import connectors  # noqa: F401 (fixture)
from w2k_ecosystem import metrics_port, wait_metric

pytestmark = pytest.mark.integration

MSG = {"messages": {"prefixes": ["app."]}, "snapshot": "never"}


def messages_of(kafka, conn, until, topic=None):
    dec = Decoder(kafka, conn.prefix)
    return consume(kafka, dec, topic or f"{conn.prefix}.messages", until=until, timeout=60)


def test_transactional_and_not(db, kafka, connectors):
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, v text)")
    conn = connectors(["public.orders"], stream_settings=MSG)
    conn.start().wait_streaming()

    blob = bytes(range(256))
    t1 = run_txn(db, "INSERT INTO orders VALUES (1, 'a')",
                 ("SELECT pg_logical_emit_message(true, 'app.audit', %s::bytea)", (blob,)),
                 "SELECT pg_logical_emit_message(true, 'other.x', 'not mine')")
    # a rolled-back transaction: its transactional message never; its non-transactional
    # one at once (PostgreSQL sends it as it is written)
    c = db.connect(autocommit=False)
    c.execute("SELECT pg_logical_emit_message(true, 'app.audit', 'rolled back')")
    c.execute("SELECT pg_logical_emit_message(false, 'app.ping', 'sent anyway')")
    c.rollback()
    c.close()
    db.execute("SELECT pg_logical_emit_message(false, 'app.ping', 'plain')")
    t2 = run_txn(db, "SELECT pg_logical_emit_message(true, 'app.audit', 'last')")
    conn.wait_confirmed(t2.lsn_after_commit)

    messages_of(kafka, conn, until=4)
    recs = consume(kafka, Decoder(kafka, conn.prefix), f"{conn.prefix}.messages", to_end=True)
    got = [(r.value["prefix"], r.value["content"], r.value["transactional"]) for r in recs]
    assert got == [("app.audit", blob, True), ("app.ping", b"sent anyway", False),
                   ("app.ping", b"plain", False), ("app.audit", b"last", True)], got
    assert [r.key for r in recs] == [{"prefix": p} for p, _, _ in got]

    row = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("orders"), until=1)[0]
    first, last = recs[0].value, recs[3].value
    assert first["txId"] == t1.xid == row.source["txId"]
    assert t1.lsn_before_commit <= first["commit_lsn"] < t1.lsn_after_commit
    assert first["commit_lsn"] == row.source["commit_lsn"]
    assert first["commit_ts_ms"] == row.source["ts_ms"]
    assert t1.t_before_commit // 1000 <= first["commit_ts_ms"] <= t1.t_after_commit // 1000
    assert recs[0].timestamp == first["commit_ts_ms"]  # Kafka timestamp: commit time
    assert t1.lsn_begin < first["lsn"] <= first["commit_lsn"]
    assert last["txId"] == t2.xid and last["commit_lsn"] >= t2.lsn_before_commit
    for r in recs[1:3]:
        v = r.value
        assert (v["txId"], v["commit_lsn"], v["commit_ts_ms"]) == (None, None, None)
        assert t1.lsn_after_commit <= v["lsn"] <= t2.lsn_begin
    assert all(r.value["db"] == db.name for r in recs)
    # nothing else went anywhere: no other topic of messages
    assert not [t for t in kafka.topics() if t.startswith(f"{conn.prefix}.messages.")]


def test_topic_per_prefix(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = connectors(["public.t"], stream_settings={
        "snapshot": "never", "messages": {"prefixes": ["app.", "audit"], "topic": "per_prefix"}})
    conn.start().wait_streaming()
    run_txn(db, "SELECT pg_logical_emit_message(true, 'app.a', 'one')",
            "SELECT pg_logical_emit_message(true, 'app.b/c d', 'two')")
    t = run_txn(db, "SELECT pg_logical_emit_message(false, 'audit', 'three')")
    conn.wait_confirmed(t.lsn_after_commit)
    p = conn.prefix
    for topic, content in ((f"{p}.messages.app.a", b"one"), (f"{p}.messages.app.b_c_d", b"two"),
                           (f"{p}.messages.audit", b"three")):
        recs = messages_of(kafka, conn, until=1, topic=topic)
        assert [r.value["content"] for r in recs] == [content], topic
    assert f"{p}.messages" not in kafka.topics()


def test_confirmed_only_once_acknowledged(db, kafka, connectors):
    """A non-transactional message alone (no change around it) holds back what is
    confirmed until the broker took it: with the broker stopped, once the message is in
    flight, the slot stays before it, although the server's WAL moves on; with the broker
    back, the message arrives and the slot passes it."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = connectors(["public.t"], settings={"metrics": {"listen": "127.0.0.1:0"}},
                      stream_settings=MSG)
    conn.start().wait_streaming()
    port = metrics_port(conn)
    st = conn.stream
    t0 = run_txn(db, "SELECT pg_logical_emit_message(false, 'app.x', 'before')")
    conn.wait_confirmed(t0.lsn_after_commit)
    messages_of(kafka, conn, until=1)
    kafka.stop()
    try:
        down = run_txn(db, "SELECT pg_logical_emit_message(false, 'app.x', 'while down')")
        wait_metric(port, lambda s: s.get("wal2kafka_in_flight_messages", stream=st) == 1,
                    "the message in flight", conn=conn)
        # WAL the stream has no business with: the server reports its end moving on
        db.execute("CREATE TABLE unrelated (id int)")
        end = current_wal_lsn(db)
        s = wait_metric(port, lambda s: s.get("wal2kafka_server_lsn", stream=st) >= end,
                        "server_lsn past the unrelated write", conn=conn)
        # what the stream would confirm (acked_lsn), and what it did, stay before it
        assert s.get("wal2kafka_acked_lsn", stream=st) <= down.lsn_begin
        assert conn.confirmed_lsn() <= down.lsn_begin
    finally:
        kafka.start()
    conn.wait_confirmed(down.lsn_after_commit, timeout=120)
    recs = messages_of(kafka, conn, until=2)
    assert [r.value["content"] for r in recs] == [b"before", b"while down"]


def test_refused_before_postgresql_14(kafka, tmp_path, topic_prefix, wal2kafka_bin):
    """pgoutput sends logical decoding messages from PostgreSQL 14: before, the stream
    stops at start with a configuration error naming the version and the setting, and
    `check` says the same."""
    pg = Postgres(version="13")
    try:
        pg.start()
        db = pg.create_database("msg13")
        db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                         stream_settings=MSG)
        try:
            conn.start()
            rc = conn.wait_exit(120)
            log = conn.log(current=True)
            assert rc == 3, f"exit {rc}\n{log}"
            err, hint = final_error(log, conn.stream)
            assert "messages = { ... }" in err and conn.stream in err, err
            assert "PostgreSQL 13 sends" in err and "only from version 14" in err, err
            assert "remove the messages setting" in hint and "upgrade PostgreSQL" in hint
        finally:
            conn.cleanup()
        r = subprocess.run([str(wal2kafka_bin), "check", "--config", str(conn.config_path)],
                           capture_output=True, text=True, env=conn.env, timeout=120)
        assert r.returncode != 0, r.stdout + r.stderr
        assert "only from version 14" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        pg.destroy()


def recipe(tag: str) -> list[str]:
    """The statements of docs/messages.md's SQL block that starts with `-- outbox: tag`,
    one per `;`, comments dropped: the test runs what the docs say."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "messages.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", text, re.S)
    block = next(b for b in blocks if b.startswith(f"-- outbox: {tag}\n"))
    sql = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
    return [s.strip() for s in sql.split(";") if s.strip()]


def run_script(db, stmts: list[str]) -> None:
    c = db.connect(autocommit=True)
    try:
        for s in stmts:
            c.execute(s)
    finally:
        c.close()


def test_outbox_recipe_with_a_message(db, kafka, connectors):
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, status text)")
    db.execute("INSERT INTO orders VALUES (42, 'new')")
    conn = connectors(["public.orders"], stream_settings={
        "snapshot": "never", "messages": {"prefixes": ["outbox."]}})
    conn.start().wait_streaming()
    stmts = recipe("message")
    assert stmts[0] == "BEGIN" and stmts[-1] == "COMMIT"
    # the same, rolled back: neither the change nor the event
    run_script(db, stmts[:-1] + ["ROLLBACK"])
    run_script(db, stmts)
    end = current_wal_lsn(db)
    conn.wait_confirmed(end)
    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, f"{conn.prefix}.messages", until=1, timeout=60)
    changes = consume(kafka, dec, conn.topic("orders"), until=1, timeout=60)
    events = consume(kafka, dec, f"{conn.prefix}.messages", to_end=True)
    changes = consume(kafka, dec, conn.topic("orders"), to_end=True)
    assert len(events) == 1 and len(changes) == 1
    ev, ch = events[0], changes[0]
    assert ev.key == {"prefix": "outbox.order"}
    assert json.loads(ev.value["content"]) == {"order": 42, "event": "paid"}
    assert ch.op == "u" and ch.value["after"]["status"] == "paid"
    # the event and the change are one transaction: a consumer joins them
    assert ev.value["txId"] == ch.source["txId"]
    assert ev.value["commit_lsn"] == ch.source["commit_lsn"]
    assert ev.value["commit_ts_ms"] == ch.source["ts_ms"]


def test_outbox_recipe_with_a_table(db, kafka, connectors):
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, status text)")
    db.execute("INSERT INTO orders VALUES (42, 'new')")
    stmts = recipe("table")
    create = [s for s in stmts if s.startswith("CREATE TABLE outbox")]
    run_script(db, create)
    conn = connectors(["public.orders", {"name": "public.outbox", "operations": ["insert"]}],
                      stream_settings={"snapshot": "never"})
    conn.start().wait_streaming()
    body = [s for s in stmts if s not in create]
    assert body[0] == "BEGIN" and body[3] == "COMMIT" and body[4].startswith("DELETE FROM outbox")
    run_script(db, body)
    conn.wait_confirmed(current_wal_lsn(db))
    assert db.scalar("SELECT count(*) FROM outbox") == 0
    dec = Decoder(kafka, conn.prefix)
    consume(kafka, dec, conn.topic("outbox"), until=1, timeout=60)
    events = consume(kafka, dec, conn.topic("outbox"), to_end=True)
    changes = consume(kafka, dec, conn.topic("orders"), until=1, timeout=60)
    # one create, no delete or tombstone from the clean-up
    assert [(e.op, e.is_tombstone) for e in events] == [("c", False)]
    after = events[0].value["after"]
    assert (after["aggregate"], after["event"]) == ("order", "paid")
    assert json.loads(after["payload"]) == {"order": 42}
    assert events[0].source["txId"] == changes[0].source["txId"]
