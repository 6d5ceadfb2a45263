/* SPDX-License-Identifier: MIT */
/* Attribution: who took a tag that left a shelf, with what confidence and doubt, or nobody. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"

/*
 * Attribution (docs/fusion.md has the same rule in prose, with worked examples).
 *
 * The removal interval. The presence filter says when the tag was last read (t0) and which
 * successful poll first missed it (t1): the item left within [t0, t1]. Normally that is one
 * poll; after an outage, a reader slower than the bus timeout or a stalled bus it is as wide
 * as the gap. Without those times, t0 = departure - hold and t1 = t0 + poll. Candidates are
 * weighed over K = [t0 - poll, t1 + poll] (a tag may go unread for a poll before it is gone):
 *
 *   proximity  1 when a stay in the shelf's zone meets K, falling linearly to 0 at
 *              pick_before_ms before it or pick_after_ms after it
 *   before     the share of [t0 - pick_before_ms, t0] spent in the zone
 *   after      the share of [a, a + pick_after_ms] spent there, a = max(t0, t1 - poll)
 *   rank       0.5 proximity + 0.25 before + 0.25 after
 *
 * A candidate is present when its stay meets K. A stay that ended because the track vanished
 * inside the zone goes on (counting LOST_WEIGHT) until the shopper's next track appeared, or
 * while nobody has seen the shopper since, up to GHOST_US (shoppers standing shoulder to
 * shoulder merge into one blob, and the tracker keeps one of them). The tracks of one session
 * count as one candidate, with their best stay.
 *
 * Reach. When the shelf's zone has a reach edge (zones.[].reach), the camera reports who
 * reached across it and when (SK_OBS_REACH). A candidate reached when one of its reaches
 * into the zone overlaps [t0 - REACH_SLACK, t1 + REACH_SLACK]; a reach during which a tag
 * arrived on the shelf is a put (a stocker, a put-back) when no other candidate reached then
 * or the tag came back from the reacher's own cart, so a reacher that is also a putter counts
 * only when nobody else reached. Then:
 *
 *   reachers (not putters)        -> the one whose reach holds the interval most centrally
 *                                    (the tag leaves while the hand is in the band, most
 *                                    likely half-way), then covers it most        ("reach")
 *   nobody reached                -> presence: one candidate ("only"), the best rank by
 *                                    TIE_BAND ("dwell"), the nearer to the zone's centre by
 *                                    15 % ("nearest"), else the one there longest ("longest")
 *
 * Without a reach edge the presence rules decide alone.
 *
 * Doubt. The line is contested when another candidate could have taken it: every other
 * reacher, and every other present candidate the evidence does not rule out (a present
 * candidate that did not reach is ruled out only where reach is measured, the camera was up
 * throughout, its track was not lost and vision said the charged one's reaches were sole: no
 * other followed shopper stood within an arm's width of where the arm crossed the edge; where
 * vision did not say, it stood more than two reach widths from the one charged). Its checkout
 * and every other contested candidate's
 * go to review, each listing the line with its candidates. Also in doubt: motion in the reach
 * band no track explains, or nobody visible reaching where reach is measured (someone the
 * camera does not follow: unseen); a camera that was not up for the whole window, or a
 * restart in it (camera_gap); a reader that was down across the interval (outage).
 *
 * confidence = proximity of the chosen one, times (0.5 + 0.5 (r1 - r2) / r1) when a presence
 * rule chose among several (r1, r2 the ranks; 0 separation when a tie rule decided), halved
 * when several reached and when in unseen doubt, times the width factor: 1 up to two polls, then
 * falling by WIDTH_FALL per second of width beyond (at least WIDTH_MIN), and at most
 * OUTAGE_CAP when the interval was wide or its reader down: an outage never yields 1.0. Where
 * the camera pinned the moment (reach measured, not contested, nothing unexplained: the one
 * arm it saw is how the tag left), the width is the part of the interval that arm covers.
 *
 * A decision waits until the window has passed, and while a candidate's track may still be
 * joined to a session (lost inside the window, or new and not yet joined), bounded by
 * fusion.unattributed_grace_ms after the departure. Without any candidate by then the removal
 * is unattributed (or a staff removal when the shelf was being restocked).
 */

