/* SPDX-License-Identifier: MIT */
/* CSV imports of the catalog (products, tag mappings, planogram): validated, all or nothing. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "ledger_internal.h"
#include "storekeeper/buf.h"
#include "storekeeper/currency.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/names.h"
#include "storekeeper/sha256.h"

/*
 * DESIGN
 * An import reads the whole file (bounded), parses it as CSV (RFC 4180: commas, double
 * quotes with "" inside, CRLF or LF, a header row naming the columns in any order; blank
 * lines and lines starting with # are skipped), validates every row against the column
 * rules and the ledger (skus that must exist, shelves that must be configured), and only
 * when no row has a problem writes all rows in one transaction. Every problem names
 * FILE:LINE:COLUMN and the column's name; up to MAX_ERRORS are reported, so one run shows
 * most of what needs fixing. Nothing of a file with any problem is imported.
 */

#define MAX_FILE   (16 * 1024 * 1024)
#define MAX_RECORD 4096
#define MAX_FIELDS 32
#define MAX_FIELD  1024
#define MAX_ROWS   1000000
#define MAX_ERRORS 20

/* ---- CSV reader ------------------------------------------------------------------------ */

struct csv {
    const char *path;
    const char *p, *end;
    int line;        /* line of the next character */
    int record_line; /* line the current record started on */
    char buf[MAX_RECORD + MAX_FIELDS];
    char *field[MAX_FIELDS];
    int col_line[MAX_FIELDS];
    size_t n;
};

struct report {
    struct sk_diag *diag;
    const char *path;
    size_t errors;
};

static void problem(struct report *r, int line, int col, const char *column, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void problem(struct report *r, int line, int col, const char *column, const char *fmt, ...)
{
    r->errors++;
    if (r->errors > MAX_ERRORS || !r->diag) {
        return;
    }
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (line > 0 && col > 0 && column) {
        sk_diag_add(r->diag, "%s:%d:%d: %s: %s", r->path, line, col, column, what);
    } else if (line > 0 && col > 0) {
        sk_diag_add(r->diag, "%s:%d:%d: %s", r->path, line, col, what);
    } else if (line > 0) {
        sk_diag_add(r->diag, "%s:%d: %s", r->path, line, what);
    } else {
        sk_diag_add(r->diag, "%s: %s", r->path, what);
    }
}

/*
 * Reads one record. Returns the number of fields, 0 at the end, -1 after reporting a
 * malformed record (the reader then skips to the next line).
 */
static int csv_next(struct csv *c, struct report *rep)
{
    for (;;) {
        if (c->p >= c->end) {
            return 0;
        }
        /* Skip blank and comment lines. */
        const char *q = c->p;
        while (q < c->end && (*q == ' ' || *q == '\t')) {
            q++;
        }
        if (q < c->end && (*q == '\n' || *q == '\r' || *q == '#')) {
            while (q < c->end && *q != '\n') {
                q++;
            }
            c->p = q < c->end ? q + 1 : q;
            c->line++;
            continue;
        }
        if (q >= c->end) {
            c->p = q;
            return 0;
        }
        break;
    }
    c->record_line = c->line;
    c->n = 0;
    size_t used = 0;
    int col = 1;
    bool bad = false;
    const char *p = c->p;
    for (;;) {
        if (c->n == MAX_FIELDS) {
            problem(rep, c->record_line, col, NULL, "more than %d columns", MAX_FIELDS);
            bad = true;
            break;
        }
        char *out = c->buf + used;
        size_t len = 0;
        c->field[c->n] = out;
        c->col_line[c->n] = c->line;
        bool quoted = false;
        while (p < c->end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        if (p < c->end && *p == '"') {
            quoted = true;
            p++;
            for (;;) {
                if (p >= c->end) {
                    problem(rep, c->record_line, col, NULL,
                            "quoted field is not closed before the end of the file");
                    c->p = p;
                    return -1;
                }
                if (*p == '"') {
                    if (p + 1 < c->end && p[1] == '"') {
                        p += 2;
                        if (len < MAX_FIELD) {
                            out[len++] = '"';
                        }
                        continue;
                    }
                    p++;
                    break;
                }
                if (*p == '\n') {
                    c->line++;
                }
                if (len < MAX_FIELD) {
                    out[len++] = *p;
                }
                p++;
            }
            while (p < c->end && (*p == ' ' || *p == '\t')) {
                p++;
            }
            if (p < c->end && *p != ',' && *p != '\n' && *p != '\r') {
                problem(rep, c->record_line, col, NULL, "text after a closing quote");
                bad = true;
            }
        }
        while (p < c->end && *p != ',' && *p != '\n' && *p != '\r') {
            if (!quoted && len < MAX_FIELD) {
                out[len++] = *p;
            } else if (!quoted) {
                len++;
            }
            if (*p == '"' && !quoted && !bad) {
                problem(rep, c->record_line, col, NULL,
                        "a double quote inside an unquoted field (quote the whole field)");
                bad = true;
            }
            p++;
        }
        if (!quoted) {
            while (len > 0 && len <= MAX_FIELD && (out[len - 1] == ' ' || out[len - 1] == '\t')) {
                len--;
            }
        }
        if (len >= MAX_FIELD || used + len + 1 > sizeof(c->buf) - 1) {
            if (!bad) {
                problem(rep, c->record_line, col, NULL,
                        len >= MAX_FIELD ? "field longer than %d bytes"
                                         : "record longer than %d bytes",
                        len >= MAX_FIELD ? MAX_FIELD : MAX_RECORD);
            }
            bad = true;
            len = 0;
        }
        out[len] = '\0';
        if (memchr(out, '\0', len) && !bad) {
            problem(rep, c->record_line, col, NULL, "NUL byte in field");
            bad = true;
        }
        used += len + 1;
        c->n++;
        if (p < c->end && *p == ',') {
            p++;
            col++;
            continue;
        }
        break;
    }
    /* End of record. */
    while (p < c->end && *p != '\n') {
        p++;
    }
    c->p = p < c->end ? p + 1 : p;
    c->line++;
    return bad ? -1 : (int)c->n;
}

/* ---- value checks ---------------------------------------------------------------------- */

static bool utf8_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x20 || *p == 0x7f) {
            return false;
        }
        int n = *p < 0x80             ? 0
                : (*p & 0xe0) == 0xc0 ? 1
                : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3
                                      : -1;
        if (n < 0 || (n == 1 && *p < 0xc2)) {
            return false;
        }
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xc0) != 0x80) {
                return false;
            }
        }
    }
    return true;
}

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *ret)
{
    if (!*s) {
        return -1;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < min || v > max || !(isdigit((unsigned char)s[0]) || s[0] == '-')) {
        return -1;
    }
    *ret = v;
    return 0;
}

