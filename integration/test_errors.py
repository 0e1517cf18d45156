"""Errors that say what to do: each one provoked against real servers, and the message
must name the cause and the exact fix (the SQL, command or setting to change).

  error                                          test
  wal_level not logical                          test_wal_level_replica
  role lacking REPLICATION                       test_role_without_replication
  role may not create the publication            test_role_may_not_create_the_publication
  role lacking SELECT                            test_role_without_select
  wrong password                                 test_core_cli.py::test_wrong_password_exits_4_and_names_the_password
  database missing                               test_database_missing
  table missing                                  test_core_cli.py::test_missing_table_exits_4_with_a_hint
  slot active in another process                 test_slot_active_in_another_process
  slot invalidated (max_slot_wal_keep_size)      test_slot_invalidated
  slot dropped under us                          test_slot_dropped_while_streaming
  publication dropped while streaming            test_publication_dropped_while_streaming
  publication altered while streaming            test_publication_altered_while_streaming
  publication altered while stopped              test_publication_altered_while_stopped
  another set of operations' publication altered test_publication_of_other_operations_altered
  table without key, REPLICA IDENTITY DEFAULT    test_table_without_key_default_identity
  table dropped while streaming                  test_table_dropped_while_streaming
  max_replication_slots exhausted                test_replication_slots_exhausted
  broker unreachable at start                    test_core_cli.py::test_unreachable_broker_gives_up_after_max_attempts
  topic authorization failure                    test_topic_authorization_failure
  message larger than the broker's limit         test_message_too_large
  retained WAL near max_slot_wal_keep_size       test_retained_wal_warning
  failover: another system identifier            test_failover_other_system_identifier

Throwaway servers (ScratchPostgres, a broker with an authorizer) where the error needs
settings the shared servers must not have.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from servers import database_name, free_ports
from w2k import (Connector, ConnectorDied, Decoder, check_versions, connectors, consume,  # noqa: F401
                 current_wal_lsn, final_error, format_lsn, log_events, parse_lsn, run_cli,
                 slot_info)
from w2k_faults import (MultiWriter, ScratchPostgres, create_versioned_tables, final_versions,
                        rig, start_kafka, wait_until)  # noqa: F401

pytestmark = pytest.mark.timeout(600)


def exits_with(conn: Connector, code: int, timeout: float = 120) -> str:
    """Start conn, wait for its exit with `code`; returns the log of this run."""
    conn.start()
    rc = conn.wait_exit(timeout)
    log = conn.log(current=True)
    assert rc == code, f"exit {rc}, expected {code}\n{log}"
    return log


# the final error event's (msg, hint); test_publication_altered_while_streaming's name
report = final_error


def unquoted(sql: str) -> str:
    """SQL with identifier quotes dropped: "public"."t" and public.t are the same fix."""
    return sql.replace('"', "")


@pytest.fixture
def role(db, pg):
    """A factory of login roles (name unique to the test) with a password; dropped after."""
    made = []

    def make(*attrs: str) -> tuple[str, str]:
        name = f"r_{uuid.uuid4().hex[:8]}"
        pw = "pw-" + uuid.uuid4().hex[:8]
        pg.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{pw}' {' '.join(attrs)}")
        made.append(name)
        return name, pw

    yield make
    for name in made:
        db.execute(f"DROP OWNED BY {name}")
        pg.execute(f"DROP ROLE {name}")


def as_role(db, kafka, tables, prefix, tmp_path, user, pw, **kw) -> Connector:
    return Connector(
        kw.pop("binary"), db, kafka, tables, prefix, workdir=tmp_path,
        settings={"postgresql": {"conninfo": f"host=127.0.0.1 port={db.pg.port} "
                                             f"dbname={db.name} user={user} sslmode=disable"},
                  "retry": {"max_attempts": 1, "initial_backoff_ms": 100}, **kw.pop("settings", {})},
        env={"PGPASSWORD": pw, "PGUSER": user}, **kw)


# --------------------------------------------------------------------- PostgreSQL


def test_wal_level_replica(wal2kafka_bin, kafka, tmp_path, topic_prefix):
    with ScratchPostgres(settings={"wal_level": "replica"}) as spg:
        db = spg.create_database("wl")
        db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
        log = exits_with(conn, 4)
        err, hint = final_error(log, conn.stream)
        assert "wal_level is replica, but logical decoding needs logical" in err
        assert "ALTER SYSTEM SET wal_level = logical;" in hint
        assert "restart PostgreSQL" in hint


def test_role_without_replication(wal2kafka_bin, db, kafka, tmp_path, topic_prefix, role):
    user, pw = role()  # no REPLICATION
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute(f"ALTER TABLE t OWNER TO {user}")  # it may create the publication
    db.execute(f'GRANT CREATE ON DATABASE "{db.name}" TO {user}')
    conn = as_role(db, kafka, ["public.t"], topic_prefix, tmp_path, user, pw, binary=wal2kafka_bin)
    log = exits_with(conn, 4)
    err, hint = final_error(log, conn.stream)
    assert "for replication" in err and "must be superuser or replication role" in err, err
    assert f"ALTER ROLE {user} WITH REPLICATION;" in hint


def test_role_may_not_create_the_publication(wal2kafka_bin, db, kafka, tmp_path, topic_prefix,
                                              role):
    """A REPLICATION role that owns the table but lacks CREATE on the database: PostgreSQL
    refuses CREATE PUBLICATION. The message must say that (not blame the table) and give
    the GRANT, or the statement for an administrator to run."""
    user, pw = role("REPLICATION")
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute(f"ALTER TABLE t OWNER TO {user}")
    conn = as_role(db, kafka, ["public.t"], topic_prefix, tmp_path, user, pw, binary=wal2kafka_bin)
    log = exits_with(conn, 4)
    err, hint = final_error(log, conn.stream)
    assert f"permission denied for database {db.name}" in err, err
    assert (f"GRANT CREATE ON DATABASE {db.name} TO {user};" in unquoted(hint)
            or f"CREATE PUBLICATION {conn.publication} FOR TABLE public.t" in unquoted(hint)), hint


def test_role_without_select(wal2kafka_bin, db, kafka, tmp_path, topic_prefix, role):
    """A REPLICATION role that may not read the table (the administrator created the
    publication): the initial snapshot is refused; the fix is the GRANT."""
    user, pw = role("REPLICATION")
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1)")
    conn = as_role(db, kafka, ["public.t"], topic_prefix, tmp_path, user, pw, binary=wal2kafka_bin)
    db.execute(f'CREATE PUBLICATION "{conn.publication}" FOR TABLE t')
    log = exits_with(conn, 4)
    err, hint = final_error(log, conn.stream)
    assert "permission denied for table t" in err, err
    assert f"GRANT SELECT ON public.t TO {user};" in unquoted(err + " " + hint), hint


def test_database_missing(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                     settings={"postgresql": {"conninfo": f"host=127.0.0.1 port={db.pg.port} "
                                                          f"dbname=no_such_db user=postgres"}})
    log = exits_with(conn, 4)
    err, hint = final_error(log, conn.stream)
    assert 'database "no_such_db" does not exist' in err
    assert "CREATE DATABASE no_such_db;" in hint
    assert "postgresql.conninfo" in hint


def test_slot_active_in_another_process(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    first = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                      name="first")
    second = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                       name="second", stream=first.stream,
                       settings={"retry": {"max_attempts": 2, "initial_backoff_ms": 100,
                                           "max_backoff_ms": 200}})
    try:
        first.start().wait_streaming()
        pid = slot_info(db, first.slot)["active_pid"]
        log = exits_with(second, 1)
        err, hint = final_error(log, second.stream)
        assert f'replication slot "{first.slot}" is active for PID {pid}' in err
        assert "stop it, or give this stream its own slot name" in hint
        assert "retry.max_attempts" in hint
        # the first one was not disturbed
        db.execute("INSERT INTO t VALUES (1)")
        first.wait_caught_up()
        assert first.stop() == 0
    finally:
        first.cleanup()
        second.cleanup()


def _fill_wal_until_lost(db, slot: str, timeout: float = 120) -> None:
    db.execute("CREATE TABLE filler (id bigserial PRIMARY KEY, pad text)")

    def lost():
        db.execute("INSERT INTO filler (pad) SELECT repeat(md5(i::text), 30) "
                   "FROM generate_series(1, 20000) i")
        db.execute("SELECT pg_switch_wal()")
        db.execute("CHECKPOINT")
        return db.scalar("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s",
                         (slot,)) == "lost"
    wait_until(lost, timeout, f"slot {slot} was not invalidated", interval=0)


def test_slot_invalidated(wal2kafka_bin, kafka, tmp_path, topic_prefix):
    """max_slot_wal_keep_size = 32MB and 100+ MB of WAL while wal2kafka is stopped: the
    slot is lost. wal2kafka stops and says how to start over; with on_slot_lost =
    "recreate" it drops the slot and takes a new snapshot, announced."""
    with ScratchPostgres(settings={"max_slot_wal_keep_size": "32MB",
                                   "wal_keep_size": "0"}) as spg:
        db = spg.create_database("inv")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t VALUES (1, 'a')")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
        conn.start().wait_streaming()
        conn.wait_caught_up()
        assert conn.stop() == 0
        db.execute("INSERT INTO t VALUES (2, 'lost while stopped')")
        _fill_wal_until_lost(db, conn.slot)

        log = exits_with(conn, 4)
        err, hint = final_error(log, conn.stream)
        assert f'replication slot "{conn.slot}" was invalidated' in err
        assert "changes since it last confirmed are gone" in err
        assert "max_slot_wal_keep_size" in hint
        # the fix it names is the one applied below, which must then work as printed
        # (dropping the slot by hand is not enough: the stream's record in <prefix>.state
        # would then stop it as a slot that vanished)
        fix = f'on_slot_lost = "recreate" for stream {conn.stream}'
        assert fix in hint, hint
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert r.returncode == 4 and "was invalidated" in r.stdout, r.stdout
        assert fix in r.stdout, r.stdout

        conn.config["streams"][0]["on_slot_lost"] = "recreate"
        conn.write_config()
        conn.start().wait_streaming(120)
        assert re.search(rf"slot {conn.slot} was invalidated; dropping it and starting over "
                         r"\(on_slot_lost = recreate\)", conn.log(current=True))
        conn.wait_caught_up()
        recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("t"), to_end=True)
        snap = [r for r in recs if r.op == "r"]
        # the first snapshot read row 1; the new one reads both rows
        assert sorted(r.key["id"] for r in snap) == [1, 1, 2]
        assert conn.stop() == 0


def test_slot_dropped_while_streaming(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
    try:
        conn.start().wait_streaming()
        db.execute("INSERT INTO t VALUES (1)")
        conn.wait_caught_up()

        def dropped():
            db.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                       "WHERE slot_name = %s AND active", (conn.slot,))
            try:
                db.execute("SELECT pg_drop_replication_slot(%s)", (conn.slot,))
                return True
            except Exception:
                return False  # wal2kafka was back first: again
        wait_until(dropped, 30, "could not drop the slot", interval=0.01)
        rc = conn.wait_exit(60)
        log = conn.log(current=True)
        assert rc == 4, log
        err, hint = final_error(log, conn.stream)
        assert f'replication slot "{conn.slot}" is gone' in err
        assert "changes made since wal2kafka last confirmed may be lost" in err
        assert f'on_slot_lost = "recreate" for stream {conn.stream}' in hint
        assert slot_info(db, conn.slot) is None, "it did not silently create a new slot"
    finally:
        conn.cleanup()


def test_replication_slots_exhausted(wal2kafka_bin, kafka, tmp_path, topic_prefix):
    with ScratchPostgres(settings={"max_replication_slots": "2"}) as spg:
        db = spg.create_database("slots")
        db.execute("CREATE TABLE t (id int PRIMARY KEY)")
        for i in range(2):
            db.execute(f"SELECT pg_create_logical_replication_slot('other_{i}', 'pgoutput')")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path)
        log = exits_with(conn, 4)
        err, hint = final_error(log, conn.stream)
        assert "all replication slots are in use" in err
        assert "ALTER SYSTEM SET max_replication_slots" in hint
        assert "pg_drop_replication_slot" in hint


def test_publication_dropped_while_streaming(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """DROP PUBLICATION under a running stream, while changes go on. PostgreSQL 15 looks
    the publication up as of each change it decodes, so with this slot it can never
    decode the changes committed after the drop, not even once the publication exists
    again: no run gets past the drop. wal2kafka must not lose those changes silently: it
    stops, naming the publication and what to do; it confirmed nothing past the drop;
    the topic holds every change made before the drop and none made after; and a restart
    (as an operator or a supervisor would do) stops the same way."""
    create_versioned_tables(db, ["pa"], 5)
    conn = Connector(wal2kafka_bin, db, kafka, ["public.pa"], topic_prefix, workdir=tmp_path,
                     settings={"retry": {"max_attempts": 3, "initial_backoff_ms": 100,
                                         "max_backoff_ms": 300}})
    w = None
    try:
        conn.start().wait_streaming()
        w = MultiWriter(db, ["pa"], 5, rate=50).start()
        w.wait_more(50)
        # Writes wait on a lock while the versions are read and the publication is
        # dropped: `before` is exactly what was committed before the drop, and no write
        # commits before drop_end (the WAL position just after the drop).
        with db.connect() as locker, db.connect() as dropper:
            with locker.transaction():
                locker.execute("LOCK TABLE pa IN SHARE ROW EXCLUSIVE MODE")
                before = dict(locker.execute("SELECT id, version FROM pa").fetchall())
                dropper.execute("SET lock_timeout = '20s'")
                dropper.execute(f'DROP PUBLICATION "{conn.publication}"')
                drop_end = parse_lsn(
                    dropper.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0])
        w.wait_more(50)
        w.stop()
        assert final_versions(db, "pa") != before, "no change was made after the drop"

        def stops_at_the_drop(run: str) -> int:
            rc = conn.wait_exit(120)
            log = conn.log(current=True)
            assert rc == 4, f"{run}: exit {rc}, expected 4\n{log}"
            err, hint = final_error(log, conn.stream)
            assert f'publication "{conn.publication}" does not exist' in err, f"{run}: {err}"
            assert "the publication was dropped while the stream ran" in hint, f"{run}: {hint}"
            assert f"wal2kafka slot drop --config {conn.config_path} --stream {conn.stream}" \
                in hint, f"{run}: {hint}"
            assert f'on_slot_lost = "recreate" for stream {conn.stream}' in hint, f"{run}: {hint}"
            slot = slot_info(db, conn.slot)
            assert slot is not None, f"{run}: the slot is gone"
            confirmed = slot["confirmed_flush_lsn"]
            assert confirmed <= drop_end, (f"{run}: confirmed {format_lsn(confirmed)}, past the "
                                           f"drop at {format_lsn(drop_end)}")
            recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("pa"), to_end=True)
            # every change made before the drop, none after; a re-sent one only of a
            # transaction the slot had not confirmed
            check_versions(recs, before,
                           dup_ok=lambda r: r.value["source"]["commit_lsn"] >= confirmed)
            return confirmed

        confirmed = stops_at_the_drop("first run")
        conn.start()
        assert stops_at_the_drop("after a restart") == confirmed
    finally:
        if w is not None:
            w._stop.set()
        conn.cleanup()


def test_publication_altered_while_streaming(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """ALTER PUBLICATION ... DROP TABLE under a running stream: PostgreSQL stops sending
    that table's changes. wal2kafka must notice (at the latest when it starts again) and
    either repair the publication and re-read the table, or stop and say so; it must not
    go on without the table's changes."""
    create_versioned_tables(db, ["qa", "qb"], 5)
    conn = Connector(wal2kafka_bin, db, kafka, ["public.qa", "public.qb"], topic_prefix,
                     workdir=tmp_path)
    w = None
    try:
        conn.start().wait_streaming()
        w = MultiWriter(db, ["qa", "qb"], 5, rate=50).start()
        w.wait_more(30)
        db.execute(f'ALTER PUBLICATION "{conn.publication}" DROP TABLE qb')
        w.wait_more(100)
        w.stop()
        # a restart at the latest must set things right
        assert conn.stop() == 0
        conn.start()
        deadline = time.monotonic() + 60
        while conn.running() and time.monotonic() < deadline:
            try:
                conn.wait_confirmed(current_wal_lsn(db), timeout=2)
                break
            except TimeoutError:
                pass
        log = conn.log()
        if conn.running():
            final = final_versions(db, "qb")
            recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("qb"), to_end=True,
                           timeout=60)
            latest = {}
            for r in recs:
                latest[r.key["id"]] = r.value["after"]["version"]
            assert latest == final, (
                f"table qb's newest versions in Kafka {latest} != the table {final}: changes "
                f"made after the publication was altered were lost silently\n{log}")
        else:
            err, hint = report(conn.log(current=True))
            assert conn.publication in err and "qb" in (err + hint), err
    finally:
        if w is not None:
            w._stop.set()
        conn.cleanup()


