/* SPDX-License-Identifier: MIT */
/* One Modbus connection (RTU or TCP) owned by one thread: timeouts, pauses, retries, errors. */
#ifndef STOREKEEPER_MBCONN_H
#define STOREKEEPER_MBCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A thin layer over one libmodbus context (the libmodbus shape: RTU and TCP behind one table of
 * transports). It applies the bus settings that libmodbus leaves to the caller:
 *  - explicit response and byte timeouts (libmodbus defaults to 500 ms);
 *  - a pause before every request (libmodbus inserts no silent interval on RS-485);
 *  - retries only for reads the caller marks free of side effects;
 *  - no libmodbus link or protocol recovery: after a failed transaction the input is flushed
 *    (RTU), and a TCP connection that timed out is reopened before the next request, so a
 *    late reply can never be taken for the answer to the next one;
 *  - libmodbus errno values translated once, here, to storekeeper codes (-ETIMEDOUT,
 *    SK_EMODBUS_CRC, SK_EMODBUS_FRAME, SK_EMODBUS_EXC_BASE - code, -ECONNRESET ...), with
 *    libmodbus's own message kept for the log.
 * Not thread-safe: a connection belongs to the thread that made it.
 */
struct sk_mbconn;

struct sk_mbconn_opts {
    const char *url; /* tcp:HOST:PORT or rtu:DEVICE:BAUD:FRAME, DEVICE a path (copied) */
    bool rs485;      /* RTU: switch the port to kernel RS-485 mode (TIOCSRS485) */
    int response_timeout_ms;
    int byte_timeout_ms;
    int pause_ms; /* silence before each request */
    int retries;  /* extra attempts of a read without side effects */
};

struct sk_mbconn_stats {
    uint64_t requests;   /* transactions attempted (retries included) */
    uint64_t ok;         /* transactions answered normally */
    uint64_t timeouts;   /* no (complete) reply */
    uint64_t crc;        /* bad CRC */
    uint64_t frame;      /* malformed replies */
    uint64_t exceptions; /* Modbus exception replies */
    uint64_t link;       /* connection errors */
    uint64_t retries;
    uint64_t connects;
    int64_t last_rtt_us; /* of the last answered transaction */
};

/* A Modbus URL taken apart: the one grammar of a reader's address and a virtual reader's. */
struct sk_mbconn_url {
    bool tcp;
    char host[128];   /* tcp: the name or address, without the brackets of [::1] */
    int port;         /* tcp: 0-65535 */
    char device[256]; /* rtu: the serial device's path */
    int baud;         /* rtu: 300-4000000 */
    char parity;      /* rtu: 'N', 'E' or 'O' */
    int data_bits;    /* rtu: 7 or 8 */
    int stop_bits;    /* rtu: 1 or 2 */
};

/* tcp:HOST:PORT or rtu:DEVICE:BAUD:FRAME (FRAME as 8N1) into ret_url; -EINVAL when it is not
 * one of them or a part is out of range or too long. */
int sk_mbconn_parse_url(const char *url, struct sk_mbconn_url *ret_url);

/* Parses the URL and creates the context; does not connect. Returns 0, -EINVAL (bad URL) or
 * -ENOMEM. */
int sk_mbconn_new(const struct sk_mbconn_opts *opts, struct sk_mbconn **ret_conn);

/*
 * A connection that functions answer instead of a device: fuzzers and tests drive the profile
 * executor (sk_reader) through it. read fills dst as sk_mbconn_read() would (uint16_t[count]
 * or one 0/1 byte per bit); write gets FC16/FC06 registers (bit false) or one FC05 coil (bit
 * true, src[0] 0 or 1). Both return 0 or a negative storekeeper error (-ETIMEDOUT,
 * SK_EMODBUS_CRC, SK_EMODBUS_FRAME, SK_EMODBUS_EXC_BASE - code, -ECONNRESET, ...), which is
 * counted and retried as a device's would be. script (borrowed) must outlive the connection,
 * which starts open and keeps no pauses.
 */
struct sk_mbconn_script {
    int (*read)(void *ctx, int unit, int table, uint16_t addr, uint16_t count, void *dst);
    int (*write)(void *ctx, int unit, uint16_t addr, uint16_t count, const uint16_t *src, bool bit);
    void *ctx;
};

int sk_mbconn_new_scripted(const struct sk_mbconn_script *script,
                           int retries,
                           struct sk_mbconn **ret_conn);
void sk_mbconn_free(struct sk_mbconn *c);

/* Opens the port or connection. Returns 0 or a negative error (-ENOENT, -ECONNREFUSED, ...). */
int sk_mbconn_connect(struct sk_mbconn *c);
void sk_mbconn_close(struct sk_mbconn *c);
bool sk_mbconn_is_open(const struct sk_mbconn *c);
bool sk_mbconn_is_tcp(const struct sk_mbconn *c);

/* Unit id of the following requests (RTU 1..247, TCP 0..255). */
int sk_mbconn_set_unit(struct sk_mbconn *c, int unit);
/* Response timeout of the following requests; 0 restores the connection's own. */
void sk_mbconn_set_timeout(struct sk_mbconn *c, int timeout_ms);

/*
 * Reads count registers (holding/input: dst is uint16_t[count]) or bits (coil/discrete:
 * dst is uint8_t[count], one 0/1 per bit) from table at addr. idempotent allows retries.
 * Returns 0 or a negative error (see above).
 */
int sk_mbconn_read(
        struct sk_mbconn *c, int table, uint16_t addr, uint16_t count, void *dst, bool idempotent);
/* Writes: FC16 (several registers), FC06 (one register), FC05 (one coil). Never retried. */
int sk_mbconn_write_regs(struct sk_mbconn *c, uint16_t addr, uint16_t count, const uint16_t *src);
int sk_mbconn_write_reg(struct sk_mbconn *c, uint16_t addr, uint16_t value);
int sk_mbconn_write_bit(struct sk_mbconn *c, uint16_t addr, bool value);

/* libmodbus's message for the last failure (or ""). Borrowed until the next call. */
const char *sk_mbconn_last_error(const struct sk_mbconn *c);
void sk_mbconn_get_stats(const struct sk_mbconn *c, struct sk_mbconn_stats *ret_stats);

/*
 * The one-line fix for a failed sk_mbconn_connect() (err its return; serial: an RTU port),
 * or NULL when there is nothing better to say than the error. Permission denied on a serial
 * port is the dialout group, not the cable.
 */
const char *sk_mbconn_open_hint(int err, bool serial);

/* True for errors after which the connection is gone and must be reopened. */
bool sk_mbconn_error_is_link(int err);

/*
 * The health reason (enum sk_health_reason, storekeeper/obs.h) a failed transaction's error
 * stands for: timeout, exception (busy included), crc, bad_reply (framing, a reply that breaks
 * the profile, a failed handshake), and disconnected for everything else.
 */
int sk_mbconn_health_reason(int err);

#endif
