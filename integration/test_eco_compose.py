"""docker-compose.yml, the Dockerfile and config/docker/, checked without a Docker engine,
and the same topology run for real.

Static (no servers): the compose file is valid YAML; every service has an image or a
build whose Dockerfile exists; every service has a health check and wal2kafka waits for
the others to be healthy; config/docker/wal2kafka.cfg names the services' host names,
ports, database, role, password and tables exactly as the compose file and the init SQL
define them; the images are the versions the tests run (Kafka and Apicurio from the
pom.xml files); the Dockerfile is multi-stage on Debian 12, its COPY sources exist and are
not excluded by .dockerignore, its runtime stage installs exactly the packages that hold
the shared libraries wal2kafka links, and runs as a non-root user; `wal2kafka check`
reads config/docker/wal2kafka.cfg without a configuration error (it fails to connect).

Live (test_compose_topology_streams_end_to_end): PostgreSQL + Kafka + Apicurio +
wal2kafka with config/docker/wal2kafka.cfg and config/docker/initdb/10-shop.sql, where
only host names/ports are replaced by the test servers' 127.0.0.1 ports and the names
that must be unique on shared servers (database, role, stream/publication, topic prefix)
get a suffix: the sample rows arrive and decode with the registry, and the health checks
of the compose file (pg_isready, the registry's, wal2kafka's /health) pass against them.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from w2k import Connector, TopicReader, run_cli, run_txn  # noqa: F401
from w2k_ecosystem import RegistryDecoder, metrics_port, registry  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
CFG = REPO / "config" / "docker" / "wal2kafka.cfg"
INITDB = REPO / "config" / "docker" / "initdb"
INIT_SQL = INITDB / "10-shop.sql"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def services(compose) -> dict:
    return compose["services"]


def env(svc: dict) -> dict:
    e = svc.get("environment") or {}
    if isinstance(e, list):
        e = dict(x.split("=", 1) for x in e)
    return {k: str(v) for k, v in e.items()}


def cfg_string(name: str, text: str | None = None) -> str:
    """The value of `name = "..."` in config/docker/wal2kafka.cfg (each appears once)."""
    found = re.findall(rf'^\s*{re.escape(name)}\s*=\s*"([^"]*)"\s*;', text or CFG.read_text(), re.M)
    assert len(found) == 1, f"{CFG}: {name} set {len(found)} times"
    return found[0]


def conninfo(s: str) -> dict:
    return dict(kv.split("=", 1) for kv in s.split())


def published(svc: dict) -> dict[int, str]:
    """container port -> host binding ("127.0.0.1:5432") of a service's ports."""
    out = {}
    for p in svc.get("ports", []):
        host_ip, host_port, target = str(p).rsplit(":", 2) if str(p).count(":") == 2 else \
            (None, *str(p).split(":"))
        out[int(target)] = f"{host_ip}:{host_port}"
    return out


def init_role() -> tuple[str, str]:
    m = re.search(r"CREATE ROLE (\w+) LOGIN REPLICATION PASSWORD '([^']*)'", INIT_SQL.read_text())
    assert m, f"{INIT_SQL}: no CREATE ROLE ... LOGIN REPLICATION PASSWORD"
    return m.group(1), m.group(2)


def pom_version(pom: Path, prop: str) -> str:
    return re.search(rf"<{prop}>([^<]+)</{prop}>", pom.read_text()).group(1)


# ------------------------------------------------------------------------- static


