/* SPDX-License-Identifier: MIT */
/* UUID layout and text (see include/storekeeper/uuid.h); where the bytes come from is the caller's.
 */
#include "storekeeper/uuid.h"

#include <string.h>

void sk_uuid_format(const uint8_t bytes[16], char out[SK_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            out[o++] = '-';
        }
        out[o++] = hex[bytes[i] >> 4];
        out[o++] = hex[bytes[i] & 15];
    }
    out[o] = '\0';
}

void sk_uuid7(int64_t wall_us, const uint8_t rest[10], char out[SK_UUID_LEN + 1])
{
    uint8_t b[16];
    uint64_t ms = (uint64_t)(wall_us > 0 ? wall_us / 1000 : 0);
    for (int i = 0; i < 6; i++) {
        b[i] = (uint8_t)(ms >> (40 - 8 * i));
    }
    memcpy(b + 6, rest, 10);
    b[6] = (uint8_t)(0x70 | (b[6] & 0x0f)); /* version 7 */
    b[8] = (uint8_t)(0x80 | (b[8] & 0x3f)); /* variant 10 */
    sk_uuid_format(b, out);
}