def test_publication_altered_while_stopped(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """The publication changed while wal2kafka was down: a table removed, changed, added
    back. Its list of tables is the configured one again, but PostgreSQL did not send the
    changes made in between and never will. The next start must notice it (the
    membership is not the one wal2kafka set), say so, restore the publication and read
    the table again, so its topic ends with the table's rows as they are."""
    create_versioned_tables(db, ["qa", "qb"], 5)
    conn = Connector(wal2kafka_bin, db, kafka, ["public.qa", "public.qb"], topic_prefix,
                     workdir=tmp_path)
    try:
        conn.start().wait_streaming()
        conn.wait_caught_up()
        assert conn.stop() == 0
        db.execute(f'ALTER PUBLICATION "{conn.publication}" DROP TABLE qb')
        for _ in range(3):
            db.execute("UPDATE qb SET version = version + 1")
        db.execute(f'ALTER PUBLICATION "{conn.publication}" ADD TABLE qb')
        db.execute("UPDATE qa SET version = version + 1")
        conn.start().wait_streaming()
        line = conn.wait_log(r".*publication \S+ was changed by someone else.*").group(0)
        assert conn.publication in line and "public.qb" in line and "public.qa" not in line, line
        conn.wait_log(r"re-snapshot of a table done: 5 row")
        conn.wait_caught_up()
        dec = Decoder(kafka, topic_prefix)
        for table in ("qa", "qb"):
            latest = {r.key["id"]: r.value["after"]["version"]
                      for r in consume(kafka, dec, conn.topic(table), to_end=True)}
            assert latest == final_versions(db, table), table
        assert conn.stop() == 0
        # the restored publication is wal2kafka's again: the next start changes nothing
        conn.start().wait_streaming()
        assert "changed by someone else" not in conn.log(current=True)
        assert conn.stop() == 0
    finally:
        conn.cleanup()


def test_publication_of_other_operations_altered(wal2kafka_bin, db, kafka, tmp_path,
                                                 topic_prefix):
    """Tables that publish different operations are in different publications (the
    stream's, and <publication>_<operations>), and each one's comment answers for its own
    tables. Someone removes a table from the other publication while the stream runs,
    then, while it is stopped, removes it and adds it back with a row filter: both times
    PostgreSQL did not send the table's changes in between. Each must be noticed in that
    publication, which is restored, and the table read again, so its topic ends with the
    table's rows as they are; the stream's own table is left alone."""
    create_versioned_tables(db, ["qa", "qc"], 5)
    conn = Connector(wal2kafka_bin, db, kafka,
                     ["public.qa", {"name": "public.qc", "operations": ["insert", "update"]}],
                     topic_prefix, workdir=tmp_path)
    other = f"{conn.publication}_insert_update"
    dec = Decoder(kafka, topic_prefix)

    def check_topics():
        for table in ("qa", "qc"):
            latest = {r.key["id"]: r.value["after"]["version"]
                      for r in consume(kafka, dec, conn.topic(table), to_end=True)}
            assert latest == final_versions(db, table), table

    def check_repaired():
        line = conn.wait_log(r".*publication \S+ was changed by someone else.*").group(0)
        assert f"publication {other} " in line and "public.qc" in line, line
        assert "public.qa" not in line, line
        conn.wait_log(r"re-snapshot of a table done: 5 row")
        conn.wait_caught_up()
        check_topics()
        assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                         "tablename = 'qc' AND rowfilter IS NULL", (other,)) == 1

    try:
        conn.start().wait_streaming()
        conn.wait_caught_up()
        assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                         "tablename = 'qc'", (other,)) == 1
        db.execute(f'ALTER PUBLICATION "{other}" DROP TABLE qc')
        for _ in range(3):
            db.execute("UPDATE qc SET version = version + 1")
        check_repaired()
        assert conn.stop() == 0

        db.execute(f'ALTER PUBLICATION "{other}" DROP TABLE qc')
        for _ in range(3):
            db.execute("UPDATE qc SET version = version + 1")
        db.execute(f'ALTER PUBLICATION "{other}" ADD TABLE qc WHERE (id > 2)')
        db.execute("UPDATE qa SET version = version + 1")
        conn.start().wait_streaming()
        check_repaired()
        assert conn.stop() == 0
        # both publications are wal2kafka's again: the next start changes nothing
        conn.start().wait_streaming()
        assert "changed by someone else" not in conn.log(current=True)
        assert conn.stop() == 0
    finally:
        conn.cleanup()


