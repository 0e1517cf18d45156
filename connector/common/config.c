/* config.c — load and validate the libconfig configuration file. Every problem is
 * reported with the file and line and what to write instead. */
#include "config.h"
#include "log.h"

#include <ctype.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cfg_ctx_s {
    const char *path;
    w2k_err_t *err;
} cfg_ctx_t;

/* True when a libpq conninfo (keywords or URI) sets a password. A conninfo libpq
 * cannot parse counts as having one if it mentions "password" at all: the connection
 * would fail anyway, and a password must not slip through. Other keywords that merely
 * contain the word (dbname=password_db, user=...) are fine. */
static bool conninfo_has_password(const char *conninfo)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return strstr(conninfo, "password") != NULL;
    }
    bool found = false;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && o->val[0])
            found = true;
    PQconninfoFree(opts);
    return found;
}

bool w2k_glob_match(const char *p, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = p++;
            resume = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool w2k_table_is_pattern(const w2k_table_cfg_t *t)
{
    return strchr(t->schema, '*') || strchr(t->name, '*');
}

bool w2k_stream_excludes(const w2k_stream_cfg_t *sc, const char *schema, const char *name)
{
    char full[160];
    snprintf(full, sizeof full, "%s.%s", schema, name);
    for (int i = 0; i < sc->nexclude; i++)
        if (w2k_glob_match(sc->exclude[i], full))
            return true;
    return false;
}

bool w2k_pattern_matches(const w2k_stream_cfg_t *sc, const w2k_table_cfg_t *t, const char *schema,
                         const char *name)
{
    return w2k_glob_match(t->schema, schema) && w2k_glob_match(t->name, name) &&
           !w2k_stream_excludes(sc, schema, name);
}

static int line_of(const config_setting_t *s)
{
    return s ? (int)config_setting_source_line(s) : 0;
}

/* libconfig gives a string element of a list the line of the token after it (it looks
 * ahead for a concatenated string), e.g. the line of the closing ')' for the last table
 * of a list. The line that really holds the string is the last one at or above that
 * line where it appears quoted; if none (escapes, concatenation), keep libconfig's. */
static int string_line(const char *path, int line, const char *text)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return line;
    size_t tl = strlen(text);
    char *quoted = malloc(tl + 3);
    char *buf = NULL;
    size_t cap = 0;
    int found = line;
    if (quoted) {
        quoted[0] = '"';
        memcpy(quoted + 1, text, tl);
        memcpy(quoted + tl + 1, "\"", 2);
        for (int n = 1; n <= line && getline(&buf, &cap, f) >= 0; n++)
            if (strstr(buf, quoted))
                found = n;
    }
    free(buf);
    free(quoted);
    fclose(f);
    return found;
}

/* The line of a setting; for an unnamed string (a list element) the line it is on. */
static int setting_line(const cfg_ctx_t *c, const config_setting_t *s)
{
    int line = line_of(s);
    if (s && !config_setting_name(s) && config_setting_type(s) == CONFIG_TYPE_STRING)
        line = string_line(c->path, line, config_setting_get_string(s));
    return line;
}

static int fail(cfg_ctx_t *c, const config_setting_t *at, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(cfg_ctx_t *c, const config_setting_t *at, const char *hint, const char *fmt, ...)
{
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    w2k_err_set(c->err, W2K_EXIT_CONFIG, "%s:%d: %s", c->path, setting_line(c, at), what);
    if (hint)
        w2k_err_hint(c->err, "%s", hint);
    return -1;
}

/* Refuse any setting of group not named in allowed (NULL-terminated). */
static int check_known(cfg_ctx_t *c, const config_setting_t *group, const char *where,
                       const char *const *allowed)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        if (!name)
            continue;
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= strcmp(*a, name) == 0;
        if (!known) {
            char hint[512] = "known settings here:";
            for (const char *const *a = allowed; *a; a++) {
                strncat(hint, " ", sizeof hint - strlen(hint) - 1);
                strncat(hint, *a, sizeof hint - strlen(hint) - 1);
            }
            return fail(c, s, hint, "unknown setting \"%s\" in %s", name, where);
        }
    }
    return 0;
}

