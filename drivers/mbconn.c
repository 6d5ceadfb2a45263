/* SPDX-License-Identifier: MIT */
/* Modbus connection over libmodbus: a table of transports (RTU, TCP), timeouts, pauses, errors. */
#include "storekeeper/mbconn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <modbus/modbus.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/obs.h"
#include "storekeeper/profile.h"

/*
 * DESIGN
 * libmodbus already hides RTU and TCP behind one modbus_t; what differs is how a URL becomes a
 * context and what has to happen after the port opens. Those differences live in one small
 * table (struct transport), like libmodbus's own backend table, so a third transport (RTU
 * over TCP, say) is one more row.
 */

struct transport {
    const char *scheme;
    bool tcp;
    int (*parse)(const char *rest, struct sk_mbconn_url *ep);
    modbus_t *(*create)(const struct sk_mbconn_url *ep);
    int (*after_connect)(modbus_t *ctx, bool rs485);
};

struct sk_mbconn {
    const struct transport *t;
    const struct sk_mbconn_script *script; /* answers instead of a device, or NULL */
    struct sk_mbconn_url ep;
    modbus_t *ctx;
    bool open;
    bool reopen; /* TCP: reopen before the next request (a reply may still be in flight) */
    bool rs485;
    int unit;
    int response_timeout_ms, timeout_ms, byte_timeout_ms, pause_ms, retries;
    int64_t last_end_us; /* end of the last transaction, for the pause */
    char last_error[128];
    struct sk_mbconn_stats stats;
};

static int parse_tcp(const char *rest, struct sk_mbconn_url *ep)
{
    const char *colon = strrchr(rest, ':');
    if (!colon || colon == rest || (size_t)(colon - rest) >= sizeof(ep->host)) {
        return -EINVAL;
    }
    const char *h = rest;
    size_t hl = (size_t)(colon - rest);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:502 */
        h++;
        hl -= 2;
    }
    memcpy(ep->host, h, hl);
    ep->host[hl] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        return -EINVAL;
    }
    ep->port = (int)port;
    return 0;
}

static modbus_t *create_tcp(const struct sk_mbconn_url *ep)
{
    char port[8];
    snprintf(port, sizeof(port), "%d", ep->port);
    return modbus_new_tcp_pi(ep->host, port);
}

static int parse_rtu(const char *rest, struct sk_mbconn_url *ep)
{
    /* DEVICE:BAUD:FRAME, DEVICE may itself not contain ':' */
    const char *c1 = strchr(rest, ':');
    if (!c1 || c1 == rest || (size_t)(c1 - rest) >= sizeof(ep->device)) {
        return -EINVAL;
    }
    memcpy(ep->device, rest, (size_t)(c1 - rest));
    ep->device[c1 - rest] = '\0';
    char *end;
    long baud = strtol(c1 + 1, &end, 10);
    if (*end != ':' || baud < 300 || baud > 4000000) {
        return -EINVAL;
    }
    const char *f = end + 1;
    if (strlen(f) != 3 || (f[0] != '7' && f[0] != '8') ||
        (f[1] != 'N' && f[1] != 'E' && f[1] != 'O') || (f[2] != '1' && f[2] != '2')) {
        return -EINVAL;
    }
    ep->baud = (int)baud;
    ep->data_bits = f[0] - '0';
    ep->parity = f[1];
    ep->stop_bits = f[2] - '0';
    return 0;
}

static modbus_t *create_rtu(const struct sk_mbconn_url *ep)
{
    return modbus_new_rtu(ep->device, ep->baud, ep->parity, ep->data_bits, ep->stop_bits);
}

static int after_connect_rtu(modbus_t *ctx, bool rs485)
{
    if (rs485 && modbus_rtu_set_serial_mode(ctx, MODBUS_RTU_RS485) < 0) {
        return -errno;
    }
    return 0;
}

static const struct transport transports[] = {
        {"tcp", true, parse_tcp, create_tcp, NULL},
        {"rtu", false, parse_rtu, create_rtu, after_connect_rtu},
};

