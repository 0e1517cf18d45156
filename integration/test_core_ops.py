"""Op codes, keys, tombstones, key changes, replica identity, TOAST, TRUNCATE, transactions,
keyless tables, timestamps, topic configuration and partitioning of the core pipeline."""

from __future__ import annotations

import dataclasses

import pytest

from w2k import (UNCHANGED_TOAST, Decoder, Txn, consume, connectors, murmur2,  # noqa: F401
                 murmur2_partition, parse_lsn, run_txn, us)

def check_source(rec, txn: Txn, db, prefix, table, schema="public"):
    s = rec.value["source"]
    assert s["connector"] == "wal2kafka"
    assert s["version"] and s["version"][0].isdigit()
    assert s["name"] == prefix
    assert s["db"] == db.name
    assert (s["schema"], s["table"]) == (schema, table)
    assert s["snapshot"] is False
    assert s["txId"] == txn.xid
    assert txn.lsn_begin <= s["lsn"] < s["commit_lsn"], s
    assert txn.lsn_before_commit <= s["commit_lsn"] < txn.lsn_after_commit, s
    assert s["ts_ms"] == s["ts_us"] // 1000
    assert txn.t_before_commit <= s["ts_us"] <= txn.t_after_commit, "commit time within COMMIT"
    assert rec.timestamp == s["ts_ms"], "Kafka timestamp = commit time"
    assert rec.timestamp_type == 1  # CreateTime, set by the producer


def started(connectors, db, tables, **kw):
    conn = connectors(tables, **kw)
    conn.start().wait_streaming()
    return conn


def read_all(kafka, conn, topic, n, timeout=30):
    """Exactly the records of topic once the slot confirmed everything committed so far."""
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)
    recs = consume(kafka, dec, topic, until=n, timeout=timeout, to_end=True)
    assert len(recs) == n, [(r.key, r.op) for r in recs]
    return recs


# ---------------------------------------------------------------------- basic ops


def test_insert_update_delete_and_tombstone(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text, n int)")
    conn = started(connectors, db, ["public.t"])
    t1 = run_txn(db, "INSERT INTO t VALUES (1, 'a', 10)")
    t2 = run_txn(db, "UPDATE t SET v = 'b' WHERE id = 1")
    t3 = run_txn(db, "DELETE FROM t WHERE id = 1")
    ins, upd, dele, tomb = read_all(kafka, conn, conn.topic("t"), 4)

    assert [r.op for r in (ins, upd, dele)] == ["c", "u", "d"]
    for r in (ins, upd, dele, tomb):
        assert r.key == {"id": 1}
    assert ins.raw_key == upd.raw_key == dele.raw_key == tomb.raw_key
    assert ins.value["before"] is None and ins.value["after"] == {"id": 1, "v": "a", "n": 10}
    assert upd.value["before"] is None and upd.value["after"] == {"id": 1, "v": "b", "n": 10}
    assert upd.value["changed"] is None, "no before image under REPLICA IDENTITY DEFAULT"
    assert dele.value["before"] is None and dele.value["after"] is None
    assert tomb.raw_value is None and tomb.value is None, "a tombstone follows the delete"
    assert tomb.timestamp == dele.timestamp
    assert [r.offset for r in (ins, upd, dele, tomb)] == [0, 1, 2, 3]
    check_source(ins, t1, db, conn.prefix, "t")
    check_source(upd, t2, db, conn.prefix, "t")
    check_source(dele, t3, db, conn.prefix, "t")
    assert ins.value["ts_ms"] >= ins.value["source"]["ts_ms"]
    assert conn.stop() == 0