def test_compose_services_images_builds_and_health_checks(compose):
    svcs = services(compose)
    assert set(svcs) == {"postgres", "kafka", "registry", "wal2kafka"}
    for name, svc in svcs.items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            b = svc["build"]
            ctx = REPO / (b if isinstance(b, str) else b.get("context", "."))
            df = ctx / (b.get("dockerfile", "Dockerfile") if isinstance(b, dict) else "Dockerfile")
            assert df.is_file(), f"{name}: {df} missing"
        hc = svc.get("healthcheck")
        assert hc and hc.get("test"), f"{name} has no health check"
        for p, binding in published(svc).items():
            assert binding.startswith("127.0.0.1:"), f"{name} publishes {p} beyond loopback"
    assert svcs["postgres"]["image"] == "postgres:15"
    kafka_version = pom_version(REPO / "integration/kafka/pom.xml", "kafka.version")
    assert svcs["kafka"]["image"] == f"apache/kafka:{kafka_version}"
    assert kafka_version.startswith("4.")
    apicurio = pom_version(REPO / "integration/registry/pom.xml", "apicurio.version")
    assert svcs["registry"]["image"] == f"apicurio/apicurio-registry:{apicurio}"
    assert svcs["wal2kafka"]["depends_on"] == {
        s: {"condition": "service_healthy"} for s in ("postgres", "kafka", "registry")}
    # the health checks are what the issue asks for
    assert "pg_isready" in " ".join(svcs["postgres"]["healthcheck"]["test"])
    assert "kafka-broker-api-versions.sh" in " ".join(svcs["kafka"]["healthcheck"]["test"])
    assert "/apis/ccompat/v7/subjects" in " ".join(svcs["registry"]["healthcheck"]["test"])
    assert svcs["wal2kafka"]["healthcheck"]["test"] == [
        "CMD", "curl", "-fsS", "http://127.0.0.1:9187/health"]


def test_postgres_service_has_logical_wal_and_the_sample_schema(compose):
    pg = services(compose)["postgres"]
    cmd = " ".join(pg["command"])
    assert "wal_level=logical" in cmd
    mounts = {m.split(":")[1]: m.split(":")[0] for m in pg["volumes"]}
    src = mounts["/docker-entrypoint-initdb.d"]
    assert (REPO / src).resolve() == INITDB
    assert sorted(p.name for p in INITDB.iterdir()) == ["10-shop.sql", "20-replication-hba.sh"]
    assert (INITDB / "20-replication-hba.sh").stat().st_mode & 0o111, "init script not executable"
    role, _ = init_role()
    assert f"host replication {role} all scram-sha-256" in (INITDB / "20-replication-hba.sh").read_text()


def test_wal2kafka_config_matches_the_services(compose):
    svcs = services(compose)
    text = CFG.read_text()
    # PostgreSQL: host = service name, port = the container's port, db and role from the
    # compose file and the init SQL, the role's password in wal2kafka's PGPASSWORD
    ci = conninfo(cfg_string("conninfo", text))
    role, password = init_role()
    assert ci["host"] == "postgres" and ci["port"] == "5432"
    assert 5432 in published(svcs["postgres"])
    assert ci["dbname"] == env(svcs["postgres"])["POSTGRES_DB"] == "shop"
    assert ci["user"] == role
    assert env(svcs["wal2kafka"])["PGPASSWORD"] == password
    assert f"GRANT CONNECT ON DATABASE {ci['dbname']} TO {role}" in INIT_SQL.read_text()
    # Kafka: the bootstrap server is the listener advertised under the service's name
    k = env(svcs["kafka"])
    boot = cfg_string("bootstrap_servers", text)
    advertised = dict(reversed(a.split("://")) for a in k["KAFKA_ADVERTISED_LISTENERS"].split(","))
    assert boot in advertised, f"{boot} is not advertised: {advertised}"
    assert boot.split(":")[0] == "kafka"
    listeners = {a.split("://")[0]: a.split(":")[-1]
                 for a in k["KAFKA_LISTENERS"].split(",")}
    assert listeners[advertised[boot]] == boot.split(":")[1]
    # the registry: service name, its container port, the ccompat API
    url = cfg_string("url", text)
    assert url == "http://registry:8080/apis/ccompat/v7"
    assert 8080 in published(svcs["registry"])
    # metrics: listened on, published, and what the health check asks
    listen = cfg_string("listen", text)
    assert listen == "0.0.0.0:9187" and 9187 in published(svcs["wal2kafka"])
    # the config is mounted where the image's CMD reads it
    mounts = {m.split(":")[1]: m.split(":")[0] for m in svcs["wal2kafka"]["volumes"]}
    assert (REPO / mounts["/etc/wal2kafka/wal2kafka.cfg"]).resolve() == CFG
    assert 'CMD ["run", "--config", "/etc/wal2kafka/wal2kafka.cfg"]' in DOCKERFILE.read_text()
    # the stream's tables and publication are the ones the init SQL makes
    sql = INIT_SQL.read_text()
    tables = re.search(r"tables\s*=\s*\(([^)]*)\)", text).group(1)
    tables = re.findall(r'"([^"]+)"', tables)
    stream = re.search(r'name\s*=\s*"(\w+)"', text).group(1)
    assert re.search(rf"CREATE PUBLICATION wal2kafka_{stream} FOR TABLE {', '.join(tables)};",
                     sql)
    for t in tables:
        assert f"CREATE TABLE {t} (" in sql


