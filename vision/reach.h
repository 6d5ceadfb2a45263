/* SPDX-License-Identifier: MIT */
/* Internal to vision/: who reaches across a shelf's front edge, measured from the mask. */
#ifndef SK_REACH_H
#define SK_REACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/config.h"
#include "tracker.h"

#define SK_REACH_MAX_ZONES 16   /* zones with a reach edge, per camera */
#define SK_REACH_MAX_BAND  8192 /* pixels in one zone's reach band */

struct vision_reach_params {
    int band_px;  /* depth of the band from the edge into the zone */
    int min_px;   /* foreground pixels of one shopper in the band that make a reach */
    int width_px; /* band pixels this near a track along the edge are its own */
};

struct vision_reach;

/* A reach that ended. */
struct vision_reach_ev {
    uint32_t track_id;        /* 0: motion no confirmed track explains */
    size_t zone;              /* indexes the zones given to vision_reach_new */
    int64_t start_us, end_us; /* media times */
    float depth;              /* how deep into the band it reached, 0..1 */
    float x, y;               /* where the arm crossed the edge */
    /* SK_REACH_SOLE when no other shopper followed in the zone (a live track or a ghost)
     * stood within width_px of the arm, along the edge, at any frame of the reach (nobody
     * else's arm could have been there), SK_REACH_SHARED otherwise. */
    int sole;
};

/* Called for every reach that ended. */
typedef void (*vision_reach_emit_fn)(void *ctx, const struct vision_reach_ev *ev);

/*
 * Prepares the bands of the zones that have a reach edge (zones[i].reach_len == 4), at a
 * width x height processing size. Returns 0 and an owned state (NULL when no zone has an
 * edge: nothing to measure), -EINVAL, -E2BIG (too many zones or too large a band), -ENOMEM.
 */
int vision_reach_new(const struct vision_reach_params *p,
                     const struct sk_zone_cfg *zones,
                     size_t n_zones,
                     int width,
                     int height,
                     struct vision_reach **ret);
void vision_reach_free(struct vision_reach *r);

/* The frame's foreground before cleaning (the mask vision_reach_frame gets next is its cleaned
 * form): thin arms the cleaning removes are read from it. */
void vision_reach_sample(struct vision_reach *r, const uint8_t *raw);
/* One frame: the cleaned mask, the tracker's slots and which zones each slot is in (bit z of
 * in_zone[slot]). Reaches that ended are passed to emit. */
void vision_reach_frame(struct vision_reach *r,
                        const uint8_t *mask,
                        const struct sk_trk *slots,
                        size_t n_slots,
                        const uint64_t *in_zone,
                        int64_t t_us,
                        vision_reach_emit_fn emit,
                        void *ctx);
/* Ends every reach going on (the camera stops). */
void vision_reach_flush(struct vision_reach *r, vision_reach_emit_fn emit, void *ctx);

#endif
