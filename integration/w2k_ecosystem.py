"""Helpers for the ecosystem tests (integration/test_eco_*.py): the schema registry, the
metrics endpoint, log lines, certificates, a Kafka broker with SSL and SASL/SCRAM
listeners and a PostgreSQL with ssl = on. Builds on w2k.py (Connector, TopicReader, ...)
without changing it.

    from w2k_ecosystem import registry, secure_kafka, tls_pg, pki    # fixtures
    from w2k_ecosystem import scrape, metrics_port, parse_logfmt, RegistryDecoder

Shared servers: the registry, the SSL/SASL broker and the TLS PostgreSQL each take 10-25 s
to start, so one of each serves every test module of the pytest process that asks for it
(started on first use, in its own /tmp/w2k-* dir on free ports). They are registered with
servers.py, so conftest's session end (servers.cleanup_all) stops and removes them, and a
SIGKILLed run's dirs are reaped by the next session like the others.

Environment: W2K_REGISTRY_URL reuses a running registry (its ccompat API base URL).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

import servers
from servers import HOST, Kafka, Postgres, Registry, ServerError
from w2k import parse_logfmt  # noqa: F401 (tests import it from here too)

_lock = threading.RLock()
_shared: dict[str, object] = {}


def _shared_server(name: str, make):
    """The one server called name of this process: made by make() on first use."""
    with _lock:
        if name not in _shared:
            _shared[name] = make()
        return _shared[name]


# ------------------------------------------------------------------ schema registry


def shared_registry() -> Registry:
    url = os.environ.get("W2K_REGISTRY_URL")
    if url:
        return _shared_server("registry", lambda: Registry(url=url, managed=False))

    def make():
        reg = Registry()
        try:
            reg.start()
        except Exception:
            reg.destroy()
            raise
        return reg
    return _shared_server("registry", make)


@pytest.fixture
def registry() -> Registry:
    """An Apicurio Registry (ccompat API at .url), shared by the whole pytest process."""
    return shared_registry()


class RegistryDecoder:
    """Decodes Confluent-framed messages with confluent-kafka's own AvroDeserializer and
    SchemaRegistryClient: nothing of wal2kafka's code is involved."""

    def __init__(self, registry_url: str):
        self.client = servers.registry_client(registry_url)
        self._deser = servers.avro_deserializer(self.client)

    def key(self, topic: str, data: bytes | None):
        from confluent_kafka.serialization import MessageField, SerializationContext
        return None if data is None else self._deser(data, SerializationContext(topic, MessageField.KEY))

    def value(self, topic: str, data: bytes | None):
        from confluent_kafka.serialization import MessageField, SerializationContext
        return None if data is None else self._deser(data, SerializationContext(topic, MessageField.VALUE))

    @staticmethod
    def schema_id(data: bytes) -> int:
        """The schema id of the Confluent wire header (magic byte 0, 4-byte big-endian id)."""
        assert data[:1] == b"\x00", f"not Confluent framing: starts with {data[:5].hex()}"
        return int.from_bytes(data[1:5], "big")


# -------------------------------------------------------------------------- HTTP


def http_get(url: str, timeout: float = 5.0, method: str = "GET") -> tuple[int, str, dict]:
    """(status, body, headers) of one request; HTTP errors are answers, not exceptions."""
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(errors="replace"), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)


# ----------------------------------------------------------------------- metrics

METRICS_LINE = r"metrics endpoint listening on \S+ \(port (\d+)\)"


def metrics_port(conn, timeout: float = 30.0) -> int:
    """The port of the connector's metrics endpoint (metrics.listen = "127.0.0.1:0"), from
    the log line that announces it."""
    return int(conn.wait_log(METRICS_LINE, timeout).group(1))


@dataclass
class Sample:
    name: str
    labels: dict
    value: float


