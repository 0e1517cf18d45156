/* test_pubplan.c — the publication plan on hand-built observed states: a new stream,
 * nothing changed, tables added and removed, a row filter changed, sets of operations
 * (pushdown) and filters = connector, a publication someone else changed, a renamed
 * table, pending and retired publications, tables missing, partitioned tables (via
 * their root on 13+, their leaf partitions before). */
#include "catalog.h"
#include "pubplan.h"
#include "unit.h"

#include <stdlib.h>

#define MAXT 4

/* A publication as a fake server holds it (storage for a w2k_pubstate_t). */
typedef struct fakepub_s {
    w2k_pubstate_t s;
    char comment[512];
    w2k_pubnote_t notes[MAXT];
    w2k_pubmember_t m[MAXT];
} fakepub_t;

typedef struct fixture_s {
    w2k_table_cfg_t tables[MAXT];
    char clauses[MAXT][128];
    w2k_pubwant_table_t wt[MAXT];
    w2k_stream_cfg_t st;
    w2k_pubset_t ps;
    w2k_pubwant_t want;
    w2k_pubobs_table_t otables[MAXT];
    fakepub_t pub[W2K_MAX_PUBLICATIONS];
    fakepub_t other[W2K_PUBPLAN_ROW_SETS];
    w2k_pubobs_t obs;
    w2k_pubplan_t plan;
    uint32_t next_member;
    bool said;             /* pending publications were announced */
    unsigned lacks;        /* what the fake server cannot publish (TRUNCATE: PostgreSQL 10) */
    uint32_t signal_relid; /* before 14: the signal table's OID, held by the publication */
    bool via_root;         /* 13+: publish_via_partition_root */
    bool generated;        /* 18+: publish_generated_columns */
} fixture_t;

static void fake_comment(fakepub_t *p, const char *comment)
{
    snprintf(p->comment, sizeof p->comment, "%s", comment);
    p->s.comment = p->comment;
    p->s.notes = p->notes;
    p->s.nnotes = 0;
    w2k_catalog_parse_tag(p->comment, &p->s.tag);
    w2k_pubnote_t n;
    for (size_t pos = 0; p->s.nnotes < MAXT && w2k_catalog_tag_note(&p->s.tag, &pos, &n);)
        p->notes[p->s.nnotes++] = n;
}

static void fake_absent(fakepub_t *p)
{
    memset(p, 0, sizeof *p);
    p->s.m = p->m;
    fake_comment(p, "");
}

/* Table i of the fixture: public.<name> with OID 16384 + i, a clause as catalog.c
 * quotes it, and a row filter when given. */
static void add_table(fixture_t *f, const char *name, unsigned ops, const char *filter)
{
    int i = f->st.ntables++;
    f->tables[i] = (w2k_table_cfg_t){.schema = "public",
                                     .name = (char *)name,
                                     .filter = (char *)filter,
                                     .ops = ops,
                                     .line = 10 + i};
    snprintf(f->clauses[i], sizeof f->clauses[i], "\"public\".\"%s\"%s%s%s", name,
             filter ? " WHERE (" : "", filter ? filter : "", filter ? ")" : "");
    f->wt[i] = (w2k_pubwant_table_t){f->clauses[i], NULL, NULL};
    f->otables[i] = (w2k_pubobs_table_t){true, 'r', 16384u + (uint32_t)i, false, 0, NULL, NULL};
}

static void fixture_init(fixture_t *f)
{
    memset(f, 0, sizeof *f);
    f->st.name = "s";
    f->st.slot = "s_slot";
    f->st.publication = "wal2kafka_s";
    f->st.tables = f->tables;
    f->next_member = 20000;
    for (int g = 0; g < W2K_MAX_PUBLICATIONS; g++)
        fake_absent(&f->pub[g]);
    for (int k = 0; k < W2K_PUBPLAN_ROW_SETS; k++)
        fake_absent(&f->other[k]);
}

