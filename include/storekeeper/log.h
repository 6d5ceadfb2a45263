/* SPDX-License-Identifier: MIT */
/* The one logger: syslog levels, "subsystem instance: message" lines, rate-limited failures. */
#ifndef STOREKEEPER_LOG_H
#define STOREKEEPER_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* syslog(3) priorities, so journald and syslog map them without translation. */
enum sk_log_level {
    SK_LOG_ERR = 3,
    SK_LOG_WARNING = 4,
    SK_LOG_NOTICE = 5,
    SK_LOG_INFO = 6,
    SK_LOG_DEBUG = 7,
};

enum sk_log_format {
    SK_LOG_FORMAT_AUTO,    /* journal when $JOURNAL_STREAM is set, else plain */
    SK_LOG_FORMAT_PLAIN,   /* "2026-11-21T10:00:00.123Z info  core: started" */
    SK_LOG_FORMAT_JOURNAL, /* "<6>core: started" (journald parses the priority prefix) */
};

/* Process-wide settings; safe to call at any time from any thread. */
void sk_log_set_level(enum sk_log_level level);
enum sk_log_level sk_log_get_level(void);
void sk_log_set_format(enum sk_log_format format);
/* Redirects output to fd (default 2). The caller keeps ownership of fd. */
void sk_log_set_fd(int fd);
/* Parses "err", "warning", "notice", "info", "debug". Returns 0 or -EINVAL. */
int sk_log_level_parse(const char *name, enum sk_log_level *ret_level);
const char *sk_log_level_name(enum sk_log_level level);

/*
 * Recent lines: the logger can keep the last N lines it wrote (formatted as plain text with
 * their time, whatever the output format) in a ring in memory, for `diag bundle` and the
 * control socket. Lines above the level are not kept (they are not formatted at all).
 * Thread-safe. capacity 0 frees the ring; changing it drops what was kept. Returns 0 or
 * -ENOMEM (the ring is then off).
 */
int sk_log_ring_set_capacity(size_t lines);
/* Calls cb for every kept line, oldest first (NUL-terminated, without newline), at most the
 * last max_lines (0: all), under the ring's lock: cb must not log. Returns the lines visited. */
typedef void (*sk_log_ring_cb)(const char *line, void *ctx);
size_t sk_log_ring_foreach(size_t max_lines, sk_log_ring_cb cb, void *ctx);
/* Lines written to the ring since the process started (also those since dropped). */
uint64_t sk_log_ring_total(void);

/* Writes one line: "subsystem instance: message" (instance may be NULL). */
void sk_log_write(enum sk_log_level level,
                  const char *subsystem,
                  const char *instance,
                  const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
void sk_log_vwrite(enum sk_log_level level,
                   const char *subsystem,
                   const char *instance,
                   const char *fmt,
                   va_list ap) __attribute__((format(printf, 4, 0)));

/* Level is checked before the arguments are evaluated or formatted. */
#define sk_log(level, subsystem, instance, ...)                          \
    do {                                                                 \
        if ((int)(level) <= (int)sk_log_get_level())                     \
            sk_log_write((level), (subsystem), (instance), __VA_ARGS__); \
    } while (0)

/*
 * Rate limiting of a repeating failure, one struct per failure site (collectd's c_complain):
 * the first occurrence is logged, later ones are counted and logged at doubling intervals
 * (up to max_interval_s), and sk_complain_release() logs the recovery once.
 * Not thread-safe: a complaint belongs to the thread that reports the failure.
 */
struct sk_complain {
    int64_t last_us;     /* monotonic time of the last logged line */
    int64_t interval_us; /* current back-off */
    uint32_t suppressed; /* occurrences since the last logged line */
    bool active;         /* a failure is being reported */
};

#define SK_COMPLAIN_INIT \
    {                    \
        0, 0, 0, false   \
    }

/* Returns true when the line was written, false when it was suppressed. */
bool sk_complain(struct sk_complain *c,
                 int64_t now_us,
                 enum sk_log_level level,
                 const char *subsystem,
                 const char *instance,
                 const char *fmt,
                 ...) __attribute__((format(printf, 6, 7)));
/* Logs fmt once at level when a failure was active; otherwise does nothing. */
void sk_complain_release(struct sk_complain *c,
                         enum sk_log_level level,
                         const char *subsystem,
                         const char *instance,
                         const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));

#endif
