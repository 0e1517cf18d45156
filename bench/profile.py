#!/usr/bin/env python3
"""Instructions per change: wal2kafka and the raw slot reader under callgrind.

Run it through bench/profile.sh (which builds first); see bench/README.md.

    bench/profile.sh [--changes 200000] [--txn 100000] [--runs raw,w2k,native]
                     [--w2k-property K=V] [--syscalls] [--keep] [--out FILE]

This machine is shared, so seconds are noise; instruction counts are not. The script
starts its own PostgreSQL 15 and Kafka broker (integration/servers/pg.sh, kafka.sh, in a
temporary directory, on free 127.0.0.1 ports in 58432-58999; W2K_PG_PORT/W2K_PG_DIR and
W2K_KAFKA_BOOTSTRAP/W2K_KAFKA_DIR reuse running ones), creates bench/run.py's 8-column
table and one slot per run, writes the catch-up workload once (bench/run.py write_mix:
60 % inserts, 30 % updates, 10 % deletes, in transactions of --txn changes), then:

  raw     w2k_rawreader under callgrind, until it has read every change
  w2k     wal2kafka run under callgrind (--separate-threads=yes), until the broker holds
          every expected message; then SIGTERM (it waits for the delivery reports and
          confirms the slot)
  native  wal2kafka run without valgrind, on its own slot: CPU seconds per million
          changes of wal2kafka (user, system), of the broker (/proc/PID/stat utime+stime
          over the run: it shares the 2 cores) and of the walsender, wal2kafka's peak
          RSS; --syscalls: system calls and context switches per change of wal2kafka and
          the walsender (perf stat); indicative only on a busy machine

and prints, per callgrind run, instructions per change for the main thread and for all
threads, per-thread totals, the 15 costliest functions of the main thread inclusive, and
the 15 costliest functions over all threads by their own (exclusive) cost. Start-up is
not counted: callgrind dumps and zeroes its counters when streaming starts. Everything
it starts is stopped on success, error and Ctrl-C/SIGTERM; --keep keeps the temporary
directory (callgrind.out files for kcachegrind, logs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(REPO / "integration"))

import run as bench  # noqa: E402  (bench/run.py: workload, Child, Watermarks)
from run import Child, log, proc_cpu_s, proc_mem_kb  # noqa: E402

HOST = "127.0.0.1"
PORT_LO, PORT_HI = 58432, 58999
TABLE = "p1"
# Wrappers that hold (nearly) a whole thread's cost: not informative in a top list.
WRAPPERS = {"(below main)", "_start", "__libc_start_main", "__libc_start_call_main",
            "__libc_start_main_impl", "main", "start_thread", "clone", "clone3",
            "0x0000000000000000"}


def user_sys_s(pid: int) -> tuple[float, float] | None:
    """(utime, stime) of a process in seconds, all its threads."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / bench.CLK_TCK, int(fields[12]) / bench.CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


SYSCALL_EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_recvfrom",
                  "syscalls:sys_enter_sendto", "syscalls:sys_enter_sendmsg",
                  "syscalls:sys_enter_poll", "syscalls:sys_enter_read",
                  "syscalls:sys_enter_write", "syscalls:sys_enter_futex",
                  "syscalls:sys_enter_epoll_wait", "context-switches"]


def perf_stat(name: str, pid: int, out: Path) -> Child:
    """perf stat counting SYSCALL_EVENTS of every thread of pid until SIGINT."""
    return Child(f"perf stat {name}", ["perf", "stat", "-x,", "-o", str(out), "-e",
                                       ",".join(SYSCALL_EVENTS), "-p", str(pid)],
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def perf_counts(out: Path) -> dict[str, int]:
    """event -> count from a perf stat -x, output file."""
    counts = {}
    try:
        for line in out.read_text().splitlines():
            f = line.split(",")
            if len(f) > 2 and f[0].strip().isdigit():
                counts[f[2].split(":")[-1].replace("sys_enter_", "") or f[2]] = int(f[0])
    except OSError:
        pass
    return counts


# ------------------------------------------------------------------ callgrind output


def thread_files(prefix: Path) -> list[Path]:
    """callgrind.out files of one run, one per thread (thread 1 = main) when
    --separate-threads=yes, in thread order."""
    per_thread = {}
    for p in prefix.parent.glob(prefix.name + "-*"):
        m = re.fullmatch(re.escape(prefix.name) + r"-(\d+)", p.name)
        if m and p.is_file():
            per_thread[int(m.group(1))] = p
    if per_thread:
        return [per_thread[k] for k in sorted(per_thread)]
    return [prefix] if prefix.is_file() else []


def file_total(path: Path) -> int:
    """The Ir total of one callgrind.out file."""
    total = 0
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
    return total


ANN_LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.+?)\s*$")