def test_table_without_key_default_identity(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """No primary key and REPLICA IDENTITY DEFAULT: once published, PostgreSQL refuses the
    table's UPDATEs and DELETEs, and its changes carry no key. wal2kafka must say so at
    start, with the statement that fixes it."""
    db.execute("CREATE TABLE nk (a int, b text)")
    db.execute("CREATE TABLE ok (id int PRIMARY KEY)")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.nk", "public.ok"], topic_prefix,
                     workdir=tmp_path)
    try:
        conn.start().wait_streaming()
        ev = next(e for e in log_events(conn.log(current=True)) if "public.nk" in e["msg"]
                  and "primary key" in e["msg"])
        line = ev["msg"]
        assert ev["level"] == "warn", ev
        assert re.search(r"UPDATE|update", line) and re.search(r"DELETE|delete", line), line
        assert ("ALTER TABLE public.nk REPLICA IDENTITY FULL;" in unquoted(line)
                or "ALTER TABLE public.nk ADD PRIMARY KEY" in unquoted(line)), line
        # and `check` calls it a problem, with the fix
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert "table public.nk has no primary key and REPLICA IDENTITY DEFAULT" in r.stdout
        assert "ALTER TABLE public.nk REPLICA IDENTITY FULL;" in unquoted(r.stdout)
        assert conn.stop() == 0
    finally:
        conn.cleanup()


