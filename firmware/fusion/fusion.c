/* SPDX-License-Identifier: MIT */
/* The fusion engine: observation dispatch, the camera picture (tracks, zone stays), ticks. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/epc.h"
#include "storekeeper/log.h"

/* Ticks further apart than this (or four tick periods) mean the process stalled. */
#define STALL_US 1000000LL

/*
 * DESIGN
 * Two pictures meet here. The RFID picture says which tag lies on which shelf (fusion_stock.c
 * keeps it by EPC, rebuilt from the core's durable present-tag set) and when one leaves or
 * arrives. The camera picture says which anonymous track stood in which zone when: every
 * track keeps its last VISITS_MAX zone stays with enter and leave times. A tag departure is
 * matched against the stays in its shelf's zone around the moment the tag was last seen
 * (fusion_tags.c); a track belongs to a session (fusion_sessions.c) opened when it crossed
 * the entry inwards, or joined to a session whose own track vanished nearby.
 *
 * Time: every rule works in monotonic microseconds, taken from the observation (when the
 * producer saw it), and "now" from the injected clock for the deadlines the tick enforces.
 * Wall times are only carried into events. Nothing reads the system clock, so a replay with
 * recorded times makes the same decisions.
 *
 * Decisions that depend on later observations wait: a departure is decided once the camera
 * picture around it is complete (a lost track is joined or given up, a new track is joined
 * or not), a checkout once no departure before the exit can still reach the cart, an exit
 * portal sighting once a cart could have claimed the tag. Every wait is bounded by a
 * configured grace period, so nothing is held forever.
 */

int64_t sk_fusion_now(const struct sk_fusion *f)
{
    return sk_clock_mono_us(f->clock);
}

int64_t sk_fusion_wall(const struct sk_fusion *f)
{
    return sk_clock_wall_us(f->clock);
}

int64_t sk_fusion_to_wall(const struct sk_fusion *f, int64_t mono_us)
{
    return sk_fusion_wall(f) - (sk_fusion_now(f) - mono_us);
}

static int64_t obs_mono(const struct sk_fusion *f, const struct sk_obs *obs)
{
    return obs->mono_us ? obs->mono_us : sk_fusion_now(f);
}

static int64_t obs_wall(const struct sk_fusion *f, const struct sk_obs *obs)
{
    return obs->wall_us ? obs->wall_us : sk_fusion_to_wall(f, obs_mono(f, obs));
}

int sk_fusion_emit(struct sk_fusion *f, struct sk_fusion_event *ev)
{
    if (!ev->wall_us) {
        ev->wall_us = sk_fusion_to_wall(f, ev->mono_us);
    }
    int r = f->emit ? f->emit(f->emit_ctx, ev) : 0;
    if (r < 0 && !f->err) {
        f->err = r;
    }
    return r;
}

bool sk_fusion_epc_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

void sk_fusion_lookup_product(struct sk_fusion *f, struct sk_fusion_line *line)
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

int sk_fusion_home(struct sk_fusion *f, int shelf, const char *sku)
{
    if (!f->catalog.planogram || shelf < 0) {
        return -ENOENT;
    }
    return f->catalog.planogram(f->catalog.ctx, f->cfg->shelves[shelf].name, sku);
}

int sk_fusion_shelf_of(const struct sk_fusion *f, const char *reader, int antenna)
{
    for (size_t i = 0; i < f->cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *s = &f->cfg->shelves[i];
        if (strcmp(s->reader, reader) == 0 && (s->antenna == 0 || s->antenna == antenna)) {
            return (int)i;
        }
    }
    return -1;
}

static int zone_index(const struct sk_config *cfg, const char *camera, const char *name)
{
    for (size_t i = 0; i < cfg->n_zones; i++) {
        if (strcmp(cfg->zones[i].name, name) == 0 &&
            (!camera[0] || strcmp(cfg->zones[i].camera, camera) == 0)) {
            return (int)i;
        }
    }
    return -1;
}

static const struct sk_line_cfg *
line_cfg(const struct sk_config *cfg, const char *camera, const char *name)
{
    for (size_t i = 0; i < cfg->n_lines; i++) {
        if (strcmp(cfg->lines[i].name, name) == 0 &&
            (!camera[0] || strcmp(cfg->lines[i].camera, camera) == 0)) {
            return &cfg->lines[i];
        }
    }
    return NULL;
}

