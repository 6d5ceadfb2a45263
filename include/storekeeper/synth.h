/* SPDX-License-Identifier: MIT */
/* The synthetic overhead scene: scripted top-down shoppers the synthetic camera renders. */
#ifndef STOREKEEPER_SYNTH_H
#define STOREKEEPER_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A scene is a floor seen from above, lit by a light that may drift, with shoppers moving
 * along scripted paths. The synthetic camera renders it into luma frames with sensor noise
 * and shadows, so the whole vision pipeline runs on it with a known truth.
 *
 * Coordinates: scene pixels of a reference size (params.width x params.height, normally the
 * processing size, so scene positions are zone and line coordinates). The camera renders at
 * its own capture size and scales.
 *
 * Time: scene seconds. The synthetic camera renders frame n at t = n / fps, so a script is
 * deterministic whatever the machine's speed. sk_synth_time() is the time of the latest
 * rendered frame: a simulator that scripts live adds waypoints after it.
 *
 * A shopper exists from its first waypoint's time to its last; between waypoints it moves in
 * a straight line at constant speed. A shopper whose last waypoint is more than a second old
 * is removed. Scripting (add, waypoint, remove) and rendering may run in different threads:
 * the scene locks internally.
 */

struct sk_synth;

#define SK_SYNTH_MAX_SHOPPERS  64
#define SK_SYNTH_MAX_WAYPOINTS 512 /* per shopper */
#define SK_SYNTH_MAX_OFFSCREEN 16  /* waypoints lie within 16 scene widths/heights of 0,0 */

struct sk_synth_params {
    int width, height;          /* coordinate space (pixels) */
    int floor_luma;             /* mean floor brightness 0..255 (default 150) */
    float noise_sigma;          /* sensor noise, luma units (default 3) */
    float drift_amplitude;      /* lighting: relative swing of the gain, 0..0.9 (0.3 = +-30 %) */
    float drift_period_s;       /* period of that swing (default 120 s) */
    bool shadows;               /* shoppers cast a shadow on the floor */
    float shadow_dx, shadow_dy; /* shadow offset, scene pixels (default 6, 4) */
    float shadow_strength;      /* light a shadow takes away, 0..1 (default 0.35) */
    uint32_t seed;              /* noise seed */
    /* What real overhead footage shows and plain discs do not (all off by default, so
     * scripted tests keep their figures; the hard scenes of the vision tests turn them on): */
    float texture;     /* clothing pattern contrast, luma units (stripes, parts near the floor's
                        * brightness split a blob), 0..120 */
    bool arms;         /* arms swinging at the sides while walking (blobs change shape) */
    float perspective; /* away from the image centre the body leans outwards (legs seen from
                        * the side): the lean at the image corner, in shoulder widths, 0..2 */
};

/* What a shopper looks like from above. */
struct sk_synth_look {
    float radius;  /* half the shoulder width, scene pixels (default 14) */
    int luma;      /* clothing brightness 0..255 (dark clothing: 30..70) */
    int head_luma; /* hair seen from above; -1: dark hair (40) */
};

/* A shopper's true state at a moment, for tests and simulators. */
struct sk_synth_truth {
    uint32_t id;
    float x, y;
};

/* Fills defaults for a width x height scene. */
void sk_synth_params_default(struct sk_synth_params *p, int width, int height);

/* Returns 0 and an owned scene (free with sk_synth_free), or -EINVAL / -ENOMEM. */
int sk_synth_new(const struct sk_synth_params *params, struct sk_synth **ret_scene);
void sk_synth_free(struct sk_synth *scene);

/*
 * Loads a scene file (libconfig): a `scene` group with the parameters and a `shoppers` list
 * of { luma; radius; path = [ t, x, y, t, x, y, ... ]; } (docs/vision.md). On failure
 * returns SK_ESCENARIO (-errno for I/O) with "FILE:LINE: problem" in err, if given.
 */
int sk_synth_load(const char *path,
                  int width,
                  int height,
                  char *err,
                  size_t err_size,
                  struct sk_synth **ret_scene);

/* The same from text in memory (len bytes, borrowed; name stands for the file in messages). */
int sk_synth_load_text(const char *name,
                       const char *text,
                       size_t len,
                       int width,
                       int height,
                       char *err,
                       size_t err_size,
                       struct sk_synth **ret_scene);
/* Adds a shopper without waypoints (it appears with the first). Returns 0 and its id in
 * *ret_id, -ENOSPC when SK_SYNTH_MAX_SHOPPERS exist, -EINVAL for a bad look. */
int sk_synth_add_shopper(struct sk_synth *scene,
                         const struct sk_synth_look *look,
                         uint32_t *ret_id);
