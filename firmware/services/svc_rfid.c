/* SPDX-License-Identifier: MIT */
/* Bus threads: poll readers through their profiles, filter presence, report health. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include "storekeeper/error.h"
#include "storekeeper/log.h"
#include "storekeeper/mbconn.h"
#include "storekeeper/notify.h"
#include "storekeeper/profile.h"
#include "storekeeper/rand.h"
#include "storekeeper/reader.h"
#include "storekeeper/rfid.h"

/*
 * DESIGN
 * One thread per bus owns the bus's connection and every reader on it; nothing of a bus is
 * touched by another thread except the stop flag, the wake eventfd, the reload slot (under
 * a mutex) and the atomic counters. A cycle polls each reader that is due, feeds successful
 * polls to the reader's presence filter and pushes what the filter decides; then the thread
 * sleeps on the wake fd until the next cycle, beating its heartbeat (also while it waits to
 * reconnect).
 *
 * Health, per reader, from the outcome of its last 10 polls:
 *   down      3 failed polls in a row (reason: the last failure's)
 *   degraded  at least 2 failures among the last 10, or a read-rate collapse
 *   up        otherwise
 * A reader that keeps failing is polled less often (back-off from 2 cycles up to
 * reconnect_max_ms) so a dead unit does not eat the time of its neighbours on RS-485.
 * A connection that cannot be opened is retried with exponential back-off and jitter
 * (reconnect_min_ms .. reconnect_max_ms); all its readers are down (disconnected) meanwhile.
 *
 * Read-rate collapse: when a reader that holds at least 3 present tags suddenly sees almost
 * none of them (short-term seen ratio under 0.2 while the long-term one was at least 0.5), it
 * is reported degraded (read_rate) before the hold time lets those tags depart, so the core
 * knows the departures that follow may be an antenna fault rather than shoppers.
 *
 * Outages never age tags: failed polls are not fed to the filter, and the first successful
 * poll after a reader was down restarts every present tag's hold time.
 */

#define HISTORY        10
#define DOWN_AFTER     3
#define DEGRADED_AFTER 2
#define MIN_RATE_TAGS  3

struct rd {
    char name[SK_NAME_MAX];
    int unit;
    struct sk_profile *profile;
    struct sk_reader *reader;
    struct sk_presence *filter;
    /* health */
    int state, reason;
    bool answered;    /* has answered a poll since the thread started */
    uint32_t history; /* bit i: poll i ago failed */
    unsigned consec_fail, polls;
    uint32_t errors_since;
    int last_fail_reason;
    char detail[SK_TEXT_MAX];
    int64_t next_due_us;
    int backoff_ms;
    /* read rate */
    bool rate_init, collapsed;
    double rate_fast, rate_slow;
    struct sk_complain complain;
    /* diagnostics: counters read by other threads, the tag view under the bus's lock */
    atomic_uint_fast64_t d_polls, d_errors, d_reads, d_requests;
    _Atomic int64_t d_rtt_us, d_rtt_avg_us, d_ok_us;
    atomic_uint_fast32_t d_present;
    atomic_bool view_wanted;
    struct sk_rfid_tag_view *view;
    size_t view_cap, view_n, view_total;
    int64_t view_us;
};

struct bus {
    struct sk_rfid *owner;
    char name[SK_NAME_MAX];
    char url[SK_URL_MAX + SK_PATH_MAX];
    struct sk_bus_cfg cfg;
    bool rs485;
    struct sk_mbconn *conn;
    struct rd *readers;
    size_t n_readers;
    pthread_t thread;
    bool started;
    int wake_fd;
    atomic_bool stop;
    int64_t stall_us;
    struct sk_heartbeat *hb; /* registered by the thread itself */
    int backoff_ms;
    uint32_t rng;
    struct sk_complain link_complain, push_complain;
    /* reload slot */
    pthread_mutex_t lock;
    bool params_pending;
    struct sk_presence_params (*pending)[256]; /* [reader][antenna] */
    bool (*pending_set)[256];
};

struct sk_rfid {
    struct sk_queue *queue;
    const struct sk_clock *clock;
    int push_timeout_ms;
    struct bus *buses;
    size_t n_buses;
    atomic_uint_fast64_t polls, poll_errors, arrivals, departures, health, push_waits, push_failed,
            requests;
};

/* ---- configuration helpers --------------------------------------------------------------- */

