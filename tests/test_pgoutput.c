/* test_pgoutput.c — unit tests of the pgoutput decoder against frames captured from a
 * real PostgreSQL 15 (the .hex files in tests/fixtures, made by tests/fixtures/capture.sh), plus
 * robustness: every truncation of every frame, corrupted bytes, oversized counts.
 * Usage: test_pgoutput FIXTURES_DIR. */
#include "pgoutput.h"
#include "unit.h"

#include <stdlib.h>

#define MAX_FRAMES 64

/* One captured message with the lsn and xid columns the server reported for it. */
typedef struct frame_s {
    char *data;
    size_t len;
    uint64_t lsn;
    uint32_t xid;
} frame_t;

typedef struct fixture_s {
    const char *name;
    int n;
    frame_t f[MAX_FRAMES];
} fixture_t;

static const char *fixtures_dir;
static const char *fixture_names[] = {
    "basic", "pkchange",     "identfull", "identindex", "dropped",  "nulls",      "toast",
    "kinds", "kinds_binary", "truncate",  "enumtype",   "messages", "multitable", "origin"};
#define NFIXTURES (sizeof fixture_names / sizeof fixture_names[0])
static fixture_t fixtures[NFIXTURES];

/* Decoded messages are large; a few reusable slots, as the header advises. */
static w2k_pgmsg_t slot[4];
static char err[256];

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Read DIR/NAME.hex into fx. Returns 0, or -1 after reporting why. */
static int load_fixture(fixture_t *fx, const char *name)
{
    char path[1024], *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int have_meta = 0;
    uint64_t lsn = 0;
    uint32_t xid = 0;
    snprintf(path, sizeof path, "%s/%s.hex", fixtures_dir, name);
    FILE *fp = fopen(path, "r");
    fx->name = name;
    fx->n = 0;
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        unit_failures++;
        return -1;
    }
    while ((n = getline(&line, &cap, fp)) != -1) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        if (line[0] == '#') {
            unsigned hi, lo, x;
            if (sscanf(line, "#! lsn=%X/%X xid=%u", &hi, &lo, &x) == 3) {
                lsn = (uint64_t)hi << 32 | lo;
                xid = x;
                have_meta = 1;
            }
            continue;
        }
        CHECK(have_meta);
        CHECK(n % 2 == 0);
        CHECK(fx->n < MAX_FRAMES);
        if (fx->n >= MAX_FRAMES)
            break;
        frame_t *f = &fx->f[fx->n++];
        f->len = (size_t)n / 2;
        f->data = malloc(f->len ? f->len : 1);
        for (size_t i = 0; i < f->len; i++) {
            int h = hexval(line[2 * i]), l = hexval(line[2 * i + 1]);
            CHECK(h >= 0 && l >= 0);
            f->data[i] = (char)(h << 4 | (l & 15));
        }
        f->lsn = lsn;
        f->xid = xid;
        have_meta = 0;
    }
    free(line);
    fclose(fp);
    return 0;
}

/* Decode frame i of fx into slot s; a failure is a test failure. */
static w2k_pgmsg_t *dec(const fixture_t *fx, int i, int s)
{
    w2k_pgmsg_t *m = &slot[s];
    memset(m, 0xa5, sizeof *m);
    if (i >= fx->n) {
        fprintf(stderr, "%s: no frame %d (have %d)\n", fx->name, i, fx->n);
        unit_failures++;
        m->kind = (w2k_pgmsg_kind_t)0;
        return m;
    }
    int rc = w2k_pgoutput_decode(fx->f[i].data, fx->f[i].len, m, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s frame %d: %s\n", fx->name, i, err);
    CHECK_INT(rc, 0);
    return m;
}

static const fixture_t *fixture(const char *name)
{
    for (size_t i = 0; i < NFIXTURES; i++)
        if (strcmp(fixture_names[i], name) == 0)
            return &fixtures[i];
    return NULL;
}

/* Check a tuple against specs: "n", "u", "t:<text>" or "b:<hex>", NULL-terminated. */
static void check_tuple_at(const char *file, int line, const w2k_pgtuple_t *t, const char **spec)
{
    int n = 0;
    while (spec[n])
        n++;
    if (t->ncols != n) {
        fprintf(stderr, "%s:%d: tuple has %u columns, want %d\n", file, line, t->ncols, n);
        unit_failures++;
        return;
    }
    for (int i = 0; i < n; i++) {
        const w2k_pgdatum_t *d = &t->cols[i];
        const char *s = spec[i];
        char want[512];
        size_t wlen = 0;
        unit_checks++;
        if (s[0] == 'b') {
            for (size_t j = 2; s[j] && s[j + 1]; j += 2)
                want[wlen++] = (char)(hexval(s[j]) << 4 | hexval(s[j + 1]));
        } else if (s[0] == 't') {
            wlen = strlen(s + 2);
            memcpy(want, s + 2, wlen);
        }
        int ok = d->kind == s[0];
        if (ok && (s[0] == 'n' || s[0] == 'u'))
            ok = d->len == 0 && d->data == NULL;
        else if (ok)
            ok = d->data != NULL && d->len == wlen && memcmp(d->data, want, wlen) == 0;
        if (!ok) {
            fprintf(stderr, "%s:%d: column %d is '%c' %u bytes \"%.*s\", want %s\n", file, line, i,
                    d->kind, d->len, d->data ? (int)d->len : 0, d->data ? d->data : "", s);
            unit_failures++;
        }
    }
}
#define CHECK_TUPLE(t, ...)                                                                        \
    check_tuple_at(__FILE__, __LINE__, (t), (const char *[]){__VA_ARGS__, NULL})

typedef struct colspec_s {
    int flags;
    const char *name;
    uint32_t oid;
    int32_t typmod;
} colspec_t;

/* Check a Relation message: names, replica identity and every column exactly. */
static void check_relation_at(const char *file, int line, const w2k_pgmsg_t *m, const char *nsp,
                              const char *rel, char ri, const colspec_t *cols, int ncols)
{
    int before = unit_failures;
    CHECK_INT(m->kind, W2K_PGMSG_RELATION);
    CHECK_STR(m->u.relation.nspname, nsp);
    CHECK_STR(m->u.relation.relname, rel);
    CHECK_INT(m->u.relation.replident, ri);
    CHECK_INT(m->u.relation.ncols, ncols);
    for (int i = 0; i < ncols && i < m->u.relation.ncols; i++) {
        CHECK_INT(m->columns[i].flags, cols[i].flags);
        CHECK_STR(m->columns[i].name, cols[i].name);
        CHECK_INT(m->columns[i].type_oid, cols[i].oid);
        CHECK_INT(m->columns[i].typmod, cols[i].typmod);
    }
    if (unit_failures != before)
        fprintf(stderr, "%s:%d: (relation %s.%s above)\n", file, line, nsp, rel);
}
#define CHECK_RELATION(m, nsp, rel, ri, ...)                                                       \
    do {                                                                                           \
        const colspec_t cols_[] = {__VA_ARGS__};                                                   \
        check_relation_at(__FILE__, __LINE__, (m), (nsp), (rel), (ri), cols_,                      \
                          (int)(sizeof cols_ / sizeof cols_[0]));                                  \
    } while (0)

enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT4 = 23,
    OID_TEXT = 25,
    OID_VARCHAR = 1043,
    OID_NUMERIC = 1700
};

