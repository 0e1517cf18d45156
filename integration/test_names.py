"""Names that never collide and never move (issue 13, point 3).

Proves, with the rule of schemas/README.md "Names":
- tables "Sales"."Order Items" and "Sales"."Order_Items" get topics of their own
  (Order_x20Items, Order_Items), each holding only its rows, snapshot and streaming;
- columns "a b", a_b, a_b_2 and "ü-ber" become fields a_x20b, a_b, a_b_2 and
  _xC3_xBC_x2Dber with the right values, the schemas keep the PostgreSQL names
  (pg.name, pg.schema, pg.table); after DROP COLUMN "a b" the fields a_b and a_b_2 still
  hold columns a_b and a_b_2;
- tables a_b.c and a.b_c, whose topics Kafka cannot keep apart, are refused by run
  (exit 3) and by check, each naming both tables and the fix.
"""

from __future__ import annotations

import json

from w2k import Decoder, connectors, consume, run_cli, run_txn  # noqa: F401 (fixture)


def _fields(schema_json: dict, record_suffix: str) -> tuple[dict, list[dict]]:
    """The record whose name ends in record_suffix (searched through the schema) and its
    fields."""
    found = []

    def walk(x):
        if isinstance(x, dict):
            if x.get("type") == "record" and str(x.get("name", "")).endswith(record_suffix):
                found.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(schema_json)
    assert found, f"no record *{record_suffix} in {json.dumps(schema_json)[:400]}"
    return found[0], found[0]["fields"]


def test_names_never_collide_nor_move(db, kafka, connectors):
    db.execute('CREATE SCHEMA "Sales"')
    db.execute('CREATE TABLE "Sales"."Order Items" (id int PRIMARY KEY, v text)')
    db.execute('CREATE TABLE "Sales"."Order_Items" (id int PRIMARY KEY, v text)')
    db.execute('CREATE TABLE cols (id int PRIMARY KEY, "a b" text, a_b text, a_b_2 text, '
               '"ü-ber" text)')
    run_txn(db, """INSERT INTO "Sales"."Order Items" VALUES (1, 'space snap')""",
            """INSERT INTO "Sales"."Order_Items" VALUES (1, 'underscore snap')""",
            "INSERT INTO cols VALUES (1, 'A B', 'A_B', 'A_B_2', 'UBER')")
    conn = connectors(['"Sales"."Order Items"', '"Sales"."Order_Items"', "public.cols"])
    conn.start().wait_streaming()
    run_txn(db, """INSERT INTO "Sales"."Order Items" VALUES (2, 'space stream')""",
            """INSERT INTO "Sales"."Order_Items" VALUES (2, 'underscore stream')""",
            "INSERT INTO cols VALUES (2, 'A B 2', 'A_B 2', 'A_B_2 2', 'UBER 2')")
    run_txn(db, 'ALTER TABLE cols DROP COLUMN "a b"')
    run_txn(db, "INSERT INTO cols VALUES (3, 'A_B 3', 'A_B_2 3', 'UBER 3')")
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)

    space = consume(kafka, dec, f"{conn.prefix}.Sales.Order_x20Items", until=2, to_end=True)
    under = consume(kafka, dec, f"{conn.prefix}.Sales.Order_Items", until=2, to_end=True)
    assert [r.value["after"] for r in space] == [{"id": 1, "v": "space snap"},
                                                 {"id": 2, "v": "space stream"}]
    assert [r.value["after"] for r in under] == [{"id": 1, "v": "underscore snap"},
                                                 {"id": 2, "v": "underscore stream"}]
    assert [r.value["source"]["table"] for r in space] == ["Order Items"] * 2
    # the records of the escaped table name keep the PostgreSQL names
    sch = dec.schema_for(space[0].raw_value[2:10].hex()).json
    env, _ = _fields(sch, ".Envelope")
    assert env["name"] == f"{conn.prefix}.Sales.Order_x20Items.Envelope"
    assert (env.get("pg.schema"), env.get("pg.table")) == ("Sales", "Order Items")
    plain = dec.schema_for(under[0].raw_value[2:10].hex()).json
    assert "pg.table" not in _fields(plain, ".Envelope")[0]  # a plain name carries none

    rows = consume(kafka, dec, conn.topic("cols"), until=3, to_end=True)
    assert [r.value["after"] for r in rows] == [
        {"id": 1, "a_x20b": "A B", "a_b": "A_B", "a_b_2": "A_B_2", "_xC3_xBC_x2Dber": "UBER"},
        {"id": 2, "a_x20b": "A B 2", "a_b": "A_B 2", "a_b_2": "A_B_2 2",
         "_xC3_xBC_x2Dber": "UBER 2"},
        # after DROP COLUMN "a b": a_b and a_b_2 keep their own columns' values
        {"id": 3, "a_b": "A_B 3", "a_b_2": "A_B_2 3", "_xC3_xBC_x2Dber": "UBER 3"}]
    _, fields = _fields(dec.schema_for(rows[0].raw_value[2:10].hex()).json, ".Value")
    assert [(f["name"], f.get("pg.name")) for f in fields] == [
        ("id", None), ("a_x20b", "a b"), ("a_b", None), ("a_b_2", None),
        ("_xC3_xBC_x2Dber", "ü-ber")]
    _, fields = _fields(dec.schema_for(rows[2].raw_value[2:10].hex()).json, ".Value")
    assert [f["name"] for f in fields] == ["id", "a_b", "a_b_2", "_xC3_xBC_x2Dber"]
    assert conn.stop() == 0


def test_topic_collision_refused(db, kafka, connectors, wal2kafka_bin):
    db.execute("CREATE SCHEMA a_b")
    db.execute("CREATE SCHEMA a")
    db.execute("CREATE TABLE a_b.c (id int PRIMARY KEY)")
    db.execute("CREATE TABLE a.b_c (id int PRIMARY KEY)")
    conn = connectors(["a_b.c", "a.b_c"])
    want = ['table "a_b"."c"', 'table "a"."b_c"', f"{conn.prefix}.a_b.c",
            f"{conn.prefix}.a.b_c", "Kafka cannot keep apart", "rename one of the tables"]

    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=conn.env)
    assert r.returncode != 0, r.stdout
    out = " ".join(r.stdout.split())
    for w in want:
        assert w in out, (w, r.stdout)

    conn.start()
    assert conn.wait_exit(60) == 3
    log = conn.log().replace('\\"', '"')  # logfmt escapes the quotes
    for w in want:
        assert w in log, (w, log)
    # nothing was created for either table
    topics = kafka.topics()
    assert f"{conn.prefix}.a_b.c" not in topics and f"{conn.prefix}.a.b_c" not in topics
