/* SPDX-License-Identifier: MIT */
/* The control socket: framing, the daemon's non-blocking server on the event loop, the client. */
#include "storekeeper/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <cjson/cJSON.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"

/*
 * DESIGN
 * The server lives on the core thread's event loop, like every other fd of the daemon: the
 * handlers it calls run where the state they describe lives, so they read it without locks.
 * Each connection is a small state machine: HEADER (16 bytes) -> BODY (the JSON, at most
 * SK_CTL_REQUEST_MAX) -> WAIT (the handler has the call) -> WRITE (header, JSON, attachment
 * with writev until done) -> HEADER again. Only one request per connection is in flight, and
 * only as many bytes as that request needs are read, so a client that pipelines requests is
 * served in order and a client that floods is throttled by its own socket buffer.
 *
 * Nothing a client sends can make the server allocate more than SK_CTL_REQUEST_MAX per
 * connection, and at most max_clients connections exist; a connection that stalls inside a
 * request (request_timeout_ms) or stays idle (idle_timeout_ms) is closed by a 1 s sweep.
 * A handler may answer later (a camera frame, a broker round trip): when the client went away
 * meanwhile the call is orphaned and its answer dropped.
 */

#define MAX_COMMANDS 32
#define CMD_NAME_MAX 32

/* ---- framing ------------------------------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void sk_ctl_header_encode(const struct sk_ctl_header *h, uint8_t out[SK_CTL_HEADER_SIZE])
{
    /* The magic is 4 bytes on the wire, not a string. */
    memcpy(out, SK_CTL_MAGIC, 4); /* NOLINT(bugprone-not-null-terminated-result) */
    put16(out + 4, h->version);
    put16(out + 6, h->kind);
    put32(out + 8, h->json_len);
    put32(out + 12, h->data_len);
}

int sk_ctl_header_decode(const uint8_t in[SK_CTL_HEADER_SIZE], struct sk_ctl_header *ret)
{
    if (memcmp(in, SK_CTL_MAGIC, 4) != 0) {
        return -EPROTO;
    }
    ret->version = get16(in + 4);
    ret->kind = get16(in + 6);
    ret->json_len = get32(in + 8);
    ret->data_len = get32(in + 12);
    return 0;
}

/* ---- server -------------------------------------------------------------------------------- */

enum conn_state {
    ST_HEADER,
    ST_BODY,
    ST_WAIT,
    ST_WRITE
};

struct conn {
    struct sk_ctl_server *srv;
    int fd;
    enum conn_state st;
    uint8_t hdr[SK_CTL_HEADER_SIZE];
    size_t hdr_got;
    struct sk_ctl_header h;
    char body[SK_CTL_REQUEST_MAX + 1];
    size_t body_got;
    /* output: header, JSON, attachment */
    uint8_t out_hdr[SK_CTL_HEADER_SIZE];
    char *out_json;
    size_t out_json_len;
    void *out_data;
    size_t out_data_len;
    size_t out_off; /* bytes of the three parts already written */
    bool close_after;
    int64_t last_us, req_start_us;
    struct sk_ctl_call *call;
    int peer_uid, peer_pid;
    struct conn *next;
};

struct sk_ctl_call {
    struct sk_ctl_server *srv;
    struct conn *conn; /* NULL once the client went away */
    struct sk_ctl_call *next;
};

struct command {
    char name[CMD_NAME_MAX];
    sk_ctl_handler fn;
    void *ctx;
};

struct sk_ctl_server {
    struct sk_loop *loop;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char version[64];
    int max_clients;
    int64_t idle_us, request_us;
    struct conn *conns;
    size_t n_conns;
    struct sk_ctl_call *calls; /* unanswered */
    struct command cmds[MAX_COMMANDS];
    size_t n_cmds;
    struct sk_loop_timer *sweep;
    struct sk_ctl_stats stats;
};

