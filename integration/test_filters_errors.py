"""Filters wal2kafka or PostgreSQL refuse, and row filters that need a before image.

- filters = "connector" with an expression outside wal2kafka's SQL subset: refused at
  start (exit 3), the message names the file and line, the stream, the table, the offset
  and the part; nothing is created in PostgreSQL.
- filters = "pushdown" with a filter PostgreSQL refuses: the error names the stream,
  the table, the config line and PostgreSQL's own message (primary and detail, as
  PostgreSQL gives them for the same CREATE PUBLICATION).
- A row filter on non-key columns with updates/deletes published and no REPLICA
  IDENTITY FULL: `check` and `run` say so and print the ALTER TABLE to run; running
  exactly that statement makes the warning go away (and, with pushdown, makes the
  UPDATEs PostgreSQL refused until then work).
"""

from __future__ import annotations

import psycopg
import pytest

from w2k import Decoder, final_error, run_cli
from w2k_filters import multi, read_topics, table  # noqa: F401


def entry_line(cfg_text: str, name: str) -> int:
    """The line (1-based) of the `{` opening the table entry with this name."""
    lines = cfg_text.splitlines()
    i = next(k for k, l in enumerate(lines) if l.strip() == f'name = "{name}";')
    assert lines[i - 1].strip() == "{", lines[i - 1]
    return i  # the line before, 1-based


def pg_refusal(db, sql: str) -> tuple[str, str | None]:
    """PostgreSQL's primary message and detail for sql (run in a rolled-back transaction)."""
    with db.connect(autocommit=False) as c:
        with pytest.raises(psycopg.Error) as ei:
            c.execute(sql)
        c.rollback()
    return ei.value.diag.message_primary, ei.value.diag.message_detail


def no_trace(db, s, label) -> None:
    assert db.scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                     (s.slot_of(label),)) == 0
    assert db.scalar("SELECT count(*) FROM pg_publication WHERE pubname = %s",
                     (s.publication_of(label),)) == 0


# ------------------------------------------------------- outside wal2kafka's subset

UNSUPPORTED = [
    # (expression, offset of the refused part, the message after "at offset N: ")
    ("lower(txt) = 'a'", 0, "function calls are not supported: lower("),
    ("i > 1 AND i + 1 > 2", 12, "arithmetic operators are not supported: +"),
    ("i IN (SELECT 1)", 6, "subqueries are not supported: IN (select"),
    ("CASE WHEN b THEN true END", 0, "CASE expressions are not supported"),
    ("txt SIMILAR TO 'a%'", 4, "SIMILAR TO is not supported (use LIKE)"),
]


@pytest.mark.parametrize("expr,offset,part", UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_connector_refuses_expression_outside_its_subset(db, multi, expr, offset, part):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, txt text, i int, b boolean)")
    db.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    s = multi([{"label": "c", "filters": "connector", "tables": [table("public.t", filter=expr)]}])
    s.start()
    assert s.wait_exit(60) == 3
    line = entry_line(s.config_path.read_text(), "public.t")
    name = s.names["c"]
    err, hint = final_error(s.log(), name)
    assert err == (f"stream {name} stopped: {s.config_path}:{line}: stream {name}, table public.t: "
                   f"filter: at offset {offset}: {part}"), err
    assert hint.startswith('with filters = "connector" wal2kafka evaluates the filter itself'), hint
    no_trace(db, s, "c")


# ------------------------------------------------------------ refused by PostgreSQL

REFUSED_BY_PG = [
    ("ts < now()", "now() is mutable"),
    ("m = 'happy'", "an enum column is a user-defined type"),
]


@pytest.mark.parametrize("expr,why", REFUSED_BY_PG, ids=[r[0] for r in REFUSED_BY_PG])
def test_pushdown_filter_refused_by_postgresql(db, multi, expr, why):
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    db.execute("CREATE TABLE ok (id int PRIMARY KEY)")
    db.execute("CREATE TABLE t (id int PRIMARY KEY, i int, m mood, ts timestamp)")
    db.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    primary, detail = pg_refusal(db, f"CREATE PUBLICATION probe FOR TABLE t WHERE ({expr})")
    s = multi([{"label": "p", "filters": "pushdown",
                "tables": ["public.ok", table("public.t", filter=expr)]}])
    s.start()
    assert s.wait_exit(60) == 4
    line = entry_line(s.config_path.read_text(), "public.t")
    name = s.names["p"]
    err, hint = final_error(s.log(), name)
    want = (f'stream {name} stopped: {s.config_path}:{line}: stream "{name}", table public.t is '
            f"refused by PostgreSQL: {primary}")
    assert err.startswith(want), err
    assert detail and detail in err, (detail, err)
    assert f"{s.config_path}:{line}" in hint, hint
    no_trace(db, s, "p")