/* "2.49" with exponent 2 -> 249. Returns 0, -1 (not a number), -2 (too many decimals). */
static int parse_price(const char *s, int exponent, int64_t *ret)
{
    int64_t whole = 0, frac = 0;
    int decimals = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p)) {
        return -1;
    }
    for (; isdigit((unsigned char)*p); p++) {
        whole = whole * 10 + (*p - '0');
        if (whole > 1000000000000LL) {
            return -1;
        }
    }
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p)) {
            return -1;
        }
        for (; isdigit((unsigned char)*p); p++) {
            if (++decimals > 6) {
                return -2;
            }
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p) {
        return -1;
    }
    /* Trailing zeros beyond the exponent are fine: 2.490 EUR is 249 cents. */
    while (decimals > exponent && frac % 10 == 0) {
        frac /= 10;
        decimals--;
    }
    if (decimals > exponent) {
        return -2;
    }
    int64_t scale = 1;
    for (int i = 0; i < exponent; i++) {
        scale *= 10;
    }
    int64_t fscale = 1;
    for (int i = decimals; i < exponent; i++) {
        fscale *= 10;
    }
    *ret = whole * scale + frac * fscale;
    return 0;
}

/* GTIN-8/12/13/14 -> GTIN-14 with its check digit verified. */
static int parse_gtin(const char *s, char out[15])
{
    size_t n = strlen(s);
    if (n != 8 && n != 12 && n != 13 && n != 14) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return -1;
        }
    }
    memset(out, '0', 14 - n);
    memcpy(out + 14 - n, s, n);
    out[14] = '\0';
    return sk_gtin_check_digit(out) == out[13] - '0' ? 0 : -2;
}

/* ---- columns ------------------------------------------------------------------------------- */

struct column {
    const char *name;
    bool required;
};

