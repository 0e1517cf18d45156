/* runner.h — the main loop of `wal2kafka run`: every stream of the configuration
 * started and supervised from one thread (reconnection with exponential backoff and
 * jitter; probes that start a stream as soon as what it waits for answers again), the
 * producer replaced when it fails fatally, and on stop what is in flight acknowledged
 * and confirmed. */
#ifndef W2K_RUNNER_H
#define W2K_RUNNER_H

#include <signal.h>

#include "config.h"
#include "metrics.h"
#include "registry.h"

/* Run every stream of cfg (reg: the schema registry, or NULL; metrics: its counters)
 * until *stop becomes non-zero (a signal) or every stream finished or gave up. A stream
 * that gives up logs its final error with its hint; with retry.on_stream_failure =
 * exit it also sets *stop. Returns the exit code: 0, or the code of a stream that gave
 * up (the last one), or the code of an error that kept the streams from starting,
 * logged. */
int w2k_runner_run(const w2k_config_t *cfg, w2k_registry_t *reg, w2k_metrics_t *metrics,
                   volatile sig_atomic_t *stop);

#endif
