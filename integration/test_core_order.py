"""Order per key equals commit order while several sessions update the same rows."""

from __future__ import annotations

import random
import threading

from w2k import Decoder, by_partition_order, connectors, consume  # noqa: F401

KEYS = 6
SESSIONS = 4
TXNS_PER_SESSION = 120


def test_versions_per_key_arrive_in_commit_order(db, kafka, connectors):
    db.execute("CREATE TABLE counters (id int PRIMARY KEY, version int NOT NULL, "
               "writer int, pad text)")
    conn = connectors(["public.counters"], settings={"kafka": {"topic": {"partitions": 3}}})
    conn.start().wait_streaming()
    db.execute(f"INSERT INTO counters SELECT i, 0, -1, '' FROM generate_series(1, {KEYS}) i")

    errors: list[BaseException] = []
    start = threading.Barrier(SESSIONS)

    def session(n: int) -> None:
        rng = random.Random(n)
        try:
            with db.connect(autocommit=False) as c:
                start.wait(30)
                for i in range(TXNS_PER_SESSION):
                    # one to three rows per transaction, locked in id order (no deadlocks);
                    # the row lock orders the updates of one key
                    ids = sorted(rng.sample(range(1, KEYS + 1), rng.randint(1, 3)))
                    for k in ids:
                        c.execute("UPDATE counters SET version = version + 1, writer = %s, "
                                  "pad = %s WHERE id = %s", (n, f"{n}:{i}", k))
                    c.commit()
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)

    final = dict(db.execute("SELECT id, version FROM counters"))
    total = sum(final.values())
    assert total >= SESSIONS * TXNS_PER_SESSION
    conn.wait_caught_up(60)
    dec = Decoder(kafka, conn.prefix)
    recs = consume(kafka, dec, conn.topic("counters"), until=KEYS + total, timeout=60, to_end=True)
    assert len(recs) == KEYS + total, "every update exactly once (no restart happened)"

    per_key: dict[int, list] = {}
    for part, rs in by_partition_order(recs).items():
        commit_lsns = [r.value["source"]["commit_lsn"] for r in rs]
        assert commit_lsns == sorted(commit_lsns), f"partition {part} not in commit order"
        for r in rs:
            per_key.setdefault(r.key["id"], []).append(r)
    assert set(per_key) == set(range(1, KEYS + 1))
    writers = set()
    for k, rs in per_key.items():
        assert len({r.partition for r in rs}) == 1, f"key {k} on several partitions"
        versions = [r.value["after"]["version"] for r in rs]
        assert versions == list(range(0, final[k] + 1)), \
            f"key {k}: versions out of order or missing: {versions[:50]}..."
        assert [r.op for r in rs] == ["c"] + ["u"] * final[k]
        lsns = [(r.value["source"]["commit_lsn"], r.value["source"]["lsn"]) for r in rs]
        assert lsns == sorted(lsns) and len(set(lsns)) == len(lsns)
        writers |= {r.value["after"]["writer"] for r in rs[1:]}
    assert writers == set(range(SESSIONS)), "all sessions really raced on the same keys"
    assert conn.stop() == 0


def test_backpressure_with_a_tiny_in_flight_limit(db, kafka, connectors):
    """delivery.max_in_flight = 8: big transactions still arrive whole, in order, and the
    slot is confirmed past them (the stream stops reading and resumes as acks come)."""
    db.execute("CREATE TABLE bp (id int PRIMARY KEY, version int NOT NULL, pad text)")
    conn = connectors(["public.bp"], settings={"kafka": {"topic": {"partitions": 2}},
                                               "delivery": {"max_in_flight": 8}})
    conn.start().wait_streaming()
    db.execute("INSERT INTO bp SELECT i, 0, repeat('p', 100) FROM generate_series(1, 3000) i")
    db.execute("UPDATE bp SET version = version + 1 WHERE id % 3 = 0")
    db.execute("UPDATE bp SET version = version + 1 WHERE id % 5 = 0")
    final = dict(db.execute("SELECT id, version FROM bp"))
    conn.wait_caught_up(120)
    dec = Decoder(kafka, conn.prefix)
    n = 3000 + 1000 + 600
    recs = consume(kafka, dec, conn.topic("bp"), until=n, timeout=60, to_end=True)
    assert len(recs) == n
    from w2k import check_versions
    check_versions(recs, final)
    assert conn.stop() == 0
