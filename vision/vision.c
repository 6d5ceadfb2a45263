/* SPDX-License-Identifier: MIT */
/* The vision pipeline: scale, background, blobs, tracks, then zone and line events. */
#include "storekeeper/vision.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cv_shim.h"
#include "storekeeper/error.h"
#include "storekeeper/module.h"
#include "tracker.h"
#include "vision_internal.h"

/*
 * DESIGN
 * The pipeline owns three processing-size buffers (image, mask) and an OpenCV workspace;
 * a frame allocates nothing. Geometry works on tracks, not blobs: a zone visit or a line
 * crossing belongs to a shopper's identity, which only the tracker knows.
 *
 * Zones: a track is in a zone when its position is inside the polygon; it leaves when it is
 * outside by more than zone_margin_px, so a shopper standing on the border does not flicker
 * in and out. Dwell is the media time from the frame it entered to the frame it left.
 *
 * Lines: each (track, line) pair remembers the last side the track was clearly on (farther
 * than line_margin_px). When it turns up clearly on the other side, and the way between
 * the two positions cuts the line segment (not around its end), that is one crossing,
 * inwards or outwards by the line's `inside`. A shopper dithering on the line counts once.
 * A crossing is reported CROSS_DEBOUNCE_FRAMES later (with the time it happened); crossing
 * back before then cancels both, so hesitating in a door or a merged blob's centre swinging
 * across the line counts nothing. A track that ends reports what is pending.
 * Tracks are judged from their confirmation on: a crossing needs a confirmed identity.
 * Only seen positions count: a track coasting unseen keeps its zones and line sides until it
 * is seen again, then the way from its last seen position decides (a prediction drifting
 * across a line is no crossing; a real one behind an obstacle still is). A group member's
 * position (its share of the group's blob) counts for a line only where the group's
 * measured centre is on the same side: two people crossing together count twice, a share
 * swinging across the line while the group stands on the other side counts nothing.
 */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

float sk_vision_person_px(double mount_height_m, double fov_deg, int proc_width)
{
    /* Shoulders and head seen from above: about 0.12 m^2 (0.5 x 0.3 m) at 1.4 m above the
     * floor; the size is the side of a square of that area. */
    const double area_m2 = 0.12, at_m = 1.4;
    double d = mount_height_m - at_m;
    d = d < 0.5 ? 0.5 : d;
    double half = fov_deg * M_PI / 360.0;
    double view_m = 2.0 * d * tan(half > 1.5 ? 1.5 : half);
    return (float)(sqrt(area_m2) / view_m * proc_width);
}

void sk_vision_fit(int box_w, int box_h, int fw, int fh, int *ret_w, int *ret_h)
{
    sk_config_fit(box_w, box_h, fw, fh, ret_w, ret_h);
}

void sk_vision_params_default(struct sk_vision_params *p, int width, int height)
{
    memset(p, 0, sizeof(*p));
    p->width = width;
    p->height = height;
    p->history = 300;
    p->var_threshold = 25;
    p->shadows = false;
    p->shadow_tau = 0.5f;
    p->person_px = sk_vision_person_px(3.0, 90.0, width > height ? width : height);
    p->min_blob_area = 0; /* derived from the processing size */
    p->max_blob_area = 0;
    p->max_aspect = 6.0f;
    p->min_fill = 0.12f;
    p->max_tracks = 32;
    p->confirm_hits = 2;
    p->confirm_s = 0.2f;
    p->max_missed_s = 0.8f;
    p->max_speed_mps = 2.5f;
    float scale = (float)(width > height ? width : height) / 320.0f;
    p->gate_px = 8.0f * scale;
    p->line_margin_px = 3.0f * scale;
    p->zone_margin_px = 2.0f * scale;
    p->reach_band_px = (int)(10.0f * scale + 0.5f);
    p->reach_min_px = (int)(6.0f * scale * scale + 0.5f);
    p->reach_width_px = (int)(16.0f * scale + 0.5f);
}

