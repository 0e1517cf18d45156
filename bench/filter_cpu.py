#!/usr/bin/env python3
"""CPU that wal2kafka uses for a row filter: PostgreSQL evaluates it (filters = "pushdown")
versus wal2kafka evaluating it itself (filters = "connector"), same workload, same WAL.

    .venv/bin/python bench/filter_cpu.py [--rows 500000] [--rounds 2] [--build DIR]

Starts its own PostgreSQL 15 and Kafka broker (integration/servers/*.sh, temporary dirs,
free ports; W2K_PG_PORT/W2K_PG_DIR/W2K_PG_PASSWORD and W2K_KAFKA_BOOTSTRAP reuse running
ones), creates a table and, for each round and mode, a stream (its own slot and
publication, snapshot = "never") BEFORE writing the workload, so every stream has the
very same WAL to read: --rows single-row-equivalent INSERTs (transactions of 5000 rows)
of which the filter `region = 3` keeps 10%. Then each stream is run alone, one after
the other (pushdown, connector, pushdown, connector, ...), until its slot has confirmed
the end of the workload; the wal2kafka process's CPU (utime + stime from /proc/PID/stat)
is read at that moment, and at "streaming from slot" to separate the start-up. The
walsender's CPU (PostgreSQL's side, where pushdown filters) is reported too.

Prints a table and writes bench/results/filter_cpu.md (--out). Everything it starts is
stopped on exit.
"""

from __future__ import annotations

