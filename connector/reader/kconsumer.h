/* kconsumer.h — the librdkafka consumer configuration every reader of wal2kafka's
 * topics shares (history/state, the state record, the snapshot's key read-back). */
#ifndef W2K_KCONSUMER_H
#define W2K_KCONSUMER_H

#include "config.h"
#include "err.h"

#include <librdkafka/rdkafka.h>

/* A consumer configuration for cfg's brokers: bootstrap.servers, enable.auto.commit =
 * false, enable.partition.eof = true, group.id = group, then fixed (name/value pairs,
 * a NULL name ends them), then kafka.properties without the producer-only settings
 * (security and connection settings apply to readers too). Returns a new conf the
 * caller owns (rd_kafka_new takes it), or NULL with err naming the setting librdkafka
 * rejected. */
rd_kafka_conf_t *w2k_kconsumer_conf(const w2k_config_t *cfg, const char *group,
                                    const char *const (*fixed)[2], w2k_err_t *err);

#endif
