"""The C schema registry client (connector/encode/registry.c) against a real Apicurio Registry 3.x.

A tiny C driver, compiled here against build/libw2kcore.a, calls w2k_registry_register /
w2k_registry_schema_by_id / w2k_registry_header and prints the outcome as JSON; the
independent side is confluent-kafka's own SchemaRegistryClient and AvroDeserializer.
Proves: the id our client gets is the id the Confluent client sees for that subject;
the cache asks the registry once per schema version; an incompatible version is refused
with an error naming subject and rule, not retryable; a registry that is down gives a
retryable error and the client recovers when it is back; the wire header we write is
what AvroDeserializer reads.

The registry is started by integration/servers/registry.sh (servers.Registry
wraps it like servers.Postgres / servers.Kafka wrap theirs); W2K_REGISTRY_URL reuses a
running one instead.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest

import servers
from servers import Registry, ServerError  # noqa: F401 (ServerError: kept for callers)
from w2k import module_registry  # noqa: F401 (fixture: registry)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BUILD = Path(os.environ.get("W2K_BUILD_DIR", REPO / "build"))
W2K_EXIT_RUNTIME = 1
W2K_EXIT_KAFKA = 5
API = "/apis/ccompat/v7"


# ------------------------------------------------------------------------ the C driver

DRIVER = r"""
/* w2k_registry_probe — drives connector/encode/registry.c for integration/test_registry_client.py.
 *   probe URL register SUBJECT SCHEMA_FILE [TIMES]   register TIMES times (default 1)
 *   probe URL by-id ID
 *   probe URL header ID                              the wire header, as hex
 * Prints one JSON object: {"rc":0,...} or {"rc":-1,"code":..,"retryable":..,"msg":..,"hint":..}. */
#include "avrofp.h"
#include "buf.h"
#include "log.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    w2k_buf_t b = W2K_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        w2k_buf_append(&b, chunk, n);
    fclose(f);
    return b.data;
}

static void print_err(const w2k_err_t *err)
{
    w2k_buf_t o = W2K_BUF_INIT;
    w2k_buf_printf(&o, "{\"rc\":-1,\"code\":%d,\"retryable\":%s,\"msg\":", err->code,
                   err->retryable ? "true" : "false");
    w2k_buf_put_json_string(&o, err->msg, strlen(err->msg));
    w2k_buf_puts(&o, ",\"hint\":");
    w2k_buf_put_json_string(&o, err->hint, strlen(err->hint));
    w2k_buf_puts(&o, "}\n");
    fputs(o.data, stdout);
    w2k_buf_free(&o);
}

