"""Backpressure: while the broker is down, wal2kafka stops reading the slot once
delivery.max_in_flight messages await acknowledgement, keeps its PostgreSQL session alive
(status updates, so wal_sender_timeout never fires), holds its memory flat and confirms
nothing that was not acknowledged. A delivery that finally fails (message.timeout.ms)
restarts the stream from the slot: nothing is skipped.

Runs on the Rig's servers (w2k_faults): the broker is stopped and wal_sender_timeout
lowered to 5 s for the test.
"""

from __future__ import annotations

import re
import threading
import time
import uuid

import pytest

from servers import database_name
from w2k import current_wal_lsn, format_lsn, parse_lsn
from w2k_faults import (RssSampler, create_table_topics, first_append_after, read_topic,  # noqa: F401
                        record_result, rig, wait_until)

pytestmark = pytest.mark.timeout(600)

WAL_SENDER_TIMEOUT_S = 5


class BulkWriter:
    """Inserts `batch` rows per transaction into bp (id bigserial, pad text) at `rate`
    transactions per second until stop()."""

    def __init__(self, db, rate: float = 20, batch: int = 200, pad: int = 200):
        self.db, self.rate, self.batch, self.pad = db, rate, batch, pad
        self.committed = 0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            with self.db.connect() as c:
                period = 1.0 / self.rate
                next_at = time.monotonic()
                while not self._stop.is_set():
                    c.execute(f"INSERT INTO bp (pad) SELECT repeat(md5(random()::text), "
                              f"{self.pad // 32 + 1}) FROM generate_series(1, {self.batch})")
                    self.committed += 1
                    next_at += period
                    d = next_at - time.monotonic()
                    if d > 0:
                        self._stop.wait(d)
                    else:
                        next_at = time.monotonic()
        except BaseException as e:
            self.error = e

    def start(self):
        self._thread.start()
        return self

    def wait_more(self, n, timeout=60):
        target = self.committed + n
        wait_until(lambda: self.error or self.committed >= target, timeout,
                   f"bulk writer reached {target}")
        if self.error:
            raise self.error

    def stop(self):
        self._stop.set()
        self._thread.join(60)
        if self.error:
            raise self.error


def check_inserts(recs, ids: set, resend_from: int) -> int:
    """Every id present; an id twice only when its transaction's commit LSN is at or
    after resend_from (not yet confirmed when the outage began). Returns the re-sends."""
    seen: dict[int, int] = {}
    dups = 0
    for r in recs:
        if r.value is None:
            continue
        i = r.key["id"]
        if i in seen:
            dups += 1
            assert r.value["source"]["commit_lsn"] >= resend_from, (
                f"id {i} sent again although its transaction (commit "
                f"{format_lsn(r.value['source']['commit_lsn'])}) was confirmed before the "
                f"outage ({format_lsn(resend_from)})")
        seen[i] = seen.get(i, 0) + 1
    missing = ids - set(seen)
    assert not missing, f"{len(missing)} rows missing, e.g. {sorted(missing)[:10]}"
    assert set(seen) == ids
    return dups


def walsender(db, slot):
    rows = db.execute(
        "SELECT r.pid, r.state, r.sent_lsn::text, r.reply_time, "
        "extract(epoch FROM clock_timestamp() - r.reply_time)::float8 "
        "FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
        "WHERE s.slot_name = %s", (slot,))
    if not rows:
        return None
    pid, state, sent, reply, age = rows[0]
    return {"pid": pid, "state": state, "sent_lsn": parse_lsn(sent), "reply_time": reply,
            "reply_age_s": age}


@pytest.fixture
def short_wal_sender_timeout(rig):
    rig.pg.execute(f"ALTER SYSTEM SET wal_sender_timeout = '{WAL_SENDER_TIMEOUT_S}s'")
    rig.pg.execute("SELECT pg_reload_conf()")
    yield
    rig.pg.execute("ALTER SYSTEM RESET wal_sender_timeout")
    rig.pg.execute("SELECT pg_reload_conf()")


def _setup(rig, request, wal2kafka_bin, tmp_path, settings):
    dbname = database_name(request.node.name)
    prefix = f"{dbname[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"
    db = rig.database(dbname)
    db.execute("CREATE TABLE bp (id bigserial PRIMARY KEY, pad text NOT NULL)")
    create_table_topics(rig.kafka, [f"{prefix}.public.bp"], partitions=3)
    conn = rig.connector(wal2kafka_bin, db, ["public.bp"], prefix, workdir=tmp_path,
                         proxied=False, settings=settings)
    return db, prefix, conn


