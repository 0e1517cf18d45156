"""Faults under load: a writer commits numbered changes (version = version + 1) to three
tables at a steady rate while one thing breaks: wal2kafka is SIGKILLed and started again;
PostgreSQL restarts (fast and immediate); the broker is SIGKILLed and started again; the
walsender is terminated; the network to PostgreSQL or to Kafka is cut (every connection
reset, new ones refused for a while, through a TcpProxy).

After each fault, everything is consumed (isolation.level = read_committed) and checked:
every committed change is present; per key, the versions arrive in commit order; a change
arrives twice only in at-least-once mode and only when its transaction was not yet
confirmed at the fault (its commit LSN at or past the slot's confirmed position as
PostgreSQL held it then), never in exactly-once mode.

Each test also measures how long streaming took to come back: from the moment the broken
component was reachable again to the first change appended to a table topic (the topics are
created with message.timestamp.type = LogAppendTime, so the broker's clock says when each
message arrived). It must be under 5 s. The numbers go to integration/results/faults.md.

"Back" means: wal2kafka restarted (kill -9), pg.sh start returned (PostgreSQL answers
queries), a new producer could write to the broker again (broker kill: after a SIGKILL the
broker answers metadata some seconds before its partitions take writes; in exactly-once
mode the probe commits a transaction, so the transaction coordinator is ready too), the
walsender was terminated (PostgreSQL never went away), the proxy accepts connections
again (network cuts, CUT_S = 10 s of resets and refused connections).

wal2kafka runs with the product's default retry settings (retry.initial_backoff_ms = 500,
max_backoff_ms = 30000). The servers are the Rig's (w2k_faults): restarting them does not
disturb the other tests. wal2kafka reaches them through the Rig's proxies only for the
network cuts.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest

from servers import database_name
from w2k import check_versions, current_wal_lsn, parse_lsn
from w2k_faults import (MultiWriter, broker_ready, create_table_topics,  # noqa: F401
                        create_versioned_tables, final_versions, first_append_after,
                        read_topic, record_result, rig, slot_confirmed_on_disk,
                        wait_slot_inactive)

TABLES = ["fa", "fb", "fc"]
KEYS = 20
RATE = 100  # transactions per second
RECOVERY_LIMIT_S = 5.0
CUT_S = 10.0  # how long a cut network stays down (connections reset, new ones refused)

pytestmark = pytest.mark.timeout(600)


@dataclass
class FaultResult:
    t_fault: float  # time.time() when the fault began
    t_return: float  # ... when the component was reachable again
    confirmed: int | None  # the slot's confirmed position PostgreSQL resumes from
    notes: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- faults


def kill_wal2kafka(rig, conn, writer, db) -> FaultResult:
    t0 = time.time()
    assert conn.kill() == -9
    confirmed = conn.confirmed_lsn()
    writer.wait_more(RATE * 2)  # changes while wal2kafka is dead
    assert conn.confirmed_lsn() == confirmed, "nobody confirms while wal2kafka is dead"
    t1 = time.time()
    conn.start()
    return FaultResult(t0, t1, confirmed)


def _restart_pg(mode):
    def fault(rig, conn, writer, db) -> FaultResult:
        t0 = time.time()
        rig.pg.stop(mode)
        # what PostgreSQL will restore: the slot as last saved to disk (not necessarily
        # what wal2kafka confirmed last: PostgreSQL 15 saves a logical slot's
        # confirmed_flush only at checkpoints that find the slot dirty)
        confirmed = slot_confirmed_on_disk(rig.pg, conn.slot)
        down = time.time()
        rig.pg.start()
        t1 = time.time()
        return FaultResult(t0, t1, confirmed, {"down_s": round(t1 - down, 2)})
    return fault


def kill_broker(rig, conn, writer, db) -> FaultResult:
    t0 = time.time()
    rig.kafka.kill()
    confirmed = conn.confirmed_lsn()
    writer.wait_more(RATE * 2)
    conn.check_alive()
    rig.kafka.start()
    t_started = time.time()
    # back = a new producer (a transactional one in exactly-once mode) can write again:
    # after a SIGKILL the broker answers metadata before its partitions (and its
    # transaction coordinator) take writes, and wal2kafka cannot be faster than that
    t1 = broker_ready(rig.kafka, f"{conn.prefix}.probe", transactional=conn.config[
        "delivery"].get("exactly_once", False))
    return FaultResult(t0, t1, confirmed, {"broker_started_to_ready_s": round(t1 - t_started, 2)})


def terminate_walsender(rig, conn, writer, db) -> FaultResult:
    # one statement: the confirmed position read before the walsender is signalled
    rows = db.execute("SELECT confirmed_flush_lsn::text, pg_terminate_backend(active_pid) "
                      "FROM pg_replication_slots WHERE slot_name = %s AND active", (conn.slot,))
    assert rows and rows[0][1] is True, f"no active walsender for {conn.slot}: {rows}"
    t = time.time()
    return FaultResult(t, t, parse_lsn(rows[0][0]))


def _hold(conn, writer, until: float) -> None:
    """Let the writer go on until `until` (time.time()), checking wal2kafka lives."""
    while time.time() < until:
        conn.check_alive()
        writer.check()
        time.sleep(0.1)


def cut_postgres(rig, conn, writer, db) -> FaultResult:
    t0 = rig.pg_proxy.cut(refuse=True)
    info = wait_slot_inactive(db, conn.slot)  # the walsender saw the reset and ended
    _hold(conn, writer, t0 + CUT_S)
    t1 = rig.pg_proxy.accept()
    return FaultResult(t0, t1, info["confirmed_flush_lsn"])


def cut_kafka(rig, conn, writer, db) -> FaultResult:
    t0 = rig.kafka_proxy.cut(refuse=True)
    confirmed = conn.confirmed_lsn()
    _hold(conn, writer, t0 + CUT_S)
    t1 = rig.kafka_proxy.accept()
    return FaultResult(t0, t1, confirmed)


FAULTS = {
    "kill9_wal2kafka": kill_wal2kafka,
    "pg_restart_fast": _restart_pg("fast"),
    "pg_restart_immediate": _restart_pg("immediate"),
    "broker_kill": kill_broker,
    "walsender_terminated": terminate_walsender,
    "network_cut_postgres": cut_postgres,
    "network_cut_kafka": cut_kafka,
}
# wal2kafka reaches the servers through the Rig's proxies only for the network faults;
# otherwise directly (a stopped server then refuses connections, as it would)
PROXIED = {"network_cut_postgres", "network_cut_kafka"}


# ---------------------------------------------------------------------------- the test


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_under_load(rig, wal2kafka_bin, tmp_path, request, fault, mode):
    eos = mode == "exactly_once"
    dbname = database_name(request.node.name)
    prefix = f"{dbname[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"
    db = rig.database(dbname)
    conn = writer = None
    try:
        create_versioned_tables(db, TABLES, KEYS)
        topics = [f"{prefix}.public.{t}" for t in TABLES]
        create_table_topics(rig.kafka, topics, partitions=3)
        rig.kafka.create_topic(f"{prefix}.probe", 3)
        conn = rig.connector(wal2kafka_bin, db, [f"public.{t}" for t in TABLES], prefix,
                             workdir=tmp_path, proxied=fault in PROXIED,
                             settings={"delivery": {"exactly_once": eos}})
        conn.start().wait_streaming(120)
        writer = MultiWriter(db, TABLES, KEYS, rate=RATE, seed=sum(map(ord, fault + mode))).start()
        writer.wait_more(RATE * 2)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)  # streaming before the fault

        res = FAULTS[fault](rig, conn, writer, db)
        conn.check_alive()
        writer.wait_more(RATE * 3, timeout=180)  # changes after the component came back
        committed = writer.stop()
        conn.wait_streaming(120)
        conn.wait_confirmed(current_wal_lsn(db), timeout=180)

        records, dups = [], []
        threshold = res.confirmed
        for t, topic in zip(TABLES, topics):
            recs = read_topic(rig.kafka, prefix, topic)
            records += recs
            if eos:
                dup_ok = None  # exactly once: not a single re-sent change
            else:
                def dup_ok(r, threshold=threshold):
                    return threshold is not None and r.value["source"]["commit_lsn"] >= threshold
            dups += check_versions(recs, final_versions(db, t), dup_ok=dup_ok)
        recovery = first_append_after(records, res.t_return)
        log = conn.log()
        assert conn.stop() == 0
        result = {
            "mode": mode,
            "recovery_s": round(recovery, 3) if recovery is not None else None,
            "outage_s": round(res.t_return - res.t_fault, 2),
            "transactions": committed,
            "records": len(records),
            "resent": len(dups),
            "writer_reconnects": writer.lost_connections,
            "stream_retries": log.count("retrying in"),
            **res.notes,
        }
        record_result("faults", f"{fault}/{mode}", result,
                      title="Fault tests: time from a component's return to the first "
                            "delivered change")
        print(f"{fault}/{mode}: {result}")
        assert recovery is not None, "nothing was delivered after the component came back"
        assert recovery < RECOVERY_LIMIT_S, (
            f"streaming came back {recovery:.2f} s after {fault} ended (limit "
            f"{RECOVERY_LIMIT_S} s)\n--- connector log ---\n{conn.log_tail(40)}")
        if eos:
            assert not dups
    finally:
        if writer is not None:
            writer._stop.set()
        if conn is not None:
            conn.cleanup()
            print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(dbname)
