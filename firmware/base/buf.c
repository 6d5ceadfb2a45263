/* SPDX-License-Identifier: MIT */
/* The bounded string builder and array growth every module uses (include/storekeeper/buf.h). */
#include "storekeeper/buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_FIRST 256 /* bytes: most texts built here are small */

void *sk_grow(void *v, size_t *cap, size_t need, size_t size, size_t max_items)
{
    if (need == 0) {
        need = 1;
    }
    if (need <= *cap && v) {
        return v;
    }
    if (need > max_items || size == 0 || need > SIZE_MAX / size) {
        errno = E2BIG;
        return NULL;
    }
    size_t n = *cap ? *cap : 8;
    while (n < need) {
        n = n > SIZE_MAX / 2 ? need : n * 2;
    }
    if (n > max_items || n > SIZE_MAX / size) {
        n = need;
    }
    void *nv = realloc(v, n * size);
    if (!nv) {
        errno = ENOMEM;
        return NULL;
    }
    *cap = n;
    return nv;
}

/* Room for n more bytes and the NUL. Returns 0, or sets b->err. */
static int reserve(struct sk_buf *b, size_t n)
{
    if (b->err) {
        return b->err;
    }
    if (n > b->max || b->len > b->max - n) {
        b->err = -E2BIG;
        return b->err;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap && b->p) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : BUF_FIRST;
    while (cap < need) {
        cap *= 2;
    }
    if (cap - 1 > b->max) {
        cap = need; /* need - 1 <= max: checked above */
    }
    char *p = realloc(b->p, cap);
    if (!p) {
        b->err = -ENOMEM;
        return b->err;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void sk_buf_put(struct sk_buf *b, const void *s, size_t n)
{
    if (reserve(b, n) < 0) {
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void sk_buf_puts(struct sk_buf *b, const char *s)
{
    sk_buf_put(b, s, strlen(s));
}

void sk_buf_vprintf(struct sk_buf *b, const char *fmt, va_list ap)
{
    if (b->err) {
        return;
    }
    va_list aq;
    va_copy(aq, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, aq);
    va_end(aq);
    if (n < 0) {
        b->err = -EINVAL;
        return;
    }
    if ((size_t)n < sizeof(small)) {
        sk_buf_put(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) < 0) {
        return;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void sk_buf_printf(struct sk_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sk_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void sk_buf_json_string(struct sk_buf *b, const char *s)
{
    sk_buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"':
            sk_buf_put(b, "\\\"", 2);
            break;
        case '\\':
            sk_buf_put(b, "\\\\", 2);
            break;
        case '\n':
            sk_buf_put(b, "\\n", 2);
            break;
        case '\r':
            sk_buf_put(b, "\\r", 2);
            break;
        case '\t':
            sk_buf_put(b, "\\t", 2);
            break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof(esc), "\\u%04x", *p);
                sk_buf_puts(b, esc);
            } else {
                sk_buf_put(b, p, 1);
            }
        }
    }
    sk_buf_put(b, "\"", 1);
}

char *sk_buf_take(struct sk_buf *b)
{
    if (!b->err && !b->p) {
        sk_buf_put(b, "", 0);
    }
    if (b->err) {
        int err = b->err;
        sk_buf_free(b);
        b->err = err;
        return NULL;
    }
    char *p = b->p;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

void sk_buf_free(struct sk_buf *b)
{
    if (!b) {
        return;
    }
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}
