"""Helpers for the schema-change, snapshot and compaction tests (issue 5).

    from w2k_schema import (ddl_install, schema_records, resolve, columns, fold,
                            consistent_point, MixedWriter, wait_until, set_topic_config, ...)

Everything here builds on w2k.py (Connector, Decoder, consume, run_txn) and, like it,
decodes with nothing but Kafka: fastavro and the schemas wal2kafka stored in
<prefix>.schemas. Every wait has a deadline and a condition; nothing sleeps for a fixed
time except the short poll interval of a wait.
"""

from __future__ import annotations

import io
import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import fastavro

from w2k import (Decoder, Record, Txn, format_lsn, parse_lsn, run_cli, run_txn,  # noqa: F401
                 _unwrap)

# ---------------------------------------------------------------------------- waiting


def wait_until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05,
               alive: Callable[[], None] | None = None):
    """Poll pred() until it returns something truthy (returned); TimeoutError naming
    `what` after `timeout` seconds. alive() (e.g. Connector.check_alive) runs each round."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if alive is not None:
            alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout}s")
        time.sleep(interval)


# ------------------------------------------------------------------------ DDL trigger


def ddl_install(binary, conn) -> str:
    """`wal2kafka ddl install --config` for conn's database (as the superuser the tests
    connect as); returns its stdout. AssertionError when it fails."""
    r = run_cli(binary, "ddl", "install", "--config", conn.config_path, env=conn.db.env())
    assert r.returncode == 0, f"ddl install: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def ddl_remove(binary, conn) -> str:
    r = run_cli(binary, "ddl", "remove", "--config", conn.config_path, env=conn.db.env())
    assert r.returncode == 0, f"ddl remove: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


def request_snapshot(binary, conn, table: str) -> str:
    """`wal2kafka snapshot --config F --table T`; returns its stdout."""
    r = run_cli(binary, "snapshot", "--config", conn.config_path, "--table", table,
                env=conn.db.env())
    assert r.returncode == 0, f"snapshot --table {table}: exit {r.returncode}\n{r.stdout}{r.stderr}"
    return r.stdout


# ---------------------------------------------------------------- schemas and events


@dataclass
class SchemaRecord:
    fingerprint: str
    text: str
    offset: int
    timestamp: int  # ms, when wal2kafka produced it


def schema_records(kafka, prefix: str, timeout: float = 30.0) -> dict[str, SchemaRecord]:
    """<prefix>.schemas as fingerprint -> SchemaRecord (first occurrence, with its Kafka
    timestamp: when it was stored)."""
    from w2k import consume
    out: dict[str, SchemaRecord] = {}
    for r in consume(kafka, None, f"{prefix}.schemas", timeout=timeout, to_end=True):
        if r.raw_key is None or r.raw_value is None:
            continue
        fp = r.raw_key.decode()
        out.setdefault(fp, SchemaRecord(fp, r.raw_value.decode(), r.offset, r.timestamp))
    return out


def fingerprint(rec: Record) -> str:
    """The schema fingerprint (hex) in a single-object encoded value's header."""
    return rec.raw_value[2:10].hex()


def key_fingerprint(rec: Record) -> str:
    return rec.raw_key[2:10].hex()


def resolve(dec: Decoder, rec: Record, reader_fp: str):
    """Decode rec's value (written with the schema in its header) with the reader schema
    reader_fp: Avro schema resolution, as a consumer that upgraded to the newest schema
    reads old messages. Raises fastavro's SchemaResolutionError when Avro cannot."""
    writer = dec.schema_for(fingerprint(rec)).parsed_raw
    reader = dec.schema_for(reader_fp).parsed_raw
    buf = io.BytesIO(rec.raw_value[10:])
    v = fastavro.schemaless_reader(buf, writer, reader, return_named_type=True)
    assert buf.tell() == len(rec.raw_value) - 10, "trailing bytes after the datum"
    return _unwrap(v)


def row_fields(dec: Decoder, fp: str) -> list[dict]:
    """The fields of the row record of an envelope schema (defined in `before`, referred
    to by name in `after`), as JSON."""
    env = dec.schema_for(fp).json
    before = next(f for f in env["fields"] if f["name"] == "before")
    return next(t for t in before["type"] if isinstance(t, dict))["fields"]


