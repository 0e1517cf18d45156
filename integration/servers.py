"""Throwaway PostgreSQL, Kafka and schema registry servers for the integration tests
and benchmarks.

Thin Python wrappers around integration/servers/pg.sh, kafka.sh and registry.sh, plus
client helpers (psycopg 3 for PostgreSQL, confluent-kafka for Kafka and the registry).

    from servers import Postgres, Kafka, free_ports
    pg_port, k_port, k_ctl = free_ports(3)
    pg = Postgres(port=pg_port).start()          # dir: a fresh /tmp/w2k-pg-* dir
    kafka = Kafka(port=k_port, controller_port=k_ctl).start()
    ...
    kafka.destroy(); pg.destroy()                # stop and remove the dirs
    cluster = KafkaCluster(3).start()            # 3 KRaft nodes, replication factor 3

Everything binds to 127.0.0.1. Servers started here are registered and destroyed
at interpreter exit (atexit) if their owner forgot; W2K_KEEP=1 keeps the dirs
(servers are still stopped) for post-mortem reading of their logs.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "integration" / "servers"
HOST = "127.0.0.1"
DEFAULT_PG_PASSWORD = "w2k-secret-pw"
DEBIAN_PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_BIN = Path(os.environ.get("W2K_PG_BIN", str(DEBIAN_PG_BIN)))
# psql: the server's own when its bin dir has one (the cached 10-18 builds have none).
PSQL = PG_BIN / "psql" if (PG_BIN / "psql").exists() else DEBIAN_PG_BIN / "psql"
# The PostgreSQL major the servers started here run (pg.sh W2K_PG_VERSION): None for
# Debian's 15, else a build scripts/setup.sh cached in $W2K_CACHE/pg/<major>.
PG_VERSION = os.environ.get("W2K_PG_VERSION") or None
# Parent of the server dirs; must be traversable by the postgres user when root.
TMP_ROOT = Path(os.environ.get("W2K_TMPDIR", "/tmp"))


class ServerError(RuntimeError):
    """A server script failed; the message carries its output (and log tail)."""


# --------------------------------------------------------------------------- ports


def _port_range() -> tuple[int, int]:
    lo, _, hi = os.environ.get("W2K_PORT_RANGE", "20000-32000").partition("-")
    return int(lo), int(hi)


def free_ports(n: int, port_range: tuple[int, int] | None = None) -> list[int]:
    """n distinct TCP ports free on 127.0.0.1 right now (all bound at once, then released).

    Ports come from port_range, else W2K_PORT_RANGE (default 20000-32000), below the
    kernel's ephemeral range (32768-60999): a server restarted on its port cannot lose
    it to a client's source port or to another process's bind(port 0)."""
    lo, hi = port_range or _port_range()
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    socks: list[socket.socket] = []
    try:
        for _ in range(50 * n + 200):
            if len(socks) == n:
                break
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, rng.randrange(lo, hi)))
            except OSError:
                s.close()
                continue
            socks.append(s)
        if len(socks) < n:
            raise ServerError(f"could not find {n} free ports in {lo}-{hi} (W2K_PORT_RANGE)")
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port() -> int:
    """One TCP port free on 127.0.0.1 right now."""
    return free_ports(1)[0]


def running_postgres() -> "Postgres | None":
    """The PostgreSQL someone else runs, named by W2K_PG_PORT (+ W2K_PG_DIR), or None."""
    port = os.environ.get("W2K_PG_PORT")
    if not port:
        return None
    return Postgres(os.environ.get("W2K_PG_DIR") or None, int(port), managed=False)


def running_kafka() -> "Kafka | None":
    """The broker someone else runs, named by W2K_KAFKA_BOOTSTRAP (+ W2K_KAFKA_DIR), or None."""
    bootstrap = os.environ.get("W2K_KAFKA_BOOTSTRAP")
    if not bootstrap:
        return None
    return Kafka(os.environ.get("W2K_KAFKA_DIR") or None, bootstrap=bootstrap, controller_port=1,
                 managed=False)


# ---------------------------------------------------------------- registry/cleanup

_registry_lock = threading.Lock()
_registry: list = []  # managed servers started by this process


def _register(server) -> None:
    with _registry_lock:
        if server not in _registry:
            _registry.append(server)


def _unregister(server) -> None:
    with _registry_lock:
        if server in _registry:
            _registry.remove(server)


def cleanup_all() -> None:
    """Destroy every server this process started and has not destroyed yet."""
    with _registry_lock:
        servers = list(reversed(_registry))
    for s in servers:
        if s._owner_pid != os.getpid():  # a forked child must not kill its parent's servers
            continue
        try:
            s.destroy()
        except Exception as e:  # keep going: clean up the others
            print(f"servers.py: cleanup of {s!r} failed: {e}")


atexit.register(cleanup_all)


def make_server_dir(kind: str) -> Path:
    """A fresh directory /tmp/w2k-KIND-XXXX, world-traversable, tagged with our pid."""
    TMP_ROOT.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix=f"w2k-{kind}-", dir=TMP_ROOT))
    d.chmod(0o755)
    (d / "owner.pid").write_text(f"{os.getpid()}\n")
    return d


def _pid_alive(pid: int) -> bool:
    """True while any thread of process pid runs (a zombie leader alone is not alive)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return False
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X"):
                    return True
        except (OSError, IndexError):
            continue
    return False


