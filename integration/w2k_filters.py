"""Helpers for the selective-stream tests (issue 6): one wal2kafka process running several
streams, reading and normalizing their events, and an oracle for row filters that asks
PostgreSQL itself.

    from w2k_filters import multi, Streams, events_of, Oracle, expected_events  # noqa: F401

    s = multi([stream("all", ["public.t"]), stream("p", [tbl], filters="pushdown")])
    s.start().wait_streaming()
    ...
    s.wait_caught_up()
    evs = events_of(s.read(kafka, "p", "t"))

Row-filter oracle: Oracle.install(db, table, filter) puts an AFTER ROW trigger on the
table that evaluates the filter (the same SQL text the config gives) with PostgreSQL on
the old and the new row of every change and logs the results, in change order, into
w2k_oracle. expected_events() then derives, from an unfiltered stream's events of the
same table (which carry the exact wire values), what a filtered stream must deliver
under PostgreSQL's documented semantics for publication row filters, column lists and
published operations:

  - the operation is checked first, on the change as it happened (an UPDATE needs
    "update" among the operations even when the filter turns it into an insert or a
    delete; pgoutput_change() checks pubactions before the row filter);
  - INSERT passes when the new row matches, DELETE when the old row matches;
  - UPDATE: old and new match -> update; old only -> delete (before = old row);
    new only -> insert (no before); neither -> nothing. Without an old row (REPLICA
    IDENTITY DEFAULT and the key unchanged) only the new row counts;
  - a column list projects before, after and changed onto the listed columns;
  - a delete is followed by its tombstone.

Also: read_topics (several topics to their end with one consumer), Workload (the
deterministic mix of changes the filter tests run), and for the subscriber tests
Subscriber (one consumer group in its own thread, recording receipt times; stall() /
resume()), wait_received, paced_inserts, percentile, offsets_between.

Nothing here sleeps to wait for a result: every wait has a condition and a deadline
(paced_inserts sleeps only to pace its writes).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from w2k import (Connector, Decoder, Record, TopicReader, current_wal_lsn,
                 slot_info, wait_confirmed)

# ------------------------------------------------------------------------ streams


def uniq(label: str) -> str:
    """A stream name unique in the server (slots are server-wide): label_xxxxxx."""
    return f"{label}_{uuid.uuid4().hex[:6]}"


def table(name: str, *, filter: str | None = None, columns: list[str] | None = None,
          operations: list[str] | None = None) -> dict:
    """A table entry of a stream's tables list."""
    t: dict[str, Any] = {"name": name}
    if filter is not None:
        t["filter"] = filter
    if columns is not None:
        t["columns"] = list(columns)
    if operations is not None:
        t["operations"] = list(operations)
    return t


