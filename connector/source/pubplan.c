/* pubplan.c — the plan of a stream's publication upkeep, from what is wanted and what
 * the server has to the list of actions; pure (see pubplan.h). */
#include "pubplan.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW_OPS (W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE)

static const char *const op_names[] = {"insert", "update", "delete", "truncate"};

int w2k_pubplan_pubset_of(const w2k_pubset_t *ps, unsigned ops)
{
    for (int g = 0; ps->n > 1 && g < ps->n; g++)
        if (ps->pub[g].ops == (ops & ROW_OPS))
            return g;
    return 0;
}

void w2k_pubplan_names(w2k_pubset_t *ps)
{
    size_t len = 0;
    ps->names[0] = '\0';
    for (int g = 0; g < ps->n; g++)
        if (!ps->pub[g].pending)
            len += (size_t)snprintf(ps->names + len, sizeof ps->names - len, "%s%s", len ? "," : "",
                                    ps->pub[g].name);
}

void w2k_pubplan_group_name(const char *base, unsigned ops, char out[64])
{
    char suffix[32] = "";
    for (int k = 0; k < 3; k++)
        if (ops & (1u << k))
            snprintf(suffix + strlen(suffix), sizeof suffix - strlen(suffix), "%s%s",
                     suffix[0] ? "_" : "", op_names[k]);
    if (!suffix[0])
        snprintf(suffix, sizeof suffix, "truncate");
    snprintf(out, 64, "%.*s_%s", 63 - 1 - (int)strlen(suffix), base, suffix);
}

/* "publish = '...'" for the operations ops (W2K_OP_*), appended to b. */
static void put_publish(w2k_buf_t *b, unsigned ops)
{
    int first = 1;
    w2k_buf_puts(b, "publish = '");
    for (int i = 0; i < 4; i++) {
        if (ops & (1u << i)) {
            w2k_buf_printf(b, "%s%s", first ? "" : ", ", op_names[i]);
            first = 0;
        }
    }
    w2k_buf_putc(b, '\'');
}

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(1099511628211);
    return h;
}

uint64_t w2k_pubplan_name_key(const char *schema, const char *name)
{
    char full[160];
    int n = snprintf(full, sizeof full, "%s\x1f%s", schema, name);
    return fnv1a(full, n < (int)sizeof full ? (size_t)n : sizeof full - 1);
}

bool w2k_pubplan_of_stream(const w2k_pubset_t *ps, const char *name, const w2k_pubtag_t *tag)
{
    const char *base = ps->pub[0].name;
    if (tag->owner)
        return strcmp(tag->owner, strcmp(name, base) == 0 ? "" : base) == 0;
    for (int g = 0; g < ps->n; g++)
        if (strcmp(ps->pub[g].name, name) == 0)
            return true;
    return false;
}

/* Append an action to the plan (text copied). */
static void act_add(w2k_pubplan_t *p, w2k_pubact_kind_t kind, int pub, int table, const char *text)
{
    if (p->oom)
        return;
    if (p->nact == p->capact) {
        int cap = p->capact ? 2 * p->capact : 16;
        w2k_pubaction_t *a = realloc(p->act, (size_t)cap * sizeof *a);
        if (!a) {
            p->oom = true;
            return;
        }
        p->act = a;
        p->capact = cap;
    }
    char *copy = text ? strdup(text) : NULL;
    if (text && !copy) {
        p->oom = true;
        return;
    }
    p->act[p->nact++] = (w2k_pubaction_t){kind, pub, table, copy};
}

static const w2k_pubmember_t *find_member(const w2k_pubstate_t *s, uint32_t relid)
{
    for (int i = 0; i < s->n; i++)
        if (s->m[i].relid == relid)
            return &s->m[i];
    return NULL;
}

/* The first note of s's tag for table relid, or NULL. */
static const w2k_pubnote_t *find_note(const w2k_pubstate_t *s, uint32_t relid)
{
    for (int i = 0; i < s->nnotes; i++)
        if (s->notes[i].relid == relid)
            return &s->notes[i];
    return NULL;
}

