/* SPDX-License-Identifier: MIT */
/* Loads the store file and board profile through the key tables, collecting every error. */
#include "storekeeper/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <libconfig.h>

#include "config_internal.h"
#include "sk_build_info.h"
#include "storekeeper/buf.h"
#include "storekeeper/credentials.h"
#include "storekeeper/error.h"
#include "storekeeper/sha256.h"

/*
 * DESIGN
 * The loader makes one pass over the parsed libconfig tree. Each setting's generic path
 * ("readers.[].unit") is looked up in the key table; the table says how to check the value
 * and where to store it. Defaults are written before a struct is filled, so a missing
 * optional key keeps its default and a missing required key is reported. Cross-references
 * (a reader's bus, a shelf's zone, duplicate names) are checked in a second pass that uses
 * the libconfig tree only to find line numbers. All problems are collected, none stops the
 * pass, so an operator fixes a file in one round.
 */

#define PATH_BUF 256

/* ---- diagnostics ------------------------------------------------------------------------ */

void sk_diag_init(struct sk_diag *d)
{
    memset(d, 0, sizeof(*d));
}

void sk_diag_free(struct sk_diag *d)
{
    if (!d) {
        return;
    }
    for (size_t i = 0; i < d->n; i++) {
        free(d->lines[i]);
    }
    free(d->lines);
    memset(d, 0, sizeof(*d));
}

void sk_diag_add(struct sk_diag *d, const char *fmt, ...)
{
    /* Bounded: a file with thousands of errors is reported by its first 200. */
    if (!d || d->n >= 200) {
        return;
    }
    char **lines = sk_grow(d->lines, &d->cap, d->n + 1, sizeof(*lines), 200);
    if (!lines) {
        return;
    }
    d->lines = lines;
    va_list ap;
    va_start(ap, fmt);
    char *line = NULL;
    if (vasprintf(&line, fmt, ap) >= 0) {
        d->lines[d->n++] = line;
    }
    va_end(ap);
}

int sk_config_load_print(const char *store_path, const char *board, struct sk_config **ret_cfg)
{
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = board};
    int r = sk_config_load(store_path, &copts, &diag, ret_cfg);
    if (r < 0) {
        sk_diag_print(&diag, stderr);
        fprintf(stderr, "%zu error(s); configuration not valid\n", diag.n);
    }
    sk_diag_free(&diag);
    return r;
}

void sk_diag_print(const struct sk_diag *d, FILE *out)
{
    for (size_t i = 0; i < d->n; i++) {
        fprintf(out, "%s\n", d->lines[i]);
    }
}

/* Splits "FILE:LINE: ..." into the file part's length and the line (0 when absent). */
static unsigned long diag_line(const char *msg, size_t *file_len)
{
    const char *colon = strchr(msg, ':');
    *file_len = colon ? (size_t)(colon - msg) : 0;
    if (!colon || colon[1] < '0' || colon[1] > '9') {
        return 0;
    }
    return strtoul(colon + 1, NULL, 10);
}

/* Orders messages of the same file by line (stable), so they read in file order. */
static void diag_sort(struct sk_diag *d, size_t from)
{
    for (size_t i = from + 1; i < d->n; i++) {
        size_t fl;
        unsigned long line = diag_line(d->lines[i], &fl);
        size_t j = i;
        while (j > from) {
            size_t pfl;
            unsigned long pline = diag_line(d->lines[j - 1], &pfl);
            if (pfl != fl || strncmp(d->lines[j - 1], d->lines[i], fl) != 0 || pline <= line) {
                break;
            }
            j--;
        }
        if (j != i) {
            char *m = d->lines[i];
            memmove(&d->lines[j + 1], &d->lines[j], (i - j) * sizeof(char *));
            d->lines[j] = m;
        }
    }
}

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * The text of the files one load read (the store file or board profile, and the files it
 * @includes), each read once and kept until the load ends: a message about an integer
 * literal libconfig could not hold quotes that line as written, and a load with many such
 * settings reads nothing again. The file given as text is kept as parsed (never re-read from
 * disk, where it may differ or not exist).
 */
#define SRC_FILES 16 /* files kept at once; the oldest goes first */

struct src_file {
    char *name; /* the path (setting_file) */
    char *text; /* NUL-terminated; NULL: could not be read */
    size_t len;
    size_t *line_at; /* offset of line n + 1; built on the first lookup */
    size_t n_lines;
};

struct src_cache {
    struct src_file files[SRC_FILES];
    size_t next; /* the slot to fill (or reuse) next */
};

struct loader {
    const struct sk_cfg_table *table;
    const char *file; /* as given by the user */
    struct sk_diag *diag;
    struct sk_diag *warnings; /* NULL: warnings are not kept */
    config_t *cf;
    struct src_cache *src; /* may be NULL: literals are not quoted */
    int errors;
};

static void src_clear(struct src_file *f)
{
    free(f->name);
    free(f->text);
    free(f->line_at);
    *f = (struct src_file){0};
}

static void src_free(struct src_cache *c)
{
    for (size_t i = 0; i < SRC_FILES; i++) {
        src_clear(&c->files[i]);
    }
}

/* Keeps text (owned, NUL-terminated, or NULL: unreadable) as the file named name. */
static struct src_file *src_put(struct src_cache *c, const char *name, char *text, size_t len)
{
    struct src_file *f = &c->files[c->next];
    c->next = (c->next + 1) % SRC_FILES;
    src_clear(f);
    f->name = strdup(name);
    if (!f->name) {
        free(text);
        return NULL;
    }
    f->text = text;
    f->len = len;
    return f;
}

/* Line n (from 1) of the file named name, and its length; NULL when there is none. */
static const char *src_line(struct src_cache *c, const char *name, unsigned n, size_t *ret_len)
{
    struct src_file *f = NULL;
    for (size_t i = 0; i < SRC_FILES && !f; i++) {
        if (c->files[i].name && strcmp(c->files[i].name, name) == 0) {
            f = &c->files[i];
        }
    }
    if (!f) { /* an @include'd file, first asked for: read it once */
        char *text = NULL;
        size_t len = 0;
        int fd = open(name, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
        if (!fp && fd >= 0) {
            close(fd);
        }
        /* (checked to be a regular file within the limit before it was parsed) */
        if (fp && sk_read_bounded(fp, SK_CONFIG_MAX_BYTES, &text, &len) == 0 &&
            len > SK_CONFIG_MAX_BYTES) {
            free(text);
            text = NULL;
        }
        f = src_put(c, name, text, len);
    }
    if (!f || !f->text) {
        return NULL;
    }
    if (!f->line_at) {
        size_t n_lines = 1;
        for (size_t i = 0; i < f->len; i++) {
            n_lines += f->text[i] == '\n';
        }
        f->line_at = malloc(n_lines * sizeof(*f->line_at));
        if (!f->line_at) {
            return NULL;
        }
        f->line_at[0] = 0;
        for (size_t i = 0, k = 1; i < f->len; i++) {
            if (f->text[i] == '\n') {
                f->line_at[k++] = i + 1;
            }
        }
        f->n_lines = n_lines;
    }
    if (n == 0 || n > f->n_lines) {
        return NULL;
    }
    const char *p = f->text + f->line_at[n - 1];
    const char *nl = memchr(p, '\n', (size_t)(f->text + f->len - p));
    *ret_len = nl ? (size_t)(nl - p) : (size_t)(f->text + f->len - p);
    return p;
}

/* The file a setting was read from: l->file, or an @include'd file, whose name libconfig
 * keeps as written (relative to the including file's directory, where it opened it). */
static const char *
setting_file(const struct loader *l, const config_setting_t *s, char *buf, size_t size)
{
    const char *f = s ? config_setting_source_file(s) : NULL;
    if (!f || strcmp(f, l->file) == 0) {
        return l->file;
    }
    const char *slash = strrchr(l->file, '/');
    if (f[0] == '/' || !slash) {
        return f;
    }
    snprintf(buf, size, "%.*s/%s", (int)(slash - l->file), l->file, f);
    return buf;
}

/* "FILE:LINE: PATH: MESSAGE" into d, FILE the one the setting was read from. */
static void add_at(const struct loader *l,
                   struct sk_diag *d,
                   const config_setting_t *s,
                   const char *path,
                   const char *msg)
{
    unsigned line = s ? config_setting_source_line(s) : 0;
    if (line > 0) {
        char fbuf[2 * SK_PATH_MAX];
        sk_diag_add(d, "%s:%u: %s: %s", setting_file(l, s, fbuf, sizeof(fbuf)), line, path, msg);
    } else {
        sk_diag_add(d, "%s: %s: %s", l->file, path, msg);
    }
}

static void
report(struct loader *l, const config_setting_t *s, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
report(struct loader *l, const config_setting_t *s, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_at(l, l->diag, s, path, msg);
    l->errors++;
}

/* What loads but deserves a look: kept with the configuration, not counted as an error. */
static void
warn(struct loader *l, const config_setting_t *s, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void
warn(struct loader *l, const config_setting_t *s, const char *path, const char *fmt, ...)
{
    if (!l->warnings) {
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_at(l, l->warnings, s, path, msg);
}

/*
 * The number as written, when libconfig could not hold it: it reads an integer literal beyond
 * 64 bits (or beyond 32 without an L) as -1 or 0, and a message would then call 1e20 "-1". The
 * setting's line is looked up in the loader's copy of its file and the literals after
 * `name =` (or `:`) taken; one line may hold several settings of that name. Returns true with
 * the digits in buf when none of them is v and one is beyond what libconfig holds.
 */
static bool
literal_differs(struct loader *l, const config_setting_t *s, long long v, char *buf, size_t size)
{
    char fbuf[2 * SK_PATH_MAX];
    const char *file = setting_file(l, s, fbuf, sizeof(fbuf));
    const char *name = config_setting_name(s);
    unsigned line = config_setting_source_line(s);
    if (!l->src || !file || !name || line == 0) {
        return false;
    }
    size_t line_len = 0;
    const char *at = src_line(l->src, file, line, &line_len);
    if (!at) {
        return false;
    }
    char text[4096];
    snprintf(text, sizeof(text), "%.*s",
             (int)(line_len < sizeof(text) ? line_len : sizeof(text) - 1), at);
    bool differs = false;
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
        if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_')) {
            continue;
        }
        const char *q = p + strlen(name);
        q += strspn(q, " \t");
        if (*q != '=' && *q != ':') {
            continue;
        }
        q++;
        q += strspn(q, " \t");
        size_t n = (*q == '-' || *q == '+') ? 1 : 0;
        size_t len = n + strspn(q + n, "0123456789abcdefABCDEFxX");
        char lit[64];
        if (len == n || len >= sizeof(lit)) {
            continue;
        }
        memcpy(lit, q, len);
        lit[len] = '\0';
        errno = 0;
        char *end = NULL;
        long long w = strtoll(lit, &end, 0);
        if (!end || *end != '\0') {
            continue;
        }
        if (errno != ERANGE && w == v) {
            return false;
        }
        bool wrapped = errno == ERANGE || w != (long long)(int32_t)w;
        if (wrapped && !differs) {
            snprintf(buf, size, "%s", lit);
            differs = true;
        }
    }
    return differs;
}

static const struct sk_cfg_key *find_key(const struct sk_cfg_table *t, const char *gpath)
{
    for (size_t i = 0; i < t->n_keys; i++) {
        if (strcmp(t->keys[i].path, gpath) == 0) {
            return &t->keys[i];
        }
    }
    return NULL;
}

/* Length of the parent part of a generic path ("readers.[].unit" -> "readers.[]"). */
static size_t parent_len(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static bool is_child_of(const char *path, const char *parent)
{
    size_t pl = strlen(parent);
    return parent_len(path) == pl && strncmp(path, parent, pl) == 0;
}

static const char *last_part(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) {
        return SIZE_MAX;
    }
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) {
        prev[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost =
                    tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = prev[j] + 1;
            if (cur[j - 1] + 1 < best) {
                best = cur[j - 1] + 1;
            }
            if (prev[j - 1] + cost < best) {
                best = prev[j - 1] + cost;
            }
            cur[j] = best;
        }
        memcpy(prev, cur, sizeof(prev));
    }
    return prev[lb];
}

/* The closest key name under the same parent, or NULL when nothing is close. */
static const char *suggest(const struct sk_cfg_table *t, const char *gparent, const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < t->n_keys; i++) {
        if (!is_child_of(t->keys[i].path, gparent)) {
            continue;
        }
        const char *cand = last_part(t->keys[i].path);
        size_t d = levenshtein(name, cand);
        if (d < best_d) {
            best_d = d;
            best = cand;
        }
    }
    size_t limit = strlen(name) / 3;
    if (limit < 2) {
        limit = 2;
    }
    return best_d <= limit ? best : NULL;
}

