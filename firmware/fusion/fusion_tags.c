/* SPDX-License-Identifier: MIT */
/* Tags leaving and arriving on shelves (pickups, put-backs, moves, restock), the exit portal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/log.h"

/*
 * A departure becomes an undecided pickup (fusion_attribution.c decides it); an arrival is
 * sorted by where the tag was (docs/fusion.md, "Arrivals"); the exit portal's reads confirm
 * cart lines or, when no cart claims them in time, become an exit without checkout.
 */

static void
line_from_obs(struct sk_fusion *f, const struct sk_obs *obs, int shelf, struct sk_fusion_line *line)
{
    memset(line, 0, sizeof(*line));
    line->epc_len = obs->u.tag.epc_len;
    memcpy(line->epc, obs->u.tag.epc, line->epc_len);
    fusion__lookup_product(f, line);
    if (shelf >= 0) {
        snprintf(line->ev.shelf, sizeof(line->ev.shelf), "%s", f->cfg->shelves[shelf].name);
    }
    snprintf(line->ev.reader, sizeof(line->ev.reader), "%s", obs->source);
    line->ev.antenna = obs->u.tag.antenna;
    line->ev.reads = obs->u.tag.reads;
}

int fusion__tag_departed(struct sk_fusion *f, const struct sk_obs *obs, int shelf)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = fusion__obs_mono(f, obs);
    int64_t wall = fusion__obs_wall(f, obs);
    if (fusion__badge(f, epc, len) >= 0) {
        fusion__badge_departed(f, shelf, mono);
        return 0;
    }
    struct place *pl = fusion__place(f, epc, len);
    if (pl && pl->shelf != shelf) {
        return 0; /* it already arrived elsewhere: the late end of a move */
    }
    if (pl && pl->count > 1) {
        pl->count--; /* another antenna of the shelf still sees it */
        return 0;
    }
    if (pl) {
        fusion__place_del(f, pl);
    }
    if (fusion__pending_find(f, epc, len)) {
        return 0;
    }
    if (f->n_pending == f->max_pending) {
        /* Bounded: the oldest undecided departure is decided with what is known now. */
        f->stats.dropped++;
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "fusion.max_pending (%zu) departures undecided; deciding the oldest early",
               f->max_pending);
        int r = fusion__decide(f, &f->pending[0], fusion__now(f), true);
        if (r < 0) {
            return r;
        }
        fusion__pending_drop(f, &f->pending[0]);
    }
    struct pending *p = fusion__pending_add(f);
    line_from_obs(f, obs, shelf, &p->line);
    p->shelf = shelf;
    p->departed_us = mono;
    /* The reader says when it last read the tag and which poll first missed it: the removal
     * interval. Without those, the preset's hold tells, and one poll. */
    int64_t seen = obs->u.tag.last_seen_us, missed = obs->u.tag.first_missed_us;
    p->removed_us = seen > 0 && seen <= mono ? seen : mono - f->shelves[shelf].hold_us;
    p->missed_us = missed > 0 && missed > p->removed_us && missed <= mono
                           ? missed
                           : p->removed_us + f->shelves[shelf].poll_us;
    p->line.ev.departed_wall_us = wall;
    p->line.ev.removed_wall_us = wall - (mono - p->removed_us);
    p->line.ev.missed_wall_us = wall - (mono - p->missed_us);
    p->restock = fusion__staff_at(f, shelf);
    if (pl) {
        fusion__stock_change(f, shelf, &p->line, -1);
    }
    return 0;
}

static int emit_misplaced(struct sk_fusion *f,
                          const struct sk_fusion_line *line,
                          int shelf,
                          const char *from,
                          int64_t mono,
                          int64_t wall)
{
    f->stats.misplaced++;
    struct sk_fusion_event ev = {.type = SK_FEV_MISPLACED,
                                 .mono_us = mono,
                                 .wall_us = wall,
                                 .line = line,
                                 .shelf = f->cfg->shelves[shelf].name,
                                 .from_shelf = from,
                                 .misplaced = true};
    return fusion__emit(f, &ev);
}