class Scrape:
    """One /metrics answer parsed by prometheus_client's text parser."""

    def __init__(self, text: str):
        from prometheus_client.parser import text_string_to_metric_families
        self.text = text
        self.families = {}
        self.samples: list[Sample] = []
        for fam in text_string_to_metric_families(text):
            self.families[fam.name] = fam
            for s in fam.samples:
                self.samples.append(Sample(s.name, dict(s.labels), s.value))

    def get(self, name: str, **labels) -> float:
        """The value of the one series of name whose labels include labels."""
        found = [s for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        if len(found) != 1:
            raise KeyError(f"{len(found)} series {name}{labels} in the scrape:\n"
                           + "\n".join(f"  {s.name}{s.labels} {s.value}" for s in self.samples
                                       if s.name == name))
        return found[0].value

    def series(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.name == name]


def scrape(port: int, timeout: float = 5.0) -> Scrape:
    status, body, headers = http_get(f"http://{HOST}:{port}/metrics", timeout)
    assert status == 200, f"/metrics answered {status}: {body}"
    return Scrape(body)


def wait_metric(port: int, pred, what: str, timeout: float = 30.0, conn=None) -> Scrape:
    """Scrape until pred(scrape) is true; returns that scrape. TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if conn is not None:
            conn.check_alive()
        try:
            last = scrape(port)
            if pred(last):
                return last
        except (KeyError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"metrics: {what} not reached within {timeout}s; last scrape:\n"
                               f"{last.text if last else '(none)'}"
                               + (f"\n--- connector log ---\n{conn.log_tail()}" if conn else ""))
        time.sleep(0.1)


def wait_health(port: int, status: int, timeout: float = 60.0, conn=None) -> str:
    """Poll /health until it answers status; returns the body."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if conn is not None:
            conn.check_alive()
        try:
            last = http_get(f"http://{HOST}:{port}/health")
            if last[0] == status:
                return last[1]
        except OSError as e:
            last = (None, str(e), {})
        if time.monotonic() > deadline:
            raise TimeoutError(f"/health did not answer {status} within {timeout}s; last: {last[:2]}"
                               + (f"\n--- connector log ---\n{conn.log_tail()}" if conn else ""))
        time.sleep(0.1)


# ------------------------------------------------------------------- certificates


@dataclass
class Pki:
    """Test certificates made with openssl: a CA, a server certificate for localhost and
    127.0.0.1 (subjectAltName DNS:localhost, IP:127.0.0.1) signed by it, and a second,
    unrelated CA (the wrong one). PEM files, plus a PKCS#12 keystore for Java servers."""
    dir: Path
    ca: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    server_p12: Path
    p12_password: str
    wrong_ca: Path


def _openssl(*args, cwd: Path) -> None:
    p = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise ServerError(f"openssl {' '.join(map(str, args))} failed: {p.stderr}{p.stdout}")


def make_pki(d: Path, p12_password: str = "w2k-keystore-pw") -> Pki:
    if shutil.which("openssl") is None:
        raise ServerError("openssl not found (scripts/setup.sh installs it)")
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name, cn in (("ca", "wal2kafka test CA"), ("wrong-ca", "some other CA")):
        _openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                 "-days", "3", "-subj", f"/CN={cn}",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost",
             cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "3", "-extfile", "server.ext",
             cwd=d)
    _openssl("pkcs12", "-export", "-in", "server.crt", "-inkey", "server.key",
             "-certfile", "ca.crt", "-name", "server", "-out", "server.p12",
             "-passout", f"pass:{p12_password}", cwd=d)
    for f in d.iterdir():
        f.chmod(0o644)
    return Pki(d, d / "ca.crt", d / "ca.key", d / "server.crt", d / "server.key",
               d / "server.p12", p12_password, d / "wrong-ca.crt")


def shared_pki() -> Pki:
    def make():
        d = servers.make_server_dir("pki")  # not a server: nothing to stop, removed at exit
        pki = make_pki(d / "certs")
        import atexit
        atexit.register(shutil.rmtree, d, True)
        return pki
    return _shared_server("pki", make)


@pytest.fixture
def pki() -> Pki:
    return shared_pki()


# ------------------------------------------------- Kafka with SSL and SASL listeners

SASL_USER = "w2k-sasl"