class Streams(Connector):
    """One wal2kafka process (`run --config FILE`) running several streams.

    streams: dicts of stream settings; each needs "label" (a short word, e.g. "push") and
    "tables"; "name" defaults to uniq(label), "topic_prefix" to <test prefix>_<label>,
    "snapshot" to "initial". Anything else (filters, exclude, ...) goes into the stream's
    group as it is. Streams are addressed by label everywhere below."""

    def __init__(self, binary, db, kafka, streams: list[dict], prefix: str, *, workdir,
                 settings: dict | None = None, env: dict | None = None,
                 name: str | None = None):
        groups = []
        self.names: dict[str, str] = {}
        self.prefixes: dict[str, str] = {}
        for s in streams:
            s = dict(s)
            label = s.pop("label")
            s.setdefault("name", uniq(label))
            s.setdefault("topic_prefix", f"{prefix}_{label}")
            s["tables"] = tuple(s["tables"])
            if "exclude" in s:
                s["exclude"] = list(s["exclude"])
            self.names[label] = s["name"]
            self.prefixes[label] = s["topic_prefix"]
            groups.append(s)
        first = groups[0]
        super().__init__(binary, db, kafka, first["tables"], first["topic_prefix"],
                         workdir=workdir, stream=first["name"], settings=settings, env=env,
                         name=name or f"multi_{uuid.uuid4().hex[:6]}")
        self.labels = list(self.names)
        self.groups = groups
        self.config["streams"] = tuple(groups)
        self.write_config()
        self._decoders: dict[str, Decoder] = {}

    def set_streams(self, groups: list[dict]) -> None:
        """Replace the stream groups (same labels -> keep their names) and rewrite the file."""
        self.groups = groups
        self.config["streams"] = tuple(groups)
        self.write_config()

    def slot_of(self, label: str) -> str:
        return f"wal2kafka_{self.names[label]}"

    def publication_of(self, label: str) -> str:
        return f"wal2kafka_{self.names[label]}"

    def topic_of(self, label: str, table: str, schema: str = "public") -> str:
        return f"{self.prefixes[label]}.{schema}.{table}"

    def changes_topic_of(self, label: str) -> str:
        return f"{self.prefixes[label]}.schema_changes"

    def decoder(self, label: str) -> Decoder:
        if label not in self._decoders:
            self._decoders[label] = Decoder(self.kafka, self.prefixes[label])
        return self._decoders[label]

    def wait_streaming(self, timeout: float = 90.0, labels: list[str] | None = None) -> "Streams":
        """Wait until every stream (or those of labels) logged 'streaming from slot' in this
        run and its slot is active."""
        deadline = time.monotonic() + timeout
        todo = list(labels or self.labels)
        while todo:
            self.check_alive()
            log = self.log(current=True)
            for label in list(todo):
                if f"stream {self.names[label]}: streaming from slot" in log:
                    info = slot_info(self.db, self.slot_of(label))
                    if info and info["active"]:
                        todo.remove(label)
            if not todo:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"streams {todo} not streaming after {timeout}s\n--- log ---\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)
        return self

    def wait_caught_up(self, timeout: float = 60.0, labels: list[str] | None = None) -> int:
        """Wait until every stream's slot (or those of labels) confirmed all WAL written
        before this call: every change committed before it is then acknowledged by Kafka."""
        lsn = current_wal_lsn(self.db)
        deadline = time.monotonic() + timeout
        for label in labels or self.labels:
            wait_confirmed(self.db, self.slot_of(label), lsn,
                           max(1.0, deadline - time.monotonic()), proc=self)
        return lsn

    def read(self, label: str, table: str, schema: str = "public", timeout: float = 30.0,
             until=None) -> list[Record]:
        """Every record of the stream's topic for table, to the end (call after
        wait_caught_up: then that is everything)."""
        with TopicReader(self.kafka, self.decoder(label), self.topic_of(label, table, schema)) as r:
            return list(r.read(until, timeout, to_end=True))

    def read_tables(self, label: str, tables: list[str], schema: str = "public",
                    timeout: float = 60.0) -> dict[str, list[Record]]:
        """Every record of the stream's topics of tables, to the end, with one consumer."""
        topics = {self.topic_of(label, t, schema): t for t in tables}
        got = read_topics(self.kafka, self.decoder(label), list(topics), timeout)
        return {topics[tp]: recs for tp, recs in got.items()}

    def read_changes(self, label: str, timeout: float = 30.0) -> list[Record]:
        with TopicReader(self.kafka, self.decoder(label), self.changes_topic_of(label)) as r:
            return list(r.read(None, timeout, to_end=True))


@pytest.fixture
def multi(wal2kafka_bin, db, kafka, topic_prefix, tmp_path):
    """A factory: multi(streams, **kw) -> Streams (not started) for this test's database;
    each process is killed at the end of the test and its log printed."""
    made: list[Streams] = []

    def make(streams: list[dict], **kw) -> Streams:
        kw.setdefault("workdir", tmp_path)
        s = Streams(wal2kafka_bin, db, kafka, streams, kw.pop("prefix", topic_prefix), **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.cleanup()
        print(f"\n--- {s.log_path} ---\n{s.log_tail(80)}")


def read_topics(kafka, decoder: Decoder | None, topics: list[str],
                timeout: float = 60.0) -> dict[str, list[Record]]:
    """Read several topics from the beginning to their current end with one consumer
    (no group); returns topic -> records in offset order per partition."""
    from confluent_kafka import KafkaError, OFFSET_BEGINNING, TopicPartition
    deadline = time.monotonic() + timeout
    out: dict[str, list[Record]] = {t: [] for t in topics}
    parts = []
    md = kafka.admin().list_topics(timeout=10).topics
    for t in topics:
        while t not in md or md[t].error is not None or not md[t].partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {t} did not appear")
            time.sleep(0.1)
            md = kafka.admin().list_topics(timeout=10).topics
        parts += [(t, p) for p in md[t].partitions]
    c = kafka.consumer(None, **{"enable.auto.commit": False})
    try:
        c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in parts])
        eof: set = set()
        while len(eof) < len(parts):
            if time.monotonic() > deadline:
                raise TimeoutError(f"did not reach the end of {sorted(set(parts) - eof)} "
                                   f"within {timeout}s")
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eof.add((m.topic(), m.partition()))
                    continue
                raise RuntimeError(f"consuming: {m.error()}")
            eof.discard((m.topic(), m.partition()))
            ts_type, ts = m.timestamp()
            r = Record(m.topic(), m.partition(), m.offset(), ts, ts_type, m.key(), m.value())
            if decoder is not None:
                r.key = decoder.decode(r.raw_key)
                r.value = decoder.decode(r.raw_value)
            out[m.topic()].append(r)
    finally:
        c.close()
    return out