/* Scripted connections have no libmodbus context: no URL, no device, always open. */
static const struct transport script_transport = {"script", false, NULL, NULL, NULL};

static void set_timeout(modbus_t *ctx, int ms, bool byte)
{
    uint32_t s = (uint32_t)(ms / 1000), us = (uint32_t)(ms % 1000) * 1000;
    if (byte) {
        modbus_set_byte_timeout(ctx, s, us);
    } else {
        modbus_set_response_timeout(ctx, s, us);
    }
}

/* The transport of the URL's scheme and the URL taken apart by it; NULL when it is none. */
static const struct transport *parse_url(const char *url, struct sk_mbconn_url *ep)
{
    for (size_t i = 0; i < sizeof(transports) / sizeof(transports[0]); i++) {
        const struct transport *t = &transports[i];
        size_t n = strlen(t->scheme);
        if (strncmp(url, t->scheme, n) == 0 && url[n] == ':') {
            memset(ep, 0, sizeof(*ep));
            ep->tcp = t->tcp;
            return t->parse(url + n + 1, ep) == 0 ? t : NULL;
        }
    }
    return NULL;
}

int sk_mbconn_parse_url(const char *url, struct sk_mbconn_url *ret_url)
{
    if (!url || !ret_url) {
        return -EINVAL;
    }
    return parse_url(url, ret_url) ? 0 : -EINVAL;
}

int sk_mbconn_new(const struct sk_mbconn_opts *opts, struct sk_mbconn **ret_conn)
{
    if (!opts || !opts->url) {
        return -EINVAL;
    }
    struct sk_mbconn *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->t = parse_url(opts->url, &c->ep);
    if (!c->t) {
        free(c);
        return -EINVAL;
    }
    c->ctx = c->t->create(&c->ep);
    if (!c->ctx) {
        int e = errno ? errno : ENOMEM;
        free(c);
        return e == EINVAL ? -EINVAL : -ENOMEM;
    }
    c->rs485 = opts->rs485;
    c->response_timeout_ms = opts->response_timeout_ms > 0 ? opts->response_timeout_ms : 300;
    c->byte_timeout_ms = opts->byte_timeout_ms > 0 ? opts->byte_timeout_ms : 50;
    c->pause_ms = opts->pause_ms;
    c->retries = opts->retries;
    c->timeout_ms = c->response_timeout_ms;
    c->unit = c->t->tcp ? 255 : 1;
    /* our own recovery: never libmodbus's sleep-and-flush or silent reconnects */
    modbus_set_error_recovery(c->ctx, MODBUS_ERROR_RECOVERY_NONE);
    set_timeout(c->ctx, c->response_timeout_ms, false);
    set_timeout(c->ctx, c->byte_timeout_ms, true);
    *ret_conn = c;
    return 0;
}

int sk_mbconn_new_scripted(const struct sk_mbconn_script *script,
                           int retries,
                           struct sk_mbconn **ret_conn)
{
    if (!script || !script->read || !script->write || retries < 0) {
        return -EINVAL;
    }
    struct sk_mbconn *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->t = &script_transport;
    c->script = script;
    c->retries = retries;
    c->response_timeout_ms = c->timeout_ms = 300;
    c->unit = 1;
    c->open = true;
    *ret_conn = c;
    return 0;
}

void sk_mbconn_free(struct sk_mbconn *c)
{
    if (!c) {
        return;
    }
    sk_mbconn_close(c);
    modbus_free(c->ctx);
    free(c);
}

static void note_error(struct sk_mbconn *c, int e)
{
    snprintf(c->last_error, sizeof(c->last_error), "%s", modbus_strerror(e));
}

int sk_mbconn_connect(struct sk_mbconn *c)
{
    if (c->open) {
        return 0;
    }
    c->stats.connects++;
    if (c->script) {
        c->open = true;
        c->reopen = false;
        return 0;
    }
    if (modbus_connect(c->ctx) < 0) {
        int e = errno ? errno : EIO;
        note_error(c, e);
        return e >= MODBUS_ENOBASE ? SK_EMODBUS : -e;
    }
    if (c->t->after_connect) {
        int r = c->t->after_connect(c->ctx, c->rs485);
        if (r < 0) {
            note_error(c, -r);
            modbus_close(c->ctx);
            return r;
        }
    }
    c->open = true;
    c->reopen = false;
    c->last_error[0] = '\0';
    return 0;
}