/* Read an optional string setting; *out keeps def (which may be NULL) when absent. */
static int get_string(cfg_ctx_t *c, const config_setting_t *group, const char *name,
                      const char *def, bool required, char **out)
{
    const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
    if (!s) {
        if (required)
            return fail(c, group, NULL, "missing setting \"%s\"%s", name,
                        group && config_setting_name(group) ? "" : " at top level");
        *out = def ? strdup(def) : NULL;
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(c, s, "write it in double quotes, e.g. name = \"value\";",
                    "setting \"%s\" must be a string", name);
    const char *v = config_setting_get_string(s);
    if (required && !*v)
        return fail(c, s, NULL, "setting \"%s\" must not be empty", name);
    *out = strdup(v);
    return 0;
}

static int get_int64(cfg_ctx_t *c, const config_setting_t *group, const char *name, int64_t def,
                     int64_t min, int64_t max, int64_t *out)
{
    const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
    if (!s) {
        *out = def;
        return 0;
    }
    int64_t v;
    if (config_setting_type(s) == CONFIG_TYPE_INT)
        v = config_setting_get_int(s);
    else if (config_setting_type(s) == CONFIG_TYPE_INT64)
        v = config_setting_get_int64(s);
    else
        return fail(c, s, "write a whole number without quotes",
                    "setting \"%s\" must be an integer", name);
    if (v < min || v > max) {
        char hint[128];
        snprintf(hint, sizeof hint, "use a value from %lld to %lld", (long long)min,
                 (long long)max);
        return fail(c, s, hint, "setting \"%s\" is %lld, out of range", name, (long long)v);
    }
    *out = v;
    return 0;
}

static int get_int(cfg_ctx_t *c, const config_setting_t *group, const char *name, int def, int min,
                   int max, int *out)
{
    int64_t v;
    if (get_int64(c, group, name, def, min, max, &v) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

/* Copy an identifier part: quoted "..." kept exactly (doubled quotes undone), unquoted
 * folded to lower case as SQL does. Returns the end of the part, or NULL if malformed. */
static const char *ident_part(const char *p, char **out)
{
    char buf[256];
    size_t n = 0;
    if (*p == '"') {
        p++;
        for (;;) {
            if (!*p)
                return NULL;
            if (*p == '"') {
                if (p[1] != '"')
                    break;
                p++;
            }
            if (n + 1 >= sizeof buf)
                return NULL;
            buf[n++] = *p++;
        }
        p++;
    } else {
        while (*p && *p != '.') {
            if (n + 1 >= sizeof buf || *p == '"' || isspace((unsigned char)*p))
                return NULL;
            buf[n++] = (char)tolower((unsigned char)*p++);
        }
    }
    if (n == 0)
        return NULL;
    buf[n] = '\0';
    *out = strdup(buf);
    return p;
}

/* Split "schema.table" (either part may be "quoted"; schema defaults to public). */
static int parse_table_name(const char *s, char **schema, char **name)
{
    char *a = NULL, *b = NULL;
    const char *p = ident_part(s, &a);
    if (!p)
        return -1;
    if (*p == '\0') {
        *schema = strdup("public");
        *name = a;
        return 0;
    }
    if (*p != '.' || !(p = ident_part(p + 1, &b)) || *p != '\0') {
        free(a);
        free(b);
        return -1;
    }
    *schema = a;
    *name = b;
    return 0;
}

static int parse_ops(cfg_ctx_t *c, const config_setting_t *s, unsigned *ops)
{
    static const char *const names[] = {"insert", "update", "delete", "truncate"};
    const char *hint =
        "write e.g. operations = [\"insert\", \"update\", \"delete\", \"truncate\"];";
    if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST)
        return fail(c, s, hint, "\"operations\" must be a list of strings");
    *ops = 0;
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(s, i);
        int found = -1;
        for (int k = 0; v && k < 4; k++)
            if (strcmp(v, names[k]) == 0)
                found = k;
        if (found < 0)
            return fail(c, s, hint, "\"operations\" has an unknown operation \"%s\"",
                        v ? v : "(not a string)");
        *ops |= 1u << found;
    }
    if (*ops == 0)
        return fail(c, s, hint, "\"operations\" is empty: the table would deliver nothing");
    return 0;
}

/* The optional list of column names s.key (hash_columns, mask_columns) into *out, *n. */
static int parse_column_names(cfg_ctx_t *c, const config_setting_t *s, const char *key, char ***out,
                              int *n)
{
    const config_setting_t *l = config_setting_get_member(s, key);
    if (!l)
        return 0;
    int len = config_setting_length(l);
    if ((config_setting_type(l) != CONFIG_TYPE_ARRAY &&
         config_setting_type(l) != CONFIG_TYPE_LIST) ||
        len == 0)
        return fail(c, l, "write e.g. hash_columns = [\"email\"]; or mask_columns = [\"card\"];",
                    "\"%s\" must be a non-empty list of column names", key);
    *out = calloc((size_t)len, sizeof **out);
    if (!*out)
        return fail(c, l, NULL, "out of memory");
    for (int i = 0; i < len; i++) {
        const char *v = config_setting_get_string_elem(l, i);
        if (!v || !*v)
            return fail(c, l, "write each column name as a string",
                        "\"%s\" entry %d is not a column name", key, i + 1);
        (*out)[(*n)++] = strdup(v);
    }
    return 0;
}

/* A column both in hash_columns and mask_columns, or NULL. */
static const char *hashed_and_masked(const w2k_table_cfg_t *t)
{
    for (int i = 0; i < t->nhash_columns; i++)
        for (int k = 0; k < t->nmask_columns; k++)
            if (strcmp(t->hash_columns[i], t->mask_columns[k]) == 0)
                return t->hash_columns[i];
    return NULL;
}

static int parse_table(cfg_ctx_t *c, const config_setting_t *s, w2k_table_cfg_t *t)
{
    static const char *const known[] = {"name",         "filter",       "columns", "operations",
                                        "hash_columns", "mask_columns", NULL};
    const char *hint = "write a table as { name = \"schema.table\"; } (optional: filter, columns, "
                       "operations)";
    char *full = NULL;
    t->line = setting_line(c, s);
    t->ops = W2K_OP_ALL;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        full = strdup(config_setting_get_string(s));
    } else if (config_setting_type(s) == CONFIG_TYPE_GROUP) {
        if (check_known(c, s, "a table", known) != 0 ||
            get_string(c, s, "name", NULL, true, &full) != 0 ||
            get_string(c, s, "filter", NULL, false, &t->filter) != 0)
            goto err;
        const config_setting_t *cols = config_setting_get_member(s, "columns");
        if (cols) {
            int n = config_setting_length(cols);
            if ((config_setting_type(cols) != CONFIG_TYPE_ARRAY &&
                 config_setting_type(cols) != CONFIG_TYPE_LIST) ||
                n == 0) {
                fail(c, cols, "write e.g. columns = [\"id\", \"amount\"];",
                     "\"columns\" must be a non-empty list of column names");
                goto err;
            }
            t->columns = calloc((size_t)n, sizeof *t->columns);
            for (int i = 0; i < n; i++) {
                const char *v = config_setting_get_string_elem(cols, i);
                if (!v || !*v) {
                    fail(c, cols, NULL, "\"columns\" entry %d is not a column name", i + 1);
                    goto err;
                }
                t->columns[t->ncolumns++] = strdup(v);
            }
        }
        const config_setting_t *ops = config_setting_get_member(s, "operations");
        if (ops && parse_ops(c, ops, &t->ops) != 0)
            goto err;
        if (parse_column_names(c, s, "hash_columns", &t->hash_columns, &t->nhash_columns) != 0 ||
            parse_column_names(c, s, "mask_columns", &t->mask_columns, &t->nmask_columns) != 0)
            goto err;
        const char *both = hashed_and_masked(t);
        if (both) {
            fail(c, s, "keep the column in one of the two lists",
                 "column \"%s\" is both in hash_columns and in mask_columns", both);
            goto err;
        }
    } else {
        fail(c, s, hint, "a table entry must be a string or a group");
        goto err;
    }
    if (parse_table_name(full, &t->schema, &t->name) != 0) {
        fail(c, s,
             "write schema.table, e.g. \"public.orders\" (quote mixed-case parts: "
             "\"public.\\\"Orders\\\"\")",
             "table name \"%s\" is not of the form schema.table", full);
        goto err;
    }
    free(full);
    return 0;
err:
    free(full);
    return -1;
}

