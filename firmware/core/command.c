/* SPDX-License-Identifier: MIT */
/* Cloud command parsing: size limits, cJSON, strict field validation with precise errors. */
#include "storekeeper/command.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "storekeeper/currency.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"

/*
 * DESIGN
 * Every command payload is a JSON object whose fields are checked strictly: unknown fields
 * are errors (a typo such as "expire_s" must not silently fall back to a default), every
 * string has a length limit and a character set, every number a range, and the first problem
 * is reported with the JSON path of the field. Checks run in a fixed order (size, JSON, object,
 * common fields, the command's own fields) so the same payload always yields the same error.
 */

static const char *const kind_names[SK_CMD_KIND_COUNT] = {
        [SK_CMD_NONE] = NULL,
        [SK_CMD_PING] = "ping",
        [SK_CMD_DIAG] = "diag",
        [SK_CMD_REBIRTH] = "rebirth",
        [SK_CMD_CATALOG_UPSERT] = "catalog_upsert",
        [SK_CMD_SESSION_BIND] = "session_bind",
        [SK_CMD_RESTOCK_DONE] = "restock_done",
        [SK_CMD_CONFIG_RELOAD] = "config_reload",
        [SK_CMD_OUTBOX_RESEND] = "outbox_resend",
};

static const char *const diag_names[] = {"ping", "mqtt", "core", "health", "ledger"};

const char *sk_cmd_name(enum sk_cmd_kind kind)
{
    return kind > SK_CMD_NONE && kind < SK_CMD_KIND_COUNT ? kind_names[kind] : NULL;
}

const char *sk_cmd_names(void)
{
    return "ping, diag, rebirth, catalog_upsert, session_bind, restock_done, config_reload, "
           "outbox_resend";
}

enum sk_cmd_kind sk_cmd_kind_from_name(const char *name)
{
    for (int k = SK_CMD_NONE + 1; k < SK_CMD_KIND_COUNT; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            return (enum sk_cmd_kind)k;
        }
    }
    return SK_CMD_NONE;
}

const char *sk_cmd_diag_test_name(enum sk_cmd_diag_test test)
{
    return (unsigned)test < sizeof(diag_names) / sizeof(diag_names[0]) ? diag_names[test]
                                                                       : "unknown";
}

const char *sk_cmd_error_name(enum sk_cmd_error_code code)
{
    static const char *const names[] = {
            [SK_CMD_ERR_NONE] = "none",           [SK_CMD_ERR_MALFORMED] = "malformed_json",
            [SK_CMD_ERR_TOO_LARGE] = "too_large", [SK_CMD_ERR_UNKNOWN] = "unknown_command",
            [SK_CMD_ERR_INVALID] = "invalid",     [SK_CMD_ERR_FORBIDDEN] = "forbidden",
            [SK_CMD_ERR_BUSY] = "busy",           [SK_CMD_ERR_UNAVAILABLE] = "unavailable",
            [SK_CMD_ERR_FAILED] = "failed",       [SK_CMD_ERR_TIMEOUT] = "timeout",
    };
    return (unsigned)code < sizeof(names) / sizeof(names[0]) ? names[code] : "failed";
}

const char *sk_cmd_status_name(enum sk_cmd_status status)
{
    switch (status) {
    case SK_CMD_DONE:
        return "done";
    case SK_CMD_QUEUED:
        return "queued";
    default:
        return "error";
    }
}

bool sk_cmd_changes_state(enum sk_cmd_kind kind)
{
    return kind == SK_CMD_CATALOG_UPSERT || kind == SK_CMD_SESSION_BIND ||
           kind == SK_CMD_RESTOCK_DONE || kind == SK_CMD_CONFIG_RELOAD ||
           kind == SK_CMD_OUTBOX_RESEND;
}

static bool valid_utf8(const unsigned char *s);

/* Drops the bytes of s that are not part of a valid UTF-8 sequence, in place. Messages embed
 * input cut to a length ("%.40s") and are cut to their buffer: a cut can split a character,
 * and a reply must stay valid UTF-8 (JSON) or a strict consumer drops all of it. */
static void utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str, *out = s;
    while (*s) {
        size_t n = *s < 0x80             ? 1
                   : (*s & 0xE0) == 0xC0 ? 2
                   : (*s & 0xF0) == 0xE0 ? 3
                   : (*s & 0xF8) == 0xF0 ? 4
                                         : 0;
        unsigned char seq[5] = {0};
        size_t i = 0;
        while (i < n && s[i]) {
            seq[i] = s[i];
            i++;
        }
        if (n > 0 && i == n && valid_utf8(seq)) {
            memmove(out, s, n);
            out += n;
            s += n;
        } else {
            s++; /* a stray byte: drop it, resynchronise on the next */
        }
    }
    *out = '\0';
}

