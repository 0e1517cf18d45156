/* buf.c — growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int w2k_buf_reserve(w2k_buf_t *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void w2k_buf_puts(w2k_buf_t *b, const char *s)
{
    w2k_buf_append(b, s, strlen(s));
}

void w2k_buf_printf(w2k_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || w2k_buf_reserve(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void w2k_buf_put_json_string(w2k_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    w2k_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"':
            w2k_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            w2k_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            w2k_buf_append(b, "\\n", 2);
            break;
        case '\r':
            w2k_buf_append(b, "\\r", 2);
            break;
        case '\t':
            w2k_buf_append(b, "\\t", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                w2k_buf_append(b, esc, 6);
            } else {
                w2k_buf_putc(b, (char)c);
            }
        }
    }
    w2k_buf_putc(b, '"');
}

void w2k_buf_reset(w2k_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void w2k_buf_free(w2k_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