int main(int argc, char **argv)
{
    w2k_log_setup(W2K_LOG_WARN, 0);
    if (argc < 4)
        return 2;
    w2k_err_t err;
    w2k_err_clear(&err);
    if (strcmp(argv[2], "header") == 0) {
        uint8_t h[W2K_REGISTRY_HEADER_LEN];
        w2k_registry_header((int32_t)atol(argv[3]), h);
        printf("{\"rc\":0,\"hex\":\"%02x%02x%02x%02x%02x\"}\n", h[0], h[1], h[2], h[3], h[4]);
        return 0;
    }
    w2k_registry_t *r = w2k_registry_new(argv[1], getenv("W2K_REG_USER"),
                                         getenv("W2K_REG_PASSWORD"), NULL, &err);
    if (!r) {
        print_err(&err);
        return 1;
    }
    w2k_registry_set_timeouts(r, 2000, 10000);
    int rc = 0;
    if (strcmp(argv[2], "register") == 0 && argc >= 5) {
        char *text = slurp(argv[4]);
        if (!text)
            return 2;
        w2k_schema_t schema = {text, w2k_avro_fingerprint(text, strlen(text))};
        int times = argc >= 6 ? atoi(argv[5]) : 1;
        int32_t id = -1;
        for (int i = 0; i < times && rc == 0; i++)
            rc = w2k_registry_register(r, argv[3], &schema, &id, &err);
        if (rc == 0)
            printf("{\"rc\":0,\"id\":%d,\"requests\":%llu}\n", (int)id,
                   (unsigned long long)w2k_registry_requests(r));
        else
            print_err(&err);
        free(text);
    } else if (strcmp(argv[2], "by-id") == 0) {
        char *text = w2k_registry_schema_by_id(r, (int32_t)atol(argv[3]), &err);
        if (text) {
            w2k_buf_t o = W2K_BUF_INIT;
            w2k_buf_puts(&o, "{\"rc\":0,\"schema\":");
            w2k_buf_put_json_string(&o, text, strlen(text));
            w2k_buf_puts(&o, "}\n");
            fputs(o.data, stdout);
            w2k_buf_free(&o);
            free(text);
        } else {
            print_err(&err);
            rc = -1;
        }
    } else {
        rc = -2;
    }
    w2k_registry_destroy(r);
    return rc == 0 ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    lib = BUILD / "libw2kcore.a"
    if not lib.is_file():
        pytest.fail(f"{lib} is missing: build first (cmake --build build) or set W2K_BUILD_DIR",
                    pytrace=False)
    d = tmp_path_factory.mktemp("probe")
    src = d / "w2k_registry_probe.c"
    src.write_text(DRIVER)
    exe = d / "w2k_registry_probe"
    pkgs = ["libpq", "rdkafka", "avro-c", "libconfig", "libcurl", "libmicrohttpd"]
    libs = subprocess.run(["pkg-config", "--libs", *pkgs], capture_output=True, text=True,
                          check=True).stdout.split()
    includes = [f"-I{d}" for d in sorted((REPO / "connector").iterdir()) if d.is_dir()]
    cmd = ["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Werror", "-g",
           *includes, f"-I{BUILD / 'generated'}", str(src), str(lib),
           *libs, "-lpthread", "-lm", "-o", str(exe)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"compiling the probe failed: {shlex.join(cmd)}\n{p.stderr}"
    return exe


def run_probe(probe: Path, url: str, *args, env: dict | None = None) -> dict:
    p = subprocess.run([str(probe), url, *map(str, args)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **(env or {})})
    assert p.stdout.strip(), f"probe printed nothing (exit {p.returncode}): {p.stderr}"
    out = json.loads(p.stdout)
    assert (p.returncode == 0) == (out["rc"] == 0), p.stdout
    return out


def register(probe, url, subject, schema: dict | str, tmp_path, times=1) -> dict:
    text = schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))
    f = tmp_path / f"schema-{uuid.uuid4().hex[:8]}.avsc"
    f.write_text(text)
    return run_probe(probe, url, "register", subject, f, times)


def subject_name(stem: str) -> str:
    return f"w2k_{stem}_{uuid.uuid4().hex[:8]}-value"


# A schema in the shape wal2kafka writes: logical types, a union, a nested record, docs
# with characters that need escaping on the way into the registry's JSON.
ORDERS_V1 = {
    "type": "record", "name": "Envelope", "namespace": "w2k.public.orders",
    "doc": "orders \"quoted\" \\ backslash, caf\u00e9",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal",
                                    "precision": 12, "scale": 2}},
        {"name": "placed_at", "type": ["null", {"type": "long",
                                                "logicalType": "timestamp-micros"}],
         "default": None},
        {"name": "source", "type": {"type": "record", "name": "Source", "fields": [
            {"name": "lsn", "type": "long"}, {"name": "table", "type": "string"}]}},
    ],
}


def with_field(schema: dict, field: dict) -> dict:
    s = json.loads(json.dumps(schema))
    s["fields"].append(field)
    return s


# ------------------------------------------------------------------------------- tests


