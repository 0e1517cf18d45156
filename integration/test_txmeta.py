"""Transaction metadata (issue 13 point 5): `transaction_metadata = true` gives, in
Debezium's shape (provide.transaction.metadata), a BEGIN and an END event per
PostgreSQL transaction on <prefix>.transaction, keyed by the id "<txid>:<commit LSN>",
and a `transaction` block (id, total_order, data_collection_order) in each change event.

The test is a consumer that rebuilds the transactions from the transaction topic and the
blocks of the table topics, as a stream processor would, and compares them with what
PostgreSQL committed: the txids, the commit LSNs, the events per table, their order (by
LSN), completeness (END's counts equal the events seen). A multi-table transaction, a
key change (delete + create), a transaction whose only change the row filter drops (no
BEGIN and no END: docs/transactions.md), a rolled-back one, and snapshot rows (no
block). Run in both delivery modes: with exactly_once the events are read with
read_committed, so they are inside the committed Kafka transactions.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from w2k import Decoder, consume, current_wal_lsn, run_txn
from w2k import connectors  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_rebuild_transactions(db, kafka, connectors, mode):
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE c (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO a VALUES (100, 'snap')")
    tables = ["public.a", "public.b", {"name": "public.c", "filter": "v <> 'skip'"}]
    conn = connectors(tables, stream_settings={"transaction_metadata": True},
                      settings={"delivery": {"exactly_once": mode == "exactly_once"}})
    conn.start().wait_streaming()

    # what PostgreSQL commits: (txn, the events per table in order)
    t1 = run_txn(db, "INSERT INTO a VALUES (1, 'x')", "INSERT INTO b VALUES (1, 'x')",
                 "UPDATE a SET v = 'y' WHERE id = 1", "INSERT INTO b VALUES (2, 'x')",
                 "DELETE FROM a WHERE id = 1")
    t2 = run_txn(db, "INSERT INTO c VALUES (1, 'skip')")  # filtered out: no event
    c = db.connect(autocommit=False)
    c.execute("INSERT INTO b VALUES (99, 'rolled back')")
    c.rollback()
    c.close()
    t3 = run_txn(db, "INSERT INTO b VALUES (3, 'x')", "INSERT INTO c VALUES (2, 'kept')")
    t4 = run_txn(db, "UPDATE b SET id = 4 WHERE id = 3")  # key change: delete + create
    conn.wait_confirmed(current_wal_lsn(db))
    expected = {  # txn -> [(table, op)] in commit order
        t1.xid: [("public.a", "c"), ("public.b", "c"), ("public.a", "u"), ("public.b", "c"),
                 ("public.a", "d")],
        t3.xid: [("public.b", "c"), ("public.c", "c")],
        t4.xid: [("public.b", "d"), ("public.b", "c")],
    }
    txns = {t.xid: t for t in (t1, t3, t4)}

    dec = Decoder(kafka, conn.prefix)
    consume(kafka, dec, f"{conn.prefix}.transaction", until=6, timeout=60)
    meta = consume(kafka, dec, f"{conn.prefix}.transaction", to_end=True)
    events = []
    for t, n in (("a", 4), ("b", 5), ("c", 1)):  # a: snapshot row + 3; tombstones not counted
        consume(kafka, dec, conn.topic(t), until=n, timeout=60)
        events += [r for r in consume(kafka, dec, conn.topic(t), to_end=True)
                   if not r.is_tombstone]

    # snapshot rows carry no block
    snap = [e for e in events if e.op == "r"]
    assert [e.value["after"]["id"] for e in snap] == [100]
    assert snap[0].value["transaction"] is None
    changes = [e for e in events if e.op != "r"]
    assert all(e.value["transaction"] is not None for e in changes)

    # the transaction topic: BEGIN then END per transaction with events, nothing else
    assert [(m.value["status"], m.value["id"]) for m in meta] == [
        (s, i) for i in [meta[0].value["id"], meta[2].value["id"], meta[4].value["id"]]
        for s in ("BEGIN", "END")], [m.value for m in meta]
    ends = {m.value["id"]: m for m in meta if m.value["status"] == "END"}
    begins = {m.value["id"]: m for m in meta if m.value["status"] == "BEGIN"}
    for m in meta:
        assert m.key == {"id": m.value["id"]}
    for m in begins.values():
        assert (m.value["event_count"], m.value["data_collections"]) == (None, None)

    # rebuild: the events of each transaction id, from the blocks
    by_id = defaultdict(list)
    for e in changes:
        by_id[e.value["transaction"]["id"]].append(e)
    assert set(by_id) == set(ends) == set(begins)
    seen_xids = set()
    for tid, evs in by_id.items():
        xid, lsn = (int(x) for x in tid.split(":"))
        seen_xids.add(xid)
        t = txns[xid]
        assert t.lsn_before_commit <= lsn < t.lsn_after_commit, tid
        assert all(e.source["txId"] == xid and e.source["commit_lsn"] == lsn for e in evs)
        # total_order follows the changes' order in the WAL; per table as well
        evs.sort(key=lambda e: e.value["transaction"]["total_order"])
        assert [e.value["transaction"]["total_order"] for e in evs] == list(range(1, len(evs) + 1))
        assert [e.source["lsn"] for e in evs] == sorted(e.source["lsn"] for e in evs)
        got = [(f"public.{e.source['table']}", e.op) for e in evs]
        assert got == expected[xid], (tid, got)
        per_table = defaultdict(list)
        for e in evs:
            per_table[e.source["table"]].append(e.value["transaction"]["data_collection_order"])
        assert all(v == list(range(1, len(v) + 1)) for v in per_table.values())
        # END: complete, with the counts per table in the order of their first event
        end = ends[tid].value
        assert end["event_count"] == len(evs)
        first_seen = list(dict.fromkeys(tb for tb, _ in got))
        counts = Counter(tb for tb, _ in got)
        assert end["data_collections"] == [
            {"data_collection": tb, "event_count": counts[tb]} for tb in first_seen]
        assert end["ts_ms"] == begins[tid].value["ts_ms"] == evs[0].source["ts_ms"]
        assert ends[tid].timestamp == end["ts_ms"]  # Kafka timestamp: commit time
    # the filtered-out and the rolled-back transaction left nothing
    assert seen_xids == {t1.xid, t3.xid, t4.xid} and t2.xid not in seen_xids
