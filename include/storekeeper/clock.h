/* SPDX-License-Identifier: MIT */
/* Injectable clocks: monotonic time orders things, wall time only goes into records. */
#ifndef STOREKEEPER_CLOCK_H
#define STOREKEEPER_CLOCK_H

#include <stdint.h>

/*
 * A clock is two functions and a context. The core and every state machine that makes
 * decisions by time take a clock, so tests drive them with sk_clock_manual and replay feeds
 * recorded times; production code uses sk_clock_system().
 */
struct sk_clock {
    int64_t (*mono_us)(void *ctx); /* CLOCK_MONOTONIC in microseconds */
    int64_t (*wall_us)(void *ctx); /* CLOCK_REALTIME in microseconds since the epoch */
    void *ctx;
};

/* The real clocks of this machine. Returns a static object. */
const struct sk_clock *sk_clock_system(void);

static inline int64_t sk_clock_mono_us(const struct sk_clock *c)
{
    return c->mono_us(c->ctx);
}

static inline int64_t sk_clock_wall_us(const struct sk_clock *c)
{
    return c->wall_us(c->ctx);
}

/* Convenience readers of the system clocks. */
int64_t sk_now_mono_us(void);
int64_t sk_now_wall_us(void);

/* A clock that only moves when told to: for tests and deterministic replay. */
struct sk_clock_manual {
    struct sk_clock clock; /* pass &m->clock where a clock is wanted */
    int64_t mono_us;
    int64_t wall_us;
};

void sk_clock_manual_init(struct sk_clock_manual *m, int64_t mono_us, int64_t wall_us);
/* Moves both clocks forward by delta_us (which may be negative for the wall clock tests). */
void sk_clock_manual_advance(struct sk_clock_manual *m, int64_t delta_us);

/* Formats wall time as RFC 3339 UTC with milliseconds ("2026-11-21T10:00:00.123Z").
 * buf must hold at least 25 bytes. Returns buf. */
char *sk_format_time_utc(int64_t wall_us, char *buf, unsigned long size);

#endif
