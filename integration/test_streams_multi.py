"""Several streams in one wal2kafka process.

- Two streams with different row filters and column lists on the same table, side by
  side: each delivers exactly what its own settings select (PostgreSQL's verdict per
  row, see w2k_filters.Oracle), independently of the other.
- One stream failing — its slot dropped while it runs, or one of its tables missing —
  is reported (/health, the stream-state metric, the log) while the other stream goes
  on streaming every change; the exit code reports it at the end.
- retry.on_stream_failure = "exit": the failing stream stops the whole process, and
  what the healthy stream had delivered stays confirmed.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from servers import free_port
from w2k import final_error
from w2k_filters import (Oracle, Workload, diff, events_of, expected_events, multi,  # noqa: F401
                         table)

SLOT_GONE = ('stream {name} stopped: replication slot "wal2kafka_{name}" is gone (dropped, or '
             'lost in a failover), so changes made since wal2kafka last confirmed may be lost')


def test_two_streams_different_filters_same_table(db, multi):
    """Stream "hi": i > 10, every operation; stream "lo": the complement (i <= 10 OR i IS
    NULL) without truncates; "all" unfiltered as the reference. One process, one workload
    with updates moving rows between the two sets: a row leaving one set is a delete there
    and an insert in the other. (A column list cannot join them here: with REPLICA
    IDENTITY FULL, which a filter on a non-key column needs, PostgreSQL refuses deletes
    unless the column list has every column; test_filters_paths covers column lists.)"""
    specs = {"hi": {"filter": "i > 10"},
             "lo": {"filter": "i <= 10 OR i IS NULL",
                    "operations": ["insert", "update", "delete"]}}
    wl = Workload(seed=21, preexisting=10, inserts=20, updates=80, deletes=10).build()
    wl.create(db, "t")  # REPLICA IDENTITY FULL
    for tag, spec in specs.items():
        Oracle.install(db, "t", spec["filter"], tag)
    wl.load(db, ["t"])
    db.execute("TRUNCATE w2k_oracle")
    snap = {tag: Oracle.matching(db, "t", spec["filter"]) for tag, spec in specs.items()}
    s = multi([{"label": "all", "tables": ["public.t"]},
               *({"label": tag, "filters": "pushdown", "tables": [table("public.t", **spec)]}
                 for tag, spec in specs.items())])
    s.start().wait_streaming()
    wl.run(db, ["t"])
    s.wait_caught_up()
    full = events_of(s.read_tables("all", ["t"])["t"])
    for tag, spec in specs.items():
        exp, cov = expected_events(full, Oracle.verdicts(db, "t", tag), snapshot_keys=snap[tag],
                                   **spec)
        got = events_of(s.read_tables(tag, ["t"])["t"])
        assert got == exp, f"stream {tag}:\n" + diff(got, exp, tag, "expected")
        assert cov.get("update leaves") and cov.get("update enters"), cov
    assert s.stop() == 0


# ------------------------------------------------------------------ one stream fails


def drop_slot(db, slot: str, timeout: float = 30.0) -> None:
    """Drop a slot a walsender is using: terminate it, drop before the client is back."""
    deadline = time.monotonic() + timeout
    while True:
        db.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                   "WHERE slot_name = %s AND active_pid IS NOT NULL", (slot,))
        try:
            db.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_health(port: int, cond, timeout: float = 30.0) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        st, body = http_get(f"http://127.0.0.1:{port}/health")
        if cond(st, body):
            return st, body
        if time.monotonic() > deadline:
            raise TimeoutError(f"/health did not change within {timeout}s: {st} {body!r}")
        time.sleep(0.1)


def state_metric(port: int, stream: str) -> str:
    _, text = http_get(f"http://127.0.0.1:{port}/metrics")
    on = [l for l in text.splitlines() if l.startswith("wal2kafka_stream_state{")
          and f'stream="{stream}"' in l and l.rstrip().endswith(" 1")]
    assert len(on) == 1, on
    return on[0].split('state="')[1].split('"')[0]


def keeps_streaming(db, s, label: str, table_name: str, first: int, n: int) -> None:
    """Insert n rows first.. into table_name; all of them arrive on the stream's topic."""
    with db.connect(autocommit=False) as c:
        for k in range(first, first + n):
            c.execute(f"INSERT INTO {table_name} VALUES (%s)", (k,))
            c.commit()
    s.wait_caught_up(labels=[label])
    keys = [r.key["id"] for r in s.read_tables(label, [table_name])[table_name] if r.value]
    assert keys[-n:] == list(range(first, first + n)), keys


