#!/usr/bin/env python3
"""wal2kafka history / state benchmark: one key's history and a point-in-time state over a
topic of 1,000,000 changes, against reading the whole topic with kcat, in the same run.

    .venv/bin/python bench/history_bench.py [--keys 100000] [--passes 9] [--partitions 12]
                                            [--repeat 5] [--build build] [--name history]
                                            [--keep]

How the topic is filled: by wal2kafka itself, from PostgreSQL (so every message, schema,
key, partition, timestamp, LSN and transaction id is what production would hold):
a table items(id int primary key, name text, qty int, price numeric(10,2),
updated_at timestamptz, note text) gets KEYS inserts, then PASSES passes that update
every row, in transactions of 1000 consecutive keys: KEYS * (1 + PASSES) changes
(1,000,000 with the defaults) over a topic of PARTITIONS partitions (12), lz4-compressed
as the example configuration has it.

Then, each REPEAT times, in rotating order, with the connector stopped:
  kcat        kcat -C -b BROKER -t TOPIC -o beginning -e -q > /dev/null  (the baseline)
  history     wal2kafka history --table public.items --key id=K --format json
  state key   wal2kafka state --table public.items --key id=K --at T --format json
  state table wal2kafka state --table public.items --at T --format json
  state table now   the same without --at (the whole topic)
with K a different random key each round and T the commit time of the last transaction
of the middle pass. Every output is checked (10 events; qty as of T; KEYS rows).

Starts its own PostgreSQL 15 and Kafka broker (integration/servers.py) unless
W2K_PG_PORT (+ W2K_PG_DIR) and W2K_KAFKA_BOOTSTRAP (+ W2K_KAFKA_DIR) name running ones,
and stops them at the end (also on error and Ctrl-C). Writes bench/results/NAME.md and
NAME.json. Needs kcat (Debian package kcat).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "integration"))

from servers import Database  # noqa: E402
from servers_up import ServersUp  # noqa: E402
from w2k import Connector, end_offsets  # noqa: E402

FILL_SQL = """
CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2),
                    updated_at timestamptz, note text);
CREATE PROCEDURE fill_insert(nkeys int, batch int) LANGUAGE plpgsql AS $$
BEGIN
  FOR b IN 0 .. (nkeys - 1) / batch LOOP
    INSERT INTO items
      SELECT i, 'item ' || i, 0, (i % 1000) + 0.5, clock_timestamp(), md5(i::text)
      FROM generate_series(b * batch + 1, least((b + 1) * batch, nkeys)) i;
    COMMIT;
  END LOOP;
END $$;
CREATE PROCEDURE fill_update(nkeys int, batch int) LANGUAGE plpgsql AS $$
BEGIN
  FOR b IN 0 .. (nkeys - 1) / batch LOOP
    UPDATE items SET qty = qty + 1, price = price + 1, updated_at = clock_timestamp()
      WHERE id BETWEEN b * batch + 1 AND (b + 1) * batch;
    COMMIT;
  END LOOP;
END $$;
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


CPU_OF_LAST = [0.0]  # CPU seconds (user + sys) of the last timed() command


