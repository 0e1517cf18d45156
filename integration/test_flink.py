"""Apache Flink SQL reads wal2kafka's registry-mode topics (issue 16): real PyFlink 2.2,
the Kafka and Confluent-registry Avro connector jars, Apicurio as the registry.

Proves: with the `debezium-avro-confluent` format and REPLICA IDENTITY FULL
- a changelog aggregation (SUM/COUNT ... GROUP BY) equals PostgreSQL's after inserts,
  updates, key changes, deletes and bulk changes;
- every type of schemas/README.md, edge values included, read into its natural Flink
  SQL type equals PostgreSQL's value (time_precision = "millis" for TIMESTAMP(3) and
  TIME(3)); special values are null (special_values = "null") or fail the job (the
  default marker), never a wrong number; the default micros read as TIMESTAMP(3) are
  wrong ×1000, as BIGINT exact;
- docs/reading.md's Flink DDL reads a topic as printed;
- a replica pipeline (Flink SQL → JDBC upsert into a second database) equals the source
  row for row (EXCEPT both ways) after a mixed workload with a TRUNCATE and a new column.

One PyFlink mini-cluster (integration/flink/runner.py, run by the Flink virtualenv's
python from scripts/setup.sh) serves the module. Every Flink source is bounded
('scan.bounded.mode' = 'latest-offset'): a query reads what wal2kafka has confirmed,
then ends, so no wait is a sleep. Without the Flink install the tests fail.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import re
import struct
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka import TopicPartition

from w2k import connectors  # noqa: F401 (fixture)
from w2k_ecosystem import registry  # noqa: F401 (fixture)

pytestmark = pytest.mark.flink

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("W2K_CACHE", HERE.parent / ".cache"))
FLINK_DIR = CACHE / "flink"


class Flink:
    """The runner subprocess: one JVM, one local mini-cluster."""

    def __init__(self, workdir: Path):
        py = FLINK_DIR / "venv" / "bin" / "python"
        jars = sorted(str(p) for p in (FLINK_DIR / "jars").glob("*.jar"))
        if not py.exists() or len(jars) < 5:
            pytest.fail(f"Flink is not installed in {FLINK_DIR} (run scripts/setup.sh)")
        self.log = workdir / "flink.log"
        self._err = open(self.log, "wb")
        env = {**os.environ, "W2K_FLINK_JARS": ":".join(jars)}
        self.proc = subprocess.Popen([str(py), str(HERE / "flink" / "runner.py")], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, bufsize=1)
        self._lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self._answer(120)

    def _pump(self):
        for line in self.proc.stdout:
            if line.startswith("@@w2k "):
                self._lines.put(json.loads(line[6:]))
        self._lines.put({"error": "the Flink runner exited"})

    def _answer(self, timeout: float) -> dict:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"Flink did not answer in {timeout}s; log: {self.log}")

    def request(self, req: dict, timeout: float = 180) -> dict:
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def sql(self, *stmts: str) -> None:
        ans = self.request({"sql": list(stmts)})
        assert "error" not in ans, ans["error"]

    def conf(self, options: dict) -> None:
        assert "error" not in self.request({"conf": options})

    def query(self, sql: str) -> list:
        """Every changelog row of a bounded query: [("+I", [values]), ...]."""
        ans = self.request({"query": sql})
        assert "error" not in ans, ans["error"]
        return [(k, v) for k, v in ans["rows"]]

    def query_error(self, sql: str) -> str:
        return self.request({"query": sql}).get("error", "")

    def insert(self, sql: str) -> None:
        ans = self.request({"insert": sql})
        assert "error" not in ans, ans["error"]

    def close(self):
        try:
            self.request({"quit": True}, timeout=30)
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


@pytest.fixture(scope="module")
def flink(tmp_path_factory):
    t0 = time.monotonic()
    f = Flink(tmp_path_factory.mktemp("flink"))
    print(f"\nFlink mini-cluster up in {time.monotonic() - t0:.1f}s")
    yield f
    f.close()


def materialize(changelog: list) -> collections.Counter:
    """The table a changelog stands for (a multiset of rows)."""
    rows: collections.Counter = collections.Counter()
    for kind, values in changelog:
        key = json.dumps(values)
        if kind in ("+I", "+U"):
            rows[key] += 1
        else:
            assert rows[key] > 0, (kind, values)
            rows[key] -= 1
    return +rows


def kafka_table(name: str, topic: str, columns: str, kafka, registry, **extra) -> str:
    opts = {"connector": "kafka", "topic": topic,
            "properties.bootstrap.servers": kafka.bootstrap,
            "scan.startup.mode": "earliest-offset", "scan.bounded.mode": "latest-offset",
            "format": "debezium-avro-confluent", "debezium-avro-confluent.url": registry.url,
            **extra}
    with_ = ",\n  ".join(f"'{k}' = '{v}'" for k, v in opts.items())
    return f"CREATE TABLE {name} (\n  {columns}\n) WITH (\n  {with_}\n)"


def registry_settings(registry) -> dict:
    return {"schema_registry": {"url": registry.url}}


# ------------------------------------------------------------- the aggregation


def test_changelog_aggregation_equals_postgresql(db, kafka, registry, connectors, flink):
    db.execute("CREATE TABLE acc (id int PRIMARY KEY, grp text NOT NULL, "
               "amount numeric(12,2), qty int)")
    db.execute("ALTER TABLE acc REPLICA IDENTITY FULL")
    conn = connectors(["public.acc"], settings=registry_settings(registry))
    conn.start().wait_streaming()
    db.execute("INSERT INTO acc SELECT g, 'g' || (g % 7), g * 1.25, g % 11 "
               "FROM generate_series(1, 400) g")
    db.execute("UPDATE acc SET amount = amount + 0.01, qty = qty + 1 WHERE id % 3 = 0")
    db.execute("UPDATE acc SET grp = 'moved' WHERE id % 10 = 0")            # group changes
    db.execute("UPDATE acc SET id = id + 1000 WHERE id % 17 = 0")           # key changes
    db.execute("DELETE FROM acc WHERE id % 13 = 0")
    db.execute("UPDATE acc SET amount = NULL WHERE id % 29 = 0")            # NULLs in SUM
    db.execute("UPDATE acc SET qty = qty * 2")                              # bulk update
    db.execute("DELETE FROM acc WHERE grp = 'g3'")                          # bulk delete
    db.execute("INSERT INTO acc VALUES (5000, 'new', 1.00, 1), (5001, 'new', 2.50, 2)")
    conn.wait_caught_up()

    flink.conf({"table.exec.source.cdc-events-duplicate": "true"})
    flink.sql(kafka_table("acc", conn.topic("acc"),
                          "id INT, grp STRING, amount DECIMAL(12,2), qty INT, "
                          "PRIMARY KEY (id) NOT ENFORCED", kafka, registry))
    got = materialize(flink.query(
        "SELECT grp, SUM(amount), COUNT(*), SUM(qty), COUNT(amount) FROM acc GROUP BY grp"))
    with db.connect() as c:
        want = collections.Counter(json.dumps([g, None if s is None else str(s), n, q, na])
                                   for g, s, n, q, na in c.execute(
            "SELECT grp, SUM(amount), COUNT(*), SUM(qty), COUNT(amount) FROM acc GROUP BY grp"))
    assert got == want
    assert len(want) == 8  # g0..g6 without g3, moved, new
    assert conn.stop() == 0


# ------------------------------------------------------------------- the types

TYPES_TABLE = """CREATE TABLE ty (id int PRIMARY KEY, b boolean, i2 smallint, i4 int,
  i8 bigint, f4 real, f8 double precision, t text, vc varchar(10), ch char(4), js json,
  jb jsonb, e mood, tz timetz, by bytea, n numeric(10,2), nv numeric, d date, tm time,
  ts timestamp, tstz timestamptz, iv interval, u uuid, ip inet, ai int[], at text[],
  an numeric(12,2)[])"""

TYPES_ROWS = [
    "(1, true, -32768, -2147483648, -9223372036854775808, 1.5, 1.7976931348623157e308, "
    "'héllo ✓ \"q\"', '', 'a', '{\"a\": 1,  \"b\":[1,2]}', '{\"b\":2,\"a\":1}', 'sad', "
    "'12:00:00.5-03:30', '\\x00ff10', -99999999.99, -0.001, '0001-01-01', '00:00:00', "
    "'0001-01-01 00:00:00', '1969-12-31 23:59:59.999+00', 'P1Y2M3DT4H5M6.5S', "
    "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '192.168.0.1/24', '{1,NULL,3}', "
    "'{\"a b\",NULL,\"NULL\",\"\"}', '{1.50,NULL,-2.25}')",
    "(2, false, 32767, 2147483647, 9223372036854775807, 'NaN', '-Infinity', "
    "repeat('x', 3000), 'abcdefghij', 'abcd', '[]', '[1, \"a\", null]', 'happy', "
    "'23:59:59.999999+14', '', 99999999.99, 123456789012345678901234567890.123456789, "
    "'9999-12-31', '23:59:59.999', '9999-12-31 23:59:59.999', "
    "'2024-01-15 12:34:56.123456+00', '-1 year -2 months +3 days -04:05:06.123456', "
    "'00000000-0000-0000-0000-000000000000', '::1', '{}', '{}', '{0.01}')",
    "(3, NULL, NULL, NULL, NULL, '-Infinity', 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, "
    "NULL, NULL, 0, 0, '1970-01-01', '12:34:56.789123', '1970-01-01 00:00:00', "
    "'1900-02-28 23:59:59.9999+00', '0 seconds', NULL, NULL, NULL, NULL, NULL)",
]
# special values, one per row: with special_values = "null" nulls, with the marker errors
SPECIAL_ROWS = {  # id: (column, value)
    4: ("n", "'NaN'"), 5: ("nv", "'Infinity'"), 6: ("d", "'infinity'"),
    7: ("tm", "'24:00:00'"), 8: ("ts", "'-infinity'"), 9: ("tstz", "'infinity'"),
    10: ("ai", "'{{1,2},{3,4}}'"), 11: ("at", "'[0:1]={a,b}'"), 12: ("an", "'{NaN,1}'"),
}
FLINK_TYPES = """id INT, b BOOLEAN, i2 SMALLINT, i4 INT, i8 BIGINT, f4 FLOAT, f8 DOUBLE,
  t STRING, vc STRING, ch STRING, js STRING, jb STRING, e STRING, tz STRING, `by` BYTES,
  n DECIMAL(10,2), nv ROW<scale INT, `value` BYTES>, d DATE, tm TIME(3), ts TIMESTAMP(3),
  tstz TIMESTAMP(3), iv ROW<months INT, days INT, micros BIGINT>, u STRING, ip STRING,
  ai ARRAY<INT>, `at` ARRAY<STRING>, an ARRAY<DECIMAL(12,2)>, PRIMARY KEY (id) NOT ENFORCED"""
# dates and timestamps compared as Flink's own text; TIME as Java's LocalTime text
# (Flink's CAST of a TIME to STRING drops the fraction, whatever the value)
FLINK_SELECT = """SELECT id, b, i2, i4, i8, f4, f8, t, vc, ch, js, jb, e, tz, `by`, n, nv,
  CAST(d AS STRING), tm, CAST(ts AS STRING), CAST(tstz AS STRING), iv, u,
  ip, ai, `at`, an FROM {table}"""
PG_SELECT = """SELECT id, b, i2, i4, i8, f4, f8, t, vc, ch, js::text, jb::text, e::text,
  tz::text, by, n, nv::text,
  to_char(d, 'YYYY-MM-DD'),
  tm, to_char(ts, 'YYYY-MM-DD HH24:MI:SS.MS'),
  to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS'),
  CASE WHEN iv IS NOT NULL THEN ARRAY[(extract(year from iv) * 12 + extract(month from iv)),
    extract(day from iv),
    (extract(hour from iv) * 3600000000 + extract(minute from iv) * 60000000
     + extract(microseconds from iv))]::bigint[] END,
  u::text, CASE WHEN ip IS NOT NULL THEN format('%s', ip) END, ai, at, an FROM ty
  WHERE id < 4 ORDER BY id"""


def _unscaled(text: str) -> list:
    """numeric without typmod as wal2kafka.VariableScaleDecimal: [scale, unscaled bytes]."""
    d = Decimal(text)
    sign, digits, exp = d.as_tuple()
    unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    n = max(1, (unscaled.bit_length() + 8) // 8)
    return [max(0, -exp), unscaled.to_bytes(n, "big", signed=True).hex()]


def _local_time_text(t) -> str | None:
    """A time as Java's LocalTime.toString() prints it (HH:mm, HH:mm:ss, HH:mm:ss.SSS)."""
    if t is None:
        return None
    if t.microsecond // 1000:  # time_precision = "millis" truncates
        return f"{t:%H:%M:%S}.{t.microsecond // 1000:03d}"
    return f"{t:%H:%M:%S}" if t.second else f"{t:%H:%M}"


