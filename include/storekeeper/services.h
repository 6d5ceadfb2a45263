/* SPDX-License-Identifier: MIT */
/* The table of services the executable's `run` command hands to the runtime. */
#ifndef STOREKEEPER_SERVICES_H
#define STOREKEEPER_SERVICES_H

#include "storekeeper/runtime.h"

extern const struct sk_service *const sk_services[];

#endif
