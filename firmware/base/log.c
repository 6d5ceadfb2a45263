/* SPDX-License-Identifier: MIT */
/* The logger: one write(2) per line, level checked first, rate limiting of repeats. */
#include "storekeeper/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storekeeper/clock.h"

static atomic_int log_level = SK_LOG_INFO;
static atomic_int log_format = SK_LOG_FORMAT_AUTO;
static atomic_int log_fd = 2;

static const char *const level_names[] = {
        [SK_LOG_ERR] = "err",   [SK_LOG_WARNING] = "warning", [SK_LOG_NOTICE] = "notice",
        [SK_LOG_INFO] = "info", [SK_LOG_DEBUG] = "debug",
};

void sk_log_set_level(enum sk_log_level level)
{
    atomic_store(&log_level, (int)level);
}

enum sk_log_level sk_log_get_level(void)
{
    return (enum sk_log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void sk_log_set_format(enum sk_log_format format)
{
    atomic_store(&log_format, (int)format);
}

void sk_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int sk_log_level_parse(const char *name, enum sk_log_level *ret_level)
{
    for (int l = SK_LOG_ERR; l <= SK_LOG_DEBUG; l++) {
        if (strcmp(name, level_names[l]) == 0) {
            *ret_level = (enum sk_log_level)l;
            return 0;
        }
    }
    return -EINVAL;
}

const char *sk_log_level_name(enum sk_log_level level)
{
    return level >= SK_LOG_ERR && level <= SK_LOG_DEBUG ? level_names[level] : "?";
}

/*
 * The ring of recent lines: a fixed array of capacity slots, each a malloc'd copy (lines are
 * at most 1 KiB, so the ring is bounded by capacity KiB). One mutex: the write(2) of the line
 * itself stays outside it.
 */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static char **ring;
static size_t ring_cap, ring_head, ring_len;
static uint64_t ring_total;

static void ring_free_locked(void)
{
    for (size_t i = 0; i < ring_cap; i++) {
        free(ring[i]);
    }
    free(ring);
    ring = NULL;
    ring_cap = ring_head = ring_len = 0;
}

int sk_log_ring_set_capacity(size_t lines)
{
    int r = 0;
    pthread_mutex_lock(&ring_lock);
    if (lines != ring_cap) {
        ring_free_locked();
        if (lines > 0) {
            ring = calloc(lines, sizeof(*ring));
            if (ring) {
                ring_cap = lines;
            } else {
                r = -ENOMEM;
            }
        }
    }
    pthread_mutex_unlock(&ring_lock);
    return r;
}

static void ring_add(const char *line, size_t len)
{
    pthread_mutex_lock(&ring_lock);
    if (ring_cap > 0) {
        char *copy = malloc(len + 1);
        if (copy) {
            memcpy(copy, line, len);
            copy[len] = '\0';
            size_t slot = (ring_head + ring_len) % ring_cap;
            if (ring_len == ring_cap) {
                free(ring[ring_head]);
                ring_head = (ring_head + 1) % ring_cap;
                slot = (ring_head + ring_len - 1) % ring_cap;
            } else {
                ring_len++;
            }
            ring[slot] = copy;
            ring_total++;
        }
    }
    pthread_mutex_unlock(&ring_lock);
}

size_t sk_log_ring_foreach(size_t max_lines, sk_log_ring_cb cb, void *ctx)
{
    pthread_mutex_lock(&ring_lock);
    size_t skip = max_lines && ring_len > max_lines ? ring_len - max_lines : 0;
    size_t n = 0;
    for (size_t i = skip; i < ring_len; i++, n++) {
        cb(ring[(ring_head + i) % ring_cap], ctx);
    }
    pthread_mutex_unlock(&ring_lock);
    return n;
}

uint64_t sk_log_ring_total(void)
{
    pthread_mutex_lock(&ring_lock);
    uint64_t t = ring_total;
    pthread_mutex_unlock(&ring_lock);
    return t;
}

static bool journal_format(void)
{
    int f = atomic_load(&log_format);
    if (f == SK_LOG_FORMAT_AUTO) {
        const char *js = getenv("JOURNAL_STREAM");
        return js && js[0];
    }
    return f == SK_LOG_FORMAT_JOURNAL;
}

void sk_log_vwrite(enum sk_log_level level,
                   const char *subsystem,
                   const char *instance,
                   const char *fmt,
                   va_list ap)
{
    if ((int)level > (int)sk_log_get_level()) {
        return;
    }
    char line[1024];
    int off;
    const char *sub = subsystem ? subsystem : "storekeeper";
    const char *sep = instance && instance[0] ? " " : "";
    const char *inst = instance ? instance : "";
    /* The ring always keeps the plain form (with the time): the journal adds its own. */
    char ts[32];
    sk_format_time_utc(sk_now_wall_us(), ts, sizeof(ts));
    char prefix[128];
    int plen = snprintf(prefix, sizeof(prefix), "%s %-7s ", ts, sk_log_level_name(level));
    bool journal = journal_format();
    if (journal) {
        off = snprintf(line, sizeof(line), "<%d>%s%s%s: ", (int)level, sub, sep, inst);
    } else {
        off = snprintf(line, sizeof(line), "%s%s%s%s: ", prefix, sub, sep, inst);
    }
    if (off < 0 || plen < 0) {
        return;
    }
    if ((size_t)off < sizeof(line)) {
        int n = vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
        if (n > 0) {
            off += n;
        }
    }
    if ((size_t)off >= sizeof(line) - 1) {
        off = (int)sizeof(line) - 2; /* truncated: keep the newline */
    }
    /* One line never spans lines: replace embedded newlines (from outside data). */
    for (int i = 0; i < off; i++) {
        if (line[i] == '\n' || line[i] == '\r') {
            line[i] = ' ';
        }
    }
    if (journal) {
        /* "<N>" becomes the time and level for the ring */
        const char *body = strchr(line, '>') + 1;
        char plain[sizeof(line) + sizeof(prefix)];
        int n = snprintf(plain, sizeof(plain), "%s%.*s", prefix, (int)(off - (body - line)), body);
        if (n > 0) {
            ring_add(plain, (size_t)n < sizeof(plain) ? (size_t)n : sizeof(plain) - 1);
        }
    } else {
        ring_add(line, (size_t)off);
    }
    line[off++] = '\n';
    int fd = atomic_load(&log_fd);
    const char *p = line;
    size_t left = (size_t)off;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            break;
        }
        p += w;
        left -= (size_t)w;
    }
}