def test_broker_down_memory_flat_session_alive_nothing_confirmed(
        rig, short_wal_sender_timeout, wal2kafka_bin, tmp_path, request):
    outage_s = 30
    db, prefix, conn = _setup(rig, request, wal2kafka_bin, tmp_path,
                              {"delivery": {"max_in_flight": 2000}})
    w = None
    try:
        conn.start().wait_streaming(120)
        w = BulkWriter(db).start()
        w.wait_more(40)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        rss = RssSampler(conn.pid, 0.2).start()
        before = walsender(db, conn.slot)
        assert before is not None

        rig.kafka.stop()
        t_down = time.monotonic()
        c0 = conn.confirmed_lsn()
        wal0 = current_wal_lsn(db)
        samples = []
        while time.monotonic() - t_down < outage_s:
            conn.check_alive()
            ws = walsender(db, conn.slot)
            samples.append((time.monotonic() - t_down, ws, conn.confirmed_lsn(),
                            current_wal_lsn(db)))
            time.sleep(0.5)
        wal1 = current_wal_lsn(db)
        rig.kafka.start()
        t_up = time.time()
        rss.stop()

        # the session stayed alive: the same walsender all along, answered in time
        assert all(s[1] is not None for s in samples), "the walsender went away"
        assert {s[1]["pid"] for s in samples} == {before["pid"]}
        worst_reply = max(s[1]["reply_age_s"] for s in samples)
        assert worst_reply < WAL_SENDER_TIMEOUT_S, \
            f"a status update was {worst_reply:.1f} s old (wal_sender_timeout {WAL_SENDER_TIMEOUT_S} s)"
        assert "replication timeout" not in rig.pg.log_tail(200)
        # nothing confirmed while nothing was acknowledged
        assert {s[2] for s in samples} == {c0}, \
            f"confirmed_flush_lsn moved during the outage: {sorted({format_lsn(s[2]) for s in samples})}"
        # it stopped reading: the walsender's sent position stands still while WAL grows
        third = [s for s in samples if s[0] >= outage_s / 3]
        sent_growth = third[-1][1]["sent_lsn"] - third[0][1]["sent_lsn"]
        wal_growth = third[-1][3] - third[0][3]
        assert wal_growth > 20 << 20, f"the writer wrote only {wal_growth >> 20} MB"
        assert sent_growth < 4 << 20, (
            f"the walsender sent {sent_growth >> 20} MB more while the broker was down "
            f"(WAL grew {wal_growth >> 20} MB): wal2kafka kept reading")
        # memory flat once the queue is full
        t_first = t_down + outage_s / 3
        early = rss.between(t_down, t_first)
        late = rss.between(t_first, t_down + outage_s)
        growth_kb = max(late) - max(early)
        assert growth_kb < 8 * 1024, (
            f"RSS grew {growth_kb} kB during the outage after the queue was full "
            f"(early max {max(early)} kB, late max {max(late)} kB)")

        w.wait_more(20)
        w.stop()
        conn.wait_confirmed(current_wal_lsn(db), timeout=180)
        recs = read_topic(rig.kafka, prefix, conn.topic("bp"))
        ids = {r[0] for r in db.execute("SELECT id FROM bp")}
        dups = check_inserts(recs, ids, c0)
        recovery = first_append_after(recs, t_up)
        result = {"outage_s": outage_s, "wal_written_mb": (wal1 - wal0) >> 20,
                  "rss_before_kb": rss.samples[0][1], "rss_early_max_kb": max(early),
                  "rss_late_max_kb": max(late), "rss_growth_kb": growth_kb,
                  "walsender_sent_growth_kb": sent_growth >> 10,
                  "worst_status_age_s": round(worst_reply, 2), "rows": len(ids),
                  "resent": dups, "recovery_s": round(recovery, 3) if recovery else None}
        record_result("backpressure", "broker_down_30s", result,
                      title="Backpressure: broker down, max_in_flight = 2000")
        print(result)
        assert recovery is not None and recovery < 5.0, f"recovery {recovery}"
        assert conn.stop() == 0
    finally:
        if w is not None:
            w._stop.set()
        conn.cleanup()
        print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(db.name)


