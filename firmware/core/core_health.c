/* SPDX-License-Identifier: MIT */
/* The core's health bookkeeping: per reader and camera state, the counters, the log lines and
 * the history events event/reader (rate-limited for a flapping reader) and event/flow. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

static struct source_health *source(struct sk_core *c, const char *name, bool create)
{
    for (size_t i = 0; i < c->n_sources; i++) {
        if (strcmp(c->sources[i].name, name) == 0) {
            return &c->sources[i];
        }
    }
    if (!create || c->n_sources == MAX_SOURCES) {
        return NULL;
    }
    struct source_health *s = &c->sources[c->n_sources++];
    memset(s, 0, sizeof(*s));
    snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

static void recount(struct sk_core *c)
{
    c->stats.readers_up = c->stats.readers_degraded = c->stats.readers_down = 0;
    c->stats.cameras_up = c->stats.cameras_degraded = c->stats.cameras_down = 0;
    for (size_t i = 0; i < c->n_sources; i++) {
        uint32_t *up = c->sources[i].camera ? &c->stats.cameras_up : &c->stats.readers_up;
        switch (c->sources[i].state) {
        case SK_HEALTH_UP:
            up[0]++;
            break;
        case SK_HEALTH_DEGRADED:
            up[1]++;
            break;
        case SK_HEALTH_DOWN:
            up[2]++;
            break;
        default:
            break;
        }
    }
}

/* Writes one cJSON object (consumed) as an outbox event of the open transaction. */
static int record_event(struct sk_core *c, const char *topic, cJSON *fields, int64_t wall_us)
{
    int r = fields ? sk_ledger_event(c->ledger, topic, NULL, fields, wall_us, NULL) : -ENOMEM;
    cJSON_Delete(fields);
    return r;
}

/* event/reader: the history of a reader's state (the retained status topic holds only the
 * latest). previous is the state recorded before, unknown after a start. */
static int
record_reader(struct sk_core *c, const struct sk_obs *obs, uint8_t previous, uint32_t suppressed)
{
    const struct sk_obs_health *h = &obs->u.health;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "reader", obs->source);
        cJSON_AddStringToObject(o, "state", sk_health_state_name(h->state));
        if (previous != SK_HEALTH_UNKNOWN) {
            cJSON_AddStringToObject(o, "previous", sk_health_state_name(previous));
        }
        cJSON_AddStringToObject(o, "reason", sk_health_reason_name(h->reason));
        if (h->detail[0]) {
            cJSON_AddStringToObject(o, "detail", h->detail);
        }
        cJSON_AddNumberToObject(o, "errors", h->errors);
        if (suppressed) {
            cJSON_AddNumberToObject(o, "suppressed", suppressed);
        }
    }
    return record_event(c, "event/reader", o, obs->wall_us);
}

/* event/flow: a camera's counts over one flow interval (vision.flow_interval_s). Idle
 * intervals (nobody crossed, nobody in view) are not recorded: the cloud reads a missing
 * interval as zero. One event per observation, so a retried transaction writes it once. */
int core_record_flow(struct sk_core *c, const struct sk_obs *obs)
{
    const struct sk_obs_flow *f = &obs->u.flow;
    if (!c->ledger || (f->entries == 0 && f->exits == 0 && f->occupancy == 0)) {
        return 0;
    }
    int64_t span_us = f->span_ms > 0 ? (int64_t)f->span_ms * 1000
                                     : (int64_t)c->cfg->vision.flow_interval_s * 1000000;
    if (span_us <= 0) {
        span_us = 1000000;
    }
    char from[32], to[32];
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddStringToObject(o, "camera", obs->source);
        cJSON_AddNullToObject(o, "line");
        cJSON_AddNullToObject(o, "zone");
        cJSON_AddStringToObject(o, "from",
                                sk_format_time_utc(obs->wall_us - span_us, from, sizeof(from)));
        cJSON_AddStringToObject(o, "to", sk_format_time_utc(obs->wall_us, to, sizeof(to)));
        cJSON_AddNumberToObject(o, "period_s", (double)span_us / 1e6);
        cJSON_AddNumberToObject(o, "entries", f->entries);
        cJSON_AddNumberToObject(o, "exits", f->exits);
        cJSON_AddNumberToObject(o, "occupancy", f->occupancy);
        cJSON_AddNullToObject(o, "dwell_median_s");
    }
    return record_event(c, "event/flow", o, obs->wall_us);
}

/* Takes a token of the source's bucket (refilled with time); false when it is empty. */
static bool take_token(struct sk_core *c, struct source_health *s)
{
    return sk_bucket_take(&s->bucket, sk_clock_mono_us(c->clock), 1, READER_EVENT_REFILL_US,
                          READER_EVENT_BURST);
}

