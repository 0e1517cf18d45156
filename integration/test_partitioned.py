"""Partitioned tables and generated columns (issue 13, points 1 and 2).

- A partitioned table listed by name streams to ONE topic, <prefix>.<schema>.<parent>,
  keyed by its key, with its partitions' rows (publish_via_partition_root, 13+): the
  initial snapshot equals the table row for row, changes while streaming arrive there,
  for LIST, RANGE and HASH partitioning.
- Partitions attached, detached and created while streaming; a row moving between
  partitions (an UPDATE of the partition key).
- A pattern matching a parent and its partitions streams each row once, to the parent's
  topic; a leaf partition listed alone streams as a table of its own.
- Before 13 a partitioned table cannot be published: the publication lists its leaf
  partitions, and wal2kafka maps their changes to the table (the same tests, and
  `check` saying so).
- Generated columns: before 18 `check` and `run` say which columns cannot be streamed;
  on 18 their values arrive.

The core tests are marked pg_matrix (W2K_PG_VERSION=10..18).
"""

from __future__ import annotations

import os
import time
import re

import pytest

from w2k import Decoder, connectors, consume, run_cli  # noqa: F401
from w2k_schema import request_snapshot

pytestmark = [pytest.mark.timeout(300)]

LAYOUTS = {
    "range": ("PARTITION BY RANGE (id)",
              ["FOR VALUES FROM (0) TO (100)", "FOR VALUES FROM (100) TO (200)"]),
    "list": ("PARTITION BY LIST (region)",
             ["FOR VALUES IN ('eu')", "FOR VALUES IN ('us', 'asia')"]),
    "hash": ("PARTITION BY HASH (id)",
             ["FOR VALUES WITH (MODULUS 2, REMAINDER 0)",
              "FOR VALUES WITH (MODULUS 2, REMAINDER 1)"]),
}


def major(db) -> int:
    return db.pg.server_version_num // 10000


def leaf_pk(db) -> str:
    """A partition's own primary key on 10, which has none on a partitioned table (its
    key is then the primary key common to its partitions); "" from 11 (inherited)."""
    return " (PRIMARY KEY (id, region))" if major(db) < 11 else ""


def make_parted(db, layout: str, name: str = "m") -> None:
    """Table public.<name> partitioned by layout, with two partitions <name>_0, <name>_1.
    Its key: a primary key (id, region) from 11 (a partitioned table's primary key holds
    its partition key); on 10, which has none, the same primary key on each partition."""
    by, bounds = LAYOUTS[layout]
    pk = ", PRIMARY KEY (id, region)" if major(db) >= 11 else ""
    db.execute(f"CREATE TABLE {name} (id int NOT NULL, region text NOT NULL, v text{pk}) {by}")
    for i, b in enumerate(bounds):
        db.execute(f"CREATE TABLE {name}_{i} PARTITION OF {name}{leaf_pk(db)} {b}")


def table_rows(db, name: str = "m") -> dict:
    return {(r[0], r[1]): {"id": r[0], "region": r[1], "v": r[2]}
            for r in db.execute(f"SELECT id, region, v FROM {name}")}


def fold(recs) -> dict:
    """The final row per key of a topic's records (deletes remove it)."""
    out: dict = {}
    for r in recs:
        if r.is_tombstone:
            continue
        after = r.value["after"]
        if after is None:
            before = r.value.get("before") or r.key
            out.pop((before["id"], before["region"]), None)
        else:
            out[(after["id"], after["region"])] = after
    return out


def read_all(kafka, conn, topic, timeout=60):
    conn.wait_caught_up()
    return consume(kafka, Decoder(kafka, conn.prefix), topic, timeout=timeout, to_end=True)


def region_of(i: int) -> str:
    return ("eu", "us", "asia")[i % 3]


def insert_rows(db, ids, name: str = "m", v: str = "a") -> None:
    values = ", ".join(f"({i}, '{region_of(i)}', '{v}{i}')" for i in ids)
    db.execute(f"INSERT INTO {name} VALUES {values}")


def parted_topics(kafka, conn, names) -> set:
    return {t for t in kafka.topics() for n in names if t == conn.topic(n)}


def check_says_leaves(wal2kafka_bin, db, conn, leaves) -> None:
    """Before 13: check says the publication lists the leaf partitions in the
    partitioned table's place, their rows streaming to its topic."""
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert r.returncode == 0, r.stdout + r.stderr
    names = ", ".join(f"public.{n}" for n in leaves)
    assert (f"table public.m: partitioned, {len(leaves)} leaf partition(s) ({names}): "
            f"PostgreSQL {major(db)} cannot publish a partitioned table, so the publication "
            f"lists its leaf partitions and their rows stream to topic {conn.topic('m')}"
            ) in r.stdout, r.stdout


# ------------------------------------------------------------------ snapshot and stream