static const struct column product_cols[] = {
        {"sku", true},
        {"gtin", false},
        {"name", true},
        {"price", true},
        {"currency", true},
        {"restock_threshold", false},
        {"restock_target", false},
        {NULL, false},
};
static const struct column tag_cols[] = {{"epc", true}, {"sku", true}, {NULL, false}};
static const struct column plano_cols[] = {
        {"shelf", true}, {"sku", true}, {"capacity", false}, {NULL, false}};

static const struct column *columns_of(int kind)
{
    switch (kind) {
    case SK_IMPORT_PRODUCTS:
        return product_cols;
    case SK_IMPORT_TAGS:
        return tag_cols;
    case SK_IMPORT_PLANOGRAM:
        return plano_cols;
    default:
        return NULL;
    }
}

const char *sk_import_kind_name(int kind)
{
    static const char *const names[] = {[SK_IMPORT_PRODUCTS] = "products",
                                        [SK_IMPORT_TAGS] = "tags",
                                        [SK_IMPORT_PLANOGRAM] = "planogram"};
    return SK_NAME_OF(names, kind, NULL);
}

/* Parsed rows, kept until every row was checked. */
struct row {
    int line;
    int cols[8]; /* column number (1-based) of each schema column in the file, 0 if absent */

    union {
        struct sk_product product;

        struct {
            uint8_t epc[SK_EPC_MAX];
            size_t epc_len;
            char sku[SK_LEDGER_SKU_MAX];
        } tag;

        struct {
            char shelf[64];
            char sku[SK_LEDGER_SKU_MAX];
            int capacity;
        } plano;
    } u;
};

#define IMPORT_ROWS_MAX 10000000 /* rows of one file: far above a store's catalog */

struct rows {
    struct row *v;
    size_t n, cap;
};

static struct row *rows_add(struct rows *r)
{
    struct row *v = sk_grow(r->v, &r->cap, r->n + 1, sizeof(*v), IMPORT_ROWS_MAX);
    if (!v) {
        return NULL;
    }
    r->v = v;
    struct row *x = &r->v[r->n++];
    memset(x, 0, sizeof(*x));
    return x;
}

/* A small string set for duplicate detection (open addressing over line numbers). */
struct seen {
    char **keys;
    int *lines;
    size_t cap, n;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    }
    return h;
}

/* Returns the line the key was first seen on, 0 when new (then remembered), -1 on ENOMEM. */
static int seen_add(struct seen *s, const char *key, int line)
{
    if ((s->n + 1) * 10 > s->cap * 7) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        char **keys = calloc(cap, sizeof(*keys));
        int *lines = calloc(cap, sizeof(*lines));
        if (!keys || !lines) {
            free(keys);
            free(lines);
            return -1;
        }
        for (size_t i = 0; i < s->cap; i++) {
            if (s->keys[i]) {
                size_t j = fnv(s->keys[i]) & (cap - 1);
                while (keys[j]) {
                    j = (j + 1) & (cap - 1);
                }
                keys[j] = s->keys[i];
                lines[j] = s->lines[i];
            }
        }
        free(s->keys);
        free(s->lines);
        s->keys = keys;
        s->lines = lines;
        s->cap = cap;
    }
    size_t j = fnv(key) & (s->cap - 1);
    while (s->keys[j]) {
        if (strcmp(s->keys[j], key) == 0) {
            return s->lines[j];
        }
        j = (j + 1) & (s->cap - 1);
    }
    s->keys[j] = strdup(key);
    if (!s->keys[j]) {
        return -1;
    }
    s->lines[j] = line;
    s->n++;
    return 0;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        free(s->keys[i]);
    }
    free(s->keys);
    free(s->lines);
}

/* ---- the import ------------------------------------------------------------------------ */

struct import {
    struct sk_ledger *l;
    int kind;
    const struct sk_config *cfg;
    struct report rep;
    struct csv csv;
    const struct column *cols;
    int map[8]; /* field index for each schema column, -1 if absent */
    size_t header_n;
    struct rows rows;
    struct seen keys, gtins;
};

static const char *field(struct import *im, int schema_col)
{
    int i = im->map[schema_col];
    return i >= 0 && (size_t)i < im->csv.n ? im->csv.field[i] : "";
}