static void conn_close(struct conn *c)
{
    struct sk_ctl_server *s = c->srv;
    for (struct conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    s->n_conns--;
    if (c->call) {
        c->call->conn = NULL; /* the handler still answers; the answer is dropped */
    }
    sk_loop_del(s->loop, c->fd);
    close(c->fd);
    free(c->out_json);
    free(c->out_data);
    free(c);
}

static void conn_on_io(struct sk_loop *loop, int fd, uint32_t events, void *ctx);

/* Writes what it can; on completion goes back to reading (or closes). Returns false when the
 * connection was closed (and freed). */
static bool conn_flush(struct conn *c)
{
    size_t total = SK_CTL_HEADER_SIZE + c->out_json_len + c->out_data_len;
    while (c->out_off < total) {
        struct iovec iov[3];
        int n = 0;
        size_t off = c->out_off;

        const struct {
            const void *p;
            size_t len;
        } parts[3] = {{c->out_hdr, SK_CTL_HEADER_SIZE},
                      {c->out_json, c->out_json_len},
                      {c->out_data, c->out_data_len}};

        for (int i = 0; i < 3; i++) {
            if (off >= parts[i].len) {
                off -= parts[i].len;
                continue;
            }
            iov[n].iov_base = (char *)parts[i].p + off;
            iov[n].iov_len = parts[i].len - off;
            n++;
            off = 0;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            sk_loop_mod(c->srv->loop, c->fd, EPOLLOUT | EPOLLRDHUP);
            return true;
        }
        if (w <= 0) {
            conn_close(c);
            return false;
        }
        c->out_off += (size_t)w;
    }
    free(c->out_json);
    free(c->out_data);
    c->out_json = NULL;
    c->out_data = NULL;
    c->out_json_len = c->out_data_len = c->out_off = 0;
    if (c->close_after) {
        conn_close(c);
        return false;
    }
    c->st = ST_HEADER;
    c->hdr_got = c->body_got = 0;
    c->last_us = sk_now_mono_us();
    sk_loop_mod(c->srv->loop, c->fd, EPOLLIN | EPOLLRDHUP);
    return true;
}

/* Queues a reply (json and data taken) and starts writing it. */
static bool conn_send(struct conn *c, char *json, void *data, size_t data_len)
{
    struct sk_ctl_header h = {.version = SK_CTL_PROTOCOL,
                              .kind = SK_CTL_KIND_REPLY,
                              .json_len = (uint32_t)strlen(json),
                              .data_len = (uint32_t)data_len};
    sk_ctl_header_encode(&h, c->out_hdr);
    c->out_json = json;
    c->out_json_len = h.json_len;
    c->out_data = data;
    c->out_data_len = data_len;
    c->out_off = 0;
    c->st = ST_WRITE;
    c->last_us = sk_now_mono_us();
    return conn_flush(c);
}

static cJSON *reply_base(const struct sk_ctl_server *s, bool ok)
{
    cJSON *j = cJSON_CreateObject();
    if (j) {
        cJSON_AddBoolToObject(j, "ok", ok);
        cJSON_AddNumberToObject(j, "protocol", SK_CTL_PROTOCOL);
        cJSON_AddStringToObject(j, "version", s->version);
    }
    return j;
}

static char *error_json(const struct sk_ctl_server *s, const char *code, const char *msg)
{
    cJSON *j = reply_base(s, false);
    cJSON *e = j ? cJSON_AddObjectToObject(j, "error") : NULL;
    char *text = NULL;
    if (e) {
        cJSON_AddStringToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", msg);
        text = cJSON_PrintUnformatted(j);
    }
    cJSON_Delete(j);
    return text;
}

/* Answers a request the server itself refuses; closes after when fatal is set. */
static bool conn_refuse(struct conn *c, bool fatal, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static bool conn_refuse(struct conn *c, bool fatal, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    c->srv->stats.requests++;
    c->srv->stats.errors++;
    if (fatal) {
        c->srv->stats.malformed++;
    }
    sk_log(SK_LOG_INFO, "control", NULL, "request refused (%s): %s", code, msg);
    char *json = error_json(c->srv, code, msg);
    if (!json) {
        conn_close(c);
        return false;
    }
    c->close_after = fatal;
    return conn_send(c, json, NULL, 0);
}

static const struct command *find_cmd(const struct sk_ctl_server *s, const char *name)
{
    for (size_t i = 0; i < s->n_cmds; i++) {
        if (strcmp(s->cmds[i].name, name) == 0) {
            return &s->cmds[i];
        }
    }
    return NULL;
}

/* A whole request is in c->body: parse and hand it to its handler. */
static void conn_dispatch(struct conn *c)
{
    struct sk_ctl_server *s = c->srv;
    cJSON *req = cJSON_ParseWithLength(c->body, c->body_got);
    if (!req || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        conn_refuse(c, true, "malformed", "the request is not a JSON object");
        return;
    }
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd");
    if (!cJSON_IsString(cmd)) {
        cJSON_Delete(req);
        conn_refuse(c, false, "invalid", "the request has no \"cmd\" string");
        return;
    }
    const struct command *h = find_cmd(s, cmd->valuestring);
    if (!h) {
        char names[400] = "";
        size_t off = 0;
        for (size_t i = 0; i < s->n_cmds && off < sizeof(names); i++) {
            int n = snprintf(names + off, sizeof(names) - off, "%s%s", i ? ", " : "",
                             s->cmds[i].name);
            off += n > 0 ? (size_t)n : 0;
        }
        conn_refuse(c, false, "unknown_command", "no command \"%.40s\" (known: %s)",
                    cmd->valuestring, names);
        cJSON_Delete(req);
        return;
    }
    struct sk_ctl_call *call = calloc(1, sizeof(*call));
    if (!call) {
        cJSON_Delete(req);
        conn_refuse(c, false, "failed", "out of memory");
        return;
    }
    call->srv = s;
    call->conn = c;
    call->next = s->calls;
    s->calls = call;
    c->call = call;
    c->st = ST_WAIT;
    sk_loop_mod(s->loop, c->fd, EPOLLRDHUP); /* only notice the client leaving */
    sk_log(SK_LOG_DEBUG, "control", NULL, "request %s from uid %d pid %d", h->name, c->peer_uid,
           c->peer_pid);
    h->fn(h->ctx, call, req); /* may answer (and even close c) before it returns */
    cJSON_Delete(req);
}

/* Reads into dst up to want bytes. Returns bytes read, 0 on EOF, -1 on would-block, -2 error. */
static ssize_t conn_read(struct conn *c, void *dst, size_t want)
{
    for (;;) {
        ssize_t r = read(c->fd, dst, want);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : -2;
        }
        return r;
    }
}

static void conn_on_readable(struct conn *c)
{
    struct sk_ctl_server *s = c->srv;
    int64_t now = sk_now_mono_us();
    for (;;) {
        if (c->st == ST_HEADER) {
            ssize_t r = conn_read(c, c->hdr + c->hdr_got, SK_CTL_HEADER_SIZE - c->hdr_got);
            if (r == -1) {
                return;
            }
            if (r <= 0) {
                conn_close(c);
                return;
            }
            if (c->hdr_got == 0) {
                c->req_start_us = now;
            }
            c->hdr_got += (size_t)r;
            c->last_us = now;
            if (c->hdr_got < SK_CTL_HEADER_SIZE) {
                continue;
            }
            if (sk_ctl_header_decode(c->hdr, &c->h) < 0) {
                conn_refuse(c, true, "malformed",
                            "not a storekeeper control request (bad magic); this socket speaks "
                            "control protocol version %d",
                            SK_CTL_PROTOCOL);
                return;
            }
            if (c->h.version != SK_CTL_PROTOCOL) {
                conn_refuse(c, true, "version",
                            "control protocol version %u is not spoken here: this daemon "
                            "(storekeeper %s) speaks version %d; use the storekeeper binary that "
                            "matches the running daemon",
                            c->h.version, s->version, SK_CTL_PROTOCOL);
                return;
            }
            if (c->h.kind != SK_CTL_KIND_REQUEST || c->h.data_len != 0) {
                conn_refuse(c, true, "malformed",
                            "kind %u with a %u-byte attachment is not a request", c->h.kind,
                            c->h.data_len);
                return;
            }
            if (c->h.json_len == 0 || c->h.json_len > SK_CTL_REQUEST_MAX) {
                conn_refuse(c, true, "too_large",
                            "a request of %u bytes: requests are 1 to %d bytes of JSON",
                            c->h.json_len, SK_CTL_REQUEST_MAX);
                return;
            }
            c->st = ST_BODY;
            c->body_got = 0;
        }
        if (c->st == ST_BODY) {
            ssize_t r = conn_read(c, c->body + c->body_got, c->h.json_len - c->body_got);
            if (r == -1) {
                return;
            }
            if (r <= 0) {
                conn_close(c);
                return;
            }
            c->body_got += (size_t)r;
            c->last_us = now;
            if (c->body_got < c->h.json_len) {
                continue;
            }
            c->body[c->body_got] = '\0';
            conn_dispatch(c);
            return; /* c may be gone; level-triggered epoll brings the next request */
        }
        return;
    }
}

static void conn_on_io(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    (void)fd;
    struct conn *c = ctx;
    if (c->st == ST_WRITE && (events & EPOLLOUT)) {
        if (!conn_flush(c)) {
            return;
        }
    }
    if ((c->st == ST_HEADER || c->st == ST_BODY) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        conn_on_readable(c);
        return;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_close(c); /* gone while its request was being answered */
    }
}

static void on_accept(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)events;
    struct sk_ctl_server *s = ctx;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            return; /* EAGAIN, or a client that left already */
        }
        if ((int)s->n_conns >= s->max_clients) {
            s->stats.refused++;
            sk_log(SK_LOG_WARNING, "control", NULL,
                   "refusing a connection: %d already open (control.max_clients)", s->max_clients);
            close(cfd);
            continue;
        }
        struct conn *c = calloc(1, sizeof(*c));
        if (!c) {
            close(cfd);
            continue;
        }
        c->srv = s;
        c->fd = cfd;
        c->st = ST_HEADER;
        c->last_us = sk_now_mono_us();
        c->peer_uid = c->peer_pid = -1;
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
            c->peer_uid = (int)cred.uid;
            c->peer_pid = (int)cred.pid;
        }
        if (sk_loop_add(loop, cfd, EPOLLIN | EPOLLRDHUP, conn_on_io, c) < 0) {
            close(cfd);
            free(c);
            continue;
        }
        c->next = s->conns;
        s->conns = c;
        s->n_conns++;
        s->stats.accepted++;
    }
}

