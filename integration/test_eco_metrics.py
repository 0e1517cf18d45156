"""The metrics endpoint of a running wal2kafka, scraped like Prometheus does: the text is
parsed by prometheus_client's own parser, and the values must move the way
docs/metrics.md says.

Proves: every documented family is there with its type; changes_total counts each
operation (snapshot reads, inserts, updates, deletes, truncates) exactly; bytes grow;
snapshot progress reads rows_read = rows_expected; after a quiet period the acked LSN
reaches pg_current_wal_lsn, in-flight is 0 and the lag is 0; while the broker is down a
change stays in flight and the lag grows, and both return to 0 once it is back; while
PostgreSQL is down /health answers 503 naming the stream and the state is
`reconnecting`, and after it is back /health is 200 again and reconnects_total and
errors_total{kind="postgres"} have grown; HTTP details (content type, HEAD, 404, 405).
With the port flooded (slow clients holding half a request, bursts of connections past the
limit, oversized and malformed requests, fast scrapes) every committed row still arrives
promptly and /health keeps answering; over TLS with basic auth, a scraper that trusts the
CA and sends the credentials gets the metrics, one without them 401, plain HTTP nothing.
"""

from __future__ import annotations

import time

import base64
import ssl
import threading
import urllib.error
import urllib.request

from flood import Flood, health_status
from w2k import connectors, current_wal_lsn, run_txn  # noqa: F401 (fixture)
from w2k_ecosystem import (http_get, metrics_port, pki, scrape,  # noqa: F401 (fixture)
                           wait_health, wait_metric)

FAMILIES = {
    "wal2kafka_info": "gauge", "wal2kafka_start_time_seconds": "gauge",
    "wal2kafka_stream_state": "gauge", "wal2kafka_streaming": "gauge",
    "wal2kafka_acked_lsn": "gauge", "wal2kafka_server_lsn": "gauge",
    "wal2kafka_lag_bytes": "gauge", "wal2kafka_acked_commit_timestamp_seconds": "gauge",
    "wal2kafka_lag_seconds": "gauge", "wal2kafka_in_flight_messages": "gauge",
    "wal2kafka_reconnects": "counter", "wal2kafka_errors": "counter",
    "wal2kafka_changes": "counter", "wal2kafka_change_bytes": "counter",
    "wal2kafka_snapshot_rows_read": "gauge", "wal2kafka_snapshot_rows_expected": "gauge",
    "wal2kafka_stream_standby": "gauge", "wal2kafka_reading_paused": "gauge",
    "wal2kafka_reading_paused_seconds": "counter",
}
STATES = ["starting", "snapshot", "streaming", "reconnecting", "stopped", "failed", "standby"]
KINDS = ["postgres", "kafka", "decode", "encode", "registry"]
OPS = ["c", "u", "d", "t", "r"]


def start(connectors, db, **kw):
    conn = connectors(["public.t"], settings={"metrics": {"listen": "127.0.0.1:0"}}, **kw)
    conn.start().wait_streaming()
    return conn, metrics_port(conn)


def changes(s, conn, op):
    return s.get("wal2kafka_changes_total", stream=conn.stream, schema="public", table="t", op=op)