static const char *type_name(int libconfig_type)
{
    switch (libconfig_type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "nothing";
    }
}

static const char *key_type_name(enum sk_cfg_type t)
{
    switch (t) {
    case SK_CFG_STRING:
        return "a string";
    case SK_CFG_INT:
        return "an integer";
    case SK_CFG_FLOAT:
        return "a number";
    case SK_CFG_BOOL:
        return "true or false";
    case SK_CFG_ENUM:
        return "a string";
    case SK_CFG_GROUP:
        return "a group { ... }";
    case SK_CFG_LIST:
        return "a list ( { ... }, ... )";
    case SK_CFG_FLOAT_ARRAY:
        return "an array [ ... ] of numbers";
    }
    return "?";
}

static void choices_text(const struct sk_cfg_key *k, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; k->choices[i]; i++) {
        const char *c = k->choices[i][0] ? k->choices[i] : "\"\"";
        int n = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", c);
        if (n < 0 || (size_t)n >= size - off) {
            break;
        }
        off += (size_t)n;
    }
}

/* Stores choice index i of an ENUM key: as text in char fields, as a value in int fields. */
static void store_enum(const struct sk_cfg_key *k, void *base, size_t i)
{
    char *field = (char *)base + k->offset;
    if (k->size == sizeof(int)) {
        int v = k->choice_values ? k->choice_values[i] : (int)i;
        memcpy(field, &v, sizeof(v));
    } else {
        snprintf(field, k->size, "%s", k->choices[i]);
    }
}

static int find_choice(const struct sk_cfg_key *k, const char *s)
{
    for (size_t i = 0; k->choices[i]; i++) {
        if (strcmp(k->choices[i], s) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Writes a key's default (if it has one) into base. */
static void apply_default(const struct sk_cfg_key *k, void *base)
{
    if (!k->def || !k->def[0]) {
        return;
    }
    char *field = (char *)base + k->offset;
    switch (k->type) {
    case SK_CFG_STRING:
        snprintf(field, k->size, "%s", k->def);
        break;
    case SK_CFG_INT: {
        int v = (int)strtol(k->def, NULL, 10);
        memcpy(field, &v, sizeof(v));
        break;
    }
    case SK_CFG_FLOAT: {
        double v = strtod(k->def, NULL);
        memcpy(field, &v, sizeof(v));
        break;
    }
    case SK_CFG_BOOL: {
        bool v = strcmp(k->def, "true") == 0;
        memcpy(field, &v, sizeof(v));
        break;
    }
    case SK_CFG_ENUM: {
        int i = find_choice(k, k->def);
        if (i >= 0) {
            store_enum(k, base, (size_t)i);
        }
        break;
    }
    default:
        break;
    }
}

/* Defaults for every scalar key directly under gparent, and under its sub-groups. */
static void apply_defaults(const struct sk_cfg_table *t, const char *gparent, void *base)
{
    size_t pl = strlen(gparent);
    for (size_t i = 0; i < t->n_keys; i++) {
        const struct sk_cfg_key *k = &t->keys[i];
        if (pl && (strncmp(k->path, gparent, pl) != 0 || k->path[pl] != '.')) {
            continue;
        }
        /* Skip keys inside nested lists: those are defaulted per element. */
        if (strstr(k->path + (pl ? pl + 1 : 0), "[]")) {
            continue;
        }
        apply_default(k, base);
    }
}

/* Reports required keys under gparent (and its groups) that are not in setting. */
static void check_required(struct loader *l,
                           const config_setting_t *setting,
                           const char *gparent,
                           const char *cparent)
{
    for (size_t i = 0; i < l->table->n_keys; i++) {
        const struct sk_cfg_key *k = &l->table->keys[i];
        if (!is_child_of(k->path, gparent)) {
            continue;
        }
        const char *name = last_part(k->path);
        const config_setting_t *member = setting ? config_setting_get_member(setting, name) : NULL;
        char cpath[PATH_BUF];
        snprintf(cpath, sizeof(cpath), "%s%s%s", cparent, cparent[0] ? "." : "", name);
        if (member) {
            continue;
        }
        if (k->type == SK_CFG_GROUP) {
            /* An absent group still has required keys. */
            check_required(l, NULL, k->path, cpath);
        } else if (!k->def) {
            report(l, setting, cpath, "required key is missing");
        }
    }
}

static bool setting_int(const config_setting_t *s, long long *v)
{
    int t = config_setting_type(s);
    if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
        *v = config_setting_get_int64(s);
        return true;
    }
    return false;
}

static bool setting_number(const config_setting_t *s, double *v)
{
    long long i;
    if (setting_int(s, &i)) {
        *v = (double)i;
        return true;
    }
    if (config_setting_type(s) == CONFIG_TYPE_FLOAT) {
        *v = config_setting_get_float(s);
        return true;
    }
    return false;
}

static void load_group(struct loader *l,
                       const config_setting_t *group,
                       const char *gprefix,
                       const char *cprefix,
                       void *base);

static void load_list(struct loader *l,
                      const struct sk_cfg_key *k,
                      const config_setting_t *s,
                      const char *gpath,
                      const char *cpath,
                      void *base)
{
    int t = config_setting_type(s);
    int n = config_setting_length(s);
    if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && n == 0)) {
        report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
        return;
    }
    if (n < k->min || n > k->max) {
        report(l, s, cpath, "%d entries, allowed %" PRId64 "..%" PRId64, n, k->min, k->max);
        return;
    }
    void *elems = n ? calloc((size_t)n, k->elem_size) : NULL;
    if (n && !elems) {
        report(l, s, cpath, "out of memory");
        return;
    }
    memcpy((char *)base + k->offset, &elems, sizeof(elems));
    size_t count = (size_t)n;
    memcpy((char *)base + k->count_offset, &count, sizeof(count));

    char gchild[PATH_BUF];
    snprintf(gchild, sizeof(gchild), "%s.[]", gpath);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char cchild[PATH_BUF];
        snprintf(cchild, sizeof(cchild), "%s.[%d]", cpath, i);
        void *ebase = (char *)elems + (size_t)i * k->elem_size;
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            report(l, e, cchild, "expected a group { ... }, found %s",
                   type_name(config_setting_type(e)));
            continue;
        }
        apply_defaults(l->table, gchild, ebase);
        load_group(l, e, gchild, cchild, ebase);
    }
}

static void load_float_array(struct loader *l,
                             const struct sk_cfg_key *k,
                             const config_setting_t *s,
                             const char *cpath,
                             void *base)
{
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
        report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
        return;
    }
    int n = config_setting_length(s);
    if (n < k->min || n > k->max) {
        if (k->min == k->max) {
            report(l, s, cpath, "%d numbers, expected %" PRId64, n, k->min);
        } else {
            report(l, s, cpath, "%d numbers, allowed %" PRId64 "..%" PRId64, n, k->min, k->max);
        }
        return;
    }
    double *dst = (double *)(void *)((char *)base + k->offset);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        double v;
        if (!setting_number(e, &v)) {
            report(l, s, cpath, "element %d: expected a number, found %s", i,
                   type_name(config_setting_type(e)));
            return;
        }
        if (v < k->fmin || v > k->fmax) {
            report(l, s, cpath, "element %d: %g is out of range %g..%g", i, v, k->fmin, k->fmax);
            return;
        }
        dst[i] = v;
    }
    size_t count = (size_t)n;
    memcpy((char *)base + k->count_offset, &count, sizeof(count));
}

static void load_scalar(struct loader *l,
                        const struct sk_cfg_key *k,
                        const config_setting_t *s,
                        const char *cpath,
                        void *base)
{
    char *field = (char *)base + k->offset;
    int t = config_setting_type(s);
    switch (k->type) {
    case SK_CFG_STRING:
    case SK_CFG_ENUM: {
        if (t != CONFIG_TYPE_STRING) {
            report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
            return;
        }
        const char *v = config_setting_get_string(s);
        if (k->type == SK_CFG_ENUM) {
            int i = find_choice(k, v);
            if (i < 0) {
                char choices[256];
                choices_text(k, choices, sizeof(choices));
                report(l, s, cpath, "\"%s\" is not one of: %s", v, choices);
                return;
            }
            store_enum(k, base, (size_t)i);
            return;
        }
        if ((int64_t)strlen(v) > k->max) {
            report(l, s, cpath, "longer than %" PRId64 " characters", k->max);
            return;
        }
        if (k->check) {
            char buf[160];
            const char *problem = k->check(v, buf, sizeof(buf));
            if (problem) {
                report(l, s, cpath, "\"%s\": %s", v, problem);
                return;
            }
        }
        snprintf(field, k->size, "%s", v);
        return;
    }
    case SK_CFG_INT: {
        long long v;
        if (!setting_int(s, &v)) {
            report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
            return;
        }
        char written[64];
        if (literal_differs(l, s, v, written, sizeof(written))) {
            report(l, s, cpath, "%s is out of range %" PRId64 "..%" PRId64, written, k->min,
                   k->max);
            return;
        }
        if (v < k->min || v > k->max) {
            report(l, s, cpath, "%lld is out of range %" PRId64 "..%" PRId64, v, k->min, k->max);
            return;
        }
        int iv = (int)v;
        memcpy(field, &iv, sizeof(iv));
        return;
    }
    case SK_CFG_FLOAT: {
        double v;
        if (!setting_number(s, &v)) {
            report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
            return;
        }
        if (v < k->fmin || v > k->fmax) {
            report(l, s, cpath, "%g is out of range %g..%g", v, k->fmin, k->fmax);
            return;
        }
        memcpy(field, &v, sizeof(v));
        return;
    }
    case SK_CFG_BOOL: {
        if (t != CONFIG_TYPE_BOOL) {
            report(l, s, cpath, "expected %s, found %s", key_type_name(k->type), type_name(t));
            return;
        }
        bool v = config_setting_get_bool(s) != 0;
        memcpy(field, &v, sizeof(v));
        return;
    }
    default:
        return;
    }
}

static void load_group(struct loader *l,
                       const config_setting_t *group,
                       const char *gprefix,
                       const char *cprefix,
                       void *base)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char gpath[PATH_BUF], cpath[PATH_BUF];
        snprintf(gpath, sizeof(gpath), "%s%s%s", gprefix, gprefix[0] ? "." : "", name);
        snprintf(cpath, sizeof(cpath), "%s%s%s", cprefix, cprefix[0] ? "." : "", name);
        const struct sk_cfg_key *k = find_key(l->table, gpath);
        if (!k) {
            const char *hint = suggest(l->table, gprefix, name);
            if (hint) {
                report(l, s, cpath, "unknown key (did you mean \"%s\"?)", hint);
            } else {
                report(l, s, cpath, "unknown key");
            }
            continue;
        }
        switch (k->type) {
        case SK_CFG_GROUP:
            if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
                report(l, s, cpath, "expected %s, found %s", key_type_name(k->type),
                       type_name(config_setting_type(s)));
                continue;
            }
            load_group(l, s, gpath, cpath, base);
            break;
        case SK_CFG_LIST:
            load_list(l, k, s, gpath, cpath, base);
            break;
        case SK_CFG_FLOAT_ARRAY:
            load_float_array(l, k, s, cpath, base);
            break;
        default:
            load_scalar(l, k, s, cpath, base);
            break;
        }
    }
    check_required(l, group, gprefix, cprefix);
}

/* Frees the lists a table allocated inside base. */
static void free_lists(const struct sk_cfg_table *t, void *base)
{
    for (size_t i = 0; i < t->n_keys; i++) {
        const struct sk_cfg_key *k = &t->keys[i];
        if (k->type != SK_CFG_LIST || strstr(k->path, "[]")) {
            continue; /* nested lists are not used */
        }
        void *elems;
        memcpy(&elems, (char *)base + k->offset, sizeof(elems));
        free(elems);
        elems = NULL;
        memcpy((char *)base + k->offset, &elems, sizeof(elems));
    }
}

/*
 * libconfig reads an @include'd file itself, and in 1.5 a directory there ends the whole
 * process from inside the scanner ("input in flex scanner failed", exit 2: a SIGHUP reload
 * would kill the daemon), a FIFO blocks it forever and /dev/zero feeds it without end. So the
 * includes are checked first: each must be a readable regular file within the size limit,
 * and the files they include in turn (libconfig's own depth limit is 10).
 */