/* PostgreSQL timestamps of 2020-01-01 and 2100-01-01, µs since 2000-01-01. */
#define PG_TS_2020 INT64_C(631152000000000)
#define PG_TS_2100 INT64_C(3155760000000000)

/* Rules every captured stream obeys, checked on every fixture: Begin/Commit pair up
 * with matching LSNs, times and the xid the server reported; changes only inside a
 * transaction; each change names a relation announced before it, with as many columns;
 * commits in increasing LSN order; transactional Messages only inside a transaction. */
static void check_stream(const fixture_t *fx)
{
    w2k_pgmsg_t *m = &slot[0];
    int in_txn = 0, ntxn = 0, nrel = 0;
    uint32_t xid = 0, relids[32];
    uint16_t relcols[32];
    uint64_t final_lsn = 0, last_end = 0;
    int64_t begin_time = 0;
    for (int i = 0; i < fx->n; i++) {
        const frame_t *f = &fx->f[i];
        int rc = w2k_pgoutput_decode(f->data, f->len, m, err, sizeof err);
        if (rc != 0)
            fprintf(stderr, "%s frame %d: %s\n", fx->name, i, err);
        CHECK_INT(rc, 0);
        if (rc != 0)
            continue;
        uint32_t relid = 0;
        uint16_t ncols = 0;
        switch (m->kind) {
        case W2K_PGMSG_BEGIN:
            CHECK(!in_txn);
            in_txn = 1;
            ntxn++;
            xid = m->u.begin.xid;
            CHECK_INT(xid, f->xid);
            final_lsn = m->u.begin.final_lsn;
            CHECK(final_lsn > last_end);
            CHECK(f->lsn <= final_lsn);
            begin_time = m->u.begin.commit_time;
            CHECK(begin_time > PG_TS_2020 && begin_time < PG_TS_2100);
            break;
        case W2K_PGMSG_COMMIT:
            CHECK(in_txn);
            in_txn = 0;
            CHECK_INT(m->u.commit.flags, 0);
            CHECK_INT(m->u.commit.commit_lsn, final_lsn);
            CHECK(m->u.commit.end_lsn > m->u.commit.commit_lsn);
            CHECK_INT(m->u.commit.end_lsn, f->lsn);
            CHECK_INT(m->u.commit.commit_time, begin_time);
            CHECK_INT(f->xid, xid);
            last_end = m->u.commit.end_lsn;
            break;
        case W2K_PGMSG_RELATION:
            CHECK(in_txn);
            CHECK(nrel < 32);
            if (nrel < 32) {
                relids[nrel] = m->u.relation.relid;
                relcols[nrel++] = m->u.relation.ncols;
            }
            break;
        case W2K_PGMSG_INSERT:
            relid = m->u.insert.relid;
            ncols = m->newtup.ncols;
            break;
        case W2K_PGMSG_UPDATE:
            relid = m->u.update.relid;
            ncols = m->newtup.ncols;
            if (m->u.update.old_kind)
                CHECK_INT(m->oldtup.ncols, ncols);
            else
                CHECK_INT(m->oldtup.ncols, 0);
            break;
        case W2K_PGMSG_DELETE:
            relid = m->u.delete_.relid;
            ncols = m->oldtup.ncols;
            CHECK(m->u.delete_.old_kind == 'K' || m->u.delete_.old_kind == 'O');
            break;
        case W2K_PGMSG_TRUNCATE:
            CHECK(m->u.truncate.nrels > 0);
            for (uint32_t r = 0; r < m->u.truncate.nrels; r++) {
                int known = 0;
                for (int k = 0; k < nrel; k++)
                    known |= relids[k] == w2k_pgoutput_truncate_relid(m, r);
                CHECK(known);
            }
            break;
        case W2K_PGMSG_MESSAGE:
            CHECK_INT(m->u.message.lsn, f->lsn);
            if (m->u.message.flags & 1)
                CHECK(in_txn);
            break;
        default:
            break;
        }
        if (m->kind != W2K_PGMSG_MESSAGE && m->kind != W2K_PGMSG_BEGIN &&
            m->kind != W2K_PGMSG_COMMIT) {
            CHECK(in_txn);
            CHECK_INT(f->xid, xid);
            CHECK(f->lsn <= final_lsn);
        }
        if (relid) {
            int k = nrel - 1;
            while (k >= 0 && relids[k] != relid)
                k--;
            CHECK(k >= 0);
            if (k >= 0)
                CHECK_INT(ncols, relcols[k]);
        }
    }
    CHECK(!in_txn);
    CHECK(ntxn > 0);
}

