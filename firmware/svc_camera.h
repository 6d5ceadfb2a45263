/* SPDX-License-Identifier: MIT */
/* The camera service of `storekeeper run`: a thread per configured camera. */
#ifndef SK_SVC_CAMERA_H
#define SK_SVC_CAMERA_H

#include "storekeeper/runtime.h"

extern const struct sk_service sk_camera_service;

#endif