static void on_sweep(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_ctl_server *s = ctx;
    int64_t now = sk_now_mono_us();
    struct conn *next;
    for (struct conn *c = s->conns; c; c = next) {
        next = c->next;
        bool partial = c->st == ST_BODY || (c->st == ST_HEADER && c->hdr_got > 0);
        if (partial && now - c->req_start_us > s->request_us) {
            sk_log(SK_LOG_INFO, "control", NULL,
                   "closing a connection (pid %d): request incomplete after %lld ms", c->peer_pid,
                   (long long)(s->request_us / 1000));
            s->stats.malformed++;
            conn_close(c);
        } else if (((c->st == ST_HEADER && !partial) || c->st == ST_WRITE) &&
                   now - c->last_us > s->idle_us) {
            conn_close(c); /* idle between requests, or stopped reading its reply */
        }
    }
}

const char *sk_ctl_server_path(const struct sk_ctl_server *s)
{
    return s->path;
}

void sk_ctl_server_get_stats(const struct sk_ctl_server *s, struct sk_ctl_stats *ret)
{
    *ret = s->stats;
    ret->clients = s->n_conns;
}

/* Makes room for the socket: a stale socket goes, anything else stays and is an error. */
static int clear_path(const char *path, char *err, size_t err_size)
{
    struct stat st;
    if (lstat(path, &st) < 0) {
        return errno == ENOENT ? 0 : -errno;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, err_size, "%s exists and is not a socket; not touching it", path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (r == 0) {
        snprintf(err, err_size,
                 "another process answers on %s (a second storekeeper?); set control.socket", path);
        return -EADDRINUSE;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        int e = errno;
        snprintf(err, err_size, "cannot remove the stale socket %s: %s", path, strerror(e));
        return -e;
    }
    return 0;
}

/*
 * The socket's directory must exist: under systemd RuntimeDirectory= makes /run/storekeeper.
 * Run by hand it is missing, and the daemon does not make it (a directory under /run that
 * outlives the process, made by whoever ran it first, would capture every later daemon's
 * socket): the error says the one command that does. Returns 0 or -ENOENT with err set.
 */
static int check_parent(const char *path, char *err, size_t err_size)
{
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        return 0;
    }
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) == 0) {
        return 0;
    }
    int e = errno;
    struct passwd pw, *me = NULL;
    char buf[1024];
    if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &me) != 0) {
        me = NULL;
    }
    snprintf(err, err_size,
             "cannot create the control socket %s: its directory %s: %s. Under systemd the unit "
             "makes it (RuntimeDirectory=); run by hand, make it first (again after a reboot): "
             "sudo install -d -o %s -g storekeeper -m 0750 %s",
             path, dir, strerror(e), me ? me->pw_name : "storekeeper", dir);
    return -e;
}

