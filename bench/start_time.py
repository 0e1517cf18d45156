#!/usr/bin/env python3
"""wal2kafka start and restart time: how long after the process starts the first change
is in Kafka, with the topics, publication and slot already there.

    .venv/bin/python bench/start_time.py [--build build] [--before BINARY] [--runs 5]
                                         [--name start-time]

Per binary (the one under test and, with --before, an older build, in the same run) one
table items(id int primary key, v text) and its stream, set up by a first run. Then RUNS
times each:

  start     wal2kafka stopped (SIGTERM); a row committed; the process started: the time
            until the row is in the topic (its end offset, polled every few ms, moves:
            the broker acknowledged it)
  kill -9   wal2kafka streaming, killed with SIGKILL (PostgreSQL released the slot); a row
            committed; the process started: the time until the row is in the topic

Prints and writes the median and every run to bench/results/NAME.md (and NAME.json).
Starts its own PostgreSQL 15 and Kafka broker (integration/servers.py), stops them at
the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "integration"))

import servers  # noqa: E402
from servers import Kafka, Postgres  # noqa: E402
from w2k import Connector  # noqa: E402


def end_offset(consumer, topic: str) -> int:
    from confluent_kafka import TopicPartition
    return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)[1]


def time_to_row(conn: Connector, consumer, topic: str, before: int, timeout: float = 60) -> float:
    """Start conn; seconds until topic's end offset passes before."""
    t0 = time.monotonic()
    conn.start()
    deadline = t0 + timeout
    while end_offset(consumer, topic) <= before:
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new message in {topic} {timeout} s after the start\n"
                               f"{conn.log_tail()}")
        conn.check_alive()
        time.sleep(0.002)
    return time.monotonic() - t0


def measure(binary: Path, db, kafka, work: Path, label: str, runs: int) -> dict:
    db.execute(f"CREATE TABLE items_{label} (id int PRIMARY KEY, v text)")
    conn = Connector(binary, db, kafka, [f"public.items_{label}"], f"st{label}{os.getpid()}",
                     workdir=work, name=label)
    topic = conn.topic(f"items_{label}")
    consumer = kafka.consumer()
    key = 0
    try:
        conn.start().wait_streaming(120)
        key += 1
        db.execute(f"INSERT INTO items_{label} VALUES (%s, 'setup')", (key,))
        conn.wait_caught_up(120)
        starts, kills = [], []
        for _ in range(runs):
            assert conn.stop(120) == 0
            key += 1
            db.execute(f"INSERT INTO items_{label} VALUES (%s, 'start')", (key,))
            starts.append(time_to_row(conn, consumer, topic, end_offset(consumer, topic)))
            conn.wait_caught_up(120)
        for _ in range(runs):
            conn.wait_streaming(120)
            conn.kill()
            key += 1
            db.execute(f"INSERT INTO items_{label} VALUES (%s, 'kill')", (key,))
            kills.append(time_to_row(conn, consumer, topic, end_offset(consumer, topic)))
            conn.wait_caught_up(120)
        assert conn.stop(120) == 0
        return {"binary": str(binary), "start_s": starts, "kill_s": kills,
                "start_median_s": statistics.median(starts),
                "kill_median_s": statistics.median(kills)}
    finally:
        consumer.close()
        conn.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--before", help="an older wal2kafka binary to measure in the same run")
    ap.add_argument("--before-label", default="before")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--name", default="start-time")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="w2k-starttime-"))
    own: list = []
    try:
        pg = Postgres().start()
        own.append(pg)
        kafka = Kafka().start()
        own.append(kafka)
        db = pg.create_database(f"starttime_{os.getpid()}")
        runs = []
        if a.before:
            runs.append((a.before_label, Path(a.before)))
        runs.append(("after", Path(a.build) / "wal2kafka"))
        results = []
        for i, (label, binary) in enumerate(runs):
            r = measure(binary, db, kafka, work, f"b{i}", a.runs)
            r["label"] = label
            results.append(r)
            print(f"{label}: start {r['start_median_s']:.3f} s, after kill -9 "
                  f"{r['kill_median_s']:.3f} s (medians of {a.runs})", flush=True)
        meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                           f"{platform.system()} {platform.release()}",
                "date": time.strftime("%Y-%m-%d %H:%M"), "load_avg": os.getloadavg()[0],
                "runs": results}
        lines = ["# start and restart time", "",
                 f"{meta['date']}, {meta['machine']}, 1-minute load average "
                 f"{meta['load_avg']:.1f}; PostgreSQL 15 and one Kafka broker on this machine. "
                 "Produced by bench/start_time.py.", "",
                 f"| binary | start → row in Kafka (median of {a.runs}) | after kill -9: "
                 "restart → new row in Kafka (median) | start, every run | kill -9, every run |",
                 "|---|---:|---:|---|---|"]
        for r in results:
            lines.append(f"| {r['label']} (`{Path(r['binary']).name}`) | "
                         f"{r['start_median_s']:.3f} s | {r['kill_median_s']:.3f} s | "
                         f"{', '.join(f'{x:.3f}' for x in r['start_s'])} | "
                         f"{', '.join(f'{x:.3f}' for x in r['kill_s'])} |")
        lines += ["", "Topics, publication and slot exist (a first run made them). start: a row "
                  "committed while wal2kafka was stopped, then the process started; the time "
                  "until the topic's end offset moved (the broker acknowledged the row), polled "
                  "every ~2 ms. kill -9: the same after SIGKILL instead of SIGTERM."]
        (BENCH / "results" / f"{a.name}.md").write_text("\n".join(lines) + "\n")
        (BENCH / "results" / f"{a.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print("\n".join(lines))
        return 0
    finally:
        for s in reversed(own):
            try:
                s.destroy()
            except Exception as e:  # keep tearing down
                print(f"start_time: stopping {s}: {e}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
        servers.cleanup_all()


if __name__ == "__main__":
    sys.exit(main())
