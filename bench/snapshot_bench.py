#!/usr/bin/env python3
"""wal2kafka initial-snapshot benchmark: throughput (rows/s) of the snapshot of a
5,000,000-row table and wal2kafka's peak RSS during it.

    .venv/bin/python bench/snapshot_bench.py [--rows 5000000] [--partitions 1]
                                             [--build build] [--name snapshot] [--keep]
                                             [--wait-quiet S]

The table: items(id int primary key, name text, qty int, price numeric(10,2),
updated_at timestamptz, note text), ROWS rows (note: 32 hex characters), ANALYZEd.
wal2kafka streams it with the example configuration's producer settings (lz4,
max_in_flight 100000, 1 partition by default) and snapshot = "initial": it creates the
slot, reads every row inside the exported snapshot as an 'r' event, waits for the
broker's acknowledgements, then starts streaming.

Measured:
  rows/s     ROWS / (time of "snapshot done and acknowledged" - time of "snapshot of
             public.items: starting"), both from wal2kafka's log (its own clock): every row
             read, encoded, produced and acknowledged by the broker (acks=all)
  read rate  wal2kafka's own "done: N rows in X s" line (read + produced, before the
             last acknowledgements)
  peak RSS   the largest VmRSS sampled every 50 ms from /proc/PID/status, and VmHWM (the
             kernel's high-water mark) read just before wal2kafka is stopped
  CPU        user+sys of the wal2kafka process over the run (/proc/PID/stat)
Every row is checked to be in Kafka: the topic's end offsets sum to ROWS.

Starts its own PostgreSQL 15 and Kafka broker (integration/servers.py) unless
W2K_PG_PORT (+ W2K_PG_DIR) and W2K_KAFKA_BOOTSTRAP (+ W2K_KAFKA_DIR) name running ones,
and stops them at the end (also on error and Ctrl-C). Writes bench/results/NAME.md and
NAME.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "integration"))

from servers_up import ServersUp  # noqa: E402
from w2k import Connector, end_offsets  # noqa: E402

FILL_SQL = """
CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2),
                    updated_at timestamptz, note text);
INSERT INTO items
  SELECT i, 'item ' || i, i % 100, (i % 1000) + 0.5,
         timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second', md5(i::text)
  FROM generate_series(1, {rows}) i;
ANALYZE items;
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def log_ts(text: str, pattern: str) -> float:
    """Seconds since 1970 of the first wal2kafka log line matching pattern."""
    for line in text.splitlines():
        if re.search(pattern, line):
            m = re.match(r"ts=(\S+)Z ", line)
            t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
            return t.replace(tzinfo=dt.timezone.utc).timestamp()
    raise RuntimeError(f"/{pattern}/ not in the wal2kafka log")