def test_metrics_count_changes_and_reach_the_server_position(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 5) g")
    db.execute("ANALYZE t")  # pg_class.reltuples = 5: the snapshot's expectation
    t0 = time.time()
    conn, port = start(connectors, db)
    st = conn.stream

    s = scrape(port)
    assert {n: f.type for n, f in s.families.items()} == FAMILIES
    assert s.get("wal2kafka_info") == 1
    assert s.series("wal2kafka_info")[0].labels["version"] == "0.1.0"
    assert t0 - 1 <= s.get("wal2kafka_start_time_seconds") <= time.time()
    assert {x.labels["state"]: x.value for x in s.series("wal2kafka_stream_state")} == \
        {k: (1.0 if k == "streaming" else 0.0) for k in STATES}
    assert s.get("wal2kafka_streaming", stream=st) == 1
    assert {x.labels["kind"]: x.value for x in s.series("wal2kafka_errors_total")} == \
        {k: 0.0 for k in KINDS}
    assert s.get("wal2kafka_reconnects_total", stream=st) == 0
    assert {o: changes(s, conn, o) for o in OPS} == {"c": 0, "u": 0, "d": 0, "t": 0, "r": 5}
    assert s.get("wal2kafka_snapshot_rows_read", stream=st, schema="public", table="t") == 5
    assert s.get("wal2kafka_snapshot_rows_expected", stream=st, schema="public", table="t") == 5
    bytes0 = s.get("wal2kafka_change_bytes_total", stream=st, schema="public", table="t")
    assert bytes0 > 5 * 10  # five Avro messages of at least a header and a key each
    status, body, headers = http_get(f"http://127.0.0.1:{port}/health")
    assert (status, body) == (200, "ok\n")

    run_txn(db, "INSERT INTO t VALUES (6, 'six'), (7, 'seven')")
    run_txn(db, "UPDATE t SET v = 'one!' WHERE id = 1")
    run_txn(db, "UPDATE t SET v = 'two!' WHERE id = 2")
    run_txn(db, "UPDATE t SET v = 'three!' WHERE id = 3")
    last = run_txn(db, "DELETE FROM t WHERE id = 7")
    s = wait_metric(port, lambda s: changes(s, conn, "d") == 1, "the delete counted", conn=conn)
    assert {o: changes(s, conn, o) for o in OPS} == {"c": 2, "u": 3, "d": 1, "t": 0, "r": 5}
    bytes1 = s.get("wal2kafka_change_bytes_total", stream=st, schema="public", table="t")
    assert bytes1 > bytes0 + 6 * 10

    # quiet: everything acknowledged; the acked LSN reaches the server's WAL end
    target = current_wal_lsn(db)
    s = wait_metric(port, lambda s: s.get("wal2kafka_acked_lsn", stream=st) >= target,
                    "acked_lsn >= pg_current_wal_lsn", conn=conn)
    assert s.get("wal2kafka_in_flight_messages", stream=st) == 0
    assert s.get("wal2kafka_server_lsn", stream=st) >= s.get("wal2kafka_acked_lsn", stream=st)
    s = wait_metric(port, lambda s: s.get("wal2kafka_lag_bytes", stream=st) == 0,
                    "lag_bytes 0 when caught up", conn=conn)
    assert s.get("wal2kafka_lag_seconds", stream=st) == 0
    commit_us = round(s.get("wal2kafka_acked_commit_timestamp_seconds", stream=st) * 1e6)
    assert last.t_before_commit - 1 <= commit_us <= last.t_after_commit + 1
    conn.wait_confirmed(last.lsn_after_commit)  # the slot follows at the next status update

    db.execute("TRUNCATE t")
    s = wait_metric(port, lambda s: changes(s, conn, "t") == 1, "the truncate counted", conn=conn)
    assert {o: changes(s, conn, o) for o in OPS} == {"c": 2, "u": 3, "d": 1, "t": 1, "r": 5}
    assert s.get("wal2kafka_reconnects_total", stream=st) == 0
    assert sum(x.value for x in s.series("wal2kafka_errors_total")) == 0
    assert conn.stop() == 0


