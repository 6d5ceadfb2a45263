/* SPDX-License-Identifier: MIT */
/* Movements (append-only, hash-chained), the stock they maintain, sessions, chain checks. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ledger_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/error.h"
#include "storekeeper/sha256.h"

/*
 * DESIGN
 * Movements are the ledger's journal: every stock change is one row, never updated or
 * deleted (triggers refuse it). Each row carries the SHA-256 of the row before it
 * (prev_hash) and its own hash over a canonical encoding of its fields and prev_hash, so
 * changing, removing or reordering any row breaks every hash after it; `ledger verify`
 * recomputes the chain. The first row links to a genesis hash derived from the ledger id,
 * which ties the chain to this ledger. Chain heads leave the device in event/movement
 * payloads, so a rewrite of the whole chain (or a cut-off tail) shows against what the
 * cloud received.
 *
 * Canonical encoding (version 1): "sk-movement-1" | prev_hash (32) | id | time_us | type |
 * epc | sku | shelf | to_shelf | session | quantity | evidence, integers as 8 bytes big
 * endian, text and blobs as a 4-byte big-endian length and the bytes, NULL as length
 * 0xffffffff. recorded_us and event_seq are bookkeeping and not part of the hash.
 *
 * Stock is a cache of the movements: stock(shelf, sku) is the sum of their effects
 * (sk_move_type in ledger.h). It is updated in the movement's transaction.
 */

static const char *const type_names[SK_MOVE_TYPE_COUNT] = {
        [SK_MOVE_PICKUP] = "pickup",
        [SK_MOVE_PUT_BACK] = "put_back",
        [SK_MOVE_SALE] = "sale",
        [SK_MOVE_RESTOCK] = "restock",
        [SK_MOVE_ADJUSTMENT] = "adjustment",
        [SK_MOVE_SHRINK] = "shrink",
        [SK_MOVE_MISPLACED] = "misplaced",
        [SK_MOVE_ROLLBACK] = "rollback",
};

const char *sk_move_type_name(int type)
{
    return type > 0 && type < SK_MOVE_TYPE_COUNT ? type_names[type] : NULL;
}

int sk_move_type_parse(const char *name)
{
    for (int t = 1; t < SK_MOVE_TYPE_COUNT; t++) {
        if (name && strcmp(name, type_names[t]) == 0) {
            return t;
        }
    }
    return -EINVAL;
}

/* ---- hashing ------------------------------------------------------------------------- */

/* The canonical encoding goes straight into the digest, field by field: nothing is copied. */
static void h_u64(struct sk_sha256 *h, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++) {
        x[i] = (uint8_t)(v >> (56 - 8 * i));
    }
    sk_sha256_update(h, x, 8);
}

