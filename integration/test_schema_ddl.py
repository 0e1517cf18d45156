"""DDL announced with no row after it: the event trigger (`wal2kafka ddl install`) writes
a transactional logical message per CREATE/ALTER/DROP TABLE, read in-stream, turned into
create/alter/rename/drop events on <prefix>.schema_changes.

Ordering. A consumer that keeps a table's state reads the table's topic and
<prefix>.schema_changes and orders them by source.lsn. The tests below interleave DDL
with rows of another table and assert that the LSNs put every event exactly where its
statement ran: row before < event < row after. (A logical message's LSN is the end of its
WAL record, so an event's lsn may equal its transaction's commit LSN; never a row's.)

The columns of an event are read from the catalog when wal2kafka handles the DDL message;
PostgreSQL streams a committed transaction a moment before other sessions see it, so two
tests check the columns are those the DDL left: one by chance (30 ALTERs), one
deterministic (the ALTER's COMMIT held in that window, w2k_schema.held_commits).
"""

from __future__ import annotations

from w2k import Decoder, connectors, consume, run_txn  # noqa: F401
from w2k_schema import (INT, TEXT, HeldCommit, check_event_source, col, columns,
                        database_local_commits, ddl_install, ddl_remove, events_of, held_commits,
                        table_oid)


def _c(name, t, key=False):
    return col(name, t[0], t[1], key)


def started_with_trigger(wal2kafka_bin, connectors, tables, **kw):
    conn = connectors(tables, **kw)
    out = ddl_install(wal2kafka_bin, conn)
    assert f"installed the DDL capture trigger in database {conn.db.name}" in out
    conn.start().wait_streaming()
    return conn


def step(conn, db, *stmts):
    """One transaction, then wait until the stream confirmed it (so the next statement's
    event is not read while catching up: the columns of an event are read from the
    catalog when the event is handled)."""
    t = run_txn(db, *stmts)
    conn.wait_confirmed(t.lsn_after_commit)
    return t


def test_alter_rename_drop_without_rows(db, kafka, connectors, wal2kafka_bin):
    """ALTER ADD COLUMN, RENAME and DROP of streamed tables, no row of them after the
    statement: each announced once, in place (by LSN) among the rows of another table."""
    for t in ("keep", "alt", "ren", "gone"):
        db.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v text)")
    oids = {t: table_oid(db, t) for t in ("alt", "ren", "gone")}
    conn = started_with_trigger(wal2kafka_bin, connectors,
                                ["public.keep", "public.alt", "public.ren", "public.gone"],
                                stream_settings={"snapshot": "never"})
    # a row of each first, so the stream knows their shapes (old_columns)
    step(conn, db, *[f"INSERT INTO {t} VALUES (0, 'x')" for t in ("keep", "alt", "ren", "gone")])
    t_alter = step(conn, db, "ALTER TABLE alt ADD COLUMN w int")
    step(conn, db, "INSERT INTO keep VALUES (1, 'after alter')")
    t_rename = step(conn, db, "ALTER TABLE ren RENAME TO renamed")
    step(conn, db, "INSERT INTO keep VALUES (2, 'after rename')")
    t_drop = step(conn, db, "DROP TABLE gone")
    step(conn, db, "INSERT INTO keep VALUES (3, 'after drop')")

    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    assert [(e.value["type"], e.value["table"]) for e in events] == [
        ("alter", "alt"), ("rename", "renamed"), ("drop", "gone")], \
        [(e.value["type"], e.value["table"], e.value["ddl"]) for e in events]
    alter, rename, drop = events
    kv = [_c("id", INT, True), _c("v", TEXT)]

    assert alter.key == {"schema": "public", "table": "alt"}
    assert alter.value["relid"] == oids["alt"]
    assert alter.value["ddl"] == "ALTER TABLE alt ADD COLUMN w int"
    assert alter.value["old_columns"] == kv
    assert alter.value["new_columns"] == kv + [_c("w", INT)]
    assert (alter.value["old_schema"], alter.value["old_table"]) == (None, None)
    check_event_source(alter, db, conn.prefix, "alt", txn=t_alter)

    assert rename.key == {"schema": "public", "table": "renamed"}
    assert rename.value["relid"] == oids["ren"]
    assert rename.value["ddl"] == "ALTER TABLE ren RENAME TO renamed"
    assert (rename.value["old_schema"], rename.value["old_table"]) == ("public", "ren")
    assert rename.value["old_columns"] == kv and rename.value["new_columns"] == kv
    check_event_source(rename, db, conn.prefix, "renamed", txn=t_rename)

    assert drop.key == {"schema": "public", "table": "gone"}
    assert drop.value["relid"] == oids["gone"]
    assert drop.value["ddl"] == "DROP TABLE gone"
    assert drop.value["old_columns"] == kv
    assert drop.value["new_columns"] is None, "a dropped table has no columns after"
    check_event_source(drop, db, conn.prefix, "gone", txn=t_drop)

    # ordering against the rows of another table, by LSN
    rows = consume(kafka, dec, conn.topic("keep"), until=4, to_end=True)
    assert [r.key["id"] for r in rows] == [0, 1, 2, 3]
    lsn = [r.value["source"]["lsn"] for r in rows]
    ev = [e.value["source"]["lsn"] for e in events]
    assert lsn[0] < ev[0] < lsn[1] < ev[1] < lsn[2] < ev[2] < lsn[3]
    log = conn.log()
    assert "alter of table public.alt announced" in log
    assert "table public.ren renamed to public.renamed; its rows now go to the topic of its new name" in log
    assert "drop of table public.gone announced" in log
    assert conn.stop() == 0