int sk_ctl_server_new(struct sk_loop *loop,
                      const struct sk_ctl_server_opts *opts,
                      char *err,
                      size_t err_size,
                      struct sk_ctl_server **ret)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    err[0] = '\0';
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!opts->path || !opts->path[0] || strlen(opts->path) >= sizeof(sa.sun_path)) {
        snprintf(err, err_size, "control socket path \"%s\" is empty or longer than %zu bytes",
                 opts->path ? opts->path : "", sizeof(sa.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    gid_t gid = (gid_t)-1;
    if (opts->group && opts->group[0]) {
        struct group gr, *res = NULL;
        char buf[4096];
        if (getgrnam_r(opts->group, &gr, buf, sizeof(buf), &res) != 0 || !res) {
            snprintf(err, err_size, "control.group \"%s\": no such group", opts->group);
            return -ENOENT;
        }
        gid = gr.gr_gid;
    }
    struct sk_ctl_server *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->fd = -1;
    snprintf(s->path, sizeof(s->path), "%s", opts->path);
    snprintf(s->version, sizeof(s->version), "%s",
             opts->software_version ? opts->software_version : "");
    s->max_clients = opts->max_clients > 0 ? opts->max_clients : 8;
    s->idle_us = (int64_t)(opts->idle_timeout_ms > 0 ? opts->idle_timeout_ms : 60000) * 1000;
    s->request_us =
            (int64_t)(opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 5000) * 1000;
    int r = check_parent(s->path, err, err_size);
    if (r == 0) {
        r = clear_path(s->path, err, err_size);
    }
    if (r < 0) {
        if (!err[0]) {
            snprintf(err, err_size, "cannot use %s: %s", s->path, strerror(-r));
        }
        free(s);
        return r;
    }
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
    const char *step = "socket";
    /* Nobody can connect before listen(): mode and group are set in between. */
    if (s->fd < 0 || (step = "bind", bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) ||
        (step = "chmod 0660", chmod(s->path, 0660) < 0) ||
        (step = "chown to control.group", gid != (gid_t)-1 && chown(s->path, (uid_t)-1, gid) < 0) ||
        (step = "listen", listen(s->fd, 16) < 0)) {
        int e = errno;
        snprintf(err, err_size, "cannot create the control socket %s (%s): %s", s->path, step,
                 strerror(e));
        bool bound = strcmp(step, "socket") != 0 && strcmp(step, "bind") != 0;
        if (s->fd >= 0) {
            close(s->fd);
        }
        if (bound) {
            unlink(s->path);
        }
        free(s);
        return -e;
    }
    if ((r = sk_loop_add(loop, s->fd, EPOLLIN, on_accept, s)) < 0 ||
        (r = sk_loop_timer_add(loop, 1000, 1000, on_sweep, s, &s->sweep)) < 0) {
        snprintf(err, err_size, "cannot watch the control socket: %s", strerror(-r));
        sk_loop_del(loop, s->fd);
        close(s->fd);
        unlink(s->path);
        free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void sk_ctl_server_free(struct sk_ctl_server *s)
{
    if (!s) {
        return;
    }
    while (s->conns) {
        conn_close(s->conns);
    }
    while (s->calls) {
        struct sk_ctl_call *c = s->calls;
        s->calls = c->next;
        free(c);
    }
    if (s->sweep) {
        sk_loop_timer_del(s->loop, s->sweep);
    }
    sk_loop_del(s->loop, s->fd);
    close(s->fd);
    unlink(s->path);
    free(s);
}

int sk_ctl_server_add(struct sk_ctl_server *s, const char *cmd, sk_ctl_handler fn, void *ctx)
{
    if (find_cmd(s, cmd)) {
        return -EEXIST;
    }
    if (s->n_cmds == MAX_COMMANDS || strlen(cmd) >= CMD_NAME_MAX) {
        return -ENOMEM;
    }
    struct command *c = &s->cmds[s->n_cmds++];
    snprintf(c->name, sizeof(c->name), "%s", cmd);
    c->fn = fn;
    c->ctx = ctx;
    return 0;
}

/* Unlinks call from the server's list and frees it; returns its connection (or NULL). */
static struct conn *call_finish(struct sk_ctl_call *call)
{
    struct sk_ctl_server *s = call->srv;
    for (struct sk_ctl_call **pp = &s->calls; *pp; pp = &(*pp)->next) {
        if (*pp == call) {
            *pp = call->next;
            break;
        }
    }
    struct conn *c = call->conn;
    if (c) {
        c->call = NULL;
    }
    free(call);
    return c;
}

void sk_ctl_reply(struct sk_ctl_call *call, cJSON *result, void *data, size_t len)
{
    struct sk_ctl_server *s = call->srv;
    struct conn *c = call_finish(call);
    s->stats.requests++;
    if (!c) {
        cJSON_Delete(result);
        free(data);
        return;
    }
    cJSON *j = reply_base(s, true);
    if (j) {
        cJSON_AddItemToObject(j, "result", result ? result : cJSON_CreateObject());
    } else {
        cJSON_Delete(result);
    }
    char *json = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!json || strlen(json) > SK_CTL_REPLY_MAX || len > SK_CTL_DATA_MAX) {
        free(json);
        free(data);
        s->stats.errors++;
        json = error_json(s, "failed", "the reply could not be built (out of memory or too large)");
        if (!json) {
            conn_close(c);
            return;
        }
        conn_send(c, json, NULL, 0);
        return;
    }
    conn_send(c, json, len ? data : NULL, len);
    if (!len) {
        free(data);
    }
}

void sk_ctl_reply_error(struct sk_ctl_call *call, const char *code, const char *fmt, ...)
{
    struct sk_ctl_server *s = call->srv;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct conn *c = call_finish(call);
    s->stats.requests++;
    s->stats.errors++;
    if (!c) {
        return;
    }
    char *json = error_json(s, code, msg);
    if (!json) {
        conn_close(c);
        return;
    }
    conn_send(c, json, NULL, 0);
}

int sk_ctl_call_peer(const struct sk_ctl_call *call, int *ret_pid)
{
    if (!call->conn) {
        if (ret_pid) {
            *ret_pid = -1;
        }
        return -1;
    }
    if (ret_pid) {
        *ret_pid = call->conn->peer_pid;
    }
    return call->conn->peer_uid;
}

/* ---- client -------------------------------------------------------------------------------- */

struct sk_ctl_client {
    int fd;
};

/* Waits for fd to become ready for events until deadline (monotonic us). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - sk_now_mono_us();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)((left + 999) / 1000));
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

int sk_ctl_client_open(const char *path, int timeout_ms, struct sk_ctl_client **ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int64_t deadline = sk_now_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            break;
        }
        int e = errno;
        if (e == EAGAIN || e == EINTR) { /* the daemon's backlog is full: try again */
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
            if (sk_now_mono_us() < deadline) {
                continue;
            }
            e = ETIMEDOUT;
        }
        close(fd);
        return -e;
    }
    struct sk_ctl_client *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    *ret = c;
    return 0;
}

