/* SPDX-License-Identifier: MIT */
/* The system clocks, a manual clock for tests and replay, and UTC time formatting. */
#include "storekeeper/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t sk_now_mono_us(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t sk_now_wall_us(void)
{
    return read_clock(CLOCK_REALTIME);
}

static int64_t system_mono(void *ctx)
{
    (void)ctx;
    return sk_now_mono_us();
}

static int64_t system_wall(void *ctx)
{
    (void)ctx;
    return sk_now_wall_us();
}

const struct sk_clock *sk_clock_system(void)
{
    static const struct sk_clock c = {system_mono, system_wall, NULL};
    return &c;
}

static int64_t manual_mono(void *ctx)
{
    return ((struct sk_clock_manual *)ctx)->mono_us;
}

static int64_t manual_wall(void *ctx)
{
    return ((struct sk_clock_manual *)ctx)->wall_us;
}

void sk_clock_manual_init(struct sk_clock_manual *m, int64_t mono_us, int64_t wall_us)
{
    m->clock.mono_us = manual_mono;
    m->clock.wall_us = manual_wall;
    m->clock.ctx = m;
    m->mono_us = mono_us;
    m->wall_us = wall_us;
}

void sk_clock_manual_advance(struct sk_clock_manual *m, int64_t delta_us)
{
    if (delta_us > 0) {
        m->mono_us += delta_us; /* monotonic never goes back */
    }
    m->wall_us += delta_us;
}

char *sk_format_time_utc(int64_t wall_us, char *buf, unsigned long size)
{
    time_t secs = (time_t)(wall_us / 1000000);
    int ms = (int)((wall_us % 1000000) / 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return buf;
}