static int check_includes(const char *name,
                          const char *dir,
                          const char *text,
                          size_t len,
                          int depth,
                          struct sk_diag *d)
{
    int problems = 0;
    unsigned line = 1;
    for (size_t at = 0; at < len; line++) {
        const char *eol = memchr(text + at, '\n', len - at);
        size_t end = eol ? (size_t)(eol - text) : len;
        size_t p = at;
        while (p < end && (text[p] == ' ' || text[p] == '\t')) {
            p++;
        }
        if (end - p > 8 && memcmp(text + p, "@include", 8) == 0) {
            p += 8;
            while (p < end && (text[p] == ' ' || text[p] == '\t')) {
                p++;
            }
            const char *q =
                    p < end && text[p] == '"' ? memchr(text + p + 1, '"', end - p - 1) : NULL;
            if (q) {
                char inc[SK_PATH_MAX], path[2 * SK_PATH_MAX];
                snprintf(inc, sizeof(inc), "%.*s", (int)(q - (text + p + 1)), text + p + 1);
                if (inc[0] == '/' || !dir) {
                    snprintf(path, sizeof(path), "%s", inc);
                } else {
                    snprintf(path, sizeof(path), "%s/%s", dir, inc);
                }
                struct stat st;
                const char *why = NULL;
                if (stat(path, &st) < 0) {
                    why = strerror(errno);
                } else if (!S_ISREG(st.st_mode)) {
                    why = "not a regular file";
                } else if (st.st_size > SK_CONFIG_MAX_BYTES) {
                    why = "larger than the 4 MiB limit of a configuration file";
                } else if (depth >= 10) {
                    why = "includes nest deeper than 10 files";
                }
                if (why) {
                    sk_diag_add(d, "%s:%u: @include \"%s\": %s", name, line, inc, why);
                    problems++;
                } else {
                    FILE *f = fopen(path, "r");
                    char *sub = NULL;
                    size_t n = 0;
                    if (f) {
                        (void)sk_read_bounded(f, SK_CONFIG_MAX_BYTES, &sub, &n);
                    }
                    if (!sub) {
                        sk_diag_add(d, "%s:%u: @include \"%s\": cannot read", name, line, inc);
                        problems++;
                    } else {
                        problems += check_includes(path, dir, sub, n, depth + 1, d);
                        free(sub);
                    }
                }
            }
        }
        at = end + 1;
    }
    return problems;
}

/* Parses text (len bytes, need not be NUL-terminated) named `name` in messages; @include
 * resolves from name's directory. cf is initialised in every case (destroy it). src (may be
 * NULL) keeps a copy of the text as parsed. */
static int read_text_config(config_t *cf,
                            const char *name,
                            const char *text,
                            size_t len,
                            struct sk_diag *d,
                            struct src_cache *src)
{
    config_init(cf);
    char dir[SK_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", name);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        config_set_include_dir(cf, dir);
    }
    /* Size limit: a store file is a few KB; refuse anything absurd before parsing it. */
    if (len > SK_CONFIG_MAX_BYTES) {
        sk_diag_add(d, "%s: larger than the %d MiB limit of a configuration file", name,
                    SK_CONFIG_MAX_BYTES >> 20);
        return SK_ECONFIG;
    }
    /* libconfig reads a C string: a NUL byte would silently end the file there. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        unsigned line = 1;
        for (const char *p = text; p < nul; p++) {
            line += *p == '\n';
        }
        sk_diag_add(d, "%s:%u: the file contains a NUL byte (not a text file)", name, line);
        return SK_ECONFIG;
    }
    if (check_includes(name, slash ? dir : NULL, text, len, 0, d) > 0) {
        return SK_ECONFIG;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        sk_diag_add(d, "%s: out of memory", name);
        return -ENOMEM;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    int ok = config_read_string(cf, copy);
    if (src) {
        src_put(src, name, copy, len);
    } else {
        free(copy);
    }
    if (ok != CONFIG_TRUE) {
        const char *file = config_error_file(cf) ? config_error_file(cf) : name;
        sk_diag_add(d, "%s:%d: %s", file, config_error_line(cf), config_error_text(cf));
        return SK_ECONFIG;
    }
    return 0;
}

/* What a path that must be a regular file is instead, or NULL when it is one. */
static const char *not_regular(mode_t mode)
{
    return S_ISREG(mode)                    ? NULL
           : S_ISDIR(mode)                  ? "a directory, not a file"
           : S_ISFIFO(mode)                 ? "a FIFO, not a regular file"
           : S_ISCHR(mode) || S_ISBLK(mode) ? "a device, not a regular file"
           : S_ISSOCK(mode)                 ? "a socket, not a regular file"
                                            : "not a regular file";
}

static int
read_file_config(config_t *cf, const char *path, struct sk_diag *d, struct src_cache *src)
{
    /* Not blocking, and checked before reading: a FIFO would wait for a writer forever (while
     * SIGTERM is blocked for the runtime), /dev/zero would never end. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const char *kind = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0) {
        kind = not_regular(st.st_mode);
    }
    if (fd >= 0 && kind) {
        close(fd);
        config_init(cf);
        sk_diag_add(d, "%s: %s", path, kind);
        return SK_ECONFIG;
    }
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (!f) {
        int err = errno;
        if (fd >= 0) {
            close(fd);
        }
        config_init(cf);
        sk_diag_add(d, "%s: cannot open: %s", path, strerror(err));
        return -err;
    }
    char *text;
    size_t n;
    int r = sk_read_bounded(f, SK_CONFIG_MAX_BYTES, &text, &n);
    if (r < 0) {
        config_init(cf);
        if (r != -ENOMEM) {
            sk_diag_add(d, "%s: cannot read: %s", path, strerror(-r));
        }
        return r;
    }
    r = read_text_config(cf, path, text, n, d, src);
    free(text);
    return r;
}

/* Loads l->cf by l->table into base; l->errors counts the problems. */
static int load_table(struct loader *l, void *base)
{
    apply_defaults(l->table, "", base);
    load_group(l, config_root_setting(l->cf), "", "", base);
    return l->errors ? SK_ECONFIG : 0;
}

/* ---- checks used by the tables ---------------------------------------------------------- */

const char *config_check_name(const char *value, char *buf, size_t size)
{
    (void)buf;
    (void)size;
    if (!value[0]) {
        return "must not be empty";
    }
    for (const char *p = value; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
            return "may only contain letters, digits, '-', '_' and '.'";
        }
    }
    return NULL;
}

const char *config_check_name_or_empty(const char *value, char *buf, size_t size)
{
    return value[0] ? config_check_name(value, buf, size) : NULL;
}

const char *config_check_bus_url(const char *value, char *buf, size_t size)
{
    if (strncmp(value, "tcp:", 4) == 0) {
        const char *host = value + 4;
        const char *colon = strrchr(host, ':');
        if (!colon || colon == host) {
            return "expected tcp:HOST:PORT";
        }
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (*end || port < 1 || port > 65535) {
            return "port must be 1..65535";
        }
        return NULL;
    }
    if (strncmp(value, "rtu:", 4) == 0) {
        char dev[SK_PATH_MAX];
        long baud;
        char frame[8];
        const char *p = value + 4;
        const char *c1 = strchr(p, ':');
        if (!c1 || c1 == p || (size_t)(c1 - p) >= sizeof(dev)) {
            return "expected rtu:DEVICE:BAUD:FRAME, e.g. rtu:/dev/ttyAMA0:115200:8E1";
        }
        memcpy(dev, p, (size_t)(c1 - p));
        dev[c1 - p] = '\0';
        char *end;
        baud = strtol(c1 + 1, &end, 10);
        if (*end != ':') {
            return "expected rtu:DEVICE:BAUD:FRAME, e.g. rtu:/dev/ttyAMA0:115200:8E1";
        }
        static const long bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400};
        bool known = false;
        for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++) {
            known |= bauds[i] == baud;
        }
        if (!known) {
            snprintf(buf, size, "baud %ld is not one of 1200..230400 (standard rates)", baud);
            return buf;
        }
        snprintf(frame, sizeof(frame), "%.7s", end + 1);
        if (strlen(end + 1) != 3 || (frame[0] != '7' && frame[0] != '8') ||
            (frame[1] != 'N' && frame[1] != 'E' && frame[1] != 'O') ||
            (frame[2] != '1' && frame[2] != '2')) {
            return "frame must be data bits, parity, stop bits: 8E1, 8N1, 8N2, 8O1, 7E1 ...";
        }
        return NULL;
    }
    return "expected rtu:DEVICE:BAUD:FRAME or tcp:HOST:PORT";
}

/* ---- semantic checks -------------------------------------------------------------------- */

static const config_setting_t *
lookup_elem_key(config_t *cf, const char *list, size_t i, const char *key)
{
    char path[PATH_BUF];
    snprintf(path, sizeof(path), "%s.[%zu]%s%s", list, i, key ? "." : "", key ? key : "");
    const config_setting_t *s = config_lookup(cf, path);
    if (!s && key) {
        snprintf(path, sizeof(path), "%s.[%zu]", list, i);
        s = config_lookup(cf, path);
    }
    return s;
}

#define NAME_AT(arr, i, stride) ((const char *)(arr) + (i) * (stride))

/* Duplicate names in a list: name must be the first field of the element struct. */
static void
check_unique(struct loader *l, const char *list, const void *arr, size_t n, size_t stride)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(NAME_AT(arr, i, stride), NAME_AT(arr, j, stride)) == 0) {
                const config_setting_t *first = lookup_elem_key(l->cf, list, j, "name");
                char cpath[PATH_BUF];
                snprintf(cpath, sizeof(cpath), "%s.[%zu].name", list, i);
                report(l, lookup_elem_key(l->cf, list, i, "name"), cpath,
                       "duplicate name \"%s\" (first defined at line %u)", NAME_AT(arr, i, stride),
                       first ? config_setting_source_line(first) : 0);
                break;
            }
        }
    }
}

/* The vision pipeline of one camera holds at most 64 zones and 16 lines: the first one past
 * that is reported. */
static void
check_per_camera(struct loader *l, const struct sk_config *c, const char *camera, bool lines)
{
    const char *list = lines ? "lines" : "zones";
    size_t n = lines ? c->n_lines : c->n_zones, max = lines ? 16 : 64, on = 0;
    for (size_t k = 0; k < n; k++) {
        const char *cam = lines ? c->lines[k].camera : c->zones[k].camera;
        if (strcmp(cam, camera) == 0 && ++on == max + 1) {
            char cpath[PATH_BUF];
            snprintf(cpath, sizeof(cpath), "%s.[%zu].camera", list, k);
            report(l, lookup_elem_key(l->cf, list, k, "camera"), cpath,
                   "camera %s has more than %zu %s", camera, max, list);
        }
    }
}

static bool name_in(const void *arr, size_t n, size_t stride, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(NAME_AT(arr, i, stride), name) == 0) {
            return true;
        }
    }
    return false;
}

static void names_text(const void *arr, size_t n, size_t stride, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    if (n == 0) {
        snprintf(buf, size, "none defined");
        return;
    }
    for (size_t i = 0; i < n && off < size; i++) {
        int w = snprintf(buf + off, size - off, "%s%s", i ? ", " : "", NAME_AT(arr, i, stride));
        if (w < 0) {
            break;
        }
        off += (size_t)w;
    }
}

static void check_ref(struct loader *l,
                      const char *list,
                      size_t i,
                      const char *key,
                      const char *value,
                      const char *what,
                      const void *arr,
                      size_t n,
                      size_t stride,
                      const char *plural)
{
    if (!value[0] || name_in(arr, n, stride, value)) {
        return; /* empty: already reported as a missing required key */
    }
    char names[200], cpath[PATH_BUF];
    names_text(arr, n, stride, names, sizeof(names));
    snprintf(cpath, sizeof(cpath), "%s.[%zu].%s", list, i, key);
    report(l, lookup_elem_key(l->cf, list, i, key), cpath, "no %s named \"%s\" (%s: %s)", what,
           value, plural, names);
}

/* A marked point this far from where the fitted map puts it was mis-measured or mistyped. */
#define FLOOR_RESIDUAL_MAX_M 0.3