def test_enum_filter_pushdown_refuses_connector_evaluates(db, multi, kafka):
    """The enum filter PostgreSQL refuses in a publication is in wal2kafka's subset:
    filters = "connector" streams exactly the matching rows (updates moving in and out)."""
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    db.execute("CREATE TABLE t (id int PRIMARY KEY, m mood)")
    db.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    s = multi([{"label": "c", "filters": "connector", "snapshot": "never",
                "tables": [table("public.t", filter="m IN ('happy', 'ok')")]}])
    s.start().wait_streaming()
    db.execute("INSERT INTO t VALUES (1, 'sad'), (2, 'happy'), (3, NULL), (4, 'ok')")
    db.execute("UPDATE t SET m = 'happy' WHERE id = 1")  # enters
    db.execute("UPDATE t SET m = 'sad' WHERE id = 2")  # leaves
    db.execute("UPDATE t SET m = 'happy' WHERE id = 4")  # stays in
    db.execute("UPDATE t SET m = 'ok' WHERE id = 3")  # enters from NULL
    for k in (1, 2, 3, 4):  # 1, 3, 4 match; 2 does not
        db.execute("DELETE FROM t WHERE id = %s", (k,))
    s.wait_caught_up()
    recs = s.read_tables("c", ["t"])["t"]
    got = [(r.op, r.key["id"], r.value["after"]["m"] if r.value and r.value["after"] else None)
           for r in recs]
    assert got == [
        ("c", 2, "happy"), ("c", 4, "ok"),
        ("c", 1, "happy"), ("d", 2, None), (None, 2, None), ("u", 4, "happy"), ("c", 3, "ok"),
        ("d", 1, None), (None, 1, None), ("d", 3, None), (None, 3, None), ("d", 4, None),
        (None, 4, None)], got
    assert s.stop() == 0


# ---------------------------------------------- a filter that needs REPLICA IDENTITY FULL

WARN_RUN = ("{cfg}:{line}: table public.t: the row filter uses column i, which is not in the "
            "replica identity, and updates/deletes are published: PostgreSQL {what}. "
            "Run: ALTER TABLE public.t REPLICA IDENTITY FULL;")
WHAT = {"pushdown": "refuses such updates and deletes on the table",
        "connector": "does not send the old row, so wal2kafka cannot tell whether an update "
                     "leaves the filter's set"}
FIX_CHECK = 'fix     ALTER TABLE "public"."t" REPLICA IDENTITY FULL;'


def check_out(wal2kafka_bin, s) -> tuple[int, str]:
    r = run_cli(wal2kafka_bin, "check", "--config", s.config_path, env=s.env, timeout=120)
    return r.returncode, r.stdout + r.stderr


def ri_warnings(log: str) -> list[str]:
    return [l for l in log.splitlines() if "REPLICA IDENTITY FULL" in l]


@pytest.mark.parametrize("mode", ["pushdown", "connector"])
def test_filter_needing_old_row_without_replica_identity_full(db, multi, kafka, wal2kafka_bin,
                                                              mode):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, i int, v text)")
    db.execute("INSERT INTO t VALUES (1, 20, 'a'), (2, 5, 'b')")
    s = multi([{"label": "x", "filters": mode, "snapshot": "never",
                "tables": [table("public.t", filter="i > 10")]}])
    line = entry_line(s.config_path.read_text(), "public.t")

    rc, out = check_out(wal2kafka_bin, s)
    assert rc == 0, out  # a warning: streaming can start
    lines = out.splitlines()
    k = next(i for i, l in enumerate(lines) if l.startswith("warn") and "public.t" in l
             and "row filter" in l)
    assert "REPLICA IDENTITY FULL" in lines[k], lines[k]
    assert lines[k + 1] == FIX_CHECK, out

    s.start().wait_streaming()
    warns = ri_warnings(s.log(current=True))
    assert len(warns) == 1, warns
    # the message as documented, then its hint (every warning carries one)
    assert ('level=warn msg="' + WARN_RUN.format(cfg=s.config_path, line=line, what=WHAT[mode])
            + '" hint="or filter on replica identity columns only"') in warns[0], warns[0]
    if mode == "pushdown":
        # what the warning is about: PostgreSQL refuses the UPDATE while it is so published
        with pytest.raises(psycopg.Error) as ei:
            db.execute("UPDATE t SET v = 'x' WHERE id = 1")
        assert "cannot update table" in ei.value.diag.message_primary
    assert s.stop() == 0

    # run exactly the statement check printed; then neither check nor run warn again
    db.execute(lines[k + 1][len("fix"):].strip())
    assert db.scalar("SELECT relreplident FROM pg_class WHERE relname = 't'") == "f"
    rc, out = check_out(wal2kafka_bin, s)
    assert rc == 0 and FIX_CHECK not in out, out
    assert not [l for l in out.splitlines() if l.startswith("warn")], out
    s.start().wait_streaming()
    db.execute("UPDATE t SET i = 1 WHERE id = 1")  # leaves the set: a delete
    db.execute("UPDATE t SET i = 11 WHERE id = 2")  # enters: an insert
    s.wait_caught_up()
    assert ri_warnings(s.log(current=True)) == []
    recs = s.read_tables("x", ["t"])["t"]
    assert [(r.op, r.key["id"]) for r in recs] == [("d", 1), (None, 1), ("c", 2)]
    assert s.stop() == 0


