/* SPDX-License-Identifier: MIT */
/* The camera service of `storekeeper run`: a thread per configured camera. */
#ifndef SK_SVC_CAMERA_H
#define SK_SVC_CAMERA_H

#include "storekeeper/runtime.h"

extern const struct sk_service sk_camera_service;

/*
 * The technician's snapshot through the daemon (`diag camera NAME --snapshot`): the camera
 * thread renders its next processed frame with zones, lines, blobs and tracks drawn (the
 * vision pipeline's PNG, scale 1..4) into memory, never to disk. state is the service's
 * (sk_runtime_service_state(rt, "camera")). Thread-safe.
 *   request: returns 0, or -ENOENT for an unknown camera.
 *   take: returns 1 with an owned PNG (free()) and when it was taken, 0 while pending, or a
 *         negative error of the rendering; -ENOENT for an unknown camera.
 */
int svc_camera_request_snapshot(void *state, const char *camera, int scale);
int svc_camera_take_snapshot(
        void *state, const char *camera, void **ret_png, size_t *ret_len, int64_t *ret_wall_us);

#endif
