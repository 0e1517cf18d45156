"""Helpers for the reliability tests (test_faults_*.py, test_errors.py, test_check.py).

    from w2k_faults import Rig, rig, MultiWriter, ScratchPostgres, record_result, ...

Rig: a PostgreSQL and a Kafka broker of their own (restarting or killing them does not
    disturb other tests), each reachable directly and through a TcpProxy the test
    controls. The broker has a second listener, PROXIED, whose advertised address is the
    proxy: a client bootstrapped at rig.kafka_proxy.address talks to the broker only
    through the proxy, while test clients (rig.kafka.bootstrap) go straight to it.
    One Rig per pytest process, started on first use (the `rig` fixture), stopped with
    the other servers at the end of the session.
MultiWriter: a steady writer of numbered changes (version = version + 1) over several
    tables, at a fixed rate, that outlives PostgreSQL restarts (it reconnects).
ScratchPostgres: a throwaway PostgreSQL with settings of the test's choosing
    (wal_level = replica, few slots, ...), optionally on a given port.
slot_confirmed_on_disk: a logical slot's confirmed_flush as PostgreSQL will restore it
    after a restart (read from pg_replslot/<slot>/state while the server is down).
rss / RssSampler: VmRSS / VmHWM of a process.
first_append_after: the broker's append time (message.timestamp.type = LogAppendTime)
    of the first message written after a moment: how long streaming took to come back.
record_result: write measured numbers to integration/results/<name>.json and .md.
"""

from __future__ import annotations

import json
import os
import random
import struct
import threading
import time
from pathlib import Path

import pytest

import servers
from servers import Database, Kafka, Postgres, free_ports
from tcpproxy import TcpProxy
from w2k import Connector, Decoder, TopicReader, slot_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RUN_ID = time.strftime("%Y-%m-%dT%H:%M:%S")

# The product's defaults for reconnection (config/wal2kafka.cfg): the fault tests measure
# what a user gets, not a tuned configuration.
DEFAULT_RETRY = {"initial_backoff_ms": 500, "max_backoff_ms": 30000, "max_attempts": 0,
                 "max_duration_s": 600}


# --------------------------------------------------------------------------- servers


class ProxiedKafka(Kafka):
    """A broker whose kafka.sh runs with extra environment (W2K_KAFKA_EXTRA_CONFIG,
    W2K_KAFKA_ADD_SCRAM): the session broker's API, other listeners."""

    def __init__(self, *a, script_env: dict | None = None, **kw):
        super().__init__(*a, **kw)
        self.script_env = dict(script_env or {})

    def _script(self, *args, timeout: float = 240) -> str:
        if self.dir is None:
            raise servers.ServerError(f"{self!r}: no broker dir")
        return servers._run("kafka.sh", *args, timeout=timeout, env=self.script_env)


def start_kafka(extra_config: str = "", scram: str = "", port: int | None = None,
                controller_port: int | None = None) -> ProxiedKafka:
    """A new managed broker with extra server.properties lines (and SCRAM users)."""
    k = ProxiedKafka(port=port, controller_port=controller_port)
    k.dir = servers.make_server_dir("kafka")
    env = {}
    if extra_config:
        f = k.dir / "extra.properties"
        f.write_text(extra_config.format(port=k.port, controller_port=k.controller_port))
        env["W2K_KAFKA_EXTRA_CONFIG"] = str(f)
    if scram:
        env["W2K_KAFKA_ADD_SCRAM"] = scram
    k.script_env = env
    return k.start()


