"""One stream over many tables matched by a pattern (bench/many_tables.py measures 10,000).

- 500 tables matched by public.t_*, one row inserted into each: every row arrives in its
  table's topic, decoded with the schema wal2kafka stored for it; the topics were created
  ahead of need, in one batch (the log says so), with the cleanup policy the table's key
  calls for (a keyless table's topic deletes, a keyed one compacts), and each schema is
  stored once (no table's schema stored twice although it was stored ahead of its first
  change and its change then needed it); the tables have one shape, yet each message's
  key and value name their own table's schemas.
- A table created while streaming joins: its first row arrives, its topic created with
  the join.
- A restart over the same 500 tables finds the topics there and streams on.
"""

from __future__ import annotations

import time

from w2k import Decoder, connectors, consume, end_offsets  # noqa: F401

N = 500


def in_batches(db, sql: str, n: int, per_commit: int) -> None:
    """Run sql (with {t}: the table's name) for t_001..t_N, a commit every per_commit."""
    body = sql.replace("'", "''").replace("{t}", "' || t || '")
    db.psql(f"""
DO $$
DECLARE t text;
BEGIN
  FOR i IN 1..{n} LOOP
    t := 't_' || lpad(i::text, 3, '0');
    EXECUTE '{body}';
    IF i % {per_commit} = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;""", timeout=300)


def wait_rows(kafka, topic: str, want: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if sum(end_offsets(kafka, topic).values()) >= want:
                return
        except Exception:  # the topic may not exist yet
            pass
        assert time.monotonic() < deadline, f"{topic}: fewer than {want} messages after {timeout} s"
        time.sleep(0.2)


def test_500_tables_by_pattern_all_delivered_and_a_late_table_joins(db, kafka, connectors):
    in_batches(db, "CREATE TABLE {t} (id int PRIMARY KEY, v text)", N, 250)
    db.execute("CREATE TABLE t_keyless (id int, v text)")
    conn = connectors(["public.t_*"])
    conn.start().wait_streaming(180)
    log = conn.log(current=True)
    # the table topics in one batch: N keyed tables and the keyless one
    assert f"created {N + 1} topics in 1 requests ({N + 1} of {N + 1} topics ready)" in log, log
    assert kafka.topic_config(conn.topic("t_001"))["cleanup.policy"] == "compact"
    assert kafka.topic_config(conn.topic("t_keyless"))["cleanup.policy"] == "delete"

    in_batches(db, "INSERT INTO {t} VALUES (1, '{t}')", N, 100)
    db.execute("INSERT INTO t_keyless VALUES (7, 'k')")
    conn.wait_caught_up(180)
    held = {}
    for i in range(1, N + 1):
        t = f"t_{i:03d}"
        held[t] = sum(end_offsets(kafka, conn.topic(t)).values())
    assert held == {f"t_{i:03d}": 1 for i in range(1, N + 1)}
    dec = Decoder(kafka, conn.prefix)
    for t in ("t_001", "t_250", f"t_{N:03d}"):
        (rec,) = consume(kafka, dec, conn.topic(t))
        assert (rec.op, rec.key["id"], rec.value["after"]["v"]) == ("c", 1, t)
        # the tables have one shape: each message still names its own table's schemas
        for raw, kind in ((rec.raw_key, "Key"), (rec.raw_value, "Envelope")):
            name = dec.schema_for(dec.fingerprint_of(raw)).json["name"]
            assert name.endswith(f".public.{t}.{kind}"), (t, name)
        assert rec.source["table"] == t
    (rec,) = consume(kafka, dec, conn.topic("t_keyless"))
    assert rec.key is None and rec.value["after"] == {"id": 7, "v": "k"}
    # each schema stored once: key and value per keyed table, value for the keyless one,
    # the two schema-change schemas
    dec.refresh()
    assert len(dec.records) == len({k for k, _, _ in dec.records}) == 2 * N + 1 + 2

    # a table created while streaming joins (pattern check every 10 s) with its first row
    db.execute("CREATE TABLE t_late (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t_late VALUES (1, 'late')")
    wait_rows(kafka, conn.topic("t_late"), 1, 90)
    (rec,) = consume(kafka, Decoder(kafka, conn.prefix), conn.topic("t_late"))
    assert (rec.key["id"], rec.value["after"]["v"]) == (1, "late")
    assert rec.op in ("r", "c")
    assert conn.stop() == 0

    # a restart over the same tables: the topics are there, the stream goes on
    conn.start().wait_streaming(180)
    assert "created" not in conn.log(current=True).split("streaming from slot")[0] \
        .replace("created publication", ""), conn.log(current=True)
    db.execute("INSERT INTO t_250 VALUES (2, 'again')")
    conn.wait_caught_up(120)
    assert sum(end_offsets(kafka, conn.topic("t_250")).values()) == 2
    assert conn.stop() == 0