def _pg_rows(db) -> dict:
    out = {}
    with db.connect() as c:
        for r in c.execute(PG_SELECT):
            r = list(r)
            r[5] = None if r[5] is None else struct.unpack("f", struct.pack("f", r[5]))[0]
            r[14] = None if r[14] is None else bytes(r[14]).hex()
            for i in (15,):
                r[i] = None if r[i] is None or r[i].is_nan() else str(r[i])
            r[16] = None if r[16] in (None, "NaN", "Infinity", "-Infinity") else _unscaled(r[16])
            r[18] = _local_time_text(r[18])
            an = r[26]
            r[26] = None if an is None else [None if x is None or x.is_nan() else str(x)
                                             for x in an]
            out[r[0]] = json.loads(json.dumps([_json(v) for v in r]))
    return out


def _json(v):
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return repr(v)
    if isinstance(v, Decimal):
        return str(v)
    return v


def test_every_type_reads_into_its_natural_flink_type(db, kafka, registry, connectors, flink):
    db.execute("CREATE TYPE mood AS ENUM ('sad', 'happy')")
    db.execute(TYPES_TABLE)
    db.execute("ALTER TABLE ty REPLICA IDENTITY FULL")
    millis = connectors(["public.ty"], settings=registry_settings(registry),
                        stream_settings={"time_precision": "millis", "special_values": "null"},
                        prefix=f"{db.name}_ms")
    micros = connectors(["public.ty"], settings=registry_settings(registry),
                        prefix=f"{db.name}_us")
    millis.start().wait_streaming()
    micros.start().wait_streaming()
    db.execute("INSERT INTO ty VALUES " + ", ".join(TYPES_ROWS))
    db.execute("UPDATE ty SET i4 = 7 WHERE id = 3")  # an update carries every type in before too
    millis.wait_caught_up()
    micros.wait_caught_up()

    flink.sql(kafka_table("ty_ms", millis.topic("ty"), FLINK_TYPES, kafka, registry))
    got = {v[0]: v for v in map(json.loads, materialize(flink.query(
        FLINK_SELECT.format(table="ty_ms"))))}
    want = _pg_rows(db)
    for i in want:
        diff = [(n, a, b) for n, (a, b) in enumerate(zip(got[i], want[i])) if a != b]
        assert got[i] == want[i], (i, diff)

    # The default time_precision = "micros", measured: Flink's Avro formats have no
    # TIMESTAMP(6) and read timestamp-micros into TIMESTAMP(3) as milliseconds (x1000);
    # BIGINT reads the microseconds exactly.
    us = micros.topic("ty")
    flink.sql(kafka_table("ty_us3", us, "id INT, ts TIMESTAMP(3), tstz TIMESTAMP(3), "
                          "PRIMARY KEY (id) NOT ENFORCED", kafka, registry),
              kafka_table("ty_us6", us, "id INT, tstz TIMESTAMP(6), "
                          "PRIMARY KEY (id) NOT ENFORCED", kafka, registry),
              kafka_table("ty_ust", us, "id INT, tm TIME(3), PRIMARY KEY (id) NOT ENFORCED",
                          kafka, registry),
              kafka_table("ty_usl", us, "id INT, ts BIGINT, tstz BIGINT, tm BIGINT, "
                          "PRIMARY KEY (id) NOT ENFORCED", kafka, registry))
    wrong = flink.query("SELECT CAST(tstz AS STRING) FROM ty_us3 WHERE id = 1")
    print("timestamp-micros as TIMESTAMP(3):", wrong)
    assert wrong[0][1] != ["1969-12-31 23:59:59.999"], "Flink reads micros now: see docs/reading.md"
    err = flink.query_error("SELECT * FROM ty_us6")
    print("timestamp-micros as TIMESTAMP(6):", err.splitlines()[:3])
    assert err
    err = flink.query_error("SELECT * FROM ty_ust")
    print("time-micros as TIME(3):", err.splitlines()[-1:])
    assert err
    got = {v[0]: v[1:] for v in map(json.loads, materialize(flink.query("SELECT * FROM ty_usl")))}
    with db.connect() as c:
        exact = {r[0]: list(r[1:]) for r in c.execute(
            "SELECT id, (extract(epoch FROM ts) * 1000000)::bigint, "
            "(extract(epoch FROM tstz) * 1000000)::bigint, "
            "(extract(epoch FROM tm) * 1000000)::bigint FROM ty")}
    assert got == exact

    # Special values: null with special_values = "null", an error with the marker
    first = 4  # offset of the first special row: 3 inserts and an update before it
    for i, (col, value) in SPECIAL_ROWS.items():
        db.execute(f"INSERT INTO ty (id, {col}) VALUES ({i}, {value})")
    millis.wait_caught_up()
    micros.wait_caught_up()
    got = {v[0]: v for v in map(json.loads, materialize(flink.query(
        FLINK_SELECT.format(table="ty_ms"))))}
    for i in SPECIAL_ROWS:
        assert got[i] == [i] + [None] * 25 + ([[None, "1.00"]] if i == 12 else [None]), i
    assert {k: got[k] for k in want} == want
    for offset, (i, (col, _)) in enumerate(SPECIAL_ROWS.items(), start=first):
        if col in ("ts", "at"):  # the same branches as tstz and ai: save two jobs
            continue
        # that one message, with the natural type (BIGINT for the micros timestamps)
        ddl = FLINK_TYPES.replace("TIMESTAMP(3)", "BIGINT").replace("TIME(3)", "BIGINT")
        flink.sql(kafka_table(f"ty_sv{i}", us, ddl, kafka, registry, **{
            "scan.startup.mode": "specific-offsets",
            "scan.startup.specific-offsets": f"partition:0,offset:{offset}",
            "scan.bounded.mode": "specific-offsets",
            "scan.bounded.specific-offsets": f"partition:0,offset:{offset + 1}"}))
        ans = flink.request({"query": f"SELECT id, `{col}` FROM ty_sv{i}"})
        print(f"marker in {col}:", ans.get("error", ans).splitlines()[-1:]
              if "error" in ans else ans)
        assert "error" in ans and "Found wal2kafka." in ans["error"], (col, ans)  # never a value
    assert millis.stop() == 0
    assert micros.stop() == 0


