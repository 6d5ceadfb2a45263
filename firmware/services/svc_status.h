/* SPDX-License-Identifier: MIT */
/* The status service of `storekeeper run`: control socket, status document, HTTP page. */
#ifndef SK_SVC_STATUS_H
#define SK_SVC_STATUS_H

#include "storekeeper/config.h"
#include "storekeeper/loop.h"
#include "storekeeper/runtime.h"

struct cJSON;

/* Started first and stopped last (firmware/services/services.c), so a technician can ask the daemon
 * while the other services start and stop. */
extern const struct sk_service sk_status_service;

struct sk_status;

/* The status document (docs/technician.md, "Status document"); owned by the caller. Core
 * thread. NULL when out of memory. */
struct cJSON *sk_status_document(struct sk_status *st);
/* The latest technician snapshot, if one is kept: PNG bytes (borrowed) and its camera. */
const void *sk_status_snapshot(struct sk_status *st, size_t *ret_len, char *camera, size_t size);

/* The HTTP listener (status_http.c): /, /status.json, /metrics, /snapshot.png, served on the
 * core thread's loop. */
struct sk_status_http;
int sk_status_http_start(struct sk_loop *loop,
                         const struct sk_http_cfg *cfg,
                         struct sk_status *st,
                         char *err,
                         size_t err_size,
                         struct sk_status_http **ret);
void sk_status_http_stop(struct sk_status_http *h);
/* The page's reload interval after a config reload. */
void sk_status_http_set_refresh(struct sk_status_http *h, int refresh_s);

#endif
