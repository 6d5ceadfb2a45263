/* SPDX-License-Identifier: MIT */
/* The daemon: config, core queue and loop, signals, timers, services, systemd notification. */
#include "storekeeper/runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/notify.h"

/*
 * DESIGN
 * Everything below runs on the core thread. Producers run in their own threads (started by
 * services) and reach the core only through the queue. Signals are blocked in every thread
 * (main blocks them before any thread exists) and arrive here through a signalfd, so a
 * handler never runs in the middle of the state machine.
 *
 * Stop: SIGTERM/SIGINT stop the loop; services are stopped in reverse start order (their
 * threads joined), then the queue is drained into the core so nothing already observed is
 * lost, then the core is freed. Reload: SIGHUP loads the file again; only a fully valid
 * config whose changes are all reloadable replaces the running one.
 */

#define SK_MAX_SERVICES    16
#define MAX_DRAIN_PER_WAKE 256 /* observations handled before the loop looks at other fds */

struct sk_runtime {
    const struct sk_runtime_opts *opts;
    struct sk_config *cfg;
    struct sk_queue *queue;
    struct sk_loop *loop;
    struct sk_core *core;
    const struct sk_clock *clock;
    struct sk_heartbeat *hb;
    int sigfd;
    const struct sk_service *const *services;
    void *service_state[SK_MAX_SERVICES];
    size_t n_started;
    int exit_code;
    int64_t watchdog_usec;
    int64_t last_status_us;
    bool watchdog_withheld;
};

const struct sk_config *sk_runtime_config(struct sk_runtime *rt)
{
    return rt->cfg;
}

struct sk_queue *sk_runtime_queue(struct sk_runtime *rt)
{
    return rt->queue;
}

struct sk_loop *sk_runtime_loop(struct sk_runtime *rt)
{
    return rt->loop;
}

struct sk_core *sk_runtime_core(struct sk_runtime *rt)
{
    return rt->core;
}

const struct sk_clock *sk_runtime_clock(struct sk_runtime *rt)
{
    return rt->clock;
}

void sk_block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void apply_log_config(const struct sk_config *cfg)
{
    sk_log_set_level((enum sk_log_level)cfg->log.level);
    sk_log_set_format((enum sk_log_format)cfg->log.format);
}

static void drain_queue(struct sk_runtime *rt, size_t max)
{
    struct sk_obs obs;
    for (size_t i = 0; i < max && sk_queue_pop(rt->queue, &obs) == 1; i++) {
        bool consumed = false;
        for (size_t s = 0; s < rt->n_started && !consumed; s++) {
            const struct sk_service *svc = rt->services[s];
            consumed = svc->handle && svc->handle(rt->service_state[s], &obs) == 1;
        }
        if (!consumed) {
            sk_core_handle(rt->core, &obs);
        }
        sk_obs_release(&obs);
    }
}

static void on_queue(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)loop;
    (void)fd;
    (void)events;
    drain_queue(ctx, MAX_DRAIN_PER_WAKE);
}

static void on_tick(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    sk_core_tick(rt->core);
    sk_heartbeat_beat(rt->hb, sk_clock_mono_us(rt->clock));
}

static void log_status(struct sk_runtime *rt)
{
    struct sk_core_stats cs;
    struct sk_queue_stats qs;
    sk_core_get_stats(rt->core, &cs);
    sk_queue_get_stats(rt->queue, &qs);
    uint64_t total = 0;
    for (int t = 0; t < SK_OBS_TYPE_COUNT; t++) {
        total += cs.handled[t];
    }
    int64_t up_s = (sk_clock_mono_us(rt->clock) - cs.started_mono_us) / 1000000;
    sk_log(SK_LOG_INFO, "core", NULL,
           "status: up %" PRId64 " s, %" PRIu64 " observations (%" PRIu64 " tags arrived, %" PRIu64
           " departed), readers %u up %u degraded %u down, queue %zu/%zu (max %zu, dropped "
           "%" PRIu64 ")",
           up_s, total, cs.handled[SK_OBS_TAG_ARRIVED], cs.handled[SK_OBS_TAG_DEPARTED],
           cs.readers_up, cs.readers_degraded, cs.readers_down, qs.depth, qs.capacity, qs.max_depth,
           qs.dropped);
}

/* Runs every second so a reloaded status_interval_s takes effect at once. */
static void on_status(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    int64_t now = sk_clock_mono_us(rt->clock);
    int64_t interval = (int64_t)rt->cfg->core.status_interval_s * 1000000;
    if (interval > 0 && now - rt->last_status_us >= interval) {
        rt->last_status_us = now;
        log_status(rt);
    }
}

