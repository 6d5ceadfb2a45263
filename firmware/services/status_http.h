/* SPDX-License-Identifier: MIT */
/* The HTTP listener of the status service: /, /status.json, /metrics, /snapshot.png. */
#ifndef SK_STATUS_HTTP_H
#define SK_STATUS_HTTP_H

#include <stddef.h>

#include "storekeeper/config.h"
#include "storekeeper/loop.h"

struct cJSON;

/*
 * Where the pages come from. The status service (svc_status.c) starts the listener and hands
 * it these: the listener calls back into nothing else, so calls go one way, from the service
 * down to the listener. Both are called on the core thread.
 */
struct sk_status_source {
    /* The status document, owned by the caller; NULL when out of memory. */
    struct cJSON *(*document)(void *ctx);
    /* The latest technician snapshot: PNG bytes (borrowed) and its camera; NULL when none. */
    const void *(*snapshot)(void *ctx, size_t *ret_len, char *camera, size_t size);
    void *ctx;
};

struct sk_status_http;

/* Listens on cfg's address and port, served on loop's thread. src is copied. Returns 0 or a
 * negative errno with err set. */
int status_http_start(struct sk_loop *loop,
                      const struct sk_http_cfg *cfg,
                      const struct sk_status_source *src,
                      char *err,
                      size_t err_size,
                      struct sk_status_http **ret);
void status_http_stop(struct sk_status_http *h);
/* Whether the HTTP server's module loads: 0, or < 0 with err naming the module and the fix. */
int status_http_check(char *err, size_t err_size);
/* The page's reload interval after a config reload. */
void status_http_set_refresh(struct sk_status_http *h, int refresh_s);

#endif
