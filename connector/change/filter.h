/* filter.h — row filters evaluated by wal2kafka itself: the SQL boolean expression a
 * table's config gives (the one PostgreSQL 15 takes in CREATE PUBLICATION ... WHERE),
 * parsed once, bound to a relation's columns, and evaluated on each row image of the
 * pgoutput stream (for servers before 15, and to check PostgreSQL's pushdown).
 *
 * The supported subset, with SQL's semantics and three-valued NULL logic:
 *   expr    := expr OR expr | expr AND expr | NOT expr | ( expr )
 *            | expr IS [NOT] {NULL | TRUE | FALSE | UNKNOWN} | expr ISNULL | expr NOTNULL
 *            | operand {= | <> | != | < | <= | > | >=} operand
 *            | operand IS [NOT] DISTINCT FROM operand
 *            | operand [NOT] BETWEEN [SYMMETRIC] operand AND operand
 *            | operand [NOT] IN ( operand [, operand ...] )
 *            | operand [NOT] {LIKE | ILIKE} 'pattern' [ESCAPE 'c']
 *            | operand
 *   operand := column | "Quoted Column" | literal | ( expr )
 *   literal := 123 | 1.5 | 1e20 | 'text' ('' inside for ') | TRUE | FALSE | NULL
 *            | type 'text' | literal::type | CAST(literal AS type) | -literal | +literal
 *   type    := int | integer | int2 | int4 | int8 | smallint | bigint | numeric | decimal
 *            | real | float4 | float8 | float | double precision | text | varchar
 *            | character varying | bpchar | bool | boolean | date | timestamp | timestamptz
 *            | timestamp with[out] time zone | uuid   (no type modifiers)
 * Unquoted names fold to lower case (ASCII) as in SQL; -- and C-style comments are
 * allowed. Column types: boolean, smallint/integer/bigint, numeric, real/double
 * precision, text/varchar/char(n)/name, date, timestamp, timestamptz, uuid (domains as
 * their base type, but user-defined types that travel as text, i.e. enums and domains
 * over text, with = <> IN and DISTINCT only, since an enum orders by its declaration).
 * A column of any other type may only appear in IS [NOT] NULL.
 *
 * Semantics worth knowing:
 *   - An untyped 'string' takes the type of what it is compared with, as in SQL.
 *   - Text compares by bytes (the C collation). char(n) ignores trailing spaces when
 *     compared with char(n), varchar or an untyped literal; compared with text it is
 *     cast to text (trailing spaces removed). LIKE does not strip them, as in
 *     PostgreSQL. LIKE: % any sequence, _ one character (UTF-8), \ escapes unless
 *     ESCAPE says otherwise; case-sensitive. ILIKE folds ASCII letters only (a
 *     pattern with non-ASCII characters is refused; PostgreSQL folds by locale).
 *   - numeric compares exactly on the decimal digits (1.10 = 1.1, no rounding);
 *     NaN = NaN and NaN sorts above everything, Infinity above every number. An
 *     integer compared with a numeric compares as numeric; anything compared with
 *     real/double precision compares as double precision (real widened exactly);
 *     float NaN = NaN and sorts above everything, as in PostgreSQL.
 *   - date, timestamp and timestamptz compare as microseconds, ±infinity included; a
 *     timestamptz literal without an offset is read as UTC, and timestamp compared
 *     with timestamptz treats the timestamp as UTC (the replication session's
 *     TimeZone; PostgreSQL itself refuses such mixed comparisons in a publication's
 *     WHERE since they depend on TimeZone). Literals take ISO forms:
 *     YYYY-MM-DD[{ |T}HH:MM[:SS[.ffffff]]][Z|UTC|±HH[[:]MM[[:]SS]]][ BC], epoch,
 *     infinity, -infinity; as in PostgreSQL a timestamp literal ignores an offset and
 *     a date literal ignores the time.
 * Refused at parse time (with the offset and the part): function calls, arithmetic
 * (unary minus only on number literals), other operators, subqueries, CASE, casts of
 * columns, parameters, arrays, type modifiers, E'' and $$ strings, nesting deeper
 * than 1000, and syntax errors. Refused at bind time: unknown columns, columns of
 * unsupported types, comparisons between incompatible types, literals that are not
 * valid values of the type they meet, LIKE on non-text columns.
 * Accepted here but refused by PostgreSQL 15 as a publication's row filter (so the
 * pushdown path reports PostgreSQL's error): enum columns (user-defined type), mixing
 * timestamptz with date or timestamp, and casts of non-string literals to text.
 *
 * A filter is used by one stream; after a successful w2k_filter_bind() the filter is
 * read-only and w2k_filter_eval() may run concurrently from several threads. */
#ifndef W2K_FILTER_H
#define W2K_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "pgoutput.h"
#include "relcache.h"

/* Results of w2k_filter_eval(). */
#define W2K_FILTER_TRUE  1    /* the row matches */
#define W2K_FILTER_FALSE 0    /* the row does not match */
#define W2K_FILTER_NULL  (-1) /* unknown, which a WHERE treats as false */
#define W2K_FILTER_TOAST (-2) /* a referenced column holds an unchanged TOAST value */
#define W2K_FILTER_BADVALUE                                                                        \
    (-3) /* a referenced column's text could not be read (binary                                   \
            datum, malformed text), or the filter is not bound */

typedef struct w2k_filter_s w2k_filter_t;

/* Parse a row filter (a NUL-terminated SQL boolean expression). Returns a new filter
 * the caller frees with w2k_filter_destroy(), or NULL with err naming the part outside
 * the supported subset and its byte offset (0-based) in expr, e.g.
 * "filter: at offset 12: function calls are not supported: lower(". Literals with a
 * type (DATE '...', '...'::numeric) are checked here; untyped ones at bind time. */
w2k_filter_t *w2k_filter_parse(const char *expr, char *err, size_t errsz);

/* Bind column references to rel's columns (by name) and check the type of every
 * comparison, compiling literals to the types they meet. Returns 0, or -1 with err
 * naming the part and its offset (unknown column, an integer column compared with
 * 'abc', LIKE on a non-text column, ...). May be called again for a new version of
 * the relation; rel need not outlive the call. After a failed bind the filter cannot
 * be evaluated until a bind succeeds. */
int w2k_filter_bind(w2k_filter_t *f, const w2k_relation_t *rel, char *err, size_t errsz);

/* Evaluate the bound filter on a row image (text datums, as the replication session
 * sends them; row->cols[i] is the relation's column i, columns past row->ncols are
 * NULL). Returns W2K_FILTER_TRUE (1), W2K_FILTER_FALSE (0), W2K_FILTER_NULL (-1),
 * W2K_FILTER_TOAST (-2) when a column whose value the filter needs is an unchanged
 * TOAST value (a column used only in IS [NOT] NULL is not null then), or
 * W2K_FILTER_BADVALUE (-3). Allocates nothing. */
int w2k_filter_eval(const w2k_filter_t *f, const w2k_pgtuple_t *row);

/* True when the bound filter references column i of the relation — to tell whether it
 * needs columns outside the key (then updates and deletes need REPLICA IDENTITY FULL). */
bool w2k_filter_uses_column(const w2k_filter_t *f, int i);

/* The expression the filter was parsed from. */
const char *w2k_filter_text(const w2k_filter_t *f);

/* Free a filter; accepts NULL. */
void w2k_filter_destroy(w2k_filter_t *f);

#endif