def test_primary_key_change_is_delete_tombstone_create(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = started(connectors, db, ["public.t"])
    db.execute("INSERT INTO t VALUES (1, 'a')")
    txn = run_txn(db, "UPDATE t SET id = 2, v = 'b' WHERE id = 1")
    recs = read_all(kafka, conn, conn.topic("t"), 4)
    ins, dele, tomb, cre = recs
    assert (ins.op, ins.key) == ("c", {"id": 1})
    assert (dele.op, dele.key) == ("d", {"id": 1})
    assert dele.value["after"] is None
    assert (tomb.key, tomb.value) == ({"id": 1}, None)
    assert (cre.op, cre.key) == ("c", {"id": 2})
    assert cre.value["before"] is None and cre.value["after"] == {"id": 2, "v": "b"}
    check_source(dele, txn, db, conn.prefix, "t")
    check_source(cre, txn, db, conn.prefix, "t")
    assert dele.value["source"]["lsn"] == cre.value["source"]["lsn"], "one change, one LSN"


def test_composite_primary_key_in_index_order(db, kafka, connectors):
    db.execute("CREATE TABLE c (a text, b int, v int, PRIMARY KEY (b, a))")
    conn = started(connectors, db, ["public.c"])
    db.execute("INSERT INTO c VALUES ('x', 1, 0), ('y', 1, 0)")
    db.execute("UPDATE c SET v = 5 WHERE a = 'x'")
    db.execute("UPDATE c SET a = 'z' WHERE a = 'y'")  # part of the key changes
    db.execute("DELETE FROM c WHERE a = 'x'")
    recs = read_all(kafka, conn, conn.topic("c"), 8)
    got = [(r.op, r.key) for r in recs]
    assert got == [
        ("c", {"a": "x", "b": 1}), ("c", {"a": "y", "b": 1}),
        ("u", {"a": "x", "b": 1}),
        ("d", {"a": "y", "b": 1}), (None, {"a": "y", "b": 1}), ("c", {"a": "z", "b": 1}),
        ("d", {"a": "x", "b": 1}), (None, {"a": "x", "b": 1}),
    ]
    # the key record holds the key columns in table column order (the order pgoutput
    # flags them in, so a snapshot and the stream agree), not in index order
    assert list(recs[0].key) == ["a", "b"]
    assert recs[2].value["after"] == {"a": "x", "b": 1, "v": 5}
    assert recs[5].value["after"] == {"a": "z", "b": 1, "v": 0}


# -------------------------------------------------------- replica identity, TOAST


def big_text_sql(n: int = 400) -> str:
    """An incompressible text of 32*n characters (an md5 chain): stored out of line."""
    return f"(SELECT string_agg(md5(i::text || 'salt'), '') FROM generate_series(1, {n}) i)"


def toast_chunks(db, table: str) -> int:
    toast = db.scalar("SELECT reltoastrelid::regclass::text FROM pg_class WHERE relname = %s",
                      (table,))
    return db.scalar(f"SELECT count(*) FROM {toast}")


def test_replica_identity_full_before_changed_and_toast(db, kafka, connectors):
    db.execute("CREATE TABLE f (id int PRIMARY KEY, a text, b int, big text, n numeric(6,2))")
    db.execute("ALTER TABLE f REPLICA IDENTITY FULL")
    conn = started(connectors, db, ["public.f"])
    db.execute(f"INSERT INTO f VALUES (1, 'x', 1, {big_text_sql()}, 1.5)")
    big = db.scalar("SELECT big FROM f WHERE id = 1")
    assert len(big) == 12800
    assert toast_chunks(db, "f") > 0, "the value is stored out of line"
    db.execute("UPDATE f SET b = 2, n = 2.25 WHERE id = 1")  # big unchanged (TOASTed)
    db.execute("UPDATE f SET a = 'y' WHERE id = 1")
    db.execute("UPDATE f SET a = 'y' WHERE id = 1")  # no value changes
    db.execute("UPDATE f SET a = NULL, big = 'small' WHERE id = 1")
    db.execute("DELETE FROM f WHERE id = 1")
    db.execute(f"INSERT INTO f VALUES (5, 'k', 5, {big_text_sql()}, 5)")
    db.execute("UPDATE f SET id = 6 WHERE id = 5")  # key change, big unchanged
    recs = read_all(kafka, conn, conn.topic("f"), 11)
    ins, u1, u2, u3, u4, d, tomb = recs[:7]
    assert [r.op for r in recs] == ["c", "u", "u", "u", "u", "d", None, "c", "d", None, "c"]
    n15, n225 = b"\x00\x96", b"\x00\xe1"
    assert ins.value["after"] == {"id": 1, "a": "x", "b": 1, "big": big, "n": n15}
    assert u1.value["before"] == {"id": 1, "a": "x", "b": 1, "big": big, "n": n15}
    assert u1.value["after"] == {"id": 1, "a": "x", "b": 2, "big": big, "n": n225}, \
        "unchanged TOAST filled from the before image"
    assert u1.value["changed"] == ["b", "n"]
    assert u2.value["before"]["a"] == "x" and u2.value["after"]["a"] == "y"
    assert u2.value["after"]["big"] == big
    assert u2.value["changed"] == ["a"]
    assert u3.value["before"] == u3.value["after"]
    assert u3.value["changed"] == []
    assert u4.value["changed"] == ["a", "big"]
    assert u4.value["after"] == {"id": 1, "a": None, "b": 2, "big": "small", "n": n225}
    assert d.value["before"] == {"id": 1, "a": None, "b": 2, "big": "small", "n": n225}
    assert d.value["after"] is None and d.value["changed"] is None
    assert tomb.value is None and tomb.key == {"id": 1}
    # a key change: the delete carries the full old row, the create the full new one
    row5 = {"id": 5, "a": "k", "b": 5, "big": big, "n": b"\x01\xf4"}
    kd, kt, kc = recs[8:]
    assert (kd.key, kd.value["before"], kd.value["after"]) == ({"id": 5}, row5, None)
    assert (kt.key, kt.value) == ({"id": 5}, None)
    assert (kc.key, kc.value["before"], kc.value["after"]) == ({"id": 6}, None, {**row5, "id": 6})


def test_unchanged_toast_is_marked_under_default_identity(db, kafka, connectors):
    db.execute("CREATE TABLE tt (id int PRIMARY KEY, big text, blob bytea, arr text[], "
               "doc jsonb, n int)")
    conn = started(connectors, db, ["public.tt"])
    db.execute(f"INSERT INTO tt VALUES (1, {big_text_sql()}, "
               f"decode({big_text_sql(500)}, 'hex'), "
               f"ARRAY[{big_text_sql()}, NULL], jsonb_build_object('k', {big_text_sql()}), 1)")
    big, blob, arr, doc = db.execute("SELECT big, blob, arr, doc::text FROM tt")[0]
    # stored out of line (else PostgreSQL sends them and there is nothing to mark)
    assert toast_chunks(db, "tt") >= 4 * 6
    db.execute("UPDATE tt SET n = 2 WHERE id = 1")
    db.execute("UPDATE tt SET n = 3, big = 'now short' WHERE id = 1")
    db.execute("UPDATE tt SET id = 2 WHERE id = 1")  # a key change: the create cannot know them
    db.execute("DELETE FROM tt WHERE id = 2")
    recs = read_all(kafka, conn, conn.topic("tt"), 8)
    ins, u1, u2, kd, kt, kc, d, tomb = recs
    assert [r.op for r in recs] == ["c", "u", "u", "d", None, "c", "d", None]
    assert kc.value["after"] == {"id": 2, "big": "now short", "blob": UNCHANGED_TOAST,
                                 "arr": UNCHANGED_TOAST, "doc": UNCHANGED_TOAST, "n": 3}
    assert ins.value["after"] == {"id": 1, "big": big, "blob": bytes(blob), "arr": [arr[0], None],
                                  "doc": doc, "n": 1}
    after = u1.value["after"]
    assert after == {"id": 1, "big": UNCHANGED_TOAST, "blob": UNCHANGED_TOAST,
                     "arr": UNCHANGED_TOAST, "doc": UNCHANGED_TOAST, "n": 2}
    assert all(after[c] is UNCHANGED_TOAST for c in ("big", "blob", "arr", "doc")), \
        "never None: the value was not sent, it is not NULL"
    assert u1.value["before"] is None and u1.value["changed"] is None
    assert u2.value["after"] == {"id": 1, "big": "now short", "blob": UNCHANGED_TOAST,
                                 "arr": UNCHANGED_TOAST, "doc": UNCHANGED_TOAST, "n": 3}
    assert d.op == "d" and tomb.value is None


# --------------------------------------------------------------------- TRUNCATE


def test_truncate_of_two_tables_on_schema_changes(db, kafka, connectors):
    db.execute("CREATE TABLE a (id serial PRIMARY KEY, v text)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a)")
    conn = started(connectors, db, ["public.a", "public.b"])
    db.execute("INSERT INTO a (v) VALUES ('x')")
    db.execute("INSERT INTO b VALUES (1, 1)")
    txn = run_txn(db, "TRUNCATE a, b RESTART IDENTITY CASCADE")
    db.execute("INSERT INTO a (v) VALUES ('after')")
    t2 = run_txn(db, "TRUNCATE b")
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, conn.changes_topic, until=3, to_end=True)
    assert len(events) == 3, [e.value for e in events]
    ev = {e.value["table"]: e for e in events[:2]}
    assert set(ev) == {"a", "b"}
    oids = dict(db.execute("SELECT relname::text, oid::bigint FROM pg_class "
                           "WHERE relname IN ('a', 'b') AND relkind = 'r'"))
    for name, e in ev.items():
        v = e.value
        assert e.key == {"schema": "public", "table": name}
        assert v["type"] == "truncate"
        assert (v["schema"], v["relid"]) == ("public", oids[name])
        assert v["options"] == ["cascade", "restart_identity"]
        assert v["old_columns"] is None
        assert v["ddl"] is None
        check_source(e, txn, db, conn.prefix, name)
    assert ev["a"].value["new_columns"] == [
        {"name": "id", "type": "integer", "oid": 23, "typmod": -1, "key": True},
        {"name": "v", "type": "text", "oid": 25, "typmod": -1, "key": False}]
    assert ev["b"].value["new_columns"][1] == {"name": "a_id", "type": "integer", "oid": 23,
                                               "typmod": -1, "key": False}
    plain = events[2]
    assert (plain.value["type"], plain.value["table"], plain.value["options"]) == ("truncate", "b", [])
    check_source(plain, t2, db, conn.prefix, "b")
    # ordered against the rows by LSN: the insert into a between the two truncates
    rows = consume(kafka, dec, conn.topic("a"), until=2, to_end=True)
    assert [r.value["after"]["v"] for r in rows] == ["x", "after"]
    assert rows[1].value["after"]["id"] == 1, "RESTART IDENTITY really happened"
    assert (ev["a"].value["source"]["lsn"] < rows[1].value["source"]["lsn"]
            < plain.value["source"]["lsn"])