def reap_stale_dirs() -> list[Path]:
    """Destroy server dirs left behind by test runs whose process is gone (e.g. SIGKILLed)."""
    reaped = []
    for d in sorted(TMP_ROOT.glob("w2k-*-*")):
        owner = d / "owner.pid"
        if not d.is_dir() or not owner.is_file():
            continue
        try:
            pid = int(owner.read_text().strip())
        except (OSError, ValueError):
            continue
        if _pid_alive(pid):
            continue
        kind = d.name.split("-")[1]
        script = {"pg": "pg.sh", "kafka": "kafka.sh", "registry": "registry.sh"}.get(kind)
        if script is None:
            continue
        subprocess.run(["bash", str(SCRIPTS / script), "destroy", str(d)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        shutil.rmtree(d, ignore_errors=True)
        reaped.append(d)
    return reaped


def _run(script: str, *args, timeout: float = 180, env: dict | None = None) -> str:
    cmd = ["bash", str(SCRIPTS / script), *map(str, args)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        raise ServerError(f"{' '.join(cmd)} did not finish within {timeout}s\n{e.stderr or ''}") from e
    if p.returncode != 0:
        raise ServerError(f"{' '.join(cmd)} failed (exit {p.returncode}):\n{p.stderr}{p.stdout}")
    return p.stdout


def _tail(path: Path, n: int) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return f"({path} missing)\n"


def _conninfo_quote(v) -> str:
    v = str(v)
    if v and re.fullmatch(r"[A-Za-z0-9_./:@-]+", v):
        return v
    return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --------------------------------------------------------------------- PostgreSQL


class Postgres:
    """A PostgreSQL server (wal_level=logical) on 127.0.0.1:port: Debian's 15, or with
    version="12" (default: env W2K_PG_VERSION) the cached build of that major.

    Attributes: dir, port, host, user ("postgres", a superuser), password, managed,
    version (the major asked for, None for Debian's), server_version_num (asked).
    TCP connections need the password (scram-sha-256); Unix-socket ones (socket_dir)
    are trusted. managed=False wraps a server someone else runs (W2K_PG_PORT):
    stop/restart then need its dir (W2K_PG_DIR).
    """

    def __init__(self, dir: str | Path | None = None, port: int | None = None, *,
                 password: str | None = None, managed: bool = True,
                 version: str | int | None = None):
        self.host = HOST
        self.version = str(version) if version else PG_VERSION
        self.port = int(port) if port else free_port()
        self.dir = Path(dir) if dir else None
        self.user = "postgres"
        self.password = password or os.environ.get("W2K_PG_PASSWORD", DEFAULT_PG_PASSWORD)
        self.managed = managed
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        return f"Postgres(dir={str(self.dir)!r}, port={self.port}, managed={self.managed})"

    # -- lifecycle
    def _script(self, *args, timeout: float = 180) -> str:
        if self.dir is None:
            raise ServerError(f"{self!r}: no server dir known, cannot run pg.sh {args[0]} "
                              "(for a reused server set W2K_PG_DIR)")
        env = {"W2K_PG_PASSWORD": self.password}
        if self.version:
            env["W2K_PG_VERSION"] = self.version
        return _run("pg.sh", *args, timeout=timeout, env=env)

    def start(self) -> "Postgres":
        if self.dir is None:
            self.dir = make_server_dir("pg")
        if self.managed:
            _register(self)
        self._script("start", self.dir, self.port)
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: mode 'fast' (default), 'smart' or 'immediate' (crash-like)."""
        self._script("stop", self.dir, mode)

    def crash(self) -> None:
        """Stop without a shutdown checkpoint (pg_ctl -m immediate): like a crash."""
        self.stop("immediate")

    def restart(self, mode: str = "fast") -> None:
        self._script("restart", self.dir, mode)

    def promote(self, timeout: float = 60) -> None:
        """Promote this standby (pg_ctl promote) and wait until it accepts writes."""
        self._script("promote", self.dir)
        deadline = time.monotonic() + timeout
        while self.scalar("SELECT pg_is_in_recovery()"):
            if time.monotonic() > deadline:
                raise ServerError(f"{self!r} still in recovery {timeout}s after promote")
            time.sleep(0.05)

    def start_standby(self, *, slot: str = "standby1", sync_slots: bool = True,
                      timeout: float = 60, port: int | None = None) -> "Postgres":
        """Start a physical standby of this running, managed server on port (default: a
        free one) and return it (a managed Postgres, streaming). The cached builds have no
        pg_basebackup, so this server is stopped (fast), its data directory copied as
        the standby's base, and both started again.

        This server gets the physical slot `slot` for the standby. With sync_slots on
        PostgreSQL 17+, it lists that slot in synchronized_standby_slots and the
        standby runs sync_replication_slots = on (failover slots are kept there);
        the standby always has hot_standby_feedback = on."""
        if not self.managed or self.dir is None:
            raise ServerError(f"{self!r}: a standby needs a server this process manages")
        version = self.server_version_num
        with self.connect() as c:
            if not c.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s",
                             (slot,)).fetchone():
                c.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
            if sync_slots and version >= 170000:
                c.execute(f"ALTER SYSTEM SET synchronized_standby_slots = '{slot}'")
        self.stop("fast")
        sdir = make_server_dir("pg")
        # cp -a keeps the owner (the postgres user when running as root)
        subprocess.run(["cp", "-a", str(self.dir / "data"), str(self.dir / "pgbin"), str(sdir)],
                       check=True, stdin=subprocess.DEVNULL)
        data = sdir / "data"
        for f in ("postmaster.pid", "postmaster.opts"):
            (data / f).unlink(missing_ok=True)
        # like a base backup: no replication slots of the primary's
        for d in (data / "pg_replslot").iterdir():
            shutil.rmtree(d)
        conninfo = (f"host={self.host} port={self.port} user={self.user} "
                    f"password={_conninfo_quote(self.password)} dbname=postgres "
                    f"application_name={slot}")
        settings = {"primary_conninfo": conninfo, "primary_slot_name": slot,
                    "hot_standby_feedback": "on"}
        if sync_slots and version >= 170000:
            # the copy must not wait for a standby of its own once promoted
            settings["sync_replication_slots"] = "on"
            settings["synchronized_standby_slots"] = ""
        with open(data / "postgresql.auto.conf", "a") as f:  # appending keeps its owner
            f.write("# standby settings, written by servers.py start_standby\n")
            for k, v in settings.items():
                f.write(f"{k} = '{v.replace(chr(39), chr(39) * 2)}'\n")
        signal_file = data / "standby.signal"
        signal_file.touch()
        st = (data / "PG_VERSION").stat()
        os.chown(signal_file, st.st_uid, st.st_gid)
        self.start()
        standby = Postgres(dir=sdir, port=port, password=self.password,
                           version=self.version).start()
        deadline = time.monotonic() + timeout
        while not self.scalar("SELECT count(*) FROM pg_stat_replication WHERE "
                              "application_name = %s AND state = 'streaming'", (slot,)):
            if time.monotonic() > deadline:
                raise ServerError(f"standby {standby!r} not streaming after {timeout}s\n"
                                  f"{standby.log_tail()}")
            time.sleep(0.1)
        return standby

    def is_running(self) -> bool:
        if self.dir is None:
            return self._tcp_open()
        try:
            self._script("status", self.dir)
            return True
        except ServerError:
            return False

    def destroy(self) -> None:
        """Stop and remove the dir (W2K_KEEP=1: stop only). No-op for unmanaged servers."""
        if not self.managed or self.dir is None:
            return
        if os.environ.get("W2K_KEEP") == "1":
            if self.dir.exists():
                self.stop("fast")
            print(f"servers.py: W2K_KEEP=1, kept {self.dir}")
        else:
            self._script("destroy", self.dir)
        _unregister(self)

    def _tcp_open(self) -> bool:
        try:
            socket.create_connection((self.host, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    @property
    def socket_dir(self) -> Path | None:
        return self.dir

    @property
    def server_version_num(self) -> int:
        """The server's server_version_num, e.g. 120022."""
        return int(self.scalar("SHOW server_version_num"))

    @property
    def log_file(self) -> Path | None:
        return self.dir / "postgres.log" if self.dir else None

    def log_tail(self, n: int = 40) -> str:
        return _tail(self.log_file, n) if self.log_file else ""

    # -- clients
    def dsn(self, dbname: str = "postgres", user: str | None = None,
            password: str | None = None, **extra) -> str:
        """libpq conninfo over TCP, e.g. 'host=127.0.0.1 port=5 dbname=x user=postgres password=...'.

        extra keywords are appended (e.g. replication='database', application_name='t')."""
        parts = {"host": self.host, "port": self.port, "dbname": dbname,
                 "user": user or self.user,
                 "password": self.password if password is None else password, **extra}
        return " ".join(f"{k}={_conninfo_quote(v)}" for k, v in parts.items() if v is not None)

    def socket_dsn(self, dbname: str = "postgres", user: str | None = None) -> str:
        """libpq conninfo over the Unix socket (trust auth, no password)."""
        return (f"host={_conninfo_quote(self.socket_dir)} port={self.port} "
                f"dbname={_conninfo_quote(dbname)} user={_conninfo_quote(user or self.user)}")

    def env(self, dbname: str = "postgres") -> dict:
        """PG* environment variables for a client process (psql, wal2kafka)."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
                "PGPASSWORD": self.password, "PGDATABASE": dbname}

    def connect(self, dbname: str = "postgres", *, user: str | None = None,
                password: str | None = None, autocommit: bool = True, **kw):
        """A psycopg 3 connection (autocommit by default)."""
        import psycopg
        return psycopg.connect(self.dsn(dbname, user, password), autocommit=autocommit,
                               connect_timeout=10, **kw)

    def execute(self, sql: str, params=None, dbname: str = "postgres") -> list[tuple] | None:
        """Run one statement in its own autocommit connection; rows if it returns any."""
        with self.connect(dbname) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description is not None else None

    def scalar(self, sql: str, params=None, dbname: str = "postgres"):
        """First column of the first row (None when there is no row)."""
        rows = self.execute(sql, params, dbname)
        return rows[0][0] if rows else None

    def psql(self, sql: str, dbname: str = "postgres", check: bool = True,
             timeout: float = 120) -> str:
        """Run SQL through the psql client (-X -A -t, ON_ERROR_STOP); returns stdout."""
        p = subprocess.run(
            [str(PSQL), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
             "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", dbname, "-c", sql],
            capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            env={**os.environ, "PGPASSWORD": self.password})
        if check and p.returncode != 0:
            raise ServerError(f"psql failed (exit {p.returncode}): {p.stderr.strip()}")
        return p.stdout

    def create_database(self, name: str) -> "Database":
        self.drop_database(name)
        self.execute(f'CREATE DATABASE "{name}"')
        return Database(self, name)

    def drop_database(self, name: str) -> None:
        """Drop a database and everything that pins it (its logical slots, its sessions)."""
        with self.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
                         "WHERE database = %s AND active_pid IS NOT NULL", (name,))
            deadline = time.monotonic() + 30
            while True:
                slots = [r[0] for r in conn.execute(
                    "SELECT slot_name FROM pg_replication_slots WHERE database = %s",
                    (name,)).fetchall()]
                if not slots:
                    break
                for slot in slots:
                    try:
                        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        conn.execute("SELECT pg_terminate_backend(active_pid) FROM "
                                     "pg_replication_slots WHERE slot_name = %s AND "
                                     "active_pid IS NOT NULL", (slot,))
                        time.sleep(0.2)
            if conn.info.server_version >= 130000:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                return
            # Before 13 there is no WITH (FORCE): end the database's sessions first.
            while True:
                conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)


class Database:
    """One database of a Postgres server (what the `db` fixture returns).

    Attributes: pg (the Postgres), name. Methods mirror Postgres with dbname bound."""

    def __init__(self, pg: Postgres, name: str):
        self.pg = pg
        self.name = name

    def __repr__(self) -> str:
        return f"Database({self.name!r} on 127.0.0.1:{self.pg.port})"

    def dsn(self, user: str | None = None, password: str | None = None, **extra) -> str:
        return self.pg.dsn(self.name, user, password, **extra)

    def connect(self, **kw):
        return self.pg.connect(self.name, **kw)

    def execute(self, sql: str, params=None):
        return self.pg.execute(sql, params, self.name)

    def scalar(self, sql: str, params=None):
        return self.pg.scalar(sql, params, self.name)

    def psql(self, sql: str, check: bool = True, timeout: float = 120) -> str:
        return self.pg.psql(sql, self.name, check, timeout)

    def env(self) -> dict:
        return self.pg.env(self.name)

    def drop(self) -> None:
        self.pg.drop_database(self.name)


def database_name(test_name: str, prefix: str = "t_") -> str:
    """A valid, unique-enough database/topic-safe name derived from a test name (<= 63 bytes)."""
    base = prefix + re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    if len(base) <= 63:
        return base
    h = hashlib.sha1(test_name.encode()).hexdigest()[:8]
    return base[:54].rstrip("_") + "_" + h


# -------------------------------------------------------------------------- Kafka


class Kafka:
    """A single-node Apache Kafka broker (KRaft) on 127.0.0.1:port.

    Attributes: dir, port, controller_port, bootstrap ("127.0.0.1:PORT"), managed.
    managed=False wraps a broker someone else runs (W2K_KAFKA_BOOTSTRAP): stop/kill/
    restart then need its dir (W2K_KAFKA_DIR).
    """

    replication_factor = 1  # of the topics create_topic makes (KafkaCluster: min(3, n))

    def __init__(self, dir: str | Path | None = None, port: int | None = None,
                 controller_port: int | None = None, *, bootstrap: str | None = None,
                 managed: bool = True):
        if bootstrap:
            port = int(bootstrap.rpartition(":")[2])
        if not port or not controller_port:
            p1, p2 = free_ports(2)
            port = port or p1
            controller_port = controller_port or p2
        self.port = int(port)
        self.controller_port = int(controller_port)
        self.bootstrap = bootstrap or f"{HOST}:{self.port}"
        self.dir = Path(dir) if dir else None
        self.managed = managed
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        return f"Kafka(dir={str(self.dir)!r}, bootstrap={self.bootstrap!r}, managed={self.managed})"

    # -- lifecycle
    def _script(self, *args, timeout: float = 240) -> str:
        if self.dir is None:
            raise ServerError(f"{self!r}: no broker dir known, cannot run kafka.sh {args[0]} "
                              "(for a reused broker set W2K_KAFKA_DIR)")
        return _run("kafka.sh", *args, timeout=timeout)

    def start(self) -> "Kafka":
        if self.dir is None:
            self.dir = make_server_dir("kafka")
        if self.managed:
            _register(self)
        self._script("start", self.dir, self.port, self.controller_port)
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM, wait; SIGKILL after a deadline). Data is kept."""
        self._script("stop", self.dir)

    def kill(self) -> None:
        """SIGKILL the broker (a crash). start() again recovers its data."""
        self._script("kill", self.dir)

    def restart(self) -> None:
        self._script("restart", self.dir)

    def is_running(self) -> bool:
        try:
            self._script("status", self.dir)
            return True
        except ServerError:
            return False

    def destroy(self) -> None:
        """Stop and remove the dir (W2K_KEEP=1: stop only). No-op for unmanaged brokers."""
        if not self.managed or self.dir is None:
            return
        if os.environ.get("W2K_KEEP") == "1":
            if self.dir.exists():
                self.stop()
            print(f"servers.py: W2K_KEEP=1, kept {self.dir}")
        else:
            self._script("destroy", self.dir)
        _unregister(self)

    @property
    def log_file(self) -> Path | None:
        return self.dir / "server.log" if self.dir else None

    def log_tail(self, n: int = 40) -> str:
        return _tail(self.log_file, n) if self.log_file else ""

    # -- clients (confluent-kafka, which bundles its own librdkafka)
    def config(self, **conf) -> dict:
        c = {"bootstrap.servers": self.bootstrap}
        c.update({k.replace("_", "."): v for k, v in conf.items()})
        return c

    def admin(self, **conf):
        from confluent_kafka.admin import AdminClient
        return AdminClient(self.config(**conf))

    def create_topic(self, name: str, partitions: int = 1, config: dict | None = None,
                     timeout: float = 30) -> None:
        from confluent_kafka.admin import NewTopic
        admin = self.admin()  # must outlive the futures
        fs = admin.create_topics(
            [NewTopic(name, num_partitions=partitions,
                      replication_factor=self.replication_factor,
                      config={k: str(v) for k, v in (config or {}).items()})],
            operation_timeout=timeout, request_timeout=timeout)
        fs[name].result(timeout)

    def delete_topic(self, name: str, timeout: float = 30) -> None:
        admin = self.admin()  # must outlive the futures
        fs = admin.delete_topics([name], operation_timeout=timeout, request_timeout=timeout)
        fs[name].result(timeout)

    def topics(self, timeout: float = 10) -> set[str]:
        """Names of all topics (internal ones included)."""
        return set(self.admin().list_topics(timeout=timeout).topics)

    def partitions(self, topic: str, timeout: float = 10) -> int:
        md = self.admin().list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or md.error is not None:
            raise KeyError(f"topic {topic!r} not found ({md.error if md else 'no metadata'})")
        return len(md.partitions)

    def topic_config(self, topic: str, timeout: float = 10) -> dict[str, str]:
        """The topic's effective configuration, name -> value."""
        from confluent_kafka.admin import ConfigResource
        res = ConfigResource(ConfigResource.Type.TOPIC, topic)
        admin = self.admin()  # must outlive the futures
        entries = admin.describe_configs([res])[res].result(timeout)
        return {k: e.value for k, e in entries.items()}

    def producer(self, **conf):
        """A confluent_kafka.Producer: idempotent, acks=all, unless overridden."""
        from confluent_kafka import Producer
        base = {"enable.idempotence": True, "acks": "all"}
        base.update(self.config(**conf))
        return Producer(base)

    def consumer(self, group: str | None = None, **conf):
        """A confluent_kafka.Consumer reading from the beginning (group: random if None)."""
        from confluent_kafka import Consumer
        base = {"group.id": group or f"w2k-test-{os.getpid()}-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest", "enable.partition.eof": True}
        base.update(self.config(**conf))
        return Consumer(base)

    def consume(self, topic: str, count: int | None = None, timeout: float = 30.0,
                group: str | None = None, isolation: str = "read_committed", **conf) -> list:
        """Read a topic from the beginning; returns confluent_kafka.Message objects.

        count=None: read until the end of every partition (what exists now).
        count=N: wait for N messages (TimeoutError after `timeout` seconds).
        group=None: assign all partitions directly (no consumer group). With a
        group name: subscribe as a member of that consumer group and commit.
        Messages come partition by partition in offset order within each.
        """
        from confluent_kafka import KafkaError, OFFSET_BEGINNING, TopicPartition
        c = self.consumer(group, **{"isolation.level": isolation, **conf})
        out = []
        try:
            nparts = self.partitions(topic)
            if group is None:
                c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(nparts)])
            else:
                c.subscribe([topic])
            eof = set()
            deadline = time.monotonic() + timeout
            while True:
                if count is not None and len(out) >= count:
                    break
                if count is None and len(eof) >= nparts:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    if count is not None:
                        raise TimeoutError(f"got {len(out)} of {count} messages from {topic!r} "
                                           f"within {timeout}s")
                    raise TimeoutError(f"did not reach the end of {topic!r} within {timeout}s "
                                       f"({len(eof)}/{nparts} partitions, {len(out)} messages)")
                m = c.poll(min(left, 0.5))
                if m is None:
                    continue
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        eof.add(m.partition())
                        continue
                    raise RuntimeError(f"consuming {topic!r}: {m.error()}")
                eof.discard(m.partition())
                out.append(m)
            if group is not None and out:
                c.commit(asynchronous=False)
        finally:
            c.close()
        return out


class _ClusterNode(Kafka):
    """One node of a KafkaCluster: kafka.sh runs with the cluster's environment."""

    def __init__(self, *a, script_env: dict | None = None, **kw):
        super().__init__(*a, **kw)
        self.script_env = dict(script_env or {})

    def _script(self, *args, timeout: float = 240) -> str:
        if self.dir is None:
            raise ServerError(f"{self!r}: no broker dir known, cannot run kafka.sh {args[0]}")
        return _run("kafka.sh", *args, timeout=timeout, env=self.script_env)


class KafkaCluster(Kafka):
    """An n-node Apache Kafka cluster (KRaft, every node a combined broker+controller, the
    n nodes the controller quorum) on 127.0.0.1: the Kafka client API (config, admin,
    consumer, consume ...) with bootstrap naming every node, topics created with
    replication factor min(3, n) and min.insync.replicas 2 (1 for n = 2), the internal
    topics (transactions, offsets) alike.

    Attributes: nodes (one managed Kafka per node: .dir, .port, kill/start/stop),
    bootstrap ("127.0.0.1:P1,127.0.0.1:P2,..."), replication_factor, min_insync.
    heap: each node's JVM options (W2K_KAFKA_HEAP); properties: more server.properties
    lines ("name=value") for every node. start() starts the nodes at once
    (none is ready before a majority of the quorum runs) and waits for all of them."""

    def __init__(self, n: int = 3, *, heap: str = "-Xms256m -Xmx512m",
                 properties: list[str] | None = None):
        if n < 2:
            raise ValueError("a KafkaCluster has 2 or more nodes (one: use Kafka)")
        ports = free_ports(2 * n)
        self.replication_factor = min(3, n)
        self.min_insync = 2 if n >= 3 else 1
        while True:  # a cluster id like kafka-storage random-uuid's (no leading '-')
            cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
            if not cid.startswith("-"):
                break
        env = {"W2K_KAFKA_CLUSTER_ID": cid, "W2K_KAFKA_HEAP": heap}
        self.nodes = [_ClusterNode(port=ports[2 * i], controller_port=ports[2 * i + 1],
                                   script_env=env) for i in range(n)]
        voters = ",".join(f"{i + 1}@{HOST}:{k.controller_port}" for i, k in enumerate(self.nodes))
        rf, isr = self.replication_factor, self.min_insync
        self._extra = [
            f"controller.quorum.voters={voters}\n"
            f"node.id={i + 1}\n"
            f"default.replication.factor={rf}\n"
            f"min.insync.replicas={isr}\n"
            f"offsets.topic.replication.factor={rf}\n"
            f"transaction.state.log.replication.factor={rf}\n"
            f"transaction.state.log.min.isr={isr}\n"
            f"share.coordinator.state.topic.replication.factor={rf}\n"
            f"share.coordinator.state.topic.min.isr={isr}\n"
            + "".join(f"{p}\n" for p in properties or [])
            for i in range(n)]
        self.port = self.nodes[0].port
        self.controller_port = self.nodes[0].controller_port
        self.bootstrap = ",".join(k.bootstrap for k in self.nodes)
        self.dir = None
        self.managed = True
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        return f"KafkaCluster(bootstrap={self.bootstrap!r})"

    def _each(self, fn) -> None:
        """fn(node) on every node at once; raises the first failure."""
        errors: list[BaseException] = []

        def run(k):
            try:
                fn(k)
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=run, args=(k,)) for k in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def start(self) -> "KafkaCluster":
        for k, extra in zip(self.nodes, self._extra):
            if k.dir is None:
                k.dir = make_server_dir("kafka")
                (k.dir / "extra.properties").write_text(extra)
                k.script_env["W2K_KAFKA_EXTRA_CONFIG"] = str(k.dir / "extra.properties")
        # each node registers itself for the atexit cleanup
        self._each(lambda k: k.start() if not k.is_running() else None)
        return self

    def stop(self) -> None:
        self._each(lambda k: k.stop())

    def kill(self) -> None:
        self._each(lambda k: k.kill())

    def restart(self) -> None:
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return all(k.is_running() for k in self.nodes)

    def destroy(self) -> None:
        """Stop every node and remove the dirs (W2K_KEEP=1: stop only)."""
        for k in self.nodes:
            if k.dir is not None:
                k.destroy()

    @property
    def log_file(self) -> Path | None:
        return self.nodes[0].log_file

    def log_tail(self, n: int = 40) -> str:
        return "".join(f"== node {i + 1}\n{k.log_tail(n)}" for i, k in enumerate(self.nodes))


