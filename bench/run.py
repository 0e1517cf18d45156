#!/usr/bin/env python3
"""wal2kafka benchmark: raw slot reader vs wal2kafka vs Debezium, same servers, same data.

Run it through bench/run.sh (which installs what it needs); see bench/README.md.

    bench/run.py [--quick] [--name NAME] [--phases LIST] [--no-debezium] [--keep]

Starts its own PostgreSQL 15 and Kafka broker (integration/servers/*.sh) in a
temporary directory, runs every measurement with each contender one after the
other on the same data, and writes bench/results/NAME.md (+ NAME.json and PNG
charts). Everything it starts is stopped, and its temporary directory removed,
on success, failure and Ctrl-C.

Internal sub-commands (started by the benchmark itself as separate processes,
so that they do not share a GIL with the measurement loop): _writer, _consumer,
_fanout.
"""

from __future__ import annotations

import argparse
import array
import datetime
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "integration"))

HOST = "127.0.0.1"
PORT_LO, PORT_HI = 57000, 57999
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Debezium's settings: its recommended throughput settings (see bench/README.md).
DEBEZIUM_TUNING = {
    "max.batch.size": "8192",
    "max.queue.size": "32768",
    "poll.interval.ms": "100",
    "producer.override.linger.ms": "5",
    "producer.override.batch.size": "524288",
    "producer.override.compression.type": "lz4",
    "producer.override.acks": "all",
    "producer.override.enable.idempotence": "true",
}
CONNECT_HEAP = ["-Xms256m", "-Xmx2g"]  # connect-standalone.sh's defaults
W2K_KINDS = ("wal2kafka", "wal2kafka-eos", "wal2kafka-before", "wal2kafka-eos-before")
KIND_TAG = {"raw": "raw", "wal2kafka": "w2k", "wal2kafka-eos": "eos", "debezium": "dbz",
            "wal2kafka-before": "w2kb", "wal2kafka-eos-before": "eosb",
            "kafka": "kfl", "kafka-linger0": "kfl0", "kafka-eos": "kfle"}
# Latency contenders "kafka", "kafka-linger0" and "kafka-eos": bench/kfloor.c, Kafka's
# own floor (a bare librdkafka producer, no PostgreSQL) with linger.ms 5 (wal2kafka's
# default) / 0, and 5 with one Kafka transaction per tick (exactly-once's floor).
KFLOOR_ARGS = {"kafka": ["-l", "5"], "kafka-linger0": ["-l", "0"],
               "kafka-eos": ["-t", "-l", "5"]}
KFLOOR_VALUE_BYTES = 175  # wal2kafka's Avro value for the latency table: 177 B mean


def is_eos(kind: str) -> bool:
    """wal2kafka in exactly-once mode (this build's or --before's)."""
    return kind.startswith("wal2kafka-eos")