class Rig:
    """Dedicated PostgreSQL + Kafka, each also behind a TcpProxy."""

    def __init__(self):
        self.pg = Postgres()
        self.pg.start()
        self.pg_proxy = TcpProxy(self.pg.host, self.pg.port).start()
        broker_port, ctl_port, proxied_port = free_ports(3)
        self.kafka_proxy = TcpProxy("127.0.0.1", proxied_port)
        extra = (
            "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
            f"PROXIED://127.0.0.1:{proxied_port}\n"
            "advertised.listeners=PLAINTEXT://127.0.0.1:{port},"
            f"PROXIED://127.0.0.1:{self.kafka_proxy.port}\n"
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "PROXIED:PLAINTEXT\n")
        self.kafka = start_kafka(extra, port=broker_port, controller_port=ctl_port)
        self.kafka_proxy.start()

    def pg_conninfo(self, db: Database, proxied: bool = True, **extra) -> str:
        port = self.pg_proxy.port if proxied else self.pg.port
        s = f"host=127.0.0.1 port={port} dbname={db.name} user={self.pg.user} sslmode=disable"
        return s + "".join(f" {k}={v}" for k, v in extra.items())

    def database(self, name: str) -> Database:
        return self.pg.create_database(name)

    def connector(self, binary, db: Database, tables, prefix: str, *, workdir, settings=None,
                  proxied: bool = True, **kw) -> Connector:
        """A Connector of this rig: PostgreSQL and Kafka through the proxies (proxied)."""
        base = {"postgresql": {"conninfo": self.pg_conninfo(db, proxied)},
                "retry": dict(DEFAULT_RETRY)}
        from w2k import _merge
        return Connector(binary, db, self.kafka, tables, prefix, workdir=workdir,
                         settings=_merge(base, settings or {}),
                         bootstrap=self.kafka_proxy.address if proxied else self.kafka.bootstrap,
                         **kw)

    def healthy(self) -> None:
        """Bring both servers and proxies back (after a test that failed mid-fault)."""
        self.pg_proxy.resume()
        self.pg_proxy.blackhole(False)
        self.pg_proxy.accept()
        self.kafka_proxy.resume()
        self.kafka_proxy.blackhole(False)
        self.kafka_proxy.accept()
        if not self.pg.is_running():
            self.pg.start()
        if not self.kafka.is_running():
            self.kafka.start()

    def destroy(self) -> None:
        for p in (self.pg_proxy, self.kafka_proxy):
            p.stop()
        self.kafka.destroy()
        self.pg.destroy()


_rig: Rig | None = None
_rig_lock = threading.Lock()


def get_rig() -> Rig:
    global _rig
    with _rig_lock:
        if _rig is None:
            _rig = Rig()
        return _rig


@pytest.fixture
def rig():
    """The process's Rig (started on first use), healthy again after the test."""
    r = get_rig()
    r.healthy()
    yield r
    r.healthy()


class ScratchPostgres:
    """A throwaway PostgreSQL: `with ScratchPostgres(settings={...}) as pg:`. settings go
    through ALTER SYSTEM (a restart follows when given), so they win over pg.sh's."""

    def __init__(self, settings: dict | None = None, port: int | None = None):
        self.settings = settings or {}
        self.pg = Postgres(port=port)

    def __enter__(self) -> Postgres:
        self.pg.start()
        if self.settings:
            with self.pg.connect() as c:
                for k, v in self.settings.items():
                    c.execute(f"ALTER SYSTEM SET {k} = '{v}'")
            self.pg.restart("fast")
        return self.pg

    def __exit__(self, *exc):
        self.pg.destroy()


def slot_confirmed_on_disk(pg: Postgres, slot: str) -> int:
    """confirmed_flush of a logical slot as saved in DATA/pg_replslot/<slot>/state (what
    PostgreSQL restores at its next start). Read it while the server is stopped."""
    data = (pg.dir / "data" / "pg_replslot" / slot / "state").read_bytes()
    magic, _crc, _version, _length = struct.unpack_from("<IIII", data, 0)
    assert magic == 0x1051CA1, f"not a replication slot state file (magic {magic:#x})"
    name = data[16:80].split(b"\0", 1)[0].decode()
    assert name == slot, f"state file names slot {name!r}"
    # ReplicationSlotPersistentData (PostgreSQL 15): name[64], database, persistency, xmin,
    # catalog_xmin (4 bytes each), restart_lsn, invalidated_at, confirmed_flush (8 bytes)
    (confirmed,) = struct.unpack_from("<Q", data, 16 + 96)
    return confirmed


# ------------------------------------------------------------------------ workload


