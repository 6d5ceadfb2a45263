/* SPDX-License-Identifier: MIT */
/* What lies on which shelf: tag places by EPC, stock per shelf and sku, restock alerts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/log.h"

/*
 * Places: an open-addressing table EPC -> (shelf, antennas seeing it), rebuilt from the
 * core's present-tag set at start and after a rollback, then kept by arrivals and departures.
 * It answers "is this tag on a shelf, which one" in O(1), which tells a move between shelves
 * (arrival here before the departure there) from a put-back.
 *
 * Stock: items per (shelf, sku) as the readers see them, for the restock events. (The low
 * stock alert is the ledger's: it follows the movements fusion records.)
 */

static uint64_t epc_hash(const uint8_t *epc, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ epc[i]) * 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

struct place *sk_fusion_place(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    if (!f->places_cap) {
        return NULL;
    }
    size_t mask = f->places_cap - 1;
    for (size_t i = epc_hash(epc, len) & mask, n = 0; n < f->places_cap; i = (i + 1) & mask, n++) {
        struct place *p = &f->places[i];
        if (!p->epc_len && !p->tomb) {
            return NULL;
        }
        if (p->epc_len && sk_fusion_epc_equal(p->epc, p->epc_len, epc, len)) {
            return p;
        }
    }
    return NULL;
}

static int places_grow(struct sk_fusion *f)
{
    size_t cap = f->places_cap ? f->places_cap * 2 : 1024;
    if (f->places_used * 2 < f->places_cap) {
        cap = f->places_cap; /* mostly tombstones: rehash in place */
    }
    struct place *np = calloc(cap, sizeof(*np));
    if (!np) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < f->places_cap; i++) {
        struct place *p = &f->places[i];
        if (!p->epc_len) {
            continue;
        }
        size_t j = epc_hash(p->epc, p->epc_len) & (cap - 1);
        while (np[j].epc_len) {
            j = (j + 1) & (cap - 1);
        }
        np[j] = *p;
    }
    free(f->places);
    f->places = np;
    f->places_cap = cap;
    f->places_tombs = 0;
    return 0;
}

int sk_fusion_place_set(struct sk_fusion *f, const uint8_t *epc, size_t len, int shelf, int count)
{
    struct place *p = sk_fusion_place(f, epc, len);
    if (p) {
        p->shelf = shelf;
        p->count = (uint8_t)count;
        return 0;
    }
    if ((f->places_used + f->places_tombs + 1) * 10 > f->places_cap * 7 && places_grow(f) < 0) {
        f->stats.dropped++;
        return -ENOMEM;
    }
    size_t mask = f->places_cap - 1;
    size_t i = epc_hash(epc, len) & mask;
    while (f->places[i].epc_len) {
        i = (i + 1) & mask;
    }
    p = &f->places[i];
    if (p->tomb) {
        f->places_tombs--;
    }
    memset(p, 0, sizeof(*p));
    memcpy(p->epc, epc, len);
    p->epc_len = (uint8_t)len;
    p->shelf = shelf;
    p->count = (uint8_t)count;
    f->places_used++;
    return 0;
}

void sk_fusion_place_del(struct sk_fusion *f, struct place *p)
{
    p->epc_len = 0;
    p->tomb = true;
    f->places_used--;
    f->places_tombs++;
}

void sk_fusion_places_clear(struct sk_fusion *f)
{
    if (f->places) {
        memset(f->places, 0, f->places_cap * sizeof(*f->places));
    }
    f->places_used = f->places_tombs = 0;
}

/* ---- stock ------------------------------------------------------------------------------ */

static size_t stock_bucket(int shelf, const char *sku)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)shelf;
    for (const char *s = sku; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return (size_t)(h % STOCK_BUCKETS);
}

struct stock *sk_fusion_stock_entry(struct sk_fusion *f, int shelf, const char *sku, bool create)
{
    size_t b = stock_bucket(shelf, sku);
    for (struct stock *s = f->stock[b]; s; s = s->next) {
        if (s->shelf == shelf && strcmp(s->sku, sku) == 0) {
            return s;
        }
    }
    if (!create) {
        return NULL;
    }
    struct stock *s = calloc(1, sizeof(*s));
    if (!s) {
        f->stats.dropped++;
        return NULL;
    }
    s->shelf = shelf;
    snprintf(s->sku, sizeof(s->sku), "%s", sku);
    s->next = f->stock[b];
    f->stock[b] = s;
    return s;
}

void sk_fusion_stock_clear(struct sk_fusion *f)
{
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        struct stock *s = f->stock[b];
        while (s) {
            struct stock *n = s->next;
            free(s);
            s = n;
        }
        f->stock[b] = NULL;
    }
}

