/* SPDX-License-Identifier: MIT */
/* The core state machine: health bookkeeping, counters, the history events (event/reader,
 * event/flow) and the fusion engine's entry points. */
#include "storekeeper/core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "storekeeper/clock.h"
#include "storekeeper/error.h"
#include "storekeeper/fusion.h"
#include "storekeeper/ledger.h"
#include "storekeeper/log.h"

#define MAX_SOURCES 512

struct source_health {
    char name[SK_NAME_MAX];
    uint8_t state;
    bool camera;
    /* The state the last event/reader recorded; SK_HEALTH_UNKNOWN after a start or a
     * rolled-back write, so a change is recorded again when its transaction is retried. */
    uint8_t recorded;
    /* A flapping reader must not flood the outbox or the log: a token bucket of
     * READER_EVENT_BURST changes refilled one per READER_EVENT_REFILL_US; changes beyond it
     * are counted and the count rides on the next one written ("suppressed"). */
    double tokens;
    int64_t refilled_us;
    uint32_t suppressed;
    bool bucket; /* tokens initialised */
};

#define READER_EVENT_BURST     6
#define READER_EVENT_REFILL_US 60000000LL

struct sk_core {
    const struct sk_config *cfg;
    struct sk_ledger *ledger;
    int64_t next_census_us;
    struct sk_complain census_complaint;
    struct sk_tagset *present;
    const struct sk_clock *clock;
    struct sk_core_stats stats;
    struct source_health sources[MAX_SOURCES];
    size_t n_sources;
    struct sk_fusion *fusion;               /* who took what (fusion.c) */
    int64_t loaded_mono_us, loaded_wall_us; /* when fusion last loaded its state */
    struct sk_complain fusion_complaint;
    sk_fusion_emit_cb listener;
    void *listener_ctx;
    sk_core_command_cb command_listener;
    void *command_ctx;
    /* Outcomes of commands handled in the open ledger transaction: told to the command
     * listener once it commits (sk_core_replies_flush), dropped when it rolls back. */
    struct core_reply *replies;
    size_t n_replies, cap_replies;
};

struct core_reply {
    struct sk_obs obs; /* the command's observation: reply topic and correlation (no payload) */
    struct sk_cmd cmd; /* kind, request_id, identity (nothing it owns) */
    struct sk_cmd_result res;
};

static int reject(struct sk_cmd_result *r,
                  enum sk_cmd_error_code code,
                  const char *field,
                  const char *message);

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
static int record_flow(struct sk_core *c, const struct sk_obs *obs)
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
    int64_t now = sk_clock_mono_us(c->clock);
    if (!s->bucket) {
        s->bucket = true;
        s->tokens = READER_EVENT_BURST;
    } else if (now > s->refilled_us) {
        s->tokens += (double)(now - s->refilled_us) / (double)READER_EVENT_REFILL_US;
        s->tokens = s->tokens > READER_EVENT_BURST ? READER_EVENT_BURST : s->tokens;
    }
    s->refilled_us = now;
    if (s->tokens < 1) {
        return false;
    }
    s->tokens -= 1;
    return true;
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
static int handle_health(struct sk_core *c, const struct sk_obs *obs, bool camera)
{
    struct source_health *s = source(c, obs->source, true);
    if (!s) {
        return 0;
    }
    const struct sk_obs_health *h = &obs->u.health;
    bool changed = s->state != h->state;
    s->state = h->state;
    s->camera = camera;
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
    /* A change back to the state the last event left it in writes nothing: counted. */
    if (h->state == s->recorded || !take_token(c, s)) {
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
            s->tokens += 1; /* the retry writes it */
            return r;
        }
    }
    s->suppressed = 0;
    s->recorded = h->state;
    return 0;
}