void sk_vision_params_from_config(struct sk_vision_params *p, const struct sk_config *cfg)
{
    sk_vision_params_default(p, cfg->board.vision_width, cfg->board.vision_height);
    const struct sk_vision_cfg *v = &cfg->vision;
    p->background = v->background;
    p->history = v->history;
    p->var_threshold = (float)v->var_threshold;
    p->shadows = v->shadows;
    p->shadow_tau = (float)v->shadow_tau;
    int side = p->width > p->height ? p->width : p->height;
    p->person_px =
            v->person_px > 0
                    ? (float)v->person_px
                    : sk_vision_person_px(v->mount_height_m > 0 ? v->mount_height_m : 3.0,
                                          v->lens_fov_deg > 0 ? v->lens_fov_deg : 90.0, side);
    p->min_blob_area = v->min_blob_area;
    p->max_blob_area = v->max_blob_area;
    if (v->max_blob_aspect >= 1) {
        p->max_aspect = (float)v->max_blob_aspect;
    }
    if (v->min_blob_fill >= 0 && v->min_blob_fill <= 1 && v->max_blob_aspect >= 1) {
        p->min_fill = (float)v->min_blob_fill;
    }
    p->max_tracks = v->max_tracks;
    if (v->reach_band_px > 0) {
        p->reach_band_px = v->reach_band_px;
    }
    if (v->reach_min_px > 0) {
        p->reach_min_px = v->reach_min_px;
    }
    if (v->reach_width_px > 0) {
        p->reach_width_px = v->reach_width_px;
    }
    if (v->max_missed_s > 0) {
        p->max_missed_s = (float)v->max_missed_s;
    }
}

void sk_vision_params_for_camera(struct sk_vision_params *p,
                                 const struct sk_config *cfg,
                                 const struct sk_camera_cfg *cam)
{
    sk_vision_params_from_config(p, cfg);
    if (cam && cam->has_mount && cfg->vision.person_px <= 0) {
        int side = p->width > p->height ? p->width : p->height;
        p->person_px =
                sk_vision_person_px(cam->mount.height_m, sk_mount_fov_deg(&cam->mount), side);
    }
}

static bool params_valid(const struct sk_vision_params *p)
{
    return p->width >= 16 && p->height >= 16 && p->width <= 4096 && p->height <= 4096 &&
           p->history >= 1 && (p->background == SK_BG_ADAPTIVE || p->background == SK_BG_MOG2) &&
           p->var_threshold > 0 && p->min_blob_area >= 0 &&
           (p->max_blob_area == 0 || p->max_blob_area >= p->min_blob_area) && p->person_px > 0 &&
           p->max_aspect >= 1 && p->min_fill >= 0 && p->max_tracks >= 1 &&
           p->max_tracks <= SK_TRACKER_MAX && p->confirm_hits >= 1 && p->confirm_s >= 0 &&
           p->max_missed_s > 0 && p->max_speed_mps >= 0 && p->gate_px > 0 &&
           p->line_margin_px >= 0 && p->zone_margin_px >= 0 && p->shadow_tau > 0 &&
           p->shadow_tau < 1 && p->reach_band_px >= 1 && p->reach_min_px >= 1 &&
           p->reach_width_px >= 1;
}

int sk_vision_new(const struct sk_vision_params *params,
                  const char *camera,
                  const struct sk_zone_cfg *zones,
                  size_t n_zones,
                  const struct sk_line_cfg *lines,
                  size_t n_lines,
                  struct sk_vision **ret_vision)
{
    if (!params || !ret_vision || !params_valid(params) || (n_zones && !zones) ||
        (n_lines && !lines)) {
        return -EINVAL;
    }
    struct sk_vision *v = calloc(1, sizeof(*v));
    if (!v) {
        return -ENOMEM;
    }
    v->p = *params;
    v->box_w = params->width;
    v->box_h = params->height;
    for (size_t i = 0; i < n_zones; i++) {
        if (camera && strcmp(zones[i].camera, camera) != 0) {
            continue;
        }
        if (v->n_zones >= SK_VISION_MAX_ZONES || zones[i].polygon_len < 6) {
            int e = v->n_zones >= SK_VISION_MAX_ZONES ? -E2BIG : -EINVAL;
            free(v);
            return e;
        }
        v->zones[v->n_zones++] = zones[i];
    }
    for (size_t i = 0; i < n_lines; i++) {
        if (camera && strcmp(lines[i].camera, camera) != 0) {
            continue;
        }
        if (v->n_lines >= SK_VISION_MAX_LINES || lines[i].points_len != 4) {
            int e = v->n_lines >= SK_VISION_MAX_LINES ? -E2BIG : -EINVAL;
            free(v);
            return e;
        }
        v->lines[v->n_lines++] = lines[i];
    }
    v->person_px = params->person_px;
    struct sk_tracker_params tp = {.max_tracks = params->max_tracks,
                                   .confirm_hits = params->confirm_hits,
                                   .confirm_s = params->confirm_s,
                                   .max_missed_s = params->max_missed_s,
                                   .max_merged_s = 1.5f,
                                   .gate_px = params->gate_px,
                                   .max_speed_px_s = 1.0f,
                                   .person_px = params->person_px};
    int r = vision_tracker_new(&tp, &v->tracker);
    if (r < 0) {
        free(v);
        return r;
    }
    *ret_vision = v;
    return 0;
}

