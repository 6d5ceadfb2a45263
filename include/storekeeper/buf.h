/* SPDX-License-Identifier: MIT */
/* One growable buffer for text built piece by piece, and one way to grow an array: both bounded. */
#ifndef STOREKEEPER_BUF_H
#define STOREKEEPER_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;

/*
 * A string builder. Start it as `struct sk_buf b = SK_BUF_INIT(max)`: max bounds the text in
 * bytes (the caller's limit: a page, a payload, a report). Writes that fail (out of memory, or
 * the text would pass max) leave the text as it was and set err (-ENOMEM or -E2BIG); every
 * later write is then ignored, so a builder checks err once, at the end. The text is always
 * NUL-terminated once anything was written. Not thread-safe; one owner.
 */
struct sk_buf {
    char *p;    /* the text, owned (NULL until the first write) */
    size_t len; /* bytes of text, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* the bound on len */
    int err;    /* 0, or the first failure */
};

#define SK_BUF_INIT(max_)                                      \
    {                                                          \
        .p = NULL, .len = 0, .cap = 0, .max = (max_), .err = 0 \
    }

/* Appends n bytes of s. */
void sk_buf_put(struct sk_buf *b, const void *s, size_t n);
/* Appends the string s. */
void sk_buf_puts(struct sk_buf *b, const char *s);
/* Appends printf-style text. */
void sk_buf_printf(struct sk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sk_buf_vprintf(struct sk_buf *b, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
/* Appends s as a JSON string, quotes included (control characters escaped as \u00XX). */
void sk_buf_json_string(struct sk_buf *b, const char *s);
/* Appends v in decimal. */
void sk_buf_i64(struct sk_buf *b, int64_t v);
/* Appends a cJSON value as compact JSON, as cJSON_PrintUnformatted writes it but straight into
 * the builder and with integers printed without sprintf (the ledger's hot path): numbers that
 * are integral up to 2^53 as integers, others as the shortest of %.15g and %.17g that reads
 * back as the same double, NaN and infinities as null. NULL prints null. */
void sk_buf_json(struct sk_buf *b, const struct cJSON *item);
/* Hands the text over (owned, freed with free(); "" when nothing was written) and empties b.
 * NULL when a write failed (b->err says why; b is emptied as well). */
char *sk_buf_take(struct sk_buf *b);
/* Frees the text and empties b (its bound is kept). Accepts NULL. */
void sk_buf_free(struct sk_buf *b);

/*
 * Grows an array of items of `size` bytes (v, with *cap items allocated) to hold at least `need`
 * items, doubling, never past max_items. Returns the array (v itself when it had room, or a
 * moved copy: v must not be used after), or NULL with errno ENOMEM or E2BIG and v untouched.
 *     struct row *nv = sk_grow(t->rows, &t->cap, t->n + 1, sizeof(*nv), ROWS_MAX);
 *     if (!nv) return -errno;
 *     t->rows = nv;
 */
void *sk_grow(void *v, size_t *cap, size_t need, size_t size, size_t max_items);

/*
 * Reads f to its end, or to one byte past max (so a larger file, or a pipe, shows as
 * *ret_len > max), into a new NUL-terminated buffer, and closes f. Returns 0, -ENOMEM or the
 * read error (-errno); on an error *ret_text is NULL. Every file the daemon reads whole
 * (configuration, profiles, scenes, scenarios) goes through here with its own limit.
 */
int sk_read_bounded(FILE *f, size_t max, char **ret_text, size_t *ret_len);

#endif
