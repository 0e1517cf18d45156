"""docs/reading.md's snippets, extracted from the page and run against a real stream, so
page and test cannot drift: the Python ones leave the first message's `after` row in
`row`; the Java consumer is compiled and run with JDK 17; the kcat lines run in a shell."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest

from w2k import connectors  # noqa: F401 (fixture)
from w2k_ecosystem import registry  # noqa: F401 (fixture)

HERE = Path(__file__).resolve().parent
PAGE = HERE.parent / "docs" / "reading.md"
CACHE = Path(os.environ.get("W2K_CACHE", HERE.parent / ".cache"))
JAVA_JARS = CACHE / "java" / "jars"


def snippet(heading: str) -> str:
    """The ```python block under the ## heading that starts with `heading`."""
    text = PAGE.read_text()
    m = re.search(r"^## " + re.escape(heading) + r".*?^```python\n(.*?)^```", text, re.M | re.S)
    assert m, f"no python snippet under '## {heading}' in {PAGE}"
    return m.group(1)


def blocks(heading: str, lang: str) -> list[str]:
    """Every ```lang block of the ## section whose heading starts with `heading`."""
    text = PAGE.read_text()
    m = re.search(r"^## " + re.escape(heading) + r".*?\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert m, f"no section '## {heading}' in {PAGE}"
    found = re.findall(r"^```" + re.escape(lang) + r"\n(.*?)^```", m.group(1), re.M | re.S)
    assert found, f"no {lang} block under '## {heading}' in {PAGE}"
    return found


def _table(db):
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), t time, "
               "d date)")
    db.execute("INSERT INTO orders VALUES (1, 'NaN', '24:00:00', '2024-01-02')")


def test_confluent_kafka_snippet(db, kafka, registry, connectors):
    _table(db)
    conn = connectors(["public.orders"], settings={"schema_registry": {"url": registry.url}})
    conn.start().wait_streaming()
    env = {"BOOTSTRAP": kafka.bootstrap, "REGISTRY_URL": registry.url,
           "TOPIC": conn.topic("orders")}
    exec(snippet("confluent-kafka"), env)
    assert env["row"] == {"id": 1, "amount": "NAN", "t": "END_OF_DAY", "d": dt.date(2024, 1, 2)}
    assert conn.stop() == 0


def test_fastavro_snippet(db, kafka, connectors):
    _table(db)
    db.execute("INSERT INTO orders VALUES (2, 1.5, '12:00:00', NULL)")
    conn = connectors(["public.orders"])
    conn.start().wait_streaming()
    conn.wait_caught_up()
    env = {"BOOTSTRAP": kafka.bootstrap, "TOPIC": conn.topic("orders"),
           "SCHEMAS_TOPIC": f"{conn.prefix}.schemas"}
    exec(snippet("fastavro"), env)
    assert env["row"] == {"id": 1, "amount": "NAN", "t": "END_OF_DAY", "d": dt.date(2024, 1, 2)}
    assert Decimal  # the finite values are checked in test_core_types
    assert conn.stop() == 0


def _java_changes(db):
    db.execute("INSERT INTO orders VALUES (1, 12345.67, '13:14:15.123456', "
               "'2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901+00', '2024-01-02', NULL)")
    db.execute("INSERT INTO orders VALUES (2, 'NaN', '24:00:00', 'infinity', '-infinity', "
               "'infinity', 'x')")
    db.execute("DELETE FROM orders WHERE id = 1")