/* The size-dependent half of the pipeline, made for the first frame's shape: the processing
 * size keeps it (a 16:9 camera is processed at 320 x 180 in a 320 x 240 box, not squeezed). */
static int setup_size(struct sk_vision *v, int fw, int fh)
{
    int w, h;
    sk_vision_fit(v->box_w, v->box_h, fw, fh, &w, &h);
    v->p.width = w;
    v->p.height = h;
    size_t npx = (size_t)w * (size_t)h;
    vision_tracker_set_view(v->tracker, w, h);
    v->image = calloc(npx, 1);
    v->mask = calloc(npx, 1);
    v->hold = calloc(npx, 1);
    if (!v->image || !v->mask || !v->hold) {
        return -ENOMEM;
    }
    struct vision_cv_mog2 mog2 = {v->p.history, v->p.var_threshold, v->p.shadows, v->p.shadow_tau};
    int r = vision_cv_new(w, h, v->p.background == SK_BG_MOG2 ? &mog2 : NULL, &v->cv);
    if (r == 0) {
        r = vision_cc_new(w, h, SK_VISION_MAX_COMPONENTS, &v->cc);
    }
    if (r == 0 && v->p.background == SK_BG_ADAPTIVE) {
        r = vision_bg_new(w, h, v->p.history, v->p.var_threshold, v->p.shadows, v->p.shadow_tau,
                          &v->bg);
    }
    if (r == 0) {
        struct vision_reach_params rp = {v->p.reach_band_px, v->p.reach_min_px,
                                         v->p.reach_width_px};
        r = vision_reach_new(&rp, v->zones, v->n_zones, w, h, &v->reach);
    }
    if (r < 0) {
        return r;
    }
    /* Noise floor and group ceiling from the processing area unless configured. */
    v->auto_min_area = v->p.min_blob_area <= 0;
    if (v->p.min_blob_area <= 0) {
        v->p.min_blob_area = (int)(npx / 400);
    }
    v->min_area = v->p.min_blob_area;
    if (v->p.max_blob_area <= 0) {
        v->p.max_blob_area = (int)(npx / 4);
    }
    /* Odd kernel sizes scaled to the processing size: 3 and 7 at 320 x 240. */
    int side = w > h ? w : h;
    int scale = (side + 160) / 320;
    scale = scale < 1 ? 1 : scale;
    r = vision_morph_new(w, h, 2 * scale + 1, 6 * scale + 1, &v->morph);
    if (r < 0) {
        return r;
    }
    v->sized = true;
    return 0;
}

void sk_vision_free(struct sk_vision *v)
{
    if (!v) {
        return;
    }
    vision_cv_free(v->cv);
    vision_cc_free(v->cc);
    vision_morph_free(v->morph);
    vision_bg_free(v->bg);
    vision_tracker_free(v->tracker);
    vision_reach_free(v->reach);
    free(v->image);
    free(v->mask);
    free(v->hold);
    free(v);
}

/* The next event, cleared, with its type, track, place and time; NULL (and counted) when this
 * frame already has SK_VISION_MAX_EVENTS. */
static struct sk_vision_event *
add_event(struct sk_vision *v, int type, uint32_t track_id, float x, float y, int64_t t_us)
{
    if (v->n_events >= SK_VISION_MAX_EVENTS) {
        v->events_overflow++;
        return NULL;
    }
    struct sk_vision_event *e = &v->events[v->n_events++];
    memset(e, 0, sizeof(*e));
    e->type = type;
    e->track_id = track_id;
    e->x = x;
    e->y = y;
    e->t_us = t_us;
    return e;
}

static void
leave_zone(struct sk_vision *v, size_t slot, size_t z, const struct sk_trk *k, int64_t t_us)
{
    struct track_geo *g = &v->geo[slot];
    g->in_zone &= ~(UINT64_C(1) << z);
    struct sk_vision_event *e = add_event(v, SK_VEV_ZONE_LEAVE, k->id, k->x, k->y, t_us);
    if (e) {
        e->name = v->zones[z].name;
        e->dwell_us = t_us - g->zone_enter_us[z];
    }
}