/*
 * True when the book already holds this arrival: the expected stock of its product on the
 * shelf is at least the number of its tags present there, this one included. The first fill
 * counted by hand (docs/operator.md, step 6) and then seen by the readers is the case: 24
 * booked, 5 tags arrive, 24 expected and 5 seen, not 29. A product the catalog does not
 * know, or an unknown expected stock, is new stock as before.
 */
static bool booked_already(struct sk_fusion *f, int shelf, const struct sk_fusion_line *line)
{
    if (!line->product.sku[0]) {
        return false;
    }
    int expected = fusion__expected(f, shelf, line->product.sku);
    if (expected <= 0) {
        return false;
    }
    struct stock *st = fusion__stock_entry(f, shelf, line->product.sku, false);
    int present = (st ? st->count : 0) + 1;
    return expected >= present;
}

int fusion__tag_arrived(struct sk_fusion *f, const struct sk_obs *obs, int shelf)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = fusion__obs_mono(f, obs);
    int64_t wall = fusion__obs_wall(f, obs);
    const char *here = f->cfg->shelves[shelf].name;
    int r;
    int b = fusion__badge(f, epc, len);
    if (b >= 0) {
        fusion__badge_arrived(f, shelf, b, wall);
        return 0;
    }
    struct place *pl = fusion__place(f, epc, len);
    if (pl && pl->shelf == shelf) {
        if (pl->count < 255) {
            pl->count++;
        }
        return 0;
    }
    /* Remembered: a reach that put this tag down is no take (a stocker, a put-back). */
    struct shelf_info *si = &f->shelves[shelf];
    unsigned slot = si->n_arrivals++ % ARRIVALS_MAX;
    si->arrivals[slot] = mono;
    /* After an outage the put lies anywhere since the last poll before it: the reach that
     * put it down may have ended long before the reader could report it. */
    int64_t absent = obs->u.tag.absent_us;
    si->arrival_lo[slot] = absent > 0 && absent < mono ? absent : mono;
    si->arrival_from[slot] = 0;
    struct sk_fusion_line line;
    line_from_obs(f, obs, shelf, &line);
    bool misplaced = fusion__home(f, shelf, line.product.sku) == 0;
    struct sighting *g = fusion__sighting_find(f, epc, len);
    if (g) {
        fusion__sighting_drop(f, g); /* back on a shelf: it did not leave */
    }
    if (pl) {
        /* Seen here before its departure from there was reported: moved between shelves
         * without entering a cart. */
        int from = pl->shelf;
        const char *from_name = f->cfg->shelves[from].name;
        if ((r = fusion__place_set(f, epc, len, shelf, 1)) < 0) {
            return r;
        }
        fusion__stock_change(f, from, &line, -1);
        fusion__stock_change(f, shelf, &line, +1);
        f->stats.putbacks++;
        struct sk_fusion_event ev = {.type = SK_FEV_PUTBACK,
                                     .what = SK_PUTBACK_MOVED,
                                     .mono_us = mono,
                                     .wall_us = wall,
                                     .line = &line,
                                     .shelf = here,
                                     .from_shelf = from_name,
                                     .misplaced = misplaced};
        if ((r = fusion__emit(f, &ev)) < 0) {
            return r;
        }
        return misplaced ? emit_misplaced(f, &line, shelf, from_name, mono, wall) : 0;
    }
    if ((r = fusion__place_set(f, epc, len, shelf, 1)) < 0) {
        return r;
    }
    struct pending *p = fusion__pending_find(f, epc, len);
    struct sk_fusion_event ev = {.type = SK_FEV_PUTBACK,
                                 .mono_us = mono,
                                 .wall_us = wall,
                                 .shelf = here,
                                 .misplaced = misplaced};
    char from[SK_NAME_MAX] = "";
    char ref[SK_FUSION_ID_LEN + 1] = "";
    struct sk_fusion_line taken;
    struct session *s = NULL;
    struct memo *m = NULL;
    if (p) {
        /* Lifted and set down again before anyone was charged: no pickup happened. */
        snprintf(from, sizeof(from), "%s", p->line.ev.shelf);
        int origin = p->shelf;
        fusion__pending_drop(f, p);
        fusion__stock_change(f, shelf, &line, +1);
        if (origin == shelf) {
            return 0;
        }
        ev.what = SK_PUTBACK_MOVED;
        ev.line = &line;
    } else if ((s = fusion__cart_take(f, epc, len, &taken)) != NULL) {
        snprintf(from, sizeof(from), "%s", taken.ev.shelf);
        fusion__stock_change(f, shelf, &line, +1);
        s->pub.last_mono_us = s->pub.last_mono_us > mono ? s->pub.last_mono_us : mono;
        ev.what = SK_PUTBACK_FROM_CART;
        ev.session = &s->pub;
        ev.line = &taken;
        si->arrival_from[slot] = s->no; /* whose hand put it: the tag says */
    } else if ((m = fusion__memo_find(f, epc, len,
                                      1u << MEMO_SOLD | 1u << MEMO_REMOVED | 1u << MEMO_UNPAID)) !=
               NULL) {
        snprintf(from, sizeof(from), "%s", m->shelf);
        if (m->kind == MEMO_SOLD) {
            snprintf(ref, sizeof(ref), "%s", m->session);
            ev.what = SK_PUTBACK_AFTER_CHECKOUT;
            ev.ref_session = ref;
        } else {
            ev.what = SK_PUTBACK_AFTER_REMOVAL;
            if (m->session[0]) {
                snprintf(ref, sizeof(ref), "%s", m->session);
                ev.ref_session = ref;
            }
        }
        m->kind = 0;
        fusion__stock_change(f, shelf, &line, +1);
        ev.line = &line;
    } else if (booked_already(f, shelf, &line)) {
        /* Stock the book already has (a hand count of the first fill, an adjustment) comes
         * into the readers' view: present now, not new. */
        fusion__stock_change(f, shelf, &line, +1);
        f->stats.arrivals_booked++;
        f->dirty = true;
        return misplaced ? emit_misplaced(f, &line, shelf, NULL, mono, wall) : 0;
    } else {
        /* A tag nobody took from a shelf: new stock. Unannounced, it opens an implicit
         * restock on the shelf, which ends (with its restock event) when arrivals stop. */
        bool announced = fusion__staff_at(f, shelf);
        if (!announced) {
            fusion__restock_touch(f, shelf, mono, wall);
        }
        struct stock *st = fusion__stock_entry(f, shelf, line.product.sku, true);
        if (st) {
            st->added++;
        }
        fusion__stock_change(f, shelf, &line, +1);
        f->stats.restocks++;
        f->dirty = true;
        struct sk_fusion_event rev = {.type = SK_FEV_RESTOCK,
                                      .what = announced ? 1 : 0,
                                      .mono_us = mono,
                                      .wall_us = wall,
                                      .line = &line,
                                      .shelf = here,
                                      .misplaced = misplaced};
        if ((r = fusion__emit(f, &rev)) < 0) {
            return r;
        }
        return misplaced ? emit_misplaced(f, &line, shelf, NULL, mono, wall) : 0;
    }
    ev.from_shelf = from[0] ? from : NULL;
    f->stats.putbacks++;
    if ((r = fusion__emit(f, &ev)) < 0) {
        return r;
    }
    return misplaced ? emit_misplaced(f, &line, shelf, ev.from_shelf, mono, wall) : 0;
}

