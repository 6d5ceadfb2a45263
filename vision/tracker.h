/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the multi-object tracker and the zone and line geometry it feeds. */
#ifndef SK_TRACKER_H
#define SK_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/vision.h"

#define SK_TRACKER_MAX 64

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
    int hits, missed, merged_frames;
    bool born;    /* confirmed in this update */
    bool matched; /* a blob of this update belongs to it (alone) */
    bool merged;  /* shares one blob with another track in this update */
    int64_t t_us; /* time of x, y */
};

struct sk_tracker_params {
    int max_tracks;
    int confirm_frames;
    int max_missed_frames;
    int max_merged_frames;
    float gate_px;
};

struct sk_tracker;

int sk_tracker_new(const struct sk_tracker_params *p, struct sk_tracker **ret);
void sk_tracker_free(struct sk_tracker *t);
/* One frame's blobs at t_us. Afterwards sk_tracker_slots() shows every slot's state. */
void sk_tracker_update(struct sk_tracker *t,
                       const struct sk_vision_blob *blobs,
                       size_t n,
                       int64_t t_us);
/* Marks every live track lost (for a flush); the next update frees them. */
void sk_tracker_end_all(struct sk_tracker *t);
struct sk_trk *sk_tracker_slots(struct sk_tracker *t, size_t *ret_n);

/* Geometry, in image coordinates (y down). */
bool sk_point_in_polygon(const double *xy, size_t n_points, float x, float y);
float sk_polygon_distance(const double *xy, size_t n_points, float x, float y);
/* Signed distance of (x, y) from the line through p[0..3]: negative on the left of p1->p2
 * as seen on screen (y down), positive on the right. */
float sk_line_signed_distance(const double *p, float x, float y);
/* True when segment a-b crosses segment p1-p2 extended by ext px at both ends. */
bool sk_segments_cross(float ax, float ay, float bx, float by, const double *p, float ext);

#endif