/* Zones and lines for one confirmed track at its current position. */
static void track_geometry(struct sk_vision *v, size_t slot, const struct sk_trk *k, int64_t t_us)
{
    struct track_geo *g = &v->geo[slot];
    for (size_t z = 0; z < v->n_zones; z++) {
        const struct sk_zone_cfg *zc = &v->zones[z];
        size_t np = zc->polygon_len / 2;
        bool was = g->in_zone & (UINT64_C(1) << z);
        if (!was && vision_point_in_polygon(zc->polygon, np, k->x, k->y)) {
            g->in_zone |= UINT64_C(1) << z;
            g->zone_enter_us[z] = t_us;
            struct sk_vision_event *e = add_event(v, SK_VEV_ZONE_ENTER, k->id, k->x, k->y, t_us);
            if (e) {
                e->name = zc->name;
            }
        } else if (was && !vision_point_in_polygon(zc->polygon, np, k->x, k->y) &&
                   vision_polygon_distance(zc->polygon, np, k->x, k->y) > v->p.zone_margin_px) {
            leave_zone(v, slot, z, k, t_us);
        }
    }
    for (size_t l = 0; l < v->n_lines; l++) {
        const struct sk_line_cfg *lc = &v->lines[l];
        float d = vision_line_signed_distance(lc->points, k->x, k->y);
        int side = d < -v->p.line_margin_px ? -1 : d > v->p.line_margin_px ? 1 : 0;
        if (side != 0 && k->merged) {
            /* In a group the position is the track's prediction inside the group's blob:
             * a side counts only where the group's measured centre agrees. */
            float dg = vision_line_signed_distance(lc->points, k->gcx, k->gcy);
            int gside = dg < -v->p.line_margin_px ? -1 : dg > v->p.line_margin_px ? 1 : 0;
            side = gside == side ? side : 0;
        }
        if (side == 0) {
            continue;
        }
        if (g->line_side[l] != 0 && side != g->line_side[l] &&
            vision_segments_cross(g->line_x[l], g->line_y[l], k->x, k->y, lc->points,
                                  v->p.line_margin_px)) {
            int inside_sign = lc->inside == 0 ? -1 : 1;
            int dir = side == inside_sign ? SK_LINE_IN : SK_LINE_OUT;
            if (g->pend_dir[l] && g->pend_dir[l] != dir) {
                g->pend_dir[l] = 0; /* back again before it counted */
            } else {
                g->pend_dir[l] = (int8_t)dir;
                g->pend_x[l] = k->x;
                g->pend_y[l] = k->y;
                g->pend_t_us[l] = t_us;
            }
        }
        g->line_side[l] = (int8_t)side;
        g->line_x[l] = k->x;
        g->line_y[l] = k->y;
    }
}

/* Reports the pending crossings of a slot that are due (or all of them when flushing). */
static void
report_crossings(struct sk_vision *v, size_t slot, const struct sk_trk *k, int64_t t_us, bool all)
{
    struct track_geo *g = &v->geo[slot];
    for (size_t l = 0; l < v->n_lines; l++) {
        if (!g->pend_dir[l] || (!all && (!k->travelled || (double)(t_us - g->pend_t_us[l]) / 1e6 <
                                                                  CROSS_DEBOUNCE_S - 1e-6))) {
            continue;
        }
        if (!k->travelled) {
            g->pend_dir[l] = 0; /* it ended where it began: a door's leaf, not a shopper */
            continue;
        }
        struct sk_vision_event *e =
                add_event(v, SK_VEV_LINE_CROSS, k->id, g->pend_x[l], g->pend_y[l], g->pend_t_us[l]);
        if (e) {
            e->name = v->lines[l].name;
            e->role = v->lines[l].role;
            e->dir = (int)g->pend_dir[l]; /* -1, 0 or 1: signed on purpose */
        }
        if (g->pend_dir[l] == SK_LINE_IN) {
            v->stats.entries++;
        } else {
            v->stats.exits++;
        }
        g->pend_dir[l] = 0;
    }
}

static void emit_track_events(struct sk_vision *v, int64_t t_us)
{
    size_t n;
    struct sk_trk *slots = vision_tracker_slots(v->tracker, &n);
    uint32_t active = 0;
    for (size_t i = 0; i < n; i++) {
        struct sk_trk *k = &slots[i];
        if (k->state == SK_TRK_CONFIRMED) {
            if (k->born) {
                memset(&v->geo[i], 0, sizeof(v->geo[i]));
                add_event(v, SK_VEV_TRACK_NEW, k->id, k->x, k->y, t_us);
                v->stats.tracks_total++;
                /* Judged from where it was first seen: a shopper who crossed a line while the
                 * track was still tentative (a fast walker at a low frame rate) counts. */
                struct sk_trk first = *k;
                first.x = k->birth_x;
                first.y = k->birth_y;
                track_geometry(v, i, &first, k->birth_us);
            }
            if (k->matched || k->merged) {
                track_geometry(v, i, k, t_us);
            }
            report_crossings(v, i, k, t_us, false);
            active++;
        } else if (k->state == SK_TRK_LOST) {
            report_crossings(v, i, k, t_us, true);
            for (size_t z = 0; z < v->n_zones; z++) {
                if (v->geo[i].in_zone & (UINT64_C(1) << z)) {
                    leave_zone(v, i, z, k, t_us);
                }
            }
            add_event(v, SK_VEV_TRACK_LOST, k->id, k->x, k->y, t_us);
            memset(&v->geo[i], 0, sizeof(v->geo[i]));
        }
    }
    v->stats.tracks_active = active;
}

