/* SPDX-License-Identifier: MIT */
/* UUID text: the one layout of the ledger's event ids, session ids and MQTT message ids. */
#ifndef STOREKEEPER_UUID_H
#define STOREKEEPER_UUID_H

#include <stdint.h>

#define SK_UUID_LEN 36 /* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", without NUL */

/*
 * The 16 bytes as RFC 9562 text, lower-case hex with the four dashes, NUL-terminated. The
 * caller's bytes already carry their version and variant bits.
 */
void sk_uuid_format(const uint8_t bytes[16], char out[SK_UUID_LEN + 1]);

/*
 * A version 7 UUID: the wall time in milliseconds (48 bits; none before 1970) then the
 * caller's 10 bytes (random, or derived when ids must be reproducible), with the version and
 * variant bits set over them. Ids made later sort later as text.
 */
void sk_uuid7(int64_t wall_us, const uint8_t rest[10], char out[SK_UUID_LEN + 1]);

#endif
