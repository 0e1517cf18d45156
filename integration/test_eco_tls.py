"""TLS and SASL: PostgreSQL with sslmode=verify-full, Kafka over SSL, SASL_PLAINTEXT and
SASL_SSL, with certificates the test makes with openssl (a CA, a server certificate for
DNS:localhost and IP:127.0.0.1, and an unrelated CA).

Proves: wal2kafka streams end to end from a PostgreSQL that it verifies (verify-full,
both by host name and by IP address; the walsender's connection is TLS, per pg_stat_ssl),
and to a broker over SSL, SASL_SSL and SASL_PLAINTEXT (PLAIN and SCRAM-SHA-512), with
nothing but libpq's conninfo and kafka.properties; the wrong CA fails with an error that
says the certificate could not be verified, for both; a wrong SASL password fails with
an error that says authentication failed, and the password is not printed.

SCRAM-SHA-512 against Kafka 4.x needs librdkafka >= 2.6.1 (w2k_ecosystem.py explains);
each SASL case runs with the librdkafka wal2kafka is linked with (Debian 12: 2.0.2) and
with the one bundled in confluent-kafka's wheel (LD_LIBRARY_PATH). With the wheel's,
SCRAM streams; with an older one, wal2kafka stops at once with an error that says its
librdkafka is too old for SCRAM with Kafka 4.x and names the ways out (a newer
librdkafka via LD_LIBRARY_PATH, or SASL PLAIN over TLS).
"""

from __future__ import annotations

import re
import uuid

import pytest

from servers import database_name
from w2k import Connector, Decoder, connectors, consume, final_error, run_txn  # noqa: F401 (fixture)
from w2k_ecosystem import (SCRAM_MIN_LIBRDKAFKA, output_bytes, pki, secure_kafka,  # noqa: F401
                           system_librdkafka_version, tls_pg, wheel_librdkafka_dir)

W2K_EXIT_PG = 4
W2K_EXIT_KAFKA = 5


@pytest.fixture
def tls_db(tls_pg, request):
    d = tls_pg.create_database(database_name(request.node.name))
    yield d
    d.drop()


def pg_connector(wal2kafka_bin, tls_db, kafka, topic_prefix, tmp_path, conninfo_tail, **kw):
    pg = tls_db.pg
    conn = Connector(wal2kafka_bin, tls_db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"conninfo": f"port={pg.port} dbname={tls_db.name} "
                                                          f"user={pg.user} {conninfo_tail}"},
                               **kw})
    return conn


@pytest.mark.parametrize("host", ["host=localhost hostaddr=127.0.0.1", "host=127.0.0.1"],
                         ids=["by-name", "by-ip"])
def test_postgres_verify_full_streams(wal2kafka_bin, tls_db, kafka, topic_prefix, tmp_path,
                                      pki, host):
    tls_db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    tls_db.execute("INSERT INTO t VALUES (1, 'before')")
    conn = pg_connector(wal2kafka_bin, tls_db, kafka, topic_prefix, tmp_path,
                        f"{host} sslmode=verify-full sslrootcert={pki.ca}")
    with conn:
        conn.start().wait_streaming()
        # the walsender's session is TLS
        ssl = tls_db.execute(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_replication_slots r "
            "ON r.active_pid = s.pid WHERE r.slot_name = %s", (conn.slot,))
        assert ssl and ssl[0][0] is True and ssl[0][1].startswith("TLSv1."), ssl
        run_txn(tls_db, "INSERT INTO t VALUES (2, 'after')")
        recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("t"), until=2)
        assert [(r.key, r.value["op"], r.value["after"]) for r in recs] == [
            ({"id": 1}, "r", {"id": 1, "v": "before"}),
            ({"id": 2}, "c", {"id": 2, "v": "after"})]
        conn.wait_caught_up()
        assert conn.stop() == 0


def test_postgres_wrong_ca_fails_clearly(wal2kafka_bin, tls_db, kafka, topic_prefix, tmp_path,
                                         pki):
    tls_db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = pg_connector(wal2kafka_bin, tls_db, kafka, topic_prefix, tmp_path,
                        f"host=localhost hostaddr=127.0.0.1 sslmode=verify-full "
                        f"sslrootcert={pki.wrong_ca}", retry={"max_attempts": 1})
    with conn:
        conn.start()
        rc = conn.wait_exit(60)
        log = conn.log()
        msg, hint = final_error(log, conn.stream)
        assert "certificate verify failed" in msg, log
        # a certificate that does not verify is a setting to fix, not an outage to wait out
        assert rc == W2K_EXIT_PG, log
        assert "sslrootcert" in hint, log
        assert tls_db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                             (conn.slot,)) == 0


# ---------------------------------------------------------------------- Kafka


def kafka_connector(connectors, db, secure_kafka, protocol, properties, *, librdkafka="system",
                    **settings):
    db.execute("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text)")
    env = {}
    if librdkafka == "wheel":
        env["LD_LIBRARY_PATH"] = str(wheel_librdkafka_dir())
    return connectors(["public.t"], bootstrap=secure_kafka.bootstrap_for(protocol), env=env,
                      settings={"kafka": {"properties": properties}, **settings},
                      stream_settings={"snapshot": "never"})


