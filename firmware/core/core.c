/* SPDX-License-Identifier: MIT */
/* The core state machine's dispatcher: one observation in, to the part that handles it (tags
 * and the fusion engine here, health in core_health.c, commands in core_commands.c), and the
 * tick (fusion deadlines, the census in core_census.c). */
#include "storekeeper/core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core_internal.h"
#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"
#include "storekeeper/record.h"

/* The fusion engine's facts go into the ledger, then to the listener (replay, tests). */
static int on_fact(void *ctx, const struct sk_fusion_event *ev)
{
    struct sk_core *c = ctx;
    int r = c->ledger ? sk_fusion_ledger_record(c->ledger, ev) : 0;
    if (r == 0 && c->listener) {
        r = c->listener(c->listener_ctx, ev);
    }
    return r;
}

/* After fusion ran inside the caller's transaction: its changed state joins it. */
static int fusion_done(struct sk_core *c, int r)
{
    if (r == 0 && c->ledger && sk_fusion_dirty(c->fusion)) {
        r = sk_fusion_ledger_save(c->fusion, c->ledger, false);
    }
    return r;
}

/* Restores the fusion engine from the ledger (start, or after a rolled-back write). */
static void fusion_load(struct sk_core *c)
{
    c->loaded_mono_us = sk_clock_mono_us(c->clock);
    c->loaded_wall_us = sk_clock_wall_us(c->clock);
    struct sk_fusion_catalog cat = sk_fusion_ledger_catalog(c->ledger);
    sk_fusion_set_catalog(c->fusion, &cat);
    sk_fusion_load_present(c->fusion, c->present);
    int r = sk_fusion_ledger_load(c->fusion, c->ledger, c->cfg, c->clock);
    if (r < 0) {
        sk_log(SK_LOG_ERR, "fusion", NULL,
               "cannot restore open sessions from the ledger: %s (%s); starting without them",
               sk_strerror(r), sk_ledger_errmsg(c->ledger));
    } else if (r > 0) {
        sk_log(SK_LOG_INFO, "fusion", NULL, "%d open session(s) restored", r);
    }
}

int sk_core_new(const struct sk_config *cfg,
                const struct sk_clock *clock,
                struct sk_core **ret_core)
{
    struct sk_core *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->cfg = cfg;
    c->clock = clock;
    size_t max = cfg->core.max_present_tags > 0 ? (size_t)cfg->core.max_present_tags : 200000;
    int r = sk_tagset_new(max, &c->present);
    if (r == 0) {
        r = sk_fusion_new(cfg, clock, NULL, on_fact, c, &c->fusion);
    }
    if (r < 0) {
        sk_core_free(c);
        return r;
    }
    c->stats.started_mono_us = sk_clock_mono_us(clock);
    *ret_core = c;
    return 0;
}

void sk_core_free(struct sk_core *core)
{
    if (core) {
        sk_core_replies_undo(core, 0);
        free(core->replies);
        sk_tagset_free(core->present);
        sk_fusion_free(core->fusion);
        free(core);
    }
}

struct sk_tagset *sk_core_present(struct sk_core *core)
{
    return core->present;
}

int sk_core_set_ledger(struct sk_core *core, struct sk_ledger *ledger)
{
    core->ledger = ledger;
    for (size_t i = 0; i < core->n_sources; i++) {
        core->sources[i].recorded = SK_HEALTH_UNKNOWN; /* what was recorded may be undone */
    }
    sk_tagset_clear(core->present);
    if (!ledger) {
        sk_fusion_set_catalog(core->fusion, NULL);
        sk_fusion_load_present(core->fusion, core->present);
        return 0;
    }
    int r = sk_ledger_present_load(ledger, core->present);
    if (r < 0) {
        sk_tagset_clear(core->present);
    }
    fusion_load(core);
    return r;
}

static int handle_tag(struct sk_core *c, const struct sk_obs *obs)
{
    struct sk_tag_key k;
    sk_tag_key_set(&k, obs->source, obs->u.tag.antenna, obs->u.tag.epc, obs->u.tag.epc_len);
    int r;
    if (obs->type == SK_OBS_TAG_DEPARTED) {
        r = sk_tagset_remove(c->present, &k);
        if (r == 1 && c->ledger) {
            r = sk_ledger_present_remove(c->ledger, &k);
        }
        return r < 0 ? r : 0;
    }
    r = sk_tagset_add(c->present, &k, obs->wall_us);
    if (r == -ENOSPC) {
        if (c->stats.present_overflow++ == 0) {
            sk_log(SK_LOG_ERR, "core", NULL,
                   "present-tag set is full (core.max_present_tags = %zu); arrivals are no "
                   "longer tracked",
                   sk_tagset_count(c->present));
        }
        return 0;
    }
    if (r == 1 && c->ledger) {
        r = sk_ledger_present_add(c->ledger, &k, obs->wall_us);
    }
    return r < 0 ? r : 0;
}