/* Keeps a command's outcome until its transaction commits. Returns 0 or -ENOMEM. */
static int queue_reply(struct sk_core *c,
                       const struct sk_obs *obs,
                       const struct sk_cmd *cmd,
                       const struct sk_cmd_result *res)
{
    if (!c->command_listener) {
        return 0;
    }
    if (c->n_replies == c->cap_replies) {
        size_t cap = c->cap_replies ? c->cap_replies * 2 : 8;
        struct core_reply *p = realloc(c->replies, cap * sizeof(*p));
        if (!p) {
            return -ENOMEM;
        }
        c->replies = p;
        c->cap_replies = cap;
    }
    struct core_reply *q = &c->replies[c->n_replies];
    memset(q, 0, sizeof(*q));
    q->obs = *obs;
    struct sk_obs_command *oc = &q->obs.u.command;
    oc->payload = NULL;
    oc->response_topic =
            obs->u.command.response_topic ? strdup(obs->u.command.response_topic) : NULL;
    oc->correlation =
            obs->u.command.correlation_len ? malloc(obs->u.command.correlation_len) : NULL;
    if ((obs->u.command.response_topic && !oc->response_topic) ||
        (obs->u.command.correlation_len && !oc->correlation)) {
        sk_obs_release(&q->obs);
        return -ENOMEM;
    }
    if (oc->correlation) {
        memcpy(oc->correlation, obs->u.command.correlation, obs->u.command.correlation_len);
    }
    q->cmd.kind = cmd->kind;
    memcpy(q->cmd.request_id, cmd->request_id, sizeof(q->cmd.request_id));
    memcpy(q->cmd.identity, cmd->identity, sizeof(q->cmd.identity));
    q->res = *res;
    c->n_replies++;
    return 0;
}

size_t sk_core_replies_mark(const struct sk_core *core)
{
    return core->n_replies;
}

void sk_core_replies_undo(struct sk_core *core, size_t mark)
{
    while (core->n_replies > mark) {
        sk_obs_release(&core->replies[--core->n_replies].obs);
    }
}

void sk_core_replies_flush(struct sk_core *core)
{
    for (size_t i = 0; i < core->n_replies; i++) {
        struct core_reply *q = &core->replies[i];
        if (core->command_listener) {
            core->command_listener(core->command_ctx, &q->obs, &q->cmd, &q->res);
        }
        sk_obs_release(&q->obs);
    }
    core->n_replies = 0;
}

/* Who sent a command: the topic's identity (the broker's ACL vouches for it), else the
 * payload's (or nobody). Request ids count per sender. */
static const char *sender(const struct sk_obs_command *oc, const struct sk_cmd *cmd)
{
    return (oc->flags & SK_CMD_OBS_FROM_TOPIC) ? oc->identity : cmd->identity;
}

/*
 * Exactly once: a command with a request_id applied before by the same sender is answered
 * with the outcome recorded then, and not applied again; one applied now is recorded with its
 * outcome in the same transaction. A request id reused for another command is refused. Busy
 * is not recorded: it asks the sender to try again, and the retry must be applied.
 */
static int apply_once(struct sk_core *c,
                      const struct sk_obs_command *oc,
                      const struct sk_cmd *cmd,
                      struct sk_cmd_result *res)
{
    if (!c->ledger || !cmd->request_id[0]) {
        return sk_core_command(c, cmd, res);
    }
    const char *who = sender(oc, cmd);
    uint64_t fp = sk_cmd_fingerprint(oc->name, oc->payload, oc->payload ? oc->payload_len : 0);
    struct sk_ledger_request rec;
    int found = sk_ledger_request_get(c->ledger, who, cmd->request_id, &rec);
    if (found < 0) {
        return found;
    }
    if (found) {
        char when[40];
        sk_format_time_utc(rec.recorded_us, when, sizeof(when));
        if (strcmp(rec.command, oc->name) != 0 || rec.fingerprint != fp) {
            char msg[192];
            snprintf(msg, sizeof(msg),
                     "request_id was used for another %s command at %s; a new request needs a "
                     "new request_id",
                     rec.command, when);
            return reject(res, SK_CMD_ERR_INVALID, "request_id", msg);
        }
        res->repeat = true;
        res->first_wall_us = rec.recorded_us;
        if (sk_cmd_result_from_json(rec.result, res) < 0) {
            return reject(res, SK_CMD_ERR_FAILED, "request_id",
                          "this request was applied before, but its recorded reply cannot be "
                          "read; it is not applied again");
        }
        res->repeat = true;
        sk_log(SK_LOG_INFO, "core", NULL,
               "command %s request %s%s%s: applied at %s; answered again, not applied again",
               oc->name, cmd->request_id, who[0] ? " from " : "", who, when);
        return 0;
    }
    int r = sk_core_command(c, cmd, res);
    if (r < 0 || (res->status == SK_CMD_REJECTED && res->error.code == SK_CMD_ERR_BUSY)) {
        return r;
    }
    memset(&rec, 0, sizeof(rec));
    snprintf(rec.command, sizeof(rec.command), "%s", oc->name);
    rec.fingerprint = fp;
    char *text = sk_cmd_result_to_json(res);
    if (!text) {
        return -ENOMEM;
    }
    snprintf(rec.result, sizeof(rec.result), "%s", text);
    free(text);
    return sk_ledger_request_put(c->ledger, who, cmd->request_id, &rec,
                                 c->cfg->mqtt.request_keep_max);
}