def test_dockerfile_is_multi_stage_minimal_and_unprivileged(wal2kafka_bin):
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert froms == [("debian:12-slim", "build"), ("debian:12-slim", "")]
    build, runtime = text.split("\nFROM debian:12-slim\n")
    # every COPY source exists and is not excluded from the build context
    ignore = (REPO / ".dockerignore").read_text().split("\n")
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore
    for m in re.finditer(r"^COPY (?!--from)(.+) (\S+)$", text, re.M):
        for src in m.group(1).split():
            assert (REPO / src).exists(), f"COPY {src}: missing"
            assert src.rstrip("/") in allowed, f"COPY {src}: excluded by .dockerignore"
    # the build stage installs the build dependencies scripts/setup.sh installs
    setup = (REPO / "scripts" / "setup.sh").read_text()
    for dep in ("libpq-dev", "librdkafka-dev", "libavro-dev", "libconfig-dev",
                "libcurl4-openssl-dev", "libmicrohttpd-dev", "cmake", "ninja-build",
                "pkg-config"):
        assert dep in setup and re.search(rf"\b{re.escape(dep)}\b", build), dep
    # the runtime stage: exactly the packages of the libraries wal2kafka links, no -dev
    apt = re.search(r"apt-get install -y --no-install-recommends \\\n(.*?)\n &&", runtime,
                    re.S).group(1)
    pkgs = set(apt.replace("\\", " ").split())
    needed = set()
    readelf = subprocess.run(["readelf", "-d", str(wal2kafka_bin)], capture_output=True,
                             text=True, check=True).stdout
    for lib in re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", readelf):
        if lib.startswith(("libc.so", "libm.so", "ld-linux")):
            continue
        owner = subprocess.run(["dpkg", "-S", f"/usr/lib/x86_64-linux-gnu/{lib}"],
                               capture_output=True, text=True).stdout.split(":")[0]
        assert owner, f"no Debian package holds {lib}"
        needed.add(owner)
    assert needed == {"libpq5", "librdkafka1", "libavro23", "libconfig9", "libcurl4",
                      "libmicrohttpd12", "libssl3"}
    assert pkgs == needed | {"ca-certificates", "curl"}
    assert not any(p.endswith("-dev") for p in pkgs)
    user = re.findall(r"^USER (\S+)", runtime, re.M)
    assert user == ["wal2kafka"] and "useradd --system" in runtime
    assert "HEALTHCHECK" in runtime and "/health" in runtime


def test_check_reads_the_compose_config(wal2kafka_bin):
    out = run_cli(wal2kafka_bin, "check", "--config", CFG, timeout=120)
    text = out.stdout + out.stderr
    assert out.returncode not in (2, 3), text  # not a command-line or configuration error
    assert f"ok      configuration {CFG}: 1 stream(s)" in text, text
    # it gets as far as connecting: the service names do not resolve outside compose
    assert re.search(r"cannot connect to PostgreSQL at postgres:5432", text), text
    assert re.search(r"cannot reach Kafka at kafka:9092", text), text


# --------------------------------------------------------------------------- live


def compose_healthy(svc: dict, argv: list[str]) -> None:
    """Run a service's health check the way compose does: every `interval` until it
    passes, at most `retries` times (each attempt limited to `timeout`); fail with the
    last attempt's output when none passed."""
    hc = svc["healthcheck"]
    secs = {"s": 1, "m": 60}
    interval, timeout = (float(hc[k][:-1]) * secs[hc[k][-1]] for k in ("interval", "timeout"))
    last = None
    for _ in range(int(hc["retries"])):
        try:
            last = subprocess.run(argv, timeout=max(timeout, 30), capture_output=True,
                                  text=True)
            if last.returncode == 0:
                return
        except subprocess.TimeoutExpired as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"health check {argv} never passed in {hc['retries']} tries: {last}")


