/* test_appmsg.c — application messages: the messages setting of a stream, which
 * prefixes are forwarded, topic names, and the encoding of wal2kafka.Message byte for
 * byte; and the stream's transaction_metadata setting. */
#include "appmsg.h"
#include "avrofp.h"
#include "config.h"
#include "unit.h"
#include "unit_helpers.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

#define BASE                                                                                       \
    "postgresql = { conninfo = \"host=127.0.0.1 dbname=app user=w2k\"; };\n"                       \
    "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"

/* The shared helpers (unit_helpers.h) with this file's path. */
static w2k_config_t *load(const char *text, w2k_err_t *err)
{
    return unit_config_load(path, text, err);
}

static void expect_error(const char *text, int line, const char *want, const char *want_hint)
{
    unit_config_error(path, text, line, want, want_hint);
}

/* The setting: absent (nothing forwarded), single, per_prefix; bad forms refused. */
static void setting(void)
{
    w2k_err_t err;
    w2k_config_t *cfg =
        load(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" ); },\n"
                  "  { name = \"b\"; tables = ( \"public.t\" );\n"
                  "    messages = { prefixes = [ \"app.\", \"audit\" ]; }; },\n"
                  "  { name = \"c\"; tables = ( \"public.t\" );\n"
                  "    messages = { prefixes = [ \"\" ]; topic = \"per_prefix\"; }; "
                  "} );\n",
             &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    const w2k_stream_cfg_t *a = &cfg->streams[0], *b = &cfg->streams[1], *c = &cfg->streams[2];
    CHECK_INT(a->nmsg_prefixes, 0);
    CHECK(!w2k_appmsg_wanted(a, "app.x"));
    CHECK_INT(b->nmsg_prefixes, 2);
    CHECK(!b->msg_per_prefix);
    CHECK(w2k_appmsg_wanted(b, "app.audit"));
    CHECK(w2k_appmsg_wanted(b, "audit"));
    CHECK(w2k_appmsg_wanted(b, "auditlog"));
    CHECK(!w2k_appmsg_wanted(b, "app"));
    CHECK(!w2k_appmsg_wanted(b, "other"));
    CHECK(c->msg_per_prefix);
    CHECK(w2k_appmsg_wanted(c, "anything"));
    /* wal2kafka's own messages never, even with the empty prefix */
    CHECK(!w2k_appmsg_wanted(c, "wal2kafka.watermark"));
    CHECK(!w2k_appmsg_wanted(c, "wal2kafka.ddl"));

    char topic[256];
    w2k_appmsg_topic(b, "app.audit", topic, sizeof topic);
    CHECK_STR(topic, "b.messages");
    w2k_appmsg_topic(c, "app.audit", topic, sizeof topic);
    CHECK_STR(topic, "c.messages.app.audit");
    /* every byte outside Kafka's set becomes _ (a UTF-8 letter: one per byte) */
    w2k_appmsg_topic(c, "Ünï code/x y", topic, sizeof topic);
    CHECK_STR(topic, "c.messages.__n___code_x_y");
    char longp[400];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    w2k_appmsg_topic(c, longp, topic, sizeof topic);
    CHECK_INT(strlen(topic), 249);
    w2k_config_destroy(cfg);

    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  messages = { prefixes = [ \"app.\" ]; topic = \"each\"; }; } );\n",
                 4, "unknown messages.topic value \"each\"", "\"single\" (default");
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  messages = { topic = \"single\"; }; } );\n",
                 4, "needs a non-empty list \"prefixes\"", "messages = { prefixes");
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  messages = { prefixes = [ \"wal2kafka.x\" ]; }; } );\n",
                 4, "\"prefixes\" entry \"wal2kafka.x\" is reserved", "never forwarded");
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  messages = { prefixes = [ \"a\" ]; format = \"json\"; }; } );\n",
                 4, "unknown setting \"format\" in messages", "prefixes topic");
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  messages = \"app.\"; } );\n",
                 4, "\"messages\" must be a group", "messages = { prefixes");
}

/* transaction_metadata (txmeta.h) is off unless set true; anything else is refused. */
static void txmeta_setting(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" ); },\n"
                                  "  { name = \"b\"; tables = ( \"public.t\" );\n"
                                  "    transaction_metadata = true; } );\n",
                             &err);
    CHECK(cfg != NULL);
    if (!cfg)
        return;
    CHECK(!cfg->streams[0].txmeta);
    CHECK(cfg->streams[1].txmeta);
    w2k_config_destroy(cfg);
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  transaction_metadata = \"yes\"; } );\n",
                 4, "\"transaction_metadata\" must be true or false", "without quotes");
}

/* The encoding, byte for byte: header, key { prefix }, and every value field. */
static void encoding(void)
{
    w2k_buf_t key = W2K_BUF_INIT, value = W2K_BUF_INIT;
    w2k_appmsg_t m = {"ab", "\x01\x02", 2, true, 5, 0x10, 0x20, 1000000, "db", 7};
    CHECK_INT(w2k_appmsg_encode(&m, &key, &value), 0);
    uint8_t h[W2K_SOE_HEADER_LEN];
    w2k_soe_header(
        w2k_avro_fingerprint(w2k_appmsg_key_schema()->json, strlen(w2k_appmsg_key_schema()->json)),
        h);
    CHECK_MEM(key.data, W2K_SOE_HEADER_LEN, h, sizeof h);
    CHECK_MEM(key.data + W2K_SOE_HEADER_LEN, key.len - W2K_SOE_HEADER_LEN,
              "\x04"
              "ab",
              3);
    w2k_soe_header(w2k_appmsg_value_schema()->fingerprint, h);
    CHECK_MEM(value.data, W2K_SOE_HEADER_LEN, h, sizeof h);
    /* prefix "ab", content 01 02, true, txId 5, lsn 16, commit_lsn 32, commit_ts_ms 1000,
     * db "db", ts_ms 7 */
    static const char want[] = "\x04"
                               "ab\x04\x01\x02\x01\x02\x0a\x20\x02\x40\x02\xd0\x0f\x04"
                               "db\x0e";
    CHECK_MEM(value.data + W2K_SOE_HEADER_LEN, value.len - W2K_SOE_HEADER_LEN, want,
              sizeof want - 1);
    /* non-transactional: no txId, commit_lsn or commit time */
    w2k_appmsg_t n = {"ab", "", 0, false, 5, 0x10, 0x20, 1000000, "db", 7};
    CHECK_INT(w2k_appmsg_encode(&n, &key, &value), 0);
    static const char want2[] = "\x04"
                                "ab\x00\x00\x00\x20\x00\x00\x04"
                                "db\x0e";
    CHECK_MEM(value.data + W2K_SOE_HEADER_LEN, value.len - W2K_SOE_HEADER_LEN, want2,
              sizeof want2 - 1);
    w2k_buf_free(&key);
    w2k_buf_free(&value);
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : "tests/fixtures";
    unit_schema_as_file(fixtures, "wal2kafka.MessageKey.avsc", w2k_appmsg_key_schema());
    unit_schema_as_file(fixtures, "wal2kafka.Message.avsc", w2k_appmsg_value_schema());
    snprintf(path, sizeof path, "/tmp/w2k-test-appmsg-%d.cfg", (int)getpid());
    setting();
    txmeta_setting();
    encoding();
    unlink(path);
    return unit_report("test_appmsg");
}
