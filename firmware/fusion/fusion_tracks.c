/* SPDX-License-Identifier: MIT */
/* Fusion's camera picture: the table of anonymous tracks and their stays in zones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fusion_internal.h"
#include "storekeeper/log.h"

/*
 * Every track the cameras reported keeps its last VISITS_MAX zone stays with enter and leave
 * times, and where it was born (an entry line nearby says "someone coming in"). The table is
 * bounded by fusion.max_tracks: a lost track is kept TRACK_KEEP_US for the decisions that may
 * still need its stays, and a full table evicts explicitly (fusion__track_create).
 */

struct track *fusion__track_find(struct sk_fusion *f, const char *camera, uint32_t id)
{
    struct track *lost = NULL;
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (!t->used || t->id != id || strcmp(t->camera, camera) != 0) {
            continue;
        }
        if (!t->lost_us) {
            return t;
        }
        if (!lost || t->lost_us > lost->lost_us) {
            lost = t;
        }
    }
    return lost;
}

/* The record a full table gives up: the longest-lost track, else the one silent longest. */
static struct track *track_evict(struct sk_fusion *f)
{
    struct track *oldest = NULL;
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (!oldest || (t->lost_us && !oldest->lost_us) ||
            ((t->lost_us != 0) == (oldest->lost_us != 0) && t->last_us < oldest->last_us)) {
            oldest = t;
        }
    }
    if (!oldest) {
        abort(); /* max_tracks >= 1 (sk_fusion_new): a full table has an oldest track */
    }
    if (!oldest->lost_us) {
        f->stats.dropped++;
        sk_log(SK_LOG_WARNING, "fusion", NULL,
               "more than fusion.max_tracks (%zu) tracks; forgetting track %u of %s", f->max_tracks,
               oldest->id, oldest->camera);
    }
    return oldest;
}

struct track *fusion__track_create(struct sk_fusion *f, const char *camera, uint32_t id)
{
    struct track *t = NULL;
    for (size_t i = 0; i < f->max_tracks && !t; i++) {
        if (!f->tracks[i].used) {
            t = &f->tracks[i];
        }
    }
    if (t) {
        f->stats.tracks++;
    } else {
        t = track_evict(f);
    }
    memset(t, 0, sizeof(*t));
    t->used = true;
    snprintf(t->camera, sizeof(t->camera), "%s", camera);
    t->id = id;
    return t;
}

void fusion__tracks_expire(struct sk_fusion *f, int64_t now)
{
    for (size_t i = 0; i < f->max_tracks; i++) {
        struct track *t = &f->tracks[i];
        if (t->used && t->lost_us && now - t->lost_us > TRACK_KEEP_US) {
            t->used = false;
            f->stats.tracks--;
        }
    }
}

bool fusion__floor_of(const struct sk_fusion *f,
                      const char *camera,
                      float x,
                      float y,
                      double *ret_x,
                      double *ret_y)
{
    const struct sk_camera_cfg *c = sk_config_camera(f->cfg, camera);
    return c && c->has_floor && sk_homography_apply(&c->floor_map, x, y, ret_x, ret_y);
}

void fusion__track_set_pos(
        const struct sk_fusion *f, struct track *t, float x, float y, int64_t mono)
{
    if (isfinite(x) && isfinite(y) && (x != 0 || y != 0)) {
        t->x = x;
        t->y = y;
        t->has_pos = true;
        double fx, fy;
        if (fusion__floor_of(f, t->camera, x, y, &fx, &fy)) {
            t->fx = fx;
            t->fy = fy;
            t->floor_us = mono;
        }
    }
}

struct zone_visit *fusion__track_visit(struct track *t, int zone, bool open_only)
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

struct zone_visit *fusion__track_visit_add(struct track *t, int zone, int64_t enter_us)
{
    struct zone_visit *v = &t->visits[t->n_visits++ % VISITS_MAX];
    memset(v, 0, sizeof(*v));
    v->zone = zone;
    v->enter_us = enter_us;
    v->leave_us = NEVER;
    return v;
}

void fusion__track_reach(
        struct track *t, int zone, int64_t start_us, int64_t end_us, float depth, uint8_t sole)
{
    t->reaches[t->n_reaches++ % REACHES_MAX] =
            (struct reach_rec){zone, start_us, end_us, depth, sole, 0};
}

void fusion__track_end(struct track *t, int64_t mono)
{
    t->lost_us = mono;
    t->last_us = mono;
    t->join_pending = false;
    unsigned n = t->n_visits < VISITS_MAX ? t->n_visits : VISITS_MAX;
    for (unsigned k = 0; k < n; k++) {
        struct zone_visit *v = &t->visits[k];
        if (v->leave_us == NEVER) {
            v->leave_us = mono;
            v->by_loss = true;
        } else if (mono - v->leave_us <= COAST_US) {
            /* Left just before it was given up: a track coasts unseen on its last velocity
             * before it ends, and that drift is not the shopper walking away. */
            v->by_loss = true;
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

bool fusion__track_near_entry(const struct sk_fusion *f, const struct track *t)
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
 * Along the line's extent and more than 3 px beyond it. Vision's convention: the signed
 * distance (dx (y - y1) - dy (x - x1)) / |d| is negative on the left of x1,y1 -> x2,y2.
 */
const struct sk_line_cfg *
fusion__outside_exit(const struct sk_fusion *f, const char *camera, float x, float y)
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