# ----------------------------------------------------------------- transactions


def test_multi_table_transaction_and_commit_order(db, kafka, connectors):
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, v int)")
    conn = started(connectors, db, ["public.a", "public.b"])
    t1 = run_txn(db, "INSERT INTO a VALUES (1, 1)", "INSERT INTO b VALUES (1, 1)",
                 "UPDATE a SET v = 2 WHERE id = 1", "INSERT INTO b VALUES (2, 1)")
    # Two overlapping transactions: s1 starts first but commits last.
    s1 = db.connect(autocommit=False)
    s2 = db.connect(autocommit=False)
    try:
        s1_begin = parse_lsn(db.scalar("SELECT pg_current_wal_insert_lsn()::text"))
        s1.execute("INSERT INTO a VALUES (10, 0)")
        s1.execute("INSERT INTO b VALUES (10, 0)")
        t3 = run_txn(db, "INSERT INTO a VALUES (11, 0)", "INSERT INTO b VALUES (11, 0)", conn=s2)
        t2 = dataclasses.replace(run_txn(db, "UPDATE a SET v = 1 WHERE id = 10", conn=s1),
                                 lsn_begin=s1_begin)
    finally:
        s1.close()
        s2.close()
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)
    ra = consume(kafka, dec, conn.topic("a"), until=5, to_end=True)
    rb = consume(kafka, dec, conn.topic("b"), until=4, to_end=True)
    assert [(r.key["id"], r.op) for r in ra] == [(1, "c"), (1, "u"), (11, "c"), (10, "c"), (10, "u")]
    assert [(r.key["id"], r.op) for r in rb] == [(1, "c"), (2, "c"), (11, "c"), (10, "c")]
    first = [ra[0], ra[1], rb[0], rb[1]]
    assert {r.value["source"]["txId"] for r in first} == {t1.xid}
    assert len({r.value["source"]["commit_lsn"] for r in first}) == 1
    assert len({r.timestamp for r in first}) == 1
    for r in first:
        check_source(r, t1, db, conn.prefix, r.topic.rsplit(".", 1)[1])
    for r in (ra[2], rb[2]):
        check_source(r, t3, db, conn.prefix, r.topic.rsplit(".", 1)[1])
    for r in (ra[3], ra[4], rb[3]):
        check_source(r, t2, db, conn.prefix, r.topic.rsplit(".", 1)[1])
    # commit order: commit LSNs strictly increase along each topic's log
    for recs in (ra, rb):
        lsns = [r.value["source"]["commit_lsn"] for r in recs]
        assert lsns == sorted(lsns)
        # and inside one transaction, changes in LSN order
        order = [(r.value["source"]["commit_lsn"], r.value["source"]["lsn"]) for r in recs]
        assert order == sorted(order) and len(set(order)) == len(order)
    assert t1.xid < t2.xid < t3.xid, "s1 got its xid before s2"
    assert ra[3].value["source"]["commit_lsn"] > ra[2].value["source"]["commit_lsn"]