static bool named(const w2k_pubset_t *ps, const char *name)
{
    for (int g = 0; g < ps->n; g++)
        if (strcmp(ps->pub[g].name, name) == 0)
            return true;
    return false;
}

/* The publications of this stream (wal2kafka's, by name and tag) for sets of
 * operations none of its tables has now join the set, retired: the slot may hold
 * changes from when they had tables, and PostgreSQL decodes those as of then; they are
 * emptied, so their filters no longer apply. One still pending never had a table: it
 * is dropped. */
static void plan_retired(w2k_pubplan_t *p, const w2k_pubobs_t *obs)
{
    w2k_pubset_t *ps = &p->ps;
    for (unsigned ops = 0; ops <= ROW_OPS && ps->n < W2K_MAX_PUBLICATIONS; ops++) {
        char name[64];
        w2k_pubplan_group_name(ps->pub[0].name, ops, name);
        if (named(ps, name))
            continue;
        const w2k_pubstate_t *s = obs->other[ops];
        bool ours = s && s->tag.owner && w2k_pubplan_of_stream(ps, name, &s->tag);
        if (ours && s->tag.pending) {
            act_add(p, W2K_PUBACT_DROP_UNUSED, -1, -1, name);
        } else if (ours) {
            int g = ps->n++;
            memset(&ps->pub[g], 0, sizeof ps->pub[g]);
            snprintf(ps->pub[g].name, sizeof ps->pub[g].name, "%s", name);
            ps->pub[g].ops = ops;
            ps->pub[g].publish = ops ? ops : W2K_OP_TRUNCATE;
            ps->pub[g].retired = true;
            p->pub[g].now = s;
        }
    }
    w2k_pubplan_names(ps);
}

/* The tables that exist: all of them on a first start; a stream that has run before
 * goes on without tables dropped since (their end was announced). Returns false when
 * the plan ends here (a table missing on a first start, or none left). */
static bool plan_tables(w2k_pubplan_t *p, const w2k_pubobs_t *obs)
{
    const w2k_pubwant_t *w = p->want;
    const w2k_stream_cfg_t *st = w->st;
    for (int i = 0; i < st->ntables; i++) {
        const w2k_table_cfg_t *t = &st->tables[i];
        const w2k_pubobs_table_t *o = &obs->tables[i];
        if (!o->found && w->resuming) {
            act_add(p, W2K_PUBACT_SKIP_TABLE, -1, i, NULL);
            continue;
        }
        if (!o->found || (o->kind != 'r' && o->kind != 'p')) {
            w2k_err_set(&p->err, W2K_EXIT_POSTGRES, "%s:%d: table %s.%s of stream \"%s\" %s",
                        w->config_path, t->line, t->schema, t->name, st->name,
                        o->found ? "is not a table" : "does not exist");
            w2k_err_hint(&p->err, "create it, fix the name, or remove it from the stream (names "
                                  "are folded to lower case unless written in double quotes)");
            act_add(p, W2K_PUBACT_FAIL, -1, i, NULL);
            return false;
        }
        /* noted under the name its configuration entry gives it (see catalog.h) */
        const w2k_pubwant_table_t *wt = &w->tables[i];
        w2k_pubplan_table_t *pt = &p->tables[p->ntables++];
        pt->entry = i;
        pt->relid = o->relid;
        pt->key = wt->as_name ? w2k_pubplan_name_key(wt->as_schema, wt->as_name)
                              : w2k_pubplan_name_key(t->schema, t->name);
        pt->g = w2k_pubplan_pubset_of(&p->ps, t->ops);
        pt->parted = o->kind == 'p';
        pt->generated = o->generated && w->generated;
        pt->clause = wt->clause;
        if (pt->parted && !w->via_root) {
            /* before 13: its leaf partitions in its place, noted under its name */
            p->ntables--;
            for (int k = 0; k < o->nleaves; k++) {
                w2k_pubplan_table_t *lt = &p->tables[p->ntables++];
                *lt = *pt;
                lt->relid = o->leaf_relids[k];
                lt->clause = o->leaf_clauses[k];
                lt->parted = false;
                lt->leaf = true;
            }
        }
    }
    if (p->ntables == 0)
        act_add(p, W2K_PUBACT_NO_TABLES, -1, -1, NULL);
    return p->ntables > 0;
}