/* Appends a waypoint: at t_s the shopper is at (x, y). t_s must be later than the previous
 * waypoint's; |x| and |y| at most SK_SYNTH_MAX_OFFSCREEN times the scene's width and height.
 * Returns 0, -ENOENT (no such shopper), -EINVAL (time order), -ENOSPC (full). */
int sk_synth_waypoint(struct sk_synth *scene, uint32_t id, double t_s, float x, float y);

#define SK_SYNTH_MAX_REACHES 128 /* per shopper */

/* The shopper reaches towards (x, y) from t_s for duration_s: its arm goes out, stays, comes
 * back (a take or put at a shelf, an item handed over). In a scene file: the shopper's
 * reach = [ t, seconds, x, y, ... ]. Returns 0, -ENOENT, -EINVAL or -ENOSPC. */
int sk_synth_reach(
        struct sk_synth *scene, uint32_t id, double t_s, double duration_s, float x, float y);

/* Scripted camera faults, for tests of the camera's health: a blackout renders black frames
 * (lens covered, lights out); a stall delivers no frames at all (a hung sensor). In a scene
 * file: scene.blackouts and scene.stalls = [ t, seconds, ... ]. */
enum sk_synth_fault {
    SK_SYNTH_BLACK = 1,
    SK_SYNTH_STALL = 2,
};

#define SK_SYNTH_MAX_FAULTS 16
/* Returns 0, -EINVAL (kind, duration 0 or above a day) or -ENOSPC. */
int sk_synth_add_fault(struct sk_synth *scene, int kind, double t_s, double duration_s);
/* The fault at t_s (enum sk_synth_fault), or 0. */
int sk_synth_fault_at(struct sk_synth *scene, double t_s);

/*
 * A door swinging on its hinge: the leaf is a bar from the hinge, seen from above as wide as
 * its face appears to the camera (away from the image centre a tall leaf shows its face, not
 * just its edge). Closed it is part of the room the model learns; opening, it sweeps from
 * closed_deg to open_deg in swing_s, uncovers the floor it stood on, stays open, and swings
 * back. Angles: the leaf's direction from the hinge, 0 along +x, 90 along +y (down the image).
 * For tests of what is not a shopper; scene files have no doors.
 */
struct sk_synth_door {
    float hinge_x, hinge_y; /* scene pixels */
    float length, width;    /* the leaf, scene pixels */
    float closed_deg, open_deg;
    float swing_s; /* seconds to open, and to close */
    int luma;      /* the leaf's brightness */
};

#define SK_SYNTH_MAX_DOORS    4
#define SK_SYNTH_MAX_OPENINGS 64 /* per door */
/* Returns 0 and the door's id, -EINVAL (a bad shape) or -ENOSPC. */
int sk_synth_add_door(struct sk_synth *scene, const struct sk_synth_door *door, uint32_t *ret_id);
/* The door starts opening at t_s and starts closing duration_s later (openings in time
 * order, not overlapping). Returns 0, -ENOENT, -EINVAL or -ENOSPC. */
int sk_synth_open_door(struct sk_synth *scene, uint32_t id, double t_s, double duration_s);

/* Removes a shopper at once. Returns 0 or -ENOENT. */
int sk_synth_remove(struct sk_synth *scene, uint32_t id);
/* Multiplies the light by gain from t_s on (a lamp switched), on top of the drift. */
int sk_synth_set_light(struct sk_synth *scene, double t_s, float gain);

/* Time of the latest rendered frame (seconds; -1 before the first). */
double sk_synth_time(struct sk_synth *scene);
/* Last waypoint time over all shoppers (the script's length), or 0. */
double sk_synth_end_time(struct sk_synth *scene);

/* Shoppers present at t_s with their positions; returns the count (may exceed max). */
int sk_synth_truth_at(struct sk_synth *scene, double t_s, struct sk_synth_truth *ret, size_t max);

/*
 * Renders the scene at t_s into a width x height luma buffer (any size: the scene scales).
 * frame_no picks the noise pattern. Returns 0 or -EINVAL.
 */
int sk_synth_render(struct sk_synth *scene,
                    double t_s,
                    uint64_t frame_no,
                    uint8_t *buf,
                    int width,
                    int height,
                    int stride);

/*
 * In-process scripting (the simulator): a scene attached under a camera's name is what the
 * synthetic camera of that name renders when `storekeeper run` opens it, instead of its
 * `device` scene file. The caller keeps ownership and must detach before freeing the scene
 * (and only after the runtime stopped). Returns 0, -EINVAL, -EEXIST or -ENOSPC (16 names).
 */
int sk_synth_attach(const char *camera, struct sk_synth *scene);
void sk_synth_detach(const char *camera);
/* The scene attached under camera, or NULL. */
struct sk_synth *sk_synth_attached(const char *camera);

#endif
