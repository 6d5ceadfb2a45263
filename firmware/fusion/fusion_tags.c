/* SPDX-License-Identifier: MIT */
/* Tags leaving and arriving: attribution of pickups, put-backs, misplaced items, exit portal. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/log.h"

/*
 * Attribution (docs/fusion.md has the same rule in prose).
 *
 * The presence filter reports a departure hold_ms (the shelf preset's) after the tag was last
 * read, so the item left at about t = departure - hold: within the removal interval
 * K = [t - poll, t + 2 poll] (a tag may go unread for a poll or two before it is gone). Every
 * track's stays in the shelf's zone are compared with it:
 *
 *   proximity  1 when a stay meets K, falling linearly to 0 at pick_before_ms before it or
 *              pick_after_ms after it: was the shopper at the shelf when the item left?
 *   before     the share of [t - pick_before_ms, t] spent in the zone: was the shopper
 *              there long enough to have stepped up and reached?
 *   after      the share of [t, t + pick_after_ms] spent in the zone: or walking away?
 *   rank       0.5 proximity + 0.25 before + 0.25 after
 *
 * A stay that ended because the track vanished inside the zone goes on (counting
 * LOST_WEIGHT) until the shopper's next track appeared, or while nobody knows yet, up to the
 * join window. The tracks of one session count as one candidate, with their best stay.
 *
 *   one candidate                          -> it                          (rule "only")
 *   best rank leads the second by TIE_BAND -> the best                    (rule "dwell")
 *   else, one clearly nearer the zone's centre (by 15 %) -> the nearer   (rule "nearest")
 *   else the one that entered the zone first: there longest before t     (rule "longest")
 *
 * confidence = proximity of the chosen one, times (0.5 + 0.5 (r1 - r2) / r1) when there was a
 * runner-up (r1, r2 the two ranks; 0 separation when a tie rule decided): 1.0 for one shopper
 * at the shelf, about 0.5 for two equally present. The runner-up, its rank, the rule and the
 * candidate count stay in the evidence.
 *
 * A decision waits until the window has passed, and while a candidate's track may still be
 * joined to a session (lost inside the window, or new and not yet joined), bounded by
 * fusion.unattributed_grace_ms after the departure. Without any candidate by then the removal
 * is unattributed (or a staff removal when the shelf was being restocked).
 */

struct cand {
    uint64_t session; /* 0: an orphan track */
    struct track *track;
    float prox;          /* presence at the removal, 0..1 */
    float before, after; /* shares of the time before and after it spent in the zone */
    float rank;          /* 0.5 prox + 0.25 before + 0.25 after: the order of candidates */
    bool lost;
    float dist; /* from the zone's centre, < 0 unknown */
    int64_t enter_us;
};

#define CANDS_MAX 32

static int64_t overlap(int64_t a0, int64_t a1, int64_t b0, int64_t b1)
{
    int64_t lo = a0 > b0 ? a0 : b0, hi = a1 < b1 ? a1 : b1;
    return hi > lo ? hi - lo : 0;
}

/* How close [a0, a1] comes to the removal interval [k0, k1]: 1 when they meet, falling to 0
 * at before (earlier) or after (later) away. */
static float
proximity(int64_t a0, int64_t a1, int64_t k0, int64_t k1, int64_t before, int64_t after)
{
    if (a1 < a0) {
        return 0;
    }
    if (a1 >= k0 && a0 <= k1) {
        return 1;
    }
    int64_t gap = a1 < k0 ? k0 - a1 : a0 - k1;
    int64_t span = a1 < k0 ? before : after;
    return span > 0 && gap < span ? 1.0f - (float)gap / (float)span : 0;
}

/* When the shopper of a track lost at lost_us was seen again (its session's join), or -1. */
static int64_t rejoined_at(const struct session *s, const struct track *t)
{
    const struct sk_fusion_session *p = &s->pub;
    size_t n = p->n_joins < SK_FUSION_JOINS_MAX ? p->n_joins : SK_FUSION_JOINS_MAX;
    for (size_t k = 0; k < n; k++) {
        if (p->joins[k].old_track == t->id && strcmp(p->joins[k].camera, t->camera) == 0) {
            return t->lost_us + p->joins[k].gap_ms * 1000;
        }
    }
    return -1;
}