static void h_bytes(struct sk_sha256 *h, const void *p, size_t n, bool null)
{
    uint32_t len = null ? 0xffffffffu : (uint32_t)n;
    uint8_t x[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
    sk_sha256_update(h, x, 4);
    if (!null && n) {
        sk_sha256_update(h, p, n);
    }
}

static void h_text(struct sk_sha256 *h, const char *s)
{
    h_bytes(h, s, s ? strlen(s) : 0, s == NULL);
}

int ledger_move_hash(const uint8_t prev[32], const struct ledger_move_fields *f, uint8_t out[32])
{
    struct sk_sha256 h;
    sk_sha256_init(&h);
    sk_sha256_update(&h, f->version >= 2 ? "sk-movement-2" : "sk-movement-1", 13);
    sk_sha256_update(&h, prev, 32);
    h_u64(&h, (uint64_t)f->id);
    h_u64(&h, (uint64_t)f->time_us);
    if (f->version >= 2) {
        h_u64(&h, (uint64_t)f->recorded_us);
    }
    h_text(&h, f->type);
    h_bytes(&h, f->epc, f->epc_len, f->epc == NULL);
    h_text(&h, f->sku);
    h_text(&h, f->shelf);
    h_text(&h, f->to_shelf);
    h_text(&h, f->session);
    h_u64(&h, (uint64_t)f->quantity);
    h_text(&h, f->evidence);
    if (f->version >= 2) {
        h_u64(&h, (uint64_t)f->event_seq);
    }
    sk_sha256_final(&h, out);
    return 0;
}

void ledger_genesis(const char *ledger_id, uint8_t out[32])
{
    char text[80];
    int n = snprintf(text, sizeof(text), "storekeeper ledger %s", ledger_id);
    sk_sha256(text, (size_t)n, out);
}

void ledger_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- movements ------------------------------------------------------------------------- */

static int validate(struct sk_ledger *l, const struct sk_movement *m)
{
    const char *t = sk_move_type_name(m->type);
    if (!t || m->type == SK_MOVE_ROLLBACK) {
        return ledger_failf(l, -EINVAL, "movement: type %d cannot be recorded this way", m->type);
    }
    if (m->type == SK_MOVE_ADJUSTMENT ? m->quantity == 0 : m->quantity <= 0) {
        return ledger_failf(l, -EINVAL, "%s: quantity %d out of range", t, m->quantity);
    }
    if (m->type != SK_MOVE_SALE && !m->shelf) {
        return ledger_failf(l, -EINVAL, "%s: a shelf is needed", t);
    }
    if (m->type == SK_MOVE_MISPLACED && !m->to_shelf) {
        return ledger_failf(l, -EINVAL, "misplaced: to_shelf is needed");
    }
    if (m->type != SK_MOVE_MISPLACED && m->to_shelf) {
        return ledger_failf(l, -EINVAL, "%s: to_shelf is only for misplaced", t);
    }
    if ((m->shelf && !ledger_name_ok(m->shelf)) || (m->to_shelf && !ledger_name_ok(m->to_shelf)) ||
        (m->session && !ledger_name_ok(m->session))) {
        return ledger_failf(l, -EINVAL, "%s: bad shelf or session name", t);
    }
    if (m->epc && (m->epc_len == 0 || m->epc_len > SK_EPC_MAX)) {
        return ledger_failf(l, -EINVAL, "%s: bad EPC length %zu", t, m->epc_len);
    }
    if (!m->sku && !m->epc) {
        return ledger_failf(l, -EINVAL, "%s: a sku or an EPC is needed", t);
    }
    if (m->sku && !ledger_sku_ok(m->sku)) {
        return ledger_failf(l, -EINVAL, "%s: bad sku \"%s\"", t, m->sku);
    }
    if (m->evidence && !cJSON_IsObject(m->evidence)) {
        return ledger_failf(l, -EINVAL, "%s: evidence must be a JSON object", t);
    }
    return 0;
}

/* ---- caches ---------------------------------------------------------------------------
 *
 * A movement needs the chain head, the next seq and its sku's total stock before it writes.
 * Read from the file, they cost a third of a movement's CPU; they change only through the
 * writes below, which hold SQLite's write lock (BEGIN IMMEDIATE) while they run, so they are
 * kept in memory (struct sk_ledger, cache_ok) and updated by each write that changes them.
 * Nothing cached survives a rollback, a failed commit or another connection's commit (PRAGMA
 * data_version, checked at each BEGIN): the next movement reads them again. The anchor file
 * is written from what the file holds after the commit (ledger_head_read), never from here.
 */

#define TOTALS_MAX 65536 /* skus whose totals are cached; beyond, they are read */

static uint32_t sku_hash(const char *sku)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sku; *p; p++) {
        h = (h ^ *p) * 16777619u;
    }
    return h;
}

/* The slot of sku (found, or the free one where it goes), or NULL when the table is full
 * and cannot grow. */
static struct ledger_total *total_slot(struct sk_ledger *l, const char *sku)
{
    if (l->c_totals_n + 1 > l->c_totals_cap / 2) {
        size_t cap = l->c_totals_cap ? l->c_totals_cap * 2 : 64;
        if (cap > TOTALS_MAX) {
            return NULL;
        }
        struct ledger_total *t = calloc(cap, sizeof(*t));
        if (!t) {
            return NULL;
        }
        for (size_t i = 0; i < l->c_totals_cap; i++) {
            if (l->c_totals[i].sku[0]) {
                size_t k = sku_hash(l->c_totals[i].sku) & (cap - 1);
                while (t[k].sku[0]) {
                    k = (k + 1) & (cap - 1);
                }
                t[k] = l->c_totals[i];
            }
        }
        free(l->c_totals);
        l->c_totals = t;
        l->c_totals_cap = cap;
    }
    size_t k = sku_hash(sku) & (l->c_totals_cap - 1);
    while (l->c_totals[k].sku[0] && strcmp(l->c_totals[k].sku, sku) != 0) {
        k = (k + 1) & (l->c_totals_cap - 1);
    }
    return &l->c_totals[k];
}

/* The sku's stock over all shelves, from the cache or read (and cached). */
static int stock_total(struct sk_ledger *l, const char *sku, int64_t *ret_total)
{
    struct ledger_total *t = l->cache_ok ? total_slot(l, sku) : NULL;
    if (t && t->sku[0]) {
        *ret_total = t->total;
        return 0;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_STOCK_TOTAL);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *ret_total = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
        return ledger_fail(l, rc, "reading stock");
    }
    if (t) {
        snprintf(t->sku, sizeof(t->sku), "%s", sku);
        t->total = *ret_total;
        t->product_known = false;
        l->c_totals_n++;
    }
    return 0;
}

/* After a write that changed the sku's stock by delta. */
static void total_add(struct sk_ledger *l, const char *sku, int64_t delta)
{
    struct ledger_total *t = l->cache_ok && l->c_totals_cap ? total_slot(l, sku) : NULL;
    if (t && t->sku[0]) {
        t->total += delta;
    }
}