def annotate(path: Path, inclusive: bool) -> list[tuple[int, str]]:
    """(Ir, function [library]) rows of callgrind_annotate, costliest first."""
    p = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                        "--threshold=100", "--auto=no", str(path)],
                       capture_output=True, text=True, timeout=600)
    rows = []
    past_header = False
    for line in p.stdout.splitlines():
        if "file:function" in line:
            past_header = True
            continue
        if not past_header:
            continue
        m = ANN_LINE.match(line)
        if not m:
            continue
        name = m.group(2)
        lib = ""
        if name.endswith("]") and " [" in name:
            name, _, lib = name.rpartition(" [")
            lib = Path(lib.rstrip("]")).name
        func = name.rpartition(":")[2] if ":" in name else name
        func = func.split("@@")[0]
        rows.append((int(m.group(1).replace(",", "")), func, lib))
    # callgrind_annotate lists code inlined from a header under that header's name too:
    # one row per function, the largest
    best: dict[str, tuple[int, str, str]] = {}
    for ir, func, lib in rows:
        if func not in best or ir > best[func][0]:
            best[func] = (ir, func, best[func][2] if func in best and best[func][2] else lib)
        elif lib and not best[func][2]:
            best[func] = (best[func][0], func, lib)
    return sorted(((ir, f + (f" [{lib}]" if lib else "")) for ir, f, lib in best.values()),
                  key=lambda r: -r[0])


def summarize(prefix: Path, changes: int, what: str) -> dict:
    """Instructions per change of one callgrind run, from its final dump (the costs since
    the start of streaming)."""
    files = thread_files(prefix)
    if not files:
        raise RuntimeError(f"{what}: no callgrind output at {prefix}*")
    totals = [file_total(f) for f in files]
    main_total, all_total = totals[0], sum(totals)
    incl = [r for r in annotate(files[0], True)
            if r[1].split(" [")[0] not in WRAPPERS and r[0] < 0.995 * main_total][:15]
    selfcost: dict[str, int] = {}
    for f, total in zip(files, totals):
        for ir, name in annotate(f, False):
            # the frames open when the counters were dumped get the whole rest as their
            # own cost in the second part: not a real cost
            if name.split(" [")[0] not in WRAPPERS and ir < 0.99 * total:
                selfcost[name] = selfcost.get(name, 0) + ir
    top_self = sorted(selfcost.items(), key=lambda kv: -kv[1])[:15]
    return {
        "changes": changes,
        "main_ir": main_total, "all_ir": all_total,
        "main_per_change": main_total / changes, "all_per_change": all_total / changes,
        "threads": [{"file": f.name, "ir": t, "per_change": t / changes}
                    for f, t in zip(files, totals)],
        "main_inclusive": [{"ir": ir, "per_change": ir / changes, "pct": 100 * ir / main_total,
                            "function": n} for ir, n in incl],
        "all_self": [{"ir": ir, "per_change": ir / changes, "pct": 100 * ir / all_total,
                      "function": n} for n, ir in top_self],
    }


def print_summary(name: str, s: dict, inclusive: bool = True) -> None:
    print(f"\n== {name}: {s['changes']:,} changes")
    print(f"   instructions per change: main thread {s['main_per_change']:,.0f}, "
          f"all threads {s['all_per_change']:,.0f}")
    if len(s["threads"]) > 1:
        print("   per thread: " + ", ".join(f"{t['file'].rpartition('-')[2]}: "
                                           f"{t['per_change']:,.0f}" for t in s["threads"]))
    if inclusive:
        print("   main thread, inclusive (Ir per change, % of the main thread):")
        for r in s["main_inclusive"]:
            print(f"     {r['per_change']:>9,.0f} {r['pct']:5.1f}%  {r['function']}")
    print("   all threads, self cost (Ir per change, % of all threads):")
    for r in s["all_self"]:
        print(f"     {r['per_change']:>9,.0f} {r['pct']:5.1f}%  {r['function']}")


# ------------------------------------------------------------------ the runs


