/* purge.c — which keys get tombstones after a snapshot onto topics that held messages. */
#include "purge.h"
#include "log.h"
#include "snapkeys.h"

#include <stdlib.h>

struct w2k_purge_s {
    const w2k_tables_t *tables;
    w2k_snapkeys_t *keys;
    int table;    /* the table whose topic is read back */
    bool reading; /* a read-back is running */
    char topic[512];
};

int w2k_purge_prepare(const w2k_config_t *cfg, const w2k_tables_t *tables, w2k_purge_t **out,
                      w2k_err_t *err)
{
    *out = NULL;
    w2k_purge_t *p = calloc(1, sizeof *p);
    if (!p || !(p->keys = w2k_snapkeys_new())) {
        free(p);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    p->tables = tables;
    bool any = false;
    for (int i = 0; i < w2k_tables_count(tables); i++) {
        const w2k_table_cfg_t *t = w2k_tables_cfg(tables, i);
        w2k_tables_topic(tables, t->schema, t->name, p->topic, sizeof p->topic);
        int r = w2k_snapkeys_note_topic(p->keys, cfg, p->topic, err);
        if (r < 0) {
            w2k_purge_destroy(p);
            return -1;
        }
        any = any || r;
    }
    if (!any)
        w2k_purge_destroy(p);
    else
        *out = p;
    return 0;
}

void w2k_purge_destroy(w2k_purge_t *p)
{
    if (!p)
        return;
    w2k_snapkeys_destroy(p->keys);
    free(p);
}

int w2k_purge_wrote(w2k_purge_t *p, const char *schema, const char *name, const void *key,
                    size_t len, w2k_err_t *err)
{
    if (w2k_snapkeys_add(p->keys, schema, name, key, len) == 0)
        return 0;
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory noting the snapshot's keys");
    return -1;
}

bool w2k_purge_reading(const w2k_purge_t *p)
{
    return p->reading;
}

int w2k_purge_next(w2k_purge_t *p, const char **topic, const void **key, size_t *len,
                   w2k_err_t *err)
{
    for (;;) {
        if (p->table >= w2k_tables_count(p->tables))
            return 0;
        const w2k_table_cfg_t *t = w2k_tables_cfg(p->tables, p->table);
        w2k_tables_topic(p->tables, t->schema, t->name, p->topic, sizeof p->topic);
        if (!p->reading) {
            int r = w2k_snapkeys_scan_begin(p->keys, p->topic, t->schema, t->name, err);
            if (r < 0)
                return -1;
            if (r == 0) {
                p->table++;
                continue;
            }
            p->reading = true;
        }
        int r = w2k_snapkeys_scan_next(p->keys, key, len, err);
        if (r < 0)
            return -1;
        if (r == 2)
            return 2; /* reading the topic back: on at the next step */
        if (r == 0) {
            uint64_t gone = w2k_snapkeys_gone(p->keys);
            if (gone)
                w2k_info("stream %s: %llu key(s) of %s.%s in topic %s from before this snapshot "
                         "are no longer in the table: tombstones for them",
                         w2k_tables_stream_cfg(p->tables)->name, (unsigned long long)gone,
                         t->schema, t->name, p->topic);
            p->reading = false;
            p->table++;
            continue;
        }
        *topic = p->topic;
        return 1;
    }
}
