"""Current state from Kafka: a table's compacted topic, read from the start after the log
cleaner ran, yields exactly the table's current rows.

wal2kafka creates the topic (cleanup.policy=compact) with min.compaction.lag.ms from
kafka.topic.min_compaction_lag_ms (0 here instead of 24 h); the test then sets short
per-topic settings through the Admin API (segment.ms=100 so segments roll,
min.cleanable.dirty.ratio=0.01 so the cleaner runs at once, delete.retention.ms=0 so
tombstones go in the next cleaning). After many updates and deletes it keeps writing
one new row at a time (each append rolls the active segment once segment.ms passed, so
the cleaner gets new dirty segments) until, with a deadline, the topic holds exactly one
record per live row and no deletes or tombstones: then every record is compared with
SELECT *.
"""

from __future__ import annotations

import time

from w2k import Decoder, connectors, consume, end_offsets  # noqa: F401
from w2k_schema import fold, log_segments, set_topic_config

KEYS = 400


def test_compacted_topic_is_the_table(db, kafka, connectors):
    db.execute("CREATE TABLE c (id int PRIMARY KEY, version int NOT NULL, note text, "
               "amount numeric(10,2))")
    conn = connectors(["public.c"], settings={"kafka": {"topic": {"min_compaction_lag_ms": 0}}},
                      stream_settings={"snapshot": "never"})
    conn.start().wait_streaming()
    db.execute(f"INSERT INTO c SELECT i, 0, 'n' || i, i FROM generate_series(1, {KEYS}) i")
    conn.wait_caught_up()
    topic = conn.topic("c")
    cfg = kafka.topic_config(topic)
    assert (cfg["cleanup.policy"], cfg["min.compaction.lag.ms"]) == ("compact", "0")
    set_topic_config(kafka, topic, {"segment.ms": 100, "min.cleanable.dirty.ratio": 0.01,
                                    "delete.retention.ms": 0})
    cfg = kafka.topic_config(topic)
    assert (cfg["segment.ms"], cfg["min.cleanable.dirty.ratio"], cfg["delete.retention.ms"]) == \
        ("100", "0.01", "0")

    # many updates and deletes (and re-inserts of deleted keys)
    with db.connect() as c:
        for p in range(10):
            c.execute("UPDATE c SET version = version + 1, note = note || '.', "
                      "amount = amount + 0.5 WHERE id %% 3 <> %s", (p % 3,))
            c.execute("DELETE FROM c WHERE id %% 40 = %s", (p,))
            if p % 2:
                c.execute("INSERT INTO c SELECT i, 100, 'again', 0 FROM generate_series(1, "
                          f"{KEYS}) i WHERE i %% 40 = %s", (p - 1,))
            c.execute("UPDATE c SET version = version + 1 WHERE id <= 20")
    conn.wait_caught_up()
    written = sum(end_offsets(kafka, topic).values())  # appended (the cleaner may have begun)
    live = db.scalar("SELECT count(*) FROM c")
    assert written > 4 * KEYS and live < KEYS

    dec = Decoder(kafka, conn.prefix)
    extra = 0
    deadline = time.monotonic() + 180
    while True:
        # one new row per round: the append rolls the segment, the cleaner gets to work
        extra += 1
        db.execute("INSERT INTO c VALUES (%s, 0, 'roll', 0)", (100000 + extra,))
        conn.wait_caught_up()
        recs = consume(kafka, dec, topic, to_end=True, timeout=60)
        keys = [r.key["id"] for r in recs]
        dead = [r for r in recs if r.value is None or r.op == "d"]
        if len(keys) == len(set(keys)) and not dead:
            break
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the topic was not compacted within 180 s: {len(recs)} records for "
                f"{db.scalar('SELECT count(*) FROM c')} rows, {len(dead)} deletes/tombstones, "
                f"segments {log_segments(kafka, topic)}")
        time.sleep(0.5)

    assert len(recs) < written, "the cleaner removed records"
    rows = {i: {"id": i, "version": v, "note": n, "amount": a}
            for i, v, n, a in db.execute("SELECT id, version, note, amount FROM c")}
    assert len(recs) == len(rows), "exactly one record per row of the table"
    state = fold(recs, "id")
    assert set(state) == set(rows)
    for k, row in rows.items():
        after = state[k]
        amount = int.from_bytes(after["amount"], "big", signed=True)  # decimal(10,2), unscaled
        assert (after["id"], after["version"], after["note"], amount) == \
            (row["id"], row["version"], row["note"], int(row["amount"] * 100)), k
    assert conn.stop() == 0
