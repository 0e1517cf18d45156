"""Helpers for integration tests of wal2kafka: run the connector, read and decode its topics.

    from w2k import Connector, Decoder, TopicReader, consume, murmur2_partition, UNCHANGED_TOAST

    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
    conn.start().wait_streaming()
    db.execute("INSERT INTO t VALUES (1, 'a')")
    dec = Decoder(kafka, topic_prefix)
    recs = consume(kafka, dec, conn.topic("t"), until=1)
    assert recs[0].value["after"] == {"id": 1, "v": "a"}
    assert conn.stop() == 0

In a test, the `connectors` fixture (import it: `from w2k import connectors`) makes
Connectors for the test's database and prefix and kills them afterwards. Also here:
run_txn (a transaction with its xid and LSN/time bounds), slot helpers
(confirmed_flush_lsn, wait_confirmed, current_wal_lsn), Writer (a steady
version = version + 1 writer thread), check_versions (nothing missing, per-key commit
order, re-sends only where allowed), end_offsets, murmur2/murmur2_partition (Java's),
log_events/parse_logfmt (run's output as events) and final_error (the msg and hint of the
error event a failing run ends with: check it, not the raw output).

Everything waits for a real condition with a deadline; nothing sleeps for a fixed time.
Messages are decoded independently of the connector's C code: confluent-kafka reads
them, fastavro decodes the Avro single-object encoding with the schemas the connector
stored in <prefix>.schemas.

Values: by default (logical=False) logical types are *not* applied, so every value is
the Avro primitive the contract of schemas/README.md describes (a date is an int of
days, a decimal the unscaled two's-complement bytes, ...): tests assert exact wire
values, also for values Python's datetime cannot hold (BC dates, 24:00:00).
Decoder(logical=True) lets fastavro apply the logical types instead (Decimal, date,
datetime, UUID), which checks that the schemas declare them right.

The wal2kafka.UnchangedToast enum branch decodes to the UNCHANGED_TOAST sentinel (not a
string), so "value not sent" stays distinct from NULL (None) and from the text
'UNCHANGED_TOAST'.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import os
import re
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import fastavro
from fastavro.schema import fingerprint as _avro_fingerprint
from fastavro.schema import to_parsing_canonical_form

SOE_MAGIC = b"\xc3\x01"


# ----------------------------------------------------------------------------- LSNs


def parse_lsn(text: str | None) -> int | None:
    """'16/B374D848' -> int (None stays None)."""
    if text is None:
        return None
    hi, lo = str(text).split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def current_wal_lsn(db) -> int:
    """pg_current_wal_lsn() (WAL written so far) as an int."""
    return parse_lsn(db.scalar("SELECT pg_current_wal_lsn()::text"))


def current_wal_insert_lsn(db) -> int:
    return parse_lsn(db.scalar("SELECT pg_current_wal_insert_lsn()::text"))


def slot_info(db, slot: str) -> dict | None:
    """The slot's row of pg_replication_slots (LSNs as ints), or None."""
    rows = db.execute(
        "SELECT slot_name, plugin, database, active, active_pid, confirmed_flush_lsn::text, "
        "restart_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (slot,))
    if not rows:
        return None
    name, plugin, database, active, pid, confirmed, restart = rows[0]
    return {"slot_name": name, "plugin": plugin, "database": database, "active": active,
            "active_pid": pid, "confirmed_flush_lsn": parse_lsn(confirmed),
            "restart_lsn": parse_lsn(restart)}


def confirmed_flush_lsn(db, slot: str) -> int | None:
    info = slot_info(db, slot)
    return info["confirmed_flush_lsn"] if info else None


def wait_confirmed(db, slot: str, lsn: int, timeout: float = 30.0, proc: "Connector | None" = None) -> int:
    """Wait until the slot's confirmed_flush_lsn >= lsn; returns it. TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = confirmed_flush_lsn(db, slot)
        if last is not None and last >= lsn:
            return last
        if proc is not None:
            proc.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"slot {slot}: confirmed_flush_lsn {format_lsn(last) if last else last} did not "
                f"reach {format_lsn(lsn)} within {timeout}s"
                + (f"\n--- connector log ---\n{proc.log_tail()}" if proc else ""))
        time.sleep(0.05)


# ----------------------------------------------------------------- transactions

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def us(t: dt.datetime) -> int:
    """A timezone-aware datetime as microseconds since 1970 (exact)."""
    d = t - EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


@dataclass
class Txn:
    xid: int
    lsn_begin: int  # WAL insert position before the first statement
    lsn_before_commit: int  # ... after the last statement, before COMMIT
    lsn_after_commit: int  # ... right after COMMIT (>= the commit record's end)
    t_before_commit: int  # server clock (µs) before COMMIT
    t_after_commit: int  # server clock (µs) after COMMIT


def run_txn(db, *stmts, conn=None) -> Txn:
    """Run stmts (SQL, or (SQL, params)) in one transaction; returns its xid and the WAL
    positions and server times around it. Its commit record starts in
    [lsn_before_commit, lsn_after_commit) and its commit time is in
    [t_before_commit, t_after_commit]. conn: an open non-autocommit connection to use."""
    own = conn is None
    c = conn or db.connect(autocommit=False)
    try:
        lsn0 = parse_lsn(c.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])
        for s in stmts:
            if isinstance(s, tuple):
                c.execute(*s)
            else:
                c.execute(s)
        xid = int(c.execute("SELECT txid_current()::text").fetchone()[0])  # 10+ (pg_current_xact_id: 13+)
        l1, t1 = c.execute("SELECT pg_current_wal_insert_lsn()::text, clock_timestamp()").fetchone()
        c.commit()
        l2, t2 = c.execute("SELECT pg_current_wal_insert_lsn()::text, clock_timestamp()").fetchone()
        c.commit()
    finally:
        if own:
            c.close()
    return Txn(xid, lsn0, parse_lsn(l1), parse_lsn(l2), us(t1), us(t2))


# ------------------------------------------------------------------- Java murmur2


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (Java), as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    mask = 0xFFFFFFFF
    h = (seed ^ length) & mask
    n4 = length // 4
    for i in range(n4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
    rest = length % 4
    base = length & ~3
    if rest == 3:
        h ^= data[base + 2] << 16
    if rest >= 2:
        h ^= data[base + 1] << 8
    if rest >= 1:
        h ^= data[base]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def murmur2_partition(key: bytes, partitions: int) -> int:
    """The partition Java's default partitioner (and librdkafka's murmur2_random) picks."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# --------------------------------------------------------------------- decoding


