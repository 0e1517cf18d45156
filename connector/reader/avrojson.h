/* avrojson.h — reading wal2kafka's messages back without avro-c: Avro schemas parsed
 * from their JSON text (keeping the logical types avro-c drops), and Avro binary
 * rendered as JSON with every value in PostgreSQL's own text form (the forms the
 * replication session prints: DateStyle=ISO, TimeZone=UTC, IntervalStyle=iso_8601).
 * Used by `wal2kafka history` and `wal2kafka state`. Pure: no I/O. */
#ifndef W2K_AVROJSON_H
#define W2K_AVROJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

/* Avro types. */
typedef enum w2k_avt_e {
    W2K_AVT_NULL,
    W2K_AVT_BOOLEAN,
    W2K_AVT_INT,
    W2K_AVT_LONG,
    W2K_AVT_FLOAT,
    W2K_AVT_DOUBLE,
    W2K_AVT_BYTES,
    W2K_AVT_STRING,
    W2K_AVT_RECORD,
    W2K_AVT_ENUM,
    W2K_AVT_ARRAY,
    W2K_AVT_MAP,
    W2K_AVT_UNION,
    W2K_AVT_FIXED
} w2k_avt_t;

/* Logical types, including wal2kafka's named types (schemas/README.md). */
typedef enum w2k_avl_e {
    W2K_AVL_NONE,
    W2K_AVL_DECIMAL,                /* bytes/fixed, precision, scale */
    W2K_AVL_DATE,                   /* int */
    W2K_AVL_TIME_MILLIS,            /* int */
    W2K_AVL_TIME_MICROS,            /* long */
    W2K_AVL_TIMESTAMP_MILLIS,       /* long */
    W2K_AVL_TIMESTAMP_MICROS,       /* long */
    W2K_AVL_LOCAL_TIMESTAMP_MILLIS, /* long */
    W2K_AVL_LOCAL_TIMESTAMP_MICROS, /* long */
    W2K_AVL_UUID,                   /* string */
    W2K_AVL_INTERVAL,               /* record wal2kafka.Interval */
    W2K_AVL_VARDECIMAL,             /* record wal2kafka.VariableScaleDecimal */
    W2K_AVL_UNCHANGED_TOAST,        /* enum wal2kafka.UnchangedToast */
    W2K_AVL_SPECIAL_VALUE,          /* enum wal2kafka.SpecialValue */
    W2K_AVL_ARRAY_TEXT              /* record wal2kafka.ArrayText */
} w2k_avl_t;

/* One node of a parsed schema. Named types are shared: a reference by name points at
 * the node of the definition. Read-only for users; owned by the w2k_avschema_t. */
typedef struct w2k_avnode_s {
    w2k_avt_t type;
    w2k_avl_t logical;
    int precision;             /* decimal */
    int scale;                 /* decimal */
    int size;                  /* fixed */
    const char *fullname;      /* record, enum, fixed */
    int n;                     /* record fields, union branches, enum symbols; 1 for array/map */
    struct w2k_avnode_s **sub; /* field types, union branches; array items / map values */
    const char **names;        /* record field names, enum symbols */
} w2k_avnode_t;

/* A parsed schema: its nodes and strings in one arena. */
typedef struct w2k_avschema_s w2k_avschema_t;

/* Parse the JSON text of an Avro schema (len bytes). Returns a new schema the caller
 * frees with w2k_avschema_destroy(), or NULL with err (W2K_EXIT_KAFKA: a stored schema
 * that does not parse) saying where and why. */
w2k_avschema_t *w2k_avschema_parse(const char *json, size_t len, w2k_err_t *err);
/* Free a schema; accepts NULL. */
void w2k_avschema_destroy(w2k_avschema_t *s);
/* The top-level type of a schema. */
const w2k_avnode_t *w2k_avschema_root(const w2k_avschema_t *s);
/* The index of field name in record rec, or -1. */
int w2k_avnode_field(const w2k_avnode_t *rec, const char *name);
/* The branch of union u that is not "null" when u is ["null", X] or X alone: X, else NULL. */
const w2k_avnode_t *w2k_avnode_nonnull(const w2k_avnode_t *u);