/*
 * Scores every track's stays in zone around the removal at t (proximity within before/after,
 * removal interval [t - poll, t + 2 poll]: the tag may have gone unread for a poll or two).
 * Returns the candidate count; sets *unresolved when the picture may still change.
 */
static size_t
gather(struct sk_fusion *f, const struct pending *p, int64_t now, struct cand *c, bool *unresolved)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    const struct shelf_info *si = &f->shelves[p->shelf];
    int zone = si->zone;
    int64_t window = (int64_t)fc->join_window_ms * 1000;
    int64_t before = (int64_t)fc->pick_before_ms * 1000, after = (int64_t)fc->pick_after_ms * 1000;
    int64_t w0 = p->removed_us - before;
    int64_t k0 = p->removed_us - si->poll_us, k1 = p->removed_us + 2 * si->poll_us;
    int64_t at = p->removed_us, w1 = at + after;
    int64_t before_len = at - w0 > 0 ? at - w0 : 1, after_len = w1 - at > 0 ? w1 - at : 1;
    size_t n = 0;
    *unresolved = false;
    if (zone < 0) {
        return 0;
    }
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (!t->used) {
            continue;
        }
        struct session *s = t->session ? sk_fusion_session_no(f, t->session) : NULL;
        if (t->session && !s) {
            continue; /* its session checked out or was abandoned */
        }
        struct cand best = {.dist = -1};
        unsigned nv = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
        for (unsigned k = 0; k < nv; k++) {
            const struct zone_visit *v = &t->visits[k];
            if (v->zone != zone) {
                continue;
            }
            int64_t end = v->leave_us == NEVER ? now : v->leave_us;
            int64_t ext_end = end;
            if (v->by_loss) {
                int64_t back = s ? rejoined_at(s, t) : -1;
                if (back >= 0) {
                    ext_end = back;
                } else if (s && s->pub.state == SK_SESSION_LOST && s->pub.track_id == t->id) {
                    ext_end = v->leave_us + window < now ? v->leave_us + window : now;
                    if (now < v->leave_us + window && v->leave_us + window > w0) {
                        *unresolved = true;
                    }
                }
            }
            float prox = proximity(v->enter_us, end, k0, k1, before, after);
            float prox_ext = ext_end > end
                                     ? LOST_WEIGHT * proximity(end, ext_end, k0, k1, before, after)
                                     : 0;
            float cov_b = (float)((double)overlap(v->enter_us, end, w0, at) +
                                  LOST_WEIGHT * (double)overlap(end, ext_end, w0, at)) /
                          (float)before_len;
            float cov_a = (float)((double)overlap(v->enter_us, end, at, w1) +
                                  LOST_WEIGHT * (double)overlap(end, ext_end, at, w1)) /
                          (float)after_len;
            struct cand cv = {
                    .prox = prox > prox_ext ? prox : prox_ext,
                    .before = cov_b > 1 ? 1 : cov_b,
                    .after = cov_a > 1 ? 1 : cov_a,
                    .lost = prox_ext > prox,
                    .enter_us = v->enter_us,
                    .dist = v->has_pos ? hypotf(v->x - f->zone_cx[zone], v->y - f->zone_cy[zone])
                                       : -1};
            cv.rank = 0.5f * cv.prox + 0.25f * cv.before + 0.25f * cv.after;
            if (cv.prox > 0 && cv.rank > best.rank) {
                best = cv;
            }
        }
        if (best.prox <= 0) {
            continue;
        }
        if (!t->session && t->join_pending && !t->lost_us) {
            *unresolved = true; /* may yet turn out to be a lost session's shopper */
        }
        best.session = t->session;
        best.track = t;
        size_t j = 0;
        for (; j < n && (!best.session || c[j].session != best.session); j++) {
        }
        if (j < n) {
            if (best.rank > c[j].rank) {
                c[j] = best;
            }
        } else if (n < CANDS_MAX) {
            c[n++] = best;
        }
    }
    return n;
}

static int by_rank(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->rank != y->rank) {
        return x->rank < y->rank ? 1 : -1;
    }
    return x->enter_us < y->enter_us ? 1 : (x->enter_us > y->enter_us ? -1 : 0);
}

