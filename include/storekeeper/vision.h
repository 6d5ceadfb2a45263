/* SPDX-License-Identifier: MIT */
/* The vision pipeline: luma frames to anonymous tracks, zone visits and line crossings. */
#ifndef STOREKEEPER_VISION_H
#define STOREKEEPER_VISION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storekeeper/camera.h"
#include "storekeeper/config.h"

/*
 * One pipeline per camera, used by that camera's thread only:
 *
 *   frame -> downscale to the processing size -> background model (MOG2) -> foreground mask
 *         -> clean-up (open, close) -> connected components -> blob filter (size, shape)
 *         -> tracker (constant-velocity prediction, optimal assignment, coasting through
 *            short occlusions and merges) -> zones and directional lines -> events
 *         -> reach: whose silhouette crosses into a shelf's reach band (vision/reach.c)
 *
 * Everything is in processing-size pixels, the coordinates of zones and lines in the config.
 * Track ids are small, anonymous and never reused while the pipeline lives. No image leaves
 * the pipeline except through sk_vision_image()/sk_vision_mask() for `diag camera`.
 */

struct sk_vision;

enum sk_vision_background {
    SK_BG_ADAPTIVE = 0, /* ours: global light gain, selective update (vision/background.c) */
    SK_BG_MOG2,         /* OpenCV's Gaussian mixture */
};

struct sk_vision_params {
    int width, height;   /* the processing box: frames are scaled to fit, keeping their shape */
    int background;      /* enum sk_vision_background */
    int history;         /* background model memory, frames */
    float var_threshold; /* squared Mahalanobis distance that makes a pixel foreground */
    bool shadows;        /* detect shadows (and drop them): see docs/vision.md */
    float shadow_tau;    /* a pixel darker than background by at most this ratio is shadow */
    float person_px;     /* expected shoulder width, px: the start; tracked people refine it */
    int min_blob_area;   /* px, at the processing size: smaller is noise */
    int max_blob_area;
    float max_aspect; /* longer / shorter side of a blob's box */
    float min_fill;   /* blob area / box area */
    int max_tracks;
    int confirm_hits;     /* measurements before a track is reported */
    float confirm_s;      /* ... spanning at least this long */
    float max_missed_s;   /* a track coasts unseen this long before it is lost */
    float max_speed_mps;  /* fastest walker, m/s (a person's shoulders are about 0.5 m) */
    float gate_px;        /* measurement noise: the gate around a prediction at zero time */
    float line_margin_px; /* hysteresis on each side of a line */
    float zone_margin_px; /* a track leaves a zone this far outside it */
    int reach_band_px;    /* a shelf's reach band: this deep from its edge (zones.[].reach) */
    int reach_min_px;     /* band pixels of one shopper that make a reach */
    int reach_width_px;   /* band pixels this near a track along the edge are its own */
};

/* A person's shoulder width (0.5 m at 1.4 m above the floor) in pixels of a processing width
 * of proc_width, seen from a camera mount_height_m above the floor with a horizontal field of
 * view of fov_deg, looking down. */
float sk_vision_person_px(double mount_height_m, double fov_deg, int proc_width);

/* The processing size for frames of fw x fh: the largest that fits box_w x box_h with the
 * frame's shape (even sizes). */
void sk_vision_fit(int box_w, int box_h, int fw, int fh, int *ret_w, int *ret_h);

/* Defaults for a width x height processing size. */
void sk_vision_params_default(struct sk_vision_params *p, int width, int height);
/* Fills params from the config's vision group and the board's processing size. */
void sk_vision_params_from_config(struct sk_vision_params *p, const struct sk_config *cfg);
/* The same for one camera: a camera with a mount (cameras.[].mount) expects a person's size
 * from its own height and lens, unless vision.person_px sets it for all. */
void sk_vision_params_for_camera(struct sk_vision_params *p,
                                 const struct sk_config *cfg,
                                 const struct sk_camera_cfg *cam);

enum sk_vision_event_type {
    SK_VEV_TRACK_NEW = 1,
    SK_VEV_TRACK_LOST,
    SK_VEV_ZONE_ENTER,
    SK_VEV_ZONE_LEAVE,
    SK_VEV_LINE_CROSS,
    SK_VEV_REACH, /* a track (0: nobody followed) reached into a zone's reach band, and ended */
};

struct sk_vision_event {
    int type; /* enum sk_vision_event_type */
    uint32_t track_id;
    float x, y;       /* track position; REACH: where the arm crossed the shelf's edge */
    int64_t t_us;     /* media time of the frame */
    const char *name; /* zone or line name (owned by the pipeline), NULL otherwise */
    int role;         /* line role (enum sk_line_role) */
    int dir;          /* enum sk_line_dir for crossings */
    int64_t dwell_us; /* ZONE_LEAVE: time spent inside; REACH: since it began (it ended a
                       * frame or two before t_us) */
    float reach;      /* REACH: how deep into the band, 0..1 */
    int sole;         /* REACH: enum sk_reach_sole */
};