int sk_fusion_stock_change(struct sk_fusion *f,
                           int shelf,
                           const struct sk_fusion_line *line,
                           int delta)
{
    struct stock *st = sk_fusion_stock_entry(f, shelf, line->product.sku, true);
    if (st) {
        st->count += delta;
        if (st->count < 0) {
            st->count = 0;
        }
    }
    return f->err;
}

int sk_fusion_stock(const struct sk_fusion *f, const char *shelf, const char *sku)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        if (strcmp(f->cfg->shelves[i].name, shelf) == 0) {
            struct stock *s = sk_fusion_stock_entry((struct sk_fusion *)f, (int)i, sku, false);
            return s ? s->count : 0;
        }
    }
    return -ENOENT;
}

int sk_fusion_badge(const struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    if (!f->cfg->n_staff_badges) {
        return -1;
    }
    char hex[SK_EPC_HEX_MAX];
    if (sk_epc_to_hex(epc, len, hex, sizeof(hex)) < 0) {
        return -1;
    }
    for (size_t i = 0; i < f->cfg->n_staff_badges; i++) {
        if (strcasecmp(f->cfg->staff_badges[i].epc, hex) == 0) {
            return (int)i;
        }
    }
    return -1;
}

struct load_ctx {
    struct sk_fusion *f;
    int tags;
};

static int load_one(const struct sk_tag_key *k, int64_t since, void *ctx)
{
    (void)since;
    struct load_ctx *lc = ctx;
    struct sk_fusion *f = lc->f;
    const struct sk_reader_cfg *rc = sk_config_reader(f->cfg, k->reader);
    if (rc && rc->role == SK_READER_EXIT) {
        return 0;
    }
    int shelf = sk_fusion_shelf_of(f, k->reader, k->antenna);
    if (shelf < 0) {
        return 0;
    }
    int b = sk_fusion_badge(f, k->epc, k->epc_len);
    if (b >= 0) {
        struct shelf_info *si = &f->shelves[shelf];
        si->restock_until_us = NEVER;
        si->restock_implicit = false;
        snprintf(si->restock_id, sizeof(si->restock_id), "%s", f->cfg->staff_badges[b].name);
        return 0;
    }
    struct place *p = sk_fusion_place(f, k->epc, k->epc_len);
    if (p && p->shelf == shelf) {
        p->count = (uint8_t)(p->count < 255 ? p->count + 1 : 255);
        return 0;
    }
    if (sk_fusion_place_set(f, k->epc, k->epc_len, shelf, 1) < 0) {
        return -ENOMEM;
    }
    struct sk_fusion_line line = {0};
    memcpy(line.epc, k->epc, k->epc_len);
    line.epc_len = k->epc_len;
    sk_fusion_lookup_product(f, &line);
    struct stock *st = sk_fusion_stock_entry(f, shelf, line.product.sku, true);
    if (st) {
        st->count++;
    }
    lc->tags++;
    return 0;
}

int sk_fusion_load_present(struct sk_fusion *f, const struct sk_tagset *present)
{
    sk_fusion_places_clear(f);
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        for (struct stock *s = f->stock[b]; s; s = s->next) {
            s->count = 0;
        }
    }
    struct load_ctx lc = {f, 0};
    int r = present ? sk_tagset_foreach(present, NULL, load_one, &lc) : 0;
    return r < 0 ? r : lc.tags;
}

/* ---- restock sessions -------------------------------------------------------------------- */

bool sk_fusion_staff_at(const struct sk_fusion *f, int shelf)
{
    const struct shelf_info *si = &f->shelves[shelf];
    return si->restock_until_us != 0 && !si->restock_implicit;
}

void sk_fusion_restock_touch(struct sk_fusion *f, int shelf, int64_t mono_us, int64_t wall_us)
{
    struct shelf_info *si = &f->shelves[shelf];
    if (!si->restock_until_us) {
        si->restock_implicit = true;
        si->restock_start_us = wall_us;
        si->restock_id[0] = 0;
    }
    if (si->restock_implicit) {
        si->restock_until_us = mono_us + (int64_t)f->cfg->fusion.restock_linger_s * 1000000;
    }
    f->dirty = true;
}

static int by_shelf_sku(const void *a, const void *b)
{
    const struct sk_fusion_restock_count *x = a, *y = b;
    int c = strcmp(x->shelf, y->shelf);
    return c ? c : strcmp(x->sku, y->sku);
}