/* Derives per-shelf and per-zone tables from the configuration. */
static int derive(struct sk_fusion *f, const struct sk_config *cfg)
{
    struct shelf_info *sh = calloc(cfg->n_shelves ? cfg->n_shelves : 1, sizeof(*sh));
    float *cx = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*cx));
    float *cy = calloc(cfg->n_zones ? cfg->n_zones : 1, sizeof(*cy));
    if (!sh || !cx || !cy) {
        free(sh);
        free(cx);
        free(cy);
        return -ENOMEM;
    }
    int64_t max_hold = 0;
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *s = &cfg->shelves[i];
        sh[i].reader = -1;
        for (size_t r = 0; r < cfg->n_readers; r++) {
            if (strcmp(cfg->readers[r].name, s->reader) == 0) {
                sh[i].reader = (int)r;
            }
        }
        sh[i].antenna = s->antenna;
        sh[i].zone = s->zone[0] ? zone_index(cfg, "", s->zone) : -1;
        const struct sk_presence_preset_cfg *p = sk_config_preset(cfg, s->preset);
        sh[i].hold_us = (int64_t)(p ? p->hold_ms : 3000) * 1000;
        const struct sk_bus_cfg *bus =
                sh[i].reader >= 0 ? sk_config_bus(cfg, cfg->readers[sh[i].reader].bus) : NULL;
        sh[i].poll_us = (int64_t)(bus ? bus->poll_interval_ms : 200) * 1000;
        if (sh[i].hold_us > max_hold) {
            max_hold = sh[i].hold_us;
        }
        /* A reload keeps running restock sessions. */
        if (f->shelves && f->cfg && i < f->cfg->n_shelves &&
            strcmp(f->cfg->shelves[i].name, s->name) == 0) {
            sh[i].restock_until_us = f->shelves[i].restock_until_us;
            sh[i].restock_start_us = f->shelves[i].restock_start_us;
            sh[i].restock_implicit = f->shelves[i].restock_implicit;
            memcpy(sh[i].restock_id, f->shelves[i].restock_id, sizeof(sh[i].restock_id));
        }
    }
    for (size_t z = 0; z < cfg->n_zones; z++) {
        const struct sk_zone_cfg *zc = &cfg->zones[z];
        double sx = 0, sy = 0;
        size_t n = zc->polygon_len / 2;
        for (size_t k = 0; k < n; k++) {
            sx += zc->polygon[2 * k];
            sy += zc->polygon[2 * k + 1];
        }
        cx[z] = n ? (float)(sx / (double)n) : 0;
        cy[z] = n ? (float)(sy / (double)n) : 0;
    }
    free(f->shelves);
    free(f->zone_cx);
    free(f->zone_cy);
    f->shelves = sh;
    f->zone_cx = cx;
    f->zone_cy = cy;
    f->max_hold_us = max_hold;
    f->cfg = cfg;
    return 0;
}

int sk_fusion_new(const struct sk_config *cfg,
                  const struct sk_clock *clock,
                  const struct sk_fusion_catalog *catalog,
                  sk_fusion_emit_cb emit,
                  void *emit_ctx,
                  struct sk_fusion **ret_fusion)
{
    struct sk_fusion *f = calloc(1, sizeof(*f));
    if (!f) {
        return -ENOMEM;
    }
    f->clock = clock;
    if (catalog) {
        f->catalog = *catalog;
    }
    f->emit = emit;
    f->emit_ctx = emit_ctx;
    const struct sk_fusion_cfg *fc = &cfg->fusion;
    f->max_tracks = fc->max_tracks > 0 ? (size_t)fc->max_tracks : 1024;
    f->max_sessions = fc->max_sessions > 0 ? (size_t)fc->max_sessions : 512;
    f->max_pending = fc->max_pending > 0 ? (size_t)fc->max_pending : 8192;
    f->tracks = calloc(f->max_tracks, sizeof(*f->tracks));
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers */
    f->sessions = calloc(f->max_sessions, sizeof(*f->sessions));
    f->pending = calloc(f->max_pending, sizeof(*f->pending));
    f->sightings = calloc(f->max_pending, sizeof(*f->sightings));
    f->memos = calloc(f->max_pending, sizeof(*f->memos));
    f->gone = calloc(f->max_sessions, sizeof(*f->gone));
    f->next_session_no = 1;
    /* Any value that differs between processes will do; it only tells whether an exported
     * state's monotonic times are this process's. */
    f->instance = ((uint64_t)sk_now_mono_us() << 20) ^ (uint64_t)(uintptr_t)f ^
                  (uint64_t)sk_now_wall_us();
    if (!f->tracks || !f->sessions || !f->pending || !f->sightings || !f->memos || !f->gone ||
        derive(f, cfg) < 0) {
        sk_fusion_free(f);
        return -ENOMEM;
    }
    *ret_fusion = f;
    return 0;
}