static int handle_command(struct sk_core *c, const struct sk_obs *obs)
{
    const struct sk_obs_command *oc = &obs->u.command;
    struct sk_cmd cmd;
    struct sk_cmd_result res;
    memset(&res, 0, sizeof(res));
    res.count = -1;
    size_t max =
            c->cfg->mqtt.command_max_bytes > 0 ? (size_t)c->cfg->mqtt.command_max_bytes : 65536;
    int r = 0;
    if (sk_cmd_parse(oc->name, oc->payload, oc->payload ? oc->payload_len : 0, max, c->cfg, &cmd,
                     &res.error) < 0) {
        /* Only a recorded log replayed without the link gets here: the link answers these. */
        res.status = SK_CMD_REJECTED;
        snprintf(res.detail, sizeof(res.detail), "%s", res.error.message);
    } else if (!sk_cmd_changes_state(cmd.kind) || cmd.kind == SK_CMD_CONFIG_RELOAD) {
        sk_cmd_clear(&cmd);
        return 0; /* answered by the link (config_reload: by the runtime) */
    } else {
        r = apply_once(c, oc, &cmd, &res);
    }
    if (r == 0) {
        r = queue_reply(c, obs, &cmd, &res);
    }
    sk_cmd_clear(&cmd);
    return r;
}

int sk_core_handle(struct sk_core *core, const struct sk_obs *obs)
{
    if (obs->type <= SK_OBS_NONE || obs->type >= SK_OBS_TYPE_COUNT) {
        sk_log(SK_LOG_WARNING, "core", NULL, "dropping observation of unknown type %u", obs->type);
        return -EINVAL;
    }
    core->stats.handled[obs->type]++;
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
        r = handle_health(core, obs, false);
        break;
    case SK_OBS_CAMERA_HEALTH:
        r = handle_health(core, obs, true);
        break;
    case SK_OBS_FLOW:
        r = record_flow(core, obs);
        break;
    case SK_OBS_TRACK_NEW:
    case SK_OBS_TRACK_LOST:
    case SK_OBS_ZONE_ENTER:
    case SK_OBS_ZONE_LEAVE:
    case SK_OBS_LINE_CROSS:
        sk_log(SK_LOG_DEBUG, "core", obs->source, "%s", sk_obs_type_name(obs->type));
        r = fusion_done(core, sk_fusion_handle(core->fusion, obs));
        break;
    case SK_OBS_MQTT_COMMAND:
        r = fusion_done(core, handle_command(core, obs)); /* a bind or restock changed it */
        break;
    default:
        sk_log(SK_LOG_DEBUG, "core", obs->source[0] ? obs->source : NULL, "%s",
               sk_obs_type_name(obs->type));
        break;
    }
    return r;
}

static bool reader_up(const struct sk_shelf_cfg *shelf, void *ctx)
{
    return sk_core_source_health(ctx, shelf->reader) == SK_HEALTH_UP;
}