static void collect_blobs(struct sk_vision *v)
{
    int found = vision_cc_label(v->cc, v->mask, v->comps, SK_VISION_MAX_COMPONENTS);
    v->n_blobs = 0;
    if (found < 0) {
        return;
    }
    int n = found < SK_VISION_MAX_COMPONENTS ? found : SK_VISION_MAX_COMPONENTS;
    for (int i = 0; i < n && v->n_blobs < SK_VISION_MAX_BLOBS; i++) {
        const struct vision_comp *c = &v->comps[i];
        int lo = c->w < c->h ? c->w : c->h, hi = c->w < c->h ? c->h : c->w;
        if (c->area < v->min_area || c->area > v->p.max_blob_area || lo == 0 ||
            (float)hi / (float)lo > v->p.max_aspect ||
            (float)c->area / (float)(c->w * c->h) < v->p.min_fill) {
            continue;
        }
        v->blob_label[v->n_blobs] = i + 1;
        v->blobs[v->n_blobs++] =
                (struct sk_vision_blob){c->cx, c->cy, c->x, c->y, c->w, c->h, c->area};
    }
}

/*
 * Ghosts: where something stood when the model learnt the floor (a shopper in view when the
 * camera started, a cart parked and then moved) the floor now shows through, and it differs
 * from the model as much as a shopper does. Its outline tells it apart: a shopper's outline
 * is an edge in the frame, a ghost's is an edge only in the model (the floor around it is
 * the floor under it). A blob whose outline is GHOST_RATIO times sharper in the model than
 * in the frame is learnt into the model at once and takes no part in tracking; a track
 * that was on it is no longer seen and ends. The adaptive model only (MOG2 keeps no mean
 * and learns a ghost away at its own rate).
 */
#define GHOST_RATIO 2.0f
#define GHOST_MIN   8.0f /* model gradient at least this (luma over 4 px): a visible edge */

static void drop_ghosts(struct sk_vision *v)
{
    const int32_t *labels = vision_cc_labels(v->cc);
    if (!labels) {
        return;
    }
    size_t kept = 0;
    for (size_t b = 0; b < v->n_blobs; b++) {
        const struct sk_vision_blob *bl = &v->blobs[b];
        int32_t label = v->blob_label[b];
        struct vision_bg_comp c = {labels, label, bl->x, bl->y, bl->w, bl->h};
        float frame, model;
        int n = vision_bg_outline(v->bg, v->image, &c, &frame, &model);
        if (n >= 8 && model >= GHOST_MIN && model > GHOST_RATIO * frame) {
            vision_bg_absorb(v->bg, v->image, &c);
            v->stats.ghosts++;
            continue;
        }
        v->blob_label[kept] = label;
        v->blobs[kept++] = *bl;
    }
    v->n_blobs = kept;
}

/*
 * What each blob looks like to the tracker: the share of its pixels in each of eight luma
 * bands, for the upper and the lower half of its box apart (each half weighs a half). Dark
 * clothing fills the same bands on everybody; what differs is where: a dark coat over jeans
 * is not a dark jacket over dark trousers, nor (from above) dark hair on light shoulders.
 */