# ------------------------------------------------------------------ keyless tables


def test_keyless_table(db, kafka, connectors):
    db.execute("CREATE TABLE nokey (a int, b text)")
    db.execute("CREATE TABLE fullnokey (a int, b text)")
    db.execute("ALTER TABLE fullnokey REPLICA IDENTITY FULL")
    conn = started(connectors, db, ["public.nokey", "public.fullnokey"])
    db.execute("INSERT INTO nokey VALUES (1, 'x'), (1, 'x')")
    db.execute("INSERT INTO fullnokey VALUES (1, 'x')")
    db.execute("UPDATE fullnokey SET b = 'y'")
    db.execute("DELETE FROM fullnokey")
    recs = read_all(kafka, conn, conn.topic("nokey"), 2)
    assert all(r.raw_key is None and r.key is None for r in recs)
    assert [r.value["after"] for r in recs] == [{"a": 1, "b": "x"}] * 2
    full = read_all(kafka, conn, conn.topic("fullnokey"), 3)
    assert [r.op for r in full] == ["c", "u", "d"], "no tombstone without a key"
    assert all(r.raw_key is None for r in full)
    assert full[1].value["before"] == {"a": 1, "b": "x"}
    assert full[1].value["changed"] == ["b"]
    assert full[2].value["before"] == {"a": 1, "b": "y"}
    for t in ("nokey", "fullnokey"):
        cfg = kafka.topic_config(conn.topic(t))
        assert cfg["cleanup.policy"] == "delete"
        assert cfg["retention.ms"] == "86400000"
    log = conn.log()
    # both are announced as keyless at start; the one PostgreSQL will refuse UPDATEs and
    # DELETEs of says so, with the statement that fixes it
    assert ("table public.nokey has no primary key and REPLICA IDENTITY DEFAULT: PostgreSQL "
            "refuses its UPDATEs and DELETEs") in log
    assert 'REPLICA IDENTITY FULL;' in log.split("table public.nokey", 1)[1].split("\n", 1)[0]
    assert "table public.fullnokey has no primary key and no replica identity index" in log
    # an UPDATE of a keyless table without a replica identity is refused by PostgreSQL
    # itself, so such a table can only ever publish inserts
    with pytest.raises(Exception, match="replica identity"):
        db.execute("UPDATE nokey SET b = 'z'")