def test_register_gives_the_id_the_confluent_client_sees(registry, probe, tmp_path):
    client = registry.client()
    subject = subject_name("orders")

    out = register(probe, registry.url, subject, ORDERS_V1, tmp_path, times=5)
    assert out["rc"] == 0, out
    our_id = out["id"]
    assert out["requests"] == 1, "the client must ask the registry once per schema version"

    latest = client.get_latest_version(subject)
    assert latest.schema_id == our_id
    assert latest.version == 1
    assert json.loads(latest.schema.schema_str) == ORDERS_V1  # stored as we sent it
    assert json.loads(client.get_schema(our_id).schema_str) == ORDERS_V1

    # The Confluent client registering the same schema text gets the same id, and so does
    # ours in a new process (the registry deduplicates). Same text: Apicurio 2.x makes a
    # new version of a text that differs only in whitespace, 3.x does not.
    from confluent_kafka.schema_registry import Schema
    text = json.dumps(ORDERS_V1, separators=(",", ":"))
    assert client.register_schema(subject, Schema(text, "AVRO")) == our_id
    assert register(probe, registry.url, subject, ORDERS_V1, tmp_path)["id"] == our_id
    assert client.get_latest_version(subject).version == 1

    # by id: the text comes back, unescaped, equal to what was registered
    got = run_probe(probe, registry.url, "by-id", our_id)
    assert got["rc"] == 0, got
    assert json.loads(got["schema"]) == ORDERS_V1
    missing = run_probe(probe, registry.url, "by-id", 987654)
    assert missing["rc"] == -1 and missing["code"] == W2K_EXIT_KAFKA
    assert not missing["retryable"]
    assert "987654" in missing["msg"]

    # a second subject (the key subject) with its own schema
    key_subject = subject.replace("-value", "-key")
    key = {"type": "record", "name": "Key", "namespace": "w2k.public.orders",
           "fields": [{"name": "id", "type": "long"}]}
    kout = register(probe, registry.url, key_subject, key, tmp_path)
    assert kout["rc"] == 0, kout
    assert client.get_latest_version(key_subject).schema_id == kout["id"]
    assert kout["id"] != our_id


def test_wire_header_is_what_avro_deserializer_reads(registry, probe, tmp_path):
    """Our 5-byte header + Avro binary decodes with confluent-kafka's AvroDeserializer."""
    import fastavro
    from confluent_kafka.serialization import MessageField, SerializationContext

    subject = subject_name("framing")
    schema = {"type": "record", "name": "Row", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": "string"}]}
    out = register(probe, registry.url, subject, schema, tmp_path)
    assert out["rc"] == 0, out
    header = bytes.fromhex(run_probe(probe, registry.url, "header", out["id"])["hex"])
    assert header == b"\x00" + out["id"].to_bytes(4, "big")

    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(schema), {"id": 7, "name": "caf\u00e9"})
    deser = registry.deserializer()
    topic = subject[: -len("-value")]
    row = deser(header + body.getvalue(), SerializationContext(topic, MessageField.VALUE))
    assert row == {"id": 7, "name": "caf\u00e9"}


def test_incompatible_version_is_refused_with_subject_and_rule(registry, probe, tmp_path):
    client = registry.client()
    subject = subject_name("compat")
    v1 = register(probe, registry.url, subject, ORDERS_V1, tmp_path)
    assert v1["rc"] == 0, v1
    client.set_compatibility(subject_name=subject, level="BACKWARD")

    # a new column with a default: compatible, a new id and version 2
    v2_schema = with_field(ORDERS_V1, {"name": "note", "type": ["null", "string"],
                                       "default": None})
    v2 = register(probe, registry.url, subject, v2_schema, tmp_path)
    assert v2["rc"] == 0, v2
    assert v2["id"] != v1["id"]
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, v2["id"])

    # a required column without a default: new readers cannot read old data under BACKWARD
    bad_schema = with_field(v2_schema, {"name": "customer", "type": "string"})
    bad = register(probe, registry.url, subject, bad_schema, tmp_path)
    assert bad["rc"] == -1, bad
    assert bad["code"] == W2K_EXIT_KAFKA
    assert bad["retryable"] is False
    assert f'subject "{subject}"' in bad["msg"]
    assert "compatibility rule BACKWARD" in bad["msg"]
    assert "ncompatible" in bad["msg"]
    assert "make the change compatible" in bad["hint"]
    assert f"{registry.url}/config/{subject}" in bad["hint"]
    print(f"\nerror: {bad['msg']}\nhint: {bad['hint']}")
    # nothing was registered
    assert client.get_latest_version(subject).version == 2