void ledger_cache_product_changed(struct sk_ledger *l, const char *sku)
{
    if (!sku) {
        for (size_t i = 0; i < l->c_totals_cap; i++) {
            l->c_totals[i].product_known = false;
        }
        return;
    }
    if (l->c_totals_cap == 0) {
        return;
    }
    /* The probe of total_slot, without growing the table. */
    size_t k = sku_hash(sku) & (l->c_totals_cap - 1);
    while (l->c_totals[k].sku[0]) {
        if (strcmp(l->c_totals[k].sku, sku) == 0) {
            l->c_totals[k].product_known = false;
            return;
        }
        k = (k + 1) & (l->c_totals_cap - 1);
    }
}

/* Whether the sku's product exists (1, with *ret_threshold, its restock threshold) or not (0),
 * from the cache (call stock_total first: it makes the sku's slot) or read (and cached). */
static int product_threshold(struct sk_ledger *l, const char *sku, int *ret_threshold)
{
    struct ledger_total *t = l->cache_ok && l->c_totals_cap ? total_slot(l, sku) : NULL;
    if (t && t->sku[0] && t->product_known) {
        *ret_threshold = t->threshold;
        return 1;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_PRODUCT_LEVELS);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, sku, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *ret_threshold = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading a product");
    }
    if (rc == SQLITE_ROW && t && t->sku[0]) {
        t->product_known = true;
        t->threshold = *ret_threshold;
    }
    return rc == SQLITE_ROW;
}

#define SHELVES_MAX 8192 /* shelves cached as known; beyond, they are read */

/* The slot of shelf in the known-shelves set (found, or the free one where it goes), or NULL
 * when the set is full and cannot grow. */
static struct ledger_shelf *shelf_slot(struct sk_ledger *l, const char *shelf)
{
    if (l->c_shelves_n + 1 > l->c_shelves_cap / 2) {
        size_t cap = l->c_shelves_cap ? l->c_shelves_cap * 2 : 64;
        if (cap > SHELVES_MAX) {
            return NULL;
        }
        struct ledger_shelf *t = calloc(cap, sizeof(*t));
        if (!t) {
            return NULL;
        }
        for (size_t i = 0; i < l->c_shelves_cap; i++) {
            if (l->c_shelves[i].name[0]) {
                size_t k = sku_hash(l->c_shelves[i].name) & (cap - 1);
                while (t[k].name[0]) {
                    k = (k + 1) & (cap - 1);
                }
                t[k] = l->c_shelves[i];
            }
        }
        free(l->c_shelves);
        l->c_shelves = t;
        l->c_shelves_cap = cap;
    }
    size_t k = sku_hash(shelf) & (l->c_shelves_cap - 1);
    while (l->c_shelves[k].name[0] && strcmp(l->c_shelves[k].name, shelf) != 0) {
        k = (k + 1) & (l->c_shelves_cap - 1);
    }
    return &l->c_shelves[k];
}

/* Whether the shelf exists, from the cache or read (a known one is cached: shelves are never
 * deleted, only made inactive). */
static int shelf_known(struct sk_ledger *l, const char *shelf)
{
    size_t n = strlen(shelf);
    struct ledger_shelf *t = NULL;
    if (l->cache_ok && n < sizeof(t->name)) {
        t = shelf_slot(l, shelf);
        if (t && t->name[0]) {
            return 1;
        }
    }
    int r = ledger_shelf_known(l, shelf);
    if (r > 0 && t) {
        memcpy(t->name, shelf, n + 1);
        l->c_shelves_n++;
    }
    return r;
}

/* The chain head: the last movement's id and hash (the genesis hash and 0 when none). */
static int chain_head(struct sk_ledger *l, int64_t *ret_id, uint8_t ret_hash[32])
{
    if (l->cache_ok && l->c_head_known) {
        *ret_id = l->c_head_id;
        memcpy(ret_hash, l->c_head_hash, 32);
        return 0;
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_LAST_MOVE);
    if (!s) {
        return ledger_err(l);
    }
    int64_t id = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == 32) {
        id = sqlite3_column_int64(s, 0);
        memcpy(ret_hash, sqlite3_column_blob(s, 1), 32);
    } else if (rc == SQLITE_DONE) {
        ledger_genesis(l->ledger_id, ret_hash);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    if (rc == SQLITE_ROW && id == 0) {
        return ledger_failf(l, SK_ELEDGER_CHAIN, "the last movement has no valid hash");
    }
    *ret_id = id;
    if (l->cache_ok) {
        l->c_head_id = id;
        memcpy(l->c_head_hash, ret_hash, 32);
        l->c_head_known = true;
    }
    return 0;
}

/* ---- movements ------------------------------------------------------------------------- */

/* Adds delta to the stock of (shelf, sku): read, then written as a value (an upsert with
 * RETURNING would build a temporary table on every call). */
static int stock_query(struct sk_ledger *l, const char *shelf, const char *sku, int64_t *ret);

#define QTY_MAX 16384 /* (shelf, sku) stocks cached; beyond, they are read */

/* The slot of (shelf, sku) in the stock cache (found, or the free one where it goes), or NULL
 * when it is full and cannot grow, or the names do not fit. */