static bool valid_object_name(const char *s)
{
    if (!*s || strlen(s) > 63)
        return false;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '_'))
            return false;
    return true;
}

static bool valid_topic_prefix(const char *s)
{
    if (!*s || strlen(s) > 100)
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

/* ---- representation options of a stream (schemas/README.md) ---- */

/* One option: value of setting name (default def) among words; *out its index. */
static int parse_choice(cfg_ctx_t *c, const config_setting_t *s, const char *name,
                        const char *const *words, const char *hint, int *out)
{
    char *v = NULL;
    if (get_string(c, s, name, words[0], false, &v) != 0)
        return -1;
    *out = -1;
    for (int i = 0; words[i]; i++)
        if (strcmp(v, words[i]) == 0)
            *out = i;
    free(v);
    if (*out < 0)
        return fail(c, config_setting_get_member(s, name), hint, "unknown %s value", name);
    return 0;
}

/* decimal_handling, time_precision, special_values. */
static int parse_typeopts(cfg_ctx_t *c, const config_setting_t *s, w2k_typeopts_t *o)
{
    static const char *const dec[] = {"precise", "double", "string", NULL};
    static const char *const tim[] = {"micros", "millis", NULL};
    static const char *const spc[] = {"marker", "null", NULL};
    return parse_choice(c, s, "decimal_handling", dec,
                        "use \"precise\" (default), \"double\" or \"string\"", &o->decimal) ||
                   parse_choice(c, s, "time_precision", tim,
                                "use \"micros\" (default) or \"millis\"", &o->time) ||
                   parse_choice(c, s, "special_values", spc, "use \"marker\" (default) or \"null\"",
                                &o->special)
               ? -1
               : 0;
}

/* messages = { prefixes = [ "app." ]; topic = "single" | "per_prefix"; } (optional). */
static int parse_messages(cfg_ctx_t *c, const config_setting_t *s, w2k_stream_cfg_t *st)
{
    static const char *const known[] = {"prefixes", "topic", NULL};
    const char *hint = "write messages = { prefixes = [ \"app.\" ]; topic = \"single\"; };";
    const config_setting_t *m = config_setting_get_member(s, "messages");
    if (!m)
        return 0;
    if (config_setting_type(m) != CONFIG_TYPE_GROUP)
        return fail(c, m, hint, "\"messages\" must be a group { ... }");
    if (check_known(c, m, "messages", known) != 0)
        return -1;
    const config_setting_t *p = config_setting_get_member(m, "prefixes");
    if (!p ||
        (config_setting_type(p) != CONFIG_TYPE_ARRAY &&
         config_setting_type(p) != CONFIG_TYPE_LIST) ||
        config_setting_length(p) == 0)
        return fail(c, p ? p : m, hint,
                    "\"messages\" needs a non-empty list \"prefixes\" (the message prefixes to "
                    "forward, e.g. \"app.\")");
    int n = config_setting_length(p);
    st->msg_prefixes = calloc((size_t)n, sizeof *st->msg_prefixes);
    if (!st->msg_prefixes)
        return fail(c, p, NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(p, i);
        if (!v)
            return fail(c, p, hint, "\"prefixes\" entry %d is not a string", i + 1);
        if (strncmp(v, "wal2kafka", 9) == 0)
            return fail(c, p,
                        "wal2kafka's own messages (prefix wal2kafka...) are never forwarded; "
                        "choose another prefix for the application's messages",
                        "\"prefixes\" entry \"%s\" is reserved", v);
        if (!(st->msg_prefixes[st->nmsg_prefixes] = strdup(v)))
            return fail(c, p, NULL, "out of memory");
        st->nmsg_prefixes++;
    }
    char *topic = NULL;
    if (get_string(c, m, "topic", "single", false, &topic) != 0)
        return -1;
    bool single = strcmp(topic, "single") == 0;
    st->msg_per_prefix = strcmp(topic, "per_prefix") == 0;
    if (!single && !st->msg_per_prefix) {
        fail(c, config_setting_get_member(m, "topic"),
             "use \"single\" (default: <topic_prefix>.messages) or \"per_prefix\" "
             "(<topic_prefix>.messages.<prefix>)",
             "unknown messages.topic value \"%s\"", topic);
        free(topic);
        return -1;
    }
    free(topic);
    return 0;
}

static int parse_stream(cfg_ctx_t *c, const config_setting_t *s, w2k_stream_cfg_t *st)
{
    static const char *const known[] = {"name",
                                        "slot",
                                        "publication",
                                        "topic_prefix",
                                        "snapshot",
                                        "on_slot_lost",
                                        "filters",
                                        "tables",
                                        "exclude",
                                        "decimal_handling",
                                        "time_precision",
                                        "special_values",
                                        "messages",
                                        "transaction_metadata",
                                        "hash_salt_file",
                                        "streaming",
                                        NULL};
    char def[80];
    st->line = line_of(s);
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return fail(c, s, "write streams = ( { name = \"main\"; tables = ( ... ); } );",
                    "each stream must be a group { ... }");
    if (check_known(c, s, "a stream", known) != 0 ||
        get_string(c, s, "name", NULL, true, &st->name) != 0)
        return -1;
    if (!valid_object_name(st->name))
        return fail(c, config_setting_get_member(s, "name"),
                    "use lower-case letters, digits and _ (at most 63)",
                    "stream name \"%s\" is not a valid name", st->name);
    snprintf(def, sizeof def, "wal2kafka_%s", st->name);
    if (get_string(c, s, "slot", def, false, &st->slot) != 0 ||
        get_string(c, s, "publication", def, false, &st->publication) != 0 ||
        get_string(c, s, "topic_prefix", st->name, false, &st->topic_prefix) != 0 ||
        get_string(c, s, "hash_salt_file", NULL, false, &st->hash_salt_file) != 0)
        return -1;
    if (!valid_object_name(st->slot))
        return fail(c, config_setting_get_member(s, "slot"),
                    "replication slot names may contain only lower-case letters, digits and _ "
                    "(at most 63)",
                    "slot name \"%s\" is not valid", st->slot);
    if (!valid_object_name(st->publication))
        return fail(c, config_setting_get_member(s, "publication"),
                    "use lower-case letters, digits and _ (at most 63)",
                    "publication name \"%s\" is not valid", st->publication);
    if (!valid_topic_prefix(st->topic_prefix))
        return fail(c, config_setting_get_member(s, "topic_prefix"),
                    "Kafka topic names allow letters, digits, '.', '_' and '-'",
                    "topic_prefix \"%s\" is not valid", st->topic_prefix);
    char *mode = NULL;
    if (get_string(c, s, "snapshot", "initial", false, &mode) != 0)
        return -1;
    st->snapshot = strcmp(mode, "initial") == 0        ? W2K_SNAPSHOT_INITIAL
                   : strcmp(mode, "never") == 0        ? W2K_SNAPSHOT_NEVER
                   : strcmp(mode, "initial_only") == 0 ? W2K_SNAPSHOT_INITIAL_ONLY
                                                       : (w2k_snapshot_mode_t)-1;
    free(mode);
    if ((int)st->snapshot < 0)
        return fail(c, config_setting_get_member(s, "snapshot"),
                    "use \"initial\" (default), \"never\" or \"initial_only\"",
                    "unknown snapshot mode");
    if (get_string(c, s, "on_slot_lost", "error", false, &mode) != 0)
        return -1;
    st->on_slot_lost = strcmp(mode, "error") == 0      ? W2K_SLOT_LOST_ERROR
                       : strcmp(mode, "recreate") == 0 ? W2K_SLOT_LOST_RECREATE
                                                       : (w2k_slot_lost_t)-1;
    free(mode);
    if ((int)st->on_slot_lost < 0)
        return fail(c, config_setting_get_member(s, "on_slot_lost"),
                    "use \"error\" (default) or \"recreate\"", "unknown on_slot_lost value");
    if (get_string(c, s, "filters", "auto", false, &mode) != 0)
        return -1;
    st->filters = strcmp(mode, "auto") == 0        ? W2K_FILTERS_AUTO
                  : strcmp(mode, "pushdown") == 0  ? W2K_FILTERS_PUSHDOWN
                  : strcmp(mode, "connector") == 0 ? W2K_FILTERS_CONNECTOR
                                                   : (w2k_filter_mode_t)-1;
    free(mode);
    if ((int)st->filters < 0)
        return fail(c, config_setting_get_member(s, "filters"),
                    "use \"auto\" (default), \"pushdown\" or \"connector\"",
                    "unknown filters mode");
    if (parse_typeopts(c, s, &st->types) != 0 || parse_messages(c, s, st) != 0)
        return -1;
    const config_setting_t *tm = config_setting_get_member(s, "transaction_metadata");
    if (tm && config_setting_type(tm) != CONFIG_TYPE_BOOL)
        return fail(c, tm, "write transaction_metadata = true; or false; (without quotes)",
                    "setting \"transaction_metadata\" must be true or false");
    st->txmeta = tm && config_setting_get_bool(tm);
    const config_setting_t *sm = config_setting_get_member(s, "streaming");
    if (sm && config_setting_type(sm) != CONFIG_TYPE_BOOL)
        return fail(c, sm, "write streaming = true; or false; (without quotes)",
                    "setting \"streaming\" must be true or false");
    st->streaming = sm && config_setting_get_bool(sm);
    if (st->streaming && st->txmeta)
        return fail(c, sm,
                    "remove streaming = true, or transaction_metadata = true, from the stream",
                    "streaming = true and transaction_metadata = true cannot be combined (a "
                    "streamed transaction's BEGIN event would need its commit, known only at "
                    "its end)");
    const config_setting_t *ex = config_setting_get_member(s, "exclude");
    if (ex) {
        int n = config_setting_length(ex);
        if (config_setting_type(ex) != CONFIG_TYPE_ARRAY &&
            config_setting_type(ex) != CONFIG_TYPE_LIST)
            return fail(c, ex, "write exclude = [ \"public.tmp_*\" ];",
                        "\"exclude\" must be a list of schema.table patterns");
        st->exclude = calloc((size_t)n + 1, sizeof *st->exclude);
        for (int i = 0; i < n; i++) {
            const char *v = config_setting_get_string_elem(ex, i);
            char *sch = NULL, *nam = NULL;
            if (!v || parse_table_name(v, &sch, &nam) != 0)
                return fail(c, ex, "write schema.table patterns, e.g. \"public.tmp_*\"",
                            "exclude entry %d is not a schema.table pattern", i + 1);
            size_t len = strlen(sch) + strlen(nam) + 2;
            st->exclude[st->nexclude] = malloc(len);
            snprintf(st->exclude[st->nexclude++], len, "%s.%s", sch, nam);
            free(sch);
            free(nam);
        }
    }
    const config_setting_t *tables = config_setting_get_member(s, "tables");
    if (!tables || config_setting_type(tables) != CONFIG_TYPE_LIST ||
        config_setting_length(tables) == 0)
        return fail(c, tables ? tables : s,
                    "write tables = ( \"public.orders\", { name = \"public.items\"; } );",
                    "stream \"%s\" needs a non-empty list \"tables\"", st->name);
    int n = config_setting_length(tables);
    st->tables = calloc((size_t)n, sizeof *st->tables);
    for (int i = 0; i < n; i++) {
        /* counted first, so that what a refused entry allocated is freed with the rest */
        st->ntables++;
        if (parse_table(c, config_setting_get_elem(tables, (unsigned)i), &st->tables[i]) != 0)
            return -1;
        st->hashes |= st->tables[i].nhash_columns > 0;
        for (int k = 0; k < i; k++)
            if (strcmp(st->tables[k].schema, st->tables[i].schema) == 0 &&
                strcmp(st->tables[k].name, st->tables[i].name) == 0)
                return fail(c, config_setting_get_elem(tables, (unsigned)i), "list each table once",
                            "table %s.%s appears twice in stream \"%s\"", st->tables[i].schema,
                            st->tables[i].name, st->name);
    }
    return 0;
}

static int parse_kafka(cfg_ctx_t *c, const config_setting_t *k, w2k_config_t *cfg)
{
    static const char *const known[] = {"bootstrap_servers", "properties", "topic", NULL};
    static const char *const topic_known[] = {
        "partitions", "replication_factor", "min_compaction_lag_ms", "keyless_retention_ms", NULL};
    if (check_known(c, k, "kafka", known) != 0 ||
        get_string(c, k, "bootstrap_servers", NULL, true, &cfg->kafka_bootstrap) != 0)
        return -1;
    const config_setting_t *props = config_setting_get_member(k, "properties");
    if (props) {
        const char *hint = "write properties = [ \"compression.type=lz4\", \"linger.ms=5\" ];";
        if (config_setting_type(props) != CONFIG_TYPE_ARRAY &&
            config_setting_type(props) != CONFIG_TYPE_LIST)
            return fail(c, props, hint, "\"properties\" must be a list of \"name=value\" strings");
        int n = config_setting_length(props);
        cfg->kafka_props = calloc((size_t)n + 1, sizeof *cfg->kafka_props);
        for (int i = 0; i < n; i++) {
            const char *v = config_setting_get_string_elem(props, i);
            if (!v || !strchr(v, '=') || *v == '=')
                return fail(c, props, hint, "Kafka property %d is not of the form name=value",
                            i + 1);
            cfg->kafka_props[cfg->nkafka_props++] = strdup(v);
        }
    }
    const config_setting_t *topic = config_setting_get_member(k, "topic");
    if (topic && check_known(c, topic, "kafka.topic", topic_known) != 0)
        return -1;
    return get_int(c, topic, "partitions", 1, 1, 100000, &cfg->topic_partitions) ||
           get_int(c, topic, "replication_factor", 1, 1, 1000, &cfg->topic_replication_factor) ||
           get_int64(c, topic, "min_compaction_lag_ms", 86400000, 0, INT64_MAX,
                     &cfg->topic_min_compaction_lag_ms) ||
           get_int64(c, topic, "keyless_retention_ms", 86400000, -1, INT64_MAX,
                     &cfg->topic_keyless_retention_ms);
}

/* The standby group: several instances with the same configuration, one streaming each
 * stream, the others waiting for its slot. Returns 0, or -1 (reported). */
static int parse_standby(cfg_ctx_t *c, const config_setting_t *sb, w2k_config_t *cfg)
{
    static const char *const standby_known[] = {"enabled", "poll_ms", NULL};
    if (sb && check_known(c, sb, "standby", standby_known) != 0)
        return -1;
    const config_setting_t *en = sb ? config_setting_get_member(sb, "enabled") : NULL;
    if (en && config_setting_type(en) != CONFIG_TYPE_BOOL)
        return fail(c, en, "write enabled = true; or enabled = false;",
                    "setting \"standby.enabled\" must be true or false");
    cfg->standby_enabled = en && config_setting_get_bool(en);
    return get_int(c, sb, "poll_ms", 500, 50, 60000, &cfg->standby_poll_ms);
}

static int parse_config(cfg_ctx_t *c, const config_t *lc, w2k_config_t *cfg)
{
    static const char *const top_known[] = {"postgresql", "kafka",   "delivery", "retry",
                                            "log",        "streams", "metrics",  "schema_registry",
                                            "standby",    NULL};
    static const char *const reg_known[] = {"url", "username", "password_file", "ca_file", NULL};
    static const char *const metrics_known[] = {"listen",        "username",     "password_file",
                                                "tls_cert_file", "tls_key_file", NULL};
    static const char *const retry_known[] = {"initial_backoff_ms", "max_backoff_ms",
                                              "max_attempts",       "max_duration_s",
                                              "on_stream_failure",  NULL};
    static const char *const pg_known[] = {"conninfo",           "password_file",
                                           "receive_timeout_ms", "failover_slots",
                                           "decoding_conninfo",  NULL};
    static const char *const delivery_known[] = {"max_in_flight",          "status_interval_ms",
                                                 "shutdown_timeout_ms",    "wal_warn_mb",
                                                 "exactly_once",           "commit_interval_ms",
                                                 "transaction_timeout_ms", "broker_silence_ms",
                                                 "send_when_idle_ms",      NULL};
    static const char *const log_known[] = {"level", "format", NULL};
    const config_setting_t *root = config_root_setting(lc);
    if (check_known(c, root, "the top level", top_known) != 0)
        return -1;

    const config_setting_t *pg = config_setting_get_member(root, "postgresql");
    if (!pg)
        return fail(c, root, "add postgresql = { conninfo = \"host=... dbname=... user=...\"; };",
                    "missing group \"postgresql\"");
    if (check_known(c, pg, "postgresql", pg_known) != 0 ||
        get_string(c, pg, "conninfo", NULL, true, &cfg->pg_conninfo) != 0 ||
        get_string(c, pg, "password_file", NULL, false, &cfg->pg_password_file) != 0 ||
        get_int(c, pg, "receive_timeout_ms", 60000, 0, 3600000, &cfg->pg_receive_timeout_ms) != 0)
        return -1;
    if (cfg->pg_receive_timeout_ms > 0 && cfg->pg_receive_timeout_ms < 1000)
        return fail(c, config_setting_get_member(pg, "receive_timeout_ms"),
                    "use at least 1000 (the server answers a ping within a round trip), or 0 to "
                    "wait forever",
                    "receive_timeout_ms is too short");
    if (conninfo_has_password(cfg->pg_conninfo))
        return fail(c, config_setting_get_member(pg, "conninfo"),
                    "remove the password from conninfo; put it in PGPASSWORD, in ~/.pgpass, or "
                    "in a file named by postgresql.password_file",
                    "conninfo contains a password, which must not live in the config file");
    const config_setting_t *fo = config_setting_get_member(pg, "failover_slots");
    if (fo && config_setting_type(fo) != CONFIG_TYPE_BOOL)
        return fail(c, fo,
                    "write failover_slots = true; (default: slots follow a promoted standby, "
                    "PostgreSQL 17+) or false;",
                    "setting \"failover_slots\" must be true or false");
    cfg->pg_failover_slots = !fo || config_setting_get_bool(fo);
    const config_setting_t *dc = config_setting_get_member(pg, "decoding_conninfo");
    if (dc) {
        const char *v =
            config_setting_type(dc) == CONFIG_TYPE_STRING ? config_setting_get_string(dc) : NULL;
        if (!v || !v[strspn(v, " \t")])
            return fail(c, dc,
                        "write decoding_conninfo = \"host=... port=... dbname=...\"; (a libpq "
                        "conninfo string or URI naming a physical standby, PostgreSQL 16+), or "
                        "leave it out to decode on the server of conninfo",
                        "setting \"decoding_conninfo\" must be a non-empty conninfo string");
        if (conninfo_has_password(v))
            return fail(c, dc,
                        "remove the password from decoding_conninfo; put it in PGPASSWORD, in "
                        "~/.pgpass, or in a file named by postgresql.password_file",
                        "decoding_conninfo contains a password, which must not live in the "
                        "config file");
        char *perr = NULL;
        PQconninfoOption *parsed = PQconninfoParse(v, &perr);
        if (!parsed) {
            int rc = fail(c, dc,
                          "write a libpq conninfo string (\"host=standby port=5432 dbname=app\") "
                          "or URI (\"postgresql://standby:5432/app\")",
                          "decoding_conninfo \"%s\" is not a valid conninfo: %s", v,
                          perr ? perr : "cannot parse it");
            PQfreemem(perr);
            return rc;
        }
        PQconninfoFree(parsed);
        if (!(cfg->pg_decoding_conninfo = strdup(v)))
            return fail(c, dc, "free some memory", "out of memory");
    }

    const config_setting_t *k = config_setting_get_member(root, "kafka");
    if (!k)
        return fail(c, root, "add kafka = { bootstrap_servers = \"host:9092\"; };",
                    "missing group \"kafka\"");
    if (parse_kafka(c, k, cfg) != 0)
        return -1;

    const config_setting_t *d = config_setting_get_member(root, "delivery");
    if (d && check_known(c, d, "delivery", delivery_known) != 0)
        return -1;
    if (get_int(c, d, "max_in_flight", 100000, 1, 10000000, &cfg->max_in_flight) ||
        get_int(c, d, "status_interval_ms", 1000, 10, 60000, &cfg->status_interval_ms) ||
        get_int(c, d, "shutdown_timeout_ms", 30000, 0, 3600000, &cfg->shutdown_timeout_ms) ||
        get_int64(c, d, "wal_warn_mb", 4096, 1, INT64_MAX / 1048576, &cfg->wal_warn_mb) ||
        get_int(c, d, "commit_interval_ms", 100, 1, 600000, &cfg->commit_interval_ms) ||
        get_int(c, d, "transaction_timeout_ms", 900000, 1000, 900000,
                &cfg->transaction_timeout_ms) ||
        get_int(c, d, "broker_silence_ms", 10000, 0, 3600000, &cfg->broker_silence_ms) ||
        get_int(c, d, "send_when_idle_ms", 0, 0, 1000, &cfg->send_when_idle_ms))
        return -1;
    const config_setting_t *eos = d ? config_setting_get_member(d, "exactly_once") : NULL;
    if (eos && config_setting_type(eos) != CONFIG_TYPE_BOOL)
        return fail(c, eos, "write exactly_once = true; or false;",
                    "setting \"exactly_once\" must be true or false");
    cfg->exactly_once = eos && config_setting_get_bool(eos);

    const config_setting_t *reg = config_setting_get_member(root, "schema_registry");
    if (reg &&
        (check_known(c, reg, "schema_registry", reg_known) != 0 ||
         get_string(c, reg, "url", NULL, true, &cfg->registry_url) != 0 ||
         get_string(c, reg, "username", NULL, false, &cfg->registry_user) != 0 ||
         get_string(c, reg, "password_file", NULL, false, &cfg->registry_password_file) != 0 ||
         get_string(c, reg, "ca_file", NULL, false, &cfg->registry_ca_file) != 0))
        return -1;
    const config_setting_t *met = config_setting_get_member(root, "metrics");
    if (met && (check_known(c, met, "metrics", metrics_known) != 0 ||
                get_string(c, met, "listen", NULL, false, &cfg->metrics_listen) != 0 ||
                get_string(c, met, "username", NULL, false, &cfg->metrics_user) != 0 ||
                get_string(c, met, "password_file", NULL, false, &cfg->metrics_password_file) ||
                get_string(c, met, "tls_cert_file", NULL, false, &cfg->metrics_tls_cert_file) ||
                get_string(c, met, "tls_key_file", NULL, false, &cfg->metrics_tls_key_file)))
        return -1;
    if (met && !cfg->metrics_tls_cert_file != !cfg->metrics_tls_key_file)
        return fail(c, met, "set both metrics.tls_cert_file and metrics.tls_key_file (PEM files)",
                    "metrics: tls_cert_file and tls_key_file go together");
    if (met && cfg->metrics_user && !*cfg->metrics_user)
        return fail(c, met, "remove metrics.username, or give the user a name",
                    "setting \"username\" must not be empty");
    if (cfg->metrics_listen && !*cfg->metrics_listen) {
        free(cfg->metrics_listen);
        cfg->metrics_listen = NULL;
    } else if (cfg->metrics_listen &&
               (!strchr(cfg->metrics_listen, ':') || cfg->metrics_listen[0] == ':')) {
        /* a port alone, or ":PORT": loopback */
        const char *port = cfg->metrics_listen + (cfg->metrics_listen[0] == ':');
        char *full = malloc(strlen(port) + 12);
        sprintf(full, "127.0.0.1:%s", port);
        free(cfg->metrics_listen);
        cfg->metrics_listen = full;
    }

    if (parse_standby(c, config_setting_get_member(root, "standby"), cfg) != 0)
        return -1;

    const config_setting_t *rt = config_setting_get_member(root, "retry");
    if (rt && check_known(c, rt, "retry", retry_known) != 0)
        return -1;
    if (get_int(c, rt, "initial_backoff_ms", 500, 1, 3600000, &cfg->retry_initial_ms) ||
        get_int(c, rt, "max_backoff_ms", 30000, 1, 3600000, &cfg->retry_max_backoff_ms) ||
        get_int(c, rt, "max_attempts", 0, 0, 1000000, &cfg->retry_max_attempts) ||
        get_int(c, rt, "max_duration_s", 600, 0, 31536000, &cfg->retry_max_duration_s))
        return -1;
    char *policy = NULL;
    if (get_string(c, rt, "on_stream_failure", "continue", false, &policy) != 0)
        return -1;
    cfg->exit_on_stream_failure = strcmp(policy, "exit") == 0;
    int bad_policy = strcmp(policy, "continue") != 0 && strcmp(policy, "exit") != 0;
    free(policy);
    if (bad_policy)
        return fail(c, config_setting_get_member(rt, "on_stream_failure"),
                    "use \"continue\" (the other streams go on) or \"exit\"",
                    "unknown on_stream_failure value");

    const config_setting_t *l = config_setting_get_member(root, "log");
    char *level = NULL, *format = NULL;
    if (l && check_known(c, l, "log", log_known) != 0)
        return -1;
    if (get_string(c, l, "level", "info", false, &level) != 0)
        return -1;
    cfg->log_level = w2k_log_level_parse(level);
    free(level);
    if (cfg->log_level < 0)
        return fail(c, config_setting_get_member(l, "level"),
                    "use one of: debug, info, warn, error", "unknown log level");
    if (get_string(c, l, "format", "logfmt", false, &format) != 0)
        return -1;
    int bad = strcmp(format, "logfmt") != 0 && strcmp(format, "json") != 0;
    cfg->log_json = strcmp(format, "json") == 0;
    free(format);
    if (bad)
        return fail(c, config_setting_get_member(l, "format"), "use \"logfmt\" or \"json\"",
                    "unknown log format");

    const config_setting_t *streams = config_setting_get_member(root, "streams");
    if (!streams || config_setting_type(streams) != CONFIG_TYPE_LIST ||
        config_setting_length(streams) == 0)
        return fail(c, streams ? streams : root,
                    "add streams = ( { name = \"main\"; tables = ( \"public.orders\" ); } );",
                    "missing or empty list \"streams\"");
    int n = config_setting_length(streams);
    cfg->streams = calloc((size_t)n, sizeof *cfg->streams);
    for (int i = 0; i < n; i++) {
        w2k_stream_cfg_t *st = &cfg->streams[i];
        if (parse_stream(c, config_setting_get_elem(streams, (unsigned)i), st) != 0) {
            cfg->nstreams = i + 1;
            return -1;
        }
        cfg->nstreams = i + 1;
        if (st->streaming && !cfg->exactly_once)
            return fail(c,
                        config_setting_get_member(config_setting_get_elem(streams, (unsigned)i),
                                                  "streaming"),
                        "set delivery.exactly_once = true; (a streamed transaction is produced "
                        "into a Kafka transaction committed at its PostgreSQL commit), or remove "
                        "streaming",
                        "stream \"%s\": streaming = true needs delivery.exactly_once = true",
                        st->name);
        for (int k2 = 0; k2 < i; k2++) {
            const w2k_stream_cfg_t *o = &cfg->streams[k2];
            const char *clash = strcmp(o->name, st->name) == 0                   ? "name"
                                : strcmp(o->slot, st->slot) == 0                 ? "slot"
                                : strcmp(o->publication, st->publication) == 0   ? "publication"
                                : strcmp(o->topic_prefix, st->topic_prefix) == 0 ? "topic_prefix"
                                                                                 : NULL;
            if (clash)
                return fail(c, config_setting_get_elem(streams, (unsigned)i),
                            "give every stream its own name, slot, publication and topic_prefix",
                            "streams \"%s\" and \"%s\" share the same %s", o->name, st->name,
                            clash);
        }
    }
    return 0;
}

w2k_config_t *w2k_config_load(const char *path, w2k_err_t *err)
{
    config_t lc;
    cfg_ctx_t c = {path, err};
    w2k_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "out of memory reading %s", path);
        return NULL;
    }
    cfg->path = strdup(path);
    config_init(&lc);
    FILE *f = fopen(path, "r");
    if (!f) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "cannot open configuration file %s: %m", path);
        w2k_err_hint(err, "pass an existing file with --config; config/wal2kafka.cfg is a "
                          "documented example");
        goto err;
    }
    int ok = config_read(&lc, f);
    fclose(f);
    if (!ok) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "%s:%d: syntax error: %s", path, config_error_line(&lc),
                    config_error_text(&lc));
        w2k_err_hint(err, "settings look like name = value; and end with ';' — see "
                          "config/wal2kafka.cfg");
        goto err;
    }
    if (parse_config(&c, &lc, cfg) != 0)
        goto err;
    config_destroy(&lc);
    return cfg;