def test_incompatible_under_the_global_rule(registry, probe, tmp_path):
    """A subject without a rule of its own: the error names the global rule."""
    client = registry.client()
    subject = subject_name("global")
    before = client.get_compatibility()
    client.set_compatibility(level="FORWARD")
    try:
        v1 = register(probe, registry.url, subject, ORDERS_V1, tmp_path)
        assert v1["rc"] == 0, v1
        # FORWARD: old readers must read new data; dropping a field without a default breaks it
        v2 = json.loads(json.dumps(ORDERS_V1))
        v2["fields"] = [f for f in v2["fields"] if f["name"] != "amount"]
        bad = register(probe, registry.url, subject, v2, tmp_path)
        assert bad["rc"] == -1, bad
        assert bad["code"] == W2K_EXIT_KAFKA and not bad["retryable"]
        assert "compatibility rule FORWARD" in bad["msg"], bad["msg"]
    finally:
        client.set_compatibility(level=before)


def test_registry_down_is_retryable_and_heals(probe, tmp_path):
    reg = Registry()
    try:
        reg.start()
        subject = subject_name("down")
        ok = register(probe, reg.url, subject, ORDERS_V1, tmp_path)
        assert ok["rc"] == 0, ok

        reg.stop()
        down = register(probe, reg.url, subject_name("down2"), ORDERS_V1, tmp_path)
        assert down["rc"] == -1, down
        assert down["retryable"] is True
        assert down["code"] == W2K_EXIT_RUNTIME
        assert reg.url in down["msg"]
        assert "running and reachable" in down["hint"]
        by_id = run_probe(probe, reg.url, "by-id", ok["id"])
        assert by_id["rc"] == -1 and by_id["retryable"] is True

        reg.restart()  # in-memory storage: a fresh, empty registry on the same port
        again = register(probe, reg.url, subject, ORDERS_V1, tmp_path)
        assert again["rc"] == 0, again
        assert reg.client().get_latest_version(subject).schema_id == again["id"]
    except Exception:
        print(reg.log_tail(60))
        raise
    finally:
        reg.destroy()


def test_basic_auth_credentials_do_not_leak(registry, probe, tmp_path):
    """Apicurio here runs without auth: the credentials are sent and ignored; whatever
    fails, no message carries the password."""
    secret = "w2k-registry-" + uuid.uuid4().hex[:8]
    env = {"W2K_REG_USER": "w2k", "W2K_REG_PASSWORD": secret}
    out = run_probe(probe, registry.url, "register", subject_name("auth"),
                    _write(tmp_path, ORDERS_V1), env=env)
    assert out["rc"] == 0, out
    port = servers.free_port()
    url = f"http://w2k:{secret}@127.0.0.1:{port}{API}"
    down = run_probe(probe, url, "register", subject_name("auth2"), _write(tmp_path, ORDERS_V1),
                     env=env)
    assert down["rc"] == -1 and down["retryable"]
    assert secret not in down["msg"] and secret not in down["hint"]
    assert f"http://127.0.0.1:{port}{API}" in down["msg"]


def _write(tmp_path, schema: dict) -> Path:
    f = tmp_path / f"schema-{uuid.uuid4().hex[:8]}.avsc"
    f.write_text(json.dumps(schema))
    return f
