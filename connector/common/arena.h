/* arena.h — an allocation arena: many small allocations freed at once (a parsed JSON
 * document, an Avro schema's nodes). Not thread-safe: one arena per owner. */
#ifndef W2K_ARENA_H
#define W2K_ARENA_H

#include <stddef.h>

typedef struct w2k_arena_s {
    struct w2k_arena_block_s *head; /* the block allocations come from; older ones after */
} w2k_arena_t;

#define W2K_ARENA_INIT                                                                             \
    {                                                                                              \
        NULL                                                                                       \
    }

/* n zeroed bytes aligned for any type, valid until w2k_arena_free(). Returns NULL when
 * out of memory. */
void *w2k_arena_alloc(w2k_arena_t *a, size_t n);

/* A NUL-terminated copy of s[0..n) in the arena, or NULL when out of memory. */
char *w2k_arena_strndup(w2k_arena_t *a, const char *s, size_t n);

/* Free everything allocated in a; a is then empty and may be used again. */
void w2k_arena_free(w2k_arena_t *a);

#endif