static struct sighting *sighting_find(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    for (size_t i = 0; i < f->n_sightings; i++) {
        if (sk_fusion_epc_equal(f->sightings[i].epc, f->sightings[i].epc_len, epc, len)) {
            return &f->sightings[i];
        }
    }
    return NULL;
}

static void sighting_drop(struct sk_fusion *f, struct sighting *g)
{
    size_t i = (size_t)(g - f->sightings);
    memmove(g, g + 1, (f->n_sightings - i - 1) * sizeof(*g));
    f->n_sightings--;
    f->dirty = true;
}

static int
pickup(struct sk_fusion *f, struct pending *p, struct cand *c, size_t n, int rule, size_t chosen)
{
    struct cand *w = &c[chosen];
    struct cand *r = n > 1 ? &c[chosen == 0 ? 1 : 0] : NULL;
    struct session *s = w->session ? sk_fusion_session_no(f, w->session) : NULL;
    if (!s) {
        /* A track nobody saw enter took it: a shopper whose entry the camera missed. */
        int64_t born = w->track->born_us;
        s = sk_fusion_session_open(f, w->track, NULL, born, sk_fusion_to_wall(f, born));
        if (!s) {
            return -ENOSPC;
        }
        if (w->track->lost_us) {
            s->pub.state = SK_SESSION_LOST;
            s->pub.lost_mono_us = w->track->lost_us;
        }
        struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                     .what = SK_SESSION_OPENED,
                                     .mono_us = born,
                                     .session = &s->pub};
        if (sk_fusion_emit(f, &ev) < 0) {
            return f->err;
        }
    }
    struct sk_fusion_evidence *e = &p->line.ev;
    snprintf(e->camera, sizeof(e->camera), "%s", w->track->camera);
    e->track_id = w->track->id;
    e->score = w->rank;
    float sep = r && w->rank > 0 ? (w->rank - r->rank) / w->rank : 1;
    if (sep < 0) {
        sep = 0; /* a tie rule chose the lower-ranked one */
    }
    e->confidence = w->prox * (r ? 0.5f + 0.5f * sep : 1.0f);
    e->rule = (uint8_t)rule;
    e->candidates = (uint8_t)(n > 255 ? 255 : n);
    e->lost_track = w->lost;
    if (r) {
        struct session *rs = r->session ? sk_fusion_session_no(f, r->session) : NULL;
        snprintf(e->runner_session, sizeof(e->runner_session), "%s", rs ? rs->pub.id : "");
        e->runner_track = r->track->id;
        e->runner_score = r->rank;
    }
    struct sighting *g = sighting_find(f, p->line.epc, p->line.epc_len);
    if (g) {
        e->exit_seen_wall_us = g->wall_us;
        sighting_drop(f, g);
    }
    if (s->pub.state == SK_SESSION_EXITING && p->removed_us > s->pub.exit_mono_us) {
        s->pub.review |= SK_REVIEW_LATE_ITEM;
    }
    s->pub.last_mono_us =
            s->pub.last_mono_us > p->departed_us ? s->pub.last_mono_us : p->departed_us;
    sk_fusion_cart_add(f, s, &p->line);
    f->stats.pickups++;
    struct sk_fusion_event ev = {.type = SK_FEV_PICKUP,
                                 .mono_us = p->removed_us,
                                 .wall_us = e->removed_wall_us,
                                 .session = &s->pub,
                                 .line = &p->line,
                                 .shelf = e->shelf};
    sk_fusion_emit(f, &ev);
    return f->err;
}

static int removal(struct sk_fusion *f, struct pending *p)
{
    bool staff = p->restock;
    struct sk_fusion_event ev = {.type = SK_FEV_REMOVAL,
                                 .what = staff ? SK_REMOVAL_STAFF : SK_REMOVAL_UNATTRIBUTED,
                                 .mono_us = p->removed_us,
                                 .wall_us = p->line.ev.removed_wall_us,
                                 .line = &p->line,
                                 .shelf = p->line.ev.shelf};
    f->stats.removals++;
    if (sk_fusion_emit(f, &ev) < 0) {
        return f->err;
    }
    sk_fusion_memo_add(f, MEMO_REMOVED, p->line.epc, p->line.epc_len, "", p->line.ev.shelf,
                       p->removed_us, p->line.ev.removed_wall_us);
    return f->err;
}

