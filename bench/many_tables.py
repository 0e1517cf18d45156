#!/usr/bin/env python3
"""wal2kafka over many tables: one stream over N tables matched by a pattern (public.t_*).

    .venv/bin/python bench/many_tables.py [--tables 10000] [--build build]
        [--before BINARY --before-tables 2000] [--catchup-rows 100000] [--name many-tables]
        [--distinct-shapes K]

For each binary (the one under test; with --before, also an older build, over
--before-tables tables because it needs ~72 ms per table on the streaming path) in a fresh
database of N tables t_00001.. (id int primary key, v text; with --distinct-shapes K,
table i has (i mod K) + 1 more columns: K shapes instead of one) and one more table `one`:

  start       wal2kafka's process start -> its "streaming from slot" log line, with the
              slot, publication and topics all new (first start)
  RSS         peak VmRSS (sampled every 50 ms) and VmHWM over the whole run
  delivery    one row inserted into each of the N tables (a commit every 100 tables), then
              the time from the last commit until the slot confirmed it (every change up to
              it acknowledged by the broker; wal2kafka reports every 200 ms); afterwards
              every table topic is checked to hold its row (end offsets)
  catch-up    wal2kafka stopped, CATCHUP rows written spread evenly over the N tables (a
              commit every 1,000 tables), restarted: rows / (caught up - "streaming from
              slot"); then the same number of rows into the one table `one`, read by a
              second stream of the same binary: the ratio is catch-up over N tables vs one

Starts its own PostgreSQL 15 (max_locks_per_transaction raised: a publication over 10,000
tables takes a lock per table) and Kafka broker (integration/servers.py), stops them at
the end. Writes bench/results/NAME.md and NAME.json.
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
from w2k import Connector, confirmed_flush_lsn, current_wal_lsn  # noqa: E402


LOG_LEVEL = "info"
KAFKA_PROPS: list[str] = []


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def log_ts(text: str, pattern: str) -> float:
    """Seconds since 1970 of the last wal2kafka log line matching pattern."""
    found = None
    for line in text.splitlines():
        if re.search(pattern, line):
            m = re.match(r"ts=(\S+)Z ", line)
            if m:
                t = dt.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                found = t.replace(tzinfo=dt.timezone.utc).timestamp()
    if found is None:
        raise RuntimeError(f"/{pattern}/ not in the wal2kafka log")
    return found


class Sampler:
    """Samples VmRSS of the processes pid() names every `interval` seconds."""

    def __init__(self, pid, interval: float = 0.05):
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            pid = self.pid()
            try:
                if pid:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith(("VmRSS:", "VmHWM:")):
                                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except OSError:
                pass
            self._stop.wait(self.interval)

    def start(self):
        self._t.start()
        return self

    def stop(self):
        self._stop.set()
        self._t.join(5)


def wait_lsn(db, slot: str, lsn: int, timeout: float, conn: Connector) -> float:
    """Poll (every 20 ms) until slot confirmed lsn; returns the wall-clock time seen."""
    deadline = time.monotonic() + timeout
    while True:
        got = confirmed_flush_lsn(db, slot)
        if got is not None and got >= lsn:
            return time.time()
        conn.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"slot {slot} not at {lsn:X} after {timeout} s "
                               f"(at {got or 0:X})\n{conn.log_tail()}")
        time.sleep(0.02)


# the types of the extra columns of --distinct-shapes, in turn
EXTRA_TYPES = ["int", "text", "numeric(10,2)", "timestamptz", "boolean"]


def in_batches(db, sql_per_table: str, n: int, per_commit: int, shapes: int = 0) -> float:
    """Run sql_per_table (with {t}: the table's name; {extra}: with shapes > 0, table i's
    (i mod shapes) + 1 extra columns c1.. of the types EXTRA_TYPES in turn, else nothing)
    for t_00001..t_N, committing every per_commit tables, in one DO block; returns the
    wall-clock time after the last commit."""
    body = (sql_per_table.replace("'", "''").replace("{t}", "' || t || '")
            .replace("{extra}", "' || extra || '"))
    types = ",".join(f"'{x}'" for x in EXTRA_TYPES)
    db.psql(f"""
DO $$
DECLARE t text; extra text := '';
BEGIN
  FOR i IN 1..{n} LOOP
    t := 't_' || lpad(i::text, 5, '0');
    IF {shapes} > 0 THEN
      SELECT string_agg(', c' || j || ' ' || (ARRAY[{types}])[1 + (j - 1) % {len(EXTRA_TYPES)}],
                        '' ORDER BY j)
        INTO extra FROM generate_series(1, i % {max(shapes, 1)} + 1) j;
    END IF;
    EXECUTE '{body}';
    IF i % {per_commit} = 0 THEN COMMIT; END IF;
  END LOOP;
