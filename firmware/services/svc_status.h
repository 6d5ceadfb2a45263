/* SPDX-License-Identifier: MIT */
/* The status service of `storekeeper run`: control socket, status document, HTTP page
 * (status_http.c, which it starts and feeds). */
#ifndef SK_SVC_STATUS_H
#define SK_SVC_STATUS_H

#include "storekeeper/runtime.h"

/* Started first and stopped last (firmware/services/services.c), so a technician can ask the daemon
 * while the other services start and stop. */
extern const struct sk_service sk_status_service;

#endif
