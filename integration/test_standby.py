"""Hot standby instances, fencing and reconnects without duplicates (issue 14, 3-5).

Two wal2kafka processes run the same configuration (standby.enabled = true): the one
whose session holds the slot streams, the other waits as a standby and takes over once
the slot is released. A writer updates a few hot keys (version = version + 1) at a
steady rate throughout.

- kill -9 of the active instance: the standby takes over within TAKEOVER_LIMIT_S
  (measured from the kill to the first change the standby appends to Kafka, by the
  broker's LogAppendTime); waiting as a standby never counts against the retry limits.
- the zombie: the active instance is frozen (SIGSTOP) past wal_sender_timeout (2 s, set
  per connection), the standby takes over and writes newer versions, then the old one
  resumes (SIGCONT) with messages still queued. Nothing it had queued may reach Kafka:
  per key, no older version after a newer one, on any topic, and the last message of
  each key is its final version. A read_committed consumer running throughout is never
  held back longer than delivery.transaction_timeout_ms. Both delivery modes.
- one process, PostgreSQL restarted mid-stream with messages in flight (at-least-once):
  the stream takes the broker's answers before it reconnects and resumes past what was
  acknowledged: not a single change twice.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest

from servers import database_name, free_ports
from w2k import check_versions, current_wal_lsn, hintless_lines, run_cli
from w2k_faults import (MultiWriter, create_table_topics, create_versioned_tables,  # noqa: F401
                        final_versions, first_append_after, read_topic, record_result, rig,
                        wait_until)

TABLES = ["sa", "sb"]
KEYS = 4  # hot keys per table
RATE = 100  # transactions per second
TAKEOVER_LIMIT_S = 5.0
SENDER_TIMEOUT_MS = 2000
TXN_TIMEOUT_MS = 10000

pytestmark = pytest.mark.timeout(600)


def _setup(rig, request):
    dbname = database_name(request.node.name)
    prefix = f"{dbname[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"
    db = rig.database(dbname)
    create_versioned_tables(db, TABLES, KEYS)
    topics = [f"{prefix}.public.{t}" for t in TABLES]
    create_table_topics(rig.kafka, topics, partitions=2)
    return db, prefix, topics


def _pair(rig, wal2kafka_bin, tmp_path, db, prefix, eos: bool, extra: dict | None = None,
          kafka_proxied: str = ""):
    """Two instances of one configuration (same stream, slot, prefix), each with its own
    metrics port and log; those named in kafka_proxied reach Kafka through the rig's
    proxy (the others, and PostgreSQL, directly)."""
    stream = f"s_{uuid.uuid4().hex[:8]}"
    conns = []
    for name, port in zip("ab", free_ports(2)):
        settings = {
            # wal_sender_timeout is per connection (PostgreSQL 12+): a frozen instance's
            # walsender gives up after 2 s here, its slot is free then
            "postgresql": {"conninfo": rig.pg_conninfo(
                db, proxied=False, options=f"'-c wal_sender_timeout={SENDER_TIMEOUT_MS}'",
                application_name=f"w2k_{name}")},
            "delivery": {"exactly_once": eos, "transaction_timeout_ms": TXN_TIMEOUT_MS},
            "standby": {"enabled": True, "poll_ms": 500},
            "metrics": {"listen": f"127.0.0.1:{port}"},
        }
        for k, v in (extra or {}).items():
            settings.setdefault(k, {}).update(v)
        c = rig.connector(wal2kafka_bin, db, [f"public.{t}" for t in TABLES], prefix,
                          workdir=tmp_path, proxied=name in kafka_proxied, settings=settings,
                          stream=stream,
                          name=f"{name}_{stream}")
        c.metrics_port = port
        c.app = f"w2k_{name}"
        conns.append(c)
    return conns


def _health(conn) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{conn.metrics_port}/health",
                                    timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _wait_standby(conn, timeout: float = 60.0) -> None:
    conn.wait_log(r"standby: slot \S+ is held by PID \d+", timeout)

    def standby():
        status, body = _health(conn)
        return status == 200 and body.startswith("standby\n")
    wait_until(standby, 30, "/health says standby (200)", proc=conn)


def _roles(db, pair):
    """(active, standby) of the pair: the active one is the instance whose session (by
    its application_name) holds the slot now. Under load a live instance can lose the
    slot to the other (its walsender's 2 s timeout), so the test asks rather than
    assumes."""
    a, b = pair

    def holder():
        rows = db.execute("SELECT r.application_name FROM pg_replication_slots s JOIN "
                          "pg_stat_replication r ON r.pid = s.active_pid "
                          "WHERE s.slot_name = %s", (a.slot,))
        return rows[0][0] if rows else None
    app = wait_until(holder, 30, f"nobody holds slot {a.slot}")
    assert app in (a.app, b.app), app
    return (a, b) if app == a.app else (b, a)


def _takeovers(conn) -> int:
    return conn.log().count("took over slot")


class Watcher:
    """A read_committed consumer of the table topics, running in a thread: the longest
    time between two records it received while the writer ran (a consumer held back by
    an open transaction receives nothing)."""

    def __init__(self, kafka, topics):
        self.kafka, self.topics = kafka, topics
        self.received: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="watcher")
        self.error: BaseException | None = None

    def start(self) -> "Watcher":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            c = self.kafka.consumer(None, **{"isolation.level": "read_committed",
                                             "enable.auto.commit": False,
                                             "enable.partition.eof": False})
            c.subscribe(self.topics)
            while not self._stop.is_set():
                m = c.poll(0.05)
                if m is not None and not m.error():
                    self.received.append(time.time())
            c.close()
        except BaseException as e:
            self.error = e

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise self.error

    def longest_gap(self, t0: float, t1: float) -> float:
        ts = [t for t in self.received if t0 <= t <= t1]
        if not ts:
            return t1 - t0
        edges = [t0] + ts + [t1]
        return max(b - a for a, b in zip(edges, edges[1:]))


def _check_topics(rig, prefix, topics, db, eos: bool) -> int:
    """Every record of every table topic: each committed change present, per key in
    commit order with at most replays (at-least-once) and none at all (exactly-once),
    and the last record of each key its final version. Returns the re-sent count."""
    dups = 0
    for t, topic in zip(TABLES, topics):
        recs = read_topic(rig.kafka, prefix, topic)
        final = final_versions(db, t)
        dups += len(check_versions(recs, final, dup_ok=None if eos else (lambda r: True)))
        last = {}
        for r in sorted(recs, key=lambda r: (r.partition, r.offset)):
            last[r.key["id"]] = r.value["after"]["version"]
        stale = {k: (v, final[k]) for k, v in last.items() if v != final[k]}
        assert not stale, f"{topic}: last message per key is an older version: {stale}"
    return dups


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_standby_takes_over_after_kill(rig, wal2kafka_bin, tmp_path, request, mode):
    eos = mode == "exactly_once"
    db, prefix, topics = _setup(rig, request)
    # tight retry limits: a standby that counted its wait as failures would give up
    a, b = _pair(rig, wal2kafka_bin, tmp_path, db, prefix, eos,
                 {"retry": {"max_attempts": 2, "max_duration_s": 1}})
    writer = None
    try:
        a.start().wait_streaming(120)
        b.start()
        _wait_standby(b)
        chk = run_cli(wal2kafka_bin, "check", "--config", b.config_path, env=b.env)
        assert "would wait as a standby" in chk.stdout + chk.stderr, chk
        assert chk.returncode == 0, chk
        writer = MultiWriter(db, TABLES, KEYS, rate=RATE, seed=7).start()
        writer.wait_more(RATE * 3)  # 3 s as standby: past max_duration_s, twice the attempts
        assert b.running() and a.running()
        for c in (a, b):
            assert "gave up" not in c.log(), c.log()
        active, standby = _roles(db, (a, b))
        n0 = _takeovers(standby)

        t_kill = time.time()
        active.proc.kill()
        active.proc.wait(30)
        wait_until(lambda: _takeovers(standby) > n0, 30, "no takeover", proc=standby)
        t_log = time.time()
        # the new active one says from whom it took the stream over
        assert re.search(r'msg="stream \S+: took over slot \S+ from the session of PID \d+ '
                         r'\(another wal2kafka, gone or cut off\) after \d+ ms as standby; '
                         r'streaming now"', standby.log()), standby.log_tail(20)
        writer.wait_more(RATE * 2)
        committed = writer.stop()
        standby.wait_confirmed(current_wal_lsn(db), timeout=120)
        status, body = _health(standby)
        assert status == 200 and body == "ok\n", (status, body)

        dups = _check_topics(rig, prefix, topics, db, eos)
        records = [r for t in topics for r in read_topic(rig.kafka, prefix, t)]
        takeover = first_append_after(records, t_kill)
        print(f"\n{mode}: takeover after kill -9: first change from the standby "
              f"{takeover:.2f} s after the kill (its log said 'took over' within "
              f"{t_log - t_kill:.2f} s); {committed} transactions, {dups} re-sent")
        assert takeover is not None and takeover <= TAKEOVER_LIMIT_S, takeover
        record_result("standby", f"takeover_{mode}",
                      {"takeover_s": round(takeover, 3), "resent": dups,
                       "transactions": committed}, "Standby instances, fencing, reconnects")
        assert standby.stop() == 0
    finally:
        if writer:
            writer._stop.set()
        for c in (a, b):
            c.cleanup()


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_zombie_writes_nothing(rig, wal2kafka_bin, tmp_path, request, mode):
    eos = mode == "exactly_once"
    db, prefix, topics = _setup(rig, request)
    a, b = _pair(rig, wal2kafka_bin, tmp_path, db, prefix, eos)
    writer = watcher = frozen = None
    try:
        a.start().wait_streaming(120)
        b.start()
        _wait_standby(b)
        watcher = Watcher(rig.kafka, topics).start()
        writer = MultiWriter(db, TABLES, KEYS, rate=RATE, seed=11).start()
        writer.wait_more(RATE * 2)
        old, new = _roles(db, (a, b))
        n0 = _takeovers(new)

        t_freeze = time.time()
        os.kill(old.pid, signal.SIGSTOP)  # with messages produced and queued
        frozen = old
        # the walsender times the frozen instance out; the standby takes over
        wait_until(lambda: _takeovers(new) > n0, SENDER_TIMEOUT_MS / 1000 + 30, "no takeover",
                   proc=new)
        t_takeover = time.time()
        writer.wait_more(RATE * 3)  # the new instance writes newer versions
        new.wait_confirmed(current_wal_lsn(db), timeout=60)

        os.kill(old.pid, signal.SIGCONT)
        frozen = None
        t_resume = time.time()
        # the old instance finds its session gone and its slot held: standby (or exit)
        # (or, on a loaded machine, it took the slot back after the new one's walsender
        # timed out in its turn: then it streams again through a new, unfenced producer)
        def settled():
            log = old.log(current=True)
            return (not old.running() or "lost its slot" in log or
                    ("started again after" in log and _roles(db, (a, b))[0] is old))
        try:
            wait_until(settled, 60, "the old instance neither stopped nor became standby",
                       interval=0.1)
        except TimeoutError as e:
            raise TimeoutError(f"{e}\n--- old instance ---\n{old.log_tail(40)}\n--- new "
                               f"instance ---\n{new.log_tail(20)}") from None
        writer.wait_more(RATE * 3)  # a while with both alive
        committed = writer.stop()
        new.wait_confirmed(current_wal_lsn(db), timeout=120)
        t_end = time.time()
        watcher.stop()

        dups = _check_topics(rig, prefix, topics, db, eos)
        gap = watcher.longest_gap(t_freeze - 1, t_end)
        print(f"\n{mode}: frozen at +0, standby took over at +{t_takeover - t_freeze:.2f} s, "
              f"old one resumed at +{t_resume - t_freeze:.2f} s; read_committed consumer's "
              f"longest wait {gap:.2f} s (bound {TXN_TIMEOUT_MS / 1000:.0f} s); "
              f"{committed} transactions, {dups} re-sent, 0 stale")
        assert gap < TXN_TIMEOUT_MS / 1000, gap
        # the takeover is in both logs: the new one took the slot over from the old one's
        # session; the old one, awake again, says it lost the slot (and waits as a
        # standby), or why it stopped, or that it took the slot back — each with a hint
        m = re.search(r"took over slot \S+ from the session of PID (\d+) ", new.log())
        assert m, new.log_tail(20)
        old_log = old.log(current=True)
        assert re.search(r'level=warn msg="stream \S+ lost its slot \S+ to PID \d+: waiting as '
                         r'standby, sending nothing" hint="another wal2kafka took the slot', old_log) \
            or re.search(r'level=error msg="stream \S+ stopped: [^"]+" hint="', old_log) \
            or "started again after" in old_log, old_log
        for c in (old, new):
            assert not hintless_lines(c.log()), hintless_lines(c.log())
        if old.running() and "lost its slot" in old.log(current=True):
            status, body = _health(old)
            assert status == 200 and body.startswith("standby\n"), (status, body)
        record_result("standby", f"zombie_{mode}",
                      {"takeover_after_freeze_s": round(t_takeover - t_freeze, 2),
                       "read_committed_longest_wait_s": round(gap, 2), "resent": dups,
                       "stale": 0, "transactions": committed},
                      "Standby instances, fencing, reconnects")
        assert new.stop() == 0 and (not old.running() or old.stop() == 0)
    finally:
        if writer:
            writer._stop.set()
        if watcher:
            watcher._stop.set()
        if frozen is not None:
            os.kill(frozen.pid, signal.SIGCONT)
        for c in (a, b):
            c.cleanup()


def _stop_standby(conn) -> int:
    """Stop a waiting instance (SIGTERM) and return its exit code; first, so that it
    does not take the slot over when the active one stops."""
    conn.proc.send_signal(signal.SIGTERM)
    return conn.wait_exit(60)


def _session_of(db, app: str) -> bool:
    """True when a client session of application_name app is connected."""
    return bool(db.execute("SELECT 1 FROM pg_stat_activity WHERE application_name = %s",
                           (app,)))


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_late_starter_does_not_fence_active(rig, wal2kafka_bin, tmp_path, request, mode):
    """An instance that saw the slot free and began to start, but lost the race for the
    slot to another, must not have fenced the winner's producer: it initializes its
    transactional producer only once it holds the slot. Made deterministic: b sees the
    slot free (a was killed) and is held in its start by a stalled Kafka connection
    while a, restarted, takes the slot; then b's start goes on."""
    eos = mode == "exactly_once"
    db, prefix, topics = _setup(rig, request)
    a, b = _pair(rig, wal2kafka_bin, tmp_path, db, prefix, eos, kafka_proxied="b")
    writer = None
    try:
        a.start().wait_streaming(120)
        writer = MultiWriter(db, TABLES, KEYS, rate=RATE, seed=13).start()
        writer.wait_more(RATE)
        a.kill()  # the slot is free
        rig.kafka_proxy.stall()
        b.start()
        # b looked at the slot (its session), found it free and is starting: its first
        # Kafka call (reading the stream's record) waits on the stalled proxy
        wait_until(lambda: _session_of(db, b.app), 30, "b never looked at the slot", proc=b)
        a.start().wait_streaming(120)
        assert _roles(db, (a, b))[0] is a
        rig.kafka_proxy.resume()
        _wait_standby(b)  # its start failed on the held slot: b waits
        writer.wait_more(RATE * 3)  # a goes on streaming, committing Kafka transactions
        committed = writer.stop()
        a.wait_confirmed(current_wal_lsn(db), timeout=120)
        assert _roles(db, (a, b))[0] is a
        log_a = a.log(current=True)
        for line in ("fenced", "creating a new producer", "lost its slot", "retrying in"):
            assert line not in log_a, f"the active instance: {line!r}\n{a.log_tail(30)}"
        assert _takeovers(b) == 0, b.log_tail(30)
        status, body = _health(b)
        assert status == 200 and body.startswith("standby\n"), (status, body)
        dups = _check_topics(rig, prefix, topics, db, eos)
        print(f"\n{mode}: late starter waited as standby; active instance not fenced; "
              f"{committed} transactions, {dups} re-sent")
        assert _stop_standby(b) == 0 and a.stop() == 0
    finally:
        if writer:
            writer._stop.set()
        rig.kafka_proxy.resume()
        for c in (a, b):
            c.cleanup()


def test_standby_health_after_postgres_restart(rig, wal2kafka_bin, tmp_path, request):
    """A waiting instance that went through a PostgreSQL restart says standby on /health
    again once it is back polling the slot, not the reconnect error."""
    db, prefix, _ = _setup(rig, request)
    a, b = _pair(rig, wal2kafka_bin, tmp_path, db, prefix, False)
    try:
        a.start().wait_streaming(120)
        b.start()
        _wait_standby(b)
        rig.pg.stop("fast")
        # b's look at the slot failed: its /health says why (reconnecting)
        wait_until(lambda: _health(b)[0] == 503, 30, "b's /health never left standby", proc=b)
        os.kill(b.pid, signal.SIGSTOP)  # so that a takes the slot back, and b waits again
        try:
            rig.pg.start()
            wait_until(lambda: _roles(db, (a, b))[0] is a, 60, "a never took the slot back",
                       proc=a)
        finally:
            os.kill(b.pid, signal.SIGCONT)
        active, standby = a, b

        def says_standby():
            status, body = _health(standby)
            return (status, body) if status == 200 and body.startswith("standby\n") else None
        try:
            wait_until(says_standby, 30, "/health says standby after the restart",
                       proc=standby)
        except TimeoutError as e:
            raise TimeoutError(f"{e}: {_health(standby)}") from None
        assert _stop_standby(standby) == 0 and active.stop() == 0
    finally:
        for c in (a, b):
            c.cleanup()


def test_postgres_restart_sends_nothing_twice(rig, wal2kafka_bin, tmp_path, request):
    """At-least-once, one process: PostgreSQL restarts (immediate: the slot comes back
    from its last checkpoint) while messages are in flight (the broker's connection
    stalled, so they are not acknowledged yet). The stream takes the broker's answers
    for them before it reconnects and resumes past what was acknowledged: nothing is
    sent twice."""
    db, prefix, topics = _setup(rig, request)
    conn = rig.connector(wal2kafka_bin, db, [f"public.{t}" for t in TABLES], prefix,
                         workdir=tmp_path, proxied=True)
    writer = None
    try:
        conn.start().wait_streaming(120)
        writer = MultiWriter(db, TABLES, KEYS, rate=RATE, seed=5).start()
        writer.wait_more(RATE * 2)
        rig.kafka_proxy.stall()
        writer.wait_more(RATE)  # produced, not acknowledged
        rig.pg.stop("immediate")
        rig.kafka_proxy.resume()
        rig.pg.start()
        conn.wait_log(r"started again after", 60)
        writer.wait_more(RATE * 2, timeout=120)
        committed = writer.stop()
        conn.wait_confirmed(current_wal_lsn(db), timeout=120)
        dups = _check_topics(rig, prefix, topics, db, eos=True)  # eos=True: no re-sends
        print(f"\nPostgreSQL restart with messages in flight: {committed} transactions, "
              f"{dups} re-sent")
        record_result("standby", "postgres_restart_in_flight",
                      {"resent": dups, "transactions": committed},
                      "Standby instances, fencing, reconnects")
        assert conn.stop() == 0
    finally:
        if writer:
            writer._stop.set()
        rig.kafka_proxy.resume()
        conn.cleanup()
