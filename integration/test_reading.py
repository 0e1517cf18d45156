"""docs/reading.md's snippets, extracted from the page and run against a real stream, so
page and test cannot drift: each leaves the first message's `after` row in `row`."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

from w2k import connectors  # noqa: F401 (fixture)
from w2k_ecosystem import registry  # noqa: F401 (fixture)

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reading.md"


def snippet(heading: str) -> str:
    """The ```python block under the ## heading that starts with `heading`."""
    text = PAGE.read_text()
    m = re.search(r"^## " + re.escape(heading) + r".*?^```python\n(.*?)^```", text, re.M | re.S)
    assert m, f"no python snippet under '## {heading}' in {PAGE}"
    return m.group(1)


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