int sk_cmd_fail(struct sk_cmd_error *err,
                enum sk_cmd_error_code code,
                const char *field,
                const char *fmt,
                ...)
{
    err->code = code;
    snprintf(err->field, sizeof(err->field), "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    utf8_scrub(err->field);
    utf8_scrub(err->message);
    return SK_EMQTT_COMMAND;
}

void sk_cmd_clear(struct sk_cmd *cmd)
{
    if (!cmd) {
        return;
    }
    if (cmd->kind == SK_CMD_CATALOG_UPSERT) {
        free(cmd->u.catalog.products);
    }
    memset(cmd, 0, sizeof(*cmd));
}

/* ---- field helpers ---------------------------------------------------------------------- */

enum charset {
    CS_ID,    /* letters, digits, '-', '_', '.', ':' (ids, names) */
    CS_SKU,   /* letters, digits, '-', '_', '.' (the ledger's skus) */
    CS_TOKEN, /* printable ASCII without spaces or quotes (opaque tokens) */
    CS_TEXT,  /* any valid UTF-8 without control characters */
    CS_DIGITS,
    CS_UPPER,
};

static bool valid_utf8(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        int extra;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        s++;
        for (int i = 0; i < extra; i++, s++) {
            if ((*s & 0xC0) != 0x80) {
                return false;
            }
            c = (c << 6) | (*s & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return false;
        }
    }
    return true;
}

/* Offset of the first byte of payload[0..len) that is not valid UTF-8 (a NUL byte counts as
 * invalid: JSON text has none), or len. */
static size_t utf8_invalid_at(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c == 0) {
            return i;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t extra = (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 0;
        if (extra == 0 || i + extra >= len) { /* bad lead byte, or cut off at the end */
            return i;
        }
        char tmp[5] = {0};
        memcpy(tmp, p + i, extra + 1);
        if (!valid_utf8((const unsigned char *)tmp)) {
            return i;
        }
        i += extra + 1;
    }
    return len;
}

static const char *charset_problem(const char *v, enum charset cs)
{
    if (cs == CS_TEXT) {
        if (!valid_utf8((const unsigned char *)v)) {
            return "is not valid UTF-8";
        }
        for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
            if (*p < 0x20 || *p == 0x7F) {
                return "contains control characters";
            }
        }
        return NULL;
    }
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        bool ok;
        switch (cs) {
        case CS_ID:
            ok = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == ':';
            break;
        case CS_SKU:
            ok = isalnum(*p) || *p == '-' || *p == '_' || *p == '.';
            break;
        case CS_TOKEN:
            ok = *p > 0x20 && *p < 0x7F && *p != '"' && *p != '\\';
            break;
        case CS_DIGITS:
            ok = isdigit(*p);
            break;
        default:
            ok = isupper(*p);
            break;
        }
        if (!ok) {
            switch (cs) {
            case CS_ID:
                return "may only contain letters, digits, '-', '_', '.' and ':'";
            case CS_SKU:
                return "may only contain letters, digits, '-', '_' and '.'";
            case CS_TOKEN:
                return "may only contain printable ASCII without spaces, quotes or backslashes";
            case CS_DIGITS:
                return "may only contain digits";
            default:
                return "must be upper-case letters";
            }
        }
    }
    return NULL;
}

struct ctx {
    struct sk_cmd_error *err;
    const char *prefix; /* "products[3]." or "" */
};

static void path(const struct ctx *c, const char *key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", c->prefix, key);
}

/* The member key of obj, with its path in p for messages; NULL when absent or null, with
 * *ret the error when it is required, else 0. */
static const cJSON *field(const struct ctx *c,
                          const cJSON *obj,
                          const char *key,
                          bool required,
                          char *p,
                          size_t p_size,
                          int *ret)
{
    path(c, key, p, p_size);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) {
        *ret = required ? sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s is required", p) : 0;
        return NULL;
    }
    return v;
}

