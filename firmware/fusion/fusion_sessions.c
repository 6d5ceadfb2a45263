/* SPDX-License-Identifier: MIT */
/* Shopper sessions and their carts: open, bind, join across track losses, checkout, abandon. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/log.h"
#include "storekeeper/uuid.h"

/*
 * A session opens when a track crosses an entry (or door) line inwards and follows that
 * track. When the track vanishes (an occlusion, two shoppers merging into one blob) the
 * session is LOST; a track that appears within fusion.join_window_ms and fusion.join_radius_px
 * of where it vanished, and does not itself cross the entry inwards within
 * fusion.join_defer_ms (that would be a new shopper), continues it: the join is recorded in
 * the session and sent as a session event. When no lost session is near enough but exactly
 * one is lost at all, a new track is joined to it: late (flagged for review) unless it
 * appeared within the radius of where that one vanished (back from out of view after longer
 * than the window: nobody else is unaccounted for).
 *
 * An exit crossing outwards makes the session EXITING. The checkout waits until every item
 * taken before the exit can have reached the cart: the longest presence hold (a tag is
 * reported gone that long after it was last seen), the attribution window after it and
 * fusion.checkout_delay_ms, and until no departure from before the exit is undecided.
 * Crossing back in before that cancels the exit.
 *
 * The same settle time also runs from the end of a stall (two ticks more than STALL_US
 * apart: the process went unscheduled, on an overloaded board or under a debugger) and from a
 * restart: the bus threads stalled too, and a tag taken just before the exit is reported gone
 * only a hold after they poll again. Without the wait, that item would miss the checkout.
 */

struct session *fusion__session_no(const struct sk_fusion *f, uint64_t no)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        if (f->sessions[i]->no == no) {
            return f->sessions[i];
        }
    }
    return NULL;
}

struct session *fusion__session_of(const struct sk_fusion *f, const struct track *t)
{
    struct session *s = t->session ? fusion__session_no(f, t->session) : NULL;
    if (s && (s->pub.track_id != t->id || strcmp(s->pub.camera, t->camera) != 0)) {
        return NULL; /* the track was joined away from: not its session any more */
    }
    return s;
}

void fusion__session_dirty(struct sk_fusion *f, struct session *s)
{
    s->dirty = true;
    f->parts_dirty = true;
}

void fusion__session_free(struct session *s)
{
    if (s) {
        free(s->pub.lines);
        free(s->pub.contested);
        free(s);
    }
}

/* A waiting bind for the next entry goes to s. */
static void bind_waiting(struct sk_fusion *f, struct session *s, int64_t mono)
{
    for (size_t i = 0; i < f->n_binds; i++) {
        if (!f->binds[i].session[0] && f->binds[i].expires_us > mono) {
            snprintf(s->pub.account, sizeof(s->pub.account), "%s", f->binds[i].token);
            if (f->binds[i].persons > 1) {
                f->binds[i].persons--; /* a party: the next one who enters is on it too */
                return;
            }
            memmove(&f->binds[i], &f->binds[i + 1], (f->n_binds - i - 1) * sizeof(f->binds[0]));
            f->n_binds--;
            return;
        }
    }
}

void fusion__binds_expire(struct sk_fusion *f, int64_t now)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n_binds; i++) {
        if (f->binds[i].expires_us > now) {
            f->binds[k++] = f->binds[i];
        } else {
            f->dirty = true;
        }
    }
    f->n_binds = k;
}