/* Plan with the stream's set of publications computed for pushdown. */
static void plan(fixture_t *f, bool pushdown, bool resuming)
{
    w2k_pubplan_free(&f->plan);
    bool in_use = f->ps.in_use;
    w2k_catalog_pubset(&f->st, pushdown, &f->ps);
    f->ps.in_use = in_use;
    f->want = (w2k_pubwant_t){
        "w.cfg",     &f->st,      f->wt,    &f->ps,
        resuming,    f->said,     f->lacks, f->signal_relid ? "\"wal2kafka\".\"signal\"" : NULL,
        f->via_root, f->generated};
    memset(&f->obs, 0, sizeof f->obs);
    f->obs.tables = f->otables;
    f->obs.signal_relid = f->signal_relid;
    for (int g = 0; g < f->ps.n; g++)
        f->obs.pub[g] = &f->pub[g].s;
    for (unsigned k = 0; k < W2K_PUBPLAN_ROW_SETS; k++) {
        char name[64];
        w2k_pubplan_group_name(f->ps.pub[0].name, k, name);
        bool named = false;
        for (int g = 0; g < f->ps.n; g++)
            named |= strcmp(f->ps.pub[g].name, name) == 0;
        f->obs.other[k] = named || in_use ? NULL : &f->other[k].s;
    }
    CHECK_INT(w2k_pubplan_make(&f->plan, &f->want, &f->obs), 0);
}

/* The kinds of the plan's actions, one letter each, for comparing. */
static const char *kinds(const w2k_pubplan_t *p)
{
    static char out[64];
    const char *letters = "DSFNKWCTEPcRrLd";
    int n = 0;
    for (int i = 0; i < p->nact && n < (int)sizeof out - 1; i++)
        out[n++] = letters[p->act[i].kind];
    out[n] = '\0';
    return out;
}

/* The fake server after the plan's statements and comments ran: every publication
 * of the plan exists with its tables (a new membership for each table added or whose
 * clause changed) and the comment the plan writes. */
static void settle(fixture_t *f)
{
    const w2k_pubplan_t *p = &f->plan;
    for (int g = 0; g < p->ps.n; g++) {
        fakepub_t *fp = &f->pub[g];
        if (p->pub[g].same)
            continue;
        w2k_pubmember_t old[MAXT];
        int nold = fp->s.n;
        memcpy(old, fp->m, sizeof old);
        fp->s.exists = true;
        fp->s.ops = p->ps.pub[g].publish & ~f->lacks;
        fp->s.m = fp->m;
        fp->s.n = 0;
        for (int i = 0; i < p->ntables; i++) {
            if (p->tables[i].g != g)
                continue;
            uint32_t member = 0;
            for (int k = 0; k < nold; k++)
                if (old[k].relid == p->tables[i].relid)
                    member = old[k].member;
            fp->m[fp->s.n++] =
                (w2k_pubmember_t){p->tables[i].relid, member ? member : f->next_member++};
        }
        if (g == 0 && p->signal_relid)
            fp->m[fp->s.n++] = (w2k_pubmember_t){p->signal_relid, f->next_member++};
        w2k_buf_t b = W2K_BUF_INIT;
        w2k_pubplan_comment(p, g, &fp->s, &b);
        fake_comment(fp, b.data);
        w2k_buf_free(&b);
    }
}

static const w2k_pubaction_t *find_act(const w2k_pubplan_t *p, w2k_pubact_kind_t kind, int nth)
{
    for (int i = 0; i < p->nact; i++)
        if (p->act[i].kind == kind && nth-- == 0)
            return &p->act[i];
    return NULL;
}

static const char *act_text(const w2k_pubplan_t *p, w2k_pubact_kind_t kind, int nth)
{
    const w2k_pubaction_t *a = find_act(p, kind, nth);
    return a && a->text ? a->text : "(none)";
}