#define PROBLEM(im, sc, ...) \
    problem(&(im)->rep, (im)->csv.record_line, (im)->map[sc] + 1, (im)->cols[sc].name, __VA_ARGS__)

static int read_header(struct import *im)
{
    int n = csv_next(&im->csv, &im->rep);
    if (n <= 0) {
        if (n == 0) {
            problem(&im->rep, 0, 0, NULL, "empty file: a header row is needed (%s)",
                    im->kind == SK_IMPORT_PRODUCTS ? "sku,gtin,name,price,currency,..."
                    : im->kind == SK_IMPORT_TAGS   ? "epc,sku"
                                                   : "shelf,sku,capacity");
        }
        return -1;
    }
    for (size_t c = 0; c < 8; c++) {
        im->map[c] = -1;
    }
    im->header_n = (size_t)n;
    int bad = 0;
    for (int f = 0; f < n; f++) {
        char *name = im->csv.field[f];
        if (f == 0 && (unsigned char)name[0] == 0xef && (unsigned char)name[1] == 0xbb &&
            (unsigned char)name[2] == 0xbf) {
            memmove(name, name + 3, strlen(name + 3) + 1); /* UTF-8 BOM */
        }
        for (char *p = name; *p; p++) {
            *p = (char)tolower((unsigned char)*p);
        }
        int found = -1;
        for (int c = 0; im->cols[c].name; c++) {
            if (strcmp(im->cols[c].name, name) == 0) {
                found = c;
            }
        }
        if (found < 0) {
            char list[200] = "";
            for (int c = 0; im->cols[c].name; c++) {
                strncat(list, c ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, im->cols[c].name, sizeof(list) - strlen(list) - 1);
            }
            problem(&im->rep, im->csv.record_line, f + 1, name, "unknown column (known: %s)", list);
            bad = 1;
        } else if (im->map[found] >= 0) {
            problem(&im->rep, im->csv.record_line, f + 1, name, "column given twice");
            bad = 1;
        } else {
            im->map[found] = f;
        }
    }
    for (int c = 0; im->cols[c].name; c++) {
        if (im->cols[c].required && im->map[c] < 0) {
            problem(&im->rep, im->csv.record_line, 0, NULL, "the required column \"%s\" is missing",
                    im->cols[c].name);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

static void check_product(struct import *im, struct row *r)
{
    struct sk_product *p = &r->u.product;
    const char *sku = field(im, 0);
    if (!ledger_sku_ok(sku)) {
        PROBLEM(im, 0, "\"%s\" is not a sku (1 to 63 of A-Z a-z 0-9 . _ -)", sku);
    } else {
        snprintf(p->sku, sizeof(p->sku), "%s", sku);
        int first = seen_add(&im->keys, sku, r->line);
        if (first > 0) {
            PROBLEM(im, 0, "\"%s\" is already on line %d", sku, first);
        }
    }
    const char *gtin = field(im, 1);
    if (gtin[0]) {
        int g = parse_gtin(gtin, p->gtin);
        if (g == -1) {
            PROBLEM(im, 1, "\"%s\" is not a GTIN (8, 12, 13 or 14 digits)", gtin);
        } else if (g == -2) {
            PROBLEM(im, 1, "\"%s\": wrong check digit", gtin);
        } else {
            int first = seen_add(&im->gtins, p->gtin, r->line);
            if (first > 0) {
                PROBLEM(im, 1, "GTIN %s is already on line %d", p->gtin, first);
            }
        }
    }
    const char *name = field(im, 2);
    if (!name[0] || strlen(name) >= sizeof(p->name) || !utf8_text_ok(name)) {
        PROBLEM(im, 2, "a name of 1 to %zu bytes of UTF-8 text is needed", sizeof(p->name) - 1);
    } else {
        snprintf(p->name, sizeof(p->name), "%s", name);
    }
    const char *cur = field(im, 4);
    bool cur_ok = sk_currency_known(cur);
    if (!cur_ok) {
        PROBLEM(im, 4, "\"%s\" is not an ISO 4217 currency code in use (like EUR)", cur);
    } else {
        snprintf(p->currency, sizeof(p->currency), "%s", cur);
    }
    const char *price = field(im, 3);
    int exponent = cur_ok ? sk_currency_exponent(cur) : 2;
    int pr = parse_price(price, exponent, &p->price_minor);
    if (pr == -1) {
        PROBLEM(im, 3, "\"%s\" is not a price (digits, optionally a point and decimals)", price);
    } else if (pr == -2) {
        PROBLEM(im, 3, "\"%s\" has more decimals than %s has (%d)", price, cur_ok ? cur : "it",
                exponent);
    }
    int64_t v = 0;
    const char *t = field(im, 5);
    if (t[0] && parse_int(t, 0, 1000000000, &v) < 0) {
        PROBLEM(im, 5, "\"%s\" is not a whole number from 0 to 1000000000", t);
    }
    p->restock_threshold = (int)v;
    v = 0;
    t = field(im, 6);
    if (t[0] && parse_int(t, 0, 1000000000, &v) < 0) {
        PROBLEM(im, 6, "\"%s\" is not a whole number from 0 to 1000000000", t);
    } else if (v > 0 && v < p->restock_threshold) {
        PROBLEM(im, 6, "%" PRId64 " is below restock_threshold (%d)", v, p->restock_threshold);
    }
    p->restock_target = (int)v;
}

static void check_tag(struct import *im, struct row *r)
{
    const char *epc = field(im, 0);
    size_t n = strlen(epc);
    int len = -1;
    if (n >= 4 && n <= 2 * SK_EPC_MAX && n % 4 == 0) {
        len = sk_epc_from_hex(epc, r->u.tag.epc, sizeof(r->u.tag.epc));
    }
    if (len <= 0) {
        PROBLEM(im, 0, "\"%s\" is not an EPC (hex digits, a multiple of 4, at most %d)", epc,
                2 * SK_EPC_MAX);
    } else {
        r->u.tag.epc_len = (size_t)len;
        char hex[SK_EPC_HEX_MAX];
        sk_epc_to_hex(r->u.tag.epc, r->u.tag.epc_len, hex, sizeof(hex));
        int first = seen_add(&im->keys, hex, r->line);
        if (first > 0) {
            PROBLEM(im, 0, "%s is already on line %d", hex, first);
        }
    }
    const char *sku = field(im, 1);
    struct sk_product p;
    int k;
    if (!ledger_sku_ok(sku)) {
        PROBLEM(im, 1, "\"%s\" is not a sku", sku);
    } else if ((k = sk_ledger_product_get(im->l, sku, &p)) <= 0) {
        if (k < 0) {
            PROBLEM(im, 1, "cannot look it up: %s", sk_ledger_errmsg(im->l));
        } else {
            PROBLEM(im, 1, "unknown sku \"%s\" (import products first)", sku);
        }
    } else {
        snprintf(r->u.tag.sku, sizeof(r->u.tag.sku), "%s", sku);
    }
}

static void check_plano(struct import *im, struct row *r)
{
    const char *shelf = field(im, 0);
    bool known = false;
    if (im->cfg) {
        for (size_t i = 0; i < im->cfg->n_shelves && !known; i++) {
            known = strcmp(im->cfg->shelves[i].name, shelf) == 0;
        }
    } else {
        known = ledger_name_ok(shelf) && ledger_shelf_known(im->l, shelf) == 1;
    }
    if (!known) {
        PROBLEM(im, 0, "unknown shelf \"%s\" (%s)", shelf,
                im->cfg ? "not in the configuration's shelves" : "not in the ledger's shelves");
    } else {
        snprintf(r->u.plano.shelf, sizeof(r->u.plano.shelf), "%s", shelf);
    }
    const char *sku = field(im, 1);
    struct sk_product p;
    if (!ledger_sku_ok(sku)) {
        PROBLEM(im, 1, "\"%s\" is not a sku", sku);
    } else if (sk_ledger_product_get(im->l, sku, &p) != 1) {
        PROBLEM(im, 1, "unknown sku \"%s\" (import products first)", sku);
    } else {
        snprintf(r->u.plano.sku, sizeof(r->u.plano.sku), "%s", sku);
        char key[160];
        snprintf(key, sizeof(key), "%s\x1f%s", shelf, sku);
        int first = seen_add(&im->keys, key, r->line);
        if (first > 0) {
            PROBLEM(im, 1, "shelf %s already has %s on line %d", shelf, sku, first);
        }
    }
    int64_t v = 0;
    const char *c = field(im, 2);
    if (c[0] && parse_int(c, 0, 1000000, &v) < 0) {
        PROBLEM(im, 2, "\"%s\" is not a whole number from 0 to 1000000", c);
    }
    r->u.plano.capacity = (int)v;
}

static int read_file(const char *path, char **ret, size_t *ret_len, struct report *rep)
{
    /* Opened without blocking and checked before reading: a FIFO would wait for a writer
     * forever, /dev/zero never end, a directory read as empty. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
        }
        problem(rep, 0, 0, NULL, "cannot open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && !S_ISREG(st.st_mode)) {
        fclose(f);
        problem(rep, 0, 0, NULL, "%s, not a regular file",
                S_ISDIR(st.st_mode)    ? "a directory"
                : S_ISFIFO(st.st_mode) ? "a FIFO"
                                       : "a device or socket");
        return -EINVAL;
    }
    if (st.st_size > MAX_FILE) {
        fclose(f);
        problem(rep, 0, 0, NULL, "larger than %d MiB", MAX_FILE >> 20);
        return -EFBIG;
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        fclose(f);
        return -ENOMEM;
    }
    size_t n = fread(b, 1, (size_t)st.st_size, f);
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(b);
        problem(rep, 0, 0, NULL, "read error");
        return -EIO;
    }
    b[n] = '\0';
    *ret = b;
    *ret_len = n;
    return 0;
}

/* Writes the validated rows. Returns 0 or < 0 with problems reported. */
static int write_rows(struct import *im, unsigned flags, struct sk_import_result *res)
{
    struct sk_ledger *l = im->l;
    int r = 0;
    for (size_t i = 0; i < im->rows.n && r == 0; i++) {
        ledger_progress(l, "import", (int64_t)i + 1, (int64_t)im->rows.n);
        struct row *x = &im->rows.v[i];
        bool exists = false;
        struct sk_product old;
        switch (im->kind) {
        case SK_IMPORT_PRODUCTS:
            exists = sk_ledger_product_get(l, x->u.product.sku, &old) == 1;
            r = sk_ledger_product_put(l, &x->u.product);
            if (r == -EEXIST) {
                problem(&im->rep, x->line, im->map[1] + 1, "gtin",
                        "GTIN %s belongs to another product in the ledger", x->u.product.gtin);
            }
            break;
        case SK_IMPORT_TAGS: {
            sqlite3_stmt *s = ledger_stmt(l, ST_TAG_GET);
            if (s) {
                sqlite3_bind_blob(s, 1, x->u.tag.epc, (int)x->u.tag.epc_len, SQLITE_STATIC);
                exists = sqlite3_step(s) == SQLITE_ROW;
                sqlite3_reset(s);
            }
            r = sk_ledger_tag_put(l, x->u.tag.epc, x->u.tag.epc_len, x->u.tag.sku);
            break;
        }
        case SK_IMPORT_PLANOGRAM: {
            sqlite3_stmt *s = ledger_stmt(l, ST_PLANO_GET);
            if (s) {
                sqlite3_bind_text(s, 1, x->u.plano.shelf, -1, SQLITE_STATIC);
                sqlite3_bind_text(s, 2, x->u.plano.sku, -1, SQLITE_STATIC);
                exists = sqlite3_step(s) == SQLITE_ROW;
                sqlite3_reset(s);
            }
            r = sk_ledger_planogram_put(l, x->u.plano.shelf, x->u.plano.sku, x->u.plano.capacity);
            break;
        }
        }
        if (r == 0) {
            if (exists) {
                res->updated++;
            } else {
                res->inserted++;
            }
        } else if (r != -EEXIST) {
            problem(&im->rep, x->line, 0, NULL, "%s", sk_ledger_errmsg(l));
        }
    }
    if (r < 0 || !(flags & SK_IMPORT_REPLACE)) {
        return r;
    }
    /* Replace: what the file does not name goes. The keys go into a temporary table. */
    r = ledger_exec(l,
                    "CREATE TEMP TABLE IF NOT EXISTS import_keys (a, b);"
                    "DELETE FROM temp.import_keys;",
                    "import");
    sqlite3_stmt *ins = NULL;
    if (r == 0 && sqlite3_prepare_v2(l->db, "INSERT INTO temp.import_keys VALUES (?1, ?2)", -1,
                                     &ins, NULL) != SQLITE_OK) {
        r = ledger_fail(l, sqlite3_errcode(l->db), "import");
    }
    for (size_t i = 0; r == 0 && i < im->rows.n; i++) {
        struct row *x = &im->rows.v[i];
        if (im->kind == SK_IMPORT_PRODUCTS) {
            sqlite3_bind_text(ins, 1, x->u.product.sku, -1, SQLITE_STATIC);
        } else if (im->kind == SK_IMPORT_TAGS) {
            sqlite3_bind_blob(ins, 1, x->u.tag.epc, (int)x->u.tag.epc_len, SQLITE_STATIC);
        } else {
            sqlite3_bind_text(ins, 1, x->u.plano.shelf, -1, SQLITE_STATIC);
            sqlite3_bind_text(ins, 2, x->u.plano.sku, -1, SQLITE_STATIC);
        }
        r = ledger_step_done(l, ins, "import");
        sqlite3_clear_bindings(ins);
    }
    sqlite3_finalize(ins);
    if (r < 0) {
        return r;
    }
    if (im->kind == SK_IMPORT_PRODUCTS) {
        /* Products still used by tags or the planogram cannot go. */
        sqlite3_stmt *s;
        if (sqlite3_prepare_v2(l->db,
                               "SELECT sku, (SELECT count(*) FROM tags t WHERE t.sku = p.sku), "
                               "(SELECT count(*) FROM planogram g WHERE g.sku = p.sku) "
                               "FROM products p WHERE sku NOT IN (SELECT a FROM temp.import_keys) "
                               "AND (sku IN (SELECT sku FROM tags) OR "
                               "sku IN (SELECT sku FROM planogram)) ORDER BY sku",
                               -1, &s, NULL) != SQLITE_OK) {
            return ledger_fail(l, sqlite3_errcode(l->db), "import");
        }
        while (sqlite3_step(s) == SQLITE_ROW) {
            problem(&im->rep, 0, 0, NULL,
                    "--replace would remove product %s, which %d tag mapping(s) and %d "
                    "planogram row(s) still use: keep it in the file or change those first",
                    (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                    sqlite3_column_int(s, 2));
            r = -EBUSY;
        }
        sqlite3_finalize(s);
        if (r < 0) {
            return r;
        }
    }
    static const char *const del[] = {
            [SK_IMPORT_PRODUCTS] = "DELETE FROM products WHERE sku NOT IN "
                                   "(SELECT a FROM temp.import_keys)",
            [SK_IMPORT_TAGS] = "DELETE FROM tags WHERE epc NOT IN (SELECT a FROM temp.import_keys)",
            [SK_IMPORT_PLANOGRAM] = "DELETE FROM planogram WHERE NOT EXISTS (SELECT 1 FROM "
                                    "temp.import_keys k WHERE k.a = shelf AND k.b = sku)",
    };
    r = ledger_exec(l, del[im->kind], "import (replace)");
    if (im->kind == SK_IMPORT_PRODUCTS) {
        ledger_cache_product_changed(l, NULL); /* products may be gone */
    }
    if (r == 0) {
        res->removed = sqlite3_changes(l->db);
    }
    return r;
}

/* SHA-256 of text as lower-case hex. */
static void text_sha256(const char *text, size_t len, char out[SK_LEDGER_HASH_HEX])
{
    uint8_t md[32];
    sk_sha256(text, len, md);
    for (int i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
}

/* Imports o->text (o->len bytes, text[len] == '\0', owned by the caller) named path. */
static int import_text(struct sk_ledger *l,
                       const char *path,
                       const struct sk_import_opts *o,
                       struct sk_import_result *ret)
{
    int kind = o->kind;
    unsigned flags = o->flags;
    const struct sk_config *cfg = o->cfg;
    struct sk_diag *diag = o->diag;
    const char *text = o->text;
    size_t len = o->len;
    struct import im;
    memset(&im, 0, sizeof(im));
    im.l = l;
    im.kind = kind;
    im.cfg = cfg;
    im.cols = columns_of(kind);
    im.rep.diag = diag;
    im.rep.path = path;
    if (!im.cols || !path) {
        return -EINVAL;
    }
    struct sk_import_result res;
    memset(&res, 0, sizeof(res));
    if (ret) {
        *ret = res;
    }
    int r;
    im.csv.path = path;
    im.csv.p = text;
    im.csv.end = text + len;
    im.csv.line = 1;
    /* Reads run inside the transaction too, so the checks see what the writes will see. */
    bool dry = flags & SK_IMPORT_DRY_RUN;
    r = sk_ledger_begin(l);
    if (r < 0) {
        problem(&im.rep, 0, 0, NULL, "%s", sk_ledger_errmsg(l));
        return r;
    }
    r = 0;
    char key[48], digest[SK_LEDGER_HASH_HEX], last[SK_LEDGER_HASH_HEX] = "";
    snprintf(key, sizeof(key), "import.%s.sha256", sk_import_kind_name(kind));
    text_sha256(text, len, digest);
    if ((flags & SK_IMPORT_IF_CHANGED) && ledger_meta_get(l, key, last, sizeof(last)) > 0 &&
        strcmp(last, digest) == 0) {
        sk_ledger_rollback(l);
        res.unchanged = true;
        if (ret) {
            *ret = res;
        }
        return 0;
    }
    if (kind == SK_IMPORT_PLANOGRAM && cfg) {
        r = sk_ledger_sync_shelves(l, cfg);
        r = r < 0 ? r : 0;
    }
    if (r == 0 && read_header(&im) == 0) {
        int n;
        while ((n = csv_next(&im.csv, &im.rep)) != 0) {
            if (n < 0) {
                continue;
            }
            if (res.rows == MAX_ROWS) {
                problem(&im.rep, im.csv.record_line, 0, NULL, "more than %d rows", MAX_ROWS);
                break;
            }
            res.rows++;
            ledger_progress(l, "import", res.rows, 0);
            if (im.csv.n != im.header_n) {
                problem(&im.rep, im.csv.record_line, 0, NULL,
                        "%zu field(s), but the header has %zu column(s)", im.csv.n, im.header_n);
            }
            struct row *x = rows_add(&im.rows);
            if (!x) {
                r = -ENOMEM;
                break;
            }
            x->line = im.csv.record_line;
            if (kind == SK_IMPORT_PRODUCTS) {
                check_product(&im, x);
            } else if (kind == SK_IMPORT_TAGS) {
                check_tag(&im, x);
            } else {
                check_plano(&im, x);
            }
        }
    }
    if (r == 0 && im.rep.errors == 0) {
        r = write_rows(&im, flags, &res);
    }
    if (r == 0 && im.rep.errors > 0) {
        r = -EINVAL;
    }
    if (r == 0 && !dry) {
        r = ledger_meta_set(l, key, digest);
    }
    if (r < 0 || dry) {
        sk_ledger_rollback(l);
    } else {
        r = sk_ledger_commit(l);
        if (r < 0) {
            problem(&im.rep, 0, 0, NULL, "%s", sk_ledger_errmsg(l));
        }
    }
    if (im.rep.errors > MAX_ERRORS && diag) {
        sk_diag_add(diag, "%s: %zu more problem(s) not shown", path, im.rep.errors - MAX_ERRORS);
    }
    res.errors = im.rep.errors;
    free(im.rows.v);
    seen_free(&im.keys);
    seen_free(&im.gtins);
    if (ret) {
        *ret = res;
    }
    return r;
}

int sk_ledger_import(struct sk_ledger *l,
                     const char *path,
                     const struct sk_import_opts *opts,
                     struct sk_import_result *ret)
{
    if (ret) {
        memset(ret, 0, sizeof(*ret));
    }
    if (!opts || !columns_of(opts->kind) || !path) {
        return -EINVAL;
    }
    struct report rep = {.diag = opts->diag, .path = path};
    struct sk_import_opts o = *opts;
    char *text = NULL;
    int r = 0;
    if (!opts->text) {
        r = read_file(path, &text, &o.len, &rep);
    } else if (opts->len > MAX_FILE) {
        problem(&rep, 0, 0, NULL, "larger than %d MiB", MAX_FILE >> 20);
        r = -EFBIG;
    }
    if (r < 0) {
        if (ret) {
            ret->errors = rep.errors;
        }
        return r;
    }
    if (opts->text) { /* the parser wants a NUL after the text */
        text = malloc(opts->len + 1);
        if (!text) {
            return -ENOMEM;
        }
        memcpy(text, opts->text, opts->len);
        text[opts->len] = '\0';
    }
    o.text = text;
    r = import_text(l, path, &o, ret);
    free(text);
    return r;
}