def test_java_consumer_snippet(db, kafka, registry, connectors, tmp_path):
    """The page's Java consumer, compiled and run as printed, reads every value as
    PostgreSQL holds it: decimal, time, timestamps with all six digits, NULL, the
    special values as enum symbols, the delete and its tombstone; and its printed
    sample output is what it really prints."""
    jars = sorted(JAVA_JARS.glob("*.jar"))
    if not any(j.name.startswith("kafka-clients") for j in jars) or shutil.which("java") is None:
        pytest.fail(f"the Java reader's jars are not in {JAVA_JARS} or java is missing "
                    "(run scripts/setup.sh)")
    code, sample = blocks("Java consumer", "java")[0], blocks("Java consumer", "text")[0]
    (tmp_path / "ReadTopic.java").write_text(code)
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2), t time, "
               "ts timestamp, tstz timestamptz, d date, note text)")
    conn = connectors(["public.orders"], settings={"schema_registry": {"url": registry.url}})
    conn.start().wait_streaming()
    _java_changes(db)
    conn.wait_caught_up()
    proc = subprocess.run(
        ["java", "-cp", ":".join(str(j) for j in jars), str(tmp_path / "ReadTopic.java"),
         kafka.bootstrap, registry.url, conn.topic("orders")],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    # PostgreSQL's own text of row 1, in ISO form, is what Java prints
    pg = db.scalar("SELECT amount::text || ' ' || t::text || ' ' || "
                   "to_char(ts, 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || ' ' || "
                   "to_char(tstz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') || ' ' || "
                   "d::text FROM (VALUES (12345.67::numeric(10,2), '13:14:15.123456'::time, "
                   "'2024-01-02 03:04:05.678901'::timestamp, "
                   "'2024-01-02 03:04:05.678901+00'::timestamptz, '2024-01-02'::date)) "
                   "AS v(amount, t, ts, tstz, d)")
    amount, t, ts, tstz, d = pg.split()
    assert lines == [
        f"{{id=1}} c {{id=1, amount={amount}, t={t}, ts={ts}, tstz={tstz}, d={d}, note=null}}",
        "{id=2} c {id=2, amount=SpecialValue.NAN, t=SpecialValue.END_OF_DAY, "
        "ts=SpecialValue.POSITIVE_INFINITY, tstz=SpecialValue.NEGATIVE_INFINITY, "
        "d=SpecialValue.POSITIVE_INFINITY, note=x}",
        "{id=1} d null",
        "{id=1} tombstone",
    ], proc.stdout
    assert lines == sample.strip().splitlines(), "the page's sample output is not what it prints"
    assert conn.stop() == 0


def test_kcat_snippets(db, kafka, connectors):
    """The page's kcat lines, run by a shell as printed: the schemas topic's fingerprint
    is the one in the table's messages and its JSON the table's schema; a delete's
    tombstone shows as a value of size -1."""
    if shutil.which("kcat") is None:
        pytest.fail("kcat is missing (run scripts/setup.sh: Debian's kcat package)")
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2))")
    conn = connectors(["public.orders"])
    conn.start().wait_streaming()
    db.execute("INSERT INTO orders VALUES (1, 1.50), (2, 2.50)")
    db.execute("DELETE FROM orders WHERE id = 1")
    conn.wait_caught_up()
    env = {**os.environ, "BOOTSTRAP": kafka.bootstrap, "PREFIX": conn.prefix}
    schemas_cmd, offsets_cmd = blocks("kcat", "sh")

    def run(cmd):
        p = subprocess.run(["bash", "-euc", cmd], env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout.splitlines()

    # the table's three messages and the tombstone: offset, key size, value size
    rows = [line.split() for line in run(offsets_cmd)]
    assert [r[0] for r in rows] == ["0", "1", "2", "3"]
    assert all(int(r[1]) > 0 for r in rows)
    assert [int(r[2]) > 0 for r in rows] == [True, True, True, False]
    assert rows[3][2] == "-1"

    # the fingerprint of the first message is a key of the schemas topic
    from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": "kcat-check"})
    c.assign([TopicPartition(conn.topic("orders"), 0, OFFSET_BEGINNING)])
    first, deadline = None, time.monotonic() + 30
    while (first is None or first.error()) and time.monotonic() < deadline:
        first = c.poll(1.0)
    c.close()
    assert first is not None and not first.error(), first
    fingerprint = first.value()[2:10].hex()
    schemas = dict(line.split(" ", 1) for line in run(schemas_cmd))
    assert fingerprint in schemas, (fingerprint, list(schemas))
    assert '"name":"amount"' in schemas[fingerprint].replace(" ", "")
    assert conn.stop() == 0


SV_TABLE = ("CREATE TABLE sv (id int PRIMARY KEY, t time, n numeric(10,2), d date, ts timestamptz, "
            "a int[], an numeric(5,1)[])")
SV_ROWS = ("INSERT INTO sv VALUES (1, '24:00:00', 'NaN', 'infinity', '-infinity', "
           "'{{1,2},{3,4}}', '{1.5,NaN}'), "
           "(2, '12:34:56.789', 1.5, '2024-01-15', '2024-01-15 12:34:56.123456+00', '{1}', '{}')")


@pytest.mark.parametrize("options, want", [
    ({}, [
        "{id=1, t=SpecialValue.END_OF_DAY, n=SpecialValue.NAN, d=SpecialValue.POSITIVE_INFINITY, "
        "ts=SpecialValue.NEGATIVE_INFINITY, a={text={{1,2},{3,4}}}, an=[1.5, SpecialValue.NAN]}",
        "{id=2, t=12:34:56.789, n=1.50, d=2024-01-15, ts=2024-01-15T12:34:56.123456Z, a=[1], an=[]}"]),
    ({"special_values": "null", "time_precision": "millis"}, [
        "{id=1, t=null, n=null, d=null, ts=null, a=null, an=[1.5, null]}",
        "{id=2, t=12:34:56.789, n=1.50, d=2024-01-15, ts=2024-01-15T12:34:56.123Z, a=[1], an=[]}"]),
    ({"decimal_handling": "double"}, [
        "{id=1, t=SpecialValue.END_OF_DAY, n=NaN, d=SpecialValue.POSITIVE_INFINITY, "
        "ts=SpecialValue.NEGATIVE_INFINITY, a={text={{1,2},{3,4}}}, an=[1.5, NaN]}",
        "{id=2, t=12:34:56.789, n=1.5, d=2024-01-15, ts=2024-01-15T12:34:56.123456Z, a=[1], an=[]}"]),
    ({"decimal_handling": "string"}, [
        "{id=1, t=SpecialValue.END_OF_DAY, n=NaN, d=SpecialValue.POSITIVE_INFINITY, "
        "ts=SpecialValue.NEGATIVE_INFINITY, a={text={{1,2},{3,4}}}, an=[1.5, NaN]}",
        "{id=2, t=12:34:56.789, n=1.50, d=2024-01-15, ts=2024-01-15T12:34:56.123456Z, a=[1], an=[]}"]),
], ids=["defaults", "null-millis", "double", "string"])
def test_java_consumer_reads_every_option(db, kafka, registry, connectors, tmp_path, options,
                                          want):
    """The page's Java consumer (Java Avro with the writer's schema and its logical-type
    conversions) under each representation option: markers or nulls for the special
    values, micro- or milliseconds, decimals as BigDecimal, double or string."""
    jars = sorted(JAVA_JARS.glob("*.jar"))
    if not any(j.name.startswith("kafka-clients") for j in jars) or shutil.which("java") is None:
        pytest.fail(f"the Java reader's jars are not in {JAVA_JARS} or java is missing "
                    "(run scripts/setup.sh)")
    (tmp_path / "ReadTopic.java").write_text(blocks("Java consumer", "java")[0])
    db.execute(SV_TABLE)
    conn = connectors(["public.sv"], settings={"schema_registry": {"url": registry.url}},
                      stream_settings=options)
    conn.start().wait_streaming()
    db.execute(SV_ROWS)
    conn.wait_caught_up()
    proc = subprocess.run(
        ["java", "-cp", ":".join(str(j) for j in jars), str(tmp_path / "ReadTopic.java"),
         kafka.bootstrap, registry.url, conn.topic("sv")],
        capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == [f"{{id={i}}} c {w}" for i, w in enumerate(want, 1)], \
        proc.stdout
    assert conn.stop() == 0