#define REACH_SLACK_US   400000   /* a reach seen this near the interval covers it */
#define PUT_LAG_US       600000   /* an arrival is reported this soon after the put */
#define RESTART_SLACK_US 1000000  /* readers are seeded this soon after a restart */
#define GHOST_US         20000000 /* a shopper lost in a zone may stand there this long */
#define WIDTH_FALL       0.06f    /* confidence lost per second of interval beyond two polls */
#define WIDTH_MIN        0.3f
#define OUTAGE_CAP       0.95f

struct cand {
    uint64_t session; /* 0: an orphan track */
    struct track *track;
    float prox;          /* presence at the removal, 0..1 */
    float before, after; /* shares of the time before and after it spent in the zone */
    float rank;          /* 0.5 prox + 0.25 before + 0.25 after: the order of candidates */
    bool lost;           /* its presence is inferred across a track loss */
    bool present;        /* a stay (or its loss extension) met K */
    float dist;          /* from the zone's centre, < 0 unknown */
    int64_t enter_us;
    float x, y; /* where its best stay was, when has_pos */
    bool has_pos;
    float reach;      /* deepest reach overlapping the interval, 0..1; 0 none */
    int64_t reach_us; /* how much of the interval its reaches cover */
    float central;    /* how near the middle of one of its reaches the interval lies, 0..1 */
    int64_t reach_lo, reach_hi; /* the span of its reaches that meet the interval */
    uint8_t sole;               /* enum sk_reach_sole over those reaches: shared if any was */
    bool fresh;                 /* one of them explains no other departure yet */
    bool reached, putter;
};

/* The interval and the windows around it, for one departure. */
struct window {
    int64_t t0, t1;     /* the removal interval */
    int64_t k0, k1;     /* K */
    int64_t w0, a0, a1; /* before from w0 to t0; after from a0 to a1 */
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

static struct window window_of(const struct sk_fusion *f, const struct pending *p)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t poll = f->shelves[p->shelf].poll_us;
    struct window w = {.t0 = p->removed_us, .t1 = p->missed_us};
    if (w.t1 < w.t0) {
        w.t1 = w.t0;
    }
    w.k0 = w.t0 - poll;
    w.k1 = w.t1 + poll;
    w.w0 = w.t0 - (int64_t)fc->pick_before_ms * 1000;
    w.a0 = w.t1 - poll > w.t0 ? w.t1 - poll : w.t0;
    w.a1 = w.a0 + (int64_t)fc->pick_after_ms * 1000;
    return w;
}

/* What vision said of several reaches: shared when any was, sole when all were. */
static uint8_t sole_of(uint8_t a, uint8_t b)
{
    if (a == SK_REACH_SHARED || b == SK_REACH_SHARED) {
        return SK_REACH_SHARED;
    }
    return a == SK_REACH_SOLE && b == SK_REACH_SOLE ? SK_REACH_SOLE : SK_REACH_SOLE_UNKNOWN;
}

/* Folds the reach evidence of one of a session's tracks (from) into its candidate (into). */
static void reach_merge(struct cand *into, const struct cand *from)
{
    if (!from->reached) {
        return;
    }
    if (!into->reached) {
        into->sole = from->sole;
        into->reach_lo = from->reach_lo;
        into->reach_hi = from->reach_hi;
    } else {
        into->sole = sole_of(into->sole, from->sole);
        into->reach_lo = from->reach_lo < into->reach_lo ? from->reach_lo : into->reach_lo;
        into->reach_hi = from->reach_hi > into->reach_hi ? from->reach_hi : into->reach_hi;
    }
    into->reached = true;
    into->reach = from->reach > into->reach ? from->reach : into->reach;
    into->reach_us += from->reach_us;
    into->central = from->central > into->central ? from->central : into->central;
    into->fresh |= from->fresh;
}

/*
 * The reaches of t into zone around the interval: the deepest, how much they cover, how
 * centrally one holds the interval (a hand goes in, takes, comes out: the tag leaves while it
 * is in the band, most likely half-way, so of two shoppers reaching a second apart, the
 * one whose reach is centred on the interval took it), their span and what vision said of
 * who else could have made them.
 */