static void test_basic(void)
{
    const fixture_t *fx = fixture("basic");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 10);
    CHECK_INT(dec(fx, 0, 0)->kind, W2K_PGMSG_BEGIN);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "public", "accounts", 'd', {1, "id", OID_INT4, -1},
                   {0, "owner", OID_VARCHAR, 40 + 4},
                   {0, "balance", OID_NUMERIC, (12 << 16 | 2) + 4}, {0, "active", OID_BOOL, -1});
    uint32_t relid = m->u.relation.relid;
    CHECK(relid >= 16384);
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_INSERT);
    CHECK_INT(m->u.insert.relid, relid);
    CHECK_TUPLE(&m->newtup, "t:1", "t:alice", "t:100.50", "t:t");
    CHECK_INT(dec(fx, 3, 0)->kind, W2K_PGMSG_COMMIT);

    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.relid, relid);
    CHECK_INT(m->u.update.old_kind, 0);
    CHECK_INT(m->oldtup.ncols, 0);
    CHECK_TUPLE(&m->newtup, "t:1", "t:alice", "t:75.25", "t:t");

    m = dec(fx, 8, 2);
    CHECK_INT(m->kind, W2K_PGMSG_DELETE);
    CHECK_INT(m->u.delete_.relid, relid);
    CHECK_INT(m->u.delete_.old_kind, 'K');
    CHECK_TUPLE(&m->oldtup, "t:1", "n", "n", "n");

    /* Three autocommit transactions with consecutive xids, in commit order. */
    w2k_pgmsg_t *b1 = dec(fx, 0, 0), *b2 = dec(fx, 4, 1), *b3 = dec(fx, 7, 3);
    CHECK_INT(b2->u.begin.xid, b1->u.begin.xid + 1);
    CHECK_INT(b3->u.begin.xid, b2->u.begin.xid + 1);
    CHECK(b1->u.begin.final_lsn < b2->u.begin.final_lsn);
    CHECK(b2->u.begin.final_lsn < b3->u.begin.final_lsn);
    CHECK(b1->u.begin.commit_time <= b2->u.begin.commit_time);
    m = dec(fx, 9, 2);
    CHECK_INT(m->kind, W2K_PGMSG_COMMIT);
    CHECK_INT(m->u.commit.commit_lsn, b3->u.begin.final_lsn);
    CHECK_INT(m->u.commit.commit_time, b3->u.begin.commit_time);
    CHECK_INT(b3->u.begin.xid, fx->f[7].xid);
}

static void test_pkchange(void)
{
    const fixture_t *fx = fixture("pkchange");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 7);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "public", "pairs", 'd', {1, "a", OID_INT4, -1}, {1, "b", OID_TEXT, -1},
                   {0, "note", OID_TEXT, -1});
    uint32_t relid = m->u.relation.relid;
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.relid, relid);
    CHECK_INT(m->u.update.old_kind, 'K');
    CHECK_TUPLE(&m->oldtup, "t:1", "t:x", "n");
    CHECK_TUPLE(&m->newtup, "t:2", "t:x", "t:first");
    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.old_kind, 0);
    CHECK_TUPLE(&m->newtup, "t:2", "t:x", "t:second");
}

static void test_identfull(void)
{
    const fixture_t *fx = fixture("identfull");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 7);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "public", "events", 'f', {1, "id", OID_INT4, -1}, {1, "kind", OID_TEXT, -1},
                   {1, "payload", OID_TEXT, -1});
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.old_kind, 'O');
    CHECK_TUPLE(&m->oldtup, "t:7", "t:click", "t:left");
    CHECK_TUPLE(&m->newtup, "t:7", "t:click", "t:right");
    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_DELETE);
    CHECK_INT(m->u.delete_.old_kind, 'O');
    CHECK_TUPLE(&m->oldtup, "t:7", "t:click", "t:right");
}

static void test_identindex(void)
{
    const fixture_t *fx = fixture("identindex");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 7);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "public", "badges", 'i', {0, "id", OID_INT4, -1}, {1, "code", OID_TEXT, -1},
                   {0, "label", OID_TEXT, -1});
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.old_kind, 'K');
    CHECK_TUPLE(&m->oldtup, "n", "t:gold", "n");
    CHECK_TUPLE(&m->newtup, "t:1", "t:platinum", "t:Platinum");
    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_DELETE);
    CHECK_INT(m->u.delete_.old_kind, 'K');
    CHECK_TUPLE(&m->oldtup, "n", "t:platinum", "n");
}

static void test_dropped(void)
{
    const fixture_t *fx = fixture("dropped");
    CHECK_INT(fx->n, 4);
    CHECK_RELATION(dec(fx, 1, 1), "public", "shapes", 'd', {1, "id", OID_INT4, -1},
                   {0, "side", OID_INT4, -1});
    CHECK_TUPLE(&dec(fx, 2, 2)->newtup, "t:1", "t:3");
}

static void test_nulls(void)
{
    const fixture_t *fx = fixture("nulls");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 10);
    CHECK_RELATION(dec(fx, 1, 1), "public", "people", 'd', {1, "id", OID_INT4, -1},
                   {0, "name", OID_TEXT, -1}, {0, "age", OID_INT4, -1}, {0, "email", OID_TEXT, -1});
    CHECK_TUPLE(&dec(fx, 2, 2)->newtup, "t:1", "n", "n", "n");
    m = dec(fx, 5, 2);
    CHECK_INT(m->u.update.old_kind, 0);
    CHECK_TUPLE(&m->newtup, "t:1", "t:bob", "n", "n");
    /* An empty string is a 't' of length 0, not a NULL. */
    m = dec(fx, 8, 2);
    CHECK_INT(m->kind, W2K_PGMSG_INSERT);
    CHECK_TUPLE(&m->newtup, "t:2", "t:", "n", "n");
}

/* The 10000-byte body written as repeat('0123456789', 1000). */
static void check_body(const w2k_pgdatum_t *d)
{
    int ok = d->kind == 't' && d->len == 10000;
    for (uint32_t i = 0; ok && i < d->len; i++)
        ok = d->data[i] == (char)('0' + i % 10);
    CHECK(ok);
}

static void test_toast(void)
{
    const fixture_t *fx = fixture("toast");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 17);
    CHECK_RELATION(dec(fx, 1, 1), "public", "docs", 'd', {1, "id", OID_INT4, -1},
                   {0, "body", OID_TEXT, -1}, {0, "title", OID_TEXT, -1});
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_INSERT);
    CHECK_INT(m->newtup.ncols, 3);
    check_body(&m->newtup.cols[1]);
    CHECK_MEM(m->newtup.cols[2].data, m->newtup.cols[2].len, "v1", 2);
    /* Updating another column: the toasted body is 'u', and no old tuple. */
    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.old_kind, 0);
    CHECK_TUPLE(&m->newtup, "t:1", "u", "t:v2");
    m = dec(fx, 8, 2);
    CHECK_TUPLE(&m->newtup, "t:1", "t:short", "t:v3");
    CHECK_RELATION(dec(fx, 11, 1), "public", "docs_full", 'f', {1, "id", OID_INT4, -1},
                   {1, "body", OID_TEXT, -1}, {1, "title", OID_TEXT, -1});
    /* REPLICA IDENTITY FULL: the old tuple carries the whole body, the new one 'u'. */
    m = dec(fx, 15, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.old_kind, 'O');
    CHECK_INT(m->oldtup.ncols, 3);
    CHECK_TUPLE(&m->newtup, "t:1", "u", "t:v2");
    check_body(&m->oldtup.cols[1]);
    CHECK_MEM(m->oldtup.cols[2].data, m->oldtup.cols[2].len, "v1", 2);
}

