"""Secrets on disk and in the output (issue 17, item 6).

Proves: a password file (postgresql.password_file, schema_registry.password_file,
metrics.password_file) that its group or others may read is refused before anything
connects, exit 3, with a message naming the setting and the path and the `chmod 600` to
run, the password itself never shown; an owner-only file is accepted. And with every
secret set to one marker string -- the PostgreSQL password (password file), the schema
registry password (password file), the SASL password in kafka.properties, the metrics
basic-auth password -- a whole run (streaming, scrapes with right, wrong and no
credentials, stop), `check`, `history`, `state`, and failing runs (wrong PostgreSQL
password, wrong metrics password file mode) never print the marker (as is, URL-encoded,
or base64 inside a basic-auth header) in stdout/stderr, in /metrics or /health.
"""

from __future__ import annotations

import base64
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from w2k import connectors, run_cli, run_txn  # noqa: F401 (fixture)
from w2k_ecosystem import RegistryDecoder, output_bytes, registry  # noqa: F401


def forms(secret: str, user: str) -> list[bytes]:
    return [secret.encode(), urllib.parse.quote(secret, safe="").encode(),
            base64.b64encode(f"{user}:{secret}".encode())]


def http_get(url: str, user: str | None = None, password: str | None = None):
    req = urllib.request.Request(url)
    if user is not None:
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


CFG = """postgresql = {{ conninfo = "host=127.0.0.1 port=1 dbname=x user=x"; {pg} }};
kafka = {{ bootstrap_servers = "127.0.0.1:1"; }};
{reg}
metrics = {{ listen = "127.0.0.1:0"; {met} }};
retry = {{ max_attempts = 1; initial_backoff_ms = 10; }};
streams = ( {{ name = "s"; topic_prefix = "p"; tables = ( "public.t" ); }} );
"""


