/* SPDX-License-Identifier: MIT */
/* Reader profile loader: an INI-like file to a validated struct sk_profile, file:line errors. */
#include "storekeeper/profile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "storekeeper/buf.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * Two passes. The first splits the file into sections and KEY = VALUE entries with their line
 * numbers and checks only syntax and limits (file size, line length, entry count). The second
 * interprets the sections in dependency order (profile, link, codec, blocks, records, fields,
 * then the pattern section), so a section may refer to one defined further down. Every
 * problem is reported with the line of the entry (or section header) it is about, and
 * loading goes on after a problem so one run lists them all; any problem fails the load.
 *
 * The vocabulary is fixed and small on purpose: a profile may come from a vendor or a forum,
 * and loading it must not be able to do more than describe registers.
 */

#define MAX_ENTRIES  1024
#define MAX_SECTIONS (4 + SK_PROF_MAX_BLOCKS + SK_PROF_MAX_FIELDS + SK_PROF_MAX_RECORDS + 4)

enum sect_kind {
    S_PROFILE,
    S_LINK,
    S_CODEC,
    S_BLOCK,
    S_FIELD,
    S_RECORDS,
    S_SNAPSHOT,
    S_LATCH,
    S_MAILBOX,
};

static const char *const sect_names[] = {"profile", "link",     "codec", "block",   "field",
                                         "records", "snapshot", "latch", "mailbox", NULL};

struct entry {
    char key[48];
    char value[SK_PROF_MAX_LINE];
    int line;
    bool used;
};

struct section {
    int kind;
    char name[SK_NAME_MAX];
    int line;
    size_t first, n; /* entries */
};

struct problem {
    int line;
    char msg[360];
};

#define MAX_PROBLEMS 64

struct loader {
    const char *path;
    struct sk_diag *diag;
    int errors;
    struct problem problems[MAX_PROBLEMS]; /* sorted by line before they go to diag */
    struct entry *e;
    size_t n_e;
    struct section s[MAX_SECTIONS];
    size_t n_s;
    struct sk_profile *p;
};

static void __attribute__((format(printf, 4, 5)))
err(struct loader *l, int line, const char *where, const char *fmt, ...)
{
    if (l->errors++ >= MAX_PROBLEMS) {
        return; /* the count still fails the load; the list is long enough */
    }
    struct problem *pr = &l->problems[l->errors - 1];
    pr->line = line;
    int n = snprintf(pr->msg, sizeof(pr->msg), "%s: ", where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pr->msg + n, sizeof(pr->msg) - (size_t)n, fmt, ap);
    va_end(ap);
}

static void flush_problems(struct loader *l)
{
    size_t n = l->errors < MAX_PROBLEMS ? (size_t)l->errors : MAX_PROBLEMS;
    /* insertion sort: stable, so the problems of one line keep their order */
    for (size_t i = 1; i < n; i++) {
        struct problem tmp = l->problems[i];
        size_t j = i;
        while (j > 0 && l->problems[j - 1].line > tmp.line) {
            l->problems[j] = l->problems[j - 1];
            j--;
        }
        l->problems[j] = tmp;
    }
    for (size_t i = 0; i < n; i++) {
        sk_diag_add(l->diag, "%s:%d: %s", l->path, l->problems[i].line, l->problems[i].msg);
    }
    if ((size_t)l->errors > n) {
        sk_diag_add(l->diag, "%s: %d more problem(s) not listed", l->path, l->errors - (int)n);
    }
}

static void section_label(const struct section *s, char *buf, size_t size)
{
    if (s->name[0]) {
        snprintf(buf, size, "[%s.%s]", sect_names[s->kind], s->name);
    } else {
        snprintf(buf, size, "[%s]", sect_names[s->kind]);
    }
}

/* ---- pass 1: syntax -------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) {
        s[--n] = '\0';
    }
    return s;
}

static bool valid_name(const char *s)
{
    if (!s[0] || strlen(s) >= SK_NAME_MAX) {
        return false;
    }
    for (const char *c = s; *c; c++) {
        if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_' && *c != '.') {
            return false;
        }
    }
    return true;
}

/* Cuts a trailing comment (" # ..." or "\t#") off an unquoted value; unquotes "...". */
static bool clean_value(char *v, char **ret)
{
    v = trim(v);
    if (v[0] == '"') {
        char *end = strchr(v + 1, '"');
        if (!end) {
            return false;
        }
        *end = '\0';
        char *rest = trim(end + 1);
        if (rest[0] && rest[0] != '#') {
            return false;
        }
        *ret = v + 1;
        return true;
    }
    for (char *c = v; *c; c++) {
        if (*c == '#' && (c == v || isspace((unsigned char)c[-1]))) {
            *c = '\0';
            break;
        }
    }
    *ret = trim(v);
    return true;
}

static int find_section_kind(const char *name)
{
    for (int i = 0; sect_names[i]; i++) {
        if (strcmp(sect_names[i], name) == 0) {
            return i;
        }
    }
    return -1;
}

static bool named_kind(int kind)
{
    return kind == S_BLOCK || kind == S_FIELD || kind == S_RECORDS;
}

static void parse_header(struct loader *l, char *t, int lineno, struct section **cur)
{
    char *close = strchr(t, ']');
    *cur = NULL;
    if (!close || trim(close + 1)[0] != '\0') {
        err(l, lineno, "syntax", "a section header is [NAME] or [KIND.NAME] on a line of its own");
        return;
    }
    *close = '\0';
    char *inner = trim(t + 1);
    char *dot = strchr(inner, '.');
    char name[SK_PROF_MAX_LINE] = "";
    if (dot) {
        *dot = '\0';
        snprintf(name, sizeof(name), "%s", dot + 1);
    }
    int kind = find_section_kind(inner);
    if (kind < 0) {
        err(l, lineno, "syntax",
            "unknown section [%s] (sections: profile, link, codec, block.NAME, field.NAME, "
            "records.NAME, snapshot, latch, mailbox)",
            inner);
        return;
    }
    if (named_kind(kind) && !valid_name(name)) {
        err(l, lineno, "syntax",
            "[%s.NAME] needs a name of letters, digits, '-', '_', '.' (at most %d characters)",
            inner, SK_NAME_MAX - 1);
        return;
    }
    if (!named_kind(kind) && dot) {
        err(l, lineno, "syntax", "[%s] takes no name", inner);
        return;
    }
    for (size_t i = 0; i < l->n_s; i++) {
        if (l->s[i].kind == kind && strcmp(l->s[i].name, name) == 0) {
            char lbl[80];
            section_label(&l->s[i], lbl, sizeof(lbl));
            err(l, lineno, lbl, "section given twice (first at line %d)", l->s[i].line);
            return;
        }
    }
    if (l->n_s == MAX_SECTIONS) {
        err(l, lineno, "syntax", "too many sections (at most %d)", MAX_SECTIONS);
        return;
    }
    struct section *s = &l->s[l->n_s++];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    size_t nl = strnlen(name, sizeof(s->name) - 1); /* valid_name() checked the length */
    memcpy(s->name, name, nl);
    s->name[nl] = '\0';
    s->line = lineno;
    s->first = l->n_e;
    *cur = s;
}

