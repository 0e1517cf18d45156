"""Which tables a stream carries: exact names, patterns (schema.*, schema.prefix_*) with
excludes, and changing the list across a restart.

- Table A's subscribers see nothing of table B: not in A's topics, not in A's schemas or
  schema-change topics, not in A's publication.
- Patterns with excludes pick exactly the intended tables (the publication, the topics
  and the changes agree); `_` in a pattern is a literal underscore; a table created
  later joins when a pattern matches it and not when an exclude does.
- Adding and removing tables in the config and restarting updates the publication and
  loses none of the changes of the tables that stay, also those committed while
  wal2kafka was stopped.
"""

from __future__ import annotations

import time

from w2k_filters import multi, read_topics, topic_exists  # noqa: F401


def prefix_topics(kafka, prefix: str) -> set[str]:
    return {t for t in kafka.topics() if t.startswith(prefix + ".")}


def pub_tables(db, pub: str) -> set[str]:
    return {f"{s}.{t}" for s, t in db.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (pub,))}


def rows(recs) -> list:
    return [(r.op, r.key["id"], (r.value["after"] or {}).get("v") if r.value else None)
            for r in recs]


def test_table_a_subscribers_see_nothing_of_table_b(db, kafka, multi):
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE b (id int PRIMARY KEY, v text)")
    s = multi([{"label": "sa", "tables": ["public.a"]}, {"label": "sb", "tables": ["public.b"]}])
    s.start().wait_streaming()
    with db.connect(autocommit=False) as c:  # both tables in the same transactions
        for k in range(1, 6):
            c.execute("INSERT INTO a VALUES (%s, %s)", (k, f"a{k}"))
            c.execute("INSERT INTO b VALUES (%s, %s)", (k, f"b{k}"))
            c.commit()
        c.execute("UPDATE a SET v = v || '!' WHERE id = 2")
        c.execute("UPDATE b SET v = v || '!' WHERE id = 2")
        c.execute("DELETE FROM b WHERE id = 3")
        c.commit()
    db.execute("TRUNCATE b")
    db.execute("ALTER TABLE b ADD COLUMN w int")
    db.execute("INSERT INTO b VALUES (9, 'b9', 9)")
    s.wait_caught_up()

    pa, pb = s.prefixes["sa"], s.prefixes["sb"]
    assert pub_tables(db, s.publication_of("sa")) == {"public.a"}
    assert pub_tables(db, s.publication_of("sb")) == {"public.b"}
    assert prefix_topics(kafka, pa) == {f"{pa}.public.a", f"{pa}.schemas",
                                        f"{pa}.schema_changes", f"{pa}.state"}
    got = s.read_tables("sa", ["a"])["a"]
    assert rows(got) == [("c", k, f"a{k}") for k in range(1, 6)] + [("u", 2, "a2!")]
    assert all(r.value["source"]["table"] == "a" for r in got)
    # nothing of b among a's schema changes (b's TRUNCATE and new shape went to sb only)
    changes_a = [r.value for r in s.read_changes("sa") if r.value]
    assert all(c["table"] == "a" for c in changes_a), changes_a
    assert any(c["table"] == "b" and c["type"] == "truncate" for c in
               (r.value for r in s.read_changes("sb") if r.value))
    # no schema of a's prefix describes b's rows
    dec = s.decoder("sa")
    dec.refresh()
    names = {st.json.get("name", "") + " " + st.json.get("namespace", "")
             for st in dec.schemas.values()}
    assert not [n for n in names if ".b" in n.split()[-1] or n.split()[0] == "b"], names
    got_b = s.read_tables("sb", ["b"])["b"]
    assert rows(got_b) == ([("c", k, f"b{k}") for k in range(1, 6)] +
                           [("u", 2, "b2!"), ("d", 3, None), (None, 3, None), ("c", 9, "b9")])
    assert s.stop() == 0