END $$;""", timeout=3600)
    return time.time()


def run_one(binary: Path, pg, kafka, ntables: int, catchup: int, work: Path, label: str,
            shapes: int = 0) -> dict:
    db = pg.create_database(f"mt_{label}_{os.getpid()}")
    try:
        log(f"{label}: creating {ntables:,} tables")
        in_batches(db, "CREATE TABLE {t} (id int PRIMARY KEY, v text{extra})", ntables, 500,
                   shapes)
        db.execute("CREATE TABLE one (id int PRIMARY KEY, v text)")
        prefix = f"mt{label}{os.getpid()}"
        common = {"kafka": {"properties": ["compression.type=lz4"] + KAFKA_PROPS},
                  "delivery": {"max_in_flight": 100000}, "log": {"level": LOG_LEVEL}}
        conn = Connector(binary, db, kafka, ["public.t_*"], prefix, workdir=work,
                         settings=common, name=f"{label}-many")
        single = Connector(binary, db, kafka, ["public.one"], prefix + "one", workdir=work,
                           settings=common, name=f"{label}-one")
        sampler = Sampler(lambda: conn.pid).start()
        try:
            t0 = time.time()
            conn.start()
            conn.wait_streaming(600)
            start_s = log_ts(conn.log(current=True), r"streaming from slot") - t0
            log(f"{label}: streaming after {start_s:.1f} s")

            last_commit = in_batches(db, "INSERT INTO {t} VALUES (1, 'first')", ntables, 100)
            lsn = current_wal_lsn(db)
            delivered = wait_lsn(db, conn.slot, lsn, 3600, conn)
            deliver_s = delivered - last_commit
            log(f"{label}: {ntables:,} first rows delivered {deliver_s:.1f} s after the last commit")

            # catch-up over N tables
            assert conn.stop(timeout=300) == 0
            per = max(1, catchup // ntables)
            rows = per * ntables
            in_batches(db, f"INSERT INTO {{t}} SELECT g, 'catch-up' FROM generate_series(2, "
                           f"{per + 1}) g", ntables, 1000)
            lsn = current_wal_lsn(db)
            conn.start()
            conn.wait_streaming(600)
            done = wait_lsn(db, conn.slot, lsn, 3600, conn)
            many_s = done - log_ts(conn.log(current=True), r"streaming from slot")
            assert conn.stop(timeout=300) == 0
            log(f"{label}: catch-up of {rows:,} rows over {ntables:,} tables in {many_s:.2f} s")
        finally:
            sampler.stop()
            conn.cleanup()
        # the rows are in Kafka: every topic's end offset
        from confluent_kafka import TopicPartition
        c = kafka.consumer()
        try:
            topics = [f"{prefix}.public.t_{i:05d}" for i in range(1, ntables + 1)]
            held = sum(c.get_watermark_offsets(TopicPartition(t, 0), timeout=30)[1]
                       for t in topics)
        finally:
            c.close()
        assert held >= ntables + rows, f"{held} messages in the table topics, expected " \
                                       f"{ntables + rows}"
        # catch-up over one table, same rows
        try:
            single.start()
            single.wait_streaming(300)
            assert single.stop(timeout=300) == 0
            db.execute(f"INSERT INTO one SELECT g, 'catch-up' FROM generate_series(1, {rows}) g")
            lsn = current_wal_lsn(db)
            single.start()
            single.wait_streaming(300)
            done = wait_lsn(db, single.slot, lsn, 3600, single)
            one_s = done - log_ts(single.log(current=True), r"streaming from slot")
            assert single.stop(timeout=300) == 0
        finally:
            single.cleanup()
        log(f"{label}: catch-up of {rows:,} rows over one table in {one_s:.2f} s")
        # the binary's name only: the report carries no paths of the machine it ran on
        return {"binary": binary.name, "tables": ntables, "distinct_shapes": shapes,
                "load_avg": os.getloadavg()[0], "start_s": start_s,
                "peak_rss_mb": sampler.peak_kb / 1024, "deliver_s": deliver_s,
                "catchup_rows": rows, "catchup_many_s": many_s, "catchup_one_s": one_s,
                "catchup_many_rows_per_s": rows / many_s, "catchup_one_rows_per_s": rows / one_s}
    finally:
        db.drop()


def write_report(a, results) -> None:
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"{platform.system()} {platform.release()}",
            "date": time.strftime("%Y-%m-%d %H:%M"), "runs": results}
    lines = ["# one stream over many tables (pattern public.t_*)", "",
             f"{meta['date']}, {meta['machine']}; PostgreSQL 15, one Kafka broker, all on "
             "this machine. Tables t_NNNNN (id int primary key, v text), 1 partition per "
             "topic, lz4. Produced by bench/many_tables.py.", "",
             "| run | tables | start | peak RSS | last commit → last delivered | catch-up "
             "over N tables | catch-up over 1 table | ratio | load avg |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['label']} (`{Path(r['binary']).name}`"
            f"{', %d shapes' % r['distinct_shapes'] if r.get('distinct_shapes') else ''}) | "
            f"{r['tables']:,} | "
            f"{r['start_s']:.1f} s | {r['peak_rss_mb']:.0f} MB | {r['deliver_s']:.1f} s | "
            f"{r['catchup_many_rows_per_s']:,.0f} rows/s | "
            f"{r['catchup_one_rows_per_s']:,.0f} rows/s | "
            f"{r['catchup_many_rows_per_s'] / r['catchup_one_rows_per_s']:.2f}× | "
            f"{r['load_avg']:.1f} |")
    lines += ["",
              "start: process start → \"streaming from slot\" (first start: slot, "
              "publication and topics new). Last commit → last delivered: one row into "
              "each table (a commit every 100 tables), from the last commit until the "
              "slot confirmed it (wal2kafka confirms only what the broker acknowledged; "
              "it reports every 200 ms). Catch-up: the rows written while wal2kafka was "
              "stopped (spread evenly over the tables, or all in `one`), rows / (caught up "
              "- \"streaming from slot\"). Peak RSS: VmRSS/VmHWM sampled every 50 ms. "
              "K shapes (--distinct-shapes K): table i has (i mod K) + 1 more columns c1.. "
              "(int, text, numeric(10,2), timestamptz, boolean in turn)."]
    out = BENCH / "results" / f"{a.name}.md"
    out.write_text("\n".join(lines) + "\n")
    (BENCH / "results" / f"{a.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print("\n".join(lines))


def raise_locks(pg) -> None:
    """A publication over 10,000 tables takes a lock per table."""
    pg.execute("ALTER SYSTEM SET max_locks_per_transaction = 1024")
    pg.restart()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tables", type=int, default=10000)
    ap.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    ap.add_argument("--before", help="an older wal2kafka binary to measure in the same run")
    ap.add_argument("--before-label", default="before")
    ap.add_argument("--before-tables", type=int, default=2000)
    ap.add_argument("--catchup-rows", type=int, default=100000)
    ap.add_argument("--name", default="many-tables")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    ap.add_argument("--skip-after", action="store_true", help="measure only --before")
    ap.add_argument("--distinct-shapes", type=int, default=0, metavar="K",
                    help="give table i (i mod K) + 1 extra columns (int, text, numeric, "
                         "timestamptz, boolean in turn): K table shapes instead of one")
    ap.add_argument("--log-level", default="info")
    ap.add_argument("--kafka-property", action="append", default=[], metavar="NAME=VALUE",
                    help="a librdkafka property for both streams (e.g. debug=protocol "
                         "with --log-level debug); repeatable")
    a = ap.parse_args()
    global LOG_LEVEL
    LOG_LEVEL = a.log_level
    KAFKA_PROPS.extend(a.kafka_property)
    binary = Path(a.build) / "wal2kafka"
    results = []
    runs = [] if a.skip_after else [("after", binary, a.tables)]
    if a.before:
        runs.append((a.before_label, Path(a.before), a.before_tables))
        if a.before_tables != a.tables and not a.skip_after:
            runs.append(("after-small", binary, a.before_tables))
    for label, b, n in runs:
        # fresh servers for each run: one broker cannot hold two runs' 10,000 partitions
        # (it keeps files open per partition and stops at its open-files limit), and a
        # run should not pay for the partitions of the one before
        up = ServersUp("manytables", keep=a.keep, reuse=False, pg_setup=raise_locks)
        try:
            pg, kafka = up.start()
            r = run_one(b, pg, kafka, n, a.catchup_rows, up.work,
                        re.sub(r"[^a-z0-9]", "", label), a.distinct_shapes)
        finally:
            up.stop()
        r["label"] = label
        results.append(r)
        write_report(a, results)  # after each run: a long run keeps what it measured
    return 0


if __name__ == "__main__":
    sys.exit(main())