static void reach_of(const struct track *t, int zone, const struct window *w, struct cand *c)
{
    unsigned n = t->n_reaches < REACHES_MAX ? t->n_reaches : REACHES_MAX;
    for (unsigned k = 0; k < n; k++) {
        const struct reach_rec *r = &t->reaches[k];
        if (r->zone != zone) {
            continue;
        }
        int64_t cover =
                overlap(r->start_us - REACH_SLACK_US, r->end_us + REACH_SLACK_US, w->t0, w->t1 + 1);
        if (cover <= 0) {
            continue;
        }
        double mid = 0.5 * (double)(r->start_us + r->end_us);
        double half = 0.5 * (double)(r->end_us - r->start_us) + REACH_SLACK_US;
        double off = mid < (double)w->t0 ? (double)w->t0 - mid
                                         : (mid > (double)w->t1 ? mid - (double)w->t1 : 0);
        float central = off < half ? (float)(1.0 - off / half) : 0;
        struct cand one = {.reached = true,
                           .reach = r->depth,
                           .reach_us = cover,
                           .central = central,
                           .reach_lo = r->start_us,
                           .reach_hi = r->end_us,
                           .sole = r->sole,
                           .fresh = r->used == 0};
        reach_merge(c, &one);
    }
}

/*
 * Scores every track's stays in the shelf's zone around the removal (struct window).
 * Returns the candidate count; sets *unresolved when the picture may still change.
 */
static size_t gather(struct sk_fusion *f,
                     const struct pending *p,
                     const struct window *w,
                     int64_t now,
                     struct cand *c,
                     bool *unresolved)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int zone = f->shelves[p->shelf].zone;
    int64_t window = (int64_t)fc->join_window_ms * 1000;
    int64_t before = (int64_t)fc->pick_before_ms * 1000, after = (int64_t)fc->pick_after_ms * 1000;
    int64_t before_len = w->t0 - w->w0 > 0 ? w->t0 - w->w0 : 1;
    int64_t after_len = w->a1 - w->a0 > 0 ? w->a1 - w->a0 : 1;
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
                    /* Nobody has seen the shopper since: most likely still standing there,
                     * hidden in a neighbour's blob. */
                    int64_t ghost = window > GHOST_US ? window : GHOST_US;
                    ext_end = v->leave_us + ghost < now ? v->leave_us + ghost : now;
                    if (now < v->leave_us + window && v->leave_us + window > w->w0) {
                        *unresolved = true;
                    }
                }
            }
            float prox = proximity(v->enter_us, end, w->k0, w->k1, before, after);
            float prox_ext = ext_end > end ? LOST_WEIGHT * proximity(end, ext_end, w->k0, w->k1,
                                                                     before, after)
                                           : 0;
            float cov_b = (float)((double)overlap(v->enter_us, end, w->w0, w->t0) +
                                  LOST_WEIGHT * (double)overlap(end, ext_end, w->w0, w->t0)) /
                          (float)before_len;
            float cov_a = (float)((double)overlap(v->enter_us, end, w->a0, w->a1) +
                                  LOST_WEIGHT * (double)overlap(end, ext_end, w->a0, w->a1)) /
                          (float)after_len;
            struct cand cv = {
                    .prox = prox > prox_ext ? prox : prox_ext,
                    .before = cov_b > 1 ? 1 : cov_b,
                    .after = cov_a > 1 ? 1 : cov_a,
                    .lost = prox_ext > prox,
                    .present = prox >= 1 || prox_ext >= LOST_WEIGHT,
                    .enter_us = v->enter_us,
                    .x = v->x,
                    .y = v->y,
                    .has_pos = v->has_pos,
                    .dist = v->has_pos ? hypotf(v->x - f->zone_cx[zone], v->y - f->zone_cy[zone])
                                       : -1};
            cv.rank = 0.5f * cv.prox + 0.25f * cv.before + 0.25f * cv.after;
            if (cv.prox > 0 && cv.rank > best.rank) {
                best = cv;
            }
        }
        reach_of(t, zone, w, &best);
        if (best.prox <= 0 && !best.reached) {
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
            /* The tracks of one session: the best stay, and every reach of any of them. */
            struct cand *o = &c[j];
            struct cand reach = *o;
            reach_merge(&reach, &best);
            if (best.rank > o->rank) {
                *o = best;
            }
            o->reached = reach.reached;
            o->reach = reach.reach;
            o->reach_us = reach.reach_us;
            o->central = reach.central;
            o->reach_lo = reach.reach_lo;
            o->reach_hi = reach.reach_hi;
            o->sole = reach.sole;
            o->fresh = reach.fresh;
        } else if (n < CANDS_MAX) {
            c[n++] = best;
        }
    }
    return n;
}

