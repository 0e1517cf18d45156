"""servers_up.py — the servers a benchmark runs against and their teardown, in one place.

    up = ServersUp("snapbench", keep=a.keep)    # makes the work directory up.work
    try:
        pg, kafka = up.start()
        ...
    finally:
        ...                                      # the benchmark's own cleanup first
        up.stop()

start() returns a PostgreSQL server and a Kafka broker: with reuse, the ones named by
W2K_PG_PORT / W2K_KAFKA_BOOTSTRAP when set (servers.py's running_postgres /
running_kafka); the others are started here (integration/servers.py), pg_setup(pg) run on
a PostgreSQL started here. stop(), whatever happened before: the servers started here are
destroyed (newest first), the work directory is removed unless keep (then its path is
printed), and servers.cleanup_all() stops anything left over.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "integration"))

import servers  # noqa: E402
from servers import Kafka, Postgres  # noqa: E402


class ServersUp:
    def __init__(self, name: str, keep: bool = False, reuse: bool = True, pg_setup=None):
        """name: the benchmark's (the work directory is w2k-NAME-..., teardown messages
        name it)."""
        self.name = name
        self.keep = keep
        self.reuse = reuse
        self.pg_setup = pg_setup
        self.own: list = []
        self.work = Path(tempfile.mkdtemp(prefix=f"w2k-{name}-"))

    def start(self):
        pg = servers.running_postgres() if self.reuse else None
        if not pg:
            pg = Postgres().start()
            self.own.append(pg)
            if self.pg_setup:
                self.pg_setup(pg)
        kafka = servers.running_kafka() if self.reuse else None
        if not kafka:
            kafka = Kafka().start()
            self.own.append(kafka)
        return pg, kafka

    def stop(self) -> None:
        for s in reversed(self.own):
            try:
                s.destroy()
            except Exception as e:  # keep tearing down
                print(f"{self.name}: stopping {s}: {e}", file=sys.stderr)
        self.own = []
        if self.keep:
            print(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        servers.cleanup_all()
