/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the pipeline's state, shared by vision.c and the PNG snapshot. */
#ifndef SK_VISION_INTERNAL_H
#define SK_VISION_INTERNAL_H

#include "background.h"
#include "components.h"
#include "cv_shim.h"
#include "morph.h"
#include "reach.h"
#include "storekeeper/vision.h"
#include "tracker.h"

#define SK_VISION_MAX_ZONES      64
#define SK_VISION_MAX_LINES      16
#define SK_VISION_MAX_EVENTS     256
#define SK_VISION_MAX_COMPONENTS 256
#define SK_VISION_MAX_BLOBS      64
#define WARMUP_FRAMES            5
#define CROSS_DEBOUNCE_S         0.3
#define PERSON_SAMPLES           64
#define PERSON_LEARNT            4 /* samples before the measured size is used */

/* What geometry remembers of one tracker slot. */
struct track_geo {
    uint64_t in_zone; /* bit z: inside zone z */
    int64_t zone_enter_us[SK_VISION_MAX_ZONES];
    int8_t line_side[SK_VISION_MAX_LINES]; /* -1 left, +1 right, 0 not yet known */
    float line_x[SK_VISION_MAX_LINES], line_y[SK_VISION_MAX_LINES];
    /* A crossing waits CROSS_DEBOUNCE_S (media time) before it is reported; crossing back
     * in that time cancels it (a shopper hesitating in the door, two blobs swapping). */
    int8_t pend_dir[SK_VISION_MAX_LINES]; /* 0 none, else enum sk_line_dir */
    float pend_x[SK_VISION_MAX_LINES], pend_y[SK_VISION_MAX_LINES];
    int64_t pend_t_us[SK_VISION_MAX_LINES];
    int64_t sampled_us; /* its blob last went into the person size */
};

struct sk_vision {
    struct sk_vision_params p; /* width, height: the processing size once sized */
    int box_w, box_h;          /* the processing box asked for */
    bool sized;
    struct sk_zone_cfg zones[SK_VISION_MAX_ZONES];
    size_t n_zones;
    struct sk_line_cfg lines[SK_VISION_MAX_LINES];
    size_t n_lines;
    /* The camera's floor calibration, for the snapshot's floor grid (sk_vision_set_floor). */
    bool has_floor;
    struct sk_homography floor_map, floor_back;
    double floor_pts[4 * SK_FLOOR_POINTS_MAX];
    size_t floor_len;
    struct sk_cv *cv;
    struct vision_cc *cc;       /* connected components and their label image */
    struct vision_morph *morph; /* the mask's clean-up */
    struct sk_bg *bg;           /* SK_BG_ADAPTIVE */
    struct sk_tracker *tracker;

    /* The noise floor in use: min_blob_area, or when that is left to the pipeline (0) the
     * processing area / 400, lowered to a quarter of a person once people are measured. */
    int min_area;
    bool auto_min_area;
    uint8_t *image, *mask;
    uint8_t *hold; /* 1 under confirmed tracks: the background does not learn there */
    /* Person size: the start (params), then the median blob of tracked people. */
    float person_px;
    float person_area[PERSON_SAMPLES];
    float person_w[PERSON_SAMPLES], person_h[PERSON_SAMPLES]; /* their boxes */
    float person_bw, person_bh; /* the median box, 0 until people are measured */
    uint32_t n_person;
    struct vision_comp comps[SK_VISION_MAX_COMPONENTS];
    struct sk_vision_blob blobs[SK_VISION_MAX_BLOBS];
    int32_t blob_label[SK_VISION_MAX_BLOBS]; /* its component's label (vision_cc_labels) */
    struct sk_look looks[SK_VISION_MAX_BLOBS];
    size_t n_blobs;
    struct sk_vision_track tracks[SK_TRACKER_MAX];
    size_t n_tracks;
    struct vision_reach *reach; /* NULL: no zone of this camera has a reach edge */
    int64_t reach_now_us;       /* the frame reaches are reported at */
    struct track_geo geo[SK_TRACKER_MAX];
    struct sk_vision_event events[SK_VISION_MAX_EVENTS];
    size_t n_events;
    uint64_t events_overflow;
    struct sk_vision_stats stats;
    int64_t last_t_us;
};

#endif