static bool reach_measured(const struct sk_fusion *f, int shelf)
{
    int zone = f->shelves[shelf].zone;
    return zone >= 0 && f->cfg->zones[zone].reach_len == 4;
}

/* Whether one of t's reaches into zone was in the band when a tag arrived at time at. */
/* t reached into zone at some moment of [lo, at], at an arrival's report (its put lies in
 * that interval, one poll wide unless the reader was down before it). */
static bool reaching_in(const struct track *t, int zone, int64_t lo, int64_t at)
{
    unsigned nr = t->n_reaches < REACHES_MAX ? t->n_reaches : REACHES_MAX;
    for (unsigned k = 0; k < nr; k++) {
        const struct reach_rec *r = &t->reaches[k];
        if (r->zone == zone && at >= r->start_us && lo <= r->end_us + PUT_LAG_US) {
            return true;
        }
    }
    return false;
}

/* A tag arrived on shelf during c's reaches: c was putting it, when the tag came back from
 * c's own cart (the tag says whose hand held it) or nobody else reached then. */
static bool
putter(const struct sk_fusion *f, int shelf, const struct cand *c, const struct cand *all, size_t n)
{
    const struct shelf_info *si = &f->shelves[shelf];
    unsigned na = si->n_arrivals < ARRIVALS_MAX ? si->n_arrivals : ARRIVALS_MAX;
    for (unsigned a = 0; a < na; a++) {
        int64_t t = si->arrivals[a], lo = si->arrival_lo[a];
        if (c->session && si->arrival_from[a] == c->session &&
            reaching_in(c->track, si->zone, lo, t)) {
            return true;
        }
        int covered = 0;
        bool mine = false;
        for (size_t i = 0; i < n; i++) {
            if (reaching_in(all[i].track, si->zone, lo, t)) {
                covered++;
                mine |= &all[i] == c;
            }
        }
        if (mine && covered == 1) {
            return true;
        }
    }
    return false;
}

/* The charged one's reaches around the interval now explain this departure. */
static void
spend_reaches(struct sk_fusion *f, const struct cand *c, int zone, const struct window *w)
{
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (!t->used || (t != c->track && (!c->session || t->session != c->session))) {
            continue;
        }
        unsigned n = t->n_reaches < REACHES_MAX ? t->n_reaches : REACHES_MAX;
        for (unsigned k = 0; k < n; k++) {
            struct reach_rec *r = &t->reaches[k];
            if (r->zone == zone && r->used < UINT8_MAX &&
                overlap(r->start_us - REACH_SLACK_US, r->end_us + REACH_SLACK_US, w->t0,
                        w->t1 + 1) > 0) {
                r->used++;
            }
        }
    }
}

/* Motion in the shelf's reach band that no track explains, around the interval. */
static bool unexplained(const struct sk_fusion *f, int shelf, const struct window *w)
{
    const struct shelf_info *si = &f->shelves[shelf];
    unsigned n = si->n_unexplained < REACHES_MAX ? si->n_unexplained : REACHES_MAX;
    for (unsigned k = 0; k < n; k++) {
        const struct reach_rec *r = &si->unexplained[k];
        if (overlap(r->start_us - REACH_SLACK_US, r->end_us + REACH_SLACK_US, w->t0, w->t1 + 1) >
            0) {
            return true;
        }
    }
    return false;
}

static int by_rank(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->rank != y->rank) {
        return x->rank < y->rank ? 1 : -1;
    }
    return x->enter_us < y->enter_us ? 1 : (x->enter_us > y->enter_us ? -1 : 0);
}

static int removal(struct sk_fusion *f, struct pending *p, bool staff)
{
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
    fusion__memo_add(f, false, MEMO_REMOVED, p->line.epc, p->line.epc_len, "", p->line.ev.shelf,
                     p->removed_us, p->line.ev.removed_wall_us);
    return 0;
}

/* What was decided for one departure. */
struct verdict {
    size_t chosen;
    int rule;
    uint8_t doubt;
    float confidence;
    bool contest[CANDS_MAX];   /* other candidates that could not be ruled out */
    bool ruled_out[CANDS_MAX]; /* present candidates the evidence rules out */
    bool alike[CANDS_MAX];     /* other reachers who took one of the line's interchangeable tags */
};