/* The exit portal confirms a cart's item; a lost session whose item leaves is leaving. */
static void confirm_exit(struct sk_fusion *f,
                         struct session *s,
                         struct sk_fusion_line *l,
                         int64_t mono,
                         int64_t wall)
{
    if (!l->ev.exit_seen_wall_us) {
        l->ev.exit_seen_wall_us = wall;
        fusion__session_dirty(f, s);
    }
    if (s->pub.state == SK_SESSION_LOST) {
        s->pub.review |= SK_REVIEW_PORTAL_EXIT;
        fusion__session_exit(f, s, mono, wall, "");
    }
}

int fusion__exit_seen(struct sk_fusion *f, const struct sk_obs *obs)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = fusion__obs_mono(f, obs);
    int64_t wall = fusion__obs_wall(f, obs);
    if (fusion__badge(f, epc, len) >= 0 || fusion__sighting_find(f, epc, len)) {
        return 0;
    }
    struct session *s = NULL;
    struct sk_fusion_line *l = fusion__cart_find(f, epc, len, &s);
    if (l) {
        confirm_exit(f, s, l, mono, wall);
        return 0;
    }
    if (fusion__memo_find(f, epc, len, 1u << MEMO_SOLD | 1u << MEMO_UNPAID)) {
        return 0; /* paid for, or already reported */
    }
    struct sighting *g = fusion__sighting_add(f);
    memcpy(g->epc, epc, len);
    g->epc_len = (uint8_t)len;
    snprintf(g->reader, sizeof(g->reader), "%s", obs->source);
    g->mono_us = mono;
    g->wall_us = wall;
    return 0;
}