int sk_fusion_restock_summary(struct sk_fusion *f, const int *shelves, size_t n, const char *id)
{
    struct sk_fusion_restock_count *counts = NULL;
    size_t nc = 0, cap = 0;
    for (size_t b = 0; b < STOCK_BUCKETS; b++) {
        for (struct stock *s = f->stock[b]; s; s = s->next) {
            bool in = false;
            for (size_t i = 0; i < n && !in; i++) {
                in = shelves[i] == s->shelf;
            }
            if (!in || !s->added) {
                continue;
            }
            if (nc == cap) {
                cap = cap ? cap * 2 : 16;
                struct sk_fusion_restock_count *c = realloc(counts, cap * sizeof(*c));
                if (!c) {
                    free(counts);
                    f->stats.dropped++;
                    return -ENOMEM;
                }
                counts = c;
            }
            struct sk_fusion_restock_count *c = &counts[nc++];
            snprintf(c->shelf, sizeof(c->shelf), "%s", f->cfg->shelves[s->shelf].name);
            snprintf(c->sku, sizeof(c->sku), "%s", s->sku);
            c->added = s->added;
            c->stock = s->count;
            c->started_wall_us = f->shelves[s->shelf].restock_start_us;
        }
    }
    if (nc > 1) {
        qsort(counts, nc, sizeof(*counts), by_shelf_sku);
    }
    struct sk_fusion_event ev = {.type = SK_FEV_RESTOCK_SESSION,
                                 .mono_us = sk_fusion_now(f),
                                 .restock_id = id ? id : "",
                                 .restock = counts,
                                 .n_restock = nc};
    int r = sk_fusion_emit(f, &ev);
    if (r == 0) {
        for (size_t b = 0; b < STOCK_BUCKETS; b++) {
            for (struct stock *s = f->stock[b]; s; s = s->next) {
                for (size_t i = 0; i < n; i++) {
                    if (shelves[i] == s->shelf) {
                        s->added = 0;
                    }
                }
            }
        }
        f->dirty = true;
    }
    free(counts);
    return r;
}

/* Resolves shelf names (n == 0: all) into indexes; idx must hold cfg->n_shelves. */
static int shelf_indexes(
        const struct sk_fusion *f, const char *const *names, size_t n, int *idx, size_t *ret_n)
{
    if (n == 0) {
        for (size_t i = 0; i < f->cfg->n_shelves; i++) {
            idx[i] = (int)i;
        }
        *ret_n = f->cfg->n_shelves;
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int found = -1;
        for (size_t s = 0; s < f->cfg->n_shelves && found < 0; s++) {
            if (strcmp(f->cfg->shelves[s].name, names[i]) == 0) {
                found = (int)s;
            }
        }
        if (found < 0) {
            return -ENOENT;
        }
        bool dup = false;
        for (size_t j = 0; j < k; j++) {
            dup |= idx[j] == found;
        }
        if (!dup && k < f->cfg->n_shelves) {
            idx[k++] = found;
        }
    }
    *ret_n = k;
    return 0;
}

int sk_fusion_restock_begin(struct sk_fusion *f,
                            const char *const *shelves,
                            size_t n,
                            int64_t until_mono_us)
{
    int *idx = calloc(f->cfg->n_shelves ? f->cfg->n_shelves : 1, sizeof(*idx));
    size_t k = 0;
    if (!idx) {
        return -ENOMEM;
    }
    int r = shelf_indexes(f, shelves, n, idx, &k);
    for (size_t i = 0; r == 0 && i < k; i++) {
        struct shelf_info *si = &f->shelves[idx[i]];
        if (!si->restock_until_us || si->restock_implicit) {
            si->restock_start_us = sk_fusion_wall(f);
        }
        si->restock_until_us = until_mono_us;
        si->restock_implicit = false;
        si->restock_id[0] = 0;
    }
    f->dirty = true;
    free(idx);
    return r;
}

int sk_fusion_restock_done(struct sk_fusion *f,
                           const char *const *shelves,
                           size_t n,
                           const char *restock_id)
{
    f->err = 0;
    int *idx = calloc(f->cfg->n_shelves ? f->cfg->n_shelves : 1, sizeof(*idx));
    size_t k = 0;
    if (!idx) {
        return -ENOMEM;
    }
    int r = shelf_indexes(f, shelves, n, idx, &k);
    if (r == 0) {
        f->dirty = true;
        r = sk_fusion_restock_summary(f, idx, k, restock_id);
        for (size_t i = 0; i < k; i++) {
            f->shelves[idx[i]].restock_until_us = 0;
            f->shelves[idx[i]].restock_implicit = false;
            f->shelves[idx[i]].restock_id[0] = 0;
        }
    }
    free(idx);
    return r;
}

/* Restock sessions whose time ran out (a badge's linger) end with their summary. */
int sk_fusion_restock_tick(struct sk_fusion *f)
{
    int64_t now = sk_fusion_now(f);
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        struct shelf_info *si = &f->shelves[i];
        if (!si->restock_until_us || si->restock_until_us == NEVER || now <= si->restock_until_us) {
            continue;
        }
        char id[SK_NAME_MAX];
        snprintf(id, sizeof(id), "%s", si->restock_id);
        f->dirty = true;
        int shelf = (int)i;
        int r = sk_fusion_restock_summary(f, &shelf, 1, id);
        si->restock_until_us = 0;
        si->restock_implicit = false;
        si->restock_id[0] = 0;
        if (r < 0) {
            return f->err;
        }
    }
    return f->err;
}