/* The line's candidates for the payload: the charged one first, then by rank. */
static void list_candidates(struct sk_fusion *f,
                            struct sk_fusion_evidence *e,
                            const struct cand *c,
                            size_t n,
                            const struct verdict *v)
{
    e->n_cands = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < n && e->n_cands < SK_FUSION_CANDS_MAX; i++) {
            if ((pass == 0) != (i == v->chosen)) {
                continue;
            }
            struct sk_fusion_candidate *k = &e->cands[e->n_cands++];
            memset(k, 0, sizeof(*k));
            struct session *s = c[i].session ? fusion__session_no(f, c[i].session) : NULL;
            snprintf(k->session, sizeof(k->session), "%s", s ? s->pub.id : "");
            k->track = c[i].track->id;
            k->score = c[i].rank;
            k->reach = c[i].reach;
            k->flags = (uint8_t)((i == v->chosen ? SK_CAND_CHARGED : 0) |
                                 (c[i].present ? SK_CAND_PRESENT : 0) |
                                 (c[i].reached ? SK_CAND_REACHED : 0) |
                                 (v->ruled_out[i] ? SK_CAND_RULED_OUT : 0) |
                                 (v->alike[i] ? SK_CAND_ALIKE : 0));
        }
    }
}

static int
pickup(struct sk_fusion *f, struct pending *p, struct cand *c, size_t n, const struct verdict *v)
{
    struct cand *w = &c[v->chosen];
    struct cand *r = n > 1 ? &c[v->chosen == 0 ? 1 : 0] : NULL;
    struct session *s = w->session ? fusion__session_no(f, w->session) : NULL;
    int rc;
    if (!s) {
        /* A track nobody saw enter took it: a shopper whose entry the camera missed. */
        int64_t born = w->track->born_us;
        s = fusion__session_open(f, w->track, NULL, born, fusion__to_wall(f, born));
        if (!s) {
            /* fusion.max_sessions are open (logged, counted): nobody can be charged. */
            return removal(f, p, p->restock);
        }
        if (w->track->lost_us) {
            s->pub.state = SK_SESSION_LOST;
            s->pub.lost_mono_us = w->track->lost_us;
        }
        w->session = s->no;
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
    e->confidence = v->confidence;
    e->rule = (uint8_t)v->rule;
    e->candidates = (uint8_t)(n > 255 ? 255 : n);
    e->lost_track = w->lost;
    e->reach = reach_measured(f, p->shelf) ? w->reach : -1;
    e->doubt = v->doubt;
    e->alike = 0;
    for (size_t i = 0; i < n; i++) {
        e->alike = v->alike[i] ? p->alike : e->alike;
    }
    if (r) {
        struct session *rs = r->session ? fusion__session_no(f, r->session) : NULL;
        snprintf(e->runner_session, sizeof(e->runner_session), "%s", rs ? rs->pub.id : "");
        e->runner_track = r->track->id;
        e->runner_score = r->rank;
    }
    if (n > 1) {
        list_candidates(f, e, c, n, v); /* alone, the line's own track says it all */
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
    /* Every other candidate that could have taken it sees the line on its checkout too. */
    for (size_t i = 0; i < n; i++) {
        struct session *o = v->contest[i] && c[i].session && c[i].session != s->no
                                    ? fusion__session_no(f, c[i].session)
                                    : NULL;
        if (o) {
            (void)fusion__session_contest(f, o, &p->line);
        }
    }
    f->stats.pickups++;
    struct sk_fusion_event ev = {.type = SK_FEV_PICKUP,
                                 .mono_us = p->removed_us,
                                 .wall_us = e->removed_wall_us,
                                 .session = &s->pub,
                                 .line = &p->line,
                                 .shelf = e->shelf};
    return fusion__emit(f, &ev);
}

/* The presence rules: one candidate, a clear rank, the nearer, the one there longer. */
static void by_presence(const struct cand *c, size_t n, struct verdict *v)
{
    v->rule = SK_RULE_ONLY;
    v->chosen = 0;
    if (n < 2) {
        return;
    }
    if (c[0].rank - c[1].rank >= TIE_BAND) {
        v->rule = SK_RULE_DWELL;
    } else if (c[0].dist >= 0 && c[1].dist >= 0 &&
               fabsf(c[0].dist - c[1].dist) > 0.15f * fmaxf(c[0].dist, c[1].dist)) {
        v->rule = SK_RULE_NEAREST;
        v->chosen = c[1].dist < c[0].dist ? 1 : 0;
    } else {
        v->rule = SK_RULE_LONGEST;
        /* Of the two, the one who had been there longer had the time to choose and reach;
         * someone who just stepped up rarely has taken something yet. */
        if (c[1].enter_us < c[0].enter_us) {
            v->chosen = 1;
        }
    }
}

/* Chooses among the candidates (sorted by rank) and weighs the doubt. */
static void judge(struct sk_fusion *f,
                  const struct pending *p,
                  const struct window *w,
                  struct cand *c,
                  size_t n,
                  struct verdict *v)
{
    const struct shelf_info *si = &f->shelves[p->shelf];
    int64_t poll = si->poll_us;
    bool camera_up =
            si->camera < 0 || fusion__health_up_over(&f->camera_health[si->camera], w->w0, w->a1);
    /* A tag gone while the runtime was down is last seen when its reader was seeded at the
     * restart: its interval starts then, and nobody watched the shelf before. */
    bool restarted = f->restarted_us && f->restarted_us >= w->k0 - RESTART_SLACK_US &&
                     f->restarted_us <= w->k1;
    bool measured = reach_measured(f, p->shelf) && camera_up && !restarted;
    bool reader_up =
            si->reader < 0 || fusion__health_up_over(&f->reader_health[si->reader], w->t0, w->t1);
    memset(v, 0, sizeof(*v));

    size_t reachers = 0, takers = 0;
    for (size_t i = 0; measured && i < n; i++) {
        if (c[i].reached) {
            reachers++;
            c[i].putter = putter(f, p->shelf, &c[i], c, n);
            takers += !c[i].putter;
        }
    }
    bool by_reach = measured && reachers > 0;
    if (by_reach) {
        /* The reacher (not merely putting, unless nobody else reached) with a reach that
         * explains no other departure yet (two items gone across one outage, two shoppers who
         * each reached once in it: one each), then whose reach holds the interval most
         * centrally, then whose reaches cover it most, then by presence. */
        bool found = false;
        for (size_t i = 0; i < n; i++) {
            if (!c[i].reached || (takers && c[i].putter)) {
                continue;
            }
            const struct cand *b = &c[v->chosen];
            if (found && c[i].fresh != b->fresh) {
                if (c[i].fresh) {
                    v->chosen = i;
                }
                continue;
            }
            if (!found || c[i].central > b->central ||
                (c[i].central == b->central && c[i].reach_us > b->reach_us) ||
                (c[i].central == b->central && c[i].reach_us == b->reach_us &&
                 c[i].rank > b->rank)) {
                v->chosen = i;
                found = true;
            }
        }
        v->rule = SK_RULE_REACH;
    } else {
        by_presence(c, n, v);
    }
    const struct cand *ch = &c[v->chosen];

    /* Who else could have taken it. Vision says of every reach whether another shopper it
     * followed stood within an arm's width of where the arm crossed the edge, at any of its
     * frames (sole): only then could the arm have been the neighbour's. Where it did not say
     * (older recordings), an arm is told from a neighbour's only where they stand apart:
     * within two reach widths the camera cannot say whose it is. */
    float apart =
            2.0f * (float)(f->cfg->vision.reach_width_px > 0 ? f->cfg->vision.reach_width_px : 16);
    size_t contested = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == v->chosen) {
            continue;
        }
        bool other_reacher = by_reach && c[i].reached && !(takers && c[i].putter);
        if (other_reacher && p->alike) {
            /* It took another of the line's interchangeable tags (settle_alike): it owes the
             * same product at the same price either way. */
            v->alike[i] = true;
            continue;
        }
        bool close =
                !ch->has_pos || !c[i].has_pos || hypotf(ch->x - c[i].x, ch->y - c[i].y) < apart;
        /* Reach measured throughout, the track followed, no reach, and the arm seen out of
         * its reach: not this one. */
        bool out_of_reach =
                ch->sole == SK_REACH_SOLE || (ch->sole == SK_REACH_SOLE_UNKNOWN && !close);
        bool cleared = by_reach && !c[i].reached && !c[i].lost && out_of_reach;
        cleared |= by_reach && c[i].reached && takers && c[i].putter;
        if (other_reacher || (c[i].present && !cleared)) {
            v->contest[i] = true;
            contested++;
        } else if (c[i].present) {
            v->ruled_out[i] = true;
        }
    }

    float conf = ch->prox;
    if (!by_reach && n > 1) {
        const struct cand *r = &c[v->chosen == 0 ? 1 : 0];
        float sep = ch->rank > 0 ? (ch->rank - r->rank) / ch->rank : 1;
        if (sep < 0) {
            sep = 0; /* a tie rule chose the lower-ranked one */
        }
        conf *= 0.5f + 0.5f * sep;
    }
    if (contested) {
        v->doubt |= SK_DOUBT_CONTESTED;
        if (by_reach) {
            conf *= 0.5f; /* as doubtful as two equally present */
        }
    }
    bool unseen = measured && unexplained(f, p->shelf, w);
    if ((measured && !by_reach) || unseen) {
        /* Reach is measured here and the one charged did not reach, or motion no track
         * explains was there: someone the camera does not follow may have taken it. */
        v->doubt |= SK_DOUBT_UNSEEN;
        conf *= 0.5f;
    }
    if (!camera_up || restarted) {
        v->doubt |= SK_DOUBT_CAMERA;
    }
    int64_t width = w->t1 - w->t0;
    if (by_reach && !contested && !unseen && ch->reach_hi >= ch->reach_lo) {
        /* The camera watched the shelf throughout and saw one arm in the band while the
         * tag could have left: the removal happened within that reach, however long the
         * reader was away. */
        int64_t pinned =
                overlap(ch->reach_lo - REACH_SLACK_US, ch->reach_hi + REACH_SLACK_US, w->t0, w->t1);
        width = pinned > 0 && pinned < width ? pinned : width;
    }
    int64_t excess = width - 2 * poll;
    if (w->t1 - w->t0 > 2 * poll || !reader_up) {
        v->doubt |= SK_DOUBT_OUTAGE;
        float fall = excess > 0 ? 1.0f - WIDTH_FALL * (float)excess / 1e6f : 1.0f;
        /* an outage never yields 1.0, even when a reach pinned the moment */
        conf *= fall < WIDTH_MIN ? WIDTH_MIN : fall;
        conf = conf > OUTAGE_CAP ? OUTAGE_CAP : conf;
    }
    v->confidence = conf;
}