FULL = {
    "catchup": 1_000_000, "chunk": 100_000, "scale_tables": [1, 4, 16],
    "scale_events": [1_000_000, 5_000_000], "big_txn": 5_000_000, "big_txn_stream": 5_000_000,
    "big_txn_stream_mem": ["64MB"],
    "lat_rates": [10_000, 50_000], "lat_seconds": 60, "fan_groups": 100, "fan_rate": 1_000,
    "fan_seconds": 30, "fan_procs": 4, "warmup": 10, "dbz_timeout": 480, "lat_repeat": 1,
    "catchup_repeat": 1, "mt_tables": 10_000, "mt_rows": 20_000,
}
QUICK = {
    "catchup": 100_000, "chunk": 25_000, "scale_tables": [1, 4, 16],
    "scale_events": [100_000, 500_000], "big_txn": 500_000, "big_txn_stream": 500_000,
    "big_txn_stream_mem": ["64MB"],
    "lat_rates": [10_000, 50_000], "lat_seconds": 10, "fan_groups": 100, "fan_rate": 1_000,
    "fan_seconds": 10, "fan_procs": 4, "warmup": 3, "dbz_timeout": 300, "lat_repeat": 1,
    "catchup_repeat": 1, "mt_tables": 1_000, "mt_rows": 5_000,
}
ALL_PHASES = ["catchup", "inserts", "scaling", "bigtxn", "bigtxn_stream", "latency", "fanout",
              "profile", "features", "many_tables"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ processes


class Child:
    """A process we started, in its own session; stop() ends it and its group."""

    registry: list["Child"] = []

    def __init__(self, name: str, argv: list[str], *, env: dict | None = None,
                 cwd: str | Path | None = None, stdout=None, stderr=None,
                 stdin=subprocess.DEVNULL):
        self.name = name
        self.argv = argv
        self.rusage = None
        self.p = subprocess.Popen(argv, env={**os.environ, **(env or {})}, cwd=cwd,
                                  stdout=stdout, stderr=stderr, stdin=stdin,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.t_start = time.monotonic()
        Child.registry.append(self)

    def poll(self) -> int | None:
        if self.p.returncode is not None:
            return self.p.returncode
        try:
            pid, status, ru = os.wait4(self.pid, os.WNOHANG)
        except ChildProcessError:
            return self.p.poll()
        if pid == 0:
            return None
        self._reaped(status, ru)
        return self.p.returncode

    def _reaped(self, status: int, ru) -> None:
        self.rusage = ru
        self.p.returncode = os.waitstatus_to_exitcode(status)
        if self in Child.registry:
            Child.registry.remove(self)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rc = self.poll()
            if rc is not None:
                return rc
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} (pid {self.pid}) still runs after {timeout}s")
            time.sleep(0.02)

    def send(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> int | None:
        """Send sig; SIGKILL the whole group after timeout. Returns the exit code."""
        if self.poll() is None:
            self.send(sig)
            try:
                self.wait(timeout)
            except TimeoutError:
                log(f"{self.name} (pid {self.pid}) ignored {signal.Signals(sig).name} for "
                    f"{timeout}s: SIGKILL")
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    self.wait(10)
                except TimeoutError:
                    pass
        # Helpers it left in its group (none expected): end them too.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.p.returncode

    @classmethod
    def stop_all(cls) -> None:
        for c in list(reversed(cls.registry)):
            try:
                c.stop(timeout=15)
            except Exception as e:  # keep going
                log(f"stopping {c.name} failed: {e}")


def proc_cpu_s(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def proc_mem_kb(pid: int) -> tuple[int | None, int | None]:
    """(VmRSS, VmHWM) in kB."""
    rss = hwm = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, utime+stime in s) for every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
        except (OSError, IndexError, ValueError):
            pass
    return out


def _busy_s() -> float:
    """CPU time (all cores) the machine spent not idle, in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK  # minus idle and iowait


class ForeignCpu:
    """CPU time used by processes that are not ours (not this benchmark, its children,
    its PostgreSQL or its broker): other work on the machine that competes with the
    measurement. snapshot() ... delta() in core-seconds."""

    def __init__(self, roots: list[int]):
        self.roots = roots

    def _ours(self) -> float:
        tab = _proc_table()
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _) in tab.items():
            kids.setdefault(ppid, []).append(pid)
        seen, stack = set(), [r for r in self.roots if r in tab]
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            stack += kids.get(p, [])
        ours = sum(tab[p][1] for p in seen)
        ru = os.times()  # our reaped children's time too (e.g. a finished rawreader)
        return ours + ru.children_user + ru.children_system

    def snapshot(self) -> tuple[float, float, float]:
        return time.monotonic(), _busy_s(), self._ours()

    def cores(self, snap) -> float | None:
        """Average number of cores others used since snap."""
        t1, b1, o1 = self.snapshot()
        t0, b0, o0 = snap
        if t1 - t0 <= 0:
            return None
        return max(0.0, ((b1 - b0) - (o1 - o0)) / (t1 - t0))


class Sampler(threading.Thread):
    """Samples CPU time and RSS of some processes every `interval` seconds."""

    def __init__(self, pids: dict[str, int], interval: float = 0.1):
        super().__init__(daemon=True)
        self.pids = dict(pids)
        self.interval = interval
        self.t0 = time.monotonic()
        self.series: dict[str, list[tuple[float, float, int]]] = {k: [] for k in pids}
        self.peak_hwm: dict[str, int] = {}
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def add(self, key: str, pid: int) -> None:
        with self._lock:
            self.pids[key] = pid
            self.series.setdefault(key, [])

    def sample(self) -> dict[str, tuple[float | None, int | None, int | None]]:
        out = {}
        with self._lock:
            items = list(self.pids.items())
        now = time.monotonic() - self.t0
        for key, pid in items:
            cpu = proc_cpu_s(pid)
            rss, hwm = proc_mem_kb(pid)
            out[key] = (cpu, rss, hwm)
            if cpu is not None and rss is not None:
                self.series[key].append((now, cpu, rss))
            if hwm is not None:
                self.peak_hwm[key] = max(self.peak_hwm.get(key, 0), hwm)
        return out

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            self.sample()

    def finish(self) -> None:
        self._halt.set()
        self.join(5)


# ------------------------------------------------------------------ workload SQL

COLS = "id int PRIMARY KEY, b bigint, t text, n numeric(12,2), ts timestamptz, f boolean, " \
       "v varchar(32), j jsonb"


def ddl(table: str) -> str:
    return f"CREATE TABLE {table} ({COLS}) WITH (autovacuum_enabled = off)"


def insert_sql(table: str, lo: int, hi: int) -> str:
    return (f"INSERT INTO {table} SELECT g, g::bigint * 1000, md5(g::text), "
            f"((g % 100000) / 100.0)::numeric(12,2), now(), g % 2 = 0, 'v' || g, "
            f"jsonb_build_object('k', g, 's', 'x') FROM generate_series({lo}, {hi}) g")


def update_sql(table: str, lo: int, hi: int) -> str:
    return (f"UPDATE {table} SET b = b + 1, t = md5(t), n = n + 1, ts = now(), f = NOT f "
            f"WHERE id BETWEEN {lo} AND {hi}")


def delete_sql(table: str, lo: int, hi: int) -> str:
    return f"DELETE FROM {table} WHERE id BETWEEN {lo} AND {hi}"


def write_mix(db, tables: list[str], total: int, chunk: int) -> dict:
    """~60% inserts, 30% updates, 10% deletes, in transactions of ~chunk changes over all
    tables. Returns the exact counts per table and the WAL position after the last commit."""
    counts = {t: {"I": 0, "U": 0, "D": 0} for t in tables}
    next_id = {t: 1 for t in tables}
    done = 0
    t0 = time.monotonic()
    ntx = 0
    with db.connect() as conn:
        while done < total:
            this = min(chunk, total - done)
            per = max(this // len(tables), 10)
            with conn.transaction():
                for t in tables:
                    ins, upd = per * 6 // 10, per * 3 // 10
                    dele = per - ins - upd
                    lo = next_id[t]
                    r1 = conn.execute(insert_sql(t, lo, lo + ins - 1)).rowcount
                    r2 = conn.execute(update_sql(t, lo, lo + upd - 1)).rowcount
                    r3 = conn.execute(delete_sql(t, lo + upd, lo + upd + dele - 1)).rowcount
                    counts[t]["I"] += r1
                    counts[t]["U"] += r2
                    counts[t]["D"] += r3
                    next_id[t] += ins
                    done += r1 + r2 + r3
            ntx += 1
        end_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    return {"counts": counts, "changes": done, "transactions": ntx, "end_lsn": end_lsn,
            "seconds": time.monotonic() - t0}


def write_inserts(db, table: str, total: int, transactions: int) -> dict:
    """total single-row inserts (one change each) committed in `transactions` transactions."""
    t0 = time.monotonic()
    per = total // transactions
    with db.connect() as conn:
        for i in range(transactions):
            with conn.transaction():
                conn.execute(insert_sql(table, 1 + i * per, (i + 1) * per))
        end_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    n = per * transactions
    return {"counts": {table: {"I": n, "U": 0, "D": 0}}, "changes": n,
            "transactions": transactions, "end_lsn": end_lsn, "seconds": time.monotonic() - t0}


def write_big_txn(db, table: str, rows: int) -> dict:
    t0 = time.monotonic()
    with db.connect() as conn:
        with conn.transaction():
            n = conn.execute(insert_sql(table, 1, rows)).rowcount
        end_lsn = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
    return {"counts": {table: {"I": n, "U": 0, "D": 0}}, "changes": n, "transactions": 1,
            "end_lsn": end_lsn, "seconds": time.monotonic() - t0}


def expected_messages(counts: dict) -> dict[str, int]:
    """Messages per table topic: one per change, plus a tombstone per delete."""
    return {t: c["I"] + c["U"] + 2 * c["D"] for t, c in counts.items()}


# ------------------------------------------------------------------ Kafka helpers


class Incomplete(RuntimeError):
    """A connector did not deliver everything in time; carries how far it got."""

    def __init__(self, msg: str, messages: int, seconds: float):
        super().__init__(msg)
        self.messages = messages
        self.seconds = seconds


class Watermarks:
    """High watermarks of single-partition topics (what the broker has acknowledged).

    A topic is looked up by name (a metadata request) until it exists: librdkafka
    would otherwise keep a "no such topic" answer until its next metadata refresh."""

    def __init__(self, bootstrap: str, committed: bool = False):
        from confluent_kafka import Consumer
        # read_committed: the end offset is the last stable offset (what a
        # read_committed consumer can see: committed Kafka transactions).
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "w2k-bench-watermarks",
                           "enable.auto.commit": False,
                           "isolation.level": "read_committed" if committed else
                           "read_uncommitted"})
        self.known: set[str] = set()

    def total(self, topics: list[str]) -> int:
        from confluent_kafka import TopicPartition
        n = 0
        for t in topics:
            if t not in self.known:
                try:
                    md = self.c.list_topics(t, timeout=2).topics.get(t)
                except Exception:
                    continue
                if md is None or md.error is not None or not md.partitions:
                    continue
                self.known.add(t)
            try:
                _, hi = self.c.get_watermark_offsets(TopicPartition(t, 0), timeout=2,
                                                     cached=False)
                n += max(hi, 0)
            except Exception:
                pass
        return n

    def close(self) -> None:
        self.c.close()


# ------------------------------------------------------------------ the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.sizes = dict(QUICK if args.quick else FULL)
        for kv in args.set:
            k, _, v = kv.partition("=")
            if k not in self.sizes:
                raise SystemExit(f"run.py: --set {k}: unknown size (known: {', '.join(FULL)})")
            self.sizes[k] = json.loads(v)
        self.tmp = Path(tempfile.mkdtemp(prefix="w2k-bench-", dir="/tmp"))
        self.tmp.chmod(0o755)
        self.results: dict = {"phases": {}, "errors": []}
        self.build = Path(args.build).resolve()
        self.w2k_bin = self.build / "wal2kafka"
        self.raw_bin = self.build / "w2k_rawreader"
        self.kfloor_bin = self.build / "w2k_kfloor"
        # --before DIR: an older build measured next to this one (catch-up, latency)
        self.before_bin = Path(args.before).resolve() / "wal2kafka" if args.before else None
        self.pg = None
        self.kafka = None
        self.db = None
        self.seq = 0
        self.debezium = not args.no_debezium
        # Exactly-once mode, when this wal2kafka has it (delivery.exactly_once).
        try:
            self.eos = not args.no_eos and b"exactly_once" in self.w2k_bin.read_bytes()
        except OSError:
            self.eos = False
        self.cache = Path(os.environ.get("W2K_CACHE", REPO / ".cache"))

    # -- servers

    def start_servers(self) -> None:
        from servers import Kafka, Postgres, free_ports
        pg_port, k_port, k_ctl, self.connect_port = free_ports(4, (PORT_LO + 432, PORT_HI))
        log(f"starting PostgreSQL on {HOST}:{pg_port} and Kafka on {HOST}:{k_port} in {self.tmp}")
        self.pg = Postgres(dir=self.tmp / "pg", port=pg_port).start()
        # Benchmark settings: no checkpoints or autovacuum in the middle of a run.
        for k, v in PG_SETTINGS.items():
            self.pg.execute(f"ALTER SYSTEM SET {k} = '{v}'")
        self.pg.restart()
        self.kafka = Kafka(dir=self.tmp / "kafka", port=k_port, controller_port=k_ctl).start()
        self.db = self.pg.create_database("bench")
        self.kafka_pid = int((self.tmp / "kafka" / "kafka.pid").read_text())
        pm = int((self.tmp / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        self.foreign = ForeignCpu([os.getpid(), pm, self.kafka_pid])

    def wait_quiet(self) -> float | None:
        """Wait (at most --wait-quiet seconds) until other processes use < 0.2 cores;
        returns the last measured foreign load."""
        deadline = time.monotonic() + self.args.wait_quiet
        quiet = 0
        load = None
        logged = False
        while True:
            snap = self.foreign.snapshot()
            time.sleep(1)
            load = self.foreign.cores(snap)
            quiet = quiet + 1 if load is not None and load < 0.2 else 0
            if quiet >= 3 or time.monotonic() >= deadline:
                return load
            if quiet == 0 and not logged:
                logged = True
                log(f"  waiting up to {self.args.wait_quiet:.0f} s for a quieter machine "
                    f"(others use {load:.2f} cores)")

    def stop_servers(self) -> None:
        for s in (self.kafka, self.pg):
            if s is not None:
                try:
                    s.destroy()
                except Exception as e:
                    log(f"destroying {s!r} failed: {e}")

    # -- slots and publications

    def name(self, prefix: str) -> str:
        self.seq += 1
        return f"{prefix}{self.seq}"

    def create_slot(self, slot: str, pub: str, tables: list[str]) -> None:
        tl = ", ".join(f"public.{t}" for t in tables)
        self.db.execute(f'CREATE PUBLICATION "{pub}" FOR TABLE {tl}')
        self.db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))

    def drop_slots(self) -> None:
        self.db.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                        "WHERE active_pid IS NOT NULL")
        time.sleep(0.3)
        for (s,) in self.db.execute("SELECT slot_name FROM pg_replication_slots") or []:
            try:
                self.db.execute("SELECT pg_drop_replication_slot(%s)", (s,))
            except Exception as e:
                log(f"could not drop slot {s}: {e}")

    def walsender_pid(self, slot: str, timeout: float = 60) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.db.scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                                 (slot,))
            if pid:
                return int(pid)
            time.sleep(0.05)
        return None

    # -- contenders

    def conninfo(self, transport: str) -> str:
        if transport == "unix":
            return self.pg.socket_dsn("bench")
        return f"host={HOST} port={self.pg.port} dbname=bench user=postgres"

    def run_raw(self, slot: str, pub: str, transport: str, changes: int, *, idle: float = 15,
                lat_file: Path | None = None, timeout: float = 3600) -> dict:
        argv = [str(self.raw_bin)]
        if lat_file:
            argv += ["-l", str(lat_file)]
        argv += [self.conninfo(transport), slot, pub, str(changes), str(idle)]
        out = self.tmp / f"raw-{slot}.json"
        with open(out, "w") as fo:
            c = Child(f"w2k_rawreader {slot}", argv, env={"PGPASSWORD": self.pg.password},
                      stdout=fo)
            sampler = Sampler({"proc": c.pid})
            sampler.start()
            ws = self.walsender_pid(slot, 30)
            if ws:
                sampler.add("walsender", ws)
            sampler.add("broker", self.kafka_pid)
            base = sampler.sample()
            try:
                rc = c.wait(timeout)
            finally:
                sampler.finish()
        res = json.loads(out.read_text().strip() or "{}")
        ru = c.rusage
        seconds = res.get("seconds_from_start") or 0
        # Its own getrusage/VmHWM: wait4's ru_maxrss would count the forked Python.
        cpu = res.get("cpu_s", (ru.ru_utime + ru.ru_stime) if ru else None)
        ws_series = sampler.series.get("walsender") or []
        ws_cpu = (ws_series[-1][1] - ws_series[0][1]) if len(ws_series) > 1 else None
        r = {
            "contender": "raw", "transport": transport, "exit": rc, "changes": res.get("changes"),
            "seconds": seconds, "seconds_steady": res.get("seconds"),
            "events_per_s": res["changes"] / seconds if seconds else None,
            "events_per_s_steady": res["changes"] / res["seconds"] if res.get("seconds") else None,
            "cpu_s": cpu, "peak_rss_kb": res.get("max_rss_kb") or sampler.peak_hwm.get("proc"),
            "walsender_cpu_s": ws_cpu, "bytes": res.get("bytes"),
            "rss_series": downsample(sampler.series.get("proc")),
            "latency": res.get("latency_ms"),
        }
        if base.get("broker") and base["broker"][0] is not None and sampler.series.get("broker"):
            r["broker_cpu_s"] = sampler.series["broker"][-1][1] - base["broker"][0]
        if rc != 0:
            r["error"] = f"rawreader exited {rc}"
        return r

    def wait_topics(self, proc: Child, sampler: Sampler, topics: list[str], expect: int,
                    timeout: float, what: str, transactional: bool = False) -> dict:
        """Poll topic end offsets until they reach expect. Returns timings and samples.

        transactional: the end offsets (last stable offsets) also count Kafka's
        transaction markers, so "done" is: at least expect, and unchanged for 1 s;
        the end time is when that final value was first seen."""
        wm = Watermarks(self.kafka.bootstrap, committed=transactional)
        reached = None
        t0 = proc.t_start
        first = None
        cpu_first = None
        last_n, last_change = 0, time.monotonic()
        try:
            while True:
                n = wm.total(topics)
                now = time.monotonic()
                if n and first is None:
                    first = now
                    s = sampler.sample()
                    cpu_first = s["proc"][0]
                if n != last_n:
                    last_n, last_change = n, now
                    if n >= expect and transactional:
                        reached = (now, sampler.sample())
                if n >= expect and not transactional:
                    s = sampler.sample()
                    return {"done": now, "first": first, "t0": t0, "messages": n,
                            "cpu_end": s["proc"][0], "cpu_first": cpu_first, "sample": s}
                if reached and now - reached[0] >= 1.0:
                    s = reached[1]
                    return {"done": reached[0], "first": first, "t0": t0, "messages": n,
                            "cpu_end": s["proc"][0], "cpu_first": cpu_first, "sample": s}
                if proc.poll() is not None:
                    raise RuntimeError(f"{what} exited with {proc.p.returncode} after {n} of "
                                       f"{expect} messages")
                if now - t0 > timeout:
                    raise Incomplete(f"{what}: {n:,} of {expect:,} messages after "
                                     f"{timeout:.0f} s (time limit)", n, now - t0)
                if n and now - last_change > 120:
                    raise Incomplete(f"{what}: stuck at {n:,} of {expect:,} messages for 120 s",
                                     n, now - t0)
                time.sleep(0.05)
        finally:
            wm.close()

    def w2k_config(self, name: str, tables: list[str], transport: str, eos: bool = False,
                   stream_extra: str = "", table_extra: str = "", before: bool = False,
                   conninfo_extra: str = "") -> Path:
        """stream_extra: settings added to the stream group; table_extra: settings of each
        table's entry (then written as a group { name = ...; }); conninfo_extra: added to
        postgresql.conninfo."""
        if table_extra:
            tl = ", ".join(f'{{ name = "public.{t}"; {table_extra} }}' for t in tables)
        else:
            tl = ", ".join(f'"public.{t}"' for t in tables)
        props = ""
        if self.args.w2k_property:
            props = " properties = [ " + ", ".join(f'"{p}"' for p in self.args.w2k_property) + \
                " ];"
        cfg = self.tmp / f"{name}.cfg"
        cfg.write_text(
            f'postgresql = {{ conninfo = "{self.conninfo(transport)}{conninfo_extra}"; }};\n'
            f'kafka = {{ bootstrap_servers = "{self.kafka.bootstrap}";{props} }};\n'
            + (f'delivery = {{ {"exactly_once = true; " if eos else ""}'
               f'{"" if before else self.args.w2k_delivery} }};\n'
               if eos or (self.args.w2k_delivery and not before) else '')
            + f'streams = ( {{ name = "{name}"; topic_prefix = "{name}"; {stream_extra} '
              f'tables = ( {tl} ); }} );\n')
        return cfg

    def start_w2k(self, name: str, tables: list[str], transport: str, eos: bool = False,
                  before: bool = False, **extra) -> Child:
        cfg = self.w2k_config(name, tables, transport, eos, before=before, **extra)
        logf = open(self.tmp / f"{name}.log", "w")
        binary = self.before_bin if before else self.w2k_bin
        c = Child(f"wal2kafka {name}", [str(binary), "run", "--config", str(cfg)],
                  env={"PGPASSWORD": self.pg.password}, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        return c

    def run_connector(self, kind: str, name: str, tables: list[str], transport: str,
                      counts: dict, *, timeout: float = 3600, perf: Path | None = None,
                      w2k_extra: dict | None = None) -> dict:
        """Start wal2kafka or Debezium on its (already filled) slot; measure until the
        broker holds every expected message (of the table topics). w2k_extra: settings
        for wal2kafka's configuration (w2k_config's stream_extra, table_extra)."""
        exp = expected_messages(counts)
        changes = sum(c["I"] + c["U"] + c["D"] for c in counts.values())
        if kind in W2K_KINDS:
            proc = self.start_w2k(name, tables, transport, eos=is_eos(kind),
                                  before=kind.endswith("-before"),
                                  **(w2k_extra or {}))
            slot = f"wal2kafka_{name}"
            topics = [f"{name}.public.{t}" for t in tables]
        else:
            proc = self.start_debezium(name, tables)
            slot = name
            topics = [f"{name}.public.{t}" for t in tables]
        sampler = Sampler({"proc": proc.pid, "broker": self.kafka_pid})
        sampler.start()
        base = sampler.sample()
        perf_proc = perf_cg = None
        r = {"contender": kind, "transport": transport, "changes": changes}
        ws_base = None
        try:
            ws = self.walsender_pid(slot, 180)
            if ws:
                sampler.add("walsender", ws)
                ws_base = proc_cpu_s(ws)
            if perf and ws:
                perf_proc = Child("perf record", ["perf", "record", "-F", "999", "-o",
                                                  str(perf), "-p", f"{proc.pid},{ws}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # Call graphs (DWARF unwinding: no frame pointers here), wal2kafka only.
                perf_cg = Child("perf record -g", [
                    "perf", "record", "-F", "299", "--call-graph", "dwarf,8192", "-o",
                    str(perf) + ".cg", "-p", str(proc.pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                r["pid"], r["walsender_pid"] = proc.pid, ws
            w = self.wait_topics(proc, sampler, topics, sum(exp.values()), timeout,
                                 f"{kind} {name}", transactional=is_eos(kind))
            seconds = w["done"] - w["t0"]
            steady = w["done"] - w["first"] if w["first"] else None
            cpu = w["cpu_end"]
            r.update({
                "messages": w["messages"], "seconds": seconds, "seconds_steady": steady,
                "startup_s": w["first"] - w["t0"] if w["first"] else None,
                "events_per_s": changes / seconds,
                "events_per_s_steady": changes / steady if steady else None,
                "cpu_s": cpu, "cpu_s_steady": (cpu - w["cpu_first"]) if w["cpu_first"] is not None
                else None,
                "peak_rss_kb": sampler.peak_hwm.get("proc"),
            })
            if ws and w["sample"].get("walsender") and w["sample"]["walsender"][0] is not None:
                r["walsender_cpu_s"] = w["sample"]["walsender"][0] - (ws_base or 0)
            if base.get("broker") and w["sample"].get("broker"):
                r["broker_cpu_s"] = w["sample"]["broker"][0] - base["broker"][0]
        except Exception as e:
            r["error"] = str(e)
            if isinstance(e, Incomplete):
                r["partial_messages"] = e.messages
                r["partial_seconds"] = e.seconds
                r["partial_events_per_s"] = e.messages / e.seconds if e.seconds else None
            s = sampler.sample()
            r["peak_rss_kb"] = sampler.peak_hwm.get("proc")
            r["cpu_s_at_error"] = s.get("proc", (None,))[0]
            log(f"  {kind} {name}: FAILED: {e}")
        finally:
            for pp in (perf_proc, perf_cg):
                if pp:
                    pp.stop(timeout=120, sig=signal.SIGINT)
            sampler.finish()
            rc = proc.stop(timeout=90)
            r["exit"] = rc
            r["rss_series"] = downsample(sampler.series.get("proc"))
            if kind in W2K_KINDS and rc not in (0, None) and "error" not in r:
                r["error"] = f"wal2kafka exited {rc} on SIGTERM"
            if kind in W2K_KINDS:
                r["log_tail"] = tail(self.tmp / f"{name}.log", 5)
        return r

    # -- Debezium

    def start_debezium(self, name: str, tables: list[str]) -> Child:
        d = self.tmp / f"dbz-{name}"
        d.mkdir()
        (d / "worker.properties").write_text("\n".join([
            f"bootstrap.servers={self.kafka.bootstrap}",
            f"listeners=http://{HOST}:{self.connect_port}",
            "key.converter=org.apache.kafka.connect.json.JsonConverter",
            "value.converter=org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable=false",
            "value.converter.schemas.enable=false",
            f"offset.storage.file.filename={d}/offsets",
            "offset.flush.interval.ms=1000",
            f"plugin.path={self.cache}/debezium/plugins",
            "connector.client.config.override.policy=All",
            "plugin.discovery=service_load",
            ""]))
        props = {
            "name": name,
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "plugin.name": "pgoutput",
            "database.hostname": HOST,
            "database.port": str(self.pg.port),
            "database.user": "postgres",
            "database.password": self.pg.password,
            "database.dbname": "bench",
            "topic.prefix": name,
            "table.include.list": ",".join(f"public.{t}" for t in tables),
            "slot.name": name,
            "publication.name": name,
            "publication.autocreate.mode": "filtered",
            "snapshot.mode": "no_data",
            "topic.creation.default.replication.factor": "1",
            "topic.creation.default.partitions": "1",
            **DEBEZIUM_TUNING,
        }
        (d / "connector.properties").write_text(
            "".join(f"{k}={v}\n" for k, v in props.items()))
        (d / "log4j2.properties").write_text(
            "status = warn\nappender.f.type = File\nappender.f.name = f\n"
            f"appender.f.fileName = {d}/connect.log\nappender.f.layout.type = PatternLayout\n"
            "appender.f.layout.pattern = %d{ISO8601} %-5p [%t] %c{1}: %m%n\n"
            "rootLogger.level = info\nrootLogger.appenderRef.f.ref = f\n")
        out = open(d / "stdout.log", "w")
        c = Child(f"Kafka Connect {name}",
                  ["java", *CONNECT_HEAP, "-XX:+UseG1GC", "-Djava.awt.headless=true",
                   f"-Dlog4j2.configurationFile={d}/log4j2.properties",
                   "-cp", f"{self.cache}/debezium/connect/*",
                   "org.apache.kafka.connect.cli.ConnectStandalone",
                   str(d / "worker.properties"), str(d / "connector.properties")],
                  cwd=d, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        return c

    # -- phases

    def phase_catchup(self) -> None:
        n = self.sizes["catchup"]
        res = self.catchup_run("catchup", ["t1"], n, transports=["tcp", "unix"], eos=True,
                               before=True, repeat=self.sizes["catchup_repeat"])
        self.results["phases"]["catchup"] = res

    def phase_inserts(self) -> None:
        """The core pipeline's figure: 1M single-row inserts committed in 10 transactions,
        first event read to last acknowledged, and the connector's peak RSS."""
        n = self.sizes["catchup"]
        res = self.catchup_run("inserts", ["t1"], n, transports=["tcp"], debezium=False,
                               inserts=10)
        self.results["phases"]["inserts"] = res

    def catchup_run(self, label: str, tables: list[str], n: int, transports: list[str],
                    debezium: bool = True, big_txn: bool = False, eos: bool = False,
                    inserts: int = 0, before: bool = False, repeat: int = 1) -> dict:
        """Fill every contender's slot with the same changes, then run each in turn.
        before: also --before's wal2kafka (at-least-once, and exactly-once over TCP);
        repeat: every contender but raw's last pass that many times, one slot each."""
        for t in tables:
            self.db.execute(f"DROP TABLE IF EXISTS {t}")
            self.db.execute(ddl(t))
        plan = []  # (kind, transport, slot/name)
        for tr in transports:
            plan.append(("raw", tr, self.name(f"raw{tr}")))
        for _ in range(repeat):
            for tr in transports:
                plan.append(("wal2kafka", tr, self.name(f"w2k{label}{tr}")))
                if before and self.before_bin:
                    plan.append(("wal2kafka-before", tr, self.name(f"w2kb{label}{tr}")))
            if eos and self.eos:
                plan.append(("wal2kafka-eos", "tcp", self.name(f"eos{label}")))
                if before and self.before_bin:
                    plan.append(("wal2kafka-eos-before", "tcp", self.name(f"eosb{label}")))
            if debezium and self.debezium:
                plan.append(("debezium", "tcp", self.name(f"dbz{label}")))
            if repeat > 1:
                for tr in transports:
                    plan.append(("raw", tr, self.name(f"raw{tr}")))
        # raw again, last: the ceiling must not depend on running first.
        plan.append(("raw", "tcp", self.name("rawtcp")))
        for kind, tr, name in plan:
            if kind in W2K_KINDS:
                self.create_slot(f"wal2kafka_{name}", f"wal2kafka_{name}", tables)
            else:
                self.create_slot(name, name, tables)
        log(f"{label}: writing {n:,} changes to {len(tables)} table(s)"
            + (" in one transaction" if big_txn else ""))
        if big_txn:
            w = write_big_txn(self.db, tables[0], n)
        elif inserts:
            w = write_inserts(self.db, tables[0], n, inserts)
        else:
            w = write_mix(self.db, tables, n, self.sizes["chunk"])
        log(f"{label}: wrote {w['changes']:,} changes in {w['transactions']} transaction(s), "
            f"{w['seconds']:.1f}s; WAL end {w['end_lsn']}")
        self.db.execute("CHECKPOINT")
        out = {"workload": {k: v for k, v in w.items()}, "runs": []}
        for kind, tr, name in plan:
            if self.args.wait_quiet:
                self.wait_quiet()
            log(f"{label}: {kind} over {tr} ({name})")
            snap = self.foreign.snapshot()
            if kind == "raw":
                r = self.run_raw(name, name, tr, w["changes"])
            else:
                limit = self.sizes["dbz_timeout"] if kind == "debezium" else 1800
                r = self.run_connector(kind, name, tables, tr, w["counts"], timeout=limit)
            r["others_cores"] = self.foreign.cores(snap)
            r["name"] = name
            if kind == "raw" and any(x["contender"] == "raw" and x["transport"] == tr
                                     for x in out["runs"]):
                r["pass"] = 2
            log(f"  -> {fmt_rate(r.get('events_per_s'))} events/s (steady "
                f"{fmt_rate(r.get('events_per_s_steady'))}), cpu {fmt(r.get('cpu_s'))} s, "
                f"peak RSS {fmt_mb(r.get('peak_rss_kb'))}, others {fmt(r.get('others_cores'), 2)} "
                f"cores" + (f" ERROR {r['error']}"
                                                             if r.get("error") else ""))
            out["runs"].append(r)
            self.drop_slot(name if kind not in W2K_KINDS else f"wal2kafka_{name}")
        self.drop_slots()
        return out

    def phase_features(self) -> None:
        """Catch-up with issue 13's per-event work on (transaction_metadata = true, and a
        hashed text column when the binary knows hash_columns) next to the same stream
        with them off, on the same changes, one after the other: events/s and the ratio.
        A binary without masking runs with transaction metadata alone (noted)."""
        n = self.sizes["catchup"]
        masking = b"hash_columns" in self.w2k_bin.read_bytes()
        on = {"stream_extra": "transaction_metadata = true;"}
        if masking:
            salt = self.tmp / "hash_salt"
            salt.write_text("bench-salt-0123456789abcdef\n")
            salt.chmod(0o600)
            on = {"stream_extra": f'transaction_metadata = true; hash_salt_file = "{salt}";',
                  "table_extra": 'hash_columns = [ "t" ];'}
        else:
            self.results.setdefault("notes", []).append(
                "features: this binary has no hash_columns: measured with "
                "transaction_metadata alone")
        tables = ["t1"]
        for t in tables:
            self.db.execute(f"DROP TABLE IF EXISTS {t}")
            self.db.execute(ddl(t))
        plan = [("off", self.name("featoff"), None), ("on", self.name("feaon"), on)]
        for _, name, _ in plan:
            self.create_slot(f"wal2kafka_{name}", f"wal2kafka_{name}", tables)
        w = write_mix(self.db, tables, n, self.sizes["chunk"])
        log(f"features: wrote {w['changes']:,} changes in {w['transactions']} transaction(s)")
        self.db.execute("CHECKPOINT")
        out = {"workload": dict(w), "masking": masking, "runs": []}
        for label, name, extra in plan:
            if self.args.wait_quiet:
                self.wait_quiet()
            r = self.run_connector("wal2kafka", name, tables, "tcp", w["counts"], timeout=1800,
                                   w2k_extra=extra)
            r.update({"name": name, "features": label,
                      "settings": (extra or {}).get("stream_extra", "") + " "
                      + (extra or {}).get("table_extra", "")})
            log(f"features {label}: {fmt_rate(r.get('events_per_s'))} events/s (steady "
                f"{fmt_rate(r.get('events_per_s_steady'))}), cpu {fmt(r.get('cpu_s'))} s"
                + (f" ERROR {r['error']}" if r.get("error") else ""))
            out["runs"].append(r)
            self.drop_slot(f"wal2kafka_{name}")
        off, on_r = out["runs"][0].get("events_per_s"), out["runs"][1].get("events_per_s")
        if off and on_r:
            out["ratio_on_off"] = on_r / off
            what = "transaction metadata + hashed column" if masking else \
                "transaction metadata alone"
            log(f"features: on/off = {on_r / off:.3f} ({what})")
        self.drop_slots()
        self.results["phases"]["features"] = out

    def drop_slot(self, slot: str) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.db.execute("SELECT pg_drop_replication_slot(%s) FROM pg_replication_slots "
                                "WHERE slot_name = %s", (slot, slot))
                return
            except Exception as e:
                if time.monotonic() > deadline:
                    log(f"could not drop slot {slot}: {e}")
                    return
                time.sleep(0.2)

    def phase_scaling(self) -> None:
        out = {"tables": [], "events": []}
        n = self.sizes["catchup"]
        for nt in self.sizes["scale_tables"]:
            if nt == 1 and "catchup" in self.results["phases"]:
                out["tables"].append({"tables": 1, "from": "catchup",
                                      **self.results["phases"]["catchup"]})
                continue
            tables = [f"s{nt}_{i}" for i in range(1, nt + 1)]
            r = self.catchup_run(f"tab{nt}", tables, n, ["tcp"],
                                 debezium=self.args.debezium_scaling)
            out["tables"].append({"tables": nt, **r})
        for ne in self.sizes["scale_events"]:
            if ne == n and "catchup" in self.results["phases"]:
                out["events"].append({"events": ne, "from": "catchup",
                                      **self.results["phases"]["catchup"]})
                continue
            r = self.catchup_run(f"ev{ne // 1000}k", ["e1"], ne, ["tcp"],
                                 debezium=self.args.debezium_scaling)
            out["events"].append({"events": ne, **r})
        self.results["phases"]["scaling"] = out

    def phase_bigtxn(self) -> None:
        r = self.catchup_run("bigtxn", ["big"], self.sizes["big_txn"], ["tcp"], big_txn=True,
                             eos=True)
        self.results["phases"]["bigtxn"] = r

    # -- one big transaction streamed while it runs (issue 15 point 3)

    def slot_stats(self, slot: str, timeout: float = 10) -> dict:
        """pg_stat_replication_slots of slot, once its walsender reported the
        transaction (total_txns >= 1; PostgreSQL 14+)."""
        keys = ("spill_txns", "spill_count", "spill_bytes", "stream_txns", "stream_count",
                "stream_bytes", "total_txns", "total_bytes")
        deadline = time.monotonic() + timeout
        while True:
            rows = self.db.execute(f"SELECT {', '.join(keys)} FROM pg_stat_replication_slots "
                                   "WHERE slot_name = %s", (slot,))
            st = dict(zip(keys, (int(v) for v in rows[0]))) if rows else {}
            if st.get("total_txns", 0) >= 1 or time.monotonic() > deadline:
                return st
            time.sleep(0.1)

    def bigtxn_stream_run(self, kind: str, streaming: bool | None, n: int,
                          work_mem: str = "") -> dict:
        """Start the contender on a new slot, then write one transaction of n rows while it
        reads; measure from COMMIT returning to the last change read (raw) or visible to
        a read_committed consumer (wal2kafka exactly-once: the topic's last stable offset
        reaching n), then the slot's spill/stream statistics. work_mem: wal2kafka's
        walsender's logical_decoding_work_mem, set in postgresql.conninfo's options (how
        much PostgreSQL holds before it streams a block: at most that is left at the
        commit)."""
        table = self.name("bs")
        self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.execute(ddl(table))
        label = {None: "raw", False: "nostream", True: "stream"}[streaming] + work_mem.lower()
        name = self.name(f"bs{label}")
        slot = name if kind == "raw" else f"wal2kafka_{name}"
        self.create_slot(slot, slot, [table])
        r = {"contender": kind, "transport": "tcp", "streaming": streaming, "changes": n,
             "name": name, "work_mem": work_mem or None}
        lat = self.tmp / f"{name}.lat"
        if kind == "raw":
            proc = Child(f"w2k_rawreader {slot}",
                         [str(self.raw_bin), "-l", str(lat), self.conninfo("tcp"), slot, slot,
                          str(n), "30"],
                         env={"PGPASSWORD": self.pg.password},
                         stdout=open(self.tmp / f"{name}.json", "w"))
        else:
            proc = self.start_w2k(name, [table], "tcp", eos=True,
                                  stream_extra="streaming = true;" if streaming else "",
                                  conninfo_extra=f" options='-c logical_decoding_work_mem="
                                  f"{work_mem}'" if work_mem else "")
        topic = f"{name}.public.{table}"
        sampler = Sampler({"proc": proc.pid, "broker": self.kafka_pid})
        sampler.start()
        snap = self.foreign.snapshot()
        try:
            ws = self.walsender_pid(slot, 120)
            if not ws:
                raise RuntimeError(f"{kind}: slot {slot} not active after 120 s")
            sampler.add("walsender", ws)
            ws0 = proc_cpu_s(ws)
            if kind != "raw":  # streaming: the stream has started (snapshot = never here)
                deadline = time.monotonic() + 60
                while b"streaming from slot" not in (self.tmp / f"{name}.log").read_bytes():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"{kind}: not streaming (exit {proc.poll()})")
                    time.sleep(0.05)
            log(f"bigtxn_stream: {kind}{'' if streaming is None else f' streaming={streaming}'}"
                f"{f' logical_decoding_work_mem={work_mem}' if work_mem else ''} ({name}): "
                f"writing {n:,} rows in one transaction")
            t_begin = time.monotonic()
            with self.db.connect() as conn:
                with conn.transaction():
                    conn.execute(insert_sql(table, 1, n))
                    t_sent = time.monotonic()
                t_commit = time.monotonic()
                t_commit_wall = time.time()
            r["write_s"] = t_commit - t_begin
            r["commit_s"] = t_commit - t_sent  # COMMIT alone
            if kind == "raw":
                rc = proc.wait(1800)
                res = json.loads((self.tmp / f"{name}.json").read_text().strip() or "{}")
                if rc != 0 or res.get("changes") != n:
                    raise RuntimeError(f"rawreader exited {rc} after {res.get('changes')} of "
                                       f"{n} changes")
                with open(lat, "rb") as f:  # the last change: commit time, latency (ms)
                    f.seek(-16, os.SEEK_END)
                    commit_ms, lat_ms = array.array("d", f.read(16))
                done_wall = (commit_ms + lat_ms) / 1000
                r["commit_to_last_s"] = done_wall - t_commit_wall
                r["total_s"] = r["write_s"] + r["commit_to_last_s"]
                r["cpu_s"] = res.get("cpu_s")
                r["peak_rss_kb"] = res.get("max_rss_kb")
            else:
                wm = Watermarks(self.kafka.bootstrap)
                try:  # produced into the open Kafka transaction before the commit
                    r["produced_at_commit"] = wm.total([topic])
                finally:
                    wm.close()
                w = self.wait_topics(proc, sampler, [topic], n, 1800, f"{kind} {name}",
                                     transactional=True)
                r["commit_to_last_s"] = w["done"] - t_commit
                r["total_s"] = w["done"] - t_begin
                r["messages"] = w["messages"]
                r["cpu_s"] = w["cpu_end"]
                r["peak_rss_kb"] = sampler.peak_hwm.get("proc")
            wsn = proc_cpu_s(ws)
            if ws0 is not None and wsn is not None:
                r["walsender_cpu_s"] = wsn - ws0
            r["slot"] = self.slot_stats(slot)
        except Exception as e:
            r["error"] = str(e)
            r["peak_rss_kb"] = sampler.peak_hwm.get("proc")
            log(f"  {kind} {name}: FAILED: {e}")
        finally:
            sampler.finish()
            rc = proc.stop(timeout=90)
            if kind != "raw":
                r["exit"] = rc
                r["log_tail"] = tail(self.tmp / f"{name}.log", 5)
                if rc not in (0, None) and "error" not in r:
                    r["error"] = f"wal2kafka exited {rc} on SIGTERM"
            r["others_cores"] = self.foreign.cores(snap)
            self.drop_slot(slot)
            self.db.execute(f'DROP PUBLICATION IF EXISTS "{slot}"')
            self.db.execute(f"DROP TABLE IF EXISTS {table}")
            lat.unlink(missing_ok=True)
        st = r.get("slot") or {}
        log(f"  -> commit to last {fmt(r.get('commit_to_last_s'), 2)} s, total "
            f"{fmt(r.get('total_s'))} s (write {fmt(r.get('write_s'))} s), spill_bytes "
            f"{st.get('spill_bytes')}, stream_bytes {st.get('stream_bytes')}, peak RSS "
            f"{fmt_mb(r.get('peak_rss_kb'))}" + (f" ERROR {r['error']}" if r.get("error") else ""))
        return r

    def phase_bigtxn_stream(self) -> None:
        """One transaction of big_txn_stream rows, written while each contender reads:
        the raw reader (protocol 1: PostgreSQL spills and sends it after the commit),
        wal2kafka exactly-once with streaming = false, then with streaming = true
        (PostgreSQL 14+: produced into an open Kafka transaction while it runs)."""
        n = self.sizes["big_txn_stream"]
        out = {"workload": {"changes": n}, "runs": [],
               "logical_decoding_work_mem": self.db.scalar("SHOW logical_decoding_work_mem"),
               "debezium": "Debezium cannot stream in-progress transactions (it reads "
                           "pgoutput protocol 1: PostgreSQL decodes the whole transaction, "
                           "spilling it, and sends it after the commit); not run here"}
        self.results["phases"]["bigtxn_stream"] = out
        v = int(self.db.scalar("SHOW server_version_num"))
        if v < 140000:
            raise RuntimeError(f"PostgreSQL {v // 10000}: streaming of in-progress "
                               "transactions needs 14+")
        plan = [("raw", None, "")]
        if self.eos:
            plan += [("wal2kafka-eos", False, ""), ("wal2kafka-eos", True, "")]
            plan += [("wal2kafka-eos", True, wm) for wm in self.sizes["big_txn_stream_mem"]]
        for kind, streaming, wm in plan:
            if self.args.wait_quiet:
                self.wait_quiet()
            out["runs"].append(self.bigtxn_stream_run(kind, streaming, n, wm))
        self.drop_slots()

    def phase_profile(self) -> None:
        """wal2kafka under perf (flat, 999 Hz, wal2kafka and its walsender), 1M catch-up."""
        tables = ["p1"]
        self.db.execute("DROP TABLE IF EXISTS p1")
        self.db.execute(ddl("p1"))
        name = self.name("w2kprof")
        self.create_slot(f"wal2kafka_{name}", f"wal2kafka_{name}", tables)
        w = write_mix(self.db, tables, self.sizes["catchup"], self.sizes["chunk"])
        self.db.execute("CHECKPOINT")
        data = self.tmp / "perf.data"
        log(f"profile: wal2kafka under perf record ({w['changes']:,} changes, tcp)")
        if self.args.wait_quiet:
            self.wait_quiet()
        snap = self.foreign.snapshot()
        r = self.run_connector("wal2kafka", name, tables, "tcp", w["counts"], perf=data)
        r["others_cores"] = self.foreign.cores(snap)
        self.drop_slots()
        rep = {}
        if data.exists() and r.get("pid"):
            def report(pid, sort, limit, n):
                p = subprocess.run(
                    ["perf", "report", "-i", str(data), "--stdio", "--pid", str(pid), "--sort",
                     sort, "--percentage", "relative", "--percent-limit", str(limit)],
                    capture_output=True, text=True, timeout=600)
                return [re.sub(r"(\s+-)+\s*$", "", ln) for ln in p.stdout.splitlines()
                        if ln.strip() and not ln.startswith("#")][:n]
            rep["w2k_threads"] = report(r["pid"], "comm", 0.5, 10)
            rep["w2k_dso"] = report(r["pid"], "dso", 0.5, 15)
            rep["wal2kafka"] = report(r["pid"], "dso,symbol", 0.6, 30)
            rep["walsender"] = report(r["walsender_pid"], "dso,symbol", 1.5, 15)
            cg = Path(str(data) + ".cg")
            if cg.exists():
                p = subprocess.run(
                    ["perf", "report", "-i", str(cg), "--stdio", "--children", "--sort",
                     "symbol", "-g", "none", "--percentage", "relative", "--percent-limit",
                     "4", "--comm", "wal2kafka"],
                    capture_output=True, text=True, timeout=900)
                rep["w2k_inclusive"] = [re.sub(r"(\s+-)+\s*$", "", ln)
                                        for ln in p.stdout.splitlines()
                                        if ln.strip() and not ln.startswith("#")][:45]
            p = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--sort", "pid"],
                               capture_output=True, text=True, timeout=600)
            rep["by_process"] = [ln.rstrip() for ln in p.stdout.splitlines()
                                 if ln.strip() and not ln.startswith("#")][:10]
        self.results["phases"]["profile"] = {"run": r, "report": rep}

    # -- latency

    def lat_consumer(self, name: str, topic: str, lat_file: Path, mode: str) -> Child:
        """The latency consumer of a run (read_committed), started and ready: it writes
        each message's latency to lat_file and stops when it has NAME.expect's count."""
        consumer = Child(f"consumer {name}",
                         [sys.executable, __file__, "_consumer", "--bootstrap",
                          self.kafka.bootstrap, "--topic", topic, "--group", f"lat-{name}",
                          "--mode", mode, "--isolation", "read_committed",
                          "--lat-file", str(lat_file),
                          "--expect-file", str(self.tmp / f"{name}.expect"),
                          "--out", str(self.tmp / f"{name}.consumer.json")],
                         stdout=subprocess.PIPE, stderr=None)
        line = consumer.p.stdout.readline().decode().strip()
        if line != "READY":
            consumer.stop(10)
            raise RuntimeError(f"latency consumer did not start ({line!r})")
        return consumer

    def latency_run(self, kind: str, rate: int, seconds: int, table: str) -> dict:
        if kind in KFLOOR_ARGS:
            return self.kfloor_run(kind, rate, seconds)
        name = self.name(f"{KIND_TAG[kind]}lat{rate // 1000}k")
        slot = f"wal2kafka_{name}" if kind in W2K_KINDS else name
        self.create_slot(slot, slot, [table])
        lat_file = self.tmp / f"{name}.lat"
        proc = None
        consumer = None
        r = {"contender": kind, "rate": rate, "seconds": seconds}
        start_id = self.db.scalar(f"SELECT coalesce(max(id), 0) + 1000 FROM {table}")
        try:
            if kind == "raw":
                raw_out = self.tmp / f"{name}.rawjson"
                fo = open(raw_out, "w")
                proc = Child(f"rawreader {name}",
                             [str(self.raw_bin), "-l", str(lat_file), self.conninfo("tcp"), slot,
                              slot, "0", "5"], env={"PGPASSWORD": self.pg.password}, stdout=fo)
                fo.close()
                self.walsender_pid(slot, 30)
            else:
                proc = (self.start_w2k(name, [table], "tcp", eos=is_eos(kind),
                                       before=kind.endswith("-before"))
                        if kind in W2K_KINDS else self.start_debezium(name, [table]))
                ws = self.walsender_pid(slot, 180)
                if not ws:
                    raise RuntimeError(f"{kind} did not start streaming from slot {slot}")
                # A warm-up row makes the connector create its topic.
                topic = f"{name}.public.{table}"
                self.db.execute(insert_sql(table, start_id - 1, start_id - 1))
                wm = Watermarks(self.kafka.bootstrap, committed=True)
                deadline = time.monotonic() + 120
                while wm.total([topic]) < 1:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError(f"{kind}: no warm-up message in {topic}")
                    time.sleep(0.1)
                wm.close()
                consumer = self.lat_consumer(name, topic, lat_file,
                                             "dbz" if kind == "debezium" else "w2k")
            sampler = Sampler({"proc": proc.pid})
            sampler.start()
            cpu0 = proc_cpu_s(proc.pid)
            wres = self.run_writer(table, rate, seconds, start_id, self.sizes["warmup"])
            s = sampler.sample()
            cpu1 = s["proc"][0]
            r["writer"] = wres
            if kind == "raw":
                proc.wait(60)
                raw = json.loads(raw_out.read_text().strip() or "{}")
                r["received"] = raw.get("changes")
                if raw.get("changes", 0) < wres["changes_total"]:
                    r["error"] = (f"raw read {raw.get('changes')} of {wres['changes_total']} "
                                  "changes")
                cpu1 = raw.get("cpu_s", cpu1)
                cpu0 = 0.0 if "cpu_s" in raw else cpu0
                r["peak_rss_kb_raw"] = raw.get("max_rss_kb")
            else:
                write_atomic(self.tmp / f"{name}.expect", str(wres["changes_total"]))
                rc = consumer.wait(120)
                cres = json.loads((self.tmp / f"{name}.consumer.json").read_text())
                r["received"] = cres["received"]
                r["value_bytes_mean"] = cres.get("value_bytes_mean")
                if cres["received"] < wres["changes_total"]:
                    r["error"] = (f"the consumer got {cres['received']} of "
                                  f"{wres['changes_total']} changes")
                if rc != 0:
                    r["error"] = f"consumer exited {rc}"
            sampler.finish()
            r["cpu_s"] = (cpu1 - cpu0) if (cpu1 is not None and cpu0 is not None) else None
            r["peak_rss_kb"] = r.pop("peak_rss_kb_raw", None) or sampler.peak_hwm.get("proc")
            r["latency"], r["cdf"] = latency_stats(lat_file, wres["measure_start_ms"])
        except Exception as e:
            r["error"] = str(e)
            log(f"  latency {kind} {rate}/s: FAILED: {e}")
        finally:
            if consumer:
                consumer.stop(10)
            if proc:
                proc.stop(90)
            self.drop_slot(slot)
        return r

    def kfloor_run(self, kind: str, rate: int, seconds: int) -> dict:
        """Kafka's floor: w2k_kfloor produces what the writer makes wal2kafka produce (same
        tick, count, about the same size, acks=all, idempotent, lz4), stamped with its
        produce time, read by the same consumer as wal2kafka's."""
        name = self.name(f"{KIND_TAG[kind]}lat{rate // 1000}k")
        topic = f"{name}.floor"
        lat_file = self.tmp / f"{name}.lat"
        r = {"contender": kind, "rate": rate, "seconds": seconds,
             "kfloor_args": KFLOOR_ARGS[kind]}
        proc = consumer = None
        try:
            from confluent_kafka.admin import AdminClient, NewTopic
            adm = AdminClient({"bootstrap.servers": self.kafka.bootstrap})
            adm.create_topics([NewTopic(topic, 1, 1)])[topic].result(60)
            proc = Child(f"kfloor {name}",
                         [str(self.kfloor_bin), *KFLOOR_ARGS[kind], "-s",
                          str(KFLOOR_VALUE_BYTES), "-w", str(self.sizes["warmup"]),
                          self.kafka.bootstrap, topic, str(rate), str(seconds)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            line = proc.p.stdout.readline().decode().strip()
            if line != "READY":
                raise RuntimeError(f"kfloor did not start ({line!r})")
            consumer = self.lat_consumer(name, topic, lat_file, "w2k")
            sampler = Sampler({"proc": proc.pid})
            sampler.start()
            proc.p.stdin.write(b"go\n")
            proc.p.stdin.flush()
            rc = proc.wait(seconds + self.sizes["warmup"] + 120)
            wres = json.loads(proc.p.stdout.read().decode().strip() or "{}")
            r["writer"] = wres
            if rc != 0:
                r["error"] = f"kfloor exited {rc}"
            write_atomic(self.tmp / f"{name}.expect", str(wres.get("changes_total", 0)))
            crc = consumer.wait(120)
            cres = json.loads((self.tmp / f"{name}.consumer.json").read_text())
            r["received"] = cres["received"]
            r["value_bytes_mean"] = cres.get("value_bytes_mean")
            if cres["received"] < wres.get("changes_total", 0):
                r["error"] = (f"the consumer got {cres['received']} of "
                              f"{wres.get('changes_total')} messages")
            if crc != 0:
                r["error"] = f"consumer exited {crc}"
            sampler.finish()
            r["cpu_s"] = wres.get("cpu_s")
            r["peak_rss_kb"] = wres.get("max_rss_kb")
            r["latency"], r["cdf"] = latency_stats(lat_file, wres.get("measure_start_ms", 0))
        except Exception as e:
            r["error"] = str(e)
            log(f"  latency {kind} {rate}/s: FAILED: {e}")
        finally:
            if consumer:
                consumer.stop(10)
            if proc:
                proc.stop(30)
        return r

    def run_writer(self, table: str, rate: int, seconds: int, start_id: int,
                   warmup: float = 0) -> dict:
        out = self.tmp / f"writer-{time.monotonic_ns()}.json"
        w = Child("writer", [sys.executable, __file__, "_writer", "--dsn",
                             self.pg.dsn("bench"), "--table", table, "--rate", str(rate),
                             "--seconds", str(seconds), "--warmup", str(warmup),
                             "--start-id", str(start_id), "--out", str(out)])
        try:
            rc = w.wait(seconds + warmup + 120)
        finally:
            w.stop(10)  # never leave a writer behind (it would collide with the next one)
        if rc != 0:
            raise RuntimeError(f"writer exited {rc}")
        return json.loads(out.read_text())

    def phase_latency(self) -> None:
        out = []
        self.db.execute("DROP TABLE IF EXISTS lat")
        self.db.execute(ddl("lat"))
        kinds = ["raw"] + (["kafka", "kafka-linger0"] if self.kfloor_bin.exists() else []) + \
            (["kafka-eos"] if self.kfloor_bin.exists() and self.eos else []) + \
            ["wal2kafka"] + (["wal2kafka-eos"] if self.eos else []) + \
            (["wal2kafka-before"] if self.before_bin else []) + \
            (["wal2kafka-eos-before"] if self.before_bin and self.eos else []) + \
            (["debezium"] if self.debezium else [])
        if self.args.contenders:
            kinds = [k for k in kinds if k in self.args.contenders.split(",")]
        rounds = []
        for i in range(self.sizes["lat_repeat"]):
            # each round in another order: no contender always runs first or last
            k = i % len(kinds)
            rounds.append((i, kinds[k:] + kinds[:k]))
        for rate in self.sizes["lat_rates"]:
            for rnd, order in rounds:
                for kind in order:
                    if self.args.wait_quiet:
                        self.wait_quiet()
                    log(f"latency: {kind} at {rate:,} changes/s for {self.sizes['lat_seconds']} s")
                    snap = self.foreign.snapshot()
                    r = self.latency_run(kind, rate, self.sizes["lat_seconds"], "lat")
                    r["others_cores"] = self.foreign.cores(snap)
                    r["round"] = rnd
                    r["load"] = os.getloadavg()
                    lt = r.get("latency") or {}
                    wr = r.get("writer") or {}
                    log(f"  -> writer achieved {fmt_rate(wr.get('achieved_rate'))}/s; received "
                        f"{r.get('received')}; p50 {fmt(lt.get('p50'))} p99 {fmt(lt.get('p99'))} "
                        f"max {fmt(lt.get('max'))} ms" + (f" ERROR {r['error']}" if r.get("error")
                                                          else ""))
                    out.append(r)
        self.results["phases"]["latency"] = out

    def phase_fanout(self) -> None:
        out = []
        self.db.execute("DROP TABLE IF EXISTS fan")
        self.db.execute(ddl("fan"))
        kinds = ["wal2kafka"] + (["debezium"] if self.debezium else [])
        if self.args.contenders:
            kinds = [k for k in kinds if k in self.args.contenders.split(",")]
        for kind in kinds:
            log(f"fan-out: {kind}, {self.sizes['fan_groups']} consumer groups, "
                f"{self.sizes['fan_rate']:,} changes/s for {self.sizes['fan_seconds']} s")
            if self.args.wait_quiet:
                self.wait_quiet()
            snap = self.foreign.snapshot()
            r = self.fanout_run(kind)
            r["others_cores"] = self.foreign.cores(snap)
            out.append(r)
            log(f"  -> last-group p95 {fmt(r.get('last_group', {}).get('p95'))} ms, worst "
                f"group p95 {fmt(r.get('worst_group_p95'))} ms"
                + (f" ERROR {r['error']}" if r.get("error") else ""))
        self.results["phases"]["fanout"] = out

    # -- ten thousand tables (issue 15 point 4)

    def phase_many_tables(self) -> None:
        """One stream over mt_tables tables t_NNNNN matched by a pattern: wal2kafka's
        start, peak RSS, delivery of one first change per table and catch-up over the N
        tables ÷ over one table (bench/many_tables.py's measurement, in a database of its
        own), next to the same catch-up ratio of the raw reader and Debezium on the same
        rows (database bench; their topics made ahead, as wal2kafka's are by then)."""
        import many_tables as mt
        n, want = self.sizes["mt_tables"], self.sizes["mt_rows"]
        per = max(1, want // n)
        rows = per * n
        out = {"tables": n, "rows": rows, "runs": []}
        log(f"many tables: wal2kafka over {n:,} tables")
        snap = self.foreign.snapshot()
        try:
            r = mt.run_one(self.w2k_bin, self.pg, self.kafka, n, rows, self.tmp, "w2k")
        except Exception as e:
            r = {"error": str(e)}
            log(f"  many tables: wal2kafka FAILED: {e}")
        r.update({"contender": "wal2kafka", "others_cores": self.foreign.cores(snap)})
        r.pop("binary", None)
        out["runs"].append(r)
        # the broker keeps files open per partition: 10,000 more topics for Debezium next
        # to these would pass its open-file limit
        self.delete_topics("mtw2k")
        self.results["phases"]["many_tables"] = out

        kinds = ["raw"] + (["debezium"] if self.debezium else [])
        names = [f"t_{i:05d}" for i in range(1, n + 1)]
        log(f"many tables: {n:,} tables in database bench for {', '.join(kinds)}")
        mt.in_batches(self.db, "CREATE TABLE {t} (id int PRIMARY KEY, v text)", n, 500)
        self.db.execute("DROP TABLE IF EXISTS mt_one")
        self.db.execute("CREATE TABLE mt_one (id int PRIMARY KEY, v text)")
        plan = []  # (kind, over, slot)
        for kind in kinds:
            for over in ("many", "one"):
                slot = self.name(f"{KIND_TAG[kind]}mt{over}")
                tl = ", ".join(f"public.{t}" for t in (names if over == "many" else ["mt_one"]))
                self.db.execute(f'CREATE PUBLICATION "{slot}" FOR TABLE {tl}')
                self.db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')",
                                (slot,))
                plan.append((kind, over, slot))
        mt.in_batches(self.db, f"INSERT INTO {{t}} SELECT g, 'catch-up' FROM generate_series("
                               f"1, {per}) g", n, 1000)
        self.db.execute(f"INSERT INTO mt_one SELECT g, 'catch-up' FROM generate_series(1, "
                        f"{rows}) g")
        self.db.execute("CHECKPOINT")
        for kind, over, slot in plan:
            if self.args.wait_quiet:
                self.wait_quiet()
            log(f"many tables: {kind} catch-up over {n if over == 'many' else 1:,} table(s)")
            snap = self.foreign.snapshot()
            if kind == "raw":
                r = self.run_raw(slot, slot, "tcp", rows)
            else:
                r = self.debezium_many(slot, names if over == "many" else ["mt_one"], rows)
            r.update({"contender": kind, "over": over, "others_cores": self.foreign.cores(snap)})
            r.pop("rss_series", None)
            log(f"  -> {fmt_rate(r.get('events_per_s_steady'))} rows/s steady"
                + (f" ERROR {r['error']}" if r.get("error") else ""))
            out["runs"].append(r)
            self.drop_slot(slot)
            self.delete_topics(slot + ".")
        mt.in_batches(self.db, "DROP TABLE {t}", n, 500)
        self.db.execute("DROP TABLE mt_one")

    def delete_topics(self, prefix: str) -> None:
        """Delete every topic whose name starts with prefix, and wait for it."""
        from confluent_kafka.admin import AdminClient
        admin = AdminClient({"bootstrap.servers": self.kafka.bootstrap})
        names = [t for t in admin.list_topics(timeout=60).topics if t.startswith(prefix)]
        for i in range(0, len(names), 1000):
            for f in admin.delete_topics(names[i:i + 1000], operation_timeout=120,
                                         request_timeout=120).values():
                try:
                    f.result()
                except Exception as e:
                    log(f"  could not delete a topic: {e}")

    def debezium_many(self, name: str, tables: list[str], rows: int) -> dict:
        """Debezium over tables (a pattern when there are many) from its filled slot, its
        topics made first; done when their end offsets hold rows. Rows/s from its first
        message to the last (its start-up over many tables excluded)."""
        from confluent_kafka import TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
        topics = [f"{name}.public.{t}" for t in tables]
        admin = AdminClient({"bootstrap.servers": self.kafka.bootstrap})
        for i in range(0, len(topics), 1000):
            fs = admin.create_topics([NewTopic(t, 1, 1) for t in topics[i:i + 1000]],
                                     operation_timeout=120, request_timeout=120)
            for f in fs.values():
                f.result()
        pattern = ["t_[0-9]+"] if len(tables) > 1 else tables
        proc = self.start_debezium(name, pattern)
        r: dict = {"changes": rows}
        first = None
        try:
            deadline = time.monotonic() + self.sizes["dbz_timeout"]
            while True:
                fs = admin.list_offsets({TopicPartition(t, 0): OffsetSpec.latest()
                                         for t in topics}, request_timeout=60)
                got = 0
                for f in fs.values():
                    try:
                        got += max(f.result().offset, 0)
                    except Exception:  # a new topic without its leader yet: not there yet
                        pass
                now = time.monotonic()
                if got and first is None:
                    first = now
                if got >= rows:
                    r.update({"seconds": now - proc.t_start, "seconds_steady": now - first,
                              "events_per_s": rows / (now - proc.t_start),
                              "events_per_s_steady": rows / (now - first) if now > first
                              else None})
                    return r
                if proc.poll() is not None:
                    raise RuntimeError(f"Debezium exited after {got} of {rows} messages")
                if now > deadline:
                    raise RuntimeError(f"Debezium: {got:,} of {rows:,} messages after "
                                       f"{self.sizes['dbz_timeout']} s (time limit)")
                time.sleep(1 if len(topics) > 100 else 0.2)  # each poll asks for every offset
        except Exception as e:
            r["error"] = str(e)
            return r
        finally:
            proc.stop(timeout=90)

    def fanout_run(self, kind: str) -> dict:
        name = self.name(f"{KIND_TAG[kind]}fan")
        slot = f"wal2kafka_{name}" if kind in W2K_KINDS else name
        table = "fan"
        self.create_slot(slot, slot, [table])
        groups, nprocs = self.sizes["fan_groups"], self.sizes["fan_procs"]
        r = {"contender": kind, "groups": groups, "rate": self.sizes["fan_rate"],
             "seconds": self.sizes["fan_seconds"]}
        proc = None
        consumers = []
        start_id = self.db.scalar(f"SELECT coalesce(max(id), 0) + 1000 FROM {table}")
        try:
            proc = (self.start_w2k(name, [table], "tcp") if kind == "wal2kafka"
                    else self.start_debezium(name, [table]))
            if not self.walsender_pid(slot, 180):
                raise RuntimeError(f"{kind} did not start streaming")
            topic = f"{name}.public.{table}"
            self.db.execute(insert_sql(table, start_id - 1, start_id - 1))
            wm = Watermarks(self.kafka.bootstrap)
            deadline = time.monotonic() + 120
            while wm.total([topic]) < 1:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"{kind}: no warm-up message in {topic}")
                time.sleep(0.1)
            wm.close()
            expect_file = self.tmp / f"{name}.expect"
            per = [groups // nprocs + (1 if i < groups % nprocs else 0) for i in range(nprocs)]
            first = 0
            for i, k in enumerate(per):
                outp = self.tmp / f"{name}.fan{i}.json"
                c = Child(f"fan-out consumers {i}",
                          [sys.executable, __file__, "_fanout", "--bootstrap",
                           self.kafka.bootstrap, "--topic", topic, "--groups",
                           ",".join(f"fan-{name}-{g}" for g in range(first, first + k)),
                           "--mode", "dbz" if kind == "debezium" else "w2k",
                           "--expect-file", str(expect_file), "--since-file",
                           str(self.tmp / f"{name}.since"), "--out", str(outp)],
                          stdout=subprocess.PIPE)
                first += k
                consumers.append((c, outp))
            for c, _ in consumers:
                line = c.p.stdout.readline().decode().strip()
                if line != "READY":
                    raise RuntimeError(f"fan-out consumer did not start ({line!r})")
            wres = self.run_writer(table, self.sizes["fan_rate"], self.sizes["fan_seconds"],
                                   start_id, self.sizes["warmup"])
            r["writer"] = wres
            write_atomic(self.tmp / f"{name}.since", str(wres["measure_start_ms"]))
            write_atomic(expect_file, str(wres["changes_total"]))
            per_offset: dict[int, float] = {}
            group_p95 = []
            received = []
            for c, outp in consumers:
                c.wait(180)
                d = json.loads(outp.read_text())
                group_p95 += d["group_p95"]
                received += d["received"]
                for off, v in d["max_by_offset"].items():
                    off = int(off)
                    if v > per_offset.get(off, -1e18):
                        per_offset[off] = v
            vals = sorted(per_offset.values())
            r["last_group"] = pct(vals)
            r["cdf"] = cdf_points(vals)
            r["worst_group_p95"] = max(group_p95) if group_p95 else None
            r["median_group_p95"] = sorted(group_p95)[len(group_p95) // 2] if group_p95 else None
            r["received_min"] = min(received) if received else 0
            r["received_max"] = max(received) if received else 0
        except Exception as e:
            r["error"] = str(e)
            log(f"  fan-out {kind}: FAILED: {e}")
        finally:
            for c, _ in consumers:
                c.stop(10)
            if proc:
                proc.stop(90)
            self.drop_slot(slot)
        return r

    # -- main

    def run(self) -> None:
        phases = self.args.phases.split(",") if self.args.phases else list(ALL_PHASES)
        if self.args.quick and not self.args.phases:
            phases.remove("profile")
        self.results["started"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        self.results["mode"] = "quick" if self.args.quick else "full"
        self.results["sizes"] = self.sizes
        self.results["debezium_tuning"] = DEBEZIUM_TUNING
        self.results.setdefault("notes", []).extend(self.args.note)
        if self.args.w2k_delivery:
            self.results["notes"].append("wal2kafka (this build) ran with delivery = { "
                                         + self.args.w2k_delivery + " }")
        if self.args.w2k_property:
            self.results["notes"].append("wal2kafka ran with extra kafka.properties: "
                                         + ", ".join(self.args.w2k_property))
        if not self.debezium:
            self.results.setdefault("notes", []).append("Debezium left out (--no-debezium).")
        if not self.eos:
            self.results.setdefault("notes", []).append(
                "wal2kafka's exactly-once mode not measured (not in this build, or --no-eos).")
        self.results["load_before"] = os.getloadavg()
        t0 = time.monotonic()
        self.start_servers()
        self.results["env"] = environment(self)
        for ph in phases:
            tp = time.monotonic()
            try:
                getattr(self, f"phase_{ph}")()
            except Exception as e:
                import traceback
                traceback.print_exc()
                self.results["errors"].append(f"phase {ph}: {e}")
                log(f"phase {ph} FAILED: {e}")
                try:
                    self.drop_slots()
                except Exception:
                    pass
            log(f"phase {ph} took {time.monotonic() - tp:.0f} s")
        self.results["seconds"] = time.monotonic() - t0
        self.results["load_after"] = os.getloadavg()


PG_SETTINGS = {
    "shared_buffers": "1GB",
    "max_wal_size": "16GB",
    "min_wal_size": "2GB",
    "checkpoint_timeout": "1h",
    "autovacuum": "off",
    "wal_sender_timeout": "60s",
    "max_locks_per_transaction": "1024",  # a publication over 10,000 tables locks each
}


# ------------------------------------------------------------------ helpers


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.rename(path)


def tail(path: Path, n: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


def fmt(v, nd=1) -> str:
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def fmt_rate(v) -> str:
    return "–" if v is None else f"{v:,.0f}"


def fmt_mb(kb) -> str:
    return "–" if kb is None else f"{kb / 1024:,.1f} MB"


def pct(vals: list[float]) -> dict:
    if not vals:
        return {}
    v = sorted(vals)
    n = len(v)
    q = lambda x: v[min(int(x * n), n - 1)]  # noqa: E731
    return {"n": n, "p50": q(0.5), "p95": q(0.95), "p99": q(0.99), "max": v[-1],
            "mean": sum(v) / n}


def cdf_points(sorted_vals: list[float], n: int = 1000) -> list[float]:
    """n+1 quantiles (0, 1/n, ..., 1) of sorted values: enough to draw a CDF."""
    if not sorted_vals:
        return []
    m = len(sorted_vals)
    return [round(sorted_vals[min(int(i * m / n), m - 1)], 3) for i in range(n)] + \
        [round(sorted_vals[-1], 3)]


def downsample(series, n: int = 600):
    if not series or len(series) <= n:
        return series
    step = len(series) / n
    return [series[int(i * step)] for i in range(n)] + [series[-1]]


def latency_stats(path: Path, since_ms: float = 0) -> tuple[dict, list[float]]:
    """Percentiles and CDF of a file of (commit time ms, latency ms) float64 pairs, for
    the changes committed at or after since_ms (the end of the warm-up)."""
    try:
        a = array.array("d")
        with open(path, "rb") as f:
            a.frombytes(f.read())
    except OSError:
        return {}, []
    v = sorted(a[i + 1] for i in range(0, len(a) - 1, 2) if a[i] >= since_ms)
    return pct(v), cdf_points(v)


def environment(b: Bench) -> dict:
    def cmd(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:
            return ""
    cpu = ""
    for line in cmd(["lscpu"]).splitlines():
        if line.startswith("Model name"):
            cpu = line.split(":", 1)[1].strip()
    mem = ""
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    kafka_jar = sorted((b.cache / "kafka").glob("kafka_2.13-*.jar"))
    dbz = sorted((b.cache / "debezium" / "plugins").glob("*/debezium-connector-postgres-*.jar"))
    try:
        import confluent_kafka
        ck = f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})"
    except Exception:
        ck = "?"
    return {
        "host": platform.node(),
        "kernel": platform.release(),
        "os": cmd(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "cpu": cpu, "cores": os.cpu_count(), "mem_gb": round(int(mem) / 1024 / 1024, 1),
        "postgres": b.pg.scalar("SELECT version()").split(",")[0],
        "kafka": kafka_jar[0].name.replace("kafka_2.13-", "").replace(".jar", "")
        if kafka_jar else "?",
        "librdkafka": cmd(["pkg-config", "--modversion", "rdkafka"]),
        "libpq": cmd(["pkg-config", "--modversion", "libpq"]),
        "wal2kafka": cmd([str(b.w2k_bin), "--version"]),
        "wal2kafka_git": cmd(["git", "-C", str(REPO), "describe", "--always", "--dirty"]),
        "build": str(b.build),
        "debezium": dbz[0].name.replace("debezium-connector-postgres-", "").replace(".jar", "")
        if dbz else "?",
        "java": cmd(["sh", "-c", "java -version 2>&1 | head -n1"]),
        "python_client": ck,
        "pg_settings": PG_SETTINGS,
    }


# ------------------------------------------------------------------ sub-commands


def cmd_writer(a) -> int:
    """Commit small transactions at a fixed rate: every tick, one statement with ~60%
    inserts, 30% updates, 10% deletes (data-modifying CTEs: one transaction). The first
    `warmup` seconds are not measured; the rest is, and its achieved rate reported."""
    import psycopg
    tick = max(0.002, 10.0 / a.rate)  # at least 10 changes per transaction
    per_tick = a.rate * tick
    t = a.table
    sql = (f"WITH i AS (INSERT INTO {t} SELECT g, g::bigint * 1000, md5(g::text), "
           f"((g %% 100000) / 100.0)::numeric(12,2), now(), g %% 2 = 0, 'v' || g, "
           f"jsonb_build_object('k', g, 's', 'x') "
           f"FROM generate_series(%(a)s::int, %(b)s::int) g RETURNING 1), "
           f"u AS (UPDATE {t} SET b = b + 1, t = md5(t), n = n + 1, ts = now(), f = NOT f "
           f"WHERE id BETWEEN %(c)s AND %(d)s RETURNING 1), "
           f"d AS (DELETE FROM {t} WHERE id BETWEEN %(e)s AND %(f)s RETURNING 1) "
           f"SELECT (SELECT count(*) FROM i), (SELECT count(*) FROM u), (SELECT count(*) FROM d)")
    conn = psycopg.connect(a.dsn, autocommit=True)
    nxt = upd = dele = a.start_id
    owed = 0.0
    counts = [0, 0, 0]
    txns = 0
    late_ticks = 0
    max_behind = 0.0
    t0 = time.monotonic()
    end = t0 + a.warmup + a.seconds
    k = 0
    k_measure = int(a.warmup / tick)
    base = None  # (time, counts, txns, late) at the end of the warm-up
    while True:
        if k == k_measure and base is None:
            base = (time.monotonic(), time.time() * 1000, list(counts), txns, late_ticks)
        due = t0 + k * tick
        now = time.monotonic()
        if due >= end or now >= end + 1.0:
            break  # on time, or out of time: what was achieved is reported
        if due > now:
            time.sleep(due - now)
        elif now - due > tick:
            late_ticks += 1
            max_behind = max(max_behind, now - due)
        owed += per_tick
        n = int(owed)
        owed -= n
        k += 1
        if n <= 0:
            continue
        ni, nu = n * 6 // 10, n * 3 // 10
        nd = n - ni - nu
        # Updates touch rows inserted by earlier ticks; deletes, rows updated earlier.
        do_u = upd + nu - 1 < nxt
        do_d = dele + nd - 1 < upd
        p = {"a": nxt, "b": nxt + ni - 1,
             "c": upd if do_u else 1, "d": upd + nu - 1 if do_u else 0,
             "e": dele if do_d else 1, "f": dele + nd - 1 if do_d else 0}
        ci, cu, cd = conn.execute(sql, p, prepare=True).fetchone()
        counts[0] += ci
        counts[1] += cu
        counts[2] += cd
        txns += 1
        nxt += ni
        upd += nu if do_u else 0
        dele += nd if do_d else 0
    t_end = time.monotonic()
    if base is None:
        base = (t0, time.time() * 1000, [0, 0, 0], 0, 0)
    mc = [counts[i] - base[2][i] for i in range(3)]
    elapsed = t_end - base[0]
    total = sum(mc)
    Path(a.out).write_text(json.dumps({
        "changes": total, "inserts": mc[0], "updates": mc[1], "deletes": mc[2],
        "changes_total": sum(counts), "warmup_s": a.warmup, "measure_start_ms": base[1],
        "transactions": txns - base[3], "tick_ms": tick * 1000, "seconds": elapsed,
        "achieved_rate": total / elapsed if elapsed > 0 else None, "target_rate": a.rate,
        "late_ticks": late_ticks - base[4], "ticks": k - k_measure,
        "max_behind_ms": max_behind * 1000}))
    conn.close()
    return 0


def _commit_ms(m, mode: str, rx=re.compile(rb'"ts_ms":(\d+)')):
    if mode == "w2k":
        return m.timestamp()[1]  # Kafka timestamp = PostgreSQL commit time (ms)
    mt = rx.search(m.value())  # Debezium JSON: the first ts_ms is source.ts_ms (commit)
    return int(mt.group(1)) if mt else None


def _make_consumer(bootstrap: str, group: str, topic: str,
                   isolation: str = "read_committed"):
    from confluent_kafka import OFFSET_END, Consumer
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "auto.offset.reset": "latest", "enable.auto.commit": True,
                  "isolation.level": isolation})
    assigned = []

    def on_assign(cons, parts):
        for p in parts:
            p.offset = OFFSET_END
        cons.assign(parts)
        assigned.append(True)

    c.subscribe([topic], on_assign=on_assign)
    return c, assigned


def _receive(c, timeout: float = 0.05) -> list:
    """What the consumer has now, else wait for the first message (at most timeout).

    Not consume(n, timeout): that waits for n messages or the whole timeout, which
    would add up to `timeout` to every latency measured at its return."""
    msgs = c.consume(1000, 0)
    if msgs:
        return msgs
    m = c.poll(timeout)
    return [m] if m is not None else []


def cmd_consumer(a) -> int:
    """One consumer group; per message, receipt wall time minus commit time (ms)."""
    c, assigned = _make_consumer(a.bootstrap, a.group, a.topic, a.isolation)
    deadline = time.monotonic() + 60
    while not assigned:
        c.poll(0.1)
        if time.monotonic() > deadline:
            print("NOT-ASSIGNED", flush=True)
            return 1
    # Past the assignment: the position is the end of the partition.
    c.poll(0.5)
    print("READY", flush=True)
    lat = array.array("d")
    vbytes = 0
    expect = None
    expect_at = None
    last_check = 0.0
    while True:
        msgs = _receive(c)
        now_ms = time.time() * 1000
        for m in msgs:
            if m.error() or m.value() is None:
                continue
            ts = _commit_ms(m, a.mode)
            if ts is not None:
                vbytes += len(m.value())
                lat.append(ts)
                lat.append(now_ms - ts)
        mono = time.monotonic()
        if mono - last_check > 0.25:
            last_check = mono
            if expect is None and os.path.exists(a.expect_file):
                expect = int(Path(a.expect_file).read_text())
                expect_at = mono
        if expect is not None and (len(lat) // 2 >= expect or mono - expect_at > 60):
            break
    c.close()
    with open(a.lat_file, "wb") as f:
        lat.tofile(f)
    Path(a.out).write_text(json.dumps({"received": len(lat) // 2, "expected": expect,
                                       "value_bytes_mean": vbytes / max(1, len(lat) // 2)}))
    return 0


def cmd_fanout(a) -> int:
    """Several consumer groups in one process, one thread each (blocking polls release
    the GIL); per message offset, the latest receipt over these groups."""
    cs = [_make_consumer(a.bootstrap, g, a.topic) for g in a.groups.split(",")]
    deadline = time.monotonic() + 120
    while not all(x[1] for x in cs):
        for c, _ in cs:
            c.poll(0.01)
        if time.monotonic() > deadline:
            print("NOT-ASSIGNED", flush=True)
            return 1
    for c, _ in cs:
        c.poll(0.2)
    lats = [array.array("d") for _ in cs]
    maxes: list[dict[int, float]] = [{} for _ in cs]
    halt = threading.Event()

    def work(i: int) -> None:
        c, lat, mx = cs[i][0], lats[i], maxes[i]
        while not halt.is_set():
            msgs = _receive(c, 0.1)
            now_ms = time.time() * 1000
            for m in msgs:
                if m.error() or m.value() is None:
                    continue
                ts = _commit_ms(m, a.mode)
                if ts is None:
                    continue
                v = now_ms - ts
                lat.append(ts)
                lat.append(v)
                mx[m.offset()] = (ts, v)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(cs))]
    for t in threads:
        t.start()
    print("READY", flush=True)
    expect = None
    expect_at = None
    while True:
        time.sleep(0.2)
        mono = time.monotonic()
        if expect is None and os.path.exists(a.expect_file):
            expect = int(Path(a.expect_file).read_text())
            expect_at = mono
        if expect is not None and (min(len(x) for x in lats) // 2 >= expect or
                                   mono - expect_at > 90):
            break
    halt.set()
    for t in threads:
        t.join(5)
    for c, _ in cs:
        c.close()
    since = float(Path(a.since_file).read_text()) if os.path.exists(a.since_file) else 0
    max_by_offset: dict[int, float] = {}
    for mx in maxes:
        for off, (ts, v) in mx.items():
            if ts >= since and v > max_by_offset.get(off, -1e18):
                max_by_offset[off] = v
    per_group = [sorted(x[i + 1] for i in range(0, len(x), 2) if x[i] >= since) for x in lats]
    Path(a.out).write_text(json.dumps({
        "received": [len(x) for x in per_group],
        "group_p95": [pct(x).get("p95") for x in per_group if x],
        "max_by_offset": max_by_offset}))
    return 0


# ------------------------------------------------------------------ entry


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        sub = sys.argv[1]
        p = argparse.ArgumentParser(prog=f"run.py {sub}")
        if sub == "_writer":
            p.add_argument("--dsn", required=True)
            p.add_argument("--table", required=True)
            p.add_argument("--rate", type=int, required=True)
            p.add_argument("--seconds", type=float, required=True)
            p.add_argument("--warmup", type=float, default=0)
            p.add_argument("--start-id", type=int, required=True)
            p.add_argument("--out", required=True)
            return cmd_writer(p.parse_args(sys.argv[2:]))
        p.add_argument("--bootstrap", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--mode", choices=["w2k", "dbz"], required=True)
        p.add_argument("--expect-file", required=True)
        p.add_argument("--out", required=True)
        if sub == "_consumer":
            p.add_argument("--group", required=True)
            p.add_argument("--lat-file", required=True)
            p.add_argument("--isolation", default="read_committed")
            return cmd_consumer(p.parse_args(sys.argv[2:]))
        if sub == "_fanout":
            p.add_argument("--groups", required=True)
            p.add_argument("--since-file", required=True)
            return cmd_fanout(p.parse_args(sys.argv[2:]))
        print(f"unknown sub-command {sub}", file=sys.stderr)
        return 2

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    p.add_argument("--name", help="report name (default: baseline, or quick with --quick)")
    p.add_argument("--phases", help=f"comma-separated subset of {','.join(ALL_PHASES)}")
    p.add_argument("--no-debezium", action="store_true", help="leave Debezium out")
    p.add_argument("--no-eos", action="store_true",
                   help="leave wal2kafka's exactly-once mode out")
    p.add_argument("--w2k-property", action="append", default=[], metavar="K=V",
                   help="extra librdkafka property for wal2kafka (experiments; the report "
                   "then no longer shows its defaults)")
    p.add_argument("--w2k-delivery", default="", metavar="SETTINGS",
                   help="extra settings of wal2kafka's delivery group, this build only (not "
                   "--before's), e.g. \"send_when_idle_ms = 1;\"")
    p.add_argument("--contenders", help="latency and fan-out: only these (e.g. wal2kafka,raw)")
    p.add_argument("--debezium-scaling", action="store_true",
                   help="run Debezium in the scaling phase too (slow)")
    p.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")),
                   help="the build directory with wal2kafka and w2k_rawreader")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--before", metavar="DIR",
                   help="an older build directory: its wal2kafka runs next to this one in the "
                   "catch-up and latency phases (contenders wal2kafka-before, "
                   "wal2kafka-eos-before)")
    p.add_argument("--note", action="append", default=[], help="a line for the report's notes")
    p.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                   help="before each run, wait up to S seconds until other processes on the "
                   "machine use < 0.2 cores (default 0: measure, don't wait)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                   help="override a size, e.g. --set lat_rates=[1000] --set lat_seconds=20 "
                   f"(keys: {', '.join(FULL)})")
    args = p.parse_args()
    name = args.name or ("quick" if args.quick else "baseline")
    outdir = BENCH / "results"
    outdir.mkdir(exist_ok=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    b = Bench(args)
    b.results["command"] = " ".join(["bench/run.py", *sys.argv[1:]])  # run.sh ends in it
    if not b.w2k_bin.exists() or not b.raw_bin.exists():
        print(f"run.py: build wal2kafka and w2k_rawreader first ({b.build})", file=sys.stderr)
        return 2
    rc = 0
    try:
        b.run()
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): stopping everything")
        b.results["errors"].append(f"interrupted: {e}")
        rc = 130
    except Exception as e:
        import traceback
        traceback.print_exc()
        b.results["errors"].append(f"{type(e).__name__}: {e}")
        rc = 1
    finally:
        # Ignore further Ctrl-C while cleaning up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        Child.stop_all()
        b.stop_servers()
        if args.keep:
            log(f"kept {b.tmp}")
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)
    if b.results.get("env"):
        import report
        md = report.write(b.results, outdir, name)
        log(f"report: {md}")
    return rc or (1 if b.results["errors"] else 0)


if __name__ == "__main__":
    sys.exit(main())