int sk_fusion_bind(struct sk_fusion *f,
                   const char *token,
                   const char *session_id,
                   int persons,
                   int64_t expires_mono_us)
{
    if (session_id && session_id[0]) {
        for (size_t i = 0; i < f->n_sessions; i++) {
            struct session *s = f->sessions[i];
            if (strcmp(s->pub.id, session_id) == 0) {
                snprintf(s->pub.account, sizeof(s->pub.account), "%s", token);
                fusion__session_dirty(f, s);
                struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                             .what = SK_SESSION_BOUND,
                                             .mono_us = fusion__now(f),
                                             .session = &s->pub};
                return fusion__emit(f, &ev);
            }
        }
        return -ENOENT;
    }
    for (size_t i = 0; i < f->n_binds; i++) {
        if (strcmp(f->binds[i].token, token) == 0) {
            f->binds[i].expires_us = expires_mono_us; /* sent again: the newer expiry wins */
            f->dirty = true;
            return 0;
        }
    }
    if (f->n_binds == BINDS_MAX) {
        return -ENOSPC;
    }
    struct bind *b = &f->binds[f->n_binds++];
    memset(b, 0, sizeof(*b));
    snprintf(b->token, sizeof(b->token), "%s", token);
    b->expires_us = expires_mono_us;
    b->persons = (uint8_t)(persons < 1 ? 1 : persons > UINT8_MAX ? UINT8_MAX : persons);
    f->dirty = true;
    return 0;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    }
    return h;
}

/*
 * Session ids are UUIDv7-shaped: the opening time in milliseconds, then bits derived from the
 * store, the device and the session's serial. Deterministic (a replay names sessions as the
 * run did) and unique per device, since serials are never reused.
 */
static void make_id(const struct sk_fusion *f, uint64_t no, int64_t wall_us, char *out)
{
    uint64_t h = hash_str(hash_str(0xcbf29ce484222325ULL, f->cfg->store_id), f->cfg->device_id);
    uint64_t a = mix64(h ^ no);
    uint64_t b = mix64(a ^ (no << 32) ^ 0x5349);
    uint8_t rest[10];
    for (int i = 0; i < 8; i++) {
        rest[i] = (uint8_t)(a >> (8 * i));
    }
    rest[8] = (uint8_t)b;
    rest[9] = (uint8_t)(b >> 8);
    sk_uuid7(wall_us, rest, out);
}

struct session *fusion__session_open(struct sk_fusion *f,
                                     struct track *t,
                                     const char *entry_line,
                                     int64_t mono_us,
                                     int64_t wall_us)
{
    if (f->n_sessions == f->max_sessions) {
        f->stats.dropped++;
        sk_log(SK_LOG_ERR, "fusion", NULL,
               "fusion.max_sessions (%zu) sessions are open; a shopper entering on %s is not "
               "followed",
               f->max_sessions, t ? t->camera : "-");
        return NULL;
    }
    struct session *s = calloc(1, sizeof(*s));
    if (!s) {
        f->stats.dropped++;
        return NULL;
    }
    s->no = f->next_session_no++;
    make_id(f, s->no, wall_us, s->pub.id);
    s->pub.state = SK_SESSION_ACTIVE;
    s->pub.opened_mono_us = s->pub.last_mono_us = mono_us;
    s->pub.opened_wall_us = wall_us;
    snprintf(s->pub.entry_line, sizeof(s->pub.entry_line), "%s", entry_line ? entry_line : "");
    if (!entry_line || !entry_line[0]) {
        s->pub.review |= SK_REVIEW_NO_ENTRY;
    }
    if (t) {
        snprintf(s->pub.camera, sizeof(s->pub.camera), "%s", t->camera);
        s->pub.track_id = t->id;
        s->pub.x = t->x;
        s->pub.y = t->y;
        s->pub.has_pos = t->has_pos;
        t->session = s->no;
        t->join_pending = false;
    }
    if (s->pub.entry_line[0]) {
        bind_waiting(f, s, mono_us);
    }
    f->sessions[f->n_sessions++] = s;
    f->stats.sessions_opened++;
    f->dirty = true;
    fusion__session_dirty(f, s);
    return s;
}

/* Appends line to a session's list (its cart or its contested lines), bounded by
 * fusion.max_cart_items: a full list flags the checkout cart_full. */