# ------------------------------------------------------------- the replica

REP_COLUMNS = [  # (column, PostgreSQL type, Flink type)
    ("id", "int", "INT"), ("b", "boolean", "BOOLEAN"), ("i2", "smallint", "SMALLINT"),
    ("i8", "bigint", "BIGINT"), ("f4", "real", "FLOAT"), ("f8", "double precision", "DOUBLE"),
    ("t", "text", "STRING"), ("ch", "char(4)", "STRING"), ("jb", "jsonb", "STRING"),
    ("by", "bytea", "BYTES"), ("n", "numeric(10,2)", "STRING"), ("nv", "numeric", "STRING"),
    ("d", "date", "DATE"), ("tm", "time", "INT"), ("ts", "timestamp", "TIMESTAMP(3)"),
    ("tstz", "timestamptz", "TIMESTAMP(3)"), ("u", "uuid", "STRING"), ("ip", "inet", "STRING"),
    ("ai", "int[]", "ARRAY<INT>"),
]
REP_OPTIONS = {"time_precision": "millis", "decimal_handling": "string"}


def _rep_ddl(columns) -> str:
    cols = ", ".join(f"{c} {t}" for c, t, _ in columns)
    return f"CREATE TABLE rep ({cols}, PRIMARY KEY (id))"