static void test_kinds(void)
{
    const fixture_t *fx = fixture("kinds");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 4);
    CHECK_RELATION(dec(fx, 1, 1), "public", "kinds", 'd', {1, "id", OID_INT4, -1},
                   {0, "big", OID_TEXT, -1}, {0, "note", OID_TEXT, -1}, {0, "n", OID_INT4, -1});
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_TUPLE(&m->newtup, "t:1", "u", "n", "t:-2");

    fx = fixture("kinds_binary");
    CHECK_INT(fx->n, 4);
    CHECK_RELATION(dec(fx, 1, 1), "public", "kinds_bin", 'd', {1, "id", OID_INT4, -1},
                   {0, "big", OID_TEXT, -1}, {0, "note", OID_TEXT, -1}, {0, "n", OID_INT4, -1},
                   {0, "f", OID_BOOL, -1});
    m = dec(fx, 2, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    /* Binary: int4 as 4 big-endian bytes, bool as one byte. */
    CHECK_TUPLE(&m->newtup, "b:00000001", "u", "n", "b:fffffffe", "b:01");
}

static void test_truncate(void)
{
    const fixture_t *fx = fixture("truncate");
    w2k_pgmsg_t *m;
    uint32_t parents, extras, children, loners;
    CHECK_INT(fx->n, 10);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "public", "parents", 'd', {1, "id", OID_INT4, -1});
    parents = m->u.relation.relid;
    m = dec(fx, 2, 1);
    CHECK_RELATION(m, "public", "extras", 'd', {1, "id", OID_INT4, -1});
    extras = m->u.relation.relid;
    m = dec(fx, 3, 1);
    CHECK_RELATION(m, "public", "children", 'd', {1, "id", OID_INT4, -1},
                   {0, "parent", OID_INT4, -1});
    children = m->u.relation.relid;
    /* One message for the whole statement, the cascaded table last. */
    m = dec(fx, 4, 2);
    CHECK_INT(m->kind, W2K_PGMSG_TRUNCATE);
    CHECK_INT(m->u.truncate.options, 1 | 2);
    CHECK_INT(m->u.truncate.nrels, 3);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 0), parents);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 1), extras);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 2), children);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 3), 0);
    m = dec(fx, 7, 1);
    CHECK_RELATION(m, "public", "loners", 'd', {0, "id", OID_INT4, -1});
    loners = m->u.relation.relid;
    m = dec(fx, 8, 2);
    CHECK_INT(m->kind, W2K_PGMSG_TRUNCATE);
    CHECK_INT(m->u.truncate.options, 0);
    CHECK_INT(m->u.truncate.nrels, 1);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 0), loners);
}

static void test_enumtype(void)
{
    const fixture_t *fx = fixture("enumtype");
    w2k_pgmsg_t *t1, *t2, *m;
    CHECK_INT(fx->n, 6);
    t1 = dec(fx, 1, 1);
    CHECK_INT(t1->kind, W2K_PGMSG_TYPE);
    CHECK_STR(t1->u.type.nspname, "public");
    CHECK_STR(t1->u.type.typname, "mood");
    t2 = dec(fx, 2, 2);
    CHECK_INT(t2->kind, W2K_PGMSG_TYPE);
    CHECK_STR(t2->u.type.nspname, "public");
    CHECK_STR(t2->u.type.typname, "_mood");
    m = dec(fx, 3, 3);
    CHECK_RELATION(m, "public", "moods", 'd', {1, "id", OID_INT4, -1}, {0, "m", t1->u.type.oid, -1},
                   {0, "ms", t2->u.type.oid, -1});
    CHECK(t1->u.type.oid >= 16384);
    CHECK_TUPLE(&dec(fx, 4, 0)->newtup, "t:1", "t:happy", "t:{sad,ok}");
}

static void test_messages(void)
{
    const fixture_t *fx = fixture("messages");
    w2k_pgmsg_t *m, *b;
    CHECK_INT(fx->n, 10);
    /* A non-transactional message is decoded at once: ahead of its transaction. */
    m = dec(fx, 0, 0);
    CHECK_INT(m->kind, W2K_PGMSG_MESSAGE);
    CHECK_INT(m->u.message.flags, 0);
    CHECK_STR(m->u.message.prefix, "w2k.now");
    CHECK_MEM(m->u.message.content, m->u.message.len, "\x00\xff\n", 3);
    b = dec(fx, 1, 1);
    CHECK_INT(b->kind, W2K_PGMSG_BEGIN);
    CHECK_INT(fx->f[0].xid, b->u.begin.xid);
    CHECK(m->u.message.lsn <= b->u.begin.final_lsn);
    CHECK_RELATION(dec(fx, 2, 2), "public", "audit", 'd', {1, "id", OID_INT4, -1});
    m = dec(fx, 4, 2);
    CHECK_INT(m->kind, W2K_PGMSG_MESSAGE);
    CHECK_INT(m->u.message.flags, 1);
    CHECK_STR(m->u.message.prefix, "w2k.tx");
    CHECK_MEM(m->u.message.content, m->u.message.len, "inside", 6);
    CHECK(m->u.message.lsn > fx->f[3].lsn);
    CHECK(m->u.message.lsn < b->u.begin.final_lsn);
    m = dec(fx, 6, 2);
    CHECK_INT(m->kind, W2K_PGMSG_MESSAGE);
    CHECK_INT(m->u.message.flags, 0);
    CHECK_STR(m->u.message.prefix, "w2k.alone");
    CHECK_INT(m->u.message.len, 0);
    CHECK_INT(fx->f[6].xid, 0);
    /* A transaction holding only a transactional message is sent with Begin/Commit. */
    b = dec(fx, 7, 1);
    CHECK_INT(b->kind, W2K_PGMSG_BEGIN);
    m = dec(fx, 8, 2);
    CHECK_INT(m->u.message.flags, 1);
    CHECK_STR(m->u.message.prefix, "w2k.txonly");
    CHECK_MEM(m->u.message.content, m->u.message.len, "only a message", 14);
    CHECK_INT(dec(fx, 9, 3)->kind, W2K_PGMSG_COMMIT);
}

