/* SPDX-License-Identifier: MIT */
/* Internal to the camera drivers: the backend function table behind struct sk_camera. */
#ifndef SK_CAMERA_INTERNAL_H
#define SK_CAMERA_INTERNAL_H

#include "storekeeper/camera.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * One table per backend, libmodbus style: camera.c picks the table by name and forwards.
 * open returns 0 and the backend's private state; capture fills a frame that stays valid
 * until the next capture or close; enumerate is optional (NULL: lists nothing).
 * Backends return errors and never log above debug.
 */
struct sk_camera_backend {
    const char *name;
    int (*open)(const struct sk_camera_params *params, void **ret_priv);
    int (*capture)(void *priv, int timeout_ms, struct sk_frame *ret_frame);
    void (*close)(void *priv);
    int (*enumerate)(struct sk_camera_info *ret_infos, size_t max);
};

extern const struct sk_camera_backend sk_camera_synthetic;
extern const struct sk_camera_backend sk_camera_v4l2;
/* Built only with OpenCV videoio (SK_HAVE_VIDEOIO) and libcamera (SK_HAVE_LIBCAMERA). */
extern const struct sk_camera_backend sk_camera_file;
extern const struct sk_camera_backend sk_camera_libcamera;
/* libcamera's run-time version (SK_HAVE_LIBCAMERA only): sk_camera_libcamera_version(). */
const char *sk_camera_lc_version(void);

#ifdef __cplusplus
}
#endif

#endif