def test_replica_identity_index_is_the_key(db, kafka, connectors):
    db.execute("CREATE TABLE ri (id int PRIMARY KEY, code text NOT NULL, v int)")
    db.execute("CREATE UNIQUE INDEX ri_code ON ri (code)")
    db.execute("ALTER TABLE ri REPLICA IDENTITY USING INDEX ri_code")
    conn = started(connectors, db, ["public.ri"])
    db.execute("INSERT INTO ri VALUES (1, 'A', 0)")
    db.execute("UPDATE ri SET v = 1")
    db.execute("DELETE FROM ri")
    recs = read_all(kafka, conn, conn.topic("ri"), 4)
    assert [(r.op, r.key) for r in recs] == [("c", {"code": "A"}), ("u", {"code": "A"}),
                                            ("d", {"code": "A"}), (None, {"code": "A"})]
    assert kafka.topic_config(conn.topic("ri"))["cleanup.policy"] == "compact"


# ---------------------------------------------------------- timestamps and topics


def test_kafka_timestamp_is_the_commit_time(db, kafka, connectors):
    db.execute("CREATE TABLE ts (id int PRIMARY KEY)")
    conn = started(connectors, db, ["public.ts"])
    exact = db.scalar("SHOW track_commit_timestamp") == "on"
    txns = [run_txn(db, f"INSERT INTO ts VALUES ({i})") for i in range(5)]
    recs = read_all(kafka, conn, conn.topic("ts"), 5)
    for r, t in zip(recs, txns):
        check_source(r, t, db, conn.prefix, "ts")
        if exact:
            ct = db.scalar("SELECT pg_xact_commit_timestamp(%s::text::xid)", (str(t.xid),))
            assert r.value["source"]["ts_us"] == us(ct)
    ts = [r.value["source"]["ts_us"] for r in recs]
    assert ts == sorted(ts) and len(set(ts)) == 5
    # offsetsForTimes answers in commit time
    from confluent_kafka import TopicPartition
    c = kafka.consumer()
    try:
        (tp,) = c.offsets_for_times([TopicPartition(conn.topic("ts"), 0, recs[3].timestamp)], 10)
        assert tp.offset == min(r.offset for r in recs if r.timestamp >= recs[3].timestamp)
        assert recs[tp.offset].value["source"]["ts_ms"] == recs[3].timestamp
    finally:
        c.close()