class SecureKafka(Kafka):
    """A single-node broker (integration/servers/kafka.sh with W2K_KAFKA_EXTRA_CONFIG and
    W2K_KAFKA_ADD_SCRAM) with four client listeners on 127.0.0.1:
      PLAINTEXT      .port            (what the test's own clients and kafka.sh's probe use)
      SSL            .ssl_port        server certificate of pki (DNS:localhost, IP:127.0.0.1)
      SASL_PLAINTEXT .sasl_port       SCRAM-SHA-512 or PLAIN
      SASL_SSL       .sasl_ssl_port   SCRAM-SHA-512 or PLAIN, over TLS
    One user, SASL_USER with .sasl_password: a SCRAM-SHA-512 credential created at format
    time, and the same name and password for PLAIN (in the broker's JAAS config)."""

    def __init__(self, pki: Pki, scram_password: str):
        p, c, s, sp, ss = servers.free_ports(5)
        super().__init__(port=p, controller_port=c)
        self.ssl_port, self.sasl_port, self.sasl_ssl_port = s, sp, ss
        self.pki = pki
        self.sasl_user = SASL_USER
        self.sasl_password = scram_password

    def _extra_properties(self) -> str:
        h = HOST
        jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        plain = ("org.apache.kafka.common.security.plain.PlainLoginModule required "
                 f'user_{self.sasl_user}="{self.sasl_password}";')
        return "\n".join([
            f"listeners=PLAINTEXT://{h}:{self.port},CONTROLLER://{h}:{self.controller_port},"
            f"SSL://{h}:{self.ssl_port},SASL_PLAINTEXT://{h}:{self.sasl_port},"
            f"SASL_SSL://{h}:{self.sasl_ssl_port}",
            f"advertised.listeners=PLAINTEXT://{h}:{self.port},SSL://{h}:{self.ssl_port},"
            f"SASL_PLAINTEXT://{h}:{self.sasl_port},SASL_SSL://{h}:{self.sasl_ssl_port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={self.pki.server_p12}",
            f"ssl.keystore.password={self.pki.p12_password}",
            f"ssl.key.password={self.pki.p12_password}",
            "ssl.client.auth=none",
            "sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN",
            f"listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config={jaas}",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
            f"listener.name.sasl_plaintext.plain.sasl.jaas.config={plain}",
            f"listener.name.sasl_ssl.plain.sasl.jaas.config={plain}",
            ""])

    def _script(self, *args, timeout: float = 240) -> str:
        if self.dir is None:
            raise ServerError(f"{self!r}: no broker dir")
        env = {}
        if args and args[0] == "start":
            extra = self.dir / "extra.properties.in"
            extra.write_text(self._extra_properties())
            env = {"W2K_KAFKA_EXTRA_CONFIG": str(extra),
                   "W2K_KAFKA_ADD_SCRAM":
                       f"SCRAM-SHA-512=[name={self.sasl_user},password={self.sasl_password}]"}
        return servers._run("kafka.sh", *args, timeout=timeout, env=env)

    def ssl_properties(self, ca: Path | None = None) -> list[str]:
        return ["security.protocol=SSL", f"ssl.ca.location={ca or self.pki.ca}"]

    def sasl_properties(self, password: str | None = None, tls: bool = False,
                        ca: Path | None = None, mechanism: str = "SCRAM-SHA-512") -> list[str]:
        return [f"security.protocol={'SASL_SSL' if tls else 'SASL_PLAINTEXT'}",
                f"sasl.mechanisms={mechanism}", f"sasl.username={self.sasl_user}",
                f"sasl.password={self.sasl_password if password is None else password}",
                *([f"ssl.ca.location={ca or self.pki.ca}"] if tls else [])]

    def bootstrap_for(self, protocol: str) -> str:
        return f"{HOST}:" + str({"PLAINTEXT": self.port, "SSL": self.ssl_port,
                                 "SASL_PLAINTEXT": self.sasl_port,
                                 "SASL_SSL": self.sasl_ssl_port}[protocol])


def shared_secure_kafka() -> SecureKafka:
    def make():
        k = SecureKafka(shared_pki(), "w2k-sasl-" + os.urandom(8).hex())
        try:
            k.start()
        except Exception:
            k.destroy()
            raise
        return k
    return _shared_server("secure_kafka", make)