void sk_rfid_params_for(const struct sk_config *cfg,
                        const char *reader,
                        int antenna,
                        struct sk_presence_params *ret)
{
    const char *preset = "standard";
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *s = &cfg->shelves[i];
        if (strcmp(s->reader, reader) == 0 && (s->antenna == antenna || s->antenna == 0)) {
            preset = s->preset;
            if (s->antenna == antenna) {
                break;
            }
        }
    }
    const struct sk_presence_preset_cfg *pp = sk_config_preset(cfg, preset);
    if (pp) {
        ret->arrive_k = pp->arrive_k;
        ret->arrive_n = pp->arrive_n;
        ret->hold_us = (int64_t)pp->hold_ms * 1000;
    } else {
        ret->arrive_k = 2;
        ret->arrive_n = 3;
        ret->hold_us = 3000000;
    }
}

int sk_rfid_bus_url(const struct sk_config *cfg,
                    const struct sk_bus_cfg *bus,
                    char *buf,
                    size_t size,
                    bool *ret_rs485)
{
    *ret_rs485 = false;
    if (strncmp(bus->url, "rtu:", 4) != 0 || bus->url[4] == '/') {
        snprintf(buf, size, "%s", bus->url);
        return 0;
    }
    size_t nl = strcspn(bus->url + 4, ":");
    for (size_t i = 0; i < cfg->board.n_serial_ports; i++) {
        const struct sk_serial_port_cfg *sp = &cfg->board.serial_ports[i];
        if (strlen(sp->name) == nl && strncmp(sp->name, bus->url + 4, nl) == 0) {
            snprintf(buf, size, "rtu:%s%s", sp->device, bus->url + 4 + nl);
            *ret_rs485 = sp->rs485;
            return 0;
        }
    }
    return -ENOENT;
}

static void profiles_dir(const struct sk_config *cfg, char *buf, size_t size)
{
    buf[0] = '\0';
    if (cfg->profiles_dir[0]) {
        sk_config_resolve_path(cfg, cfg->profiles_dir, buf, size);
    }
}

/* Loads the profile of reader i. The profile file's own problems go to diag; why says what
 * is wrong with the reader's entry (the store file's line is the caller's to add). */
static int load_reader_profile(const struct sk_config *cfg,
                               size_t i,
                               struct sk_diag *diag,
                               char *why,
                               size_t why_size,
                               struct sk_profile **ret)
{
    const struct sk_reader_cfg *rc = &cfg->readers[i];
    char dir[SK_PATH_MAX * 2], path[SK_PATH_MAX * 3];
    profiles_dir(cfg, dir, sizeof(dir));
    *ret = NULL;
    if (sk_profile_find(rc->profile, dir, path, sizeof(path)) < 0) {
        snprintf(why, why_size,
                 "no profile \"%s\" (looked for %s): name a profile of that folder, or set "
                 "profiles_dir",
                 rc->profile, path);
        return SK_EPROFILE;
    }
    int r = sk_profile_load(path, diag, ret);
    if (r < 0) {
        snprintf(why, why_size, "profile \"%s\" of reader %s is not usable (its problems above)",
                 rc->profile, rc->name);
        return SK_EPROFILE;
    }
    const struct sk_bus_cfg *bus = sk_config_bus(cfg, rc->bus);
    bool tcp = bus && strncmp(bus->url, "tcp:", 4) == 0;
    if (bus && ((tcp && !(*ret)->tcp) || (!tcp && !(*ret)->rtu))) {
        snprintf(why, why_size, "%s devices speak only %s, bus %s is %s", rc->profile,
                 (*ret)->tcp ? "Modbus/TCP" : "Modbus RTU", bus->name, tcp ? "TCP" : "RTU");
        sk_profile_free(*ret);
        *ret = NULL;
        return SK_EPROFILE;
    }
    /* An RTU unit above 247 is the store file's own check (config.c). */
    return 0;
}

int sk_rfid_check_reader(
        const struct sk_config *cfg, size_t i, struct sk_diag *diag, char *why, size_t why_size)
{
    struct sk_profile *p = NULL;
    int r = load_reader_profile(cfg, i, diag, why, why_size, &p);
    sk_profile_free(p);
    return r;
}

/* ---- observations ------------------------------------------------------------------------ */

static void push(struct bus *b, struct sk_obs *obs)
{
    struct sk_rfid *s = b->owner;
    for (int attempt = 0;; attempt++) {
        int r = sk_queue_push(s->queue, obs, SK_QUEUE_WAIT, s->push_timeout_ms);
        if (r == 0) {
            if (attempt > 0) {
                sk_complain_release(&b->push_complain, SK_LOG_NOTICE, "bus", b->name,
                                    "core queue accepts observations again");
            }
            return;
        }
        if (r == SK_EQUEUE_CLOSED || atomic_load(&b->stop)) {
            /* shutdown: the core's present set still has what this would have changed, so
             * a restart re-derives it (a lost departure reappears after hold_ms) */
            atomic_fetch_add(&s->push_failed, 1);
            return;
        }
        atomic_fetch_add(&s->push_waits, 1);
        int64_t now = sk_now_mono_us();
        sk_heartbeat_beat(b->hb, now); /* waiting on the core is progress of this loop */
        sk_complain(&b->push_complain, now, SK_LOG_WARNING, "bus", b->name,
                    "core queue is above its high mark; holding observations (back-pressure)");
    }
}

