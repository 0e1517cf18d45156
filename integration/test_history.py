"""`wal2kafka history` and `wal2kafka state` against what PostgreSQL itself recorded.

The test keeps its own log of every statement it committed: the transaction id, the row
as PostgreSQL shows it right after the statement (SELECT inside the transaction), and
the transaction's now() and clock/WAL positions around COMMIT. The commit time and
commit LSN of each transaction come from its messages, decoded independently
(confluent-kafka + fastavro, integration/w2k.py); the test checks them against its own
brackets (now() <= commit time <= the clock after COMMIT; the commit LSN inside the WAL
positions around COMMIT) and orders the log by commit LSN. From that log it computes
what `history` must print for every key and what `state --at T` must print for many T,
and compares the JSON output exactly.

Covered: concurrent sessions changing the same rows, deletes and re-inserts of a key, a
primary-key change (the old key's history ends with a delete, the new key's begins with
an insert), columns added and dropped between updates (several schema versions in one
history), unchanged TOAST values filled in from earlier images, REPLICA IDENTITY FULL,
a topic with 6 partitions (only the key's partition is read), --since/--until, the
refusal of `state` before the compaction horizon (exit 6), and the schema registry's
framing.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time

import pytest

from w2k import (Decoder, connectors, consume, module_registry,  # noqa: F401 (fixtures)
                 murmur2_partition, parse_lsn, run_cli, us)

EXIT_INEXACT = 6
PARTITIONS = 6


# ------------------------------------------------------------------------- the log


class Log:
    """Every committed statement, with what PostgreSQL shows of the row after it."""

    def __init__(self, db):
        self.db = db
        self.txns: list[dict] = []
        self.cols: dict[str, list[tuple[str, str]]] = {}  # table -> [(column, type)]
        self.lock = threading.Lock()

    def columns(self, table: str, cols: list[tuple[str, str]]) -> None:
        self.cols[table] = list(cols)

    def image(self, c, table: str, key: int) -> dict | None:
        cols = self.cols[table]
        sel = ", ".join(f"{n}::text" if t == "numeric" else n for n, t in cols)
        row = c.execute(f"SELECT {sel} FROM {table} WHERE id = %s", (key,)).fetchone()
        return None if row is None else {n: v for (n, _), v in zip(cols, row)}

    def txn(self, fn, conn=None) -> dict:
        """Run fn(ops) in one transaction and log it."""
        own = conn is None
        c = conn or self.db.connect(autocommit=False)
        try:
            lsn0, t_start = c.execute("SELECT pg_current_wal_insert_lsn()::text, now()").fetchone()
            ops = Ops(self, c)
            fn(ops)
            xid = int(c.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
            l1, t1 = c.execute("SELECT pg_current_wal_insert_lsn()::text, clock_timestamp()").fetchone()
            c.commit()
            l2, t2 = c.execute("SELECT pg_current_wal_insert_lsn()::text, clock_timestamp()").fetchone()
            c.commit()
        finally:
            if own:
                c.close()
        rec = {"xid": xid & 0xFFFFFFFF, "stmts": ops.stmts, "lsn_lo": parse_lsn(l1),
               "lsn_hi": parse_lsn(l2), "t_start": us(t_start), "t_before": us(t1),
               "t_after": us(t2)}
        with self.lock:
            self.txns.append(rec)
        return rec

    def attach_commits(self, commits: dict[int, tuple[int, int]]) -> None:
        """Give each transaction its commit LSN and time (from the messages), check them
        against the brackets measured around COMMIT, and order the log by commit."""
        for t in self.txns:
            assert t["xid"] in commits, f"transaction {t['xid']} has no message"
            t["commit_lsn"], t["ts_us"] = commits[t["xid"]]
            assert t["lsn_lo"] <= t["commit_lsn"] < t["lsn_hi"], t
            assert t["t_start"] <= t["ts_us"] <= t["t_after"], t
        self.txns.sort(key=lambda t: t["commit_lsn"])

    def events(self, table: str) -> dict[int, list[dict]]:
        """Per key, its statements in commit order."""
        out: dict[int, list[dict]] = {}
        for t in self.txns:
            for s in t["stmts"]:
                if s["table"] == table:
                    out.setdefault(s["key"], []).append({**s, "xid": t["xid"], "ts_us": t["ts_us"]})
        return out

    def state(self, table: str, at_us: int) -> dict[int, dict]:
        rows: dict[int, dict] = {}
        for t in self.txns:
            if t["ts_us"] > at_us:
                break
            for s in t["stmts"]:
                if s["table"] != table:
                    continue
                if s["op"] == "d":
                    rows.pop(s["key"], None)
                else:
                    rows[s["key"]] = s["image"]
        return rows


class Ops:
    def __init__(self, log: Log, c):
        self.log, self.c, self.stmts = log, c, []

    def _rec(self, table, key, op):
        self.stmts.append({"table": table, "key": key, "op": op,
                           "image": None if op == "d" else self.log.image(self.c, table, key)})

    def insert(self, table: str, **vals) -> None:
        names = ", ".join(vals)
        self.c.execute(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(vals))})",
                       tuple(vals.values()))
        self._rec(table, vals["id"], "c")

    def update(self, table: str, key: int, **sets) -> None:
        assign = ", ".join(f"{k} = %s" for k in sets)
        cur = self.c.execute(f"UPDATE {table} SET {assign} WHERE id = %s", (*sets.values(), key))
        assert cur.rowcount == 1
        self._rec(table, key, "u")

    def delete(self, table: str, key: int) -> None:
        assert self.c.execute(f"DELETE FROM {table} WHERE id = %s", (key,)).rowcount == 1
        self._rec(table, key, "d")

    def change_key(self, table: str, old: int, new: int) -> None:
        assert self.c.execute(f"UPDATE {table} SET id = %s WHERE id = %s", (new, old)).rowcount == 1
        self._rec(table, old, "d")
        self._rec(table, new, "c")


def expected_history(events: list[dict]) -> list[dict]:
    """What `history` prints for a key, from the log (rules in connector/reader/histdec.h)."""
    out = []
    prev = None
    for e in events:
        if e["op"] == "d":
            changes = {k: {"old": v} for k, v in (prev or {}).items() if v is not None}
            after = None
        elif e["op"] == "c" or prev is None:
            after = e["image"]
            changes = {k: {"new": v} for k, v in after.items() if v is not None}
        else:
            after = e["image"]
            changes = {}
            for k, v in after.items():
                if k not in prev:
                    if v is not None:
                        changes[k] = {"new": v}  # a column added since
                elif prev[k] != v:
                    changes[k] = {"old": prev[k], "new": v}
        out.append({"op": e["op"], "txid": e["xid"], "ts_us": e["ts_us"], "changes": changes,
                    "after": after})
        prev = after
    return out


def iso(ts_us: int) -> str:
    t = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=ts_us)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cli(binary, conn, *args, rc=0):
    r = run_cli(binary, *args, "--config", conn.config_path)
    assert r.returncode == rc, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def history(binary, conn, table, key, *extra) -> list[dict]:
    return json_lines(cli(binary, conn, "history", "--table", f"public.{table}", "--key",
                          f"id={key}", "--format", "json", *extra).stdout)


def state(binary, conn, table, at_us=None, key=None) -> dict[int, dict]:
    args = ["state", "--table", f"public.{table}", "--format", "json"]
    if at_us is not None:
        args += ["--at", iso(at_us)]
    if key is not None:
        args += ["--key", f"id={key}"]
    lines = json_lines(cli(binary, conn, *args).stdout)
    return {line["key"]["id"]: line["row"] for line in lines if line["row"] is not None}


def commits_of(kafka, conn, topics) -> tuple[dict, dict]:
    """xid -> (commit LSN, commit time) from the messages, and per topic its records."""
    dec = Decoder(kafka, conn.prefix)
    commits, recs = {}, {}
    for topic in topics:
        recs[topic] = consume(kafka, dec, topic, to_end=True, timeout=60)
        for r in recs[topic]:
            if r.value is not None:
                s = r.value["source"]
                assert commits.setdefault(s["txId"], (s["commit_lsn"], s["ts_us"])) == \
                    (s["commit_lsn"], s["ts_us"])
    return commits, recs


def big(rng: random.Random) -> str:
    """A value stored out of line (STORAGE EXTERNAL, > 2 kB): unchanged TOAST when not set."""
    return "".join(rng.choice("0123456789abcdef") for _ in range(3000))


# ------------------------------------------------------------------------ the tests


def test_history_and_state_follow_postgres(db, kafka, connectors, wal2kafka_bin):
    rng = random.Random(8)
    db.execute("CREATE TABLE items (id int PRIMARY KEY, name text, qty int, price numeric(10,2), "
               "note text)")
    db.execute("ALTER TABLE items ALTER COLUMN note SET STORAGE EXTERNAL")
    db.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric(12,2))")
    db.execute("ALTER TABLE accounts REPLICA IDENTITY FULL")
    conn = connectors(["public.items", "public.accounts"],
                      settings={"kafka": {"topic": {"partitions": PARTITIONS}}})
    conn.start().wait_streaming()
    log = Log(db)
    log.columns("items", [("id", "int"), ("name", "text"), ("qty", "int"), ("price", "numeric"),
                          ("note", "text")])
    log.columns("accounts", [("id", "int"), ("owner", "text"), ("balance", "numeric")])

    def seed(o):
        for k in range(1, 21):
            o.insert("items", id=k, name=f"item{k}", qty=0, price=f"{k}.5",
                     note=big(rng) if k <= 4 else f"n{k}")
        for k in range(1, 5):
            o.insert("accounts", id=k, owner=f"o{k}", balance="100.00")
    log.txn(seed)

    # concurrent sessions on the same hot rows (row locks order them; the log is ordered by
    # commit LSN afterwards)
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def session(n: int) -> None:
        r = random.Random(n)
        try:
            with db.connect(autocommit=False) as c:
                start.wait(30)
                for i in range(25):
                    keys = sorted(r.sample(range(1, 7), r.randint(1, 2)))

                    def work(o, keys=keys, i=i):
                        for k in keys:
                            o.update("items", k, qty=n * 100 + i, name=f"s{n}.{i}")
                            if i % 5 == 0:  # twice in one transaction
                                o.update("items", k, price=f"{n}.{i:02d}")
                        if i % 3 == 0:
                            o.update("accounts", 1 + i % 4, balance=f"{n * 10 + i}.25")
                    log.txn(work, conn=c)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=session, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors

    # deletes and re-inserts of the same key
    log.txn(lambda o: o.delete("items", 9))
    log.txn(lambda o: o.insert("items", id=9, name="again", qty=1, price="9.99", note=None))
    log.txn(lambda o: (o.delete("items", 9), o.insert("items", id=9, name="third", qty=2,
                                                        price="0.00", note="x")))
    log.txn(lambda o: o.delete("accounts", 4))
    log.txn(lambda o: o.insert("accounts", id=4, owner="new", balance="0.00"))
    # a primary-key change (small note: the create of the new key carries every value)
    log.txn(lambda o: o.change_key("items", 7, 107))
    log.txn(lambda o: o.update("items", 107, qty=77))
    # schema changes between updates: a column added, then one dropped
    log.txn(lambda o: o.update("items", 1, qty=1000))
    db.execute("ALTER TABLE items ADD COLUMN color text")
    log.columns("items", [("id", "int"), ("name", "text"), ("qty", "int"), ("price", "numeric"),
                          ("note", "text"), ("color", "text")])
    log.txn(lambda o: o.update("items", 1, color="red"))
    log.txn(lambda o: o.update("items", 2, qty=2000))  # color stays NULL: not a change
    log.txn(lambda o: o.update("items", 3, color="blue", note=big(rng)))
    db.execute("ALTER TABLE items DROP COLUMN note")
    log.columns("items", [("id", "int"), ("name", "text"), ("qty", "int"), ("price", "numeric"),
                          ("color", "text")])
    log.txn(lambda o: o.update("items", 1, color="green", qty=1001))
    log.txn(lambda o: o.update("items", 3, qty=3000))
    log.txn(lambda o: o.delete("items", 2))
    log.txn(lambda o: o.insert("items", id=2, name="back", qty=0, price="2.00", color=None))

    conn.wait_caught_up(60)
    items_t, accounts_t = conn.topic("items"), conn.topic("accounts")
    commits, recs = commits_of(kafka, conn, [items_t, accounts_t])
    log.attach_commits(commits)
    assert kafka.partitions(items_t) == PARTITIONS
    partition_of = {}
    for topic in (items_t, accounts_t):
        for r in recs[topic]:
            assert r.partition == murmur2_partition(r.raw_key, PARTITIONS)
            partition_of[(topic, r.key["id"])] = r.partition
    assert len({p for (t, _), p in partition_of.items() if t == items_t}) > 1

    # history of every key equals the log
    for table, topic in (("items", items_t), ("accounts", accounts_t)):
        per_key = log.events(table)
        for key, events in sorted(per_key.items()):
            got = history(wal2kafka_bin, conn, table, key)
            want = expected_history(events)
            assert [(g["op"], g["txid"], g["ts_us"]) for g in got] == \
                [(w["op"], w["txid"], w["ts_us"]) for w in want], f"{table} key {key}"
            for g, w in zip(got, want):
                assert g["changes"] == w["changes"], f"{table} key {key} at txid {w['txid']}"
                assert g["after"] == w["after"], f"{table} key {key} at txid {w['txid']}"
                assert g["key"] == {"id": key}
                assert g["partition"] == partition_of[(topic, key)], "the key's own partition"
                assert g["commit_time"] == iso(w["ts_us"])
            lsns = [(parse_lsn(g["commit_lsn"]), parse_lsn(g["lsn"])) for g in got]
            assert lsns == sorted(lsns) and len(set(lsns)) == len(lsns), "commit order"
    # the concurrent rows really raced: several sessions wrote each hot key
    assert all(len({e["image"]["name"].split(".")[0] for e in log.events("items")[k]
                    if e["image"] and e["image"]["name"].startswith("s")}) >= 2 for k in range(1, 7))
    # a primary-key change: the old key's history ends with a delete, the new key's starts
    # with an insert of the same transaction
    old, new = history(wal2kafka_bin, conn, "items", 7), history(wal2kafka_bin, conn, "items", 107)
    assert old[-1]["op"] == "d" and new[0]["op"] == "c" and old[-1]["txid"] == new[0]["txid"]
    # several schema versions in one history: note dropped, color added
    h1 = history(wal2kafka_bin, conn, "items", 1)
    assert "note" in h1[0]["after"] and "color" not in h1[0]["after"]
    assert h1[-1]["after"]["color"] == "green" and "note" not in h1[-1]["after"]
    assert h1[-2]["changes"] == {"color": {"new": "red"}}
    # unchanged TOAST values were filled in: the log has the full text of each
    assert any(len(e["image"]["note"] or "") == 3000 for e in log.events("items")[4]
               if e["image"])

    # --since / --until: only the events in that window (commit time, inclusive)
    ev = log.events("items")[3]
    lo, hi = ev[3]["ts_us"], ev[-2]["ts_us"]
    got = history(wal2kafka_bin, conn, "items", 3, "--since", iso(lo), "--until", iso(hi))
    assert [(g["op"], g["txid"]) for g in got] == \
        [(e["op"], e["xid"]) for e in ev if lo <= e["ts_us"] <= hi]
    assert history(wal2kafka_bin, conn, "items", 3, "--until", iso(ev[0]["ts_us"] - 1)) == []

    # state at many times: before anything, at and just before commits, now
    times = sorted({t["ts_us"] for t in log.txns})
    probes = [times[0] - 1, times[0]] + [times[i] - 1 for i in range(1, len(times), 17)] + \
        [times[i] for i in range(2, len(times), 13)] + [times[-1], None]
    for at in probes:
        at_us = at if at is not None else times[-1] + 1
        for table in ("items", "accounts"):
            assert state(wal2kafka_bin, conn, table, at) == log.state(table, at_us), \
                f"{table} at {at}"
    # one key
    for key, at in ((9, times[-1]), (4, times[0]), (107, times[-1]), (7, times[-1]),
                    (1, times[len(times) // 2])):
        want = log.state("items", at).get(key)
        got = state(wal2kafka_bin, conn, "items", at, key=key)
        assert got == ({key: want} if want else {}), f"key {key} at {at}"
    absent = json_lines(cli(wal2kafka_bin, conn, "state", "--table", "items", "--key", "id=7",
                            "--format", "json").stdout)
    assert len(absent) == 1 and absent[0]["row"] is None and absent[0]["op"] == "d"

    # the human table
    r = cli(wal2kafka_bin, conn, "history", "--table", "public.items", "--key", "id=1",
            "--format", "table")
    assert r.stdout.splitlines()[1].split() == ["COMMIT", "TIME", "(UTC)", "OP", "LSN", "TXID",
                                                 "COLUMN", "OLD", "NEW"]
    assert "green" in r.stdout
    r = cli(wal2kafka_bin, conn, "state", "--table", "public.accounts", "--format", "table")
    assert "balance" in r.stdout.splitlines()[1]
    assert conn.stop() == 0


def test_cli_errors(db, kafka, connectors, wal2kafka_bin):
    db.execute("CREATE TABLE e (a int, b text, PRIMARY KEY (a, b))")
    conn = connectors(["public.e"])
    conn.start().wait_streaming()
    db.execute("INSERT INTO e VALUES (1, 'x,y')")
    conn.wait_caught_up()
    got = json_lines(cli(wal2kafka_bin, conn, "history", "--table", "public.e", "--key",
                         'a=1,b="x,y"', "--format", "json").stdout)
    assert [g["op"] for g in got] == ["c"] and got[0]["key"] == {"a": 1, "b": "x,y"}
    # repeated --key options add columns; a key that never existed has no history
    got = json_lines(cli(wal2kafka_bin, conn, "history", "--table", "e", "--key", "b=x",
                         "--key", "a=1", "--format", "json").stdout)
    assert got == []
    r = cli(wal2kafka_bin, conn, "history", "--table", "public.e", "--key", "a=1,b=x,y", rc=2)
    assert "expected col=value" in r.stderr
    r = cli(wal2kafka_bin, conn, "history", "--table", "public.e", "--key", "a=1", rc=2)
    assert "no value for key column b" in r.stderr
    r = cli(wal2kafka_bin, conn, "history", "--table", "public.e", "--key", "a=z,b=1", rc=2)
    assert "a=z" in r.stderr
    r = cli(wal2kafka_bin, conn, "history", "--table", "public.e", rc=2)
    r = cli(wal2kafka_bin, conn, "state", "--table", "public.e", "--since", "2h", rc=2)
    r = cli(wal2kafka_bin, conn, "state", "--table", "public.e", "--at", "tomorrow", rc=2)
    assert "--at tomorrow" in r.stderr
    r = cli(wal2kafka_bin, conn, "state", "--table", "public.nope", rc=5)
    assert "does not exist" in r.stderr and "hint:" in r.stderr
    assert conn.stop() == 0


def test_state_refuses_to_guess_before_the_compaction_horizon(db, kafka, connectors,
                                                              wal2kafka_bin):
    lag_ms = 10000
    db.execute("CREATE TABLE c (id int PRIMARY KEY, v int)")
    conn = connectors(["public.c"], settings={"kafka": {"topic": {
        "partitions": 2, "min_compaction_lag_ms": lag_ms}}})
    conn.start().wait_streaming()
    log = Log(db)
    log.columns("c", [("id", "int"), ("v", "int")])
    log.txn(lambda o: (o.insert("c", id=1, v=1), o.insert("c", id=2, v=1)))
    log.txn(lambda o: o.update("c", 1, v=2))
    conn.wait_caught_up()
    commits, _ = commits_of(kafka, conn, [conn.topic("c")])
    log.attach_commits(commits)
    first = log.txns[0]["ts_us"]
    # while nothing is older than min.compaction.lag.ms, every time is exact
    assert state(wal2kafka_bin, conn, "c", first - 1) == {}
    assert state(wal2kafka_bin, conn, "c", first) == log.state("c", first)
    # once the first change is older than the lag, compaction may merge it: refuse, and say
    # from when on the answer is exact
    while time.time() * 1e6 < first + lag_ms * 1000 + 200_000:
        time.sleep(0.1)
    log.txn(lambda o: o.update("c", 2, v=3))
    conn.wait_caught_up()
    commits, _ = commits_of(kafka, conn, [conn.topic("c")])
    log.attach_commits(commits)
    r = cli(wal2kafka_bin, conn, "state", "--table", "c", "--at", iso(first), rc=EXIT_INEXACT)
    assert "compacted" in r.stderr and "min.compaction.lag.ms=10000" in r.stderr
    assert "the earliest time that can be answered exactly is" in r.stderr
    horizon = r.stderr.split("exactly is ")[1].split()[0]
    t_horizon = dt.datetime.strptime(horizon, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc)
    assert abs(us(t_horizon) - (time.time() * 1e6 - lag_ms * 1000)) < 5e6
    r = cli(wal2kafka_bin, conn, "state", "--table", "c", "--key", "id=1", "--at", iso(first),
            rc=EXIT_INEXACT)
    # times after the horizon are answered
    assert state(wal2kafka_bin, conn, "c") == log.state("c", log.txns[-1]["ts_us"])
    just_before = log.txns[-1]["ts_us"] - 1  # after the horizon, before the last change
    assert state(wal2kafka_bin, conn, "c", just_before) == log.state("c", just_before)
    assert log.state("c", just_before) != log.state("c", log.txns[-1]["ts_us"])
    # history still answers, with a warning that older changes may be merged
    r = cli(wal2kafka_bin, conn, "history", "--table", "c", "--key", "id=1", "--format", "json")
    assert "may have been merged" in r.stderr
    assert [g["op"] for g in json_lines(r.stdout)] == ["c", "u"]
    assert conn.stop() == 0


def test_registry_framing(db, kafka, connectors, wal2kafka_bin, registry):
    db.execute("CREATE TABLE r (id int PRIMARY KEY, v text)")
    conn = connectors(["public.r"], settings={"schema_registry": {"url": registry.url},
                                              "kafka": {"topic": {"partitions": 3}}})
    conn.start().wait_streaming()
    log = Log(db)
    log.columns("r", [("id", "int"), ("v", "text")])
    for k in range(1, 6):
        log.txn(lambda o, k=k: o.insert("r", id=k, v="a"))
    log.txn(lambda o: o.update("r", 3, v="b"))
    db.execute("ALTER TABLE r ADD COLUMN w int")
    log.columns("r", [("id", "int"), ("v", "text"), ("w", "int")])
    log.txn(lambda o: o.update("r", 3, w=5))
    log.txn(lambda o: o.delete("r", 2))
    conn.wait_caught_up()
    # the messages carry the Confluent header (magic 0 + schema id)
    from confluent_kafka import TopicPartition
    c = kafka.consumer(None, **{"enable.auto.commit": False})
    c.assign([TopicPartition(conn.topic("r"), p, 0) for p in range(3)])
    raw = []
    deadline = time.monotonic() + 30
    while len(raw) < 9 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            raw.append(m)
    c.close()
    assert len(raw) == 9 and all(m.key()[0] == 0 for m in raw)
    commits = {}
    from confluent_kafka.serialization import MessageField, SerializationContext
    des = registry.deserializer()
    for m in raw:
        if m.value() is not None:
            v = des(m.value(), SerializationContext(m.topic(), MessageField.VALUE))
            s = v["source"]
            commits[s["txId"]] = (s["commit_lsn"], s["ts_us"])
    log.attach_commits(commits)
    for key, events in log.events("r").items():
        got = history(wal2kafka_bin, conn, "r", key)
        want = expected_history(events)
        assert [(g["op"], g["txid"], g["changes"], g["after"]) for g in got] == \
            [(w["op"], w["txid"], w["changes"], w["after"]) for w in want], key
    assert state(wal2kafka_bin, conn, "r") == log.state("r", log.txns[-1]["ts_us"])
    assert conn.stop() == 0