static int lines_add(struct sk_fusion *f,
                     struct session *s,
                     struct sk_fusion_line **lines,
                     size_t *n,
                     size_t *cap,
                     const struct sk_fusion_line *line)
{
    struct sk_fusion_session *p = &s->pub;
    size_t max = f->cfg->fusion.max_cart_items > 0 ? (size_t)f->cfg->fusion.max_cart_items : 1000;
    if (*n == *cap) {
        if (*n >= max) {
            p->review |= SK_REVIEW_CART_FULL;
            f->stats.dropped++;
            sk_log(SK_LOG_ERR, "fusion", NULL,
                   "session %s holds fusion.max_cart_items (%zu) lines; one is not added "
                   "and the checkout goes to review",
                   p->id, max);
            return -ENOSPC;
        }
        size_t c = *cap ? *cap * 2 : 8;
        if (c > max) {
            c = max;
        }
        struct sk_fusion_line *l = realloc(*lines, c * sizeof(*l));
        if (!l) {
            f->stats.dropped++;
            p->review |= SK_REVIEW_CART_FULL;
            return -ENOMEM;
        }
        *lines = l;
        *cap = c;
    }
    (*lines)[(*n)++] = *line;
    fusion__session_dirty(f, s);
    return 0;
}

int fusion__cart_add(struct sk_fusion *f, struct session *s, const struct sk_fusion_line *line)
{
    struct sk_fusion_session *p = &s->pub;
    int r = lines_add(f, s, &p->lines, &p->n_lines, &p->cap_lines, line);
    if (r == 0 && !line->known) {
        p->review |= SK_REVIEW_UNKNOWN_PRODUCT;
    }
    return r;
}

int fusion__session_contest(struct sk_fusion *f,
                            struct session *s,
                            const struct sk_fusion_line *line)
{
    struct sk_fusion_session *p = &s->pub;
    return lines_add(f, s, &p->contested, &p->n_contested, &p->cap_contested, line);
}

/* The item went back to a shelf: no session can be charged for it, no longer contested. */
static void contest_drop(struct sk_fusion *f, const uint8_t *epc, size_t len)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        struct sk_fusion_session *p = &f->sessions[i]->pub;
        for (size_t k = 0; k < p->n_contested;) {
            if (fusion__epc_equal(p->contested[k].epc, p->contested[k].epc_len, epc, len)) {
                memmove(&p->contested[k], &p->contested[k + 1],
                        (p->n_contested - k - 1) * sizeof(p->contested[0]));
                p->n_contested--;
                fusion__session_dirty(f, f->sessions[i]);
            } else {
                k++;
            }
        }
    }
}

struct sk_fusion_line *
fusion__cart_find(struct sk_fusion *f, const uint8_t *epc, size_t len, struct session **ret_session)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        struct sk_fusion_session *p = &f->sessions[i]->pub;
        for (size_t k = 0; k < p->n_lines; k++) {
            if (fusion__epc_equal(p->lines[k].epc, p->lines[k].epc_len, epc, len)) {
                if (ret_session) {
                    *ret_session = f->sessions[i];
                }
                return &p->lines[k];
            }
        }
    }
    return NULL;
}

struct session *fusion__cart_take(struct sk_fusion *f,
                                  const uint8_t *epc,
                                  size_t len,
                                  struct sk_fusion_line *ret_line)
{
    struct session *s = NULL;
    struct sk_fusion_line *l = fusion__cart_find(f, epc, len, &s);
    if (!l) {
        return NULL;
    }
    *ret_line = *l;
    struct sk_fusion_session *p = &s->pub;
    size_t k = (size_t)(l - p->lines);
    memmove(&p->lines[k], &p->lines[k + 1], (p->n_lines - k - 1) * sizeof(*l));
    p->n_lines--;
    fusion__session_dirty(f, s);
    contest_drop(f, epc, len);
    return s;
}

void fusion__session_exit(
        struct sk_fusion *f, struct session *s, int64_t mono_us, int64_t wall_us, const char *line)
{
    s->pub.state = SK_SESSION_EXITING;
    s->pub.exit_mono_us = mono_us;
    s->pub.exit_wall_us = wall_us;
    s->pub.last_mono_us = mono_us;
    snprintf(s->pub.exit_line, sizeof(s->pub.exit_line), "%s", line ? line : "");
    fusion__session_dirty(f, s);
}

/* t continues s from now: the join is recorded and sent. dist: pixels on one camera, floor
 * metres (dist_m) across two. Returns 0 or emit's error. */
