/* SPDX-License-Identifier: MIT */
/* The status page and metrics over HTTP: libmicrohttpd driven from the core thread's loop. */
#include "status_http.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "storekeeper/log.h"
#include "storekeeper/report.h"

/*
 * DESIGN
 * libmicrohttpd runs without a thread of its own (no MHD_USE_INTERNAL_POLLING_THREAD) in its
 * epoll mode: its epoll fd joins the core loop, and MHD_run() is called when that fd is ready
 * and when MHD's own timeout (idle connections) expires. Every request is therefore answered
 * on the core thread, from the same status document the control socket serves, without
 * locks. Only GET and HEAD of four fixed paths exist; request bodies are refused; the
 * connection count, per-connection memory and idle time are bounded, so a browser left open
 * on a phone (the page reloads itself) or a scraper cannot take more than that.
 */

#define CONN_TIMEOUT_S  10
#define CONN_MEMORY_MAX (32 * 1024)
/* A connection that has not sent its request within this is closed: a browser sends it with
 * the connection, and idle half-open connections must not hold the slots (forty of them used
 * to stall the page for 14 s). The full CONN_TIMEOUT_S applies once the request has begun. */
#define HEADER_TIMEOUT_S 2

struct sk_status_http {
    struct MHD_Daemon *d;
    struct sk_loop *loop;
    int epfd;
    struct sk_loop_timer *timer;
    struct sk_status_source src;
    int refresh_s;
};

static void schedule(struct sk_status_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(h->d, &ms) != MHD_YES || ms > 1000) {
        ms = 1000;
    }
    sk_loop_timer_set(h->timer, ms ? (int64_t)ms : 1, 0);
}

static void on_ready(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct sk_status_http *h = ctx;
    MHD_run(h->d);
    schedule(h);
}

static void on_timer(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_status_http *h = ctx;
    MHD_run(h->d);
    schedule(h);
}

static enum MHD_Result send_buffer(struct MHD_Connection *conn,
                                   unsigned status,
                                   const char *type,
                                   void *buf,
                                   size_t len,
                                   enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, buf, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(buf);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    return send_buffer(conn, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
                       MHD_RESPMEM_PERSISTENT);
}

/* Every new connection starts on the short header timeout (see HEADER_TIMEOUT_S). */
static void on_connection(void *cls,
                          struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)HEADER_TIMEOUT_S);
    }
}

static enum MHD_Result on_request(void *cls,
                                  struct MHD_Connection *conn,
                                  const char *url,
                                  const char *method,
                                  const char *version,
                                  const char *upload_data,
                                  size_t *upload_data_size,
                                  void **req_cls)
{
    (void)version;
    (void)upload_data;
    struct sk_status_http *h = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    if (*req_cls == NULL) {
        *req_cls = h; /* first call: headers only; answer on the next */
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S);
        return MHD_YES;
    }
    if (*upload_data_size) {
        return send_text(conn, MHD_HTTP_BAD_REQUEST, "no request body, please\n");
    }
    if (strcmp(url, "/snapshot.png") == 0) {
        size_t len = 0;
        char cam[64];
        const void *png = h->src.snapshot(h->src.ctx, &len, cam, sizeof(cam));
        if (!png) {
            return send_text(conn, MHD_HTTP_NOT_FOUND, "no technician snapshot was taken\n");
        }
        return send_buffer(conn, MHD_HTTP_OK, "image/png", (void *)png, len, MHD_RESPMEM_MUST_COPY);
    }
    bool html = strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0;
    bool json = strcmp(url, "/status.json") == 0;
    bool metrics = strcmp(url, "/metrics") == 0;
    if (!html && !json && !metrics) {
        return send_text(conn, MHD_HTTP_NOT_FOUND, "not found: try /, /status.json or /metrics\n");
    }
    cJSON *doc = h->src.document(h->src.ctx);
    char *body = NULL;
    const char *type;
    if (!doc) {
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
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
    if (!body) {
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    return send_buffer(conn, MHD_HTTP_OK, type, body, strlen(body), MHD_RESPMEM_MUST_FREE);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[300];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    sk_log(SK_LOG_DEBUG, "http", NULL, "%s", msg);
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
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (strchr(cfg->address, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET6, cfg->address, &a->sin6_addr) != 1) {
            snprintf(err, err_size, "http.address \"%s\" is not an address", cfg->address);
            return -EINVAL;
        }
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)cfg->port);
        if (inet_pton(AF_INET, cfg->address, &a->sin_addr) != 1) {
            snprintf(err, err_size, "http.address \"%s\" is not an address", cfg->address);
            return -EINVAL;
        }
    }
    struct sk_status_http *h = calloc(1, sizeof(*h));
    if (!h) {
        return -ENOMEM;
    }
    h->loop = loop;
    h->src = *src;
    h->refresh_s = cfg->refresh_s;
    h->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY_MAX,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL, MHD_OPTION_END);
    if (!h->d) {
        int e = errno ? errno : EADDRINUSE;
        snprintf(err, err_size, "cannot listen on %s port %d: %s", cfg->address, cfg->port,
                 strerror(e));
        free(h);
        return -e;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epfd = info ? info->epoll_fd : -1;
    if (h->epfd < 0 || sk_loop_add(loop, h->epfd, EPOLLIN, on_ready, h) < 0 ||
        sk_loop_timer_add(loop, 1000, 0, on_timer, h, &h->timer) < 0) {
        snprintf(err, err_size, "cannot watch the HTTP listener");
        if (h->epfd >= 0) {
            sk_loop_del(loop, h->epfd);
        }
        MHD_stop_daemon(h->d);
        free(h);
        return -EIO;
    }
    sk_log(SK_LOG_INFO, "http", NULL, "status page on http://%s%s%s:%d/",
           flags & MHD_USE_IPv6 ? "[" : "", cfg->address, flags & MHD_USE_IPv6 ? "]" : "",
           cfg->port);
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
    MHD_stop_daemon(h->d);
    free(h);
}

void status_http_set_refresh(struct sk_status_http *h, int refresh_s)
{
    h->refresh_s = refresh_s;
}
