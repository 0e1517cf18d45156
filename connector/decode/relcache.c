/* relcache.c — the table of streamed relations, by OID. */
#include "relcache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKETS 256

typedef struct entry_s {
    w2k_relation_t *rel;
    struct entry_s *next;
} entry_t;

struct w2k_relcache_s {
    entry_t *buckets[BUCKETS];
    w2k_relcache_free_cb *free_cb;
    void *arg;
};

w2k_relcache_t *w2k_relcache_new(w2k_relcache_free_cb *free_cb, void *arg)
{
    w2k_relcache_t *rc = calloc(1, sizeof *rc);
    if (rc) {
        rc->free_cb = free_cb;
        rc->arg = arg;
    }
    return rc;
}

static void release(w2k_relcache_t *rc, w2k_relation_t *rel)
{
    if (rc->free_cb && rel->out)
        rc->free_cb(rc->arg, rel);
    rel->out = NULL;
    w2k_relation_free(rel);
}

void w2k_relcache_destroy(w2k_relcache_t *rc)
{
    if (!rc)
        return;
    for (int b = 0; b < BUCKETS; b++) {
        for (entry_t *e = rc->buckets[b], *n; e; e = n) {
            n = e->next;
            release(rc, e->rel);
            free(e);
        }
    }
    free(rc);
}

w2k_relation_t *w2k_relcache_get(w2k_relcache_t *rc, uint32_t relid)
{
    for (entry_t *e = rc->buckets[relid % BUCKETS]; e; e = e->next)
        if (e->rel->relid == relid)
            return e->rel;
    return NULL;
}

void w2k_relcache_put(w2k_relcache_t *rc, w2k_relation_t *rel)
{
    entry_t **head = &rc->buckets[rel->relid % BUCKETS];
    for (entry_t *e = *head; e; e = e->next) {
        if (e->rel->relid == rel->relid) {
            release(rc, e->rel);
            e->rel = rel;
            return;
        }
    }
    entry_t *e = malloc(sizeof *e);
    e->rel = rel;
    e->next = *head;
    *head = e;
}

w2k_relation_t *w2k_relation_new(int ncols)
{
    w2k_relation_t *rel = calloc(1, sizeof *rel);
    if (!rel)
        return NULL;
    rel->cols = calloc(ncols ? (size_t)ncols : 1, sizeof *rel->cols);
    rel->keycols = calloc(ncols ? (size_t)ncols : 1, sizeof *rel->keycols);
    if (!rel->cols || !rel->keycols) {
        w2k_relation_free(rel);
        return NULL;
    }
    rel->ncols = ncols;
    for (int i = 0; i < ncols; i++)
        rel->cols[i].key_pos = -1;
    return rel;
}

void w2k_relation_free(w2k_relation_t *rel)
{
    if (!rel)
        return;
    free(rel->cols);
    free(rel->keycols);
    free(rel->perm);
    free(rel);
}

void w2k_relation_name_fields(w2k_relation_t *rel)
{
    for (int i = 0; i < rel->ncols; i++)
        w2k_names_avro(rel->cols[i].name, rel->cols[i].avro_name, sizeof rel->cols[i].avro_name);
}

bool w2k_relation_same_shape(const w2k_relation_t *a, const w2k_relation_t *b)
{
    if (strcmp(a->schema, b->schema) || strcmp(a->name, b->name) || a->ncols != b->ncols ||
        a->nkeys != b->nkeys || a->replident != b->replident)
        return false;
    for (int i = 0; i < a->ncols; i++) {
        const w2k_column_t *x = &a->cols[i], *y = &b->cols[i];
        if (strcmp(x->name, y->name) || x->type_oid != y->type_oid || x->typmod != y->typmod ||
            x->key_pos != y->key_pos)
            return false;
    }
    return true;
}

int w2k_relation_to_root(w2k_relation_t *rel, const char *schema, const char *name,
                         const char (*root_cols)[64], int nroot, char *why, size_t whysz)
{
    if (nroot != rel->ncols) {
        snprintf(why, whysz, "partition %s.%s has %d column(s), its root %s.%s %d", rel->schema,
                 rel->name, rel->ncols, schema, name, nroot);
        return -1;
    }
    int *perm = malloc((size_t)(nroot ? nroot : 1) * sizeof *perm);
    w2k_column_t *cols = malloc((size_t)(nroot ? nroot : 1) * sizeof *cols);
    if (!perm || !cols) {
        free(perm);
        free(cols);
        why[0] = '\0';
        return -1;
    }
    bool moved = false;
    for (int i = 0; i < nroot; i++) {
        int at = -1;
        for (int k = 0; k < rel->ncols && at < 0; k++)
            if (strcmp(rel->cols[k].name, root_cols[i]) == 0)
                at = k;
        if (at < 0) {
            snprintf(why, whysz, "partition %s.%s has no column \"%s\" of its root %s.%s",
                     rel->schema, rel->name, root_cols[i], schema, name);
            free(perm);
            free(cols);
            return -1;
        }
        perm[i] = at;
        cols[i] = rel->cols[at];
        moved |= at != i;
    }
    memcpy(rel->cols, cols, (size_t)nroot * sizeof *cols);
    free(cols);
    /* the key in column order, as pgoutput's flags and the catalog give it */
    rel->nkeys = 0;
    for (int i = 0; i < nroot; i++)
        if (rel->cols[i].key_pos >= 0) {
            rel->cols[i].key_pos = rel->nkeys;
            rel->keycols[rel->nkeys++] = i;
        }
    free(rel->perm);
    rel->perm = moved ? perm : NULL;
    if (!moved)
        free(perm);
    snprintf(rel->schema, sizeof rel->schema, "%s", schema);
    snprintf(rel->name, sizeof rel->name, "%s", name);
    rel->partition = W2K_PART_MAPPED;
    return 0;
}

void w2k_relation_permute(const w2k_relation_t *rel, void *vals, size_t size, int ncols, void *tmp)
{
    if (!rel->perm || ncols != rel->ncols)
        return;
    memcpy(tmp, vals, (size_t)ncols * size);
    for (int i = 0; i < ncols; i++)
        memcpy((char *)vals + (size_t)i * size, (const char *)tmp + (size_t)rel->perm[i] * size,
               size);
}