def streams_end_to_end(conn, db, secure_kafka, prefix):
    conn.start().wait_streaming()
    key = 1 + db.scalar("SELECT coalesce(max(id), 0) FROM t")
    run_txn(db, f"INSERT INTO t VALUES ({key}, 'over tls')")
    recs = consume(secure_kafka, Decoder(secure_kafka, prefix), conn.topic("t"), until=1,
                   timeout=60)
    assert (recs[0].key, recs[0].value["after"]) == ({"id": key}, {"id": key, "v": "over tls"})
    conn.wait_caught_up()
    assert conn.stop() == 0


def test_kafka_over_ssl_streams(db, secure_kafka, connectors, topic_prefix):
    conn = kafka_connector(connectors, db, secure_kafka, "SSL", secure_kafka.ssl_properties())
    streams_end_to_end(conn, db, secure_kafka, topic_prefix)


def test_kafka_ssl_with_the_wrong_ca_fails_clearly(db, secure_kafka, connectors, pki):
    conn = kafka_connector(connectors, db, secure_kafka, "SSL",
                           secure_kafka.ssl_properties(ca=pki.wrong_ca),
                           retry={"max_attempts": 1, "initial_backoff_ms": 100,
                                  "max_backoff_ms": 200})
    conn.start()
    rc = conn.wait_exit(120)
    log = conn.log()
    assert rc != 0, log
    assert "certificate verify failed" in log, log  # librdkafka's own lines say it
    msg, hint = final_error(log, conn.stream)
    assert "certificate verify failed" in msg, log  # and so must the error wal2kafka ends with
    assert "ssl.ca.location" in hint, log


SASL_CASES = [("SASL_SSL", "PLAIN"), ("SASL_SSL", "SCRAM-SHA-512"),
              ("SASL_PLAINTEXT", "SCRAM-SHA-512")]


@pytest.mark.parametrize("librdkafka", ["system", "wheel"])
@pytest.mark.parametrize("protocol,mechanism", SASL_CASES, ids=[f"{p}-{m}" for p, m in SASL_CASES])
def test_kafka_sasl_streams(db, secure_kafka, connectors, topic_prefix, protocol, mechanism,
                            librdkafka):
    props = secure_kafka.sasl_properties(tls=protocol == "SASL_SSL", mechanism=mechanism)
    conn = kafka_connector(connectors, db, secure_kafka, protocol, props, librdkafka=librdkafka,
                           retry={"max_attempts": 2, "initial_backoff_ms": 200,
                                  "max_backoff_ms": 500})
    if (mechanism.startswith("SCRAM") and librdkafka == "system"
            and system_librdkafka_version() < SCRAM_MIN_LIBRDKAFKA):
        # this librdkafka cannot authenticate with SCRAM against Kafka 4.x, even with the
        # right password (librdkafka#4895): wal2kafka must stop at once and say exactly
        # that, with the ways out
        conn.start()
        rc = conn.wait_exit(120)
        log = conn.log()
        assert rc == W2K_EXIT_KAFKA, log
        msg, hint = final_error(log, conn.stream)
        version = ".".join(map(str, system_librdkafka_version()))
        assert f"refused {mechanism} authentication" in msg, msg
        assert (f"this librdkafka ({version}) is too old for SCRAM with Kafka 4.x brokers: "
                "versions before 2.6.1") in msg, msg
        assert "librdkafka#4895" in msg, msg
        assert "librdkafka >= 2.6.1" in hint and "LD_LIBRARY_PATH" in hint, hint
        assert "SASL PLAIN over TLS (security.protocol=SASL_SSL, sasl.mechanisms=PLAIN)" in hint
        assert len(re.findall(r"retrying in \d+ ms", log)) == 0, "retrying cannot heal it"
    else:
        streams_end_to_end(conn, db, secure_kafka, topic_prefix)
    assert secure_kafka.sasl_password.encode() not in output_bytes(conn)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_kafka_wrong_sasl_password_fails_clearly(db, secure_kafka, connectors, mechanism):
    wrong = f"wrong-{uuid.uuid4().hex}"
    props = secure_kafka.sasl_properties(wrong, tls=True, mechanism=mechanism)
    conn = kafka_connector(connectors, db, secure_kafka, "SASL_SSL", props,
                           retry={"max_attempts": 1, "initial_backoff_ms": 100,
                                  "max_backoff_ms": 200})
    conn.start()
    rc = conn.wait_exit(120)
    log = conn.log()
    assert rc != 0, log
    assert "SASL authentication error: Authentication failed" in log, log
    for secret in (wrong, secure_kafka.sasl_password):
        assert secret.encode() not in output_bytes(conn)
    msg, hint = final_error(log, conn.stream)
    assert "authentication" in msg.lower(), log  # the error wal2kafka ends with names it
    assert "sasl.password" in hint or "sasl.username" in hint, log