void sk_fusion_free(struct sk_fusion *f)
{
    if (!f) {
        return;
    }
    for (size_t i = 0; i < f->n_sessions; i++) {
        sk_fusion_session_free(f->sessions[i]);
    }
    sk_fusion_places_clear(f);
    free(f->places);
    sk_fusion_stock_clear(f);
    free(f->sessions);
    free(f->tracks);
    free(f->pending);
    free(f->sightings);
    free(f->memos);
    free(f->gone);
    free(f->shelves);
    free(f->zone_cx);
    free(f->zone_cy);
    free(f);
}

void sk_fusion_set_catalog(struct sk_fusion *f, const struct sk_fusion_catalog *catalog)
{
    if (catalog) {
        f->catalog = *catalog;
    } else {
        memset(&f->catalog, 0, sizeof(f->catalog));
    }
}

void sk_fusion_set_config(struct sk_fusion *f, const struct sk_config *cfg)
{
    if (derive(f, cfg) < 0) {
        /* Keep the old tables; only timings (read from cfg each time) follow the reload. */
        sk_log(SK_LOG_ERR, "fusion", NULL, "out of memory applying a reload");
    }
    f->cfg = cfg;
}

/* ---- tracks ---------------------------------------------------------------------------- */

/*
 * Without create: the live track (camera, id), else the last one lost under that id (trackers
 * reuse ids, and a restarted camera starts again at 1). With create: a new record; a full
 * table forgets the longest-lost track, or the one silent longest.
 */
struct track *sk_fusion_track(struct sk_fusion *f, const char *camera, uint32_t id, bool create)
{
    struct track *free_slot = NULL, *oldest = NULL, *lost = NULL;
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (!t->used) {
            if (!free_slot) {
                free_slot = t;
            }
            continue;
        }
        if (!create && t->id == id && strcmp(t->camera, camera) == 0) {
            if (!t->lost_us) {
                return t;
            }
            if (!lost || t->lost_us > lost->lost_us) {
                lost = t;
            }
        }
        if (!oldest || (t->lost_us && !oldest->lost_us) ||
            ((t->lost_us != 0) == (oldest->lost_us != 0) && t->last_us < oldest->last_us)) {
            oldest = t;
        }
    }
    if (!create) {
        return lost;
    }
    struct track *t = free_slot;
    if (!t) {
        t = oldest;
        if (!t) {
            abort(); /* max_tracks >= 1 (sk_fusion_new): a full table has an oldest track */
        }
        if (!t->lost_us) {
            f->stats.dropped++;
            sk_log(SK_LOG_WARNING, "fusion", NULL,
                   "more than fusion.max_tracks (%zu) tracks; forgetting track %u of %s",
                   f->max_tracks, t->id, t->camera);
        }
    } else {
        f->stats.tracks++;
    }
    memset(t, 0, sizeof(*t));
    t->used = true;
    snprintf(t->camera, sizeof(t->camera), "%s", camera);
    t->id = id;
    return t;
}

static struct zone_visit *last_visit(struct track *t, int zone, bool open_only)
{
    unsigned n = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
    for (unsigned k = 0; k < n; k++) {
        struct zone_visit *v = &t->visits[(t->n_visits - 1 - k) % VISITS_MAX];
        if (v->zone == zone && (!open_only || v->leave_us == NEVER)) {
            return v;
        }
    }
    return NULL;
}

static void set_pos(struct track *t, const struct sk_obs_track *o)
{
    if (isfinite(o->x) && isfinite(o->y) && (o->x != 0 || o->y != 0)) {
        t->x = o->x;
        t->y = o->y;
        t->has_pos = true;
    }
}

