/* SPDX-License-Identifier: MIT */
/* The HTTP server under the status page: libmicrohttpd in the module status-http.so, behind
 * a function table, so that only a daemon with the page enabled maps it (and its TLS stack). */
#ifndef SK_STATUS_MHD_H
#define SK_STATUS_MHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#define STATUS_MHD_MODULE "status-http"

/* What the handler answers: body is copied when must_free is false, else freed with free(). */
struct status_mhd_reply {
    unsigned status;
    const char *type;
    void *body;
    size_t len;
    bool must_free;
};

/* Called on the thread that calls run(), for GET and HEAD without a body only (the server
 * answers 405 and 400 itself). url is the path as sent. */
typedef void (*status_mhd_handler)(void *ctx, const char *url, struct status_mhd_reply *ret);
/* libmicrohttpd's own messages, one line each, for a debug log. */
typedef void (*status_mhd_logger)(void *ctx, const char *msg);

struct status_mhd_cfg {
    const struct sockaddr *addr; /* AF_INET or AF_INET6, with its port */
    unsigned max_connections;    /* in all and per client address */
    unsigned conn_timeout_s;     /* idle time of a connection once its request began */
    unsigned header_timeout_s;   /* time a new connection has to send its request */
    size_t conn_memory;          /* per connection */
    status_mhd_handler handler;
    status_mhd_logger log;
    void *ctx;
};

struct status_mhd;

/* The module's table (struct sk_module's ops). All are called on one thread. */
struct status_mhd_ops {
    /* Listens; 0, or a negative errno. */
    int (*start)(const struct status_mhd_cfg *cfg, struct status_mhd **ret);
    /* The epoll fd to watch for reading: run() when it is ready. */
    int (*fd)(struct status_mhd *s);
    /* Serves what is ready; returns the ms after which to call it again anyway (idle
     * connections time out), at most max_ms. */
    int64_t (*run)(struct status_mhd *s, int64_t max_ms);
    void (*stop)(struct status_mhd *s);
};

#endif
