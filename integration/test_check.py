"""`wal2kafka check --config FILE`: the preflight prints every problem it finds (not only
the first), each followed by its fix, and exits 0 only when streaming can start."""

from __future__ import annotations

import re
import uuid

import pytest

from servers import free_port
from w2k import Connector, run_cli
from w2k_faults import ScratchPostgres

pytestmark = pytest.mark.timeout(300)


def parse(out: str) -> list[dict]:
    """check's report as [{"tag": ok|warn|problem, "text": ..., "fix": ...}] (a fix line
    and its continuation lines belong to the entry above)."""
    entries: list[dict] = []
    for line in out.splitlines():
        m = re.match(r"^(ok|warn|problem|fix)\s+(.*)$", line)
        if m and m.group(1) != "fix":
            entries.append({"tag": m.group(1), "text": m.group(2), "fix": ""})
        elif m:
            assert entries, f"a fix before any finding: {line!r}"
            entries[-1]["fix"] = m.group(2)
        elif line.startswith(" " * 8) and entries and entries[-1]["fix"]:
            entries[-1]["fix"] += " " + line.strip()
    return entries


def problems(entries) -> list[dict]:
    return [e for e in entries if e["tag"] == "problem"]


def find(entries, tag: str, pattern: str) -> dict:
    hits = [e for e in entries if e["tag"] == tag and re.search(pattern, e["text"])]
    assert len(hits) == 1, f"{len(hits)} {tag} entries match /{pattern}/:\n" + "\n".join(
        f"{e['tag']}: {e['text']}" for e in entries)
    return hits[0]


def test_clean_config_passes_and_streaming_starts(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    entries = parse(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not problems(entries)
    if db.pg.server_version_num < 110000:
        # 10 cannot publish TRUNCATE, which the table's operations include: said, with the fix
        warns = [e for e in entries if e["tag"] == "warn"]
        assert len(warns) == 1 and "cannot publish TRUNCATE" in warns[0]["text"], r.stdout
        assert r.stdout.rstrip().endswith(
            "all checks passed (with warnings): streaming can start"), r.stdout
    else:
        assert r.stdout.rstrip().endswith("all checks passed: streaming can start"), r.stdout
    find(entries, "ok", r"wal_level = logical")
    find(entries, "ok", r"role postgres may replicate")
    find(entries, "ok", r"table public\.t: key from its primary key")
    find(entries, "ok", rf"Kafka at {re.escape(kafka.bootstrap)} answers")
    # check's promise holds: run starts streaming
    conn.start().wait_streaming()
    assert conn.stop() == 0
    # and with the slot in place (not active) it still passes
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert r.returncode == 0, r.stdout
    find(parse(r.stdout), "ok", rf"slot {conn.slot} ready")


def test_every_problem_with_its_fix(wal2kafka_bin, db, pg, kafka, tmp_path, topic_prefix):
    """Seven things wrong at once: all reported, each with its fix; exit 4."""
    role = f"r_{uuid.uuid4().hex[:8]}"
    pw = "pw-" + uuid.uuid4().hex[:6]
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{pw}'")  # no REPLICATION
    running = None
    try:
        db.execute("CREATE TABLE ok (id int PRIMARY KEY)")
        db.execute("CREATE TABLE nk (a int, b text)")  # no key, REPLICA IDENTITY DEFAULT
        db.execute("CREATE TABLE secret (id int PRIMARY KEY)")  # no SELECT for the role
        db.execute(f"GRANT SELECT ON ok, nk TO {role}")
        # the stream's slot is in use by another wal2kafka
        running = Connector(wal2kafka_bin, db, kafka, ["public.ok"], topic_prefix,
                            workdir=tmp_path, name="running")
        running.start().wait_streaming()
        active_pid = db.scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                               (running.slot,))
        dead_port = free_port()
        conn = Connector(
            wal2kafka_bin, db, kafka, ["public.ok", "public.absent", "public.nk", "public.secret"],
            topic_prefix, workdir=tmp_path, name="checked", stream=running.stream,
            bootstrap=f"127.0.0.1:{dead_port}",
            settings={"postgresql": {"conninfo": f"host=127.0.0.1 port={db.pg.port} "
                                                 f"dbname={db.name} user={role} sslmode=disable"}},
            env={"PGPASSWORD": pw, "PGUSER": role})
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=conn.env,
                    timeout=120)
        out = r.stdout
        entries = parse(out)
        absent_line = next(i for i, line in enumerate(conn.config_path.read_text().splitlines(), 1)
                           if '"public.absent"' in line)

        expected = [
            (rf"role {role} lacks the REPLICATION attribute", f"ALTER ROLE {role} WITH REPLICATION;"),
            (r"for replication: .*must be superuser or replication role",
             f"ALTER ROLE {role} WITH REPLICATION;"),
            (rf"table public\.absent \(stream {running.stream}\) does not exist",
             f"{conn.config_path}:{absent_line}"),
            (r"table public\.nk has no primary key and REPLICA IDENTITY DEFAULT",
             "ALTER TABLE public.nk REPLICA IDENTITY FULL;"),
            (rf"role {role} may not SELECT from public\.secret", f"GRANT SELECT ON public.secret TO {role};"),
            (rf'replication slot "{running.slot}" is active for PID {active_pid}',
             "give this stream its own slot name"),
            (rf"cannot reach Kafka at 127\.0\.0\.1:{dead_port}", "kafka.bootstrap_servers"),
        ]
        for pattern, fix in expected:
            e = find(entries, "problem", pattern)
            # identifiers may be quoted ("public"."nk"): the same SQL
            assert fix in e["fix"].replace('"', ''), \
                f"problem /{pattern}/: fix {e['fix']!r} lacks {fix!r}"
        assert len(problems(entries)) == len(expected), "\n".join(
            e["text"] for e in problems(entries))
        assert f"{len(expected)} problem(s)" in out and "streaming cannot start" in out, out
        assert r.returncode == 4, (r.returncode, out)
        # every problem comes with a fix
        assert all(e["fix"] for e in problems(entries)), out
        # check changed nothing: no slot, no publication of its own
        assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE database = %s",
                         (db.name,)) == 1
    finally:
        if running is not None:
            running.cleanup()
        db.execute(f"DROP OWNED BY {role}")
        pg.execute(f"DROP ROLE {role}")