void sk_mbconn_close(struct sk_mbconn *c)
{
    if (c && c->open) {
        if (c->ctx) {
            modbus_close(c->ctx);
        }
        c->open = false;
    }
}

bool sk_mbconn_is_open(const struct sk_mbconn *c)
{
    return c->open;
}

bool sk_mbconn_is_tcp(const struct sk_mbconn *c)
{
    return c->t->tcp;
}

int sk_mbconn_set_unit(struct sk_mbconn *c, int unit)
{
    if (c->script) {
        if (unit < 0 || unit > 255) {
            return -EINVAL;
        }
    } else if (modbus_set_slave(c->ctx, unit) < 0) {
        return -EINVAL;
    }
    c->unit = unit;
    return 0;
}

void sk_mbconn_set_timeout(struct sk_mbconn *c, int timeout_ms)
{
    int ms = timeout_ms > 0 ? timeout_ms : c->response_timeout_ms;
    if (ms != c->timeout_ms) {
        if (c->ctx) {
            set_timeout(c->ctx, ms, false);
        }
        c->timeout_ms = ms;
    }
}

bool sk_mbconn_error_is_link(int err)
{
    switch (err) {
    case -ECONNRESET:
    case -ECONNREFUSED:
    case -ECONNABORTED:
    case -EPIPE:
    case -ENOTCONN:
    case -EBADF:
    case -EIO:
    case -ENXIO:
    case -ENODEV:
    case -ENOENT:
    case -EHOSTUNREACH:
    case -ENETUNREACH:
    case SK_EMODBUS:
        return true;
    default:
        return false;
    }
}

int sk_mbconn_health_reason(int err)
{
    if (err == -ETIMEDOUT) {
        return SK_REASON_TIMEOUT;
    }
    if (sk_is_modbus_exception(err) || err == SK_EMODBUS_BUSY) {
        return SK_REASON_EXCEPTION;
    }
    if (err == SK_EMODBUS_CRC) {
        return SK_REASON_CRC;
    }
    if (err == SK_EMODBUS_FRAME || err == SK_EMODBUS_BADREPLY || err == SK_EMODBUS_HANDSHAKE) {
        return SK_REASON_BAD_REPLY;
    }
    return SK_REASON_DISCONNECTED;
}

/* Translates errno after a failed libmodbus call, counts it, keeps the native message. */
static int translate(struct sk_mbconn *c, int e)
{
    note_error(c, e);
    if (e >= MODBUS_ENOBASE + 1 && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET) {
        c->stats.exceptions++;
        return SK_EMODBUS_EXC_BASE - (e - MODBUS_ENOBASE);
    }
    switch (e) {
    case ETIMEDOUT:
        c->stats.timeouts++;
        return -ETIMEDOUT;
    case EMBBADCRC:
        c->stats.crc++;
        return SK_EMODBUS_CRC;
    case EMBBADDATA:
    case EMBBADEXC:
    case EMBUNKEXC:
    case EMBMDATA:
    case EMBBADSLAVE:
        c->stats.frame++;
        return SK_EMODBUS_FRAME;
    default:
        c->stats.link++;
        return e >= MODBUS_ENOBASE ? SK_EMODBUS : -e;
    }
}

/* Counts an error a script returned (already a storekeeper code) like translate() does. */
static int count_script_error(struct sk_mbconn *c, int r)
{
    snprintf(c->last_error, sizeof(c->last_error), "%s", sk_strerror(r));
    if (sk_is_modbus_exception(r)) {
        c->stats.exceptions++;
    } else if (r == -ETIMEDOUT) {
        c->stats.timeouts++;
    } else if (r == SK_EMODBUS_CRC) {
        c->stats.crc++;
    } else if (r == SK_EMODBUS_FRAME) {
        c->stats.frame++;
    } else {
        c->stats.link++;
    }
    return r;
}