void sk_core_set_config(struct sk_core *core, const struct sk_config *cfg)
{
    core->cfg = cfg;
    sk_fusion_set_config(core->fusion, cfg);
}

void sk_core_loaded_at(const struct sk_core *core, int64_t *ret_mono_us, int64_t *ret_wall_us)
{
    *ret_mono_us = core->loaded_mono_us;
    *ret_wall_us = core->loaded_wall_us;
}

struct sk_fusion *sk_core_fusion(struct sk_core *core)
{
    return core->fusion;
}

void sk_core_set_listener(struct sk_core *core, sk_fusion_emit_cb cb, void *ctx)
{
    core->listener = cb;
    core->listener_ctx = ctx;
}

static int handle(struct sk_core *core, const struct sk_obs *obs);

/*
 * A satellite's core decides nothing: each observation of its buses and cameras becomes a row
 * of its outbox (sat/obs, the record format), in this transaction, which the MQTT link carries
 * to the hub; tags also keep the present set its presence filters start from after a restart.
 * The outbox is the disk-backed buffer, bounded by satellite.buffer_max: beyond it new
 * observations are dropped and counted.
 */
static int forward(struct sk_core *c, const struct sk_obs *obs)
{
    const struct sk_satellite_cfg *sc = &c->cfg->satellite;
    int64_t now = sk_clock_mono_us(c->clock);
    if (now - c->buffer_checked_us >= 1000000 || c->buffer_checked_us == 0) {
        struct sk_outbox_stats st;
        if (sk_ledger_outbox_stats(c->ledger, &st) == 0) {
            c->stats.buffer_pending = st.pending;
            c->buffer_added = 0;
            c->buffer_checked_us = now;
        }
    }
    if (c->stats.buffer_pending + c->buffer_added >= sc->buffer_max) {
        c->stats.buffer_dropped++;
        sk_complain(&c->buffer_complaint, now, SK_LOG_ERR, "satellite", NULL,
                    "%" PRId64 " observations wait for hub %s (satellite.buffer_max): new ones "
                    "are dropped (%" PRIu64 " so far)",
                    c->stats.buffer_pending + c->buffer_added, sc->hub, c->stats.buffer_dropped);
        return 0;
    }
    /* Numbered 1, 2, 3, ... in this ledger (kept in it with the row): the hub applies them in
     * that order, and other rows of the outbox (an overflow alarm) do not look like gaps. */
    struct sk_ledger_info info;
    int64_t n = 0, mark = 0;
    int r = sk_ledger_get_info(c->ledger, &info);
    if (r == 0) {
        r = sk_ledger_origin_seq(c->ledger, c->cfg->device_id, info.ledger_id, &n, &mark);
    }
    if (r < 0) {
        return r;
    }
    cJSON *f = cJSON_CreateObject();
    cJSON *o = sk_record_obs_json(obs);
    if (!f || !o || !cJSON_AddStringToObject(f, "hub", sc->hub) ||
        !cJSON_AddNumberToObject(f, "n", (double)(n + 1))) {
        cJSON_Delete(f);
        cJSON_Delete(o);
        return -ENOMEM;
    }
    cJSON_AddItemToObject(f, "obs", o);
    int64_t seq = 0;
    r = sk_ledger_event(c->ledger, "sat/obs", "storekeeper/v1/sat/obs", f, obs->wall_us, &seq);
    cJSON_Delete(f);
    if (r == 0) {
        r = sk_ledger_set_origin_seq(c->ledger, c->cfg->device_id, info.ledger_id, n + 1, seq);
    }
    if (r == 0 && (obs->type == SK_OBS_TAG_ARRIVED || obs->type == SK_OBS_TAG_DEPARTED)) {
        r = handle_tag(c, obs);
    }
    if (r == 0) {
        c->stats.forwarded++;
        c->buffer_added++;
    }
    return r;
}

/*
 * Observations another board of the store made (a satellite's) are applied in their order,
 * each once: the ledger keeps the number of the last one applied, in this transaction. A
 * repeat (sent again after a restart of this hub) changes nothing; one that comes after a gap
 * (those before it were lost between the broker and a commit here) is not applied either: the
 * satellite sends everything after the last one applied again (go-back-N), in order.
 */