static struct ledger_qty *qty_slot(struct sk_ledger *l, const char *shelf, const char *sku)
{
    if (strlen(shelf) >= sizeof(l->c_qty->shelf) || strlen(sku) >= sizeof(l->c_qty->sku)) {
        return NULL;
    }
    if (l->c_qty_n + 1 > l->c_qty_cap / 2) {
        size_t cap = l->c_qty_cap ? l->c_qty_cap * 2 : 64;
        if (cap > QTY_MAX) {
            return NULL;
        }
        struct ledger_qty *t = calloc(cap, sizeof(*t));
        if (!t) {
            return NULL;
        }
        for (size_t i = 0; i < l->c_qty_cap; i++) {
            const struct ledger_qty *q = &l->c_qty[i];
            if (q->shelf[0]) {
                size_t k = (sku_hash(q->shelf) ^ (sku_hash(q->sku) * 31u)) & (cap - 1);
                while (t[k].shelf[0]) {
                    k = (k + 1) & (cap - 1);
                }
                t[k] = *q;
            }
        }
        free(l->c_qty);
        l->c_qty = t;
        l->c_qty_cap = cap;
    }
    size_t k = (sku_hash(shelf) ^ (sku_hash(sku) * 31u)) & (l->c_qty_cap - 1);
    while (l->c_qty[k].shelf[0] &&
           (strcmp(l->c_qty[k].shelf, shelf) != 0 || strcmp(l->c_qty[k].sku, sku) != 0)) {
        k = (k + 1) & (l->c_qty_cap - 1);
    }
    return &l->c_qty[k];
}

/* The quantity of (shelf, sku): 1 and *ret when it has a row, 0 and 0 when not, or < 0; from
 * the cache or read (and cached). */
static int stock_read(struct sk_ledger *l, const char *shelf, const char *sku, int64_t *ret)
{
    struct ledger_qty *q = l->cache_ok ? qty_slot(l, shelf, sku) : NULL;
    if (q && q->shelf[0]) {
        *ret = q->quantity;
        return q->has_row;
    }
    int r = stock_query(l, shelf, sku, ret);
    if (r >= 0 && q) {
        snprintf(q->shelf, sizeof(q->shelf), "%s", shelf);
        snprintf(q->sku, sizeof(q->sku), "%s", sku);
        q->has_row = r == 1;
        q->quantity = *ret;
        l->c_qty_n++;
    }
    return r;
}

/* After stock_add wrote quantity for (shelf, sku). */
static void stock_written(struct sk_ledger *l, const char *shelf, const char *sku, int64_t qty)
{
    struct ledger_qty *q = l->cache_ok && l->c_qty_cap ? qty_slot(l, shelf, sku) : NULL;
    if (q && q->shelf[0]) {
        q->has_row = true;
        q->quantity = qty;
    }
}

/* The quantity of (shelf, sku) as the file holds it: 1 and *ret when it has a row, 0 and 0
 * when not, or < 0. */
static int stock_query(struct sk_ledger *l, const char *shelf, const char *sku, int64_t *ret)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_STOCK_GET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    *ret = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading stock");
    }
    return rc == SQLITE_ROW;
}

static int stock_add(struct sk_ledger *l,
                     const char *shelf,
                     const char *sku,
                     int64_t delta,
                     int64_t now,
                     int64_t *ret_qty)
{
    int64_t qty = 0;
    int r = stock_read(l, shelf, sku, &qty);
    if (r < 0) {
        return r;
    }
    /* An existing row is updated by its key (one lookup); the upsert, for a new one, looks
     * it up twice. */
    sqlite3_stmt *s = ledger_stmt(l, r == 1 ? ST_STOCK_UPDATE : ST_STOCK_SET);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, qty + delta);
    sqlite3_bind_int64(s, 4, now);
    if ((r = ledger_step_done(l, s, "updating stock")) < 0) {
        return r;
    }
    total_add(l, sku, delta);
    stock_written(l, shelf, sku, qty + delta);
    *ret_qty = qty + delta;
    return 0;
}

static int
low_stock_event(struct sk_ledger *l, const struct sk_product *p, int64_t total, int64_t time_us)
{
    cJSON *f = cJSON_CreateObject();
    int64_t suggest = p->restock_target > total ? p->restock_target - total : 0;
    if (!f || !cJSON_AddStringToObject(f, "sku", p->sku) ||
        !cJSON_AddStringToObject(f, "name", p->name) ||
        !cJSON_AddNumberToObject(f, "stock", (double)total) ||
        !cJSON_AddNumberToObject(f, "threshold", p->restock_threshold) ||
        !cJSON_AddNumberToObject(f, "target", p->restock_target) ||
        !cJSON_AddNumberToObject(f, "suggested_quantity", (double)suggest)) {
        cJSON_Delete(f);
        return ledger_failf(l, -ENOMEM, "building a low_stock event");
    }
    int r = ledger_event_insert(l, "event/low_stock", NULL, f, time_us, NULL);
    cJSON_Delete(f);
    return r;
}

static void put_str(struct sk_buf *b, const char *key, const char *v)
{
    ledger_buf_key(b, key);
    sk_buf_json_string(b, v);
}