static void base_obs(struct bus *b, struct rd *r, int type, int64_t mono_us, struct sk_obs *obs)
{
    memset(obs, 0, sizeof(*obs));
    obs->type = (uint16_t)type;
    obs->mono_us = mono_us;
    obs->wall_us = sk_clock_wall_us(b->owner->clock);
    sk_obs_set_source(obs, r->name);
}

struct emit_ctx {
    struct bus *b;
    struct rd *r;
    int64_t now;
};

static void on_presence(const struct sk_presence_event *ev, void *ctx)
{
    struct emit_ctx *e = ctx;
    struct sk_obs obs;
    bool arrived = ev->type == SK_PRESENCE_ARRIVED;
    base_obs(e->b, e->r, arrived ? SK_OBS_TAG_ARRIVED : SK_OBS_TAG_DEPARTED, e->now, &obs);
    obs.u.tag.antenna = ev->antenna;
    obs.u.tag.epc_len = ev->epc_len;
    memcpy(obs.u.tag.epc, ev->epc, ev->epc_len);
    obs.u.tag.rssi_cdbm = ev->rssi_cdbm;
    obs.u.tag.reads = ev->reads;
    obs.u.tag.last_seen_us = arrived ? 0 : ev->last_seen_us;
    obs.u.tag.first_missed_us = arrived ? 0 : ev->first_missed_us;
    obs.u.tag.first_seen_us = arrived ? ev->first_seen_us : 0;
    obs.u.tag.absent_us = arrived ? ev->absent_us : 0;
    if (SK_LOG_DEBUG <= sk_log_get_level()) {
        char hex[2 * SK_EPC_MAX + 1];
        static const char digits[] = "0123456789ABCDEF";
        for (size_t i = 0; i < ev->epc_len; i++) {
            hex[2 * i] = digits[ev->epc[i] >> 4];
            hex[2 * i + 1] = digits[ev->epc[i] & 15];
        }
        hex[2 * ev->epc_len] = '\0';
        sk_log(SK_LOG_DEBUG, "reader", e->r->name, "tag %s antenna %u EPC %s (%u reads)",
               arrived ? "arrived" : "departed", ev->antenna, hex, ev->reads);
    }
    atomic_fetch_add(arrived ? &e->b->owner->arrivals : &e->b->owner->departures, 1);
    push(e->b, &obs);
}

static void emit_health(struct bus *b, struct rd *r, int state, int reason, int64_t now)
{
    struct sk_obs obs;
    base_obs(b, r, SK_OBS_READER_HEALTH, now, &obs);
    obs.u.health.state = (uint8_t)state;
    obs.u.health.reason = (uint8_t)(state == SK_HEALTH_UP ? SK_REASON_NONE : reason);
    obs.u.health.errors = r->errors_since;
    struct sk_mbconn_stats st;
    sk_mbconn_get_stats(b->conn, &st);
    obs.u.health.rtt_us = (uint32_t)(st.last_rtt_us > 0 ? st.last_rtt_us : 0);
    if (state != SK_HEALTH_UP) {
        snprintf(obs.u.health.detail, sizeof(obs.u.health.detail), "%s", r->detail);
    }
    r->errors_since = 0;
    r->state = state;
    r->reason = obs.u.health.reason;
    atomic_fetch_add(&b->owner->health, 1);
    push(b, &obs);
}

/* ---- health ------------------------------------------------------------------------------ */

static void evaluate(struct bus *b, struct rd *r, int64_t now)
{
    uint32_t recent = r->history & ((1u << HISTORY) - 1);
    int state, reason = SK_REASON_NONE;
    if (r->consec_fail >= DOWN_AFTER) {
        state = SK_HEALTH_DOWN;
        reason = r->last_fail_reason;
    } else if (__builtin_popcount(recent) >= DEGRADED_AFTER) {
        state = SK_HEALTH_DEGRADED;
        reason = r->last_fail_reason;
    } else if (r->collapsed) {
        state = SK_HEALTH_DEGRADED;
        reason = SK_REASON_READ_RATE;
    } else {
        state = SK_HEALTH_UP;
    }
    if (!r->answered && state != SK_HEALTH_DOWN) {
        /* Never answered: not "up" on the strength of too few failures to say otherwise.
         * The state stays unknown until it answers (up) or fails long enough (down). */
        return;
    }
    if (state == SK_HEALTH_UP && r->state == SK_HEALTH_UP) {
        return;
    }
    if (state != r->state || reason != r->reason) {
        if (reason == SK_REASON_READ_RATE) {
            snprintf(r->detail, sizeof(r->detail), "sees %.0f%% of its present tags (was %.0f%%)",
                     100.0 * r->rate_fast, 100.0 * r->rate_slow);
        }
        emit_health(b, r, state, reason, now);
    }
}

