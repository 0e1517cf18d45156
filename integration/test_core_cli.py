"""The command line: help, version, exit codes and the errors a user meets at start."""

from __future__ import annotations

import json
import re
import time

from servers import free_port
from w2k import Connector, connectors, final_error, run_cli  # noqa: F401


def test_help_and_version(wal2kafka_bin):
    h = run_cli(wal2kafka_bin, "--help")
    assert h.returncode == 0, h.stderr
    assert h.stderr == ""
    commands = set(re.findall(r"^\s+wal2kafka (\w+)", h.stdout, re.M))
    assert {"run", "slot"} <= commands, h.stdout
    assert "slot show" in h.stdout and "slot drop" in h.stdout
    for cmd in sorted(commands):
        r = run_cli(wal2kafka_bin, cmd, "--help")
        assert r.returncode == 0, (cmd, r.stderr)
        assert r.stdout.startswith("Usage: wal2kafka " + cmd), (cmd, r.stdout)
    # every documented exit code is listed
    for code in range(6):
        assert re.search(rf"^\s+{code}\s+\S", h.stdout, re.M), f"exit code {code} undocumented"
    assert run_cli(wal2kafka_bin, "-h").stdout == h.stdout

    v = run_cli(wal2kafka_bin, "--version")
    assert v.returncode == 0
    assert re.fullmatch(r"wal2kafka \d+\.\d+\.\d+\S*\n", v.stdout), v.stdout


def test_bad_command_lines_exit_2(wal2kafka_bin, tmp_path):
    cfg = tmp_path / "x.cfg"
    cfg.write_text("")
    for args, what in [((), "no command given"),
                       (("frobnicate",), 'unknown command "frobnicate"'),
                       (("run", "--config", str(cfg), "--bogus"), '"--bogus"'),
                       (("run",), "--config FILE is required"),
                       (("run", "--config"), '"--config"'),
                       (("run", "--config", str(cfg), "extra"), 'unexpected argument "extra"'),
                       (("slot", "--config", str(cfg)), "slot needs an action")]:
        r = run_cli(wal2kafka_bin, *args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert what in r.stderr, (args, r.stderr)
        assert r.stderr.startswith("error: "), r.stderr
        assert "Usage" in r.stderr, "the usage follows the error"


def test_config_errors_exit_3_with_file_and_line(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
    text = conn.config_path.read_text()
    lines = text.splitlines()
    # an unknown key inside the delivery group
    idx = next(i for i, l in enumerate(lines) if l.startswith("delivery"))
    lines.insert(idx + 1, "  max_in_flite = 5;")
    bad = tmp_path / "bad.cfg"
    bad.write_text("\n".join(lines) + "\n")
    r = run_cli(wal2kafka_bin, "run", "--config", bad, env=db.env())
    assert r.returncode == 3, r.stderr
    assert f"{bad}:{idx + 2}: " in r.stderr, r.stderr
    assert 'unknown setting "max_in_flite"' in r.stderr
    assert "hint:" in r.stderr and "max_in_flight" in r.stderr, "the hint lists the known settings"

    # a bad value: the line of the value
    bad.write_text(text.replace("status_interval_ms = 200", "status_interval_ms = \"fast\""))
    line = next(i for i, l in enumerate(bad.read_text().splitlines(), 1) if "status_interval_ms" in l)
    r = run_cli(wal2kafka_bin, "run", "--config", bad, env=db.env())
    assert r.returncode == 3 and f"{bad}:{line}: " in r.stderr, r.stderr

    # a syntax error
    bad.write_text(text.replace("delivery = {", "delivery = {{"))
    r = run_cli(wal2kafka_bin, "run", "--config", bad, env=db.env())
    assert r.returncode == 3 and re.search(rf"{re.escape(str(bad))}:\d+", r.stderr), r.stderr

    # a missing file
    r = run_cli(wal2kafka_bin, "run", "--config", tmp_path / "nope.cfg")
    assert r.returncode == 3 and "nope.cfg" in r.stderr, r.stderr


def _missing_table(db, connectors, tables):
    db.execute("CREATE TABLE present (id int PRIMARY KEY)")
    conn = connectors(tables)
    conn.start()
    rc = conn.wait_exit(60)
    log = conn.log()
    assert rc == 4, log
    line = next(i for i, l in enumerate(conn.config_path.read_text().splitlines(), 1)
                if '"public.absent"' in l)
    msg, hint = final_error(log, conn.stream)
    assert msg == (f"stream {conn.stream} stopped: {conn.config_path}:{line}: table public.absent "
                   f'of stream "{conn.stream}" does not exist'), log
    assert re.search(r"create it|fix the name", hint), log
    # nothing was left half set up
    assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                     (conn.slot,)) == 0


def test_missing_table_exits_4_with_a_hint(db, kafka, connectors):
    _missing_table(db, connectors, ["public.absent", "public.present"])


def test_missing_table_error_names_its_line_also_when_last_in_the_list(db, kafka, connectors):
    """The last string of a list, closed on the next line: libconfig reports the line of
    the closing parenthesis for it, the error must still name the table's own line."""
    _missing_table(db, connectors, ["public.present", "public.absent"])


def test_wrong_password_exits_4_and_names_the_password(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = connectors(["public.t"], env={"PGPASSWORD": "not-the-password"})
    conn.start()
    rc = conn.wait_exit(60)
    log = conn.log()
    assert rc == 4, log
    msg, hint = final_error(log, conn.stream)
    assert "password authentication failed" in msg, log
    assert re.search(r"password.*PGPASSWORD", hint), log
    assert "not-the-password" not in log, "the password itself is never logged"


def test_no_password_exits_4(db, kafka, connectors, tmp_path):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = connectors(["public.t"], env={"PGPASSWORD": "", "PGPASSFILE": str(tmp_path / "none")})
    conn.env.pop("PGPASSWORD")
    conn.start()
    rc = conn.wait_exit(60)
    log = conn.log()
    assert rc == 4, log
    msg, hint = final_error(log, conn.stream)
    assert "no password supplied" in msg, log
    assert re.search(r"password.*PGPASSWORD", hint), log


def test_unreachable_broker_gives_up_after_max_attempts(db, kafka, connectors):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    port = free_port()  # nothing listens there
    conn = connectors(["public.t"], bootstrap=f"127.0.0.1:{port}",
                      settings={"retry": {"max_attempts": 1, "initial_backoff_ms": 100,
                                          "max_backoff_ms": 200},
                                "log": {"format": "json"}})
    t0 = time.monotonic()
    conn.start()
    rc = conn.wait_exit(240)
    log = conn.log()
    took = time.monotonic() - t0
    assert rc != 0, log
    assert rc in (1, 5), log
    msg, hint = final_error(log, conn.stream)
    assert f"127.0.0.1:{port}" in msg, "names the broker it could not reach"
    assert re.search(r"check|brokers", hint), log
    assert "retry.max_attempts" in hint, "the hint names the limit that was reached"
    # max_attempts = 1: one retry, then it gives up
    assert len(re.findall(r"retrying in \d+ ms \(attempt \d+\)", log)) == 1, log
    assert re.search(r"giving up after 2 attempts", log), log
    # log.format = json: every line is one JSON object, the final error too
    for line in log.splitlines():
        if line.startswith("=== start"):
            continue
        obj = json.loads(line)  # raises on a line that is not JSON (e.g. raw librdkafka)
        assert set(obj) >= {"ts", "level", "msg"}, line
    print(f"gave up after {took:.1f} s")