static int join_to(struct sk_fusion *f,
                   struct session *best,
                   struct track *t,
                   float dist,
                   float dist_m,
                   bool late)
{
    struct sk_fusion_session *p = &best->pub;
    struct sk_fusion_join j = {0};
    snprintf(j.camera, sizeof(j.camera), "%s", t->camera);
    if (strcmp(p->camera, t->camera) != 0) {
        snprintf(j.old_camera, sizeof(j.old_camera), "%s", p->camera);
    }
    j.old_track = p->track_id;
    j.new_track = t->id;
    int64_t since = p->state == SK_SESSION_LOST ? p->lost_mono_us : t->born_us;
    j.gap_ms = (t->born_us - since) / 1000;
    if (j.gap_ms < 0) {
        j.gap_ms = 0;
    }
    j.distance = j.old_camera[0] ? -1 : dist;
    j.distance_m = j.old_camera[0] ? dist_m : -1;
    j.late = late;
    int64_t at = t->born_us > since ? t->born_us : since;
    j.wall_us = fusion__to_wall(f, at);
    if (p->n_joins < SK_FUSION_JOINS_MAX) {
        p->joins[p->n_joins] = j;
    }
    p->n_joins++;
    snprintf(p->camera, sizeof(p->camera), "%s", t->camera);
    p->track_id = t->id;
    if (p->state == SK_SESSION_LOST) {
        p->state = SK_SESSION_ACTIVE;
    }
    p->lost_mono_us = 0;
    p->last_mono_us = at;
    if (t->has_pos) {
        p->x = t->x;
        p->y = t->y;
        p->has_pos = true;
    }
    if (late) {
        p->review |= SK_REVIEW_LATE_JOIN;
        f->stats.late_joins++;
    }
    t->session = best->no;
    f->stats.joins++;
    fusion__session_dirty(f, best);
    sk_log(SK_LOG_DEBUG, "fusion", t->camera, "session %s: track %u joined after track %u%s%s (%s)",
           p->id, j.new_track, j.old_track, j.old_camera[0] ? " of " : "", j.old_camera,
           late ? "late" : "near");
    struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                 .what = SK_SESSION_JOINED,
                                 .mono_us = at,
                                 .wall_us = j.wall_us,
                                 .session = p,
                                 .join = &j};
    return fusion__emit(f, &ev);
}

/*
 * Decides whether the new track t continues a lost session. force: an exit crossing needs
 * the answer now. Returns 0 or emit's error.
 */