/* Copies a string field. Returns 1 when present, 0 when absent (and !required), <0 error. */
static int get_string(const struct ctx *c,
                      const cJSON *obj,
                      const char *key,
                      bool required,
                      size_t min_len,
                      char *out,
                      size_t out_size,
                      enum charset cs)
{
    char p[64];
    int r = 0;
    const cJSON *v = field(c, obj, key, required, p, sizeof(p), &r);
    if (!v) {
        return r;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must be a string", p);
    }
    size_t len = strlen(v->valuestring);
    if (len < min_len) {
        if (min_len == 1) {
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must not be empty", p);
        }
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must have at least %zu characters", p,
                           min_len);
    }
    if (len >= out_size) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s is %zu bytes long; at most %zu", p,
                           len, out_size - 1);
    }
    const char *problem = charset_problem(v->valuestring, cs);
    if (problem) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s %s", p, problem);
    }
    memcpy(out, v->valuestring, len + 1);
    return 1;
}

/* An integer field in [min, max]. Returns 1 present, 0 absent, <0 error. */
static int get_int(const struct ctx *c,
                   const cJSON *obj,
                   const char *key,
                   bool required,
                   int64_t min,
                   int64_t max,
                   int64_t *out)
{
    char p[64];
    int r = 0;
    const cJSON *v = field(c, obj, key, required, p, sizeof(p), &r);
    if (!v) {
        return r;
    }
    if (!cJSON_IsNumber(v)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must be an integer", p);
    }
    double d = v->valuedouble;
    if (d != d || d < (double)min || d > (double)max) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s is out of range %lld..%lld", p,
                           (long long)min, (long long)max);
    }
    if (d != (double)(int64_t)d) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must be an integer", p);
    }
    *out = (int64_t)d;
    return 1;
}

static int get_bool(const struct ctx *c, const cJSON *obj, const char *key, int *out)
{
    char p[64];
    int r = 0;
    const cJSON *v = field(c, obj, key, false, p, sizeof(p), &r);
    if (!v) {
        return r;
    }
    if (!cJSON_IsBool(v)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p, "%s must be true or false", p);
    }
    *out = cJSON_IsTrue(v) ? 1 : 0;
    return 1;
}

/* Rejects members not in allowed (NULL-terminated). */
static int only_fields(const struct ctx *c, const cJSON *obj, const char *const *allowed)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, obj)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) {
            ok = m->string && strcmp(m->string, *a) == 0;
        }
        if (!ok) {
            char p[64];
            path(c, m->string ? m->string : "?", p, sizeof(p));
            char list[160] = "";
            size_t used = 0;
            for (const char *const *a = allowed; *a; a++) {
                int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *a);
                if (n < 0 || (size_t)n >= sizeof(list) - used) {
                    break;
                }
                used += (size_t)n;
            }
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, p,
                               "unknown field \"%.40s\"; this command takes: %s", p, list);
        }
    }
    return 0;
}

/* ---- commands --------------------------------------------------------------------------- */

#define COMMON "request_id", "identity"

static int parse_diag(const struct ctx *c, const cJSON *o, struct sk_cmd *cmd)
{
    static const char *const fields[] = {COMMON, "test", NULL};
    int r = only_fields(c, o, fields);
    char test[16] = "ping";
    if (r < 0 || (r = get_string(c, o, "test", false, 1, test, sizeof(test), CS_ID)) < 0) {
        return r;
    }
    for (size_t i = 0; i < sizeof(diag_names) / sizeof(diag_names[0]); i++) {
        if (strcmp(test, diag_names[i]) == 0) {
            cmd->u.diag.test = (enum sk_cmd_diag_test)i;
            return 0;
        }
    }
    return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "test",
                       "test \"%s\" does not exist; one of: ping, mqtt, core, health, ledger",
                       test);
}

