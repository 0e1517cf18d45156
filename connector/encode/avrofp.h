/* avrofp.h — Avro schema fingerprints and single-object encoding header. */
#ifndef W2K_AVROFP_H
#define W2K_AVROFP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Size of the single-object encoding header: C3 01 + 8-byte fingerprint. */
#define W2K_SOE_HEADER_LEN 10

/* An Avro schema as wal2kafka publishes it. */
typedef struct w2k_schema_s {
    char *json;           /* full text, with logical types: what registries and
                             <prefix>.schemas store */
    uint64_t fingerprint; /* CRC-64-AVRO of the Parsing Canonical Form */
    uint64_t text_fp;     /* CRC-64-AVRO of json: the canonical form drops properties
                             (pg.name, masked columns' marks), defaults and logical types,
                             so schemas sharing a fingerprint differ here; 0 when not
                             computed (then only the fingerprint tells schemas apart) */
} w2k_schema_t;

/* CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing Canonical Form, as the Avro
 * specification defines it. */
uint64_t w2k_avro_fingerprint(const char *canonical, size_t len);

/* Write the single-object encoding header for fingerprint fp: C3 01 then fp
 * little-endian. */
void w2k_soe_header(uint64_t fp, uint8_t out[W2K_SOE_HEADER_LEN]);

/* Append the single-object encoding header of schema s to b (b->oom on failure). */
void w2k_soe_put_header(w2k_buf_t *b, const w2k_schema_t *s);

/* A fixed schema whose text json (len bytes, static) is its own Parsing Canonical Form:
 * fills *s once (fingerprint and text_fp of json) and returns s. For the hand-encoded
 * schemas (appmsg.c, txmeta.c), each held in a static w2k_schema_t. */
const w2k_schema_t *w2k_schema_fixed(w2k_schema_t *s, const char *json, size_t len);

/* Whether a and b are the same schema: the same fingerprint and, where both know it,
 * the same full text (properties, defaults and logical types included). */
bool w2k_schema_same(const w2k_schema_t *a, const w2k_schema_t *b);

#endif