int fusion__try_join(struct sk_fusion *f, struct track *t, bool force)
{
    (void)force;
    t->join_pending = false;
    if (t->session) {
        return 0;
    }
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t window = (int64_t)fc->join_window_ms * 1000;
    double radius = fc->join_radius_px > 0 ? fc->join_radius_px : 80;
    struct session *best = NULL, *only = NULL;
    double best_score = 0;
    float best_dist = -1, best_m = -1;
    size_t lost = 0;
    /* On floor cameras a session lost on one camera may go on in another's view. */
    double tx = 0, ty = 0;
    bool t_floor = t->born_pos && fusion__floor_of(f, t->camera, t->born_x, t->born_y, &tx, &ty);
    for (size_t i = 0; i < f->n_sessions; i++) {
        struct session *s = f->sessions[i];
        if (s->pub.state != SK_SESSION_LOST) {
            continue;
        }
        double sx = 0, sy = 0;
        bool same = strcmp(s->pub.camera, t->camera) == 0;
        bool cross = !same && t_floor && s->pub.has_pos &&
                     fusion__floor_of(f, s->pub.camera, s->pub.x, s->pub.y, &sx, &sy);
        if (!same && !cross) {
            continue;
        }
        /* A track born well before the session's track vanished ran beside it: another
         * person. A little overlap is how trackers hand over. */
        if (s->pub.lost_mono_us - t->born_us > 500000) {
            continue;
        }
        lost++;
        only = s;
        int64_t gap = t->born_us - s->pub.lost_mono_us;
        if (gap < 0) {
            gap = 0;
        }
        float dist = -1, dist_m = -1;
        double share = 0.5; /* of the radius: unknown distance */
        if (cross) {
            /* Metres on the floor, and as far again as a walker gets in the gap. */
            double reach = f->cfg->fusion.handover_radius_m + WALK_MPS * (double)gap / 1e6;
            dist_m = (float)hypot(sx - tx, sy - ty);
            if (dist_m > reach) {
                continue;
            }
            share = dist_m / reach;
        } else if (s->pub.has_pos && t->born_pos) {
            dist = hypotf(s->pub.x - t->born_x, s->pub.y - t->born_y);
            share = dist / radius;
        }
        if (gap > window || (dist >= 0 && dist > radius)) {
            continue;
        }
        double score = (window > 0 ? (double)gap / (double)window : 0) + share;
        if (!best || score < best_score) {
            best = s;
            best_score = score;
            best_dist = dist;
            best_m = dist_m;
        }
    }
    /* A session whose track ended because the runtime did (a power cut, a crash) is joined to
     * whichever new track appears near it after the restart. With several shoppers restored
     * so, that can be a neighbour's (the crash loop of docs/reliability.md showed it), and
     * once one took the wrong track the last one is left with a wrong one too: the cameras
     * saw nothing in between. Each such join is as uncertain as a late one, its checkout
     * goes to review instead of being charged as it stands. A lone shopper restored is
     * picked up again as usual. */
    bool late = best && f->restart_lost_n > 1 && best->pub.lost_mono_us == f->restart_lost_mono_us;
    if (!best && lost == 1 && (force || !t->at_door)) {
        best = only;
        best_dist = (only->pub.has_pos && t->born_pos && strcmp(only->pub.camera, t->camera) == 0)
                            ? hypotf(only->pub.x - t->born_x, only->pub.y - t->born_y)
                            : -1;
        /* Back where it vanished, and nobody else is unaccounted for: the shopper who stepped
         * out of view (at the picture's edge, behind a display) for longer than the window.
         * Anywhere else it is a guess. */
        late = best_dist < 0 || best_dist > radius ||
               (f->restart_lost_n > 1 && only->pub.lost_mono_us == f->restart_lost_mono_us);
    }
    if (!best) {
        return 0;
    }
    return join_to(f, best, t, best_dist, best_m, late);
}

/*
 * Floor cameras (docs/vision.md, "Floor calibration"): a shopper in the overlap of two views is
 * a track on each. The one the session does not follow is its twin: its stays and reaches count
 * for the session (attribution groups tracks by session), it opens no session of its own and is
 * joined to no other; when the session's track ends at its view's edge, the twin takes over.
 */

/* The live track s follows, or NULL. */
static struct track *primary_track(struct sk_fusion *f, const struct session *s)
{
    if (!s->pub.camera[0]) {
        return NULL;
    }
    struct track *t = fusion__track_find(f, s->pub.camera, s->pub.track_id);
    return t && !t->lost_us && t->session == s->no ? t : NULL;
}

/* How much farther apart two floor sightings are than a walker could explain (metres). */
static double floor_gap(const struct track *a, const struct track *b)
{
    double dt = (double)llabs(a->floor_us - b->floor_us) / 1e6;
    return hypot(a->fx - b->fx, a->fy - b->fy) - WALK_MPS * dt;
}

/* Sightings this far apart in time say nothing about where the other one is now. */
#define FLOOR_FRESH_US 600000