err:
    config_destroy(&lc);
    w2k_config_destroy(cfg);
    return NULL;
}

const char *w2k_config_decoding(const w2k_config_t *cfg)
{
    return cfg->pg_decoding_conninfo ? cfg->pg_decoding_conninfo : cfg->pg_conninfo;
}

const char *w2k_config_kafka_prop(const w2k_config_t *cfg, const char *name)
{
    const char *value = NULL;
    size_t n = strlen(name);
    for (int i = 0; i < cfg->nkafka_props; i++)
        if (strncmp(cfg->kafka_props[i], name, n) == 0 && cfg->kafka_props[i][n] == '=')
            value = cfg->kafka_props[i] + n + 1;
    return value;
}

void w2k_config_destroy(w2k_config_t *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < cfg->nstreams; i++) {
        w2k_stream_cfg_t *st = &cfg->streams[i];
        for (int t = 0; t < st->ntables; t++) {
            w2k_table_cfg_t *tb = &st->tables[t];
            free(tb->schema);
            free(tb->name);
            free(tb->filter);
            for (int k = 0; k < tb->ncolumns; k++)
                free(tb->columns[k]);
            free(tb->columns);
            for (int k = 0; k < tb->nhash_columns; k++)
                free(tb->hash_columns[k]);
            free(tb->hash_columns);
            for (int k = 0; k < tb->nmask_columns; k++)
                free(tb->mask_columns[k]);
            free(tb->mask_columns);
        }
        free(st->tables);
        for (int k = 0; k < st->nexclude; k++)
            free(st->exclude[k]);
        free(st->exclude);
        free(st->hash_salt_file);
        for (int k = 0; k < st->nmsg_prefixes; k++)
            free(st->msg_prefixes[k]);
        free(st->msg_prefixes);
        free(st->name);
        free(st->slot);
        free(st->publication);
        free(st->topic_prefix);
    }
    free(cfg->streams);
    for (int i = 0; i < cfg->nkafka_props; i++)
        free(cfg->kafka_props[i]);
    free(cfg->kafka_props);
    free(cfg->kafka_bootstrap);
    free(cfg->pg_conninfo);
    free(cfg->pg_password_file);
    free(cfg->pg_decoding_conninfo);
    free(cfg->registry_url);
    free(cfg->registry_user);
    free(cfg->registry_password_file);
    free(cfg->registry_ca_file);
    free(cfg->metrics_listen);
    free(cfg->metrics_user);
    free(cfg->metrics_password_file);
    free(cfg->metrics_tls_cert_file);
    free(cfg->metrics_tls_key_file);
    free(cfg->path);
    free(cfg);
}