struct sk_vision_blob {
    float cx, cy;
    int x, y, w, h;
    int area;
};

struct sk_vision_track {
    uint32_t id;
    float x, y, vx, vy; /* px and px/s */
    int hits, missed;
    bool confirmed, merged;
    int bx, by, bw, bh; /* its latest blob's box */
};

/* Milliseconds per stage, accumulated over frames (sk_vision_get_stats divides). */
struct sk_vision_stats {
    uint64_t frames;
    double ms_resize, ms_background, ms_blobs, ms_tracking;
    uint32_t tracks_active; /* confirmed tracks now */
    uint64_t tracks_total;  /* confirmed tracks ever */
    uint64_t entries, exits;
    int width, height; /* the processing size (0 before the first frame) */
    float person_px;   /* the person size now: the start, refined by tracked people */
    uint32_t person_samples;
    uint64_t ghosts; /* blobs found to be ghosts and learnt into the background */
};

/*
 * Creates a pipeline for one camera: the zones and lines whose camera is `camera` are copied
 * (NULL: all of them). Returns 0 and an owned pipeline (sk_vision_free), -EINVAL for bad
 * params, -E2BIG for more than 64 zones or 16 lines on one camera, -ENOMEM or SK_EVISION.
 */
int sk_vision_new(const struct sk_vision_params *params,
                  const char *camera,
                  const struct sk_zone_cfg *zones,
                  size_t n_zones,
                  const struct sk_line_cfg *lines,
                  size_t n_lines,
                  struct sk_vision **ret_vision);
void sk_vision_free(struct sk_vision *v);

/*
 * Runs one frame through the pipeline (the frame is borrowed; any size: it is scaled).
 * Returns the number of events, which sk_vision_events() then lists, or SK_EVISION.
 */
int sk_vision_process(struct sk_vision *v, const struct sk_frame *frame);

/* The latest frame's results; owned by the pipeline, valid until the next process call. */
const struct sk_vision_event *sk_vision_events(const struct sk_vision *v, size_t *ret_n);
const struct sk_vision_blob *sk_vision_blobs(const struct sk_vision *v, size_t *ret_n);
const struct sk_vision_track *sk_vision_tracks(const struct sk_vision *v, size_t *ret_n);
/* The scaled luma and the cleaned foreground mask (width x height, stride width). */
const uint8_t *sk_vision_image(const struct sk_vision *v);
const uint8_t *sk_vision_mask(const struct sk_vision *v);
void sk_vision_get_stats(const struct sk_vision *v, struct sk_vision_stats *ret_stats);

/*
 * Ends every track (TRACK_LOST, ZONE_LEAVE events as for lost tracks): for a camera that
 * stops. Returns the number of events, listed by sk_vision_events().
 */
int sk_vision_flush(struct sk_vision *v, int64_t t_us);

/*
 * Writes the latest processed frame as an RGB PNG with zones (green), lines (blue, with an
 * arrow into the inside), blobs (yellow boxes) and tracks (red, with their ids) drawn on it,
 * scaled by `scale` (1..4). The technician's snapshot: the only way an image leaves memory.
 * Returns 0, -errno for the file, or SK_EVISION.
 */
int sk_vision_write_png(const struct sk_vision *v, const char *path, int scale);
/* The camera's floor calibration (cameras.[].floor; copied; ignored when it has none): the
 * snapshot then draws the floor grid, a line every metre, and the marked points. */
void sk_vision_set_floor(struct sk_vision *v, const struct sk_camera_cfg *cam);

/* The OpenCV library's version as it runs (cv::getVersionString()), or NULL when the module
 * vision-opencv is not installed or does not load (this loads it). Static string. */
const char *sk_vision_opencv_version(void);
/*
 * The board's processing cap (processing.vision_max_fps), one rule for `run`, `diag camera`
 * and the benchmark, so calibration shows what the daemon counts. Frames are taken by media
 * time on a fixed grid of 1 / max_fps (credit, not "at least a period since the last"):
 * a 15 fps camera capped at 10 gives 10 frames a second, not every other one (7.5). A cap
 * below SK_VISION_MIN_FPS is raised to it: the tracker is tested down to 5 fps (a walker
 * at 2 m/s moves 0.4 m between frames), and decimating below that loses people.
 */
#define SK_VISION_MIN_FPS 5

struct sk_vision_pacer {
    int64_t period_us, next_us;
    bool started;
};

void sk_vision_pacer_init(struct sk_vision_pacer *p, double max_fps);
/* True when the frame at media time t_us is to be processed. */
bool sk_vision_pacer_take(struct sk_vision_pacer *p, int64_t t_us);

/*
 * --check-config's look at the cameras: each camera's backend and the vision module are
 * installed and load (else the error says how to get them), a file camera's clip exists. Adds one
 * line per problem to diag; returns 0 or -EINVAL.
 */
int sk_vision_check_cameras(const struct sk_config *cfg, struct sk_diag *diag);

#endif