static int parse_product(const struct ctx *c, const cJSON *o, struct sk_cmd_product *p)
{
    static const char *const fields[] = {
            "sku", "name", "price_minor", "currency", "gtin", "restock_threshold", "restock_target",
            NULL};
    if (!cJSON_IsObject(o)) {
        char f[64];
        snprintf(f, sizeof(f), "%.*s", (int)strlen(c->prefix) - 1, c->prefix);
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s must be an object", f);
    }
    int r = only_fields(c, o, fields);
    int64_t v = 0;
    p->price_minor = -1;
    p->restock_threshold = p->restock_target = -1;
    if (r < 0 || (r = get_string(c, o, "sku", true, 1, p->sku, sizeof(p->sku), CS_SKU)) < 0 ||
        (r = get_string(c, o, "name", true, 1, p->name, sizeof(p->name), CS_TEXT)) < 0 ||
        (r = get_string(c, o, "currency", false, 3, p->currency, sizeof(p->currency), CS_UPPER)) <
                0 ||
        (r = get_string(c, o, "gtin", false, 8, p->gtin, sizeof(p->gtin), CS_DIGITS)) < 0) {
        return r;
    }
    size_t gl = strlen(p->gtin);
    char f[64];
    if (p->currency[0] && !sk_currency_known(p->currency)) {
        path(c, "currency", f, sizeof(f));
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f,
                           "%s \"%s\" is not an ISO 4217 currency code in use (like EUR)", f,
                           p->currency);
    }
    if (gl && gl != 8 && gl != 12 && gl != 13 && gl != 14) {
        path(c, "gtin", f, sizeof(f));
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s must have 8, 12, 13 or 14 digits", f);
    }
    if (gl) {
        /* The check digit of the GTIN-14 it becomes (leading zeros change nothing). */
        char d13[14];
        memset(d13, '0', 13);
        memcpy(d13 + 13 - (gl - 1), p->gtin, gl - 1);
        d13[13] = '\0';
        int want = sk_gtin_check_digit(d13);
        if (want != p->gtin[gl - 1] - '0') {
            path(c, "gtin", f, sizeof(f));
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f,
                               "%s \"%s\": the check digit should be %d", f, p->gtin, want);
        }
    }
    if ((r = get_int(c, o, "price_minor", false, 0, 1000000000, &v)) < 0) {
        return r;
    }
    if (r == 1) {
        p->price_minor = v;
    }
    if ((p->price_minor >= 0) != (p->currency[0] != 0)) {
        path(c, p->currency[0] ? "price_minor" : "currency", f, sizeof(f));
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f,
                           "price_minor and currency go together: give both or neither");
    }
    if ((r = get_int(c, o, "restock_threshold", false, 0, 1000000, &v)) < 0) {
        return r;
    }
    p->restock_threshold = r == 1 ? (int)v : -1;
    if ((r = get_int(c, o, "restock_target", false, 0, 1000000, &v)) < 0) {
        return r;
    }
    p->restock_target = r == 1 ? (int)v : -1;
    if (p->restock_threshold >= 0 && p->restock_target >= 0 &&
        p->restock_threshold > p->restock_target) {
        path(c, "restock_threshold", f, sizeof(f));
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s (%d) is above restock_target (%d)", f,
                           p->restock_threshold, p->restock_target);
    }
    return 0;
}

static int parse_catalog(const struct ctx *c, const cJSON *o, struct sk_cmd *cmd)
{
    static const char *const fields[] = {COMMON, "products", NULL};
    int r = only_fields(c, o, fields);
    if (r < 0) {
        return r;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "products");
    if (!arr) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "products", "products is required");
    }
    if (!cJSON_IsArray(arr)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "products",
                           "products must be an array of objects");
    }
    int n = cJSON_GetArraySize(arr);
    if (n < 1 || n > SK_CMD_PRODUCTS) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "products",
                           "products has %d entries; 1..%d per command", n, SK_CMD_PRODUCTS);
    }
    struct sk_cmd_product *ps = calloc((size_t)n, sizeof(*ps));
    if (!ps) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_FAILED, NULL, "out of memory");
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        char prefix[24];
        snprintf(prefix, sizeof(prefix), "products[%d].", i);
        struct ctx pc = {c->err, prefix};
        if ((r = parse_product(&pc, e, &ps[i])) < 0) {
            free(ps);
            return r;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(ps[j].sku, ps[i].sku) == 0) {
                char f[64];
                snprintf(f, sizeof(f), "products[%d].sku", i);
                sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s \"%s\" repeats products[%d]", f,
                            ps[i].sku, j);
                free(ps);
                return SK_EMQTT_COMMAND;
            }
        }
        i++;
    }
    cmd->u.catalog.products = ps;
    cmd->u.catalog.n = (size_t)n;
    return 0;
}