void fusion__twin_check(struct sk_fusion *f, struct track *t, int64_t mono)
{
    (void)mono;
    if (!t->floor_us || t->lost_us || (t->session && !t->twin)) {
        return;
    }
    double radius = f->cfg->fusion.handover_radius_m;
    if (t->twin) {
        struct session *s = fusion__session_no(f, t->session);
        struct track *p = s ? primary_track(f, s) : NULL;
        if (p && p->floor_us && llabs(p->floor_us - t->floor_us) <= FLOOR_FRESH_US &&
            floor_gap(p, t) > 2 * radius) {
            /* They went apart: two shoppers after all; this one may be a lost one's. */
            sk_log(SK_LOG_DEBUG, "fusion", t->camera, "track %u is no twin of %s's track %u", t->id,
                   p->camera, p->id);
            t->twin = false;
            t->session = 0;
            t->join_pending = true;
        }
        return;
    }
    struct session *best = NULL;
    double best_gap = 0;
    for (size_t i = 0; i < f->n_sessions; i++) {
        struct session *s = f->sessions[i];
        if (s->pub.state != SK_SESSION_ACTIVE && s->pub.state != SK_SESSION_EXITING) {
            continue;
        }
        struct track *p = primary_track(f, s);
        if (!p || p == t || !p->floor_us || strcmp(p->camera, t->camera) == 0 ||
            llabs(p->floor_us - t->floor_us) > FLOOR_FRESH_US) {
            continue;
        }
        double g = floor_gap(p, t);
        if (g <= radius && (!best || g < best_gap)) {
            best = s;
            best_gap = g;
        }
    }
    if (best) {
        t->session = best->no;
        t->twin = true;
        t->join_pending = false;
        sk_log(SK_LOG_DEBUG, "fusion", t->camera, "track %u is session %s's shopper too", t->id,
               best->pub.id);
    }
}

int fusion__handover(struct sk_fusion *f, struct session *s, struct track *gone, struct track *to)
{
    if (!to && !gone->floor_us) {
        return 0;
    }
    double radius = f->cfg->fusion.handover_radius_m;
    struct track *best = to, *second = NULL;
    double best_score = 0, second_score = 0;
    for (size_t i = 0; !to && i < f->max_tracks; i++) {
        struct track *c = &f->tracks[i];
        if (!c->used || c->lost_us || c == gone || !c->floor_us ||
            strcmp(c->camera, gone->camera) == 0) {
            continue;
        }
        bool twin = c->twin && c->session == s->no;
        if (!twin && c->session) {
            continue; /* another session's shopper */
        }
        if (!twin && llabs(c->floor_us - gone->floor_us) > 2 * FLOOR_FRESH_US) {
            continue;
        }
        double g = floor_gap(c, gone);
        if (!twin && g > radius) {
            continue;
        }
        /* A twin was seen with the session's track: it goes first. */
        double score = twin ? g - 2 * radius : g;
        if (!best || score < best_score) {
            second = best;
            second_score = best_score;
            best = c;
            best_score = score;
        } else if (!second || score < second_score) {
            second = c;
            second_score = score;
        }
    }
    if (!best) {
        return 0;
    }
    /* Another track nearly as good: the handover cannot be decided, a person looks. */
    bool doubt = second && second_score - best_score < radius / 2;
    if (second && !doubt && second->twin && second->session == s->no) {
        second->twin = false; /* the loser is not this shopper: it may be someone else */
        second->session = 0;
        second->join_pending = true;
    }
    best->twin = false;
    best->session = 0;
    best->join_pending = false;
    double dm =
            best->floor_us && gone->floor_us ? hypot(best->fx - gone->fx, best->fy - gone->fy) : -1;
    int r = join_to(f, s, best, -1, (float)dm, doubt);
    return r < 0 ? r : 1;
}

bool fusion__unjoin(struct sk_fusion *f, struct session *s, struct track *t, int64_t mono)
{
    struct sk_fusion_session *p = &s->pub;
    if (!p->n_joins || p->n_joins > SK_FUSION_JOINS_MAX) {
        return false;
    }
    struct sk_fusion_join *j = &p->joins[p->n_joins - 1];
    int64_t window = (int64_t)(f->cfg->fusion.join_window_ms + f->cfg->fusion.door_defer_ms) * 1000;
    if (j->new_track != t->id || strcmp(j->camera, t->camera) != 0 || mono - t->born_us > window) {
        return false;
    }
    p->track_id = j->old_track;
    if (j->old_camera[0]) {
        snprintf(p->camera, sizeof(p->camera), "%s", j->old_camera);
    }
    p->state = SK_SESSION_LOST;
    p->lost_mono_us = t->born_us - j->gap_ms * 1000;
    p->n_joins--;
    p->review &= ~(unsigned)SK_REVIEW_LATE_JOIN;
    for (uint32_t k = 0; k < p->n_joins; k++) {
        if (p->joins[k].late) {
            p->review |= SK_REVIEW_LATE_JOIN;
        }
    }
    t->session = 0;
    f->stats.joins--;
    fusion__session_dirty(f, s);
    sk_log(SK_LOG_DEBUG, "fusion", t->camera,
           "session %s: track %u crossed the entry inwards, so it was not this shopper", p->id,
           t->id);
    return true;
}