class Profile:
    def __init__(self, args):
        self.args = args
        self.build = Path(args.build).resolve()
        self.w2k_bin = self.build / "wal2kafka"
        self.raw_bin = self.build / "w2k_rawreader"
        self.tmp = Path(tempfile.mkdtemp(prefix="w2k-profile-", dir="/tmp"))
        self.tmp.chmod(0o755)
        self.pg = self.kafka = self.db = None
        self.own: list = []
        self.kafka_pid = None

    def start_servers(self) -> None:
        from servers import Kafka, Postgres, free_ports, running_kafka, running_postgres
        self.pg, self.kafka = running_postgres(), running_kafka()
        ports = free_ports(3, (PORT_LO, PORT_HI))
        if self.pg is None:
            log(f"starting PostgreSQL on {HOST}:{ports[0]} in {self.tmp}/pg")
            self.pg = Postgres(dir=self.tmp / "pg", port=ports[0]).start()
            self.own.append(self.pg)
            for k, v in bench.PG_SETTINGS.items():
                self.pg.execute(f"ALTER SYSTEM SET {k} = '{v}'")
            self.pg.restart()
        if self.kafka is None:
            log(f"starting Kafka on {HOST}:{ports[1]} in {self.tmp}/kafka")
            self.kafka = Kafka(dir=self.tmp / "kafka", port=ports[1],
                               controller_port=ports[2]).start()
            self.own.append(self.kafka)
        if self.kafka.dir and (self.kafka.dir / "kafka.pid").exists():
            self.kafka_pid = int((self.kafka.dir / "kafka.pid").read_text())
        self.dbname = f"profile_{os.getpid()}"
        self.db = self.pg.create_database(self.dbname)

    def stop_servers(self) -> None:
        if self.db is not None and not self.own:
            try:
                self.pg.drop_database(self.dbname)
            except Exception as e:
                log(f"dropping database {self.dbname} failed: {e}")
        for s in reversed(self.own):
            try:
                s.destroy()
            except Exception as e:
                log(f"destroying {s!r} failed: {e}")

    def conninfo(self) -> str:
        return f"host={HOST} port={self.pg.port} dbname={self.dbname} user=postgres"

    def create_slot(self, slot: str) -> None:
        self.db.execute(f'CREATE PUBLICATION "{slot}" FOR TABLE public.{TABLE}')
        self.db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))

    def walsender_pid(self, slot: str, timeout: float) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.db.scalar("SELECT active_pid FROM pg_replication_slots "
                                 "WHERE slot_name = %s", (slot,))
            if pid:
                return int(pid)
            time.sleep(0.05)
        return None

    def valgrind(self, out: Path, zero_before: str) -> list[str]:
        """callgrind, its counters dumped (to OUT.1-NN, then zeroed) when the program calls
        zero_before (the start of streaming): start-up (the dynamic linker, connecting with
        SCRAM's 4096 HMAC rounds, catalog queries, topic creation) is not in OUT-NN.
        Uncompressed names: each file must name its functions itself for
        callgrind_annotate."""
        return ["valgrind", "--tool=callgrind", "--separate-threads=yes", "--fair-sched=yes",
                f"--dump-before={zero_before}", "--compress-strings=no",
                "--compress-pos=no", f"--callgrind-out-file={out}", f"--log-file={out}.log"]

    # -- raw

    def run_raw(self, slot: str, changes: int) -> dict:
        out = self.tmp / "cg.raw"
        res = self.tmp / "raw.json"
        with open(res, "w") as fo:
            c = Child("w2k_rawreader", self.valgrind(out, "PQexec") + [
                str(self.raw_bin), self.conninfo(), slot, slot, str(changes), "60"],
                env={"PGPASSWORD": self.pg.password}, stdout=fo)
            rc = c.wait(3600)
        r = json.loads(res.read_text() or "{}")
        if rc != 0 or r.get("changes") != changes:
            raise RuntimeError(f"raw reader exited {rc} after {r.get('changes')} of {changes} "
                               "changes")
        return summarize(out, changes, "raw")

    # -- wal2kafka

    def w2k_config(self, name: str) -> Path:
        props = ""
        if self.args.w2k_property:
            props = " properties = [ " + ", ".join(f'"{p}"' for p in self.args.w2k_property) + \
                " ];"
        cfg = self.tmp / f"{name}.cfg"
        cfg.write_text(
            f'postgresql = {{ conninfo = "{self.conninfo()}"; }};\n'
            f'kafka = {{ bootstrap_servers = "{self.kafka.bootstrap}";{props} }};\n'
            f'streams = ( {{ name = "{name}"; topic_prefix = "{name}"; '
            f'tables = ( "public.{TABLE}" ); }} );\n')
        return cfg

    def run_w2k(self, name: str, counts: dict, changes: int, under_valgrind: bool) -> dict:
        expect = sum(bench.expected_messages(counts).values())
        topic = f"{name}.public.{TABLE}"
        slot = f"wal2kafka_{name}"
        out = self.tmp / f"cg.{name}"
        argv = [str(self.w2k_bin), "run", "--config", str(self.w2k_config(name))]
        if under_valgrind:
            argv = self.valgrind(out, "w2k_pg_start_replication") + argv
        broker0 = proc_cpu_s(self.kafka_pid) if self.kafka_pid else None
        logf = open(self.tmp / f"{name}.log", "w")
        c = Child(f"wal2kafka {name}", argv, env={"PGPASSWORD": self.pg.password},
                  stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        t0 = time.monotonic()
        r: dict = {}
        try:
            ws = self.walsender_pid(slot, 600)
            ws0 = proc_cpu_s(ws) if ws else None
            stats = []
            if self.args.syscalls and not under_valgrind:
                stats = [(k, pid, self.tmp / f"{name}.{k}.perf")
                         for k, pid in (("wal2kafka", c.pid), ("walsender", ws)) if pid]
                stats = [(k, perf_stat(k, pid, f), f) for k, pid, f in stats]
            wm = bench.Watermarks(self.kafka.bootstrap)
            try:
                last, last_change = -1, time.monotonic()
                while True:
                    n = wm.total([topic])
                    if n >= expect:
                        break
                    if n != last:
                        last, last_change = n, time.monotonic()
                    if c.poll() is not None:
                        raise RuntimeError(f"wal2kafka exited {c.p.returncode} after {n} of "
                                           f"{expect} messages; see {self.tmp}/{name}.log")
                    if time.monotonic() - last_change > 300:
                        raise RuntimeError(f"wal2kafka stuck at {n} of {expect} messages")
                    time.sleep(0.05)
            finally:
                wm.close()
            seconds = time.monotonic() - t0
            cpu = proc_cpu_s(c.pid)
            us = user_sys_s(c.pid)
            hwm = proc_mem_kb(c.pid)[1]
            broker1 = proc_cpu_s(self.kafka_pid) if self.kafka_pid else None
            ws1 = proc_cpu_s(ws) if ws else None
            per_m = 1e6 / changes
            for k, pc, f in stats:
                pc.stop(timeout=30, sig=signal.SIGINT)
            r = {"seconds": seconds, "peak_rss_kb": hwm,
                 "syscalls_per_change": {k: {e: n / changes for e, n in perf_counts(f).items()}
                                         for k, pc, f in stats},
                 "cpu_s_per_m": cpu * per_m if cpu is not None else None,
                 "user_s_per_m": us[0] * per_m if us else None,
                 "sys_s_per_m": us[1] * per_m if us else None,
                 "broker_cpu_s_per_m": (broker1 - broker0) * per_m
                 if broker0 is not None and broker1 is not None else None,
                 "walsender_cpu_s_per_m": (ws1 - ws0) * per_m
                 if ws0 is not None and ws1 is not None else None}
        finally:
            rc = c.stop(timeout=600)
        if rc != 0:
            raise RuntimeError(f"wal2kafka exited {rc} on SIGTERM; see {self.tmp}/{name}.log")
        confirmed = self.db.scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                                   "WHERE slot_name = %s", (slot,))
        r["confirmed_lsn"] = confirmed
        if under_valgrind:
            r.update(summarize(out, changes, name))
        return r

    # -- main

    def run(self) -> dict:
        args = self.args
        runs = args.runs.split(",")
        self.start_servers()
        self.db.execute(f"DROP TABLE IF EXISTS {TABLE}")
        self.db.execute(bench.ddl(TABLE))
        # names unique per run: a reused broker keeps the topics of earlier runs
        tag = f"{os.getpid()}_{int(time.time()) % 100000}"
        names = {"w2k": f"w2kprof_{tag}", "native": f"w2knat_{tag}"}
        slots = {"raw": f"rawprof_{tag}", "w2k": f"wal2kafka_{names['w2k']}",
                 "native": f"wal2kafka_{names['native']}"}
        for k in runs:
            self.create_slot(slots[k])
        log(f"writing {args.changes:,} changes in transactions of {args.txn:,}")
        w = bench.write_mix(self.db, [TABLE], args.changes, args.txn)
        self.db.execute("CHECKPOINT")
        changes = w["changes"]
        log(f"wrote {changes:,} changes in {w['transactions']} transactions; "
            f"WAL end {w['end_lsn']}")
        result = {"changes": changes, "transactions": w["transactions"],
                  "w2k_properties": args.w2k_property, "runs": {}}
        git = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        result["git"] = git
        if "raw" in runs:
            log("raw reader under callgrind")
            result["runs"]["raw"] = s = self.run_raw(slots["raw"], changes)
            print_summary("raw reader", s)
        if "w2k" in runs:
            log("wal2kafka under callgrind")
            result["runs"]["w2k"] = s = self.run_w2k(names["w2k"], w["counts"], changes, True)
            print_summary("wal2kafka", s)
            print(f"   slot confirmed up to {s['confirmed_lsn']} (WAL end {w['end_lsn']})")
        if "native" in runs:
            log("wal2kafka without valgrind")
            result["runs"]["native"] = s = self.run_w2k(names["native"], w["counts"], changes,
                                                        False)
            print(f"\n== wal2kafka native: {changes / s['seconds']:,.0f} changes/s; CPU s per M "
                  f"changes: wal2kafka {bench.fmt(s['cpu_s_per_m'], 2)} (user "
                  f"{bench.fmt(s['user_s_per_m'], 2)}, system {bench.fmt(s['sys_s_per_m'], 2)}), "
                  f"broker "
                  f"{bench.fmt(s['broker_cpu_s_per_m'], 2)}, walsender "
                  f"{bench.fmt(s['walsender_cpu_s_per_m'], 2)}; peak RSS "
                  f"{bench.fmt_mb(s['peak_rss_kb'])} (load average "
                  f"{os.getloadavg()[0]:.1f}: indicative only)")
            for k, ev in s["syscalls_per_change"].items():
                print(f"   {k} per change: " + ", ".join(
                    f"{e} {v:.3f}" for e, v in ev.items() if v >= 0.001))
        raw, w2k = result["runs"].get("raw"), result["runs"].get("w2k")
        if raw and w2k:
            print(f"\n== wal2kafka ÷ raw, instructions per change: main thread "
                  f"{w2k['main_per_change'] / raw['all_per_change']:.2f}, all threads "
                  f"{w2k['all_per_change'] / raw['all_per_change']:.2f} "
                  f"(raw {raw['all_per_change']:,.0f}, wal2kafka {w2k['main_per_change']:,.0f} "
                  f"main / {w2k['all_per_change']:,.0f} all)")
        return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--changes", type=int, default=200_000, help="changes to write (default 200k)")
    p.add_argument("--txn", type=int, default=100_000,
                   help="changes per transaction (default 100k, as the catch-up benchmark)")
    p.add_argument("--runs", default="raw,w2k", help="subset of raw,w2k,native (default raw,w2k)")
    p.add_argument("--w2k-property", action="append", default=[], metavar="K=V",
                   help="extra librdkafka property for wal2kafka (kafka.properties)")
    p.add_argument("--build", default=os.environ.get("W2K_BUILD", str(REPO / "build")))
    p.add_argument("--out", help="also write the results as JSON to this file")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--syscalls", action="store_true",
                   help="native run: count wal2kafka's and the walsender's system calls and "
                   "context switches per change (perf stat)")
    args = p.parse_args()
    bad = set(args.runs.split(",")) - {"raw", "w2k", "native"}
    if bad:
        p.error(f"--runs: unknown {', '.join(sorted(bad))}")
    if "w2k" in args.runs or "raw" in args.runs:
        if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
            p.error("needs valgrind (Debian package valgrind)")

    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    prof = Profile(args)
    rc = 0
    try:
        res = prof.run()
        if args.out:
            Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
            log(f"results: {args.out}")
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}): stopping everything")
        rc = 130
    except Exception as e:
        log(f"FAILED: {type(e).__name__}: {e}")
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        Child.stop_all()
        prof.stop_servers()
        if args.keep:
            log(f"kept {prof.tmp}")
        else:
            shutil.rmtree(prof.tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