static void on_watchdog(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    char stale[64];
    int64_t age = 0;
    if (sk_heartbeat_check(sk_clock_mono_us(rt->clock), stale, sizeof(stale), &age)) {
        sk_notify("WATCHDOG=1");
        if (rt->watchdog_withheld) {
            sk_log(SK_LOG_NOTICE, "watchdog", NULL, "every loop makes progress again");
            rt->watchdog_withheld = false;
        }
    } else if (!rt->watchdog_withheld) {
        rt->watchdog_withheld = true;
        sk_log(SK_LOG_ERR, "watchdog", NULL,
               "loop %s made no progress for %" PRId64 " s; withholding the systemd watchdog",
               stale, age / 1000000);
    }
}

static void on_duration(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)expirations;
    (void)ctx;
    sk_log(SK_LOG_NOTICE, "core", NULL, "run duration reached; stopping");
    sk_loop_stop(loop);
}

struct diff_log {
    int hard;
};

static void log_diff(const char *path, bool reloadable, void *ctx)
{
    struct diff_log *d = ctx;
    if (!reloadable) {
        d->hard++;
        sk_log(SK_LOG_ERR, "config", NULL, "reload: %s changed; it takes a restart", path);
    } else {
        sk_log(SK_LOG_INFO, "config", NULL, "reload: %s changed", path);
    }
}

static void reload(struct sk_runtime *rt)
{
    char mono[64];
    snprintf(mono, sizeof(mono), "RELOADING=1\nMONOTONIC_USEC=%" PRId64, sk_now_mono_us());
    sk_notify(mono);
    sk_log(SK_LOG_NOTICE, "config", NULL, "reload requested (SIGHUP): %s", rt->opts->config_path);
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = rt->opts->board};
    struct sk_config *next = NULL;
    int r = sk_config_load(rt->opts->config_path, &copts, &diag, &next);
    if (r < 0) {
        for (size_t i = 0; i < diag.n; i++) {
            sk_log(SK_LOG_ERR, "config", NULL, "%s", diag.lines[i]);
        }
        sk_log(SK_LOG_ERR, "config", NULL,
               "reload rejected (%zu error(s)); keeping the running configuration", diag.n);
        sk_diag_free(&diag);
        sk_notify("READY=1");
        return;
    }
    sk_diag_free(&diag);
    struct diff_log d = {0};
    sk_config_diff(rt->cfg, next, log_diff, &d);
    if (d.hard) {
        sk_log(SK_LOG_ERR, "config", NULL,
               "reload rejected: %d change(s) need a restart; keeping the running configuration",
               d.hard);
        sk_config_free(next);
        sk_notify("READY=1");
        return;
    }
    for (size_t i = 0; i < rt->n_started; i++) {
        if (rt->services[i]->reload && rt->services[i]->reload(rt->service_state[i], next) < 0) {
            sk_log(SK_LOG_WARNING, "config", NULL, "reload: service %s kept its settings",
                   rt->services[i]->name);
        }
    }
    sk_core_set_config(rt->core, next);
    sk_config_free(rt->cfg);
    rt->cfg = next;
    apply_log_config(rt->cfg);
    sk_log(SK_LOG_NOTICE, "config", NULL, "reloaded; config hash %s", rt->cfg->hash);
    sk_notify("READY=1");
}

static void on_signal(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)events;
    struct sk_runtime *rt = ctx;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            reload(rt);
            break;
        case SIGINT:
        case SIGTERM:
            sk_log(SK_LOG_NOTICE, "core", NULL, "%s received; stopping",
                   si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
            sk_loop_stop(loop);
            break;
        default:
            break;
        }
    }
}