static void session_remove(struct sk_fusion *f, struct session *s)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        if (f->sessions[i] == s) {
            memmove(&f->sessions[i], &f->sessions[i + 1],
                    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
                    (f->n_sessions - i - 1) * sizeof(f->sessions[0]));
            f->n_sessions--;
            break;
        }
    }
    /* Its persisted part goes at the next persist. At most max_sessions can close between
     * two persists (a call closes only sessions that exist); without persists the list
     * simply wraps. */
    if (f->n_gone == f->max_sessions) {
        f->n_gone = 0;
    }
    snprintf(f->gone[f->n_gone++], sizeof(f->gone[0]), "%s", s->pub.id);
    f->parts_dirty = true;
    fusion__session_free(s);
}

/* The review reasons of a checkout: the session's own plus its lines' and contested lines'. */
static void review_lines(struct sk_fusion *f, struct sk_fusion_session *p)
{
    for (size_t k = 0; k < p->n_lines; k++) {
        const struct sk_fusion_evidence *e = &p->lines[k].ev;
        if (e->confidence < (float)f->cfg->fusion.review_confidence) {
            p->review |= SK_REVIEW_LOW_CONFIDENCE;
        }
        if (!p->lines[k].known) {
            p->review |= SK_REVIEW_UNKNOWN_PRODUCT;
        }
        p->review |= (e->doubt & SK_DOUBT_CONTESTED) ? SK_REVIEW_CONTESTED : 0u;
        p->review |= (e->doubt & SK_DOUBT_UNSEEN) ? SK_REVIEW_UNSEEN : 0u;
        p->review |= (e->doubt & SK_DOUBT_CAMERA) ? SK_REVIEW_CAMERA_GAP : 0u;
    }
    if (p->n_contested) {
        p->review |= SK_REVIEW_CONTESTED;
    }
}

/* A session ends (checked out or abandoned): its lines reviewed, its state and closing time
 * set. */
static struct sk_fusion_session *
end_session(struct sk_fusion *f, struct session *s, int state, int64_t now)
{
    struct sk_fusion_session *p = &s->pub;
    review_lines(f, p);
    p->state = state;
    p->closed_wall_us = fusion__to_wall(f, now);
    return p;
}

/* What became of an ended session's items (sold, or removed with an abandoned cart), kept for
 * a tag that is seen again. */
static void
memo_lines(struct sk_fusion *f, const struct sk_fusion_session *p, int memo, int64_t now)
{
    for (size_t k = 0; k < p->n_lines; k++) {
        fusion__memo_add(f, false, memo, p->lines[k].epc, p->lines[k].epc_len, p->id,
                         p->lines[k].ev.shelf, now, p->closed_wall_us);
    }
}

static int checkout(struct sk_fusion *f, struct session *s, int64_t now)
{
    struct sk_fusion_session *p = end_session(f, s, SK_SESSION_CLOSED, now);
    struct sk_fusion_event ev = {.type = SK_FEV_CHECKOUT,
                                 .mono_us = p->exit_mono_us,
                                 .wall_us = p->exit_wall_us,
                                 .session = p};
    int r = fusion__emit(f, &ev);
    if (r < 0) {
        return r;
    }
    memo_lines(f, p, MEMO_SOLD, now);
    f->stats.sessions_closed++;
    sk_log(SK_LOG_INFO, "fusion", NULL, "session %s checked out: %zu item(s)%s", p->id, p->n_lines,
           p->review ? ", to review" : "");
    session_remove(f, s);
    return 0;
}

