/* SPDX-License-Identifier: MIT */
/* The producer services `storekeeper run` starts, in start order (stopped in reverse). */
#include "services.h"

#include <stddef.h>

#include "svc_camera.h"

/*
 * Each issue that adds a producer or consumer around the core (bus threads, cameras, the
 * MQTT link) adds its struct sk_service here. This file is part of the executable, not of
 * sk_firmware, because it is the one place that knows every library.
 */
const struct sk_service *const sk_services[] = {
        &sk_camera_service,
        NULL,
};