static void parse_line(struct loader *l, char *line, int lineno, struct section **cur, bool *skip)
{
    char *t = trim(line);
    if (!t[0] || t[0] == '#' || t[0] == ';') {
        return;
    }
    if (t[0] == '[') {
        parse_header(l, t, lineno, cur);
        *skip = *cur == NULL; /* entries of a broken section are not reported again */
        return;
    }
    if (*skip) {
        return;
    }
    char *eq = strchr(t, '=');
    if (!eq) {
        err(l, lineno, "syntax", "expected KEY = VALUE or a [SECTION] header, got \"%.40s\"", t);
        return;
    }
    if (!*cur) {
        err(l, lineno, "syntax", "KEY = VALUE before the first [SECTION] header");
        *skip = true;
        return;
    }
    *eq = '\0';
    char *key = trim(t);
    char *value;
    char lbl[80];
    section_label(*cur, lbl, sizeof(lbl));
    if (!key[0] || strlen(key) >= sizeof(l->e[0].key)) {
        err(l, lineno, lbl, "empty or overlong key");
        return;
    }
    if (!clean_value(eq + 1, &value)) {
        err(l, lineno, lbl, "%s: unterminated quoted value", key);
        return;
    }
    for (size_t i = (*cur)->first; i < (*cur)->first + (*cur)->n; i++) {
        if (strcmp(l->e[i].key, key) == 0) {
            err(l, lineno, lbl, "%s: given twice (first at line %d)", key, l->e[i].line);
            return;
        }
    }
    if (l->n_e == MAX_ENTRIES) {
        err(l, lineno, lbl, "too many entries (at most %d)", MAX_ENTRIES);
        return;
    }
    if (strstr(value, "@TODO")) {
        err(l, lineno, lbl,
            "%s: marked @TODO (not yet confirmed from the manual); the profile cannot be used "
            "until it is filled in",
            key);
    }
    struct entry *e = &l->e[l->n_e++];
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->value, sizeof(e->value), "%s", value);
    e->line = lineno;
    (*cur)->n++;
}

static int parse_text(struct loader *l, char *text)
{
    struct section *cur = NULL;
    bool skip = false;
    int lineno = 0;
    char *p = text;
    while (*p) {
        lineno++;
        char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len >= SK_PROF_MAX_LINE) {
            err(l, lineno, "syntax", "line longer than %d characters", SK_PROF_MAX_LINE - 1);
        } else {
            char line[SK_PROF_MAX_LINE];
            memcpy(line, p, len);
            line[len] = '\0';
            if (memchr(line, '\0', len)) {
                err(l, lineno, "syntax", "NUL byte in the file");
            } else {
                parse_line(l, line, lineno, &cur, &skip);
            }
        }
        p += len + (nl ? 1 : 0);
    }
    return 0;
}

/* ---- pass 2 helpers --------------------------------------------------------------------- */

static struct section *find_section(struct loader *l, int kind)
{
    for (size_t i = 0; i < l->n_s; i++) {
        if (l->s[i].kind == kind) {
            return &l->s[i];
        }
    }
    return NULL;
}

static struct entry *get(struct loader *l, struct section *s, const char *key)
{
    for (size_t i = s->first; i < s->first + s->n; i++) {
        if (strcmp(l->e[i].key, key) == 0) {
            l->e[i].used = true;
            return &l->e[i];
        }
    }
    return NULL;
}

/* The entry of key in s, or NULL; a required key that is absent is reported. */
static struct entry *
get_or_missing(struct loader *l, struct section *s, const char *key, bool required)
{
    struct entry *e = get(l, s, key);
    if (!e && required) {
        char lbl[80];
        section_label(s, lbl, sizeof(lbl));
        err(l, s->line, lbl, "%s: missing (required)", key);
    }
    return e;
}

/*
 * A [KIND.NAME] section's item: the next of the n items in items (each size bytes), cleared;
 * NULL (reported) when there are max already. The caller names it after the section.
 */
static void *
next_item(struct loader *l, struct section *s, void *items, size_t size, size_t *n, size_t max)
{
    if (*n == max) {
        char lbl[80];
        section_label(s, lbl, sizeof(lbl));
        err(l, s->line, lbl, "too many [%s] sections (at most %zu)", sect_names[s->kind], max);
        return NULL;
    }
    void *it = (char *)items + (*n)++ * size;
    memset(it, 0, size);
    return it;
}

/* Line of key in s for a message, or the section's line when the key is absent (a required
 * key that is missing was reported already; its default may still fail a later check). */
static int line_of(struct loader *l, struct section *s, const char *key)
{
    struct entry *e = get(l, s, key);
    return e ? e->line : s->line;
}

static bool parse_int(const char *v, int64_t *ret)
{
    if (!v[0]) {
        return false;
    }
    errno = 0;
    char *end;
    long long x = strtoll(v, &end, 0);
    if (errno || *end) {
        return false;
    }
    *ret = x;
    return true;
}

/* Integer key in [min, max]; def when absent (required: absent is an error). */
static int64_t get_int(struct loader *l,
                       struct section *s,
                       const char *key,
                       int64_t min,
                       int64_t max,
                       int64_t def,
                       bool required)
{
    struct entry *e = get_or_missing(l, s, key, required);
    if (!e) {
        return def;
    }
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    int64_t v;
    if (!parse_int(e->value, &v)) {
        if (!strstr(e->value, "@TODO")) {
            err(l, e->line, lbl, "%s: \"%s\" is not a whole number (decimal or 0x hex)", key,
                e->value);
        }
        return def;
    }
    if (v < min || v > max) {
        err(l, e->line, lbl, "%s: %lld is out of range %lld..%lld", key, (long long)v,
            (long long)min, (long long)max);
        return def;
    }
    return v;
}

static bool get_bool(struct loader *l, struct section *s, const char *key, bool def)
{
    struct entry *e = get(l, s, key);
    if (!e) {
        return def;
    }
    if (strcmp(e->value, "true") == 0 || strcmp(e->value, "yes") == 0) {
        return true;
    }
    if (strcmp(e->value, "false") == 0 || strcmp(e->value, "no") == 0) {
        return false;
    }
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    err(l, e->line, lbl, "%s: \"%s\" is not true or false", key, e->value);
    return def;
}

/* Enum key: index into choices (NULL-terminated), def when absent. */
static int get_enum(struct loader *l,
                    struct section *s,
                    const char *key,
                    const char *const *choices,
                    int def,
                    bool required)
{
    struct entry *e = get_or_missing(l, s, key, required);
    if (!e) {
        return def;
    }
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    for (int i = 0; choices[i]; i++) {
        if (strcmp(choices[i], e->value) == 0) {
            return i;
        }
    }
    char list[200] = "";
    for (int i = 0; choices[i]; i++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof(list) - n, "%s%s", i ? ", " : "", choices[i]);
    }
    if (!strstr(e->value, "@TODO")) {
        err(l, e->line, lbl, "%s: \"%s\" is not one of %s", key, e->value, list);
    }
    return def;
}

static void get_str(struct loader *l, struct section *s, const char *key, char *buf, size_t size)
{
    struct entry *e = get(l, s, key);
    if (!e) {
        return;
    }
    if (strlen(e->value) >= size) {
        char lbl[80];
        section_label(s, lbl, sizeof(lbl));
        err(l, e->line, lbl, "%s: longer than %zu characters", key, size - 1);
        return;
    }
    snprintf(buf, size, "%s", e->value);
}

static size_t levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) {
        return 99;
    }
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++) {
        d[i][0] = i;
    }
    for (size_t j = 0; j <= lb; j++) {
        d[0][j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = c < del ? (c < ins ? c : ins) : (del < ins ? del : ins);
        }
    }
    return d[la][lb];
}

/* Reports every entry of s that no interpreter asked for. */
static void unknown_keys(struct loader *l, struct section *s, const char *const *known)
{
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    for (size_t i = s->first; i < s->first + s->n; i++) {
        struct entry *e = &l->e[i];
        if (e->used) {
            continue;
        }
        const char *best = NULL;
        size_t bd = 3;
        for (size_t k = 0; known[k]; k++) {
            size_t d = levenshtein(e->key, known[k]);
            if (d < bd) {
                bd = d;
                best = known[k];
            }
        }
        if (best) {
            err(l, e->line, lbl, "%s: unknown key (did you mean %s?)", e->key, best);
        } else {
            char list[300] = "";
            for (size_t k = 0; known[k]; k++) {
                size_t n = strlen(list);
                snprintf(list + n, sizeof(list) - n, "%s%s", k ? ", " : "", known[k]);
            }
            err(l, e->line, lbl, "%s: unknown key (keys here: %s)", e->key, list);
        }
    }
}

/* ---- sections --------------------------------------------------------------------------- */