static int abandon(struct sk_fusion *f, struct session *s, int64_t now)
{
    struct sk_fusion_session *p = end_session(f, s, SK_SESSION_ABANDONED, now);
    struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                 .what = SK_SESSION_TIMED_OUT,
                                 .mono_us = now,
                                 .wall_us = p->closed_wall_us,
                                 .session = p};
    int r = fusion__emit(f, &ev);
    if (r < 0) {
        return r;
    }
    if (p->n_lines) {
        ev.type = SK_FEV_CART_ABANDONED;
        ev.what = 0;
        ev.items = p->lines;
        ev.n_items = p->n_lines;
        if ((r = fusion__emit(f, &ev)) < 0) {
            return r;
        }
    }
    memo_lines(f, p, MEMO_REMOVED, now);
    f->stats.sessions_abandoned++;
    sk_log(SK_LOG_NOTICE, "fusion", NULL, "session %s abandoned (%s) holding %zu item(s)", p->id,
           sk_fusion_state_name(p->state), p->n_lines);
    session_remove(f, s);
    return 0;
}

/*
 * Whether a reader of a shelf s stood at had trouble while it stood there and has not been
 * up for settle since: an item it took meanwhile may not have been reported yet.
 */
static bool
outage_pending(const struct sk_fusion *f, const struct session *s, int64_t now, int64_t settle)
{
    bool trouble = false; /* the common case, every reader up lately, costs a glance */
    for (size_t r = 0; r < f->n_reader_health && !trouble; r++) {
        trouble = !fusion__health_up_over(&f->reader_health[r], now - settle, now);
    }
    for (size_t i = 0; trouble && i < f->max_tracks; i++) {
        const struct track *t = &f->tracks[i];
        if (!t->used || t->session != s->no) {
            continue;
        }
        unsigned nv = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
        for (unsigned k = 0; k < nv; k++) {
            const struct zone_visit *v = &t->visits[k];
            for (size_t sh = 0; sh < f->cfg->n_shelves; sh++) {
                const struct shelf_info *si = &f->shelves[sh];
                if (si->zone != v->zone || si->reader < 0) {
                    continue;
                }
                const struct health_log *h = &f->reader_health[si->reader];
                int64_t end = v->leave_us == NEVER || v->leave_us > now ? now : v->leave_us;
                if (!fusion__health_up_over(h, v->enter_us - si->hold_us, end) &&
                    !fusion__health_up_over(h, now - settle, now)) {
                    return true;
                }
            }
        }
    }
    return false;
}

int fusion__sessions_tick(struct sk_fusion *f)
{
    const struct sk_fusion_cfg *fc = &f->cfg->fusion;
    int64_t now = fusion__now(f);
    int64_t settle = f->max_hold_us + (int64_t)fc->pick_after_ms * 1000 +
                     (int64_t)fc->checkout_delay_ms * 1000;
    int64_t lost_max = (int64_t)fc->session_lost_s * 1000000;
    int64_t idle_max = (int64_t)fc->session_idle_s * 1000000;
    /* Hard bound on waiting for undecided departures: their own grace has passed by then. */
    int64_t wait_max = settle + (int64_t)fc->unattributed_grace_ms * 1000 + f->max_hold_us;
    int64_t outage_max = settle + (int64_t)fc->outage_wait_ms * 1000;
    for (size_t i = 0; i < f->n_sessions;) {
        struct session *s = f->sessions[i];
        struct sk_fusion_session *p = &s->pub;
        int r = 0;
        bool gone = false;
        bool outage = p->state == SK_SESSION_EXITING && outage_pending(f, s, now, settle);
        if (p->state == SK_SESSION_EXITING && now - p->exit_mono_us >= settle &&
            now - f->resumed_us >= settle &&
            (!fusion__pending_before(f, p->exit_mono_us) || now - p->exit_mono_us >= wait_max) &&
            (!outage || now - p->exit_mono_us >= outage_max)) {
            if (outage) {
                /* An item it took while the reader was down may be missing from the cart. */
                p->review |= SK_REVIEW_READER_OUTAGE;
            }
            r = checkout(f, s, now);
            gone = true;
        } else if ((p->state == SK_SESSION_LOST && now - p->lost_mono_us >= lost_max) ||
                   (p->state == SK_SESSION_ACTIVE && now - p->last_mono_us >= idle_max)) {
            r = abandon(f, s, now);
            gone = true;
        }
        if (r < 0) {
            return r;
        }
        if (!gone) {
            i++;
        }
    }
    return 0;
}