class MultiWriter:
    """Commits transactions at `rate` per second, each setting version = version + 1 on
    1..max_rows random (table, key) rows, until stop(). Survives PostgreSQL restarts and
    connection losses: it reconnects and goes on (a commit whose outcome is unknown is
    resolved by reading the tables at the end). `committed` counts known commits;
    `commit_log` holds (time.time(), committed) after each commit."""

    def __init__(self, db: Database, tables: list[str], keys: int, *, rate: float = 100.0,
                 max_rows: int = 3, seed: int = 1, dsn: str | None = None):
        self.db, self.tables, self.keys = db, tables, keys
        self.rate, self.max_rows = rate, max_rows
        self.dsn = dsn or db.dsn()
        self.rng = random.Random(seed)
        self.committed = 0
        self.rows = 0
        self.lost_connections = 0
        self.commit_log: list[tuple[float, int]] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="multiwriter")

    def start(self) -> "MultiWriter":
        self._thread.start()
        return self

    def _connect(self):
        import psycopg
        while not self._stop.is_set():
            try:
                return psycopg.connect(self.dsn, autocommit=False, connect_timeout=3)
            except psycopg.OperationalError:
                time.sleep(0.05)
        return None

    def _run(self) -> None:
        import psycopg
        period = 1.0 / self.rate
        next_at = time.monotonic()
        conn = None
        try:
            while not self._stop.is_set():
                if conn is None:
                    conn = self._connect()
                    if conn is None:
                        break
                    next_at = time.monotonic()
                rows = sorted({(self.rng.choice(self.tables), self.rng.randint(1, self.keys))
                               for _ in range(self.rng.randint(1, self.max_rows))})
                try:
                    for t, k in rows:
                        conn.execute(f"UPDATE {t} SET version = version + 1 WHERE id = %s", (k,))
                    conn.commit()
                except (psycopg.OperationalError, psycopg.errors.AdminShutdown,
                        psycopg.errors.CrashShutdown, psycopg.errors.CannotConnectNow,
                        psycopg.InterfaceError):
                    self.lost_connections += 1
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                    continue
                self.committed += 1
                self.rows += len(rows)
                self.commit_log.append((time.time(), self.committed))
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind: do not burst to catch up
        except BaseException as e:
            self.error = e
        finally:
            if conn is not None:
                conn.close()

    def check(self) -> None:
        if self.error:
            raise self.error

    def wait_committed(self, n: int, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while self.committed < n:
            self.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"writer committed {self.committed} of {n} in {timeout}s")
            time.sleep(0.02)

    def wait_more(self, n: int, timeout: float = 60.0) -> None:
        self.wait_committed(self.committed + n, timeout)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        self.check()
        return self.committed


def create_versioned_tables(db: Database, tables: list[str], keys: int) -> None:
    for t in tables:
        db.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, version int NOT NULL)")
        db.execute(f"INSERT INTO {t} SELECT i, 0 FROM generate_series(1, {keys}) i")


def final_versions(db: Database, table: str) -> dict:
    return dict(db.execute(f"SELECT id, version FROM {table}"))


def create_table_topics(kafka: Kafka, topics: list[str], partitions: int = 3,
                        log_append_time: bool = True) -> None:
    """Create table topics the way wal2kafka would (compacted, 24 h lag), with the broker's
    append time as message timestamp: then every message says when it reached Kafka."""
    cfg = {"cleanup.policy": "compact", "min.compaction.lag.ms": 86400000}
    if log_append_time:
        cfg["message.timestamp.type"] = "LogAppendTime"
    for t in topics:
        kafka.create_topic(t, partitions, cfg)


def read_topic(kafka: Kafka, prefix: str, topic: str, timeout: float = 120):
    """Every record of topic (decoded, read_committed), to the end of each partition."""
    dec = Decoder(kafka, prefix)
    with TopicReader(kafka, dec, topic) as r:
        return list(r.read(None, timeout))


def first_append_after(records, t: float) -> float | None:
    """Seconds from t (time.time()) to the first record appended at or after t, by the
    broker's LogAppendTime (ms); None if nothing was appended after t."""
    after = [r.timestamp for r in records if r.timestamp >= int(t * 1000)]
    if not after:
        return None
    return min(after) / 1000.0 - t


# ------------------------------------------------------------------------ processes


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, VmSize ... of /proc/PID/status in kB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k.startswith("Vm"):
                out[k] = int(v.split()[0])
    return out


def rss_kb(pid: int) -> int:
    return proc_status(pid)["VmRSS"]


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.2):
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []  # (time.monotonic(), kB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), rss_kb(self.pid)))
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def start(self) -> "RssSampler":
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(5)
        return self.samples

    def between(self, t0: float, t1: float) -> list[int]:
        return [kb for t, kb in self.samples if t0 <= t <= t1]