static void touch_session(struct sk_fusion *f, struct track *t, int64_t mono)
{
    struct session *s = t->session ? sk_fusion_session_no(f, t->session) : NULL;
    if (s && s->pub.camera[0] && strcmp(s->pub.camera, t->camera) == 0 &&
        s->pub.track_id == t->id) {
        s->pub.last_mono_us = mono;
        if (t->has_pos) {
            s->pub.x = t->x;
            s->pub.y = t->y;
            s->pub.has_pos = true;
        }
    }
}

static float segment_distance(const double *p, float x, float y)
{
    double dx = p[2] - p[0], dy = p[3] - p[1];
    double len2 = dx * dx + dy * dy;
    double u = len2 > 0 ? ((x - p[0]) * dx + (y - p[1]) * dy) / len2 : 0;
    u = u < 0 ? 0 : (u > 1 ? 1 : u);
    return (float)hypot(p[0] + u * dx - x, p[1] + u * dy - y);
}

/* Whether the track was born within the join radius of one of its camera's entry lines. */
static bool near_entry(const struct sk_fusion *f, const struct track *t)
{
    if (!t->born_pos) {
        return false;
    }
    for (size_t i = 0; i < f->cfg->n_lines; i++) {
        const struct sk_line_cfg *l = &f->cfg->lines[i];
        if ((l->role == SK_LINE_ENTRY || l->role == SK_LINE_DOOR) && l->points_len == 4 &&
            strcmp(l->camera, t->camera) == 0 &&
            segment_distance(l->points, t->born_x, t->born_y) <= f->cfg->fusion.join_radius_px) {
            return true;
        }
    }
    return false;
}

/*
 * The exit or door line (of the track's camera) that the point (x, y) lies beyond, on the
 * outside, along the line's extent; NULL when none. Vision's convention: the signed distance
 * (dx (y - y1) - dy (x - x1)) / |d| is negative on the left of x1,y1 -> x2,y2.
 */
static const struct sk_line_cfg *
outside_exit(const struct sk_fusion *f, const char *camera, float x, float y)
{
    for (size_t i = 0; i < f->cfg->n_lines; i++) {
        const struct sk_line_cfg *l = &f->cfg->lines[i];
        if ((l->role != SK_LINE_EXIT && l->role != SK_LINE_DOOR) || l->points_len != 4 ||
            strcmp(l->camera, camera) != 0) {
            continue;
        }
        const double *p = l->points;
        double dx = p[2] - p[0], dy = p[3] - p[1], len2 = dx * dx + dy * dy;
        if (len2 <= 0) {
            continue;
        }
        double d = (dx * (y - p[1]) - dy * (x - p[0])) / sqrt(len2);
        double u = ((x - p[0]) * dx + (y - p[1]) * dy) / len2;
        int inside = l->inside == 0 ? -1 : 1;
        if (d * inside < -3.0 && u > -0.1 && u < 1.1) {
            return l;
        }
    }
    return NULL;
}

/* A track we never heard of: its TRACK_NEW was dropped (cameras drop above the queue's high
 * mark) or it predates a restart. It is treated as new. */
static struct track *known_track(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = sk_fusion_track(f, obs->source, obs->u.track.track_id, false);
    if (t && !t->lost_us) {
        return t;
    }
    t = sk_fusion_track(f, obs->source, obs->u.track.track_id, true);
    t->born_us = t->last_us = mono;
    set_pos(t, &obs->u.track);
    t->born_x = t->x;
    t->born_y = t->y;
    t->born_pos = t->has_pos;
    t->join_pending = true;
    t->at_door = near_entry(f, t);
    return t;
}

static void track_new(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = sk_fusion_track(f, obs->source, obs->u.track.track_id, false);
    if (t && !t->lost_us) {
        set_pos(t, &obs->u.track);
        return; /* repeated (a retried batch): nothing new */
    }
    known_track(f, obs, mono);
}