def col(name: str, type_: str, oid: int, key: bool = False, typmod: int = -1) -> dict:
    """One entry of a SchemaChange's old_columns/new_columns."""
    return {"name": name, "type": type_, "oid": oid, "typmod": typmod, "key": key}


INT = ("integer", 23)
BIGINT = ("bigint", 20)
TEXT = ("text", 25)


def columns(cols) -> list[tuple[str, str]] | None:
    """A column list of an event as [(name, type)] (None stays None)."""
    return None if cols is None else [(c["name"], c["type"]) for c in cols]


def events_of(events: list[Record], table: str, schema: str = "public") -> list[Record]:
    """The events of one table, by the table the event names (or, for renames, its old
    name)."""
    return [e for e in events
            if (e.value["schema"], e.value["table"]) == (schema, table)
            or (e.value.get("old_schema"), e.value.get("old_table")) == (schema, table)]


def table_oid(db, table: str) -> int:
    return int(db.scalar("SELECT %s::regclass::oid::bigint", (table,)))


def check_event_source(ev: Record, db, prefix: str, table: str, *, txn: Txn | None = None,
                       row: Record | None = None, schema: str = "public") -> None:
    """The source block of a schema-change event. txn: the transaction that carried the
    event (DDL captured by the trigger): xid, commit LSN and time within it. row: the
    first row of the transaction that carried it (a shape seen with the next row): same
    transaction, commit LSN and time as that row, and the event's LSN not after it."""
    s = ev.value["source"]
    assert (s["connector"], s["name"], s["db"]) == ("wal2kafka", prefix, db.name)
    assert (s["schema"], s["table"]) == (schema, table)
    assert s["snapshot"] is False
    assert s["ts_ms"] == s["ts_us"] // 1000
    assert ev.timestamp == s["ts_ms"], "Kafka timestamp = commit time"
    assert s["lsn"] is not None and s["commit_lsn"] is not None
    if txn is not None:
        assert s["txId"] == txn.xid
        # a logical message's LSN is the end of its WAL record (PostgreSQL's decode.c
        # queues it at buf->endptr): when COMMIT follows it directly, the commit LSN
        assert txn.lsn_begin < s["lsn"] <= s["commit_lsn"], \
            (format_lsn(txn.lsn_begin), format_lsn(s["lsn"]), format_lsn(s["commit_lsn"]))
        assert txn.lsn_before_commit <= s["commit_lsn"] < txn.lsn_after_commit
        assert txn.t_before_commit <= s["ts_us"] <= txn.t_after_commit
    if row is not None:
        r = row.value["source"]
        assert s["txId"] == r["txId"]
        assert s["commit_lsn"] == r["commit_lsn"]
        assert s["ts_us"] == r["ts_us"]
        assert s["lsn"] <= r["lsn"], "announced no later than the first row of the new shape"


# ------------------------------------------------------------------------- folding


def fold(records: list[Record], key: str | None = None) -> dict:
    """A table's state from its topic read in order: per key the last `after`; a delete
    or tombstone removes the key. Keys are the key record's values (a tuple when the key
    has several columns, the value itself for one; `key` picks one field)."""
    state: dict = {}
    for r in records:
        k = _k(r.key, key)
        if r.value is None or r.value["after"] is None:
            state.pop(k, None)
        else:
            state[k] = r.value["after"]
    return state


def _k(keyrec: dict, key: str | None):
    if key is not None:
        return keyrec[key]
    vals = tuple(keyrec.values())
    return vals[0] if len(vals) == 1 else vals


# --------------------------------------------------------------------------- slots


def consistent_point(conn) -> int:
    """The consistent point of the slot this connector created, from its log line
    'created replication slot S at LSN' (the LSN CREATE_REPLICATION_SLOT returned; the
    slot's confirmed_flush_lsn in pg_replication_slots starts there, then moves on)."""
    m = re.search(rf"created replication slot {re.escape(conn.slot)} at ([0-9A-F]+/[0-9A-F]+)",
                  conn.log())
    assert m, f"no 'created replication slot {conn.slot}' in the log"
    return parse_lsn(m.group(1))


# ------------------------------------------------- commits decoded before visible


