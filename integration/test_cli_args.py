"""Bad arguments to every command (issue 17, item 5), table driven.

Proves: each command (run, check, snapshot, slot, ddl, history, state) given a
malformed, out-of-range or contradictory option value exits with its documented code
(2 bad command line or option value, 3 bad configuration) and a message that names the
value and the accepted forms, before it connects to anything (the configuration points
at closed ports, so a case that tried to connect would fail differently or hang). Also:
`state --at` and `history --since` a time that has not happened yet are refused (exit 2)
with the current time, as documented in --help and docs/operations.md.
"""

from __future__ import annotations

import re

import pytest

from w2k import run_cli

CFG = """postgresql = { conninfo = "host=127.0.0.1 port=1 dbname=x user=x"; };
kafka = { bootstrap_servers = "127.0.0.1:1"; };
streams = ( { name = "s"; topic_prefix = "p"; tables = ( "public.t" ); } );
"""

C = "@CFG"  # replaced by the configuration's path
H = ["history", "--config", C, "--table", "t", "--key", "id=1"]
S = ["state", "--config", C, "--table", "t"]

# (argv, exit code, regexes the output must match)
CASES = [
    ([], 2, [r"no command given"]),
    (["frobnicate"], 2, [r'unknown command "frobnicate"', r"wal2kafka run"]),
    (["run"], 2, [r"--config FILE is required"]),
    (["run", "--config", "/nonexistent/w.cfg"], 3, [r"/nonexistent/w\.cfg"]),
    (["run", "--config", C, "--bogus"], 2, [r'unknown or incomplete option "--bogus"']),
    (["run", "--config"], 2, [r'incomplete option "--config"']),
    (["run", "--config", C, "extra"], 2, [r'unexpected argument "extra"']),
    (["run", "--config", C, "--table", "public.t"], 2, [r"run takes no --table"]),
    (["run", "--config", C, "--stream", "s"], 2, [r"run takes no --stream"]),
    (["check", "--config", C, "--table", "t"], 2, [r"check takes no --table"]),
    (["check"], 2, [r"--config FILE is required"]),
    (["snapshot", "--config", C], 2, [r"snapshot needs --table SCHEMA\.TABLE"]),
    (["snapshot", "--config", C, "--table", "t"], 2, [r"--table t is not of the form schema\.table"]),
    (["snapshot", "--config", C, "--table", ".t"], 2, [r"--table \.t is not of the form"]),
    (["snapshot", "--config", C, "--table", "public."], 2, [r"--table public\. is not of the form"]),
    (["snapshot", "--config", C, "--table", "public.t", "--stream", "nope"], 2,
     [r'no stream named "nope"']),
    (["slot", "--config", C], 2, [r"slot needs an action: show or drop"]),
    (["slot", "frob", "--config", C], 2, [r'unknown slot action "frob": expected show or drop']),
    (["slot", "drop", "--config", C], 2, [r"slot drop needs --stream NAME"]),
    (["slot", "drop", "--config", C, "--stream", "nope"], 2, [r'no stream named "nope"']),
    (["slot", "show", "--config", C, "--table", "t"], 2, [r"slot show takes no --table"]),
    (["ddl", "--config", C], 2, [r"ddl needs an action: install or remove"]),
    (["ddl", "drop", "--config", C], 2, [r'unknown ddl action "drop": expected install or remove']),
    (["ddl", "install", "--config", C, "--stream", "s"], 2, [r"ddl install takes no --stream"]),
    (["history", "--config", C, "--table", "t"], 2, [r"history needs --key COL=VALUE"]),
    (["history", "--config", C, "--key", "id=1"], 2, [r"--table SCHEMA\.TABLE is required"]),
    (["history", "--table", "t", "--key", "id=1"], 2, [r"--config FILE is required"]),
    (H[:-1] + ["id"], 2, [r"--key id: expected col=value"]),
    (H + ["--since", "yesterday"], 2, [r"--since yesterday: expected a duration .*ISO 8601"]),
    (H + ["--since", "2h5"], 2, [r"--since 2h5: expected a duration"]),
    (H + ["--until", "2024-13-01"], 2, [r"--until 2024-13-01: expected"]),
    (H + ["--since", "2024-05-01T25:00"], 2, [r"--since 2024-05-01T25:00: expected HH:MM"]),
    (H + ["--since", "@abc"], 2, [r"--since @abc: expected @SECONDS"]),
    (H + ["--since", "1h", "--until", "2h"], 2, [r"--since 1h is after --until 2h"]),
    (H + ["--since", "2999-01-01"], 2, [r"--since 2999-01-01: that moment has not happened yet "
                                        r"\(now is \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)"]),
    (H + ["--since", "@99999999999"], 2, [r"not happened yet"]),
    (H + ["--at", "1h"], 2, [r"history takes --since/--until, not --at"]),
    (H + ["--format", "xml"], 2, [r"--format xml: expected table or json"]),
    (H + ["--stream", "nope"], 2, [r'no stream named "nope"']),
    (H + ["stray"], 2, [r'unexpected argument "stray"']),
    (S + ["--since", "1h"], 2, [r"state takes --at TIME, not --since/--until"]),
    (S + ["--at", "soon"], 2, [r"--at soon: expected a duration"]),
    (S + ["--at", "2999-01-01T00:00"], 2, [r"--at 2999-01-01T00:00: that moment has not "
                                           r"happened yet \(now is "]),
    (S + ["--at", "-1h"], 2, [r"--at -1h: (expected|that moment has not happened yet)"]),
    (S + ["--format", "csv"], 2, [r"--format csv: expected table or json"]),
    (S + ["--key", "id"], 2, [r"--key id: expected col=value"]),
    (S + ["--stream", "nope"], 2, [r'no stream named "nope"']),
]


@pytest.mark.parametrize("argv,code,patterns", CASES,
                         ids=[" ".join(a) or "(none)" for a, _, _ in CASES])
def test_bad_argument(wal2kafka_bin, tmp_path, argv, code, patterns):
    cfg = tmp_path / "w.cfg"
    cfg.write_text(CFG)
    args = [str(cfg) if a == C else a for a in argv]
    out = run_cli(wal2kafka_bin, *args, timeout=30)
    text = out.stdout + out.stderr
    assert out.returncode == code, f"exit {out.returncode}, want {code}:\n{text}"
    for p in patterns:
        assert re.search(p, text), f"{p!r} not in:\n{text}"
    assert "error:" in out.stderr, text
    assert "librdkafka" not in text and "PostgreSQL at" not in text, text  # nothing connected


@pytest.mark.parametrize("cmd", ["history", "state"])
def test_future_times_are_documented(wal2kafka_bin, cmd):
    out = run_cli(wal2kafka_bin, cmd, "--help")
    assert out.returncode == 0
    assert "has not" in out.stdout and "happened yet is refused (exit 2)" in \
        out.stdout.replace("\n", " ").replace("             ", ""), out.stdout
