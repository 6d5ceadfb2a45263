/* SPDX-License-Identifier: MIT */
/* Stock per shelf and sku as the readers see it, and the restock sessions on shelves. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"

/*
 * Stock: items per (shelf, sku) as the readers see them, for the restock events (the low
 * stock alert is the ledger's: it follows the movements fusion records). Restock sessions:
 * per shelf, opened by a staff badge, a command or unannounced arrivals, and ended by their
 * linger running out or `restock done` with one summary event (docs/fusion.md, "Restock").
 */

/* ---- stock ------------------------------------------------------------------------------ */

static size_t stock_bucket(int shelf, const char *sku)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)shelf;
    for (const char *s = sku; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return (size_t)(h % STOCK_BUCKETS);
}

struct stock *fusion__stock_entry(struct sk_fusion *f, int shelf, const char *sku, bool create)
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

void fusion__stock_clear(struct sk_fusion *f)
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

void fusion__stock_change(struct sk_fusion *f,
                          int shelf,
                          const struct sk_fusion_line *line,
                          int delta)
{
    struct stock *st = fusion__stock_entry(f, shelf, line->product.sku, true);
    if (st) {
        st->count += delta;
        if (st->count < 0) {
            st->count = 0;
        }
    }
}

int sk_fusion_stock(const struct sk_fusion *f, const char *shelf, const char *sku)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        if (strcmp(f->cfg->shelves[i].name, shelf) == 0) {
            struct stock *s = fusion__stock_entry((struct sk_fusion *)f, (int)i, sku, false);
            return s ? s->count : 0;
        }
    }
    return -ENOENT;
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
    int shelf = fusion__shelf_of(f, k->reader, k->antenna);
    if (shelf < 0) {
        return 0;
    }
    int b = fusion__badge(f, k->epc, k->epc_len);
    if (b >= 0) {
        struct shelf_info *si = &f->shelves[shelf];
        si->restock_until_us = NEVER;
        si->restock_implicit = false;
        snprintf(si->restock_id, sizeof(si->restock_id), "%s", f->cfg->staff_badges[b].name);
        return 0;
    }
    struct place *p = fusion__place(f, k->epc, k->epc_len);
    if (p && p->shelf == shelf) {
        p->count = (uint8_t)(p->count < 255 ? p->count + 1 : 255);
        return 0;
    }
    if (fusion__place_set(f, k->epc, k->epc_len, shelf, 1) < 0) {
        return -ENOMEM;
    }
    struct sk_fusion_line line = {0};
    memcpy(line.epc, k->epc, k->epc_len);
    line.epc_len = k->epc_len;
    fusion__lookup_product(f, &line);
    struct stock *st = fusion__stock_entry(f, shelf, line.product.sku, true);
    if (st) {
        st->count++;
    }
    lc->tags++;
    return 0;
}

int sk_fusion_load_present(struct sk_fusion *f, const struct sk_tagset *present)
{
    fusion__places_clear(f);
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

bool fusion__staff_at(const struct sk_fusion *f, int shelf)
{
    const struct shelf_info *si = &f->shelves[shelf];
    return si->restock_until_us != 0 && !si->restock_implicit;
}

void fusion__restock_touch(struct sk_fusion *f, int shelf, int64_t mono_us, int64_t wall_us)
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

void fusion__badge_arrived(struct sk_fusion *f, int shelf, int badge, int64_t wall_us)
{
    struct shelf_info *si = &f->shelves[shelf];
    if (!si->restock_until_us || si->restock_implicit) {
        si->restock_start_us = wall_us;
    }
    si->restock_until_us = NEVER;
    si->restock_implicit = false;
    snprintf(si->restock_id, sizeof(si->restock_id), "%s", f->cfg->staff_badges[badge].name);
    f->dirty = true;
}

void fusion__badge_departed(struct sk_fusion *f, int shelf, int64_t mono_us)
{
    struct shelf_info *si = &f->shelves[shelf];
    if (si->restock_until_us == NEVER) {
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

/* One restock-session event for shelves with what arrived there; their counts start again. */
static int restock_summary(struct sk_fusion *f, const int *shelves, size_t n, const char *id)
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
                                 .mono_us = fusion__now(f),
                                 .restock_id = id ? id : "",
                                 .restock = counts,
                                 .n_restock = nc};
    int r = fusion__emit(f, &ev);
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
        int found = fusion__shelf_named(f, names[i]);
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
            si->restock_start_us = fusion__wall(f);
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
    int *idx = calloc(f->cfg->n_shelves ? f->cfg->n_shelves : 1, sizeof(*idx));
    size_t k = 0;
    if (!idx) {
        return -ENOMEM;
    }
    int r = shelf_indexes(f, shelves, n, idx, &k);
    if (r == 0) {
        f->dirty = true;
        r = restock_summary(f, idx, k, restock_id);
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
int fusion__restock_tick(struct sk_fusion *f)
{
    int64_t now = fusion__now(f);
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        struct shelf_info *si = &f->shelves[i];
        if (!si->restock_until_us || si->restock_until_us == NEVER || now <= si->restock_until_us) {
            continue;
        }
        char id[SK_NAME_MAX];
        snprintf(id, sizeof(id), "%s", si->restock_id);
        f->dirty = true;
        int shelf = (int)i;
        int r = restock_summary(f, &shelf, 1, id);
        si->restock_until_us = 0;
        si->restock_implicit = false;
        si->restock_id[0] = 0;
        if (r < 0) {
            return r;
        }
    }
    return 0;
}
