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

Values are made JSON: DECIMAL as its text, BYTES as hex, ROW and ARRAY as lists,
other Java objects (LocalDate, ...) as their toString(); query temporal values with
CAST(... AS STRING) to get Flink's own text. A failure answers
{"error": "<the exception's first lines and its causes>"}.

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


def java_value(v):
    """A value of a Java Row (through Py4J) as JSON: ROW and arrays as lists, other
    Java objects as their toString()."""
    from py4j.java_collections import JavaArray
    from py4j.java_gateway import JavaObject

    if isinstance(v, JavaArray):
        return [java_value(x) for x in v]
    if isinstance(v, JavaObject):
        if v.getClass().getName() == "org.apache.flink.types.Row":
            return [java_value(v.getField(i)) for i in range(v.getArity())]
        return v.toString()
    return jsonable(v)


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
                # Java's rows, converted here: PyFlink's own conversion drops digits
                # of TIME and TIMESTAMP and fails on some nested types.
                rows = []
                it = env.execute_sql(req["query"])._j_table_result.collect()
                try:
                    while it.hasNext():
                        r = it.next()
                        rows.append([r.getKind().shortString(), java_value(r)])
                finally:
                    it.close()
                reply({"rows": rows, "secs": round(time.monotonic() - t, 2)})
            elif "insert" in req:
                env.execute_sql(req["insert"]).wait()
                reply({"ok": True, "secs": round(time.monotonic() - t, 2)})
            else:
                reply({"error": f"unknown request {sorted(req)}"})
        except Exception as e:  # the Java exception's text is the answer
            text = str(e) or traceback.format_exc()
            lines = text.splitlines()
            causes = [ln for ln in lines if ln.startswith("Caused by:")]
            reply({"error": "\n".join(lines[:3] + causes)[-4000:]})


if __name__ == "__main__":
    main()
