/* SPDX-License-Identifier: MIT */
/* The status page and metrics over HTTP: the pages, served from the core thread's loop by the
 * HTTP server of the module status-http.so (status_mhd.c), loaded when the page is enabled. */
#include "status_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "status_mhd.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/module.h"
#include "storekeeper/report.h"

/*
 * DESIGN
 * The HTTP server (libmicrohttpd, which brings GnuTLS and half a dozen libraries with it) is
 * in the module status-http.so, loaded here when the page is enabled: the daemon without the
 * page and every subcommand map none of it (tests/integration/test_footprint.py). The server
 * runs without a thread of its own: its epoll fd joins the core loop, and it runs when that fd
 * is ready and when its own timeout (idle connections) expires. Every request is therefore
 * answered on the core thread, from the same status document the control socket serves,
 * without locks. Only GET and HEAD of four fixed paths exist; request bodies are refused; the
 * connection count, per-connection memory and idle time are bounded, so a browser left open
 * on a phone (the page reloads itself) or a scraper cannot take more than that.
 */

#define CONN_TIMEOUT_S  10
#define CONN_MEMORY_MAX (32 * 1024)
/* A connection that has not sent its request within this is closed (status_mhd.c). */
#define HEADER_TIMEOUT_S 2
#define RUN_MAX_MS       1000

struct sk_status_http {
    const struct status_mhd_ops *ops;
    struct status_mhd *srv;
    struct sk_loop *loop;
    int epfd;
    struct sk_loop_timer *timer;
    struct sk_status_source src;
    int refresh_s;
};

static void run(struct sk_status_http *h)
{
    int64_t ms = h->ops->run(h->srv, RUN_MAX_MS);
    sk_loop_timer_set(h->timer, ms > 0 ? ms : 1, 0);
}

static void on_ready(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    (void)fd;
    (void)events;
    run(ctx);
}

static void on_timer(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    run(ctx);
}

static void reply_text(struct status_mhd_reply *ret, unsigned status, const char *text)
{
    *ret = (struct status_mhd_reply){.status = status,
                                     .type = "text/plain; charset=utf-8",
                                     .body = (void *)text,
                                     .len = strlen(text)};
}

/* A reply left without a body is answered 503 "out of memory" by the server. */
static void on_request(void *ctx, const char *url, struct status_mhd_reply *ret)
{
    struct sk_status_http *h = ctx;
    if (strcmp(url, "/snapshot.png") == 0) {
        size_t len = 0;
        char cam[64];
        const void *png = h->src.snapshot(h->src.ctx, &len, cam, sizeof(cam));
        if (!png) {
            reply_text(ret, 404, "no technician snapshot was taken\n");
            return;
        }
        *ret = (struct status_mhd_reply){
                .status = 200, .type = "image/png", .body = (void *)png, .len = len};
        return;
    }
    bool html = strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0;
    bool json = strcmp(url, "/status.json") == 0;
    bool metrics = strcmp(url, "/metrics") == 0;
    if (!html && !json && !metrics) {
        reply_text(ret, 404, "not found: try /, /status.json or /metrics\n");
        return;
    }
    cJSON *doc = h->src.document(h->src.ctx);
    if (!doc) {
        return;
    }
    char *body = NULL;
    const char *type;
    if (json) {
        body = cJSON_Print(doc);
        type = "application/json";
    } else if (metrics) {
        body = sk_report_metrics(doc);
        type = "text/plain; version=0.0.4; charset=utf-8";
    } else {
        struct sk_checks checks = {0};
        sk_report_checks(doc, NULL, &checks);
        body = sk_report_html(doc, &checks, h->refresh_s);
        sk_checks_free(&checks);
        type = "text/html; charset=utf-8";
    }
    cJSON_Delete(doc);
    if (body) {
        *ret = (struct status_mhd_reply){
                .status = 200, .type = type, .body = body, .len = strlen(body), .must_free = true};
    }
}

static void on_server_log(void *ctx, const char *msg)
{
    (void)ctx;
    sk_log(SK_LOG_DEBUG, "http", NULL, "%s", msg);
}