/* What publication g of p publishes on this server: what it is to publish but for the
 * operations the server cannot publish. */
static unsigned sent(const w2k_pubplan_t *p, int g)
{
    return p->ps.pub[g].publish & ~p->want->lacks;
}

/* Publication g's definition: its FOR TABLE list, what it publishes, and the tag
 * naming both. */
static void define_pub(w2k_pubplan_t *p, int g)
{
    w2k_pubplan_pub_t *d = &p->pub[g];
    bool parted = false, generated = false;
    w2k_buf_puts(&d->def, "FOR TABLE ");
    for (int i = 0; i < p->ntables; i++) {
        if (p->tables[i].g != g)
            continue;
        parted |= p->tables[i].parted;
        generated |= p->tables[i].generated;
        if (d->ntables++)
            w2k_buf_puts(&d->def, ", ");
        w2k_buf_puts(&d->def, p->tables[i].clause);
    }
    if (g == 0 && p->want->signal) {
        if (d->ntables++)
            w2k_buf_puts(&d->def, ", ");
        w2k_buf_puts(&d->def, p->want->signal);
    }
    put_publish(&d->publish, sent(p, g));
    /* only publications that need them name the options: the others keep their
     * definition (and its hash) of older releases */
    if (parted)
        w2k_buf_puts(&d->publish, ", publish_via_partition_root = true");
    if (generated)
        w2k_buf_puts(&d->publish, ", publish_generated_columns = stored");
    uint64_t h = fnv1a(d->def.data, d->def.len) ^ fnv1a(d->publish.data, d->publish.len);
    w2k_buf_printf(&d->tag, W2K_PUBTAG "%016" PRIx64, h);
    p->oom |= d->def.oom || d->publish.oom || d->tag.oom;
}

void w2k_pubplan_comment(const w2k_pubplan_t *plan, int g, const w2k_pubstate_t *now, w2k_buf_t *b)
{
    w2k_buf_puts(b, plan->pub[g].tag.data);
    for (int i = 0; i < plan->ntables; i++) {
        const w2k_pubplan_table_t *t = &plan->tables[i];
        if (t->g != g)
            continue;
        const w2k_pubmember_t *m = now ? find_member(now, t->relid) : NULL;
        if (now)
            w2k_buf_printf(b, " %u:%u:%016" PRIx64, t->relid, m ? m->member : 0, t->key);
        else
            w2k_buf_printf(b, " %u:%016" PRIx64, t->relid, t->key);
    }
    if (g)
        w2k_buf_printf(b, " for %s", plan->ps.pub[0].name);
}

/* Whether publication g holds exactly the tables that go to it. */
static bool holds_tables(const w2k_pubplan_t *p, int g)
{
    const w2k_pubstate_t *now = p->pub[g].now;
    int want = 0;
    for (int i = 0; i < p->ntables; i++) {
        if (p->tables[i].g != g)
            continue;
        if (!find_member(now, p->tables[i].relid))
            return false;
        want++;
    }
    if (g == 0 && p->signal_relid) {
        if (!find_member(now, p->signal_relid))
            return false;
        want++;
    }
    return now->n == want;
}

/* How someone else changed table t's membership of publication d, or NULL: the
 * memberships its tag notes are the ones wal2kafka set. */