static void note_rate(struct rd *r, size_t present_before, size_t seen)
{
    if (present_before == 0) {
        r->collapsed = false; /* nothing left to judge the antenna by */
        r->rate_init = false;
        return;
    }
    if (present_before < MIN_RATE_TAGS) {
        return;
    }
    double ratio = (double)seen / (double)present_before;
    if (!r->rate_init) {
        r->rate_fast = r->rate_slow = ratio;
        r->rate_init = true;
        return;
    }
    r->rate_fast = 0.7 * r->rate_fast + 0.3 * ratio;
    if (!r->collapsed) {
        r->rate_slow = 0.95 * r->rate_slow + 0.05 * ratio;
        r->collapsed = r->rate_fast < 0.2 && r->rate_slow >= 0.5;
    } else if (r->rate_fast >= 0.5 * r->rate_slow) {
        r->collapsed = false;
    }
}

static void
poll_ok(struct bus *b, struct rd *r, const struct sk_tag_read *tags, size_t n, int64_t now)
{
    if (r->state == SK_HEALTH_DOWN) {
        sk_presence_resume(r->filter, now); /* the outage does not count as unseen time */
    }
    struct sk_presence_stats before, after;
    sk_presence_get_stats(r->filter, &before);
    struct emit_ctx ctx = {b, r, now};
    sk_presence_update(r->filter, now, tags, n, on_presence, &ctx);
    sk_presence_get_stats(r->filter, &after);
    note_rate(r, before.present, after.seen_present);
    r->history <<= 1;
    r->answered = true;
    r->consec_fail = 0;
    r->backoff_ms = 0;
    r->next_due_us = 0;
    r->polls++;
    /* health changes are what the core logs; this line is for debugging */
    sk_complain_release(&r->complain, SK_LOG_DEBUG, "reader", r->name, "answers again");
    evaluate(b, r, now);
}

static void poll_failed(struct bus *b, struct rd *r, int err, int64_t now)
{
    atomic_fetch_add(&b->owner->poll_errors, 1);
    r->history = (r->history << 1) | 1u;
    r->consec_fail++;
    r->errors_since++;
    r->polls++;
    r->last_fail_reason = sk_mbconn_health_reason(err);
    if (sk_reader_detail(r->reader)[0]) {
        snprintf(r->detail, sizeof(r->detail), "%s", sk_reader_detail(r->reader));
    } else {
        snprintf(r->detail, sizeof(r->detail), "%s", sk_strerror(err));
    }
    sk_complain(&r->complain, now, SK_LOG_DEBUG, "reader", r->name, "poll failed: %s", r->detail);
    if (r->consec_fail >= DOWN_AFTER) {
        /* circuit breaker: a failing unit gets polled less and less often */
        int min = 2 * b->cfg.poll_interval_ms;
        r->backoff_ms = r->backoff_ms ? r->backoff_ms * 2 : min;
        if (r->backoff_ms > b->cfg.reconnect_max_ms) {
            r->backoff_ms = b->cfg.reconnect_max_ms > min ? b->cfg.reconnect_max_ms : min;
        }
        r->next_due_us = now + (int64_t)r->backoff_ms * 1000;
    }
    evaluate(b, r, now);
}

static void all_down(struct bus *b, int err, const char *why, int64_t now)
{
    for (size_t i = 0; i < b->n_readers; i++) {
        struct rd *r = &b->readers[i];
        r->consec_fail = DOWN_AFTER;
        r->history = (r->history << 1) | 1u;
        r->errors_since++;
        r->last_fail_reason = sk_mbconn_health_reason(err);
        snprintf(r->detail, sizeof(r->detail), "%s", why);
        evaluate(b, r, now);
    }
}

/* ---- diagnostics ------------------------------------------------------------------------- */

struct view_ctx {
    struct rd *r;
};

