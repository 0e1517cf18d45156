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
import struct
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from w2k import connectors  # noqa: F401 (fixture)
from w2k_ecosystem import RegistryDecoder, registry  # noqa: F401 (fixture)

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