static void track_lost(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = sk_fusion_track(f, obs->source, obs->u.track.track_id, false);
    if (!t || t->lost_us) {
        return;
    }
    set_pos(t, &obs->u.track);
    t->lost_us = mono;
    t->last_us = mono;
    t->join_pending = false;
    unsigned n = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
    for (unsigned k = 0; k < n; k++) {
        struct zone_visit *v = &t->visits[k];
        if (v->leave_us == NEVER) {
            v->leave_us = mono;
            v->by_loss = true;
        }
    }
    struct session *s = t->session ? sk_fusion_session_no(f, t->session) : NULL;
    if (s && s->pub.track_id == t->id && strcmp(s->pub.camera, t->camera) == 0) {
        if (t->has_pos) {
            s->pub.x = t->x;
            s->pub.y = t->y;
            s->pub.has_pos = true;
        }
        const struct sk_line_cfg *out = t->has_pos ? outside_exit(f, t->camera, t->x, t->y) : NULL;
        if (s->pub.state == SK_SESSION_ACTIVE && out) {
            /* It vanished beyond the exit: the shopper left, even if the camera missed the
             * crossing itself (frames skipped, two people through the door at once). */
            sk_fusion_session_exit(f, s, mono, obs_wall(f, obs), out->name);
        } else if (s->pub.state == SK_SESSION_ACTIVE) {
            s->pub.state = SK_SESSION_LOST;
            s->pub.lost_mono_us = mono;
            sk_fusion_session_dirty(f, s);
        }
    }
}

static void zone_enter(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    int z = zone_index(f->cfg, obs->source, obs->u.track.zone);
    if (z < 0) {
        return;
    }
    struct track *t = known_track(f, obs, mono);
    set_pos(t, &obs->u.track);
    t->last_us = mono;
    struct zone_visit *v = last_visit(t, z, true);
    if (!v) {
        v = &t->visits[t->n_visits++ % VISITS_MAX];
        memset(v, 0, sizeof(*v));
        v->zone = z;
        v->enter_us = mono;
        v->leave_us = NEVER;
    }
    if (t->has_pos) {
        v->x = t->x;
        v->y = t->y;
        v->has_pos = true;
    }
    touch_session(f, t, mono);
}

static void zone_leave(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    int z = zone_index(f->cfg, obs->source, obs->u.track.zone);
    if (z < 0) {
        return;
    }
    struct track *t = known_track(f, obs, mono);
    t->last_us = mono;
    struct zone_visit *v = last_visit(t, z, true);
    if (!v && obs->u.track.dwell_ms > 0) {
        /* Its enter was dropped (cameras drop above the queue's high mark): the camera says
         * how long the track stayed. */
        v = &t->visits[t->n_visits++ % VISITS_MAX];
        memset(v, 0, sizeof(*v));
        v->zone = z;
        v->enter_us = mono - (int64_t)obs->u.track.dwell_ms * 1000;
        v->x = obs->u.track.x;
        v->y = obs->u.track.y;
        v->has_pos = isfinite(v->x) && isfinite(v->y) && (v->x != 0 || v->y != 0);
    }
    if (v) {
        v->leave_us = mono;
    }
    set_pos(t, &obs->u.track);
    touch_session(f, t, mono);
}

static void bind_waiting(struct sk_fusion *f, struct session *s, int64_t mono)
{
    for (size_t i = 0; i < f->n_binds; i++) {
        if (!f->binds[i].session[0] && f->binds[i].expires_us > mono) {
            snprintf(s->pub.account, sizeof(s->pub.account), "%s", f->binds[i].token);
            memmove(&f->binds[i], &f->binds[i + 1], (f->n_binds - i - 1) * sizeof(f->binds[0]));
            f->n_binds--;
            return;
        }
    }
}