def test_topic_configuration(db, kafka, connectors):
    db.execute("CREATE TABLE tc (id int PRIMARY KEY)")
    conn = started(connectors, db, ["public.tc"],
                   settings={"kafka": {"topic": {"partitions": 3}}})
    db.execute("INSERT INTO tc VALUES (1)")
    read_all(kafka, conn, conn.topic("tc"), 1)
    for t in (conn.topic("tc"), conn.schemas_topic, conn.changes_topic):
        cfg = kafka.topic_config(t)
        assert cfg["cleanup.policy"] == "compact", t
        assert cfg["min.compaction.lag.ms"] == "86400000", t
    assert kafka.partitions(conn.topic("tc")) == 3


def test_topic_configuration_is_configurable(db, kafka, connectors):
    db.execute("CREATE TABLE tc (id int PRIMARY KEY)")
    db.execute("CREATE TABLE tk (id int)")
    conn = started(connectors, db, ["public.tc", "public.tk"],
                   settings={"kafka": {"topic": {"partitions": 2, "min_compaction_lag_ms": 3600000,
                                                 "keyless_retention_ms": 7200000}}})
    db.execute("INSERT INTO tc VALUES (1)")
    db.execute("INSERT INTO tk VALUES (1)")
    read_all(kafka, conn, conn.topic("tk"), 1)
    assert kafka.topic_config(conn.topic("tc"))["min.compaction.lag.ms"] == "3600000"
    assert kafka.topic_config(conn.topic("tk"))["retention.ms"] == "7200000"
    assert kafka.partitions(conn.topic("tc")) == 2