static const char *member_changed(const w2k_pubplan_pub_t *d, const w2k_pubplan_table_t *t)
{
    const w2k_pubmember_t *m = find_member(d->now, t->relid);
    const w2k_pubnote_t *note = find_note(d->now, t->relid);
    uint32_t was = note ? note->member : 0;
    if (!m && (was || (d->ours && !d->now->tag.members)))
        return "was removed from it";
    if (m && was && m->member != was)
        return "was removed and added again, or got another row filter or column list";
    return NULL;
}

/* While the stream was stopped or streamed, someone else may have changed publication
 * g: PostgreSQL looks a publication up as of each change, so it did not send the
 * changes of a table while it was out of it, nor of operations it did not publish,
 * and never will. A table's membership that is not the one noted (removed, or removed
 * and added again, or given another row filter or column list), a table of the
 * definition missing when the tag notes no memberships (an older wal2kafka), or
 * operations taken away mark its tables lost, and say why in lost. */
static void find_lost(w2k_pubplan_t *p, int g)
{
    w2k_pubplan_pub_t *d = &p->pub[g];
    bool ops_lost = d->ours && (sent(p, g) & ~d->now->ops);
    if (ops_lost) {
        w2k_buf_puts(&d->lost, "it stopped publishing some operations (");
        put_publish(&d->lost, d->now->ops);
        w2k_buf_puts(&d->lost, ")");
    }
    for (int i = 0; i < p->ntables; i++) {
        w2k_pubplan_table_t *t = &p->tables[i];
        if (t->g != g)
            continue;
        const char *what = member_changed(d, t);
        const w2k_table_cfg_t *c = &p->want->st->tables[t->entry];
        if (what)
            w2k_buf_printf(&d->lost, "%stable %s.%s %s", d->lost.len ? "; " : "", c->schema,
                           c->name, what);
        /* before 13, a partition created or attached since: rows written to it before
         * it joined the publication were not sent; the table is read again (no one
         * else changed the publication: nothing to warn about) */
        bool gained = t->leaf && !find_member(d->now, t->relid);
        t->lost = what || ops_lost || gained;
    }
}

/* Compare publication g with what the server has. Returns false when wal2kafka made it
 * for another stream (the plan ends with W2K_PUBACT_FAIL). */
static bool compare_pub(w2k_pubplan_t *p, int g)
{
    w2k_pubplan_pub_t *d = &p->pub[g];
    const char *name = p->ps.pub[g].name;
    d->exists = d->now->exists;
    if (!d->exists)
        return true;
    const w2k_pubtag_t *had = &d->now->tag;
    if (!w2k_pubplan_of_stream(&p->ps, name, had)) {
        /* wal2kafka made it (had->owner is set) for another stream */
        const char *st = p->want->st->name;
        w2k_err_set(&p->err, W2K_EXIT_POSTGRES,
                    "stream %s needs publication %s, but wal2kafka made it for %s", st, name,
                    had->owner[0] ? had->owner
                                  : "another stream (it is that stream's publication)");
        w2k_err_hint(&p->err,
                     "give stream %s a publication name of its own (publication = \"...\" in "
                     "its settings): publications for tables with other operations are named "
                     "<publication>_<operations>",
                     st);
        act_add(p, W2K_PUBACT_FAIL, g, -1, NULL);
        return false;
    }
    d->pending = had->pending;
    d->pending_lsn = had->pending_lsn;
    d->ours = strcmp(had->hash, d->tag.data + strlen(W2K_PUBTAG)) == 0;
    d->complete = d->ours && (d->now->ops & ~p->want->lacks) == sent(p, g) && holds_tables(p, g);
    if (p->want->resuming)
        find_lost(p, g);
    w2k_buf_t comment = W2K_BUF_INIT;
    w2k_pubplan_comment(p, g, d->now, &comment);
    p->oom |= comment.oom || d->lost.oom;
    d->same =
        d->complete && !d->lost.len && comment.data && strcmp(comment.data, d->now->comment) == 0;
    w2k_buf_free(&comment);
    return true;
}

