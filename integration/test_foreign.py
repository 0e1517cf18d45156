"""Foreign messages on our topics (issue 17, item 3).

Proves: messages that wal2kafka did not write -- another producer's bytes, a truncated
Avro body, a body under an unknown fingerprint, a key nobody can read -- written with a
plain producer onto a table topic make `history` and `state` skip each with a warning
naming topic, partition and offset and a count at the end, and give the same answer as
without them (never a crash, never a wrong row); the same messages on the schemas topic
(garbage under a fingerprint key, a non-hex key) change neither `history`/`state` nor
`run`, which streams on unchanged after a restart.
"""

from __future__ import annotations

import json
import re

from w2k import Decoder, TopicReader, connectors, run_cli, run_txn  # noqa: F401 (fixture)


def _jsonl(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]


def test_foreign_messages_are_skipped(db, kafka, connectors, wal2kafka_bin):
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    conn = connectors(["public.t"])
    conn.start().wait_streaming()
    run_txn(db, "INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    run_txn(db, "UPDATE t SET v = 'uno' WHERE id = 1")
    conn.wait_caught_up()
    topic = conn.topic("t")
    with TopicReader(kafka, None, topic, decode=False) as r:
        recs = r.read(3, 60)
    ours = [(x.raw_key, x.raw_value) for x in recs]
    key1 = ours[0][0]
    value = ours[-1][1]

    def answers():
        h = run_cli(wal2kafka_bin, "history", "--config", conn.config_path, "--table", "t",
                    "--key", "id=1", "--format", "json", timeout=120)
        s = run_cli(wal2kafka_bin, "state", "--config", conn.config_path, "--table", "t",
                    "--format", "json", timeout=120)
        assert h.returncode == 0, h.stderr
        assert s.returncode == 0, s.stderr
        strip = lambda rows: [{k: v for k, v in r.items() if k not in ("offset",)}  # noqa: E731
                              for r in rows]
        return strip(_jsonl(h.stdout)), strip(_jsonl(s.stdout)), h.stderr + s.stderr

    want_h, want_s, err0 = answers()
    assert [e["op"] for e in want_h] == ["c", "u"] and len(want_s) == 2
    assert "skipped" not in err0

    foreign = [
        (key1, b"not avro at all, another producer's bytes"),      # other bytes
        (key1, value[: len(value) // 2]),                          # truncated Avro body
        (key1, b"\xc3\x01" + b"\x11" * 8 + value[10:]),            # unknown fingerprint
        (key1, b"\x00\x00\x00\x30\x39" + value[10:]),              # registry framing, no registry
        (b"\xc3\x01" + b"\x22" * 8 + b"\x02", value),              # a key nobody can read
        (b"some other key", b"some other value"),
    ]
    p = kafka.producer()
    for k, v in foreign:
        p.produce(topic, key=k, value=v, partition=0)
    p.produce(conn.schemas_topic, key=b"1111111111111111", value=b"{not json")
    p.produce(conn.schemas_topic, key=b"not-hex", value=b'{"type":"string"}')
    p.produce(conn.schemas_topic, key=None, value=b"junk")
    assert p.flush(30) == 0

    got_h, got_s, err = answers()
    assert got_h == want_h
    assert got_s == want_s
    warned = re.findall(rf"warning: skipped an unreadable message on {re.escape(topic)} "
                        r"partition 0 offset (\d+)", err)
    assert len(warned) >= 5, err  # history reads key 1's messages, state every message
    assert re.search(r"skipped \d+ unreadable message\(s\) on " + re.escape(topic), err), err

    # run streams on unchanged: restart (it reads its topics again), change, decode
    assert conn.stop() == 0
    conn.start().wait_streaming()
    run_txn(db, "UPDATE t SET v = 'due' WHERE id = 2")
    conn.wait_caught_up()
    assert conn.stop() == 0
    dec = Decoder(kafka, conn.prefix)
    with TopicReader(kafka, None, topic, decode=False) as r:
        raw = r.read(3 + len(foreign) + 1, 60)
    last = raw[-1]
    assert dec.decode(last.raw_value)["after"] == {"id": 2, "v": "due"}
    got_h2, got_s2, _ = answers()
    assert got_h2 == want_h
    assert {json.dumps(r["key"]): r["row"] for r in got_s2}['{"id": 2}'] == {"id": 2, "v": "due"}