static int parse_bind(const struct ctx *c, const cJSON *o, struct sk_cmd *cmd)
{
    static const char *const fields[] = {COMMON,      "account_token", "session_id", "next_entry",
                                         "expires_s", "persons",       NULL};
    int r = only_fields(c, o, fields);
    int next = 0;
    int64_t exp = 300, persons = 1;
    if (r < 0 ||
        (r = get_string(c, o, "account_token", true, 8, cmd->u.bind.token,
                        sizeof(cmd->u.bind.token), CS_TOKEN)) < 0 ||
        (r = get_string(c, o, "session_id", false, 1, cmd->u.bind.session_id,
                        sizeof(cmd->u.bind.session_id), CS_ID)) < 0 ||
        (r = get_bool(c, o, "next_entry", &next)) < 0 ||
        (r = get_int(c, o, "expires_s", false, 10, 3600, &exp)) < 0 ||
        (r = get_int(c, o, "persons", false, 1, SK_CMD_PARTY_MAX, &persons)) < 0) {
        return r;
    }
    bool has_session = cmd->u.bind.session_id[0] != 0;
    if (has_session == (next == 1)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, has_session ? "next_entry" : "session_id",
                           "give exactly one target: session_id, or next_entry: true");
    }
    if (has_session && persons != 1) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "persons",
                           "persons is for next_entry: a session is one shopper");
    }
    cmd->u.bind.next_entry = next == 1;
    cmd->u.bind.expires_s = (int)exp;
    cmd->u.bind.persons = (int)persons;
    return 0;
}

static int
parse_restock(const struct ctx *c, const cJSON *o, const struct sk_config *cfg, struct sk_cmd *cmd)
{
    static const char *const fields[] = {COMMON, "shelves", "all", "restock_id", NULL};
    int r = only_fields(c, o, fields);
    int all = 0;
    if (r < 0 || (r = get_bool(c, o, "all", &all)) < 0 ||
        (r = get_string(c, o, "restock_id", false, 1, cmd->u.restock.restock_id,
                        sizeof(cmd->u.restock.restock_id), CS_ID)) < 0) {
        return r;
    }
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "shelves");
    if (arr && !cJSON_IsArray(arr)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "shelves",
                           "shelves must be an array of shelf names");
    }
    int n = arr ? cJSON_GetArraySize(arr) : 0;
    if ((n > 0) == (all == 1)) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, all == 1 ? "all" : "shelves",
                           "give exactly one of: shelves (a non-empty list), or all: true");
    }
    if (n > SK_CMD_SHELVES) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "shelves",
                           "shelves has %d entries; at most %d", n, SK_CMD_SHELVES);
    }
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        char f[32];
        snprintf(f, sizeof(f), "shelves[%d]", i);
        char *s = cmd->u.restock.shelves[i];
        if (!cJSON_IsString(e) || !e->valuestring || !e->valuestring[0]) {
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s must be a shelf name", f);
        }
        if (strlen(e->valuestring) >= SK_NAME_MAX) {
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s is longer than %d characters", f,
                               SK_NAME_MAX - 1);
        }
        bool known = cfg == NULL;
        for (size_t k = 0; cfg && k < cfg->n_shelves && !known; k++) {
            known = strcmp(cfg->shelves[k].name, e->valuestring) == 0;
        }
        if (!known) {
            return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f,
                               "%s: this store has no shelf named \"%s\"", f, e->valuestring);
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(cmd->u.restock.shelves[j], e->valuestring) == 0) {
                return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, f, "%s \"%s\" repeats shelves[%d]",
                                   f, e->valuestring, j);
            }
        }
        snprintf(s, SK_NAME_MAX, "%s", e->valuestring);
        i++;
    }
    cmd->u.restock.n_shelves = (size_t)n;
    cmd->u.restock.all = all == 1;
    return 0;
}

/* A range of seqs: both ends given, in order, no wider than mqtt.resend_max (cfg NULL: the
 * hard bound alone). The core checks them against the outbox. */
static int
parse_resend(const struct ctx *c, const cJSON *o, const struct sk_config *cfg, struct sk_cmd *cmd)
{
    static const char *const fields[] = {COMMON, "from_seq", "to_seq", "ledger_id", NULL};
    int r = only_fields(c, o, fields);
    int64_t from = 0, to = 0;
    if (r < 0 || (r = get_int(c, o, "from_seq", true, 1, INT64_C(1) << 53, &from)) < 0 ||
        (r = get_int(c, o, "to_seq", true, 1, INT64_C(1) << 53, &to)) < 0 ||
        (r = get_string(c, o, "ledger_id", false, 1, cmd->u.resend.ledger_id,
                        sizeof(cmd->u.resend.ledger_id), CS_ID)) < 0) {
        return r;
    }
    if (to < from) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "to_seq",
                           "to_seq (%lld) is below from_seq (%lld)", (long long)to,
                           (long long)from);
    }
    int64_t max = cfg && cfg->mqtt.resend_max > 0 ? cfg->mqtt.resend_max : SK_CMD_RESEND_MAX;
    int64_t count = to - from + 1;
    if (count > max) {
        return sk_cmd_fail(c->err, SK_CMD_ERR_INVALID, "to_seq",
                           "the range names %lld events; at most %lld per command "
                           "(mqtt.resend_max): ask in parts",
                           (long long)count, (long long)max);
    }
    cmd->u.resend.from_seq = from;
    cmd->u.resend.to_seq = to;
    return 0;
}