static void blob_looks(struct sk_vision *v)
{
    const int32_t *labels = vision_cc_labels(v->cc);
    const int w = v->p.width, bands = SK_LOOK_BINS / 2;
    for (size_t b = 0; b < v->n_blobs; b++) {
        const struct sk_vision_blob *bl = &v->blobs[b];
        struct sk_look *lk = &v->looks[b];
        uint32_t count[SK_LOOK_BINS] = {0}, total[2] = {0, 0};
        int mid = bl->y + bl->h / 2;
        for (int y = bl->y; labels && y < bl->y + bl->h; y++) {
            const int32_t *l = labels + (size_t)y * (size_t)w;
            const uint8_t *px = v->image + (size_t)y * (size_t)w;
            int half = y >= mid;
            for (int x = bl->x; x < bl->x + bl->w; x++) {
                if (l[x] == v->blob_label[b]) {
                    count[half * bands + px[x] * bands / 256]++;
                    total[half]++;
                }
            }
        }
        for (int i = 0; i < SK_LOOK_BINS; i++) {
            uint32_t n = total[i / bands];
            lk->hist[i] = n ? 0.5f * (float)count[i] / (float)n : 0.5f / (float)bands;
        }
    }
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/*
 * Person size from the people tracked: the blob of a confirmed track that has its blob to
 * itself (not merged), sampled once a second per track, into a ring; the size is the square
 * root of the median area, kept within a factor 3 of the start (a crowd merged into one blob
 * or a store of children must not run away with it). Its uses: a new track needs a fifth of
 * a person's area (smaller blobs only feed tracks: arms, a split head), fragments are within
 * about half a person, and the fastest walker is max_speed_mps in person sizes per second.
 */
static void learn_person(struct sk_vision *v, int64_t t_us)
{
    size_t n;
    struct sk_trk *slots = vision_tracker_slots(v->tracker, &n);
    bool changed = false;
    for (size_t i = 0; i < n; i++) {
        struct sk_trk *k = &slots[i];
        if (k->state != SK_TRK_CONFIRMED || !k->matched || k->hits < 3 ||
            t_us - v->geo[i].sampled_us < 1000000) {
            continue;
        }
        for (size_t b = 0; b < v->n_blobs; b++) {
            if (v->blobs[b].x == k->bx && v->blobs[b].y == k->by && v->blobs[b].w == k->bw &&
                v->blobs[b].h == k->bh) {
                v->person_area[v->n_person % PERSON_SAMPLES] = (float)v->blobs[b].area;
                v->person_w[v->n_person % PERSON_SAMPLES] = (float)v->blobs[b].w;
                v->person_h[v->n_person % PERSON_SAMPLES] = (float)v->blobs[b].h;
                v->n_person++;
                v->geo[i].sampled_us = t_us;
                changed = true;
                break;
            }
        }
    }
    if (changed && v->n_person >= PERSON_LEARNT) {
        float tmp[PERSON_SAMPLES];
        size_t m = v->n_person < PERSON_SAMPLES ? v->n_person : PERSON_SAMPLES;
        memcpy(tmp, v->person_area, m * sizeof(float));
        qsort(tmp, m, sizeof(float), cmp_float);
        float size = sqrtf(tmp[m / 2]);
        float lo = v->p.person_px / 3.0f, hi = v->p.person_px * 3.0f;
        v->person_px = size < lo ? lo : size > hi ? hi : size;
        /* the median box, side by side: two people abreast are twice its width */
        memcpy(tmp, v->person_w, m * sizeof(float));
        qsort(tmp, m, sizeof(float), cmp_float);
        v->person_bw = tmp[m / 2];
        memcpy(tmp, v->person_h, m * sizeof(float));
        qsort(tmp, m, sizeof(float), cmp_float);
        v->person_bh = tmp[m / 2];
    }
    /* A person's shoulders are about 0.35 m of the size (sqrt of 0.12 m^2). */
    float speed = v->p.max_speed_mps / 0.35f * v->person_px;
    int spawn = v->n_person >= PERSON_LEARNT ? (int)(0.2f * v->person_px * v->person_px) : 0;
    if (v->auto_min_area && v->n_person >= PERSON_LEARNT) {
        int quarter = (int)(0.25f * v->person_px * v->person_px);
        v->min_area = quarter < v->p.min_blob_area ? quarter : v->p.min_blob_area;
    }
    vision_tracker_set_scale(v->tracker, v->person_px, speed, spawn, v->person_bw, v->person_bh);
}

/* A reach ended (vision/reach.c): one event now, with how long ago it began (the camera's
 * observation carries this frame's time) and how deep it went. */
static void reach_event(void *ctx, const struct vision_reach_ev *ev)
{
    struct sk_vision *v = ctx;
    struct sk_vision_event *e =
            add_event(v, SK_VEV_REACH, ev->track_id, ev->x, ev->y, v->reach_now_us);
    if (!e) {
        return;
    }
    e->dwell_us = v->reach_now_us - ev->start_us;
    e->name = v->zones[ev->zone].name;
    e->reach = ev->depth;
    e->sole = ev->sole;
}

/* Who reaches into the shelves' bands this frame: the slots and the zones they are in. */
static void reach_frame(struct sk_vision *v, int64_t t_us)
{
    size_t n;
    const struct sk_trk *slots = vision_tracker_slots(v->tracker, &n);
    uint64_t in_zone[SK_TRACKER_MAX];
    for (size_t i = 0; i < n && i < SK_TRACKER_MAX; i++) {
        in_zone[i] = v->geo[i].in_zone;
    }
    v->reach_now_us = t_us;
    vision_reach_frame(v->reach, v->mask, slots, n, in_zone, t_us, reach_event, v);
}

/* Marks where confirmed tracks are (their latest box, a little wider), so the background
 * model does not learn a shopper who stands still for minutes at a shelf. */
static void build_hold(struct sk_vision *v)
{
    const int w = v->p.width, h = v->p.height;
    memset(v->hold, 0, (size_t)w * (size_t)h);
    size_t n;
    struct sk_trk *slots = vision_tracker_slots(v->tracker, &n);
    int pad = (int)(0.15f * v->person_px) + 1;
    for (size_t i = 0; i < n; i++) {
        const struct sk_trk *k = &slots[i];
        if (k->state != SK_TRK_CONFIRMED || k->bw <= 0) {
            continue;
        }
        int x0 = k->bx - pad, y0 = k->by - pad, x1 = k->bx + k->bw + pad, y1 = k->by + k->bh + pad;
        x0 = x0 < 0 ? 0 : x0;
        y0 = y0 < 0 ? 0 : y0;
        x1 = x1 > w ? w : x1;
        y1 = y1 > h ? h : y1;
        for (int y = y0; y < y1; y++) {
            memset(v->hold + (size_t)y * (size_t)w + (size_t)x0, 1, (size_t)(x1 - x0));
        }
    }
}

int sk_vision_process(struct sk_vision *v, const struct sk_frame *f)
{
    if (!v || !f || !f->data || f->width < 1 || f->height < 1 || f->stride < f->width) {
        return -EINVAL;
    }
    if (!v->sized) {
        int r = setup_size(v, f->width, f->height);
        if (r < 0) {
            return r;
        }
    }
    v->n_events = 0;
    double t0 = now_ms();
    int r = vision_cv_resize(v->cv, f->data, f->width, f->height, f->stride, v->image);
    double t1 = now_ms();
    if (r == 0 && v->bg) {
        build_hold(v);
        r = vision_bg_apply(v->bg, v->image, v->mask, v->hold);
    } else if (r == 0) {
        r = vision_cv_background(v->cv, v->image, v->mask, -1);
    }
    double t2 = now_ms();
    if (r == 0) {
        vision_reach_sample(v->reach, v->mask);
        vision_morph_clean(v->morph, v->mask);
    }
    if (r < 0) {
        return r;
    }
    collect_blobs(v);
    if (v->bg) {
        drop_ghosts(v);
    }
    blob_looks(v);
    double t3 = now_ms();
    /* The background model needs a moment to learn the scene: track from then on. */
    if (v->stats.frames >= WARMUP_FRAMES) {
        struct sk_blob_pixels pix = {vision_cc_labels(v->cc), v->blob_label, v->p.width};
        vision_tracker_update(v->tracker, v->blobs, v->looks, pix.labels ? &pix : NULL, v->n_blobs,
                              f->t_us);
        emit_track_events(v, f->t_us);
        reach_frame(v, f->t_us);
        learn_person(v, f->t_us);
    }
    double t4 = now_ms();
    v->stats.frames++;
    v->stats.ms_resize += t1 - t0;
    v->stats.ms_background += t2 - t1;
    v->stats.ms_blobs += t3 - t2;
    v->stats.ms_tracking += t4 - t3;
    v->last_t_us = f->t_us;
    return (int)v->n_events;
}

int sk_vision_flush(struct sk_vision *v, int64_t t_us)
{
    v->n_events = 0;
    vision_tracker_end_all(v->tracker);
    emit_track_events(v, t_us);
    v->reach_now_us = t_us;
    vision_reach_flush(v->reach, reach_event, v);
    return (int)v->n_events;
}

const struct sk_vision_event *sk_vision_events(const struct sk_vision *v, size_t *ret_n)
{
    *ret_n = v->n_events;
    return v->events;
}

const struct sk_vision_blob *sk_vision_blobs(const struct sk_vision *v, size_t *ret_n)
{
    *ret_n = v->n_blobs;
    return v->blobs;
}

const struct sk_vision_track *sk_vision_tracks(const struct sk_vision *v, size_t *ret_n)
{
    size_t n;
    struct sk_trk *slots = vision_tracker_slots(v->tracker, &n);
    struct sk_vision *mv = (struct sk_vision *)v; /* the snapshot list is a cache */
    mv->n_tracks = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sk_trk *k = &slots[i];
        if (k->state == SK_TRK_CONFIRMED || k->state == SK_TRK_TENTATIVE) {
            mv->tracks[mv->n_tracks++] = (struct sk_vision_track){
                    k->id,     k->x,    k->y,      k->vx,
                    k->vy,     k->hits, k->missed, k->state == SK_TRK_CONFIRMED,
                    k->merged, k->bx,   k->by,     k->bw,
                    k->bh};
        }
    }
    *ret_n = mv->n_tracks;
    return mv->tracks;
}

