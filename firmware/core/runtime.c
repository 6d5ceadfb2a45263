/* SPDX-License-Identifier: MIT */
/* The daemon: config, core queue and loop, signals, timers, services, systemd notification. */
#include "storekeeper/runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/epoll.h>
#include <sys/signalfd.h>

#include "storekeeper/args.h"
#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/loop.h"
#include "storekeeper/notify.h"
#include "storekeeper/record.h"

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
 *
 * Ledger batches: observations taken off the queue together are handled inside one ledger
 * transaction (each in a savepoint of its own), committed when ledger.batch_max have been
 * handled, when ledger.batch_delay_ms have passed since the first, or at the next tick,
 * whichever comes first: one fsync per batch instead of one per observation.
 * The observations of the open batch are kept until it commits. When the commit (or a write
 * in it) fails for lack of space or an I/O error, the batch is rolled back, the core reloads
 * its durable state from the ledger, and the runtime turns degraded: it stops taking
 * observations off the queue (producers feel back-pressure, nothing more is taken that
 * could not be recorded) and retries the kept batch with a growing delay. The first retry
 * that commits ends the degraded state and the queue is drained again.
 *
 * The ledger's file: every MAINTAIN_MS the runtime checks that ledger.path still names the
 * file it has open. Removed (an rm under the running daemon): whatever it writes from then on
 * would vanish when it closes the file, so it stops as on SIGTERM, writes the open ledger
 * back to its path as its last act and exits 1 for systemd to start it again on the copy.
 * Replaced by another file: it says so (a restart would open that file, and refuse it when
 * it is behind the anchor) and goes on writing the file it has open.
 */

#define SK_MAX_SERVICES    16
#define MAX_DRAIN_PER_WAKE 256 /* observations handled before the loop looks at other fds */
#define RETRY_MIN_MS       500
#define RETRY_MAX_MS       30000
#define MAINTAIN_MS        10000 /* outbox retention and overflow check */

struct batched {
    struct sk_obs obs;
    bool consumed; /* a service took it: the core does not see it again on a retry */
};

/*
 * The clock the core and the ledger see: the runtime's own, but held still while the core
 * handles one observation or tick. Every time the core derives in that call is then computed
 * from the one (mono, wall) pair the recording writes for it, so `replay` reproduces even the
 * milliseconds of derived times.
 */
struct latch {
    struct sk_clock clock;
    const struct sk_clock *base;
    bool frozen;
    int64_t mono_us, wall_us;
};

static int64_t latch_mono(void *ctx)
{
    struct latch *l = ctx;
    return l->frozen ? l->mono_us : sk_clock_mono_us(l->base);
}

static int64_t latch_wall(void *ctx)
{
    struct latch *l = ctx;
    return l->frozen ? l->wall_us : sk_clock_wall_us(l->base);
}

static void freeze(struct latch *l)
{
    l->mono_us = sk_clock_mono_us(l->base);
    l->wall_us = sk_clock_wall_us(l->base);
    l->frozen = true;
}

static void thaw(struct latch *l)
{
    l->frozen = false;
}

struct sk_runtime {
    const struct sk_runtime_opts *opts;
    char catalog_error[2 * SK_PATH_MAX]; /* see sk_runtime_stats */
    struct latch core_clock;             /* what the core and the ledger read */
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