@pytest.mark.parametrize("mode", ["pushdown", "connector"])
def test_no_replica_identity_warning_when_not_needed(db, multi, wal2kafka_bin, mode):
    """No before image is needed when the filter uses only key columns, or when neither
    updates nor deletes are published: run does not ask for REPLICA IDENTITY FULL."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, i int)")
    db.execute("CREATE TABLE u (id int PRIMARY KEY, i int)")
    s = multi([{"label": "x", "filters": mode, "snapshot": "never",
                "tables": [table("public.t", filter="id > 10"),
                           table("public.u", filter="i > 10", operations=["insert", "truncate"])]}])
    s.start().wait_streaming()
    db.execute("INSERT INTO t VALUES (5, 1), (15, 1)")
    db.execute("UPDATE t SET i = 2")
    db.execute("INSERT INTO u VALUES (1, 5), (2, 15)")
    try:
        db.execute("UPDATE u SET i = 20")
    except psycopg.Error as e:
        pytest.fail("the application's UPDATE of u (whose stream publishes only inserts and "
                    f"truncates) is refused by PostgreSQL: {e}")
    s.wait_caught_up()
    assert ri_warnings(s.log(current=True)) == []
    got = read_topics(s.kafka, Decoder(s.kafka, s.prefixes["x"]),
                      [s.topic_of("x", "t"), s.topic_of("x", "u")])
    assert [(r.op, r.key["id"]) for r in got[s.topic_of("x", "t")]] == [("c", 15), ("u", 15)]
    assert [(r.op, r.key["id"]) for r in got[s.topic_of("x", "u")]] == [("c", 2)]
    assert s.stop() == 0


def test_check_does_not_ask_for_replica_identity_full_for_a_key_filter(db, multi, wal2kafka_bin):
    """A filter on key columns only is evaluated on the key PostgreSQL always sends:
    `check` must not tell the user to log whole old rows (REPLICA IDENTITY FULL)."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, i int)")
    s = multi([{"label": "x", "filters": "pushdown", "tables": [table("public.t", filter="id > 10")]}])
    rc, out = check_out(wal2kafka_bin, s)
    assert rc == 0, out
    assert "REPLICA IDENTITY FULL" not in out, out


@pytest.mark.parametrize("mode,expr", [("connector", "lower(v) = 'a'"), ("pushdown", "ts < now()")])
def test_check_reports_a_filter_that_run_refuses(db, multi, wal2kafka_bin, mode, expr):
    """`check` exits 0 only when streaming can start (README): a filter that makes `run`
    exit 3 (outside wal2kafka's subset) or 4 (refused by PostgreSQL) is a problem there."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text, ts timestamp)")
    db.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    s = multi([{"label": "x", "filters": mode, "tables": [table("public.t", filter=expr)]}])
    s.start()
    run_rc = s.wait_exit(60)
    assert run_rc == {"connector": 3, "pushdown": 4}[mode]
    rc, out = check_out(wal2kafka_bin, s)
    assert rc == run_rc and "streaming cannot start" in out, out


# ------------------------------------------- publications of other sets of operations


def test_publication_names_of_two_streams_do_not_collide_silently(db, multi):
    """With pushdown, tables whose operations differ get publications of their own,
    <publication>_<operations>. A stream whose own publication has such a name (stream
    y_insert beside stream y) must not take over (or hand over) the other stream's
    publication: the stream that finds it taken stops and says what to change."""
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("CREATE TABLE u (id int PRIMARY KEY)")
    s = multi([{"label": "y", "filters": "pushdown", "snapshot": "never",
                "tables": ["public.t", table("public.u", operations=["insert"])]}],
              settings={"retry": {"on_stream_failure": "exit"}})
    y = s.names["y"]
    s.set_streams([
        {"name": y, "topic_prefix": s.prefixes["y"], "filters": "pushdown", "snapshot": "never",
         "tables": ("public.t", table("public.u", operations=["insert"]))},
        {"name": f"{y}_insert", "topic_prefix": s.prefixes["y"] + "_i", "snapshot": "never",
         "tables": ("public.t",)},
    ])
    s.start()
    assert s.wait_exit(60) != 0
    log = s.log(current=True)
    stopped = [l for l in log.splitlines() if "level=error" in l and "made it for" in l]
    assert len(stopped) == 1, log
    assert f"needs publication wal2kafka_{y}_insert, but wal2kafka made it for" in stopped[0], \
        stopped[0]
    assert "a publication name of its own" in stopped[0], stopped[0]
    # the publication still holds what the stream that made it configured
    held = db.scalar("SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE "
                     "pubname = %s", (f"wal2kafka_{y}_insert",))
    assert held == ("t" if f"stream {y} stopped" in stopped[0] else "u"), (held, stopped[0])
