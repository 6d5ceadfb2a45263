/* SPDX-License-Identifier: MIT */
/* The module status-http.so: libmicrohttpd serving the status page's requests without a thread
 * of its own, for firmware/services/status_http.c (which loads it only when the page is on). */
#include "status_mhd.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "sk_build_info.h"
#include "storekeeper/module.h"

/*
 * DESIGN
 * libmicrohttpd links GnuTLS and its dependencies (nettle, gmp, p11-kit, idn2, ...): about a
 * third of the relocations the dynamic loader bound at every start of every subcommand, for
 * a page most stores leave off. Here it is a module like the cameras' (storekeeper/module.h):
 * this file is the only one that includes microhttpd.h. It runs in MHD's epoll mode without a
 * thread (no MHD_USE_INTERNAL_POLLING_THREAD): its epoll fd joins the core loop, and run() is
 * called when that fd is ready and when MHD's own timeout (idle connections) expires. Only GET
 * and HEAD exist; request bodies are refused; connections, their memory and idle time are
 * bounded by the caller's cfg.
 */

struct status_mhd {
    struct MHD_Daemon *d;
    struct status_mhd_cfg cfg;
};

static enum MHD_Result queue(struct MHD_Connection *conn, const struct status_mhd_reply *rep)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
            rep->len, rep->body, rep->must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (rep->must_free) {
            free(rep->body);
        }
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'");
    enum MHD_Result ret = MHD_queue_response(conn, rep->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
    const struct status_mhd_reply rep = {.status = status,
                                         .type = "text/plain; charset=utf-8",
                                         .body = (void *)msg,
                                         .len = strlen(msg)};
    return queue(conn, &rep);
}

/* Every new connection starts on the short header timeout: a browser sends its request with
 * the connection, and idle half-open connections must not hold the slots (forty of them used
 * to stall the page for 14 s). The full timeout applies once the request has begun. */
static void on_connection(void *cls,
                          struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)socket_context;
    struct status_mhd *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.header_timeout_s);
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
    struct status_mhd *s = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    if (*req_cls == NULL) {
        *req_cls = s; /* first call: headers only; answer on the next */
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->cfg.conn_timeout_s);
        return MHD_YES;
    }
    if (*upload_data_size) {
        return text(conn, MHD_HTTP_BAD_REQUEST, "no request body, please\n");
    }
    struct status_mhd_reply rep = {0};
    s->cfg.handler(s->cfg.ctx, url, &rep);
    if (!rep.body || !rep.type) {
        return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
    }
    return queue(conn, &rep);
}

static void on_log(void *cls, const char *fmt, va_list ap)
{
    struct status_mhd *s = cls;
    char msg[300];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    if (s->cfg.log) {
        s->cfg.log(s->cfg.ctx, msg);
    }
}

static int mhd_start(const struct status_mhd_cfg *cfg, struct status_mhd **ret)
{
    struct status_mhd *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->cfg = *cfg;
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    uint16_t port = 0;
    if (cfg->addr->sa_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
        port = ntohs(((const struct sockaddr_in6 *)(const void *)cfg->addr)->sin6_port);
    } else {
        port = ntohs(((const struct sockaddr_in *)(const void *)cfg->addr)->sin_port);
    }
    errno = 0;
    s->d = MHD_start_daemon(
            flags, port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, cfg->addr,
            MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            cfg->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->conn_memory, MHD_OPTION_NOTIFY_CONNECTION,
            on_connection, s, MHD_OPTION_EXTERNAL_LOGGER, on_log, s, MHD_OPTION_END);
    if (!s->d) {
        int e = errno ? errno : EADDRINUSE;
        free(s);
        return -e;
    }
    *ret = s;
    return 0;
}

static int mhd_fd(struct status_mhd *s)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    return info ? info->epoll_fd : -1;
}

static int64_t mhd_run(struct status_mhd *s, int64_t max_ms)
{
    MHD_run(s->d);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout(s->d, &ms) != MHD_YES || (int64_t)ms > max_ms) {
        return max_ms;
    }
    return (int64_t)ms;
}

static void mhd_stop(struct status_mhd *s)
{
    if (s) {
        MHD_stop_daemon(s->d);
        free(s);
    }
}

static const char *library_version(void)
{
    return MHD_get_version();
}

static const struct status_mhd_ops ops = {
        .start = mhd_start, .fd = mhd_fd, .run = mhd_run, .stop = mhd_stop};

/* The one symbol the module exports (built with hidden visibility). */
__attribute__((visibility("default")))
const struct sk_module sk_module = {.abi = SK_MODULE_ABI,
                                    .size = sizeof(struct sk_module),
                                    .name = STATUS_MHD_MODULE,
                                    .version = SK_VERSION,
                                    .ops = &ops,
                                    .library_version = library_version};