static const char *const pattern_names[] = {"snapshot", "latch", "mailbox", NULL};
static const char *const status_names[] = {"reference", "unverified", "verified", "test", NULL};
static const char *const table_names[] = {"holding", "input", "coil", "discrete", NULL};
static const char *const order_names[] = {"default", "AB",   "BA",   "ABCD",
                                          "CDAB",    "BADC", "DCBA", NULL};
static const char *const type_names[] = {"u8",  "i8",  "u16",   "i16", "u32",
                                         "i32", "bit", "bytes", NULL};
static const char *const role_names[] = {"none",  "epc",    "pc",       "antenna", "rssi",
                                         "reads", "rounds", "antennas", NULL};
static const char *const exc_names[] = {"error", "no_tag", "busy", NULL};
static const char *const rssi_units[] = {"dBm", "0.1dBm", "0.01dBm", NULL};
static const char *const layout_names[] = {"fixed", "tlv", NULL};
static const char *const transport_names[] = {"any", "tcp", "rtu", NULL};
static const char *const seq_names[] = {"none", "counter", "toggle", NULL};

static void load_profile_section(struct loader *l)
{
    struct sk_profile *p = l->p;
    struct section *s = find_section(l, S_PROFILE);
    if (!s) {
        err(l, 1, "[profile]",
            "missing (every profile starts with [profile] id = ..., "
            "pattern = ...)");
        return;
    }
    get_str(l, s, "id", p->id, sizeof(p->id));
    if (!p->id[0]) {
        err(l, s->line, "[profile]", "id: missing (required)");
    } else {
        /* the id is the file name without directory and extension */
        const char *base = strrchr(l->path, '/');
        base = base ? base + 1 : l->path;
        size_t n = strlen(base);
        size_t el = strlen(SK_PROF_EXT);
        if (n > el && strcmp(base + n - el, SK_PROF_EXT) == 0) {
            n -= el;
        }
        if (strlen(p->id) != n || strncmp(p->id, base, n) != 0) {
            struct entry *e = get(l, s, "id");
            err(l, e->line, "[profile]", "id: \"%s\" does not match the file name \"%.*s\"", p->id,
                (int)n, base);
        }
    }
    get_str(l, s, "vendor", p->vendor, sizeof(p->vendor));
    get_str(l, s, "model", p->model, sizeof(p->model));
    get_str(l, s, "source", p->source, sizeof(p->source));
    get_str(l, s, "notes", p->notes, sizeof(p->notes));
    p->status = get_enum(l, s, "status", status_names, SK_PROF_UNVERIFIED, true);
    p->pattern = get_enum(l, s, "pattern", pattern_names, SK_PATTERN_SNAPSHOT, true);
    p->address_base = (int)get_int(l, s, "address_base", 0, 1, 0, false);
    static const char *const known[] = {"id",     "vendor",  "model",        "source", "notes",
                                        "status", "pattern", "address_base", NULL};
    unknown_keys(l, s, known);
}

static void load_link_section(struct loader *l)
{
    struct sk_profile *p = l->p;
    p->tcp = p->rtu = true;
    p->max_read_regs = 125;
    p->max_write_regs = 123;
    p->max_read_bits = 2000;
    struct section *s = find_section(l, S_LINK);
    if (!s) {
        return;
    }
    int t = get_enum(l, s, "transport", transport_names, 0, false);
    p->tcp = t != 2;
    p->rtu = t != 1;
    p->default_unit = (int)get_int(l, s, "default_unit", 0, 255, 0, false);
    p->response_timeout_ms = (int)get_int(l, s, "response_timeout_ms", 0, 10000, 0, false);
    p->max_read_regs = (int)get_int(l, s, "max_read_regs", 1, 125, 125, false);
    p->max_write_regs = (int)get_int(l, s, "max_write_regs", 1, 123, 123, false);
    p->max_read_bits = (int)get_int(l, s, "max_read_bits", 1, 2000, 2000, false);
    static const char *const known[] = {"transport",
                                        "default_unit",
                                        "response_timeout_ms",
                                        "max_read_regs",
                                        "max_write_regs",
                                        "max_read_bits",
                                        NULL};
    unknown_keys(l, s, known);
}

static void load_codec_section(struct loader *l)
{
    struct sk_profile *p = l->p;
    p->byte_order = SK_ORDER_AB;
    p->word_order = SK_ORDER_ABCD;
    struct section *s = find_section(l, S_CODEC);
    if (!s) {
        return;
    }
    char lbl[] = "[codec]";
    int bo = get_enum(l, s, "byte_order", order_names, SK_ORDER_AB, false);
    if (bo != SK_ORDER_AB && bo != SK_ORDER_BA) {
        err(l, line_of(l, s, "byte_order"), lbl, "byte_order: must be AB or BA");
    } else {
        p->byte_order = bo;
    }
    int wo = get_enum(l, s, "word_order", order_names, SK_ORDER_ABCD, false);
    if (wo < SK_ORDER_ABCD) {
        err(l, line_of(l, s, "word_order"), lbl, "word_order: must be ABCD, CDAB, BADC or DCBA");
    } else {
        p->word_order = wo;
    }
    static const char *const known[] = {"byte_order", "word_order", NULL};
    unknown_keys(l, s, known);
}

/* Converts a 1-based reference number (address_base = 1) to a PDU address. */
static int64_t pdu_address(int table, int64_t ref)
{
    static const int64_t prefix5[] = {40001, 30001, 1, 10001};
    static const int64_t prefix6[] = {400001, 300001, 1, 100001};
    if (table != SK_TABLE_COIL) {
        if (ref >= prefix6[table] && ref <= prefix6[table] + 65535) {
            return ref - prefix6[table];
        }
        if (ref >= prefix5[table] && ref < prefix5[table] + 9999) {
            return ref - prefix5[table];
        }
    }
    return ref - 1;
}

static void load_block(struct loader *l, struct section *s)
{
    struct sk_profile *p = l->p;
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    struct sk_prof_block *b =
            next_item(l, s, p->blocks, sizeof(*b), &p->n_blocks, SK_PROF_MAX_BLOCKS);
    if (!b) {
        return;
    }
    snprintf(b->name, sizeof(b->name), "%s", s->name);
    b->line = s->line;
    b->table = get_enum(l, s, "table", table_names, SK_TABLE_HOLDING, true);
    int64_t addr = get_int(l, s, "address", p->address_base, 0x7fffffff, p->address_base, true);
    if (p->address_base == 1) {
        addr = pdu_address(b->table, addr);
    }
    bool bits = b->table == SK_TABLE_COIL || b->table == SK_TABLE_DISCRETE;
    int64_t count = get_int(l, s, "count", 1, bits ? 2000 : 4096, 1, true);
    if (addr < 0 || addr > 65535) {
        err(l, line_of(l, s, "address"), lbl,
            "address: %lld is not a Modbus address (0..65535 after address_base)", (long long)addr);
        addr = 0;
    } else if (addr + count > 65536) {
        err(l, line_of(l, s, "count"), lbl, "count: block runs past address 65535");
    }
    b->address = (uint16_t)addr;
    b->count = (uint16_t)count;
    b->side_effect = get_bool(l, s, "side_effect", false);
    int bo = get_enum(l, s, "byte_order", order_names, SK_ORDER_DEFAULT, false);
    if (bo > SK_ORDER_BA) {
        err(l, line_of(l, s, "byte_order"), lbl, "byte_order: must be AB or BA");
        bo = SK_ORDER_DEFAULT;
    }
    b->byte_order = bo == SK_ORDER_DEFAULT ? p->byte_order : bo;
    for (size_t i = s->first; i < s->first + s->n; i++) {
        struct entry *e = &l->e[i];
        if (strncmp(e->key, "exception.", 10) != 0) {
            continue;
        }
        e->used = true;
        int64_t code;
        if (!parse_int(e->key + 10, &code) || code < 1 || code > 255) {
            err(l, e->line, lbl, "%s: the exception code must be 1..255", e->key);
            continue;
        }
        int meaning = -1;
        for (int m = 0; exc_names[m]; m++) {
            if (strcmp(exc_names[m], e->value) == 0) {
                meaning = m;
            }
        }
        if (meaning < 0) {
            err(l, e->line, lbl, "%s: \"%s\" is not one of error, no_tag, busy", e->key, e->value);
            continue;
        }
        if (b->n_exc == SK_PROF_MAX_EXC) {
            err(l, e->line, lbl, "%s: at most %d exception meanings per block", e->key,
                SK_PROF_MAX_EXC);
            continue;
        }
        b->exc[b->n_exc].code = (uint8_t)code;
        b->exc[b->n_exc].meaning = (uint8_t)meaning;
        b->n_exc++;
    }
    if (bits && b->byte_order == SK_ORDER_BA && get(l, s, "byte_order")) {
        err(l, line_of(l, s, "byte_order"), lbl, "byte_order: bit tables have no byte order");
    }
    static const char *const known[] = {"table",      "address",     "count", "side_effect",
                                        "byte_order", "exception.N", NULL};
    unknown_keys(l, s, known);
}