/* The server's table, or NULL with err saying which module is missing or broken and what to
 * do about it. */
static const struct status_mhd_ops *load_server(char *err, size_t err_size, int *ret_err)
{
    const struct sk_module *m = NULL;
    int r = sk_module_load(STATUS_MHD_MODULE, &m);
    if (r == 0 && !m->ops) {
        r = SK_EMODULE;
    }
    if (r == 0) {
        return m->ops;
    }
    char path[512];
    sk_module_path(STATUS_MHD_MODULE, path, sizeof(path));
    if (r == SK_ENOMODULE) {
        snprintf(err, err_size,
                 "http.enabled: the status page needs the module %s, not installed: install "
                 "the %s package again (or build the sk_modules target), or set http.enabled "
                 "= false",
                 path, sk_module_package(STATUS_MHD_MODULE));
    } else {
        snprintf(err, err_size, "http.enabled: the status page's module %s does not load: %s", path,
                 sk_module_error(STATUS_MHD_MODULE));
    }
    *ret_err = r;
    return NULL;
}

int status_http_check(char *err, size_t err_size)
{
    int r = 0;
    return load_server(err, err_size, &r) ? 0 : r;
}

int status_http_start(struct sk_loop *loop,
                      const struct sk_http_cfg *cfg,
                      const struct sk_status_source *src,
                      char *err,
                      size_t err_size,
                      struct sk_status_http **ret)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    bool v6 = strchr(cfg->address, ':') != NULL;
    void *addr;
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)cfg->port);
        addr = &a->sin6_addr;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)cfg->port);
        addr = &a->sin_addr;
    }
    if (inet_pton(ss.ss_family, cfg->address, addr) != 1) {
        snprintf(err, err_size, "http.address \"%s\" is not an address", cfg->address);
        return -EINVAL;
    }
    int r = 0;
    const struct status_mhd_ops *ops = load_server(err, err_size, &r);
    if (!ops) {
        return r;
    }
    struct sk_status_http *h = calloc(1, sizeof(*h));
    if (!h) {
        return -ENOMEM;
    }
    h->ops = ops;
    h->loop = loop;
    h->src = *src;
    h->refresh_s = cfg->refresh_s;
    const struct status_mhd_cfg sc = {.addr = (const struct sockaddr *)&ss,
                                      .max_connections = (unsigned)cfg->max_connections,
                                      .conn_timeout_s = CONN_TIMEOUT_S,
                                      .header_timeout_s = HEADER_TIMEOUT_S,
                                      .conn_memory = CONN_MEMORY_MAX,
                                      .handler = on_request,
                                      .log = on_server_log,
                                      .ctx = h};
    r = ops->start(&sc, &h->srv);
    if (r < 0) {
        snprintf(err, err_size, "cannot listen on %s port %d: %s", cfg->address, cfg->port,
                 strerror(-r));
        free(h);
        return r;
    }
    h->epfd = ops->fd(h->srv);
    if (h->epfd < 0 || sk_loop_add(loop, h->epfd, EPOLLIN, on_ready, h) < 0 ||
        sk_loop_timer_add(loop, RUN_MAX_MS, 0, on_timer, h, &h->timer) < 0) {
        snprintf(err, err_size, "cannot watch the HTTP listener");
        if (h->epfd >= 0) {
            sk_loop_del(loop, h->epfd);
        }
        ops->stop(h->srv);
        free(h);
        return -EIO;
    }
    sk_log(SK_LOG_INFO, "http", NULL, "status page on http://%s%s%s:%d/", v6 ? "[" : "",
           cfg->address, v6 ? "]" : "", cfg->port);
    *ret = h;
    return 0;
}

void status_http_stop(struct sk_status_http *h)
{
    if (!h) {
        return;
    }
    sk_loop_timer_del(h->loop, h->timer);
    sk_loop_del(h->loop, h->epfd);
    h->ops->stop(h->srv);
    free(h);
}

void status_http_set_refresh(struct sk_status_http *h, int refresh_s)
{
    h->refresh_s = refresh_s;
}