static int parse_empty(const struct ctx *c, const cJSON *o)
{
    static const char *const fields[] = {COMMON, NULL};
    return only_fields(c, o, fields);
}

/* Offset of the first \u0000 escape in JSON text, or -1. cJSON decodes it into a NUL that ends
 * the C string: "acct_1\u0000xyz" would be taken as "acct_1" without a word. */
static long escaped_nul_at(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] != '\\') {
            continue;
        }
        if (p[i + 1] == 'u' && i + 5 < len && p[i + 2] == '0' && p[i + 3] == '0' &&
            p[i + 4] == '0' && p[i + 5] == '0') {
            return (long)i;
        }
        i++; /* the escaped character, whatever it is (\\ included) */
    }
    return -1;
}

/* The first member name that repeats within one object, anywhere in the document: JSON
 * leaves duplicates undefined and cJSON keeps both, of which the checks would see the first
 * and a consumer perhaps the last. Returns true with the member's path in buf. */
static bool duplicate_key(const cJSON *o, const char *at, char *buf, size_t size)
{
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        char sub[128];
        if (cJSON_IsObject(o)) {
            for (const cJSON *b = a->next; b && a->string; b = b->next) {
                if (b->string && strcmp(a->string, b->string) == 0) {
                    snprintf(buf, size, "%s%s%.40s", at, at[0] ? "." : "", a->string);
                    return true;
                }
            }
            snprintf(sub, sizeof(sub), "%s%s%.40s", at, at[0] ? "." : "",
                     a->string ? a->string : "");
        } else {
            int i = 0;
            for (const cJSON *x = o->child; x && x != a; x = x->next) {
                i++;
            }
            snprintf(sub, sizeof(sub), "%s[%d]", at, i);
        }
        if ((cJSON_IsObject(a) || cJSON_IsArray(a)) && duplicate_key(a, sub, buf, size)) {
            return true;
        }
    }
    return false;
}

/* True when the text ends inside a string or with brackets still open: a truncated payload,
 * for which cJSON's error position (the start) would mislead. */
