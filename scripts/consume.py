#!/usr/bin/env python3
"""Print wal2kafka's change events as JSON lines, decoded with nothing but Kafka.

Every message is Avro single-object encoded (C3 01, 8-byte schema fingerprint,
Avro binary); the schemas live in the compacted topic <prefix>.schemas, keyed by
the hex of those 8 bytes. This reader looks each fingerprint up there, so it needs
no schema registry and no knowledge of the tables.

  scripts/consume.py --bootstrap 127.0.0.1:9092 --prefix app [--topic app.public.orders]
                     [--from-beginning] [--count N] [--timeout SECONDS]

Without --topic it reads every table topic of the prefix and <prefix>.schema_changes.
"""
import argparse
import base64
import datetime
import decimal
import io
import json
import sys
import time
import uuid

import fastavro
from confluent_kafka import Consumer, KafkaException, TopicPartition


class Schemas:
    """The <prefix>.schemas topic, read to its end whenever an unknown fingerprint shows up."""

    def __init__(self, bootstrap, prefix):
        self.topic = prefix + ".schemas"
        self.by_fp = {}
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "w2k-schemas",
                                  "enable.auto.commit": False})

    def refresh(self):
        md = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        parts = [TopicPartition(self.topic, p, 0) for p in md.partitions]
        ends = {p.partition: self.consumer.get_watermark_offsets(p, timeout=10)[1] for p in parts}
        self.consumer.assign(parts)
        left = {p: e for p, e in ends.items() if e > 0}
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            m = self.consumer.poll(1.0)
            if m is None or m.error():
                continue
            self.by_fp[m.key().decode()] = fastavro.parse_schema(json.loads(m.value()))
            if m.offset() + 1 >= left.get(m.partition(), 0):
                left.pop(m.partition(), None)

    def decode(self, data):
        if data is None:
            return None
        if len(data) < 10 or data[:2] != b"\xc3\x01":
            raise ValueError("not an Avro single-object message")
        fp = data[2:10].hex()
        if fp not in self.by_fp:
            self.refresh()
        return fastavro.schemaless_reader(io.BytesIO(data[10:]), self.by_fp[fp])


def plain(v):
    """JSON-friendly values: decimals and times as text, bytes as base64."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, (decimal.Decimal, uuid.UUID)):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v


def compact(topic, key, value):
    """One readable line per event."""
    k = json.dumps(key, ensure_ascii=False) if key is not None else "-"
    if value is None:
        return f"tombstone  {topic}  key={k}"
    if "op" not in value:  # a schema change
        return f"{value['type']:<9}  {topic}  {value['schema']}.{value['table']}"
    row = value["after"] if value["after"] is not None else value["before"]
    names = {"c": "insert", "u": "update", "d": "delete", "r": "read"}
    text = json.dumps(row, ensure_ascii=False) if row is not None else ""
    return f"{names.get(value['op'], value['op']):<9}  {topic}  key={k}  {text}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--prefix", required=True, help="the stream's topic_prefix")
    ap.add_argument("--topic", action="append", help="topic(s) to read (default: all of the prefix)")
    ap.add_argument("--from-beginning", action="store_true")
    ap.add_argument("--count", type=int, default=0, help="stop after N messages")
    ap.add_argument("--timeout", type=float, default=0, help="stop after this many idle seconds")
    ap.add_argument("--group", default="w2k-consume-%d" % time.time_ns())
    ap.add_argument("--format", choices=("json", "compact"), default="json",
                    help="json: one object per message; compact: op, topic, key and row")
    args = ap.parse_args()

    schemas = Schemas(args.bootstrap, args.prefix)
    c = Consumer({"bootstrap.servers": args.bootstrap, "group.id": args.group,
                  "auto.offset.reset": "earliest" if args.from_beginning else "latest",
                  "enable.auto.commit": True, "topic.metadata.refresh.interval.ms": 2000})
    topics = args.topic or ["^" + args.prefix.replace(".", r"\.") + r"\..*"]
    c.subscribe(topics)
    seen, idle_since = 0, time.monotonic()
    try:
        while not args.count or seen < args.count:
            m = c.poll(0.5)
            if m is None:
                if args.timeout and time.monotonic() - idle_since > args.timeout:
                    break
                continue
            if m.error():
                if m.error().code() != m.error()._PARTITION_EOF:
                    print(f"kafka: {m.error()}", file=sys.stderr)
                continue
            idle_since = time.monotonic()
            if m.topic() in (schemas.topic, args.prefix + ".state"):
                continue  # schema texts and wal2kafka's own state (JSON), not events
            value = schemas.decode(m.value())
            key = plain(schemas.decode(m.key()))
            if args.format == "compact":
                print(compact(m.topic(), key, plain(value)), flush=True)
            else:
                out = {"topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                       "key": key, "value": plain(value)}
                print(json.dumps(out, ensure_ascii=False), flush=True)
            seen += 1
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    except KafkaException as e:
        print(f"kafka: {e}", file=sys.stderr)
        return 1
    finally:
        c.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