def test_table_with_replica_identity_nothing(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """A primary key but REPLICA IDENTITY NOTHING: once published, PostgreSQL refuses the
    table's UPDATEs and DELETEs. wal2kafka says so at start with the statement to run, and
    that statement does make the application's UPDATE work again."""
    db.execute("CREATE TABLE rn (id int PRIMARY KEY, v text)")
    db.execute("ALTER TABLE rn REPLICA IDENTITY NOTHING")
    db.execute("INSERT INTO rn VALUES (1, 'a')")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.rn"], topic_prefix, workdir=tmp_path)
    try:
        conn.start().wait_streaming()
        ev = next(e for e in log_events(conn.log(current=True)) if "public.rn" in e["msg"]
                  and "REPLICA IDENTITY NOTHING" in e["msg"])
        assert ev["level"] == "warn", ev
        assert "refuses its UPDATEs and DELETEs" in ev["msg"], ev
        fix = re.search(r"ALTER TABLE public\.rn REPLICA IDENTITY DEFAULT;", unquoted(ev["msg"]))
        assert fix, ev
        with pytest.raises(Exception, match="replica identity"):
            db.execute("UPDATE rn SET v = 'b' WHERE id = 1")
        db.execute(fix.group(0))
        db.execute("UPDATE rn SET v = 'b' WHERE id = 1")
        assert conn.stop() == 0
    finally:
        conn.cleanup()


def test_table_dropped_while_streaming(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """DROP TABLE of one streamed table: the others go on, now and after a restart, and the
    log names the dropped table and what to do."""
    create_versioned_tables(db, ["da", "db"], 5)
    conn = Connector(wal2kafka_bin, db, kafka, ["public.da", "public.db"], topic_prefix,
                     workdir=tmp_path)
    w = None
    try:
        conn.start().wait_streaming()
        w = MultiWriter(db, ["da"], 5, rate=50).start()
        w.wait_more(20)
        db.execute("DROP TABLE db")
        w.wait_more(50)
        conn.wait_caught_up(60)
        conn.check_alive()
        assert conn.stop() == 0
        conn.start().wait_streaming()
        w.wait_more(50)
        w.stop()
        conn.wait_caught_up(60)
        log = conn.log(current=True)
        assert re.search(r"table public\.db of stream \S+ no longer exists.*remove it from the "
                         r"configuration", log), log
        recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("da"), to_end=True)
        check_versions(recs, final_versions(db, "da"))
        assert conn.stop() == 0
    finally:
        if w is not None:
            w._stop.set()
        conn.cleanup()


def test_retained_wal_warning(rig, wal2kafka_bin, tmp_path, request):
    """With the broker down, the slot holds back more and more WAL: past
    delivery.wal_warn_mb wal2kafka warns (the check runs every 30 s)."""
    dbname = database_name(request.node.name)
    db = rig.database(dbname)
    try:
        db.execute("CREATE TABLE t (id bigserial PRIMARY KEY, pad text)")
        conn = rig.connector(wal2kafka_bin, db, ["public.t"], dbname[:30] + uuid.uuid4().hex[:6],
                             workdir=tmp_path, proxied=False,
                             settings={"delivery": {"wal_warn_mb": 8}})
        try:
            conn.start().wait_streaming()
            db.execute("INSERT INTO t (pad) VALUES ('first')")  # the topic exists
            conn.wait_caught_up()
            rig.kafka.stop()
            db.execute("INSERT INTO t (pad) SELECT repeat(md5(i::text), 10) "
                       "FROM generate_series(1, 60000) i")
            m = conn.wait_log(r'level=warn msg="stream \S+: slot \S+ holds back (\d+) MB of WAL '
                              r'\(more than delivery.wal_warn_mb = 8\)', timeout=75)
            assert int(m.group(1)) > 8
        finally:
            conn.cleanup()
    finally:
        rig.healthy()
        rig.pg.drop_database(dbname)


# -------------------------------------------------------------------------- Kafka


def test_message_too_large(wal2kafka_bin, db, kafka, tmp_path, topic_prefix):
    """A row bigger than the topic's max.message.bytes: wal2kafka stops with the limit to
    raise; nothing past it was confirmed, so once the limit is raised the row arrives."""
    db.execute("CREATE TABLE big (id int PRIMARY KEY, v text)")
    topic = f"{topic_prefix}.public.big"
    kafka.create_topic(topic, 1, {"cleanup.policy": "compact", "max.message.bytes": 2000})
    conn = Connector(wal2kafka_bin, db, kafka, ["public.big"], topic_prefix, workdir=tmp_path)
    conn.start().wait_streaming()
    db.execute("INSERT INTO big VALUES (1, 'small')")
    conn.wait_caught_up()
    before = conn.confirmed_lsn()
    db.execute("INSERT INTO big SELECT 2, string_agg(md5(i::text), '') FROM generate_series(1, 300) i")
    rc = conn.wait_exit(120)
    log = conn.log(current=True)
    assert rc == 5, log
    err, hint = final_error(log, conn.stream)
    assert f"delivery to topic {topic} failed" in err and "too large" in err.lower(), err
    assert "max.message.bytes" in hint, hint
    assert conn.confirmed_lsn() == before, "the failed transaction was not confirmed"
    # raise the limit: the row arrives
    from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource)
    admin = kafka.admin()
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "100000",
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([res])[res].result(30)
    conn.start().wait_streaming()
    conn.wait_caught_up()
    recs = consume(kafka, Decoder(kafka, topic_prefix), topic, to_end=True)
    assert [r.key["id"] for r in recs if r.op == "c"] == [1, 2]
    assert conn.stop() == 0