static void test_new_stream(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "items", W2K_OP_ALL, "qty > 0");
    plan(&f, true, false);
    /* create, comment with the memberships it got, say so */
    CHECK_STR(kinds(&f.plan), "cRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0),
              "FOR TABLE \"public\".\"orders\", \"public\".\"items\" WHERE (qty > 0)");
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    CHECK(!f.plan.pub[0].exists);
    CHECK_INT(f.plan.pub[0].ntables, 2);
    CHECK_STR(f.plan.ps.names, "wal2kafka_s");
    /* the comment: the tag of the definition, then a note per table */
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_pubstate_t now = {0};
    w2k_pubmember_t m[2] = {{16384, 30001}, {16385, 30002}};
    now.m = m;
    now.n = 2;
    w2k_pubplan_comment(&f.plan, 0, &now, &b);
    char want[256];
    snprintf(want, sizeof want, "%s 16384:30001:%016" PRIx64 " 16385:30002:%016" PRIx64,
             f.plan.pub[0].tag.data, w2k_pubplan_name_key("public", "orders"),
             w2k_pubplan_name_key("public", "items"));
    CHECK_STR(b.data, want);
    CHECK(strncmp(b.data, "wal2kafka:", 10) == 0 && strlen(f.plan.pub[0].tag.data) == 26);
    /* for a statement to run by hand: the older notes, without memberships */
    w2k_buf_reset(&b);
    w2k_pubplan_comment(&f.plan, 0, NULL, &b);
    snprintf(want, sizeof want, "%s 16384:%016" PRIx64 " 16385:%016" PRIx64, f.plan.pub[0].tag.data,
             w2k_pubplan_name_key("public", "orders"), w2k_pubplan_name_key("public", "items"));
    CHECK_STR(b.data, want);
    w2k_buf_free(&b);
    w2k_pubplan_free(&f.plan);
}

static void test_unchanged(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "items", W2K_OP_ALL, "qty > 0");
    plan(&f, true, false);
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    CHECK(f.plan.pub[0].same);
    /* the same on a first start with a new slot */
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "");
    w2k_pubplan_free(&f.plan);
}

static void test_table_added_and_removed(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    plan(&f, true, false);
    settle(&f);
    add_table(&f, "items", W2K_OP_ALL, NULL);
    plan(&f, true, true);
    /* the whole table list set again, what it publishes set, comment, log */
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_TABLES, 0),
              "TABLE \"public\".\"orders\", \"public\".\"items\"");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_PUBLISH, 0),
              "publish = 'insert, update, delete, truncate'");
    CHECK(f.plan.pub[0].exists && !f.plan.pub[0].ours && !f.plan.pub[0].lost.len);
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* removed from the configuration: not a loss, no repair */
    f.st.ntables = 1;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_TABLES, 0), "TABLE \"public\".\"orders\"");
    w2k_pubplan_free(&f.plan);
}

static void test_row_filter_changed(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, "total > 10");
    plan(&f, true, false);
    settle(&f);
    char old_tag[32];
    snprintf(old_tag, sizeof old_tag, "%s", f.plan.pub[0].tag.data);
    f.st.ntables = 0;
    add_table(&f, "orders", W2K_OP_ALL, "total > 20");
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_TABLES, 0),
              "TABLE \"public\".\"orders\" WHERE (total > 20)");
    CHECK(strcmp(old_tag, f.plan.pub[0].tag.data) != 0);
    w2k_pubplan_free(&f.plan);
}

static void test_sets_of_operations(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "audit", W2K_OP_INSERT, "kind = 'x'");
    add_table(&f, "items", W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE, NULL);
    plan(&f, true, false);
    CHECK_INT(f.plan.ps.n, 2);
    CHECK_STR(kinds(&f.plan), "ccRRdd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_CREATE, 0)->pub, 0);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0),
              "FOR TABLE \"public\".\"orders\", \"public\".\"items\"");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_CREATE, 1)->pub, 1);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 1),
              "FOR TABLE \"public\".\"audit\" WHERE (kind = 'x')");
    CHECK_STR(f.plan.pub[1].publish.data, "publish = 'insert'");
    CHECK_STR(f.plan.ps.names, "wal2kafka_s,wal2kafka_s_insert");
    /* the other set's comment names the stream's publication */
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_pubplan_comment(&f.plan, 1, NULL, &b);
    CHECK(strstr(b.data, " for wal2kafka_s") != NULL);
    w2k_buf_free(&b);
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    w2k_pubplan_free(&f.plan);
}

static void test_filters_connector(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "audit", W2K_OP_INSERT, NULL);
    plan(&f, false, false);
    /* one publication with every table, publishing everything */
    CHECK_INT(f.plan.ps.n, 1);
    CHECK_STR(kinds(&f.plan), "cRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0),
              "FOR TABLE \"public\".\"orders\", \"public\".\"audit\"");
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    w2k_pubplan_free(&f.plan);
}

