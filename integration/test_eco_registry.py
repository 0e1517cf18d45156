"""wal2kafka with a real schema registry (Apicurio Registry, Confluent-compatible API),
read by confluent-kafka's own AvroDeserializer + SchemaRegistryClient.

Proves: with schema_registry.url set, keys and values are Confluent-framed (magic byte 0,
schema id) and decode with the registry alone, to the exact row values, also across a
schema change (the value subject then has two versions, old messages still decode); a
version the registry refuses (409, subject rule FULL) stops the stream with exit 5 and an
error naming the subject and the rule, and the refused transaction stays in the slot
(not confirmed), so it arrives once the rule is fixed; a registry that is down makes the
stream wait (retrying, nothing confirmed), and it catches up when the registry is back.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest

from servers import Registry
from w2k import TopicReader, connectors, final_error, run_txn, slot_info  # noqa: F401 (fixture)
from w2k_ecosystem import (RegistryDecoder, metrics_port, registry,  # noqa: F401 (fixture)
                           scrape, wait_health)

W2K_EXIT_KAFKA = 5


def raw_records(kafka, topic: str, until, timeout: float = 60.0):
    with TopicReader(kafka, None, topic, decode=False) as r:
        return list(r.read(until, timeout))


def pending_xids(db, slot: str, publication: str) -> list[int]:
    """xids of the transactions still in the slot (not confirmed), read without consuming."""
    rows = db.execute(
        "SELECT DISTINCT xid::text::bigint FROM pg_logical_slot_peek_binary_changes("
        "%s, NULL, NULL, 'proto_version', '1', 'publication_names', %s) ORDER BY 1",
        (slot, publication))
    return [r[0] for r in rows]


def test_confluent_deserializer_reads_keys_and_values_across_a_schema_change(
        db, kafka, registry, connectors):
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, "
               "amount numeric(10,2), placed date)")
    db.execute("INSERT INTO orders VALUES (1, 'alice', 19.99, '2024-01-02')")
    conn = connectors(["public.orders"], settings={"schema_registry": {"url": registry.url}})
    conn.start().wait_streaming()
    topic = conn.topic("orders")

    t_ins = run_txn(db, "INSERT INTO orders VALUES (2, 'bob', 5.00, NULL)")
    run_txn(db, "UPDATE orders SET amount = 24.99 WHERE id = 1")
    run_txn(db, "DELETE FROM orders WHERE id = 2")
    recs = raw_records(kafka, topic, 5)
    dec = RegistryDecoder(registry.url)
    got = [(dec.key(topic, m.raw_key), dec.value(topic, m.raw_value)) for m in recs]
    v1 = {"id": 1, "customer": "alice", "amount": Decimal("19.99"),
          "placed": dt.date(2024, 1, 2)}
    assert [(k, v and v["op"], v and v["after"]) for k, v in got] == [
        ({"id": 1}, "r", v1),
        ({"id": 2}, "c", {"id": 2, "customer": "bob", "amount": Decimal("5.00"), "placed": None}),
        ({"id": 1}, "u", {**v1, "amount": Decimal("24.99")}),
        ({"id": 2}, "d", None),
        ({"id": 2}, None, None),  # the tombstone: key only
    ]
    src = got[1][1]["source"]
    assert (src["db"], src["schema"], src["table"], src["txId"], src["snapshot"]) == \
        (db.name, "public", "orders", t_ins.xid, False)
    assert got[0][1]["source"]["snapshot"] is True
    assert recs[4].raw_value is None

    # Confluent framing everywhere; one key schema and one value schema so far
    key_ids = {RegistryDecoder.schema_id(m.raw_key) for m in recs}
    value_ids = {RegistryDecoder.schema_id(m.raw_value) for m in recs if m.raw_value is not None}
    assert len(key_ids) == 1 and len(value_ids) == 1
    client = dec.client
    assert client.get_versions(f"{topic}-key") == [1]
    assert client.get_versions(f"{topic}-value") == [1]
    v1_id = RegistryDecoder.schema_id(recs[0].raw_value)
    assert client.get_version(f"{topic}-value", 1).schema_id == v1_id
    assert client.get_version(f"{topic}-key", 1).schema_id == RegistryDecoder.schema_id(
        recs[0].raw_key)

    # schema change: a new column, then more rows
    db.execute("ALTER TABLE orders ADD COLUMN note text")
    run_txn(db, "INSERT INTO orders VALUES (3, 'carol', 7.50, '2024-03-04', 'gift')")
    run_txn(db, "UPDATE orders SET note = 'vip' WHERE id = 1")
    recs = raw_records(kafka, topic, 7)
    dec2 = RegistryDecoder(registry.url)  # a fresh client: nothing cached
    got2 = [(dec2.key(topic, m.raw_key), dec2.value(topic, m.raw_value)) for m in recs]
    assert [(k, v and v["op"], v and v["after"]) for k, v in got2[5:]] == [
        ({"id": 3}, "c", {"id": 3, "customer": "carol", "amount": Decimal("7.50"),
                          "placed": dt.date(2024, 3, 4), "note": "gift"}),
        ({"id": 1}, "u", {**v1, "amount": Decimal("24.99"), "note": "vip"}),
    ]
    # the old messages still decode, with the old schema (no "note")
    assert got2[:5] == got
    v2_id = RegistryDecoder.schema_id(recs[5].raw_value)
    assert v2_id != v1_id
    assert RegistryDecoder.schema_id(recs[6].raw_value) == v2_id
    assert client.get_versions(f"{topic}-value") == [1, 2]
    assert client.get_versions(f"{topic}-key") == [1]  # the key did not change
    latest = client.get_latest_version(f"{topic}-value")
    assert (latest.version, latest.schema_id) == (2, v2_id)
    assert '"note"' in latest.schema.schema_str
    assert {RegistryDecoder.schema_id(m.raw_key) for m in recs} == key_ids
    assert conn.stop() == 0


SPECIAL_ROWS = ("INSERT INTO sv VALUES (1, '24:00:00', 'NaN', 'infinity', '-infinity', "
                "'{{1,2},{3,4}}', '{1.5,NaN}'), "
                "(2, '12:34:56.789', 1.5, '2024-01-15', '2024-01-15 12:34:56.123456+00', '{1}', '{}')")
SV_TABLE = ("CREATE TABLE sv (id int PRIMARY KEY, t time, n numeric(10,2), d date, ts timestamptz, "
            "a int[], an numeric(5,1)[])")


@pytest.mark.parametrize("options, row1, row2", [
    # defaults: markers, exact values
    ({}, {"t": "END_OF_DAY", "n": "NAN", "d": "POSITIVE_INFINITY", "ts": "NEGATIVE_INFINITY",
          "a": {"text": "{{1,2},{3,4}}"}, "an": [Decimal("1.5"), "NAN"]},
     {"t": dt.time(12, 34, 56, 789000), "n": Decimal("1.50"), "d": dt.date(2024, 1, 15),
      "ts": dt.datetime(2024, 1, 15, 12, 34, 56, 123456, tzinfo=dt.timezone.utc), "a": [1], "an": []}),
    # what Flink SQL needs: special values as null, milliseconds
    ({"special_values": "null", "time_precision": "millis"},
     {"t": None, "n": None, "d": None, "ts": None, "a": None, "an": [Decimal("1.5"), None]},
     {"t": dt.time(12, 34, 56, 789000), "n": Decimal("1.50"), "d": dt.date(2024, 1, 15),
      "ts": dt.datetime(2024, 1, 15, 12, 34, 56, 123000, tzinfo=dt.timezone.utc), "a": [1], "an": []}),
    ({"decimal_handling": "double"},
     {"n": "nan"}, {"n": 1.5, "an": []}),
    ({"decimal_handling": "string"},
     {"n": "NaN", "an": ["1.5", "NaN"]}, {"n": "1.50", "an": []}),
])
def test_confluent_deserializer_reads_special_values_and_every_option(
        db, kafka, registry, connectors, options, row1, row2):
    """confluent-kafka's AvroDeserializer decodes every row: 24:00:00, NaN, infinities and
    multi-dimensional arrays are markers (or nulls), never values Python cannot hold."""
    db.execute(SV_TABLE)
    conn = connectors(["public.sv"], settings={"schema_registry": {"url": registry.url}},
                      stream_settings=options)
    conn.start().wait_streaming()
    db.execute(SPECIAL_ROWS)
    topic = conn.topic("sv")
    recs = raw_records(kafka, topic, 2)
    dec = RegistryDecoder(registry.url)
    got = [dec.value(topic, m.raw_value)["after"] for m in recs]
    for want, row in zip((row1, row2), got):
        for col, v in want.items():
            if v == "nan":
                assert row[col] != row[col], (col, row[col])
            else:
                assert row[col] == v, (col, row[col], v)
    assert conn.stop() == 0


def test_refused_schema_version_stops_the_stream_and_confirms_nothing_after(
        db, kafka, registry, connectors):
    db.execute("CREATE TABLE items (id int PRIMARY KEY, qty int NOT NULL)")
    conn = connectors(["public.items"], settings={
        "schema_registry": {"url": registry.url}, "retry": {"max_attempts": 3}})
    conn.start().wait_streaming()
    topic = conn.topic("items")
    run_txn(db, "INSERT INTO items VALUES (1, 10)")
    raw_records(kafka, topic, 1)
    dec = RegistryDecoder(registry.url)
    subject = f"{topic}-value"
    dec.client.set_compatibility(subject_name=subject, level="FULL")
    delivered = conn.wait_caught_up()

    # retyping a column: int -> text is incompatible both ways
    db.execute("ALTER TABLE items ALTER COLUMN qty TYPE text")
    refused = run_txn(db, "INSERT INTO items VALUES (2, 'twenty')")
    rc = conn.wait_exit(60)
    log = conn.log()
    assert rc == W2K_EXIT_KAFKA, log
    msg, hint = final_error(log, conn.stream)
    assert f'subject "{subject}"' in msg, log
    assert "compatibility rule FULL" in msg, log
    assert f"{registry.url}/config/{subject}" in hint, hint  # the way out used below
    # nothing of the refused transaction reached Kafka
    recs = raw_records(kafka, topic, None)
    assert [dec.key(topic, m.raw_key) for m in recs] == [{"id": 1}]
    assert dec.client.get_versions(subject) == [1]
    # the slot still holds the refused transaction: confirmed_flush_lsn is not past it
    conn.wait_released()
    info = slot_info(db, conn.slot)
    assert delivered <= info["confirmed_flush_lsn"] <= refused.lsn_before_commit, info
    assert refused.xid in pending_xids(db, conn.slot, conn.publication)

    # the way out the hint names: relax the rule; the refused change then arrives
    dec.client.set_compatibility(subject_name=subject, level="NONE")
    conn.start().wait_streaming()
    recs = raw_records(kafka, topic, 2)
    after = [dec.value(topic, m.raw_value)["after"] for m in recs]
    assert after == [{"id": 1, "qty": 10}, {"id": 2, "qty": "twenty"}]
    assert dec.client.get_versions(subject) == [1, 2]
    conn.wait_caught_up()
    assert conn.stop() == 0


def test_registry_down_stream_waits_confirms_nothing_and_catches_up(db, kafka, connectors):
    reg = Registry()  # a registry of its own: this test stops it
    try:
        reg.start()
        db.execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        conn = connectors(["public.items"], settings={
            "schema_registry": {"url": reg.url}, "metrics": {"listen": "127.0.0.1:0"},
            "retry": {"initial_backoff_ms": 200, "max_backoff_ms": 1000}},
            stream_settings={"snapshot": "never"})
        conn.start().wait_streaming()
        port = metrics_port(conn)
        topic = conn.topic("items")
        run_txn(db, "INSERT INTO items VALUES (1, 'one')")
        first = raw_records(kafka, topic, 1)
        delivered = conn.wait_caught_up()
        # Apicurio here keeps schemas in memory: a restart forgets them, while wal2kafka
        # rightly keeps the ids it was given. This client reads the key schema now, before
        # the outage; `fresh` below reads what is registered after it.
        before = RegistryDecoder(reg.url)
        assert before.key(topic, first[0].raw_key) == {"id": 1}

        reg.stop()
        # a new column needs a new value schema version, and the registry is gone
        db.execute("ALTER TABLE items ADD COLUMN note text")
        waiting = run_txn(db, "INSERT INTO items VALUES (2, 'two', 'n')")
        body = wait_health(port, 503, 60, conn)
        assert f'stream "{conn.stream}" is not streaming: reconnecting' in body, body
        assert reg.url in body, body
        conn.wait_log(rf"at {reg.url} failed.*retrying in", 30)
        assert conn.running()  # retryable: it waits, it does not exit
        assert scrape(port).get("wal2kafka_errors_total", stream=conn.stream,
                                kind="registry") >= 1
        assert len(raw_records(kafka, topic, None)) == 1
        info = slot_info(db, conn.slot)
        assert delivered <= info["confirmed_flush_lsn"] <= waiting.lsn_before_commit, info

        reg.start()  # in-memory storage: an empty registry on the same port
        outage = conn.log()  # everything up to the registry's return
        recs = raw_records(kafka, topic, 2)
        fresh = RegistryDecoder(reg.url)
        assert before.key(topic, recs[1].raw_key) == {"id": 2}
        assert fresh.value(topic, recs[1].raw_value)["after"] == {"id": 2, "name": "two",
                                                                  "note": "n"}
        conn.wait_confirmed(waiting.lsn_after_commit)
        wait_health(port, 200, 30, conn)

        # While the registry was down (>= the ~20 s Apicurio takes to start) the retries
        # backed off (retry.initial_backoff_ms 200 doubling up to max_backoff_ms 1000):
        # the attempt count must have grown past 1.
        attempts = [int(a) for a in re.findall(r"retrying in \d+ ms \(attempt (\d+)\)", outage)]
        assert attempts and max(attempts) >= 3, (
            f"{len(attempts)} retries during the outage, all at attempt {sorted(set(attempts))}: "
            "the retry counter restarts at every reconnect, so the backoff never grows and "
            "retry.max_attempts / max_duration_s can never end the loop")
        assert conn.stop() == 0
    except Exception:
        print(f"--- registry log ---\n{reg.log_tail(40)}")
        raise
    finally:
        reg.destroy()