/* cameras.[i].floor: whole points that determine a map, each near it; derives the maps. */
static void check_floor(struct loader *l, struct sk_camera_cfg *cam, size_t i)
{
    cam->has_floor = false;
    if (!cam->floor_len) {
        return;
    }
    char cpath[PATH_BUF];
    snprintf(cpath, sizeof(cpath), "cameras.[%zu].floor", i);
    const config_setting_t *at = lookup_elem_key(l->cf, "cameras", i, "floor");
    if (cam->floor_len % 4) {
        report(l, at, cpath, "%zu numbers: each point is u, v, x, y (a multiple of 4)",
               cam->floor_len);
        return;
    }
    size_t n = cam->floor_len / 4;
    double px[2 * SK_FLOOR_POINTS_MAX] = {0}, fl[2 * SK_FLOOR_POINTS_MAX] = {0};
    for (size_t k = 0; k < n; k++) {
        px[2 * k] = cam->floor[4 * k];
        px[2 * k + 1] = cam->floor[4 * k + 1];
        fl[2 * k] = cam->floor[4 * k + 2];
        fl[2 * k + 1] = cam->floor[4 * k + 3];
    }
    if (sk_homography_solve(px, fl, n, &cam->floor_map) < 0 ||
        sk_homography_invert(&cam->floor_map, &cam->floor_back) < 0) {
        report(l, at, cpath,
               "the %zu points do not determine a floor map: three of them lie on one line (in "
               "the image or on the floor), or two are the same; mark points spread over the view",
               n);
        return;
    }
    /* The worst point is named: least squares spreads one bad point's error over the others. */
    size_t worst = 0;
    double worst_off = -1;
    for (size_t k = 0; k < n; k++) {
        double x = 0, y = 0;
        bool ok = sk_homography_apply(&cam->floor_map, px[2 * k], px[2 * k + 1], &x, &y);
        double off = ok ? hypot(x - fl[2 * k], y - fl[2 * k + 1]) : INFINITY;
        if (off > worst_off) {
            worst = k;
            worst_off = off;
        }
    }
    if (worst_off > FLOOR_RESIDUAL_MAX_M) {
        report(l, at, cpath,
               "point %zu (%g, %g px) does not fit the others: the map puts it %.2f m from (%g, "
               "%g) m; re-measure it or check its numbers",
               worst + 1, px[2 * worst], px[2 * worst + 1], worst_off, fl[2 * worst],
               fl[2 * worst + 1]);
        return;
    }
    cam->has_floor = true;
}

/* Is the element's key in the file (lookup_elem_key falls back to the element)? */
static bool elem_has(struct loader *l, const char *list, size_t i, const char *key)
{
    char path[PATH_BUF];
    snprintf(path, sizeof(path), "%s.[%zu].%s", list, i, key);
    return config_lookup(l->cf, path) != NULL;
}

void sk_config_fit(int box_w, int box_h, int fw, int fh, int *ret_w, int *ret_h)
{
    int w = box_w, h = box_h;
    if (fw > 0 && fh > 0) {
        /* the largest size of the frame's shape inside the box */
        if ((int64_t)fw * box_h > (int64_t)fh * box_w) {
            h = (int)(((int64_t)box_w * fh + fw / 2) / fw);
        } else {
            w = (int)(((int64_t)box_h * fw + fh / 2) / fh);
        }
    }
    w &= ~1;
    h &= ~1;
    *ret_w = w < 16 ? 16 : w;
    *ret_h = h < 16 ? 16 : h;
}

double sk_mount_fov_deg(const struct sk_mount_cfg *m)
{
    if (m->fov_deg > 0 || m->focal_mm <= 0) {
        return m->fov_deg;
    }
    return 2 * atan(m->sensor_width_mm / 2 / m->focal_mm) * 180.0 / M_PI;
}

/*
 * cameras.[i].mount: the floor map from where the camera hangs and its lens, for a camera
 * without marked points. The lens is as wide as the processing-size picture (the board's).
 */
static void check_mount(struct loader *l, struct sk_camera_cfg *cam, size_t i)
{
    int w = cam->proc_width, h = cam->proc_height;
    cam->has_mount = elem_has(l, "cameras", i, "mount");
    if (!cam->has_mount) {
        return;
    }
    const struct sk_mount_cfg *m = &cam->mount;
    char cpath[PATH_BUF];
    snprintf(cpath, sizeof(cpath), "cameras.[%zu].mount", i);
    const config_setting_t *at = lookup_elem_key(l->cf, "cameras", i, "mount");
    int errors = l->errors;
    if (cam->floor_len) {
        report(l, at, cpath,
               "the camera is calibrated twice: give its marked points (floor) or its mounting "
               "(mount), not both");
    }
    char kpath[PATH_BUF + 32];
    if (m->height_m <= 0) {
        snprintf(kpath, sizeof(kpath), "%s.height_m", cpath);
        report(l, at, kpath, "required in a mount: the lens's height above the floor");
    }
    if (m->fov_deg > 0 && (m->focal_mm > 0 || m->sensor_width_mm > 0)) {
        snprintf(kpath, sizeof(kpath), "%s.fov_deg", cpath);
        report(l, at, kpath,
               "the lens is given twice: fov_deg, or focal_mm with sensor_width_mm, not both");
    } else if (m->fov_deg <= 0 && m->focal_mm > 0 && m->sensor_width_mm <= 0) {
        snprintf(kpath, sizeof(kpath), "%s.sensor_width_mm", cpath);
        report(l, at, kpath, "needed with focal_mm: the field of view follows from both");
    } else if (m->fov_deg <= 0 && m->focal_mm <= 0) {
        snprintf(kpath, sizeof(kpath), "%s.fov_deg", cpath);
        report(l, at, kpath, "the lens is missing: fov_deg, or focal_mm with sensor_width_mm");
    }
    if (l->errors != errors || w <= 0 || h <= 0) {
        return; /* or the board did not load: its processing size is unknown */
    }
    double fov = sk_mount_fov_deg(m) * M_PI / 180.0;
    double focal_px = w / 2.0 / tan(fov / 2);
    if (sk_homography_mount(m->x, m->y, m->rotation_deg, m->height_m, focal_px, m->tilt_deg, w, h,
                            &cam->floor_map) < 0 ||
        sk_homography_invert(&cam->floor_map, &cam->floor_back) < 0) {
        snprintf(kpath, sizeof(kpath), "%s.tilt_deg", cpath);
        report(l, at, kpath,
               "tilted %g degrees, the picture's top edge looks at or above the horizon (half "
               "its vertical field of view is %.1f degrees): less tilt",
               m->tilt_deg, atan(h / 2.0 / focal_px) * 180 / M_PI);
        return;
    }
    cam->has_floor = true;
}

bool sk_camera_floor_to_px(const struct sk_camera_cfg *cam,
                           int width,
                           int height,
                           double x,
                           double y,
                           double *ret_u,
                           double *ret_v)
{
    if (!cam || !cam->has_floor) {
        return false;
    }
    /* In front of the camera: on the side of the horizon the picture's centre is on. */
    double cx, cy;
    if (!sk_homography_apply(&cam->floor_map, width / 2.0, height / 2.0, &cx, &cy)) {
        return false;
    }
    const double *m = cam->floor_back.m;
    double d = m[6] * x + m[7] * y + m[8], dc = m[6] * cx + m[7] * cy + m[8];
    return d * dc > 0 && sk_homography_apply(&cam->floor_back, x, y, ret_u, ret_v);
}

int sk_line_floor_to_px(const struct sk_camera_cfg *cam,
                        const struct sk_line_cfg *ln,
                        double ret_points[4],
                        int *ret_inside)
{
    int w = cam->proc_width, h = cam->proc_height, in = 0;
    for (int k = 0; k < 2; k++) {
        double *p = &ret_points[2 * k];
        if (ln->floor_len != 4 || !sk_camera_floor_to_px(cam, w, h, ln->floor[2 * k],
                                                         ln->floor[2 * k + 1], &p[0], &p[1])) {
            return -1;
        }
        in += p[0] >= 0 && p[1] >= 0 && p[0] <= w && p[1] <= h;
    }
    /* The inside: a point just off the line's middle on its inside on the plan (left of
     * x1,y1 -> x2,y2 with y up: the counter-clockwise normal), and where the picture shows it
     * (vision: left is where the pixel cross product is negative). */
    const double *f = ln->floor;
    double dx = f[2] - f[0], dy = f[3] - f[1];
    double len = hypot(dx, dy), sgn = ln->floor_inside == 0 ? 1 : -1;
    double qx = (f[0] + f[2]) / 2 - sgn * dy / len * 0.05;
    double qy = (f[1] + f[3]) / 2 + sgn * dx / len * 0.05;
    double qu, qv;
    const double *px = ret_points;
    if (len <= 0 || !sk_camera_floor_to_px(cam, w, h, qx, qy, &qu, &qv)) {
        return -1;
    }
    double cross = (px[2] - px[0]) * (qv - px[1]) - (px[3] - px[1]) * (qu - px[0]);
    *ret_inside = cross < 0 ? 0 : 1;
    return in;
}

int sk_zone_floor_to_px(const struct sk_camera_cfg *cam,
                        const struct sk_zone_cfg *z,
                        double *ret_polygon,
                        double *ret_reach)
{
    int w = cam->proc_width, h = cam->proc_height, in = 0;
    for (size_t k = 0; k + 1 < z->floor_len + z->floor_reach_len; k += 2) {
        bool edge = k >= z->floor_len;
        const double *f = edge ? &z->floor_reach[k - z->floor_len] : &z->floor[k];
        double *p = edge ? &ret_reach[k - z->floor_len] : &ret_polygon[k];
        if (!sk_camera_floor_to_px(cam, w, h, f[0], f[1], &p[0], &p[1])) {
            return -1;
        }
        in += p[0] >= 0 && p[1] >= 0 && p[0] <= w && p[1] <= h;
    }
    return in;
}

/* Where n floor points (x, y metres) land in one camera: in front of it all, in view all. */
struct landing {
    bool placed;    /* every point is in front of the camera */
    bool whole;     /* ... and inside the picture */
    bool centre_in; /* their centroid is inside the picture */
    double off;     /* the centroid's distance from the picture's centre, in half diagonals */
};

static struct landing land_points(
        const struct sk_camera_cfg *cam, int w, int h, const double *pts, size_t n, double *ret_px)
{
    struct landing g = {.placed = cam->has_floor, .whole = true};
    double sx = 0, sy = 0;
    const double slack = 0.5; /* a point on the picture's edge is in it */
    for (size_t k = 0; g.placed && k < n; k++) {
        double u = 0, v = 0;
        g.placed = sk_camera_floor_to_px(cam, w, h, pts[2 * k], pts[2 * k + 1], &u, &v);
        if (!g.placed) {
            break;
        }
        g.whole &= u >= -slack && v >= -slack && u <= w + slack && v <= h + slack;
        ret_px[2 * k] = u;
        ret_px[2 * k + 1] = v;
        sx += u;
        sy += v;
    }
    if (!g.placed) {
        g.whole = false;
        return g;
    }
    sx /= (double)n;
    sy /= (double)n;
    g.centre_in = sx >= 0 && sy >= 0 && sx <= w && sy <= h;
    g.off = hypot(sx - w / 2.0, sy - h / 2.0) / hypot(w / 2.0, h / 2.0);
    return g;
}

/*
 * The camera that watches a floor item (its n points): the one that sees it whole nearest its
 * picture's centre (the least slanted view), else the one that has its middle in view; only
 * the pinned one when named. Returns the camera's index or -1, the pixels in ret_px.
 */
static int place_on_floor(const struct sk_config *c,
                          const double *pts,
                          size_t n,
                          const char *pinned,
                          bool *ret_whole,
                          double *ret_px)
{
    int best = -1;
    struct landing bg = {0};
    for (size_t i = 0; i < c->n_cameras; i++) {
        const struct sk_camera_cfg *cam = &c->cameras[i];
        if (pinned[0] && strcmp(cam->name, pinned) != 0) {
            continue;
        }
        double px[2 * SK_POLY_MAX + 4];
        struct landing g = land_points(cam, cam->proc_width, cam->proc_height, pts, n, px);
        if (!g.placed || (!g.whole && !g.centre_in)) {
            continue;
        }
        bool better = best < 0 || (g.whole && !bg.whole) || (g.whole == bg.whole && g.off < bg.off);
        if (better) {
            best = (int)i;
            bg = g;
            memcpy(ret_px, px, n * 2 * sizeof(double));
        }
    }
    *ret_whole = best >= 0 && bg.whole;
    return best;
}

/* "shelf A1 (zone front-a1)", or "zone front-a1" when no shelf stands at it. */
static void zone_text(const struct sk_config *c, const char *zone, char *buf, size_t size)
{
    size_t off = 0;
    int n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < c->n_shelves && off < size; i++) {
        if (strcmp(c->shelves[i].zone, zone) == 0) {
            int r = snprintf(buf + off, size - off, "%s%s", n++ ? ", " : "", c->shelves[i].name);
            off += r > 0 ? (size_t)r : 0;
        }
    }
    if (n) {
        char names[160];
        snprintf(names, sizeof(names), "%s", buf);
        snprintf(buf, size, "shel%s %s (zone %s)", n > 1 ? "ves" : "f", names, zone);
    } else {
        snprintf(buf, size, "zone %s", zone);
    }
}

static bool any_floor_camera(const struct sk_config *c)
{
    for (size_t i = 0; i < c->n_cameras; i++) {
        if (c->cameras[i].has_floor) {
            return true;
        }
    }
    return false;
}

