/* SPDX-License-Identifier: MIT */
/* Internal to vision/: the file camera's backend table (cam_file.cpp, OpenCV videoio). */
#ifndef SK_CAM_FILE_H
#define SK_CAM_FILE_H

#include "storekeeper/camera.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Built only with OpenCV videoio (SK_HAVE_VIDEOIO); sk_vision_register_backends adds it. */
extern const struct sk_camera_backend sk_vision_file_backend;

#ifdef __cplusplus
}
#endif

#endif