void sk_log_write(
        enum sk_log_level level, const char *subsystem, const char *instance, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sk_log_vwrite(level, subsystem, instance, fmt, ap);
    va_end(ap);
}

#define COMPLAIN_MIN_US (10LL * 1000000)   /* second report after 10 s */
#define COMPLAIN_MAX_US (3600LL * 1000000) /* then doubling, up to once an hour */

bool sk_complain(struct sk_complain *c,
                 int64_t now_us,
                 enum sk_log_level level,
                 const char *subsystem,
                 const char *instance,
                 const char *fmt,
                 ...)
{
    if (c->active && now_us - c->last_us < c->interval_us) {
        c->suppressed++;
        return false;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->active && c->suppressed) {
        sk_log(level, subsystem, instance, "%s (repeated %u times since last report)", msg,
               c->suppressed);
    } else {
        sk_log(level, subsystem, instance, "%s", msg);
    }
    c->interval_us = c->active ? c->interval_us * 2 : COMPLAIN_MIN_US;
    if (c->interval_us > COMPLAIN_MAX_US) {
        c->interval_us = COMPLAIN_MAX_US;
    }
    c->active = true;
    c->last_us = now_us;
    c->suppressed = 0;
    return true;
}

void sk_complain_release(struct sk_complain *c,
                         enum sk_log_level level,
                         const char *subsystem,
                         const char *instance,
                         const char *fmt,
                         ...)
{
    if (!c->active) {
        return;
    }
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    sk_log(level, subsystem, instance, "%s", msg);
    c->active = false;
    c->suppressed = 0;
    c->interval_us = 0;
}