def test_create_matching_pattern_is_announced(db, kafka, connectors, wal2kafka_bin):
    """CREATE TABLE of a table a pattern of the stream matches, no row after: a 'create'
    event with its columns, in place by LSN."""
    db.execute("CREATE TABLE keep (id int PRIMARY KEY)")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.*"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "INSERT INTO keep VALUES (1)")
    ddl = "CREATE TABLE fresh (id int PRIMARY KEY, v text NOT NULL)"
    t_create = step(conn, db, ddl)
    step(conn, db, "INSERT INTO keep VALUES (2)")
    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    assert [(e.value["type"], e.value["table"]) for e in events] == [("create", "fresh")], \
        [(e.value["type"], e.value["table"]) for e in events]
    (ev,) = events
    assert ev.key == {"schema": "public", "table": "fresh"}
    assert ev.value["relid"] == table_oid(db, "fresh")
    assert ev.value["ddl"] == ddl
    assert ev.value["old_columns"] is None
    assert columns(ev.value["new_columns"]) == [("id", "integer"), ("v", "text")]
    assert ev.value["new_columns"][0]["key"] is True
    check_event_source(ev, db, conn.prefix, "fresh", txn=t_create)
    rows = consume(kafka, dec, conn.topic("keep"), until=2, to_end=True)
    assert rows[0].value["source"]["lsn"] < ev.value["source"]["lsn"] < rows[1].value["source"]["lsn"]


def test_create_of_unrelated_table_is_not_announced(db, kafka, connectors, wal2kafka_bin):
    """DDL of tables the stream does not stream (no pattern matches) is not announced."""
    db.execute("CREATE TABLE keep (id int PRIMARY KEY)")
    db.execute("CREATE SCHEMA other")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.keep"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "CREATE TABLE other_t (id int PRIMARY KEY)")
    step(conn, db, "ALTER TABLE other_t ADD COLUMN v int")
    step(conn, db, "CREATE TABLE other.x (id int PRIMARY KEY)")
    step(conn, db, "DROP TABLE other_t")
    step(conn, db, "INSERT INTO keep VALUES (1)")
    dec = Decoder(kafka, conn.prefix)
    assert len(consume(kafka, dec, conn.topic("keep"), until=1, to_end=True)) == 1
    assert [e.value for e in consume(kafka, dec, conn.changes_topic, to_end=True)] == []


def test_column_rename_without_rows_is_announced(db, kafka, connectors, wal2kafka_bin):
    """ALTER TABLE ... RENAME COLUMN is an ALTER TABLE too: announced with no row after it."""
    db.execute("CREATE TABLE rc (id int PRIMARY KEY, a text)")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.rc"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "INSERT INTO rc VALUES (1, 'x')")
    ddl = "ALTER TABLE rc RENAME COLUMN a TO b"
    t = step(conn, db, ddl)
    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    assert [(e.value["type"], e.value["ddl"]) for e in events] == [("alter", ddl)]
    assert columns(events[0].value["new_columns"]) == [("id", "integer"), ("b", "text")]
    assert columns(events[0].value["old_columns"]) == [("id", "integer"), ("a", "text")]
    check_event_source(events[0], db, conn.prefix, "rc", txn=t)