def test_patterns_with_excludes_pick_exactly_the_intended_tables(db, kafka, multi):
    db.execute("CREATE SCHEMA sales")
    db.execute("CREATE SCHEMA hr")
    db.execute("CREATE SCHEMA salesx")
    every = ["sales.orders", "sales.order_items", "sales.order_tmp", "sales.customers",
             "sales.orderly", "hr.emp_main", "hr.emp_secret", "hr.employees", "hr.dept",
             "public.orders", "salesx.order_x"]
    for t in every:
        db.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v text)")
    s = multi([
        # every table of sales but *_tmp, and hr's emp_* but emp_secret
        {"label": "wide", "tables": ["sales.*", "hr.emp_*"],
         "exclude": ["sales.*_tmp", "hr.emp_secret"]},
        # sales.order_* : order_ then anything ('_' is literal: not orders, not orderly)
        {"label": "narrow", "tables": ["sales.order_*"], "exclude": ["sales.order_tmp"]},
    ])
    want = {
        "wide": {"sales.orders", "sales.order_items", "sales.customers", "sales.orderly",
                 "hr.emp_main"},
        "narrow": {"sales.order_items"},
    }
    s.start().wait_streaming()
    for label, tabs in want.items():
        assert pub_tables(db, s.publication_of(label)) == tabs, label
    with db.connect(autocommit=False) as c:
        for i, t in enumerate(every):
            c.execute(f"INSERT INTO {t} VALUES (%s, %s)", (i, t))
        c.commit()
    s.wait_caught_up()
    for label, tabs in want.items():
        p = s.prefixes[label]
        table_topics = prefix_topics(kafka, p) - {f"{p}.schemas", f"{p}.schema_changes",
                                                  f"{p}.state"}
        assert table_topics == {f"{p}.{t}" for t in tabs}, label
        got = read_topics(kafka, s.decoder(label), sorted(table_topics))
        for topic, recs in got.items():
            t = topic[len(p) + 1:]
            assert rows(recs) == [("c", every.index(t), t)], (label, topic)

    # tables created later: one a pattern matches joins (with the row written before it
    # joined), one an exclude matches does not
    db.execute("CREATE TABLE sales.late (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE sales.late_tmp (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO sales.late VALUES (1, 'early')")
    db.execute("INSERT INTO sales.late_tmp VALUES (1, 'never')")
    p = s.prefixes["wide"]
    deadline = time.monotonic() + 60
    while "sales.late" not in pub_tables(db, s.publication_of("wide")):
        s.check_alive()
        assert time.monotonic() < deadline, "sales.late did not join within 60 s"
        time.sleep(0.2)
    db.execute("INSERT INTO sales.late VALUES (2, 'joined')")
    db.execute("INSERT INTO sales.late_tmp VALUES (2, 'never')")
    s.wait_caught_up()
    late = s.read(label="wide", table="late", schema="sales",
                  until=lambda rs: {r.key["id"] for r in rs} >= {1, 2}, timeout=60)
    # row 1 comes from the re-read (op r); row 2 from the stream (c), and also from the
    # re-read when its chunk ran after the insert (DBLog: the same version again, never
    # an older one after a newer)
    assert {(r.key["id"], r.value["after"]["v"]) for r in late} == {(1, "early"), (2, "joined")}
    assert [r.op for r in late if r.key["id"] == 1] == ["r"]
    assert [r.op for r in late if r.key["id"] == 2] in (["c"], ["c", "r"], ["r", "c"])
    assert pub_tables(db, s.publication_of("wide")) == want["wide"] | {"sales.late"}
    assert pub_tables(db, s.publication_of("narrow")) == want["narrow"]
    assert not topic_exists(kafka, f"{p}.sales.late_tmp")
    assert s.stop() == 0