/* Returns 1 when p was decided (and may be dropped), 0 when it waits, < 0 on error. */
static int decide(struct sk_fusion *f, struct pending *p, int64_t now, bool force)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t w1 = p->removed_us + (int64_t)fc->pick_after_ms * 1000;
    int64_t grace_end = p->departed_us + (int64_t)fc->unattributed_grace_ms * 1000;
    if (!force && now < w1) {
        return 0; /* the camera picture of the window is not complete yet */
    }
    struct cand c[CANDS_MAX];
    bool unresolved = false;
    size_t n = gather(f, p, now, c, &unresolved);
    if (!force && now < grace_end && (unresolved || n == 0)) {
        return 0;
    }
    int r;
    if (n == 0) {
        r = removal(f, p);
        return r < 0 ? r : 1;
    }
    qsort(c, n, sizeof(c[0]), by_rank);
    int rule = SK_RULE_ONLY;
    size_t chosen = 0;
    if (n > 1) {
        if (c[0].rank - c[1].rank >= TIE_BAND) {
            rule = SK_RULE_DWELL;
        } else if (c[0].dist >= 0 && c[1].dist >= 0 &&
                   fabsf(c[0].dist - c[1].dist) > 0.15f * fmaxf(c[0].dist, c[1].dist)) {
            rule = SK_RULE_NEAREST;
            chosen = c[1].dist < c[0].dist ? 1 : 0;
        } else {
            rule = SK_RULE_LONGEST;
            /* Of the two, the one who had been there longer had the time to choose and
             * reach; someone who just stepped up rarely has taken something yet. */
            if (c[1].enter_us < c[0].enter_us) {
                chosen = 1;
            }
        }
    }
    r = pickup(f, p, c, n, rule, chosen);
    return r < 0 ? r : 1;
}

static void pending_drop(struct sk_fusion *f, size_t i)
{
    memmove(&f->pending[i], &f->pending[i + 1], (f->n_pending - i - 1) * sizeof(f->pending[0]));
    f->n_pending--;
    f->dirty = true;
}

int sk_fusion_decide_all(struct sk_fusion *f)
{
    int64_t now = sk_fusion_now(f);
    for (size_t i = 0; i < f->n_pending;) {
        int r = decide(f, &f->pending[i], now, false);
        if (r < 0) {
            return r;
        }
        if (r == 1) {
            pending_drop(f, i);
        } else {
            i++;
        }
    }
    return f->err;
}

static struct pending *pending_find(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    for (size_t i = 0; i < f->n_pending; i++) {
        if (sk_fusion_epc_equal(f->pending[i].line.epc, f->pending[i].line.epc_len, epc, len)) {
            return &f->pending[i];
        }
    }
    return NULL;
}

static void
line_from_obs(struct sk_fusion *f, const struct sk_obs *obs, int shelf, struct sk_fusion_line *line)
{
    memset(line, 0, sizeof(*line));
    line->epc_len = obs->u.tag.epc_len;
    memcpy(line->epc, obs->u.tag.epc, line->epc_len);
    sk_fusion_lookup_product(f, line);
    if (shelf >= 0) {
        snprintf(line->ev.shelf, sizeof(line->ev.shelf), "%s", f->cfg->shelves[shelf].name);
    }
    snprintf(line->ev.reader, sizeof(line->ev.reader), "%s", obs->source);
    line->ev.antenna = obs->u.tag.antenna;
    line->ev.reads = obs->u.tag.reads;
}