def topic_exists(kafka, topic: str) -> bool:
    md = kafka.admin().list_topics(topic, timeout=10).topics.get(topic)
    return md is not None and md.error is None and len(md.partitions) > 0


# ------------------------------------------------------------------------ events


@dataclass(frozen=True)
class Event:
    """A record of a table topic, without what legitimately differs between two streams
    reading the same WAL (topic prefix, production time, snapshot LSN)."""
    op: str  # c u d r, or "tombstone"
    key: Any
    before: Any = None
    after: Any = None
    changed: Any = None
    lsn: int | None = None  # source.lsn of a change (None for snapshot reads)
    commit_lsn: int | None = None
    txid: int | None = None

    def __repr__(self):
        if self.op == "tombstone":
            return f"<tombstone {self.key}>"
        return (f"<{self.op} {self.key} before={self.before} after={self.after} "
                f"changed={self.changed} lsn={self.lsn}>")


def _freeze(v):
    if isinstance(v, dict):
        return tuple((k, _freeze(x)) for k, x in v.items())
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def event_of(r: Record) -> Event:
    if r.value is None:
        return Event("tombstone", _freeze(r.key))
    v, s = r.value, r.value["source"]
    snap = v["op"] == "r"
    return Event(v["op"], _freeze(r.key), _freeze(v["before"]), _freeze(v["after"]),
                 _freeze(v["changed"]), None if snap else s["lsn"],
                 None if snap else s["commit_lsn"], None if snap else s["txId"])


def events_of(records: list[Record]) -> list[Event]:
    """Events in topic order; snapshot reads ('r') first, sorted by key (a snapshot's row
    order is the table scan's, which two snapshots need not share)."""
    ev = [event_of(r) for r in records]
    reads = sorted((e for e in ev if e.op == "r"), key=lambda e: repr(e.key))
    n = len(reads)
    assert all(e.op == "r" for e in ev[:n]), "snapshot reads come before the changes"
    return reads + ev[n:]


def diff(a: list, b: list, na: str = "a", nb: str = "b", limit: int = 6) -> str:
    """A short description of where two event lists first differ."""
    if a == b:
        return "identical"
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    lines = [f"{na}: {len(a)} events, {nb}: {len(b)} events; first difference at #{i}"]
    for k in range(max(0, i - 1), min(max(len(a), len(b)), i + limit)):
        x = a[k] if k < len(a) else "-"
        y = b[k] if k < len(b) else "-"
        mark = "  " if x == y else "!!"
        lines.append(f"{mark} #{k}\n     {na}: {x}\n     {nb}: {y}")
    return "\n".join(lines)


# ------------------------------------------------------------------------- oracle

ORACLE_SQL = r"""
CREATE TABLE IF NOT EXISTS w2k_oracle (
    seq bigserial PRIMARY KEY, tbl text NOT NULL, tag text NOT NULL, op text NOT NULL,
    key text NOT NULL, old_ok boolean, new_ok boolean);
CREATE OR REPLACE FUNCTION w2k_oracle_fn() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE o boolean; n boolean; k text;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) s', TG_ARGV[0])
      USING OLD INTO o;
    k := OLD.id::text;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT ($1).*) s', TG_ARGV[0])
      USING NEW INTO n;
    k := NEW.id::text;
  END IF;
  INSERT INTO w2k_oracle (tbl, tag, op, key, old_ok, new_ok)
    VALUES (TG_TABLE_NAME, TG_ARGV[1], TG_OP, k, o, n);
  RETURN NULL;
END $f$;
"""


@dataclass
class Verdict:
    op: str  # INSERT UPDATE DELETE
    key: str
    old_ok: bool | None
    new_ok: bool | None


