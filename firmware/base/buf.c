/* SPDX-License-Identifier: MIT */
/* The bounded string builder and array growth every module uses (include/storekeeper/buf.h). */
#include "storekeeper/buf.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define BUF_FIRST 256 /* bytes: most texts built here are small */

int sk_read_bounded(FILE *f, size_t max, char **ret_text, size_t *ret_len)
{
    *ret_text = NULL;
    *ret_len = 0;
    char *text = max < SIZE_MAX - 1 ? malloc(max + 2) : NULL;
    if (!text) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(text, 1, max + 1, f);
    int e = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    if (e) {
        free(text);
        return -e;
    }
    text[n] = '\0';
    *ret_text = text;
    *ret_len = n;
    return 0;
}

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
    /* the usual case first: room enough (len + n + 1 <= cap <= max + 1) */
    if (b->p && !b->err && n < b->cap - b->len) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
        return;
    }
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
    /* The escapes with a short form; other control characters are written \u00XX. */
    static const char specials[] = "\"\\\n\r\t";
    static const char *const escapes[] = {"\\\"", "\\\\", "\\n", "\\r", "\\t"};
    sk_buf_put(b, "\"", 1);
    const unsigned char *run = (const unsigned char *)s;
    for (const unsigned char *p = run;; p++) {
        /* Characters that need no escape are copied a run at a time. */
        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        sk_buf_put(b, run, (size_t)(p - run));
        run = p + 1;
        if (*p == '\0') {
            sk_buf_put(b, "\"", 1);
            return;
        }
        const char *at = strchr(specials, *p);
        if (at) {
            sk_buf_puts(b, escapes[at - specials]);
        } else {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            sk_buf_puts(b, esc);
        }
    }
}

void sk_buf_i64(struct sk_buf *b, int64_t v)
{
    char d[24];
    size_t i = sizeof(d);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) {
        d[--i] = '-';
    }
    sk_buf_put(b, d + i, sizeof(d) - i);
}

/*
 * A value of at most 6 decimals between 1e-4 and 1e9 (a confidence, a ratio, a price), as
 * %1.15g writes it but without printf (a third of the cost of a movement's evidence): true
 * when d is i / 10^k for an integer i, which is then written with its decimal point. That
 * division of two exact values is rounded as strtod rounds the text, so the text reads back
 * as d; and i has at most 15 digits, so %1.15g rounds d to the same digits (fixed notation in
 * this range, trailing zeros dropped).
 */
static bool json_decimal(struct sk_buf *b, double d)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    double a = fabs(d);
    if (!(a >= 1e-4 && a < 1e9)) {
        return false;
    }
    for (int k = 1; k <= 6; k++) {
        double r = floor(a * p10[k] + 0.5);
        if (r / p10[k] != a) {
            continue;
        }
        uint64_t i = (uint64_t)r, scale = (uint64_t)p10[k];
        uint64_t whole = i / scale, frac = i % scale;
        char t[40];
        size_t n = 0;
        if (d < 0) {
            t[n++] = '-';
        }
        char w[24];
        size_t wn = 0;
        do {
            w[wn++] = (char)('0' + whole % 10);
            whole /= 10;
        } while (whole);
        while (wn) {
            t[n++] = w[--wn];
        }
        t[n++] = '.';
        for (int j = k - 1; j >= 0; j--) {
            t[n + (size_t)j] = (char)('0' + frac % 10);
            frac /= 10;
        }
        n += (size_t)k;
        while (t[n - 1] == '0') {
            n--;
        }
        if (t[n - 1] == '.') {
            n--;
        }
        sk_buf_put(b, t, n);
        return true;
    }
    return false;
}

/* A number as cJSON prints it, without its sprintf-then-sscanf for integers: integral values
 * up to 2^53 as integers, others in the shortest of %.15g and %.17g that reads back as the
 * same double, non-finite ones as null (JSON has no NaN). */
static void json_number(struct sk_buf *b, double d)
{
    if (!isfinite(d)) {
        sk_buf_put(b, "null", 4);
        return;
    }
    if (d == floor(d) && fabs(d) <= 9007199254740992.0) {
        sk_buf_i64(b, (int64_t)d);
        return;
    }
    if (json_decimal(b, d)) {
        return;
    }
    char t[32];
    snprintf(t, sizeof(t), "%1.15g", d);
    if (strtod(t, NULL) != d) {
        snprintf(t, sizeof(t), "%1.17g", d);
    }
    sk_buf_puts(b, t);
}

void sk_buf_json(struct sk_buf *b, const cJSON *item)
{
    if (!item) {
        sk_buf_put(b, "null", 4);
        return;
    }
    switch (item->type & 0xff) {
    case cJSON_False:
        sk_buf_put(b, "false", 5);
        break;
    case cJSON_True:
        sk_buf_put(b, "true", 4);
        break;
    case cJSON_Number:
        json_number(b, item->valuedouble);
        break;
    case cJSON_String:
        sk_buf_json_string(b, item->valuestring ? item->valuestring : "");
        break;
    case cJSON_Raw:
        sk_buf_puts(b, item->valuestring ? item->valuestring : "null");
        break;
    case cJSON_Array:
    case cJSON_Object: {
        bool obj = (item->type & 0xff) == cJSON_Object;
        sk_buf_put(b, obj ? "{" : "[", 1);
        for (const cJSON *c = item->child; c; c = c->next) {
            if (c != item->child) {
                sk_buf_put(b, ",", 1);
            }
            if (obj) {
                sk_buf_json_string(b, c->string ? c->string : "");
                sk_buf_put(b, ":", 1);
            }
            sk_buf_json(b, c);
        }
        sk_buf_put(b, obj ? "}" : "]", 1);
        break;
    }
    default:
        sk_buf_put(b, "null", 4);
    }
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