def test_server_problems_do_not_hide_the_others(wal2kafka_bin, kafka, tmp_path, topic_prefix):
    """wal_level = replica and no free replication slot on one server, and a missing
    table: three problems, three fixes."""
    with ScratchPostgres(settings={"wal_level": "replica", "max_replication_slots": "0"}) as spg:
        db = spg.create_database("chk")
        db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t", "public.gone"], topic_prefix,
                         workdir=tmp_path)
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        entries = parse(r.stdout)
        e = find(entries, "problem", r"wal_level is replica, but logical decoding needs logical")
        assert "ALTER SYSTEM SET wal_level = logical;" in e["fix"]
        e = find(entries, "problem", r"1 new replication slot\(s\) needed but only 0 free")
        assert "ALTER SYSTEM SET max_replication_slots" in e["fix"]
        e = find(entries, "problem", r"table public\.gone .* does not exist")
        assert "create the table" in e["fix"]
        find(entries, "ok", rf"Kafka at {re.escape(kafka.bootstrap)} answers")
        assert len(problems(entries)) == 3, r.stdout
        assert r.returncode == 4


def test_patterns_are_checked_table_by_table(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """A pattern entry is not a table that "does not exist": check looks at every table it
    takes now (excludes applied) as it would at an entry of its own, and warns when it
    takes none."""
    db.execute("CREATE SCHEMA sales")
    db.execute("CREATE TABLE sales.orders (id int PRIMARY KEY)")
    db.execute("CREATE TABLE sales.lines (a int, b text)")  # no key, REPLICA IDENTITY DEFAULT
    db.execute("CREATE TABLE sales.orders_tmp (a int)")  # excluded
    conn = Connector(wal2kafka_bin, db, kafka, ["sales.*", "nothing.here_*"], topic_prefix,
                     workdir=tmp_path, stream_settings={"exclude": ["sales.*_tmp"]})
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    entries = parse(r.stdout)
    find(entries, "ok", r"table sales\.orders: key from its primary key")
    e = find(entries, "problem", r"table sales\.lines has no primary key and REPLICA IDENTITY DEFAULT")
    assert "ALTER TABLE sales.lines REPLICA IDENTITY FULL;" in e["fix"].replace('"', ''), e
    find(entries, "warn", r"pattern nothing\.here_\* matches no table")
    assert not any("orders_tmp" in e["text"] for e in entries), r.stdout
    assert not any(re.match(r"table .* does not exist", e["text"]) for e in entries), r.stdout
    assert len(problems(entries)) == 1, r.stdout
    assert r.returncode == 4, r.stdout
