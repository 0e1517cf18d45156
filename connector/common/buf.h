/* buf.h — growable byte buffer used to build schema text and message payloads. */
#ifndef W2K_BUF_H
#define W2K_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct w2k_buf_s {
    char *data; /* always NUL-terminated after any append (not counted in len) */
    size_t len;
    size_t cap;
    int oom; /* set once an allocation failed; later appends are no-ops */
} w2k_buf_t;

#define W2K_BUF_INIT                                                                               \
    {                                                                                              \
        NULL, 0, 0, 0                                                                              \
    }

/* Make room for at least extra more bytes. Returns 0, or -1 (and sets oom) on failure. */
int w2k_buf_reserve(w2k_buf_t *b, size_t extra);
/* Append bytes / a C string / a single byte / printf-formatted text. Appending is
 * on the hot path of every message: the common case (room left) is inline. */
static inline void w2k_buf_append(w2k_buf_t *b, const void *p, size_t n)
{
    if (b->len + n + 1 > b->cap && w2k_buf_reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static inline void w2k_buf_putc(w2k_buf_t *b, char c)
{
    if (b->len + 2 > b->cap && w2k_buf_reserve(b, 1) != 0)
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void w2k_buf_puts(w2k_buf_t *b, const char *s);
void w2k_buf_printf(w2k_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
void w2k_buf_put_json_string(w2k_buf_t *b, const char *s, size_t n);
/* Forget the contents, keep the memory. */
void w2k_buf_reset(w2k_buf_t *b);
/* Release the memory; b is reusable afterwards. Accepts a buffer never used. */
void w2k_buf_free(w2k_buf_t *b);

#endif