    struct sk_ledger *ledger;
    struct sk_record *record; /* --record: every observation the core handles, every tick */
    struct batched *batch;    /* observations of the open (or failed) batch */
    size_t batch_n, batch_cap;
    bool batch_open; /* a ledger transaction is open */
    bool batch_timer_armed;
    int64_t batch_start_us;
    struct sk_loop_timer *batch_timer;
    struct sk_loop_timer *retry_timer;
    bool degraded;
    bool queue_watched;
    int64_t degraded_since_us;
    int retry_ms;
    int last_err;
    uint64_t batches, retries;
    struct sk_complain ledger_complaint;
    int64_t started_wall_us;
    bool ledger_removed;  /* its path no longer names the open file: write it back at stop */
    bool ledger_replaced; /* another file at its path (said once) */
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

struct sk_ledger *sk_runtime_ledger(struct sk_runtime *rt)
{
    return rt->ledger;
}

int sk_runtime_ledger_error(struct sk_runtime *rt)
{
    return rt->degraded ? (rt->last_err < 0 ? rt->last_err : SK_ELEDGER) : 0;
}

void *sk_runtime_service_state(struct sk_runtime *rt, const char *name)
{
    for (size_t i = 0; i < rt->n_started; i++) {
        if (strcmp(rt->services[i]->name, name) == 0) {
            return rt->service_state[i];
        }
    }
    return NULL;
}

void sk_runtime_get_stats(struct sk_runtime *rt, struct sk_runtime_stats *ret)
{
    memset(ret, 0, sizeof(*ret));
    ret->started_wall_us = rt->started_wall_us;
    ret->degraded = rt->degraded;
    ret->last_err = rt->last_err;
    ret->degraded_since_us = rt->degraded_since_us;
    ret->batches = rt->batches;
    ret->retries = rt->retries;
    ret->batch_held = rt->batch_n;
    snprintf(ret->config_path, sizeof(ret->config_path), "%s", rt->opts->config_path);
    snprintf(ret->catalog_error, sizeof(ret->catalog_error), "%s", rt->catalog_error);
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
    if (sk_log_ring_set_capacity((size_t)cfg->log.recent_lines) < 0) {
        sk_log(SK_LOG_WARNING, "core", NULL, "no memory for %d recent log lines; keeping none",
               cfg->log.recent_lines);
    }
}

/* Errors after which the transaction cannot go on: the batch fails as a whole. */
static bool batch_fatal(struct sk_runtime *rt, int err)
{
    return err == SK_ELEDGER_FULL || err == -EIO || err == -ENOMEM || err == -EBUSY ||
           err == SK_ELEDGER_CORRUPT || err == -EROFS || sk_ledger_depth(rt->ledger) == 0 ||
           sk_ledger_txn_failed(rt->ledger);
}

/* A recording that cannot be written stops; the store goes on. */
static void record_failed(struct sk_runtime *rt, int err)
{
    sk_log(SK_LOG_ERR, "record", NULL, "%s: the recording stops here",
           err == -EFBIG ? "the recording reached its size limit" : sk_strerror(err));
    sk_record_close(rt->record);
    rt->record = NULL;
}

static void record_obs(struct sk_runtime *rt, const struct sk_obs *obs)
{
    int r = sk_record_obs(rt->record, rt->core_clock.mono_us, rt->core_clock.wall_us, obs);
    if (r < 0) {
        record_failed(rt, r);
    }
}

/* Handles one observation inside the batch transaction, in a savepoint of its own. */
static int apply_one(struct sk_runtime *rt, struct batched *b, bool retry)
{
    int r;
    if (!rt->batch_open) {
        if ((r = sk_ledger_begin(rt->ledger)) < 0) {
            return r;
        }
        rt->batch_open = true;
        rt->batch_start_us = sk_clock_mono_us(rt->clock);
    }
    if ((r = sk_ledger_begin(rt->ledger)) < 0) {
        return r;
    }
    if (!retry) {
        for (size_t s = 0; s < rt->n_started && !b->consumed; s++) {
            const struct sk_service *svc = rt->services[s];
            b->consumed = svc->rewrite && svc->rewrite(rt->service_state[s], &b->obs) == 1;
        }
        for (size_t s = 0; s < rt->n_started && !b->consumed; s++) {
            const struct sk_service *svc = rt->services[s];
            b->consumed = svc->handle && svc->handle(rt->service_state[s], &b->obs) == 1;
        }
    }
    freeze(&rt->core_clock);
    if (!retry && !b->consumed && rt->record) {
        record_obs(rt, &b->obs);
    }
    size_t replies = sk_core_replies_mark(rt->core);
    r = b->consumed ? 0 : sk_core_handle(rt->core, &b->obs);
    thaw(&rt->core_clock);
    if (r < 0) {
        sk_core_replies_undo(rt->core, replies); /* what it answered is undone with it */
        sk_ledger_rollback(rt->ledger);
        if (batch_fatal(rt, r)) {
            return r;
        }
        /* Confined to this observation: its rows are undone; bring the core back in line
         * with the ledger (which still holds the batch's earlier rows). */
        sk_complain(&rt->ledger_complaint, sk_clock_mono_us(rt->clock), SK_LOG_ERR, "ledger", NULL,
                    "%s from %s not recorded: %s (%s)", sk_obs_type_name(b->obs.type),
                    b->obs.source[0] ? b->obs.source : "-", sk_strerror(r),
                    sk_ledger_errmsg(rt->ledger));
        freeze(&rt->core_clock);
        r = sk_core_set_ledger(rt->core, rt->ledger);
        thaw(&rt->core_clock);
        return r < 0 && batch_fatal(rt, r) ? r : 0;
    }
    return sk_ledger_commit(rt->ledger);
}

static void release_batch(struct sk_runtime *rt)
{
    for (size_t i = 0; i < rt->batch_n; i++) {
        sk_obs_release(&rt->batch[i].obs);
    }
    rt->batch_n = 0;
}

static void set_status(struct sk_runtime *rt)
{
    char st[200];
    if (rt->degraded) {
        snprintf(st, sizeof(st), "STATUS=degraded: ledger not writable (%s)",
                 sk_strerror(rt->last_err));
    } else {
        snprintf(st, sizeof(st), "STATUS=running");
    }
    sk_notify(st);
}

static void watch_queue(struct sk_runtime *rt, bool on);
static void import_catalog(struct sk_runtime *rt);

/* The batch could not be written: undo, reload the core's state, turn degraded, retry. */
static void fail_batch(struct sk_runtime *rt, int err)
{
    while (sk_ledger_depth(rt->ledger) > 0) {
        sk_ledger_rollback(rt->ledger);
    }
    sk_core_replies_undo(rt->core, 0); /* the retry applies the commands and answers again */
    rt->batch_open = false;
    rt->last_err = err;
    freeze(&rt->core_clock);
    int r = sk_core_set_ledger(rt->core, rt->ledger);
    thaw(&rt->core_clock);
    if (r < 0) {
        sk_log(SK_LOG_ERR, "ledger", NULL, "cannot reload the present-tag set: %s", sk_strerror(r));
    }
    int64_t now = sk_clock_mono_us(rt->clock);
    if (!rt->degraded) {
        rt->degraded = true;
        rt->degraded_since_us = now;
        rt->retry_ms = RETRY_MIN_MS;
        watch_queue(rt, false);
        set_status(rt);
    } else {
        rt->retry_ms = rt->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : rt->retry_ms * 2;
    }
    sk_complain(&rt->ledger_complaint, now, SK_LOG_ERR, "ledger", NULL,
                "cannot write (%s: %s); degraded: %zu observation(s) held, the queue waits, "
                "retrying",
                sk_strerror(err), sk_ledger_errmsg(rt->ledger), rt->batch_n);
    sk_loop_timer_set(rt->retry_timer, rt->retry_ms, 0);
}

static int commit_batch(struct sk_runtime *rt)
{
    if (rt->batch_timer_armed) {
        sk_loop_timer_set(rt->batch_timer, 0, 0);
        rt->batch_timer_armed = false;
    }
    if (!rt->batch_open) {
        return 0;
    }
    rt->batch_open = false;
    int r = sk_ledger_commit(rt->ledger);
    if (r < 0) {
        fail_batch(rt, r);
        return r;
    }
    rt->batches++;
    /* Only now, with the effects durable, are commands answered: a crash before this point
     * leaves the command unanswered, and the sender's retry applies it (exactly once). */
    sk_core_replies_flush(rt->core);
    release_batch(rt);
    return 0;
}

static void drain_queue(struct sk_runtime *rt, size_t max)
{
    size_t n = 0;
    while (n < max && !rt->degraded) {
        if (rt->batch_n == rt->batch_cap && commit_batch(rt) < 0) {
            break;
        }
        struct batched *b = &rt->batch[rt->batch_n];
        if (sk_queue_pop(rt->queue, &b->obs) != 1) {
            break;
        }
        b->consumed = false;
        rt->batch_n++;
        n++;
        int r = apply_one(rt, b, false);
        if (r < 0) {
            fail_batch(rt, r);
        }
    }
    if (rt->degraded || rt->batch_n == 0) {
        return;
    }
    int64_t delay_ms = rt->cfg->ledger.batch_delay_ms;
    if (rt->batch_n >= rt->batch_cap || delay_ms <= 0) {
        commit_batch(rt);
    } else if (!rt->batch_timer_armed) {
        int64_t left = delay_ms - (sk_clock_mono_us(rt->clock) - rt->batch_start_us) / 1000;
        sk_loop_timer_set(rt->batch_timer, left > 0 ? left : 1, 0);
        rt->batch_timer_armed = true;
    }
}

static void on_batch_timer(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    rt->batch_timer_armed = false;
    commit_batch(rt);
}

/* Retries the held batch; success ends the degraded state. */
static int retry_batch(struct sk_runtime *rt)
{
    rt->retries++;
    for (size_t i = 0; i < rt->batch_n; i++) {
        int r = apply_one(rt, &rt->batch[i], true);
        if (r < 0) {
            fail_batch(rt, r);
            return r;
        }
    }
    size_t held = rt->batch_n;
    if (rt->batch_open && commit_batch(rt) < 0) {
        return rt->last_err;
    }
    int64_t secs = (sk_clock_mono_us(rt->clock) - rt->degraded_since_us) / 1000000;
    rt->degraded = false;
    sk_loop_timer_set(rt->retry_timer, 0, 0);
    sk_complain_release(&rt->ledger_complaint, SK_LOG_NOTICE, "ledger", NULL,
                        "writable again after %" PRId64 " s; %zu held observation(s) recorded",
                        secs, held);
    set_status(rt);
    watch_queue(rt, true);
    return 0;
}

static void on_retry(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    if (rt->degraded) {
        retry_batch(rt);
    }
}

static void check_ledger_file(struct sk_runtime *rt)
{
    int r = sk_ledger_file_check(rt->ledger);
    if (r == -ENOENT && !rt->ledger_removed) {
        rt->ledger_removed = true;
        sk_log(SK_LOG_ERR, "ledger", NULL,
               "%s was removed while the daemon had it open: stopping, writing the open "
               "ledger back to that path (nothing recorded is lost), then exiting for a "
               "restart on it; stop the daemon before moving or deleting its ledger",
               rt->cfg->ledger.path);
        sk_notify("STATUS=stopping: the ledger file was removed; writing it back");
        sk_loop_stop(rt->loop);
    } else if (r == -ESTALE && !rt->ledger_replaced) {
        rt->ledger_replaced = true;
        sk_log(SK_LOG_ERR, "ledger", NULL,
               "%s is no longer the file the daemon opened (another file was put in its "
               "place): the daemon goes on writing the file it opened; a restart would open "
               "the new one, and refuse it if it is behind the anchor (docs/ledger.md)",
               rt->cfg->ledger.path);
    } else if (r == 0) {
        rt->ledger_replaced = false;
    }
}

static void on_maintain(struct sk_loop *loop, uint64_t expirations, void *ctx)
{
    (void)loop;
    (void)expirations;
    struct sk_runtime *rt = ctx;
    check_ledger_file(rt);
    if (rt->ledger_removed || rt->degraded || rt->batch_open) {
        return;
    }
    const struct sk_ledger_cfg *lc = &rt->cfg->ledger;
    struct sk_outbox_policy p = {.keep_delivered_s = lc->outbox_keep_delivered_s,
                                 .keep_delivered_max = lc->outbox_keep_delivered_max,
                                 .max_pending = lc->outbox_max_pending};
    bool was = false;
    struct sk_outbox_stats st;
    if (sk_ledger_outbox_stats(rt->ledger, &st) == 0) {
        was = st.overflow;
    }
    int r = sk_ledger_request_expire(rt->ledger, rt->cfg->mqtt.request_keep_s);
    if (r < 0) {
        sk_complain(&rt->ledger_complaint, sk_clock_mono_us(rt->clock), SK_LOG_WARNING, "ledger",
                    NULL, "expiring command request ids failed: %s (%s)", sk_strerror(r),
                    sk_ledger_errmsg(rt->ledger));
    }
    r = sk_ledger_outbox_maintain(rt->ledger, &p);
    if (r < 0) {
        sk_complain(&rt->ledger_complaint, sk_clock_mono_us(rt->clock), SK_LOG_WARNING, "ledger",
                    NULL, "outbox maintenance failed: %s (%s)", sk_strerror(r),
                    sk_ledger_errmsg(rt->ledger));
        return;
    }
    if (sk_ledger_outbox_stats(rt->ledger, &st) == 0 && st.overflow != was) {
        if (st.overflow) {
            sk_log(SK_LOG_ERR, "ledger", NULL,
                   "outbox holds %" PRId64 " undelivered events, above ledger.outbox_max_pending "
                   "(%d); none is dropped, an outbox_overflow event was written",
                   st.pending, lc->outbox_max_pending);
        } else {
            sk_log(SK_LOG_NOTICE, "ledger", NULL, "outbox back to %" PRId64 " pending events",
                   st.pending);
        }
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
    if (rt->batch_open) {
        commit_batch(rt); /* a tick also bounds the batch delay */
    }
    freeze(&rt->core_clock);
    if (rt->record) {
        int r = sk_record_tick(rt->record, rt->core_clock.mono_us, rt->core_clock.wall_us);
        if (r < 0) {
            record_failed(rt, r);
        }
    }
    sk_core_tick(rt->core);
    thaw(&rt->core_clock);
    /* The anchor of the last commits, if a commit left it unsynced: durable within a tick
     * (docs/ledger.md, "Rollback"). A failure is tried again at the next tick. */
    if (rt->ledger && sk_ledger_anchor_flush(rt->ledger) < 0) {
        sk_complain(&rt->ledger_complaint, sk_clock_mono_us(rt->clock), SK_LOG_WARNING, "ledger",
                    NULL, "cannot sync the anchor file: %s", sk_ledger_errmsg(rt->ledger));
    }
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
    struct sk_outbox_stats os;
    if (rt->ledger && sk_ledger_outbox_stats(rt->ledger, &os) == 0) {
        sk_log(SK_LOG_INFO, "ledger", NULL,
               "status: %s, %" PRIu64 " batches, %zu tags present, outbox %" PRId64
               " pending (seq %" PRId64 "), %" PRId64 " delivered kept",
               rt->degraded ? "DEGRADED (not writable)" : "ok", rt->batches,
               sk_tagset_count(sk_core_present(rt->core)), os.pending, os.last_seq, os.delivered);
    }
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
    struct sk_diag *report;
};

static void log_diff(const char *path, bool reloadable, void *ctx)
{
    struct diff_log *d = ctx;
    if (!reloadable) {
        d->hard++;
        sk_log(SK_LOG_ERR, "config", NULL, "reload: %s changed; it takes a restart", path);
        if (d->report) {
            sk_diag_add(d->report, "%s changed; it takes a restart", path);
        }
    } else {
        sk_log(SK_LOG_INFO, "config", NULL, "reload: %s changed", path);
    }
}

/* SIGHUP and the config_reload command. Problems also go to report (when not NULL). */
static int reload(struct sk_runtime *rt, const char *why, struct sk_diag *report)
{
    char mono[64];
    snprintf(mono, sizeof(mono), "RELOADING=1\nMONOTONIC_USEC=%" PRId64, sk_now_mono_us());
    sk_notify(mono);
    sk_log(SK_LOG_NOTICE, "config", NULL, "reload requested (%s): %s", why, rt->opts->config_path);
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = rt->opts->board};
    struct sk_config *next = NULL;
    int r = sk_config_load(rt->opts->config_path, &copts, &diag, &next);
    if (r < 0) {
        for (size_t i = 0; i < diag.n; i++) {
            sk_log(SK_LOG_ERR, "config", NULL, "%s", diag.lines[i]);
            if (report) {
                sk_diag_add(report, "%s", diag.lines[i]);
            }
        }
        sk_log(SK_LOG_ERR, "config", NULL,
               "reload rejected (%zu error(s)); keeping the running configuration", diag.n);
        sk_diag_free(&diag);
        sk_notify("READY=1");
        return SK_ECONFIG;
    }
    sk_diag_free(&diag);
    struct diff_log d = {0, report};
    sk_config_diff(rt->cfg, next, log_diff, &d);
    if (d.hard) {
        sk_log(SK_LOG_ERR, "config", NULL,
               "reload rejected: %d change(s) need a restart; keeping the running configuration",
               d.hard);
        sk_config_free(next);
        sk_notify("READY=1");
        return -EPERM;
    }
    for (size_t i = 0; i < rt->n_started; i++) {
        if (rt->services[i]->reload && rt->services[i]->reload(rt->service_state[i], next) < 0) {
            sk_log(SK_LOG_WARNING, "config", NULL, "reload: service %s kept its settings",
                   rt->services[i]->name);
        }
    }
    commit_batch(rt);
    sk_core_set_config(rt->core, next);
    sk_config_free(rt->cfg);
    rt->cfg = next;
    apply_log_config(rt->cfg);
    if (!rt->degraded) {
        import_catalog(rt); /* the files may have changed even where their names did not */
    }
    if (sk_ledger_set_max_size(rt->ledger, (int64_t)rt->cfg->ledger.max_size_mb << 20) == 0 &&
        rt->degraded) {
        sk_loop_timer_set(rt->retry_timer, 1, 0); /* perhaps there is room now */
    }
    sk_log(SK_LOG_NOTICE, "config", NULL, "reloaded; config hash %s", rt->cfg->hash);
    sk_notify("READY=1");
    return 0;
}

int sk_runtime_reload(struct sk_runtime *rt, struct sk_diag *report)
{
    return reload(rt, "command", report);
}

static void on_signal(struct sk_loop *loop, int fd, uint32_t events, void *ctx)
{
    (void)events;
    struct sk_runtime *rt = ctx;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            reload(rt, "SIGHUP", NULL);
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

static void watch_queue(struct sk_runtime *rt, bool on)
{
    if (on == rt->queue_watched) {
        return;
    }
    int r = on ? sk_loop_add(rt->loop, sk_queue_fd(rt->queue), EPOLLIN, on_queue, rt)
               : sk_loop_del(rt->loop, sk_queue_fd(rt->queue));
    if (r == 0) {
        rt->queue_watched = on;
    }
}

/* Imports the catalog files the configuration names (upsert; a file with problems changes
 * nothing and is logged line by line, and the runtime goes on with the catalog it has). */
/*
 * The catalog files are imports into the ledger, which holds the catalog: a file is imported
 * again only when its text changed since its last import (by hand or here), so a restart or
 * a reload does not undo what came since, e.g. a cloud catalog_upsert (docs/ledger.md).
 */
static void import_catalog(struct sk_runtime *rt)
{
    const struct sk_config *cfg = rt->cfg;
    const char *files[3] = {cfg->products_file, cfg->tags_file, cfg->planogram_file};
    rt->catalog_error[0] = '\0';
    for (int kind = SK_IMPORT_PRODUCTS; kind <= SK_IMPORT_PLANOGRAM; kind++) {
        if (!files[kind][0]) {
            continue;
        }
        char path[SK_PATH_MAX * 2];
        sk_config_resolve_path(cfg, files[kind], path, sizeof(path));
        struct sk_diag diag;
        sk_diag_init(&diag);
        struct sk_import_result res;
        struct sk_import_opts io = {
                .kind = kind, .flags = SK_IMPORT_IF_CHANGED, .cfg = cfg, .diag = &diag};
        int r = sk_ledger_import(rt->ledger, path, &io, &res);
        for (size_t i = 0; i < diag.n; i++) {
            sk_log(SK_LOG_ERR, "ledger", NULL, "%s", diag.lines[i]);
        }
        if (r < 0 && !rt->catalog_error[0]) {
            snprintf(rt->catalog_error, sizeof(rt->catalog_error), "%s (%zu problem(s))",
                     diag.n ? diag.lines[0] : sk_strerror(r), res.errors ? res.errors : diag.n);
        }
        sk_diag_free(&diag);
        if (r < 0) {
            sk_log(SK_LOG_ERR, "ledger", NULL,
                   "%s not imported (%s); the ledger keeps its %s as they were", path,
                   sk_strerror(r), sk_import_kind_name(kind));
        } else if (res.unchanged) {
            sk_log(SK_LOG_INFO, "ledger", NULL,
                   "%s unchanged since its last import: not imported again (the ledger's %s, "
                   "with later changes such as the cloud's, stay)",
                   path, sk_import_kind_name(kind));
        } else {
            sk_log(SK_LOG_INFO, "ledger", NULL,
                   "%s: %" PRId64 " row(s): %" PRId64 " new, %" PRId64 " updated", path, res.rows,
                   res.inserted, res.updated);
        }
    }
}

/* Opens (creating or migrating) the ledger and loads the core's durable state from it.
 * A file that is not a healthy ledger of this store and device stops the start. */
static int open_ledger(struct sk_runtime *rt)
{
    const struct sk_config *cfg = rt->cfg;
    char path[SK_PATH_MAX * 2];
    sk_config_resolve_path(cfg, cfg->ledger.path, path, sizeof(path));
    struct sk_ledger_opts o = {.path = path,
                               .store_id = cfg->store_id,
                               .device_id = cfg->device_id,
                               .busy_timeout_ms = cfg->ledger.busy_timeout_ms,
                               .flags = SK_LEDGER_CREATE | SK_LEDGER_MIGRATE | SK_LEDGER_OWNER |
                                        SK_LEDGER_ANCHOR,
                               .clock = &rt->core_clock.clock,
                               .config_path = cfg->path};
    char msg[SK_LEDGER_ERRMSG_MAX];
    int r = sk_ledger_open(&o, msg, sizeof(msg), &rt->ledger);
    if (r < 0) {
        sk_log(SK_LOG_ERR, "ledger", NULL, "%s", msg);
        return r;
    }
    if ((r = sk_ledger_set_max_size(rt->ledger, (int64_t)cfg->ledger.max_size_mb << 20)) < 0) {
        sk_log(SK_LOG_ERR, "ledger", NULL, "%s", sk_ledger_errmsg(rt->ledger));
        return r;
    }
    rt->batch_cap = (size_t)(cfg->ledger.batch_max > 0 ? cfg->ledger.batch_max : 1);
    rt->batch = calloc(rt->batch_cap, sizeof(*rt->batch));
    if (!rt->batch) {
        return -ENOMEM;
    }
    /* Stale shelf rows only matter to `ledger` listings: a full disk must not stop the
     * start (the runtime then comes up degraded at its first write). */
    int s = sk_ledger_sync_shelves(rt->ledger, cfg);
    if (s < 0) {
        sk_log(SK_LOG_WARNING, "ledger", NULL, "cannot record the configured shelves: %s (%s)",
               sk_strerror(s), sk_ledger_errmsg(rt->ledger));
    }
    import_catalog(rt);
    freeze(&rt->core_clock);
    r = sk_core_set_ledger(rt->core, rt->ledger);
    thaw(&rt->core_clock);
    if (r < 0) {
        sk_log(SK_LOG_ERR, "ledger", NULL, "cannot load the present-tag set: %s (%s)",
               sk_strerror(r), sk_ledger_errmsg(rt->ledger));
        return r;
    }
    struct sk_ledger_info info;
    struct sk_outbox_stats os;
    if (sk_ledger_get_info(rt->ledger, &info) == 0 &&
        sk_ledger_outbox_stats(rt->ledger, &os) == 0) {
        sk_log(SK_LOG_INFO, "ledger", NULL,
               "%s: schema %d, ledger %s, %d tag(s) present, outbox %" PRId64
               " pending (last seq %" PRId64 ")",
               path, info.schema_version, info.ledger_id, r, os.pending, os.last_seq);
        if (info.anchor_created && os.last_seq > 0) {
            sk_log(SK_LOG_NOTICE, "ledger", NULL,
                   "%s.anchor was missing: written from the ledger as it is now (a rollback "
                   "before this start cannot be seen from here; the cloud's retained outbox "
                   "message can)",
                   path);
        }
        if (info.adopted_from[0]) {
            sk_log(SK_LOG_NOTICE, "ledger", NULL,
                   "%s had recorded nothing under %s: it is now the ledger of %s/%s", path,
                   info.adopted_from, cfg->store_id, cfg->device_id);
        }
    }
    return 0;
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
    rt->core_clock = (struct latch){
            .clock = {.mono_us = latch_mono, .wall_us = latch_wall, .ctx = &rt->core_clock},
            .base = rt->clock};
    r = sk_core_new(rt->cfg, &rt->core_clock.clock, &rt->core);
    if (r < 0) {
        return r;
    }
    if ((r = open_ledger(rt)) < 0) {
        return r;
    }
    if (rt->opts->record_path) {
        /* From the state the core just loaded: replay loads the same from the ledger copy. */
        int64_t mono, wall;
        sk_core_loaded_at(rt->core, &mono, &wall);
        char err[SK_LEDGER_ERRMSG_MAX + 64];
        r = sk_record_open(rt->opts->record_path, rt->cfg, rt->ledger, mono, wall, err, sizeof(err),
                           &rt->record);
        if (r < 0) {
            sk_log(SK_LOG_ERR, "record", NULL, "cannot record: %s", err);
            return r;
        }
        sk_log(SK_LOG_NOTICE, "record", NULL, "recording every observation to %s",
               rt->opts->record_path);
    }
    rt->sigfd = sk_signal_fd(true, SFD_CLOEXEC | SFD_NONBLOCK);
    if (rt->sigfd < 0) {
        return rt->sigfd;
    }
    int64_t stall_us = (int64_t)cfg->core.watchdog_stall_s * 1000000;
    rt->hb = sk_heartbeat_register("core", stall_us);
    if ((r = sk_loop_add(rt->loop, rt->sigfd, EPOLLIN, on_signal, rt)) < 0 ||
        (r = sk_loop_add(rt->loop, sk_queue_fd(rt->queue), EPOLLIN, on_queue, rt)) < 0 ||
        (r = sk_loop_timer_add(rt->loop, 3600000, 0, on_batch_timer, rt, &rt->batch_timer)) < 0 ||
        (r = sk_loop_timer_add(rt->loop, 3600000, 0, on_retry, rt, &rt->retry_timer)) < 0 ||
        (r = sk_loop_timer_add(rt->loop, MAINTAIN_MS, MAINTAIN_MS, on_maintain, rt, NULL)) < 0 ||
        (r = sk_loop_timer_add(rt->loop, cfg->core.tick_ms, cfg->core.tick_ms, on_tick, rt, NULL)) <
                0) {
        return r;
    }
    rt->queue_watched = true;
    sk_loop_timer_set(rt->batch_timer, 0, 0);
    sk_loop_timer_set(rt->retry_timer, 0, 0);
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
    for (size_t i = 0; i < SK_MAX_SERVICES && rt->services[i]; i++) {
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
        if (rt->core && rt->ledger) {
            if (rt->degraded) {
                retry_batch(rt); /* one last chance for the held batch */
            }
            drain_queue(rt, SIZE_MAX); /* what producers observed before stopping */
            commit_batch(rt);
            if (rt->degraded) {
                struct sk_queue_stats qs;
                sk_queue_get_stats(rt->queue, &qs);
                sk_log(SK_LOG_ERR, "ledger", NULL,
                       "stopping while the ledger is not writable: %zu held and %zu queued "
                       "observation(s) are not recorded (readers report the present state "
                       "again after the restart)",
                       rt->batch_n, qs.depth);
            }
        }
    }
    release_batch(rt);
    free(rt->batch);
    sk_record_close(rt->record);
    sk_heartbeat_unregister(rt->hb);
    sk_core_free(rt->core);
    if (rt->ledger_removed) {
        char msg[600];
        int r = sk_ledger_file_restore(rt->ledger, msg, sizeof(msg));
        if (r < 0) {
            sk_log(SK_LOG_ERR, "ledger", NULL, "cannot write the ledger back: %s", msg);
        } else {
            sk_log(SK_LOG_NOTICE, "ledger", NULL,
                   "the open ledger was written back to %s; the next start continues from it",
                   rt->cfg->ledger.path);
        }
    }
    sk_ledger_close(rt->ledger);
    sk_loop_free(rt->loop);
    sk_queue_free(rt->queue);
    if (rt->sigfd >= 0) {
        close(rt->sigfd);
    }
    sk_config_free(rt->cfg);
    sk_log_ring_set_capacity(0);
}

int sk_runtime_main(const struct sk_runtime_opts *opts)
{
    static const struct sk_service *const none[] = {NULL};
    /* The daemon's tables are allocated once at their configured bounds (queue, tracks,
     * sessions, tag sets per reader) and mostly stay empty. Served by mmap, their untouched
     * pages cost no memory; glibc's sliding threshold would move such blocks onto the heap
     * after the first large free, where calloc clears (touches) them: 6 MB of a 16-reader
     * store's peak RSS. A fixed threshold keeps them lazy. */
    mallopt(M_MMAP_THRESHOLD, 64 * 1024);
    struct sk_runtime rt = {.opts = opts,
                            .sigfd = -1,
                            .clock = sk_clock_system(),
                            .services = opts->services ? opts->services : none,
                            .started_wall_us = sk_now_wall_us()};
    struct sk_diag diag;
    sk_diag_init(&diag);
    struct sk_config_opts copts = {.board_override = opts->board};
    int r = sk_config_load(opts->config_path, &copts, &diag, &rt.cfg);
    if (r < 0) {
        sk_diag_print(&diag, stderr);
        sk_diag_free(&diag);
        return SK_EXIT_USAGE;
    }
    sk_diag_free(&diag);
    apply_log_config(rt.cfg);
    sk_log(SK_LOG_NOTICE, "core", NULL, "starting: store %s, device %s, board %s, config %.12s",
           rt.cfg->store_id, rt.cfg->device_id, rt.cfg->board.name, rt.cfg->hash);
    for (size_t i = 0; i < rt.cfg->warnings.n; i++) {
        sk_log(SK_LOG_WARNING, "config", NULL, "%s", rt.cfg->warnings.lines[i]);
    }

    r = setup(&rt);
    if (r == 0) {
        r = start_services(&rt);
    }
    if (r < 0) {
        /* A reader profile that does not load, or a ledger of another store, is a
         * configuration error like the file's: exit 2, which systemd does not restart
         * (restarting cannot fix it; RestartPreventExitStatus=2 in the unit). */
        bool config_error = r == SK_ECONFIG || r == SK_EPROFILE || r == SK_ELEDGER_IDENTITY;
        sk_log(SK_LOG_ERR, "core", NULL, "start failed: %s%s", sk_strerror(r),
               config_error ? "; fix the store file (the line above says how), then restart" : "");
        teardown(&rt);
        return config_error ? SK_EXIT_USAGE : SK_EXIT_FAILURE;
    }
    sk_log(SK_LOG_NOTICE, "core", NULL,
           "running: %zu bus(es), %zu reader(s), %zu shelf(ves), %zu camera(s); tick %d ms",
           rt.cfg->n_buses, rt.cfg->n_readers, rt.cfg->n_shelves, rt.cfg->n_cameras,
           rt.cfg->core.tick_ms);
    sk_notify("READY=1\nSTATUS=running");

    r = sk_loop_run(rt.loop);
    rt.exit_code = r < 0 || rt.ledger_removed ? SK_EXIT_FAILURE : SK_EXIT_OK;
    if (r < 0) {
        sk_log(SK_LOG_ERR, "core", NULL, "event loop failed: %s", sk_strerror(r));
    }
    sk_notify("STOPPING=1");
    log_status(&rt);
    teardown(&rt);
    sk_log(SK_LOG_NOTICE, "core", NULL, "stopped");
    return rt.exit_code;
}
