"""Slow and dead subscribers: one consumer group stops consuming (its consumer hangs, then
dies); the other groups keep receiving every change, as fast as before. wal2kafka does not
know its readers: the slot keeps being confirmed while a group lags.

Latency = the time a consumer received a change minus the change's commit time
(source.ts_us), measured for the healthy groups with and without the stalled group.
The numbers go to integration/results/faults_subscribers.md (integration/test_subscribers.py,
another test, owns subscribers.md).
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from w2k import Decoder, check_versions, connectors, current_wal_lsn  # noqa: F401
from w2k_faults import MultiWriter, create_versioned_tables, final_versions, record_result

pytestmark = pytest.mark.timeout(600)

TABLES = ["sa", "sb"]
KEYS = 10
PHASE_S = 12


class GroupConsumer:
    """One member of a consumer group, polling in a thread; received holds
    (receive time, decoded record) of every message."""

    def __init__(self, kafka, prefix: str, topics: list[str], group: str):
        self.kafka, self.topics, self.group = kafka, topics, group
        self.dec = Decoder(kafka, prefix)
        self.received: list[tuple[float, object]] = []
        self.paused = threading.Event()
        self._hung = threading.Event()  # set by the thread once it stopped polling
        self._stop = threading.Event()
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"group-{group}")

    def start(self):
        self._thread.start()
        return self

    def _run(self):
        from w2k import Record
        c = self.kafka.consumer(self.group, **{"enable.partition.eof": False,
                                               "session.timeout.ms": 6000,
                                               "max.poll.interval.ms": 8000})
        try:
            c.subscribe(self.topics)
            while not self._stop.is_set():
                if self.paused.is_set():
                    self._hung.set()
                    self._stop.wait(0.05)  # hung: not polling at all
                    continue
                m = c.poll(0.05)
                if m is None or m.error():
                    continue
                now = time.time()
                ts_type, ts = m.timestamp()
                r = Record(m.topic(), m.partition(), m.offset(), ts, ts_type, m.key(), m.value())
                r.key = self.dec.decode(r.raw_key)
                r.value = self.dec.decode(r.raw_value)
                self.received.append((now, r))
        except BaseException as e:
            self.error = e
        finally:
            if not self.paused.is_set():
                c.close()  # a dead member (paused at stop) just vanishes

    def hang(self) -> int:
        """Stop polling (the consumer stays open, then is evicted from its group);
        returns how many messages it had received."""
        self.paused.set()
        if not self._hung.wait(10):
            raise TimeoutError(f"consumer {self.group} did not stop polling")
        return len(self.received)

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        if self.error:
            raise self.error

    def latencies(self, t0: float, t1: float) -> list[float]:
        """Latency of changes committed in [t0, t1) (time.time())."""
        out = []
        for recv, r in self.received:
            if r.value is None or r.op == "r":
                continue
            commit = r.value["source"]["ts_us"] / 1e6
            if t0 <= commit < t1:
                out.append(recv - commit)
        return out

    def records(self, topic: str):
        return [r for _, r in self.received if r.topic == topic]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


def test_a_stalled_group_does_not_slow_the_others(db, kafka, connectors, topic_prefix):
    create_versioned_tables(db, TABLES, KEYS)
    conn = connectors([f"public.{t}" for t in TABLES],
                      settings={"kafka": {"topic": {"partitions": 3}}})
    conn.start().wait_streaming()
    topics = [conn.topic(t) for t in TABLES]
    writer = MultiWriter(db, TABLES, KEYS, rate=50, max_rows=2, seed=7).start()
    groups = {}
    try:
        writer.wait_more(20)
        for g in ("healthy1", "healthy2", "stalled"):
            groups[g] = GroupConsumer(kafka, topic_prefix, topics, f"{topic_prefix}-{g}").start()
        # wait until every group has its partitions and receives
        deadline = time.monotonic() + 60
        while not all(any(r.value and r.op == "u" for _, r in c.received) for c in groups.values()):
            assert time.monotonic() < deadline, "a consumer group does not receive"
            time.sleep(0.1)
        # phase 1: everybody consumes
        t_a = time.time()
        time.sleep(PHASE_S)
        # phase 2: one group hangs (no poll), then is evicted (max.poll.interval.ms) and
        # behaves like a dead member; the slot must keep being confirmed
        t_b = time.time()
        stalled_at = groups["stalled"].hang()
        confirmed_b = conn.confirmed_lsn()
        time.sleep(PHASE_S)
        t_c = time.time()
        assert conn.confirmed_lsn() > confirmed_b, "the slot stopped moving with a group stalled"
        writer.stop()
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)
        # the healthy groups get everything, in order
        end = time.monotonic() + 60
        finals = {t: final_versions(db, t) for t in TABLES}
        want = sum(sum(v.values()) for v in finals.values())
        for name in ("healthy1", "healthy2"):
            g = groups[name]
            while sum(1 for _, r in g.received if r.op == "u") < want:
                assert time.monotonic() < end, f"{name} did not receive everything"
                time.sleep(0.1)
        for g in groups.values():
            g._stop.set()
        for name in ("healthy1", "healthy2"):
            groups[name].stop()
            for t, topic in zip(TABLES, topics):
                check_versions(groups[name].records(topic), finals[t])
        stalled = groups["stalled"]
        assert len(stalled.received) == stalled_at, "the stalled group received nothing more"

        result = {}
        for name in ("healthy1", "healthy2"):
            before = groups[name].latencies(t_a, t_b)
            during = groups[name].latencies(t_b, t_c)
            assert len(before) > 100 and len(during) > 100, (len(before), len(during))
            result[name] = {"p50_before_ms": round(statistics.median(before) * 1000, 1),
                            "p99_before_ms": round(pct(before, 0.99) * 1000, 1),
                            "p50_stalled_ms": round(statistics.median(during) * 1000, 1),
                            "p99_stalled_ms": round(pct(during, 0.99) * 1000, 1),
                            "changes_before": len(before), "changes_stalled": len(during)}
            record_result("faults_subscribers", name, result[name],
                          title="Healthy consumer groups' latency with and without a stalled group")
        print(result)
        for name, r in result.items():
            # as fast as before: the median within 2x or 100 ms, the p99 within 2x or 250 ms
            assert r["p50_stalled_ms"] <= max(2 * r["p50_before_ms"], r["p50_before_ms"] + 100), r
            assert r["p99_stalled_ms"] <= max(2 * r["p99_before_ms"], r["p99_before_ms"] + 250), r
        assert conn.stop() == 0
    finally:
        writer._stop.set()
        for g in groups.values():
            g._stop.set()
