/* SPDX-License-Identifier: MIT */
/* The system clocks, a manual clock for tests and replay, and UTC time formatting. */
#include "storekeeper/clock.h"

#include <stdio.h>
#include <string.h>
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

/* n digits of v, zero-padded, at p */
static void put_digits(char *p, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *sk_format_time_utc(int64_t wall_us, char *buf, unsigned long size)
{
    time_t secs = (time_t)(wall_us / 1000000);
    int ms = (int)((wall_us % 1000000) / 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    /* Every outbox event and log line has one: the calendar of the last second asked is kept
     * per thread, and the digits are written without printf. */
    static _Thread_local time_t last_secs = -1;
    static _Thread_local struct tm last_tm;
    if (secs != last_secs || secs < 0) {
        gmtime_r(&secs, &last_tm);
        last_secs = secs;
    }
    const struct tm *tm = &last_tm;
    int year = tm->tm_year + 1900;
    if (year < 0 || year > 9999 || size < 25) {
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm->tm_mon + 1,
                 tm->tm_mday, tm->tm_hour, tm->tm_min, tm->tm_sec, ms);
        return buf;
    }
    /* 2026-12-07T19:36:33.123Z */
    memcpy(buf, "0000-00-00T00:00:00.000Z", 25);
    put_digits(buf, year, 4);
    put_digits(buf + 5, tm->tm_mon + 1, 2);
    put_digits(buf + 8, tm->tm_mday, 2);
    put_digits(buf + 11, tm->tm_hour, 2);
    put_digits(buf + 14, tm->tm_min, 2);
    put_digits(buf + 17, tm->tm_sec, 2);
    put_digits(buf + 20, ms, 3);
    return buf;
}