class HeldCommit:
    """A transaction whose COMMIT is held after its commit record was flushed: logical
    decoding reads and streams it, but other sessions do not see it yet, exactly the
    window PostgreSQL has between writing a commit record and taking the transaction out
    of the proc array (normally microseconds). Made wide on purpose with synchronous
    replication to a standby that never comes (see held_commits); release() cancels the
    wait (the transaction is committed locally, PostgreSQL warns) and it becomes
    visible."""

    def __init__(self, db, *stmts):
        self.db = db
        self.stmts = stmts
        self.pid: int | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            with self.db.connect(autocommit=False) as c:
                c.execute("SET synchronous_commit = remote_write")
                self.pid = c.info.backend_pid
                for s in self.stmts:
                    c.execute(*s) if isinstance(s, tuple) else c.execute(s)
                self.xid = int(c.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
                c.commit()  # held here until release()
        except BaseException as e:
            self.error = e
        finally:
            self.done.set()

    def start(self, timeout: float = 30.0) -> "HeldCommit":
        """Run the statements and COMMIT; return once the commit is flushed and held."""
        self._thread.start()
        wait_until(lambda: self.error or self.done.is_set() or (self.pid and self.db.scalar(
            "SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = %s", (self.pid,))),
            timeout, "the COMMIT to be flushed and held")
        if self.error:
            raise self.error
        assert not self.done.is_set(), "the COMMIT was not held (synchronous replication off?)"
        return self

    def release(self, timeout: float = 30.0) -> None:
        if self.pid is not None and not self.done.is_set():
            self.db.scalar("SELECT pg_cancel_backend(%s)", (self.pid,))
        if not self.done.wait(timeout):
            raise TimeoutError("the held COMMIT did not finish after its release")
        if self.error:
            raise self.error


class held_commits:
    """Context manager: while active, a HeldCommit's COMMIT is flushed to the WAL (so the
    slot decodes and streams it) and then waits, invisible to other sessions, until
    released. How: synchronous_standby_names names a standby that never connects
    (server-wide, ALTER SYSTEM + reload, reset on exit); every other session of the
    test's database runs with synchronous_commit = local (a database default, so set it
    before wal2kafka connects: use database_local_commits first), and only a HeldCommit
    asks for remote_write. Autovacuum always commits locally. Sessions of other databases
    must not commit with synchronous_commit = on meanwhile: the tests run one at a time."""

    def __init__(self, pg):
        self.pg = pg

    def _set(self, value: str | None) -> None:
        if value is None:
            self.pg.execute("ALTER SYSTEM RESET synchronous_standby_names")
        else:
            self.pg.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{value}'")
        self.pg.execute("SELECT pg_reload_conf()")
        want = value or ""
        wait_until(lambda: self.pg.scalar("SHOW synchronous_standby_names") == want, 30,
                   f"synchronous_standby_names = {want!r} after the reload")

    def __enter__(self):
        self._set("w2k_standby_that_never_comes")
        return self

    def __exit__(self, *exc):
        self._set(None)


def database_local_commits(db) -> None:
    """synchronous_commit = local for new sessions of db (wal2kafka's included)."""
    db.execute(f'ALTER DATABASE "{db.name}" SET synchronous_commit = local')


# --------------------------------------------------------------------------- writers


class MixedWriter:
    """A writer thread for tables (id int PRIMARY KEY, version int): each transaction
    updates 1..max_rows random existing keys (version = version + 1, in key order) and,
    with probability insert_ratio, inserts a new key (version 0). Every committed
    transaction is recorded as a Txn (xid, LSN and time bounds) in `txns`, with the keys
    it wrote in `writes` (same index). Runs until stop()."""

    def __init__(self, db, table: str, keys: list[int], *, max_rows: int = 3,
                 insert_ratio: float = 0.3, next_key: int | None = None, seed: int = 7):
        import random
        self.db, self.table = db, table
        self.keys = sorted(keys)
        self.next_key = next_key if next_key is not None else (max(keys) + 1 if keys else 1)
        self.max_rows, self.insert_ratio = max_rows, insert_ratio
        self.rng = random.Random(seed)
        self.txns: list[Txn] = []
        self.writes: list[list[tuple[str, int]]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "MixedWriter":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with self.db.connect(autocommit=False) as c:
                while not self._stop.is_set():
                    n = self.rng.randint(1, min(self.max_rows, len(self.keys)))
                    ks = sorted(self.rng.sample(self.keys, n))
                    stmts = [(f"UPDATE {self.table} SET version = version + 1 WHERE id = %s", (k,))
                             for k in ks]
                    w = [("u", k) for k in ks]
                    new = None
                    if self.rng.random() < self.insert_ratio:
                        new = self.next_key
                        stmts.append((f"INSERT INTO {self.table} (id, version) VALUES (%s, 0)",
                                      (new,)))
                        w.append(("c", new))
                    txn = run_txn(self.db, *stmts, conn=c)
                    if new is not None:
                        self.keys.append(new)
                        self.next_key += 1
                    self.txns.append(txn)
                    self.writes.append(w)
        except BaseException as e:  # reported by stop()/wait_*
            self.error = e

    def wait_txns(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.txns) < n:
            if self.error:
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer committed {len(self.txns)} of {n} in {timeout}s")
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        if self.error:
            raise self.error
        return len(self.txns)


def check_contiguous(records: list[Record], final: dict, *, version: str = "version",
                     allow_repeat: Callable[[Record], bool] = lambda r: r.op == "r") -> dict:
    """Per key, in topic order: versions never go backwards; after a key's first record
    each record is the next version (+1), or the same version again for records
    allow_repeat accepts (by default snapshot reads); the last equals final[key]; keys
    without a final version (deleted) may not appear at all.

    Returns {key: [versions]} for further checks."""
    seen: dict = {}
    for r in records:
        if r.value is None:
            continue
        k = r.key["id"]
        v = r.value["after"][version]
        if k in seen:
            prev = seen[k][-1]
            assert v >= prev, f"key {k}: version {v} after {prev} ({r.op}, offset {r.offset})"
            assert v == prev + 1 or (v == prev and allow_repeat(r)), (
                f"key {k}: version {v} after {prev} ({r.op}, offset {r.offset}): "
                + ("a change is missing" if v > prev + 1 else "a duplicate"))
        seen.setdefault(k, []).append(v)
    assert set(seen) == set(final), (
        f"keys missing from the topic: {sorted(set(final) - set(seen))[:20]}, "
        f"unexpected: {sorted(set(seen) - set(final))[:20]}")
    wrong = {k: (seen[k][-1], final[k]) for k in final if seen[k][-1] != final[k]}
    assert not wrong, f"last version in the topic != the table's (topic, table): {dict(list(wrong.items())[:20])}"
    return seen


# --------------------------------------------------------------------------- Kafka


def set_topic_config(kafka, topic: str, config: dict, timeout: float = 30.0) -> None:
    """Set topic configs (incrementalAlterConfigs SET), leaving the others as they are."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry(k, str(v), incremental_operation=AlterConfigOpType.SET)
        for k, v in config.items()])
    admin = kafka.admin()  # must outlive the future
    admin.incremental_alter_configs([res])[res].result(timeout)


def log_segments(kafka, topic: str, partition: int = 0) -> list[str] | None:
    """The segment files (*.log) of a partition in the broker's data dir, when the test
    knows it (a broker started by the tests, or W2K_KAFKA_DIR); else None."""
    if kafka.dir is None:
        return None
    d = os.path.join(str(kafka.dir), "data", f"{topic}-{partition}")
    try:
        return sorted(f for f in os.listdir(d) if f.endswith(".log"))
    except OSError:
        return None


# ------------------------------------------------------------------------ processes


@dataclass
class PtyRun:
    """A process whose stdout+stderr is a pseudo-terminal; `output` accumulates what it
    wrote (bytes), read by a thread."""
    proc: Any
    master: int
    output: bytearray = field(default_factory=bytearray)
    _thread: Any = None

    def text(self) -> str:
        return bytes(self.output).decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        if self._thread is not None:
            self._thread.join(10)
        try:
            os.close(self.master)
        except OSError:
            pass


def run_on_pty(argv: list[str], env: dict) -> PtyRun:
    """Start argv with stdout and stderr on a new pseudo-terminal (so isatty() is true)."""
    import pty
    import subprocess
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    run = PtyRun(proc, master)

    def pump():
        while True:
            try:
                b = os.read(master, 65536)
            except OSError:  # EIO: the child side closed
                return
            if not b:
                return
            run.output.extend(b)

    run._thread = threading.Thread(target=pump, daemon=True)
    run._thread.start()
    return run