/* The statements that make publication g what it is to be. */
static void plan_statements(w2k_pubplan_t *p, int g)
{
    const w2k_pubplan_pub_t *d = &p->pub[g];
    if (d->exists && d->ntables)
        act_add(p, W2K_PUBACT_SET_TABLES, g, -1, d->def.data + strlen("FOR "));
    else if (d->exists)
        act_add(p, W2K_PUBACT_EMPTY, g, -1, NULL); /* no table now: drop those it has */
    if (d->exists)
        act_add(p, W2K_PUBACT_SET_PUBLISH, g, -1, d->publish.data);
    else
        act_add(p, W2K_PUBACT_CREATE, g, -1, d->ntables ? d->def.data : "");
}

/* Whether publication g is right as it is, but for its comment. */
static bool only_comment(const w2k_pubplan_pub_t *d)
{
    return d->complete && !d->lost.len;
}

/* Whether only comments are to be brought up to date (tags of an older wal2kafka, or
 * of an administrator who ran the statement of a hint): then their actions are
 * planned. Only the owner may, and the publications are right as they are, so a
 * refusal changes nothing. */
static bool plan_comments(w2k_pubplan_t *p)
{
    for (int g = 0; g < p->ps.n; g++)
        if (!p->pub[g].same && !only_comment(&p->pub[g]))
            return false;
    for (int g = 0; g < p->ps.n; g++) {
        if (p->pub[g].same)
            continue;
        w2k_buf_t comment = W2K_BUF_INIT;
        w2k_pubplan_comment(p, g, p->pub[g].now, &comment);
        p->oom |= comment.oom;
        act_add(p, W2K_PUBACT_COMMENT, g, -1, comment.data);
        w2k_buf_free(&comment);
    }
    return true;
}

/* What to say once the transaction is done: for each publication changed, what
 * someone else had changed, and that it was created or updated. */
static void plan_reports(w2k_pubplan_t *p)
{
    for (int g = 0; g < p->ps.n; g++) {
        if (p->pub[g].same)
            continue;
        if (p->pub[g].lost.len)
            act_add(p, W2K_PUBACT_WARN_LOST, g, -1, p->pub[g].lost.data);
        if (!p->pub[g].complete || p->pub[g].lost.len)
            act_add(p, W2K_PUBACT_DONE, g, -1, NULL);
    }
}

/* Whether a table planned before tables[i] is of the same entry and lost (its leaf
 * partitions share an entry, repaired once). */
static bool repaired_before(const w2k_pubplan_t *p, int i)
{
    for (int k = 0; k < i; k++)
        if (p->tables[k].entry == p->tables[i].entry && p->tables[k].lost)
            return true;
    return false;
}

/* The actions once it is known which publications to change: their comments alone, or
 * the statements, the comments and repair requests in the same transaction, and what
 * to say once done. */
static void plan_write(w2k_pubplan_t *p)
{
    if (plan_comments(p))
        return;
    for (int g = 0; g < p->ps.n; g++)
        if (!p->pub[g].same && !only_comment(&p->pub[g]))
            plan_statements(p, g); /* the others get their comment with RETAG */
    for (int g = 0; g < p->ps.n; g++)
        if (!p->pub[g].same)
            act_add(p, W2K_PUBACT_RETAG, g, -1, NULL);
    for (int i = 0; i < p->ntables; i++)
        if (p->tables[i].lost && !p->pub[p->tables[i].g].same && !repaired_before(p, i))
            act_add(p, W2K_PUBACT_REPAIR, p->tables[i].g, p->tables[i].entry, NULL);
    plan_reports(p);
}

/* A publication the configuration needs is missing or pending and the slot cannot use
 * it yet: mark the pending ones, say so (once per session), and restore meanwhile only
 * the publications whose definition did not change (someone else changed them, see
 * find_lost); the others stay as they are. Returns whether one is to be restored. */
