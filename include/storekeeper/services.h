/* SPDX-License-Identifier: MIT */
/* The table of services the executable's `run` command hands to the runtime. */
#ifndef STOREKEEPER_SERVICES_H
#define STOREKEEPER_SERVICES_H

#include "storekeeper/config.h"
#include "storekeeper/runtime.h"

extern const struct sk_service *const sk_services[];

/* For `run --check-config`: what the services would fail to start with this configuration
 * for lack of a module (the status page's HTTP server with http.enabled), added to diag.
 * Returns 0, or -EINVAL when something was added. */
int sk_services_check(const struct sk_config *cfg, struct sk_diag *diag);

#endif