class _UnchangedToast:
    _inst = None

    def __new__(cls):
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self):
        return "UNCHANGED_TOAST"

    def __reduce__(self):
        return (_UnchangedToast, ())


UNCHANGED_TOAST = _UnchangedToast()
TOAST_TYPE = "wal2kafka.UnchangedToast"


def _strip_logical(schema):
    if isinstance(schema, dict):
        return {k: _strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_strip_logical(s) for s in schema]
    return schema


def _unwrap(v):
    """Undo fastavro's return_named_type tuples; the UnchangedToast branch -> sentinel."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):
        if v[0] == TOAST_TYPE:
            if v[1] != "UNCHANGED_TOAST":
                raise AssertionError(f"UnchangedToast enum with symbol {v[1]!r}")
            return UNCHANGED_TOAST
        return _unwrap(v[1])
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_unwrap(x) for x in v]
    return v


def schema_fingerprint(schema_json: str | dict) -> str:
    """CRC-64-AVRO fingerprint of a schema's Parsing Canonical Form, hex, as fastavro computes it."""
    s = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    return _avro_fingerprint(to_parsing_canonical_form(s), "CRC-64-AVRO")


@dataclass
class StoredSchema:
    fingerprint: str  # hex of the 8 header bytes (the key in <prefix>.schemas)
    text: str  # the full schema JSON exactly as stored
    json: Any
    parsed: Any  # fastavro-parsed, logical types kept
    parsed_raw: Any  # fastavro-parsed, logical types stripped
    offset: int