def _flink_ddl(columns) -> str:
    return ", ".join(f"`{c}` {f}" for c, _, f in columns) + ", PRIMARY KEY (id) NOT ENFORCED"


def _rep_row(g: str) -> str:
    """A source row from generate_series value g: every column, edges included."""
    return (f"SELECT {g}, {g} % 2 = 0, ({g} % 65536 - 32768)::smallint, {g}::bigint * 1000000007, "
            f"{g} * 0.5, CASE WHEN {g} % 50 = 0 THEN 'NaN'::float8 ELSE {g} / 7.0 END, "
            f"'row ' || {g} || ' é', 'c' || ({g} % 10), jsonb_build_object('g', {g}), "
            f"int4send({g}), CASE WHEN {g} % 40 = 0 THEN 'NaN' ELSE {g} * 1.01 END, "
            f"CASE WHEN {g} % 30 = 0 THEN '-Infinity' ELSE {g} / 3.0 END, "
            f"date '2000-01-01' + {g}, time '00:00:00' + {g} * interval '1.001 s', "
            f"timestamp '1969-12-31 00:00:00' + {g} * interval '1 hour 0.001 s', "
            f"timestamptz '2024-01-01 00:00:00+00' - {g} * interval '1 day 0.007 s', "
            f"md5({g}::text)::uuid, ('10.0.0.' || ({g} % 255))::inet, "
            f"ARRAY[{g}, NULL, -{g}]")


