"""Writes the benchmark report (Markdown + PNG charts) from bench/run.py's results.

    .venv/bin/python bench/report.py bench/results/NAME.json   # re-render from saved results
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NAMES = {"raw": "raw", "wal2kafka": "wal2kafka", "wal2kafka-eos": "wal2kafka exactly-once",
         "debezium": "Debezium", "wal2kafka-before": "wal2kafka (before)",
         "wal2kafka-eos-before": "wal2kafka exactly-once (before)",
         "kafka": "Kafka floor (linger 5)", "kafka-linger0": "Kafka floor (linger 0)",
         "kafka-eos": "Kafka floor (transactions)"}
COLORS = {"kafka": "#ff7f0e", "kafka-linger0": "#ffbb78", "kafka-eos": "#9467bd",
          "raw": "#7f7f7f", "wal2kafka": "#1f77b4", "wal2kafka-eos": "#2ca02c",
          "debezium": "#d62728", "wal2kafka-before": "#aec7e8",
          "wal2kafka-eos-before": "#98df8a"}
KINDS = ["raw", "kafka", "kafka-linger0", "kafka-eos", "wal2kafka", "wal2kafka-eos",
         "wal2kafka-before", "wal2kafka-eos-before",
         "debezium"]


# ------------------------------------------------------------------ formatting


def f0(v) -> str:
    return "–" if v is None else f"{v:,.0f}"


def f1(v) -> str:
    return "–" if v is None else f"{v:,.1f}"


def f2(v) -> str:
    return "–" if v is None else f"{v:,.2f}"


def mb(kb) -> str:
    return "–" if kb is None else f"{kb / 1024:,.1f}"


def ratio(a, b) -> str:
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.3f}" if r >= 0.001 else f"{r:.1e}"


def per_m(cpu, events) -> float | None:
    if cpu is None or not events:
        return None
    return cpu / events * 1e6


def table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def find(runs, kind, transport=None):
    """The run of that contender (for raw: the faster of its passes, the ceiling)."""
    found = [r for r in runs or [] if r.get("contender") == kind and
             (transport is None or r.get("transport") == transport)]
    if kind == "raw" and len(found) > 1:
        good = [r for r in found if not r.get("error")] or found
        return max(good, key=lambda r: r.get("events_per_s") or 0)
    return found[0] if found else None


def ok(r) -> bool:
    return r is not None and not r.get("error")


def val(r, key):
    return r.get(key) if ok(r) else None


# ------------------------------------------------------------------ charts


def charts(res: dict, outdir: Path, name: str) -> dict[str, str]:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as e:  # the report still has every number
        print(f"report.py: no charts ({e})", file=sys.stderr)
        return {}
    made = {}
    ph = res["phases"]
    from matplotlib.ticker import FuncFormatter
    plain = FuncFormatter(lambda x, _: f"{x:g}")

    cu = ph.get("catchup")
    if cu:
        fig, ax = plt.subplots(figsize=(7, 4))
        groups = ["tcp", "unix"]
        kinds = KINDS
        w = 0.2
        for i, k in enumerate(kinds):
            xs, ys = [], []
            for j, tr in enumerate(groups):
                r = find(cu["runs"], k, tr)
                if ok(r):
                    xs.append(j + (i - 1.5) * w)
                    ys.append(r["events_per_s"])
            if xs:
                bars = ax.bar(xs, ys, w, label=NAMES[k], color=COLORS[k])
                ax.bar_label(bars, labels=[f"{y / 1000:.0f}k" for y in ys], fontsize=8)
        ax.set_xticks(range(len(groups)), ["TCP loopback", "Unix socket"])
        ax.set_ylabel("row changes / s (start → last broker ack)")
        ax.set_title(f"Catch-up throughput, {cu['workload']['changes']:,} changes already in the slot")
        ax.legend()
        fig.tight_layout()
        made["throughput"] = f"{name}-throughput.png"
        fig.savefig(outdir / made["throughput"], dpi=110)
        plt.close(fig)

    lat = ph.get("latency")
    if lat:
        rates = sorted({r["rate"] for r in lat})
        fig, axes = plt.subplots(1, len(rates), figsize=(6 * len(rates), 4), squeeze=False)
        for ax, rate in zip(axes[0], rates):
            for r in lat:
                if r["rate"] != rate or not r.get("cdf"):
                    continue
                c = r["cdf"]
                ys = [i / (len(c) - 1) * 100 for i in range(len(c))]
                ach = (r.get("writer") or {}).get("achieved_rate")
                ax.plot([max(x, 0.01) for x in c], ys,
                        label=f"{NAMES[r['contender']]} (writer achieved {f0(ach)}/s)",
                        color=COLORS[r["contender"]])
            ax.set_title(f"target {rate:,} changes/s")
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(plain)
            ax.set_xlabel("commit → receipt (ms, log scale)")
            ax.set_ylabel("percentile")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        fig.suptitle("Latency distribution (CDF): PostgreSQL commit to consumer receipt")
        fig.tight_layout()
        made["latency"] = f"{name}-latency.png"
        fig.savefig(outdir / made["latency"], dpi=110)
        plt.close(fig)

    bt = ph.get("bigtxn")
    if bt:
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in bt["runs"]:
            s = r.get("rss_series")
            if not s:
                continue
            label = NAMES[r["contender"]] + (" (2nd pass)" if r.get("pass") == 2 else "") + \
                (" (until it failed)" if r.get("error") else "")
            ax.plot([p[0] for p in s], [p[2] / 1024 for p in s], label=label,
                    color=COLORS[r["contender"]], linestyle=":" if r.get("pass") == 2 else "-")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(plain)
        ax.set_xlabel("seconds since start")
        ax.set_ylabel("RSS (MB, log scale)")
        ax.set_title(f"One transaction of {bt['workload']['changes']:,} rows: memory over time")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        made["bigtxn"] = f"{name}-bigtxn-rss.png"
        fig.savefig(outdir / made["bigtxn"], dpi=110)
        plt.close(fig)

    sc = ph.get("scaling")
    if sc:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4))
        for key, ax, xl in (("tables", axes[0], "tables"), ("events", axes[1], "events")):
            for k in KINDS:
                xs, ys = [], []
                for e in sc.get(key, []):
                    r = find(e["runs"], k, "tcp")
                    if ok(r):
                        xs.append(e[key])
                        ys.append(r["events_per_s"])
                if xs:
                    ax.plot(xs, ys, "o-", label=NAMES[k], color=COLORS[k])
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(plain)
            ax.set_xlabel(xl)
            ax.set_ylabel("row changes / s")
            ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend()
        axes[0].set_title("Throughput vs number of tables")
        axes[1].set_title("Throughput vs volume")
        fig.tight_layout()
        made["scaling"] = f"{name}-scaling.png"
        fig.savefig(outdir / made["scaling"], dpi=110)
        plt.close(fig)

    fo = ph.get("fanout")
    if fo and any(r.get("cdf") for r in fo):
        fig, ax = plt.subplots(figsize=(7, 4))
        for r in fo:
            c = r.get("cdf")
            if not c:
                continue
            ys = [i / (len(c) - 1) * 100 for i in range(len(c))]
            ax.plot([max(x, 0.01) for x in c], ys, label=NAMES[r["contender"]],
                    color=COLORS[r["contender"]])
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(plain)
        ax.set_xlabel("commit → receipt by the last of the groups (ms, log scale)")
        ax.set_ylabel("percentile")
        ax.set_title(f"Fan-out: {fo[0]['groups']} consumer groups, {fo[0]['rate']:,} changes/s")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        made["fanout"] = f"{name}-fanout.png"
        fig.savefig(outdir / made["fanout"], dpi=110)
        plt.close(fig)
    return made


# ------------------------------------------------------------------ markdown


def note_of(r: dict) -> str:
    if not r.get("error"):
        return ""
    n = "**error**: " + r["error"].replace("|", "/")
    if r.get("partial_events_per_s"):
        n += (f" (until then {r['partial_events_per_s']:,.0f} events/s, peak RSS "
              f"{mb(r.get('peak_rss_kb'))} MB)")
    return n


def catchup_table(runs: list[dict]) -> str:
    rows = []
    for r in runs:
        raw = find(runs, "raw", r.get("transport"))
        dbz = find(runs, "debezium", "tcp")
        ev = r.get("changes")
        rows.append([
            NAMES[r["contender"]] + (" (2nd pass)" if r.get("pass") == 2 else ""),
            r.get("transport", ""), f0(ev),
            f2(val(r, "seconds")), f0(val(r, "events_per_s")), f0(val(r, "events_per_s_steady")),
            f2(val(r, "startup_s")) if r["contender"] != "raw" else "–",
            f2(val(r, "cpu_s")), f2(per_m(val(r, "cpu_s"), ev)),
            f2(per_m(val(r, "cpu_s_steady"), ev)) if r["contender"] != "raw" else
            f2(per_m(val(r, "cpu_s"), ev)),
            f2(val(r, "walsender_cpu_s")), f2(val(r, "broker_cpu_s")),
            mb(val(r, "peak_rss_kb")), f2(r.get("others_cores")),
            ratio(val(r, "events_per_s"), val(raw, "events_per_s")),
            ratio(val(r, "events_per_s_steady"), val(raw, "events_per_s_steady")),
            ratio(val(r, "events_per_s"), val(dbz, "events_per_s")),
            note_of(r),
        ])
    return table(["contender", "transport", "changes", "seconds", "events/s",
                  "steady events/s", "startup s", "CPU s", "CPU s/M", "steady CPU s/M",
                  "walsender CPU s", "broker CPU s", "peak RSS MB", "others' cores", "÷ raw",
                  "steady ÷ raw",
                  "÷ Debezium", "note"], rows)


def write(res: dict, outdir: Path, name: str) -> Path:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / f"{name}.json").write_text(json.dumps(res, indent=1, default=str) + "\n")
    made = charts(res, outdir, name)
    env = res.get("env", {})
    ph = res.get("phases", {})
    L = []
    L.append(f"# wal2kafka benchmark: {name}\n")
    L.append(f"Run {res.get('started')} ({res.get('mode')} mode, "
             f"{(res.get('seconds') or 0) / 60:.1f} min), reproduced by "
             f"`bench/run.sh{' --quick' if res.get('mode') == 'quick' else ''}` "
             f"(see `bench/README.md`). Raw numbers: `{name}.json`.\n")
    if res.get("command"):
        L.append(f"Command: `{res['command']}` (`bench/run.sh` takes the same arguments: it "
                 "sets up, then runs that)\n")
    lb, la = res.get("load_before"), res.get("load_after")
    if lb:
        L.append(f"Load average before / after the run: {lb[0]:.2f} / {la[0] if la else 0:.2f}"
                 " (1 min). Anything else running on the machine competes for its "
                 f"{env.get('cores')} cores and shows up in these numbers.\n")

    L.append("## Machine and versions\n")
    L.append(table(["", ""], [
        ["CPU", f"{env.get('cpu')} × {env.get('cores')} cores"],
        ["memory", f"{env.get('mem_gb')} GB"],
        ["OS / kernel", f"{env.get('os')} / {env.get('kernel')}"],
        ["PostgreSQL", env.get("postgres")],
        ["Kafka broker", f"{env.get('kafka')} (single node, KRaft, 127.0.0.1)"],
        ["wal2kafka", f"{env.get('wal2kafka')} (repository at git {env.get('wal2kafka_git')}; "
                      f"binary from `{env.get('build')}`)"],
        ["librdkafka (wal2kafka)", env.get("librdkafka")],
        ["libpq (raw, wal2kafka)", env.get("libpq")],
        ["Debezium", f"{env.get('debezium')} on Kafka Connect {env.get('kafka')} standalone"],
        ["Java", env.get("java")],
        ["measuring clients", f"confluent-kafka {env.get('python_client')}"],
    ]))

    L.append("## Settings\n")
    pgs = ", ".join(f"`{k}={v}`" for k, v in (env.get("pg_settings") or {}).items())
    L.append(
        "- **Servers**: PostgreSQL and Kafka started by `integration/servers/*.sh` in a temporary "
        f"directory; PostgreSQL adds {pgs} (and `fsync=off` from `pg.sh`). Every topic has one "
        "partition, replication factor 1.\n"
        "- **Workload table**: 8 columns (`int` primary key, `bigint`, `text`, `numeric(12,2)`, "
        "`timestamptz`, `boolean`, `varchar(32)`, `jsonb`); REPLICA IDENTITY DEFAULT. Catch-up "
        "data: ~60 % inserts, 30 % updates, 10 % deletes, generated server-side "
        "(`generate_series`) in transactions of "
        f"{res.get('sizes', {}).get('chunk', 0):,} changes; every contender has its own slot, "
        "created before the data was written, so each reads exactly the same WAL.\n"
        "- **raw** (`bench/rawreader.c`): libpq, `replication=database`, `START_REPLICATION ... "
        "(proto_version '1', publication_names '\"X\"', messages 'true')`, text mode; discards "
        "every frame, confirms what it read. Its time is connect → last byte read.\n"
        "- **wal2kafka**: default settings (no `kafka.properties`): `acks=all`, idempotent "
        "producer, `linger.ms=5`, `compression.type=lz4` (builds before that default "
        "sent uncompressed: see the git version above), `delivery.max_in_flight=100000`, Avro "
        "single-object encoding. **wal2kafka exactly-once**: the same plus "
        "`delivery.exactly_once = true` (Kafka transactions ending at PostgreSQL commits, "
        "default `commit_interval_ms`); its runs end when the topics' last stable offset "
        "(what a `read_committed` consumer sees) stops at or above the expected count, and "
        "its latency consumer reads `read_committed` (all consumers do; for the others it "
        "makes no difference).\n"
        "- **Debezium**: PostgreSQL connector on Kafka Connect standalone, `plugin.name=pgoutput`, "
        "`snapshot.mode=no_data` (streams the slot), TCP only (the JDBC driver has no Unix-socket "
        "support without extra libraries). **Values are JSON with schemas disabled** "
        "(`JsonConverter`, `schemas.enable=false`): Avro needs a schema registry, which this "
        "benchmark does not run; JSON is the cheaper format for Connect, so this favours "
        "Debezium. Heap `-Xms256m -Xmx2g` (`connect-standalone.sh` defaults). Throughput "
        "settings: " + ", ".join(f"`{k}={v}`" for k, v in (res.get("debezium_tuning") or {}).items())
        + ".\n"
        "- **Ends of runs**: wal2kafka and Debezium are done when the topics' end offsets (what "
        "the broker acknowledged) hold every expected message (one per change plus a tombstone "
        "per delete); polled every 50 ms. *events/s* counts from process start; *steady* from "
        "the first acknowledged message (raw: first byte) to the last. CPU is utime+stime of the "
        "contender's process (`/proc/PID/stat`; raw: `wait4` rusage), *steady CPU* only after "
        "the first acknowledgement (JVM start-up and plugin scanning excluded). Peak RSS is "
        "VmHWM. walsender CPU is the PostgreSQL backend serving the slot. *others' cores*: "
        "average CPU used during the run by processes that are not part of the benchmark "
        "(machine busy time minus the benchmark's processes); anything well above 0 means "
        "the run competed with other work and its numbers are pessimistic.\n")

    # ---------------- headline
    L.append("## Summary\n")
    rows = []
    K4 = ("raw", "wal2kafka", "wal2kafka-eos", "debezium")

    def row(label, v, fmt):
        rows.append([label] + [fmt(x) for x in v]
                    + [ratio(v[1], v[0]), ratio(v[2], v[0]), ratio(v[1], v[3])])

    cu = ph.get("catchup")
    if cu:
        for tr in ("tcp", "unix"):
            rs = [find(cu["runs"], k, tr) for k in K4]
            row(f"catch-up events/s, {tr}", [val(r, "events_per_s") for r in rs], f0)
            row(f"catch-up steady events/s, {tr}", [val(r, "events_per_s_steady") for r in rs],
                f0)
        rs = [find(cu["runs"], k, "tcp") for k in K4]
        ev = cu["workload"]["changes"]
        row("CPU s per M events (catch-up, tcp)", [per_m(val(r, "cpu_s"), ev) for r in rs], f2)
        row("steady CPU s per M events (tcp)",
            [per_m(val(r, "cpu_s") if k == "raw" else val(r, "cpu_s_steady"), ev)
             for k, r in zip(K4, rs)], f2)
        row("peak RSS MB (catch-up, tcp)", [val(r, "peak_rss_kb") for r in rs], mb)
    for r0 in sorted({r["rate"] for r in ph.get("latency") or []}):
        rs = {r["contender"]: r for r in ph["latency"] if r["rate"] == r0}
        ach = (rs.get("wal2kafka") or {}).get("writer", {}).get("achieved_rate")
        for q in ("p50", "p95", "p99", "max"):
            # Shown even when the run ended with an error (e.g. a consumer that never
            # caught up): the latencies measured until then are the finding.
            v = [((rs.get(k) or {}).get("latency") or {}).get(q) for k in K4]
            row(f"latency {q} ms at {r0:,}/s" + (f" (achieved {f0(ach)}/s)" if q == "p50"
                                                 else ""), v, f1)
    fo = ph.get("fanout")
    if fo:
        rs = [find(fo, k) for k in K4]
        v = [((r or {}).get("last_group") or {}).get("p95") for r in rs]
        row(f"fan-out p95 ms, last of {fo[0]['groups']} groups", v, f1)
    bt = ph.get("bigtxn")
    if bt:
        rs = [find(bt["runs"], k, "tcp") for k in K4]
        row(f"large txn ({bt['workload']['changes']:,} rows) peak RSS MB",
            [val(r, "peak_rss_kb") if ok(r) or not (r or {}).get("partial_messages") else
             r.get("peak_rss_kb") for r in rs], mb)
        row("large txn events/s", [val(r, "events_per_s") for r in rs], f0)
    L.append(table(["measurement", "raw", "wal2kafka", "wal2kafka exactly-once", "Debezium",
                    "wal2kafka ÷ raw", "exactly-once ÷ raw", "wal2kafka ÷ Debezium"], rows))
    L.append("Ratios: for throughput higher is better for wal2kafka; for latency, CPU and "
             "memory lower is better.\n")
    if "throughput" in made:
        L.append(f"![throughput]({made['throughput']})\n")

    # ---------------- details
    if cu:
        L.append("## Catch-up throughput\n")
        w = cu["workload"]
        L.append(f"{w['changes']:,} row changes ({fmt_counts(w['counts'])}) in "
                 f"{w['transactions']} transactions, written in {w['seconds']:.1f} s, already "
                 "in each contender's slot when it starts.\n")
        L.append(catchup_table(cu["runs"]))

    lat = ph.get("latency")
    if lat:
        L.append("## Latency\n")
        L.append("A writer process commits one small transaction every tick (2 ms; ~60 % "
                 "inserts, 30 % updates, 10 % deletes in one statement) at the target rate, "
                 f"{res['sizes'].get('warmup', 0)} s of warm-up (not measured; it lets the "
                 f"JVM compile its hot code) then {res['sizes'].get('lat_seconds')} s measured. "
                 "Latency is receipt time in a confluent-kafka consumer group (wall clock "
                 "after `consume()` returns) minus the PostgreSQL commit time: for wal2kafka the "
                 "Kafka message timestamp (commit time, ms), for Debezium `source.ts_ms` (commit "
                 "time, ms), for raw the commit time in the Begin message (µs) against the "
                 "moment the change is read. The ms truncation adds up to 1 ms to wal2kafka and "
                 "Debezium. Tombstones are not counted.\n")
        if any(r["contender"].startswith("kafka") for r in lat):
            L.append("*Kafka floor* (`bench/kfloor.c`): no PostgreSQL; a bare librdkafka "
                     "producer with wal2kafka's settings (acks=all, idempotent, lz4; linger.ms "
                     "5 or 0) produces the writer's schedule itself (same tick and count, a "
                     "tombstone per delete, values of about wal2kafka's size), each message "
                     "stamped with its produce time (ms), read by the same consumer: what "
                     "Kafka, librdkafka and this machine cost on their own; *transactions*: "
                     "Kafka transactions, each committed as soon as the ticks due are produced "
                     "(a slow commit makes the next one hold every tick due meanwhile, each "
                     "stamped with its scheduled time): exactly-once's floor. "
                     "*p99 ÷ Kafka floor* divides by the floor's p99 in the same round "
                     "(linger 5; for exactly-once, transactions).\n")
        rows = []
        for r in lat:
            lt = r.get("latency") or {}
            wr = r.get("writer") or {}
            base = find([x for x in lat if x["rate"] == r["rate"]], "raw")
            dbz = find([x for x in lat if x["rate"] == r["rate"]], "debezium")
            bl = (base or {}).get("latency") or {}
            dl = (dbz or {}).get("latency") or {}
            rows.append([f"{r['rate']:,}", NAMES[r["contender"]], f0(wr.get("achieved_rate")),
                         f"{wr.get('late_ticks', 0)}/{wr.get('ticks', 0)}",
                         f0(wr.get("changes")), f0(r.get("received")),
                         f1(lt.get("p50")), f1(lt.get("p95")), f1(lt.get("p99")),
                         f1(lt.get("max")), f2(per_m(r.get("cpu_s"), wr.get("changes"))),
                         mb(r.get("peak_rss_kb")), f2(r.get("others_cores")),
                         ratio(lt.get("p99"), bl.get("p99")), ratio(lt.get("p99"), dl.get("p99")),
                         ratio(lt.get("p99"), floor_p99(lat, r)),
                         ("**error**: " + r["error"]) if r.get("error") else ""])
        L.append(table(["target /s", "contender", "achieved /s", "late ticks", "changes",
                        "received", "p50 ms", "p95 ms", "p99 ms", "max ms", "CPU s/M",
                        "peak RSS MB", "others' cores", "p99 ÷ raw", "p99 ÷ Debezium",
                        "p99 ÷ Kafka floor", "note"],
                       rows))
        L.append("*achieved* is what the writer committed (changes ÷ wall time); *late ticks* "
                 "counts ticks that started more than one tick behind schedule: when they are "
                 "many, the machine did not sustain the target rate (writer, server, connector, "
                 "broker and consumer share the cores).\n")
        if "latency" in made:
            L.append(f"![latency]({made['latency']})\n")

    if fo:
        L.append("## Fan-out\n")
        L.append(f"{fo[0]['groups']} consumer groups (in {res['sizes']['fan_procs']} processes) "
                 f"subscribe to one topic; the writer commits {fo[0]['rate']:,} changes/s for "
                 f"{fo[0]['seconds']} s. For each message, the receipt time of the *last* group "
                 "to get it; p95 of that over all messages, and the worst per-group p95. "
                 "(At 10,000/s, 100 Python consumers would need a million deliveries per second "
                 "on 2 cores; the rate is lowered so that the consumers are not the "
                 "bottleneck.)\n")
        rows = []
        for r in fo:
            lg = r.get("last_group") or {}
            wr = r.get("writer") or {}
            rows.append([NAMES[r["contender"]], f0(wr.get("achieved_rate")),
                         f"{r.get('received_min', 0):,}–{r.get('received_max', 0):,}",
                         f1(lg.get("p50")), f1(lg.get("p95")), f1(lg.get("p99")),
                         f1(lg.get("max")), f1(r.get("median_group_p95")),
                         f1(r.get("worst_group_p95")), f2(r.get("others_cores")),
                         ("**error**: " + r["error"]) if r.get("error") else ""])
        L.append(table(["contender", "achieved /s", "received per group", "last-group p50 ms",
                        "last-group p95 ms", "last-group p99 ms", "last-group max ms",
                        "median group p95 ms", "worst group p95 ms", "others' cores", "note"],
                       rows))
        if "fanout" in made:
            L.append(f"![fan-out]({made['fanout']})\n")

    ins = ph.get("inserts")
    if ins:
        L.append("## Single-row inserts\n")
        w = ins["workload"]
        L.append(f"{w['changes']:,} single-row inserts committed in {w['transactions']} "
                 f"transactions (written in {w['seconds']:.1f} s), already in the slot. "
                 "*steady events/s* runs from the first change read (raw) or acknowledged "
                 "(wal2kafka) to the last; peak RSS is VmHWM.\n")
        L.append(catchup_table(ins["runs"]))

    if bt:
        L.append("## Large transaction\n")
        w = bt["workload"]
        L.append(f"One transaction inserting {w['changes']:,} rows (written in "
                 f"{w['seconds']:.1f} s). PostgreSQL spills it to disk while decoding "
                 "(`logical_decoding_work_mem` 64 MB) and sends it after the commit. RSS sampled "
                 "every 100 ms (VmRSS), peak is VmHWM.\n")
        L.append(catchup_table(bt["runs"]))
        if "bigtxn" in made:
            L.append(f"![large transaction RSS]({made['bigtxn']})\n")

    bs = ph.get("bigtxn_stream")
    if bs:
        L.append("## Large transaction streamed while it runs\n")
        L.append(
            f"One transaction inserting {bs['workload']['changes']:,} rows, written while each "
            "contender reads its own slot (created just before; `logical_decoding_work_mem` "
            f"{bs.get('logical_decoding_work_mem', '?')}). **raw** reads pgoutput protocol 1, "
            "like every reader that does not stream: PostgreSQL decodes the whole transaction, "
            "spilling it to its disk past `logical_decoding_work_mem`, and sends it after the "
            "commit. **wal2kafka exactly-once, streaming = false** is the same plus Kafka "
            "transactions. **streaming = true** (PostgreSQL 14+) reads protocol 2 with "
            "`streaming 'on'`: PostgreSQL sends the transaction in blocks while it runs and "
            "wal2kafka produces them into an open Kafka transaction, committed when "
            "PostgreSQL commits. *commit → last* runs from `COMMIT` returning to the writer to "
            "the last change read (raw: the rawreader's receipt time of the last change) or "
            "visible to a `read_committed` consumer (wal2kafka: the topic's last stable "
            "offset reaching every row, polled every 50 ms); target ≤ 1 s with streaming. "
            "PostgreSQL streams a block when the transaction's decoded changes pass "
            "`logical_decoding_work_mem`, so up to that much is still to send after the "
            "commit. With streaming, wal2kafka's walsender uses 8MB when the server has "
            "the built-in 64MB (builds since fb9b933; before, 64MB); the rows with a "
            "`logical_decoding_work_mem` set it for wal2kafka's walsender only "
            "(`options=\'-c logical_decoding_work_mem=...\'` in `postgresql.conninfo`). "
            "*total* runs from `BEGIN`. *in Kafka at commit* counts messages already produced "
            "(uncommitted) when `COMMIT` returned. The spill and stream columns are "
            "`pg_stat_replication_slots` of the contender's slot after its run: with "
            "streaming, `spill_bytes` must be 0. raw's peak RSS includes its record of "
            "each change's latency (8 bytes a change).\n")
        L.append("Debezium is not in this table: " + bs.get("debezium", "") + ".\n")
        rows = []
        for r in bs["runs"]:
            st = r.get("slot") or {}
            who = NAMES.get(r["contender"], r["contender"])
            if r.get("streaming") is not None:
                who += f", streaming = {'true' if r['streaming'] else 'false'}"
            if r.get("work_mem"):
                who += f", logical_decoding_work_mem = {r['work_mem']}"
            rows.append([who, f0(r.get("changes")), f1(r.get("write_s")),
                         f2(r.get("commit_to_last_s")), f1(r.get("total_s")),
                         f0(r.get("produced_at_commit")) if r.get("streaming") is not None
                         else "–",
                         f0(st.get("spill_txns")), f0(st.get("spill_count")),
                         mb(st["spill_bytes"] / 1024) if "spill_bytes" in st else "–",
                         f0(st.get("stream_txns")), f0(st.get("stream_count")),
                         mb(st["stream_bytes"] / 1024) if "stream_bytes" in st else "–",
                         f1(r.get("cpu_s")), f1(r.get("walsender_cpu_s")),
                         mb(r.get("peak_rss_kb")), f2(r.get("others_cores")),
                         ("**error**: " + r["error"]) if r.get("error") else ""])
        L.append(table(["contender", "rows", "write s", "commit → last s", "total s",
                        "in Kafka at commit", "spill txns", "spill count", "spill MB",
                        "stream txns", "stream count", "stream MB", "CPU s",
                        "walsender CPU s", "peak RSS MB", "others' cores", "note"], rows))

    mt = ph.get("many_tables")
    if mt:
        L.append(f"## {mt['tables']:,} tables\n")
        L.append(
            f"Tables t_NNNNN (`id int primary key, v text`). **wal2kafka**: one stream over "
            "the pattern `public.t_*` in a fresh database (bench/many_tables.py's "
            "measurement): *start* from process start to \"streaming from slot\" with the "
            "slot, publication and every topic new; *delivery*: one row inserted into each "
            "table (a commit every 100 tables), from the last commit until the slot "
            "confirmed it (confirmed only once the broker acknowledged every change); "
            "*peak RSS* over the whole run. Catch-up: "
            f"{mt['rows']:,} rows written while the reader was stopped, spread evenly over "
            "the tables (a commit every 1,000 tables), then the same number of rows into one "
            "table; rows/s from the first row read (raw: first byte; wal2kafka: \"streaming "
            "from slot\"; Debezium: its first message, so its start-up over many tables is "
            "not counted) to the last acknowledged, and the ratio many ÷ one. Every "
            "contender reads its own slot; Debezium's topics are made before it starts, as "
            "wal2kafka's are after its first start. Targets (issue 15): start ≤ 60 s, peak "
            "RSS ≤ 200 MB, delivery ≤ 10 s, catch-up ratio ≥ 0.8.\n")
        rows = []
        for r in mt["runs"]:
            if r["contender"] == "wal2kafka":
                many, one = r.get("catchup_many_rows_per_s"), r.get("catchup_one_rows_per_s")
                rows.append(["wal2kafka", f1(r.get("start_s")), f0(r.get("peak_rss_mb")),
                             f1(r.get("deliver_s")), f0(many), f0(one), ratio(many, one),
                             f2(r.get("others_cores")),
                             ("**error**: " + r["error"]) if r.get("error") else ""])
        for kind in ("raw", "debezium"):
            many = next((r for r in mt["runs"] if r["contender"] == kind
                         and r.get("over") == "many"), None)
            one = next((r for r in mt["runs"] if r["contender"] == kind
                        and r.get("over") == "one"), None)
            if not many or not one:
                continue
            m, o = val(many, "events_per_s_steady"), val(one, "events_per_s_steady")
            err = "; ".join(x["error"] for x in (many, one) if x.get("error"))
            rows.append([NAMES[kind], "–", "–", "–", f0(m), f0(o), ratio(m, o),
                         f2(many.get("others_cores")), ("**error**: " + err) if err else ""])
        L.append(table(["contender", "start s", "peak RSS MB", "delivery s",
                        f"catch-up over {mt['tables']:,} tables rows/s",
                        "catch-up over 1 table rows/s", "ratio", "others' cores", "note"],
                       rows))

    sc = ph.get("scaling")
    if sc:
        L.append("## Scaling\n")
        rows = []
        for key in ("tables", "events"):
            for e in sc.get(key, []):
                raw = find(e["runs"], "raw", "tcp")
                for r in e["runs"]:
                    if r.get("transport") != "tcp":
                        continue
                    ev = r.get("changes")
                    rows.append([f"{e[key]:,} {key}" if key == "tables" else
                                 f"{e[key]:,} events",
                                 NAMES[r["contender"]] + (" (2nd pass)" if r.get("pass") == 2
                                                          else ""),
                                 f0(ev), f0(val(r, "events_per_s")),
                                 f0(val(r, "events_per_s_steady")), f2(val(r, "cpu_s")),
                                 f2(per_m(val(r, "cpu_s"), ev)),
                                 f2(per_m(val(r, "cpu_s_steady") if r["contender"] != "raw"
                                          else val(r, "cpu_s"), ev)),
                                 mb(val(r, "peak_rss_kb")),
                                 ratio(val(r, "events_per_s"), val(raw, "events_per_s")),
                                 ("**error**: " + r["error"]) if r.get("error") else ""])
        L.append(table(["case", "contender", "changes", "events/s", "steady events/s", "CPU s",
                        "CPU s/M", "steady CPU s/M", "peak RSS MB", "÷ raw", "note"], rows))
        L.append("Tables: the same number of changes spread evenly over N tables (one topic "
                 "each). Volume: CPU per million events should stay flat if cost grows "
                 "linearly.\n")
        if "scaling" in made:
            L.append(f"![scaling]({made['scaling']})\n")

    pr = ph.get("profile")
    if pr:
        L.append("## Where wal2kafka spends its time\n")
        run = pr.get("run") or {}
        L.append(f"`perf record -F 999` (flat, no call graphs: the build has no frame "
                 f"pointers) on wal2kafka and its walsender during a separate "
                 f"{f0(run.get('changes'))}-change catch-up over TCP "
                 f"({f0(run.get('events_per_s'))} events/s, steady "
                 f"{f0(run.get('events_per_s_steady'))}, under perf). Samples by process:\n")
        rep = pr.get("report") or {}
        for key, title in (
                ("by_process", None),
                ("w2k_threads", "wal2kafka by thread (main loop vs librdkafka threads), % of "
                                "wal2kafka's samples:"),
                ("w2k_dso", "wal2kafka by library, % of wal2kafka's samples:"),
                ("wal2kafka", "wal2kafka top symbols, % of wal2kafka's samples:"),
                ("w2k_inclusive", "wal2kafka main thread, inclusive time (Children = the "
                                  "function and what it calls; Self = in it alone), from "
                                  "DWARF call graphs at 299 Hz:"),
                ("walsender", "PostgreSQL walsender top symbols, % of its samples:")):
            if rep.get(key):
                if title:
                    L.append(title + "\n")
                L.append("```\n" + "\n".join(rep[key]) + "\n```\n")

    fe = ph.get("features")
    if fe:
        L.append("## Catch-up with transaction metadata and masking\n")
        L.append(f"The same {fe['workload']['changes']:,} changes read by two wal2kafka streams "
                 "one after the other: without the issue 13 options, and with "
                 "`transaction_metadata = true`"
                 + (" and column `t` hashed (`hash_columns`, `hash_salt_file`)"
                    if fe.get("masking") else " (this binary has no masking: metadata alone)")
                 + ".\n")
        L.append(table(["stream", "events/s", "events/s steady", "CPU s", "peak RSS MB"], [
            [r.get("features"), f0(r.get("events_per_s")), f0(r.get("events_per_s_steady")),
             f1(r.get("cpu_s")), mb(r.get("peak_rss_kb"))] for r in fe["runs"]]))
        if fe.get("ratio_on_off"):
            L.append(f"on / off: {fe['ratio_on_off']:.3f}\n")

    L.extend(medians_section(ph))

    notes = res.get("notes") or []
    errs = res.get("errors") or []
    if errs or notes:
        L.append("## Problems and notes\n")
        for e in errs:
            L.append(f"- error: {e}")
        for n in notes:
            L.append(f"- {n}")
        L.append("")
    md = outdir / f"{name}.md"
    md.write_text("\n".join(L))
    return md


def median(vals: list):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def floor_p99(lat: list, r: dict) -> float | None:
    """The Kafka floor's p99 (bench/kfloor.c: for exactly-once its transactions, else
    linger 5 as wal2kafka's default, else linger 0) in r's round and rate, None
    without one."""
    eos = "eos" in (r.get("contender") or "")
    for k in (("kafka-eos",) if eos else ("kafka", "kafka-linger0")):
        for x in lat:
            if (x.get("contender") == k and x.get("rate") == r.get("rate") and
                    x.get("round", 0) == r.get("round", 0) and ok(x)):
                return (x.get("latency") or {}).get("p99")
    return None


def medians_section(ph: dict) -> list[str]:
    """Repeated runs (lat_repeat, catchup_repeat) and --before: medians over the runs of
    each contender, and ratios to the raw reader's run of the same round (latency) or the
    same transport (catch-up: raw's faster pass). Nothing when runs were not repeated and
    no older build ran."""
    lat = ph.get("latency") or []
    cu = (ph.get("catchup") or {}).get("runs") or []
    kinds = {r.get("contender") for r in lat + cu}
    seen = [(r.get("contender"), r.get("transport")) for r in cu if r.get("contender") != "raw"]
    repeated = any(r.get("round", 0) > 0 for r in lat) or len(seen) > len(set(seen))
    if not (repeated or kinds & {"wal2kafka-before", "wal2kafka-eos-before"}) or not lat + cu:
        return []
    L = ["## Medians over repeated runs\n"]
    if lat:
        L.append("Latency: per contender the median over its runs of each percentile, and "
                 "the median of its p99 ÷ the raw reader's p99 in the same round; load is the "
                 "1-minute load average after each run (2 cores).\n")
        rows = []
        for rate in sorted({r["rate"] for r in lat}):
            for k in KINDS:
                rs = [r for r in lat if r["rate"] == rate and r["contender"] == k and ok(r)]
                if not rs:
                    continue
                rat = []
                frat = [r["latency"]["p99"] / fp for r in rs
                        if (fp := floor_p99(lat, r)) and (r.get("latency") or {}).get("p99")
                        and not k.startswith("kafka")]
                for r in rs:
                    raw = [x for x in lat if x["rate"] == rate and x["contender"] == "raw" and
                           x.get("round") == r.get("round") and ok(x)]
                    if raw and k != "raw":
                        rat.append((r["latency"] or {}).get("p99", 0) /
                                   max((raw[0]["latency"] or {}).get("p99") or 1e-9, 1e-9))
                pick = [[(r.get("latency") or {}).get(q) for r in rs]
                        for q in ("p50", "p95", "p99", "max")]
                loads = [r["load"][0] for r in rs if r.get("load")]
                rows.append([f"{rate:,}", NAMES[k], str(len(rs)),
                             *(f1(median(p)) for p in pick),
                             f"{min(x for x in pick[2] if x is not None):.1f}–"
                             f"{max(x for x in pick[2] if x is not None):.1f}",
                             f1(median(rat)) if rat else "–",
                             f1(median(frat)) if frat else "–",
                             f2(median(loads)) if loads else "–",
                             f2(median([r.get("others_cores") for r in rs]))])
        L.append(table(["target /s", "contender", "runs", "p50 ms", "p95 ms", "p99 ms",
                        "max ms", "p99 range", "p99 ÷ raw", "p99 ÷ Kafka floor", "load",
                        "others' cores"], rows))
    if cu:
        L.append("Catch-up: median events/s from process start over the runs of each "
                 "contender and transport, ÷ the raw reader's fastest pass on the same "
                 "transport; CPU seconds per million changes of the contender, its "
                 "walsender and the broker (`/proc/PID/stat`, medians).\n")
        rows = []
        for tr in ("tcp", "unix"):
            raw = find([r for r in cu if r.get("transport") == tr], "raw")
            for k in KINDS:
                rs = [r for r in cu if r.get("contender") == k and r.get("transport") == tr
                      and ok(r)]
                if not rs:
                    continue
                ev = median([r.get("events_per_s") for r in rs])
                st = median([r.get("events_per_s_steady") for r in rs])
                n = rs[0].get("changes")
                rows.append([tr, NAMES[k], str(len(rs)), f0(ev), f0(st),
                             ratio(ev, val(raw, "events_per_s")),
                             f2(per_m(median([r.get("cpu_s") for r in rs]), n)),
                             f2(per_m(median([r.get("walsender_cpu_s") for r in rs]), n)),
                             f2(per_m(median([r.get("broker_cpu_s") for r in rs]), n)),
                             f2(median([r.get("others_cores") for r in rs]))])
        L.append(table(["transport", "contender", "runs", "events/s", "steady events/s",
                        "÷ raw", "CPU s/M", "walsender CPU s/M", "broker CPU s/M",
                        "others' cores"], rows))
    return L


def fmt_counts(counts: dict) -> str:
    i = sum(c["I"] for c in counts.values())
    u = sum(c["U"] for c in counts.values())
    d = sum(c["D"] for c in counts.values())
    return f"{i:,} inserts, {u:,} updates, {d:,} deletes"


if __name__ == "__main__":
    p = Path(sys.argv[1])
    res = json.loads(p.read_text())
    print(write(res, p.parent, p.stem))
