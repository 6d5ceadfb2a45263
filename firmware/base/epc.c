/* SPDX-License-Identifier: MIT */
/* EPC decoding per the GS1 Tag Data Standard: SGTIN-96 fields, GTIN-14 check digits, hex. */
#include "storekeeper/epc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SGTIN96_HEADER 0x30
#define SGTIN96_BYTES  12

/* TDS table 14-2 (SGTIN partition table): company prefix bits and digits per partition; the
 * item reference (with its indicator digit in front) gets the rest of 44 bits and 13 digits. */
static const struct {
    uint8_t prefix_bits, prefix_digits;
} partitions[7] = {
        {40, 12}, {37, 11}, {34, 10}, {30, 9}, {27, 8}, {24, 7}, {20, 6},
};

static const uint64_t pow10_table[14] = {
        1ULL,           10ULL,           100ULL,           1000ULL,           10000ULL,
        100000ULL,      1000000ULL,      10000000ULL,      100000000ULL,      1000000000ULL,
        10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
};

/* Bits [start, start + count) of a big-endian bit string, count <= 64. */
static uint64_t get_bits(const uint8_t *b, unsigned start, unsigned count)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < count; i++) {
        unsigned bit = start + i;
        v = (v << 1) | ((b[bit / 8] >> (7 - bit % 8)) & 1u);
    }
    return v;
}

static void put_bits(uint8_t *b, unsigned start, unsigned count, uint64_t v)
{
    for (unsigned i = 0; i < count; i++) {
        unsigned bit = start + count - 1 - i;
        uint8_t mask = (uint8_t)(1u << (7 - bit % 8));
        if ((v >> i) & 1u) {
            b[bit / 8] |= mask;
        } else {
            b[bit / 8] &= (uint8_t)~mask;
        }
    }
}

int sk_gtin_check_digit(const char *digits13)
{
    int sum = 0;
    for (int i = 0; i < 13; i++) {
        char c = digits13[i];
        if (c < '0' || c > '9') {
            return -EINVAL;
        }
        /* Weights 3,1,3,... from the left of a 13-digit body (3 next to the check digit). */
        sum += (c - '0') * (i % 2 == 0 ? 3 : 1);
    }
    return (10 - sum % 10) % 10;
}

