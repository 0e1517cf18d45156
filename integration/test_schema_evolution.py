"""Live Avro schema evolution: a table's shape changes while it is streamed (column added
with and without a default, dropped, renamed, retyped, nullability changed), with rows
before and after, decoded by the independent client (fastavro with the schemas from
<prefix>.schemas), and the events on <prefix>.schema_changes — without the DDL trigger
(the new shape is seen with the next row, from pgoutput's Relation message) and with it
(`wal2kafka ddl install`: the DDL itself is announced, in its own transaction).

One connector per mode streams every case's table (a module-scoped scenario); each case
is its own test. Per case, in this order, each step waiting until the slot confirmed it:
  1. INSERT id 1 (the old shape)
  2. the ALTER TABLE, alone in its transaction (alter_txn)
  3. INSERT id 2 and UPDATE id 1 (the new shape), in one transaction (row_txn)

What is asserted, per case:
  - the rows: exact values before and after, the key schema unchanged;
  - the value schema: a new fingerprint (none for a nullability change: every row field is
    already nullable), stored in <prefix>.schemas before the first row that uses it
    (its Kafka timestamp <= the row's ts_ms), every row field optional with default null;
  - Avro schema resolution: the old row read with the new reader schema gives the
    expected record (an added column -> its Avro default null; a dropped one is skipped;
    int -> bigint is promoted) or, for text -> int, Avro refuses: the change is published
    as a new schema all the same, and announced;
  - the events of the table: exactly one 'alter' (none for a nullability change without
    the trigger), key {schema, table}, relid, old and new columns with types, OIDs,
    typmods and key flags; without the trigger it belongs to row_txn (txId, commit LSN
    and time of the first new row, its LSN not after that row's); with the trigger it is
    the DDL's own event (txId, LSN, commit LSN and time of alter_txn, ddl = the
    statement), also for a nullability change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from fastavro.read import SchemaResolutionError

from servers import database_name
from w2k import Connector, Decoder, consume, run_txn
from w2k_schema import (BIGINT, INT, TEXT, check_event_source, col, ddl_install, events_of,
                        fingerprint, key_fingerprint, resolve, row_fields, schema_records,
                        table_oid)

RESOLUTION_FAILS = object()


@dataclass
class Case:
    create: str
    before: str  # the old-shape row, id 1
    alter: str
    after: tuple  # statements of row_txn: the first is the new-shape INSERT of id 2
    old_cols: list
    new_cols: list
    rows_before: list  # `after` of the records before the ALTER
    rows_after: list  # ... of the records of row_txn
    resolved: object  # the old row read with the new reader schema (or RESOLUTION_FAILS)
    new_schema: bool = True  # the value schema changes


def _c(name, t, key=False, typmod=-1):
    return col(name, t[0], t[1], key, typmod)


CASES = {
    "add_column_with_default": Case(
        "CREATE TABLE add_def (id int PRIMARY KEY, a text)",
        "INSERT INTO add_def VALUES (1, 'a1')",
        "ALTER TABLE add_def ADD COLUMN n int DEFAULT 7",
        ("INSERT INTO add_def VALUES (2, 'a2', 8)", "UPDATE add_def SET a = 'a1b' WHERE id = 1"),
        [_c("id", INT, True), _c("a", TEXT)],
        [_c("id", INT, True), _c("a", TEXT), _c("n", INT)],
        [{"id": 1, "a": "a1"}],
        # PostgreSQL fills the old row with the SQL default; Avro's default is null
        [{"id": 2, "a": "a2", "n": 8}, {"id": 1, "a": "a1b", "n": 7}],
        {"id": 1, "a": "a1", "n": None}),
    "add_column_without_default": Case(
        "CREATE TABLE add_nodef (id int PRIMARY KEY, a text)",
        "INSERT INTO add_nodef VALUES (1, 'a1')",
        "ALTER TABLE add_nodef ADD COLUMN n text",
        ("INSERT INTO add_nodef VALUES (2, 'a2', 'n2')",
         "UPDATE add_nodef SET a = 'a1b' WHERE id = 1"),
        [_c("id", INT, True), _c("a", TEXT)],
        [_c("id", INT, True), _c("a", TEXT), _c("n", TEXT)],
        [{"id": 1, "a": "a1"}],
        [{"id": 2, "a": "a2", "n": "n2"}, {"id": 1, "a": "a1b", "n": None}],
        {"id": 1, "a": "a1", "n": None}),
    "drop_column": Case(
        "CREATE TABLE drop_col (id int PRIMARY KEY, a text, b int)",
        "INSERT INTO drop_col VALUES (1, 'a1', 10)",
        "ALTER TABLE drop_col DROP COLUMN a",
        ("INSERT INTO drop_col VALUES (2, 20)", "UPDATE drop_col SET b = 11 WHERE id = 1"),
        [_c("id", INT, True), _c("a", TEXT), _c("b", INT)],
        [_c("id", INT, True), _c("b", INT)],
        [{"id": 1, "a": "a1", "b": 10}],
        [{"id": 2, "b": 20}, {"id": 1, "b": 11}],
        {"id": 1, "b": 10}),
    "rename_column": Case(
        "CREATE TABLE ren_col (id int PRIMARY KEY, a text)",
        "INSERT INTO ren_col VALUES (1, 'a1')",
        "ALTER TABLE ren_col RENAME COLUMN a TO b",
        ("INSERT INTO ren_col VALUES (2, 'b2')", "UPDATE ren_col SET b = 'b1' WHERE id = 1"),
        [_c("id", INT, True), _c("a", TEXT)],
        [_c("id", INT, True), _c("b", TEXT)],
        [{"id": 1, "a": "a1"}],
        [{"id": 2, "b": "b2"}, {"id": 1, "b": "b1"}],
        # Avro resolves by name (no aliases): the renamed field takes its default
        {"id": 1, "b": None}),
    "retype_int_to_bigint": Case(
        "CREATE TABLE int_big (id int PRIMARY KEY, a int)",
        "INSERT INTO int_big VALUES (1, 10)",
        "ALTER TABLE int_big ALTER COLUMN a TYPE bigint",
        ("INSERT INTO int_big VALUES (2, 5000000000)", "UPDATE int_big SET a = a + 1 WHERE id = 1"),
        [_c("id", INT, True), _c("a", INT)],
        [_c("id", INT, True), _c("a", BIGINT)],
        [{"id": 1, "a": 10}],
        [{"id": 2, "a": 5000000000}, {"id": 1, "a": 11}],
        {"id": 1, "a": 10}),  # Avro promotes int to long
    "retype_text_to_int": Case(
        "CREATE TABLE text_int (id int PRIMARY KEY, a text)",
        "INSERT INTO text_int VALUES (1, '41')",
        "ALTER TABLE text_int ALTER COLUMN a TYPE int USING a::int",
        ("INSERT INTO text_int VALUES (2, 42)", "UPDATE text_int SET a = a + 1 WHERE id = 1"),
        [_c("id", INT, True), _c("a", TEXT)],
        [_c("id", INT, True), _c("a", INT)],
        [{"id": 1, "a": "41"}],
        [{"id": 2, "a": 42}, {"id": 1, "a": 42}],
        RESOLUTION_FAILS),  # string -> int: not an Avro promotion
    "retype_varchar_widened": Case(
        "CREATE TABLE vc (id int PRIMARY KEY, a varchar(10))",
        "INSERT INTO vc VALUES (1, 'short')",
        "ALTER TABLE vc ALTER COLUMN a TYPE varchar(20)",
        ("INSERT INTO vc VALUES (2, 'twenty characters!!')", "UPDATE vc SET a = 'x' WHERE id = 1"),
        [_c("id", INT, True), col("a", "character varying(10)", 1043, False, 14)],
        [_c("id", INT, True), col("a", "character varying(20)", 1043, False, 24)],
        [{"id": 1, "a": "short"}],
        [{"id": 2, "a": "twenty characters!!"}, {"id": 1, "a": "x"}],
        {"id": 1, "a": "short"},
        new_schema=False),  # both are Avro "string": the same value schema, a new shape
    "set_not_null": Case(
        "CREATE TABLE nn_set (id int PRIMARY KEY, a int)",
        "INSERT INTO nn_set VALUES (1, 10)",
        "ALTER TABLE nn_set ALTER COLUMN a SET NOT NULL",
        ("INSERT INTO nn_set VALUES (2, 20)", "UPDATE nn_set SET a = 11 WHERE id = 1"),
        [_c("id", INT, True), _c("a", INT)],
        [_c("id", INT, True), _c("a", INT)],
        [{"id": 1, "a": 10}],
        [{"id": 2, "a": 20}, {"id": 1, "a": 11}],
        {"id": 1, "a": 10},
        new_schema=False),
    "drop_not_null": Case(
        "CREATE TABLE nn_drop (id int PRIMARY KEY, a int NOT NULL)",
        "INSERT INTO nn_drop VALUES (1, 10)",
        "ALTER TABLE nn_drop ALTER COLUMN a DROP NOT NULL",
        ("INSERT INTO nn_drop VALUES (2, NULL)", "UPDATE nn_drop SET a = NULL WHERE id = 1"),
        [_c("id", INT, True), _c("a", INT)],
        [_c("id", INT, True), _c("a", INT)],
        [{"id": 1, "a": 10}],
        [{"id": 2, "a": None}, {"id": 1, "a": None}],
        {"id": 1, "a": 10},
        new_schema=False),
}

# A change of the Relation message (pgoutput) is a change of names, types or typmods;
# nullability is not in it.
SHAPE_CHANGES = {k for k, c in CASES.items() if c.old_cols != c.new_cols}


def table_of(case: Case) -> str:
    return case.create.split()[2]


@dataclass
class Scenario:
    mode: str
    db: object
    conn: Connector
    dec: Decoder
    alter_txns: dict = field(default_factory=dict)
    row_txns: dict = field(default_factory=dict)
    records: dict = field(default_factory=dict)  # table -> records
    events: list = field(default_factory=list)
    schemas: dict = field(default_factory=dict)


@pytest.fixture(scope="module", params=["no_trigger", "trigger"])
def scenario(request, pg, kafka, wal2kafka_bin, tmp_path_factory):
    mode = request.param
    db = pg.create_database(database_name(f"schema_evolution_{mode}"))
    prefix = f"t_evo_{mode}_{uuid.uuid4().hex[:6]}"
    conn = Connector(wal2kafka_bin, db, kafka, ["public.*"], prefix,
                     workdir=tmp_path_factory.mktemp(f"evo_{mode}"),
                     stream_settings={"snapshot": "never"})
    try:
        for c in CASES.values():
            db.execute(c.create)
        if mode == "trigger":
            ddl_install(wal2kafka_bin, conn)
        conn.start().wait_streaming()
        sc = Scenario(mode, db, conn, Decoder(kafka, prefix))
        for c in CASES.values():
            db.execute(c.before)
        conn.wait_caught_up()
        for name, c in CASES.items():
            sc.alter_txns[name] = run_txn(db, c.alter)
            conn.wait_caught_up()
            sc.row_txns[name] = run_txn(db, *c.after)
            conn.wait_caught_up()
        for name, c in CASES.items():
            sc.records[name] = consume(kafka, sc.dec, conn.topic(table_of(c)), until=3,
                                       to_end=True)
        sc.events = consume(kafka, sc.dec, conn.changes_topic, to_end=True)
        sc.schemas = schema_records(kafka, prefix)
        assert conn.stop() == 0
        yield sc
    finally:
        conn.cleanup()
        print(f"\n--- {conn.log_path} ---\n{conn.log_tail(80)}")
        db.drop()


@pytest.mark.parametrize("name", list(CASES))
def test_rows_and_schemas(scenario, name):
    """Rows before and after the change decode exactly; the new value schema is stored
    before the first row that uses it; the key schema stays."""
    case = CASES[name]
    recs = scenario.records[name]
    assert [(r.op, r.value["after"]) for r in recs] == \
        [("c", v) for v in case.rows_before] + [("c", case.rows_after[0]), ("u", case.rows_after[1])]
    old, new, upd = recs
    assert new.value["source"]["txId"] == upd.value["source"]["txId"] == scenario.row_txns[name].xid
    assert key_fingerprint(old) == key_fingerprint(new) == key_fingerprint(upd), \
        "the key schema does not change with a non-key column"
    old_fp, new_fp = fingerprint(old), fingerprint(new)
    assert fingerprint(upd) == new_fp
    if case.new_schema:
        assert old_fp != new_fp, "a new value schema for the new shape"
        stored = scenario.schemas[new_fp]
        assert stored.timestamp <= new.value["ts_ms"], \
            "the new schema was stored in <prefix>.schemas before the row that uses it"
    else:
        assert old_fp == new_fp, "the Avro value schema is the same for this change"
    # every row field optional with default null: a consumer with the new schema can read
    # data written before a column existed (Avro schema resolution)
    fields = row_fields(scenario.dec, new_fp)
    assert [f["name"] for f in fields] == [c["name"] for c in case.new_cols]
    for f in fields:
        assert f["type"][0] == "null" and "default" in f and f["default"] is None, f


@pytest.mark.parametrize("name", list(CASES))
def test_old_rows_read_with_new_schema(scenario, name):
    """Avro schema resolution of the old row with the new reader schema."""
    case = CASES[name]
    old, new, _ = scenario.records[name]
    if case.resolved is RESOLUTION_FAILS:
        with pytest.raises(SchemaResolutionError):
            resolve(scenario.dec, old, fingerprint(new))
    else:
        assert resolve(scenario.dec, old, fingerprint(new)) == {
            "before": None, "after": case.resolved, "op": "c",
            "source": old.value["source"], "ts_ms": old.value["ts_ms"], "changed": None}


@pytest.mark.parametrize("name", list(CASES))
def test_schema_change_event(scenario, name):
    """The events on <prefix>.schema_changes for the change."""
    case = CASES[name]
    table = table_of(case)
    evs = events_of(scenario.events, table)
    old_row, new_row, _ = scenario.records[name]
    trigger = scenario.mode == "trigger"
    if not trigger and name not in SHAPE_CHANGES:
        assert evs == [], "nullability is not part of pgoutput's Relation message: no event"
        return
    assert [e.value["type"] for e in evs] == ["alter"], [
        (e.value["type"], e.value["ddl"], e.value["new_columns"]) for e in evs]
    (ev,) = evs
    v = ev.value
    assert ev.key == {"schema": "public", "table": table}
    assert (v["schema"], v["table"], v["relid"]) == ("public", table, table_oid(scenario.db, table))
    assert (v["old_schema"], v["old_table"], v["options"]) == (None, None, [])
    assert v["old_columns"] == case.old_cols
    assert v["new_columns"] == case.new_cols
    assert v["source"]["lsn"] <= new_row.value["source"]["lsn"], \
        "announced at an LSN not after the first row of the new shape"
    assert v["source"]["lsn"] > old_row.value["source"]["lsn"]
    if trigger:
        assert v["ddl"] == case.alter, "the statement, from the DDL trigger"
        check_event_source(ev, scenario.db, scenario.conn.prefix, table,
                           txn=scenario.alter_txns[name])
    else:
        assert v["ddl"] is None
        check_event_source(ev, scenario.db, scenario.conn.prefix, table, row=new_row)