@pytest.mark.parametrize("setting", ["postgresql", "schema_registry", "metrics"])
def test_password_file_open_to_others_is_refused(wal2kafka_bin, tmp_path, setting):
    marker = f"marker-{uuid.uuid4().hex}"
    pw = tmp_path / "pw"
    pw.write_text(marker + "\n")
    pg = f'password_file = "{pw}";' if setting == "postgresql" else ""
    reg = ('schema_registry = { url = "http://127.0.0.1:1"; username = "u"; '
           f'password_file = "{pw}"; }};' if setting == "schema_registry" else "")
    met = f'username = "u"; password_file = "{pw}";' if setting == "metrics" else ""
    cfg = tmp_path / "w.cfg"
    cfg.write_text(CFG.format(pg=pg, reg=reg, met=met))
    commands = [["run"]] + ([["check"], ["slot", "show"]] if setting == "postgresql" else []) \
        + ([["history", "--table", "t", "--key", "id=1"], ["state", "--table", "t"]]
           if setting == "schema_registry" else [])
    for mode in (0o644, 0o640, 0o604, 0o660, 0o622, 0o700 | 0o040):
        pw.chmod(mode)
        for cmd in commands:
            out = run_cli(wal2kafka_bin, *cmd, "--config", cfg, timeout=60)
            text = out.stdout + out.stderr
            assert marker not in text
            if cmd == ["check"]:  # check reports it as a finding
                assert out.returncode != 0, text
            else:
                assert out.returncode == 3, (cmd, text)
            assert f"{setting}.password_file" in text, (cmd, text)
            assert str(pw) in text and "group or others" in text, (cmd, text)
            assert f"chmod 600 {pw}" in text, (cmd, text)
    pw.chmod(0o600)  # owner-only: accepted (the run goes on to fail for another reason)
    with open(tmp_path / "ok.log", "wb") as logf:
        p = subprocess.Popen([str(wal2kafka_bin), "run", "--config", str(cfg)], stdout=logf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            p.wait(3)
        except subprocess.TimeoutExpired:
            p.terminate()
            p.wait(60)
    text = (tmp_path / "ok.log").read_text()
    assert "group or others" not in text and marker not in text, text
    assert "metrics endpoint listening" in text, text


def test_every_secret_set_to_a_marker_never_shows(db, kafka, registry, connectors, tmp_path,
                                                  wal2kafka_bin):
    marker = f"Sekr3t-{uuid.uuid4().hex}"
    role = f"w2k_sec_{uuid.uuid4().hex[:8]}"
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute(f"CREATE ROLE {role} LOGIN REPLICATION PASSWORD '{marker}'")
    db.execute(f"ALTER TABLE t OWNER TO {role}")
    db.execute(f'GRANT CREATE ON DATABASE "{db.name}" TO {role}')
    try:
        _run_with_marker(db, kafka, registry, connectors, tmp_path, wal2kafka_bin, marker, role)
    finally:
        db.execute(f"REASSIGN OWNED BY {role} TO postgres")
        db.execute(f"DROP OWNED BY {role}")
        db.pg.execute(f"DROP ROLE {role}")


def _run_with_marker(db, kafka, registry, connectors, tmp_path, wal2kafka_bin, marker, role):
    secrets = forms(marker, role) + forms(marker, "w2k-reg") + forms(marker, "scraper") \
        + forms(marker, "sasl-user")
    for name in ("pgpw", "regpw", "metpw"):
        (tmp_path / name).write_text(marker + "\n")
        (tmp_path / name).chmod(0o600)
    settings = {
        "postgresql": {"conninfo": f"host=127.0.0.1 port={db.pg.port} dbname={db.name} "
                                   f"user={role} sslmode=disable",
                       "password_file": str(tmp_path / "pgpw")},
        # SASL settings the plaintext broker never uses: they must still never be printed
        "kafka": {"properties": ["sasl.username=sasl-user", f"sasl.password={marker}",
                                 "debug=conf"]},
        "schema_registry": {"url": registry.url, "username": "w2k-reg",
                            "password_file": str(tmp_path / "regpw")},
        "metrics": {"listen": "127.0.0.1:0", "username": "scraper",
                    "password_file": str(tmp_path / "metpw")},
        "log": {"level": "debug"}}
    c = connectors(["public.t"], settings=settings, name="marker")
    c.env.pop("PGPASSWORD", None)
    c.env["PGPASSFILE"] = str(tmp_path / "no-pgpass")
    c.start().wait_streaming()
    port = int(c.wait_log(r"metrics on https?://127\.0\.0\.1:(\d+)/metrics").group(1))
    run_txn(db, "INSERT INTO t VALUES (1, 'one')")
    c.wait_caught_up()
    base = f"http://127.0.0.1:{port}"
    scraped = b""
    for path in ("/metrics", "/health"):
        status, body, headers = http_get(base + path)
        assert status == 401 and "WWW-Authenticate" in headers, (status, headers)
        scraped += body
        status, body, _ = http_get(base + path, "scraper", marker + "x")
        assert status == 401
        scraped += body
        status, body, _ = http_get(base + path, "scraper", marker)
        assert status == 200, (path, status, body)
        scraped += body
    assert b"wal2kafka_changes_total" in scraped
    assert c.stop() == 0
    outputs = output_bytes(c) + scraped
    env = {k: v for k, v in c.env.items() if k != "PGPASSWORD"}
    for cmd in (["check"], ["slot", "show"], ["history", "--table", "t", "--key", "id=1"],
                ["state", "--table", "t"], ["state", "--table", "t", "--key", "id=2"]):
        out = run_cli(wal2kafka_bin, *cmd, "--config", c.config_path, env=env, timeout=120)
        outputs += (out.stdout + out.stderr).encode()
        if cmd[0] == "history":
            assert out.returncode == 0 and "one" in out.stdout, out.stdout + out.stderr
    # failing runs: a wrong PostgreSQL password, a metrics password file open to others
    (tmp_path / "pgpw").write_text(marker + "-wrong\n")
    c.config["retry"] = {"max_attempts": 1, "initial_backoff_ms": 100}
    c.write_config()
    c.start()
    assert c.wait_exit(60) == 4
    (tmp_path / "pgpw").write_text(marker + "\n")
    (tmp_path / "metpw").chmod(0o644)
    c.start()
    assert c.wait_exit(60) == 3
    outputs += output_bytes(c)
    assert b"password authentication failed" in outputs
    assert b"metrics.password_file" in outputs
    for v in secrets:
        assert v not in outputs, f"{v!r} appears in the output:\n{outputs.decode()}"