static void test_multitable(void)
{
    const fixture_t *fx = fixture("multitable");
    w2k_pgmsg_t *m, *b1, *b2;
    uint32_t items, orders;
    CHECK_INT(fx->n, 10);
    m = dec(fx, 1, 1);
    CHECK_RELATION(m, "inventory", "items", 'd', {1, "sku", OID_TEXT, -1},
                   {0, "qty", OID_INT4, -1});
    items = m->u.relation.relid;
    m = dec(fx, 2, 2);
    CHECK_INT(m->u.insert.relid, items);
    CHECK_TUPLE(&m->newtup, "t:A-1", "t:10");
    m = dec(fx, 3, 1);
    CHECK_RELATION(m, "public", "orders", 'd', {1, "id", OID_INT8, -1}, {0, "sku", OID_TEXT, -1},
                   {0, "amount", OID_INT4, -1});
    orders = m->u.relation.relid;
    m = dec(fx, 4, 2);
    CHECK_INT(m->u.insert.relid, orders);
    CHECK_TUPLE(&m->newtup, "t:100", "t:A-1", "t:3");
    m = dec(fx, 5, 2);
    CHECK_INT(m->kind, W2K_PGMSG_UPDATE);
    CHECK_INT(m->u.update.relid, items);
    CHECK_TUPLE(&m->newtup, "t:A-1", "t:7");
    CHECK_INT(dec(fx, 6, 2)->kind, W2K_PGMSG_COMMIT);
    /* The temp-table insert and the CREATE TABLE in between had xids of their own but
     * no published change: PostgreSQL 15 sends nothing for them, not even Begin/Commit. */
    b1 = dec(fx, 0, 0);
    b2 = dec(fx, 7, 3);
    CHECK_INT(b2->kind, W2K_PGMSG_BEGIN);
    CHECK_INT(b2->u.begin.xid, b1->u.begin.xid + 4);
    m = dec(fx, 8, 2);
    CHECK_INT(m->u.insert.relid, orders);
    CHECK_TUPLE(&m->newtup, "t:101", "t:A-1", "t:1");
}

static void test_origin(void)
{
    const fixture_t *fx = fixture("origin");
    w2k_pgmsg_t *m;
    CHECK_INT(fx->n, 5);
    m = dec(fx, 0, 0);
    CHECK_INT(m->kind, W2K_PGMSG_BEGIN);
    /* The commit time is the one pg_replication_origin_xact_setup() gave:
     * 2024-01-02 03:04:05 UTC. */
    CHECK_INT(m->u.begin.commit_time + W2K_PG_EPOCH_OFFSET_US, INT64_C(1704164645000000));
    m = dec(fx, 1, 1);
    CHECK_INT(m->kind, W2K_PGMSG_ORIGIN);
    CHECK_INT(m->u.origin.lsn, 0x0ABCDEF0);
    CHECK_STR(m->u.origin.name, "upstream1");
    CHECK_RELATION(dec(fx, 2, 2), "public", "replicated", 'd', {1, "id", OID_INT4, -1});
    CHECK_TUPLE(&dec(fx, 3, 2)->newtup, "t:1");
}

/* Decode a copy of len bytes in a heap block of exactly len bytes, so that a read past
 * len is a read past the allocation (caught by ASan and valgrind). The copy lives until
 * the next call, as the decoded pointers point into it; decode_exact_free() drops it. */
static char *exact_copy;

static void decode_exact_free(void)
{
    free(exact_copy);
    exact_copy = NULL;
}

static int decode_exact(const char *data, size_t len, w2k_pgmsg_t *m, char *e, size_t esz)
{
    decode_exact_free();
    exact_copy = malloc(len ? len : 1);
    if (len)
        memcpy(exact_copy, data, len);
    return w2k_pgoutput_decode(len ? exact_copy : NULL, len, m, e, esz);
}

/* Every proper prefix of every captured frame is an error, never a crash or an
 * over-read; one extra byte at the end is an error too. */
static void test_truncations(void)
{
    w2k_pgmsg_t *m = &slot[0];
    for (size_t x = 0; x < NFIXTURES; x++) {
        const fixture_t *fx = &fixtures[x];
        for (int i = 0; i < fx->n; i++) {
            const frame_t *f = &fx->f[i];
            char *buf = malloc(f->len + 1);
            int bad = 0;
            for (size_t k = 0; k < f->len; k++) {
                err[0] = 'x';
                int rc = decode_exact(f->data, k, m, err, sizeof err);
                if (rc != -1 || strncmp(err, "pgoutput: ", 10) != 0 ||
                    (k > 0 && !strstr(err, "truncated"))) {
                    if (!bad++)
                        fprintf(stderr, "%s frame %d prefix %zu: rc %d, \"%s\"\n", fx->name, i, k,
                                rc, err);
                }
            }
            CHECK_INT(bad, 0);
            memcpy(buf, f->data, f->len);
            buf[f->len] = 0;
            CHECK_INT(w2k_pgoutput_decode(buf, f->len + 1, m, err, sizeof err), -1);
            CHECK(strstr(err, "1 unexpected bytes after the") != NULL);
            free(buf);
        }
    }
}