@pytest.fixture(scope="module")
def acl_kafka():
    """A broker with StandardAuthorizer: PLAINTEXT (ANONYMOUS, a super user: the tests'
    clients) and SASL_PLAINTEXT with user w2k (SASL/PLAIN; what the ACLs allow)."""
    sasl_port, = free_ports(1)
    extra = (
        "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
        f"SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
        "SASL_PLAINTEXT:SASL_PLAINTEXT\n"
        "sasl.enabled.mechanisms=PLAIN\n"
        "listener.name.sasl_plaintext.plain.sasl.jaas.config="
        'org.apache.kafka.common.security.plain.PlainLoginModule required user_w2k="w2k-secret";\n'
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
        "super.users=User:ANONYMOUS\n"
        "allow.everyone.if.no.acl.found=false\n")
    k = start_kafka(extra)
    k.sasl_bootstrap = f"127.0.0.1:{sasl_port}"
    yield k
    k.destroy()


def test_topic_authorization_failure(wal2kafka_bin, db, acl_kafka, tmp_path, topic_prefix):
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                       ResourcePatternType, ResourceType)
    kafka = acl_kafka
    table_topic = f"{topic_prefix}.public.t"
    user = "User:w2k"
    acls = [
        AclBinding(ResourceType.TOPIC, topic_prefix, ResourcePatternType.PREFIXED, user, "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "wal2kafka", ResourcePatternType.PREFIXED, user, "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, user, "*",
                   AclOperation.ALL, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, table_topic, ResourcePatternType.LITERAL, user, "*",
                   AclOperation.WRITE, AclPermissionType.DENY),
    ]
    admin = kafka.admin()
    for f in admin.create_acls(acls).values():
        f.result(30)
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                     bootstrap=kafka.sasl_bootstrap,
                     settings={"kafka": {"properties": [
                         "security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=PLAIN",
                         "sasl.username=w2k", "sasl.password=w2k-secret"]}})
    try:
        conn.start().wait_streaming()
        before = conn.confirmed_lsn()
        db.execute("INSERT INTO t VALUES (1)")
        rc = conn.wait_exit(120)
        log = conn.log(current=True)
        assert rc == 5, log
        err, hint = final_error(log, conn.stream)
        assert table_topic in err and "authorization failed" in err.lower(), err
        assert "Write" in hint or "WRITE" in hint, hint
        assert table_topic in hint, f"the fix names the topic to grant: {hint}"
        assert conn.confirmed_lsn() == before
    finally:
        conn.cleanup()