class Decoder:
    """Decodes Avro single-object messages with the schemas in <prefix>.schemas."""

    def __init__(self, kafka, prefix: str, logical: bool = False):
        self.kafka = kafka
        self.prefix = prefix
        self.topic = f"{prefix}.schemas"
        self.logical = logical
        self.schemas: dict[str, StoredSchema] = {}
        self.records: list = []  # raw (key, value, offset) of <prefix>.schemas, in order

    def refresh(self, timeout: float = 30.0) -> None:
        """Read <prefix>.schemas from the beginning to its end."""
        from confluent_kafka import KafkaError, OFFSET_BEGINNING, TopicPartition
        deadline = time.monotonic() + timeout
        _wait_topic(self.kafka, self.topic, deadline)
        nparts = self.kafka.partitions(self.topic)
        c = self.kafka.consumer(None, **{"enable.auto.commit": False})
        try:
            c.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(nparts)])
            eof: set[int] = set()
            recs = []
            while len(eof) < nparts:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"did not reach the end of {self.topic} within {timeout}s")
                m = c.poll(0.5)
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise RuntimeError(f"consuming {self.topic}: {m.error()}")
                eof.discard(m.partition())
                recs.append((m.key(), m.value(), m.offset()))
        finally:
            c.close()
        self.records = recs
        for k, v, off in recs:
            if k is None or v is None:
                continue
            fp = k.decode()
            text = v.decode()
            js = json.loads(text)
            self.schemas[fp] = StoredSchema(
                fp, text, js,
                fastavro.parse_schema(copy.deepcopy(js)),
                fastavro.parse_schema(_strip_logical(copy.deepcopy(js))), off)

    def schema_for(self, fp: str, timeout: float = 30.0) -> StoredSchema:
        if fp not in self.schemas:
            self.refresh(timeout)
        if fp not in self.schemas:
            raise KeyError(f"fingerprint {fp} not found in {self.topic} "
                           f"({len(self.schemas)} schemas there)")
        return self.schemas[fp]

    def decode(self, data: bytes | None, logical: bool | None = None):
        """Decode one single-object encoded message (None -> None)."""
        if data is None:
            return None
        if data[:2] != SOE_MAGIC:
            raise ValueError(f"not Avro single-object encoding: starts with {data[:2].hex()}")
        if len(data) < 10:
            raise ValueError(f"single-object message too short ({len(data)} bytes)")
        st = self.schema_for(data[2:10].hex())
        logical = self.logical if logical is None else logical
        buf = io.BytesIO(data[10:])
        v = fastavro.schemaless_reader(buf, st.parsed if logical else st.parsed_raw, None,
                                       return_named_type=True)
        if buf.tell() != len(data) - 10:
            raise ValueError(f"{len(data) - 10 - buf.tell()} trailing bytes after the Avro datum")
        return _unwrap(v)

    def fingerprint_of(self, data: bytes) -> str:
        return data[2:10].hex()

    def consume(self, topic: str, until=None, timeout: float = 30.0, to_end: bool | None = None):
        """consume(self.kafka, self, topic, ...): decoded records of topic."""
        return consume(self.kafka, self, topic, until, timeout, to_end)

    def reader(self, topic: str) -> "TopicReader":
        """A TopicReader of topic that decodes with this decoder (keeps its position)."""
        return TopicReader(self.kafka, self, topic)


# -------------------------------------------------------------------- consuming


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    timestamp: int  # ms
    timestamp_type: int
    raw_key: bytes | None
    raw_value: bytes | None
    key: Any = None  # decoded (None when raw_key is None)
    value: Any = None  # decoded envelope, or None for a tombstone

    @property
    def is_tombstone(self) -> bool:
        return self.raw_value is None

    @property
    def op(self):
        return None if self.value is None else self.value.get("op")

    @property
    def source(self):
        return None if self.value is None else self.value.get("source")


