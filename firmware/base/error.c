/* SPDX-License-Identifier: MIT */
/* sk_strerror: one description for negative errno values and storekeeper's domain codes. */
#include "storekeeper/error.h"

#include <string.h>

static const char *modbus_exception_name(int code)
{
    switch (code) {
    case 1:
        return "Modbus exception 1 (illegal function)";
    case 2:
        return "Modbus exception 2 (illegal data address)";
    case 3:
        return "Modbus exception 3 (illegal data value)";
    case 4:
        return "Modbus exception 4 (server device failure)";
    case 5:
        return "Modbus exception 5 (acknowledge)";
    case 6:
        return "Modbus exception 6 (server device busy)";
    case 8:
        return "Modbus exception 8 (memory parity error)";
    case 10:
        return "Modbus exception 10 (gateway path unavailable)";
    case 11:
        return "Modbus exception 11 (gateway target failed to respond)";
    default:
        return "Modbus exception (vendor code)";
    }
}

const char *sk_strerror(int err)
{
    if (sk_is_modbus_exception(err)) {
        return modbus_exception_name(sk_modbus_exception(err));
    }
    switch (err) {
    case 0:
        return "success";
    case SK_ECONFIG:
        return "invalid configuration";
    case SK_EPROFILE:
        return "invalid reader profile";
    case SK_ENOTBUILT:
        return "not available in this build";
    case SK_EMODBUS:
        return "Modbus transport error";
    case SK_EMODBUS_CRC:
        return "Modbus reply with a bad CRC";
    case SK_EMODBUS_FRAME:
        return "malformed Modbus reply";
    case SK_EMODBUS_BADREPLY:
        return "Modbus reply does not match the reader profile";
    case SK_EMODBUS_BUSY:
        return "reader busy";
    case SK_EMODBUS_HANDSHAKE:
        return "reader did not acknowledge the command in time";
    case SK_ELEDGER:
        return "ledger database error";
    case SK_ELEDGER_SCHEMA:
        return "not a storekeeper ledger, of another store or device, or of an unknown schema "
               "version";
    case SK_ELEDGER_CORRUPT:
        return "ledger database is corrupt";
    case SK_ELEDGER_FULL:
        return "ledger disk or database is full";
    case SK_ELEDGER_CHAIN:
        return "ledger hash chain is broken, or the book does not add up";
    case SK_ELEDGER_ROLLBACK:
        return "ledger is behind its last known state (rolled back, truncated or replaced)";
    case SK_ELEDGER_IDENTITY:
        return "the ledger belongs to another store or device";
    case SK_EMQTT:
        return "MQTT error";
    case SK_EMQTT_AUTH:
        return "MQTT broker refused the credentials";
    case SK_EMQTT_TLS:
        return "MQTT TLS handshake or certificate failure";
    case SK_EMQTT_REFUSED:
        return "MQTT broker refused the connection";
    case SK_EMQTT_COMMAND:
        return "invalid MQTT command";
    case SK_ECAMERA:
        return "camera failure";
    case SK_EVISION:
        return "vision pipeline failure";
    case SK_ENOMODULE:
        return "module not installed (the camera package)";
    case SK_EMODULE:
        return "module does not load, or is of another build";
    case SK_ESCENARIO:
        return "invalid scenario";
    case SK_ERECORD:
        return "observation recording invalid";
    case SK_EQUEUE_FULL:
        return "queue full";
    case SK_EQUEUE_CLOSED:
        return "queue closed";
    case SK_ECTL_VERSION:
        return "control protocol version mismatch";
    default:
        break;
    }
    if (err < 0 && err > -1000) {
        return strerror(-err); /* glibc's strerror returns static strings for known codes */
    }
    return "unknown error";
}