int sk_profile_block(const struct sk_profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_blocks; i++) {
        if (strcmp(p->blocks[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int sk_profile_field(const struct sk_profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_fields; i++) {
        if (strcmp(p->fields[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int find_records(const struct sk_profile *p, const char *name)
{
    for (size_t i = 0; i < p->n_records; i++) {
        if (strcmp(p->records[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* A reference by name to a [KIND.NAME] section of this profile: its index, or -1 (reported)
 * when unknown, or absent but required. */
static int ref(struct loader *l,
               struct section *s,
               const char *key,
               bool required,
               const char *kind,
               int (*find)(const struct sk_profile *, const char *))
{
    struct entry *e = get_or_missing(l, s, key, required);
    if (!e) {
        return -1;
    }
    int i = find(l->p, e->value);
    if (i < 0) {
        char lbl[80];
        section_label(s, lbl, sizeof(lbl));
        err(l, e->line, lbl, "%s: no [%s.%s] in this profile", key, kind, e->value);
    }
    return i;
}

static int ref_block(struct loader *l, struct section *s, const char *key, bool required)
{
    return ref(l, s, key, required, "block", sk_profile_block);
}

static int ref_field(struct loader *l, struct section *s, const char *key, bool required)
{
    return ref(l, s, key, required, "field", sk_profile_field);
}

static int ref_records(struct loader *l, struct section *s, const char *key)
{
    return ref(l, s, key, true, "records", find_records);
}

static void load_records_head(struct loader *l, struct section *s)
{
    struct sk_profile *p = l->p;
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    struct sk_prof_records *r =
            next_item(l, s, p->records, sizeof(*r), &p->n_records, SK_PROF_MAX_RECORDS);
    if (!r) {
        return;
    }
    snprintf(r->name, sizeof(r->name), "%s", s->name);
    r->line = s->line;
    r->block = ref_block(l, s, "block", true);
    r->layout = get_enum(l, s, "layout", layout_names, SK_LAYOUT_FIXED, false);
    r->max = (int)get_int(l, s, "max", 1, 1024, 1, true);
    r->stride = (int)get_int(l, s, "stride", 1, 4096, 0, r->layout == SK_LAYOUT_FIXED);
    r->size_adjust = (int)get_int(l, s, "size_adjust", -16, 16, 0, false);
    r->type_ok = get_int(l, s, "type_ok", 0, 0xffff, 0, false);
    r->antenna = (int)get_int(l, s, "antenna", 1, 255, 1, false);
    r->size_field = r->type_field = -1;
    r->epc = r->pc = r->ant = r->rssi = r->reads = -1;
    if (r->block >= 0) {
        const struct sk_prof_block *b = &p->blocks[r->block];
        if (b->table == SK_TABLE_COIL || b->table == SK_TABLE_DISCRETE) {
            err(l, s->line, lbl, "block: records live in register blocks, %s is a bit table",
                b->name);
        } else if (r->layout == SK_LAYOUT_FIXED &&
                   (size_t)r->stride * (size_t)r->max > sk_prof_block_bytes(b)) {
            err(l, line_of(l, s, "max"), lbl,
                "max: %d records of %d bytes need %d bytes; block %s has %zu", r->max, r->stride,
                r->max * r->stride, b->name, sk_prof_block_bytes(b));
        }
    }
}

static int field_size(const struct sk_prof_field *f)
{
    switch (f->type) {
    case SK_FT_U8:
    case SK_FT_I8:
        return 1;
    case SK_FT_U16:
    case SK_FT_I16:
    case SK_FT_BIT:
        return 2;
    case SK_FT_U32:
    case SK_FT_I32:
        return 4;
    default:
        return f->len_mode == SK_LEN_FIXED ? f->len : 0;
    }
}

static void load_field(struct loader *l, struct section *s)
{
    struct sk_profile *p = l->p;
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    struct sk_prof_field *f =
            next_item(l, s, p->fields, sizeof(*f), &p->n_fields, SK_PROF_MAX_FIELDS);
    if (!f) {
        return;
    }
    snprintf(f->name, sizeof(f->name), "%s", s->name);
    f->line = s->line;
    f->block = f->records = f->len_field = -1;
    struct entry *eb = get(l, s, "block");
    struct entry *er = get(l, s, "record");
    if (eb && er) {
        err(l, er->line, lbl, "record: a field is in a block or in a record, not both");
    } else if (eb) {
        f->block = sk_profile_block(p, eb->value);
        if (f->block < 0) {
            err(l, eb->line, lbl, "block: no [block.%s] in this profile", eb->value);
        }
    } else if (er) {
        f->records = find_records(p, er->value);
        if (f->records < 0) {
            err(l, er->line, lbl, "record: no [records.%s] in this profile", er->value);
        }
    } else {
        err(l, s->line, lbl, "block or record: missing (where is the field?)");
    }
    int errors_before = l->errors;
    f->type = get_enum(l, s, "type", type_names, SK_FT_U16, true);
    bool type_known = l->errors == errors_before; /* no follow-on errors from a bad type */
    struct entry *ereg = get(l, s, "reg");
    struct entry *ebyte = get(l, s, "byte");
    const struct sk_prof_block *blk = f->block >= 0 ? &p->blocks[f->block] : NULL;
    bool bits = blk && (blk->table == SK_TABLE_COIL || blk->table == SK_TABLE_DISCRETE);
    if (ereg && ebyte) {
        err(l, ebyte->line, lbl, "byte: give reg or byte, not both");
    } else if (!ereg && !ebyte) {
        err(l, s->line, lbl, "reg or byte: missing (the field's offset)");
    } else if (ereg) {
        f->offset = (int)get_int(l, s, "reg", 0, 4095, 0, false) * (bits ? 1 : 2);
    } else {
        f->offset = (int)get_int(l, s, "byte", -4096, 8191, 0, false);
        if (bits) {
            err(l, ebyte->line, lbl, "byte: fields of a bit table take reg = BIT INDEX");
        }
        if (f->offset < 0 && (f->records < 0 || p->records[f->records].layout != SK_LAYOUT_TLV)) {
            err(l, ebyte->line, lbl,
                "byte: a negative offset (from the record's end) needs a tlv record");
        }
    }
    f->bit = (int)get_int(l, s, "bit", 0, 15, 0, false);
    if (get(l, s, "bit") && f->type != SK_FT_BIT) {
        err(l, line_of(l, s, "bit"), lbl, "bit: only for type = bit");
    }
    if (bits && f->type != SK_FT_BIT) {
        err(l, s->line, lbl, "type: fields of bit table %s must be type = bit", blk->name);
    }
    int order = get_enum(l, s, "order", order_names, SK_ORDER_DEFAULT, false);
    int size = f->type == SK_FT_BYTES ? 0 : field_size(f);
    if (order != SK_ORDER_DEFAULT && size == 2 && order > SK_ORDER_BA) {
        err(l, line_of(l, s, "order"), lbl, "order: a 16-bit field takes AB or BA");
        order = SK_ORDER_DEFAULT;
    } else if (order != SK_ORDER_DEFAULT && size == 4 && order < SK_ORDER_ABCD) {
        err(l, line_of(l, s, "order"), lbl, "order: a 32-bit field takes ABCD, CDAB, BADC or DCBA");
        order = SK_ORDER_DEFAULT;
    } else if (order != SK_ORDER_DEFAULT && size != 2 && size != 4) {
        err(l, line_of(l, s, "order"), lbl, "order: only for 16- and 32-bit fields");
        order = SK_ORDER_DEFAULT;
    }
    if (order == SK_ORDER_DEFAULT) {
        order = size == 4 ? p->word_order : SK_ORDER_AB;
    }
    f->order = order;
    f->mask = (uint32_t)get_int(l, s, "mask", 0, 0xffffffffLL, 0, false);
    f->role = get_enum(l, s, "role", role_names, SK_ROLE_NONE, false);
    f->rssi_unit = get_enum(l, s, "unit", rssi_units, SK_RSSI_DBM, false);
    if (get(l, s, "unit") && f->role != SK_ROLE_RSSI) {
        err(l, line_of(l, s, "unit"), lbl, "unit: only for role = rssi");
    }
    struct entry *ee = get(l, s, "expect");
    if (ee) {
        f->has_expect = parse_int(ee->value, &f->expect);
        if (!f->has_expect) {
            err(l, ee->line, lbl, "expect: \"%s\" is not a whole number", ee->value);
        }
    }
    struct entry *ev = get(l, s, "value");
    if (ev) {
        f->has_value = parse_int(ev->value, &f->value);
        if (!f->has_value) {
            err(l, ev->line, lbl, "value: \"%s\" is not a whole number", ev->value);
        }
    }
    f->trim_zeros = get_bool(l, s, "trim_zeros", false);
    /* length of byte strings: exactly one of len, len_from_pc, len_from, len_rest */
    struct entry *lens[4] = {get(l, s, "len"), get(l, s, "len_from_pc"), get(l, s, "len_from"),
                             get(l, s, "len_rest")};
    int n_len = !!lens[0] + !!lens[1] + !!lens[2] + !!lens[3];
    f->len_words = get_bool(l, s, "len_words", false);
    if (!type_known) {
        /* the problem is the type; its length and role cannot be judged */
    } else if (f->type == SK_FT_BYTES) {
        if (n_len != 1) {
            err(l, s->line, lbl,
                "a bytes field needs exactly one of len, len_from_pc, len_from, len_rest");
        } else if (lens[0]) {
            f->len_mode = SK_LEN_FIXED;
            f->len = (int)get_int(l, s, "len", 1, SK_EPC_MAX, 1, false);
        } else if (lens[3]) {
            f->len_mode = SK_LEN_REST;
            f->len = (int)get_int(l, s, "len_rest", 0, 64, 0, false);
            if (f->records < 0 || p->records[f->records].layout != SK_LAYOUT_TLV) {
                err(l, lens[3]->line, lbl, "len_rest: only in a tlv record");
            }
        } else {
            /* resolved after every field is known (forward references) */
            f->len_mode = lens[1] ? SK_LEN_FROM_PC : SK_LEN_FROM_FIELD;
        }
    } else if (n_len) {
        struct entry *e = lens[0] ? lens[0] : lens[1] ? lens[1] : lens[2] ? lens[2] : lens[3];
        err(l, e->line, lbl, "%s: only for type = bytes", e->key);
    }
    if (f->trim_zeros && f->type != SK_FT_BYTES) {
        err(l, line_of(l, s, "trim_zeros"), lbl, "trim_zeros: only for type = bytes");
    }
    bool block_role = f->role == SK_ROLE_ROUNDS || f->role == SK_ROLE_ANTENNAS;
    if (f->role != SK_ROLE_NONE && !block_role && f->records < 0) {
        err(l, line_of(l, s, "role"), lbl, "role: %s describes a record field (record = ...)",
            role_names[f->role]);
    } else if (block_role && f->block < 0) {
        err(l, line_of(l, s, "role"), lbl, "role: %s describes a block field (block = ...)",
            role_names[f->role]);
    }
    if (type_known && f->role == SK_ROLE_EPC && f->type != SK_FT_BYTES) {
        err(l, line_of(l, s, "role"), lbl, "role: an epc field must be type = bytes");
    }
    /* inside its block? (record fields are checked against the stride later) */
    if (blk && f->type != SK_FT_BYTES) {
        size_t need = bits ? (size_t)f->offset + 1 : (size_t)f->offset + (size_t)size;
        if (need > sk_prof_block_bytes(blk)) {
            err(l, s->line, lbl, "reg/byte: the field ends after block %s (%u %s)", blk->name,
                blk->count, bits ? "bits" : "registers");
        }
    } else if (blk && f->len_mode == SK_LEN_FIXED &&
               (size_t)f->offset + (size_t)f->len > sk_prof_block_bytes(blk)) {
        err(l, s->line, lbl, "len: the field ends after block %s", blk->name);
    }
    if (f->records >= 0) {
        const struct sk_prof_records *r = &p->records[f->records];
        if (r->layout == SK_LAYOUT_FIXED && f->offset + (size ? size : f->len) > r->stride) {
            err(l, s->line, lbl, "reg/byte: the field ends after the record (stride %d bytes)",
                r->stride);
        }
    }
    static const char *const known[] = {
            "block",    "record",   "reg",       "byte",       "type",  "bit", "order",
            "mask",     "role",     "unit",      "expect",     "value", "len", "len_from_pc",
            "len_from", "len_rest", "len_words", "trim_zeros", NULL};
    unknown_keys(l, s, known);
}

static void resolve_field_lengths(struct loader *l, struct section *s, struct sk_prof_field *f)
{
    if (f->type != SK_FT_BYTES ||
        (f->len_mode != SK_LEN_FROM_PC && f->len_mode != SK_LEN_FROM_FIELD)) {
        return;
    }
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    const char *key = f->len_mode == SK_LEN_FROM_PC ? "len_from_pc" : "len_from";
    struct entry *e = get(l, s, key);
    int o = sk_profile_field(l->p, e->value);
    if (o < 0) {
        err(l, e->line, lbl, "%s: no [field.%s] in this profile", key, e->value);
        return;
    }
    const struct sk_prof_field *of = &l->p->fields[o];
    if (of->block != f->block || of->records != f->records) {
        err(l, e->line, lbl, "%s: field %s must be in the same block or record", key, of->name);
        return;
    }
    if (of->type == SK_FT_BYTES || of->type == SK_FT_BIT) {
        err(l, e->line, lbl, "%s: field %s is not a number", key, of->name);
        return;
    }
    if (f->len_mode == SK_LEN_FROM_PC && of->type != SK_FT_U16) {
        err(l, e->line, lbl, "%s: the PC word %s must be type = u16", key, of->name);
        return;
    }
    f->len_field = o;
}

/* The role fields of each record set, and layout checks that need the fields. */
static void resolve_records(struct loader *l)
{
    struct sk_profile *p = l->p;
    for (size_t ri = 0; ri < p->n_records; ri++) {
        struct sk_prof_records *r = &p->records[ri];
        struct section *s = NULL;
        for (size_t i = 0; i < l->n_s; i++) {
            if (l->s[i].kind == S_RECORDS && strcmp(l->s[i].name, r->name) == 0) {
                s = &l->s[i];
            }
        }
        if (!s) {
            continue; /* every record set comes from a [records.NAME] section */
        }
        char lbl[80];
        section_label(s, lbl, sizeof(lbl));
        for (size_t fi = 0; fi < p->n_fields; fi++) {
            const struct sk_prof_field *f = &p->fields[fi];
            if (f->records != (int)ri || f->role == SK_ROLE_NONE || f->role > SK_ROLE_READS) {
                continue;
            }
            int *slot = f->role == SK_ROLE_EPC       ? &r->epc
                        : f->role == SK_ROLE_PC      ? &r->pc
                        : f->role == SK_ROLE_ANTENNA ? &r->ant
                        : f->role == SK_ROLE_RSSI    ? &r->rssi
                                                     : &r->reads;
            if (*slot >= 0) {
                err(l, f->line, lbl, "two fields with role %s (%s and %s)", role_names[f->role],
                    p->fields[*slot].name, f->name);
            }
            *slot = (int)fi;
        }
        if (r->epc < 0) {
            err(l, r->line, lbl, "no field of this record has role = epc");
        }
        if (r->layout == SK_LAYOUT_TLV) {
            r->size_field = ref_field(l, s, "size_field", true);
            r->type_field = ref_field(l, s, "type_field", false);
            int chk[2] = {r->size_field, r->type_field};
            for (int k = 0; k < 2; k++) {
                if (chk[k] >= 0 &&
                    (p->fields[chk[k]].records != (int)ri || p->fields[chk[k]].offset < 0 ||
                     p->fields[chk[k]].type == SK_FT_BYTES)) {
                    err(l, r->line, lbl, "%s: %s must be a number at a fixed offset of this record",
                        k ? "type_field" : "size_field", p->fields[chk[k]].name);
                }
            }
        } else if (get(l, s, "size_field") || get(l, s, "type_field")) {
            err(l, r->line, lbl, "size_field and type_field are for layout = tlv");
        }
        static const char *const known[] = {"block",       "layout",  "max",     "stride",
                                            "size_adjust", "type_ok", "antenna", "size_field",
                                            "type_field",  NULL};
        unknown_keys(l, s, known);
    }
}

static bool in_block(const struct sk_profile *p, int f, int block)
{
    return f >= 0 && p->fields[f].block == block;
}

static bool is_number(const struct sk_profile *p, int f)
{
    return f >= 0 && p->fields[f].type != SK_FT_BYTES;
}

/* Fields a pattern reads from blocks (not records), checked for size. */
static void check_small_block(struct loader *l, struct section *s, const char *key, int f)
{
    const struct sk_profile *p = l->p;
    char lbl[80];
    section_label(s, lbl, sizeof(lbl));
    if (f < 0) {
        return;
    }
    const struct sk_prof_field *fd = &p->fields[f];
    if (fd->block < 0) {
        err(l, get(l, s, key)->line, lbl, "%s: %s must be a block field, not a record field", key,
            fd->name);
        return;
    }
    if (!is_number(p, f)) {
        err(l, get(l, s, key)->line, lbl, "%s: %s must be a number or a bit", key, fd->name);
        return;
    }
    const struct sk_prof_block *b = &p->blocks[fd->block];
    bool bits = b->table == SK_TABLE_COIL || b->table == SK_TABLE_DISCRETE;
    if ((!bits && b->count > p->max_read_regs) || (bits && b->count > p->max_read_bits)) {
        err(l, get(l, s, key)->line, lbl,
            "%s: block %s (%u) is read whole every poll and is larger than [link] max_read_%s", key,
            b->name, b->count, bits ? "bits" : "regs");
    }
}

static void load_snapshot(struct loader *l, struct section *s)
{
    struct sk_prof_snapshot *sn = &l->p->snapshot;
    sn->trigger = ref_field(l, s, "trigger", false);
    sn->count = ref_field(l, s, "count", false);
    sn->records = ref_records(l, s, "records");
    sn->verify = get_bool(l, s, "verify", sn->trigger >= 0);
    check_small_block(l, s, "trigger", sn->trigger);
    check_small_block(l, s, "count", sn->count);
    if (sn->verify && sn->trigger < 0) {
        err(l, line_of(l, s, "verify"), "[snapshot]", "verify: needs a trigger to re-read");
    }
    static const char *const known[] = {"trigger", "count", "records", "verify", NULL};
    unknown_keys(l, s, known);
}

static void load_latch(struct loader *l, struct section *s)
{
    struct sk_profile *p = l->p;
    struct sk_prof_latch *la = &p->latch;
    la->flag = ref_field(l, s, "flag", true);
    la->set = get_int(l, s, "set", 0, 0xffff, 1, false);
    la->records = ref_records(l, s, "records");
    la->ack = get(l, s, "ack") ? ref_field(l, s, "ack", false) : la->flag;
    la->ack_value = get_int(l, s, "ack_value", 0, 0xffff, 0, false);
    check_small_block(l, s, "flag", la->flag);
    if (la->ack >= 0) {
        const struct sk_prof_field *a = &p->fields[la->ack];
        const struct sk_prof_block *b = a->block >= 0 ? &p->blocks[a->block] : NULL;
        bool ok = b && ((b->table == SK_TABLE_COIL && a->type == SK_FT_BIT) ||
                        (b->table == SK_TABLE_HOLDING &&
                         (a->type == SK_FT_U16 || a->type == SK_FT_I16) && a->offset % 2 == 0));
        if (!ok) {
            err(l, line_of(l, s, "ack"), "[latch]",
                "ack: %s must be a coil or a whole holding register (written with FC05/FC06)",
                a->name);
        }
    }
    static const char *const known[] = {"flag", "set", "records", "ack", "ack_value", NULL};
    unknown_keys(l, s, known);
}

static void load_mailbox(struct loader *l, struct section *s)
{
    struct sk_profile *p = l->p;
    struct sk_prof_mailbox *m = &p->mailbox;
    const char *lbl = "[mailbox]";
    m->request = ref_block(l, s, "request", true);
    m->response = ref_block(l, s, "response", true);
    m->command = ref_field(l, s, "command", true);
    m->sequence = ref_field(l, s, "sequence", false);
    m->seq_mode = get_enum(l, s, "sequence_mode", seq_names,
                           m->sequence >= 0 ? SK_SEQ_COUNTER : SK_SEQ_NONE, false);
    m->echo = ref_field(l, s, "echo", true);
    m->echo_sequence = ref_field(l, s, "echo_sequence", false);
    m->busy = ref_field(l, s, "busy", false);
    m->error = ref_field(l, s, "error", false);
    m->wait_ms = (int)get_int(l, s, "wait_ms", 1, 10000, 500, false);
    m->poll_ms = (int)get_int(l, s, "poll_ms", 0, 1000, 10, false);
    m->records = ref_records(l, s, "records");
    m->count = ref_field(l, s, "count", false);
    m->length = ref_field(l, s, "length", false);
    m->more = ref_field(l, s, "more", false);
    m->more_above = get_int(l, s, "more_above", 0, 0xffff, 0, false);
    m->max_rounds = (int)get_int(l, s, "max_rounds", 1, 256, 16, false);
    m->gate = ref_field(l, s, "gate", false);
    if (m->request >= 0) {
        const struct sk_prof_block *b = &p->blocks[m->request];
        if (b->table != SK_TABLE_HOLDING) {
            err(l, line_of(l, s, "request"), lbl, "request: block %s must be holding registers",
                b->name);
        } else if (b->count > p->max_write_regs) {
            err(l, line_of(l, s, "request"), lbl,
                "request: block %s (%u registers) is larger than [link] max_write_regs (%d)",
                b->name, b->count, p->max_write_regs);
        }
    }
    if (m->command >= 0 && !in_block(p, m->command, m->request)) {
        err(l, line_of(l, s, "command"), lbl, "command: must be a field of the request block");
    } else if (m->command >= 0 && !p->fields[m->command].has_value) {
        err(l, line_of(l, s, "command"), lbl, "command: field %s needs value = THE COMMAND CODE",
            p->fields[m->command].name);
    }
    if (m->sequence >= 0 && !in_block(p, m->sequence, m->request)) {
        err(l, line_of(l, s, "sequence"), lbl, "sequence: must be a field of the request block");
    }
    if (m->seq_mode == SK_SEQ_TOGGLE && m->sequence >= 0 &&
        p->fields[m->sequence].type != SK_FT_BIT) {
        err(l, line_of(l, s, "sequence"), lbl, "sequence: a toggle is a field of type = bit");
    }
    if (m->seq_mode != SK_SEQ_NONE && m->sequence < 0) {
        err(l, line_of(l, s, "sequence_mode"), lbl, "sequence_mode: needs a sequence field");
    }

    const struct {
        const char *key;
        int f;
    } resp[] = {{"echo", m->echo},   {"echo_sequence", m->echo_sequence},
                {"busy", m->busy},   {"error", m->error},
                {"count", m->count}, {"length", m->length},
                {"more", m->more}};

    for (size_t i = 0; i < sizeof(resp) / sizeof(resp[0]); i++) {
        if (resp[i].f >= 0 && !in_block(p, resp[i].f, m->response)) {
            err(l, get(l, s, resp[i].key)->line, lbl, "%s: must be a field of the response block",
                resp[i].key);
        } else if (resp[i].f >= 0 && !is_number(p, resp[i].f)) {
            err(l, get(l, s, resp[i].key)->line, lbl, "%s: must be a number or a bit", resp[i].key);
        }
    }
    if (m->echo_sequence >= 0 && m->sequence < 0) {
        err(l, line_of(l, s, "echo_sequence"), lbl, "echo_sequence: needs a sequence field");
    }
    if (m->count >= 0 && m->length >= 0) {
        err(l, line_of(l, s, "length"), lbl, "length: give count or length, not both");
    }
    check_small_block(l, s, "gate", m->gate);
    if (m->response >= 0 && p->blocks[m->response].count > p->max_read_regs) {
        err(l, line_of(l, s, "response"), lbl,
            "response: block %s is read whole and is larger than max_read_regs",
            p->blocks[m->response].name);
    }
    static const char *const known[] = {
            "request",    "response",      "command", "sequence", "sequence_mode",
            "echo",       "echo_sequence", "busy",    "error",    "wait_ms",
            "poll_ms",    "records",       "count",   "length",   "more",
            "more_above", "max_rounds",    "gate",    NULL};
    unknown_keys(l, s, known);
}

static void interpret(struct loader *l)
{
    struct sk_profile *p = l->p;
    load_profile_section(l);
    load_link_section(l);
    load_codec_section(l);
    for (size_t i = 0; i < l->n_s; i++) {
        if (l->s[i].kind == S_BLOCK) {
            load_block(l, &l->s[i]);
        }
    }
    for (size_t i = 0; i < l->n_s; i++) {
        if (l->s[i].kind == S_RECORDS) {
            load_records_head(l, &l->s[i]);
        }
    }
    for (size_t i = 0; i < l->n_s; i++) {
        if (l->s[i].kind == S_FIELD) {
            load_field(l, &l->s[i]);
        }
    }
    for (size_t i = 0, fi = 0; i < l->n_s && fi < p->n_fields; i++) {
        if (l->s[i].kind == S_FIELD) {
            resolve_field_lengths(l, &l->s[i], &p->fields[fi++]);
        }
    }
    resolve_records(l);
    static const int kinds[] = {S_SNAPSHOT, S_LATCH, S_MAILBOX};
    for (int k = 0; k < 3; k++) {
        struct section *s = find_section(l, kinds[k]);
        if (!s) {
            continue;
        }
        if (k != p->pattern) {
            char lbl[80];
            section_label(s, lbl, sizeof(lbl));
            err(l, s->line, lbl, "section does not belong to pattern = %s",
                pattern_names[p->pattern]);
            continue;
        }
        if (k == 0) {
            load_snapshot(l, s);
        } else if (k == 1) {
            load_latch(l, s);
        } else {
            load_mailbox(l, s);
        }
    }
    struct section *ps = find_section(l, S_PROFILE);
    if (!find_section(l, kinds[p->pattern]) && ps) {
        struct entry *pe = get(l, ps, "pattern");
        err(l, pe ? pe->line : ps->line, "[profile]", "pattern = %s needs a [%s] section",
            pattern_names[p->pattern], pattern_names[p->pattern]);
    }
}

/* ---- entry points ----------------------------------------------------------------------- */

/* Parses text[0..n) (text[n] is writable: the parser cuts lines in place). */
static int
profile_parse(const char *path, char *text, size_t n, struct sk_diag *diag, struct sk_profile **ret)
{
    struct loader *l = calloc(1, sizeof(*l));
    struct sk_profile *p = calloc(1, sizeof(*p));
    struct entry *entries = calloc(MAX_ENTRIES, sizeof(*entries));
    if (!l || !p || !entries) {
        free(l);
        free(p);
        free(entries);
        return -ENOMEM;
    }
    text[n] = '\0';
    l->path = path;
    l->diag = diag;
    l->e = entries;
    l->p = p;
    snprintf(p->path, sizeof(p->path), "%s", path);
    if (memchr(text, '\0', n)) {
        err(l, 1, "syntax", "the file contains NUL bytes (not a text file)");
    } else {
        parse_text(l, text);
        interpret(l);
    }
    flush_problems(l);
    int r = l->errors ? SK_EPROFILE : 0;
    free(entries);
    free(l);
    if (r < 0) {
        free(p);
        return r;
    }
    *ret = p;
    return 0;
}

int sk_profile_load(const char *path, struct sk_diag *diag, struct sk_profile **ret)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        sk_diag_add(diag, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && st.st_size > SK_PROF_MAX_BYTES) {
        sk_diag_add(diag, "%s: %lld bytes; a profile may have at most %d", path,
                    (long long)st.st_size, SK_PROF_MAX_BYTES);
        fclose(f);
        return SK_EPROFILE;
    }
    char *text;
    size_t n;
    int r = sk_read_bounded(f, SK_PROF_MAX_BYTES, &text, &n);
    if (r < 0) {
        if (r != -ENOMEM) {
            sk_diag_add(diag, "%s: cannot read: %s", path, strerror(-r));
        }
        return r;
    }
    if (n > SK_PROF_MAX_BYTES) {
        sk_diag_add(diag, "%s: larger than %d bytes", path, SK_PROF_MAX_BYTES);
        r = SK_EPROFILE;
    } else {
        r = profile_parse(path, text, n, diag, ret);
    }
    free(text);
    return r;
}

int sk_profile_load_text(const char *name,
                         const char *text,
                         size_t len,
                         struct sk_diag *diag,
                         struct sk_profile **ret)
{
    if (!name || !text) {
        return -EINVAL;
    }
    if (len > SK_PROF_MAX_BYTES) {
        sk_diag_add(diag, "%s: %zu bytes; a profile may have at most %d", name, len,
                    SK_PROF_MAX_BYTES);
        return SK_EPROFILE;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        return -ENOMEM;
    }
    memcpy(copy, text, len);
    int r = profile_parse(name, copy, len, diag, ret);
    free(copy);
    return r;
}

void sk_profile_free(struct sk_profile *p)
{
    free(p);
}

int sk_profile_load_print(const char *who,
                          const char *name,
                          const char *extra_dir,
                          struct sk_profile **ret)
{
    char path[SK_PATH_MAX * 3];
    int r = sk_profile_find(name, extra_dir, path, sizeof(path));
    if (r < 0) {
        fprintf(stderr, "%s: no profile \"%s\" (looked for %s)\n", who, name, path);
        return r;
    }
    struct sk_diag d;
    sk_diag_init(&d);
    r = sk_profile_load(path, &d, ret);
    sk_diag_print(&d, stderr);
    sk_diag_free(&d);
    return r;
}

int sk_profile_find(const char *name, const char *extra_dir, char *buf, size_t size)
{
    if (strchr(name, '/')) {
        snprintf(buf, size, "%s", name);
        return access(name, R_OK) == 0 ? 0 : -ENOENT;
    }
    char cand[2][SK_PATH_MAX * 2];
    size_t n = 0;
    if (extra_dir && extra_dir[0]) {
        snprintf(cand[n++], sizeof(cand[0]), "%s/%s%s", extra_dir, name, SK_PROF_EXT);
    }
    const char *data = sk_data_dir();
    if (data) {
        snprintf(cand[n++], sizeof(cand[0]), "%s/profiles/%s%s", data, name, SK_PROF_EXT);
    }
    for (size_t i = 0; i < n; i++) {
        if (access(cand[i], R_OK) == 0) {
            snprintf(buf, size, "%s", cand[i]);
            return 0;
        }
    }
    if (n == 0) {
        snprintf(buf, size, "no profile directory found (set STOREKEEPER_DATADIR)");
    } else if (n == 1) {
        snprintf(buf, size, "%s", cand[0]);
    } else {
        snprintf(buf, size, "%s, %s", cand[0], cand[1]);
    }
    return -ENOENT;
}

const char *sk_prof_table_name(int table)
{
    return table >= 0 && table <= SK_TABLE_DISCRETE ? table_names[table] : "unknown";
}

const char *sk_prof_pattern_name(int pattern)
{
    return pattern >= 0 && pattern <= SK_PATTERN_MAILBOX ? pattern_names[pattern] : "unknown";
}

const char *sk_prof_status_name(int status)
{
    return status >= 0 && status <= SK_PROF_TEST ? status_names[status] : "unknown";
}

/* ---- codec ------------------------------------------------------------------------------ */

size_t sk_prof_block_bytes(const struct sk_prof_block *b)
{
    bool bits = b->table == SK_TABLE_COIL || b->table == SK_TABLE_DISCRETE;
    return bits ? b->count : 2u * b->count;
}

void sk_prof_regs_to_bytes(int byte_order, const uint16_t *regs, size_t n, uint8_t *bytes)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t hi = (uint8_t)(regs[i] >> 8), lo = (uint8_t)regs[i];
        bytes[2 * i] = byte_order == SK_ORDER_BA ? lo : hi;
        bytes[2 * i + 1] = byte_order == SK_ORDER_BA ? hi : lo;
    }
}

void sk_prof_bytes_to_regs(int byte_order, const uint8_t *bytes, size_t n, uint16_t *regs)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t a = bytes[2 * i], b = bytes[2 * i + 1];
        regs[i] = byte_order == SK_ORDER_BA ? (uint16_t)(b << 8 | a) : (uint16_t)(a << 8 | b);
    }
}

/* The byte positions of a 2- or 4-byte value in stream order, most significant first. */
static void order_positions(int order, int size, int pos[4])
{
    static const int ab[2] = {0, 1}, ba[2] = {1, 0};
    static const int abcd[4] = {0, 1, 2, 3}, cdab[4] = {2, 3, 0, 1}, badc[4] = {1, 0, 3, 2},
                     dcba[4] = {3, 2, 1, 0};
    const int *src = size == 2                ? (order == SK_ORDER_BA ? ba : ab)
                     : order == SK_ORDER_CDAB ? cdab
                     : order == SK_ORDER_BADC ? badc
                     : order == SK_ORDER_DCBA ? dcba
                                              : abcd;
    for (int i = 0; i < size; i++) {
        pos[i] = src[i];
    }
}

static int field_start(const struct sk_prof_field *f, size_t len, int size, size_t *ret)
{
    long start = f->offset < 0 ? (long)len + f->offset : f->offset;
    if (start < 0 || (size_t)start + (size_t)size > len) {
        return -ERANGE;
    }
    *ret = (size_t)start;
    return 0;
}

static int owner_byte_order(const struct sk_profile *p, const struct sk_prof_field *f)
{
    if (f->block >= 0) {
        return p->blocks[f->block].byte_order;
    }
    if (f->records >= 0 && p->records[f->records].block >= 0) {
        return p->blocks[p->records[f->records].block].byte_order;
    }
    return SK_ORDER_AB;
}

static bool in_bit_table(const struct sk_profile *p, const struct sk_prof_field *f)
{
    return f->block >= 0 && (p->blocks[f->block].table == SK_TABLE_COIL ||
                             p->blocks[f->block].table == SK_TABLE_DISCRETE);
}

int sk_prof_get_int(const struct sk_profile *p,
                    const struct sk_prof_field *f,
                    const uint8_t *bytes,
                    size_t len,
                    int64_t *ret_value)
{
    if (f->type == SK_FT_BIT && in_bit_table(p, f)) {
        if (f->offset < 0 || (size_t)f->offset >= len) {
            return -ERANGE;
        }
        *ret_value = bytes[f->offset] ? 1 : 0;
        return 0;
    }
    int size = field_size(f);
    if (f->type == SK_FT_BYTES || size == 0) {
        return -EINVAL;
    }
    size_t start;
    if (field_start(f, len, size, &start) < 0) {
        return -ERANGE;
    }
    const uint8_t *b = bytes + start;
    int64_t v;
    if (f->type == SK_FT_BIT) {
        /* a bit of the register as the device holds it, whatever the block's byte order */
        uint16_t reg;
        sk_prof_bytes_to_regs(owner_byte_order(p, f), b, 1, &reg);
        v = (reg >> f->bit) & 1u;
    } else if (size == 1) {
        v = f->type == SK_FT_I8 ? (int8_t)b[0] : b[0];
    } else {
        int pos[4];
        order_positions(f->order, size, pos);
        uint32_t u = 0;
        for (int i = 0; i < size; i++) {
            u = u << 8 | b[pos[i]];
        }
        if (f->mask) {
            u &= f->mask;
        }
        v = f->type == SK_FT_I16   ? (int64_t)(int16_t)u
            : f->type == SK_FT_I32 ? (int64_t)(int32_t)u
                                   : (int64_t)u;
        *ret_value = v;
        return 0;
    }
    if (f->mask) {
        v &= f->mask;
    }
    *ret_value = v;
    return 0;
}

int sk_prof_put_int(const struct sk_profile *p,
                    const struct sk_prof_field *f,
                    uint8_t *bytes,
                    size_t len,
                    int64_t value)
{
    if (f->type == SK_FT_BIT && in_bit_table(p, f)) {
        if (f->offset < 0 || (size_t)f->offset >= len) {
            return -ERANGE;
        }
        bytes[f->offset] = value ? 1 : 0;
        return 0;
    }
    int size = field_size(f);
    if (f->type == SK_FT_BYTES || size == 0) {
        return -EINVAL;
    }
    size_t start;
    if (field_start(f, len, size, &start) < 0) {
        return -ERANGE;
    }
    uint8_t *b = bytes + start;
    if (f->type == SK_FT_BIT) {
        int bo = owner_byte_order(p, f);
        uint16_t reg;
        sk_prof_bytes_to_regs(bo, b, 1, &reg);
        reg = value ? (uint16_t)(reg | 1u << f->bit) : (uint16_t)(reg & ~(1u << f->bit));
        sk_prof_regs_to_bytes(bo, &reg, 1, b);
        return 0;
    }
    if (size == 1) {
        b[0] = (uint8_t)value;
        return 0;
    }
    int pos[4];
    order_positions(f->order, size, pos);
    uint32_t u = (uint32_t)value;
    if (f->mask) {
        /* keep the bits outside the mask as they are (flags sharing the register) */
        uint32_t old = 0;
        for (int i = 0; i < size; i++) {
            old = old << 8 | b[pos[i]];
        }
        u = (old & ~f->mask) | (u & f->mask);
    }
    for (int i = size - 1; i >= 0; i--) {
        b[pos[i]] = (uint8_t)u;
        u >>= 8;
    }
    return 0;
}

int16_t sk_prof_rssi_cdbm(const struct sk_prof_field *f, int64_t raw)
{
    if ((f->type == SK_FT_I16 && raw == INT16_MIN) || (f->type == SK_FT_I8 && raw == INT8_MIN)) {
        return INT16_MIN; /* the type's minimum: the reader did not measure it */
    }
    int64_t v = f->rssi_unit == SK_RSSI_DBM    ? raw * 100
                : f->rssi_unit == SK_RSSI_DDBM ? raw * 10
                                               : raw;
    if (v < INT16_MIN + 1) {
        v = INT16_MIN + 1; /* INT16_MIN itself means "no RSSI" */
    }
    if (v > INT16_MAX) {
        v = INT16_MAX;
    }
    return (int16_t)v;
}

int64_t sk_prof_rssi_raw(const struct sk_prof_field *f, int16_t cdbm)
{
    return f->rssi_unit == SK_RSSI_DBM    ? cdbm / 100
           : f->rssi_unit == SK_RSSI_DDBM ? cdbm / 10
                                          : cdbm;
}
