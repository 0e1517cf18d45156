"""Every PostgreSQL type of the core pipeline, decoded by fastavro, against schemas/README.md.

Values are asserted as the exact Avro values the type table prescribes (days, micros,
unscaled decimal bytes, ...); the schemas stored in <prefix>.schemas must have the
fingerprints of their canonical forms and declare the documented field unions.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import uuid
from decimal import Decimal

import pytest

from servers import PG_VERSION
from w2k import (UNCHANGED_TOAST, Decoder, consume, connectors, schema_fingerprint)  # noqa: F401

UTC = dt.timezone.utc
EPOCH = dt.date(1970, 1, 1)


class _Nan:
    def __repr__(self):
        return "NaN"


NAN = _Nan()  # expected: a float NaN


def f32(x: float) -> float:
    """The value of x rounded to an IEEE single, as fastavro returns a float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def dec(unscaled: int) -> bytes:
    """Avro decimal bytes: two's-complement big-endian, minimal length."""
    bits = unscaled.bit_length() if unscaled >= 0 else (~unscaled).bit_length()
    return unscaled.to_bytes(bits // 8 + 1, "big", signed=True)


def vsd(scale: int, unscaled: int) -> dict:
    return {"scale": scale, "value": dec(unscaled)}


def days(y: int, m: int, d: int) -> int:
    return (dt.date(y, m, d) - EPOCH).days


def micros(y, mo, d, h=0, mi=0, s=0, us=0, offset_min=0) -> int:
    t = dt.datetime(y, mo, d, h, mi, s, us, tzinfo=UTC) - dt.timedelta(minutes=offset_min)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def ival(months: int, days_: int, us: int) -> dict:
    return {"months": months, "days": days_, "micros": us}


def same(actual, expected, path="value"):
    """Exact comparison: same Python types (bool is not int), NaN, -0.0, nested."""
    if expected is NAN:
        assert isinstance(actual, float) and math.isnan(actual), f"{path}: {actual!r} is not NaN"
        return
    if expected is None or expected is UNCHANGED_TOAST:
        assert actual is expected, f"{path}: {actual!r} != {expected!r}"
        return
    assert type(actual) is type(expected), \
        f"{path}: {actual!r} ({type(actual).__name__}) != {expected!r} ({type(expected).__name__})"
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{path}: fields {list(actual)} != {list(expected)}"
        for k in expected:
            same(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            same(a, e, f"{path}[{i}]")
    elif isinstance(expected, float):
        assert actual == expected and math.copysign(1, actual) == math.copysign(1, expected), \
            f"{path}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# Each column: name, SQL type, then per row (ordinary, high edge, low edge, NULL, tricky)
# the SQL literal (None = NULL) and the exact decoded value.
INF = float("inf")
COLUMNS = [
    ("c_int2", "smallint",
     [("1", 1), ("32767", 32767), ("-32768", -32768), (None, None), ("0", 0)]),
    ("c_int4", "integer",
     [("42", 42), ("2147483647", 2147483647), ("-2147483648", -2147483648), (None, None),
      ("0", 0)]),
    ("c_int8", "bigint",
     [("1234567890123", 1234567890123), ("9223372036854775807", 9223372036854775807),
      ("-9223372036854775808", -9223372036854775808), (None, None), ("0", 0)]),
    ("c_num", "numeric",
     [("123.456", vsd(3, 123456)), ("NaN", "NAN"), ("-Infinity", "NEGATIVE_INFINITY"), (None, None),
      ("1.000", vsd(3, 1000))]),
    ("c_num2", "numeric",
     [("-0.001", vsd(3, -1)), ("Infinity", "POSITIVE_INFINITY"),
      ("-123456789012345678901234567890.123456789", vsd(9, -123456789012345678901234567890123456789)),
      (None, None), ("0", vsd(0, 0))]),
    ("c_num10_2", "numeric(10,2)",
     [("1234.56", dec(123456)), ("99999999.99", dec(9999999999)), ("-99999999.99", dec(-9999999999)),
      (None, None), ("NaN", "NAN")]),
    ("c_num5_m2", "numeric(5,-2)",
     [("12345", dec(12300)), ("9999949", dec(9999900)), ("-12351", dec(-12400)), (None, None),
      ("0", dec(0))]),
    ("c_num3_5", "numeric(3,5)",
     [("0.0012", dec(120)), ("0.00999", dec(999)), ("-0.00999", dec(-999)), (None, None),
      ("NaN", "NAN")]),
    ("c_real", "real",
     [("3.14", f32(3.14)), ("Infinity", INF), ("-Infinity", -INF), (None, None), ("NaN", NAN)]),
    ("c_real2", "real",
     [("-0", -0.0), ("3.4028235e38", f32(3.4028235e38)), ("-1.17549435e-38", f32(-1.17549435e-38)),
      (None, None), ("0", 0.0)]),
    ("c_dbl", "double precision",
     [("0.1", 0.1), ("1.7976931348623157e308", 1.7976931348623157e308),
      ("-Infinity", -INF), (None, None), ("NaN", NAN)]),
    ("c_dbl2", "double precision",
     [("-0", -0.0), ("Infinity", INF), ("5e-324", 5e-324), (None, None),
      ("2.718281828459045", 2.718281828459045)]),
    ("c_bool", "boolean",
     [("true", True), ("false", False), ("false", False), (None, None), ("true", True)]),
    ("c_text", "text",
     [("hello", "hello"), ("h\u00e9llo \u2603 \U0001F600", "h\u00e9llo \u2603 \U0001F600"),
      ("", ""), (None, None), ("UNCHANGED_TOAST", "UNCHANGED_TOAST")]),
    ("c_text2", "text",
     [("NULL", "NULL"), ("line1\nline2\ttab \\ back\"slash'", "line1\nline2\ttab \\ back\"slash'"),
      ("null", "null"), (None, None), ("{1,2}", "{1,2}")]),
    ("c_varchar", "varchar(10)",
     [("abc", "abc"), ("0123456789", "0123456789"), ("", ""), (None, None), (" x ", " x ")]),
    ("c_char", "char(5)",
     [("ab", "ab   "), ("abcde", "abcde"), ("", "     "), (None, None), (" a", " a   ")]),
    ("c_bytea", "bytea",
     [("\\x0001ff", b"\x00\x01\xff"), ("\\x" + "ab" * 300, b"\xab" * 300), ("\\x", b""),
      (None, None), ("\\x5c78", b"\\x")]),
    ("c_date", "date",
     [("2024-01-15", days(2024, 1, 15)), ("5874897-12-31", 2145042905),
      ("0044-03-15 BC", -735160), (None, None), ("1970-01-01", 0)]),
    ("c_date2", "date",
     [("1969-12-31", -1), ("infinity", "POSITIVE_INFINITY"), ("-infinity", "NEGATIVE_INFINITY"), (None, None),
      ("4714-11-24 BC", -2440588)]),
    ("c_time", "time",
     [("12:34:56.789", (12 * 3600 + 34 * 60 + 56) * 1_000_000 + 789000),
      ("24:00:00", "END_OF_DAY"), ("00:00:00", 0), (None, None),
      ("23:59:59.999999", 86_399_999_999)]),
    ("c_timetz", "timetz",
     [("12:00:00.5-03:30", "12:00:00.5-03:30"), ("24:00:00-15:59", "24:00:00-15:59"),
      ("00:00:00+00", "00:00:00+00"), (None, None), ("23:59:59.999999+15:59", "23:59:59.999999+15:59")]),
    ("c_ts", "timestamp",
     [("2024-01-15 12:34:56.123456", micros(2024, 1, 15, 12, 34, 56, 123456)),
      ("infinity", "POSITIVE_INFINITY"), ("-infinity", "NEGATIVE_INFINITY"), (None, None),
      ("1969-12-31 23:59:59.999999", -1)]),
    ("c_ts2", "timestamp",
     [("2000-02-29 00:00:00.5", micros(2000, 2, 29, 0, 0, 0, 500000)),
      ("294000-01-01 00:00:00", None), ("0044-03-15 12:00:00 BC", None), (None, None),
      ("1970-01-01 00:00:00", 0)]),
    ("c_ts3", "timestamp(3)",
     [("2024-01-15 12:34:56.12345", micros(2024, 1, 15, 12, 34, 56, 123000)),
      ("2024-01-15 12:34:56.9996", micros(2024, 1, 15, 12, 34, 57, 0)),
      ("2024-01-15 12:34:56.1", micros(2024, 1, 15, 12, 34, 56, 100000)), (None, None),
      ("2024-01-15 12:34:56", micros(2024, 1, 15, 12, 34, 56))]),
    ("c_tstz", "timestamptz",
     [("2024-01-15 12:34:56.123456+00", 1705322096123456),
      ("infinity", "POSITIVE_INFINITY"), ("-infinity", "NEGATIVE_INFINITY"), (None, None),
      ("2024-06-30 23:59:59.999999-07", micros(2024, 6, 30, 23, 59, 59, 999999, offset_min=-7 * 60))]),
    ("c_tstz2", "timestamptz",
     [("2024-01-15 12:34:56.5+05:30", micros(2024, 1, 15, 12, 34, 56, 500000, offset_min=330)),
      ("294000-01-01 00:00:00+00", None), ("4714-11-24 00:00:00+00 BC", None), (None, None),
      ("1970-01-01 00:00:00.000001+00", 1)]),
    ("c_interval", "interval",
     [("P1Y2M3DT4H5M6.5S", ival(14, 3, 14_706_500_000)),
      ("178000000 years", ival(2_136_000_000, 0, 0)),
      ("-1 year -2 months +3 days -04:05:06.123456", ival(-14, 3, -14_706_123_456)),
      (None, None), ("0", ival(0, 0, 0))]),
    ("c_interval2", "interval",
     [("-0.5 seconds", ival(0, 0, -500_000)), ("1 month 40 days 25:00:00", ival(1, 40, 90_000_000_000)),
      ("-2147483648 days", ival(0, -2147483648, 0)), (None, None),
      ("35 days", ival(0, 35, 0))]),
    ("c_uuid", "uuid",
     [("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
      ("ffffffff-ffff-ffff-ffff-ffffffffffff", "ffffffff-ffff-ffff-ffff-ffffffffffff"),
      ("00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000000"),
      (None, None), ("{a0eebc999c0b4ef8bb6d6bb9bd380a12}", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")]),
    ("c_json", "json",
     [('{"b": 1,  "a":[1, 2]}', '{"b": 1,  "a":[1, 2]}'), ('"\\u00e9"', '"\\u00e9"'),
      ("null", "null"), (None, None), ("[]", "[]")]),
    ("c_jsonb", "jsonb",
     [('{"b": 1,  "a":[1, 2]}', '{"a": [1, 2], "b": 1}'), ('"\\u00e9"', '"\u00e9"'),
      ("null", "null"), (None, None), ('{"k": null}', '{"k": null}')]),
    # arrays
    ("a_int", "integer[]",
     [("{1,NULL,3}", [1, None, 3]), ("{2147483647,-2147483648}", [2147483647, -2147483648]),
      ("{}", []), (None, None), ("{{1,2},{3,4}}", {"text": "{{1,2},{3,4}}"})]),
    ("a_int8", "bigint[]",
     [("{NULL}", [None]), ("[0:1]={1,2}", {"text": "[0:1]={1,2}"}), ("{{{1}}}", {"text": "{{{1}}}"}), (None, None),
      ("{9223372036854775807}", [9223372036854775807])]),
    ("a_int2", "smallint[]",
     [("{1,2}", [1, 2]), ("{32767}", [32767]), ("{-32768,NULL}", [-32768, None]), (None, None),
      ("{}", [])]),
    ("a_text", "text[]",
     [('{"a b","NULL",NULL,"","x\\"y","back\\\\slash",null}',
       ["a b", "NULL", None, "", 'x"y', "back\\slash", None]),
      ('{"{","}",",","\u00e9"}', ["{", "}", ",", "\u00e9"]), ("{}", []), (None, None),
      ('{{"a","b"},{"c","d"}}', {"text": '{{a,b},{c,d}}'})]),
    ("a_varchar", "varchar(5)[]",
     [("{a,bb}", ["a", "bb"]), ('{" x "}', [" x "]), ("{NULL}", [None]), (None, None), ("{}", [])]),
    ("a_char", "char(3)[]",
     [("{a,bb}", ["a  ", "bb "]), ("{abc}", ["abc"]), ("{NULL,a}", [None, "a  "]), (None, None),
      ("{}", [])]),
    ("a_num", "numeric(12,2)[]",
     [("{1.5,NaN,NULL,-3}", [dec(150), "NAN", None, dec(-300)]),
      ("{NaN,NULL}", ["NAN", None]), ("{0}", [dec(0)]), (None, None),
      ("{{1,2}}", {"text": "{{1.00,2.00}}"})]),
    ("a_numv", "numeric[]",
     [("{1.50,NULL,-0.001}", [vsd(2, 150), None, vsd(3, -1)]), ("{NaN}", ["NAN"]), ("{}", []),
      (None, None), ("{7}", [vsd(0, 7)])]),
    ("a_real", "real[]",
     [("{1.5,NaN,-Infinity}", [1.5, NAN, -INF]), ("{NULL}", [None]), ("{}", []), (None, None),
      ("{3.14}", [f32(3.14)])]),
    ("a_dbl", "double precision[]",
     [("{0.1,Infinity}", [0.1, INF]), ("{NaN,NULL}", [NAN, None]), ("{-0}", [-0.0]), (None, None),
      ("{}", [])]),
    ("a_bool", "boolean[]",
     [("{t,f,NULL}", [True, False, None]), ("{}", []), ("{true}", [True]), (None, None),
      ("{{t},{f}}", {"text": "{{t},{f}}"})]),
    ("a_bytea", "bytea[]",
     [('{"\\\\x0001",NULL}', [b"\x00\x01", None]), ('{"\\\\x"}', [b""]), ("{}", []),
      (None, None), ('{"\\\\xff"}', [b"\xff"])]),
    ("a_date", "date[]",
     [("{2024-01-01,infinity,NULL}", [days(2024, 1, 1), "POSITIVE_INFINITY", None]),
      ("{-infinity,0044-03-15 BC}", ["NEGATIVE_INFINITY", -735160]), ("{}", []), (None, None),
      ("{1970-01-01}", [0])]),
    ("a_time", "time[]",
     [("{23:00:00,NULL}", [82_800_000_000, None]), ("{24:00:00,00:00:01}", ["END_OF_DAY", 1_000_000]), ("{}", []),
      (None, None), ("{12:00:00.5}", [43_200_500_000])]),
    ("a_timetz", "timetz[]",
     [("{12:00:00+01}", ["12:00:00+01"]), ("{NULL}", [None]), ("{}", []), (None, None),
      ("{00:00:00.5-03:30}", ["00:00:00.5-03:30"])]),
    ("a_ts", "timestamp[]",
     [('{"2024-01-15 12:34:56.123456",infinity}', [micros(2024, 1, 15, 12, 34, 56, 123456), "POSITIVE_INFINITY"]),
      ("{-infinity,NULL}", ["NEGATIVE_INFINITY", None]), ("{}", []), (None, None),
      ('{"1970-01-01 00:00:00"}', [0])]),
    ("a_tstz", "timestamptz[]",
     [('{"2024-01-15 12:34:56.123456+00",-infinity,NULL}', [1705322096123456, "NEGATIVE_INFINITY", None]),
      ('{"2024-01-15 12:34:56+05:30"}', [micros(2024, 1, 15, 12, 34, 56, offset_min=330)]),
      ("{}", []), (None, None), ("{infinity}", ["POSITIVE_INFINITY"])]),
    ("a_interval", "interval[]",
     [('{"1 year 2 days",NULL}', [ival(12, 2, 0), None]), ('{"-00:00:00.000001"}', [ival(0, 0, -1)]),
      ("{}", []), (None, None), ('{"1 mon"}', [ival(1, 0, 0)])]),
    ("a_uuid", "uuid[]",
     [("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11,NULL}", ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", None]),
      ("{}", []), ("{00000000-0000-0000-0000-000000000000}", ["00000000-0000-0000-0000-000000000000"]),
      (None, None), ("{}", [])]),
    ("a_json", "json[]",
     [('{"{\\"a\\":  1}",NULL}', ['{"a":  1}', None]), ("{}", []), ('{"[1, 2]"}', ["[1, 2]"]),
      (None, None), ('{null}', [None])]),
    ("a_jsonb", "jsonb[]",
     [('{"{\\"b\\":1,\\"a\\":2}","\\"NULL\\""}', ['{"a": 2, "b": 1}', '"NULL"']), ("{}", []),
      ('{"null"}', ["null"]), (None, None), ('{NULL}', [None])]),
    # an enum, domains, and arrays of them
    ("c_mood", "mood",
     [("happy", "happy"), ("sad", "sad"), ("ok", "ok"), (None, None), ("happy", "happy")]),
    ("a_mood", "mood[]",
     [("{sad,NULL,happy}", ["sad", None, "happy"]), ("{}", []), ("{ok}", ["ok"]), (None, None),
      ("{{sad},{ok}}", {"text": "{{sad},{ok}}"})]),
    ("c_dnum", "d_num",
     [("12345.678", dec(12345678)), ("99999.9994", dec(99999999)), ("-0.0005", dec(-1)),
      (None, None), ("NaN", "NAN")]),
    ("a_dnum", "d_num[]",
     [("{1.5,NULL}", [dec(1500), None]), ("{}", []), ("{NaN}", ["NAN"]), (None, None),
      ("{-99999.999}", [dec(-99999999)])]),
    ("c_dtext", "d_text",
     [("dom", "dom"), ("", ""), ("UNCHANGED_TOAST", "UNCHANGED_TOAST"), (None, None), ("x y", "x y")]),
    # anything else: PostgreSQL's text form
    ("c_inet", "inet",
     [("192.168.0.1/24", "192.168.0.1/24"), ("::1", "::1"), ("10.0.0.1", "10.0.0.1"), (None, None),
      ("2001:db8::/32", "2001:db8::/32")]),
    ("c_money", "money",
     [("1234.56", "$1,234.56"), ("-0.01", "-$0.01"), ("0", "$0.00"), (None, None),
      ("92233720368547758.07", "$92,233,720,368,547,758.07")]),
    ("c_point", "point",
     [("(1,2)", "(1,2)"), ("(1.5,-2.25)", "(1.5,-2.25)"), ("(0,0)", "(0,0)"), (None, None),
      ("(1e+300,-1e-300)", "(1e+300,-1e-300)")]),
    ("c_tsv", "tsvector",
     [("a fat cat", "'a' 'cat' 'fat'"), ("", ""), ("x:1A y:2", "'x':1A 'y':2"), (None, None),
      ("'NULL'", "'NULL'")]),
    ("a_inet", "inet[]",
     [("{10.0.0.1,NULL}", "{10.0.0.1,NULL}"), ("{}", "{}"), ("{::1}", "{::1}"), (None, None),
      ("{1.2.3.4/32}", "{1.2.3.4}")]),
]
NROWS = 5

# The PostgreSQL major the session runs (Debian's 15 when W2K_PG_VERSION is unset).
MAJOR = int(PG_VERSION or 15)


def _for_major(columns, major):
    """The columns as the major can hold them: a numeric scale that is negative or
    greater than the precision is 15+ and arrays of domains 11+ (those columns are left
    out before), numeric Infinity is 14+ (those values become NULL before); geometric
    types print floats in their shortest exact form from 12."""
    out = []
    for name, typ, vals in columns:
        if major < 15 and typ in ("numeric(5,-2)", "numeric(3,5)"):
            continue
        if major < 11 and typ == "d_num[]":  # arrays of domains are 11+
            continue
        if major < 14 and typ.startswith("numeric"):
            vals = [(None, None) if lit is not None and "Infinity" in lit else (lit, v)
                    for lit, v in vals]
        if major < 12 and typ == "point":
            # before 12 extra_float_digits = 3 prints 17 significant digits, not the
            # shortest exact form
            vals = [(lit, "(1.00000000000000005e+300,-1.00000000000000003e-300)")
                    if lit == "(1e+300,-1e-300)" else (lit, v) for lit, v in vals]
        out.append((name, typ, vals))
    return out


COLUMNS = _for_major(COLUMNS, MAJOR)

# Expected values PostgreSQL itself computes (outside the range of Python's datetime):
# column -> row index -> SQL returning the exact micros since 1970.
PG_ORACLE = {
    ("c_ts2", 1): "SELECT (extract(epoch FROM timestamp '294000-01-01 00:00:00') * 1000000)::bigint",
    ("c_ts2", 2): "SELECT (extract(epoch FROM timestamp '0044-03-15 12:00:00 BC') * 1000000)::bigint",
    ("c_tstz2", 1): "SELECT (extract(epoch FROM timestamptz '294000-01-01 00:00:00+00') * 1000000)::bigint",
    ("c_tstz2", 2): "SELECT (extract(epoch FROM timestamptz '4714-11-24 00:00:00+00 BC') * 1000000)::bigint",
}
if MAJOR < 14:
    # extract() returns a double precision before 14, too coarse for these micros
    PG_ORACLE = {
        ("c_ts2", 1): "SELECT (date '294000-01-01' - date '1970-01-01')::bigint * 86400000000",
        ("c_ts2", 2): "SELECT (date '0044-03-15 BC' - date '1970-01-01')::bigint * 86400000000 "
                      "+ 43200000000",
        ("c_tstz2", 1): "SELECT (date '294000-01-01' - date '1970-01-01')::bigint * 86400000000",
        ("c_tstz2", 2): "SELECT (date '4714-11-24 BC' - date '1970-01-01')::bigint * 86400000000",
    }

SETUP = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN d_num AS numeric(8,3);
CREATE DOMAIN d_text AS text;
"""


def _create_table(db):
    db.psql(SETUP)
    cols = ", ".join(f"{name} {typ}" for name, typ, _ in COLUMNS)
    db.execute(f"CREATE TABLE alltypes (id int PRIMARY KEY, {cols})")


def _insert_rows(db):
    names = ", ".join(name for name, _, _ in COLUMNS)
    ph = ", ".join(f"%s::{typ}" for _, typ, _ in COLUMNS)
    with db.connect() as conn:
        for r in range(NROWS):
            conn.execute(f"INSERT INTO alltypes (id, {names}) VALUES (%s, {ph})",
                         [r + 1] + [vals[r][0] for _, _, vals in COLUMNS])


def _expected(db):
    exp = {}
    for r in range(NROWS):
        row = {"id": r + 1}
        for name, _, vals in COLUMNS:
            v = vals[r][1]
            if (name, r) in PG_ORACLE:
                v = db.scalar(PG_ORACLE[(name, r)])
            row[name] = v
        exp[r + 1] = row
    return exp


@pytest.fixture
def alltypes(db, kafka, connectors):
    """The alltypes table streamed: (connector, decoder, records of its topic by id)."""
    _create_table(db)
    conn = connectors(["public.alltypes"])
    conn.start().wait_streaming()
    _insert_rows(db)
    conn.wait_caught_up()
    dec = Decoder(kafka, conn.prefix)
    recs = consume(kafka, dec, conn.topic("alltypes"), until=NROWS, to_end=True)
    return conn, dec, recs


def test_every_type_decodes_to_the_documented_value(db, alltypes):
    conn, dec, recs = alltypes
    assert len(recs) == NROWS, [r.key for r in recs]
    assert [r.key for r in recs] == [{"id": i} for i in range(1, NROWS + 1)]
    expected = _expected(db)
    # pin the PG-computed oracles to the contract's own numbers where it gives them
    assert expected[3]["c_date"] == -735160
    for r in recs:
        v = r.value
        assert v["op"] == "c" and v["before"] is None and v["changed"] is None
        row = v["after"]
        want = expected[r.key["id"]]
        assert list(row) == list(want), "field order = column order"
        for name in want:
            same(row[name], want[name], f"row {r.key['id']} {name}")


def test_null_is_distinct_from_every_value(alltypes):
    """The all-NULL row is None in every column; no value of the other rows is None
    unless it was NULL (or a NULL array element), and nothing is UNCHANGED_TOAST."""
    conn, dec, recs = alltypes
    by_id = {r.key["id"]: r.value["after"] for r in recs}
    null_row = by_id[4]
    assert all(null_row[name] is None for name, _, _ in COLUMNS), null_row
    for rid, row in by_id.items():
        for name, _, vals in COLUMNS:
            lit = vals[rid - 1][0]
            assert row[name] is not UNCHANGED_TOAST
            assert (row[name] is None) == (lit is None), f"row {rid} {name}: {row[name]!r}"
    # The text 'UNCHANGED_TOAST' and 'NULL' arrive as text, not as the marker or NULL.
    assert by_id[5]["c_text"] == "UNCHANGED_TOAST" and by_id[5]["c_text"] is not UNCHANGED_TOAST
    assert by_id[1]["c_text2"] == "NULL"
    assert by_id[3]["c_dtext"] == "UNCHANGED_TOAST"


def _field(schema_json: dict, record: str, name: str):
    """A field's type inside the envelope schema's row record (JSON, full form)."""
    for f in schema_json["fields"]:
        if f["name"] == record:
            t = f["type"]
            rec = t[1] if isinstance(t, list) else t
            for g in rec["fields"]:
                if g["name"] == name:
                    return g
    raise KeyError(name)


def test_schemas_are_stored_with_their_fingerprints(kafka, alltypes):
    conn, dec, recs = alltypes
    dec.refresh()
    assert dec.records, "nothing in <prefix>.schemas"
    for key, value, _ in dec.records:
        fp = key.decode()
        assert len(fp) == 16 and fp == fp.lower()
        assert schema_fingerprint(value.decode()) == fp, value.decode()[:200]
    used = {r.raw_key[2:10].hex() for r in recs} | {r.raw_value[2:10].hex() for r in recs}
    assert used <= set(dec.schemas)
    assert len(used) == 2
    # every message starts with C3 01
    assert all(r.raw_key[:2] == b"\xc3\x01" and r.raw_value[:2] == b"\xc3\x01" for r in recs)

    env = dec.schemas[recs[0].raw_value[2:10].hex()].json
    key = dec.schemas[recs[0].raw_key[2:10].hex()].json
    ns = f"{conn.prefix}.public.alltypes"
    assert env["name"] == f"{ns}.Envelope"
    assert key == {"name": f"{ns}.Key", "type": "record", "fields": [{"name": "id", "type": "int"}]}
    assert [f["name"] for f in env["fields"]] == ["before", "after", "op", "source", "ts_ms", "changed"]
    toast = {"type": "enum", "name": "UnchangedToast", "namespace": "wal2kafka",
             "symbols": ["UNCHANGED_TOAST"]}
    special = {"type": "enum", "name": "SpecialValue", "namespace": "wal2kafka",
               "symbols": ["NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY", "END_OF_DAY"]}
    sv = "wal2kafka.SpecialValue"
    arraytext = {"type": "record", "name": "ArrayText", "namespace": "wal2kafka",
                 "fields": [{"name": "text", "type": "string"}]}
    # The documented field unions (full form); UnchangedToast defined at first use.
    assert _field(env, "before", "id")["type"] == ["null", "int"]
    assert _field(env, "before", "c_int8")["type"] == ["null", "long"]
    assert _field(env, "before", "c_real")["type"] == ["null", "float"]
    assert _field(env, "before", "c_dbl")["type"] == ["null", "double"]
    assert _field(env, "before", "c_bool")["type"] == ["null", "boolean"]
    assert _field(env, "before", "c_num")["type"] == [
        "null", {"type": "record", "name": "VariableScaleDecimal", "namespace": "wal2kafka",
                 "fields": [{"name": "scale", "type": "int"}, {"name": "value", "type": "bytes"}]},
        special, toast]
    assert _field(env, "before", "c_num2")["type"] == [
        "null", "wal2kafka.VariableScaleDecimal", sv, "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_text")["type"] == ["null", "string", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_num10_2")["type"] == [
        "null", {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        sv, "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_num5_m2")["type"][1] == {
        "type": "bytes", "logicalType": "decimal", "precision": 7, "scale": 0}
    assert _field(env, "before", "c_num3_5")["type"][1] == {
        "type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 5}
    assert _field(env, "before", "c_dnum")["type"][1] == {
        "type": "bytes", "logicalType": "decimal", "precision": 8, "scale": 3}
    assert _field(env, "before", "c_tstz")["type"] == [
        "null", {"type": "long", "logicalType": "timestamp-micros"}, sv]
    assert _field(env, "before", "c_ts")["type"] == [
        "null", {"type": "long", "logicalType": "local-timestamp-micros"}, sv]
    assert _field(env, "before", "c_date")["type"] == [
        "null", {"type": "int", "logicalType": "date"}, sv]
    assert _field(env, "before", "c_time")["type"] == [
        "null", {"type": "long", "logicalType": "time-micros"}, sv]
    assert _field(env, "before", "c_timetz")["type"] == ["null", "string"]
    assert _field(env, "before", "c_uuid")["type"] == [
        "null", {"type": "string", "logicalType": "uuid"}]
    assert _field(env, "before", "c_interval")["type"] == [
        "null", {"type": "record", "name": "Interval", "namespace": "wal2kafka", "fields": [
            {"name": "months", "type": "int"}, {"name": "days", "type": "int"},
            {"name": "micros", "type": "long"}]}]
    assert _field(env, "before", "c_bytea")["type"] == ["null", "bytes", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_json")["type"] == ["null", "string", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_mood")["type"] == ["null", "string", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_inet")["type"] == ["null", "string", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "a_int")["type"] == [
        "null", {"type": "array", "items": ["null", "int"]}, arraytext, "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "a_num")["type"] == [
        "null", {"type": "array", "items": [
            "null", {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
            sv]}, "wal2kafka.ArrayText", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "a_mood")["type"] == [
        "null", {"type": "array", "items": ["null", "string"]}, "wal2kafka.ArrayText",
        "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "a_inet")["type"] == ["null", "string", "wal2kafka.UnchangedToast"]
    assert _field(env, "before", "c_int4")["default"] is None


def test_logical_types_decode_with_fastavro(kafka, alltypes):
    """fastavro applying the declared logical types gives the Python values of row 1."""
    conn, _, recs = alltypes
    dec = Decoder(kafka, conn.prefix, logical=True)
    row = dec.decode(recs[0].raw_value)["after"]
    assert row["c_num10_2"] == Decimal("1234.56")
    assert row["c_num5_m2"] == Decimal("12300")
    assert row["c_num3_5"] == Decimal("0.00120")
    assert row["c_dnum"] == Decimal("12345.678")
    assert row["c_date"] == dt.date(2024, 1, 15)
    assert row["c_time"] == dt.time(12, 34, 56, 789000)
    assert row["c_ts"] == dt.datetime(2024, 1, 15, 12, 34, 56, 123456)
    assert row["c_tstz"] == dt.datetime(2024, 1, 15, 12, 34, 56, 123456, tzinfo=UTC)
    assert row["c_uuid"] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert row["a_num"] == [Decimal("1.50"), "NAN", None, Decimal("-3.00")]
    assert row["a_date"] == [dt.date(2024, 1, 1), "POSITIVE_INFINITY", None]
    assert row["a_tstz"] == [dt.datetime(2024, 1, 15, 12, 34, 56, 123456, tzinfo=UTC), "NEGATIVE_INFINITY",
                             None]



def test_special_values_decode_in_python(db, kafka, connectors):
    """time 24:00:00, numeric NaN and infinite dates are markers: a row holding them decodes
    with fastavro's logical types (Python's datetime.time has no 24:00:00)."""
    db.psql("CREATE TABLE sv (id int PRIMARY KEY, t time, n numeric(10,2), d date, "
            "ts timestamptz, a int[])")
    conn = connectors(["public.sv"])
    conn.start().wait_streaming()
    db.execute("INSERT INTO sv VALUES (1, '24:00:00', 'NaN', 'infinity', '-infinity', "
               "'{{1,2},{3,4}}'), (2, '12:00:00', 1.5, '2024-01-15', NULL, '{1}')")
    dec = Decoder(kafka, conn.prefix, logical=True)
    recs = consume(kafka, dec, conn.topic("sv"), until=2)
    assert [r.value["after"] for r in recs] == [
        {"id": 1, "t": "END_OF_DAY", "n": "NAN", "d": "POSITIVE_INFINITY",
         "ts": "NEGATIVE_INFINITY", "a": {"text": "{{1,2},{3,4}}"}},
        {"id": 2, "t": dt.time(12), "n": Decimal("1.50"), "d": dt.date(2024, 1, 15), "ts": None,
         "a": [1]}]


def test_key_columns_of_every_kind(db, kafka, connectors):
    """Key records carry no null branch and no UnchangedToast branch."""
    db.psql("CREATE TABLE k (k_int8 bigint, k_text text, k_tstz timestamptz, k_num numeric(6,2), "
            "k_uuid uuid, k_date date, v int, PRIMARY KEY (k_text, k_int8, k_tstz, k_num, k_uuid, k_date))")
    conn = connectors(["public.k"])
    conn.start().wait_streaming()
    db.execute("INSERT INTO k VALUES (-5, 'ключ', '2024-01-15 12:34:56.123456+00', -12.5, "
               "'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'infinity', 1)")
    dec = Decoder(kafka, conn.prefix)
    (rec,) = consume(kafka, dec, conn.topic("k"), until=1)
    same(rec.key, {"k_int8": -5, "k_text": "ключ", "k_tstz": 1705322096123456, "k_num": dec_(-1250),
                   "k_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "k_date": "POSITIVE_INFINITY"}, "key")
    ks = dec.schemas[rec.raw_key[2:10].hex()].json
    assert [f["name"] for f in ks["fields"]] == ["k_int8", "k_text", "k_tstz", "k_num", "k_uuid",
                                                 "k_date"], "key fields in column order"
    types = {f["name"]: f["type"] for f in ks["fields"]}
    assert types == {
        "k_text": "string", "k_int8": "long",
        "k_tstz": [{"type": "long", "logicalType": "timestamp-micros"},
                   {"type": "enum", "name": "SpecialValue", "namespace": "wal2kafka",
                    "symbols": ["NAN", "POSITIVE_INFINITY", "NEGATIVE_INFINITY", "END_OF_DAY"]}],
        "k_num": [{"type": "bytes", "logicalType": "decimal", "precision": 6, "scale": 2},
                  "wal2kafka.SpecialValue"],
        "k_uuid": {"type": "string", "logicalType": "uuid"},
        "k_date": [{"type": "int", "logicalType": "date"}, "wal2kafka.SpecialValue"],
    }


dec_ = dec  # the decimal helper, under a name the key test can use beside its decoder
