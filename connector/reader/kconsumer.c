/* kconsumer.c — the librdkafka consumer configuration every reader of wal2kafka's
 * topics shares. */
#include "kconsumer.h"

#include <string.h>

/* Settings only a producer uses: on a consumer they would only draw warnings. */
static bool producer_only(const char *name, size_t n)
{
    static const char *const exact[] = {
        "compression.type",   "compression.codec",  "linger.ms",   "acks",
        "enable.idempotence", "message.timeout.ms", "partitioner", "transactional.id"};
    static const char *const prefixes[] = {"batch.", "queue.buffering."};
    for (size_t i = 0; i < sizeof exact / sizeof *exact; i++)
        if (strlen(exact[i]) == n && strncmp(exact[i], name, n) == 0)
            return true;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(prefixes[i], name, strlen(prefixes[i])) == 0)
            return true;
    return false;
}

rd_kafka_conf_t *w2k_kconsumer_conf(const w2k_config_t *cfg, const char *group,
                                    const char *const (*fixed)[2], w2k_err_t *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_bootstrap, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "group.id", group, errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
        goto bad;
    for (size_t i = 0; fixed && fixed[i][0]; i++)
        if (rd_kafka_conf_set(conf, fixed[i][0], fixed[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            goto bad;
    for (int i = 0; i < cfg->nkafka_props; i++) {
        const char *kv = cfg->kafka_props[i], *eq = strchr(kv, '=');
        char name[256];
        if (!eq || (size_t)(eq - kv) >= sizeof name || producer_only(kv, (size_t)(eq - kv)))
            continue;
        memcpy(name, kv, (size_t)(eq - kv));
        name[eq - kv] = '\0';
        if (rd_kafka_conf_set(conf, name, eq + 1, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            goto bad;
    }
    return conf;
bad:
    rd_kafka_conf_destroy(conf);
    w2k_err_set(err, W2K_EXIT_CONFIG, "Kafka setting rejected: %s", errstr);
    w2k_err_hint(err, "fix kafka.bootstrap_servers / kafka.properties in the configuration");
    return NULL;
}