def test_murmur2_matches_java():
    """Vectors from Kafka's UtilsTest.testMurmur2."""
    cases = {b"21": -973932308, b"foobar": -790332482,
             b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             b"abc": 479470107}
    assert {k: murmur2(k) for k in cases} == cases


def test_keys_land_on_the_java_murmur2_partition(db, kafka, connectors):
    db.execute("CREATE TABLE p (id int PRIMARY KEY, s text)")
    db.execute("CREATE TABLE p2 (k text, n bigint, PRIMARY KEY (k, n))")
    conn = started(connectors, db, ["public.p", "public.p2"],
                   settings={"kafka": {"topic": {"partitions": 6}}})
    db.execute("INSERT INTO p SELECT i, 'v' FROM generate_series(1, 120) i")
    db.execute("UPDATE p SET s = 'w' WHERE id % 3 = 0")
    db.execute("DELETE FROM p WHERE id % 10 = 0")
    db.execute("INSERT INTO p2 SELECT md5(i::text), i * 1000003 FROM generate_series(1, 60) i")
    recs = read_all(kafka, conn, conn.topic("p"), 120 + 40 + 12 * 2)
    recs2 = read_all(kafka, conn, conn.topic("p2"), 60)
    assert kafka.partitions(conn.topic("p")) == 6
    for r in recs + recs2:
        assert r.partition == murmur2_partition(r.raw_key, 6), (r.key, r.partition)
    assert len({r.partition for r in recs}) == 6
    assert len({r.partition for r in recs2}) >= 5
    # every message of a key on one partition, in change order
    by_key: dict = {}
    for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
        by_key.setdefault(r.key["id"], []).append("t" if r.value is None else r.op)
    assert by_key[30] == ["c", "u", "d", "t"]
    assert by_key[3] == ["c", "u"] and by_key[10] == ["c", "d", "t"] and by_key[1] == ["c"]


def test_shape_change_mid_run(db, kafka, connectors):
    """ALTER TABLE mid-run: an 'alter' event, new schemas, and a decoder that meets the new
    fingerprint refreshes from <prefix>.schemas."""
    db.execute("CREATE TABLE sc (id int PRIMARY KEY, v text)")
    conn = started(connectors, db, ["public.sc"])
    dec = Decoder(kafka, conn.prefix)
    with dec.reader(conn.topic("sc")) as rd:
        db.execute("INSERT INTO sc VALUES (1, 'a')")
        rd.read(until=1)
        known = set(dec.schemas)
        txn = run_txn(db, "ALTER TABLE sc ADD COLUMN w numeric(4,1) DEFAULT 1.5",
                      "INSERT INTO sc VALUES (2, 'b', 2.5)")
        recs = rd.read(until=2)
    assert recs[0].value["after"] == {"id": 1, "v": "a"}
    assert recs[1].value["after"] == {"id": 2, "v": "b", "w": b"\x19"}
    new_fp = recs[1].raw_value[2:10].hex()
    assert new_fp not in known and new_fp in dec.schemas, "the decoder refreshed its schemas"
    assert recs[1].raw_key == recs[0].raw_key[:10] + recs[1].raw_key[10:], "same key schema"
    conn.wait_caught_up()
    changes = [e for e in dec.consume(conn.changes_topic, to_end=True) if e.value["table"] == "sc"]
    assert [e.value["type"] for e in changes] == ["alter"], [e.value for e in changes]
    ev = changes[0].value
    assert [c["name"] for c in ev["old_columns"]] == ["id", "v"]
    assert [(c["name"], c["type"]) for c in ev["new_columns"]] == [
        ("id", "integer"), ("v", "text"), ("w", "numeric(4,1)")]
    assert ev["source"]["txId"] == txn.xid
    assert ev["source"]["lsn"] is not None, "the schema change carries its LSN"
    assert ev["source"]["lsn"] <= recs[1].value["source"]["lsn"], "announced before the row"
