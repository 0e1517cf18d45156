#!/usr/bin/env python3
"""Availability soak (issue 14, point 7): wal2kafka under a steady writer while faults
come every 60-120 s, on loopback.

    bench/soak.py [--minutes 30] [--seed N] [--rate 100] [--pg 17] [--brokers 1]
                  [--kafka-property NAME=VALUE] [--name soak]
    bench/run.sh soak [same options]

Starts a PostgreSQL primary (the cached build of --pg, 17+ for failover slots) with a
physical standby (integration/servers.py start_standby), one Kafka broker (--brokers N:
an N-node KRaft cluster, servers.py KafkaCluster: every topic with replication factor
min(3, N) and min.insync.replicas 2, wal2kafka producing with acks=all, every client
given all N bootstrap servers), and TWO
wal2kafka processes with the same configuration (standby.enabled = true: one streams,
the other waits as a hot standby). Both, and the writer, use a conninfo naming both
PostgreSQL servers with target_session_attrs=read-write; after a failover the standby
is rebuilt on the old primary's port, so that conninfo stays right.

- writer: `--rate` commits/s, each one row of t0/t1 inserted or updated with a new
  global sequence number (seq). It outlives outages; a commit whose outcome is unknown
  (the connection broke during COMMIT) is resolved by reading the row back.
- consumer: reads every table topic (read_committed) continuously, stamping receipt
  times.
- faults, one every 60-120 s (seeded, printed), cycling through a seeded shuffle of:
  kill9_w2k (kill -9 of the active instance, restarted as the new standby),
  broker_kill (kill -9, restart), broker_freeze (SIGSTOP 10-30 s, SIGCONT) -- with
  --brokers N, of one node drawn at random, never more than one at a time --,
  pg_restart (immediate), failover (primary stopped, standby promoted, a new standby
  built by copying the new primary's data directory).

Report (printed, bench/results/NAME.md and NAME.json): the faults with times;
availability = share of the seconds with commits in which every change committed in
that second reached Kafka within 5 s; lost, duplicated and out-of-order (per key)
counts; the longest gap; p50/p99 commit→receipt; the load average during the run.
Exit 1 if anything was lost or out of order.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import re
import shutil
import signal
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "integration"))

KINDS = ["kill9_w2k", "broker_kill", "broker_freeze", "pg_restart", "failover"]
TABLES = ["t0", "t1"]
HOT_KEYS = 20  # rows per table at the start; updates mostly hit these
WITHIN_S = 5.0  # the availability bound: committed → in Kafka
DB = "soak"


def log(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)


# ------------------------------------------------------------------------ writer


class SeqWriter:
    """Commits `rate` transactions/s through a multi-host conninfo, each one row of one
    table inserted or updated to carry seq = n (n = 1, 2, ...). ops[n] = (table, id,
    commit time) for every n known committed; a commit of unknown outcome is resolved by
    reading the row back after reconnecting (seq == n: it committed)."""

    def __init__(self, dsn: str, password: str, rate: float, seed: int):
        self.dsn, self.password, self.rate = dsn, password, rate
        self.rng = random.Random(seed)
        self.ops: dict[int, tuple[str, int, float]] = {}
        self.next_id = {t: HOT_KEYS + 1 for t in TABLES}
        self.seq = 0
        self.in_doubt = 0
        self.in_doubt_committed = 0
        self.reconnects = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="writer")

    def start(self) -> "SeqWriter":
        self._thread.start()
        return self

    def _connect(self):
        import psycopg
        while not self._stop.is_set():
            try:
                return psycopg.connect(self.dsn, password=self.password, autocommit=False,
                                       connect_timeout=3)
            except psycopg.Error:
                self._stop.wait(0.1)
        return None

    def _resolve(self, conn, doubt) -> None:
        t, k, n, t_try = doubt
        row = conn.execute(f"SELECT seq FROM {t} WHERE id = %s", (k,)).fetchone()
        conn.rollback()
        self.in_doubt += 1
        if row is not None and row[0] == n:
            self.ops[n] = (t, k, t_try)
            self.in_doubt_committed += 1

    def _run(self) -> None:
        import psycopg
        period = 1.0 / self.rate
        next_at = time.monotonic()
        conn = None
        doubt = None
        try:
            while not self._stop.is_set():
                if conn is None:
                    conn = self._connect()
                    if conn is None:
                        break
                    try:
                        if doubt is not None:
                            self._resolve(conn, doubt)
                            doubt = None
                    except psycopg.Error:
                        conn.close()
                        conn = None
                        continue
                    next_at = time.monotonic()
                t = self.rng.choice(TABLES)
                n = self.seq + 1
                insert = self.rng.random() < 0.2
                k = self.next_id[t] if insert else self.rng.randint(1, HOT_KEYS)
                t_try = time.time()
                try:
                    if insert:
                        conn.execute(f"INSERT INTO {t} (id, seq) VALUES (%s, %s)", (k, n))
                    else:
                        conn.execute(f"UPDATE {t} SET seq = %s WHERE id = %s", (n, k))
                    conn.commit()
                except psycopg.Error:
                    # the outcome of n is unknown: resolve it on the next connection
                    # (nothing else writes these rows)
                    self.reconnects += 1
                    doubt = (t, k, n, t_try)
                    self.seq = n
                    if insert:
                        self.next_id[t] += 1
                    try:
                        conn.close()
                    except Exception:
                        pass
                    conn = None
                    continue
                self.seq = n
                if insert:
                    self.next_id[t] += 1
                self.ops[n] = (t, k, time.time())
                next_at += period
                delay = next_at - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind: no burst to catch up
        except BaseException as e:  # reported by stop()
            self.error = e
        finally:
            if conn is not None:
                conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(120)
        if self.error:
            raise self.error


# ---------------------------------------------------------------------- consumer


class Receiver:
    """Reads the table topics from the beginning (read_committed) until stopped;
    got: (topic, partition, offset, id, seq, receipt time, the broker's append time)
    per message, in arrival order (the table topics use LogAppendTime)."""

    def __init__(self, kafka, prefix: str, topics: list[str], conf: dict | None = None):
        from w2k import Decoder
        self.kafka, self.topics, self.conf = kafka, topics, conf or {}
        self.decoder = Decoder(kafka, prefix)
        self.got: list[tuple] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="receiver")

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def _decode(self, data):
        while True:
            try:
                return self.decoder.decode(data)
            except (TimeoutError, KeyError, RuntimeError):
                if self._stop.is_set():
                    raise
                time.sleep(0.5)  # the broker is away: the schema comes when it is back

    def _run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition
        try:
            c = self.kafka.consumer(None, **{"isolation.level": "read_committed",
                                             "enable.auto.commit": False,
                                             "enable.partition.eof": False,
                                             **self.conf})
            c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in self.topics
                      for p in range(self.kafka.partitions(t))])
            while not self._stop.is_set():
                m = c.poll(0.05)
                if m is None or m.error():
                    continue
                now = time.time()
                if m.value() is None:
                    continue
                v = self._decode(m.value())
                after = v["after"]
                self.got.append((m.topic(), m.partition(), m.offset(), after["id"],
                                 after["seq"], now, m.timestamp()[1] / 1000.0))
            c.close()
        except BaseException as e:
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        if self.error:
            raise self.error


# ------------------------------------------------------------------------- rig


class Soak:
    def __init__(self, args, workdir: Path):
        from servers import Kafka, KafkaCluster, Postgres, free_ports
        self.args = args
        self.workdir = workdir
        self.rng = random.Random(args.seed)
        self.faults: list[dict] = []
        self.load: list[tuple[float, float]] = []
        self.outages: list[tuple[float, float]] = []
        # with several brokers one broker's outage is not the cluster's: the cluster
        # stays up, hiding it is wal2kafka's (and Kafka's) job; kept apart, not excused
        self.broker_outages: list[tuple[float, float]] = []
        self.node_rng = random.Random(args.seed * 31 + 7)  # which node a fault hits
        self.primary = Postgres(version=args.pg).start()
        self.primary.create_database(DB)
        for t in TABLES:
            self.primary.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, seq bigint NOT NULL)",
                                 dbname=DB)
            self.primary.execute(f"INSERT INTO {t} SELECT i, 0 FROM generate_series(1, "
                                 f"{HOT_KEYS}) i", dbname=DB)
        self.standby = self.primary.start_standby()
        if args.brokers > 1:
            self.kafka = KafkaCluster(args.brokers, heap=args.broker_heap,
                                      properties=args.broker_property).start()
            self.brokers = self.kafka.nodes
        else:
            k_port, k_ctl = free_ports(2)
            self.kafka = Kafka(port=k_port, controller_port=k_ctl).start()
            self.brokers = [self.kafka]
        # the soak's own clients: librdkafka's connection errors during broker faults
        # are expected, keep them off the report
        config = self.kafka.config
        self.kafka.config = lambda **conf: {**config(**conf), "log_level": 2}
        self.prefix = f"soak{os.getpid()}"
        self.topics = [f"{self.prefix}.public.{t}" for t in TABLES]
        from w2k_faults import create_table_topics
        create_table_topics(self.kafka, self.topics, partitions=3)
        self.instances = self._instances()

    def conninfo(self, **extra) -> str:
        p, s = self.primary, self.standby
        parts = {"host": f"{p.host},{s.host}", "port": f"{p.port},{s.port}", "dbname": DB,
                 "user": p.user, "target_session_attrs": "read-write",
                 "connect_timeout": "3", **extra}
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def db(self):
        from servers import Database
        return Database(self.primary, DB)

    def _instances(self):
        from servers import free_ports
        from w2k import Connector
        from w2k_faults import DEFAULT_RETRY
        stream = "soak"
        conns = []
        for name, port in zip("ab", free_ports(2)):
            settings = {
                "postgresql": {"conninfo": self.conninfo(application_name=f"w2k_{name}")},
                "delivery": {"exactly_once": self.args.exactly_once},
                "standby": {"enabled": True},
                "metrics": {"listen": f"127.0.0.1:{port}"},
                "retry": dict(DEFAULT_RETRY),
            }
            if self.args.brokers > 1:
                settings["kafka"] = {"topic": {"replication_factor":
                                               self.kafka.replication_factor}}
            if self.args.kafka_property:
                settings.setdefault("kafka", {})["properties"] = list(self.args.kafka_property)
            c = Connector(self.args.binary, self.db(), self.kafka,
                          [f"public.{t}" for t in TABLES], self.prefix, workdir=self.workdir,
                          settings=settings, stream=stream, name=f"w2k_{name}")
            c.app = f"w2k_{name}"
            c.metrics_port = port
            conns.append(c)
        return conns

    # -- who streams
    def active(self, timeout: float = 30.0):
        """The instance whose session holds the slot now (None if nobody within timeout)."""
        slot = self.instances[0].slot
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                rows = self.primary.execute(
                    "SELECT r.application_name FROM pg_replication_slots s JOIN "
                    "pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = %s",
                    (slot,), dbname=DB)
            except Exception:
                rows = None
            if rows:
                for c in self.instances:
                    if c.app == rows[0][0]:
                        return c
            time.sleep(0.2)
        return None

    def health(self, c) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{c.metrics_port}/health",
                                        timeout=3) as r:
                return r.read().decode().split("\n")[0]
        except urllib.error.HTTPError as e:
            return f"{e.code} {e.read().decode().split(chr(10))[0]}"
        except Exception as e:
            return f"? {e.__class__.__name__}"

    def check_instances(self) -> None:
        """An instance that exited is logged and started again (as an operator's
        supervisor would); its exit is recorded as an event."""
        for c in self.instances:
            if c.proc is not None and c.proc.poll() is not None:
                rc = c.proc.returncode
                tail = c.log_tail(5).strip().replace("\n", " | ")
                log(f"!! {c.app} exited with {rc}; restarting it. log: {tail[-600:]}")
                self.faults.append({"t": time.time(), "kind": "instance_exit",
                                    "detail": f"{c.app} exited {rc}"})
                c.start()

    # -- faults
    def fault(self, kind: str) -> str:
        """Inject one fault; returns what happened. self.outages gets the (start, end)
        times in which PostgreSQL or the broker itself was away (a kill of wal2kafka
        adds none: hiding it is wal2kafka's job)."""
        if kind == "kill9_w2k":
            c = self.active()
            if c is None:
                c = self.instances[0]
            c.proc.kill()
            c.proc.wait(30)
            c.start()
            return f"{c.app} (pid killed), restarted as standby"
        if kind == "broker_kill":
            node, name = self.pick_broker()
            a = time.time()
            node.kill()
            t = time.monotonic()
            node.start()
            self.broker_outage((a, time.time()))
            return f"{name} down {time.monotonic() - t:.1f}s (kill -9, restart)"
        if kind == "broker_freeze":
            secs = self.rng.uniform(10, 30)
            node, name = self.pick_broker()
            pid = int((node.dir / "kafka.pid").read_text().strip())
            a = time.time()
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(secs)
            finally:
                os.kill(pid, signal.SIGCONT)
            self.broker_outage((a, time.time()))
            return f"{name} frozen {secs:.1f}s"
        if kind == "pg_restart":
            a, t = time.time(), time.monotonic()
            self.primary.restart("immediate")
            self.outages.append((a, time.time()))
            return f"primary restarted (immediate) in {time.monotonic() - t:.1f}s"
        if kind == "failover":
            return self.failover()
        raise ValueError(kind)

    def pick_broker(self):
        """The broker a broker fault hits: the only one, or a node of the cluster drawn
        at random (node_rng), after every node is checked running: faults come one at a
        time, so never fewer than N - 1 run."""
        if len(self.brokers) == 1:
            return self.kafka, "broker"
        for i, k in enumerate(self.brokers):
            if not k.is_running():
                log(f"!! broker {i + 1} is not running before a fault; starting it")
                k.start()
        i = self.node_rng.randrange(len(self.brokers))
        return self.brokers[i], f"broker {i + 1} of {len(self.brokers)}"

    def broker_outage(self, span: tuple[float, float]) -> None:
        """A broker was away: an outage of the servers with one broker, not with several."""
        (self.outages if len(self.brokers) == 1 else self.broker_outages).append(span)

    def synced_ready(self) -> bool:
        slot = self.instances[0].slot
        try:
            self.primary.execute("SELECT pg_log_standby_snapshot()")
            want = self.primary.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                                       "WHERE slot_name = %s", (slot,))
            row = self.standby.execute(
                "SELECT synced AND NOT temporary, confirmed_flush_lsn >= %s::pg_lsn FROM "
                "pg_replication_slots WHERE slot_name = %s", (str(want), slot))
        except Exception:
            return False
        return bool(row and row[0][0] and row[0][1])

    def failover(self) -> str:
        t0 = time.monotonic()
        ready = self.synced_ready()
        while not ready and time.monotonic() - t0 < 60:
            time.sleep(0.5)
            ready = self.synced_ready()
        waited = time.monotonic() - t0
        old, new = self.primary, self.standby
        old_port = old.port
        t1, a = time.monotonic(), time.time()
        old.stop("fast")
        new.promote()
        promoted = time.monotonic() - t1
        self.outages.append((a, time.time()))
        self.primary = new
        for c in self.instances:
            c.db = self.db()
        old.destroy()
        # a new standby on the old primary's port: every multi-host conninfo stays right
        t2, a = time.monotonic(), time.time()
        self.standby = new.start_standby(port=old_port)
        self.outages.append((a, time.time()))
        return (f"synced slot {'ready' if ready else 'NOT ready'} after {waited:.1f}s; "
                f"primary {old_port} stopped, {new.port} promoted in {promoted:.1f}s; new "
                f"standby on {old_port} built in {time.monotonic() - t2:.1f}s (the new "
                f"primary is stopped for the copy)")

    def sample_load(self) -> None:
        self.load.append((time.time(), os.getloadavg()[0]))

    def destroy(self) -> None:
        for c in self.instances:
            try:
                c.stop(60) if c.running() else None
            except Exception:
                c.cleanup()
        for s in (self.kafka, self.standby, self.primary):
            try:
                s.destroy()
            except Exception as e:
                log(f"cleanup of {s!r} failed: {e}")


# -------------------------------------------------------------------- analysis


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def fault_of(fault_times: list[float], t: float) -> int | None:
    """Index of the latest fault that began at or before t (None: before the first)."""
    i = bisect.bisect_right(fault_times, t) - 1
    return i if i >= 0 else None


def analyse(ops: dict, got: list[tuple], t_start: float, t_end: float,
            final_rows: dict, outages: list[tuple[float, float]],
            fault_times: list[float]) -> dict:
    """ops: seq -> (table, id, commit time) of every committed change; got: what the
    consumer received. Lost, duplicated, out of order per key (the project's rule,
    w2k.check_versions: each message per key is the next change, or the start or
    continuation of a replay; and the last message of each key is its last change)."""
    first_recv: dict[int, float] = {}
    count: dict[int, int] = {}
    dup_times: list[float] = []
    per_key_msgs: dict[tuple, list] = {}
    topic_table = {}
    first_append: dict[int, float] = {}
    for topic, part, off, k, seq, tr, ta in got:
        table = topic.rsplit(".", 1)[1]
        topic_table[topic] = table
        if seq == 0:  # the initial snapshot rows
            continue
        count[seq] = count.get(seq, 0) + 1
        if seq in first_recv:
            dup_times.append(tr)
        first_recv.setdefault(seq, tr)
        if ta > 0:
            first_append[seq] = min(ta, first_append.get(seq, ta))
        per_key_msgs.setdefault((table, k), []).append((part, off, seq))
    lost = sorted(n for n in ops if n not in first_recv)
    phantom = sorted(n for n in first_recv if n not in ops)
    duplicated = sum(c - 1 for c in count.values())
    # per key: the committed changes in commit order
    per_key_ops: dict[tuple, list[int]] = {}
    for n in sorted(ops):
        t, k, _ = ops[n]
        per_key_ops.setdefault((t, k), []).append(n)
    out_of_order = []
    stale_last = []
    for key, msgs in per_key_msgs.items():
        msgs.sort()  # partition, offset: the order a consumer sees
        if len({p for p, _, _ in msgs}) > 1:
            out_of_order.append((key, "on several partitions"))
            continue
        index = {n: i for i, n in enumerate(per_key_ops.get(key, []))}
        top = prev = -1
        for _, off, seq in msgs:
            i = index.get(seq)
            if i is None:
                continue  # phantom, counted above
            if i > top + 1 or not (prev < 0 or i == prev + 1 or i <= prev):
                out_of_order.append((key, f"seq {seq} at offset {off} after seq "
                                          f"{per_key_ops[key][prev] if prev >= 0 else None}"))
            top = max(top, i)
            prev = i
        if key in per_key_ops and msgs and msgs[-1][2] != per_key_ops[key][-1]:
            stale_last.append((key, msgs[-1][2], per_key_ops[key][-1]))
    # the table's rows must equal the last change of each key
    table_mismatch = 0
    for (t, k), ns in per_key_ops.items():
        if final_rows.get((t, k)) != ns[-1]:
            table_mismatch += 1
    lat = [first_recv[n] - ops[n][2] for n in ops if n in first_recv]
    # availability: each second with commits is good when every change committed in it
    # reached Kafka within WITHIN_S
    secs: dict[int, bool] = {}
    for n, (_, _, tc) in ops.items():
        s = int(tc - t_start)
        ok = n in first_recv and first_recv[n] - tc <= WITHIN_S
        secs[s] = secs.get(s, True) and ok
    # the same by the broker's append time: in Kafka within WITHIN_S, whether or not
    # the consumer had it yet (tells a producer's stall from a consumer's)
    secs_append: dict[int, bool] = {}
    for n, (_, _, tc) in ops.items():
        s = int(tc - t_start)
        ok = n in first_append and first_append[n] - tc <= WITHIN_S
        secs_append[s] = secs_append.get(s, True) and ok
    total_secs = int(t_end - t_start)
    good = sum(1 for v in secs.values() if v)
    # excused: a second whose changes' 5 s window overlaps a time PostgreSQL or the
    # broker itself was away (nothing could reach Kafka then)
    def excused(s: int) -> bool:
        a, b = t_start + s, t_start + s + 1 + WITHIN_S
        return any(x < b and y > a for x, y in outages)
    counted = [s for s in secs if not excused(s)]
    good_counted = sum(1 for s in counted if secs[s])
    # per fault: a change belongs to the latest fault that began before it was received
    # or before its 5 s were up; the worst wait of its changes counted from when the
    # servers were back (its outages' end); the duplicates received until the next one
    bounds = fault_times + [float("inf")]
    per_fault = [{"recovery_s": None, "duplicates": sum(
        1 for t in dup_times if ft <= t < bounds[i + 1])} for i, ft in enumerate(fault_times)]
    backs = [max([y for x, y in outages if ft - 1 <= x < bounds[i + 1]], default=ft)
             for i, ft in enumerate(fault_times)]
    for n, (_, _, tc) in ops.items():
        if n not in first_recv:
            continue
        i = fault_of(fault_times, min(first_recv[n], tc + WITHIN_S))
        if i is None:
            continue
        w = max(0.0, first_recv[n] - max(tc, backs[i]))
        if per_fault[i]["recovery_s"] is None or w > per_fault[i]["recovery_s"]:
            per_fault[i]["recovery_s"] = w
    bad_secs = sorted(s for s, v in secs.items() if not v)
    longest_bad = run = 0
    prev_s = None
    for s in bad_secs:
        run = run + 1 if prev_s is not None and s == prev_s + 1 else 1
        longest_bad = max(longest_bad, run)
        prev_s = s
    # longest gap: the longest time a committed change waited for its receipt (no
    # delivery of it), and the longest stretch without any receipt while writing
    recv_times = sorted(g[5] for g in got if t_start <= g[5] <= t_end)
    edges = [t_start] + recv_times + [t_end]
    longest_recv_gap = max(b - a for a, b in zip(edges, edges[1:]))
    commit_times = sorted(tc for _, _, tc in ops.values())
    cedges = [t_start] + commit_times + [t_end]
    longest_commit_gap = max(b - a for a, b in zip(cedges, cedges[1:]))
    return {
        "committed": len(ops), "received_messages": len(got), "lost": len(lost),
        "lost_examples": lost[:20], "phantom": len(phantom), "duplicated": duplicated,
        "out_of_order": len(out_of_order) + len(stale_last),
        "out_of_order_examples": [str(x) for x in (out_of_order + stale_last)[:20]],
        "table_mismatch": table_mismatch,
        "seconds_total": total_secs, "seconds_with_commits": len(secs),
        "seconds_good": good, "availability": good / len(secs) if secs else None,
        "seconds_good_append": sum(1 for v in secs_append.values() if v),
        "availability_append": sum(1 for v in secs_append.values() if v) / len(secs_append)
        if secs_append else None,
        "seconds_counted_excused": len(counted), "seconds_good_excused": good_counted,
        "availability_excused": good_counted / len(counted) if counted else None,
        "per_fault": per_fault,
        "duplicates_before_first_fault": sum(1 for t in dup_times
                                             if not fault_times or t < fault_times[0]),
        "availability_all_seconds": (total_secs - len(bad_secs)) / total_secs
        if total_secs else None,
        "bad_seconds": bad_secs, "longest_bad_run_s": longest_bad,
        "longest_receipt_gap_s": longest_recv_gap,
        "longest_commit_gap_s": longest_commit_gap,
        "max_commit_to_receipt_s": max(lat) if lat else None,
        "p50_s": percentile(lat, 0.50), "p99_s": percentile(lat, 0.99),
    }


def rel(v) -> str:
    """A path under the repository as a relative one (the report names no host path)."""
    try:
        return str(Path(v).resolve().relative_to(REPO))
    except (TypeError, ValueError):
        return str(v)


def fmt(v, nd=3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def brokers_text(args, extra: dict) -> str:
    if args.brokers == 1:
        return "one Kafka broker"
    return (f"{args.brokers} Kafka brokers (KRaft, combined broker+controller nodes, "
            f"replication factor {extra.get('replication_factor', '?')}, "
            f"min.insync.replicas {extra.get('min_insync', '?')}, acks=all)")


def report(args, res: dict, faults: list, t_start: float, load: list, extra: dict) -> str:
    loads = [x for _, x in load]
    bad = set(res["bad_seconds"])
    lines = [
        f"# Availability soak ({args.name})",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t_start))}: "
        f"{args.minutes} min, seed {args.seed}, writer {args.rate:g} commits/s, "
        f"PostgreSQL {args.pg} primary + physical standby, "
        f"{brokers_text(args, extra)}, two "
        f"wal2kafka instances (standby.enabled, failover slots, "
        f"{'exactly-once' if args.exactly_once else 'at-least-once'}), commit "
        f"{extra.get('commit', '?')}. Command: `bench/soak.py {' '.join(sys.argv[1:])}`.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| availability (seconds with commits where every change reached Kafka within "
        f"{WITHIN_S:g} s) | **{100 * res['availability']:.2f} %** "
        f"({res['seconds_good']}/{res['seconds_with_commits']}) |" if res["availability"]
        is not None else "| availability | - |",
        f"| the same over all seconds of the run (seconds without a commit count as good) | "
        f"{100 * res['availability_all_seconds']:.2f} % |",
        f"| the same without the seconds whose {WITHIN_S:g} s window overlaps a time "
        + ("PostgreSQL or the broker itself was away (wal2kafka's share) | "
           if args.brokers == 1 else
           "PostgreSQL itself was away (one broker's outage is not excused: the cluster "
           "stays up) | ") +
        f"{fmt(100 * res['availability_excused'] if res['availability_excused'] is not None else None, 2)}"
        f" % ({res['seconds_good_excused']}/{res['seconds_counted_excused']}) |",
        f"| the same by the broker's append time (in Kafka within {WITHIN_S:g} s, whether "
        f"or not the consumer had it yet) | "
        f"{fmt(100 * res['availability_append'] if res['availability_append'] is not None else None, 2)}"
        f" % ({res['seconds_good_append']}/{res['seconds_with_commits']}) |",
        f"| changes committed / messages received | {res['committed']} / "
        f"{res['received_messages']} |",
        f"| lost | **{res['lost']}** |",
        f"| duplicated (re-sent) | {res['duplicated']} |",
        f"| out of order per key (incl. a stale last message) | **{res['out_of_order']}** |",
        f"| received but never committed | {res['phantom']} |",
        f"| rows whose table value is not their last change | {res['table_mismatch']} |",
        f"| commit → receipt p50 / p99 / max | {fmt(res['p50_s'])} s / {fmt(res['p99_s'])} s "
        f"/ {fmt(res['max_commit_to_receipt_s'], 1)} s |",
        f"| longest run of bad seconds | {res['longest_bad_run_s']} s |",
        f"| longest gap without any receipt | {fmt(res['longest_receipt_gap_s'], 1)} s |",
        f"| longest gap without any commit (writer blocked) | "
        f"{fmt(res['longest_commit_gap_s'], 1)} s |",
        f"| commits of unknown outcome (resolved: committed) | {extra['in_doubt']} "
        f"({extra['in_doubt_committed']}) |",
        f"| standby takeovers (\"took over slot\" in the two logs) | "
        f"{extra.get('takeovers', '-')} |",
        f"| warn/error lines in the two logs (without a hint) | "
        f"{extra.get('warn_error_lines', '-')} ({extra.get('warn_error_without_hint', '-')}) |",
        f"| load average (1 min) min / mean / max, 2 cores shared | "
        f"{fmt(min(loads) if loads else None, 1)} / "
        f"{fmt(statistics.mean(loads) if loads else None, 1)} / "
        f"{fmt(max(loads) if loads else None, 1)} |",
        "",
        "## Faults",
        "",
        "| at (s) | fault | took (s) | bad seconds | worst wait after "
        "the servers were back (s) | duplicates | detail |",
        "|---|---|---|---|---|---|---|",
    ]
    # a bad second belongs to the latest fault that began before its 5 s were up
    owner = [fault_of([f["t"] for f in faults], t_start + s + 1 + WITHIN_S) for s in bad]
    for i, f in enumerate(faults):
        a = f["t"] - t_start
        nbad = owner.count(i)
        pf = res["per_fault"][i] if i < len(res["per_fault"]) else {}
        lines.append(f"| {a:.0f} | {f['kind']} | {f.get('took', 0):.1f} | {nbad} | "
                     f"{fmt(pf.get('recovery_s'), 1)} | {pf.get('duplicates', '-')} | "
                     f"{f.get('detail', '')} |")
    before = owner.count(None)
    lines += ["", f"Bad seconds before the first fault: {before}; duplicates before it: "
                  f"{res['duplicates_before_first_fault']}.", ""]
    if res["lost_examples"]:
        lines.append(f"Lost seq (first 20): {res['lost_examples']}")
    if res["out_of_order_examples"]:
        lines.append("Out of order (first 20): " + "; ".join(res["out_of_order_examples"]))
    lines += [
        "",
        "Availability counts a second as good when every change committed in it was "
        f"received within {WITHIN_S:g} s (first receipt, read_committed consumer, by the "
        "consumer's clock). Seconds in which the writer could not commit (PostgreSQL "
        "restarting, failing over, the new primary stopped to copy it for the new "
        "standby) have no commits and are left out of the first figure. Duplicates are "
        "at-least-once re-sends; out of order means a change arriving after a later one "
        "of the same key that is not part of a replay, or a key whose last message is "
        "not its last change. A fault owns the bad seconds and the changes whose 5 s ran "
        "out (or that were received) after it began and before the next one; its worst "
        "wait counts from the end of the outage of PostgreSQL or the broker it caused "
        "(from the fault itself for a kill of wal2kafka).",
        "",
    ]
    if args.brokers > 1:
        lines += [
            f"With {args.brokers} brokers a broker fault hits one node drawn at random, "
            "never more than one at a time; the cluster stays up, so a broker's outage "
            "is not excused and a broker fault's worst wait counts from the fault itself.",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=None, help="default: random, printed")
    ap.add_argument("--rate", type=float, default=100.0, help="writer commits per second")
    ap.add_argument("--pg", default=os.environ.get("W2K_PG_VERSION", "17"),
                    help="PostgreSQL major (a cached build, 17+ for failover slots)")
    ap.add_argument("--min-gap", type=float, default=60.0)
    ap.add_argument("--max-gap", type=float, default=120.0)
    ap.add_argument("--faults", default=",".join(KINDS), help="kinds to draw from")
    ap.add_argument("--exactly-once", action="store_true")
    ap.add_argument("--brokers", type=int, default=1,
                    help="Kafka nodes: 1 (one broker), or an N-node KRaft cluster with "
                         "replication factor min(3, N) and min.insync.replicas 2")
    ap.add_argument("--kafka-property", action="append", default=[], metavar="NAME=VALUE",
                    help="a librdkafka property for wal2kafka's producer (kafka.properties;"
                         " repeatable), e.g. request.timeout.ms=5000")
    ap.add_argument("--broker-property", action="append", default=[], metavar="NAME=VALUE",
                    help="a server.properties line for every cluster node (--brokers 2+;"
                         " repeatable), e.g. request.timeout.ms=5000")
    ap.add_argument("--consumer-property", action="append", default=[], metavar="NAME=VALUE",
                    help="a librdkafka property for the soak's own read_committed consumer"
                         " (repeatable)")
    ap.add_argument("--broker-heap", default="-Xms256m -Xmx512m",
                    help="each cluster node's JVM options (--brokers 2+)")
    ap.add_argument("--name", default="soak", help="report bench/results/NAME.md/.json")
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--keep", action="store_true", help="keep logs (W2K_KEEP=1)")
    args = ap.parse_args()
    if args.brokers < 1:
        ap.error(f"--brokers {args.brokers}: give 1 or more")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1, 1 << 31)
    args.binary = Path(args.build) / "wal2kafka"
    os.environ["W2K_PG_VERSION"] = str(args.pg)
    os.environ.setdefault("W2K_CACHE", str(REPO / ".cache"))
    if args.keep:
        os.environ["W2K_KEEP"] = "1"
    import tempfile
    workdir = Path(tempfile.mkdtemp(prefix="w2k-soak-"))
    log(f"soak: {args.minutes} min, seed {args.seed}, rate {args.rate:g}/s, PostgreSQL "
        f"{args.pg}, {args.brokers} broker(s), logs in {workdir}")
    rng = random.Random(args.seed)
    kinds = args.faults.split(",")
    soak = None
    rc = 2
    stop_flag = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_flag.set())
    try:
        soak = Soak(args, workdir)
        a, b = soak.instances
        a.start().wait_streaming(120)
        b.start()
        b.wait_log(r"standby: slot \S+ is held by PID \d+", 120)
        log(f"{a.app} streams, {b.app} waits as standby")
        recv = Receiver(soak.kafka, soak.prefix, soak.topics,
                        dict(kv.split("=", 1) for kv in args.consumer_property)).start()
        writer = SeqWriter(soak.conninfo(application_name="soak_writer"),
                           soak.primary.password, args.rate, args.seed).start()
        t_start = time.time()
        t_end_plan = t_start + args.minutes * 60
        schedule = []
        plan: list[str] = []
        t = t_start
        while True:
            t += rng.uniform(args.min_gap, args.max_gap)
            if t > t_end_plan - 30:
                break
            if not plan:
                plan = kinds[:]
                rng.shuffle(plan)
            schedule.append((t, plan.pop(0)))
        log("schedule: " + ", ".join(f"{k}@{x - t_start:.0f}s" for x, k in schedule))
        while time.time() < t_end_plan and not stop_flag.is_set():
            soak.sample_load()
            soak.check_instances()
            if writer.error:
                raise writer.error
            if recv.error:
                raise recv.error
            if schedule and time.time() >= schedule[0][0]:
                _, kind = schedule.pop(0)
                tf = time.time()
                log(f"fault {kind} ...")
                detail = soak.fault(kind)
                took = time.time() - tf
                soak.faults.append({"t": tf, "kind": kind, "took": took, "detail": detail})
                log(f"fault {kind} done in {took:.1f}s: {detail}; committed {len(writer.ops)},"
                    f" received {len(recv.got)}; {a.app} {soak.health(a)}, "
                    f"{b.app} {soak.health(b)}")
            time.sleep(1)
        t_end = time.time()
        writer.stop()
        log(f"writer stopped: {len(writer.ops)} committed; draining")
        want = set(writer.ops)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            soak.check_instances()
            have = {g[4] for g in recv.got}
            if want <= have:
                break
            time.sleep(1)
        time.sleep(3)  # late duplicates
        recv.stop()
        final = {}
        for tname in TABLES:
            for k, s in soak.primary.execute(f"SELECT id, seq FROM {tname}", dbname=DB):
                final[(tname, k)] = s
        res = analyse(writer.ops, recv.got, t_start, t_end, final, soak.outages,
                      [f["t"] for f in soak.faults])
        import subprocess
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        extra = {"in_doubt": writer.in_doubt, "in_doubt_committed": writer.in_doubt_committed,
                 "commit": commit, "brokers": args.brokers}
        if args.brokers > 1:
            extra["replication_factor"] = soak.kafka.replication_factor
            extra["min_insync"] = soak.kafka.min_insync
            extra["broker_outages"] = [(x - t_start, y - t_start)
                                       for x, y in soak.broker_outages]
        logs = "".join(c.log() for c in soak.instances)
        wl = [ln for ln in logs.splitlines() if re.search(r"level=(warn|error)", ln)]
        extra["takeovers"] = logs.count("took over slot")
        extra["warn_error_lines"] = len(wl)
        extra["warn_error_without_hint"] = sum(1 for ln in wl if "hint=" not in ln)
        md = report(args, res, soak.faults, t_start, soak.load, extra)
        print(md)
        out = REPO / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / f"{args.name}.md").write_text(md)
        (out / f"{args.name}.json").write_text(json.dumps(
            {"args": {k: rel(v) for k, v in vars(args).items()}, "result": res,
             "faults": [{**f, "t": f["t"] - t_start} for f in soak.faults],
             "load": [(t - t_start, x) for t, x in soak.load], **extra}, indent=1))
        for c in soak.instances:
            n = c.log().count("took over slot")
            log(f"{c.app}: {n} takeovers; log {c.log_path}")
        rc = 1 if res["lost"] or res["out_of_order"] else 0
        return rc
    finally:
        if soak is not None:
            soak.destroy()
        if rc == 0 and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"kept the wal2kafka logs in {workdir}")


if __name__ == "__main__":
    sys.exit(main())
