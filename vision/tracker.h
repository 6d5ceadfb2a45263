/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the multi-object tracker and the zone and line geometry it feeds. */
#ifndef SK_TRACKER_H
#define SK_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/vision.h"

#define SK_TRACKER_MAX 64
#define SK_LOOK_BINS   16

/* What a blob looks like: for the upper and the lower half of its box, the share of its
 * pixels in each of SK_LOOK_BINS / 2 luma bands (each half sums to 0.5). */
struct sk_look {
    float hist[SK_LOOK_BINS];
};

enum sk_trk_state {
    SK_TRK_FREE = 0,
    SK_TRK_TENTATIVE, /* seen, not yet reported */
    SK_TRK_CONFIRMED,
    SK_TRK_LOST, /* confirmed track that ended this update; freed by the next */
};

struct sk_trk {
    int state; /* enum sk_trk_state */
    uint32_t id;
    float x, y;   /* position now (measured, or predicted while unseen) */
    float vx, vy; /* px/s */
    int hits, missed;
    bool born;    /* confirmed in this update */
    bool matched; /* a blob of this update belongs to it (alone) */
    bool merged;  /* shares one blob with another track in this update */
    int64_t t_us; /* time of x, y */
    /* Where and when it was first seen: a crossing made while it was still tentative
     * counts once it is confirmed. */
    float birth_x, birth_y;
    int64_t birth_us;
    int64_t seen_us;         /* last measured (matched or merged) */
    int64_t merged_since_us; /* 0: not merged */
    int bx, by, bw, bh;      /* its last blob's box: the background holds it while confirmed */
    /* Measured alone (not in a group's blob): when, where, its size and look then. */
    int64_t solo_us;
    float solo_x, solo_y;
    float area;          /* blob area, smoothed */
    float sw, sh;        /* blob box size, smoothed */
    struct sk_look look; /* luma bands, smoothed; valid when has_look */
    bool has_look;
    /* The point every box it had alone holds (the intersection of its boxes: ax0 < ax1 and
     * ay0 < ay1 while there is one). A track whose boxes stop sharing a point has gone
     * somewhere (travelled); one that never does turns or sways about a fixed point: a
     * door's leaf about its hinge, a shopper swaying where they stand. */
    int ax0, ay0, ax1, ay1;
    bool travelled;
    /* In a group (merged): the group blob's centre, and when it was last in one. */
    float gcx, gcy;
    int64_t g_us;
};

/* Where each blob's pixels are: the label image of the frame's connected components
 * (width per row) and each blob's label in it. Lets the tracker share a group's blob out
 * between the shoppers in it. */
struct sk_blob_pixels {
    const int32_t *labels;
    const int32_t *label_of; /* one per blob */
    int width;
};

/* Times, not frame counts: the same footage at 5 or 15 fps gives the same tracks. */
struct sk_tracker_params {
    int max_tracks;
    int confirm_hits;     /* measurements before a track is reported, at least 1 */
    float confirm_s;      /* and the time from its first to its latest measurement */
    float max_missed_s;   /* unseen this long: lost */
    float max_merged_s;   /* a group's blob without room for all its tracks keeps the extra
                           * ones this long (people passing behind one another) */
    float gate_px;        /* measurement noise and body size: the gate at zero time */
    float max_speed_px_s; /* the fastest walker: the gate of a track without a velocity yet */
    float person_px;      /* a person's size: blobs this close to a track are its fragments */
};

struct sk_tracker;

int vision_tracker_new(const struct sk_tracker_params *p, struct sk_tracker **ret);
void vision_tracker_free(struct sk_tracker *t);
/* The scene's scale as the pipeline learns it: person size (px), the fastest walker (px/s),
 * the smallest blob that may start a track (px; smaller ones only feed existing tracks), and
 * the median box of a tracked person (px; 0 while not measured: nothing is split by shape). */
void vision_tracker_set_scale(struct sk_tracker *t,
                              float person_px,
                              float max_speed_px_s,
                              int spawn_area,
                              float box_w,
                              float box_h);
/* The picture's size in px: a track coasting out of it has walked out of view and ends. */
void vision_tracker_set_view(struct sk_tracker *t, int width, int height);
/* One frame's blobs at t_us, with what each looks like (looks: n entries) and where their
 * pixels are (pixels); either may be NULL when unknown. Afterwards vision_tracker_slots()
 * shows every slot's state. */
void vision_tracker_update(struct sk_tracker *t,
                           const struct sk_vision_blob *blobs,
                           const struct sk_look *looks,
                           const struct sk_blob_pixels *pixels,
                           size_t n,
                           int64_t t_us);
/* Marks every live track lost (for a flush); the next update frees them. */
void vision_tracker_end_all(struct sk_tracker *t);
struct sk_trk *vision_tracker_slots(struct sk_tracker *t, size_t *ret_n);

/* Geometry, in image coordinates (y down). */
bool vision_point_in_polygon(const double *xy, size_t n_points, float x, float y);
float vision_polygon_distance(const double *xy, size_t n_points, float x, float y);
/* Signed distance of (x, y) from the line through p[0..3]: negative on the left of p1->p2
 * as seen on screen (y down), positive on the right. */
float vision_line_signed_distance(const double *p, float x, float y);
/* True when segment a-b crosses segment p1-p2 extended by ext px at both ends. */
bool vision_segments_cross(float ax, float ay, float bx, float by, const double *p, float ext);

#endif
