"""wal2kafka's log: one line per event, logfmt by default, JSON lines with
log.format = "json", levels that filter, and no secret ever printed.

Proves: every line of a whole run (start, snapshot, changes, stop on SIGTERM) and of a
failing run parses as logfmt with ts (RFC 3339, UTC, ms), level and msg, or with
log.format = "json" as one JSON object per line with the same keys; log.level = warn
prints the warnings and nothing below, error nothing for a run without errors, debug
adds debug lines; and the secrets of a run — the PostgreSQL password (from PGPASSWORD,
and from postgresql.password_file), the schema registry password (from
W2K_REGISTRY_PASSWORD, from schema_registry.password_file, and in the URL), the SASL
password in kafka.properties (SASL/PLAIN: it works with Debian 12's librdkafka, see
test_eco_tls.py for SCRAM) — appear nowhere in stdout/stderr (nor base64-encoded as a
basic-auth header would carry them), in successful runs at debug level (librdkafka's
security/conf debug on too) and in runs where each of them is wrong.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.parse
import uuid

import pytest

from w2k import TopicReader, connectors, run_cli, run_txn, slot_info  # noqa: F401 (fixture)
from w2k_ecosystem import (RegistryDecoder, log_lines, output_bytes, parse_logfmt,  # noqa: F401
                           registry, secure_kafka)

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
LEVELS = {"debug", "info", "warn", "error"}


def check_event(ev: dict, line: str) -> None:
    assert {"ts", "level", "msg"} <= set(ev), f"missing ts/level/msg: {line!r}"
    assert TS.fullmatch(ev["ts"]), f"ts is not RFC 3339 UTC with ms: {line!r}"
    assert ev["level"] in LEVELS, line
    assert isinstance(ev["msg"], str) and ev["msg"], line


def lifecycle(db, connectors, **kw):
    """A whole run: snapshot of 2 rows, 3 changes, SIGTERM. Returns the connector."""
    db.execute("CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t VALUES (1, 'a \"quoted\" value'), (2, E'two\\nlines')")
    conn = connectors(["public.t"], **kw)
    conn.start().wait_streaming()
    run_txn(db, "INSERT INTO t VALUES (3, 'c')")
    run_txn(db, "UPDATE t SET v = 'b' WHERE id = 2")
    run_txn(db, "DELETE FROM t WHERE id = 1")
    conn.wait_caught_up()
    assert conn.stop() == 0
    return conn


def failing_run(db, connectors, **kw):
    """A run that fails at start (a table that does not exist): exit 4."""
    conn = connectors(["public.t", "public.does_not_exist"], **kw)
    conn.start()
    assert conn.wait_exit(60) == 4, conn.log()
    return conn


def parse_all(conn, parse) -> list[dict]:
    evs = []
    for line in log_lines(conn, current=False):
        try:
            ev = parse(line)
        except ValueError as e:
            raise AssertionError(f"not one event per line ({e}):\n{line}\n--- whole output ---\n"
                                 f"{conn.log()}") from None
        check_event(ev, line)
        evs.append(ev)
    return evs


def test_logfmt_by_default(db, kafka, connectors):
    conn = lifecycle(db, connectors, settings={"log": None})  # no log group: the defaults
    evs = parse_all(conn, parse_logfmt)
    msgs = [e["msg"] for e in evs]
    assert any(m.startswith(f"stream {conn.stream}: streaming from slot {conn.slot}") for m in msgs)
    assert "stopped on request" in msgs
    assert {e["level"] for e in evs} <= {"info", "warn"}  # info is the default level


def test_logfmt_also_when_failing(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = failing_run(db, connectors, settings={"log": None})
    evs = parse_all(conn, parse_logfmt)
    assert any(e["level"] == "error" and "does_not_exist" in e["msg"] for e in evs), conn.log()


def _json_line(line: str) -> dict:
    try:
        v = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(str(e)) from None
    if not isinstance(v, dict):
        raise ValueError("not a JSON object")
    return v


def test_json_lines(db, kafka, connectors):
    conn = lifecycle(db, connectors, settings={"log": {"format": "json"}})
    evs = parse_all(conn, _json_line)
    assert any(e["msg"].startswith(f"stream {conn.stream}: streaming from slot")
               for e in evs)
    assert evs[-1]["msg"] == "stopped on request"


def test_json_lines_also_when_failing(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = failing_run(db, connectors, settings={"log": {"format": "json"}})
    evs = parse_all(conn, _json_line)
    assert any(e["level"] == "error" and "does_not_exist" in e["msg"] for e in evs), conn.log()


def test_levels_filter(db, kafka, registry, connectors):
    # a table without a key: wal2kafka warns about it at start
    db.execute("CREATE TABLE k (v text)")
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")

    ids = iter(range(100, 200))

    def run(level, **settings):
        conn = connectors(["public.t", "public.k"], settings={
            "log": {"level": level}, **settings}, name=f"level-{level}")
        conn.start()
        # below info there is no "streaming from slot" line to wait for: wait for the slot
        deadline = time.monotonic() + 60
        while not (slot_info(db, conn.slot) or {}).get("active"):
            conn.check_alive()
            assert time.monotonic() < deadline, conn.log()
            time.sleep(0.05)
        run_txn(db, "INSERT INTO t VALUES (%s, 'x')" % next(ids))
        conn.wait_caught_up()
        assert conn.stop() == 0
        return [parse_logfmt(line) for line in log_lines(conn)]

    warn = run("warn")
    assert {e["level"] for e in warn} == {"warn"}, warn
    assert any("has no primary key" in e["msg"] for e in warn)
    assert run("error") == []
    info = run("info")
    assert {e["level"] for e in info} == {"info", "warn"}
    debug = run("debug", schema_registry={"url": registry.url})
    assert {"debug", "info", "warn"} <= {e["level"] for e in debug}
    assert any(e["level"] == "debug" and e["msg"].startswith("schema registry: ")
               for e in debug), debug


# ------------------------------------------------------------------------- secrets


@pytest.fixture
def login_role(db):
    """A role of its own with a random password: LOGIN REPLICATION, owner of the test's
    tables (so it may create its publication). Dropped afterwards."""
    made = []

    def make(tables):
        name = f"w2k_leak_{uuid.uuid4().hex[:8]}"
        password = f"pg-{uuid.uuid4().hex}"
        db.execute(f"CREATE ROLE {name} LOGIN REPLICATION PASSWORD '{password}'")
        for t in tables:
            db.execute(f"ALTER TABLE {t} OWNER TO {name}")
        # creating its publication needs CREATE on the database (docs/operations.md)
        db.execute(f'GRANT CREATE ON DATABASE "{db.name}" TO {name}')
        made.append(name)
        return name, password

    yield make
    for name in made:
        db.execute(f"REASSIGN OWNED BY {name} TO postgres")
        db.execute(f"DROP OWNED BY {name}")
        db.pg.execute(f"DROP ROLE {name}")


def forms(secret: str, user: str | None = None) -> list[bytes]:
    """The ways a secret could leak: as is, URL-encoded, and inside a basic-auth header."""
    out = [secret.encode(), urllib.parse.quote(secret, safe="").encode()]
    if user is not None:
        out.append(base64.b64encode(f"{user}:{secret}".encode()))
    return out


def assert_no_secret(conn, secrets: dict[str, list[bytes]], extra: bytes = b"") -> None:
    data = output_bytes(conn) + extra
    for what, variants in secrets.items():
        for v in variants:
            assert v not in data, f"the {what} ({v!r}) appears in the output:\n{data.decode()}"


def test_secrets_never_appear_in_the_output(db, kafka, registry, secure_kafka, login_role,
                                            connectors, tmp_path):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    role, pg_password = login_role(["t"])
    reg_user, reg_password = "w2k-registry-user", f"reg-{uuid.uuid4().hex}"
    sasl_password = secure_kafka.sasl_password
    wrong_pg, wrong_sasl = f"wrong-pg-{uuid.uuid4().hex}", f"wrong-sasl-{uuid.uuid4().hex}"
    url_password = f"url-{uuid.uuid4().hex}"
    secrets = {"PostgreSQL password": forms(pg_password),
               "registry password": forms(reg_password, reg_user),
               "SASL password": forms(sasl_password, secure_kafka.sasl_user),
               "wrong PostgreSQL password": forms(wrong_pg),
               "wrong SASL password": forms(wrong_sasl, secure_kafka.sasl_user),
               "registry URL password": forms(url_password, "urluser")}
    (tmp_path / "pgpw").write_text(pg_password + "\n")
    (tmp_path / "regpw").write_text(reg_password + "\n")
    (tmp_path / "pgpw").chmod(0o600)
    (tmp_path / "regpw").chmod(0o600)
    conninfo = (f"host=127.0.0.1 port={db.pg.port} dbname={db.name} user={role} "
                "sslmode=disable")
    sasl_bootstrap = f"127.0.0.1:{secure_kafka.sasl_port}"
    librdkafka_debug = ["debug=security,broker,conf"]
    stream = f"s_{uuid.uuid4().hex[:10]}"  # one stream (one slot) for every run below

    def connector(name, *, pg_env=None, pg_file=False, reg_env=False, reg_file=False,
                  reg_url=None, sasl=sasl_password, level="debug", retry=None):
        env = {"PGPASSWORD": pg_env} if pg_env else {}
        settings = {
            "postgresql": {"conninfo": conninfo,
                           **({"password_file": str(tmp_path / "pgpw")} if pg_file else {})},
            "kafka": {"properties": secure_kafka.sasl_properties(sasl, mechanism="PLAIN")
                      + librdkafka_debug},
            "schema_registry": {"url": reg_url or registry.url, "username": reg_user,
                                **({"password_file": str(tmp_path / "regpw")} if reg_file
                                   else {})},
            "log": {"level": level},
            "retry": retry or {"max_attempts": 0}}
        if reg_env:
            env["W2K_REGISTRY_PASSWORD"] = reg_password
        c = connectors(["public.t"], settings=settings, env=env, name=name,
                       bootstrap=sasl_bootstrap, stream=stream)
        if not pg_env:
            c.env.pop("PGPASSWORD", None)
            c.env["PGPASSFILE"] = str(tmp_path / "no-pgpass")
        return c

    # 1. everything right, passwords from the environment: streams end to end
    a = connector("env", pg_env=pg_password, reg_env=True)
    a.start().wait_streaming()
    run_txn(db, "INSERT INTO t VALUES (1, 'one')")
    with TopicReader(secure_kafka, None, a.topic("t"), decode=False) as r:
        rec = r.read(1, 60)[0]
    dec = RegistryDecoder(registry.url)
    assert dec.value(a.topic("t"), rec.raw_value)["after"] == {"id": 1, "v": "one"}
    a.wait_caught_up()
    assert a.stop() == 0
    assert "level=debug" in a.log() and "SASL" in a.log()  # the debug output was on
    assert_no_secret(a, secrets)

    # 2. passwords from files (same stream, another process)
    b = connector("files", pg_file=True, reg_file=True)
    b.start().wait_streaming()
    run_txn(db, "INSERT INTO t VALUES (2, 'two')")
    b.wait_caught_up()
    assert b.stop() == 0
    assert_no_secret(b, secrets)

    # 3. the registry password inside the URL
    u = urllib.parse.urlsplit(registry.url)
    c = connector("url", pg_env=pg_password,
                  reg_url=f"{u.scheme}://urluser:{url_password}@{u.netloc}{u.path}")
    c.config["schema_registry"].pop("username")
    c.write_config()
    c.start().wait_streaming()
    run_txn(db, "INSERT INTO t VALUES (3, 'three')")
    c.wait_caught_up()
    assert c.stop() == 0
    assert_no_secret(c, secrets)

    # 4. a wrong PostgreSQL password: exit 4, the error says so, no password in it
    d = connector("wrong-pg", pg_env=wrong_pg)
    d.start()
    assert d.wait_exit(60) == 4, d.log()
    assert "password authentication failed" in d.log()
    assert_no_secret(d, secrets)

    # 5. a wrong SASL password: the broker refuses; the error says so
    e = connector("wrong-sasl", pg_env=pg_password, sasl=wrong_sasl,
                  retry={"max_attempts": 2, "initial_backoff_ms": 200, "max_backoff_ms": 500})
    e.start()
    assert e.wait_exit(120) != 0, e.log()
    assert "SASL authentication error: Authentication failed" in e.log(), e.log()
    assert_no_secret(e, secrets)

    # 6. `wal2kafka check` with the wrong passwords prints its findings, no secret
    out = run_cli(a.binary, "check", "--config", e.config_path, env={**e.env}, timeout=120)
    assert out.returncode != 0
    assert_no_secret(e, secrets, (out.stdout + out.stderr).encode())