def timed(cmd: list[str], stdout=subprocess.PIPE) -> tuple[float, subprocess.CompletedProcess]:
    """Run cmd; wall-clock seconds and the result (its CPU time in CPU_OF_LAST[0])."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=stdout is not None,
                       stdin=subprocess.DEVNULL, timeout=600)
    dt = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_OF_LAST[0] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr}")
    return dt, r


def wait_quiet(limit_s: float) -> float:
    """Wait (at most limit_s) until the 1-minute load average is below 1.5 (others'
    work competes with the measurement on a small machine); returns it."""
    deadline = time.monotonic() + limit_s
    while True:
        load = os.getloadavg()[0]
        if load < 1.5 or time.monotonic() >= deadline:
            return load
        time.sleep(5)


def iso(ts_us: int) -> str:
    import datetime as dt
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=ts_us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--passes", type=int, default=9)
    ap.add_argument("--partitions", type=int, default=12)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--name", default="history")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="before each round wait up to S s for a load average below 1.5")
    a = ap.parse_args()
    binary = Path(a.build) / "wal2kafka"
    if not binary.exists():
        ap.error(f"{binary} is missing: build it (cmake --build build)")
    kcat = shutil.which("kcat")
    if not kcat:
        ap.error("kcat is missing: apt-get install kcat")

    up = ServersUp("histbench", keep=a.keep)
    work = up.work
    conn = None
    try:
        pg, kafka = up.start()
        dbname = f"histbench_{os.getpid()}"
        db: Database = pg.create_database(dbname)
        db.psql(FILL_SQL)
        prefix = f"hb{os.getpid()}_{int(time.time())}"
        conn = Connector(binary, db, kafka, ["public.items"], prefix, workdir=work,
                         settings={"kafka": {"topic": {"partitions": a.partitions},
                                             "properties": ["compression.type=lz4"]}})
        conn.start().wait_streaming()
        changes = a.keys * (1 + a.passes)
        log(f"filling: {a.keys} inserts + {a.passes} update passes = {changes} changes, "
            f"{a.partitions} partitions")
        t0 = time.monotonic()
        c = db.connect(autocommit=True)
        c.execute("CALL fill_insert(%s, 1000)", (a.keys,))
        mid_pass = (a.passes + 1) // 2
        at_us = None
        for p in range(1, a.passes + 1):
            c.execute("CALL fill_update(%s, 1000)", (a.keys,))
            if p == mid_pass:
                # the commit time of the last transaction of this pass: T for state --at
                at_us = int(c.execute(
                    "SELECT (extract(epoch FROM max(updated_at)) * 1e6)::bigint FROM items"
                ).fetchone()[0])
        c.close()
        t_written = time.monotonic() - t0
        conn.wait_caught_up(timeout=1800)
        t_streamed = time.monotonic() - t0
        cfg = str(conn.config_path)
        conn.stop(timeout=120)
        conn = None
        topic = f"{prefix}.public.items"
        held = sum(end_offsets(kafka, topic).values())
        assert held == changes, f"{held} messages in {topic}, expected {changes}"
        log(f"filled in {t_written:.1f} s (PostgreSQL) / {t_streamed:.1f} s (in Kafka): "
            f"{changes / t_streamed:,.0f} changes/s through wal2kafka")

        def hist(key: int) -> list[dict]:
            _, r = timed([str(binary), "history", "--config", cfg, "--table", "public.items",
                          "--key", f"id={key}", "--format", "json"])
            return [json.loads(x) for x in r.stdout.splitlines()]

        # T: the commit of the middle pass's last transaction (a history event of key KEYS)
        last = hist(a.keys)
        assert len(last) == 1 + a.passes
        t_commit = next(e["ts_us"] for e in last if e["after"]["qty"] == mid_pass)
        assert t_commit >= at_us
        at = iso(t_commit)

        rng = random.Random(8)
        results: dict[str, list[float]] = {"kcat": [], "history": [], "state key": [],
                                           "state table": [], "state table now": []}
        cpu: dict[str, list[float]] = {k: [] for k in results}
        loads = []
        for rnd in range(a.repeat):
            if a.wait_quiet:
                wait_quiet(a.wait_quiet)
            loads.append(os.getloadavg()[0])
            key = rng.randint(1, a.keys)
            jobs = {
                "kcat": lambda: timed([kcat, "-C", "-b", kafka.bootstrap, "-t", topic, "-o",
                                       "beginning", "-e", "-q"], stdout=subprocess.DEVNULL),
                "history": lambda key=key: timed(
                    [str(binary), "history", "--config", cfg, "--table", "public.items",
                     "--key", f"id={key}", "--format", "json"]),
                "state key": lambda key=key: timed(
                    [str(binary), "state", "--config", cfg, "--table", "public.items",
                     "--key", f"id={key}", "--at", at, "--format", "json"]),
                "state table": lambda: timed(
                    [str(binary), "state", "--config", cfg, "--table", "public.items",
                     "--at", at, "--format", "json"]),
                "state table now": lambda: timed(
                    [str(binary), "state", "--config", cfg, "--table", "public.items",
                     "--format", "json"]),
            }
            names = list(jobs)
            names = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in names:
                dt, r = jobs[name]()
                results[name].append(dt)
                cpu[name].append(CPU_OF_LAST[0])
                if name == "history":
                    ev = [json.loads(x) for x in r.stdout.splitlines()]
                    assert [e["op"] for e in ev] == ["c"] + ["u"] * a.passes, ev[:2]
                    assert [e["after"]["qty"] for e in ev] == list(range(a.passes + 1))
                elif name == "state key":
                    rows = [json.loads(x) for x in r.stdout.splitlines()]
                    assert len(rows) == 1 and rows[0]["row"]["qty"] == mid_pass, rows
                elif name.startswith("state table"):
                    n = r.stdout.count("\n")
                    assert n == a.keys, f"{name}: {n} rows"
            log(f"round {rnd + 1}/{a.repeat} (load {loads[-1]:.1f}): " +
                ", ".join(f"{k} {v[-1]:.3f} s (cpu {cpu[k][-1]:.2f})" for k, v in results.items()))

        base = statistics.median(results["kcat"])
        base_cpu = statistics.median(cpu["kcat"])
        rows = []
        for name, v in results.items():
            med = statistics.median(v)
            rows.append({"what": name, "median_s": med, "min_s": min(v), "max_s": max(v),
                         "ratio_to_kcat": med / base, "cpu_s": statistics.median(cpu[name]),
                         "cpu_ratio_to_kcat": statistics.median(cpu[name]) / base_cpu,
                         "runs": v, "cpu_runs": cpu[name]})
        meta = {"changes": changes, "keys": a.keys, "partitions": a.partitions,
                "repeat": a.repeat, "topic_bytes_note": "lz4, as config/wal2kafka.cfg",
                "fill_s_postgres": t_written, "fill_s_kafka": t_streamed,
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                           f"{platform.system()} {platform.release()}",
                "date": time.strftime("%Y-%m-%d %H:%M"),
                "load_avg_at_rounds": loads}
        lines = [f"# history / state over {changes:,} changes",
                 "",
                 f"{meta['date']}, {meta['machine']}. Topic: {a.keys:,} keys, {changes:,} "
                 f"messages, {a.partitions} partitions, lz4; filled by wal2kafka from "
                 f"PostgreSQL in {t_streamed:.1f} s. Median of {a.repeat} runs each (min-max); "
                 f"1-min load average during the rounds {min(loads):.1f}-{max(loads):.1f} "
                 f"(2 cores: above ~1 other work competes).",
                 "",
                 "| what | wall, median | min - max | ratio to kcat | CPU (user+sys) | CPU ratio |",
                 "|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            lines.append(f"| {r['what']} | {r['median_s']:.3f} s | {r['min_s']:.3f} - "
                         f"{r['max_s']:.3f} s | {r['ratio_to_kcat']:.3f} | {r['cpu_s']:.2f} s | "
                         f"{r['cpu_ratio_to_kcat']:.2f} |")
        lines += ["", "kcat: `kcat -C -b BROKER -t TOPIC -o beginning -e -q > /dev/null` (the "
                  "whole topic). history: one key, `--format json` (reads the key's partition, "
                  "1/12 of the topic). state key: one key at T (its partition up to T). state "
                  "table: every key at T, the middle of the history (all partitions up to T: "
                  "~60 % of the topic). state table now: every key now (the whole topic, like "
                  "kcat), 100,000 JSON lines. CPU: user+sys of the process (kcat's included)."]
        out_md = BENCH / "results" / f"{a.name}.md"
        out_md.parent.mkdir(exist_ok=True)
        out_md.write_text("\n".join(lines) + "\n")
        (BENCH / "results" / f"{a.name}.json").write_text(
            json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
        print()
        print("\n".join(lines[4:4 + 2 + len(rows)]))
        print(f"\nwritten: {out_md}")
        db.drop()
        return 0
    finally:
        if conn is not None:
            conn.cleanup()
        up.stop()


if __name__ == "__main__":
    sys.exit(main())
