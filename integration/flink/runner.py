"""A PyFlink mini-cluster driven over stdin/stdout, for integration/test_flink.py.

Runs with the Flink virtualenv's python (not the test venv): one JVM, one local
mini-cluster, for a whole test module. Requests are JSON lines on stdin; each gets
one JSON line on stdout prefixed with "@@w2k " (Flink may print other lines):

  {"conf": {"key": "value", ...}}   set table configuration options
  {"sql": ["CREATE TABLE ...", ...]} run DDL statements
  {"query": "SELECT ..."}           run a bounded query, return every changelog row:
                                    {"rows": [["+I", [v, ...]], ...]}
  {"insert": "INSERT INTO ..."}     run a bounded INSERT job to its end
  {"quit": true}

Values are made JSON: DECIMAL as its text, temporal values in ISO form, BYTES as
hex, ROW and ARRAY as lists. A failure answers {"error": "<the Java exception>"}.

Environment: W2K_FLINK_JARS = the connector jars, separated by ":".
"""

import datetime
import decimal
import json
import os
import sys
import time
import traceback


def jsonable(v):
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return repr(v) if v != v or v in (float("inf"), float("-inf")) else v
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    try:
        return [jsonable(x) for x in v]  # Row, list
    except TypeError:
        return str(v)


KINDS = {"INSERT": "+I", "UPDATE_BEFORE": "-U", "UPDATE_AFTER": "+U", "DELETE": "-D"}


def reply(obj):
    sys.stdout.write("@@w2k " + json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t0 = time.monotonic()
    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = env.get_config()
    jars = [j for j in os.environ.get("W2K_FLINK_JARS", "").split(":") if j]
    conf.set("pipeline.jars", ";".join("file://" + j for j in jars))
    conf.set("parallelism.default", "1")
    conf.set("table.exec.resource.default-parallelism", "1")
    reply({"ready": round(time.monotonic() - t0, 1)})
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        t = time.monotonic()
        try:
            if "quit" in req:
                reply({"ok": True})
                return
            if "conf" in req:
                for k, v in req["conf"].items():
                    conf.set(k, v)
                reply({"ok": True})
            elif "sql" in req:
                for stmt in req["sql"]:
                    env.execute_sql(stmt)
                reply({"ok": True})
            elif "query" in req:
                rows = []
                with env.execute_sql(req["query"]).collect() as it:
                    for r in it:
                        rows.append([KINDS[r.get_row_kind().name], jsonable(list(r))])
                reply({"rows": rows, "secs": round(time.monotonic() - t, 2)})
            elif "insert" in req:
                env.execute_sql(req["insert"]).wait()
                reply({"ok": True, "secs": round(time.monotonic() - t, 2)})
            else:
                reply({"error": f"unknown request {sorted(req)}"})
        except Exception as e:  # the Java exception's text is the answer
            text = str(e) or traceback.format_exc()
            reply({"error": text[-4000:]})


if __name__ == "__main__":
    main()
