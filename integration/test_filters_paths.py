"""Row filters, column lists and operations, on both paths: PostgreSQL's publication
(filters = "pushdown") and wal2kafka's own evaluation (filters = "connector").

Each test runs ONE wal2kafka process with three streams on the same tables: "all" (no
filters: every change with its exact wire values), "push" and "conn" (the same table
settings, pushdown and connector). One workload (rows present before the start, then
inserts, updates moving rows into and out of each filter's set, NULLs in every column,
deletes, in transactions of 1-6 changes) runs on every table. What each filtered stream
must deliver is derived from "all" and from PostgreSQL's own verdict on each row (the
filter evaluated by a trigger, see w2k_filters.Oracle), by the semantics PostgreSQL
documents for publications; both paths must deliver exactly that, event for event
(op, key, before, after, changed, LSN, commit LSN, xid), and so be identical.
"""

from __future__ import annotations

from w2k_filters import (Oracle, Workload, diff, events_of, expected_events, multi,  # noqa: F401
                         table)

ALL_CASES = {"insert in", "insert out", "delete in", "delete out", "update stays in",
             "update leaves", "update enters", "update stays out"}


def run_three_streams(multi, db, specs: dict[str, dict], *, workload: Workload,
                      replica_full: bool = True, truncate: bool = False):
    """Create a table per spec (name -> {filter, columns, operations}), start the three
    streams, run the workload (and a TRUNCATE of each table when truncate), wait until
    all three confirmed it; returns (streams, {label: {table: events}})."""
    names = list(specs)
    for t, spec in specs.items():
        workload.create(db, t, replica_full)
        Oracle.install(db, t, spec.get("filter"))
    workload.load(db, names)
    db.execute("TRUNCATE w2k_oracle")  # the snapshot's rows are not changes
    for t, spec in specs.items():
        spec["_snapshot"] = Oracle.matching(db, t, spec.get("filter"))
    s = multi([
        {"label": "all", "tables": [f"public.{t}" for t in names]},
        {"label": "push", "filters": "pushdown",
         "tables": [table(f"public.{t}", **{k: v for k, v in spec.items() if not k.startswith("_")})
                    for t, spec in specs.items()]},
        {"label": "conn", "filters": "connector",
         "tables": [table(f"public.{t}", **{k: v for k, v in spec.items() if not k.startswith("_")})
                    for t, spec in specs.items()]},
    ])
    s.start().wait_streaming()
    workload.run(db, names)
    if truncate:
        for t in names:
            db.execute(f"TRUNCATE {t}")
    s.wait_caught_up()
    got = {label: {t: events_of(recs) for t, recs in s.read_tables(label, names).items()}
           for label in ("all", "push", "conn")}
    return s, got


def check_paths(db, specs, got, *, has_old=True, require: set | None = None):
    """Both paths deliver exactly the expected events; returns per-table coverage."""
    problems = []
    coverage = {}
    for t, spec in specs.items():
        exp, cov = expected_events(
            got["all"][t], Oracle.verdicts(db, t), snapshot_keys=spec["_snapshot"],
            filter=spec.get("filter"), columns=spec.get("columns"),
            operations=spec.get("operations"), has_old=has_old)
        coverage[t] = cov
        push, conn = got["push"][t], got["conn"][t]
        if push != conn:
            problems.append(f"table {t} ({spec}): pushdown and connector differ:\n"
                            + diff(push, conn, "pushdown", "connector"))
        for name, evs in (("pushdown", push), ("connector", conn)):
            if evs != exp:
                problems.append(f"table {t} ({spec}): {name} != expected:\n"
                                + diff(evs, exp, name, "expected"))
        missing = (require or set()) - {k for k, n in cov.items() if n}
        if missing:
            problems.append(f"table {t}: the workload does not exercise {missing}: {cov}")
    assert not problems, "\n\n".join(problems)
    return coverage


# ------------------------------------------------------------------------ row filters