/*
 * A floor item's camera (what = "zone", "line"): the pinned one must be calibrated; with none
 * calibrated a floor item cannot be placed. Returns false after reporting.
 */
static bool floor_item_can_place(
        struct loader *l, const struct sk_config *c, const char *list, size_t i, const char *pinned)
{
    char cpath[PATH_BUF];
    if (pinned[0]) {
        const struct sk_camera_cfg *cam = sk_config_camera(c, pinned);
        if (cam && !cam->has_floor) {
            snprintf(cpath, sizeof(cpath), "%s.[%zu].camera", list, i);
            report(l, lookup_elem_key(l->cf, list, i, "camera"), cpath,
                   "camera %s is not calibrated to the floor (cameras.[].floor or "
                   "cameras.[].mount): floor coordinates cannot be placed in it; give them in "
                   "its pixels (%s) instead",
                   pinned, strcmp(list, "zones") == 0 ? "polygon" : "points");
        }
        return cam && cam->has_floor; /* an unknown name is reported by check_ref */
    }
    if (!any_floor_camera(c)) {
        snprintf(cpath, sizeof(cpath), "%s.[%zu].floor", list, i);
        report(l, lookup_elem_key(l->cf, list, i, "floor"), cpath,
               "no camera is calibrated to the floor (cameras.[].floor or cameras.[].mount): "
               "floor coordinates cannot be placed; give them in a camera's pixels (%s)",
               strcmp(list, "zones") == 0 ? "polygon" : "points");
        return false;
    }
    return true;
}

/*
 * zones.[i] or lines.[i] (list): its camera exists, and it is given once, in one camera's
 * pixels (px_len numbers of polygon or points) or on the floor (floor_len numbers of floor).
 * Returns false after reporting (or when a key there was refused already).
 */
static bool given_once(struct loader *l,
                       const struct sk_config *c,
                       const char *list,
                       size_t i,
                       const char *camera,
                       size_t px_len,
                       size_t floor_len)
{
    bool zone = strcmp(list, "zones") == 0;
    const char *what = zone ? "zone" : "line", *px_key = zone ? "polygon" : "points";
    char cpath[PATH_BUF];
    check_ref(l, list, i, "camera", camera, "camera", c->cameras, c->n_cameras, sizeof(*c->cameras),
              "cameras");
    if (px_len && floor_len) {
        snprintf(cpath, sizeof(cpath), "%s.[%zu].floor", list, i);
        report(l, lookup_elem_key(l->cf, list, i, "floor"), cpath,
               "the %s is given twice: %s (one camera's pixels) or floor (metres on the floor "
               "plan), not both",
               what, px_key);
        return false;
    }
    if (!px_len && !floor_len) {
        if (elem_has(l, list, i, px_key) || elem_has(l, list, i, "floor")) {
            return false; /* there, but refused: already reported */
        }
        snprintf(cpath, sizeof(cpath), "%s.[%zu]", list, i);
        report(l, lookup_elem_key(l->cf, list, i, NULL), cpath,
               "the %s has %s: give %s (pixels, with camera) or floor (metres)", what,
               zone ? "no shape" : "no ends", px_key);
        return false;
    }
    return true;
}

/* zones.[i]: in pixels (polygon, camera) or on the floor (floor), once; a floor zone placed. */
static void check_zone(struct loader *l, struct sk_config *c, size_t i)
{
    struct sk_zone_cfg *z = &c->zones[i];
    char cpath[PATH_BUF];
    const config_setting_t *at = lookup_elem_key(l->cf, "zones", i, "floor");
    snprintf(cpath, sizeof(cpath), "zones.[%zu].floor", i);
    if (!given_once(l, c, "zones", i, z->camera, z->polygon_len, z->floor_len)) {
        return;
    }
    if (z->polygon_len) {
        if (!z->camera[0]) {
            snprintf(cpath, sizeof(cpath), "zones.[%zu].camera", i);
            report(l, lookup_elem_key(l->cf, "zones", i, NULL), cpath,
                   "required with polygon: a zone in pixels belongs to one camera");
        }
        if (z->floor_reach_len) {
            snprintf(cpath, sizeof(cpath), "zones.[%zu].floor_reach", i);
            report(l, lookup_elem_key(l->cf, "zones", i, "floor_reach"), cpath,
                   "floor_reach goes with floor; a zone in pixels gives its shelf edge as reach");
        }
        if (z->polygon_len % 2) {
            snprintf(cpath, sizeof(cpath), "zones.[%zu].polygon", i);
            report(l, lookup_elem_key(l->cf, "zones", i, "polygon"), cpath,
                   "%zu numbers: x, y pairs need an even count", z->polygon_len);
        }
        return;
    }
    int errors = l->errors;
    if (z->reach_len) {
        snprintf(cpath, sizeof(cpath), "zones.[%zu].reach", i);
        report(l, lookup_elem_key(l->cf, "zones", i, "reach"), cpath,
               "reach (pixels) goes with polygon; a floor zone gives its shelf edge as floor_reach "
               "(metres)");
    }
    if (z->floor_len % 2) {
        report(l, at, cpath, "%zu numbers: x, y pairs need an even count", z->floor_len);
    }
    if (l->errors != errors || !c->board.name[0] ||
        !floor_item_can_place(l, c, "zones", i, z->camera)) {
        return;
    }
    /* The polygon and the shelf's edge are placed together: one camera sees both. */
    double pts[2 * SK_POLY_MAX + 4], px[2 * SK_POLY_MAX + 4];
    size_t n = z->floor_len / 2;
    memcpy(pts, z->floor, z->floor_len * sizeof(double));
    memcpy(&pts[z->floor_len], z->floor_reach, z->floor_reach_len * sizeof(double));
    n += z->floor_reach_len / 2;
    bool whole = false;
    char pinned[SK_NAME_MAX];
    snprintf(pinned, sizeof(pinned), "%s", z->camera);
    int cam = place_on_floor(c, pts, n, pinned, &whole, px);
    char what[200];
    zone_text(c, z->name, what, sizeof(what));
    if (cam < 0) {
        z->camera[0] = '\0';
        z->polygon_len = 0;
        z->reach_len = 0;
        warn(l, at, cpath,
             "%s is outside %s view: nobody is seen standing or reaching there (its shelf is "
             "attributed by its readers alone); move it or add a camera",
             what, pinned[0] ? "its camera's" : "every calibrated camera's");
        return;
    }
    snprintf(z->camera, sizeof(z->camera), "%s", c->cameras[cam].name);
    memcpy(z->polygon, px, z->floor_len * sizeof(double));
    z->polygon_len = z->floor_len;
    memcpy(z->reach, &px[z->floor_len], z->floor_reach_len * sizeof(double));
    z->reach_len = z->floor_reach_len;
    if (!whole) {
        warn(l, at, cpath,
             "%s is only partly in view of camera %s, which watches it (no camera sees it "
             "whole): shoppers on its other part are not seen there",
             what, z->camera);
    }
}

/* lines.[i]: in pixels (points, camera) or on the floor (floor), once; a floor line placed. */
static void check_line(struct loader *l, struct sk_config *c, size_t i)
{
    struct sk_line_cfg *ln = &c->lines[i];
    char cpath[PATH_BUF];
    const config_setting_t *at = lookup_elem_key(l->cf, "lines", i, "floor");
    snprintf(cpath, sizeof(cpath), "lines.[%zu].floor", i);
    if (!given_once(l, c, "lines", i, ln->camera, ln->points_len, ln->floor_len)) {
        return;
    }
    const double *p = ln->points_len ? ln->points : ln->floor;
    if (p[0] == p[2] && p[1] == p[3]) {
        snprintf(cpath, sizeof(cpath), "lines.[%zu].%s", i, ln->points_len ? "points" : "floor");
        report(l, lookup_elem_key(l->cf, "lines", i, ln->points_len ? "points" : "floor"), cpath,
               "both ends are the same point");
        return;
    }
    if (ln->points_len) {
        if (!ln->camera[0]) {
            snprintf(cpath, sizeof(cpath), "lines.[%zu].camera", i);
            report(l, lookup_elem_key(l->cf, "lines", i, NULL), cpath,
                   "required with points: a line in pixels belongs to one camera");
        }
        return;
    }
    if (!c->board.name[0] || !floor_item_can_place(l, c, "lines", i, ln->camera)) {
        return;
    }
    double px[4];
    bool whole = false;
    char pinned[SK_NAME_MAX];
    snprintf(pinned, sizeof(pinned), "%s", ln->camera);
    int cam = place_on_floor(c, ln->floor, 2, pinned, &whole, px);
    if (cam < 0) {
        ln->camera[0] = '\0';
        ln->points_len = 0;
        warn(l, at, cpath,
             "line %s is outside %s view: its crossings are not counted; move it or add a "
             "camera",
             ln->name, pinned[0] ? "its camera's" : "every calibrated camera's");
        return;
    }
    const struct sk_camera_cfg *cc = &c->cameras[cam];
    ln->floor_inside = ln->inside;
    sk_line_floor_to_px(cc, ln, px, &ln->inside);
    snprintf(ln->camera, sizeof(ln->camera), "%s", cc->name);
    memcpy(ln->points, px, sizeof(px));
    ln->points_len = 4;
    if (!whole) {
        warn(l, at, cpath,
             "line %s is only partly in view of camera %s, which watches it (no camera sees it "
             "whole): a crossing beyond the picture's edge is not counted",
             ln->name, ln->camera);
    }
}

static const struct sk_presence_preset_cfg builtin_presets[] = {
        {"fast", 1, 2, 1500},
        {"standard", 2, 3, 3000},
        {"slow", 3, 5, 10000},
};

/* Appends the built-in presets the file did not override, so lookups see one list. */
static int add_builtin_presets(struct sk_config *cfg)
{
    size_t extra = 0;
    for (size_t b = 0; b < 3; b++) {
        extra += !name_in(cfg->presence_presets, cfg->n_presence_presets,
                          sizeof(*cfg->presence_presets), builtin_presets[b].name);
    }
    if (!extra) {
        return 0;
    }
    struct sk_presence_preset_cfg *p =
            realloc(cfg->presence_presets, (cfg->n_presence_presets + extra) * sizeof(*p));
    if (!p) {
        return -ENOMEM;
    }
    cfg->presence_presets = p;
    for (size_t b = 0; b < 3; b++) {
        if (!name_in(p, cfg->n_presence_presets, sizeof(*p), builtin_presets[b].name)) {
            p[cfg->n_presence_presets++] = builtin_presets[b];
        }
    }
    return 0;
}

/* A file the configuration names (dir false: readable, and a regular file) or a directory
 * (profiles_dir: it must be one); an empty value names nothing. */
static void check_named(
        struct loader *l, const struct sk_config *cfg, const char *key, const char *value, bool dir)
{
    if (!value[0]) {
        return;
    }
    char path[SK_PATH_MAX * 2];
    sk_config_resolve_path(cfg, value, path, sizeof(path));
    struct stat st;
    if (dir ? stat(path, &st) != 0 : access(path, R_OK) != 0) {
        int err = errno;
        report(l, config_lookup(l->cf, key), key, "cannot read %s: %s", path, strerror(err));
        return;
    }
    /* A directory, /dev/zero or a FIFO would pass access(); reading it later would fail, never
     * end, or wait forever. */
    const char *wrong = NULL;
    if (dir) {
        wrong = S_ISDIR(st.st_mode) ? NULL : "not a directory";
    } else if (stat(path, &st) == 0) {
        wrong = not_regular(st.st_mode);
    }
    if (wrong) {
        report(l, config_lookup(l->cf, key), key, "%s is %s", path, wrong);
    }
}

/* The ledger: a regular file, or none yet (the daemon creates it and one missing directory
 * level); never a directory or a device. */
static void check_ledger_path(struct loader *l, const struct sk_config *cfg)
{
    char path[SK_PATH_MAX * 2];
    sk_config_resolve_path(cfg, cfg->ledger.path, path, sizeof(path));
    struct stat st;
    if (stat(path, &st) == 0 && not_regular(st.st_mode)) {
        report(l, config_lookup(l->cf, "ledger.path"), "ledger.path", "%s is %s", path,
               not_regular(st.st_mode));
    }
}

/* The credentials file's syntax and permissions (it holds a secret), when it is readable. */
static void check_credentials(struct loader *l, const struct sk_config *c)
{
    char path[SK_PATH_MAX * 2];
    if (!c->mqtt.credentials_file[0]) {
        return;
    }
    sk_config_resolve_path(c, c->mqtt.credentials_file, path, sizeof(path));
    if (access(path, R_OK) != 0) {
        return; /* check_named said so */
    }
    struct sk_credentials cr;
    char err[SK_PATH_MAX * 3];
    if (sk_credentials_load(path, &cr, err, sizeof(err)) < 0) {
        report(l, config_lookup(l->cf, "mqtt.credentials_file"), "mqtt.credentials_file", "%s",
               err);
        return;
    }
    sk_credentials_wipe(&cr);
}