/* PostgreSQL 10 cannot publish TRUNCATE: the publication publishes the rest, on every
 * path; its hash is that of what is sent, so the next start finds it unchanged, and
 * the missing truncate is no operation taken away. */
static void test_no_truncate_before_11(void)
{
    fixture_t f;
    fixture_init(&f);
    f.lacks = W2K_OP_TRUNCATE;
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "audit", W2K_OP_INSERT | W2K_OP_TRUNCATE, NULL);
    plan(&f, false, false);
    CHECK_STR(kinds(&f.plan), "cRd");
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete'");
    char tag10[32];
    snprintf(tag10, sizeof tag10, "%s", f.plan.pub[0].tag.data);
    settle(&f);
    CHECK_INT(f.pub[0].s.ops, W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE);
    /* the next start: nothing to do, nothing lost */
    plan(&f, false, true);
    CHECK_STR(kinds(&f.plan), "");
    CHECK(!f.plan.tables[0].lost && !f.plan.tables[1].lost);
    /* an observer that reports truncate for a server without pubtruncate: still the same */
    f.pub[0].s.ops |= W2K_OP_TRUNCATE;
    plan(&f, false, true);
    CHECK_STR(kinds(&f.plan), "");
    /* deletes taken away by someone else are still seen */
    f.pub[0].s.ops = W2K_OP_INSERT | W2K_OP_UPDATE;
    plan(&f, false, true);
    CHECK_STR(kinds(&f.plan), "TPRrrLd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_PUBLISH, 0), "publish = 'insert, update, delete'");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_WARN_LOST, 0),
              "it stopped publishing some operations (publish = 'insert, update')");
    /* the same configuration on 11+: truncate published, another definition */
    f.pub[0].s.ops = W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE;
    f.lacks = 0;
    plan(&f, false, true);
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    CHECK(strcmp(f.plan.pub[0].tag.data, tag10) != 0);
    CHECK_STR(kinds(&f.plan), "TPRd");
    w2k_pubplan_free(&f.plan);
}

/* Before 14 the stream's publication holds the signal table too: in its definition
 * (and hash), not in its comment; the next start finds it unchanged; a publication
 * without it is brought back to it. */
static void test_signal_table_before_14(void)
{
    fixture_t f;
    fixture_init(&f);
    f.signal_relid = 16000;
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    plan(&f, false, false);
    CHECK_STR(kinds(&f.plan), "cRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0),
              "FOR TABLE \"public\".\"orders\", \"wal2kafka\".\"signal\"");
    settle(&f);
    CHECK_INT(f.pub[0].s.n, 2);
    CHECK(strstr(f.pub[0].comment, "16000:") == NULL);
    plan(&f, false, true);
    CHECK_STR(kinds(&f.plan), "");
    /* someone took it out: put back, no table of the stream lost anything */
    f.pub[0].s.n = 1;
    plan(&f, false, true);
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK(!f.plan.tables[0].lost);
    w2k_pubplan_free(&f.plan);
}

static void test_changed_by_someone_else(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "items", W2K_OP_ALL, NULL);
    plan(&f, true, false);
    settle(&f);
    fakepub_t saved = f.pub[0];
    /* items removed and added again: another membership than the comment notes */
    f.pub[0].m[1].member = 29999;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRrLd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_REPAIR, 0)->table, 1);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_WARN_LOST, 0),
              "table public.items was removed and added again, or got another row filter or "
              "column list");
    /* not resuming (a new slot reads every table anyway): only its comment to update */
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "C");
    /* items removed */
    f.pub[0].m[1] = f.pub[0].m[0];
    f.pub[0].s.n = 1;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRrLd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_WARN_LOST, 0), "table public.items was removed from it");
    /* deletes no longer published: every table of it lost changes */
    f.pub[0] = saved;
    f.pub[0].s.m = f.pub[0].m;
    fake_comment(&f.pub[0], saved.comment);
    f.pub[0].s.ops = W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_TRUNCATE;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRrrLd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_WARN_LOST, 0),
              "it stopped publishing some operations (publish = 'insert, update, truncate')");
    w2k_pubplan_free(&f.plan);
}

