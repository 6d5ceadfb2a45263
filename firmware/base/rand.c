/* SPDX-License-Identifier: MIT */
/* xorshift32 (see include/storekeeper/rand.h). */
#include "storekeeper/rand.h"

uint32_t sk_xorshift32(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    /* Only a zero state gives zero: leave it for a fixed seed. */
    return *state = x ? x : 0x9e3779b9u;
}