class Sampler:
    """Samples VmRSS of a process every `interval` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                            self.samples += 1
            except OSError:
                return
            self._stop.wait(self.interval)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(5)


def wait_quiet(limit_s: float) -> float:
    """Wait (at most limit_s) until the 1-minute load average is below 1.5 (others'
    work competes with the measurement on a small machine); returns it."""
    deadline = time.monotonic() + limit_s
    while True:
        load = os.getloadavg()[0]
        if load < 1.5 or time.monotonic() >= deadline:
            return load
        time.sleep(5)


def proc_status(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--name", default="snapshot")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before the snapshot wait up to S s for a load average below 1.5")
    a = ap.parse_args()
    binary = Path(a.build) / "wal2kafka"
    if not binary.exists():
        ap.error(f"{binary} is missing: build it (cmake --build build)")

    up = ServersUp("snapbench", keep=a.keep)
    work = up.work
    conn = None
    db = None
    try:
        pg, kafka = up.start()
        db = pg.create_database(f"snapbench_{os.getpid()}")
        log(f"filling items with {a.rows:,} rows")
        t0 = time.monotonic()
        db.psql(FILL_SQL.format(rows=a.rows), timeout=3600)
        t_fill = time.monotonic() - t0
        size = db.scalar("SELECT pg_size_pretty(pg_table_size('items'))")
        log(f"filled in {t_fill:.1f} s ({size})")

        prefix = f"sb{os.getpid()}_{int(time.time())}"
        conn = Connector(binary, db, kafka, ["public.items"], prefix, workdir=work,
                         settings={"kafka": {"topic": {"partitions": a.partitions},
                                             "properties": ["compression.type=lz4"]},
                                   "delivery": {"max_in_flight": 100000}})
        if a.wait_quiet:
            load = wait_quiet(a.wait_quiet)
            log(f"1-minute load average {load:.1f}")
        load0 = os.getloadavg()[0]
        conn.start()
        sampler = Sampler(conn.pid).start()
        conn.wait_log(r"snapshot done and acknowledged", timeout=3600)
        status = proc_status(conn.pid)
        cpu = proc_cpu_s(conn.pid)
        sampler.stop()
        load1 = os.getloadavg()[0]
        text = conn.log()
        t_start = log_ts(text, r"snapshot of public\.items: starting")
        t_acked = log_ts(text, r"snapshot done and acknowledged")
        m = re.search(r"snapshot of public\.items done: (\d+) rows in ([\d.]+) s \((\d+) rows/s\)",
                      text)
        read_rows, read_s, read_rate = int(m.group(1)), float(m.group(2)), int(m.group(3))
        assert read_rows == a.rows, f"wal2kafka read {read_rows} rows, the table has {a.rows}"
        conn.wait_streaming(60)
        assert conn.stop(timeout=300) == 0
        conn = None
        held = sum(end_offsets(kafka, f"{prefix}.public.items").values())
        assert held == a.rows, f"{held} messages in the topic, expected {a.rows}"
        secs = t_acked - t_start
        rate = a.rows / secs
        peak_mb = max(sampler.peak_kb, status["VmHWM"]) / 1024
        meta = {"rows": a.rows, "partitions": a.partitions, "table_size": size,
                "fill_s": t_fill, "snapshot_s": secs, "rows_per_s": rate,
                "read_s": read_s, "read_rows_per_s": read_rate,
                "peak_rss_mb": peak_mb, "sampled_peak_rss_mb": sampler.peak_kb / 1024,
                "vmhwm_mb": status["VmHWM"] / 1024, "rss_samples": sampler.samples,
                "cpu_s": cpu, "load_avg_start": load0, "load_avg_end": load1,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                           f"{platform.system()} {platform.release()}",
                "date": time.strftime("%Y-%m-%d %H:%M"), "binary": str(binary)}
        lines = [f"# initial snapshot of a {a.rows:,}-row table",
                 "",
                 f"{meta['date']}, {meta['machine']}; 1-minute load average {load0:.1f} at the "
                 f"start, {load1:.1f} at the end (2 cores: above ~1, other work competes). "
                 f"Table items ({size}; id int primary key, name text, qty int, "
                 f"price numeric(10,2), updated_at timestamptz, note text), {a.partitions} "
                 f"partition(s), lz4, delivery.max_in_flight 100000, acks=all.",
                 "",
                 "| | |",
                 "|---|---:|",
                 f"| rows | {a.rows:,} |",
                 f"| snapshot, start to acknowledged | {secs:.1f} s |",
                 f"| **throughput** | **{rate:,.0f} rows/s** |",
                 f"| read and produced (wal2kafka's own line) | {read_s:.1f} s, {read_rate:,} rows/s |",
                 f"| **peak RSS of wal2kafka** | **{peak_mb:.0f} MB** |",
                 f"| (sampled VmRSS max / VmHWM) | {sampler.peak_kb / 1024:.0f} MB / "
                 f"{status['VmHWM'] / 1024:.0f} MB ({sampler.samples} samples) |",
                 f"| CPU of wal2kafka (user+sys) | {cpu:.1f} s ({cpu / secs:.0%} of one core "
                 f"over the snapshot) |",
                 "",
                 "Throughput: rows / (log time of \"snapshot done and acknowledged\" - log time "
                 "of \"snapshot of public.items: starting\"): every row read inside the slot's "
                 "exported snapshot, Avro-encoded, produced and acknowledged. Peak RSS: the "
                 "largest of VmRSS sampled every 50 ms and VmHWM read before the stop. All "
                 f"{a.rows:,} rows checked to be in the topic (end offsets)."]
        out_md = BENCH / "results" / f"{a.name}.md"
        out_md.parent.mkdir(exist_ok=True)
        out_md.write_text("\n".join(lines) + "\n")
        (BENCH / "results" / f"{a.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print()
        print("\n".join(lines))
        print(f"\nwritten: {out_md}")
        return 0
    finally:
        if conn is not None:
            conn.cleanup()
        if db is not None:
            try:
                db.drop()
            except Exception as e:  # keep tearing down
                print(f"snapshot_bench: dropping {db}: {e}", file=sys.stderr)
        up.stop()


if __name__ == "__main__":
    sys.exit(main())