@pytest.fixture
def secure_kafka() -> SecureKafka:
    return shared_secure_kafka()


# ---------------------------------------------------------- PostgreSQL with TLS


def enable_ssl(pg: Postgres, pki: Pki) -> None:
    """Turn ssl on in a running server of ours, with pki's server certificate."""
    cert, key = pg.dir / "server.crt", pg.dir / "server.key"
    shutil.copyfile(pki.server_cert, cert)
    shutil.copyfile(pki.server_key, key)
    key.chmod(0o600)
    if os.geteuid() == 0:
        shutil.chown(cert, "postgres", "postgres")
        shutil.chown(key, "postgres", "postgres")
    for stmt in (f"ALTER SYSTEM SET ssl_cert_file = '{cert}'",
                 f"ALTER SYSTEM SET ssl_key_file = '{key}'", "ALTER SYSTEM SET ssl = on",
                 "SELECT pg_reload_conf()"):
        pg.execute(stmt)
    deadline = time.monotonic() + 30
    while pg.scalar("SHOW ssl") != "on":
        if time.monotonic() > deadline:
            raise ServerError(f"ssl did not turn on after a reload:\n{pg.log_tail()}")
        time.sleep(0.1)


def shared_tls_pg() -> Postgres:
    def make():
        pg = Postgres()
        try:
            pg.start()
            enable_ssl(pg, shared_pki())
        except Exception:
            pg.destroy()
            raise
        return pg
    return _shared_server("tls_pg", make)


@pytest.fixture
def tls_pg() -> Postgres:
    """A PostgreSQL 15 of its own with ssl = on (pki's server certificate), shared by the
    pytest process; the session `pg` is left as it is."""
    return shared_tls_pg()


# ------------------------------------------------------------------ librdkafka

# SCRAM against Kafka 4.x needs librdkafka >= 2.6.1 (confluentinc/librdkafka#4895: older
# versions put the client nonce into the client-final-message twice; Kafka brokers since
# 3.8.1/3.9/4.0 check it strictly, CVE-2024-56128, and answer "invalid credentials").
# Debian 12 ships librdkafka 2.0.2. confluent-kafka's wheel bundles a current librdkafka
# with the same ABI (soname librdkafka.so.1), which wal2kafka can load instead.
SCRAM_MIN_LIBRDKAFKA = (2, 6, 1)


def system_librdkafka_version() -> tuple[int, ...]:
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "librdkafka1"],
                         capture_output=True, text=True).stdout
    m = re.match(r"(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


def wheel_librdkafka_dir() -> Path:
    """A directory holding librdkafka.so.1 -> the librdkafka that confluent-kafka's wheel
    bundles (LD_LIBRARY_PATH=<it> makes wal2kafka use it)."""
    import confluent_kafka
    libs = Path(confluent_kafka.__file__).resolve().parent.parent / "confluent_kafka.libs"
    found = sorted(libs.glob("librdkafka*.so*"))
    if not found:
        raise ServerError(f"no bundled librdkafka in {libs}")

    def make():
        d = Path(__import__("tempfile").mkdtemp(prefix="w2k-rdkafka-"))
        (d / "librdkafka.so.1").symlink_to(found[0])
        import atexit
        atexit.register(shutil.rmtree, d, True)
        return d
    return _shared_server("wheel_librdkafka", make)


# ---------------------------------------------------------------- misc helpers


def wait_exit(conn, timeout: float = 60.0) -> int:
    """Wait for the connector to exit on its own; returns its exit code."""
    return conn.wait_exit(timeout)


def output_bytes(conn) -> bytes:
    """Everything the connector wrote (stdout and stderr of every run), as bytes."""
    return conn.log_path.read_bytes() if conn.log_path.exists() else b""


def log_lines(conn, current: bool = True) -> list[str]:
    """The connector's output lines, without w2k.py's '=== start ...' markers."""
    return [ln for ln in conn.log(current).splitlines()
            if ln and not ln.startswith("=== start ")]