def test_add_and_remove_tables_across_restart_loses_nothing(db, kafka, multi):
    for t in ("a", "b", "c"):
        db.execute(f"CREATE TABLE {t} (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO c VALUES (0, 'c-before')")
    s = multi([{"label": "x", "tables": ["public.a", "public.b"]}])
    s.start().wait_streaming()
    db.execute("INSERT INTO a VALUES (1, 'a1')")
    db.execute("INSERT INTO b VALUES (1, 'b1')")
    s.wait_caught_up()
    assert s.stop() == 0

    # while stopped: changes to every table, many transactions
    with db.connect(autocommit=False) as c:
        for k in range(2, 52):
            c.execute("INSERT INTO a VALUES (%s, %s)", (k, f"a{k}"))
            c.execute("INSERT INTO b VALUES (%s, %s)", (k, f"b{k}"))
            c.execute("INSERT INTO c VALUES (%s, %s)", (k, f"c{k}"))
            c.commit()
        c.execute("UPDATE a SET v = 'a1-upd' WHERE id = 1")
        c.execute("DELETE FROM a WHERE id = 2")
        c.commit()
    # the config now lists a and c; b is gone
    g = dict(s.groups[0])
    g["tables"] = ("public.a", "public.c")
    s.set_streams([g])
    s.start().wait_streaming()
    assert pub_tables(db, s.publication_of("x")) == {"public.a", "public.c"}
    db.execute("INSERT INTO a VALUES (100, 'a100')")
    db.execute("INSERT INTO b VALUES (100, 'b100')")
    db.execute("INSERT INTO c VALUES (100, 'c100')")
    s.wait_caught_up()
    got = s.read_tables("x", ["a", "b"])
    assert rows(got["a"]) == ([("c", k, f"a{k}") for k in range(1, 52)] +
                              [("u", 1, "a1-upd"), ("d", 2, None), (None, 2, None),
                               ("c", 100, "a100")])
    # b's change after the restart (b no longer in the publication) is not streamed; those
    # committed while wal2kafka was stopped happened while b was still published: they
    # arrive all or not at all
    assert rows(got["b"]) in ([("c", 1, "b1")], [("c", k, f"b{k}") for k in range(1, 52)]), \
        rows(got["b"])
    c_keys = [r.key["id"] for r in s.read("x", "c", until=lambda rs: any(
        r.key["id"] == 100 for r in rs), timeout=60)]
    assert 100 in c_keys
    assert s.stop() == 0


def test_table_added_to_config_gets_its_existing_rows(db, kafka, multi):
    """A table added to the config across a restart joins like a table a pattern picks up
    while running: its rows are read (op r), so rows written before it joined, also
    while wal2kafka was stopped, are in its topic, then its changes follow."""
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v text)")
    db.execute("CREATE TABLE c (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO c VALUES (0, 'c-before')")
    s = multi([{"label": "x", "tables": ["public.a"]}])
    s.start().wait_streaming()
    assert s.stop() == 0
    db.execute("INSERT INTO c SELECT k, 'c' || k FROM generate_series(2, 51) k")
    g = dict(s.groups[0])
    g["tables"] = ("public.a", "public.c")
    s.set_streams([g])
    s.start().wait_streaming()
    db.execute("INSERT INTO c VALUES (100, 'c100')")
    s.wait_caught_up()
    recs = s.read("x", "c", until=lambda rs: any(r.key["id"] == 100 for r in rs), timeout=60)
    deadline = time.monotonic() + 15  # a re-read runs while streaming: give it time
    while len({r.key["id"] for r in recs}) < 52 and time.monotonic() < deadline:
        s.check_alive()
        time.sleep(0.5)
        recs = s.read("x", "c")
    last = {r.key["id"]: r.value["after"]["v"] for r in recs}
    assert last == {0: "c-before", **{k: f"c{k}" for k in range(2, 52)}, 100: "c100"}, \
        f"{len(last)} of 52 rows; ops {sorted({r.op for r in recs})}"
    assert s.stop() == 0