def test_replica_through_flink_jdbc_equals_the_source(db, kafka, registry, connectors, flink):
    """Flink SQL reads the CDC topic and upserts into a second database through its JDBC
    connector; after inserts, updates, key changes, deletes, a TRUNCATE and a new column
    the replica equals the source row for row."""
    replica = db.pg.create_database(f"{db.name}_replica")
    try:
        _replica_pipeline(db, replica, kafka, registry, connectors, flink)
    finally:
        db.pg.drop_database(replica.name)


def _replica_pipeline(db, replica, kafka, registry, connectors, flink):
    db.execute(_rep_ddl(REP_COLUMNS))
    db.execute("ALTER TABLE rep REPLICA IDENTITY FULL")
    replica.execute(_rep_ddl(REP_COLUMNS))
    conn = connectors(["public.rep"], settings=registry_settings(registry),
                      stream_settings=REP_OPTIONS)
    conn.start().wait_streaming()
    db.execute("INSERT INTO rep " + _rep_row("g") + " FROM generate_series(1, 300) g")
    db.execute("INSERT INTO rep (id) VALUES (1000)")  # NULLs everywhere
    db.execute("UPDATE rep SET t = t || ' updated', n = n + 1 WHERE id % 3 = 0")
    db.execute("UPDATE rep SET id = id + 5000 WHERE id % 11 = 0")  # key changes
    db.execute("DELETE FROM rep WHERE id % 7 = 0")
    db.execute("UPDATE rep SET ai = '{}', jb = '[]' WHERE id % 5 = 0")
    conn.wait_caught_up()
    # A TRUNCATE is an event on <prefix>.schema_changes, not on the table's topic: the
    # pipeline applies the topic up to the event's position, the TRUNCATE, then the rest.
    topic = conn.topic("rep")
    c = kafka.consumer()
    split = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    c.close()
    db.execute("TRUNCATE rep")
    db.execute("INSERT INTO rep " + _rep_row("g") + " FROM generate_series(301, 500) g")
    db.execute("ALTER TABLE rep ADD COLUMN note text")
    replica.execute("ALTER TABLE rep ADD COLUMN note text")
    db.execute("UPDATE rep SET note = 'n' || id WHERE id % 4 = 0")
    db.execute("INSERT INTO rep " + _rep_row("g") + ", 'new' FROM generate_series(501, 600) g")
    db.execute("UPDATE rep SET id = id + 5000 WHERE id % 9 = 0")
    db.execute("DELETE FROM rep WHERE id % 13 = 0")
    conn.wait_caught_up()

    url = (f"jdbc:postgresql://{db.pg.host}:{db.pg.port}/{replica.name}?user={db.pg.user}"
           f"&password={db.pg.password}&stringtype=unspecified")
    jdbc = {"connector": "jdbc", "url": url, "table-name": "rep",
            "sink.buffer-flush.max-rows": "1000", "sink.buffer-flush.interval": "200ms"}
    with_jdbc = ", ".join(f"'{k}' = '{v}'" for k, v in jdbc.items())
    cols2 = REP_COLUMNS + [("note", "text", "STRING")]
    # Flink's JDBC connector writes no ARRAY to PostgreSQL: the sink takes the array's
    # text ({1,NULL,-1}), which PostgreSQL casts (stringtype=unspecified)
    # Nor a TIME's fraction (java.sql.Time; CAST(TIME AS STRING) drops it too): the topic's
    # time-millis is read as INT and written as text.
    sink1 = [(c, t, "STRING" if c in ("ai", "tm") else f) for c, t, f in REP_COLUMNS]
    sink2 = sink1 + [("note", "text", "STRING")]
    ai_text = ("'{' || REPLACE(REPLACE(REPLACE(CAST(ai AS STRING), '[', ''), ']', ''), ' ', '')"
               " || '}'")
    tm_text = "DATE_FORMAT(TO_TIMESTAMP_LTZ(tm, 3), 'HH:mm:ss.SSS')"
    special = {"ai": ai_text, "tm": tm_text}
    select1 = ", ".join(special.get(c, f"`{c}`") for c, _, _ in REP_COLUMNS)
    flink.conf({"table.local-time-zone": "UTC"})
    select2 = select1 + ", note"
    flink.sql(
        kafka_table("rep_1", topic, _flink_ddl(REP_COLUMNS), kafka, registry,
                    **{"scan.bounded.mode": "specific-offsets",
                       "scan.bounded.specific-offsets": f"partition:0,offset:{split}"}),
        kafka_table("rep_2", topic, _flink_ddl(cols2), kafka, registry,
                    **{"scan.startup.mode": "specific-offsets",
                       "scan.startup.specific-offsets": f"partition:0,offset:{split}"}),
        f"CREATE TABLE rep_jdbc_1 ({_flink_ddl(sink1)}) WITH ({with_jdbc})",
        f"CREATE TABLE rep_jdbc_2 ({_flink_ddl(sink2)}) WITH ({with_jdbc})")
    t0 = time.monotonic()
    flink.insert(f"INSERT INTO rep_jdbc_1 SELECT {select1} FROM rep_1")
    replica.execute("TRUNCATE rep")
    flink.insert(f"INSERT INTO rep_jdbc_2 SELECT {select2} FROM rep_2")
    print(f"\nreplica pipeline: {time.monotonic() - t0:.1f}s")

    db.execute("CREATE EXTENSION IF NOT EXISTS dblink")
    types = ", ".join(f"{c} {t}" for c, t, _ in cols2)
    remote = (f"dblink('{replica.dsn()}', 'SELECT * FROM rep') AS r({types})")
    missing = db.scalar(f"SELECT count(*) FROM (SELECT * FROM rep EXCEPT ALL "
                        f"SELECT * FROM {remote}) x")
    extra = db.scalar(f"SELECT count(*) FROM (SELECT * FROM {remote} EXCEPT ALL "
                      f"SELECT * FROM rep) x")
    rows = db.scalar("SELECT count(*) FROM rep")
    print(f"replica compared: {rows} rows, {missing} missing, {extra} extra")
    if missing or extra:
        with db.connect() as c:
            for r in c.execute(f"(SELECT 'src', * FROM rep EXCEPT SELECT 'src', * FROM {remote}) "
                               f"UNION ALL (SELECT 'rep', * FROM {remote} EXCEPT "
                               f"SELECT 'rep', * FROM rep) ORDER BY 2, 1 LIMIT 6"):
                print(r)
    assert (missing, extra) == (0, 0)
    assert rows > 250
    assert conn.stop() == 0


