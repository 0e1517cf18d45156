"""The test infrastructure itself: real PostgreSQL and Kafka, as the other tests use them."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import uuid

import psycopg
import pytest

from servers import ServerError, free_ports


def unique(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------- PostgreSQL


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(5)
    assert len(set(ports)) == 5
    assert all(1024 <= p < 65536 for p in ports)


def test_pg_has_logical_wal_and_slots(pg):
    assert pg.scalar("SHOW wal_level") == "logical"
    assert int(pg.scalar("SHOW max_replication_slots")) >= 20
    assert int(pg.scalar("SHOW max_wal_senders")) >= 20
    assert pg.scalar("SHOW server_version_num").startswith("15")
    assert pg.scalar("SHOW listen_addresses") == "127.0.0.1"


def test_pg_password_auth_over_tcp(pg):
    with psycopg.connect(pg.dsn(), connect_timeout=10) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text, "
                           "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user)").fetchone()
    assert row[0] == "postgres"
    assert row[1] in ("127.0.0.1", "127.0.0.1/32")
    assert row[2] is True
    # The server really asked for the password (scram), it did not trust us.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg.dsn(password="wrong-password"), connect_timeout=10)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn(password=""), connect_timeout=10)


def test_pg_replication_connection_needs_password(pg):
    """A walsender connection (what wal2kafka opens) over TCP with scram auth."""
    conninfo = pg.dsn(replication="database")
    out = subprocess.run(["psql", "-X", "-A", "-t", "-F", " ", "-d", conninfo, "-c", "IDENTIFY_SYSTEM"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    systemid, timeline, xlogpos, dbname = out.stdout.split()
    assert int(timeline) >= 1 and "/" in xlogpos and dbname == "postgres"
    bad = subprocess.run(["psql", "-X", "-d", pg.dsn(replication="database", password="nope"),
                          "-c", "IDENTIFY_SYSTEM"],
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr


def test_db_fixture_gives_a_fresh_database(db, pg):
    assert db.name.startswith("t_test_db_fixture")
    assert db.scalar("SELECT current_database()") == db.name
    assert db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
    assert db.execute("SELECT v FROM t ORDER BY id") == [("a",), ("b",)]
    assert db.psql("SELECT count(*) FROM t").strip() == "2"
    assert f"dbname={db.name}" in db.dsn()
    # A slot pins its database; the fixture's teardown must drop it.
    db.execute("SELECT pg_create_logical_replication_slot('fixture_slot', 'pgoutput')")


def test_drop_database_removes_slots_and_sessions(pg):
    name = unique("w2k_tmp")
    d = pg.create_database(name)
    d.execute("CREATE TABLE t (id int PRIMARY KEY)")
    d.execute("CREATE PUBLICATION p FOR TABLE t")
    slot = unique("slot")
    d.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (slot,))
    d.execute("INSERT INTO t VALUES (1)")
    changes = d.scalar("SELECT count(*) FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                       "'proto_version', '1', 'publication_names', 'p')", (slot,))
    assert changes >= 3  # BEGIN, RELATION, INSERT, COMMIT
    idle = d.connect()  # an open session must not block the drop
    try:
        pg.drop_database(name)
    finally:
        idle.close()
    assert pg.scalar("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)) == 0
    assert pg.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (slot,)) == 0


def test_pg_restart_keeps_data(pg):
    name = unique("w2k_restart")
    d = pg.create_database(name)
    try:
        d.execute("CREATE TABLE t (id int PRIMARY KEY)")
        d.execute("INSERT INTO t SELECT generate_series(1, 1000)")
        pg.restart("fast")
        assert d.scalar("SELECT count(*) FROM t") == 1000
        d.execute("INSERT INTO t VALUES (1001)")
        pg.restart("immediate")  # crash-like: no shutdown checkpoint, WAL replay
        assert d.scalar("SELECT count(*) FROM t") == 1001
        assert pg.scalar("SHOW wal_level") == "logical"
    finally:
        pg.drop_database(name)


def test_pg_stop_then_start(pg):
    pg.stop()
    assert not pg.is_running()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(pg.dsn(), connect_timeout=3)
    pg.start()
    assert pg.is_running()
    assert pg.scalar("SELECT 1") == 1


# ---------------------------------------------------------------------------------- Kafka


def test_kafka_admin_idempotent_produce_and_group_consume(kafka):
    topic = unique("infra_py")
    kafka.create_topic(topic, partitions=3, config={"cleanup.policy": "compact",
                                                     "min.compaction.lag.ms": 86400000})
    assert topic in kafka.topics()
    assert kafka.partitions(topic) == 3
    cfg = kafka.topic_config(topic)
    assert cfg["cleanup.policy"] == "compact" and cfg["min.compaction.lag.ms"] == "86400000"

    p = kafka.producer()  # enable.idempotence=True, acks=all
    errors = []
    sent = [(f"k{i % 7}".encode(), f"value-{i}".encode()) for i in range(300)]
    for k, v in sent:
        p.produce(topic, key=k, value=v,
                  on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert p.flush(30) == 0
    assert errors == []

    group = unique("g")
    got = kafka.consume(topic, count=len(sent), timeout=60, group=group)
    assert sorted((m.key(), m.value()) for m in got) == sorted(sent)
    # Per-key order holds: one key, one partition, offsets in produce order.
    by_key: dict[bytes, list[bytes]] = {}
    for m in sorted(got, key=lambda m: (m.partition(), m.offset())):
        by_key.setdefault(m.key(), []).append(m.value())
    for k, vals in by_key.items():
        assert vals == [v for kk, v in sent if kk == k]
    # The group committed: a second run of the same group sees nothing new.
    assert kafka.consume(topic, timeout=30, group=group) == []


def test_system_librdkafka_is_2_0_2():
    lib = ctypes.CDLL(ctypes.util.find_library("rdkafka") or "librdkafka.so.1")
    lib.rd_kafka_version_str.restype = ctypes.c_char_p
    assert lib.rd_kafka_version_str().decode() == "2.0.2"
    v = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10)
    assert "librdkafka 2.0.2 " in v.stdout + v.stderr


def _kcat(kafka, *args, input: str | None = None, timeout: float = 60):
    return subprocess.run(["kcat", "-b", kafka.bootstrap, *args], input=input,
                          capture_output=True, text=True, timeout=timeout)


def test_system_librdkafka_idempotent_produce_and_consume(kafka):
    """The system librdkafka 2.0.2 (the one wal2kafka links) talks to this broker."""
    topic = unique("infra_kcat")
    kafka.create_topic(topic, partitions=2)
    lines = [f"payload-{i}" for i in range(200)]
    prod = _kcat(kafka, "-X", "enable.idempotence=true", "-X", "acks=all", "-X", "debug=eos",
                 "-X", "message.timeout.ms=30000", "-P", "-t", topic, "-K", ":",
                 input="".join(f"key{i % 5}:{line}\n" for i, line in enumerate(lines)))
    assert prod.returncode == 0, prod.stderr
    assert not [ln for ln in prod.stderr.splitlines() if ln.startswith("% ERROR")], prod.stderr
    # The producer really was idempotent: it got a producer id from the broker.
    assert "Acquired PID{Id:" in prod.stderr, prod.stderr[-2000:]

    cons = _kcat(kafka, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\n")
    assert cons.returncode == 0, cons.stderr
    rows = [r.split(" ", 3) for r in cons.stdout.splitlines()]
    assert sorted(r[3] for r in rows) == sorted(lines)
    # Per-key order, as produced:
    for k in range(5):
        got = [r[3] for r in sorted(rows, key=lambda r: (int(r[0]), int(r[1]))) if r[2] == f"key{k}"]
        assert got == [line for i, line in enumerate(lines) if i % 5 == k]

    # The same messages through confluent-kafka's own librdkafka: both clients agree.
    msgs = kafka.consume(topic, timeout=30)
    assert sorted(m.value().decode() for m in msgs) == sorted(lines)

    # And a librdkafka 2.0.2 consumer-group member (JoinGroup/SyncGroup/OffsetCommit).
    grp = _kcat(kafka, "-G", unique("kcatgrp"), "-o", "beginning", "-e", "-q", "-f", "%s\n", topic,
                timeout=90)
    assert grp.returncode == 0, grp.stderr
    assert sorted(grp.stdout.splitlines()) == sorted(lines)


def test_system_librdkafka_transactions(kafka):
    """Exactly-once mode needs Kafka transactions from librdkafka 2.0.2."""
    topic = unique("infra_txn")
    kafka.create_topic(topic, partitions=2)
    prod = _kcat(kafka, "-X", f"transactional.id={unique('w2k-txn')}", "-P", "-t", topic,
                 "-K", ":", input="".join(f"k{i}:txn-{i}\n" for i in range(20)))
    assert prod.returncode == 0, prod.stderr
    assert "Transaction successfully committed" in prod.stderr, prod.stderr
    committed = kafka.consume(topic, timeout=30, isolation="read_committed")
    assert sorted(m.value().decode() for m in committed) == sorted(f"txn-{i}" for i in range(20))


def test_kafka_restart_and_crash_keep_data(kafka):
    topic = unique("infra_restart")
    kafka.create_topic(topic, partitions=2)
    p = kafka.producer()
    for i in range(100):
        p.produce(topic, key=str(i % 3), value=f"before-{i}")
    assert p.flush(30) == 0
    del p

    kafka.restart()  # graceful
    values = sorted(m.value().decode() for m in kafka.consume(topic, timeout=60))
    assert values == sorted(f"before-{i}" for i in range(100))
    p = kafka.producer()
    for i in range(50):
        p.produce(topic, key=str(i % 3), value=f"after-{i}")
    assert p.flush(30) == 0
    del p

    kafka.kill()  # SIGKILL: acknowledged messages must survive
    assert not kafka.is_running()
    kafka.start()
    values = sorted(m.value().decode() for m in kafka.consume(topic, timeout=60))
    assert values == sorted([f"before-{i}" for i in range(100)] + [f"after-{i}" for i in range(50)])
    assert topic in kafka.topics()


def test_kafka_start_twice_is_an_error(kafka):
    with pytest.raises(ServerError, match="already runs"):
        kafka._script("start", kafka.dir, kafka.port, kafka.controller_port)