enum {
    ALIKE_NO,
    ALIKE_WAIT,
    ALIKE_YES
};

static bool same_product(const struct sk_fusion_line *a, const struct sk_fusion_line *b)
{
    return a->known && b->known && strcmp(a->product.sku, b->product.sku) == 0 &&
           a->product.price_minor == b->product.price_minor &&
           strcmp(a->product.currency, b->product.currency) == 0;
}

/*
 * Interchangeable tags. A line contested only between shoppers who reached (every present
 * non-reacher ruled out, nothing unseen, the camera up) is certain in money when the
 * contest is between tags of one product and price: over the span of those shoppers' reaches
 * (+- REACH_SLACK_US) every reach into the zone is theirs, each reached exactly once, each
 * reach sole (no other followed shopper within an arm's width) and explaining no other
 * departure yet, and the departures from the shelf whose intervals meet that span are all of
 * that one product, as many as the reachers. Then each reacher took one of them, whichever
 * tag it was: the charge is certain, the tag-to-shopper mapping is not (it follows the reach
 * order, and the line records the group's size). Waits (ALIKE_WAIT) until every departure
 * those reaches could explain has been reported and its window is complete. On ALIKE_YES
 * every departure of the group is marked with the group's size.
 */
static int settle_alike(struct sk_fusion *f,
                        struct pending *p,
                        const struct cand *c,
                        size_t n,
                        const struct verdict *v,
                        int64_t now)
{
    const struct shelf_info *si = &f->shelves[p->shelf];
    if (!p->line.known || v->rule != SK_RULE_REACH || !(v->doubt & SK_DOUBT_CONTESTED) ||
        (v->doubt & (SK_DOUBT_UNSEEN | SK_DOUBT_CAMERA))) {
        return ALIKE_NO;
    }
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    uint64_t who[CANDS_MAX];
    size_t reachers = 0;
    for (size_t i = 0; i < n; i++) {
        bool mine = i == v->chosen || v->contest[i];
        if (!mine) {
            continue;
        }
        if (!c[i].reached || !c[i].session) {
            return ALIKE_NO; /* present, not ruled out: its money is in doubt too */
        }
        lo = c[i].reach_lo < lo ? c[i].reach_lo : lo;
        hi = c[i].reach_hi > hi ? c[i].reach_hi : hi;
        who[reachers++] = c[i].session;
    }
    if (reachers < 2) {
        return ALIKE_NO;
    }
    lo -= REACH_SLACK_US;
    hi += REACH_SLACK_US;
    unsigned count[CANDS_MAX] = {0};
    for (size_t i = 0; i < f->max_tracks; i++) {
        const struct track *t = &f->tracks[i];
        unsigned nr = t->used ? (t->n_reaches < REACHES_MAX ? t->n_reaches : REACHES_MAX) : 0;
        for (unsigned k = 0; k < nr; k++) {
            const struct reach_rec *r = &t->reaches[k];
            if (r->zone != si->zone || overlap(r->start_us, r->end_us + 1, lo, hi) <= 0) {
                continue;
            }
            size_t j = 0;
            for (; j < reachers && who[j] != t->session; j++) {
            }
            if (j == reachers || r->sole != SK_REACH_SOLE || r->used || ++count[j] > 1) {
                return ALIKE_NO;
            }
        }
    }
    unsigned nu = si->n_unexplained < REACHES_MAX ? si->n_unexplained : REACHES_MAX;
    for (unsigned k = 0; k < nu; k++) {
        if (overlap(si->unexplained[k].start_us, si->unexplained[k].end_us + 1, lo, hi) > 0) {
            return ALIKE_NO;
        }
    }
    /* A tag taken at the end of the last reach is reported a hold after its last read; one
     * missed by the same poll as this one (after an outage) within a poll of it. */
    int64_t ready = hi + si->hold_us + 2 * si->poll_us;
    ready = p->departed_us + si->poll_us > ready ? p->departed_us + si->poll_us : ready;
    size_t group = 0;
    for (size_t i = 0; i < f->n_pending; i++) {
        const struct pending *q = &f->pending[i];
        struct window wq = window_of(f, q);
        if (q->shelf != p->shelf || overlap(wq.t0, wq.t1 + 1, lo, hi) <= 0) {
            continue;
        }
        if (!same_product(&q->line, &p->line)) {
            return ALIKE_NO;
        }
        ready = wq.a1 > ready ? wq.a1 : ready;
        group++;
    }
    if (now < ready) {
        return ALIKE_WAIT;
    }
    if (group != reachers || group > UINT8_MAX) {
        return ALIKE_NO;
    }
    for (size_t i = 0; i < f->n_pending; i++) {
        struct pending *q = &f->pending[i];
        struct window wq = window_of(f, q);
        if (q->shelf == p->shelf && overlap(wq.t0, wq.t1 + 1, lo, hi) > 0) {
            q->alike = (uint8_t)group;
        }
    }
    return ALIKE_YES;
}