@pytest.mark.pg_matrix
@pytest.mark.parametrize("layout", [
    "range", "list",
    pytest.param("hash", marks=pytest.mark.skipif(
        os.environ.get("W2K_PG_VERSION") == "10", reason="HASH partitioning is 11+"))])
def test_parent_streams_its_partitions_to_one_topic(wal2kafka_bin, db, kafka, connectors,
                                                    layout):
    make_parted(db, layout)
    insert_rows(db, range(0, 150))
    conn = connectors(["public.m"])
    if major(db) < 13:
        check_says_leaves(wal2kafka_bin, db, conn, ["m_0", "m_1"])
    else:
        r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
        assert r.returncode == 0, r.stdout + r.stderr
        assert (f"table public.m: partitioned, 2 partition(s): their rows stream to topic "
                f"{conn.topic('m')} (publish_via_partition_root = true)") in r.stdout, r.stdout
    conn.start().wait_streaming()
    snap = read_all(kafka, conn, conn.topic("m"))
    assert all(r.op == "r" for r in snap), [r.op for r in snap]
    assert len(snap) == 150
    assert fold(snap) == table_rows(db), "the snapshot equals the table, row for row"
    assert {r.value["source"]["table"] for r in snap} == {"m"}
    assert re.search(r"snapshot of public\.m done: 150 rows", conn.log()), conn.log_tail()
    # while streaming: every partition's changes, on the parent's topic, keyed by its key
    insert_rows(db, range(150, 200))
    db.execute("UPDATE m SET v = 'u' || id WHERE id % 7 = 0")
    db.execute("DELETE FROM m WHERE id % 11 = 0")
    recs = read_all(kafka, conn, conn.topic("m"))
    assert fold(recs) == table_rows(db)
    streamed = recs[len(snap):]
    assert {r.value["source"]["table"] for r in streamed if r.value} == {"m"}
    assert [r.op for r in streamed if r.value and r.op == "c"] == ["c"] * 50
    # keyed by its primary key (on 10: the one its partitions have in common)
    assert all(set(r.key) == {"id", "region"} for r in recs), "keyed by its primary key"
    assert parted_topics(kafka, conn, ["m_0", "m_1"]) == set(), "no topic per partition"
    assert conn.stop() == 0


@pytest.mark.pg_matrix
def test_attach_detach_and_new_partition_while_streaming(wal2kafka_bin, db, kafka, connectors):
    make_parted(db, "range")
    insert_rows(db, range(0, 10))
    conn = connectors(["public.m"])
    conn.start().wait_streaming()
    # a partition created while streaming
    db.execute(f"CREATE TABLE m_2 PARTITION OF m{leaf_pk(db)} FOR VALUES FROM (200) TO (300)")
    insert_rows(db, [200, 201])
    # a table attached while streaming: its later changes arrive
    db.execute("CREATE TABLE m_3 (LIKE m INCLUDING ALL)")
    if major(db) < 11:
        db.execute("ALTER TABLE m_3 ADD PRIMARY KEY (id, region)")
    db.execute("ALTER TABLE m ATTACH PARTITION m_3 FOR VALUES FROM (300) TO (400)")
    insert_rows(db, [300, 301])
    db.execute("UPDATE m SET v = 'moved' WHERE id = 301")
    # a partition detached while streaming: its later changes no longer arrive
    db.execute("ALTER TABLE m DETACH PARTITION m_1")
    insert_rows(db, [150], name="m_1", v="detached")
    db.execute("UPDATE m_1 SET v = 'gone' WHERE id = 150")
    insert_rows(db, [20, 21], v="after")  # a change of the parent after the detach
    expected = {(200, "asia"), (201, "eu"), (300, "eu"), (301, "us")}
    recs = read_all(kafka, conn, conn.topic("m"))
    # before 13 the publication gains a new partition at the next check (once a second),
    # and the parent is read again for the rows written before: caught up is not enough,
    # wait (with a deadline) until they are in
    deadline = time.monotonic() + 60
    while not fold(recs).keys() >= expected and time.monotonic() < deadline:
        time.sleep(0.5)
        recs = read_all(kafka, conn, conn.topic("m"))
    got = fold(recs)
    assert got.keys() >= expected
    assert got[(301, "us")]["v"] == "moved"
    assert (150, "eu") not in got, "the detached partition's later rows do not arrive"
    assert all(r.value["source"]["table"] == "m" for r in recs if r.value)
    # the parent's topic holds exactly the parent's rows (m_1's older rows are out of
    # it now, but their snapshot/stream records were sent before the detach)
    want = table_rows(db)
    assert {k: v for k, v in got.items() if not (100 <= k[0] < 200)} == want
    assert parted_topics(kafka, conn, ["m_1", "m_2", "m_3"]) == set()
    assert conn.stop() == 0


