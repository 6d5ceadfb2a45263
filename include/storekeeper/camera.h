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
 * puts RTU and TCP behind one. synthetic and v4l2 are built in; libcamera and file (OpenCV
 * videoio) are modules (storekeeper/module.h), loaded the first time a camera of theirs is
 * opened or checked: a process that opens none never maps their libraries. A backend whose
 * module is not installed fails with SK_ENOMODULE.
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
 * Opens a camera (loading its backend's module the first time). Returns 0 and an owned
 * handle (free with sk_camera_close), -EINVAL for an unknown backend or bad parameters,
 * SK_ENOMODULE when the backend's module is not installed, SK_EMODULE when it does not load
 * (sk_module_error), -ENOENT when the device is missing, SK_ECAMERA or -errno otherwise.
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
 * to max entries and returns how many cameras exist (which may exceed max), SK_ENOMODULE,
 * SK_EMODULE or another negative error. Loads the backend's module.
 */
int sk_camera_enumerate(const char *backend, struct sk_camera_info *ret_infos, size_t max);

/* The libcamera library's version as it runs (CameraManager::version()), or NULL when its
 * module is not installed or does not load. Loads the module. Static string. */
const char *sk_camera_libcamera_version(void);

/* True when the backend can be used: built in, or its module installed and loaded (this
 * loads it). */
bool sk_camera_backend_built(const char *backend);

/* The module a backend lives in ("camera-libcamera"), or NULL for one built in or unknown. */
const char *sk_camera_backend_module(const char *backend);

/* Every backend name known (built in or a module, installed or not): fills up to max and
 * returns how many there are. Loads nothing. */
size_t sk_camera_backend_names(const char **ret_names, size_t max);

/*
 * A capture backend: one function table per backend, libmodbus style. drivers/ builds in
 * synthetic and v4l2; libcamera and the file camera (OpenCV videoio, in vision/) are modules
 * whose tables the camera table registers when it loads them; a test may register its own.
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

/* The backends at hand, built in and registered (modules already loaded): fills up to max
 * tables and returns how many there are. Loads nothing. */
size_t sk_camera_backends(const struct sk_camera_backend **ret_backends, size_t max);

#endif