static void log_health(const struct sk_obs *obs, bool camera, uint32_t suppressed)
{
    const struct sk_obs_health *h = &obs->u.health;
    enum sk_log_level lvl = h->state == SK_HEALTH_UP ? SK_LOG_NOTICE : SK_LOG_WARNING;
    char extra[64] = "";
    if (suppressed) {
        snprintf(extra, sizeof(extra), " [%" PRIu32 " earlier change(s) not logged: flapping]",
                 suppressed);
    }
    if (h->reason) {
        sk_log(lvl, camera ? "camera" : "reader", obs->source, "%s (%s%s%s)%s",
               sk_health_state_name(h->state), sk_health_reason_name(h->reason),
               h->detail[0] ? ": " : "", h->detail, extra);
    } else {
        sk_log(lvl, camera ? "camera" : "reader", obs->source, "%s%s",
               sk_health_state_name(h->state), extra);
    }
}

/*
 * A health report: bookkeeping, the log line, and for readers the event/reader history. A
 * reader that flaps is limited (take_token) in both the log and the outbox: the changes
 * beyond the bucket are counted and reported with the next one written.
 */
int core_handle_health(struct sk_core *c, const struct sk_obs *obs, bool camera)
{
    struct source_health *s = source(c, obs->source, true);
    if (!s) {
        return 0;
    }
    const struct sk_obs_health *h = &obs->u.health;
    bool changed = s->state != h->state;
    s->state = h->state;
    s->camera = camera;
    s->last = *h;
    s->last_wall_us = obs->wall_us;
    recount(c);
    if (camera) {
        if (changed) {
            log_health(obs, true, 0);
        }
        return 0;
    }
    if (!changed && h->state == s->recorded) {
        return 0;
    }
    /* A change back to the state the last event left it in writes nothing: counted. An
     * outage (down from anything else) is always written and logged, token or not: a
     * flapping reader is bounded all the same, as the next down must wait for its recovery
     * to be written (at most a token a minute, core_health_tick). */
    bool outage = h->state == SK_HEALTH_DOWN && s->recorded != SK_HEALTH_DOWN;
    if (outage) {
        (void)take_token(c, s);
    } else if (h->state == s->recorded || !take_token(c, s)) {
        s->suppressed += changed;
        if (changed) {
            sk_log(SK_LOG_DEBUG, "reader", obs->source, "%s (not logged at warning: flapping)",
                   sk_health_state_name(h->state));
        }
        return 0;
    }
    if (changed || s->suppressed) {
        log_health(obs, false, s->suppressed);
    }
    if (c->ledger) {
        int r = record_reader(c, obs, s->recorded, s->suppressed);
        if (r < 0) {
            s->bucket.tokens += 1; /* the retry writes it */
            return r;
        }
    }
    s->suppressed = 0;
    s->recorded = h->state;
    return 0;
}

void core_health_tick(struct sk_core *c)
{
    for (size_t i = 0; i < c->n_sources; i++) {
        struct source_health *s = &c->sources[i];
        if (s->camera || !s->bucket.started || s->state == s->recorded ||
            s->state == SK_HEALTH_UNKNOWN || s->last.state != s->state) {
            continue;
        }
        /* Peek before taking: a token is spent only on a write. */
        int64_t now = sk_clock_mono_us(c->clock);
        if (sk_bucket_peek(&s->bucket, now, 1, READER_EVENT_REFILL_US) < 1 ||
            (c->ledger && sk_ledger_is_full(c->ledger))) {
            continue;
        }
        struct sk_obs obs;
        memset(&obs, 0, sizeof(obs));
        obs.type = SK_OBS_READER_HEALTH;
        obs.wall_us = sk_clock_wall_us(c->clock);
        obs.mono_us = now;
        snprintf(obs.source, sizeof(obs.source), "%s", s->name);
        obs.u.health = s->last;
        (void)take_token(c, s);
        log_health(&obs, false, s->suppressed);
        int r = 0;
        if (c->ledger && (r = sk_ledger_begin(c->ledger)) >= 0) {
            r = record_reader(c, &obs, s->recorded, s->suppressed);
            r = r < 0 ? r : sk_ledger_commit(c->ledger);
            if (r < 0 && sk_ledger_depth(c->ledger) > 0) {
                sk_ledger_rollback(c->ledger);
            }
        }
        if (r < 0) {
            s->bucket.tokens += 1; /* the next tick tries again */
            continue;
        }
        s->suppressed = 0;
        s->recorded = s->state;
    }
}

int sk_core_source_health(const struct sk_core *core, const char *name)
{
    struct source_health *s = source((struct sk_core *)core, name, false);
    return s ? s->state : SK_HEALTH_UNKNOWN;
}
