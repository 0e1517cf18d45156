"""Silent partitions: the connections wal2kafka has open stop carrying anything, with no
reset and no FIN (a firewall or NAT that dropped its state, a peer that froze), while new
connections work. Nothing on the wire tells wal2kafka; only the silence does. It must
notice, reconnect and go on, losing nothing.

Bound: streaming resumes within SILENCE_LIMIT_S = 75 s of the partition: the 60 s after
which PostgreSQL's own walreceiver gives up on a silent primary (wal_receiver_timeout) and
librdkafka on a silent broker (socket.timeout.ms), plus a reconnection. The walsender here
has wal_sender_timeout = 10 s, so it sends a keepalive at least every 5 s: a client that
hears nothing for much longer knows the connection is dead.
"""

from __future__ import annotations

import time
import uuid

import pytest

from servers import database_name
from w2k import check_versions, current_wal_lsn, slot_info
from w2k_faults import (MultiWriter, create_table_topics, create_versioned_tables,  # noqa: F401
                        final_versions, first_append_after, read_topic, record_result, rig,
                        wait_until)

pytestmark = pytest.mark.timeout(600)

TABLES = ["pa", "pb"]
KEYS = 10
SILENCE_LIMIT_S = 75.0


@pytest.fixture
def wal_sender_timeout_10s(rig):
    rig.pg.execute("ALTER SYSTEM SET wal_sender_timeout = '10s'")
    rig.pg.execute("SELECT pg_reload_conf()")
    yield
    rig.pg.execute("ALTER SYSTEM RESET wal_sender_timeout")
    rig.pg.execute("SELECT pg_reload_conf()")


@pytest.mark.parametrize("side,mode", [("postgres", "at_least_once"),
                                       ("kafka", "at_least_once"),
                                       ("kafka", "exactly_once")])
def test_silent_partition(rig, wal_sender_timeout_10s, wal2kafka_bin, tmp_path, request, side,
                          mode):
    eos = mode == "exactly_once"
    dbname = database_name(request.node.name)
    prefix = f"{dbname[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"
    db = rig.database(dbname)
    conn = writer = None
    try:
        create_versioned_tables(db, TABLES, KEYS)
        topics = [f"{prefix}.public.{t}" for t in TABLES]
        create_table_topics(rig.kafka, topics, partitions=2)
        conn = rig.connector(wal2kafka_bin, db, [f"public.{t}" for t in TABLES], prefix,
                             workdir=tmp_path, settings={"delivery": {"exactly_once": eos}})
        conn.start().wait_streaming(120)
        writer = MultiWriter(db, TABLES, KEYS, rate=50, seed=11).start()
        writer.wait_more(100)
        conn.wait_confirmed(current_wal_lsn(db), timeout=60)

        proxy = rig.pg_proxy if side == "postgres" else rig.kafka_proxy
        old_pid = slot_info(db, conn.slot)["active_pid"]
        confirmed = conn.confirmed_lsn()
        t0 = proxy.stall_existing()
        mark = current_wal_lsn(db)

        def resumed():
            conn.check_alive()
            writer.check()
            c = conn.confirmed_lsn()
            return c is not None and c >= mark
        try:
            wait_until(resumed, SILENCE_LIMIT_S + 30, "streaming did not resume")
            took = time.time() - t0
        except TimeoutError:
            took = None
        writer.stop()
        # whatever happened, heal the network, then check nothing was lost
        proxy.resume()
        conn.wait_confirmed(current_wal_lsn(db), timeout=180)
        records, dups = [], []
        for t, topic in zip(TABLES, topics):
            recs = read_topic(rig.kafka, prefix, topic)
            records += recs
            dups += check_versions(
                recs, final_versions(db, t),
                dup_ok=None if eos else (lambda r: r.value["source"]["commit_lsn"] >= confirmed))
        log = conn.log()
        result = {"side": side, "mode": mode,
                  "resumed_after_s": round(took, 1) if took is not None else None,
                  "resent": len(dups),
                  "walsender_replaced": slot_info(db, conn.slot)["active_pid"] != old_pid,
                  "stream_retries": log.count("retrying in")}
        record_result("partitions", f"{side}/{mode}", result,
                      title="Silent partitions: time until streaming resumes")
        print(result)
        assert took is not None and took < SILENCE_LIMIT_S, (
            f"a silent partition to {side} stopped streaming for "
            f"{'more than ' + str(SILENCE_LIMIT_S + 30) if took is None else round(took, 1)} s"
            f"\n--- connector log ---\n{conn.log_tail(30)}")
        assert conn.stop() == 0
    finally:
        if writer is not None:
            writer._stop.set()
        if conn is not None:
            conn.cleanup()
            print(f"\n--- {conn.log_path} ---\n{conn.log_tail(60)}")
        rig.healthy()
        rig.pg.drop_database(dbname)
