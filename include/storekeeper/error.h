/* SPDX-License-Identifier: MIT */
/* Error codes shared by every module: negative errno values plus storekeeper's own ranges. */
#ifndef STOREKEEPER_ERROR_H
#define STOREKEEPER_ERROR_H

/*
 * Functions that can fail return int: 0 (or a count) on success, a negative value on failure.
 * Values -1..-999 are negated errno codes (-ENOMEM, -ETIMEDOUT, ...). Domain errors live in
 * their own ranges below, one range per module, so sk_strerror() can describe both.
 */
enum sk_error {
    /* config and profiles: -1000.. */
    SK_ECONFIG = -1000,   /* configuration file invalid (details in the diagnostics) */
    SK_EPROFILE = -1001,  /* reader profile invalid */
    SK_ENOTBUILT = -1002, /* a feature that this build or version does not provide */
    /* Modbus: -1100.. ; a Modbus exception code E is reported as SK_EMODBUS_EXC_BASE - E */
    SK_EMODBUS = -1100,           /* Modbus transport failure (framing, CRC, connection) */
    SK_EMODBUS_CRC = -1101,       /* reply with a bad CRC (RTU) */
    SK_EMODBUS_FRAME = -1102,     /* malformed reply: wrong length, unit, function or id */
    SK_EMODBUS_EXC_BASE = -1110,  /* -1111 .. -1365: Modbus exception 1..255 */
    SK_EMODBUS_BADREPLY = -1400,  /* reply decoded but violates the reader profile */
    SK_EMODBUS_BUSY = -1401,      /* reader busy (an exception its profile maps to busy) */
    SK_EMODBUS_HANDSHAKE = -1402, /* mailbox command not acknowledged within its wait */
    /* ledger: -1500.. */
    /* SQLite's codes are translated once, in firmware/ledger/ledger.c: a full disk is
     * SK_ELEDGER_FULL, a lock -EBUSY, an I/O error -EIO, a read-only file -EROFS, a duplicate
     * -EEXIST, a missing reference -ENOENT, a refused change -EPERM, no memory -ENOMEM. */
    SK_ELEDGER = -1500,          /* SQLite error not covered below */
    SK_ELEDGER_SCHEMA = -1501,   /* file is not a storekeeper ledger, or a newer schema */
    SK_ELEDGER_CORRUPT = -1502,  /* quick_check failed */
    SK_ELEDGER_FULL = -1503,     /* disk or database full */
    SK_ELEDGER_CHAIN = -1504,    /* hash chain broken, or the book does not add up */
    SK_ELEDGER_ROLLBACK = -1505, /* behind its own last known state: rolled back or truncated */
    SK_ELEDGER_IDENTITY = -1506, /* the ledger belongs to another store or device */
    /* MQTT: -1600.. */
    SK_EMQTT = -1600,         /* libmosquitto error not covered below */
    SK_EMQTT_AUTH = -1601,    /* broker refused credentials */
    SK_EMQTT_TLS = -1602,     /* TLS handshake or certificate failure */
    SK_EMQTT_REFUSED = -1603, /* connection refused by broker */
    SK_EMQTT_COMMAND = -1604, /* malformed or invalid command */
    /* vision and cameras: -1700.. */
    SK_ECAMERA = -1700,   /* camera backend failure */
    SK_EVISION = -1701,   /* vision pipeline failure (OpenCV exception) */
    SK_ENOMODULE = -1702, /* a module this needs is not installed (storekeeper/module.h) */
    SK_EMODULE = -1703,   /* a module does not load, or is of another build */
    /* simulator and scenarios: -1800.. */
    SK_ESCENARIO = -1800, /* scenario file invalid */
    SK_ERECORD = -1801,   /* observation recording invalid */
    /* queue: -1900.. */
    SK_EQUEUE_FULL = -1900,   /* bounded queue is at capacity */
    SK_EQUEUE_CLOSED = -1901, /* queue was closed for shutdown */
    /* control socket: -2000.. */
    SK_ECTL_VERSION = -2000, /* the other side speaks another control protocol version */
};

/* True when err encodes a Modbus exception; sk_modbus_exception() returns its code. */
static inline int sk_is_modbus_exception(int err)
{
    return err <= SK_EMODBUS_EXC_BASE - 1 && err >= SK_EMODBUS_EXC_BASE - 255;
}

static inline int sk_modbus_exception(int err)
{
    return SK_EMODBUS_EXC_BASE - err;
}

/* Describes err (negative errno or enum sk_error). Returns a static string; thread-safe. */
const char *sk_strerror(int err);

#endif