ROW_FILTERS = {
    # integer comparisons
    "f_int_cmp": "i > 10",
    "f_int_le_ne": "i <= 5 OR i <> i",
    # text comparisons (C collation: 'Alpha' < 'alpha'), the empty string
    "f_text_cmp": "txt >= 'beta' AND txt < 'zeta'",
    "f_text_eq_empty": "txt = '' OR txt = 'Alpha'",
    # AND / OR / NOT with NULLs (three-valued logic)
    "f_and_or": "(i >= 5 AND b) OR txt = 'gamma'",
    "f_not": "NOT (i < 10 OR txt = 'alpha')",
    # IN / NOT IN (a NULL operand is unknown)
    "f_in": "txt IN ('alpha', 'delta', '') OR i NOT IN (1, 5, 9)",
    # IS [NOT] NULL
    "f_null": "num IS NULL OR (d IS NOT NULL AND i IS NULL)",
    # BETWEEN on numeric (10 = 10.00; NaN above everything), NOT BETWEEN on integers
    "f_between": "num BETWEEN 9.99 AND 100.5 OR i NOT BETWEEN 0 AND 20",
    # LIKE (% _ and an escaped _), NOT LIKE
    "f_like": "txt LIKE 'al%' OR txt LIKE 'a\\_b' OR txt NOT LIKE '%a'",
    # numeric equality across scales, and with an integer literal
    "f_numeric": "num = 10 OR num > 100",
    # boolean: bare column, IS NOT FALSE
    "f_bool": "b OR (b IS NOT FALSE AND i > 15)",
    # timestamp: untyped and typed literals, microsecond edge
    "f_timestamp": "ts >= '2024-01-05 12:00:00' AND ts < TIMESTAMP '2024-02-01'",
    # date: BETWEEN with a typed bound, <>
    "f_date": "d BETWEEN DATE '2024-02-20' AND '2024-03-10' AND d <> '2024-03-01'",
}


def test_row_filters_both_paths_exactly_the_matching_changes(db, multi):
    """Every filter kind over every column type, with NULLs in the data: inserts pass when
    the new row matches, deletes when the old one does, updates arrive as updates, as
    deletes (leaving the set) or as inserts (entering it), or not at all; the snapshot holds
    exactly the matching rows. Pushdown and connector agree event for event."""
    specs = {t: {"filter": f} for t, f in ROW_FILTERS.items()}
    wl = Workload(seed=6, preexisting=16, inserts=24, updates=120, deletes=16).build()
    s, got = run_three_streams(multi, db, specs, workload=wl)
    cov = check_paths(db, specs, got, require=ALL_CASES)
    # the data did hold NULLs in every column the filters use, before and after changes
    nulls = {c for e in got["all"]["f_int_cmp"] if e.after for c, v in e.after if v is None}
    assert nulls == {"txt", "num", "i", "b", "ts", "d"}
    # sanity: the filters do filter (neither everything nor nothing on either side)
    for t, c in cov.items():
        assert 0 < c["update stays in"] and 0 < c["update stays out"], (t, c)
    assert s.stop() == 0


# ----------------------------------------------------------------------- column lists

def test_column_lists_both_paths(db, multi):
    """A column list delivers exactly the listed columns (key included, in table order) in
    snapshot reads, inserts, updates (changed, too) and deletes; with a row filter on the
    key it also selects rows. Tables with REPLICA IDENTITY DEFAULT (a column list must
    cover the replica identity when updates and deletes are published)."""
    specs = {
        "c_cols": {"columns": ["id", "txt", "d"]},
        "c_cols_order": {"columns": ["d", "num", "id"]},  # listed out of order
        "c_cols_keyfilter": {"columns": ["id", "num", "b"], "filter": "id <= 20"},
    }
    wl = Workload(seed=11, preexisting=12, inserts=20, updates=60, deletes=10).build()
    s, got = run_three_streams(multi, db, specs, workload=wl, replica_full=False)
    check_paths(db, specs, got, has_old=False)
    order = {"c_cols": ["id", "txt", "d"], "c_cols_order": ["id", "num", "d"],
             "c_cols_keyfilter": ["id", "num", "b"]}
    for t, cols in order.items():
        for label in ("push", "conn"):
            afters = [e.after for e in got[label][t] if e.after]
            assert afters, (t, label)
            assert all([c for c, _ in a] == cols for a in afters), (t, label, afters[0])
    # the key filter really selected: no row above 20 on either path
    assert {dict(e.key)["id"] for e in got["push"]["c_cols_keyfilter"]} <= set(range(1, 21))
    assert s.stop() == 0


# ------------------------------------------------------------------------- operations

OPERATION_SETS = {
    "o_insert": ["insert"],
    "o_update": ["update"],
    "o_delete": ["delete"],
    "o_truncate": ["truncate"],
    "o_ins_upd": ["insert", "update"],
    "o_del_trunc": ["delete", "truncate"],
    "o_all": ["insert", "update", "delete", "truncate"],
}


def test_operations_both_paths(db, multi):
    """Each subset of insert/update/delete/truncate delivers exactly those operations
    (no row filter); a TRUNCATE arrives on <prefix>.schema_changes only for tables that
    publish truncate. With pushdown each set of insert/update/delete has its publication
    (truncate is published when one of its tables asks, and wal2kafka drops it for the
    others); with the connector path wal2kafka applies each table's operations."""
    specs = {t: {"operations": ops} for t, ops in OPERATION_SETS.items()}
    wl = Workload(seed=3, preexisting=0, inserts=20, updates=40, deletes=8).build()
    s, got = run_three_streams(multi, db, specs, workload=wl, truncate=True)
    check_paths(db, specs, got)
    truncs = {}
    for label in ("all", "push", "conn"):
        evs = [r.value for r in s.read_changes(label) if r.value and r.value["type"] == "truncate"]
        truncs[label] = sorted(e["table"] for e in evs)
    assert truncs["all"] == sorted(OPERATION_SETS)
    want = sorted(t for t, ops in OPERATION_SETS.items() if "truncate" in ops)
    assert truncs["push"] == want, truncs
    assert truncs["conn"] == want, truncs
    assert s.stop() == 0