/* The control socket must fit a sockaddr_un; the HTTP address must be a literal address (no
 * name lookups at start: a store without DNS must still serve its status page). */
static void check_control(struct loader *l, const struct sk_config *c)
{
    if (c->control.socket[0]) {
        char path[SK_PATH_MAX * 2];
        sk_config_resolve_path(c, c->control.socket, path, sizeof(path));
        struct sockaddr_un sa;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            report(l, config_lookup(l->cf, "control.socket"), "control.socket",
                   "\"%s\" is %zu bytes long; a Unix socket path holds at most %zu", path,
                   strlen(path), sizeof(sa.sun_path) - 1);
        }
    }
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, c->http.address, addr) != 1 &&
        inet_pton(AF_INET6, c->http.address, addr) != 1) {
        report(l, config_lookup(l->cf, "http.address"), "http.address",
               "\"%s\" is not an IPv4 or IPv6 address (127.0.0.1, ::1, 0.0.0.0, ...)",
               c->http.address);
    }
}

/* The TLS client key is a secret like the credentials file: the same permission rule. */
static void check_key_file(struct loader *l, const struct sk_config *c)
{
    if (!c->mqtt.key_file[0]) {
        return;
    }
    char path[SK_PATH_MAX * 2];
    sk_config_resolve_path(c, c->mqtt.key_file, path, sizeof(path));
    struct stat st;
    if (stat(path, &st) < 0) {
        return; /* check_named said so */
    }
    char err[SK_PATH_MAX * 3];
    if (sk_secret_file_ok(path, &st, "a private key", err, sizeof(err)) < 0) {
        report(l, config_lookup(l->cf, "mqtt.key_file"), "mqtt.key_file", "%s", err);
    }
}

/* Which buses and cameras another board runs, and whether this board's role fits them. */
static void check_boards(struct loader *l, struct sk_config *c)
{
    for (size_t i = 0; i < c->n_buses; i++) {
        struct sk_bus_cfg *b = &c->buses[i];
        b->remote = b->device_id[0] && strcmp(b->device_id, c->device_id) != 0;
    }
    for (size_t i = 0; i < c->n_cameras; i++) {
        struct sk_camera_cfg *cam = &c->cameras[i];
        cam->remote = cam->device_id[0] && strcmp(cam->device_id, c->device_id) != 0;
    }
    if (c->role == SK_ROLE_SATELLITE) {
        if (!c->satellite.hub[0]) {
            report(l, config_lookup(l->cf, "role"), "satellite.hub",
                   "a satellite needs the device_id of its hub");
        } else if (strcmp(c->satellite.hub, c->device_id) == 0) {
            report(l, config_lookup(l->cf, "satellite.hub"), "satellite.hub",
                   "\"%s\" is this board's own device_id: a satellite sends to another board",
                   c->satellite.hub);
        }
        /* A satellite opens only what is wired to it; another satellite's or the hub's are
         * listed in a shared file and left alone, but not the hub's own device id as ours. */
        return;
    }
    /* A hub's clock bound must sit well inside the windows fusion matches departures in. */
    int window = c->fusion.pick_before_ms < c->fusion.pick_after_ms ? c->fusion.pick_before_ms
                                                                    : c->fusion.pick_after_ms;
    size_t sats = 0;
    char names[1][SK_NAME_MAX];
    sats = sk_config_satellites(c, names, 1);
    if (sats > 0 && window > 0 && c->hub.clock_max_ms > window / 2) {
        report(l, config_lookup(l->cf, "hub.clock_max_ms"), "hub.clock_max_ms",
               "%d ms is more than half the shorter pick window (fusion.pick_before_ms, "
               "pick_after_ms: %d ms): a satellite's reach and its shelf's departure could be "
               "matched to the wrong shopper",
               c->hub.clock_max_ms, window);
    }
    if (c->satellite.hub[0]) {
        report(l, config_lookup(l->cf, "satellite.hub"), "satellite.hub",
               "set on a hub (role is \"hub\"); did you mean role = \"satellite\"?");
    }
}

static void check_store(struct loader *l, struct sk_config *c)
{
    check_boards(l, c);
    check_unique(l, "buses", c->buses, c->n_buses, sizeof(*c->buses));
    check_unique(l, "readers", c->readers, c->n_readers, sizeof(*c->readers));
    check_unique(l, "presence_presets", c->presence_presets, c->n_presence_presets,
                 sizeof(*c->presence_presets));
    check_unique(l, "shelves", c->shelves, c->n_shelves, sizeof(*c->shelves));
    check_unique(l, "cameras", c->cameras, c->n_cameras, sizeof(*c->cameras));
    check_unique(l, "zones", c->zones, c->n_zones, sizeof(*c->zones));
    check_unique(l, "lines", c->lines, c->n_lines, sizeof(*c->lines));

    for (size_t i = 0; i < c->n_buses; i++) {
        const struct sk_bus_cfg *b = &c->buses[i];
        char cpath[PATH_BUF];
        if (b->reconnect_min_ms > b->reconnect_max_ms) {
            snprintf(cpath, sizeof(cpath), "buses.[%zu].reconnect_min_ms", i);
            report(l, lookup_elem_key(l->cf, "buses", i, "reconnect_min_ms"), cpath,
                   "%d is larger than reconnect_max_ms (%d)", b->reconnect_min_ms,
                   b->reconnect_max_ms);
        }
        if (strncmp(b->url, "rtu:", 4) == 0 && b->url[4] != '/' && c->board.name[0] &&
            !b->remote) { /* another board's port names are its profile's */
            char port[SK_NAME_MAX];
            snprintf(port, sizeof(port), "%.*s", (int)strcspn(b->url + 4, ":"), b->url + 4);
            bool found = false;
            for (size_t p = 0; p < c->board.n_serial_ports; p++) {
                found |= strcmp(c->board.serial_ports[p].name, port) == 0;
            }
            if (!found) {
                char names[200];
                names_text(c->board.serial_ports, c->board.n_serial_ports,
                           sizeof(*c->board.serial_ports), names, sizeof(names));
                snprintf(cpath, sizeof(cpath), "buses.[%zu].url", i);
                report(l, lookup_elem_key(l->cf, "buses", i, "url"), cpath,
                       "board %s has no serial port \"%s\" (ports: %s; or give a /dev path)",
                       c->board.name, port, names);
            }
        }
    }
    for (size_t i = 0; i < c->n_readers; i++) {
        const struct sk_reader_cfg *r = &c->readers[i];
        check_ref(l, "readers", i, "bus", r->bus, "bus", c->buses, c->n_buses, sizeof(*c->buses),
                  "buses");
        const struct sk_bus_cfg *rb = sk_config_bus(c, r->bus);
        if (rb && strncmp(rb->url, "rtu:", 4) == 0 && r->unit > 247) {
            char cpath[PATH_BUF];
            snprintf(cpath, sizeof(cpath), "readers.[%zu].unit", i);
            report(l, lookup_elem_key(l->cf, "readers", i, "unit"), cpath,
                   "%d is not an RTU unit id (1..247) on bus %s", r->unit, r->bus);
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->readers[j].bus, r->bus) == 0 && c->readers[j].unit == r->unit) {
                char cpath[PATH_BUF];
                snprintf(cpath, sizeof(cpath), "readers.[%zu].unit", i);
                report(l, lookup_elem_key(l->cf, "readers", i, "unit"), cpath,
                       "unit %d on bus %s is already used by reader %s", r->unit, r->bus,
                       c->readers[j].name);
                break;
            }
        }
    }
    for (size_t i = 0; i < c->n_presence_presets; i++) {
        const struct sk_presence_preset_cfg *p = &c->presence_presets[i];
        if (p->arrive_k > p->arrive_n) {
            char cpath[PATH_BUF];
            snprintf(cpath, sizeof(cpath), "presence_presets.[%zu].arrive_k", i);
            report(l, lookup_elem_key(l->cf, "presence_presets", i, "arrive_k"), cpath,
                   "%d is larger than arrive_n (%d)", p->arrive_k, p->arrive_n);
        }
    }
    for (size_t i = 0; i < c->n_shelves; i++) {
        const struct sk_shelf_cfg *s = &c->shelves[i];
        check_ref(l, "shelves", i, "reader", s->reader, "reader", c->readers, c->n_readers,
                  sizeof(*c->readers), "readers");
        if (s->zone[0]) {
            check_ref(l, "shelves", i, "zone", s->zone, "zone", c->zones, c->n_zones,
                      sizeof(*c->zones), "zones");
        }
        if (!name_in(c->presence_presets, c->n_presence_presets, sizeof(*c->presence_presets),
                     s->preset) &&
            !name_in(builtin_presets, 3, sizeof(*builtin_presets), s->preset)) {
            char cpath[PATH_BUF];
            snprintf(cpath, sizeof(cpath), "shelves.[%zu].preset", i);
            report(l, lookup_elem_key(l->cf, "shelves", i, "preset"), cpath,
                   "no presence preset named \"%s\" (built in: fast, standard, slow)", s->preset);
        }
        for (size_t j = 0; j < i; j++) {
            const struct sk_shelf_cfg *o = &c->shelves[j];
            if (strcmp(o->reader, s->reader) == 0 &&
                (o->antenna == s->antenna || o->antenna == 0 || s->antenna == 0)) {
                char cpath[PATH_BUF];
                snprintf(cpath, sizeof(cpath), "shelves.[%zu].antenna", i);
                report(l, lookup_elem_key(l->cf, "shelves", i, "antenna"), cpath,
                       "reader %s antenna %d already watches shelf %s", s->reader, s->antenna,
                       o->name);
                break;
            }
        }
    }
    /* The cameras' floor maps first: floor zones and lines are placed with them, in the
     * board's processing size (unknown when the board did not load). */
    for (size_t i = 0; i < c->n_cameras; i++) {
        struct sk_camera_cfg *cam = &c->cameras[i];
        if (c->board.name[0]) {
            sk_config_fit(c->board.vision_width, c->board.vision_height,
                          cam->width ? cam->width : c->board.camera_width,
                          cam->height ? cam->height : c->board.camera_height, &cam->proc_width,
                          &cam->proc_height);
        }
        check_floor(l, cam, i);
        check_mount(l, cam, i);
    }
    for (size_t i = 0; i < c->n_zones; i++) {
        check_zone(l, c, i);
    }
    for (size_t i = 0; i < c->n_lines; i++) {
        check_line(l, c, i);
    }
    for (size_t i = 0; i < c->n_cameras; i++) {
        check_per_camera(l, c, c->cameras[i].name, false);
        check_per_camera(l, c, c->cameras[i].name, true);
    }
    if (c->core.queue_low_pct >= c->core.queue_high_pct) {
        report(l, config_lookup(l->cf, "core.queue_low_pct"), "core.queue_low_pct",
               "%d must be lower than core.queue_high_pct (%d)", c->core.queue_low_pct,
               c->core.queue_high_pct);
    }
    if (c->mqtt.reconnect_min_ms > c->mqtt.reconnect_max_ms) {
        report(l, config_lookup(l->cf, "mqtt.reconnect_min_ms"), "mqtt.reconnect_min_ms",
               "%d is larger than mqtt.reconnect_max_ms (%d)", c->mqtt.reconnect_min_ms,
               c->mqtt.reconnect_max_ms);
    }
    if (c->mqtt.cert_file[0] && !c->mqtt.key_file[0]) {
        report(l, config_lookup(l->cf, "mqtt.cert_file"), "mqtt.cert_file",
               "a client certificate needs mqtt.key_file");
    }
    if ((c->mqtt.ca_file[0] || c->mqtt.cert_file[0]) && !c->mqtt.tls) {
        report(l, config_lookup(l->cf, "mqtt.ca_file"), "mqtt.tls",
               "TLS files are set but mqtt.tls is false");
    }
    check_control(l, c);
    check_named(l, c, "mqtt.ca_file", c->mqtt.ca_file, false);
    check_named(l, c, "mqtt.cert_file", c->mqtt.cert_file, false);
    check_named(l, c, "mqtt.key_file", c->mqtt.key_file, false);
    check_key_file(l, c);
    check_named(l, c, "mqtt.credentials_file", c->mqtt.credentials_file, false);
    check_credentials(l, c);
    check_named(l, c, "products_file", c->products_file, false);
    check_named(l, c, "tags_file", c->tags_file, false);
    check_named(l, c, "planogram_file", c->planogram_file, false);
    check_named(l, c, "profiles_dir", c->profiles_dir, true);
    check_ledger_path(l, c);
    if (!c->board.name[0]) {
        return; /* the board did not load: its limits are unknown */
    }
    /* What this board runs itself counts against its profile; its satellites' do not. */
    size_t readers = 0, cameras = 0;
    for (size_t i = 0; i < c->n_readers; i++) {
        const struct sk_bus_cfg *b = sk_config_bus(c, c->readers[i].bus);
        readers += b && !b->remote;
    }
    for (size_t i = 0; i < c->n_cameras; i++) {
        cameras += !c->cameras[i].remote;
    }
    if ((int)readers > c->board.max_readers) {
        report(l, config_lookup(l->cf, "readers"), "readers",
               "%zu readers on this board, board %s polls at most %d (a satellite board can "
               "take more: buses.[].device_id)",
               readers, c->board.name, c->board.max_readers);
    }
    if ((int)cameras > c->board.max_cameras) {
        report(l, config_lookup(l->cf, "cameras"), "cameras",
               "%zu cameras on this board, board %s processes at most %d (a satellite board can "
               "take more: cameras.[].device_id)",
               cameras, c->board.name, c->board.max_cameras);
    }
}

