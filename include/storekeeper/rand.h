/* SPDX-License-Identifier: MIT */
/* The small pseudo-random generator of jitter, simulated noise and virtual readers. */
#ifndef STOREKEEPER_RAND_H
#define STOREKEEPER_RAND_H

#include <stdint.h>

/*
 * xorshift32 (Marsaglia): fast, reproducible from a seed, and nothing more: retry jitter,
 * synthetic camera noise, the faults of virtual readers. Never for anything secret. The state
 * is the caller's; a zero state (which xorshift would keep forever) is replaced by a fixed
 * non-zero one, so any seed works.
 */
uint32_t sk_xorshift32(uint32_t *state);

#endif
