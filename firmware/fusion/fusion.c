/* SPDX-License-Identifier: MIT */
/* The fusion engine's dispatcher: lifecycle, observations and ticks to the layers, queries. */
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
 * Two pictures meet here. The RFID picture says which tag lies on which shelf (fusion_places.c
 * keeps it by EPC, rebuilt from the core's durable present-tag set) and when one leaves or
 * arrives (fusion_tags.c). The camera picture says which anonymous track stood in which zone
 * when (fusion_tracks.c): every track keeps its last VISITS_MAX zone stays with enter and
 * leave times. A tag departure is matched against the stays in its shelf's zone around the
 * moment the tag was last seen (fusion_attribution.c); a track belongs to a session
 * (fusion_sessions.c) opened when it crossed the entry inwards, or joined to a session whose
 * own track vanished nearby.
 *
 * This file is the top of the engine's layers (README.md): it turns each observation and
 * tick into calls down to them, and answers the queries of the API.
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
    /* Health history survives a reload unless the sources changed in number. */
    struct health_log *rh = f->reader_health, *ch = f->camera_health;
    if (!rh || f->n_reader_health != cfg->n_readers) {
        rh = calloc(cfg->n_readers ? cfg->n_readers : 1, sizeof(*rh));
    }
    if (!ch || f->n_camera_health != cfg->n_cameras) {
        ch = calloc(cfg->n_cameras ? cfg->n_cameras : 1, sizeof(*ch));
    }
    if (!sh || !cx || !cy || !rh || !ch) {
        free(sh);
        free(cx);
        free(cy);
        if (rh != f->reader_health) {
            free(rh);
        }
        if (ch != f->camera_health) {
            free(ch);
        }
        return -ENOMEM;
    }
    if (rh != f->reader_health) {
        free(f->reader_health);
        f->reader_health = rh;
        f->n_reader_health = cfg->n_readers;
    }
    if (ch != f->camera_health) {
        free(f->camera_health);
        f->camera_health = ch;
        f->n_camera_health = cfg->n_cameras;
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
        sh[i].camera = -1;
        for (size_t c = 0; sh[i].zone >= 0 && c < cfg->n_cameras; c++) {
            if (strcmp(cfg->cameras[c].name, cfg->zones[sh[i].zone].camera) == 0) {
                sh[i].camera = (int)c;
            }
        }
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
        fusion__session_free(f->sessions[i]);
    }
    fusion__places_clear(f);
    free(f->places);
    fusion__stock_clear(f);
    free(f->sessions);
    free(f->tracks);
    free(f->pending);
    free(f->sightings);
    free(f->memos);
    free(f->gone);
    free(f->shelves);
    free(f->zone_cx);
    free(f->zone_cy);
    free(f->reader_health);
    free(f->camera_health);
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

/* ---- the camera picture ------------------------------------------------------------------ */

/* The live track of a camera observation; one we never heard of (its TRACK_NEW was dropped:
 * cameras drop above the queue's high mark; or it predates a restart) is created as new. */
static struct track *known_track(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = fusion__track_find(f, obs->source, obs->u.track.track_id);
    if (t && !t->lost_us) {
        return t;
    }
    t = fusion__track_create(f, obs->source, obs->u.track.track_id);
    t->born_us = t->last_us = mono;
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    t->born_x = t->x;
    t->born_y = t->y;
    t->born_pos = t->has_pos;
    t->join_pending = true;
    t->at_door = fusion__track_near_entry(f, t);
    fusion__twin_check(f, t, mono);
    return t;
}

/* The session t follows learns where and when it was last seen. */
static void touch_session(struct sk_fusion *f, struct track *t, int64_t mono)
{
    struct session *s = fusion__session_of(f, t);
    if (s && s->pub.camera[0]) {
        s->pub.last_mono_us = mono;
        if (t->has_pos) {
            s->pub.x = t->x;
            s->pub.y = t->y;
            s->pub.has_pos = true;
        }
    }
}

static int track_new(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = fusion__track_find(f, obs->source, obs->u.track.track_id);
    if (t && !t->lost_us) {
        fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
        return 0; /* repeated (a retried batch): nothing new */
    }
    known_track(f, obs, mono);
    return 0;
}

/* A floor camera's periodic position: the session learns it, a twin is found or released. */
static int track_move(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    struct track *t = known_track(f, obs, mono);
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    t->last_us = mono;
    touch_session(f, t, mono);
    fusion__twin_check(f, t, mono);
    return 0;
}

static int track_lost(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono, int64_t wall)
{
    struct track *t = fusion__track_find(f, obs->source, obs->u.track.track_id);
    if (!t || t->lost_us) {
        return 0;
    }
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    fusion__track_end(t, mono);
    struct session *s = fusion__session_of(f, t);
    if (!s) {
        return 0;
    }
    if (t->has_pos) {
        s->pub.x = t->x;
        s->pub.y = t->y;
        s->pub.has_pos = true;
    }
    const struct sk_line_cfg *out =
            t->has_pos ? fusion__outside_exit(f, t->camera, t->x, t->y) : NULL;
    if (s->pub.state == SK_SESSION_ACTIVE && out) {
        /* It vanished beyond the exit: the shopper left, even if the camera missed the
         * crossing itself (frames skipped, two people through the door at once). */
        fusion__session_exit(f, s, mono, wall, out->name);
    } else if (s->pub.state == SK_SESSION_ACTIVE) {
        s->pub.state = SK_SESSION_LOST;
        s->pub.lost_mono_us = mono;
        fusion__session_dirty(f, s);
        /* Left this camera's view where another's sees the shopper: it goes on there. */
        int r = fusion__handover(f, s, t, NULL);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static int zone_enter(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    int z = zone_index(f->cfg, obs->source, obs->u.track.zone);
    if (z < 0) {
        return 0;
    }
    struct track *t = known_track(f, obs, mono);
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    t->last_us = mono;
    struct zone_visit *v = fusion__track_visit(t, z, true);
    if (!v) {
        v = fusion__track_visit_add(t, z, mono);
    }
    if (t->has_pos) {
        v->x = t->x;
        v->y = t->y;
        v->has_pos = true;
    }
    touch_session(f, t, mono);
    return 0;
}

static int zone_leave(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    int z = zone_index(f->cfg, obs->source, obs->u.track.zone);
    if (z < 0) {
        return 0;
    }
    struct track *t = known_track(f, obs, mono);
    t->last_us = mono;
    struct zone_visit *v = fusion__track_visit(t, z, true);
    if (!v && obs->u.track.dwell_ms > 0) {
        /* Its enter was dropped (cameras drop above the queue's high mark): the camera says
         * how long the track stayed. */
        v = fusion__track_visit_add(t, z, mono - (int64_t)obs->u.track.dwell_ms * 1000);
        v->x = obs->u.track.x;
        v->y = obs->u.track.y;
        v->has_pos = isfinite(v->x) && isfinite(v->y) && (v->x != 0 || v->y != 0);
    }
    if (v) {
        v->leave_us = mono;
    }
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    touch_session(f, t, mono);
    return 0;
}

/* A track crossed the entry (or a door) inwards: a session opens, or continues. */
static int entry_crossed(struct sk_fusion *f,
                         struct track *t,
                         struct session *s,
                         const struct sk_line_cfg *lc,
                         int64_t mono,
                         int64_t wall)
{
    t->join_pending = false;
    if (s && s->pub.state == SK_SESSION_EXITING) {
        /* Came back in before the checkout went out: the same visit goes on, unless it was
         * somebody coming in whom the camera took for the one leaving: a person looks. */
        s->pub.state = SK_SESSION_ACTIVE;
        s->pub.review |= SK_REVIEW_REENTERED;
        s->pub.exit_mono_us = s->pub.exit_wall_us = 0;
        s->pub.exit_line[0] = 0;
        s->pub.last_mono_us = mono;
        fusion__session_dirty(f, s);
        return 0;
    }
    if (s && !fusion__unjoin(f, s, t, mono)) {
        return 0; /* crossing jitter at the door */
    }
    s = fusion__session_open(f, t, lc->name, mono, wall);
    if (!s) {
        return 0; /* fusion.max_sessions are open: logged and counted, not followed */
    }
    struct sk_fusion_event ev = {.type = SK_FEV_SESSION,
                                 .what = SK_SESSION_OPENED,
                                 .mono_us = mono,
                                 .wall_us = wall,
                                 .session = &s->pub};
    int r = fusion__emit(f, &ev);
    if (r == 0 && s->pub.account[0]) {
        ev.what = SK_SESSION_BOUND;
        r = fusion__emit(f, &ev);
    }
    return r;
}

static int line_cross(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono, int64_t wall)
{
    const struct sk_line_cfg *lc = line_cfg(f->cfg, obs->source, obs->u.track.zone);
    if (!lc || lc->role == SK_LINE_COUNT) {
        return 0;
    }
    struct track *t = known_track(f, obs, mono);
    fusion__track_set_pos(f, t, obs->u.track.x, obs->u.track.y, mono);
    t->last_us = mono;
    struct session *s = fusion__session_of(f, t);
    bool inward = obs->u.track.dir == SK_LINE_IN;
    if (!s) {
        fusion__twin_check(f, t, mono);
    }
    if (inward && (lc->role == SK_LINE_ENTRY || lc->role == SK_LINE_DOOR)) {
        if (t->twin) {
            return 0; /* a line both cameras see: the other one's track opened the session */
        }
        return entry_crossed(f, t, s, lc, mono, wall);
    }
    if (!inward && (lc->role == SK_LINE_EXIT || lc->role == SK_LINE_DOOR)) {
        struct session *of = t->twin ? fusion__session_no(f, t->session) : NULL;
        if (of) {
            /* The shopper leaves in this camera's view: this track is the one to follow. */
            struct track *p = fusion__track_find(f, of->pub.camera, of->pub.track_id);
            int r = p ? fusion__handover(f, of, p, t) : 0;
            if (r < 0) {
                return r;
            }
            s = fusion__session_of(f, t);
        }
        if (!s && t->join_pending) {
            /* Reappeared at the door and left at once: join before the exit counts. */
            int r = fusion__try_join(f, t, true);
            if (r < 0) {
                return r;
            }
            s = t->session ? fusion__session_no(f, t->session) : NULL;
        }
        if (s && (s->pub.state == SK_SESSION_ACTIVE || s->pub.state == SK_SESSION_LOST)) {
            fusion__session_exit(f, s, mono, wall, lc->name);
        }
    }
    return 0;
}

/* Pending joins whose deferral is over are decided. */
static int joins_tick(struct sk_fusion *f, int64_t now)
{
    int64_t defer = (int64_t)f->cfg->fusion.join_defer_ms * 1000;
    /* Someone appearing at the door is most likely coming in: give the crossing time. */
    int64_t door = (int64_t)f->cfg->fusion.door_defer_ms * 1000;
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        int64_t wait = t->at_door && defer < door ? door : defer;
        if (t->used && t->join_pending && !t->lost_us && now - t->born_us >= wait) {
            int r = fusion__try_join(f, t, false);
            if (r < 0) {
                return r;
            }
        }
    }
    return 0;
}

/* A tag observation: the exit portal's, or a shelf's. Returns 1 when a shelf's changed the
 * picture (waiting decisions may settle), 0 when nothing more follows, < 0 an error. */
static int tag_seen(struct sk_fusion *f, const struct sk_obs *obs)
{
    if (obs->u.tag.epc_len == 0 || obs->u.tag.epc_len > SK_EPC_MAX) {
        return 0;
    }
    const struct sk_reader_cfg *rc = sk_config_reader(f->cfg, obs->source);
    if (rc && rc->role == SK_READER_EXIT) {
        return obs->type == SK_OBS_TAG_ARRIVED ? fusion__exit_seen(f, obs) : 0;
    }
    int shelf = fusion__shelf_of(f, obs->source, obs->u.tag.antenna);
    if (shelf < 0) {
        sk_log(SK_LOG_DEBUG, "fusion", obs->source, "antenna %u watches no shelf",
               obs->u.tag.antenna);
        return 0;
    }
    int r = obs->type == SK_OBS_TAG_DEPARTED ? fusion__tag_departed(f, obs, shelf)
                                             : fusion__tag_arrived(f, obs, shelf);
    return r < 0 ? r : 1;
}

/* The camera saw a track (or, track 0, nobody it follows) reach into a shelf's reach band. */
static int reach_seen(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    int z = zone_index(f->cfg, obs->source, obs->u.track.zone);
    if (z < 0) {
        return 0;
    }
    int64_t start = mono - (int64_t)obs->u.track.dwell_ms * 1000;
    float depth = isfinite(obs->u.track.reach) ? obs->u.track.reach : 0;
    depth = depth < 0 ? 0 : depth > 1 ? 1 : depth;
    if (!obs->u.track.track_id) {
        for (size_t i = 0; i < f->cfg->n_shelves; i++) {
            struct shelf_info *si = &f->shelves[i];
            if (si->zone == z) {
                si->unexplained[si->n_unexplained++ % REACHES_MAX] =
                        (struct reach_rec){z, start, mono, depth, SK_REACH_SHARED, 0};
            }
        }
        return 0;
    }
    /* A reach ends before its track is reported lost; an unknown track is not made up. */
    struct track *t = fusion__track_find(f, obs->source, obs->u.track.track_id);
    if (t) {
        uint8_t sole =
                obs->u.track.sole <= SK_REACH_SHARED ? obs->u.track.sole : SK_REACH_SOLE_UNKNOWN;
        fusion__track_reach(t, z, start, mono, depth, sole);
    }
    return 0;
}

/* A reader or camera changed health: remembered, so attribution can ask for an interval. */
static int health_changed(struct sk_fusion *f, const struct sk_obs *obs, int64_t mono)
{
    if (obs->type == SK_OBS_READER_HEALTH) {
        const struct sk_reader_cfg *rc = sk_config_reader(f->cfg, obs->source);
        size_t i = rc ? (size_t)(rc - f->cfg->readers) : SIZE_MAX;
        if (i < f->n_reader_health) {
            fusion__health_note(&f->reader_health[i], mono, obs->u.health.state);
        }
    } else {
        const struct sk_camera_cfg *cc = sk_config_camera(f->cfg, obs->source);
        size_t i = cc ? (size_t)(cc - f->cfg->cameras) : SIZE_MAX;
        if (i < f->n_camera_health) {
            fusion__health_note(&f->camera_health[i], mono, obs->u.health.state);
        }
    }
    return 0;
}

int sk_fusion_handle(struct sk_fusion *f, const struct sk_obs *obs)
{
    int64_t mono = fusion__obs_mono(f, obs);
    int64_t wall = fusion__obs_wall(f, obs);
    int r;
    switch (obs->type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED:
        if ((r = tag_seen(f, obs)) <= 0) {
            return r;
        }
        break;
    case SK_OBS_TRACK_NEW:
        r = track_new(f, obs, mono);
        break;
    case SK_OBS_TRACK_LOST:
        r = track_lost(f, obs, mono, wall);
        break;
    case SK_OBS_TRACK_MOVE:
        r = track_move(f, obs, mono);
        break;
    case SK_OBS_ZONE_ENTER:
        r = zone_enter(f, obs, mono);
        break;
    case SK_OBS_ZONE_LEAVE:
        r = zone_leave(f, obs, mono);
        break;
    case SK_OBS_LINE_CROSS:
        r = line_cross(f, obs, mono, wall);
        break;
    case SK_OBS_REACH:
        r = reach_seen(f, obs, mono);
        break;
    case SK_OBS_READER_HEALTH:
    case SK_OBS_CAMERA_HEALTH:
        return health_changed(f, obs, mono);
    default:
        return 0;
    }
    if (r < 0) {
        return r;
    }
    /* Fresh evidence may settle waiting decisions at once. */
    return fusion__decide_all(f);
}

int sk_fusion_tick(struct sk_fusion *f)
{
    int64_t now = fusion__now(f);
    int64_t stall = (int64_t)f->cfg->core.tick_ms * 4000;
    if (f->last_tick_us && now - f->last_tick_us > (stall > STALL_US ? stall : STALL_US)) {
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "no tick for %" PRId64 " ms: checkouts wait for the readers to catch up",
               (now - f->last_tick_us) / 1000);
        f->resumed_us = now;
    }
    f->last_tick_us = now;
    fusion__binds_expire(f, now);
    int r;
    if ((r = joins_tick(f, now)) < 0 || (r = fusion__decide_all(f)) < 0 ||
        (r = fusion__sightings_tick(f)) < 0 || (r = fusion__sessions_tick(f)) < 0 ||
        (r = fusion__restock_tick(f)) < 0) {
        return r;
    }
    fusion__memos_expire(f);
    fusion__tracks_expire(f, now);
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
