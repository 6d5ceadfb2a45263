/* SPDX-License-Identifier: MIT */
/* Internal to the camera drivers: the backend function table behind struct sk_camera. */
#ifndef SK_CAMERA_INTERNAL_H
#define SK_CAMERA_INTERNAL_H

#include "storekeeper/camera.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backends built into drivers/ (the table is struct sk_camera_backend, camera.h); the
 * others are modules (storekeeper/module.h). */
extern const struct sk_camera_backend sk_camera_synthetic;
extern const struct sk_camera_backend sk_camera_v4l2;

#ifdef __cplusplus
}
#endif

#endif