def test_metrics_http_details(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn, port = start(connectors, db)
    status, body, headers = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert http_get(f"http://127.0.0.1:{port}/metrics", method="HEAD")[0] == 200
    assert http_get(f"http://127.0.0.1:{port}/metrics", method="POST")[0] == 405
    assert http_get(f"http://127.0.0.1:{port}/nothing-here")[0] == 404
    assert conn.stop() == 0


def test_in_flight_and_lag_while_the_broker_is_down(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn, port = start(connectors, db, stream_settings={"snapshot": "never"})
    st = conn.stream
    first = run_txn(db, "INSERT INTO t VALUES (1, 'a')")
    wait_metric(port, lambda s: changes(s, conn, "c") == 1
                and s.get("wal2kafka_in_flight_messages", stream=st) == 0, "first change acked",
                conn=conn)
    conn.wait_confirmed(first.lsn_after_commit)
    kafka.stop()
    try:
        stuck = run_txn(db, "INSERT INTO t VALUES (2, 'b')")
        s = wait_metric(port, lambda s: s.get("wal2kafka_in_flight_messages", stream=st) == 1,
                        "one message in flight", conn=conn)
        # the change waits for the broker: the lag grows, nothing past it is confirmed
        s = wait_metric(port, lambda s: s.get("wal2kafka_lag_seconds", stream=st) >= 1,
                        "lag_seconds >= 1", conn=conn)
        assert s.get("wal2kafka_lag_bytes", stream=st) > 0
        assert s.get("wal2kafka_acked_lsn", stream=st) < stuck.lsn_after_commit
        assert conn.confirmed_lsn() <= stuck.lsn_before_commit
        # WAL that is none of the stream's business (a table outside the publication):
        # the server reports its new WAL end while the change is still in flight
        db.execute("CREATE TABLE unrelated (id int)")
        db.execute("INSERT INTO unrelated VALUES (1)")
        end = current_wal_lsn(db)
        wait_metric(port, lambda s: s.get("wal2kafka_server_lsn", stream=st) >= end,
                    "server_lsn past the unrelated write", conn=conn)
    finally:
        kafka.start()
    s = wait_metric(port, lambda s: s.get("wal2kafka_in_flight_messages", stream=st) == 0,
                    "in-flight back to 0", timeout=120, conn=conn)
    assert changes(s, conn, "c") == 2
    conn.wait_confirmed(stuck.lsn_after_commit)
    # Quiet again: nothing in flight, nothing open. Within a few status intervals
    # (delivery.status_interval_ms = 200 here) the acked LSN must reach the WAL end the
    # server reported, and the lag must be 0, as on any idle stream (docs/metrics.md).
    # (Not longer: PostgreSQL's background writer adds WAL every 15 s, which would hide
    # a stream that only catches up when new WAL arrives.)
    target = current_wal_lsn(db)
    wait_metric(port, lambda s: s.get("wal2kafka_acked_lsn", stream=st) >= target
                and s.get("wal2kafka_lag_bytes", stream=st) == 0
                and s.get("wal2kafka_lag_seconds", stream=st) == 0,
                f"acked_lsn >= pg_current_wal_lsn ({target}) and no lag after the broker "
                "came back", timeout=5, conn=conn)
    assert conn.stop() == 0


def test_health_is_503_while_postgres_is_down_and_reconnects_count(pg, db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn, port = start(connectors, db, stream_settings={"snapshot": "never"})
    st = conn.stream
    assert wait_health(port, 200, 10, conn) == "ok\n"
    pg.stop()
    try:
        body = wait_health(port, 503, 60, conn)
        assert body.startswith(f'stream "{st}" is not streaming: reconnecting: '), body
        s = wait_metric(port, lambda s: s.get("wal2kafka_stream_state", stream=st,
                                              state="reconnecting") == 1,
                        "state reconnecting", conn=conn)
        assert s.get("wal2kafka_streaming", stream=st) == 0
        assert s.get("wal2kafka_errors_total", stream=st, kind="postgres") >= 1
        # still answering 503 a moment later: it keeps retrying, it does not flap to 200
        for _ in range(5):
            status, body, _ = http_get(f"http://127.0.0.1:{port}/health")
            assert status == 503, body
            time.sleep(0.2)
    finally:
        pg.start()
    assert wait_health(port, 200, 90, conn) == "ok\n"
    s = scrape(port)
    assert s.get("wal2kafka_reconnects_total", stream=st) >= 1
    assert s.get("wal2kafka_streaming", stream=st) == 1
    # and it streams again
    txn = run_txn(db, "INSERT INTO t VALUES (1, 'after')")
    wait_metric(port, lambda s: changes(s, conn, "c") == 1, "the insert after the restart",
                conn=conn)
    conn.wait_confirmed(txn.lsn_after_commit)
    assert conn.stop() == 0


def test_a_flooded_metrics_port_never_stalls_streaming(db, kafka, connectors):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn, port = start(connectors, db, stream_settings={"snapshot": "never"})
    run_txn(db, "INSERT INTO t VALUES (0, 'warm-up')")  # creates the topic
    conn.wait_caught_up()

    got: list[float] = []  # per message: receipt time - commit time (ms)
    done = threading.Event()

    def consume():
        c = kafka.consumer(None, **{"enable.auto.commit": False})
        c.assign([TopicPartition(conn.topic("t"), 0, OFFSET_BEGINNING)])
        while not done.is_set():
            m = c.poll(0.05)
            if m is None or m.error() or m.value() is None:
                continue
            # the message's Kafka timestamp is the transaction's commit time
            got.append(time.time() * 1000 - m.timestamp()[1])
        c.close()

    health: list[tuple[float, int | None]] = []

    def poll_health():
        while not done.is_set():
            health.append((time.monotonic(), health_status("127.0.0.1", port)))
            done.wait(0.5)

    threads = [threading.Thread(target=consume, daemon=True),
               threading.Thread(target=poll_health, daemon=True)]
    for th in threads:
        th.start()
    flood = Flood("127.0.0.1", port).start()
    try:
        time.sleep(2)  # the flood is at full strength before the first row
        rows, rate = 200, 20
        t0 = time.monotonic()
        for i in range(1, rows + 1):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            run_txn(db, f"INSERT INTO t VALUES ({i}, 'row {i}')")
        deadline = time.monotonic() + 30
        while len(got) < rows + 1 and time.monotonic() < deadline:
            conn.check_alive()
            time.sleep(0.1)
    finally:
        stats = flood.stop()
        done.set()
        for th in threads:
            th.join(10)
    assert len(got) == rows + 1, f"{len(got) - 1} of {rows} rows arrived; flood {stats}"
    lat = sorted(got[1:])
    p99, worst = lat[int(len(lat) * 0.99) - 1], lat[-1]
    # promptly: the commit-to-receipt time of every row stays far below a second's budget
    # of a loaded 2-core machine, however hard the port is hit
    assert worst < 5000, f"p99 {p99:.0f} ms, max {worst:.0f} ms; flood {stats}"
    # the flood was at work: every slow client, a burst past the limit, each kind of junk
    assert stats["slow_opened"] >= 100 and stats["burst_opened"] >= 200 and \
        stats["junk_sent"] >= 7, stats
    ok = [t for t, st in health if st == 200]
    assert ok, f"/health never answered 200 during the flood: {health[-10:]}"
    gaps = [b - a for a, b in zip([t0 - 2] + ok, ok + [health[-1][0]])]
    assert max(gaps) < 15, f"/health went {max(gaps):.1f} s without answering 200"
    # the endpoint still serves after the flood
    assert http_get(f"http://127.0.0.1:{port}/health")[0] == 200
    assert conn.stop() == 0


def test_metrics_over_tls_with_basic_auth(db, kafka, connectors, pki, tmp_path):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    pw = tmp_path / "metrics-pw"
    pw.write_text("scrape-Pw-1\n")
    pw.chmod(0o600)
    conn = connectors(["public.t"], settings={"metrics": {
        "listen": "127.0.0.1:0", "tls_cert_file": str(pki.server_cert),
        "tls_key_file": str(pki.server_key), "username": "scraper",
        "password_file": str(pw)}})
    conn.start().wait_streaming()
    port = int(conn.wait_log(r"metrics on https://127\.0\.0\.1:(\d+)/metrics").group(1))
    ctx = ssl.create_default_context(cafile=str(pki.ca))

    def get(path, user=None, password=None, context=ctx, scheme="https"):
        req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}")
        if user is not None:
            req.add_header("Authorization", "Basic " + base64.b64encode(
                f"{user}:{password}".encode()).decode())
        try:
            with urllib.request.urlopen(req, timeout=10, context=context) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)

    st, body, _ = get("/metrics", "scraper", "scrape-Pw-1")
    assert st == 200 and "wal2kafka_info" in body, body
    assert get("/health", "scraper", "scrape-Pw-1")[0] == 200
    st, body, headers = get("/metrics")
    assert st == 401 and "wal2kafka_" not in body
    assert headers.get("WWW-Authenticate", "").startswith("Basic"), headers
    assert get("/metrics", "scraper", "wrong")[0] == 401
    assert get("/metrics", "someone", "scrape-Pw-1")[0] == 401
    # a client that does not trust the CA refuses the certificate
    try:
        get("/metrics", "scraper", "scrape-Pw-1", context=ssl.create_default_context())
        raise AssertionError("a certificate from an unknown CA was accepted")
    except urllib.error.URLError as e:
        assert isinstance(e.reason, ssl.SSLCertVerificationError), e
    # plain HTTP on the TLS port gets no metrics
    try:
        st, body, _ = get("/metrics", "scraper", "scrape-Pw-1", context=None, scheme="http")
        assert "wal2kafka_" not in body
    except (urllib.error.URLError, ConnectionError, OSError):
        pass
    assert "scrape-Pw-1" not in conn.log()
    assert conn.stop() == 0