@pytest.mark.pg_matrix
@pytest.mark.skipif(os.environ.get("W2K_PG_VERSION") == "10",
                    reason="an UPDATE moving a row to another partition is 11+ (an error on 10)")
def test_row_moving_between_partitions(wal2kafka_bin, db, kafka, connectors):
    make_parted(db, "list")
    insert_rows(db, [1, 2, 3])  # regions us, asia, eu
    conn = connectors(["public.m"])
    conn.start().wait_streaming()
    snap = read_all(kafka, conn, conn.topic("m"))
    assert len(snap) == 3
    # m_1 (us, asia) -> m_0 (eu): the partition key changes, the row changes partition
    db.execute("UPDATE m SET region = 'eu', v = 'moved' WHERE id = 1")
    recs = read_all(kafka, conn, conn.topic("m"))
    moved = [r for r in recs[3:]]
    assert [r.op for r in moved if r.value] == ["d", "c"], [(r.key, r.op) for r in moved]
    assert moved[0].key == {"id": 1, "region": "us"}
    assert moved[-1].value["after"] == {"id": 1, "region": "eu", "v": "moved"}
    assert fold(recs) == table_rows(db)
    assert conn.stop() == 0


def test_reread_while_streaming_reads_the_partitions(wal2kafka_bin, db, kafka, connectors):
    """A re-read (`wal2kafka snapshot`) of a partitioned table reads its partitions' rows:
    the way to send the rows a table held when it was attached."""
    make_parted(db, "range")
    insert_rows(db, range(0, 5))
    insert_rows(db, range(100, 103))
    conn = connectors(["public.m"])
    conn.start().wait_streaming()
    db.execute("CREATE TABLE m_3 (LIKE m INCLUDING ALL)")
    if major(db) < 11:
        db.execute("ALTER TABLE m_3 ADD PRIMARY KEY (id, region)")
    insert_rows(db, [300, 301], name="m_3", v="before")  # rows before the attach
    db.execute("ALTER TABLE m ATTACH PARTITION m_3 FOR VALUES FROM (300) TO (400)")
    out = request_snapshot(wal2kafka_bin, conn, "public.m")
    assert out.startswith("requested a re-snapshot of public.m"), out
    m = conn.wait_log(r"re-snapshot of a table done: (\d+) row", timeout=120)
    assert int(m.group(1)) == 10, "every partition's rows, the attached one's too"
    recs = read_all(kafka, conn, conn.topic("m"))
    reread = [r for r in recs[8:] if r.op == "r"]
    ids = sorted(r.key["id"] for r in reread)
    if major(db) < 13:
        # before 13 the attach itself makes wal2kafka read the table again (the
        # partition joined the publication after it): that re-read, then this one
        ids = sorted(set(ids))
    assert ids == [0, 1, 2, 3, 4, 100, 101, 102, 300, 301]
    assert fold(recs) == table_rows(db)
    assert conn.stop() == 0


def test_column_added_to_the_parent_while_streaming(wal2kafka_bin, db, kafka, connectors):
    """ALTER TABLE on the parent reaches every partition; the parent's topic gets the new
    column from the next change of any partition on."""
    make_parted(db, "range")
    insert_rows(db, [1, 150])
    conn = connectors(["public.m"])
    conn.start().wait_streaming()
    db.execute("ALTER TABLE m ADD COLUMN note text")
    db.execute("INSERT INTO m VALUES (2, 'asia', 'b', 'n0'), (151, 'asia', 'c', 'n1')")
    recs = read_all(kafka, conn, conn.topic("m"))
    assert [r.value["after"] for r in recs[2:]] == [
        {"id": 2, "region": "asia", "v": "b", "note": "n0"},
        {"id": 151, "region": "asia", "v": "c", "note": "n1"}]
    assert conn.stop() == 0


# ------------------------------------------------------------ patterns and leaves


@pytest.mark.pg_matrix
def test_pattern_streams_each_row_once(wal2kafka_bin, db, kafka, connectors):
    make_parted(db, "range")
    db.execute("CREATE TABLE plain (id int PRIMARY KEY)")
    insert_rows(db, range(0, 20))
    db.execute("INSERT INTO plain VALUES (1)")
    conn = connectors(["public.*"])
    conn.start().wait_streaming()
    insert_rows(db, range(100, 110))
    recs = read_all(kafka, conn, conn.topic("m"))
    assert len(recs) == 30, "each row once"
    assert fold(recs) == table_rows(db)
    assert len(read_all(kafka, conn, conn.topic("plain"))) == 1
    assert parted_topics(kafka, conn, ["m_0", "m_1"]) == set()
    assert "m_0" not in conn.log() and "m_1" not in conn.log(), "partitions are not matched"
    assert conn.stop() == 0