class Oracle:
    """PostgreSQL's own evaluation of each table's row filter on every changed row.
    Tables need an integer column "id" (their primary key). Several filters on one table:
    give each a tag."""

    @staticmethod
    def install(db, tbl: str, filter: str | None, tag: str = "") -> None:
        db.psql(ORACLE_SQL)
        lit = (filter or "true").replace("'", "''")
        db.execute(f"CREATE TRIGGER w2k_oracle_{tag} AFTER INSERT OR UPDATE OR DELETE ON {tbl} "
                   f"FOR EACH ROW EXECUTE FUNCTION w2k_oracle_fn('{lit}', '{tag}')")

    @staticmethod
    def verdicts(db, tbl: str, tag: str = "") -> list[Verdict]:
        rows = db.execute("SELECT op, key, old_ok, new_ok FROM w2k_oracle WHERE tbl = %s "
                          "AND tag = %s ORDER BY seq", (tbl, tag))
        return [Verdict(*r) for r in rows]

    @staticmethod
    def matching(db, tbl: str, filter: str | None) -> set:
        """Keys of the rows of tbl the filter selects now (for the snapshot)."""
        return {r[0] for r in db.execute(
            f"SELECT id FROM {tbl} WHERE coalesce(({filter or 'true'}), false)")}


_OPNAME = {"INSERT": "c", "UPDATE": "u", "DELETE": "d"}
_OPWORD = {"c": "insert", "u": "update", "d": "delete"}


def _project(img, cols):
    if img is None or cols is None:
        return img
    d = dict(img)
    return tuple((c, d[c]) for c, _ in img if c in cols)


def expected_events(full: list[Event], verdicts: list[Verdict], *, snapshot_keys: set | None,
                    filter: str | None = None, columns: list[str] | None = None,
                    operations: list[str] | None = None, has_old: bool = True,
                    key_col: str = "id") -> tuple[list[Event], dict]:
    """What a stream with this table config must deliver, from the events of an unfiltered
    stream of the same table (REPLICA IDENTITY FULL when has_old) and the oracle's
    verdicts for its changes. Returns (events, coverage): coverage counts, per kind of
    change, how often the workload exercised it (so a test can require every case)."""
    ops = set(operations or ["insert", "update", "delete", "truncate"])
    changes = [e for e in full if e.op in ("c", "u", "d")]
    assert len(changes) == len(verdicts), (
        f"the unfiltered stream has {len(changes)} changes, the oracle {len(verdicts)}")
    # per key, in order: the unfiltered stream's changes match the oracle's, one by one
    per_key: dict[Any, list[Verdict]] = {}
    for v in verdicts:
        per_key.setdefault(v.key, []).append(v)
    taken: dict[Any, int] = {}
    cov: dict[str, int] = {}
    out: list[Event] = []
    for e in full:
        if e.op == "r":
            if snapshot_keys is not None and dict(e.key)[key_col] in snapshot_keys:
                out.append(Event("r", e.key, None, _project(e.after, columns)))
            continue
        if e.op == "tombstone":
            continue
        k = str(dict(e.key)[key_col])
        i = taken.get(k, 0)
        taken[k] = i + 1
        v = per_key[k][i]
        assert _OPNAME[v.op] == e.op, f"key {k} change #{i}: stream says {e.op}, oracle {v.op}"
        if _OPWORD[e.op] not in ops:
            cov[f"{e.op} not published"] = cov.get(f"{e.op} not published", 0) + 1
            continue
        op, before, after, changed = e.op, e.before, e.after, e.changed
        if filter is not None:
            if e.op == "c":
                keep = bool(v.new_ok)
                cov[f"insert {'in' if keep else 'out'}"] = cov.get(f"insert {'in' if keep else 'out'}", 0) + 1
                if not keep:
                    continue
            elif e.op == "d":
                keep = bool(v.old_ok)
                cov[f"delete {'in' if keep else 'out'}"] = cov.get(f"delete {'in' if keep else 'out'}", 0) + 1
                if not keep:
                    continue
            else:
                o = bool(v.old_ok) if has_old else bool(v.new_ok)
                n = bool(v.new_ok)
                name = {(True, True): "update stays in", (True, False): "update leaves",
                        (False, True): "update enters", (False, False): "update stays out"}[(o, n)]
                cov[name] = cov.get(name, 0) + 1
                if not o and not n:
                    continue
                if o and not n:
                    op, after, changed = "d", None, None
                elif n and not o:
                    op, before, changed = "c", None, None
        if changed is not None and columns is not None:
            changed = tuple(c for c in changed if c in columns)
        out.append(Event(op, e.key, _project(before, columns), _project(after, columns), changed,
                         e.lsn, e.commit_lsn, e.txid))
        if op == "d":
            out.append(Event("tombstone", e.key))
    assert all(taken.get(k, 0) == len(vs) for k, vs in per_key.items()), \
        "the oracle saw changes the unfiltered stream did not deliver"
    return out, cov