int sk_core_handle(struct sk_core *core, const struct sk_obs *obs)
{
    if (!obs->origin[0] || !core->ledger) {
        return handle(core, obs);
    }
    int64_t applied = 0, mark = 0;
    int r = sk_ledger_origin_seq(core->ledger, obs->origin, obs->origin_ledger, &applied, &mark);
    if (r < 0) {
        return r;
    }
    if (obs->origin_seq <= applied) {
        core->stats.origin_repeats++;
        return 0;
    }
    if (obs->origin_seq > applied + 1) {
        core->stats.origin_gaps++;
        return 0;
    }
    r = handle(core, obs);
    if (r == 0) {
        r = sk_ledger_set_origin_seq(core->ledger, obs->origin, obs->origin_ledger, obs->origin_seq,
                                     obs->origin_mark);
    }
    return r;
}

static int handle(struct sk_core *core, const struct sk_obs *obs)
{
    if (obs->type <= SK_OBS_NONE || obs->type >= SK_OBS_TYPE_COUNT) {
        sk_log(SK_LOG_WARNING, "core", NULL, "dropping observation of unknown type %u", obs->type);
        return -EINVAL;
    }
    if (core->cfg->role == SK_ROLE_SATELLITE && core->ledger) {
        core->stats.handled[obs->type]++;
        return sk_obs_forwarded(obs->type) ? forward(core, obs) : 0;
    }
    core->stats.handled[obs->type]++;
    if (sk_obs_of_track(obs->type) || obs->type == SK_OBS_REACH) {
        sk_log(SK_LOG_DEBUG, "core", obs->source, "%s", sk_obs_type_name(obs->type));
        return fusion_done(core, sk_fusion_handle(core->fusion, obs));
    }
    int r = 0;
    switch (obs->type) {
    case SK_OBS_TAG_ARRIVED:
    case SK_OBS_TAG_DEPARTED:
        r = handle_tag(core, obs);
        if (r == 0) {
            r = fusion_done(core, sk_fusion_handle(core->fusion, obs));
        }
        break;
    case SK_OBS_READER_HEALTH:
    case SK_OBS_CAMERA_HEALTH:
        r = core_handle_health(core, obs, obs->type == SK_OBS_CAMERA_HEALTH);
        if (r == 0) {
            /* attribution asks whether a shelf's reader and camera were up meanwhile */
            r = sk_fusion_handle(core->fusion, obs);
        }
        break;
    case SK_OBS_FLOW:
        r = core_record_flow(core, obs);
        break;
    case SK_OBS_MQTT_COMMAND:
        r = fusion_done(core, core_handle_command(core, obs)); /* a bind or restock changed it */
        break;
    default:
        sk_log(SK_LOG_DEBUG, "core", obs->source[0] ? obs->source : NULL, "%s",
               sk_obs_type_name(obs->type));
        break;
    }
    return r;
}

/* The fusion engine's deadlines (checkouts, undecided departures, timeouts) in a transaction
 * of their own; a failure rolls back and restores the engine, and the next tick retries. */
static void fusion_tick(struct sk_core *c)
{
    if (!c->ledger) {
        sk_fusion_tick(c->fusion);
        return;
    }
    if (sk_ledger_is_full(c->ledger)) {
        return; /* nothing could be recorded: decisions wait for room */
    }
    int r = sk_ledger_begin(c->ledger);
    if (r >= 0) {
        r = fusion_done(c, sk_fusion_tick(c->fusion));
        r = r < 0 ? r : sk_ledger_commit(c->ledger);
        if (r < 0 && sk_ledger_depth(c->ledger) > 0) {
            sk_ledger_rollback(c->ledger);
        }
    }
    if (r < 0) {
        sk_complain(&c->fusion_complaint, sk_clock_mono_us(c->clock), SK_LOG_ERR, "fusion", NULL,
                    "cannot record what the tick decided: %s (%s); retrying", sk_strerror(r),
                    sk_ledger_errmsg(c->ledger));
        fusion_load(c);
        return;
    }
    sk_complain_release(&c->fusion_complaint, SK_LOG_NOTICE, "fusion", NULL, "recording again");
}

void sk_core_tick(struct sk_core *core)
{
    core->stats.ticks++;
    if (core->cfg->role == SK_ROLE_SATELLITE) {
        return; /* the hub decides; a satellite forwards what its buses and cameras see */
    }
    fusion_tick(core);
    core_census_tick(core);
    core_health_tick(core);
}

void sk_core_get_stats(const struct sk_core *core, struct sk_core_stats *ret_stats)
{
    *ret_stats = core->stats;
}