int sk_fusion_tag_departed(struct sk_fusion *f, const struct sk_obs *obs, int shelf)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = obs->mono_us ? obs->mono_us : sk_fusion_now(f);
    int64_t wall = obs->wall_us ? obs->wall_us : sk_fusion_to_wall(f, mono);
    int b = sk_fusion_badge(f, epc, len);
    if (b >= 0) {
        struct shelf_info *si = &f->shelves[shelf];
        if (si->restock_until_us == NEVER) {
            si->restock_until_us = mono + (int64_t)f->cfg->fusion.restock_linger_s * 1000000;
        }
        f->dirty = true;
        return 0;
    }
    struct place *pl = sk_fusion_place(f, epc, len);
    if (pl && pl->shelf != shelf) {
        return 0; /* it already arrived elsewhere: the late end of a move */
    }
    if (pl && pl->count > 1) {
        pl->count--; /* another antenna of the shelf still sees it */
        return 0;
    }
    if (pl) {
        sk_fusion_place_del(f, pl);
    }
    if (pending_find(f, epc, len)) {
        return 0;
    }
    if (f->n_pending == f->max_pending) {
        /* Bounded: the oldest undecided departure is decided with what is known now. */
        f->stats.dropped++;
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "fusion.max_pending (%zu) departures undecided; deciding the oldest early",
               f->max_pending);
        int r = decide(f, &f->pending[0], sk_fusion_now(f), true);
        if (r < 0) {
            return r;
        }
        pending_drop(f, 0);
    }
    struct pending *p = &f->pending[f->n_pending++];
    memset(p, 0, sizeof(*p));
    line_from_obs(f, obs, shelf, &p->line);
    p->shelf = shelf;
    p->departed_us = mono;
    /* The reader says when it last read the tag; without that, the preset's hold tells. */
    int64_t seen = obs->u.tag.last_seen_us;
    p->removed_us = seen > 0 && seen <= mono ? seen : mono - f->shelves[shelf].hold_us;
    p->line.ev.departed_wall_us = wall;
    p->line.ev.removed_wall_us = wall - (mono - p->removed_us);
    p->restock = sk_fusion_staff_at(f, shelf);
    f->dirty = true;
    if (pl) {
        sk_fusion_stock_change(f, shelf, &p->line, -1);
    }
    return f->err;
}

/* Finds the newest memo of epc with a kind in mask (1 << kind). */
static struct memo *memo_find(struct sk_fusion *f, const uint8_t *epc, size_t len, unsigned mask)
{
    for (size_t i = f->n_memos; i-- > 0;) {
        struct memo *m = &f->memos[(f->memo_head + i) % f->max_pending];
        if (m->kind && (mask & (1u << m->kind)) &&
            sk_fusion_epc_equal(m->epc, m->epc_len, epc, len)) {
            return m;
        }
    }
    return NULL;
}

void sk_fusion_memo_add(struct sk_fusion *f,
                        int kind,
                        const uint8_t *epc,
                        size_t len,
                        const char *session,
                        const char *shelf,
                        int64_t mono_us,
                        int64_t wall_us)
{
    struct memo *old = memo_find(f, epc, len, ~0u);
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
}

void sk_fusion_memo_forget(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    struct memo *m = memo_find(f, epc, len, ~0u);
    if (m) {
        m->kind = 0;
    }
}

void sk_fusion_memos_expire(struct sk_fusion *f)
{
    int64_t keep = (int64_t)f->cfg->fusion.sold_memory_s * 1000000;
    int64_t now = sk_fusion_now(f);
    while (f->n_memos) {
        struct memo *m = &f->memos[f->memo_head];
        if (m->kind && now - m->mono_us < keep) {
            break;
        }
        f->memo_head = (f->memo_head + 1) % f->max_pending;
        f->n_memos--;
    }
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
    return sk_fusion_emit(f, &ev);
}