/* Read a zig-zag varint (an Avro int or long) at *p, advancing it. Returns 0, or -1 when
 * the input ends or the varint is longer than 10 bytes. */
int w2k_avro_read_long(const uint8_t **p, const uint8_t *end, int64_t *v);

/* Read the head of an array or map block at *p (advancing it) whose items are of type
 * item: *count items, 0 at the end of the array. A block written with its size in bytes
 * (a negative count) sets *block_end to where it ends, else NULL; its items must then fill
 * exactly that size. Every reader of arrays and maps reads blocks with this one function,
 * so that skipping a value (by the size) and decoding it (item by item) take the same bytes.
 * Returns 0, or -1 when the head is malformed or the count cannot fit in what is left. */
int w2k_avro_block(const w2k_avnode_t *item, const uint8_t **p, const uint8_t *end, int64_t *count,
                   const uint8_t **block_end);

/* Skip one datum of type n at *p (advancing it). Returns 0, or -1 on malformed input. */
int w2k_avro_skip(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end);

/* Append one datum of type n at *p to out as JSON (advancing *p): null, booleans and
 * integers as JSON literals; float/double as the shortest number that reads back
 * exactly (NaN and infinities as the strings "NaN", "Infinity", "-Infinity"); strings
 * as strings; decimals and VariableScaleDecimal as strings with exactly the value's
 * digits ("1234.50"); bytes as "\\x0a1b" (PostgreSQL's hex form); date "2024-01-15"
 * ("0044-03-15 BC"); time "12:34:56.5"; timestamp-micros "2024-01-15 12:34:56.123456+00";
 * local-timestamp-micros without "+00"; Interval "P1Y2M3DT4H5M6.5S"; uuid as its
 * string; UnchangedToast as {"unchanged_toast":true}; ArrayText as its text; a
 * SpecialValue alone as its symbol (see w2k_avro_json_branch); other enums as their symbol;
 * records and maps as objects, arrays as arrays; a union as its branch's value.
 * Returns 0, or -1 on malformed input (out may then hold a partial value). */
int w2k_avro_json(const w2k_avnode_t *n, const uint8_t **p, const uint8_t *end, w2k_buf_t *out);

/* The same for the value of branch b of union u (*p after the branch number): a
 * wal2kafka.SpecialValue as PostgreSQL prints the value it stands for, chosen by the
 * union's value type ("NaN", "Infinity", "-Infinity" for decimals; "infinity",
 * "-infinity" for dates and timestamps; "24:00:00" for times). */
int w2k_avro_json_branch(const w2k_avnode_t *u, const w2k_avnode_t *b, const uint8_t **p,
                         const uint8_t *end, w2k_buf_t *out);

/* The JSON of an unchanged TOAST value. */
#define W2K_AVRO_TOAST_JSON "{\"unchanged_toast\":true}"

/* Formatters used by w2k_avro_json(), public for tests. Each appends to out. */
/* days since 1970-01-01 (proleptic Gregorian) as PostgreSQL prints a date */
void w2k_fmt_date(int64_t days, w2k_buf_t *out);
/* microseconds since midnight as PostgreSQL prints a time (fraction without trailing 0s) */
void w2k_fmt_time(int64_t us, w2k_buf_t *out);
/* microseconds since 1970 as PostgreSQL prints a timestamptz in UTC ("+00") or, with
 * with_tz false, a timestamp */
void w2k_fmt_timestamp(int64_t us, bool with_tz, w2k_buf_t *out);
/* months, days and microseconds as PostgreSQL prints an interval with
 * IntervalStyle=iso_8601 */
void w2k_fmt_interval(int32_t months, int32_t days, int64_t us, w2k_buf_t *out);
/* an unscaled two's-complement big-endian integer of n bytes with scale digits after the
 * point; returns 0, or -1 when out of memory */
int w2k_fmt_decimal(const uint8_t *b, size_t n, int scale, w2k_buf_t *out);
/* the shortest decimal text that reads back as exactly v */
void w2k_fmt_double(double v, w2k_buf_t *out);
void w2k_fmt_float(float v, w2k_buf_t *out);

#endif