static void view_add(const struct sk_presence_event *ev, void *ctx)
{
    struct rd *r = ((struct view_ctx *)ctx)->r;
    r->view_total++;
    if (r->view_n < r->view_cap) {
        struct sk_rfid_tag_view *v = &r->view[r->view_n++];
        v->antenna = ev->antenna;
        v->epc_len = ev->epc_len;
        memcpy(v->epc, ev->epc, ev->epc_len);
        v->rssi_cdbm = ev->rssi_cdbm;
        v->reads = ev->reads;
        v->last_seen_us = ev->last_seen_us;
    }
}

/* After each poll, on the bus thread: counters, and the tag view when someone asked. */
static void note_poll(struct bus *b, struct rd *r, int rc, const struct sk_tag_read *tags)
{
    atomic_fetch_add(&r->d_polls, 1);
    atomic_fetch_add(&r->d_requests, sk_reader_requests(r->reader));
    if (rc >= 0) {
        uint64_t reads = 0;
        for (int i = 0; i < rc; i++) {
            reads += tags[i].reads;
        }
        atomic_fetch_add(&r->d_reads, reads);
        atomic_store(&r->d_ok_us, sk_clock_mono_us(b->owner->clock));
        struct sk_mbconn_stats st;
        sk_mbconn_get_stats(b->conn, &st);
        if (st.last_rtt_us > 0) {
            int64_t avg = atomic_load(&r->d_rtt_avg_us);
            atomic_store(&r->d_rtt_us, st.last_rtt_us);
            atomic_store(&r->d_rtt_avg_us, avg ? avg + (st.last_rtt_us - avg) / 8 : st.last_rtt_us);
        }
    } else {
        atomic_fetch_add(&r->d_errors, 1);
    }
    struct sk_presence_stats ps;
    sk_presence_get_stats(r->filter, &ps);
    atomic_store(&r->d_present, (uint_fast32_t)ps.present);
    if (atomic_load(&r->view_wanted)) {
        pthread_mutex_lock(&b->lock);
        if (!r->view && r->view_cap) {
            r->view = calloc(r->view_cap, sizeof(*r->view));
        }
        r->view_n = r->view_total = 0;
        if (r->view) {
            struct view_ctx vc = {r};
            sk_presence_foreach(r->filter, view_add, &vc);
        }
        r->view_us = sk_clock_mono_us(b->owner->clock);
        atomic_store(&r->view_wanted, false);
        pthread_mutex_unlock(&b->lock);
    }
}

static struct rd *find_reader(struct sk_rfid *s, const char *name, struct bus **ret_bus)
{
    for (size_t i = 0; s && i < s->n_buses; i++) {
        for (size_t j = 0; j < s->buses[i].n_readers; j++) {
            if (strcmp(s->buses[i].readers[j].name, name) == 0) {
                *ret_bus = &s->buses[i];
                return &s->buses[i].readers[j];
            }
        }
    }
    return NULL;
}

int sk_rfid_reader_stats(struct sk_rfid *s, const char *name, struct sk_rfid_reader_stats *ret)
{
    struct bus *b;
    struct rd *r = find_reader(s, name, &b);
    if (!r) {
        return -ENOENT;
    }
    ret->polls = atomic_load(&r->d_polls);
    ret->poll_errors = atomic_load(&r->d_errors);
    ret->tag_reads = atomic_load(&r->d_reads);
    ret->requests = atomic_load(&r->d_requests);
    ret->last_rtt_us = atomic_load(&r->d_rtt_us);
    ret->rtt_avg_us = atomic_load(&r->d_rtt_avg_us);
    ret->last_ok_mono_us = atomic_load(&r->d_ok_us);
    ret->present = (uint32_t)atomic_load(&r->d_present);
    return 0;
}

int sk_rfid_request_tags(struct sk_rfid *s, const char *name)
{
    struct bus *b;
    struct rd *r = find_reader(s, name, &b);
    if (!r) {
        return -ENOENT;
    }
    atomic_store(&r->view_wanted, true);
    return 0;
}

int sk_rfid_tags(struct sk_rfid *s,
                 const char *name,
                 struct sk_rfid_tag_view *buf,
                 size_t max,
                 int64_t *ret_taken_us)
{
    struct bus *b;
    struct rd *r = find_reader(s, name, &b);
    if (!r) {
        return -ENOENT;
    }
    pthread_mutex_lock(&b->lock);
    size_t n = r->view_n < max ? r->view_n : max;
    if (n) {
        memcpy(buf, r->view, n * sizeof(*buf));
    }
    int total = (int)r->view_total;
    *ret_taken_us = r->view_us;
    pthread_mutex_unlock(&b->lock);
    return total;
}

/* ---- the thread --------------------------------------------------------------------------- */

