/* SPDX-License-Identifier: MIT */
/* The ledger's catalog: products, tag mappings (explicit or by GTIN), shelves, planogram. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ledger_internal.h"
#include "storekeeper/currency.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"

bool ledger_sku_ok(const char *sku)
{
    size_t n = sku ? strlen(sku) : 0;
    if (n == 0 || n >= SK_LEDGER_SKU_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = sku[i];
        if (!isalnum((unsigned char)c) && c != '.' && c != '_' && c != '-') {
            return false;
        }
    }
    return true;
}

bool ledger_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= 64) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c == 0x7f) {
            return false;
        }
    }
    return true;
}

int ledger_step_done(struct sk_ledger *l, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? 0 : ledger_fail(l, rc, what);
}

int ledger_step_changes(struct sk_ledger *l, sqlite3_stmt *s, const char *what)
{
    int r = ledger_step_done(l, s, what);
    return r < 0 ? r : sqlite3_changes(l->db);
}

static bool digits(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int sk_ledger_product_put(struct sk_ledger *l, const struct sk_product *p)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!ledger_sku_ok(p->sku)) {
        return ledger_failf(l, -EINVAL, "product: bad sku \"%s\"", p->sku);
    }
    if (p->gtin[0] && (!digits(p->gtin, 14) || sk_gtin_check_digit(p->gtin) != p->gtin[13] - '0')) {
        return ledger_failf(l, -EINVAL, "product %s: \"%s\" is not a valid GTIN-14", p->sku,
                            p->gtin);
    }
    if (!sk_currency_known(p->currency)) {
        return ledger_failf(l, -EINVAL, "product %s: \"%s\" is not an ISO 4217 currency code",
                            p->sku, p->currency);
    }
    if (!p->name[0] || p->price_minor < 0 || p->restock_threshold < 0 || p->restock_target < 0) {
        return ledger_failf(l, -EINVAL,
                            "product %s: name, price, currency or restock levels "
                            "out of bounds",
                            p->sku);
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_PRODUCT_PUT);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, p->sku, -1, SQLITE_STATIC);
    if (p->gtin[0]) {
        sqlite3_bind_text(s, 2, p->gtin, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(s, 3, p->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, p->price_minor);
    sqlite3_bind_text(s, 5, p->currency, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, p->restock_threshold);
    sqlite3_bind_int(s, 7, p->restock_target);
    sqlite3_bind_int64(s, 8, ledger_now_us(l));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    ledger_cache_product_changed(l, p->sku); /* its restock threshold may have changed */
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        return ledger_failf(l, -EEXIST, "product %s: GTIN %s belongs to another product", p->sku,
                            p->gtin);
    }
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "writing a product");
}

int sk_ledger_product_get(struct sk_ledger *l, const char *sku, struct sk_product *ret_product)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_PRODUCT_GET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        struct sk_product p;
        memset(&p, 0, sizeof(p));
        snprintf(p.sku, sizeof(p.sku), "%s", (const char *)sqlite3_column_text(s, 0));
        snprintf(p.gtin, sizeof(p.gtin), "%s", (const char *)sqlite3_column_text(s, 1));
        snprintf(p.name, sizeof(p.name), "%s", (const char *)sqlite3_column_text(s, 2));
        p.price_minor = sqlite3_column_int64(s, 3);
        snprintf(p.currency, sizeof(p.currency), "%s", (const char *)sqlite3_column_text(s, 4));
        p.restock_threshold = sqlite3_column_int(s, 5);
        p.restock_target = sqlite3_column_int(s, 6);
        sqlite3_reset(s);
        *ret_product = p;
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "reading a product");
}

int sk_ledger_tag_put(struct sk_ledger *l, const uint8_t *epc, size_t epc_len, const char *sku)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!epc || epc_len == 0 || epc_len > SK_EPC_MAX || !ledger_sku_ok(sku)) {
        return ledger_failf(l, -EINVAL, "tag mapping: bad EPC or sku");
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_TAG_PUT);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_blob(s, 1, epc, (int)epc_len, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, ledger_now_us(l));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return ledger_failf(l, -ENOENT, "tag mapping: unknown sku \"%s\"", sku);
    }
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "writing a tag mapping");
}

static int
lookup_text(struct sk_ledger *l, sqlite3_stmt *s, char *buf, size_t size, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(s, 0);
        snprintf(buf, size, "%s", t ? t : "");
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, what);
}

int sk_ledger_sku_for_epc(
        struct sk_ledger *l, const uint8_t *epc, size_t epc_len, char *buf, size_t size)
{
    if (!epc || epc_len == 0 || epc_len > SK_EPC_MAX) {
        return -EINVAL;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_TAG_GET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_blob(s, 1, epc, (int)epc_len, SQLITE_STATIC);
    int r = lookup_text(l, s, buf, size, "reading a tag mapping");
    if (r != 0) {
        return r;
    }
    struct sk_epc e;
    if (sk_epc_decode(epc, epc_len, &e) != 1) {
        return 0;
    }
    s = ledger_stmt(l, ST_PRODUCT_BY_GTIN);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, e.gtin14, -1, SQLITE_TRANSIENT);
    return lookup_text(l, s, buf, size, "reading a product by GTIN");
}

int sk_ledger_sync_shelves(struct sk_ledger *l, const struct sk_config *cfg)
{
    int r = sk_ledger_begin(l);
    if (r < 0) {
        return r;
    }
    int64_t now = ledger_now_us(l);
    sqlite3_stmt *s = ledger_stmt(l, ST_SHELF_DEACTIVATE);
    if (!s) {
        r = ledger_err(l);
    } else {
        sqlite3_bind_int64(s, 1, now);
        r = ledger_step_done(l, s, "updating shelves");
    }
    for (size_t i = 0; r == 0 && i < cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *sh = &cfg->shelves[i];
        s = ledger_stmt(l, ST_SHELF_PUT);
        if (!s) {
            r = ledger_err(l);
            break;
        }
        sqlite3_bind_text(s, 1, sh->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, sh->reader, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, sh->antenna);
        sqlite3_bind_text(s, 4, sh->zone, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 5, now);
        r = ledger_step_done(l, s, "writing a shelf");
    }
    if (r < 0) {
        sk_ledger_rollback(l);
        return r;
    }
    r = sk_ledger_commit(l);
    return r < 0 ? r : (int)cfg->n_shelves;
}

int ledger_shelf_known(struct sk_ledger *l, const char *shelf)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_SHELF_EXISTS);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
    char buf[8];
    return lookup_text(l, s, buf, sizeof(buf), "reading shelves");
}

int sk_ledger_planogram_put(struct sk_ledger *l, const char *shelf, const char *sku, int capacity)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!ledger_name_ok(shelf) || !ledger_sku_ok(sku) || capacity < 0) {
        return ledger_failf(l, -EINVAL, "planogram: bad shelf, sku or capacity");
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_PLANO_PUT);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 3, capacity);
    sqlite3_bind_int64(s, 4, ledger_now_us(l));
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) {
        return ledger_failf(l, -ENOENT, "planogram: unknown shelf \"%s\" or sku \"%s\"", shelf,
                            sku);
    }
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "writing the planogram");
}