# ----------------------------------------------------------------------- failover


def test_failover_other_system_identifier(wal2kafka_bin, kafka, tmp_path, topic_prefix):
    """The server on the configured address is another cluster (a failover to a server
    without the slot, a restore): wal2kafka stops and explains; with on_slot_lost =
    "recreate" it makes a new slot and snapshots again, and says so."""
    with ScratchPostgres() as old:
        port = old.port
        db = old.create_database("fo")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t VALUES (1, 'old server')")
        conn = Connector(wal2kafka_bin, db, kafka, ["public.t"], topic_prefix, workdir=tmp_path,
                         name="fo")
        conn.start().wait_streaming()
        conn.wait_caught_up()
        assert conn.stop() == 0
        old_id = old.scalar("SELECT system_identifier::text FROM pg_control_system()")
    with ScratchPostgres(port=port) as new:
        new_id = new.scalar("SELECT system_identifier::text FROM pg_control_system()")
        assert new_id != old_id
        db = new.create_database("fo")
        db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        db.execute("INSERT INTO t VALUES (1, 'new server'), (2, 'new server')")
        conn.db = db
        log = exits_with(conn, 4)
        err, hint = final_error(log, conn.stream)
        assert f"system identifier {new_id}, was {old_id}" in err, err
        assert "failover or restore" in err
        assert f'on_slot_lost = "recreate" for stream {conn.stream}' in hint
        assert slot_info(db, conn.slot) is None, "no slot was created silently"
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert r.returncode == 4, r.stdout
        assert f"stream {conn.stream} last streamed from system {old_id}, this server is {new_id}" \
            in r.stdout

        conn.config["streams"][0]["on_slot_lost"] = "recreate"
        conn.write_config()
        conn.start().wait_streaming(120)
        log = conn.log(current=True)
        assert "creating a new slot and taking a new snapshot (on_slot_lost = recreate)" in log
        conn.wait_caught_up()
        recs = consume(kafka, Decoder(kafka, topic_prefix), conn.topic("t"), to_end=True)
        assert [(r.op, r.key["id"], r.value["after"]["v"]) for r in recs] == [
            ("r", 1, "old server"), ("r", 1, "new server"), ("r", 2, "new server")]
        assert conn.stop() == 0