/* Sleeps until deadline (monotonic) or a wake-up, beating the heartbeat. */
static void wait_until(struct bus *b, struct sk_heartbeat *hb, int64_t deadline)
{
    for (;;) {
        int64_t now = sk_now_mono_us();
        sk_heartbeat_beat(hb, now);
        if (atomic_load(&b->stop) || now >= deadline) {
            return;
        }
        int64_t left_ms = (deadline - now + 999) / 1000;
        struct pollfd pfd = {b->wake_fd, POLLIN, 0};
        int r = poll(&pfd, 1, (int)(left_ms > 1000 ? 1000 : left_ms));
        if (r > 0) {
            uint64_t v;
            if (read(b->wake_fd, &v, sizeof(v)) < 0) {
                /* nothing to do: the stop flag is what matters */
            }
        }
    }
}

static void apply_pending(struct bus *b)
{
    pthread_mutex_lock(&b->lock);
    if (b->params_pending) {
        for (size_t i = 0; i < b->n_readers; i++) {
            for (int a = 0; a < 256; a++) {
                if (b->pending_set[i][a]) {
                    sk_presence_set_params(b->readers[i].filter, a, &b->pending[i][a]);
                }
            }
        }
        b->params_pending = false;
    }
    pthread_mutex_unlock(&b->lock);
}