import argparse
import datetime
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
from w2k import Connector, current_wal_lsn, end_offsets, slot_info  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
FILTER = "region = 3"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, seconds (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def wait_for(cond, timeout: float, what: str, proc: Connector | None = None, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if proc is not None:
            proc.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout}s")
        time.sleep(step)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--out", default=str(BENCH / "results" / "filter_cpu.md"))
    args = ap.parse_args()
    binary = Path(os.environ.get("W2K_BIN") or Path(args.build) / "wal2kafka")
    if not binary.is_file():
        sys.exit(f"no wal2kafka at {binary} (--build DIR or W2K_BIN)")

    own = []
    try:
        pg, kafka = servers.running_postgres(), servers.running_kafka()
        if not pg:
            pg = servers.Postgres()
            own.append(pg)
            print("starting PostgreSQL ...", flush=True)
            pg.start()
        if not kafka:
            kafka = servers.Kafka()
            own.append(kafka)
            print("starting Kafka ...", flush=True)
            kafka.start()
        tag = os.urandom(3).hex()
        db = pg.create_database(f"filter_cpu_{tag}")
        work = Path(tempfile.mkdtemp(prefix=f"w2k-filter-cpu-{tag}-"))
        rc = 1
        try:
            rc = run(args, binary, db, kafka, tag, work)
            return rc
        finally:
            db.drop()
            if rc == 0:
                shutil.rmtree(work)
            else:
                print(f"wal2kafka's configurations and logs kept in {work}", flush=True)
    finally:
        for s in reversed(own):
            s.destroy()


def run(args, binary, db, kafka, tag, work) -> int:
    db.execute("CREATE TABLE t (id bigint PRIMARY KEY, region int NOT NULL, amount numeric, "
               "note text, at timestamptz)")
    modes = ["pushdown", "connector"]
    conns: list[tuple[str, Connector]] = []
    for r in range(args.rounds):
        for mode in modes:
            c = Connector(binary, db, kafka,
                          [{"name": "public.t", "filter": FILTER}],
                          f"fcpu_{tag}_{mode[0]}{r}", workdir=work, stream=f"{mode[0]}{r}_{tag}",
                          stream_settings={"filters": mode, "snapshot": "never"},
                          settings={"log": {"level": "warn"}})
            # create the slot and the publication now, before the workload
            c.start()
            wait_for(lambda: (slot_info(db, c.slot) or {}).get("active"), 120,
                     f"{c.stream}: slot not active", c)
            assert c.stop() == 0, c.log_tail()
            conns.append((mode, c))

    print(f"writing {args.rows} rows ...", flush=True)
    batch = 5000
    with db.connect(autocommit=True) as cx:
        for lo in range(1, args.rows + 1, batch):
            hi = min(args.rows, lo + batch - 1)
            cx.execute("INSERT INTO t SELECT g, g %% 10, g * 1.25, md5(g::text), "
                       "'2024-01-01'::timestamptz + g * interval '1 second' "
                       "FROM generate_series(%s::bigint, %s::bigint) g", (lo, hi))
    end_lsn = current_wal_lsn(db)
    kept = db.scalar(f"SELECT count(*) FROM t WHERE {FILTER}")
    print(f"workload: {args.rows} inserts, the filter keeps {kept}", flush=True)

    results = []
    for mode, c in conns:
        c.start()
        pid = c.pid
        t0 = time.monotonic()
        wait_for(lambda: (slot_info(db, c.slot) or {}).get("active"), 120,
                 f"{c.stream}: slot not active", c, step=0.01)
        cpu_start = cpu_seconds(pid)
        ws_pid = slot_info(db, c.slot)["active_pid"]
        wait_for(lambda: (slot_info(db, c.slot) or {}).get("confirmed_flush_lsn", 0) >= end_lsn,
                 1800, f"{c.stream}: not caught up", c, step=0.1)
        elapsed = time.monotonic() - t0
        cpu_end = cpu_seconds(pid)
        try:
            ws_cpu = cpu_seconds(ws_pid)
        except OSError:
            ws_cpu = float("nan")
        rc = c.stop()
        assert rc == 0, c.log_tail()
        msgs = sum(end_offsets(kafka, c.topic("t")).values())
        assert msgs == kept, f"{mode}: {msgs} messages, want {kept}"
        row = {"mode": mode, "stream": c.stream, "cpu": cpu_end, "cpu_streaming": cpu_end - cpu_start,
               "walsender_cpu": ws_cpu, "elapsed": elapsed, "messages": msgs}
        results.append(row)
        print(f"  {mode:9s} wal2kafka CPU {cpu_end:6.2f} s ({cpu_end - cpu_start:6.2f} s while "
              f"streaming), walsender CPU {ws_cpu:6.2f} s, {elapsed:6.1f} s wall, {msgs} messages",
              flush=True)

    summary = {}
    for mode in modes:
        rs = [r for r in results if r["mode"] == mode]
        summary[mode] = {k: statistics.mean(r[k] for r in rs)
                         for k in ("cpu", "cpu_streaming", "walsender_cpu", "elapsed")}
    ratio = summary["connector"]["cpu"] / summary["pushdown"]["cpu"]
    load = os.getloadavg()
    md = [
        "# Row filter CPU: pushdown vs wal2kafka evaluating it",
        "",
        f"Written by `bench/filter_cpu.py` on {datetime.datetime.now():%Y-%m-%d %H:%M}, "
        f"{platform.node()}, {os.cpu_count()} cores, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}.",
        "",
        f"Workload: {args.rows} INSERTs (transactions of 5000 rows) into "
        "`t (id bigint PRIMARY KEY, region int, amount numeric, note text, at timestamptz)`; "
        f"row filter `{FILTER}` keeps {kept} ({100.0 * kept / args.rows:.0f}%). Every stream "
        "had its slot before the workload, so each read the very same WAL; each ran alone "
        "until its slot confirmed the end of the workload. CPU = utime + stime of the "
        "wal2kafka process (/proc/PID/stat), including start-up; \"streaming\" excludes "
        "everything before its slot became active. The walsender is PostgreSQL's process "
        "serving the slot (decoding, and with pushdown also the filter).",
        "",
        "| run | filters | wal2kafka CPU (s) | of it streaming (s) | walsender CPU (s) | wall (s) | messages |",
        "|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(results, 1):
        md.append(f"| {i} | {r['mode']} | {r['cpu']:.2f} | {r['cpu_streaming']:.2f} | "
                  f"{r['walsender_cpu']:.2f} | {r['elapsed']:.1f} | {r['messages']} |")
    md += ["", "| mean | wal2kafka CPU (s) | walsender CPU (s) | wall (s) |", "|---|---|---|---|"]
    for mode in modes:
        s = summary[mode]
        md.append(f"| {mode} | {s['cpu']:.2f} | {s['walsender_cpu']:.2f} | {s['elapsed']:.1f} |")
    md += ["", f"**wal2kafka used {ratio:.1f}× the CPU evaluating the filter itself "
               f"({summary['connector']['cpu']:.2f} s) as with pushdown "
               f"({summary['pushdown']['cpu']:.2f} s)** for {args.rows} changes of which "
               f"{kept} pass.", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(md))
    print("\n".join(md))
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
