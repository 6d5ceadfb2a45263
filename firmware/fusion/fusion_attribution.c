/* SPDX-License-Identifier: MIT */
/* Attribution: who took a tag that left a shelf, with what confidence, or nobody. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"

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
        struct session *s = t->session ? fusion__session_no(f, t->session) : NULL;
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
    int r = fusion__emit(f, &ev);
    if (r < 0) {
        return r;
    }
    fusion__memo_add(f, MEMO_REMOVED, p->line.epc, p->line.epc_len, "", p->line.ev.shelf,
                     p->removed_us, p->line.ev.removed_wall_us);
    return 0;
}

static int
pickup(struct sk_fusion *f, struct pending *p, struct cand *c, size_t n, int rule, size_t chosen)
{
    struct cand *w = &c[chosen];
    struct cand *r = n > 1 ? &c[chosen == 0 ? 1 : 0] : NULL;
    struct session *s = w->session ? fusion__session_no(f, w->session) : NULL;
    int rc;
    if (!s) {
        /* A track nobody saw enter took it: a shopper whose entry the camera missed. */
        int64_t born = w->track->born_us;
        s = fusion__session_open(f, w->track, NULL, born, fusion__to_wall(f, born));
        if (!s) {
            /* fusion.max_sessions are open (logged, counted): nobody can be charged. */
            return removal(f, p);
        }
        if (w->track->lost_us) {
            s->pub.state = SK_SESSION_LOST;
            s->pub.lost_mono_us = w->track->lost_us;
        }
        struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                     .what = SK_SESSION_OPENED,
                                     .mono_us = born,
                                     .session = &s->pub};
        if ((rc = fusion__emit(f, &ev)) < 0) {
            return rc;
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
        struct session *rs = r->session ? fusion__session_no(f, r->session) : NULL;
        snprintf(e->runner_session, sizeof(e->runner_session), "%s", rs ? rs->pub.id : "");
        e->runner_track = r->track->id;
        e->runner_score = r->rank;
    }
    struct sighting *g = fusion__sighting_find(f, p->line.epc, p->line.epc_len);
    if (g) {
        e->exit_seen_wall_us = g->wall_us;
        fusion__sighting_drop(f, g);
    }
    if (s->pub.state == SK_SESSION_EXITING && p->removed_us > s->pub.exit_mono_us) {
        s->pub.review |= SK_REVIEW_LATE_ITEM;
    }
    s->pub.last_mono_us =
            s->pub.last_mono_us > p->departed_us ? s->pub.last_mono_us : p->departed_us;
    /* A cart that cannot take the line flags its checkout cart_full (logged, counted); the
     * pickup is still a fact. */
    (void)fusion__cart_add(f, s, &p->line);
    f->stats.pickups++;
    struct sk_fusion_event ev = {.type = SK_FEV_PICKUP,
                                 .mono_us = p->removed_us,
                                 .wall_us = e->removed_wall_us,
                                 .session = &s->pub,
                                 .line = &p->line,
                                 .shelf = e->shelf};
    return fusion__emit(f, &ev);
}

int fusion__decide(struct sk_fusion *f, struct pending *p, int64_t now, bool force)
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

int fusion__decide_all(struct sk_fusion *f)
{
    int64_t now = fusion__now(f);
    for (size_t i = 0; i < f->n_pending;) {
        int r = fusion__decide(f, &f->pending[i], now, false);
        if (r < 0) {
            return r;
        }
        if (r == 1) {
            fusion__pending_drop(f, &f->pending[i]);
        } else {
            i++;
        }
    }
    return 0;
}