# ----------------------------------------------------------------------- workload


@dataclass
class Workload:
    """A deterministic mix of inserts, updates (moving rows into and out of any filter's
    set, NULLs included) and deletes on a table of COLUMNS, in several transactions."""
    seed: int = 6
    preexisting: int = 16
    inserts: int = 24
    updates: int = 110
    deletes: int = 10
    statements: list = field(default_factory=list)

    COLUMNS = ("id int PRIMARY KEY, txt text, num numeric, i int, b boolean, ts timestamp, "
               "d date")

    TEXTS = ["alpha", "beta", "gamma", "delta", "al%x", "Alpha", "a_b", "", "zeta", None]
    NUMS = ["-1.5", "0", "9.99", "10", "10.00", "10.01", "100.5", "1e3", "NaN", None]
    DATES = ["2024-02-19", "2024-02-20", "2024-03-01", "2024-03-10", "2024-03-11",
             "2023-12-31", None]
    TSS = ["2024-01-05 11:59:59.999999", "2024-01-05 12:00:00", "2024-01-20 08:30:00",
           "2024-02-01 00:00:00", "2023-06-01 00:00:00", None]

    def _row(self, rng, i):
        return (i, rng.choice(self.TEXTS), rng.choice(self.NUMS),
                rng.choice([None, -3, 0, 1, 2, 5, 9, 10, 11, 15, 19, 20, 25]),
                rng.choice([True, False, None]), rng.choice(self.TSS), rng.choice(self.DATES))

    def build(self) -> "Workload":
        import random
        rng = random.Random(self.seed)
        self.pre_rows = [self._row(rng, i) for i in range(1, self.preexisting + 1)]
        live = [r[0] for r in self.pre_rows]
        nxt = self.preexisting + 1
        txns = []
        cur: list = []
        ins_left, upd_left, del_left = self.inserts, self.updates, self.deletes
        while ins_left or upd_left or del_left:
            kinds = ["i"] * ins_left + ["u"] * upd_left + ["d"] * (del_left if len(live) > 4 else 0)
            if not kinds:
                kinds = ["i"] * ins_left + ["u"] * upd_left
            k = rng.choice(kinds)
            if k == "i":
                row = self._row(rng, nxt)
                nxt += 1
                live.append(row[0])
                cur.append(("INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s)", row))
                ins_left -= 1
            elif k == "u":
                rid = rng.choice(live)
                cols = rng.sample(["txt", "num", "i", "b", "ts", "d"], rng.randint(1, 3))
                vals = []
                for c in cols:
                    vals.append({"txt": rng.choice(self.TEXTS), "num": rng.choice(self.NUMS),
                                 "i": rng.choice([None, -3, 0, 1, 5, 9, 10, 11, 19, 20, 25]),
                                 "b": rng.choice([True, False, None]),
                                 "ts": rng.choice(self.TSS), "d": rng.choice(self.DATES)}[c])
                sets = ", ".join(f"{c} = %s" for c in cols)
                cur.append((f"UPDATE {{t}} SET {sets} WHERE id = %s", (*vals, rid)))
                upd_left -= 1
            else:
                rid = rng.choice(live)
                live.remove(rid)
                cur.append(("DELETE FROM {t} WHERE id = %s", (rid,)))
                del_left -= 1
            if len(cur) >= rng.randint(1, 6):
                txns.append(cur)
                cur = []
        if cur:
            txns.append(cur)
        self.txns = txns
        return self

    def create(self, db, tbl: str, replica_full: bool = True) -> None:
        db.execute(f"CREATE TABLE {tbl} ({self.COLUMNS})")
        if replica_full:
            db.execute(f"ALTER TABLE {tbl} REPLICA IDENTITY FULL")

    def load(self, db, tables: list[str]) -> None:
        with db.connect(autocommit=False) as c:
            for t in tables:
                for row in self.pre_rows:
                    c.execute(f"INSERT INTO {t} VALUES (%s, %s, %s, %s, %s, %s, %s)", row)
            c.commit()

    def run(self, db, tables: list[str]) -> None:
        """Each transaction of the workload, on every table in turn (same order)."""
        with db.connect(autocommit=False) as c:
            for txn in self.txns:
                for t in tables:
                    for sql, params in txn:
                        c.execute(sql.format(t=t), params)
                c.commit()