const uint8_t *sk_vision_image(const struct sk_vision *v)
{
    return v->image;
}

const uint8_t *sk_vision_mask(const struct sk_vision *v)
{
    return v->mask;
}

void sk_vision_get_stats(const struct sk_vision *v, struct sk_vision_stats *ret_stats)
{
    *ret_stats = v->stats;
    ret_stats->width = v->sized ? v->p.width : 0;
    ret_stats->height = v->sized ? v->p.height : 0;
    ret_stats->person_px = v->person_px;
    ret_stats->person_samples = v->n_person;
}

const char *sk_vision_opencv_version(void)
{
    return vision_cv_version();
}

/* One --check-config line for a module that is missing or does not load. */
static void module_problem(struct sk_diag *diag,
                           const struct sk_config *cfg,
                           size_t i,
                           const char *what,
                           const char *module,
                           int err)
{
    const struct sk_camera_cfg *cc = &cfg->cameras[i];
    char path[512];
    sk_module_path(module, path, sizeof(path));
    if (err == SK_ENOMODULE) {
        sk_diag_add(diag, "%s: cameras.[%zu] (%s): %s needs the module %s, not installed: %s",
                    cfg->path, i, cc->name, what, path,
                    strcmp(module, "camera-file") == 0
                            ? "clips need OpenCV video decoding, left out of the board "
                              "packages: build from source with libopencv-videoio-dev "
                              "installed (SK_WITH_VIDEOIO=ON), or use a live camera (v4l2, "
                              "libcamera)"
                    : strcmp(module, "camera-libcamera") == 0
                            ? "install the storekeeper-libcamera package (or build with "
                              "libcamera-dev), or use backend = \"v4l2\""
                            : "install the storekeeper-camera package");
    } else {
        sk_diag_add(diag, "%s: cameras.[%zu] (%s): %s: the module %s does not load: %s", cfg->path,
                    i, cc->name, what, path, sk_module_error(module));
    }
}