static void test_renamed_table(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "old_orders", W2K_OP_ALL, NULL);
    plan(&f, true, false);
    settle(&f);
    /* renamed since: published under its new name, still noted under the old one */
    f.st.ntables = 0;
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    f.wt[0].as_schema = "public";
    f.wt[0].as_name = "old_orders";
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK(!find_act(&f.plan, W2K_PUBACT_REPAIR, 0));
    CHECK_INT(f.plan.tables[0].key, w2k_pubplan_name_key("public", "old_orders"));
    settle(&f);
    CHECK_INT(f.pub[0].s.nnotes, 1);
    CHECK_INT(f.pub[0].notes[0].relid, 16384);
    CHECK_INT(f.pub[0].notes[0].key, w2k_pubplan_name_key("public", "old_orders"));
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    w2k_pubplan_free(&f.plan);
}

/* A stream with publication wal2kafka_s (orders) that gets a table of other
 * operations while its slot holds older changes. */
static void pending_fixture(fixture_t *f)
{
    fixture_init(f);
    add_table(f, "orders", W2K_OP_ALL, NULL);
    plan(f, true, false);
    settle(f);
    add_table(f, "audit", W2K_OP_INSERT, NULL);
}

static void test_pending_publication(void)
{
    fixture_t f;
    pending_fixture(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "K");
    CHECK(f.plan.missing);
    /* created pending at 0/1000: the slot must confirm past it */
    w2k_pubplan_created(&f.plan, 0x1000);
    CHECK(f.plan.pub[1].exists && f.plan.pub[1].pending);
    CHECK(!w2k_pubplan_confirmed(&f.plan, 0xfff));
    CHECK(w2k_pubplan_confirmed(&f.plan, 0x1000));
    CHECK_INT(w2k_pubplan_pending(&f.plan, false, "publication does not exist"), 0);
    /* said once; the stream goes on with the publication it has, changed by none */
    CHECK_STR(kinds(&f.plan), "KW");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_WARN_PENDING, 0), "wal2kafka_s_insert");
    CHECK_STR(f.plan.why, "publication does not exist");
    CHECK(f.plan.ps.pub[1].pending);
    CHECK_STR(f.plan.ps.names, "wal2kafka_s");

    /* the slot can use it: it gets its tables */
    plan(&f, true, true);
    w2k_pubplan_created(&f.plan, 0x1000);
    CHECK_INT(w2k_pubplan_pending(&f.plan, true, ""), 0);
    CHECK_STR(kinds(&f.plan), "KTPRd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_SET_TABLES, 0)->pub, 1);

    /* a running session keeps its publications: no check, said when not said yet */
    f.ps.in_use = true;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "W");
    CHECK_STR(f.plan.why, "a running replication session keeps the publications it started with");
    CHECK(!f.plan.ps.pub[1].pending);
    w2k_pubplan_free(&f.plan);
}

static void test_pending_restores_unchanged(void)
{
    fixture_t f;
    pending_fixture(&f);
    /* someone else removed orders meanwhile: its definition did not change, so it is
     * restored while the new publication waits */
    f.pub[0].s.n = 0;
    f.said = true;
    plan(&f, true, true);
    w2k_pubplan_created(&f.plan, 0x1000);
    CHECK_INT(w2k_pubplan_pending(&f.plan, false, "not yet"), 0);
    CHECK_STR(kinds(&f.plan), "KTPRrLd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_SET_TABLES, 0)->pub, 0);
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_REPAIR, 0)->table, 0);
    w2k_pubplan_free(&f.plan);
}

static void test_retired_publications(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE, NULL);
    plan(&f, true, false);
    settle(&f);
    /* from an earlier configuration: one with a table, one never used (pending) */
    fakepub_t *ins = &f.other[W2K_OP_INSERT], *upd = &f.other[W2K_OP_UPDATE];
    ins->s.exists = true;
    ins->s.ops = W2K_OP_INSERT;
    ins->m[0] = (w2k_pubmember_t){16390, 21000};
    ins->s.n = 1;
    fake_comment(ins, "wal2kafka:0123456789abcdef 16390:21000:00000000deadbeef for wal2kafka_s");
    upd->s.exists = true;
    fake_comment(upd, "wal2kafka:pending 0/10 for wal2kafka_s");
    /* another stream's: not this stream's to touch */
    fakepub_t *del = &f.other[W2K_OP_DELETE];
    del->s.exists = true;
    fake_comment(del, "wal2kafka:0123456789abcdef for wal2kafka_t");
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "DEPRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_DROP_UNUSED, 0), "wal2kafka_s_update");
    CHECK_INT(f.plan.ps.n, 2);
    CHECK(f.plan.ps.pub[1].retired);
    CHECK_STR(f.plan.ps.pub[1].name, "wal2kafka_s_insert");
    CHECK_STR(f.plan.ps.names, "wal2kafka_s,wal2kafka_s_insert");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_EMPTY, 0)->pub, 1);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_PUBLISH, 0), "publish = 'insert'");
    w2k_pubplan_free(&f.plan);
}