static int line_cross(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono, int64_t wall)
{
    const struct sk_line_cfg *lc = line_cfg(f->cfg, obs->source, obs->u.track.zone);
    if (!lc || lc->role == SK_LINE_COUNT) {
        return 0;
    }
    struct track *t = known_track(f, obs, mono);
    set_pos(t, &obs->u.track);
    t->last_us = mono;
    struct session *s = t->session ? sk_fusion_session_no(f, t->session) : NULL;
    if (s && (s->pub.track_id != t->id || strcmp(s->pub.camera, t->camera) != 0)) {
        s = NULL; /* the track was joined away from: not its session any more */
    }
    bool inward = obs->u.track.dir == SK_LINE_IN;
    if (inward && (lc->role == SK_LINE_ENTRY || lc->role == SK_LINE_DOOR)) {
        t->join_pending = false;
        if (s && s->pub.state == SK_SESSION_EXITING) {
            /* Came back in before the checkout went out: the same visit goes on. */
            s->pub.state = SK_SESSION_ACTIVE;
            s->pub.exit_mono_us = s->pub.exit_wall_us = 0;
            s->pub.exit_line[0] = 0;
            s->pub.last_mono_us = mono;
            sk_fusion_session_dirty(f, s);
            return 0;
        }
        if (s && !sk_fusion_unjoin(f, s, t, mono)) {
            return 0; /* crossing jitter at the door */
        }
        s = sk_fusion_session_open(f, t, lc->name, mono, wall);
        if (!s) {
            return 0;
        }
        bind_waiting(f, s, mono);
        struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                     .what = SK_SESSION_OPENED,
                                     .mono_us = mono,
                                     .wall_us = wall,
                                     .session = &s->pub};
        sk_fusion_emit(f, &ev);
        if (s->pub.account[0]) {
            ev.what = SK_SESSION_BOUND;
            sk_fusion_emit(f, &ev);
        }
        return f->err;
    }
    if (!inward && (lc->role == SK_LINE_EXIT || lc->role == SK_LINE_DOOR)) {
        if (!s && t->join_pending) {
            /* Reappeared at the door and left at once: join before the exit counts. */
            sk_fusion_try_join(f, t, true);
            s = t->session ? sk_fusion_session_no(f, t->session) : NULL;
        }
        if (s && (s->pub.state == SK_SESSION_ACTIVE || s->pub.state == SK_SESSION_LOST)) {
            sk_fusion_session_exit(f, s, mono, wall, lc->name);
        }
    }
    return f->err;
}

/* Pending joins whose deferral is over are decided. */
static int joins_tick(struct sk_fusion *f, int64_t now)
{
    int64_t defer = (int64_t)f->cfg->fusion.join_defer_ms * 1000;
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        /* Someone appearing at the door is most likely coming in: give the crossing time. */
        int64_t door = (int64_t)f->cfg->fusion.door_defer_ms * 1000;
        int64_t wait = t->at_door && defer < door ? door : defer;
        if (t->used && t->join_pending && !t->lost_us && now - t->born_us >= wait) {
            sk_fusion_try_join(f, t, false);
        }
    }
    return f->err;
}

static void tracks_expire(struct sk_fusion *f, int64_t now)
{
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (t->used && t->lost_us && now - t->lost_us > TRACK_KEEP_US) {
            t->used = false;
            f->stats.tracks--;
        }
    }
}

int sk_fusion_handle(struct sk_fusion *f, const struct sk_obs *obs)
{
    f->err = 0;
    int64_t mono = obs_mono(f, obs);
    int64_t wall = obs_wall(f, obs);
    switch (obs->type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED: {
        if (obs->u.tag.epc_len == 0 || obs->u.tag.epc_len > SK_EPC_MAX) {
            return 0;
        }
        const struct sk_reader_cfg *rc = sk_config_reader(f->cfg, obs->source);
        if (rc && rc->role == SK_READER_EXIT) {
            return obs->type == SK_OBS_TAG_ARRIVED ? sk_fusion_exit_seen(f, obs) : 0;
        }
        int shelf = sk_fusion_shelf_of(f, obs->source, obs->u.tag.antenna);
        if (shelf < 0) {
            sk_log(SK_LOG_DEBUG, "fusion", obs->source, "antenna %u watches no shelf",
                   obs->u.tag.antenna);
            return 0;
        }
        if (obs->type == SK_OBS_TAG_DEPARTED) {
            sk_fusion_tag_departed(f, obs, shelf);
        } else {
            sk_fusion_tag_arrived(f, obs, shelf);
        }
        break;
    }
    case SK_OBS_TRACK_NEW:
        track_new(f, obs, mono);
        break;
    case SK_OBS_TRACK_LOST:
        track_lost(f, obs, mono);
        break;
    case SK_OBS_ZONE_ENTER:
        zone_enter(f, obs, mono);
        break;
    case SK_OBS_ZONE_LEAVE:
        zone_leave(f, obs, mono);
        break;
    case SK_OBS_LINE_CROSS:
        line_cross(f, obs, mono, wall);
        break;
    default:
        return 0;
    }
    if (!f->err) {
        /* Fresh evidence may settle waiting decisions at once. */
        sk_fusion_decide_all(f);
    }
    return f->err;
}

