/* avrofp.h — Avro schema fingerprints and single-object encoding header. */
#ifndef W2K_AVROFP_H
#define W2K_AVROFP_H

#include <stddef.h>
#include <stdint.h>

/* Size of the single-object encoding header: C3 01 + 8-byte fingerprint. */
#define W2K_SOE_HEADER_LEN 10

/* CRC-64-AVRO (Rabin) fingerprint of a schema's Parsing Canonical Form, as the Avro
 * specification defines it. */
uint64_t w2k_avro_fingerprint(const char *canonical, size_t len);

/* Write the single-object encoding header for fingerprint fp: C3 01 then fp
 * little-endian. */
void w2k_soe_header(uint64_t fp, uint8_t out[W2K_SOE_HEADER_LEN]);

#endif