static int setup(struct sk_runtime *rt)
{
    const struct sk_config *cfg = rt->cfg;
    size_t cap = (size_t)cfg->core.queue_capacity;
    size_t high = cap * (size_t)cfg->core.queue_high_pct / 100;
    size_t low = cap * (size_t)cfg->core.queue_low_pct / 100;
    int r = sk_queue_new(cap, high, low ? low : 1, &rt->queue);
    if (r < 0) {
        sk_log(SK_LOG_ERR, "core", NULL, "cannot create the queue: %s", sk_strerror(r));
        return r;
    }
    r = sk_loop_new(&rt->loop);
    if (r < 0) {
        return r;
    }
    r = sk_core_new(rt->cfg, rt->clock, &rt->core);
    if (r < 0) {
        return r;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    rt->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (rt->sigfd < 0) {
        return -errno;
    }
    int64_t stall_us = (int64_t)cfg->core.watchdog_stall_s * 1000000;
    rt->hb = sk_heartbeat_register("core", stall_us);
    if ((r = sk_loop_add(rt->loop, rt->sigfd, EPOLLIN, on_signal, rt)) < 0 ||
        (r = sk_loop_add(rt->loop, sk_queue_fd(rt->queue), EPOLLIN, on_queue, rt)) < 0 ||
        (r = sk_loop_timer_add(rt->loop, cfg->core.tick_ms, cfg->core.tick_ms, on_tick, rt, NULL)) <
                0) {
        return r;
    }
    rt->last_status_us = sk_clock_mono_us(rt->clock);
    if ((r = sk_loop_timer_add(rt->loop, 1000, 1000, on_status, rt, NULL)) < 0) {
        return r;
    }
    rt->watchdog_usec = sk_notify_watchdog_usec();
    if (rt->watchdog_usec > 0) {
        int64_t ms = rt->watchdog_usec / 2000;
        if ((r = sk_loop_timer_add(rt->loop, ms, ms > 0 ? ms : 1, on_watchdog, rt, NULL)) < 0) {
            return r;
        }
        sk_log(SK_LOG_INFO, "watchdog", NULL, "systemd watchdog every %" PRId64 " ms",
               rt->watchdog_usec / 1000);
    }
    if (rt->opts->duration_s > 0) {
        int64_t ms = (int64_t)(rt->opts->duration_s * 1000.0);
        if ((r = sk_loop_timer_add(rt->loop, ms > 0 ? ms : 1, 0, on_duration, rt, NULL)) < 0) {
            return r;
        }
    }
    return 0;
}

static int start_services(struct sk_runtime *rt)
{
    for (size_t i = 0; rt->services[i] && i < SK_MAX_SERVICES; i++) {
        int r = rt->services[i]->start(rt, &rt->service_state[i]);
        if (r < 0) {
            sk_log(SK_LOG_ERR, rt->services[i]->name, NULL, "cannot start: %s", sk_strerror(r));
            return r;
        }
        rt->n_started = i + 1;
    }
    return 0;
}

static void stop_services(struct sk_runtime *rt)
{
    while (rt->n_started > 0) {
        size_t i = --rt->n_started;
        rt->services[i]->stop(rt->service_state[i]);
        rt->service_state[i] = NULL;
    }
}

static void teardown(struct sk_runtime *rt)
{
    stop_services(rt);
    if (rt->queue) {
        sk_queue_close(rt->queue);
        if (rt->core) {
            drain_queue(rt, SIZE_MAX); /* what producers observed before stopping */
        }
    }
    sk_heartbeat_unregister(rt->hb);
    sk_core_free(rt->core);
    sk_loop_free(rt->loop);
    sk_queue_free(rt->queue);
    if (rt->sigfd >= 0) {
        close(rt->sigfd);
    }
    sk_config_free(rt->cfg);
}

int sk_runtime_main(const struct sk_runtime_opts *opts)
{
    static const struct sk_service *const none[] = {NULL};
    struct sk_runtime rt = {.opts = opts,
                            .sigfd = -1,
                            .clock = sk_clock_system(),
                            .services = opts->services ? opts->services : none};
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = opts->board};
    int r = sk_config_load(opts->config_path, &copts, &diag, &rt.cfg);
    if (r < 0) {
        sk_diag_print(&diag, stderr);
        sk_diag_free(&diag);
        return 2;
    }
    sk_diag_free(&diag);
    apply_log_config(rt.cfg);
    sk_log(SK_LOG_NOTICE, "core", NULL, "starting: store %s, device %s, board %s, config %.12s",
           rt.cfg->store_id, rt.cfg->device_id, rt.cfg->board.name, rt.cfg->hash);

    r = setup(&rt);
    if (r == 0) {
        r = start_services(&rt);
    }
    if (r < 0) {
        sk_log(SK_LOG_ERR, "core", NULL, "start failed: %s", sk_strerror(r));
        teardown(&rt);
        return 1;
    }
    sk_log(SK_LOG_NOTICE, "core", NULL,
           "running: %zu bus(es), %zu reader(s), %zu shelf(ves), %zu camera(s); tick %d ms",
           rt.cfg->n_buses, rt.cfg->n_readers, rt.cfg->n_shelves, rt.cfg->n_cameras,
           rt.cfg->core.tick_ms);
    sk_notify("READY=1\nSTATUS=running");

    r = sk_loop_run(rt.loop);
    rt.exit_code = r < 0 ? 1 : 0;
    if (r < 0) {
        sk_log(SK_LOG_ERR, "core", NULL, "event loop failed: %s", sk_strerror(r));
    }
    sk_notify("STOPPING=1");
    log_status(&rt);
    teardown(&rt);
    sk_log(SK_LOG_NOTICE, "core", NULL, "stopped");
    return rt.exit_code;
}