def test_slot_dropped_while_running_other_stream_goes_on(db, multi):
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY)")
    port = free_port()
    s = multi([{"label": "ok", "tables": ["public.a"]}, {"label": "bad", "tables": ["public.b"]}],
              settings={"metrics": {"listen": f"127.0.0.1:{port}"}})
    s.start().wait_streaming()
    wait_health(port, lambda st, body: st == 200)
    keeps_streaming(db, s, "ok", "a", 1, 5)
    drop_slot(db, s.slot_of("bad"))
    bad = s.names["bad"]

    st, body = wait_health(port, lambda st, body: st == 503 and "failed" in body)
    assert f'stream "{bad}" is not streaming: failed: ' in body, body
    assert s.names["ok"] not in body, body
    assert state_metric(port, bad) == "failed"
    assert state_metric(port, s.names["ok"]) == "streaming"
    db.execute("INSERT INTO b VALUES (100)")  # nobody streams b any more
    keeps_streaming(db, s, "ok", "a", 6, 20)
    assert s.running()
    # the failure is in the log while wal2kafka runs, not only when it exits
    s.wait_log(f'level=error msg=".*stream {bad}.*slot .{{0,2}}wal2kafka_{bad}.{{0,2}} is gone',
               timeout=10)
    assert s.running()
    assert s.stop() == 4  # PostgreSQL: the exit code reports the failed stream
    msg, hint = final_error(s.log(current=True), bad)
    assert msg == SLOT_GONE.format(name=bad), msg
    assert f'on_slot_lost = "recreate" for stream {bad}' in hint, hint


def test_missing_table_fails_its_stream_only(db, multi):
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    port = free_port()
    s = multi([{"label": "ok", "tables": ["public.a"]},
               {"label": "bad", "tables": ["public.missing"]}],
              settings={"metrics": {"listen": f"127.0.0.1:{port}"}})
    s.start().wait_streaming(labels=["ok"])
    bad = s.names["bad"]
    st, body = wait_health(port, lambda st, body: st == 503 and "failed" in body)
    assert f'stream "{bad}" is not streaming: failed: ' in body and "public.missing" in body, body
    keeps_streaming(db, s, "ok", "a", 1, 20)
    assert s.running()
    s.wait_log(f'level=error msg=".*public.missing of stream .{{0,2}}{bad}.{{0,2}} does not exist',
               timeout=10)
    assert s.running()
    assert s.stop() == 4


def test_on_stream_failure_exit_stops_the_process(db, multi):
    db.execute("CREATE TABLE a (id int PRIMARY KEY)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY)")
    s = multi([{"label": "ok", "tables": ["public.a"]}, {"label": "bad", "tables": ["public.b"]}],
              settings={"retry": {"on_stream_failure": "exit"}})
    s.start().wait_streaming()
    keeps_streaming(db, s, "ok", "a", 1, 10)
    drop_slot(db, s.slot_of("bad"))
    assert s.wait_exit(60) == 4
    s.wait_released()
    bad = s.names["bad"]
    log = s.log(current=True)
    assert (f'level=error msg="stream {bad} gave up and retry.on_stream_failure = exit: '
            f'stopping every stream"') in log, log
    assert "stopped on request" not in log, log  # nobody asked: a stream failed
    msg, hint = final_error(log, bad)
    assert msg == SLOT_GONE.format(name=bad), log
    assert f'on_slot_lost = "recreate" for stream {bad}' in hint, hint
    # the healthy stream's slot is intact and confirmed what it delivered
    assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                     (s.slot_of("ok"),)) == 1
    keys = [r.key["id"] for r in s.read_tables("ok", ["a"])["a"]]
    assert keys == list(range(1, 11))