static void test_missing_tables(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "items", W2K_OP_ALL, NULL);
    f.otables[1].found = false;
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "F");
    CHECK_STR(f.plan.err.msg, "w.cfg:11: table public.items of stream \"s\" does not exist");
    CHECK_INT(f.plan.err.code, W2K_EXIT_POSTGRES);
    /* resuming: dropped since, the others go on */
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "ScRd");
    CHECK_INT(f.plan.act[0].table, 1);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0), "FOR TABLE \"public\".\"orders\"");
    f.otables[0].found = false;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "SSN");
    /* a view is not a table */
    f.otables[0] = (w2k_pubobs_table_t){true, 'v', 16384, false, 0, NULL, NULL};
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "F");
    CHECK_STR(f.plan.err.msg, "w.cfg:10: table public.orders of stream \"s\" is not a table");
    w2k_pubplan_free(&f.plan);
}

static void test_publication_of_another_stream(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    f.pub[0].s.exists = true;
    fake_comment(&f.pub[0], "wal2kafka:0123456789abcdef for wal2kafka_t");
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "F");
    CHECK_STR(f.plan.err.msg,
              "stream s needs publication wal2kafka_s, but wal2kafka made it for wal2kafka_t");
    w2k_pubplan_free(&f.plan);
}

static void test_older_comment_retagged(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    plan(&f, true, false);
    settle(&f);
    /* an older release's notes, without memberships: only the comment changes */
    w2k_buf_t b = W2K_BUF_INIT;
    w2k_pubplan_comment(&f.plan, 0, NULL, &b);
    fake_comment(&f.pub[0], b.data);
    w2k_buf_free(&b);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "C");
    char want[128];
    snprintf(want, sizeof want, "%s 16384:%u:%016" PRIx64, f.plan.pub[0].tag.data,
             f.pub[0].m[0].member, w2k_pubplan_name_key("public", "orders"));
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_COMMENT, 0), want);
    w2k_pubplan_free(&f.plan);
}

/* A partitioned table: on 13+ its publication publishes via the partition root (so
 * its partitions' rows reach its topic), and only that publication names the option;
 * before 13 the plan fails naming the table and what to do. */
static void test_partitioned_table(void)
{
    fixture_t f;
    fixture_init(&f);
    f.via_root = true;
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    plan(&f, true, false);
    /* no partitioned table: the definition of older releases, byte for byte */
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    char plain_tag[32];
    snprintf(plain_tag, sizeof plain_tag, "%s", f.plan.pub[0].tag.data);
    add_table(&f, "events", W2K_OP_INSERT, NULL);
    f.otables[1].kind = 'p';
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "ccRRdd");
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    CHECK_STR(f.plan.pub[0].tag.data, plain_tag);
    CHECK_STR(f.plan.pub[1].publish.data, "publish = 'insert', publish_via_partition_root = true");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 1), "FOR TABLE \"public\".\"events\"");
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* with filters = connector one publication holds both, publishing via the root */
    plan(&f, false, false);
    CHECK_STR(f.plan.pub[0].publish.data,
              "publish = 'insert, update, delete, truncate', publish_via_partition_root = true");
    w2k_pubplan_free(&f.plan);
}

/* Before 13 a partitioned table cannot be in a publication: its leaf partitions are,
 * noted under its name (a leaf gone from the publication repairs the table once), and
 * no publication names publish_via_partition_root. */