def test_delivery_that_fails_restarts_from_the_slot(rig, wal2kafka_bin, tmp_path, request):
    """message.timeout.ms = 3000: with the broker down for 15 s deliveries fail for good;
    the stream restarts from the slot (nothing confirmed past the last acknowledgement)
    and, once the broker is back, every row arrives."""
    db, prefix, conn = _setup(
        rig, request, wal2kafka_bin, tmp_path,
        {"delivery": {"max_in_flight": 2000},
         "kafka": {"properties": ["message.timeout.ms=3000"]}})
    w = None
    try:
        conn.start().wait_streaming(120)
        w = BulkWriter(db, rate=10, batch=100).start()
        w.wait_more(20)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        rig.kafka.stop()
        c0 = conn.confirmed_lsn()
        conn.wait_log(r"delivery to topic \S+ failed: .*[Tt]imed out", timeout=60)
        conn.wait_log(r"retrying in \d+ ms", timeout=30)
        w.wait_more(50)
        observed = conn.confirmed_lsn()
        assert observed == c0, "confirmed while the broker was down"
        during = conn.log(current=True)
        rig.kafka.start()
        t_up = time.time()
        w.wait_more(20)
        w.stop()
        conn.wait_confirmed(current_wal_lsn(db), timeout=180)
        recs = read_topic(rig.kafka, prefix, conn.topic("bp"))
        ids = {r[0] for r in db.execute("SELECT id FROM bp")}
        dups = check_inserts(recs, ids, c0)
        recovery = first_append_after(recs, t_up)
        log = conn.log()
        result = {"rows": len(ids), "resent": dups, "stream_restarts": log.count("retrying in"),
                  "recovery_s": round(recovery, 3) if recovery else None}
        record_result("backpressure", "delivery_timeout_restart", result,
                      title="Backpressure: broker down, max_in_flight = 2000")
        print(result)
        # it restarted from the slot: each start after the failed delivery (while the broker
        # was still down) began at the position confirmed before the outage, so what was
        # produced and never acknowledged is read from the slot again
        after_failure = during[during.index("retrying in"):]
        assert "started again after" in after_failure, \
            f"the stream did not start again after the failed delivery\n{conn.log_tail(30)}"
        starts = re.findall(r"streaming from slot \S+ at ([0-9A-F]+/[0-9A-F]+)", after_failure)
        assert starts and {parse_lsn(x) for x in starts} == {c0}, (
            f"restarts at {starts}, not at the slot's position before the outage "
            f"{format_lsn(c0)}")
        assert recovery is not None and recovery < 5.0, (
            f"streaming came back {recovery} s after the broker\n{conn.log_tail(30)}")
        assert conn.stop() == 0
    finally:
        if w is not None:
            w._stop.set()
        conn.cleanup()
        print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(db.name)


def test_broker_down_before_a_tables_first_row(rig, wal2kafka_bin, tmp_path, request):
    """The broker goes away before the first row of a table. Its topic was made at start,
    ahead of need, so nothing waits on creating it; the rows wait for the broker. Nothing
    may be confirmed past the rows that never reached Kafka, the PostgreSQL session stays
    answered, and once the broker is back every row arrives."""
    dbname = database_name(request.node.name)
    prefix = f"{dbname[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"
    db = rig.database(dbname)
    conn = rig.connector(wal2kafka_bin, db, ["public.bp"], prefix, workdir=tmp_path,
                         proxied=False)
    try:
        db.execute("CREATE TABLE bp (id bigserial PRIMARY KEY, pad text NOT NULL)")
        conn.start().wait_streaming(120)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        assert conn.topic("bp") in rig.kafka.topics(), "the table's topic is made at start"
        rig.kafka.stop()
        c0 = conn.confirmed_lsn()
        first = run_insert(db, 1000)
        for _ in range(5):
            run_insert(db, 10)
        end = current_wal_lsn(db)
        # wal2kafka receives every row while the broker is down, and keeps answering the
        # PostgreSQL session (status updates every status_interval_ms): watch five replies
        worst_reply = 0.0
        replies = set()
        deadline = time.monotonic() + 120
        while True:
            conn.check_alive()
            ws = walsender(db, conn.slot)
            if ws is not None:
                if ws["reply_age_s"] is not None:
                    worst_reply = max(worst_reply, ws["reply_age_s"])
                if ws["sent_lsn"] >= end:
                    replies.add(ws["reply_time"])
                    if len(replies) >= 5:
                        break
            assert time.monotonic() < deadline, conn.log_tail(20)
            time.sleep(0.2)
        observed = conn.confirmed_lsn()
        rig.kafka.start()
        conn.wait_confirmed(current_wal_lsn(db), timeout=180)
        recs = read_topic(rig.kafka, prefix, conn.topic("bp"))
        ids = {r[0] for r in db.execute("SELECT id FROM bp")}
        assert observed < first, (
            f"while the broker was down the slot was confirmed to {format_lsn(observed)}, past "
            f"the commit of rows that never reached Kafka (it ends at {format_lsn(first)}; "
            f"before the outage: {format_lsn(c0)})\n{conn.log_tail(20)}")
        check_inserts(recs, ids, c0)
        assert conn.stop() == 0
        record_result("backpressure", "broker_down_before_first_row",
                      {"rows": len(ids), "worst_status_age_s": round(worst_reply, 1)},
                      title="Backpressure: broker down, max_in_flight = 2000")
        # the main loop must not sit in a synchronous Kafka call for long: PostgreSQL
        # (wal_sender_timeout, 60 s by default, often lowered) and the other streams wait
        assert worst_reply < 10, (
            f"no status update reached PostgreSQL for {worst_reply:.0f} s while the broker "
            f"was down")
    finally:
        conn.cleanup()
        print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(db.name)


