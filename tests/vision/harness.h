/* SPDX-License-Identifier: MIT */
/* Shared by the vision tests and benchmark: run a synthetic scene through the real pipeline. */
#ifndef SK_VISION_HARNESS_H
#define SK_VISION_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storekeeper/camera.h"
#include "storekeeper/config.h"
#include "storekeeper/synth.h"
#include "storekeeper/vision.h"

#define H_MAX_EVENTS 4096

struct h_event {
    struct sk_vision_event ev;
    char name[SK_NAME_MAX];
    uint64_t frame;
};

struct h_run {
    struct h_event events[H_MAX_EVENTS];
    size_t n_events;
    uint64_t frames;
    int in, out, tracks_new, tracks_lost;
};

static inline void
h_zone(struct sk_zone_cfg *z, const char *name, float x0, float y0, float x1, float y1)
{
    memset(z, 0, sizeof(*z));
    snprintf(z->name, sizeof(z->name), "%s", name);
    snprintf(z->camera, sizeof(z->camera), "cam");
    double p[8] = {x0, y0, x1, y0, x1, y1, x0, y1};
    memcpy(z->polygon, p, sizeof(p));
    z->polygon_len = 8;
}

static inline void
h_line(struct sk_line_cfg *l, const char *name, float x1, float y1, float x2, float y2, int inside)
{
    memset(l, 0, sizeof(*l));
    snprintf(l->name, sizeof(l->name), "%s", name);
    snprintf(l->camera, sizeof(l->camera), "cam");
    l->role = SK_LINE_DOOR;
    l->points[0] = x1;
    l->points[1] = y1;
    l->points[2] = x2;
    l->points[3] = y2;
    l->points_len = 4;
    l->inside = inside;
}

/* Optional per-frame hook: sees the vision state and the scene after each frame. */
typedef void (*h_frame_fn)(struct sk_vision *v, struct sk_synth *scene, double t_s, void *ctx);

/* Renders frames 0..duration of the scene through a synthetic camera at fps, and through the
 * board's pacing rule at max_fps (0: every frame), into the pipeline. */
static inline int h_run_scene_paced(struct sk_synth *scene,
                                    const struct sk_vision_params *vp,
                                    const struct sk_zone_cfg *zones,
                                    size_t nz,
                                    const struct sk_line_cfg *lines,
                                    size_t nl,
                                    int fps,
                                    double max_fps,
                                    double duration_s,
                                    struct h_run *out,
                                    h_frame_fn fn,
                                    void *ctx)
{
    memset(out, 0, sizeof(*out));
    struct sk_vision_pacer pacer;
    sk_vision_pacer_init(&pacer, max_fps > 0 ? max_fps : 1000);
    struct sk_camera_params cp = {.backend = "synthetic",
                                  .device = "",
                                  .width = vp->width,
                                  .height = vp->height,
                                  .fps = fps,
                                  .scene = scene};
    struct sk_camera *cam = NULL;
    struct sk_vision *v = NULL;
    int r = sk_camera_open(&cp, &cam);
    if (r == 0) {
        r = sk_vision_new(vp, NULL, zones, nz, lines, nl, &v);
    }
    uint64_t n_frames = (uint64_t)(duration_s * fps);
    for (uint64_t i = 0; r >= 0 && i < n_frames; i++) {
        struct sk_frame f;
        r = sk_camera_capture(cam, 1000, &f);
        if (r < 0) {
            break;
        }
        if (!sk_vision_pacer_take(&pacer, f.t_us)) {
            continue;
        }
        r = sk_vision_process(v, &f);
        if (r < 0) {
            break;
        }
        out->frames++;
        size_t n;
        const struct sk_vision_event *ev = sk_vision_events(v, &n);
        for (size_t k = 0; k < n && out->n_events < H_MAX_EVENTS; k++) {
            struct h_event *he = &out->events[out->n_events++];
            he->ev = ev[k];
            he->frame = i;
            snprintf(he->name, sizeof(he->name), "%s", ev[k].name ? ev[k].name : "");
            he->ev.name = NULL;
            if (ev[k].type == SK_VEV_LINE_CROSS) {
                if (ev[k].dir == SK_LINE_IN) {
                    out->in++;
                } else {
                    out->out++;
                }
            }
            out->tracks_new += ev[k].type == SK_VEV_TRACK_NEW;
            out->tracks_lost += ev[k].type == SK_VEV_TRACK_LOST;
        }
        if (fn) {
            fn(v, scene, (double)f.t_us / 1e6, ctx);
        }
    }
    sk_vision_free(v);
    sk_camera_close(cam);
    return r < 0 ? r : 0;
}

static inline int h_run_scene(struct sk_synth *scene,
                              const struct sk_vision_params *vp,
                              const struct sk_zone_cfg *zones,
                              size_t nz,
                              const struct sk_line_cfg *lines,
                              size_t nl,
                              int fps,
                              double duration_s,
                              struct h_run *out,
                              h_frame_fn fn,
                              void *ctx)
{
    return h_run_scene_paced(scene, vp, zones, nz, lines, nl, fps, 0, duration_s, out, fn, ctx);
}

/* A shopper walking in a straight line from (x0, y0) at t0 to (x1, y1) at speed px/s. */
static inline uint32_t
h_walk(struct sk_synth *s, int luma, double t0, float x0, float y0, float x1, float y1, float speed)
{
    struct sk_synth_look look = {14.0f, luma, -1};
    uint32_t id = 0;
    if (sk_synth_add_shopper(s, &look, &id) < 0) {
        abort();
    }
    double d = sqrt((double)(x1 - x0) * (x1 - x0) + (double)(y1 - y0) * (y1 - y0));
    sk_synth_waypoint(s, id, t0, x0, y0);
    sk_synth_waypoint(s, id, t0 + d / speed, x1, y1);
    return id;
}

#endif
