/* SPDX-License-Identifier: MIT */
/* Camera capture: one C interface over the libcamera, V4L2, file and synthetic backends. */
#ifndef STOREKEEPER_CAMERA_H
#define STOREKEEPER_CAMERA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every backend delivers 8-bit luma (greyscale) frames: the Y plane of YUV420 or YUYV, or a
 * converted decoded frame. Overhead shopper tracking needs no colour, and grey halves the
 * memory traffic of the vision pipeline. A camera handle belongs to one thread (the camera's
 * own); nothing here locks.
 *
 * Backends sit behind a function table (struct sk_camera_backend below), the way libmodbus
 * puts RTU and TCP behind one. Backends that this build lacks (libcamera without the library, file
 * without OpenCV videoio) still have a name; opening them fails with SK_ENOTBUILT.
 */

struct sk_camera;
struct sk_synth;

/* One captured frame. Owned by the camera; valid until the next capture or close. */
struct sk_frame {
    const uint8_t *data; /* luma, height rows of stride bytes */
    int width, height, stride;
    uint64_t seq;    /* frame number from the source; gaps are frames the source dropped */
    int64_t mono_us; /* capture time (CLOCK_MONOTONIC) */
    int64_t t_us;    /* media time: scene time (synthetic), position in the clip (file) */
};

struct sk_camera_params {
    const char *backend; /* "libcamera", "v4l2", "file", "synthetic" */
    const char *device;  /* libcamera id or index, /dev/videoN, clip path, scene file or "" */
    int width, height;   /* wanted capture size (backends may adjust; see the frames) */
    int fps;             /* wanted rate; file and synthetic pace at it when realtime */
    bool realtime;       /* file/synthetic: deliver at fps (run) or as fast as asked (tests) */
    bool loop;           /* file: start again at the end instead of reporting the end */
    /* synthetic: a scene the caller owns and scripts (the simulator), or NULL to load
     * `device` as a scene file (or an empty scene when device is ""). Borrowed. */
    struct sk_synth *scene;
    uint32_t seed; /* synthetic: noise seed (0: fixed default) */
};

/* The camera stack's identity: for `diag` and `version`. */
struct sk_camera_info {
    char id[128];    /* what `device` accepts */
    char model[64];  /* sensor or card name */
    char driver[32]; /* backend name */
};

/*
 * Opens a camera. Returns 0 and an owned handle (free with sk_camera_close), -EINVAL for an
 * unknown backend or bad parameters, SK_ENOTBUILT when this build lacks the backend,
 * -ENOENT when the device is missing, SK_ECAMERA or -errno for other failures.
 */
int sk_camera_open(const struct sk_camera_params *params, struct sk_camera **ret_cam);
void sk_camera_close(struct sk_camera *cam);

/*
 * Waits up to timeout_ms for the next frame. Returns 0 and the frame (owned by the camera),
 * -ETIMEDOUT, -ENODATA at the end of a clip, or another negative error (device lost: close
 * and open again).
 */
int sk_camera_capture(struct sk_camera *cam, int timeout_ms, struct sk_frame *ret_frame);

/* Name of the backend the handle uses; static string. */
const char *sk_camera_backend(const struct sk_camera *cam);

/*
 * Lists the cameras a backend sees (libcamera, v4l2; file and synthetic list none). Fills up
 * to max entries and returns how many cameras exist (which may exceed max), SK_ENOTBUILT or
 * a negative error.
 */
int sk_camera_enumerate(const char *backend, struct sk_camera_info *ret_infos, size_t max);

/* The libcamera library's version as it runs (CameraManager::version()), or NULL when this
 * build has no libcamera backend. Static string. */
const char *sk_camera_libcamera_version(void);

/* True when this build has the backend (libcamera found, OpenCV videoio found). */
bool sk_camera_backend_built(const char *backend);

/*
 * A capture backend: one function table per backend, libmodbus style. drivers/ builds in
 * synthetic, v4l2 and (when found) libcamera; a backend that lives elsewhere registers its
 * table here: the file camera, whose decoding is OpenCV's and so lives in vision/
 * (sk_vision_register_backends), and later any backend loaded as a module.
 * open returns 0 and the backend's private state; capture fills a frame that stays valid
 * until the next capture or close; enumerate is optional (NULL: lists nothing). Backends
 * return errors and never log above debug.
 */
struct sk_camera_backend {
    const char *name;
    int (*open)(const struct sk_camera_params *params, void **ret_priv);
    int (*capture)(void *priv, int timeout_ms, struct sk_frame *ret_frame);
    void (*close)(void *priv);
    int (*enumerate)(struct sk_camera_info *ret_infos, size_t max);
    const char *library; /* what it captures or decodes with, for `version` */
};

/*
 * Adds a backend (the table is borrowed: static storage). Registering the same table again
 * is a no-op. Returns 0, -EEXIST for another table under a known name, -ENOSPC past 8.
 */
int sk_camera_register_backend(const struct sk_camera_backend *backend);

/* The backends this build has, built in and registered: fills up to max tables and returns
 * how many there are. */
size_t sk_camera_backends(const struct sk_camera_backend **ret_backends, size_t max);

#endif
