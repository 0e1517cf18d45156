"""The least-privilege role of docs/operations.md, exactly as written there.

The SQL blocks of its section "A role with least privilege" are read from the file and
run with only the names replaced (role, database, password, stream); the tables
(public.orders, public.customers) belong to the superuser, and PUBLIC's default CONNECT
on the database and USAGE on schema public are revoked first, so every privilege the
role has is one the documentation grants.

Proves: with those statements, a role that is neither superuser nor owner runs wal2kafka
end to end: it creates the slot (its walsender runs as that role), the initial snapshot
reads every row, changes arrive; and leaving out any one of the documented privileges
makes wal2kafka stop at once (exit 4) with an error that names what is missing and the
statement that grants it.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from w2k import Decoder, connectors, consume, final_error, run_txn  # noqa: F401 (fixture)

DOCS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
W2K_EXIT_PG = 4


def documented_sql() -> tuple[list[str], list[str]]:
    """(role statements, publication statements) of the least-privilege section."""
    text = DOCS.read_text()
    section = text.split("## A role with least privilege", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) >= 2, f"{DOCS}: expected the role block and the publication block"

    def stmts(block):
        return [s.strip() for s in block.split(";") if s.strip()]
    return stmts(blocks[0]), stmts(blocks[1])


class Setup:
    def __init__(self, db):
        self.db = db
        self.role = f"w2k_role_{uuid.uuid4().hex[:8]}"
        self.password = f"pw-{uuid.uuid4().hex}"
        self.stream = f"shop_{uuid.uuid4().hex[:6]}"

    def subst(self, stmt: str) -> str:
        s = stmt.replace("PASSWORD '...'", f"PASSWORD '{self.password}'")
        s = re.sub(r"\bDATABASE shop\b", f'DATABASE "{self.db.name}"', s)
        s = re.sub(r"\bwal2kafka_shop\b", f"wal2kafka_{self.stream}", s)
        s = re.sub(r"(ROLE|TO) wal2kafka\b", rf"\1 {self.role}", s)
        return s


@pytest.fixture
def setup(db):
    db.execute("CREATE TABLE public.orders (id int PRIMARY KEY, customer int, amount int)")
    db.execute("CREATE TABLE public.customers (id int PRIMARY KEY, name text)")
    db.execute("INSERT INTO customers VALUES (1, 'alice'), (2, 'bob')")
    db.execute("INSERT INTO orders VALUES (10, 1, 100)")
    db.execute(f'REVOKE CONNECT ON DATABASE "{db.name}" FROM PUBLIC')
    db.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    s = Setup(db)
    yield s
    if db.pg.scalar("SELECT 1 FROM pg_roles WHERE rolname = %s", (s.role,)):
        db.execute(f"DROP OWNED BY {s.role}")
        db.pg.execute(f"DROP ROLE {s.role}")


def run_statements(setup, role_stmts, pub_stmts):
    for stmt in role_stmts:
        setup.db.execute(setup.subst(stmt))
    for stmt in pub_stmts:  # by the owner of the tables (here: the superuser)
        setup.db.execute(setup.subst(stmt))


def connector_as_role(connectors, setup, **kw):
    db = setup.db
    conn = connectors(["public.orders", "public.customers"], stream=setup.stream,
                      env={"PGPASSWORD": setup.password}, settings={
                          "postgresql": {"conninfo": f"host=127.0.0.1 port={db.pg.port} "
                                                     f"dbname={db.name} user={setup.role} "
                                                     "sslmode=disable"}, **kw})
    return conn


def test_documented_role_streams_end_to_end(setup, kafka, connectors, topic_prefix):
    role_stmts, pub_stmts = documented_sql()
    run_statements(setup, role_stmts, pub_stmts)
    db = setup.db
    assert db.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (setup.role,)) is False
    assert db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                     "AND tableowner = %s", (setup.role,)) == 0

    conn = connector_as_role(connectors, setup)
    conn.start().wait_streaming()
    # the slot is the role's: its walsender runs as that role
    assert db.scalar("SELECT a.usename FROM pg_replication_slots s JOIN pg_stat_activity a "
                     "ON a.pid = s.active_pid WHERE s.slot_name = %s", (conn.slot,)) == setup.role
    run_txn(db, "INSERT INTO orders VALUES (11, 2, 250)",
            "UPDATE customers SET name = 'alice b' WHERE id = 1")
    dec = Decoder(kafka, topic_prefix)
    orders = consume(kafka, dec, conn.topic("orders"), until=2)
    customers = consume(kafka, dec, conn.topic("customers"), until=3)
    assert [(r.value["op"], r.value["after"]) for r in orders] == [
        ("r", {"id": 10, "customer": 1, "amount": 100}),
        ("c", {"id": 11, "customer": 2, "amount": 250})]
    assert [(r.value["op"], r.value["after"]) for r in customers] == [
        ("r", {"id": 1, "name": "alice"}), ("r", {"id": 2, "name": "bob"}),
        ("u", {"id": 1, "name": "alice b"})]
    conn.wait_caught_up()
    assert conn.stop() == 0


def _without(what: str, role_stmts: list[str], pub_stmts: list[str]):
    if what == "REPLICATION":
        role_stmts = [s.replace(" REPLICATION", "") if s.startswith("CREATE ROLE") else s
                      for s in role_stmts]
    elif what == "SELECT":  # SELECT on the first table only
        role_stmts = [re.sub(r"ON (public\.\w+), public\.\w+", r"ON \1", s)
                      if s.startswith("GRANT SELECT") else s for s in role_stmts]
    elif what == "PUBLICATION":
        pub_stmts = []
    else:
        role_stmts = [s for s in role_stmts if not s.startswith(f"GRANT {what}")]
    return role_stmts, pub_stmts


# what is left out -> what the error (or its hint) must contain: the missing privilege
# and the statement that grants it
MISSING = {
    "REPLICATION": [r"REPLICATION", r"ALTER ROLE {role} WITH REPLICATION"],
    "CONNECT": [r"CONNECT", r'GRANT CONNECT ON DATABASE "?{db}"? TO {role}'],
    "USAGE": [r"schema public", r"GRANT USAGE ON SCHEMA public TO {role}"],
    "SELECT": [r"public\.customers", r"GRANT SELECT ON (TABLE )?public\.customers TO {role}"],
    # (the statement may quote the name, as PQescapeIdentifier does: the same SQL)
    "PUBLICATION": [r"wal2kafka_{stream}", r'CREATE PUBLICATION "?wal2kafka_{stream}"? '],
}


@pytest.mark.parametrize("what", list(MISSING))
def test_each_missing_grant_gives_an_actionable_error(setup, kafka, connectors, what):
    role_stmts, pub_stmts = _without(what, *documented_sql())
    run_statements(setup, role_stmts, pub_stmts)
    conn = connector_as_role(connectors, setup, retry={"max_attempts": 1,
                                                       "initial_backoff_ms": 100})
    conn.start()
    rc = conn.wait_exit(60)
    log = conn.log()
    msg, hint = final_error(log, setup.stream)
    said = msg + "\n" + hint
    for pattern in MISSING[what]:
        rx = pattern.format(role=setup.role, db=re.escape(setup.db.name), stream=setup.stream)
        assert re.search(rx, said), f"/{rx}/ not in the error:\n{said}\n--- log ---\n{log}"
    assert rc == W2K_EXIT_PG, log