def wait_until(cond, timeout: float, what: str, interval: float = 0.05, proc=None):
    """Poll cond() until it returns a truthy value (returned); TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if proc is not None:
            proc.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} (waited {timeout}s)"
                               + (f"\n--- connector log ---\n{proc.log_tail()}" if proc else ""))
        time.sleep(interval)


def wait_slot_inactive(db: Database, slot: str, timeout: float = 30.0) -> dict:
    def inactive():
        info = slot_info(db, slot)
        return info if info is not None and not info["active"] else None
    return wait_until(inactive, timeout, f"slot {slot} still active")


def wait_slot_active(db: Database, slot: str, timeout: float = 30.0) -> dict:
    def active():
        info = slot_info(db, slot)
        return info if info is not None and info["active"] else None
    return wait_until(active, timeout, f"slot {slot} not active")


# ------------------------------------------------------------------------- results


def record_result(name: str, key: str, data: dict, title: str | None = None) -> Path:
    """Store data under key in integration/results/<name>.json (the last 20 measurements
    per key, newest last, each stamped with this run's start time) and rewrite
    integration/results/<name>.md as a table of them."""
    RESULTS.mkdir(exist_ok=True)
    jf = RESULTS / f"{name}.json"
    import fcntl
    # the results directory itself is the lock (concurrent pytest processes): no lock
    # file left behind
    lock = os.open(RESULTS, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            doc = json.loads(jf.read_text()) if jf.exists() else {}
        except ValueError:
            doc = {}
        doc.setdefault("title", title or name)
        entries = doc.setdefault("results", {}).setdefault(key, [])
        entries.append({"run": RUN_ID, **data})
        del entries[:-20]
        # the longest recovery over every case and run kept here
        worst = None
        for k, es in doc["results"].items():
            for e in es:
                v = e.get("recovery_s")
                if isinstance(v, (int, float)) and (worst is None or v > worst[0]):
                    worst = (v, k, e.get("run"))
        if worst:
            doc["summary"] = {"longest_recovery_s": worst[0],
                              "longest_recovery_case": f"{worst[1]} (run {worst[2]})",
                              "runs": len({e.get("run") for es in doc["results"].values()
                                           for e in es})}
        jf.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        _write_markdown(name, doc)
    finally:
        os.close(lock)  # releases the lock
    return jf


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def _write_markdown(name: str, doc: dict) -> None:
    lines = [f"# {doc.get('title', name)}", "",
             f"Written by the integration tests (integration/w2k_faults.py record_result); "
             f"the raw numbers are in {name}.json.", ""]
    results = doc.get("results", {})
    cols: list[str] = []
    for entries in results.values():
        for e in entries:
            for k in e:
                if k not in cols and k != "run":
                    cols.append(k)
    lines.append("| case | run | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for key in sorted(results):
        for e in results[key]:
            lines.append(f"| {key} | {e.get('run', '')} | "
                         + " | ".join(_fmt(e.get(c, "")) for c in cols) + " |")
    summary = doc.get("summary")
    if summary:
        lines += ["", "## Summary", ""] + [f"- {k}: {_fmt(v)}" for k, v in summary.items()]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def broker_ready(kafka: Kafka, topic: str, transactional: bool = False,
                 timeout: float = 120.0) -> float:
    """Wait until a new producer can write to `topic` (with transactional=True: commit a
    Kafka transaction to it), i.e. the broker really serves writes again after a restart;
    returns time.time() of the acknowledgement. A fresh client has no reconnect backoff,
    so this is when the broker became able to take what wal2kafka sends."""
    from confluent_kafka import KafkaException, Producer
    deadline = time.monotonic() + timeout
    conf = {"bootstrap.servers": kafka.bootstrap, "enable.idempotence": True, "acks": "all",
            "reconnect.backoff.max.ms": 100, "message.timeout.ms": 5000}
    if transactional:
        conf["transactional.id"] = f"w2k-probe-{os.getpid()}"
    while True:
        p = Producer(conf)
        try:
            if transactional:
                p.init_transactions(10)
                p.begin_transaction()
            acked = []
            p.produce(topic, b"probe", on_delivery=lambda err, m: acked.append(err))
            if transactional:
                p.commit_transaction(10)
            else:
                p.flush(6)
            if transactional or (acked and acked[0] is None):
                return time.time()
        except KafkaException:
            pass
        finally:
            del p
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker at {kafka.bootstrap} takes no writes to {topic}")
        time.sleep(0.05)
