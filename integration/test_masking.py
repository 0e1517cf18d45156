"""Hashed and masked columns (issue 13, point 6).

Proves: a table's hash_columns arrive as the HMAC-SHA-256 of the value's text keyed by
the stream's salt (hex), equal across tables for equal values, in the key too for a key
column; mask_columns arrive as "****"; NULL stays NULL; the same in the snapshot and
while streaming; the schema marks the fields (wal2kafka.masked); the salt appears in no
log line and no check output; without a salt the stream does not start (exit 3), with
the hint naming both ways to give one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid

from w2k import Decoder, connectors, consume, run_cli, run_txn  # noqa: F401 (fixture)


def _h(salt: str, text: str) -> str:
    return hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()


def _field(schema: dict, record_suffix: str, name: str) -> dict:
    def walk(x):
        if isinstance(x, dict):
            if x.get("type") == "record" and str(x.get("name", "")).endswith(record_suffix):
                yield x
            for v in x.values():
                yield from walk(v)
        elif isinstance(x, list):
            for v in x:
                yield from walk(v)

    for rec in walk(schema):
        for f in rec["fields"]:
            if f["name"] == name:
                return f
    raise AssertionError(f"no field {name} in *{record_suffix}")


def test_hashed_and_masked_columns(db, kafka, connectors, wal2kafka_bin, tmp_path):
    salt = f"salt-{uuid.uuid4().hex}"
    salt_file = tmp_path / "hash-salt"
    salt_file.write_text(salt + "\n")
    os.chmod(salt_file, 0o600)
    db.execute("CREATE TABLE users (id int PRIMARY KEY, email text, card text, note text)")
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, user_email text, card text)")
    db.execute("CREATE TABLE tokens (token text PRIMARY KEY, v int)")
    db.execute("CREATE TABLE quiet (id int PRIMARY KEY, secret text)")  # never written
    run_txn(db, "INSERT INTO users VALUES (1, 'a@x.io', '4111', 'n1'), (2, NULL, NULL, 'n2')",
            "INSERT INTO orders VALUES (10, 'a@x.io', '5555')",
            "INSERT INTO tokens VALUES ('tok-1', 1)")
    conn = connectors([{"name": "public.users", "hash_columns": ["email"],
                        "mask_columns": ["card"]},
                       {"name": "public.orders", "hash_columns": ["user_email"]},
                       {"name": "public.tokens", "hash_columns": ["token"]},
                       {"name": "public.quiet", "mask_columns": ["secret"]}],
                      stream_settings={"hash_salt_file": str(salt_file)},
                      settings={"log": {"level": "debug"}})  # the most the log ever says

    chk = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=conn.env)
    text = " ".join(chk.stdout.split())
    assert "table public.users: column(s) email sent as the HMAC-SHA-256" in text, chk.stdout
    assert 'table public.users: column(s) card sent as "****"' in text, chk.stdout
    assert "the hash salt is set" in text, chk.stdout
    assert salt not in chk.stdout + chk.stderr

    conn.start().wait_streaming()
    run_txn(db, "INSERT INTO users VALUES (3, 'b@x.io', '4222', 'n3')",
            "UPDATE users SET email = 'c@x.io', card = NULL WHERE id = 1",
            "INSERT INTO orders VALUES (11, 'b@x.io', NULL)",
            "INSERT INTO tokens VALUES ('tok-2', 2)")
    conn.wait_caught_up()
    assert conn.stop() == 0
    dec = Decoder(kafka, conn.prefix)

    users = consume(kafka, dec, conn.topic("users"), until=4, to_end=True)
    assert [(r.value["op"], r.value["after"]) for r in users] == [
        ("r", {"id": 1, "email": _h(salt, "a@x.io"), "card": "****", "note": "n1"}),
        ("r", {"id": 2, "email": None, "card": None, "note": "n2"}),
        ("c", {"id": 3, "email": _h(salt, "b@x.io"), "card": "****", "note": "n3"}),
        ("u", {"id": 1, "email": _h(salt, "c@x.io"), "card": None, "note": "n1"})]
    orders = consume(kafka, dec, conn.topic("orders"), until=2, to_end=True)
    assert [r.value["after"] for r in orders] == [
        {"id": 10, "user_email": _h(salt, "a@x.io"), "card": "5555"},
        {"id": 11, "user_email": _h(salt, "b@x.io"), "card": None}]
    # joinable: the same value hashes the same in both tables
    assert orders[0].value["after"]["user_email"] == users[0].value["after"]["email"]
    # a hashed key column: hashed in the key too
    tokens = consume(kafka, dec, conn.topic("tokens"), until=2, to_end=True)
    assert [(r.key, r.value["after"]) for r in tokens] == [
        ({"token": _h(salt, "tok-1")}, {"token": _h(salt, "tok-1"), "v": 1}),
        ({"token": _h(salt, "tok-2")}, {"token": _h(salt, "tok-2"), "v": 2})]

    schema = dec.schema_for(users[0].raw_value[2:10].hex()).json
    email = _field(schema, ".Value", "email")
    assert email["wal2kafka.masked"] == "hmac-sha256" and "string" in email["type"]
    assert _field(schema, ".Value", "card")["wal2kafka.masked"] == "mask"
    assert "wal2kafka.masked" not in _field(schema, ".Value", "note")
    # a table without a change: its schemas were stored ahead of need, built as its first
    # change builds them (the mark included), and no unmarked copy was stored
    quiet = []
    for _, v, _ in dec.records:
        try:
            quiet.append(_field(json.loads(v), ".quiet.Value", "secret"))
        except (AssertionError, TypeError):
            pass
    assert quiet and all(f.get("wal2kafka.masked") == "mask" for f in quiet), quiet
    # the salt is in no log line
    assert salt not in conn.log()


def test_hash_without_salt_refused(db, kafka, connectors, wal2kafka_bin):
    db.execute("CREATE TABLE users (id int PRIMARY KEY, email text)")
    conn = connectors([{"name": "public.users", "hash_columns": ["email"]}],
                      env={"W2K_HASH_SALT": ""})
    chk = run_cli(wal2kafka_bin, "check", "--config", conn.config_path, env=conn.env)
    assert chk.returncode != 0
    assert "hashes columns but has no salt" in chk.stdout, chk.stdout
    conn.start()
    assert conn.wait_exit(60) == 3
    log = conn.log()
    assert "hashes columns (hash_columns) but has no salt" in log, log
    assert "hash_salt_file" in log and "W2K_HASH_SALT" in log, log
    # the environment variable is the other way: it streams
    salt = f"env-{uuid.uuid4().hex}"
    conn.env["W2K_HASH_SALT"] = salt
    conn.start().wait_streaming()
    run_txn(db, "INSERT INTO users VALUES (1, 'a@x.io')")
    conn.wait_caught_up()
    assert conn.stop() == 0
    dec = Decoder(kafka, conn.prefix)
    rows = consume(kafka, dec, conn.topic("users"), until=1, to_end=True)
    assert rows[0].value["after"] == {"id": 1, "email": _h(salt, "a@x.io")}
    assert salt not in conn.log()