static void check_board(struct loader *l, struct sk_board_cfg *b)
{
    check_unique(l, "serial_ports", b->serial_ports, b->n_serial_ports, sizeof(*b->serial_ports));
}

/* Camera settings left at 0 or empty take the board's defaults. */
static void resolve_camera_defaults(struct sk_config *c)
{
    for (size_t i = 0; i < c->n_cameras; i++) {
        struct sk_camera_cfg *cam = &c->cameras[i];
        if (!cam->backend[0]) {
            snprintf(cam->backend, sizeof(cam->backend), "%s", c->board.camera_backend);
        }
        if (!cam->width) {
            cam->width = c->board.camera_width;
        }
        if (!cam->height) {
            cam->height = c->board.camera_height;
        }
        if (!cam->fps) {
            cam->fps = c->board.camera_fps;
        }
    }
}

/* ---- hashing ---------------------------------------------------------------------------- */

/* Hashes the parsed trees (comments and layout do not change the hash, includes do). board
 * may be NULL (a store file without one is refused, but hash nothing uninitialised). */
static void hash_configs(config_t *store, config_t *board, char out[65])
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    out[0] = '\0';
    if (!m) {
        return;
    }
    config_write(store, m);
    fputc('\0', m);
    if (board) {
        config_write(board, m);
    }
    fclose(m);
    uint8_t md[32];
    sk_sha256(buf, len, md);
    for (unsigned i = 0; i < 32; i++) {
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    }
    free(buf);
}

/* ---- data directory and paths ----------------------------------------------------------- */

static bool is_dir(const char *p)
{
    return access(p, X_OK) == 0;
}

/* The directory of the running executable, or "" when /proc/self/exe cannot be read. */
static void exe_dir(char *buf, size_t size)
{
    buf[0] = '\0';
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = '\0';
        snprintf(buf, size, "%s", exe);
    }
}

/* The first of the candidates (relative to the executable's directory, then the absolute
 * install path) under which `probe` exists, into found (realpath'd: /usr/bin/../share reads
 * better as /usr/share in messages). False when none exists. */
static bool find_beside_exe(const char *const rel[],
                            size_t n_rel,
                            const char *installed,
                            const char *probe,
                            char *found,
                            size_t size)
{
    char dir[PATH_MAX];
    exe_dir(dir, sizeof(dir));
    for (size_t i = 0; dir[0] && i <= n_rel; i++) {
        char base[PATH_MAX + 64], cand[PATH_MAX + 128];
        if (i < n_rel) {
            snprintf(base, sizeof(base), "%s/%s", dir, rel[i]);
        } else {
            snprintf(base, sizeof(base), "%s", installed);
        }
        snprintf(cand, sizeof(cand), "%s%s%s", base, probe[0] ? "/" : "", probe);
        if (!is_dir(cand)) {
            continue;
        }
        char *real = realpath(base, NULL);
        snprintf(found, size, "%s", real && strlen(real) < size ? real : base);
        free(real);
        return true;
    }
    return false;
}

const char *sk_data_dir(void)
{
    static char found[PATH_MAX + 64];
    static bool done;
    if (done) {
        return found[0] ? found : NULL;
    }
    done = true;
    const char *env = getenv("STOREKEEPER_DATADIR");
    if (env && env[0]) {
        snprintf(found, sizeof(found), "%s", env);
        return found;
    }
    static const char *const rel[] = {"share/storekeeper", "../share/storekeeper"};
    if (!find_beside_exe(rel, 2, SK_INSTALL_DATADIR, "boards", found, sizeof(found))) {
        found[0] = '\0';
        return NULL;
    }
    return found;
}

static char module_dir[PATH_MAX + 64];

static void find_module_dir(void)
{
    const char *env = getenv("STOREKEEPER_MODULEDIR");
    if (env && env[0]) {
        snprintf(module_dir, sizeof(module_dir), "%s", env);
        return;
    }
    /* The build tree keeps them in <build>/lib/storekeeper, beside build/storekeeper; an
     * installed binary finds them relative to itself (a relocated prefix), else where the
     * package puts them (the path the messages name). */
    static const char *const rel[] = {"lib/storekeeper", SK_MODULEDIR_FROM_BINDIR};
    if (!find_beside_exe(rel, 2, SK_INSTALL_MODULEDIR, "", module_dir, sizeof(module_dir))) {
        snprintf(module_dir, sizeof(module_dir), "%s", SK_INSTALL_MODULEDIR);
    }
}

const char *sk_module_dir(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, find_module_dir);
    return module_dir;
}

void sk_config_resolve_path(const struct sk_config *cfg, const char *path, char *buf, size_t size)
{
    if (path[0] == '/' || !cfg->dir[0]) {
        snprintf(buf, size, "%s", path);
    } else {
        snprintf(buf, size, "%s/%s", cfg->dir, path);
    }
}

/* Finds the board file: a path when the name has a '/', else DATADIR/boards/NAME.cfg. */
static int board_file(const char *name,
                      const char *data_dir,
                      char *buf,
                      size_t size,
                      char *avail,
                      size_t avail_size)
{
    avail[0] = '\0';
    if (strchr(name, '/')) {
        snprintf(buf, size, "%s", name);
        return access(buf, R_OK) == 0 ? 0 : -ENOENT;
    }
    if (!data_dir) {
        snprintf(avail, avail_size, "no boards/ directory found; set STOREKEEPER_DATADIR");
        return -ENOENT;
    }
    int w = snprintf(buf, size, "%s/boards/%s.cfg", data_dir, name);
    if (w > 0 && (size_t)w < size && access(buf, R_OK) == 0) {
        return 0;
    }
    /* List what exists, for the error message. */
    char pattern[SK_PATH_MAX + 16];
    snprintf(pattern, sizeof(pattern), "%s/boards/*.cfg", data_dir);
    glob_t g;
    char names[256] = "";
    size_t off = 0;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/') + 1;
            int wn = snprintf(names + off, sizeof(names) - off, "%s%.*s", off ? ", " : "",
                              (int)(strlen(base) - 4), base);
            if (wn < 0 || (size_t)wn >= sizeof(names) - off) {
                break;
            }
            off += (size_t)wn;
        }
        globfree(&g);
    }
    snprintf(avail, avail_size, "available: %s", off ? names : "none");
    return -ENOENT;
}

static int board_load(const char *path,
                      const char *text,
                      size_t len,
                      struct sk_diag *diag,
                      struct sk_board_cfg *ret_board)
{
    config_t cf;
    struct sk_board_cfg b;
    memset(&b, 0, sizeof(b));
    struct src_cache src;
    memset(&src, 0, sizeof(src));
    int r = text ? read_text_config(&cf, path, text, len, diag, &src)
                 : read_file_config(&cf, path, diag, &src);
    if (r == 0) {
        struct loader l = {
                .table = &sk_board_table, .file = path, .diag = diag, .cf = &cf, .src = &src};
        r = load_table(&l, &b);
        check_board(&l, &b);
        if (l.errors) {
            r = SK_ECONFIG;
        }
    }
    src_free(&src);
    config_destroy(&cf);
    if (r < 0) {
        free_lists(&sk_board_table, &b);
        return r;
    }
    snprintf(b.path, sizeof(b.path), "%s", path);
    *ret_board = b;
    return 0;
}

int sk_board_load(const char *path, struct sk_diag *diag, struct sk_board_cfg *ret_board)
{
    return board_load(path, NULL, 0, diag, ret_board);
}

int sk_board_load_text(const char *name,
                       const char *text,
                       size_t len,
                       struct sk_diag *diag,
                       struct sk_board_cfg *ret_board)
{
    if (!text) {
        return -EINVAL;
    }
    return board_load(name, text, len, diag, ret_board);
}

void sk_board_free(struct sk_board_cfg *board)
{
    if (board) {
        free_lists(&sk_board_table, board);
    }
}

static int config_load(const char *store_path,
                       const char *text,
                       size_t len,
                       const struct sk_config_opts *opts,
                       struct sk_diag *diag,
                       struct sk_config **ret_cfg)
{
    struct sk_config *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    size_t first_diag = diag->n;
    snprintf(c->path, sizeof(c->path), "%s", store_path);
    snprintf(c->dir, sizeof(c->dir), "%s", store_path);
    char *slash = strrchr(c->dir, '/');
    if (slash) {
        *slash = '\0';
    } else {
        snprintf(c->dir, sizeof(c->dir), ".");
    }

    config_t scf, bcf;
    bool have_board = false;
    struct src_cache src;
    memset(&src, 0, sizeof(src));
    int r = text ? read_text_config(&scf, store_path, text, len, diag, &src)
                 : read_file_config(&scf, store_path, diag, &src);
    if (r < 0) {
        src_free(&src);
        config_destroy(&scf);
        free(c);
        return r;
    }
    struct loader ld = {
            .table = &sk_store_table, .file = store_path, .diag = diag, .cf = &scf, .src = &src};
    int errors = load_table(&ld, c) < 0;

    /* The board: --board wins over the file's "board" key. */
    const char *board = opts && opts->board_override ? opts->board_override : c->board_name;
    if (opts && opts->board_override) {
        snprintf(c->board_name, sizeof(c->board_name), "%s", opts->board_override);
    }
    if (board[0]) {
        const char *data_dir = opts && opts->data_dir ? opts->data_dir : sk_data_dir();
        char bpath[SK_PATH_MAX], avail[300];
        if (board_file(board, data_dir, bpath, sizeof(bpath), avail, sizeof(avail)) < 0) {
            const config_setting_t *s = config_lookup(&scf, "board");
            if (s && !(opts && opts->board_override)) {
                sk_diag_add(diag, "%s:%u: board: no board profile \"%s\" (%s)", store_path,
                            config_setting_source_line(s), board, avail);
            } else {
                sk_diag_add(diag, "--board: no board profile \"%s\" (%s)", board, avail);
            }
            errors++;
        } else {
            r = read_file_config(&bcf, bpath, diag, &src);
            have_board = true;
            if (r < 0) {
                errors++;
            } else {
                struct loader bl = {.table = &sk_board_table,
                                    .file = bpath,
                                    .diag = diag,
                                    .cf = &bcf,
                                    .src = &src};
                if (load_table(&bl, &c->board) < 0) {
                    errors++;
                }
                int load_errors = bl.errors;
                check_board(&bl, &c->board);
                errors += bl.errors - load_errors;
                snprintf(c->board.path, sizeof(c->board.path), "%s", bpath);
            }
        }
    }

    /* Cross-references are checked even after errors, so one run reports everything. */
    struct loader sl = {.table = &sk_store_table,
                        .file = store_path,
                        .diag = diag,
                        .warnings = &c->warnings,
                        .cf = &scf};
    check_store(&sl, c);
    for (size_t i = 0; opts && opts->check_reader && i < c->n_readers; i++) {
        char why[400], cpath[PATH_BUF];
        why[0] = '\0';
        if (c->readers[i].profile[0] && opts->check_reader(c, i, diag, why, sizeof(why)) < 0) {
            snprintf(cpath, sizeof(cpath), "readers.[%zu].profile", i);
            const config_setting_t *at = lookup_elem_key(&scf, "readers", i, "profile");
            report(&sl, at ? at : lookup_elem_key(&scf, "readers", i, "name"), cpath, "%s", why);
        }
    }
    errors += sl.errors;
    if (!errors) {
        if (add_builtin_presets(c) < 0) {
            errors++;
            sk_diag_add(diag, "%s: out of memory", store_path);
        }
        resolve_camera_defaults(c);
        hash_configs(&scf, have_board ? &bcf : NULL, c->hash);
    }
    src_free(&src);
    config_destroy(&scf);
    if (have_board) {
        config_destroy(&bcf);
    }
    if (errors) {
        diag_sort(diag, first_diag);
        sk_config_free(c);
        return SK_ECONFIG;
    }
    *ret_cfg = c;
    return 0;
}