def _wait_topic(kafka, topic: str, deadline: float) -> None:
    while True:
        try:
            md = kafka.admin().list_topics(topic, timeout=5).topics.get(topic)
            if md is not None and md.error is None and len(md.partitions) > 0:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic!r} did not appear")
        time.sleep(0.1)


class TopicReader:
    """Reads one topic from the beginning, keeping its position across read() calls.

    records accumulates everything read so far (partition by partition, each in offset
    order as it arrives)."""

    def __init__(self, kafka, decoder: Decoder | None, topic: str, decode: bool = True):
        self.kafka = kafka
        self.decoder = decoder
        self.topic = topic
        self.decode = decode and decoder is not None
        self.records: list[Record] = []
        self._c = None
        self._nparts = 0
        self._eof: set[int] = set()

    def _open(self, deadline: float) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition
        _wait_topic(self.kafka, self.topic, deadline)
        self._nparts = self.kafka.partitions(self.topic)
        self._c = self.kafka.consumer(None, **{"enable.auto.commit": False})
        self._c.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING)
                        for p in range(self._nparts)])

    def close(self) -> None:
        if self._c is not None:
            self._c.close()
            self._c = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _done(self, until, to_end: bool) -> bool:
        if until is None:
            cond = True
        elif callable(until):
            cond = until(self.records)
        else:
            cond = len(self.records) >= until
        if not cond:
            return False
        return not to_end or len(self._eof) >= self._nparts

    def read(self, until: int | Callable[[list[Record]], bool] | None = None,
             timeout: float = 30.0, to_end: bool | None = None) -> list[Record]:
        """Poll until `until` holds (a count of records, or a predicate over all records
        read so far), and with to_end (default: when until is None) also until the end of
        every partition. Returns self.records. TimeoutError after `timeout` seconds."""
        from confluent_kafka import KafkaError
        deadline = time.monotonic() + timeout
        if to_end is None:
            to_end = until is None
        if self._c is None:
            self._open(deadline)
        while not self._done(until, to_end):
            left = deadline - time.monotonic()
            if left <= 0:
                what = (f"{until} records" if isinstance(until, int) else
                        "the condition" if until is not None else "the end")
                raise TimeoutError(
                    f"{self.topic}: waited {timeout}s for {what}"
                    f"{' and the end' if to_end and until is not None else ''}; have "
                    f"{len(self.records)} records, EOF on {sorted(self._eof)} of {self._nparts}")
            m = self._c.poll(min(left, 0.2))
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    self._eof.add(m.partition())
                    continue
                raise RuntimeError(f"consuming {self.topic}: {m.error()}")
            self._eof.discard(m.partition())
            ts_type, ts = m.timestamp()
            r = Record(m.topic(), m.partition(), m.offset(), ts, ts_type, m.key(), m.value())
            if self.decode:
                r.key = self.decoder.decode(r.raw_key)
                r.value = self.decoder.decode(r.raw_value)
            self.records.append(r)
        return self.records


def consume(kafka, decoder: Decoder | None, topic: str,
            until: int | Callable[[list[Record]], bool] | None = None,
            timeout: float = 30.0, to_end: bool | None = None) -> list[Record]:
    """Read `topic` from the beginning (see TopicReader.read) and return decoded records."""
    with TopicReader(kafka, decoder, topic) as r:
        return list(r.read(until, timeout, to_end))