static void *bus_thread(void *arg)
{
    struct bus *b = arg;
    char tname[16];
    snprintf(tname, sizeof(tname), "bus:%.11s", b->name);
    pthread_setname_np(pthread_self(), tname);
    char hbname[48];
    snprintf(hbname, sizeof(hbname), "bus:%s", b->name);
    struct sk_heartbeat *hb = sk_heartbeat_register(hbname, b->stall_us);
    b->hb = hb;
    const struct sk_clock *clock = b->owner->clock;
    b->backoff_ms = b->cfg.reconnect_min_ms;
    while (!atomic_load(&b->stop)) {
        int64_t now = sk_clock_mono_us(clock);
        sk_heartbeat_beat(hb, now);
        apply_pending(b);
        if (!sk_mbconn_is_open(b->conn)) {
            int r = sk_mbconn_connect(b->conn);
            if (r < 0) {
                char why[SK_TEXT_MAX];
                snprintf(why, sizeof(why), "cannot open %.40s: %.40s", b->url,
                         sk_mbconn_last_error(b->conn));
                const char *hint = sk_mbconn_open_hint(r, strncmp(b->url, "rtu:", 4) == 0);
                sk_complain(&b->link_complain, now, SK_LOG_WARNING, "bus", b->name,
                            "%s; retrying with back-off%s%s", why, hint ? "; " : "",
                            hint ? hint : "");
                all_down(b, r, why, now);
                /* exponential back-off with +-25 % jitter */
                int jitter = (int)(sk_xorshift32(&b->rng) % (uint32_t)(b->backoff_ms / 2 + 1));
                int delay = b->backoff_ms * 3 / 4 + jitter;
                b->backoff_ms = b->backoff_ms * 2 > b->cfg.reconnect_max_ms
                                        ? b->cfg.reconnect_max_ms
                                        : b->backoff_ms * 2;
                wait_until(b, hb, sk_now_mono_us() + (int64_t)delay * 1000);
                continue;
            }
            if (b->link_complain.active) {
                sk_complain_release(&b->link_complain, SK_LOG_NOTICE, "bus", b->name,
                                    "connected to %s again", b->url);
            } else {
                sk_log(SK_LOG_INFO, "bus", b->name, "connected to %s", b->url);
            }
            b->backoff_ms = b->cfg.reconnect_min_ms;
            for (size_t i = 0; i < b->n_readers; i++) {
                sk_reader_resync(b->readers[i].reader);
            }
        }
        int64_t cycle_start = sk_clock_mono_us(clock);
        for (size_t i = 0; i < b->n_readers && !atomic_load(&b->stop); i++) {
            struct rd *r = &b->readers[i];
            int64_t t = sk_clock_mono_us(clock);
            if (r->next_due_us > t) {
                continue;
            }
            const struct sk_tag_read *tags = NULL;
            int rc = sk_reader_poll(r->reader, b->conn, &tags);
            atomic_fetch_add(&b->owner->polls, 1);
            atomic_fetch_add(&b->owner->requests, sk_reader_requests(r->reader));
            note_poll(b, r, rc, tags);
            t = sk_clock_mono_us(clock);
            sk_heartbeat_beat(hb, t);
            if (rc >= 0) {
                poll_ok(b, r, tags, (size_t)rc, t);
            } else {
                poll_failed(b, r, rc, t);
            }
            if (!sk_mbconn_is_open(b->conn)) {
                break; /* the link went away: reconnect first */
            }
        }
        if (!sk_mbconn_is_open(b->conn)) {
            continue;
        }
        wait_until(b, hb, cycle_start + (int64_t)b->cfg.poll_interval_ms * 1000);
    }
    sk_mbconn_close(b->conn);
    b->hb = NULL;
    sk_heartbeat_unregister(hb);
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------------- */

static void free_bus(struct bus *b)
{
    for (size_t i = 0; i < b->n_readers; i++) {
        sk_reader_free(b->readers[i].reader);
        sk_presence_free(b->readers[i].filter);
        sk_profile_free(b->readers[i].profile);
        free(b->readers[i].view);
    }
    free(b->readers);
    free(b->pending);
    free(b->pending_set);
    sk_mbconn_free(b->conn);
    if (b->wake_fd >= 0) {
        close(b->wake_fd);
    }
    pthread_mutex_destroy(&b->lock);
}

struct seed_ctx {
    struct sk_presence *filter;
    int64_t now;
    size_t seeded;
};

static int seed_one(const struct sk_tag_key *key, int64_t since, void *ctx)
{
    (void)since;
    struct seed_ctx *s = ctx;
    if (key->epc_len > 0 &&
        sk_presence_seed(s->filter, key->antenna, key->epc, key->epc_len, s->now) == 1) {
        s->seeded++;
    }
    return 0;
}

static int setup_reader(struct sk_rfid *s,
                        const struct sk_config *cfg,
                        size_t ci,
                        const struct sk_tagset *present,
                        struct sk_diag *diag,
                        struct rd *r)
{
    const struct sk_reader_cfg *rc = &cfg->readers[ci];
    memset(r, 0, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", rc->name);
    r->unit = rc->unit;
    r->state = SK_HEALTH_UNKNOWN;
    r->view_cap = (size_t)rc->max_tags;
    char why[400];
    int e = load_reader_profile(cfg, ci, diag, why, sizeof(why), &r->profile);
    if (e < 0) {
        sk_diag_add(diag, "%s: readers.[%zu].profile: %s", cfg->path, ci, why);
        return e;
    }
    if ((e = sk_reader_new(r->profile, rc->unit, rc->response_timeout_ms, (size_t)rc->max_tags,
                           &r->reader)) < 0) {
        return e;
    }
    struct sk_presence_params def;
    sk_rfid_params_for(cfg, rc->name, 0, &def);
    if ((e = sk_presence_new((size_t)rc->max_tags, &def, &r->filter)) < 0) {
        return e;
    }
    for (size_t i = 0; i < cfg->n_shelves; i++) {
        const struct sk_shelf_cfg *sh = &cfg->shelves[i];
        if (strcmp(sh->reader, rc->name) == 0 && sh->antenna > 0) {
            struct sk_presence_params sp;
            sk_rfid_params_for(cfg, rc->name, sh->antenna, &sp);
            sk_presence_set_params(r->filter, sh->antenna, &sp);
        }
    }
    if (present) {
        struct seed_ctx sc = {r->filter, sk_clock_mono_us(s->clock), 0};
        sk_tagset_foreach(present, rc->name, seed_one, &sc);
        if (sc.seeded) {
            sk_log(SK_LOG_INFO, "reader", r->name, "%zu tag(s) present from before the restart",
                   sc.seeded);
        }
    }
    return 0;
}

static int setup_bus(struct sk_rfid *s,
                     const struct sk_config *cfg,
                     size_t bi,
                     const struct sk_tagset *present,
                     struct sk_diag *diag,
                     struct bus *b)
{
    const struct sk_bus_cfg *bc = &cfg->buses[bi];
    b->owner = s;
    b->wake_fd = -1;
    pthread_mutex_init(&b->lock, NULL);
    snprintf(b->name, sizeof(b->name), "%s", bc->name);
    b->cfg = *bc;
    b->stall_us = (int64_t)cfg->core.watchdog_stall_s * 1000000;
    b->rng = 0x12345u ^ (uint32_t)bi ^ (uint32_t)sk_now_mono_us();
    if (sk_rfid_bus_url(cfg, bc, b->url, sizeof(b->url), &b->rs485) < 0) {
        sk_diag_add(diag, "%s: buses.[%zu].url: no serial port for %s", cfg->path, bi, bc->url);
        return SK_ECONFIG;
    }
    struct sk_mbconn_opts mo = {
            .url = b->url,
            .rs485 = b->rs485,
            .response_timeout_ms = bc->response_timeout_ms,
            .byte_timeout_ms = bc->byte_timeout_ms,
            .pause_ms = bc->pause_ms,
            .retries = bc->retries,
    };
    int e = sk_mbconn_new(&mo, &b->conn);
    if (e < 0) {
        sk_diag_add(diag, "%s: buses.[%zu].url: cannot use %s: %s", cfg->path, bi, b->url,
                    sk_strerror(e));
        return e;
    }
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_readers; i++) {
        n += strcmp(cfg->readers[i].bus, bc->name) == 0;
    }
    b->readers = calloc(n ? n : 1, sizeof(*b->readers));
    b->pending = calloc(n ? n : 1, sizeof(*b->pending));
    b->pending_set = calloc(n ? n : 1, sizeof(*b->pending_set));
    if (!b->readers || !b->pending || !b->pending_set) {
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < cfg->n_readers; i++) {
        if (strcmp(cfg->readers[i].bus, bc->name) != 0) {
            continue;
        }
        int r = setup_reader(s, cfg, i, present, diag, &b->readers[b->n_readers++]);
        if (r < 0 && rc == 0) {
            rc = r;
        }
    }
    if (rc < 0) {
        return rc;
    }
    b->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return b->wake_fd < 0 ? -errno : 0;
}

int sk_rfid_start(const struct sk_rfid_opts *opts, struct sk_diag *diag, struct sk_rfid **ret)
{
    if (!opts || !opts->cfg || !opts->queue) {
        return -EINVAL;
    }
    const struct sk_config *cfg = opts->cfg;
    struct sk_rfid *s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->queue = opts->queue;
    s->clock = opts->clock ? opts->clock : sk_clock_system();
    s->push_timeout_ms = opts->push_timeout_ms > 0 ? opts->push_timeout_ms : 250;
    s->buses = calloc(cfg->n_buses ? cfg->n_buses : 1, sizeof(*s->buses));
    if (!s->buses) {
        free(s);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < cfg->n_buses; i++) {
        if (cfg->buses[i].remote) {
            continue; /* wired to another board of the store (buses.[].device_id) */
        }
        int r = setup_bus(s, cfg, i, opts->present, diag, &s->buses[s->n_buses++]);
        if (r < 0 && rc == 0) {
            rc = r;
        }
    }
    for (size_t i = 0; rc == 0 && i < s->n_buses; i++) {
        struct bus *b = &s->buses[i];
        int e = pthread_create(&b->thread, NULL, bus_thread, b);
        if (e != 0) {
            rc = -e;
            break;
        }
        b->started = true;
    }
    if (rc < 0) {
        sk_rfid_stop(s);
        return rc;
    }
    *ret = s;
    return 0;
}

void sk_rfid_stop(struct sk_rfid *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n_buses; i++) {
        struct bus *b = &s->buses[i];
        atomic_store(&b->stop, true);
        if (b->wake_fd >= 0) {
            uint64_t one = 1;
            if (write(b->wake_fd, &one, sizeof(one)) < 0) {
                /* the thread sees the flag within a second anyway */
            }
        }
    }
    for (size_t i = s->n_buses; i-- > 0;) {
        struct bus *b = &s->buses[i];
        if (b->started) {
            pthread_join(b->thread, NULL);
        }
        free_bus(b);
    }
    free(s->buses);
    free(s);
}