static void test_partitioned_table_before_13(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    add_table(&f, "events", W2K_OP_INSERT, NULL);
    static const uint32_t leaves[] = {30000, 30001, 30002};
    static const char *const clauses[] = {"\"public\".\"events_0\"", "\"public\".\"events_1\"",
                                          "\"public\".\"events_2\""};
    f.otables[1].kind = 'p';
    f.otables[1].nleaves = 2;
    f.otables[1].leaf_relids = leaves;
    f.otables[1].leaf_clauses = clauses;
    plan(&f, true, false);
    CHECK_STR(kinds(&f.plan), "ccRRdd");
    CHECK_STR(f.plan.pub[1].publish.data, "publish = 'insert'");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 1),
              "FOR TABLE \"public\".\"events_0\", \"public\".\"events_1\"");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_CREATE, 0), "FOR TABLE \"public\".\"orders\"");
    settle(&f);
    /* each leaf noted under the table's name */
    char want[160];
    uint64_t key = w2k_pubplan_name_key("public", "events");
    snprintf(want, sizeof want,
             "%s 30000:%u:%016" PRIx64 " 30001:%u:%016" PRIx64 " for wal2kafka_s",
             f.plan.pub[1].tag.data, f.pub[1].m[0].member, key, f.pub[1].m[1].member, key);
    CHECK_STR(f.pub[1].comment, want);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* a partition created or attached since: the publication gains it, and the table
     * is read again (rows written to it before were not sent), without a warning */
    f.otables[1].nleaves = 3;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRrd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_REPAIR, 0)->table, 1);
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_TABLES, 0),
              "TABLE \"public\".\"events_0\", \"public\".\"events_1\", "
              "\"public\".\"events_2\"");
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* a partition detached: the publication loses it, nothing is re-read */
    f.otables[1].nleaves = 2;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "TPRd");
    CHECK_STR(act_text(&f.plan, W2K_PUBACT_SET_TABLES, 0),
              "TABLE \"public\".\"events_0\", \"public\".\"events_1\"");
    f.otables[1].nleaves = 3;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* two leaves removed by someone else: the table is re-read once */
    f.pub[1].m[0] = f.pub[1].m[2];
    f.pub[1].s.n = 1;
    plan(&f, true, true);
    int repairs = 0;
    for (int i = 0; i < f.plan.nact; i++)
        repairs += f.plan.act[i].kind == W2K_PUBACT_REPAIR && f.plan.act[i].table == 1;
    CHECK_INT(repairs, 1);
    CHECK_STR(kinds(&f.plan), "TPRrLd");
    /* a partitioned table without partitions: its publication is left empty */
    f.otables[1].nleaves = 0;
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "EPRd");
    CHECK_INT(find_act(&f.plan, W2K_PUBACT_EMPTY, 0)->pub, 1);
    w2k_pubplan_free(&f.plan);
}

/* Stored generated columns: on 18+ the publication of a table having them sends them;
 * before (generated false) nothing changes. */
static void test_generated_columns(void)
{
    fixture_t f;
    fixture_init(&f);
    add_table(&f, "orders", W2K_OP_ALL, NULL);
    f.otables[0].generated = true;
    plan(&f, true, false);
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    f.generated = true;
    plan(&f, true, false);
    CHECK_STR(f.plan.pub[0].publish.data,
              "publish = 'insert, update, delete, truncate', publish_generated_columns = stored");
    CHECK_STR(kinds(&f.plan), "cRd");
    settle(&f);
    plan(&f, true, true);
    CHECK_STR(kinds(&f.plan), "");
    /* a table without them: the definition of older releases */
    f.otables[0].generated = false;
    plan(&f, true, true);
    CHECK_STR(f.plan.pub[0].publish.data, "publish = 'insert, update, delete, truncate'");
    w2k_pubplan_free(&f.plan);
}

int main(void)
{
    test_new_stream();
    test_unchanged();
    test_table_added_and_removed();
    test_row_filter_changed();
    test_sets_of_operations();
    test_filters_connector();
    test_no_truncate_before_11();
    test_signal_table_before_14();
    test_changed_by_someone_else();
    test_renamed_table();
    test_pending_publication();
    test_pending_restores_unchanged();
    test_retired_publications();
    test_missing_tables();
    test_publication_of_another_stream();
    test_older_comment_retagged();
    test_partitioned_table();
    test_partitioned_table_before_13();
    test_generated_columns();
    return unit_report("test_pubplan");
}