static void pause_before(struct sk_mbconn *c)
{
    if (c->pause_ms <= 0 || c->last_end_us == 0) {
        return;
    }
    int64_t wait = c->last_end_us + (int64_t)c->pause_ms * 1000 - sk_now_mono_us();
    if (wait > 0) {
        struct timespec ts = {(time_t)(wait / 1000000), (long)(wait % 1000000) * 1000};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
        }
    }
}

/* Before a request: reopen a TCP connection that timed out; fail fast when closed. */
static int ready(struct sk_mbconn *c)
{
    if (c->open && c->reopen) {
        sk_mbconn_close(c);
        int r = sk_mbconn_connect(c);
        if (r < 0) {
            return r;
        }
    }
    return c->open ? 0 : -ENOTCONN;
}

/* After a failed transaction: make sure nothing of it is read as the next reply. */
static void after_failure(struct sk_mbconn *c, int r)
{
    if (sk_mbconn_error_is_link(r)) {
        sk_mbconn_close(c);
    } else if (c->t->tcp && (r == -ETIMEDOUT || r == SK_EMODBUS_FRAME)) {
        c->reopen = true;
    } else if (!c->t->tcp && !sk_is_modbus_exception(r) && c->ctx) {
        modbus_flush(c->ctx);
    }
}

typedef int (*xfer_fn)(struct sk_mbconn *c, void *arg);

/*
 * A timeout that came well before the response timeout: libmodbus waits the response timeout
 * for a reply's first byte and only the byte timeout between later bytes, so the reply had
 * begun and then stopped. That is a truncated reply (bad_reply, a device or line fault),
 * not a silent device (timeout: wrong id, no power, wiring).
 */
static bool cut_short(const struct sk_mbconn *c, int64_t elapsed_us)
{
    int64_t limit = (int64_t)c->timeout_ms * 1000 * 3 / 4;
    return c->byte_timeout_ms * 1000LL < limit && elapsed_us < limit;
}

static int transact(struct sk_mbconn *c, xfer_fn fn, void *arg, bool idempotent)
{
    int attempts = idempotent ? 1 + c->retries : 1;
    int r = -ENOTCONN;
    for (int a = 0; a < attempts; a++) {
        if ((r = ready(c)) < 0) {
            return r;
        }
        if (a > 0) {
            c->stats.retries++;
        }
        pause_before(c);
        int64_t t0 = sk_now_mono_us();
        c->stats.requests++;
        errno = 0;
        int rc = fn(c, arg);
        int e = errno;
        c->last_end_us = sk_now_mono_us();
        if (rc >= 0) {
            c->stats.ok++;
            c->stats.last_rtt_us = c->last_end_us - t0;
            return 0;
        }
        if (c->script) {
            r = count_script_error(c, rc);
        } else {
            /* libmodbus 3.1.6 fails some replies (another unit's) without setting errno */
            r = translate(c, e ? e : EMBBADDATA);
            if (r == -ETIMEDOUT && cut_short(c, c->last_end_us - t0)) {
                c->stats.timeouts--;
                c->stats.frame++;
                snprintf(c->last_error, sizeof(c->last_error),
                         "reply cut short: bytes came, then none for %d ms", c->byte_timeout_ms);
                r = SK_EMODBUS_FRAME;
            }
        }
        after_failure(c, r);
        /* retry only what a retry can fix: no exception answers, no dead links */
        if (sk_is_modbus_exception(r) || sk_mbconn_error_is_link(r)) {
            break;
        }
    }
    return r;
}

struct read_args {
    int table;
    uint16_t addr, count;
    void *dst;
};