static bool unterminated(const char *p, size_t len)
{
    long depth = 0;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char ch = p[i];
        if (in_str) {
            if (esc) {
                esc = false;
            } else if (ch == '\\') {
                esc = true;
            } else if (ch == '"') {
                in_str = false;
            }
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return in_str || depth > 0;
}

int sk_cmd_parse(const char *name,
                 const char *payload,
                 size_t len,
                 size_t max_len,
                 const struct sk_config *cfg,
                 struct sk_cmd *ret_cmd,
                 struct sk_cmd_error *ret_err)
{
    memset(ret_cmd, 0, sizeof(*ret_cmd));
    memset(ret_err, 0, sizeof(*ret_err));
    enum sk_cmd_kind kind = sk_cmd_kind_from_name(name ? name : "");
    if (kind == SK_CMD_NONE) {
        return sk_cmd_fail(ret_err, SK_CMD_ERR_UNKNOWN, NULL,
                           "unknown command \"%.40s\"; known: %s", name ? name : "",
                           sk_cmd_names());
    }
    if (len > max_len) {
        return sk_cmd_fail(ret_err, SK_CMD_ERR_TOO_LARGE, NULL,
                           "payload is %zu bytes; mqtt.command_max_bytes allows %zu", len, max_len);
    }
    size_t bad = payload ? utf8_invalid_at((const unsigned char *)payload, len) : len;
    if (bad < len) {
        /* JSON is UTF-8 (RFC 8259); whatever is echoed in the reply must be too. */
        return sk_cmd_fail(ret_err, SK_CMD_ERR_MALFORMED, NULL,
                           "payload is not valid JSON: byte %zu of %zu is %s", bad, len,
                           payload[bad] ? "not valid UTF-8" : "a NUL byte");
    }
    if (!payload || len == 0) {
        /* An empty message is no JSON value at all; taking it as "{}" would run a ping (or
         * any command without required fields) for a publisher that meant something else. */
        return sk_cmd_fail(ret_err, SK_CMD_ERR_MALFORMED, NULL,
                           "payload is empty: send a JSON object, at least {}");
    }
    cJSON *root;
    {
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts(payload, len, &end, false);
        size_t at = 0;
        if (!root) {
            const char *gerr = cJSON_GetErrorPtr();
            if (gerr && gerr >= payload && gerr <= payload + len) {
                at = (size_t)(gerr - payload);
            }
        } else {
            /* Only white space may follow the value (cJSON stops after it). */
            at = end && end >= payload && end <= payload + len ? (size_t)(end - payload) : len;
            while (at < len && (payload[at] == ' ' || payload[at] == '\t' || payload[at] == '\n' ||
                                payload[at] == '\r')) {
                at++;
            }
            if (at < len) {
                cJSON_Delete(root);
                root = NULL;
            }
        }
        if (!root) {
            if (unterminated(payload, len)) {
                return sk_cmd_fail(ret_err, SK_CMD_ERR_MALFORMED, NULL,
                                   "payload is not valid JSON: it ends inside an object, array "
                                   "or string (%zu bytes; cut off?)",
                                   len);
            }
            return sk_cmd_fail(ret_err, SK_CMD_ERR_MALFORMED, NULL,
                               "payload is not valid JSON (error at byte %zu of %zu)", at, len);
        }
    }
    if (!root) {
        return sk_cmd_fail(ret_err, SK_CMD_ERR_FAILED, NULL, "out of memory");
    }
    int r = 0;
    char dup[128];
    long nul = payload ? escaped_nul_at(payload, len) : -1;
    if (!cJSON_IsObject(root)) {
        r = sk_cmd_fail(ret_err, SK_CMD_ERR_MALFORMED, NULL, "payload must be a JSON object");
        goto out;
    }
    if (nul >= 0) {
        r = sk_cmd_fail(ret_err, SK_CMD_ERR_INVALID, NULL,
                        "a string holds \\u0000 (at byte %ld): no field may contain a NUL "
                        "character",
                        nul);
        goto out;
    }
    if (duplicate_key(root, "", dup, sizeof(dup))) {
        r = sk_cmd_fail(ret_err, SK_CMD_ERR_INVALID, dup, "%s appears twice in its object", dup);
        goto out;
    }
    struct ctx c = {ret_err, ""};
    ret_cmd->kind = kind;
    if ((r = get_string(&c, root, "request_id", false, 1, ret_cmd->request_id,
                        sizeof(ret_cmd->request_id), CS_TOKEN)) < 0 ||
        (r = get_string(&c, root, "identity", false, 1, ret_cmd->identity,
                        sizeof(ret_cmd->identity), CS_ID)) < 0) {
        goto out;
    }
    switch (kind) {
    case SK_CMD_DIAG:
        r = parse_diag(&c, root, ret_cmd);
        break;
    case SK_CMD_CATALOG_UPSERT:
        r = parse_catalog(&c, root, ret_cmd);
        break;
    case SK_CMD_SESSION_BIND:
        r = parse_bind(&c, root, ret_cmd);
        break;
    case SK_CMD_RESTOCK_DONE:
        r = parse_restock(&c, root, cfg, ret_cmd);
        break;
    case SK_CMD_OUTBOX_RESEND:
        r = parse_resend(&c, root, cfg, ret_cmd);
        break;
    default:
        r = parse_empty(&c, root);
        break;
    }
out:
    cJSON_Delete(root);
    if (r < 0) {
        /* Keep the request id for the reply: the caller answers even invalid commands. */
        char rid[SK_CMD_ID_MAX];
        memcpy(rid, ret_cmd->request_id, sizeof(rid));
        ret_cmd->kind = kind; /* so sk_cmd_clear frees what this kind owns */
        sk_cmd_clear(ret_cmd);
        ret_cmd->kind = kind;
        memcpy(ret_cmd->request_id, rid, sizeof(rid));
        return SK_EMQTT_COMMAND;
    }
    return 0;
}

/* ---- outcomes and fingerprints ------------------------------------------------------------ */

static const enum sk_cmd_error_code all_codes[] = {
        SK_CMD_ERR_MALFORMED,   SK_CMD_ERR_TOO_LARGE, SK_CMD_ERR_UNKNOWN,
        SK_CMD_ERR_INVALID,     SK_CMD_ERR_FORBIDDEN, SK_CMD_ERR_BUSY,
        SK_CMD_ERR_UNAVAILABLE, SK_CMD_ERR_FAILED,    SK_CMD_ERR_TIMEOUT,
};

char *sk_cmd_result_to_json(const struct sk_cmd_result *r)
{
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "status", sk_cmd_status_name(r->status)) &&
              cJSON_AddStringToObject(o, "detail", r->detail) &&
              cJSON_AddNumberToObject(o, "count", (double)r->count) &&
              cJSON_AddNumberToObject(o, "expires_wall_us", (double)r->expires_wall_us);
    if (ok && r->missing >= 0) {
        ok = cJSON_AddNumberToObject(o, "missing", (double)r->missing) != NULL;
    }
    if (ok && r->status == SK_CMD_REJECTED) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        ok = e && cJSON_AddStringToObject(e, "code", sk_cmd_error_name(r->error.code)) &&
             cJSON_AddStringToObject(e, "field", r->error.field) &&
             cJSON_AddStringToObject(e, "message", r->error.message);
    }
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

