/* SPDX-License-Identifier: MIT */
/* Where tags are: on a shelf, gone and undecided, seen by the exit portal, or remembered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/log.h"

/*
 * A tag the engine knows of is in one of these places (or in a cart, fusion_sessions.c):
 *
 *   places     on a shelf: an open-addressing table EPC -> (shelf, antennas seeing it),
 *              rebuilt from the core's present-tag set at start and after a rollback, then
 *              kept by arrivals and departures. It answers "is this tag on a shelf, which
 *              one" in O(1), which tells a move between shelves (arrival here before the
 *              departure there) from a put-back.
 *   pending    left a shelf, not attributed yet (fusion_attribution.c decides them).
 *   sightings  read by the exit portal, not claimed by a cart yet.
 *   memos      off the shelves with a known fate (sold, written off, left unpaid), so a
 *              return is recognised; a ring of fusion.max_pending.
 *
 * The lists are bounded by fusion.max_pending each; the callers decide what a full one means.
 */

static uint64_t epc_hash(const uint8_t *epc, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ epc[i]) * 0x100000001b3ULL;
    }
    return h ^ (h >> 29);
}

struct place *fusion__place(struct sk_fusion *f, const uint8_t *epc, size_t len)
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
        if (p->epc_len && fusion__epc_equal(p->epc, p->epc_len, epc, len)) {
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

int fusion__place_set(struct sk_fusion *f, const uint8_t *epc, size_t len, int shelf, int count)
{
    struct place *p = fusion__place(f, epc, len);
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

void fusion__place_del(struct sk_fusion *f, struct place *p)
{
    p->epc_len = 0;
    p->tomb = true;
    f->places_used--;
    f->places_tombs++;
}

void fusion__places_clear(struct sk_fusion *f)
{
    if (f->places) {
        memset(f->places, 0, f->places_cap * sizeof(*f->places));
    }
    f->places_used = f->places_tombs = 0;
}

/* ---- undecided departures ----------------------------------------------------------------- */

struct pending *fusion__pending_find(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    for (size_t i = 0; i < f->n_pending; i++) {
        if (fusion__epc_equal(f->pending[i].line.epc, f->pending[i].line.epc_len, epc, len)) {
            return &f->pending[i];
        }
    }
    return NULL;
}

struct pending *fusion__pending_add(struct sk_fusion *f)
{
    struct pending *p = &f->pending[f->n_pending++];
    memset(p, 0, sizeof(*p));
    f->dirty = true;
    return p;
}

void fusion__pending_drop(struct sk_fusion *f, struct pending *p)
{
    size_t i = (size_t)(p - f->pending);
    memmove(&f->pending[i], &f->pending[i + 1], (f->n_pending - i - 1) * sizeof(f->pending[0]));
    f->n_pending--;
    f->dirty = true;
}

bool fusion__pending_before(const struct sk_fusion *f, int64_t t)
{
    for (size_t i = 0; i < f->n_pending; i++) {
        if (f->pending[i].removed_us <= t) {
            return true;
        }
    }
    return false;
}

/* ---- exit portal sightings -------------------------------------------------------------- */

struct sighting *fusion__sighting_find(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    for (size_t i = 0; i < f->n_sightings; i++) {
        if (fusion__epc_equal(f->sightings[i].epc, f->sightings[i].epc_len, epc, len)) {
            return &f->sightings[i];
        }
    }
    return NULL;
}

void fusion__sighting_drop(struct sk_fusion *f, struct sighting *g)
{
    size_t i = (size_t)(g - f->sightings);
    memmove(g, g + 1, (f->n_sightings - i - 1) * sizeof(*g));
    f->n_sightings--;
    f->dirty = true;
}

struct sighting *fusion__sighting_add(struct sk_fusion *f)
{
    if (f->n_sightings == f->max_pending) {
        f->stats.dropped++;
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "fusion.max_pending exit sightings wait; forgetting the oldest");
        fusion__sighting_drop(f, &f->sightings[0]);
    }
    struct sighting *g = &f->sightings[f->n_sightings++];
    memset(g, 0, sizeof(*g));
    f->dirty = true;
    return g;
}

/* ---- remembered fates ------------------------------------------------------------------- */

struct memo *fusion__memo_find(struct sk_fusion *f, const uint8_t *epc, size_t len, unsigned mask)
{
    for (size_t i = f->n_memos; i-- > 0;) {
        struct memo *m = &f->memos[(f->memo_head + i) % f->max_pending];
        if (m->kind && (mask & (1u << m->kind)) &&
            fusion__epc_equal(m->epc, m->epc_len, epc, len)) {
            return m;
        }
    }
    return NULL;
}

void fusion__memo_add(struct sk_fusion *f,
                      bool from_ledger,
                      int kind,
                      const uint8_t *epc,
                      size_t len,
                      const char *session,
                      const char *shelf,
                      int64_t mono_us,
                      int64_t wall_us)
{
    struct memo *old = fusion__memo_find(f, epc, len, ~0u);
    if (old) {
        old->kind = 0; /* the newest fate replaces older ones */
    }
    if (f->max_pending == 0) {
        return; /* sk_fusion_new makes it at least 1; never divide by it otherwise */
    }
    if (f->n_memos == f->max_pending) {
        f->memo_head = (f->memo_head + 1) % f->max_pending;
        f->n_memos--;
    }
    struct memo *m = &f->memos[(f->memo_head + f->n_memos++) % f->max_pending];
    memset(m, 0, sizeof(*m));
    memcpy(m->epc, epc, len);
    m->epc_len = (uint8_t)len;
    m->kind = (uint8_t)kind;
    snprintf(m->session, sizeof(m->session), "%s", session ? session : "");
    snprintf(m->shelf, sizeof(m->shelf), "%s", shelf ? shelf : "");
    m->mono_us = mono_us;
    m->wall_us = wall_us;
    if (from_ledger) {
        return; /* a movement recorded it: the tag maps to a product */
    }
    struct sk_fusion_line probe = {.epc_len = m->epc_len};
    memcpy(probe.epc, epc, len);
    fusion__lookup_product(f, &probe);
    m->unknown = !probe.known;
    if (m->unknown) {
        f->dirty = true; /* only the state can bring it back after a restart */
    }
}

void fusion__memo_forget(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    struct memo *m = fusion__memo_find(f, epc, len, ~0u);
    if (m) {
        m->kind = 0;
    }
}

void fusion__memos_expire(struct sk_fusion *f)
{
    int64_t keep = (int64_t)f->cfg->fusion.sold_memory_s * 1000000;
    int64_t now = fusion__now(f);
    while (f->n_memos) {
        struct memo *m = &f->memos[f->memo_head];
        if (m->kind && now - m->mono_us < keep) {
            break;
        }
        f->memo_head = (f->memo_head + 1) % f->max_pending;
        f->n_memos--;
    }
}