int sk_fusion_tag_arrived(struct sk_fusion *f, const struct sk_obs *obs, int shelf)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = obs->mono_us ? obs->mono_us : sk_fusion_now(f);
    int64_t wall = obs->wall_us ? obs->wall_us : sk_fusion_to_wall(f, mono);
    const char *here = f->cfg->shelves[shelf].name;
    int b = sk_fusion_badge(f, epc, len);
    if (b >= 0) {
        struct shelf_info *si = &f->shelves[shelf];
        if (!si->restock_until_us || si->restock_implicit) {
            si->restock_start_us = wall;
        }
        si->restock_until_us = NEVER;
        si->restock_implicit = false;
        snprintf(si->restock_id, sizeof(si->restock_id), "%s", f->cfg->staff_badges[b].name);
        f->dirty = true;
        return 0;
    }
    struct place *pl = sk_fusion_place(f, epc, len);
    if (pl && pl->shelf == shelf) {
        if (pl->count < 255) {
            pl->count++;
        }
        return 0;
    }
    struct sk_fusion_line line;
    line_from_obs(f, obs, shelf, &line);
    bool misplaced = sk_fusion_home(f, shelf, line.product.sku) == 0;
    struct sighting *g = sighting_find(f, epc, len);
    if (g) {
        sighting_drop(f, g); /* back on a shelf: it did not leave */
    }
    if (pl) {
        /* Seen here before its departure from there was reported: moved between shelves
         * without entering a cart. */
        int from = pl->shelf;
        const char *from_name = f->cfg->shelves[from].name;
        sk_fusion_place_set(f, epc, len, shelf, 1);
        sk_fusion_stock_change(f, from, &line, -1);
        sk_fusion_stock_change(f, shelf, &line, +1);
        f->stats.putbacks++;
        struct sk_fusion_event ev = {.type = SK_FEV_PUTBACK,
                                     .what = SK_PUTBACK_MOVED,
                                     .mono_us = mono,
                                     .wall_us = wall,
                                     .line = &line,
                                     .shelf = here,
                                     .from_shelf = from_name,
                                     .misplaced = misplaced};
        if (sk_fusion_emit(f, &ev) < 0) {
            return f->err;
        }
        return misplaced ? emit_misplaced(f, &line, shelf, from_name, mono, wall) : f->err;
    }
    sk_fusion_place_set(f, epc, len, shelf, 1);
    struct pending *p = pending_find(f, epc, len);
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
        pending_drop(f, (size_t)(p - f->pending));
        sk_fusion_stock_change(f, shelf, &line, +1);
        if (origin == shelf) {
            return f->err;
        }
        ev.what = SK_PUTBACK_MOVED;
        ev.line = &line;
    } else if ((s = sk_fusion_cart_take(f, epc, len, &taken)) != NULL) {
        snprintf(from, sizeof(from), "%s", taken.ev.shelf);
        sk_fusion_stock_change(f, shelf, &line, +1);
        s->pub.last_mono_us = s->pub.last_mono_us > mono ? s->pub.last_mono_us : mono;
        ev.what = SK_PUTBACK_FROM_CART;
        ev.session = &s->pub;
        ev.line = &taken;
    } else if ((m = memo_find(f, epc, len,
                              1u << MEMO_SOLD | 1u << MEMO_REMOVED | 1u << MEMO_UNPAID)) != NULL) {
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
        sk_fusion_stock_change(f, shelf, &line, +1);
        ev.line = &line;
    } else {
        /* A tag nobody took from a shelf: new stock. Unannounced, it opens an implicit
         * restock on the shelf, which ends (with its restock event) when arrivals stop. */
        bool announced = sk_fusion_staff_at(f, shelf);
        if (!announced) {
            sk_fusion_restock_touch(f, shelf, mono, wall);
        }
        struct stock *st = sk_fusion_stock_entry(f, shelf, line.product.sku, true);
        if (st) {
            st->added++;
        }
        sk_fusion_stock_change(f, shelf, &line, +1);
        f->stats.restocks++;
        f->dirty = true;
        struct sk_fusion_event rev = {.type = SK_FEV_RESTOCK,
                                      .what = announced ? 1 : 0,
                                      .mono_us = mono,
                                      .wall_us = wall,
                                      .line = &line,
                                      .shelf = here,
                                      .misplaced = misplaced};
        if (sk_fusion_emit(f, &rev) < 0) {
            return f->err;
        }
        return misplaced ? emit_misplaced(f, &line, shelf, NULL, mono, wall) : f->err;
    }
    ev.from_shelf = from[0] ? from : NULL;
    f->stats.putbacks++;
    if (sk_fusion_emit(f, &ev) < 0) {
        return f->err;
    }
    return misplaced ? emit_misplaced(f, &line, shelf, ev.from_shelf, mono, wall) : f->err;
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
        sk_fusion_session_dirty(f, s);
    }
    if (s->pub.state == SK_SESSION_LOST) {
        s->pub.review |= SK_REVIEW_PORTAL_EXIT;
        sk_fusion_session_exit(f, s, mono, wall, "");
    }
}