# ------------------------------------------------------- docs/reading.md's DDL

PAGE = HERE.parent / "docs" / "reading.md"


def test_reading_page_flink_ddl_reads_a_topic(db, kafka, registry, connectors, flink):
    """The ```sql DDL under docs/reading.md's Flink SQL heading, run as printed (topic,
    servers and a bounded scan substituted)."""
    m = re.search(r"^## Flink SQL.*?^```sql\n(.*?)^```", PAGE.read_text(), re.M | re.S)
    assert m, f"no sql snippet under '## Flink SQL' in {PAGE}"
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, customer text, "
               "amount numeric(10,2), placed date, created_at timestamptz)")
    db.execute("ALTER TABLE orders REPLICA IDENTITY FULL")
    conn = connectors(["public.orders"], settings=registry_settings(registry),
                      stream_settings={"time_precision": "millis"})
    conn.start().wait_streaming()
    db.execute("INSERT INTO orders VALUES (1, 'ann', 12.50, '2024-02-29', "
               "'2024-02-29 23:59:59.999+00'), (2, 'bob', -0.01, '1999-12-31', "
               "'1960-01-01 00:00:00.001+00')")
    db.execute("UPDATE orders SET amount = amount * 2 WHERE id = 1")
    conn.wait_caught_up()
    ddl = m.group(1).strip().rstrip(";")
    subst = {"'app.public.orders'": f"'{conn.topic('orders')}'",
             "'localhost:9092'": f"'{kafka.bootstrap}'",
             "'http://registry:8080/apis/ccompat/v7'": f"'{registry.url}'",
             "'earliest-offset',": "'earliest-offset', 'scan.bounded.mode' = 'latest-offset',"}
    for old, new in subst.items():
        assert old in ddl, old
        ddl = ddl.replace(old, new)
    flink.sql(ddl)
    got = materialize(flink.query("SELECT id, customer, amount, CAST(placed AS STRING), "
                                  "CAST(created_at AS STRING) FROM orders"))
    assert got == collections.Counter(json.dumps(r) for r in (
        [1, "ann", "25.00", "2024-02-29", "2024-02-29 23:59:59.999"],
        [2, "bob", "-0.01", "1999-12-31", "1960-01-01 00:00:00.001"]))
    assert conn.stop() == 0