def run_insert(db, n: int) -> int:
    """Insert n rows in one transaction; returns the WAL position right after its commit."""
    from w2k import run_txn
    t = run_txn(db, f"INSERT INTO bp (pad) SELECT md5(i::text) FROM generate_series(1, {n}) i")
    return t.lsn_after_commit


SILENCE_MS = 2000  # delivery.broker_silence_ms of the frozen-broker test
LOG_TS = re.compile(r"^ts=(\S+) ", re.M)


def _line_time(log: str, m: re.Match) -> float:
    """The wall-clock time (epoch s) of the log line that holds match m."""
    start = log.rfind("\n", 0, m.start()) + 1
    ts = LOG_TS.match(log, start).group(1)
    import datetime as dt
    return dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc).timestamp()


def test_frozen_broker_and_paused_reading_are_logged(rig, wal2kafka_bin, tmp_path, request):
    """A broker frozen with SIGSTOP (its connections stay open, nothing answers) is
    logged as silent within delivery.broker_silence_ms (+ the main loop's 1 s), with the
    cause and a hint; reading paused at delivery.max_in_flight is logged once, with the
    limit and its value. After SIGCONT both ends are logged once (how long), every row
    arrives, and every warn/error line of the run carries a hint."""
    from w2k import hintless_lines
    import os
    import signal
    db, prefix, conn = _setup(rig, request, wal2kafka_bin, tmp_path,
                              {"delivery": {"max_in_flight": 200,
                                            "broker_silence_ms": SILENCE_MS}})
    broker = int((rig.kafka.dir / "kafka.pid").read_text().strip())
    frozen = False
    try:
        conn.start().wait_streaming(120)
        run_insert(db, 10)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        c0 = conn.confirmed_lsn()

        os.kill(broker, signal.SIGSTOP)
        frozen = True
        t_freeze = time.time()
        run_insert(db, 1000)  # far more than max_in_flight: reading pauses
        silent = conn.wait_log(r'level=warn msg="kafka: the broker has not answered for \d+ ms '
                               r'with \d+ message\(s\) awaiting acknowledgement '
                               r'\(delivery\.broker_silence_ms = 2000\)" hint="[^"]+"', 20)
        noticed = _line_time(conn.log(True), silent) - t_freeze
        paused = conn.wait_log(r'level=warn msg="stream \S+: reading paused: (\d+) messages await '
                               r"the broker's acknowledgement \(delivery\.max_in_flight = 200\)\" "
                               r'hint="[^"]+"', 20)
        assert int(paused.group(1)) >= 200 - 4  # MAX_MSGS_PER_CHANGE short of the limit
        frozen_s = time.time() - t_freeze
        os.kill(broker, signal.SIGCONT)
        frozen = False

        conn.wait_log(r'msg="kafka: the broker answers again after \d+ ms of silence"', 60)
        resumed = conn.wait_log(r'msg="stream \S+: reading resumed after (\d+) ms paused at '
                                r'delivery\.max_in_flight"', 60)
        conn.wait_confirmed(current_wal_lsn(db), timeout=120)
        recs = read_topic(rig.kafka, prefix, conn.topic("bp"))
        ids = {r[0] for r in db.execute("SELECT id FROM bp")}
        assert len(ids) == 1010
        dups = check_inserts(recs, ids, c0)
        log = conn.log()
        assert len(re.findall(r"reading paused: ", log)) == 1, "one pause, logged once"
        assert len(re.findall(r"reading resumed after ", log)) == 1
        assert len(re.findall(r"the broker has not answered for ", log)) == 1
        assert not hintless_lines(log), hintless_lines(log)
        result = {"broker_silence_ms": SILENCE_MS, "silence_logged_after_s": round(noticed, 2),
                  "frozen_s": round(frozen_s, 2), "paused_ms": int(resumed.group(1)),
                  "rows": len(ids), "resent": dups}
        print(result)
        record_result("backpressure", "broker_frozen", result,
                      title="Backpressure: broker frozen (SIGSTOP), max_in_flight = 200")
        assert noticed <= SILENCE_MS / 1000 + 1.5, (
            f"the silent broker was logged {noticed:.2f} s after the freeze "
            f"(bound: broker_silence_ms {SILENCE_MS} ms + the loop's 1 s)")
        assert conn.stop() == 0
    finally:
        if frozen:
            os.kill(broker, signal.SIGCONT)
        conn.cleanup()
        print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(db.name)