int sk_fusion_tick(struct sk_fusion *f)
{
    f->err = 0;
    int64_t now = sk_fusion_now(f);
    int64_t stall = (int64_t)f->cfg->core.tick_ms * 4000;
    if (f->last_tick_us && now - f->last_tick_us > (stall > STALL_US ? stall : STALL_US)) {
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "no tick for %" PRId64 " ms: checkouts wait for the readers to catch up",
               (now - f->last_tick_us) / 1000);
        f->resumed_us = now;
    }
    f->last_tick_us = now;
    size_t k = 0;
    for (size_t i = 0; i < f->n_binds; i++) {
        if (f->binds[i].expires_us > now) {
            f->binds[k++] = f->binds[i];
        } else {
            f->dirty = true;
        }
    }
    f->n_binds = k;
    if (joins_tick(f, now) < 0 || sk_fusion_decide_all(f) < 0 || sk_fusion_sightings_tick(f) < 0 ||
        sk_fusion_sessions_tick(f) < 0 || sk_fusion_restock_tick(f) < 0) {
        return f->err;
    }
    sk_fusion_memos_expire(f);
    tracks_expire(f, now);
    return f->err;
}

int sk_fusion_bind(struct sk_fusion *f,
                   const char *token,
                   const char *session_id,
                   int64_t expires_mono_us)
{
    f->err = 0;
    if (session_id && session_id[0]) {
        for (size_t i = 0; i < f->n_sessions; i++) {
            struct session *s = f->sessions[i];
            if (strcmp(s->pub.id, session_id) == 0) {
                snprintf(s->pub.account, sizeof(s->pub.account), "%s", token);
                sk_fusion_session_dirty(f, s);
                struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                             .what = SK_SESSION_BOUND,
                                             .mono_us = sk_fusion_now(f),
                                             .session = &s->pub};
                sk_fusion_emit(f, &ev);
                return f->err;
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
    f->dirty = true;
    return 0;
}

/* ---- queries ----------------------------------------------------------------------------- */

size_t sk_fusion_session_count(const struct sk_fusion *f)
{
    return f->n_sessions;
}

const struct sk_fusion_session *sk_fusion_session_at(const struct sk_fusion *f, size_t i)
{
    return i < f->n_sessions ? &f->sessions[i]->pub : NULL;
}

const struct sk_fusion_session *sk_fusion_session_by_id(const struct sk_fusion *f, const char *id)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        if (strcmp(f->sessions[i]->pub.id, id) == 0) {
            return &f->sessions[i]->pub;
        }
    }
    return NULL;
}

const struct sk_fusion_session *
sk_fusion_session_of_track(const struct sk_fusion *f, const char *camera, uint32_t track_id)
{
    for (size_t i = 0; i < f->n_sessions; i++) {
        const struct sk_fusion_session *s = &f->sessions[i]->pub;
        if (s->track_id == track_id && strcmp(s->camera, camera) == 0) {
            return s;
        }
    }
    return NULL;
}

void sk_fusion_get_stats(const struct sk_fusion *f, struct sk_fusion_stats *ret_stats)
{
    *ret_stats = f->stats;
    ret_stats->pending_departures = f->n_pending;
}

bool sk_fusion_dirty(const struct sk_fusion *f)
{
    return f->dirty || f->parts_dirty;
}

const char *sk_fusion_rule_name(int rule)
{
    switch (rule) {
    case SK_RULE_ONLY:
        return "only";
    case SK_RULE_DWELL:
        return "dwell";
    case SK_RULE_NEAREST:
        return "nearest";
    case SK_RULE_LONGEST:
        return "longest";
    default:
        return "none";
    }
}

const char *sk_fusion_state_name(int state)
{
    switch (state) {
    case SK_SESSION_ACTIVE:
        return "active";
    case SK_SESSION_LOST:
        return "lost";
    case SK_SESSION_EXITING:
        return "exiting";
    case SK_SESSION_CLOSED:
        return "closed";
    case SK_SESSION_ABANDONED:
        return "abandoned";
    default:
        return "unknown";
    }
}

void sk_fusion_review_text(unsigned review, char *buf, size_t size)
{
    static const char *const names[] = {"low_confidence", "no_entry",  "unknown_product",
                                        "late_join",      "cart_full", "portal_exit",
                                        "late_item"};
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
