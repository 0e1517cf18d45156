/* state.h — what a stream remembers outside PostgreSQL: one record per stream in the
 * compacted topic <prefix>.state (JSON text, keyed by stream name): the server it
 * streams from (system identifier, timeline), its slot, and whether the initial
 * snapshot finished. Read once at start, written when it changes. */
#ifndef W2K_STATE_H
#define W2K_STATE_H

#include <stdbool.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "sink.h"

typedef struct w2k_stream_state_s {
    bool found;         /* a record exists */
    char system_id[32]; /* PostgreSQL system identifier */
    unsigned timeline;
    char slot[64];
    char snapshot[16];       /* "", "running", "done" */
    w2k_lsn_t snapshot_lsn;  /* the slot's consistent point the snapshot belongs to */
    w2k_lsn_t committed_lsn; /* exactly-once: end of the last PostgreSQL transaction whose
                                messages were committed with this record (0: none) */
} w2k_stream_state_t;

/* Read stream's latest record from topic (creating nothing). Returns 0 (with
 * out->found false when there is none or the topic does not exist), or -1 with err. */
int w2k_state_read(const w2k_config_t *cfg, const char *topic, const char *stream,
                   w2k_stream_state_t *out, w2k_err_t *err);

/* Store stream's record in topic (created when missing) and wait for the ack.
 * Returns 0, or -1 with err. */
int w2k_state_write(w2k_sink_t *sink, const char *topic, const char *stream,
                    const w2k_stream_state_t *st, w2k_err_t *err);

/* Parse/format the record's JSON text (exposed for tests). Returns 0, or -1 when the
 * text is not a record of this kind. */
int w2k_state_parse(const char *json, size_t len, w2k_stream_state_t *out);
void w2k_state_format(const w2k_stream_state_t *st, const char *stream, char *out, size_t outsz);

#endif