static void put_int(struct sk_buf *b, const char *key, int64_t v)
{
    ledger_buf_key(b, key);
    sk_buf_i64(b, v);
}

/* The event/movement: its fields written once as text, the evidence as the row holds it. */
static int movement_event(struct sk_ledger *l,
                          const struct ledger_move_fields *mf,
                          const char *epc_hex,
                          int64_t shelf_stock,
                          const char *hash_hex,
                          int64_t *ret_seq)
{
    struct sk_buf b = ledger_scratch(l, SCRATCH_MEMBERS, SK_LEDGER_PAYLOAD_MAX + 1);
    /* ledger_buf_key starts with a comma: the first member's is dropped below */
    put_int(&b, "movement_id", mf->id);
    put_str(&b, "type", mf->type);
    put_str(&b, "sku", mf->sku);
    put_int(&b, "quantity", mf->quantity);
    if (epc_hex[0]) {
        put_str(&b, "epc", epc_hex);
    }
    if (mf->shelf) {
        put_str(&b, "shelf", mf->shelf);
        put_int(&b, "shelf_stock", shelf_stock);
    }
    if (mf->to_shelf) {
        put_str(&b, "to_shelf", mf->to_shelf);
    }
    if (mf->session) {
        put_str(&b, "session_id", mf->session);
    }
    if (mf->evidence) {
        ledger_buf_key(&b, "evidence");
        sk_buf_puts(&b, mf->evidence);
    }
    put_str(&b, "hash", hash_hex);
    if (b.err == -ENOMEM) {
        ledger_scratch_done(l, SCRATCH_MEMBERS, &b);
        return ledger_failf(l, -ENOMEM, "building a movement event");
    }
    if (b.err) {
        ledger_scratch_done(l, SCRATCH_MEMBERS, &b);
        return ledger_failf(l, -EMSGSIZE, "event/movement: payload exceeds %d bytes",
                            SK_LEDGER_PAYLOAD_MAX);
    }
    int r = ledger_event_insert_members(l, "event/movement", b.p + 1, b.len - 1, mf->time_us,
                                        ret_seq);
    ledger_scratch_done(l, SCRATCH_MEMBERS, &b);
    return r;
}

#define EVIDENCE_MAX (1 << 20) /* bytes of a movement's evidence as text */