int fusion__decide(struct sk_fusion *f, struct pending *p, int64_t now, bool force)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    struct window w = window_of(f, p);
    int64_t grace_end = p->departed_us + (int64_t)fc->unattributed_grace_ms * 1000;
    if (!force && now < w.a1) {
        return 0; /* the camera picture of the window is not complete yet */
    }
    struct cand c[CANDS_MAX];
    bool unresolved = false;
    size_t n = gather(f, p, &w, now, c, &unresolved);
    if (!force && now < grace_end && (unresolved || n == 0)) {
        return 0;
    }
    int r;
    if (n == 0) {
        r = removal(f, p, p->restock);
        return r < 0 ? r : 1;
    }
    qsort(c, n, sizeof(c[0]), by_rank);
    struct verdict v;
    judge(f, p, &w, c, n, &v);
    if (!p->alike) {
        int a = settle_alike(f, p, c, n, &v, now);
        if (a == ALIKE_WAIT && !force && now < grace_end) {
            return 0;
        }
        if (a == ALIKE_YES) {
            judge(f, p, &w, c, n, &v);
        }
    }
    if (v.rule == SK_RULE_REACH) {
        spend_reaches(f, &c[v.chosen], f->shelves[p->shelf].zone, &w);
    }
    if (p->restock && c[v.chosen].putter && n == 1) {
        /* During a staff restock the one who took it was putting stock: staff. */
        r = removal(f, p, true);
        return r < 0 ? r : 1;
    }
    r = pickup(f, p, c, n, &v);
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