int sk_fusion_exit_seen(struct sk_fusion *f, const struct sk_obs *obs)
{
    const uint8_t *epc = obs->u.tag.epc;
    size_t len = obs->u.tag.epc_len;
    int64_t mono = obs->mono_us ? obs->mono_us : sk_fusion_now(f);
    int64_t wall = obs->wall_us ? obs->wall_us : sk_fusion_to_wall(f, mono);
    if (sk_fusion_badge(f, epc, len) >= 0 || sighting_find(f, epc, len)) {
        return 0;
    }
    struct session *s = NULL;
    struct sk_fusion_line *l = sk_fusion_cart_find(f, epc, len, &s);
    if (l) {
        confirm_exit(f, s, l, mono, wall);
        return 0;
    }
    if (memo_find(f, epc, len, 1u << MEMO_SOLD | 1u << MEMO_UNPAID)) {
        return 0; /* paid for, or already reported */
    }
    if (f->n_sightings == f->max_pending) {
        f->stats.dropped++;
        sk_log(SK_LOG_WARNING, "fusion", obs->source,
               "fusion.max_pending exit sightings wait; forgetting the oldest");
        sighting_drop(f, &f->sightings[0]);
    }
    struct sighting *g = &f->sightings[f->n_sightings++];
    memset(g, 0, sizeof(*g));
    memcpy(g->epc, epc, len);
    g->epc_len = (uint8_t)len;
    snprintf(g->reader, sizeof(g->reader), "%s", obs->source);
    g->mono_us = mono;
    g->wall_us = wall;
    f->dirty = true;
    return 0;
}

int sk_fusion_sightings_tick(struct sk_fusion *f)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t now = sk_fusion_now(f);
    int64_t grace = (int64_t)fc->exit_grace_ms * 1000;
    int64_t wait_max = grace + (int64_t)fc->unattributed_grace_ms * 1000 + f->max_hold_us;
    struct sk_fusion_line *unpaid = NULL;
    size_t n_unpaid = 0;
    for (size_t i = 0; i < f->n_sightings;) {
        struct sighting *g = &f->sightings[i];
        struct session *s = NULL;
        struct sk_fusion_line *l = sk_fusion_cart_find(f, g->epc, g->epc_len, &s);
        if (l) {
            confirm_exit(f, s, l, g->mono_us, g->wall_us);
            sighting_drop(f, g);
            continue;
        }
        if (now - g->mono_us < grace ||
            (pending_find(f, g->epc, g->epc_len) && now - g->mono_us < wait_max)) {
            i++;
            continue;
        }
        if (!sk_fusion_place(f, g->epc, g->epc_len) &&
            !memo_find(f, g->epc, g->epc_len, 1u << MEMO_SOLD | 1u << MEMO_UNPAID)) {
            struct sk_fusion_line *u = realloc(unpaid, (n_unpaid + 1) * sizeof(*u));
            if (u) {
                unpaid = u;
                struct sk_fusion_line *line = &unpaid[n_unpaid++];
                memset(line, 0, sizeof(*line));
                memcpy(line->epc, g->epc, g->epc_len);
                line->epc_len = g->epc_len;
                sk_fusion_lookup_product(f, line);
                snprintf(line->ev.reader, sizeof(line->ev.reader), "%s", g->reader);
                line->ev.exit_seen_wall_us = g->wall_us;
                struct memo *m = memo_find(f, g->epc, g->epc_len, 1u << MEMO_REMOVED);
                if (m) {
                    snprintf(line->ev.shelf, sizeof(line->ev.shelf), "%s", m->shelf);
                    line->ev.removed_wall_us = m->wall_us;
                }
            } else {
                f->stats.dropped++;
            }
        }
        sighting_drop(f, g);
    }
    if (n_unpaid) {
        f->stats.exits_unpaid += n_unpaid;
        struct sk_fusion_event ev = {.type = SK_FEV_EXIT_WITHOUT_CHECKOUT,
                                     .mono_us = now,
                                     .items = unpaid,
                                     .n_items = n_unpaid};
        if (sk_fusion_emit(f, &ev) == 0) {
            for (size_t k = 0; k < n_unpaid; k++) {
                sk_fusion_memo_add(f, MEMO_UNPAID, unpaid[k].epc, unpaid[k].epc_len, "",
                                   unpaid[k].ev.shelf, now, ev.wall_us);
            }
        }
        sk_log(SK_LOG_WARNING, "fusion", NULL, "%zu item(s) left through the exit unpaid",
               n_unpaid);
    }
    free(unpaid);
    return f->err;
}