def test_ddl_event_columns_are_the_new_shape(db, kafka, connectors, wal2kafka_bin):
    """Each ALTER's event lists the columns as that ALTER left them: 30 ADD COLUMNs, each
    confirmed before the next, no row in between. (Handled while streaming live, so the
    catalog read for the new columns must see the committed ALTER. Here the race is left
    to chance; test_ddl_event_columns_when_the_commit_becomes_visible_late forces it.)"""
    db.execute("CREATE TABLE grow (id int PRIMARY KEY)")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.grow"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "INSERT INTO grow VALUES (1)")
    n = 30
    for i in range(1, n + 1):
        step(conn, db, f"ALTER TABLE grow ADD COLUMN c{i} int")
    step(conn, db, "INSERT INTO grow VALUES (2)")
    dec = Decoder(kafka, conn.prefix)
    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    got = [(e.value["type"], e.value["ddl"], [c[0] for c in columns(e.value["new_columns"])])
           for e in events]
    want = [("alter", f"ALTER TABLE grow ADD COLUMN c{i} int",
             ["id"] + [f"c{j}" for j in range(1, i + 1)]) for i in range(1, n + 1)]
    wrong = [(w[1], g[2]) for w, g in zip(want, got) if w != g]
    assert got == want, (f"{len(got)} events for {n} ALTERs; {len(wrong)} list another shape "
                         f"than the ALTER left, e.g. {wrong[:3]}")


def test_ddl_remove_stops_announcements(db, kafka, connectors, wal2kafka_bin):
    """`wal2kafka ddl remove` drops the trigger (and its function and schema): DDL with no
    row after it is then no longer announced; install again works."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.t"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "INSERT INTO t VALUES (1)")
    out = ddl_remove(wal2kafka_bin, conn)
    assert f"removed the DDL capture trigger in database {db.name}" in out
    assert db.scalar("SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'wal2kafka%'") == 0
    assert db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'wal2kafka'") == 0
    step(conn, db, "ALTER TABLE t ADD COLUMN a int")
    ddl_install(wal2kafka_bin, conn)
    assert db.scalar("SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'wal2kafka%'") == 2
    t = step(conn, db, "ALTER TABLE t ADD COLUMN b int")
    dec = Decoder(kafka, conn.prefix)
    events = events_of(consume(kafka, dec, conn.changes_topic, to_end=True), "t")
    assert [(e.value["type"], e.value["ddl"]) for e in events] == [
        ("alter", "ALTER TABLE t ADD COLUMN b int")], "only the DDL made while installed"
    check_event_source(events[0], db, conn.prefix, "t", txn=t)


def test_ddl_event_columns_when_the_commit_becomes_visible_late(pg, db, kafka, connectors,
                                                                 wal2kafka_bin):
    """test_ddl_event_columns_are_the_new_shape made deterministic: PostgreSQL writes a
    commit record (which the slot then decodes and streams) a moment before the
    transaction becomes visible to other sessions; here the ALTER's COMMIT is held in that window (held_commits) while
    wal2kafka handles its DDL message. The event must still list the new column, once.

    A wal2kafka that waits for the ALTER to be visible before it reads the columns
    cannot announce it while the commit is held: the test gives it 5 s, then releases."""
    database_local_commits(db)
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    conn = started_with_trigger(wal2kafka_bin, connectors, ["public.t"],
                                stream_settings={"snapshot": "never"})
    step(conn, db, "INSERT INTO t VALUES (1)")
    dec = Decoder(kafka, conn.prefix)
    ddl = "ALTER TABLE t ADD COLUMN n int"
    with held_commits(pg):
        held = HeldCommit(db, ddl).start()
        try:
            with dec.reader(conn.changes_topic) as rd:
                try:
                    rd.read(until=1, timeout=5)
                except TimeoutError:
                    pass  # waiting for the ALTER to be visible: release it
        finally:
            held.release()
    step(conn, db, "INSERT INTO t VALUES (2, 2)")
    events = consume(kafka, dec, conn.changes_topic, to_end=True)
    assert [(e.value["type"], e.value["ddl"], columns(e.value["new_columns"])) for e in events] \
        == [("alter", ddl, [("id", "integer"), ("n", "integer")])]