int sk_epc_to_hex(const uint8_t *epc, size_t len, char *buf, size_t size)
{
    static const char digits[] = "0123456789ABCDEF";
    if (!buf || size == 0) {
        return -ENOSPC;
    }
    if (size < 2 * len + 1) {
        buf[0] = '\0';
        return -ENOSPC;
    }
    for (size_t i = 0; i < len; i++) {
        buf[2 * i] = digits[epc[i] >> 4];
        buf[2 * i + 1] = digits[epc[i] & 0x0f];
    }
    buf[2 * len] = '\0';
    return (int)(2 * len);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int sk_epc_from_hex(const char *hex, uint8_t *buf, size_t size)
{
    if (!hex) {
        return -EINVAL;
    }
    size_t n = strlen(hex);
    if (n % 2) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (hex_value(hex[i]) < 0) {
            return -EINVAL;
        }
    }
    if (n / 2 > size) {
        return -ENOSPC;
    }
    for (size_t i = 0; i < n / 2; i++) {
        /* Every digit was checked above: hex_value() is 0..15 here. */
        unsigned hi = (unsigned)hex_value(hex[2 * i]), lo = (unsigned)hex_value(hex[2 * i + 1]);
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    return (int)(n / 2);
}

/* Writes v as exactly `digits` decimal digits (leading zeros) plus a NUL; v < 10^digits. */
static void put_digits(char *out, unsigned digits, uint64_t v)
{
    out[digits] = '\0';
    for (unsigned i = digits; i > 0; i--) {
        out[i - 1] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Fills the SGTIN fields of e; false when the fields cannot belong to a valid SGTIN. */
static bool decode_sgtin96(const uint8_t *b, struct sk_epc *e)
{
    unsigned filter = (unsigned)get_bits(b, 8, 3);
    unsigned part = (unsigned)get_bits(b, 11, 3);
    if (part > 6) {
        return false;
    }
    unsigned pbits = partitions[part].prefix_bits;
    unsigned pdigits = partitions[part].prefix_digits;
    unsigned ibits = 44 - pbits;
    unsigned idigits = 13 - pdigits;
    uint64_t prefix = get_bits(b, 14, pbits);
    uint64_t item = get_bits(b, 14 + pbits, ibits);
    uint64_t serial = get_bits(b, 58, 38);
    /* TDS: decoding fails when a value has more digits than its partition gives it. */
    if (prefix >= pow10_table[pdigits] || item >= pow10_table[idigits]) {
        return false;
    }
    char prefix_text[13], item_text[14], body[14];
    put_digits(prefix_text, pdigits, prefix);
    put_digits(item_text, idigits, item);
    /* GTIN-14: indicator digit (first digit of the item reference), company prefix, rest of
     * the item reference, check digit. */
    body[0] = item_text[0];
    memcpy(body + 1, prefix_text, pdigits);
    memcpy(body + 1 + pdigits, item_text + 1, idigits); /* with its NUL */
    int check = sk_gtin_check_digit(body);
    if (check < 0) {
        return false;
    }
    e->filter = (uint8_t)filter;
    e->partition = (uint8_t)part;
    memcpy(e->gtin14, body, 13);
    e->gtin14[13] = (char)('0' + check);
    e->gtin14[14] = '\0';
    memcpy(e->company_prefix, prefix_text, sizeof(e->company_prefix));
    e->serial = serial;
    snprintf(e->uri, sizeof(e->uri), "urn:epc:id:sgtin:%s.%s.%" PRIu64, prefix_text, item_text,
             serial);
    return true;
}

int sk_epc_decode(const uint8_t *epc, size_t len, struct sk_epc *ret)
{
    if (!epc || !ret || len == 0 || len > SK_EPC_MAX) {
        return -EINVAL;
    }
    struct sk_epc e;
    memset(&e, 0, sizeof(e));
    sk_epc_to_hex(epc, len, e.hex, sizeof(e.hex));
    e.scheme = SK_EPC_RAW;
    int r = 0;
    if (len == SGTIN96_BYTES && epc[0] == SGTIN96_HEADER) {
        struct sk_epc s = e;
        if (decode_sgtin96(epc, &s)) {
            s.scheme = SK_EPC_SGTIN96;
            e = s;
            r = 1;
        }
    }
    *ret = e;
    return r;
}

int sk_epc_encode_sgtin96(
        const char *gtin14, int prefix_digits, uint64_t serial, int filter, uint8_t ret_epc[12])
{
    if (!gtin14 || strlen(gtin14) != 14 || prefix_digits < 6 || prefix_digits > 12 || filter < 0 ||
        filter > 7 || serial >= (1ULL << 38)) {
        return -EINVAL;
    }
    int check = sk_gtin_check_digit(gtin14);
    if (check < 0 || gtin14[13] != '0' + check) {
        return -EINVAL;
    }
    unsigned part = 12u - (unsigned)prefix_digits;
    uint64_t prefix = 0, item = 0;
    for (int i = 1; i <= prefix_digits; i++) {
        prefix = prefix * 10 + (uint64_t)(gtin14[i] - '0');
    }
    item = (uint64_t)(gtin14[0] - '0'); /* indicator digit leads the item reference */
    for (int i = prefix_digits + 1; i < 13; i++) {
        item = item * 10 + (uint64_t)(gtin14[i] - '0');
    }
    uint8_t b[SGTIN96_BYTES] = {0};
    unsigned pbits = partitions[part].prefix_bits;
    put_bits(b, 0, 8, SGTIN96_HEADER);
    put_bits(b, 8, 3, (uint64_t)filter);
    put_bits(b, 11, 3, part);
    put_bits(b, 14, pbits, prefix);
    put_bits(b, 14 + pbits, 44 - pbits, item);
    put_bits(b, 58, 38, serial);
    memcpy(ret_epc, b, sizeof(b));
    return 0;
}
