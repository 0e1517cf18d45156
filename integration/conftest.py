"""pytest fixtures for the integration tests: a real PostgreSQL 15 and a real Kafka broker.

Fixtures (see servers.py for the classes' full API):

  pg             session   servers.Postgres: .host .port .user .password .dir
                           .dsn(dbname=, user=, password=, **extra) .socket_dsn() .env()
                           .connect(dbname) .execute(sql, params, dbname) .scalar(...)
                           .psql(sql, dbname) .stop(mode) .restart(mode) .crash() .start()
                           .create_database(name) .drop_database(name) .log_tail()
  kafka          session   servers.Kafka: .bootstrap .port .dir .stop() .kill() .start()
                           .restart() .admin() .create_topic(name, partitions, config)
                           .delete_topic() .topics() .partitions(t) .topic_config(t)
                           .producer(**conf) .consumer(group, **conf)
                           .consume(topic, count=None, timeout=30, group=None) .log_tail()
  db             function  servers.Database: a fresh database named after the test
                           (.name .dsn() .connect() .execute() .scalar() .psql() .env()),
                           dropped afterwards together with its replication slots
  topic_prefix   function  str, unique per test and run, e.g. "t_test_insert_3fa2c1"
  wal2kafka_bin  session   pathlib.Path of build/wal2kafka (env W2K_BIN overrides)

One PostgreSQL and one Kafka serve the whole session; they start on first use, in
fresh /tmp/w2k-* dirs on free ports, and are always stopped and removed at the end,
also when tests fail, on Ctrl-C, SIGTERM or SIGHUP (fixture finalizers + atexit).
Dirs left behind by a SIGKILLed run are reaped when the next session starts.

Environment:
  W2K_PG_PORT (+ W2K_PG_DIR, W2K_PG_PASSWORD)  reuse a running PostgreSQL on 127.0.0.1
  W2K_KAFKA_BOOTSTRAP (+ W2K_KAFKA_DIR)        reuse a running broker
  W2K_BIN          the wal2kafka binary under test
  W2K_PG_VERSION   the PostgreSQL major to start (10-18: a build scripts/setup.sh
                   cached; unset: Debian's 15). The core subset on one major:
                   W2K_PG_VERSION=12 pytest -m pg_matrix integration/ (test_pg_matrix.py)
  W2K_KEEP=1       keep the server dirs (logs) after the session
  W2K_ALLOW_SKIP=1 allow run-time pytest.skip() in integration tests

Every test here is marked `integration`. Integration tests never skip silently: a
run-time pytest.skip() (outside a skip/skipif marker) is reported as a failure.
To leave tests out, deselect them explicitly (-m "not integration", -k, --deselect).
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402
from servers import Kafka, Postgres, database_name, running_kafka, running_postgres  # noqa: E402

HERE = Path(__file__).resolve().parent
_failure_logs: list[tuple[str, str]] = []
_old_handlers: dict = {}


def _in_integration(item) -> bool:
    try:
        return Path(str(item.path)).resolve().is_relative_to(HERE)
    except (AttributeError, ValueError):
        return False


def _signal_to_interrupt(signum, frame):
    # Turn SIGTERM/SIGHUP into what Ctrl-C does: pytest then tears the session
    # down (fixture finalizers stop the servers) and atexit catches the rest.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "integration: needs the real PostgreSQL and Kafka servers (integration/)")
    config.addinivalue_line(
        "markers", "pg_matrix: the core subset run on every PostgreSQL major (W2K_PG_VERSION)")
    config.addinivalue_line(
        "markers", "flink: reads the topics with Apache Flink SQL (PyFlink from scripts/setup.sh)")
    config.addinivalue_line(
        "markers", "failover: a primary and a physical standby (test_failover.py; "
        "scripts/test.sh runs it on 15 and in the pg-matrix step on 16-18)")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            _old_handlers[sig] = signal.signal(sig, _signal_to_interrupt)
        except (ValueError, OSError):  # not the main thread
            pass


def pytest_unconfigure(config):
    for sig, h in _old_handlers.items():
        try:
            signal.signal(sig, h)
        except (ValueError, OSError, TypeError):
            pass
    servers.cleanup_all()


def pytest_sessionstart(session):
    reaped = servers.reap_stale_dirs()
    if reaped:
        print(f"\nconftest: removed {len(reaped)} server dir(s) left by dead runs: "
              + ", ".join(map(str, reaped)))


def pytest_collection_modifyitems(config, items):
    from test_pg_matrix import is_reused
    for item in items:
        if _in_integration(item):
            item.add_marker(pytest.mark.integration)
            rel = item.nodeid.split("integration/", 1)[-1]
            if is_reused(rel):
                item.add_marker(pytest.mark.pg_matrix)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    if (rep.skipped and not hasattr(rep, "wasxfail") and _in_integration(item)
            and os.environ.get("W2K_ALLOW_SKIP") != "1"
            and not any(item.iter_markers("skip")) and not any(item.iter_markers("skipif"))):
        reason = ""
        if call.excinfo is not None:
            reason = str(getattr(call.excinfo.value, "msg", call.excinfo.value))
        rep.outcome = "failed"
        rep.longrepr = (f"integration test skipped at run time ({reason}): integration tests must "
                        "run or fail. Deselect explicitly (-m 'not integration', -k, --deselect), "
                        "use a skipif marker, or set W2K_ALLOW_SKIP=1.")
    return rep


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for title, text in _failure_logs:
        terminalreporter.section(title)
        terminalreporter.write(text)


def _remember_logs(request, server, name: str) -> None:
    if request.session.testsfailed and server.dir is not None:
        _failure_logs.append((f"{name} log tail ({server.log_file})", server.log_tail(60)))


@pytest.fixture(scope="session")
def pg(request) -> Postgres:
    server = running_postgres()
    if server:
        port = server.port
        try:
            server.scalar("select 1")
        except Exception as e:
            pytest.fail(f"W2K_PG_PORT={port}: cannot connect to 127.0.0.1:{port} as postgres "
                        f"(W2K_PG_PASSWORD): {e}", pytrace=False)
        yield server
        return
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        _remember_logs(request, server, "PostgreSQL")
        server.destroy()


@pytest.fixture(scope="session")
def kafka(request) -> Kafka:
    server = running_kafka()
    if server:
        bootstrap = server.bootstrap
        try:
            server.topics(timeout=15)
        except Exception as e:
            pytest.fail(f"W2K_KAFKA_BOOTSTRAP={bootstrap}: broker unreachable: {e}", pytrace=False)
        yield server
        return
    server = Kafka()
    try:
        server.start()
        yield server
    finally:
        _remember_logs(request, server, "Kafka")
        server.destroy()


@pytest.fixture
def db(pg, request):
    """A fresh database for this test, dropped (with its slots) afterwards."""
    database = pg.create_database(database_name(request.node.name))
    yield database
    database.drop()


@pytest.fixture
def topic_prefix(request) -> str:
    """A topic prefix unique to this test and run (topics of a reused broker persist)."""
    return f"{database_name(request.node.name)[:40].rstrip('_')}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def wal2kafka_bin() -> Path:
    path = Path(os.environ.get("W2K_BIN") or HERE.parent / "build" / "wal2kafka")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"the wal2kafka binary is missing at {path}: build it (scripts/setup.sh, or "
                    "cmake --build build) or point W2K_BIN at it", pytrace=False)
    return path.resolve()