int sk_config_load(const char *store_path,
                   const struct sk_config_opts *opts,
                   struct sk_diag *diag,
                   struct sk_config **ret_cfg)
{
    return config_load(store_path, NULL, 0, opts, diag, ret_cfg);
}

int sk_config_load_text(const char *name,
                        const char *text,
                        size_t len,
                        const struct sk_config_opts *opts,
                        struct sk_diag *diag,
                        struct sk_config **ret_cfg)
{
    if (!name || !text) {
        return -EINVAL;
    }
    return config_load(name, text, len, opts, diag, ret_cfg);
}

void sk_config_free(struct sk_config *cfg)
{
    if (!cfg) {
        return;
    }
    free_lists(&sk_store_table, cfg);
    free_lists(&sk_board_table, &cfg->board);
    sk_diag_free(&cfg->warnings);
    free(cfg);
}

/* ---- lookups ---------------------------------------------------------------------------- */

#define FIND_BY_NAME(arr, n, name)                     \
    do {                                               \
        for (size_t i_ = 0; i_ < (n); i_++) {          \
            if (strcmp((arr)[i_].name, (name)) == 0) { \
                return &(arr)[i_];                     \
            }                                          \
        }                                              \
        return NULL;                                   \
    } while (0)

const struct sk_bus_cfg *sk_config_bus(const struct sk_config *cfg, const char *name)
{
    FIND_BY_NAME(cfg->buses, cfg->n_buses, name);
}

const struct sk_reader_cfg *sk_config_reader(const struct sk_config *cfg, const char *name)
{
    FIND_BY_NAME(cfg->readers, cfg->n_readers, name);
}

const struct sk_camera_cfg *sk_config_camera(const struct sk_config *cfg, const char *name)
{
    FIND_BY_NAME(cfg->cameras, cfg->n_cameras, name);
}

const struct sk_presence_preset_cfg *sk_config_preset(const struct sk_config *cfg, const char *name)
{
    FIND_BY_NAME(cfg->presence_presets, cfg->n_presence_presets, name);
}

const char *sk_config_source_device(const struct sk_config *cfg, const char *source)
{
    const struct sk_reader_cfg *r = sk_config_reader(cfg, source);
    const struct sk_bus_cfg *b = r ? sk_config_bus(cfg, r->bus) : NULL;
    if (b) {
        return b->device_id[0] ? b->device_id : cfg->device_id;
    }
    const struct sk_camera_cfg *c = sk_config_camera(cfg, source);
    if (c) {
        return c->device_id[0] ? c->device_id : cfg->device_id;
    }
    return NULL;
}

bool sk_config_has_device(const struct sk_config *cfg, const char *device)
{
    for (size_t i = 0; i < cfg->n_buses; i++) {
        if (strcmp(cfg->buses[i].device_id, device) == 0) {
            return true;
        }
    }
    for (size_t i = 0; i < cfg->n_cameras; i++) {
        if (strcmp(cfg->cameras[i].device_id, device) == 0) {
            return true;
        }
    }
    return false;
}

static size_t add_satellite(const struct sk_config *cfg,
                            const char *dev,
                            char (*ret)[SK_NAME_MAX],
                            size_t n,
                            size_t max)
{
    if (!dev[0] || strcmp(dev, cfg->device_id) == 0) {
        return n;
    }
    for (size_t i = 0; i < n && i < max; i++) {
        if (strcmp(ret[i], dev) == 0) {
            return n;
        }
    }
    if (n < max) {
        snprintf(ret[n], SK_NAME_MAX, "%s", dev);
    }
    return n + 1;
}

size_t sk_config_satellites(const struct sk_config *cfg, char (*ret)[SK_NAME_MAX], size_t max)
{
    size_t n = 0;
    if (cfg->role != SK_ROLE_HUB) {
        return 0;
    }
    for (size_t i = 0; i < cfg->n_buses; i++) {
        n = add_satellite(cfg, cfg->buses[i].device_id, ret, n, max);
    }
    for (size_t i = 0; i < cfg->n_cameras; i++) {
        n = add_satellite(cfg, cfg->cameras[i].device_id, ret, n, max);
    }
    return n;
}

/* ---- comparison for reload -------------------------------------------------------------- */

static bool field_equal(const struct sk_cfg_key *k, const void *a, const void *b)
{
    const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;
    switch (k->type) {
    case SK_CFG_STRING:
        return strcmp(fa, fb) == 0;
    case SK_CFG_ENUM:
        return k->size == sizeof(int) ? memcmp(fa, fb, sizeof(int)) == 0 : strcmp(fa, fb) == 0;
    case SK_CFG_FLOAT_ARRAY: {
        size_t na, nb;
        memcpy(&na, (const char *)a + k->count_offset, sizeof(na));
        memcpy(&nb, (const char *)b + k->count_offset, sizeof(nb));
        return na == nb && memcmp(fa, fb, na * sizeof(double)) == 0;
    }
    case SK_CFG_GROUP:
    case SK_CFG_LIST:
        return true;
    default:
        return memcmp(fa, fb, k->size) == 0;
    }
}

static int diff_table(
        const struct sk_cfg_table *t, const void *a, const void *b, sk_config_diff_cb cb, void *ctx)
{
    int hard = 0;
    for (size_t i = 0; i < t->n_keys; i++) {
        const struct sk_cfg_key *k = &t->keys[i];
        if (strstr(k->path, "[]")) {
            continue; /* handled with their list */
        }
        if (k->type != SK_CFG_LIST) {
            if (!field_equal(k, a, b)) {
                hard += !k->reloadable;
                if (cb) {
                    cb(k->path, k->reloadable, ctx);
                }
            }
            continue;
        }
        size_t na, nb;
        const char *ea, *eb;
        memcpy(&na, (const char *)a + k->count_offset, sizeof(na));
        memcpy(&nb, (const char *)b + k->count_offset, sizeof(nb));
        memcpy(&ea, (const char *)a + k->offset, sizeof(ea));
        memcpy(&eb, (const char *)b + k->offset, sizeof(eb));
        if (na != nb) {
            hard += !k->reloadable;
            if (cb) {
                cb(k->path, k->reloadable, ctx);
            }
            continue;
        }
        char prefix[PATH_BUF];
        snprintf(prefix, sizeof(prefix), "%s.[]", k->path);
        for (size_t j = 0; j < t->n_keys; j++) {
            const struct sk_cfg_key *ek = &t->keys[j];
            if (!is_child_of(ek->path, prefix)) {
                continue;
            }
            for (size_t e = 0; e < na; e++) {
                if (!field_equal(ek, ea + e * k->elem_size, eb + e * k->elem_size)) {
                    hard += !ek->reloadable;
                    if (cb) {
                        cb(ek->path, ek->reloadable, ctx);
                    }
                    break;
                }
            }
        }
    }
    return hard;
}

int sk_config_diff(const struct sk_config *a,
                   const struct sk_config *b,
                   sk_config_diff_cb cb,
                   void *ctx)
{
    return diff_table(&sk_store_table, a, b, cb, ctx) +
           diff_table(&sk_board_table, &a->board, &b->board, cb, ctx);
}

/* ---- reference and summary -------------------------------------------------------------- */

static void write_key_type(const struct sk_cfg_key *k, FILE *out)
{
    switch (k->type) {
    case SK_CFG_STRING:
        fprintf(out, "string (≤ %" PRId64 " chars)", k->max);
        break;
    case SK_CFG_INT:
        fprintf(out, "integer %" PRId64 "..%" PRId64 "%s%s", k->min, k->max, k->unit ? " " : "",
                k->unit ? k->unit : "");
        break;
    case SK_CFG_FLOAT:
        fprintf(out, "number %g..%g%s%s", k->fmin, k->fmax, k->unit ? " " : "",
                k->unit ? k->unit : "");
        break;
    case SK_CFG_BOOL:
        fprintf(out, "boolean");
        break;
    case SK_CFG_ENUM: {
        char choices[256];
        choices_text(k, choices, sizeof(choices));
        fprintf(out, "one of: %s", choices);
        break;
    }
    case SK_CFG_GROUP:
        fprintf(out, "group");
        break;
    case SK_CFG_LIST:
        fprintf(out, "list of groups, %" PRId64 "..%" PRId64 " entries", k->min, k->max);
        break;
    case SK_CFG_FLOAT_ARRAY:
        if (k->min == k->max) {
            fprintf(out, "array of %" PRId64 " numbers %g..%g%s%s", k->min, k->fmin, k->fmax,
                    k->unit ? " " : "", k->unit ? k->unit : "");
        } else {
            fprintf(out, "array of %" PRId64 "..%" PRId64 " numbers %g..%g%s%s", k->min, k->max,
                    k->fmin, k->fmax, k->unit ? " " : "", k->unit ? k->unit : "");
        }
        break;
    }
}

static void write_table_reference(const struct sk_cfg_table *t, FILE *out)
{
    fprintf(out, "| key | type | default | reload | description |\n");
    fprintf(out, "|---|---|---|---|---|\n");
    for (size_t i = 0; i < t->n_keys; i++) {
        const struct sk_cfg_key *k = &t->keys[i];
        fprintf(out, "| `%s` | ", k->path);
        write_key_type(k, out);
        if (!k->def) {
            fprintf(out, " | *required* | ");
        } else if (!k->def[0]) {
            fprintf(out, " | – | ");
        } else {
            fprintf(out, " | `%s` | ", k->def);
        }
        fprintf(out, "%s | %s |\n", k->reloadable ? "yes" : "restart", k->doc);
    }
}

void sk_config_write_reference(FILE *out)
{
    fprintf(out, "## Store file keys\n\n");
    write_table_reference(&sk_store_table, out);
    fprintf(out, "\n## Board profile keys\n\n");
    write_table_reference(&sk_board_table, out);
}

void sk_config_write_summary(const struct sk_config *c, FILE *out)
{
    fprintf(out, "configuration OK: %s\n", c->path);
    fprintf(out, "  store %s, device %s\n", c->store_id, c->device_id);
    fprintf(out, "  board %s (%s)\n", c->board.name, c->board.path);
    fprintf(out,
            "  %zu bus(es), %zu reader(s), %zu shelf(ves), %zu camera(s), %zu zone(s), "
            "%zu line(s)\n",
            c->n_buses, c->n_readers, c->n_shelves, c->n_cameras, c->n_zones, c->n_lines);
    for (size_t i = 0; i < c->n_buses; i++) {
        size_t n = 0;
        for (size_t j = 0; j < c->n_readers; j++) {
            n += strcmp(c->readers[j].bus, c->buses[i].name) == 0;
        }
        fprintf(out, "    bus %s: %s, %zu reader(s)\n", c->buses[i].name, c->buses[i].url, n);
    }
    for (size_t i = 0; i < c->n_cameras; i++) {
        const struct sk_camera_cfg *cam = &c->cameras[i];
        size_t nz = 0, nl = 0;
        for (size_t k = 0; k < c->n_zones; k++) {
            nz += strcmp(c->zones[k].camera, cam->name) == 0;
        }
        for (size_t k = 0; k < c->n_lines; k++) {
            nl += strcmp(c->lines[k].camera, cam->name) == 0;
        }
        char floor[64] = "not on the floor plan";
        if (cam->has_mount) {
            snprintf(floor, sizeof(floor), "floor from its mount (%g m)", cam->mount.height_m);
        } else if (cam->has_floor) {
            snprintf(floor, sizeof(floor), "floor from %zu marked points", cam->floor_len / 4);
        }
        fprintf(out, "    camera %s: %s %s %dx%d@%d, %s, %zu zone(s), %zu line(s)\n", cam->name,
                cam->backend, cam->device[0] ? cam->device : "(default)", cam->width, cam->height,
                cam->fps, floor, nz, nl);
    }
    if (c->warnings.n) {
        fprintf(out, "  %zu warning(s) (on stderr)\n", c->warnings.n);
    }
    if (c->mqtt.enabled) {
        fprintf(out, "  mqtt %s:%d%s, topics storekeeper/v1/%s/%s/\n", c->mqtt.host, c->mqtt.port,
                c->mqtt.tls ? " (TLS)" : "", c->store_id, c->device_id);
    } else {
        fprintf(out, "  mqtt disabled\n");
    }
    char ledger[SK_PATH_MAX * 2];
    sk_config_resolve_path(c, c->ledger.path, ledger, sizeof(ledger));
    fprintf(out, "  ledger %s\n", ledger);
    fprintf(out, "  config hash %s\n", c->hash);
}