static bool copy_str(const cJSON *o, const char *key, char *out, size_t size)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v) || strlen(v->valuestring) >= size) {
        return false;
    }
    memcpy(out, v->valuestring, strlen(v->valuestring) + 1);
    return true;
}

int sk_cmd_result_from_json(const char *text, struct sk_cmd_result *ret)
{
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    struct sk_cmd_result r;
    memset(&r, 0, sizeof(r));
    char status[16] = "";
    bool ok = cJSON_IsObject(o) && copy_str(o, "status", status, sizeof(status)) &&
              copy_str(o, "detail", r.detail, sizeof(r.detail));
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(o, "count");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(o, "expires_wall_us");
    ok = ok && cJSON_IsNumber(count) && cJSON_IsNumber(exp);
    if (ok) {
        r.count = (int64_t)count->valuedouble;
        r.expires_wall_us = (int64_t)exp->valuedouble;
        /* Absent in records written before outbox_resend existed. */
        const cJSON *missing = cJSON_GetObjectItemCaseSensitive(o, "missing");
        r.missing = cJSON_IsNumber(missing) ? (int64_t)missing->valuedouble : -1;
        if (strcmp(status, "done") == 0) {
            r.status = SK_CMD_DONE;
        } else if (strcmp(status, "queued") == 0) {
            r.status = SK_CMD_QUEUED;
        } else {
            r.status = SK_CMD_REJECTED;
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
            char code[32] = "";
            ok = cJSON_IsObject(e) && copy_str(e, "code", code, sizeof(code)) &&
                 copy_str(e, "field", r.error.field, sizeof(r.error.field)) &&
                 copy_str(e, "message", r.error.message, sizeof(r.error.message));
            r.error.code = SK_CMD_ERR_FAILED;
            for (size_t i = 0; ok && i < sizeof(all_codes) / sizeof(all_codes[0]); i++) {
                if (strcmp(code, sk_cmd_error_name(all_codes[i])) == 0) {
                    r.error.code = all_codes[i];
                }
            }
        }
    }
    cJSON_Delete(o);
    if (!ok) {
        return -EINVAL;
    }
    r.repeat = ret->repeat;
    r.first_wall_us = ret->first_wall_us;
    *ret = r;
    return 0;
}

/* Sorts an object's members by key, recursively (a stable insertion sort of the list). */
static void sort_keys(cJSON *item)
{
    if (!item) {
        return;
    }
    for (cJSON *c = item->child; c; c = c->next) {
        sort_keys(c);
    }
    if (!cJSON_IsObject(item) || !item->child) {
        return;
    }
    cJSON *sorted = NULL;
    cJSON *c = item->child;
    while (c) {
        cJSON *next = c->next;
        cJSON **at = &sorted;
        while (*at && strcmp((*at)->string, c->string) <= 0) {
            at = &(*at)->next;
        }
        c->next = *at;
        *at = c;
        c = next;
    }
    /* Rebuild the back links: cJSON keeps the last member in the first one's prev. */
    cJSON *prev = NULL;
    for (cJSON *x = sorted; x; x = x->next) {
        x->prev = prev;
        prev = x;
    }
    if (sorted) {
        sorted->prev = prev;
    }
    item->child = sorted;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t sk_cmd_fingerprint(const char *name, const char *payload, size_t len)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, name ? name : "", name ? strlen(name) + 1 : 1);
    cJSON *o = payload && len ? cJSON_ParseWithLength(payload, len) : NULL;
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return payload ? fnv1a(h, payload, len) : h;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "request_id");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "identity");
    sort_keys(o);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        return payload ? fnv1a(h, payload, len) : h;
    }
    h = fnv1a(h, text, strlen(text));
    cJSON_free(text);
    return h;
}
