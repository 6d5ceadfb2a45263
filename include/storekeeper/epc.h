/* SPDX-License-Identifier: MIT */
/* EPC decoding (GS1 Tag Data Standard): SGTIN-96 to GTIN-14 + serial; other schemes as hex. */
#ifndef STOREKEEPER_EPC_H
#define STOREKEEPER_EPC_H

#include <stddef.h>
#include <stdint.h>

#include "storekeeper/obs.h"

/*
 * A catalog maps products by GTIN, not by tag: every SGTIN-96 EPC carries the GTIN of the
 * item it is sewn into and a serial number that tells two items of one product apart.
 * sk_epc_decode() splits such an EPC into its fields (GS1 EPC Tag Data Standard, section
 * 14.5.1 and table 14-2); EPCs of any other scheme (SSCC, GRAI, private TID-based numbers,
 * HF card UIDs) pass through: scheme SK_EPC_RAW and the upper-case hex of the bytes.
 *
 * Everything here is pure computation on caller memory: no allocation, no logging,
 * thread-safe.
 */

#define SK_EPC_HEX_MAX (2 * SK_EPC_MAX + 1) /* hex digits of the longest EPC, with NUL */

enum sk_epc_scheme {
    SK_EPC_RAW = 0,    /* not decoded: use hex */
    SK_EPC_SGTIN96 = 1 /* header 0x30: GTIN-14 + 38-bit serial */
};

struct sk_epc {
    int scheme;               /* enum sk_epc_scheme */
    char hex[SK_EPC_HEX_MAX]; /* always set: the EPC bytes as upper-case hex */
    /* SGTIN-96 only (zero/empty for SK_EPC_RAW): */
    uint8_t filter;          /* 0..7: 1 = point of sale item, 2 = case, ... */
    uint8_t partition;       /* 0..6: how the 44 bits split into prefix and item */
    char gtin14[15];         /* 14 digits with the check digit */
    char company_prefix[13]; /* 6..12 digits as encoded (leading zeros kept) */
    uint64_t serial;         /* 0 .. 2^38 - 1 */
    char uri[64];            /* pure identity URI: urn:epc:id:sgtin:0614141.812345.6789 */
};

/*
 * Decodes len bytes of EPC (as trimmed by the PC word: 12 bytes for SGTIN-96). Returns 1 when
 * the EPC decoded to a GTIN (scheme SK_EPC_SGTIN96), 0 when it passes through as hex
 * (another scheme, or an SGTIN-96 header whose fields are impossible: partition 7, a company
 * prefix or item reference with more digits than its partition allows, a length other than
 * 12 bytes), -EINVAL for a NULL pointer, len 0 or len > SK_EPC_MAX (ret untouched).
 */
int sk_epc_decode(const uint8_t *epc, size_t len, struct sk_epc *ret);

/* Writes the upper-case hex of len bytes plus a NUL into buf. Returns the number of digits,
 * or -ENOSPC when buf is smaller than 2 * len + 1 (buf then holds an empty string). */
int sk_epc_to_hex(const uint8_t *epc, size_t len, char *buf, size_t size);

/* Parses hex digits (either case; no separators; an even count) into buf. Returns the number
 * of bytes, -EINVAL for a bad character or an odd count, -ENOSPC when buf is too small. */
int sk_epc_from_hex(const char *hex, uint8_t *buf, size_t size);

/*
 * Encodes an SGTIN-96: gtin14 is 14 digits (its check digit is verified), prefix_digits the
 * length of the GS1 company prefix inside it (6..12), serial < 2^38, filter 0..7. Returns 0
 * and 12 bytes in ret_epc, or -EINVAL (ret_epc untouched). The simulator and tests use it to
 * make tags for a catalog's GTINs.
 */
int sk_epc_encode_sgtin96(
        const char *gtin14, int prefix_digits, uint64_t serial, int filter, uint8_t ret_epc[12]);

/* Check digit (0..9) of the first 13 digits of a GTIN-14, or -EINVAL for a non-digit. */
int sk_gtin_check_digit(const char *digits13);

#endif