void sk_ctl_client_close(struct sk_ctl_client *c)
{
    if (c) {
        close(c->fd);
        free(c);
    }
}

static int send_all(int fd, const void *buf, size_t len, int64_t deadline)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r < 0) {
                return r;
            }
            continue;
        }
        if (w < 0) {
            return errno == EPIPE ? -ECONNRESET : -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, void *buf, size_t len, int64_t deadline)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = recv(fd, p, len, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            int e = wait_fd(fd, POLLIN, deadline);
            if (e < 0) {
                return e;
            }
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            return -ECONNRESET;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

void sk_ctl_response_clear(struct sk_ctl_response *r)
{
    if (r) {
        cJSON_Delete(r->json);
        free(r->data);
        memset(r, 0, sizeof(*r));
    }
}

/* Fills ok/result/code/message/daemon_version from a parsed reply. */
static void read_reply(struct sk_ctl_response *ret)
{
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ret->json, "ok");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(ret->json, "version");
    if (cJSON_IsString(ver)) {
        snprintf(ret->daemon_version, sizeof(ret->daemon_version), "%s", ver->valuestring);
    }
    ret->ok = cJSON_IsTrue(ok);
    if (ret->ok) {
        ret->result = cJSON_GetObjectItemCaseSensitive(ret->json, "result");
        return;
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(ret->json, "error");
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    snprintf(ret->code, sizeof(ret->code), "%s", cJSON_IsString(code) ? code->valuestring : "?");
    snprintf(ret->message, sizeof(ret->message), "%s",
             cJSON_IsString(msg) ? msg->valuestring : "the daemon gave no reason");
}

int sk_ctl_client_call(struct sk_ctl_client *c,
                       const cJSON *req,
                       int timeout_ms,
                       struct sk_ctl_response *ret,
                       char *err,
                       size_t err_size)
{
    char dummy[8];
    if (!err) {
        err = dummy;
        err_size = sizeof(dummy);
    }
    memset(ret, 0, sizeof(*ret));
    int64_t deadline = sk_now_mono_us() + (int64_t)timeout_ms * 1000;
    char *json = cJSON_PrintUnformatted(req);
    if (!json) {
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    size_t len = strlen(json);
    if (len > SK_CTL_REQUEST_MAX) {
        snprintf(err, err_size, "request of %zu bytes is above the limit of %d", len,
                 SK_CTL_REQUEST_MAX);
        free(json);
        return -E2BIG;
    }
    uint8_t hdr[SK_CTL_HEADER_SIZE];
    struct sk_ctl_header h = {SK_CTL_PROTOCOL, SK_CTL_KIND_REQUEST, (uint32_t)len, 0};
    sk_ctl_header_encode(&h, hdr);
    int r = send_all(c->fd, hdr, sizeof(hdr), deadline);
    if (r == 0) {
        r = send_all(c->fd, json, len, deadline);
    }
    free(json);
    if (r == 0) {
        r = recv_all(c->fd, hdr, sizeof(hdr), deadline);
    }
    if (r < 0) {
        snprintf(err, err_size, "%s",
                 r == -ETIMEDOUT    ? "the daemon did not answer in time"
                 : r == -ECONNRESET ? "the daemon closed the connection without an answer"
                                    : strerror(-r));
        return r;
    }
    if (sk_ctl_header_decode(hdr, &h) < 0 || h.kind != SK_CTL_KIND_REPLY) {
        snprintf(err, err_size,
                 "the socket answered with something that is not a storekeeper "
                 "control reply");
        return -EPROTO;
    }
    if (h.json_len > SK_CTL_REPLY_MAX || h.data_len > SK_CTL_DATA_MAX) {
        snprintf(err, err_size, "reply of %u + %u bytes is above the limits (%u + %u)", h.json_len,
                 h.data_len, SK_CTL_REPLY_MAX, SK_CTL_DATA_MAX);
        return -EPROTO;
    }
    char *body = malloc((size_t)h.json_len + 1);
    void *data = h.data_len ? malloc(h.data_len) : NULL;
    if (!body || (h.data_len && !data)) {
        free(body);
        free(data);
        snprintf(err, err_size, "out of memory");
        return -ENOMEM;
    }
    r = recv_all(c->fd, body, h.json_len, deadline);
    if (r == 0 && h.data_len) {
        r = recv_all(c->fd, data, h.data_len, deadline);
    }
    if (r < 0) {
        free(body);
        free(data);
        snprintf(err, err_size, "reading the reply: %s",
                 r == -ETIMEDOUT ? "the daemon did not finish it in time" : strerror(-r));
        return r;
    }
    body[h.json_len] = '\0';
    ret->json = cJSON_ParseWithLength(body, h.json_len);
    free(body);
    if (!cJSON_IsObject(ret->json)) {
        free(data);
        sk_ctl_response_clear(ret);
        snprintf(err, err_size, "the daemon's reply is not a JSON object");
        return -EPROTO;
    }
    ret->data = data;
    ret->data_len = h.data_len;
    read_reply(ret);
    if (h.version != SK_CTL_PROTOCOL) {
        snprintf(err, err_size,
                 "the daemon (storekeeper %s) speaks control protocol version %u, this "
                 "storekeeper speaks version %d: use the storekeeper binary that matches the "
                 "running daemon, or restart the daemon after an upgrade",
                 ret->daemon_version[0] ? ret->daemon_version : "?", h.version, SK_CTL_PROTOCOL);
        snprintf(ret->message, sizeof(ret->message), "%s", err);
        snprintf(ret->code, sizeof(ret->code), "version");
        ret->ok = false;
        ret->result = NULL;
        return SK_ECTL_VERSION;
    }
    if (!ret->ok && strcmp(ret->code, "version") == 0) {
        snprintf(err, err_size, "%s", ret->message);
        return SK_ECTL_VERSION;
    }
    return 0;
}