int sk_core_census(struct sk_core *core, struct sk_census_result *ret)
{
    if (!core->ledger) {
        return -ENODEV;
    }
    struct sk_census_opts opts = {.usable = reader_up, .ctx = core};
    struct sk_census_result res;
    int r = sk_ledger_census(core->ledger, core->cfg, core->present, &opts, NULL, NULL, &res);
    int64_t now = sk_clock_mono_us(core->clock);
    if (r < 0) {
        core->stats.census_failures++;
        sk_complain(&core->census_complaint, now, SK_LOG_WARNING, "census", NULL, "failed: %s (%s)",
                    sk_strerror(r), sk_ledger_errmsg(core->ledger));
        return r;
    }
    sk_complain_release(&core->census_complaint, SK_LOG_NOTICE, "census", NULL, "works again");
    core->stats.censuses++;
    core->stats.last_census = res;
    enum sk_log_level lvl = res.opened + res.changed + res.resolved ? SK_LOG_INFO : SK_LOG_DEBUG;
    sk_log(lvl, "census", NULL,
           "%zu shelf(ves) checked, %zu left out (reader not up), %zu tag(s), %zu unknown: "
           "%zu opened, %zu changed, %zu resolved, %zu open (%" PRId64 " ms)",
           res.shelves, res.shelves_skipped, res.tags, res.unknown_tags, res.opened, res.changed,
           res.resolved, res.open, res.duration_us / 1000);
    if (ret) {
        *ret = res;
    }
    return 0;
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
    fusion_tick(core);
    int interval = core->cfg->ledger.census_interval_s;
    if (!core->ledger || interval <= 0 || sk_ledger_is_full(core->ledger)) {
        return;
    }
    int64_t now = sk_clock_mono_us(core->clock);
    if (core->next_census_us == 0 || core->next_census_us > now + (int64_t)interval * 1000000) {
        /* The first census waits one interval: presence filters need time to settle. */
        core->next_census_us = now + (int64_t)interval * 1000000;
    }
    if (now >= core->next_census_us) {
        core->next_census_us = now + (int64_t)interval * 1000000;
        sk_core_census(core, NULL);
    }
}

void sk_core_get_stats(const struct sk_core *core, struct sk_core_stats *ret_stats)
{
    *ret_stats = core->stats;
}

int sk_core_source_health(const struct sk_core *core, const char *name)
{
    struct source_health *s = source((struct sk_core *)core, name, false);
    return s ? s->state : SK_HEALTH_UNKNOWN;
}

void sk_core_set_command_listener(struct sk_core *core, sk_core_command_cb cb, void *ctx)
{
    core->command_listener = cb;
    core->command_ctx = ctx;
}

static int
reject(struct sk_cmd_result *r, enum sk_cmd_error_code code, const char *field, const char *message)
{
    r->status = SK_CMD_REJECTED;
    sk_cmd_fail(&r->error, code, field, "%s", message);
    snprintf(r->detail, sizeof(r->detail), "%s", r->error.message);
    return 0;
}

static int command_bind(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    const char *sid = cmd->u.bind.session_id[0] ? cmd->u.bind.session_id : NULL;
    int64_t expires = sk_clock_mono_us(c->clock) + (int64_t)cmd->u.bind.expires_s * 1000000;
    int e = sk_fusion_bind(c->fusion, cmd->u.bind.token, sid, expires);
    if (e == -ENOENT) {
        return reject(r, SK_CMD_ERR_INVALID, "session_id", "no open session has this id");
    }
    if (e == -ENOSPC) {
        return reject(r, SK_CMD_ERR_BUSY, NULL,
                      "as many session binds as the fusion engine holds are waiting; try again "
                      "when one was used or expired");
    }
    if (e < 0) {
        return e;
    }
    if (sid) {
        r->status = SK_CMD_DONE;
        snprintf(r->detail, sizeof(r->detail), "account attached to session %s", sid);
    } else {
        r->status = SK_CMD_QUEUED;
        r->expires_wall_us = sk_clock_wall_us(c->clock) + (int64_t)cmd->u.bind.expires_s * 1000000;
        snprintf(r->detail, sizeof(r->detail), "held for the next shopper who enters, at most %d s",
                 cmd->u.bind.expires_s);
    }
    sk_log(SK_LOG_INFO, "core", NULL, "session bind %s",
           sid ? "applied" : "held for the next entry");
    return 0;
}

static int command_restock(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    const char *names[SK_CMD_SHELVES];
    size_t n = cmd->u.restock.all ? 0 : cmd->u.restock.n_shelves;
    for (size_t i = 0; i < n; i++) {
        names[i] = cmd->u.restock.shelves[i];
    }
    int e = sk_fusion_restock_done(c->fusion, names, n, cmd->u.restock.restock_id);
    if (e == -ENOENT) {
        return reject(r, SK_CMD_ERR_INVALID, "shelves",
                      "a shelf is not known to the fusion engine");
    }
    if (e < 0) {
        return e; /* its event could not be recorded: the transaction fails and is retried */
    }
    r->status = SK_CMD_DONE;
    r->count = (int64_t)(n ? n : c->cfg->n_shelves);
    snprintf(r->detail, sizeof(r->detail),
             "restock session ended on %s; what arrived is reported as a restock event",
             n ? "the listed shelves" : "every shelf");
    sk_log(SK_LOG_INFO, "core", NULL, "restock done on %zu shelf(ves)%s%s", (size_t)r->count,
           cmd->u.restock.restock_id[0] ? ", id " : "", cmd->u.restock.restock_id);
    return 0;
}