@pytest.mark.pg_matrix
def test_leaf_listed_alone_is_a_table_of_its_own(wal2kafka_bin, db, kafka, connectors):
    make_parted(db, "range")
    insert_rows(db, [1, 2, 150])
    conn = connectors(["public.m_1"])
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"table public.m_1: a partition of public.m, streamed as a table of its own to topic " \
           f"{conn.topic('m_1')}" in r.stdout, r.stdout
    conn.start().wait_streaming()
    insert_rows(db, [151, 3])
    recs = read_all(kafka, conn, conn.topic("m_1"))
    assert fold(recs) == table_rows(db, "m_1")
    assert sorted(k[0] for k in fold(recs)) == [150, 151]
    assert {r.value["source"]["table"] for r in recs if r.value} == {"m_1"}
    assert parted_topics(kafka, conn, ["m"]) == set()
    assert conn.stop() == 0


# ------------------------------------------------------------------ generated columns


@pytest.mark.skipif(int(os.environ.get("W2K_PG_VERSION") or 15) < 12,
                    reason="generated columns are PostgreSQL 12+")
def test_generated_columns(wal2kafka_bin, db, kafka, connectors):
    """Before 18: check and run warn which columns cannot be streamed; on 18 stored ones
    arrive (in the snapshot too), virtual ones are named."""
    virtual = ", tripled int GENERATED ALWAYS AS (n * 3) VIRTUAL" if major(db) >= 18 else ""
    db.execute("CREATE TABLE g (id int PRIMARY KEY, n int, "
               f"doubled int GENERATED ALWAYS AS (n * 2) STORED{virtual})")
    db.execute("INSERT INTO g (id, n) VALUES (1, 10)")
    conn = connectors(["public.g"])
    r = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=db.env())
    assert r.returncode == 0, r.stdout + r.stderr
    conn.start().wait_streaming()
    db.execute("INSERT INTO g (id, n) VALUES (2, 21)")
    db.execute("UPDATE g SET n = 5 WHERE id = 1")
    recs = read_all(kafka, conn, conn.topic("g"))
    after = [r.value["after"] for r in recs if r.value]
    log = conn.log()
    if major(db) >= 18:
        assert "table public.g: stored generated columns doubled stream" in r.stdout, r.stdout
        assert after == [{"id": 1, "n": 10, "doubled": 20}, {"id": 2, "n": 21, "doubled": 42},
                         {"id": 1, "n": 5, "doubled": 10}], after
        # virtual generated columns (18's default kind) are never published: said once
        said = ("table public.g: virtual generated columns tripled cannot be streamed: "
                "PostgreSQL publishes stored generated columns only")
        assert said in r.stdout, r.stdout
        assert log.count(said) == 1, log
    else:
        warning = (f"table public.g: generated columns doubled cannot be streamed: PostgreSQL "
                   f"{major(db)}'s pgoutput does not send generated columns")
        assert warning in r.stdout, r.stdout
        assert "PostgreSQL 18 sends them" in r.stdout
        assert after == [{"id": 1, "n": 10}, {"id": 2, "n": 21}, {"id": 1, "n": 5}], after
        assert log.count(warning) == 1, log
        assert "compute them in the consumer" in log
    assert conn.stop() == 0


@pytest.mark.pg_matrix
@pytest.mark.skipif(int(os.environ.get("W2K_PG_VERSION") or 15) >= 13,
                    reason="from 13 PostgreSQL publishes partitions through their root itself; "
                           "this covers wal2kafka's own mapping (10-12)")
def test_partition_with_another_column_order(wal2kafka_bin, db, kafka, connectors):
    """Before 13 a partition's rows come in the partition's column order: a table
    attached with its columns in another order (and a dropped column) streams its
    inserts, updates and deletes to the parent's topic with each value in its column."""
    make_parted(db, "range")
    db.execute("CREATE TABLE m_9 (v text, junk int, region text NOT NULL, id int NOT NULL, "
               "PRIMARY KEY (id, region))")
    db.execute("ALTER TABLE m_9 DROP COLUMN junk")
    db.execute("ALTER TABLE m ATTACH PARTITION m_9 FOR VALUES FROM (900) TO (1000)")
    insert_rows(db, [1, 150, 900, 901, 902])
    conn = connectors(["public.m"])
    conn.start().wait_streaming()
    assert fold(read_all(kafka, conn, conn.topic("m"))) == table_rows(db), "the snapshot"
    insert_rows(db, [903, 904])
    db.execute("UPDATE m SET v = 'u' || id WHERE id IN (901, 903)")
    db.execute("DELETE FROM m WHERE id IN (902, 904)")
    recs = read_all(kafka, conn, conn.topic("m"))
    assert fold(recs) == table_rows(db), "every value in its own column"
    assert {r.value["source"]["table"] for r in recs if r.value} == {"m"}
    assert conn.stop() == 0