/* *wrote turns true at the first write: a failure after it leaves part of the movement. */
static int move_locked(struct sk_ledger *l,
                       const struct sk_movement *m,
                       unsigned flags,
                       struct sk_movement_result *res,
                       bool *wrote)
{
    int r;
    char sku[SK_LEDGER_SKU_MAX];
    if (m->sku) {
        size_t n = strnlen(m->sku, sizeof(sku) - 1); /* as snprintf cut it, without printf */
        memcpy(sku, m->sku, n);
        sku[n] = '\0';
    } else if ((r = sk_ledger_sku_for_epc(l, m->epc, m->epc_len, sku, sizeof(sku))) <= 0) {
        char hex[SK_EPC_HEX_MAX];
        sk_epc_to_hex(m->epc, m->epc_len, hex, sizeof(hex));
        return r < 0 ? r : ledger_failf(l, -ENOENT, "tag %s maps to no product", hex);
    }
    /* The sku's total stock before, and its product's restock threshold (the rest of the
     * product only for a low-stock event). */
    int64_t total_before = 0;
    int threshold = 0;
    if ((r = stock_total(l, sku, &total_before)) < 0 ||
        (r = product_threshold(l, sku, &threshold)) <= 0) {
        return r < 0 ? r : ledger_failf(l, -ENOENT, "unknown sku \"%s\"", sku);
    }
    const char *shelves[2] = {m->shelf, m->to_shelf};
    for (int i = 0; i < 2; i++) {
        if (shelves[i] && (r = shelf_known(l, shelves[i])) <= 0) {
            return r < 0 ? r : ledger_failf(l, -ENOENT, "unknown shelf \"%s\"", shelves[i]);
        }
    }

    /* Chain link. */
    uint8_t prev[32], hash[32];
    int64_t last_id = 0;
    if ((r = chain_head(l, &last_id, prev)) < 0) {
        return r;
    }

    /* The evidence as text, once: the row stores it, the hash covers it, the event quotes it. */
    struct sk_buf ev = ledger_scratch(l, SCRATCH_EVIDENCE, EVIDENCE_MAX);
    if (m->evidence) {
        sk_buf_json(&ev, m->evidence);
        if (ev.err) {
            ledger_scratch_done(l, SCRATCH_EVIDENCE, &ev);
            return ledger_failf(l, ev.err == -ENOMEM ? -ENOMEM : -EMSGSIZE,
                                "formatting evidence (at most %d bytes)", EVIDENCE_MAX);
        }
    }
    const char *evidence = m->evidence ? ev.p : NULL;
    /* The event's seq is known before it is written: the hash covers it. */
    int64_t seq = 0;
    if (flags & SK_MOVE_EVENT) {
        seq = ledger_seq(l);
        if (seq < 0) {
            ledger_scratch_done(l, SCRATCH_EVIDENCE, &ev);
            return (int)seq;
        }
        seq++;
    }
    int64_t now = ledger_now_us(l);
    struct ledger_move_fields mf = {.version = 2,
                                    .id = last_id + 1,
                                    .time_us = m->time_us > 0 ? m->time_us : now,
                                    .recorded_us = now,
                                    .quantity = m->quantity,
                                    .type = sk_move_type_name(m->type),
                                    .epc = m->epc,
                                    .epc_len = m->epc ? m->epc_len : 0,
                                    .sku = sku,
                                    .shelf = m->shelf,
                                    .to_shelf = m->to_shelf,
                                    .session = m->session,
                                    .evidence = evidence,
                                    .event_seq = seq};
    ledger_move_hash(prev, &mf, hash);
    char hash_hex[SK_LEDGER_HASH_HEX], epc_hex[SK_EPC_HEX_MAX] = "";
    ledger_hex(hash, 32, hash_hex);
    if (m->epc) {
        sk_epc_to_hex(m->epc, m->epc_len, epc_hex, sizeof(epc_hex));
    }

    /* Stock. */
    int64_t delta = 0, shelf_qty = 0, to_qty = 0;
    switch (m->type) {
    case SK_MOVE_PICKUP:
    case SK_MOVE_SHRINK:
    case SK_MOVE_MISPLACED:
        delta = -m->quantity;
        break;
    case SK_MOVE_PUT_BACK:
    case SK_MOVE_RESTOCK:
    case SK_MOVE_ADJUSTMENT:
        delta = m->quantity;
        break;
    default:
        break;
    }
    r = 0;
    if (m->shelf && m->type != SK_MOVE_SALE) {
        *wrote = true;
        r = stock_add(l, m->shelf, sku, delta, now, &shelf_qty);
    } else if (r == 0 && m->shelf) {
        r = sk_ledger_stock_get(l, m->shelf, sku, &shelf_qty);
    }
    if (r == 0 && m->to_shelf) {
        *wrote = true;
        r = stock_add(l, m->to_shelf, sku, m->quantity, now, &to_qty);
    }

    /* The row, then its event. */
    if (r == 0 && (r = ledger_fault(l, "movement")) == 0) {
        sqlite3_stmt *s = ledger_stmt(l, ST_MOVE_INSERT);
        if (!s) {
            r = ledger_err(l);
        } else {
            *wrote = true;
            sqlite3_bind_int64(s, 1, mf.id);
            sqlite3_bind_int64(s, 2, mf.time_us);
            sqlite3_bind_int64(s, 3, now);
            sqlite3_bind_text(s, 4, mf.type, -1, SQLITE_STATIC);
            if (m->epc) {
                sqlite3_bind_blob(s, 5, m->epc, (int)m->epc_len, SQLITE_STATIC);
            }
            sqlite3_bind_text(s, 6, sku, -1, SQLITE_STATIC);
            if (m->shelf) {
                sqlite3_bind_text(s, 7, m->shelf, -1, SQLITE_STATIC);
            }
            if (m->to_shelf) {
                sqlite3_bind_text(s, 8, m->to_shelf, -1, SQLITE_STATIC);
            }
            if (m->session) {
                sqlite3_bind_text(s, 9, m->session, -1, SQLITE_STATIC);
            }
            sqlite3_bind_int64(s, 10, m->quantity);
            if (evidence) {
                sqlite3_bind_text(s, 11, evidence, (int)ev.len, SQLITE_STATIC);
            }
            if (seq) {
                sqlite3_bind_int64(s, 12, seq);
            }
            sqlite3_bind_blob(s, 13, prev, 32, SQLITE_STATIC);
            sqlite3_bind_blob(s, 14, hash, 32, SQLITE_STATIC);
            r = ledger_step_done(l, s, "writing a movement");
            sqlite3_clear_bindings(s);
            l->txn_moved = r == 0 || l->txn_moved;
            if (r == 0 && l->cache_ok) {
                l->c_head_id = mf.id;
                memcpy(l->c_head_hash, hash, 32);
                l->c_head_known = true;
            }
        }
    }
    if (r == 0 && (flags & SK_MOVE_EVENT)) {
        int64_t got = 0;
        r = movement_event(l, &mf, epc_hex, shelf_qty, hash_hex, &got);
        if (r == 0 && got != seq) {
            r = ledger_failf(l, SK_ELEDGER, "event seq %" PRId64 " instead of %" PRId64, got, seq);
        }
    }
    /* Low stock: the total crossed the threshold downwards. */
    if (r == 0 && threshold > 0 && delta < 0 && m->type != SK_MOVE_MISPLACED) {
        int64_t after = total_before + delta;
        struct sk_product prod;
        if (total_before > threshold && after <= threshold) {
            r = sk_ledger_product_get(l, sku, &prod);
            r = r < 0 ? r : r == 0 ? ledger_failf(l, -ENOENT, "unknown sku \"%s\"", sku) : 0;
            r = r < 0 ? r : low_stock_event(l, &prod, after, mf.time_us);
        }
    }
    ledger_scratch_done(l, SCRATCH_EVIDENCE, &ev);
    if (r < 0) {
        return r;
    }
    if (res) {
        memset(res, 0, sizeof(*res));
        res->id = mf.id;
        res->event_seq = seq;
        res->shelf_stock = shelf_qty;
        snprintf(res->sku, sizeof(res->sku), "%s", sku);
        snprintf(res->hash, sizeof(res->hash), "%s", hash_hex);
    }
    return 0;
}