/* GTIN-8/12/13/14 as GTIN-14 (leading zeros), as the ledger stores it. */
static void gtin14(const char *in, char out[15])
{
    size_t n = strlen(in);
    memset(out, '0', 14);
    memcpy(out + 14 - n, in, n);
    out[14] = '\0';
}

static int command_catalog(struct sk_core *c, const struct sk_cmd *cmd, struct sk_cmd_result *r)
{
    if (!c->ledger) {
        return reject(r, SK_CMD_ERR_UNAVAILABLE, NULL, "this runtime has no ledger");
    }
    /* All products or none: a savepoint of their own inside the observation's transaction. */
    int e = sk_ledger_begin(c->ledger);
    if (e < 0) {
        return e;
    }
    size_t inserted = 0, updated = 0;
    for (size_t i = 0; i < cmd->u.catalog.n; i++) {
        const struct sk_cmd_product *p = &cmd->u.catalog.products[i];
        char field[64];
        struct sk_product prod;
        memset(&prod, 0, sizeof(prod));
        int have = sk_ledger_product_get(c->ledger, p->sku, &prod);
        if (have < 0) {
            sk_ledger_rollback(c->ledger);
            return have;
        }
        if (!have && (p->price_minor < 0 || !p->currency[0])) {
            snprintf(field, sizeof(field), "products[%zu].price_minor", i);
            sk_ledger_rollback(c->ledger);
            char msg[160];
            snprintf(msg, sizeof(msg), "%s is required for a new product (with currency)", field);
            return reject(r, SK_CMD_ERR_INVALID, field, msg);
        }
        snprintf(prod.sku, sizeof(prod.sku), "%s", p->sku);
        snprintf(prod.name, sizeof(prod.name), "%s", p->name);
        if (p->price_minor >= 0) {
            prod.price_minor = p->price_minor;
            snprintf(prod.currency, sizeof(prod.currency), "%s", p->currency);
        }
        if (p->gtin[0]) {
            gtin14(p->gtin, prod.gtin);
        }
        if (p->restock_threshold >= 0) {
            prod.restock_threshold = p->restock_threshold;
        }
        if (p->restock_target >= 0) {
            prod.restock_target = p->restock_target;
        }
        e = sk_ledger_product_put(c->ledger, &prod);
        if (e == -EEXIST || e == -EINVAL) {
            snprintf(field, sizeof(field), "products[%zu].%s", i, e == -EEXIST ? "gtin" : "sku");
            char msg[192];
            snprintf(msg, sizeof(msg), "%s: %s", field, sk_ledger_errmsg(c->ledger));
            sk_ledger_rollback(c->ledger);
            return reject(r, SK_CMD_ERR_INVALID, field, msg);
        }
        if (e < 0) {
            sk_ledger_rollback(c->ledger);
            return e;
        }
        if (have) {
            updated++;
        } else {
            inserted++;
        }
    }
    if ((e = sk_ledger_commit(c->ledger)) < 0) {
        return e;
    }
    r->status = SK_CMD_DONE;
    r->count = (int64_t)(inserted + updated);
    snprintf(r->detail, sizeof(r->detail), "%zu product(s) added, %zu updated", inserted, updated);
    sk_log(SK_LOG_INFO, "core", NULL, "catalog: %zu product(s) added, %zu updated by a command",
           inserted, updated);
    return 0;
}

int sk_core_command(struct sk_core *core,
                    const struct sk_cmd *cmd,
                    struct sk_cmd_result *ret_result)
{
    memset(ret_result, 0, sizeof(*ret_result));
    ret_result->count = -1;
    switch (cmd->kind) {
    case SK_CMD_SESSION_BIND:
        return command_bind(core, cmd, ret_result);
    case SK_CMD_RESTOCK_DONE:
        return command_restock(core, cmd, ret_result);
    case SK_CMD_CATALOG_UPSERT:
        return command_catalog(core, cmd, ret_result);
    default:
        return reject(ret_result, SK_CMD_ERR_INVALID, NULL, "not a command the core applies");
    }
}