int fusion__sightings_tick(struct sk_fusion *f)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t now = fusion__now(f);
    int64_t grace = (int64_t)fc->exit_grace_ms * 1000;
    int64_t wait_max = grace + (int64_t)fc->unattributed_grace_ms * 1000 + f->max_hold_us;
    struct sk_fusion_line *unpaid = NULL;
    size_t n_unpaid = 0;
    for (size_t i = 0; i < f->n_sightings;) {
        struct sighting *g = &f->sightings[i];
        struct session *s = NULL;
        struct sk_fusion_line *l = fusion__cart_find(f, g->epc, g->epc_len, &s);
        if (l) {
            confirm_exit(f, s, l, g->mono_us, g->wall_us);
            fusion__sighting_drop(f, g);
            continue;
        }
        if (now - g->mono_us < grace ||
            (fusion__pending_find(f, g->epc, g->epc_len) && now - g->mono_us < wait_max)) {
            i++;
            continue;
        }
        if (!fusion__place(f, g->epc, g->epc_len) &&
            !fusion__memo_find(f, g->epc, g->epc_len, 1u << MEMO_SOLD | 1u << MEMO_UNPAID)) {
            struct sk_fusion_line *u = realloc(unpaid, (n_unpaid + 1) * sizeof(*u));
            if (u) {
                unpaid = u;
                struct sk_fusion_line *line = &unpaid[n_unpaid++];
                memset(line, 0, sizeof(*line));
                memcpy(line->epc, g->epc, g->epc_len);
                line->epc_len = g->epc_len;
                fusion__lookup_product(f, line);
                snprintf(line->ev.reader, sizeof(line->ev.reader), "%s", g->reader);
                line->ev.exit_seen_wall_us = g->wall_us;
                struct memo *m = fusion__memo_find(f, g->epc, g->epc_len, 1u << MEMO_REMOVED);
                if (m) {
                    snprintf(line->ev.shelf, sizeof(line->ev.shelf), "%s", m->shelf);
                    line->ev.removed_wall_us = m->wall_us;
                }
            } else {
                f->stats.dropped++;
            }
        }
        fusion__sighting_drop(f, g);
    }
    int r = 0;
    if (n_unpaid) {
        f->stats.exits_unpaid += n_unpaid;
        struct sk_fusion_event ev = {.type = SK_FEV_EXIT_WITHOUT_CHECKOUT,
                                     .mono_us = now,
                                     .items = unpaid,
                                     .n_items = n_unpaid};
        r = fusion__emit(f, &ev);
        for (size_t k = 0; r == 0 && k < n_unpaid; k++) {
            fusion__memo_add(f, false, MEMO_UNPAID, unpaid[k].epc, unpaid[k].epc_len, "",
                             unpaid[k].ev.shelf, now, ev.wall_us);
        }
        sk_log(SK_LOG_WARNING, "fusion", NULL, "%zu item(s) left through the exit unpaid",
               n_unpaid);
    }
    free(unpaid);
    return r;
}