static int do_read(struct sk_mbconn *c, void *arg)
{
    struct read_args *a = arg;
    int rc;
    if (c->script) {
        rc = c->script->read(c->script->ctx, c->unit, a->table, a->addr, a->count, a->dst);
        return rc < 0 ? rc : 0;
    }
    switch (a->table) {
    case SK_TABLE_HOLDING:
        rc = modbus_read_registers(c->ctx, a->addr, a->count, a->dst);
        break;
    case SK_TABLE_INPUT:
        rc = modbus_read_input_registers(c->ctx, a->addr, a->count, a->dst);
        break;
    case SK_TABLE_COIL:
        rc = modbus_read_bits(c->ctx, a->addr, a->count, a->dst);
        break;
    default:
        rc = modbus_read_input_bits(c->ctx, a->addr, a->count, a->dst);
        break;
    }
    if (rc >= 0 && rc != a->count) {
        errno = EMBBADDATA;
        return -1;
    }
    return rc;
}

int sk_mbconn_read(
        struct sk_mbconn *c, int table, uint16_t addr, uint16_t count, void *dst, bool idempotent)
{
    bool bits = table == SK_TABLE_COIL || table == SK_TABLE_DISCRETE;
    if (count == 0 || count > (bits ? MODBUS_MAX_READ_BITS : MODBUS_MAX_READ_REGISTERS)) {
        return -EINVAL;
    }
    struct read_args a = {table, addr, count, dst};
    return transact(c, do_read, &a, idempotent);
}

struct write_args {
    int kind; /* 0 regs, 1 reg, 2 bit */
    uint16_t addr, count, value;
    const uint16_t *src;
};

static int do_write(struct sk_mbconn *c, void *arg)
{
    struct write_args *a = arg;
    if (c->script) {
        int rc;
        if (a->kind == 0) {
            rc = c->script->write(c->script->ctx, c->unit, a->addr, a->count, a->src, false);
        } else {
            uint16_t v = a->value;
            rc = c->script->write(c->script->ctx, c->unit, a->addr, 1, &v, a->kind == 2);
        }
        return rc < 0 ? rc : 0;
    }
    switch (a->kind) {
    case 0:
        return modbus_write_registers(c->ctx, a->addr, a->count, a->src);
    case 1:
        return modbus_write_register(c->ctx, a->addr, a->value);
    default:
        return modbus_write_bit(c->ctx, a->addr, a->value ? 1 : 0);
    }
}

int sk_mbconn_write_regs(struct sk_mbconn *c, uint16_t addr, uint16_t count, const uint16_t *src)
{
    if (count == 0 || count > MODBUS_MAX_WRITE_REGISTERS) {
        return -EINVAL;
    }
    struct write_args a = {0, addr, count, 0, src};
    return transact(c, do_write, &a, false);
}

int sk_mbconn_write_reg(struct sk_mbconn *c, uint16_t addr, uint16_t value)
{
    struct write_args a = {1, addr, 1, value, NULL};
    return transact(c, do_write, &a, false);
}

int sk_mbconn_write_bit(struct sk_mbconn *c, uint16_t addr, bool value)
{
    struct write_args a = {2, addr, 1, value, NULL};
    return transact(c, do_write, &a, false);
}

const char *sk_mbconn_last_error(const struct sk_mbconn *c)
{
    return c->last_error;
}

void sk_mbconn_get_stats(const struct sk_mbconn *c, struct sk_mbconn_stats *ret_stats)
{
    *ret_stats = c->stats;
}

const char *sk_mbconn_open_hint(int err, bool serial)
{
    if (!serial) {
        return err == -ECONNREFUSED ? "check the gateway's address and port, and that it is on"
                                    : NULL;
    }
    switch (err) {
    case -EACCES:
    case -EPERM:
        return "this user may not open the serial port: add it to the dialout group (sudo "
               "usermod -aG dialout $USER, then log in again) or run as the service user "
               "storekeeper, which is in it";
    case -ENOENT:
    case -ENODEV:
    case -ENXIO:
        return "check the RS-485 adapter is plugged in and the serial port in the board profile "
               "(ls -l /dev/serial/by-id)";
    case -EBUSY:
        return "another program holds the serial port (a second storekeeper, mbpoll, a serial "
               "console): stop it";
    default:
        return NULL;
    }
}