def by_partition_order(records: list[Record]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {}
    for r in records:
        out.setdefault(r.partition, []).append(r)
    for v in out.values():
        v.sort(key=lambda r: r.offset)
    return out


def end_offsets(kafka, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """The high watermark (next offset) of every partition of topic."""
    from confluent_kafka import TopicPartition
    c = kafka.consumer()
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in range(kafka.partitions(topic))}
    finally:
        c.close()


def check_versions(records: list[Record], final: dict, *, key: str = "id",
                   version: str = "version", first: int = 0,
                   dup_ok: Callable[[Record], bool] | None = None) -> list[Record]:
    """Check a table's history where every change sets version = version + 1.

    Per key, in partition order: all versions first..final[key] present (nothing
    missing), each record either the next version or the start of a replay (a version
    not above the previous one) or its continuation: per-key commit order holds, with
    at-least-once re-sends. Every re-sent record must satisfy dup_ok (default: none may
    exist). Returns the re-sent records."""
    per_key: dict = {}
    for part, rs in by_partition_order(records).items():
        for r in rs:
            per_key.setdefault(r.key[key], []).append(r)
    assert set(per_key) == set(final), f"keys {sorted(per_key)} != {sorted(final)}"
    dups = []
    for k, rs in per_key.items():
        assert len({r.partition for r in rs}) == 1, f"key {k} on several partitions"
        vs = [r.value["after"][version] for r in rs]
        assert set(vs) == set(range(first, final[k] + 1)), (
            f"key {k}: missing versions {sorted(set(range(first, final[k] + 1)) - set(vs))[:20]}"
            f", unexpected {sorted(set(vs) - set(range(first, final[k] + 1)))[:20]}")
        top = first - 1
        prev = None
        for r, v in zip(rs, vs):
            assert v <= top + 1, f"key {k}: version {v} after {top} (skipped ahead)"
            assert prev is None or v == prev + 1 or v <= prev, \
                f"key {k}: version {v} after {prev}: out of commit order"
            if v <= top:
                dups.append(r)
            top = max(top, v)
            prev = v
    if dup_ok is None:
        assert not dups, f"{len(dups)} re-sent records, e.g. {dups[0].key} v{dups[0].value['after'][version]}"
    else:
        bad = [r for r in dups if not dup_ok(r)]
        assert not bad, (f"{len(bad)} re-sent records of already confirmed transactions, e.g. "
                         f"{bad[0].key} v{bad[0].value['after'][version]} "
                         f"commit_lsn {format_lsn(bad[0].value['source']['commit_lsn'])}")
    return dups


class Writer:
    """A steady writer: a thread committing transactions that each set
    version = version + 1 on 1..max_rows random keys of table (locked in key order),
    until stop(). committed counts the transactions."""

    def __init__(self, db, table: str, keys: list, *, max_rows: int = 2, seed: int = 1,
                 key: str = "id", version: str = "version"):
        import random
        import threading
        self.db, self.table, self.keys = db, table, sorted(keys)
        self.max_rows, self.key, self.version = max_rows, key, version
        self.rng = random.Random(seed)
        self.committed = 0  # transactions
        self.rows = 0  # row updates committed
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Writer":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with self.db.connect(autocommit=False) as c:
                while not self._stop.is_set():
                    n = self.rng.randint(1, min(self.max_rows, len(self.keys)))
                    for k in sorted(self.rng.sample(self.keys, n)):
                        c.execute(f"UPDATE {self.table} SET {self.version} = {self.version} + 1 "
                                  f"WHERE {self.key} = %s", (k,))
                    c.commit()
                    self.rows += n
                    self.committed += 1
        except BaseException as e:
            self.error = e

    def wait_committed(self, n: int, timeout: float = 60.0) -> None:
        """Wait until at least n transactions were committed in total."""
        deadline = time.monotonic() + timeout
        while self.committed < n:
            if self.error:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer committed {self.committed} of {n} in {timeout}s")
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        if self.error:
            raise self.error
        return self.committed


# ----------------------------------------------------------------- configuration


def _cfg_value(v, indent: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v}L" if not -(2 ** 31) <= v < 2 ** 31 else str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, dict):
        inner = indent + "  "
        body = "".join(f"{inner}{k} = {_cfg_value(x, inner)};\n" for k, x in v.items())
        return "{\n" + body + indent + "}"
    if isinstance(v, (list, tuple)):
        inner = indent + "  "
        if all(isinstance(x, str) for x in v) and not isinstance(v, tuple):
            return "[ " + ", ".join(_cfg_value(x, inner) for x in v) + " ]" if v else "[ ]"
        return "(\n" + ",\n".join(inner + _cfg_value(x, inner) for x in v) + "\n" + indent + ")"
    raise TypeError(f"cannot write {v!r} in a libconfig file")


def render_config(cfg: dict) -> str:
    """A libconfig file from nested dicts. Lists of strings become arrays [..]; tuples
    (and lists holding groups) become lists (..)."""
    return "".join(f"{k} = {_cfg_value(v, '')};\n" for k, v in cfg.items()) + "\n"


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        elif v is None:
            out.pop(k, None)
        else:
            out[k] = copy.deepcopy(v)
    return out


# ----------------------------------------------------------------------- Connector


class ConnectorDied(AssertionError):
    pass


class Connector:
    """One wal2kafka process (`run --config FILE`) for one database and stream.

    tables: names ("public.t", or just "t") or dicts ({"name": ..., "filter": ...}).
    settings: nested dict merged into the generated configuration, e.g.
        {"kafka": {"topic": {"partitions": 6}}, "retry": {"max_attempts": 2}}
    (a value None removes a default). stream_settings merge into the stream's group.
    The log (stdout+stderr) goes to <workdir>/<name>.log, appended across restarts."""

    def __init__(self, binary, db, kafka, tables, prefix: str, *, workdir: Path | str,
                 stream: str | None = None, settings: dict | None = None,
                 stream_settings: dict | None = None, env: dict | None = None,
                 name: str | None = None, bootstrap: str | None = None):
        self.binary = Path(binary)
        self.db = db
        self.kafka = kafka
        self.prefix = prefix
        self.stream = stream or f"s_{uuid.uuid4().hex[:10]}"
        self.slot = f"wal2kafka_{self.stream}"
        self.publication = f"wal2kafka_{self.stream}"
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name or self.stream
        self.config_path = self.workdir / f"{self.name}.cfg"
        self.log_path = self.workdir / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None
        self.env = {**os.environ, **db.env(), **(env or {})}
        self._log_starts: list[int] = []
        stream_group = {"name": self.stream, "topic_prefix": prefix, "tables": tuple(tables)}
        base = {
            "postgresql": {"conninfo": f"host={db.pg.host} port={db.pg.port} dbname={db.name} "
                                       f"user={db.pg.user} sslmode=disable"},
            "kafka": {"bootstrap_servers": bootstrap or kafka.bootstrap,
                      "topic": {"partitions": 1, "replication_factor": 1}},
            "delivery": {"status_interval_ms": 200, "shutdown_timeout_ms": 30000},
            "retry": {"initial_backoff_ms": 200, "max_backoff_ms": 2000, "max_attempts": 0,
                      "max_duration_s": 600},
            "log": {"level": "info", "format": "logfmt"},
        }
        self.config = _merge(base, settings or {})
        self.config["streams"] = (_merge(stream_group, stream_settings or {}),)
        self.write_config()

    # -- configuration
    def write_config(self, text: str | None = None) -> Path:
        self.config_path.write_text(render_config(self.config) if text is None else text)
        return self.config_path

    def topic(self, table: str, schema: str = "public") -> str:
        return f"{self.prefix}.{schema}.{table}"

    @property
    def schemas_topic(self) -> str:
        return f"{self.prefix}.schemas"

    @property
    def changes_topic(self) -> str:
        return f"{self.prefix}.schema_changes"

    # -- process
    def start(self, *args: str) -> "Connector":
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("connector already running")
        self._log_starts.append(self.log_path.stat().st_size if self.log_path.exists() else 0)
        with open(self.log_path, "ab") as logf:
            logf.write(f"=== start {time.strftime('%H:%M:%S')} ===\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                [str(self.binary), "run", "--config", str(self.config_path), *args],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise ConnectorDied(f"wal2kafka exited with {self.proc.returncode}\n"
                                f"--- log ---\n{self.log_tail()}")

    def wait_streaming(self, timeout: float = 60.0) -> "Connector":
        """Wait until this run logged 'streaming from slot' and the slot is active for it."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if "streaming from slot" in self.log(current=True):
                info = slot_info(self.db, self.slot)
                if info and info["active"]:
                    return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"wal2kafka not streaming after {timeout}s\n--- log ---\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def wait_exit(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"wal2kafka did not exit within {timeout}s\n--- log ---\n"
                               f"{self.log_tail()}") from None

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, wait for the exit and for PostgreSQL to release the slot (so its
        confirmed_flush_lsn is final); returns the exit code."""
        if self.proc is None:
            raise RuntimeError("not started")
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        self.wait_released()
        return rc

    def kill(self) -> int:
        """SIGKILL (a crash), then wait until PostgreSQL released the slot; returns the
        exit status (-9)."""
        if self.proc is None:
            raise RuntimeError("not started")
        if self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait(30)
        self.wait_released()
        return rc

    def wait_released(self, timeout: float = 30.0) -> None:
        """Wait until the slot is not active (its walsender has read everything this
        process sent and exited), or does not exist."""
        deadline = time.monotonic() + timeout
        while True:
            info = slot_info(self.db, self.slot)
            if info is None or not info["active"]:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"slot {self.slot} still active (pid {info['active_pid']}) "
                                   f"{timeout}s after wal2kafka exited")
            time.sleep(0.05)

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()

    # -- log
    def log(self, current: bool = False) -> str:
        """The whole log (every run), or with current=True only the latest run's."""
        if not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()
        if current and self._log_starts:
            data = data[self._log_starts[-1]:]
        return data.decode(errors="replace")

    def log_tail(self, n: int = 60) -> str:
        return "".join(self.log().splitlines(keepends=True)[-n:])

    def wait_log(self, pattern: str, timeout: float = 30.0, current: bool = True) -> re.Match:
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log(current))
            if m:
                return m
            if self.proc is not None and self.proc.poll() is not None:
                m = rx.search(self.log(current))
                if m:
                    return m
                raise ConnectorDied(f"wal2kafka exited ({self.proc.returncode}) before logging "
                                    f"/{pattern}/\n--- log ---\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"/{pattern}/ not in the log within {timeout}s\n--- log ---\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    # -- slot
    def confirmed_lsn(self) -> int | None:
        return confirmed_flush_lsn(self.db, self.slot)

    def wait_confirmed(self, lsn: int, timeout: float = 30.0) -> int:
        return wait_confirmed(self.db, self.slot, lsn, timeout, proc=self if self.proc else None)

    def wait_caught_up(self, timeout: float = 30.0) -> int:
        """Wait until the slot confirmed everything written so far (pg_current_wal_lsn):
        every change committed before this call is then acknowledged by the broker."""
        return self.wait_confirmed(current_wal_lsn(self.db), timeout)


# ------------------------------------------------------------------- run's log events

_LOGFMT_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def parse_logfmt(line: str) -> dict:
    """One logfmt line -> {key: value}. Values are bare (no space, quote or '=') or
    double-quoted with backslash escapes (JSON's, which logfmt readers accept). Raises
    ValueError for anything else."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    dec = json.JSONDecoder()
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        m = _LOGFMT_KEY.match(line, i)
        if not m:
            raise ValueError(f"logfmt: no key at column {i}: {line!r}")
        key = m.group(0)
        i = m.end()
        if key in out:
            raise ValueError(f"logfmt: key {key!r} twice: {line!r}")
        if i >= n or line[i] != "=":
            raise ValueError(f"logfmt: key {key!r} without '=' at column {i}: {line!r}")
        i += 1
        if i < n and line[i] == '"':
            try:
                val, end = dec.raw_decode(line, i)
            except json.JSONDecodeError as e:
                raise ValueError(f"logfmt: bad quoted value of {key!r}: {e}: {line!r}") from None
            i = end
        else:
            j = i
            while j < n and line[j] != " ":
                if line[j] in '"=':
                    raise ValueError(f"logfmt: {line[j]!r} in the bare value of {key!r}: {line!r}")
                j += 1
            val = line[i:j]
            i = j
        if i < n and line[i] != " ":
            raise ValueError(f"logfmt: no space after the value of {key!r}: {line!r}")
        out[key] = val
    return out


def log_events(log: str) -> list[dict]:
    """The events of `wal2kafka run`'s output, in order: each line parsed as a JSON object
    (log.format = "json") or as logfmt. Lines that are neither (w2k.py's '=== start'
    markers) are left out; an `error: ...`/`hint: ...` line, the framing run no longer
    uses, is an AssertionError."""
    events = []
    for line in log.splitlines():
        if line.startswith(("error: ", "hint: ")):
            raise AssertionError(f"run printed an error:/hint: block instead of a log event:\n{log}")
        try:
            ev = json.loads(line) if line.startswith("{") else parse_logfmt(line)
        except ValueError:
            continue
        if isinstance(ev, dict) and "level" in ev and "msg" in ev:
            events.append(ev)
    return events


def final_error(log: str, stream: str | None = None) -> tuple[str, str]:
    """The final error `wal2kafka run` reported, as (msg, hint); hint is "" when the
    event has none (a multi-line hint keeps its newlines).

    It is a level=error event: for a stream that gave up, msg is "stream NAME stopped:
    <cause>" (the last such event, or the last one of stream NAME when given); for a run
    that failed before any stream started (no such event), the last level=error event.
    AssertionError when there is none."""
    errors = [e for e in log_events(log) if e["level"] == "error"]
    stopped = re.compile("stream " + (re.escape(stream) if stream else r"\S+") + " stopped: ")
    final = [e for e in errors if stopped.match(e["msg"])]
    if not final and stream is None:
        final = errors
    assert final, (f"no final error{f' of stream {stream}' if stream else ''} in the output:\n"
                   f"{log}")
    return final[-1]["msg"], final[-1].get("hint", "")


def run_cli(binary, *args, env: dict | None = None, timeout: float = 60.0,
            cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """Run wal2kafka with args; returns the CompletedProcess (text)."""
    return subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd,
                          env={**os.environ, **(env or {})})


# ----------------------------------------------------------------------- fixtures

import pytest  # noqa: E402


_WARN_OR_ERROR = re.compile(r'^ts=\S+ level=(warn|error) |^\{"ts":"[^"]*","level":"(warn|error)"')
_HAS_HINT = re.compile(r'" hint="|,"hint":"')


def hintless_lines(log: str) -> list[str]:
    """The warn/error lines of a wal2kafka log (logfmt or JSON) that carry no hint:
    every one should say what to do (or why it is expected)."""
    return [ln for ln in log.splitlines() if _WARN_OR_ERROR.search(ln) and not _HAS_HINT.search(ln)]


@pytest.fixture
def connectors(wal2kafka_bin, db, kafka, topic_prefix, tmp_path):
    """A factory: connectors(tables, **kw) -> Connector (not started) for this test's
    database and prefix; every connector is killed at the end of the test, and its log
    is printed when the test failed."""
    made: list[Connector] = []

    def make(tables, **kw) -> Connector:
        kw.setdefault("workdir", tmp_path)
        c = Connector(wal2kafka_bin, db, kafka, tables, kw.pop("prefix", topic_prefix), **kw)
        made.append(c)
        return c

    yield make
    bare = []
    for c in made:
        c.cleanup()
        print(f"\n--- {c.log_path} ---\n{c.log_tail(80)}")
        bare += hintless_lines(c.log())
    # every warning and error of every connector of every test carries a hint
    assert not bare, "warn/error lines without a hint:\n" + "\n".join(bare[:20])


@pytest.fixture(scope="module", name="registry")
def module_registry():
    """An Apicurio Registry (ccompat API at .url) for one test module: the one named by
    W2K_REGISTRY_URL when set, else one started here and destroyed after the module.
    A module uses it as `registry` after `from w2k import module_registry`."""
    from servers import Registry
    url = os.environ.get("W2K_REGISTRY_URL")
    if url:
        yield Registry(url=url, managed=False)
        return
    reg = Registry()
    try:
        reg.start()
        yield reg
    finally:
        reg.destroy()