int sk_rfid_reload(struct sk_rfid *s, const struct sk_config *cfg)
{
    for (size_t i = 0; i < s->n_buses; i++) {
        struct bus *b = &s->buses[i];
        pthread_mutex_lock(&b->lock);
        for (size_t j = 0; j < b->n_readers; j++) {
            const char *name = b->readers[j].name;
            memset(b->pending_set[j], 0, sizeof(b->pending_set[j]));
            sk_rfid_params_for(cfg, name, 0, &b->pending[j][0]);
            b->pending_set[j][0] = true;
            for (size_t k = 0; k < cfg->n_shelves; k++) {
                const struct sk_shelf_cfg *sh = &cfg->shelves[k];
                if (strcmp(sh->reader, name) == 0 && sh->antenna > 0) {
                    sk_rfid_params_for(cfg, name, sh->antenna, &b->pending[j][sh->antenna]);
                    b->pending_set[j][sh->antenna] = true;
                }
            }
        }
        b->params_pending = true;
        pthread_mutex_unlock(&b->lock);
    }
    return 0;
}

void sk_rfid_get_stats(struct sk_rfid *s, struct sk_rfid_stats *ret)
{
    ret->polls = atomic_load(&s->polls);
    ret->poll_errors = atomic_load(&s->poll_errors);
    ret->arrivals = atomic_load(&s->arrivals);
    ret->departures = atomic_load(&s->departures);
    ret->health = atomic_load(&s->health);
    ret->push_waits = atomic_load(&s->push_waits);
    ret->push_failed = atomic_load(&s->push_failed);
    ret->requests = atomic_load(&s->requests);
}