int ledger_move_rollback(struct sk_ledger *l,
                         int64_t id,
                         const struct cJSON *evidence,
                         struct sk_movement_result *ret)
{
    /* Its caller moved the seq past the lost events: nothing cached holds. */
    ledger_cache_drop(l);
    uint8_t prev[32], hash[32];
    sqlite3_stmt *s = ledger_stmt(l, ST_LAST_MOVE);
    if (!s) {
        return ledger_err(l);
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(s, 1) == 32) {
        memcpy(prev, sqlite3_column_blob(s, 1), 32);
    } else {
        ledger_genesis(l->ledger_id, prev);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        return ledger_fail(l, rc, "reading the chain head");
    }
    int64_t seq = ledger_last_seq(l);
    if (seq < 0) {
        return (int)seq;
    }
    char *text = evidence ? cJSON_PrintUnformatted(evidence) : NULL;
    if (evidence && !text) {
        return ledger_failf(l, -ENOMEM, "formatting evidence");
    }
    int64_t now = ledger_now_us(l);
    struct ledger_move_fields mf = {.version = 2,
                                    .id = id,
                                    .time_us = now,
                                    .recorded_us = now,
                                    .type = "rollback",
                                    .sku = "",
                                    .evidence = text,
                                    .event_seq = seq + 1};
    int r = ledger_move_hash(prev, &mf, hash);
    if (r == 0 && !(s = ledger_stmt(l, ST_MOVE_INSERT))) {
        r = ledger_err(l);
    } else if (r == 0) {
        sqlite3_bind_int64(s, 1, mf.id);
        sqlite3_bind_int64(s, 2, mf.time_us);
        sqlite3_bind_int64(s, 3, mf.recorded_us);
        sqlite3_bind_text(s, 4, mf.type, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, mf.sku, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 10, 0);
        if (text) {
            sqlite3_bind_text(s, 11, text, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int64(s, 12, mf.event_seq);
        sqlite3_bind_blob(s, 13, prev, 32, SQLITE_STATIC);
        sqlite3_bind_blob(s, 14, hash, 32, SQLITE_STATIC);
        r = ledger_step_done(l, s, "writing the rollback movement");
        sqlite3_clear_bindings(s);
    }
    free(text);
    if (r < 0) {
        return r;
    }
    l->txn_moved = true;
    memset(ret, 0, sizeof(*ret));
    ret->id = mf.id;
    ret->event_seq = mf.event_seq;
    ledger_hex(hash, 32, ret->hash);
    return 0;
}

int sk_ledger_move(struct sk_ledger *l,
                   const struct sk_movement *m,
                   unsigned flags,
                   struct sk_movement_result *ret)
{
    int r = validate(l, m);
    if (r < 0) {
        return r;
    }
    bool wrote = false;
    struct sk_movement_result res;
    if ((flags & SK_MOVE_IN_BATCH) && l->depth > 0) {
        /* The caller's transaction (or savepoint) is the unit: no savepoint of our own. A
         * failure after the first write leaves part of the movement there, which nothing may
         * commit: the caller rolls back, as it does on any failure (sk_ledger_commit refuses
         * until then). */
        if (ledger_txn_lost(l)) {
            return l->abort_err;
        }
        r = move_locked(l, m, flags, &res, &wrote);
        if (r < 0) {
            if (wrote && (l->partial_depth == 0 || l->depth < l->partial_depth)) {
                l->partial_depth = l->depth;
            }
            return r;
        }
    } else {
        if ((r = sk_ledger_begin(l)) < 0) {
            return r;
        }
        r = move_locked(l, m, flags, &res, &wrote);
        if (r < 0) {
            sk_ledger_rollback(l);
            return r;
        }
        if ((r = sk_ledger_commit(l)) < 0) {
            return r;
        }
    }
    if (ret) {
        *ret = res;
    }
    return 0;
}

int sk_ledger_stock_get(struct sk_ledger *l,
                        const char *shelf,
                        const char *sku,
                        int64_t *ret_quantity)
{
    /* Outside a transaction another connection may have written since: the file's. */
    int r = l->depth > 0 ? stock_read(l, shelf, sku, ret_quantity)
                         : stock_query(l, shelf, sku, ret_quantity);
    return r < 0 ? r : 0;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

struct stock_visit {
    sk_stock_cb cb;
    void *ctx;
};

static int stock_row(sqlite3_stmt *s, void *arg)
{
    const struct stock_visit *v = arg;
    struct sk_stock_row row = {.shelf = col_text(s, 0),
                               .sku = col_text(s, 1),
                               .name = col_text(s, 2),
                               .quantity = sqlite3_column_int64(s, 3),
                               .capacity = sqlite3_column_int(s, 4),
                               .planned = sqlite3_column_int(s, 5) != 0,
                               .updated_us = sqlite3_column_int64(s, 6)};
    return v->cb ? v->cb(&row, v->ctx) : 0;
}

int sk_ledger_stock(
        struct sk_ledger *l, const char *shelf, const char *sku, sk_stock_cb cb, void *ctx)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_STOCK_LIST);
    if (!s) {
        return ledger_err(l);
    }
    if (shelf) {
        sqlite3_bind_text(s, 1, shelf, -1, SQLITE_STATIC);
    }
    if (sku) {
        sqlite3_bind_text(s, 2, sku, -1, SQLITE_STATIC);
    }
    struct stock_visit v = {cb, ctx};
    return ledger_each_row(l, s, stock_row, &v, "reading stock");
}

struct movement_visit {
    sk_movement_cb cb;
    void *ctx;
};

static int movement_row(sqlite3_stmt *s, void *arg)
{
    const struct movement_visit *v = arg;
    struct sk_movement_row row = {.id = sqlite3_column_int64(s, 0),
                                  .time_us = sqlite3_column_int64(s, 1),
                                  .recorded_us = sqlite3_column_int64(s, 2),
                                  .type = col_text(s, 3),
                                  .epc = col_text(s, 4),
                                  .sku = col_text(s, 5),
                                  .shelf = col_text(s, 6),
                                  .to_shelf = col_text(s, 7),
                                  .session = col_text(s, 8),
                                  .quantity = sqlite3_column_int64(s, 9),
                                  .evidence = col_text(s, 10),
                                  .event_seq = sqlite3_column_int64(s, 11),
                                  .hash = col_text(s, 12)};
    return v->cb ? v->cb(&row, v->ctx) : 0;
}

int sk_ledger_movements(struct sk_ledger *l,
                        const struct sk_movement_filter *f,
                        sk_movement_cb cb,
                        void *ctx)
{
    sqlite3_stmt *s = ledger_stmt(l, ST_MOVE_LIST);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_int64(s, 1, f ? f->after_id : 0);
    sqlite3_bind_int64(s, 2, f ? f->since_us : 0);
    if (f && f->session) {
        sqlite3_bind_text(s, 3, f->session, -1, SQLITE_STATIC);
    }
    if (f && f->sku) {
        sqlite3_bind_text(s, 4, f->sku, -1, SQLITE_STATIC);
    }
    if (f && f->shelf) {
        sqlite3_bind_text(s, 5, f->shelf, -1, SQLITE_STATIC);
    }
    sqlite3_bind_int64(s, 6, f && f->limit ? (int64_t)f->limit : INT64_MAX);
    struct movement_visit v = {cb, ctx};
    return ledger_each_row(l, s, movement_row, &v, "reading movements");
}

/* ---- sessions ---------------------------------------------------------------------------- */

int sk_ledger_session_open(struct sk_ledger *l,
                           const char *id,
                           int64_t time_us,
                           const struct cJSON *detail)
{
    if (l->aborted) {
        return l->abort_err;
    }
    if (!ledger_name_ok(id) || (detail && !cJSON_IsObject(detail))) {
        return ledger_failf(l, -EINVAL, "session: bad id or detail");
    }
    char *text = detail ? cJSON_PrintUnformatted(detail) : NULL;
    if (detail && !text) {
        return ledger_failf(l, -ENOMEM, "session: formatting detail");
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_SESSION_OPEN);
    if (!s) {
        free(text);
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, time_us > 0 ? time_us : ledger_now_us(l));
    if (text) {
        sqlite3_bind_text(s, 3, text, -1, SQLITE_STATIC);
    }
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    free(text);
    if ((rc & 0xff) == SQLITE_CONSTRAINT) {
        return ledger_failf(l, -EEXIST, "session %s exists", id);
    }
    return rc == SQLITE_DONE ? 0 : ledger_fail(l, rc, "opening a session");
}

int sk_ledger_session_close(struct sk_ledger *l, const char *id, int64_t time_us, const char *state)
{
    if (l->aborted) {
        return l->abort_err;
    }
    bool ok = state && state[0] && strlen(state) < 32;
    for (const char *p = state; ok && *p; p++) {
        ok = (*p >= 'a' && *p <= 'z') || *p == '_';
    }
    if (!ledger_name_ok(id) || !ok) {
        return ledger_failf(l, -EINVAL, "session: bad id or state");
    }
    sqlite3_stmt *s = ledger_stmt(l, ST_SESSION_CLOSE);
    if (!s) {
        return ledger_err(l);
    }
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, time_us > 0 ? time_us : ledger_now_us(l));
    sqlite3_bind_text(s, 3, state, -1, SQLITE_STATIC);
    int changed = ledger_step_changes(l, s, "closing a session");
    if (changed < 0) {
        return changed;
    }
    return changed > 0 ? 0 : ledger_failf(l, -ENOENT, "no open session %s", id);
}