# -------------------------------------------------------------------- subscribers


class Subscriber:
    """One consumer group with one member, polling a topic in its own thread, recording
    when each message (partition, offset) arrived (wall clock, ms) and its Kafka timestamp
    (the PostgreSQL commit time, ms). stall() stops polling (the consumer stays in its
    group, librdkafka keeps its session alive); resume() polls again."""

    def __init__(self, kafka, topic: str, group: str):
        import threading
        self.group = group
        self.topic = topic
        self.consumer = kafka.consumer(group, **{
            "enable.partition.eof": False, "enable.auto.commit": True,
            "auto.commit.interval.ms": 1000, "session.timeout.ms": 45000,
            "max.poll.interval.ms": 300000, "statistics.interval.ms": 0})
        self.assigned = threading.Event()
        self.received: dict[tuple[int, int], tuple[float, int]] = {}  # -> (receipt ms, ts ms)
        self.dups = 0
        self.error: BaseException | None = None
        self._go = threading.Event()
        self._go.set()
        self._stop = threading.Event()
        self._idle = threading.Event()  # set while stalled and not polling
        self._thread = threading.Thread(target=self._run, name=group, daemon=True)

    def start(self) -> "Subscriber":
        def on_assign(c, parts):
            if parts:
                self.assigned.set()
        self.consumer.subscribe([self.topic], on_assign=on_assign)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self._go.is_set():
                    self._idle.set()
                    self._go.wait(0.5)
                    continue
                self._idle.clear()
                msgs = self.consumer.consume(num_messages=1000, timeout=0.2)
                now = time.time() * 1000.0
                for m in msgs:
                    if m.error():
                        raise RuntimeError(f"{self.group}: {m.error()}")
                    k = (m.partition(), m.offset())
                    if k in self.received:
                        self.dups += 1
                    else:
                        self.received[k] = (now, m.timestamp()[1])
        except BaseException as e:  # reported by check()
            self.error = e

    def stall(self, timeout: float = 10.0) -> None:
        """Stop polling; returns once the thread is no longer inside a poll."""
        self._go.clear()
        if not self._idle.wait(timeout):
            raise TimeoutError(f"{self.group} did not stall")

    def resume(self) -> None:
        self._go.set()

    def check(self) -> None:
        if self.error:
            raise self.error

    def count_upto(self, ends: dict[int, int]) -> int:
        keys = self.received.copy()  # the polling thread adds to it meanwhile
        return sum(1 for (p, o) in keys if o < ends.get(p, 0))

    def close(self) -> None:
        self._stop.set()
        self._go.set()
        self._thread.join(30)
        try:
            self.consumer.close()
        except Exception:
            pass


def wait_received(subs: list[Subscriber], ends: dict[int, int], timeout: float = 60.0) -> None:
    """Wait until every subscriber received every offset below ends (partition -> end)."""
    total = sum(ends.values())
    deadline = time.monotonic() + timeout
    while True:
        for s in subs:
            s.check()
        behind = [s.group for s in subs if s.count_upto(ends) < total]
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(behind)} group(s) did not receive all {total} messages "
                               f"within {timeout}s, e.g. {behind[:5]}: "
                               f"{[subs[0].count_upto(ends)]}")
        time.sleep(0.05)


def paced_inserts(db, tbl: str, first: int, n: int, rate: float) -> None:
    """Commit n single-row inserts (ids first..) at about rate per second."""
    with db.connect(autocommit=True) as c:
        t0 = time.monotonic()
        for i in range(n):
            ahead = t0 + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing the writer, not waiting for a result
            c.execute(f"INSERT INTO {tbl} VALUES (%s, %s)", (first + i, f"v{first + i}"))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of values."""
    import math
    v = sorted(values)
    if not v:
        raise ValueError("no values")
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def offsets_between(start: dict[int, int], end: dict[int, int]) -> set[tuple[int, int]]:
    return {(p, o) for p in end for o in range(start.get(p, 0), end[p])}
