/* SPDX-License-Identifier: MIT */
/* Fusion's bottom layer: the injected clock, emitting facts, the catalog, shelves, names. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/names.h"

/*
 * What every layer above needs and nothing calls back out of: time comes from the injected
 * clock (never the system's), facts leave through the emit callback, products come from the
 * catalog, shelves and badges from the configuration.
 */

int64_t fusion__now(const struct sk_fusion *f)
{
    return sk_clock_mono_us(f->clock);
}

int64_t fusion__wall(const struct sk_fusion *f)
{
    return sk_clock_wall_us(f->clock);
}

int64_t fusion__to_wall(const struct sk_fusion *f, int64_t mono_us)
{
    return fusion__wall(f) - (fusion__now(f) - mono_us);
}

int64_t fusion__obs_mono(const struct sk_fusion *f, const struct sk_obs *obs)
{
    return obs->mono_us ? obs->mono_us : fusion__now(f);
}

int64_t fusion__obs_wall(const struct sk_fusion *f, const struct sk_obs *obs)
{
    return obs->wall_us ? obs->wall_us : fusion__to_wall(f, fusion__obs_mono(f, obs));
}

int fusion__emit(struct sk_fusion *f, struct sk_fusion_event *ev)
{
    if (!ev->wall_us) {
        ev->wall_us = fusion__to_wall(f, ev->mono_us);
    }
    return f->emit ? f->emit(f->emit_ctx, ev) : 0;
}

bool fusion__epc_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

void fusion__lookup_product(struct sk_fusion *f, struct sk_fusion_line *line)
{
    memset(&line->product, 0, sizeof(line->product));
    line->known = false;
    if (f->catalog.product &&
        f->catalog.product(f->catalog.ctx, line->epc, line->epc_len, &line->product) == 0) {
        line->known = true;
        return;
    }
    /* Unknown tags are still items: their EPC stands in for the sku. */
    char hex[SK_EPC_HEX_MAX];
    sk_epc_to_hex(line->epc, line->epc_len, hex, sizeof(hex));
    snprintf(line->product.sku, sizeof(line->product.sku), "%.*s",
             (int)sizeof(line->product.sku) - 1, hex);
    line->product.restock_threshold = -1;
    line->product.restock_target = -1;
}

int fusion__expected(struct sk_fusion *f, int shelf, const char *sku)
{
    if (!f->catalog.expected || shelf < 0 || !sku || !sku[0]) {
        return -ENOENT;
    }
    return f->catalog.expected(f->catalog.ctx, f->cfg->shelves[shelf].name, sku);
}

int fusion__home(struct sk_fusion *f, int shelf, const char *sku)
{
    if (!f->catalog.planogram || shelf < 0) {
        return -ENOENT;
    }
    return f->catalog.planogram(f->catalog.ctx, f->cfg->shelves[shelf].name, sku);
}

int fusion__shelf_of(const struct sk_fusion *f, const char *reader, int antenna)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *s = &f->cfg->shelves[i];
        if (strcmp(s->reader, reader) == 0 && (s->antenna == 0 || s->antenna == antenna)) {
            return (int)i;
        }
    }
    return -1;
}

int fusion__shelf_named(const struct sk_fusion *f, const char *name)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        if (strcmp(f->cfg->shelves[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int fusion__badge(const struct sk_fusion *f, const uint8_t *epc, size_t len)
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

/* ---- static names for payloads and logs ------------------------------------------------ */

const char *sk_fusion_rule_name(int rule)
{
    static const char *const names[] = {[SK_RULE_ONLY] = "only",
                                        [SK_RULE_DWELL] = "dwell",
                                        [SK_RULE_NEAREST] = "nearest",
                                        [SK_RULE_LONGEST] = "longest",
                                        [SK_RULE_REACH] = "reach"};
    return SK_NAME_OF(names, rule, "none");
}

const char *sk_fusion_state_name(int state)
{
    static const char *const names[] = {[SK_SESSION_ACTIVE] = "active",
                                        [SK_SESSION_LOST] = "lost",
                                        [SK_SESSION_EXITING] = "exiting",
                                        [SK_SESSION_CLOSED] = "closed",
                                        [SK_SESSION_ABANDONED] = "abandoned"};
    return SK_NAME_OF(names, state, "unknown");
}

void sk_fusion_review_text(unsigned review, char *buf, size_t size)
{
    static const char *const names[] = {"low_confidence", "no_entry",      "unknown_product",
                                        "late_join",      "cart_full",     "portal_exit",
                                        "late_item",      "contested",     "unseen_taker",
                                        "camera_gap",     "reader_outage", "reentered"};
    size_t used = 0;
    if (size) {
        buf[0] = 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (review & (1u << i)) {
            int n = snprintf(buf + used, size > used ? size - used : 0, "%s%s", used ? "," : "",
                             names[i]);
            if (n > 0) {
                used += (size_t)n;
            }
        }
    }
}
