/* check.h — the preflight: everything that can be verified before streaming (server
 * settings, privileges, tables and their replica identity, publication, slot, Kafka),
 * each problem printed with its fix. */
#ifndef W2K_CHECK_H
#define W2K_CHECK_H

#include <stdio.h>

#include "config.h"

/* Run every check for cfg, printing one line per check to out ("ok", "warn",
 * "problem" with a "fix" line). Returns 0 when streaming can start, else the exit
 * code of the first problem (W2K_EXIT_POSTGRES or W2K_EXIT_KAFKA). */
int w2k_check_run(const w2k_config_t *cfg, FILE *out);

#endif