def test_operations_with_row_filter_follow_postgresql(db, multi):
    """Operations and a row filter together, as PostgreSQL defines them for a publication:
    the operation is checked on the change as it happened, then the row filter may turn an
    update into a delete (leaving the set) or an insert (entering it). So with operations
    [insert, update] an update leaving the set arrives as a delete, and with [insert] (or
    [delete]) an update entering (leaving) the set arrives not at all. Both paths alike."""
    specs = {
        "of_ins_upd": {"filter": "i > 10", "operations": ["insert", "update"]},
        "of_insert": {"filter": "i > 10", "operations": ["insert"]},
        "of_upd_del": {"filter": "i > 10", "operations": ["update", "delete"]},
        "of_delete": {"filter": "i > 10", "operations": ["delete"]},
    }
    wl = Workload(seed=8, preexisting=10, inserts=16, updates=60, deletes=10).build()
    s, got = run_three_streams(multi, db, specs, workload=wl)
    check_paths(db, specs, got)
    assert s.stop() == 0


def test_operations_changed_on_a_stream_that_has_run(db, multi):
    """A table's operations change in the config of a stream whose slot exists. Its new
    publication (PostgreSQL 15 publishes operations per publication) cannot serve the
    changes the slot holds from before it was created: nothing may be lost or fail. The
    stream goes on with its publication as it was (and says so) until it has caught up;
    at the next start the new operations apply. When no table has those operations any
    more, their publication is emptied but still read, so the changes the slot holds from
    while it had tables are not lost."""
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, v int)")
    streams = [{"label": "p", "filters": "pushdown", "snapshot": "never",
                "tables": ["public.a", "public.b"]}]
    s = multi(streams)
    s.start().wait_streaming()
    db.execute("INSERT INTO a VALUES (1, 1)")
    db.execute("INSERT INTO b VALUES (1, 1)")
    s.wait_caught_up()
    assert s.stop() == 0
    # changes while it is stopped, then b publishes inserts only
    db.execute("INSERT INTO a VALUES (2, 2)")
    db.execute("INSERT INTO b VALUES (2, 2)")
    s.set_streams([{"name": s.names["p"], "topic_prefix": s.prefixes["p"], "filters": "pushdown",
                    "snapshot": "never",
                    "tables": ("public.a", table("public.b", operations=["insert"]))}])
    s.start().wait_streaming()
    log = s.log(current=True)
    pending = f"{s.publication_of('p')}_insert"
    assert f"need publication(s) {pending}, which cannot serve the changes slot" in log, log
    db.execute("UPDATE b SET v = 10 WHERE id = 1")  # the old definition still publishes it
    s.wait_caught_up()
    assert s.stop() == 0
    s.start().wait_streaming()
    log = s.log(current=True)
    assert "cannot serve" not in log, log
    assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s AND "
                     "tablename = 'b'", (pending,)) == 1
    db.execute("INSERT INTO b VALUES (3, 3)")
    db.execute("UPDATE b SET v = 30 WHERE id = 3")  # b publishes no updates now
    db.execute("UPDATE a SET v = 20 WHERE id = 2")
    s.wait_caught_up()
    assert s.stop() == 0
    # back to every operation: b leaves its publication, which is emptied but still read,
    # since the slot holds b's insert from while it was there
    db.execute("INSERT INTO b VALUES (4, 4)")
    s.set_streams([{"name": s.names["p"], "topic_prefix": s.prefixes["p"], "filters": "pushdown",
                    "snapshot": "never", "tables": ("public.a", "public.b")}])
    s.start().wait_streaming()
    assert db.scalar("SELECT count(*) FROM pg_publication_tables WHERE pubname = %s",
                     (pending,)) == 0
    db.execute("UPDATE b SET v = 40 WHERE id = 4")
    s.wait_caught_up()
    got = s.read_tables("p", ["a", "b"])
    assert [(r.op, r.key["id"]) for r in got["a"]] == [("c", 1), ("c", 2), ("u", 2)]
    assert [(r.op, r.key["id"]) for r in got["b"]] == [
        ("c", 1), ("c", 2), ("u", 1), ("c", 3), ("c", 4), ("u", 4)]
    assert s.stop() == 0
