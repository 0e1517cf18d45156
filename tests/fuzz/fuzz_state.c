/* fuzz_state.c — libFuzzer harness for the decoding of <prefix>.state records
 * (session/state.c: w2k_state_parse), which anyone with produce rights can write to.
 * Property: a record is either refused (-1, nothing found) or parsed into a state that,
 * formatted back with w2k_state_format() and parsed again, gives the same state; no read
 * outside the record. Seeds: tests/fuzz/corpus/state (records as the connector writes them). */
#include "state.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    w2k_stream_state_t a, b;
    char text[1024];
    if (w2k_state_parse((const char *)data, size, &a) != 0) {
        if (a.found)
            abort();
        return 0;
    }
    if (!a.found)
        abort();
    w2k_state_format(&a, "main", text, sizeof text);
    if (w2k_state_parse(text, strlen(text), &b) != 0 || memcmp(&a, &b, sizeof a) != 0) {
        fprintf(stderr, "state does not round-trip: %s\n", text);
        abort();
    }
    return 0;
}