/* Exact error texts for a few hand-made truncations and corruptions. */
static void test_errors(void)
{
    const fixture_t *fx = fixture("basic");
    w2k_pgmsg_t *m = &slot[0];
    const frame_t *ins = &fx->f[2], *upd = &fx->f[5], *del = &fx->f[8];
    char buf[256];

    /* Update: 'U', relid, 'N', ncols, 't', then the 4-byte length of which 1 is there. */
    CHECK_INT(decode_exact(upd->data, 10, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Update message at offset 9 (need 4 bytes, have 1)");
    CHECK_INT(decode_exact(upd->data, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: empty message");

    /* A Relation cut inside its namespace name. */
    const frame_t *rel = &fx->f[1];
    CHECK_INT(decode_exact(rel->data, 8, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Relation message at offset 5 (namespace has no "
                   "terminating NUL within the 3 remaining bytes)");

    /* Unknown column kind. */
    memcpy(buf, ins->data, ins->len);
    CHECK_INT(buf[8], 't');
    buf[8] = 'x';
    CHECK_INT(decode_exact(buf, ins->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unknown column kind 'x' (0x78) in Insert message at offset 8");
    buf[8] = (char)0x80;
    CHECK_INT(decode_exact(buf, ins->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unknown column kind 0x80 in Insert message at offset 8");

    /* Wrong tuple markers: Insert takes only 'N', Delete only 'K'/'O', Update 'K'/'O'/'N'. */
    memcpy(buf, ins->data, ins->len);
    buf[5] = 'K';
    CHECK_INT(decode_exact(buf, ins->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unexpected tuple marker 'K' (0x4b) in Insert message at offset 5 "
                   "(want 'N')");
    memcpy(buf, del->data, del->len);
    buf[5] = 'N';
    CHECK_INT(decode_exact(buf, del->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unexpected tuple marker 'N' (0x4e) in Delete message at offset 5 "
                   "(want 'K' or 'O')");
    memcpy(buf, upd->data, upd->len);
    buf[5] = 'X';
    CHECK_INT(decode_exact(buf, upd->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unexpected tuple marker 'X' (0x58) in Update message at offset 5 "
                   "(want 'K', 'O' or 'N')");

    /* An Update whose old tuple is followed by something other than 'N'. */
    const frame_t *pk = &fixture("pkchange")->f[2];
    memcpy(buf, pk->data, pk->len);
    CHECK_INT(buf[21], 'N');
    buf[21] = 'O';
    CHECK_INT(decode_exact(buf, pk->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unexpected tuple marker 'O' (0x4f) in Update message at offset 21 "
                   "(want 'N')");

    /* A protocol version 2 change carries an xid before the relid: not version 1. */
    buf[0] = 'I';
    memcpy(buf + 1, "\x00\x00\x03\x00", 4);
    memcpy(buf + 5, ins->data + 1, ins->len - 1);
    CHECK_INT(decode_exact(buf, ins->len + 4, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: unexpected tuple marker 0x00 in Insert message at offset 5 "
                   "(want 'N')");

    /* Commit flags must be 0; Begin needs a final LSN; replica identity is one of four. */
    const frame_t *com = &fx->f[3];
    memcpy(buf, com->data, com->len);
    buf[1] = 1;
    CHECK_INT(decode_exact(buf, com->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: Commit message has unknown flags 0x01 at offset 1");
    memcpy(buf, fx->f[0].data, fx->f[0].len);
    memset(buf + 1, 0, 8);
    CHECK_INT(decode_exact(buf, fx->f[0].len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: Begin message has final_lsn 0 at offset 1");
    memcpy(buf, rel->data, rel->len);
    CHECK_INT(buf[21], 'd');
    buf[21] = 'x';
    CHECK_INT(decode_exact(buf, rel->len, m, err, sizeof err), -1);
    CHECK_STR(err,
              "pgoutput: unknown replica identity 'x' (0x78) in Relation message at offset 21");

    /* A Truncate claiming more relations than the frame holds. */
    const frame_t *tr = &fixture("truncate")->f[4];
    memcpy(buf, tr->data, tr->len);
    buf[4] = 4;
    CHECK_INT(decode_exact(buf, tr->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Truncate message at offset 6 (need 4 bytes for each of 4 "
                   "relations, have 12)");
    memset(buf + 1, 0xff, 4);
    CHECK_INT(decode_exact(buf, tr->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Truncate message at offset 6 (need 4 bytes for each of "
                   "4294967295 relations, have 12)");

    /* A Message whose content length exceeds the frame. */
    const frame_t *msgf = &fixture("messages")->f[4];
    memcpy(buf, msgf->data, msgf->len);
    CHECK_INT(buf[20], 6);
    buf[20] = 7;
    CHECK_INT(decode_exact(buf, msgf->len, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Message message at offset 21 (need 7 bytes, have 6)");

    /* A tiny or absent error buffer is still safe. */
    CHECK_INT(w2k_pgoutput_decode(upd->data, 10, m, buf, 8), -1);
    CHECK_STR(buf, "pgoutpu");
    CHECK_INT(w2k_pgoutput_decode(upd->data, 10, m, NULL, 0), -1);
    buf[0] = 'z';
    CHECK_INT(w2k_pgoutput_decode(upd->data, 10, m, buf, 0), -1);
    CHECK_INT(buf[0], 'z');
}

/* Every first byte that is not a version 1 message type is refused, naming the byte. */
static void test_kind_bytes(void)
{
    const frame_t *f = &fixture("basic")->f[2];
    w2k_pgmsg_t *m = &slot[0];
    char buf[256], want[128];
    static const char v1[] = "BCORYIUDTM";
    static const char *later[][2] = {{"S", "Stream Start (protocol version 2)"},
                                     {"E", "Stream Stop (protocol version 2)"},
                                     {"c", "Stream Commit (protocol version 2)"},
                                     {"A", "Stream Abort (protocol version 2)"},
                                     {"b", "Begin Prepare (protocol version 3)"},
                                     {"P", "Prepare (protocol version 3)"},
                                     {"K", "Commit Prepared (protocol version 3)"},
                                     {"r", "Rollback Prepared (protocol version 3)"},
                                     {"p", "Stream Prepare (protocol version 3)"}};
    int refused = 0;
    memcpy(buf, f->data, f->len);
    for (int c = 0; c < 256; c++) {
        if (c && strchr(v1, c))
            continue;
        buf[0] = (char)c;
        if (w2k_pgoutput_decode(buf, f->len, m, err, sizeof err) == -1 &&
            strstr(err, "at offset 0"))
            refused++;
    }
    CHECK_INT(refused, 256 - 10);
    buf[0] = 'Z';
    w2k_pgoutput_decode(buf, f->len, m, err, sizeof err);
    CHECK_STR(err, "pgoutput: unknown message type 'Z' (0x5a) at offset 0");
    buf[0] = 0;
    w2k_pgoutput_decode(buf, f->len, m, err, sizeof err);
    CHECK_STR(err, "pgoutput: unknown message type 0x00 at offset 0");
    for (size_t i = 0; i < sizeof later / sizeof later[0]; i++) {
        buf[0] = later[i][0][0];
        CHECK_INT(w2k_pgoutput_decode(buf, f->len, m, err, sizeof err), -1);
        snprintf(want, sizeof want,
                 "pgoutput: message type '%c' (0x%02x) at offset 0 is %s, which protocol "
                 "version 1 does not send",
                 later[i][0][0], later[i][0][0], later[i][1]);
        CHECK_STR(err, want);
    }
}

/* Tuples and Relations of exactly W2K_PG_MAX_COLUMNS columns decode; one more is refused. */
static void test_column_limits(void)
{
    w2k_pgmsg_t *m = &slot[0];
    size_t cap = 16 + (W2K_PG_MAX_COLUMNS + 1) * 14;
    char *buf = malloc(cap);
    size_t n;

    for (int extra = 0; extra <= 1; extra++) {
        int ncols = W2K_PG_MAX_COLUMNS + extra;
        n = 0;
        buf[n++] = 'I';
        memcpy(buf + n, "\x00\x00\x40\x00", 4);
        n += 4;
        buf[n++] = 'N';
        buf[n++] = (char)(ncols >> 8);
        buf[n++] = (char)ncols;
        for (int i = 0; i < ncols; i++)
            buf[n++] = i % 2 ? 'n' : 'u';
        int rc = decode_exact(buf, n, m, err, sizeof err);
        if (!extra) {
            CHECK_INT(rc, 0);
            CHECK_INT(m->newtup.ncols, W2K_PG_MAX_COLUMNS);
            CHECK_INT(m->newtup.cols[W2K_PG_MAX_COLUMNS - 1].kind, 'n');
            CHECK_INT(m->newtup.cols[W2K_PG_MAX_COLUMNS - 2].kind, 'u');
        } else {
            CHECK_INT(rc, -1);
            CHECK_STR(err, "pgoutput: Insert message has a tuple of 1665 columns at offset 6 (at "
                           "most 1664)");
        }

        n = 0;
        buf[n++] = 'R';
        memcpy(buf + n, "\x00\x00\x40\x00", 4);
        n += 4;
        memcpy(buf + n, "s\0t\0f", 5);
        n += 5;
        buf[n++] = (char)(ncols >> 8);
        buf[n++] = (char)ncols;
        for (int i = 0; i < ncols; i++) {
            buf[n++] = 1;
            memcpy(buf + n, "c\0\x00\x00\x00\x17\xff\xff\xff\xfe", 10);
            n += 10;
        }
        rc = decode_exact(buf, n, m, err, sizeof err);
        if (!extra) {
            CHECK_INT(rc, 0);
            CHECK_INT(m->u.relation.ncols, W2K_PG_MAX_COLUMNS);
            CHECK_STR(m->u.relation.nspname, "s");
            CHECK_STR(m->u.relation.relname, "t");
            CHECK_INT(m->u.relation.replident, 'f');
            CHECK_STR(m->columns[W2K_PG_MAX_COLUMNS - 1].name, "c");
            CHECK_INT(m->columns[W2K_PG_MAX_COLUMNS - 1].type_oid, 23);
            CHECK_INT(m->columns[W2K_PG_MAX_COLUMNS - 1].typmod, -2);
        } else {
            CHECK_INT(rc, -1);
            CHECK_STR(err, "pgoutput: Relation message has 1665 columns at offset 10 (at most "
                           "1664)");
        }
    }
    free(buf);
}

/* Hand-built frames with values the captures do not hold: the pg_catalog namespace
 * ("" on the wire), negative timestamps, a Type in pg_catalog, an empty Truncate. */
static void test_handmade(void)
{
    w2k_pgmsg_t *m = &slot[0];
    static const char begin[] = "B\x00\x00\x00\x01\x00\x00\x00\x02\xff\xff\xff\xff\xff\xff\xff"
                                "\xfe\xff\xff\xff\xff";
    CHECK_INT(decode_exact(begin, sizeof begin - 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_BEGIN);
    CHECK(m->u.begin.final_lsn == UINT64_C(0x0000000100000002));
    CHECK_INT(m->u.begin.commit_time, -2);
    CHECK(m->u.begin.xid == UINT32_C(0xffffffff));

    static const char type[] = "Y\x00\x00\x00\x19\x00text";
    CHECK_INT(decode_exact(type, sizeof type, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_TYPE);
    CHECK_INT(m->u.type.oid, 25);
    CHECK_STR(m->u.type.nspname, "");
    CHECK_STR(m->u.type.typname, "text");
    CHECK_INT(decode_exact(type, sizeof type - 1, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Type message at offset 6 (type name has no terminating "
                   "NUL within the 4 remaining bytes)");

    static const char trunc[] = "T\x00\x00\x00\x00\x02";
    CHECK_INT(decode_exact(trunc, sizeof trunc - 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_TRUNCATE);
    CHECK_INT(m->u.truncate.nrels, 0);
    CHECK_INT(m->u.truncate.options, 2);
    CHECK_INT(w2k_pgoutput_truncate_relid(m, 0), 0);

    static const char origin[] = "O\x00\x00\x00\x00\x00\x00\x00\x00";
    CHECK_INT(decode_exact(origin, sizeof origin, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_ORIGIN);
    CHECK_STR(m->u.origin.name, "");
    CHECK_INT(decode_exact(origin, sizeof origin - 1, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Origin message at offset 9 (origin name has no "
                   "terminating NUL within the 0 remaining bytes)");

    /* A binary value may contain NUL bytes; its length comes from the frame. */
    static const char ins[] = "I\x00\x00\x40\x00N\x00\x01\x62\x00\x00\x00\x03\x00\x00\x01";
    CHECK_INT(decode_exact(ins, sizeof ins - 1, m, err, sizeof err), 0);
    CHECK_TUPLE(&m->newtup, "b:000001");
}

/* Protocol version 2: Stream Start/Stop/Commit/Abort, and the xid that data messages
 * carry inside a streamed block (the layout of PostgreSQL 14+'s proto.c). */
static void test_streamed(void)
{
    w2k_pgmsg_t *m = &slot[0];
    static const char start[] = "S\x00\x00\x02\xe5\x01";
    CHECK_INT(decode_exact(start, sizeof start - 1, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: message type 'S' (0x53) at offset 0 is Stream Start (protocol "
                   "version 2), which protocol version 1 does not send");
    CHECK_INT(w2k_pgoutput_decode_v2(start, sizeof start - 1, 0, m, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(m->kind, W2K_PGMSG_STREAM_START);
    CHECK_INT(m->u.stream_start.xid, 741);
    CHECK_INT(m->u.stream_start.first_segment, 1);
    CHECK_INT(m->xid, 0);
    static const char bad_start[] = "S\x00\x00\x02\xe5\x02";
    CHECK_INT(w2k_pgoutput_decode_v2(bad_start, sizeof bad_start - 1, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: Stream Start message has first_segment 2 at offset 5");
    CHECK_INT(w2k_pgoutput_decode_v2(start, sizeof start - 2, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Stream Start message at offset 5 (need 1 bytes, have 0)");

    CHECK_INT(w2k_pgoutput_decode_v2("E", 1, 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_STREAM_STOP);
    CHECK_INT(w2k_pgoutput_decode_v2("Ex", 2, 1, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: 1 unexpected bytes after the Stream Stop message at offset 1");

    static const char commit[] = "c\x00\x00\x02\xe5\x00\x00\x00\x00\x00\x01\x00\x00\x28"
                                 "\x00\x00\x00\x00\x01\x00\x00\x58\xff\xff\xff\xff\xff\xff"
                                 "\xff\xfe";
    CHECK_INT(w2k_pgoutput_decode_v2(commit, sizeof commit - 1, 0, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_STREAM_COMMIT);
    CHECK_INT(m->u.stream_commit.xid, 741);
    CHECK(m->u.stream_commit.commit_lsn == UINT64_C(0x1000028));
    CHECK(m->u.stream_commit.end_lsn == UINT64_C(0x1000058));
    CHECK_INT(m->u.stream_commit.commit_time, -2);
    char flagged[sizeof commit];
    memcpy(flagged, commit, sizeof commit);
    flagged[5] = 1;
    CHECK_INT(w2k_pgoutput_decode_v2(flagged, sizeof commit - 1, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: Stream Commit message has unknown flags 0x01 at offset 5");
    CHECK_INT(w2k_pgoutput_decode_v2(commit, sizeof commit - 2, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Stream Commit message at offset 22 (need 8 bytes, have 7)");

    static const char abort_sub[] = "A\x00\x00\x02\xe5\x00\x00\x02\xe6";
    CHECK_INT(w2k_pgoutput_decode_v2(abort_sub, sizeof abort_sub - 1, 0, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_STREAM_ABORT);
    CHECK_INT(m->u.stream_abort.xid, 741);
    CHECK_INT(m->u.stream_abort.subxid, 742);
    CHECK_INT(w2k_pgoutput_decode_v2(abort_sub, sizeof abort_sub - 2, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated Stream Abort message at offset 5 (need 4 bytes, have 3)");

    /* Inside a block, the data messages start with the (sub)transaction's xid. */
    static const char ins[] = "I\x00\x00\x02\xe6\x00\x00\x40\x00N\x00\x01t\x00\x00\x00\x02"
                              "42";
    CHECK_INT(w2k_pgoutput_decode_v2(ins, sizeof ins - 1, 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_INSERT);
    CHECK_INT(m->xid, 742);
    CHECK_INT(m->u.insert.relid, 16384);
    CHECK_TUPLE(&m->newtup, "t:42");
    /* ...which outside a block is not there: the same bytes are malformed */
    CHECK_INT(w2k_pgoutput_decode_v2(ins, sizeof ins - 1, 0, m, err, sizeof err), -1);
    CHECK_INT(w2k_pgoutput_decode_v2(ins, 3, 1, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: truncated streamed message at offset 1 (need 4 bytes, have 2)");
    static const char rel[] = "R\x00\x00\x02\xe5\x00\x00\x40\x00public\x00t\x00"
                              "d\x00\x00";
    CHECK_INT(w2k_pgoutput_decode_v2(rel, sizeof rel - 1, 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_RELATION);
    CHECK_INT(m->xid, 741);
    CHECK_STR(m->u.relation.relname, "t");
    static const char trunc[] = "T\x00\x00\x02\xe5\x00\x00\x00\x00\x02";
    CHECK_INT(w2k_pgoutput_decode_v2(trunc, sizeof trunc - 1, 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_TRUNCATE);
    CHECK_INT(m->xid, 741);
    CHECK_INT(m->u.truncate.options, 2);
    /* Begin and Commit never carry one */
    static const char begin[] = "B\x00\x00\x00\x01\x00\x00\x00\x02\xff\xff\xff\xff\xff\xff\xff"
                                "\xfe\xff\xff\xff\xff";
    CHECK_INT(w2k_pgoutput_decode_v2(begin, sizeof begin - 1, 1, m, err, sizeof err), 0);
    CHECK_INT(m->kind, W2K_PGMSG_BEGIN);
    CHECK_INT(m->xid, 0);
    /* Every captured v1 frame decodes the same with the v2 decoder outside a block. */
    for (size_t i = 0; i < NFIXTURES; i++)
        for (int j = 0; j < fixtures[i].n; j++) {
            const frame_t *f = &fixtures[i].f[j];
            CHECK_INT(w2k_pgoutput_decode_v2(f->data, f->len, 0, m, err, sizeof err), 0);
            CHECK_INT(m->xid, 0);
        }
    /* Protocol 3's messages are refused by name. */
    CHECK_INT(w2k_pgoutput_decode_v2("P", 1, 0, m, err, sizeof err), -1);
    CHECK_STR(err, "pgoutput: message type 'P' (0x50) at offset 0 is Prepare (protocol version "
                   "3), which protocol version 2 does not send");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FIXTURES_DIR\n", argv[0]);
        return 2;
    }
    fixtures_dir = argv[1];
    for (size_t i = 0; i < NFIXTURES; i++)
        if (load_fixture(&fixtures[i], fixture_names[i]) != 0)
            return unit_report("test_pgoutput") | 1;
    for (size_t i = 0; i < NFIXTURES; i++)
        check_stream(&fixtures[i]);
    test_basic();
    test_pkchange();
    test_identfull();
    test_identindex();
    test_dropped();
    test_nulls();
    test_toast();
    test_kinds();
    test_truncate();
    test_enumtype();
    test_messages();
    test_multitable();
    test_origin();
    test_truncations();
    test_errors();
    test_kind_bytes();
    test_column_limits();
    test_handmade();
    test_streamed();
    decode_exact_free();
    for (size_t i = 0; i < NFIXTURES; i++)
        for (int j = 0; j < fixtures[i].n; j++)
            free(fixtures[i].f[j].data);
    return unit_report("test_pgoutput");
}