static bool plan_unusable(w2k_pubplan_t *p, const char *why)
{
    char names[sizeof p->ps.names] = "";
    size_t len = 0;
    for (int g = 0; g < p->ps.n; g++) {
        if (!p->ps.in_use)
            p->ps.pub[g].pending = p->pub[g].pending;
        if (!p->pub[g].exists || p->pub[g].pending)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", len ? ", " : "",
                                    p->ps.pub[g].name);
    }
    w2k_pubplan_names(&p->ps);
    if (!p->want->said) {
        snprintf(p->why, sizeof p->why, "%s", why);
        act_add(p, W2K_PUBACT_WARN_PENDING, -1, -1, names);
    }
    bool restore = false;
    for (int g = 0; g < p->ps.n; g++) {
        p->pub[g].same |= !p->pub[g].ours;
        restore |= !p->pub[g].same;
    }
    return restore;
}

int w2k_pubplan_pending(w2k_pubplan_t *plan, bool usable, const char *why)
{
    if (usable || plan_unusable(plan, why))
        plan_write(plan);
    return plan->oom ? -1 : 0;
}

void w2k_pubplan_created(w2k_pubplan_t *plan, w2k_lsn_t created)
{
    for (int g = 0; g < plan->ps.n; g++) {
        if (plan->pub[g].exists)
            continue;
        plan->pub[g].exists = plan->pub[g].pending = true;
        plan->pub[g].pending_lsn = created;
    }
}

bool w2k_pubplan_confirmed(const w2k_pubplan_t *plan, w2k_lsn_t confirmed)
{
    bool all = true;
    for (int g = 0; g < plan->ps.n; g++)
        all &= !plan->pub[g].pending || confirmed >= plan->pub[g].pending_lsn;
    return all;
}

/* Define each publication and compare it with the server's. Returns false when the
 * plan ends here (nothing to change, or a publication of another stream). */
static bool plan_defs(w2k_pubplan_t *p)
{
    bool all_same = true;
    for (int g = 0; g < p->ps.n; g++) {
        define_pub(p, g);
        if (!compare_pub(p, g))
            return false;
        all_same &= p->pub[g].same;
        p->missing |= g > 0 && (!p->pub[g].exists || p->pub[g].pending);
    }
    return !all_same;
}

int w2k_pubplan_make(w2k_pubplan_t *plan, const w2k_pubwant_t *want, const w2k_pubobs_t *obs)
{
    memset(plan, 0, sizeof *plan);
    plan->want = want;
    plan->ps = *want->ps;
    plan->signal_relid = want->signal ? obs->signal_relid : 0;
    for (int g = 0; g < plan->ps.n; g++)
        plan->pub[g].now = obs->pub[g];
    size_t n = (size_t)want->st->ntables + 1;
    for (int i = 0; i < want->st->ntables; i++)
        n += obs->tables[i].found ? (size_t)obs->tables[i].nleaves : 0;
    plan->tables = calloc(n, sizeof *plan->tables);
    if (!plan->tables)
        return -1;
    if (!plan->ps.in_use)
        plan_retired(plan, obs);
    if (!plan_tables(plan, obs) || !plan_defs(plan))
        return plan->oom ? -1 : 0;
    if (!plan->missing || !plan->pub[0].exists)
        plan_write(plan);
    else if (plan->ps.in_use)
        return w2k_pubplan_pending(
            plan, false, "a running replication session keeps the publications it started with");
    else
        act_add(plan, W2K_PUBACT_CHECK_PENDING, -1, -1, NULL);
    return plan->oom ? -1 : 0;
}

void w2k_pubplan_free(w2k_pubplan_t *plan)
{
    for (int g = 0; g < W2K_MAX_PUBLICATIONS; g++) {
        w2k_buf_free(&plan->pub[g].def);
        w2k_buf_free(&plan->pub[g].publish);
        w2k_buf_free(&plan->pub[g].tag);
        w2k_buf_free(&plan->pub[g].lost);
    }
    for (int i = 0; i < plan->nact; i++)
        free(plan->act[i].text);
    free(plan->act);
    free(plan->tables);
    memset(plan, 0, sizeof *plan);
}