# ------------------------------------------------------------------ schema registry

REGISTRY_API = "/apis/ccompat/v7"


class Registry:
    """An Apicurio Registry (Confluent-compatible API) on 127.0.0.1:port, started by
    integration/servers/registry.sh (in-memory storage: a restart forgets every schema).

    Attributes: dir, port, management_port, url (the ccompat API base), managed.
    managed=False wraps a registry someone else runs (url=..., e.g. W2K_REGISTRY_URL)."""

    def __init__(self, dir=None, port=None, management_port=None, *, url=None, managed=True):
        if url is None and (not port or not management_port):
            p1, p2 = free_ports(2)
            port = port or p1
            management_port = management_port or p2
        self.port = port
        self.management_port = management_port
        self.url = url or f"http://{HOST}:{port}{REGISTRY_API}"
        self.dir = Path(dir) if dir else None
        self.managed = managed
        self._owner_pid = os.getpid()

    def __repr__(self) -> str:
        return f"Registry(dir={str(self.dir)!r}, url={self.url!r}, managed={self.managed})"

    def _script(self, *args, timeout: float = 300) -> str:
        return _run("registry.sh", *args, timeout=timeout)

    def start(self) -> "Registry":
        if self.dir is None:
            self.dir = make_server_dir("registry")
        if self.managed:
            _register(self)
        self._script("start", self.dir, self.port, self.management_port)
        return self

    def stop(self) -> None:
        self._script("stop", self.dir)

    def kill(self) -> None:
        self._script("kill", self.dir)

    def restart(self) -> None:
        """Stop and start on the same ports (storage is empty again)."""
        self._script("restart", self.dir)

    def destroy(self) -> None:
        """Stop and remove the dir (W2K_KEEP=1: stop only). No-op for unmanaged ones."""
        if not self.managed or self.dir is None:
            return
        if os.environ.get("W2K_KEEP") == "1":
            if self.dir.exists():
                self.stop()
            print(f"servers.py: W2K_KEEP=1, kept {self.dir}")
        else:
            self._script("destroy", self.dir)
        _unregister(self)

    @property
    def log_file(self) -> Path | None:
        return self.dir / "registry.log" if self.dir else None

    def log_tail(self, n: int = 40) -> str:
        return _tail(self.log_file, n) if self.log_file else ""

    def client(self, **conf):
        """A confluent_kafka SchemaRegistryClient for this registry.

        See registry_client."""
        return registry_client(self.url, **conf)

    def deserializer(self):
        """confluent-kafka's AvroDeserializer on this registry (see avro_deserializer)."""
        return avro_deserializer(self.client())


def registry_client(url: str, **conf):
    """A confluent_kafka SchemaRegistryClient for the registry at url. Each request
    waits at most 10 s for an answer (conf "timeout" overrides), then the client retries
    it: its default is to wait forever, and Apicurio now and then never answers one
    request (measured: about 1 in 400 on an unknown route)."""
    from confluent_kafka.schema_registry import SchemaRegistryClient
    return SchemaRegistryClient({"url": url, "timeout": 10, **conf})


def avro_deserializer(client):
    """confluent-kafka's AvroDeserializer with the subject names wal2kafka registers
    (<topic>-key / <topic>-value, TopicNameStrategy). confluent-kafka 2.16 otherwise first
    asks the registry for "associations", a route Apicurio does not have (a 404 that now
    and then never comes)."""
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    return AvroDeserializer(client, conf={"subject.name.strategy.type": "TOPIC"})