int sk_vision_check_cameras(const struct sk_config *cfg, struct sk_diag *diag)
{
    int rc = 0;
    for (size_t i = 0; i < cfg->n_cameras; i++) {
        const struct sk_camera_cfg *cc = &cfg->cameras[i];
        const char *module = sk_camera_backend_module(cc->backend);
        if (!sk_camera_backend_built(cc->backend)) {
            char what[64];
            snprintf(what, sizeof(what), "backend \"%s\"", cc->backend);
            const struct sk_module *m;
            module_problem(diag, cfg, i, what, module ? module : "?",
                           module ? sk_module_load(module, &m) : SK_ENOMODULE);
            rc = -EINVAL;
            continue;
        }
        /* Every camera's pipeline needs OpenCV: a board without the camera package is told
         * here, not by a camera that fails at its first frame. */
        const struct sk_module *m;
        int r = sk_module_load("vision-opencv", &m);
        if (r < 0) {
            module_problem(diag, cfg, i, "the vision pipeline", "vision-opencv", r);
            rc = -EINVAL;
            continue;
        }
        if (strcmp(cc->backend, "file") == 0) {
            char path[SK_PATH_MAX];
            sk_config_resolve_path(cfg, cc->device, path, sizeof(path));
            if (!cc->device[0] || access(path, R_OK) != 0) {
                sk_diag_add(diag, "%s: cameras.[%zu].device (%s): clip \"%s\" cannot be read",
                            cfg->path, i, cc->name, path);
                rc = -EINVAL;
            }
        }
    }
    return rc;
}

void sk_vision_pacer_init(struct sk_vision_pacer *p, double max_fps)
{
    double fps = max_fps < SK_VISION_MIN_FPS ? SK_VISION_MIN_FPS : max_fps;
    p->period_us = (int64_t)(1e6 / fps + 0.5);
    p->next_us = 0;
    p->started = false;
}

bool sk_vision_pacer_take(struct sk_vision_pacer *p, int64_t t_us)
{
    /* a millisecond of slack: media times are rounded to microseconds */
    const int64_t slack = 1000;
    /* the first frame, a gap, or time going back (a camera reopened): a new grid from here */
    bool restart =
            !p->started || t_us - p->next_us > p->period_us || p->next_us - t_us > 2 * p->period_us;
    if (!restart && t_us + slack < p->next_us) {
        return false;
    }
    if (restart) {
        p->next_us = t_us;
    }
    p->started = true;
    p->next_us += p->period_us;
    return true;
}