def test_compose_topology_streams_end_to_end(pg, db, kafka, registry, wal2kafka_bin,
                                             tmp_path):
    """config/docker/ against the test servers: names made unique, hosts replaced."""
    suffix = uuid.uuid4().hex[:6]
    role, password = init_role()
    new_role, stream, prefix = f"wal2kafka_{suffix}", f"shop_{suffix}", f"shop_{suffix}"
    sql = INIT_SQL.read_text()
    sql = re.sub(r"\bDATABASE shop\b", f'DATABASE "{db.name}"', sql)
    sql = re.sub(rf"\b(ROLE|TO) {role}\b", rf"\1 {new_role}", sql)
    sql = sql.replace("wal2kafka_shop", f"wal2kafka_{stream}")
    try:
        db.psql(sql)
        cfg = CFG.read_text()
        cfg = cfg.replace("host=postgres port=5432 dbname=shop user=wal2kafka",
                          f"host=127.0.0.1 port={pg.port} dbname={db.name} user={new_role}")
        cfg = cfg.replace('"kafka:9092"', f'"{kafka.bootstrap}"')
        cfg = cfg.replace('"http://registry:8080/apis/ccompat/v7"', f'"{registry.url}"')
        cfg = cfg.replace('"0.0.0.0:9187"', '"127.0.0.1:0"')
        cfg = cfg.replace('name = "shop"', f'name = "{stream}"')
        cfg = cfg.replace('topic_prefix = "shop"', f'topic_prefix = "{prefix}"')
        assert not re.search(r"postgres|kafka:|registry:|shop\b", cfg.split("streams =")[0]
                             .split("\npostgresql")[1]), cfg
        conn = Connector(wal2kafka_bin, db, kafka, [], prefix, workdir=tmp_path,
                         stream=stream, env={"PGPASSWORD": password})
        conn.write_config(cfg)
        with conn:
            conn.start().wait_streaming()
            port = metrics_port(conn)
            run_txn(db, "INSERT INTO orders (id, customer_id, amount) VALUES (3, 2, 7.50)")
            dec = RegistryDecoder(registry.url)
            topic = f"{prefix}.public.orders"
            with TopicReader(kafka, None, topic, decode=False) as r:
                recs = r.read(3, 60)
            got = [(dec.key(topic, m.raw_key), dec.value(topic, m.raw_value)) for m in recs]
            assert [(k["id"], v["op"], str(v["after"]["amount"])) for k, v in got] == [
                (1, "r", "19.99"), (2, "r", "5.00"), (3, "c", "7.50")]
            topic = f"{prefix}.public.customers"
            with TopicReader(kafka, None, topic, decode=False) as r:
                recs = r.read(2, 60)
            assert [dec.value(topic, m.raw_value)["after"] for m in recs] == [
                {"id": 1, "name": "alice", "country": "NL"},
                {"id": 2, "name": "bob", "country": "DE"}]

            # the compose health checks, pointed at these servers, pass as compose runs
            # them: a service is healthy when its check passes within its retries
            svcs = yaml.safe_load(COMPOSE.read_text())["services"]
            checks = {s: v["healthcheck"]["test"] for s, v in svcs.items()}
            pg_check = checks["postgres"][1].replace("-p 5432", f"-p {pg.port}")
            compose_healthy(svcs["postgres"], ["bash", "-c", pg_check.replace(
                "pg_isready", "/usr/lib/postgresql/15/bin/pg_isready")])
            reg = checks["registry"][3].replace("/8080", f"/{registry.port}")
            compose_healthy(svcs["registry"], ["bash", "-c", reg])
            w = [a.replace(":9187", f":{port}") for a in checks["wal2kafka"][1:]]
            compose_healthy(svcs["wal2kafka"], w)
            conn.wait_caught_up()
            assert conn.stop() == 0
    finally:
        if pg.scalar("SELECT 1 FROM pg_roles WHERE rolname = %s", (new_role,)):
            db.execute(f"DROP OWNED BY {new_role}")
            pg.execute(f"DROP ROLE {new_role}")
